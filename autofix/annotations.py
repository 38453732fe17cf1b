"""GitHub Actions workflow commands (`autofix check --format github`): each finding becomes an
`::error` annotation shown on the pull request's diff, each unreadable file one too."""

from __future__ import annotations

from typing import Sequence

from autofix.rule import Finding


def github_annotations(findings: Sequence[Finding], errors: Sequence[tuple[str, str]]) -> str:
    lines = [
        _command(
            {
                "title": f"autofix ({f.rule})",
                "file": f.path,
                "line": f.line,
                "col": f.column,
                "endLine": f.end_line,
                "endColumn": f.end_column,
            },
            f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}",
        )
        for f in findings
    ]
    lines += [
        _command({"title": "autofix (error)", "file": path}, f"{path}: error: {message}")
        for path, message in errors
    ]
    return "".join(line + "\n" for line in lines)


def _command(properties: dict, message: str) -> str:
    rendered = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return f"::error {rendered}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    """As @actions/core escapes a command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """As @actions/core escapes a command's property values."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
