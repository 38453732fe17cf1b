"""Tensor ranks the analysis reads from the code, checked against real torch: each snippet is
run, and the rank autofix infers for `probe(...)`'s argument (None: unknown) must be the rank
torch gives it."""

from __future__ import annotations


import libcst as cst
import pytest

from autofix.context import FileContext

CASES = [
    ("x = torch.randn(4, 10)\nprobe(x)", 2),
    ("x = torch.zeros((2, 3, 5))\nprobe(x.sum(dim=1))", 2),
    ("x = torch.randn(2, 3, 5)\nprobe(x.mean(-1, keepdim=True))", 3),
    ("x = torch.randn(2, 3, 5)\nprobe(x.view(x.size(0), -1))", 2),
    ("x = torch.randn(2, 3, 5)\nprobe(x.flatten(1))", 2),
    ("x = torch.randn(2, 3, 5)\nprobe(torch.flatten(x))", 1),
    ("x = torch.randn(2, 3)\nprobe(x.unsqueeze(-1))", 3),
    ("x = torch.randn(2, 3, 5)\nprobe(x[:, -1])", 2),
    ("x = torch.randn(2, 3)\nprobe(x[None])", 3),
    ("q = torch.randn(2, 4, 8)\nprobe(torch.bmm(q, q.transpose(1, 2)) / math.sqrt(8))", 3),
    ("q = torch.randn(2, 3, 4, 8)\nprobe(torch.einsum('bhqd,bhkd->bhqk', q, q))", 4),
    ("a = torch.randn(5, 2)\nb = torch.randn(3, 2)\nprobe(torch.cdist(a, b))", 2),
    ("x = torch.randn(3, 4)\nprobe(x @ torch.randn(4))", 1),
    ("x = torch.randn(3, 4)\nprobe(x + torch.randn(2, 3, 4))", 3),
    ("fc = nn.Linear(4, 1)\nprobe(fc(torch.randn(6, 4)))", 2),
    ("emb = nn.Embedding(10, 4)\nprobe(emb(torch.tensor([[1, 2], [3, 4]])))", 3),
    ("t = 0.5\nprobe(torch.tensor([1.0, -2.0]) / t)", 1),
    ("x = torch.randn(3, 4)\nx = x.view(-1)\nprobe(x)", 1),
    # unknown: a parameter, a shape variable, a conditional assignment, a tensor operand
    ("def f(x):\n    probe(x)\nf(torch.randn(2))", None),
    ("shape = (2, 3)\nprobe(torch.zeros(shape))", None),
    ("x = torch.randn(2)\nif flag:\n    x = torch.randn(2, 2)\nprobe(x)", None),
    ("x = torch.randn(3, 4)\nprobe(x * torch.ones(1))", 2),
    ("x = torch.randn(3, 4)\nfor _ in range(2):\n    probe(x)\n    x = x.unsqueeze(0)", None),
]


@pytest.mark.parametrize("code, rank", CASES, ids=[c[0].splitlines()[-1] for c in CASES])
def test_rank_matches_torch(code, rank):
    import math

    import torch
    import torch.nn as nn

    source = "import math\nimport torch\nimport torch.nn as nn\nflag = False\n" + code + "\n"
    seen = []
    names = {"probe": lambda t: seen.append(t.dim()), "math": math, "torch": torch, "nn": nn}
    exec(compile(source, "<case>", "exec"), names)
    ctx = FileContext(cst.parse_module(source))
    probe = next(n for n in ctx.nodes if isinstance(n, cst.Call) and ctx.code(n.func) == "probe")
    inferred = ctx.shapes.of(probe.args[0].value)
    if rank is None:
        assert inferred is None
    else:
        assert inferred is not None and inferred.rank == rank == seen[0]
