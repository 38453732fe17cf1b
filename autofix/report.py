"""How findings are shown: the output formats (a registry, name -> renderer), and the summary
lines, statistics table and list of applied fixes in the shapes Ruff users know.

A renderer takes the `Results` of a run and returns the text to print. Adding a format is one
entry in FORMATS; `human` formats are followed by the summary lines, the others are documents
for machines and print nothing else on stdout."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Sequence
from xml.etree import ElementTree

import click

from autofix import __version__
from autofix.notebook import Notebook
from autofix.rule import Finding, Safety

if TYPE_CHECKING:
    from autofix.runner import FileReport

SNIPPET_LINES = 3  # source lines shown under a finding in the text format


@dataclass
class Results:
    """What a run found, as every output format reads it."""

    reports: Sequence["FileReport"]

    @property
    def files_scanned(self) -> int:
        return len(self.reports)

    @cached_property
    def findings(self) -> list[Finding]:
        return [f for r in self.reports for f in r.findings]

    @cached_property
    def fixed(self) -> list[Finding]:
        return [f for r in self.reports if r.changed for f in r.fixed]

    @cached_property
    def errors(self) -> list[tuple[str, str]]:
        return [(r.path, r.error) for r in self.reports if r.error]

    @cached_property
    def _unsafe_by_path(self) -> dict[str, bool | None]:
        return {r.path: r.unsafe_fixes for r in self.reports}

    def applies(self, finding: Finding) -> bool:
        """Whether `autofix fix` applies this finding's fix under its file's settings."""
        return applies_by_default(finding, self._unsafe_by_path.get(finding.path) is True)

    def hidden(self, finding: Finding) -> bool:
        """An unsafe fix left out because unsafe fixes were not asked for (not refused)."""
        return (
            finding.fix is not None
            and finding.safety is Safety.UNSAFE
            and self._unsafe_by_path.get(finding.path) is None
        )

    @cached_property
    def by_path(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.path, []).append(finding)
        return grouped

    @cached_property
    def _reports_by_path(self) -> dict[str, "FileReport"]:
        return {r.path: r for r in self.reports}

    @cached_property
    def _lines(self) -> dict[tuple[str, int | None], list[str]]:
        return {}

    def source_lines(self, path: str, cell: int | None = None) -> list[str]:
        """The lines the findings of `path` (or of its notebook cell) point at, the source
        after any fixes."""
        if (path, cell) not in self._lines:
            text = self._reports_by_path[path].texts()[1]
            if cell is not None:
                text = Notebook(text).cells[cell - 1].source
            self._lines[(path, cell)] = text.splitlines()
        return self._lines[(path, cell)]


Renderer = Callable[[Results], str]


@dataclass(frozen=True)
class OutputFormat:
    render: Renderer
    human: bool  # followed by the summary lines; the others are machine documents
    carries_errors: bool  # the document lists unreadable files itself (else: stderr)
    help: str


def applies_by_default(finding: Finding, unsafe_fixes: bool) -> bool:
    return finding.fix is not None and (
        finding.safety is Safety.SAFE or (unsafe_fixes and finding.safety is Safety.UNSAFE)
    )


def plural(count: int, word: str) -> str:
    suffix = "es" if word.endswith(("s", "x", "sh", "ch")) else "s"
    return f"{count} {word}{'' if count == 1 else suffix}"


# --- the formats -------------------------------------------------------------------------

def concise_line(finding: Finding, results: Results) -> str:
    """`path:line:col: rule [*] message`, as Ruff's concise format."""
    location = click.style(finding.path, bold=True) + click.style(":", fg="cyan")
    if finding.cell is not None:
        location += f"cell {finding.cell}" + click.style(":", fg="cyan")
    location += f"{finding.line}" + click.style(":", fg="cyan") + f"{finding.column}"
    location += click.style(":", fg="cyan")
    marker = f"[{click.style('*', fg='cyan')}] " if results.applies(finding) else ""
    return f"{location} {click.style(finding.rule, fg='red', bold=True)} {marker}{finding.message}"


def concise(results: Results) -> str:
    return "".join(concise_line(f, results) + "\n" for f in results.findings)


def text(results: Results) -> str:
    """Each finding's line followed by the source it points at, underlined."""
    return "".join(
        concise_line(finding, results) + "\n" + _snippet(finding, results) + "\n"
        for finding in results.findings
    )


