"""Accumulations: statements that add a value to something that may outlive the iteration
(`total += loss`, `total = total + loss`, `losses.append(loss)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext


@dataclass(eq=False)
class Accumulation:
    """`target += value`, `target = f(target, value)` or `target.append(value)`."""

    node: cst.CSTNode  # the AugAssign / Assign / append Call
    statement: cst.CSTNode  # the small statement (for the message)
    target: cst.BaseExpression
    value: cst.BaseExpression
    form: str  # "sum" | "append"
    no_grad: bool = False  # runs under torch.no_grad() and friends


def find_accumulations(ctx: "FileContext") -> list[Accumulation]:
    """Every accumulation of the file, in source order (sums under no_grad build no graph and
    are left out)."""
    return list(_accumulations(ctx))


def _accumulations(ctx) -> Iterator[Accumulation]:
    grad_mode = ctx.grad_mode
    for node in ctx.nodes:
        found = None
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
            found = Accumulation(node, node, node.target, node.value, "sum")
        elif (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.value, (cst.BinaryOperation, cst.UnaryOperation))
        ):
            target = node.targets[0].target
            if isinstance(target, (cst.Name, cst.Attribute, cst.Subscript)) and mentions_in_value(
                ctx, node.value, ctx.code(target)
            ):
                found = Accumulation(node, node, target, node.value, "sum")
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "append"
            and len(node.args) == 1
            and node.args[0].keyword is None
            and not node.args[0].star
        ):
            statement = ctx.parent(node)
            found = Accumulation(
                node, statement if isinstance(statement, cst.Expr) else node,
                node.func.value, node.args[0].value, "append",
            )
        if found is not None:
            found.no_grad = grad_mode.disabled_at(node)
            if found.no_grad and found.form == "sum":
                continue  # `total + loss` under no_grad builds no graph
            yield found


def mentions_in_value(ctx, expr: cst.BaseExpression, code: str) -> bool:
    """Does `expr` use `code` as an arithmetic operand (`total + loss`, `0.9 * ema + ...`)?"""
    if isinstance(expr, cst.Name):
        return expr.value == code
    if isinstance(expr, (cst.Attribute, cst.Subscript)):
        return ctx.code(expr) == code
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, ARITHMETIC):
        return mentions_in_value(ctx, expr.left, code) or mentions_in_value(ctx, expr.right, code)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return mentions_in_value(ctx, expr.expression, code)
    return False


ARITHMETIC = (
    cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Power, cst.MatrixMultiply,
)
