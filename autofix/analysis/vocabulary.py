"""The operation vocabulary as data: every spelling of an operation (tensor method, `torch.`
function, functional, operator, module class) mapped to one canonical op, with what autograd saves
for it, which forms work in place, which cut the graph and which give values without gradient.

The save tables are checked against real torch by tests/test_vocabulary.py: modifying a saved
tensor in place before backward raises "one of the variables needed for gradient computation has
been modified by an inplace operation"; modifying an unsaved one does not (`y = x * 3; y.add_(1)`).
"""

from __future__ import annotations

# -- what autograd saves ------------------------------------------------------------------------

# The op's backward reads its result: changing the result in place breaks backward.
SAVES_OUTPUT = frozenset(
    {"relu", "sigmoid", "tanh", "exp", "softmax", "log_softmax", "sqrt", "rsqrt", "reciprocal", "norm"}
)
# The op's backward reads its input whenever the result carries gradient.
SAVES_INPUT_ALWAYS = frozenset(
    {
        "pow", "log", "log1p", "log2", "log10", "sin", "cos", "abs", "square", "norm", "clamp", "gelu", "silu", "elu", "leaky_relu", "selu", "softplus",
        "hardtanh", "relu6", "mish", "hardswish", "logsigmoid", "layer_norm", "batch_norm",
        "group_norm", "instance_norm", "normalize", "max_pool", "avg_pool", "prelu",
    }
)
# The op's backward reads an input when another operand carries gradient (`x * w`, `x @ w`, a
# linear or convolution layer whose weight trains): the input is saved to compute the other's grad.
SAVES_INPUT_FOR_OTHERS = frozenset({"mul", "div", "matmul", "linear", "conv", "einsum", "addmm"})

# -- spellings -----------------------------------------------------------------------------------

