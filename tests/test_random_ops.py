"""Random sampling: ``multinomial``, ``bernoulli``, ``poisson`` and the in-place
fills (``normal_``, ``uniform_``, ``bernoulli_``, ``exponential_``, ...).

plaingrad's streams are not PyTorch's, so values cannot be compared with it.
Shapes, dtypes, errors, grad_fn names and version counters are compared with
real PyTorch; the distributions are checked with fixed seeds against bounds
from mathematics: a sample mean lies within 5 standard errors of the true mean
(the standard error written out per distribution), which a correct sampler
fails with probability below 1e-6 per check.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

N = 20000


def seeded(lib, seed: int = 0):
    return lib.Generator().manual_seed(seed)


def torch_error(fn) -> Exception:
    try:
        fn(torch)
    except Exception as error:  # noqa: BLE001  (any of PyTorch's errors)
        return error
    raise AssertionError("torch raised nothing")


def key_phrase(error: Exception) -> str:
    """PyTorch's message without its "Could this be improved" footer and the
    C++ call that expand's errors start with."""
    message = str(error).split("  (Could this error")[0].rstrip(".").strip()
    return re.sub(r"^expand\(.*?\): ", "", message)


def assert_same_error(fn) -> None:
    """``fn(lib)`` raises in torch; plaingrad raises the same type with the
    same message (plaingrad may add context around it)."""
    expected = torch_error(fn)
    with pytest.raises(type(expected), match=re.escape(key_phrase(expected))):
        fn(pg)


def within(estimate: float, truth: float, standard_error: float) -> None:
    assert abs(estimate - truth) <= 5 * standard_error, (
        f"estimate {estimate} is {abs(estimate - truth) / standard_error:.1f} "
        f"standard errors from {truth}"
    )


# ---------------------------------------------------------------- multinomial

MULTINOMIAL_CASES = [
    ([1.0, 2.0, 3.0], 2, False),
    ([1.0, 2.0, 3.0], 3, False),
    ([1.0, 2.0, 3.0], 7, True),
    ([[1.0, 2.0], [0.0, 5.0]], 1, False),
    ([[1.0, 2.0, 0.5], [0.0, 5.0, 1.0]], 5, True),
    ([[1.0, 0.0, 0.0, 1.0]], 4, False),
]


@pytest.mark.parametrize("weights, n, replacement", MULTINOMIAL_CASES)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_multinomial_shape_and_dtype(weights, n, replacement, dtype) -> None:
    def fn(lib):
        w = lib.tensor(weights, dtype=getattr(lib, dtype))
        return lib.multinomial(w, n, replacement, generator=seeded(lib))

    got, expected = fn(pg), fn(torch)
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype == pg.int64 and expected.dtype == torch.int64
    assert not got.requires_grad
    k = len(weights[0]) if isinstance(weights[0], list) else len(weights)
    assert ((got.numpy() >= 0) & (got.numpy() < k)).all()


def test_multinomial_empty_batch() -> None:
    def fn(lib):
        return lib.multinomial(lib.ones(0, 3), 2)

    assert tuple(fn(pg).shape) == tuple(fn(torch).shape) == (0, 2)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.multinomial(lib.tensor([1.0, -1.0]), 1),
        lambda lib: lib.multinomial(lib.tensor([1.0, math.inf]), 1),
        lambda lib: lib.multinomial(lib.tensor([1.0, math.nan]), 1),
        lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1),
        lambda lib: lib.multinomial(lib.tensor([[1.0, 1.0], [0.0, 0.0]]), 1, True),
        lambda lib: lib.multinomial(lib.tensor([1.0, 2.0, 3.0]), 4),
        lambda lib: lib.multinomial(lib.tensor([1.0, 2.0]), 0),
        lambda lib: lib.multinomial(lib.tensor([1.0, 2.0]), -1, True),
        lambda lib: lib.multinomial(lib.tensor(1.0), 1),
        lambda lib: lib.multinomial(lib.ones(2, 2, 2), 1),
        lambda lib: lib.multinomial(lib.tensor([1, 2]), 1),
        lambda lib: lib.multinomial(lib.tensor([True, False]), 1),
        lambda lib: lib.multinomial(lib.tensor([1.0, 2.0]), 2.0),
    ],
)
def test_multinomial_errors(fn) -> None:
    assert_same_error(fn)


