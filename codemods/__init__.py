"""The PyTorch rule pack: one module per rule."""

from autofix.codemods.clip_grad_misplaced import ClipGradMisplaced
from autofix.codemods.accumulated_loss_not_scaled import AccumulatedLossNotScaled
from autofix.codemods.bce_activation_mismatch import BceActivationMismatch
from autofix.codemods.checkpoint_reentrant_no_grad import CheckpointReentrantNoGrad
from autofix.codemods.ddp_without_distributed_sampler import DdpWithoutDistributedSampler
from autofix.codemods.detach_breaks_graph import DetachBreaksGraph
from autofix.codemods.eval_without_no_grad import EvalWithoutNoGrad
from autofix.codemods.eval_without_train import EvalWithoutTrain
from autofix.codemods.forward_called_directly import ForwardCalledDirectly
from autofix.codemods.functional_dropout_always_on import FunctionalDropoutAlwaysOn
from autofix.codemods.hidden_state_not_detached import HiddenStateNotDetached
from autofix.codemods.inplace_on_saved_tensor import InplaceOnSavedTensor
from autofix.codemods.loss_accumulates_graph import LossAccumulatesGraph
from autofix.codemods.missing_zero_grad import MissingZeroGrad
from autofix.codemods.module_list_not_registered import ModuleListNotRegistered
from autofix.codemods.no_grad_breaks_graph import NoGradBreaksGraph
from autofix.codemods.optimizer_misses_new_parameters import OptimizerMissesNewParameters
from autofix.codemods.retain_graph_in_loop import RetainGraphInLoop
from autofix.codemods.scaler_step_without_update import ScalerStepWithoutUpdate
from autofix.codemods.scheduler_before_optimizer import SchedulerBeforeOptimizer
from autofix.codemods.softmax_without_dim import SoftmaxWithoutDim
from autofix.codemods.require_grad_typo import RequireGradTypo
from autofix.codemods.softmax_before_cross_entropy import SoftmaxBeforeCrossEntropy
from autofix.codemods.step_without_backward import StepWithoutBackward
from autofix.codemods.tensor_not_parameter import TensorNotParameter
from autofix.codemods.uncalled_method import UncalledMethod
from autofix.codemods.zero_grad_after_backward import ZeroGradAfterBackward

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
    FunctionalDropoutAlwaysOn,
    ClipGradMisplaced,
    OptimizerMissesNewParameters,
    SoftmaxWithoutDim,
    ScalerStepWithoutUpdate,
    RetainGraphInLoop,
    RequireGradTypo,
    CheckpointReentrantNoGrad,
    DdpWithoutDistributedSampler,
    AccumulatedLossNotScaled,
    EvalWithoutNoGrad,
    SoftmaxBeforeCrossEntropy,
    BceActivationMismatch,
)
