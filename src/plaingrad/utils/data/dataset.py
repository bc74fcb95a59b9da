"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset`` and ``random_split``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...random import _rng
from ...tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    if TYPE_CHECKING:
        # Declared for type checkers only: as in PyTorch, the base class has no
        # length, so len() of a dataset that defines none is a TypeError.
        def __len__(self) -> int: ...

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (all with the same first size).

    Args:
        *tensors: one or more tensors of at least one dimension, all with the
            same size in dimension 0 (the number of samples).

    Raises:
        ValueError: when no tensor is given, or the first sizes differ.
        TypeError: when an argument is not a Tensor.

    Example:
        >>> import plaingrad as torch
        >>> ds = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.arange(4))
        >>> len(ds), ds[1][1]
        (4, tensor(1))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"TensorDataset: argument {i} is {type(t).__name__}, not a Tensor"
                )
            if t.dim() == 0:
                raise ValueError(
                    f"TensorDataset: tensor {i} is 0-d; every tensor needs a first "
                    "dimension that counts the samples"
                )
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors[1:], start=1):
            if t.shape[0] != n:
                raise ValueError(
                    "TensorDataset: Size mismatch between tensors: tensor 0 has "
                    f"{n} samples (shape {tuple(tensors[0].shape)}) but tensor {i} "
                    f"has {t.shape[0]} (shape {tuple(t.shape)})"
                )
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def _get_batch(self, indices: Sequence[int]) -> list:
        """A whole batch at once: one fancy-index per tensor, no per-row stack.

        ``DataLoader`` uses this in place of fetching rows one by one and
        collating them; the result is the same. Tensors that require grad are
        indexed through autograd, so the batch stays in their graph.
        """
        from ...tensor import _wrap

        return [
            t[list(indices)] if t.requires_grad else _wrap(t._data[indices], None)
            for t in self.tensors
        ]

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        self.sizes = [len(d) for d in self.datasets]

    def __len__(self) -> int:
        return sum(self.sizes)

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        for dataset, size in zip(self.datasets, self.sizes):
            if index < size:
                return dataset[index]
            index -= size
        raise IndexError("ConcatDataset: index out of range")


def random_split(
    dataset: Dataset, lengths: Sequence[Any], generator: Any = None
) -> list:
    """Split ``dataset`` into non-overlapping random subsets of the given sizes
    (counts, or fractions summing to 1)."""
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(
            "random_split: Sum of input lengths does not equal the length of the "
            f"input dataset ({sum(lengths)} vs {n})"
        )
    order = _rng(generator).permutation(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start : start + length]))
        start += length
    return out
