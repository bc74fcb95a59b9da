"""Random ops of issue 3, all taking a ``Generator``: what can be checked
without the values (the two libraries' streams differ).

Per case each check compares with torch, called the same way with a
``torch.Generator``: shape, dtype and ``requires_grad`` of the result, the
gradient (zero: a sample does not change smoothly with its parameters); the
arguments torch refuses are in specs_random_errors.py. Then it checks the support
(categories of positive weight, {0, 1}, non-negative integers, [low, high)),
the statistics of a large sample against the distribution's moments, and
reproducibility: one seed gives one sample, another seed another one, and a
``Generator`` leaves the global stream alone.

The bounds are six standard deviations of the statistic (a frequency's
binomial spread, the standard error of a mean, the spread of a sample
variance from the fourth moment), so a correct sampler fails each bound with
probability about 2e-9; the runs are seeded, so CI sees the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import CustomSpec, broadcastable, floats, stage

N = 10_000  # draws behind each statistic
SIGMAS = 6.0


# ------------------------------------------------------------------ helpers


def _numpy(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _like_torch(p_out: Any, t_out: Any, what: str) -> None:
    """Same shape, dtype and requires_grad as torch's result."""
    assert tuple(p_out.shape) == tuple(t_out.shape), (
        f"{what}: shape {tuple(p_out.shape)}, torch {tuple(t_out.shape)}"
    )
    p_dtype, t_dtype = str(p_out.dtype).split(".")[-1], str(t_out.dtype).split(".")[-1]
    assert p_dtype == t_dtype, f"{what}: dtype {p_dtype}, torch {t_dtype}"
    assert p_out.requires_grad == t_out.requires_grad, (
        f"{what}: requires_grad {p_out.requires_grad}, torch {t_out.requires_grad}"
    )


def _both(torch: Any, call: Callable, seed: int = 0) -> tuple:
    """``call(lib, generator)`` in plaingrad and torch, each with a seeded
    generator; the results are compared by ``_like_torch``."""
    t_out = call(torch, torch.Generator().manual_seed(seed))
    p_out = call(pg, pg.Generator().manual_seed(seed))
    return p_out, t_out


def _reproducible(sample: Callable, varies: bool, what: str) -> None:
    """``sample(generator)`` as a NumPy array: one seed, one sample; another
    seed, another one (when ``varies``); the global stream untouched."""
    first = sample(pg.Generator().manual_seed(7))
    np.testing.assert_array_equal(
        sample(pg.Generator().manual_seed(7)), first, err_msg=f"{what}: same seed"
    )
    if varies:
        assert not np.array_equal(sample(pg.Generator().manual_seed(8)), first), (
            f"{what}: seeds 7 and 8 give the same sample"
        )
    pg.manual_seed(3)
    expected = _numpy(pg.rand(4))
    pg.manual_seed(3)
    sample(pg.Generator().manual_seed(7))
    np.testing.assert_array_equal(
        _numpy(pg.rand(4)), expected, err_msg=f"{what}: moved the global stream"
    )


def _near(value: float, expected: float, sd: float, what: str) -> None:
    assert abs(value - expected) <= SIGMAS * sd + 1e-12, (
        f"{what}: {value} is more than {SIGMAS} sd ({sd:.3g}) from {expected}"
    )


def _frequencies(counts: np.ndarray, n: int, p: np.ndarray, what: str) -> None:
    """counts[i] ~ Binomial(n, p[i]); p 0 or 1 must be met exactly."""
    for c, q in zip(counts.reshape(-1), np.broadcast_to(p, counts.shape).reshape(-1)):
        _near(c / n, q, math.sqrt(q * (1 - q) / n), f"{what}: frequency")


