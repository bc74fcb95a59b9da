"""Data-parallel training of an MLP on scikit-learn's 8x8 digits.

Every rank (process) holds the whole model and trains it on its own part of
each epoch: ``DistributedSampler`` deals the shuffled training set out to the
ranks (a new order each epoch, from ``set_epoch``), ``DistributedDataParallel``
starts the same weights everywhere and averages the gradients across ranks
during ``backward()``, so every rank takes the same optimizer step. The test
accuracy is counted on a slice of the test set per rank and summed with
``all_reduce``; only rank 0 prints.

On plaingrad, over MPI (the ``mpi`` extra brings ``mpiexec``):

    mpiexec -n 2 python examples/ddp_digits.py

On PyTorch, change the line ``import plaingrad as torch`` to ``import torch``
and launch with torchrun:

    torchrun --nproc_per_node 2 examples/ddp_digits.py

That line is the only change: the backend follows the library (``BACKEND``
below: plaingrad's process group is MPI's; PyTorch's CPU one is gloo, as its
``mpi`` backend needs a PyTorch built against an MPI), and the environment
variable ``DDP_BACKEND`` overrides it. ``--batch-size`` is per rank, as in
PyTorch's DDP: 2 ranks x 32 rows make steps on 64 rows. ``--help`` lists the
flags.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import plaingrad as torch

dist = torch.distributed
nn = torch.nn
DistributedDataParallel = torch.nn.parallel.DistributedDataParallel
DistributedSampler = torch.utils.data.DistributedSampler

# The backend switch: the one line besides the import that differs between the
# libraries, chosen here from the library so that the file stays the same.
BACKEND = os.environ.get(
    "DDP_BACKEND", "mpi" if torch.__name__ == "plaingrad" else "gloo"
)


def load_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Train and test pixels (N, 64) in [0, 1] and labels (N,): 80/20, stratified."""
    digits = load_digits()
    pixels = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    return train_test_split(
        pixels, labels, test_size=0.2, stratify=labels, random_state=seed
    )


def build_model() -> nn.Module:
    """64 pixels -> 128 -> 64 -> 10 scores."""
    return nn.Sequential(
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def global_mean(total: float, count: int) -> float:
    """sum(total) / sum(count) over every rank."""
    both = torch.tensor([total, float(count)], dtype=torch.float64)
    dist.all_reduce(both, op=dist.ReduceOp.SUM)
    return both[0].item() / both[1].item()


def accuracy(model, pixels: np.ndarray, labels: np.ndarray) -> float:
    """The test accuracy over all ranks: each counts every world-size-th row."""
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = slice(rank, None, world)
    model.eval()
    with torch.no_grad():
        scores = model(torch.from_numpy(pixels[mine]))
        correct = (scores.argmax(dim=1) == torch.from_numpy(labels[mine])).sum()
    model.train()
    return global_mean(correct.item(), len(labels[mine]))


def main(argv: list[str] | None = None) -> float:
    """Train, print a line per epoch on rank 0, return the final test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per rank")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    dist.init_process_group(backend=BACKEND)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)  # the same weights on every rank (DDP checks)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    train_set = torch.utils.data.TensorDataset(
        torch.from_numpy(x_train), torch.from_numpy(y_train)
    )
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, sampler=sampler
    )
    model = DistributedDataParallel(build_model())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if rank == 0:
        print(
            f"{torch.__name__} on {world} rank(s), backend {BACKEND}: "
            f"{len(sampler)} of {len(train_set)} training rows per rank, "
            f"batch {args.batch_size} per rank"
        )

    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on all ranks
        total, count = 0.0, 0
        for pixels, labels in loader:
            loss = nn.functional.cross_entropy(model(pixels), labels)
            optimizer.zero_grad()
            loss.backward()  # gradients averaged across the ranks in here
            optimizer.step()
            total += loss.item() * len(labels)
            count += len(labels)
        train_loss = global_mean(total, count)
        test_accuracy = accuracy(model.module, x_test, y_test)
        if rank == 0:
            print(
                f"epoch {epoch + 1}: train loss {train_loss:.4f}, "
                f"test accuracy {test_accuracy:.4f}"
            )
    if rank == 0:
        seconds = time.perf_counter() - start
        print(f"test accuracy: {test_accuracy:.4f} ({seconds:.1f} s)")
    # Free the DDP wrapper while Python is whole: under PyTorch it keeps gloo's
    # worker threads alive, and if the collector only frees it at interpreter
    # exit, those threads abort the process (about 1 run in 25).
    del model
    gc.collect()
    dist.destroy_process_group()
    return test_accuracy


if __name__ == "__main__":
    main()
