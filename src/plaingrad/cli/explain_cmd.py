"""``plaingrad explain``: the digits MLP's graph as SVG (``graph``), or one
training step of the XOR network with every number shown (``xor``)."""

from __future__ import annotations

import argparse
import shutil
import sys

from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, _fail


def run_explain(args: argparse.Namespace) -> int:
    """Run the tool ``args.tool`` names; returns the exit status."""
    if args.tool == "xor":
        return _xor(args)
    return _graph(args)


def _xor(args: argparse.Namespace) -> int:
    from .explain_xor import render, walkthrough

    prog = "plaingrad explain xor"
    width = args.width
    if width is None:
        width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    elif width < 40:
        message = f"argument --width: expected at least 40 columns, got {width}"
        return _fail(prog, message, EXIT_USAGE)
    try:
        walk = walkthrough(args.optimizer, args.lr, args.seed)
    except ValueError as error:
        return _fail(prog, str(error).removeprefix("explain xor: "), EXIT_FAILURE)
    text = render(walk, args.format, width)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    return _write(prog, args.output, text, f"Saved {args.output}")


def _graph(args: argparse.Namespace) -> int:
    from .. import explain, manual_seed, zeros
    from .train import DEFAULTS, build_mlp

    manual_seed(0)
    model = build_mlp([64, *DEFAULTS["digits"]["hidden"], 10])
    drawn = explain.graph(
        model=model,
        example_input=zeros(1, 64),
        collapse="module" if args.collapse else None,
    )
    done = f"Saved {args.output} ({len(drawn.nodes)} boxes, {len(drawn.edges)} edges)"
    return _write("plaingrad explain graph", args.output, drawn.to_svg(), done)


def _write(prog: str, path: str, text: str, done: str) -> int:
    """Write ``text`` to ``path``, then print ``done``; a clear error if not."""
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        message = f"cannot write {path!r}: {error.strerror or error}"
        return _fail(prog, message, EXIT_FAILURE)
    print(done)
    return EXIT_OK
