"""The PyTorch rule pack: one module per rule."""

from codemods.missing_zero_grad import MissingZeroGrad
from codemods.step_without_backward import StepWithoutBackward
from codemods.uncalled_method import UncalledMethod
from codemods.zero_grad_after_backward import ZeroGradAfterBackward

BUILTIN_RULES = (
    MissingZeroGrad,
    ZeroGradAfterBackward,
    StepWithoutBackward,
    UncalledMethod,
)
