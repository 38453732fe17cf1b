from __future__ import annotations

import libcst as cst

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, replace

# Optimizers whose update is linear in the gradient: k times the gradient, k times the step.
LINEAR_OPTIMIZERS = frozenset({"torch.optim.SGD", "torch.optim.sgd.SGD", "torch.optim.ASGD", "torch.optim.asgd.ASGD"})
CLIPPING = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm",
        "torch.nn.utils.clip_grad_value_", "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
    }
)
UNSCALED, SCALED, SUMMED, UNKNOWN = "unscaled", "scaled", "summed", "unknown"


class AccumulatedLossNotScaled(Rule):
    name = "accumulated-loss-not-scaled"
    summary = "Gradient accumulation adds k full losses: the step sees k times the mean gradient"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks for gradient accumulation (backward in every iteration, `optimizer.step()` only when
`(i + 1) % k == 0`) where the loss backpropagated is a PyTorch loss with its default mean
reduction (or a model output's `.loss`) that is never divided by `k`, in loops where that changes
training: the optimizer is SGD-like (SGD, ASGD: the update is linear in the gradient), or the
gradients are clipped (`clip_grad_norm_`, `clip_grad_value_`).

## Why is this bad?
`backward()` adds to `.grad`, so after `k` micro-batches the gradient is the sum of `k` mean
gradients: `k` times the gradient of the large batch the accumulation stands for. With SGD the step
is `k` times larger (4.00x for `k = 4`, measured under PyTorch 2.13), which usually means a
learning rate `k` times too high; clipping compares `k` times the true norm with its threshold and
cuts updates that should pass. Adam-style optimizers are invariant to that scale (the update ratio
is 1.0000), so there the loop is reported only when it clips.

Losses already scaled (`loss / k` anywhere on the way to backward, `loss /= k`, a multiplication
by a factor, a helper computing the loss), losses summed on purpose (`reduction="sum"`, `.sum()`:
accumulating sums is the sum over the large batch), gradients divided by hand, and backward run
by an accelerator (`accelerator.backward`, which scales itself) are not reported.

## Example
```python
for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y)
    loss.backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
        optimizer.zero_grad()
```

## Use instead
```python
for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y)
    (loss / accum_steps).backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
        optimizer.zero_grad()
```

## Fix safety
Unsafe. Only what backward sees is divided by `k` (the logged `loss` keeps its value), which
makes every update `k` times smaller: right for the large batch the accumulation emulates, but a
learning rate tuned on the unscaled loop must then be retuned.
"""

    def check(self, ctx):
        for loop in ctx.training.loops:
            backward = _every_iteration_backward(loop)
            if backward is None:
                continue
            for step in loop.steps():
                every = _accumulation_interval(ctx, loop, step)
                if every is None or _grads_rescaled(ctx, loop):
                    continue
                if _loss_scaling(ctx, loop, backward.event.loss, backward.event.node) != UNSCALED:
                    continue
                clipped = _clips(ctx, loop)
                if not clipped and not _linear_optimizer(ctx, step):
                    continue
                yield Violation(
                    backward.event.node,
                    _message(ctx, backward, step, every, clipped),
                    _fix(ctx, backward, every),
                )
                break


def _every_iteration_backward(loop: TrainingLoop) -> LoopEvent | None:
    """The one `loss.backward()` (or `scaler.scale(loss).backward()`) that runs in every
    iteration, written in the loop itself."""
    backwards = loop.of_kind(Kind.BACKWARD)
    if len(backwards) != 1:
        return None
    backward = backwards[0]
    call = backward.event.node
    if backward.conditional or backward.via is not None or not isinstance(call, cst.Call):
        return None
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "backward"):
        return None
    if any(a.keyword is None for a in call.args) or backward.event.loss is None:
        return None  # `accelerator.backward(loss)`, `engine.backward(loss)`: they scale
    return backward


def _accumulation_interval(ctx, loop: TrainingLoop, step: LoopEvent) -> cst.BaseExpression | None:
    """`k` when the step sits under `if ... % k == 0` in the loop."""
    if not step.conditional:
        return None
    for parent in ctx.ancestors(step.via or step.event.node):
        if parent is loop.node:
            return None
        if isinstance(parent, cst.If):
            for node in ctx.nodes_in(parent.test):
                if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
                    return node.right
    return None


def _grads_rescaled(ctx, loop: TrainingLoop) -> bool:
    """`p.grad /= k`, `p.grad.div_(k)`, `p.grad = ...`: gradients normalised by hand."""
    if loop.of_kind(Kind.GRAD_WRITE):
        return True
    for node in ctx.own_nodes(loop.node):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in ("div_", "mul_")
            and isinstance(node.func.value, cst.Attribute)
            and node.func.value.attr.value == "grad"
        ):
            return True
    return False


def _loss_scaling(ctx, loop, expr: cst.BaseExpression, use: cst.CSTNode, depth: int = 0) -> str:
    """How the value backpropagated relates to the mean loss of one micro-batch."""
    if depth > 6:
        return UNKNOWN
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.Divide):
            return SCALED
        if isinstance(expr.operator, cst.Multiply):
            literal = [s for s in (expr.left, expr.right) if isinstance(s, (cst.Integer, cst.Float))]
            if not literal:
                return SCALED  # `loss * weight`: some factor the author chose
            other = expr.right if literal[0] is expr.left else expr.left
            return _loss_scaling(ctx, loop, other, use, depth + 1)
        if isinstance(expr.operator, (cst.Add, cst.Subtract)):
            parts = {_loss_scaling(ctx, loop, s, use, depth + 1) for s in (expr.left, expr.right)}
            return parts.pop() if len(parts) == 1 else UNKNOWN
        return UNKNOWN
    if isinstance(expr, cst.Attribute) and expr.attr.value == "loss":
        return UNSCALED  # `outputs.loss` of a model: a mean over the batch
    if isinstance(expr, cst.Call):
        return _call_scaling(ctx, loop, expr, use, depth)
    if isinstance(expr, cst.Name):
        return _name_scaling(ctx, loop, expr.value, use, depth)
    return UNKNOWN


def _call_scaling(ctx, loop, call: cst.Call, use, depth: int) -> str:
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "scale" and call.args:
        return _loss_scaling(ctx, loop, call.args[0].value, use, depth + 1)  # scaler.scale(loss)
    if isinstance(call.func, cst.Attribute) and call.func.attr.value in ("mean", "sum") and not call.args:
        inner = _loss_scaling(ctx, loop, call.func.value, use, depth + 1)
        return SUMMED if call.func.attr.value == "sum" else inner
    loss = ctx.losses.torch_loss(call)
    if loss is None:
        return UNKNOWN
    constructor = loss[1]
    if any(a.keyword and a.keyword.value in ("size_average", "reduce") for a in constructor.args):
        return UNKNOWN
    reduction = next((a.value for a in constructor.args if a.keyword and a.keyword.value == "reduction"), None)
    if reduction is None:
        return UNSCALED  # the default: the mean over the micro-batch
    if not isinstance(reduction, cst.SimpleString):
        return UNKNOWN
    # "none" gives one value per element: the `.mean()` / `.sum()` around it decides
    return SUMMED if reduction.evaluated_value == "sum" else UNSCALED


def _name_scaling(ctx, loop, name: str, use, depth: int) -> str:
    """What the assignments of `name` in the loop, before `use`, make of it."""
    results = set()
    for node in ctx.own_nodes(loop.node):
        if ctx.order(node) >= ctx.order(use):
            break
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value == name:
            if isinstance(node.operator, (cst.DivideAssign, cst.MultiplyAssign)):
                return SCALED
            results.add(UNKNOWN)
        elif isinstance(node, cst.Assign) and any(
            isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets
        ):
            results.add(_loss_scaling(ctx, loop, node.value, node, depth + 1))
    if SCALED in results:
        return SCALED
    return results.pop() if len(results) == 1 else UNKNOWN


def _clips(ctx, loop: TrainingLoop) -> bool:
    bodies = [loop.node, *ctx.training.helpers_reachable(loop)]
    return any(
        isinstance(node, cst.Call) and ctx.torch.is_any(node.func, CLIPPING)
        for body in bodies for node in ctx.own_nodes(body)
    )


def _linear_optimizer(ctx, step: LoopEvent) -> bool:
    call = step.event.node
    optimizer = call.args[0].value if call.args else call.func.value  # scaler.step(opt) / opt.step()
    return any(
        isinstance(v, cst.Call) and ctx.torch.is_any(v.func, LINEAR_OPTIMIZERS)
        for v in ctx.bindings.values_of(optimizer)
    )


def _message(ctx, backward: LoopEvent, step: LoopEvent, every, clipped: bool) -> str:
    k = ctx.code(every)
    loss = ctx.code(backward.event.loss)
    effect = (
        f"clipping compares `{k}` times the gradient with its threshold"
        if clipped else f"each SGD step is `{k}` times larger"
    )
    return (
        f"`{step.target}.step()` runs every `{k}` iterations but backward adds the unscaled loss "
        f"`{loss}` each time: the step sees `{k}` times the mean gradient, so {effect}; "
        f"backpropagate `{loss} / {k}`"
    )


def _fix(ctx, backward: LoopEvent, every: cst.BaseExpression) -> Fix:
    loss = backward.event.loss
    divided = cst.BinaryOperation(
        left=_parenthesized(loss) if isinstance(loss, cst.BinaryOperation) else loss,
        operator=cst.Divide(),
        right=_parenthesized(every) if isinstance(every, cst.BinaryOperation) else every,
    )
    call = backward.event.node
    if call.func.value is loss:  # `(loss / k).backward()`
        divided = _parenthesized(divided)
    return Fix.of(replace(loss, divided), safety=Safety.UNSAFE)


def _parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
