"""The training-loop model: optimizers, backward / step / zero_grad calls, schedulers, the loops
that contain them, and helper functions of the same file called from those loops.

Everything is computed in one walk of the tree. A loop's events are the calls inside its body
(nested blocks and inner loops included, nested `def`/`class` excluded) plus the calls inside
helpers it calls (module functions by name, methods through `self.`), followed one level.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from autofix.analysis.imports import (
    AUTOGRAD_BACKWARD,
    AUTOGRAD_GRAD,
    GRADIENT_CLIPPERS,
    dotted_name,
)
from autofix.analysis.values import Kind as ValKind

if TYPE_CHECKING:
    from autofix.context import FileContext

Loop = cst.For | cst.While
Scope = cst.FunctionDef | cst.Module

_OPTIMIZER_NAME = re.compile(
    r"^(opt|optim|optimizer|optimiser)s?([_0-9A-Z]\w*)?$"
    r"|^\w*_(opt|optim|optimizer|optimiser)$"
    r"|^[a-z]\w*(Opt|Optim|Optimizer|Optimiser)$"
)
_NOT_OPTIMIZER_NAME = re.compile(r"sched|scaler|env|accel|fabric|warmup", re.IGNORECASE)
_SCHEDULER_NAME = re.compile(r"sched", re.IGNORECASE)
_SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
_BACKWARD_RUNNER_NAME = re.compile(r"accel|fabric", re.IGNORECASE)
_BACKWARD_METHOD = re.compile(r"^_?(run|do|compute|call)_backward(_pass|_step)?$|^backward_(pass|step)$")
_CONDITIONAL = (cst.If, cst.Match, cst.ExceptHandler, cst.IfExp, cst.BooleanOperation)
MAX_HELPER_DEPTH = 6


class Kind(enum.Enum):
    BACKWARD = "backward"
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    SCHEDULER_STEP = "scheduler_step"
    GRAD_WRITE = "grad_write"  # `p.grad = g` or `torch.autograd.grad(...)`: gradients made by hand
    UNCALLED = "uncalled"  # `opt.zero_grad` without parentheses
    CLIP_GRAD = "clip_grad"  # `torch.nn.utils.clip_grad_norm_(...)` / `clip_grad_value_(...)`
    UNSCALE = "unscale"  # `scaler.unscale_(opt)`: target is the optimizer
    SCALER_UPDATE = "scaler_update"  # `scaler.update()`
    ADD_PARAM_GROUP = "add_param_group"  # `opt.add_param_group({...})`: target is the optimizer
    DATA_WRITE = "data_write"  # `p.data -= lr * p.grad`, `p.data.add_(...)`: behind autograd's back


@dataclass(eq=False)
class Event:
    """One call of interest, where it is written."""

    kind: Kind
    node: cst.CSTNode
    scope: Scope
    target: str | None = None  # optimizer for STEP; cleared optimizer for ZERO_GRAD (None: all)
    receiver: str | None = None  # the object the method is called on, as written
    loss: cst.BaseExpression | None = None  # what BACKWARD backpropagates
    has_args: bool = False  # `opt.step(closure)`, `plateau.step(val_loss)`
    scaler: str | None = None  # the GradScaler of `scaler.step(opt)` / `scaler.scale(loss).backward()`


@dataclass(eq=False)
class LoopEvent:
    """An event seen from one loop: directly in its body, or inside a helper it calls (`via`)."""

    event: Event
    loop: Loop
    order: tuple[int, ...]
    conditional: bool
    inner: bool  # inside a loop nested in `loop` (so not once per iteration of `loop`)
    via: cst.Call | None = None  # the call in the loop's own code that leads to the event
    target: str | None = None  # the event's target in the loop's own names (helper arguments mapped)
    receiver: str | None = None
    vias: tuple = ()  # every call from the loop's code down to the event's function
    targets: tuple = ()  # the target as each of those functions names it (None: it cannot)

    @property
    def kind(self) -> Kind:
        return self.event.kind

    @property
    def direct(self) -> bool:
        """In the loop's own code, or in a function the loop calls directly."""
        return len(self.vias) <= 1


