"""Optimizers: each updates parameters in place from their ``.grad``.

``Optimizer`` (``optimizer.py``) owns parameter groups, state and state dicts;
each optimizer is one file holding its update rule.
"""

from __future__ import annotations

from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD"]
