"""The op tables of autofix/analysis/autograd_ops.py, checked against real torch."""

from __future__ import annotations

import pytest
import torch

from autofix.analysis.autograd_ops import OUT_OF_PLACE, SAVES_INPUT, SAVES_OUTPUT

MODIFIED = "modified by an inplace operation"


def _grad_tensor():
    base = torch.rand(3, 3, requires_grad=True)
    return base * 1 + 0.5  # a non-leaf that carries gradient, positive (log, sqrt)


@pytest.mark.parametrize("op", sorted(SAVES_OUTPUT))
def test_output_saving_ops_break_when_their_result_changes(op):
    result = getattr(torch, op)(_grad_tensor(), **({"dim": 1} if "softmax" in op else {}))
    result.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        result.sum().backward()


def _apply(op, t, other):
    if op in ("matmul", "mm", "mul", "div"):
        return getattr(torch, op)(t, other)
    if op == "bmm":
        return torch.bmm(t.unsqueeze(0), other.unsqueeze(0))
    if op == "pow":
        return t ** 2
    return getattr(torch, op)(t)


@pytest.mark.parametrize("op", sorted(SAVES_INPUT))
def test_input_saving_ops_break_when_their_input_changes(op):
    t = _grad_tensor()
    result = _apply(op, t, torch.rand(3, 3, requires_grad=True))
    t.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        result.sum().backward()


def test_autograd_tolerates_inplace_on_an_unsaved_result():
    y = _grad_tensor() * 3
    y.add_(1)
    y.sum().backward()  # the seed trap: no error


def test_mul_by_a_constant_does_not_save_its_input():
    t = _grad_tensor()
    y = t * 3
    t.add_(1)
    y.sum().backward()


@pytest.mark.parametrize("method, twin", sorted(OUT_OF_PLACE.items()))
def test_out_of_place_twins_exist_and_agree(method, twin):
    args = {
        "masked_fill_": (torch.ones(3, 3, dtype=torch.bool), 0.0),
        "addcmul_": (torch.rand(3, 3), torch.rand(3, 3)),
        "addcdiv_": (torch.rand(3, 3), torch.rand(3, 3) + 1),
        "clamp_": (0.1, 0.9),
    }.get(method, (2.0,) if method in ("add_", "sub_", "mul_", "div_", "pow_", "clamp_min_", "clamp_max_") else ())
    base = torch.rand(3, 3) + 0.5
    expected = getattr(base.clone(), method)(*args)
    assert torch.allclose(getattr(base, twin)(*args), expected)
