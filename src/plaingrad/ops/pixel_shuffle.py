"""``pixel_shuffle`` and ``pixel_unshuffle``: moving values between the
channel dimension and blocks of pixels.

``pixel_shuffle`` with factor r turns (*, C r^2, H, W) into (*, C, H r, W r):
the r^2 channels of each output channel become an r x r block of its pixels.
Both directions are one reshape, one transpose and one reshape; each is a
permutation of the elements, so its gradient is the other direction applied
to the output gradient. The two ops are each other's backward, so they can be
differentiated any number of times (create_graph=True).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..tensor import Tensor


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _shuffle(a: Any, r: int) -> Any:
    # (*, C r r, H, W) -> (*, C, H r, W r)
    *lead, c, h, w = a.shape
    n = len(lead)
    blocks = a.reshape(*lead, c // (r * r), r, r, h, w)
    order = list(range(n)) + [n, n + 3, n + 1, n + 4, n + 2]
    return blocks.transpose(order).reshape(*lead, c // (r * r), h * r, w * r)


def _unshuffle(a: Any, r: int) -> Any:
    # (*, C, H r, W r) -> (*, C r r, H, W)
    *lead, c, h, w = a.shape
    n = len(lead)
    blocks = a.reshape(*lead, c, h // r, r, w // r, r)
    order = list(range(n)) + [n, n + 2, n + 4, n + 1, n + 3]
    return blocks.transpose(order).reshape(*lead, c * r * r, h // r, w // r)


class PixelShuffle(Op):
    _name = "PixelShuffleBackward0"

    @staticmethod
    def forward(ctx, a, factor):
        ctx.factor = factor
        return np.ascontiguousarray(_shuffle(a, factor))

    @staticmethod
    def backward(ctx, grad_output):
        # a permutation of elements: its gradient is the inverse permutation
        return np.ascontiguousarray(_unshuffle(grad_output, ctx.factor))

    @staticmethod
    def backward_graph(ctx, grad_output):
        return PixelUnshuffle.apply(grad_output, factor=ctx.factor)


class PixelUnshuffle(Op):
    _name = "PixelUnshuffleBackward0"

    @staticmethod
    def forward(ctx, a, factor):
        ctx.factor = factor
        return np.ascontiguousarray(_unshuffle(a, factor))

    @staticmethod
    def backward(ctx, grad_output):
        # the inverse permutation, as for pixel_shuffle
        return np.ascontiguousarray(_shuffle(grad_output, ctx.factor))

    @staticmethod
    def backward_graph(ctx, grad_output):
        return PixelShuffle.apply(grad_output, factor=ctx.factor)


def _check_factor(input: Tensor, factor: Any, op: str, name: str) -> None:
    if not _is_int(factor):
        raise TypeError(
            f"{op}(): argument '{name}' (position 2) must be int, not "
            f"{type(factor).__name__}"
        )
    ndim = input._data.ndim
    if ndim < 3:
        raise RuntimeError(
            f"{op} expects input to have at least 3 dimensions, but got input with "
            f"{ndim} dimension(s)"
        )
    if factor <= 0:
        raise RuntimeError(f"{op} expects a positive {name}, but got {factor}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r), r = ``upscale_factor``.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.arange(4.).reshape(1, 4, 1, 1)
        >>> torch.nn.functional.pixel_shuffle(x, 2).tolist()
        [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    _check_factor(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    c = input._data.shape[-3]
    r = int(upscale_factor)
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible "
            f"by the square of upscale_factor, but input.size(-3)={c} is not "
            f"divisible by {r * r}"
        )
    return PixelShuffle.apply(input, factor=r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W), undoing
    ``pixel_shuffle``; r = ``downscale_factor``."""
    _check_factor(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    h, w = input._data.shape[-2:]
    r = int(downscale_factor)
    for name, n, dim in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by "
                f"downscale_factor, but input.size({dim})={n} is not divisible "
                f"by {r}"
            )
    return PixelUnshuffle.apply(input, factor=r)
