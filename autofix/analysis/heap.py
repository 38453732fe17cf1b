"""The objects a file creates: module instances (of which class), parameters, requires-grad
leaves, optimizers (and what they hold), schedulers, scalers, instances of the file's own classes.

Objects are named by where they are created, qualified by the object whose constructor created
them, so two `Block()`s stored as `self.a` and `self.b` are two objects while a helper called in a
loop makes one. Attributes are weak updates (every value ever stored is kept, joined): the heap is
flow-insensitive, which is what lets `self.encoder` typed in `__init__` be known in `forward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autofix.analysis.values import Kind, Val, join


@dataclass(eq=False)
class Obj:
    id: str
    kind: Kind
    label: str  # what the code first calls it: `model`, or `<Linear>` until it is named
    site: int | None = None  # source order of the expression that created it
    cls: str | None = None  # library class (`torch.nn.Linear`) or a class of the file (`Net`)
    local_class: int | None = None  # source order of the file's ClassDef, when it is one
    attrs: dict[str, Val] = field(default_factory=dict)
    holds: frozenset | None = frozenset()  # optimizer: what it steps (None: unknown)
    trainable: bool = False  # a module with parameters, a Parameter, a requires-grad leaf
    rewrapped: bool = False  # a leaf made by re-wrapping a value (`torch.tensor(x, requires_grad=True)`)
    frozen: bool = False  # requires_grad switched off somewhere in the file
    inplace: bool = False  # a module built with `inplace=True`
    hooks: list = field(default_factory=list)  # functions registered as forward (pre-)hooks
    parent: tuple[str, str] | None = None  # (holder id, attribute) it was first stored in

    @property
    def val(self) -> Val:
        return Val(kinds=frozenset({self.kind}), objs=frozenset({self.id}))


class Heap:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.version = 0  # bumped whenever something new is stored
        self.read: set[tuple[str, str]] = set()  # attributes read in this pass
        self.stale = False  # something read in this pass was changed after: run it again

    def get(self, id: str) -> Obj | None:
        return self.objects.get(id)

    def create(self, id: str, kind: Kind, label: str, **kw) -> Obj:
        obj = self.objects.get(id)
        if obj is None:
            obj = self.objects[id] = Obj(id, kind, label, **kw)
            self.version += 1
        return obj

    def store(self, id: str, attr: str, value: Val) -> None:
        obj = self.objects.get(id)
        if obj is None:
            return
        old = obj.attrs.get(attr)
        new = value if old is None else join([old, value])
        if new != old:
            obj.attrs[attr] = new
            self.version += 1
            if (id, attr) in self.read or (id, "*") in self.read:
                self.stale = True
            for child in new.objs:
                target = self.objects.get(child)
                if target is not None and target.parent is None and target.label.startswith("<") and child != id:
                    target.parent = (id, attr)

    def add_child(self, id: str, value: Val, first: Val | None = None, last: Val | None = None) -> None:
        """A child added in an order the model only partly knows (`add_module(f"block{i}", ...)`
        in a loop, `nn.Sequential(*layers)`): all of them under "*", the first under "*head"
        (the first one added), the last under "*tail" (the latest)."""
        obj = self.objects.get(id)
        if obj is None:
            return
        self.store(id, "*", value)
        if first is not None and "*head" not in obj.attrs:
            self.store(id, "*head", first)
        if last is not None and obj.attrs.get("*tail") != last:
            obj.attrs["*tail"] = last
            self.version += 1

    def attribute(self, id: str, attr: str) -> Val | None:
        """What `attr` of an object holds (None: nothing stored), remembered as read: a value
        stored there later means this pass saw too little."""
        self.read.add((id, attr))
        obj = self.objects.get(id)
        return obj.attrs.get(attr) if obj is not None else None

    def new_pass(self) -> None:
        self.read.clear()
        self.stale = False

    def children(self, id: str) -> set[str]:
        """The objects an object holds in its attributes (sub-modules, parameters), directly."""
        obj = self.objects.get(id)
        if obj is None:
            return set()
        found: set[str] = set()
        for value in obj.attrs.values():
            found |= value.sources()
        found.discard(id)
        return found

    def descendants(self, ids) -> set[str]:
        """`ids` and everything they hold, transitively: what `.parameters()` of them covers."""
        seen: set[str] = set()
        frontier = list(ids)
        while frontier:
            current = frontier.pop()
            if current in seen:
                continue
            seen.add(current)
            frontier.extend(self.children(current))
        return seen

    def related(self, a: str, b: str) -> bool:
        """One holds the other (or they are the same): a live path to either may cover both."""
        return a == b or b in self.descendants([a]) or a in self.descendants([b])

    def frozen(self, id: str) -> bool:
        """Switched off by `requires_grad_(False)` on it or on something holding it."""
        return any(o.frozen for o in self.objects.values() if o.frozen and id in self.descendants([o.id]))

    def name(self, id: str, depth: int = 0) -> str:
        """How a reader knows the object: `model.encoder.fc`, `self.proj`."""
        obj = self.objects.get(id)
        if obj is None:
            return id
        if obj.parent is not None and depth < 8:
            return f"{self.name(obj.parent[0], depth + 1)}.{obj.parent[1]}"
        return obj.label

    def label(self, id: str, name: str) -> None:
        """Name an unnamed object after the variable it is first bound to."""
        obj = self.objects.get(id)
        if obj is not None and obj.parent is None and obj.label.startswith("<"):
            obj.label = name
