"""Random sampling from tensors: ``multinomial``, ``bernoulli``, ``poisson`` and
the in-place fills ``normal_``, ``uniform_``, ``bernoulli_``, ``exponential_``,
``geometric_``, ``log_normal_`` and ``cauchy_``.

Every function takes ``generator=`` (a ``plaingrad.Generator``) and otherwise
draws from the global stream, so ``manual_seed`` makes it reproducible; the
numbers are not PyTorch's (the streams differ), the distributions are.
Samples are drawn in float64 and cast to the tensor's dtype.

A sample does not change smoothly with the parameters it was drawn from, so, as
in PyTorch, its gradient is zero: ``bernoulli(p)`` of a ``p`` that requires grad
gives a result that requires grad with a ``BernoulliBackward0`` node sending
zeros back (constant zeros under create_graph=True, as in PyTorch, so that
gradient does not require grad). The in-place fills follow ``fill_``: refused
on a leaf that requires grad (outside ``no_grad``), written into the tensor's
own memory (so views see them), the version counter bumped and ``self``
returned. On a non-leaf the tensor takes a zero-gradient node, as PyTorch's
``NormalBackward0`` (through a view, its base a ``CopySlices``): all of it is
``inplace.overwrite_``.

``multinomial`` with replacement inverts each row's cumulative distribution
(one ``searchsorted`` for all rows, each row shifted by its index so the rows
stack into one increasing sequence); without replacement it keeps the
``num_samples`` smallest of ``E_i / w_i`` with ``E_i ~ Exp(1)``, the first
arrival times of independent exponential clocks, which is exactly drawing one
category at a time in proportion to the remaining weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..random import _rng
from ..tensor import Tensor, _wrap
from .shape import expand

# PyTorch's names for dtypes in its "not implemented for 'Long'" errors
_SCALAR_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
}
# ... and in the bounds errors of uniform_ (C++ type names)
_C_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double"}
_C_INT_NAMES = {"int64": "long int", "int16": "short int", "int8": "signed char"}


def _num(value: float) -> str:
    """A number as PyTorch's C++ messages print it (``0``, ``1.5``, ``nan``)."""
    return f"{float(value):g}"


def _require_float(t: Tensor, kernel: str) -> None:
    if t._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_SCALAR_NAMES[t.dtype.name]}'"
        )


class _ZeroGradSample(Op):
    """A node for random samples: ``values`` replace the input's values, which
    they do not depend on smoothly, so every input gets a zero gradient."""

    @staticmethod
    def forward(ctx, *arrays, values):
        ctx.like = [(a.shape, a.dtype) for a in arrays]
        return values

    @staticmethod
    def backward(ctx, grad_output):
        # d sample / d parameter = 0 (the sample is piecewise constant)
        return tuple(xp.zeros(shape, dtype=dtype) for shape, dtype in ctx.like)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # constant zeros, as PyTorch's zeros_like(grad): no second derivative
        return tuple(
            _wrap(xp.zeros(shape, dtype=dtype), None) for shape, dtype in ctx.like
        )


def _node(name: str) -> type:
    return type(name.removesuffix("0"), (_ZeroGradSample,), {"_name": name})


_BERNOULLI = _node("BernoulliBackward0")
# normal(mean, std): by which of the two are tensors (mean, std)
_NORMAL_NODES = {
    (True, True): _node("NormalBackward3"),
    (True, False): _node("NormalBackward1"),
    (False, True): _node("NormalBackward2"),
}
_POISSON = _node("PoissonBackward0")
_FILL_NODES = {
    "normal_": _node("NormalBackward0"),
    "uniform_": _node("UniformBackward0"),
    "bernoulli_": _node("BernoulliBackward2"),  # p a number
    "bernoulli_tensor": _node("BernoulliBackward1"),  # p a tensor
    "exponential_": _node("ExponentialBackward0"),
    "geometric_": _node("GeometricBackward0"),
    "log_normal_": _node("LogNormalBackward0"),
    "cauchy_": _node("CauchyBackward0"),
}


class _BernoulliNotImplemented(Op):
    """bernoulli(input, p) of an input that requires grad: as in PyTorch the
    result requires grad, but its node refuses to run backward."""

    _name = "torch::autograd::NotImplemented"

    @staticmethod
    def forward(ctx, a, values):
        return values

    @staticmethod
    def backward(ctx, grad_output):
        # PyTorch has no derivative for bernoulli with a float p
        raise RuntimeError("derivative for aten::bernoulli is not implemented")

    backward_graph = backward


