"""The adjoint ops of pooling, which exist for double backward.

A max pool's input gradient scatters the output gradient to the winners, whose
indices are piecewise constant, so it is linear in the gradient:
``MaxPoolScatter`` records that scatter as an op, and its adjoint is the gather
``MaxPoolGather`` (each differentiates into the other). Average pooling is
linear too; ``AvgPool2DGrad`` is its input gradient, the adjoint map, and it
differentiates back into ``AvgPool2D``.

They live apart from ``pooling`` (the forward ops and public functions), which
uses the array helpers here (``_scatter``, ``_avg_pool``, ``_avg_pool_grad``)
for its own backward rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from .fold import col2im, im2col, pad2d, unpad


def _scatter(grad_output: Any, indices: Any, shape: tuple, unique: bool) -> Any:
    """Send each output's gradient to its input element (flat plane ``indices``)."""
    plane = shape[-2] * shape[-1]
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    offsets = (xp.arange(planes, dtype=np.int64) * plane).reshape(shape[:-2] + (1, 1))
    flat = (indices + offsets).ravel()
    grad_input = xp.zeros(planes * plane, dtype=grad_output.dtype)
    if unique:
        # windows that never overlap: every input element has one gradient
        grad_input[flat] = grad_output.ravel()
    else:
        xp.add.at(grad_input, flat, grad_output.ravel())
    return grad_input.reshape(shape)


def _gather(x: Any, indices: Any) -> Any:
    """The elements of each (H, W) plane of ``x`` at flat plane ``indices``."""
    lead = indices.shape[:-2]
    # explicit sizes, not -1: ambiguous for an empty batch
    flat = x.reshape(lead + (x.shape[-2] * x.shape[-1],))
    where = indices.reshape(lead + (indices.shape[-2] * indices.shape[-1],))
    return xp.take_along_axis(flat, where, axis=-1).reshape(indices.shape)


class MaxPoolScatter(Op):
    """A max pool's input gradient, the output gradient scattered to the
    winners, as an op: linear, and its adjoint is the gather ``MaxPoolGather``."""

    _name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, *, indices, shape, unique):
        ctx.indices, ctx.shape, ctx.unique = indices, shape, unique
        return _scatter(grad, indices, shape, unique)

    @staticmethod
    def backward(ctx, grad_output):
        # a scatter's gradient reads back the places it wrote to
        return _gather(grad_output, ctx.indices)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return MaxPoolGather.apply(
            grad_output, indices=ctx.indices, shape=ctx.shape, unique=ctx.unique
        )


class AdaptiveMaxPoolScatter(MaxPoolScatter):
    _name = "AdaptiveMaxPool2DBackwardBackward0"


class MaxPoolGather(Op):
    """Each plane's elements at fixed flat ``indices``: the adjoint of
    ``MaxPoolScatter`` (and the max pool itself, with the winners fixed)."""

    _name = "GatherBackward0"

    @staticmethod
    def forward(ctx, x, *, indices, shape, unique):
        ctx.indices, ctx.shape, ctx.unique = indices, shape, unique
        return _gather(x, indices)

    @staticmethod
    def backward(ctx, grad_output):
        # a gather's gradient goes back to the places it read
        return _scatter(grad_output, ctx.indices, ctx.shape, ctx.unique)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return MaxPoolScatter.apply(
            grad_output, indices=ctx.indices, shape=ctx.shape, unique=ctx.unique
        )


def _avg_pool(x: Any, geometry: tuple) -> Any:
    """Each window's sum over its divisor; ``geometry`` as ``AvgPool2D`` keeps it."""
    _, kernel_size, stride, pads, divisor = geometry
    oh, ow = divisor.shape
    windows = im2col(pad2d(x, pads), kernel_size, stride, (1, 1))
    total = xp.add.reduce(windows[..., :oh, :ow, :, :], axis=(-2, -1))
    return (total / divisor).astype(x.dtype, copy=False)


def _avg_pool_grad(grad_output: Any, geometry: tuple) -> Any:
    """The adjoint of ``_avg_pool``: each window's share added back."""
    shape, (kh, kw), stride, pads, divisor = geometry
    grad = (grad_output / divisor).astype(grad_output.dtype, copy=False)
    windows = xp.broadcast_to(grad[..., None, None], grad.shape + (kh, kw))
    size = (shape[-2] + sum(pads[0]), shape[-1] + sum(pads[1]))
    grad_input = col2im(windows, size, stride, (1, 1))
    return xp.ascontiguousarray(unpad(grad_input, pads, shape[-2:]))


class AvgPool2DGrad(Op):
    """Average pooling's input gradient as an op; its adjoint is the pool."""

    _name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, *, geometry):
        ctx.geometry = geometry
        return _avg_pool_grad(grad, geometry)

    @staticmethod
    def backward(ctx, grad_output):
        # <pool^T(G), U> = <G, pool(U)>
        return _avg_pool(grad_output, ctx.geometry)

    @staticmethod
    def backward_graph(ctx, grad_output):
        from .pooling import AvgPool2D

        _, kernel_size, stride, pads, divisor = ctx.geometry
        return AvgPool2D.apply(
            grad_output,
            kernel_size=kernel_size,
            stride=stride,
            padding=(pads[0][0], pads[1][0]),
            size=divisor.shape,
            divisor=divisor,
        )
