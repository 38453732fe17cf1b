"""`autofix server` in a real Language Server session: the installed command as a subprocess,
a client speaking JSON-RPC over its pipes, real files and configuration on disk."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

import autofix
from lsp_client import LspClient, apply_edits, document_edits, text_in

AUTOFIX = os.path.join(os.path.dirname(sys.executable), "autofix")
BUGGY = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        loss = model(torch.randn(4, 2)).pow(2).mean()
        loss.backward()
        opt.step()
    label = "😀 é"; model.eval
    """
)
UNSAFE_ONLY = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    criterion = torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        loss = criterion(model(torch.randn(4, 2)), torch.randn(4, 1))
        opt.step()
    """
)
CAPABILITIES = {
    "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}},
    "textDocument": {
        "publishDiagnostics": {"versionSupport": True},
        "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}}},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
    },
}


class Session:
    """One editor session: the server started, initialized, and the documents it was sent."""

    def __init__(self, folder: Path, capabilities: dict) -> None:
        self.folder = folder
        self.client = LspClient([AUTOFIX, "server"], cwd=str(folder))
        self.initialized = self.client.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": folder.as_uri(), "capabilities": capabilities},
        )
        self.client.notify("initialized", {})
        self.encoding = self.initialized["capabilities"].get("positionEncoding", "utf-16")
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    def open(self, name: str, text: str) -> tuple[str, dict]:
        """Write the file, open it in the 'editor' and return its uri and first diagnostics."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        self.texts[uri], self.versions[uri] = text, 1
        self.client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        return uri, self.diagnostics(uri)

    def change(self, uri: str, text: str) -> dict:
        self.texts[uri] = text
        self.versions[uri] += 1
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": self.versions[uri]}, "contentChanges": [{"text": text}]},
        )
        return self.diagnostics(uri)

    def diagnostics(self, uri: str) -> dict:
        version = self.versions[uri]
        return self.client.notification(
            "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p.get("version") == version
        )

    def actions(self, uri: str, range_: dict, diagnostics=(), only=None) -> list[dict]:
        context = {"diagnostics": list(diagnostics), **({"only": only} if only else {})}
        return self.client.request(
            "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": range_, "context": context}
        )

    def applied(self, uri: str, workspace_edit: dict) -> str:
        edits, version = document_edits(workspace_edit, uri)
        assert version in (None, self.versions[uri])
        return apply_edits(self.texts[uri], edits, self.encoding)

    def close(self) -> int:
        assert self.client.request("shutdown") is None
        self.client.notify("exit")
        return self.client.process.wait(timeout=30)


@pytest.fixture
def session(tmp_path):
    started = Session(tmp_path, CAPABILITIES)
    yield started
    if started.client.process.poll() is None:
        started.client.process.kill()
        started.client.process.wait()


def by_rule(published: dict) -> dict[str, dict]:
    return {d["code"]: d for d in published["diagnostics"]}


def test_initialize_announces_diagnostics_code_actions_and_the_fix_all_command(session):
    capabilities = session.initialized["capabilities"]
    assert session.initialized["serverInfo"] == {"name": "autofix", "version": autofix.__version__}
    assert set(capabilities["codeActionProvider"]["codeActionKinds"]) == {"quickfix", "source.fixAll.autofix"}
    assert capabilities["executeCommandProvider"]["commands"] == ["autofix.fixAll"]
    assert capabilities["textDocumentSync"]["openClose"] and capabilities["textDocumentSync"]["change"] == 1
    assert capabilities["hoverProvider"]
    assert session.close() == 0


def test_diagnostics_carry_rule_severity_safety_and_utf16_ranges(session):
    uri, published = session.open("train.py", BUGGY)
    found = by_rule(published)
    assert set(found) == {"missing-zero-grad", "uncalled-method"}
    uncalled = found["uncalled-method"]
    assert uncalled["source"] == "autofix" and uncalled["severity"] == 2  # Warning
    assert uncalled["data"] == {"rule": "uncalled-method", "safety": "safe", "fixable": True}
    # 😀 is two UTF-16 code units: the range starts at 16, not at code point 15
    assert uncalled["range"] == {"start": {"line": 8, "character": 16}, "end": {"line": 8, "character": 26}}
    assert text_in(BUGGY, uncalled["range"]) == "model.eval"
    expected = {f.rule: f.message for f in autofix.check(BUGGY, path="train.py")}
    assert {rule: d["message"] for rule, d in found.items()} == expected
    assert session.close() == 0


