from __future__ import annotations

import libcst as cst

from autofix.analysis.activations import SOFTMAX
from autofix.rule import Fix, Rule, Safety, Violation, replace

CROSS_ENTROPY = frozenset({"torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss"})


class SoftmaxBeforeCrossEntropy(Rule):
    name = "softmax-before-cross-entropy"
    summary = "Probabilities (softmax output) are passed to cross-entropy, which expects logits"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks for `nn.CrossEntropyLoss` / `F.cross_entropy` whose input went through softmax: at the
call (`criterion(F.softmax(logits, dim=1), y)`), earlier in the function (`probs =
logits.softmax(1)`), in a helper of the file, or as the output of the model (`return
F.softmax(x, dim=1)` in its `forward`, an `nn.Softmax` ending an `nn.Sequential`).

## Why is this bad?
Cross-entropy applies `log_softmax` to its input itself. Fed probabilities, it computes the
log-softmax of values in [0, 1]: the loss cannot go below `log(1 + (C - 1) / e)` (1.46 for 10
classes) however right the model is, and the gradient reaching the logits is scaled by the
softmax's Jacobian, so it shrinks as predictions become confident. Training stalls early and
calibration is lost; PyTorch raises nothing.

`log_softmax` before the loss is left alone (log_softmax is idempotent, so that is only
redundant), as are `log_softmax` with `NLLLoss` and softmax used only for metrics.

## Example
```python
probs = F.softmax(model(x), dim=1)
loss = F.cross_entropy(probs, y)
accuracy = (probs.argmax(1) == y).float().mean()
```

## Use instead
```python
logits = model(x)
probs = F.softmax(logits, dim=1)
loss = F.cross_entropy(logits, y)
accuracy = (probs.argmax(1) == y).float().mean()
```

## Fix safety
Unsafe. When the softmax is applied in the same function, the loss is given the softmax's input
(the logits) and every other use keeps the probabilities; the loss values and gradients change,
which is the point, but a learning rate tuned around the bug may need retuning. A softmax inside
the model's `forward` or a helper is only reported: removing it would change what the model
returns to every other caller.
"""

    def check(self, ctx):
        for node in ctx.nodes:
            if not isinstance(node, cst.Call):
                continue
            loss = ctx.losses.torch_loss(node)
            if loss is None or loss[0] not in CROSS_ENTROPY:
                continue
            given = _loss_input(node)
            if given is None:
                continue
            found = ctx.activations.of(given)
            if found is None or found.kind != SOFTMAX:
                continue
            fix = Fix.of(replace(given, found.before), safety=Safety.UNSAFE) if found.before is not None else None
            yield Violation(node, _message(ctx, node, given, found), fix)


def _loss_input(call: cst.Call) -> cst.BaseExpression | None:
    positional = [a for a in call.args if a.keyword is None]
    if positional and not positional[0].star:
        return positional[0].value
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "input"), None)


def _message(ctx, call, given, found) -> str:
    line = ctx.position(found.node).start.line
    where = f"`{ctx.code(given)}`" + ("" if found.node is given else f" (softmax at line {line})")
    advice = f"pass `{ctx.code(found.before)}`" if found.before is not None else "pass the logits"
    return (
        f"`{ctx.code(call.func)}` applies log_softmax itself, but {where} is already a softmax: "
        f"the loss sees probabilities, cannot reach 0 and its gradients shrink; {advice}"
    )
