from __future__ import annotations

import libcst as cst

from autofix.analysis.recurrence import Recurrence
from autofix.rule import Fix, Rule, Safety, Violation

_ERROR = "Trying to backward through the graph a second time"


class HiddenStateNotDetached(Rule):
    name = "hidden-state-not-detached"
    summary = "A recurrent state carries the previous iteration's graph into the next backward"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for a state that a loop feeds into a module's forward and reassigns from that module's
output (`out, hidden = rnn(x, hidden)`, `out, (h, c) = lstm(x, (h, c))`,
`hidden = cell(x, hidden)`, `out, self.hidden = self.model(x, self.hidden)`) when the loop calls
backward every iteration and never detaches the state.

## Why is this bad?
The state still holds the autograd graph of the iteration that produced it, and that graph's
saved tensors were freed by that iteration's backward. The next backward walks back into it and
raises `RuntimeError: Trying to backward through the graph a second time (or directly access
saved tensors after they have already been freed)`. Adding `retain_graph=True` does not fix it:
backward then runs through every earlier iteration (time and memory grow with each step), and
after an optimizer step it raises "one of the variables needed for gradient computation has been
modified by an inplace operation" instead.

Left alone: a state re-initialised every iteration (`hidden = model.init_hidden(bs)`), one already
detached (`hidden.detach()`, `h.detach_()`, a `repackage_hidden(hidden)` helper), loops with one
backward after the loop (full backpropagation through time), inference under `torch.no_grad()`,
and states produced under `torch.no_grad()`.

## Example
```python
hidden = torch.zeros(1, batch, 32)
for x, y in batches:
    out, hidden = gru(x, hidden)
    loss = criterion(head(out), y)
    optimizer.zero_grad()
    loss.backward()
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
Safe. The state is detached before the forward that reads it (`hidden = hidden.detach()`,
`h, c = h.detach(), c.detach()`, `hidden = tuple(t.detach() for t in hidden)` for an LSTM's
`(h, c)` pair, guarded by `if hidden is not None:` when the state starts as `None`): gradients
stop at the iteration boundary, which is truncated backpropagation through time. When backward
runs only every k iterations (under an `if`), the state is detached right after that backward, so
the truncation window stays k iterations long. No fix is offered when the state's shape (tensor or
tuple) cannot be told from the code. When every backward of the iteration uses `retain_graph=True`,
`retain-graph-in-loop` reports the loop instead.
"""

    def check(self, ctx):
        facts = ctx.recurrence
        for recurrence in facts.recurrences:
            if recurrence.retained:
                continue  # retain-graph-in-loop's finding, or full BPTT on purpose
            edit = facts.detach_edit(recurrence)
            yield Violation(
                recurrence.call, _message(ctx, recurrence), Fix.of(edit) if edit else None
            )


def _message(ctx, group: Recurrence) -> str:
    names = " and ".join(f"`{f.name}`" for f in group.states)
    call = ctx.code(group.call.func)
    line = ctx.position(group.region).start.line
    where = "loop" if not isinstance(group.region, cst.FunctionDef) else "method"
    verb = "carries" if len(group.states) == 1 else "carry"
    pronoun = "it" if len(group.states) == 1 else "them"
    message = (
        f"{names} {verb} the previous iteration's graph into `{call}(...)` in the {where} at "
        f"line {line}: the next backward raises \"{_ERROR}\"; detach {pronoun} between "
        "iterations"
    )
    unknown = [f"`{f.name}`" for f in group.states if f.shape is None]
    if unknown:
        message += (
            f" (no fix: whether {' and '.join(unknown)} is a tensor or a tuple of tensors is "
            "not known here)"
        )
    return message
