from __future__ import annotations

import libcst as cst

from autofix.rule import Fix, Rule, Safety, Violation, replace


class ForwardCalledDirectly(Rule):
    name = "forward-called-directly"
    summary = "`module.forward(x)` is called instead of `module(x)`, bypassing the module's hooks"
    fix_safety = Safety.SAFE
    docs = """\
## What it does
Checks for calls `model.forward(...)` on an `nn.Module`: a name built from a `torch.nn`
constructor or from an `nn.Module` subclass of the file (also through `.to(device)` and the
like), `self.<attr>` assigned such a module, an element of an `nn.ModuleList` / `nn.Sequential`
/ `nn.ModuleDict` (by index or in a `for` loop), a parameter annotated `nn.Module`, or, when
nothing in the file says what it is, a name such as `model`, `net`, `encoder`, `generator`,
`self.backbone`.

What a value is comes from the semantic model: what the code constructs, assigns, passes and
returns, through helpers, attributes and containers.

Left alone: `super().forward(...)`, `self.forward(...)`, unbound calls such as
`Base.forward(self, x)` or `nn.Linear.forward(self, x)`; objects of classes of the file that are
not modules and modules whose class overrides `__call__`; `torch.jit` / `torch.compile` /
`torch.fx` / `torch.export` results and modules compiled in place with `model.compile()`;
`model.forward` used without being called (`checkpoint(block.forward, x)`). Names alone decide
nothing in a file that defines a non-module class with a `forward` method, or that imports
another framework (MXNet, Paddle, TensorFlow, JAX ...).

## Why is this bad?
`nn.Module.__call__` does more than call `forward`: it runs the forward pre-hooks, the forward
hooks and the backward hooks (`register_full_backward_hook`). Calling `forward` directly skips all
of them, silently. Your own hooks (feature extraction, gradient logging) see nothing, and so do
the hooks PyTorch and libraries install: lazy modules (`nn.LazyLinear`) initialise their
parameters in a pre-hook, so `forward` raises "Attempted to use an uninitialized parameter in
<built-in function linear>. This error happens when you are using a `LazyModule` ...";
`torch.nn.utils.prune` recomputes `weight` in a pre-hook, so the second backward raises "Trying
to backward through the graph a second time"; FSDP2 (`fully_shard`), eager-mode quantization
observers and the composable activation `checkpoint` are hooks as well.

## Example
```python
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
model.register_forward_hook(save_features)
out = model.forward(x)
```

## Use instead
```python
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
model.register_forward_hook(save_features)
out = model(x)
```

## Fix safety
Safe. The arguments are kept exactly. When the module and PyTorch register no hook,
`module(x)` calls `module.forward(x)` and nothing else, so the result is the same; when hooks
exist, running them is what the module's owner asked for. Modules whose class overrides
`__call__` are not reported.
"""

    def check(self, ctx):
        semantic = ctx.semantic
        for order in sorted(semantic.forward_calls):
            node = semantic.node(order)
            receiver = node.func.value
            if _first_arg_is_self(node) or (isinstance(receiver, cst.Name) and receiver.value == "self"):
                continue
            if not semantic.is_eager_module(receiver):
                continue
            name = ctx.code(receiver)
            arguments = ctx.code(node)[len(ctx.code(node.func)) :].strip()
            if len(arguments) > 40 or "\n" in arguments:
                arguments = "(...)"
            fix = None
            if "#" not in ctx.code(node.func):
                fix = Fix.of(replace(node.func, receiver))
            yield Violation(
                node,
                f"`{name}.forward{arguments}` bypasses the hooks of `{name}` "
                f"(forward, pre-forward and backward hooks): call `{name}{arguments}`",
                fix,
            )


def _first_arg_is_self(call: cst.Call) -> bool:
    """`Base.forward(self, x)`: an unbound call of a parent class's forward."""
    first = call.args[0] if call.args else None
    return (
        first is not None
        and first.keyword is None
        and isinstance(first.value, cst.Name)
        and first.value.value == "self"
    )
