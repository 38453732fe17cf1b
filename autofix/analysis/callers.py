"""Who calls a function of this file, and with what: every call the training model resolves to
it (module functions by name, methods of `self` and of other objects, an nn.Module class's
`forward` run by calling one of its instances, through the semantic model), with the argument
expression each parameter receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext


@dataclass(frozen=True, eq=False)
class CallSite:
    """One call of a function, with the argument expression each of its parameters receives."""

    call: cst.Call
    arguments: dict[str, cst.BaseExpression]


class Callers:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def of(self, function: cst.FunctionDef) -> list[CallSite]:
        """Every call in this file that runs `function`, in source order."""
        return self._sites.get(function, [])

    @cached_property
    def _sites(self) -> dict[cst.FunctionDef, list[CallSite]]:
        sites: dict[cst.FunctionDef, list[CallSite]] = {}
        for call, helper in self._ctx.training.helper_calls:
            sites.setdefault(helper, []).append(CallSite(call, _arguments(helper, call)))
        for found in sites.values():
            found.sort(key=lambda site: self._ctx.order(site.call))
        return sites


def _arguments(function: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression]:
    """Parameter name -> the expression the call passes for it. `self` receives no argument
    when a method is called through an attribute or an instance (`model(x)` runs
    `forward(self, x)`); arguments after a `*args` are not matched to positions."""
    params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    if params[:1] == ["self"] and (
        isinstance(call.func, cst.Attribute) or function.name.value == "forward"
    ):
        params = params[1:]
    mapping = {}
    for name, arg in zip(params, call.args):
        if arg.keyword is not None or arg.star:
            break
        mapping[name] = arg.value
    for arg in call.args:
        if arg.keyword is not None:
            mapping[arg.keyword.value] = arg.value
    return mapping
