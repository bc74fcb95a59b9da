"""Data-parallel throughput: one process against two MPI ranks on W4's MLP.

The model is issue 7's W4: an MLP 784-1024-1024-10 (1,863,690 float32
parameters), cross-entropy, SGD lr 0.01, on a fixed global batch of 256
standard-normal rows. Each configuration runs in fresh processes:

- ``1 proc x 1 thread``: one process, one BLAS thread, the whole batch;
- ``1 proc x 2 threads``: one process, two BLAS threads;
- ``2 ranks x 1 thread (DDP)``: ``mpiexec -n 2``, one BLAS thread each, each
  rank steps on its 128 rows through ``DistributedDataParallel``;
- ``half batch, 1 proc``: the compute of one rank's share alone (128 rows,
  one thread, no communication);
- ``half batch, 2 procs at once``: both ranks' compute side by side, with no
  communication (what the two cores give when both are busy);
- ``all-reduce of the gradient``: ``plaingrad.distributed.all_reduce`` of
  one flat float32 tensor as large as the gradient, on 2 ranks, and mpi4py's
  ``Allreduce`` of the same NumPy array (MPI's own cost), then of a range of
  sizes, which give ``alpha`` and the bandwidth of ``t = alpha + bytes /
  bandwidth``.

The DDP overhead is the DDP step minus the half-batch compute (alone, and
with both cores busy). Rounds alternate the configurations; each process runs
one untimed block of steps, then timed blocks, and the table shows the median
over rounds of each process's median. The losses after the same steps of the
one-process and the DDP runs are printed side by side: they must agree.

Run from a checkout, installed or not: ``python benchmarks/ddp_throughput.py``
(``--help`` for the options; ``--json`` and ``--markdown`` write the results).
It needs mpi4py and ``mpiexec`` (the ``mpi`` extra). Timings, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

# The checkout's plaingrad, whether or not it is installed.
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

SIZES = (784, 1024, 1024, 10)
BATCH = 256
LR = 0.01
RANKS = 2
# The all-reduce sizes fitted to alpha + bytes / bandwidth (float32 elements).
SWEEP = (1, 1_000, 10_000, 100_000, 1_000_000, 4_000_000)


# ------------------------------------------------------------------ workers


def _model(sizes: tuple, lib: Any) -> Any:
    from plaingrad.bench.workloads import init_weights, load_weights, mlp

    model = mlp(lib, sizes)
    load_weights(lib, model, init_weights(sizes))
    return model


def _data(sizes: tuple, batch: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    return x, rng.integers(0, sizes[-1], size=batch)


def _timed(step: Any, steps: int, repeats: int, sync: Any = None) -> float:
    """Median seconds per step over ``repeats`` blocks, after one untimed block;
    ``sync()`` lines the ranks up before each block."""
    for _ in range(steps):
        step()
    times = []
    for _ in range(repeats):
        if sync is not None:
            sync()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def _sgd_step(lib: Any, model: Any, x: Any, y: Any) -> Any:
    optimizer = lib.optim.SGD(model.parameters(), lr=LR)
    loss_fn = lib.nn.CrossEntropyLoss()
    losses = []

    def step() -> None:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    return step, losses


def work_steps(job: dict[str, Any]) -> dict[str, Any]:
    """Time SGD steps: on the whole batch (``rows`` None) or on this rank's
    ``rows`` of it, through DDP when ``job['ddp']``."""
    import plaingrad as lib

    sizes, threads = tuple(job["sizes"]), job["threads"]
    lib.set_num_threads(threads)
    dist = None
    rank, world = 0, 1
    if job["mpi"]:
        import plaingrad.distributed as dist

        dist.init_process_group("mpi")
        lib.set_num_threads(threads)  # as asked, whatever init chose
        rank, world = dist.get_rank(), dist.get_world_size()
    x_np, y_np = _data(sizes, job["batch"])
    if job["share"]:
        rows = job["batch"] // world
        mine = slice(rank * rows, (rank + 1) * rows)
        x_np, y_np = x_np[mine], y_np[mine]
    model = _model(sizes, lib)
    buckets = None
    if job["ddp"]:
        cap = job.get("bucket_cap_mb")
        model = lib.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=cap)
        buckets = len(getattr(model, "_bucket_indices", [])) or None
    x, y = lib.from_numpy(x_np.copy()), lib.from_numpy(y_np.copy())
    step, losses = _sgd_step(lib, model, x, y)
    sync = dist.barrier if dist is not None else None
    seconds = _timed(step, job["steps"], job["repeats"], sync)
    result = {
        "seconds": seconds,
        "loss_last": losses[-1],
        "steps_taken": len(losses),
        "threads": lib.get_num_threads(),
        "buckets": buckets,
    }
    if dist is not None:
        result = _slowest(dist, lib, result)
        if job["ddp"]:
            result["loss_last"] = _mean(dist, lib, losses[-1])
    return result if rank == 0 else {}


def _slowest(dist: Any, lib: Any, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the slowest rank's seconds (the job's pace)."""
    value = lib.tensor([result["seconds"]], dtype=lib.float64)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return {**result, "seconds": value.item()}


