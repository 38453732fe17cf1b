"""What calls, attributes and operators do, for the interpreter: the file's own functions,
classes and methods (run), and PyTorch's modules, optimizers, tensors and functions (modelled
from the vocabulary). Code the model cannot see passes on what it is given and may run any
module handed to it, so it never hides a live path."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis import vocabulary as vocab
from autofix.analysis.imports import dotted_name
from autofix.analysis.values import DATA, UNKNOWN, Kind, Val, flow, join

if TYPE_CHECKING:
    from autofix.analysis.interpreter import Frame, Interpreter

MODULE_NAME = re.compile(
    r"^_?(model|net|network|encoder|decoder|generator|discriminator|critic|actor|policy|backbone"
    r"|classifier|head|student|teacher|G|D|netG|netD|net_g|net_d|q_net|qnet|module|rnn|lstm|gru"
    r"|transformer|unet|vae|autoencoder|predictor|projector|embedding|embedder|layer)"
    r"(_?(\d+|[A-Za-z]|ema|old|new|target|online|main|base|ft|s|t|g|d))?$"
)
OPTIMIZER_NAME = re.compile(
    r"^_?(opt|optim|optimizer|optimiser)s?([_0-9A-Z]\w*)?$"
    r"|^\w*_(opt|optim|optimizer|optimiser)$"
    r"|^[a-z]\w*(Opt|Optim|Optimizer|Optimiser)$"
)
NOT_OPTIMIZER_NAME = re.compile(r"sched|scaler|env|accel|fabric|warmup|option", re.IGNORECASE)
SCHEDULER_NAME = re.compile(r"sched", re.IGNORECASE)
SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
LOSS_NAME = re.compile(r"^(criterion|loss_fn|loss_func|lossfn|\w*_criterion|\w*_loss_fn)$")
BACKWARD_RUNNER = re.compile(r"accel|fabric|engine|deepspeed|trainer|amp", re.IGNORECASE)
BACKWARD_METHOD = re.compile(r"^_?(manual_backward|(run|do|compute|call)_backward(_pass|_step)?|backward_(pass|step))$")
PARAMETER_NAME = re.compile(r"(^|_)(weight|bias|weights|biases|weight_[a-z]|bias_[a-z])(_\w+)?$")
MODULE_WRAPPERS = frozenset(
    {"torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.DataParallel",
     "torch.nn.DataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
     "torch.distributed.fsdp.FullyShardedDataParallel", "torch.compile", "torch.jit.script",
     "torch.jit.trace", "torch.nn.utils.weight_norm", "torch.nn.utils.spectral_norm",
     "torch.nn.utils.parametrizations.weight_norm", "torch.nn.utils.parametrizations.spectral_norm"}
)
# Results that are not plain eager modules: their `forward` and `__call__` differ by design.
NOT_EAGER = ("torch.jit.", "torch.compile", "torch.fx.", "torch.export.", "torch.onnx.", "torch._dynamo.")
TORCH_PACKAGES = frozenset(
    {"torch", "torchvision", "torchaudio", "torchtext", "lightning", "pytorch_lightning",
     "transformers", "timm", "diffusers", "accelerate"}
)
# Other frameworks whose models have a `forward` of their own: a file importing one of them may
# name such models `model` too, so names decide nothing there.
OTHER_FRAMEWORKS = frozenset(
    {"mxnet", "paddle", "oneflow", "mindspore", "jittor", "tensorflow", "keras", "chainer",
     "megengine", "tinygrad", "dynet", "caffe", "theano", "jax", "flax", "haiku", "onnxruntime"}
)
# Calls that hand back what they are given (`model, opt = accelerator.prepare(model, opt)`).
PASS_THROUGH_METHODS = frozenset({"prepare", "setup", "initialize", "wrap", "prepare_model", "prepare_optimizer"})
BUILTIN_NUMBERS = vocab.NUMBER_BUILTINS
BUILTIN_DATA = frozenset(
    {"print", "isinstance", "issubclass", "hasattr", "callable", "type", "id", "open", "format",
     "repr", "hash", "vars", "dir", "input", "exit", "quit", "divmod", "chr", "ord", "hex", "bin",
     "range", "slice", "object", "Exception", "ValueError", "RuntimeError", "TypeError",
     "KeyError", "AssertionError", "NotImplementedError", "StopIteration"}
)
BUILTIN_CONTAINERS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "dict", "filter"})


class Library:
    def __init__(self, interpreter: "Interpreter") -> None:
        self.i = interpreter
        self.ctx = interpreter.ctx
        self.heap = interpreter.heap
        self.torch = interpreter.ctx.torch

    # -- names the file does not bind -----------------------------------------------------------

    def global_name(self, node: cst.Name) -> Val:
        if self.torch.names(node):
            return DATA  # torch, nn, F, optim ...: namespaces and functions
        if node.value in ("True", "False", "None") or node.value in BUILTIN_DATA | BUILTIN_NUMBERS | BUILTIN_CONTAINERS:
            return DATA
        return UNKNOWN

    def argument(self, function: cst.FunctionDef, name: str, annotation: cst.Annotation | None) -> Val:
        """An argument of a function no code of the file calls, typed by its annotation or name."""
        order = self.ctx.order(function)
        typed = _annotation_name(annotation) if annotation is not None else ""
        base = f"arg:{order}:{name}"
        named = not typed and self.names_decide
        if typed.endswith(("Module", "Sequential")) or (named and MODULE_NAME.match(name)) or self._local_module_class(typed):
            return self.heap.create(base, Kind.MODULE, name, trainable=True).val
        if typed.endswith(("Optimizer",)) or (named and OPTIMIZER_NAME.match(name) and not NOT_OPTIMIZER_NAME.search(name)):
            return self.heap.create(base, Kind.OPTIMIZER, name, holds=None).val
        if not typed and SCHEDULER_NAME.search(name):
            return self.heap.create(base, Kind.SCHEDULER, name, holds=None).val
        if not typed and SCALER_NAME.search(name):
            return self.heap.create(base, Kind.SCALER, name).val
        if not typed and LOSS_NAME.match(name):
            return self.heap.create(base, Kind.MODULE, name).val
        return Val(kinds=frozenset({Kind.DATA}), idents=frozenset({base}))

    @cached_property
    def names_decide(self) -> bool:
        """Whether a name such as `model` may say what a value is when nothing else does: the
        file uses PyTorch, imports no other framework, and has no plain class with a `forward`."""
        tops = {origin.split(".", 1)[0] for origins in self.torch._aliases.values() for origin in origins}
        if not tops & TORCH_PACKAGES or tops & OTHER_FRAMEWORKS:
            return False
        classes = self.i.classes
        return not any(
            not classes.is_module(cls) and classes.method(cls, "forward") is not None
            for cls in classes.by_order.values()
        )

    def _local_module_class(self, name: str) -> bool:
        return any(self.i.classes.is_module(c) for c in self.i.classes.by_name.get(name, []))

    def unseen_result(self, values: list[Val], ident: str = "unseen") -> Val:
        """The result of code the model cannot see: it may carry what it was given, may run any
        module it was given, and may carry gradient from sources out of sight. `ident` names
        the tensor it makes (its own, not another's)."""
        modules = frozenset(
            o for v in values for o in v.sources()
            if (obj := self.heap.get(o)) is not None and obj.kind in (Kind.MODULE, Kind.TENSOR, Kind.OBJECT)
        )
        result = flow(values, None)
        return replace(result, kinds=frozenset({Kind.UNKNOWN}), live=result.live | modules, opaque=True,
                       idents=frozenset({ident}))

    # -- attributes -----------------------------------------------------------------------------

    def attribute(self, node: cst.Attribute, base: Val, frame: "Frame") -> Val:
        attr = node.attr.value
        parts = []
        for obj_id in sorted(base.objs):
            found = self._object_attribute(obj_id, attr, node, frame)
            if found is not None:
                parts.append(found)
        if parts and not (base.kinds - {Kind.MODULE, Kind.OBJECT, Kind.OPTIMIZER, Kind.SCHEDULER, Kind.SCALER}):
            return join(parts)
        if base.defs and not base.objs:
            return DATA  # attributes of a function or class of the file
        if attr in vocab.NO_GRAD_ATTRIBUTES:
            return DATA
        if attr == "data" and base.is_tensor:
            # `.data` shares the storage but not the version counter: autograd never sees
            # what is done to it, so it is a new tensor as far as saved tensors go.
            cut = base.cut_by(self.ctx.order(node))
            return replace(cut, kinds=frozenset({Kind.TENSOR}), idents=frozenset({f"data:{self.ctx.order(node)}"}), objs=frozenset())
        if attr in ("T", "mT", "H", "real", "imag"):
            return replace(base, leaf=False, kinds=frozenset({Kind.TENSOR}))
        if not base.kinds or base.kinds <= {Kind.DATA}:
            return DATA if not base.is_tensor else base
        rest = replace(base, objs=frozenset(), kinds=base.kinds - {Kind.MODULE, Kind.OBJECT}, leaf=False, defs=frozenset())
        derived = rest.derived(f"{self.ctx.order(node)}") if (rest.requires_grad or rest.is_tensor) else rest
        if base.opaque or Kind.UNKNOWN in base.kinds:
            derived = replace(derived, opaque=base.opaque, kinds=derived.kinds | {Kind.UNKNOWN})
        return join([derived, *parts]) if parts else derived

    def _object_attribute(self, obj_id: str, attr: str, node: cst.CSTNode, frame: "Frame") -> Val | None:
        obj = self.heap.get(obj_id)
        if obj is None:
            return None
        stored = self.heap.attribute(obj_id, attr)
        if stored is not None:
            return stored
        cls = self.i.classes.by_order.get(obj.local_class) if obj.local_class is not None else None
        if cls is not None:
            method = self.i.classes.method(cls, attr)
            if method is not None:
                if _is_property(method):
                    return self.i.splice(frame, node, self.i.run_function(method, obj.val, {}, frame.grad_off, None))
                return Val(kinds=frozenset({Kind.FUNCTION}), objs=frozenset({obj_id}), defs=frozenset({self.ctx.order(method)}))
            value = self.i.classes.class_attribute(cls, attr)
            if value is not None and not isinstance(value, cst.Annotation):
                return self.i.value(value, self.i.module_frame)
        if obj.kind is Kind.OPTIMIZER and attr == "param_groups":
            params = Val(kinds=frozenset({Kind.PARAMETERS}), live=obj.holds or frozenset())
            return Val(kinds=frozenset({Kind.CONTAINER}), members=Val(kinds=frozenset({Kind.CONTAINER}), fields=(("params", params),)))
        if obj.kind in (Kind.OPTIMIZER, Kind.SCHEDULER, Kind.SCALER):
            if attr == "optimizer" and obj.kind is Kind.SCHEDULER and obj.holds:
                return join(self.heap.objects[h].val for h in obj.holds if h in self.heap.objects)
            return DATA
        if obj.kind is Kind.MODULE and (cls is None or self.i.classes.is_module(cls)):
            if obj.cls in ("torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict") and "*" in obj.attrs:
                return obj.attrs["*"]
            if attr == "module" and obj.cls in MODULE_WRAPPERS and "module" in obj.attrs:
                return obj.attrs["module"]
            kind = Kind.TENSOR if PARAMETER_NAME.search(attr) else Kind.MODULE
            if cls is not None and not self.i.classes.has_foreign_base(cls) and kind is Kind.MODULE:
                return UNKNOWN
            return self.child(obj_id, attr, kind, trainable=True)
        if cls is not None and self.i.classes.has_foreign_base(cls):
            return self._named_child(obj_id, attr)
        if obj.kind in (Kind.UNKNOWN,):
            return self._named_child(obj_id, attr)
        return UNKNOWN if cls is not None else None

    def _named_child(self, obj_id: str, attr: str) -> Val:
        """An attribute code out of sight may have set, typed by its name."""
        if OPTIMIZER_NAME.match(attr) and not NOT_OPTIMIZER_NAME.search(attr):
            return self.child(obj_id, attr, Kind.OPTIMIZER, holds=None)
        if SCHEDULER_NAME.search(attr):
            return self.child(obj_id, attr, Kind.SCHEDULER, holds=None)
        if SCALER_NAME.search(attr):
            return self.child(obj_id, attr, Kind.SCALER)
        if self.names_decide and (MODULE_NAME.match(attr) or PARAMETER_NAME.search(attr)):
            return self.child(obj_id, attr, Kind.MODULE if MODULE_NAME.match(attr) else Kind.TENSOR, trainable=True)
        return self.child(obj_id, attr, Kind.UNKNOWN)

    def child(self, parent: str, attr: str, kind: Kind, **kw) -> Val:
        """An object held by `parent` as `attr` that no code of the file created (a library
        module's parameters and sub-modules, attributes set out of sight)."""
        obj_id = f"{parent}.{attr}"
        existing = self.heap.get(obj_id)
        obj = existing or self.heap.create(obj_id, kind, attr, parent=(parent, attr), **kw)
        value = obj.val
        if kind is Kind.TENSOR:
            value = Val(kinds=frozenset({Kind.TENSOR}), objs=frozenset({obj_id}), live=frozenset({obj_id}),
                        leaf=True, idents=frozenset({obj_id}))
        elif kind is Kind.UNKNOWN:
            value = replace(value, live=frozenset({obj_id}), kinds=frozenset({Kind.UNKNOWN}))
        if existing is None:
            self.heap.store(parent, attr, value)
        return value

    def is_instance(self, test: cst.Call, frame: "Frame") -> bool | None:
        """`isinstance(conv, nn.Conv2d)` when the model knows every object `conv` may be and
        the class is one of torch.nn's or of the file: decided, else None."""
        if len(test.args) != 2 or self.i.lookup("isinstance", frame) is not None:
            return None
        value = self.i.value(test.args[0].value, frame)
        classes = test.args[1].value
        wanted = [e.value for e in classes.elements] if isinstance(classes, cst.Tuple) else [classes]
        names = set()
        for expr in wanted:
            qualified = sorted(self.torch.names(expr))
            if qualified and qualified[0].startswith("torch.nn.") and self.ctx.modules.library_module_class(expr):
                names.add(qualified[0])
            elif isinstance(expr, cst.Name) and self.i.classes.by_name.get(expr.value):
                names.add(expr.value)
            else:
                return None
        objects = [self.heap.get(o) for o in value.objs]
        if not objects or value.kinds - {Kind.MODULE} or any(o is None or o.cls is None for o in objects):
            return None
        verdicts = {self._instance_of(o, names) for o in objects}
        return verdicts.pop() if len(verdicts) == 1 else None

    def _instance_of(self, obj, names: set[str]) -> bool | None:
        if obj.local_class is not None:
            cls = self.i.classes.by_order[obj.local_class]
            if any(c.name.value in names for c in self.i.classes.mro(cls)):
                return True
            return None if self.i.classes.has_foreign_base(cls) else False
        if obj.cls in names:
            return True
        return None if any(n.startswith("torch.nn.") is False for n in names) else False

    # -- subscripts, operators, iteration --------------------------------------------------------

    def subscript(self, node: cst.Subscript, frame: "Frame") -> Val:
        base = self.i.value(node.value, frame)
        for element in node.slice:
            inner = element.slice
            if isinstance(inner, cst.Index):
                self.i.value(inner.value, frame)
        from autofix.analysis.interpreter import _constant_key

        index = _constant_key(node)
        if base.fields is not None and index is not None:
            found = base.field(index)
            if found is not None:
                return found
        if base.items is not None and isinstance(index, int) and -len(base.items) <= index < len(base.items):
            return base.items[index]
        if base.is_tensor and not (base.items or base.fields or base.members):
            return replace(base, leaf=False, objs=frozenset(), kinds=frozenset({Kind.TENSOR}) if base.requires_grad else base.kinds)
        modules = [self.heap.get(o) for o in base.objs]
        if any(m is not None and m.kind is Kind.MODULE for m in modules):
            children = [v for m in modules if m is not None for k, v in m.attrs.items() if k.isdigit() or k == "*" or k.startswith("'")]
            if children:
                return join(children)
        if base.items is not None or base.fields is not None or base.members is not None:
            return base.member()
        if Kind.DATA in base.kinds and not base.requires_grad:
            return DATA
        return replace(base, leaf=False)

    def binary(self, node: cst.BinaryOperation, frame: "Frame") -> Val:
        left, right = self.i.value(node.left, frame), self.i.value(node.right, frame)
        if isinstance(node.operator, cst.Add) and (left.is_(Kind.CONTAINER) or right.is_(Kind.CONTAINER)):
            return Val(kinds=frozenset({Kind.CONTAINER}), members=join([left.member(), right.member(), *(
                [v] for v in ()
            )]) if (left.items or left.members or right.items or right.members) else None)
        result = self.i.under(flow([left, right], self.i.new_ident(node, frame)), frame)
        op = vocab.OPERATORS.get(type(node.operator).__name__)
        if op is not None:
            self._saves(op, node, [left, right], result, frame)
        return self._mark_saved(result, op, node, frame)

    def element(self, iterated: Val | None) -> Val:
        """What a `for` loop (or a comprehension) binds from iterating over a value."""
        if iterated is None:
            return DATA
        if iterated.items is not None or iterated.fields is not None or iterated.members is not None:
            return iterated.member()
        if Kind.PARAMETERS in iterated.kinds:
            return self.parameter(iterated.live)
        if iterated.objs and all((o := self.heap.get(i)) is not None and o.kind is Kind.MODULE for i in iterated.objs):
            children = [v for i in iterated.objs for k, v in self.heap.objects[i].attrs.items() if k.isdigit() or k == "*"]
            if children:
                return join(children)
        if iterated.is_tensor and (iterated.requires_grad or iterated.cuts):
            return replace(iterated, leaf=False, objs=frozenset())  # rows of a tensor
        return Val(kinds=frozenset({Kind.DATA}), idents=frozenset({"item"}))

    def fresh(self, element: Val, loop: cst.CSTNode, walk: int) -> Val:
        """Each iteration binds new tensors from a loader (parameters stay the same ones)."""
        if element.idents and not any(i.startswith("param:") for i in element.idents) and not element.objs:
            suffix = f"@{self.ctx.order(loop)}.{walk}"
            return replace(element, idents=frozenset(i + suffix for i in element.idents))
        if element.items is not None:
            return replace(element, items=tuple(self.fresh(e, loop, walk) for e in element.items))
        return element

    def parameter(self, owners) -> Val:
        """One parameter of the modules `owners`: a leaf that requires grad."""
        return Val(kinds=frozenset({Kind.TENSOR}), live=frozenset(owners), leaf=True,
                   idents=frozenset(f"param:{o}" for o in owners))

    # -- calls ----------------------------------------------------------------------------------

    def call(self, node: cst.Call, frame: "Frame") -> Val:
        from autofix.analysis.calls import Call

        return Call(self, node, frame).run()

    # -- the pieces calls use -------------------------------------------------------------------

    def _saves(self, op: str, node: cst.CSTNode, operands: list[Val], result: Val, frame: "Frame") -> None:
        """Record what autograd saves for `op` (see vocabulary)."""
        if frame.grad_off is not None or not (result.live or result.leaf):
            return
        if op in vocab.SAVES_INPUT_ALWAYS:
            self.i.save(frame, operands[0], node)
        if op in vocab.SAVES_INPUT_FOR_OTHERS:
            for index, operand in enumerate(operands):
                others = operands[:index] + operands[index + 1:]
                if any(o.live or o.leaf for o in others):
                    self.i.save(frame, operand, node)

    def _mark_saved(self, result: Val, op: str | None, node: cst.CSTNode, frame: "Frame") -> Val:
        """A result autograd keeps (or whose inputs it keeps) remembers the op in its history,
        so an in-place change of a saved tensor is tied to the backwards that go through it."""
        if op is None or frame.grad_off is not None or not (result.live or result.leaf):
            return result  # saved only when something named in it surely requires grad
        if op in vocab.SAVES_OUTPUT:
            self.i.save(frame, result, node)
        if op in vocab.SAVES_OUTPUT or op in vocab.SAVES_INPUT_ALWAYS or op in vocab.SAVES_INPUT_FOR_OTHERS:
            return replace(result, savers=result.savers | {self.ctx.order(node)})
        return result

    def set_requires_grad(self, target: cst.Attribute, base: Val, value: Val, frame: "Frame") -> None:
        """`t.requires_grad = True` makes a plain tensor a trainable leaf; `= False` freezes."""
        flag = _literal_bool(target, self.ctx, frame, value)
        if flag is False:
            self.freeze(base)
            return
        if flag is None or base.live or base.objs:
            return
        self.i.bind(target.value, self.make_leaf(target, base, frame), frame, rebind=True)

    def make_leaf(self, node: cst.CSTNode, base: Val, frame: "Frame") -> Val:
        order = self.ctx.order(node)
        rewrapped = bool(base.cuts)
        owner = self._owner_prefix(frame)
        obj = self.heap.create(f"{owner}leaf@{order}", Kind.TENSOR, f"<{self.ctx.code(node)}>", site=order,
                               trainable=True, rewrapped=rewrapped)
        return replace(base, kinds=frozenset({Kind.TENSOR}), live=frozenset({obj.id}), leaf=True,
                       idents=base.idents or frozenset({obj.id}))

    def freeze(self, value: Val) -> None:
        for source in value.live | value.objs:
            obj = self.heap.get(source)
            if obj is not None and not obj.frozen:
                obj.frozen = True
                self.heap.version += 1

    def _owner_prefix(self, frame: "Frame") -> str:
        owner = next(iter(sorted(frame.self_val.objs)), None) if frame.self_val is not None else None
        return f"{owner}/" if owner else ""

    # -- objects of the file's classes ----------------------------------------------------------

    def construct(self, cls: cst.ClassDef, args: list, node: cst.CSTNode | None, obj_id: str, name: str,
                  frame: "Frame | None" = None) -> Val:
        is_module = self.i.classes.is_module(cls)
        obj = self.heap.create(obj_id, Kind.MODULE if is_module else Kind.OBJECT, name,
                               site=self.ctx.order(node) if node is not None else None,
                               cls=cls.name.value, local_class=self.ctx.order(cls), trainable=is_module)
        if not is_module:
            for _, _, value in args:
                self.i.handed |= value.sources()  # `SGD([self.w, self.b], lr)`: held by hand
        init = self.i.classes.method(cls, "__init__")
        if init is not None:
            from autofix.analysis.calls import bind_arguments

            bound = bind_arguments(init, args, True)
            result = self.i.run_function(init, obj.val, bound, frame.grad_off if frame else None, None)
            if frame is not None and node is not None:
                self.i.splice(frame, node, result)
        elif _is_dataclass(cls):
            fields = [s.body[0].target.value for s in cls.body.body
                      if isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], cst.AnnAssign)
                      and isinstance(s.body[0].target, cst.Name)]
            for field_name, (keyword, _, value) in zip(fields, [a for a in args if a[0] is None]):
                self.heap.store(obj_id, field_name, value)
            for keyword, _, value in args:
                if keyword is not None:
                    self.heap.store(obj_id, keyword, value)
        post = self.i.classes.method(cls, "__post_init__")
        if post is not None:
            self.i.run_function(post, obj.val, {}, None, None)
        return obj.val


def _annotation_name(annotation: cst.Annotation) -> str:
    node = annotation.annotation
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value.rsplit(".", 1)[-1] if isinstance(node.evaluated_value, str) else ""
    return dotted_name(node).rsplit(".", 1)[-1]


def _is_property(method: cst.FunctionDef) -> bool:
    return any(dotted_name(d.decorator) in ("property", "functools.cached_property", "cached_property") for d in method.decorators)


def _is_dataclass(cls: cst.ClassDef) -> bool:
    for decorator in cls.decorators:
        target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
        if dotted_name(target).rsplit(".", 1)[-1] in ("dataclass", "define", "attrs", "frozen"):
            return True
    return False


def _literal_bool(target, ctx, frame, value: Val) -> bool | None:
    assign = ctx.parent(ctx.parent(target))
    if isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Name):
        if assign.value.value == "True":
            return True
        if assign.value.value == "False":
            return False
    return None

