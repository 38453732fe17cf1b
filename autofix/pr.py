"""`autofix pr`: the branch `autofix patch` builds, pushed to the remote, and a pull request
opened, updated or closed for it — safe to run on every push or on a schedule.

Idempotent by construction: one branch per scope (`autofix/<rule-or-all>`), pushed only when its
content changes and only while autofix made its last commit; the open pull request of that
branch is found and updated (never duplicated, even when two runs race); the bot's text sits
between markers; when nothing is left to fix the pull request is closed with a comment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

import git

from autofix import pr_body, registry
from autofix.forge import Forge, ForgeError, PullRequest, PullRequestExists, repository_from_url, valid_repository
from autofix.forge.github import DEFAULT_API_URL, GitHub
from autofix.patch import PatchError, PatchResult, create_patch, default_branch, open_repository, subject
from autofix.redact import redact
from autofix.report import plural
from autofix.remote_branch import (
    RemoteError, RemoteState, StaleLease, ownership, push, read_state, same_content,
)

if TYPE_CHECKING:
    from autofix.settings import Settings

EXIT_OK, EXIT_ERROR = 0, 2
PUSH_ATTEMPTS = 3
Echo = Callable[..., None]


class BotError(Exception):
    """The bot stops here; the message says why and what to do."""


@dataclass(frozen=True)
class BotRequest:
    paths: tuple[str, ...]
    settings: "Settings"
    base: str | None = None
    remote: str = "origin"
    repository: str | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    dry_run: bool = False


def run(request: BotRequest, echo: Echo, environ: Mapping[str, str] = os.environ) -> int:
    """Run the bot; every message goes through `echo` with the token masked. Returns the exit
    status: 0 done, 2 stopped on an error (the error is one line on stderr)."""
    secrets = [environ.get("GITHUB_TOKEN")]

    def safe_echo(message: str = "", err: bool = False) -> None:
        echo(redact(message, secrets), err=err)

    try:
        return _run(request, safe_echo, environ)
    except (BotError, ForgeError, PatchError, RemoteError) as error:
        safe_echo(f"autofix pr: error: {error}", err=True)
        return EXIT_ERROR


def _run(request: BotRequest, echo: Echo, environ: Mapping[str, str]) -> int:
    repo = open_repository(".")
    slug = _repository(repo, request)
    forge = None if request.dry_run else _connect(slug, environ)
    options = request.settings.options
    branch = default_branch(registry.choose([options.rule_choice()]), options.select is not None)
    _check_local_branch(repo, branch)
    state = read_state(repo, request.remote, request.base, branch)
    _check_remote_branch(repo, state)
    result = create_patch(
        list(request.paths), request.settings, base=state.base_sha, branch=branch, force=True,
        report_base=True,
    )
    for path, message in result.errors:
        echo(f"{path}: error: {message}", err=True)
    status = EXIT_ERROR if result.errors else EXIT_OK
    scope = pr_body.Scope(request.paths, options)
    if result.branch is None:
        if result.errors:
            echo("Nothing to fix in the files read; some could not be read, so no pull request is closed.")
            return status
        _nothing_to_fix(forge, state, result, scope, echo)
        return status
    title = pr_body.title(result.commits)
    section = pr_body.section(result.commits, result.findings, result.errors, scope)
    tip = result.commits[-1].sha
    if request.dry_run:
        _print_plan(repo, state, result, title, section, echo)
        return status
    _push(repo, state, tip, len(result.commits), echo)
    _open_or_update(forge, state, title, section, request, echo)
    return status


def _repository(repo: git.Repo, request: BotRequest) -> str:
    if request.repository:
        if not valid_repository(request.repository):
            raise BotError(f"--repo must read OWNER/NAME, not {request.repository!r}")
        return request.repository
    try:
        url = repo.remote(request.remote).url
    except ValueError:
        raise BotError(f"no git remote named {request.remote!r} (see `git remote -v`)") from None
    slug = repository_from_url(url)
    if slug is None:
        raise BotError(
            f"cannot tell the GitHub repository from the URL of remote {request.remote!r} "
            f"({url}): pass --repo OWNER/NAME"
        )
    return slug


def _connect(slug: str, environ: Mapping[str, str]) -> Forge:
    token = environ.get("GITHUB_TOKEN")
    if not token:
        raise BotError(
            "GITHUB_TOKEN is not set: export a token that may push and open pull requests "
            "(contents: write, pull-requests: write), or use --dry-run"
        )
    forge = GitHub(slug, token, environ.get("GITHUB_API_URL") or DEFAULT_API_URL)
    forge.check_access()
    return forge


def _check_local_branch(repo: git.Repo, branch: str) -> None:
    if branch in repo.heads:
        owner = ownership(repo, repo.heads[branch].commit.hexsha)
        if not owner.owned:
            raise BotError(
                f"local branch {branch} ends with a commit autofix did not make "
                f"({owner.tip_subject!r}): rename or delete it, and autofix pr rebuilds it"
            )


def _check_remote_branch(repo: git.Repo, state: RemoteState) -> None:
    if state.branch_sha is None:
        return
    owner = ownership(repo, state.branch_sha)
    if not owner.owned:
        raise BotError(
            f"{state.branch} on {state.remote} has a commit autofix did not make "
            f"({state.branch_sha[:10]} {owner.tip_subject!r}): not overwriting it; merge or "
            "close its pull request, or delete the branch, and autofix starts afresh"
        )


def _push(repo: git.Repo, state: RemoteState, tip: str, commits: int, echo: Echo) -> None:
    for _ in range(PUSH_ATTEMPTS):
        if same_content(repo, state, tip):
            echo(f"{state.branch} on {state.remote} already holds these fixes: nothing to push.")
            return
        try:
            push(repo, state, tip)
        except StaleLease:  # another run (or a person) pushed meanwhile: look again
            state = read_state(repo, state.remote, state.base, state.branch)
            _check_remote_branch(repo, state)
            continue
        echo(
            f"Pushed {state.branch} to {state.remote}: {plural(commits, 'commit')} "
            f"on {state.base} at {state.base_sha[:10]}."
        )
        return
    raise BotError(f"{state.branch} kept moving on {state.remote}: gave up after {PUSH_ATTEMPTS} tries")


def _open_or_update(
    forge: Forge, state: RemoteState, title: str, section: str, request: BotRequest, echo: Echo
) -> None:
    pull = forge.find_open_pull(state.branch, state.base)
    if pull is None:
        try:
            pull = forge.create_pull(state.branch, state.base, title, section, request.draft)
        except PullRequestExists:  # a run racing this one opened it first
            pull = forge.find_open_pull(state.branch, state.base)
            if pull is None:
                raise BotError(
                    f"GitHub says a pull request from {state.branch} is open but does not list it"
                ) from None
        else:
            _label(forge, pull, request.labels)
            echo(f"Opened pull request #{pull.number}: {pull.url}")
            return
    _label(forge, pull, request.labels)
    body = pr_body.merge(pull.body, section)
    new_title = pr_body.keep_title(pull.title, title)
    if (new_title, body) == (pull.title, pull.body):
        echo(f"Pull request #{pull.number} is up to date: {pull.url}")
        return
    forge.update_pull(pull.number, new_title, body)
    echo(f"Updated pull request #{pull.number}: {pull.url}")


def _label(forge: Forge, pull: PullRequest, labels: tuple[str, ...]) -> None:
    missing = [label for label in labels if label not in pull.labels]
    if missing:
        forge.add_labels(pull.number, missing)


def _nothing_to_fix(
    forge: Forge | None, state: RemoteState, result: PatchResult, scope: pr_body.Scope, echo: Echo
) -> None:
    if forge is None:
        echo(f"Nothing to fix: an open pull request from {state.branch}, if any, would be closed.")
        return
    pull = forge.find_open_pull(state.branch, state.base)
    if pull is None:
        echo("Nothing to fix.")
        return
    forge.comment(pull.number, pr_body.closing_comment(state.base, result.findings, scope))
    forge.close_pull(pull.number)
    echo(f"Nothing left to fix: closed pull request #{pull.number}: {pull.url}")


def _print_plan(
    repo: git.Repo, state: RemoteState, result: PatchResult, title: str, section: str, echo: Echo
) -> None:
    tip = result.commits[-1].sha
    if same_content(repo, state, tip):
        echo(f"{state.branch} on {state.remote} already holds these fixes: nothing would be pushed.")
    else:
        echo(
            f"Would push {state.branch} to {state.remote}: {plural(len(result.commits), 'commit')}"
            f" on {state.base} at {state.base_sha[:10]}:"
        )
        for commit in result.commits:
            echo(f"  {commit.sha[:10]} {subject(commit.rule, len(commit.findings))}")
    echo(f"Would open (or update, if one is open) the pull request {state.branch} -> {state.base}:")
    echo(f"Title: {title}")
    echo("Body:")
    echo(section)