def _mean(dist: Any, lib: Any, number: float) -> float:
    value = lib.tensor([number], dtype=lib.float64)
    dist.all_reduce(value, op=dist.ReduceOp.AVG)
    return value.item()


def work_allreduce(job: dict[str, Any]) -> dict[str, Any]:
    """Time all-reduces (SUM, float32) of the gradient's size and of ``SWEEP``."""
    import numpy as np

    import plaingrad as lib
    import plaingrad.distributed as dist

    dist.init_process_group("mpi")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD.Dup()
    count = job["parameters"]
    flat = lib.zeros(count)
    array = np.zeros(count, dtype=np.float32)
    steps, repeats = job["steps"], job["repeats"]

    def ours() -> None:
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)

    def theirs() -> None:
        comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)

    result = {
        "parameters": count,
        "seconds": _timed(ours, steps, repeats, dist.barrier),
        "mpi4py_seconds": _timed(theirs, steps, repeats, comm.Barrier),
        "sweep": [],
    }
    for elements in job["sweep"]:
        buffer = np.zeros(elements, dtype=np.float32)
        reps = max(3, min(200, 2_000_000 // max(elements, 1)))

        def sized(buffer: Any = buffer) -> None:
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)

        result["sweep"].append(
            {"bytes": 4 * elements, "seconds": _timed(sized, reps, 3, comm.Barrier)}
        )
    slowest = lib.tensor([result["seconds"], result["mpi4py_seconds"]])
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    result["seconds"], result["mpi4py_seconds"] = slowest.tolist()
    comm.Free()
    return result if dist.get_rank() == 0 else {}


def worker(argv: list[str]) -> int:
    job = json.loads(argv[0])
    run = work_allreduce if job["kind"] == "allreduce" else work_steps
    out = run(job)
    if out:
        print(json.dumps(out), flush=True)
    return 0


# ------------------------------------------------------------------ runner


def _mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the ``mpi`` extra's), or on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit(
            "ddp_throughput: no mpiexec found; install the 'mpi' extra: "
            "pip install 'plaingrad[mpi]'"
        )
    return found


def _environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.abspath(SRC), env.get("PYTHONPATH")) if p
    )
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    return env


def _launch(job: dict[str, Any], ranks: int) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]
    if ranks > 1:
        command = [_mpiexec(), "-n", str(ranks), *command]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=_environment(job.get("threads", 1)),
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise RuntimeError(f"{job['name']}: {tail}")
    return json.loads(lines[-1])


def configurations(
    sizes: tuple, batch: int, caps: list[float]
) -> list[tuple[dict[str, Any], int]]:
    """(job, ranks) for every line of the table, in the order of a round;
    the DDP run again with each bucket size of ``caps`` (MiB) at the end."""

    def steps(name: str, threads: int, mpi: bool, share: bool, ddp: bool) -> dict:
        return {
            "kind": "steps",
            "name": name,
            "sizes": list(sizes),
            "batch": batch,
            "threads": threads,
            "mpi": mpi,
            "share": share,
            "ddp": ddp,
        }

    half = dict(steps("half batch, 1 proc", 1, False, False, False))
    half["batch"] = batch // RANKS
    bucketed = []
    for cap in caps:
        job = steps(f"{RANKS} ranks, DDP, {cap:g} MiB buckets", 1, True, True, True)
        bucketed.append(({**job, "bucket_cap_mb": cap}, RANKS))
    return [
        (steps("1 proc x 1 thread", 1, False, False, False), 1),
        (steps("1 proc x 2 threads", 2, False, False, False), 1),
        (steps(f"{RANKS} ranks x 1 thread (DDP)", 1, True, True, True), RANKS),
        (half, 1),
        (
            steps(f"half batch, {RANKS} procs at once", 1, True, True, False),
            RANKS,
        ),
        *bucketed,
    ]