def test_multinomial_with_replacement_frequencies() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0])  # not normalised
    draws = pg.multinomial(
        pg.tensor(weights), N, replacement=True, generator=seeded(pg)
    ).numpy()
    p = weights / weights.sum()
    counts = np.bincount(draws, minlength=4) / N
    for k in range(4):
        within(counts[k], p[k], math.sqrt(p[k] * (1 - p[k]) / N))


def test_multinomial_rows_are_independent_distributions() -> None:
    # zero weights are never drawn with replacement, whatever their position
    weights = np.array([[0.0, 1.0, 0.0, 3.0], [2.0, 0.0, 0.0, 0.0], [0, 0, 5, 5.0]])
    draws = pg.multinomial(
        pg.tensor(weights), N, replacement=True, generator=seeded(pg, 1)
    ).numpy()
    for row, w in zip(draws, weights):
        p = w / w.sum()
        counts = np.bincount(row, minlength=4) / N
        assert (counts[p == 0] == 0).all()
        for k in np.flatnonzero(p):
            within(counts[k], p[k], math.sqrt(p[k] * (1 - p[k]) / N))


def test_multinomial_without_replacement_is_sequential_sampling() -> None:
    # N rows of the same weights, two draws each: the first is drawn with
    # probability p_j, the second with sum_{i != j} p_i p_j / (1 - p_i)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    draws = pg.multinomial(pg.tensor(np.tile(p, (N, 1))), 2, generator=seeded(pg))
    draws = draws.numpy()
    assert (draws[:, 0] != draws[:, 1]).all()
    second = np.array(
        [sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)]
    )
    for column, truth in ((0, p), (1, second)):
        counts = np.bincount(draws[:, column], minlength=4) / N
        for k in range(4):
            within(counts[k], truth[k], math.sqrt(truth[k] * (1 - truth[k]) / N))


def test_multinomial_without_replacement_gives_permutations() -> None:
    weights = pg.rand(50, 6, generator=seeded(pg)) + 0.01
    draws = pg.multinomial(weights, 6, generator=seeded(pg, 2)).numpy()
    assert (np.sort(draws, axis=1) == np.arange(6)).all()
    distinct = pg.multinomial(weights, 4, generator=seeded(pg, 3)).numpy()
    assert all(len(set(row)) == 4 for row in distinct)


def test_multinomial_zero_weights_come_last() -> None:
    # PyTorch returns zero-weight categories once the positive ones run out
    draws = pg.multinomial(pg.tensor([[1.0, 0.0, 0.0, 1.0]] * 200), 4).numpy()
    assert (np.sort(draws[:, :2], axis=1) == [0, 3]).all()
    assert (np.sort(draws[:, 2:], axis=1) == [1, 2]).all()
    # ... in random order
    assert len({tuple(row[2:]) for row in draws}) == 2


def test_multinomial_tensor_method() -> None:
    w = pg.tensor([1.0, 2.0, 3.0])
    a = w.multinomial(5, replacement=True, generator=seeded(pg, 7))
    b = pg.multinomial(w, 5, True, generator=seeded(pg, 7))
    assert a.tolist() == b.tolist()


# ----------------------------------------------------------- bernoulli, poisson


def test_bernoulli_mean_and_dtype() -> None:
    for dtype in (pg.float32, pg.float64):
        p = pg.full((N,), 0.3, dtype=dtype)
        out = pg.bernoulli(p, generator=seeded(pg))
        assert out.dtype == dtype
        assert set(np.unique(out.numpy())) <= {0.0, 1.0}
        within(out.numpy().mean(), 0.3, math.sqrt(0.3 * 0.7 / N))
    edges = pg.bernoulli(pg.tensor([0.0, 1.0] * 100)).numpy()
    assert (edges == [0.0, 1.0] * 100).all()