def _moments(x: np.ndarray, mean: Any, var: Any, mu4: Any, what: str) -> None:
    """Per column of x (draws along axis 0): the sample mean within the
    standard error of ``mean``, the sample variance within its spread
    sqrt((mu4 - var^2) / n) of ``var`` (mu4: the fourth central moment); then
    the same for all columns pooled, standardized, for tighter bounds."""
    n = x.shape[0]
    mean, var, mu4 = (
        np.broadcast_to(v, x.shape[1:]).reshape(-1) for v in (mean, var, mu4)
    )
    columns = x.reshape(n, -1).T
    for m, v, m4, column in zip(mean, var, mu4, columns):
        _near(column.mean(), m, math.sqrt(v / n), f"{what}: mean")
        _near(column.var(ddof=1), v, math.sqrt(max(m4 - v * v, 0) / n), f"{what}: var")
    spread = var > 0
    if spread.any():
        z = (columns[spread] - mean[spread, None]) / np.sqrt(var[spread, None])
        kurtosis = (mu4[spread] / var[spread] ** 2).mean()
        _near(z.mean(), 0.0, math.sqrt(1 / z.size), f"{what}: pooled mean")
        _near(
            (z**2).mean(),
            1.0,
            math.sqrt((kurtosis - 1) / z.size),
            f"{what}: pooled var",
        )


def _zero_grads(p_out: Any, t_out: Any, leaves: list, what: str) -> None:
    """Backpropagate ones through both; plaingrad's .grad (zeros) as torch's."""
    with stage("backward"):
        if not t_out.requires_grad:
            return
        p_out.sum().backward()
        t_out.sum().backward()
        for i, (p, t) in enumerate(leaves):
            if t.grad is None:
                assert p.grad is None, f"{what}: input {i} has a gradient, torch none"
                continue
            assert p.grad is not None, f"{what}: input {i} has no gradient"
            np.testing.assert_array_equal(_numpy(p.grad), t.grad.numpy())


def _leaf(lib: Any, x: np.ndarray, dtype: str, grad: bool = True) -> Any:
    return lib.tensor(np.asarray(x, dtype=dtype), requires_grad=grad)


def _copies(x: np.ndarray, n: int = N) -> np.ndarray:
    return np.broadcast_to(x, (n, *x.shape)).copy()


# ------------------------------------------------------------ multinomial


@st.composite
def _weights(draw: Any) -> np.ndarray:
    """(k,) or (rows, k) non-negative weights, some zero, none a zero row."""
    k = draw(st.integers(1, 5))
    rows = draw(st.sampled_from([None, 1, 2, 3]))
    shape = (k,) if rows is None else (rows, k)
    w = draw(floats(shape, low=0.0, high=3.0, edges=("normal", "ties")))
    w = np.where(w < 0.3, 0.0, w)  # zero weights
    w2 = w.reshape(-1, k)
    w2[w2.sum(-1) == 0, draw(st.integers(0, k - 1))] = 1.0
    return w


@st.composite
def _multinomial_case(draw: Any, replacement: bool) -> tuple:
    w = draw(_weights())
    k = w.shape[-1]
    n = draw(st.integers(1, 6 if replacement else k))
    return w, n


def _check_multinomial(replacement: bool) -> Callable:
    def check(torch: Any, dtype: str, w: np.ndarray, n: int) -> None:
        def call(lib: Any, g: Any) -> Any:
            return lib.multinomial(
                lib.tensor(w.astype(dtype)), n, replacement, generator=g
            )

        p_out, t_out = _both(torch, call)
        _like_torch(p_out, t_out, "multinomial")
        rows, picks = w.reshape(-1, w.shape[-1]), _numpy(p_out).reshape(-1, n)
        for weights, row in zip(rows, picks):
            assert np.all((0 <= row) & (row < weights.size)), f"out of range: {row}"
            positive = weights[row] > 0
            if replacement:
                assert positive.all(), f"a zero-weight category drawn: {row}"
                continue
            assert len(set(row.tolist())) == n, f"repeats without replacement: {row}"
            nnz = int((weights > 0).sum())
            assert positive[:nnz].all() and not positive[nnz:].any(), (
                f"zero-weight categories come last, after the {nnz} others: {row}"
            )
        p = rows[0].astype(dtype).astype(float)
        p /= p.sum()
        if replacement:  # each draw ~ p
            big = pg.multinomial(pg.tensor(rows.astype(dtype)), N, True)
            for r, draws in enumerate(_numpy(big)):
                q = rows[r] / rows[r].sum()
                _frequencies(np.bincount(draws, minlength=q.size), N, q, "draws")
        else:  # the first draw ~ p; the second ~ sum_i p_i p_j / (1 - p_i)
            big = _numpy(
                pg.multinomial(
                    pg.tensor(_copies(rows[0]).astype(dtype)), 2 if p.size > 1 else 1
                )
            )
            _frequencies(np.bincount(big[:, 0], minlength=p.size), N, p, "first draw")
            if (p > 0).sum() >= 2:  # so every p_i < 1
                odds = p / (1 - p)
                second = p * (odds.sum() - odds)
                _frequencies(
                    np.bincount(big[:, 1], minlength=p.size), N, second, "second draw"
                )
        source = pg.tensor(_copies(rows[0], 50).astype(dtype))
        _reproducible(
            lambda g: _numpy(pg.multinomial(source, 1, replacement, generator=g)),
            varies=(p > 0).sum() >= 2,
            what="multinomial",
        )

    return check


