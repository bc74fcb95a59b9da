"""Scaling figures: an MLP's training step against batch size and depth.

Two series time one SGD step of an MLP (``Linear``/``ReLU`` layers, MSE to a
fixed random target): against the batch size at a fixed width and depth, and
against the depth at a fixed batch and width. A third records the peak memory
that building the deep models and running a few steps adds, against depth.
A least-squares line is fitted to time against depth, and to time against
batch size from ``fit_from`` up (below it the step is fixed cost, not
arithmetic); an R² of at least ``TARGET_R2`` says the growth is no worse than
linear, and the intercept is the per-step fixed cost.

Every library runs its time series in fresh processes of its own, with
alternating rounds (plaingrad, torch, plaingrad, ...); in a process each point
runs one untimed block and ``repeats`` timed blocks of as many steps as fill
``block_seconds``, and a point's figure is the median over rounds of each
round's median. Each memory point is one more fresh process. ``main`` is the
inside of such a process: like ``worker`` it imports nothing of plaingrad's
library unless it times plaingrad.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import report
from .suite import LIBRARIES, availability, run_worker
from .workloads import (
    SEED,
    init_weights,
    load_weights,
    mlp,
    timed_blocks,
    training_step,
)

TARGET_R2 = 0.98
LIBRARY_ORDER = tuple(lib for lib in LIBRARIES if lib != "numpy")


@dataclass(frozen=True)
class ScalingSpec:
    """The points of the three series and how long each is timed.

    Attributes:
        batches: batch sizes of the batch series.
        batch_width, batch_layers: the MLP of the batch series (``Linear``
            layers of ``batch_width`` in and out).
        fit_from: the smallest batch size in the batch fit.
        depths: numbers of ``Linear`` layers of the depth and memory series.
        depth_batch, depth_width: the batch and width of those series.
        memory_steps: training steps run for each memory point.
        block_seconds: the time one timed block aims to fill.
        lr: SGD's learning rate.
    """

    batches: tuple[int, ...] = tuple(2**i for i in range(13))  # 1 ... 4096
    batch_width: int = 256
    batch_layers: int = 3
    fit_from: int = 64
    depths: tuple[int, ...] = tuple(2**i for i in range(7))  # 1 ... 64
    depth_batch: int = 64
    depth_width: int = 128
    memory_steps: int = 3
    block_seconds: float = 0.05
    lr: float = 0.01


FULL = ScalingSpec()
QUICK = ScalingSpec(
    batches=(1, 16, 64, 256, 1024),
    depths=(1, 4, 16),
    memory_steps=2,
    block_seconds=0.02,
)


# ------------------------------------------------------------------ the fit


def fit_line(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """The least-squares line ``y = intercept + slope * x`` and its R².

    R² is ``1 - SS_res / SS_tot``; for constant ``y`` (``SS_tot == 0``) the
    line fits exactly and R² is 1. ``slope_se`` and ``intercept_se`` are the
    usual standard errors (residual variance over ``n - 2`` degrees of
    freedom, as ``numpy.polyfit(..., cov=True)``); None for two points.

    Raises:
        ValueError: for fewer than two points, ``x`` and ``y`` of different
            lengths, or an ``x`` with a single value.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(
            f"fit_line: `x` and `y` must be 1-D of one length, got shapes "
            f"{xs.shape} and {ys.shape}"
        )
    if len(xs) < 2 or np.ptp(xs) == 0:
        raise ValueError(
            f"fit_line: needs at least two distinct `x` values, got {xs.tolist()}"
        )
    dx = xs - xs.mean()
    slope = float(dx @ (ys - ys.mean()) / (dx @ dx))
    intercept = float(ys.mean() - slope * xs.mean())

    residual = ys - (intercept + slope * xs)
    ss_res = float(residual @ residual)
    ss_tot = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 if ss_tot == 0 else 1.0 - ss_res / ss_tot
    fit = {"slope": slope, "intercept": intercept, "r2": r2}

    # Standard errors need a residual degree of freedom: three points or more.
    fit["slope_se"] = fit["intercept_se"] = None
    if len(xs) > 2:
        variance = ss_res / (len(xs) - 2)
        sxx = float(dx @ dx)
        fit["slope_se"] = float(np.sqrt(variance / sxx))
        fit["intercept_se"] = float(
            np.sqrt(variance * (1 / len(xs) + xs.mean() ** 2 / sxx))
        )
    return fit


