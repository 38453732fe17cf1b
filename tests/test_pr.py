"""`autofix pr` for real: a bare git repository on disk is the remote, a local GitHub (tests/
github_server.py) speaks the REST API as GitHub's published description says, keeps its pull
requests between runs, and checks every request and response against that description."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import git as gitpython
import pytest
from click.testing import CliRunner

from autofix.cli import main
from autofix.forge import repository_from_url
from autofix.pr import BotError, _push
from autofix.pr_body import END, START
from autofix.remote_branch import read_state
from github_server import FakeGitHub
from test_cli import BUGGY, CLEAN, git

UNCALLED = "import torch\n\nmodel = torch.nn.Linear(2, 2)\nmodel.eval\n"
FIXED_BUGGY = BUGGY.replace("    loss.backward()", "    opt.zero_grad()\n    loss.backward()")
FIXED_UNCALLED = UNCALLED.replace("model.eval\n", "model.eval()\n")
BOT = "autofix/all"


@dataclass
class World:
    tmp: Path
    remote: Path
    dev: Path
    bot: Path
    github: FakeGitHub

    def env(self, **overrides) -> dict:
        env = {**os.environ, "GITHUB_TOKEN": self.github.token, "GITHUB_API_URL": self.github.api_url}
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, *args, cwd=None, **env):
        """The bot as CI runs it: a process of its own."""
        return subprocess.run(
            [sys.executable, "-m", "autofix", "pr", "--repo", "octo/train", *args],
            cwd=cwd or self.bot, capture_output=True, text=True, env=self.env(**env),
        )

    def invoke(self, *args, repo=("--repo", "octo/train"), **env):
        """The bot in this process (faster), failing the test on any unexpected exception."""
        previous = os.getcwd()
        os.chdir(self.bot)
        try:
            return CliRunner().invoke(
                main, ["pr", *repo, *args], env=self.env(**env), catch_exceptions=False
            )
        finally:
            os.chdir(previous)

    def push_to_main(self, files: dict[str, str], message: str) -> None:
        for name, text in files.items():
            (self.dev / name).write_text(text)
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "-qm", message)
        git(self.dev, "push", "-q", "origin", "main")

    def branch(self, name: str = BOT) -> str | None:
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"],
            cwd=self.remote, capture_output=True, text=True,
        )
        return found.stdout.strip() or None


def clone(remote: Path, where: Path, name: str, email: str) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", name)
    git(where, "config", "user.email", email)
    return where


@pytest.fixture
def world(tmp_path):
    remote = tmp_path / "train.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    dev = clone(remote, tmp_path / "dev", "Dev", "dev@example.com")
    (dev / "train.py").write_text(BUGGY)
    (dev / "lib.py").write_text(CLEAN)
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "initial")
    git(dev, "push", "-q", "origin", "main")
    bot = clone(remote, tmp_path / "bot", "autofix-bot", "bot@example.com")
    with FakeGitHub(remote) as github:
        yield World(tmp_path, remote, dev, bot, github)
        assert github.violations == [], "\n".join(github.violations)


def subjects(world: World, rev: str) -> list[str]:
    return git(world.remote, "log", "--format=%s", f"main..{rev}").splitlines()


def test_four_runs_open_then_change_nothing_then_update_then_close(world):
    github = world.github
    first = world.run("--label", "autofix")
    assert first.returncode == 0, first.stderr
    assert "Opened pull request #1: http://127.0.0.1:" in first.stdout
    [pull] = github.open_pulls()
    assert (pull.head, pull.base, pull.labels, pull.draft) == (BOT, "main", ["autofix"], False)
    assert pull.title == "autofix: missing-zero-grad (1 fix)"
    assert pull.body.startswith(START) and pull.body.endswith(END)
    assert "| `missing-zero-grad` | `train.py:9` | `opt.zero_grad()` is never called" in pull.body
    assert "| safe |" in pull.body and "autofix diff" in pull.body
    assert subjects(world, BOT) == ["autofix: missing-zero-grad (1 fix)"]
    assert "opt.zero_grad()" in git(world.remote, "show", f"{BOT}:train.py")

    github.edit_body_in_browser(1, "Reviewer note: checked on a GPU box.\n\n" + pull.body + "\n\n— Ana")
    pushed = world.branch()
    served = len(github.served)
    second = world.run("--label", "autofix")
    assert second.returncode == 0, second.stderr
    assert "nothing to push" in second.stdout and "Pull request #1 is up to date" in second.stdout
    assert [s for s in github.served[served:] if s.method != "GET"] == []
    assert world.branch() == pushed

    world.push_to_main({"eval.py": UNCALLED}, "add evaluation")
    third = world.run("--label", "autofix")
    assert third.returncode == 0, third.stderr
    assert "Pushed autofix/all to origin: 2 commits" in third.stdout
    assert "Updated pull request #1" in third.stdout
    assert world.branch() != pushed
    assert subjects(world, BOT) == ["autofix: uncalled-method (1 fix)", "autofix: missing-zero-grad (1 fix)"]
    assert git(world.remote, "merge-base", "main", BOT) == git(world.remote, "rev-parse", "main")
    [pull] = github.open_pulls()
    assert pull.number == 1 and len(github.pulls) == 1
    assert pull.title == "autofix: 2 fixes for 2 rules"
    assert pull.body.startswith("Reviewer note: checked on a GPU box.\r\n\r\n")
    assert pull.body.endswith("\r\n\r\n— Ana")
    assert "`eval.py:4`" in pull.body and "`train.py:9`" in pull.body

    world.push_to_main({"train.py": FIXED_BUGGY, "eval.py": FIXED_UNCALLED}, "fix by hand")
    fourth = world.run("--label", "autofix")
    assert fourth.returncode == 0, fourth.stderr
    assert "Nothing left to fix: closed pull request #1" in fourth.stdout
    assert github.open_pulls() == [] and github.pulls[1].state == "closed"
    [comment] = github.pulls[1].comments
    assert "nothing left to fix on `main`" in comment["body"]

    served = len(github.served)
    fifth = world.run()
    assert fifth.returncode == 0 and "Nothing to fix." in fifth.stdout
    assert [s for s in github.served[served:] if s.method != "GET"] == []


def test_dry_run_prints_the_plan_and_touches_nothing_remote(world):
    result = world.invoke("--dry-run", GITHUB_TOKEN=None)
    assert result.exit_code == 0, result.output
    assert "Would push autofix/all to origin: 1 commit on main" in result.output
    assert "autofix: missing-zero-grad (1 fix)" in result.output
    assert "Title: autofix: missing-zero-grad (1 fix)" in result.output
    assert START in result.output and "| `missing-zero-grad` | `train.py:9` |" in result.output
    assert world.github.served == [] and world.branch() is None


def test_a_human_commit_on_the_branch_stops_the_bot(world):
    assert world.invoke().exit_code == 0
    human = clone(world.remote, world.tmp / "human", "Ana", "ana@example.com")
    git(human, "checkout", "-q", BOT)
    (human / "train.py").write_text(FIXED_BUGGY + "# reviewed\n")
    git(human, "commit", "-qam", "Keep the comment")
    git(human, "push", "-q", "origin", BOT)
    theirs, body = world.branch(), world.github.pulls[1].body
    world.push_to_main({"eval.py": UNCALLED}, "add evaluation")
    served = len(world.github.served)
    result = world.invoke()
    assert result.exit_code == 2
    assert "has a commit autofix did not make" in result.stderr and "'Keep the comment'" in result.stderr
    assert world.branch() == theirs and world.github.pulls[1].body == body
    assert [s for s in world.github.served[served:] if s.method != "GET"] == []


def test_a_pull_request_opened_by_a_racing_run_is_found_and_updated(world):
    """Between this run's lookup and its create, another run opens the pull request: GitHub
    answers 422 "A pull request already exists", and the bot updates that one."""
    github = world.github
    github.after["pulls/list"] = lambda: github.open_pull_as_another_run(BOT, "main", "autofix: racing", "")
    result = world.invoke()
    assert result.exit_code == 0, result.output
    assert "Updated pull request #1" in result.output
    [pull] = github.open_pulls()
    assert START in pull.body and "`train.py:9`" in pull.body
    creates = [s for s in github.served if (s.method, s.path.endswith("/pulls")) == ("POST", True)]
    assert [s.status for s in creates] == [422]


def test_two_concurrent_runs_leave_one_pull_request(world):
    other = clone(world.remote, world.tmp / "bot2", "autofix-bot", "bot@example.com")
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "autofix", "pr", "--repo", "octo/train"], cwd=cwd,
            env=world.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for cwd in (world.bot, other)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(world.github.open_pulls()) == 1 and len(world.github.pulls) == 1
    assert subjects(world, BOT) == ["autofix: missing-zero-grad (1 fix)"]


def test_the_open_pull_request_is_found_on_a_later_page(world):
    """Link: rel="next" is followed: one page per pull request, the bot's on the second."""
    assert world.invoke().exit_code == 0
    git(world.dev, "push", "-q", "origin", "main:release")
    world.github.open_pull_as_another_run(BOT, "release", "cherry-pick the fixes", "")
    world.github.page_size = 1
    served = len(world.github.served)
    result = world.invoke()
    assert result.exit_code == 0, result.output
    assert "Pull request #1 is up to date" in result.output
    pages = [s.query.get("page", ["1"]) for s in world.github.served[served:] if s.path.endswith("/pulls")]
    assert pages == [["1"], ["2"]]
    assert len(world.github.pulls) == 2


