"""Jupyter notebooks, analysed as one Python module and rewritten cell by cell.

The code cells are joined in order, each after a marker comment, so that a training loop in
cell 5 sees the optimizer built in cell 2. IPython magics (`%time`, `%%capture`, `!pip ...`,
`obj?`) become placeholder statements of the same indentation, so they never make a cell
unparsable and come back verbatim. Findings are mapped back to `cell N, line L` (N counts every
cell from 1, as a notebook shows them); a fix rewrites only the `source` of the cells it
changes, and every other byte of the file — outputs, metadata, the JSON's indentation and key
order — stays as it was.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Sequence

import libcst as cst

from autofix import engine
from autofix.rule import Finding, Rule
from autofix.sources import SourceError

SUFFIX = ".ipynb"
# Cell magics whose body is Python (as Ruff treats them); any other `%%magic` cell is skipped.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"})
# Line magics IPython runs without `%` (automagic), when the line is not Python by itself.
AUTOMAGICS = frozenset({
    "pip", "conda", "uv", "cd", "ls", "pwd", "env", "load_ext", "reload_ext", "autoreload",
    "matplotlib", "time", "timeit", "run", "who", "whos", "mkdir", "cat", "cp", "mv", "rm",
    "config", "history", "pdb", "prun", "lsmagic",
})
_CELL_MARKER = "# autofix-notebook-cell {}"
_CELL_MARKER_LINE = re.compile(r"^# autofix-notebook-cell (\d+)$", re.MULTILINE)
_PLACEHOLDER = "pass  # autofix-notebook-magic {}"
_PLACEHOLDER_LINE = re.compile(r"^[ \t]*pass  # autofix-notebook-magic (\d+)$")
_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$")
_ASSIGNED_MAGIC = re.compile(r"^\s*[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[!%]")  # files = !ls
_INDENT_UNIT = re.compile(r"^\{\r?\n([ \t]+)\"")
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


@dataclass(frozen=True)
class Cell:
    index: int  # position among all cells, from 0
    kind: str  # code | markdown | raw
    source: str
    span: tuple[int, int]  # where the cell's "source" value sits in the notebook's JSON text
    execution_count: int | None

    @property
    def number(self) -> int:
        """The cell's number as findings print it: its position, counting every cell from 1."""
        return self.index + 1


@dataclass(frozen=True)
class _Part:
    """One analysed code cell inside the joined module."""

    cell: Cell
    magics: tuple[str, ...]  # the lines replaced by placeholders, by placeholder number
    added_newline: bool  # the module ends the cell with a newline its source lacks