# -------------------------------------------------------- inside one process


def _training_step(
    lib: Any, width: int, layers: int, batch: int, lr: float
) -> tuple[Callable[[], Any], float]:
    """An SGD step of a ``layers``-deep MLP of ``width`` and the first loss."""
    sizes = (width,) * (layers + 1)
    model = mlp(lib, sizes)
    load_weights(lib, model, init_weights(sizes))
    rng = np.random.default_rng(SEED)
    x = lib.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
    y = lib.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
    optimizer = lib.optim.SGD(model.parameters(), lr=lr)
    return training_step(lib, model, optimizer, lib.nn.MSELoss(), x, y)


def time_point(
    lib: Any, spec: ScalingSpec, width: int, layers: int, batch: int, repeats: int
) -> dict[str, float]:
    """Median seconds per step at one point, and the loss before any step."""
    step, first = _training_step(lib, width, layers, batch, spec.lr)
    step()  # first calls: lazy imports, caches
    start = time.perf_counter()
    step()
    once = time.perf_counter() - start
    steps = max(1, min(2000, round(spec.block_seconds / max(once, 1e-7))))
    seconds, _ = timed_blocks(step, steps, repeats)
    return {"seconds": seconds, "steps": steps, "loss_first": first}


def memory_point(lib: Any, spec: ScalingSpec, depth: int) -> dict[str, float]:
    """Peak RSS added by building the depth-``depth`` model and a few steps."""
    from .worker import current_rss, peak_rss, reset_peak

    before = current_rss()
    reset_peak()
    step, first = _training_step(
        lib, spec.depth_width, depth, spec.depth_batch, spec.lr
    )
    for _ in range(spec.memory_steps):
        step()
    return {"bytes": peak_rss() - before, "loss_first": first}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One process's work: a round of both time series, or one memory point."""
    from .worker import _load, blas_info

    lib, result = _load(job["library"], job.get("threads"))
    spec = ScalingSpec(**{**job["spec"], "batches": (), "depths": ()})
    if job["mode"] == "memory":
        result["memory"] = memory_point(lib, spec, job["depth"])
        return result
    result["blas"] = blas_info()
    repeats = job["repeats"]
    result["batch"] = [
        time_point(lib, spec, spec.batch_width, spec.batch_layers, b, repeats)
        for b in job["spec"]["batches"]
    ]
    result["depth"] = [
        time_point(lib, spec, spec.depth_width, d, spec.depth_batch, repeats)
        for d in job["spec"]["depths"]
    ]
    return result


def main(argv: Sequence[str]) -> int:
    """Run the JSON job in ``argv[0]``; print the JSON result as one line."""
    print(json.dumps(run_job(json.loads(argv[0]))), flush=True)
    return 0


def _run(job: dict[str, Any], threads: int | None) -> dict[str, Any]:
    return run_worker(job, threads, module="scaling")


# ------------------------------------------------------------------ the runner


