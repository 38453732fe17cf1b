"""What the bot writes on a pull request: its title, its section of the body (between markers, so
that whatever people write around it survives every update) and the comment it closes with."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from autofix.patch import RuleCommit, subject
from autofix.report import plural
from autofix.rule import Finding, Safety

if TYPE_CHECKING:
    from autofix.settings import Options

START = "<!-- autofix:start -->"
END = "<!-- autofix:end -->"
TITLE_PREFIX = "autofix:"


@dataclass(frozen=True)
class Scope:
    """What a run looked at (its paths and command-line options; the repository's own
    configuration applies by itself), so the body can say how to reproduce it."""

    paths: tuple[str, ...]
    options: "Options"

    def command(self, verb: str) -> str:
        options = self.options
        words = ["autofix", verb]
        for flag, names in (
            ("--select", options.select), ("--extend-select", options.extend_select),
            ("--ignore", options.ignore), ("--exclude", options.exclude),
            ("--extend-exclude", options.extend_exclude),
        ):
            if names:
                words += [flag, ",".join(names)]
        if options.config_file:
            words += ["--config", options.config_file]
        if options.unsafe_fixes and verb != "check":
            words.append("--unsafe-fixes")
        return shlex.join([*words, *self.paths])


def title(commits: Sequence[RuleCommit]) -> str:
    if len(commits) == 1:
        return subject(commits[0].rule, len(commits[0].findings))
    fixes = sum(len(c.findings) for c in commits)
    return f"{TITLE_PREFIX} {plural(fixes, 'fix')} for {plural(len(commits), 'rule')}"


def section(
    commits: Sequence[RuleCommit],
    findings: Sequence[Finding],
    errors: Sequence[tuple[str, str]],
    scope: Scope,
) -> str:
    """The bot's part of the body: a table of the findings and how to reproduce them."""
    fixes = sum(len(c.findings) for c in commits)
    lines = [
        START,
        f"autofix found {plural(len(findings), 'PyTorch training bug')}; this pull request "
        f"fixes {fixes} of them in {plural(len(commits), 'commit')}, one per rule.",
        "",
        "| rule | location | why | safety |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{f.rule}` | `{f.path}:{f.line}` | {_cell(f.message)} | {_safety(f)} |"
        for f in findings
    ]
    if errors:
        lines += ["", "Not analysed:", ""]
        lines += [f"- `{path}`: {_cell(message)}" for path, message in errors]
    lines += [
        "",
        "Reproduce locally (nothing is written; `autofix explain RULE` says why each rule matters):",
        "",
        "```bash",
        scope.command("diff"),
        scope.command("check"),
        "```",
        "",
        "_`autofix pr` keeps this section up to date; text outside it is yours and stays._",
        END,
    ]
    return "\n".join(lines)


def _safety(finding: Finding) -> str:
    if finding.fix is None:
        return "none: fix by hand"
    if finding.safety is Safety.UNSAFE:
        return "unsafe: applied only with `--unsafe-fixes`; review it"
    return finding.safety.value


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def merge(body: str, new_section: str) -> str:
    """`body` with the bot's section replaced by `new_section` (appended when the markers were
    removed), everything else left as it was. A description edited in a browser comes back with
    CRLF line endings: the section is written the same way, so an unchanged section stays equal."""
    if "\r\n" in body:
        new_section = new_section.replace("\r\n", "\n").replace("\n", "\r\n")
    start, end = body.find(START), body.find(END)
    if start == -1 or end < start:
        newline = "\r\n" if "\r\n" in body else "\n"
        return f"{body.rstrip()}{newline * 2}{new_section}" if body.strip() else new_section
    return body[:start] + new_section + body[end + len(END):]


def keep_title(current: str, new: str) -> str:
    """The bot's titles follow the findings; a title somebody rewrote stays theirs."""
    return new if current.startswith(TITLE_PREFIX) else current


def closing_comment(base: str, findings: Sequence[Finding], scope: Scope) -> str:
    left = (
        f" {plural(len(findings), 'finding')} without an automatic fix remain: "
        f"`{scope.command('check')}` lists them."
        if findings
        else ""
    )
    return (
        f"autofix finds nothing left to fix on `{base}`, so this pull request is no longer "
        f"needed: closing it.{left}"
    )
