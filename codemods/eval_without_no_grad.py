from __future__ import annotations

import re

import libcst as cst

from autofix.analysis.imports import torch_reference
from autofix.analysis.training import Kind
from autofix.rule import Fix, Rule, Safety, Violation, replace

EVALUATION_NAME = re.compile(r"eval|valid|test|predict|infer|score|benchmark|embed|extract", re.IGNORECASE)
TRAINING_KINDS = (Kind.BACKWARD, Kind.STEP, Kind.GRAD_WRITE)


class EvalWithoutNoGrad(Rule):
    name = "eval-without-no-grad"
    summary = "An evaluation loop keeps model outputs with autograd on: every batch's graph stays alive"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for evaluation loops (after `model.eval()`, or in a function named like `evaluate`,
`validate`, `test`, `predict`) that nothing backpropagates, run with autograd on, and keep a value
computed by the model beyond the iteration: `outputs.append(model(x))`,
`total_loss += criterion(model(x), y)`, `scores.append(torch.sigmoid(logits))`.

## Why is this bad?
With autograd on, every output of the model holds the graph of the forward pass that made it,
with the activations saved for a backward that never comes. Keeping the outputs keeps all those
graphs: memory grows with every batch until the evaluation runs out of memory, and it is slower
than it needs to be. `model.eval()` does not turn autograd off; it only switches dropout and
batch norm to inference behaviour.

Loops that backpropagate, code under `torch.no_grad()` / `torch.inference_mode()` at any depth
(a `with`, a decorator, a `torch.set_grad_enabled(False)` statement, or a caller that runs the
function under one), values cut with `.item()` / `.detach()` / `.argmax()`, and outputs used by
a backward later in the same function or its callers are not reported.

## Example
```python
model.eval()
predictions = []
for x, _ in val_loader:
    predictions.append(torch.softmax(model(x), dim=1))
```

## Use instead
```python
model.eval()
predictions = []
for x, _ in val_loader:
    with torch.no_grad():
        predictions.append(torch.softmax(model(x), dim=1))
```

## Fix safety
Safe. The loop body moves under `with torch.no_grad():`; the values computed are the same,
without graphs, and nothing in the loop or after it backpropagates them.
"""

    def check(self, ctx):
        training = ctx.training
        kept_by_loop: dict[cst.CSTNode, list] = {}
        for accumulation in ctx.accumulations:
            loops = training.loops_around(accumulation.node)
            if loops and _keeps_a_graph(ctx, accumulation, loops[0]):
                kept_by_loop.setdefault(loops[0], []).append(accumulation)
        for loop in training.loops:
            kept = kept_by_loop.get(loop.node)
            if not kept or any(e.kind in TRAINING_KINDS for e in loop.events):
                continue
            if ctx.grad_scope.disabled_at(loop.node) or _backpropagated_later(ctx, loop, kept):
                continue
            if not _evaluates(ctx, loop):
                continue
            yield Violation(loop.node, _message(ctx, kept[0]), _fix(ctx, loop.node))


def _keeps_a_graph(ctx, accumulation, loop: cst.CSTNode) -> bool:
    """The accumulation runs with autograd on, adds a value that carries gradient, and its
    target is not rebuilt inside the loop (so it outlives the iteration)."""
    if accumulation.no_grad or ctx.grad_scope.disabled_at(accumulation.node):
        return False
    value = ctx.semantic.denote(accumulation.value)
    if value is None or not value.live:
        return False  # nothing the model can name carries gradient into it
    root = _root(accumulation.target)
    for node in ctx.own_nodes(loop):
        if isinstance(node, cst.Assign) and node is not accumulation.node and any(
            _root(t.target) == root for t in node.targets
        ):
            return False
    return root is not None


def _backpropagated_later(ctx, loop, kept) -> bool:
    """A backward of the loop's function computes its loss from what the loop keeps, or a
    backward of a caller from what the function returns: the graphs are wanted."""
    scope = loop.scope
    kept_names = {_root(a.target) for a in kept}
    if any(_loss_uses(ctx, event, kept_names) for event in _backwards_in(ctx, scope)):
        return True
    if not isinstance(scope, cst.FunctionDef):
        return False
    for site in ctx.callers.of(scope):
        results = _names_bound_to(ctx, site.call)
        for event in _backwards_in(ctx, ctx.training.scope_of(site.call)):
            if _loss_uses(ctx, event, results) or any(n is site.call for n in ctx.nodes_in(event.node)):
                return True
    return False


def _backwards_in(ctx, scope):
    return [e for e in ctx.training.events if e.kind is Kind.BACKWARD and e.scope is scope]


def _loss_uses(ctx, event, names: set[str]) -> bool:
    """Does the backpropagated expression use one of `names`, directly or through the
    assignments of the names it uses?"""
    if event.loss is None:
        return True  # unknown: assume it may
    used = _names_in(ctx, event.loss)
    for node in ctx.nodes_in(event.loss):
        if isinstance(node, cst.Name):
            for value in ctx.bindings.values_of(node):
                used |= _names_in(ctx, value)
    return bool(used & names)


def _names_in(ctx, expr: cst.CSTNode) -> set[str]:
    return {n.value for n in ctx.nodes_in(expr) if isinstance(n, cst.Name)}


def _names_bound_to(ctx, call: cst.Call) -> set[str]:
    """`outputs` in `outputs = predict(...)` (or `a, b = predict(...)`)."""
    statement = ctx.parent(call)
    if not isinstance(statement, cst.Assign):
        return set()
    names = set()
    for target in statement.targets:
        for node in ctx.nodes_in(target.target):
            if isinstance(node, cst.Name):
                names.add(node.value)
    return names


def _evaluates(ctx, loop) -> bool:
    """`model.eval()` runs before or in the loop, or the function is named for evaluation."""
    scope = loop.scope
    if isinstance(scope, cst.FunctionDef) and EVALUATION_NAME.search(scope.name.value):
        return True
    end = ctx.order(loop.node) + len(ctx.nodes_in(loop.node))
    return any(
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "eval"
        and not node.args
        and ctx.order(node) < end
        for node in ctx.own_nodes(scope)
    )


def _root(node: cst.BaseExpression) -> str | None:
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _message(ctx, accumulation) -> str:
    statement = ctx.code(accumulation.statement)
    return (
        f"this evaluation loop runs with autograd on and `{statement}` keeps a value that "
        "carries gradient: every iteration's graph and activations stay alive; run the loop body "
        "under `torch.no_grad()`"
    )


def _fix(ctx, loop: cst.For | cst.While) -> Fix:
    torch, import_edit = torch_reference(ctx)
    body = loop.body
    statements = body.body if isinstance(body, cst.IndentedBlock) else [cst.SimpleStatementLine(body=body.body)]
    guarded = cst.With(
        items=[cst.WithItem(cst.parse_expression(f"{torch}.no_grad()"))],
        body=cst.IndentedBlock(body=statements),
    )
    new_body = (
        body.with_changes(body=[guarded]) if isinstance(body, cst.IndentedBlock)
        else cst.IndentedBlock(body=[guarded])
    )
    edits = [replace(loop, loop.with_changes(body=new_body))]
    if import_edit is not None:
        edits.append(import_edit)
    return Fix.of(*edits)