def _snippet(finding: Finding, results: Results) -> str:
    lines = results.source_lines(finding.path, finding.cell)
    last = min(finding.end_line, finding.line + SNIPPET_LINES - 1, len(lines))
    width = len(str(last))
    gutter = click.style(" " * width + " |", fg="blue")
    out = [gutter]
    for number in range(finding.line, last + 1):
        out.append(click.style(f"{number:>{width}} |", fg="blue") + f" {lines[number - 1]}")
        if number == finding.line:
            line = lines[number - 1]
            end = finding.end_column if finding.end_line == number else len(line) + 1
            carets = "^" * max(1, end - finding.column)
            out.append(gutter + " " * finding.column + click.style(carets, fg="red", bold=True))
    if last < finding.end_line:
        out.append(click.style(" " * width + " :", fg="blue"))
    out.append(gutter)
    return "\n".join(out) + "\n"


def grouped(results: Results) -> str:
    """Findings under their file's name, as Ruff's grouped format."""
    out = []
    for path, in_file in results.by_path.items():
        lines = {f: f"cell {f.cell}:{f.line}" if f.cell is not None else str(f.line) for f in in_file}
        rows = max(len(line) for line in lines.values())
        columns = len(str(max(f.column for f in in_file)))
        out.append(click.style(path, underline=True) + ":\n")
        for f in in_file:
            marker = f"[{click.style('*', fg='cyan')}] " if results.applies(f) else ""
            out.append(
                f"  {lines[f]:>{rows}}{click.style(':', fg='cyan')}{f.column:<{columns}} "
                f"{click.style(f.rule, fg='red', bold=True)} {marker}{f.message}\n"
            )
        out.append("\n")
    return "".join(out)


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


def json_lines(results: Results) -> str:
    """One finding object (the JSON format's) per line."""
    return "".join(json.dumps(f.to_json(), separators=(",", ":")) + "\n" for f in results.findings)


