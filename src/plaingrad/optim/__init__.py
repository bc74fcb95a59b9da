"""Optimizers: each updates parameters in place from their ``.grad``.

``Optimizer`` (``optimizer.py``) owns parameter groups, state and state dicts;
each optimizer is one file holding its update rule.
"""

from __future__ import annotations

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]
