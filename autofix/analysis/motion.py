"""Can a statement move? A line that a fix moves must not pass an assignment to a name it reads,
nor a use of a name it assigns, or it would compute something else in its new place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext

_BINDERS = (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr, cst.CompFor)


def crosses_binding(
    ctx: "FileContext", moved: cst.CSTNode, destination: cst.CSTNode, after: bool = False
) -> bool:
    """Would moving `moved` to just before `destination` (or just after it, with `after`) pass
    an assignment to a name it reads, or any use of a name it assigns?"""
    names = [n for n in ctx.nodes_in(moved) if isinstance(n, cst.Name)]
    reads = {n.value for n in names if not is_bound(ctx, n)}
    assigns = {n.value for n in names if is_bound(ctx, n)}
    target = ctx.order(destination) + (len(ctx.nodes_in(destination)) if after else 0)
    low, high = sorted((ctx.order(moved), target))
    own = {id(n) for n in ctx.nodes_in(moved)}
    for node in ctx.nodes[low:high]:
        if id(node) in own or not isinstance(node, cst.Name):
            continue
        if node.value in assigns or (node.value in reads and is_bound(ctx, node)):
            return True
    return False


def is_bound(ctx: "FileContext", name: cst.Name) -> bool:
    """Is this occurrence of a name a target of an assignment, a `for` or a walrus?"""
    child = name
    for parent in ctx.ancestors(name):
        if isinstance(parent, _BINDERS):
            return getattr(parent, "target", None) is child
        if not isinstance(parent, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
            return False
        child = parent
    return False
