"""Which operations make autograd save a tensor for backward. Data, checked against real torch by
tests/test_autograd_ops.py: modifying a saved tensor in place before backward raises "one of the
variables needed for gradient computation has been modified by an inplace operation"."""

# The op's backward uses its result: an in-place change of the result breaks it.
SAVES_OUTPUT = frozenset(
    {"sigmoid", "tanh", "exp", "relu", "softmax", "log_softmax", "sqrt", "rsqrt", "reciprocal"}
)
# The op's backward uses its input (for `mul`/`matmul`/`div`: when the other operand carries
# gradient); an in-place change of the input breaks it.
SAVES_INPUT = frozenset({"pow", "log", "sin", "cos", "matmul", "mm", "bmm", "mul", "div", "log1p"})
# Input-saving ops that save their input whatever the other operands are.
SAVES_INPUT_ALWAYS = frozenset({"pow", "log", "sin", "cos", "log1p"})
# Binary operators and the op they are.
OPERATORS = {"Power": "pow", "Multiply": "mul", "Divide": "div", "MatrixMultiply": "matmul"}
# In-place method -> its out-of-place twin, when `t = t.<twin>(...)` means the same.
OUT_OF_PLACE = {
    "add_": "add", "sub_": "sub", "mul_": "mul", "div_": "div", "pow_": "pow", "clamp_": "clamp",
    "clamp_min_": "clamp_min", "clamp_max_": "clamp_max", "relu_": "relu", "sigmoid_": "sigmoid",
    "tanh_": "tanh", "exp_": "exp", "neg_": "neg", "abs_": "abs", "sqrt_": "sqrt", "log_": "log",
    "masked_fill_": "masked_fill", "addcmul_": "addcmul", "addcdiv_": "addcdiv",
}
# Augmented assignment operators and their plain form.
AUGMENTED = {"AddAssign": "+", "SubtractAssign": "-", "MultiplyAssign": "*", "DivideAssign": "/", "PowerAssign": "**", "MatrixMultiplyAssign": "@"}