@dataclass(eq=False)
class TrainingLoop:
    node: Loop
    scope: Scope
    events: list[LoopEvent] = field(default_factory=list)

    def of_kind(self, kind: Kind) -> list[LoopEvent]:
        return [e for e in self.events if e.kind is kind]

    def steps(self) -> list[LoopEvent]:
        """The optimizer steps that run once per iteration of this loop (not of an inner loop),
        without a closure (`LBFGS.step(closure)` manages its own gradients)."""
        return [e for e in self.of_kind(Kind.STEP) if not e.inner and not e.event.has_args]


class TrainingModel:
    """The training loops of one file and the optimizers they step."""

    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx
        self.optimizer_inits: dict[str, cst.Call] = {}  # the last construction of each name
        self.optimizer_builds: list[tuple[str, cst.Assign]] = []  # every one, in source order
        self._scaler_stepped: set[str] = set()
        self._scaler_builds: dict[str, list[cst.BaseExpression]] = {}
        self._not_optimizers: set[str] = set()
        self._functions: dict[str, cst.FunctionDef] = {}
        self._methods: dict[tuple[cst.ClassDef, str], cst.FunctionDef] = {}
        self._collect_definitions()
        self.events: list[Event] = list(self._collect_events())

    # -- definitions -------------------------------------------------------------------------

    def _collect_definitions(self) -> None:
        torch = self._ctx.torch
        for stmt in self._ctx.module.body:
            if isinstance(stmt, cst.FunctionDef):
                self._functions[stmt.name.value] = stmt
        for node in self._ctx.nodes:
            if isinstance(node, cst.ClassDef):
                for stmt in node.body.body:
                    if isinstance(stmt, cst.FunctionDef):
                        self._methods[(node, stmt.name.value)] = stmt
            elif isinstance(node, cst.Assign):
                self._note_scaler_build(node)
                if not isinstance(node.value, cst.Call):
                    continue
                func = node.value.func
                for target in node.targets:
                    key = dotted_name(target.target)
                    if not key:
                        continue
                    if torch.is_optimizer_class(func):
                        self.optimizer_inits[key] = node.value
                        self.optimizer_builds.append((key, node))
                    elif torch.is_scheduler_class(func) or torch.is_grad_scaler_class(func):
                        self._not_optimizers.add(key)
            elif isinstance(node, cst.Call) and _method_name(node) == "step" and node.args:
                receiver = _receiver(node)
                if _SCALER_NAME.search(dotted_name(receiver) or "") or self._is_scaler(receiver):
                    self._scaler_stepped.add(self._ctx.code(node.args[0].value))

    def _note_scaler_build(self, node: cst.Assign) -> None:
        """Remember what is assigned to scaler-like names (`scaler = GradScaler() if amp else None`
        gives the one call), to tell torch's GradScaler from wrappers and sklearn scalers."""
        values = _branches(node.value)
        built = any(
            isinstance(v, cst.Call) and self._ctx.torch.is_grad_scaler_class(v.func) for v in values
        )
        for target in node.targets:
            key = dotted_name(target.target)
            if key and (built or _SCALER_NAME.search(key.rsplit(".", 1)[-1])):
                self._scaler_builds.setdefault(key, []).extend(v for v in values if not _is_none(v))

    def grad_scaler_calls(self, scaler: str) -> list[cst.Call] | None:
        """The `GradScaler(...)` calls assigned to `scaler` (none when the file never assigns it,
        say a parameter); None when something other than a GradScaler is assigned to it."""
        values = self._scaler_builds.get(scaler, [])
        torch = self._ctx.torch
        if all(isinstance(v, cst.Call) and torch.is_grad_scaler_class(v.func) for v in values):
            return list(values)
        return None

    def is_enabled_grad_scaler(self, scaler: str) -> bool:
        """Is `scaler` a torch GradScaler (or one built outside this file) that may be enabled,
        that is not built with a literal `enabled=False`?"""
        calls = self.grad_scaler_calls(scaler)
        if calls is None:
            return False
        return not calls or not all(_disabled(call) for call in calls)

    def _is_scaler(self, node: cst.CSTNode | None) -> bool:
        return node is not None and dotted_name(node) in self._not_optimizers and bool(
            _SCALER_NAME.search(dotted_name(node))
        )

    def is_optimizer(self, node: cst.CSTNode | None) -> bool:
        """Built from `torch.optim.*`, stepped through `scaler.step(...)`, or named as one
        (`opt`, `optimizer_G`, `self.optimizer`); never a scheduler, a scaler or an environment."""
        if node is None:
            return False
        denoted = self._denoted_kind(node)
        if denoted is not None:
            return denoted is ValKind.OPTIMIZER
        key = self._ctx.code(node)
        if key in self.optimizer_inits or key in self._scaler_stepped:
            return True
        if key in self._not_optimizers:
            return False
        last = key.rsplit(".", 1)[-1]
        return bool(_OPTIMIZER_NAME.match(last)) and not _NOT_OPTIMIZER_NAME.search(last)

    def is_scheduler(self, node: cst.CSTNode | None) -> bool:
        if node is None:
            return False
        denoted = self._denoted_kind(node)
        if denoted is not None:
            return denoted is ValKind.SCHEDULER
        key = self._ctx.code(node)
        return (key in self._not_optimizers and not _SCALER_NAME.search(key)) or bool(
            _SCHEDULER_NAME.search(key.rsplit(".", 1)[-1])
        )

    def _denoted_kind(self, node: cst.CSTNode):
        """What the semantic model knows `node` to be: the kind of every object it may be, when
        they agree and are not merely typed by a name."""
        value = self._ctx.semantic.denote(node)
        if value is None or not value.objs:
            return None
        heap = self._ctx.semantic.heap
        kinds = {obj.kind for o in value.objs if (obj := heap.get(o)) is not None}
        if len(kinds) != 1 or any(o.startswith("arg:") or (heap.get(o) and heap.get(o).parent and heap.get(o).holds is None) for o in value.objs):
            return None
        return kinds.pop()

    def optimized_modules(self, optimizer: str) -> set[str]:
        """`model` for `SGD(model.parameters())`: the modules whose gradients `optimizer` steps."""
        init = self.optimizer_inits.get(optimizer)
        return set() if init is None else self.parameter_owners(init)

    def parameter_owners(self, expression: cst.CSTNode) -> set[str]:
        """`model` and `head` for `[*model.parameters(), *head.parameters()]`: the modules whose
        `.parameters()` (or `.named_parameters()`) the expression lists."""
        found = set()
        for node in self._ctx.nodes_in(expression):
            if isinstance(node, cst.Call) and _method_name(node) in ("parameters", "named_parameters"):
                found.add(self._ctx.code(_receiver(node)))
        return found

    # -- events ------------------------------------------------------------------------------

    def _collect_events(self) -> Iterator[Event]:
        for node in self._ctx.nodes:
            if isinstance(node, cst.Call):
                event = self._classify_call(node)
            elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Attribute):
                event = self._classify_bare_attribute(node)
            elif isinstance(node, (cst.Assign, cst.AugAssign)):
                event = self._classify_grad_assignment(node)
            else:
                continue
            if event is not None:
                yield event

    def _event(self, kind: Kind, node: cst.CSTNode, **kw) -> Event:
        return Event(kind, node, self.scope_of(node), **kw)

    def _classify_call(self, call: cst.Call) -> Event | None:
        torch = self._ctx.torch
        method = _method_name(call)
        receiver = _receiver(call)
        code = self._ctx.code
        if torch.is_any(call.func, {AUTOGRAD_BACKWARD}):
            return self._event(Kind.BACKWARD, call, loss=_first_arg(call))
        if torch.is_any(call.func, {AUTOGRAD_GRAD}):
            return self._event(Kind.GRAD_WRITE, call)
        if method == "backward" and receiver is not None:
            if _BACKWARD_RUNNER_NAME.search(dotted_name(receiver) or ""):
                return self._event(Kind.BACKWARD, call, loss=_first_arg(call))
            loss, scaler = receiver, None
            if isinstance(loss, cst.Call) and _method_name(loss) == "scale" and loss.args:
                scaler = code(_receiver(loss))
                loss = loss.args[0].value
            return self._event(Kind.BACKWARD, call, loss=loss, scaler=scaler)
        if method == "manual_backward" or (method and _BACKWARD_METHOD.match(method)):
            # `self.manual_backward(loss)`, `model.run_backward(loss)`: a backward behind a call
            return self._event(Kind.BACKWARD, call, loss=_first_arg(call))
        if torch.is_any(call.func, GRADIENT_CLIPPERS):
            return self._event(Kind.CLIP_GRAD, call)
        scaler = receiver is not None and (
            bool(_SCALER_NAME.search(dotted_name(receiver) or "")) or self._is_scaler(receiver)
        )
        if scaler and method == "unscale_" and call.args:
            return self._event(
                Kind.UNSCALE, call, target=code(call.args[0].value), receiver=code(receiver)
            )
        if scaler and method == "update":
            return self._event(Kind.SCALER_UPDATE, call, receiver=code(receiver))
        if method == "add_param_group" and self.is_optimizer(receiver):
            return self._event(Kind.ADD_PARAM_GROUP, call, target=code(receiver))
        if method in _INPLACE_UPDATES and _is_data_attribute(receiver):
            return self._event(Kind.DATA_WRITE, call, target=code(receiver.value))
        if method == "step" and receiver is not None:
            if call.args and scaler:
                optimizer = call.args[0].value
                return self._event(
                    Kind.STEP, call, target=code(optimizer), receiver=code(receiver),
                    scaler=code(receiver),
                )
            if self.is_optimizer(receiver):
                return self._event(
                    Kind.STEP,
                    call,
                    target=code(receiver),
                    receiver=code(receiver),
                    has_args=bool(call.args),
                )
            if self.is_scheduler(receiver):
                return self._event(
                    Kind.SCHEDULER_STEP, call, receiver=code(receiver), has_args=bool(call.args)
                )
            return None
        if method == "zero_grad" or (
            isinstance(call.func, cst.Name) and "zero_grad" in call.func.value
        ):
            if receiver is not None and self.is_optimizer(receiver):
                return self._event(
                    Kind.ZERO_GRAD, call, target=code(receiver), receiver=code(receiver)
                )
            return self._event(
                Kind.ZERO_GRAD, call, receiver=code(receiver) if receiver is not None else None
            )
        if method in ("zero_", "detach_") and _is_grad_attribute(receiver):
            return self._event(Kind.ZERO_GRAD, call)
        return None

    def _classify_bare_attribute(self, expr: cst.Expr) -> Event | None:
        attr = expr.value
        assert isinstance(attr, cst.Attribute)
        return self._event(Kind.UNCALLED, expr, receiver=self._ctx.code(attr.value), target=attr.attr.value)

    def _classify_grad_assignment(self, node: cst.Assign | cst.AugAssign) -> Event | None:
        value = node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "backward":
            # `fn = loss.backward` ... `fn()`: the backward runs through the bound method
            return self._event(Kind.BACKWARD, node, loss=value.value)
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        data = [t for t in targets if _is_data_attribute(t) and not _is_grad_attribute(t)]
        if data:
            return self._event(Kind.DATA_WRITE, node, target=self._ctx.code(data[0].value))
        if not any(_is_grad_attribute(t) for t in targets):
            return None
        if isinstance(node, cst.Assign) and _is_none(node.value):
            return self._event(Kind.ZERO_GRAD, node)
        return self._event(Kind.GRAD_WRITE, node)

    # -- scopes and loops --------------------------------------------------------------------

    def scope_of(self, node: cst.CSTNode) -> Scope:
        """The function (or module) whose body runs `node`; lambdas and classes are skipped
        over to the function that defines them."""
        for parent in self._ctx.ancestors(node):
            if isinstance(parent, (cst.FunctionDef, cst.Module)):
                return parent
        return self._ctx.module

    def _between(self, node: cst.CSTNode, stop: cst.CSTNode) -> list[cst.CSTNode]:
        """Ancestors of `node` strictly below `stop` (or up to the scope if `stop` is absent)."""
        chain = []
        for parent in self._ctx.ancestors(node):
            if parent is stop or isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                break
            chain.append(parent)
        return chain

    def loops_around(self, node: cst.CSTNode) -> list[Loop]:
        """The loops of the same scope that contain `node`, innermost first (not loops over a
        few objects, such as `for opt in self.optimizers:`)."""
        return [p for p in self._between(node, None) if self._is_iteration(p)]

    def _is_iteration(self, node: cst.CSTNode) -> bool:
        """A loop whose iterations are training iterations: not a `for` over optimizers,
        schedulers or scalers (a container of them)."""
        if isinstance(node, cst.While):
            return True
        if not isinstance(node, cst.For):
            return False
        value = self._ctx.semantic.denote(node.iter)
        if value is None:
            return True
        member = value.member()
        heap = self._ctx.semantic.heap
        kinds = {obj.kind for o in member.objs if (obj := heap.get(o)) is not None}
        return not (kinds and kinds <= {ValKind.OPTIMIZER, ValKind.SCHEDULER, ValKind.SCALER})

    def _flags(self, node: cst.CSTNode, stop: cst.CSTNode) -> tuple[bool, bool]:
        """(conditional, inner) for `node` seen from `stop` (a loop or a helper function)."""
        chain = self._between(node, stop)
        inner = any(self._is_iteration(p) for p in chain)
        conditional = inner or any(isinstance(p, _CONDITIONAL) for p in chain)
        return conditional, inner

    def backward_orders_through_helpers(self, loop: TrainingLoop) -> list[tuple[int, ...]]:
        """Source order of the loop's helper calls that run backward at any depth."""
        orders = []
        for call, helper in self.helper_calls:
            if loop.node not in self.loops_around(call):
                continue
            reached = [helper, *self.helpers_reachable_from(helper)]
            if any(e.kind is Kind.BACKWARD and any(e.scope is h for h in reached) for e in self.events):
                orders.append(self._order(call) + (0,))
        return orders

    def is_conditional(self, node: cst.CSTNode, stop: cst.CSTNode) -> bool:
        """Does `node` run only sometimes when `stop` (a loop or function) runs its body?"""
        return self._flags(node, stop)[0]

    def _helpers_called(self, call: cst.Call) -> list[cst.FunctionDef]:
        """The file's functions a call runs: as the semantic model ran them (methods of objects,
        helpers passed around, forwards), else by name."""
        ran = [f for f in self._ctx.semantic.callees(call) if isinstance(f, cst.FunctionDef)]
        if ran:
            return ran
        helper = self._helper_called(call)
        return [helper] if helper is not None else []

    def _helper_called(self, call: cst.Call) -> cst.FunctionDef | None:
        if isinstance(call.func, cst.Name):
            return self._functions.get(call.func.value)
        if isinstance(call.func, cst.Attribute) and dotted_name(call.func.value) == "self":
            owner = next((p for p in self._ctx.ancestors(call) if isinstance(p, cst.ClassDef)), None)
            if owner is not None:
                return self._methods.get((owner, call.func.attr.value))
        return None

    @cached_property
    def loops(self) -> list[TrainingLoop]:
        """Every loop of the file with the events it runs, in source order."""
        by_node: dict[Loop, TrainingLoop] = {}
        for node in self._ctx.nodes:
            if self._is_iteration(node):
                by_node[node] = TrainingLoop(node, self.scope_of(node))
        by_scope: dict[Scope, list[Event]] = {}
        for event in self.events:
            by_scope.setdefault(event.scope, []).append(event)
            for loop in self.loops_around(event.node):
                by_node[loop].events.append(self._seen_from(event, loop))
        for node, helper in self.helper_calls:
            for loop in self.loops_around(node):
                call_conditional, call_inner = self._flags(node, loop)
                for seen in self._through(helper, node, by_scope, ()):
                    event, vias, targets, receivers, conditional, inner = seen
                    by_node[loop].events.append(
                        LoopEvent(
                            event,
                            loop,
                            self._order(node) + tuple(self._ctx.order(v) for v in vias[1:]) + self._order(event.node),
                            call_conditional or conditional,
                            call_inner or inner,
                            via=node,
                            target=targets[0],
                            receiver=receivers[0],
                            vias=vias,
                            targets=targets,
                        )
                    )
        for loop in by_node.values():
            loop.events.sort(key=lambda e: e.order)
        return list(by_node.values())

    def _through(self, helper: cst.FunctionDef, call: cst.Call, by_scope, seen: tuple, depth: int = 0):
        """The events a call of `helper` runs: its own and, at any depth (bounded, cycles cut),
        those of the helpers it calls, each with the calls leading there, its target as each
        function on the way names it, and whether it runs every time the call does."""
        if helper in seen or depth > MAX_HELPER_DEPTH:
            return
        arguments = self.arguments(helper, call)
        for event in by_scope.get(helper, ()):
            conditional, inner = self._flags(event.node, helper)
            yield event, (call,), (_rename(event.target, arguments),), (_rename(event.receiver, arguments),), conditional, inner
        for inner_call, inner_helper in self.helper_calls:
            if self.scope_of(inner_call) is not helper:
                continue
            call_conditional, call_inner = self._flags(inner_call, helper)
            for event, vias, targets, receivers, conditional, inner in self._through(
                inner_helper, inner_call, by_scope, (*seen, helper), depth + 1
            ):
                yield (
                    event, (call, *vias), (_rename(targets[0], arguments), *targets),
                    (_rename(receivers[0], arguments), *receivers),
                    call_conditional or conditional, call_inner or inner,
                )

    def _seen_from(self, event: Event, loop: Loop) -> LoopEvent:
        conditional, inner = self._flags(event.node, loop)
        return LoopEvent(
            event, loop, self._order(event.node) + (0,), conditional, inner,
            target=event.target, receiver=event.receiver,
        )

    def arguments(self, helper: cst.FunctionDef, call: cst.Call) -> dict[str, str]:
        """Helper parameter name -> the argument expression the call passes for it."""
        params = [p.name.value for p in (*helper.params.posonly_params, *helper.params.params)]
        mapping = {}
        if isinstance(call.func, cst.Attribute) and params[:1] == ["self"]:
            params = params[1:]
            receiver = self._ctx.code(call.func.value)
            if receiver != "self" and not receiver.startswith("super("):
                mapping["self"] = receiver
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for name, arg in zip(params, positional):
            mapping[name] = self._ctx.code(arg.value)
        for arg in call.args:
            if arg.keyword is not None:
                mapping[arg.keyword.value] = self._ctx.code(arg.value)
        return mapping

    def _order(self, node: cst.CSTNode) -> tuple[int]:
        return (self._ctx.order(node),)

    @cached_property
    def helper_calls(self) -> list[tuple[cst.Call, cst.FunctionDef]]:
        """Every call of a helper function of this file, with the helper it calls."""
        calls = []
        for node in self._ctx.nodes:
            if isinstance(node, cst.Call):
                for helper in self._helpers_called(node):
                    if helper is not self.scope_of(node):
                        calls.append((node, helper))
        return calls

    def helpers_reachable(self, loop: TrainingLoop) -> list[cst.FunctionDef]:
        """Helpers the loop calls, and the helpers they call, transitively."""
        return self._reachable(
            [h for call, h in self.helper_calls if loop.node in self.loops_around(call)]
        )

    def helpers_reachable_from(self, helper: cst.FunctionDef) -> list[cst.FunctionDef]:
        return self._reachable([h for call, h in self.helper_calls if self.scope_of(call) is helper])

    def _reachable(self, frontier: list[cst.FunctionDef]) -> list[cst.FunctionDef]:
        seen: list[cst.FunctionDef] = []
        while frontier:
            helper = frontier.pop()
            if any(helper is s for s in seen):
                continue
            seen.append(helper)
            frontier.extend(h for call, h in self.helper_calls if self.scope_of(call) is helper)
        return seen

    def runs_whenever(self, event: LoopEvent, other: LoopEvent) -> bool:
        """Does `event` run in every iteration in which `other` runs? True when the block that
        holds `event` also holds `other` (an `if` branch, an `except`, the loop body ...)."""
        if event.via is not None and event.via is other.via:
            node, reference = event.event.node, other.event.node
        else:
            if event.via is not None and event.conditional:
                return False
            node, reference = event.via or event.event.node, other.via or other.event.node
        statement = self.statement_of(node)
        block = self._ctx.parent(statement) if statement is not None else None
        return block is not None and any(a is block for a in self._ctx.ancestors(reference))

    def backward_reaches(self, loop: TrainingLoop) -> bool:
        """Is there a backward outside `loop` whose gradients its steps may use: one in straight
        code or an enclosing loop of the same scope, or in a function defined inside it
        (a closure)? Backwards in sibling loops do not count."""
        around = {id(a) for a in self._ctx.ancestors(loop.node)} | {id(loop.node)}
        for event in self.events:
            if event.kind is not Kind.BACKWARD:
                continue
            if event.scope is loop.scope:
                if all(id(l) in around for l in self.loops_around(event.node)):
                    return True
            elif any(p is loop.scope for p in self._ctx.ancestors(event.node)):
                return True
        return False

    # -- where statements can go -------------------------------------------------------------

    def statement_of(self, node: cst.CSTNode) -> cst.BaseStatement | None:
        """The statement of a block (`IndentedBlock` or module body) that contains `node`:
        where new statements can be inserted next to it."""
        candidate = node
        for parent in self._ctx.ancestors(node):
            if isinstance(parent, (cst.IndentedBlock, cst.Module)) and isinstance(
                candidate, cst.BaseStatement
            ):
                return candidate
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return None
            candidate = parent
        return None

    def anchor(self, node: cst.CSTNode, stop: cst.CSTNode) -> cst.BaseStatement | None:
        """The statement before which code runs exactly when `node` runs, seen from `stop` (a loop
        or a function): the innermost block statement around `node` reached from `stop` through
        `with` and `try` bodies only. Inside an `if` or an inner loop that is the `if` or loop."""
        statement = self.statement_of(node)
        best = None
        while statement is not None:
            chain = self._between(statement, stop)
            if all(isinstance(p, (cst.IndentedBlock, cst.With, cst.Try)) for p in chain):
                best = statement
                break
            parent = self._ctx.parent(statement)
            statement = self.statement_of(parent) if parent is not None else None
        if best is None or stop not in list(self._ctx.ancestors(best)):
            return None
        return best

    def sole_call_statement(self, call: cst.CSTNode) -> cst.SimpleStatementLine | None:
        """The line `call` fills on its own (`opt.zero_grad()`), so it can be moved or removed."""
        expr = self._ctx.parent(call)
        line = self._ctx.parent(expr) if isinstance(expr, cst.Expr) else None
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            if isinstance(self._ctx.parent(line), (cst.IndentedBlock, cst.Module)):
                return line
        return None

    def clearing_point(self, loop: TrainingLoop, step: LoopEvent) -> ClearingPoint | None:
        """Where gradients of `step`'s optimizer should be cleared in `loop`: before the
        statement running the iteration's first backward for that step, or after the step when
        the step is conditional and backward is not (gradient accumulation)."""
        backwards = [e for e in loop.of_kind(Kind.BACKWARD) if e.order < step.order]
        if not backwards:
            return None
        if step.conditional and not all(b.conditional for b in backwards):
            statement = self.sole_call_statement(step.via or step.event.node)
            name = self._name_for_step(step, 0, loop.scope)
            return ClearingPoint("after", statement, name) if statement and name else None
        earlier_steps = [e.order for e in loop.steps() if e.order < step.order]
        if earlier_steps:
            backwards = [b for b in backwards if b.order > max(earlier_steps)] or backwards
        first = backwards[0]
        # Clear in the deepest function both the backward and the step are reached through,
        # right before what leads to the backward there, naming the optimizer as that function
        # does (or through the object whose `step()` stepped it, when that object can clear it).
        depth = 0
        while depth < min(len(first.vias), len(step.vias)) and first.vias[depth] is step.vias[depth]:
            depth += 1
        leading = first.vias[depth] if depth < len(first.vias) else first.event.node
        stop = loop.node if depth == 0 else self.scope_of(leading)
        statement = self.anchor(leading, stop)
        name = self._name_for_step(step, depth, self.scope_of(leading) if depth else loop.scope)
        if statement is None or name is None:
            return None
        return ClearingPoint("before", statement, name, depth > 0)

    def _name_for_step(self, step: LoopEvent, depth: int, scope: cst.CSTNode) -> str | None:
        """How code in `scope` (the function at `depth` of the step's calls) names what can
        clear the step's optimizer: the optimizer itself, or the object whose method stepped
        it when that object's class has a `zero_grad()` (an optimizer container)."""
        name = step.event.target if depth == len(step.vias) else step.targets[depth]
        if name and self._names_something(name, scope):
            return name
        if depth < len(step.vias):
            call = step.vias[depth]
            helpers = self._helpers_called(call)
            if isinstance(call.func, cst.Attribute) and helpers and all(
                self._class_has(helper, "zero_grad") for helper in helpers
            ):
                receiver = self._ctx.code(call.func.value)
                if self._names_something(receiver, scope):
                    return receiver
        return None

    def _class_has(self, method: cst.FunctionDef, name: str) -> bool:
        block = self._ctx.parent(method)
        cls = self._ctx.parent(block) if block is not None else None
        return isinstance(cls, cst.ClassDef) and any(
            isinstance(s, cst.FunctionDef) and s.name.value == name for s in cls.body.body
        )

    def _names_something(self, name: str, scope: cst.CSTNode) -> bool:
        """Does `scope` know the head of `name`: a parameter, a local, `self`, a name the code
        there already uses, or a name of the module?"""
        head = name.partition(".")[0].partition("[")[0]
        if not head.isidentifier():
            return False
        references = self._ctx.references
        if references.uses(head, scope):
            return True  # bound there, or already read there (the code names it so itself)
        if isinstance(scope, cst.FunctionDef) and any(
            p.name.value == head for p in (*scope.params.posonly_params, *scope.params.params, *scope.params.kwonly_params)
        ):
            return True
        return any(binds for _, binds in references.uses(head, self._ctx.module)) or bool(self._ctx.torch.names(cst.Name(head)))


