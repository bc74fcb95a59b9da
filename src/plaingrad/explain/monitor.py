"""GradientMonitor: watch a model train and say what is going wrong.

The monitor observes a model through the hooks every module and optimizer
already has; nothing in the engine, the ops or ``nn`` knows it exists.

- Forward hooks on the activation modules (``ReLU``, ``LeakyReLU``, ``Sigmoid``,
  ``Tanh``) measure, for each batch, the fraction of dead units (a unit whose
  output has been zero for every sample of the last ``DEAD_WINDOW`` batches)
  and the fraction of saturated outputs (sigmoid within 0.01 of 0 or 1, tanh
  beyond 0.99 in absolute value).
  Forward hooks on every module also note the first one whose output turns
  NaN or Inf from finite inputs.
- ``step(loss)``, called after ``optimizer.step()``, records the loss, and
  for every layer (a module with parameters of its own, named by its module
  path, ``"0"``, ``"encoder.fc1"``) the norm of its parameters' gradients,
  the norm of its weights, and the update-to-weight ratio
  ``||w_after - w_before|| / ||w_before||`` of the step. Given an
  ``optimizer``, the monitor hooks its ``step`` instead and ``record_loss``
  passes the loss.
- ``backward(loss)`` runs ``loss.backward()`` under anomaly mode and keeps
  its report (the op whose backward made the first NaN or Inf) rather than
  raising it.
- ``verdicts()`` judges the history with ``verdicts.judge``; the module
  docstring of ``verdicts`` defines each verdict by its measure and threshold.

Example:
    >>> import plaingrad as torch
    >>> from plaingrad.explain import GradientMonitor
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 2))
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> monitor = GradientMonitor(model)
    >>> loss = model(torch.randn(16, 4)).pow(2).mean()
    >>> loss.backward()
    >>> optimizer.step()
    >>> monitor.step(loss)
    >>> sorted(monitor.history["grad_norm"])
    ['0', '2']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from ..autograd import is_grad_enabled
from ..autograd.anomaly_mode import set_detect_anomaly
from ..tensor import Tensor
from .verdicts import DEAD_WINDOW, Verdict, judge

# A sigmoid output this close to 0 or 1 has sigma' = s(1 - s) < 0.0099, under
# 4% of its maximum (0.25); a tanh output beyond 0.99 has 1 - y^2 < 0.02.
SIGMOID_MARGIN = 0.01
TANH_LIMIT = 0.99

_DEAD_TRACKED = (nn.ReLU, nn.LeakyReLU) if hasattr(nn, "LeakyReLU") else (nn.ReLU,)


def _array(value: Any) -> np.ndarray | None:
    return value._data if isinstance(value, Tensor) else None


def _norm(arrays: list[np.ndarray]) -> float:
    total = 0.0
    for array in arrays:
        total += float(np.sum(np.square(array, dtype=np.float64)))
    return math.sqrt(total)


class GradientMonitor:
    """Record per-layer gradient flow and activation statistics of a model.

    Args:
        model: the module to watch.
        optimizer: when given, the monitor records after each of its
            ``step`` calls (through ``register_step_post_hook``); pass the
            loss with ``record_loss`` before it. Without it, call
            ``step(loss)`` after every ``optimizer.step()``.
        detect_anomaly: run the model's forward pass in anomaly mode, so
            that ``backward`` can name the line that built the op whose
            backward produced a NaN or Inf (slower; off by default).

    Attributes:
        history: ``{"loss": [...], "grad_norm": {layer: [...]},
            "weight_norm": {...}, "update_ratio": {...},
            "dead_fraction": {activation: [...]}, "saturation": {...},
            "nonfinite": [events]}``, one entry per step.
        layers: the names of the layers watched, input to output.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any = None,
        *,
        detect_anomaly: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"GradientMonitor: `model` must be a plaingrad.nn.Module, got "
                f"{type(model).__name__}"
            )
        self.model = model
        self._params: dict[str, list[Any]] = {}
        for name, module in model.named_modules():
            own = [p for _, p in module.named_parameters(recurse=False)]
            if own:
                self._params[name or "(root)"] = own
        self.layers = list(self._params)
        self.history: dict[str, Any] = {
            "loss": [],
            "grad_norm": {n: [] for n in self.layers},
            "weight_norm": {n: [] for n in self.layers},
            "update_ratio": {n: [] for n in self.layers},
            "dead_fraction": {},
            "saturation": {},
            "nonfinite": [],
        }
        self._batch: dict[str, dict[str, float]] = {}
        self._silent: dict[str, np.ndarray] = {}  # batches since a unit fired
        self._forward_fault: str | None = None
        self._backward_fault: str | None = None
        self._pending_loss: float | None = None
        self._before = self._snapshot()
        self._handles: list[Any] = []
        for name, module in model.named_modules():
            label = name or "(root)"
            self._handles.append(module.register_forward_hook(self._watch(label)))
        if detect_anomaly:
            self._handles.append(model.register_forward_pre_hook(self._anomaly_on))
            self._handles.append(model.register_forward_hook(self._anomaly_off))
        self._anomaly_prev: Any = None
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
            self._handles.append(optimizer.register_step_post_hook(self._post_step))

    # ------------------------------------------------------------ hooks

    def _watch(self, label: str) -> Any:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            out = _array(output)
            if out is None or out.dtype.kind != "f" or not is_grad_enabled():
                return
            if self._forward_fault is None and not np.isfinite(out).all():
                given = [_array(x) for x in inputs]
                if all(g is None or np.isfinite(g).all() for g in given):
                    self._forward_fault = (
                        f"module {label} ({type(module).__name__}) turned finite "
                        f"inputs into non-finite outputs"
                    )
            stats = self._activation_stats(label, module, out)
            if stats:
                self._batch[label] = stats

        return hook

    def _activation_stats(
        self, label: str, module: nn.Module, out: np.ndarray
    ) -> dict[str, float]:
        if out.ndim == 0 or out.size == 0:
            return {}
        if isinstance(module, _DEAD_TRACKED):
            # A unit is a feature (last axis); silent: zero for every sample.
            units = out.reshape(-1, out.shape[-1])
            silent = np.all(units <= 0, axis=0)
            streak = self._silent.get(label)
            if streak is None or streak.shape != silent.shape:
                streak = np.zeros(silent.shape, dtype=np.int64)
            streak = np.where(silent, streak + 1, 0)
            self._silent[label] = streak
            return {"dead": float(np.mean(streak >= DEAD_WINDOW))}
        if isinstance(module, nn.Sigmoid):
            edge = (out < SIGMOID_MARGIN) | (out > 1 - SIGMOID_MARGIN)
            return {"saturated": float(np.mean(edge))}
        if isinstance(module, nn.Tanh):
            return {"saturated": float(np.mean(np.abs(out) > TANH_LIMIT))}
        return {}

    def _anomaly_on(self, module: nn.Module, inputs: tuple) -> None:
        self._anomaly_off(module, inputs, None)  # a forward that raised
        self._anomaly_prev = set_detect_anomaly(True)

    def _anomaly_off(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        # After a training forward pass anomaly mode stays on, so that the
        # loss computed from the output is traced too; ``backward`` or
        # ``step`` ends it. A forward pass without grad ends it at once.
        if output is not None and is_grad_enabled():
            return
        self._anomaly_end()

    def _anomaly_end(self) -> None:
        if self._anomaly_prev is not None:
            self._anomaly_prev.__exit__()
            self._anomaly_prev = None

    def _pre_step(self, optimizer: Any, args: tuple, kwargs: dict) -> None:
        self._before = self._snapshot()

    def _post_step(self, optimizer: Any, args: tuple, kwargs: dict) -> None:
        self.step(self._pending_loss)
        self._pending_loss = None

    # ------------------------------------------------------------ recording

    def _snapshot(self) -> dict[str, list[np.ndarray]]:
        return {n: [p._data.copy() for p in ps] for n, ps in self._params.items()}

    def record_loss(self, loss: Tensor | float) -> None:
        """Keep ``loss`` for the next step the optimizer hook records."""
        self._pending_loss = float(loss.item() if isinstance(loss, Tensor) else loss)

    def backward(self, loss: Tensor) -> None:
        """Run ``loss.backward()`` in anomaly mode, keeping (not raising) a
        NaN/Inf report: the op whose backward produced it."""
        try:
            with set_detect_anomaly(True):
                loss.backward()
        except RuntimeError as error:
            if "returned nan" not in str(error) and "returned inf" not in str(error):
                raise
            if self._backward_fault is None:
                self._backward_fault = str(error)
        finally:
            self._anomaly_end()

    def step(self, loss: Tensor | float | None = None) -> None:
        """Record one training step; call it after ``optimizer.step()``.

        Args:
            loss: the step's loss (a tensor or a number), or None (the loss
                verdicts then skip this step).
        """
        self._anomaly_end()
        if isinstance(loss, Tensor):
            loss = float(loss.item())
        history = self.history
        history["loss"].append(None if loss is None else float(loss))
        faults = []
        if loss is not None and not math.isfinite(loss):
            faults.append(f"the loss is {loss}")
        after = self._snapshot()
        for name, params in self._params.items():
            grads = [p.grad._data for p in params if p.grad is not None]
            grad_norm = _norm(grads)
            weight_norm = _norm(self._before[name])
            change = _norm([a - b for a, b in zip(after[name], self._before[name])])
            ratio = change / weight_norm if weight_norm > 0 else math.inf
            history["grad_norm"][name].append(grad_norm)
            history["weight_norm"][name].append(_norm(after[name]))
            history["update_ratio"][name].append(ratio)
            if not math.isfinite(grad_norm):
                faults.append(f"the gradient of layer {name} is not finite")
        self._before = after
        for label, stats in self._batch.items():
            for key, table in (("dead", "dead_fraction"), ("saturated", "saturation")):
                if key in stats:
                    history[table].setdefault(label, []).append(stats[key])
        self._batch = {}
        # the cause first: the module whose output turned non-finite, then
        # the op whose backward pass anomaly mode caught
        for fault in (self._backward_fault, self._forward_fault):
            if fault is not None:
                faults.insert(0, fault)
        self._forward_fault = self._backward_fault = None
        if faults:
            step = len(history["loss"]) - 1
            history["nonfinite"].append({"step": step, "where": "; ".join(faults)})

    # ------------------------------------------------------------ results

    def verdicts(self) -> list[Verdict]:
        """The verdicts on the steps recorded so far (see ``verdicts``)."""
        return judge(self.history)

    def remove(self) -> None:
        """Detach every hook the monitor put on the model and optimizer."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._anomaly_off(self.model, (), None)
