"""Where code adds trainable things to a module that already exists: `model.fc = nn.Linear(...)`,
`model.classifier[-1] = nn.Linear(...)`, `model.add_module("head", ...)`,
`setattr(model, "head", ...)`, `model.scale = nn.Parameter(...)`. Each write names the module
path it changes (`model.fc`), so it can be matched with what an optimizer was built over."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.vocabulary import parameterless
from autofix.analysis.imports import dotted_name

if TYPE_CHECKING:
    from autofix.context import FileContext

_REGISTERS = ("add_module", "register_module", "register_parameter")


@dataclass(frozen=True, eq=False)
class ModuleWrite:
    node: cst.CSTNode  # the Assign, or the add_module / setattr call
    path: str  # the module path written: `model.fc`, `model.classifier` for `[...] =`
    shown: str  # how the code names it: `model.fc`, `model.classifier[-1]`
    value: cst.BaseExpression  # what is put there


class ModuleWrites:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    @cached_property
    def writes(self) -> list[ModuleWrite]:
        """Every write of a module with parameters (or of a Parameter) into an attribute or an
        item of another object, outside `__init__` methods (which build the module itself)."""
        found = []
        for node in self._ctx.nodes:
            for path, shown, value in self._written(node):
                if self.is_trainable(value) and not self._in_init(node):
                    found.append(ModuleWrite(node, path, shown, value))
        return found

    def _written(self, node: cst.CSTNode):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                written = target.target
                if isinstance(written, cst.Subscript):
                    written = written.value
                elif not isinstance(written, cst.Attribute):
                    continue
                path = dotted_name(written)
                if path:
                    yield path, self._ctx.code(target.target), node.value
        elif isinstance(node, cst.Call) and len(node.args) >= 2:
            func = node.func
            args = [a.value for a in node.args]
            if isinstance(func, cst.Attribute) and func.attr.value in _REGISTERS:
                owner, name, value = dotted_name(func.value), args[0], args[1]
            elif isinstance(func, cst.Name) and func.value == "setattr" and len(args) == 3:
                owner, name, value = dotted_name(args[0]), args[1], args[2]
            else:
                return
            if owner and isinstance(name, cst.SimpleString):
                path = f"{owner}.{name.evaluated_value}"
                yield path, path, value

    def is_trainable(self, value: cst.BaseExpression) -> bool:
        """`nn.Linear(...)`, a module class of this file, `nn.Sequential(..., nn.Linear(...))`,
        `nn.Parameter(...)`; not a module without parameters (`nn.Identity()`, `nn.ReLU()`)."""
        if not isinstance(value, cst.Call):
            return False
        names = self._ctx.torch.names(value.func)
        if any(n.endswith(".Parameter") for n in names):
            return True
        if not self._ctx.modules.builds_module(value):
            return False
        if any(n.rsplit(".", 1)[-1] in ("Sequential", "ModuleList", "ModuleDict") for n in names):
            return any(self.is_trainable(a.value) for a in value.args) or any(
                isinstance(e, cst.Element) and self.is_trainable(e.value)
                for a in value.args
                if isinstance(a.value, (cst.List, cst.Tuple))
                for e in a.value.elements
            )
        return not any(parameterless(n.rsplit(".", 1)[-1]) for n in names)

    def _in_init(self, node: cst.CSTNode) -> bool:
        functions = (a for a in self._ctx.ancestors(node) if isinstance(a, cst.FunctionDef))
        function = next(functions, None)
        return function is not None and function.name.value == "__init__" and any(
            isinstance(a, cst.ClassDef) and a in self._ctx.modules.classes
            for a in self._ctx.ancestors(function)
        )

