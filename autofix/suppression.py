"""Suppression comments: which findings they silence, and which of them silence nothing.

`# autofix: ignore` (every rule) or `# autofix: ignore[rule-name, other-rule]` on any line of the
statement a finding points at silences it — for a compound statement (`for`, `if`, `with`, `def`
...), any line of its header. `# noqa: rule-name` is honoured too, but only for names of autofix
rules: a bare `# noqa` and other tools' codes (`# noqa: E501`) belong to those tools (flake8,
Ruff), which users silence for reasons that say nothing about training bugs.

The engine asks `silences()` for every finding, then `unused()` for the `unused-suppression`
findings: comments that silence nothing (Ruff's RUF100), with a fix that removes the dead names,
or the whole comment when nothing of it is left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence

import libcst as cst

from autofix.rule import Edit, EditKind, Fix, Rule, Safety, Violation, replace

if TYPE_CHECKING:
    from autofix.context import FileContext

UNUSED_SUPPRESSION = "unused-suppression"

_AUTOFIX = re.compile(r"#\s*autofix:\s*ignore\b(?:\[(?P<names>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(
    r"#\s*noqa:\s*(?P<names>[\w-]+(?:(?:\s*,\s*|\s+)[\w-]+)*)", re.IGNORECASE
)
_SEPARATOR = re.compile(r"(\s*,\s*|\s+)")
_MENTIONED = re.compile(r"autofix|noqa", re.IGNORECASE)  # no comment needs looking at otherwise


class UnusedSuppression(Rule):
    name = UNUSED_SUPPRESSION
    summary = "A suppression comment silences nothing (or names no rule)"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for `# autofix: ignore[...]` and `# noqa: rule-name` comments that silence no finding of
the statement they are on, and for names in them that are not autofix rules (as Ruff's RUF100
does for `# noqa`). It is checked after every other rule, and only about rules that ran: a name
of a rule left out by `--select` or `--ignore` is never reported, and a bare `# autofix: ignore`
only when every rule ran.

## Why is this bad?
A suppression that silences nothing hides nothing today, but it will hide the next real bug on
that line. A misspelt rule name (`missing-zerograd`) suppresses nothing at all, while whoever
wrote it believes the finding is silenced.

## Example
```python
model = nn.Linear(2, 1)  # autofix: ignore[missing-zero-grad]
opt.step()  # autofix: ignore[missing-zerograd]
```

## Use instead
```python
model = nn.Linear(2, 1)
opt.step()  # autofix: ignore[missing-zero-grad]
```

## Fix safety
Safe for names that silence nothing: the dead names are removed, or the whole directive when none
is left; the rest of the comment (another tool's `# noqa: E501`, a `# type:` comment) is kept.
Unsafe when the comment names an unknown rule: it may be a typo of a rule meant to be silenced,
which removing hides; the finding suggests the closest rule name.
"""

    def check(self, ctx: "FileContext") -> Iterator[Violation]:
        """Nothing: which suppressions were used is known only after every other rule ran, so
        the engine asks `Suppressions.unused()` instead."""
        return iter(())


@dataclass(eq=False)
class Directive:
    """One `# autofix: ignore[...]` or `# noqa: ...` inside a comment."""

    comment: cst.Comment
    holder: cst.CSTNode  # the TrailingWhitespace or EmptyLine the comment belongs to
    line: int
    noqa: bool
    names: tuple[str, ...] | None  # None: every rule
    match: re.Match
    used: set[str] = field(default_factory=set)

    def silences(self, rule: str) -> bool:
        return self.names is None or rule in self.names


