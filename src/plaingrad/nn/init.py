"""Weight initialisation (``nn.init``), in place and outside autograd.

``kaiming_uniform_`` with ``a=sqrt(5)`` is what ``Linear`` uses by default: it
draws from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..ops._special import erfinv
from ..random import _rng
from ..tensor import Tensor


def _fans(tensor: Tensor) -> tuple[int, int]:
    shape = tensor._data.shape
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than "
            f"2 dimensions (got shape {tuple(shape)})"
        )
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: Any = None) -> float:
    """The recommended scale for an activation (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid")
    if nonlinearity in linear or nonlinearity.startswith("conv_transpose"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor: Tensor, values: Any) -> Tensor:
    tensor._data[...] = values
    tensor._version += 1
    return tensor


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None
) -> Tensor:
    """Fill ``tensor`` with samples from U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor._data.shape))


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None
) -> Tensor:
    """Fill ``tensor`` with samples from N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor._data.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(
            f"kaiming init: `mode` must be 'fan_in' or 'fan_out', got {mode!r}"
        )
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        # a zero-element tensor: nothing to draw (PyTorch warns and skips)
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He initialisation: U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He initialisation: N(0, (gain / sqrt(fan))^2)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    return _fans(tensor)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with a (semi-)orthogonal matrix, as PyTorch's.

    The tensor is viewed as (rows, numel / rows); a Gaussian matrix of that
    shape (transposed when wide) is QR-factored and Q's columns are signed by
    R's diagonal, so the draw is uniform over orthogonal matrices. Then the
    result is multiplied by ``gain``.

    Args:
        tensor: an n-dimensional tensor, n >= 2.
        gain: the scale of the result.
        generator: the random stream (default: the global one).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.init.orthogonal_(torch.empty(3, 5))
        >>> bool(((w @ w.T) - torch.eye(3)).abs().max() < 1e-5)
        True
    """
    shape = tensor._data.shape
    if len(shape) < 2:
        raise ValueError(
            "orthogonal_: only tensors with 2 or more dimensions are supported, "
            f"got shape {tuple(shape)}"
        )
    if tensor._data.size == 0:
        return tensor
    rows = shape[0]
    cols = tensor._data.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # a unique Q: R with a positive diagonal
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(shape))


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill ``tensor`` from N(mean, std^2) truncated to [a, b], as PyTorch's.

    Samples are drawn by inverting the normal CDF on a uniform sample of
    [cdf(a), cdf(b)], so none is rejected; ``a`` and ``b`` are absolute bounds,
    not multiples of ``std``.

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.init.trunc_normal_(torch.empty(1000), std=2.0, a=-1.0, b=1.0)
        >>> bool(w.abs().max() <= 1.0)
        True
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "trunc_normal_: mean is more than 2 std from [a, b] in nn.init."
            "trunc_normal_. The distribution of values may be incorrect.",
            UserWarning,
            stacklevel=2,
        )

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    low, high = cdf((a - mean) / std), cdf((b - mean) / std)
    u = _rng(generator).uniform(2 * low - 1, 2 * high - 1, tensor._data.shape)
    values = erfinv(u) * (std * math.sqrt(2.0)) + mean
    return _fill(tensor, np.clip(values, a, b))
