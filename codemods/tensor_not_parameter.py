from __future__ import annotations

import libcst as cst

from autofix.analysis.imports import nn_reference
from autofix.analysis.modules import WEIGHT_FACTORIES, self_attribute
from autofix.rule import Fix, Rule, Safety, Violation, replace

# Calls in `forward` that use an operand as a weight.
WEIGHT_USES = frozenset(
    {
        "torch.matmul", "torch.mm", "torch.bmm", "torch.einsum", "torch.addmm", "torch.mul",
        "torch.nn.functional.linear", "torch.nn.functional.bilinear", "torch.nn.functional.conv1d",
        "torch.nn.functional.conv2d", "torch.nn.functional.conv3d", "torch.nn.functional.embedding",
        "torch.nn.functional.layer_norm", "torch.nn.functional.prelu",
    }
)
CHAIN_METHODS = frozenset({"to", "cuda", "float", "double", "half", "bfloat16", "requires_grad_"})
# In-place methods chained on a factory return the tensor itself: random initialisers
# (`torch.empty(3, 3).uniform_(-1, 1)`) say "weight"; the others only rescale or fill it.
INIT_METHODS = frozenset({"uniform_", "normal_", "trunc_normal_"})
IN_PLACE_METHODS = frozenset({"fill_", "zero_", "mul_", "div_", "clamp_"})
ARITHMETIC = (cst.Multiply, cst.Divide, cst.Add, cst.Subtract)


class TensorNotParameter(Rule):
    name = "tensor-not-parameter"
    summary = "A module's weight is a plain tensor, so it is never trained"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for nn.Module subclasses that create a weight as a plain tensor:
`self.w = torch.randn(3, 3, requires_grad=True)` (any tensor factory asked to require grad), or a
random tensor (`randn`, `rand`, `empty`, `nn.init.*` of one) created in `__init__` and used as a
weight in `forward` (matrix product, arithmetic, `F.linear`, ...).

## Why is this bad?
Only `nn.Parameter`s (and sub-modules) are registered: a plain tensor, even one with
`requires_grad=True`, is missing from `model.parameters()`, so the optimizer never updates it
(when it is the only weight, PyTorch raises "optimizer got an empty parameter list"). It is also
missing from `state_dict()` and is not moved by `model.to(device)`.

Masks, index tables and constants (`tril`, `arange`, `eye`, `ones`, `zeros` without
`requires_grad`), `register_buffer` tensors, `requires_grad=False` tensors, tensors drawn in
`forward` (noise) and attributes assigned again elsewhere in the class (state such as a hidden
state or noise redrawn in `reset_noise()`) are left alone.

## Example
```python
class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(3, 3, requires_grad=True)

    def forward(self, x):
        return x @ self.w
```

## Use instead
```python
class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 3))
```

## Fix safety
Safe. The value is wrapped in `nn.Parameter(...)` (which requires grad by itself, so
`requires_grad=True` / `.requires_grad_()` is dropped), using the file's own name for `Parameter`
or `torch.nn` and adding `from torch import nn` when the file has none.

