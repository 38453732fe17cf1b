"""Lint and fix one source: parse once per pass, run every selected rule on shared metadata,
apply the accepted non-overlapping fixes, re-parse and repeat until nothing more applies.

The engine is a generator of proposed fixes that the caller accepts or rejects one by one
(`accept`): the CLI accepts by safety, the interactive mode asks, library users veto.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterable, Sequence

import libcst as cst

from autofix.context import FileContext
from autofix.diffing import line_mover
from autofix.rule import Edit, EditKind, Finding, Rule, Safety
from autofix.suppression import UNUSED_SUPPRESSION, Suppressions

MAX_PASSES = 10

Accept = Callable[[Finding], bool]

class InternalError(Exception):
    """A rule produced a fix whose output does not parse or compile."""


@dataclass
class LintResult:
    """What one source gave: the findings left, the fixes applied, the new code."""

    findings: list[Finding]
    fixed: list[Finding] = field(default_factory=list)
    source: bytes = b""
    new_source: bytes = b""
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new_source != self.source


def accept_by_safety(unsafe_fixes: bool) -> Accept:
    allowed = {Safety.SAFE, Safety.UNSAFE} if unsafe_fixes else {Safety.SAFE}
    return lambda finding: finding.fix is not None and finding.fix.safety in allowed


def parse(source: bytes) -> cst.Module:
    """Parse bytes the way libcst keeps them: encoding, BOM and line endings round-trip."""
    return cst.parse_module(source)


def find(module: cst.Module, rules: Sequence[Rule], path: str) -> list[Finding]:
    """Every finding of `rules` in `module`, suppressions honoured, sorted by position."""
    ctx = FileContext(module, path)
    silencer = Suppressions(ctx)
    reported = [
        (rule.name, violation)
        for rule in rules
        for violation in rule.check(ctx)
        if not silencer.silences(rule.name, violation.node)
    ]
    reported += [(UNUSED_SUPPRESSION, violation) for violation in silencer.unused(rules)]
    findings = []
    for rule_name, violation in reported:
        position = ctx.position(violation.node)
        fix = violation.fix
        findings.append(
            _Positioned(
                rule=rule_name,
                path=path,
                line=position.start.line,
                column=position.start.column + 1,
                end_line=position.end.line,
                end_column=position.end.column + 1,
                message=violation.message,
                safety=fix.safety if fix else Safety.NONE,
                fix=fix,
                ctx=ctx,
            )
        )
    findings.sort(key=Finding.sort_key)
    return _one_per_bug(findings, rules)


def _one_per_bug(findings: list[Finding], rules: Sequence[Rule]) -> list[Finding]:
    """Drop the findings another rule's finding on the same line supersedes (`Rule.supersedes`)."""
    superseding = {rule.name: rule.supersedes for rule in rules if rule.supersedes}
    if not superseding:
        return findings
    replaced = {(f.line, name) for f in findings for name in superseding.get(f.rule, ())}
    return [f for f in findings if (f.line, f.rule) not in replaced]


@dataclass(frozen=True)
class _Positioned(Finding):
    """A finding that still knows the parse it came from, so its fix's edits can be placed."""

    ctx: FileContext | None = field(default=None, compare=False, repr=False)

    def plain(self) -> Finding:
        return Finding(
            self.rule, self.path, self.line, self.column, self.end_line, self.end_column,
            self.message, self.safety, self.fix,
        )


def lint(source: bytes, rules: Sequence[Rule], path: str = "<string>") -> LintResult:
    """Findings only: nothing is rewritten."""
    findings = find(parse(source), rules, path)
    return LintResult([_plain(f) for f in findings], source=source, new_source=source)


