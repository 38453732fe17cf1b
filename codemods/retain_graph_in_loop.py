from __future__ import annotations

import libcst as cst

from autofix.analysis.recurrence import Recurrence
from autofix.analysis.training import Kind
from autofix.arguments import drop_keyword, keyword_argument
from autofix.rule import Fix, Rule, Safety, Violation

_INPLACE_ERROR = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation"
)


class RetainGraphInLoop(Rule):
    name = "retain-graph-in-loop"
    summary = "`backward(retain_graph=True)` in every iteration keeps a carried graph alive"
    fix_safety = Safety.UNSAFE
    docs = f"""\
## What it does
Checks for loops whose every backward passes `retain_graph=True` while a recurrent state (an RNN
hidden state, an LSTM's `(h, c)`) carries the previous iteration's graph into the next forward,
and the weights change inside the loop: through `optimizer.step()`, an in-place update under
`torch.no_grad()`, or `.data`.

## Why is this bad?
`retain_graph=True` is the usual answer to "Trying to backward through the graph a second
time", but it does not cut the graph the state carries: each backward runs back through every
earlier iteration. Once the optimizer has updated the weights in place, the saved tensors of the
earlier iterations are stale and the next backward raises
`RuntimeError: {_INPLACE_ERROR}`. When the weights are updated through `.data`, nothing raises:
the graph, the time of each backward and the memory grow with every iteration, and the
gradients flow through the old iterations with values the weights no longer have.

Left alone: two backwards on one graph within an iteration (the first must retain), a fresh
graph each iteration (there `retain_graph=True` only wastes memory until the next iteration),
a state that is detached, and loops that change no weights (backpropagating each step's loss
through the whole history and stepping after the loop is deliberate).
`hidden-state-not-detached` reports carried states without `retain_graph=True`.

## Example
```python
hidden = torch.zeros(1, batch, 32)
for x, y in batches:
    out, hidden = gru(x, hidden)
    loss = criterion(head(out), y)
    optimizer.zero_grad()
    loss.backward(retain_graph=True)
    optimizer.step()
```

## Use instead
```python
hidden = torch.zeros(1, batch, 32)
for x, y in batches:
    hidden = hidden.detach()
    out, hidden = gru(x, hidden)
    loss = criterion(head(out), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
```

## Fix safety
Unsafe: `retain_graph=True` is dropped and the state is detached before the forward that reads
it (as `hidden-state-not-detached` does). Gradients then stop at the iteration boundary
(truncated backpropagation through time) instead of flowing, wrongly, through every earlier
iteration; that changes the gradients, so review it. No fix is offered when a backward runs in a
helper function, when `retain_graph` is not the literal `True`, or when the state's shape
cannot be told.
"""

    def check(self, ctx):
        facts = ctx.recurrence
        for recurrence in facts.recurrences:
            if not recurrence.retained or any(
                keyword_argument(b, "create_graph") is not None
                for b in recurrence.backwards
                if isinstance(b, cst.Call)
            ):
                continue
            update = _weight_update(ctx, recurrence)
            if update is None:
                continue
            yield Violation(
                recurrence.backwards[0],
                _message(ctx, recurrence, update),
                _fix(ctx, recurrence),
            )


def _weight_update(ctx, recurrence: Recurrence) -> str | None:
    """How the region changes the weights between two backwards, for the message: the
    optimizer step, an in-place update under no_grad, a `.data` write; None when it does not."""
    training = ctx.training
    region = recurrence.region
    if isinstance(region, cst.FunctionDef):
        steps = [e for e in training.events if e.kind is Kind.STEP and e.scope is region]
        return f"`{steps[0].target}.step()`" if steps else None
    loop = next(l for l in training.loops if l.node is region)
    if loop.steps():
        return f"`{loop.steps()[0].target}.step()`"
    for node in ctx.nodes_in(region):
        if isinstance(node, cst.AugAssign) and ctx.grad_mode.disabled_at(node):
            target = ctx.semantic.denote(node.target)
            if target is not None and target.leaf:  # `p -= lr * p.grad` on the parameters
                return f"`{ctx.code(node).strip()}` under `no_grad`"
    return ".data" if loop.of_kind(Kind.DATA_WRITE) else None


def _message(ctx, recurrence: Recurrence, update: str) -> str:
    names = " and ".join(f"`{s.name}`" for s in recurrence.states)
    carries = "carries" if len(recurrence.states) == 1 else "carry"
    pronoun = "it" if len(recurrence.states) == 1 else "them"
    where = "loop" if not isinstance(recurrence.region, cst.FunctionDef) else "method"
    line = ctx.position(recurrence.region).start.line
    head = (
        f"`retain_graph=True` keeps the graph {names} {carries} from the previous iteration into "
        f"`{ctx.code(recurrence.call.func)}(...)` in the {where} at line {line}"
    )
    tail = f"drop `retain_graph=True` and detach {pronoun} between iterations"
    if update == ".data":
        return (
            f"{head}: the weights change through `.data`, so nothing raises, but every backward "
            "runs through all earlier iterations (graph, time and memory grow with each step) "
            f"with weights the old iterations did not use; {tail}"
        )
    return f'{head}: after {update} the next backward raises "{_INPLACE_ERROR}"; {tail}'


def _fix(ctx, recurrence: Recurrence) -> Fix | None:
    inside = set(map(id, ctx.nodes_in(recurrence.region)))
    edits = []
    for backward in recurrence.backwards:
        call = backward if isinstance(backward, cst.Call) else None
        argument = keyword_argument(call, "retain_graph") if call is not None else None
        if id(backward) not in inside or argument is None or not _is_true(argument.value):
            return None  # in a helper, or retained through a flag we cannot read
        edits.append(drop_keyword(call, "retain_graph"))
    detach = ctx.recurrence.detach_edit(recurrence)
    if detach is None:
        return None
    return Fix.of(*edits, detach, safety=Safety.UNSAFE)


def _is_true(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"
