from __future__ import annotations

import libcst as cst

from autofix.analysis.autograd_ops import AUGMENTED, OUT_OF_PLACE
from autofix.analysis.dataflow import Grad, InPlace
from autofix.analysis.imports import torch_reference
from autofix.rule import Fix, Rule, Safety, Violation, insert_before, remove, replace


class InplaceOnSavedTensor(Rule):
    name = "inplace-on-saved-tensor"
    summary = "An in-place op changes a tensor autograd needs (or a leaf that requires grad)"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for in-place operations (`t += u`, `t.add_(u)`, `t.relu_()`, `t[i] = v` ...) on a tensor
that carries gradient and that autograd saved for backward: the result of an op whose backward
reads its output (`sigmoid`, `tanh`, `exp`, `relu`, `softmax`, `log_softmax`, `sqrt`), or the
input of an op whose backward reads its input (`t ** 2`, `log`, `sin`, `cos`, `t * u` / `t @ w`
with `u` / `w` carrying gradient), when a later backward in the same function depends on what
that op computed, or, in an `nn.Module`'s `forward`, the returned value does (an update under
`if not self.training:` is left alone). Also checks for in-place updates of a leaf that requires
grad (a Parameter, a tensor made with `requires_grad=True`) outside `torch.no_grad()`, such as a
manual SGD step `w -= lr * w.grad` or `p.clamp_(-c, c)` over `model.parameters()`; a helper that
the file only ever calls under `torch.no_grad()` is left alone.

## Why is this bad?
Autograd checks the version of every tensor it saved. Backward then raises "one of the variables
needed for gradient computation has been modified by an inplace operation". In-place updates of a
leaf that requires grad raise at once: "a leaf Variable that requires grad is being used in an
in-place operation."

Autograd tolerates in-place ops on tensors nobody saved: `y = x * 3; y.add_(1)` backpropagates
fine and is left alone, and so is `z += 1` after `sq = z ** 2` when no backward goes through `sq`.
Updates through `.data` (`p.data.add_(...)`) and of `.grad` (`p.grad.clamp_(...)`) are not
checked.

## Example
```python
h = torch.sigmoid(layer(x))
h += bias
loss = h.sum()
loss.backward()

w -= lr * w.grad
```

## Use instead
```python
h = torch.sigmoid(layer(x))
h = h + bias
loss = h.sum()
loss.backward()

with torch.no_grad():
    w -= lr * w.grad
```

