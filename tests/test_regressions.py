"""Behaviours that were wrong (issue 13, "Wrong today"), each run through the installed command
on real files: they must stay fixed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from clirun import BUGGY, CLEAN, UNCALLED, autofix, write
from test_cli import git, make_repo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "args, config",
    [
        (["--ignore", "ALL"], None),
        ([], '[tool.autofix]\nignore = ["ALL"]\n'),
        (["--select", "missing-zero-grad,uncalled-method", "--ignore", "uncalled-method", "--ignore", "missing-zero-grad"], None),
    ],
    ids=["cli-ignore-all", "config-ignore-all", "select-x-ignore-x"],
)
def test_an_empty_selection_checks_nothing(tmp_path, args, config):
    write(tmp_path, {"train.py": BUGGY, "eval.py": UNCALLED})
    if config:
        (tmp_path / "pyproject.toml").write_text(config)
    for command in ("check", "diff", "fix") if not config else ("check", "fix"):
        run = autofix(tmp_path, command, *args)
        assert run.returncode == 0, (command, run.stdout, run.stderr)
        assert "no rules selected" in run.stderr and "nothing is checked" in run.stderr
        assert "missing-zero-grad" not in run.stdout and "---" not in run.stdout
    assert (tmp_path / "train.py").read_text() == BUGGY  # fix --ignore ALL rewrote nothing
    assert (tmp_path / "eval.py").read_text() == UNCALLED


def test_a_rule_named_outranks_ignore_all_as_in_ruff(tmp_path):
    write(tmp_path, {"train.py": BUGGY, "eval.py": UNCALLED})
    run = autofix(tmp_path, "check", "--output-format", "concise", "--select", "uncalled-method", "--ignore", "ALL")
    assert run.returncode == 1
    assert [line.split()[1] for line in run.stdout.splitlines()[:-2]] == ["uncalled-method"]


def test_python_m_autofix_runs_in_a_folder_holding_its_own_codemods_package(tmp_path):
    write(tmp_path, {"codemods/__init__.py": "raise ImportError('the user project codemods')\n", "train.py": BUGGY})
    run = autofix(tmp_path, "check", command=(sys.executable, "-m", "autofix"))
    assert run.returncode == 1, run.stderr
    assert "missing-zero-grad" in run.stdout
    # nothing generic is installed: outside the repository there is no top-level `codemods`
    probe = subprocess.run(
        [sys.executable, "-c", "import codemods"], cwd=tmp_path.parent, capture_output=True, text=True
    )
    assert "No module named 'codemods'" in probe.stderr


def test_the_wheel_installs_the_rules_under_the_autofix_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("autofix-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"autofix"}
    assert "autofix/codemods/missing_zero_grad.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pytorch = autofix.codemods:BUILTIN_RULES" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_diff_of_a_file_outside_the_current_directory_applies_with_git_apply(tmp_path):
    project, scratch = tmp_path / "project", tmp_path / "scratch"
    write(project, {"train.py": BUGGY})
    write(scratch, {"train.py": BUGGY})
    for path in (str(scratch / "train.py"), "../scratch/train.py"):
        run = autofix(project, "diff", path, "train.py")
        assert run.returncode == 1, run.stderr
        assert "--- a/../scratch/train.py\n+++ b/../scratch/train.py\n" in run.stdout
        assert "a//" not in run.stdout
        (tmp_path / "fix.patch").write_text(run.stdout)
        check = subprocess.run(
            ["git", "apply", "--check", "--unsafe-paths", "../fix.patch"], cwd=project, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", "--unsafe-paths", "../fix.patch"], cwd=project, check=True)
    assert "opt.zero_grad()" in (scratch / "train.py").read_text()
    assert "opt.zero_grad()" in (project / "train.py").read_text()


def test_patch_with_nothing_to_fix_exits_0_even_when_the_branch_exists(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": BUGGY})
    assert autofix(repo, "patch").returncode == 0
    git(repo, "merge", "-q", "autofix/all")
    run = autofix(repo, "patch")
    assert run.returncode == 0, run.stderr
    assert "Nothing to fix" in run.stdout and "already exists" not in run.stderr


def test_patch_from_a_detached_head(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": CLEAN})
    (repo / "eval.py").write_text(UNCALLED)
    git(repo, "add", "eval.py")
    git(repo, "commit", "-qm", "eval")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    run = autofix(repo, "patch", "--base", "master", "--branch", "from-master")
    assert run.returncode == 0, run.stderr
    assert "model.eval()" in git(repo, "show", "from-master:eval.py")
    assert git(repo, "rev-parse", "from-master~1") == git(repo, "rev-parse", "master")
    run = autofix(repo, "patch")  # the detached HEAD itself is a fine base: nothing to fix there
    assert run.returncode == 0 and "Nothing to fix" in run.stdout
    assert git(repo, "status", "--porcelain") == ""


def _broken_pack(folder: Path, body: str) -> dict:
    """A rule pack installed as pip installs one (a dist-info on the path), with a bug."""
    (folder / "brokenpack.py").write_text(textwrap.dedent(body))
    info = folder / "brokenpack-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpack\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[autofix.codemods]\nbroken = brokenpack:RULES\n")
    return {"PYTHONPATH": str(folder)}


def test_an_internal_error_exits_2_never_1(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    env = _broken_pack(
        pack,
        """\
        from autofix.rule import Rule

        class Crashes(Rule):
            name = "crashes"
            docs = "## What it does\\nCrashes."  # no `summary`: listing the rules fails

            def check(self, ctx):
                raise RuntimeError("bug in the rule")

        RULES = [Crashes]
        """,
    )
    (tmp_path / "train.py").write_text(BUGGY)
    run = autofix(tmp_path, "rules", env=env)
    assert run.returncode == 2
    assert "Traceback" in run.stderr
    assert run.stderr.splitlines()[-1].startswith("autofix: error: internal error (a bug in autofix")
    for command in ("check", "diff", "fix"):
        run = autofix(tmp_path, command, env=env)
        assert run.returncode == 2, (command, run.stderr)
        assert "train.py: error: internal error: RuntimeError: bug in the rule" in run.stderr
    assert (tmp_path / "train.py").read_text() == BUGGY
