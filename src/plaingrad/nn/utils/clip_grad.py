"""Gradient clipping: ``clip_grad_norm_`` (by the joint norm of all gradients)
and ``clip_grad_value_`` (element by element).

One deliberate difference from PyTorch: the total norm is accumulated in
float64 after dividing every gradient by the largest ``|g|``, so it never
overflows. 100 float32 gradients of 1e20 have the norm 1e21 here and clip to
0.1 each; PyTorch squares 1e20 in float32, gets an infinite norm and zeroes
them. Everything else (which gradients count, ``max_norm / (norm + 1e-6)``,
the returned dtype, the errors) follows PyTorch.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...tensor import Tensor, _wrap
from ...warnings import PlaingradWarning

_NONFINITE = (
    "The total norm of order {} for gradients from `parameters` is non-finite, "
    "so it cannot be clipped. To disable this error and scale the gradients by "
    "the non-finite norm anyway, set `error_if_nonfinite=False`"
)


def _as_list(tensors: Any) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _norm64(arrays: list, norm_type: float) -> float:
    """The ``norm_type``-norm of all the arrays together, as a Python float.

    Finite positive orders divide by the largest magnitude first, so no
    power overflows or underflows before the root is taken.
    """
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return 0.0
    if math.isinf(norm_type):
        pick = np.max if norm_type > 0 else np.min
        return float(pick([pick(np.abs(a)) for a in arrays]))
    if norm_type == 0:
        # PyTorch takes the norm of the per-tensor norms: with order 0 that
        # counts the tensors holding a nonzero value.
        return float(sum(bool(np.any(a != 0)) for a in arrays))
    if any(np.isnan(a).any() for a in arrays):
        return math.nan
    if norm_type < 0:
        with np.errstate(divide="ignore"):  # a zero counts as an infinite term
            powers = [np.abs(a.astype(np.float64)) ** norm_type for a in arrays]
        total = sum(float(np.sum(x)) for x in powers)
        return math.inf if total == 0 else total ** (1.0 / norm_type)
    scale = max(float(np.max(np.abs(a))) for a in arrays)
    if scale == 0 or math.isinf(scale):
        return scale
    total = 0.0
    for a in arrays:
        scaled = np.abs(a.astype(np.float64)) / scale
        if norm_type == 2:
            total += float(np.dot(scaled.ravel(), scaled.ravel()))
        else:
            total += float(np.sum(scaled**norm_type))
    return scale * total ** (1.0 / norm_type)


def _result_dtype(arrays: list) -> Any:
    return np.result_type(*[a.dtype for a in arrays])


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The norm of the given tensors taken together, as if concatenated.

    Args:
        tensors: a tensor or an iterable of tensors (usually gradients).
        norm_type: the order of the norm: any float, ``inf`` or ``-inf``.
        error_if_nonfinite: raise a RuntimeError if the norm is NaN or inf.
        foreach: accepted for PyTorch compatibility; it changes nothing.

    Returns:
        A 0-d tensor of the tensors' promoted dtype (float32 when there are
        no tensors, which gives 0).
    """
    arrays = [t._data for t in _as_list(tensors)]
    return _as_norm(_checked_norm(arrays, norm_type, error_if_nonfinite), arrays)


def _checked_norm(arrays: list, norm_type: float, error_if_nonfinite: bool) -> float:
    """The float64 total norm, refused when asked and not finite."""
    norm_type = float(norm_type)
    total = _norm64(arrays, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(norm_type))
    return total


def _as_norm(total: float, arrays: list) -> Tensor:
    """The norm as PyTorch returns it: a 0-d tensor of the arrays' promoted
    dtype (float32 when there are none)."""
    dtype = _result_dtype(arrays) if arrays else np.float32
    return _wrap(np.asarray(total, dtype=dtype), None)


def _scale_grads(params: list, max_norm: float, total: float) -> None:
    grads = [p.grad._data for p in params if p.grad is not None]
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0 and not math.isnan(coef):
        return  # the clamped coefficient is 1: nothing changes
    # An infinite norm gives coef 0, and inf * 0 is NaN, as in PyTorch.
    with np.errstate(invalid="ignore"):
        for g in grads:
            # Multiply in float64 and round once into the gradient's dtype.
            np.multiply(g, np.float64(coef), out=g, casting="same_kind")


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Tensor | float,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))``.

    Args:
        parameters: a tensor or an iterable of tensors; those whose ``.grad``
            is None are skipped.
        max_norm: the largest norm allowed.
        total_norm: the norm of the gradients, e.g. from ``get_total_norm``.
        foreach: accepted for PyTorch compatibility; it changes nothing.
    """
    total = float(total_norm)
    _scale_grads(_as_list(parameters), float(max_norm), total)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most
    ``max_norm``; return that norm as it was before clipping.

    Every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``.
    Parameters whose ``.grad`` is None are skipped. Unlike PyTorch, the norm
    is accumulated without overflow (in float64, scaled by the largest
    ``|g|``): float32 gradients too large to square still clip to the right
    values instead of to zeros.

    Args:
        parameters: a tensor or an iterable of tensors.
        max_norm: the largest norm allowed.
        norm_type: the order of the norm (default 2): any float, ``inf`` or
            ``-inf``.
        error_if_nonfinite: raise a RuntimeError, changing nothing, when the
            norm is NaN or inf (default False: such a norm makes the
            gradients NaN or 0, as in PyTorch).
        foreach: accepted for PyTorch compatibility; it changes nothing.

    Returns:
        The total norm, a 0-d tensor of the gradients' promoted dtype.

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> w.grad = torch.tensor([3.0, 4.0])
        >>> torch.nn.utils.clip_grad_norm_([w], max_norm=1.0)
        tensor(5.)
        >>> w.grad
        tensor([0.6000, 0.8000])
    """
    if isinstance(parameters, Tensor):
        params = [parameters]
    else:
        generator = isinstance(parameters, types.GeneratorType)
        params = list(parameters)
        if generator and not params:
            warnings.warn(
                "`parameters` is an empty generator, no gradient clipping will occur.",
                PlaingradWarning,
                stacklevel=2,
            )
    arrays = [p.grad._data for p in params if p.grad is not None]
    if not arrays:
        return _as_norm(0.0, arrays)
    total = _checked_norm(arrays, norm_type, error_if_nonfinite)
    _scale_grads(params, float(max_norm), total)
    return _as_norm(total, arrays)


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor],
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: a tensor or an iterable of tensors; those whose ``.grad``
            is None are skipped.
        clip_value: the largest magnitude allowed.
        foreach: accepted for PyTorch compatibility; it changes nothing.
    """
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._data
            np.clip(g, -clip_value, clip_value, out=g)
