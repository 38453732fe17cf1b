"""The semantic model of one file, as rules query it: what expressions denote, the training
events each entry point runs in order, gradient provenance of every loss, in-place updates of
saved tensors and leaves, and what `forward`s return. Computed lazily, once per parse
(`ctx.semantic`), by the interpreter (interpreter.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from autofix.analysis.events import Act, Event, InPlace, Return
from autofix.analysis.library import NOT_EAGER
from autofix.analysis.values import Kind, Val

if TYPE_CHECKING:
    from autofix.context import FileContext


@dataclass(frozen=True)
class Backward:
    """A backward in one run of an entry point, with the optimizer steps that use its gradients
    (those after it, before the next backward)."""

    event: Event
    steps: tuple[Event, ...]
    entry: cst.CSTNode


@dataclass(frozen=True)
class Severed:
    """A cut (`cut`: source order of the `.detach()`, `with torch.no_grad():` ...) through which
    alone trainable `sources` reach a backpropagated loss. `complete`: nothing reaches the loss
    live, so backward raises (or, after a re-wrap into a new leaf, trains nothing); otherwise the
    sources are held by the optimizer stepped after that backward and silently never train."""

    cut: int
    sources: tuple[str, ...]
    backward: Backward
    complete: bool


_COMPOUND = (cst.BinaryOperation, cst.UnaryOperation, cst.BooleanOperation, cst.IfExp, cst.Tuple, cst.List)


def _operands(node: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(node, cst.BinaryOperation):
        return [node.left, node.right]
    if isinstance(node, cst.UnaryOperation):
        return [node.expression]
    if isinstance(node, cst.BooleanOperation):
        return [node.left, node.right]
    if isinstance(node, cst.IfExp):
        return [node.body, node.orelse]
    return [element.value for element in node.elements]


class _NoObject:
    rewrapped = False


_NO_OBJ = _NoObject()


class SemanticModel:
    def __init__(self, ctx: "FileContext") -> None:
        from autofix.analysis.interpreter import Interpreter

        self._ctx = ctx
        self._interpreter = Interpreter(ctx)
        self.heap = self._interpreter.heap

    # -- what runs ------------------------------------------------------------------------------

    @property
    def traces(self) -> list[tuple[cst.CSTNode, list[Event]]]:
        return self._interpreter.traces

    @cached_property
    def backwards(self) -> list[Backward]:
        found = []
        for entry, events in self.traces:
            for index, event in enumerate(events):
                if event.act is Act.BACKWARD:
                    found.append(Backward(event, tuple(self._steps_using(events[index + 1:])), entry))
        return found

    def _steps_using(self, later: list[Event]) -> list[Event]:
        """The optimizer steps that use a backward's gradients: those after it, before the next
        backward, of optimizers whose gradients were not cleared in between."""
        steps, cleared = [], set()
        for event in later:
            if event.act is Act.BACKWARD:
                break
            if event.act is Act.ZERO_GRAD:
                cleared |= event.val.objs | self.heap.descendants(event.val.objs)
            elif event.act is Act.STEP and not (event.val.objs and all(self._cleared(o, cleared) for o in event.val.objs)):
                steps.append(event)
        return steps

    def _cleared(self, optimizer: str, cleared: set[str]) -> bool:
        obj = self.heap.get(optimizer)
        return optimizer in cleared or (
            obj is not None and bool(obj.holds) and all(h in cleared for h in obj.holds)
        )

    @cached_property
    def severed(self) -> list[Severed]:
        """Every cut that severs trainable sources from a backpropagated loss, once per cut,
        in source order."""
        found: dict[int, Severed] = {}
        for backward in self.backwards:
            for severed in self._severed(backward):
                known = found.get(severed.cut)
                if known is None or (severed.complete and not known.complete):
                    found[severed.cut] = severed
                elif not known.complete:
                    merged = tuple(sorted(set(known.sources) | set(severed.sources)))
                    found[severed.cut] = Severed(known.cut, merged, known.backward, False)
        return [found[cut] for cut in sorted(found)]

    @cached_property
    def _trained(self) -> set[str]:
        """The sources some backward of the file reaches through a live path."""
        return {s for b in self.backwards for s in b.event.val.live if not self.heap.objects.get(s, _NO_OBJ).rewrapped}

    def _severed(self, backward: Backward) -> list[Severed]:
        loss = backward.event.val
        heap = self.heap
        named = {c for c in loss.cuts if c.source in heap.objects}
        if not named:
            return []
        held = self.held(backward.steps) if backward.steps else None
        # A leaf made by re-wrapping the loss (`torch.tensor(loss, requires_grad=True)`) gives
        # backward something to do but trains nothing, unless it is what the optimizer steps.
        live = {
            s for s in loss.live
            if not (heap.objects.get(s, _NO_OBJ).rewrapped and held is not None and s not in held)
        }
        complete = not live and not loss.opaque
        by_cut: dict[int, set[str]] = {}
        for cut in named:
            source = cut.source
            obj = heap.objects[source]
            if heap.frozen(source) or not (obj.trainable or obj.kind is Kind.MODULE):
                continue
            if held is not None and source not in held:
                continue  # not the optimizer's to train (a target, a frozen teacher, data)
            if complete or (held is not None and not any(heap.related(l, source) for l in self._trained)):
                by_cut.setdefault(cut.node, set()).add(source)
        return [Severed(cut, tuple(sorted(sources)), backward, complete) for cut, sources in by_cut.items()]

    @property
    def inplace_updates(self) -> list[InPlace]:
        return sorted(self._interpreter.inplace.values(), key=lambda u: (u.node, u.saver or -1))

    @property
    def forward_returns(self) -> list[Return]:
        return sorted(self._interpreter.returns.values(), key=lambda r: r.node)

    @property
    def forward_calls(self) -> dict[int, Val]:
        """`x.forward(...)` calls (by source order) on values that are modules."""
        return self._interpreter.forward_calls

    def callees(self, call: cst.CSTNode) -> list[cst.CSTNode]:
        """The file's functions (and methods, forwards, constructors) a call ran, in source order."""
        orders = self._interpreter.callees.get(self._ctx.order(call), ())
        return [self._ctx.nodes[o] for o in sorted(orders)]

    def ran_through(self, call: cst.CSTNode, event: cst.CSTNode) -> bool | None:
        """Did some run of `call` run `event` (a training event below it)? None when the model
        never ran the call."""
        nodes = self._interpreter.call_events.get(self._ctx.order(call))
        if nodes is None:
            return None
        return self._ctx.order(event) in nodes

    def names_for(self, objs, scope: cst.CSTNode) -> list[str]:
        """Names (or `self.x` attributes) read in `scope` that denote exactly these objects,
        shortest first: how code there can refer to them."""
        found = set()
        for node in self._ctx.own_nodes(scope):
            if isinstance(node, (cst.Name, cst.Attribute)):
                value = self.denote(node)
                if value is not None and value.objs and value.objs == frozenset(objs):
                    code = self._ctx.code(node)
                    if code.replace(".", "").replace("_", "").isalnum():
                        found.add(code)
        return sorted(found, key=lambda c: (len(c), c))

    # -- what things are ------------------------------------------------------------------------

    def denote(self, node: cst.CSTNode) -> Val | None:
        """What `node` evaluated to, joined over every run that reached it (None: never run).
        Names, attributes, calls and subscripts are recorded as they run; an operator or a
        display is what its operands denote, joined."""
        recorded = self._interpreter.denoted.get(self._ctx.order(node))
        if recorded is not None or not isinstance(node, _COMPOUND):
            return recorded
        parts = [self.denote(child) for child in _operands(node)]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        from autofix.analysis.values import flow

        return flow(parts, "compound")

    def surely_without_grad(self, node: cst.CSTNode) -> bool:
        """`node` holds no tensor that requires grad in any run the model made of it (never
        run, or an argument no code of the file passes: not known, so False)."""
        value = self.denote(node)
        if value is None or value.requires_grad:
            return False
        return not any(ident.startswith("arg:") for ident in value.idents)

    def is_kind(self, node: cst.CSTNode, kind: Kind) -> bool:
        value = self.denote(node)
        if value is None:
            return False
        return kind in value.kinds or any(
            (obj := self.heap.get(o)) is not None and obj.kind is kind for o in value.objs
        )

    def built(self, node: cst.CSTNode, within: cst.CSTNode | None = None) -> str | None:
        """"module" when `node` denotes nn.Module instances only, "parameter" when it denotes
        nn.Parameters only (all created by code inside `within`, when given), else None."""
        value = self.denote(node)
        if value is None or not value.objs:
            return None
        objects = [self.heap.get(o) for o in value.objs]
        if within is not None:
            start = self._ctx.order(within)
            end = start + len(self._ctx.nodes_in(within))
            if not all(o is not None and o.site is not None and start <= o.site < end for o in objects):
                return None
        if all(o is not None and o.kind is Kind.MODULE for o in objects):
            return "module"
        if all(o is not None and o.kind is Kind.TENSOR and (o.cls or "").endswith("Parameter") for o in objects):
            return "parameter"
        return None

    def is_eager_module(self, node: cst.CSTNode) -> bool:
        """`node` denotes nn.Module instances only, whose `__call__` runs `forward` with hooks:
        not `torch.compile` / `torch.jit` results, not classes of the file overriding
        `__call__`."""
        value = self.denote(node)
        if value is None or not value.objs or value.kinds - {Kind.MODULE}:
            return False
        for source in value.objs:
            obj = self.heap.get(source)
            if obj is None or obj.kind is not Kind.MODULE or (obj.cls or "").startswith(NOT_EAGER):
                return False
            cls = self._interpreter.classes.by_order.get(obj.local_class) if obj.local_class is not None else None
            if cls is not None and self._interpreter.classes.method(cls, "__call__") is not None:
                return False
        return True

    def attribute_value(self, cls: cst.ClassDef, attr: str) -> Val | None:
        """What `self.<attr>` holds on the instances of `cls` the model built (joined)."""
        order = self._ctx.order(cls)
        parts = [o.attrs[attr] for o in self.heap.objects.values() if o.local_class == order and attr in o.attrs]
        if not parts:
            return None
        from autofix.analysis.values import join

        return join(parts)

    def trainable_leaf(self, value: Val | None) -> bool:
        """A plain tensor that requires grad (made a leaf by `requires_grad=True`, or by
        setting `.requires_grad` afterwards), not a Parameter."""
        return value is not None and any(
            (obj := self.heap.get(s)) is not None and obj.kind is Kind.TENSOR and obj.trainable
            and not (obj.cls or "").endswith("Parameter") and not obj.rewrapped
            for s in value.live
        )

    def handed_by_hand(self, node: cst.CSTNode) -> bool:
        """The tensors `node` denotes are given to an optimizer explicitly (`Adam([model.w])`,
        a parameter list built by hand) or to an object of a plain class (a hand-written
        optimizer): something trains them although they are no Parameter."""
        value = self.denote(node)
        if value is None:
            return False
        leaves = {s for s in value.live | value.objs if (obj := self.heap.get(s)) is not None and obj.kind is Kind.TENSOR}
        if not leaves:
            return False
        held = set(self._interpreter.handed)
        for obj in self.heap.objects.values():
            if obj.kind is Kind.OPTIMIZER and obj.holds:
                held |= obj.holds
        return bool(leaves & held)

    def held(self, optimizers: Iterator[Event] | list[Event]) -> set[str] | None:
        """What the optimizers stepped by these events hold, with everything under it (None when
        some optimizer's parameters are unknown)."""
        roots: set[str] = set()
        for step in optimizers:
            objects = [self.heap.get(o) for o in step.val.objs]
            objects = [o for o in objects if o is not None and o.kind is Kind.OPTIMIZER]
            if not objects:
                return None
            for obj in objects:
                if obj.holds is None:
                    return None
                roots |= obj.holds
        return self.heap.descendants(roots)

    def name(self, source: str) -> str:
        return self.heap.name(source)

    def describe(self, sources) -> list[str]:
        """Readable names for a set of sources, a module standing for all of its trainable parts
        when they are all there (`model.non_local` for its `theta` and `phi`)."""
        chosen = set(sources)
        changed = True
        while changed:
            changed = False
            for source in sorted(chosen):
                obj = self.heap.get(source)
                parent = obj.parent[0] if obj is not None and obj.parent else None
                if parent is None or parent in chosen:
                    continue
                parts = {d for d in self.heap.descendants([parent]) - {parent} if self.heap.objects[d].trainable}
                if parts and parts <= chosen | {d for d in parts if self.heap.descendants([d]) & chosen}:
                    chosen = {c for c in chosen if c not in parts} | {parent}
                    changed = True
                    break
        covered = {c for c in chosen if any(c != o and c in self.heap.descendants([o]) for o in chosen)}
        return sorted(self.name(c) for c in chosen - covered)

    def optimizer_names(self, steps) -> list[str]:
        return sorted({self.name(o) for step in steps for o in step.val.objs})

    def node(self, order: int) -> cst.CSTNode:
        return self._ctx.nodes[order]
