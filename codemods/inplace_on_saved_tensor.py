from __future__ import annotations

import libcst as cst

from autofix.analysis.vocabulary import AUGMENTED, OUT_OF_PLACE
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
        semantic = ctx.semantic
        needed = _savers_backpropagated(semantic)
        updates = semantic.inplace_updates
        leaf_lines = {id(_line(ctx, semantic.node(u.node))) for u in updates if u.leaf}
        fixed_saves: set[tuple[str, int]] = set()
        reported: set[int] = set()
        for update in updates:
            node = semantic.node(update.node)
            if update.leaf:
                if update.node in reported:
                    continue
                reported.add(update.node)
                if _adds_gradient(ctx, node):
                    # `total += loss` on a leaf made to hold a sum: meant to build a graph, not
                    # to update a weight, so the sum is taken out of place
                    fix = _out_of_place(ctx, node, _target_code(ctx, node))
                else:
                    fix = _wrap_in_no_grad(ctx, node, leaf_lines)
                yield Violation(
                    node,
                    f"`{_target_code(ctx, node)}` is a leaf that requires grad, updated in place outside "
                    "`torch.no_grad()`: PyTorch raises \"a leaf Variable that requires grad is being "
                    "used in an in-place operation\"",
                    fix,
                )
                continue
            if update.saver not in needed or _only_in_eval_mode(ctx, node):
                continue
            saver = semantic.node(update.saver)
            if update.module is not None:
                yield from _inplace_module(ctx, semantic, update, node, saver, reported)
                continue
            if update.node in reported:
                continue
            reported.add(update.node)
            name = _target_code(ctx, node)
            # One fix per saved tensor: once the first in-place op is out of place, the name no
            # longer holds the saved tensor and the later ones are fine (next pass).
            key = (name, update.saver)
            fix = None if key in fixed_saves else _out_of_place(ctx, node, name)
            if fix is not None:
                fixed_saves.add(key)
            yield Violation(
                node,
                f"`{name}` is saved by `{ctx.code(saver)}` for backward and then "
                f"modified in place: backward raises \"one of the variables needed for gradient "
                "computation has been modified by an inplace operation\"",
                fix,
            )


def _savers_backpropagated(semantic) -> set[int]:
    """The ops whose saved tensors some backward (or the output of some module's `forward`)
    goes through: modifying what they saved breaks that backward."""
    needed: set[int] = set()
    for backward in semantic.backwards:
        needed |= backward.event.val.savers
    for returned in semantic.forward_returns:
        needed |= returned.val.savers
    return needed


def _inplace_module(ctx, semantic, update, node, saver, reported):
    """A module built with `inplace=True` overwrites a tensor autograd saved: reported where
    the module is built, fixed by dropping `inplace=True` (same values, one more tensor)."""
    module = semantic.heap.get(update.module)
    if module is None or module.site is None or module.site in reported:
        return
    reported.add(module.site)
    built = semantic.node(module.site)
    line = ctx.position(node).start.line
    yield Violation(
        built,
        f"`{semantic.name(module.id)}` runs in place (`{ctx.code(built)}`) at line {line} on a tensor "
        f"that `{ctx.code(saver)}` saved for backward: backward raises \"one of the variables needed "
        "for gradient computation has been modified by an inplace operation\"",
        _drop_inplace(built),
    )


def _drop_inplace(call: cst.CSTNode) -> Fix | None:
    if not isinstance(call, cst.Call):
        return None
    args = [a for a in call.args if not (a.keyword is not None and a.keyword.value == "inplace")]
    if len(args) == len(call.args):
        return None
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return Fix.of(replace(call, call.with_changes(args=args)))


def _adds_gradient(ctx, node: cst.CSTNode) -> bool:
    """The update adds something that carries gradient from the model (a loss term), rather
    than gradient-free values (`w -= lr * w.grad`)."""
    if isinstance(node, cst.AugAssign):
        operands = [node.value]
    elif isinstance(node, cst.Call):
        operands = [a.value for a in node.args]
    else:
        return False
    semantic = ctx.semantic
    return any((v := semantic.denote(o)) is not None and bool(v.live) for o in operands)


def _line(ctx, node: cst.CSTNode) -> cst.CSTNode | None:
    for parent in ctx.ancestors(node):
        if isinstance(parent, cst.SimpleStatementLine):
            return parent
    return None


def _target_code(ctx, node: cst.CSTNode) -> str:
    """`w` for `w -= ...`, `w.add_(...)`, `w[i] = ...`."""
    if isinstance(node, cst.AugAssign):
        return ctx.code(node.target)
    if isinstance(node, cst.Assign) and isinstance(node.targets[0].target, cst.Subscript):
        return ctx.code(node.targets[0].target.value)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return ctx.code(node.func.value)
    if isinstance(node, cst.Call) and node.args:
        return ctx.code(node.args[0].value)
    return ctx.code(node)


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


def _wrap_in_no_grad(ctx, node: cst.CSTNode, leaf_lines: set[int]) -> Fix | None:
    """One `with torch.no_grad():` around the run of consecutive leaf updates the line belongs
    to (`w -= ...` then `b -= ...`), or around the whole `for p in model.parameters():` loop
    when its body is nothing but such updates."""
    line = _line(ctx, node)
    block = ctx.parent(line) if line is not None else None
    if line is None or not _fixable_line(ctx, line, leaf_lines):
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


def _out_of_place(ctx, node: cst.CSTNode, name: str) -> Fix | None:
    line = _line(ctx, node)
    if line is None or len(line.body) != 1 or not isinstance(ctx.parent(line), (cst.IndentedBlock, cst.Module)):
        return None
    if not name.isidentifier():
        return None
    if isinstance(node, cst.AugAssign):
        operator = AUGMENTED.get(type(node.operator).__name__)
        if operator is None:
            return None
        value = cst.parse_expression(f"{name} {operator} (__x__)")
        value = value.with_changes(right=_parenthesized(node.value))
        return Fix.of(replace(node, cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)))
    if isinstance(node, cst.Call):
        call = node
        if not isinstance(call.func, cst.Attribute) or not isinstance(ctx.parent(call), cst.Expr):
            return None
        twin = OUT_OF_PLACE.get(call.func.attr.value)
        if twin is None:
            return None
        new_call = call.with_changes(func=call.func.with_changes(attr=cst.Name(twin)))
        return Fix.of(replace(ctx.parent(call), cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=new_call)))
    return Fix.of(insert_before(line, f"{name} = {name}.clone()\n"))


def _parenthesized(value: cst.BaseExpression) -> cst.BaseExpression:
    """`u` stays `u`; `a + b` becomes `(a + b)` so `t * (a + b)` keeps its meaning."""
    if isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)):
        return value
    return value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
