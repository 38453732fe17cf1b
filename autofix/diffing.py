"""Unified diffs that `git apply` and `patch -p1` take: a/ and b/ paths, and a
`\\ No newline at end of file` marker where a side ends without one."""

from __future__ import annotations

import difflib
from typing import Callable

NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(path: str, old: str, new: str) -> str:
    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n")
            out.append(NO_NEWLINE)
    return "".join(out)


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
