"""The abstract values of the semantic model: what an expression denotes, and which trainable
sources reach it.

A `Val` says what a value may be (its kinds: a module, an optimizer, a tensor ...), which heap
objects it may be (`objs`), and its gradient provenance: the trainable sources (modules,
parameters, requires-grad leaves, by heap id) reaching it through a live path, and those reaching
it only through a cut, with the cut. Values are immutable and hashable, so call results can be
memoised by their arguments; joins union everything, so a rule that fires on a cut never fires
while some path may still be live.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator


class Kind(enum.Enum):
    DATA = "data"  # numbers, strings, data tensors: nothing trainable in them
    TENSOR = "tensor"
    MODULE = "module"
    PARAMETERS = "parameters"  # model.parameters(), param groups: what an optimizer is given
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    SCALER = "scaler"
    FUNCTION = "function"  # a function, method, lambda of the file
    CLASS = "class"  # a class of the file
    OBJECT = "object"  # an instance of a plain class of the file (a trainer, an engine)
    CONTAINER = "container"  # a list, tuple or dict
    UNKNOWN = "unknown"


UNKNOWN_SOURCE = "?"  # the sources of an opaque value, once a cut severs them


@dataclass(frozen=True)
class Cut:
    """A trainable source severed from a value, and the node (by source order) that severed it."""

    source: str
    node: int


@dataclass(frozen=True)
class Val:
    kinds: frozenset = frozenset()
    objs: frozenset = frozenset()  # heap ids of the objects this value may be
    live: frozenset = frozenset()  # heap ids of trainable sources reaching it through a live path
    cuts: frozenset = frozenset()  # Cut(source, node): sources reaching it only through a cut
    opaque: bool = False  # may carry gradient from sources the model cannot name
    leaf: bool = False  # surely a leaf that requires grad (on every path): in-place updates raise
    idents: frozenset = frozenset()  # tensor identities: aliases and views share one
    savers: frozenset = frozenset()  # nodes in its history that saved a tensor for backward
    items: tuple | None = None  # positions of a tuple or list
    fields: tuple | None = None  # ((key, Val), ...) of a dict with constant keys
    members: "Val | None" = field(default=None)  # everything a container holds
    ends: tuple | None = None  # (first, last) element of a list built in an order the code shows
    defs: frozenset = frozenset()  # FUNCTION / CLASS: the definitions' source orders
    const: tuple | None = None  # (value,) for a literal the code wrote: None, True, 0.5, "train"

    # -- what it is ---------------------------------------------------------------------------

    def is_(self, kind: Kind) -> bool:
        return kind in self.kinds

    @property
    def requires_grad(self) -> bool:
        """Carries gradient from some source (named or not)."""
        return bool(self.live) or self.opaque or self.leaf

    @property
    def is_tensor(self) -> bool:
        return bool(self.idents)

    def member(self) -> "Val":
        """What iterating over or indexing this value gives."""
        parts = [*(self.items or ()), *(v for _, v in self.fields or ()), *([self.members] if self.members else []),
                 *(self.ends or ())]
        if not parts:
            return NOTHING
        return join(parts)

    def field(self, key) -> "Val | None":
        for name, value in self.fields or ():
            if name == key:
                return value
        return None

    def first_and_last(self) -> tuple["Val | None", "Val | None"]:
        """The first and last element, when the code shows them."""
        if self.items:
            return self.items[0], self.items[-1]
        return self.ends if self.ends is not None else (None, None)

    def sources(self) -> frozenset:
        """Every heap id in this value, deep: what an optimizer built from it holds."""
        found = set(self.objs) | set(self.live)
        for part in (*(self.items or ()), *(v for _, v in self.fields or ()), *(self.ends or ())):
            found |= part.sources()
        if self.members is not None:
            found |= self.members.sources()
        return frozenset(found)

    # -- what happens to it -------------------------------------------------------------------

    def cut_by(self, node: int) -> "Val":
        """The value after `node` severed it (`.detach()`, `.data`, a `no_grad` block)."""
        cuts = set(self.cuts) | {Cut(s, node) for s in self.live}
        if self.opaque:
            cuts.add(Cut(UNKNOWN_SOURCE, node))
        return replace(self, live=frozenset(), cuts=frozenset(cuts), opaque=False, leaf=False)

    def derived(self, ident: str | None = None) -> "Val":
        """A tensor computed from this one: the provenance stays, what it is does not."""
        return Val(
            kinds=frozenset({Kind.TENSOR}) if self.requires_grad or self.is_tensor else frozenset({Kind.DATA}),
            live=self.live, cuts=self.cuts, opaque=self.opaque,
            idents=frozenset({ident}) if ident else frozenset(), savers=self.savers,
        )


class _SomeNumber:
    """A number the code wrote, which one not kept: it is not None, and keeping the value would
    only multiply the contexts a function is run in (`Block(64)`, `Block(128)`)."""

    def __repr__(self) -> str:
        return "SOME_NUMBER"


SOME_NUMBER = _SomeNumber()


def literal(value) -> Val:
    return Val(kinds=frozenset({Kind.DATA}), const=(value,))


NOTHING = Val()
DATA = Val(kinds=frozenset({Kind.DATA}))
UNKNOWN = Val(kinds=frozenset({Kind.UNKNOWN}), opaque=True)


def join(values: Iterable[Val]) -> Val:
    result = None
    for value in values:
        result = value if result is None else _join2(result, value)
    return result if result is not None else NOTHING


def _join2(a: Val, b: Val) -> Val:
    if a == b:
        return a
    if a.items is not None and b.items is not None and len(a.items) == len(b.items):
        items = tuple(_join2(x, y) for x, y in zip(a.items, b.items))
    else:
        items = None
    fields = _join_fields(a.fields, b.fields)
    members = [m for m in (a.members, b.members) if m is not None]
    if (a.items is None) != (b.items is None) or (a.items and b.items and items is None):
        members += [x for x in (*(a.items or ()), *(b.items or ()))]
    return Val(
        kinds=a.kinds | b.kinds,
        objs=a.objs | b.objs,
        live=a.live | b.live,
        cuts=a.cuts | b.cuts,
        opaque=a.opaque or b.opaque,
        leaf=a.leaf and b.leaf,  # a leaf on every path: what an in-place claim needs
        idents=a.idents | b.idents,
        savers=a.savers | b.savers,
        items=items,
        fields=fields,
        members=join(members) if members else None,
        ends=_join_ends(a, b),
        defs=a.defs | b.defs,
        const=a.const if a.const == b.const else None,
    )


def _join_ends(a: Val, b: Val) -> tuple | None:
    """Joined ends: on each path the list starts (and ends) with one of these. An empty list
    on one path adds nothing; a list whose ends are unknown on one path makes them unknown."""
    ends = []
    for value in (a, b):
        if value.items == () and not value.members and value.ends is None:
            continue  # empty
        first, last = value.first_and_last()
        if first is None:
            return None
        ends.append((first, last))
    if not ends:
        return None
    return join(e[0] for e in ends), join(e[1] for e in ends)


def _join_fields(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a if b is None else b
    merged = dict(a)
    for key, value in b:
        merged[key] = _join2(merged[key], value) if key in merged else value
    return tuple(merged.items())


def flow(values: Iterable[Val], ident: str | None = None) -> Val:
    """The value an operation computes from `values`: their provenance, joined, as a new tensor
    (or as data when nothing in it is a tensor or carries gradient)."""
    parts = list(values)
    merged = Val(
        live=frozenset().union(*(v.live for v in parts)) if parts else frozenset(),
        cuts=frozenset().union(*(v.cuts for v in parts)) if parts else frozenset(),
        opaque=any(v.opaque for v in parts),
        idents=frozenset({"_"}) if any(v.is_tensor for v in parts) else frozenset(),
        savers=frozenset().union(*(v.savers for v in parts)) if parts else frozenset(),
    )
    return merged.derived(ident if merged.is_tensor or merged.requires_grad else None)


def walk(value: Val) -> Iterator[Val]:
    """The value and everything it contains."""
    yield value
    for part in (*(value.items or ()), *(v for _, v in value.fields or ()), *(value.ends or ())):
        yield from walk(part)
    if value.members is not None:
        yield from walk(value.members)