def fix(
    source: bytes,
    rules: Sequence[Rule],
    path: str = "<string>",
    accept: Accept | None = None,
    max_passes: int = MAX_PASSES,
) -> LintResult:
    """Apply accepted fixes until stable (at most `max_passes`). Output is verified to parse and
    compile before it is kept; a fix that breaks it is dropped and reported with its rule."""
    accept = accept or accept_by_safety(unsafe_fixes=False)
    module = parse(source)
    applied: list[Finding] = []
    errors: list[str] = []
    broken_rules: set[str] = set()
    findings = find(module, rules, path)
    for _ in range(max_passes):
        chosen = _non_overlapping(
            [f for f in findings if f.fix and f.rule not in broken_rules and accept(_plain(f))]
        )
        if not chosen:
            break
        try:
            module = _apply(chosen, path)
        except InternalError:
            if len(chosen) > 1:
                chosen = chosen[:1]
            try:
                module = _apply(chosen, path)
            except InternalError as error:
                broken_rules.add(chosen[0].rule)
                errors.append(f"internal error in rule {chosen[0].rule}: {error}")
                continue
        applied.extend(_plain(f) for f in chosen)
        findings = find(module, rules, path)
    return LintResult(
        [_plain(f) for f in findings], applied, source, module.bytes, errors
    )


@dataclass(frozen=True)
class Proposal:
    """One fix offered on its own: `new_source` is `source` (the file as it stands after the
    fixes accepted so far) with only this finding's fix applied."""

    finding: Finding
    source: bytes
    new_source: bytes
    pending: int  # further fixes this file offers, as far as the current analysis knows


def proposals(
    source: bytes, rules: Sequence[Rule], path: str = "<string>", wanted: Accept | None = None
) -> Generator[Proposal, bool | None, LintResult]:
    """Each wanted fix, one at a time in position order, against the file as it stands after the
    fixes accepted so far. `send(True)` accepts the proposal (the file is re-analysed); anything
    else, plain iteration included, declines it. A finding decided once is not offered again.
    Returns the LintResult of the accepted fixes."""
    wanted = wanted or accept_by_safety(unsafe_fixes=False)
    module = parse(source)
    findings = find(module, rules, path)
    decided: list[tuple] = []  # identities of the findings offered so far, in current lines
    applied: list[Finding] = []
    errors: list[str] = []
    while offered := _undecided([f for f in findings if f.fix and wanted(_plain(f))], decided):
        finding = offered[0]
        decided.append(_identity(finding))
        try:
            candidate = _apply([finding], path)
        except InternalError as error:
            errors.append(f"internal error in rule {finding.rule}: {error}")
            continue
        if candidate.bytes == module.bytes:
            continue
        proposal = Proposal(_plain(finding), module.bytes, candidate.bytes, len(offered) - 1)
        if (yield proposal) is True:
            moved = line_mover(module.code, candidate.code)
            decided = [(rule, moved(line), shape) for rule, line, shape in decided]
            module = candidate
            applied.append(proposal.finding)
            findings = find(module, rules, path)
    return LintResult([_plain(f) for f in findings], applied, source, module.bytes, errors)


def _identity(finding: Finding) -> tuple[str, int, str]:
    """What recognises a finding in a later parse: columns move with edits on the same line,
    and numbers in messages ("the loop at line 12") move with inserted lines."""
    return finding.rule, finding.line, re.sub(r"\d+", "#", finding.message)


def _undecided(findings: Sequence[Finding], decided: Sequence[tuple]) -> list[Finding]:
    left = Counter(decided)
    undecided = []
    for finding in findings:
        identity = _identity(finding)
        if left[identity]:
            left[identity] -= 1
        else:
            undecided.append(finding)
    return undecided


def _plain(finding: Finding) -> Finding:
    return finding.plain() if isinstance(finding, _Positioned) else finding


def _span(finding: _Positioned, edit: Edit) -> tuple[tuple[int, int], tuple[int, int]]:
    position = finding.ctx.position(edit.node)
    return (position.start.line, position.start.column), (position.end.line, position.end.column)


