"""Contrastive learning (SimCLR) on the 8x8 digits, without labels.

An encoder (64 pixels -> 128 ReLU units -> 16 features) and a projection head
(16 -> 128 -> 32) learn from the 1,437 training images of the digits' fixed
split (``plaingrad.datasets.load_digits()``) and no labels: each batch of 128
images becomes two random views of each image (a shift of up to one pixel, a
3x3 patch erased in half the views, intensity scaled by 0.6-1.4, gaussian
noise of std 0.1), and the NT-Xent loss (temperature 0.2) asks each view to
pick out its twin among the other 255 views of the batch. 200 epochs of Adam.

Then the labels come in, only to measure. A linear probe
(``plaingrad.lens.linear_probe``) is fitted to the frozen 16 encoder features
of the training images and scored on the 360 test images, for the trained
encoder and for the same encoder at its random initialisation, beside a
supervised MLP of the same encoder architecture plus a linear head (trained
with the labels: 500 steps of Adam on batches of up to 128 labelled images,
weight decay 1e-4, no augmentation) and a probe on the raw 64 pixels. Each is
trained twice: on 10 labelled images per class (100 in all, the same 100 for
every row) and on all 1,437. Measured with the defaults (seed 0, one BLAS
thread)::

    test accuracy, trained on                  10 labels/class   all 1437 labels
    raw pixels (64), linear probe                        0.850             0.969
    random encoder (16), linear probe                    0.747             0.853
    contrastive encoder (16), linear probe               0.892             0.964
    supervised MLP (encoder + linear head)               0.869             0.972

The NT-Xent loss falls from 5.28 in the first epoch to 2.84 in the last
(log 255 = 5.54 is chance). Over seeds 0-4 the contrastive features probe at
0.883-0.894 with 10 labels per class, 0.145-0.197 above the random
encoder's 0.689-0.747, and at 0.950-0.964 with all labels (random:
0.833-0.869). With 10 labels per class that is on a par with the supervised
MLP (0.853-0.889) and with the raw pixels (0.839-0.906): ahead of the pixels
in four of the five seeds (seed 0: 0.892 against 0.850), behind them in
seed 3 (0.883 against 0.906). With all labels the 16 features stay below
the 64 pixels, which probe at 0.969 in every seed (these digits are nearly
linearly separable already), and within 0.02 of the MLP (0.958-0.972). What
contrastive training buys here is 16 features, learnt without a label, that
keep most of what the 64 pixels tell a linear classifier, where 16 random
features of the same network lose 0.10-0.18 of the pixels' accuracy with 10
labels per class and 0.10-0.14 with all of them.

The figures are those of one BLAS thread (``--threads 1``, the default):
with more threads the matrix products add up in another order and the
figures move by a few thousandths (seed 0 with two threads: 0.886 and 0.961
for the contrastive probe). One thread is also the fastest for products this
small on a busy machine.

The model code is PyTorch's: change the ``import plaingrad as torch`` line to
``import torch`` and it trains on PyTorch (the tests check that the two lose
the same amount, step by step, on the same views). The views are drawn with
NumPy, and the reporting part (the digits, the probes) uses plaingrad's
``datasets`` and ``lens`` on NumPy arrays. About 15-20 s on this project's
busy 2-core machine; ``--epochs 2 --limit 400`` is a quick smoke run.

Run it with ``python examples/contrastive_digits.py`` (``--help`` lists the
flags).
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np

import plaingrad as torch

# plaingrad's own tools, used only in the reporting part: the digits as NumPy
# arrays in, accuracies out. The model and its training use `torch` alone.
from plaingrad import lens
from plaingrad.datasets import load_digits

nn = torch.nn
F = torch.nn.functional


# ---------------------------------------------------------------- the views


def augment(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random view of each (N, 64) image, as (N, 64) float32.

    Each view is the image shifted by up to one pixel each way, with a 3x3
    patch erased in half of the views, its intensity scaled by a factor in
    [0.6, 1.4], plus gaussian noise of standard deviation 0.1.
    """
    n = len(pixels)
    padded = np.pad(pixels.reshape(n, 8, 8), ((0, 0), (1, 1), (1, 1)))  # (N, 10, 10)
    top, left = rng.integers(0, 3, size=(2, n))
    rows = (top[:, None] + np.arange(8))[:, :, None]  # (N, 8, 1)
    cols = (left[:, None] + np.arange(8))[:, None, :]  # (N, 1, 8)
    views = padded[np.arange(n)[:, None, None], rows, cols]  # (N, 8, 8)

    erased = rng.random(n) < 0.5
    top, left = rng.integers(0, 6, size=(2, n))  # the patch's corner
    in_rows = (np.arange(8) >= top[:, None]) & (np.arange(8) < top[:, None] + 3)
    in_cols = (np.arange(8) >= left[:, None]) & (np.arange(8) < left[:, None] + 3)
    patch = in_rows[:, :, None] & in_cols[:, None, :] & erased[:, None, None]
    views = np.where(patch, 0.0, views)  # (N, 8, 8)

    views = views * rng.uniform(0.6, 1.4, size=(n, 1, 1))
    views = views + rng.normal(0.0, 0.1, size=views.shape)
    return views.reshape(n, 64).astype(np.float32)


