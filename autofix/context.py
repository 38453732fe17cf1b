"""Everything rules may ask about one parsed file, computed lazily and at most once per pass."""

from __future__ import annotations

from functools import cached_property

import libcst as cst
from libcst.metadata import (
    CodeRange,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
)


class FileContext:
    """One parse of one file plus its metadata; the analysis facts hang off it as properties so
    that a fact is computed only when a selected rule asks for it, and then only once."""

    def __init__(self, module: cst.Module, path: str = "<string>") -> None:
        self.path = path
        self.wrapper = MetadataWrapper(module)
        self.module = self.wrapper.module
        self._positions = self.wrapper.resolve(PositionProvider)
        self._parents = self.wrapper.resolve(ParentNodeProvider)

    @cached_property
    def _qualified_names(self):
        return self.wrapper.resolve(QualifiedNameProvider)

    def position(self, node: cst.CSTNode) -> CodeRange:
        return self._positions[node]

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parents.get(node)

    def ancestors(self, node: cst.CSTNode):
        parent = self._parents.get(node)
        while parent is not None:
            yield parent
            parent = self._parents.get(parent)

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """Dotted names `node` may refer to through the file's imports (`o.Adam` with
        `import torch.optim as o` gives `torch.optim.Adam`)."""
        names = self._qualified_names.get(node, ())
        if callable(names):  # libcst computes qualified names lazily, on first access
            names = names()
        return frozenset(q.name for q in names)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    @cached_property
    def torch(self):
        from autofix.analysis.imports import TorchNames

        return TorchNames(self)

    @cached_property
    def training(self):
        from autofix.analysis.training import TrainingModel

        return TrainingModel(self)
