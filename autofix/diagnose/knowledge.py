"""The error knowledge base: one TOML file per PyTorch error, warning or silent symptom in
`autofix/diagnose/errors/`, loaded once per process and matched against pasted text.

Patterns are matched against the text with ANSI colours removed and every run of whitespace
made one space, so messages wrapped by a terminal, a notebook or an issue tracker still match.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

KINDS = ("error", "warning", "silent")
REQUIRED = ("id", "title", "kind", "raised_as", "pattern", "root_cause", "rules", "docs", "versions")
OPTIONAL = ("messages", "dead_ends", "workarounds")
TABLE_KEYS = {"messages": {"text", "torch"}, "dead_ends": {"attempt", "why"}}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_WHITESPACE = re.compile(r"\s+")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Warning)\b:? ?(.*)$")


class KnowledgeError(ValueError):
    """A knowledge-base file is malformed; the message names the file."""


@dataclass(frozen=True)
class Message:
    """One wording PyTorch prints, and the releases known to print it."""

    text: str
    torch: str


@dataclass(frozen=True)
class DeadEnd:
    """What people try that does not help, and why."""

    attempt: str
    why: str


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    kind: str  # error | warning | silent
    raised_as: str  # the exception or warning class, "" for a silent symptom
    pattern: re.Pattern
    messages: tuple[Message, ...]
    root_cause: str
    rules: tuple[str, ...]
    dead_ends: tuple[DeadEnd, ...]
    workarounds: tuple[str, ...]
    versions: str
    docs: str

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "raised_as": self.raised_as,
            "root_cause": self.root_cause,
            "rules": list(self.rules),
            "dead_ends": [{"attempt": d.attempt, "why": d.why} for d in self.dead_ends],
            "workarounds": list(self.workarounds),
            "versions": self.versions,
            "docs": self.docs,
        }


@dataclass(frozen=True)
class Match:
    """Where an entry's pattern matched the (normalised) text, with the captured parts."""

    entry: Entry
    text: str
    start: int
    captures: dict[str, str]


def normalize(text: str) -> str:
    """`text` without ANSI colours, every run of whitespace one space."""
    return _WHITESPACE.sub(" ", _ANSI.sub("", text)).strip()


@lru_cache(maxsize=1)
def entries() -> tuple[Entry, ...]:
    """Every entry of the knowledge base, in id order."""
    folder = resources.files("autofix.diagnose") / "errors"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    loaded = tuple(_load(f.name, f.read_text(encoding="utf-8")) for f in files)
    ids = [e.id for e in loaded]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"duplicate entry ids in {folder}")
    return loaded


def get(entry_id: str) -> Entry:
    for entry in entries():
        if entry.id == entry_id:
            return entry
    raise KeyError(entry_id)


def match(text: str) -> list[Match]:
    """The entries whose pattern occurs in `text`, each once, in order of first occurrence."""
    flat = normalize(text)
    found = []
    for entry in entries():
        hit = entry.pattern.search(flat)
        if hit:
            captures = {k: v for k, v in hit.groupdict().items() if v is not None}
            found.append(Match(entry, hit.group(0), hit.start(), captures))
    return sorted(found, key=lambda m: (m.start, m.entry.id))


def closest(text: str, limit: int = 3) -> list[tuple[Entry, float]]:
    """The entries most similar to the error in `text`, best first, with a 0..1 similarity."""
    probe = error_line(text).lower()
    scored = []
    for entry in entries():
        # Messages start with their stable part: compare the probe with as much of each.
        candidates = [m.text[: max(len(probe), 30)] for m in entry.messages] + [entry.title]
        score = max(difflib.SequenceMatcher(None, probe, c.lower()).ratio() for c in candidates)
        scored.append((entry, round(score, 2)))
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored[:limit]


def error_line(text: str) -> str:
    """The message of the last `SomeError: message` line of `text`, else the text itself."""
    lines = [line for line in _ANSI.sub("", text).splitlines() if line.strip()]
    for line in reversed(lines):
        found = _EXCEPTION_LINE.match(line)
        if found and found.group(1):
            return found.group(1).strip()
    return normalize(text)[:400]


def _load(name: str, text: str) -> Entry:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KnowledgeError(f"{name}: {error}") from None
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise KnowledgeError(f"{name}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise KnowledgeError(f"{name}: unknown keys {', '.join(unknown)}")
    for table, keys in TABLE_KEYS.items():
        for row in data.get(table, ()):
            if set(row) != keys:
                raise KnowledgeError(f"{name}: each of {table} needs exactly {', '.join(sorted(keys))}")
    if data["kind"] not in KINDS:
        raise KnowledgeError(f"{name}: kind must be one of {', '.join(KINDS)}")
    if name != f"{data['id']}.toml":
        raise KnowledgeError(f"{name}: the file must be named after its id {data['id']!r}")
    try:
        pattern = re.compile(data["pattern"])
    except re.error as error:
        raise KnowledgeError(f"{name}: bad pattern: {error}") from None
    return Entry(
        id=data["id"],
        title=data["title"],
        kind=data["kind"],
        raised_as=data["raised_as"],
        pattern=pattern,
        messages=tuple(Message(m["text"], m["torch"]) for m in data.get("messages", ())),
        root_cause=" ".join(data["root_cause"].split()),
        rules=tuple(data["rules"]),
        dead_ends=tuple(
            DeadEnd(" ".join(d["attempt"].split()), " ".join(d["why"].split()))
            for d in data.get("dead_ends", ())
        ),
        workarounds=tuple(" ".join(w.split()) for w in data.get("workarounds", ())),
        versions=" ".join(data["versions"].split()),
        docs=data["docs"],
    )
