"""Is autograd recording where a node runs? `with torch.no_grad():`, `torch.inference_mode()`,
`torch.set_grad_enabled(False)` and functions decorated with them turn it off;
`torch.enable_grad()`, `set_grad_enabled(True)` and `inference_mode(False)` turn it back on.
The innermost context decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext

NO_GRAD = frozenset(
    {
        "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
    }
)
ENABLE_GRAD = frozenset({"torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})


class GradMode:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def state(self, expr: cst.BaseExpression) -> bool | None:
        """True: this context turns grad off; False: on (or maybe on); None: not a grad context."""
        func = expr.func if isinstance(expr, cst.Call) else expr
        names = self._ctx.torch.names(func)
        first = expr.args[0].value if isinstance(expr, cst.Call) and expr.args else None
        if names & NO_GRAD:
            return not _is_false(first)  # inference_mode(False) leaves grad on
        if names & ENABLE_GRAD:
            return False
        if names & SET_GRAD_ENABLED and first is not None:
            return _is_false(first)  # `set_grad_enabled(phase == "train")`: grad may be on
        return None

    def of_with(self, block: cst.With) -> bool | None:
        """What a `with` does to grad mode (the last grad item wins)."""
        for item in reversed(block.items):
            state = self.state(item.item)
            if state is not None:
                return state
        return None

    def disabling_items(self, block: cst.With) -> list[cst.WithItem]:
        return [item for item in block.items if self.state(item.item)]

    def disabling_decorator(self, function: cst.FunctionDef) -> cst.Decorator | None:
        for decorator in function.decorators:
            if self.state(decorator.decorator):
                return decorator
        return None

    def disabled_at(self, node: cst.CSTNode) -> bool:
        for parent in self._ctx.ancestors(node):
            if isinstance(parent, cst.With):
                state = self.of_with(parent)
                if state is not None:
                    return state
            elif isinstance(parent, cst.FunctionDef):
                return self.disabling_decorator(parent) is not None
            elif isinstance(parent, (cst.ClassDef, cst.Lambda)):
                return False
        return False


def _is_false(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"
