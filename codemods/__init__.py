"""The PyTorch rule pack: one module per rule."""

from codemods.detach_breaks_graph import DetachBreaksGraph
from codemods.eval_without_train import EvalWithoutTrain
from codemods.forward_called_directly import ForwardCalledDirectly
from codemods.hidden_state_not_detached import HiddenStateNotDetached
from codemods.inplace_on_saved_tensor import InplaceOnSavedTensor
from codemods.loss_accumulates_graph import LossAccumulatesGraph
from codemods.missing_zero_grad import MissingZeroGrad
from codemods.module_list_not_registered import ModuleListNotRegistered
from codemods.no_grad_breaks_graph import NoGradBreaksGraph
from codemods.scheduler_before_optimizer import SchedulerBeforeOptimizer
from codemods.step_without_backward import StepWithoutBackward
from codemods.tensor_not_parameter import TensorNotParameter
from codemods.uncalled_method import UncalledMethod
from codemods.zero_grad_after_backward import ZeroGradAfterBackward

BUILTIN_RULES = (
    MissingZeroGrad,
    ZeroGradAfterBackward,
    StepWithoutBackward,
    UncalledMethod,
    DetachBreaksGraph,
    NoGradBreaksGraph,
    InplaceOnSavedTensor,
    TensorNotParameter,
    ModuleListNotRegistered,
    HiddenStateNotDetached,
    LossAccumulatesGraph,
    ForwardCalledDirectly,
    EvalWithoutTrain,
    SchedulerBeforeOptimizer,
)