def test_draft_and_labels_are_set_once(world):
    result = world.invoke("--draft", "--label", "bug", "--label", "autofix")
    assert result.exit_code == 0, result.output
    [pull] = world.github.open_pulls()
    assert pull.draft and pull.labels == ["bug", "autofix"]
    served = len(world.github.served)
    assert world.invoke("--draft", "--label", "bug", "--label", "autofix").exit_code == 0
    assert [s for s in world.github.served[served:] if s.method != "GET"] == []


def test_a_title_somebody_rewrote_is_kept(world):
    assert world.invoke().exit_code == 0
    world.github.pulls[1].title = "Fix the optimizer loop"
    world.push_to_main({"eval.py": UNCALLED}, "add evaluation")
    assert world.invoke().exit_code == 0
    assert world.github.pulls[1].title == "Fix the optimizer loop"
    assert "`eval.py:4`" in world.github.pulls[1].body


def test_the_repository_comes_from_the_remote_url(world):
    """origin reads https://github.com/octo/train.git, which git rewrites to the bare repository."""
    git(world.bot, "remote", "set-url", "origin", "https://github.com/octo/train.git")
    git(world.bot, "config", f"url.{world.remote}.insteadOf", "https://github.com/octo/train.git")
    result = world.invoke(repo=())
    assert result.exit_code == 0, result.output
    assert "Opened pull request #1" in result.output and world.branch() is not None


