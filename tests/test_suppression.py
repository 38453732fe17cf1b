"""Suppression comments through the installed command: any line of a statement, `# noqa` with
autofix rule names only, and `unused-suppression` reporting and removing the dead ones."""

from __future__ import annotations

import textwrap

from clirun import autofix

SOURCE = textwrap.dedent(
    """\
    import torch
    from torch import nn

    model = nn.Linear(2, 1)  # autofix: ignore[missing-zero-grad]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # noqa: E501, uncalled-method
    for step in range(3):
        loss = model(torch.randn(4, 2)).pow(2).mean()
        loss.backward()
        opt.step(
            # autofix: ignore[missing-zero-grad]
        )
    model.eval  # noqa: uncalled-method
    model.train  # noqa
    model.eval  # noqa: E501
    print(model)  # autofix: ignore[uncalled-methd] because reasons
    for out in model.forward(
        torch.randn(1, 2),  # autofix: ignore[forward-called-directly]
    ):
        print(out)  # autofix: ignore[forward-called-directly]
    """
)


def concise(run) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith("s.py:")]


def test_what_is_silenced_and_what_is_reported(tmp_path):
    (tmp_path / "s.py").write_text(SOURCE)
    run = autofix(tmp_path, "check", "--output-format", "concise")
    assert run.returncode == 1
    assert concise(run) == [
        # a suppression whose rule finds nothing on its statement
        "s.py:4:26: unused-suppression [*] unused suppression: `missing-zero-grad` silences no finding here",
        # the autofix rule name in another tool's noqa list is dead; E501 is not ours to judge
        "s.py:5:52: unused-suppression [*] unused suppression: `uncalled-method` silences no finding here",
        # line 9's missing-zero-grad is silenced from inside the call's parentheses (line 10)
        # line 12: `# noqa: uncalled-method` silences; a bare noqa or another tool's code does not
        "s.py:13:1: uncalled-method [*] `model.train` is never called: add `()` to run it",
        "s.py:14:1: uncalled-method [*] `model.eval` is never called: add `()` to run it",
        "s.py:15:15: unused-suppression unused suppression: `uncalled-methd` is not a rule (did you mean `uncalled-method`?)",
        # the for header's forward call is silenced on the header's second line, not in the body
        "s.py:19:17: unused-suppression [*] unused suppression: `forward-called-directly` silences no finding here",
    ]


def test_fix_removes_dead_names_and_comments_and_keeps_other_tools(tmp_path):
    target = tmp_path / "s.py"
    target.write_text(SOURCE)
    run = autofix(tmp_path, "fix", "--select", "unused-suppression,missing-zero-grad,forward-called-directly")
    assert run.returncode == 1  # the misspelt name is only removed with --unsafe-fixes
    fixed = target.read_text()
    assert "model = nn.Linear(2, 1)\n" in fixed
    assert "# noqa: E501, uncalled-method" in fixed  # uncalled-method did not run: not judged
    assert "    print(out)\n" in fixed
    assert "# autofix: ignore[uncalled-methd] because reasons" in fixed
    run = autofix(tmp_path, "fix", "--unsafe-fixes")
    assert run.returncode == 0, run.stdout
    fixed = target.read_text()
    assert "opt = torch.optim.SGD(model.parameters(), lr=0.1)  # noqa: E501\n" in fixed
    assert "print(model)\n" in fixed  # the directive and its reason went together
    assert "# autofix: ignore[missing-zero-grad]\n" in fixed and "model.eval  # noqa: uncalled-method" in fixed
    assert "model.train()  # noqa\n" in fixed
    again = autofix(tmp_path, "fix", "--unsafe-fixes")
    assert again.returncode == 0 and target.read_text() == fixed


def test_names_of_rules_that_did_not_run_are_not_reported(tmp_path):
    (tmp_path / "s.py").write_text("x = 1  # autofix: ignore[uncalled-method]\ny = 2  # autofix: ignore\n")
    run = autofix(tmp_path, "check", "--select", "missing-zero-grad,unused-suppression")
    assert run.returncode == 0, run.stdout
    run = autofix(tmp_path, "check", "--output-format", "concise")
    assert concise(run) == [
        "s.py:1:8: unused-suppression [*] unused suppression: `uncalled-method` silences no finding here",
        "s.py:2:8: unused-suppression [*] unused suppression: no finding on this statement to silence",
    ]
    assert autofix(tmp_path, "check", "--ignore", "unused-suppression").returncode == 0
