"""AdamW: Adam with weight decay decoupled from the gradient (as PyTorch's)."""

from __future__ import annotations

from typing import Any

from .adam import Adam
from .optimizer import check_hyperparameter


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly (Loshchilov & Hutter).

    Each step first scales ``p`` by ``1 - lr * weight_decay``, then takes
    Adam's step with the plain gradient, so the decay never enters the moment
    averages. As in PyTorch, ``AdamW`` is a subclass of ``Adam``.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: decoupled decay rate (default 1e-2).
        amsgrad: use the running maximum of v (default False).
        maximize: ascend the objective instead (default False).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.1)
        >>> for _ in range(2):
        ...     w.grad = torch.zeros(1, dtype=torch.float64)
        ...     opt.step()  # a zero gradient: only the decay moves w
        >>> round(w.item(), 12)  # 1 * 0.99 * 0.99
        0.9801
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: Any = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: Any = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )

    def _validate(self, group: dict) -> None:
        for name in ("lr", "eps", "weight_decay"):
            check_hyperparameter(group, name, "AdamW")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"AdamW: `betas` must be a pair of numbers, got {betas!r}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(
                    f"AdamW: Invalid beta parameter at index {i}: {betas[i]}"
                )

    def _update(self, group: dict, params: list) -> None:
        decay = group["weight_decay"]
        if decay:
            # p *= 1 - lr * wd, before Adam's step and outside its moments
            shrink = 1 - group["lr"] * decay
            for p in params:
                p._data *= shrink
        super()._update({**group, "weight_decay": 0}, params)
