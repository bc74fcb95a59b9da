"""Pooling: max and average over sliding windows (adaptive forms re-exported).

``max_pool2d`` and ``avg_pool2d`` read the padded input's windows through
``im2col`` (a strided view, see ``fold.py``) and reduce over the last two axes.
Max pooling pads with the lowest value of the dtype, so padding never wins, and
keeps the flat index (into each H * W plane) of the winner: PyTorch's
``indices``, also what the backward rule scatters the gradient to. Ties go to
the first maximum in the window, read row by row, as in PyTorch; a NaN wins
over any number, and among NaNs the last one wins (PyTorch's CPU kernel too).

``ceil_mode`` adds one more, partial window at the end when the last stride
leaves some input uncovered (never one that would start in the padding).
Average pooling divides by the window's size clipped to the padded input
(``count_include_pad=True``) or to the input itself.

The adaptive forms (a fixed output size) are in ``adaptive_pool``; their
public functions are re-exported here.

Double backward: max pooling's gradient is a scatter to the winners, whose
indices are piecewise constant, so ``MaxPoolScatter`` and the gather
``MaxPoolGather`` (each the other's adjoint) carry it; average pooling is
linear, and ``AvgPool2DGrad`` (its adjoint) differentiates back into it. These
adjoint ops are in ``pooling_grad``.

The 1-D forms run the 2-D ops on a height of 1 between ``unsqueeze`` and
``squeeze``, as PyTorch does, so their ``grad_fn`` is ``SqueezeBackward1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .adaptive_pool import adaptive_avg_pool2d, adaptive_max_pool2d  # noqa: F401
from .fold import as_tuple, im2col, pad2d
from .pooling_grad import (
    AvgPool2DGrad,
    MaxPoolScatter,
    _avg_pool,
    _avg_pool_grad,
    _scatter,
)
from .shape import squeeze, unsqueeze


def _lowest(dtype: Any) -> Any:
    """The padding value that never wins a max: -inf, or an int type's minimum."""
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def _window_max(windows: Any) -> tuple[Any, Any]:
    """Max over the last axis and its position, with PyTorch's tie and NaN rules.

    ``argmax`` gives the first maximum, and the first NaN; PyTorch's kernel
    takes the last NaN, so windows holding a NaN are looked at again.
    """
    where = xp.argmax(windows, axis=-1)
    out = xp.take_along_axis(windows, where[..., None], axis=-1)[..., 0]
    if out.dtype.kind == "f":
        nan = out != out
        if nan.any():
            backwards = xp.argmax(xp.isnan(windows[..., ::-1]), axis=-1)
            where = xp.where(nan, windows.shape[-1] - 1 - backwards, where)
    return out, where


def _tiled_max(x: Any, kernel: tuple, size: tuple) -> tuple[Any, Any] | None:
    """Max pooling with windows that tile the input (stride = kernel, no padding).

    One strided slice per kernel offset (kH * kW of them, each (*, oH, oW)):
    elementwise maxima, then the first offset holding the maximum, row by row.
    Much faster than reducing a window view over a short last axis. Returns
    None when a window holds a NaN (PyTorch takes the last NaN; the general
    path handles that).
    """
    (kh, kw), (oh, ow) = kernel, size
    w = x.shape[-1]
    taps = [
        x[..., i : oh * kh : kh, j : ow * kw : kw] for i in range(kh) for j in range(kw)
    ]
    out = taps[0].copy()
    for tap in taps[1:]:
        xp.maximum(out, tap, out=out)
    if out.dtype.kind == "f" and xp.isnan(out).any():
        return None
    # code = the first offset p with taps[p] == out: c_p = (taps[p] != out) *
    # (1 + c_{p+1}), from the last offset (c = 0) back to the first
    code = xp.zeros(out.shape, dtype=np.uint8 if len(taps) < 256 else np.intp)
    for p in range(len(taps) - 2, -1, -1):
        code += 1
        code *= taps[p] != out
    offsets = xp.asarray([i * w + j for i in range(kh) for j in range(kw)])
    corners = xp.arange(oh)[:, None] * (kh * w) + xp.arange(ow) * kw
    indices = xp.take(offsets.astype(np.int64), code)
    indices += corners
    return out, indices


