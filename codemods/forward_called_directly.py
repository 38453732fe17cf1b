from __future__ import annotations

import enum
import re
import libcst as cst

from autofix.analysis.imports import dotted_name
from autofix.rule import Fix, Rule, Safety, Violation, replace


class ForwardCalledDirectly(Rule):
    name = "forward-called-directly"
    summary = "`module.forward(x)` is called instead of `module(x)`, bypassing the module's hooks"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for calls `model.forward(...)` on an `nn.Module`: a name built from a `torch.nn`
constructor or from an `nn.Module` subclass of the file (also through `.to(device)` and the
like), `self.<attr>` assigned such a module, an element of an `nn.ModuleList` / `nn.Sequential`
/ `nn.ModuleDict` (by index or in a `for` loop), a parameter annotated `nn.Module`, or, when
nothing in the file says what it is, a name such as `model`, `net`, `encoder`, `generator`,
`self.backbone`.

Left alone: `super().forward(...)`, `self.forward(...)`, unbound calls such as
`Base.forward(self, x)` or `nn.Linear.forward(self, x)`; objects of classes of the file that are
not modules and modules whose class overrides `__call__`; `torch.jit` / `torch.compile` /
`torch.fx` / `torch.export` results and modules compiled in place with `model.compile()`;
`model.forward` used without being called (`checkpoint(block.forward, x)`). Names alone decide
nothing in a file that defines a non-module class with a `forward` method, or that imports
another framework (MXNet, Paddle, TensorFlow, JAX ...).

## Why is this bad?
`nn.Module.__call__` does more than call `forward`: it runs the forward pre-hooks, the forward
hooks and the backward hooks (`register_full_backward_hook`). Calling `forward` directly skips all
of them, silently. Your own hooks (feature extraction, gradient logging) see nothing, and so do
the hooks PyTorch and libraries install: lazy modules (`nn.LazyLinear`) initialise their
parameters in a pre-hook, so `forward` raises "Attempted to use an uninitialized parameter in
<built-in function linear>. This error happens when you are using a `LazyModule` ...";
`torch.nn.utils.prune` recomputes `weight` in a pre-hook, so the second backward raises "Trying
to backward through the graph a second time"; FSDP2 (`fully_shard`), eager-mode quantization
observers and the composable activation `checkpoint` are hooks as well.

## Example
```python
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
model.register_forward_hook(save_features)
out = model.forward(x)
```

## Use instead
```python
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
model.register_forward_hook(save_features)
out = model(x)
```

## Fix safety
Safe. The arguments are kept exactly. When the module and PyTorch register no hook,
`module(x)` calls `module.forward(x)` and nothing else, so the result is the same; when hooks
exist, running them is what the module's owner asked for. Modules whose class overrides
`__call__` are not reported.
"""

    def check(self, ctx):
        calls = [
            node
            for node in ctx.nodes
            if isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "forward"
        ]
        if not calls:
            return
        modules = _Modules(ctx)
        if not modules.uses_torch:
            return
        for node in calls:
            receiver = node.func.value
            if _first_arg_is_self(node) or not modules.is_module(receiver, node):
                continue
            name = ctx.code(receiver)
            arguments = ctx.code(node)[len(ctx.code(node.func)) :].strip()
            if len(arguments) > 40 or "\n" in arguments:
                arguments = "(...)"
            fix = None
            if "#" not in ctx.code(node.func):
                fix = Fix.of(replace(node.func, receiver))
            yield Violation(
                node,
                f"`{name}.forward{arguments}` bypasses the hooks of `{name}` "
                f"(forward, pre-forward and backward hooks): call `{name}{arguments}`",
                fix,
            )


def _first_arg_is_self(call: cst.Call) -> bool:
    """`Base.forward(self, x)`: an unbound call of a parent class's forward."""
    first = call.args[0] if call.args else None
    return (
        first is not None
        and first.keyword is None
        and isinstance(first.value, cst.Name)
        and first.value.value == "self"
    )


# -- what an expression is -------------------------------------------------------------------


class Kind(enum.Enum):
    MODULE = "module"
    SEQUENCE = "sequence"  # nn.ModuleList / nn.Sequential: a module whose elements are modules
    MAPPING = "mapping"  # nn.ModuleDict: a module whose values are modules
    NOT = "not"  # known not to be a module whose `forward` `__call__` runs
    UNKNOWN = "unknown"
    IGNORE = "ignore"  # `x = None`: says nothing


MODULE_KINDS = (Kind.MODULE, Kind.SEQUENCE, Kind.MAPPING)

