"""The source locations a pasted traceback or warning names, in every form users paste: CPython
tracebacks, warnings (`path:12: UserWarning: ...`), IPython 7 (`<ipython-input-3-...> in
<module>` with `----> 9` arrows), IPython 8 (`Cell In[5], line 7`, `File path:581, in f()`),
VS Code and Colab notebooks (file names and line numbers as markdown links), ANSI colours or not.
"""

from __future__ import annotations

import os
import re
import sysconfig
from dataclasses import dataclass

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_LINK = re.compile(r"\[([^\]\n]*)\]\((?:https?://|vscode-notebook-cell:|file:)[^)\s]*\)")
_PYTHON_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+?))?\s*$')
_IPYTHON_FRAME = re.compile(r"^\s*File (?P<path>\S.*?):(?P<line>\d+)(?:, in (?P<function>.+?))?\s*$")
_IPYTHON_CELL = re.compile(r"^\s*(?:Cell|Input) In\s*\[\s*(?P<cell>\d+)\s*\](?:, line (?P<line>\d+)|, in .*?<cell line: (?P<cell_line>\d+)>.*)?")
_IPYTHON7_FRAME = re.compile(r"^(?P<path>\S.*?) in (?P<function><module>|<cell line: \d+>\(\)|[\w.<>]+\(.*\))\s*$")
_PATH_LIKE = re.compile(r"[/\\]|\.py$|\.ipynb\b|^<ipython-input-")  # not prose like "loss in f(x)"
_ARROW = re.compile(r"^\s*-+> ?(?P<line>\d+)\b")
_WARNING = re.compile(r"^(?P<path>\S.*?):(?P<line>\d+): (?P<category>\w*Warning): ")
_IPYTHON_INPUT = re.compile(r"<ipython-input-(?P<cell>\d+)-[0-9a-f]+>")
_VSCODE_CELL = re.compile(r"^(?P<path>.+?\.ipynb) Cell (?P<cell>\d+)$")
_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\]|[/\\]lib[/\\]python\d[\d.]*[/\\]|^<frozen |^<string>$")


@dataclass(frozen=True)
class Frame:
    """A place the text names: a file (as printed) or a notebook cell (its execution count)."""

    path: str
    line: int | None
    function: str | None = None
    cell: int | None = None  # `In [N]` of a notebook cell; path is then "" unless the paste names it

    @property
    def is_library(self) -> bool:
        """Python's own or an installed package's code: not the user's to fix."""
        if self.cell is not None:
            return False
        if _LIBRARY.search(self.path):
            return True
        absolute = os.path.abspath(os.path.expanduser(self.path))
        return any(
            absolute.startswith(os.path.abspath(root) + os.sep)
            for root in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
        )


def frames(text: str) -> list[Frame]:
    """Every location named in `text`, in the order printed."""
    found: list[Frame] = []
    pending: Frame | None = None  # an IPython 7 header waiting for its `---->` line
    for raw in _LINK.sub(r"\1", _ANSI.sub("", text)).splitlines():
        arrow = _ARROW.match(raw)
        if arrow and pending is not None:
            found.append(Frame(pending.path, int(arrow.group("line")), pending.function, pending.cell))
            pending = None
            continue
        frame, waits = _parse(raw.rstrip())
        if frame is None:
            continue
        if pending is not None:
            found.append(pending)  # no arrow came: keep the frame without a line
        if waits:
            pending = frame
        else:
            found.append(frame)
            pending = None
    if pending is not None:
        found.append(pending)
    return found


def _parse(line: str) -> tuple[Frame | None, bool]:
    """The frame a line starts, and whether its line number comes on a later arrow line."""
    match = _PYTHON_FRAME.match(line)
    if match:
        return _with_cell(match.group("path"), int(match.group("line")), match.group("function")), False
    match = _IPYTHON_CELL.match(line)
    if match:
        number = match.group("line") or match.group("cell_line")
        frame = Frame("", int(number) if number else None, None, int(match.group("cell")))
        return frame, number is None
    match = _WARNING.match(line)
    if match:
        return _with_cell(match.group("path"), int(match.group("line")), None), False
    match = _IPYTHON_FRAME.match(line)
    if match:
        return _with_cell(match.group("path"), int(match.group("line")), match.group("function")), False
    match = _IPYTHON7_FRAME.match(line)
    if match and _PATH_LIKE.search(match.group("path")):
        path = match.group("path")
        vscode = _VSCODE_CELL.match(path)
        if vscode:
            return Frame(vscode.group("path"), None, match.group("function"), int(vscode.group("cell"))), True
        return _with_cell(path, None, match.group("function")), True
    return None, False


def _with_cell(path: str, line: int | None, function: str | None) -> Frame:
    cell = _IPYTHON_INPUT.fullmatch(path)
    if cell:
        return Frame("", line, function, int(cell.group("cell")))
    return Frame(path, line, function)
