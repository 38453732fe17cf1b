"""`autofix patch` against real git repositories in temporary folders."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from test_cli import BUGGY, CLEAN, git, make_repo

UNCALLED = "import torch\n\nmodel = torch.nn.Linear(2, 2)\nmodel.eval\n"


def autofix(cwd, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "autofix", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


def snapshot(repo):
    """Everything of the user's that patch must leave alone: files, index, HEAD, refs, stash."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(repo):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if "/.git/" in path + "/" and not path.endswith(("/.git/index", "/.git/HEAD")):
                continue
            digest.update(path.encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return (
        digest.hexdigest(),
        git(repo, "status", "--porcelain"),
        git(repo, "stash", "list"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "worktree", "list"),
    )


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo", {"train.py": BUGGY, "eval.py": UNCALLED, "lib/ok.py": CLEAN})


def test_branch_with_one_commit_per_rule(repo):
    run = autofix(repo, "patch")
    assert run.returncode == 0, run.stderr
    assert "Created branch autofix/all" in run.stdout
    subjects = git(repo, "log", "--format=%s", "master..autofix/all").splitlines()
    assert subjects == ["autofix: uncalled-method (1 fix)", "autofix: missing-zero-grad (1 fix)"]
    body = git(repo, "log", "-1", "--format=%b", "autofix/all~1")
    assert "`backward()` adds to `.grad`" in body and "- train.py:9" in body
    assert git(repo, "log", "-1", "--format=%an <%ae>", "autofix/all") == "Dev <dev@example.com>\n"
    assert "opt.zero_grad()" in git(repo, "show", "autofix/all:train.py")
    assert "model.eval()" in git(repo, "show", "autofix/all:eval.py")


def test_mbox_applies_with_git_am_on_the_base(repo, tmp_path):
    out = tmp_path / "fixes.patch"
    run = autofix(repo, "patch", "--select", "missing-zero-grad", "-o", str(out))
    assert run.returncode == 0, run.stderr
    branch_tree = git(repo, "rev-parse", "autofix/missing-zero-grad^{tree}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "config", "user.email", "dev@example.com")
    git(clone, "config", "user.name", "Dev")
    git(clone, "am", "-q", str(out))
    assert git(clone, "rev-parse", "HEAD^{tree}") == branch_tree


def test_dirty_working_tree_index_and_stash_are_untouched(repo):
    (repo / "train.py").write_text(BUGGY + "# stashed edit\n")
    git(repo, "stash", "-q")
    (repo / "eval.py").write_text(UNCALLED + "# staged edit\n")
    git(repo, "add", "eval.py")
    (repo / "train.py").write_text(BUGGY + "# unstaged edit\n")
    (repo / "new.py").write_text(BUGGY)
    before = snapshot(repo)
    run = autofix(repo, "patch", "--branch", "fixes")
    assert run.returncode == 0, run.stderr
    assert snapshot(repo) == before
    # the branch is built from the base commit, not from the dirty files
    assert "# unstaged edit" not in git(repo, "show", "fixes:train.py")


def test_nothing_to_fix_creates_nothing(tmp_path):
    repo = make_repo(tmp_path / "clean", {"ok.py": CLEAN})
    run = autofix(repo, "patch")
    assert run.returncode == 0 and "Nothing to fix" in run.stdout
    assert git(repo, "branch", "--list", "autofix/*") == ""


def _unborn(repo):
    git(repo, "checkout", "-q", "--orphan", "fresh")


@pytest.mark.parametrize(
    "prepare, args, message",
    [
        (None, ["--base", "no-such-rev"], "does not resolve"),
        (_unborn, [], "unborn"),
        (lambda r: git(r, "branch", "autofix/all"), [], "already exists"),
        (None, ["--branch", "bad..name"], "not a valid branch name"),
    ],
)
def test_refusals_exit_2_and_create_nothing(repo, prepare, args, message):
    if prepare:
        prepare(repo)
    branches = git(repo, "branch", "--list")
    run = autofix(repo, "patch", *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert git(repo, "branch", "--list") == branches
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_force_replaces_an_existing_branch(repo):
    git(repo, "branch", "autofix/all")
    run = autofix(repo, "patch", "--force")
    assert run.returncode == 0, run.stderr
    assert git(repo, "log", "-1", "--format=%s", "autofix/all").startswith("autofix: ")


def test_outside_a_repository(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    run = autofix(tmp_path, "patch")
    assert run.returncode == 2 and "not a git repository" in run.stderr


def test_no_identity_is_a_clear_error(repo, tmp_path):
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp_path), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    run = autofix(repo, "patch", env=env)
    assert run.returncode == 2 and "git config user.name" in run.stderr
    assert git(repo, "branch", "--list", "autofix/*") == ""
