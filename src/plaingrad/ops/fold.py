"""Sliding windows: ``im2col`` / ``col2im``, and the ops ``unfold`` and ``fold``.

``im2col`` turns a padded (*, H, W) array into a view of its sliding windows,
(*, oH, oW, kH, kW), without copying: the same memory read with two more
strides. Convolution and pooling are built on it (one reshape lays the windows
out as the rows of a matrix, or a reduction runs over the last two axes).

``col2im`` is its adjoint: it adds each window's values back onto the
positions they were read from, overlaps summed. It loops over the kH * kW
kernel offsets, never over pixels or the batch: each step is one strided
slice-add over the whole batch, faster than NumPy's ``add.at`` scatter and
exact in float32. ``unfold`` (PyTorch's ``F.unfold``) is im2col laid out as
(N, C * kH * kW, L) and ``fold`` is col2im, so each is the other's backward,
at the array level and (for double backward) at the Tensor level alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor

_as_strided = np.lib.stride_tricks.as_strided


def im2col(x: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """The sliding windows of a padded (*, H, W) array, as a read-only view.

    Shape:
        x: (*, H, W); result: (*, oH, oW, kH, kW) with
        oH = (H - dilation * (kH - 1) - 1) // stride + 1 (and likewise oW).
    """
    h, w = x.shape[-2:]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    *lead, rs, cs = x.strides
    shape = x.shape[:-2] + (oh, ow, kh, kw)
    strides = (*lead, rs * sh, cs * sw, rs * dh, cs * dw)
    return _as_strided(x, shape, strides, writeable=False)


def col2im(cols: Any, size: tuple, stride: tuple, dilation: tuple) -> Any:
    """Add windows (*, oH, oW, kH, kW) back onto a zero (*, H, W) array.

    The inverse-direction partner of ``im2col`` (its adjoint): every window
    value lands on the input position it was read from, overlaps summed. One
    strided slice-add per kernel offset, kH * kW in all.
    """
    *lead, oh, ow, kh, kw = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = xp.zeros((*lead, *size), dtype=cols.dtype)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            columns = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            out[..., rows, columns] += cols[..., i, j]
    return out


def pad2d(x: Any, padding: tuple, value: Any = 0) -> Any:
    """Pad the last two axes by ((top, bottom), (left, right))."""
    if not any(padding[0]) and not any(padding[1]):
        return x
    widths = ((0, 0),) * (x.ndim - 2) + tuple(padding)
    return xp.pad(x, widths, constant_values=value)


def unpad(x: Any, padding: tuple, size: tuple) -> Any:
    (top, _), (left, _) = padding
    return x[..., top : top + size[0], left : left + size[1]]


class Im2Col(Op):
    _name = "Im2ColBackward0"

    @staticmethod
    def forward(ctx, x, *, kernel_size, dilation, padding, stride):
        # x: (N, C, H, W) -> (N, C*kH*kW, L), channel-major as PyTorch lays it out
        ctx.unbatched = x.ndim == 3
        x = x[None] if ctx.unbatched else x
        n, c, h, w = x.shape
        kh, kw = kernel_size
        cols = im2col(pad2d(x, padding), kernel_size, stride, dilation)
        oh, ow = cols.shape[2:4]
        out = cols.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)

        ctx.geometry = (x.shape, kernel_size, dilation, padding, stride, (oh, ow))
        return out[0] if ctx.unbatched else out

    @staticmethod
    def backward(ctx, grad_output):
        # unfold copies each input element into every window holding it: col2im
        (n, c, h, w), kernel, dilation, padding, stride, (oh, ow) = ctx.geometry
        grad_output = grad_output[None] if ctx.unbatched else grad_output
        cols = grad_output.reshape(n, c, *kernel, oh, ow).transpose(0, 1, 4, 5, 2, 3)
        size = (h + sum(padding[0]), w + sum(padding[1]))
        grad_input = unpad(col2im(cols, size, stride, dilation), padding, (h, w))
        return xp.ascontiguousarray(grad_input[0] if ctx.unbatched else grad_input)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # unfold is linear and fold is its adjoint: the gradient is a fold
        (_, _, h, w), kernel, dilation, padding, stride, _ = ctx.geometry
        return Col2Im.apply(
            grad_output,
            output_size=(h, w),
            kernel_size=kernel,
            dilation=dilation,
            padding=(padding[0][0], padding[1][0]),
            stride=stride,
        )


class Col2Im(Op):
    _name = "Col2ImBackward0"

    @staticmethod
    def forward(ctx, x, *, output_size, kernel_size, dilation, padding, stride):
        # x: (N, C*kH*kW, L) -> (N, C, H, W), overlapping values summed
        ctx.unbatched = x.ndim == 2
        x = x[None] if ctx.unbatched else x
        n, ckk, _ = x.shape
        kh, kw = kernel_size
        (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
        size = (output_size[0] + 2 * ph, output_size[1] + 2 * pw)
        oh = (size[0] - dh * (kh - 1) - 1) // sh + 1
        ow = (size[1] - dw * (kw - 1) - 1) // sw + 1
        cols = x.reshape(n, ckk // (kh * kw), kh, kw, oh, ow)
        out = col2im(cols.transpose(0, 1, 4, 5, 2, 3), size, stride, dilation)
        pads = ((ph, ph), (pw, pw))

        ctx.geometry = (kernel_size, dilation, pads, stride, x.shape)
        out = unpad(out, pads, output_size)
        return xp.ascontiguousarray(out[0] if ctx.unbatched else out)

    @staticmethod
    def backward(ctx, grad_output):
        # fold sums window values into place, so each gets its place's gradient
        kernel, dilation, pads, stride, shape = ctx.geometry
        grad_output = grad_output[None] if ctx.unbatched else grad_output
        cols = im2col(pad2d(grad_output, pads), kernel, stride, dilation)
        grad_input = cols.transpose(0, 1, 4, 5, 2, 3).reshape(shape)
        return grad_input[0] if ctx.unbatched else grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        # fold is linear and unfold is its adjoint: the gradient is an unfold
        kernel, dilation, pads, stride, _ = ctx.geometry
        return Im2Col.apply(
            grad_output,
            kernel_size=kernel,
            dilation=dilation,
            padding=pads,
            stride=stride,
        )


def as_tuple(value: Any, n: int, op: str, name: str) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, as an ``n``-tuple of ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if (
        isinstance(value, (tuple, list))
        and len(value) == n
        and all(isinstance(v, (int, np.integer)) for v in value)
    ):
        return tuple(int(v) for v in value)
    raise TypeError(
        f"{op}: `{name}` must be an int or a tuple of {n} ints, got {value!r}"
    )


def _blocks(op: str, size: tuple, kernel, dilation, padding, stride) -> tuple:
    """How many sliding blocks fit along each dimension; errors as PyTorch."""
    for name, values, low in (
        ("kernel_size", kernel, 1),
        ("dilation", dilation, 1),
        ("padding", padding, 0),
        ("stride", stride, 1),
    ):
        if any(v < low for v in values):
            raise RuntimeError(f"{op}: `{name}` must be at least {low}, got {values}")
    blocks = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, d, p, s in zip(size, kernel, dilation, padding, stride)
    )
    if any(b < 1 for b in blocks):
        raise RuntimeError(
            f"{op}: Given input with spatial size {size}, kernel_size={kernel}, "
            f"dilation={dilation}, padding={padding}, calculated shape of the "
            f"array of sliding blocks as {blocks}, but its components must be at "
            "least one."
        )
    return blocks


def unfold(
    input: Tensor,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Extract sliding blocks (im2col): every window becomes a column.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C * kH * kW, L), where L
        is the number of windows, oH * oW, and rows run channel-major.
    """
    op = "unfold"
    kernel = as_tuple(kernel_size, 2, op, "kernel_size")
    dilation = as_tuple(dilation, 2, op, "dilation")
    padding = as_tuple(padding, 2, op, "padding")
    stride = as_tuple(stride, 2, op, "stride")
    ndim = input._data.ndim
    if ndim not in (3, 4):
        raise RuntimeError(
            f"{op}: expected 3D (unbatched) or 4D (batched) input, but got input "
            f"of size: {list(input._data.shape)}"
        )
    _blocks(op, input._data.shape[-2:], kernel, dilation, padding, stride)
    return Im2Col.apply(
        input,
        kernel_size=kernel,
        dilation=dilation,
        padding=tuple((p, p) for p in padding),
        stride=stride,
    )


