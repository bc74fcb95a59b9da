"""``DistributedSampler``: each rank's share of a dataset, as in PyTorch.

All ranks build the same order (shuffled from ``seed + epoch``, or the
natural one), pad it by repeating its head until it divides evenly among the
replicas (or, with ``drop_last``, cut its tail), and rank r takes every
``num_replicas``-th index starting at r. So every rank gets the same number
of samples and, together, each sample at least once (exactly once when the
length divides evenly). The unshuffled order is PyTorch's exactly; the
shuffled one comes from plaingrad's ``randperm`` with a ``Generator`` seeded
``seed + epoch``: reproducible and the same on every rank, but not PyTorch's
permutation (plaingrad's random streams are its own).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from .sampler import Sampler


class DistributedSampler(Sampler):
    """Indices of ``dataset`` for one rank of a data-parallel job.

    Args:
        dataset: a map-style dataset (only its length is used).
        num_replicas: how many ranks share it (default: the world size of the
            default process group).
        rank: this rank, 0 .. num_replicas - 1 (default: the group's rank).
        shuffle: a new order at each epoch (set with ``set_epoch``).
        seed: the shuffle's seed, the same on every rank.
        drop_last: cut the tail so the length divides evenly, instead of
            padding with repeated samples.

    Example:
        >>> sampler = DistributedSampler(range(5), 2, 1, shuffle=False)
        >>> list(sampler)
        [1, 3, 0]
        >>> len(DistributedSampler(range(5), 2, 1, shuffle=False, drop_last=True))
        2
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from ... import distributed as dist

            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        for name, value in (("num_replicas", num_replicas), ("rank", rank)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(
                    f"DistributedSampler: `{name}` must be an int, got "
                    f"{type(value).__name__} {value!r}"
                )
        if num_replicas < 1:
            raise ValueError(
                f"DistributedSampler: num_replicas should be a positive integer, "
                f"got {num_replicas}"
            )
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        size = len(dataset)
        if drop_last and size % num_replicas:
            # the largest whole share: the remainder is left out
            self.num_samples = math.ceil((size - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(size / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        size = len(self.dataset)
        if self.shuffle:
            from ...creation import randperm
            from ...random import Generator

            generator = Generator()
            generator.manual_seed(self.seed + self.epoch)
            indices = randperm(size, generator=generator).tolist()
        else:
            indices = list(range(size))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            missing = self.total_size - size
            # repeat the order from its start as often as it takes
            repeats = math.ceil(missing / size) if size else 0
            indices += (indices * repeats)[:missing]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the next shuffle's seed (call it before each
        epoch's loop, on every rank, or every epoch repeats one order)."""
        self.epoch = epoch