# ------------------------------------------------------------ bernoulli


def _check_bernoulli(torch: Any, dtype: str, p: np.ndarray) -> None:
    def call(lib: Any, g: Any) -> tuple:
        x = _leaf(lib, p, dtype)
        return lib.bernoulli(x, generator=g), x

    (p_out, p_x), (t_out, t_x) = _both(torch, call)
    _like_torch(p_out, t_out, "bernoulli")
    v = _numpy(p_out)
    assert np.isin(v, [0, 1]).all(), f"values other than 0 and 1: {v}"
    assert (v[p == 0] == 0).all() and (v[p == 1] == 1).all(), "p = 0 or 1 not met"
    _zero_grads(p_out, t_out, [(p_x, t_x)], "bernoulli")
    q = p.astype(dtype).astype(float)
    big = pg.bernoulli(pg.tensor(_copies(q).astype(dtype)))
    _frequencies(_numpy(big).sum(0), N, q, "bernoulli")
    source = pg.tensor(_copies(q, 50).astype(dtype))
    _reproducible(
        lambda g: _numpy(pg.bernoulli(source, generator=g)),
        varies=bool(((0 < q) & (q < 1)).any()),
        what="bernoulli",
    )


def _check_bernoulli_scalar(torch: Any, dtype: str, x: np.ndarray, p: float) -> None:
    def call(lib: Any, g: Any) -> Any:
        return lib.bernoulli(_leaf(lib, x, dtype, grad=False), p, generator=g)

    p_out, t_out = _both(torch, call)
    _like_torch(p_out, t_out, "bernoulli(p)")
    big = _numpy(pg.bernoulli(pg.zeros(N, dtype=getattr(pg, dtype)), p))
    assert np.isin(big, [0, 1]).all()
    _frequencies(np.array([big.sum()]), N, np.array([p]), "bernoulli(p)")
    _reproducible(
        lambda g: _numpy(pg.bernoulli(pg.zeros(50), p, generator=g)),
        varies=0 < p < 1,
        what="bernoulli(p)",
    )


def _check_bernoulli_scalar_grad(torch: Any, dtype: str, x: np.ndarray) -> None:
    p_out, t_out = _both(
        torch, lambda lib, g: lib.bernoulli(_leaf(lib, x, dtype), 0.5, generator=g)
    )
    _like_torch(p_out, t_out, "bernoulli(p)")


# ------------------------------------------------------------ normal


@st.composite
def _normal_case(draw: Any) -> tuple:
    """(mean, std, form): form "tensors", "tensor mean" (std a float) or
    "floats" (both floats, with a size); std >= 0, zeros included."""
    form = draw(st.sampled_from(["tensors", "tensor mean", "floats"]))
    mean, std = draw(broadcastable(2, low=[-3, 0], high=[3, 2], max_dims=2))
    if form == "tensor mean":
        std = float(std.reshape(-1)[0]) if std.size else 1.0
    if form == "floats":
        mean, std = float(mean.mean()) if mean.size else 0.0, float(std.max(initial=1))
    return mean, std, form


def _normal(lib: Any, mean: Any, std: Any, form: str, dtype: str, g: Any) -> Any:
    if form == "floats":
        return lib.normal(mean, std, (2, 3), generator=g, dtype=getattr(lib, dtype))
    m = lib.tensor(np.asarray(mean, dtype=dtype))
    s = lib.tensor(np.asarray(std, dtype=dtype)) if form == "tensors" else std
    return lib.normal(m, s, generator=g)


