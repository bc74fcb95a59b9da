"""``nn.utils``: gradient clipping, and ``nn.utils.rnn`` for packed sequences."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...tensor import Tensor, _wrap
from . import rnn


def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale gradients so their joint norm is at most ``max_norm``.

    Returns the total norm before clipping. Gradients are scaled by
    ``max_norm / (total + 1e-6)`` only when that factor is below 1.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad._data for p in params if p.grad is not None]
    if not grads:
        return _wrap(np.asarray(0.0, dtype=np.float32), None)
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max()) for g in grads)
    else:
        total = sum(float((np.abs(g) ** norm_type).sum()) for g in grads) ** (
            1 / norm_type
        )
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} for gradients "
            "is non-finite, so it cannot be clipped"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return _wrap(np.asarray(total, dtype=grads[0].dtype), None)


def clip_grad_value_(parameters: Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if p.grad is not None:
            np.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)
