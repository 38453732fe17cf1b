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
    {"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"}
)
AUTOGRAD_BACKWARD = "torch.autograd.backward"
AUTOGRAD_GRAD = "torch.autograd.grad"


class TorchNames:
    """Answers 'does this expression name torch.X?' through the file's imports, in every import
    style (`import torch.optim as o`, `from torch import nn`, `from torch.optim import Adam`).

    Imports anywhere in the file count and local rebinding is not tracked: a name imported twice
    resolves to both origins, so the answer never depends on traversal or hash order."""

    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx
        self._aliases: dict[str, set[str]] = {}
        for node in ctx.nodes:
            if isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = _dotted(alias.name)
                    if alias.asname is not None:
                        self._bind(_dotted(alias.asname.name), dotted)
                    else:
                        head = dotted.split(".", 1)[0]
                        self._bind(head, head)
            elif isinstance(node, cst.ImportFrom) and not node.relative and node.module is not None:
                if isinstance(node.names, cst.ImportStar):
                    continue
                module = _dotted(node.module)
                for alias in node.names:
                    name = _dotted(alias.name)
                    local = _dotted(alias.asname.name) if alias.asname is not None else name
                    self._bind(local, f"{module}.{name}")

    def _bind(self, local: str, qualified: str) -> None:
        self._aliases.setdefault(local, set()).add(qualified)

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
        """The expression this file uses for `torch.nn` (`nn`, `torch.nn`), if any."""
        for node in self._ctx.module.body:
            for small in getattr(node, "body", ()):
                if isinstance(small, cst.ImportFrom) and _dotted(small.module) == "torch":
                    for alias in small.names if not isinstance(small.names, cst.ImportStar) else ():
                        if _dotted(alias.name) == "nn":
                            return _dotted(alias.asname.name) if alias.asname else "nn"
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        if _dotted(alias.name) == "torch.nn" and alias.asname:
                            return _dotted(alias.asname.name)
                        if _dotted(alias.name) in ("torch", "torch.nn") and not alias.asname:
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
