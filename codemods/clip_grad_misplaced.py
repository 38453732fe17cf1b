from __future__ import annotations

import re

import libcst as cst

from autofix.analysis.motion import crosses_binding
from autofix.analysis.training import Kind, LoopEvent, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_before, remove

# A threshold that clips nothing: the call only measures the gradient norm.
_INFINITE = re.compile(r"""^(float\(\s*["'][+]?inf(inity)?["']\s*\)|(math|torch|np|numpy)\.inf)$""")
_THRESHOLDS = ("max_norm", "clip_value")


class ClipGradMisplaced(Rule):
    name = "clip-grad-misplaced"
    summary = "Gradient clipping runs where it clips nothing the optimizer step uses"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` (any import style) in a training
loop where it cannot clip what the optimizer's step uses: before the iteration's backward, after
the step, or after a `GradScaler`-scaled backward with no `scaler.unscale_(optimizer)` before it.

## Why is this bad?
Clipping has to sit between backward (which writes the gradients) and `optimizer.step()` (which
reads them). Before backward it clips the gradients `zero_grad()` just cleared; after the step it
clips gradients that have already been applied and are about to be cleared. Either way the step
runs with unclipped gradients, and exploding gradients go through as if clipping were off.

Under mixed precision, `scaler.scale(loss).backward()` leaves the gradients multiplied by the
scale (65536 at first). Clipping them to `max_norm` and letting `scaler.step` divide by the scale
afterwards gives the step a gradient norm of about `max_norm / 65536`: SGD nearly stops, and the
threshold no longer means anything. `scaler.unscale_(optimizer)` before the clip makes it clip
the true gradients (and `scaler.step` then does not unscale twice).

Left alone: clipping between backward and step, after `unscale_`, inside an LBFGS closure,
`accelerator.clip_grad_norm_` (it unscales itself), and calls with an infinite threshold
(`max_norm=float("inf")`), which only measure the norm.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    scaler.scale(criterion(model(x), y)).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()
    scaler.scale(criterion(model(x), y)).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
```

