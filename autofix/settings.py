"""What applies to each file: the command line's options layered over the configuration that
governs the file (the nearest one above it), as Ruff layers them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from autofix import registry
from autofix.config import Config, ConfigFinder
from autofix.discovery import DEFAULT_EXCLUDE, discover, glob_match, matches
from autofix.runner import Job


@dataclass(frozen=True)
class Options:
    """What the command line chose; None where it said nothing, so the configuration decides."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    config_file: str | None = None

    def rule_choice(self) -> registry.RuleChoice:
        return registry.RuleChoice(self.select, self.extend_select, self.ignore)


@dataclass(frozen=True)
class FileSettings:
    rules: tuple[str, ...]
    unsafe_fixes: bool | None  # None: not asked for either way (the unsafe-fixes hint shows)
    config: Config

    def job(self, fix: bool) -> Job:
        return Job(self.rules, fix, self.unsafe_fixes)


class Settings:
    """Per-file settings for one run; configuration files are read once."""

    def __init__(self, options: Options) -> None:
        registry.check_names(
            [*(options.select or ()), *options.extend_select, *options.ignore]
        )
        self.options = options
        self.configs = ConfigFinder(options.config_file)
        self._chosen: dict[str | None, tuple[str, ...]] = {}

    def chosen(self, config: Config) -> tuple[str, ...]:
        """The rules `config` and the command line select, before per-file ignores."""
        if config.path not in self._chosen:
            layers = [config.rule_choice(), self.options.rule_choice()]
            self._chosen[config.path] = tuple(registry.choose(layers))
        return self._chosen[config.path]

    def for_file(self, path: str) -> FileSettings:
        config = self.configs.for_path(path)
        ignored = _per_file_ignores(config, path)
        rules = self.chosen(config)
        if ignored:
            dropped = set(registry.choose([registry.RuleChoice(tuple(ignored))]))
            rules = tuple(r for r in rules if r not in dropped)
        unsafe = self.options.unsafe_fixes
        return FileSettings(rules, config.unsafe_fixes if unsafe is None else unsafe, config)

    def excluded(self, path: str, walking: bool) -> bool:
        """Whether `path` is excluded. The command line's patterns are relative to the current
        directory, a configuration's to its folder; `exclude` (the command line's, else the
        configuration's, else DEFAULT_EXCLUDE for a walk) replaces, `extend-exclude` adds."""
        config = self.configs.for_path(path)
        from_cwd = os.path.relpath(path)
        from_config = os.path.relpath(os.path.abspath(path), config.root)
        if matches(from_cwd, self.options.extend_exclude) or matches(from_config, config.extend_exclude):
            return True
        if self.options.exclude is not None:
            return matches(from_cwd, self.options.exclude)
        if config.exclude is not None:
            return matches(from_config, config.exclude)
        return walking and matches(from_config, DEFAULT_EXCLUDE)

    def files(self, paths: Sequence[str]) -> list[str]:
        return discover(paths, self.excluded)

    def nothing_selected(self, files: Sequence[str]) -> bool:
        """Whether no file (or, without files, the current directory) has a rule to check."""
        return len(self.empty_selections(files)) == len(self._governing(files))

    def _governing(self, files: Sequence[str]) -> dict[str | None, Config]:
        return {c.path: c for c in map(self.configs.for_path, files)} or {None: self.configs.fallback()}

    def empty_selections(self, files: Sequence[str]) -> list[Config]:
        """The configurations under which the selection (before per-file ignores) is empty:
        files they govern are not checked at all."""
        return [c for c in self._governing(files).values() if not self.chosen(c)]


def _per_file_ignores(config: Config, path: str) -> list[str]:
    """The rules `per-file-ignores` drops for `path`: a pattern matches the path relative to
    the configuration's folder or the file's name; `!pattern` matches the files it does not."""
    relative = os.path.relpath(os.path.abspath(path), config.root).replace(os.sep, "/")
    name = os.path.basename(path)
    ignored = []
    for pattern, rules in config.per_file_ignores:
        negated = pattern.startswith("!")
        glob = pattern[1:] if negated else pattern
        hit = glob_match(relative, glob) or glob_match(name, glob)
        if hit != negated:
            ignored.extend(rules)
    return ignored
