from __future__ import annotations

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, insert_before


class MissingZeroGrad(Rule):
    name = "missing-zero-grad"
    summary = "A training loop steps an optimizer but never clears its gradients"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for loops that call `optimizer.step()` and backward but never clear that optimizer's
gradients (`optimizer.zero_grad()`, `model.zero_grad()`, or `p.grad = None` over the parameters).

## Why is this bad?
`backward()` adds to `.grad`; it never overwrites it. Without clearing, every step uses the sum of
the gradients of all previous iterations, so updates grow each step and training diverges or
crawls. PyTorch raises nothing.

Gradient accumulation (step and zero_grad under `if (i + 1) % k == 0`), LBFGS closures and
zero_grad inside a helper called from the loop are recognised as correct.

## Example
```python
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
```

## Fix safety
Safe. `optimizer.zero_grad()` is inserted before the iteration's first backward, or right after a
conditional `optimizer.step()` when backward runs every iteration (gradient accumulation).
"""

    def check(self, ctx):
        training = ctx.training
        for loop in training.loops:
            if not loop.of_kind(Kind.BACKWARD) or _bare_zero_grad(loop):
                continue
            seen: set[str] = set()
            for step in loop.steps():
                optimizer = step.target
                if optimizer in seen or _clears(training, loop, optimizer):
                    continue
                seen.add(optimizer)
                yield Violation(
                    step.via or step.event.node,
                    f"`{optimizer}.zero_grad()` is never called in the loop at line "
                    f"{ctx.position(loop.node).start.line} that calls `{optimizer}.step()`: "
                    "gradients of every iteration add up",
                    self._fix(training, loop, step),
                )

    @staticmethod
    def _fix(training, loop: TrainingLoop, step: LoopEvent) -> Fix | None:
        point = training.clearing_point(loop, step)
        if point is None:
            return None
        insert = insert_before if point.where == "before" else insert_after
        return Fix.of(insert(point.statement, f"{point.name}.zero_grad()\n"))


def _clears(training, loop: TrainingLoop, optimizer: str) -> bool:
    """Does anything in the loop clear `optimizer`'s gradients? Its own zero_grad, a model's
    zero_grad when that model is one the optimizer steps (any model when that is unknown), or
    `p.grad = None` over parameters."""
    modules = training.optimized_modules(optimizer)
    for event in loop.of_kind(Kind.ZERO_GRAD):
        if event.target == optimizer:
            return True
        if event.target is None and (not modules or event.receiver is None or event.receiver in modules):
            return True
    return False


def _bare_zero_grad(loop: TrainingLoop) -> bool:
    """`optimizer.zero_grad` written without parentheses: uncalled-method's to fix."""
    return any(e.target == "zero_grad" for e in loop.of_kind(Kind.UNCALLED))
