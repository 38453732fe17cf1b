"""GitHub's REST API (also GitHub Enterprise Server, through GITHUB_API_URL), over httpx.

The token travels in the Authorization header only: never in a URL, never in a message. Every
failure becomes a one-line ForgeError saying what to do about it."""

from __future__ import annotations

import datetime
import time
from typing import Iterator, Sequence
from urllib.parse import urlsplit

import httpx

from autofix import __version__
from autofix.forge import Forge, ForgeError, PullRequest, PullRequestExists
from autofix.redact import one_line, redact

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 30.0
PAGE_SIZE = 100
ALREADY_EXISTS = "A pull request already exists"


class GitHub(Forge):
    def __init__(
        self,
        repository: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._client = httpx.Client(
            base_url=self.api_url + "/",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"autofix/{__version__}",
            },
            timeout=TIMEOUT_SECONDS,
        )

    def __repr__(self) -> str:
        return f"GitHub({self.repository!r}, api_url={self.api_url!r})"

    # -- the Forge operations ------------------------------------------------------------------

    def check_access(self) -> None:
        self._call("GET", self._repo_path(), "read the repository", expect=200)

    def find_open_pull(self, head: str, base: str) -> PullRequest | None:
        params = {"state": "open", "head": f"{self.owner}:{head}", "per_page": PAGE_SIZE}
        for item in self._pages(self._repo_path("pulls"), params, "list pull requests"):
            if item["head"]["ref"] == head and item["base"]["ref"] == base:
                return _pull(item)
        return None

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        response = self._send("POST", self._repo_path("pulls"), json=payload)
        if response.status_code == 422 and ALREADY_EXISTS in _details(response):
            raise PullRequestExists(f"a pull request from {head} into {base} is already open")
        return _pull(self._check(response, "open the pull request", 201).json())

    def update_pull(self, number: int, title: str, body: str) -> PullRequest:
        path = self._repo_path(f"pulls/{number}")
        payload = {"title": title, "body": body}
        return _pull(self._call("PATCH", path, f"update pull request #{number}", json=payload).json())

    def comment(self, number: int, body: str) -> None:
        path = self._repo_path(f"issues/{number}/comments")
        self._call("POST", path, f"comment on pull request #{number}", json={"body": body}, expect=201)

    def close_pull(self, number: int) -> None:
        path = self._repo_path(f"pulls/{number}")
        self._call("PATCH", path, f"close pull request #{number}", json={"state": "closed"})

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        path = self._repo_path(f"issues/{number}/labels")
        self._call("POST", path, f"label pull request #{number}", json={"labels": list(labels)})

    # -- HTTP ----------------------------------------------------------------------------------

    def _repo_path(self, tail: str = "") -> str:
        return f"repos/{self.repository}" + (f"/{tail}" if tail else "")

    def _call(self, method: str, path: str, action: str, expect: int = 200, **kwargs) -> httpx.Response:
        return self._check(self._send(method, path, **kwargs), action, expect)

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise ForgeError(
                f"the GitHub API at {self.api_url} did not answer within {TIMEOUT_SECONDS:.0f} s"
            ) from None
        except httpx.HTTPError as error:
            reason = redact(one_line(str(error)) or type(error).__name__, [self._token])
            raise ForgeError(f"cannot reach the GitHub API at {self.api_url}: {reason}") from None

    def _pages(self, path: str, params: dict, action: str) -> Iterator[dict]:
        """Every item of a paginated list, following the Link header's rel="next"."""
        response = self._call("GET", path, action, params=params)
        while True:
            yield from response.json()
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            if _origin(next_url) != _origin(self.api_url):  # the token goes to the API host only
                raise ForgeError(f"GitHub's next page points outside {self.api_url}: not followed")
            response = self._call("GET", next_url, action)

    def _check(self, response: httpx.Response, action: str, expect: int) -> httpx.Response:
        if response.status_code == expect:
            return response
        raise ForgeError(redact(self._explain(response, action), [self._token]))

    def _explain(self, response: httpx.Response, action: str) -> str:
        status = response.status_code
        message = _message(response)
        if status in (403, 429) and _rate_limited(response):
            return _rate_limit_message(response)
        if status == 401:
            return (
                f"GitHub rejected GITHUB_TOKEN while trying to {action} (401 {message}): "
                "the token is wrong, expired or revoked"
            )
        if status == 403:
            return (
                f"GitHub refused to {action} (403 {message}): the token needs the "
                "contents: write and pull-requests: write permissions on "
                f"{self.repository}"
            )
        if status == 404:
            return (
                f"repository {self.repository} not found at {self.api_url} (404): check --repo "
                "or the remote URL; a private repository the token cannot see also answers 404"
            )
        if status == 422:
            return f"GitHub refused to {action} (422 {message}: {_details(response)})"
        return f"GitHub answered {status} when trying to {action}: {message}"


def _pull(item: dict) -> PullRequest:
    return PullRequest(
        number=item["number"],
        url=item["html_url"],
        title=item["title"],
        body=item.get("body") or "",
        head=item["head"]["ref"],
        base=item["base"]["ref"],
        labels=tuple(label["name"] for label in item.get("labels", [])),
    )


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message(response: httpx.Response) -> str:
    return one_line(str(_json(response).get("message") or response.reason_phrase))


def _details(response: httpx.Response) -> str:
    """The `errors` of a 422 Validation Failed, as GitHub words them."""
    parts = []
    for error in _json(response).get("errors", []):
        if isinstance(error, str):
            parts.append(error)
        elif isinstance(error, dict):
            parts.append(
                error.get("message")
                or " ".join(str(error[k]) for k in ("resource", "field", "code") if error.get(k))
            )
    return one_line("; ".join(parts)) or "no details"


def _rate_limited(response: httpx.Response) -> bool:
    return response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers


def _rate_limit_message(response: httpx.Response) -> str:
    retry_after = response.headers.get("retry-after")
    if retry_after and retry_after.isdigit():
        return f"GitHub's secondary rate limit was hit: retry after {retry_after} s"
    reset = response.headers.get("x-ratelimit-reset", "")
    limit = response.headers.get("x-ratelimit-limit")
    quota = f" ({limit} requests per hour)" if limit else ""
    if not reset.isdigit():
        return f"GitHub API rate limit exceeded{quota}"
    when = datetime.datetime.fromtimestamp(int(reset), datetime.timezone.utc)
    minutes = max(0, round((int(reset) - time.time()) / 60))
    return (
        f"GitHub API rate limit exceeded{quota}: it resets at "
        f"{when:%Y-%m-%d %H:%M:%S} UTC (in {minutes} min)"
    )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