def _check_normal(torch: Any, dtype: str, mean: Any, std: Any, form: str) -> None:
    p_out, t_out = _both(torch, lambda lib, g: _normal(lib, mean, std, form, dtype, g))
    _like_torch(p_out, t_out, f"normal({form})")
    shape = tuple(p_out.shape)
    m = np.broadcast_to(np.asarray(mean, dtype=dtype).astype(float), shape)
    s = np.broadcast_to(np.asarray(std, dtype=dtype).astype(float), shape)
    v = _numpy(p_out)
    np.testing.assert_array_equal(v[s == 0], m[s == 0].astype(dtype), "std = 0")
    big = pg.normal(
        pg.tensor(_copies(m).astype(dtype)), pg.tensor(_copies(s).astype(dtype))
    )
    _moments(_numpy(big).astype(float), m, s**2, 3 * s**4, "normal")
    _reproducible(
        lambda g: _numpy(_normal(pg, mean, std, form, dtype, g)),
        varies=bool((s > 0).any()),
        what="normal",
    )


def _check_normal_autograd(
    torch: Any, dtype: str, mean: np.ndarray, std: np.ndarray
) -> None:
    def call(lib: Any, g: Any) -> tuple:
        m, s = _leaf(lib, mean, dtype), _leaf(lib, std, dtype)
        return lib.normal(m, s, generator=g), m, s

    (p_out, p_m, p_s), (t_out, t_m, t_s) = _both(torch, call)
    _like_torch(p_out, t_out, "normal")
    _zero_grads(p_out, t_out, [(p_m, t_m), (p_s, t_s)], "normal")


def _check_normal_float_mean(
    torch: Any, dtype: str, mean: float, std: np.ndarray
) -> None:
    p_out, t_out = _both(
        torch,
        lambda lib, g: lib.normal(mean, lib.tensor(std.astype(dtype)), generator=g),
    )
    _like_torch(p_out, t_out, "normal(float, tensor)")


# ------------------------------------------------------------ poisson


def _check_poisson(torch: Any, dtype: str, rates: np.ndarray) -> None:
    def call(lib: Any, g: Any) -> tuple:
        x = _leaf(lib, rates, dtype)
        return lib.poisson(x, generator=g), x

    (p_out, p_x), (t_out, t_x) = _both(torch, call)
    _like_torch(p_out, t_out, "poisson")
    v = _numpy(p_out)
    assert (v >= 0).all() and (v == np.round(v)).all(), f"not counts: {v}"
    assert (v[rates == 0] == 0).all(), "a zero rate gave a non-zero count"
    _zero_grads(p_out, t_out, [(p_x, t_x)], "poisson")
    lam = rates.astype(dtype).astype(float)
    big = _numpy(pg.poisson(pg.tensor(_copies(lam).astype(dtype)))).astype(float)
    _moments(big, lam, lam, lam + 3 * lam**2, "poisson")
    source = pg.tensor(_copies(lam, 20).astype(dtype))
    _reproducible(
        lambda g: _numpy(pg.poisson(source, generator=g)),
        varies=bool((lam > 0).any()),
        what="poisson",
    )


# ------------------------------------------------------------ *_like

# per function: mean, variance, fourth central moment, support check
UNIT = (0.5, 1 / 12, 1 / 80, lambda v: bool(((0 <= v) & (v < 1)).all()))
GAUSS = (0.0, 1.0, 3.0, lambda v: bool(np.isfinite(v).all()))
LIKE = {"rand_like": UNIT, "randn_like": GAUSS}


def _like_case() -> Any:
    return st.tuples(floats(empty=True), st.sampled_from([None, "float64", "float32"]))


def _check_like(name: str) -> Callable:
    mean, var, mu4, in_support = LIKE[name]

    def check(torch: Any, dtype: str, x: np.ndarray, out_dtype: str | None) -> None:
        def call(lib: Any, g: Any) -> Any:
            kw = {} if out_dtype is None else {"dtype": getattr(lib, out_dtype)}
            return getattr(lib, name)(_leaf(lib, x, dtype), generator=g, **kw)

        p_out, t_out = _both(torch, call)
        _like_torch(p_out, t_out, name)
        assert in_support(_numpy(p_out)), f"{name}: values outside the support"
        big = _numpy(getattr(pg, name)(pg.zeros(N, 2, dtype=getattr(pg, dtype))))
        _moments(big.astype(float), mean, var, mu4, name)
        source = pg.zeros(20, dtype=getattr(pg, dtype))
        _reproducible(
            lambda g: _numpy(getattr(pg, name)(source, generator=g)), True, name
        )
        leaf = pg.rand_like(pg.zeros(2), requires_grad=True)
        assert leaf.requires_grad and leaf.is_leaf, "requires_grad=True is a leaf"

    return check