@pytest.mark.parametrize(
    "url, slug",
    [
        ("https://github.com/octo/train.git", "octo/train"),
        ("https://github.com/octo/train", "octo/train"),
        ("https://x-access-token:ghs_abc@github.com/octo/train.git", "octo/train"),
        ("git@github.com:octo/train.git", "octo/train"),
        ("ssh://git@ghe.example.com:2222/octo/train.git", "octo/train"),
        ("https://ghe.example.com/octo/train.js/", "octo/train.js"),
        ("/srv/git/train.git", None),
        ("https://gitlab.example.com/group/sub/train.git", None),
    ],
)
def test_repository_from_url(url, slug):
    assert repository_from_url(url) == slug


def _closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _reject_pushes(world, message):
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    hook.chmod(0o755)


ERRORS = {
    "missing token": (None, (), {"GITHUB_TOKEN": None}, "GITHUB_TOKEN is not set"),
    "401": (None, (), {"GITHUB_TOKEN": "ghp_wrongwrongwrongwrong"},
            "GitHub rejected GITHUB_TOKEN while trying to read the repository (401 Bad credentials)"),
    "403": (lambda w: setattr(w.github, "can_write", False), (), {},
            "GitHub refused to open the pull request (403 Resource not accessible by integration): the token needs"),
    "404": (None, ("--repo", "octo/nope"), {}, "repository octo/nope not found at http://127.0.0.1:"),
    "422": (lambda w: setattr(w.github, "drafts_supported", False), ("--draft",), {},
            "GitHub refused to open the pull request (422 Validation Failed: "
            "Draft pull requests are not supported in this repository.)"),
    "secondary rate limit": (lambda w: setattr(w.github, "retry_after", 60), (), {},
                             "GitHub's secondary rate limit was hit: retry after 60 s"),
    "network": (None, (), {"GITHUB_API_URL": f"http://127.0.0.1:{_closed_port()}"},
                "cannot reach the GitHub API at http://127.0.0.1:"),
    "push rejected": (lambda w: _reject_pushes(w, f"denied: {w.github.token} may not push autofix/*"), (), {},
                      "push of autofix/all to origin was rejected: [remote rejected] "
                      "(pre-receive hook declined): denied: *** may not push autofix/*"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_one_line_exit_2_and_never_show_the_token(world, case):
    prepare, args, env, expected = ERRORS[case]
    if prepare:
        prepare(world)
    result = world.run(*args, **env)  # a later --repo wins over the default one
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("autofix pr: error: ") and expected in line, line
    for secret in (world.github.token, "ghp_wrongwrongwrongwrong"):
        assert secret not in result.stdout + result.stderr
    if case in ("missing token", "401", "404", "network"):
        assert world.branch() is None  # nothing is pushed before the API is known to answer


def test_rate_limit_reports_the_reset_time(world):
    world.github.rate_used = world.github.rate_limit
    world.github.rate_reset = int(time.time()) + 3600
    result = world.invoke()
    assert result.exit_code == 2
    reset = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(world.github.rate_reset))
    assert f"GitHub API rate limit exceeded (5000 requests per hour): it resets at {reset} UTC (in 60 min)" in result.stderr


def test_unreachable_remote_and_unknown_repository_are_errors(world):
    git(world.bot, "remote", "set-url", "origin", str(world.tmp / "gone.git"))
    result = world.invoke()
    assert result.exit_code == 2 and "cannot read remote 'origin'" in result.stderr
    result = world.invoke(repo=())
    assert result.exit_code == 2
    assert "cannot tell the GitHub repository from the URL of remote 'origin'" in result.stderr
    assert "pass --repo OWNER/NAME" in result.stderr


def test_a_push_racing_another_push_never_overwrites_it(world):
    """The lease: what was inspected is what may be replaced. A bot commit pushed meanwhile is
    looked at again (here: the same fixes, so nothing is pushed); a person's stops the bot."""
    repo = gitpython.Repo(world.bot)
    stale = read_state(repo, "origin", None, BOT)
    assert stale.branch_sha is None
    assert subprocess.run([sys.executable, "-m", "autofix", "patch"], cwd=world.bot).returncode == 0
    tip = git(world.bot, "rev-parse", BOT).strip()
    other = clone(world.remote, world.tmp / "bot2", "another-runner", "runner@example.com")
    assert subprocess.run([sys.executable, "-m", "autofix", "patch"], cwd=other).returncode == 0
    git(other, "push", "-q", "origin", BOT)
    assert world.branch() != tip
    said = []
    _push(repo, stale, tip, 1, lambda message, err=False: said.append(message))
    assert said == ["autofix/all on origin already holds these fixes: nothing to push."]

    inspected = read_state(repo, "origin", None, BOT)  # the other run's commit
    human = clone(world.remote, world.tmp / "human", "Ana", "ana@example.com")
    git(human, "checkout", "-q", BOT)
    git(human, "commit", "-q", "--allow-empty", "-m", "Ana's note")
    git(human, "push", "-q", "origin", BOT)
    theirs = world.branch()
    world.push_to_main({"eval.py": UNCALLED}, "add evaluation")
    git(world.bot, "pull", "-q", "--ff-only")
    assert subprocess.run([sys.executable, "-m", "autofix", "patch", "--force"], cwd=world.bot).returncode == 0
    new_tip = git(world.bot, "rev-parse", BOT).strip()
    with pytest.raises(BotError, match="has a commit autofix did not make .*Ana's note"):
        _push(repo, inspected, new_tip, 2, said.append)
    assert world.branch() == theirs


def test_a_rule_scope_has_its_own_branch_and_reproduce_command(world):
    result = world.invoke("--select", "missing-zero-grad")
    assert result.exit_code == 0, result.output
    [pull] = world.github.open_pulls()
    assert pull.head == "autofix/missing-zero-grad" and world.branch("autofix/missing-zero-grad")
    assert "autofix diff --select missing-zero-grad" in pull.body


def test_a_local_branch_with_somebody_elses_commit_is_not_replaced(world):
    git(world.bot, "branch", BOT)  # the base commit: not one autofix made
    result = world.invoke()
    assert result.exit_code == 2
    assert "local branch autofix/all ends with a commit autofix did not make ('initial')" in result.stderr
    assert world.branch() is None and world.github.mutations() == []


def test_files_that_cannot_be_read_are_listed_and_never_close_the_pull_request(world):
    world.push_to_main({"broken.py": "def broken(:\n"}, "work in progress")
    result = world.invoke()
    assert result.exit_code == 2
    assert "broken.py: error: cannot parse" in result.stderr and "Opened pull request #1" in result.stdout
    assert "Not analysed:" in world.github.pulls[1].body and "`broken.py`" in world.github.pulls[1].body
    world.push_to_main({"train.py": FIXED_BUGGY}, "fix by hand")
    result = world.invoke()
    assert result.exit_code == 2 and "no pull request is closed" in result.stdout
    assert [p.number for p in world.github.open_pulls()] == [1]
