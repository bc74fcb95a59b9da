"""Normalisation layers' functions: batch, layer, group, instance and RMS norm.

``batch_norm``, ``layer_norm`` and ``group_norm`` are one fused op each, as in
PyTorch (``NativeBatchNormBackward0``, ``NativeLayerNormBackward0``,
``NativeGroupNormBackward0``): the forward rule standardises the input over a
set of axes, ``xhat = (x - mean) * invstd``, then applies the affine weight and
bias; the backward rule is the closed form shared by all three. With
``g = grad_output * weight`` and means taken over the normalised axes,

    grad_input = invstd * (g - mean(g) - xhat * mean(g * xhat)).

``batch_norm`` in evaluation mode normalises with fixed running statistics, so
its input gradient is just ``g * invstd``. The batch statistics are the biased
variance; the running variance is updated with the unbiased one, in place.

For double backward (create_graph=True) each op has a Tensor-level rule that
recomputes ``xhat`` and ``invstd`` from the input tensor with differentiable
ops and applies the same closed form, so its first derivative equals the array
rule's and its second derivatives are exact.

``instance_norm`` is batch norm of the input viewed as one sample of ``N * C``
channels, and ``rms_norm``, ``normalize``, ``cosine_similarity`` and
``pairwise_distance`` are compositions of other ops, as they are in PyTorch.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from . import elementwise as E
from .math import rsqrt
from .reduction import mean, sum
from .reshaping import repeat
from .shape import expand, reshape
from .statistics import norm

_Shape = Any  # an int, or a sequence of ints


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


# ---------------------------------------------------------------- argument checks


def _floating(input: Tensor, op: str) -> None:
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: expected a floating-point `input`, got {input.dtype.name} "
            "(convert it with .float())"
        )


def _params(weight: Tensor | None, bias: Tensor | None) -> tuple:
    return tuple(p for p in (weight, bias) if p is not None)


def _check_vector(t: Tensor | None, name: str, size: int, op: str) -> None:
    if t is not None and t._data.size != size:
        raise RuntimeError(
            f"{op}: `{name}` should contain {size} elements (one per channel), "
            f"not {t._data.size}"
        )


def _check_eps(eps: float, training: bool, op: str) -> None:
    if training and eps <= 0.0:
        raise ValueError(f"{op}: `eps` must be positive during training, got {eps}")
    if eps < 0.0:
        raise ValueError(f"{op}: `eps` must be non-negative, got {eps}")


# ---------------------------------------------------------------- public functions


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dimension 1) over the batch and spatial dimensions.

    In training the batch's mean and biased variance are used, and the running
    statistics (when given) are updated in place:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased
    variance. In evaluation the running statistics are used instead.

    Args:
        input: a floating tensor (N, C, *).
        running_mean: (C,) running mean, or None.
        running_var: (C,) running variance, or None.
        weight: (C,) scale, or None for 1.
        bias: (C,) shift, or None for 0.
        training: use (and track) the batch statistics.
        momentum: the weight of the new batch in the running averages.
        eps: added to the variance before its square root.

    Shape:
        input: (N, C) or (N, C, *); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([[1.0], [3.0]])
        >>> torch.nn.functional.batch_norm(x, None, None, training=True)
        tensor([[-1.0000],
                [ 1.0000]])
    """
    op = "batch_norm"
    if momentum is None or isinstance(momentum, bool):
        raise TypeError(
            f"{op}: `momentum` must be a float, got {momentum!r} (the modules turn "
            "momentum=None into a cumulative average before calling batch_norm)"
        )
    _floating(input, op)
    a = input._data
    if a.ndim < 2:
        raise ValueError(
            f"{op}: expected an input with at least 2 dimensions (N, C, *), got "
            f"shape {tuple(a.shape)}"
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            f"{op}: `running_mean` and `running_var` must either both be None or "
            "neither be None"
        )
    channels = a.shape[1]
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        _check_vector(t, name, channels, op)
    if training and a.size // max(channels, 1) == 1:
        raise ValueError(
            f"{op}: expected more than 1 value per channel when training, got "
            f"input size {list(a.shape)}"
        )
    _check_eps(eps, training, op)
    if training:
        axes = (0,) + tuple(range(2, a.ndim))
        batch_mean = _mean(a, axes)
        centred = a - batch_mean
        batch_mean = batch_mean.reshape(-1)
        batch_var = _mean(centred * centred, axes).reshape(-1)
        if running_mean is not None and running_var is not None:
            count = a.size // channels
            unbiased = batch_var * (count / (count - 1))
            _update(running_mean, batch_mean, momentum)
            _update(running_var, unbiased, momentum)
        stat_mean, var = batch_mean, batch_var
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                f"{op}: `running_mean` must be defined in evaluation mode "
                "(training=False)"
            )
        stat_mean = running_mean._data.astype(a.dtype, copy=False).reshape(-1)
        var = running_var._data.astype(a.dtype, copy=False).reshape(-1)
    invstd = 1 / xp.sqrt(var + eps)
    return NativeBatchNorm.apply(
        input,
        *_params(weight, bias),
        mean=stat_mean,
        invstd=invstd.astype(a.dtype, copy=False),
        has_weight=weight is not None,
        training=training,
        eps=eps,
    )


