"""Samplers: the order in which a ``DataLoader`` visits a map-style dataset.

A sampler is an iterable of dataset indices; a ``BatchSampler`` groups one
into lists of indices, one list per batch. Random samplers draw from a
``plaingrad.Generator`` when given one and from the global stream (which
``manual_seed`` seeds) otherwise, so a seeded run repeats its orders. The
streams are plaingrad's own: orders are reproducible, not bit-identical to
PyTorch's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from itertools import islice
from typing import Any

import numpy as np

from ...random import Generator, _rng


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"{name} should be a positive integer value, but got {name}={value!r}"
        )


class Sampler:
    """Base class of samplers: subclasses define ``__iter__`` (and usually
    ``__len__``) yielding dataset indices."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """The indices ``0 .. len(data_source) - 1`` in order.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices of ``data_source``: a fresh permutation at every pass.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently and uniformly
            (default False: permutations, so each index once per
            ``len(data_source)`` draws).
        num_samples: how many indices per pass (default ``len(data_source)``);
            without replacement, more than the length gives several
            permutations one after another, the last one cut short.
        generator: the random stream (default: the global one).

    Raises:
        TypeError: for a ``replacement`` that is not a bool.
        ValueError: for a ``num_samples`` that is not a positive integer.

    Example:
        >>> import plaingrad as torch
        >>> g = torch.Generator().manual_seed(0)
        >>> sorted(RandomSampler(range(4), generator=g))
        [0, 1, 2, 3]
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Generator | None = None,
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                "replacement should be a boolean value, but got "
                f"replacement={replacement!r}"
            )
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _positive_int(self.num_samples, "num_samples")

    @property
    def num_samples(self) -> int:
        # The dataset may change size between passes: read its length late.
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self) -> Iterator[int]:
        # The whole order is drawn at once and handed out by a list iterator:
        # a generator here would cost a Python frame switch per index, in the
        # DataLoader's hot loop.
        n = len(self.data_source)
        rng = _rng(self.generator)
        count = self.num_samples
        if self.replacement:
            return iter(rng.integers(0, n, size=count).tolist())
        orders = [rng.permutation(n) for _ in range(count // n)]
        if count % n:
            orders.append(rng.permutation(n)[: count % n])
        if len(orders) == 1:
            return iter(orders[0].tolist())
        return iter(np.concatenate(orders).tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, a new one at every pass.

    Args:
        indices: the dataset indices to visit.
        generator: the random stream (default: the global one).

    Example:
        >>> sorted(SubsetRandomSampler([7, 3, 5]))
        [3, 5, 7]
    """

    def __init__(
        self, indices: Sequence[int], generator: Generator | None = None
    ) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in _rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices ``0 .. len(weights) - 1`` drawn with probabilities in
    proportion to ``weights`` (which need not sum to 1).

    Args:
        weights: one non-negative weight per index (a 1-D sequence).
        num_samples: how many indices per pass.
        replacement: draw independently (default True); without it each index
            comes at most once, so ``num_samples`` may not exceed the number of
            weights (checked when iterating, as PyTorch does).
        generator: the random stream (default: the global one).

    Raises:
        ValueError: for a ``num_samples`` that is not a positive integer, a
            ``replacement`` that is not a bool, or weights that are not 1-D.
        RuntimeError: when iterating, for negative weights, weights that sum to
            0, or too many samples without replacement.

    Example:
        >>> set(WeightedRandomSampler([0.0, 1.0, 0.0], 5))
        {1}
    """

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Generator | None = None,
    ) -> None:
        from ...creation import as_tensor

        _positive_int(num_samples, "num_samples")
        if not isinstance(replacement, bool):
            raise ValueError(
                "replacement should be a boolean value, but got "
                f"replacement={replacement!r}"
            )
        data = getattr(weights, "_data", weights)  # a Tensor's array
        array = np.asarray(data, dtype=np.float64)  # (n,)
        if array.ndim != 1:
            raise ValueError(
                "weights should be a 1d sequence but given weights have shape "
                f"{tuple(array.shape)}"
            )
        self.weights = as_tensor(array)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        from ...ops.sampling import multinomial

        drawn = multinomial(
            self.weights, self.num_samples, self.replacement, generator=self.generator
        )
        yield from drawn.tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: any iterable of indices (a sampler, a list, a range).
        batch_size: indices per batch.
        drop_last: drop a last batch smaller than ``batch_size``.

    Raises:
        ValueError: for a ``batch_size`` that is not a positive integer or a
            ``drop_last`` that is not a bool.

    Example:
        >>> list(BatchSampler(range(5), 2, drop_last=False))
        [[0, 1], [2, 3], [4]]
        >>> list(BatchSampler(range(5), 2, drop_last=True))
        [[0, 1], [2, 3]]
    """

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        _positive_int(batch_size, "batch_size")
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"drop_last should be a boolean value, but got drop_last={drop_last!r}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        size = self.batch_size
        if isinstance(self.sampler, _WHOLE_ORDER):
            # An order known in full up front is cut into slices: the
            # DataLoader's hot loop, so no per-index work at all.
            order = list(self.sampler)
            stop = len(order) - len(order) % size if self.drop_last else len(order)
            for start in range(0, stop, size):
                yield order[start : start + size]
            return
        # Any other iterable, lazily; islice takes each batch at C speed.
        indices = iter(self.sampler)
        while True:
            batch = list(islice(indices, size))
            if not batch or (len(batch) < size and self.drop_last):
                return
            yield batch
            if len(batch) < size:
                return

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)


# Samplers whose whole order BatchSampler may take at once (their orders are
# drawn whole anyway, so taking them early changes nothing).
_WHOLE_ORDER = (SequentialSampler, RandomSampler, range, list, tuple)


class _InfiniteConstantSampler(Sampler):
    """None forever: the stand-in sampler of an ``IterableDataset``, whose
    samples come from its own iterator rather than from indices."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None
