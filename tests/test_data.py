"""``plaingrad.utils.data``: TensorDataset and DataLoader.

Batches without shuffling are compared with real PyTorch's DataLoader on the
same data. Shuffled orders cannot be (the random streams differ), so those tests
check what must hold for any order: a permutation per epoch, every sample once,
and the same orders again from a generator seeded the same.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.utils.data import DataLoader, Dataset, TensorDataset


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _dataset(n: int = 10) -> TensorDataset:
    # Sample i has features (2i, 2i + 1) and label i, so a batch names its rows.
    features = pg.arange(2 * n, dtype=pg.float32).reshape(n, 2)
    return TensorDataset(features, pg.arange(n))


def _labels(loader: DataLoader) -> list[list[int]]:
    return [labels.tolist() for _, labels in loader]


# ------------------------------------------------------------------ imports


def test_import_paths_match_pytorch():
    torch = pg  # the spelling of a user's `import plaingrad as torch`
    module = importlib.import_module("plaingrad.utils.data")

    assert torch.utils.data is module
    assert torch.utils.data.DataLoader is DataLoader
    assert torch.utils.data.TensorDataset is TensorDataset
    for name in ("Dataset", "Subset", "random_split", "default_collate"):
        assert getattr(torch.utils.data, name) is getattr(module, name)


# ------------------------------------------------------------ TensorDataset


def test_tensor_dataset_indexes_every_tensor():
    ds = _dataset(5)

    features, label = ds[3]

    assert len(ds) == 5
    assert features.tolist() == [6.0, 7.0]
    assert label.item() == 3
    assert label.dtype == pg.int64


def test_tensor_dataset_rejects_unequal_lengths():
    with pytest.raises(ValueError, match=r"Size mismatch.*3 samples.*has 4"):
        TensorDataset(pg.zeros(3, 2), pg.zeros(4))


def test_tensor_dataset_rejects_zero_dim_and_non_tensors():
    with pytest.raises(ValueError, match="tensor 1 is 0-d"):
        TensorDataset(pg.zeros(3), pg.tensor(1.0))
    with pytest.raises(ValueError, match="tensor 0 is 0-d"):
        TensorDataset(pg.tensor(1.0), pg.zeros(3))
    with pytest.raises(TypeError, match="argument 0 is list, not a Tensor"):
        TensorDataset([1, 2, 3])
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


# --------------------------------------------------------------- batching


def test_batches_match_pytorch_without_shuffle(torch):
    data = np.arange(14, dtype=np.float32).reshape(7, 2)
    ours = DataLoader(TensorDataset(pg.tensor(data), pg.arange(7)), batch_size=3)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(data), torch.arange(7)),
        batch_size=3,
    )

    ours_batches, their_batches = list(ours), list(theirs)

    assert len(ours) == len(theirs) == 3
    assert len(ours_batches) == len(their_batches)
    for mine, real in zip(ours_batches, their_batches):
        assert isinstance(mine, list) and len(mine) == 2
        np.testing.assert_array_equal(mine[0].numpy(), real[0].numpy())
        np.testing.assert_array_equal(mine[1].numpy(), real[1].numpy())
        assert mine[0].dtype == pg.float32 and mine[1].dtype == pg.int64


def test_batch_shapes_and_partial_last_batch():
    loader = DataLoader(_dataset(10), batch_size=4)

    batches = list(loader)

    assert [tuple(x.shape) for x, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    assert [tuple(y.shape) for _, y in batches] == [(4,), (4,), (2,)]
    assert batches[-1][0].tolist() == [[16.0, 17.0], [18.0, 19.0]]
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_drop_last_drops_only_a_partial_batch():
    dropped = DataLoader(_dataset(10), batch_size=4, drop_last=True)
    exact = DataLoader(_dataset(8), batch_size=4, drop_last=True)

    assert _labels(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _labels(exact) == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "expected"),
    [
        (10, 4, False, 3),
        (10, 4, True, 2),
        (8, 4, False, 2),
        (8, 4, True, 2),
        (3, 5, False, 1),
        (3, 5, True, 0),
        (1, 1, False, 1),
    ],
)
def test_len_counts_batches(n, batch_size, drop_last, expected):
    loader = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)

    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_default_batch_size_is_one():
    loader = DataLoader(_dataset(3))

    assert len(loader) == 3
    assert _labels(loader) == [[0], [1], [2]]


def test_batch_size_none_yields_unbatched_samples_as_pytorch(torch):
    ours = list(DataLoader(_dataset(2), batch_size=None))
    theirs = list(
        torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.zeros(2, 2), torch.arange(2)),
            batch_size=None,
        )
    )

    assert [type(s) for s in ours] == [type(s) for s in theirs] == [list, list]
    assert [s[1].item() for s in ours] == [s[1].item() for s in theirs] == [0, 1]
    assert ours[1][0].tolist() == [2.0, 3.0]


class _Squares(Dataset):
    """A plain map-style dataset: (tensor, int, float) samples, no fast path."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> tuple:
        return pg.tensor([float(index)] * 2), index, index**2 / 2