# Tensor methods and `torch.` / `torch.nn.functional.` functions -> canonical op.
FUNCTION_OPS = {
    "matmul": "matmul", "mm": "matmul", "bmm": "matmul", "mv": "matmul", "dot": "matmul",
    "baddbmm": "addmm", "addmm": "addmm", "addbmm": "addmm", "addmv": "addmm", "einsum": "einsum",
    "linear": "linear", "bilinear": "linear",
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "conv_transpose1d": "conv",
    "conv_transpose2d": "conv", "conv_transpose3d": "conv",
    "mul": "mul", "multiply": "mul", "div": "div", "divide": "div", "true_divide": "div",
    "pow": "pow", "square": "square", "log": "log", "log1p": "log1p", "log2": "log2", "log10": "log10",
    "sin": "sin", "cos": "cos", "abs": "abs", "sqrt": "sqrt", "rsqrt": "rsqrt",
    "reciprocal": "reciprocal", "norm": "norm", "clamp": "clamp", "clip": "clamp",
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "softmax": "softmax",
    "log_softmax": "log_softmax", "gelu": "gelu", "silu": "silu", "elu": "elu",
    "leaky_relu": "leaky_relu", "selu": "selu", "softplus": "softplus", "hardtanh": "hardtanh",
    "relu6": "relu6", "mish": "mish", "hardswish": "hardswish", "logsigmoid": "logsigmoid",
    "layer_norm": "layer_norm", "batch_norm": "batch_norm", "group_norm": "group_norm",
    "instance_norm": "instance_norm", "normalize": "normalize", "prelu": "prelu",
    "max_pool1d": "max_pool", "max_pool2d": "max_pool", "max_pool3d": "max_pool",
    "avg_pool1d": "avg_pool", "avg_pool2d": "avg_pool", "avg_pool3d": "avg_pool",
}
# Binary operators (libcst operator class names) -> canonical op.
OPERATORS = {"Power": "pow", "Multiply": "mul", "Divide": "div", "MatrixMultiply": "matmul"}
# Module classes of torch.nn -> the op their forward runs on its input.
MODULE_OPS = {
    "Linear": "linear", "Bilinear": "linear", "LazyLinear": "linear",
    "Conv1d": "conv", "Conv2d": "conv", "Conv3d": "conv", "ConvTranspose1d": "conv",
    "ConvTranspose2d": "conv", "ConvTranspose3d": "conv", "LazyConv1d": "conv", "LazyConv2d": "conv",
    "LayerNorm": "layer_norm", "BatchNorm1d": "batch_norm", "BatchNorm2d": "batch_norm",
    "BatchNorm3d": "batch_norm", "GroupNorm": "group_norm", "InstanceNorm1d": "instance_norm",
    "InstanceNorm2d": "instance_norm", "InstanceNorm3d": "instance_norm", "ReLU": "relu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "GELU": "gelu", "SiLU": "silu", "ELU": "elu", "LeakyReLU": "leaky_relu", "SELU": "selu",
    "Softplus": "softplus", "Hardtanh": "hardtanh", "ReLU6": "relu6", "Mish": "mish",
    "Hardswish": "hardswish", "LogSigmoid": "logsigmoid", "PReLU": "prelu",
    "MaxPool1d": "max_pool", "MaxPool2d": "max_pool", "MaxPool3d": "max_pool",
    "AvgPool1d": "avg_pool", "AvgPool2d": "avg_pool", "AvgPool3d": "avg_pool",
}
# Module classes that run in place when built with `inplace=True`, and functionals taking the
# same keyword.
INPLACE_MODULES = frozenset(
    {"ReLU", "ReLU6", "ELU", "SELU", "CELU", "LeakyReLU", "Hardtanh", "Threshold", "SiLU", "Mish",
     "Hardswish", "Hardsigmoid", "RReLU", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
     "AlphaDropout", "FeatureAlphaDropout"}
)
INPLACE_FUNCTIONALS = frozenset(
    {"relu", "relu6", "elu", "selu", "celu", "leaky_relu", "hardtanh", "threshold", "silu", "mish",
     "hardswish", "hardsigmoid", "rrelu", "dropout", "dropout1d", "dropout2d", "dropout3d",
     "alpha_dropout", "feature_alpha_dropout"}
)
# Modules without parameters: calling them passes gradient through but trains nothing.
PARAMETERLESS_MODULES = frozenset(
    {"ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "ELU", "SELU", "CELU", "Tanh", "Sigmoid",
     "Softmax", "Softmax2d", "LogSoftmax", "Softmin", "Dropout", "Dropout1d", "Dropout2d",
     "Dropout3d", "AlphaDropout", "Identity", "Flatten", "Unflatten", "MaxPool1d", "MaxPool2d",
     "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
     "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample",
     "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "Hardtanh",
     "Softplus", "Softsign", "Mish", "Hardswish", "Hardsigmoid", "LogSigmoid", "Threshold",
     "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d",
     "ChannelShuffle", "Tanhshrink", "Softshrink", "Hardshrink", "GLU", "CosineSimilarity",
     "PairwiseDistance", "Fold", "Unfold"}
)


def parameterless(class_name: str) -> bool:
    """A module class with no parameters of its own (an activation, a pooling, a loss)."""
    return class_name in PARAMETERLESS_MODULES or class_name.endswith("Loss")


