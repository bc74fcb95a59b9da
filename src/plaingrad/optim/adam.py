"""Adam, with L2 weight decay added to the gradient (as PyTorch's Adam)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, check_hyperparameter


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba), PyTorch's update rule exactly.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    ``weight_decay`` adds ``weight_decay * p`` to ``g`` first (L2, not AdamW).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the running maximum of v (default False).
        maximize: ascend the objective instead (default False).

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
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        for name in ("lr", "eps", "weight_decay"):
            check_hyperparameter(group, name, "Adam")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: `betas` must be a pair of numbers, got {betas!r}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(
                    f"Adam: Invalid beta parameter at index {i}: {betas[i]}"
                )

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        for p in params:
            data = p._data
            grad = p.grad._data
            if group["maximize"]:
                grad = -grad
            if decay:
                grad = grad + decay * data
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {
                    "step": _wrap(np.zeros((), dtype=np.float32), None),
                    "exp_avg": _wrap(np.zeros_like(data), None),
                    "exp_avg_sq": _wrap(np.zeros_like(data), None),
                }
                if amsgrad:
                    state["max_exp_avg_sq"] = _wrap(np.zeros_like(data), None)
            step_t = state["step"]._data
            step_t += 1
            t = float(step_t)
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
            denom = np.sqrt(v)
            denom /= math.sqrt(1 - beta2**t)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            data -= denom
            p._version += 1
