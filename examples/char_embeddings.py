"""What a character language model writes into its embedding table.

The program trains the character transformer of
``examples/char_transformer.py`` (its ``build_model``, ``Vocabulary``,
``batches`` and ``train_step``) on ``examples/data/tiny_text.txt``, here small
enough to train in about 7 s on one core: one block of width 32 over windows of
32 characters, 300 steps of Adam. Then it reads the token embedding table, one
row of 32 numbers for each of the 55 characters, and lists for a chosen set of
characters (vowels, a few consonants, punctuation, capitals, space and newline;
the text has no digits) the nearest other characters by cosine similarity,
beside the same lists for the table before training.

Nothing tells the model what a vowel or a comma is, yet characters that play
the same part in the text end up with similar rows. Two figures say how much,
over the classes vowel, consonant, capital, punctuation and whitespace:

- *agreement*: the fraction of the 55 characters whose nearest other character
  is of the same class. A neighbour picked at random agrees 0.29 of the time.
- *cosine gap*: over the 32 characters seen at least 20 times, the mean cosine
  similarity of two characters of one class minus that of two characters of
  different classes; about 0 when the classes are not arranged at all.

Measured with the defaults over seeds 0-4 (seed 0 is the default): agreement
0.56-0.71 trained against 0.15-0.42 untrained; cosine gap 0.32-0.37 trained
against -0.03 to +0.02 untrained; validation loss 2.59-2.65 nats (chance is log
55 = 4.01). In every one of those seeds space and newline are each other's
nearest neighbour, and in 24 of the 25 cases (5 marks, 5 seeds) the nearest
character of a mark . , : ; ? is another mark; of the 4 nearest characters of a
vowel, 0.84 are vowels (either case) against 0.10 untrained. T, I and W have
their lowercase letter among their 4 nearest, A does not (rank 12-19): it sits
with the punctuation, and like a comma it is mostly followed by a space (26 of
its 38 times).

How the structure depends on training length (same settings, ``--steps``):
after 100 steps (seeds 0-2) agreement 0.44-0.56, cosine gap 0.24-0.28, loss
3.0; after 1000 steps (seeds 0-4) agreement 0.62-0.67, cosine gap 0.16-0.23,
loss 2.19-2.23. The classes form early; with longer training the nearest
neighbours keep to their class while the cosine gap falls back a little. With
``char_transformer.py``'s own sizes (``--d-model 64 --context 64 --layers 2``,
about 45 s) 300 steps give much the same, seeds 0-4: agreement 0.62-0.69,
cosine gap 0.27-0.34, loss 2.51-2.53, every mark's nearest another mark.

The table starts from N(0, 0.02^2), as in GPT-2, not from ``nn.Embedding``'s
N(0, 1). Adam moves an entry by at most about 3e-3 a step, so from N(0, 1) the
random start dominates: after 1000 steps the table still looks mostly random
(``--embedding-std 1``, seeds 0-2: cosine gap 0.03-0.06, agreement 0.22-0.49
against 0.15-0.36 untrained), although the loss is lower (2.06-2.12).

The model and its training are PyTorch's: change the ``import plaingrad as
torch`` line to ``import torch`` and they run unchanged on PyTorch (this file
loads ``char_transformer.py`` on the same library); there, seed 0 gives
agreement 0.58 and cosine gap 0.33 (PyTorch draws other initial weights). The
reporting part at the end measures NumPy arrays with ``plaingrad.lens``.

Run it with ``python examples/char_embeddings.py`` (``--help`` lists the flags).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np

import plaingrad as torch
from plaingrad import lens

nn = torch.nn

HERE = Path(__file__).resolve().parent
CHAR_TRANSFORMER = HERE / "char_transformer.py"
TEXT = HERE / "data" / "tiny_text.txt"


def load_char_transformer() -> ModuleType:
    """``examples/char_transformer.py`` as a module, on this file's library."""
    source = CHAR_TRANSFORMER.read_text()
    # the same one-line switch as here, so both run on plaingrad or both on torch
    source = source.replace(
        "\nimport plaingrad as torch\n", f"\nimport {torch.__name__} as torch\n"
    )
    module = ModuleType("char_transformer")
    module.__file__ = str(CHAR_TRANSFORMER)
    exec(compile(source, str(CHAR_TRANSFORMER), "exec"), module.__dict__)
    return module


char_transformer = load_char_transformer()


# ------------------------------------------------------------- the model


def build_model(
    vocab_size: int, embedding_std: float = 0.02, dropout: float = 0.1, **sizes
) -> nn.Module:
    """The char transformer, its token embedding drawn from N(0, std^2)."""
    model = char_transformer.build_model(vocab_size, dropout=dropout, **sizes)
    with torch.no_grad():
        nn.init.normal_(model.token_embedding.weight, std=embedding_std)
    return model


