"""The abstract interpreter behind the semantic model.

It runs the file's code on abstract values (see values.py): statements in order, both arms of
every branch joined, loop bodies twice (values of one iteration reach the next), calls into the
file's own functions, methods, constructors and `forward`s at any depth (memoised by their
arguments, bounded by a budget, cycles cut), grad mode switched by `with` blocks and decorators
and inherited by what a block calls. Module-level code is the first entry point; every function
the run did not reach is then run on its own, its arguments typed by their names and annotations.
The heap (heap.py) is a fixpoint: the whole run repeats while it learns new attributes.

What rules need is recorded on the way (events.py): training events in execution order, in-place
updates of saved tensors and leaves, `forward` returns, and what each expression denoted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import libcst as cst

from autofix.analysis.events import Act, Event, InPlace, Return
from autofix.analysis.heap import Heap
from autofix.analysis.imports import dotted_name
from autofix.analysis.library import Library
from autofix.analysis.values import DATA, NOTHING, SOME_NUMBER, UNKNOWN, Kind, Val, flow, join, literal

if TYPE_CHECKING:
    from autofix.context import FileContext

MAX_PASSES = 3  # heap fixpoint rounds
MAX_DEPTH = 12  # nested calls followed
MAX_CALLS = 1200  # function bodies interpreted per pass

Scope = cst.FunctionDef | cst.Module | cst.Lambda


@dataclass
class Result:
    """What a call gave back: its value, its events, and its effects on tensors it was given."""

    value: Val = NOTHING
    events: tuple = ()
    mutations: tuple = ()  # (ident, node, module id) in-place updates of tensors from outside
    saves: tuple = ()  # (ident, saver) tensors from outside that the call saved for backward
    backward: bool = False  # the call ran backward: the graphs it freed saved nothing any more


class Frame:
    """The state of one running function body."""

    def __init__(self, scope: Scope, self_val: Val | None, parent: "Frame | None", grad_off: int | None):
        self.scope = scope
        self.self_val = self_val
        self.parent = parent  # the enclosing function's frame, or the module's
        self.grad_off = grad_off
        self.called_without_grad = grad_off is not None  # the caller (or a decorator) turned it off
        self.names: dict[str, Val] = {}
        self.keys: dict[str, Val] = {}  # `self.x`, `self.state['loss']` as last assigned here
        self.saved: dict[str, int] = {}  # tensor ident -> the op that saved it
        self.own: set[str] = set()  # idents created in this frame
        self.globals: set[str] = set()
        self.events: list[Event] = []
        self.returns: list[Val] = []
        self.mutations: list[tuple] = []
        self.outside_saves: list[tuple] = []
        self.backward = False
        self.arms = 0  # inside how many arms of an `if`: what happens there may not happen
        self.serial = 0  # which run of its function this frame is: tensors it makes are its own

    def branch(self, arm: bool = False) -> "Frame":
        """A copy of the state for one way through a branch (`arm`: one of several exclusive
        ways, as in an `if`) or through a loop body."""
        other = Frame.__new__(Frame)
        other.__dict__.update(self.__dict__)
        other.names, other.keys, other.saved = dict(self.names), dict(self.keys), dict(self.saved)
        other.arms = self.arms + arm
        return other

    def merge(self, branches: list["Frame"]) -> None:
        for key in ("names", "keys"):
            mine = getattr(self, key)
            merged: dict[str, Val] = {}
            for branch in branches:
                for name, value in getattr(branch, key).items():
                    merged[name] = join([merged[name], value]) if name in merged else value
            mine.clear()
            mine.update(merged)
        for branch in branches:
            for ident, saver in branch.saved.items():
                self.saved.setdefault(ident, saver)  # saved on some path


class Interpreter:
    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self.heap = Heap()
        self.library = Library(self)
        self.classes = _Classes(ctx)
        self.generators: dict[int, bool] = {}
        self.functions: dict[int, cst.CSTNode] = {}
        for node in ctx.nodes:
            if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
                self.functions[ctx.order(node)] = node
        self._passes()

    # -- the fixpoint over the heap ---------------------------------------------------------------

    def _passes(self) -> None:
        for _ in range(MAX_PASSES):
            self.heap.new_pass()
            self._reset()
            module = Frame(self.ctx.module, None, None, None)
            self.module_frame = module
            self._hoist(self.ctx.module.body, module)
            self._body(self.ctx.module.body, module)
            self.traces.append((self.ctx.module, module.events))
            self._run_unreached()
            if not self.heap.stale:
                break

    def _reset(self) -> None:
        self.memo: dict[tuple, Result] = {}
        self.reached: set[int] = set()
        self.stack: list[int] = []
        self.calls_left = MAX_CALLS
        self.literals: dict[int, Val] = {}
        self.frames = 0
        self.traces: list[tuple[Scope, list[Event]]] = []
        self.inplace: dict[tuple, InPlace] = {}
        self.returns: dict[int, Return] = {}
        self.denoted: dict[int, Val] = {}
        self.forward_calls: dict[int, Val] = {}  # `x.forward(...)` call -> what `x` denotes
        self.callees: dict[int, set[int]] = {}  # call -> the file's functions it ran
        self.instances: dict[int, set[str]] = {}  # class -> the objects built of it
        self.handed: set[str] = set()  # sources given to objects of plain classes (a hand-written optimizer)
        self.call_events: dict[int, set[int]] = {}  # call -> nodes of the events it ran, any depth

    def _run_unreached(self) -> None:
        """Every function the module's run did not reach, run on its own: a method on the
        instance its class's constructor builds, arguments typed by their names."""
        for order, node in sorted(self.functions.items()):
            if order in self.reached or not isinstance(node, cst.FunctionDef):
                continue
            owner = self.classes.owner(node)
            self_val = self.classes.instance(self, owner) if owner is not None else None
            if owner is not None and _is_static(node):
                self_val = None
            frame = self._frame_for(node, self_val, self._defining_frame(node), None)
            args = {name: self.library.argument(node, name, annotation) for name, annotation in _params(node, self_val is not None)}
            result = self.run_function(node, self_val, args, None, frame.parent)
            self.traces.append((node, list(result.events)))

    def _defining_frame(self, node: cst.CSTNode) -> Frame:
        return self.module_frame

    # -- calls into the file's own code -----------------------------------------------------------

    def run_function(
        self, node: cst.FunctionDef | cst.Lambda, self_val: Val | None, args: dict[str, Val],
        grad_off: int | None, parent: Frame | None,
    ) -> Result:
        order = self.ctx.order(node)
        closure = parent is not None and parent is not self.module_frame
        key = (order, self_val, tuple(sorted(args.items(), key=lambda kv: kv[0])), grad_off,
               id(parent) if closure else None)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        if order in self.stack or len(self.stack) >= MAX_DEPTH or self.calls_left <= 0:
            return Result(self.library.unseen_result(list(args.values()) + ([self_val] if self_val else []), f"unseen:{order}"))
        self.calls_left -= 1
        self.reached.add(order)
        self.stack.append(order)
        try:
            frame = self._frame_for(node, self_val, parent or self.module_frame, grad_off)
            self.frames += 1
            frame.serial = self.frames
            frame.names.update(args)
            receiver = _receiver_name(node)
            if self_val is not None and receiver is not None:
                frame.names[receiver] = self_val
            if isinstance(node, cst.Lambda):
                frame.returns.append(self.value(node.body, frame))
            else:
                self._hoist(node.body.body if isinstance(node.body, cst.IndentedBlock) else [], frame)
                self._body(_statements(node.body), frame)
            value = join(frame.returns) if frame.returns else Val(kinds=frozenset({Kind.DATA}))
            if self._is_generator(node):
                value = Val(kinds=frozenset({Kind.CONTAINER}), members=value)
            result = Result(value, tuple(frame.events), tuple(frame.mutations), tuple(frame.outside_saves), frame.backward)
        finally:
            self.stack.pop()
        self.memo[key] = result
        return result

    def _is_generator(self, function) -> bool:
        order = self.ctx.order(function)
        if order not in self.generators:
            self.generators[order] = _is_generator(self.ctx, function)
        return self.generators[order]

    def _frame_for(self, node, self_val, parent, grad_off) -> Frame:
        decorator = self.ctx.grad_mode.disabling_decorator(node) if isinstance(node, cst.FunctionDef) else None
        if decorator is not None:
            grad_off = self.ctx.order(decorator)
        elif isinstance(node, cst.FunctionDef) and self._enabling_decorator(node):
            grad_off = None
        return Frame(node, self_val, parent, grad_off)

    def _enabling_decorator(self, node: cst.FunctionDef) -> bool:
        return any(self.ctx.grad_mode.state(d.decorator) is False for d in node.decorators)

    def splice(self, frame: Frame, call: cst.CSTNode, result: Result) -> Val:
        """Bring a call's events and effects into the caller's frame."""
        order = self.ctx.order(call)
        frame.events.extend(e.through(order) for e in result.events)
        self.call_events.setdefault(order, set()).update(e.node for e in result.events)
        if result.backward:
            self.freed(frame)
        for ident, node, module in result.mutations:  # before what it saved: a callee's own
            self._mutated(frame, ident, node, module)  # order is already checked inside it
        for ident, saver in result.saves:
            frame.saved.setdefault(ident, saver)
            if ident not in frame.own:
                frame.outside_saves.append((ident, saver))
        return result.value

    # -- statements -------------------------------------------------------------------------------

    def _hoist(self, body, frame: Frame) -> None:
        """`def` and `class` statements bind their names before the body runs: a call reaches a
        function defined further down (it runs later, once everything is defined)."""
        for statement in body:
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                kind = Kind.FUNCTION if isinstance(statement, cst.FunctionDef) else Kind.CLASS
                frame.names[statement.name.value] = Val(kinds=frozenset({kind}), defs=frozenset({self.ctx.order(statement)}))

    def _body(self, body, frame: Frame) -> None:
        for statement in body:
            self.statement(statement, frame)

    def statement(self, statement: cst.CSTNode, frame: Frame) -> None:
        if isinstance(statement, cst.BaseSmallStatement):
            self._small(statement, frame)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self._small(small, frame)
        elif isinstance(statement, cst.FunctionDef):
            frame.names[statement.name.value] = Val(kinds=frozenset({Kind.FUNCTION}), defs=frozenset({self.ctx.order(statement)}))
        elif isinstance(statement, cst.ClassDef):
            frame.names[statement.name.value] = Val(kinds=frozenset({Kind.CLASS}), defs=frozenset({self.ctx.order(statement)}))
        elif isinstance(statement, cst.With):
            self._with(statement, frame)
        elif isinstance(statement, (cst.For, cst.While)):
            self._loop(statement, frame)
        elif isinstance(statement, cst.If):
            self._if(statement, frame)
        elif isinstance(statement, cst.Try) or type(statement).__name__ == "TryStar":
            self._body(_statements(statement.body), frame)
            branches = [frame]
            for handler in statement.handlers:
                branch = frame.branch()
                if handler.name is not None:
                    self.bind(handler.name.name, DATA, branch)
                self._body(_statements(handler.body), branch)
                branches.append(branch)
            frame.merge(branches)
            for extra in (statement.orelse, statement.finalbody):
                if extra is not None:
                    self._body(_statements(extra.body), frame)
        elif isinstance(statement, cst.Match):
            subject = self.value(statement.subject, frame)
            branches = []
            for case in statement.cases:
                branch = frame.branch()
                for node in self.ctx.nodes_in(case.pattern):
                    if isinstance(node, cst.MatchAs) and node.name is not None:
                        self.bind(node.name, subject.member() if subject.members else subject, branch)
                self._body(_statements(case.body), branch)
                branches.append(branch)
            frame.merge([frame, *branches])

    def _small(self, small: cst.CSTNode, frame: Frame) -> None:
        if isinstance(small, cst.Assign):
            value = self.value(small.value, frame)
            for target in small.targets:
                self.bind(target.target, value, frame, small)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.bind(small.target, self.value(small.value, frame), frame, small)
        elif isinstance(small, cst.AugAssign):
            self._augmented(small, frame)
        elif isinstance(small, cst.Expr):
            self.value(small.value, frame)
        elif isinstance(small, cst.Return):
            if small.value is not None:
                frame.returns.append(self._returned(small, frame))
            else:
                frame.returns.append(Val(kinds=frozenset({Kind.DATA})))
        elif isinstance(small, (cst.Global, cst.Nonlocal)):
            frame.globals.update(n.name.value for n in small.names)
        elif isinstance(small, cst.Raise) and small.exc is not None:
            self.value(small.exc, frame)
        elif isinstance(small, cst.Assert):
            self.value(small.test, frame)
        elif isinstance(small, cst.Del):
            pass

    def _returned(self, small: cst.Return, frame: Frame) -> Val:
        value = self.value(small.value, frame)
        scope = frame.scope
        if isinstance(scope, cst.FunctionDef) and frame.self_val is not None and not frame.called_without_grad:
            owner = self.classes.owner(scope)
            if owner is not None and self.classes.is_module(owner):
                order = self.ctx.order(small)
                seen = self.returns.get(order)
                merged = value if seen is None else join([seen.val, value])
                self.returns[order] = Return(order, merged, self.ctx.order(owner))
        return value

    def _with(self, statement: cst.With, frame: Frame) -> None:
        state = self.ctx.grad_mode.of_with(statement)
        for item in statement.items:
            value = self.value(item.item, frame)
            if item.asname is not None:
                self.bind(item.asname.name, value, frame)
        previous = frame.grad_off
        if state is True:
            frame.grad_off = self.ctx.order(statement)
        elif state is False:
            frame.grad_off = None
        self._body(_statements(statement.body), frame)
        frame.grad_off = previous

    def _loop(self, statement: cst.For | cst.While, frame: Frame) -> None:
        iterated = self.value(statement.iter, frame) if isinstance(statement, cst.For) else None
        if isinstance(statement, cst.While):
            self.value(statement.test, frame)
        element = self.library.element(iterated) if iterated is not None else None
        # Twice: what an iteration assigns late reaches the start of the next one.
        before = dict(frame.saved)
        for walk in range(2):
            branch = frame.branch()
            # Each iteration makes its tensors anew: what the previous one saved is not what
            # this one updates (tensors are named by where they are made, not when).
            branch.saved = dict(before)
            if element is not None:
                self.bind(statement.target, self.library.fresh(element, statement, walk), branch)
            self._body(_statements(statement.body), branch)
            frame.merge([frame, branch])
        if statement.orelse is not None:
            self._body(_statements(statement.orelse.body), frame)

    def _if(self, statement: cst.If, frame: Frame) -> None:
        branches = []
        node: cst.CSTNode | None = statement
        while isinstance(node, cst.If):
            self.value(node.test, frame)
            decided = self.decide(node.test, frame)
            if decided is True:
                self._body(_statements(node.body), frame)
                return
            if decided is False:
                node = node.orelse
                continue
            branch = frame.branch(arm=True)
            self._body(_statements(node.body), branch)
            branches.append(branch)
            node = node.orelse
        if node is not None and not branches:
            self._body(_statements(node.body), frame)
            return
        if node is not None:
            branch = frame.branch(arm=True)
            self._body(_statements(node.body), branch)
            branches.append(branch)
        else:
            branches.append(frame.branch())
        frame.merge(branches)

    def decide(self, test: cst.BaseExpression, frame: Frame) -> bool | None:
        """The outcome of a test the code makes decidable with literals (`if optimizer is not
        None:` in a helper called with `optimizer=None`), else None."""
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = self.decide(test.expression, frame)
            return None if inner is None else not inner
        if isinstance(test, cst.BooleanOperation):
            left, right = self.decide(test.left, frame), self.decide(test.right, frame)
            if isinstance(test.operator, cst.And):
                return False if False in (left, right) else (True if left and right else None)
            return True if True in (left, right) else (False if left is False and right is False else None)
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            operator = test.comparisons[0].operator
            left = self.value(test.left, frame)
            right = self.value(test.comparisons[0].comparator, frame)
            if isinstance(operator, (cst.Is, cst.IsNot)) and (left.const == (None,) or right.const == (None,)):
                other = right if left.const == (None,) else left
                if other.const is not None:
                    same = other.const == (None,)
                elif other.kinds & {Kind.MODULE, Kind.OPTIMIZER, Kind.TENSOR, Kind.FUNCTION, Kind.OBJECT, Kind.SCHEDULER, Kind.SCALER} and not other.kinds & {Kind.DATA, Kind.UNKNOWN}:
                    same = False
                else:
                    return None
                return same if isinstance(operator, cst.Is) else not same
            if isinstance(operator, (cst.Equal, cst.NotEqual)) and left.const is not None and right.const is not None \
                    and SOME_NUMBER not in (left.const[0], right.const[0]):
                same = left.const == right.const
                return same if isinstance(operator, cst.Equal) else not same
            return None
        if isinstance(test, (cst.Name, cst.Attribute)):
            value = self.value(test, frame)
            if value.const is not None and value.const[0] is not SOME_NUMBER:
                return bool(value.const[0])
        if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance":
            return self.library.is_instance(test, frame)
        return None

    def _augmented(self, small: cst.AugAssign, frame: Frame) -> None:
        current = self.value(small.target, frame)
        operand = self.value(small.value, frame)
        if current.is_tensor:
            # `t += u` changes the tensor itself: with autograd off it stays what it was (a
            # leaf stays a leaf); with it on, it takes in what `u` carries.
            self.inplace_update(frame, small, current)
            if frame.grad_off is None:
                merged = flow([current, operand], current_ident(current))
                current = replace(merged, idents=current.idents, leaf=False)
            self.bind(small.target, current, frame, small, rebind=True)
        elif current.is_(Kind.CONTAINER):
            self.bind(small.target, join([current, Val(kinds=frozenset({Kind.CONTAINER}), members=operand.member())]), frame, small, rebind=True)
        else:
            result = flow([current, operand], f"{self.ctx.order(small)}")
            result = self.under(result, frame)
            self.bind(small.target, result, frame, small, rebind=True)

    # -- binding ----------------------------------------------------------------------------------

    def bind(self, target: cst.CSTNode, value: Val, frame: Frame, statement=None, rebind=False) -> None:
        if isinstance(target, cst.Name):
            name = target.value
            for obj in value.objs:
                self.heap.label(obj, name)
            if name in frame.globals and frame.parent is not None:
                owner = frame
                while owner.parent is not None and name in owner.globals:
                    owner = owner.parent
                owner.names[name] = value
            frame.names[name] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = target.elements
            starred = any(isinstance(e, cst.StarredElement) for e in elements)
            if value.items is not None and len(value.items) == len(elements) and not starred:
                for element, part in zip(elements, value.items):
                    self.bind(element.value, part, frame, statement)
            else:
                part = value.member() if (value.items is not None or value.members is not None or value.fields) else value
                for element in elements:
                    if isinstance(element, cst.StarredElement):
                        self.bind(element.value, Val(kinds=frozenset({Kind.CONTAINER}), members=part), frame, statement)
                    else:
                        self.bind(element.value, part, frame, statement)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, value, frame, statement)
        elif isinstance(target, cst.Attribute):
            self._store_attribute(target, value, frame)
        elif isinstance(target, cst.Subscript):
            self._store_item(target, value, frame, statement)

    def _store_attribute(self, target: cst.Attribute, value: Val, frame: Frame) -> None:
        attr = target.attr.value
        base = self.value(target.value, frame)
        if attr == "requires_grad":
            self.library.set_requires_grad(target, base, value, frame)
            return
        key = _key(target)
        if key:
            frame.keys[key] = value
        for obj in base.objs:
            self.heap.store(obj, attr, value)

    def _store_item(self, target: cst.Subscript, value: Val, frame: Frame, statement) -> None:
        base = self.value(target.value, frame)
        if base.is_tensor:
            self.inplace_update(frame, statement if statement is not None else target, base)
            merged = flow([base, value], current_ident(base))
            if frame.grad_off is None:
                self.bind(target.value, replace(merged, idents=base.idents, leaf=False), frame, statement, rebind=True)
            return
        index = _constant_key(target)
        key = _key(target)
        if key:
            frame.keys[key] = value
        patch = Val(kinds=frozenset({Kind.CONTAINER}), fields=((index, value),)) if index is not None else Val(
            kinds=frozenset({Kind.CONTAINER}), members=value
        )
        if isinstance(target.value, cst.Attribute):
            holder = self.value(target.value.value, frame)
            for obj in holder.objs:
                self.heap.store(obj, target.value.attr.value, patch)
        elif isinstance(target.value, cst.Name):
            name = target.value.value
            current = self.lookup(name, frame)
            frame.names[name] = join([current, patch]) if current is not None else patch

    # -- names ------------------------------------------------------------------------------------

    def lookup(self, name: str, frame: Frame) -> Val | None:
        current: Frame | None = frame
        while current is not None:
            if name in current.names:
                return current.names[name]
            current = current.parent
        return None

    # -- expressions ------------------------------------------------------------------------------

    def value(self, node: cst.BaseExpression, frame: Frame) -> Val:
        result = self._value(node, frame)
        if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            order = self.ctx.order(node)
            seen = self.denoted.get(order)
            self.denoted[order] = result if seen is None else join([seen, result])
        return result

    def _value(self, node: cst.BaseExpression, frame: Frame) -> Val:
        handler = _EXPRESSIONS.get(type(node))
        return handler(self, node, frame) if handler is not None else DATA

    def _name(self, node: cst.Name, frame: Frame) -> Val:
        found = self.lookup(node.value, frame)
        if found is not None:
            return found
        if node.value in _CONSTANTS:
            return _CONSTANTS[node.value]
        return self.library.global_name(node)

    def _number_or_string(self, node, frame: Frame) -> Val:
        order = self.ctx.order(node)
        value = self.literals.get(order)
        if value is None:
            value = self.literals[order] = literal(SOME_NUMBER if isinstance(node, (cst.Integer, cst.Float)) else _literal(node))
        return value

    def _keyed(self, node, frame: Frame) -> Val:
        key = _key(node)
        if key and key in frame.keys:
            return frame.keys[key]
        if isinstance(node, cst.Attribute):
            return self.attribute(node, frame)
        return self.library.subscript(node, frame)

    def _call(self, node: cst.Call, frame: Frame) -> Val:
        return self.library.call(node, frame)

    def _binary(self, node: cst.BinaryOperation, frame: Frame) -> Val:
        return self.library.binary(node, frame)

    def _unary(self, node: cst.UnaryOperation, frame: Frame) -> Val:
        operand = self.value(node.expression, frame)
        if isinstance(node.operator, cst.Not):
            return DATA
        return self.under(flow([operand], f"{self.ctx.order(node)}"), frame)

    def _sequence(self, node, frame: Frame) -> Val:
        parts = []
        starred = False
        for element in node.elements:
            part = self.value(element.value, frame)
            if isinstance(element, cst.StarredElement):
                starred = True
                part = part.member()
            parts.append(part)
        if starred or isinstance(node, cst.Set):
            return Val(kinds=frozenset({Kind.CONTAINER}), members=join(parts) if parts else None)
        return Val(kinds=frozenset({Kind.CONTAINER}), items=tuple(parts))

    def _dict(self, node: cst.Dict, frame: Frame) -> Val:
        fields, others = [], []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                value = self.value(element.value, frame)
                self.value(element.key, frame)
                key = _literal(element.key)
                if key is not None:
                    fields.append((key, value))
                else:
                    others.append(value)
            else:
                others.append(self.value(element.value, frame))
        return Val(kinds=frozenset({Kind.CONTAINER}), fields=tuple(fields), members=join(others) if others else None)

    def _if_expression(self, node: cst.IfExp, frame: Frame) -> Val:
        self.value(node.test, frame)
        decided = self.decide(node.test, frame)
        if decided is not None:
            return self.value(node.body if decided else node.orelse, frame)
        arms = [frame.branch(arm=True), frame.branch(arm=True)]  # one runs or the other, never both
        values = [self.value(node.body, arms[0]), self.value(node.orelse, arms[1])]
        frame.merge(arms)
        return join(values)

    def _boolean(self, node: cst.BooleanOperation, frame: Frame) -> Val:
        return join([self.value(node.left, frame), self.value(node.right, frame)])

    def _comparison(self, node: cst.Comparison, frame: Frame) -> Val:
        operands = [self.value(node.left, frame)]
        operands += [self.value(target.comparator, frame) for target in node.comparisons]
        return self.without_gradient(node, operands, frame)

    def _lambda(self, node: cst.Lambda, frame: Frame) -> Val:
        return Val(kinds=frozenset({Kind.FUNCTION}), defs=frozenset({self.ctx.order(node)}))

    def _named(self, node: cst.NamedExpr, frame: Frame) -> Val:
        value = self.value(node.value, frame)
        self.bind(node.target, value, frame)
        return value

    def _await_or_yield(self, node, frame: Frame) -> Val:
        inner = getattr(node, "expression", None) or getattr(node, "value", None)
        if isinstance(node, cst.Yield) and inner is not None and not isinstance(inner, cst.From):
            value = self.value(inner, frame)
            frame.returns.append(value)
            return UNKNOWN
        return self.value(inner, frame) if isinstance(inner, cst.BaseExpression) else UNKNOWN

    def _formatted(self, node, frame: Frame) -> Val:
        for part in self.ctx.nodes_in(node):
            if isinstance(part, cst.FormattedStringExpression):
                self.value(part.expression, frame)
        return DATA

    def _comprehension(self, node, frame: Frame) -> Val:
        inner = frame.branch()
        clause = node.for_in
        while clause is not None:
            iterated = self.value(clause.iter, inner)
            self.bind(clause.target, self.library.element(iterated), inner)
            for condition in clause.ifs:
                self.value(condition.test, inner)
            clause = clause.inner_for_in
        if isinstance(node, cst.DictComp):
            self.value(node.key, inner)
            element = self.value(node.value, inner)
        else:
            element = self.value(node.elt, inner)
        frame.events = inner.events
        for ident, saver in inner.saved.items():
            frame.saved.setdefault(ident, saver)
        return Val(kinds=frozenset({Kind.CONTAINER}), members=element)

    def attribute(self, node: cst.Attribute, frame: Frame) -> Val:
        return self.library.attribute(node, self.value(node.value, frame), frame)

    # -- autograd state ---------------------------------------------------------------------------

    def without_gradient(self, node: cst.CSTNode, operands: list[Val], frame: Frame) -> Val:
        """A comparison, an index or an integer cast: whatever it is computed from reaches it
        only through a cut (no gradient flows through it)."""
        merged = flow(operands, self.new_ident(node, frame) if any(v.is_tensor for v in operands) else None)
        cut = merged.cut_by(self.ctx.order(node)) if merged.requires_grad else merged
        return replace(cut, kinds=frozenset({Kind.DATA}))

    def under(self, value: Val, frame: Frame) -> Val:
        """A value computed with autograd off has no graph: a cut by the no_grad context."""
        if frame.grad_off is not None and value.requires_grad:
            return value.cut_by(frame.grad_off)
        return value

    def save(self, frame: Frame, value: Val, saver: cst.CSTNode) -> None:
        """Autograd saved `value` (a tensor) for the backward of `saver`."""
        if frame.grad_off is not None:
            return
        order = self.ctx.order(saver)
        for ident in value.idents:
            frame.saved[ident] = order
            if ident not in frame.own:
                frame.outside_saves.append((ident, order))

    def inplace_update(self, frame: Frame, node: cst.CSTNode, target: Val, module: str | None = None) -> None:
        """An in-place change of `target`: breaks a saved tensor's backward, or raises at once on
        a leaf that requires grad (when autograd is on)."""
        order = self.ctx.order(node)
        if target.leaf and frame.grad_off is None:
            self.inplace.setdefault((order, None), InPlace(order, target, None, True, module))
        for ident in target.idents:
            self._mutated(frame, ident, order, module, target)

    def _mutated(self, frame: Frame, ident: str, node: int, module: str | None, target: Val | None = None) -> None:
        saver = frame.saved.get(ident)
        if saver is not None and self._same_function(saver, node) and not self._same_function(node, self.ctx.order(frame.scope)):
            saver = None  # both in a callee that judged their order itself (exclusive arms)
        if saver is not None:
            self.inplace.setdefault((node, saver), InPlace(node, target or Val(idents=frozenset({ident})), saver, False, module))
        elif ident not in frame.own:
            frame.mutations.append((ident, node, module))  # the caller checks what it saved

    def _same_function(self, a: int, b: int) -> bool:
        """Do the nodes at source orders `a` and `b` belong to the body of one function?"""
        scope_of = self.ctx.references.scope_of
        first, second = self.ctx.nodes[a], self.ctx.nodes[b]
        second_scope = second if isinstance(second, (cst.FunctionDef, cst.Module)) else scope_of(second)
        return scope_of(first) is second_scope

    def new_ident(self, node: cst.CSTNode, frame: Frame, suffix: str = "") -> str:
        ident = f"{self.ctx.order(node)}:{frame.serial}{suffix}"
        frame.own.add(ident)
        return ident

    def record(self, frame: Frame, act: Act, node: cst.CSTNode, value: Val, has_args: bool = False) -> None:
        frame.events.append(Event(act, self.ctx.order(node), value, (), frame.grad_off, has_args))
        if act is Act.BACKWARD and not _retains_graph(node):
            self.freed(frame)

    def freed(self, frame: Frame) -> None:
        """Backward frees the graph: what it had saved may be changed in place from now on."""
        frame.saved.clear()
        frame.backward = True


