from __future__ import annotations

import libcst as cst

from autofix.analysis.imports import nn_reference
from autofix.analysis.modules import self_attribute
from autofix.rule import Fix, Rule, Safety, Violation, replace

# What nn.ModuleDict already defines (torch 2.13): a key equal to one of these names raises
# KeyError "attribute '...' already exists", so such a dict is reported without a fix.
MODULE_DICT_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children clear compile cpu
    cuda double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu items keys load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters pop register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type update values xpu
    zero_grad""".split()
)
# list / dict methods nn.ModuleList / nn.ModuleDict do not have: code calling one would break.
MISSING_METHODS = {
    "ModuleList": frozenset({"index", "count", "copy", "sort", "reverse", "remove", "clear"}),
    "ModuleDict": frozenset({"get", "setdefault", "copy", "popitem", "fromkeys"}),
}
ADDING_METHODS = frozenset({"append", "insert", "extend", "update"})
REGISTERING_CALLS = frozenset({"add_module", "register_module", "setattr"})


class ModuleListNotRegistered(Rule):
    name = "module-list-not-registered"
    summary = "Layers kept in a plain list or dict are invisible to the module"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for nn.Module subclasses that store sub-modules in a plain Python list or dict:
`self.layers = [nn.Linear(8, 8) for _ in range(3)]`, `self.heads = {"a": nn.Linear(8, 2)}`, or
an empty `self.blocks = []` that the class fills with `self.blocks.append(Block(...))`.

Lists that are registered another way (`nn.Sequential(*self.layers)`,
`nn.ModuleList(self.layers)`, `add_module` / `setattr` over their items) are left alone, and so
are lists on classes that are not modules.

## Why is this bad?
nn.Module registers only attributes that are modules, parameters or buffers. A list or dict of
layers is an ordinary attribute: its layers are missing from `model.parameters()` (so no optimizer
trains them; with no other weights PyTorch raises "optimizer got an empty parameter list"), from
`model.to(device)`, `model.train()` / `model.eval()` and from `state_dict()`, so checkpoints
silently lose them.

## Example
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 8) for _ in range(3)]
```

## Use instead
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
```

## Fix safety
Safe. `nn.ModuleList` supports indexing, iteration, `len`, `append`, `extend`, `insert` and
`pop(i)`; `nn.ModuleDict` supports `[key]`, iteration over keys, `items()`, `values()`,
`update`, `pop(key)` and `len`. The fix is only offered when the class uses nothing else of the
list or dict (`index`, `sort`, `get`, `+`, `pop()` ...), adds nothing but modules to it, and every
dict key is a string literal `nn.ModuleDict` accepts (no `.`, not empty, not an attribute of
`nn.ModuleDict` such as `"train"`); otherwise the finding is reported without a fix. The file's
own name for `torch.nn` is used, and `from torch import nn` is added when the file has none.
"""

    def check(self, ctx):
        modules = _Built(ctx)
        for cls in ctx.modules.classes:
            modules.cls = cls
            own = [n for n in ctx.nodes_in(cls) if _enclosing_class(ctx, n) is cls]
            for node in own:
                if not isinstance(node, cst.Assign) or len(node.targets) != 1:
                    continue
                attribute = self_attribute(node.targets[0].target)
                shape = _container(modules, node.value)
                if attribute is None or shape is None:
                    continue
                container, fixable = shape
                uses = _uses(ctx, modules, own, attribute, container, node)
                if uses is None:
                    continue  # registered another way
                adds_modules, blocker = uses
                empty = isinstance(node.value, (cst.List, cst.Dict)) and not node.value.elements
                if empty and not adds_modules:
                    continue
                reference, import_edit = nn_reference(ctx)
                kind = "list" if container.endswith("List") else "dict"
                what = "parameters" if container.startswith("Parameter") else "layers"
                message = (
                    f"`self.{attribute}` holds {what} in a plain {kind}: they are missing from "
                    f"`parameters()`, `.to()` and `state_dict()` (use `{reference}.{container}`)"
                )
                if not fixable:
                    blocker = blocker or "its keys are not string literals nn.ModuleDict accepts"
                if blocker:
                    yield Violation(node, f"{message}; no automatic fix: {blocker}")
                    continue
                if empty:
                    wrapped = cst.parse_expression(f"{reference}.{container}()")
                else:
                    wrapped = cst.parse_expression(f"{reference}.{container}(__x__)").with_changes(
                        args=[cst.Arg(node.value)]
                    )
                edits = [replace(node.value, wrapped)] + ([import_edit] if import_edit else [])
                yield Violation(node, message, Fix.of(*edits))