## Fix safety
Safe. The out-of-place form rebinds the name (`t = t + u`, `t = t.add(u)`), and `t[i] = v` gets
`t = t.clone()` before it; other in-place methods (`fill_diagonal_`, `copy_` ...) are reported
without a fix. Only the first in-place op on a saved tensor is fixed: after it the name holds a
new tensor and the later ones are fine. A leaf update is wrapped in `with torch.no_grad():`
together with the leaf updates right next to it, or the whole `for p in model.parameters():`
loop is wrapped when its body is nothing but such updates; the block uses the file's name for
`torch` (adding `import torch` when it has none).
"""

    def check(self, ctx):
        flow = ctx.gradients
        backwards = flow.backwards
        updates = sorted(flow.inplace_updates, key=lambda u: _start(ctx, u.node))
        candidates = [u for u in updates if u.in_no_grad is None and u.before.grad is Grad.GRAD and u.before.leaf]
        calls_by_name = _calls_by_name(ctx) if candidates else {}
        leaves = [u for u in candidates if not _only_called_without_grad(ctx, u, calls_by_name)]
        leaf_lines = {id(u.line) for u in leaves}
        fixed_saves: set[tuple[str, int]] = set()
        for update in updates:
            if update.in_no_grad is not None or update.before.grad is not Grad.GRAD:
                continue
            if update.before.leaf:
                if id(update.line) not in leaf_lines:
                    continue
                yield Violation(
                    update.node,
                    f"`{update.name}` is a leaf that requires grad, updated in place outside "
                    "`torch.no_grad()`: PyTorch raises \"a leaf Variable that requires grad is being "
                    "used in an in-place operation\"",
                    _wrap_in_no_grad(ctx, update, leaf_lines),
                )
            elif update.saved_by is not None and _backpropagated_later(ctx, flow, update, backwards):
                # One fix per saved tensor: once the first in-place op is out of place, the
                # name no longer holds the saved tensor and the later ones are fine (next pass).
                key = (update.name, id(update.saved_by))
                fix = None if key in fixed_saves else _out_of_place(ctx, update)
                if fix is not None:
                    fixed_saves.add(key)
                yield Violation(
                    update.node,
                    f"`{update.name}` is saved by `{ctx.code(update.saved_by)}` for backward and then "
                    f"modified in place: backward raises \"one of the variables needed for gradient "
                    "computation has been modified by an inplace operation\"",
                    fix,
                )


def _start(ctx, node) -> tuple[int, int]:
    start = ctx.position(node).start
    return start.line, start.column


def _saver_results(ctx, update: InPlace) -> set[str]:
    """The names that hold what the saving op computed: the tensor itself when the op saved its
    output (`h = torch.sigmoid(z)`), else the targets of the statement holding the op that saved
    its input (`sq` in `sq = z ** 2`). Empty when its result is bound to no name."""
    saver = update.saved_by
    statement = saver
    for parent in ctx.ancestors(saver):
        if isinstance(parent, cst.SimpleStatementLine):
            break
        statement = parent
    if isinstance(statement, cst.Assign):
        targets = {t.target.value for t in statement.targets if isinstance(t.target, cst.Name)}
        if statement.value is saver and update.name in targets:
            return {update.name}
        return targets
    if isinstance(statement, (cst.AugAssign, cst.AnnAssign)) and isinstance(statement.target, cst.Name):
        return {statement.target.value}
    return set()


def _backpropagated_later(ctx, flow, update: InPlace, backwards) -> bool:
    """A backward after the update, in the same function, whose loss depends on what the saving
    op computed; in an nn.Module's `forward`, a later `return` that depends on it (whatever
    backpropagates the module's output reaches the saved tensor)."""
    results = _saver_results(ctx, update)
    if not results:
        return False
    scope = ctx.training.scope_of(update.node)
    start = _start(ctx, update.node)
    if any(
        results & b.value.deps
        and ctx.training.scope_of(b.call) is scope
        and _start(ctx, b.call) > start
        for b in backwards
    ):
        return True
    return not _only_in_eval_mode(ctx, update.node) and any(
        results & value.deps
        and ctx.training.scope_of(node) is scope
        and _start(ctx, node) > start
        for node, value in flow.forward_returns
    )


def _only_in_eval_mode(ctx, node) -> bool:
    """Under `if not self.training:` (or the `else` of `if self.training:`) in a forward: the
    update runs at inference only, where nothing backpropagates."""
    child = node
    for parent in ctx.ancestors(node):
        if isinstance(parent, cst.FunctionDef):
            return False
        if isinstance(parent, cst.If):
            test, negated = parent.test, False
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
                test, negated = test.expression, True
            if ctx.code(test) == "self.training" and negated == (child is parent.body):
                return True
        child = parent
    return False


NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode"})


def _only_called_without_grad(ctx, update: InPlace, calls_by_name) -> bool:
    """The update sits in a function that the file calls, and every call runs under
    `torch.no_grad()` (a `with` block or a decorated caller): no error at run time."""
    function = ctx.training.scope_of(update.node)
    if not isinstance(function, cst.FunctionDef):
        return False
    calls = calls_by_name.get(function.name.value, [])
    return bool(calls) and all(_under_no_grad(ctx, call) for call in calls)


def _calls_by_name(ctx) -> dict[str, list[cst.Call]]:
    """`f(...)` and `obj.f(...)` calls of the file, by the called name."""
    found: dict[str, list[cst.Call]] = {}
    for node in ctx.nodes:
        if isinstance(node, cst.Call):
            func = node.func
            name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
            if name is not None:
                found.setdefault(name, []).append(node)
    return found


