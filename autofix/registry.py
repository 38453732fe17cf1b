"""Which rules exist: the built-in PyTorch pack plus packs registered under the
`autofix.codemods` entry point (each entry point loads an iterable of Rule classes)."""

from __future__ import annotations

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

    rules: dict[str, type[Rule]] = {}
    packs: list[tuple[str, Iterable[type[Rule]]]] = [("builtin", BUILTIN_RULES)]
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


def resolve(select: Sequence[str] | None, ignore: Sequence[str] = ()) -> list[Rule]:
    """Rule instances for `--select` / `--ignore` (names or ALL); unknown names are errors."""
    known = available()
    for name in [*(select or ()), *ignore]:
        if name != ALL and name not in known:
            raise UnknownRule(f"unknown rule {name!r} (see `autofix rules`)")
    chosen = list(known) if not select or ALL in select else [n for n in known if n in select]
    dropped = set(known) if ALL in ignore else set(ignore)
    return [known[name]() for name in chosen if name not in dropped]


def get(name: str) -> type[Rule]:
    try:
        return available()[name]
    except KeyError:
        raise UnknownRule(f"unknown rule {name!r} (see `autofix rules`)") from None
