"""Everything rules may ask about one parsed file, computed lazily and at most once per pass."""

from __future__ import annotations

from functools import cached_property
from typing import Iterator

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider


class _Indexer(cst.CSTVisitor):
    """One traversal that records every node's parent and the nodes in source order."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.nodes: list[cst.CSTNode] = []
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {}  # node -> its slice of `nodes`
        self._stack: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._stack:
            self.parents[node] = self._stack[-1]
        self.spans[node] = (len(self.nodes), 0)
        self.nodes.append(node)
        self._stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._stack.pop()
        self.spans[original_node] = (self.spans[original_node][0], len(self.nodes))


class FileContext:
    """One parse of one file plus its metadata; the analysis facts hang off it as properties so
    that a fact is computed only when a selected rule asks for it, and then only once."""

    def __init__(self, module: cst.Module, path: str = "<string>") -> None:
        self.path = path
        # The engine owns `module` and re-parses after every fix, so no defensive copy is needed.
        self.wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.module = self.wrapper.module
        indexer = _Indexer()
        self.module.visit(indexer)
        self._parents = indexer.parents
        self._spans = indexer.spans
        self.nodes = indexer.nodes  # every node, parents before children, in source order

    def nodes_in(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """`node` and every node below it, in source order."""
        start, end = self._spans[node]
        return self.nodes[start:end]

    @cached_property
    def _positions(self):
        return self.wrapper.resolve(PositionProvider)

    def position(self, node: cst.CSTNode) -> CodeRange:
        return self._positions[node]

    def order(self, node: cst.CSTNode) -> int:
        """Where `node` starts in source order (cheaper than its position)."""
        return self._spans[node][0]

    def own_nodes(self, root: cst.CSTNode) -> list[cst.CSTNode]:
        """`root` and the nodes below it in source order, skipping the bodies of nested
        functions, classes and lambdas (they run at some other time)."""
        nodes = self.nodes_in(root)
        own, index = [], 0
        while index < len(nodes):
            node = nodes[index]
            own.append(node)
            if index and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                index += len(self.nodes_in(node))
            else:
                index += 1
        return own

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        parent = self._parents.get(node)
        while parent is not None:
            yield parent
            parent = self._parents.get(parent)

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """Dotted names `node` may refer to through the file's imports (`o.Adam` with
        `import torch.optim as o` gives `torch.optim.Adam`)."""
        return self.torch.names(node)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    @cached_property
    def torch(self):
        from autofix.analysis.imports import TorchNames

        return TorchNames(self)

    @cached_property
    def grad_mode(self):
        from autofix.analysis.gradmode import GradMode

        return GradMode(self)

    @cached_property
    def losses(self):
        from autofix.analysis.losses import LossFacts

        return LossFacts(self)

    @cached_property
    def modules(self):
        from autofix.analysis.modules import ModuleFacts

        return ModuleFacts(self)

    @cached_property
    def module_writes(self):
        from autofix.analysis.module_writes import ModuleWrites

        return ModuleWrites(self)

    @cached_property
    def shapes(self):
        from autofix.analysis.shapes import TensorShapes

        return TensorShapes(self)

    @cached_property
    def references(self):
        from autofix.analysis.references import References

        return References(self)

    @cached_property
    def semantic(self):
        from autofix.analysis.semantic import SemanticModel

        return SemanticModel(self)

    @cached_property
    def recurrence(self):
        from autofix.analysis.recurrence import RecurrenceFacts

        return RecurrenceFacts(self)

    @cached_property
    def training(self):
        from autofix.analysis.training import TrainingModel

        return TrainingModel(self)

    @cached_property
    def callers(self):
        from autofix.analysis.callers import Callers

        return Callers(self)

    @cached_property
    def bindings(self):
        from autofix.analysis.bindings import Bindings

        return Bindings(self)

    @cached_property
    def grad_scope(self):
        from autofix.analysis.grad_scope import GradScope

        return GradScope(self)

    @cached_property
    def accumulations(self):
        from autofix.analysis.accumulations import find_accumulations

        return find_accumulations(self)

    @cached_property
    def activations(self):
        from autofix.analysis.activations import Activations

        return Activations(self)
