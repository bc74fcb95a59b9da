"""RAdam: Adam with its variance rectified while the average is short."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, count_step, effective_grad, lerp_


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.), PyTorch's update rule exactly.

    With Adam's moments ``m`` and ``v``, ``rho_inf = 2 / (1 - b2) - 1`` and
    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``: while ``rho_t <= 5`` the
    variance estimate is too short to trust and the step is plain momentum,
    ``p -= lr * m / (1 - b1^t)``; after that it is Adam's step scaled by the
    rectification ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf /
    ((rho_inf - 4)(rho_inf - 2) rho_t))``. ``weight_decay`` is L2, or with
    ``decoupled_weight_decay`` scales ``p`` by ``1 - lr * weight_decay`` first.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        decoupled_weight_decay: decay the weights directly (default False).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.RAdam([w], lr=0.1)
        >>> w.grad = torch.tensor([3.0], dtype=torch.float64)
        >>> opt.step()  # rho_1 = 1 <= 5: p -= lr * m / (1 - b1) = lr * g
        >>> round(w.item(), 12)
        0.7
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: Any = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "eps", "betas", "weight_decay")

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        decay = group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        maximize = group["maximize"]
        rho_inf = 2 / (1 - beta2) - 1
        # AdamW's p *= 1 - lr * wd, or L2 on the gradient
        shrink = 1 - lr * decay if decay and decoupled else None
        l2 = 0 if decoupled else decay
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, l2)
            if shrink is not None:
                data *= shrink
            state = self._state_of(p, ("exp_avg", "exp_avg_sq"))
            t = count_step(state)
            m = state["exp_avg"]._data
            v = state["exp_avg_sq"]._data
            lerp_(m, grad, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            bias_correction1 = 1 - beta1**t
            bias_correction2 = 1 - beta2**t
            rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
            # update = m / bc1 * lr [* sqrt(bc2) / (sqrt(v) + eps) * r_t]
            update = m / bias_correction1
            update *= lr
            if rho_t > 5.0:
                rect = (
                    (rho_t - 4)
                    * (rho_t - 2)
                    * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                ) ** 0.5
                adaptive = np.asarray(np.sqrt(v))  # a 0-d v gives a NumPy scalar
                adaptive += eps
                np.divide(bias_correction2**0.5, adaptive, out=adaptive)
                update *= adaptive
                update *= rect
            np.subtract(data, update, out=data, casting="unsafe")
            p._version += 1
