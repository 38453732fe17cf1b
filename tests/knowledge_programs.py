"""The programs behind the knowledge base, in tests/knowledge/<entry-id>/:

  trigger*.py     makes the entry's error, warning or silent symptom happen under real torch; a
                  `# diagnose: <rule>` comment marks the line where that rule's finding must be;
                  a silent symptom's second line `# report: <text>` is how a user describes it
  dead_end_N.py   shows why the entry's N-th dead end does not help
  workaround_N.py shows that its N-th workaround works
  claim_*.py      backs another sentence of the entry (root cause, versions)

Every program's first line declares what it shows, as fixtures do (`# symptom: raises|prints|
warns|none <regex>`); a workaround's "symptom" is the evidence that it works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cases import Case, read_symptom

KNOWLEDGE = Path(__file__).resolve().parent / "knowledge"
_MARKER = re.compile(r"#\s*diagnose:\s*([\w-]+)\s*$")
_REPORT = re.compile(r"^#\s*report:\s*(.+)$")


@dataclass(frozen=True)
class Program:
    entry: str
    path: Path
    case: Case  # what the program shows, checked as fixtures are
    markers: tuple[tuple[str, int], ...]  # (rule, line) of every `# diagnose:` comment
    report: str | None

    @property
    def id(self) -> str:
        return f"{self.entry}/{self.path.stem}"

    @property
    def is_trigger(self) -> bool:
        return self.path.stem.startswith("trigger")


def load_programs() -> list[Program]:
    programs = []
    for folder in sorted(p for p in KNOWLEDGE.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            kind, pattern = read_symptom(path, lines[0])
            markers = tuple(
                (m.group(1), number)
                for number, line in enumerate(lines, start=1)
                if (m := _MARKER.search(line))
            )
            report = _REPORT.match(lines[1]) if len(lines) > 1 else None
            programs.append(
                Program(
                    folder.name, path, Case(folder.name, path, None, kind, pattern, False),
                    markers, report.group(1) if report else None,
                )
            )
    return programs
