"""A two-layer LSTM learns the adding problem.

Each input is a sequence of (value, marker) pairs: the values are uniform in
[0, 1), and the marker is 1 at exactly two steps, one in each half of the
sequence, and 0 elsewhere. The target is the sum of the two marked values. A
network that ignores the markers can do no better than guessing 1.0, the mean,
for a mean squared error of 1/6 (about 0.167, the variance of the sum); to go
below that it has to carry the first marked value across the steps between the
two markers, which is what an LSTM's cell state is for. With the defaults the
test error falls to about 0.001, over a hundred times below that baseline.

The data come from NumPy with a fixed seed. The program is PyTorch's: change
the ``import plaingrad as torch`` line to ``import torch`` and it runs
unchanged on PyTorch.

Run it with ``python examples/lstm_sequence.py`` (``--help`` lists the flags).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import plaingrad as torch

nn = torch.nn

# The error of always answering 1.0: the variance of a sum of two U(0, 1).
BASELINE_MSE = 1 / 6


def adding_problem(count: int, length: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sequences (count, length, 2) and their targets (count, 1)."""
    values = rng.random((count, length), dtype=np.float32)
    first = rng.integers(0, length // 2, size=count)
    second = rng.integers(length // 2, length, size=count)
    markers = np.zeros((count, length), dtype=np.float32)
    markers[np.arange(count), first] = 1.0
    markers[np.arange(count), second] = 1.0
    targets = (values * markers).sum(axis=1, keepdims=True)
    return np.stack([values, markers], axis=2), targets.astype(np.float32)


class SequenceRegressor(nn.Module):
    """An LSTM over the sequence, then a linear read-out of its last output."""

    def __init__(self, hidden_size: int = 32, num_layers: int = 2, dropout=0.0):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=2,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        outputs, _ = self.lstm(x)  # (batch, time, hidden)
        return self.head(outputs[:, -1])  # (batch, 1)


def build_model(hidden_size: int = 32, dropout: float = 0.0) -> nn.Module:
    """The two-layer LSTM regressor (dropout acts between the two layers)."""
    return SequenceRegressor(hidden_size=hidden_size, num_layers=2, dropout=dropout)


def batches(inputs, targets, batch_size, rng=None):
    """Yield (inputs, targets) tensors; shuffled when a NumPy ``rng`` is given."""
    order = np.arange(len(inputs)) if rng is None else rng.permutation(len(inputs))
    for start in range(0, len(inputs), batch_size):
        index = order[start : start + batch_size]
        yield torch.from_numpy(inputs[index]), torch.from_numpy(targets[index])


def train_step(model, optimizer, inputs, targets, max_norm: float = 1.0) -> float:
    """One step of Adam on the mean squared error, with clipped gradients."""
    loss = nn.functional.mse_loss(model(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def evaluate(model, inputs, targets) -> float:
    """The mean squared error on ``inputs``, without dropout or gradients."""
    model.eval()
    with torch.no_grad():
        loss = nn.functional.mse_loss(model(torch.from_numpy(inputs)), targets)
    model.train()
    return loss.item()


def main(argv: list[str] | None = None) -> float:
    """Train, print the test error per epoch, and return the last one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=20, help="sequence length")
    parser.add_argument("--train-size", type=int, default=4096)
    parser.add_argument("--test-size", type=int, default=1024)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = adding_problem(args.train_size, args.length, rng)
    x_test, y_test = adding_problem(args.test_size, args.length, rng)
    y_test = torch.from_numpy(y_test)
    model = build_model(args.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        losses = [
            train_step(model, optimizer, x, y)
            for x, y in batches(x_train, y_train, args.batch_size, rng)
        ]
        test_mse = evaluate(model, x_test, y_test)
        print(
            f"epoch {epoch + 1}: train mse {np.mean(losses):.4f}, "
            f"test mse {test_mse:.4f}"
        )
    elapsed = time.perf_counter() - start
    print(f"test mse: {test_mse:.4f} (baseline {BASELINE_MSE:.4f}, {elapsed:.1f} s)")
    return test_mse


if __name__ == "__main__":
    main()