class Notebook:
    """A parsed .ipynb file: its JSON text and its cells."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            data = json.loads(text)
        except ValueError as error:
            raise SourceError(f"not a valid notebook: invalid JSON: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise SourceError("not a valid notebook: no list of cells (nbformat 4 is required)")
        language = _language(data.get("metadata"))
        if language not in (None, "python"):
            raise SourceError(f"a {language} notebook: only Python notebooks can be checked")
        spans = _source_spans(text)
        self.cells: list[Cell] = []
        for index, (cell, span) in enumerate(zip(data["cells"], spans)):
            source = cell.get("source") if isinstance(cell, dict) else None
            if isinstance(source, list) and all(isinstance(s, str) for s in source):
                source = "".join(source)
            if not isinstance(source, str) or span is None or not isinstance(cell.get("cell_type"), str):
                raise SourceError(f"not a valid notebook: cell {index + 1} has no source text")
            count = cell.get("execution_count")
            self.cells.append(
                Cell(index, cell["cell_type"], source, span, count if isinstance(count, int) else None)
            )

    @classmethod
    def from_bytes(cls, data: bytes) -> "Notebook":
        try:
            return cls(data.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            raise SourceError(f"not a valid notebook: not UTF-8: {error}") from None

    def joined(self) -> "JoinedCode":
        return JoinedCode(self)

    def rebuilt(self, joined: "JoinedCode", code: str, bom: bool) -> bytes:
        """The notebook's bytes with its cells taken from `code`, a version of `joined`'s module
        (ValueError when that version moved code across cells)."""
        return (("\ufeff" if bom else "") + self.with_sources(joined.split(code))).encode("utf-8")

    def with_sources(self, sources: dict[int, str]) -> str:
        """The notebook's text with the given cells' source replaced, nothing else touched."""
        style = _Style(self.text)
        out, position = [], 0
        for cell in self.cells:
            new = sources.get(cell.index)
            if new is None or new == cell.source:
                continue
            start, end = cell.span
            out.append(self.text[position:start])
            out.append(style.encode(self.text[start:end], new, start))
            position = end
        out.append(self.text[position:])
        return "".join(out)


class JoinedCode:
    """The notebook's code cells as one module, and the way back to cells."""

    def __init__(self, notebook: Notebook) -> None:
        self.notebook = notebook
        self.parts: list[_Part] = []
        pieces: list[str] = []
        for cell in notebook.cells:
            if cell.kind != "code":
                continue
            masked = _mask(cell.source)
            if masked is None:
                continue
            code, magics = masked
            added_newline = bool(code) and not code.endswith("\n")
            body = code + ("\n" if added_newline else "")
            pieces.append(_CELL_MARKER.format(cell.index) + "\n" + body)
            self.parts.append(_Part(cell, tuple(magics), added_newline))
        self.code = "".join(pieces)
        self._cells = {p.cell.index: p.cell for p in self.parts}
        self._starts: dict[str, tuple[list[int], list[Cell]]] = {}

    def cell_of(self, line: int, code: str | None = None) -> tuple[Cell, int]:
        """The cell holding line `line` of `code` (this module, or a fixed version of it: its
        markers say where each cell starts), and the line's number inside that cell."""
        firsts, cells = self._cell_starts(self.code if code is None else code)
        at = max(0, bisect.bisect_right(firsts, line) - 1)
        return cells[at], max(1, line - firsts[at] + 1)

    def _cell_starts(self, code: str) -> tuple[list[int], list[Cell]]:
        if code not in self._starts:
            firsts, cells = [], []
            for marker in _CELL_MARKER_LINE.finditer(code):
                firsts.append(code.count("\n", 0, marker.start()) + 2)
                cells.append(self._cells[int(marker.group(1))])
            self._starts[code] = (firsts, cells)
        return self._starts[code]

    def to_cells(self, finding: Finding, code: str | None = None) -> Finding:
        """`finding` of `code` (default: this module) located in its cell, the lines its message
        names too."""
        cell, line = self.cell_of(finding.line, code)

        def relocate(match: re.Match) -> str:
            other, other_line = self.cell_of(int(match.group(1)), code)
            return f"line {other_line}" + ("" if other is cell else f" of cell {other.number}")

        return dataclasses.replace(
            finding,
            line=line,
            end_line=line + finding.end_line - finding.line,
            cell=cell.number,
            message=_LINE_REFERENCE.sub(relocate, finding.message),
        )

    def split(self, code: str) -> dict[int, str]:
        """Each cell's new source from a rewritten module; ValueError when the rewrite moved
        code across cells or lost a magic."""
        markers = list(_CELL_MARKER_LINE.finditer(code))
        if [int(m.group(1)) for m in markers] != [p.cell.index for p in self.parts]:
            raise ValueError("the fixes moved code across notebook cells")
        sources: dict[int, str] = {}
        for number, (part, marker) in enumerate(zip(self.parts, markers)):
            end = markers[number + 1].start() if number + 1 < len(markers) else len(code)
            start = marker.end() + 1
            if number == 0:  # anything a fix put above the first cell belongs to it
                body = code[: marker.start()] + code[start:end]
            else:
                body = code[start:end]
            if part.added_newline and body.endswith("\n"):
                body = body[:-1]
            sources[part.cell.index] = _unmask(body, part.magics)
        return sources


def lint(source: bytes, rules: Sequence[Rule], path: str = "<notebook>") -> engine.LintResult:
    """The findings of `rules` in the notebook, located as `cell N`, line in the cell."""
    notebook = Notebook.from_bytes(source)
    joined = notebook.joined()
    result = _analyse(joined, lambda code: engine.lint(code, rules, path))
    return engine.LintResult(
        [joined.to_cells(f) for f in result.findings], source=source, new_source=source
    )


def fix(
    source: bytes,
    rules: Sequence[Rule],
    path: str = "<notebook>",
    accept: engine.Accept | None = None,
    max_passes: int = engine.MAX_PASSES,
) -> engine.LintResult:
    """`engine.fix` over the notebook's code; the accepted fixes rewrite only their cells."""
    notebook = Notebook.from_bytes(source)
    joined = notebook.joined()
    accept = accept or engine.accept_by_safety(unsafe_fixes=False)
    result = _analyse(
        joined,
        lambda code: engine.fix(
            code, rules, path, lambda f: accept(joined.to_cells(f)), max_passes
        ),
    )
    return _result(notebook, joined, source, rules, path, result)


