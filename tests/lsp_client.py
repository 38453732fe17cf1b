"""A small Language Server Protocol client over a subprocess's pipes, written from the
specification rather than with pygls, so the server is checked against the protocol and not
against the library it is built on. It also applies text edits the way an editor does."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
from typing import Callable

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class ServerError(Exception):
    """The server answered a request with an error."""


class LspClient:
    def __init__(self, command: list[str], cwd: str) -> None:
        self.process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.incoming: queue.Queue[dict | None] = queue.Queue()
        self.notifications: list[dict] = []
        self.handlers: dict[str, Callable[[dict], object]] = {}  # requests from the server
        self.server_requests: list[dict] = []
        self._last_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while (line := stream.readline().strip()) != b"":
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:  # end of stream
                self.incoming.put(None)
                return
            self.incoming.put(json.loads(stream.read(int(headers["content-length"]))))

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict | None = None) -> None:
        self._send({"method": method, **({"params": params} if params is not None else {})})

    def request(self, method: str, params: dict | None = None, timeout: float = 30):
        self._last_id += 1
        ident = self._last_id
        self._send({"id": ident, "method": method, **({"params": params} if params is not None else {})})
        response = self._pump(lambda m: m.get("id") == ident and "method" not in m, timeout)
        if "error" in response:
            raise ServerError(response["error"])
        return response.get("result")

    def notification(self, method: str, match: Callable[[dict], bool] = lambda p: True, timeout: float = 30) -> dict:
        """The params of the first unseen `method` notification that `match` accepts."""
        for stored in self.notifications:
            if stored["method"] == method and match(stored["params"]):
                self.notifications.remove(stored)
                return stored["params"]
        message = self._pump(lambda m: m.get("method") == method and "id" not in m and match(m["params"]), timeout)
        return message["params"]

    def _pump(self, wanted: Callable[[dict], bool], timeout: float) -> dict:
        while True:
            message = self.incoming.get(timeout=timeout)
            if message is None:
                raise EOFError("the server closed its output")
            if wanted(message):
                return message
            if "method" in message and "id" in message:  # a request from the server
                self.server_requests.append(message)
                handler = self.handlers.get(message["method"], lambda params: None)
                self._send({"id": message["id"], "result": handler(message.get("params"))})
            elif "method" in message:
                self.notifications.append(message)


def lines(text: str) -> list[str]:
    return _LINE.findall(text)


_WIDTH = {  # code units of one character
    "utf-8": lambda char: len(char.encode("utf-8")),
    "utf-16": lambda char: 2 if ord(char) > 0xFFFF else 1,
    "utf-32": lambda char: 1,
}


def offset(text: str, position: dict, encoding: str = "utf-16") -> int:
    """The code point offset in `text` of an LSP position counted in `encoding` code units."""
    split = lines(text)
    start = sum(len(line) for line in split[: position["line"]])
    if position["line"] >= len(split):
        return start
    content = split[position["line"]].rstrip("\r\n")
    units = 0
    for index, char in enumerate(content):
        if units >= position["character"]:
            return start + index
        units += _WIDTH[encoding](char)
    return start + len(content)


def text_in(text: str, range_: dict, encoding: str = "utf-16") -> str:
    return text[offset(text, range_["start"], encoding) : offset(text, range_["end"], encoding)]


def apply_edits(text: str, edits: list[dict], encoding: str = "utf-16") -> str:
    """Apply one batch of edits, all given in the coordinates of `text`, as an editor does."""
    spans = sorted(
        ((offset(text, e["range"]["start"], encoding), offset(text, e["range"]["end"], encoding), e["newText"]) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def document_edits(workspace_edit: dict, uri: str) -> tuple[list[dict], int | None]:
    """The edits a workspace edit makes to `uri`, and the document version it was made for."""
    if "documentChanges" in workspace_edit:
        (change,) = [c for c in workspace_edit["documentChanges"] if c["textDocument"]["uri"] == uri]
        return change["edits"], change["textDocument"]["version"]
    return workspace_edit["changes"][uri], None
