"""Adam, with L2 or decoupled weight decay (as PyTorch's Adam)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optimizer import Optimizer, count_step, effective_grad


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba), PyTorch's update rule exactly.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    ``weight_decay`` adds ``weight_decay * p`` to ``g`` first (L2), or with
    ``decoupled_weight_decay`` scales ``p`` by ``1 - lr * weight_decay``
    before the step instead (AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the running maximum of v (default False).
        maximize: ascend the objective instead (default False).
        decoupled_weight_decay: decay the weights directly, as AdamW
            (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.Adam([w], lr=0.1, weight_decay=0.1)
        >>> w.grad = torch.zeros(1, dtype=torch.float64)
        >>> opt.step()  # the first step moves by lr * sign(g)
        >>> round(w.item(), 6)
        0.9
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: Any = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: Any = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "eps", "betas", "weight_decay")

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        buffers: tuple[str, ...] = ("exp_avg", "exp_avg_sq")
        if amsgrad:
            buffers += ("max_exp_avg_sq",)
        # AdamW's p *= 1 - lr * wd, before the step and outside the moments
        decoupled = decay and group.get("decoupled_weight_decay")
        shrink = 1 - lr * decay if decoupled else None
        l2 = 0 if decoupled else decay
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, l2)
            if shrink is not None:
                data *= shrink
            state = self._state_of(p, buffers)
            t = count_step(state)
            m = state["exp_avg"]._data
            v = state["exp_avg_sq"]._data
            # m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2, in place
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            if amsgrad:
                v_max = state["max_exp_avg_sq"]._data
                np.maximum(v_max, v, out=v_max)
                v = v_max
            step_size = lr / (1 - beta1**t)
            # p -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
            denom = np.asarray(np.sqrt(v))  # a 0-d v gives a NumPy scalar
            denom /= math.sqrt(1 - beta2**t)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            data -= denom
            p._version += 1
