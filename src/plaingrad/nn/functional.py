"""``nn.functional``: the stateless forms of layers and losses."""

from __future__ import annotations

from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.linalg import linear
from ..ops.loss import cross_entropy, mse_loss, nll_loss
from ..ops.reduction import log_softmax, softmax

__all__ = [
    "cross_entropy",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