class Suppressions:
    """The suppression comments of one parse of a file."""

    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self.by_line: dict[int, list[Directive]] = {}
        if not _MENTIONED.search(ctx.module.code):
            return
        for node in ctx.nodes:
            if isinstance(node, cst.Comment):
                for directive in _directives(node, ctx):
                    self.by_line.setdefault(directive.line, []).append(directive)

    def silences(self, rule: str, node: cst.CSTNode) -> bool:
        """Whether a comment on the statement of `node` silences `rule` (and record it)."""
        if not self.by_line:
            return False
        matching = [
            d for line in _statement_lines(self.ctx, node) for d in self.by_line.get(line, ())
            if d.silences(rule)
        ]
        for directive in matching:
            directive.used.add(rule)
        return bool(matching)

    def unused(self, rules: Sequence[Rule]) -> Iterator[Violation]:
        """`unused-suppression` violations, when that rule is among `rules` (those that ran)."""
        ran = {rule.name for rule in rules}
        if UNUSED_SUPPRESSION not in ran:
            return
        from autofix import registry

        known = registry.available()
        every_rule_ran = set(known) <= ran
        for line in sorted(self.by_line):
            for directive in self.by_line[line]:
                if directive.names is None:
                    if not directive.used and every_rule_ran:
                        yield Violation(
                            directive.comment,
                            "unused suppression: no finding on this statement to silence",
                            Fix.of(*_without(directive, set())),
                        )
                    continue
                if UNUSED_SUPPRESSION in directive.names:
                    continue
                dead = [n for n in directive.names if n in ran and n not in directive.used]
                unknown = [] if directive.noqa else [n for n in directive.names if n not in known]
                if dead or unknown:
                    yield Violation(
                        directive.comment,
                        _message(dead, unknown),
                        Fix.of(
                            *_without(directive, {*dead, *unknown}),
                            safety=Safety.UNSAFE if unknown else Safety.SAFE,
                        ),
                    )


def _directives(comment: cst.Comment, ctx: "FileContext") -> Iterator[Directive]:
    line = ctx.position(comment).start.line
    holder = ctx.parent(comment)
    for pattern, noqa in ((_AUTOFIX, False), (_NOQA, True)):
        match = pattern.search(comment.value)
        if match is None:
            continue
        text = match.group("names")
        names = None if text is None else tuple(n for n in _SEPARATOR.split(text.strip())[::2] if n)
        if names == () and not noqa:
            names = None  # `# autofix: ignore[]` reads as the blanket form
        yield Directive(comment, holder, line, noqa, names, match)


def _statement_lines(ctx: "FileContext", node: cst.CSTNode) -> range:
    """The lines a suppression for `node` may sit on: its simple statement's lines, or the
    header of the compound statement (`for ...:`) when `node` is or sits in one."""
    for candidate in (node, *ctx.ancestors(node)):
        if isinstance(candidate, cst.SimpleStatementLine):
            position = ctx.position(candidate)
            return range(position.start.line, position.end.line + 1)
        if isinstance(candidate, cst.BaseCompoundStatement):
            start = ctx.position(candidate).start.line
            body = candidate.body
            header = body.header if isinstance(body, cst.IndentedBlock) else body
            return range(start, ctx.position(header).start.line + 1)
    position = ctx.position(node)
    return range(position.start.line, position.end.line + 1)


def _message(dead: Sequence[str], unknown: Sequence[str]) -> str:
    from autofix import registry

    parts = []
    if dead:
        verb = "silences" if len(dead) == 1 else "silence"
        parts.append(f"{', '.join(f'`{n}`' for n in dead)} {verb} no finding here")
    for name in unknown:
        near = registry.closest(name)
        parts.append(f"`{name}` is not a rule" + (f" (did you mean `{near}`?)" if near else ""))
    return "unused suppression: " + "; ".join(parts)


def _without(directive: Directive, names: set[str]) -> tuple[Edit, ...]:
    """The edit that drops `names` from the directive, or the whole directive when no name is
    left (a `# noqa:` is never left bare: that would silence every other tool's check)."""
    value, match = directive.comment.value, directive.match
    kept = _drop(match.group("names") or "", names) if directive.names is not None else ""
    if kept:
        start, end = match.span("names")
        return (replace(directive.comment, directive.comment.with_changes(value=value[:start] + kept + value[end:])),)
    before, after = value[: match.start()].rstrip(), value[match.end():].strip()
    rest = " ".join(part for part in (before, after if after.startswith("#") else "") if part)
    if rest:
        return (replace(directive.comment, directive.comment.with_changes(value=rest)),)
    holder = directive.holder
    if isinstance(holder, cst.TrailingWhitespace):
        return (replace(holder, holder.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)),)
    return (Edit(EditKind.REMOVE, holder),)


def _drop(names_text: str, dead: set[str]) -> str:
    """`names_text` without the `dead` names, keeping the separators between the others."""
    parts = _SEPARATOR.split(names_text.strip())
    tokens, separators = parts[0::2], parts[1::2]
    kept = [(separators[i - 1] if i else "", token) for i, token in enumerate(tokens) if token not in dead]
    if not kept:
        return ""
    return kept[0][1] + "".join(separator + token for separator, token in kept[1:])
