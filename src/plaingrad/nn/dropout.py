"""Dropout layers: ``Dropout`` (elements) and ``Dropout2d`` (whole channels).

Both are active in training mode only; ``eval()`` makes them the identity. The
masks come from plaingrad's random stream, so ``manual_seed`` reproduces them.
"""

from __future__ import annotations

from ..ops import dropout as F
from ..tensor import Tensor
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(
                f"{type(self).__name__}: dropout probability has to be between 0 "
                f"and 1, but got {p}"
            )
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training; scale by 1/(1-p).

    Args:
        p: the probability of zeroing an element (default 0.5).
        inplace: overwrite the input.

    Shape:
        input: any shape; output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.Dropout(p=0.2)
        Dropout(p=0.2, inplace=False)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels with probability ``p`` in training; scale by 1/(1-p).

    Args:
        p: the probability of zeroing a channel (default 0.5).
        inplace: overwrite the input.

    Shape:
        input: (N, C, H, W); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.Dropout2d()
        Dropout2d(p=0.5, inplace=False)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)
