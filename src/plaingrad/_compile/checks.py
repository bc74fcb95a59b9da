"""The value checks a replay repeats.

Some functions check the values of their arguments before they call their op
(``embedding``: every index names a row; ``nll_loss``: every target is a
class; ``binary_cross_entropy``: every input is a probability). A replay calls
the ops alone, so for these ops it runs the same check first, with the same
error. An op whose wrapper checks values that no function here repeats keeps
running eagerly when those values can change from call to call (they come
from an argument or an earlier op).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.embedding import Embedding
from ..ops.loss import NllLoss
from ..ops.loss_binary import BinaryCrossEntropy


def _embedding(weight: Any, *, indices: Any, **_: Any) -> None:
    rows = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise IndexError(
            f"embedding: index out of range in self: index {int(bad)} for a "
            f"weight of {rows} rows"
        )


def _nll(log_probs: Any, target: Any, *, ignore_index: int = -100, **_: Any) -> None:
    n_classes = log_probs.shape[1]
    valid = target[target != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= n_classes):
        bad = valid[(valid < 0) | (valid >= n_classes)][0]
        raise IndexError(
            f"nll_loss: Target {int(bad)} is out of bounds: `target` must hold "
            f"class indices in [0, {n_classes}) (input has {n_classes} classes)"
        )


def _probabilities(x: Any, *_: Any, **__: Any) -> None:
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise RuntimeError(
            "binary_cross_entropy: all elements of `input` should be between "
            f"0 and 1, got values in [{float(x.min())}, {float(x.max())}]"
        )


CHECKS = {Embedding: _embedding, NllLoss: _nll, BinaryCrossEntropy: _probabilities}


def _unchecked() -> set:
    """The op classes whose wrappers check values no function here repeats."""
    from ..ops import indexing, loss_ctc, loss_margin_multi
    from ..ops.binary import Fmod, FmodScalar, Remainder, RemainderScalar

    return {
        indexing.Gather,
        indexing.Scatter,
        indexing.ScatterValue,
        indexing.ScatterAdd,
        indexing.IndexSelect,
        indexing.IndexAdd,
        loss_ctc.CtcLoss,
        loss_margin_multi.MultiMarginLoss,
        loss_margin_multi.MultilabelMarginLoss,
        Fmod,
        FmodScalar,
        Remainder,
        RemainderScalar,
    }


_UNCHECKED: set | None = None


def unchecked(cls: type, dtypes: list) -> bool:
    """Does ``cls`` (with inputs of ``dtypes``) check values a replay cannot?"""
    global _UNCHECKED
    if _UNCHECKED is None:
        _UNCHECKED = _unchecked()
    if cls not in _UNCHECKED:
        return False
    if cls.__name__.startswith(("Fmod", "Remainder")):
        # only integer division checks for zero divisors
        return any(np.dtype(d).kind in "iub" for d in dtypes)
    return True
