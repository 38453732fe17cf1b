"""SARIF 2.1.0, the format code scanning reads (`autofix check --format sarif`): one run with the
rules' metadata (summary, why, the full docs as help), one result per finding with its location,
and the finding's fix as a SARIF `fix` (its text replacement) wherever a fix exists."""

from __future__ import annotations

import functools
import json
import os
from importlib import metadata
from typing import Callable, Mapping, Sequence
from urllib.parse import quote

from autofix import __version__, engine, registry
from autofix.rule import Finding, Rule, Safety
from autofix.sources import decode

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"

HelpUri = Callable[[type[Rule]], "str | None"]


def sarif_report(
    findings: Sequence[Finding],
    errors: Sequence[tuple[str, str]],
    sources: Mapping[str, bytes],
    rules: Sequence[type[Rule]] | None = None,
    help_uri: HelpUri | None = None,
) -> str:
    """The SARIF log of one `check` run. `sources` are the analysed files' bytes by path (for the
    fixes' replacements); `rules` the rules described (default: the whole catalogue, since each
    file may run its own selection)."""
    help_uri = help_uri or documentation_uri
    classes = list(rules or registry.available().values())
    index = {cls.name: i for i, cls in enumerate(classes)}
    fixed = _fixed_alone(findings, sources)
    results = []
    for finding in findings:
        result = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": "error",
            "message": {"text": finding.message},
            "locations": [_location(finding.path, _region(finding))],
        }
        if finding in fixed:
            result["fixes"] = [_fix(finding, sources[finding.path], fixed[finding])]
        results.append(result)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "autofix",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_descriptor(cls, help_uri(cls)) for cls in classes],
                    }
                },
                "originalUriBaseIds": {SOURCE_ROOT: {"uri": _directory_uri(os.getcwd())}},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": message},
                                "locations": [_location(path)],
                            }
                            for path, message in errors
                        ],
                    }
                ],
            }
        ],
    }
    return json.dumps(log, indent=2)


def _descriptor(cls: type[Rule], uri: str | None) -> dict:
    descriptor = {
        "id": cls.name,
        "name": cls.name,
        "shortDescription": {"text": cls.summary},
        "fullDescription": {"text": cls.why()},
        "help": {"text": cls.docs, "markdown": cls.docs},
        "defaultConfiguration": {"level": "error"},
        "properties": {"fixSafety": cls.fix_safety.value, "tags": ["pytorch", "correctness"]},
    }
    if uri:
        descriptor["helpUri"] = uri
    return descriptor


def documentation_uri(cls: type[Rule]) -> str | None:
    """The rule's documentation: its pack's `Project-URL: Documentation`, at the rule's anchor;
    None when the pack's distribution declares no such URL."""
    url = _documentation_of_package(cls.__module__.split(".", 1)[0])
    return f"{url}#{cls.name}" if url else None


@functools.lru_cache(maxsize=None)
def _documentation_of_package(top: str) -> str | None:
    for distribution in metadata.packages_distributions().get(top, []):
        for entry in metadata.metadata(distribution).get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "documentation" and url.strip():
                return url.strip()
    return None


def _uri(path: str) -> dict:
    if os.path.isabs(path):
        return {"uri": "file://" + quote(path.replace(os.sep, "/"))}
    return {"uri": quote(path.replace(os.sep, "/")), "uriBaseId": SOURCE_ROOT}


def _directory_uri(path: str) -> str:
    return "file://" + quote(path.replace(os.sep, "/").rstrip("/") + "/")


def _location(path: str, region: dict | None = None) -> dict:
    physical = {"artifactLocation": _uri(path)}
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def _region(finding: Finding) -> dict:
    return {
        "startLine": finding.line,
        "startColumn": finding.column,
        "endLine": finding.end_line,
        "endColumn": finding.end_column,
    }


def _fixed_alone(findings: Sequence[Finding], sources: Mapping[str, bytes]) -> dict[Finding, bytes]:
    """Each fixable finding's file with only its fix applied, as the engine proposes it (safe
    and unsafe fixes alike; a fix that would not verify is not proposed). The rules re-run on a
    file are those that found something in it."""
    by_path: dict[str, set[str]] = {}
    for finding in findings:
        if finding.fix is not None:
            by_path.setdefault(finding.path, set()).add(finding.rule)
    fixed = {}
    for path, names in sorted(by_path.items()):
        rules = registry.instantiate(names)
        for proposal in engine.proposals(sources[path], rules, path, lambda f: f.fix is not None):
            fixed[proposal.finding] = proposal.new_source
    return fixed


def _fix(finding: Finding, source: bytes, new_source: bytes) -> dict:
    old, new = decode(source), decode(new_source)
    safety = "unsafe: review it" if finding.safety is Safety.UNSAFE else finding.safety.value
    return {
        "description": {"text": f"autofix {finding.rule} ({safety})"},
        "artifactChanges": [
            {"artifactLocation": _uri(finding.path), "replacements": [_replacement(old, new)]}
        ],
    }


def _replacement(old: str, new: str) -> dict:
    """The changed lines as one replacement: from the first line that differs to the last."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    prefix = 0
    while prefix < min(len(old_lines), len(new_lines)) and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old_lines), len(new_lines)) - prefix
        and old_lines[-1 - suffix] == new_lines[-1 - suffix]
    ):
        suffix += 1
    end = len(old_lines) - suffix
    if end < len(old_lines) or old.endswith(("\n", "\r")) or not old_lines:
        end_line, end_column = end + 1, 1
    else:  # the change reaches a last line without a newline
        end_line, end_column = end, len(old_lines[-1]) + 1
    return {
        "deletedRegion": {
            "startLine": prefix + 1, "startColumn": 1, "endLine": end_line, "endColumn": end_column,
        },
        "insertedContent": {"text": "".join(new_lines[prefix: len(new_lines) - suffix])},
    }
