"""The fixture corpus: fixtures/<rule>/<case>.py inputs, <case>.fixed.py expected outputs.

The first line of an input declares the symptom the bug shows under real torch:
  # symptom: raises <regex>   the program raises an exception matching <regex>
  # symptom: prints <regex>   the program prints a line matching <regex>
  # symptom: warns <regex>    the program emits a warning matching <regex>
  # symptom: none             a look-alike: correct code that must run clean
An input with a `.fixed.py` is a bug the rule fixes; an input without one is a look-alike (no
finding of the rule), unless its second line is `# fixture: report-only` (a finding, no fix).

`<case>.findings` pins what every rule together reports on the input, one finding a line:
`LINE:COL RULE SAFETY MESSAGE` (SAFETY is safe, unsafe or none). No file: no finding at all.
Regenerate after an intended change with `AUTOFIX_UPDATE_FINDINGS=1 pytest tests/test_fixtures.py`
and review the diff, as with Ruff's snapshots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from executor import Outcome

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_HEADER = re.compile(r"#\s*symptom:\s*(raises|prints|warns|none)\s*(.*)$")


@dataclass(frozen=True)
class Case:
    rule: str
    input: Path
    expected: Path | None
    kind: str  # raises | prints | warns | none
    pattern: str
    report_only: bool

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.input.stem}"

    @property
    def findings_file(self) -> Path:
        """The pinned findings of every rule on the input (absent: none expected)."""
        return self.input.with_name(self.input.stem + ".findings")

    @property
    def is_bug(self) -> bool:
        return self.expected is not None or self.report_only

    def shows_symptom(self, outcome: Outcome) -> bool:
        if self.kind == "raises":
            return bool(outcome.error) and re.search(self.pattern, outcome.error) is not None
        if self.kind == "prints":
            return re.search(self.pattern, outcome.stdout, re.MULTILINE) is not None
        if self.kind == "warns":
            return any(re.search(self.pattern, w) for w in outcome.warnings)
        return False


def read_symptom(path: Path, first_line: str) -> tuple[str, str]:
    """The kind and regex a program's `# symptom: ...` first line declares."""
    match = _HEADER.match(first_line)
    if match is None:
        raise ValueError(f"{path}: first line must declare '# symptom: ...'")
    return match.group(1), match.group(2).strip()


def load_cases() -> list[Case]:
    cases = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(rule_dir.glob("*.py")):
            if path.name.endswith(".fixed.py"):
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            kind, pattern = read_symptom(path, lines[0] if lines else "")
            expected = path.with_name(path.stem + ".fixed.py")
            cases.append(
                Case(
                    rule=rule_dir.name,
                    input=path,
                    expected=expected if expected.exists() else None,
                    kind=kind,
                    pattern=pattern,
                    report_only=len(lines) > 1 and lines[1].strip() == "# fixture: report-only",
                )
            )
    return cases