@dataclass(frozen=True, eq=False)
class ClearingPoint:
    """Insert `name.zero_grad()` `where` ("before" / "after") `statement`; `in_helper` when the
    statement is inside the helper function the loop calls, where `name` is the helper's own."""

    where: str
    statement: cst.BaseStatement
    name: str
    in_helper: bool = False


def _rename(key: str | None, arguments: dict[str, str]) -> str | None:
    """`opt.param_groups` seen through `helper(optimizer)` is `optimizer.param_groups`."""
    if key is None:
        return None
    head, dot, rest = key.partition(".")
    return arguments[head] + dot + rest if head in arguments else key


def _method_name(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def _receiver(call: cst.Call) -> cst.BaseExpression | None:
    return call.func.value if isinstance(call.func, cst.Attribute) else None


def _first_arg(call: cst.Call) -> cst.BaseExpression | None:
    return call.args[0].value if call.args else None


def _is_grad_attribute(node: cst.CSTNode | None) -> bool:
    """`p.grad` or `p.grad.data`."""
    while isinstance(node, cst.Attribute) and node.attr.value == "data":
        node = node.value
    return isinstance(node, cst.Attribute) and node.attr.value == "grad"


def _is_data_attribute(node: cst.CSTNode | None) -> bool:
    """`p.data` (of anything but a gradient: `p.grad.data` is the gradient itself)."""
    return (
        isinstance(node, cst.Attribute)
        and node.attr.value == "data"
        and not _is_grad_attribute(node.value)
    )


# In-place tensor methods that change the values of what they are called on.
_INPLACE_UPDATES = frozenset(
    {"add_", "sub_", "mul_", "div_", "addcmul_", "addcdiv_", "copy_", "clamp_", "lerp_", "fill_",
     "zero_", "normal_", "uniform_"}
)


def _disabled(call: cst.Call) -> bool:
    """`GradScaler(..., enabled=False)`."""
    return any(
        arg.keyword is not None and arg.keyword.value == "enabled" and _is_false(arg.value)
        for arg in call.args
    )


def _is_false(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _branches(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """`a if c else b` -> [a, b] (nested conditionals flattened); anything else -> [value]."""
    if isinstance(value, cst.IfExp):
        return [*_branches(value.body), *_branches(value.orelse)]
    return [value]


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"