# Module methods that return the module itself.
_SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval",
     "requires_grad_", "to_empty", "share_memory", "apply", "type", "xpu", "mps", "ipu"}
)
# Results that are not plain eager modules: their `forward` and `__call__` differ by design.
_NOT_EAGER = ("torch.jit.", "torch.compile", "torch.fx.", "torch.export.", "torch.onnx.", "torch._dynamo.")
_BUILTIN_TYPES = frozenset(
    {"int", "float", "str", "bool", "bytes", "list", "dict", "tuple", "set", "object", "Tensor",
     "torch.Tensor", "np.ndarray", "numpy.ndarray", "Callable", "typing.Callable"}
)
_NEUTRAL_BASES = frozenset({"object", "ABC", "abc.ABC", "Generic", "typing.Generic", "Protocol"})
_TORCH_PACKAGES = frozenset(
    {"torch", "torchvision", "torchaudio", "torchtext", "lightning", "pytorch_lightning",
     "transformers", "timm", "diffusers"}
)
# Other frameworks whose models have a `forward` of their own: a file importing one of them
# may name such models `model` too.
_OTHER_FRAMEWORKS = frozenset(
    {"mxnet", "paddle", "oneflow", "mindspore", "jittor", "tensorflow", "keras", "chainer",
     "megengine", "tinygrad", "dynet", "caffe", "theano", "jax", "flax", "haiku", "onnxruntime"}
)
# Names that, when nothing in the file says otherwise, denote a module.
_MODULE_WORDS = frozenset(
    {"model", "net", "network", "encoder", "decoder", "generator", "discriminator", "backbone",
     "classifier", "critic", "actor", "teacher", "student", "mlp", "cnn", "rnn", "lstm", "gru",
     "transformer", "autoencoder", "vae", "unet", "resnet"}
)
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.Module, cst.ListComp, cst.SetComp,
           cst.DictComp, cst.GeneratorExp)


def _is_module_word(name: str) -> bool:
    if not name or name[0].isupper():
        return False  # `Encoder`: a class, not an instance
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    for token in re.split(r"[_\d]+", spaced):
        if token in _MODULE_WORDS or (len(token) > 3 and token.endswith("net")):
            return True
    return False


class _Binding:
    """One place a name (or `self.attr`) gets a value: `value` is the expression assigned, or
    the iterable of a `for` (`element` is the index path of the target inside its tuple), or an
    annotation; `fixed` is a verdict known without looking at any value."""

    def __init__(self, value=None, *, annotation=None, iterated=False, element=(), fixed=None):
        self.value = value
        self.annotation = annotation
        self.iterated = iterated
        self.element = element
        self.fixed = fixed