## Fix safety
Safe. A clip before backward or after the step moves, unchanged, to the line before the step
(after the iteration's backward); under a GradScaler, `scaler.unscale_(optimizer)` is inserted on
the line before the clip. No fix is offered when the clip and the step are in different functions,
when several optimizers step and the clipped parameters cannot be matched to one, or when moving
the line would cross an assignment to a name it reads.
"""

    def check(self, ctx):
        seen: set[int] = set()
        for loop in ctx.training.loops:
            timeline = [
                e
                for e in loop.events
                if not e.inner
                and (e.kind is Kind.BACKWARD or (e.kind is Kind.STEP and not e.event.has_args))
            ]
            if not any(e.kind is Kind.BACKWARD for e in timeline) or not any(
                e.kind is Kind.STEP for e in timeline
            ):
                continue
            for clip in loop.of_kind(Kind.CLIP_GRAD):
                node = clip.event.node
                if clip.inner or id(node) in seen or _measures_only(node):
                    continue
                seen.add(id(node))
                violation = _check_clip(ctx, loop, clip, timeline)
                if violation is not None:
                    yield violation


def _check_clip(ctx, loop: TrainingLoop, clip: LoopEvent, timeline: list[LoopEvent]):
    before = [e for e in timeline if e.order < clip.order]
    after = [e for e in timeline if e.order > clip.order]
    previous = before[-1] if before else timeline[-1]  # the iteration is a cycle
    call = f"`{ctx.code(clip.event.node.func)}(...)`"
    line = ctx.position(loop.node).start.line
    if previous.kind is Kind.STEP:
        step, early = _clipped_step(ctx, clip, previous, timeline)
        if not early:
            message = (
                f"{call} runs after `{previous.target}.step()` in the loop at line {line}: it "
                "clips gradients the step has already used"
            )
        else:
            message = (
                f"{call} runs before backward in the loop at line {line}: it clips the "
                "gradients before this iteration's backward adds to them, and "
                f"`{step.target}.step()` uses unclipped ones"
            )
        return Violation(clip.via or clip.event.node, message, _move_fix(ctx, clip, step))
    step = next((e for e in after if e.kind is Kind.STEP), None)
    if step is None or step.event.scaler is None or not ctx.training.is_enabled_grad_scaler(
        step.receiver
    ):
        return None
    if _unscaled_before(loop, clip, before):
        return None
    scaler, optimizer = step.receiver, step.target
    message = (
        f"{call} clips the gradients `{scaler}` scaled, with no `{scaler}.unscale_({optimizer})` "
        f"before it, in the loop at line {line}: `{scaler}.step({optimizer})` then sees them "
        "clipped to the threshold divided by the scale (65536 at first), and training nearly stops"
    )
    return Violation(clip.via or clip.event.node, message, _unscale_fix(ctx, clip, step))


def _measures_only(call: cst.Call) -> bool:
    """`clip_grad_norm_(params, float("inf"))`: the total norm, nothing clipped."""
    positional = [a for a in call.args if a.keyword is None and not a.star]
    threshold = next(
        (a.value for a in call.args if a.keyword is not None and a.keyword.value in _THRESHOLDS),
        positional[1].value if len(positional) > 1 else None,
    )
    if threshold is None:
        return False
    code = cst.Module(body=[]).code_for_node(threshold).replace(" ", "")
    return bool(_INFINITE.match(code))


def _clipped_step(
    ctx, clip: LoopEvent, previous: LoopEvent, timeline
) -> tuple[LoopEvent | None, bool]:
    """The step the clip is meant to precede: the next step when the iteration's backward runs
    between the clip and it (the clip is early), else the step just before the clip (it is
    late). With several optimizers, only a step of the one whose parameters the clip lists;
    None when that cannot be told."""
    later = [e for e in timeline if e.order > clip.order]
    steps = [e for e in timeline if e.kind is Kind.STEP]
    if len({s.target for s in steps}) > 1:
        training = ctx.training
        args = clip.event.node.args
        clipped = training.parameter_owners(args[0].value) if args else set()
        targets = {s.target for s in steps if clipped & training.optimized_modules(s.target)}
        if len(targets) != 1:
            return None, False
        target = targets.pop()
        if previous.target == target and previous.order < clip.order:
            return previous, False
        later = [e for e in later if e.kind is not Kind.STEP or e.target == target]
    next_step = next((e for e in later if e.kind is Kind.STEP), None)
    if next_step is not None and any(
        e.kind is Kind.BACKWARD and e.order < next_step.order for e in later
    ):
        return next_step, True
    return (previous if len({s.target for s in steps}) == 1 else None), False


def _unscaled_before(loop: TrainingLoop, clip: LoopEvent, before) -> bool:
    """Is there a `scaler.unscale_(...)` between the iteration's last backward and the clip? Any
    scaler counts: through helpers one scaler may go by several names (`accelerator.scaler`)."""
    backwards = [e.order for e in before if e.kind is Kind.BACKWARD]
    start = backwards[-1] if backwards else ()
    return any(start < u.order < clip.order for u in loop.of_kind(Kind.UNSCALE))


def _same_function(clip: LoopEvent, step: LoopEvent) -> bool:
    """Both in the loop's own code, or both in the one function the loop calls for them."""
    return len(clip.vias) <= 1 and len(step.vias) == len(clip.vias) and clip.via is step.via


def _unscale_fix(ctx, clip: LoopEvent, step: LoopEvent) -> Fix | None:
    if not _same_function(clip, step):
        return None
    statement = ctx.training.statement_of(clip.event.node)
    if not isinstance(statement, cst.SimpleStatementLine):
        return None
    event = step.event if clip.via is not None else step  # the names of the clip's function
    return Fix.of(insert_before(statement, f"{event.receiver}.unscale_({event.target})\n"))


def _move_fix(ctx, clip: LoopEvent, step: LoopEvent | None) -> Fix | None:
    """The clip's line (or the `if` holding only it) moved to just before the step's line."""
    if step is None or not _same_function(clip, step):
        return None
    training = ctx.training
    moved = _movable_statement(ctx, clip.event.node)
    destination = training.statement_of(step.event.node)
    if moved is None or not isinstance(destination, cst.SimpleStatementLine):
        return None
    block = ctx.parent(moved)
    if not isinstance(block, (cst.IndentedBlock, cst.Module)) or len(block.body) < 2:
        return None
    if crosses_binding(ctx, moved, destination):
        return None
    comments = [l for l in moved.leading_lines if l.comment is not None]
    moved_line = moved.with_changes(leading_lines=comments)
    return Fix.of(remove(moved), insert_before(destination, moved_line))


def _movable_statement(ctx, call: cst.Call) -> cst.BaseStatement | None:
    """`clip(...)` or `norm = clip(...)` alone on its line, or the `if` (without `else`) holding
    only that line (`if args.clip:`)."""
    line = ctx.training.statement_of(call)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    small = line.body[0]
    if not isinstance(small, (cst.Expr, cst.Assign)) or small.value is not call:
        return None
    block = ctx.parent(line)
    guard = ctx.parent(block) if isinstance(block, cst.IndentedBlock) else None
    if isinstance(guard, cst.If) and guard.orelse is None and len(block.body) == 1:
        return guard
    return line
