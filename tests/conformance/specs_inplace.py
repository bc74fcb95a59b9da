"""In-place ops of issue 3 (its autograd features), on a non-leaf copy.

Each spec writes into ``x * 1`` (an in-place op on a leaf that requires grad
raises, in both libraries) and returns it, so the gradient flows back through
the in-place op to ``x`` and to the op's other operands. The random fills
(``normal_``, ``uniform_``, ``bernoulli_``) cannot match torch's values: their
specs check the statistics and that the overwritten input gets a zero gradient.
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import (
    CustomSpec,
    OpSpec,
    away_from,
    floats,
    stage,
)


def _into(method: str, *args: Any, **kwargs: Any) -> Any:
    """fn(lib, x, *operands): ``(x * 1).<method>(*operands, *args)``."""

    def fn(lib: Any, x: Any, *operands: Any) -> Any:
        out = x * 1
        result = getattr(out, method)(*operands, *args, **kwargs)
        assert result is out, f"{method} returns its tensor"
        return out

    return fn


@st.composite
def _onto(draw: Any) -> tuple:
    """(x, y): y broadcasts to x's shape (x keeps its shape in place)."""
    x = draw(floats(empty=True))
    shape = draw(hnp.broadcastable_shapes(x.shape, max_dims=x.ndim, min_side=0))
    y = draw(floats(shape))
    return x, y


def _nonzero(xy: tuple) -> tuple:
    x, y = xy
    return x, np.where(np.abs(y) < 0.25, np.copysign(0.5, y) + y, y)


@st.composite
def _masked(draw: Any) -> tuple:
    x = draw(floats(empty=True))
    shape = draw(hnp.broadcastable_shapes(x.shape, max_dims=x.ndim, min_side=0))
    return x, draw(hnp.arrays(np.bool_, shape))


@st.composite
def _index_add(draw: Any) -> tuple:
    """(x, dim, index, source, alpha) with repeated indices."""
    x = draw(floats(min_dims=1))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    n = draw(st.integers(0, 5))
    index = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, x.shape[dim] - 1)))
    shape = list(x.shape)
    shape[dim] = n
    source = draw(floats(tuple(shape)))
    return x, dim, index, source, draw(st.sampled_from([1.0, -0.5]))


def _random_fill(method: str, args: tuple, mean: Any, var: Any) -> Any:
    """A CustomSpec check: the sample's mean and variance, zero gradient."""

    def check(torch: Any, dtype: str, x: np.ndarray) -> None:
        leaf = pg.tensor(x.astype(dtype), requires_grad=True)
        out = leaf * 1
        getattr(out, method)(*args)
        values = out.detach().numpy()
        assert values.shape == x.shape and values.dtype == np.dtype(dtype)
        # 4000 draws: the sample mean is within 4 standard errors
        assert abs(values.mean() - mean) < 4 * np.sqrt(var / values.size)
        assert abs(values.var() - var) < 0.1 * var + 1e-3
        expected = getattr(torch.tensor(x.astype(dtype)), method)(*args)
        assert expected.dtype == getattr(torch, dtype)
        with stage("backward"):
            out.sum().backward()
            np.testing.assert_array_equal(leaf.grad.numpy(), np.zeros_like(x))

    return check


def _big(strategy_shape: tuple = (40, 100)) -> Any:
    return floats(strategy_shape, edges=("normal",))


SPECS = [
    OpSpec("add_", _into("add_"), _onto()),
    OpSpec("add_(alpha)", _into("add_", alpha=-2.0), _onto()),
    OpSpec("mul_", _into("mul_"), _onto()),
    OpSpec("sub_", _into("sub_"), _onto()),
    OpSpec("div_", _into("div_"), _onto().map(_nonzero)),
    OpSpec("zero_", _into("zero_"), floats(empty=True)),
    OpSpec("fill_", _into("fill_", 2.5), floats(empty=True)),
    # a 0-d tensor value gets the sum of the gradient
    OpSpec(
        "fill_(tensor)",
        _into("fill_"),
        st.tuples(floats(empty=True), floats(())),
    ),
    OpSpec("copy_", _into("copy_"), _onto()),
    OpSpec(
        "clamp_",
        _into("clamp_", -0.5, 1.0),
        floats(empty=True),
        fd_ok=away_from(-0.5, 1.0),
        cases=[(np.array([-1.0, -0.5, 0.0, 1.0, 2.0]),)],
    ),
    OpSpec("masked_fill_", _into("masked_fill_", -1.5), _masked()),
    # repeated indices add up, in the forward and in the gradient of source
    OpSpec(
        "index_add_",
        lambda lib, x, dim, index, source, alpha: (x * 1).index_add_(
            dim, index, source, alpha=alpha
        ),
        _index_add(),
    ),
    OpSpec("iadd(+=)", lambda lib, x, y: _iadd(x, y), _onto()),
    CustomSpec(
        "normal_",
        _random_fill("normal_", (1.0, 2.0), 1.0, 4.0),
        _big(),
        note="normal_(1, 2): sample mean and variance; the input gets a zero gradient",
    ),
    CustomSpec(
        "uniform_",
        _random_fill("uniform_", (-1.0, 3.0), 1.0, 16.0 / 12.0),
        _big(),
        note="uniform_(-1, 3): sample mean and variance; zero input gradient",
    ),
    CustomSpec(
        "bernoulli_",
        _random_fill("bernoulli_", (0.25,), 0.25, 0.25 * 0.75),
        _big(),
        note="bernoulli_(0.25): sample mean and variance; zero input gradient",
    ),
]


def _iadd(x: Any, y: Any) -> Any:
    out = x * 1
    out += y
    return out
