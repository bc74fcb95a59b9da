"""Learning-rate schedulers, as ``torch.optim.lr_scheduler``.

Each scheduler changes ``optimizer.param_groups[i]["lr"]`` when stepped, after
``optimizer.step()``. The code lives in ``optim/_schedulers`` (one family per
file); this module is the public import path.
"""

from __future__ import annotations

from ._schedulers.base import EPOCH_DEPRECATION_WARNING, LRScheduler, _LRScheduler
from ._schedulers.combined import ChainedScheduler, SequentialLR
from ._schedulers.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from ._schedulers.cyclic import CyclicLR, OneCycleLR
from ._schedulers.multiplicative import (
    ConstantLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ._schedulers.plateau import ReduceLROnPlateau

__all__ = [
    "EPOCH_DEPRECATION_WARNING",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "_LRScheduler",
]
