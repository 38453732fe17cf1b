from __future__ import annotations

import libcst as cst

from autofix.analysis.imports import torch_reference
from autofix.analysis.vocabulary import CUT_METHODS, REWRAPS
from autofix.rule import Fix, Rule, Safety, Violation, remove, replace


class DetachBreaksGraph(Rule):
    name = "detach-breaks-graph"
    summary = "The loss reaches the weights only through a .detach() / .data / .item() cut"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for trainable values (module outputs, Parameters, tensors with `requires_grad=True`) that
reach a backpropagated loss only through a cut: `.detach()`, `.data`, `.item()`, `.numpy()` or
`.tolist()` (possibly re-wrapped by `torch.tensor(...)`, `torch.as_tensor(...)`,
`torch.from_numpy(...)` or a legacy `Variable(...)`), or an op without gradient (a comparison,
an integer cast). The cut may sit anywhere the loss comes from: in the loop, in a helper, inside a
module's `forward` or a sub-module's.

## Why is this bad?
A cut tensor has no history, so nothing flows back through it. When the loss has no other path,
backward raises "element 0 of tensors does not require grad and does not have a grad_fn"; when a
re-wrap made a fresh tensor that requires grad, backward succeeds and trains nothing. When only
part of the model is cut off (a branch detached inside `forward`), the loss still trains the rest
and nothing warns: the cut-off layers, which the optimizer holds, silently never change.

