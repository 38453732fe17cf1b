"""Fixes one hunk at a time: every fix is proposed as its own diff, a decision function accepts
or rejects it, and the accepted ones are applied per file bottom-up, so that positions above the
fix being applied never move. `autofix fix -i` asks a person; library users pass a veto."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from autofix import engine
from autofix.diffing import colour, unified_diff
from autofix.report import applies_by_default
from autofix.rule import Finding, Rule
from autofix.sources import decode

Veto = Callable[[str, str], bool]  # (path, hunk) -> apply it?


@dataclass
class Proposal:
    path: str
    finding: Finding
    hunk: str


def propose(path: str, source: bytes, rules: Sequence[Rule], unsafe_fixes: bool) -> list[Proposal]:
    """Each applicable fix of the file, alone, as a diff against the original."""
    old = decode(source)
    proposals = []
    for finding in engine.lint(source, rules, path).findings:
        if not applies_by_default(finding, unsafe_fixes):
            continue
        single = engine.fix(source, rules, path, _same(finding), max_passes=1)
        if single.changed:
            hunk = unified_diff(path, old, decode(single.new_source))
            proposals.append(Proposal(path, finding, hunk))
    return proposals


def apply(path: str, source: bytes, rules: Sequence[Rule], accepted: Iterable[Finding]) -> bytes:
    """`source` with the accepted fixes applied, last in the file first; each step is re-parsed
    and verified by the engine."""
    current = source
    for finding in sorted(accepted, key=lambda f: (f.line, f.column), reverse=True):
        current = engine.fix(current, rules, path, _same(finding), max_passes=1).new_source
    return current


def fix_with_veto(
    path: str, source: bytes, rules: Sequence[Rule], veto: Veto, unsafe_fixes: bool = False
) -> tuple[bytes, list[Finding]]:
    """Library entry point: apply the fixes whose hunk `veto(path, hunk)` accepts."""
    accepted = [
        p.finding for p in propose(path, source, rules, unsafe_fixes) if veto(p.path, p.hunk)
    ]
    return apply(path, source, rules, accepted), accepted


def _same(target: Finding) -> engine.Accept:
    """Matches `target` in a new parse: exactly, or (when a fix below it inserted lines above
    it) the nearest finding further down with the same rule, column and message shape."""
    shape = _shape(target.message)
    matched = []

    def accept(candidate: Finding) -> bool:
        if matched:  # findings come in position order: the first match is the nearest
            return False
        if (candidate.rule, candidate.line, candidate.column, candidate.message) == (
            target.rule, target.line, target.column, target.message,
        ) or (
            candidate.rule == target.rule
            and candidate.column == target.column
            and 0 <= candidate.line - target.line <= 20
            and _shape(candidate.message) == shape
        ):
            matched.append(candidate)
            return True
        return False

    return accept


def _shape(message: str) -> str:
    return re.sub(r"\d+", "#", message)


HELP = """\
y - apply this fix
n - do not apply this fix (Enter)
a - apply this fix and every later fix in this file
d - skip this fix and every later fix in this file
q - quit; fixes already accepted are applied
e - explain the rule
? - print this help
"""


@dataclass
class Summary:
    proposed: int = 0
    applied: int = 0
    files_changed: int = 0
    quit: bool = False


class TerminalReview:
    """The `autofix fix -i` dialogue: one key per hunk, decisions applied per file."""

    def __init__(self, rules: Sequence[Rule], unsafe_fixes: bool, echo, getchar, explain) -> None:
        self.rules = rules
        self.unsafe_fixes = unsafe_fixes
        self.echo = echo
        self.getchar = getchar
        self.explain = explain

    def run(self, files: Sequence[tuple[str, bytes]], write) -> Summary:
        planned = [(path, source, propose(path, source, self.rules, self.unsafe_fixes)) for path, source in files]
        summary = Summary(proposed=sum(len(p) for _, _, p in planned))
        number = 0
        for path, source, proposals in planned:
            accepted: list[Finding] = []
            rest = None  # "a" or "d" once chosen for this file
            for proposal in proposals:
                number += 1
                if summary.quit or rest == "d":
                    continue
                choice = "y" if rest == "a" else self._ask(number, summary.proposed, proposal)
                if choice in ("y", "a"):
                    accepted.append(proposal.finding)
                if choice in ("a", "d"):
                    rest = choice
                summary.quit = choice == "q"
            if accepted:
                new = apply(path, source, self.rules, accepted)
                if new != source:
                    write(path, new)
                    summary.files_changed += 1
                    summary.applied += len(accepted)
        return summary

    def _ask(self, number: int, total: int, proposal: Proposal) -> str:
        finding = proposal.finding
        rule = next(r for r in self.rules if r.name == finding.rule)
        safety = finding.safety.value + (" (review it)" if finding.safety.value == "unsafe" else "")
        self.echo(
            _style(f"({number}/{total}) {finding.rule} · {safety} · {finding.path}:{finding.line}", bold=True)
        )
        self.echo(rule.why())
        self.echo(colour(proposal.hunk), nl=False)
        while True:
            self.echo(_style("Apply this fix [y,n,a,d,q,e,?]? ", fg="blue", bold=True), nl=False)
            try:
                key = self.getchar()
            except (KeyboardInterrupt, EOFError):
                key = "q"
            key = "n" if key in ("\r", "\n", "") else key.lower()
            self.echo(key if key.isprintable() else "")
            if key == "e":
                self.echo(self.explain(finding.rule))
            elif key in ("y", "n", "a", "d", "q"):
                return key
            else:
                self.echo(HELP, nl=False)


def _style(text: str, **styles) -> str:
    import click

    return click.style(text, **styles)
