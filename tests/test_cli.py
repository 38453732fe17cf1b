"""The command line as users run it: real files in temporary folders, real git repositories."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from autofix import registry
from autofix.cli import main

BUGGY = textwrap.dedent(
    """\
    import torch
    from torch import nn

    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        loss = model(torch.randn(4, 2)).pow(2).mean()
        loss.backward()
        opt.step()
    """
)
CLEAN = "import torch\n\nprint(torch.zeros(2))\n"
JSON_KEYS = {"version", "files_scanned", "findings", "errors"}
FINDING_KEYS = {
    "rule", "path", "line", "column", "end_line", "end_column", "message", "fixable", "safety",
}


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path, files):
    path.mkdir(exist_ok=True)
    git(path, "init", "-q", "-b", "master")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


def invoke(cwd, *args):
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(previous)


def test_check_json_is_the_designed_object(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": BUGGY, "pkg/clean.py": CLEAN})
    result = invoke(repo, "check", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert set(report) == JSON_KEYS
    assert report["version"] == "0.1.0"
    assert report["files_scanned"] == 2
    assert report["errors"] == []
    [finding] = report["findings"]
    assert set(finding) == FINDING_KEYS
    assert finding["rule"] == "missing-zero-grad"
    assert (finding["path"], finding["line"], finding["column"]) == ("train.py", 9, 5)
    assert (finding["end_line"], finding["end_column"]) == (9, 15)
    assert "`opt.zero_grad()`" in finding["message"] and "line 6" in finding["message"]
    assert finding["fixable"] is True and finding["safety"] == "safe"


def test_check_text_exit_codes(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN)
    result = invoke(tmp_path, "check", "clean.py")
    assert result.exit_code == 0
    assert "All checks passed" in result.output
    (tmp_path / "train.py").write_text(BUGGY)
    result = invoke(tmp_path, "check")
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("train.py:9:5: missing-zero-grad [*] `opt.zero_grad()`")
    assert result.output.splitlines()[1:5] == ["  |", "9 |     opt.step()", "  |     ^^^^^^^^^^", "  |"]
    assert result.output.endswith("Found 1 finding.\n[*] 1 fixable with `autofix fix`.\n")


def test_diff_applies_with_git_apply_then_fix_leaves_nothing(tmp_path):
    files = {f"src/train_{i}.py": BUGGY for i in range(3)}
    files["src/helpers.py"] = CLEAN
    repo = make_repo(tmp_path / "repo", files)
    result = invoke(repo, "diff")
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/src/train_0.py\n+++ b/src/train_0.py\n")
    patch = tmp_path / "fix.patch"
    patch.write_text(result.stdout)
    git(repo, "apply", "--check", str(patch))
    git(repo, "apply", str(patch))
    assert invoke(repo, "check").exit_code == 0
    git(repo, "checkout", "--", ".")
    fixed = invoke(repo, "fix")
    assert fixed.exit_code == 0, fixed.output
    assert "Found 3 findings (3 fixed, 0 remaining)." in fixed.output
    assert "- src/train_0.py:\n    1 × missing-zero-grad\n" in fixed.output
    assert invoke(repo, "check").exit_code == 0
    assert invoke(repo, "diff").stdout == ""


def test_unparsable_file_among_good_ones(tmp_path):
    (tmp_path / "good.py").write_text(BUGGY)
    (tmp_path / "broken.py").write_text("def broken(:\n    pass\n")
    result = invoke(tmp_path, "fix")
    assert result.exit_code == 2
    assert "broken.py: error: cannot parse" in result.stderr
    assert "opt.zero_grad()" in (tmp_path / "good.py").read_text()
    assert (tmp_path / "broken.py").read_text() == "def broken(:\n    pass\n"
    report = json.loads(invoke(tmp_path, "check", "--format", "json").stdout)
    assert [e["path"] for e in report["errors"]] == ["broken.py"]
    assert report["errors"][0]["message"].startswith("cannot parse")
    assert report["files_scanned"] == 2


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("latin.py", b"x = '\xe9'\n", "not valid utf-8"),
        ("binary.py", b"\x00\x01\x02", "binary file"),
        ("badcoding.py", b"# -*- coding: klingon -*-\nx = 1\n", "unknown encoding"),
    ],
)
def test_bad_input_is_reported_and_skipped(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "train.py").write_text(BUGGY)
    result = invoke(tmp_path, "fix")
    assert result.exit_code == 2
    assert f"{name}: error:" in result.stderr and reason in result.stderr
    assert (tmp_path / name).read_bytes() == content
    assert "opt.zero_grad()" in (tmp_path / "train.py").read_text()


def test_broken_symlink_is_reported(tmp_path):
    os.symlink(tmp_path / "missing.py", tmp_path / "link.py")
    result = invoke(tmp_path, "check", "--format", "json")
    assert result.exit_code == 2
    [error] = json.loads(result.stdout)["errors"]
    assert error["path"] == "link.py" and "broken symbolic link" in error["message"]


def test_fifo_is_reported_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    result = invoke(tmp_path, "check", "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == [{"path": "pipe.py", "message": "not a regular file"}]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_reported(tmp_path):
    target = tmp_path / "secret.py"
    target.write_text(BUGGY)
    target.chmod(0)
    result = invoke(tmp_path, "check", "--format", "json")
    assert result.exit_code == 2
    assert "cannot read" in json.loads(result.stdout)["errors"][0]["message"]


def test_fix_keeps_mode_bom_line_endings_and_encoding(tmp_path):
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b"\xef\xbb\xbf" + BUGGY.replace("\n", "\r\n").encode())
    crlf.chmod(0o754)
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BUGGY.encode())
    assert invoke(tmp_path, "fix").exit_code == 0
    data = crlf.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"opt.zero_grad()\r\n" in data and data.count(b"\n") == data.count(b"\r\n")
    assert stat.S_IMODE(crlf.stat().st_mode) == 0o754
    assert latin.read_bytes().startswith(b"# -*- coding: latin-1 -*-\n# caf\xe9\n")
    assert b"opt.zero_grad()" in latin.read_bytes()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".autofix-")]


def test_suppression_comments(tmp_path):
    source = BUGGY.replace("    opt.step()", "    opt.step()  # autofix: ignore[missing-zero-grad]")
    (tmp_path / "a.py").write_text(source)
    assert invoke(tmp_path, "check").exit_code == 0
    (tmp_path / "a.py").write_text(BUGGY.replace("    opt.step()", "    opt.step()  # autofix: ignore"))
    assert invoke(tmp_path, "check").exit_code == 0
    (tmp_path / "a.py").write_text(BUGGY.replace("    opt.step()", "    opt.step()  # autofix: ignore[uncalled-method]"))
    assert invoke(tmp_path, "check").exit_code == 1
    assert invoke(tmp_path, "fix").exit_code == 0


def test_config_in_pyproject(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "other.py").write_text(BUGGY)
    (tmp_path / "pyproject.toml").write_text('[tool.autofix]\nignore = ["missing-zero-grad"]\n')
    assert invoke(tmp_path, "check").exit_code == 0
    (tmp_path / "pyproject.toml").write_text('[tool.autofix]\nexclude = ["vendor"]\n')
    report = json.loads(invoke(tmp_path, "check", "--format", "json").stdout)
    assert [f["path"] for f in report["findings"]] == ["train.py"]
    assert invoke(tmp_path, "check", "--select", "uncalled-method").exit_code == 0
    (tmp_path / "pyproject.toml").write_text('[tool.autofix]\nselekt = ["x"]\n')
    result = invoke(tmp_path, "check")
    assert result.exit_code == 2 and "unknown option(s) in [tool.autofix]: selekt" in result.output


def test_unknown_rule_and_missing_path_are_usage_errors(tmp_path):
    result = invoke(tmp_path, "check", "--select", "no-such-rule")
    assert result.exit_code == 2 and "unknown rule 'no-such-rule'" in result.output
    result = invoke(tmp_path, "check", "nowhere.py")
    assert result.exit_code == 2 and "no such file or directory" in result.output
    result = invoke(tmp_path, "explain", "no-such-rule")
    assert result.exit_code == 2


def test_git_ignored_files_are_skipped(tmp_path):
    repo = make_repo(tmp_path / "repo", {".gitignore": "generated/\n", "train.py": CLEAN})
    (repo / "generated").mkdir()
    (repo / "generated" / "out.py").write_text(BUGGY)
    (repo / "untracked.py").write_text(BUGGY)
    report = json.loads(invoke(repo, "check", "--format", "json").stdout)
    assert report["files_scanned"] == 2
    assert {f["path"] for f in report["findings"]} == {"untracked.py"}


def test_a_run_that_finds_no_files_says_so(tmp_path):
    repo = make_repo(tmp_path / "repo", {".gitignore": "scripts/\n", "README.md": "x\n"})
    (repo / "scripts").mkdir()
    (repo / "scripts" / "train.py").write_text(BUGGY)
    result = invoke(repo, "check", "scripts")
    assert result.exit_code == 0
    assert "no Python files found" in result.stderr


def test_rules_and_explain():
    result = CliRunner().invoke(main, ["rules"])
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == list(registry.available())
    assert names[:4] == [
        "missing-zero-grad", "zero-grad-after-backward", "step-without-backward", "uncalled-method",
    ]
    for name in names:
        docs = CliRunner().invoke(main, ["explain", name]).output
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
            assert heading in docs, (name, heading)


ERROR_TEXTS = {
    "detach-breaks-graph": "element 0 of tensors does not require grad and does not have a grad_fn",
    "no-grad-breaks-graph": "element 0 of tensors does not require grad and does not have a",
    "inplace-on-saved-tensor": "a leaf Variable that requires grad is being used in an",
    "tensor-not-parameter": "optimizer got an empty parameter list",
    "module-list-not-registered": "optimizer got an empty parameter list",
    "hidden-state-not-detached": "Trying to backward through the graph a second time",
    "scheduler-before-optimizer": "Detected call of `lr_scheduler.step()` before `optimizer.step()`",
    "scaler-step-without-update": "step() has already been called since the last update().",
    "retain-graph-in-loop": "one of the variables needed for gradient computation has been modified",
    "softmax-without-dim": "Implicit dimension choice for softmax has been deprecated",
    "checkpoint-reentrant-no-grad": "None of the inputs have requires_grad=True",
    "bce-activation-mismatch": "all elements of input should be between 0 and 1",
}


@pytest.mark.parametrize("rule, text", sorted(ERROR_TEXTS.items()))
def test_explain_quotes_the_pytorch_error_it_prevents(rule, text):
    docs = " ".join(CliRunner().invoke(main, ["explain", rule]).output.split())
    assert text in docs


def test_parallel_run_is_ordered_and_deterministic(tmp_path):
    for i in range(12):
        (tmp_path / f"m{i:02d}.py").write_text(BUGGY if i % 2 else CLEAN)
    outputs = set()
    for seed in ("0", "1", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = subprocess.run(
            [sys.executable, "-m", "autofix", "check", "--format", "json"],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )
        assert run.returncode == 1, run.stderr
        outputs.add(run.stdout)
    [output] = outputs
    paths = [f["path"] for f in json.loads(output)["findings"]]
    assert paths == sorted(paths) and len(paths) == 6


def test_real_subprocess_exit_codes(tmp_path):
    (tmp_path / "broken.py").write_text("x = (\n")
    run = subprocess.run(
        [sys.executable, "-m", "autofix", "check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 2 and "broken.py: error: cannot parse" in run.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "autofix", "--help"], capture_output=True, text=True
    ).stdout
    assert "Exit status" in help_text and "autofix diff" in help_text