def _non_overlapping(findings: Iterable[_Positioned]) -> list[_Positioned]:
    """The fixes that can go in one pass. Two edits clash when their nodes overlap and one of
    them rewrites (replaces or removes) its node, unless the other only inserts next to a
    statement that strictly contains it. What is left out is proposed again in the next pass."""
    chosen: list[_Positioned] = []
    taken: list[tuple[tuple, tuple, bool]] = []
    for finding in findings:
        spans = [(*_span(finding, e), e.rewrites_node) for e in finding.fix.edits]
        if not any(_clash(a, b) for a in spans for b in taken):
            chosen.append(finding)
            taken.extend(spans)
    return chosen


def _clash(a: tuple, b: tuple) -> bool:
    (a_start, a_end, a_rewrites), (b_start, b_end, b_rewrites) = a, b
    if not (a_start < b_end and b_start < a_end) or not (a_rewrites or b_rewrites):
        return False
    if a_rewrites and b_rewrites:
        return True
    (i_start, i_end), (r_start, r_end) = (
        ((b_start, b_end), (a_start, a_end)) if a_rewrites else ((a_start, a_end), (b_start, b_end))
    )
    strictly_inside = i_start <= r_start and r_end <= i_end and (i_start, i_end) != (r_start, r_end)
    return not strictly_inside


def _apply(findings: Sequence[_Positioned], path: str) -> cst.Module:
    """Apply the fixes of one pass (all found on the same parse) and verify the result."""
    ctx_module = findings[0].ctx.module
    edits = [edit for f in findings for edit in f.fix.edits]
    new = ctx_module.visit(_EditApplier(edits))
    try:
        reparsed = parse(new.bytes)
        compile(reparsed.code, path, "exec")
    except (cst.ParserSyntaxError, SyntaxError, ValueError) as error:
        rules = ", ".join(sorted({f.rule for f in findings}))
        raise InternalError(f"fix by {rules} does not parse: {error}") from error
    return reparsed


def _add_once(statements: list[cst.CSTNode], new: Sequence[cst.CSTNode]) -> None:
    """Two fixes inserting the same line at the same place (say, the same import) insert it once."""
    empty = cst.Module(body=[])
    present = {empty.code_for_node(s) for s in statements}
    for statement in new:
        if empty.code_for_node(statement) not in present:
            statements.append(statement)


class _EditApplier(cst.CSTTransformer):
    """Applies edits by node identity in one traversal."""

    def __init__(self, edits: Sequence[Edit]) -> None:
        super().__init__()
        self.rewrite: dict[int, Edit] = {}
        self.before: dict[int, list[cst.CSTNode]] = defaultdict(list)
        self.after: dict[int, list[cst.CSTNode]] = defaultdict(list)
        for edit in edits:
            key = id(edit.node)
            if edit.kind is EditKind.INSERT_BEFORE:
                _add_once(self.before[key], edit.new)
            elif edit.kind is EditKind.INSERT_AFTER:
                _add_once(self.after[key], edit.new)
            else:
                self.rewrite[key] = edit

    def on_leave(self, original, updated):
        key = id(original)
        edit = self.rewrite.get(key)
        if edit is not None and edit.kind is EditKind.REPLACE:
            updated = edit.new[0]
        before, after = self.before.get(key, []), self.after.get(key, [])
        removed = edit is not None and edit.kind is EditKind.REMOVE
        if not before and not after:
            return cst.RemovalSentinel.REMOVE if removed else updated
        if before and hasattr(updated, "leading_lines"):
            # The blank lines and comments above the statement now sit above the inserted code.
            before = [
                before[0].with_changes(
                    leading_lines=(*updated.leading_lines, *before[0].leading_lines)
                ),
                *before[1:],
            ]
            updated = updated.with_changes(leading_lines=())
        middle = [] if removed else [updated]
        return cst.FlattenSentinel([*before, *middle, *after])