def junit(results: Results) -> str:
    """JUnit XML as Ruff writes it: a test suite per file, a failing test case per finding
    (and an erroring one per file that could not be analysed)."""
    failures, errors = len(results.findings), len(results.errors)
    root = ElementTree.Element(
        "testsuites", name="autofix", tests=str(failures + errors or 1),
        failures=str(failures), errors=str(errors),
    )
    by_path: dict[str, list] = {path: list(found) for path, found in results.by_path.items()}
    for path, message in results.errors:
        by_path.setdefault(path, []).append(message)
    if not by_path:
        suite = ElementTree.SubElement(
            root, "testsuite", name="autofix", tests="1", disabled="0", errors="0",
            failures="0", package="org.autofix",
        )
        ElementTree.SubElement(suite, "testcase", name="No errors found", classname="autofix")
    for path, items in sorted(by_path.items()):
        found = [i for i in items if isinstance(i, Finding)]
        suite = ElementTree.SubElement(
            root, "testsuite", name=path, tests=str(len(items)), disabled="0",
            errors=str(len(items) - len(found)), failures=str(len(found)), package="org.autofix",
        )
        classname = path[:-3] if path.endswith(".py") else path
        for item in items:
            if isinstance(item, Finding):
                case = ElementTree.SubElement(
                    suite, "testcase", name=f"org.autofix.{item.rule}", classname=classname,
                    line=str(item.line), column=str(item.column),
                )
                properties = ElementTree.SubElement(case, "properties")
                ElementTree.SubElement(properties, "property", name="severity", value="error")
                failure = ElementTree.SubElement(case, "failure", message=item.message)
                failure.text = f"line {item.line}, col {item.column}, {item.message}"
            else:
                case = ElementTree.SubElement(suite, "testcase", name="org.autofix.error", classname=classname)
                ElementTree.SubElement(case, "error", message=item).text = item
    ElementTree.indent(root, space="    ")
    body = ElementTree.tostring(root, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _annotations(results: Results) -> str:
    from autofix.annotations import github_annotations

    return github_annotations(results.findings, results.errors)


def _sarif(results: Results) -> str:
    from autofix.sarif import sarif_report

    sources = {r.path: r.new_source for r in results.reports}  # what the findings point at
    return sarif_report(results.findings, results.errors, sources) + "\n"


FORMATS: dict[str, OutputFormat] = {
    "text": OutputFormat(text, True, False, "each finding with the source it points at"),
    "concise": OutputFormat(concise, True, False, "one `path:line:col: rule message` line each"),
    "grouped": OutputFormat(grouped, True, False, "findings under their file's name"),
    "json": OutputFormat(
        lambda r: json_report(r.files_scanned, r.findings, r.errors) + "\n", False, True,
        "one object: version, files_scanned, findings, errors",
    ),
    "json-lines": OutputFormat(json_lines, False, False, "one finding object per line"),
    "junit": OutputFormat(junit, False, True, "JUnit XML, a test case per finding"),
    "github": OutputFormat(_annotations, False, True, "GitHub Actions annotations on the diff"),
    "sarif": OutputFormat(_sarif, False, True, "SARIF 2.1.0 for code scanning"),
}


# --- statistics, fixes applied, summary lines -----------------------------------------------

def statistics(results: Results) -> str:
    """Ruff's `--statistics` table: count, rule, [*] all / [-] some / [ ] none fixable, summary."""
    from autofix import registry

    rows = _statistics_rows(results)
    if not rows:
        return ""
    count_width = len(str(max(r["count"] for r in rows)))
    rule_width = max(len(r["rule"]) for r in rows)
    any_fixable = any(r["fixable_count"] for r in rows)
    lines = []
    for row in rows:
        if not any_fixable:
            marker = ""
        elif row["fixable"]:
            marker = f"[{click.style('*', fg='cyan')}] "
        elif row["fixable_count"]:
            marker = f"[{click.style('-', fg='cyan')}] "
        else:
            marker = "[ ] "
        summary = registry.available()[row["rule"]].summary if row["rule"] in registry.available() else ""
        lines.append(
            f"{click.style(str(row['count']).rjust(count_width), bold=True)}\t"
            f"{click.style(row['rule'].ljust(rule_width), fg='red', bold=True)}\t{marker}{summary}\n"
        )
    return "".join(lines)


def statistics_json(results: Results) -> str:
    return json.dumps(_statistics_rows(results), indent=2) + "\n"


def _statistics_rows(results: Results) -> list[dict]:
    counts = Counter(f.rule for f in results.findings)
    fixable = Counter(f.rule for f in results.findings if results.applies(f))
    rows = [
        {"rule": rule, "count": n, "fixable": fixable[rule] == n, "fixable_count": fixable[rule]}
        for rule, n in sorted(counts.items())
    ]
    return sorted(rows, key=lambda row: -row["count"])


def fixes_applied(results: Results) -> str:
    """What `fix` changed, per file (Ruff's `--show-fixes` list)."""
    if not results.fixed:
        return ""
    per_file = [(r.path, Counter(f.rule for f in r.fixed)) for r in results.reports if r.changed and r.fixed]
    width = len(str(max(n for _, counts in per_file for n in counts.values())))
    lines = [click.style(f"Fixed {plural(len(results.fixed), 'finding')}:", fg="green", bold=True)]
    for path, counts in per_file:
        lines.append(f"{click.style('-', fg='cyan')} {click.style(path, bold=True)}{click.style(':', fg='cyan')}")
        for rule, n in counts.most_common():
            lines.append(f"    {n:>{width}} × {click.style(rule, fg='red', bold=True)}")
    return "\n".join(lines) + "\n"


def summary(results: Results) -> list[str]:
    """The lines after the findings of `check` and `fix`, worded as Ruff words them."""
    fixed, remaining = len(results.fixed), len(results.findings)
    if fixed:
        lines = [f"Found {plural(fixed + remaining, 'finding')} ({fixed} fixed, {remaining} remaining)."]
    elif remaining:
        lines = [f"Found {plural(remaining, 'finding')}."]
    elif results.errors:
        lines = []
    else:
        lines = [click.style(f"All checks passed ({plural(results.files_scanned, 'file')} scanned).", fg="green", bold=True)]
    applicable = sum(map(results.applies, results.findings))
    hidden = sum(map(results.hidden, results.findings))
    marker = f"[{click.style('*', fg='cyan')}]"
    hint = f"{plural(hidden, 'hidden fix')} can be enabled with the `--unsafe-fixes` option"
    if applicable and hidden:
        lines.append(f"{marker} {applicable} fixable with `autofix fix` ({hint}).")
    elif applicable:
        lines.append(f"{marker} {applicable} fixable with `autofix fix`.")
    elif hidden:
        lines.append(f"No fixes available ({hint}).")
    return lines


def diff_summary(results: Results) -> list[str]:
    """The line after a diff: what it would fix, and the unsafe fixes it leaves out."""
    fixed = len(results.fixed)
    hidden = sum(map(results.hidden, results.findings))
    if hidden and fixed:
        return [f"Would fix {plural(fixed, 'finding')} ({plural(hidden, 'additional fix')} available with `--unsafe-fixes`)."]
    if hidden:
        return [f"No findings would be fixed ({plural(hidden, 'fix')} available with `--unsafe-fixes`)."]
    return [f"Would fix {plural(fixed, 'finding')}."] if fixed else []