def test_bernoulli_with_p() -> None:
    # p replaces the values; input gives only shape and dtype (any dtype)
    out = pg.bernoulli(pg.zeros(N, dtype=pg.int64), 0.7, generator=seeded(pg))
    assert out.dtype == pg.int64
    within(out.numpy().mean(), 0.7, math.sqrt(0.7 * 0.3 / N))
    method = pg.ones(N).bernoulli(0.2, generator=seeded(pg, 1))
    within(method.numpy().mean(), 0.2, math.sqrt(0.2 * 0.8 / N))


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.bernoulli(lib.tensor([1.5])),
        lambda lib: lib.bernoulli(lib.tensor([-0.5])),
        lambda lib: lib.bernoulli(lib.tensor([math.nan])),
        lambda lib: lib.bernoulli(lib.tensor([1, 0])),
        lambda lib: lib.bernoulli(lib.tensor([0.2]), 1.5),
        lambda lib: lib.bernoulli(lib.tensor([0.2]), -0.1),
        lambda lib: lib.poisson(lib.tensor([-1.0, 2.0])),
        lambda lib: lib.poisson(lib.tensor([math.nan])),
        lambda lib: lib.poisson(lib.tensor([1, 2])),
    ],
)
def test_bernoulli_poisson_errors(fn) -> None:
    assert_same_error(fn)


def test_poisson_mean_and_variance() -> None:
    rate = 4.0
    out = pg.poisson(pg.full((N,), rate), generator=seeded(pg)).numpy()
    assert out.dtype == np.float32
    assert (out == np.round(out)).all() and (out >= 0).all()
    within(out.mean(), rate, math.sqrt(rate / N))
    # Var(s^2) ~ (mu_4 - sigma^4) / N with mu_4 = rate (1 + 3 rate)
    within(out.var(ddof=1), rate, math.sqrt((rate + 2 * rate**2) / N))
    zero = pg.poisson(pg.zeros(5, dtype=pg.float64))
    assert zero.dtype == pg.float64 and zero.tolist() == [0.0] * 5
    huge = pg.poisson(pg.tensor([1e16], dtype=pg.float64)).item()
    within(huge, 1e16, 1e8)


@pytest.mark.parametrize("name", ["bernoulli", "poisson"])
def test_sample_gradient_is_zero(name) -> None:
    def fn(lib):
        x = lib.tensor([0.2, 0.7], requires_grad=True)
        out = getattr(lib, name)(x * 1)
        out.sum().backward()
        return out, x.grad

    (got, got_grad), (expected, expected_grad) = fn(pg), fn(torch)
    assert got.requires_grad and expected.requires_grad
    assert got.grad_fn.name() == expected.grad_fn.name()
    assert got_grad.tolist() == expected_grad.tolist() == [0.0, 0.0]


# ------------------------------------------------------------- in-place fills

FILLS = [
    lambda t, g: t.normal_(generator=g),
    lambda t, g: t.normal_(2.0, 3.0, generator=g),
    lambda t, g: t.uniform_(generator=g),
    lambda t, g: t.uniform_(-1, 3, generator=g),
    lambda t, g: t.uniform_(**{"from": -2, "to": 2}, generator=g),
    lambda t, g: t.bernoulli_(generator=g),
    lambda t, g: t.bernoulli_(0.25, generator=g),
    lambda t, g: t.exponential_(generator=g),
    lambda t, g: t.exponential_(2.0, generator=g),
    lambda t, g: t.geometric_(0.3, generator=g),
    lambda t, g: t.log_normal_(generator=g),
    lambda t, g: t.cauchy_(generator=g),
]


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_fill_keeps_memory_dtype_and_bumps_version(fill, dtype) -> None:
    def fn(lib):
        t = lib.zeros(4, 5, dtype=getattr(lib, dtype))
        memory = t.numpy()
        out = fill(t, seeded(lib))
        return t, out, memory

    (t, out, memory), (tt, tout, _) = fn(pg), fn(torch)
    assert out is t and tout is tt
    assert np.shares_memory(memory, t.numpy())
    assert t.dtype.name == str(tt.dtype).removeprefix("torch.")
    assert t._version == tt._version == 1
    assert not t.requires_grad