def proposals(
    source: bytes, rules: Sequence[Rule], path: str = "<notebook>", wanted: engine.Accept | None = None
):
    """`engine.proposals` over the notebook's code: each proposal's sources are whole notebooks
    (so its hunk is a per-cell diff) and its finding is located in its cell."""
    notebook = Notebook.from_bytes(source)
    joined = notebook.joined()
    wanted = wanted or engine.accept_by_safety(unsafe_fixes=False)
    bom = source.startswith(b"\xef\xbb\xbf")
    current = [joined.code]  # the module as the accepted proposals left it
    _analyse(joined, engine.parse)  # a cell that does not parse is reported before any proposal
    session = engine.proposals(
        joined.code.encode("utf-8"), rules, path, lambda f: wanted(joined.to_cells(f, current[0]))
    )
    try:
        offered = next(session)
        while True:
            before, after = offered.source.decode("utf-8"), offered.new_source.decode("utf-8")
            try:
                old, new = notebook.rebuilt(joined, before, bom), notebook.rebuilt(joined, after, bom)
            except ValueError:  # a fix that would move code across cells is never offered
                offered = session.send(False)
                continue
            finding = joined.to_cells(offered.finding, before)
            accepted = (yield engine.Proposal(finding, old, new, offered.pending)) is True
            if accepted:
                current[0] = after
            offered = session.send(accepted)
    except StopIteration as done:
        return _result(notebook, joined, source, rules, path, done.value)


def _result(notebook, joined, source, rules, path, result: engine.LintResult) -> engine.LintResult:
    """The engine's result on the joined module, as the notebook's."""
    code = result.new_source.decode("utf-8")
    findings = [joined.to_cells(f, code) for f in result.findings]
    fixed = [joined.to_cells(f) for f in result.fixed]
    if not result.changed:
        return engine.LintResult(findings, fixed, source, source, result.errors)
    try:
        new_source = notebook.rebuilt(joined, code, source.startswith(b"\xef\xbb\xbf"))
    except ValueError as error:
        unfixed = lint(source, rules, path).findings
        return engine.LintResult(unfixed, [], source, source, [*result.errors, f"{error}: nothing was fixed"])
    return engine.LintResult(findings, fixed, source, new_source, result.errors)


def cell_diff(path: str, old: str, new: str) -> str:
    """A unified diff per changed cell, headed `a/<path>:cell N` (for reading, as Ruff shows
    notebook diffs; `autofix fix` applies them)."""
    from autofix.diffing import unified_diff

    before, after = Notebook(old), Notebook(new)
    if len(before.cells) != len(after.cells):
        return unified_diff(path + ":json", old, new)
    return "".join(
        unified_diff(f"{path}:cell {a.number}", _as_lines(a.source), _as_lines(b.source))
        for a, b in zip(before.cells, after.cells)
        if a.source != b.source
    )


def _as_lines(source: str) -> str:
    """A cell's source ending in a newline: a cell's last line has none, and a diff need not
    say so each time."""
    return source if source.endswith("\n") or not source else source + "\n"


def _analyse(joined: JoinedCode, run):
    """`run` on the joined code, a parse error reported with its cell and line."""
    try:
        return run(joined.code.encode("utf-8"))
    except cst.ParserSyntaxError as error:
        cell, line = joined.cell_of(error.raw_line)
        raise SourceError(
            f"cannot parse cell {cell.number}: {error.message} (line {line}, column {error.raw_column + 1})"
        ) from None


def _language(metadata) -> str | None:
    if not isinstance(metadata, dict):
        return None
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(field), str):
            return value[field].lower()
    return None


# --- IPython syntax ---------------------------------------------------------------------------


def _mask(source: str) -> tuple[str, list[str]] | None:
    """The cell as Python, with the magic lines it replaced; None for a cell in another language
    (`%%bash`, `%%writefile` ...)."""
    lines = source.split("\n")
    first = lines[0].strip()
    if first.startswith("%%"):
        name = first[2:].split()[0] if first[2:].split() else ""
        if name not in PYTHON_CELL_MAGICS:
            return None
    scanner = _Scanner()
    magics: list[str] = []
    out: list[str] = []
    magic_indent: str | None = None  # set while a magic continues with a trailing backslash
    for number, line in enumerate(lines):
        starts_statement = scanner.at_statement_start()
        is_magic = magic_indent is not None or (
            starts_statement and (number == 0 and first.startswith("%%") or _is_magic(line))
        )
        if not is_magic:
            scanner.feed(line)
            out.append(line)
            continue
        indent = magic_indent if magic_indent is not None else line[: len(line) - len(line.lstrip())]
        out.append(indent + _PLACEHOLDER.format(len(magics)))
        magics.append(line)
        magic_indent = indent if line.rstrip().endswith("\\") else None
    return "\n".join(out), magics


def _unmask(code: str, magics: Sequence[str]) -> str:
    lines = code.split("\n")
    seen = []
    for number, line in enumerate(lines):
        match = _PLACEHOLDER_LINE.match(line)
        if match:
            seen.append(int(match.group(1)))
            lines[number] = magics[int(match.group(1))]
    if sorted(seen) != list(range(len(magics))):
        raise ValueError("the fixes removed an IPython magic line")
    return "\n".join(lines)


