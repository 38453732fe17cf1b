from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from autofix.analysis.imports import dotted_name
from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, replace

_CONDITIONAL = (cst.If, cst.Match, cst.ExceptHandler, cst.IfExp, cst.BooleanOperation)
_LOOPS = (cst.For, cst.While)
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


class SchedulerBeforeOptimizer(Rule):
    name = "scheduler-before-optimizer"
    summary = "The learning-rate scheduler is stepped before the optimizer"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for `scheduler.step()` called before the optimizer's `step()` in the same iteration of a
training loop: earlier in the loop body than `optimizer.step()`, or at the top of an epoch loop
whose inner loop (or a helper it calls, such as `train_one_epoch(...)`) steps the optimizer.

## Why is this bad?
Since PyTorch 1.1 a scheduler is meant to be stepped after the optimizer. Stepped first, it moves
the learning rate on before the first update, so the first value of the schedule is never used and
every later epoch (or batch) trains with the learning rate meant for the next one. On the first
such call PyTorch warns:
"Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later,
you should call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.
Failure to do this will result in PyTorch skipping the first value of the learning rate
schedule."

`ReduceLROnPlateau.step(val_loss)` and other `step(...)` calls with arguments, schedulers stepped
after the optimizer, and loops that step a scheduler but no optimizer are left alone. When the
scheduler's optimizer is known (`StepLR(optimizer, ...)`), only that optimizer's steps count;
an object named like a scheduler but built on no optimizer (a KL-weight or noise schedule) is
not a learning-rate scheduler.
A scheduler stepped under a condition other than `if scheduler:` / `if scheduler is not None:`
(for example `if epoch > 0:`) is not reported: such a condition may be what keeps the first step
from running early.

## Example
```python
for epoch in range(epochs):
    scheduler.step()
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
```

## Use instead
```python
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    scheduler.step()
```

