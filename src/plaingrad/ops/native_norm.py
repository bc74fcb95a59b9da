"""The fused normalisation ops: NativeBatchNorm, NativeLayerNorm, NativeGroupNorm.

Each standardises its input over a set of axes, ``xhat = (x - mean) * invstd``,
then applies the affine weight and bias, as PyTorch's ``native_batch_norm``,
``native_layer_norm`` and ``native_group_norm`` do. Their backward rules share
one closed form: with ``g = grad_output * weight`` and means taken over the
normalised axes,

    grad_input = invstd * (g - mean(g) - xhat * mean(g * xhat)),

and in evaluation mode ``batch_norm``'s input gradient is just ``g * invstd``.
For double backward (create_graph=True) each op has a Tensor-level rule that
recomputes ``xhat`` and ``invstd`` from the input tensor with differentiable
ops and applies the same closed form.

These ops and their array- and Tensor-level helpers live apart from
``normalization``, which holds the public functions (argument checks, running
statistics, and the compositions such as ``rms_norm`` and ``normalize``).
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .math import rsqrt


def _mean(a: Any, axes: tuple) -> Any:
    # float64 accumulation: NumPy sums over several axes without pairwise
    # summation, which loses digits in float32 on large batches
    return a.mean(axis=axes, keepdims=True, dtype=xp.float64).astype(a.dtype)


def _sum(a: Any, axes: tuple) -> Any:
    return a.sum(axis=axes, dtype=xp.float64).astype(a.dtype)


def _grad_standardised(g: Any, xhat: Any, invstd: Any, axes: tuple) -> Any:
    # d/dx of xhat = (x - mean) invstd, mean and invstd over ``axes``
    g_mean = _mean(g, axes)
    proj = _mean(g * xhat, axes)
    return invstd * (g - g_mean - xhat * proj)


def _affine(xhat: Any, params: tuple, shape: tuple, has_weight: bool) -> Any:
    out = xhat
    if has_weight:
        out = out * params[0].reshape(shape)
    if len(params) > int(has_weight):
        out = out + params[-1].reshape(shape)
    return out


def _param_grads(
    ctx: Any, grad_output: Any, xhat: Any, axes: tuple, shape: Any
) -> list:
    # d(xhat * weight + bias)/dweight = xhat, /dbias = 1, summed over ``axes``
    needs = ctx.needs_input_grad
    grads: list = []
    if ctx.has_weight:
        wanted = needs[len(grads) + 1]
        grads.append(_sum(grad_output * xhat, axes) if wanted else None)
    if ctx.has_bias:
        wanted = needs[len(grads) + 1]
        grads.append(_sum(grad_output, axes) if wanted else None)
    return [None if g is None else g.reshape(shape) for g in grads]


# Tensor-level rules (double backward): the same closed form, with xhat and
# invstd recomputed from the input tensor so that their derivatives count.


def _standardise_graph(x: Tensor, axes: tuple, eps: float) -> tuple:
    centred = x - x.mean(axes, keepdim=True)
    invstd = rsqrt((centred * centred).mean(axes, keepdim=True) + eps)
    return centred * invstd, invstd


def _grad_standardised_graph(g: Tensor, xhat: Tensor, invstd: Any, axes: tuple):
    g_mean = g.mean(axes, keepdim=True)
    proj = (g * xhat).mean(axes, keepdim=True)
    return invstd * (g - g_mean - xhat * proj)


def _param_grads_graph(
    ctx: Any, grad_output: Tensor, xhat: Tensor, axes: tuple, shape: Any
) -> list:
    needs = ctx.needs_input_grad
    grads: list = []
    if ctx.has_weight:
        wanted = needs[len(grads) + 1]
        grads.append(_sum_over(grad_output * xhat, axes) if wanted else None)
    if ctx.has_bias:
        wanted = needs[len(grads) + 1]
        grads.append(_sum_over(grad_output, axes) if wanted else None)
    return [None if g is None else g.reshape(shape) for g in grads]


def _sum_over(t: Tensor, axes: tuple) -> Tensor:
    # sum(()) would reduce every dim (as torch's does): no batch axes, no sum
    return t.sum(axes) if axes else t


class NativeBatchNorm(Op):
    _name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, a, *params, mean, invstd, has_weight, training, eps):
        shape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
        axes = (0,) + tuple(range(2, a.ndim))
        xhat = (a - mean.reshape(shape)) * invstd.reshape(shape)
        # the input too, for the Tensor-level rule
        ctx.save_for_backward(xhat, invstd.reshape(shape), a, *params[:has_weight])
        ctx.options = (axes, shape, training)
        ctx.stats = (mean.reshape(shape), eps)
        ctx.has_weight = has_weight
        ctx.has_bias = len(params) > has_weight
        return _affine(xhat, params, shape, has_weight)

    @staticmethod
    def backward(ctx, grad_output):
        # training: the closed form above; eval: d/dx = weight * invstd
        xhat, invstd, _, *weight = ctx.saved_tensors
        axes, shape, training = ctx.options
        g = grad_output * weight[0].reshape(shape) if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            if training:
                grad_input = _grad_standardised(g, xhat, invstd, axes)
            else:
                grad_input = g * invstd
        params = _param_grads(ctx, grad_output, xhat, axes, -1)
        return (grad_input, *params)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # eval: the statistics are constants, xhat = (x - mean) invstd
        _, invstd, x, *weight = ctx.saved_graph_tensors
        axes, shape, training = ctx.options
        mean, eps = ctx.stats
        if training:
            xhat, invstd = _standardise_graph(x, axes, eps)
        else:
            xhat = (x - _wrap_array(mean)) * invstd
        g = grad_output * weight[0].reshape(shape) if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            if training:
                grad_input = _grad_standardised_graph(g, xhat, invstd, axes)
            else:
                grad_input = g * invstd
        params = _param_grads_graph(ctx, grad_output, xhat, axes, -1)
        return (grad_input, *params)


class NativeLayerNorm(Op):
    _name = "NativeLayerNormBackward0"

    @staticmethod
    def forward(ctx, a, *params, ndim, eps, has_weight):
        axes = tuple(range(a.ndim - ndim, a.ndim))
        centred = a - _mean(a, axes)
        invstd = 1 / xp.sqrt(_mean(centred * centred, axes) + eps)
        xhat = centred * invstd
        ctx.save_for_backward(xhat, invstd, a, *params[:has_weight])
        ctx.axes = axes
        ctx.eps = eps
        ctx.has_weight = has_weight
        ctx.has_bias = len(params) > has_weight
        return _affine(xhat, params, a.shape[a.ndim - ndim :], has_weight)

    @staticmethod
    def backward(ctx, grad_output):
        # the closed form above, over the trailing (normalised) axes
        xhat, invstd, _, *weight = ctx.saved_tensors
        axes = ctx.axes
        g = grad_output * weight[0] if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = _grad_standardised(g, xhat, invstd, axes)
        batch_axes = tuple(range(grad_output.ndim - len(axes)))
        shape = grad_output.shape[grad_output.ndim - len(axes) :]
        params = _param_grads(ctx, grad_output, xhat, batch_axes, shape)
        return (grad_input, *params)

    @staticmethod
    def backward_graph(ctx, grad_output):
        _, _, x, *weight = ctx.saved_graph_tensors
        axes = ctx.axes
        xhat, invstd = _standardise_graph(x, axes, ctx.eps)
        g = grad_output * weight[0] if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = _grad_standardised_graph(g, xhat, invstd, axes)
        batch_axes = tuple(range(x.ndim - len(axes)))
        shape = tuple(x.shape[x.ndim - len(axes) :])
        params = _param_grads_graph(ctx, grad_output, xhat, batch_axes, shape)
        return (grad_input, *params)


class NativeGroupNorm(Op):
    _name = "NativeGroupNormBackward0"

    @staticmethod
    def forward(ctx, a, *params, num_groups, eps, has_weight):
        grouped = a.reshape(a.shape[0], num_groups, -1)  # (N, G, C/G * spatial)
        centred = grouped - _mean(grouped, (2,))
        invstd = 1 / xp.sqrt(_mean(centred * centred, (2,)) + eps)
        xhat = (centred * invstd).reshape(a.shape)
        ctx.save_for_backward(xhat, invstd, a, *params[:has_weight])
        ctx.num_groups = num_groups
        ctx.eps = eps
        ctx.has_weight = has_weight
        ctx.has_bias = len(params) > has_weight
        shape = (1, a.shape[1]) + (1,) * (a.ndim - 2)
        return _affine(xhat, params, shape, has_weight)

    @staticmethod
    def backward(ctx, grad_output):
        # the closed form above, per sample and group
        xhat, invstd, _, *weight = ctx.saved_tensors
        num_groups = ctx.num_groups
        shape = (1, xhat.shape[1]) + (1,) * (xhat.ndim - 2)
        g = grad_output * weight[0].reshape(shape) if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            grouped = (xhat.shape[0], num_groups, -1)
            grad_input = _grad_standardised(
                g.reshape(grouped), xhat.reshape(grouped), invstd, (2,)
            ).reshape(xhat.shape)
        axes = (0,) + tuple(range(2, xhat.ndim))
        params = _param_grads(ctx, grad_output, xhat, axes, -1)
        return (grad_input, *params)

    @staticmethod
    def backward_graph(ctx, grad_output):
        _, _, x, *weight = ctx.saved_graph_tensors
        n, groups = x.shape[0], ctx.num_groups
        grouped = (n, groups, x._data.size // max(n * groups, 1))
        xhat, invstd = _standardise_graph(x.reshape(grouped), (2,), ctx.eps)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        g = grad_output * weight[0].reshape(shape) if weight else grad_output
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = _grad_standardised_graph(
                g.reshape(grouped), xhat, invstd, (2,)
            ).reshape(x.shape)
        axes = (0,) + tuple(range(2, x.ndim))
        params = _param_grads_graph(ctx, grad_output, xhat.reshape(x.shape), axes, -1)
        return (grad_input, *params)


def _wrap_array(array: Any) -> Tensor:
    from ..tensor import _wrap

    return _wrap(array, None)