@pytest.mark.parametrize("fill", FILLS)
def test_fill_is_reproducible(fill) -> None:
    a = fill(pg.zeros(50), seeded(pg, 5)).numpy()
    b = fill(pg.zeros(50), seeded(pg, 5)).numpy()
    c = fill(pg.zeros(50), seeded(pg, 6)).numpy()
    assert (a == b).all()
    assert not (a == c).all()
    pg.manual_seed(11)
    d = fill(pg.zeros(50), None).numpy()
    pg.manual_seed(11)
    assert (fill(pg.zeros(50), None).numpy() == d).all()


@pytest.mark.parametrize("fill", FILLS)
def test_fill_refuses_leaf_that_requires_grad(fill) -> None:
    def fn(lib):
        fill(lib.zeros(3, requires_grad=True), None)

    assert_same_error(fn)
    # allowed under no_grad, as nn.init does
    leaf = pg.zeros(3, requires_grad=True)
    with pg.no_grad():
        fill(leaf, None)
    assert leaf._version == 1 and leaf.requires_grad


@pytest.mark.parametrize("fill", FILLS)
def test_fill_on_non_leaf_has_zero_gradient(fill) -> None:
    def fn(lib):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        fill(y, seeded(lib))
        (y * 3).sum().backward()
        return y, x.grad

    (y, grad), (ty, tgrad) = fn(pg), fn(torch)
    assert y.grad_fn.name() == ty.grad_fn.name()
    assert grad.tolist() == tgrad.tolist() == [0.0, 0.0, 0.0]


def test_fill_writes_through_a_view() -> None:
    base = pg.zeros(6)
    view = base[2:4]
    view.normal_(generator=seeded(pg))
    values = base.numpy()
    assert (values[[0, 1, 4, 5]] == 0).all() and (values[2:4] != 0).all()
    assert base._version == 1


def test_normal_moments() -> None:
    mean, std = 2.0, 3.0
    x = pg.empty(N, dtype=pg.float64).normal_(mean, std, generator=seeded(pg))
    x = x.numpy()
    within(x.mean(), mean, std / math.sqrt(N))
    # Var(s^2) = 2 sigma^4 / (N - 1) for normal samples
    within(x.var(ddof=1), std**2, std**2 * math.sqrt(2 / (N - 1)))
    assert pg.zeros(10).normal_(1.5, 0.0).tolist() == [1.5] * 10


def test_uniform_range_and_moments() -> None:
    low, high = -1.0, 3.0
    x = pg.empty(N).uniform_(low, high, generator=seeded(pg)).numpy()
    assert (x >= low).all() and (x < high).all()
    within(x.mean(), (low + high) / 2, (high - low) / math.sqrt(12 * N))
    # the extremes of N uniform draws are within (high - low) * 20 / N of the
    # ends except with probability e^-20
    assert x.min() - low < (high - low) * 20 / N
    assert high - x.max() < (high - low) * 20 / N
    # a range that rounds to its upper end in float16 stays open
    narrow = pg.empty(2000, dtype=pg.float16).uniform_(0.999, 1.0).numpy()
    assert (narrow < 1.0).all()
    assert pg.zeros(3).uniform_(2, 2).tolist() == [2.0] * 3


def test_bernoulli_fill_with_tensor_p() -> None:
    p = pg.tensor([0.0, 1.0, 0.4])
    x = pg.empty(N, 3).bernoulli_(p, generator=seeded(pg)).numpy()
    assert (x[:, 0] == 0).all() and (x[:, 1] == 1).all()
    within(x[:, 2].mean(), 0.4, math.sqrt(0.4 * 0.6 / N))
    ints = pg.zeros(N, dtype=pg.int64).bernoulli_(0.5, generator=seeded(pg, 1))
    assert ints.dtype == pg.int64
    within(ints.numpy().mean(), 0.5, math.sqrt(0.25 / N))


