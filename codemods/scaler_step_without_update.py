from __future__ import annotations

import libcst as cst

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, remove

_STEP_ERROR = "step() has already been called since the last update()."
_UNSCALE_ERROR = "unscale_() is being called after step()."


class ScalerStepWithoutUpdate(Rule):
    name = "scaler-step-without-update"
    summary = "A loop calls `scaler.step(optimizer)` but never `scaler.update()`"
    fix_safety = Safety.SAFE
    docs = f"""\
## What it does
Checks for loops whose iterations call `scaler.step(optimizer)` on a `GradScaler` (directly or
in a helper they call) without calling `scaler.update()` in the same iteration.

## Why is this bad?
A `GradScaler` allows one `step()` per optimizer between two `update()` calls. Without the
update, the second iteration of an enabled scaler raises
`RuntimeError: {_STEP_ERROR}`, or, when the iteration calls `scaler.unscale_(optimizer)` first
(to clip gradients), `RuntimeError: {_UNSCALE_ERROR}` The scale would never adapt either: no
back-off after an overflow, no growth. A scaler built with `enabled=False`, or a CUDA scaler on
a machine without CUDA, disables itself and raises nothing, so the bug waits for the GPU run.

An `update()` once per epoch, after the batch loop, is the same bug (the batch loop steps twice
before it); it also raises "No inf checks were recorded prior to update." if an update is merely
added after the step and the per-epoch one is kept. An update in a helper the loop calls counts,
and one update after several `scaler.step(...)` calls (a GAN's two optimizers) is correct.
Scalers built with a literal `enabled=False` and objects that are not torch `GradScaler`s (a
wrapper class of the file) are left alone.

## Example
```python
scaler = torch.amp.GradScaler("cuda")
for x, y in loader:
    optimizer.zero_grad()
    with torch.autocast("cuda"):
        loss = criterion(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
```

## Use instead
```python
scaler = torch.amp.GradScaler("cuda")
for x, y in loader:
    optimizer.zero_grad()
    with torch.autocast("cuda"):
        loss = criterion(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
```

## Fix safety
Safe. `scaler.update()` is inserted on the line after the iteration's last `scaler.step(...)`
(or after the call of the helper that steps), inside the same block, so it runs exactly when
the step runs. An update that runs once per epoch outside the batch loop is moved there, not
duplicated. No fix is offered when the steps of one iteration run under different conditions, or
when the helper steps only sometimes.
"""

    def check(self, ctx):
        training = ctx.training
        for loop in training.loops:
            steps: dict[str, list[LoopEvent]] = {}
            for step in loop.steps():
                if step.event.scaler is not None and step.receiver is not None:
                    steps.setdefault(step.receiver, []).append(step)
            for scaler, scaler_steps in steps.items():
                names = {scaler, *(s.event.receiver for s in scaler_steps)}
                if not all(training.is_enabled_grad_scaler(n) for n in names):
                    continue  # not torch's GradScaler, or switched off in the code
                if any(
                    u.receiver == scaler and not u.inner for u in loop.of_kind(Kind.SCALER_UPDATE)
                ):
                    continue
                last = scaler_steps[-1]
                elsewhere = _updates_outside(ctx, loop, scaler)
                yield Violation(
                    last.via or last.event.node,
                    self._message(ctx, loop, scaler, last, elsewhere),
                    _fix(ctx, loop, scaler, scaler_steps, elsewhere),
                )

    @staticmethod
    def _message(ctx, loop: TrainingLoop, scaler: str, step: LoopEvent, elsewhere) -> str:
        unscales = any(
            u.receiver == scaler and u.order < step.order for u in loop.of_kind(Kind.UNSCALE)
        )
        error = _UNSCALE_ERROR if unscales else _STEP_ERROR
        stepping = f"`{scaler}.step({step.target})` runs"
        if step.via is not None:
            stepping = f"`{ctx.code(step.via.func)}()` runs `{scaler}.step({step.target})`"
        if elsewhere:
            lines = ", ".join(str(ctx.position(n).start.line) for n in elsewhere)
            calls = f"calls `{scaler}.update()` only outside it (line {lines})"
        else:
            calls = f"never calls `{scaler}.update()`"
        return (
            f"{stepping} in the loop at line "
            f"{ctx.position(loop.node).start.line}, which {calls}: the next iteration raises "
            f'"{error.rstrip(".")}"'
        )


def _fix(ctx, loop: TrainingLoop, scaler: str, steps: list[LoopEvent], elsewhere) -> Fix | None:
    """`scaler.update()` on the line after the last step, when that line runs in every
    iteration in which any of the scaler's steps runs; a per-epoch update of the same scope
    moves there rather than being duplicated."""
    training = ctx.training
    last = steps[-1]
    if not all(training.runs_whenever(last, other) for other in steps[:-1]):
        return None
    if last.via is not None:
        if not last.direct or training.is_conditional(last.event.node, last.event.scope):
            return None  # the helper steps only sometimes: an update after its call may not
        line = _line_of(training, last.via)
    else:
        line = _line_of(training, last.event.node)
    if line is None:
        return None
    if not elsewhere:
        return Fix.of(insert_after(line, f"{scaler}.update()\n"))
    if len(elsewhere) != 1:
        return None
    old = training.sole_call_statement(elsewhere[0])
    block = ctx.parent(old) if old is not None else None
    if not isinstance(block, cst.IndentedBlock) or len(block.body) < 2:
        return None
    comments = [l for l in old.leading_lines if l.comment is not None]
    return Fix.of(remove(old), insert_after(line, old.with_changes(leading_lines=comments)))


def _line_of(training, node: cst.CSTNode) -> cst.SimpleStatementLine | None:
    """The simple statement holding `node` in a block: what runs exactly when `node` does."""
    statement = training.statement_of(node)
    return statement if isinstance(statement, cst.SimpleStatementLine) else None


def _updates_outside(ctx, loop: TrainingLoop, scaler: str) -> list[cst.Call]:
    """`scaler.update()` calls in the loops around `loop` but outside it (once per epoch)."""
    training = ctx.training
    outer = training.loops_around(loop.node)
    inside = {id(n) for n in ctx.nodes_in(loop.node)}
    return [
        e.node
        for e in training.events
        if e.kind is Kind.SCALER_UPDATE
        and e.receiver == scaler
        and id(e.node) not in inside
        and any(o in outer for o in training.loops_around(e.node))
    ]
