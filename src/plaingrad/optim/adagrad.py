"""Adagrad, with learning-rate decay and L2 weight decay (as PyTorch's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _wrap
from .optimizer import Optimizer, check_hyperparameter


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
            maximize=maximize,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p)

    def _validate(self, group: dict) -> None:
        # PyTorch's order, so the first bad value named is the same one.
        names = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        for name in names:
            check_hyperparameter(group, name, "Adagrad")

    def _init_state(self, group: dict, p: Any) -> dict:
        data = p._data
        state = self.state[p] = {
            "step": _wrap(np.zeros((), dtype=np.float32), None),
            "sum": _wrap(np.full_like(data, group["initial_accumulator_value"]), None),
        }
        return state

    def _update(self, group: dict, params: list) -> None:
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        decay = group["weight_decay"]
        for p in params:
            data = p._data
            grad = p.grad._data
            if group["maximize"]:
                grad = -grad
            if decay:
                grad = grad + decay * data
            state = self.state.get(p)
            if state is None:
                # A parameter from add_param_group: its state starts now.
                state = self._init_state(group, p)
            step_t = state["step"]._data
            step_t += 1
            clr = lr / (1 + (float(step_t) - 1) * lr_decay)
            s = state["sum"]._data
            s += grad * grad
            # p -= clr * g / (sqrt(s) + eps)
            std = np.sqrt(s)
            std += eps
            np.divide(grad, std, out=std)
            std *= clr
            np.subtract(data, std, out=data, casting="unsafe")
            p._version += 1
