"""Recurrent state carried from one iteration of a training loop into the next: a state that
a loop feeds into a module's forward and reassigns from that module's output
(`out, hidden = rnn(x, hidden)`, `out, (h, c) = lstm(x, (h, c))`,
`out, self.hidden = self.model(x, self.hidden)`), never detached, in a loop (or a method called
once per iteration) that calls backward. Such a state holds the previous iteration's graph.

Each `Recurrence` says where the state is carried (`region`), by which assignment and forward
call, what the state is (a tensor, a tuple or list of tensors, maybe None at first), where a
backward that runs only in some iterations sits, and whether backward retains the graph.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from autofix.analysis.library import MODULE_NAME
from autofix.analysis.vocabulary import parameterless
from autofix.analysis.imports import dotted_name
from autofix.analysis.training import Kind, TrainingLoop
from autofix.rule import Edit, insert_after, insert_before

if TYPE_CHECKING:
    from autofix.context import FileContext

# What `nn.<Class>(...)(x, state)` returns: T a tensor, tuples nested as tuples.
_T = "T"
_NONE = "none"
# Methods that give back a tensor when called on one.
_SAME_TENSOR = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "clone", "detach", "contiguous",
     "requires_grad_"}
)
_RETURNS = {
    "torch.nn.LSTM": (_T, (_T, _T)),
    "torch.nn.GRU": (_T, _T),
    "torch.nn.RNN": (_T, _T),
    "torch.nn.LSTMCell": (_T, _T),
    "torch.nn.GRUCell": _T,
    "torch.nn.RNNCell": _T,
}
_NOT_FORWARD_NAMES = re.compile(r"init|reset|zero|detach|repackage|repack|new_|clone|copy", re.I)
_BUILTINS = frozenset(
    {
        "tuple", "list", "dict", "set", "len", "print", "isinstance", "zip", "range", "enumerate",
        "float", "int", "bool", "str", "max", "min", "sum", "map", "filter", "sorted", "reversed",
        "abs", "round", "getattr", "setattr", "hasattr", "type", "id", "next", "iter", "any",
        "all", "repr", "format", "super",
    }
)
# Methods of tensors and containers, never a module's forward.
_TENSOR_METHODS = frozenset(
    {
        "to", "cpu", "cuda", "float", "double", "half", "bfloat16", "view", "reshape",
        "contiguous", "squeeze", "unsqueeze", "permute", "transpose", "expand", "expand_as",
        "repeat", "flatten", "sum", "mean", "size", "item", "numpy", "tolist", "index_select",
        "gather", "masked_fill", "narrow", "chunk", "split", "type_as", "view_as", "get",
        "append", "extend", "pop", "update", "items", "values", "keys", "format", "join",
        "add", "mul", "sub", "div", "matmul", "mm", "bmm", "where", "clamp", "norm",
    }
)
_RECURRENT_NAME = re.compile(r"^(\w*_)?(cell|core|rnn|lstm|gru|recurrent)(\d*|_\w*)$", re.I)
_DETACHING_ATTRIBUTES = frozenset({"detach", "detach_", "data", "requires_grad_"})
_DETACHING_CALL = re.compile(r"detach|repackage|repack", re.I)


class StateShape(enum.Enum):
    TENSOR = "tensor"
    TUPLE = "tuple"
    LIST = "list"


@dataclass(eq=False)
class Occurrence:
    node: cst.CSTNode
    key: tuple[int, int, int]  # when it runs in the iteration: stores after the value they bind
    store: bool
    binding: cst.CSTNode | None = None  # the Assign / For / ... that binds it, for stores


@dataclass(eq=False)
class CarriedState:
    """One carried state variable of one recurrent assignment, seen from one region."""

    name: str
    first_load: Occurrence
    shape: StateShape | None
    optional: bool


@dataclass(eq=False)
class Recurrence:
    region: cst.CSTNode  # the loop (or the method called once per iteration) that carries it
    assignment: cst.Assign
    call: cst.Call
    states: list[CarriedState] = field(default_factory=list)
    backward_after: cst.BaseStatement | None = None  # conditional backward: detach right after it
    retained: bool = False  # every backward of the iteration uses retain_graph=True
    unplaceable: bool = False  # backward runs in some iterations only, and not in one place
    deliberate: bool = False  # retained with no step in the region: full BPTT on purpose
    backwards: list = field(default_factory=list)  # the region's backward calls


class RecurrenceFacts:
    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self.training = ctx.training
        self._loops = {id(loop.node): loop for loop in self.training.loops}

    # -- driving -----------------------------------------------------------------------------

    @cached_property
    def recurrences(self) -> list[Recurrence]:
        """Every carried state, each (region, name) once, grouped by the assignment that
        carries it, in source order."""
        found = []
        reported: set[tuple[int, str]] = set()
        for group in self._groups():
            fresh = [f for f in group.states if (id(group.region), f.name) not in reported]
            if not fresh:
                continue
            reported.update((id(group.region), f.name) for f in fresh)
            group.states = fresh
            found.append(group)
        return found

    def detach_edit(self, group: Recurrence) -> Edit | None:
        """Detach the state between iterations: before the forward that reads it, or right after
        a backward that runs only every k iterations. None when that place or the state's shape
        is not known."""
        if group.unplaceable or any(f.shape is None for f in group.states):
            return None
        code = detach_code(group.states)
        if group.backward_after is not None:
            return insert_after(group.backward_after, *code)
        first = min((f.first_load for f in group.states), key=lambda o: o.key)
        anchor = self.training.anchor(first.node, group.region)
        if anchor is None:
            return None
        return insert_before(anchor, *code)

    def _groups(self) -> Iterator[Recurrence]:
        for node in self.ctx.nodes:
            if not isinstance(node, cst.Assign):
                continue
            bound = _bound_names(node)
            for call in self.ctx.nodes_in(node.value):
                if not isinstance(call, cst.Call):
                    continue
                names = [n for n in bound if self._reads(call, n)]
                if not names or not self._is_forward(call):
                    continue
                if self._under_no_grad(node):
                    break
                yield from self._groups_of(node, call, names)
                break

    def _groups_of(
        self, assignment: cst.Assign, call: cst.Call, names: list[str]
    ) -> Iterator[Recurrence]:
        by_region: dict[int, Recurrence] = {}
        for name in names:
            for region, loop in self._regions(assignment, name):
                finding = self._carried(region, loop, assignment, name)
                if finding is None:
                    continue
                group = by_region.get(id(region))
                if group is None:
                    group = by_region[id(region)] = Recurrence(region, assignment, call)
                    self._backward_placement(group, loop, region)
                group.states.append(finding)
                break
        yield from by_region.values()

    def _regions(self, assignment: cst.Assign, name: str):
        """Where the state may be carried from one iteration to the next: the loops around the
        assignment that call backward (innermost first); for `self.<attr>`, also the method
        holding it when that method calls backward and a loop calls the method."""
        for node in self.training.loops_around(assignment):
            loop = self._loops.get(id(node))
            if loop is not None and loop.of_kind(Kind.BACKWARD):
                yield node, loop
        scope = self.training.scope_of(assignment)
        if name.startswith("self.") and isinstance(scope, cst.FunctionDef):
            if self.training.loops_around(assignment):
                return
            if not any(e.kind is Kind.BACKWARD and e.scope is scope for e in self.training.events):
                return
            for loop in self.training.loops:
                if any(h is scope for h in self.training.helpers_reachable(loop)):
                    yield scope, None
                    return

    # -- is the state carried? ---------------------------------------------------------------

    def _carried(
        self, region, loop: TrainingLoop | None, assignment, name: str
    ) -> CarriedState | None:
        if isinstance(region, cst.For) and _contains_name(region.target, name):
            return None
        occurrences = sorted(self._occurrences(region, name), key=lambda o: o.key)
        if not occurrences or occurrences[0].store:
            return None
        for occurrence in occurrences:
            if occurrence.store:
                if not self._is_recurrent_store(occurrence):
                    return None
            elif self._detaches(occurrence):
                return None
        if loop is None and not self._method_state_left_alone_elsewhere(region, name):
            return None
        shape, optional = self._shape(region, assignment, name)
        body = {id(n) for n in self.ctx.nodes_in(region.body)}
        first = next((o for o in occurrences if id(o.node) in body), occurrences[0])
        return CarriedState(name, first, shape, optional)

    def _is_recurrent_store(self, occurrence: Occurrence) -> bool:
        binding = occurrence.binding
        return isinstance(binding, cst.Assign) and any(
            True for _ in self._forward_calls(binding.value)
        )

    def _method_state_left_alone_elsewhere(self, method: cst.FunctionDef, name: str) -> bool:
        """`self.hidden` carried by a method called from a loop: nothing else in the file may
        store or detach it (a `reset_state()` called every iteration would re-initialise it),
        except `__init__`."""
        attribute = name.split(".", 1)[1]
        for node in self.ctx.nodes:
            if not (isinstance(node, cst.Attribute) and node.attr.value == attribute):
                continue
            if any(a is method for a in self.ctx.ancestors(node)):
                continue
            scope = self.training.scope_of(node)
            occurrence = self._occurrence(node)
            in_init = isinstance(scope, cst.FunctionDef) and scope.name.value == "__init__"
            if occurrence.store and not in_init:
                return False
            if not occurrence.store and self._detaches(occurrence):
                return False
        return True

    def _occurrences(self, region: cst.CSTNode, name: str) -> Iterator[Occurrence]:
        roots = [region.body] if not isinstance(region, cst.While) else [region.test, region.body]
        for root in roots:
            for node in self.ctx.own_nodes(root):
                if _names(node, name) and not self._is_attribute_part(node):
                    yield from self._occurrence_events(node)

    def _is_attribute_part(self, node: cst.CSTNode) -> bool:
        parent = self.ctx.parent(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            return True
        return isinstance(parent, cst.Arg) and parent.keyword is node

    def _occurrence(self, node: cst.CSTNode) -> Occurrence:
        return list(self._occurrence_events(node))[-1]

    def _occurrence_events(self, node: cst.CSTNode) -> Iterator[Occurrence]:
        start = self.ctx.position(node).start
        here = (start.line, start.column, 0)
        child, parent = node, self.ctx.parent(node)
        while isinstance(parent, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
            child, parent = parent, self.ctx.parent(parent)
        if isinstance(parent, cst.AssignTarget):
            assign = self.ctx.parent(parent)
            yield Occurrence(node, self._after(assign.value), True, assign)
        elif isinstance(parent, cst.AnnAssign) and parent.target is child:
            yield Occurrence(node, self._after(parent.value or parent.target), True, parent)
        elif isinstance(parent, cst.AugAssign) and parent.target is child:
            yield Occurrence(node, here, False)
            yield Occurrence(node, self._after(parent.value), True, parent)
        elif isinstance(parent, (cst.For, cst.CompFor)) and parent.target is child:
            yield Occurrence(node, self._after(parent.iter), True, parent)
        elif isinstance(parent, cst.NamedExpr) and parent.target is child:
            yield Occurrence(node, self._after(parent.value), True, parent)
        elif isinstance(parent, (cst.AsName, cst.Del)):
            yield Occurrence(node, here, True, parent)
        else:
            yield Occurrence(node, here, False)

    def _after(self, node: cst.CSTNode) -> tuple[int, int, int]:
        end = self.ctx.position(node).end
        return (end.line, end.column, 1)

    def _detaches(self, occurrence: Occurrence) -> bool:
        """Does this read detach the state (`hidden.detach()`, `h.detach_()`, `hidden.data`,
        `repackage_hidden(hidden)`, `tuple(t.detach() for t in hidden)`, `for t in hidden:
        t.detach_()`)?"""
        child = occurrence.node
        for parent in self.ctx.ancestors(occurrence.node):
            if isinstance(parent, cst.Attribute) and parent.value is child:
                if parent.attr.value in _DETACHING_ATTRIBUTES:
                    return True
            elif isinstance(parent, cst.Call) and child is not parent.func:
                if _DETACHING_CALL.search(dotted_name(parent.func) or ""):
                    return True
            elif isinstance(parent, cst.CompFor) and parent.iter is child:
                if _mentions_detach(self.ctx.code(self.ctx.parent(parent))):
                    return True
            elif isinstance(parent, cst.For) and parent.iter is child:
                return _mentions_detach(self.ctx.code(parent.body))
            if isinstance(parent, (cst.BaseStatement, cst.Lambda)):
                return False
            child = parent
        return False

    # -- forwards ----------------------------------------------------------------------------

    def _forward_calls(self, value: cst.BaseExpression) -> Iterator[cst.Call]:
        """Calls of modules in `value` (`rnn(x, h)`, `self.cell(x, h)`, `model.forward(x, h)`),
        outermost first: not torch functions, builtins, tensor methods or state helpers, and
        not modules whose class (defined in this file) detaches the state itself."""
        for node in self.ctx.nodes_in(value):
            if isinstance(node, cst.Call) and self._is_forward(node):
                yield node

    def _is_forward(self, call: cst.Call, depth: int = 0) -> bool:
        """Is `call` the forward of a module with parameters? Built in this file from an
        `nn` class or a module class of the file (`rnn = nn.GRU(...)`, `self.cell = ...`), a
        step function of the file that runs one, or named as one (`model`, `self.encoder`,
        `cell`). Never a torch function, a builtin, a tensor method, a state helper
        (`init_hidden`, `repackage_hidden`), nor a module or function of this file that
        detaches the state itself."""
        name = dotted_name(call.func)
        if not name or self.ctx.torch.names(call.func):
            return False
        last = name.rsplit(".", 1)[-1]
        if name in _BUILTINS or last in _TENSOR_METHODS or _NOT_FORWARD_NAMES.search(last):
            return False
        if last[:1].isupper():  # a class being built, not a forward
            return False
        module = _module_of(name)
        built = self._constructors.get(module, [])
        if len(built) == 1 and self.ctx.modules.builds_module(built[0]):
            cls = self._class_of(module)
            if isinstance(cls, cst.ClassDef):
                return not _mentions_detach(self.ctx.code(cls))
            return not (isinstance(cls, str) and parameterless(cls.rsplit(".", 1)[-1]))
        functions = [d for d in self._definitions.get(last, []) if isinstance(d, cst.FunctionDef)]
        if functions:
            if depth or len(functions) != 1 or _mentions_detach(self.ctx.code(functions[0])):
                return False
            return any(
                isinstance(n, cst.Call) and self._is_forward(n, depth + 1)
                for n in self.ctx.own_nodes(functions[0].body)
            )
        holder = module.rsplit(".", 1)[-1]
        return bool(MODULE_NAME.match(holder) or _RECURRENT_NAME.search(holder))

    def _reads(self, call: cst.Call, name: str) -> bool:
        return any(
            _names(node, name) and not self._is_attribute_part(node)
            for arg in call.args
            for node in self.ctx.nodes_in(arg.value)
        )

    @cached_property
    def _constructors(self) -> dict[str, list[cst.Call]]:
        """`lstm` / `self.lstm` -> the calls assigned to it (`nn.LSTM(...)`)."""
        found: dict[str, list[cst.Call]] = {}
        for node in self.ctx.nodes:
            if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
                for target in node.targets:
                    key = dotted_name(target.target)
                    if key:
                        found.setdefault(key, []).append(node.value)
        return found

    @cached_property
    def _definitions(self) -> dict[str, list[cst.CSTNode]]:
        """Functions and classes of this file by name."""
        found: dict[str, list[cst.CSTNode]] = {}
        for node in self.ctx.nodes:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                found.setdefault(node.name.value, []).append(node)
        return found

    def _class_of(self, module: str) -> str | cst.ClassDef | None:
        """The torch class name (`torch.nn.LSTM`) or the ClassDef of this file `module` is."""
        built = self._constructors.get(module, [])
        if len(built) != 1:
            return None
        names = self.ctx.torch.names(built[0].func)
        if names:
            return sorted(names)[0]
        if isinstance(built[0].func, cst.Name):
            classes = [
                d for d in self._definitions.get(built[0].func.value, [])
                if isinstance(d, cst.ClassDef)
            ]
            return classes[0] if len(classes) == 1 else None
        return None

    def _under_no_grad(self, node: cst.CSTNode) -> bool:
        return self.ctx.grad_mode.disabled_at(node)

    # -- tensor or tuple? --------------------------------------------------------------------

    def _shape(self, region, assignment: cst.Assign, name: str) -> tuple[StateShape | None, bool]:
        """What the state is (a tensor, a tuple or list of tensors) and whether it may be None
        before the first iteration: from the module that returns it (`nn.LSTM` gives a tuple
        `(h, c)`), else from how it is initialised before the region."""
        bound = self._structures_bound(assignment.targets, assignment.value, name)
        forward = {_to_shape(s) for s in bound}
        forward.discard(None)
        initial: set[StateShape | None] = set()
        optional = False
        for structure in self._initial_structures(region, name):
            if structure == _NONE:
                optional = True
            else:
                initial.add(_to_shape(structure))
        if len(forward) == 1:
            return forward.pop(), optional
        if not forward and len(initial) == 1:
            return initial.pop(), optional
        return None, optional

    def _initial_structures(self, region, name: str) -> Iterator[object]:
        """What the state holds before the region first runs: its assignments outside the region
        in the same function (for `self.<attr>`, anywhere in the class) and parameter defaults.
        None stands for a value bound some other way (unknown), _NONE for the value None."""
        if isinstance(region, cst.FunctionDef):
            scope = region
        else:
            scope = self.training.scope_of(region)
        search: cst.CSTNode = scope
        if name.startswith("self."):
            classes = (a for a in self.ctx.ancestors(region) if isinstance(a, cst.ClassDef))
            owner = next(classes, None)
            search = owner if owner is not None else scope
        elif isinstance(scope, cst.FunctionDef):
            params = scope.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                if param.name.value == name:
                    yield self._structure(param.default) if param.default is not None else None
        inside = {id(n) for n in self.ctx.nodes_in(region)}
        found = False
        if name.startswith("self."):
            every = self.ctx.nodes_in(search)
        else:
            every = self.ctx.own_nodes(search)
        for node in every:
            if isinstance(node, cst.Assign) and id(node) not in inside:
                for structure in self._structures_bound(node.targets, node.value, name):
                    found = True
                    yield structure
        if not found:
            yield None

    def _bound_values(self, target, value, name: str):
        """(path, expression) pairs: `name` in `target` is bound to `expression` (or, through
        a call returning a tuple, to element `path` of it)."""
        if _names(target, name):
            yield (), value
            return
        if not isinstance(target, (cst.Tuple, cst.List)):
            return
        elements = [e.value for e in target.elements]
        if any(isinstance(e, cst.StarredElement) for e in target.elements):
            if any(_contains_name(e, name) for e in elements):
                yield (), None
            return
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
            for sub, part in zip(elements, value.elements):
                yield from self._bound_values(sub, part.value, name)
            return
        for index, sub in enumerate(elements):
            if _contains_name(sub, name):
                for path, expression in self._bound_values(sub, value, name):
                    yield (index, *path), expression
                if not _names(sub, name) and not isinstance(sub, (cst.Tuple, cst.List)):
                    yield (), None

    def _structures_bound(self, targets, value, name: str) -> Iterator[object]:
        """The structure `name` gets from `targets = value`, element by element through
        tuple targets (`out, (h, c) = lstm(x)` gives h the first element of the second)."""
        for target in targets:
            for path, expression in self._bound_values(target.target, value, name):
                structure = self._structure(expression)
                node = target.target
                for index in path:
                    elements = [e.value for e in node.elements]
                    if not isinstance(structure, tuple) or len(structure) != len(elements):
                        structure = None
                        break
                    structure, node = structure[index], elements[index]
                yield structure

    def _structure(self, value, depth: int = 0) -> object:
        """_T for a tensor, "list" for a list of tensors, a tuple of structures for a tuple, None
        when unknown."""
        if value is None:
            return None
        if isinstance(value, cst.Name) and value.value == "None":
            return _NONE
        if isinstance(value, cst.Tuple):
            return tuple(self._structure(e.value, depth) for e in value.elements)
        if isinstance(value, cst.List):
            return "list"
        if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation)):
            return _T
        if not isinstance(value, cst.Call):
            return None
        name = dotted_name(value.func)
        if name:
            cls = self._class_of(_module_of(name))
            if isinstance(cls, str) and cls in _RETURNS:
                return _RETURNS[cls]
            if any(n.startswith("torch.") for n in self.ctx.torch.names(value.func)):
                return _T
        if isinstance(value.func, cst.Attribute):
            method = value.func.attr.value
            if method.startswith("new_"):
                return _T
            if method in _SAME_TENSOR:
                return _T if self._structure(value.func.value, depth) == _T else None
        if depth == 0 and name:
            return self._structure_returned_by(name.rsplit(".", 1)[-1])
        return None

    def _structure_returned_by(self, function: str) -> object:
        """`model.init_hidden(bs)` or `init_hidden(bs)` defined in this file: the structure
        every one of its `return`s gives, when they agree."""
        defs = self._definitions.get(function, [])
        if len(defs) != 1:
            return None
        found = {
            repr(self._structure(n.value, depth=1)): self._structure(n.value, depth=1)
            for n in self.ctx.own_nodes(defs[0].body)
            if isinstance(n, cst.Return) and n.value is not None
        }
        return next(iter(found.values())) if len(found) == 1 else None

    # -- backward placement ------------------------------------------------------------------

    def _backward_placement(self, group: Recurrence, loop: TrainingLoop | None, region) -> None:
        """A backward that runs only in some iterations (truncated BPTT every k steps) wants the
        state detached right after it, not at the top of every iteration."""
        if loop is None:
            backwards = [
                e for e in self.training.events if e.kind is Kind.BACKWARD and e.scope is region
            ]
            group.backwards = [e.node for e in backwards]
            group.retained = bool(backwards) and all(retains_graph(e.node) for e in backwards)
            steps = [e for e in self.training.events if e.kind is Kind.STEP and e.scope is region]
            if group.retained and not steps:
                group.deliberate = True
                return
            conditional = [self.training.is_conditional(e.node, region) for e in backwards]
            if conditional and all(conditional):
                group.unplaceable = True
            return
        backwards = loop.of_kind(Kind.BACKWARD)
        group.backwards = [e.event.node for e in backwards]
        group.retained = bool(backwards) and all(retains_graph(e.event.node) for e in backwards)
        if group.retained and not loop.steps():
            # backward(retain_graph=True) with no step in between: gradients through the whole
            # history, on purpose (full BPTT one loss at a time). Nothing raises.
            group.deliberate = True
            return
        if all(e.conditional for e in backwards):
            direct = [e for e in backwards if e.via is None and not e.inner]
            if len(direct) == 1 and len(backwards) == 1:
                statement = self.training.sole_call_statement(direct[0].event.node)
                if statement is None:
                    statement = self.training.statement_of(direct[0].event.node)
                group.backward_after = statement
            else:
                group.unplaceable = True


def detach_code(findings: list[CarriedState]) -> list[str]:
    """`hidden = hidden.detach()`, `h, c = h.detach(), c.detach()`, `state = tuple(...)`."""
    plain = [f for f in findings if f.shape is StateShape.TENSOR and not f.optional]
    if len(plain) == len(findings) and len(plain) > 1:
        targets = ", ".join(f.name for f in plain)
        values = ", ".join(f"{f.name}.detach()" for f in plain)
        return [f"{targets} = {values}\n"]
    code = []
    for f in findings:
        element = "s" if f.name.split(".", 1)[0] == "t" else "t"
        if f.shape is StateShape.TENSOR:
            line = f"{f.name} = {f.name}.detach()"
        elif f.shape is StateShape.TUPLE:
            line = f"{f.name} = tuple({element}.detach() for {element} in {f.name})"
        else:
            line = f"{f.name} = [{element}.detach() for {element} in {f.name}]"
        code.append(f"if {f.name} is not None:\n    {line}\n" if f.optional else f"{line}\n")
    return code


def _to_shape(structure: object) -> StateShape | None:
    if structure == _T:
        return StateShape.TENSOR
    if structure == "list":
        return StateShape.LIST
    if isinstance(structure, tuple):
        return StateShape.TUPLE
    return None


def retains_graph(node: cst.CSTNode) -> bool:
    """`backward(retain_graph=True)` (or `create_graph=True`, which retains too)."""
    if not isinstance(node, cst.Call):
        return False
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value in ("retain_graph", "create_graph"):
            return not (isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None"))
    return False


def _bound_names(assign: cst.Assign) -> list[str]:
    """`out, (h, c) = ...` -> ["out", "h", "c"]; names and `self.x`-style attributes only."""
    found: list[str] = []

    def visit(target):
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                if not isinstance(element, cst.StarredElement):
                    visit(element.value)
        else:
            name = dotted_name(target)
            if name and name not in found:
                found.append(name)

    for target in assign.targets:
        visit(target.target)
    return found


def _names(node: cst.CSTNode, name: str) -> bool:
    """Is `node` exactly the variable `name` (`hidden`, `self.hidden`)?"""
    if isinstance(node, cst.Name):
        return node.value == name
    if isinstance(node, cst.Attribute) and "." in name:
        return dotted_name(node) == name
    return False


def _contains_name(target: cst.CSTNode, name: str) -> bool:
    """Does the assignment target (`out, (h, c)`) bind `name` somewhere inside?"""
    if _names(target, name):
        return True
    if isinstance(target, (cst.Attribute, cst.Subscript)):  # `self.hidden` does not bind `hidden`
        return False
    return any(_contains_name(child, name) for child in target.children)


def _module_of(callee: str) -> str:
    """`model.forward` -> `model`: the module whose forward a call runs."""
    return callee[: -len(".forward")] if callee.endswith(".forward") else callee


def _mentions_detach(code: str) -> bool:
    return bool(re.search(r"\.detach_?\(|\.data\b|requires_grad_\(", code))


