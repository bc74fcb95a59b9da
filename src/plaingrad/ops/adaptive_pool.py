"""Adaptive pooling: average and max pooling to a fixed output size.

The adaptive forms choose window i along a dimension of size n as
[floor(i * n / out), ceil((i + 1) * n / out)). Windows then differ in size, so
average pooling is a product with an averaging matrix on each side and max
pooling gathers windows of the largest size, repeating a window's last element
to fill it (a repeat never changes the max, nor which element is first). Ties
and NaNs follow the same rules as ``max_pool2d`` (``pooling._window_max``).

Double backward: the averaging matrices are constants, and max pooling's
gradient is the scatter ``AdaptiveMaxPoolScatter`` of ``pooling_grad``.

They live apart from ``pooling`` (the sliding-window forms), which re-exports
``adaptive_avg_pool2d`` and ``adaptive_max_pool2d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .pooling_grad import AdaptiveMaxPoolScatter, _scatter


def _adaptive_windows(n: int, out: int) -> tuple[Any, Any]:
    """Start and end (exclusive) of each of ``out`` adaptive windows over ``n``."""
    i = np.arange(out)
    return (i * n) // out, -((-(i + 1) * n) // out)


def _averaging_matrix(n: int, out: int, dtype: Any) -> Any:
    """(out, n): row i averages window i, so ``A @ x`` pools one axis."""
    start, end = _adaptive_windows(n, out)
    k = np.arange(n)
    inside = (k >= start[:, None]) & (k < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


class AdaptiveAvgPool2D(Op):
    _name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, *, size):
        # x: (*, H, W) -> (*, oH, oW) = A_h @ x @ A_w^T
        a_h = _averaging_matrix(x.shape[-2], size[0], x.dtype)
        a_w = _averaging_matrix(x.shape[-1], size[1], x.dtype)

        ctx.save_for_backward(a_h, a_w)
        return a_h @ x @ a_w.T

    @staticmethod
    def backward(ctx, grad_output):
        # y = A_h x A_w^T is linear: dy/dx = A_h^T G A_w
        a_h, a_w = ctx.saved_tensors
        return a_h.T @ grad_output @ a_w

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the averaging matrices are constants
        a_h, a_w = ctx.saved_graph_tensors
        return a_h.mT @ grad_output @ a_w


class AdaptiveAvgPool2DMean(AdaptiveAvgPool2D):
    # PyTorch computes a (1, 1) output as mean(dim=(-1, -2), keepdim=True)
    _name = "MeanBackward1"


def _adaptive_gather(n: int, out: int) -> Any:
    """(out, k): the positions of each window, padded by repeating its last."""
    start, end = _adaptive_windows(n, out)
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


class AdaptiveMaxPool2D(Op):
    _name = "AdaptiveMaxPool2DBackward0"

    @staticmethod
    def forward(ctx, x, *, size):
        from .pooling import _window_max  # here: pooling imports this module

        # x: (*, H, W) -> values and int64 indices, both (*, oH, oW)
        w = x.shape[-1]
        rows = _adaptive_gather(x.shape[-2], size[0])  # (oH, kh)
        cols = _adaptive_gather(w, size[1])  # (oW, kw)
        windows = x[..., rows[:, :, None, None], cols[None, None, :, :]]
        windows = xp.swapaxes(windows, -3, -2)  # (*, oH, oW, kh, kw)
        windows = windows.reshape(windows.shape[:-2] + (-1,))
        out, where = _window_max(windows)
        i, j = xp.divmod(where, cols.shape[1])
        row = rows[np.arange(size[0])[:, None], i]
        col = cols[np.arange(size[1]), j]
        indices = (row * w + col).astype(np.int64)

        ctx.save_for_backward(indices)
        ctx.shape = x.shape
        return out, indices

    @staticmethod
    def backward(ctx, grad_output):
        # d max(window)/dx = 1 at the (first) maximum, 0 elsewhere
        (indices,) = ctx.saved_tensors
        return _scatter(grad_output, indices, ctx.shape, unique=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (indices,) = ctx.saved_tensors
        return AdaptiveMaxPoolScatter.apply(
            grad_output, indices=indices, shape=ctx.shape, unique=False
        )


# ------------------------------------------------------------ public functions


def _adaptive_size(op: str, input: Tensor, output_size: Any) -> tuple[int, int]:
    shape = input._data.shape
    if len(shape) not in (3, 4) or 0 in shape[-2:]:
        raise RuntimeError(
            f"{op}: expected a 3D (C, H, W) or 4D (N, C, H, W) input with "
            f"non-zero H and W, but got input of size: {list(shape)}"
        )
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise TypeError(
            f"{op}: `output_size` must be an int or a pair of ints (or None), got "
            f"{output_size!r}"
        )
    size = tuple(
        n if o is None else o for n, o in zip(shape[-2:], output_size, strict=True)
    )
    if any(not isinstance(o, (int, np.integer)) or o <= 0 for o in size):
        raise RuntimeError(f"{op}: `output_size` must be positive, got {output_size!r}")
    return size


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size, whatever the input's size.

    Args:
        input: the image, batched or not.
        output_size: (oH, oW), or one int for both; None keeps that input size.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, oH, oW).
    """
    size = _adaptive_size("adaptive_avg_pool2d", input, output_size)
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            "adaptive_avg_pool2d: integer inputs are not supported yet (got "
            f"{input.dtype.name}); convert with input.float()"
        )
    op = AdaptiveAvgPool2DMean if size == (1, 1) else AdaptiveAvgPool2D
    return op.apply(input, size=size)


def adaptive_max_pool2d(
    input: Tensor, output_size: Any, return_indices: bool = False
) -> Any:
    """Max pooling to a fixed output size, whatever the input's size.

    Args:
        input: the image, batched or not.
        output_size: (oH, oW), or one int for both; None keeps that input size.
        return_indices: also return each maximum's flat index into its plane.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, oH, oW).
    """
    size = _adaptive_size("adaptive_max_pool2d", input, output_size)
    out, indices = AdaptiveMaxPool2D.apply(input, size=size)
    return (out, indices) if return_indices else out
