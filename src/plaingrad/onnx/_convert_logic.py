"""Converters of the ops computed without ``Op.apply``: comparisons, logical
and bitwise ops, argmax/argmin (their results never need a gradient, so they
report to the trace through ``autograd.node.observed``; see ``_trace.plain_op``).
"""

from __future__ import annotations

import numpy as np

from ._convert import Ctx, converts, same_dtype
from ._trace import plain_op

_COMPARE = {
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
}
_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}
_BITWISE = {"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}


def _common(ctx: Ctx) -> list[str]:
    """Both inputs in their common dtype."""
    common = np.result_type(ctx.dtype(0), ctx.dtype(1))
    names = []
    for i in (0, 1):
        name = ctx.input(i)
        if np.dtype(ctx.dtype(i)) != common:
            name = ctx.g.cast(name, common)
        names.append(name)
    return names


def _as_bool(ctx: Ctx, i: int) -> str:
    """Input ``i`` as bool (non-zero is True)."""
    x = ctx.input(i)
    if np.dtype(ctx.dtype(i)) == np.bool_:
        return x
    zero = ctx.g.scalar(0, ctx.dtype(i))
    return ctx.g.node("Not", [ctx.g.node("Equal", [x, zero])])


@converts(*[plain_op(k) for k in (*_COMPARE, "ne")])
def _compare(ctx: Ctx) -> None:
    a, b = _common(ctx)
    if np.result_type(ctx.dtype(0), ctx.dtype(1)) == np.bool_ and ctx.op not in (
        "eq",
        "ne",
    ):
        # ONNX orders numbers only: False < True as 0 < 1
        a, b = (ctx.g.cast(x, np.int8) for x in (a, b))
    if ctx.op == "ne":
        ctx.g.node("Not", [ctx.g.node("Equal", [a, b])], [ctx.out()])
    else:
        ctx.g.node(_COMPARE[ctx.op], [a, b], [ctx.out()])


@converts(*[plain_op(k) for k in _LOGICAL])
def _logical(ctx: Ctx) -> None:
    ctx.g.node(_LOGICAL[ctx.op], [_as_bool(ctx, 0), _as_bool(ctx, 1)], [ctx.out()])


@converts(plain_op("logical_not"))
def _logical_not(ctx: Ctx) -> None:
    ctx.g.node("Not", [_as_bool(ctx, 0)], [ctx.out()])


def _bitwise_op(ctx: Ctx, logical: str) -> str:
    """``logical`` (And, Or, Xor, Not) on bool tensors, else ONNX's Bitwise op
    (opset 18 on)."""
    if np.dtype(ctx.out_dtype()) == np.bool_:
        return logical
    if ctx.g.opset < 18:
        raise ctx.fail(
            f"on {np.dtype(ctx.out_dtype())} tensors it needs opset_version 18 or "
            f"later (ONNX's Bitwise{logical}), got {ctx.g.opset}"
        )
    return f"Bitwise{logical}"


@converts(*[plain_op(k) for k in _BITWISE])
def _bitwise(ctx: Ctx) -> None:
    op = _bitwise_op(ctx, _BITWISE[ctx.op])
    ctx.g.node(op, same_dtype(ctx, [0, 1]), [ctx.out()])


@converts(plain_op("bitwise_not"))
def _bitwise_not(ctx: Ctx) -> None:
    ctx.g.node(_bitwise_op(ctx, "Not"), [ctx.input(0)], [ctx.out()])


@converts(plain_op("argmax"), plain_op("argmin"))
def _arg(ctx: Ctx) -> None:
    op = "ArgMax" if ctx.op == "argmax" else "ArgMin"
    x, axis = ctx.input(0), ctx.options["axis"]
    keep = int(bool(ctx.options["keepdim"]))
    if axis is None:
        # over all elements, flattened; keepdim gives ones of the input's rank
        flat = ctx.g.node("Reshape", [x, ctx.g.ints([-1])])
        shape = ctx.g.ints([1] * len(ctx.shape(0)) if keep else [])
        found = ctx.g.node(op, [flat], axis=0, keepdims=1)
        ctx.g.node("Reshape", [found, shape], [ctx.out()])
        return
    if not ctx.shape(0):  # a 0-d input: index 0
        ctx.g.node("Reshape", [ctx.g.ints([0]), ctx.g.ints([])], [ctx.out()])
        return
    ctx.g.node(op, [x], [ctx.out()], axis=axis, keepdims=keep)
