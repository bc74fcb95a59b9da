"""The XOR problem: four points that no straight line separates."""

from __future__ import annotations

from ..creation import tensor
from ..tensor import Tensor


def load_xor() -> tuple[Tensor, Tensor]:
    """The four XOR inputs and their targets, as the backpropagation seed uses.

    Returns:
        ``(X, y)``: ``X`` of shape (4, 2) holds the inputs (0, 0), (0, 1),
        (1, 0), (1, 1); ``y`` of shape (4, 1) holds 0, 1, 1, 0. Both float32,
        ready for ``nn.MSELoss``.

    Example:
        >>> from plaingrad.datasets import load_xor
        >>> X, y = load_xor()
        >>> y.flatten().tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    X = tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = tensor([[0.0], [1.0], [1.0], [0.0]])
    return X, y