# Containers whose call runs their children in order (Sequential) or that only hold them.
SEQUENTIAL_MODULES = frozenset({"Sequential"})
CONTAINER_MODULES = frozenset({"ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})

# -- in place ------------------------------------------------------------------------------------

# Trailing-underscore methods that do not change the tensor's data.
NOT_INPLACE_METHODS = frozenset({"requires_grad_", "retain_grad_", "share_memory_", "detach_", "record_stream_"})
# In-place method -> its out-of-place twin, when `t = t.<twin>(...)` means the same.
OUT_OF_PLACE = {
    "add_": "add", "sub_": "sub", "mul_": "mul", "div_": "div", "pow_": "pow", "clamp_": "clamp",
    "clamp_min_": "clamp_min", "clamp_max_": "clamp_max", "relu_": "relu", "sigmoid_": "sigmoid",
    "tanh_": "tanh", "exp_": "exp", "neg_": "neg", "abs_": "abs", "sqrt_": "sqrt", "log_": "log",
    "masked_fill_": "masked_fill", "addcmul_": "addcmul", "addcdiv_": "addcdiv",
}
# Augmented assignment operators and their plain form.
AUGMENTED = {
    "AddAssign": "+", "SubtractAssign": "-", "MultiplyAssign": "*", "DivideAssign": "/",
    "PowerAssign": "**", "MatrixMultiplyAssign": "@",
}

# -- cuts and values without gradient ------------------------------------------------------------

# Methods whose result has no graph: `.detach()` and the conversions to Python / numpy values.
CUT_METHODS = frozenset({"detach", "item", "numpy", "tolist"})
# Calls that copy their argument into a new tensor with no history (re-wraps).
REWRAPS = frozenset(
    {"torch.tensor", "torch.as_tensor", "torch.from_numpy", "torch.Tensor", "torch.FloatTensor",
     "torch.DoubleTensor", "torch.HalfTensor", "torch.autograd.Variable",
     "torch.autograd.variable.Variable"}
)
# Python builtins that turn a tensor into a number.
NUMBER_BUILTINS = frozenset({"float", "int", "bool", "len", "str", "round", "abs"})
# Attributes and methods whose value never carries gradient (shapes, indices, comparisons, flags).
NO_GRAD_ATTRIBUTES = frozenset(
    {"shape", "dtype", "device", "grad", "requires_grad", "is_leaf", "ndim", "grad_fn", "layout",
     "training", "is_cuda"}
)
NO_GRAD_METHODS = frozenset(
    {"size", "dim", "numel", "argmax", "argmin", "argsort", "eq", "ne", "lt", "gt", "le", "ge",
     "nonzero", "long", "int", "bool", "byte", "short", "sign", "isnan", "isinf", "isfinite",
     "zero_grad", "train", "eval", "state_dict", "nelement", "element_size", "get_device",
     "stride", "data_ptr", "is_contiguous", "any", "all", "count_nonzero", "topk_indices"}
)
# Of those, the ones that read a tensor's metadata (its shape, its device), not its values: no
# value flows through them, so they cut nothing.
METADATA_METHODS = frozenset(
    {"size", "dim", "numel", "nelement", "element_size", "get_device", "stride", "data_ptr",
     "is_contiguous", "zero_grad", "train", "eval", "state_dict"}
)
NO_GRAD_TORCH_FUNCTIONS = frozenset(
    {"argmax", "argmin", "argsort", "randperm", "randint", "arange", "nonzero", "eq", "ne", "lt",
     "gt", "le", "ge", "isnan", "isinf", "isfinite", "numel", "bucketize", "searchsorted",
     "zeros", "ones", "full", "empty", "eye", "linspace", "logspace", "rand", "randn",
     "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "tril_indices",
     "triu_indices", "manual_seed", "is_tensor", "count_nonzero", "sign"}
)
# Methods returning a view: an in-place change of the view changes the tensor it views.
VIEW_METHODS = frozenset(
    {"view", "view_as", "reshape", "transpose", "permute", "squeeze", "unsqueeze", "flatten", "t",
     "expand", "expand_as", "narrow", "select", "unflatten", "movedim", "swapaxes", "contiguous",
     "unfold", "diagonal", "as_strided"}
)
# Methods returning the tensor itself when it already has that device, dtype or layout (on the
# CPU, `.to("cpu")` of a leaf is that leaf).
SAME_TENSOR_METHODS = frozenset({"to", "cpu", "cuda", "float", "double", "half", "type", "contiguous"})

# -- tensor factories ----------------------------------------------------------------------------

# Factories whose result is a trainable-looking weight: random or uninitialised values.
WEIGHT_FACTORIES = frozenset(
    {"randn", "rand", "empty", "normal", "randn_like", "rand_like", "empty_like", "randint", "Tensor",
     "FloatTensor"}
)
# Factories that also build weights when asked to train (`requires_grad=True`).
ANY_FACTORY = WEIGHT_FACTORIES | frozenset(
    {"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "tensor", "as_tensor", "eye",
     "arange", "linspace"}
)
