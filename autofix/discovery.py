"""Which files to analyse. Inside a git repository the files come from `git ls-files` (tracked,
and untracked but not ignored), so ignored and vendored files are skipped; elsewhere a walk that
skips hidden folders and virtual environments. `exclude` patterns apply to both."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from typing import Iterable, Sequence

SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"})


def discover(paths: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Paths of the Python files under `paths`, sorted, without duplicates. A file named
    explicitly is always included (unless excluded), whatever its extension."""
    found: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found.update(f for f in _python_files_in(path) if not _excluded(f, exclude))
        elif os.path.lexists(path):
            if not _excluded(path, exclude):
                found.add(os.path.normpath(path))
        else:
            raise FileNotFoundError(path)
    return sorted(found)


def _python_files_in(folder: str) -> Iterable[str]:
    listed = _git_files(folder)
    if listed is None:
        listed = _walk(folder)
    for relative in listed:
        if relative.endswith(".py"):
            path = os.path.normpath(os.path.join(folder, relative))
            if os.path.lexists(path):
                yield path


def _git_files(folder: str) -> list[str] | None:
    try:
        result = subprocess.run(
            ["git", "-C", folder, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in result.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _walk(folder: str) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS
        )
        for name in files:
            yield os.path.relpath(os.path.join(root, name), folder)


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    """A pattern excludes a path it matches, or any of the path's folders."""
    if not patterns:
        return False
    parts = os.path.normpath(path).replace(os.sep, "/").split("/")
    prefixes = ["/".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(p, pattern.rstrip("/")) for p in prefixes for pattern in patterns)