_CONSTANTS = {"None": literal(None), "True": literal(True), "False": literal(False)}
_EXPRESSIONS = {
    cst.Name: Interpreter._name,
    cst.Integer: Interpreter._number_or_string,
    cst.Float: Interpreter._number_or_string,
    cst.SimpleString: Interpreter._number_or_string,
    cst.Attribute: Interpreter._keyed,
    cst.Subscript: Interpreter._keyed,
    cst.Call: Interpreter._call,
    cst.BinaryOperation: Interpreter._binary,
    cst.UnaryOperation: Interpreter._unary,
    cst.Tuple: Interpreter._sequence,
    cst.List: Interpreter._sequence,
    cst.Set: Interpreter._sequence,
    cst.Dict: Interpreter._dict,
    cst.ListComp: Interpreter._comprehension,
    cst.SetComp: Interpreter._comprehension,
    cst.GeneratorExp: Interpreter._comprehension,
    cst.DictComp: Interpreter._comprehension,
    cst.IfExp: Interpreter._if_expression,
    cst.BooleanOperation: Interpreter._boolean,
    cst.Comparison: Interpreter._comparison,
    cst.Lambda: Interpreter._lambda,
    cst.NamedExpr: Interpreter._named,
    cst.Await: Interpreter._await_or_yield,
    cst.Yield: Interpreter._await_or_yield,
    cst.FormattedString: Interpreter._formatted,
    cst.ConcatenatedString: Interpreter._formatted,
}


