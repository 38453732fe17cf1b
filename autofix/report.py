"""Output formats for findings: text for people, JSON for machines (the design's object)."""

from __future__ import annotations

import json
from typing import Sequence

import click

from autofix import __version__
from autofix.rule import Finding, Safety


def json_report(files_scanned: int, findings: Sequence[Finding], errors: Sequence[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "version": __version__,
            "files_scanned": files_scanned,
            "findings": [f.to_json() for f in findings],
            "errors": [{"path": path, "message": message} for path, message in errors],
        },
        indent=2,
    )


def text_line(finding: Finding, unsafe_fixes: bool) -> str:
    location = click.style(f"{finding.path}:{finding.line}:{finding.column}:", bold=True)
    rule = click.style(finding.rule, fg="red", bold=True)
    line = f"{location} {rule} {finding.message}"
    if applies_by_default(finding, unsafe_fixes):
        line += " " + click.style("[*]", fg="cyan")
    return line


def applies_by_default(finding: Finding, unsafe_fixes: bool) -> bool:
    return finding.fix is not None and (
        finding.safety is Safety.SAFE or (unsafe_fixes and finding.safety is Safety.UNSAFE)
    )


def plural(count: int, word: str) -> str:
    suffix = "es" if word.endswith(("s", "x", "sh", "ch")) else "s"
    return f"{count} {word}{'' if count == 1 else suffix}"
