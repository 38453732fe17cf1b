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


def _parameters(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
