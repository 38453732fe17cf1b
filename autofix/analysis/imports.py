"""Which names in a file are torch, torch.nn, torch.optim ... whatever import style was used."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext

OPTIMIZER_PREFIX = "torch.optim."
SCHEDULER_PREFIXES = ("torch.optim.lr_scheduler.", "torch.optim.swa_utils.")
GRAD_SCALERS = frozenset(
    {
        "torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler",
        "torch.amp.grad_scaler.GradScaler",
        "torch.distributed.fsdp.sharded_grad_scaler.ShardedGradScaler",
    }
)
AUTOGRAD_BACKWARD = "torch.autograd.backward"
AUTOGRAD_GRAD = "torch.autograd.grad"
GRADIENT_CLIPPERS = frozenset(
    {
        f"torch.nn.utils{module}.{name}"
        for module in ("", ".clip_grad")
        for name in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_")
    }
)


class TorchNames:
    """Answers 'does this expression name torch.X?' through the file's imports, in every import
    style (`import torch.optim as o`, `from torch import nn`, `from torch.optim import Adam`).

    Imports anywhere in the file count and local rebinding is not tracked: a name imported twice
    resolves to both origins, so the answer never depends on traversal or hash order."""

    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx
        self._aliases: dict[str, set[str]] = {}
        self._module_level: dict[str, set[str]] = {}  # what the module scope itself binds
        for node in ctx.nodes:
            if not isinstance(node, (cst.Import, cst.ImportFrom)):
                continue
            top = not any(isinstance(a, (cst.FunctionDef, cst.ClassDef)) for a in ctx.ancestors(node))
            if isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = _dotted(alias.name)
                    if alias.asname is not None:
                        self._bind(_dotted(alias.asname.name), dotted, top)
                    else:
                        head = dotted.split(".", 1)[0]
                        self._bind(head, head, top)
            elif isinstance(node, cst.ImportFrom) and not node.relative and node.module is not None:
                if isinstance(node.names, cst.ImportStar):
                    continue
                module = _dotted(node.module)
                for alias in node.names:
                    name = _dotted(alias.name)
                    local = _dotted(alias.asname.name) if alias.asname is not None else name
                    self._bind(local, f"{module}.{name}", top)

    def local_names_of(self, qualified: str) -> list[str]:
        """The names the module scope binds to `qualified` (`torch` for `import torch`), sorted:
        what code at any level of the file can use."""
        return sorted(n for n, origins in self._module_level.items() if qualified in origins)

    def _bind(self, local: str, qualified: str, module_level: bool) -> None:
        self._aliases.setdefault(local, set()).add(qualified)
        if module_level:
            self._module_level.setdefault(local, set()).add(qualified)

    def names(self, node: cst.CSTNode) -> frozenset[str]:
        """`o.Adam` -> {"torch.optim.Adam"}; empty for names the imports do not explain."""
        dotted = _dotted(node)
        if not dotted:
            return frozenset()
        head, dot, rest = dotted.partition(".")
        return frozenset(origin + dot + rest for origin in self._aliases.get(head, ()))

    def is_any(self, node: cst.CSTNode, names: frozenset[str] | set[str]) -> bool:
        return not self.names(node).isdisjoint(names)

    def starts_with(self, node: cst.CSTNode, *prefixes: str) -> bool:
        return any(n.startswith(prefixes) for n in self.names(node))

    def is_optimizer_class(self, node: cst.CSTNode) -> bool:
        return any(
            n.startswith(OPTIMIZER_PREFIX) and not n.startswith(SCHEDULER_PREFIXES)
            for n in self.names(node)
        )

    def is_scheduler_class(self, node: cst.CSTNode) -> bool:
        return self.starts_with(node, *SCHEDULER_PREFIXES)

    def is_grad_scaler_class(self, node: cst.CSTNode) -> bool:
        return self.is_any(node, GRAD_SCALERS)

    def is_loss_function(self, node: cst.CSTNode) -> bool:
        """`nn.CrossEntropyLoss`, `F.mse_loss`, `torch.nn.functional.cross_entropy` ..."""
        for name in self.names(node):
            last = name.rsplit(".", 1)[-1]
            if name.startswith("torch.nn.") and last.endswith("Loss"):
                return True
            if name.startswith("torch.nn.functional.") and (
                last.endswith("_loss") or last in FUNCTIONAL_LOSSES
            ):
                return True
        return False

    @cached_property
    def nn_alias(self) -> str | None:
        """The expression this file uses for `torch.nn`: its own module-level alias (`nn` from
        `from torch import nn` or `import torch.nn as nn`) first, else `torch.nn` when torch is
        imported at module level, else None."""
        aliases = self.local_names_of("torch.nn")
        if aliases:
            return "nn" if "nn" in aliases else aliases[0]
        if "torch" in self.local_names_of("torch"):
            return "torch.nn"
        return None


FUNCTIONAL_LOSSES = frozenset(
    {
        "cross_entropy",
        "nll_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "kl_div",
        "ctc_loss",
        "poisson_nll_loss",
        "gaussian_nll_loss",
        "triplet_margin_loss",
        "cosine_embedding_loss",
        "margin_ranking_loss",
        "hinge_embedding_loss",
    }
)


def _dotted(node: cst.CSTNode | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def dotted_name(node: cst.CSTNode | None) -> str:
    """`self.opt` for an Attribute chain of Names, "" for anything else."""
    return _dotted(node)


def nn_reference(ctx: "FileContext"):
    """The file's own expression for `torch.nn`, and the edit adding `from torch import nn`
    (after the last top-level import) when the file has none."""
    alias = ctx.torch.nn_alias
    if alias is not None:
        return alias, None
    return "nn", _add_import(ctx, "from torch import nn\n")


def torch_reference(ctx: "FileContext"):
    """The file's own name for `torch`, and the edit adding `import torch` when it has none."""
    local = ctx.torch.local_names_of("torch")
    if local:
        return ("torch" if "torch" in local else local[0]), None
    return "torch", _add_import(ctx, "import torch\n")


def _add_import(ctx: "FileContext", code: str):
    from autofix.rule import insert_after, insert_before

    body = ctx.module.body
    imports = [
        s for s in body
        if isinstance(s, cst.SimpleStatementLine) and any(isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body)
    ]
    if imports:
        return insert_after(imports[-1], code)
    return insert_before(body[0], code)
