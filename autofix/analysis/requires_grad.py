"""Does a value surely not require grad? Data from a loader, tensors made without
`requires_grad=True`, detached values and constants do not; a function's parameter does not
when every call of that function in the file passes such a value. Anything computed from a
module, a parameter, or code the analysis cannot see might."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.dataflow import Grad

if TYPE_CHECKING:
    from autofix.context import FileContext

MAX_CALLER_DEPTH = 3


class RequiresGrad:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def surely_not(self, expr: cst.BaseExpression, depth: int = 0) -> bool:
        """True when `expr` surely holds no tensor that requires grad where it is evaluated."""
        value = self._ctx.gradients.value_at(expr)
        if value is None or value.grad in (Grad.GRAD, Grad.UNKNOWN):
            return False
        if value.grad is Grad.CUT:
            return True
        scope = self._ctx.training.scope_of(expr)
        # Iterating a container gives data unless it is `.parameters()` (then the value would
        # carry gradient), so the containers a loop walks need no look at their callers.
        for name in value.deps - {"self"} - self._iterated_in(scope):
            if isinstance(scope, cst.FunctionDef) and name in _parameter_names(scope):
                if not self._every_caller_passes_data(scope, name, depth):
                    return False
            elif name not in self._bound_in(scope):
                return False  # a global, a closure variable: could be anything
        return True

    def _every_caller_passes_data(self, function: cst.FunctionDef, name: str, depth: int) -> bool:
        if depth >= MAX_CALLER_DEPTH:
            return False
        sites = self._ctx.callers.of(function)
        for site in sites:
            argument = site.arguments.get(name)
            if argument is None:
                if not _literal(_default(function, name)):
                    return False
            elif not self.surely_not(argument, depth + 1):
                return False
        return bool(sites)

    def _iterated_in(self, scope: cst.CSTNode) -> frozenset[str]:
        return self._iterated_names.get(scope, frozenset())

    @cached_property
    def _iterated_names(self) -> dict[cst.CSTNode, frozenset[str]]:
        """Names each scope iterates over (`loader` in `for x, y in enumerate(loader)`)."""
        found: dict[cst.CSTNode, frozenset[str]] = {}
        for scope in self._scopes:
            names = set()
            for node in self._ctx.own_nodes(scope)[1:]:
                if isinstance(node, (cst.For, cst.CompFor)):
                    names.update(n.value for n in self._ctx.nodes_in(node.iter) if isinstance(n, cst.Name))
            found[scope] = frozenset(names)
        return found

    @property
    def _scopes(self):
        return (self._ctx.module, *(n for n in self._ctx.nodes if isinstance(n, cst.FunctionDef)))

    def _bound_in(self, scope: cst.CSTNode) -> frozenset[str]:
        return self._bound_names.get(scope, frozenset())

    @cached_property
    def _bound_names(self) -> dict[cst.CSTNode, frozenset[str]]:
        """Names each function (and the module) binds itself: assignments, loop and `with`
        targets, imports."""
        found: dict[cst.CSTNode, frozenset[str]] = {}
        for scope in self._scopes:
            names = set()
            for node in self._ctx.own_nodes(scope)[1:]:
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        names.update(_names_in(target.target))
                elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
                    names.update(_names_in(node.target))
                elif isinstance(node, cst.AsName):
                    names.update(_names_in(node.name))
                elif isinstance(node, cst.ImportAlias):
                    names.add((node.evaluated_alias or node.evaluated_name).split(".", 1)[0])
            found[scope] = frozenset(names)
        return found


def _parameter_names(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}


def _default(function: cst.FunctionDef, name: str) -> cst.BaseExpression | None:
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name:
            return param.default
    return None


def _literal(node: cst.BaseExpression | None) -> bool:
    """`None`, `True`, `0.5`, `"mean"`: a default that is no tensor."""
    if isinstance(node, cst.Name):
        return node.value in ("None", "True", "False")
    return isinstance(node, (cst.Integer, cst.Float, cst.SimpleString))


def _names_in(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in _names_in(e.value)}
    if isinstance(target, cst.StarredElement):
        return _names_in(target.value)
    return set()
