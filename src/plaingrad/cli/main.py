"""Argument parsing and dispatch for the ``plaingrad`` command.

Errors are part of the interface: argparse's own messages are cut to one line
(``plaingrad train: error: ...``), flag values are checked as they are parsed,
and the failures a user can cause (a missing extra, an output path that cannot
be a folder, a diverging run) are caught here and printed as one line on
stderr. Anything else is a bug in plaingrad and keeps its traceback. A reader
that goes away (``| head -1``) ends the command quietly with status 141, and a
run that fails or is interrupted removes the output folder it created.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE(13): the status a shell reports for `cat big | head -1`.
EXIT_BROKEN_PIPE = 141

# The seeds manual_seed accepts are [-2**63, 2**64 - 1]; --seed is the
# non-negative part of that range.
MAX_SEED = 2**64 - 1


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors take a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {message} (see '{self.prog} --help')\n",
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def _seed(text: str) -> int:
    value = _non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_SEED} (2**64 - 1, the largest seed "
            f"manual_seed takes), got {value}"
        )
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``plaingrad`` command and its subcommands."""
    from .train import ACTIVATIONS, DEFAULTS, OPTIMIZERS

    parser = _Parser(
        prog="plaingrad",
        description="plaingrad: backpropagation you can watch.",
    )
    parser.add_argument(
        "--version", action="version", version=f"plaingrad {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    digits, xor = DEFAULTS["digits"], DEFAULTS["xor"]
    train = commands.add_parser(
        "train",
        help="train a small network on a built-in dataset",
        description=(
            "Train an MLP on a built-in dataset. digits: scikit-learn's 8x8 "
            "handwritten digits (needs the 'digits' extra), cross-entropy, "
            "stratified 80/20 split; writes model.safetensors, config.json and "
            "metrics.json to --output. xor: the backpropagation seed program "
            "(four points, MSE, full-batch steps); prints the final loss and "
            "the four predictions, and saves the run only when --output is given."
        ),
    )
    train.add_argument(
        "dataset",
        nargs="?",
        default="digits",
        choices=sorted(DEFAULTS),
        help="the dataset to train on (default: digits)",
    )
    train.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help=(
            "hidden layer widths (default: "
            f"{' '.join(map(str, digits['hidden']))} for digits, "
            f"{' '.join(map(str, xor['hidden']))} for xor)"
        ),
    )
    train.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default="relu",
        help="non-linearity between layers (default: relu)",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help=(
            f"passes over the training set (default: {digits['epochs']}); for "
            f"xor, full-batch steps (default: {xor['epochs']})"
        ),
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        help=f"samples per step, digits only (default: {digits['batch_size']})",
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        help=(
            f"learning rate (default: {digits['lr']:g} for digits, "
            f"{xor['lr']:g} for xor)"
        ),
    )
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="optimizer (default: adam)",
    )
    train.add_argument(
        "--momentum",
        type=_non_negative_float,
        help="SGD momentum, with --optimizer sgd only (default: 0.9)",
    )
    train.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of weight initialisation and shuffling, 0 to 2**64-1 (default: 0)",
    )
    train.add_argument(
        "--output",
        metavar="DIR",
        help=f"folder for the run's files (default: {digits['output']} for digits)",
    )
    train.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or per-epoch lines",
    )
    train.set_defaults(handler=_run_train)
    return parser


class _UsageError(Exception):
    """A combination of flags that makes no sense; reported like argparse's."""


