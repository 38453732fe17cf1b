"""Which rules exist: the built-in PyTorch pack, autofix's own `unused-suppression`, and packs
registered under the `autofix.codemods` entry point (each entry point loads an iterable of Rule
classes); and which of them a selection (`select`, `extend-select`, `ignore`, `ALL`) picks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Iterable, Sequence

from autofix.rule import Rule

ENTRY_POINT_GROUP = "autofix.codemods"
ALL = "ALL"


class UnknownRule(ValueError):
    """A rule name that no installed pack defines (or that two packs define)."""


@lru_cache(maxsize=1)
def available() -> dict[str, type[Rule]]:
    """Every known rule by name, in catalogue order; loaded once per process."""
    from autofix.codemods import BUILTIN_RULES
    from autofix.suppression import UnusedSuppression

    rules: dict[str, type[Rule]] = {}
    packs: list[tuple[str, Iterable[type[Rule]]]] = [
        ("builtin", BUILTIN_RULES),
        ("autofix", [UnusedSuppression]),
    ]
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        loaded = point.load()
        if loaded is not BUILTIN_RULES:
            packs.append((point.name, [loaded] if isinstance(loaded, type) else loaded))
    for pack, classes in packs:
        for cls in classes:
            if cls.name in rules and rules[cls.name] is not cls:
                raise UnknownRule(f"rule {cls.name!r} of pack {pack!r} is already defined")
            rules[cls.name] = cls
    return rules


def closest(name: str) -> str | None:
    """The known rule name nearest to a misspelt one, if any is near."""
    close = difflib.get_close_matches(name, available(), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_rule(name: str, where: str = "") -> UnknownRule:
    """The error for a name no pack defines, with the closest known name when there is one."""
    near = closest(name)
    hint = f" (did you mean '{near}'?)" if near else ""
    prefix = f"{where}: " if where else ""
    return UnknownRule(f"{prefix}unknown rule '{name}'{hint}; `autofix rules` lists them")


def check_names(names: Iterable[str], where: str = "") -> None:
    """Raise for the first name that is neither ALL nor a known rule."""
    known = available()
    for name in names:
        if name != ALL and name not in known:
            raise unknown_rule(name, where)


@dataclass(frozen=True)
class RuleChoice:
    """One layer of selection, as Ruff layers them: a configuration file, then the command line.

    `select` (when given) starts the layer over from nothing, `extend_select` adds, `ignore`
    removes. Within a layer a rule's own name outranks `ALL`, so `select = ["x"]` with
    `ignore = ["ALL"]` keeps x, while `select = ["x"]` with `ignore = ["x"]` keeps nothing."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


def choose(layers: Sequence[RuleChoice]) -> list[str]:
    """Rule names chosen by `layers` applied in order over the whole catalogue, in catalogue
    order. An empty result is a real answer: nothing is checked."""
    known = list(available())
    chosen = set(known)
    for layer in layers:
        updates: dict[str, bool] = {}
        selected = (*(layer.select or ()), *layer.extend_select)
        for specific in (False, True):  # ALL first, then names, so that a name wins over ALL
            for names, enabled in ((selected, True), (layer.ignore, False)):
                for name in names:
                    if (name != ALL) is specific:
                        updates.update(dict.fromkeys(known if name == ALL else [name], enabled))
        start = set() if layer.select is not None else chosen
        chosen = {name for name in known if updates.get(name, name in start)}
    return [name for name in known if name in chosen]


def instantiate(names: Iterable[str]) -> list[Rule]:
    """Instances of exactly the rules named (none for no names), in catalogue order."""
    wanted = set(names)
    check_names(wanted)
    return [cls() for name, cls in available().items() if name in wanted]


def resolve(select: Sequence[str] | None, ignore: Sequence[str] = ()) -> list[Rule]:
    """Rule instances for one `select` / `ignore` pair (names or ALL; select None means every
    rule, an empty select none); unknown names are errors."""
    check_names([*(select or ()), *ignore])
    choice = RuleChoice(None if select is None else tuple(select), (), tuple(ignore))
    return instantiate(choose([choice]))


def get(name: str) -> type[Rule]:
    try:
        return available()[name]
    except KeyError:
        raise unknown_rule(name) from None
