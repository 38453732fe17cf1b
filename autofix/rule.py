"""The rule contract: what a rule declares, what it reports, and how a fix is expressed.

A rule never touches files: it reads a `FileContext` and yields `Violation`s, each naming the
node it is about and, optionally, a `Fix` made of `Edit`s on nodes of the same tree. The engine
turns violations into positioned `Finding`s and applies the fixes it is allowed to.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable, Sequence

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext


class Safety(str, enum.Enum):
    """How much review a fix needs: `safe` fixes are applied by default, `unsafe` ones only with
    `--unsafe-fixes`, `none` means the rule only reports."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


class EditKind(enum.Enum):
    REPLACE = "replace"
    REMOVE = "remove"
    INSERT_BEFORE = "insert_before"
    INSERT_AFTER = "insert_after"


@dataclass(frozen=True, eq=False)
class Edit:
    """One change to the tree: replace or remove `node`, or insert statements next to it."""

    kind: EditKind
    node: cst.CSTNode
    new: tuple[cst.CSTNode, ...] = ()

    @property
    def rewrites_node(self) -> bool:
        """Replacing or removing a node conflicts with any other edit inside it; inserting next
        to a statement leaves the statement itself intact."""
        return self.kind in (EditKind.REPLACE, EditKind.REMOVE)


def replace(node: cst.CSTNode, new: cst.CSTNode) -> Edit:
    return Edit(EditKind.REPLACE, node, (new,))


def remove(statement: cst.BaseStatement) -> Edit:
    return Edit(EditKind.REMOVE, statement)


def insert_before(statement: cst.BaseStatement, *code: str | cst.BaseStatement) -> Edit:
    return Edit(EditKind.INSERT_BEFORE, statement, _statements(code))


def insert_after(statement: cst.BaseStatement, *code: str | cst.BaseStatement) -> Edit:
    return Edit(EditKind.INSERT_AFTER, statement, _statements(code))


def _statements(code: Iterable[str | cst.BaseStatement]) -> tuple[cst.BaseStatement, ...]:
    return tuple(cst.parse_statement(c) if isinstance(c, str) else c for c in code)


@dataclass(frozen=True, eq=False)
class Fix:
    """A set of edits that must be applied together."""

    edits: tuple[Edit, ...]
    safety: Safety = Safety.SAFE

    @classmethod
    def of(cls, *edits: Edit, safety: Safety = Safety.SAFE) -> "Fix":
        return cls(tuple(edits), safety)


@dataclass(frozen=True, eq=False)
class Violation:
    """What a rule yields: the node the finding points at, the message, an optional fix."""

    node: cst.CSTNode
    message: str
    fix: Fix | None = None


@dataclass(frozen=True)
class Finding:
    """A positioned violation, as every output format reports it (1-based lines and columns)."""

    rule: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    safety: Safety = Safety.NONE
    fix: Fix | None = field(default=None, compare=False, repr=False)
    cell: int | None = None  # in a notebook: the cell (from 1), and `line` counts in that cell

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    @property
    def place(self) -> str:
        """`path:line`, or `path:cell N:line` in a notebook (as Ruff prints it)."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}"

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column, self.rule, self.message)

    def to_json(self) -> dict:
        located = {"cell": self.cell} if self.cell is not None else {}
        return {
            "rule": self.rule,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "fixable": self.fixable,
            "safety": self.safety.value,
            **located,
        }


class Rule(abc.ABC):
    """Base class of every rule. Subclasses set the class attributes and implement `check`.

    `docs` follows Ruff's shape: What it does / Why is this bad / Example / Use instead / Fix safety.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    docs: ClassVar[str]
    fix_safety: ClassVar[Safety] = Safety.NONE
    # Rules whose finding on the same line this rule's finding replaces: one bug, one finding
    # (zero_grad between backward and step is zero-grad-after-backward's, not also
    # step-without-backward's).
    supersedes: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def check(self, ctx: "FileContext") -> Iterable[Violation]:
        """Yield the violations of this rule in the file."""

    @classmethod
    def why(cls) -> str:
        """The first paragraph of 'Why is this bad?', as a one-line reason."""
        marker = "## Why is this bad?"
        text = cls.docs.split(marker, 1)[-1].strip()
        return " ".join(text.split("\n\n", 1)[0].split())


RuleSet = Sequence[type[Rule]]