def _sampled(input: Tensor, values: Any, node: type) -> Tensor:
    """``values`` (already in input's dtype) as a new tensor; a zero-gradient
    node when ``input`` requires grad."""
    if input._requires_grad:
        return node.apply(input, values=values)
    return _wrap(values, None)


# ---------------------------------------------------------------- multinomial


def _with_replacement(w: Any, n: int, rng: np.random.Generator) -> Any:
    # w: (rows, K) float64 weights, each row with a positive sum
    rows, k = w.shape
    cdf = np.cumsum(w, axis=1)
    total = cdf[:, -1:]
    # from the last positive weight on, the cumulative sum equals the total
    # exactly; make those entries exactly 1 so no zero weight can be drawn
    cdf = np.where(cdf == total, 1.0, cdf / total)
    shift = np.arange(rows, dtype=np.float64)[:, None]
    draws = rng.random((rows, n)) + shift
    picked = np.searchsorted((cdf + shift).ravel(), draws.ravel(), side="right")
    picked = picked.reshape(rows, n) - np.arange(rows)[:, None] * k
    # rounding of draw + shift may land a hair past the row's end
    last = k - 1 - np.argmax(w[:, ::-1] > 0, axis=1)
    return np.clip(picked, 0, last[:, None])


def _without_replacement(w: Any, n: int, rng: np.random.Generator) -> Any:
    # the n earliest of independent exponential arrival times with rates w;
    # zero weights come after every positive one, in random order (PyTorch
    # also returns them when n exceeds the number of positive weights)
    arrival = rng.standard_exponential(w.shape)
    positive = w > 0
    with np.errstate(divide="ignore"):
        key = np.where(positive, np.log(arrival) - np.log(w), arrival)
    order = np.lexsort((key, ~positive), axis=-1)
    return order[:, :n]


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Any = None,
) -> Tensor:
    """Draw category indices with probabilities proportional to ``input``.

    Args:
        input: non-negative weights, one distribution (K,) or one per row
            (R, K); they need not sum to one.
        num_samples: how many indices to draw per distribution.
        replacement: draw with replacement; without it each row's indices are
            distinct, so ``num_samples`` may not exceed K.
        generator: the random stream (default: the global one).

    Returns:
        An int64 tensor (num_samples,) or (R, num_samples).

    Example:
        >>> import plaingrad as torch
        >>> g = torch.Generator().manual_seed(0)
        >>> torch.multinomial(torch.tensor([0., 1., 0.]), 2, True, generator=g)
        tensor([1, 1])
        >>> sorted(torch.multinomial(torch.ones(3), 3, generator=g).tolist())
        [0, 1, 2]
    """
    if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool):
        raise TypeError(
            "multinomial(): argument 'num_samples' (position 2) must be int, not "
            f"{type(num_samples).__name__}"
        )
    a = input._data
    if a.ndim not in (1, 2):
        raise RuntimeError(
            f"multinomial: prob_dist must be 1 or 2 dim (got `input` of shape "
            f"{list(a.shape)})"
        )
    if a.dtype.kind != "f":
        raise RuntimeError(
            "multinomial only supports floating-point dtypes for input, got: "
            f"{_SCALAR_NAMES[input.dtype.name]}"
        )
    if num_samples <= 0:
        raise RuntimeError(
            f"multinomial: cannot sample n_sample <= 0 samples (got num_samples="
            f"{num_samples})"
        )
    k = a.shape[-1]
    if not replacement and num_samples > k:
        raise RuntimeError(
            "multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
            f"without replacement (num_samples={num_samples}, {k} categories)"
        )
    w = np.asarray(a, dtype=np.float64).reshape(a.shape[0] if a.ndim == 2 else 1, k)
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError(
            "multinomial: probability tensor contains either `inf`, `nan` or "
            "element < 0"
        )
    if w.shape[0] == 0:
        picked = np.zeros((0, num_samples), dtype=np.int64)
    else:
        if k == 0 or (w.sum(axis=1) <= 0).any():
            raise RuntimeError(
                "multinomial: invalid multinomial distribution (sum of "
                "probabilities <= 0)"
            )
        draw = _with_replacement if replacement else _without_replacement
        picked = draw(w, int(num_samples), _rng(generator))
    picked = picked.astype(np.int64)
    return _wrap(picked[0] if a.ndim == 1 else picked, None)


# ---------------------------------------------------------- bernoulli, poisson


def _check_p(p: Any, op: str) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise RuntimeError(f"{op} expects p to be in [0, 1], but got p={_num(p)}")
    return p


