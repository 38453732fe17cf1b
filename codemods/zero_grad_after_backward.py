from __future__ import annotations

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, insert_before, remove


class ZeroGradAfterBackward(Rule):
    name = "zero-grad-after-backward"
    summary = "Gradients are cleared between backward and the optimizer step"
    fix_safety = Safety.SAFE
    supersedes = frozenset({"step-without-backward"})
    docs = """\
## What it does
Checks for `optimizer.zero_grad()` (or `model.zero_grad()` on the model the optimizer steps)
called after `loss.backward()` and before `optimizer.step()` in the same iteration.

## Why is this bad?
The step then sees no gradients: with `set_to_none=True` (the default since PyTorch 2.0) every
parameter's `.grad` is `None` and `step()` skips it; with zeros, plain SGD does nothing. The
model never changes and PyTorch raises nothing.

## Example
```python
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.zero_grad()
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
Safe. The `zero_grad()` line is moved, unchanged, to just before the iteration's first backward
(or, under gradient accumulation, to right after the conditional step).
"""

    def check(self, ctx):
        training = ctx.training
        for loop in training.loops:
            reported: set[int] = set()
            for step in loop.steps():
                clear = _clear_between_backward_and(training, loop, step)
                if clear is None or id(clear) in reported:
                    continue
                reported.add(id(clear))
                yield Violation(
                    clear.event.node,
                    f"`{ctx.code(clear.event.node)}` runs after backward and before "
                    f"`{step.target}.step()` at line {ctx.position(step.event.node).start.line}: "
                    "the step sees no gradients",
                    _move_to_clearing_point(training, loop, step, clear),
                )


def _clear_between_backward_and(training, loop: TrainingLoop, step: LoopEvent) -> LoopEvent | None:
    """The zero_grad that clears `step`'s optimizer after the iteration's backward and before
    the step, with no backward between it and the step."""
    optimizer = step.target
    clears_it = {optimizer, *training.optimized_modules(optimizer)}
    last_clear = None
    backward_seen = False
    for event in loop.events:
        if event.order >= step.order:
            break
        if event.kind is Kind.BACKWARD:
            backward_seen = True
            last_clear = None
        elif (
            event.kind is Kind.ZERO_GRAD
            and backward_seen
            and not event.inner
            and event.receiver in clears_it
            and training.runs_whenever(event, step)
        ):
            last_clear = event
        elif event.kind is Kind.STEP:
            # A step in between used that backward: whether this optimizer has one of its own is
            # step-without-backward's question.
            backward_seen, last_clear = False, None
    return last_clear


def _move_to_clearing_point(training, loop, step, clear) -> Fix | None:
    """Move the zero_grad line, unchanged, to where missing-zero-grad would insert one."""
    if clear.via is not None:
        return None
    line = training.sole_call_statement(clear.event.node)
    point = training.clearing_point(loop, step)
    if line is None or point is None or point.in_helper:
        return None
    moved = line.with_changes(
        leading_lines=[l for l in line.leading_lines if l.comment is not None]
    )
    insert = insert_before if point.where == "before" else insert_after
    return Fix.of(remove(line), insert(point.statement, moved))