def fold(
    input: Tensor,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Sum sliding blocks back into an image (col2im), the adjoint of ``unfold``.

    Shape:
        input: (N, C * kH * kW, L) or (C * kH * kW, L); output: (N, C, H, W)
        with (H, W) = ``output_size``.
    """
    op = "fold"
    size = as_tuple(output_size, 2, op, "output_size")
    kernel = as_tuple(kernel_size, 2, op, "kernel_size")
    dilation = as_tuple(dilation, 2, op, "dilation")
    padding = as_tuple(padding, 2, op, "padding")
    stride = as_tuple(stride, 2, op, "stride")
    shape = input._data.shape
    if len(shape) not in (2, 3):
        raise RuntimeError(
            f"{op}: expected 2D (unbatched) or 3D (batched) input, but got input "
            f"of size: {list(shape)}"
        )
    area = kernel[0] * kernel[1]
    if shape[-2] % area:
        raise RuntimeError(
            f"{op}: Expected size of input's dimension {len(shape) - 2} to be "
            f"divisible by the product of kernel_size, but got "
            f"input.size({len(shape) - 2})={shape[-2]} and kernel_size={kernel}."
        )
    blocks = _blocks(op, size, kernel, dilation, padding, stride)
    if shape[-1] != blocks[0] * blocks[1]:
        raise RuntimeError(
            f"{op}: Given output_size={size}, kernel_size={kernel}, "
            f"dilation={dilation}, padding={padding}, stride={stride}, expected "
            f"size of input's dimension {len(shape) - 1} to match the calculated "
            f"number of sliding blocks {blocks[0]} * {blocks[1]} = "
            f"{blocks[0] * blocks[1]}, but got input.size({len(shape) - 1})="
            f"{shape[-1]}."
        )
    return Col2Im.apply(
        input,
        output_size=size,
        kernel_size=kernel,
        dilation=dilation,
        padding=padding,
        stride=stride,
    )
