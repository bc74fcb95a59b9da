"""NAdam: Adam with Nesterov momentum and a momentum schedule (as PyTorch's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, count_step, effective_grad, lerp_

# NAdam's state: step, mu_product (float32 scalars), exp_avg, exp_avg_sq
_SCALARS = {"mu_product": 1.0}
_BUFFERS = ("exp_avg", "exp_avg_sq")


class NAdam(Optimizer):
    """Nesterov-accelerated Adam (Dozat), PyTorch's update rule exactly.

    The momentum coefficient follows a schedule,
    ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``, and its running
    product ``mu_product`` is kept in the state (a float32 scalar, as in
    PyTorch, so the rounding is the same). With ``m`` and ``v`` Adam's moments
    and ``denom = sqrt(v / (1 - b2^t)) + eps``, each step is
    ``p -= lr (1 - mu_t) / (1 - prod mu) * g / denom``
    ``+ lr mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / denom``.
    ``weight_decay`` is L2 (added to ``g``), or with ``decoupled_weight_decay``
    scales ``p`` by ``1 - lr * weight_decay`` first (as AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        momentum_decay: how fast the momentum schedule rises (default 4e-3).
        decoupled_weight_decay: decay the weights directly (default False).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.NAdam([w], lr=0.1, momentum_decay=0.0)
        >>> w.grad = torch.ones(1, dtype=torch.float64)
        >>> opt.step()  # mu = 0.45: p -= lr g + lr mu / (1 - mu^2) m, m = 0.1 g
        >>> round(w.item(), 6)
        0.894357
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "eps", "betas", "weight_decay", "momentum_decay")

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        decay = group["weight_decay"]
        momentum_decay = group["momentum_decay"]
        decoupled = group["decoupled_weight_decay"]
        maximize = group["maximize"]
        # AdamW's p *= 1 - lr * wd, or L2 on the gradient
        shrink = 1 - lr * decay if decay and decoupled else None
        l2 = 0 if decoupled else decay
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, l2)
            if shrink is not None:
                data *= shrink
            state = self._state_of(p, _BUFFERS, _SCALARS)
            t = count_step(state)
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
            mu_product = state["mu_product"]._data
            mu_product *= mu  # rounded to float32, as PyTorch's scalar tensor
            mu_product_next = float(mu_product) * mu_next
            m = state["exp_avg"]._data
            v = state["exp_avg_sq"]._data
            lerp_(m, grad, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            # denom = sqrt(v / (1 - b2^t)) + eps
            # np.asarray: arithmetic on 0-d arrays gives NumPy scalars, no out=
            denom = np.asarray(v / (1 - beta2**t))
            np.sqrt(denom, out=denom)
            denom += eps
            # p += c_g * g / denom + c_m * m / denom, two separate roundings
            c_grad = -lr * (1.0 - mu) / (1.0 - float(mu_product))
            c_avg = (-lr * mu_next) / (1.0 - mu_product_next)
            term = np.asarray(grad / denom)
            term *= c_grad
            np.add(data, term, out=data, casting="unsafe")
            np.divide(m, denom, out=term)
            term *= c_avg
            np.add(data, term, out=data, casting="unsafe")
            p._version += 1
