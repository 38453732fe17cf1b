"""Gradient dataflow: within a function (or module) body, in statement order, which names carry
gradient, and what cut the ones that no longer do.

A value is one of
- GRAD: derived from a module with parameters (`model(x)`, `self.fc(x)`), an nn.Parameter, or a
  tensor made with `requires_grad=True` / `.requires_grad_()`;
- CUT: it was GRAD, but `.detach()`, `.data`, `.item()`, `.numpy()`, `.tolist()`, a
  `torch.tensor(...)` re-wrap or a `torch.no_grad()` block severed it (the cuts are recorded);
- UNKNOWN: it comes from code the analysis cannot see (a helper, an unknown call) and might
  carry gradient;
- NONE: data and constants.
Joins favour what carries gradient (GRAD > UNKNOWN > CUT > NONE), so a rule that fires on CUT
never fires when some path may still reach the parameters.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from autofix.analysis.autograd_ops import OPERATORS, SAVES_INPUT, SAVES_INPUT_ALWAYS, SAVES_OUTPUT
from autofix.analysis.imports import dotted_name
from autofix.analysis.losses import LOSS_NAME
from autofix.analysis.modules import self_attribute

if TYPE_CHECKING:
    from autofix.context import FileContext


class Grad(enum.IntEnum):
    NONE = 0
    CUT = 1
    UNKNOWN = 2
    GRAD = 3


@dataclass(frozen=True)
class Value:
    grad: Grad
    cuts: frozenset = frozenset()  # the nodes that severed it (for CUT)
    leaf: bool = False  # a leaf that requires grad (Parameter, requires_grad=True tensor)
    deps: frozenset = frozenset()  # the names it was computed from

    def join(self, other: "Value") -> "Value":
        grad = max(self.grad, other.grad)
        cuts = (self.cuts | other.cuts) if grad is Grad.CUT else frozenset()
        return Value(grad, cuts, self.leaf and other.leaf, self.deps | other.deps)


@dataclass(frozen=True)
class InPlace:
    """An in-place update of the tensor bound to `name`: `t += u`, `t.add_(u)`, `t[i] = v`."""

    node: cst.CSTNode  # the AugAssign / Assign / Call
    line: cst.SimpleStatementLine
    name: str
    kind: str  # "augmented" | "method" | "setitem"
    before: Value  # the tensor's value just before the update
    saved_by: cst.CSTNode | None  # the op that saved it for backward, if any
    in_no_grad: cst.CSTNode | None


NONE = Value(Grad.NONE)
UNKNOWN = Value(Grad.UNKNOWN)
GRAD = Value(Grad.GRAD)

CUT_METHODS = frozenset({"detach", "item", "numpy", "tolist"})
PARAMETER_NAME = re.compile(r"(^|_)(weight|bias|weights|biases)(_\w+)?$")
NO_GRAD_ATTRIBUTES = frozenset(
    {"shape", "dtype", "device", "grad", "requires_grad", "is_leaf", "ndim", "grad_fn", "layout"}
)
NO_GRAD_METHODS = frozenset(
    {"size", "dim", "numel", "argmax", "argmin", "eq", "ne", "lt", "gt", "le", "ge", "nonzero",
     "parameters", "named_parameters", "state_dict", "zero_grad", "train", "eval", "type"}
)
REWRAPS = frozenset({"torch.tensor", "torch.as_tensor", "torch.from_numpy", "torch.Tensor"})
# Modules without parameters: calling them passes gradient through but is not a source.
PARAMETERLESS = re.compile(
    r"(Loss|ReLU|ReLU6|LeakyReLU|GELU|SiLU|ELU|SELU|Tanh|Sigmoid|Softmax|LogSoftmax|Dropout\d?d?"
    r"|Identity|Flatten|Unflatten|MaxPool\dd|AvgPool\dd|AdaptiveAvgPool\dd|AdaptiveMaxPool\dd"
    r"|Upsample|PixelShuffle|Hardtanh|Softplus|Mish)$"
)
MODULE_NAME = re.compile(
    r"^(model|net|network|encoder|decoder|generator|discriminator|critic|actor|policy|backbone"
    r"|classifier|head|student|teacher|G|D|netG|netD|net_g|net_d|q_net|qnet|module|layer|rnn|lstm|gru)"
    # a short role suffix only (`model2`, `net_g`, `model_ema`): `module_info` or `model_name`
    # name data about a model, not a model
    r"(_?(\d+|[A-Za-z]|ema|old|new|target|online|main|base|ft|s|t))?$"
)


@dataclass
class Scope:
    """The state of names at one point of one function body."""

    names: dict[str, Value] = field(default_factory=dict)
    saved: dict[str, cst.CSTNode] = field(default_factory=dict)  # name -> op that saved it

    def copy(self) -> "Scope":
        return Scope(dict(self.names), dict(self.saved))


@dataclass(frozen=True)
class BackwardFlow:
    """What reaches a backward call: the loss's value at that point."""

    call: cst.Call
    loss: cst.BaseExpression
    value: Value


