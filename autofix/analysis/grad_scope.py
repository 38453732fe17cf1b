"""Is autograd off where a node runs, at any depth: inside `with torch.no_grad()` (and friends) or
a function decorated with it (gradmode.py), after a `torch.set_grad_enabled(False)` statement of
the same scope, or in a function whose every call in this file runs with autograd off."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.gradmode import SET_GRAD_ENABLED

if TYPE_CHECKING:
    from autofix.context import FileContext

MAX_CALLER_DEPTH = 3


class GradScope:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def disabled_at(self, node: cst.CSTNode, depth: int = 0) -> bool:
        ctx = self._ctx
        if ctx.grad_mode.disabled_at(node) or self._switched_off_before(node):
            return True
        scope = ctx.training.scope_of(node)
        if not isinstance(scope, cst.FunctionDef) or depth >= MAX_CALLER_DEPTH:
            return False
        sites = ctx.callers.of(scope)
        return bool(sites) and all(self.disabled_at(site.call, depth + 1) for site in sites)

    def _switched_off_before(self, node: cst.CSTNode) -> bool:
        """The last `torch.set_grad_enabled(flag)` statement of the scope before `node` turns
        autograd off."""
        ctx = self._ctx
        scope = ctx.training.scope_of(node)
        state = None
        for statement in ctx.own_nodes(scope):
            if ctx.order(statement) >= ctx.order(node):
                break
            if isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call):
                if ctx.torch.is_any(statement.value.func, SET_GRAD_ENABLED):
                    state = ctx.grad_mode.state(statement.value)
        return bool(state)
