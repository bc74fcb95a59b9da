"""The ``plaingrad`` command's argument parser: its flags and their checks.

Flag values are checked as they are parsed (a positive integer, a finite
number, a seed manual_seed takes), and argparse's own messages are cut to
one line: ``plaingrad train: error: ... (see 'plaingrad train --help')``.
Flags whose default depends on the dataset, or that ``--resume`` must not
see changed, default to None here and are filled in by ``main._resolve``.
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from .. import __version__

EXIT_USAGE = 2

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

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but an unknown flag after a subcommand is reported
        by that subcommand's parser (``see 'plaingrad train --help'``)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = getattr(self, "commands", {})
            parser = commands.get(getattr(parsed, "command", None), self)
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


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


def _key_value(text: str) -> str:
    if "=" not in text.strip("="):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE, got {text!r} (put the dataset before the flags)"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``plaingrad`` command and its subcommands."""
    from .optimizers import ARGS_HELP, OPTIMIZERS, SCHEDULER_HELP, SCHEDULERS
    from .train import ACTIVATIONS, DEFAULTS, DTYPES, INITS

    parser = _Parser(
        prog="plaingrad",
        description="plaingrad: backpropagation you can watch.",
    )
    parser.add_argument(
        "--version", action="version", version=f"plaingrad {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    digits, xor, mnist = DEFAULTS["digits"], DEFAULTS["xor"], DEFAULTS["mnist"]
    spirals = DEFAULTS["spirals"]
    train = commands.add_parser(
        "train",
        help="train a small network on a built-in dataset",
        description=(
            "Train an MLP on a dataset. digits: scikit-learn's 8x8 "
            "handwritten digits (needs the 'digits' extra), cross-entropy, "
            "stratified 80/20 split; spirals: two interleaved spirals (2 "
            "inputs, 2 classes, 1,000 points made from a seed, split 80/20), "
            "cross-entropy; mnist, fashion-mnist, kmnist: the IDX files "
            "(gzipped or not) in --data-dir, their own train and test sets. "
            "These write model.safetensors, config.json and metrics.json to "
            "--output; Ctrl-C saves a checkpoint there and stops (status 130), "
            "and --resume continues from it. xor: the backpropagation seed "
            "program (four points, MSE, full-batch steps); prints the final "
            "loss and the four predictions, and saves the run only when "
            "--output is given. Launched by mpiexec with several ranks "
            "(mpiexec -n 4 plaingrad train digits; the 'mpi' extra), the "
            "classifiers train data-parallel with the same result as one "
            "process; rank 0 prints and writes the files (docs/distributed.md)."
        ),
    )
    parser.commands = {"train": train}
    train.add_argument(
        "dataset",
        nargs="?",
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
            f"{' '.join(map(str, digits['hidden']))} for digits and mnist, "
            f"{' '.join(map(str, spirals['hidden']))} for spirals, "
            f"{' '.join(map(str, xor['hidden']))} for xor)"
        ),
    )
    train.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        help="non-linearity between layers (default: relu)",
    )
    train.add_argument(
        "--depth",
        type=_positive_int,
        metavar="N",
        help=(
            "number of Linear layers, every hidden one as wide as the one "
            "--hidden width (default: one more than the --hidden widths)"
        ),
    )
    train.add_argument(
        "--init",
        choices=INITS,
        help=(
            "weight initialisation: PyTorch's default, or kaiming (He-normal "
            "weights for ReLU, zero biases) (default: default)"
        ),
    )
    train.add_argument(
        "--dtype",
        choices=DTYPES,
        help=(
            "dtype of the weights and inputs; float64 starts from the float32 "
            "run's initial weights (default: float32)"
        ),
    )
    train.add_argument(
        "--monitor",
        action="store_true",
        help=(
            "watch gradient flow and activations (plaingrad.explain."
            "GradientMonitor); print its verdicts at the end and write them to "
            "verdicts.json in the output folder (see docs/verdicts.md)"
        ),
    )
    train.add_argument(
        "--report",
        action="store_true",
        help=(
            "write report.html to the output folder: one self-contained page "
            "(no network, no scripts) with the metrics curves, the verdicts, a "
            "gradient-flow heatmap, update ratios, the model's graph and the "
            "first step's backward pass narrated; implies --monitor"
        ),
    )
    train.add_argument(
        "--plots",
        action="store_true",
        help=(
            "write metrics.png, gradient_heatmap.png and update_ratios.png to "
            "the output folder (needs matplotlib: the 'plot' extra); implies "
            "--monitor"
        ),
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help=(
            f"passes over the training set (default: {digits['epochs']} for "
            f"digits, {spirals['epochs']} for spirals, {mnist['epochs']} for "
            "mnist); for xor, full-batch steps "
            f"(default: {xor['epochs']}). With --resume: the new total"
        ),
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        help=(
            f"samples per step, not for xor (default: {digits['batch_size']}; "
            f"{spirals['batch_size']} for spirals); under mpiexec, the global "
            "batch, split evenly across the ranks"
        ),
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        help=(
            f"learning rate (default: {digits['lr']:g} for digits and mnist, "
            f"{spirals['lr']:g} for spirals, {xor['lr']:g} for xor; 1 for "
            "adadelta and lbfgs)"
        ),
    )
    train.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        help=(
            "optimizer (default: adam); lbfgs runs up to 20 evaluations per "
            "batch, with line_search_fn=strong_wolfe unless told otherwise"
        ),
    )
    train.add_argument(
        "--optimizer-args",
        type=_key_value,
        nargs="+",
        metavar="KEY=VALUE",
        help=ARGS_HELP.format(
            what="optimizer", example="weight_decay=0.01 betas=0.9,0.99"
        ),
    )
    train.add_argument(
        "--momentum",
        type=_non_negative_float,
        help="momentum, with --optimizer sgd (default: 0.9) or rmsprop (default: 0)",
    )
    train.add_argument(
        "--scheduler",
        choices=list(SCHEDULERS),
        help=SCHEDULER_HELP,
    )
    train.add_argument(
        "--scheduler-args",
        type=_key_value,
        nargs="+",
        metavar="KEY=VALUE",
        help=ARGS_HELP.format(
            what="schedule",
            example="--scheduler multistep --scheduler-args milestones=10,20 gamma=0.5",
        ),
    )
    train.add_argument(
        "--clip-grad",
        type=_positive_float,
        metavar="MAX_NORM",
        help="clip the gradients' total 2-norm to MAX_NORM before each step",
    )
    train.add_argument(
        "--seed",
        type=_seed,
        help="seed of weight initialisation and shuffling, 0 to 2**64-1 (default: 0)",
    )
    train.add_argument(
        "--output",
        metavar="DIR",
        help=(
            f"folder for the run's files (default: {digits['output']} for "
            "digits, runs/DATASET for spirals and mnist; with --resume, the "
            "checkpoint's folder)"
        ),
    )
    train.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="N",
        help=(
            "save a checkpoint every N epochs, as checkpoint-epoch-K.safetensors "
            "and checkpoint.safetensors (the latest, also written after the last "
            "epoch) in --output; a new run first deletes the checkpoints an "
            "older run left there"
        ),
    )
    train.add_argument(
        "--resume",
        metavar="PATH",
        help=(
            "continue the run saved in a checkpoint file, or in a run folder's "
            "checkpoint.safetensors; only --epochs, --output, --checkpoint-every, "
            "--data-dir, --quiet, --monitor, --report and --plots may be given "
            "with it (the last three watch the resumed steps only)"
        ),
    )
    train.add_argument(
        "--data-dir",
        metavar="DIR",
        help=(
            "folder of the mnist / fashion-mnist / kmnist IDX files, straight in "
            "it or in torchvision's DIR/MNIST/raw/ (default: data)"
        ),
    )
    train.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or per-epoch lines",
    )
    explain = commands.add_parser(
        "explain",
        help="show how a built-in network computes and learns",
        description="Show how a built-in network computes and learns.",
    )
    tools = explain.add_subparsers(dest="tool", metavar="TOOL")
    tools.required = True
    graph = tools.add_parser(
        "graph",
        help="draw the computation graph of the digits MLP as SVG",
        description=(
            "Draw the computation graph of the built-in digits MLP (64 inputs, "
            "hidden layers 128 and 64, 10 classes) as an SVG, laid out by "
            "plaingrad itself; no Graphviz needed."
        ),
    )
    graph.add_argument(
        "--output",
        "-o",
        default="graph.svg",
        help="the SVG file to write (default: graph.svg)",
    )
    graph.add_argument(
        "--collapse",
        action="store_true",
        help="one box per layer instead of one per op",
    )
    xor = tools.add_parser(
        "xor",
        help="walk one training step of the XOR network, every number shown",
        description=(
            "Walk one full training step of the backpropagation seed's network "
            "(Linear(2, 8), ReLU, Linear(8, 1), mean squared error, on the four "
            "XOR points): the forward pass with numbers, the loss, the backward "
            "pass node by node, and the optimizer's update of each weight, so "
            "that every number can be checked by hand."
        ),
    )
    xor.add_argument(
        "--optimizer",
        choices=["adam", "sgd"],
        default="adam",
        help="adam (the seed program's, lr 0.01) or sgd (lr 0.1); default adam",
    )
    xor.add_argument(
        "--lr", type=_positive_float, help="learning rate (default: per optimizer)"
    )
    xor.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights (default 0)"
    )
    xor.add_argument(
        "--format",
        choices=["text", "markdown", "html", "json"],
        default="text",
        help="text (default), markdown, html (a whole page) or json (full precision)",
    )
    xor.add_argument(
        "--width",
        type=int,
        help="text width in columns (default: the terminal's, 60 to 120)",
    )
    xor.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of stdout"
    )
    lens = commands.add_parser(
        "lens",
        help="measure what each layer of a trained run has learned",
        description=(
            "Look at the layers of a run folder written by plaingrad train "
            "(digits, spirals, mnist, fashion-mnist, kmnist): for every layer, "
            "from the raw input to the output, a linear probe's test accuracy "
            "beside the same layer untrained, the silhouette and the "
            "between/within class distance ratio, the linear CKA between the "
            "layers and a PCA projection, and how the layers drift from epoch 0 "
            "through the kept checkpoints to the end. Writes lens.json, "
            "lens.html (one self-contained page) and, with matplotlib, "
            "lens_pca.png, lens_cka.png, lens_layers.png and lens_drift.png."
        ),
    )
    parser.commands["lens"] = lens
    lens.add_argument("run", metavar="RUN_FOLDER", help="the run folder to look at")
    lens.add_argument(
        "--output",
        metavar="DIR",
        help="folder for lens.json, lens.html and the PNGs (default: RUN_FOLDER)",
    )
    lens.add_argument(
        "--layers",
        nargs="+",
        metavar="LAYER",
        help=(
            "the modules to measure: paths (0 2) or class names (Linear ReLU) "
            "(default: every layer); the raw input always comes first"
        ),
    )
    lens.add_argument(
        "--samples",
        type=_positive_int,
        metavar="N",
        help=(
            "test samples (the first N) for the separation statistics, CKA and "
            "projections (default: 1000); the probes use the whole split"
        ),
    )
    lens.add_argument(
        "--no-png", action="store_true", help="write no PNG files, even with matplotlib"
    )
    lens.add_argument(
        "--no-drift",
        action="store_true",
        help=(
            "skip the drift: the measures again at epoch 0, at each checkpoint "
            "the run kept (plaingrad train --checkpoint-every N) and at the end"
        ),
    )
    lens.add_argument(
        "--data-dir",
        metavar="DIR",
        help=(
            "folder of the IDX files of an mnist / fashion-mnist / kmnist run "
            "(default: the folder the run was trained from)"
        ),
    )
    _add_bench(commands, parser)
    return parser


