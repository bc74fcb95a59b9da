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
rule's and its second derivatives are exact. The three ops and their helpers
are in ``native_norm``; this module holds the public functions.

``instance_norm`` is batch norm of the input viewed as one sample of ``N * C``
channels, and ``rms_norm``, ``normalize``, ``cosine_similarity`` and
``pairwise_distance`` are compositions of other ops, as they are in PyTorch.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp
from ..tensor import Tensor
from . import elementwise as E
from .math import rsqrt
from .native_norm import (
    NativeBatchNorm,
    NativeGroupNorm,
    NativeLayerNorm,
    _mean,
    _wrap_array,
)
from .reduction import mean, sum
from .reshaping import repeat
from .shape import expand, reshape
from .statistics import norm

_Shape = Any  # an int, or a sequence of ints


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
