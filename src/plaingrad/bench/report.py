"""From raw results to the table: medians, ratios, targets, the loss check.

``summarize`` turns ``suite.run_suite``'s raw results into one JSON-ready
dict (one row per workload); ``text`` and ``markdown`` render it. The loss
check compares every library's losses (before and after the steps, and W2's
gradient sum) with PyTorch's, or plaingrad's where PyTorch did not run: the
libraries started from the same weights and data, so they must agree to
float32 rounding, and a row whose libraries disagree says ``MISMATCH``.
MyGrad and HIPS autograd (``suite.OTHERS``), when they ran, get a column
each, and every row says whether plaingrad beat them (less time, or less
memory for W6); ``faster_than`` sums that up over the workloads.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from typing import Any

from .suite import BY_NAME, LIBRARIES, OPTIONAL, OTHERS

# Losses agree when |a - b| <= ATOL + RTOL * |b|.
RTOL = 2e-3
ATOL = 1e-5
_CHECKED = ("loss_first", "loss_last", "grad_sum")
# Rounds whose slowest is this many times the fastest are called noisy.
NOISY = 1.5
_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def _per_round(raw: dict[str, Any], lib: str, name: str) -> tuple[list, list, list]:
    """A library's values for one workload (in the table's unit), the result
    dicts they came from, and any skip or error notes."""
    spec = BY_NAME[name]
    if name == "import":
        values = [v * spec.scale for v in raw["imports"].get(lib, []) if _is_num(v)]
        notes = [v for v in raw["imports"].get(lib, []) if not _is_num(v)]
        return values, [], notes
    source = raw["memory"] if name == "W6" else raw["times"]
    key = "bytes" if name == "W6" else "seconds"
    values, results, notes = [], [], []
    for result in source.get(lib, []):
        done = result.get(name, result if "error" in result else None)
        if done is None:
            continue
        if key in done:
            values.append(done[key] * spec.scale)
            results.append(done)
        else:
            notes.append(done.get("skipped") or done.get("error"))
    return values, results, notes


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float))


def _check(results: dict[str, list]) -> tuple[str, str]:
    """``ok``, ``MISMATCH`` or ``n/a``, and the detail of the first mismatch."""
    ran = {lib: r[0] for lib, r in results.items() if r}
    if len(ran) < 2:
        return "n/a", "fewer than two libraries ran"
    against = "torch" if "torch" in ran else next(iter(ran))
    expected = ran[against]
    for lib, got in ran.items():
        for key in _CHECKED:
            if key not in expected or key not in got:
                continue
            a, b = got[key], expected[key]
            if not math.isfinite(a) or abs(a - b) > ATOL + RTOL * abs(b):
                return "MISMATCH", f"{lib} {key} {a:.7g} but {against} {b:.7g}"
    return "ok", f"all agree with {against}"


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The table as a JSON-ready dict: environment, libraries and rows."""
    rows = []
    for name in raw["settings"]["workloads"]:
        spec = BY_NAME[name]
        row: dict[str, Any] = {
            "workload": name,
            "label": spec.label,
            "unit": spec.unit,
            "values": {},
            "rounds": {},
            "losses": {},
            "notes": {},
        }
        results = {}
        for lib in (*LIBRARIES, *OTHERS):
            values, results[lib], notes = _per_round(raw, lib, name)
            row["values"][lib] = statistics.median(values) if values else None
            row["rounds"][lib] = values
            if results[lib]:
                first = results[lib][0]
                row["losses"][lib] = {k: first[k] for k in _CHECKED if k in first}
            if notes:
                row["notes"][lib] = notes[0]
        pg, th, ref = (row["values"][lib] for lib in LIBRARIES)
        row["vs_torch"] = pg / th if pg is not None and th else None
        row["vs_numpy"] = pg / ref if pg is not None and ref else None
        row["target"] = _target_text(spec)
        row["met"] = _met(spec, row)
        row["faster"] = _faster(row["values"])
        row["check"], row["check_detail"] = (
            ("n/a", "no losses") if name == "import" else _check(results)
        )
        rows.append(row)
    return {
        "environment": environment(raw),
        "settings": raw["settings"],
        "libraries": _libraries(raw),
        "rows": rows,
        "mismatches": [r["workload"] for r in rows if r["check"] == "MISMATCH"],
        "faster_than": _faster_than(rows),
        "errors": _errors(raw),
    }


