from __future__ import annotations

import libcst as cst

from autofix.analysis.activations import LOGITS, SIGMOID
from autofix.arguments import keyword_argument
from autofix.rule import Fix, Rule, Safety, Violation, replace

WITH_LOGITS = frozenset({"torch.nn.functional.binary_cross_entropy_with_logits", "torch.nn.BCEWithLogitsLoss"})
ON_PROBABILITIES = frozenset({"torch.nn.functional.binary_cross_entropy", "torch.nn.BCELoss"})
# The same loss on the other side of the sigmoid, for each spelling.
SWITCHED = {
    "binary_cross_entropy_with_logits": "binary_cross_entropy",
    "binary_cross_entropy": "binary_cross_entropy_with_logits",
    "BCEWithLogitsLoss": "BCELoss",
    "BCELoss": "BCEWithLogitsLoss",
}


class BceActivationMismatch(Rule):
    name = "bce-activation-mismatch"
    summary = "A sigmoid output goes into BCEWithLogitsLoss, or raw logits into BCELoss"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks binary cross-entropy against the activation of its input, found at the call, earlier in
the function, in a helper, or as the output of the model (its `forward`'s `return`, the last
layer of an `nn.Sequential`):
- `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` given a sigmoid output;
- `nn.BCELoss` / `F.binary_cross_entropy` given the raw output of a linear or convolutional
  layer.

## Why is this bad?
`BCEWithLogitsLoss` applies the sigmoid itself. Given probabilities it computes
`sigmoid(sigmoid(x))`, which lies between 0.5 and 0.73: the loss cannot go below 0.31 for a
positive target (0.69 for a negative one), gradients shrink, and the model learns slowly and
stays badly calibrated, silently. `BCELoss` takes probabilities: raw logits outside [0, 1] make
it raise "all elements of input should be between 0 and 1" (on the GPU, a device-side assert).

A sigmoid followed by `BCELoss` is correct (if less stable than `BCEWithLogitsLoss`) and is not
reported, nor are inputs whose activation is unknown.

## Example
```python
probs = torch.sigmoid(model(x))
loss = F.binary_cross_entropy_with_logits(probs, y)
```

## Use instead
```python
logits = model(x)
probs = torch.sigmoid(logits)
loss = F.binary_cross_entropy_with_logits(logits, y)
```

## Fix safety
Unsafe: the loss values and gradients change (which is the point). A sigmoid applied in the same
function is dropped from the loss's input (its other uses keep the probabilities); a sigmoid in
the model is kept and the loss switches to `BCELoss` / `F.binary_cross_entropy` (not when
`pos_weight` is given, which only the logits loss takes); raw logits switch the loss to
`BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`, which takes the same arguments. A
criterion is switched only when every call of it gets the same kind of input.
"""

    def check(self, ctx):
        for node in ctx.nodes:
            if not isinstance(node, cst.Call):
                continue
            loss = ctx.losses.torch_loss(node)
            if loss is None:
                continue
            given = node.args[0].value if node.args and node.args[0].keyword is None else None
            found = ctx.activations.of(given) if given is not None else None
            if found is None:
                continue
            if loss[0] in WITH_LOGITS and found.kind == SIGMOID:
                if found.before is not None:
                    fix = Fix.of(replace(given, found.before), safety=Safety.UNSAFE)
                else:
                    fix = _switch(ctx, node, loss[1], SIGMOID)
                yield Violation(node, _twice_message(ctx, node, given, found), fix)
            elif loss[0] in ON_PROBABILITIES and found.kind == LOGITS:
                yield Violation(node, _raw_message(ctx, node, given, found), _switch(ctx, node, loss[1], LOGITS))


def _switch(ctx, call: cst.Call, settings: cst.Call, kind: str) -> Fix | None:
    """Rename the loss (`F.binary_cross_entropy_with_logits` -> `F.binary_cross_entropy`, or
    the criterion's class) when every call of it gets `kind` and the other loss takes its
    arguments."""
    func = settings.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in SWITCHED:
        return None  # a bare imported name: the other one is not imported
    if keyword_argument(settings, "pos_weight") is not None:
        return None
    users = [call] if settings is call else [
        c for c in ctx.nodes
        if isinstance(c, cst.Call) and (ctx.losses.torch_loss(c) or (None, None))[1] is settings
    ]
    for user in users:
        given = user.args[0].value if user.args and user.args[0].keyword is None else None
        found = ctx.activations.of(given) if given is not None else None
        if found is None or found.kind != kind:
            return None
    renamed = func.with_changes(attr=cst.Name(SWITCHED[func.attr.value]))
    return Fix.of(replace(func, renamed), safety=Safety.UNSAFE)


def _where(ctx, given, found) -> str:
    if found.node is given:
        return f"`{ctx.code(given)}`"
    return f"`{ctx.code(given)}` (line {ctx.position(found.node).start.line})"


def _twice_message(ctx, call, given, found) -> str:
    return (
        f"`{ctx.code(call.func)}` applies sigmoid itself, but {_where(ctx, given, found)} is "
        "already a sigmoid output: the loss sees sigmoid(sigmoid(x)), cannot go below 0.31 and its "
        "gradients shrink; pass the logits, or use the loss on probabilities"
    )


def _raw_message(ctx, call, given, found) -> str:
    return (
        f"`{ctx.code(call.func)}` expects probabilities, but {_where(ctx, given, found)} is the "
        "raw output of a layer: values outside [0, 1] raise \"all elements of input should be "
        "between 0 and 1\"; use the logits loss (`BCEWithLogitsLoss` / "
        "`binary_cross_entropy_with_logits`)"
    )