def run_scaling(
    spec: ScalingSpec = FULL,
    rounds: int = 3,
    repeats: int = 5,
    threads: int | None = None,
    libraries: Sequence[str] | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the three series on every installed library (or ``libraries``).

    Returns:
        The raw results: ``times`` maps each library to its rounds (each with
        ``batch`` and ``depth`` lists, one entry per point), ``memory`` to its
        memory points; ``settings`` says how, ``available`` what ran.
    """
    available = availability()
    chosen = [
        lib
        for lib in libraries or LIBRARY_ORDER
        if lib in LIBRARY_ORDER and available.get(lib) is None
    ]
    say = progress or (lambda text: None)
    before = os.getloadavg()[0]
    raw: dict[str, Any] = {
        "kind": "scaling",
        "settings": {
            "spec": dataclasses.asdict(spec),
            "rounds": rounds,
            "repeats": repeats,
            "threads": threads,
            "quick": quick,
        },
        "available": {lib: available.get(lib) for lib in LIBRARY_ORDER},
        "times": {lib: [] for lib in chosen},
        "memory": {lib: [] for lib in chosen},
    }
    job: dict[str, Any] = {"spec": raw["settings"]["spec"], "threads": threads}
    for i in range(rounds):
        for lib in chosen:
            say(f"scaling round {i + 1}/{rounds}: {lib}")
            timing = {**job, "library": lib, "mode": "time", "repeats": repeats}
            done = _run(timing, threads)
            raw["times"][lib].append(done)
    for lib in chosen:
        for depth in spec.depths:
            say(f"scaling peak memory: {lib}, depth {depth}")
            point = {**job, "library": lib, "mode": "memory", "depth": depth}
            raw["memory"][lib].append(_run(point, threads))
    raw["load_average"] = {"before": before, "after": os.getloadavg()[0]}
    return raw


# ------------------------------------------------------------------ summary


def _median_points(rounds: list[dict[str, Any]], key: str, n: int) -> list:
    """Per point, the median over the rounds that measured it (None if none)."""
    values = []
    for i in range(n):
        got = [r[key][i]["seconds"] for r in rounds if "error" not in r]
        values.append(statistics.median(got) if got else None)
    return values


def _fit(x: Sequence[int], y: Sequence[float | None], start: int) -> dict | None:
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a >= start and b is not None]
    if len({a for a, _ in pairs}) < 2:
        return None
    fit = fit_line([a for a, _ in pairs], [b for _, b in pairs])
    fit.update(start=start, points=len(pairs), linear=fit["r2"] >= TARGET_R2)
    return fit


def _losses(raw: dict[str, Any], lib: str, key: str) -> list[float]:
    rounds = [r for r in raw["times"].get(lib, []) if "error" not in r]
    return [p["loss_first"] for p in rounds[0][key]] if rounds else []


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians, fits and the loss check, as a JSON-ready dict."""
    spec = raw["settings"]["spec"]
    series: dict[str, Any] = {
        "batch": {"x": list(spec["batches"]), "unit": "s"},
        "depth": {"x": list(spec["depths"]), "unit": "s"},
        "memory": {"x": list(spec["depths"]), "unit": "bytes"},
    }
    for name, entry in series.items():
        start = spec["fit_from"] if name == "batch" else 0
        entry.update(fit_from=start, values={}, rounds={}, fit={}, noisy={})
    errors, mismatches = [], []
    for lib, rounds in raw["times"].items():
        errors += [f"{lib}: {r['error']}" for r in rounds if "error" in r]
        for key in ("batch", "depth"):
            entry = series[key]
            entry["rounds"][lib] = [
                [p["seconds"] for p in r[key]] for r in rounds if "error" not in r
            ]
            entry["values"][lib] = _median_points(rounds, key, len(entry["x"]))
            entry["fit"][lib] = _fit(
                entry["x"], entry["values"][lib], entry["fit_from"]
            )
            # As the suite's table: a point whose rounds differ by over 1.5x.
            spread = [max(p) / min(p) for p in zip(*entry["rounds"][lib]) if min(p)]
            entry["noisy"][lib] = any(r > report.NOISY for r in spread)
    for lib, points in raw["memory"].items():
        errors += [f"{lib} memory: {p['error']}" for p in points if "error" in p]
        values = [p.get("memory", {}).get("bytes") for p in points]
        series["memory"]["values"][lib] = values
        series["memory"]["fit"][lib] = _fit(series["memory"]["x"], values, 0)
    if "torch" in raw["times"]:
        for lib in raw["times"]:
            for key in ("batch", "depth"):
                got, want = _losses(raw, lib, key), _losses(raw, "torch", key)
                close = all(
                    abs(a - b) <= report.ATOL + report.RTOL * abs(b)
                    for a, b in zip(got, want, strict=False)
                )
                if lib != "torch" and got and want and not close:
                    mismatches.append(f"{lib} {key}")
    libraries: dict[str, Any] = {}
    for lib, reason in raw["available"].items():
        first = next((r for r in raw["times"].get(lib, []) if "error" not in r), {})
        keys = ("version", "threads", "blas_build", "blas")
        libraries[lib] = (
            {"skipped": reason} if reason else {k: first[k] for k in keys if k in first}
        )
    return {
        "kind": "scaling",
        "environment": report.environment(raw),
        "settings": raw["settings"],
        "libraries": libraries,
        "target_r2": TARGET_R2,
        "series": series,
        "mismatches": mismatches,
        "errors": sorted(set(errors)),
    }


# ---------------------------------------------------------------- rendering


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "bytes":
        return f"{value / 1e6:.2f}"
    return f"{value * 1e3:.3f}"


def _fit_line_text(name: str, lib: str, fit: dict | None, unit: str) -> str:
    if fit is None:
        return f"{name} fit, {lib}: n/a (fewer than two points)"
    scale, shown = (1e-6, "MB") if unit == "bytes" else (1e3, "ms")
    verdict = "linear" if fit["linear"] else f"NOT linear (R² < {TARGET_R2})"
    start = f" from {fit['start']}" if fit["start"] else ""
    error = fit.get("intercept_se")
    spread = f" ± {error * scale:.2g}" if error is not None else ""
    per = "per sample" if name == "batch" else "per layer"
    return (
        f"{name} fit{start}, {lib}: R² {fit['r2']:.4f} ({verdict}), "
        f"slope {fit['slope'] * scale:.4g} {shown} {per}, "
        f"intercept (fixed cost) {fit['intercept'] * scale:.4g}{spread} {shown}"
    )


_TITLES = {
    "batch": "time per step (ms) against batch size",
    "depth": "time per step (ms) against depth",
    "memory": "peak memory (MB) against depth",
}


def _describe(summary: dict[str, Any], name: str) -> str:
    spec = summary["settings"]["spec"]
    if name == "batch":
        return f"width {spec['batch_width']}, {spec['batch_layers']} layers, SGD"
    return f"batch {spec['depth_batch']}, width {spec['depth_width']}, SGD"


def text(summary: dict[str, Any], markdown: bool = False) -> str:
    """The three series as tables with their fits, for a terminal or Markdown."""
    env, settings = summary["environment"], summary["settings"]
    load = env.get("load_average") or {}
    lines = [
        f"python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs; "
        f"{settings['rounds']} rounds x {settings['repeats']} timed blocks"
        + (" (quick)" if settings.get("quick") else "")
        + f", threads: {settings['threads'] or 'as each library decides'}",
    ]
    if load:
        lines.append(
            f"load average (1 min): {load['before']:.2f} before, "
            f"{load['after']:.2f} after"
        )
    lines += report._blas_lines(summary)
    for name, entry in summary["series"].items():
        libs = list(entry["values"])
        rows = [
            [str(x)] + [_cell(entry["values"][lib][i], entry["unit"]) for lib in libs]
            for i, x in enumerate(entry["x"])
        ]
        header = ["depth" if name != "batch" else "batch", *libs]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines += ["", f"{_TITLES[name]} ({_describe(summary, name)})", ""]
        for i, row in enumerate([header, *rows]):
            cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
            lines.append(
                ("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells)
            )
            if markdown and i == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines.append("")
        for lib in libs:
            lines.append(_fit_line_text(name, lib, entry["fit"][lib], entry["unit"]))
            if entry["noisy"].get(lib):
                lines.append(f"  noisy: rounds differ by over {report.NOISY}x")
    lines.append("")
    lines += [f"LOSS MISMATCH in {m}" for m in summary["mismatches"]]
    lines += [f"error: {e}" for e in summary["errors"]]
    return "\n".join(lines).rstrip() + "\n"


def plot(summary: dict[str, Any], directory: str) -> list[str]:
    """One PNG per series, with the fitted lines; the paths written.

    Raises:
        ImportError: without matplotlib (``pip install plaingrad[plot]``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written = []
    for name, entry in summary["series"].items():
        scale = 1e-6 if entry["unit"] == "bytes" else 1e3
        figure, axes = plt.subplots(figsize=(6, 4))
        for lib, values in entry["values"].items():
            points = [
                (x, v * scale)
                for x, v in zip(entry["x"], values, strict=True)
                if v is not None
            ]
            if not points:
                continue
            (line,) = axes.plot(*zip(*points, strict=True), "o-", label=lib)
            fit = entry["fit"].get(lib)
            if fit is not None:
                xs = np.array([x for x, _ in points if x >= fit["start"]], float)
                axes.plot(
                    xs,
                    (fit["intercept"] + fit["slope"] * xs) * scale,
                    "--",
                    color=line.get_color(),
                    label=f"{lib} fit, R² {fit['r2']:.3f}",
                )
        if name == "batch":
            axes.set_xscale("log", base=2)
            axes.set_yscale("log")
        axes.set_xlabel("batch size" if name == "batch" else "layers")
        axes.set_ylabel("MB" if entry["unit"] == "bytes" else "ms per step")
        axes.set_title(f"{_TITLES[name]}\n{_describe(summary, name)}", fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
        path = os.path.join(directory, f"scaling_{name}.png")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