## Fix safety
Safe. The `scheduler.step()` line (with an `if scheduler is not None:` around it, if any) is
moved, unchanged, to just after the statement of the same block that runs the optimizer's step:
the step itself, the inner batch loop, or the helper call. Every other statement keeps its
place. No fix is offered when the step runs only sometimes in that statement (for example
under gradient accumulation), when the two calls sit in different blocks or functions, or when
a `break`, `continue` or `return` lies between them.
"""

    def check(self, ctx):
        training = ctx.training
        schedulers = _scheduler_optimizers(ctx)
        found: list[tuple[cst.CSTNode, str, _Move | None]] = []
        seen: set[int] = set()
        for loop in training.loops:
            steps = loop.of_kind(Kind.STEP)
            if not steps:
                continue
            for sched in loop.of_kind(Kind.SCHEDULER_STEP):
                call = sched.event.node
                if sched.inner or sched.event.has_args or id(call) in seen:
                    continue
                owners = schedulers.get(sched.event.receiver)
                if owners is None:
                    owners = schedulers.get(sched.receiver)
                if owners is not None and not owners:
                    continue  # built on no optimizer: not a learning-rate scheduler
                if not _runs_every_iteration(ctx, training, sched, loop):
                    continue
                mine = [s for s in steps if owners and s.target in owners] or steps
                if any(s.order < sched.order for s in mine):
                    continue
                later = [s for s in mine if s.order > sched.order]
                if not later:
                    continue
                step = later[0]
                seen.add(id(call))
                same_function = sched.via is None or step.via is sched.via
                where = ctx.position(step.via or step.event.node).start.line
                loop_line = ctx.position(loop.node).start.line
                through = "" if same_function else f" (in `{ctx.code(sched.via.func)}()`)"
                found.append(
                    (
                        call if same_function else sched.via,
                        f"`{sched.receiver}.step()`{through} runs before `{step.target}.step()` "
                        f"at line {where} in the loop at line {loop_line}: "
                        "the first learning rate of the schedule is skipped",
                        _plan_move(ctx, training, sched, step, mine),
                    )
                )
        # Several schedulers moved in one block (a GAN's two) move together, keeping their order.
        by_block: dict[int, list[_Move]] = {}
        for _, _, move in found:
            if move is not None:
                by_block.setdefault(id(move.block), []).append(move)
        for node, message, move in found:
            fix = None
            if move is not None:
                moves = by_block[id(move.block)]
                fix = Fix.of(replace(move.block, _reordered(move.block, moves)))
            yield Violation(node, message, fix)


# -- which optimizer a scheduler drives -------------------------------------------------------


def _scheduler_optimizers(ctx) -> dict[str, set[str]]:
    """Scheduler name -> the optimizers it was built on (`StepLR(opt, ...)`,
    `build_scheduler(cfg, optimizer=opt)`): an empty set when every assignment to a
    scheduler-like name builds something on no optimizer (`DDPMScheduler(...)`), absent when the
    file never assigns it (a parameter). Should move into the shared training model."""
    training = ctx.training
    found: dict[str, set[str]] = {}
    lr_scheduler: dict[str, bool] = {}
    for node in ctx.nodes:
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        value = node.value
        if not isinstance(value, cst.Call):
            continue
        for target in targets:
            key = dotted_name(target)
            if not key or not training.is_scheduler(target):
                continue
            optimizers = {
                ctx.code(arg.value)
                for arg in value.args
                if not arg.star and training.is_optimizer(arg.value)
            }
            found.setdefault(key, set()).update(optimizers)
            is_lr = bool(optimizers) or ctx.torch.is_scheduler_class(value.func)
            lr_scheduler[key] = lr_scheduler.get(key, False) or is_lr
    # A torch scheduler built on an optimizer we cannot name is still an LR scheduler: leave it
    # out, so that every optimizer of the loop counts for it.
    return {
        key: optimizers
        for key, optimizers in found.items()
        if optimizers or not lr_scheduler[key]
    }


# -- when the scheduler step runs -------------------------------------------------------------


def _runs_every_iteration(ctx, training, sched: LoopEvent, loop: TrainingLoop) -> bool:
    """Is the scheduler stepped in every iteration of `loop`? Only `if scheduler:` and
    `if scheduler is not None:` may guard it (a condition such as `if epoch > 0:` may be the
    very thing that keeps the first step from running early)."""
    if sched.via is None:
        return _guarded_by_presence_only(ctx, sched.event.node, loop.node, sched.event.receiver)
    helper = sched.event.scope
    return _guarded_by_presence_only(
        ctx, sched.event.node, helper, sched.event.receiver
    ) and not training.is_conditional(sched.via, loop.node)


def _guarded_by_presence_only(ctx, node, stop, receiver: str) -> bool:
    previous = node
    for parent in ctx.ancestors(node):
        if parent is stop:
            return True
        if isinstance(parent, _LOOPS) or isinstance(parent, _SCOPES):
            return False
        if isinstance(parent, cst.If):
            if previous is not parent.body or not _is_presence_test(ctx, parent.test, receiver):
                return False
        elif isinstance(parent, _CONDITIONAL):
            return False
        previous = parent
    return False


def _is_presence_test(ctx, test: cst.BaseExpression, receiver: str) -> bool:
    """`scheduler` or `scheduler is not None`."""
    if isinstance(test, (cst.Name, cst.Attribute)):
        return ctx.code(test) == receiver
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        return (
            ctx.code(test.left) == receiver
            and isinstance(target.operator, cst.IsNot)
            and isinstance(target.comparator, cst.Name)
            and target.comparator.value == "None"
        )
    return False


# -- the fix ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Move:
    """Move `block.body[index]` to just after `block.body[target]`."""

    block: cst.IndentedBlock
    index: int
    target: int


def _plan_move(ctx, training, sched: LoopEvent, step: LoopEvent, steps) -> _Move | None:
    """Where the scheduler's statement goes, unchanged: just after the statement of its own
    block that runs `step` (the step itself, the inner loop, the helper call)."""
    if sched.via is not None and step.via is not sched.via:
        return None  # the two calls are in different functions
    in_helper = sched.via is not None
    stop = sched.event.scope if in_helper else sched.loop
    moved = _movable_statement(ctx, training, sched, stop)
    if moved is None:
        return None
    block = ctx.parent(moved)
    if not isinstance(block, cst.IndentedBlock):
        return None
    step_node = step.event.node if in_helper else (step.via or step.event.node)
    holder = _child_of(ctx, step_node, block)
    body = list(block.body)
    index = _index(body, moved)
    target = _index(body, holder) if holder is not None else None
    if index is None or target is None or target <= index:
        return None
    step_nodes = [s.via or s.event.node for s in steps] + [s.event.node for s in steps]
    if not _always_steps(ctx, step_node, holder, step_nodes):
        return None
    if step.via is not None and not in_helper and not _always_steps(
        ctx, step.event.node, step.event.scope, step_nodes
    ):
        return None
    if any(_leaves_early(ctx, s) for s in body[index + 1 : target + 1]):
        return None
    return _Move(block, index, target)


def _movable_statement(ctx, training, sched: LoopEvent, stop) -> cst.BaseStatement | None:
    """The scheduler's own line, or the `if scheduler is not None:` holding only that line."""
    line = training.sole_call_statement(sched.event.node)
    if line is None:
        return None
    anchor = training.anchor(sched.event.node, stop)
    if anchor is line:
        return line
    if (
        isinstance(anchor, cst.If)
        and anchor.orelse is None
        and isinstance(anchor.body, cst.IndentedBlock)
        and list(anchor.body.body) == [line]
    ):
        return anchor
    return None


