from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from autofix.analysis.imports import dotted_name
from autofix.analysis.training import Kind, TrainingLoop
from autofix.rule import Fix, Rule, Safety, Violation, insert_after, insert_before


class EvalWithoutTrain(Rule):
    name = "eval-without-train"
    summary = "A training loop switches the model to eval mode and never back to train mode"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for training loops that call `model.eval()` (or `model.train(False)`), directly or in a
helper such as `evaluate(model, ...)` or `self.validate()`, and do not call `model.train()` again
before the next training step (backward or optimizer step).

## Why is this bad?
`model.eval()` switches every dropout and batch-norm layer of the model to inference behaviour,
and the mode sticks until `model.train()` is called. If validation runs inside the epoch loop and
the loop never switches back, every epoch after the first trains with dropout disabled and with
batch-norm using (and no longer updating) its running statistics. PyTorch raises and warns
nothing: the loss goes down, but regularisation is silently gone.

Models evaluated but not trained by the loop (a teacher, an EMA copy, a target network),
helpers that call `model.train()` themselves, `model.train()` at the top of the epoch or of the
training helper, and `model.eval()` after the training loop are recognised as correct.

## Example
```python
for epoch in range(epochs):
    for x, y in train_loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
```

## Fix safety
Safe. `model.train()` is inserted at the top of the loop body that contains both the training
step and the evaluation, so each iteration starts in training mode; evaluation still runs in
eval mode. When the evaluation runs before the training step in the same iteration, the call is
inserted right after the evaluation block (or right before the inner training loop or training
helper call); when neither place is clear the finding is reported without a fix.
"""

    def check(self, ctx):
        modes = _ModeCalls(ctx)
        loops = [loop for loop in ctx.training.loops if _training_events(loop)]
        findings = _Findings(ctx, modes, loops)
        for loop in loops:
            for _entry, violation in findings.of(loop):
                yield violation


class _Findings:
    """Per loop, the evals it reports. An eval is reported by the innermost training loop that
    finds it unrestored (a mid-epoch validation in the batch loop is the batch loop's); an
    outer loop still reports it when the inner loop ends right after it (`break`)."""

    def __init__(self, ctx, modes, loops) -> None:
        self.ctx, self.modes, self.loops = ctx, modes, loops
        self._done: dict[int, list] = {}
        self._running: set[int] = set()

    def of(self, loop: TrainingLoop) -> list[tuple[_Entry, Violation]]:
        if id(loop) in self._done:
            return self._done[id(loop)]
        if id(loop) in self._running:  # helpers calling each other back
            return []
        self._running.add(id(loop))
        found = list(self._compute(loop))
        self._running.discard(id(loop))
        self._done[id(loop)] = found
        return found

    def _compute(self, loop: TrainingLoop):
        ctx, training = self.ctx, self.ctx.training
        timeline = self.modes.timeline(loop)
        evals = [entry for entry in timeline if entry.kind == "eval"]
        if not evals:
            return
        trained = _trained_modules(training, loop)
        inner_reports = None
        fixed: set[tuple[str, int]] = set()
        covered: set[int] = set()  # evals on the way from a reported eval to its step
        for entry in evals:
            receiver = entry.receiver
            if id(entry) in covered or not _is_trained(receiver, trained):
                continue
            if _iteration_variable(training, entry) or _frozen_part(timeline, entry, ctx.semantic.heap):
                continue
            if _leaves_loop_after(ctx, loop, entry):
                continue
            if inner_reports is None:
                inner_reports = {
                    id(e.node) for other in self._inner_loops(loop) for e, _ in self.of(other)
                }
            if id(entry.node) in inner_reports:
                continue
            witness = _unrestored_step(timeline, entry, ctx.semantic.heap, _rebound_in(ctx, loop, receiver))
            if witness is None:
                continue
            covered.update(id(e) for e in _passed(timeline, entry, witness[0]))
            fix, key = _fix(ctx, loop, entry, witness)
            if key is not None:
                if key in fixed:
                    continue
                fixed.add(key)
            yield entry, Violation(entry.node, _message(ctx, loop, entry), fix)

    def _inner_loops(self, loop: TrainingLoop) -> list[TrainingLoop]:
        """Training loops nested in `loop`, or in a helper it calls."""
        ctx = self.ctx
        reachable = ctx.training.helpers_reachable(loop)
        inner = []
        for other in self.loops:
            if other is loop:
                continue
            ancestors = list(ctx.ancestors(other.node))
            if any(a is loop.node for a in ancestors) or any(
                a is h for h in reachable for a in ancestors
            ):
                inner.append(other)
        return inner


# -- facts this rule collects (train/eval calls are not events of the shared analysis yet) -----

_CONDITIONAL = (cst.If, cst.Match, cst.ExceptHandler, cst.IfExp, cst.BooleanOperation)
_NOT_TRAINED_NAME = re.compile(
    r"(^|_)(teacher|target|ema|swa|avg|averaged|frozen|fixed|pretrained|ref|reference|old|prev)"
    r"(_|\d|$)",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_HELPER_DEPTH = 3


@dataclass(frozen=True, eq=False)
class _Mode:
    """A call that sets a module's mode: `m.train()`, `m.train(True)`, `m.eval()`,
    `m.train(False)`, `super().train(mode)` (receiver `self`). A bare `m.train` (uncalled-method's
    to fix) counts as training mode too. `training` is False only for a mode known to be eval."""

    node: cst.CSTNode
    receiver: str
    training: bool
    objs: frozenset = frozenset()  # the module objects switched, as the semantic model knows them


@dataclass(frozen=True, eq=False)
class _Entry:
    """A mode call or a training step as one loop sees it."""

    kind: str  # "eval" | "train" | "step"
    order: tuple[int, ...]
    top: cst.CSTNode  # the node inside the loop's own scope (the helper call for a helper's)
    node: cst.CSTNode  # the call itself, wherever it is written
    receiver: str | None = None  # in the loop's own names
    guarded: bool = False  # under an `if` (or similar) relative to the loop: may not run
    objs: frozenset = frozenset()  # the module objects switched (empty: not known)


class _ModeCalls:
    """train/eval calls of the file, seen from loops through helper calls (up to a few levels,
    arguments mapped to parameters)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.training = ctx.training
        self.by_scope: dict[cst.CSTNode, list[_Mode]] = {}
        helper_of = {id(call): helper for call, helper in self.training.helper_calls}
        for node in ctx.nodes:
            if isinstance(node, cst.Call) and id(node) not in helper_of:
                mode = _mode_of_call(node, ctx.semantic)
                if mode is not None:
                    self.by_scope.setdefault(self.training.scope_of(node), []).append(mode)
        for event in self.training.events:
            # `model.train` without parentheses: uncalled-method adds them; count it as a restore
            if event.kind is Kind.UNCALLED and event.target == "train" and _DOTTED.match(event.receiver):
                self.by_scope.setdefault(event.scope, []).append(_Mode(event.node, event.receiver, True))
        self._timelines: dict[int, list[_Entry]] = {}

    def timeline(self, loop: TrainingLoop) -> list[_Entry]:
        if id(loop) not in self._timelines:
            self._timelines[id(loop)] = self._timeline(loop)
        return self._timelines[id(loop)]

    def _timeline(self, loop: TrainingLoop) -> list[_Entry]:
        entries = []
        for mode in self.by_scope.get(loop.scope, ()):
            if loop.node in self.training.loops_around(mode.node):
                entries.append(
                    _Entry(
                        "train" if mode.training else "eval",
                        _order(self.ctx, mode.node) + (0,),
                        mode.node,
                        mode.node,
                        mode.receiver,
                        _guarded(self.ctx, mode.node, loop.node),
                        mode.objs,
                    )
                )
        for call, helper in self.training.helper_calls:
            if loop.node in self.training.loops_around(call):
                entries.extend(
                    self._through(
                        helper, call, _order(self.ctx, call), self.training.arguments(helper, call),
                        _guarded(self.ctx, call, loop.node), _HELPER_DEPTH, [], call, loop.scope,
                    )
                )
        for event in loop.events:
            if event.kind in (Kind.BACKWARD, Kind.STEP) and not _without_grad(self.ctx, event):
                guarded = _guarded(self.ctx, event.via or event.event.node, loop.node)
                if event.via is not None:
                    guarded = guarded or _guarded(self.ctx, event.event.node, event.event.scope)
                entries.append(
                    _Entry("step", event.order, event.via or event.event.node, event.event.node,
                           guarded=guarded)
                )
        entries.sort(key=lambda e: e.order)
        return entries

    def _through(self, helper, top, prefix, arguments, guarded, depth, visiting, call=None, scope=None):
        if depth == 0 or any(helper is h for h in visiting):
            return
        visiting = [*visiting, helper]
        local = _local_names(helper)
        call = call if call is not None else top
        for mode in self.by_scope.get(helper, ()):
            if isinstance(mode.node, cst.Call) and self.ctx.semantic.ran_through(call, mode.node) is False:
                continue  # this call never runs it (`set_mode("eval", ...)` never trains)
            receiver = _mapped(mode.receiver, arguments, local)
            if receiver is None and mode.objs:
                names = self.ctx.semantic.names_for(mode.objs, scope)
                receiver = names[0] if names else None
            if receiver is None:
                continue
            yield _Entry(
                "train" if mode.training else "eval",
                prefix + _order(self.ctx, mode.node),
                top,
                mode.node,
                receiver,
                guarded or _guarded(self.ctx, mode.node, helper),
                mode.objs,
            )
        for call, inner in self.training.helper_calls:
            if self.training.scope_of(call) is not helper:
                continue
            mapped = {}
            for param, argument in self.training.arguments(inner, call).items():
                value = _mapped(argument, arguments, local) if _DOTTED.match(argument) else None
                if value is not None:
                    mapped[param] = value
            yield from self._through(
                inner, top, prefix + _order(self.ctx, call), mapped,
                guarded or _guarded(self.ctx, call, helper), depth - 1, visiting, call, scope,
            )


def _without_grad(ctx, event) -> bool:
    """A backward or step reached only under `torch.no_grad()` (a validation pass through the
    helper that also trains): not a training step."""
    return any(ctx.grad_mode.disabled_at(node) for node in (*event.vias, event.event.node))


def _mode_of_call(call: cst.Call, semantic) -> _Mode | None:
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in ("train", "eval"):
        return None
    receiver = _module_of(func.value)
    if not receiver:
        return None
    objs = _module_objects(semantic, func.value)
    if func.attr.value == "eval":
        return None if call.args else _Mode(call, receiver, False, objs)
    if not call.args:
        return _Mode(call, receiver, True, objs)
    arg = call.args[0]
    if len(call.args) > 1 or arg.star or (arg.keyword is not None and arg.keyword.value != "mode"):
        return None
    value = arg.value
    # Only a literal False is known to mean eval; anything else may restore training mode.
    known_eval = isinstance(value, cst.Name) and value.value == "False"
    return _Mode(call, receiver, not known_eval, objs)


def _module_objects(semantic, expr: cst.BaseExpression) -> frozenset:
    """The module objects `expr` denotes, when the semantic model knows them all."""
    value = semantic.denote(expr)
    if value is None or not value.objs:
        return frozenset()
    if all((obj := semantic.heap.get(o)) is not None and obj.kind.value == "module" for o in value.objs):
        return value.objs
    return frozenset()


_RETURNS_SELF = frozenset(
    {"to", "cpu", "cuda", "float", "double", "half", "bfloat16", "train", "eval",
     "requires_grad_", "type", "share_memory", "to_empty"}
)


def _module_of(expr: cst.BaseExpression) -> str:
    """The module a mode call switches: `model` in `model.to(device).train()` (Module methods
    that return the module itself), `self` in `super().train(mode)`."""
    while (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in _RETURNS_SELF
    ):
        expr = expr.func.value
    if isinstance(expr, cst.Call) and dotted_name(expr.func) == "super":
        return "self"
    return dotted_name(expr)


def _mapped(receiver: str, arguments: dict[str, str], local: set[str]) -> str | None:
    """`net` in `evaluate(net)` called as `evaluate(model)` is `model`; a local name of the
    helper that no argument explains is unknown (None)."""
    head, dot, rest = receiver.partition(".")
    if head in arguments:
        value = arguments[head] + dot + rest
        return value if _DOTTED.match(value) else None
    if head in local and head != "self":
        return None
    return receiver


def _local_names(function: cst.FunctionDef) -> set[str]:
    """Parameters and names assigned in `function` (not in functions nested in it)."""
    names = {p.name.value for p in _params(function.params)}
    stack = list(function.body.children)
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For)):
            names.update(_bound_names(node.target))
        elif isinstance(node, cst.AsName):
            names.update(_bound_names(node.name))
        stack.extend(node.children)
    return names


