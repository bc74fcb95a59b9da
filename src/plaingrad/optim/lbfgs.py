"""L-BFGS: a quasi-Newton method that re-evaluates the loss through a closure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor, _wrap
from ._line_search import strong_wolfe
from .optimizer import Optimizer, _copy

_NUMBERS = (int, float, np.integer, np.floating)

_LINE_SEARCHES = (None, "strong_wolfe")


class LBFGS(Optimizer):
    """Limited-memory BFGS, PyTorch's algorithm step for step.

    All parameters are treated as one flat vector. Each ``step(closure)``
    runs up to ``max_iter`` iterations: the direction is the gradient
    multiplied by an inverse-Hessian estimate built from the last
    ``history_size`` pairs of parameter and gradient changes (the two-loop
    recursion); the step along it is ``lr`` (the very first one is scaled
    down to at most ``1 / sum|g|``), or the one a strong-Wolfe line search
    finds. Iterations stop early when the gradient is below
    ``tolerance_grad``, when the loss or the step changes by less than
    ``tolerance_change``, or after ``max_eval`` evaluations of the closure.

    The state (``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``, ``al``, ``func_evals``, ``n_iter``) is
    kept under the first parameter, with PyTorch's names.

    Args:
        params: parameters; a single group only.
        lr: step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default
            ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max|g|`` is at most this (default 1e-7).
        tolerance_change: stop when the loss or the step changes less than
            this (default 1e-9).
        history_size: pairs kept for the Hessian estimate (default 100).
        line_search_fn: None or ``"strong_wolfe"`` (default None).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
        >>> opt = torch.optim.LBFGS([w], line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = ((w - 1.0) ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)
        >>> [round(v, 6) for v in w.tolist()]
        [1.0, 1.0]
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(
                "LBFGS doesn't support per-parameter options (parameter groups)"
            )
        self._params = self.param_groups[0]["params"]

    _hyperparameters = ("lr",)

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        # PyTorch takes these unchecked, and history_size=0 fails in step
        # with an IndexError; max_iter=0 would make step do nothing.
        for key in ("max_iter", "max_eval", "history_size"):
            value = group[key]
            kinds = (int, np.integer) if key == "history_size" else _NUMBERS
            if isinstance(value, bool) or not isinstance(value, kinds) or value < 1:
                kind = "an integer" if key == "history_size" else "a number"
                raise ValueError(f"LBFGS: `{key}` must be {kind} >= 1, got {value!r}")
        if group["line_search_fn"] not in _LINE_SEARCHES:
            raise ValueError(
                "LBFGS: `line_search_fn` must be None or 'strong_wolfe', got "
                f"{group['line_search_fn']!r}"
            )

    def add_param_group(self, param_group: dict) -> None:
        """Refused once there is a group: LBFGS has exactly one."""
        if self.param_groups:
            raise ValueError(
                "LBFGS doesn't support per-parameter options (parameter groups)"
            )
        super().add_param_group(param_group)

    def _load_state_value(self, param: Tensor, key: str, value: Any) -> Any:
        # Flat vectors, not shaped like the first parameter: copied as they are.
        copied = _copy(value)
        return _cast(copied, param._data.dtype)

    # -------------------------------------------------- the flat parameter

    def _flat_grad(self) -> np.ndarray:
        views = []
        for p in self._params:
            grad = p.grad
            if grad is None:
                views.append(np.zeros(p._data.size, dtype=p._data.dtype))
            else:
                views.append(grad._data.reshape(-1))
        return np.concatenate(views)

    def _add_to_params(self, t: float, d: np.ndarray) -> None:
        """``params += t * d``, ``d`` split back into the parameters' shapes."""
        offset = 0
        for p in self._params:
            data = p._data
            n = data.size
            step = t * d[offset : offset + n].reshape(data.shape)
            np.add(data, step, out=data, casting="unsafe")
            p._version += 1
            offset += n

    def _set_params(self, arrays: list) -> None:
        for p, array in zip(self._params, arrays):
            np.copyto(p._data, array)
            p._version += 1

    # ---------------------------------------------------------------- step

    def step(self, closure: Callable | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the first loss.

        Args:
            closure: zeroes the gradients, computes the loss, calls
                ``backward`` and returns the loss (required).
        """
        if closure is None:
            raise TypeError(
                "LBFGS.step: a closure that reevaluates the model and returns "
                "the loss is required"
            )
        from ..autograd.grad_mode import enable_grad

        def evaluate() -> tuple:
            with enable_grad():
                loss = closure()
            return loss, float(loss)

        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss = evaluate()
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d = _array(state.get("d"))
        t = _number(state.get("t"))
        old_dirs = [_array(v) for v in state.get("old_dirs") or []]
        old_stps = [_array(v) for v in state.get("old_stps") or []]
        ro = [_number(v) for v in state.get("ro") or []]
        h_diag = _number(state.get("H_diag"))
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = _number(state.get("prev_loss"))

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                d, h_diag = self._direction(
                    state,
                    flat_grad,
                    prev_flat_grad,
                    d,
                    t,
                    h_diag,
                    old_dirs,
                    old_stps,
                    ro,
                )
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(np.dot(flat_grad, d))
            if gtd > -tolerance_change:
                break  # not a descent direction

            evals = 0
            if group["line_search_fn"] is not None:
                if group["line_search_fn"] != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                start = [p._data.copy() for p in self._params]

                def along(step: float, start: list = start, d: Any = d) -> tuple:
                    self._add_to_params(step, d)
                    _, value = evaluate()
                    grad = self._flat_grad()
                    self._set_params(start)
                    return value, grad

                # NOTE: as PyTorch, the zoom's own tolerance stays at 1e-9,
                # not the group's tolerance_change: the same steps either way.
                loss, flat_grad, t, evals = strong_wolfe(
                    along, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_to_params(t, d)
                converged = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                converged = False
                if n_iter != max_iter:
                    # The last iteration's loss is the next step's first.
                    _, loss = evaluate()
                    flat_grad = self._flat_grad()
                    converged = np.abs(flat_grad).max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval or converged:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break  # the step no longer moves the parameters
            if abs(loss - prev_loss) < tolerance_change:
                break  # nor the loss

        state["d"] = _tensor(d)
        state["t"] = t
        state["old_dirs"] = [_tensor(v) for v in old_dirs]
        state["old_stps"] = [_tensor(v) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = _tensor(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss

    def _direction(
        self,
        state: dict,
        flat_grad: np.ndarray,
        prev_flat_grad: np.ndarray,
        d: np.ndarray,
        t: float,
        h_diag: float,
        old_dirs: list,
        old_stps: list,
        ro: list,
    ) -> tuple:
        """Record the last change, then ``-H g`` by the two-loop recursion.

        The history lists are updated in place; returns the direction and
        the new ``H_diag`` (the scale of the initial inverse Hessian).
        """
        history_size = self.param_groups[0]["history_size"]
        y = flat_grad - prev_flat_grad  # change of gradient
        s = d * t  # change of parameters
        ys = float(np.dot(y, s))
        if ys > 1e-10:  # keep only pairs of positive curvature
            if len(old_dirs) == history_size:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            h_diag = ys / float(np.dot(y, y))
        count = len(old_dirs)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = -flat_grad
        for i in range(count - 1, -1, -1):
            al[i] = float(np.dot(old_stps[i], q)) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * h_diag
        for i in range(count):
            be_i = float(np.dot(old_dirs[i], r)) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r, h_diag


def _array(value: Any) -> Any:
    """The NumPy array of a state vector (a Tensor, or a loaded array).

    Not a copy: the state owns its vectors and no step writes into one that
    it keeps (``load_state_dict`` and ``state_dict`` copy at the border).
    """
    if value is None:
        return None
    return value._data if isinstance(value, Tensor) else np.asarray(value)


def _number(value: Any) -> Any:
    if value is None:
        return None
    return float(value.item() if isinstance(value, Tensor) else value)


def _tensor(array: Any) -> Any:
    return None if array is None else _wrap(array, None)


def _cast(value: Any, dtype: Any) -> Any:
    """Vectors of a floating dtype take the parameters' dtype, as in PyTorch."""
    if isinstance(value, list):
        return [_cast(v, dtype) for v in value]
    if isinstance(value, Tensor) and value._data.dtype.kind == "f":
        return _wrap(value._data.astype(dtype, copy=False), None)
    return value
