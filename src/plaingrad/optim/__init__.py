"""Optimizers: each updates parameters in place from their ``.grad``.

``Optimizer`` (``optimizer.py``) owns parameter groups, state and state dicts;
each optimizer is one file holding its update rule, written on NumPy arrays
with in-place ``out=`` arithmetic. Options, state names and the step counter
(a float32 scalar tensor) are PyTorch's, so state dicts move between the two
libraries. ``LBFGS`` re-evaluates the loss through a closure; its strong-Wolfe
line search lives in ``_line_search.py``.
"""

from __future__ import annotations

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "LBFGS",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "SGD",
    "lr_scheduler",
]


def __getattr__(name: str) -> object:
    # ``plaingrad.optim.lr_scheduler`` loads on first use (about 25 ms of
    # schedule classes a run without a schedule never needs).
    if name == "lr_scheduler":
        import importlib

        return importlib.import_module(".lr_scheduler", __name__)
    raise AttributeError(f"module 'plaingrad.optim' has no attribute {name!r}")
