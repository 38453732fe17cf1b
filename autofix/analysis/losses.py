"""Which calls compute a loss: PyTorch loss functions and modules (through any import style),
names bound to loss modules (`criterion = nn.CrossEntropyLoss()`), and the naming conventions
users follow (`criterion(...)`, `loss_fn(...)`, `compute_loss(...)`)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.imports import dotted_name

if TYPE_CHECKING:
    from autofix.context import FileContext

LOSS_NAME = re.compile(r"^(criterion|loss_fn|loss_func|lossfn|\w*_criterion|\w*_loss(_fn)?)$")
# `*_loss` functions of these libraries return Python numbers, not tensors.
NUMBER_LIBRARIES = frozenset({"sklearn", "numpy", "scipy", "math", "statistics"})


class LossFacts:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    @cached_property
    def criteria(self) -> dict[str, bool]:
        """`criterion = nn.CrossEntropyLoss()` -> {"criterion": True}; False when its
        `reduction` keeps one value per element (or cannot be read)."""
        found: dict[str, bool] = {}
        for node in self._ctx.nodes:
            if (
                isinstance(node, cst.Assign)
                and isinstance(node.value, cst.Call)
                and self._ctx.torch.is_loss_function(node.value.func)
            ):
                scalar = scalar_reduction(node.value)
                for target in node.targets:
                    code = dotted_name(target.target)
                    if code:
                        found[code] = found.get(code, True) and scalar
        return found

    def is_loss_call(self, call: cst.BaseExpression) -> bool:
        if not isinstance(call, cst.Call):
            return False
        torch = self._ctx.torch
        if torch.is_loss_function(call.func):
            return True
        if any(n.split(".", 1)[0] in NUMBER_LIBRARIES for n in torch.names(call.func)):
            return False  # `sklearn.metrics.log_loss(...)` returns a float
        code = self._ctx.code(call.func)
        return code in self.criteria or bool(LOSS_NAME.match(code.rsplit(".", 1)[-1]))

    def torch_loss(self, call: cst.Call) -> tuple[str, cst.Call] | None:
        """What PyTorch loss `call` computes: its qualified name (`torch.nn.functional.cross_entropy`,
        `torch.nn.CrossEntropyLoss`) and the call holding its settings (the functional call itself,
        or the construction of the criterion called: `nn.CrossEntropyLoss(...)(x, y)`,
        `criterion = nn.BCELoss()` ... `criterion(x, y)`, through `self.` and callers too)."""
        torch = self._ctx.torch
        if torch.is_loss_function(call.func):
            name = sorted(torch.names(call.func))[0]
            if not name.rsplit(".", 1)[-1][:1].isupper():
                return name, call
        built = [call.func] if isinstance(call.func, cst.Call) else self._ctx.bindings.values_of(call.func)
        found = {
            (sorted(torch.names(b.func))[0], b) for b in built
            if isinstance(b, cst.Call) and torch.is_loss_function(b.func)
        }
        return found.pop() if len(found) == 1 else None

    def is_scalar(self, call: cst.Call) -> bool:
        """Does this loss call give one element (so `.item()` works on it)?"""
        code = self._ctx.code(call.func)
        if code in self.criteria:
            return self.criteria[code]
        names = self._ctx.torch.names(call.func)
        if self._ctx.torch.is_loss_function(call.func) and not any(
            n.rsplit(".", 1)[-1][:1].isupper() for n in names
        ):
            return scalar_reduction(call)  # F.mse_loss(...)
        return False


def scalar_reduction(call: cst.Call) -> bool:
    """A PyTorch loss call reduces to one element unless `reduction` says otherwise."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "reduction":
            value = arg.value
            return isinstance(value, cst.SimpleString) and value.evaluated_value in ("mean", "sum", "batchmean")
        if arg.keyword is not None and arg.keyword.value in ("reduce", "size_average"):
            return False
    return True
