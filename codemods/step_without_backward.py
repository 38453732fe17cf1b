from __future__ import annotations

import libcst as cst

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, insert_before


class StepWithoutBackward(Rule):
    name = "step-without-backward"
    summary = "A training loop steps an optimizer but never calls backward"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks for loops that call `optimizer.step()` (without a closure) while nothing in the loop, nor
in the helpers it calls, runs backward (`loss.backward()`, `scaler.scale(loss).backward()`,
`accelerator.backward(loss)`, `torch.autograd.backward(...)` ...) or writes `.grad` by hand.

## Why is this bad?
Without backward no gradient is ever computed: every parameter's `.grad` stays `None` and
`step()` silently skips it. The loss is computed, logged and looks plausible, but the model never
changes. PyTorch raises nothing.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Fix safety
Unsafe, and offered only when the loop computes exactly one loss value (a criterion or `*_loss`
call assigned to a name before the step, in the step's block or one enclosing it): `loss.backward()`
is inserted before the step. Which value to backpropagate is a modelling decision, so the fix
needs review; otherwise the rule only reports.
"""

    def check(self, ctx):
        training = ctx.training
        for loop in training.loops:
            if _manages_other_optimizers(loop):
                continue
            if not (_computes_gradients(training, loop) or training.backward_reaches(loop)):
                yield from self._loop_without_backward(ctx, loop)
            else:
                yield from self._steps_after_their_clear(ctx, loop)

    def _loop_without_backward(self, ctx, loop: TrainingLoop):
        seen: set[str] = set()
        fixed = False
        for step in loop.steps():
            if step.target in seen:
                continue
            seen.add(step.target)
            # One backward serves every optimizer of the loop: only the first step gets it.
            fix = None if fixed else _insert_backward(ctx, loop, step)
            fixed = fixed or fix is not None
            yield Violation(
                step.via or step.event.node,
                f"`{step.target}.step()` runs in the loop at line "
                f"{ctx.position(loop.node).start.line} but nothing there calls backward: "
                "the step has no gradients and leaves the parameters unchanged",
                fix,
            )

    def _steps_after_their_clear(self, ctx, loop: TrainingLoop):
        """`opt.zero_grad()` then `opt.step()` with no backward between them: this optimizer's
        step has nothing to apply even though the loop backpropagates something else."""
        cleared: dict[str, LoopEvent] = {}
        deep_backwards = ctx.training.backward_orders_through_helpers(loop)
        for event in loop.events:
            computes = event.kind in (Kind.BACKWARD, Kind.GRAD_WRITE) or (
                event.kind is Kind.UNCALLED and event.target == "backward"  # uncalled-method's to fix
            )
            if event.inner and not computes:
                continue  # a backward in an inner loop (micro-batches) still fills the gradients
            cleared = {
                optimizer: clear
                for optimizer, clear in cleared.items()
                if not any(clear.order < order < event.order for order in deep_backwards)
            }
            if computes:
                cleared.clear()
            elif event.kind is Kind.ZERO_GRAD and event.target is not None:
                cleared[event.target] = event
            elif event.kind is Kind.STEP and not event.event.has_args and event.target in cleared:
                clear = cleared.pop(event.target)
                yield Violation(
                    clear.via or clear.event.node,
                    f"`{event.target}.zero_grad()` clears the gradients that `{event.target}.step()` at line "
                    f"{ctx.position(event.via or event.event.node).start.line} needs, and no backward runs in between: "
                    "the step has no gradients and leaves the parameters unchanged",
                )


def _manages_other_optimizers(loop: TrainingLoop) -> bool:
    """`for opt in self.optimizers: opt.step()`: a wrapper stepping optimizers for its caller,
    who runs backward."""
    node = loop.node
    if not isinstance(node, cst.For) or not isinstance(node.target, cst.Name):
        return False
    return any(step.target == node.target.value for step in loop.steps())


def _computes_gradients(training, loop: TrainingLoop) -> bool:
    """Backward (or gradients written by hand) in the loop or any helper it reaches."""
    kinds = (Kind.BACKWARD, Kind.GRAD_WRITE)
    if any(e.kind in kinds or (e.kind is Kind.UNCALLED and e.target == "backward") for e in loop.events):
        return True
    helpers = training.helpers_reachable(loop)
    return any(e.kind in kinds and any(e.scope is h for h in helpers) for e in training.events)


def _insert_backward(ctx, loop: TrainingLoop, step: LoopEvent) -> Fix | None:
    """`loss.backward()` (through the scaler when the step goes through one) where the loop's
    only loss is sure to exist: before the step, or right after the loss when the step is
    conditional and the loss is not (gradient accumulation)."""
    if step.via is not None:
        return None
    training = ctx.training
    statement = training.statement_of(step.event.node)
    assignments = list(_loss_assignments(ctx, loop))
    if statement is None or len({name for name, _ in assignments}) != 1:
        return None
    usable = [
        line for _, line in assignments
        if ctx.position(line).start.line < ctx.position(statement).start.line
        and _visible_at(ctx, line, statement)
    ]
    if len(usable) != 1:
        return None
    [assignment] = usable
    name = assignments[0][0]
    scaler = step.event.receiver if step.event.receiver != step.event.target else None
    code = f"{scaler}.scale({name}).backward()\n" if scaler else f"{name}.backward()\n"
    if step.conditional and not training.is_conditional(assignment, loop.node):
        return Fix.of(insert_after(assignment, code), safety=Safety.UNSAFE)
    return Fix.of(insert_before(statement, code), safety=Safety.UNSAFE)


def _visible_at(ctx, assignment: cst.BaseStatement, statement: cst.BaseStatement) -> bool:
    """Is the name `assignment` binds sure to be bound at `statement`? True when a block holding
    `statement` holds the assignment, directly or through `with` / `try` bodies."""
    node: cst.CSTNode = assignment
    while True:
        block = ctx.parent(node)
        if block is None:
            return False
        if any(a is block for a in ctx.ancestors(statement)):
            return True
        owner = ctx.parent(block)
        if isinstance(owner, (cst.With, cst.Try)) and owner.body is block:
            node = owner
        else:
            return False


def _loss_assignments(ctx, loop: TrainingLoop):
    """(name, statement line) for `name = <criterion or *_loss call>` in the loop body."""
    for node in _statements_in(ctx, loop.node.body, loop.scope):
        if not isinstance(node, cst.SimpleStatementLine) or len(node.body) != 1:
            continue
        assign = node.body[0]
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            continue
        target = assign.targets[0].target
        if isinstance(target, cst.Name) and _is_loss_call(ctx, assign.value):
            yield target.value, node


def _is_loss_call(ctx, value: cst.BaseExpression) -> bool:
    """`criterion(out, y)`, also scaled or summed (`criterion(out, y) / k`)."""
    while isinstance(value, cst.BinaryOperation):
        value = value.left
    return ctx.losses.is_loss_call(value)


def _statements_in(ctx, node: cst.CSTNode, scope):
    """Statements below `node` that run in `scope` (not in nested functions)."""
    return [
        n for n in ctx.nodes_in(node)
        if isinstance(n, cst.BaseStatement) and ctx.training.scope_of(n) is scope
    ]
