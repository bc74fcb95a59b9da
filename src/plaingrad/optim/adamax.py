"""Adamax: Adam with an infinity-norm second moment (as PyTorch's Adamax)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, count_step, effective_grad, lerp_


class Adamax(Optimizer):
    """Adamax (Kingma & Ba, section 7), PyTorch's update rule exactly.

    ``m = b1 m + (1 - b1) g``; ``u = max(b2 u, |g| + eps)``;
    ``p -= lr / (1 - b1^t) * m / u``. ``weight_decay`` adds
    ``weight_decay * p`` to ``g`` first.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of ``m`` and ``u`` (default (0.9, 0.999)).
        eps: added to ``|g|`` (default 1e-8).
        weight_decay: L2 penalty (default 0).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.Adamax([w], lr=0.1, eps=0.0)
        >>> w.grad = torch.tensor([4.0], dtype=torch.float64)
        >>> opt.step()  # m = 0.4, u = 4: p -= 0.1 / 0.1 * 0.4 / 4
        >>> round(w.item(), 12)
        0.9
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: Any = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "eps", "betas", "weight_decay")

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        decay = group["weight_decay"]
        maximize = group["maximize"]
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, decay)
            state = self._state_of(p, ("exp_avg", "exp_inf"))
            t = count_step(state)
            m = state["exp_avg"]._data
            u = state["exp_inf"]._data
            lerp_(m, grad, 1 - beta1)
            # u = max(b2 u, |g| + eps); NaN propagates, as torch.maximum
            u *= beta2
            bound = np.asarray(np.abs(grad))  # a 0-d grad gives a NumPy scalar
            bound += eps
            np.maximum(u, bound, out=u)
            clr = lr / (1 - beta1**t)
            # p -= clr * m / u
            np.divide(m, u, out=bound)
            bound *= clr
            np.subtract(data, bound, out=data, casting="unsafe")
            p._version += 1
