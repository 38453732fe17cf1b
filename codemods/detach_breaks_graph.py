from __future__ import annotations

import libcst as cst

from autofix.analysis.dataflow import CUT_METHODS, REWRAPS, Grad
from autofix.rule import Fix, Rule, Safety, Violation, remove, replace


class DetachBreaksGraph(Rule):
    name = "detach-breaks-graph"
    summary = "The loss reaches the weights only through a .detach() / .data / .item() cut"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for backward calls whose loss depends on trainable values (module outputs, Parameters,
tensors with `requires_grad=True`) only through a cut: `.detach()`, `.data`, `.item()`,
`.numpy()` or `.tolist()`, possibly re-wrapped by `torch.tensor(...)` / `torch.as_tensor(...)`.

## Why is this bad?
A cut tensor has no history, so nothing flows back to the weights. When the loss has no other
path, backward raises "element 0 of tensors does not require grad and does not have a grad_fn";
when a re-wrap made a fresh tensor that requires grad, backward succeeds and trains nothing.

Intended cuts are left alone: a GAN discriminator step on `fake.detach()` (the discriminator is
still trained), DQN / actor-critic targets (`q_next.detach()`) next to a prediction that carries
gradient, stop-gradient terms added to a loss that still depends on the parameters.

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
Safe for `.detach()` and `.data`: the cut is removed (`pred = pred.detach()` is deleted). Unsafe
for `.item()` / `.tolist()` / `.numpy()` and their re-wraps: `torch.tensor(loss.item())` and
`torch.tensor(loss.item(), requires_grad=True)` become `loss`, `torch.as_tensor(pred.detach().numpy())`
becomes `pred` (`.cpu()` in the chain is kept): the value changes type and device, so the fix
needs review. Offered only when every cut lies on one such chain, the re-wrap passes no `dtype`
or `device`, and a name bound to the cut value feeds nothing but the loss (removing the cut from
`pred = model(x).detach()` would also give a graph to `pred.numpy()`, which then raises, or to a
list of predictions kept across iterations).
"""

    def check(self, ctx):
        for flow in ctx.gradients.backwards:
            value = flow.value
            if value.grad is not Grad.CUT or any(isinstance(c, (cst.With, cst.Decorator)) for c in value.cuts):
                continue  # no_grad blocks and @torch.no_grad() are no-grad-breaks-graph's
            cuts = sorted(value.cuts, key=lambda n: (ctx.position(n).start.line, ctx.position(n).start.column))
            outermost = [c for c in cuts if not any(a in value.cuts for a in ctx.ancestors(c))]
            named = ", ".join(dict.fromkeys(f"`{ctx.code(c)}`" for c in outermost))
            path = "" if outermost == [flow.loss] else f" only through {named}"
            verb = "is cut from" if not path else "reaches"
            yield Violation(
                flow.call,
                f"`{ctx.code(flow.loss)}` {verb} the trainable values{path}: "
                "backward computes no gradient for them",
                _remove_cut(ctx, flow, cuts),
            )


def _remove_cut(ctx, flow, cuts: list[cst.CSTNode]) -> Fix | None:
    """Replace the one expression that severs the loss by what it severed: `x.detach()` -> `x`,
    `torch.tensor(x.item(), requires_grad=True)` -> `x`, `torch.as_tensor(x.detach().numpy())`
    -> `x`, `torch.tensor(x.detach().cpu().numpy())` -> `x.cpu()`. Every cut must lie on that
    one chain; otherwise (two severed terms, a cut bound to a name and re-wrapped later) no fix."""
    outer = [c for c in cuts if not any(a in cuts for a in ctx.ancestors(c))]
    if len(outer) != 1:
        return None
    [top] = outer
    node, peeled, kept, rewrapped = top, set(), [], False
    if isinstance(node, cst.Call) and ctx.torch.is_any(node.func, REWRAPS):
        if not _plain_rewrap(node):
            return None
        peeled.add(node)
        node, rewrapped = node.args[0].value, True
    while True:
        receiver = _receiver_of_cut(node)
        if receiver is not None:
            peeled.add(node)
        elif _is_method(node, "cpu") and rewrapped:  # torch.tensor(...) lands on the CPU too
            kept.append(node)
            receiver = node.func.value
        else:
            break
        node = receiver
    if not set(cuts) <= peeled or (not rewrapped and kept):
        return None
    if _read_elsewhere(ctx, flow, top):
        return None
    replacement = node
    for link in reversed(kept):
        replacement = link.with_changes(func=link.func.with_changes(value=replacement))
    only_detach = not rewrapped and all(
        isinstance(c, cst.Attribute) or c.func.attr.value == "detach" for c in peeled
    )
    safety = Safety.SAFE if only_detach else Safety.UNSAFE
    assign = ctx.parent(top)
    if (  # `pred = pred.detach()`: the fix would leave `pred = pred`; drop the line instead
        isinstance(replacement, cst.Name)
        and isinstance(assign, cst.Assign)
        and [t.target for t in assign.targets if isinstance(t.target, cst.Name)]
        and all(isinstance(t.target, cst.Name) and t.target.value == replacement.value for t in assign.targets)
    ):
        line = ctx.parent(assign)
        block = ctx.parent(line)
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 and len(block.body) > 1:
            return Fix.of(remove(line), safety=safety)
        return None
    return Fix.of(replace(top, replacement), safety=safety)


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


def _read_elsewhere(ctx, flow, cut: cst.CSTNode) -> bool:
    """`pred = model(x).detach()` where `pred` also feeds something besides the loss (a metric,
    a list of predictions, a `.numpy()` call): removing the cut would give those a graph too,
    and `pred.numpy()` would then raise. Such a cut is reported, not fixed."""
    assign = ctx.parent(cut)
    if not (
        isinstance(assign, cst.Assign)
        and assign.value is cut
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
    ):
        return False
    name = assign.targets[0].target.value
    if isinstance(flow.loss, cst.Name) and flow.loss.value == name:
        return False  # the loss itself: its other readers want the real loss
    training = ctx.training
    scope = training.scope_of(cut)
    on_path = {training.statement_of(flow.call)}
    for node in ctx.nodes_in(scope):
        if isinstance(node, cst.Assign) and training.scope_of(node) is scope:
            if any(isinstance(t.target, cst.Name) and t.target.value in flow.value.deps for t in node.targets):
                on_path.add(training.statement_of(node))
    for node in ctx.nodes_in(scope):
        if (
            isinstance(node, cst.Name)
            and node.value == name
            and training.scope_of(node) is scope
            and not any(node is t.target for t in getattr(ctx.parent(ctx.parent(node)), "targets", ()))
            and training.statement_of(node) not in on_path
        ):
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
