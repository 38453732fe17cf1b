from __future__ import annotations

import libcst as cst

from autofix.analysis.dataflow import CUT_METHODS, Grad
from autofix.rule import Fix, Rule, Safety, Violation, replace


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
Safe for `.detach()` and `.data`: the cut is removed. Unsafe for `.item()` / `.tolist()` /
`.numpy()` and their re-wraps (`torch.tensor(loss.item())` becomes `loss`): the value changes
type and device, so the fix needs review. Offered only when exactly one cut severs the loss.
"""

    def check(self, ctx):
        for flow in ctx.gradients.backwards:
            value = flow.value
            if value.grad is not Grad.CUT or any(isinstance(c, cst.With) for c in value.cuts):
                continue  # no_grad blocks are no-grad-breaks-graph's
            cuts = sorted(value.cuts, key=lambda n: (ctx.position(n).start.line, ctx.position(n).start.column))
            named = ", ".join(f"`{ctx.code(c)}`" for c in cuts)
            yield Violation(
                flow.call,
                f"`{ctx.code(flow.loss)}` reaches the trainable values only through {named}: "
                "backward computes no gradient for them",
                _remove_cut(ctx, cuts),
            )


def _remove_cut(ctx, cuts: list[cst.CSTNode]) -> Fix | None:
    if len(cuts) == 2:  # torch.tensor(x.item()): the re-wrap around one cut
        outer, inner = sorted(cuts, key=lambda n: len(ctx.code(n)), reverse=True)
        if isinstance(outer, cst.Call) and len(outer.args) == 1 and outer.args[0].value is inner:
            receiver = _receiver_of_cut(inner)
            if receiver is not None:
                return Fix.of(replace(outer, receiver), safety=Safety.UNSAFE)
        return None
    if len(cuts) != 1:
        return None
    [cut] = cuts
    receiver = _receiver_of_cut(cut)
    if receiver is None:
        return None
    is_detach = isinstance(cut, cst.Attribute) or cut.func.attr.value == "detach"
    return Fix.of(replace(cut, receiver), safety=Safety.SAFE if is_detach else Safety.UNSAFE)


def _receiver_of_cut(cut: cst.CSTNode) -> cst.BaseExpression | None:
    """`x` for `x.detach()`, `x.item()`, `x.data`."""
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