class _Built:
    """What the semantic model says an expression builds: modules or parameters."""

    def __init__(self, ctx) -> None:
        self.semantic = ctx.semantic
        self.cls = None  # the class being checked: its own modules, not ones handed to it

    def builds_module(self, node: cst.BaseExpression) -> bool:
        return self.semantic.built(node, self.cls) == "module"

    def kind(self, nodes: list[cst.BaseExpression]) -> str | None:
        kinds = {self.semantic.built(n, self.cls) for n in nodes}
        return kinds.pop() if len(kinds) == 1 else None


def _container(modules, value: cst.BaseExpression) -> tuple[str, bool] | None:
    """("ModuleList" | "ModuleDict" | "ParameterList" | "ParameterDict", fixable) when `value`
    is a list / dict literal or comprehension of modules (or of Parameters), or an empty list /
    dict; fixable is False for dicts whose keys are not all literals nn.ModuleDict accepts."""
    if isinstance(value, cst.List):
        if not value.elements:
            return "ModuleList", True
        if any(isinstance(e, cst.StarredElement) for e in value.elements):
            return None
        kind = modules.kind([e.value for e in value.elements])
        return (_LIST[kind], True) if kind else None
    if isinstance(value, cst.ListComp):
        kind = modules.kind([value.elt])
        return (_LIST[kind], True) if kind else None
    if isinstance(value, cst.Dict):
        if not value.elements:
            return "ModuleDict", True
        if not all(isinstance(e, cst.DictElement) for e in value.elements):
            return None
        kind = modules.kind([e.value for e in value.elements])
        return (_DICT[kind], all(_valid_key(e.key) for e in value.elements)) if kind else None
    if isinstance(value, cst.DictComp):
        kind = modules.kind([value.value])
        return (_DICT[kind], False) if kind else None
    return None


_LIST = {"module": "ModuleList", "parameter": "ParameterList"}
_DICT = {"module": "ModuleDict", "parameter": "ParameterDict"}


def _valid_key(key: cst.BaseExpression) -> bool:
    if not isinstance(key, (cst.SimpleString, cst.ConcatenatedString)):
        return False
    text = key.evaluated_value
    return (
        isinstance(text, str) and text != "" and "." not in text
        and not text.startswith("_") and text not in MODULE_DICT_ATTRIBUTES
    )


def _uses(ctx, modules, own, attribute, container, assignment):
    """How the class uses `self.<attribute>`: None when its items get registered another way
    (`nn.Sequential(*self.layers)`, `add_module` over them), else (whether the class adds modules
    to it, why a ModuleList / ModuleDict would break the code or "" when nothing would)."""
    adds_modules, blocker = False, ""
    for node in own:
        if self_attribute(node) != attribute or node is assignment.targets[0].target:
            continue
        parent = ctx.parent(node)
        grandparent = ctx.parent(parent)
        if isinstance(parent, cst.Arg) and isinstance(grandparent, cst.Call) and modules.builds_module(grandparent):
            holder = ctx.parent(grandparent)  # `self.net = nn.Sequential(*self.layers)`
            if isinstance(holder, cst.Assign) and any(self_attribute(t.target) for t in holder.targets):
                return None
        if _registered_in_loop(ctx, node):
            return None
        if isinstance(parent, cst.Attribute) and parent.value is node:
            method = parent.attr.value
            call = grandparent if isinstance(grandparent, cst.Call) and grandparent.func is parent else None
            if method in MISSING_METHODS["ModuleList" if container.endswith("List") else "ModuleDict"]:
                blocker = blocker or f"the class uses `self.{attribute}.{method}`"
            elif method == "pop" and call is not None and len(call.args) != 1:
                blocker = blocker or f"`self.{attribute}.pop` needs an argument on a {container}"
            elif method in ADDING_METHODS and call is not None and call.args:
                added = call.args[-1].value
                if _adds_modules(ctx, modules, added, method, call):
                    adds_modules = True
                else:
                    blocker = blocker or f"`self.{attribute}.{method}` adds `{ctx.code(added)}`"
        elif isinstance(parent, cst.Subscript) and parent.value is node and isinstance(grandparent, cst.AssignTarget):
            value = ctx.parent(grandparent).value
            key = parent.slice[0].slice
            key_ok = isinstance(key, cst.Index) and (container.endswith("List") or _valid_key(key.value))
            if modules.builds_module(value) or _local_module(ctx, modules, value, parent):
                adds_modules = True
                if not key_ok:
                    blocker = blocker or f"the key of `{ctx.code(parent)}` may not suit nn.ModuleDict"
            else:
                blocker = blocker or f"the class stores `{ctx.code(value)}` in `self.{attribute}[...]`"
        elif isinstance(parent, cst.AugAssign) and parent.target is node:
            shape = _container(modules, parent.value)
            if shape is not None and shape[0] == container and shape[1]:
                adds_modules = True
            else:
                blocker = blocker or f"the class extends `self.{attribute}` with `{ctx.code(parent.value)}`"
        elif isinstance(parent, cst.AssignTarget):
            if _container(modules, ctx.parent(parent).value) is None:
                blocker = blocker or f"`self.{attribute}` is also assigned `{ctx.code(ctx.parent(parent).value)}`"
        elif isinstance(parent, cst.BinaryOperation):
            blocker = blocker or f"the class uses `{ctx.code(parent)}`"
    return adds_modules, blocker


