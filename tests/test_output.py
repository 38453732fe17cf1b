"""Output as Ruff users know it, through the installed command: formats, statistics, the fix
list, summary and unsafe-fix hint wording, -q / -v / -V, exit flags, the check --fix / --diff
aliases, and colour (decided in a real pty)."""

from __future__ import annotations

import json
import os
from xml.etree import ElementTree

import pexpect
import pytest

from autofix import registry
from clirun import AUTOFIX, BUGGY, UNCALLED, UNSAFE_ONLY, autofix, write

MZG = "`opt.zero_grad()` is never called in the loop at line 6 that calls `opt.step()`: gradients of every iteration add up"
UNC = "`model.eval` is never called: add `()` to run it"
SWB = "`opt.step()` runs in the loop at line 6 but nothing there calls backward: the step has no gradients and leaves the parameters unchanged"


@pytest.fixture
def project(tmp_path):
    write(tmp_path, {"train.py": BUGGY, "eval.py": UNCALLED, "unsafe.py": UNSAFE_ONLY})
    return tmp_path


def test_concise_and_the_summary_with_the_unsafe_hint(project):
    run = autofix(project, "check", "--output-format", "concise")
    assert run.returncode == 1
    assert run.stdout == (
        f"eval.py:4:1: uncalled-method [*] {UNC}\n"
        f"train.py:9:5: missing-zero-grad [*] {MZG}\n"
        f"unsafe.py:9:5: step-without-backward {SWB}\n"
        "Found 3 findings.\n"
        "[*] 2 fixable with `autofix fix` (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n"
    )
    only_unsafe = autofix(project, "check", "--output-format", "concise", "unsafe.py")
    assert only_unsafe.stdout.endswith(
        "Found 1 finding.\nNo fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n"
    )
    # asked for: the fix is marked; refused explicitly: no hint, as Ruff
    assert f"step-without-backward [*] {SWB}" in autofix(project, "check", "--unsafe-fixes", "unsafe.py").stdout
    assert autofix(project, "check", "--no-unsafe-fixes", "--output-format", "concise", "unsafe.py").stdout.endswith(
        "Found 1 finding.\n"
    )


def test_grouped(project):
    run = autofix(project, "check", "--output-format", "grouped", "train.py", "eval.py")
    assert run.stdout == (
        f"eval.py:\n  4:1 uncalled-method [*] {UNC}\n\n"
        f"train.py:\n  9:5 missing-zero-grad [*] {MZG}\n\n"
        "Found 2 findings.\n[*] 2 fixable with `autofix fix`.\n"
    )


def test_json_lines_and_the_format_alias(project):
    run = autofix(project, "check", "--format", "json-lines")
    assert run.returncode == 1
    objects = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(o["path"], o["rule"], o["line"], o["column"], o["safety"]) for o in objects] == [
        ("eval.py", "uncalled-method", 4, 1, "safe"),
        ("train.py", "missing-zero-grad", 9, 5, "safe"),
        ("unsafe.py", "step-without-backward", 9, 5, "unsafe"),
    ]
    assert autofix(project, "check", "--output-format", "json-lines").stdout == run.stdout


def test_junit(project):
    (project / "broken.py").write_text("def f(:\n")
    run = autofix(project, "check", "--output-format", "junit")
    assert run.returncode == 2 and run.stderr == ""
    root = ElementTree.fromstring(run.stdout)
    assert run.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="autofix"')
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "3", "1")
    suites = {s.get("name"): s for s in root}
    assert sorted(suites) == ["broken.py", "eval.py", "train.py", "unsafe.py"]
    [case] = suites["train.py"]
    assert (case.get("name"), case.get("classname"), case.get("line"), case.get("column")) == (
        "org.autofix.missing-zero-grad", "train", "9", "5",
    )
    assert case.find("failure").get("message") == MZG
    assert case.find("failure").text == f"line 9, col 5, {MZG}"
    assert suites["broken.py"][0].find("error").get("message").startswith("cannot parse")
    clean = ElementTree.fromstring(autofix(project, "check", "--output-format", "junit", "--select", "uncalled-method", "train.py").stdout)
    assert [c.get("name") for c in clean.iter("testcase")] == ["No errors found"]


def test_statistics(project):
    (project / "more.py").write_text(BUGGY)
    run = autofix(project, "check", "--statistics")
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        "2\tmissing-zero-grad    \t[*] A training loop steps an optimizer but never clears its gradients",
        "1\tstep-without-backward\t[ ] A training loop steps an optimizer but never calls backward",
        "1\tuncalled-method      \t[*] A training method is named but never called (missing parentheses)",
        "Found 4 findings.",
        "[*] 3 fixable with `autofix fix` (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
    ]
    rows = json.loads(autofix(project, "check", "--statistics", "--output-format", "json").stdout)
    assert rows[0] == {"rule": "missing-zero-grad", "count": 2, "fixable": True, "fixable_count": 2}
    bad = autofix(project, "check", "--statistics", "--output-format", "junit")
    assert bad.returncode == 2 and "--statistics" in bad.stderr


