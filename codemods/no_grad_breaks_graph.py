from __future__ import annotations

import libcst as cst

from autofix.rule import Fix, Rule, Safety, Violation, replace


class NoGradBreaksGraph(Rule):
    name = "no-grad-breaks-graph"
    summary = "A value computed under torch.no_grad() feeds a loss or a module's output"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for values computed inside `torch.no_grad()`, `torch.inference_mode()` or
`torch.set_grad_enabled(False)` (or in a function decorated with them) that flow into a loss passed
to backward, or into the return value of an nn.Module's `forward`. Also checks for a module run
only under `no_grad` whose output feeds a loss that still carries gradient through other layers,
when the optimizer stepped after that backward is built from that module's parameters.

## Why is this bad?
Nothing computed under `no_grad` is recorded by autograd. A loss built from it has no path to the
weights: backward raises "element 0 of tensors does not require grad and does not have a
grad_fn", or, when part of the loss still carries gradient, the layers used inside the block
silently never train (a GAN generator step that reuses the fake batch made under `no_grad` for the
discriminator step). A `forward` that computes under `no_grad` makes the whole module untrainable
for every caller.

Validation loops, EMA and soft target updates, weight clamping, metrics, DQN targets, frozen
teachers and frozen backbones under `no_grad` are left alone: nothing of theirs is meant to be
trained. So are blocks that re-enable autograd inside (`torch.enable_grad()`) and modules that
freeze their parameters (`requires_grad = False`).

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
Safe, and offered only when the whole block feeds the loss (or the returned value): every
statement in it is an assignment, each binds a name that the loss is computed from (directly or
through the other statements of the block), no other name it binds is read afterwards, and nothing
in it updates a tensor in place. The block's statements then move out of the `with` (in
`with torch.autocast(...), torch.no_grad():` only the `no_grad` item is dropped). Otherwise the rule
only reports: a block that also logs or updates state, a `@torch.no_grad()` decorator, a block
inside another `no_grad`, and the partly-trained case (where moving the value out of the block
would also send gradient into the other losses that use it).
"""

    def check(self, ctx):
        semantic = ctx.semantic
        for severed in semantic.severed:
            node = semantic.node(severed.cut)
            if not isinstance(node, (cst.With, cst.Decorator)):
                continue
            backward = semantic.node(severed.backward.event.node)
            loss_expr = _loss_expression(backward)
            loss = f"`{ctx.code(loss_expr)}` (backward at line {_start(ctx, backward)[0]})"
            if isinstance(node, cst.Decorator):
                function = ctx.parent(node)
                where = f"`{function.name.value}` runs under `@{ctx.code(node.decorator)}`"
                if severed.complete:
                    message = f"{where}, so {loss} has no graph: autograd recorded nothing in it"
                else:
                    message = f"{where}, so {_untrained(semantic, severed)}"
                yield Violation(node, message, _drop_decorator(ctx, node))
                continue
            context = ctx.code(ctx.grad_mode.disabling_items(node)[0].item)
            deps = _dependencies(ctx, node, loss_expr, backward)
            feeding = _feeding_names(ctx, node, deps)
            whole = severed.complete or _cuts_whole_forward(ctx, semantic, node)
            fix = _unwrap(ctx, node, deps) if feeding and (whole or _feeds_one_backward(ctx, semantic, node, backward)) else None
            if fix is not None and not whole:
                fix = Fix(fix.edits, Safety.UNSAFE)  # the rest of the model trained: review
            one = len(feeding) == 1
            computed = f"{_listed(feeding)} {'is' if one else 'are'} computed under `{context}` at line {_start(ctx, node)[0]}"
            if severed.complete:
                message = (
                    f"{computed} and feed{'s' if one else ''} {loss}: autograd recorded "
                    f"no graph for {'it' if one else 'them'}"
                )
            else:
                message = f"{computed}, so {_untrained(semantic, severed)}"
            yield Violation(node, message, fix)


def _drop_decorator(ctx, decorator: cst.Decorator) -> Fix:
    """The function without its `@torch.no_grad()` (unsafe: whatever else calls it now builds
    graphs too); comments above the decorator stay above the function."""
    function = ctx.parent(decorator)
    decorators = [d for d in function.decorators if d is not decorator]
    leading = decorator.leading_lines
    if function.decorators[0] is decorator:
        if decorators:
            decorators[0] = decorators[0].with_changes(leading_lines=(*leading, *decorators[0].leading_lines))
            changed = function.with_changes(decorators=decorators)
        else:
            changed = function.with_changes(decorators=(), leading_lines=(*function.leading_lines, *leading))
    else:
        changed = function.with_changes(decorators=decorators)
    return Fix.of(replace(function, changed), safety=Safety.UNSAFE)


def _feeds_one_backward(ctx, semantic, block: cst.With, backward) -> bool:
    """What the block computes feeds this backward's loss and no other backward's of the same
    function: giving it a graph cannot send a second backward through it."""
    references = ctx.references
    scope = references.scope_of(block)
    if scope is not references.scope_of(backward):
        return False
    bound = {n for s in ctx.nodes_in(block.body) if isinstance(s, cst.Assign) for t in s.targets for n in (_names(t.target) or ())}
    for other in semantic.backwards:
        call = semantic.node(other.event.node)
        if call is backward or references.scope_of(call) is not scope:
            continue
        if bound & references.dependencies(_loss_expression(call), scope):
            return False
    return bool(bound)


def _cuts_whole_forward(ctx, semantic, block: cst.With) -> bool:
    """The block sits in a module's `forward` and nothing that forward returns has a graph:
    the module is untrainable for every caller (moving the block out is what it needs). When
    only part of a loss is cut elsewhere, moving the values would also send gradient into the
    other losses that use them (a GAN's fake batch), so that case is reported only."""
    scope = ctx.references.scope_of(block)
    order = ctx.order(block)
    returns = [r for r in semantic.forward_returns if ctx.references.scope_of(semantic.node(r.node)) is scope]
    return bool(returns) and all(
        not r.val.live and not r.val.opaque and r.val.cuts and all(c.node == order for c in r.val.cuts)
        for r in returns
    )


def _dependencies(ctx, block: cst.With, loss_expr, backward) -> set[str]:
    """The names the severed value is computed from in the block's function: the loss's, when
    the backward is there too, else what the function returns."""
    references = ctx.references
    scope = references.scope_of(block)
    if scope is references.scope_of(backward):
        return references.dependencies(loss_expr)
    if not isinstance(scope, cst.FunctionDef):
        return set()
    deps: set[str] = set()
    for node in ctx.own_nodes(scope):
        if isinstance(node, cst.Return) and node.value is not None:
            deps |= references.dependencies(node.value, scope)
    return deps


def _untrained(semantic, severed) -> str:
    names = semantic.describe(severed.sources)
    optimizers = ", ".join(f"`{n}`" for n in semantic.optimizer_names(severed.backward.steps))
    one = len(names) == 1
    loss = semantic.node(severed.backward.event.node)
    return (
        f"{_listed(names)} {'gets' if one else 'get'} no gradient from the backward at line "
        f"{semantic._ctx.position(loss).start.line}: {optimizers} never train{'s' if len(optimizers.split(',')) == 1 else ''} "
        f"{'it' if one else 'them'}"
    )


def _loss_expression(backward: cst.CSTNode) -> cst.CSTNode:
    if isinstance(backward, cst.Call) and isinstance(backward.func, cst.Attribute):
        if backward.func.attr.value == "backward" and not backward.args:
            receiver = backward.func.value
            if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) and receiver.args:
                return receiver.args[0].value
            return receiver
        if backward.args:
            return backward.args[0].value
    return backward


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "values"


