"""The engine's contract: fixes compose over passes, broken fixes are dropped and reported,
suppressions hold, rule packs register through the entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import libcst as cst

from autofix import engine, registry
from autofix.rule import Fix, Rule, Safety, Violation, replace

ALL = registry.resolve(None)


def fix_all(code: str, unsafe: bool = False) -> engine.LintResult:
    return engine.fix(textwrap.dedent(code).encode(), ALL, "t.py", engine.accept_by_safety(unsafe))


def test_fixes_at_the_same_place_compose_over_passes():
    result = fix_all(
        """\
        for x in data:
            d_loss = D(x).mean()
            g_loss = D(G(x)).mean()
            d_loss.backward()
            g_loss.backward()
            opt_d.step()
            opt_g.step()
            opt_g.zero_grad
        """
    )
    assert result.new_source.decode() == textwrap.dedent(
        """\
        for x in data:
            d_loss = D(x).mean()
            g_loss = D(G(x)).mean()
            opt_d.zero_grad()
            d_loss.backward()
            g_loss.backward()
            opt_d.step()
            opt_g.step()
            opt_g.zero_grad()
        """
    )
    # the bare `opt_g.zero_grad` is called first; the next pass then sees opt_d is never cleared
    assert [f.rule for f in result.fixed] == ["uncalled-method", "missing-zero-grad"]
    assert result.findings == []


def test_two_optimizers_without_zero_grad_both_get_one():
    result = fix_all(
        """\
        for x in data:
            loss = model(x)
            loss.backward()
            opt_a.step()
            opt_b.step()
        """
    )
    body = result.new_source.decode()
    assert body.count("opt_a.zero_grad()") == 1 and body.count("opt_b.zero_grad()") == 1
    assert body.index("zero_grad") < body.index("loss.backward()")
    assert len(result.fixed) == 2
    assert fix_all(body).new_source.decode() == body


def test_unsafe_fix_needs_the_flag():
    code = """\
        for x, y in data:
            opt.zero_grad()
            loss = criterion(model(x), y)
            opt.step()
        """
    safe = fix_all(code)
    assert not safe.changed and [f.rule for f in safe.findings] == ["step-without-backward"]
    unsafe = fix_all(code, unsafe=True)
    assert "    loss.backward()\n    opt.step()" in unsafe.new_source.decode()


class _Breaks(Rule):
    name = "breaks-code"
    summary = "test rule whose fix does not parse"
    docs = "## What it does\nBreaks.\n\n## Why is this bad?\nIt is a test."
    fix_safety = Safety.SAFE

    def check(self, ctx):
        for node in ctx.module.body:
            yield Violation(node, "broken", Fix.of(replace(node, cst.parse_statement("x = 1\n").with_changes(body=[cst.Expr(cst.Name("lambda"))]))))


def test_a_fix_that_breaks_the_code_is_dropped_and_reported():
    source = b"a = 1\n"
    result = engine.fix(source, [_Breaks()], "t.py")
    assert result.new_source == source
    assert result.errors and "breaks-code" in result.errors[0]
    assert [f.rule for f in result.findings] == ["breaks-code"]


def test_third_party_pack_registers_through_entry_point(tmp_path):
    (tmp_path / "mypack.py").write_text(
        textwrap.dedent(
            """\
            from autofix.rule import Rule, Violation

            class NoPrint(Rule):
                name = "no-print"
                summary = "print in library code"
                docs = "## What it does\\nFlags print."

                def check(self, ctx):
                    return []

            RULES = [NoPrint]
            """
        )
    )
    info = tmp_path / "mypack-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypack\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[autofix.codemods]\nmypack = mypack:RULES\n")
    run = subprocess.run(
        [sys.executable, "-m", "autofix", "rules"],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    names = [line.split()[0] for line in run.stdout.splitlines()]
    assert names[-1] == "no-print" and "missing-zero-grad" in names


def test_examples_are_fixed_idempotently():
    from pathlib import Path

    source = (Path(__file__).parent.parent / "examples" / "train.py").read_bytes()
    once = engine.fix(source, ALL, "examples/train.py")
    assert once.changed and not once.findings
    assert not engine.fix(once.new_source, ALL, "examples/train.py").changed


def test_real_code_look_alikes_from_a_large_codebase():
    """Shapes seen while scanning PyTorch's own test utilities, all correct code."""
    source = textwrap.dedent(
        """\
        import torch

        def samples(make_arg, shape, mask_t):
            mixed = make_arg(shape).requires_grad_(False)
            mixed[mask_t] = 0
            return mixed

        def names(module_info, training):
            test_name = module_info.formatted_name
            test_name += "_train_mode" if training else "_eval_mode"
            return test_name

        def run(model, optim, scaler, batches):
            for x in batches:
                optim.zero_grad()
                loss = model(x).sum()
                model.module.run_backward(loss)
                scaler.step(optim)
                scaler.update()
        """
    )
    assert engine.lint(source.encode(), ALL, "t.py").findings == []
