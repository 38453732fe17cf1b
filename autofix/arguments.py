"""Fix edits on the arguments of one call that keep its layout: one line stays one line, a call
written one argument per line keeps doing so, a trailing comma stays."""

from __future__ import annotations

import libcst as cst

from autofix.rule import Edit, replace

_SPACE = cst.SimpleWhitespace(" ")


def keyword_argument(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def add_keyword(call: cst.Call, name: str, value: str) -> Edit:
    """`f(x)` -> `f(x, name=value)`."""
    new = cst.Arg(
        value=cst.parse_expression(value),
        keyword=cst.Name(name),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    args = list(call.args)
    if not args:
        return replace(call, call.with_changes(args=[new]))
    last = args[-1]
    if isinstance(last.comma, cst.Comma):  # a trailing comma: the new argument takes it over
        earlier = args[-2].comma if len(args) > 1 else None
        between = earlier if isinstance(earlier, cst.Comma) else cst.Comma(whitespace_after=_SPACE)
        args[-1] = last.with_changes(comma=between)
        args.append(new.with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg))
    else:
        args[-1] = last.with_changes(
            comma=cst.Comma(whitespace_after=_SPACE), whitespace_after_arg=cst.SimpleWhitespace("")
        )
        args.append(new.with_changes(whitespace_after_arg=last.whitespace_after_arg))
    return replace(call, call.with_changes(args=args))


def drop_keyword(call: cst.Call, name: str) -> Edit:
    """`f(x, name=value)` -> `f(x)`."""
    args = list(call.args)
    index = next(i for i, a in enumerate(args) if a.keyword is not None and a.keyword.value == name)
    dropped = args.pop(index)
    if index == len(args) and args:  # it was the last one: its neighbour ends the call now
        args[-1] = args[-1].with_changes(
            comma=dropped.comma if isinstance(dropped.comma, cst.Comma) else cst.MaybeSentinel.DEFAULT,
            whitespace_after_arg=dropped.whitespace_after_arg,
        )
    return replace(call, call.with_changes(args=args))