class GradientFlow:
    """Walks every function body (and the module body) once, in statement order, recording the
    value of every loss passed to backward and of every `return` of an nn.Module's forward."""

    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx
        self._modules = ctx.modules
        self._backwards: dict[int, BackwardFlow] = {}
        self._returns: dict[int, tuple[cst.Return, Value]] = {}
        self._inplace: dict[int, InPlace] = {}
        self.no_grad_blocks: dict[cst.CSTNode, cst.With] = {}  # assignment -> its no_grad block
        self._before: dict[int, tuple[dict[str, Value], cst.CSTNode | None]] = {}  # small statement -> names before it
        self._module_attributes = self._collect_module_attributes()
        self._module_names = self._collect_module_names()
        self._backward_calls = {
            id(e.node): e for e in ctx.training.events if e.kind.value == "backward"
        }
        self._run(ctx.module.body, Scope(), in_no_grad=None, forward=False)
        for node in ctx.nodes:
            if isinstance(node, cst.FunctionDef):
                self._run(
                    node.body.body,
                    self._parameters(node),
                    in_no_grad=ctx.grad_mode.disabling_decorator(node),
                    forward=node.name.value == "forward" and self._in_module_class(node),
                )

    # -- what things are ---------------------------------------------------------------------

    def _collect_module_attributes(self) -> dict[str, bool]:
        """`self.<attr>` of module classes -> True when it holds a module with parameters (or a
        Parameter), False when it holds a parameterless module."""
        found: dict[str, bool] = {}
        for cls in self._modules.classes:
            for node in self._ctx.nodes_in(cls):
                if isinstance(node, cst.Assign) and len(node.targets) == 1:
                    attribute = self_attribute(node.targets[0].target)
                    if attribute is None:
                        continue
                    if self._is_parameter(node.value):
                        found[attribute] = True
                    elif self._modules.builds_module(node.value):
                        found[attribute] = self._has_parameters(node.value)
        return found

    def _collect_module_names(self) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for node in self._ctx.nodes:
            if isinstance(node, cst.Assign) and self._modules.builds_module(node.value):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        found[target.target.value] = self._has_parameters(node.value)
        return found

    def _has_parameters(self, call: cst.Call) -> bool:
        names = self._ctx.torch.names(call.func)
        return not any(PARAMETERLESS.search(n.rsplit(".", 1)[-1]) for n in names)

    def _is_parameter(self, value: cst.BaseExpression) -> bool:
        return isinstance(value, cst.Call) and any(
            n.endswith(".Parameter") for n in self._ctx.torch.names(value.func)
        )

    def _is_module_holder(self, node: cst.BaseExpression) -> bool | None:
        """True: a module with parameters; False: a parameterless module; None: not a module."""
        if isinstance(node, cst.Name):
            if node.value in self._module_names:
                return self._module_names[node.value]
            if LOSS_NAME.match(node.value):
                return False
            return True if MODULE_NAME.match(node.value) else None
        attribute = self_attribute(node)
        if attribute is not None:
            if attribute in self._module_attributes:
                return self._module_attributes[attribute]
            if LOSS_NAME.match(attribute):
                return False
            return True if MODULE_NAME.match(attribute) else None
        if isinstance(node, cst.Attribute) and self._is_module_holder(node.value):
            return True  # model.encoder, self.model.head
        if isinstance(node, cst.Subscript) and self._is_module_holder(node.value):
            return True  # self.layers[i]
        return None

    def _in_module_class(self, function: cst.FunctionDef) -> bool:
        parent = self._ctx.parent(self._ctx.parent(function))
        return isinstance(parent, cst.ClassDef) and parent in self._modules.classes

    def _parameters(self, function: cst.FunctionDef) -> Scope:
        scope = Scope()
        for param in (*function.params.posonly_params, *function.params.params, *function.params.kwonly_params):
            scope.names[param.name.value] = NONE
        return scope

    # -- statements --------------------------------------------------------------------------

    def _run(self, body, scope: Scope, in_no_grad: cst.CSTNode | None, forward: bool) -> None:
        for statement in body:
            self._statement(statement, scope, in_no_grad, forward)

    def _statement(self, statement, scope: Scope, in_no_grad, forward: bool) -> None:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            return
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self._small(small, scope, in_no_grad, forward)
            return
        if isinstance(statement, cst.With):
            mode = self._ctx.grad_mode.of_with(statement)
            block = statement if mode else None if mode is False else in_no_grad
            for item in statement.items:
                if item.asname is not None:
                    self._bind(item.asname.name, self.value(item.item, scope), scope, None)
            self._block(statement.body, scope, block, forward)
            return
        if isinstance(statement, (cst.For, cst.While)):
            if isinstance(statement, cst.For):
                self._bind(statement.target, self._iterated(statement.iter, scope), scope, in_no_grad)
            # Twice: values assigned late in the body reach its start in the next iteration.
            for _ in range(2):
                branch = scope.copy()
                self._block(statement.body, branch, in_no_grad, forward)
                _merge_into(scope, branch)
            if statement.orelse is not None:
                self._block(statement.orelse.body, scope, in_no_grad, forward)
            return
        if isinstance(statement, cst.If):
            branches = []
            node = statement
            while isinstance(node, cst.If):
                branch = scope.copy()
                self._block(node.body, branch, in_no_grad, forward)
                branches.append(branch)
                node = node.orelse
            if node is not None:
                branch = scope.copy()
                self._block(node.body, branch, in_no_grad, forward)
                branches.append(branch)
            for branch in branches:
                _merge_into(scope, branch)
            return
        if isinstance(statement, cst.Try):
            self._block(statement.body, scope, in_no_grad, forward)
            for handler in statement.handlers:
                branch = scope.copy()
                self._block(handler.body, branch, in_no_grad, forward)
                _merge_into(scope, branch)
            for extra in (statement.orelse, statement.finalbody):
                if extra is not None:
                    self._block(extra.body, scope, in_no_grad, forward)
            return
        # match, async constructs and the rest: look at what they call, bind nothing precisely.
        for node in self._ctx.nodes_in(statement):
            if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
                for target in _targets(node):
                    self._bind(target, UNKNOWN, scope, None)

    def _block(self, block, scope: Scope, in_no_grad, forward: bool) -> None:
        body = block.body if isinstance(block, cst.IndentedBlock) else block.body
        if isinstance(block, cst.SimpleStatementSuite):
            for small in body:
                self._small(small, scope, in_no_grad, forward)
            return
        self._run(body, scope, in_no_grad, forward)

    def _small(self, small, scope: Scope, in_no_grad, forward: bool) -> None:
        self._before[id(small)] = (dict(scope.names), in_no_grad)  # loop bodies: the 2nd walk wins
        self._record_backwards(small, scope, in_no_grad)
        self._record_inplace(small, scope, in_no_grad)
        if in_no_grad is None:
            self._note_saved(small, scope)
        if isinstance(small, cst.Assign):
            value = self._under(self.value(small.value, scope), in_no_grad)
            for target in small.targets:
                self._bind(target.target, value, scope, in_no_grad, small)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind(small.target, self._under(self.value(small.value, scope), in_no_grad), scope, in_no_grad, small)
        elif isinstance(small, cst.AugAssign):
            # `t += u` updates the tensor itself: under no_grad it stays what it was (a leaf
            # stays a leaf); outside, it also takes in whatever `u` carries.
            current = self.value(small.target, scope)
            if in_no_grad is None:
                joined = current.join(self.value(small.value, scope))
                current = Value(joined.grad, joined.cuts, current.leaf, joined.deps)
            self._bind(small.target, current, scope, None, small)
        elif isinstance(small, cst.Return) and forward and small.value is not None:
            value = self._under(self.value(small.value, scope), in_no_grad)
            seen = self._returns.get(id(small))
            self._returns[id(small)] = (small, seen[1].join(value) if seen else value)

    def _record_backwards(self, small, scope: Scope, in_no_grad) -> None:
        for node in self._ctx.nodes_in(small):
            event = self._backward_calls.get(id(node))
            if event is not None and event.loss is not None:
                value = self._under(self.value(event.loss, scope), in_no_grad)
                seen = self._backwards.get(id(node))  # loop bodies are walked twice
                if seen is not None:
                    value = seen.value.join(value)
                self._backwards[id(node)] = BackwardFlow(node, event.loss, value)

    def _record_inplace(self, small, scope: Scope, in_no_grad) -> None:
        line = self._ctx.parent(small)
        if not isinstance(line, cst.SimpleStatementLine):
            return
        target, kind = None, None
        if isinstance(small, cst.AugAssign):
            target, kind = small.target, "augmented"
        elif isinstance(small, cst.Assign) and len(small.targets) == 1:
            subscript = small.targets[0].target
            if isinstance(subscript, cst.Subscript):
                target, kind = subscript.value, "setitem"
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            func = small.value.func
            if isinstance(func, cst.Attribute) and func.attr.value.endswith("_") and not func.attr.value.startswith("_"):
                if func.attr.value not in ("requires_grad_", "retain_grad_", "share_memory_"):
                    target, kind = func.value, "method"
        if not isinstance(target, cst.Name) or kind is None:
            return
        name = target.value
        if kind == "setitem" and name not in scope.names:
            return
        record = InPlace(small, line, name, kind, self.value(target, scope), scope.saved.get(name), in_no_grad)
        self._inplace.setdefault(id(small), record)

    def _note_saved(self, small, scope: Scope) -> None:
        """Remember the tensors autograd saves in this statement (see autograd_ops)."""
        for node in self._ctx.nodes_in(small):
            op, operands = None, []
            if isinstance(node, cst.BinaryOperation):
                op = OPERATORS.get(type(node.operator).__name__)
                operands = [node.left, node.right]
            elif isinstance(node, cst.Call):
                func = node.func
                if isinstance(func, cst.Attribute) and not self._ctx.torch.names(func):
                    op, operands = func.attr.value, [func.value, *(a.value for a in node.args)]
                else:
                    names = self._ctx.torch.names(func)
                    op = next((n.rsplit(".", 1)[-1] for n in names), None)
                    operands = [a.value for a in node.args]
            if op is None or not operands:
                continue
            values = [self.value(o, scope) for o in operands]
            if op in SAVES_INPUT:
                for index, operand in enumerate(operands):
                    others = [v for i, v in enumerate(values) if i != index]
                    other_grad = any(v.grad is Grad.GRAD for v in others)
                    if isinstance(operand, cst.Name) and values[index].grad is Grad.GRAD and (
                        op in SAVES_INPUT_ALWAYS or other_grad
                    ):
                        scope.saved[operand.value] = node
        if isinstance(small, cst.Assign):
            saves_output = _saves_output(self._ctx, small.value)
            for target in small.targets:
                if isinstance(target.target, cst.Name):
                    if saves_output:
                        scope.saved[target.target.value] = small.value
                    else:
                        scope.saved.pop(target.target.value, None)

    @property
    def inplace_updates(self) -> list[InPlace]:
        return list(self._inplace.values())

    def _under(self, value: Value, in_no_grad) -> Value:
        """A value computed inside a no_grad block has no graph: a cut by that block."""
        if in_no_grad is not None and value.grad in (Grad.GRAD, Grad.UNKNOWN):
            return Value(Grad.CUT, frozenset({in_no_grad}), deps=value.deps)
        return value

    def _bind(self, target, value: Value, scope: Scope, in_no_grad, statement=None) -> None:
        if isinstance(target, cst.Name):
            scope.names[target.value] = value
            if statement is not None and isinstance(in_no_grad, cst.With):
                self.no_grad_blocks[statement] = in_no_grad
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind(element.value, value, scope, in_no_grad, statement)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value, value, scope, in_no_grad, statement)
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            key = dotted_name(target) if isinstance(target, cst.Attribute) else None
            if key:
                scope.names[key] = value

    def _iterated(self, iterable: cst.BaseExpression, scope: Scope) -> Value:
        """`for p in model.parameters()` gives Parameters; `for x, y in loader` gives data."""
        for node in self._ctx.nodes_in(iterable):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                if node.func.attr.value in ("parameters", "named_parameters"):
                    return Value(Grad.GRAD, leaf=True)
        value = self.value(iterable, scope)
        return value if value.grad is not Grad.UNKNOWN else NONE

    # -- expressions -------------------------------------------------------------------------

    def value(self, node: cst.BaseExpression, scope: Scope) -> Value:
        if isinstance(node, cst.Name):
            value = scope.names.get(node.value, NONE)
            return Value(value.grad, value.cuts, value.leaf, value.deps | {node.value})
        if isinstance(node, cst.Attribute):
            return self._attribute(node, scope)
        if isinstance(node, cst.Call):
            return self._call(node, scope)
        if isinstance(node, cst.Subscript):
            return _strip_leaf(self.value(node.value, scope))
        if isinstance(node, (cst.BinaryOperation,)):
            return _strip_leaf(self.value(node.left, scope).join(self.value(node.right, scope)))
        if isinstance(node, cst.UnaryOperation):
            return _strip_leaf(self.value(node.expression, scope))
        if isinstance(node, (cst.Tuple, cst.List)):
            return _join(self.value(e.value, scope) for e in node.elements)
        if isinstance(node, cst.IfExp):
            return self.value(node.body, scope).join(self.value(node.orelse, scope))
        if isinstance(node, (cst.Comparison, cst.BooleanOperation)):
            return NONE
        if isinstance(node, (cst.ListComp, cst.GeneratorExp, cst.DictComp, cst.SetComp, cst.Lambda)):
            return UNKNOWN
        return NONE

    def _attribute(self, node: cst.Attribute, scope: Scope) -> Value:
        name = node.attr.value
        key = dotted_name(node)
        if key and key in scope.names:
            return scope.names[key]
        if name in NO_GRAD_ATTRIBUTES:
            return NONE
        holder = self._is_module_holder(node.value)
        if holder:
            # model.weight, self.fc.bias: Parameters; any other attribute of a module may be a
            # submodule, a setting or a buffer.
            return Value(Grad.GRAD, leaf=True) if PARAMETER_NAME.search(name) else UNKNOWN
        attribute = self_attribute(node)
        if attribute is not None and self._module_attributes.get(attribute):
            return Value(Grad.GRAD, leaf=True)
        base = self.value(node.value, scope)
        if name == "data" and base.grad is Grad.GRAD:
            return Value(Grad.CUT, frozenset({node}))
        return _strip_leaf(base)

    def _call(self, node: cst.Call, scope: Scope) -> Value:
        func = node.func
        args = _join(self.value(a.value, scope) for a in node.args)
        torch = self._ctx.torch
        wants_grad = any(
            a.keyword is not None and a.keyword.value == "requires_grad"
            and isinstance(a.value, cst.Name) and a.value.value == "True"
            for a in node.args
        )
        if torch.is_any(func, REWRAPS) and args.grad in (Grad.GRAD, Grad.CUT):
            return Value(Grad.CUT, args.cuts | {node})
        if torch.is_any(func, REWRAPS) or self._modules.tensor_factory(node):
            return Value(Grad.GRAD, leaf=True) if wants_grad else NONE
        if self._is_parameter(node):
            return Value(Grad.GRAD, leaf=True)
        if isinstance(func, cst.Attribute) and self._is_module_holder(func) is not None:
            # self.model(x), model.encoder(x): the attribute itself is a module
            return Value(Grad.GRAD, deps=args.deps) if self._is_module_holder(func) else _strip_leaf(args)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = self.value(func.value, scope)
            holder = self._is_module_holder(func.value)
            if method in CUT_METHODS:
                return Value(Grad.CUT, receiver.cuts | {node}) if receiver.grad is Grad.GRAD else (
                    receiver if receiver.grad is Grad.CUT else NONE
                )
            if method == "requires_grad_":
                flag = node.args[0].value if node.args else None
                if isinstance(flag, cst.Name) and flag.value == "False":
                    return NONE
                return Value(Grad.GRAD, leaf=True)
            if method in NO_GRAD_METHODS:
                return NONE
            if method in ("forward", "__call__") and holder:
                return Value(Grad.GRAD, deps=args.deps)
            if holder is not None:  # self.encoder.embed(x), ...
                return Value(Grad.GRAD, deps=args.deps) if holder else _strip_leaf(args)
            if any(n.startswith("torch.") for n in torch.names(func)):
                return _strip_leaf(args)  # torch.relu(x), F.mse_loss(a, b), torch.cat([...])
            if receiver.grad is not Grad.NONE:
                return _strip_leaf(receiver.join(args))  # x.sum(), x.view(...), x.mean(1)
            return UNKNOWN if args.grad in (Grad.GRAD, Grad.UNKNOWN) else _strip_leaf(args)
        holder = self._is_module_holder(func)
        if holder is not None:  # model(x) / criterion(out, y)
            return Value(Grad.GRAD, deps=args.deps) if holder else _strip_leaf(args)
        if any(n.startswith("torch.") for n in torch.names(func)):
            return _strip_leaf(args)
        if isinstance(func, cst.Name) and func.value in ("float", "int", "bool", "len", "str", "print"):
            return Value(Grad.CUT, args.cuts | {node}) if args.grad is Grad.GRAD else NONE
        # A helper or a library call: it might build a graph from anything it is given.
        return UNKNOWN if args.grad is not Grad.NONE or node.args else NONE

    def value_at(self, expr: cst.BaseExpression) -> Value | None:
        """The value of `expr` where its simple statement runs (None for expressions outside one:
        loop headers, `if` tests, `with` items)."""
        for node in (expr, *self._ctx.ancestors(expr)):
            if id(node) in self._before:
                names, in_no_grad = self._before[id(node)]
                return self._under(self.value(expr, Scope(dict(names))), in_no_grad)
            if isinstance(node, (cst.BaseCompoundStatement, cst.FunctionDef, cst.Lambda)):
                return None
        return None

    def denotes_module(self, node: cst.BaseExpression) -> bool | None:
        """True: `node` names a module with parameters (`model`, `self.encoder`, `net.fc`);
        False: a parameterless one (`criterion`, `self.relu`); None: not known to be a module."""
        return self._is_module_holder(node)

    @property
    def backwards(self) -> list[BackwardFlow]:
        """Every backward call with the value of its loss, in source order."""
        return list(self._backwards.values())

    @property
    def forward_returns(self) -> list[tuple[cst.Return, Value]]:
        """Every `return` of an nn.Module's `forward` with its value."""
        return list(self._returns.values())


def _strip_leaf(value: Value) -> Value:
    return Value(value.grad, value.cuts, deps=value.deps) if value.leaf else value


def _saves_output(ctx, value: cst.BaseExpression) -> bool:
    """`torch.sigmoid(x)`, `x.exp()`, `F.relu(x)`: ops whose backward reads their result."""
    if not isinstance(value, cst.Call):
        return False
    func = value.func
    names = ctx.torch.names(func)
    if names:
        return any(n.rsplit(".", 1)[-1] in SAVES_OUTPUT for n in names)
    return isinstance(func, cst.Attribute) and func.attr.value in SAVES_OUTPUT


def _join(values: Iterator[Value]) -> Value:
    result = NONE
    for value in values:
        result = result.join(value)
    return result


def _merge_into(scope: Scope, branch: Scope) -> None:
    for name, value in branch.names.items():
        scope.names[name] = scope.names[name].join(value) if name in scope.names else value
    for name, saver in branch.saved.items():
        scope.saved.setdefault(name, saver)  # saved on some path: an in-place change may break it


def _targets(node) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Assign):
        return [t.target for t in node.targets]
    return [node.target]
