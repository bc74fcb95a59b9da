"""Dispatch for the ``plaingrad`` command, and the errors a user can cause.

Errors are part of the interface: argparse's own messages are cut to one line
(``plaingrad train: error: ...``; see ``args.py``), flag values are checked as
they are parsed, flags are checked against each other here, and the failures
a user can cause (a missing extra or data file, an output path that cannot be
a folder, a bad checkpoint, a diverging run) are caught here and printed as
one line on stderr. Anything else is a bug in plaingrad and keeps its
traceback. A reader that goes away (``| head -1``) ends the command quietly
with status 141, and a run that fails removes the output folder it created.
Ctrl-C during training saves a checkpoint and ends with status 130 and one
line saying where it is and how to resume; before training starts it simply
stops (status 130, one line). Once stopping, further Ctrl-Cs are ignored, so
a burst of them never ends in a traceback. Under ``mpiexec`` every rank runs
the command: an error they all meet is printed once, by rank 0, and one that
a single rank meets names that rank (see ``parallel.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .args import MAX_SEED, build_parser

__all__ = ["MAX_SEED", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE(13): the status a shell reports for `cat big | head -1`.
EXIT_BROKEN_PIPE = 141

# Flags that fix what a run computes; --resume takes them from the checkpoint.
_FIXED_BY_CHECKPOINT = (
    "dataset",
    "hidden",
    "activation",
    "depth",
    "init",
    "batch_size",
    "lr",
    "optimizer",
    "optimizer_args",
    "momentum",
    "scheduler",
    "scheduler_args",
    "clip_grad",
    "seed",
    "dtype",
)


class _UsageError(Exception):
    """A combination of flags that makes no sense; reported like argparse's."""


def _flag(name: str) -> str:
    return "the dataset" if name == "dataset" else "--" + name.replace("_", "-")


def _options(args: argparse.Namespace) -> tuple[dict, dict]:
    from .optimizers import OptionError, parse_options

    try:
        return (
            parse_options(args.optimizer_args, "--optimizer-args"),
            parse_options(args.scheduler_args, "--scheduler-args"),
        )
    except OptionError as error:
        raise _UsageError(str(error)) from None


def _resolve(args: argparse.Namespace) -> Any:
    """Fill in per-dataset defaults and check flags against each other.

    Returns:
        ``(config, output, resume)``: the run's ``RunConfig``, its folder
        (None for xor without --output) and the checkpoint to resume from
        (None for a new run).
    """
    from .optimizers import UNIT_LR, WITH_MOMENTUM
    from .train import DEFAULTS, RunConfig

    if args.resume is not None:
        return _resolve_resume(args)
    dataset = args.dataset or "digits"
    defaults = DEFAULTS[dataset]
    optimizer = args.optimizer or "adam"
    if args.momentum is not None and optimizer not in WITH_MOMENTUM:
        raise _UsageError("--momentum applies only with --optimizer sgd or rmsprop")
    if dataset == "xor" and args.batch_size is not None:
        raise _UsageError(
            "--batch-size does not apply to xor, which steps on all 4 points at once"
        )
    if dataset == "xor" and args.checkpoint_every is not None:
        raise _UsageError("--checkpoint-every does not apply to xor")
    if args.scheduler_args is not None and args.scheduler is None:
        raise _UsageError("--scheduler-args needs --scheduler")
    momentum = args.momentum
    if optimizer == "sgd" and momentum is None:
        momentum = 0.9
    lr = args.lr
    if lr is None:
        lr = 1.0 if optimizer in UNIT_LR else defaults["lr"]
    optimizer_args, scheduler_args = _options(args)
    if optimizer == "lbfgs":
        # Without a line search, L-BFGS's full steps on mini-batches blow up.
        optimizer_args.setdefault("line_search_fn", "strong_wolfe")

    from .data import SHAPES

    sizes = SHAPES.get(dataset, (2, 1))
    hidden = args.hidden if args.hidden is not None else defaults["hidden"]
    if args.depth is not None:
        if args.hidden is not None and len(args.hidden) > 1:
            raise _UsageError("--depth takes a single --hidden width")
        hidden = hidden[:1] * (args.depth - 1)
    if args.monitor and dataset == "xor":
        raise _UsageError("--monitor watches the classifiers, not xor")
    for flag in ("report", "plots"):
        if getattr(args, flag) and dataset == "xor":
            raise _UsageError(f"--{flag} shows the classifiers' runs, not xor's")
    config = RunConfig(
        dataset=dataset,
        layer_sizes=[sizes[0], *hidden, sizes[1]],
        activation=args.activation or "relu",
        loss="mse" if dataset == "xor" else "cross_entropy",
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        epochs=args.epochs if args.epochs is not None else defaults["epochs"],
        batch_size=(
            args.batch_size if args.batch_size is not None else defaults["batch_size"]
        ),
        seed=args.seed if args.seed is not None else 0,
        test_size=0.2 if dataset in ("digits", "spirals") else None,
        split_seed=0 if dataset in ("digits", "spirals") else None,
        optimizer_args=optimizer_args,
        scheduler=args.scheduler,
        scheduler_args=scheduler_args,
        scheduler_args_given=list(scheduler_args),
        clip_grad=args.clip_grad,
        checkpoint_every=args.checkpoint_every,
        data_dir=_data_dir(args, dataset),
        init=args.init or "default",
        dtype=args.dtype or "float32",
    )
    _check_choices(config)
    output = args.output if args.output is not None else defaults["output"]
    return config, output, None