class MaxPool2D(Op):
    _name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, dilation, size):
        # x: (*, H, W) -> values and int64 indices, both (*, oH, oW)
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh, ow = size
        tiled = (sh, sw) == (kh, kw) and not ph and not pw and (dh, dw) == (1, 1)
        if tiled and oh * kh <= h and ow * kw <= w and x.dtype.kind in "fiu":
            found = _tiled_max(x, kernel_size, size)
            if found is not None:
                ctx.save_for_backward(found[1])
                ctx.shape, ctx.unique = x.shape, True
                return found
        # ceil_mode's last window may run past the padding: pad it too
        bottom = max(ph, (oh - 1) * sh + dh * (kh - 1) + 1 - ph - h)
        right = max(pw, (ow - 1) * sw + dw * (kw - 1) + 1 - pw - w)
        padded = pad2d(x, ((ph, bottom), (pw, right)), _lowest(x.dtype))
        windows = im2col(padded, kernel_size, stride, dilation)[..., :oh, :ow, :, :]
        windows = windows.reshape(windows.shape[:-2] + (kh * kw,))
        out, where = _window_max(windows)
        i, j = xp.divmod(where, kw)
        rows = xp.arange(oh)[:, None] * sh - ph + i * dh
        cols = xp.arange(ow) * sw - pw + j * dw
        indices = (rows * w + cols).astype(np.int64)

        ctx.save_for_backward(indices)
        ctx.shape = x.shape
        ctx.unique = sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1
        return out, indices

    @staticmethod
    def backward(ctx, grad_output):
        # d max(window)/dx = 1 at the (first) maximum, 0 elsewhere
        (indices,) = ctx.saved_tensors
        return _scatter(grad_output, indices, ctx.shape, ctx.unique)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same scatter, as an op; the indices are piecewise constant
        (indices,) = ctx.saved_tensors
        return MaxPoolScatter.apply(
            grad_output, indices=indices, shape=ctx.shape, unique=ctx.unique
        )


class AvgPool2D(Op):
    _name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, size, divisor):
        # x: (*, H, W) -> (*, oH, oW); divisor: (oH, oW), each window's count
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        oh, ow = size
        bottom = max(ph, (oh - 1) * sh + kh - ph - h)
        right = max(pw, (ow - 1) * sw + kw - pw - w)
        pads = ((ph, bottom), (pw, right))

        ctx.geometry = (x.shape, kernel_size, stride, pads, divisor)
        return _avg_pool(x, ctx.geometry)

    @staticmethod
    def backward(ctx, grad_output):
        # d mean(window)/dx = 1/divisor for each element of the window
        return _avg_pool_grad(grad_output, ctx.geometry)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # linear: the gradient is the adjoint map, as an op
        return AvgPool2DGrad.apply(grad_output, geometry=ctx.geometry)


