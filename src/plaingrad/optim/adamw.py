"""AdamW: Adam with weight decay decoupled from the gradient (as PyTorch's)."""

from __future__ import annotations

from typing import Any

from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly (Loshchilov & Hutter).

    Each step first scales ``p`` by ``1 - lr * weight_decay``, then takes
    Adam's step with the plain gradient, so the decay never enters the moment
    averages. As in PyTorch, ``AdamW`` is ``Adam`` with
    ``decoupled_weight_decay=True``, and a subclass of it.

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
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
