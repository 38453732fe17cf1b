from __future__ import annotations

import libcst as cst

from autofix.analysis.shapes import Shape
from autofix.arguments import add_keyword, keyword_argument
from autofix.rule import Fix, Rule, Safety, Violation

_FUNCTIONS = frozenset(
    {
        "torch.nn.functional.softmax",
        "torch.nn.functional.log_softmax",
        "torch.nn.functional.softmin",
    }
)
_MODULES = frozenset({"Softmax", "LogSoftmax", "Softmin"})


class SoftmaxWithoutDim(Rule):
    name = "softmax-without-dim"
    summary = "`F.softmax(x)` / `nn.Softmax()` without `dim`: PyTorch guesses the dimension"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for `F.softmax`, `F.log_softmax`, `F.softmin` calls and `nn.Softmax()`, `nn.LogSoftmax()`,
`nn.Softmin()` modules (any import style) without a `dim`.

## Why is this bad?
Without `dim`, PyTorch warns "Implicit dimension choice for softmax has been deprecated" and
guesses: dim 0 for 0-D, 1-D and 3-D inputs, dim 1 otherwise. For a batched 3-D tensor
(batch, sequence, classes), dim 0 is the batch: every position is normalised across the
examples of the batch, so each example's probabilities depend on the others and do not sum to
1. For 4-D attention scores (batch, heads, queries, keys) dim 1 normalises across heads. For an
(N, 1) tensor (one score per row), dim 1 makes every weight exactly 1.0 and no gradient flows
through the scores. `torch.softmax(x)` and `x.softmax()` need `dim` and raise a TypeError, so
they are not concerned.

## Example
```python
logits = self.fc(x.flatten(1))
return F.log_softmax(logits)
```

## Use instead
```python
logits = self.fc(x.flatten(1))
return F.log_softmax(logits, dim=-1)
```

## Fix safety
Safe when the code shows that the input is 1-D or 2-D: `dim=-1` is the dimension PyTorch picks
there, so behaviour is unchanged and the warning goes away (an (N, 1) input whose last size
is visibly 1 is reported without a fix: the intended dimension is not known). Unsafe for a
3-D input: `dim=-1` (the classes of a (batch, sequence, classes) tensor) replaces PyTorch's
dim 0 and changes the result, which is the bug being fixed, but check that the last axis is the
one meant. Report only for 4-D and larger inputs and when the rank cannot be told.
"""

    def check(self, ctx):
        for node in ctx.nodes:
            if not isinstance(node, cst.Call):
                continue
            names = ctx.torch.names(node.func)
            if names & _FUNCTIONS:
                if _has_dim(node, positional=2):
                    continue
                tensor = _first_argument(node)
                shape = ctx.shapes.of(tensor) if tensor is not None else None
                yield _violation(ctx, node, shape)
            elif ctx.modules.library_module_class(node.func) in _MODULES and any(
                n.startswith("torch.nn.") for n in names
            ):
                if _has_dim(node, positional=1):
                    continue
                yield _violation(ctx, node, _module_input_shape(ctx, node))


def _violation(ctx, node: cst.Call, shape: Shape | None) -> Violation:
    what = f"`{ctx.code(node.func)}(...)`"
    if shape is None:
        return Violation(
            node,
            f"{what} has no `dim`: PyTorch warns and picks dim 0 for 1-D and 3-D inputs, 1 for "
            "others; the input's rank is not known here, so pass the dimension to normalise",
        )
    picked = 0 if shape.rank in (0, 1, 3) else 1
    base = (
        f"{what} has no `dim`: for this {shape.rank}-D input PyTorch warns and picks dim {picked}"
    )
    if shape.rank == 2 and shape.last == 1:
        return Violation(
            node,
            f"{base}, whose size is 1: every value becomes 1.0 and no gradient flows; pass the "
            "dimension to normalise",
        )
    if shape.rank <= 2:
        return Violation(
            node, f"{base}, the last one: say `dim=-1`", Fix.of(add_keyword(node, "dim", "-1"))
        )
    if shape.rank == 3:
        return Violation(
            node,
            f"{base}, the batch dimension: each position is normalised across the batch",
            Fix.of(add_keyword(node, "dim", "-1"), safety=Safety.UNSAFE),
        )
    return Violation(node, f"{base} (heads or channels): pass the dimension to normalise")


def _has_dim(call: cst.Call, positional: int) -> bool:
    """`dim=` given (not `dim=None`), or as the `positional`-th argument, or maybe in `**kw`."""
    dim = keyword_argument(call, "dim")
    if dim is not None:
        return not (isinstance(dim.value, cst.Name) and dim.value.value == "None")
    plain = [a for a in call.args if a.keyword is None and not a.star]
    if len(plain) >= positional:
        value = plain[positional - 1].value
        return not (isinstance(value, cst.Name) and value.value == "None")
    return any(a.star for a in call.args)


def _first_argument(call: cst.Call) -> cst.BaseExpression | None:
    keyword = keyword_argument(call, "input")
    if keyword is not None:
        return keyword.value
    plain = [a for a in call.args if a.keyword is None and not a.star]
    return plain[0].value if plain else None


def _module_input_shape(ctx, construction: cst.Call) -> Shape | None:
    """The shape of what an `nn.Softmax()` module is applied to: `nn.Softmax()(x)`, or every call
    of the name it is bound to (`self.softmax = nn.Softmax()` ... `self.softmax(scores)`), when
    all agree. Inside `nn.Sequential(...)` it is not known."""
    parent = ctx.parent(construction)
    if isinstance(parent, cst.Call) and parent.func is construction:
        tensor = _first_argument(parent)
        return ctx.shapes.of(tensor) if tensor is not None else None
    if not isinstance(parent, cst.Assign) or len(parent.targets) != 1:
        return None
    assign = parent
    target = ctx.code(assign.targets[0].target)
    shapes = set()
    for node in ctx.nodes:
        if isinstance(node, cst.Call) and ctx.code(node.func) == target:
            if ctx.modules.construction(node.func) is not construction:
                continue
            tensor = _first_argument(node)
            shapes.add(ctx.shapes.of(tensor) if tensor is not None else None)
    if len(shapes) != 1:
        return None
    return shapes.pop()
