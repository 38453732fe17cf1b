"""A local GitHub for the bot's tests: a real HTTP server on 127.0.0.1 (in a thread) serving the
endpoints `autofix pr` uses, with GitHub's status codes, headers (pagination `Link`, rate-limit
`x-ratelimit-*`, `Location`) and error bodies, and state that lasts across runs.

Its objects are built from the examples in GitHub's published OpenAPI description
(tests/data/github-rest-pulls.openapi.json) and every request the bot sends and every response
served is validated against that description; violations are collected in `violations`, which
the tests' fixture asserts to be empty. Pull requests are checked against the real bare git
repository behind the remote, as GitHub does (the branches must exist, with commits between).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from openapi_schema_validator import OAS30Validator

DATA = Path(__file__).parent / "data"
SPEC = json.loads((DATA / "github-rest-pulls.openapi.json").read_text())
API_PREFIX = "/api/v3"  # mounted like GitHub Enterprise Server: GITHUB_API_URL with a path
DOCS = "https://docs.github.com/rest"
MAX_PAGE = 100  # GitHub's cap on per_page


def _json_schema(operation: dict, status: str) -> dict | None:
    content = operation["responses"].get(status, {}).get("content", {})
    return content.get("application/json", {}).get("schema")


def _example(path: str, method: str, status: str) -> dict | list:
    content = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]
    [example] = content["examples"].values()
    return copy.deepcopy(example["value"])


def _add_labels_operation() -> dict:
    """`POST /repos/{owner}/{repo}/issues/{issue_number}/labels` (issues/add-labels) is not in the
    subset: its parameters are those of issues/create-comment, its response items the subset's
    label object, and its request body (`{"labels": [names]}`) is transcribed from GitHub's
    documentation of "Add labels to an issue"."""
    comment = SPEC["paths"]["/repos/{owner}/{repo}/issues/{issue_number}/comments"]["post"]
    pull = SPEC["paths"]["/repos/{owner}/{repo}/pulls/{pull_number}"]["get"]
    label = _json_schema(pull, "200")["properties"]["labels"]["items"]
    return {
        "operationId": "issues/add-labels",
        "parameters": comment["parameters"],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"labels": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
            }}},
        },
        "responses": {
            "200": {"content": {"application/json": {"schema": {"type": "array", "items": label}}}},
            "404": comment["responses"]["404"],
            "422": comment["responses"]["422"],
        },
    }


OPERATIONS = {
    ("GET", "/repos/{owner}/{repo}"): SPEC["paths"]["/repos/{owner}/{repo}"]["get"],
    ("GET", "/repos/{owner}/{repo}/pulls"): SPEC["paths"]["/repos/{owner}/{repo}/pulls"]["get"],
    ("POST", "/repos/{owner}/{repo}/pulls"): SPEC["paths"]["/repos/{owner}/{repo}/pulls"]["post"],
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"):
        SPEC["paths"]["/repos/{owner}/{repo}/pulls/{pull_number}"]["patch"],
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"):
        SPEC["paths"]["/repos/{owner}/{repo}/issues/{issue_number}/comments"]["post"],
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): _add_labels_operation(),
}
BASIC_ERROR = _json_schema(SPEC["paths"]["/repos/{owner}/{repo}"]["get"], "404")


def _route(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


ROUTES = [(method, _route(template), op) for (method, template), op in OPERATIONS.items()]


def _errors(schema: dict, value) -> list[str]:
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
        for e in validator.iter_errors(value)
    ]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Served:
    method: str
    path: str
    query: dict
    body: object
    status: int
    operation: str | None


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    draft: bool
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None


class FakeGitHub:
    """State: pull requests (with their comments and labels) of one repository, whose git data is
    the bare repository `bare`. Knobs for the error cases: `token`, `can_write`, `rate_limit`,
    `retry_after`, `drafts_supported`, `page_size` (a smaller cap than GitHub's, to exercise pagination) and
    `after` (operationId -> callable run after a response is served: another actor's move)."""

    def __init__(self, bare: Path, owner: str = "octo", name: str = "train", token: str = "ghs_0123456789abcdefTESTTOKEN") -> None:
        self.bare, self.owner, self.name, self.token = Path(bare), owner, name, token
        self.pulls: dict[int, Pull] = {}
        self.served: list[Served] = []
        self.violations: list[str] = []
        self.can_write = True
        self.rate_limit = 5000
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self.drafts_supported = True
        self.page_size = MAX_PAGE
        self.retry_after: int | None = None  # set: the secondary rate limit answers every call
        self.after: dict[str, Callable[[], None]] = {}
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.app = self  # type: ignore[attr-defined]
        self.origin = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.api_url = self.origin + API_PREFIX
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGitHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    # -- what the tests look at and do --------------------------------------------------------

    def open_pulls(self) -> list[Pull]:
        return [p for p in self.pulls.values() if p.state == "open"]

    def mutations(self) -> list[Served]:
        return [s for s in self.served if s.method != "GET"]

    def edit_body_in_browser(self, number: int, body: str) -> None:
        """A person editing the description on github.com: browsers send CRLF line endings."""
        pull = self.pulls[number]
        pull.body = body.replace("\r\n", "\n").replace("\n", "\r\n")
        pull.updated_at = _now()

    def open_pull_as_another_run(self, head: str, base: str, title: str, body: str) -> Pull:
        with self._lock:
            return self._new_pull(head, base, title, body, draft=False)

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers, raw: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            split = urlsplit(target)
            query = parse_qs(split.query, keep_blank_values=True)
            body = json.loads(raw) if raw else None
            try:
                status, payload, extra, operation = self._dispatch(method, split.path, query, headers, body, raw)
            except Exception as error:  # a bug of the fake: fail the test, not just the request
                self.violations.append(f"{method} {split.path}: the fake GitHub crashed: {error!r}")
                status, payload, extra, operation = 500, {"message": "Server Error"}, {}, None
            if status >= 400 and isinstance(payload, dict):
                payload.setdefault("status", str(status))  # as GitHub's error bodies carry it
            if operation is None:  # refused before routing (auth, rate limit): a Basic Error
                self.violations += [f"{method} {split.path} -> {status}: {e}" for e in _errors(BASIC_ERROR, payload)]
            self.served.append(Served(method, split.path, query, body, status, operation))
            self.rate_used += 1
            out = {
                "Content-Type": "application/json; charset=utf-8",
                "X-GitHub-Media-Type": "github.v3; format=json",
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - self.rate_used)),
                "X-RateLimit-Reset": str(self.rate_reset),
                "X-RateLimit-Used": str(self.rate_used),
                "X-RateLimit-Resource": "core",
                **extra,
            }
            hook = self.after.pop(operation, None) if operation else None
        if hook:
            hook()
        return status, out, b"" if payload is None else json.dumps(payload).encode()

    def _dispatch(self, method, path, query, headers, body, raw):
        if self.token in path or self.token in json.dumps(query):
            self.violations.append(f"{method} {path}: the token is in the URL")
        if not path.startswith(API_PREFIX + "/"):
            return 404, self._error("Not Found"), {}, None
        path = path[len(API_PREFIX):]
        if headers.get("Accept") != "application/vnd.github+json":
            self.violations.append(f"{method} {path}: Accept is {headers.get('Accept')!r}")
        if not headers.get("User-Agent"):  # GitHub refuses requests without one
            return 403, self._error("Request forbidden by administrative rules. Please make sure your request has a User-Agent header"), {}, None
        if self.rate_used >= self.rate_limit:
            return 403, self._error(
                "API rate limit exceeded for installation ID 4242.",
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            ), {}, None
        if self.retry_after is not None:
            return 403, self._error(
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            ), {"Retry-After": str(self.retry_after)}, None
        if headers.get("Authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return 401, self._error("Bad credentials"), {}, None
        for verb, pattern, operation in ROUTES:
            match = pattern.match(path)
            if match and verb == method:
                break
        else:
            self.violations.append(f"{method} {path}: not an endpoint of the description")
            return 404, self._error("Not Found"), {}, None
        name = operation["operationId"]
        params = match.groupdict()
        self._validate_request(operation, method, path, params, query, body, raw)
        if (params["owner"], params["repo"]) != (self.owner, self.name):
            status, payload, extra = 404, self._error("Not Found", f"{DOCS}/repos/repos#get-a-repository"), {}
        else:
            status, payload, extra = getattr(self, "_" + name.replace("/", "_").replace("-", "_"))(params, query, body)
        self._validate_response(operation, method, path, status, payload)
        return status, payload, extra, name

    def _validate_request(self, operation, method, path, params, query, body, raw) -> None:
        where = f"{method} {path}"
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] in ("path", "query")}
        for name in query:
            if name not in declared:
                self.violations.append(f"{where}: query parameter {name!r} is not in the description")
        for name, parameter in declared.items():
            values = [params[name]] if parameter["in"] == "path" else query.get(name, [])
            if parameter.get("required") and not values:
                self.violations.append(f"{where}: missing required parameter {name!r}")
            for value in values:
                typed = int(value) if parameter["schema"].get("type") == "integer" and value.isdigit() else value
                self.violations += [f"{where}: {name}: {e}" for e in _errors(parameter["schema"], typed)]
        request = operation.get("requestBody")
        if request is None:
            if raw:
                self.violations.append(f"{where}: a body where the operation takes none")
            return
        if body is None:
            if request.get("required"):
                self.violations.append(f"{where}: the required body is missing")
            return
        schema = request["content"]["application/json"]["schema"]
        self.violations += [f"{where} body: {e}" for e in _errors(schema, body)]

    def _validate_response(self, operation, method, path, status, payload) -> None:
        where = f"{method} {path} -> {status}"
        if str(status) in operation["responses"]:
            schema = _json_schema(operation, str(status))
        else:  # 401 and rate limits are not listed per operation; GitHub sends a Basic Error
            schema = BASIC_ERROR
        if schema is not None:
            self.violations += [f"{where}: {e}" for e in _errors(schema, payload)]

    def _error(self, message: str, docs: str = DOCS) -> dict:
        return {"message": message, "documentation_url": docs}

    def _validation_failed(self, docs: str, *errors: dict) -> tuple[int, dict, dict]:
        return 422, {"message": "Validation Failed", "errors": list(errors), "documentation_url": docs}, {}

    def _forbidden(self) -> tuple[int, dict, dict]:
        return 403, self._error("Resource not accessible by integration", f"{DOCS}/pulls/pulls"), {}

    # -- endpoints ---------------------------------------------------------------------------

    def _repos_get(self, params, query, body):
        return 200, self._repository(), {}

    def _pulls_list(self, params, query, body):
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        base = query.get("base", [None])[0]
        chosen = [
            p for p in sorted(self.pulls.values(), key=lambda p: -p.number)
            if state in ("all", p.state)
            and (head is None or head == f"{self.owner}:{p.head}")
            and (base is None or base == p.base)
        ]
        per_page = min(int(query.get("per_page", ["30"])[0]), MAX_PAGE, self.page_size)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(chosen) // per_page))
        items = [self._pull_simple(p) for p in chosen[(page - 1) * per_page: page * per_page]]
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if 1 <= number <= last and number != page:
                others = {k: v[0] for k, v in query.items() if k != "page"}
                url = f"{self.api_url}/repos/{self.owner}/{self.name}/pulls?{urlencode({**others, 'page': number})}"
                links.append(f'<{url}>; rel="{rel}"')
        return 200, items, ({"Link": ", ".join(links)} if links else {})

    def _pulls_create(self, params, query, body):
        docs = f"{DOCS}/pulls/pulls#create-a-pull-request"
        if not self.can_write:
            return self._forbidden()
        head, base = body["head"].split(":")[-1], body["base"]
        if self._sha(base) is None:
            return self._validation_failed(docs, {"resource": "PullRequest", "field": "base", "code": "invalid"})
        if self._sha(head) is None:
            return self._validation_failed(docs, {"resource": "PullRequest", "field": "head", "code": "invalid"})
        if any(p.head == head and p.base == base for p in self.open_pulls()):
            return self._validation_failed(docs, {
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {self.owner}:{head}.",
            })
        if not self._git("rev-list", f"{base}..{head}"):
            return self._validation_failed(docs, {
                "resource": "PullRequest", "code": "custom", "message": f"No commits between {base} and {head}",
            })
        if body.get("draft") and not self.drafts_supported:
            return self._validation_failed(docs, {
                "resource": "PullRequest", "code": "custom",
                "message": "Draft pull requests are not supported in this repository.",
            })
        pull = self._new_pull(head, base, body.get("title", ""), body.get("body", ""), bool(body.get("draft")))
        location = f"{self.api_url}/repos/{self.owner}/{self.name}/pulls/{pull.number}"
        return 201, self._pull_full(pull), {"Location": location}

    def _pulls_update(self, params, query, body):
        pull = self.pulls.get(int(params["pull_number"]))
        if pull is None:
            return 404, self._error("Not Found"), {}
        if not self.can_write:
            return self._forbidden()
        body = body or {}
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        if body.get("state") == "closed" and pull.state == "open":
            pull.state, pull.closed_at = "closed", _now()
        pull.updated_at = _now()
        return 200, self._pull_full(pull), {}

    def _issues_create_comment(self, params, query, body):
        pull = self.pulls.get(int(params["issue_number"]))
        if pull is None:
            return 404, self._error("Not Found"), {}
        if not self.can_write:
            return self._forbidden()
        comment = self._rewrite(_example("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post", "201"))
        number = next(self._ids)
        comment.update(
            id=number, body=body["body"], created_at=_now(), updated_at=_now(),
            url=f"{self.api_url}/repos/{self.owner}/{self.name}/issues/comments/{number}",
            html_url=f"{self.origin}/{self.owner}/{self.name}/pull/{pull.number}#issuecomment-{number}",
            issue_url=f"{self.api_url}/repos/{self.owner}/{self.name}/issues/{pull.number}",
        )
        pull.comments.append(comment)
        return 201, comment, {"Location": comment["url"]}

    def _issues_add_labels(self, params, query, body):
        pull = self.pulls.get(int(params["issue_number"]))
        if pull is None:
            return 404, self._error("Not Found"), {}
        if not self.can_write:
            return self._forbidden()
        for name in body["labels"]:
            if name not in pull.labels:
                pull.labels.append(name)
        return 200, [self._label(name) for name in pull.labels], {}

    # -- objects, from the published examples --------------------------------------------------

    def _rewrite(self, value):
        """An example about octocat/Hello-World on github.com, made about this repository."""
        text = json.dumps(value)
        for old, new in (
            ("https://api.github.com", self.api_url), ("https://github.com", self.origin),
            ("Hello-World", self.name), ("octocat", self.owner),
        ):
            text = text.replace(old, new)
        return json.loads(text)

    def _repository(self) -> dict:
        repo = self._rewrite(_example("/repos/{owner}/{repo}", "get", "200"))
        for key in ("parent", "source", "template_repository", "organization"):
            repo.pop(key, None)  # a plain repository: not a fork, not from a template
        repo.update(fork=False, language="Python", default_branch=self._default_branch())
        return repo

    def _label(self, name: str) -> dict:
        return {
            "id": 208045946 + sum(map(ord, name)), "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
            "url": f"{self.api_url}/repos/{self.owner}/{self.name}/labels/{name}",
            "name": name, "description": "", "color": "ededed", "default": False,
        }

    def _pull_fields(self, pull: Pull, template: dict) -> dict:
        text = json.dumps(template).replace("1347", str(pull.number))
        data = self._rewrite(json.loads(text))
        data.update(
            id=10_000 + pull.number, number=pull.number, state=pull.state, locked=False,
            active_lock_reason=None, title=pull.title, body=pull.body, draft=pull.draft,
            labels=[self._label(n) for n in pull.labels], milestone=None, assignee=None,
            assignees=[], requested_reviewers=[], requested_teams=[], auto_merge=None,
            created_at=pull.created_at, updated_at=pull.updated_at, closed_at=pull.closed_at,
            merged_at=None, merge_commit_sha=None,
        )
        for side, ref in (("head", pull.head), ("base", pull.base)):
            data[side].update(label=f"{self.owner}:{ref}", ref=ref, sha=self._sha(ref) or "0" * 40)
        return data

    def _pull_simple(self, pull: Pull) -> dict:
        return self._pull_fields(pull, _example("/repos/{owner}/{repo}/pulls", "get", "200")[0])

    def _pull_full(self, pull: Pull) -> dict:
        data = self._pull_fields(pull, _example("/repos/{owner}/{repo}/pulls", "post", "201"))
        commits = self._git("rev-list", f"{pull.base}..{pull.head}").split()
        data.update(
            merged=False, mergeable=None, rebaseable=None, mergeable_state="unknown", merged_by=None,
            comments=len(pull.comments), review_comments=0, commits=len(commits),
        )
        return data

    def _new_pull(self, head, base, title, body, draft) -> Pull:
        pull = Pull(next(self._numbers), title, body, head, base, draft)
        self.pulls[pull.number] = pull
        return pull

    # -- the git repository behind it ------------------------------------------------------------

    def _git(self, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=self.bare, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    def _sha(self, branch: str) -> str | None:
        return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}") or None

    def _default_branch(self) -> str:
        return self._git("symbolic-ref", "--short", "HEAD") or "main"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, body = self.server.app.handle(self.command, self.path, self.headers, raw)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format, *args) -> None:  # quiet: the tests read `served`
        pass