# ---------------------------------------------------------------- the model


def build_encoder(hidden: int = 128, features: int = 16) -> nn.Module:
    """The encoder: 64 pixels -> ``hidden`` ReLU units -> ``features`` numbers."""
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, features),
    )


class SimCLR(nn.Module):
    """An encoder and the projection head the contrastive loss is taken on."""

    def __init__(self, hidden: int = 128, features: int = 16, projection: int = 32):
        super().__init__()
        self.encoder = build_encoder(hidden, features)
        self.head = nn.Sequential(
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, projection),
        )

    def forward(self, x):
        return self.head(self.encoder(x))  # (batch, projection)


def nt_xent(z1, z2, temperature: float = 0.2):
    """SimCLR's normalised-temperature cross-entropy over the 2N views.

    Each view's positive is the other view of its image; the other 2N - 2
    views of the batch are its negatives, and the view itself is left out.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2N, d), unit rows
    logits = z @ z.T / temperature  # (2N, 2N) cosine similarities
    itself = torch.eye(2 * n, dtype=torch.bool)
    logits = logits.masked_fill(itself, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, positives)


def train_step(model, optimizer, view1, view2, temperature: float = 0.2) -> float:
    """One step of Adam on the NT-Xent loss of two views; returns the loss."""
    loss = nt_xent(model(view1), model(view2), temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def view_pairs(pixels, batch_size, rng):
    """Yield two augmented views, as tensors, of each shuffled batch."""
    order = rng.permutation(len(pixels))
    for start in range(0, len(pixels), batch_size):
        batch = pixels[order[start : start + batch_size]]
        view1, view2 = augment(batch, rng), augment(batch, rng)
        yield torch.from_numpy(view1), torch.from_numpy(view2)


def supervised_step(model, optimizer, inputs, labels) -> float:
    """One step of Adam on the cross-entropy of a labelled batch."""
    loss = F.cross_entropy(model(inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_supervised(images, labels, args, rng) -> nn.Module:
    """The encoder's architecture plus a linear head, trained on the labels.

    Plain supervised training: Adam with a little weight decay on batches of
    the labelled images themselves (no augmentation), ``supervised_steps``
    steps.
    """
    model = nn.Sequential(
        build_encoder(args.hidden, args.features), nn.Linear(args.features, 10)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    for _ in range(args.supervised_steps):
        index = rng.choice(
            len(images), min(args.batch_size, len(images)), replace=False
        )
        inputs, targets = (
            torch.from_numpy(images[index]),
            torch.from_numpy(labels[index]),
        )
        supervised_step(model, optimizer, inputs, targets)
    return model


def encode(encoder, pixels: np.ndarray) -> np.ndarray:
    """The encoder's (N, features) outputs for (N, 64) pixels, as NumPy."""
    encoder.eval()
    with torch.no_grad():
        out = encoder(torch.from_numpy(pixels)).numpy()
    encoder.train()
    return out


def predict(model, pixels: np.ndarray) -> np.ndarray:
    """The class of highest score for each image."""
    return encode(model, pixels).argmax(axis=1)


# ------------------------------------------------------------ the reporting
# plaingrad's lens and NumPy from here on: features in, accuracies out.


