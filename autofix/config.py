"""`[tool.autofix]` in pyproject.toml: select, ignore, exclude, unsafe-fixes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

KEYS = {"select", "ignore", "exclude", "unsafe-fixes"}


class ConfigError(ValueError):
    """The [tool.autofix] table is malformed; the message says where."""


@dataclass
class Config:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    unsafe_fixes: bool = False
    source: str | None = None


def find_pyproject(start: str) -> str | None:
    """The nearest pyproject.toml with a [tool.autofix] table, from `start` upwards."""
    folder = os.path.abspath(start)
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate) and _has_table(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _has_table(path: str) -> bool:
    try:
        return "autofix" in _load(path).get("tool", {})
    except ConfigError:
        return True  # report the broken file rather than silently skipping it


def _load(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None


def load(path: str | None, start: str = ".") -> Config:
    """Read the config at `path` (or the nearest one); no file means defaults."""
    path = path or find_pyproject(start)
    if path is None:
        return Config()
    table = _load(path).get("tool", {}).get("autofix", {})
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown option(s) in [tool.autofix]: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KEYS))})"
        )
    for key in ("select", "ignore", "exclude"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [tool.autofix] {key} must be a list of strings")
    unsafe = table.get("unsafe-fixes", False)
    if not isinstance(unsafe, bool):
        raise ConfigError(f"{path}: [tool.autofix] unsafe-fixes must be true or false")
    return Config(
        select=table.get("select"),
        ignore=table.get("ignore", []),
        exclude=table.get("exclude", []),
        unsafe_fixes=unsafe,
        source=path,
    )
