from __future__ import annotations

import libcst as cst

from autofix.analysis.dataflow import Grad
from autofix.rule import Fix, Rule, Safety, Violation, replace


class NoGradBreaksGraph(Rule):
    name = "no-grad-breaks-graph"
    summary = "A value computed under torch.no_grad() feeds a loss or a module's output"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for values computed inside `torch.no_grad()`, `torch.inference_mode()` or
`torch.set_grad_enabled(False)` (or in a function decorated with them) that flow into a loss passed
to backward, or into the return value of an nn.Module's `forward`.

## Why is this bad?
Nothing computed under `no_grad` is recorded by autograd. A loss built from it has no path to the
weights: backward raises "element 0 of tensors does not require grad and does not have a
grad_fn", or, when part of the loss still carries gradient, the layers used inside the block
silently never train. A `forward` that computes under `no_grad` makes the whole module untrainable
for every caller.

Validation loops, EMA and soft target updates, weight clamping and metrics under `no_grad` are
left alone: nothing of theirs is backpropagated.

## Example
```python
with torch.no_grad():
    prediction = model(x)
loss = criterion(prediction, y)
loss.backward()
```

## Use instead
```python
prediction = model(x)
loss = criterion(prediction, y)
loss.backward()
```

## Fix safety
Safe, and offered only when the whole block feeds the loss: every statement in it is an
assignment whose names are read afterwards, and nothing in it updates a tensor in place. The
block's statements then move out of the `with`. Otherwise the rule only reports.
"""

    def check(self, ctx):
        flows = [(f.call, f.value, "backward") for f in ctx.gradients.backwards]
        flows += [(node, value, "forward") for node, value in ctx.gradients.forward_returns]
        reported: set[int] = set()
        for node, value, kind in flows:
            blocks = [c for c in value.cuts if isinstance(c, cst.With)]
            if value.grad is not Grad.CUT or not blocks or len(blocks) != len(value.cuts):
                continue
            for block in blocks:
                if id(block) in reported:
                    continue
                reported.add(id(block))
                where = "the loss passed to backward" if kind == "backward" else "what `forward` returns"
                yield Violation(
                    block,
                    f"values computed under `{ctx.code(block.items[0].item)}` at line "
                    f"{ctx.position(block).start.line} feed {where} at line "
                    f"{ctx.position(node).start.line}: autograd recorded nothing for them",
                    _unwrap(ctx, block),
                )


def _unwrap(ctx, block: cst.With) -> Fix | None:
    """The block's statements without the `with`, when they only compute values used later."""
    if len(block.items) != 1 or not isinstance(block.body, cst.IndentedBlock):
        return None
    if not isinstance(ctx.parent(block), (cst.IndentedBlock, cst.Module)):
        return None
    assigned: set[str] = set()
    for statement in block.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            return None
        for small in statement.body:
            if not isinstance(small, cst.Assign):
                return None
            for target in small.targets:
                names = _names(target.target)
                if names is None:
                    return None
                assigned |= names
    if _updates_in_place(ctx, block) or not assigned <= _read_after(ctx, block):
        return None
    statements = list(block.body.body)
    statements[0] = statements[0].with_changes(
        leading_lines=(*block.leading_lines, *statements[0].leading_lines)
    )
    return Fix.of(replace(block, cst.FlattenSentinel(statements)))


def _names(target: cst.BaseExpression) -> set[str] | None:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        found: set[str] = set()
        for element in target.elements:
            inner = _names(element.value)
            if inner is None:
                return None
            found |= inner
        return found
    return None


def _updates_in_place(ctx, block: cst.With) -> bool:
    return any(
        isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value.endswith("_")
        and not n.func.attr.value.startswith("_")
        for n in ctx.nodes_in(block)
    )


def _read_after(ctx, block: cst.With) -> set[str]:
    """Names read after `block` in the same function (or module)."""
    end = ctx.position(block).end
    scope = ctx.training.scope_of(block)
    read = set()
    for node in ctx.nodes_in(scope):
        if isinstance(node, cst.Name) and (ctx.position(node).start.line, ctx.position(node).start.column) > (end.line, end.column):
            read.add(node.value)
    return read
