from __future__ import annotations

import libcst as cst

from autofix.analysis.imports import dotted_name
from autofix.analysis.module_writes import ModuleWrite
from autofix.analysis.motion import crosses_binding
from autofix.analysis.training import Kind
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, remove


class OptimizerMissesNewParameters(Rule):
    name = "optimizer-misses-new-parameters"
    summary = "A layer is added or replaced after the optimizer was built over the model"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks for an optimizer built over a model's parameters (`SGD(model.parameters())`) followed, in
the same function, by a new layer or parameter put into that model (`model.fc = nn.Linear(...)`,
`model.classifier[-1] = nn.Linear(...)`, `model.add_module(...)`, `setattr(model, ...)`,
`model.scale = nn.Parameter(...)`) while the optimizer is stepped afterwards.

## Why is this bad?
`model.parameters()` is read once, when the optimizer is built: the optimizer holds the tensors
that existed then. A layer put in afterwards is trained by nobody: backward computes its
gradients, but no step ever applies them, so the new head keeps its random initialisation while
the loss is driven down by the rest of the network. The old layer's parameters stay in the
optimizer, updated for nothing. PyTorch raises nothing.

Left alone: an optimizer built (or rebuilt) after the change, one given the new parameters with
`optimizer.add_param_group(...)`, a replacement without parameters (`model.fc = nn.Identity()`),
an optimizer over other modules (a GAN's discriminator when the generator changes), an optimizer
never stepped afterwards, and optimizers rebuilt in every iteration of the loop that changes
the model.

## Example
```python
model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
model.fc = nn.Linear(model.fc.in_features, 10)
```

## Use instead
```python
model = torchvision.models.resnet18(weights="DEFAULT")
model.fc = nn.Linear(model.fc.in_features, 10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
```

## Fix safety
Unsafe: the optimizer's construction moves, unchanged, to just after the statement that changes
the model, so it also covers the new layer (and no longer holds the replaced one). That changes
what trains, which is the point, but review it: a layer left out on purpose would now train. No
fix is offered when something between the two statements uses the optimizer (a scheduler built
on it), when the move would pass an assignment to a name the construction reads, or when the
change sits in another block than the construction.
"""

    def check(self, ctx):
        for write in ctx.module_writes.writes:
            stale = _stale_build(ctx, write)
            if stale is None:
                continue
            optimizer, build = stale
            built = ", ".join(sorted(_overlap(ctx, build, write.path)))
            line = ctx.position(build).start.line
            names = ctx.torch.names(write.value.func)
            what = "parameter keeps its initial value" if any(
                n.endswith(".Parameter") for n in names
            ) else "layer keeps its initial weights"
            yield Violation(
                write.node,
                f"`{write.shown}` gets new parameters after `{optimizer}` was built over "
                f"`{built}` (line {line}): `{optimizer}` never updates them, so the new {what}",
                _fix(ctx, build, write),
            )


def _overlap(ctx, build: cst.Assign, path: str) -> set[str]:
    """The modules the optimizer was built over that contain `path` or lie inside it."""
    owners = ctx.training.parameter_owners(build.value)
    return {
        o for o in owners if o == path or path.startswith(o + ".") or o.startswith(path + ".")
    }


def _stale_build(ctx, write: ModuleWrite) -> tuple[str, cst.Assign] | None:
    """The optimizer (name and construction) built before `write` in the same function over
    the module `write` changes, not rebuilt or extended afterwards, and stepped afterwards."""
    training = ctx.training
    scope = training.scope_of(write.node)
    here = ctx.order(write.node)
    latest: dict[str, cst.Assign] = {}
    for name, build in training.optimizer_builds:
        if training.scope_of(build) is scope and ctx.order(build) < here:
            latest[name] = build
    for name, build in sorted(latest.items(), key=lambda item: ctx.order(item[1])):
        if not _overlap(ctx, build, write.path):
            continue
        if _rebuilt(ctx, name, build, write) or _extended(ctx, name, write):
            continue
        if _stepped_after(ctx, name, write):
            return name, build
    return None


def _rebuilt(ctx, name: str, build: cst.Assign, write: ModuleWrite) -> bool:
    """Built again after the write, or in another function, or inside a loop that also holds
    the write (the next iteration rebuilds it)."""
    training = ctx.training
    scope = training.scope_of(write.node)
    for other, assign in training.optimizer_builds:
        if other != name or assign is build:
            continue
        if training.scope_of(assign) is not scope or ctx.order(assign) > ctx.order(write.node):
            return True
    write_loops = training.loops_around(write.node)
    return any(loop in write_loops for loop in training.loops_around(build))


def _extended(ctx, name: str, write: ModuleWrite) -> bool:
    """`optimizer.add_param_group(...)` anywhere after the write (or in another function)."""
    training = ctx.training
    scope = training.scope_of(write.node)
    return any(
        e.kind is Kind.ADD_PARAM_GROUP
        and e.target == name
        and (e.scope is not scope or ctx.order(e.node) > ctx.order(write.node))
        for e in training.events
    )


def _stepped_after(ctx, name: str, write: ModuleWrite) -> bool:
    """Is the optimizer stepped after the write: later in the same function, in another
    function (a trainer method, a training function), or by a helper the function calls later
    with the optimizer as an argument?"""
    training = ctx.training
    scope = training.scope_of(write.node)
    here = ctx.order(write.node)
    for event in training.events:
        if event.kind is Kind.STEP and event.target == name:
            if event.scope is not scope or ctx.order(event.node) > here:
                return True
    for call, helper in training.helper_calls:
        if training.scope_of(call) is not scope or ctx.order(call) < here:
            continue
        arguments = training.arguments(helper, call)
        parameters = [p for p, argument in arguments.items() if argument == name]
        reached = [helper, *training.helpers_reachable_from(helper)]
        if parameters and any(
            e.kind is Kind.STEP and any(e.scope is h for h in reached) for e in training.events
        ):
            return True
    return False


def _fix(ctx, build: cst.Assign, write: ModuleWrite) -> Fix | None:
    """Move the optimizer's line to just after the statement of its block that holds the write."""
    line = ctx.parent(build)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    block = ctx.parent(line)
    destination = next(
        (n for n in (write.node, *ctx.ancestors(write.node)) if ctx.parent(n) is block), None
    )
    if destination is None or destination is line:
        return None
    optimizer = {dotted_name(t.target) for t in build.targets}
    end = ctx.order(destination) + len(ctx.nodes_in(destination))
    between = ctx.nodes[ctx.order(line) + len(ctx.nodes_in(line)) : end]
    names = (n for n in between if isinstance(n, (cst.Name, cst.Attribute)))
    if any(dotted_name(n) in optimizer for n in names):
        return None  # a scheduler built on it, a print of its param_groups ...
    if crosses_binding(ctx, line, destination, after=True):
        return None
    comments = [l for l in line.leading_lines if l.comment is not None]
    return Fix.of(
        remove(line),
        insert_after(destination, line.with_changes(leading_lines=comments)),
        safety=Safety.UNSAFE,
    )
