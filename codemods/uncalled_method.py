from __future__ import annotations

import libcst as cst

from autofix.analysis.training import Kind
from autofix.rule import Fix, Rule, Safety, Violation, replace

METHODS = ("zero_grad", "backward", "step", "train", "eval")


class UncalledMethod(Rule):
    name = "uncalled-method"
    summary = "A training method is named but never called (missing parentheses)"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for expression statements `optimizer.zero_grad`, `loss.backward`, `optimizer.step`,
`model.train` and `model.eval` written without parentheses.

## Why is this bad?
Naming a method without calling it evaluates to a bound method and throws it away: gradients are
not cleared, nothing is backpropagated, no step is taken, the model's mode does not change.
Python and PyTorch raise nothing, so the loop runs and silently trains wrongly (or not at all).

## Example
```python
optimizer.zero_grad
loss.backward()
optimizer.step
```

## Use instead
```python
optimizer.zero_grad()
loss.backward()
optimizer.step()
```

## Fix safety
Safe: the statement had no effect, and calling it is the only reading of what was meant.
"""

    def check(self, ctx):
        for event in ctx.training.events:
            if event.kind is not Kind.UNCALLED or event.target not in METHODS:
                continue
            expr = event.node
            yield Violation(
                expr,
                f"`{ctx.code(expr.value)}` is never called: add `()` to run it",
                Fix.of(replace(expr.value, cst.Call(func=expr.value))),
            )