def test_exponential_geometric_lognormal_cauchy() -> None:
    x = pg.empty(N, dtype=pg.float64).exponential_(2.0, generator=seeded(pg)).numpy()
    assert (x >= 0).all()
    within(x.mean(), 0.5, 0.5 / math.sqrt(N))
    p = 0.25  # geometric: trials to the first success, mean 1/p, var (1-p)/p^2
    x = pg.empty(N).geometric_(p, generator=seeded(pg)).numpy()
    assert (x >= 1).all() and (x == np.round(x)).all()
    within(x.mean(), 1 / p, math.sqrt((1 - p) / p**2 / N))
    ints = pg.zeros(5, dtype=pg.int64).geometric_(0.5)
    assert ints.dtype == pg.int64 and (ints.numpy() >= 1).all()
    x = pg.empty(N, dtype=pg.float64).log_normal_(1.0, 0.5, generator=seeded(pg))
    within(np.log(x.numpy()).mean(), 1.0, 0.5 / math.sqrt(N))
    # the sample median of Cauchy(m, s) has standard error ~ pi s / (2 sqrt N)
    x = pg.empty(N, dtype=pg.float64).cauchy_(1.0, 2.0, generator=seeded(pg))
    within(np.median(x.numpy()), 1.0, math.pi * 2.0 / (2 * math.sqrt(N)))


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.zeros(3).normal_(0, -1),
        lambda lib: lib.zeros(3).normal_(0, math.nan),
        lambda lib: lib.zeros(3, dtype=lib.int64).normal_(),
        lambda lib: lib.zeros(3).uniform_(3, 2),
        lambda lib: lib.zeros(3).uniform_(1, 2, 3),
        lambda lib: lib.zeros(3).uniform_(-math.inf, 1),
        lambda lib: lib.zeros(3).uniform_(0, 1e39),
        lambda lib: lib.zeros(3).uniform_(-3e38, 3e38),
        lambda lib: lib.zeros(3, dtype=lib.float16).uniform_(0, 70000),
        lambda lib: lib.zeros(3, dtype=lib.int64).uniform_(),
        lambda lib: lib.zeros(3).bernoulli_(1.5),
        lambda lib: lib.zeros(3).bernoulli_(math.nan),
        lambda lib: lib.zeros(3).bernoulli_(lib.tensor([1.5, 0.0, 0.0])),
        lambda lib: lib.zeros(3).bernoulli_(lib.tensor([0.1, 0.2])),
        lambda lib: lib.zeros(3).bernoulli_(lib.zeros(2, 3)),
        lambda lib: lib.zeros(3).bernoulli_(lib.tensor([1, 0, 1])),
        lambda lib: lib.zeros(3).exponential_(0),
        lambda lib: lib.zeros(3).exponential_(-1),
        lambda lib: lib.zeros(3, dtype=lib.int64).exponential_(),
        lambda lib: lib.zeros(3).geometric_(0),
        lambda lib: lib.zeros(3).geometric_(1),
        lambda lib: lib.zeros(3).log_normal_(1, 0),
        lambda lib: lib.zeros(3, dtype=lib.int64).log_normal_(),
        lambda lib: lib.zeros(3).cauchy_(0, -1),
        lambda lib: lib.zeros(3, dtype=lib.int64).cauchy_(),
    ],
)
def test_fill_errors(fn) -> None:
    assert_same_error(fn)


def test_bad_generator_is_refused() -> None:
    with pytest.raises(TypeError, match="generator"):
        pg.zeros(3).normal_(generator="seed")
    with pytest.raises(TypeError, match="generator"):
        pg.multinomial(pg.ones(3), 1, generator=0)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, t, g: lib.rand_like(t, generator=g),
        lambda lib, t, g: lib.randn_like(t, generator=g),
        lambda lib, t, g: lib.randint_like(t, 5, generator=g),
        lambda lib, t, g: lib.randint_like(t, 2, 5, generator=g),
    ],
)
def test_like_functions_take_a_generator(fn) -> None:
    t = pg.zeros(3, 4, dtype=pg.float64)
    a, b = fn(pg, t, seeded(pg, 3)), fn(pg, t, seeded(pg, 3))
    expected = fn(torch, torch.zeros(3, 4, dtype=torch.float64), seeded(torch, 3))
    assert tuple(a.shape) == tuple(expected.shape)
    assert a.dtype.name == str(expected.dtype).removeprefix("torch.")
    assert (a.numpy() == b.numpy()).all()
