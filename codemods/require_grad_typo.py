from __future__ import annotations

import libcst as cst

from autofix.analysis.values import Kind
from autofix.rule import Fix, Rule, Safety, Violation, replace

# Misspellings of `requires_grad` that Python accepts silently as new attributes.
TYPOS = frozenset({"require_grad", "requires_grads", "require_grads"})


class RequireGradTypo(Rule):
    name = "require-grad-typo"
    summary = "`.require_grad = ...` (a typo of `requires_grad`) freezes or unfreezes nothing"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for assignments to `.require_grad`, `.requires_grads` or `.require_grads` on a parameter
(`for p in model.parameters()`, `model.fc.weight`, an `nn.Parameter`), a tensor made with
`requires_grad=True`, or a module (`model.encoder`, a layer of `model.children()`).

## Why is this bad?
Tensors, parameters and modules accept any new attribute, so the misspelt flag is stored and never
read: layers meant to be frozen keep training (or layers meant to be unfrozen stay frozen), and
PyTorch raises nothing. On a module, even the right spelling would do nothing: a module has no
`requires_grad` flag, only the `requires_grad_()` method that sets it on every parameter.

Receivers that are not known to be a parameter, a leaf tensor or a module (a config object, a
computed tensor, on which setting `requires_grad` raises) are not reported.

## Example
```python
for param in model.backbone.parameters():
    param.require_grad = False
model.head.require_grad = True
```

## Use instead
```python
for param in model.backbone.parameters():
    param.requires_grad = False
model.head.requires_grad_(True)
```

## Fix safety
Safe. On a parameter or leaf tensor the attribute is renamed to `requires_grad`; on a module the
statement becomes `module.requires_grad_(value)`. Both do what the statement was written to do.
"""

    def check(self, ctx):
        semantic = ctx.semantic
        for node in ctx.nodes:
            if not isinstance(node, cst.Assign):
                continue
            for target in node.targets:
                attribute = target.target
                if not isinstance(attribute, cst.Attribute) or attribute.attr.value not in TYPOS:
                    continue
                receiver = attribute.value
                if _read_somewhere(ctx, attribute):
                    continue  # the code's own attribute with that name (a setting it reads)
                value = semantic.denote(receiver)
                if value is not None and value.leaf:
                    what, fix = "tensor", Fix.of(
                        replace(attribute.attr, cst.Name("requires_grad"))
                    )
                elif semantic.is_kind(receiver, Kind.MODULE):
                    what, fix = "module", _module_fix(node, receiver)
                else:
                    continue
                yield Violation(node, _message(ctx, attribute, node.value, what), fix)


def _read_somewhere(ctx, attribute: cst.Attribute) -> bool:
    """`self.require_grad` read back by the code (in `setup()`): an attribute of its own, not a
    misspelt flag."""
    name = attribute.attr.value
    for node in ctx.nodes:
        if isinstance(node, cst.Attribute) and node is not attribute and node.attr.value == name:
            parent = ctx.parent(node)
            if not (isinstance(parent, cst.AssignTarget) and parent.target is node):
                return True
    return False


def _module_fix(assign: cst.Assign, receiver: cst.BaseExpression) -> Fix | None:
    """`module.require_grad = flag` -> `module.requires_grad_(flag)`, when the assignment has
    one target (a chained assignment also binds other names)."""
    if len(assign.targets) != 1:
        return None
    call = cst.Call(
        func=cst.Attribute(value=receiver, attr=cst.Name("requires_grad_")),
        args=[cst.Arg(assign.value)],
    )
    return Fix.of(replace(assign, cst.Expr(call)))


def _message(ctx, attribute: cst.Attribute, value: cst.BaseExpression, what: str) -> str:
    receiver = ctx.code(attribute.value)
    flag = ctx.code(value)
    if what == "tensor":
        effect = {"False": "still trains", "True": "stays frozen"}.get(flag, "keeps its flag")
        effect = f"`{receiver}` {effect}"
    else:
        effect = {"False": "still train", "True": "stay frozen"}.get(flag, "keep their flags")
        effect = f"`{receiver}`'s parameters {effect}"
    fix = "`requires_grad`" if what == "tensor" else f"`{receiver}.requires_grad_({flag})`"
    return (
        f"`{receiver}.{attribute.attr.value}` is a typo that PyTorch never reads: {effect}; "
        f"use {fix}"
    )