def _resolve(args: argparse.Namespace) -> Any:
    """Fill in per-dataset defaults and check flags against each other."""
    from .train import DEFAULTS, RunConfig

    defaults = DEFAULTS[args.dataset]
    if args.momentum is not None and args.optimizer != "sgd":
        raise _UsageError("--momentum applies only with --optimizer sgd")
    if args.dataset == "xor" and args.batch_size is not None:
        raise _UsageError(
            "--batch-size does not apply to xor, which steps on all 4 points at once"
        )
    momentum = None
    if args.optimizer == "sgd":
        momentum = 0.9 if args.momentum is None else args.momentum

    sizes = {"digits": (64, 10), "xor": (2, 1)}[args.dataset]
    hidden = args.hidden if args.hidden is not None else defaults["hidden"]
    config = RunConfig(
        dataset=args.dataset,
        layer_sizes=[sizes[0], *hidden, sizes[1]],
        activation=args.activation,
        loss="cross_entropy" if args.dataset == "digits" else "mse",
        optimizer=args.optimizer,
        lr=args.lr if args.lr is not None else defaults["lr"],
        momentum=momentum,
        epochs=args.epochs if args.epochs is not None else defaults["epochs"],
        batch_size=(
            args.batch_size if args.batch_size is not None else defaults["batch_size"]
        ),
        seed=args.seed,
        test_size=0.2 if args.dataset == "digits" else None,
        split_seed=0 if args.dataset == "digits" else None,
    )
    output = args.output if args.output is not None else defaults["output"]
    return config, output


def _describe(config: Any) -> str:
    sizes = "-".join(map(str, config.layer_sizes))
    optimizer = f"{config.optimizer} lr={config.lr:g}"
    if config.momentum is not None:
        optimizer += f" momentum={config.momentum:g}"
    batch = f", batch {config.batch_size}" if config.dataset == "digits" else ""
    unit = "epoch" if config.dataset == "digits" else "step"
    if config.epochs != 1:
        unit += "s"
    return (
        f"{config.dataset}: MLP {sizes} ({config.activation}), {optimizer}, "
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


def _run_train(args: argparse.Namespace) -> int:
    from .progress import EpochProgress
    from .train import (
        check_memory,
        check_output,
        load_config_digits,
        prepare_output,
        remove_output,
        save_run,
        train_digits,
        train_xor,
    )

    config, output = _resolve(args)
    # Whatever can fail for want of a folder, of memory or of an extra fails
    # here, before a folder is made or a progress bar drawn; quick checks first.
    if output is not None:
        check_output(output)
    check_memory(config)
    data = load_config_digits(config) if config.dataset == "digits" else None
    created = prepare_output(output) if output is not None else []
    try:
        print(f"plaingrad train {_describe(config)}", flush=True)
        if config.dataset == "digits":
            with (
                _quiet_numpy(),
                EpochProgress(config.epochs, "digits", enabled=not args.quiet) as bar,
            ):
                result = train_digits(config, bar, data)
        else:
            with _quiet_numpy():
                result = train_xor(config)
        # Saved before the results are printed, so that a reader who stops
        # early (`| head -3`) does not cost the trained model.
        paths: list[str] = []
        if output is not None:
            paths = save_run(output, result["model"], config, result["metrics"])
    except BaseException:
        # Failed, interrupted or cut off (a closed pipe): leave no half-made
        # run folder behind, but never touch a folder the user already had.
        if output is not None:
            remove_output(output, created)
        raise

    metrics = result["metrics"]
    if config.dataset == "digits":
        print(
            f"Trained on {metrics['n_train']} images in "
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
    if paths:
        print(f"Saved {', '.join(paths)}")
    return EXIT_OK


def _fail(prog: str, message: str, status: int) -> int:
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
    try:
        status = _main(argv)
        sys.stdout.flush()  # a closed pipe must fail here, not at exit
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
    return status


def _main(argv: Sequence[str] | None) -> int:
    from ..datasets import MissingExtraError
    from .train import TrainingError, out_of_memory_message

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error
        return stop.code if isinstance(stop.code, int) else EXIT_FAILURE
    prog = f"plaingrad {args.command}"
    try:
        return args.handler(args)
    except _UsageError as error:
        return _fail(prog, f"{error} (see '{prog} --help')", EXIT_USAGE)
    except MissingExtraError as error:
        return _fail(prog, str(error), EXIT_FAILURE)
    except TrainingError as error:
        return _fail(prog, str(error), EXIT_FAILURE)
    except MemoryError:
        config, _ = _resolve(args)
        return _fail(prog, out_of_memory_message(config), EXIT_FAILURE)
    except BrokenPipeError:
        raise  # handled by main, quietly
    except OSError as error:
        return _fail(prog, str(error), EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