def _is_magic(line: str) -> bool:
    stripped = line.strip()
    if stripped.startswith(("%", "!", "?")) or _HELP.match(stripped) or _ASSIGNED_MAGIC.match(stripped):
        return True
    word = stripped.split(maxsplit=1)
    if len(word) < 2 or word[0] not in AUTOMAGICS:
        return False
    probe = _Scanner()
    probe.feed(stripped)
    if not probe.at_statement_start():
        return False  # the start of a multi-line Python statement
    try:
        compile(stripped, "<cell>", "exec")
    except SyntaxError:
        return True
    return False


class _Scanner:
    """Just enough of Python's tokenizer to know whether a line starts a statement: open
    brackets, triple-quoted strings and backslash continuations carry over to the next line."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.continued = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        index, end = 0, len(line)
        code_end = end
        while index < end:
            char = line[index]
            if self.quote is not None:
                if char == "\\":
                    index += 2
                elif line.startswith(self.quote, index):
                    index += len(self.quote)
                    self.quote = None
                else:
                    index += 1
                continue
            if char == "#":
                code_end = index
                break
            if char in "\"'":
                if line.startswith(char * 3, index):
                    self.quote = char * 3
                    index += 3
                    continue
                index += 1
                while index < end and line[index] != char:
                    index += 2 if line[index] == "\\" else 1
                index += 1
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            index += 1
        self.continued = self.quote is None and line[:code_end].rstrip().endswith("\\")


# --- the notebook's JSON ----------------------------------------------------------------------


def _skip(text: str, index: int) -> int:
    return _WHITESPACE.match(text, index).end()


def _members(text: str, index: int) -> tuple[dict[str, tuple[int, int]], int]:
    """The span of every member value of the JSON object starting at `index`, and its end."""
    spans: dict[str, tuple[int, int]] = {}
    index = _skip(text, index + 1)
    if text[index] == "}":
        return spans, index + 1
    while True:
        key, index = json.decoder.scanstring(text, index + 1)
        index = _skip(text, _skip(text, index) + 1)  # past the colon
        _, end = _DECODER.raw_decode(text, index)
        spans[key] = (index, end)
        index = _skip(text, end)
        if text[index] == "}":
            return spans, index + 1
        index = _skip(text, index + 1)  # past the comma


def _source_spans(text: str) -> list[tuple[int, int] | None]:
    """For each cell, where its "source" value sits in `text` (the file is valid JSON)."""
    start = _skip(text, 0)
    cells = _members(text, start)[0].get("cells")
    spans: list[tuple[int, int] | None] = []
    if cells is None:
        return spans
    index = _skip(text, cells[0] + 1)
    while text[index] != "]":
        _, end = _DECODER.raw_decode(text, index)
        spans.append(_members(text, index)[0].get("source") if text[index] == "{" else None)
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)
    return spans


class _Style:
    """How this notebook writes a cell's source, so a rewritten cell looks like its neighbours:
    a string or a list of lines (split as nbformat splits them), the list's indentation and line
    endings, escaped or raw non-ASCII."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ensure_ascii = text.isascii() and re.search(r"\\u[0-9a-fA-F]{4}", text) is not None
        self.newline = "\r\n" if "\r\n" in text else "\n"
        unit = _INDENT_UNIT.match(text)
        self.unit = unit.group(1) if unit else None

    def encode(self, old: str, source: str, start: int) -> str:
        if old.startswith('"'):
            return self._dump(source)
        lines = source.splitlines(keepends=True)
        if not lines:
            return "[]"
        items = [self._dump(line) for line in lines]
        inner = old[1:-1]
        if inner.strip():
            if "\n" not in inner:
                first_end = _DECODER.raw_decode(inner, _skip(inner, 0))[1]
                separator = re.match(r"\s*,\s*", inner[first_end:])
                return "[" + (separator.group(0) if separator else ", ").join(items) + "]"
            newline = "\r\n" if "\r\n" in inner else "\n"
            item_indent = re.match(r"\s*", inner).group(0).split("\n")[-1]
            closing_indent = inner[len(inner.rstrip(" \t")) :]
            return "[" + newline + ("," + newline).join(item_indent + i for i in items) + newline + closing_indent + "]"
        if self.unit is None:  # compact JSON on one line
            return "[" + ",".join(items) + "]"
        line_start = self.text.rfind("\n", 0, start) + 1
        key_indent = re.match(r"[ \t]*", self.text[line_start:]).group(0)
        item_indent = key_indent + self.unit
        joined = ("," + self.newline).join(item_indent + i for i in items)
        return "[" + self.newline + joined + self.newline + key_indent + "]"

    def _dump(self, value: str) -> str:
        return json.dumps(value, ensure_ascii=self.ensure_ascii)