Unsafe when the tensor does not ask for grad and comes straight from `randn` / `rand` / `normal`:
training it is then an inference, and a fixed random projection (random features, a reservoir)
should instead be a `register_buffer`. No fix when the tensor is also handed to an optimizer by
hand (`SGD([model.w, ...])`): a Parameter would then be listed twice ("some parameters appear in
more than one parameter group").
"""

    def check(self, ctx):
        modules = ctx.modules
        handed = None
        for cls in modules.classes:
            assigned = _tensor_assignments(ctx, cls)
            if not assigned:
                continue
            registered = _registered_elsewhere(ctx, cls)
            rebound = _rebound(ctx, cls)
            forward = modules.method(cls, "forward")
            used_as_weight = _weight_uses(ctx, forward) if forward is not None else set()
            for attribute, node, factory_call, requires_grad, initialised in assigned:
                if attribute in registered or attribute in rebound:
                    continue
                if ctx.semantic.handed_by_hand(node.value):
                    continue  # trained by an optimizer it is handed to explicitly
                method = _method_name(ctx, node)
                if method == "forward":
                    continue  # drawn per call (noise, a cached intermediate): not a weight
                factory = _factory_name(ctx, factory_call)
                if not requires_grad and ctx.semantic.trainable_leaf(ctx.semantic.attribute_value(cls, attribute)):
                    requires_grad = True  # `self.W.requires_grad = True` further down
                inferred = not requires_grad
                if inferred and not (
                    method == "__init__" and factory in WEIGHT_FACTORIES and attribute in used_as_weight
                ):
                    continue
                if handed is None:
                    handed = _handed_to_optimizers(ctx)
                if attribute in handed:
                    yield Violation(
                        node,
                        f"`self.{attribute}` is a plain tensor, not wrapped in a Parameter: it is missing "
                        "from `parameters()` and `state_dict()` (it is handed to the optimizer by hand, "
                        "so wrapping it needs that optimizer call changed too)",
                        None,
                    )
                    continue
                reference, import_edit = _parameter_reference(ctx)
                value = _without_requires_grad(node.value)
                wrapped = cst.parse_expression(f"{reference}(__x__)").with_changes(
                    args=[cst.Arg(value.with_changes(lpar=[], rpar=[]))]
                )
                edits = [replace(node.value, wrapped)] + ([import_edit] if import_edit else [])
                # Without `requires_grad`, training it is an inference: a random tensor may be a
                # projection meant to stay fixed (random features, a reservoir). `empty` memory or
                # an `nn.init.*` call is a weight for sure.
                certain = not inferred or initialised or factory in ("empty", "empty_like")
                yield Violation(
                    node,
                    f"`self.{attribute}` is a plain tensor, not wrapped in `{reference}(...)`: it is "
                    "missing from `parameters()`, so no optimizer ever updates it",
                    Fix.of(*edits, safety=Safety.SAFE if certain else Safety.UNSAFE),
                )


def _factory_name(ctx, call: cst.Call) -> str | None:
    return ctx.modules.tensor_factory(call)


def _unwrap(ctx, value: cst.BaseExpression) -> tuple[cst.Call | None, bool | None, bool]:
    """The factory call inside `value` (through `.to(...)`-style chains, in-place initialisers,
    `nn.init.*_(...)` and scaling such as `torch.randn(3, 3) * 0.01`), what the chain says about
    grad (`.requires_grad_()`: True, `.requires_grad_(False)`: None, nothing: False), and whether
    it is initialised (`nn.init`, `.uniform_(...)`)."""
    requires_grad: bool | None = False
    initialised = False
    while isinstance(value, (cst.Call, cst.BinaryOperation)):
        if isinstance(value, cst.BinaryOperation):
            if not isinstance(value.operator, ARITHMETIC):
                break
            sides = [found for found in (_unwrap(ctx, value.left), _unwrap(ctx, value.right)) if found[0]]
            if len(sides) != 1:
                break
            call, side_requires_grad, side_initialised = sides[0]
            if side_requires_grad is None:
                return call, None, False
            return call, bool(requires_grad or side_requires_grad), initialised or side_initialised
        if ctx.modules.tensor_factory(value):
            return value, requires_grad, initialised
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
            if value.args and not _is_true(value.args[0].value):
                requires_grad = None
            elif requires_grad is not None:
                requires_grad = True
            value = func.value
        elif isinstance(func, cst.Attribute) and func.attr.value in CHAIN_METHODS | IN_PLACE_METHODS:
            value = func.value
        elif isinstance(func, cst.Attribute) and func.attr.value in INIT_METHODS:
            initialised = True
            value = func.value
        elif any(n.startswith("torch.nn.init.") for n in ctx.torch.names(func)) and value.args:
            initialised = True
            value = value.args[0].value
        else:
            break
    return None, False, False


def _is_true(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def _tensor_assignments(ctx, cls: cst.ClassDef):
    found = []
    for node in ctx.nodes_in(cls):
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            continue
        attribute = self_attribute(node.targets[0].target)
        if attribute is None:
            continue
        call, chain_requires_grad, initialised = _unwrap(ctx, node.value)
        if call is None:
            continue
        flag = next((a for a in call.args if a.keyword is not None and a.keyword.value == "requires_grad"), None)
        if chain_requires_grad is None or (flag is not None and not _is_true(flag.value)):
            continue  # requires_grad=False (or computed): a constant on purpose
        found.append((attribute, node, call, chain_requires_grad or flag is not None, initialised))
    return found


def _registered_elsewhere(ctx, cls: cst.ClassDef) -> set[str]:
    """Attributes also set through `register_buffer` / `register_parameter` or wrapped in a
    Parameter by another assignment."""
    names = set()
    for node in ctx.nodes_in(cls):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            if node.func.attr.value in ("register_buffer", "register_parameter") and node.args:
                first = node.args[0].value
                if isinstance(first, cst.SimpleString):
                    names.add(first.evaluated_value)
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            if any(n.endswith(".Parameter") for n in ctx.torch.names(node.value.func)):
                names.update(self_attribute(t.target) for t in node.targets)
    return names


def _rebound(ctx, cls: cst.ClassDef) -> set[str]:
    """Attributes assigned more than once in the class (`self.h = ...` again in `reset()` or
    `forward`, `self.w *= ...`): state that is rebound to plain tensors, which a Parameter attribute
    refuses ("cannot assign 'torch.FloatTensor' as parameter 'h'")."""
    counts: dict[str, int] = {}
    for node in ctx.nodes_in(cls):
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and (
            isinstance(node, cst.AugAssign) or node.value is not None
        ):
            targets = [node.target]
        else:
            continue
        for target in targets:
            elements = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
            for element in elements:
                attribute = self_attribute(element)
                if attribute is not None:
                    counts[attribute] = counts.get(attribute, 0) + 1
    return {attribute for attribute, count in counts.items() if count > 1}


def _method_name(ctx, node: cst.CSTNode) -> str | None:
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, cst.FunctionDef):
            return ancestor.name.value
    return None


def _handed_to_optimizers(ctx) -> set[str]:
    """Attribute names read as `model.w` in the arguments of an optimizer constructor
    (`SGD([model.w, ...])`, `[{"params": [model.w], "lr": ...}]`): the tensor is already trained,
    and a Parameter there would be listed twice ("some parameters appear in more than one parameter
    group")."""
    names = set()
    for node in ctx.nodes:
        if isinstance(node, cst.Call) and ctx.torch.is_optimizer_class(node.func):
            for arg in node.args:
                for inner in ctx.nodes_in(arg):
                    parent = ctx.parent(inner)
                    if isinstance(inner, cst.Attribute) and not (isinstance(parent, cst.Call) and parent.func is inner):
                        names.add(inner.attr.value)
    return names


def _parameter_reference(ctx):
    """The file's name for `torch.nn.Parameter` (`Parameter` when imported by name, else
    `nn.Parameter` through the file's `torch.nn`), and the import edit it needs, if any."""
    origins = ctx.torch.names(cst.Name("Parameter"))
    if origins and origins <= {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}:
        return "Parameter", None
    reference, import_edit = nn_reference(ctx)
    return f"{reference}.Parameter", import_edit


def _weight_uses(ctx, forward: cst.FunctionDef) -> set[str]:
    """`self.w` attributes used as weights in forward: operands of `@`, `*`, `+`, or arguments of
    matmul-like calls."""
    used = set()
    for node in ctx.nodes_in(forward):
        operands = []
        if isinstance(node, cst.BinaryOperation):
            operands = [node.left, node.right]
        elif isinstance(node, cst.Call) and not ctx.torch.names(node.func).isdisjoint(WEIGHT_USES):
            operands = [a.value for a in node.args]
        for operand in operands:
            attribute = self_attribute(operand)
            if attribute is not None:
                used.add(attribute)
    return used


def _without_requires_grad(value: cst.BaseExpression) -> cst.BaseExpression:
    """`value` minus `requires_grad=True` and `.requires_grad_()`."""

    class Strip(cst.CSTTransformer):
        def leave_Call(self, original, updated):
            func = updated.func
            if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and (
                not updated.args or _is_true(updated.args[0].value)
            ):
                return func.value
            args = [a for a in updated.args if not (a.keyword is not None and a.keyword.value == "requires_grad")]
            if len(args) != len(updated.args):
                if args:
                    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                return updated.with_changes(args=args)
            return updated

    return value.visit(Strip())


