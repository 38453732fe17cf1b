"""Keyword arguments added to and dropped from calls keep the call's layout."""

from __future__ import annotations

import libcst as cst
import pytest

from autofix.arguments import add_keyword, drop_keyword


def _edit(code: str, edit) -> str:
    module = cst.parse_module(code)
    call = next(n for n in _calls(module))
    change = edit(call)
    return module.deep_replace(change.node, change.new[0]).code


def _calls(module):
    found = []

    class Collect(cst.CSTVisitor):
        def visit_Call(self, node):
            found.append(node)

    module.visit(Collect())
    return found


@pytest.mark.parametrize(
    "before, after",
    [
        ("f(x)\n", "f(x, dim=-1)\n"),
        ("f()\n", "f(dim=-1)\n"),
        ("f(x, p=0.1,)\n", "f(x, p=0.1, dim=-1,)\n"),
        ("f(\n    x,\n    p=0.1,\n)\n", "f(\n    x,\n    p=0.1,\n    dim=-1,\n)\n"),
        ("f(\n    x, p=0.1\n)\n", "f(\n    x, p=0.1, dim=-1\n)\n"),
    ],
)
def test_add_keyword(before, after):
    assert _edit(before, lambda call: add_keyword(call, "dim", "-1")) == after


@pytest.mark.parametrize(
    "before, after",
    [
        ("loss.backward(retain_graph=True)\n", "loss.backward()\n"),
        ("g(loss, retain_graph=True)\n", "g(loss)\n"),
        ("g(loss, retain_graph=True, inputs=x)\n", "g(loss, inputs=x)\n"),
        ("g(\n    loss,\n    retain_graph=True,\n)\n", "g(\n    loss,\n)\n"),
    ],
)
def test_drop_keyword(before, after):
    assert _edit(before, lambda call: drop_keyword(call, "retain_graph")) == after
