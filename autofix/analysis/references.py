"""One def-use index of the file: which scope every name belongs to, where each name is bound
and read, and which reads an assignment can reach."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext

SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.Module)


class References:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def scope_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The function, lambda, class or module whose names `node` reads and binds."""
        for parent in self._ctx.ancestors(node):
            if isinstance(parent, SCOPES):
                return parent
        return self._ctx.module

    @cached_property
    def _uses(self) -> dict[tuple[int, str], list[tuple[cst.Name, bool]]]:
        """(scope order, name) -> every use, in source order, with whether it binds the name."""
        ctx = self._ctx
        uses: dict[tuple[int, str], list[tuple[cst.Name, bool]]] = {}
        for node in ctx.nodes:
            if not isinstance(node, cst.Name):
                continue
            parent = ctx.parent(node)
            if isinstance(parent, cst.Attribute) and node is parent.attr:
                continue
            if isinstance(parent, (cst.Arg,)) and node is parent.keyword:
                continue
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef)) and node is parent.name:
                scope, binds = self.scope_of(parent), True
            else:
                scope, binds = self.scope_of(node), _binds(ctx, node)
            uses.setdefault((ctx.order(scope), node.value), []).append((node, binds))
        return uses

    def uses(self, name: str, scope: cst.CSTNode) -> list[tuple[cst.Name, bool]]:
        return self._uses.get((self._ctx.order(scope), name), [])

    def reads(self, name: str, statement: cst.CSTNode) -> list[cst.Name]:
        """The reads of `name` that the binding in `statement` may reach: later reads of the same
        scope up to a rebinding in the same block, reads earlier in an enclosing loop's body
        (the next iteration), and reads in functions defined in the scope."""
        ctx = self._ctx
        scope = self.scope_of(statement)
        start = ctx.order(statement)
        block = ctx.parent(_statement_of(ctx, statement))
        loops = [a for a in ctx.ancestors(statement) if isinstance(a, (cst.For, cst.While)) and self.scope_of(a) is scope]
        found = []
        stopped = False
        inside = {id(n) for n in ctx.nodes_in(statement)}
        for node, binds in self.uses(name, scope):
            order = ctx.order(node)
            if id(node) in inside:
                continue
            if binds:
                if order > start and ctx.parent(_statement_of(ctx, node)) is block:
                    stopped = True
                continue
            if order > start and not stopped:
                found.append(node)
            elif any(order >= ctx.order(loop) for loop in loops) and order < start:
                found.append(node)
        for node in ctx.nodes_in(scope):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)) and node is not scope:
                if not any(b for _, b in self.uses(name, node)):
                    found.extend(n for n, b in self.uses(name, node) if not b)
        return found


    def dependencies(self, expr: cst.CSTNode, scope: cst.CSTNode | None = None) -> set[str]:
        """The names `expr` is computed from in its scope, directly or through the assignments
        of the scope that bind them (flow-insensitive: any binding may reach)."""
        ctx = self._ctx
        scope = scope or self.scope_of(expr)
        needed: set[str] = set()
        frontier = [n.value for n in ctx.nodes_in(expr) if isinstance(n, cst.Name)]
        while frontier:
            name = frontier.pop()
            if name in needed:
                continue
            needed.add(name)
            for node, binds in self.uses(name, scope):
                if not binds:
                    continue
                statement = _binding_statement(ctx, node)
                value = getattr(statement, "value", None) if statement is not None else None
                if value is not None:
                    frontier.extend(n.value for n in ctx.nodes_in(value) if isinstance(n, cst.Name))
                if isinstance(statement, cst.AugAssign):
                    frontier.append(name)
        return needed


def _binding_statement(ctx, name: cst.Name) -> cst.CSTNode | None:
    for parent in ctx.ancestors(name):
        if isinstance(parent, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)):
            return parent if not isinstance(parent, cst.For) else None
        if isinstance(parent, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            return None
    return None


def _binds(ctx, name: cst.Name) -> bool:
    node: cst.CSTNode = name
    for parent in ctx.ancestors(name):
        if isinstance(parent, cst.AssignTarget) or (isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is node):
            return True
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is node:
            return True
        if isinstance(parent, cst.AsName) or isinstance(parent, cst.Param) and parent.name is node:
            return True
        if isinstance(parent, cst.NamedExpr) and parent.target is node:
            return True
        if isinstance(parent, (cst.Tuple, cst.List, cst.StarredElement, cst.Element)):
            node = parent
            continue
        return False
    return False


def _statement_of(ctx, node: cst.CSTNode) -> cst.CSTNode:
    current = node
    for parent in ctx.ancestors(node):
        if isinstance(parent, (cst.IndentedBlock, cst.Module, cst.SimpleStatementSuite)):
            return current
        current = parent
    return current