def _adds_modules(ctx, modules, added, method, call) -> bool:
    if method in ("extend", "update"):
        shape = _container(modules, added)
        return shape is not None and shape == ("ModuleList" if method == "extend" else "ModuleDict", True)
    return modules.builds_module(added) or _local_module(ctx, modules, added, call)


def _local_module(ctx, modules, name, use) -> bool:
    """`layer` in `layer = nn.Linear(...); self.layers.append(layer)`: a local name that the
    function around `use` binds only to freshly built modules."""
    if not isinstance(name, cst.Name):
        return False
    function = next((a for a in ctx.ancestors(use) if isinstance(a, cst.FunctionDef)), None)
    if function is None or any(p.name.value == name.value for p in _params(function)):
        return False
    bound = []
    for node in ctx.nodes_in(function):
        if not isinstance(node, cst.Name) or node.value != name.value:
            continue
        binding = _binding(ctx, node)
        if isinstance(binding, cst.AssignTarget) and binding.target is node:
            bound.append(ctx.parent(binding).value)
        elif binding is not None:
            return False  # bound by a loop, an unpacking, `with ... as`, `+=` ...
    return bool(bound) and all(modules.builds_module(value) for value in bound)


def _binding(ctx, name: cst.Name) -> cst.CSTNode | None:
    """The construct that binds `name` (an AssignTarget, For, AsName ...), None when it is read."""
    child = name
    for ancestor in ctx.ancestors(name):
        if isinstance(ancestor, (cst.AssignTarget, cst.AsName)):
            return ancestor
        if isinstance(ancestor, (cst.For, cst.CompFor, cst.AugAssign, cst.AnnAssign, cst.NamedExpr)):
            return ancestor if child is ancestor.target else None
        if not isinstance(ancestor, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
            return None
        child = ancestor
    return None


def _params(function: cst.FunctionDef):
    p = function.params
    return [*p.posonly_params, *p.params, *p.kwonly_params] + [
        x for x in (p.star_arg, p.star_kwarg) if isinstance(x, cst.Param)
    ]


def _registered_in_loop(ctx, node) -> bool:
    """`self.layers` iterated by a `for` whose body calls `add_module` / `register_module` /
    `setattr`: the items are registered one by one."""
    child = node
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, cst.For) and child is ancestor.iter:
            for inner in ctx.nodes_in(ancestor.body):
                if isinstance(inner, cst.Call):
                    func = inner.func
                    called = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
                    if called in REGISTERING_CALLS:
                        return True
            return False
        child = ancestor
    return False


def _enclosing_class(ctx, node) -> cst.ClassDef | None:
    return next((a for a in ctx.ancestors(node) if isinstance(a, cst.ClassDef)), None)
