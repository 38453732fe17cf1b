"""`autofix server`: a Language Server over stdio. Every open Python document is analysed on open,
change and save; findings are published as diagnostics, each fix is offered as a quick fix
(unsafe ones marked and never preferred) and all of the document's fixes as one "fix all"
(`source.fixAll.autofix`), which is also the `autofix.fixAll` command, applied through
`workspace/applyEdit`. Rules and `unsafe-fixes` come from the configuration nearest the file."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import libcst as cst
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from autofix import __version__, engine, registry
from autofix.api import ParseError
from autofix.config import ConfigError
from autofix.positions import Document
from autofix.report import plural
from autofix.rule import Finding, Rule, Safety
from autofix.runner import describe
from autofix.settings import Options, Settings
from autofix.sources import decode, encode

SOURCE = "autofix"
QUICK_FIX = types.CodeActionKind.QuickFix.value
FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.autofix"
FIX_ALL_COMMAND = "autofix.fixAll"
TYPING_PAUSE = 0.25  # seconds without a change before a changed document is analysed again


@dataclass
class Analysis:
    """One version of one document, analysed with the rules that apply to it."""

    uri: str
    version: int | None
    path: str
    code: bytes
    document: Document
    rules: Sequence[Rule]
    unsafe_fixes: bool
    findings: list[Finding]


class AutofixServer(LanguageServer):
    def __init__(self) -> None:
        # Full sync: pygls applies incremental changes with str.splitlines, which also breaks
        # lines at form feeds and other characters that editors and Python do not.
        super().__init__("autofix", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self._scheduled: dict[str, asyncio.TimerHandle] = {}

    def analyse_soon(self, uri: str) -> None:
        """Analyse once typing pauses, so a burst of changes costs one analysis, not one each."""
        self._unschedule(uri)
        self._scheduled[uri] = asyncio.get_running_loop().call_later(TYPING_PAUSE, self.analyse, uri)

    def forget(self, uri: str) -> None:
        """A closed document: nothing pending, nothing kept, its diagnostics cleared."""
        self._unschedule(uri)
        self.analyses.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))

    def _unschedule(self, uri: str) -> None:
        if (scheduled := self._scheduled.pop(uri, None)) is not None:
            scheduled.cancel()

    def analyse(self, uri: str) -> Analysis | None:
        """Analyse the document as it stands and publish its diagnostics; a document that could
        not be checked gets one diagnostic saying why, never an empty list."""
        self._unschedule(uri)
        text_document = self.workspace.get_text_document(uri)
        document = Document(text_document.source, self.workspace.position_encoding)
        path = to_fs_path(uri) or uri
        self.analyses.pop(uri, None)
        try:
            rules, unsafe_fixes = _settings(path)
            code = encode(document.text)
            findings = engine.lint(code, rules, path).findings
        except cst.ParserSyntaxError as error:
            diagnostics = [_syntax_error(document, ParseError.of(error))]
        except (ConfigError, registry.UnknownRule) as error:
            diagnostics = [_not_checked(document, str(error))]
        except Exception as error:  # unencodable text, or a bug of ours
            diagnostics = [_not_checked(document, describe(error))]
        else:
            self.analyses[uri] = Analysis(
                uri, text_document.version, path, code, document, rules, unsafe_fixes, findings
            )
            diagnostics = [_diagnostic(document, finding) for finding in findings]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri, diagnostics, text_document.version)
        )
        return self.analyses.get(uri)

    def current(self, uri: str) -> Analysis | None:
        """The analysis of the document's current version."""
        analysis = self.analyses.get(uri)
        version = self.workspace.get_text_document(uri).version
        return analysis if analysis is not None and analysis.version == version else self.analyse(uri)

    def workspace_edit(self, analysis: Analysis, new_code: bytes) -> types.WorkspaceEdit:
        """The edit turning the analysed version into `new_code`, tied to that version when the
        client can check it."""
        edits = analysis.document.edits_to(decode(new_code))
        capabilities = self.client_capabilities.workspace
        versioned = bool(
            capabilities and capabilities.workspace_edit and capabilities.workspace_edit.document_changes
        )
        if not versioned:
            return types.WorkspaceEdit(changes={analysis.uri: edits})
        identifier = types.OptionalVersionedTextDocumentIdentifier(analysis.uri, analysis.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(identifier, edits)])

    def fix_all(self, analysis: Analysis) -> types.CodeAction | None:
        result = engine.fix(
            analysis.code, analysis.rules, analysis.path, engine.accept_by_safety(analysis.unsafe_fixes)
        )
        if not result.changed:
            return None
        return types.CodeAction(
            title=f"autofix: fix all ({plural(len(result.fixed), 'fix')})",
            kind=FIX_ALL,
            edit=self.workspace_edit(analysis, result.new_source),
        )


