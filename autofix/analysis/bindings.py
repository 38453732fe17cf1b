"""What a name or `self.` attribute may hold: the expressions assigned to it. A name's own scope
is searched first; a name the scope never binds is looked up in the module; a parameter holds what
the callers in this file pass for it (see callers.py); `self.x` holds whatever any method of the
class assigns to `self.x`. Plain copies (`net = model`) are followed."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.imports import dotted_name

if TYPE_CHECKING:
    from autofix.context import FileContext

MAX_DEPTH = 4


class Bindings:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def values_of(self, expr: cst.BaseExpression, depth: int = 0) -> list[cst.BaseExpression]:
        """The expressions `expr` (a name or dotted name) may have been assigned from, in source
        order; empty when unknown (a loop target, an unpacked tuple, a caller outside the file)."""
        key = dotted_name(expr)
        if not key or depth > MAX_DEPTH:
            return []
        ctx = self._ctx
        scope = ctx.training.scope_of(expr)
        if key.startswith("self."):
            owner = next((a for a in ctx.ancestors(expr) if isinstance(a, cst.ClassDef)), None)
            found = self._assigned.get((owner, key), []) if owner is not None else []
        elif isinstance(scope, cst.FunctionDef) and key.split(".", 1)[0] in _parameters(scope):
            found = []
            if "." not in key:
                for site in ctx.callers.of(scope):
                    argument = site.arguments.get(key)
                    if argument is not None:
                        found.extend(self._followed(argument, depth))
            return found
        else:
            found = self._assigned.get((scope, key)) or self._assigned.get((ctx.module, key), [])
        values = []
        for value in found:
            values.extend(self._followed(value, depth))
        return values

    def reaching(self, name: cst.Name) -> cst.BaseExpression | None:
        """The value of the one assignment `name = value` that every path to this use of `name`
        runs last, in the same scope; None when several may reach it, or it was bound otherwise
        (a parameter, a loop target, an unpacked tuple, `+=`)."""
        ctx = self._ctx
        scope = ctx.training.scope_of(name)
        use = ctx.order(name)
        last = None
        for node in ctx.own_nodes(scope):
            if ctx.order(node) >= use:
                break
            if binds(node, name.value):
                last = node
        if not isinstance(last, cst.Assign) or len(last.targets) != 1:
            return None
        if not isinstance(last.targets[0].target, cst.Name):
            return None
        block = _block_of(ctx, last)
        if not any(a is block for a in ctx.ancestors(name)):
            return None  # assigned in a branch or loop the use is outside of
        for loop in ctx.training.loops_around(name):
            if not any(a is loop for a in ctx.ancestors(last)) and any(
                binds(n, name.value) for n in ctx.own_nodes(loop)
            ):
                return None  # a later iteration may rebind it first
        return last.value

    def _followed(self, value: cst.BaseExpression, depth: int) -> list[cst.BaseExpression]:
        """`value` itself, or what it holds when it is only another name."""
        if isinstance(value, (cst.Name, cst.Attribute)) and dotted_name(value):
            return self.values_of(value, depth + 1) or [value]
        return [value]

    @cached_property
    def _assigned(self) -> dict[tuple[cst.CSTNode, str], list[cst.BaseExpression]]:
        """(scope, dotted target) -> values assigned to it there; `self.x` is keyed by its class."""
        ctx = self._ctx
        found: dict[tuple[cst.CSTNode, str], list[cst.BaseExpression]] = {}
        for node in ctx.nodes:
            if isinstance(node, cst.Assign):
                targets, value = [t.target for t in node.targets], node.value
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                key = dotted_name(target)
                if not key:
                    continue
                if key.startswith("self."):
                    owner = next((a for a in ctx.ancestors(node) if isinstance(a, cst.ClassDef)), None)
                else:
                    owner = ctx.training.scope_of(node)
                found.setdefault((owner, key), []).append(value)
        return found


def binds(node: cst.CSTNode, name: str) -> bool:
    """Does this node (re)bind `name`: assignment, augmented or annotated assignment, loop or
    `with` target, walrus, import?"""
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)):
        targets = [node.target]
    elif isinstance(node, cst.AsName):
        targets = [node.name]
    else:
        return False
    return any(isinstance(n, cst.Name) and n.value == name for t in targets for n in _target_names(t))


def _target_names(target: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return [target]


def _parameters(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}


def _block_of(ctx, node: cst.CSTNode) -> cst.CSTNode | None:
    """The block (indented body or module) whose statement holds `node`."""
    for parent in ctx.ancestors(node):
        if isinstance(parent, (cst.IndentedBlock, cst.Module)):
            return parent
    return None
