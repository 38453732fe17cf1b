"""`autofix patch`: the fixes committed on a new branch, one commit per rule, built in a temporary
git worktree so that the user's working tree, index, stash and HEAD are never touched."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import git

from autofix import registry
from autofix.report import plural
from autofix.rule import Finding
from autofix.runner import Job, run_each

if TYPE_CHECKING:
    from autofix.settings import Settings

MARKER = "autofix"
_SUBJECT = re.compile(rf"{MARKER}: \S+ \(\d+ fix(?:es)?\)")


class PatchError(Exception):
    """Refusal: nothing was created; the message says why."""


@dataclass
class RuleCommit:
    rule: str
    sha: str
    findings: list[str]


@dataclass
class PatchResult:
    branch: str | None
    base: str
    commits: list[RuleCommit] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # at the base, when asked for


def default_branch(rules: Sequence[str], selected: bool) -> str:
    """`autofix/all`, or `autofix/<rule>+<rule>` when `--select` chose the rules."""
    return f"{MARKER}/{'+'.join(rules) if selected else 'all'}"


def open_repository(start: str) -> git.Repo:
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise PatchError(f"not a git repository: {os.path.abspath(start)}") from None
    if repo.bare:
        raise PatchError("the repository is bare: run autofix patch in a checkout")
    return repo


def identity(repo: git.Repo) -> tuple[str, str]:
    reader = repo.config_reader()
    name = os.environ.get("GIT_AUTHOR_NAME") or reader.get_value("user", "name", "")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or reader.get_value("user", "email", "")
    if not name or not email:
        raise PatchError(
            "no git identity for the commits: set it with "
            "`git config user.name NAME` and `git config user.email EMAIL`"
        )
    return str(name), str(email)


def create_patch(
    paths: Sequence[str],
    settings: "Settings",
    *,
    base: str = "HEAD",
    branch: str | None = None,
    force: bool = False,
    start: str = ".",
    report_base: bool = False,
) -> PatchResult:
    """Fix `paths` as of `base` in a temporary worktree, one commit per rule, on `branch`.
    Each file gets the rules of the configuration governing it in that tree. HEAD may be
    detached: only `base` matters. With `report_base`, the result also lists every finding at
    the base (fixable or not), with the base's line numbers."""
    repo = open_repository(start)
    if base == "HEAD" and not repo.head.is_valid():
        raise PatchError("HEAD has no commit yet (unborn branch): commit something first, or give --base")
    try:
        base_commit = repo.commit(base)
    except (git.BadName, ValueError, git.GitCommandError):
        raise PatchError(f"base {base!r} does not resolve to a commit") from None
    name, email = identity(repo)
    root = repo.working_tree_dir
    relative = [os.path.relpath(os.path.abspath(p), root) for p in (paths or [start])]
    if any(r == os.pardir or r.startswith(os.pardir + os.sep) for r in relative):
        raise PatchError("every path must be inside the repository")
    result = PatchResult(branch=None, base=base_commit.hexsha)
    worktree = tempfile.mkdtemp(prefix="autofix-worktree-")
    repo.git.worktree("add", "--detach", worktree, base_commit.hexsha)
    try:
        tree = git.Repo(worktree)
        env = {
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
        }
        previous = os.getcwd()
        os.chdir(worktree)
        try:
            plan = {path: settings.for_file(path) for path in settings.files(relative)}
            rules = [r for r in registry.available() if any(r in s.rules for s in plan.values())]
            branch = branch or default_branch(rules, settings.options.select is not None)
            _check_branch(repo, branch, force)
            if report_base:
                lint = [(p, Job(s.rules, False, s.unsafe_fixes)) for p, s in plan.items()]
                result.findings = [f for r in run_each(lint) for f in r.findings]
            for rule in rules:
                work = [(p, Job((rule,), True, s.unsafe_fixes)) for p, s in plan.items() if rule in s.rules]
                reports = list(run_each(work))
                result.errors = [(r.path, r.error) for r in reports if r.error]
                changed = [r for r in reports if r.changed]
                if not changed:
                    continue
                for report in changed:
                    with open(report.path, "wb") as out:
                        out.write(report.new_source)
                tree.git.add("--", *[r.path for r in changed])
                findings = [f.place for r in changed for f in r.fixed]
                tree.git.commit(
                    "--no-verify", "-q", "-m", _message(rule, findings), env=env
                )
                result.commits.append(RuleCommit(rule, tree.head.commit.hexsha, findings))
        finally:
            os.chdir(previous)
        if result.commits:
            if branch in repo.heads and not force:
                raise PatchError(f"branch {branch!r} already exists (use --force to replace it)")
            repo.create_head(branch, result.commits[-1].sha, force=force)
            result.branch = branch
    finally:
        repo.git.worktree("remove", "--force", worktree)
        shutil.rmtree(worktree, ignore_errors=True)
        repo.git.worktree("prune")
    return result


def _check_branch(repo: git.Repo, branch: str, force: bool) -> None:
    """Refusals that do not depend on whether there is anything to fix."""
    if not _valid_branch_name(repo, branch):
        raise PatchError(f"{branch!r} is not a valid branch name")
    if not repo.head.is_detached and repo.head.is_valid() and repo.active_branch.name == branch:
        raise PatchError(f"branch {branch!r} is checked out: it cannot be replaced")


def _valid_branch_name(repo: git.Repo, branch: str) -> bool:
    try:
        repo.git.check_ref_format("--branch", branch)
    except git.GitCommandError:
        return False
    return True


def subject(rule: str, count: int) -> str:
    return f"{MARKER}: {rule} ({plural(count, 'fix')})"


def is_autofix_subject(line: str) -> bool:
    """Whether a commit subject is one `subject` writes."""
    return bool(_SUBJECT.fullmatch(line))


def _message(rule: str, findings: Sequence[str]) -> str:
    why = textwrap.fill(registry.get(rule).why(), width=72)
    lines = [subject(rule, len(findings)), "", why, ""]
    lines += [f"- {location}" for location in findings]
    return "\n".join(lines) + "\n"


def format_patch(start: str, base: str, branch: str) -> str:
    """The branch as a `git format-patch` series (mbox) that `git am` applies on the base."""
    repo = open_repository(start)
    return repo.git.format_patch("--stdout", f"{base}..{branch}") + "\n"