def _bound_names(target: cst.CSTNode):
    """`a`, `(a, b)`, `[a, *b]`: the names an assignment target binds (not `self.x`, `d[k]`)."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _bound_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _bound_names(target.value)


def _params(params: cst.Parameters):
    yield from params.posonly_params
    yield from params.params
    yield from params.kwonly_params
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            yield star


def _order(ctx, node: cst.CSTNode) -> tuple[int]:
    return (ctx.order(node),)


def _guarded(ctx, node: cst.CSTNode, stop: cst.CSTNode) -> bool:
    """Is `node` under an `if` / `match` / `except` / conditional expression below `stop`?
    (Inner loops do not count: their body normally runs.)"""
    for parent in ctx.ancestors(node):
        if parent is stop or isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(parent, _CONDITIONAL):
            return True
    return False


def _training_events(loop: TrainingLoop) -> bool:
    return any(e.kind in (Kind.BACKWARD, Kind.STEP) for e in loop.events)


# -- the analysis ------------------------------------------------------------------------------


def _trained_modules(training, loop: TrainingLoop) -> set[str] | None:
    """The modules whose parameters the loop's optimizers step, or None when any of them is
    unknown (an optimizer passed in, or built from a parameter list)."""
    steps = loop.of_kind(Kind.STEP)
    if not steps:
        return None
    modules: set[str] = set()
    for step in steps:
        found = training.optimized_modules(step.target) if step.target else set()
        if not found:
            return None
        modules |= found
    return modules


def _strip_self(name: str) -> str:
    return name[len("self."):] if name.startswith("self.") else name


def _is_trained(receiver: str, trained: set[str] | None) -> bool:
    """Is `receiver` (or a module inside it) trained by the loop? A teacher, EMA copy or target
    network is evaluated on purpose and never switched back."""
    if trained is None:
        return not _NOT_TRAINED_NAME.search(receiver.rsplit(".", 1)[-1])
    own = _strip_self(receiver)
    return any(
        module == own or module.startswith(own + ".") or own == "self"
        for module in map(_strip_self, trained)
    )


def _iteration_variable(training, entry: _Entry) -> bool:
    """`for m in model.modules(): ... m.eval()`: a loop variable, one layer at a time (unless
    the semantic model knows it is one of a few whole models: `for m in models:`)."""
    if entry.top is not entry.node and entry.objs:
        return False
    head = entry.receiver.partition(".")[0]
    return any(
        isinstance(loop, cst.For) and head in set(_bound_names(loop.target))
        for loop in training.loops_around(entry.top)
    )


def _frozen_part(timeline: list[_Entry], entry: _Entry, heap) -> bool:
    """`model.train(); model.backbone.eval()`: a part kept in eval mode on purpose (frozen
    batch-norm statistics) while the whole model trains."""
    for e in timeline:
        if e.kind != "train":
            continue
        if e.objs and entry.objs:
            if all(any(x != y and x in heap.descendants([y]) for y in e.objs) for x in entry.objs):
                return True
        elif entry.receiver.startswith(e.receiver + "."):
            return True
    return False


def _rebound_in(ctx, loop: TrainingLoop, receiver: str) -> bool:
    """`for fold in folds: model = Net() ...`: the loop assigns the module (or the object
    holding it), so each iteration starts with a new module in training mode."""
    head = receiver.partition(".")[0]
    stack = list(loop.node.body.children)
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        targets = []
        if isinstance(node, cst.Assign):
            # `model = model.to(device)` keeps the same module
            if not isinstance(node.value, cst.Call) or _module_of(node.value) != receiver:
                targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For)):
            targets = [node.target]
        elif isinstance(node, (cst.AsName, cst.NamedExpr)):
            targets = [node.name if isinstance(node, cst.AsName) else node.target]
        for target in targets:
            if head in set(_bound_names(target)):
                return True
            name = dotted_name(target)
            if name and (receiver == name or receiver.startswith(name + ".")):
                return True
        stack.extend(node.children)
    return False


def _passed(timeline: list[_Entry], start: _Entry, stop: _Entry) -> list[_Entry]:
    """Evals of the same module between `start` and `stop`, walking on into the next
    iteration: one forgotten train() is one finding."""
    index = timeline.index(start)
    walk = timeline[index + 1:] + timeline[:index]
    walk = walk[: walk.index(stop)] if stop in walk else walk
    return [e for e in walk if e.kind == "eval" and e.receiver == start.receiver]


def _leaves_loop_after(ctx, loop: TrainingLoop, entry: _Entry) -> bool:
    """`model.eval(); save(model); break`: the loop ends after the evaluation (early stopping,
    a last-step export), so no training step follows it."""
    statement = ctx.training.statement_of(entry.top)
    while statement is not None and any(a is loop.node for a in ctx.ancestors(statement)):
        block = ctx.parent(statement)
        if isinstance(block, cst.IndentedBlock):
            in_inner_loop = any(
                isinstance(a, (cst.For, cst.While))
                for a in _up_to(ctx, block, loop.node)
            )
            body = list(block.body)
            for later in body[body.index(statement) + 1:]:
                if isinstance(later, cst.SimpleStatementLine) and any(
                    isinstance(s, (cst.Return, cst.Raise))
                    or (isinstance(s, cst.Break) and not in_inner_loop)
                    for s in later.body
                ):
                    return True
        owner = ctx.parent(block) if block is not None else None
        if owner is None or owner is loop.node:
            break
        statement = ctx.training.statement_of(owner)
    return False


def _up_to(ctx, node: cst.CSTNode, stop: cst.CSTNode):
    """Ancestors of `node` strictly below `stop`."""
    for parent in ctx.ancestors(node):
        if parent is stop:
            return
        yield parent


def _related(a: _Entry, b: _Entry, heap) -> bool:
    """Switching `b`'s mode switches `a`'s too, or a part of it (`model` and `model.encoder`):
    by the module objects when the semantic model knows both, else by the names."""
    if a.objs and b.objs:
        return any(heap.related(x, y) for x in a.objs for y in b.objs)
    return a.receiver == b.receiver or a.receiver.startswith(b.receiver + ".") or b.receiver.startswith(a.receiver + ".")


def _unrestored_step(
    timeline: list[_Entry], start: _Entry, heap, fresh_each_iteration: bool = False
) -> tuple[_Entry, bool] | None:
    """The training step that runs after `start` (an eval) with no train() of that module in
    between, walking the loop body from `start` to its end and on into the next iteration
    (unless the loop builds a new module each iteration); with whether the walk wrapped
    around. Steps under an `if` are passed over when some train() call exists (the
    `if phase == "train"` pattern)."""
    restores = [e for e in timeline if e.kind == "train" and _related(start, e, heap)]
    index = timeline.index(start)
    walk = [(e, False) for e in timeline[index + 1:]] + [(e, True) for e in timeline[:index]]
    for entry, wrapped in walk:
        if wrapped and fresh_each_iteration:
            return None
        if entry.kind == "train" and _related(start, entry, heap):
            return None
        if entry.kind == "step" and (not entry.guarded or not restores):
            return entry, wrapped
    return None


# -- the fix -----------------------------------------------------------------------------------


def _fix(ctx, loop: TrainingLoop, entry: _Entry, witness: tuple[_Entry, bool]):
    """`receiver.train()` at the top of the loop body when the step comes in the next
    iteration; otherwise right after the evaluation, or right before the training."""
    step, wrapped = witness
    code = f"{entry.receiver}.train()\n"
    body = loop.node.body
    if wrapped:
        if isinstance(body, cst.IndentedBlock) and body.body:
            first = body.body[0]
            return Fix.of(insert_before(first, code)), (entry.receiver, id(first))
        return None, None
    evaluation, training = _siblings(ctx, loop, entry.top, step.top)
    if evaluation is None:
        return None, None
    if not isinstance(evaluation, cst.SimpleStatementLine) or entry.top is not entry.node:
        return Fix.of(insert_after(evaluation, code)), (entry.receiver, id(evaluation))
    if isinstance(training, (cst.For, cst.While)) or step.top is not step.node:
        return Fix.of(insert_before(training, code)), (entry.receiver, id(training))
    return None, None


def _siblings(ctx, loop: TrainingLoop, first: cst.CSTNode, second: cst.CSTNode):
    """The statements of one block, inside the loop, holding `first` and (later) `second`."""
    training = ctx.training
    statement = training.statement_of(first)
    while statement is not None and any(a is loop.node for a in ctx.ancestors(statement)):
        block = ctx.parent(statement)
        if isinstance(block, cst.IndentedBlock):
            later = list(block.body)[list(block.body).index(statement) + 1:]
            for candidate in later:
                if candidate is second or any(a is candidate for a in ctx.ancestors(second)):
                    return statement, candidate
        parent = ctx.parent(block) if block is not None else None
        statement = training.statement_of(parent) if parent is not None else None
    return None, None


def _message(ctx, loop: TrainingLoop, entry: _Entry) -> str:
    receiver = entry.receiver
    line = ctx.position(loop.node).start.line
    if entry.top is entry.node:
        how = f"`{ctx.code(entry.node)}` in the loop at line {line} leaves"
    else:
        call = entry.top
        name = ctx.code(call.func) if isinstance(call, cst.Call) else ctx.code(call)
        how = f"`{name}()`, called in the loop at line {line}, runs `{ctx.code(entry.node)}` and leaves"
    return (
        f"{how} `{receiver}` in eval mode: nothing calls `{receiver}.train()` before the next "
        "training step, so dropout and batch-norm stay in eval mode for the rest of training"
    )
