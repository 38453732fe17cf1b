"""Who calls a function of this file, and with what: module functions called by name, methods
called through `self.`, and an nn.Module class's `forward` run by calling one of its instances
(`model(x)` with `model = Net()`, `self.block(h)` with `self.block = Block()`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.imports import dotted_name

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
        for call, forward in self._instance_calls():
            sites.setdefault(forward, []).append(CallSite(call, _arguments(forward, call)))
        for found in sites.values():
            found.sort(key=lambda site: self._ctx.order(site.call))
        return sites

    def _instance_calls(self):
        """(`model(x)`, `Net.forward`) for every call of an instance of a module class of the file."""
        ctx = self._ctx
        forwards = {}
        for cls in ctx.modules.classes:
            forward = ctx.modules.method(cls, "forward")
            if forward is not None:
                forwards[cls.name.value] = forward
        instances: dict[str, cst.FunctionDef] = {}
        for node in ctx.nodes:
            if (
                isinstance(node, cst.Assign)
                and isinstance(node.value, cst.Call)
                and isinstance(node.value.func, cst.Name)
                and node.value.func.value in forwards
            ):
                for target in node.targets:
                    key = dotted_name(target.target)
                    if key:
                        instances[key] = forwards[node.value.func.value]
        for node in ctx.nodes:
            if isinstance(node, cst.Call):
                forward = instances.get(dotted_name(node.func))
                if forward is not None:
                    yield node, forward


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
