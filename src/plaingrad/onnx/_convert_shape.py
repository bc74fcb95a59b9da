"""Converters for shape ops: reshapes, transposes, expand, concatenation and
basic indexing.

Shapes and slice bounds that follow a dynamic axis (a reshape to
``(batch * heads, ...)``, a split of a ``(batch * time, ...)`` tensor) are
computed in the graph from the input's size (``Ctx.shape_tensor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import reshaping as RS
from ..ops import shape as S
from ._convert import Ctx, converts, same_dtype
from ._graph import INT64_MAX


@converts(S.Reshape, S.View)
def _reshape(ctx: Ctx) -> None:
    shape = ctx.shape_input("shape", infer=True)
    # ONNX reads a 0 in the shape as "keep the input's size" unless allowzero
    empty = 0 in ctx.options["shape"] and ctx.g.opset >= 14
    allowzero = 1 if empty else None
    ctx.g.node("Reshape", [ctx.input(0), shape], [ctx.out()], allowzero=allowzero)


@converts(S.Permute)
def _permute(ctx: Ctx) -> None:
    perm = [int(a) for a in ctx.options["axes"]]
    ctx.g.node("Transpose", [ctx.input(0)], [ctx.out()], perm=perm)


@converts(S.Expand)
def _expand(ctx: Ctx) -> None:
    shape = ctx.shape_input("shape", infer=False, like=ctx.shape(0))
    ctx.g.node("Expand", [ctx.input(0), shape], [ctx.out()])


@converts(S.Cat)
def _cat(ctx: Ctx) -> None:
    skip = set(ctx.options.get("skip", ()))
    names = same_dtype(ctx, [i for i in range(ctx.n_inputs()) if i not in skip])
    ctx.g.node("Concat", names, [ctx.out()], axis=ctx.options["axis"])


@converts(S.Stack)
def _stack(ctx: Ctx) -> None:
    axis = ctx.options["axis"]
    pieces = [
        ctx.g.unsqueeze(x, [axis]) for x in same_dtype(ctx, range(ctx.n_inputs()))
    ]
    ctx.g.node("Concat", pieces, [ctx.out()], axis=axis)


def _parse_index(ctx: Ctx, index: Any) -> tuple:
    """Basic ``index`` (slices with step > 0, ints, None, Ellipsis) as ONNX
    Slice bounds, the axes ints remove and the axes None adds."""
    index = index if isinstance(index, tuple) else (index,)
    ndim = len(ctx.shape(0))
    used = sum(1 for k in index if k is not None and k is not Ellipsis)
    items: list = []
    for k in index:
        items.extend([slice(None)] * (ndim - used) if k is Ellipsis else [k])
    items.extend([slice(None)] * (ndim - sum(1 for k in items if k is not None)))
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    axis = position = 0
    for k in items:
        if k is None:
            new.append(position)
            position += 1
            continue
        if isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise ctx.fail(f"a slice step of {k.step} is not supported")
            if k != slice(None):
                starts.append(0 if k.start is None else int(k.start))
                ends.append(INT64_MAX if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(1 if k.step is None else int(k.step))
            position += 1
        elif isinstance(k, (int, np.integer)):
            starts.append(int(k))
            ends.append(INT64_MAX if k == -1 else int(k) + 1)
            axes.append(axis)
            steps.append(1)
            drop.append(axis)
        else:
            raise ctx.fail(f"the index {k!r} is not supported")
        axis += 1
    return starts, ends, axes, steps, drop, new


@converts(S.Index, RS.Slice)
def _index(ctx: Ctx) -> None:
    if not ctx.options.get("basic", True) or ctx.options.get("pre") is not None:
        raise ctx.fail("advanced (tensor or list) indexing is not supported")
    starts, ends, axes, steps, drop, new = _parse_index(ctx, ctx.options["index"])
    # bounds that follow a dynamic axis (a split of a (batch * time, ...) tensor)
    moved_starts, moved_ends = {}, {}
    for dim, index in ctx.call.varying.get("index", {}).items():
        other = _parse_index(ctx, index)
        if other[2:] != (axes, steps, drop, new):
            raise ctx.fail(f"the index changes form with dynamic axis `{dim}`")
        moved_starts[dim], moved_ends[dim] = other[0], other[1]
    ctx.handled.add("index")
    x = ctx.input(0)
    last = [ctx.out()]
    if not (axes or drop or new):
        ctx.g.node("Identity", [x], last)
    if axes:
        bounds = [
            ctx.shape_tensor(starts, moved_starts, False, "the slice starts"),
            ctx.shape_tensor(ends, moved_ends, False, "the slice ends"),
            ctx.g.ints(axes),
            ctx.g.ints(steps),
        ]
        x = ctx.g.node("Slice", [x, *bounds], last if not (drop or new) else 1)
    if drop:
        x = ctx.g.squeeze(x, drop, last if not new else 1)
    if new:
        ctx.g.unsqueeze(x, new, last)
