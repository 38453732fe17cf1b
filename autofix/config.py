"""Configuration files, found as Ruff finds its own: for each file, the nearest `autofix.toml`
(top-level keys) or `pyproject.toml` with a `[tool.autofix]` table in the file's folder or
above; a file under none of them uses the one found from the current directory, else defaults.
`--config FILE` makes one file govern every path."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from autofix import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

NAMES = ("autofix.toml", "pyproject.toml")  # in one folder, autofix.toml wins (as ruff.toml does)
RULE_LISTS = ("select", "extend-select", "ignore", "extend-ignore")
PATTERN_LISTS = ("exclude", "extend-exclude")
KEYS = {*RULE_LISTS, *PATTERN_LISTS, "per-file-ignores", "unsafe-fixes"}


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    """One configuration file's options (all empty: the defaults)."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()  # ignore and extend-ignore together, as Ruff merges them
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] | None = None  # None: the default exclusions
    extend_exclude: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    path: str | None = None  # the file it was read from

    @property
    def root(self) -> str:
        """The folder its patterns are relative to."""
        return os.path.dirname(self.path) if self.path else os.getcwd()

    def rule_choice(self) -> registry.RuleChoice:
        return registry.RuleChoice(self.select, self.extend_select, self.ignore)


DEFAULTS = Config()


def load(path: str) -> Config:
    """Read `path`: a pyproject.toml must hold a [tool.autofix] table, any other file holds the
    options at top level (or in a [tool.autofix] table)."""
    data = _read(path)
    tool = data.get("tool", {})
    if isinstance(tool, dict) and "autofix" in tool:
        return _parse(tool["autofix"], path, "[tool.autofix] ")
    if os.path.basename(path) == "pyproject.toml":
        raise ConfigError(f"{_shown(path)}: no [tool.autofix] table (autofix reads its options from there)")
    return _parse({k: v for k, v in data.items() if k != "tool"}, path, "")


class ConfigFinder:
    """The configuration governing each file; each folder is looked at and each configuration
    file read once per run."""

    def __init__(self, config_file: str | None = None) -> None:
        self._loaded: dict[str, Config] = {}
        self._nearest: dict[str, str | None] = {}
        self.fixed = self._load(os.path.abspath(config_file)) if config_file else None

    def for_path(self, path: str) -> Config:
        if self.fixed is not None:
            return self.fixed
        found = self.nearest(os.path.dirname(os.path.abspath(path)))
        return self._load(found) if found else self.fallback()

    def fallback(self) -> Config:
        """The configuration of the current directory, for paths under no configuration."""
        if self.fixed is not None:
            return self.fixed
        found = self.nearest(os.getcwd())
        return self._load(found) if found else DEFAULTS

    def nearest(self, folder: str) -> str | None:
        """The configuration file of `folder` or of the closest folder above it."""
        if folder not in self._nearest:
            here = next(
                (
                    candidate
                    for candidate in (os.path.join(folder, name) for name in NAMES)
                    if os.path.isfile(candidate)
                    and (not candidate.endswith("pyproject.toml") or _has_table(candidate))
                ),
                None,
            )
            parent = os.path.dirname(folder)
            self._nearest[folder] = here or (None if parent == folder else self.nearest(parent))
        return self._nearest[folder]

    def _load(self, path: str) -> Config:
        if path not in self._loaded:
            self._loaded[path] = load(path)
        return self._loaded[path]


def _has_table(path: str) -> bool:
    try:
        return "autofix" in _read(path).get("tool", {})
    except ConfigError:
        return True  # report the broken file rather than silently skipping it


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{_shown(path)}: {error}") from None


def _shown(path: str) -> str:
    """A configuration file's name in messages: relative to the current directory when under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _parse(table: dict, path: str, where: str) -> Config:
    shown = _shown(path)
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigError(
            f"{shown}: unknown option(s) in {where.strip() or 'the file'}: "
            f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})"
        )

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{shown}: {where}{key} must be a list of strings")
        return tuple(value)

    for key in RULE_LISTS:
        registry.check_names(strings(key), f"{shown}: {where}{key}")
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{shown}: {where}per-file-ignores must be a table of pattern = [rules]")
    for pattern, names in per_file.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{shown}: {where}per-file-ignores {pattern!r} must be a list of rule names")
        registry.check_names(names, f"{shown}: {where}per-file-ignores {pattern!r}")
    unsafe = table.get("unsafe-fixes")
    if unsafe is not None and not isinstance(unsafe, bool):
        raise ConfigError(f"{shown}: {where}unsafe-fixes must be true or false")
    return Config(
        select=strings("select") if "select" in table else None,
        extend_select=strings("extend-select"),
        ignore=(*strings("ignore"), *strings("extend-ignore")),
        per_file_ignores=tuple((p, tuple(n)) for p, n in per_file.items()),
        exclude=strings("exclude") if "exclude" in table else None,
        extend_exclude=strings("extend-exclude"),
        unsafe_fixes=unsafe,
        path=path,
    )
