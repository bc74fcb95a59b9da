"""Training-stability verdicts, each one measure compared with one threshold.

The verdicts read the history a ``GradientMonitor`` records (per-layer
gradient norms, weight norms, update-to-weight ratios, activation statistics
and the loss, one entry per optimizer step) and never touch the model. Every
threshold below comes from what its measure means, not from one training run;
``docs/verdicts.md`` gives the reasoning at more length.

- ``vanishing_gradients``: a layer's gradient norm, divided by the last
  layer's, has a median over the steps below ``VANISHING_RATIO`` (1e-3).
  Below that, with the same learning rate, the layer learns a thousand times
  more slowly than the output layer: in practice it does not learn.
- ``exploding_gradients``: the loss diverges (it turns non-finite, or some
  step's loss is above ``DIVERGENCE_FACTOR`` (1.5) times the first step's,
  although training should lower it, and the last step's loss is still above
  the first's: a jump the run recovered from is not an explosion) and some
  step's largest per-layer
  update-to-weight ratio is above ``UPDATE_RATIO_EXPLODING`` (1): that step
  changed a layer by more than its own size, replacing the weights rather
  than refining them.
- ``dead_units``: a unit is dead once its output has been exactly zero for
  every sample of ``DEAD_WINDOW`` (10) batches in a row (a ReLU that no input
  makes fire; a single batch is too few samples to say so of a deep, narrow
  layer); a layer is flagged when the mean dead fraction over the last half
  of the steps is above ``DEAD_FRACTION`` (0.5): most of the layer passes
  neither signal nor gradient.
- ``saturation``: an output of a sigmoid within 0.01 of 0 or 1, or of a tanh
  with ``|y| > 0.99``, has a local derivative below 4% (sigmoid) or 2% (tanh)
  of its maximum; a layer is flagged when more than ``SATURATED_FRACTION``
  (0.5) of its outputs are saturated, averaged over the last half.
- ``loss_spike``: a step's loss is above ``SPIKE_FACTOR`` (2) times the
  largest loss of the ``SPIKE_WINDOW`` (20) steps before it, and above
  ``SPIKE_FLOOR`` (0.1) times the first step's loss. Batch-to-batch noise is
  already inside that window's maximum, so only a jump beyond any recent
  loss counts; and a jump among losses that are all tiny beside where
  training started (0.01 to 0.03 after starting at 2.3) undoes no real
  progress. The value is the largest such ratio.
- ``nonfinite``: the loss, a gradient or a module output was NaN or Inf. The
  verdict names the first module whose output turned non-finite from finite
  inputs, and the op anomaly mode reported when ``GradientMonitor.backward``
  ran the backward pass.
- ``lr_too_high``: the median, over the steps, of the largest per-layer
  update-to-weight ratio is above ``UPDATE_RATIO_HIGH`` (0.1) in a run that
  did not explode: each step changes some layer by over a tenth of its norm.
- ``lr_too_low``: the same median is below ``UPDATE_RATIO_LOW`` (1e-5): even
  the fastest layer would need about 1e5 steps to change by its own size.
  The widely used rule of thumb is a ratio near 1e-3; the two thresholds sit
  two orders of magnitude either side of it.

When none of these applies, ``judge`` returns the single verdict ``healthy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

VANISHING_RATIO = 1e-3
DIVERGENCE_FACTOR = 1.5
UPDATE_RATIO_HIGH = 0.1
UPDATE_RATIO_EXPLODING = 1.0
UPDATE_RATIO_LOW = 1e-5
DEAD_FRACTION = 0.5
DEAD_WINDOW = 10
SATURATED_FRACTION = 0.5
SPIKE_FACTOR = 2.0
SPIKE_WINDOW = 20
SPIKE_FLOOR = 0.1

HEALTHY = "healthy"
VANISHING = "vanishing_gradients"
EXPLODING = "exploding_gradients"
DEAD_UNITS = "dead_units"
SATURATION = "saturation"
LOSS_SPIKE = "loss_spike"
NONFINITE = "nonfinite"
LR_TOO_HIGH = "lr_too_high"
LR_TOO_LOW = "lr_too_low"


@dataclass
class Verdict:
    """One finding about a training run.

    Attributes:
        name: one of the names above (``"vanishing_gradients"``, ...).
        message: the finding in plain English, with its numbers.
        measure: what was measured, in words.
        threshold: the value the measure was compared with (None for
            ``healthy`` and ``nonfinite``).
        value: the measured value that crossed it (None when per layer).
        layers: per-layer values behind the verdict (``{"0": 1e-5, ...}``).
    """

    name: str
    message: str
    measure: str = ""
    threshold: float | None = None
    value: float | None = None
    layers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the verdict."""
        return {
            "name": self.name,
            "message": self.message,
            "measure": self.measure,
            "threshold": self.threshold,
            "value": self.value,
            "layers": dict(self.layers),
        }


