"""Unified diffs that `git apply` and `patch -p1` take: a/ and b/ paths relative to the current
directory, and a `\\ No newline at end of file` marker where a side ends without one. A
notebook's diff is one such diff per changed cell, for reading."""

from __future__ import annotations

import difflib
import os

import click
from typing import Callable

NO_NEWLINE = "\\ No newline at end of file\n"
_COLOURS = (("+++", {"bold": True}), ("---", {"bold": True}), ("+", {"fg": "added"}),
            ("-", {"fg": "red"}), ("@@", {"fg": "cyan"}))


def unified_diff(path: str, old: str, new: str) -> str:
    if old == new:
        return ""
    if path.endswith(".ipynb"):
        from autofix.notebook import cell_diff

        return cell_diff(path, old, new)
    name = header_path(path)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    out = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n")
            out.append(NO_NEWLINE)
    return "".join(out)


def header_path(path: str) -> str:
    """`path` as git writes it in a diff header: relative to the current directory, with `..`
    for a file outside it (as `git diff --no-index ../x.py` does), never absolute — git apply
    rejects `a//abs/path` outright, and takes `a/../x.py` with `--unsafe-paths`."""
    return os.path.relpath(path).replace(os.sep, "/") if os.path.isabs(path) else path


def colour(diff: str, added: str = "green") -> str:
    """The diff with ANSI styles (headers bold, additions green, removals red, hunks cyan);
    click.echo drops them again where colour is off."""
    lines = []
    for line in diff.splitlines(keepends=True):
        style = next((s for prefix, s in _COLOURS if line.startswith(prefix)), None)
        if style is not None and style.get("fg") == "added":
            style = {"fg": added}
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        lines.append(click.style(body, **style) + newline if style else line)
    return "".join(lines)


def line_mover(old: str, new: str) -> Callable[[int], int]:
    """Where each (1-based) line of `old` lands in `new`: unchanged lines follow their text, a
    line inside a rewritten block lands inside its replacement."""
    blocks = difflib.SequenceMatcher(
        None, old.splitlines(), new.splitlines(), autojunk=False
    ).get_opcodes()

    def moved(line: int) -> int:
        index = line - 1
        for tag, i1, i2, j1, j2 in blocks:
            if i1 <= index < i2:
                offset = index - i1 if tag == "equal" else min(index - i1, max(j2 - j1 - 1, 0))
                return j1 + offset + 1
        return line  # past the end of `old`: nothing to follow

    return moved
