"""Adagrad, with learning-rate decay and L2 weight decay (as PyTorch's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, count_step, effective_grad


class Adagrad(Optimizer):
    """Scale each coordinate by its summed squared gradients (Duchi et al.).

    ``s += g^2``; ``p -= clr * g / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t - 1) * lr_decay)`` at step ``t``. ``s`` starts at
    ``initial_accumulator_value``; ``weight_decay`` adds ``weight_decay * p``
    to ``g`` first. As in PyTorch, every parameter's state is created with
    the optimizer, so ``state_dict()`` lists all of them from the start.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of ``s`` (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.Adagrad([w], lr=0.1, initial_accumulator_value=3.0)
        >>> w.grad = torch.ones(1, dtype=torch.float64)
        >>> opt.step()  # s = 3 + 1, so p -= 0.1 * 1 / 2
        >>> round(w.item(), 9)
        0.95
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: Any = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: Any = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p)

    _hyperparameters = (
        "lr",
        "lr_decay",
        "weight_decay",
        "initial_accumulator_value",
        "eps",
    )

    def _init_state(self, group: dict, p: Any) -> dict:
        # ``sum`` starts at initial_accumulator_value, not at zero.
        state = self._state_of(p)
        initial = group["initial_accumulator_value"]
        state["sum"] = _wrap(np.full_like(p._data, initial), None)
        return state

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        decay = group["weight_decay"]
        maximize = group["maximize"]
        for p in params:
            data = p._data
            grad = effective_grad(p, maximize, decay)
            state = self.state.get(p)
            if state is None:
                # A parameter from add_param_group: its state starts now.
                state = self._init_state(group, p)
            t = count_step(state)
            clr = lr / (1 + (t - 1) * lr_decay)
            s = state["sum"]._data
            s += grad * grad
            # p -= clr * g / (sqrt(s) + eps)
            std = np.asarray(np.sqrt(s))  # a 0-d s gives a NumPy scalar
            std += eps
            np.divide(grad, std, out=std)
            std *= clr
            np.subtract(data, std, out=data, casting="unsafe")
            p._version += 1