def _child_of(ctx, node, block) -> cst.CSTNode | None:
    current = node
    for parent in ctx.ancestors(node):
        if parent is block:
            return current
        current = parent
    return None


def _index(body, node) -> int | None:
    return next((i for i, s in enumerate(body) if s is node), None)


def _always_steps(ctx, node, top, step_nodes) -> bool:
    """Does `node` (a step, or the call of a helper that steps) run whenever `top` does, apart
    from conditions inside a loop (an inner batch loop steps at some point)? An `if` counts when
    each of its branches steps (`scaler.step(opt)` / `opt.step()` under an AMP switch)."""
    chain = []
    for parent in ctx.ancestors(node):
        chain.append(parent)
        if parent is top:
            break
    else:
        return False
    loops = [i for i, p in enumerate(chain) if isinstance(p, _LOOPS)]
    outside = chain[loops[-1] + 1 :] if loops else chain
    for parent in outside:
        if isinstance(parent, cst.If):
            if not _every_branch_steps(ctx, parent, step_nodes):
                return False
        elif isinstance(parent, _CONDITIONAL):
            return False
    return True


def _every_branch_steps(ctx, node: cst.If, step_nodes) -> bool:
    branches = []
    current: cst.CSTNode | None = node
    while isinstance(current, cst.If):
        branches.append(current.body)
        current = current.orelse
    if not isinstance(current, cst.Else):
        return False
    branches.append(current.body)
    return all(
        any(any(a is branch for a in ctx.ancestors(s)) for s in step_nodes) for branch in branches
    )


def _leaves_early(ctx, statement: cst.CSTNode) -> bool:
    """A `return`, or a `break` / `continue` of an enclosing loop, inside `statement`: moving the
    scheduler's line past it would skip the line when it is taken."""
    for node in ctx.own_nodes(statement):
        if isinstance(node, cst.Return):
            return True
        if isinstance(node, (cst.Break, cst.Continue)):
            for parent in ctx.ancestors(node):
                if isinstance(parent, _LOOPS):
                    break  # a loop inside `statement` (or `statement` itself) owns it
                if parent is statement:
                    return True
    return False


def _reordered(block: cst.IndentedBlock, moves: list[_Move]) -> cst.IndentedBlock:
    """`block` with each moved statement just after its target, in their original order. A
    moved statement takes its comment lines along; its blank lines stay where they were."""
    body = list(block.body)
    moved = {m.index for m in moves}
    after: dict[int, list[int]] = {}
    for m in sorted(moves, key=lambda m: m.index):
        after.setdefault(m.target, []).append(m.index)
    kept = [i for i in range(len(body)) if i not in moved]
    changed = {}
    for i in sorted(moved):
        follower = next((k for k in kept if k > i), None)
        if follower is None:
            continue
        statement = changed.get(follower, body[follower])
        blanks = [l for l in body[i].leading_lines if l.comment is None]
        if follower == kept[0]:  # now first in the block: no blank line under the header
            lines = [l for l in statement.leading_lines if l.comment is not None]
            changed[follower] = statement.with_changes(leading_lines=lines)
        elif blanks and not statement.leading_lines:
            changed[follower] = statement.with_changes(leading_lines=blanks)
    new_body = []
    for k in kept:
        new_body.append(changed.get(k, body[k]))
        for i in after.get(k, ()):
            comments = [l for l in body[i].leading_lines if l.comment is not None]
            new_body.append(body[i].with_changes(leading_lines=comments))
    return block.with_changes(body=new_body)
