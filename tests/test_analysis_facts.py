"""The shared facts behind the rules of issue 12 (callers, bindings, requires-grad, grad scope,
activations), on small sources; and the PyTorch behaviour their rules' docs state, measured."""

from __future__ import annotations

import copy
import math
import textwrap
import warnings

import libcst as cst
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autofix.analysis import activations as act
from autofix.context import FileContext


def _ctx(source: str) -> FileContext:
    return FileContext(cst.parse_module(textwrap.dedent(source)))


def _call(ctx: FileContext, code: str) -> cst.Call:
    return next(n for n in ctx.nodes if isinstance(n, cst.Call) and ctx.code(n) == code)


def _name(ctx: FileContext, value: str, nth: int = -1) -> cst.Name:
    return [n for n in ctx.nodes if isinstance(n, cst.Name) and n.value == value][nth]


NET = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return torch.softmax(self.fc(x), dim=1)

model = Net()
for x, y in loader:
    out = model(x)
"""


def test_instance_calls_run_forward_with_their_arguments():
    ctx = _ctx(NET)
    forward = next(n for n in ctx.nodes if isinstance(n, cst.FunctionDef) and n.name.value == "forward")
    (site,) = ctx.callers.of(forward)
    assert ctx.code(site.call) == "model(x)"
    assert ctx.code(site.arguments["x"]) == "x"


def test_a_forward_parameter_fed_data_by_every_caller_does_not_require_grad():
    ctx = _ctx(NET)
    assert ctx.semantic.surely_without_grad(_name(ctx, "x", 1))  # `x` inside forward
    assert not ctx.semantic.surely_without_grad(_call(ctx, "self.fc(x)"))


def test_a_function_called_only_under_no_grad_runs_without_autograd():
    ctx = _ctx(
        """
        import torch
        def collect(model, xs):
            return [model(x) for x in xs]
        def run(model, xs):
            with torch.no_grad():
                return collect(model, xs)
        torch.set_grad_enabled(False)
        late = model(x)
        """
    )
    assert ctx.grad_scope.disabled_at(_call(ctx, "model(x)"))
    assert ctx.grad_scope.disabled_at(_name(ctx, "late"))


def test_reaching_assignment_is_the_one_every_path_runs_last():
    ctx = _ctx(
        """
        a = f()
        a = g()
        use(a)
        if cond:
            b = f()
        use(b)
        for i in range(3):
            use(c)
            c = f()
        """
    )
    assert ctx.code(ctx.bindings.reaching(_name(ctx, "a"))) == "g()"
    assert ctx.bindings.reaching(_name(ctx, "b")) is None
    assert ctx.bindings.reaching(_name(ctx, "c", 0)) is None


def test_activations_through_forward_sequential_shape_ops_and_branches():
    ctx = _ctx(
        NET
        + """
seq = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
probs = torch.softmax(out, dim=1)
flat = probs.view(-1)
p = seq(x)
either = out if training else probs
"""
    )
    found = ctx.activations.of(_call(ctx, "model(x)"))
    assert found.kind == act.SOFTMAX and found.before is None
    local = ctx.activations.of(_name(ctx, "probs", 1))
    assert local.kind == act.SOFTMAX and ctx.code(local.before) == "out"
    assert ctx.activations.of(_call(ctx, "probs.view(-1)")).before is None
    assert ctx.activations.of(_call(ctx, "seq(x)")).kind == act.SIGMOID
    assert ctx.activations.of(_name(ctx, "either")) is None


@pytest.mark.parametrize("name", sorted(act.FUNCTIONS))
def test_activation_functions_are_what_the_table_says(name):
    function = eval(name, {"torch": torch})
    x = torch.randn(4, 3) * 5
    y = function(x, torch.randn(2, 3)) if act.FUNCTIONS[name] == act.LOGITS else (
        function(x, dim=1) if "softmax" in name else function(x)
    )
    kind = act.FUNCTIONS[name]
    if kind == act.SOFTMAX:
        assert torch.allclose(y.sum(dim=1), torch.ones(4))
    elif kind == act.LOG_SOFTMAX:
        assert torch.allclose(y.exp().sum(dim=1), torch.ones(4))
    elif kind == act.SIGMOID:
        assert ((y > 0) & (y < 1)).all()
    else:
        assert (y.abs() > 1).any()


@pytest.mark.parametrize("cls", sorted(act.MODULES))
def test_activation_module_classes_exist(cls):
    assert issubclass(getattr(nn, cls), nn.Module)


def _accumulated_update_ratio(optimizer_class):
    torch.manual_seed(0)
    base = nn.Linear(5, 1)
    data = [(torch.randn(8, 5), torch.randn(8, 1)) for _ in range(4)]

    def update(scale):
        model = copy.deepcopy(base)
        optimizer = optimizer_class(model.parameters(), lr=0.1)
        for x, y in data:
            (F.mse_loss(model(x), y) / scale).backward()
        optimizer.step()
        return (model.weight - base.weight).norm()

    return (update(1) / update(4)).item()


def test_unscaled_accumulation_is_k_times_the_sgd_step_and_invisible_to_adam():
    assert _accumulated_update_ratio(torch.optim.SGD) == pytest.approx(4.0, abs=1e-4)
    assert _accumulated_update_ratio(torch.optim.Adam) == pytest.approx(1.0, abs=1e-4)


def test_loss_floors_quoted_by_the_activation_rules():
    assert math.log(1 + 9 / math.e) == pytest.approx(1.46, abs=0.01)  # 10 classes
    best = F.binary_cross_entropy_with_logits(torch.sigmoid(torch.tensor([50.0])), torch.ones(1))
    assert best.item() == pytest.approx(0.313, abs=1e-3)


def test_reentrant_checkpoint_is_the_default_and_gives_no_gradient_to_the_segment():
    from torch.utils.checkpoint import checkpoint

    layer = nn.Linear(3, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = checkpoint(layer, torch.randn(2, 3))
    messages = " ".join(str(w.message) for w in caught)
    assert "use_reentrant parameter should be passed explicitly" in messages
    assert "None of the inputs have requires_grad=True" in messages
    assert not out.requires_grad
    checkpoint(layer, torch.randn(2, 3), use_reentrant=False).sum().backward()
    assert layer.weight.grad is not None