def _under_no_grad(ctx, node) -> bool:
    for parent in ctx.ancestors(node):
        if isinstance(parent, cst.With) and ctx.grad_mode.of_with(parent):
            return True
        if isinstance(parent, cst.FunctionDef):
            return any(
                ctx.torch.is_any(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator, NO_GRAD)
                for d in parent.decorators
            )
    return False


def _wrap_in_no_grad(ctx, update: InPlace, leaf_lines: set[int]) -> Fix | None:
    """One `with torch.no_grad():` around the run of consecutive leaf updates the line belongs
    to (`w -= ...` then `b -= ...`), or around the whole `for p in model.parameters():` loop
    when its body is nothing but such updates."""
    line = update.line
    block = ctx.parent(line)
    if not _fixable_line(ctx, line, leaf_lines):
        return None
    body = list(block.body)
    index = next(i for i, s in enumerate(body) if s is line)
    first = last = index
    while first > 0 and _fixable_line(ctx, body[first - 1], leaf_lines):
        first -= 1
    while last + 1 < len(body) and _fixable_line(ctx, body[last + 1], leaf_lines):
        last += 1
    run = body[first:last + 1]
    loop = ctx.parent(block)
    if (
        len(run) == len(body) and isinstance(block, cst.IndentedBlock) and isinstance(loop, cst.For)
        and loop.orelse is None and _plain_iterable(ctx, loop.iter)
        and isinstance(ctx.parent(loop), (cst.IndentedBlock, cst.Module))
    ):
        run = [loop]
    torch, import_edit = torch_reference(ctx)
    wrapped = cst.With(
        items=[cst.WithItem(cst.parse_expression(f"{torch}.no_grad()"))],
        body=cst.IndentedBlock(body=[run[0].with_changes(leading_lines=()), *run[1:]]),
        leading_lines=run[0].leading_lines,
    )
    edits = [replace(run[0], wrapped), *(remove(s) for s in run[1:])]
    return Fix.of(*edits, *([import_edit] if import_edit else []))


def _fixable_line(ctx, line, leaf_lines: set[int]) -> bool:
    return (
        id(line) in leaf_lines and isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1
        and isinstance(ctx.parent(line), (cst.IndentedBlock, cst.Module))
    )


_PLAIN_ITERATORS = frozenset({"parameters", "named_parameters", "values", "items", "zip", "enumerate", "list", "reversed"})


def _plain_iterable(ctx, node: cst.BaseExpression) -> bool:
    """`model.parameters()`, `zip(a.parameters(), b.parameters())`, a name: evaluating it under
    `torch.no_grad()` changes nothing."""
    for child in ctx.nodes_in(node):
        if isinstance(child, cst.Call):
            func = child.func
            called = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if called not in _PLAIN_ITERATORS:
                return False
    return True


def _out_of_place(ctx, update: InPlace) -> Fix | None:
    node, name = update.node, update.name
    if len(update.line.body) != 1 or not isinstance(ctx.parent(update.line), (cst.IndentedBlock, cst.Module)):
        return None
    if update.kind == "augmented":
        operator = AUGMENTED.get(type(node.operator).__name__)
        if operator is None:
            return None
        value = cst.parse_expression(f"{name} {operator} (__x__)")
        value = value.with_changes(right=_parenthesized(node.value))
        return Fix.of(replace(node, cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)))
    if update.kind == "method":
        call = node.value
        twin = OUT_OF_PLACE.get(call.func.attr.value)
        if twin is None:
            return None
        new_call = call.with_changes(func=call.func.with_changes(attr=cst.Name(twin)))
        return Fix.of(replace(node, cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=new_call)))
    return Fix.of(insert_before(update.line, f"{name} = {name}.clone()\n"))


def _parenthesized(value: cst.BaseExpression) -> cst.BaseExpression:
    """`u` stays `u`; `a + b` becomes `(a + b)` so `t * (a + b)` keeps its meaning."""
    if isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)):
        return value
    return value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