def _target_text(spec: Any) -> str:
    if spec.against == "absolute":
        return f"<= {spec.target:g} {spec.unit}"
    if spec.name == "W4":
        return "within 10% of numpy"
    return f"<= {spec.target:g}x {spec.against}"


def _met(spec: Any, row: dict[str, Any]) -> bool | None:
    value = {
        "torch": row["vs_torch"],
        "numpy": row["vs_numpy"],
        "absolute": row["values"]["plaingrad"],
    }[spec.against]
    return None if value is None else value <= spec.target


def _faster(values: dict[str, float | None]) -> dict[str, bool]:
    """For each of ``OTHERS`` that has a value: is plaingrad's smaller?"""
    pg = values["plaingrad"]
    faster = {}
    for lib in OTHERS:
        other = values.get(lib)
        if pg is not None and other is not None:
            faster[lib] = pg < other
    return faster


def _faster_than(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per library of ``OTHERS``: the workloads compared, those where plaingrad
    was not faster, and ``every`` (None when no workload was compared)."""
    out = {}
    for lib in OTHERS:
        compared = [r["workload"] for r in rows if lib in r["faster"]]
        slower = [r["workload"] for r in rows if r["faster"].get(lib) is False]
        every = not slower if compared else None
        out[lib] = {"every": every, "compared": compared, "not_faster": slower}
    return out


def _libraries(raw: dict[str, Any]) -> dict[str, Any]:
    """Each library's version, thread count and BLAS, or why it did not run."""
    out: dict[str, Any] = {}
    for lib in (*LIBRARIES, *OTHERS, *OPTIONAL):
        reason = raw["available"].get(lib)
        runs = raw["times"].get(lib, []) + raw["memory"].get(lib, [])
        first = next((r for r in runs if "error" not in r), None)
        if reason is not None:
            out[lib] = {"skipped": reason}
        elif first is None:
            out[lib] = {"ran": bool(raw["imports"].get(lib))}
        else:
            keys = ("version", "threads", "blas_build", "blas")
            out[lib] = {k: first[k] for k in keys if k in first}
    return out


def _errors(raw: dict[str, Any]) -> list[str]:
    errors = []
    for source in ("times", "memory"):
        for lib, results in raw[source].items():
            for result in results:
                if "error" in result:
                    errors.append(f"{lib}: {result['error']}")
                for name, done in result.items():
                    if isinstance(done, dict) and "error" in done:
                        errors.append(f"{lib} {name}: {done['error']}")
    for lib, values in raw["imports"].items():
        errors += [f"{lib} import: {v}" for v in values if not _is_num(v)]
    return sorted(set(errors))


def environment(raw: dict[str, Any]) -> dict[str, Any]:
    """The machine, Python, NumPy and the BLAS settings in force."""
    import numpy as np

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "env": {v: os.environ[v] for v in _ENV_VARS if v in os.environ},
        "load_average": raw.get("load_average"),
    }


# ------------------------------------------------------------------ rendering


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 10 ** (-digits) * 10 and value != 0:
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "MISSED"


def _beats(faster: dict[str, bool]) -> str:
    """``yes`` when plaingrad beat every other library that ran, else whom not."""
    if not faster:
        return "n/a"
    behind = [OTHERS[lib] for lib, won in faster.items() if not won]
    return "no: " + ", ".join(behind) if behind else "yes"


def _cells(row: dict[str, Any]) -> list[str]:
    digits = 3 if row["unit"] == "s" else 1
    return [
        row["workload"],
        row["unit"],
        *(_fmt(row["values"][lib], digits) for lib in (*LIBRARIES, *OTHERS)),
        _ratio(row["vs_torch"]),
        _ratio(row["vs_numpy"]),
        row["target"],
        _verdict(row["met"]),
        _beats(row["faster"]),
        row["check"],
    ]


_HEADER = [
    "workload",
    "unit",
    "plaingrad",
    "torch",
    "numpy",
    *OTHERS.values(),
    "pg/torch",
    "pg/numpy",
    "target",
    "met",
    "pg faster",
    "losses",
]
# The columns of words, left-aligned in the text table.
_LEFT = {_HEADER.index(name) for name in ("workload", "unit", "target", "pg faster")}


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _blas_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for lib, info in summary["libraries"].items():
        if "skipped" in info:
            lines.append(f"{lib}: {info['skipped']}")
            continue
        head = f"{lib} {info.get('version', '')}".strip()
        if info.get("threads") is not None:
            head += f", {_threads(info['threads'])}"
        if info.get("blas_build"):
            head += f", built with BLAS {info['blas_build']}"
        pools = [
            " ".join(filter(None, (p["library"], p.get("version"))))
            + f" ({p.get('kernel') or 'kernel unknown'}, {_threads(p['threads'])})"
            for p in info.get("blas", [])
        ]
        lines.append(head + (": " + "; ".join(pools) if pools else ""))
    return lines


