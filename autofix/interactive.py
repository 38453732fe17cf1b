"""Fixes one hunk at a time. The engine offers each fix against the file as it stands after the
fixes accepted so far, and a decision function accepts or rejects it: `autofix fix -i` asks a
person, library users pass a veto. The terminal review analyses the next files on a background
thread while the person reads, so the first hunk shows as soon as the first file is analysed."""

from __future__ import annotations

import functools
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Generator, Iterator, Sequence

import click

from autofix import engine, notebook
from autofix.diffing import colour, unified_diff
from autofix.rule import Finding, Rule, Safety
from autofix.runner import describe
from autofix.sources import decode, read

Veto = Callable[[str, str], bool]  # (path, hunk) -> apply it?


def hunk(proposal: engine.Proposal) -> str:
    """The proposal as a diff against the file as it stands."""
    return unified_diff(proposal.finding.path, decode(proposal.source), decode(proposal.new_source))


def fix_with_veto(
    path: str, source: bytes, rules: Sequence[Rule], veto: Veto, unsafe_fixes: bool = False
) -> tuple[bytes, list[Finding]]:
    """Library entry point: apply the fixes whose hunk `veto(path, hunk)` accepts. Each hunk is
    shown against the file with the fixes accepted before it applied."""
    session = _proposals(path)(source, rules, path, engine.accept_by_safety(unsafe_fixes))
    try:
        proposal = next(session)
        while True:
            proposal = session.send(veto(path, hunk(proposal)))
    except StopIteration as done:
        result = done.value
    return result.new_source, result.fixed


def _proposals(path: str):
    """The generator of proposed fixes for the file: a notebook's proposals are whole notebooks."""
    return notebook.proposals if notebook.is_notebook(path) else engine.proposals


@dataclass
class Started:
    """A file analysed up to its first proposal; `result` instead when it offers none."""

    path: str
    source: bytes = b""
    session: Generator[engine.Proposal, bool | None, engine.LintResult] | None = None
    first: engine.Proposal | None = None
    result: engine.LintResult | None = None
    error: str | None = None


def start(path: str, rules: Sequence[Rule], unsafe_fixes: bool) -> Started:
    try:
        source = read(path)
        session = _proposals(path)(source, rules, path, engine.accept_by_safety(unsafe_fixes))
        try:
            return Started(path, source, session, first=next(session))
        except StopIteration as done:
            return Started(path, source, result=done.value)
    except Exception as error:  # one bad file must not end the review of the others
        return Started(path, error=describe(error))


class Prefetch:
    """Starts the files in order on a background thread. At most `ahead` started files that wait
    with a proposal are held, since each keeps its parse in memory."""

    def __init__(self, paths: Sequence[str], start: Callable[[str], Started], ahead: int = 4):
        self._ready: queue.Queue[Started | None] = queue.Queue()
        self._room = threading.Semaphore(ahead)
        self._stopped = threading.Event()
        threading.Thread(target=self._run, args=(paths, start), daemon=True).start()

    def _run(self, paths: Sequence[str], start: Callable[[str], Started]) -> None:
        for path in paths:
            if self._stopped.is_set():
                return
            started = start(path)
            if started.first is not None:
                self._room.acquire()
            if self._stopped.is_set():
                return
            self._ready.put(started)
        self._ready.put(None)

    def __iter__(self) -> Iterator[Started]:
        while (started := self._ready.get()) is not None:
            yield started
            if started.first is not None:
                self._room.release()

    def close(self) -> None:
        """Stop analysing; a file being analysed is finished and dropped."""
        self._stopped.set()
        self._room.release()


HELP = """\
y - apply this fix
n - do not apply this fix (Enter)
a - apply this fix and every later fix in this file
d - skip this fix and every later fix in this file
q - quit; fixes already accepted are applied
e - read the rule's documentation (in the pager), then this fix again
? - print this help
"""


@dataclass
class Summary:
    proposed: int = 0
    applied: int = 0
    files_changed: int = 0
    quit: bool = False
    findings_remain: bool = False
    failed: bool = False


class TerminalReview:
    """The `autofix fix -i` dialogue: one key per hunk; a file is written once its review ends."""

    def __init__(self, rules: Sequence[Rule], unsafe_fixes: bool, echo, getchar, explain, page) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self.unsafe_fixes = unsafe_fixes
        self.echo = echo
        self.getchar = getchar
        self.explain = explain
        self.page = page

    def run(self, paths: Sequence[str], write: Callable[[str, bytes], None]) -> Summary:
        summary = Summary()
        prefetch = Prefetch(
            paths,
            functools.partial(start, rules=list(self.rules.values()), unsafe_fixes=self.unsafe_fixes),
        )
        try:
            for started in prefetch:
                if started.error:
                    self._fail(started.path, started.error, summary)
                elif started.first is None:
                    self._account(started.path, started.result, summary)
                else:
                    self._review(started, write, summary)
                if summary.quit:
                    break
        finally:
            prefetch.close()
        return summary

    def _review(self, started: Started, write, summary: Summary) -> None:
        session, proposal = started.session, started.first
        number = accepted = 0
        take_the_rest = False
        try:
            while True:
                number += 1
                summary.proposed += 1
                choice = "y" if take_the_rest else self._ask(number, number + proposal.pending, proposal)
                if choice in ("d", "q"):
                    session.close()
                    summary.quit = choice == "q"
                    summary.findings_remain = True
                    new_source = proposal.source
                    break
                take_the_rest = take_the_rest or choice == "a"
                accepted += choice in ("y", "a")
                proposal = session.send(choice in ("y", "a"))
        except StopIteration as done:
            self._account(started.path, done.value, summary)
            new_source = done.value.new_source
        except Exception as error:  # a rule crashing on a fixed file: keep the file as it was
            self._fail(started.path, describe(error), summary)
            return
        if new_source != started.source:
            write(started.path, new_source)
            summary.files_changed += 1
            summary.applied += accepted

    def _account(self, path: str, result: engine.LintResult, summary: Summary) -> None:
        summary.findings_remain |= bool(result.findings)
        for error in result.errors:
            self._fail(path, error, summary)

    def _fail(self, path: str, error: str, summary: Summary) -> None:
        self.echo(f"{path}: error: {error}", err=True)
        summary.failed = True

    def _ask(self, number: int, total: int, proposal: engine.Proposal) -> str:
        self._show(number, total, proposal)
        while True:
            self.echo(click.style("Apply this fix [y,n,a,d,q,e,?]? ", fg="blue", bold=True), nl=False)
            try:
                key = self.getchar()
            except (KeyboardInterrupt, EOFError):
                key = "q"
            key = "n" if key in ("\r", "\n", "") else key.lower()
            self.echo(key if key.isprintable() else "")
            if key == "e":
                self.page(self.explain(proposal.finding.rule))
                self._show(number, total, proposal)
            elif key in ("y", "n", "a", "d", "q"):
                return key
            else:
                self.echo(HELP, nl=False)

    def _show(self, number: int, total: int, proposal: engine.Proposal) -> None:
        """The header, the rule's why and the hunk; unsafe fixes in yellow, safe ones in green."""
        finding = proposal.finding
        unsafe = finding.safety is Safety.UNSAFE
        added = "yellow" if unsafe else "green"
        safety = click.style("unsafe (review it)" if unsafe else "safe", fg=added, bold=unsafe or None)
        title = click.style(f"({number}/{total}) {finding.rule}", bold=True)
        self.echo(f"{title} · {safety} · {finding.place}")
        self.echo(self.rules[finding.rule].why())
        self.echo(colour(hunk(proposal), added=added), nl=False)


