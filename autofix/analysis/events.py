"""What running the file's code does, as the semantic model records it: training events in
execution order (a trace per entry point), in-place updates, values returned by `forward`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from autofix.analysis.values import Val


class Act(enum.Enum):
    BACKWARD = "backward"
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    SCHEDULER_STEP = "scheduler_step"
    TRAIN = "train"
    EVAL = "eval"
    GRAD = "grad"  # torch.autograd.grad(...): gradients computed without .grad being set


@dataclass(frozen=True)
class Event:
    """One training event: what ran (`act`), where it is written (`node`, a source order), the
    value it acts on (the loss, the optimizer, the module, the scheduler), the calls that led
    there from the frame that recorded the trace (`via`, outermost first), and the no_grad
    context it ran under (a source order, or None with autograd on)."""

    act: Act
    node: int
    val: Val
    via: tuple = ()
    grad_off: int | None = None
    has_args: bool = False

    def through(self, call: int) -> "Event":
        return Event(self.act, self.node, self.val, (call, *self.via), self.grad_off, self.has_args)


@dataclass(frozen=True)
class InPlace:
    """An in-place update (`t += u`, `t.add_(u)`, `t[i] = v`, a module built with `inplace=True`)
    of a tensor autograd saved (`saver`: the op that saved it) or of a leaf that requires grad."""

    node: int  # the statement or call doing the update
    target: Val  # the tensor's value just before
    saver: int | None  # the op that saved it for backward
    leaf: bool  # a leaf that requires grad, updated with autograd on
    module: str | None = None  # heap id of the in-place module doing it, if one did


@dataclass(frozen=True)
class Return:
    """A value returned by an nn.Module's `forward` (or a method it runs)."""

    node: int
    val: Val
    cls: int  # source order of the module class
