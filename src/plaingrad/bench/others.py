"""MyGrad and HIPS autograd as further references: what their programs share.

Issue 7 asks plaingrad to be faster than the other NumPy-based autograd
libraries on every workload, so the suite runs the same workloads in MyGrad
(``others_mygrad``) and HIPS autograd (``others_autograd``) when they are
installed. Each library's programs are written the way an ordinary user of it
would write them: MyGrad with its tensors and ``mygrad.nnet`` layers, HIPS
autograd with plain ``autograd.numpy`` functions and ``value_and_grad``. Both
libraries stop at gradients, so the optimizers are here, by hand in NumPy,
with the hyper-parameters of ``workloads`` and PyTorch's update formulas; the
weights and data come from ``workloads``' builders, so the losses must agree
with every other library's.

Every program has the signature of those in ``reference``:
``program(steps, repeats)`` returning the median seconds per step and the
losses before and after the steps. This module imports neither library: each
is imported only by the process that times it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .workloads import TRANSFORMER_FF, TRANSFORMER_SHAPE

# A workload's program: (steps, repeats) -> seconds per step and losses.
Program = Callable[[int, int], dict[str, float]]

# The suite's name for each library (its import name) and the table's label.
OTHERS = {"mygrad": "MyGrad", "autograd": "HIPS autograd"}

# The state dicts of ``workloads.cnn`` and ``workloads.transformer_layer``, in
# PyTorch's key order (``init_like`` draws in that order).
CNN_SHAPES = {
    "0.weight": (16, 1, 3, 3),
    "0.bias": (16,),
    "3.weight": (32, 16, 3, 3),
    "3.bias": (32,),
    "7.weight": (10, 32 * 5 * 5),
    "7.bias": (10,),
}
_D = TRANSFORMER_SHAPE[2]
TRANSFORMER_SHAPES = {
    "self_attn.in_proj_weight": (3 * _D, _D),
    "self_attn.in_proj_bias": (3 * _D,),
    "self_attn.out_proj.weight": (_D, _D),
    "self_attn.out_proj.bias": (_D,),
    "linear1.weight": (TRANSFORMER_FF, _D),
    "linear1.bias": (TRANSFORMER_FF,),
    "linear2.weight": (_D, TRANSFORMER_FF),
    "linear2.bias": (_D,),
    "norm1.weight": (_D,),
    "norm1.bias": (_D,),
    "norm2.weight": (_D,),
    "norm2.bias": (_D,),
}


class Adam:
    """PyTorch's Adam (no weight decay, no amsgrad) on a dict of NumPy arrays.

    The arrays are updated in place, so a library that keeps its parameters'
    data in NumPy arrays (a MyGrad tensor's ``.data``) sees the new values.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = params
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """One update from ``grads`` (the same keys as the parameters)."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        root_bias = np.sqrt(1 - b2**self.t)
        for key, p in self.params.items():
            g, m, v = grads[key], self.m[key], self.v[key]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= root_bias
            denom += self.eps
            p -= step_size * (m / denom)


def sgd(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
    """Plain SGD in place: ``p -= lr * grad`` for every parameter."""
    for key, p in params.items():
        p -= lr * grads[key]


def result(seconds: float, first: Any, last: Any, **extra: float) -> dict:
    """A program's return value, every loss as a Python float."""
    return {
        "seconds": seconds,
        "loss_first": float(first),
        "loss_last": float(last),
        **extra,
    }


def programs(library: str) -> dict[str, Program]:
    """The programs of ``library`` (``"mygrad"`` or ``"autograd"``), by workload.

    Raises:
        ValueError: for a library that is not one of ``OTHERS``.
        ImportError: when the library is not installed.
    """
    if library == "mygrad":
        from .others_mygrad import PROGRAMS
    elif library == "autograd":
        from .others_autograd import PROGRAMS
    else:
        raise ValueError(
            f"others.programs: `library` must be one of {', '.join(OTHERS)}, "
            f"got {library!r}"
        )
    return PROGRAMS