def few_labels(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """The indices of ``per_class`` random samples of each class, seeded."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
            for c in np.unique(labels)
        ]
    )


def report(accuracy: dict, labels_per_class: int, n_train: int, features: int) -> None:
    """Print the table of probe accuracies beside the supervised MLP's."""
    few, full = f"{labels_per_class} labels/class", f"all {n_train} labels"
    print(f"\n{'test accuracy, trained on':<40}{few:>18}{full:>18}")
    for name, (with_few, with_all) in accuracy.items():
        what = f"{name} ({features}), linear probe"
        if name == "raw pixels":
            what = "raw pixels (64), linear probe"
        elif name == "supervised MLP":
            what = "supervised MLP (encoder + linear head)"
        print(f"{what:<40}{with_few:>18.3f}{with_all:>18.3f}")


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


def check_labels(parser, labels: np.ndarray, per_class: int, limit) -> None:
    """Refuse a ``--labels-per-class`` some digit has too few images for."""
    counts = np.bincount(labels, minlength=10)
    digit = int(counts.argmin())
    if counts[digit] >= per_class:
        return
    if limit is None:
        parser.error(
            f"argument --labels-per-class: {per_class} is more than the "
            f"{counts[digit]} training images of digit {digit}"
        )
    parser.error(
        f"argument --limit: the first {limit} training images hold "
        f"{counts[digit]} of digit {digit}, fewer than --labels-per-class "
        f"{per_class} (raise --limit or lower --labels-per-class)"
    )


def main(argv: list[str] | None = None) -> dict:
    """Train without labels, probe the features, print a table and return it.

    Returns:
        ``{"accuracy": {row: (few_labels, all_labels)}, "features": {row:
        (train, test)}, "labels": (y_train, y_test), "labelled": indices}``,
        the rows being raw pixels, the random and the contrastive encoder (the
        probes' test accuracies) and the supervised MLP (its own).
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--epochs",
        type=positive_int,
        default=200,
        help="epochs of contrastive training",
    )
    add("--batch-size", type=positive_int, default=128, help="images in a batch")
    add("--lr", type=positive_float, default=3e-3, help="Adam's step size")
    add("--temperature", type=positive_float, default=0.2, help="NT-Xent's temperature")
    add(
        "--hidden",
        type=positive_int,
        default=128,
        help="width of the encoder's hidden layer",
    )
    add("--features", type=positive_int, default=16, help="number of encoder features")
    add(
        "--labels-per-class",
        type=positive_int,
        default=10,
        help="labelled images of each digit in the few-label column",
    )
    add(
        "--supervised-steps",
        type=positive_int,
        default=500,
        help="Adam steps of the supervised MLP",
    )
    add(
        "--probe-epochs",
        type=positive_int,
        default=300,
        help="Adam steps of each probe",
    )
    add("--limit", type=positive_int, help="train on the first N of the 1,437 images")
    add(
        "--threads",
        type=positive_int,
        default=1,
        help="BLAS threads, 1 the fastest here",
    )
    add("--seed", type=seed_int, default=0, help="seed of weights, views and labels")
    args = parser.parse_args(argv)

    data = load_digits()  # the fixed split (seed 0): 1,437 train, 360 test
    x_train = data.x_train.numpy()[: args.limit]
    y_train = data.y_train.numpy()[: args.limit]
    check_labels(parser, y_train, args.labels_per_class, args.limit)
    # products this small gain nothing from more threads, and on a busy
    # machine waiting threads cost several times the work; the figures also
    # depend a little on the count (summation order), so it is fixed
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()

    model = SimCLR(args.hidden, args.features)
    untrained = copy.deepcopy(model.encoder)  # the same encoder, at initialisation
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        losses = [
            train_step(model, optimizer, view1, view2, args.temperature)
            for view1, view2 in view_pairs(x_train, args.batch_size, rng)
        ]
        if epoch == 0 or (epoch + 1) % 20 == 0 or epoch + 1 == args.epochs:
            print(f"epoch {epoch + 1}: nt-xent loss {np.mean(losses):.4f}")

    labelled = few_labels(y_train, args.labels_per_class, args.seed)
    supervised = [
        train_supervised(x_train[index], y_train[index], args, rng)
        for index in (labelled, np.arange(len(x_train)))
    ]

    features = {
        "raw pixels": (x_train, x_test),
        "random encoder": (encode(untrained, x_train), encode(untrained, x_test)),
        "contrastive encoder": (
            encode(model.encoder, x_train),
            encode(model.encoder, x_test),
        ),
    }
    probe = {"epochs": args.probe_epochs}
    accuracy = {
        name: (
            lens.linear_probe(
                train[labelled], y_train[labelled], test, y_test, **probe
            ),
            lens.linear_probe(train, y_train, test, y_test, **probe),
        )
        for name, (train, test) in features.items()
    }
    accuracy["supervised MLP"] = tuple(
        float(np.mean(predict(net, x_test) == y_test)) for net in supervised
    )
    report(accuracy, args.labels_per_class, len(x_train), args.features)
    print(f"({time.perf_counter() - start:.1f} s)")
    return {
        "accuracy": accuracy,
        "features": features,
        "labels": (y_train, y_test),
        "labelled": labelled,
    }


if __name__ == "__main__":
    main()