def _data_dir(args: argparse.Namespace, dataset: str) -> str | None:
    from .data import IDX_CLASSES

    if dataset in IDX_CLASSES:
        return args.data_dir if args.data_dir is not None else "data"
    if args.data_dir is not None:
        raise _UsageError("--data-dir applies only to mnist, fashion-mnist and kmnist")
    return None


def _check_choices(config: Any) -> None:
    """The optimizer, schedule and clipping the run names, tried up front."""
    from .. import nn
    from .optimizers import OptionError, check_choices

    if config.clip_grad is not None and not hasattr(nn.utils, "clip_grad_norm_"):
        raise _UsageError("--clip-grad: this plaingrad has no nn.utils.clip_grad_norm_")
    try:
        # The trial steps overflow at a huge --lr; the run itself says so.
        with _quiet_numpy():
            check_choices(config)
    except OptionError as error:
        raise _UsageError(str(error)) from None


def _resolve_resume(args: argparse.Namespace) -> Any:
    """``_resolve`` for ``--resume PATH``: the settings come from the file."""
    from . import checkpoint
    from .train import RunConfig

    given = [name for name in _FIXED_BY_CHECKPOINT if getattr(args, name) is not None]
    if given:
        raise _UsageError(
            f"{_flag(given[0])} cannot be given with --resume: the checkpoint fixes it"
        )
    path = checkpoint.find(args.resume)
    state = checkpoint.read(path)
    try:
        config = RunConfig(**state["config"])
    except TypeError as error:
        raise checkpoint.CheckpointError(
            f"--resume {path!r}: the checkpoint's config is not one this "
            f"plaingrad reads ({error})"
        ) from None
    if config.dataset == "xor":
        raise checkpoint.CheckpointError(f"--resume {path!r}: xor has no checkpoints")
    done = state["epoch"]
    if args.epochs is not None:
        if args.epochs <= done:
            raise _UsageError(
                f"--epochs {args.epochs}: the checkpoint has already trained "
                f"{done} epochs; give more to train on"
            )
        if args.epochs != config.epochs:
            _check_length(config)
        config.epochs = args.epochs
    elif done >= config.epochs:
        from .optimizers import length_option

        more = "give --epochs N (more) to train on"
        if length_option(config) is not None:
            more = (
                f"its --scheduler {config.scheduler} was sized for those "
                "epochs, so start a new run to train longer"
            )
        raise _UsageError(
            f"--resume {path!r}: the checkpoint finished all {config.epochs} "
            f"epochs; {more}"
        )
    if args.checkpoint_every is not None:
        config.checkpoint_every = args.checkpoint_every
    if args.data_dir is not None:
        config.data_dir = _data_dir(args, config.dataset)
    _check_choices(config)
    output = args.output if args.output is not None else os.path.dirname(path)
    return config, output or ".", state


