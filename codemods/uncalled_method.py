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
        used_as_data = _used_as_data(ctx)
        for event in ctx.training.events:
            if event.kind is not Kind.UNCALLED or event.target not in METHODS:
                continue
            expr = event.node
            if ctx.code(expr.value) in used_as_data or _probes_attribute(ctx, expr):
                continue
            yield Violation(
                expr,
                f"`{ctx.code(expr.value)}` is never called: add `()` to run it",
                Fix.of(replace(expr.value, cst.Call(func=expr.value))),
            )


def _used_as_data(ctx) -> set[str]:
    """`config.train` in `config.train.lr` or `config.train[0]`: an attribute that holds data,
    so a bare `config.train` elsewhere displays it (a notebook cell) rather than forgets a call."""
    found = set()
    for node in ctx.nodes:
        if isinstance(node, (cst.Attribute, cst.Subscript)) and isinstance(node.value, cst.Attribute):
            if node.value.attr.value in METHODS:
                found.add(ctx.code(node.value))
    return found


def _probes_attribute(ctx, expr: cst.Expr) -> bool:
    """`try: component.step  except AttributeError: ...` checks that the method exists."""
    line = ctx.parent(expr)
    block = ctx.parent(line)
    owner = ctx.parent(block) if block is not None else None
    if not isinstance(owner, cst.Try) or owner.body is not block:
        return False
    caught = set()
    for handler in owner.handlers:
        if handler.type is None:
            return True
        caught.update(ctx.code(n) for n in _exception_names(handler.type))
    return bool(caught & {"AttributeError", "Exception", "BaseException"})


def _exception_names(node: cst.BaseExpression):
    return node.elements and [e.value for e in node.elements] if isinstance(node, cst.Tuple) else [node]
