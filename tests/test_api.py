"""`import autofix` as a library user writes it: check, fix, the rule registry, Finding."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import autofix

BUGGY = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        loss = model(torch.randn(4, 2)).pow(2).mean()
        loss.backward()
        opt.step()
    model.eval
    """
)
UNSAFE = textwrap.dedent(
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
)

USER_SCRIPT = textwrap.dedent(
    """\
    import json, sys
    import autofix

    source = open("train.py").read()
    findings = autofix.check(source, path="train.py")
    fixed = autofix.fix(source, path="train.py")
    open("train.py", "w").write(fixed.source)
    json.dump({
        "findings": [[f.rule, f.line, f.column, f.safety.value, f.fixable] for f in findings],
        "applied": [f.rule for f in fixed.applied],
        "remaining": len(fixed.remaining),
        "again": len(autofix.check(fixed.source)),
        "rules": sorted(autofix.rules())[:2],
        "is_finding": isinstance(findings[0], autofix.Finding),
    }, sys.stdout)
    """
)


def test_a_user_script_checks_and_fixes_a_file(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    (tmp_path / "use_autofix.py").write_text(USER_SCRIPT)
    run = subprocess.run(
        [sys.executable, "use_autofix.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    out = json.loads(run.stdout)
    assert out["findings"] == [
        ["missing-zero-grad", 8, 5, "safe", True], ["uncalled-method", 9, 1, "safe", True],
    ]
    assert out["applied"] == ["missing-zero-grad", "uncalled-method"]
    assert out["remaining"] == 0 and out["again"] == 0 and out["is_finding"]
    assert out["rules"] == sorted(autofix.rules())[:2]
    assert "    opt.zero_grad()\n    loss.backward()" in (tmp_path / "train.py").read_text()
    subprocess.run(
        [sys.executable, "-m", "autofix", "check", "train.py"], cwd=tmp_path, check=True,
        capture_output=True,
    )


def test_the_result_has_the_type_of_the_input():
    assert isinstance(autofix.fix(BUGGY).source, str)
    as_bytes = autofix.fix(BUGGY.encode())
    assert isinstance(as_bytes.source, bytes) and as_bytes.source.decode() == autofix.fix(BUGGY).source


def test_select_and_ignore_take_names_as_the_command_line_does():
    assert [f.rule for f in autofix.check(BUGGY, select=["uncalled-method"])] == ["uncalled-method"]
    assert [f.rule for f in autofix.check(BUGGY, ignore=["uncalled-method"])] == ["missing-zero-grad"]
    with pytest.raises(ValueError, match="unknown rule 'missing-zero-grads'"):
        autofix.check(BUGGY, select=["missing-zero-grads"])


def test_unsafe_fixes_and_a_veto():
    assert autofix.fix(UNSAFE).applied == []
    applied = autofix.fix(UNSAFE, unsafe_fixes=True).applied
    assert [(f.rule, f.safety) for f in applied] == [("step-without-backward", autofix.Safety.UNSAFE)]
    only_calls = autofix.fix(BUGGY, accept=lambda finding: finding.rule == "uncalled-method")
    assert [f.rule for f in only_calls.applied] == ["uncalled-method"]
    assert [f.rule for f in only_calls.remaining] == ["missing-zero-grad"]


def test_invalid_python_raises_parse_error_with_the_place():
    with pytest.raises(autofix.ParseError) as raised:
        autofix.check("x = 1\n  y = 2\n")
    assert (raised.value.line, raised.value.column) == (2, 3)
    assert isinstance(raised.value, ValueError)


def test_a_coding_line_is_honoured_for_text_input():
    source = "# -*- coding: latin-1 -*-\nname = 'café'\nmodel.eval\n"
    fixed = autofix.fix(source)
    assert fixed.source == source.replace("model.eval", "model.eval()")


def test_the_rule_registry_documents_every_rule():
    registry = autofix.rules()
    assert "missing-zero-grad" in registry
    for name, rule in registry.items():
        assert rule.name == name and issubclass(rule, autofix.Rule)
        assert rule.summary and "## Why is this bad?" in rule.docs
        assert rule.fix_safety in set(autofix.Safety)


def test_the_public_names_are_documented():
    for name in autofix.__all__:
        if name != "__version__":
            assert getattr(autofix, name).__doc__, name


def test_the_readme_example_runs(tmp_path):
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    example = readme[readme.index("## Library use") :].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "train.py").write_text((root / "examples" / "train.py").read_text())
    (tmp_path / "example.py").write_text(example)
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "missing-zero-grad" in run.stdout
    assert autofix.check((tmp_path / "train.py").read_text(), select=["missing-zero-grad"]) == []
