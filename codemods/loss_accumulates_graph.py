from __future__ import annotations

from dataclasses import dataclass, field
import libcst as cst

from autofix.analysis.accumulations import ARITHMETIC, Accumulation, mentions_in_value
from autofix.analysis.library import MODULE_NAME
from autofix.analysis.imports import AUTOGRAD_BACKWARD, dotted_name
from autofix.analysis.training import Kind, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, replace


class LossAccumulatesGraph(Rule):
    name = "loss-accumulates-graph"
    summary = "A gradient-carrying loss is accumulated across iterations, keeping every graph alive"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for a loss that carries gradient being accumulated across the iterations of a training
loop: `total += loss`, `total = total + loss`, `losses.append(loss)`,
`history["loss"].append(loss)`. A value carries gradient when the loop backpropagates it
(`loss.backward()`, `scaler.scale(loss).backward()`, `accelerator.backward(loss)` ...), when it
is assigned from a loss function (`criterion(...)`, `nn.*Loss` instances, `F.mse_loss(...)`,
`compute_loss(...)`), from a model output's `.loss`, from a helper of the same file that
backpropagates it and returns it, or when it is computed from such a value. Helpers called from
a training loop that store the loss on `self` or in a list that outlives the call are checked too.

## Why is this bad?
A tensor that carries gradient holds its whole autograd graph. Adding it to a running total makes
the total's graph reference the previous total's graph and this iteration's; appending it to a
list keeps it referenced. Nothing of any iteration's graph can be freed, so memory grows every
step until the process runs out. PyTorch raises nothing; its FAQ ("My model reports cuda runtime
error(2): out of memory") describes exactly this: "total_loss is accumulating history across your
training loop, since loss is a differentiable variable with autograd history".

Values computed under `torch.no_grad()` / `torch.inference_mode()`, values already cut with
`.item()`, `.detach()`, `.data` or `float(...)`, and running sums that are themselves
backpropagated (`total = total + loss` followed by `total.backward()`, a per-iteration list
summed and backpropagated) are not reported. Accumulators reset unconditionally in every
iteration do not grow and are not reported either.

## Example
```python
total_loss = 0.0
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss
```

## Use instead
```python
total_loss = 0.0
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss.item()
```

## Fix safety
Safe. Each gradient-carrying operand of the accumulation is cut from its graph, choosing the cut
that cannot break the code around it:
- `.item()` when the operand surely holds one element (it is passed to backward without an
  explicit gradient, or it is a PyTorch loss without `reduction="none"`, or a `.mean()` /
  `.sum()` without arguments) and the accumulator may become a Python number: it starts as a
  tensor built by `torch.*` (adding a number keeps it one), or, everywhere in the file, nothing
  calls a tensor method on it or on its elements, passes it to a `torch` function other than
  `torch.tensor`, or to a function of the file that does, returns it or stores it in an
  attribute, and it is not an object the function received from its caller;
- `.detach()` otherwise. It keeps the accumulator a tensor of the same shape, dtype and device,
  so `total.item()`, `torch.stack(losses)` or a caller expecting a tensor keep working; only the
  graph and `requires_grad` are gone.
The values accumulated are unchanged. `.item()` waits for the device once per step, which on a
GPU costs a synchronisation; `.detach()` does not.
"""

    def check(self, ctx):
        analysis = _Analysis(ctx)
        for accumulation in ctx.accumulations:
            region = analysis.region_of(accumulation)
            if region is None:
                continue
            target = ctx.code(accumulation.target)
            parts = [
                p for p in region.grad_parts(accumulation.value, accumulation.no_grad)
                if ctx.code(p.node) != target
            ]
            if not parts or not region.persists(accumulation):
                continue
            if analysis.backpropagated_on_purpose(accumulation):
                continue
            use_item = analysis.accepts_numbers(accumulation)
            edits = []
            for part in parts:
                method = "item" if use_item and part.scalar else "detach"
                edits.append(replace(part.node, _call_method(part.node, method)))
            yield Violation(
                accumulation.node,
                _message(ctx, accumulation, parts[0], region),
                Fix.of(*edits),
            )


# Packages whose `*_loss` functions return numbers, not tensors.

# Methods through which a tensor keeps its graph; the call as a whole is what gets cut.
_GRAD_KEEPING_METHODS = frozenset(
    {
        "mean", "sum", "clone", "float", "double", "half", "bfloat16", "to", "cpu", "cuda",
        "squeeze", "unsqueeze", "view", "reshape", "flatten", "abs", "sqrt", "exp", "log", "pow",
        "mul", "div", "add", "sub", "neg", "contiguous", "type_as",
    }
)
# Of those, the ones that keep a one-element tensor one element (or make one, without args).
_SCALAR_KEEPING_METHODS = frozenset(
    {"clone", "float", "double", "half", "bfloat16", "to", "cpu", "cuda", "squeeze", "abs",
     "sqrt", "exp", "log", "neg", "contiguous"}
)
_REDUCING_METHODS = frozenset({"mean", "sum"})


# -- regions: where one iteration's values are made ------------------------------------------


@dataclass(frozen=True)
class _Part:
    """An operand of an accumulation that carries gradient, to be cut."""

    node: cst.BaseExpression
    scalar: bool  # surely one element, so `.item()` works
    why: str


@dataclass(eq=False)
class _Region:
    """The body whose values are new in every iteration: a training loop, or a helper function
    that a training loop calls once per iteration."""

    ctx: object
    node: cst.CSTNode  # the loop, or the helper's FunctionDef
    loop: TrainingLoop | None
    grad_mode: object  # the file's GradMode
    tainted: dict[str, tuple[bool, str]] = field(default_factory=dict)  # code -> (scalar, why)
    assigned: set[str] = field(default_factory=set)
    call_results: dict[str, cst.BaseExpression] = field(default_factory=dict)  # name -> callee
    returning_helpers: dict[int, list[tuple[int | None, bool, str]]] = field(default_factory=dict)
    definitions: dict[str, list[tuple[tuple[int, int], bool]]] = field(default_factory=dict)

    # -- taint -----------------------------------------------------------------------------

    def compute(self, backwards) -> None:
        """`backwards`: (Event, via call) pairs of backward that run in the region."""
        ctx = self.ctx
        assignments = []
        for node in self.ctx.own_nodes(self.node)[1:]:
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    self.assigned.update(_bound_codes(ctx, target.target))
                assignments.append(node)
                if isinstance(node.value, cst.Call) and len(node.targets) == 1:
                    for code in _bound_codes(ctx, node.targets[0].target):
                        self.call_results[code] = node.value.func
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                self.assigned.update(_bound_codes(ctx, node.target))
                if isinstance(node, cst.AnnAssign) and node.value is not None:
                    assignments.append(node)
            elif isinstance(node, (cst.For, cst.CompFor)):
                self.assigned.update(_bound_codes(ctx, node.target))
            elif isinstance(node, cst.AsName):
                self.assigned.update(_bound_codes(ctx, node.name))
            elif isinstance(node, cst.NamedExpr):
                self.assigned.update(_bound_codes(ctx, node.target))

        for node in assignments:
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            clean = _clean_value(ctx, node.value, self.grad_mode.disabled_at(node))
            end = ctx.position(node).end
            for target in targets:
                if isinstance(target, (cst.Name, cst.Attribute)):
                    self.definitions.setdefault(ctx.code(target), []).append(
                        ((end.line, end.column), clean)
                    )

        for event, via in backwards:
            line = ctx.position(event.node).start.line
            if via is not None:
                self._helper_returns(event, via, line)
                continue
            if event.loss is None:
                continue
            implicit = _implicit_gradient(ctx, event.node)
            if isinstance(event.loss, (cst.Name, cst.Attribute)):
                code = ctx.code(event.loss)
                if code in self.assigned or (  # `outputs.loss.backward()`
                    isinstance(event.loss, cst.Attribute) and _root_name(event.loss) in self.assigned
                ):
                    self._taint(code, implicit, f"it is backpropagated at line {line}")
            else:
                for name in _value_names(event.loss):
                    code = ctx.code(name)
                    if code in self.assigned:
                        self._taint(code, False, f"it is backpropagated at line {line}")

        changed = True
        while changed:
            changed = False
            for node in assignments:
                no_grad = self.grad_mode.disabled_at(node)
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(node.value, cst.Call):
                        changed |= self._taint_unpacked(target, node.value)
                        continue
                    if not isinstance(target, (cst.Name, cst.Attribute)):
                        continue
                    code = ctx.code(target)
                    if code in self.tainted or mentions_in_value(ctx, node.value, code):
                        continue  # `total = total + loss` is an accumulation, reported itself
                    parts = self.grad_parts(node.value, no_grad)
                    if not parts:
                        continue
                    scalar = self._scalar(node.value, parts)
                    line = ctx.position(node).start.line
                    why = parts[0].why if parts[0].node is node.value else (
                        f"it is computed from `{ctx.code(parts[0].node)}` at line {line}"
                    )
                    self._taint(code, scalar, why)
                    changed = True

    def _taint(self, code: str, scalar: bool, why: str) -> None:
        old = self.tainted.get(code)
        if old is None or (scalar and not old[0]):
            self.tainted[code] = (scalar, old[1] if old else why)

    def _helper_returns(self, event, via: cst.Call, line: int) -> None:
        """`loss = train_step(batch)` where the helper backpropagates `loss` and returns it."""
        ctx = self.ctx
        helper = event.scope
        if not isinstance(helper, cst.FunctionDef) or not isinstance(event.loss, cst.Name):
            return
        loss = event.loss.value
        implicit = _implicit_gradient(ctx, event.node)
        name = helper.name.value
        for node in self.ctx.own_nodes(helper)[1:]:
            if isinstance(node, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value == loss for t in node.targets
            ) and _clean_value(ctx, node.value, False):
                return  # `loss = loss.detach()` before it is returned
        for node in self.ctx.own_nodes(helper)[1:]:
            if not isinstance(node, cst.Return) or node.value is None:
                continue
            value = node.value
            if isinstance(value, cst.Name) and value.value == loss:
                self.returning_helpers.setdefault(id(via), []).append(
                    (None, implicit, f"`{name}` backpropagates it and returns it")
                )
            elif isinstance(value, cst.Tuple):
                for index, element in enumerate(value.elements):
                    if isinstance(element.value, cst.Name) and element.value.value == loss:
                        self.returning_helpers.setdefault(id(via), []).append(
                            (index, implicit, f"`{name}` backpropagates it and returns it")
                        )

    def _taint_unpacked(self, target: cst.Tuple | cst.List, call: cst.Call) -> bool:
        changed = False
        for index, scalar, why in self.returning_helpers.get(id(call), ()):
            if index is None or index >= len(target.elements):
                continue
            element = target.elements[index].value
            if isinstance(element, cst.Name) and element.value not in self.tainted:
                self._taint(element.value, scalar, why)
                changed = True
        return changed

    def _scalar(self, expr: cst.BaseExpression, parts: list[_Part]) -> bool:
        """Is `expr` (built from `parts`) surely one element: a one-element part, alone or
        combined only with number literals?"""
        by_node = {id(p.node): p for p in parts}

        def scalar(e) -> bool:
            if id(e) in by_node:
                return by_node[id(e)].scalar
            if isinstance(e, (cst.Integer, cst.Float)):
                return True
            if isinstance(e, cst.BinaryOperation):
                return scalar(e.left) and scalar(e.right)
            if isinstance(e, cst.UnaryOperation):
                return scalar(e.expression)
            return False

        return scalar(expr)

    # -- operands that carry gradient --------------------------------------------------------

    def grad_parts(self, expr: cst.BaseExpression, no_grad: bool = False) -> list[_Part]:
        """The operands of `expr` through which it carries this region's gradient, outermost
        first cut point each. Under no_grad only a bare reference keeps a graph."""
        atom = self._atom(expr, no_grad)
        if atom is not None:
            return [atom]
        if isinstance(expr, (cst.Tuple, cst.List)):
            return [p for e in expr.elements for p in self.grad_parts(e.value, no_grad)]
        if isinstance(expr, cst.Dict):
            return [
                p for e in expr.elements if isinstance(e, cst.DictElement)
                for p in self.grad_parts(e.value, no_grad)
            ]
        if no_grad:
            return []
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, ARITHMETIC):
            return self.grad_parts(expr.left) + self.grad_parts(expr.right)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
            return self.grad_parts(expr.expression)
        if (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in _GRAD_KEEPING_METHODS
        ):
            inner = self.grad_parts(expr.func.value)
            if inner:
                method = expr.func.attr.value
                scalar = (method in _REDUCING_METHODS and not expr.args) or (
                    method in _SCALAR_KEEPING_METHODS
                    and len(inner) == 1 and inner[0].node is expr.func.value and inner[0].scalar
                )
                return [_Part(expr, scalar, inner[0].why)]
        return []

    def _atom(self, expr: cst.BaseExpression, no_grad: bool) -> _Part | None:
        ctx = self.ctx
        if isinstance(expr, (cst.Name, cst.Attribute)):
            code = ctx.code(expr)
            if code in self.tainted and not self._cut_before(code, expr):
                scalar, why = self.tainted[code]
                return _Part(expr, scalar, why)
        if no_grad:
            return None
        if _is_loss_output(ctx, expr, self.call_results):
            return _Part(expr, False, "it is the loss of a model output")
        if isinstance(expr, cst.Call):
            for index, scalar, why in self.returning_helpers.get(id(expr), ()):
                if index is None:
                    return _Part(expr, scalar, why)
            scalar = self._loss_call(expr)
            if scalar is not None:
                line = ctx.position(expr).start.line
                return _Part(expr, scalar, f"it is a loss computed at line {line}")
        return None

    def _clean_argument(self, expr: cst.BaseExpression) -> bool:
        if _cut(self.ctx, expr):
            return True
        return isinstance(expr, cst.Name) and self._cut_before(expr.value, expr)

    def _cut_before(self, code: str, use: cst.CSTNode) -> bool:
        """`loss = loss.item()` (or `float(loss)`, `loss.detach()`) is the last assignment of
        `code` before `use` in the region: the name no longer holds a graph there."""
        start = self.ctx.position(use).start
        before = [d for d in self.definitions.get(code, ()) if d[0] <= (start.line, start.column)]
        return bool(before) and max(before)[1]

    def _loss_call(self, call: cst.Call) -> bool | None:
        """None: not a loss call carrying gradient; else whether its value is one element."""
        if not self.ctx.losses.is_loss_call(call):
            return None
        positional = [a.value for a in call.args if a.keyword is None]
        if positional and self._clean_argument(positional[0]):
            return None  # `loss_fn(pred.detach(), y)`: the prediction (input) is cut
        return self.ctx.losses.is_scalar(call)

    # -- persistence -----------------------------------------------------------------------

    def persists(self, accumulation: Accumulation) -> bool:
        """Does the accumulator outlive one iteration: not rebound unconditionally in the
        region (for a helper: not a local of it)?"""
        ctx = self.ctx
        code = ctx.code(accumulation.target)
        prefixes = _prefixes(ctx, accumulation.target)
        if isinstance(self.node, cst.FunctionDef) and not self._outlives_call(accumulation, prefixes):
            return False
        for node in self.ctx.own_nodes(self.node)[1:]:
            rebinds = False
            if isinstance(node, cst.Assign) and node is not accumulation.node:
                targets = {c for t in node.targets for c in _bound_codes(ctx, t.target)}
                rebinds = bool(targets & prefixes) and not (
                    code in targets and mentions_in_value(ctx, node.value, code)
                )
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                rebinds = node.func.attr.value == "clear" and ctx.code(node.func.value) == code
            if rebinds and not self._conditional(node):
                return False
        return True

    def _conditional(self, node: cst.CSTNode) -> bool:
        training = self.ctx.training
        if isinstance(self.node, cst.FunctionDef):
            return bool(training.loops_around(node)) or training.is_conditional(node, self.node)
        return training.is_conditional(node, self.node)

    def _outlives_call(self, accumulation: Accumulation, prefixes: set[str]) -> bool:
        """In a helper: the accumulator lives on `self`, in a global, or in an object the
        caller passed or owns (a list appended to without being bound here)."""
        helper = self.node
        root = _root_name(accumulation.target)
        if root is None:
            return False
        if root == "self" and isinstance(accumulation.target, (cst.Attribute, cst.Subscript)):
            return True
        declared = {
            n.name.value
            for node in self.ctx.own_nodes(helper)[1:]
            if isinstance(node, (cst.Global, cst.Nonlocal))
            for n in node.names
        }
        if root in declared:
            return True
        if accumulation.form == "append" or isinstance(accumulation.target, cst.Subscript):
            # mutating an object: the caller's (a parameter) or one bound outside the helper
            return root in _local_params(helper, exclude_self=True) or root not in self.assigned
        return False


def _bound_codes(ctx, target: cst.CSTNode) -> set[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return {c for e in target.elements for c in _bound_codes(ctx, e.value)}
    if isinstance(target, cst.StarredElement):
        return _bound_codes(ctx, target.value)
    if isinstance(target, (cst.Name, cst.Attribute, cst.Subscript)):
        return {ctx.code(target)}
    return set()


def _prefixes(ctx, target: cst.CSTNode) -> set[str]:
    """`history["loss"]` -> {`history["loss"]`, `history`}: rebinding any of them resets it."""
    found = set()
    node = target
    while isinstance(node, (cst.Name, cst.Attribute, cst.Subscript)):
        code = ctx.code(node)
        if code != "self":
            found.add(code)
        if isinstance(node, cst.Name):
            break
        node = node.value
    return found


def _root_name(node: cst.CSTNode) -> str | None:
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _local_params(function: cst.FunctionDef, exclude_self: bool = False) -> set[str]:
    params = function.params
    names = [
        p.name.value
        for p in (*params.posonly_params, *params.params, *params.kwonly_params)
    ]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    if exclude_self and names[:1] == ["self"]:
        names = names[1:]
    return set(names)


def _value_names(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """Names and attribute chains used as arithmetic operands of `expr`."""
    if isinstance(expr, (cst.Name, cst.Attribute)) and dotted_name(expr):
        return [expr]
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, ARITHMETIC):
        return _value_names(expr.left) + _value_names(expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return _value_names(expr.expression)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        if expr.func.attr.value in _GRAD_KEEPING_METHODS:
            return _value_names(expr.func.value)
    if isinstance(expr, (cst.Tuple, cst.List)):
        return [n for e in expr.elements for n in _value_names(e.value)]
    return []


def _implicit_gradient(ctx, call: cst.CSTNode) -> bool:
    """`loss.backward()` / `accelerator.backward(loss)` / `torch.autograd.backward(loss)`
    without an explicit gradient: PyTorch accepts that only for a one-element tensor ("grad can
    be implicitly created only for scalar outputs")."""
    if not isinstance(call, cst.Call):
        return False
    keywords = {a.keyword.value for a in call.args if a.keyword is not None}
    if keywords & {"gradient", "grad_tensors"}:
        return False
    positional = [a for a in call.args if a.keyword is None]
    func = call.func
    method_on_tensor = (
        isinstance(func, cst.Attribute)
        and func.attr.value == "backward"
        and not _is_runner(func.value)
        and not ctx.torch.names(func) & {AUTOGRAD_BACKWARD}
    )
    if method_on_tensor:
        return not positional  # `loss.backward(g)` passes a gradient
    return len(positional) == 1 and not isinstance(positional[0].value, (cst.List, cst.Tuple))


def _is_runner(node: cst.BaseExpression) -> bool:
    """`accelerator.backward(loss)`, `fabric.backward(loss)`."""
    name = dotted_name(node).rsplit(".", 1)[-1].lower()
    return "accel" in name or "fabric" in name


def _cut(ctx, expr: cst.BaseExpression) -> bool:
    """An argument that carries no gradient for sure: `x.detach()`, `x.data`, `x.item()`,
    a number."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        return True
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in ("detach", "item", "tolist", "numpy")
    )


def _clean_value(ctx, expr: cst.BaseExpression, no_grad: bool) -> bool:
    """A value that surely holds no graph: a cut (`x.item()`, `x.detach()`, `x.data`,
    `float(x)`), a number, or a computation under no_grad."""
    if _cut(ctx, expr):
        return True
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in (
        "float", "int", "round", "str"
    ):
        return True
    return no_grad and not isinstance(expr, (cst.Name, cst.Attribute))


def _is_loss_output(ctx, expr: cst.BaseExpression, call_results: dict[str, cst.BaseExpression]) -> bool:
    """`outputs.loss` / `outputs["loss"]` where `outputs` is the result of calling a model in
    the region (`model(...)`, `self.net(...)`: a model returning its loss, Hugging Face style)."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "loss":
        base = expr.value
    elif isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if not (
            isinstance(index, cst.Index)
            and isinstance(index.value, cst.SimpleString)
            and index.value.evaluated_value == "loss"
        ):
            return False
        base = expr.value
    else:
        return False
    if not isinstance(base, cst.Name) or base.value not in call_results:
        return False
    callee = dotted_name(call_results[base.value]).rsplit(".", 1)[-1]
    return bool(callee) and MODULE_NAME.match(callee) is not None


def _call_method(node: cst.BaseExpression, method: str) -> cst.Call:
    return cst.Call(func=cst.Attribute(value=node, attr=cst.Name(method)))


def _message(ctx, accumulation: Accumulation, part: _Part, region: _Region) -> str:
    target = ctx.code(accumulation.target)
    operand = ctx.code(part.node)
    where = (
        f"iterations of the loop at line {ctx.position(region.node).start.line}"
        if region.loop is not None
        else f"calls of `{region.node.name.value}`, which runs once per training step"
    )
    return (
        f"`{target}` accumulates `{operand}`, which carries gradient ({part.why}), across "
        f"{where}: every iteration's autograd graph stays alive and memory grows "
        "each step"
    )


# -- the file-wide questions -----------------------------------------------------------------


class _Analysis:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.training = ctx.training
        self.grad_mode = ctx.grad_mode
        self._regions: dict[int, _Region] = {}
        self._loops = {id(loop.node): loop for loop in self.training.loops}
        self._occurrences: dict[str, list[cst.CSTNode]] | None = None
        self._attributes: dict[str, list[cst.Attribute]] | None = None

    def region_of(self, accumulation: Accumulation) -> _Region | None:
        training = self.training
        loops = training.loops_around(accumulation.node)
        if loops:
            loop = self._loops[id(loops[0])]
            if not loop.of_kind(Kind.BACKWARD):
                return None  # no backward in the loop: not a training loop
            return self._region(loop.node, loop)
        scope = training.scope_of(accumulation.node)
        if not isinstance(scope, cst.FunctionDef) or not self._called_per_step(scope):
            return None
        return self._region(scope, None)

    def _called_per_step(self, helper: cst.FunctionDef) -> bool:
        """Does a training loop (one that backpropagates) call `helper`, directly or through
        other helpers, once per iteration, and does the helper itself backpropagate?"""
        if not any(e.kind is Kind.BACKWARD and e.scope is helper for e in self.training.events):
            return False
        for loop in self.training.loops:
            if loop.of_kind(Kind.BACKWARD) and any(
                h is helper for h in self.training.helpers_reachable(loop)
            ):
                return True
        return False

    def _region(self, node: cst.CSTNode, loop: TrainingLoop | None) -> _Region:
        region = self._regions.get(id(node))
        if region is None:
            region = _Region(self.ctx, node, loop, self.grad_mode)
            if loop is not None:
                backwards = [
                    (e.event, e.via) for e in loop.of_kind(Kind.BACKWARD)
                    if e.via is None or self.training.scope_of(e.via) is loop.scope
                ]
            else:
                backwards = [
                    (e, None) for e in self.training.events
                    if e.kind is Kind.BACKWARD and e.scope is node
                ]
            region.compute(backwards)
            self._regions[id(node)] = region
        return region

    # -- backpropagated on purpose ---------------------------------------------------------

    def backpropagated_on_purpose(self, accumulation: Accumulation) -> bool:
        """Is the accumulator (or a value computed from it) passed to backward or
        `torch.autograd.grad` in the same function?"""
        ctx = self.ctx
        scope = self.training.scope_of(accumulation.node)
        feeding: set[str] = set()
        for event in self.training.events:
            if event.scope is not scope:
                continue
            if event.kind is Kind.BACKWARD and event.loss is not None:
                feeding |= _mentioned(ctx, event.loss)
            elif event.kind is Kind.GRAD_WRITE and isinstance(event.node, cst.Call) and event.node.args:
                feeding |= _mentioned(ctx, event.node.args[0].value)
        assignments = [
            n for n in self.ctx.own_nodes(scope)[1:] if isinstance(n, (cst.Assign, cst.AugAssign))
        ] if isinstance(scope, cst.FunctionDef) else [
            n for n in ctx.nodes
            if isinstance(n, (cst.Assign, cst.AugAssign)) and self.training.scope_of(n) is scope
        ]
        changed = True
        while changed:
            changed = False
            for node in assignments:
                targets = (
                    [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                )
                if any(c in feeding for t in targets for c in _bound_codes(ctx, t)):
                    new = _mentioned(ctx, node.value) - feeding
                    if new:
                        feeding |= new
                        changed = True
        return bool(_prefixes(ctx, accumulation.target) & feeding)

    # -- may the accumulator become a Python number? -----------------------------------------

    def accepts_numbers(self, accumulation: Accumulation) -> bool:
        ctx = self.ctx
        target = accumulation.target
        code = ctx.code(target)
        if accumulation.form == "sum" and self._starts_as_tensor(accumulation):
            return True
        scope = self.training.scope_of(accumulation.node)
        root = _root_name(target)
        if root is None:
            return False
        if isinstance(scope, cst.FunctionDef) and root in _local_params(scope, exclude_self=True):
            return False  # the caller's object
        if isinstance(target, cst.Attribute):
            uses = self._attribute_uses(target.attr.value)
        else:
            uses = self._uses(code)
        skip = {id(accumulation.node)}
        if isinstance(target, cst.Subscript) and root != "self":
            if any(self._escapes(u) for u in self._uses(root)):
                return False
        return all(self._number_use(u, accumulation.form, skip, set()) for u in uses)

    def _starts_as_tensor(self, accumulation: Accumulation) -> bool:
        """`total = torch.zeros(())` ... `total += x.item()` keeps `total` a tensor."""
        ctx = self.ctx
        code = ctx.code(accumulation.target)
        inits = []
        for node in ctx.nodes:
            if isinstance(node, cst.Assign) and node is not accumulation.node:
                if any(ctx.code(t.target) == code for t in node.targets if isinstance(
                    t.target, (cst.Name, cst.Attribute, cst.Subscript)
                )):
                    if mentions_in_value(ctx, node.value, code):
                        continue
                    inits.append(node.value)
        return bool(inits) and all(
            isinstance(v, cst.Call) and ctx.torch.starts_with(v.func, "torch.")
            and not ctx.torch.is_loss_function(v.func)
            for v in inits
        )

    def _uses(self, code: str) -> list[cst.CSTNode]:
        if self._occurrences is None:
            self._occurrences = {}
            for node in self.ctx.nodes:
                if isinstance(node, (cst.Name, cst.Attribute, cst.Subscript)):
                    parent = self.ctx.parent(node)
                    if isinstance(parent, cst.Attribute) and parent.attr is node:
                        continue
                    self._occurrences.setdefault(self.ctx.code(node), []).append(node)
        return self._occurrences.get(code, [])

    def _attribute_uses(self, attr: str) -> list[cst.Attribute]:
        """`self.history` is also `trainer.history` outside the class."""
        if self._attributes is None:
            self._attributes = {}
            for node in self.ctx.nodes:
                if isinstance(node, cst.Attribute):
                    self._attributes.setdefault(node.attr.value, []).append(node)
        return self._attributes.get(attr, [])

    def _escapes(self, node: cst.CSTNode) -> bool:
        """Returned, yielded or stored in an attribute: seen by code this rule cannot follow."""
        for parent in self.ctx.ancestors(node):
            if isinstance(parent, (cst.Return, cst.Yield)):
                return True
            if isinstance(parent, cst.Assign):
                return any(
                    isinstance(t.target, (cst.Attribute, cst.Subscript)) for t in parent.targets
                ) and not _inside(self.ctx, node, [t.target for t in parent.targets])
            if isinstance(parent, (cst.BaseStatement, cst.BaseSmallStatement)):
                return False
        return False

    def _number_use(self, node: cst.CSTNode, form: str, skip: set[int], seen: set[int]) -> bool:
        """Would this use of the accumulator still work if it held Python numbers (or a list
        of them)?"""
        ctx = self.ctx
        if id(node) in seen:
            return True
        seen.add(id(node))
        if any(id(a) in skip for a in ctx.ancestors(node)):
            return True
        if self._escapes(node):
            return False
        # a tensor method or attribute of it, of an element, or of a value computed from it:
        # `total.item()`, `losses[-1].item()`, `(total / n).cpu()`, `max(losses).item()`
        if self._tensor_attribute_on(node, form):
            return False
        if form == "append":
            # `for l in losses: l.backward()`, `[l.item() for i, l in enumerate(losses)]`
            loop_var = self._iteration_variable(node)
            if loop_var is not None and not self._elements_are_numbers(node, loop_var):
                return False
        # passed to torch, or to a function of this file that uses it as a tensor
        taken = self._call_taking(node)
        if taken is not None:
            call, arg = taken
            if ctx.torch.starts_with(call.func, "torch.") and not ctx.torch.is_any(
                call.func, {"torch.tensor", "torch.as_tensor"}
            ):
                return False
            direct = arg.value is node
            for use in self._parameter_uses(call, arg):
                if not self._number_use(use, form if direct else "sum", skip, seen):
                    return False
        # a value computed from it, bound to a name: follow that name once
        assign = self._derived_assignment(node)
        if assign is not None:
            for target in assign.targets:
                if isinstance(target.target, cst.Name):
                    for use in self._uses(target.target.value):
                        if any(a is assign for a in ctx.ancestors(use)) or use is target.target:
                            continue
                        if not self._number_use(use, "sum", skip, seen):
                            return False
        return True

    def _call_taking(self, node: cst.CSTNode) -> tuple[cst.Call, cst.Arg] | None:
        """The call that receives `node` (or an arithmetic expression of it) as an argument."""
        ctx = self.ctx
        for parent in ctx.ancestors(node):
            if isinstance(parent, cst.Arg):
                call = ctx.parent(parent)
                return (call, parent) if isinstance(call, cst.Call) else None
            if isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation, cst.List, cst.Tuple,
                                   cst.Element)):
                continue
            return None
        return None

    def _parameter_uses(self, call: cst.Call, arg: cst.Arg) -> list[cst.Name]:
        """`log_epoch(total)` with `def log_epoch(value): ...`: the uses of `value` there."""
        function = self._function_called(call)
        if function is None or arg.star:
            return []
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        if isinstance(call.func, cst.Attribute) and params[:1] == ["self"]:
            params = params[1:]
        if arg.keyword is not None:
            name = arg.keyword.value
        else:
            index = [a for a in call.args if a.keyword is None].index(arg)
            if index >= len(params):
                return []
            name = params[index]
        return [
            n for n in self.ctx.own_nodes(function)[1:]
            if isinstance(n, cst.Name) and n.value == name
            and not isinstance(self.ctx.parent(n), (cst.Param, cst.Arg))
        ]

    def _function_called(self, call: cst.Call) -> cst.FunctionDef | None:
        """A function of this file called by name, or a method of the caller's class through
        `self.`."""
        func = call.func
        if isinstance(func, cst.Name):
            for statement in self.ctx.module.body:
                if isinstance(statement, cst.FunctionDef) and statement.name.value == func.value:
                    return statement
            return None
        if isinstance(func, cst.Attribute) and dotted_name(func.value) == "self":
            owner = next((a for a in self.ctx.ancestors(call) if isinstance(a, cst.ClassDef)), None)
            if owner is not None:
                for statement in owner.body.body:
                    if isinstance(statement, cst.FunctionDef) and statement.name.value == func.attr.value:
                        return statement
        return None

    def _derived_assignment(self, node: cst.CSTNode) -> cst.Assign | None:
        ctx = self.ctx
        current = node
        for parent in ctx.ancestors(node):
            if isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation)):
                current = parent
                continue
            if isinstance(parent, cst.Assign) and parent.value is current:
                return parent
            return None
        return None

    def _tensor_attribute_on(self, node: cst.CSTNode, form: str) -> bool:
        """Is an attribute other than a number's (or, for the list itself, a list's) taken on
        `node`, on an element of it, or on arithmetic or `max`/`min`/`sum` of it?"""
        ctx = self.ctx
        current, is_list = node, form == "append"
        while (parent := ctx.parent(current)) is not None:
            if isinstance(parent, cst.Attribute) and parent.value is current:
                allowed = _LIST_METHODS if is_list else _FLOAT_ATTRIBUTES
                return parent.attr.value not in allowed
            if isinstance(parent, cst.Subscript) and parent.value is current:
                is_list = False  # an element
            elif isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation)):
                is_list = False
            elif isinstance(parent, cst.Arg) and parent.value is current:
                call = ctx.parent(parent)
                if not (
                    isinstance(call, cst.Call)
                    and isinstance(call.func, cst.Name)
                    and call.func.value in _PASSING_BUILTINS
                ):
                    return False
                is_list = call.func.value in ("sorted", "list", "tuple")
                parent = call
            else:
                return False
            current = parent
        return False

    def _iteration_variable(self, node: cst.CSTNode) -> cst.BaseExpression | None:
        """`for l in losses`, `[l.item() for l in losses]`, `for i, l in enumerate(losses)`:
        the loop target that receives the elements."""
        ctx = self.ctx
        parent = ctx.parent(node)
        if isinstance(parent, cst.Arg) and parent.value is node:
            call = ctx.parent(parent)
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value in (
                "enumerate", "zip", "reversed", "sorted", "list", "iter", "tuple"
            ):
                node, parent = call, ctx.parent(call)
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node:
            return parent.target
        return None

    def _elements_are_numbers(self, node: cst.CSTNode, variable: cst.BaseExpression) -> bool:
        ctx = self.ctx
        loop = ctx.parent(node)
        while not isinstance(loop, (cst.For, cst.CompFor)):
            loop = ctx.parent(loop)
        scope = ctx.parent(loop) if isinstance(loop, cst.CompFor) else loop
        names = {n.value for n in self.ctx.nodes_in(variable) if isinstance(n, cst.Name)}
        for inner in self.ctx.own_nodes(scope)[1:] if not isinstance(loop, cst.CompFor) else self.ctx.nodes_in(scope):
            if isinstance(inner, cst.Name) and inner.value in names and not any(
                a is variable for a in ctx.ancestors(inner)
            ) and inner is not variable:
                if self._tensor_attribute_on(inner, "sum"):
                    return False
                taken = self._call_taking(inner)
                if taken is not None and ctx.torch.starts_with(taken[0].func, "torch.") and not (
                    ctx.torch.is_any(taken[0].func, {"torch.tensor", "torch.as_tensor"})
                ):
                    return False
        return True


_PASSING_BUILTINS = frozenset({"max", "min", "sum", "abs", "sorted", "list", "tuple"})
_LIST_METHODS = frozenset(
    {"append", "extend", "insert", "pop", "clear", "copy", "count", "index", "remove", "reverse",
     "sort"}
)
_FLOAT_ATTRIBUTES = frozenset({"real", "imag", "conjugate", "is_integer", "hex", "as_integer_ratio"})


def _inside(ctx, node: cst.CSTNode, containers: list[cst.CSTNode]) -> bool:
    return any(any(a is c for a in ctx.ancestors(node)) or node is c for c in containers)


def _mentioned(ctx, expr: cst.CSTNode) -> set[str]:
    """Every name, attribute chain and subscript written in `expr`."""
    found = set()
    for node in ctx.nodes_in(expr):
        if isinstance(node, (cst.Name, cst.Attribute, cst.Subscript)):
            found.add(ctx.code(node))
    return found