def _start(ctx, node: cst.CSTNode) -> tuple[int, int]:
    position = ctx.position(node).start
    return position.line, position.column


# -- the fix -------------------------------------------------------------------------------------


def _feeding_names(ctx, block: cst.With, deps: frozenset) -> list[str]:
    """The names bound in `block` that the loss (or returned value) is computed from, directly or
    through the block's other statements, in source order."""
    needed = set(deps)
    statements = [s for s in ctx.nodes_in(block.body) if isinstance(s, (cst.Assign, cst.AugAssign, cst.AnnAssign))]
    for statement in reversed(statements):
        bound = set().union(*(_names(t) or set() for t in _targets(statement)))
        if bound & needed and statement.value is not None:
            needed |= {n.value for n in ctx.nodes_in(statement.value) if isinstance(n, cst.Name)}
    found = []
    for statement in statements:
        for target in _targets(statement):
            for name in sorted(_names(target) or ()):
                if name in needed and name not in found:
                    found.append(name)
    return found


def _unwrap(ctx, block: cst.With, deps: frozenset) -> Fix | None:
    """The block's statements without the `with` (or without its no_grad item), when they only
    compute values the loss is built from."""
    if not isinstance(block.body, cst.IndentedBlock):
        return None
    if not isinstance(ctx.parent(block), (cst.IndentedBlock, cst.Module)):
        return None
    if any(isinstance(a, cst.With) and ctx.grad_mode.disabling_items(a) for a in ctx.ancestors(block)):
        return None  # still under an outer no_grad
    if any(isinstance(a, cst.FunctionDef) and ctx.grad_mode.disabling_decorator(a) is not None for a in ctx.ancestors(block)):
        return None
    if any(line.comment is not None for line in block.body.footer):
        return None
    feeding = set(_feeding_names(ctx, block, deps))
    bound: set[str] = set()
    for statement in block.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            return None
        for small in statement.body:
            if not isinstance(small, cst.Assign):
                return None
            names: set[str] = set()
            for target in small.targets:
                found = _names(target.target)
                if found is None:
                    return None
                names |= found
            if not names & feeding:
                return None  # a statement the loss does not need
            bound |= names
    if _updates_in_place(ctx, block) or (bound - feeding) & _read_outside(ctx, block):
        return None
    disabling = ctx.grad_mode.disabling_items(block)
    if len(block.items) > len(disabling):  # `with torch.autocast(...), torch.no_grad():`
        kept = [item for item in block.items if item not in disabling]
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return Fix.of(replace(block, block.with_changes(items=kept)))
    statements = list(block.body.body)
    header = block.body.header.comment
    moved = [cst.EmptyLine(comment=header)] if header is not None else []
    statements[0] = statements[0].with_changes(
        leading_lines=(*block.leading_lines, *moved, *statements[0].leading_lines)
    )
    return Fix.of(replace(block, cst.FlattenSentinel(statements)))


def _targets(statement) -> list[cst.BaseExpression]:
    if isinstance(statement, cst.Assign):
        return [t.target for t in statement.targets]
    return [statement.target]


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


def _read_outside(ctx, block: cst.With) -> set[str]:
    """Names read in the same function (or module) outside `block`, before or after it (a loop
    reads values of the previous iteration)."""
    inside = {id(n) for n in ctx.nodes_in(block)}
    read = set()
    for node in ctx.nodes_in(ctx.training.scope_of(block)):
        if isinstance(node, cst.Name) and id(node) not in inside:
            parent = ctx.parent(node)
            if isinstance(parent, cst.AssignTarget) or (isinstance(parent, cst.Attribute) and node is parent.attr):
                continue
            read.add(node.value)
    return read