class _Modules:
    """Which expressions of one file denote an `nn.Module` (a private fact of this rule; it
    belongs in autofix/analysis/ once another rule needs it)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.uses_torch = False
        self.classes: dict[str, list[cst.ClassDef]] = {}
        self.names: dict[tuple[cst.CSTNode, str], list[_Binding]] = {}
        self.attributes: dict[tuple[cst.ClassDef, str], list[_Binding]] = {}
        self.compiled: set[str] = set()
        self.other_framework = False
        self._class_kinds: dict[int, Kind] = {}
        self._resolving: set = set()
        self._collect()
        # A class of the file whose `forward` is not what `instance(x)` runs (it overrides
        # `__call__`, or it is no module at all): a name the file does not explain may be one of
        # its instances, so names alone (`model`, `net`) decide nothing.
        self.names_decide = not self.other_framework and not any(
            _defines(c, "forward") and (_defines(c, "__call__") or self._class_kind(c) is Kind.NOT)
            for cs in self.classes.values()
            for c in cs
        )

    # -- collection ------------------------------------------------------------------------

    def _scope(self, node: cst.CSTNode) -> cst.CSTNode:
        for parent in self.ctx.ancestors(node):
            if isinstance(parent, _SCOPES):
                return parent
        return self.ctx.module

    def _bind(self, scope: cst.CSTNode, target: cst.CSTNode, binding: _Binding) -> None:
        if isinstance(target, cst.Name):
            self.names.setdefault((scope, target.value), []).append(binding)
        elif isinstance(target, cst.Attribute):
            dotted = dotted_name(target)
            head, _, attr = dotted.partition(".")
            if head == "self" and "." not in attr and attr:
                owner = self._class_of_method(scope)
                if owner is not None:
                    self.attributes.setdefault((owner, attr), []).append(binding)
                    return
            if dotted:
                self.names.setdefault((scope, dotted), []).append(binding)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for index, element in enumerate(target.elements):
                inner = element.value
                if isinstance(element, cst.StarredElement):
                    self._bind(scope, inner, _Binding(fixed=Kind.NOT))
                elif binding.iterated:
                    self._bind(
                        scope, inner,
                        _Binding(binding.value, iterated=True, element=(*binding.element, index)),
                    )
                else:
                    self._bind(scope, inner, _Binding(fixed=Kind.UNKNOWN))

    def _class_of_method(self, scope: cst.CSTNode) -> cst.ClassDef | None:
        if not isinstance(scope, cst.FunctionDef):
            return None
        block = self.ctx.parent(scope)
        owner = self.ctx.parent(block) if block is not None else None
        return owner if isinstance(owner, cst.ClassDef) else None

    def _collect(self) -> None:
        for node in self.ctx.nodes:
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                self._collect_import(node)
            elif isinstance(node, cst.ClassDef):
                self.classes.setdefault(node.name.value, []).append(node)
                self._bind(self._scope(node), node.name, _Binding(fixed=Kind.NOT))
                for stmt in node.body.body:  # `encoder: nn.Module` in the class body
                    for small in getattr(stmt, "body", ()) if isinstance(stmt, cst.SimpleStatementLine) else ():
                        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                            self.attributes.setdefault((node, small.target.value), []).append(
                                _Binding(small.value, annotation=small.annotation.annotation)
                            )
            elif isinstance(node, cst.FunctionDef):
                self._bind(self._scope(node), node.name, _Binding(fixed=Kind.NOT))
                params = node.params
                for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                    annotation = param.annotation.annotation if param.annotation else None
                    self._bind(node, param.name, _Binding(annotation=annotation))
                for star in (params.star_arg, params.star_kwarg):
                    if isinstance(star, cst.Param):
                        self._bind(node, star.name, _Binding(fixed=Kind.NOT))
            elif isinstance(node, cst.Lambda):
                for param in node.params.params:
                    self._bind(node, param.name, _Binding(fixed=Kind.UNKNOWN))
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    self._bind(self._scope(node), target.target, _Binding(node.value))
            elif isinstance(node, cst.AnnAssign):
                self._bind(
                    self._scope(node), node.target,
                    _Binding(node.value, annotation=node.annotation.annotation),
                )
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                if node.func.attr.value == "compile":
                    self.compiled.add(self.ctx.code(node.func.value))
            elif isinstance(node, cst.NamedExpr):
                self._bind(self._scope(node), node.target, _Binding(node.value))
            elif isinstance(node, cst.For):
                self._bind(self._scope(node), node.target, _Binding(node.iter, iterated=True))
            elif isinstance(node, cst.CompFor):
                self._bind(self._scope(node), node.target, _Binding(node.iter, iterated=True))
            elif isinstance(node, cst.AsName):
                owner = self.ctx.parent(node)
                if isinstance(owner, (cst.WithItem, cst.ExceptHandler)):
                    self._bind(self._scope(owner), node.name, _Binding(fixed=Kind.UNKNOWN))

    def _collect_import(self, node: cst.Import | cst.ImportFrom) -> None:
        scope = self._scope(node)
        if isinstance(node, cst.ImportFrom):
            module = dotted_name(node.module) if node.module is not None else ""
            top = module.split(".", 1)[0] if not node.relative else ""
            self.uses_torch |= top in _TORCH_PACKAGES
            self.other_framework |= top in _OTHER_FRAMEWORKS
            if isinstance(node.names, cst.ImportStar):
                return
        for alias in node.names:
            if isinstance(node, cst.Import):
                top = dotted_name(alias.name).split(".", 1)[0]
                self.uses_torch |= top in _TORCH_PACKAGES
                self.other_framework |= top in _OTHER_FRAMEWORKS
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Attribute):  # `import a.b` binds `a`
                while isinstance(local, cst.Attribute):
                    local = local.value
            self._bind(scope, local, _Binding(fixed=Kind.NOT))

    # -- questions ---------------------------------------------------------------------------

    def is_module(self, receiver: cst.BaseExpression, at: cst.CSTNode) -> bool:
        if isinstance(receiver, cst.Name) and receiver.value in ("self", "cls"):
            return False
        if self.ctx.code(receiver) in self.compiled:
            return False  # `model.compile()`: `model(x)` runs the compiled code, `forward` does not
        kind = self.kind(receiver, at)
        if kind in MODULE_KINDS:
            return True
        if kind is not Kind.UNKNOWN or not self.names_decide:
            return False
        if isinstance(receiver, (cst.Name, cst.Attribute)) and dotted_name(receiver):
            return _is_module_word(dotted_name(receiver).rsplit(".", 1)[-1])
        return False

    def kind(self, expr: cst.BaseExpression, at: cst.CSTNode) -> Kind:
        """What `expr`, written at `at`, denotes, from what the file assigns to it."""
        if isinstance(expr, cst.Name):
            if expr.value == "None":
                return Kind.IGNORE
            return self._resolve(expr.value, at)
        if isinstance(expr, cst.Attribute):
            dotted = dotted_name(expr)
            if not dotted:
                return Kind.UNKNOWN
            if self._class_reference(expr) is not Kind.UNKNOWN:
                return Kind.NOT  # `nn.Linear`: a class
            head, _, attr = dotted.partition(".")
            if head == "self" and "." not in attr:
                return self._resolve_attribute(attr, at)
            return self._resolve(dotted, at)
        if isinstance(expr, cst.Call):
            return self._call_kind(expr, at)
        if isinstance(expr, cst.Subscript):
            container = self.kind(expr.value, at)
            return Kind.MODULE if container in (Kind.SEQUENCE, Kind.MAPPING) else Kind.UNKNOWN
        if isinstance(expr, cst.IfExp):
            return _combine([self.kind(expr.body, at), self.kind(expr.orelse, at)])
        if isinstance(expr, (cst.Await, cst.Yield, cst.BooleanOperation)):
            return Kind.UNKNOWN
        return Kind.NOT  # literals, arithmetic, lambdas, comprehensions ...

    def _resolve(self, name: str, at: cst.CSTNode) -> Kind:
        first = True
        for scope in (a for a in self.ctx.ancestors(at) if isinstance(a, _SCOPES)):
            if isinstance(scope, cst.ClassDef) and not first:
                continue  # a class body's names are not visible from its methods
            first = False
            bindings = self.names.get((scope, name))
            if bindings:
                return self._bindings_kind((scope, name), bindings, at)
        return Kind.UNKNOWN

    def _resolve_attribute(self, attr: str, at: cst.CSTNode) -> Kind:
        method = next((a for a in self.ctx.ancestors(at) if isinstance(a, cst.FunctionDef)), None)
        owner = self._class_of_method(method) if method is not None else None
        seen = []
        while owner is not None and not any(owner is s for s in seen):
            seen.append(owner)
            bindings = self.attributes.get((owner, attr))
            if bindings:
                return self._bindings_kind((owner, attr), bindings, owner)
            owner = self._file_base(owner)
        return Kind.UNKNOWN

    def _file_base(self, cls: cst.ClassDef) -> cst.ClassDef | None:
        for base in cls.bases:
            if isinstance(base.value, cst.Name) and base.value.value in self.classes:
                return self.classes[base.value.value][0]
        return None

    def _bindings_kind(self, key, bindings: list[_Binding], at: cst.CSTNode) -> Kind:
        if key in self._resolving:
            return Kind.UNKNOWN
        self._resolving.add(key)
        try:
            return _combine([self._binding_kind(b, at) for b in bindings])
        finally:
            self._resolving.discard(key)

    def _binding_kind(self, binding: _Binding, at: cst.CSTNode) -> Kind:
        if binding.fixed is not None:
            return binding.fixed
        if binding.iterated:
            return self._element_kind(binding.value, binding.element, at)
        kinds = []
        if binding.annotation is not None:
            kinds.append(self._annotation_kind(binding.annotation))
        if binding.value is not None:
            kinds.append(self.kind(binding.value, binding.value))
        return _combine(kinds) if kinds else Kind.UNKNOWN

    def _element_kind(self, iterable: cst.BaseExpression, path: tuple[int, ...], at) -> Kind:
        """`for layer in self.layers` over an `nn.ModuleList`, `for name, m in
        net.named_children()`, `for i, block in enumerate(self.blocks)`."""
        if isinstance(iterable, cst.Call):
            func = iterable.func
            if isinstance(func, cst.Name) and func.value == "enumerate" and iterable.args:
                if path[:1] == (1,):
                    return self._element_kind(iterable.args[0].value, path[1:], at)
                return Kind.UNKNOWN
            if isinstance(func, cst.Attribute) and self.kind(func.value, iterable) in MODULE_KINDS:
                method = func.attr.value
                if method in ("children", "modules") and not path:
                    return Kind.MODULE
                if method in ("named_children", "named_modules") and path == (1,):
                    return Kind.MODULE
                if method == "values" and not path and self.kind(func.value, iterable) is Kind.MAPPING:
                    return Kind.MODULE
            return Kind.UNKNOWN
        if not path and self.kind(iterable, iterable) is Kind.SEQUENCE:
            return Kind.MODULE
        return Kind.UNKNOWN

    def _annotation_kind(self, annotation: cst.BaseExpression) -> Kind:
        if isinstance(annotation, cst.Subscript):
            if dotted_name(annotation.value).rsplit(".", 1)[-1] not in ("Optional", "Union"):
                return Kind.NOT  # `list[nn.Module]`, `Callable[..., Tensor]`: a container, a function
            kinds = [  # Optional[nn.Module]
                self._annotation_kind(e.slice.value)
                for e in annotation.slice
                if isinstance(e.slice, cst.Index)
            ]
            return _combine(kinds) if kinds else Kind.UNKNOWN
        if isinstance(annotation, cst.BinaryOperation):  # nn.Module | None
            return _combine([self._annotation_kind(annotation.left), self._annotation_kind(annotation.right)])
        if isinstance(annotation, cst.Name) and annotation.value == "None":
            return Kind.IGNORE
        if dotted_name(annotation) in _BUILTIN_TYPES:
            return Kind.NOT
        return self._class_reference(annotation)

    def _class_reference(self, expr: cst.BaseExpression) -> Kind:
        """The kind of the instances of the class `expr` names: `nn.Linear` -> MODULE."""
        last = self.ctx.modules.library_module_class(expr)
        if last is not None:
            return {"ModuleList": Kind.SEQUENCE, "Sequential": Kind.SEQUENCE, "ModuleDict": Kind.MAPPING}.get(
                last, Kind.MODULE
            )
        if isinstance(expr, cst.Name) and expr.value in self.classes:
            return self._class_kind(self.classes[expr.value][0])
        return Kind.UNKNOWN

    def _class_kind(self, cls: cst.ClassDef) -> Kind:
        key = id(cls)
        if key in self._class_kinds:
            return self._class_kinds[key]
        self._class_kinds[key] = Kind.UNKNOWN  # a cycle says nothing
        if self._overrides_call(cls, []):
            kind = Kind.NOT  # `obj(x)` is not `obj.forward(x)`: the fix would change behaviour
        elif any(cls is c for c in self.ctx.modules.classes):
            kind = Kind.MODULE
        else:
            kinds = []
            for base in (b.value for b in cls.bases if b.keyword is None):
                if dotted_name(base) in _NEUTRAL_BASES or isinstance(base, cst.Subscript):
                    kinds.append(Kind.NOT)
                    continue
                reference = self._class_reference(base)
                kinds.append(Kind.MODULE if reference in MODULE_KINDS else reference)
            if any(k is Kind.MODULE for k in kinds):
                kind = Kind.MODULE
            elif all(k is Kind.NOT for k in kinds):
                kind = Kind.NOT
            else:
                kind = Kind.UNKNOWN
        self._class_kinds[key] = kind
        return kind

    def _overrides_call(self, cls: cst.ClassDef, seen: list[cst.ClassDef]) -> bool:
        """Does `cls`, or a class of the file it derives from, define `__call__`?"""
        if any(cls is s for s in seen):
            return False
        seen.append(cls)
        if _defines(cls, "__call__"):
            return True
        return any(
            isinstance(b.value, cst.Name)
            and any(self._overrides_call(c, seen) for c in self.classes.get(b.value.value, ()))
            for b in cls.bases
        )

    def _call_kind(self, call: cst.Call, at: cst.CSTNode) -> Kind:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in _SELF_RETURNING:
            if not self.ctx.torch.names(func):
                inner = self.kind(func.value, at)
                return inner if inner in MODULE_KINDS or inner is Kind.UNKNOWN else Kind.NOT
        qualified = self.ctx.torch.names(func)
        if any(q.startswith(_NOT_EAGER) for q in qualified):
            return Kind.NOT
        return self._class_reference(func)


def _defines(cls: cst.ClassDef, name: str) -> bool:
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets
                ):
                    return True
    return False


def _combine(kinds: list[Kind]) -> Kind:
    """Several bindings: any non-module one wins; modules (with unknowns) make a module."""
    kinds = [k for k in kinds if k is not Kind.IGNORE]
    if not kinds:
        return Kind.UNKNOWN
    if Kind.NOT in kinds:
        return Kind.NOT
    known = [k for k in kinds if k in MODULE_KINDS]
    if not known:
        return Kind.UNKNOWN
    return known[0] if all(k is known[0] for k in known) else Kind.MODULE

