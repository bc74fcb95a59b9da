"""``nn.functional.pad``: constant, reflect, replicate and circular padding.

Constant padding copies the input into a block of a filled array (negative
amounts crop), so its gradient is that block of the output gradient. The other
modes read input positions: each padded dimension gets an index array telling
which input position every output position copies, applied with ``take`` one
dimension at a time. Backward undoes the dimensions in reverse order with
``xp.add.at``, so a position copied several times (an edge under replicate
padding) collects all its copies' gradients. The Tensor-level rules (double backward)
are the same reads and scatters as the recorded ops ``Index`` and
``IndexScatter`` (``shape.py``).
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .reshaping import _int_list
from .shape import Index, IndexScatter


class ConstantPad(Op):
    _name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, a, out_shape, src, dst, value):
        ctx.in_shape, ctx.src, ctx.dst = a.shape, src, dst
        out = xp.full(out_shape, value, dtype=a.dtype)
        out[dst] = a[src]
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # padding values are constants; the copied block takes its gradient back
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        grad_input[ctx.src] = grad_output[ctx.dst]
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        block = Index.apply(grad_output, index=ctx.dst, basic=True)
        return IndexScatter.apply(block, shape=ctx.in_shape, index=ctx.src, basic=True)


class IndexPad(Op):
    """Padding that reads input positions: reflect, replicate and circular."""

    @staticmethod
    def forward(ctx, a, positions):
        # positions: (axis, source index of every output position) per padded dim
        ctx.in_shape, ctx.positions = a.shape, positions
        if not positions:
            return a.copy()
        for axis, idx in positions:
            a = xp.take(a, idx, axis=axis)
        return a

    @staticmethod
    def backward(ctx, grad_output):
        # each input position gets the sum of the gradients of its copies
        grad = grad_output
        for axis, idx in reversed(ctx.positions):
            shape = list(grad.shape)
            shape[axis] = ctx.in_shape[axis]
            grad_input = xp.zeros(shape, dtype=grad.dtype)
            xp.add.at(grad_input, (slice(None),) * axis + (idx,), grad)
            grad = grad_input
        return grad

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same scatter-adds, one dimension at a time, recorded
        grad = grad_output
        for axis, idx in reversed(ctx.positions):
            shape = list(grad.shape)
            shape[axis] = ctx.in_shape[axis]
            where = (slice(None),) * axis + (idx,)
            grad = IndexScatter.apply(
                grad, shape=tuple(shape), index=where, basic=False
            )
        return grad


# PyTorch names the node after the padding module that does the work; its
# circular padding is built from slice copies.
_PAD_OPS = {
    (mode, k): type(
        f"{prefix}{k}D",
        (IndexPad,),
        {"_name": f"{prefix}{k}DBackward0" if prefix else "CopySlices"},
    )
    for mode, prefix in (
        ("reflect", "ReflectionPad"),
        ("replicate", "ReplicationPad"),
        ("circular", ""),
    )
    for k in (1, 2, 3)
}


def _pad_positions(mode: str, size: int, lo: int, hi: int) -> Any:
    """The input index each output position reads, for one padded dimension."""
    if mode == "circular":
        # PyTorch crops negative amounts first, then wraps the cropped part
        first, last = max(0, -lo), size - max(0, -hi)
        j = xp.arange(-max(0, lo), last - first + max(0, hi))
        return first + j % (last - first)
    j = xp.arange(-lo, size + hi)
    if mode == "reflect":
        j = xp.abs(j)
        return xp.where(j > size - 1, 2 * (size - 1) - j, j)
    return xp.clip(j, 0, size - 1)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: Any = None) -> Tensor:
    """Pad (or, with negative amounts, crop) the last dimensions of ``input``.

    Args:
        input: the tensor to pad.
        pad: ``(left, right)`` amounts for the last dimension, then for the one
            before it, and so on: ``(last_lo, last_hi, second_last_lo, ...)``.
        mode: ``'constant'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        value: the fill value of constant padding (default 0).

    Returns:
        The padded tensor.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.functional.pad(torch.tensor([[1., 2.]]), (1, 0)).tolist()
        [[0.0, 1.0, 2.0]]
        >>> x = torch.tensor([[[1., 2., 3.]]])
        >>> torch.nn.functional.pad(x, (2, 1), mode="reflect").tolist()
        [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    """
    pad = _int_list((pad,), "pad", "pad")
    shape = input._data.shape
    ndim = len(shape)
    if len(pad) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2, got {pad}")
    k = len(pad) // 2
    if k > ndim:
        raise RuntimeError(
            f"pad: Padding length should be less than or equal to two times the "
            f"input dimension but got padding length {len(pad)} and input of "
            f"dimension {ndim}"
        )
    # pairs[axis] = (lo, hi); the pad tuple starts with the last dimension
    pairs = {ndim - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(k)}
    if mode == "constant":
        src, dst, out_shape = [], [], []
        for axis, n in enumerate(shape):
            lo, hi = pairs.get(axis, (0, 0))
            if n + lo + hi < 0:
                raise RuntimeError(
                    f"pad: padding ({lo}, {hi}) at dimension {axis} of input "
                    f"{list(shape)} gives a negative size {n + lo + hi}"
                )
            out_shape.append(n + lo + hi)
            first, last = max(0, -lo), max(max(0, -lo), n - max(0, -hi))
            src.append(slice(first, last))
            dst.append(slice(max(0, lo), max(0, lo) + last - first))
        fill = 0 if value is None else value
        return ConstantPad.apply(
            input,
            out_shape=tuple(out_shape),
            src=tuple(src),
            dst=tuple(dst),
            value=fill,
        )
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode}")
    if value is not None:
        raise RuntimeError(
            f'pad: Padding mode "{mode}" doesn\'t take in value argument'
        )
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"pad: Padding size {len(pad)} is not supported for {ndim}D input "
            f"tensor (mode {mode!r} pads the last 1 to 3 dimensions of a batched "
            "or unbatched input)"
        )
    positions = []
    for axis in sorted(pairs):
        lo, hi = pairs[axis]
        n = shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"pad: Argument #4: Padding size should be less than the "
                f"corresponding input dimension, but got: padding ({lo}, {hi}) at "
                f"dimension {axis} of input {list(shape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(
                f"pad: Padding value causes wrapping around more than once "
                f"(padding ({lo}, {hi}) at dimension {axis} of input {list(shape)})"
            )
        if mode == "replicate" and n == 0:
            raise RuntimeError(
                f"pad: replicate padding needs a non-empty dimension {axis} "
                f"(input {list(shape)})"
            )
        if lo or hi:
            positions.append((axis, _pad_positions(mode, n, lo, hi)))
    return _PAD_OPS[mode, k].apply(input, positions=tuple(positions))