def test_each_fix_is_a_quick_fix_and_all_of_them_one_fix_all(session):
    uri, published = session.open("train.py", BUGGY)
    uncalled = by_rule(published)["uncalled-method"]
    (quick_fix,) = session.actions(uri, uncalled["range"], [uncalled], only=["quickfix"])
    assert quick_fix["kind"] == "quickfix" and quick_fix["isPreferred"] is True
    assert quick_fix["title"] == "autofix: fix uncalled-method"
    assert quick_fix["diagnostics"][0]["code"] == "uncalled-method"
    assert session.applied(uri, quick_fix["edit"]) == BUGGY.replace("model.eval\n", "model.eval()\n")

    (fix_all,) = session.actions(uri, uncalled["range"], only=["source.fixAll"])
    assert fix_all["kind"] == "source.fixAll.autofix" and fix_all["title"] == "autofix: fix all (2 fixes)"
    assert session.applied(uri, fix_all["edit"]) == autofix.fix(BUGGY).source

    cursor = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    assert [a["kind"] for a in session.actions(uri, cursor)] == ["source.fixAll.autofix"]
    assert session.close() == 0


def test_unsafe_fixes_are_offered_marked_and_left_out_of_fix_all(session):
    uri, published = session.open("train.py", UNSAFE_ONLY)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["code"] == "step-without-backward" and diagnostic["data"]["safety"] == "unsafe"
    (quick_fix,) = session.actions(uri, diagnostic["range"], [diagnostic])
    assert quick_fix["title"] == "autofix: fix step-without-backward (unsafe fix: review it)"
    assert quick_fix["isPreferred"] is False
    assert "    loss.backward()\n    opt.step()" in session.applied(uri, quick_fix["edit"])

    (session.folder / "pyproject.toml").write_text("[tool.autofix]\nunsafe-fixes = true\n")
    session.change(uri, UNSAFE_ONLY)
    kinds = [a["kind"] for a in session.actions(uri, diagnostic["range"], [diagnostic])]
    assert kinds == ["quickfix", "source.fixAll.autofix"]
    assert session.close() == 0


def test_diagnostics_follow_changes_saves_configuration_and_close(session):
    uri, published = session.open("pkg/train.py", BUGGY)
    assert len(published["diagnostics"]) == 2
    fixed_call = BUGGY.replace("model.eval\n", "model.eval()\n")
    assert set(by_rule(session.change(uri, fixed_call))) == {"missing-zero-grad"}

    (session.folder / "pkg" / "pyproject.toml").write_text('[tool.autofix]\nignore = ["missing-zero-grad"]\n')
    session.client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert session.diagnostics(uri)["diagnostics"] == []

    session.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    closed = session.client.notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert closed["diagnostics"] == []
    assert session.close() == 0


def test_the_fix_all_command_applies_through_workspace_apply_edit(session):
    uri, _ = session.open("train.py", BUGGY)
    session.client.handlers["workspace/applyEdit"] = lambda params: {"applied": True}
    result = session.client.request(
        "workspace/executeCommand", {"command": "autofix.fixAll", "arguments": [uri]}
    )
    assert result is True
    (request,) = [r for r in session.client.server_requests if r["method"] == "workspace/applyEdit"]
    assert request["params"]["label"] == "autofix: fix all (2 fixes)"
    assert session.applied(uri, request["params"]["edit"]) == autofix.fix(BUGGY).source
    assert session.close() == 0


