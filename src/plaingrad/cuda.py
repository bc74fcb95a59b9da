"""``plaingrad.cuda``: present so that device checks in PyTorch programs work.

plaingrad has no GPU backend, so ``is_available()`` is False and
``device_count()`` is 0.
"""

from __future__ import annotations


def is_available() -> bool:
    """Always False: plaingrad computes on the CPU."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored: there is no GPU random stream."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored: there is no GPU random stream."""


def synchronize(device: object = None) -> None:
    """Nothing to wait for on the CPU."""