def train(
    model, data: np.ndarray, steps: int, batch_size: int, lr: float, rng
) -> list[float]:
    """Adam with a cosine decay to a tenth of ``lr``; returns the losses."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    windows = char_transformer.batches(data, model.context, batch_size, steps, rng)
    losses = []
    for step, (x, y) in enumerate(windows, start=1):
        for group in optimizer.param_groups:
            progress = (step - 1) / steps
            group["lr"] = lr * (0.55 + 0.45 * math.cos(math.pi * progress))
        losses.append(char_transformer.train_step(model, optimizer, x, y))
    return losses


def embedding_table(model) -> np.ndarray:
    """The token embedding matrix, (vocab, d_model), as a NumPy copy."""
    return model.token_embedding.weight.detach().numpy().copy()


# ----------------------------------------------------- reporting (NumPy)

CLASSES = ("vowel", "consonant", "capital", "punctuation", "whitespace", "digit")
SHOWN = "aeiou" + "tnsh" + "0123456789" + ".,;:?" + "TAIW" + " \n"


def char_class(char: str) -> str:
    """The class of one character: one of ``CLASSES``."""
    if char in "aeiou":
        return "vowel"
    if char.islower():
        return "consonant"
    if char.isupper():
        return "capital"
    if char.isdigit():
        return "digit"
    if char.isspace():
        return "whitespace"
    return "punctuation"


def show(char: str) -> str:
    """A character as printed in the lists: space and newline by name."""
    return {" ": "space", "\n": "newline"}.get(char, char)


def cosine_neighbours(
    table: np.ndarray, index: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``table`` most cosine-similar to row ``index``.

    On unit rows the euclidean distance is sqrt(2 - 2 cos), so the euclidean
    nearest neighbours of ``lens.nearest_neighbours`` are the cosine ones.
    Returns ``(indices, cosines)``, most similar first.
    """
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    indices, distances = lens.nearest_neighbours(unit, index, k)
    return indices, 1.0 - distances**2 / 2.0


def agreement(table: np.ndarray, classes: np.ndarray) -> float:
    """The fraction of rows whose nearest other row has the same class."""
    nearest = [cosine_neighbours(table, i, 1)[0][0] for i in range(len(table))]
    return float(np.mean(classes[nearest] == classes))


def chance_agreement(classes: np.ndarray) -> float:
    """The agreement of a neighbour drawn at random among the other rows."""
    n = len(classes)
    sizes = np.array(list(Counter(classes.tolist()).values()))
    return float((sizes * (sizes - 1)).sum() / (n * (n - 1)))


def cosine_gap(table: np.ndarray, classes: np.ndarray) -> float:
    """Mean cosine of same-class pairs minus that of different-class pairs."""
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    cosines = unit @ unit.T
    same = classes[:, None] == classes[None, :]
    other = ~np.eye(len(classes), dtype=bool)
    return float(cosines[same & other].mean() - cosines[~same].mean())


def report(vocab, counts: Counter, tables: dict, k: int, min_count: int) -> dict:
    """Print the neighbour lists and the two figures for each table."""
    classes = np.array([char_class(c) for c in vocab.chars])
    frequent = np.array([counts[c] >= min_count for c in vocab.chars])
    missing = [show(c) for c in SHOWN if c not in vocab.index]
    shown = [c for c in SHOWN if c in vocab.index]
    if missing:
        print(f"not in the text, so not shown: {' '.join(missing)}")

    result: dict = {"neighbours": {}}
    print(f"\n{k} nearest characters by cosine similarity")
    print(f"{'char':>8}  {'untrained':<24}  trained")
    for char in shown:
        lists = {}
        for name, table in tables.items():
            indices, _ = cosine_neighbours(table, vocab.index[char], k)
            lists[name] = [vocab.chars[i] for i in indices]
        result["neighbours"][char] = lists
        untrained = " ".join(show(c) for c in lists["untrained"])
        trained = " ".join(show(c) for c in lists["trained"])
        print(f"{show(char):>8}  {untrained:<24}  {trained}")

    print(f"\nchance agreement: {chance_agreement(classes):.2f}")
    for name, table in tables.items():
        result[f"agreement_{name}"] = agreement(table, classes)
        gap = cosine_gap(table[frequent], classes[frequent])
        result[f"gap_{name}"] = gap
        print(f"{name} agreement: {result[f'agreement_{name}']:.2f}")
        print(f"{name} cosine gap: {gap:+.3f}")
    return result