def _check_length(config: Any) -> None:
    """Refuse a new --epochs on --resume when the schedule's length came from
    the old one (cosine's T_max, step's step_size, ...): the lr would follow
    the first run's schedule and then go wrong (cosine: down to 0 and back up
    again). A length the user gave is not tied to --epochs and may go on."""
    from .optimizers import length_option

    key = length_option(config)
    if key is not None:
        raise _UsageError(
            f"--epochs cannot change on --resume with --scheduler "
            f"{config.scheduler}, whose {key} was set from the run's first "
            f"{config.epochs} epochs; start a new run for a longer schedule"
        )


def _check_world(config: Any, args: argparse.Namespace, size: int) -> None:
    """What a run spread over ``size`` ranks cannot do (see parallel.py)."""
    if config.dataset == "xor":
        raise _UsageError(
            f"xor steps on all 4 points at once and does not split across {size} "
            "ranks; run it without mpiexec"
        )
    for flag in ("monitor", "report", "plots"):
        if getattr(args, flag):
            raise _UsageError(
                f"--{flag} watches a run in one process, not one spread over "
                f"{size} ranks; run it without mpiexec"
            )
    batch = config.batch_size
    if batch % size:
        lower, upper = batch - batch % size, batch - batch % size + size
        such = f"{lower} or {upper}" if lower else str(upper)
        raise _UsageError(
            f"--batch-size {batch} does not split evenly across the {size} ranks "
            f"of this job ({batch} = {size} x {batch // size} + {batch % size}); "
            f"give a multiple of {size}, such as {such}"
        )


def _describe(config: Any) -> str:
    sizes = "-".join(map(str, config.layer_sizes))
    optimizer = f"{config.optimizer} lr={config.lr:g}"
    if config.momentum is not None:
        optimizer += f" momentum={config.momentum:g}"
    for key, value in config.optimizer_args.items():
        optimizer += f" {key}={value}"
    if config.scheduler is not None:
        optimizer += f", {config.scheduler} schedule"
    if config.clip_grad is not None:
        optimizer += f", clip {config.clip_grad:g}"
    xor = config.dataset == "xor"
    batch = "" if xor else f", batch {config.batch_size}"
    if config.world_size > 1:
        share = config.batch_size // config.world_size
        batch += f" ({config.world_size} ranks x {share})"
    activation = config.activation
    if config.dtype != "float32":
        activation += f", {config.dtype}"
    unit = "step" if xor else "epoch"
    if config.epochs != 1:
        unit += "s"
    return (
        f"{config.dataset}: MLP {sizes} ({activation}), {optimizer}, "
        f"{config.epochs} {unit}{batch}, seed {config.seed}"
    )


def _quiet_numpy() -> Any:
    """Silence NumPy's overflow and invalid-value warnings while training.

    A diverging run overflows long before its loss turns NaN; the training
    loop checks the loss itself and reports divergence as one line, so the
    warnings NumPy would print on the way are noise.
    """
    import numpy as np

    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def _prediction(value: float) -> str:
    """``value`` to 4 decimals, never ``-0.0000`` for a tiny negative value."""
    text = f"{value:.4f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text


