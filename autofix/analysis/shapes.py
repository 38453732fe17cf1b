"""The rank of a tensor (and the size of its last dimension) when the code makes it known:
factories with literal sizes (`torch.randn(4, 10)`), `view` / `reshape` / `flatten` /
`unsqueeze`, reductions over one dimension, indexing, `bmm` / `@` / `einsum`, element-wise ops,
and the modules that keep the rank (`nn.Linear`, activations, dropout, norms). A name has the
shape every assignment to it in its function agrees on; anything else is unknown (None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from autofix.context import FileContext


@dataclass(frozen=True)
class Shape:
    rank: int
    last: int | None = None  # the size of the last dimension, when literal


# Calls (torch functions or tensor methods) whose result has the shape of their first tensor
# (not `add` / `mul` / `pow` ...: their other operand may broadcast to more dimensions).
_SAME_SHAPE = frozenset(
    {
        "relu", "relu6", "gelu", "silu", "elu", "selu", "leaky_relu", "mish", "hardtanh",
        "sigmoid", "tanh", "exp", "log", "log1p", "abs", "neg", "sqrt", "rsqrt", "square",
        "sin", "cos", "softplus", "dropout", "dropout1d", "dropout2d", "dropout3d",
        "alpha_dropout", "normalize", "layer_norm", "softmax", "log_softmax", "softmin",
        "contiguous", "float", "double", "half", "bfloat16", "to", "cpu", "cuda", "detach",
        "clone", "type_as", "transpose", "t", "mT", "flip", "roll", "nan_to_num",
        # in-place forms cannot change the shape of what they update
        "relu_", "tanh_", "sigmoid_", "mul_", "add_", "sub_", "div_", "masked_fill_", "clamp_",
        "fill_", "zero_", "requires_grad_",
    }
)
_REDUCTIONS = frozenset(
    {
        "sum", "mean", "amax", "amin", "std", "var", "norm", "prod", "logsumexp", "nansum",
        "nanmean", "all", "any",
    }
)
# Modules that keep the rank of their input (and, for `Linear`, set the last size).
_SAME_RANK_MODULES = frozenset(
    {
        "Linear", "LazyLinear", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU",
        "SELU", "Mish", "Softplus", "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout",
        "LayerNorm", "Identity", "Softmax", "LogSoftmax", "Softmin",
    }
)
_SIZED_FACTORIES = frozenset({"randn", "rand", "zeros", "ones", "empty"})
_LIKE_FACTORIES = frozenset(
    {"randn_like", "rand_like", "zeros_like", "ones_like", "empty_like", "full_like"}
)


class TensorShapes:
    def __init__(self, ctx: "FileContext") -> None:
        self._ctx = ctx
        self._visiting: set[int] = set()

    def of(self, expr: cst.BaseExpression) -> Shape | None:
        if id(expr) in self._visiting:
            return None  # `x = torch.relu(x)`: the name's own assignments do not decide it
        self._visiting.add(id(expr))
        try:
            return self._of(expr)
        finally:
            self._visiting.discard(id(expr))

    # -- expressions -------------------------------------------------------------------------

    def _of(self, expr: cst.BaseExpression) -> Shape | None:
        if isinstance(expr, cst.Name):
            return self._name(expr)
        if isinstance(expr, cst.Call):
            return self._call(expr)
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr)
        if isinstance(expr, cst.BinaryOperation):
            return self._binary(expr)
        if isinstance(expr, cst.UnaryOperation):
            return self.of(expr.expression)
        if isinstance(expr, cst.IfExp):
            body, orelse = self.of(expr.body), self.of(expr.orelse)
            return body if body == orelse else None
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("T", "mT", "data"):
            return self.of(expr.value)
        return None

    def _name(self, name: cst.Name) -> Shape | None:
        value = self._reaching(name)
        return self.of(value) if value is not None else None

    def _reaching(self, name: cst.Name) -> cst.BaseExpression | None:
        """The value of the assignment that reaches `name`: the last one before it in its
        function, when that one always runs before it (it sits in a block around the use) and no
        later assignment in a loop around the use can reach it from the previous iteration."""
        ctx = self._ctx
        scope = ctx.training.scope_of(name)
        use = ctx.order(name)
        around = set(map(id, ctx.ancestors(name)))
        bindings = self._bindings(scope, name.value)
        for loop in ctx.training.loops_around(name):
            inside = set(map(id, ctx.nodes_in(loop.body)))
            if any(
                id(node) in inside and (ctx.order(node) > use or id(node) in around)
                for node, _ in bindings
            ):
                return None  # the previous iteration's value reaches the use
        before = [
            (node, value)
            for node, value in bindings
            if ctx.order(node) < use
            # an assignment whose value holds the use binds after it; a `for` or `with` around it
            # binds before its body runs
            and not (isinstance(node, cst.SimpleStatementLine) and id(node) in around)
        ]
        if not before:
            return None  # a parameter, a global, a name bound elsewhere
        statement, value = before[-1]
        if id(ctx.parent(statement)) not in around:
            return None  # an assignment under a condition, or in another branch
        return value  # None for an unpacking or a `for` target

    def is_scalar(self, expr: cst.BaseExpression) -> bool:
        """A Python number, not a tensor: literals, `math.sqrt(d)`, `x.size(-1)`,
        `head_dim ** -0.5`, and names and `self.` attributes bound to such values."""
        if id(expr) in self._visiting:
            return False
        self._visiting.add(id(expr))
        try:
            return self._is_scalar(expr)
        finally:
            self._visiting.discard(id(expr))

    def _is_scalar(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, (cst.Integer, cst.Float)):
            return True
        if isinstance(expr, cst.UnaryOperation):
            return self.is_scalar(expr.expression)
        if isinstance(expr, cst.BinaryOperation):
            return self.is_scalar(expr.left) and self.is_scalar(expr.right)
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Name):
                return func.value in ("float", "int", "len", "round")
            if isinstance(func, cst.Attribute):
                if isinstance(func.value, cst.Name) and func.value.value == "math":
                    return True
                return func.attr.value in ("item", "numel", "dim") or (
                    func.attr.value == "size" and bool(expr.args)
                )
            return False
        if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Attribute):
            return expr.value.attr.value == "shape"  # `x.shape[-1]`
        if isinstance(expr, cst.Name):
            value = self._reaching(expr)
            return value is not None and self.is_scalar(value)
        if isinstance(expr, cst.Attribute) and self._ctx.code(expr.value) == "self":
            classes = (a for a in self._ctx.ancestors(expr) if isinstance(a, cst.ClassDef))
            owner = next(classes, None)
            values = [
                node.value
                for node in (self._ctx.nodes_in(owner) if owner is not None else ())
                if isinstance(node, cst.Assign)
                and any(self._ctx.code(t.target) == self._ctx.code(expr) for t in node.targets)
            ]
            return len(values) == 1 and _is_arithmetic(values[0])
        return False

    def _bindings(self, scope, name: str) -> list[tuple[cst.CSTNode, cst.BaseExpression | None]]:
        """Where the scope binds `name`: (the statement line, the value), the value None for an
        unpacking, a `for` target, a `with ... as` or a walrus."""
        found = []
        for node in self._ctx.own_nodes(scope):
            if isinstance(node, (cst.Assign, cst.AnnAssign)):
                if isinstance(node, cst.Assign):
                    targets = [t.target for t in node.targets]
                else:
                    targets = [node.target]
                for target in targets:
                    if isinstance(target, cst.Name) and target.value == name:
                        found.append((self._ctx.parent(node), node.value))
                    elif _binds_inside(target, name):
                        found.append((self._ctx.parent(node), None))
            elif isinstance(node, (cst.For, cst.CompFor, cst.WithItem, cst.NamedExpr)):
                target = getattr(node, "target", None) or getattr(node, "asname", None)
                if _binds_inside(target, name):
                    found.append((node, None))
        return found

    def _call(self, call: cst.Call) -> Shape | None:
        torch = self._ctx.torch
        names = torch.names(call.func)
        function = next((n.rsplit(".", 1)[-1] for n in names if n.startswith("torch.")), None)
        args = [a.value for a in call.args if a.keyword is None and not a.star]
        if function is not None:
            return self._torch_function(function, call, args)
        module = self._module_class(call.func)
        if module is not None:
            first = self.of(args[0]) if args else None
            if first is None:
                return None
            built = self._module_call(call.func)
            if module == "Embedding":
                return Shape(first.rank + 1, _literal_int(_argument(built, 1, "embedding_dim")))
            if module in ("Linear", "LazyLinear"):
                return Shape(first.rank, _literal_int(_argument(built, 1, "out_features")))
            return first
        if isinstance(call.func, cst.Attribute):
            return self._method(call.func.attr.value, self.of(call.func.value), call, args)
        return None

    def _torch_function(self, function: str, call: cst.Call, args) -> Shape | None:
        if function in _SIZED_FACTORIES:
            return _sizes_shape(args)
        if function in _LIKE_FACTORIES:
            return self.of(args[0]) if args else None
        if function in ("arange", "linspace", "logspace"):
            return Shape(1)
        if function == "eye":
            columns = args[1] if len(args) > 1 else args[0] if args else None
            return Shape(2, _literal_int(columns))
        if function in ("full", "randint"):
            size = _argument(call, 0 if function == "full" else len(args) - 1, "size")
            return _sizes_shape([size]) if isinstance(size, (cst.Tuple, cst.List)) else None
        if function in ("tensor", "as_tensor"):
            return _literal_shape(args[0]) if args else None
        if function == "bmm":
            return Shape(3, self._last(args[1]) if len(args) > 1 else None)
        if function == "mm":
            return Shape(2, self._last(args[1]) if len(args) > 1 else None)
        if function == "matmul" and len(args) == 2:
            return _matmul(self.of(args[0]), self.of(args[1]))
        if function == "einsum" and args and isinstance(args[0], cst.SimpleString):
            spec = args[0].evaluated_value
            if "->" in spec and "." not in spec:
                return Shape(len(spec.split("->", 1)[1].strip()))
            return None
        joined = args[0] if args else None
        if function in ("cat", "concat", "stack") and isinstance(joined, (cst.List, cst.Tuple)):
            shapes = {self.of(e.value) for e in joined.elements}
            if len(shapes) != 1 or None in shapes:
                return None
            shape = shapes.pop()
            return Shape(shape.rank + 1) if function == "stack" else Shape(shape.rank)
        if function == "flatten" and args:
            return self._flatten(call, offset=1)
        if function == "cdist" and args:
            first = self.of(args[0])
            return Shape(first.rank) if first is not None else None
        if function in _SAME_SHAPE and args:
            return self.of(args[0])
        return None

    def _method(self, method: str, receiver: Shape | None, call: cst.Call, args) -> Shape | None:
        if method in ("view", "reshape", "expand"):
            if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
                return _sizes_shape([args[0]])
            if len(args) == 1 and not isinstance(args[0], (cst.Integer, cst.UnaryOperation)):
                return None  # `x.view(shape)`: a tuple or an int, not known
            return _sizes_shape(args) if args else None
        if method in ("view_as", "reshape_as", "expand_as") and args:
            return self.of(args[0])
        if method == "flatten":
            return self._flatten(call, offset=0)
        if receiver is None:
            return None
        if method in _SAME_SHAPE:
            return receiver
        if method == "permute":
            return Shape(receiver.rank)
        if method == "unsqueeze" and args:
            index = _literal_int(args[0])
            if index is None:
                return None
            last = 1 if index in (-1, receiver.rank) else receiver.last
            return Shape(receiver.rank + 1, last)
        if method in _REDUCTIONS:
            if not call.args:
                return Shape(0)
            dim = _argument(call, 0, "dim")
            keepdim = _argument(call, 1, "keepdim")
            if isinstance(keepdim, cst.Name) and keepdim.value == "True":
                return Shape(receiver.rank)
            return Shape(receiver.rank - 1) if _literal_int(dim) is not None else None
        if method in ("matmul", "mm", "bmm") and args:
            return _matmul(receiver, self.of(args[0]))
        return None

    def _flatten(self, call: cst.Call, offset: int) -> Shape | None:
        """`x.flatten(1)` is 2-D whatever `x` was (it needs at least 2 dimensions to run)."""
        start = _argument(call, offset, "start_dim")
        end = _argument(call, offset + 1, "end_dim")
        if end is not None and _literal_int(end) != -1:
            return None
        first = 0 if start is None else _literal_int(start)
        if first is None or first < 0:
            return None
        return Shape(first + 1)

    def _subscript(self, node: cst.Subscript) -> Shape | None:
        base = self.of(node.value)
        if base is None:
            return None
        rank = base.rank
        last = base.last
        for element in node.slice:
            index = element.slice
            if isinstance(index, cst.Index):
                if isinstance(index.value, cst.Name) and index.value.value == "None":
                    rank += 1
                elif _literal_int(index.value) is not None:
                    rank -= 1
                else:
                    return None  # a tensor index, an ellipsis ...
            elif not isinstance(index, cst.Slice):
                return None
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
            last = None
        return Shape(rank, last) if rank >= 0 else None

    def _binary(self, node: cst.BinaryOperation) -> Shape | None:
        if isinstance(node.operator, cst.MatrixMultiply):
            return _matmul(self.of(node.left), self.of(node.right))
        left, right = self.of(node.left), self.of(node.right)
        if left is not None and self.is_scalar(node.right):
            return left
        if right is not None and self.is_scalar(node.left):
            return right
        if left is not None and right is not None:  # broadcasting: the larger rank
            last = left.last if left.last == right.last else None
            return Shape(max(left.rank, right.rank), last)
        return None

    # -- modules -----------------------------------------------------------------------------

    def _module_call(self, func: cst.BaseExpression) -> cst.Call | None:
        return self._ctx.modules.construction(func)

    def _module_class(self, func: cst.BaseExpression) -> str | None:
        built = self._module_call(func)
        if built is None:
            return None
        name = self._ctx.modules.library_module_class(built.func)
        return name if name in _SAME_RANK_MODULES or name == "Embedding" else None

    def _last(self, expr: cst.BaseExpression) -> int | None:
        shape = self.of(expr)
        return shape.last if shape is not None else None


def _argument(call: cst.Call | None, index: int, keyword: str) -> cst.BaseExpression | None:
    if call is None:
        return None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    return positional[index] if 0 <= index < len(positional) else None


def _literal_int(node: cst.BaseExpression | None) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal_int(node.expression)
        return -inner if inner is not None else None
    return None


def _is_arithmetic(node: cst.BaseExpression) -> bool:
    """`head_dim ** -0.5`, `1 / math.sqrt(d)`, `0.125`: a number computed from settings (a
    `self.` attribute assigned once, in `__init__`, from the constructor's arguments)."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.UnaryOperation):
        return _is_arithmetic(node.expression)
    if isinstance(node, cst.BinaryOperation):
        numbers = [n for n in (node.left, node.right) if _is_arithmetic(n)]
        names = [n for n in (node.left, node.right) if isinstance(n, cst.Name)]
        return len(numbers) + len(names) == 2 and bool(numbers)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return isinstance(node.func.value, cst.Name) and node.func.value.value == "math"
    return False


def _sizes_shape(args) -> Shape | None:
    """`randn(4, 10)`, `view(b, -1)`, `zeros((4, 10))`: one dimension per size."""
    if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
        elements = [e.value for e in args[0].elements]
    elif len(args) == 1 and _literal_int(args[0]) is None:
        return None  # `torch.zeros(shape)`: an int or a tuple
    else:
        elements = list(args)
    if not elements or any(isinstance(e, cst.StarredElement) for e in elements):
        return None
    return Shape(len(elements), _literal_int(elements[-1]))


def _literal_shape(node: cst.BaseExpression) -> Shape | None:
    """`[[1, 2], [3, 4]]` -> rank 2; a number -> rank 0."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return Shape(0)
    if isinstance(node, cst.UnaryOperation):
        return _literal_shape(node.expression)
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        inner = {_literal_shape(e.value) for e in node.elements}
        if len(inner) != 1 or None in inner:
            return None
        shape = inner.pop()
        return Shape(shape.rank + 1, len(node.elements) if shape.rank == 0 else shape.last)
    return None


def _matmul(left: Shape | None, right: Shape | None) -> Shape | None:
    if left is None or right is None:
        return None
    if left.rank == 1 and right.rank == 1:
        return Shape(0)
    if right.rank == 1:
        return Shape(left.rank - 1)
    if left.rank == 1:
        return Shape(right.rank - 1, right.last)
    return Shape(max(left.rank, right.rank), right.last)


def _binds_inside(target: cst.CSTNode | None, name: str) -> bool:
    """Does an unpacking or `as` target bind `name` somewhere inside?"""
    if target is None:
        return False
    if isinstance(target, cst.AsName):
        target = target.name
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_binds_inside(e.value, name) for e in target.elements)
    if isinstance(target, cst.StarredElement):
        return _binds_inside(target.value, name)
    return False
