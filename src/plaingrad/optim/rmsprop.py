"""RMSprop, with optional momentum, centering and L2 decay (as PyTorch's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, count_step, effective_grad


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square (Hinton), PyTorch's rule.

    ``v = alpha v + (1 - alpha) g^2``; ``avg = sqrt(v) + eps``, or with
    ``centered`` ``sqrt(v - gbar^2) + eps`` where ``gbar`` is the running mean
    of ``g``. Then ``p -= lr * g / avg``, or with momentum
    ``buf = momentum * buf + g / avg`` and ``p -= lr * buf``.
    ``weight_decay`` adds ``weight_decay * p`` to ``g`` first.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance
            (default False).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
        >>> w.grad = torch.ones(1, dtype=torch.float64)
        >>> opt.step()  # v = 0.25, so p -= 0.01 * 1 / 0.5
        >>> round(w.item(), 12)
        0.98
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: Any = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    _hyperparameters = ("lr", "eps", "momentum", "weight_decay", "alpha")

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        alpha = group["alpha"]
        eps = group["eps"]
        decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, decay)
            state = self._state_of(p, ("square_avg",))
            # A group given momentum or centered after its first step gets
            # those buffers then.
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = _wrap(np.zeros_like(data), None)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = _wrap(np.zeros_like(data), None)
            count_step(state)
            v = state["square_avg"]._data
            # v = alpha v + (1 - alpha) g^2, in place
            v *= alpha
            v += (1 - alpha) * (grad * grad)
            if centered:
                g_avg = state["grad_avg"]._data
                # gbar = lerp(gbar, g, 1 - alpha); avg = sqrt(v - gbar^2)
                g_avg += (1 - alpha) * (grad - g_avg)
                avg = np.asarray(v - g_avg * g_avg)  # an array even when 0-d
                np.sqrt(avg, out=avg)
            else:
                avg = np.asarray(np.sqrt(v))
            avg += eps
            if momentum > 0:
                buf = state["momentum_buffer"]._data
                # buf = momentum buf + g / avg ;  p -= lr * buf
                buf *= momentum
                buf += grad / avg
                np.subtract(data, lr * buf, out=data, casting="unsafe")
            else:
                # p -= lr * g / avg
                np.divide(grad, avg, out=avg)
                avg *= lr
                np.subtract(data, avg, out=data, casting="unsafe")
            p._version += 1
