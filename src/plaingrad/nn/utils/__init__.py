"""``nn.utils``: gradient clipping (``clip_grad.py``), flattening parameters
to a vector and back (``convert_parameters.py``), and ``nn.utils.rnn`` for
packed sequences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import attach

if TYPE_CHECKING:  # the names below, for type checkers and linters
    from . import clip_grad, convert_parameters, rnn
    from .clip_grad import (
        clip_grad_norm_,
        clip_grad_value_,
        clip_grads_with_norm_,
        get_total_norm,
    )
    from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = [
    "clip_grad",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "convert_parameters",
    "get_total_norm",
    "parameters_to_vector",
    "rnn",
    "vector_to_parameters",
]

# Each part loads on first use: ``nn.utils.rnn`` (packed sequences) with the
# RNN layers, gradient clipping at its first step.
__getattr__, __dir__ = attach(
    __name__,
    {
        "clip_grad_norm_": ".clip_grad",
        "clip_grad_value_": ".clip_grad",
        "clip_grads_with_norm_": ".clip_grad",
        "get_total_norm": ".clip_grad",
        "parameters_to_vector": ".convert_parameters",
        "vector_to_parameters": ".convert_parameters",
        "rnn": ".rnn",
    },
)
