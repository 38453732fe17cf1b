from __future__ import annotations

import libcst as cst

from autofix.analysis.autograd_ops import AUGMENTED, OUT_OF_PLACE
from autofix.analysis.dataflow import Grad, InPlace
from autofix.analysis.imports import torch_reference
from autofix.rule import Fix, Rule, Safety, Violation, insert_before, replace


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
with `u` / `w` carrying gradient), when a later backward depends on it. Also checks for in-place
updates of a leaf that requires grad (a Parameter, a tensor made with `requires_grad=True`)
outside `torch.no_grad()`, such as a manual SGD step `w -= lr * w.grad`.

## Why is this bad?
Autograd checks the version of every tensor it saved. Backward then raises "one of the variables
needed for gradient computation has been modified by an inplace operation". In-place updates of a
leaf that requires grad raise at once: "a leaf Variable that requires grad is being used in an
in-place operation."

Autograd tolerates in-place ops on tensors nobody saved: `y = x * 3; y.add_(1)` backpropagates
fine and is left alone.

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
`t = t.clone()` before it; other in-place methods are reported without a fix. A leaf update is
wrapped in `with torch.no_grad():`, using the file's name for `torch` (adding `import torch` when
it has none).
"""

    def check(self, ctx):
        flow = ctx.gradients
        backwards = flow.backwards
        for update in flow.inplace_updates:
            if update.in_no_grad is not None or update.before.grad is not Grad.GRAD:
                continue
            if update.before.leaf:
                yield Violation(
                    update.node,
                    f"`{update.name}` is a leaf that requires grad, updated in place outside "
                    "`torch.no_grad()`: PyTorch raises \"a leaf Variable that requires grad is being "
                    "used in an in-place operation\"",
                    _wrap_in_no_grad(ctx, update),
                )
            elif update.saved_by is not None and _backpropagated_later(ctx, update, backwards):
                yield Violation(
                    update.node,
                    f"`{update.name}` is saved by `{ctx.code(update.saved_by)}` for backward and then "
                    f"modified in place: backward raises \"one of the variables needed for gradient "
                    "computation has been modified by an inplace operation\"",
                    _out_of_place(ctx, update),
                )


def _backpropagated_later(ctx, update: InPlace, backwards) -> bool:
    """A backward after the update, in the same function, whose loss depends on the tensor."""
    scope = ctx.training.scope_of(update.node)
    start = ctx.position(update.node).start
    return any(
        update.name in b.value.deps
        and ctx.training.scope_of(b.call) is scope
        and (ctx.position(b.call).start.line, ctx.position(b.call).start.column) > (start.line, start.column)
        for b in backwards
    )


def _wrap_in_no_grad(ctx, update: InPlace) -> Fix | None:
    line = update.line
    if len(line.body) != 1 or not isinstance(ctx.parent(line), (cst.IndentedBlock, cst.Module)):
        return None
    torch, import_edit = torch_reference(ctx)
    block = cst.With(
        items=[cst.WithItem(cst.parse_expression(f"{torch}.no_grad()"))],
        body=cst.IndentedBlock(body=[line.with_changes(leading_lines=())]),
        leading_lines=line.leading_lines,
    )
    return Fix.of(replace(line, block), *([import_edit] if import_edit else []))


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
