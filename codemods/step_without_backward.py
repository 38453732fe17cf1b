from __future__ import annotations

import libcst as cst

from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_before


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
            if _computes_gradients(loop) or training.backward_reaches(loop):
                continue
            seen: set[str] = set()
            for step in loop.steps():
                if step.target in seen:
                    continue
                seen.add(step.target)
                yield Violation(
                    step.via or step.event.node,
                    f"`{step.target}.step()` runs in the loop at line "
                    f"{ctx.position(loop.node).start.line} but nothing there calls backward: "
                    "the step has no gradients and leaves the parameters unchanged",
                    _insert_backward(ctx, loop, step),
                )


def _computes_gradients(loop: TrainingLoop) -> bool:
    return any(
        e.kind in (Kind.BACKWARD, Kind.GRAD_WRITE)
        or (e.kind is Kind.UNCALLED and e.target == "backward")
        for e in loop.events
    )


def _insert_backward(ctx, loop: TrainingLoop, step: LoopEvent) -> Fix | None:
    if step.via is not None:
        return None
    statement = ctx.training.statement_of(step.event.node)
    if statement is None:
        return None
    enclosing = {id(a) for a in ctx.ancestors(statement)}
    losses = {
        name
        for name, assignment in _loss_assignments(ctx, loop)
        if ctx.position(assignment).start.line < ctx.position(statement).start.line
        and id(ctx.parent(assignment)) in enclosing | {id(ctx.parent(statement))}
    }
    all_losses = {name for name, _ in _loss_assignments(ctx, loop)}
    if len(losses) != 1 or len(all_losses) != 1:
        return None
    return Fix.of(insert_before(statement, f"{losses.pop()}.backward()\n"), safety=Safety.UNSAFE)


def _loss_assignments(ctx, loop: TrainingLoop):
    """(name, statement line) for `name = <criterion or *_loss call>` in the loop body."""
    criteria = _criterion_names(ctx)
    for node in _statements_in(loop.node.body):
        if not isinstance(node, cst.SimpleStatementLine) or len(node.body) != 1:
            continue
        assign = node.body[0]
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            continue
        target = assign.targets[0].target
        if isinstance(target, cst.Name) and _is_loss_call(ctx, assign.value, criteria):
            yield target.value, node


def _is_loss_call(ctx, value: cst.BaseExpression, criteria: set[str]) -> bool:
    while isinstance(value, cst.BinaryOperation):
        value = value.left
    if not isinstance(value, cst.Call):
        return False
    func = value.func
    if ctx.torch.is_loss_function(func):
        return True
    name = ctx.code(func)
    last = name.rsplit(".", 1)[-1]
    return name in criteria or last.endswith("_loss") or last in ("criterion", "loss_fn")


def _criterion_names(ctx) -> set[str]:
    """Names bound to loss modules: `criterion = nn.CrossEntropyLoss()`."""
    names = set()
    for node in _statements_in(ctx.module):
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                if (
                    isinstance(small, cst.Assign)
                    and isinstance(small.value, cst.Call)
                    and ctx.torch.is_loss_function(small.value.func)
                ):
                    names.update(ctx.code(t.target) for t in small.targets)
    return names


def _statements_in(node: cst.CSTNode):
    """Statements below `node`, not entering nested functions or classes."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.BaseStatement):
            yield current
        if current is not node and isinstance(current, (cst.FunctionDef, cst.ClassDef)):
            continue
        stack.extend(reversed(current.children))
