"""A small convolutional network on scikit-learn's 8x8 handwritten digits.

Each of the 1,797 digits becomes a one-channel 8x8 image; a stratified 80/20
split with a fixed seed keeps 360 for testing. Three 3x3 convolutions with
batch normalization, two 2x2 max-pools and a linear layer reach a test accuracy
of about 0.99 in a few epochs of Adam.

The program is PyTorch's: change the ``import plaingrad as torch`` line to
``import torch`` and it runs, line for line, on PyTorch. The test suite does
exactly that and checks the two libraries lose the same amount, step by step.

Run it with ``python examples/cnn_digits.py`` (``--help`` lists the flags).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import plaingrad as torch

nn = torch.nn


def load_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Train and test images (N, 1, 8, 8) in [0, 1] and their labels (N,)."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    return train_test_split(
        images, labels, test_size=0.2, stratify=labels, random_state=seed
    )


def build_model(dropout: float = 0.2) -> nn.Module:
    """Conv-BN-ReLU blocks: 1x8x8 -> 16x8x8 -> 32x4x4 -> 64x2x2 -> 10 scores."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (batch, 32, 4, 4)
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (batch, 64, 2, 2)
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(64 * 2 * 2, 10),
    )


def batches(images, labels, batch_size, rng=None):
    """Yield (images, labels) tensors; shuffled when a NumPy ``rng`` is given."""
    order = np.arange(len(images)) if rng is None else rng.permutation(len(images))
    for start in range(0, len(images), batch_size):
        index = order[start : start + batch_size]
        yield torch.from_numpy(images[index]), torch.from_numpy(labels[index])


def train_step(model, optimizer, images, labels) -> float:
    """One step of Adam on the cross-entropy of a batch; returns the loss."""
    loss = nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def accuracy(model, images, labels) -> float:
    """The fraction of ``images`` whose highest score is the right label."""
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    model.train()
    return float((predicted == labels).mean())


def main(argv: list[str] | None = None) -> float:
    """Train, print a line per epoch, and return the final test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--limit", type=int, default=None, help="use N train images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    model = build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        for group in optimizer.param_groups:  # cosine decay, one value per epoch
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        losses = [
            train_step(model, optimizer, x, y)
            for x, y in batches(x_train, y_train, args.batch_size, rng)
        ]
        test_accuracy = accuracy(model, x_test, y_test)
        print(
            f"epoch {epoch + 1}: train loss {np.mean(losses):.4f}, "
            f"test accuracy {test_accuracy:.4f}"
        )
    print(f"test accuracy: {test_accuracy:.4f} ({time.perf_counter() - start:.1f} s)")
    return test_accuracy


if __name__ == "__main__":
    main()
