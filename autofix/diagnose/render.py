"""How `autofix diagnose` prints its report: text for people, one JSON object for machines."""

from __future__ import annotations

import json
import textwrap

import click

from autofix import __version__
from autofix.diagnose.report import Diagnosis, Report
from autofix.runner import display_path

WIDTH = 96
SHOWN_FINDINGS = 3


def as_json(report: Report) -> str:
    return json.dumps(
        {
            "version": __version__,
            "known": report.known,
            "diagnoses": [_diagnosis_json(d) for d in report.diagnoses],
            "locations": [
                {"path": display_path(p.path), "line": p.line, **({"cell": p.cell} if p.cell else {})}
                for p in report.places
            ],
            "analysed": [display_path(p) for p in report.analysed],
            "closest": [{"id": e.id, "title": e.title, "similarity": s} for e, s in report.closest],
            "errors": [{"path": path, "message": message} for path, message in report.errors],
        },
        indent=2,
    )


def _diagnosis_json(diagnosis: Diagnosis) -> dict:
    return {
        **diagnosis.entry.to_json(),
        "matched": diagnosis.match.text,
        "captures": diagnosis.match.captures,
        "findings": [
            {**n.finding.to_json(), "lines_from_traceback": n.lines_away, "diff": n.diff}
            for n in diagnosis.findings
        ],
    }


def as_text(report: Report) -> str:
    if not report.known:
        return _unknown(report)
    return "\n".join(_diagnosis_text(d, report) for d in report.diagnoses)


def _unknown(report: Report) -> str:
    from autofix.diagnose.knowledge import error_line

    lines = [
        click.style("Unknown error: ", bold=True) + "no entry of the knowledge base matches",
        _indent(error_line(report.text)[:300]),
        "",
        "Closest entries:",
    ]
    for entry, similarity in report.closest:
        lines.append(f"  {click.style(entry.id, bold=True)}  {entry.title} (similarity {similarity:.2f})")
    lines.append("")
    lines.append("`autofix check` still finds the training bugs it knows in your code.")
    return "\n".join(lines) + "\n"


def _diagnosis_text(diagnosis: Diagnosis, report: Report) -> str:
    entry = diagnosis.entry
    out = [
        click.style(entry.id, fg="red", bold=True) + f": {entry.title}",
        _indent(f"{entry.raised_as + ': ' if entry.raised_as else ''}{diagnosis.match.text}"),
        "",
        click.style("Root cause", bold=True),
        _indent(entry.root_cause),
    ]
    if entry.dead_ends:
        out += ["", click.style("Dead ends", bold=True)]
        for dead_end in entry.dead_ends:
            out.append(_bullet(f"{dead_end.attempt}: {dead_end.why}"))
    if entry.workarounds:
        out += ["", click.style("What works", bold=True)]
        out += [_bullet(w) for w in entry.workarounds]
    out += ["", f"Docs: {entry.docs}"]
    out += ["", *_code_section(diagnosis, report)]
    return "\n".join(out) + "\n"


def _code_section(diagnosis: Diagnosis, report: Report) -> list[str]:
    entry = diagnosis.entry
    if not entry.rules:
        return ["No autofix rule catches this one: see what works, above."]
    rules = ", ".join(entry.rules)
    header = click.style("In your code", bold=True) + f" (rules: {rules})"
    if not report.analysed:
        return [
            header,
            _indent(
                "The text names no local file. Run `autofix check --select "
                f"{','.join(entry.rules)} PATH` on your training code, or give it with --source PATH."
            ),
        ]
    if not diagnosis.findings:
        files = ", ".join(display_path(p) for p in report.analysed)
        return [header, _indent(f"None of these rules finds anything in {files}.")]
    out = [header]
    for nearby in diagnosis.findings[:SHOWN_FINDINGS]:
        finding = nearby.finding
        away = nearby.lines_away
        where = (
            "on a line of the traceback; " if away == 0
            else f"{away} line{'s' if away != 1 else ''} from the traceback; " if away is not None
            else "in another cell than the traceback's; " if nearby.distance[0] == 1
            else ""
        )
        safety = {"safe": "safe fix", "unsafe": "unsafe fix: review it", "none": "no automatic fix"}[
            finding.safety.value
        ]
        place = f"{finding.place}:{finding.column}:"
        out.append(f"  {click.style(place, bold=True)} {finding.rule} ({where}{safety})")
        out.append(_indent(finding.message, 4))
        if nearby.diff:
            out += ["    " + line for line in nearby.diff.rstrip("\n").split("\n")]
    hidden = len(diagnosis.findings) - SHOWN_FINDINGS
    if hidden > 0:
        out.append(f"  ... and {hidden} more (`autofix check --select {','.join(entry.rules)}`)")
    fixable = [n for n in diagnosis.findings if n.diff]
    if fixable:
        paths = " ".join(sorted({n.finding.path for n in fixable}))
        unsafe = " --unsafe-fixes" if any(n.finding.safety.value == "unsafe" for n in fixable) else ""
        out.append(f"  Apply: autofix fix --select {','.join(entry.rules)}{unsafe} {paths}")
    return out


def _indent(text: str, by: int = 2) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=" " * by, subsequent_indent=" " * by,
                         break_long_words=False, break_on_hyphens=False)


def _bullet(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="  - ", subsequent_indent="    ",
                         break_long_words=False, break_on_hyphens=False)