@lru_cache(maxsize=32)
def _rules(names: tuple[str, ...]) -> list[Rule]:
    return registry.instantiate(names)


def _settings(path: str) -> tuple[list[Rule], bool]:
    """The rules and unsafe-fixes setting of the configuration governing `path` (the nearest
    one above it, with its per-file ignores), as `autofix check` applies them."""
    here = Settings(Options()).for_file(path)
    return _rules(here.rules), bool(here.unsafe_fixes)


def _range(document: Document, finding: Finding) -> types.Range:
    return types.Range(
        document.position(finding.line, finding.column),
        document.position(finding.end_line, finding.end_column),
    )


def _diagnostic(document: Document, finding: Finding) -> types.Diagnostic:
    return types.Diagnostic(
        range=_range(document, finding),
        message=finding.message,
        severity=types.DiagnosticSeverity.Warning,
        code=finding.rule,
        source=SOURCE,
        data={"rule": finding.rule, "safety": finding.safety.value, "fixable": finding.fixable},
    )


def _syntax_error(document: Document, error: ParseError) -> types.Diagnostic:
    where = types.Range(document.position(error.line, error.column), document.end_of_line(error.line))
    return _not_checked(document, str(error), where)


def _not_checked(document: Document, reason: str, where: types.Range | None = None) -> types.Diagnostic:
    return types.Diagnostic(
        range=where or types.Range(document.position(1, 1), document.end_of_line(1)),
        message=f"{reason} (autofix did not check this file)",
        severity=types.DiagnosticSeverity.Error,
        source=SOURCE,
    )


def _overlaps(a: types.Range, b: types.Range) -> bool:
    """Ranges touch or overlap (an empty range at a finding's edge, the cursor, counts)."""
    def key(position: types.Position) -> tuple[int, int]:
        return position.line, position.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wanted(only: Sequence[types.CodeActionKind | str] | None) -> Callable[[str], bool]:
    """Whether a code action kind was asked for: the same kind or a sub-kind of one asked."""
    if not only:
        return lambda kind: True
    asked = [getattr(kind, "value", kind) for kind in only]
    return lambda kind: any(kind == a or kind.startswith(f"{a}.") for a in asked)


server = AutofixServer()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: AutofixServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: AutofixServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.analyse_soon(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: AutofixServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: AutofixServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[QUICK_FIX, FIX_ALL]),
)
def code_action(ls: AutofixServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    analysis = ls.current(params.text_document.uri)
    if analysis is None:
        return []
    wanted = _wanted(params.context.only)
    actions = []
    if wanted(QUICK_FIX):
        def here(finding: Finding) -> bool:
            return _overlaps(_range(analysis.document, finding), params.range)

        session = engine.proposals(analysis.code, analysis.rules, analysis.path, here)
        for proposal in session:  # iterating declines each, so each is against this version
            finding = proposal.finding
            unsafe = finding.safety is Safety.UNSAFE
            actions.append(
                types.CodeAction(
                    title=f"autofix: fix {finding.rule}" + (" (unsafe fix: review it)" if unsafe else ""),
                    kind=QUICK_FIX,
                    diagnostics=[_diagnostic(analysis.document, finding)],
                    is_preferred=not unsafe,
                    edit=ls.workspace_edit(analysis, proposal.new_source),
                )
            )
    if wanted(FIX_ALL):
        fix_all = ls.fix_all(analysis)
        if fix_all is not None:
            actions.append(fix_all)
    return actions


@server.command(FIX_ALL_COMMAND)
async def fix_all_command(ls: AutofixServer, uri: str) -> bool:
    """Apply every fix `autofix fix` would apply to the document, through workspace/applyEdit."""
    analysis = ls.current(uri)
    action = ls.fix_all(analysis) if analysis is not None else None
    if action is None:
        return False
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(action.edit, label=action.title)
    )
    return result.applied


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: AutofixServer, params: types.HoverParams) -> types.Hover | None:
    """The documentation of the rules whose findings are under the cursor."""
    analysis = ls.current(params.text_document.uri)
    if analysis is None:
        return None
    cursor = types.Range(params.position, params.position)
    names = sorted(
        {f.rule for f in analysis.findings if _overlaps(_range(analysis.document, f), cursor)}
    )
    if not names:
        return None
    docs = [f"**autofix: {name}** — {registry.get(name).summary}\n\n{registry.get(name).docs}" for name in names]
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, "\n\n---\n\n".join(docs)))


def main() -> None:
    server.start_io()