# ------------------------------------------------------------ public functions


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Windows along one dimension (PyTorch's pooling_output_shape)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    # the extra ceil_mode window must start inside the input or the left padding
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_args(
    op: str,
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
) -> tuple:
    """Check a 2-D pooling's arguments; returns them as pairs and the output size."""
    shape = input._data.shape
    if len(shape) not in (3, 4) or 0 in shape[1:]:
        raise RuntimeError(
            f"{op}: expected a non-empty 3D (C, H, W) or 4D (N, C, H, W) input, "
            f"but got input of size: {list(shape)}"
        )
    kernel = as_tuple(kernel_size, 2, op, "kernel_size")
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        stride = kernel
    stride = as_tuple(stride, 2, op, "stride")
    padding = as_tuple(padding, 2, op, "padding")
    dilation = as_tuple(dilation, 2, op, "dilation")
    for name, values in (("kernel_size", kernel), ("stride", stride)):
        if any(v <= 0 for v in values):
            raise RuntimeError(
                f"{op}: `{name}` must be greater than zero, got {values}"
            )
    if any(d <= 0 for d in dilation):
        raise RuntimeError(
            f"{op}: `dilation` must be greater than zero, got {dilation}"
        )
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(
            f"{op}: pad should be smaller than or equal to half of kernel size, "
            f"but got padding={padding}, kernel_size={kernel}"
        )
    size = tuple(
        _pool_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(shape[-2:], kernel, stride, padding, dilation)
    )
    if any(o < 1 for o in size):
        given = "x".join(map(str, shape[-3:]))
        calculated = "x".join(map(str, (shape[-3],) + size))
        raise RuntimeError(
            f"{op}: Given input size: ({given}). Calculated output size: "
            f"({calculated}). Output size is too small"
        )
    return kernel, stride, padding, dilation, size


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    _op: str = "max_pool2d",
) -> Any:
    """The maximum of each window, as ``nn.MaxPool2d``.

    Args:
        input: the image, batched or not.
        kernel_size: window size (int or (kH, kW)).
        stride: step between windows; defaults to ``kernel_size``.
        padding: implicit -inf added on each side, at most half the kernel.
        dilation: spacing between window elements.
        ceil_mode: round the number of windows up, not down.
        return_indices: also return each maximum's flat index into its H * W
            plane (what ``max_unpool2d`` takes).

    Returns:
        The pooled tensor, or ``(output, indices)`` with ``return_indices``.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, H_out, W_out) with
        H_out = (H + 2 * pH - dH * (kH - 1) - 1) / sH + 1, rounded down (up
        with ``ceil_mode``).

    Example:
        >>> import plaingrad as torch
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> torch.nn.functional.max_pool2d(x, 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    kernel, stride, padding, dilation, size = _pool_args(
        _op, input, kernel_size, stride, padding, dilation, ceil_mode
    )
    out, indices = MaxPool2D.apply(
        input,
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        size=size,
    )
    return (out, indices) if return_indices else out


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """The maximum of each window of a signal, as ``nn.MaxPool1d``.

    Args are those of ``max_pool2d``, each an int or a 1-tuple.

    Shape:
        input: (N, C, L) or (C, L); output: (N, C, L_out), L_out as H_out in
        ``max_pool2d``.
    """
    op = "max_pool1d"
    _check_1d(op, input)
    stride = kernel_size if stride is None or stride == () else stride
    out, indices = max_pool2d(
        unsqueeze(input, -2),
        (1,) + as_tuple(kernel_size, 1, op, "kernel_size"),
        (1,) + as_tuple(stride, 1, op, "stride"),
        (0,) + as_tuple(padding, 1, op, "padding"),
        (1,) + as_tuple(dilation, 1, op, "dilation"),
        ceil_mode,
        True,
        _op=op,
    )
    out = squeeze(out, -2)
    return (out, squeeze(indices, -2)) if return_indices else out


def _check_1d(op: str, input: Tensor) -> None:
    shape = input._data.shape
    if len(shape) not in (2, 3) or 0 in shape[1:]:
        raise RuntimeError(
            f"{op}: expected a non-empty 2D (C, L) or 3D (N, C, L) input, but got "
            f"input of size: {list(shape)}"
        )


def _window_counts(n: int, out: int, k: int, s: int, p: int, with_pad: bool) -> Any:
    """How many elements each window covers, clipped as PyTorch's avg_pool."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if with_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    _op: str = "avg_pool2d",
) -> Tensor:
    """The mean of each window, as ``nn.AvgPool2d``.

    Args:
        input: the image, batched or not.
        kernel_size: window size (int or (kH, kW)).
        stride: step between windows; defaults to ``kernel_size``.
        padding: zeros added on each side, at most half the kernel.
        ceil_mode: round the number of windows up, not down.
        count_include_pad: count the padding zeros in each window's size.
        divisor_override: divide every window's sum by this instead.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, H_out, W_out), sized
        as in ``max_pool2d`` with dilation 1.
    """
    kernel, stride, padding, _, size = _pool_args(
        _op, input, kernel_size, stride, padding, 1, ceil_mode
    )
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"{_op}: integer inputs are not supported yet (got {input.dtype.name}); "
            "convert with input.float()"
        )
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError(f"{_op}: `divisor_override` must not be zero")
        divisor = np.full(size, float(divisor_override))
    else:
        h, w = input._data.shape[-2:]
        rows = _window_counts(
            h, size[0], kernel[0], stride[0], padding[0], count_include_pad
        )
        cols = _window_counts(
            w, size[1], kernel[1], stride[1], padding[1], count_include_pad
        )
        divisor = (rows[:, None] * cols[None, :]).astype(np.float64)
    return AvgPool2D.apply(
        input,
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        size=size,
        divisor=xp.asarray(divisor, dtype=input._data.dtype),
    )


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean of each window of a signal, as ``nn.AvgPool1d``.

    Args are those of ``avg_pool2d``, each an int or a 1-tuple.

    Shape:
        input: (N, C, L) or (C, L); output: (N, C, L_out).
    """
    op = "avg_pool1d"
    _check_1d(op, input)
    stride = kernel_size if stride is None or stride == () else stride
    out = avg_pool2d(
        unsqueeze(input, -2),
        (1,) + as_tuple(kernel_size, 1, op, "kernel_size"),
        (1,) + as_tuple(stride, 1, op, "stride"),
        (0,) + as_tuple(padding, 1, op, "padding"),
        ceil_mode,
        count_include_pad,
        _op=op,
    )
    return squeeze(out, -2)
