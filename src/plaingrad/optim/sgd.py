"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 decay."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, _check_nonnegative


class SGD(Optimizer):
    """``p -= lr * g``, with optional momentum and weight decay (as PyTorch).

    With momentum m the buffer starts as the first gradient, then
    ``buf = m * buf + (1 - dampening) * g``; Nesterov uses ``g + m * buf``.
    Weight decay adds ``weight_decay * p`` to the gradient.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: use Nesterov momentum (default False).
        maximize: ascend the objective instead (default False).
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False,
                 *, maximize: bool = False, foreach: Any = None,
                 differentiable: bool = False, fused: Any = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            _check_nonnegative(group, name, "SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure: Callable | None = None) -> Any:
        """Update every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = group["lr"]
            momentum = group["momentum"]
            dampening = group["dampening"]
            decay = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                data = p._data
                grad = p.grad._data
                if group["maximize"]:
                    grad = -grad
                if decay:
                    grad = grad + decay * data
                if momentum:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = _wrap(grad.copy(), None)
                    else:
                        b = buf._data
                        b *= momentum
                        b += (1 - dampening) * grad
                    grad = grad + momentum * buf._data if group["nesterov"] else buf._data
                if grad.dtype != data.dtype:
                    grad = grad.astype(data.dtype)
                # data -= lr * grad, without a temporary for lr * grad's result
                np.subtract(data, lr * grad, out=data)
                p._version += 1
        return loss