def test_a_file_that_does_not_parse_says_so(session):
    uri, published = session.open("broken.py", "import torch\n  x = 1\n")
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["severity"] == 1 and "cannot parse" in diagnostic["message"]
    assert "autofix did not check this file" in diagnostic["message"]
    assert diagnostic["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}}
    assert session.actions(uri, diagnostic["range"]) == []
    unclosed = session.change(uri, "import torch\nx = (\n")["diagnostics"]
    assert unclosed[0]["range"]["start"] == {"line": 2, "character": 0}  # the end of the file
    assert session.close() == 0


def test_hover_shows_the_rule_docs(session):
    uri, published = session.open("train.py", BUGGY)
    start = by_rule(published)["uncalled-method"]["range"]["start"]
    hover = session.client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": start})
    assert hover["contents"]["kind"] == "markdown"
    assert "**autofix: uncalled-method**" in hover["contents"]["value"]
    assert "## Why is this bad?" in hover["contents"]["value"]
    assert session.close() == 0


def test_lines_are_the_editor_lines_even_with_form_feeds_and_crlf(session):
    text = "import torch\r\n\x0c\r\nmodel = torch.nn.Linear(2, 1)\r\nx = '\u2028'; model.train\r\n"
    uri, published = session.open("feed.py", text)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["range"]["start"]["line"] == 3
    assert text_in(text, diagnostic["range"]) == "model.train"
    (quick_fix,) = session.actions(uri, diagnostic["range"], [diagnostic], only=["quickfix"])
    assert session.applied(uri, quick_fix["edit"]) == text.replace("model.train", "model.train()")
    assert session.close() == 0


def test_a_client_that_counts_in_utf8_gets_utf8_columns(tmp_path):
    session = Session(tmp_path, {**CAPABILITIES, "general": {"positionEncodings": ["utf-8", "utf-16"]}})
    try:
        assert session.encoding == "utf-8"
        uri, published = session.open("train.py", BUGGY)
        uncalled = by_rule(published)["uncalled-method"]
        assert uncalled["range"]["start"] == {"line": 8, "character": 19}  # 😀 4 bytes, é 2
        assert text_in(BUGGY, uncalled["range"], "utf-8") == "model.eval"
        assert session.close() == 0
    finally:
        session.client.process.kill()


def test_a_client_without_versioned_edits_gets_plain_changes(tmp_path):
    session = Session(tmp_path, {"textDocument": CAPABILITIES["textDocument"]})
    try:
        uri, published = session.open("train.py", BUGGY)
        (fix_all,) = session.actions(uri, published["diagnostics"][0]["range"], only=["source.fixAll"])
        assert set(fix_all["edit"]) == {"changes"}
        assert session.applied(uri, fix_all["edit"]) == autofix.fix(BUGGY).source
        assert session.close() == 0
    finally:
        session.client.process.kill()


def test_a_configuration_error_is_shown_on_the_file_it_stops(session):
    (session.folder / "pyproject.toml").write_text('[tool.autofix]\nselect = ["missing-zero-grads"]\n')
    uri, published = session.open("train.py", BUGGY)
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["severity"] == 1 and "unknown rule 'missing-zero-grads'" in diagnostic["message"]
    assert diagnostic["range"]["start"] == {"line": 0, "character": 0}
    assert session.close() == 0


def test_a_burst_of_changes_is_analysed_once_typing_pauses(session):
    uri, _ = session.open("train.py", BUGGY)
    for typed in range(1, 6):
        session.texts[uri] = BUGGY + "x = 1\n" * typed
        session.versions[uri] += 1
        session.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": session.versions[uri]},
             "contentChanges": [{"text": session.texts[uri]}]},
        )
    assert len(session.diagnostics(uri)["diagnostics"]) == 2  # for version 6, the last one
    published = [n["params"].get("version") for n in session.client.notifications if n["method"] == "textDocument/publishDiagnostics"]
    assert published == []  # versions 2 to 5 were never analysed
    assert session.close() == 0


def test_a_code_action_right_after_a_change_sees_the_change(session):
    uri, _ = session.open("train.py", BUGGY)
    moved = "\n\n" + BUGGY  # every line two further down
    session.texts[uri], session.versions[uri] = moved, 2
    session.client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": moved}]},
    )
    line = {"line": 10, "character": 20}  # inside `model.eval`
    (quick_fix,) = session.actions(uri, {"start": line, "end": line}, only=["quickfix"])
    assert quick_fix["edit"]["documentChanges"][0]["textDocument"]["version"] == 2
    assert session.applied(uri, quick_fix["edit"]) == moved.replace("model.eval\n", "model.eval()\n")
    assert session.close() == 0