def _add_bench(commands: argparse._SubParsersAction, parser: _Parser) -> None:
    """``plaingrad bench``: issue 7's benchmark suite."""
    bench = commands.add_parser(
        "bench",
        help="time plaingrad against PyTorch and hand-written NumPy",
        description=(
            "Run the benchmark suite: W1 XOR step, W2 (a*b+c).sum() on 1x8, W3 "
            "digits epoch, W4 MLP 784-1024-1024-10 SGD step, W5 CNN SGD step, "
            "a transformer encoder layer step, W6 peak memory running W4 and "
            "import time, on plaingrad, PyTorch and a hand-written NumPy "
            "reference, each library in fresh processes with alternating "
            "rounds. Prints absolute times, the ratios and the targets, and "
            "checks that every library computed the same losses (exit status 1 "
            "if not, or if a workload failed)."
        ),
    )
    parser.commands["bench"] = bench
    bench.add_argument(
        "--quick",
        action="store_true",
        help="1 round, 1 timed block, fewer steps: a smoke run",
    )
    bench.add_argument(
        "--workloads",
        default="W1,W2,W3,W4,W5,transformer,W6,import",
        metavar="LIST",
        help="comma-separated subset of W1,W2,W3,W4,W5,transformer,W6,import "
        "(default: all)",
    )
    bench.add_argument(
        "--rounds", type=_positive_int, help="rounds (default 5; 1 with --quick)"
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        help="timed blocks per process (default 3; 1 with --quick)",
    )
    bench.add_argument(
        "--threads",
        type=_positive_int,
        help="BLAS/OpenMP threads for every library (default: as each decides)",
    )
    bench.add_argument(
        "--compile",
        action="store_true",
        help="run plaingrad's steps through plaingrad.compile (record, then "
        "replay); the other libraries run as always",
    )
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--markdown", metavar="PATH", help="also write the table as Markdown"
    )
    bench.add_argument(
        "--scaling",
        action="store_true",
        help="instead of the suite, time an MLP's SGD step against batch size "
        "(1-4096) and depth (1-64 layers), record peak memory against depth, "
        "and fit straight lines (R², intercept = fixed cost per step); "
        "threads default to 1 here, rounds to 3 and repeats to 5 (with "
        "--quick: 1 round, 3 blocks, 5 batch sizes, 3 depths)",
    )
    bench.add_argument(
        "--plot-dir",
        metavar="DIR",
        help="with --scaling: write the figures as PNGs here (needs matplotlib)",
    )
