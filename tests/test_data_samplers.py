"""Samplers, ``default_collate``, ``random_split``, loader options, pickling.

Deterministic results (collation, split lengths, batch grouping, argument
errors) are compared with real PyTorch. Random orders cannot be (the streams
differ), so they are checked against the samplers' definitions: permutations
per pass, values in range, and frequencies within a bound derived from the
binomial standard deviation.
"""

from __future__ import annotations

import collections
import math
import pickle
import warnings
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


Point = collections.namedtuple("Point", "x y")


def _raises(fn, *args) -> tuple | None:
    """(type name, message) of what ``fn(*args)`` raises; None if nothing."""
    try:
        fn(*args)
    except Exception as error:  # noqa: BLE001 - comparing whatever is raised
        return type(error).__name__, str(error)
    return None


def _same(ours, theirs, torch) -> None:
    """Same structure, container types, dtypes, shapes and values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, pg.Tensor), type(ours)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs)
        assert list(ours) == list(theirs)
        for key in theirs:
            _same(ours[key], theirs[key], torch)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), (type(ours), type(theirs))
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, torch)
    else:
        assert type(ours) is type(theirs) and ours == theirs


# ------------------------------------------------------------- collation


def _batches(lib) -> list:
    """Sample lists covering every rule, built the same way for either library."""
    return [
        [True, False],
        [1, 2],
        [1.5, 2.0],
        [1, 2.5],  # int first: PyTorch infers float32
        [np.float32(1), np.float32(2)],
        [np.int32(3), np.int32(4)],
        [np.zeros(2, np.float16), np.ones(2, np.float16)],
        [np.array(1.0), np.array(2.0)],
        [np.arange(3, dtype=np.uint8), np.arange(3, dtype=np.uint8)],
        ["a", "b"],
        [(1, 2.0), (3, 4.0)],
        [[1, np.zeros(3)], [2, np.ones(3)]],
        [{"a": 1, "b": np.zeros((2, 2))}, {"a": 2, "b": np.ones((2, 2))}],
        [collections.OrderedDict(z=1, a=2.0)] * 2,
        [Point(1, np.zeros(2)), Point(2, np.ones(2))],
        [
            (lib.zeros(2), {"k": [1, 2], "s": "x"}, Point(0.5, lib.ones(1))),
            (lib.ones(2), {"k": [3, 4], "s": "y"}, Point(1.5, lib.zeros(1))),
        ],
    ]


def test_default_collate_matches_pytorch_on_nested_structures(torch):
    theirs = torch.utils.data.default_collate
    for ours_batch, their_batch in zip(_batches(pg), _batches(torch)):
        _same(default_collate(ours_batch), theirs(their_batch), torch)


def test_default_collate_errors_match_pytorch(torch):
    cases = [
        lambda lib: [None, None],
        lambda lib: [object(), object()],
        lambda lib: [np.array(["a"]), np.array(["b"])],
        lambda lib: [[1, 2], [3]],
        lambda lib: [lib.zeros(2), lib.zeros(3)],
    ]
    for make in cases:
        ours = _raises(default_collate, make(pg))
        theirs = _raises(torch.utils.data.default_collate, make(torch))
        assert ours is not None and ours[0] == theirs[0]
        assert ours[1].removeprefix("default_collate: ") == theirs[1].removeprefix(
            "default_collate: "
        )


def test_default_convert_matches_pytorch(torch):
    for sample in [
        (np.zeros(2), 1, (2.0, "s"), Point(1, np.ones(1))),
        np.float32(1.5),
        {"a": np.arange(3)},
        [np.zeros(2)],
        3,
    ]:
        _same(default_convert(sample), torch.utils.data.default_convert(sample), torch)


def test_collated_tensors_that_require_grad_stay_in_the_graph():
    w = pg.ones(2, requires_grad=True)

    batch = default_collate([w, w * 2])
    batch.sum().backward()

    assert batch.grad_fn is not None
    assert w.grad.tolist() == [3.0, 3.0]


# ---------------------------------------------------------------- samplers


def test_sequential_and_batch_samplers_match_pytorch(torch):
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    for n, size, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False)]:
        ours = BatchSampler(range(n), size, drop)
        theirs = torch.utils.data.BatchSampler(range(n), size, drop)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


def test_random_sampler_permutes_each_pass_reproducibly():
    sampler = RandomSampler(range(20), generator=pg.Generator().manual_seed(0))
    again = RandomSampler(range(20), generator=pg.Generator().manual_seed(0))

    first, second = list(sampler), list(sampler)

    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second
    assert [first, second] == [list(again), list(again)]
    assert len(sampler) == 20


def test_random_sampler_with_more_samples_than_data_chains_permutations(torch):
    ours = list(RandomSampler(range(3), num_samples=7))
    theirs = list(torch.utils.data.RandomSampler(range(3), num_samples=7))

    for order in (ours, theirs):  # two full permutations, then one cut short
        assert sorted(order[:3]) == sorted(order[3:6]) == [0, 1, 2]
        assert len(order) == 7 and len(set(order[6:])) == 1


def test_random_sampler_with_replacement_is_uniform():
    n, draws = 5, 50_000
    sampler = RandomSampler(
        range(n), replacement=True, num_samples=draws, generator=pg.Generator()
    )

    counts = np.bincount(list(sampler), minlength=n)

    # each count is Binomial(draws, 1/n): 5 standard deviations either side
    sd = math.sqrt(draws * (1 / n) * (1 - 1 / n))
    assert len(sampler) == draws and counts.sum() == draws
    assert np.all(np.abs(counts - draws / n) < 5 * sd)


def test_subset_random_sampler_permutes_the_given_indices():
    sampler = SubsetRandomSampler([10, 20, 30, 40], generator=pg.Generator())

    orders = [list(sampler) for _ in range(5)]

    assert all(sorted(o) == [10, 20, 30, 40] for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    assert len(sampler) == 4


def test_weighted_sampler_frequencies_follow_the_weights():
    weights = [1.0, 2.0, 3.0, 4.0, 0.0]
    draws = 40_000
    sampler = WeightedRandomSampler(
        weights, draws, generator=pg.Generator().manual_seed(3)
    )

    counts = np.bincount(list(sampler), minlength=5)

    p = np.array(weights) / sum(weights)
    sd = np.sqrt(draws * p * (1 - p))  # binomial standard deviations
    assert counts[4] == 0  # weight 0: never drawn
    assert np.all(np.abs(counts - draws * p) <= 5 * sd)


def test_weighted_sampler_without_replacement_draws_distinct_indices():
    sampler = WeightedRandomSampler([1.0, 1.0, 5.0, 0.0], 3, replacement=False)

    for _ in range(5):
        order = list(sampler)
        assert sorted(order) == [0, 1, 2]  # the zero weight is never reached


def test_sampler_errors_match_pytorch(torch):
    cases = [
        lambda d: d.RandomSampler(range(3), replacement=1),
        lambda d: d.RandomSampler(range(3), num_samples=0),
        lambda d: d.RandomSampler(range(3), num_samples=2.0),
        lambda d: d.BatchSampler(range(3), 0, False),
        lambda d: d.BatchSampler(range(3), True, False),
        lambda d: d.BatchSampler(range(3), 2, 1),
        lambda d: d.WeightedRandomSampler([[1.0, 2.0]], 2),
        lambda d: d.WeightedRandomSampler([1.0, 2.0], 0),
        lambda d: d.WeightedRandomSampler([1.0, 2.0], 3, replacement=2),
    ]
    for make in cases:
        assert _raises(make, pg.utils.data) == _raises(make, torch.utils.data)


def test_weighted_sampler_errors_when_iterating(torch):
    for weights, n, replacement, fragment in [
        ([1.0, 2.0], 3, False, "cannot sample n_sample > prob_dist.size"),
        ([1.0, -2.0], 3, True, "element < 0"),
        ([0.0, 0.0], 3, True, "sum of probabilities <= 0"),
    ]:
        ours = WeightedRandomSampler(weights, n, replacement)
        theirs = torch.utils.data.WeightedRandomSampler(weights, n, replacement)
        with pytest.raises(RuntimeError):
            list(theirs)
        with pytest.raises(RuntimeError, match=fragment):
            list(ours)


# ------------------------------------------------------------ random_split


@pytest.mark.parametrize("n", [1, 7, 10, 11, 100])
@pytest.mark.parametrize(
    "fractions",
    [[0.5, 0.5], [0.3, 0.3, 0.4], [0.34, 0.33, 0.33], [0.1, 0.9], [0.7, 0.2, 0.1]],
)
def test_random_split_fraction_lengths_match_pytorch(torch, n, fractions):
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = random_split(range(n), fractions, generator=pg.Generator())
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs = torch.utils.data.random_split(range(n), fractions)

    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert [str(w.message) for w in ours_warned] == [
        str(w.message) for w in theirs_warned
    ]
    assert sorted(sum((list(s) for s in ours), [])) == list(range(n))


def test_random_split_errors_match_pytorch(torch):
    for lengths in [[1.2, -0.2], [0.5, 0.6], [3, 6], [0.3, 7]]:
        ours = _raises(random_split, range(10), lengths)
        theirs = _raises(torch.utils.data.random_split, range(10), lengths)
        assert ours[0] == theirs[0] == "ValueError"
        assert ours[1].startswith(theirs[1])


def test_random_split_is_reproducible_and_disjoint():
    a = random_split(range(12), [5, 7], generator=pg.Generator().manual_seed(4))
    b = random_split(range(12), [5, 7], generator=pg.Generator().manual_seed(4))

    assert [list(s) for s in a] == [list(s) for s in b]
    assert set(a[0]).isdisjoint(a[1]) and len(a[0]) == 5


# ------------------------------------------------------- datasets, options


def test_subset_and_concat_index_as_pytorch(torch):
    ours = TensorDataset(pg.arange(10))
    theirs = torch.utils.data.TensorDataset(torch.arange(10))

    assert Subset(ours, [5, 6, 7])[[0, 2]][0].tolist() == [5, 7]
    concat = ConcatDataset([ours, ours])
    assert concat.cumulative_sizes == [10, 20]
    assert concat[-20][0].item() == 0 and concat[13][0].item() == 3
    their_concat = torch.utils.data.ConcatDataset([theirs, theirs])
    for index in (-21, 20):
        ours_error = _raises(concat.__getitem__, index)
        assert ours_error[0] == _raises(their_concat.__getitem__, index)[0]


def test_loader_over_a_subset_of_a_tensor_dataset():
    base = TensorDataset(pg.arange(10) * 10, pg.arange(10))
    train, _ = random_split(base, [6, 4], generator=pg.Generator().manual_seed(0))

    (values, labels), *_ = list(DataLoader(train, batch_size=6))

    assert labels.tolist() == train.indices
    assert values.tolist() == [10 * i for i in train.indices]


class _Stream(IterableDataset):
    def __iter__(self):
        return iter(range(3))


def test_chain_dataset_and_iterable_add():
    assert list(_Stream() + _Stream()) == [0, 1, 2, 0, 1, 2]
    assert list(ChainDataset([_Stream()])) == [0, 1, 2]


def test_loader_option_errors_match_pytorch(torch):
    def cases(d, lib):
        ds = d.TensorDataset(lib.arange(10))
        return [
            lambda: d.DataLoader(_stream(d), shuffle=True),
            lambda: d.DataLoader(_stream(d), sampler=[1]),
            lambda: d.DataLoader(_stream(d), batch_sampler=[[1]]),
            lambda: d.DataLoader(ds, prefetch_factor=2),
            lambda: d.DataLoader(ds, num_workers=1, prefetch_factor=-1),
            lambda: d.DataLoader(ds, persistent_workers=True),
            lambda: d.DataLoader(ds, timeout=-1),
            lambda: d.DataLoader(ds, multiprocessing_context="fork"),
            lambda: d.DataLoader(ds, num_workers=1, multiprocessing_context="bogus"),
            lambda: d.DataLoader(ds, num_workers=1, multiprocessing_context=3),
        ]

    for mine, real in zip(cases(pg.utils.data, pg), cases(torch.utils.data, torch)):
        ours, theirs = _raises(mine), _raises(real)
        assert ours is not None and ours[0] == theirs[0]
        assert ours[1].removeprefix("DataLoader: ") == theirs[1]


def _stream(d):
    class Stream(d.IterableDataset):
        def __iter__(self):
            return iter(range(5))

    return Stream()


def test_loader_builds_pytorchs_samplers(torch):
    ds = TensorDataset(pg.arange(10))
    shuffled = DataLoader(ds, batch_size=3, shuffle=True)
    unbatched = DataLoader(ds, batch_size=None)

    assert type(shuffled.sampler) is RandomSampler
    assert type(shuffled.batch_sampler) is BatchSampler
    assert shuffled.batch_sampler.batch_size == 3
    assert type(unbatched.sampler) is SequentialSampler
    assert unbatched.batch_sampler is None
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        shuffled.batch_size = 4


# ----------------------------------------------------------------- pickle


def test_tensors_pickle_with_dtype_values_and_requires_grad(torch):
    leaf = pg.tensor([1.0, 2.0], requires_grad=True)
    leaf.grad = pg.ones(2)
    for original in (pg.arange(6, dtype=pg.int16).reshape(2, 3), leaf, leaf * 2):
        copy = pickle.loads(pickle.dumps(original))
        assert copy.dtype == original.dtype and copy.tolist() == original.tolist()
        assert copy.requires_grad == original.requires_grad
        # as PyTorch: the copy is a leaf, without the original's grad
        assert copy.is_leaf and copy.grad is None
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    t.grad = torch.ones(2)
    real = pickle.loads(pickle.dumps(t * 2))
    assert real.is_leaf and real.requires_grad and real.grad is None


def test_parameters_and_modules_pickle():
    frozen = pg.nn.Parameter(pg.ones(2), requires_grad=False)
    model = pg.nn.Sequential(pg.nn.Linear(3, 4), pg.nn.ReLU(), pg.nn.BatchNorm1d(4))
    model.eval()

    frozen_copy = pickle.loads(pickle.dumps(frozen))
    model_copy = pickle.loads(pickle.dumps(model))

    assert type(frozen_copy) is pg.nn.Parameter and not frozen_copy.requires_grad
    params = list(model_copy.parameters())
    assert all(type(p) is pg.nn.Parameter and p.requires_grad for p in params)
    assert model_copy.training is False
    x = pg.randn(5, 3)
    np.testing.assert_array_equal(
        model_copy(x).detach().numpy(), model(x).detach().numpy()
    )
    for key, value in model.state_dict().items():
        assert model_copy.state_dict()[key].tolist() == value.tolist()


def test_each_iter_draws_from_the_loaders_stream_as_pytorch(torch):
    for lib in (pg, torch):
        ds = lib.utils.data.TensorDataset(lib.arange(4))
        lib.manual_seed(0)
        untouched = lib.rand(1).item()
        lib.manual_seed(0)
        iter(lib.utils.data.DataLoader(ds))  # no shuffle: still one draw
        moved = lib.rand(1).item()
        lib.manual_seed(0)
        iter(lib.utils.data.DataLoader(ds, generator=lib.Generator()))
        own = lib.rand(1).item()

        assert moved != untouched and own == untouched, lib.__name__