def _median(values: list[float]) -> float:
    finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return math.nan
    mid = len(finite) // 2
    if len(finite) % 2:
        return finite[mid]
    return 0.5 * (finite[mid - 1] + finite[mid])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _losses(history: dict[str, Any]) -> list[float]:
    """The recorded losses; steps recorded without one are left out."""
    return [v for v in history["loss"] if v is not None]


def _tail(values: list[Any], fraction: float) -> list[Any]:
    count = max(1, math.ceil(len(values) * fraction))
    return values[-count:]


def vanishing(history: dict[str, Any]) -> Verdict | None:
    """Layers whose gradient norm is below 1e-3 of the last layer's."""
    norms = history["grad_norm"]
    if len(norms) < 2:
        return None
    names = list(norms)
    last = norms[names[-1]]
    ratios = {}
    for name in names[:-1]:
        steps = [g / lg for g, lg in zip(norms[name], last) if lg > 0]
        ratios[name] = _median(steps) if steps else math.nan
    low = {n: r for n, r in ratios.items() if r < VANISHING_RATIO}
    if not low:
        return None
    # The collapse: walking from the output back, the first layer below it.
    collapse = next(n for n in reversed(names[:-1]) if n in low)
    return Verdict(
        VANISHING,
        f"vanishing gradients: {len(low)} of {len(names)} layers have a gradient "
        f"norm below {VANISHING_RATIO:g} of the last layer's (layer {names[-1]}); the "
        f"norm collapses at layer {collapse} (ratio {low[collapse]:.2e}); "
        f"layers: {', '.join(low)}",
        "median over steps of each layer's gradient norm / the last layer's",
        VANISHING_RATIO,
        min(low.values()),
        low,
    )


def _largest_ratio_per_step(history: dict[str, Any]) -> list[float]:
    per_layer = list(history["update_ratio"].values())
    if not per_layer:
        return []
    steps = []
    for values in zip(*per_layer):
        finite = [v for v in values if math.isfinite(v)]
        steps.append(max(finite) if len(finite) == len(values) else math.inf)
    return steps


def _loss_diverging(losses: list[float]) -> bool:
    if len(losses) < 2:
        return False
    if not all(math.isfinite(v) for v in losses):
        return True
    return max(losses) > DIVERGENCE_FACTOR * losses[0] and losses[-1] > losses[0]


def exploding(history: dict[str, Any]) -> Verdict | None:
    """The loss diverging while some step changed a layer by over its size."""
    losses = _losses(history)
    ratios = _largest_ratio_per_step(history)
    if not _loss_diverging(losses) or not ratios:
        return None
    value = max(ratios)
    if not value > UPDATE_RATIO_EXPLODING:
        return None
    finite = [v for v in losses if math.isfinite(v)]
    peak = max(finite) if len(finite) == len(losses) else math.inf
    return Verdict(
        EXPLODING,
        f"exploding gradients: the loss rose from {losses[0]:.3g} to {peak:.3g} "
        f"while the largest update-to-weight ratio reached {value:.3g} "
        f"(threshold {UPDATE_RATIO_EXPLODING:g}: a step changed a layer by more "
        f"than its own size)",
        "largest loss / first loss, and largest per-layer update/weight ratio",
        UPDATE_RATIO_EXPLODING,
        value,
        {n: max(v) for n, v in history["update_ratio"].items() if v},
    )


def _fraction_verdict(
    stats: dict[str, list[float]], threshold: float, name: str, what: str
) -> Verdict | None:
    means = {n: _mean(_tail(v, 0.5)) for n, v in stats.items() if v}
    high = {n: m for n, m in means.items() if m > threshold}
    if not high:
        return None
    listed = ", ".join(f"{n}: {m:.0%}" for n, m in high.items())
    return Verdict(
        name,
        f"{what} in {len(high)} layer{'' if len(high) == 1 else 's'} "
        f"(threshold {threshold:.0%}): {listed}",
        f"mean over the last half of the steps of the fraction of {what}",
        threshold,
        None,
        high,
    )


