from __future__ import annotations

import libcst as cst

from autofix.analysis.dataflow import Grad
from autofix.analysis.training import Kind
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
        flows = [(f.call, f.value, f.loss) for f in ctx.gradients.backwards]
        flows += [(node, value, None) for node, value in ctx.gradients.forward_returns]
        reported: set[int] = set()
        for node, value, loss in flows:
            backward = isinstance(node, cst.Call)
            if value.grad is Grad.GRAD and backward:
                yield from _untrained_modules(ctx, node, value, reported)
                continue
            if value.grad is not Grad.CUT or not value.cuts:
                continue
            if not all(isinstance(c, (cst.With, cst.Decorator)) for c in value.cuts):
                continue  # .detach() / .data cuts are detach-breaks-graph's
            where = (
                f"`{ctx.code(loss)}` (passed to backward at line {_start(ctx, node)[0]})"
                if backward
                else f"what `forward` returns (line {_start(ctx, node)[0]})"
            )
            if not backward and _freezes_parameters(ctx):
                continue  # a frozen feature extractor computing under no_grad on purpose
            if any(isinstance(c, cst.With) and _reenables_grad(ctx, c) for c in value.cuts):
                continue
            if any(isinstance(c, cst.With) and not ctx.grad_mode.disabling_items(c) for c in value.cuts):
                continue  # torch.inference_mode(False) and the like
            for cut in sorted(value.cuts, key=lambda c: _start(ctx, c)):
                if id(cut) in reported:
                    continue
                reported.add(id(cut))
                if isinstance(cut, cst.Decorator):
                    message = (
                        f"`{ctx.parent(cut).name.value}` runs under `@{ctx.code(cut.decorator)}`, "
                        f"so {where} has no graph: autograd recorded nothing in it"
                    )
                    fix = None
                else:
                    feeding = _feeding_names(ctx, cut, value.deps)
                    context = ctx.code(ctx.grad_mode.disabling_items(cut)[0].item)
                    one = len(feeding) == 1
                    message = (
                        f"{_listed(feeding)} {'is' if one else 'are'} computed under `{context}` at line "
                        f"{_start(ctx, cut)[0]} and feed{'s' if one else ''} {where}: autograd recorded "
                        f"no graph for {'it' if one else 'them'}"
                    )
                    fix = _unwrap(ctx, cut, value.deps)
                yield Violation(cut, message, fix)


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "values"


# -- the partly trained case -------------------------------------------------------------------

# Uses of a module that neither compute with it nor hand it to code we cannot see.
HARMLESS_METHODS = frozenset(
    {"parameters", "named_parameters", "train", "eval", "zero_grad", "state_dict", "to", "cpu", "cuda"}
)


def _untrained_modules(ctx, backward: cst.Call, value, reported: set[int]):
    """A module called only under no_grad whose output feeds a loss that still carries gradient,
    while the optimizer stepped after that backward is built from the module's parameters: its
    weights get no gradient and never change. Report only."""
    training = ctx.training
    loops = training.loops_around(backward)
    if not loops or _freezes_parameters(ctx):
        return
    loop = next((l for l in training.loops if l.node is loops[0]), None)
    me = next((e for e in loop.events if e.event.node is backward), None) if loop else None
    if me is None:
        return
    later = [e.order for e in loop.of_kind(Kind.BACKWARD) if e.order > me.order]
    steps = [
        e for e in loop.of_kind(Kind.STEP)
        if e.order > me.order and (not later or e.order < min(later)) and e.target
    ]
    optimized = {m: step for step in steps for m in training.optimized_modules(step.target)}
    scope = training.scope_of(backward)
    for assignment, block in ctx.gradients.no_grad_blocks.items():
        if id(block) in reported or training.scope_of(block) is not scope:
            continue
        disabling = ctx.grad_mode.disabling_items(block)
        if not disabling or _reenables_grad(ctx, block):
            continue
        names = sorted(set().union(*(_names(t) or set() for t in _targets(assignment))))
        feeding = [n for n in names if n in value.deps]
        if not feeding:
            continue
        for call in ctx.nodes_in(assignment):
            if not isinstance(call, cst.Call):
                continue
            module = ctx.code(call.func)
            step = optimized.get(module)
            if step is None or not _only_under_no_grad(ctx, module):
                continue
            reported.add(id(block))
            yield Violation(
                block,
                f"{_listed(feeding)} {'is' if len(feeding) == 1 else 'are'} computed by `{module}` "
                f"under `{ctx.code(disabling[0].item)}` at line {_start(ctx, block)[0]}, so "
                f"`{ctx.code(_loss_of(ctx, backward))}` (backward at line {_start(ctx, backward)[0]}) "
                f"gives `{module}` no gradient: `{step.target}.step()` does not train it",
                None,
            )
            return


def _loss_of(ctx, backward: cst.Call) -> cst.BaseExpression:
    return next(f.loss for f in ctx.gradients.backwards if f.call is backward)


def _only_under_no_grad(ctx, module: str) -> bool:
    """Every use of `module` in the file runs under no_grad or only reads its parameters / mode:
    nothing else (a helper it is passed to, another method using `self.<module>`) can give it
    gradient."""
    for node in ctx.nodes:
        if not isinstance(node, (cst.Name, cst.Attribute)) or ctx.code(node) != module:
            continue
        parent = ctx.parent(node)
        if isinstance(parent, cst.AssignTarget) or (
            isinstance(parent, cst.Attribute) and node is parent.attr  # `x.encoder`
        ) or (isinstance(parent, cst.Arg) and node is parent.keyword) or (
            isinstance(parent, cst.Param) and node is parent.name
        ):
            continue
        if isinstance(parent, cst.Attribute) and parent.attr.value in HARMLESS_METHODS:
            continue
        if not ctx.grad_mode.disabled_at(node):
            return False
    return True


# -- facts about blocks --------------------------------------------------------------------------


def _reenables_grad(ctx, block: cst.With) -> bool:
    """Autograd switched back on inside the block (`with torch.enable_grad():`)."""
    for node in ctx.nodes_in(block.body):
        if isinstance(node, cst.With) and ctx.grad_mode.of_with(node) is False:
            return True
        if isinstance(node, cst.Decorator) and ctx.grad_mode.state(node.decorator) is False:
            return True
    return False


def _freezes_parameters(ctx) -> bool:
    """The file turns `requires_grad` off somewhere (`p.requires_grad = False`,
    `m.requires_grad_(False)`): some module is frozen on purpose."""
    for node in ctx.nodes:
        if isinstance(node, cst.Assign) and _is_false(node.value):
            if any(isinstance(t.target, cst.Attribute) and t.target.attr.value == "requires_grad" for t in node.targets):
                return True
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            if node.func.attr.value == "requires_grad_" and node.args and _is_false(node.args[0].value):
                return True
    return False


def _is_false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


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
