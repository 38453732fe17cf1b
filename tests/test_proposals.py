"""The engine as a generator of proposed fixes, and the background analysis of the interactive
mode built on it."""

from __future__ import annotations

import textwrap
import threading
import time

import libcst as cst

from autofix import engine, registry
from autofix.interactive import Prefetch, Started
from autofix.rule import Fix, Rule, Violation, insert_before, replace

ALL = registry.resolve(None)
SOURCE = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train
    for step in range(3):
        loss = model(torch.randn(4, 2)).sum()
        loss.backward()
        opt.step()
    model.eval
    """
).encode()


def test_iterating_previews_every_fix_against_the_untouched_file():
    session = engine.proposals(SOURCE, ALL, "a.py")
    seen = list(session)
    assert [(p.finding.rule, p.finding.line, p.pending) for p in seen] == [
        ("uncalled-method", 5, 2), ("missing-zero-grad", 9, 1), ("uncalled-method", 10, 0),
    ]
    assert all(p.source == SOURCE for p in seen)
    assert b"model.train()" in seen[0].new_source and b"model.eval\n" in seen[0].new_source


def test_accepting_applies_the_fix_before_the_next_proposal():
    session = engine.proposals(SOURCE, ALL, "a.py")
    first = next(session)
    second = session.send(True)
    assert second.source == first.new_source
    third = session.send(False)
    assert third.source == first.new_source
    try:
        session.send(True)
    except StopIteration as done:
        result = done.value
    assert [f.rule for f in result.fixed] == ["uncalled-method", "uncalled-method"]
    assert [f.rule for f in result.findings] == ["missing-zero-grad"]
    assert result.new_source == third.new_source
    assert result.new_source == engine.fix(SOURCE, ALL, "a.py", lambda f: f.line != 9).new_source


class _Pass(Rule):
    name, summary, docs = "no-pass", "pass", "## Why is this bad?\n\nIt is."

    def check(self, ctx):
        for node in ctx.nodes:
            if isinstance(node, cst.SimpleStatementLine) and isinstance(node.body[0], cst.Pass):
                line = ctx.position(node).start.line
                yield Violation(node, f"pass at line {line}", Fix.of(replace(node, cst.parse_statement("...\n"))))


class _Header(Rule):
    name, summary, docs = "header", "header", "## Why is this bad?\n\nIt is."

    def check(self, ctx):
        code = ctx.module.code
        if "HEADER" not in code:
            end = ctx.module.body[-1]
            yield Violation(end, "no header", Fix.of(insert_before(ctx.module.body[0], "HEADER = 1")))


def test_a_declined_finding_is_not_offered_again_after_lines_move_above_it():
    source = b"a = 1\npass\nEND = 1\n"
    session = engine.proposals(source, [_Pass(), _Header()], "t.py")
    first = next(session)
    assert first.finding.message == "pass at line 2"
    second = session.send(False)
    assert second.finding.rule == "header"
    try:
        session.send(True)  # the header pushes `pass` to line 3: still the declined finding
    except StopIteration as done:
        result = done.value
    assert result.new_source == b"HEADER = 1\na = 1\npass\nEND = 1\n"
    assert [f.message for f in result.findings] == ["pass at line 3"]


def test_the_interactive_default_is_what_autofix_fix_accepts():
    unsafe = textwrap.dedent(
        """\
        import torch

        model = torch.nn.Linear(2, 1)
        criterion = torch.nn.MSELoss()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(3):
            opt.zero_grad()
            loss = criterion(model(torch.randn(4, 2)), torch.randn(4, 1))
            opt.step()
        """
    ).encode()
    assert list(engine.proposals(unsafe, ALL, "u.py")) == []
    offered = list(engine.proposals(unsafe, ALL, "u.py", engine.accept_by_safety(unsafe_fixes=True)))
    assert [p.finding.safety.value for p in offered] == ["unsafe"]


def test_prefetch_holds_only_a_few_files_waiting_with_a_proposal():
    calls = []
    lock = threading.Lock()

    def start(path):
        with lock:
            calls.append(path)
        return Started(path, first=object())

    prefetch = Prefetch([f"f{n}.py" for n in range(50)], start, ahead=3)
    reviewed = iter(prefetch)
    assert next(reviewed).path == "f0.py"
    time.sleep(0.3)
    assert len(calls) == 4  # three waiting, one analysed and blocked until one is reviewed
    assert next(reviewed).path == "f1.py"
    prefetch.close()
    time.sleep(0.3)
    assert len(calls) <= 5  # nothing new is started after close