def dead_units(history: dict[str, Any]) -> Verdict | None:
    """Layers where more than half of the units never fire in a batch."""
    return _fraction_verdict(
        history["dead_fraction"], DEAD_FRACTION, DEAD_UNITS, "dead units"
    )


def saturation(history: dict[str, Any]) -> Verdict | None:
    """Layers where more than half of the sigmoid/tanh outputs saturate."""
    return _fraction_verdict(
        history["saturation"], SATURATED_FRACTION, SATURATION, "saturated outputs"
    )


def loss_spikes(history: dict[str, Any]) -> Verdict | None:
    """Steps whose loss is over twice the largest of the 20 before it."""
    losses = _losses(history)
    spikes: list[tuple[int, float]] = []
    floor = SPIKE_FLOOR * losses[0] if losses else 0.0
    for step in range(SPIKE_WINDOW, len(losses)):
        recent = max(losses[step - SPIKE_WINDOW : step])
        loss = losses[step]
        if math.isfinite(loss) and loss > SPIKE_FACTOR * recent and loss > floor:
            spikes.append((step, loss / recent if recent > 0 else math.inf))
    if not spikes:
        return None
    where = ", ".join(str(step) for step, _ in spikes[:10])
    where += " ..." if len(spikes) > 10 else ""
    value = max(ratio for _, ratio in spikes)
    return Verdict(
        LOSS_SPIKE,
        f"loss spike{'s' if len(spikes) > 1 else ''} at step"
        f"{'s' if len(spikes) > 1 else ''} {where}: up to {value:.3g} times the "
        f"largest loss of the {SPIKE_WINDOW} steps before",
        f"loss / the largest loss of the {SPIKE_WINDOW} steps before (counted "
        f"when the loss is also above {SPIKE_FLOOR:g} x the first)",
        SPIKE_FACTOR,
        value,
    )


def nonfinite(history: dict[str, Any]) -> Verdict | None:
    """The first NaN or Inf seen, with the module and op that made it."""
    events = history["nonfinite"]
    if not events:
        return None
    first = events[0]
    return Verdict(
        NONFINITE,
        f"non-finite values from step {first['step']}: {first['where']}",
        "NaN/Inf in the loss, a gradient or a module output",
    )


def learning_rate(history: dict[str, Any], exploded: bool) -> Verdict | None:
    """The learning rate judged from the largest update-to-weight ratio."""
    value = _median(_largest_ratio_per_step(history))
    if math.isnan(value):
        return None
    layers = {n: _median(v) for n, v in history["update_ratio"].items()}
    if exploded:
        return None  # the ratios after an explosion say nothing about the lr
    if value > UPDATE_RATIO_HIGH:
        return Verdict(
            LR_TOO_HIGH,
            f"learning rate too high: the largest update-to-weight ratio has a "
            f"median of {value:.3g} per step (threshold {UPDATE_RATIO_HIGH:g})",
            "median over steps of the largest per-layer update/weight ratio",
            UPDATE_RATIO_HIGH,
            value,
            layers,
        )
    if value < UPDATE_RATIO_LOW:
        return Verdict(
            LR_TOO_LOW,
            f"learning rate too low: the largest update-to-weight ratio has a "
            f"median of {value:.3g} per step (threshold {UPDATE_RATIO_LOW:g})",
            "median over steps of the largest per-layer update/weight ratio",
            UPDATE_RATIO_LOW,
            value,
            layers,
        )
    return None


def judge(history: dict[str, Any]) -> list[Verdict]:
    """Every verdict that applies to ``history``, or ``[healthy]``.

    Args:
        history: the dict ``GradientMonitor.history`` holds.

    Returns:
        A list of ``Verdict``; ``[Verdict("healthy", ...)]`` when no
        measure crossed its threshold.
    """
    blown = exploding(history)
    found = [
        nonfinite(history),
        blown,
        vanishing(history),
        dead_units(history),
        saturation(history),
        loss_spikes(history),
        learning_rate(history, blown is not None),
    ]
    verdicts = [v for v in found if v is not None]
    if verdicts:
        return verdicts
    steps = len(history["loss"])
    return [
        Verdict(HEALTHY, f"healthy: no measure crossed its threshold in {steps} steps")
    ]
