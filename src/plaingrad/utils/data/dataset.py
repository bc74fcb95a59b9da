"""Datasets: map-style (``Dataset``) and iterable (``IterableDataset``).

A map-style dataset answers ``dataset[i]`` and ``len(dataset)``; the
``DataLoader`` chooses the indices. An iterable dataset yields its samples
itself; in worker processes each worker iterates its own copy, so the dataset
shards the stream with ``get_worker_info()``.

Datasets whose samples are rows of arrays (``TensorDataset``, and ``Subset``s
of one) also offer ``_get_batch(indices)``: one fancy-index per array fetches
a whole batch, which is what fetching the rows one by one and collating them
would give, at a fraction of the cost. ``_batch_fetcher`` finds it.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...random import _rng
from ...tensor import Tensor, _wrap


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__`` and ``__len__``.

    ``dataset_a + dataset_b`` is their ``ConcatDataset``.
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    if TYPE_CHECKING:
        # Declared for type checkers only: as in PyTorch, the base class has no
        # length, so len() of a dataset that defines none is a TypeError.
        def __len__(self) -> int: ...

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``.

    With ``num_workers > 0`` every worker process iterates its own copy, so
    without sharding each sample would come once per worker; split the stream
    in ``__iter__`` with ``get_worker_info()`` (None in the main process).

    Example:
        >>> import plaingrad as torch
        >>> class Count(torch.utils.data.IterableDataset):
        ...     def __iter__(self):
        ...         info = torch.utils.data.get_worker_info()
        ...         if info is None:  # in the main process: everything
        ...             return iter(range(6))
        ...         return iter(range(info.id, 6, info.num_workers))
        >>> [b.tolist() for b in torch.utils.data.DataLoader(Count(), batch_size=4)]
        [[0, 1, 2, 3], [4, 5]]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


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
        return [
            t[list(indices)] if t.requires_grad else _wrap(t._data[indices], None)
            for t in self.tensors
        ]

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


def _index_list(indices: Any) -> list:
    """Indices as a list of ints (a tensor or array of them too)."""
    if isinstance(indices, Tensor):
        return indices.tolist()
    if isinstance(indices, np.ndarray):
        return indices.tolist()
    return list(indices)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the whole dataset.
        indices: the positions (a sequence of ints, or an int tensor).
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = _index_list(indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list) -> list:
        # PyTorch's batch protocol: pass the whole list on when the dataset
        # takes one, else fetch sample by sample.
        mapped = [self.indices[i] for i in indices]
        fetch_many = getattr(self.dataset, "__getitems__", None)
        if fetch_many is not None:
            return fetch_many(mapped)
        return [self.dataset[i] for i in mapped]

    def __len__(self) -> int:
        return len(self.indices)


def _batch_fetcher(dataset: Any) -> Callable[[Any], Any] | None:
    """The whole-batch fetch of ``dataset`` (see the module docstring), if any."""
    if isinstance(dataset, Subset):
        inner = _batch_fetcher(dataset.dataset)
        if inner is None:
            return None
        positions = np.asarray(dataset.indices, dtype=np.int64)
        return lambda indices: inner(positions[indices])
    return getattr(dataset, "_get_batch", None)


class ConcatDataset(Dataset):
    """Several map-style datasets one after another.

    Args:
        datasets: the datasets (at least one; no ``IterableDataset``).

    Attributes:
        cumulative_sizes: the running totals of the datasets' lengths.

    Raises:
        ValueError: for no datasets, or an iterable one (PyTorch raises
            AssertionError with the same message).
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError(
                    "absolute value of index should not exceed dataset length"
                )
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which >= len(self.datasets):
            raise IndexError(
                f"ConcatDataset: index {index} is out of range for {len(self)} samples"
            )
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets chained: the samples of each in turn."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(
                    "ChainDataset only supports IterableDataset, got "
                    f"{type(d).__name__}"
                )
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


def _split_lengths(n: int, lengths: Sequence[Any]) -> list:
    """Counts for ``random_split``: fractions summing to 1 become counts."""
    total = sum(lengths)
    if not (math.isclose(total, 1) and total <= 1):
        return list(lengths)
    counts = []
    for i, fraction in enumerate(lengths):
        if fraction < 0 or fraction > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(math.floor(n * fraction))
    # The floors leave up to len(lengths) - 1 samples over: one more to each
    # split in turn, from the first, as PyTorch does.
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, count in enumerate(counts):
        if count == 0:
            warnings.warn(
                f"Length of split at index {i} is 0. This might result in an "
                "empty dataset.",
                UserWarning,
                stacklevel=3,
            )
    return counts


def random_split(
    dataset: Dataset, lengths: Sequence[Any], generator: Any = None
) -> list:
    """Split ``dataset`` into non-overlapping random ``Subset``s.

    Args:
        dataset: the dataset to split (anything with a length).
        lengths: the size of each split, or fractions that sum to 1: each
            split then gets ``floor(len(dataset) * fraction)`` samples and the
            samples left over go one each to the splits in order, from the
            first (PyTorch's rule: 10 samples split ``[0.34, 0.33, 0.33]`` give
            4, 3, 3).
        generator: the random stream (default: the global one).

    Returns:
        One ``Subset`` per length.

    Raises:
        ValueError: when a fraction is outside [0, 1], or the lengths do not
            add up to the dataset's length.

    Warns:
        UserWarning: when a fraction rounds down to an empty split.

    Example:
        >>> import plaingrad as torch
        >>> parts = random_split(range(10), [0.7, 0.3])
        >>> [len(p) for p in parts]
        [7, 3]
    """
    n = len(dataset)  # type: ignore[arg-type]
    counts = _split_lengths(n, lengths)
    if sum(counts) != n:
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset! "
            f"(random_split: the lengths {list(lengths)} add up to {sum(counts)}, "
            f"the dataset has {n} samples)"
        )
    order = _rng(generator).permutation(n).tolist()
    out, start = [], 0
    for count in counts:
        out.append(Subset(dataset, order[start : start + count]))
        start += count
    return out
