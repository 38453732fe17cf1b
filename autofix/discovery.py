"""Which files to analyse. Inside a git repository the files come from `git ls-files` (tracked,
and untracked but not ignored), so ignored and vendored files are skipped; elsewhere a walk that
skips hidden folders and, unless an `exclude` replaces them, the DEFAULT_EXCLUDE folders.
Exclusion patterns (`exclude`, `extend-exclude`) apply to both."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from typing import Callable, Iterable, Sequence

# Skipped by a walk outside git (git's own ignore rules decide inside a repository).
DEFAULT_EXCLUDE = ("__pycache__", "node_modules", "site-packages", "venv", "build", "dist")

# (path, walking) -> skip it? `walking` is true outside git, where DEFAULT_EXCLUDE applies.
Excluded = Callable[[str, bool], bool]
ANALYSED_SUFFIXES = (".py", ".ipynb")


def discover(paths: Sequence[str], excluded: Excluded = lambda path, walking: False) -> list[str]:
    """Paths of the Python files and Jupyter notebooks under `paths`, sorted, without
    duplicates. A file named explicitly is always included (unless excluded), whatever its
    extension."""
    found: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found.update(_python_files_in(path, excluded))
        elif os.path.lexists(path):
            if not excluded(path, False):
                found.add(os.path.normpath(path))
        else:
            raise FileNotFoundError(path)
    return sorted(found)


def _python_files_in(folder: str, excluded: Excluded) -> Iterable[str]:
    listed = _git_files(folder)
    walking = listed is None
    for relative in _walk(folder, excluded) if walking else listed:
        if relative.endswith(ANALYSED_SUFFIXES):
            path = os.path.normpath(os.path.join(folder, relative))
            if os.path.lexists(path) and not excluded(path, walking):
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


def _walk(folder: str, excluded: Excluded) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not excluded(os.path.join(root, d), True)
        )
        for name in files:
            yield os.path.relpath(os.path.join(root, name), folder)


def matches(path: str, patterns: Sequence[str]) -> bool:
    """A pattern matches a path it matches, or any run of the path's folders (`vendor` matches
    `src/vendor/x.py`, `tests/*.py` matches `tests/test_a.py`)."""
    if not patterns:
        return False
    parts = os.path.normpath(path).replace(os.sep, "/").split("/")
    prefixes = ["/".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    return any(glob_match(p, pattern.rstrip("/")) for p in prefixes for pattern in patterns)


def glob_match(path: str, pattern: str) -> bool:
    """fnmatch (where `*` crosses `/`, as in Ruff's globs), plus `**/` matching no folder at all,
    so `tests/**/*.py` matches `tests/test_a.py`."""
    return fnmatch.fnmatchcase(path, pattern) or (
        "**/" in pattern and fnmatch.fnmatchcase(path, pattern.replace("**/", ""))
    )