# ------------------------------------------------------------ the program


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def d_model_int(text: str) -> int:
    """An argparse type: a width the model's 4 attention heads can share."""
    value = positive_int(text)
    if value % 4:
        raise argparse.ArgumentTypeError(
            f"must be a multiple of 4 (the number of heads), got {value}"
        )
    return value


def seed_int(text: str) -> int:
    """An argparse type: a seed NumPy and the random stream both take."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def read_text(parser: argparse.ArgumentParser, path: Path) -> str:
    """The ``--text`` file's contents, or a one-line error naming the flag."""
    if not path.exists():
        parser.error(f"argument --text: no such file: {str(path)!r}")
    if not path.is_file():
        parser.error(f"argument --text: {str(path)!r} is not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        parser.error(f"argument --text: {str(path)!r} is not UTF-8 text ({error})")
    except OSError as error:
        parser.error(f"argument --text: cannot read {str(path)!r}: {error.strerror}")


def check_text(parser, text: str, counts: Counter, args: argparse.Namespace) -> None:
    """Refuse a text too short for the windows, ``-k`` or ``--min-count``."""
    # the last tenth is the validation text; each part needs a window of
    # context + 1 characters and one place to start it
    needed = 10 * (args.context + 2)
    if len(text) < needed:
        parser.error(
            f"argument --text: {len(text)} characters are too few for --context "
            f"{args.context}; the last tenth, kept for validation, must hold a "
            f"window of {args.context + 2}, so at least {needed} are needed"
        )
    if args.k >= len(counts):
        parser.error(
            f"argument -k: must be below the {len(counts)} distinct characters "
            f"of the text, got {args.k}"
        )
    classes = [char_class(c) for c, n in counts.items() if n >= args.min_count]
    tally = Counter(classes)
    if len(tally) < 2 or max(tally.values()) < 2:
        parser.error(
            f"argument --min-count: the cosine gap takes the characters seen at "
            f"least {args.min_count} times and needs two of one class and one of "
            f"another; the text has {len(classes)} such characters"
        )


def main(argv: list[str] | None = None) -> dict:
    """Train, print the neighbour lists and figures; return them.

    The result holds ``agreement_trained``, ``agreement_untrained``,
    ``gap_trained``, ``gap_untrained`` (floats), ``neighbours`` (each shown
    character to its ``{"untrained": [...], "trained": [...]}`` lists),
    ``tables`` (the two embedding matrices), ``chars`` and ``val_loss``.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--text", type=Path, default=TEXT, help="UTF-8 text to train on")
    add("--steps", type=positive_int, default=300, help="Adam steps")
    add("--batch-size", type=positive_int, default=32, help="windows in a batch")
    add("--context", type=positive_int, default=32, help="characters in a window")
    add("--d-model", type=d_model_int, default=32, help="embedding width")
    add("--layers", type=non_negative_int, default=1, help="transformer blocks")
    add("--lr", type=positive_float, default=3e-3, help="Adam's peak step size")
    add(
        "--embedding-std",
        type=positive_float,
        default=0.02,
        help="std of the embedding table's initial entries",
    )
    add("-k", type=positive_int, default=4, help="neighbours per character")
    add(
        "--min-count",
        type=positive_int,
        default=20,
        help="occurrences a character needs to count in the cosine gap",
    )
    add(
        "--threads",
        type=positive_int,
        default=1,
        help="BLAS threads, 1 the fastest here",
    )
    add("--seed", type=seed_int, default=0, help="seed of weights and batches")
    args = parser.parse_args(argv)
    text = read_text(parser, args.text)
    counts = Counter(text)
    check_text(parser, text, counts, args)

    # products this small gain nothing from more threads, and on a busy
    # machine waiting threads cost several times the work itself
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    vocab = char_transformer.Vocabulary(text)
    data = vocab.encode(text)
    split = int(0.9 * len(data))
    sizes = {"context": args.context, "d_model": args.d_model}
    sizes.update(num_layers=args.layers, embedding_std=args.embedding_std)
    model = build_model(len(vocab), **sizes)
    untrained = embedding_table(model)
    print(f"{len(data)} characters, {len(vocab)} distinct")

    start = time.perf_counter()
    losses = train(model, data[:split], args.steps, args.batch_size, args.lr, rng)
    val_loss = char_transformer.evaluate(model, data[split:], args.context)
    elapsed = time.perf_counter() - start
    print(f"{args.steps} steps: train loss {np.mean(losses[-50:]):.3f}")
    print(f"val loss: {val_loss:.3f} ({elapsed:.1f} s)")

    tables = {"untrained": untrained, "trained": embedding_table(model)}
    result = report(vocab, counts, tables, args.k, args.min_count)
    result.update(tables=tables, chars=vocab.chars, val_loss=val_loss)
    return result


if __name__ == "__main__":
    main()