def _check_p_tensor(p: Any, op: str) -> Any:
    values = np.asarray(p, dtype=np.float64)
    if not ((values >= 0) & (values <= 1)).all():
        raise RuntimeError(
            f"{op}: Expected p_in >= 0 && p_in <= 1 to be true, but got false "
            "(every probability must lie in [0, 1])"
        )
    return values


def bernoulli(
    input: Tensor, p: float | None = None, *, generator: Any = None
) -> Tensor:
    """Draw 0 or 1 for each element, 1 with probability ``input`` (or ``p``).

    Args:
        input: probabilities in [0, 1] (a floating tensor); with ``p`` given,
            only its shape and dtype are used.
        p: one probability for every element, instead of ``input``'s values.
        generator: the random stream (default: the global one).

    Returns:
        A tensor of ``input``'s shape and dtype holding zeros and ones.

    Example:
        >>> import plaingrad as torch
        >>> torch.bernoulli(torch.tensor([0., 1., 1.]))
        tensor([0., 1., 1.])
    """
    a = input._data
    rng = _rng(generator)
    if p is not None:
        chance = _check_p(p, "bernoulli_")  # PyTorch names the in-place kernel
        # the result does not depend on input's values, but PyTorch records a
        # node (whose backward raises) when input requires grad
        values = (rng.random(a.shape) < chance).astype(a.dtype)
        return _sampled(input, values, _BernoulliNotImplemented)
    _require_float(input, "bernoulli_tensor_cpu_p_")
    chance = _check_p_tensor(a, "bernoulli")
    values = (rng.random(a.shape) < chance).astype(a.dtype)
    return _sampled(input, values, _BERNOULLI)


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Draw a Poisson count for each element, with rate ``input``.

    Args:
        input: non-negative rates (a floating tensor).
        generator: the random stream (default: the global one).

    Returns:
        A tensor of ``input``'s shape and dtype holding the counts.

    Example:
        >>> import plaingrad as torch
        >>> torch.poisson(torch.zeros(3))
        tensor([0., 0., 0.])
    """
    _require_float(input, "poisson_cpu")
    rate = np.asarray(input._data, dtype=np.float64)
    if not (rate >= 0).all():
        raise RuntimeError(
            "poisson: invalid Poisson rate, expected rate to be non-negative "
            "(got a negative or NaN rate)"
        )
    rng = _rng(generator)
    # NumPy's sampler stops near 1e19; beyond 1e15 the normal approximation
    # is exact to far below one count per standard deviation. An infinite
    # rate gives inf (PyTorch returns a meaningless large negative number).
    huge = rate > 1e15
    counts = rng.poisson(np.where(huge, 0.0, rate))
    if huge.any():
        with np.errstate(invalid="ignore"):
            approx = np.round(rate + np.sqrt(rate) * rng.standard_normal(rate.shape))
        counts = np.where(huge, np.where(np.isinf(rate), np.inf, approx), counts)
    with np.errstate(over="ignore"):
        values = np.asarray(counts).astype(input._data.dtype)
    return _sampled(input, values, _POISSON)


# ------------------------------------------------------------ in-place fills


def _fill_random(self: Tensor, values: Any, op: str, p: Tensor | None = None) -> Tensor:
    """Write ``values`` into ``self`` as the in-place random fill ``op``."""
    from .inplace import overwrite_

    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(values).astype(self._data.dtype)
    node = _FILL_NODES["bernoulli_tensor" if p is not None else op]
    return overwrite_(self, values, node, () if p is None else (p,))


def normal_(
    self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None
) -> Tensor:
    """Fill with samples from N(mean, std^2), in place."""
    _require_float(self, "normal_kernel_cpu")
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    values = _rng(generator).normal(float(mean), float(std), self._data.shape)
    return _fill_random(self, values, "normal_")


def uniform_(self: Tensor, *args: Any, generator: Any = None, **kwargs: Any) -> Tensor:
    """``uniform_(from=0, to=1)``: fill with samples from U[from, to), in place.

    ``from`` is a Python keyword, so the bounds are taken positionally or as
    ``**{"from": a, "to": b}``.
    """
    if len(args) > 2:
        raise TypeError(
            f"uniform_() takes from 0 to 2 positional arguments but {len(args)} "
            "were given"
        )
    bounds = dict(zip(("from", "to"), args))
    for name, value in kwargs.items():
        if name not in ("from", "to"):
            raise TypeError(f"uniform_() got an unexpected keyword argument '{name}'")
        if name in bounds:
            raise TypeError(f"uniform_() got multiple values for argument '{name}'")
        bounds[name] = value
    low, high = float(bounds.get("from", 0.0)), float(bounds.get("to", 1.0))
    _require_float(self, "check_uniform_bounds")
    npd = self._data.dtype
    limit = float(np.finfo(npd).max)
    for name, value in (("from", low), ("to", high)):
        if not -limit <= value <= limit:
            raise RuntimeError(
                f"uniform_: {name} is out of bounds for {_C_NAMES[npd.name]} "
                f"(got {name}={_num(value)})"
            )
    if low > high:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found "
            f"from={_num(low)} > to={_num(high)}"
        )
    if high - low > limit:
        raise RuntimeError(
            "uniform_ expects to-from <= std::numeric_limits<"
            f"{_SCALAR_NAMES[npd.name]}>::max(), "
            f"but found to={_num(high)} and from={_num(low)} which result in "
            "to-from to exceed the limit"
        )
    values = (low + (high - low) * _rng(generator).random(self._data.shape)).astype(npd)
    if high > low:
        # rounding to the tensor's dtype may reach `to`; keep the range open
        values = np.where(
            values >= high, np.nextafter(npd.type(high), npd.type(low)), values
        )
    return _fill_random(self, values, "uniform_")


def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Fill with 0 or 1, 1 with probability ``p`` (a number or a tensor that
    broadcasts to this one's shape), in place."""
    shape = self._data.shape
    rng = _rng(generator)
    if not isinstance(p, Tensor):
        chance = _check_p(p, "bernoulli_")
        return _fill_random(self, rng.random(shape) < chance, "bernoulli_")
    _require_float(p, "bernoulli_tensor_cpu_p_")
    # expand gives PyTorch's errors for a `p` that does not fit
    chance = _check_p_tensor(expand(p.detach(), shape)._data, "bernoulli_")
    return _fill_random(self, rng.random(shape) < chance, "bernoulli_", p)


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with samples from the exponential distribution of rate ``lambd``."""
    if self._data.dtype.kind != "f":
        raise RuntimeError(
            "Exponential distribution is a continuous probability distribution. "
            f"dtype must be a floating point but you specified "
            f"{_SCALAR_NAMES[self.dtype.name]}"
        )
    if not lambd > 0.0:
        raise RuntimeError(
            f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}"
        )
    draws = _rng(generator).standard_exponential(self._data.shape)
    return _fill_random(self, draws / float(lambd), "exponential_")


def geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success."""
    if not 0.0 < p < 1.0:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(p)}")
    values = _rng(generator).geometric(float(p), self._data.shape)
    return _fill_random(self, values, "geometric_")


