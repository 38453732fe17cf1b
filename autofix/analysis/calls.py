"""One call, run by the interpreter: to the file's own code (functions, classes, methods, module
`forward`s, hooks), to PyTorch (modules, optimizers, schedulers, tensors, functions), to builtins,
or to code out of sight."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis import vocabulary as vocab
from autofix.analysis.events import Act
from autofix.analysis.imports import AUTOGRAD_BACKWARD, AUTOGRAD_GRAD, dotted_name
from autofix.analysis.library import (
    BACKWARD_METHOD, BACKWARD_RUNNER, BUILTIN_CONTAINERS, BUILTIN_DATA, MODULE_WRAPPERS,
    OPTIMIZER_NAME, NOT_OPTIMIZER_NAME, PASS_THROUGH_METHODS, SCALER_NAME, SCHEDULER_NAME,
)
from autofix.analysis.values import DATA, NOTHING, UNKNOWN, Kind, Val, flow, join

if TYPE_CHECKING:
    from autofix.analysis.interpreter import Frame
    from autofix.analysis.library import Library

Argument = tuple  # (keyword or None, star: "" | "*" | "**", Val)
MAX_INSTANCES = 12  # distinct objects of one class of the file; more share one

MODULE_METHODS_RETURNING_SELF = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "type", "apply", "share_memory",
     "to_empty", "requires_grad_"}
)
NAMESPACE_DATA = ("torch.utils.data.", "torch.distributed.", "torch.cuda.", "torch.backends.",
                  "torch.nn.init.", "torch.nn.utils.clip_grad", "torch.save", "torch.load",
                  "torch.manual_seed", "torch.set_", "torch.use_", "torch.is_", "torch.get_")


class Call:
    def __init__(self, library: "Library", node: cst.Call, frame: "Frame") -> None:
        self.lib = library
        self.i = library.i
        self.ctx = library.ctx
        self.node = node
        self.frame = frame

    def run(self) -> Val:
        node, frame = self.node, self.frame
        func = node.func
        receiver = None
        if isinstance(func, cst.Attribute) and not _is_super(func.value):
            receiver = self.i.value(func.value, frame)
        self.args = [(a.keyword.value if a.keyword else None, a.star, self.i.value(a.value, frame)) for a in node.args]
        if isinstance(func, cst.Attribute) and _is_super(func.value):
            return self.super_call(func)
        qualified = self._torch_name(func)
        if qualified:
            return self.torch_call(qualified)
        if isinstance(func, cst.Name):
            bound = self.i.lookup(func.value, frame)
            if bound is None:
                return self.builtin(func.value)
            return self.call_value(bound)
        if isinstance(func, cst.Attribute):
            return self.method(receiver, func.attr.value)
        return self.call_value(self.i.value(func, frame))

    # -- helpers --------------------------------------------------------------------------------

    @property
    def values(self) -> list[Val]:
        return [v for _, _, v in self.args]

    def positional(self, index: int) -> Val | None:
        plain = [v for k, s, v in self.args if k is None and not s]
        return plain[index] if index < len(plain) else None

    def keyword(self, name: str) -> Val | None:
        return next((v for k, _, v in self.args if k == name), None)

    def flag(self, name: str, position: int | None = None) -> bool | None:
        """The literal truth of an argument (`requires_grad=True`, `train(False)`, a default
        passed down from a caller), None when the code does not make it known."""
        value = self.keyword(name)
        if value is None and position is not None:
            value = self.positional(position)
        if value is None or value.const is None:
            return None
        from autofix.analysis.values import SOME_NUMBER

        return None if value.const[0] is SOME_NUMBER else bool(value.const[0])

    def _torch_name(self, func: cst.BaseExpression) -> str:
        head = func
        while isinstance(head, cst.Attribute):
            head = head.value
        if not isinstance(head, cst.Name) or self.i.lookup(head.value, self.frame) is not None:
            return ""
        names = sorted(self.ctx.torch.names(func))
        return names[0] if names else ""

    def unseen(self, values: list[Val]) -> Val:
        """What code out of sight makes of `values`, as a tensor of this call's own."""
        return self.lib.unseen_result(values, "unseen:" + self.ident())

    def ident(self, suffix: str = "") -> str:
        return self.i.new_ident(self.node, self.frame, suffix)

    def result(self, values: list[Val], op: str | None = None) -> Val:
        """An op on tensors: provenance joined, autograd state applied, saves recorded."""
        value = self.i.under(flow(values, self.ident()), self.frame)
        if op is not None:
            self.lib._saves(op, self.node, values, value, self.frame)
        return self.lib._mark_saved(value, op, self.node, self.frame)

    def record(self, act: Act, value: Val, has_args: bool = False) -> None:
        self.i.record(self.frame, act, self.node, value, has_args)

    # -- the file's own code --------------------------------------------------------------------

    def call_value(self, callee: Val) -> Val:
        if callee.defs and (callee.items or callee.fields):  # functools.partial(f, ...)
            bound = [(None, "", v) for v in callee.items or ()]
            keywords = [(k, "", v) for k, v in callee.fields or ()]
            plain = replace(callee, items=None, fields=None)
            return self.call_value_with(plain, [*bound, *self.args, *keywords])
        parts = []
        for order in sorted(callee.defs):
            definition = self.i.functions.get(order)
            if isinstance(definition, cst.ClassDef):
                parts.append(self.construct(definition))
            elif definition is not None:
                self_val = join(self.lib.heap.objects[o].val for o in sorted(callee.objs) if o in self.lib.heap.objects) if callee.objs else None
                parts.append(self.run_local(definition, self_val or None))
        objects = [self.lib.heap.get(o) for o in sorted(callee.objs)] if not callee.defs else []
        modules = [o for o in objects if o is not None and o.kind is Kind.MODULE]
        if modules:
            parts.append(self.module_call(modules, self.args))
        plain = [o for o in objects if o is not None and o.kind is Kind.OBJECT]
        for obj in plain:
            cls = self.i.classes.by_order.get(obj.local_class)
            method = self.i.classes.method(cls, "__call__") if cls is not None else None
            if method is not None:
                parts.append(self.run_local(method, obj.val))
        if parts:
            return join(parts)
        return self.unseen([callee, *self.values]) if callee.opaque or Kind.UNKNOWN in callee.kinds else self.unseen(self.values)

    def run_local(self, function: cst.FunctionDef | cst.Lambda, self_val: Val | None, args=None) -> Val:
        self.i.callees.setdefault(self.ctx.order(self.node), set()).add(self.ctx.order(function))
        bound = bind_arguments(function, self.args if args is None else args, self_val is not None)
        parent = self._parent_frame(function)
        result = self.i.run_function(function, self_val, bound, self.frame.grad_off, parent)
        return self.i.splice(self.frame, self.node, result)

    def _parent_frame(self, function) -> "Frame | None":
        """A nested function reads the frame it was defined in (when that frame is running)."""
        scope = self.i.ctx.parent(function)
        while scope is not None and not isinstance(scope, (cst.FunctionDef, cst.Module, cst.Lambda)):
            scope = self.ctx.parent(scope)
        current = self.frame
        while current is not None:
            if current.scope is scope:
                return current
            current = current.parent
        return None

    def construct(self, cls: cst.ClassDef) -> Val:
        owner = self.lib._owner_prefix(self.frame)
        order = self.ctx.order(self.node)
        name = f"<{cls.name.value}>"
        obj_id = f"{owner}@{order}"
        made = self.i.instances.setdefault(self.ctx.order(cls), set())
        if obj_id not in made and len(made) >= MAX_INSTANCES:
            obj_id = f"{self.ctx.order(cls)}@many"  # a model zoo: one object stands for the rest
        made.add(obj_id)
        return self.lib.construct(cls, self.args, self.node, obj_id, name, self.frame)

    def super_call(self, func: cst.Attribute) -> Val:
        scope = self.frame.scope
        owner = self.i.classes.owner(scope) if isinstance(scope, cst.FunctionDef) else None
        self_val = self.frame.self_val
        name = func.attr.value
        if owner is None or self_val is None:
            return self.unseen(self.values)
        method = self.i.classes.method(owner, name, after=owner)
        if method is not None:
            return self.run_local(method, self_val)
        if name == "forward" and self.i.classes.is_module(owner):
            return self.result([*self.values, Val(live=frozenset(self_val.objs))])
        if name == "__init__":
            return DATA
        return self.method(self_val, name, local=False)

    # -- modules --------------------------------------------------------------------------------

    def module_call(self, modules: list, args: list[Argument], forward_only: bool = False) -> Val:
        parts = []
        for module in modules:
            parts.append(self._one_module(module, args, forward_only))
        return join(parts) if parts else NOTHING

    def _one_module(self, module, args: list[Argument], forward_only: bool) -> Val:
        cls = self.i.classes.by_order.get(module.local_class) if module.local_class is not None else None
        if cls is not None:
            forward = self.i.classes.method(cls, "forward") or self.i.classes.method(cls, "__call__")
            if not forward_only:
                for hook in list(module.hooks):
                    if hook[0] == "pre":
                        self.call_hook(hook[1], [(None, "", module.val), (None, "", Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(v for _, _, v in args)))])
            if forward is not None:
                value = self.run_local(forward, module.val, args)
                if not forward_only:
                    for hook in list(module.hooks):
                        if hook[0] == "post":
                            self.call_hook(hook[1], [(None, "", module.val), (None, "", Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(v for _, _, v in args))), (None, "", value)])
                return value
            if self.i.classes.has_foreign_base(cls):
                return self.result([*[v for _, _, v in args], Val(live=frozenset({module.id}))])
            return self.unseen([v for _, _, v in args])
        inputs = [v for _, _, v in args]
        if module.cls in MODULE_WRAPPERS and "module" in module.attrs:
            inner = [self.lib.heap.get(o) for o in sorted(module.attrs["module"].objs) if o != module.id]
            inner = [m for m in inner if m is not None and m.kind is Kind.MODULE and m.cls not in MODULE_WRAPPERS]
            if inner:
                return self.module_call(inner, args, forward_only)
        if module.cls == "torch.nn.Sequential":
            return self.sequential(module, args)
        last = (module.cls or "").rsplit(".", 1)[-1]
        sources = [Val(live=frozenset({module.id}))] if module.trainable else []
        first = inputs[0] if inputs else NOTHING
        if module.inplace and first.is_tensor:
            self.i.inplace_update(self.frame, self.node, first, module.id)
            merged = flow([first, *sources], None)
            return replace(self.i.under(merged, self.frame), idents=first.idents, leaf=False)
        op = vocab.MODULE_OPS.get(last)
        value = self.i.under(flow([*inputs, *sources], self.ident(module.id)), self.frame)
        if op is not None and self.frame.grad_off is None and value.requires_grad:
            if op in vocab.SAVES_INPUT_ALWAYS or (op in vocab.SAVES_INPUT_FOR_OTHERS and module.trainable):
                self.i.save(self.frame, first, self.node)
            if op in vocab.SAVES_INPUT_FOR_OTHERS and not module.trainable and first.requires_grad:
                pass
        return self.lib._mark_saved(value, op, self.node, self.frame)

    def sequential(self, module, args: list[Argument]) -> Val:
        self.lib.heap.read.add((module.id, "*"))
        children = sorted((k for k in module.attrs if k.isdigit()), key=int)
        value = args[0][2] if args else NOTHING
        if not children and "*" in module.attrs:
            return self._unordered(module, value)
        if not children:
            return self.unseen([value])
        for key in children:
            members = [self.lib.heap.get(o) for o in sorted(module.attrs[key].objs)]
            members = [m for m in members if m is not None and m.kind is Kind.MODULE]
            if members:
                value = self.module_call(members, [(None, "", value)])
            else:
                value = self.unseen([value, module.attrs[key]])
        return value

    def _unordered(self, module, value: Val) -> Val:
        """Children in an order the model only partly knows (`nn.Sequential(*layers)` built in a
        loop): the first one runs on the input, the last one makes the output, and the rest run
        on tensors of their own, so that an in-place child in the middle is not taken to change
        the input or what its neighbour saved."""
        attrs = module.attrs
        head, tail = self._modules_in(attrs.get("*head")), self._modules_in(attrs.get("*tail"))
        middle = self._modules_in(attrs["*"])
        if not middle:
            return self.unseen([value, attrs["*"]])
        if head:
            value = self.module_call(head, [(None, "", value)])
        value = replace(value, idents=frozenset({self.ident("*")}))
        outputs = [
            self.module_call([m], [(None, "", replace(value, idents=frozenset({self.ident(f"*{m.id}")})))])
            for m in middle
        ]
        value = replace(join(outputs), idents=frozenset({self.ident("*out")}))
        if tail:
            value = self.module_call(tail, [(None, "", value)])
        return value

    def _modules_in(self, value: Val | None) -> list:
        if value is None:
            return []
        found = [self.lib.heap.get(o) for o in sorted(value.objs)]
        return [m for m in found if m is not None and m.kind is Kind.MODULE]

    def call_hook(self, hook: Val, args: list[Argument]) -> None:
        for order in sorted(hook.defs):
            function = self.i.functions.get(order)
            if isinstance(function, (cst.FunctionDef, cst.Lambda)):
                self_val = join(self.lib.heap.objects[o].val for o in sorted(hook.objs) if o in self.lib.heap.objects) if hook.objs else None
                self.run_local(function, self_val or None, args)

    # -- methods --------------------------------------------------------------------------------

    def method(self, receiver: Val, name: str, local: bool = True) -> Val:
        if name == "forward" and local:
            self.i.forward_calls[self.ctx.order(self.node)] = receiver
        parts = []
        objects = [self.lib.heap.get(o) for o in sorted(receiver.objs)]
        objects = [o for o in objects if o is not None]
        handled = False
        for obj in objects:
            cls = self.i.classes.by_order.get(obj.local_class) if obj.local_class is not None else None
            method = self.i.classes.method(cls, name) if cls is not None and local else None
            if method is not None:
                handled = True
                parts.append(self.run_local(method, obj.val) if not _is_static(method) else self.run_local(method, None))
                continue
            attr = self.lib.heap.attribute(obj.id, name)
            if attr is not None and (attr.defs or attr.objs):
                handled = True
                parts.append(self.call_value(attr))
                continue
            done = self.object_method(obj, name)
            if done is not None:
                handled = True
                parts.append(done)
        if handled and not (receiver.kinds - {Kind.MODULE, Kind.OBJECT, Kind.OPTIMIZER, Kind.SCHEDULER, Kind.SCALER, Kind.UNKNOWN}):
            return join(parts)
        if receiver.defs and not receiver.objs:
            return self.unseen(self.values)
        other = self.value_method(receiver, name)
        return join([*parts, other]) if parts else other

    def object_method(self, obj, name: str) -> Val | None:
        """Methods of modules, optimizers, schedulers and scalers that the file does not define."""
        if obj.kind is Kind.OPTIMIZER:
            if name == "step":
                closure = self.positional(0) or self.keyword("closure")
                if closure is not None and closure.defs:
                    self.call_value_with(closure, [])
                self.record(Act.STEP, obj.val, has_args=bool(self.node.args))
                return DATA
            if name == "zero_grad":
                self.record(Act.ZERO_GRAD, obj.val)
                return DATA
            if name == "add_param_group":
                group = self.positional(0)
                if group is not None and obj.holds is not None:
                    obj.holds = obj.holds | group.sources()
                return DATA
            if name == "backward":  # an optimizer wrapper running backward (apex, DeepSpeed)
                self.backward(self.positional(0))
                return DATA
            return DATA
        if obj.kind is Kind.SCHEDULER:
            if name == "step":
                self.record(Act.SCHEDULER_STEP, obj.val, has_args=bool(self.node.args))
            return DATA
        if obj.kind is Kind.SCALER:
            if name == "scale":
                return self.positional(0) or NOTHING
            if name == "step":
                optimizer = self.positional(0)
                if optimizer is not None:
                    self.record(Act.STEP, optimizer)
                return DATA
            return DATA
        if obj.kind is Kind.MODULE:
            return self.module_method(obj, name)
        return None

    def module_method(self, obj, name: str) -> Val | None:
        if name in ("parameters", "named_parameters"):
            param = self.lib.parameter({obj.id})
            member = param if name == "parameters" else Val(kinds=frozenset({Kind.CONTAINER}), items=(DATA, param))
            return Val(kinds=frozenset({Kind.PARAMETERS}), live=frozenset({obj.id}), members=member)
        if name in ("children", "modules", "named_children", "named_modules"):
            children = [self.lib.heap.objects[c].val for c in sorted(self.lib.heap.children(obj.id)) if c in self.lib.heap.objects]
            member = join([obj.val, *children]) if name.endswith("modules") else join(children)
            if name.startswith("named_"):
                member = Val(kinds=frozenset({Kind.CONTAINER}), items=(DATA, member))
            return Val(kinds=frozenset({Kind.CONTAINER}), members=member)
        if name in ("train", "eval"):
            act = Act.EVAL if name == "eval" or self.flag("mode", 0) is False else Act.TRAIN
            self.record(act, obj.val)
            return obj.val
        if name == "zero_grad":
            self.record(Act.ZERO_GRAD, obj.val)
            return DATA
        if name == "requires_grad_":
            if self.flag("requires_grad", 0) is False:
                self.lib.freeze(obj.val)
            return obj.val
        if name in MODULE_METHODS_RETURNING_SELF:
            return obj.val
        if name in ("register_forward_hook", "register_forward_pre_hook"):
            hook = self.positional(0)
            if hook is not None:
                entry = ("pre" if "pre" in name else "post", hook)
                if entry not in obj.hooks:
                    obj.hooks.append(entry)
                    self.lib.heap.stale = True  # calls before this one ran without it
            return DATA
        if name in ("add_module", "register_module", "register_parameter", "register_buffer"):
            label = self.node.args[0].value if self.node.args else None
            value = self.positional(1) or NOTHING
            if isinstance(label, cst.SimpleString):
                self.lib.heap.store(obj.id, label.evaluated_value, value)
            else:
                self.lib.heap.add_child(obj.id, value, value, value)
            return DATA
        if name == "forward":
            return self.module_call([obj], self.args, forward_only=True)
        if name == "__call__":
            return self.module_call([obj], self.args)
        if name in ("append", "extend", "insert", "update") and obj.cls in ("torch.nn.ModuleList", "torch.nn.ModuleDict", "torch.nn.Sequential", "torch.nn.ParameterList"):
            added = self.values[-1] if self.values else NOTHING
            if name in ("extend", "update"):
                first, last = added.first_and_last()
                self.lib.heap.add_child(obj.id, added.member(), first, last)
            else:
                self.lib.heap.add_child(obj.id, added, added if name != "insert" else None, added if name == "append" else None)
            return DATA
        if name in ("state_dict", "load_state_dict", "named_buffers", "buffers", "extra_repr", "get_submodule"):
            return DATA
        return None

    def call_value_with(self, callee: Val, args: list[Argument]) -> Val:
        saved, self.args = self.args, args
        try:
            return self.call_value(callee)
        finally:
            self.args = saved

    def value_method(self, receiver: Val, name: str) -> Val:
        """Methods of tensors, containers, data and values out of sight."""
        node = self.node
        if name == "backward":
            if self.node.args and (BACKWARD_RUNNER.search(self.ctx.code(node.func.value)) or not receiver.is_tensor and not receiver.requires_grad):
                self.backward(self.positional(0))
            else:
                self.backward(receiver)
            return DATA
        if BACKWARD_METHOD.match(name) and self.node.args:
            self.backward(self.positional(0))
            return DATA
        if name in PASS_THROUGH_METHODS and self.args and not receiver.is_tensor:
            values = self.values
            return values[0] if len(values) == 1 else Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(values))
        if Kind.CONTAINER in receiver.kinds or receiver.items is not None or receiver.fields is not None:
            return self.container_method(receiver, name)
        if name == "step":
            return self.named_step(receiver)
        if name == "zero_grad":
            self.record(Act.ZERO_GRAD, receiver)
            return DATA
        if name in ("train", "eval") and Kind.UNKNOWN in receiver.kinds:
            act = Act.EVAL if name == "eval" or self.flag("mode", 0) is False else Act.TRAIN
            self.record(act, receiver)
            return receiver
        if receiver.is_tensor or receiver.requires_grad:
            return self.tensor_method(receiver, name)
        if receiver.kinds <= {Kind.DATA} and not receiver.opaque:
            return DATA
        return self.unseen([receiver, *self.values])

    def named_step(self, receiver: Val) -> Val:
        """`.step()` on something whose kind the model does not know: an optimizer or a
        scheduler by its name, never an environment."""
        code = self.ctx.code(self.node.func.value).rsplit(".", 1)[-1]
        if SCALER_NAME.search(code) and self.node.args:
            self.record(Act.STEP, self.positional(0) or NOTHING)
        elif SCHEDULER_NAME.search(code):
            self.record(Act.SCHEDULER_STEP, receiver, has_args=bool(self.node.args))
        elif OPTIMIZER_NAME.match(code) and not NOT_OPTIMIZER_NAME.search(code):
            self.record(Act.STEP, receiver, has_args=bool(self.node.args))
        return DATA

    def backward(self, loss: Val | None) -> None:
        if loss is not None:
            self.record(Act.BACKWARD, loss)

    def container_method(self, receiver: Val, name: str) -> Val:
        if name in ("append", "add", "insert", "extend", "update", "setdefault"):
            added = self.values[-1] if self.values else NOTHING
            if name == "update":
                added = added.member()
            self._grow(receiver, added, name)
            return DATA if name != "setdefault" else added
        if name in ("items",):
            return Val(kinds=frozenset({Kind.CONTAINER}), members=Val(kinds=frozenset({Kind.CONTAINER}), items=(DATA, receiver.member())))
        if name in ("values", "copy", "keys") or name.startswith("pop") or name == "get":
            if name == "keys":
                return DATA
            if name in ("get", "pop") and self.node.args:
                key = self.node.args[0].value
                if isinstance(key, cst.SimpleString):
                    found = receiver.field(key.evaluated_value)
                    if found is not None:
                        return found
            return receiver.member() if name != "values" and name != "copy" else Val(kinds=frozenset({Kind.CONTAINER}), members=receiver.member())
        return self.unseen([receiver.member(), *self.values]) if receiver.requires_grad else DATA

    def _grow(self, receiver: Val, added: Val, method: str = "append") -> None:
        """`xs.append(v)`: the container now also holds `v` (in this frame, and on the heap
        when it is an object's attribute), and the list keeps what comes first and last."""
        target = self.node.func.value
        if isinstance(target, cst.Name):
            current = self.i.lookup(target.value, self.frame)
            self.frame.names[target.value] = _grown(current, added, method)
        elif isinstance(target, cst.Attribute):
            from autofix.analysis.interpreter import _key

            key = _key(target)
            if key and key in self.frame.keys:
                self.frame.keys[key] = _grown(self.frame.keys[key], added, method)
            holder = self.i.value(target.value, self.frame)
            for obj in holder.objs:
                self.lib.heap.store(obj, target.attr.value, Val(kinds=frozenset({Kind.CONTAINER}), members=added))

    def tensor_method(self, receiver: Val, name: str) -> Val:
        node = self.node
        order = self.ctx.order(node)
        if name in ("detach", "numpy", "item", "tolist"):
            cut = receiver.cut_by(order)
            if name == "detach":
                return replace(cut, kinds=frozenset({Kind.TENSOR}))
            return replace(cut, kinds=frozenset({Kind.DATA}), idents=frozenset() if name != "numpy" else cut.idents, objs=frozenset())
        if name == "requires_grad_":
            if self.flag("requires_grad", 0) is False:
                self.lib.freeze(receiver)
                return receiver
            if receiver.live or receiver.objs or receiver.leaf:
                return receiver
            leaf = self.lib.make_leaf(node, receiver, self.frame)
            self.i.bind(node.func.value, leaf, self.frame, rebind=True)
            return leaf
        if name == "detach_":
            cut = receiver.cut_by(order)
            self.i.bind(node.func.value, cut, self.frame, rebind=True)
            return cut
        if name.endswith("_") and not name.startswith("_") and name not in vocab.NOT_INPLACE_METHODS:
            self.i.inplace_update(self.frame, node, receiver)
            if self.frame.grad_off is None and name != "zero_":
                merged = flow([receiver, *self.values], None)
                updated = replace(merged, idents=receiver.idents, kinds=frozenset({Kind.TENSOR}), objs=receiver.objs, leaf=receiver.leaf)
                return updated
            return receiver
        if name in vocab.METADATA_METHODS:
            return Val(kinds=frozenset({Kind.DATA}))
        if name in vocab.NO_GRAD_METHODS:
            return self.i.without_gradient(node, [receiver], self.frame)
        if name in vocab.SAME_TENSOR_METHODS:
            return receiver  # `.to(device)`, `.float()`: the tensor itself when nothing changes
        if name in vocab.VIEW_METHODS:
            value = self.i.under(flow([receiver, *self.values], None), self.frame)
            return replace(value, idents=receiver.idents, kinds=frozenset({Kind.TENSOR}) if receiver.requires_grad or receiver.is_tensor else value.kinds)
        if name in ("retain_grad", "register_hook", "backward"):
            return DATA
        op = vocab.FUNCTION_OPS.get(name)
        return self.result([receiver, *self.values], op)

    # -- builtins -------------------------------------------------------------------------------

    def builtin(self, name: str) -> Val:
        values = self.values
        if name in ("float", "int", "bool", "round", "complex", "abs") and values:
            value = values[0]
            if value.requires_grad and value.is_tensor and name not in ("abs",):
                return replace(value.cut_by(self.ctx.order(self.node)), kinds=frozenset({Kind.DATA}), idents=frozenset(), objs=frozenset())
            return flow(values, None) if name == "abs" else DATA
        if name in ("len", "str", "repr") or name in BUILTIN_DATA:
            return DATA
        if name in ("sum", "max", "min") and values:
            first = values[0]
            if first.items is not None or first.members is not None or first.fields is not None:
                return self.result([first.member(), *values[1:]])
            return self.result(values)
        if name in ("zip",):
            return Val(kinds=frozenset({Kind.CONTAINER}), members=Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(self.lib.element(v) for v in values)))
        if name == "enumerate" and values:
            return Val(kinds=frozenset({Kind.CONTAINER}), members=Val(kinds=frozenset({Kind.CONTAINER}), items=(DATA, self.lib.element(values[0]))))
        if name == "map" and len(values) >= 2:
            element = self.call_value_with(values[0], [(None, "", self.lib.element(v)) for v in values[1:]])
            return Val(kinds=frozenset({Kind.CONTAINER}), members=element)
        if name in BUILTIN_CONTAINERS:
            if not values:
                return Val(kinds=frozenset({Kind.CONTAINER}), items=() if name in ("list", "tuple") else None)
            source = values[-1] if name == "filter" else values[0]
            if name == "dict" and not (source.fields or source.items or source.members):
                fields = tuple((k, v) for k, _, v in self.args if k is not None)
                return Val(kinds=frozenset({Kind.CONTAINER}), fields=fields)
            element = self.lib.element(source)
            if Kind.PARAMETERS in source.kinds:
                return replace(source, kinds=source.kinds | {Kind.CONTAINER})
            return Val(kinds=frozenset({Kind.CONTAINER}), members=element)
        if name == "next" and values:
            return self.lib.element(values[0])
        if name == "getattr" and len(self.node.args) >= 2:
            label = self.node.args[1].value
            receiver = values[0]
            if isinstance(label, cst.SimpleString):
                attr = cst.Attribute(value=self.node.args[0].value, attr=cst.Name(label.evaluated_value))
                return self.lib.attribute(attr, receiver, self.frame) if False else self._getattr(receiver, label.evaluated_value)
            return join([v for o in receiver.objs if (obj := self.lib.heap.get(o)) is not None for v in obj.attrs.values()]) or UNKNOWN
        if name == "setattr" and len(self.node.args) >= 3:
            label = self.node.args[1].value
            key = label.evaluated_value if isinstance(label, cst.SimpleString) else "*"
            for obj in values[0].objs:
                self.lib.heap.store(obj, key, values[2])
            return DATA
        if name == "super":
            return self.frame.self_val or UNKNOWN
        return self.unseen(values)

    def _getattr(self, receiver: Val, attr: str) -> Val:
        parts = [self.lib.heap.objects[o].attrs[attr] for o in sorted(receiver.objs)
                 if o in self.lib.heap.objects and attr in self.lib.heap.objects[o].attrs]
        return join(parts) if parts else UNKNOWN

    # -- PyTorch --------------------------------------------------------------------------------

    def torch_call(self, qualified: str) -> Val:
        lib, node, frame = self.lib, self.node, self.frame
        last = qualified.rsplit(".", 1)[-1]
        torch = self.ctx.torch
        order = self.ctx.order(node)
        owner = lib._owner_prefix(frame)
        if qualified == "functools.partial":
            function = self.positional(0) or NOTHING
            if function.defs:
                rest = [v for k, st, v in self.args[1:] if k is None and not st]
                keywords = tuple((k, v) for k, _, v in self.args if k is not None)
                return replace(function, items=tuple(rest), fields=keywords)
            return self.unseen(self.values)
        if not qualified.startswith("torch"):
            return self.unseen(self.values)
        if torch.is_any(node.func, {AUTOGRAD_BACKWARD}):
            self.backward(self.positional(0))
            return DATA
        if torch.is_any(node.func, {AUTOGRAD_GRAD}):
            self.record(Act.GRAD, self.positional(0) or NOTHING)
            return Val(kinds=frozenset({Kind.CONTAINER}), members=Val(kinds=frozenset({Kind.TENSOR}), idents=frozenset({self.ident()})))
        if qualified in MODULE_WRAPPERS:
            wrapped = self.positional(0) or NOTHING
            if qualified.startswith("torch.nn.utils"):
                return wrapped  # weight_norm(module) returns the module, hooked
            obj = lib.heap.create(f"{owner}@{order}", Kind.MODULE, f"<{last}>", site=order, cls=qualified)
            lib.heap.store(obj.id, "module", wrapped)
            return obj.val
        if torch.is_optimizer_class(node.func):
            params = self.positional(0) or self.keyword("params") or NOTHING
            holds = params.sources() if (params.sources() and not params.opaque) else None
            obj = lib.heap.create(f"{owner}@{order}", Kind.OPTIMIZER, f"<{last}>", site=order, cls=qualified, holds=holds)
            if obj.holds is not None and holds is not None and holds - obj.holds:
                obj.holds = obj.holds | holds
                lib.heap.version += 1
            return obj.val
        if torch.is_scheduler_class(node.func):
            optimizer = self.positional(0) or self.keyword("optimizer") or NOTHING
            obj = lib.heap.create(f"{owner}@{order}", Kind.SCHEDULER, f"<{last}>", site=order, cls=qualified,
                                  holds=frozenset(optimizer.objs))
            return obj.val
        if torch.is_grad_scaler_class(node.func):
            return lib.heap.create(f"{owner}@{order}", Kind.SCALER, f"<{last}>", site=order, cls=qualified).val
        if qualified.endswith(".Parameter") or qualified.endswith("UninitializedParameter"):
            trains = self.flag("requires_grad", 1) is not False
            obj = lib.heap.create(f"{owner}param@{order}", Kind.TENSOR, f"<{last}>", site=order, cls=qualified, trainable=trains)
            return Val(kinds=frozenset({Kind.TENSOR}), objs=frozenset({obj.id}), live=frozenset({obj.id}) if trains else frozenset(),
                       leaf=trains, idents=frozenset({obj.id}))
        module_class = self.ctx.modules.library_module_class(node.func)
        if module_class is not None:
            return self.library_module(qualified, module_class, owner, order)
        if qualified in vocab.REWRAPS:
            return self.rewrap()
        if last in vocab.ANY_FACTORY and qualified.count(".") == 1:
            value = Val(kinds=frozenset({Kind.TENSOR}), idents=frozenset({self.ident()}))
            if self.flag("requires_grad"):
                return lib.make_leaf(node, value, frame)
            return value
        if self.ctx.grad_mode.state(node) is not None or qualified.startswith(NAMESPACE_DATA):
            if qualified in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and _is_statement(self.ctx, node):
                state = self.ctx.grad_mode.state(node)
                frame.grad_off = order if state else None
            return DATA
        if last in vocab.NO_GRAD_TORCH_FUNCTIONS and qualified.count(".") == 1:
            if last.startswith("arg") or last in ("eq", "ne", "lt", "gt", "le", "ge", "sign", "bucketize", "searchsorted"):
                return self.i.without_gradient(node, self.values, frame)
            return Val(kinds=frozenset({Kind.DATA}), idents=frozenset({self.ident()}))
        if qualified.startswith("torch.utils.checkpoint."):
            function = self.positional(0)
            if function is not None and (function.defs or function.objs):
                return self.call_value_with(function, [(k, s, v) for k, s, v in self.args[1:] if k != "use_reentrant"])
            return self.result(self.values)
        if last in vocab.INPLACE_FUNCTIONALS and self.flag("inplace"):
            first = self.positional(0) or NOTHING
            self.i.inplace_update(frame, node, first)
            return replace(self.i.under(flow(self.values, None), frame), idents=first.idents, leaf=False)
        values = []
        for value in self.values:
            values.append(value.member() if (value.items is not None or value.members is not None) and not value.is_tensor else value)
        return self.result(values, vocab.FUNCTION_OPS.get(last))

    def library_module(self, qualified: str, module_class: str, owner: str, order: int) -> Val:
        lib = self.lib
        trainable = module_class not in vocab.PARAMETERLESS_MODULES and not module_class.endswith("Loss")
        if module_class in vocab.SEQUENTIAL_MODULES | vocab.CONTAINER_MODULES:
            trainable = False
        obj = lib.heap.create(f"{owner}@{order}", Kind.MODULE, f"<{module_class}>", site=order, cls=f"torch.nn.{module_class}",
                              trainable=trainable, inplace=self._inplace_flag(module_class))
        if module_class in vocab.SEQUENTIAL_MODULES | vocab.CONTAINER_MODULES:
            positional = [(s, v) for k, s, v in self.args if k is None]
            index = 0
            for star, value in positional:
                if star or (module_class != "Sequential" and (value.items is not None or value.members is not None or value.fields)):
                    if value.fields:
                        for key, part in value.fields:
                            lib.heap.store(obj.id, f"'{key}'", part)
                    if value.items is not None and star and module_class == "Sequential":
                        for part in value.items:  # `nn.Sequential(*[a, b])`: the order is known
                            lib.heap.store(obj.id, str(index), part)
                            index += 1
                        continue
                    first, last = value.first_and_last()
                    lib.heap.add_child(obj.id, value.member(), first, last)
                elif module_class == "Sequential" and (value.fields is not None) and not value.objs:
                    for key, part in value.fields:
                        lib.heap.store(obj.id, str(index), part)
                        index += 1
                else:
                    lib.heap.store(obj.id, str(index), value)
                    index += 1
        return obj.val

    def _inplace_flag(self, module_class: str) -> bool:
        if module_class not in vocab.INPLACE_MODULES:
            return False
        index = 1 if module_class.startswith(("Dropout", "AlphaDropout", "FeatureAlpha", "LeakyReLU", "ELU", "CELU")) else 0
        if module_class in ("Hardtanh", "Threshold"):
            index = 2
        return bool(self.flag("inplace", index))

    def rewrap(self) -> Val:
        """`torch.tensor(x)`, `torch.from_numpy(...)`, `Variable(x)`: a copy with no history;
        with `requires_grad=True` a new leaf that no optimizer holds."""
        value = self.positional(0) or self.keyword("data") or NOTHING
        if value.items is not None or value.members is not None:
            value = flow([value.member()], None)
        cut = value.cut_by(self.ctx.order(self.node)) if value.requires_grad else value
        result = Val(kinds=frozenset({Kind.TENSOR}), cuts=cut.cuts, idents=frozenset({self.ident()}))
        if self.flag("requires_grad"):
            return self.lib.make_leaf(self.node, result, self.frame)
        return result