def test_fix_lists_what_it_changed_per_file(project):
    run = autofix(project, "fix", "--output-format", "concise")
    assert run.returncode == 1  # the unsafe finding remains
    assert run.stdout == (
        f"unsafe.py:9:5: step-without-backward {SWB}\n"
        "\n"
        "Fixed 2 findings:\n"
        "- eval.py:\n    1 × uncalled-method\n"
        "- train.py:\n    1 × missing-zero-grad\n"
        "\n"
        "Found 3 findings (2 fixed, 1 remaining).\n"
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n"
    )
    assert "model.eval()" in (project / "eval.py").read_text()
    write(project, {"eval.py": UNCALLED})
    quiet = autofix(project, "fix", "--no-show-fixes", "--output-format", "concise", "eval.py")
    assert quiet.returncode == 0 and quiet.stdout == "Found 1 finding (1 fixed, 0 remaining).\n"


def test_check_fix_and_check_diff_are_the_commands(project):
    diff = autofix(project, "diff", "train.py")
    alias = autofix(project, "check", "--diff", "train.py")
    assert (alias.returncode, alias.stdout, alias.stderr) == (diff.returncode, diff.stdout, diff.stderr)
    assert diff.stderr == "Would fix 1 finding.\n"
    run = autofix(project, "check", "--fix", "train.py")
    assert run.returncode == 0 and "Found 1 finding (1 fixed, 0 remaining)." in run.stdout
    assert "opt.zero_grad()" in (project / "train.py").read_text()


def test_quiet_verbose_and_version(project):
    quiet = autofix(project, "check", "-q", "--output-format", "concise", "train.py", "nothing-here.py")
    assert quiet.returncode == 2 and "no such file" in quiet.stderr  # errors still show
    quiet = autofix(project, "-q", "check", "--output-format", "concise", "train.py")
    assert quiet.stdout == f"train.py:9:5: missing-zero-grad [*] {MZG}\n" and quiet.stderr == ""
    verbose = autofix(project, "check", "-v", "train.py", "eval.py")
    assert f"autofix: no configuration file: 2 files, {len(registry.available())} rules" in verbose.stderr
    assert "autofix: analysed 2 files in " in verbose.stderr
    for flag in ("-V", "--version"):
        assert autofix(project, flag).stdout == "autofix 0.1.0\n"


def test_exit_zero_and_exit_non_zero_on_fix(project):
    assert autofix(project, "check", "--exit-zero").returncode == 0
    assert autofix(project, "diff", "--exit-zero").returncode == 0
    (project / "broken.py").write_text("x = (\n")
    assert autofix(project, "check", "--exit-zero").returncode == 2  # errors are never hidden
    (project / "broken.py").unlink()
    run = autofix(project, "fix", "--exit-non-zero-on-fix", "eval.py")
    assert run.returncode == 1 and "1 fixed, 0 remaining" in run.stdout
    assert autofix(project, "fix", "--exit-non-zero-on-fix", "eval.py").returncode == 0  # nothing left
    both = autofix(project, "check", "--exit-zero", "--exit-non-zero-on-fix")
    assert both.returncode == 2 and "contradict" in both.stderr


def _in_pty(cwd, *args, env=None) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env or {})
    child = pexpect.spawn(AUTOFIX, list(args), cwd=str(cwd), env=environment, encoding="utf-8", timeout=30)
    output = child.read()
    child.close()
    return output


ESCAPE = "\x1b["


def test_colour_on_a_terminal_and_the_environment(project):
    diff = _in_pty(project, "diff", "train.py")
    assert f"{ESCAPE}32m+    opt.zero_grad()" in diff and f"{ESCAPE}1m--- a/train.py" in diff
    assert ESCAPE in _in_pty(project, "check", "train.py")
    assert ESCAPE not in _in_pty(project, "diff", "train.py", env={"NO_COLOR": "1"})
    assert ESCAPE not in _in_pty(project, "diff", "--color", "never", "train.py")
    assert ESCAPE not in _in_pty(project, "diff", "train.py", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert ESCAPE in _in_pty(project, "diff", "train.py", env={"NO_COLOR": ""})  # empty means unset
    # piped: plain, unless forced
    assert ESCAPE not in autofix(project, "diff", "train.py").stdout
    assert ESCAPE in autofix(project, "diff", "train.py", env={"FORCE_COLOR": "1"}).stdout
    assert ESCAPE in autofix(project, "--color", "always", "check", "train.py").stdout