def log_normal_(
    self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None
) -> Tensor:
    """Fill with exp(N(mean, std^2)) samples, in place."""
    _require_float(self, "log_normal_cpu")
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(std)}")
    draws = _rng(generator).normal(float(mean), float(std), self._data.shape)
    with np.errstate(over="ignore"):
        return _fill_random(self, np.exp(draws), "log_normal_")


def cauchy_(
    self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None
) -> Tensor:
    """Fill with samples from the Cauchy distribution, in place."""
    if self._data.dtype.kind != "f":
        raise RuntimeError(
            "Cauchy distribution is a continuous probability distribution. dtype "
            f"must be a floating point but you specified "
            f"{_C_INT_NAMES.get(self.dtype.name, self.dtype.name)}"
        )
    if not sigma > 0.0:
        raise RuntimeError(
            f"cauchy_ expects sigma > 0.0, but found sigma={_num(sigma)}"
        )
    draws = _rng(generator).standard_cauchy(self._data.shape)
    return _fill_random(self, float(median) + float(sigma) * draws, "cauchy_")


def _multinomial_method(
    self: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Any = None,
) -> Tensor:
    return multinomial(self, num_samples, replacement, generator=generator)


def _bernoulli_method(
    self: Tensor, p: float | None = None, *, generator: Any = None
) -> Tensor:
    return bernoulli(self, p, generator=generator)


# attached to Tensor by plaingrad.ops
TENSOR_METHODS = {
    "multinomial": _multinomial_method,
    "bernoulli": _bernoulli_method,
    "normal_": normal_,
    "uniform_": uniform_,
    "bernoulli_": bernoulli_,
    "exponential_": exponential_,
    "geometric_": geometric_,
    "log_normal_": log_normal_,
    "cauchy_": cauchy_,
}