def _header_lines(summary: dict[str, Any]) -> list[str]:
    env = summary["environment"]
    settings = summary["settings"]
    set_vars = ", ".join(f"{k}={v}" for k, v in env["env"].items()) or "none"
    load = env.get("load_average") or {}
    lines = [
        f"python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs "
        f"({env['processor']}); BLAS env vars set: {set_vars}",
        f"{settings['rounds']} rounds x {settings['repeats']} timed blocks"
        + (" (quick)" if settings["quick"] else "")
        + f", threads: {settings['threads'] or 'as each library decides'}",
    ]
    if settings.get("compiled"):
        lines.append("plaingrad's steps run through plaingrad.compile (--compile)")
    if load:
        lines.append(
            f"load average (1 min): {load['before']:.2f} before, "
            f"{load['after']:.2f} after"
        )
    return lines


def _faster_lines(summary: dict[str, Any]) -> list[str]:
    """One line per library of ``OTHERS`` that ran: did plaingrad beat it on
    every workload (the issue's target)?"""
    lines = []
    for lib, verdict in summary["faster_than"].items():
        if verdict["every"] is None:
            continue
        counted = f"{len(verdict['compared'])} workloads compared"
        if verdict["every"]:
            answer = f"yes ({counted})"
        else:
            answer = f"NO, not on {', '.join(verdict['not_faster'])} ({counted})"
        lines.append(f"plaingrad faster than {OTHERS[lib]} on every workload: {answer}")
    return lines


def _footer_lines(summary: dict[str, Any]) -> list[str]:
    lines = _faster_lines(summary)
    for row in summary["rows"]:
        for lib, note in row["notes"].items():
            lines.append(f"{row['workload']} {lib}: {note}")
        rounds = [v for v in row["rounds"].values() if len(v) > 1 and min(v) > 0]
        if any(max(v) > NOISY * min(v) for v in rounds):
            lines.append(
                f"{row['workload']}: noisy (rounds differ by more than {NOISY}x)"
            )
    for name in summary["mismatches"]:
        row = next(r for r in summary["rows"] if r["workload"] == name)
        lines.append(f"LOSS MISMATCH in {name}: {row['check_detail']}")
    lines += [f"error: {e}" for e in summary["errors"]]
    return lines


def text(summary: dict[str, Any]) -> str:
    """The table for a terminal, with its header and footnotes."""
    table = [_HEADER] + [_cells(row) for row in summary["rows"]]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADER))]
    lines = _header_lines(summary) + _blas_lines(summary) + [""]
    for i, line in enumerate(table):
        cells = [
            cell.ljust(w) if j in _LEFT else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(line, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("-" * len(lines[-1]))
    lines.append("")
    lines += [f"{r['workload']:<11} {r['label']}" for r in summary["rows"]]
    lines.append("medians over rounds; pg = plaingrad; numpy = hand-written NumPy")
    lines.append("pg faster: plaingrad took less time (W6: memory) than MyGrad and")
    lines.append("HIPS autograd, where they ran")
    footer = _footer_lines(summary)
    if footer:
        lines += [""] + footer
    return "\n".join(lines) + "\n"


def markdown(summary: dict[str, Any]) -> str:
    """The same table as a Markdown document."""
    lines = ["# plaingrad benchmark suite (issue 7)", ""]
    lines += [f"- {line}" for line in _header_lines(summary) + _blas_lines(summary)]
    lines += ["", "| " + " | ".join(_HEADER) + " |"]
    lines.append("|" + "---|" * len(_HEADER))
    for row in summary["rows"]:
        cells = _cells(row)
        cells[0] = f"{row['workload']}: {row['label']}"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Medians over rounds; numpy is the hand-written NumPy reference."]
    footer = _footer_lines(summary)
    if footer:
        lines += [""] + [f"- {line}" for line in footer]
    return "\n".join(lines) + "\n"
