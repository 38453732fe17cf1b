from __future__ import annotations

import libcst as cst

from autofix.arguments import add_keyword, keyword_argument
from autofix.rule import Fix, Rule, Safety, Violation

# The functional dropouts and the `training` default each has in torch 2.13.
_DEFAULTS_ON = frozenset({"dropout", "dropout1d", "dropout2d", "dropout3d"})
_DEFAULTS_OFF = frozenset({"alpha_dropout", "feature_alpha_dropout"})
_FUNCTIONAL = "torch.nn.functional."


class FunctionalDropoutAlwaysOn(Rule):
    name = "functional-dropout-always-on"
    summary = "`F.dropout(x, p)` in a module ignores `model.eval()`"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for `F.dropout`, `F.dropout1d`, `F.dropout2d` and `F.dropout3d` (any import style) called
in a method of an `nn.Module` without a `training` argument, and for `F.alpha_dropout` and
`F.feature_alpha_dropout` called the same way.

## Why is this bad?
The functional form does not know the module's mode: `F.dropout` defaults to `training=True`, so
it keeps zeroing and rescaling activations after `model.eval()`. Evaluation and inference are
then random (two forwards of the same input differ) and their metrics are worse than the model.
`nn.Dropout` modules follow `train()` / `eval()`; the functional form needs
`training=self.training`.

`F.alpha_dropout` and `F.feature_alpha_dropout` are the other way round: they default to
`training=False`, so without the argument they never drop anything, in training either.

Calls that pass `training` (by keyword or as the third argument, `training=True` for Monte Carlo
dropout included), `**kwargs` calls, `nn.Dropout` modules and functions outside a module class
are left alone.

## Example
```python
class Head(nn.Module):
    def forward(self, x):
        return self.fc(F.dropout(x, p=0.2))
```

## Use instead
```python
class Head(nn.Module):
    def forward(self, x):
        return self.fc(F.dropout(x, p=0.2, training=self.training))
```

## Fix safety
Safe for `dropout`, `dropout1d/2d/3d`: `training=self.training` keeps training exactly as it was
and turns dropout off in eval mode. Unsafe for `alpha_dropout` and `feature_alpha_dropout`: the
same argument switches on, during training, a dropout that has never run, which changes how the
model trains.
"""

    def check(self, ctx):
        for node in ctx.nodes:
            if not isinstance(node, cst.Call):
                continue
            function = _dropout_function(ctx, node)
            if function is None or _passes_training(node):
                continue
            module_self = _module_self(ctx, node)
            if module_self is None:
                continue
            call = f"`{ctx.code(node.func)}(...)`"
            fix_code = f"{module_self}.training"
            if function in _DEFAULTS_ON:
                message = (
                    f"{call} without `training=` keeps dropping after `eval()`: pass "
                    f"`training={fix_code}`"
                )
                safety = Safety.SAFE
            else:
                message = (
                    f"{call} without `training=` defaults to `training=False` and never drops, "
                    f"in training either: pass `training={fix_code}`"
                )
                safety = Safety.UNSAFE
            fix = Fix.of(add_keyword(node, "training", fix_code), safety=safety)
            yield Violation(node, message, fix)


def _dropout_function(ctx, call: cst.Call) -> str | None:
    for name in ctx.torch.names(call.func):
        if name.startswith(_FUNCTIONAL):
            last = name[len(_FUNCTIONAL):]
            if last in _DEFAULTS_ON or last in _DEFAULTS_OFF:
                return last
    return None


def _passes_training(call: cst.Call) -> bool:
    """`training=` given, as a keyword or the third positional argument, or maybe in `**kw`."""
    if keyword_argument(call, "training") is not None:
        return True
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return len(positional) >= 3 or any(a.star for a in call.args)


def _module_self(ctx, node: cst.CSTNode) -> str | None:
    """The name of `self` when `node` runs in a method of an nn.Module class of the file (or a
    function nested in one); None for functions outside module classes and static methods."""
    classes = ctx.modules.classes
    for function in ctx.ancestors(node):
        if not isinstance(function, cst.FunctionDef):
            continue
        owner = ctx.parent(ctx.parent(function))
        if not isinstance(owner, cst.ClassDef):
            continue
        if owner not in classes or any(
            _is_name(d.decorator, "staticmethod", "classmethod") for d in function.decorators
        ):
            return None
        params = [*function.params.posonly_params, *function.params.params]
        return params[0].name.value if params else None
    return None


def _is_name(node: cst.BaseExpression, *names: str) -> bool:
    return isinstance(node, cst.Name) and node.value in names
