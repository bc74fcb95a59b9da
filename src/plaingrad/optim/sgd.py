"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, effective_grad


class SGD(Optimizer):
    """``p -= lr * g``, with optional momentum and weight decay (as PyTorch).

    With momentum m the buffer starts as the first gradient, then
    ``buf = m * buf + (1 - dampening) * g``; Nesterov steps along
    ``g + m * buf``. Weight decay adds ``weight_decay * p`` to the gradient.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: use Nesterov momentum (default False).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     w.grad = torch.ones(1)
        ...     opt.step()
        >>> w  # 1 - 0.1 * 1, then - 0.1 * (0.9 * 1 + 1)
        Parameter containing:
        tensor([0.7100], requires_grad=True)
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: Any = None,
        differentiable: bool = False,
        fused: Any = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "momentum", "weight_decay")

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum requires a momentum and zero dampening, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        decay = group["weight_decay"]
        maximize = group["maximize"]
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, decay)
            if momentum:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = _wrap(grad.copy(), None)
                else:
                    b = buf._data
                    b *= momentum
                    b += (1 - dampening) * grad
                if group["nesterov"]:
                    grad = grad + momentum * buf._data
                else:
                    grad = buf._data
            # data -= lr * grad, cast to the parameter's dtype by ``out=``
            np.subtract(data, lr * grad, out=data, casting="unsafe")
            p._version += 1
