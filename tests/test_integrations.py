"""The GitHub Action (action.yml) and the pre-commit hooks (.pre-commit-hooks.yaml): their real
scripts and entries, run the way the runner and pre-commit run them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_cli import BUGGY, CLEAN, git, make_repo
from test_pr import world  # noqa: F401  (the bare remote and the local GitHub)

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
AUTOFIX = shutil.which("autofix", path=os.path.dirname(sys.executable))


def expand(text: str, inputs: dict, token: str) -> str:
    """The two kinds of expression action.yml uses: ${{ inputs.NAME }} and ${{ github.token }}."""
    text = text.replace("${{ github.token }}", token)
    return re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: inputs[m.group(1)], text)


def run_step(step: dict, cwd: Path, runner_temp: Path, inputs: dict, token: str = "ghs_runner", **runner_env):
    given = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()} | inputs
    given = {name: expand(str(value), {}, token) for name, value in given.items()}
    env = {**os.environ, "RUNNER_TEMP": str(runner_temp), "GITHUB_ACTION_PATH": str(ROOT), **runner_env}
    env.update({name: expand(value, given, token) for name, value in step.get("env", {}).items()})
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd, env=env, capture_output=True, text=True,
    )


@pytest.fixture
def runner_temp(tmp_path):
    """$RUNNER_TEMP after the action's install step (its pip install is replaced by this venv's
    autofix: the suite runs offline)."""
    install, _ = ACTION["runs"]["steps"]
    assert '-m pip install --quiet "$GITHUB_ACTION_PATH"' in install["run"]
    temp = tmp_path / "runner"
    (temp / "autofix" / "bin").mkdir(parents=True)
    (temp / "autofix" / "bin" / "autofix").symlink_to(AUTOFIX)
    return temp


def test_action_is_a_composite_with_documented_inputs():
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"command", "paths", "args", "token", "python"}
    assert all(spec.get("description") for spec in ACTION["inputs"].values())
    assert all(step["shell"] == "bash" for step in ACTION["runs"]["steps"])


def test_action_check_annotates_findings(tmp_path, runner_temp):
    repo = make_repo(tmp_path / "repo", {"train.py": BUGGY, "ok.py": CLEAN})
    _, step = ACTION["runs"]["steps"]
    result = run_step(step, repo, runner_temp, {"args": "--exclude vendor/*"})
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("::error title=autofix (missing-zero-grad),file=train.py,line=9,")


def test_action_pr_sets_a_bot_identity_and_opens_the_pull_request(world, runner_temp):
    git(world.bot, "config", "--unset", "user.name")
    git(world.bot, "config", "--unset", "user.email")
    no_global = world.tmp / "empty.gitconfig"
    no_global.write_text("")
    _, step = ACTION["runs"]["steps"]
    result = run_step(
        step, world.bot, runner_temp, {"command": "pr", "args": "--repo octo/train --label autofix"},
        token=world.github.token, GITHUB_API_URL=world.github.api_url,
        GIT_CONFIG_GLOBAL=str(no_global), GIT_CONFIG_NOSYSTEM="1",  # a fresh runner has no identity
    )
    assert result.returncode == 0, result.stderr
    assert "Opened pull request #1" in result.stdout
    assert world.github.open_pulls()[0].labels == ["autofix"]
    author = git(world.remote, "log", "-1", "--format=%an <%ae>", "autofix/all").strip()
    assert author == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def test_action_refuses_an_unknown_command(tmp_path, runner_temp):
    _, step = ACTION["runs"]["steps"]
    result = run_step(step, tmp_path, runner_temp, {"command": "deploy"})
    assert result.returncode == 2
    assert "::error title=autofix::command must be check or pr, not 'deploy'" in result.stdout


def test_pre_commit_hooks_run_on_the_staged_files(tmp_path):
    hooks = {hook["id"]: hook for hook in HOOKS}
    assert set(hooks) == {"autofix-check", "autofix"}
    assert all(hook["language"] == "python" and hook["types"] == ["python"] for hook in HOOKS)
    repo = make_repo(tmp_path / "repo", {"train.py": BUGGY, "ok.py": CLEAN})

    def run(hook):  # pre-commit appends the staged file names to the entry
        entry = hook["entry"].split()
        return subprocess.run([AUTOFIX, *entry[1:], "train.py", "ok.py"], cwd=repo, capture_output=True, text=True)

    checked = run(hooks["autofix-check"])
    assert checked.returncode == 1 and "train.py:9:5: missing-zero-grad" in checked.stdout
    fixed = run(hooks["autofix"])
    assert fixed.returncode == 0, fixed.stdout
    assert "opt.zero_grad()" in (repo / "train.py").read_text()
    assert git(repo, "status", "--porcelain") == " M train.py\n"  # pre-commit fails on this
