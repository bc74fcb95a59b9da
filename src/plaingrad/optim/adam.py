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
        if not amsgrad and len(params) > 1:
            rule = (maximize, l2, shrink)
            if self._update_flat(group, params, lr, (beta1, beta2), eps, rule):
                return
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

    def _update_flat(
        self,
        group: dict,
        params: list,
        lr: float,
        betas: tuple,
        eps: float,
        rule: tuple = (False, 0, None),
    ) -> bool:
        """The Adam step (without amsgrad) for all of ``params`` at once,
        foreach-style: the moments of the group live in two flat buffers (each
        state tensor holds a view of its slice), so that the update is a dozen
        NumPy calls on the whole group instead of a dozen per parameter.
        ``rule`` is ``(maximize, l2 decay, AdamW's shrink factor or None)``.
        The arithmetic is the per-parameter rule's, element for element. False
        (nothing changed) when it does not apply: mixed dtypes, or parameters
        whose step counts differ."""
        maximize, l2, shrink = rule
        beta1, beta2 = betas
        flat = self._flat_moments(group, params)
        if flat is None:
            return False
        m, v, g, work, steps = flat
        states = [self.state[p] for p in params]
        counts = [float(state["step"]._data) for state in states]
        if counts.count(counts[0]) != len(counts):
            return False
        for state in states:
            t = count_step(state)
        np.concatenate([p.grad._data for p in params], axis=None, out=g)
        if maximize:
            np.negative(g, out=g)
        if l2:
            # g + l2 * p, as effective_grad adds it
            np.concatenate([p._data.reshape(-1) for p in params], out=work)
            work *= l2
            g += work
        if shrink is not None:
            for p in params:
                p._data *= shrink
        # m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2, in place
        m *= beta1
        np.multiply(g, 1 - beta1, out=work)
        m += work
        v *= beta2
        np.multiply(g, g, out=work)
        work *= 1 - beta2
        v += work
        step_size = lr / (1 - beta1**t)
        # p -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        denom = np.sqrt(v, out=work)
        denom /= math.sqrt(1 - beta2**t)
        denom += eps
        np.divide(m, denom, out=denom)
        denom *= step_size
        # denom is the scratch buffer, whose per-parameter views are made once
        for p, step in zip(params, steps):
            p._data -= step
            p._version += 1
        return True

    def _shape_message(self, group: dict, param: Any, key: str, held: Any) -> str:
        number = next(i for i, p in enumerate(group["params"]) if p is param)
        index = next(i for i, g in enumerate(self.param_groups) if g is group)
        return (
            f"{type(self).__name__}.step: the {key} of parameter {number} in "
            f"parameter group {index} has shape {tuple(held.shape)} but the "
            f"parameter has shape {tuple(param._data.shape)} (was its .data "
            "replaced?); that group was not updated"
        )

    def _flat_moments(self, group: dict, params: list) -> tuple | None:
        """The group's flat ``(exp_avg, exp_avg_sq, grad, scratch, steps)``
        buffers (``steps``: each parameter's view of the scratch buffer, in its
        shape), made on first use or when the states or shapes changed since (a
        ``load_state_dict``, a parameter without a step, a replaced ``.data``);
        None when the parameters' dtypes differ or one is listed twice.
        Raises, before the group changes, when a parameter's shape is not
        its moments' shape."""
        cache = self.__dict__.setdefault("_flat_cache", {})
        entry = cache.get(id(group))
        if entry is not None:
            owner, members, buffers, arrays = entry
            if owner is group and len(members) == len(params):
                state_get = self.state.get
                for p, q, (avg, avg_sq) in zip(params, members, arrays):
                    state = state_get(p)
                    if (
                        p is not q
                        or state is None
                        or state["exp_avg"]._data is not avg
                        or state["exp_avg_sq"]._data is not avg_sq
                        or p._data.shape != avg.shape  # p.data was replaced
                    ):
                        break
                else:
                    return buffers
        dtype = params[0]._data.dtype
        if any(p._data.dtype != dtype for p in params):
            return None
        if len({id(p) for p in params}) != len(params):
            # a parameter listed twice takes two steps, one after the other
            # (PyTorch's loop): the per-parameter rule does that
            return None
        states = [self._state_of(p, ("exp_avg", "exp_avg_sq")) for p in params]
        for p, state in zip(params, states):
            for key in ("exp_avg", "exp_avg_sq"):
                held = state[key]._data
                if held.dtype != dtype:
                    return None
                if held.shape != p._data.shape:
                    raise RuntimeError(self._shape_message(group, p, key, held))
        sizes = [p._data.size for p in params]
        total = sum(sizes)
        m = np.empty(total, dtype)
        v = np.empty(total, dtype)
        work = np.empty(total, dtype)
        steps, arrays, start = [], [], 0
        for p, state, size in zip(params, states, sizes):
            stop = start + size
            shape = p._data.shape
            # the state tensors keep their values but now hold views of the
            # flat buffers (the same Tensor objects, for whoever holds them)
            m[start:stop] = state["exp_avg"]._data.reshape(-1)
            v[start:stop] = state["exp_avg_sq"]._data.reshape(-1)
            state["exp_avg"]._data = m[start:stop].reshape(shape)
            state["exp_avg_sq"]._data = v[start:stop].reshape(shape)
            arrays.append((state["exp_avg"]._data, state["exp_avg_sq"]._data))
            steps.append(work[start:stop].reshape(shape))
            start = stop
        buffers = (m, v, np.empty(total, dtype), work, steps)
        cache[id(group)] = (group, list(params), buffers, arrays)
        return buffers
