"""Optimizers: each updates parameters in place from their ``.grad``.

``Optimizer`` (``optimizer.py``) owns parameter groups, state and state dicts;
each optimizer is one file holding its update rule, written on NumPy arrays
with in-place ``out=`` arithmetic. Options, state names and the step counter
(a float32 scalar tensor) are PyTorch's, so state dicts move between the two
libraries. ``LBFGS`` re-evaluates the loss through a closure; its strong-Wolfe
line search lives in ``_line_search.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:  # the names below, for type checkers and linters
    from . import lr_scheduler
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


# Each optimizer loads when it is first named (``optim.SGD``), with the
# ``Optimizer`` base class (about 3 ms for all of them), and
# ``optim.lr_scheduler`` on first use (about 25 ms of schedule classes that a
# run without a schedule never needs).
__getattr__, __dir__ = attach(
    __name__,
    {
        "Adadelta": ".adadelta",
        "Adagrad": ".adagrad",
        "Adam": ".adam",
        "Adamax": ".adamax",
        "AdamW": ".adamw",
        "LBFGS": ".lbfgs",
        "NAdam": ".nadam",
        "Optimizer": ".optimizer",
        "RAdam": ".radam",
        "RMSprop": ".rmsprop",
        "SGD": ".sgd",
        "lr_scheduler": ".lr_scheduler",
    },
)