def test_custom_dataset_is_collated_as_pytorch(torch):
    batches = list(DataLoader(_Squares(), batch_size=2))

    features, labels, halves = batches[-1]
    assert len(batches) == 3
    assert features.tolist() == [[4.0, 4.0]]
    assert labels.dtype == pg.int64 and labels.tolist() == [4]
    # PyTorch's default_collate turns Python floats into float64.
    assert halves.dtype == pg.float64 and halves.tolist() == [8.0]
    assert torch.utils.data.default_collate([1.5]).dtype == torch.float64


class _ListFetching(_Squares):
    """Uses PyTorch's ``__getitems__`` protocol: a list of samples per batch."""

    def __getitems__(self, indices: list[int]) -> list:
        return [self[i] for i in indices]


def test_getitems_protocol_returns_samples_to_collate():
    features, labels, _ = next(iter(DataLoader(_ListFetching(), batch_size=3)))

    assert tuple(features.shape) == (3, 2)
    assert labels.tolist() == [0, 1, 2]


def test_batches_of_a_tensor_that_requires_grad_stay_in_the_graph():
    weights = pg.ones(4, 2, requires_grad=True)
    loader = DataLoader(TensorDataset(weights), batch_size=2)

    (first,) = next(iter(loader))
    (first * pg.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()

    assert weights.grad.tolist() == [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]


# ---------------------------------------------------------------- shuffle


def _epochs(seed: int, epochs: int = 3, n: int = 23) -> list[list[int]]:
    generator = pg.Generator().manual_seed(seed)
    loader = DataLoader(_dataset(n), batch_size=5, shuffle=True, generator=generator)
    return [sum(_labels(loader), []) for _ in range(epochs)]


def test_shuffle_is_a_permutation_with_every_sample_once_per_epoch():
    n = 23
    loader = DataLoader(
        _dataset(n),
        batch_size=5,
        shuffle=True,
        generator=pg.Generator().manual_seed(1),
    )

    for _ in range(3):
        batches = list(loader)
        order = sum((y.tolist() for _, y in batches), [])

        assert [len(y) for _, y in batches] == [5, 5, 5, 5, 3]
        assert sorted(order) == list(range(n))
        assert order != list(range(n))
        # Features travel with their labels: row i is (2i, 2i + 1).
        for x, y in batches:
            np.testing.assert_array_equal(
                x.numpy(), np.stack([2 * y.numpy(), 2 * y.numpy() + 1], 1)
            )


def test_shuffle_with_a_seeded_generator_is_reproducible():
    first, again, other = _epochs(7), _epochs(7), _epochs(8)

    assert first == again
    assert first != other
    # A new order at every epoch, as PyTorch's RandomSampler gives.
    assert first[0] != first[1] != first[2]


def test_shuffle_without_generator_follows_manual_seed():
    loader = DataLoader(_dataset(12), batch_size=12, shuffle=True)

    pg.manual_seed(3)
    first = _labels(loader)
    pg.manual_seed(3)
    again = _labels(loader)

    assert first == again
    assert sorted(first[0]) == list(range(12))


def test_shuffle_with_drop_last_keeps_full_batches_of_distinct_samples():
    loader = DataLoader(
        _dataset(10),
        batch_size=3,
        shuffle=True,
        drop_last=True,
        generator=pg.Generator().manual_seed(0),
    )

    order = sum(_labels(loader), [])

    assert len(loader) == 3
    assert len(order) == len(set(order)) == 9


# ----------------------------------------------------------- bad arguments


@pytest.mark.parametrize("batch_size", [0, -2, 2.5, True])
def test_bad_batch_size_is_a_value_error(batch_size, torch):
    message = "batch_size should be a positive integer value"
    with pytest.raises(ValueError, match=message):
        DataLoader(_dataset(), batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.zeros(3)), batch_size=batch_size
        )


def test_exclusive_options_raise_as_pytorch():
    ds = _dataset(4)

    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-neg"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="must be a plaingrad.Generator, got int"):
        DataLoader(ds, shuffle=True, generator=0)


def test_unknown_keyword_is_not_silently_ignored():
    with pytest.raises(TypeError, match="batchsize"):
        DataLoader(_dataset(), batchsize=4)


def test_pytorch_loading_options_are_accepted():
    loader = DataLoader(
        _dataset(4),
        batch_size=2,
        num_workers=2,
        pin_memory=True,
        persistent_workers=True,
        prefetch_factor=2,
    )

    assert _labels(loader) == [[0, 1], [2, 3]]


def test_sampler_and_batch_sampler_give_the_order():
    ds = _dataset(5)

    by_sampler = DataLoader(ds, batch_size=2, sampler=[4, 0, 3])
    by_batches = DataLoader(ds, batch_sampler=[[1, 2], [0]])

    assert _labels(by_sampler) == [[4, 0], [3]]
    assert len(by_sampler) == 2
    assert _labels(by_batches) == [[1, 2], [0]]
    assert len(by_batches) == 2