@st.composite
def _randint_case(draw: Any) -> tuple:
    x = draw(floats(empty=True))
    low = draw(st.sampled_from([None, 0, -3, 2]))
    high = (low or 0) + draw(st.integers(1, 5))
    return x, low, high, draw(st.booleans())


def _check_randint_like(torch: Any, dtype: str, x, low, high, as_int: bool) -> None:
    def call(lib: Any, g: Any, like: np.ndarray = x) -> Any:
        t = lib.tensor(like.astype("int64" if as_int else dtype))
        if low is None:
            return lib.randint_like(t, high, generator=g)
        return lib.randint_like(t, low, high, generator=g)

    p_out, t_out = _both(torch, call)
    _like_torch(p_out, t_out, "randint_like")
    lo = 0 if low is None else low
    big = _numpy(call(pg, None, np.zeros(N))).astype(float)
    assert ((lo <= big) & (big < high) & (big == np.round(big))).all(), "support"
    counts = np.bincount((big - lo).astype(int), minlength=high - lo)
    _frequencies(counts, N, np.full(high - lo, 1 / (high - lo)), "randint_like")
    _reproducible(
        lambda g: _numpy(call(pg, g, np.zeros(20))), high - lo > 1, "randint_like"
    )


SPECS = [
    CustomSpec(
        "multinomial",
        _check_multinomial(replacement=False),
        _multinomial_case(replacement=False),
        note="no repeats, zero weights last; first and second draws' frequencies",
    ),
    CustomSpec(
        "multinomial(replacement)",
        _check_multinomial(replacement=True),
        _multinomial_case(replacement=True),
        note="support, each category's frequency",
    ),
    CustomSpec(
        "bernoulli",
        _check_bernoulli,
        floats(low=0.0, high=1.0, empty=True),
        note="values in {0, 1}, p = 0 and 1 exact, frequencies, zero gradient",
    ),
    CustomSpec(
        "bernoulli(p)",
        _check_bernoulli_scalar,
        st.tuples(floats(empty=True), st.sampled_from([0.0, 0.3, 1.0])),
        note="a float p: frequency",
    ),
    CustomSpec(
        "bernoulli(p, requires_grad)",
        _check_bernoulli_scalar_grad,
        floats(),
        examples_scale=0.34,
        note="an input that requires grad",
    ),
    CustomSpec(
        "normal",
        _check_normal,
        _normal_case(),
        note="tensor/tensor, tensor/float, float/float + size: mean and variance",
    ),
    CustomSpec(
        "normal(autograd)",
        _check_normal_autograd,
        broadcastable(2, low=[-3, 0], high=[3, 2], max_dims=2),
        note="mean and std that require grad: zero gradients",
    ),
    CustomSpec(
        "normal(float mean)",
        _check_normal_float_mean,
        st.tuples(st.just(1.5), floats(low=0.0, high=2.0)),
        dtypes=("float64",),
        note="the result takes std's dtype",
    ),
    CustomSpec(
        "poisson",
        _check_poisson,
        floats(low=0.0, high=20.0, empty=True),
        note="counts, rate 0 exact, mean and variance, zero gradient",
    ),
    CustomSpec(
        "rand_like",
        _check_like("rand_like"),
        _like_case(),
        cases=[(np.array(0.5), None)],  # 0-d: a fixed bug
        note="[0, 1), mean 1/2, variance 1/12",
    ),
    CustomSpec(
        "randn_like",
        _check_like("randn_like"),
        _like_case(),
        cases=[(np.array(0.5), None)],  # 0-d: a fixed bug
        note="mean 0, variance 1",
    ),
    CustomSpec(
        "randint_like",
        _check_randint_like,
        _randint_case(),
        note="integers in [low, high), each with frequency 1/(high - low)",
    ),
]