def parameter_count(sizes: tuple) -> int:
    """Weights and biases of the MLP ``sizes``: sum of (fan_in + 1) * fan_out."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = tuple(args.sizes)
    jobs = configurations(sizes, args.batch, args.bucket_caps)
    rounds: dict[str, list[dict[str, Any]]] = {job["name"]: [] for job, _ in jobs}
    reduce_job = {
        "kind": "allreduce",
        "name": "all-reduce",
        "parameters": parameter_count(sizes),
        "sweep": list(args.sweep),
        "threads": 1,
        "steps": args.steps,
        "repeats": args.repeats,
    }
    reduces = []
    for index in range(args.rounds):
        order = jobs if index % 2 == 0 else jobs[::-1]  # alternate the order
        for job, ranks in order:
            job = {**job, "steps": args.steps, "repeats": args.repeats}
            rounds[job["name"]].append(_launch(job, ranks))
        reduces.append(_launch(reduce_job, RANKS))
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    return summarize(sizes, args.batch, rounds, reduces)


def _median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def summarize(
    sizes: tuple, batch: int, rounds: dict[str, list], reduces: list
) -> dict[str, Any]:
    """Medians over rounds, throughputs, the all-reduce fit and the overheads."""
    lines = []
    for name, results in rounds.items():
        seconds = _median(results, "seconds")
        rows = batch // RANKS if name.startswith("half batch, 1") else batch
        lines.append(
            {
                "name": name,
                "ms_per_step": seconds * 1e3,
                "steps_per_s": 1.0 / seconds,
                "samples_per_s": rows / seconds,
                "rows_per_step": rows,
                "loss_last": results[-1]["loss_last"],
                "buckets": results[-1].get("buckets"),
            }
        )
    by_name = {line["name"]: line for line in lines}
    names = list(by_name)
    single, ddp, alone, together = (by_name[n] for n in (names[0], *names[2:5]))
    sweep = [
        {
            "bytes": point["bytes"],
            "seconds": statistics.median(
                r["sweep"][i]["seconds"] for r in reduces if r["sweep"]
            ),
        }
        for i, point in enumerate(reduces[0]["sweep"])
    ]
    return {
        "model": "MLP " + "-".join(map(str, sizes)),
        "parameters": parameter_count(sizes),
        "gradient_bytes": 4 * parameter_count(sizes),
        "global_batch": batch,
        "ranks": RANKS,
        "rounds": len(reduces),
        "lines": lines,
        "allreduce_ms": _median(reduces, "seconds") * 1e3,
        "allreduce_mpi4py_ms": _median(reduces, "mpi4py_seconds") * 1e3,
        "sweep": sweep,
        "fit": fit_alpha_beta(sweep),
        "overhead_vs_alone_ms": ddp["ms_per_step"] - alone["ms_per_step"],
        "overhead_vs_together_ms": ddp["ms_per_step"] - together["ms_per_step"],
        "speedup_ddp_vs_1_thread": single["ms_per_step"] / ddp["ms_per_step"],
        "loss_1_proc": single["loss_last"],
        "loss_ddp": ddp["loss_last"],
    }


def fit_alpha_beta(sweep: list[dict[str, float]]) -> dict[str, float] | None:
    """``seconds = alpha + bytes / bandwidth`` through the sweep's ends: alpha
    is the smallest message's time, the bandwidth the largest message's bytes
    over its time less alpha (a least-squares line would let the large
    messages' noise swamp the microsecond intercept)."""
    if len(sweep) < 2:
        return None
    small, large = (
        min(sweep, key=lambda p: p["bytes"]),
        max(sweep, key=lambda p: p["bytes"]),
    )
    alpha = small["seconds"]
    spent = large["seconds"] - alpha
    return {
        "alpha_us": alpha * 1e6,
        "bandwidth_GBps": large["bytes"] / spent / 1e9 if spent > 0 else float("inf"),
    }


def text(summary: dict[str, Any], markdown: bool = False) -> str:
    """The table and the figures below it."""
    head = ("configuration", "ms/step", "steps/s", "samples/s", "vs 1x1")
    base = summary["lines"][0]["ms_per_step"]
    rows = [
        (
            line["name"] + _buckets(line),
            f"{line['ms_per_step']:.2f}",
            f"{line['steps_per_s']:.2f}",
            f"{line['samples_per_s']:.0f}",
            f"{base / line['ms_per_step']:.2f}x",
        )
        for line in summary["lines"]
    ]
    rows.append(
        (
            f"all-reduce alone, {summary['parameters']:,} float32",
            f"{summary['allreduce_ms']:.2f}",
            "",
            "",
            "",
        )
    )
    rows.append(
        (
            "  the same, mpi4py alone",
            f"{summary['allreduce_mpi4py_ms']:.2f}",
            "",
            "",
            "",
        )
    )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
        out = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    fit = summary["fit"]
    out += [
        "",
        f"{summary['model']} ({summary['parameters']:,} parameters, "
        f"{summary['gradient_bytes'] / 1e6:.2f} MB of float32 gradient), global "
        f"batch {summary['global_batch']}, {summary['ranks']} ranks, "
        f"median of {summary['rounds']} rounds.",
        f"DDP overhead per step: {summary['overhead_vs_alone_ms']:.2f} ms over the "
        f"half-batch compute alone, {summary['overhead_vs_together_ms']:.2f} ms "
        "over the half-batch compute with both cores busy.",
        f"Loss after the same steps: 1 process {summary['loss_1_proc']:.6f}, "
        f"DDP {summary['loss_ddp']:.6f}.",
    ]
    sweep = ", ".join(
        f"{p['bytes']:,} B {p['seconds'] * 1e6:.1f} us" for p in summary["sweep"]
    )
    out.append(f"mpi4py Allreduce on {summary['ranks']} ranks: {sweep}.")
    if fit is not None:
        out.append(
            f"Through the smallest and largest: alpha {fit['alpha_us']:.1f} us, "
            f"bandwidth {fit['bandwidth_GBps']:.2f} GB/s."
        )
    return "\n".join(out) + "\n"


def _buckets(line: dict[str, Any]) -> str:
    count = line.get("buckets")
    if not count:
        return ""
    return f" [{count} bucket{'s' if count > 1 else ''}]"


def _caps(value: str) -> list[float]:
    try:
        caps = [float(part) for part in value.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected MiB,MiB,...; got {value!r}"
        ) from None
    if any(cap <= 0 for cap in caps):
        raise argparse.ArgumentTypeError(f"bucket sizes must be positive: {value!r}")
    return caps


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,N,...; got {value!r}") from None
    if len(sizes) < 2 or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"need 2+ positive widths; got {value!r}")
    return sizes


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer, got {value!r}"
        ) from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=_positive, default=3)
    parser.add_argument("--steps", type=_positive, default=10, help="per block")
    parser.add_argument("--repeats", type=_positive, default=3, help="timed blocks")
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(SIZES),
        help="MLP widths (default 784,1024,1024,10)",
    )
    parser.add_argument(
        "--batch", type=_positive, default=BATCH, help="global batch (default 256)"
    )
    parser.add_argument(
        "--sweep",
        type=_sizes,
        default=list(SWEEP),
        help="float32 element counts for the all-reduce fit",
    )
    parser.add_argument(
        "--bucket-caps",
        type=_caps,
        default=[0.25, 100.0],
        metavar="MiB,...",
        help="run the DDP step again with these bucket_cap_mb (default 0.25,100; "
        "'' for none)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table")
    args = parser.parse_args(argv)
    if args.batch % RANKS:
        parser.error(f"--batch {args.batch} must split evenly across {RANKS} ranks")
    summary = run(args)
    table = text(summary)
    print(table, end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
            handle.write("\n")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write(text(summary, markdown=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
