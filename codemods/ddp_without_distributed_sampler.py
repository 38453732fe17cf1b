from __future__ import annotations

import re

import libcst as cst

from autofix.analysis.imports import dotted_name
from autofix.analysis.training import Kind
from autofix.rule import Rule, Safety, Violation

DATA_PARALLEL = frozenset(
    {
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.distributed.fsdp.FullyShardedDataParallel",
        "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
    }
)
DATA_LOADER = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
ITERABLE_DATASET = frozenset({"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset"})
# Datasets that split themselves across ranks: named after the rank, sharded, streamed.
SHARDED = re.compile(
    r"\b(rank|local_rank|global_rank|world_size|get_rank|num_replicas|shard|shards|split_dataset_by_node"
    r"|streaming|WebDataset|webdataset|wds)\b"
)


class DdpWithoutDistributedSampler(Rule):
    name = "ddp-without-distributed-sampler"
    summary = "A DataLoader feeds a DistributedDataParallel model without a DistributedSampler"
    fix_safety = Safety.NONE
    docs = """\
## What it does
Checks for a `DataLoader` built without `sampler=` (or `batch_sampler=`) whose batches a training
loop (one that runs backward) feeds to a `DistributedDataParallel` or `FullyShardedDataParallel`
model: the loader and the model may be bound in the loop's function, on `self`, at module level,
or passed to the training function by its caller.

## Why is this bad?
Every process builds the same loader over the whole dataset, so every rank trains on the same
samples (in the same order, with a shared seed): N GPUs do the work of one, an epoch is N passes
over the data, and the averaged gradients are no better than a single process's. Nothing raises
or warns. `DistributedSampler` gives each rank its own shard (and `sampler.set_epoch(epoch)`
reshuffles it every epoch).

Datasets that shard themselves (an `IterableDataset`, a dataset built from the rank or world size,
a streamed or WebDataset source), loaders handed to `accelerator.prepare()` or Lightning, and
evaluation loops (no backward) are not reported.

## Example
```python
model = DistributedDataParallel(model)
loader = DataLoader(dataset, batch_size=32, shuffle=True)
for x, y in loader:
    ...
```

## Use instead
```python
model = DistributedDataParallel(model)
sampler = DistributedSampler(dataset, shuffle=True)
loader = DataLoader(dataset, batch_size=32, sampler=sampler)
for epoch in range(epochs):
    sampler.set_epoch(epoch)
    for x, y in loader:
        ...
```

## Fix safety
No fix: the sampler replaces `shuffle=`, needs `set_epoch` calls in the epoch loop, and changes
the number of steps per epoch; how the dataset should be split is the author's decision.
"""

    def check(self, ctx):
        reported: set[int] = set()
        for loop in ctx.training.loops:
            if not isinstance(loop.node, cst.For) or not loop.of_kind(Kind.BACKWARD):
                continue
            model = _data_parallel_model(ctx, loop)
            if model is None:
                continue
            for loader in _loaders_iterated(ctx, loop.node):
                if id(loader) in reported or not _unsharded(ctx, loader):
                    continue
                reported.add(id(loader))
                yield Violation(loader, _message(ctx, loader, loop.node, model))


def _data_parallel_model(ctx, loop) -> tuple[str, cst.Call] | None:
    """The DDP/FSDP-wrapped model the loop (or a helper it calls) uses, as (name, wrapping call)."""
    bodies = [loop.node.body, *ctx.training.helpers_reachable(loop)]
    for body in bodies:
        for node in ctx.own_nodes(body):
            if not isinstance(node, (cst.Name, cst.Attribute)) or isinstance(ctx.parent(node), cst.Attribute):
                continue
            for value in ctx.bindings.values_of(node):
                if isinstance(value, cst.Call) and ctx.torch.is_any(value.func, DATA_PARALLEL):
                    return ctx.code(node), value
    return None


def _loaders_iterated(ctx, loop: cst.For) -> list[cst.Call]:
    """The DataLoader calls the loop's iterable may be (`loader`, `enumerate(loader)`,
    `tqdm(self.train_loader)`, `DataLoader(...)` itself)."""
    found = []
    for node in ctx.nodes_in(loop.iter):
        if isinstance(node, cst.Call) and ctx.torch.is_any(node.func, DATA_LOADER):
            found.append(node)
        elif isinstance(node, (cst.Name, cst.Attribute)) and not isinstance(ctx.parent(node), cst.Attribute):
            parent = ctx.parent(node)
            if isinstance(parent, cst.Call) and parent.func is node:
                continue  # `enumerate`, `tqdm`
            found.extend(
                v for v in ctx.bindings.values_of(node)
                if isinstance(v, cst.Call) and ctx.torch.is_any(v.func, DATA_LOADER)
            )
    return found


def _unsharded(ctx, loader: cst.Call) -> bool:
    """No sampler, and nothing says the dataset splits itself across ranks."""
    positional = [a for a in loader.args if a.keyword is None]
    if len(positional) > 3 or any(a.star for a in loader.args):
        return False  # DataLoader(dataset, batch_size, shuffle, sampler, ...)
    for arg in loader.args:
        if arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler"):
            if not (isinstance(arg.value, cst.Name) and arg.value.value == "None"):
                return False
    dataset = positional[0].value if positional else next(
        (a.value for a in loader.args if a.keyword is not None and a.keyword.value == "dataset"), None
    )
    if dataset is None or SHARDED.search(ctx.code(loader)):
        return False
    for value in [dataset, *ctx.bindings.values_of(dataset)]:
        if SHARDED.search(ctx.code(value)) or _iterable_dataset(ctx, value):
            return False
    return True


def _iterable_dataset(ctx, value: cst.BaseExpression) -> bool:
    """An `IterableDataset` (of torch, or a class of this file deriving from it): it decides
    itself what each worker and rank reads."""
    if not isinstance(value, cst.Call):
        return False
    if ctx.torch.is_any(value.func, ITERABLE_DATASET):
        return True
    name = dotted_name(value.func)
    for node in ctx.nodes:
        if isinstance(node, cst.ClassDef) and node.name.value == name:
            return any(
                ctx.torch.is_any(base.value, ITERABLE_DATASET) or "Iterable" in ctx.code(base.value)
                for base in node.bases
            )
    return False


def _message(ctx, loader: cst.Call, loop: cst.For, model: tuple[str, cst.Call]) -> str:
    name, wrap = model
    wrapper = sorted(ctx.torch.names(wrap.func) & DATA_PARALLEL)[0].rsplit(".", 1)[-1]
    return (
        f"this DataLoader has no `sampler=DistributedSampler(...)` but its batches train the "
        f"`{wrapper}` model `{name}` (line {ctx.position(wrap).start.line}) in the loop at line "
        f"{ctx.position(loop).start.line}: every rank trains on the same samples"
    )
