"""Which output activation produced a value: softmax, log_softmax, sigmoid, or none at all (the
raw output of a linear or convolutional layer, "logits"). Followed through the assignments of the
scope, shape-only ops (`view`, `squeeze`, `clamp`, indexing ...), module calls (`nn.Softmax`
instances, the last layer of an `nn.Sequential`, the `return` of a module class's `forward`) and
the `return` of helper functions of the file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.bindings import binds

if TYPE_CHECKING:
    from autofix.context import FileContext

SOFTMAX, LOG_SOFTMAX, SIGMOID, LOGITS = "softmax", "log_softmax", "sigmoid", "logits"

FUNCTIONS = {
    "torch.softmax": SOFTMAX, "torch.nn.functional.softmax": SOFTMAX, "torch.special.softmax": SOFTMAX,
    "torch.log_softmax": LOG_SOFTMAX, "torch.nn.functional.log_softmax": LOG_SOFTMAX,
    "torch.special.log_softmax": LOG_SOFTMAX,
    "torch.sigmoid": SIGMOID, "torch.nn.functional.sigmoid": SIGMOID, "torch.special.expit": SIGMOID,
    "torch.nn.functional.linear": LOGITS,
}
METHODS = {"softmax": SOFTMAX, "log_softmax": LOG_SOFTMAX, "sigmoid": SIGMOID}
MODULES = {
    "Softmax": SOFTMAX, "LogSoftmax": LOG_SOFTMAX, "Sigmoid": SIGMOID,
    "Linear": LOGITS, "LazyLinear": LOGITS, "Bilinear": LOGITS,
    "Conv1d": LOGITS, "Conv2d": LOGITS, "Conv3d": LOGITS,
}
# Ops that keep what the values are (probabilities stay probabilities).
SHAPE_METHODS = frozenset(
    {"view", "reshape", "squeeze", "unsqueeze", "flatten", "float", "double", "half", "to", "cpu",
     "cuda", "contiguous", "permute", "transpose", "clamp", "clip", "view_as", "reshape_as"}
)
SHAPE_FUNCTIONS = frozenset({"torch.squeeze", "torch.unsqueeze", "torch.flatten", "torch.clamp", "torch.clip", "torch.reshape"})
LOG = frozenset({"torch.log"})
MAX_DEPTH = 8


@dataclass(frozen=True)
class Activation:
    kind: str
    node: cst.CSTNode  # the call (or module construction) that applies it
    # The activation's input, when it is applied by a call in the scope of the queried
    # expression and that input is a name still bound to the same value there: what the value
    # was before the activation.
    before: cst.BaseExpression | None = None


class Activations:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx

    def of(self, expr: cst.BaseExpression, depth: int = 0) -> Activation | None:
        """The activation that last produced `expr`'s values, or None when unknown."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            value = self._ctx.bindings.reaching(expr)
            if value is None:
                return None
            found = self.of(value, depth + 1)
            if found is not None and found.before is not None and not self._still_bound(found.before, value, expr):
                found = Activation(found.kind, found.node)
            return found
        if isinstance(expr, cst.Subscript):
            return _opaque(self.of(expr.value, depth + 1))
        if isinstance(expr, cst.Call):
            return self._call(expr, depth)
        return None

    def _call(self, call: cst.Call, depth: int) -> Activation | None:
        torch = self._ctx.torch
        names = torch.names(call.func)
        first = call.args[0].value if call.args and call.args[0].keyword is None else None
        for name in names:
            if name in FUNCTIONS:
                return Activation(FUNCTIONS[name], call, first)
            if name in SHAPE_FUNCTIONS and first is not None:
                return _opaque(self.of(first, depth + 1))
            if name in LOG and first is not None:
                return _logged(self.of(first, depth + 1), call)
        if names:
            return None  # some other torch function
        module = self._module_kind(call.func, depth)
        if module is not None:
            kind, node = module
            return Activation(kind, call if node is None else node, first if node is None else None)
        if isinstance(call.func, cst.Attribute):
            method, receiver = call.func.attr.value, call.func.value
            if method in METHODS:
                return Activation(METHODS[method], call, receiver)
            if method in SHAPE_METHODS:
                return _opaque(self.of(receiver, depth + 1))
            if method == "log" and not call.args:
                return _logged(self.of(receiver, depth + 1), call)
        helper = self._helpers.get(id(call))
        if helper is not None:
            return self._returned(helper, depth)
        return None

    # -- modules -------------------------------------------------------------------------

    def _module_kind(self, func: cst.BaseExpression, depth: int):
        """(kind, where) when calling `func` runs a module whose output activation is known;
        `where` is None when the module itself is the activation (`self.softmax(x)`)."""
        constructions = [func] if isinstance(func, cst.Call) else [
            v for v in self._ctx.bindings.values_of(func) if isinstance(v, cst.Call)
        ]
        kinds = {self._constructed_kind(c, depth) for c in constructions}
        if len(kinds) != 1:
            return None
        return kinds.pop()

    def _constructed_kind(self, construction: cst.Call, depth: int):
        ctx = self._ctx
        cls = ctx.modules.library_module_class(construction.func)
        if cls in MODULES:
            return MODULES[cls], None
        if cls == "Sequential":
            layers = [a.value for a in construction.args if a.keyword is None and not a.star]
            if not layers or not isinstance(layers[-1], cst.Call):
                return None
            last = self._constructed_kind(layers[-1], depth + 1)
            return None if last is None else (last[0], last[1] or layers[-1])
        if isinstance(construction.func, cst.Name):
            for module_class in ctx.modules.classes:
                if module_class.name.value == construction.func.value:
                    forward = ctx.modules.method(module_class, "forward")
                    found = self._returned(forward, depth) if forward is not None else None
                    return None if found is None else (found.kind, found.node)
        return None

    # -- functions -----------------------------------------------------------------------

    def _returned(self, function: cst.FunctionDef, depth: int) -> Activation | None:
        """The activation every `return` of `function` gives, when they agree."""
        found = [
            self.of(node.value, depth + 1)
            for node in self._ctx.own_nodes(function)
            if isinstance(node, cst.Return) and node.value is not None
        ]
        if not found or any(f is None for f in found) or len({f.kind for f in found}) != 1:
            return None
        return Activation(found[0].kind, found[0].node)

    @cached_property
    def _helpers(self) -> dict[int, cst.FunctionDef]:
        return {id(call): helper for call, helper in self._ctx.training.helper_calls}

    def _still_bound(self, before: cst.BaseExpression, value: cst.BaseExpression, use: cst.Name) -> bool:
        """`logits` in `probs = softmax(logits)` can stand for `probs`'s input at `use` only if
        it is a name nothing rebinds between the two."""
        if not isinstance(before, cst.Name):
            return False
        ctx = self._ctx
        start, end = ctx.order(value), ctx.order(use)
        scope = ctx.training.scope_of(use)
        return not any(
            start < ctx.order(node) < end and binds(node, before.value)
            for node in ctx.own_nodes(scope)
        )


def _opaque(found: Activation | None) -> Activation | None:
    """Through a shape op the kind stays, but the activation's input no longer stands in."""
    return None if found is None else Activation(found.kind, found.node)


def _logged(found: Activation | None, call: cst.Call) -> Activation | None:
    """`torch.log(softmax(x))` is a log_softmax."""
    if found is not None and found.kind == SOFTMAX:
        return Activation(LOG_SOFTMAX, call)
    return None
