"""Where pull requests live. `Forge` is what the bot needs from a code host — find the open pull
request of a branch, open one, edit its title and body, comment, close, label — so that GitHub
(`autofix.forge.github`) is one implementation and Gitea/Forgejo or GitLab can follow."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Sequence


class ForgeError(Exception):
    """The forge refused or could not be reached; the message is one line, free of secrets."""


class PullRequestExists(ForgeError):
    """Another run opened the pull request for this branch first."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    title: str
    body: str
    head: str
    base: str
    labels: tuple[str, ...] = ()


class Forge(abc.ABC):
    """The handful of operations `autofix pr` performs on one repository."""

    @abc.abstractmethod
    def check_access(self) -> None:
        """Fail early (bad token, unknown repository) before anything is pushed."""

    @abc.abstractmethod
    def find_open_pull(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from branch `head` into `base`, if there is one."""

    @abc.abstractmethod
    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        """Open a pull request; raises PullRequestExists when one is already open."""

    @abc.abstractmethod
    def update_pull(self, number: int, title: str, body: str) -> PullRequest:
        """Replace the title and body of pull request `number`."""

    @abc.abstractmethod
    def comment(self, number: int, body: str) -> None:
        """Add a comment to pull request `number`."""

    @abc.abstractmethod
    def close_pull(self, number: int) -> None:
        """Close pull request `number` without merging it."""

    @abc.abstractmethod
    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add `labels` to pull request `number` (labels it already has stay)."""


_SLUG = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_URL = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://(?:[^@/]*@)?[^/]+/|[^@:/]+@[^:/]+:)"  # scheme://[user@]host/ or user@host:
    r"(?P<slug>[^/]+/[^/]+?)(?:\.git)?/?$"
)


def repository_from_url(url: str) -> str | None:
    """`owner/name` of a remote URL (https, ssh, git@host:owner/name, with or without `.git`);
    None when the URL does not name one (a local path, a deeper path)."""
    match = _URL.match(url.strip())
    if not match or not _SLUG.fullmatch(match.group("slug")):
        return None
    return match.group("slug")


def valid_repository(slug: str) -> bool:
    return bool(_SLUG.fullmatch(slug))
