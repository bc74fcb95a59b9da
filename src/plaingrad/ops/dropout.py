"""Dropout: zero random elements (or whole channels) and rescale the rest.

The mask is drawn from plaingrad's own random stream (``plaingrad.random``),
so ``manual_seed`` makes it reproducible. As in PyTorch the result is
``input * mask`` with the kept entries of ``mask`` equal to ``1 / (1 - p)``,
an ordinary multiplication (``MulBackward0``) whose gradient is the mask itself.
``p = 0`` and evaluation mode return ``input`` unchanged; ``p = 1`` multiplies by
zero. ``dropout2d`` draws one mask value per (sample, channel) and broadcasts it
over the spatial dimensions.
"""

from __future__ import annotations

import warnings

from ..backend import xp
from ..random import _rng
from ..tensor import Tensor, _wrap
from ..warnings import PlaingradWarning
from .activation import _result
from .elementwise import mul


def _check_p(p: float, op: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(
            f"{op}: dropout probability has to be between 0 and 1, but got {p}"
        )


def _masked(input: Tensor, mask_shape: tuple, p: float, inplace: bool) -> Tensor:
    a = input._data
    if a.dtype.kind != "f":
        raise RuntimeError(
            f"dropout: expected a floating-point `input`, got {input.dtype.name} "
            "(the mask 1/(1-p) is fractional)"
        )
    if p == 1.0:
        mask = xp.zeros((), dtype=a.dtype)
    else:
        keep = _rng(None).random(mask_shape) >= p  # P(keep) = 1 - p
        mask = keep.astype(a.dtype) * a.dtype.type(1.0 / (1.0 - p))
    return _result(input, mul(input, _wrap(mask, None)), inplace)


def dropout(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero each element with probability ``p``, scale the rest by ``1/(1-p)``.

    Args:
        input: a floating tensor.
        p: the probability of zeroing an element, in [0, 1].
        training: apply dropout; when False, return ``input`` unchanged.
        inplace: write the result into ``input``.

    Shape:
        input: any shape; output: the same.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.ones(4)
        >>> torch.nn.functional.dropout(x, p=1.0)
        tensor([0., 0., 0., 0.])
        >>> torch.nn.functional.dropout(x, training=False) is x
        True
    """
    _check_p(p, "dropout")
    if p == 0.0 or not training or input._data.size == 0:
        return input
    return _masked(input, input._data.shape, p, inplace)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero whole channels: each (sample, channel) plane with probability ``p``.

    Args:
        input: a floating tensor (N, C, H, W); (N, C, L) drops 1-d channels,
            as PyTorch does today (with a warning).
        p: the probability of zeroing a channel, in [0, 1].
        training: apply dropout; when False, return ``input`` unchanged.
        inplace: write the result into ``input``.

    Shape:
        input: (N, C, H, W) or (N, C, L); output: the same.
    """
    _check_p(p, "dropout2d")
    ndim = input._data.ndim
    if ndim < 2:
        raise RuntimeError(
            f"dropout2d: feature dropout requires at least 2 dimensions in the "
            f"input, got shape {tuple(input._data.shape)}"
        )
    if ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: received a {ndim}-D input, which is deprecated (PyTorch "
            "will make it an error); dropout2d expects (N, C, H, W) or (C, H, W). "
            "Use dropout instead.",
            PlaingradWarning,
            stacklevel=2,
        )
    elif ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-D input and, as PyTorch, treats it as "
            "(N, C, L), dropping 1-d channels; use dropout1d for that, since "
            "this will change to mean (C, H, W)",
            PlaingradWarning,
            stacklevel=2,
        )
    if p == 0.0 or not training or input._data.size == 0:
        return input
    shape = input._data.shape
    mask_shape = shape[:2] + (1,) * (ndim - 2)  # one draw per (sample, channel)
    return _masked(input, mask_shape, p, inplace)
