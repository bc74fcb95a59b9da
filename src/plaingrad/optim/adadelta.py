"""Adadelta: steps sized by running averages of squared gradients and updates."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, count_step, effective_grad


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's update rule exactly.

    ``v = rho v + (1 - rho) g^2``; ``delta = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho u + (1 - rho) delta^2``; ``p -= lr * delta``. ``u`` and ``v``
    start at 0; ``weight_decay`` adds ``weight_decay * p`` to ``g`` first.

    Args:
        params: parameters or parameter groups.
        lr: scales each update (default 1.0).
        rho: decay rate of both running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.Adadelta([w], rho=0.0, eps=1.0)
        >>> w.grad = torch.ones(1, dtype=torch.float64)
        >>> opt.step()  # v = 1, so delta = sqrt(0 + 1) / sqrt(1 + 1) * 1
        >>> round(w.item(), 12) == round(1 - 2**-0.5, 12)
        True
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: Any = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "rho", "eps", "weight_decay")
    _upper_bounds = {"rho": 1.0}

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        rho = group["rho"]
        eps = group["eps"]
        decay = group["weight_decay"]
        maximize = group["maximize"]
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, decay)
            state = self._state_of(p, ("square_avg", "acc_delta"))
            count_step(state)
            v = state["square_avg"]._data
            u = state["acc_delta"]._data
            # v = rho v + (1 - rho) g^2
            v *= rho
            v += (1 - rho) * (grad * grad)
            # np.asarray: arithmetic on 0-d arrays gives NumPy scalars, no out=
            std = np.asarray(v + eps)
            np.sqrt(std, out=std)
            # delta = sqrt(u + eps) / sqrt(v + eps) * g
            delta = np.asarray(u + eps)
            np.sqrt(delta, out=delta)
            delta /= std
            delta *= grad
            # u = rho u + (1 - rho) delta^2
            u *= rho
            u += (1 - rho) * (delta * delta)
            delta *= lr
            np.subtract(data, delta, out=data, casting="unsafe")
            p._version += 1
