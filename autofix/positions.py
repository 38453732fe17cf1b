"""Text positions as the Language Server Protocol counts them: 0-based lines split at `\\n`,
`\\r\\n` or `\\r` only (as Python and LibCST split them, unlike `str.splitlines`), and columns in
the code units the client negotiated (UTF-16 unless it asked for UTF-8 or UTF-32)."""

from __future__ import annotations

import difflib
import re

from lsprotocol.types import Position, Range, TextEdit

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """The lines of `text`, each with its line break."""
    return _LINE.findall(text)


def units(text: str, encoding: str) -> int:
    """How many code units of `encoding` ("utf-8", "utf-16" or "utf-32") `text` takes."""
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Document:
    """One version of a document's text, for converting positions into the client's units."""

    def __init__(self, text: str, encoding: str) -> None:
        self.text = text
        self.encoding = encoding
        self.lines = split_lines(text)

    def position(self, line: int, column: int) -> Position:
        """The client position of a 1-based line and 1-based code point column (LibCST's)."""
        if line > len(self.lines):  # the end of a file without a final line break
            return self.end()
        content = self.lines[line - 1].rstrip("\r\n")
        return Position(line - 1, units(content[: column - 1], self.encoding))

    def end_of_line(self, line: int) -> Position:
        if line > len(self.lines):
            return self.end()
        return Position(line - 1, units(self.lines[line - 1].rstrip("\r\n"), self.encoding))

    def end(self) -> Position:
        if not self.lines or self.lines[-1].endswith(("\n", "\r")):
            return Position(len(self.lines), 0)
        return Position(len(self.lines) - 1, units(self.lines[-1], self.encoding))

    def _start_of(self, index: int) -> Position:
        """Where the line at 0-based `index` starts; past the last line, the end of the text."""
        return Position(index, 0) if index < len(self.lines) else self.end()

    def edits_to(self, new_text: str) -> list[TextEdit]:
        """The fewest whole-line edits that turn this text into `new_text`, each placed in this
        text's coordinates, as one LSP edit batch requires."""
        new_lines = split_lines(new_text)
        blocks = difflib.SequenceMatcher(None, self.lines, new_lines, autojunk=False).get_opcodes()
        return [
            TextEdit(Range(self._start_of(i1), self._start_of(i2)), "".join(new_lines[j1:j2]))
            for tag, i1, i2, j1, j2 in blocks
            if tag != "equal"
        ]
