"""Putting it together: match the text against the knowledge base, find the local files the
traceback names, run the matching entries' rules on them, and rank the findings by how close
they are to the lines the traceback points at."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import libcst as cst

from autofix import engine, notebook, registry
from autofix.diagnose import knowledge
from autofix.diagnose.frames import Frame, frames
from autofix.diffing import unified_diff
from autofix.rule import Finding
from autofix.runner import display_path
from autofix.sources import SourceError, decode, read


@dataclass(frozen=True)
class Place:
    """A traceback line resolved to a local file (and, in a notebook, a cell)."""

    path: str
    line: int | None
    cell: int | None = None


@dataclass(frozen=True)
class NearbyFinding:
    finding: Finding
    distance: tuple[int, int]  # (0 same file/cell, 1 same notebook, 2 file not in the traceback; lines)
    diff: str  # the finding's own fix as a diff, "" when it has none

    @property
    def lines_away(self) -> int | None:
        return self.distance[1] if self.distance[0] == 0 else None


@dataclass
class Diagnosis:
    match: knowledge.Match
    findings: list[NearbyFinding] = field(default_factory=list)

    @property
    def entry(self) -> knowledge.Entry:
        return self.match.entry


@dataclass
class Report:
    text: str
    diagnoses: list[Diagnosis]
    places: list[Place]
    analysed: list[str]  # local files the rules ran on
    closest: list[tuple[knowledge.Entry, float]]
    errors: list[tuple[str, str]]

    @property
    def known(self) -> bool:
        return bool(self.diagnoses)


def diagnose(text: str, sources: Sequence[str] = ()) -> Report:
    """Everything `autofix diagnose` says about `text`; `sources` are files to analyse besides
    the ones the text names (a symptom has no traceback; a notebook's cells are `In [N]`)."""
    matches = knowledge.match(text)
    places = resolve(frames(text), sources)
    if not matches:
        return Report(text, [], places, [], knowledge.closest(text), [])
    diagnoses = [Diagnosis(m) for m in matches]
    rule_names = sorted({r for m in matches for r in m.entry.rules})
    files = _unique([p.path for p in places] + [os.path.normpath(s) for s in sources])
    errors: list[tuple[str, str]] = []
    if rule_names:
        for path in files:
            try:
                nearby = _findings(path, rule_names, [p for p in places if p.path == path])
            except SourceError as error:
                errors.append((display_path(path), str(error)))
                continue
            except cst.ParserSyntaxError as error:
                message = f"cannot parse: {error.message} (line {error.raw_line}, column {error.raw_column + 1})"
                errors.append((display_path(path), message))
                continue
            for diagnosis in diagnoses:
                diagnosis.findings += [n for n in nearby if n.finding.rule in diagnosis.entry.rules]
    for diagnosis in diagnoses:
        diagnosis.findings.sort(key=lambda n: (n.distance, n.finding.sort_key()))
    # Of two silent symptoms described alike, the one the code shows comes first.
    diagnoses.sort(key=lambda d: (d.entry.kind == "silent" and not d.findings, d.match.start))
    return Report(text, diagnoses, places, files if rule_names else [], [], errors)


def resolve(found: Iterable[Frame], sources: Sequence[str] = ()) -> list[Place]:
    """The frames that point at the user's own local files, as local places."""
    notebooks = [s for s in sources if notebook.is_notebook(s)]
    places = []
    for frame in found:
        if frame.is_library:
            continue
        if frame.cell is not None:
            candidates = [local_path(frame.path)] if frame.path else notebooks
            for path in filter(None, candidates):
                cell = _cell_of(path, frame.cell)
                if cell is not None:
                    places.append(Place(path, frame.line, cell))
            continue
        path = local_path(frame.path)
        if path is not None and not notebook.is_notebook(path):
            places.append(Place(path, frame.line))
    return _unique(places)


def local_path(printed: str) -> str | None:
    """The local file a traceback's path names: the path itself, or — for a traceback from
    another machine — its longest tail that exists under the current directory."""
    expanded = os.path.expanduser(printed)
    if os.path.isfile(expanded):
        return os.path.normpath(expanded)
    parts = [p for p in re.split(r"[/\\]", printed) if p and not re.fullmatch(r"[A-Za-z]:", p)]
    for start in range(1, len(parts)):
        candidate = os.path.join(*parts[start:])
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return None


def _cell_of(path: str, execution_count: int) -> int | None:
    """The number of the cell that ran as `In [execution_count]` in the notebook at `path`."""
    try:
        cells = notebook.Notebook.from_bytes(read(path)).cells
    except SourceError:
        return None
    for cell in cells:
        if cell.execution_count == execution_count:
            return cell.number
    return None


def _findings(path: str, rule_names: Sequence[str], places: Sequence[Place]) -> list[NearbyFinding]:
    source = read(path)
    shown = display_path(path)
    analyser = notebook if notebook.is_notebook(path) else engine
    rules = registry.resolve(list(rule_names))
    nearby = []
    for finding in analyser.lint(source, rules, shown).findings:
        nearby.append(
            NearbyFinding(finding, _distance(finding, places), _diff(analyser, source, rules, shown, finding))
        )
    return nearby


def _distance(finding: Finding, places: Sequence[Place]) -> tuple[int, int]:
    best = (2, finding.line)
    for place in places:
        if place.line is None:
            continue
        if place.cell == finding.cell:
            best = min(best, (0, abs(finding.line - place.line)))
        else:
            best = min(best, (1, abs((finding.cell or 0) - (place.cell or 0))))
    return best


def _diff(analyser, source: bytes, rules, path: str, target: Finding) -> str:
    """The diff of `target`'s fix alone (safe or not: the user reviews it before applying)."""
    if target.fix is None:
        return ""
    key = (target.rule, target.cell, target.line, target.column, target.message)
    single = analyser.fix(
        source, rules, path, lambda f: (f.rule, f.cell, f.line, f.column, f.message) == key, max_passes=1
    )
    return unified_diff(path, decode(source), decode(single.new_source)) if single.changed else ""


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
