from __future__ import annotations

import libcst as cst

from autofix.arguments import add_keyword, keyword_argument
from autofix.rule import Fix, Rule, Safety, Violation, replace

CHECKPOINT = "torch.utils.checkpoint.checkpoint"
CHECKPOINT_SEQUENTIAL = "torch.utils.checkpoint.checkpoint_sequential"
# Keyword arguments checkpoint takes for itself; any other keyword goes to the function.
OWN_KEYWORDS = frozenset(
    {"use_reentrant", "preserve_rng_state", "context_fn", "determinism_check", "debug", "early_stop"}
)


class CheckpointReentrantNoGrad(Rule):
    name = "checkpoint-reentrant-no-grad"
    summary = "Reentrant activation checkpointing on inputs that do not require grad: the segment gets no gradient"
    fix_safety = Safety.UNSAFE
    docs = """\
## What it does
Checks for `torch.utils.checkpoint.checkpoint(fn, ...)` and `checkpoint_sequential(...)` run
with the reentrant implementation (`use_reentrant=True`, or `use_reentrant` not given: PyTorch
2.13 still defaults to True and only warns) on inputs none of which requires grad: batches from a
loader, tensors made without `requires_grad=True`, detached values, or a function's parameter
that every caller in the file passes such a value.

## Why is this bad?
The reentrant implementation runs the segment under `torch.no_grad()` and connects its output to
the graph only through its inputs. When no input requires grad the output does not either, so
backward never reaches the segment: its parameters get no gradient and never train, while the
rest of the model does. PyTorch only warns "None of the inputs have requires_grad=True. Gradients
will be None". This is typical of checkpointing the first block of a model, which receives the
raw batch.

Inputs that require grad (activations computed by earlier layers) are not reported: there the
reentrant implementation works.

## Example
```python
from torch.utils.checkpoint import checkpoint

def forward(self, x):
    x = checkpoint(self.stem, x)
    return self.head(x)
```

## Use instead
```python
def forward(self, x):
    x = checkpoint(self.stem, x, use_reentrant=False)
    return self.head(x)
```

## Fix safety
Unsafe. `use_reentrant=False` makes the segment's parameters receive gradients (they start
training, which is the intent, but changes results), and the non-reentrant implementation differs
in details: it supports keyword arguments and `torch.autograd.grad`, and saves different tensors
(memory use can differ).
"""

    def check(self, ctx):
        for node in ctx.nodes:
            if not isinstance(node, cst.Call):
                continue
            names = ctx.torch.names(node.func)
            if CHECKPOINT in names:
                function, inputs = _checkpoint_parts(node)
            elif CHECKPOINT_SEQUENTIAL in names:
                function, inputs = _sequential_parts(node)
            else:
                continue
            reentrant = keyword_argument(node, "use_reentrant")
            if reentrant is not None and not (
                isinstance(reentrant.value, cst.Name) and reentrant.value.value == "True"
            ):
                continue
            if function is None or not inputs or any(a.star == "**" for a in node.args):
                continue
            if ctx.torch.starts_with(function, "torch.") or ctx.grad_mode.disabled_at(node):
                continue  # a torch function has no parameters; under no_grad nothing trains
            if not all(ctx.semantic.surely_without_grad(i) for i in inputs):
                continue
            yield Violation(node, _message(ctx, node, function, inputs, reentrant), _fix(node, reentrant))


def _checkpoint_parts(call: cst.Call):
    """`checkpoint(fn, *inputs, **fn_kwargs)` -> (fn, the tensors it is run on)."""
    positional = [a for a in call.args if a.keyword is None]
    if not positional or positional[0].star:
        return None, []
    inputs = [a.value for a in positional[1:]]
    inputs += [a.value for a in call.args if a.keyword is not None and a.keyword.value not in OWN_KEYWORDS]
    return positional[0].value, inputs


def _sequential_parts(call: cst.Call):
    """`checkpoint_sequential(functions, segments, input)` -> (functions, [input])."""
    positional = [a for a in call.args if a.keyword is None]
    by_name = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    if any(a.star for a in positional):
        return None, []
    functions = positional[0].value if positional else by_name.get("functions")
    given = positional[2].value if len(positional) > 2 else by_name.get("input")
    return functions, [given] if given is not None else []


def _message(ctx, call, function, inputs, reentrant) -> str:
    how = "`use_reentrant=True`" if reentrant is not None else (
        "no `use_reentrant` (PyTorch 2.13 defaults to True)"
    )
    names = ", ".join(f"`{ctx.code(i)}`" for i in inputs)
    return (
        f"`{ctx.code(function)}` is checkpointed with {how} on inputs that do not require grad "
        f"({names}): its parameters get no gradient and never train (PyTorch warns \"None of "
        "the inputs have requires_grad=True\"); pass `use_reentrant=False`"
    )


def _fix(call: cst.Call, reentrant: cst.Arg | None) -> Fix:
    if reentrant is not None:
        return Fix.of(replace(reentrant.value, cst.Name("False")), safety=Safety.UNSAFE)
    return Fix.of(add_keyword(call, "use_reentrant", "False"), safety=Safety.UNSAFE)
