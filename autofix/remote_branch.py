"""The bot's branch on the remote: what it holds now, whether autofix still owns it, and pushing a
new version of it without ever overwriting somebody else's commit.

Ownership: the branch is the bot's while its last commit is one `autofix patch` made (subject
`autofix: <rule> (N fixes)`). Pushes carry a lease on the commit that was inspected, so a commit
pushed between the inspection and the push is never lost: the push is rejected instead."""

from __future__ import annotations

import os
from dataclasses import dataclass

import git

from autofix.patch import is_autofix_subject
from autofix.redact import one_line

QUIET_GIT = {"GIT_TERMINAL_PROMPT": "0"}  # never wait for a password in CI
# How a push that lost a race is refused: the lease failed, or the ref moved while it was updated.
LOST_RACE = ("stale info", "fetch first", "failed to update ref", "cannot lock ref")


class RemoteError(Exception):
    """The remote cannot be read or refused the push; the message is one line."""


class PushRejected(RemoteError):
    """The remote refused the push."""


class StaleLease(PushRejected):
    """The branch moved on the remote since it was inspected (another push won a race)."""


@dataclass(frozen=True)
class RemoteState:
    remote: str
    base: str  # branch name
    base_sha: str
    branch: str
    branch_sha: str | None  # None: the branch does not exist on the remote


@dataclass(frozen=True)
class Ownership:
    owned: bool
    tip_subject: str
    started_from: str | None  # the commit the bot's commits sit on


def _git(repo: git.Repo, *args: str) -> str:
    status, out, err = repo.git.execute(
        ["git", *args], with_extended_output=True, with_exceptions=False,
        env={**os.environ, **QUIET_GIT},
    )
    if status != 0:
        raise RemoteError(one_line(err or out) or f"git {args[0]} failed")
    return out


def read_state(repo: git.Repo, remote: str, base: str | None, branch: str) -> RemoteState:
    """Ask the remote for its default branch (when `base` is None) and the tips of `base` and
    `branch`, and fetch them, so their commits can be inspected locally."""
    if remote not in [r.name for r in repo.remotes]:
        raise RemoteError(f"no git remote named {remote!r} (see `git remote -v`)")
    try:
        listing = _git(repo, "ls-remote", "--symref", remote, "HEAD", "refs/heads/*")
    except RemoteError as error:
        raise RemoteError(f"cannot read remote {remote!r}: {error}") from None
    heads, default = {}, None
    for line in listing.splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: ") and ref == "HEAD":
            default = left[len("ref: "):].removeprefix("refs/heads/")
        elif ref.startswith("refs/heads/"):
            heads[ref.removeprefix("refs/heads/")] = left
    base = base or default
    if base is None:
        raise RemoteError(f"remote {remote!r} has no default branch: pass --base")
    if base not in heads:
        raise RemoteError(f"branch {base!r} does not exist on remote {remote!r}")
    names = [base] + ([branch] if branch in heads else [])
    tracking = {n: f"refs/remotes/{remote}/{n}" for n in names}
    try:
        _git(repo, "fetch", "--quiet", "--no-tags", remote, *[f"+refs/heads/{n}:{t}" for n, t in tracking.items()])
    except RemoteError as error:
        raise RemoteError(f"cannot fetch from remote {remote!r}: {error}") from None
    fetched = {n: repo.commit(t).hexsha for n, t in tracking.items()}
    return RemoteState(remote, base, fetched[base], branch, fetched.get(branch))


def ownership(repo: git.Repo, tip: str) -> Ownership:
    """Whether autofix made the last commit of `tip`, and what its run of commits sits on."""
    commit = repo.commit(tip)
    subject = str(commit.summary)
    if not is_autofix_subject(subject):
        return Ownership(False, subject, None)
    while is_autofix_subject(str(commit.summary)) and commit.parents:
        commit = commit.parents[0]
    return Ownership(True, subject, commit.hexsha)


def same_content(repo: git.Repo, state: RemoteState, new_tip: str) -> bool:
    """The remote branch already holds these fixes on this base: pushing would change nothing
    but commit dates."""
    if state.branch_sha is None:
        return False
    owner = ownership(repo, state.branch_sha)
    return (
        owner.started_from == state.base_sha
        and repo.commit(state.branch_sha).tree.hexsha == repo.commit(new_tip).tree.hexsha
    )


def push(repo: git.Repo, state: RemoteState, new_tip: str) -> None:
    """Force-push `new_tip` to the branch, leased on the commit that was inspected (or on the
    branch not existing)."""
    ref = f"refs/heads/{state.branch}"
    lease = f"--force-with-lease={ref}:{state.branch_sha or ''}"
    status, out, err = repo.git.execute(
        ["git", "push", "--porcelain", "--no-verify", lease, state.remote, f"{new_tip}:{ref}"],
        with_extended_output=True, with_exceptions=False, env={**os.environ, **QUIET_GIT},
    )
    if status == 0:
        return
    rejected = [line for line in out.splitlines() if line.startswith("!")]
    if any(sign in line for line in rejected + err.splitlines() for sign in LOST_RACE):
        raise StaleLease(f"{state.branch} moved on {state.remote} while autofix was pushing it")
    reason = rejected[0].split("\t")[-1] if rejected else one_line(err) or "no reason given"
    said = [line[len("remote:"):].strip() for line in err.splitlines() if line.startswith("remote:")]
    detail = "; ".join(line for line in said if line)
    raise PushRejected(
        f"push of {state.branch} to {state.remote} was rejected: {reason}"
        + (f": {detail}" if detail else "")
    )