def _update(running: Tensor, batch: Any, momentum: float) -> None:
    data = running._data
    data[...] = ((1 - momentum) * data + momentum * batch.reshape(data.shape)).astype(
        data.dtype, copy=False
    )
    running._version += 1


def _normalized_shape(normalized_shape: _Shape) -> tuple:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _check_normalized(
    input: Tensor, shape: tuple, weight: Tensor | None, bias: Tensor | None, op: str
) -> None:
    a = input._data
    if not shape or a.ndim < len(shape) or a.shape[-len(shape) :] != shape:
        raise RuntimeError(
            f"{op}: given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size "
            f"{list(a.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._data.shape) != shape:
            raise RuntimeError(
                f"{op}: expected `{name}` to be of the same shape as "
                f"normalized_shape, but got {name} of shape {list(t._data.shape)} "
                f"and normalized_shape = {list(shape)}"
            )


def layer_norm(
    input: Tensor,
    normalized_shape: _Shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions of each sample.

    Args:
        input: a floating tensor whose last dimensions are ``normalized_shape``.
        normalized_shape: an int or a tuple of ints.
        weight: scale of shape ``normalized_shape``, or None.
        bias: shift of shape ``normalized_shape``, or None.
        eps: added to the (biased) variance before its square root.

    Shape:
        input: (*, *normalized_shape); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.functional.layer_norm(torch.tensor([1.0, 3.0]), (2,))
        tensor([-1.0000,  1.0000])
    """
    shape = _normalized_shape(normalized_shape)
    _check_normalized(input, shape, weight, bias, "layer_norm")
    _floating(input, "layer_norm")
    return NativeLayerNorm.apply(
        input,
        *_params(weight, bias),
        ndim=len(shape),
        eps=eps,
        has_weight=weight is not None,
    )


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each sample over groups of ``C / num_groups`` channels.

    Args:
        input: a floating tensor (N, C, *).
        num_groups: the number of groups; it must divide C.
        weight: (C,) per-channel scale, or None.
        bias: (C,) per-channel shift, or None.
        eps: added to the variance before its square root.

    Shape:
        input: (N, C, *); output: the same.
    """
    op = "group_norm"
    a = input._data
    if a.ndim < 2 or num_groups <= 0 or a.shape[1] % num_groups:
        raise RuntimeError(
            f"{op}: expected the number of channels in input to be divisible by "
            f"num_groups, but got input of shape {list(a.shape)} and "
            f"num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._data.shape) != (a.shape[1],):
            raise RuntimeError(
                f"{op}: expected `{name}` to be a vector of size equal to the number "
                f"of channels in input, but got {name} of shape "
                f"{list(t._data.shape)} and input of shape {list(a.shape)}"
            )
    # PyTorch's check, on the input viewed as (N * C/G, G, *): one value there
    viewed = [a.shape[0] * a.shape[1] // num_groups, num_groups, *a.shape[2:]]
    if a.size and a.size // num_groups == 1:
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got "
            f"input size {viewed}"
        )
    _floating(input, op)
    return NativeGroupNorm.apply(
        input,
        *_params(weight, bias),
        num_groups=num_groups,
        eps=eps,
        has_weight=weight is not None,
    )


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample over its spatial dimensions.

    Computed, as in PyTorch, as ``batch_norm`` of the input viewed as
    (1, N * C, *); running statistics (C,) are updated with the mean over the
    batch of the per-sample statistics.

    Shape:
        input: (N, C, *) with at least one spatial dimension; output: the same.
    """
    op = "instance_norm"
    a = input._data
    if a.ndim < 3:
        raise ValueError(
            f"{op}: expected an input (N, C, *) with spatial dimensions, got shape "
            f"{tuple(a.shape)}"
        )
    if use_input_stats and a[0, 0].size == 1:
        raise ValueError(
            f"{op}: expected more than 1 spatial element when training, got input "
            f"size {list(a.shape)}"
        )
    n, c = a.shape[:2]
    viewed = reshape(input, (1, n * c) + tuple(a.shape[2:]))
    w = None if weight is None else repeat(weight, n)
    b = None if bias is None else repeat(bias, n)
    rm = rv = None
    if running_mean is not None:
        rm = _wrap_array(xp.tile(running_mean._data, n))
    if running_var is not None:
        rv = _wrap_array(xp.tile(running_var._data, n))
    out = batch_norm(viewed, rm, rv, w, b, use_input_stats, momentum, eps)
    if use_input_stats:
        for running, tiled in ((running_mean, rm), (running_var, rv)):
            if running is not None and tiled is not None:
                running._data[...] = tiled._data.reshape(n, c).mean(axis=0)
                running._version += 1
    return reshape(out, tuple(a.shape))


def _wrap_array(array: Any) -> Tensor:
    from ..tensor import _wrap

    return _wrap(array, None)


def rms_norm(
    input: Tensor,
    normalized_shape: _Shape,
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """``input / sqrt(mean(input^2) + eps) * weight`` over the trailing dimensions.

    Args:
        input: a floating tensor whose last dimensions are ``normalized_shape``.
        normalized_shape: an int or a tuple of ints.
        weight: scale of shape ``normalized_shape``, or None.
        eps: added to the mean square; None (the default) is the machine
            epsilon of ``input``'s dtype, as in PyTorch.

    Shape:
        input: (*, *normalized_shape); output: the same.
    """
    shape = _normalized_shape(normalized_shape)
    _check_normalized(input, shape, weight, None, "rms_norm")
    _floating(input, "rms_norm")
    if eps is None:
        eps = float(xp.finfo(input._data.dtype).eps)
    dims = tuple(range(-len(shape), 0))
    scale = rsqrt(E.add(mean(E.mul(input, input), dims, keepdim=True), eps))
    out = E.mul(input, scale)
    if weight is not None:
        out = E.mul(out, weight)
    return out


# ------------------------------------------------------ vector norms and distances


def normalize(
    input: Tensor, p: float = 2.0, dim: Any = 1, eps: float = 1e-12
) -> Tensor:
    """``input / max(||input||_p, eps)``, the p-norm taken along ``dim``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.functional.normalize(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """
    denom = E.clamp(norm(input, p, dim, keepdim=True), min=eps)
    return E.div(input, denom)


def cosine_similarity(
    x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8
) -> Tensor:
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim``.

    ``x1`` and ``x2`` broadcast to a common shape; ``dim`` refers to it and is
    removed from the result.
    """
    shape = xp.broadcast_shapes(x1._data.shape, x2._data.shape)
    x1, x2 = expand(x1, shape), expand(x2, shape)
    n1 = _clamped_norm(x1, dim, eps)
    n2 = _clamped_norm(x2, dim, eps)
    return sum(E.mul(E.div(x1, n1), E.div(x2, n2)), dim)


def _clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    # As PyTorch's: the value is max(||x||, eps), but the clamp is applied
    # outside autograd, so the derivative is that of ||x|| even below eps
    n = norm(x, 2, dim, keepdim=True)
    lift = E.sub(E.clamp(n.detach(), min=eps), n.detach())  # 0 above eps
    return E.add(n, lift)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dimension."""
    diff = E.add(E.sub(x1, x2), eps)
    return norm(diff, p, -1, keepdim=keepdim)


__all__ = [
    "batch_norm",
    "cosine_similarity",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "normalize",
    "pairwise_distance",
    "rms_norm",
]