def _interrupted(stop: Any, config: Any) -> int:
    """The one line that says where a Ctrl-C checkpoint is, and how to resume."""
    where = f"after epoch {stop.epoch} of {config.epochs}"
    if stop.batch:
        where = (
            f"in epoch {stop.epoch + 1} of {config.epochs}, after batch {stop.batch}"
        )
    print(
        f"plaingrad train: interrupted {where}; checkpoint saved to {stop.path}; "
        f"resume with: plaingrad train --resume {stop.path}",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_INTERRUPTED


def _continues_in(output: str, args: argparse.Namespace) -> bool:
    """Whether the run resumes a checkpoint kept in the folder ``output``."""
    from . import checkpoint

    if args.resume is None:
        return False
    folder = os.path.dirname(checkpoint.find(args.resume)) or "."
    try:
        return os.path.samefile(folder, output)
    except OSError:
        return False


def _ignore_ctrl_c() -> None:
    """Ignore SIGINT from here on: the command is stopping, and a further
    Ctrl-C must not cut its last line short with a traceback."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


def _run_train(args: argparse.Namespace) -> int:
    from . import checkpoint
    from .data import load_dataset
    from .output import remove_checkpoints
    from .parallel import start_world
    from .progress import EpochProgress
    from .report import check_plots, diverged, report_verdicts, write_views
    from .train import (
        TrainingError,
        check_memory,
        check_output,
        prepare_output,
        remove_output,
        save_run,
        train_classifier,
        train_xor,
    )

    # One process, or every rank of an MPI job (mpiexec -n 4 plaingrad train):
    # each rank runs all of this, and fails with the others (see parallel.py).
    world = start_world()
    with world.together():
        config, output, resume = _resolve(args)
        config.world_size = world.size
        if world.distributed:
            _check_world(config, args, world.size)
        args.config = config  # for the out-of-memory message
        # Whatever can fail for want of a folder, of memory, of an extra or of
        # a data file fails here, before a folder is made or a progress bar
        # drawn; quick checks first.
        if output is not None:
            check_output(output)
        check_memory(config)
        if args.plots:
            check_plots()
        data = None if config.dataset == "xor" else load_dataset(config)
    if not world.is_main:
        output = None  # rank 0 writes the run folder and the checkpoints
    created: list[str] = []
    with world.together():
        created = prepare_output(output) if output is not None else []
        if output is not None and not _continues_in(output, args):
            remove_checkpoints(output)
    # Ctrl-C stops a job of several ranks without a checkpoint: the ranks
    # would have to agree on the batch to stop after.
    stopper = contextlib.nullcontext() if world.distributed else checkpoint.Interrupt()
    try:
        if world.is_main:
            print(f"plaingrad train {_describe(config)}", flush=True)
        if resume is not None and world.is_main:
            position = f"epoch {resume['epoch']}"
            if resume["batch"]:
                position += f", batch {resume['batch']}"
            print(f"Resuming from {args.resume} after {position}", flush=True)
        if config.dataset == "xor":
            with _quiet_numpy():
                result = train_xor(config)
        else:
            done = resume["epoch"] if resume is not None else 0
            with (
                _quiet_numpy(),
                stopper as interrupt,
                EpochProgress(
                    config.epochs,
                    config.dataset,
                    enabled=not args.quiet and world.is_main,
                    start=done,
                ) as bar,
            ):
                result = train_classifier(
                    config,
                    bar,
                    data,
                    output=output,
                    resume=resume,
                    interrupt=interrupt,
                    monitor=args.monitor or args.report or args.plots,
                    narrate=args.report,
                    world=world,
                )
        # Saved before the results are printed, so that a reader who stops
        # early (`| head -3`) does not cost the trained model.
        paths: list[str] = []
        if output is not None:
            paths = save_run(output, result["model"], config, result["metrics"])
            paths += write_views(args, output, result, config, data)
    except checkpoint.Interrupted as stop:
        _ignore_ctrl_c()
        return _interrupted(stop, config)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            _ignore_ctrl_c()
            world.interrupted()
        if isinstance(error, TrainingError) and error.result is not None:
            # A monitored run that diverged: say what went wrong first. Its
            # verdicts.json (and report.html) stay, and so does its folder.
            diverged(args, output, error, config, data)
        # Failed, interrupted or cut off (a closed pipe): leave no half-made
        # run folder behind, but never touch a folder the user already had
        # (nor one holding a checkpoint).
        if output is not None:
            remove_output(output, created)
        raise

    if not world.is_main:
        return EXIT_OK
    metrics = result["metrics"]
    if config.dataset != "xor":
        samples = "points" if config.dataset == "spirals" else "images"
        print(
            f"Trained on {metrics['n_train']} {samples} in "
            f"{metrics['train_seconds']:.1f} s; final train loss "
            f"{metrics['train_loss']:.4f}"
        )
        print(f"Test accuracy: {metrics['test_accuracy']:.4f}")
    else:
        print("Final loss:", metrics["final_loss"])
        print("Predictions:")
        for point, target, value in zip(
            result["inputs"], result["targets"], result["predictions"]
        ):
            xs = ", ".join(f"{x:g}" for x in point)
            print(f"  ({xs}) -> {_prediction(value)}  (target {target:g})")
    if "verdicts" in result:
        report_verdicts(result["verdicts"], output, paths)
    if paths:
        print(f"Saved {', '.join(paths)}")
    return EXIT_OK


def _run_explain(args: argparse.Namespace) -> int:
    """``plaingrad explain graph`` or ``plaingrad explain xor``."""
    from .explain_cmd import run_explain

    return run_explain(args)


def _run_lens(args: argparse.Namespace) -> int:
    """``plaingrad lens RUN_FOLDER``."""
    from .lens_cmd import run_lens

    return run_lens(args)


def _run_bench(args: argparse.Namespace) -> int:
    """``plaingrad bench``."""
    from .bench_cmd import run_bench

    return run_bench(args)


HANDLERS = {
    "train": _run_train,
    "explain": _run_explain,
    "lens": _run_lens,
    "bench": _run_bench,
}


def _fail(prog: str, message: str, status: int) -> int:
    from .parallel import current, reports_errors

    if not reports_errors():  # another rank of an MPI job says it
        return status
    world = current()
    if world is not None and not world.is_main:
        prog += f" (rank {world.rank} of {world.size})"
    line = " ".join(message.split())  # always exactly one line
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
    return status


def _silence_stdout() -> None:
    """Point file descriptor 1 at the null device, so that the interpreter's
    last flush of a closed pipe at exit cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real stdout (captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``plaingrad`` command.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the run failed, 2 on a usage
        error, 130 when interrupted, 141 when the reader of its output went
        away (``plaingrad train | head -1``).
    """
    handler = _sigint_handler()
    try:
        status = _main(argv)
        sys.stdout.flush()  # a closed pipe must fail here, not at exit
    except KeyboardInterrupt:  # a Ctrl-C before _main could catch it
        _ignore_ctrl_c()
        status = _fail("plaingrad", "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # What well-behaved command-line tools do when the reader of their
        # output goes away: stop at once and quietly, with no error message.
        # Python ignores SIGPIPE, so this is the EPIPE error in its place; as
        # the Python documentation advises (signal module, "Note on SIGPIPE"),
        # stdout is pointed at /dev/null so the final flush cannot fail again.
        # The status is 141 (128 + SIGPIPE), what the shell reports for
        # coreutils killed by SIGPIPE, so `set -o pipefail` scripts see the
        # same status from plaingrad as from `cat`.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        # Called as a function (tests, scripts), give back the caller's
        # Ctrl-C; as the command (argv None), a stopping run keeps ignoring
        # it until the process is gone.
        if argv is not None and handler is not None:
            signal.signal(signal.SIGINT, handler)
    return status


def _sigint_handler() -> Any:
    """The current SIGINT handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGINT)


def _main(argv: Sequence[str] | None) -> int:
    from ..datasets import MissingExtraError
    from .checkpoint import CheckpointError
    from .data import DataError
    from .parallel import RankFailed, reports_errors
    from .train import TrainingError, out_of_memory_message

    parser = build_parser()
    # Under mpiexec every rank parses the same flags: rank 0 alone says
    # what is wrong with them.
    quiet = (
        contextlib.nullcontext()
        if reports_errors()
        else contextlib.redirect_stderr(io.StringIO())
    )
    try:
        with quiet:
            args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error
        return stop.code if isinstance(stop.code, int) else EXIT_FAILURE
    prog = f"plaingrad {args.command}"
    try:
        return HANDLERS[args.command](args)
    except _UsageError as error:
        return _fail(prog, f"{error} (see '{prog} --help')", EXIT_USAGE)
    except (
        MissingExtraError,
        TrainingError,
        CheckpointError,
        DataError,
        RankFailed,
    ) as error:
        return _fail(prog, str(error), EXIT_FAILURE)
    except MemoryError:
        config = getattr(args, "config", None) or _resolve(args)[0]
        return _fail(prog, out_of_memory_message(config), EXIT_FAILURE)
    except BrokenPipeError:
        raise  # handled by main, quietly
    except OSError as error:
        return _fail(prog, str(error), EXIT_FAILURE)
    except KeyboardInterrupt:
        _ignore_ctrl_c()
        return _fail(prog, "interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