Intended cuts are left alone: a GAN discriminator step on `fake.detach()` (the generator is not
in that optimizer), DQN and actor-critic targets, EMA and momentum encoders, frozen backbones,
stop-gradient terms next to a live path to the same layers (SimSiam's `z.detach()`).

## Example
```python
prediction = model(x)
loss = criterion(prediction.detach(), y)
loss.backward()
```

## Use instead
```python
prediction = model(x)
loss = criterion(prediction, y)
loss.backward()
```

## Fix safety
The cut is removed: `x.detach()` and `x.data` become `x`, `torch.tensor(x.item())` and
`torch.tensor(x, requires_grad=True)` become `x`, `torch.as_tensor(x.detach().numpy())` becomes
`x` (a `.cpu()` in the chain is kept), and `pred = pred.detach()` is deleted. Safe when nothing
reached the loss live and the cut is a `.detach()` or `.data`; unsafe when part of the model still
trained (removing the cut also sends gradient where the author may have meant to stop it) and for
round trips (the value changes type and device). Offered only when the cut value feeds nothing but
the loss (removing the cut from `pred = model(x).detach()` would also give a graph to
`pred.numpy()`, which then raises, or to a list of predictions kept across iterations).
Non-differentiable ops (comparisons, integer casts) are reported without a fix.
"""

    def check(self, ctx):
        semantic = ctx.semantic
        for severed in semantic.severed:
            node = semantic.node(severed.cut)
            if isinstance(node, (cst.With, cst.Decorator)) or _is_grad_mode_call(ctx, node):
                continue  # no_grad blocks and decorators are no-grad-breaks-graph's
            backward = semantic.node(severed.backward.event.node)
            line = ctx.position(backward).start.line
            loss = f"`{_loss_code(ctx, backward)}` (backward at line {line})"
            cut = f"`{ctx.code(node)}`"
            if severed.complete:
                message = f"{loss} reaches the trainable values only through {cut}: backward computes no gradient for them"
            else:
                names = semantic.describe(severed.sources)
                optimizers = ", ".join(f"`{n}`" for n in semantic.optimizer_names(severed.backward.steps))
                one = len(names) == 1
                message = (
                    f"{_listed(names)} {'is' if one else 'are'} held by {optimizers} but reach"
                    f"{'es' if one else ''} {loss} only through {cut}: {'it' if one else 'they'} never train"
                    f"{'s' if one else ''}"
                )
            yield Violation(node, message, _remove_cut(ctx, node, severed.complete))


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _loss_code(ctx, backward: cst.CSTNode) -> str:
    if isinstance(backward, cst.Call) and isinstance(backward.func, cst.Attribute):
        if backward.func.attr.value == "backward" and not backward.args:
            receiver = backward.func.value
            if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) and receiver.args:
                return ctx.code(receiver.args[0].value)  # scaler.scale(loss).backward()
            return ctx.code(receiver)
        if backward.args:
            return ctx.code(backward.args[0].value)
    return ctx.code(backward)


def _is_grad_mode_call(ctx, node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and ctx.grad_mode.state(node) is not None


def _remove_cut(ctx, cut: cst.CSTNode, complete: bool) -> Fix | None:
    """Replace the expression that severs the value by what it severed: `x.detach()` -> `x`,
    `torch.tensor(x.item(), requires_grad=True)` -> `x`, `torch.as_tensor(x.detach().numpy())`
    -> `x`, `torch.tensor(x.detach().cpu().numpy())` -> `x.cpu()`, `torch.tensor([a, b])` of
    tensors -> `torch.stack([a, b])`, `x.detach().numpy() * w` -> `x * w`."""
    if _receiver_of_cut(cut) is None and not _is_rewrap(ctx, cut):
        return None
    top, rewrapped, only_detach = _outermost(ctx, cut)
    if not rewrapped and not only_detach and not _in_arithmetic(ctx, top):
        return None  # `.item()` alone: the value is meant to be a number there
    node, kept = top, []
    if rewrapped:
        if not _plain_rewrap(top):
            return None
        node = top.args[0].value
        if isinstance(node, (cst.List, cst.Tuple)):
            return _stacked(ctx, top, node)
    while True:
        receiver = _receiver_of_cut(node)
        if receiver is None and _is_method(node, "cpu") and (rewrapped or not only_detach):
            kept.append(node)
            receiver = node.func.value
        elif receiver is None and _is_builtin_number(node):
            receiver = node.args[0].value
        if receiver is None:
            break
        node = receiver
    if _is_rewrap(ctx, node) or (only_detach and kept):
        return None
    replacement = node
    for link in reversed(kept):
        replacement = link.with_changes(func=link.func.with_changes(value=replacement))
    safety = Safety.SAFE if complete and only_detach else Safety.UNSAFE
    assign = ctx.parent(top)
    if (  # `pred = pred.detach()`: the fix would leave `pred = pred`; drop the line instead
        isinstance(replacement, cst.Name)
        and isinstance(assign, cst.Assign)
        and all(isinstance(t.target, cst.Name) and t.target.value == replacement.value for t in assign.targets)
    ):
        line = ctx.parent(assign)
        block = ctx.parent(line)
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 and len(block.body) > 1:
            return Fix.of(remove(line), *_unflagged(ctx, assign), safety=safety)
        return None
    if _read_elsewhere(ctx, top):
        return None
    return Fix.of(replace(top, replacement), *_unflagged(ctx, top), safety=safety)


def _stacked(ctx, rewrap: cst.Call, items: cst.List | cst.Tuple) -> Fix | None:
    """`torch.tensor([a, b])` of tensors carrying gradient -> `torch.stack([a, b])`."""
    semantic = ctx.semantic
    if not items.elements or not all(
        (v := semantic.denote(e.value)) is not None and v.requires_grad for e in items.elements
    ):
        return None
    torch, import_edit = torch_reference(ctx)
    stacked = cst.parse_expression(f"{torch}.stack(__x__)").with_changes(args=[cst.Arg(items)])
    return Fix.of(replace(rewrap, stacked), *([import_edit] if import_edit else []), *_unflagged(ctx, rewrap),
                  safety=Safety.UNSAFE)


def _unflagged(ctx, node: cst.CSTNode) -> list:
    """`loss.requires_grad = True` (or `loss.requires_grad_()`) after the statement holding
    `node`, on a name it binds: once the loss has a graph again, setting the flag of a non-leaf
    raises, and it was only there to silence the error the cut caused."""
    statement = next((a for a in ctx.ancestors(node) if isinstance(a, cst.SimpleStatementLine)), None)
    if statement is None:
        return []
    bound = {
        t.target.value for small in statement.body if isinstance(small, cst.Assign)
        for t in small.targets if isinstance(t.target, cst.Name)
    }
    block = ctx.parent(statement)
    edits = []
    for later in getattr(block, "body", ())[list(block.body).index(statement) + 1:]:
        if isinstance(later, cst.SimpleStatementLine) and len(later.body) == 1 and _sets_flag(later.body[0], bound):
            edits.append(remove(later))
    return edits


def _sets_flag(small: cst.CSTNode, names: set[str]) -> bool:
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        return (
            isinstance(target, cst.Attribute) and target.attr.value == "requires_grad"
            and isinstance(target.value, cst.Name) and target.value.value in names
            and isinstance(small.value, cst.Name) and small.value.value == "True"
        )
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        func = small.value.func
        return (
            isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_"
            and isinstance(func.value, cst.Name) and func.value.value in names and not small.value.args
        )
    return False


def _in_arithmetic(ctx, node: cst.CSTNode) -> bool:
    """`x.detach().numpy() * reward`: a converted value computed with, so the tensor itself
    computes the same thing (with its graph)."""
    parent = ctx.parent(node)
    return isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation)) or (
        isinstance(parent, cst.AugAssign) and parent.value is node
    )


def _outermost(ctx, cut: cst.CSTNode) -> tuple[cst.CSTNode, bool, bool]:
    """The whole cut chain around `cut` (`.detach().cpu().numpy()` re-wrapped by `torch.tensor`),
    whether a re-wrap ends it, and whether it is made of `.detach()` / `.data` only."""
    node, only_detach = cut, True
    while True:
        if not (isinstance(node, cst.Attribute) or _is_method(node, "detach")):
            only_detach = only_detach and not (_receiver_of_cut(node) is not None or _is_rewrap(ctx, node) or _is_builtin_number(node))
        parent = ctx.parent(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            call = ctx.parent(parent)
            if isinstance(call, cst.Call) and call.func is parent and (
                _receiver_of_cut(call) is not None or _is_method(call, "cpu")
            ):
                node = call
                continue
            if parent.attr.value == "data":
                node = parent
                continue
        if isinstance(parent, cst.Arg):
            call = ctx.parent(parent)
            if isinstance(call, cst.Call) and call.args and call.args[0] is parent and (
                _is_rewrap(ctx, call) or _is_builtin_number(call)
            ):
                node = call
                continue
        break
    rewrapped = _is_rewrap(ctx, node)
    return node, rewrapped, only_detach and not rewrapped


def _is_rewrap(ctx, node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and ctx.torch.is_any(node.func, REWRAPS)


def _is_builtin_number(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
        and node.func.value in ("float", "int") and len(node.args) == 1
    )


def _plain_rewrap(call: cst.Call) -> bool:
    """`torch.tensor(v)` or `torch.tensor(v, requires_grad=True)`: nothing (dtype, device) that
    the unwrapped value would lose."""
    if not call.args or call.args[0].keyword is not None or call.args[0].star:
        return False
    for arg in call.args[1:]:
        if not (
            arg.keyword is not None
            and arg.keyword.value == "requires_grad"
            and isinstance(arg.value, cst.Name)
            and arg.value.value == "True"
        ):
            return False
    return True


def _is_method(node: cst.CSTNode, name: str) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == name
        and not node.args
    )


def _read_elsewhere(ctx, cut: cst.CSTNode) -> bool:
    """`pred = model(x).detach()` where `pred` also has a reader that a graph would break:
    `.numpy()` (raises on a tensor that requires grad), a list or total kept across iterations
    (keeps every graph alive), an in-place update. Such a cut is reported, not fixed."""
    assign = ctx.parent(cut)
    if not (isinstance(assign, cst.Assign) and assign.value is cut):
        return False
    if not (len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name)):
        return True
    name = assign.targets[0].target.value
    return any(_harmful_read(ctx, read) for read in ctx.references.reads(name, assign))


def _harmful_read(ctx, read: cst.Name) -> bool:
    parent = ctx.parent(read)
    if isinstance(parent, cst.Attribute) and parent.value is read:
        method = parent.attr.value
        return method in ("numpy", "tolist") or (method.endswith("_") and not method.startswith("_"))
    if isinstance(parent, cst.Arg):
        call = ctx.parent(parent)
        return isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value in (
            "append", "extend", "insert", "add", "update", "put"
        )
    if isinstance(parent, cst.AugAssign):
        return True
    if isinstance(parent, cst.Assign) and any(isinstance(t.target, (cst.Attribute, cst.Subscript)) for t in parent.targets):
        return True
    return False


def _receiver_of_cut(cut: cst.CSTNode) -> cst.BaseExpression | None:
    """`x` for `x.detach()`, `x.item()`, `x.numpy()`, `x.tolist()`, `x.data`."""
    if isinstance(cut, cst.Attribute) and cut.attr.value == "data":
        return cut.value
    if (
        isinstance(cut, cst.Call)
        and isinstance(cut.func, cst.Attribute)
        and cut.func.attr.value in CUT_METHODS
        and not cut.args
    ):
        return cut.func.value
    return None
