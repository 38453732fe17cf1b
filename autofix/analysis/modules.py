"""Which classes of a file are nn.Module subclasses, and which calls build modules or tensors."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.imports import dotted_name

if TYPE_CHECKING:
    from autofix.context import FileContext

# Module classes outside torch.nn's naming, and library bases that subclass nn.Module (matched by
# the end of their dotted name: `pytorch_lightning.LightningModule`, `transformers.PreTrainedModel`).
OTHER_MODULE_CLASSES = frozenset(
    {
        "torch.distributed.fsdp.FullyShardedDataParallel",
        "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.DataParallel",
    }
)
LIBRARY_MODULE_SUFFIXES = (".LightningModule", ".PreTrainedModel", ".ModelMixin")
NOT_MODULES = frozenset(
    {"Parameter", "ParameterList", "ParameterDict", "Buffer", "UninitializedParameter", "UninitializedBuffer"}
)
NOT_MODULE_PACKAGES = ("torch.nn.functional.", "torch.nn.init.", "torch.nn.utils.", "torch.nn.parameter.")

# Tensor factories whose result is a trainable-looking weight: random or uninitialised values.
WEIGHT_FACTORIES = frozenset(
    {"randn", "rand", "empty", "normal", "randn_like", "rand_like", "empty_like", "randint"}
)
# Factories that also build weights when asked to train (`requires_grad=True`).
ANY_FACTORY = WEIGHT_FACTORIES | frozenset(
    {"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "tensor", "as_tensor", "eye", "arange", "linspace"}
)


class ModuleFacts:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    @cached_property
    def classes(self) -> list[cst.ClassDef]:
        """The file's nn.Module subclasses (directly, through Lightning, or through another
        module class of the same file), in source order."""
        defined = [n for n in self._ctx.nodes if isinstance(n, cst.ClassDef)]
        found: list[cst.ClassDef] = []
        changed = True
        while changed:
            changed = False
            for cls in defined:
                if cls in found:
                    continue
                if any(self._is_module_base(base.value, found) for base in cls.bases):
                    found.append(cls)
                    changed = True
        return sorted(found, key=self._ctx.order)

    def _is_module_base(self, base: cst.BaseExpression, found: list[cst.ClassDef]) -> bool:
        if self.library_module_class(base) is not None:
            return True
        return isinstance(base, cst.Name) and any(c.name.value == base.value for c in found)

    def _is_torch_module_class(self, func: cst.BaseExpression) -> bool:
        return self.library_module_class(func) is not None

    def library_module_class(self, expr: cst.BaseExpression) -> str | None:
        """The class name when `expr` names an nn.Module class of torch or of a library built on
        it, through the file's imports (`nn.Linear` -> "Linear", `pl.LightningModule`), else None."""
        for name in self._ctx.torch.names(expr):
            last = name.rsplit(".", 1)[-1]
            if name in OTHER_MODULE_CLASSES or name.endswith(LIBRARY_MODULE_SUFFIXES):
                return last
            if (
                name.startswith("torch.nn.")
                and not name.startswith(NOT_MODULE_PACKAGES)
                and last[:1].isupper()
                and last not in NOT_MODULES
            ):
                return last
        return None

    def builds_module(self, node: cst.BaseExpression) -> bool:
        """`nn.Linear(...)`, `MyBlock(...)` (a module class of this file), `nn.Sequential(...)`."""
        if not isinstance(node, cst.Call):
            return False
        if self._is_torch_module_class(node.func):
            return True
        return isinstance(node.func, cst.Name) and any(
            c.name.value == node.func.value for c in self.classes
        )

    def tensor_factory(self, node: cst.BaseExpression) -> str | None:
        """The factory name of `torch.randn(...)` (through any alias), else None."""
        if not isinstance(node, cst.Call):
            return None
        for name in self._ctx.torch.names(node.func):
            head, _, last = name.rpartition(".")
            if head == "torch" and last in ANY_FACTORY:
                return last
        return None

    def construction(self, expr: cst.BaseExpression) -> cst.Call | None:
        """The module-building call bound to `expr`, when there is exactly one binding and it
        builds a module: `self.fc` -> `nn.Linear(8, 2)` from `self.fc = nn.Linear(8, 2)` in the
        enclosing class, `softmax` -> `nn.Softmax()` from an assignment anywhere in the file."""
        attribute = self_attribute(expr)
        if attribute is not None:
            owner = next((a for a in self._ctx.ancestors(expr) if isinstance(a, cst.ClassDef)), None)
            if owner is None:
                return None
            values = self._bound(self._ctx.nodes_in(owner), lambda t: self_attribute(t) == attribute)
        elif isinstance(expr, cst.Name):
            values = self._bound(self._ctx.nodes, lambda t: isinstance(t, cst.Name) and t.value == expr.value)
        else:
            return None
        if len(values) == 1 and self.builds_module(values[0]):
            return values[0]
        return None

    @staticmethod
    def _bound(nodes, matches) -> list[cst.BaseExpression]:
        values = []
        for node in nodes:
            if isinstance(node, cst.Assign):
                values.extend(node.value for t in node.targets if matches(t.target))
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and matches(node.target):
                values.append(node.value)
            elif isinstance(node, (cst.For, cst.WithItem)) and any(
                matches(n) for n in _target_names(getattr(node, "target", None) or getattr(node, "asname", None))
            ):
                values.append(None)
        return values

    def method(self, cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
        for statement in cls.body.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
                return statement
        return None


def _target_names(target) -> list[cst.CSTNode]:
    """The names and attributes a `for` target or `as` clause binds."""
    if isinstance(target, cst.AsName):
        target = target.name
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    return [target] if target is not None else []


def self_attribute(node: cst.BaseExpression) -> str | None:
    """`w` for `self.w`."""
    if isinstance(node, cst.Attribute) and dotted_name(node.value) == "self":
        return node.attr.value
    return None