def _retains_graph(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and any(
        a.keyword is not None and a.keyword.value == "retain_graph" and not (
            isinstance(a.value, cst.Name) and a.value.value == "False"
        )
        for a in node.args
    )


def current_ident(value: Val) -> str | None:
    return next(iter(sorted(value.idents)), None)


class _Classes:
    """The file's classes: which are nn.Modules, their bases and methods (MRO within the file),
    and the instance each class's constructor builds when no code of the file builds one."""

    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self.by_order: dict[int, cst.ClassDef] = {}
        self.by_name: dict[str, list[cst.ClassDef]] = {}
        for node in ctx.nodes:
            if isinstance(node, cst.ClassDef):
                self.by_order[ctx.order(node)] = node
                self.by_name.setdefault(node.name.value, []).append(node)
        self.module_classes = {ctx.order(c) for c in ctx.modules.classes}
        self._instances: dict[int, Val] = {}

    def owner(self, function: cst.CSTNode) -> cst.ClassDef | None:
        block = self.ctx.parent(function)
        parent = self.ctx.parent(block) if block is not None else None
        return parent if isinstance(parent, cst.ClassDef) else None

    def is_module(self, cls: cst.ClassDef) -> bool:
        return self.ctx.order(cls) in self.module_classes

    def bases(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        found = []
        for base in cls.bases:
            name = dotted_name(base.value)
            for candidate in self.by_name.get(name, []):
                if candidate is not cls:
                    found.append(candidate)
        return found

    def mro(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        order, frontier = [], [cls]
        while frontier:
            current = frontier.pop(0)
            if current in order:
                continue
            order.append(current)
            frontier.extend(self.bases(current))
        return order

    def method(self, cls: cst.ClassDef, name: str, after: cst.ClassDef | None = None) -> cst.FunctionDef | None:
        """`name` as `cls` resolves it (skipping classes up to `after`, for `super()`)."""
        chain = self.mro(cls)
        if after is not None and after in chain:
            chain = chain[chain.index(after) + 1:]
        for current in chain:
            for statement in current.body.body:
                if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
                    return statement
        return None

    def class_attribute(self, cls: cst.ClassDef, name: str) -> cst.BaseExpression | None:
        for current in self.mro(cls):
            for statement in current.body.body:
                if isinstance(statement, cst.SimpleStatementLine):
                    for small in statement.body:
                        if isinstance(small, cst.Assign) and any(
                            isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets
                        ):
                            return small.value
                        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.target.value == name:
                            return small.value if small.value is not None else small.annotation.annotation
        return None

    def has_foreign_base(self, cls: cst.ClassDef) -> bool:
        """Some base is not a class of this file: attributes may come from code we cannot see."""
        for current in self.mro(cls):
            for base in current.bases:
                if not self.by_name.get(dotted_name(base.value)):
                    if dotted_name(base.value) not in ("object", ""):
                        return True
        return False

    def instance(self, interpreter: Interpreter, cls: cst.ClassDef) -> Val:
        """The instance a class's constructor builds from arguments typed by their names (for
        methods no code of the file reaches with an instance of its own)."""
        order = self.ctx.order(cls)
        if order not in self._instances:
            self._instances[order] = interpreter.library.construct(cls, [], None, f"self@{order}", "self")
        return self._instances[order]


def _statements(block) -> list:
    """The statements of an indented block, or the small statements of `if x: a = 1`."""
    return list(getattr(block, "body", []))


def _params(function: cst.FunctionDef, is_method: bool) -> list[tuple[str, cst.Annotation | None]]:
    params = [*function.params.posonly_params, *function.params.params]
    found = [(p.name.value, p.annotation) for p in params]
    if is_method and found:
        found = found[1:]
    found += [(p.name.value, p.annotation) for p in function.params.kwonly_params]
    for star in (function.params.star_arg, function.params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append((star.name.value, None))
    return found


def _receiver_name(function) -> str | None:
    """`self` (or whatever the method calls its first parameter)."""
    params = [*function.params.posonly_params, *function.params.params]
    return params[0].name.value if params else None


def _is_static(function: cst.FunctionDef) -> bool:
    return any(dotted_name(d.decorator) == "staticmethod" for d in function.decorators)


def _is_generator(ctx, function) -> bool:
    if not isinstance(function, cst.FunctionDef):
        return False
    return any(isinstance(n, cst.Yield) for n in ctx.own_nodes(function))


def _key(node: cst.BaseExpression) -> str:
    """`self.x`, `self.state['loss']`, `outputs[0]`: a path whose last value this frame may know."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _key(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    if isinstance(node, cst.Subscript):
        base = _key(node.value)
        index = _constant_key(node)
        return f"{base}[{index!r}]" if base and index is not None else ""
    return ""


def _constant_key(node: cst.Subscript):
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    return _literal(node.slice[0].slice.value)


def _literal(node: cst.BaseExpression):
    if isinstance(node, cst.SimpleString):
        try:
            return node.evaluated_value
        except Exception:
            return None
    if isinstance(node, cst.Integer):
        return int(node.value, 0) if node.value.isdigit() else None
    return None