def _grown(current: Val | None, added: Val, method: str) -> Val:
    """A list after `append` / `extend` / `insert` of `added`: it holds everything it held and
    the new elements; its first and last elements stay known when the code shows them."""
    elements = added.member() if method == "extend" else added
    if current is None:
        current = Val(kinds=frozenset({Kind.CONTAINER}), items=())
    empty = current.items == () and current.members is None and current.ends is None
    first, last = current.first_and_last()
    new_first, new_last = added.first_and_last() if method == "extend" else (added, added)
    ends = None
    if method in ("append", "extend") and (empty or first is not None) and new_last is not None:
        ends = (new_first if empty else first, new_last)
        if ends[0] is None:
            ends = None
    members = join([v for v in (current.member() if not empty else None, elements) if v is not None])
    return Val(kinds=current.kinds | {Kind.CONTAINER}, members=members, ends=ends, fields=current.fields)


def bind_arguments(function: cst.FunctionDef | cst.Lambda, args: list[Argument], is_method: bool) -> dict[str, Val]:
    """Parameter name -> the value a call passes for it (defaults: data)."""
    params = function.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)]
    if is_method and positional and not (isinstance(function, cst.FunctionDef) and _is_static(function)):
        positional = positional[1:]
    names = positional + [p.name.value for p in params.kwonly_params]
    bound: dict[str, Val] = {}
    extra: list[Val] = []
    index = 0
    for keyword, star, value in args:
        if star == "*":
            for name in positional[index:]:
                bound[name] = value.member()
            extra.append(value.member())
            index = len(positional)
        elif star == "**":
            for name in names:
                bound.setdefault(name, value.member())
        elif keyword is None:
            if index < len(positional):
                bound[positional[index]] = value
                index += 1
            else:
                extra.append(value)
        elif keyword in names:
            bound[keyword] = value
        elif isinstance(params.star_kwarg, cst.Param):
            bound.setdefault(params.star_kwarg.name.value, Val(kinds=frozenset({Kind.CONTAINER}), fields=()))
            current = bound[params.star_kwarg.name.value]
            bound[params.star_kwarg.name.value] = replace(current, fields=(*(current.fields or ()), (keyword, value)))
    defaults = {p.name.value: p.default for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for name in names:
        if name not in bound:
            bound[name] = _default(defaults.get(name))
    if isinstance(params.star_arg, cst.Param):
        bound[params.star_arg.name.value] = Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(extra))
    if isinstance(params.star_kwarg, cst.Param):
        bound.setdefault(params.star_kwarg.name.value, Val(kinds=frozenset({Kind.CONTAINER}), fields=()))
    return bound


def _default(node: cst.BaseExpression | None) -> Val:
    """A parameter's default, when the code wrote a literal (`optimizer=None`, `train=True`)."""
    from autofix.analysis.interpreter import _literal
    from autofix.analysis.values import SOME_NUMBER, literal

    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return literal({"None": None, "True": True, "False": False}[node.value])
    if isinstance(node, cst.SimpleString):
        return literal(_literal(node))
    if isinstance(node, (cst.Integer, cst.Float)):
        return literal(SOME_NUMBER)
    return DATA


def _is_super(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "super"


def _is_static(function: cst.FunctionDef) -> bool:
    return any(dotted_name(d.decorator) == "staticmethod" for d in function.decorators)


def _is_statement(ctx, node: cst.CSTNode) -> bool:
    return isinstance(ctx.parent(node), cst.Expr)

