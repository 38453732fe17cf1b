"""The library API behind `import autofix`: check or fix source code from Python, with the same
engine, rules and fixes as the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

import libcst as cst

from autofix import engine, registry
from autofix.rule import Finding, Rule
from autofix.sources import decode, encode

Source = Union[str, bytes]

_NATIVE_PARSER_LOCATION = re.compile(r"error at (\d+):(\d+)")


class ParseError(ValueError):
    """The source is not valid Python; `line` and `column` (1-based) say where."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"cannot parse: {message} (line {line}, column {column})")
        self.line = line
        self.column = column

    @classmethod
    def of(cls, error: cst.ParserSyntaxError) -> "ParseError":
        """LibCST's native parser names the place in its message (0-based column) and leaves
        column 0 in the error's fields."""
        found = _NATIVE_PARSER_LOCATION.search(error.message)
        if found:
            return cls(error.message, int(found[1]), int(found[2]) + 1)
        return cls(error.message, error.raw_line, error.raw_column + 1)


@dataclass(frozen=True)
class Fixed:
    """What `fix` gives: the new source (str or bytes, as given), the findings whose fixes were
    applied, the findings left, and fixes dropped because their output did not parse."""

    source: Source
    applied: list[Finding]
    remaining: list[Finding]
    errors: list[str] = field(default_factory=list)


def check(
    source: Source, *, path: str = "<string>", select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
) -> list[Finding]:
    """The findings in `source`, sorted by position. `select` / `ignore` take rule names or
    "ALL" as `--select` / `--ignore` do; an unknown name raises ValueError."""
    rules = registry.resolve(select, ignore)
    return _run(lambda code: engine.lint(code, rules, path), source).findings


def fix(
    source: Source, *, path: str = "<string>", select: Sequence[str] | None = None,
    ignore: Sequence[str] = (), unsafe_fixes: bool = False,
    accept: Callable[[Finding], bool] | None = None,
) -> Fixed:
    """`source` with its fixes applied until nothing more applies, as `autofix fix` does: the
    safe fixes, the unsafe ones too with `unsafe_fixes`, or those `accept(finding)` approves."""
    rules = registry.resolve(select, ignore)
    chosen = accept or engine.accept_by_safety(unsafe_fixes)
    result = _run(lambda code: engine.fix(code, rules, path, chosen), source)
    new = decode(result.new_source) if isinstance(source, str) else result.new_source
    return Fixed(new, result.fixed, result.findings, result.errors)


def rules() -> dict[str, type[Rule]]:
    """Every installed rule by name, built-in and from packs registered under the
    `autofix.codemods` entry point, in catalogue order."""
    return dict(registry.available())


def _run(analyse: Callable[[bytes], engine.LintResult], source: Source) -> engine.LintResult:
    code = encode(source) if isinstance(source, str) else source
    try:
        return analyse(code)
    except cst.ParserSyntaxError as error:
        raise ParseError.of(error) from None

