"""Double backward of every op that has a Tensor-level rule.

Each op is checked twice: ``gradgradcheck`` (float64 finite differences of its
first derivatives) and real PyTorch (the first derivatives with
``create_graph=True``, then the gradient of a random combination of them with
respect to the inputs and to the output gradients). The engine around those
rules is tested in ``test_double_backward.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

_rng = np.random.default_rng(7)


def _normal(*shape):
    return _rng.standard_normal(shape)


def _positive(*shape):
    return _rng.uniform(0.5, 2.0, shape)


def _inside(*shape):
    return _rng.uniform(-0.8, 0.8, shape)


def _apart(*shape):
    # distinct values, well away from 0 and from each other (no kinks, no ties)
    n = int(np.prod(shape))
    values = (np.arange(n) + 1.0) * 0.37 + _rng.uniform(0.01, 0.1, n)
    values *= _rng.permutation([-1, 1] * n)[:n]
    return _rng.permutation(values).reshape(shape)


def _mask(*shape):
    return _rng.random(shape) > 0.5


X = _normal(2, 3)
P = _positive(2, 3)
WEIGHT = _positive(3)
# PyTorch has no double backward for these (plaingrad's is checked by
# gradgradcheck alone): "derivative for aten::hardsigmoid_backward is not
# implemented"
NOT_IN_TORCH = {"hardsigmoid"}

# (id, fn(lib, *inputs), inputs): float arrays become float64 tensors that
# require grad; others pass through as they are.
OPS = [
    # arithmetic, with broadcasting
    ("add", lambda m, a, b: (a + b) * a, (X, _normal(3))),
    ("sub", lambda m, a, b: (a - b) * b, (X, _normal(2, 1))),
    ("mul", lambda m, a, b: a * b, (X, _normal(3))),
    ("div", lambda m, a, b: a / b, (X, _positive(1, 3))),
    ("neg", lambda m, a: -(a * a), (X,)),
    ("pow_scalar", lambda m, a: a**3, (X,)),
    ("pow_half", lambda m, a: a**0.5, (P,)),
    ("pow_negative", lambda m, a: a**-1.5, (P,)),
    ("pow_tensor", lambda m, a, b: a**b, (P, _normal(3))),
    ("rpow", lambda m, a: 2.0**a, (X,)),
    ("clone", lambda m, a: (a * a).clone(), (X,)),
    # math functions
    ("exp", lambda m, a: m.exp(a), (X,)),
    ("log", lambda m, a: m.log(a), (P,)),
    ("sqrt", lambda m, a: m.sqrt(a), (P,)),
    ("rsqrt", lambda m, a: m.rsqrt(a), (P,)),
    ("abs", lambda m, a: m.abs(a) * a, (_apart(2, 3),)),
    ("sin", lambda m, a: m.sin(a), (X,)),
    ("cos", lambda m, a: m.cos(a), (X,)),
    ("tan", lambda m, a: m.tan(a), (_inside(2, 3),)),
    ("asin", lambda m, a: m.asin(a), (_inside(2, 3),)),
    ("acos", lambda m, a: m.acos(a), (_inside(2, 3),)),
    ("atan", lambda m, a: m.atan(a), (X,)),
    ("sinh", lambda m, a: m.sinh(a), (X,)),
    ("cosh", lambda m, a: m.cosh(a), (X,)),
    ("tanh", lambda m, a: m.tanh(a), (X,)),
    ("sigmoid", lambda m, a: m.sigmoid(a), (X,)),
    ("relu", lambda m, a: m.relu(a) * a, (_apart(2, 3),)),
    ("log1p", lambda m, a: m.log1p(a), (P,)),
    ("expm1", lambda m, a: m.expm1(a), (X,)),
    ("log2", lambda m, a: m.log2(a), (P,)),
    ("log10", lambda m, a: m.log10(a), (P,)),
    ("exp2", lambda m, a: m.exp2(a), (X,)),
    ("reciprocal", lambda m, a: m.reciprocal(a), (P,)),
    ("erf", lambda m, a: m.erf(a), (X,)),
    ("erfinv", lambda m, a: m.erfinv(a), (_inside(2, 3),)),
    ("floor", lambda m, a: m.floor(a) * a, (_apart(2, 3),)),
    ("frac", lambda m, a: m.frac(a) * a, (_apart(2, 3),)),
    ("clamp", lambda m, a: m.clamp(a, -0.5, 0.6) * a, (_apart(2, 3) / 3,)),
    ("where", lambda m, c, a, b: m.where(c, a * a, b), (_mask(2, 3), X, _normal(3))),
    # two-tensor functions
    ("atan2", lambda m, a, b: m.atan2(a, b), (X, _normal(2, 3))),
    ("hypot", lambda m, a, b: m.hypot(a, b), (X, _normal(3))),
    ("lerp_scalar", lambda m, a, b: m.lerp(a, b * b, 0.3) * a, (X, _normal(3))),
    ("lerp", lambda m, a, b, w: m.lerp(a, b, w * w), (X, X[::-1].copy(), X + 1)),
    ("maximum", lambda m, a, b: m.maximum(a, b) * a, (_apart(2, 3), _apart(3))),
    ("minimum", lambda m, a, b: m.minimum(a, b) * b, (_apart(2, 3), _apart(3))),
    ("fmod", lambda m, a, b: m.fmod(a * a, b) * a, (X, _positive(3) + 2)),
    ("remainder", lambda m, a: (a * a) % 0.7 * a, (_apart(2, 3) / 5,)),
    ("masked_fill", lambda m, a, k: (a * a).masked_fill(k, 2.0), (X, _mask(2, 3))),
    (
        "masked_fill_tensor",
        lambda m, a, v, k: (a * a).masked_fill(k, v * v),
        (X, np.array(0.7), _mask(2, 3)),
    ),
    (
        "clamp_tensor",
        lambda m, a, lo, hi: m.clamp(a * a, lo * lo - 0.5, hi * hi + 0.5),
        (_apart(2, 3) / 3, _normal(3), _normal(2, 1)),
    ),
    # reductions
    ("sum", lambda m, a: (a * a).sum(), (X,)),
    ("sum_dim", lambda m, a: (a * a).sum(1), (X,)),
    ("sum_keepdim", lambda m, a: (a * a).sum((0, 1), keepdim=True), (X,)),
    ("mean", lambda m, a: (a * a).mean(), (X,)),
    ("mean_dim", lambda m, a: (a * a).mean(0, keepdim=True), (X,)),
    ("max", lambda m, a: (a * a).max(), (_apart(2, 3),)),
    ("max_dim", lambda m, a: (a * a).max(1)[0], (_apart(2, 3),)),
    ("min_dim", lambda m, a: (a * a).min(0, keepdim=True)[0], (_apart(2, 3),)),
    ("amax", lambda m, a: (a * a).amax(1), (_apart(2, 3),)),
    ("logsumexp", lambda m, a: m.logsumexp(a, 1), (X,)),
    ("logsumexp_all", lambda m, a: m.logsumexp(a, (0, 1), keepdim=True), (X,)),
    ("softmax", lambda m, a: m.softmax(a, 1), (X,)),
    ("log_softmax", lambda m, a: m.log_softmax(a, 0), (X,)),
    ("sum_to_size", lambda m, a: (a * a).sum_to_size(1, 3), (X,)),
    # shapes
    ("reshape", lambda m, a: (a * a).reshape(3, 2), (X,)),
    ("view", lambda m, a: (a * a).view(-1), (X,)),
    ("permute", lambda m, a: (a * a).permute(2, 0, 1), (_normal(2, 3, 2),)),
    ("transpose", lambda m, a: (a * a).transpose(0, 1) @ a, (X,)),
    ("t", lambda m, a: (a * a).t(), (X,)),
    ("expand", lambda m, a: (a * a).expand(4, 2, 3), (_normal(2, 1),)),
    ("squeeze", lambda m, a: (a * a).squeeze(1), (_normal(2, 1, 3),)),
    ("unsqueeze", lambda m, a: (a * a).unsqueeze(0), (X,)),
    ("flatten", lambda m, a: (a * a).flatten(), (_normal(2, 2, 2),)),
    ("select", lambda m, a: (a * a)[1], (X,)),
    ("slice", lambda m, a: (a * a)[:, 1:], (X,)),
    ("index_repeats", lambda m, a: (a * a)[[0, 1, 1], [2, 0, 0]], (X,)),
    ("index_mask", lambda m, a, k: (a * a)[k], (X, _mask(2, 3))),
    ("cat", lambda m, a, b: m.cat([a * a, b * b, a], 1), (X, _normal(2, 2))),
    ("stack", lambda m, a, b: m.stack([a * b, b], 1), (X, _normal(2, 3))),
    ("repeat", lambda m, a: (a * a).repeat(2, 1, 2), (X,)),
    ("flip", lambda m, a: (a * a).flip(0, 1), (X,)),
    ("roll", lambda m, a: (a * a).roll(1, 1), (X,)),
    ("roll_flat", lambda m, a: (a * a).roll(2), (X,)),
    ("narrow", lambda m, a: (a * a).narrow(1, 1, 2), (X,)),
    ("split", lambda m, a: (a * a).split([1, 2], 1), (X,)),
    ("chunk", lambda m, a: (a * a).chunk(2, 1), (X,)),
    ("unbind", lambda m, a: (a * a).unbind(0), (X,)),
    ("diagonal", lambda m, a: (a * a).diagonal(1, 2, 0), (_normal(3, 2, 4),)),
    ("tril", lambda m, a: (a * a).tril(), (_normal(3, 3),)),
    ("triu", lambda m, a: (a * a).triu(1), (_normal(3, 3),)),
    ("movedim", lambda m, a: (a * a).movedim(0, -1), (_normal(2, 3, 2),)),
    # products
    ("matmul", lambda m, a, b: a @ b, (X, _normal(3, 2))),
    ("matmul_vec_mat", lambda m, a, b: a @ b, (_normal(3), _normal(3, 2))),
    ("matmul_mat_vec", lambda m, a, b: a @ b, (X, _normal(3))),
    ("dot", lambda m, a, b: m.dot(a, b * b), (_normal(3), _normal(3))),
    ("matmul_batched", lambda m, a, b: a @ b, (_normal(2, 2, 3), _normal(3, 2))),
    ("bmm", lambda m, a, b: m.bmm(a, b), (_normal(2, 2, 3), _normal(2, 3, 2))),
    (
        "addmm",
        lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2.0),
        (_normal(2), X, _normal(3, 2)),
    ),
    (
        "baddbmm",
        lambda m, c, a, b: m.baddbmm(c, a, b, alpha=0.5),
        (_normal(2, 2, 2), _normal(2, 2, 3), _normal(2, 3, 2)),
    ),
    (
        "linear",
        lambda m, x, w, b: m.nn.functional.linear(x, w, b),
        (_normal(4, 3), _normal(2, 3), _normal(2)),
    ),
    (
        "linear_no_bias",
        lambda m, x, w: m.nn.functional.linear(x, w),
        (_normal(2, 2, 3), _normal(2, 3)),
    ),
    ("outer", lambda m, a, b: m.outer(a, b * b), (_normal(3), _normal(2))),
    # losses
    (
        "mse_loss",
        lambda m, a, b: m.nn.functional.mse_loss(a * a, b),
        (X, _normal(2, 3)),
    ),
    (
        "mse_loss_constant_target",
        lambda m, a: m.nn.functional.mse_loss(a * a, m.tensor(WEIGHT).expand(2, 3)),
        (X,),
    ),
    (
        "mse_loss_sum",
        lambda m, a, b: m.nn.functional.mse_loss(a, b * b, reduction="sum"),
        (X, _normal(2, 3)),
    ),
    (
        "mse_loss_none",
        lambda m, a, b: m.nn.functional.mse_loss(a.tanh(), b, reduction="none"),
        (X, _normal(2, 3)),
    ),
    (
        "cross_entropy",
        lambda m, a, t: m.nn.functional.cross_entropy(a, t),
        (_normal(4, 3), np.array([0, 2, 1, 2])),
    ),
    (
        "cross_entropy_weight_ignore",
        lambda m, a, t: m.nn.functional.cross_entropy(
            a, t, weight=m.tensor(WEIGHT), ignore_index=1
        ),
        (_normal(4, 3), np.array([0, 2, 1, 2])),
    ),
    (
        "cross_entropy_none_3d",
        lambda m, a, t: m.nn.functional.cross_entropy(a, t, reduction="none"),
        (_normal(2, 3, 2), np.array([[0, 2], [1, 1]])),
    ),
    (
        "nll_loss_sum",
        lambda m, a, t: m.nn.functional.nll_loss(a * a, t, reduction="sum"),
        (_normal(3, 4), np.array([3, 0, 1])),
    ),
    # activations
    ("logsigmoid", lambda m, a: m.nn.functional.logsigmoid(a), (X,)),
    ("softplus", lambda m, a: m.nn.functional.softplus(a, beta=2.0), (X,)),
    (
        "softplus_threshold",
        lambda m, a: m.nn.functional.softplus(a, threshold=1.0) * a,
        (_apart(2, 3),),
    ),
    ("silu", lambda m, a: m.nn.functional.silu(a), (X,)),
    ("gelu", lambda m, a: m.nn.functional.gelu(a), (X,)),
    ("gelu_tanh", lambda m, a: m.nn.functional.gelu(a, approximate="tanh"), (X,)),
    ("elu", lambda m, a: m.nn.functional.elu(a, alpha=0.7), (_apart(2, 3),)),
    ("selu", lambda m, a: m.nn.functional.selu(a), (_apart(2, 3),)),
    ("celu", lambda m, a: m.nn.functional.celu(a, alpha=1.5), (_apart(2, 3),)),
    ("mish", lambda m, a: m.nn.functional.mish(a), (X,)),
    (
        "leaky_relu",
        lambda m, a: m.nn.functional.leaky_relu(a, 0.2) * a,
        (_apart(2, 3),),
    ),
    ("hardtanh", lambda m, a: m.nn.functional.hardtanh(a) * a, (_apart(2, 3) / 2,)),
    ("relu6", lambda m, a: m.nn.functional.relu6(a * 4) * a, (_apart(2, 3),)),
    ("hardsigmoid", lambda m, a: m.nn.functional.hardsigmoid(a) * a, (_apart(2, 3),)),
    ("hardswish", lambda m, a: m.nn.functional.hardswish(a), (_apart(2, 3) * 2,)),
    ("softsign", lambda m, a: m.nn.functional.softsign(a), (_apart(2, 3),)),
    ("tanhshrink", lambda m, a: m.nn.functional.tanhshrink(a), (X,)),
]


def _inputs(lib, args):
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(lib.tensor(a.copy(), dtype=lib.float64, requires_grad=True))
        elif isinstance(a, np.ndarray):
            out.append(lib.tensor(a.copy()))
        else:
            out.append(a)
    return out


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _numpy(t, like):
    return np.zeros(like.shape) if t is None else t.detach().numpy()


def _second_derivatives(lib, fn, args):
    """First derivatives (create_graph) for fixed random output gradients ``v``,
    then the gradient of ``sum(u * first)`` for fixed random ``u`` with
    respect to the inputs and to ``v``."""
    rng = np.random.default_rng(3)
    xs = _inputs(lib, args)
    wrt = [x for x in xs if getattr(x, "requires_grad", False)]
    outs = [o for o in _as_list(fn(lib, *xs)) if o.requires_grad]
    vs = [
        lib.tensor(rng.standard_normal(tuple(o.shape)), requires_grad=True)
        for o in outs
    ]
    firsts = lib.autograd.grad(outs, wrt, vs, create_graph=True, allow_unused=True)
    us = [rng.standard_normal(tuple(x.shape)) for x in wrt]
    total = sum(
        (f * lib.tensor(u)).sum()
        for f, u in zip(firsts, us)
        if f is not None and f.requires_grad
    )
    if not isinstance(total, lib.Tensor):
        seconds = [None] * (len(wrt) + len(vs))
    else:
        seconds = lib.autograd.grad(total, wrt + vs, allow_unused=True)
    first = [_numpy(f, x) for f, x in zip(firsts, wrt)]
    second = [_numpy(s, x) for s, x in zip(seconds, wrt + vs)]
    return first, second


@pytest.mark.parametrize(("name", "fn", "args"), OPS, ids=[op[0] for op in OPS])
def test_gradgradcheck(name, fn, args) -> None:
    xs = _inputs(pg, args)
    assert pg.autograd.gradgradcheck(lambda *a: fn(pg, *a), tuple(xs)) is True


@pytest.mark.parametrize(("name", "fn", "args"), OPS, ids=[op[0] for op in OPS])
def test_second_derivatives_match_torch(name, fn, args) -> None:
    if name in NOT_IN_TORCH:
        pytest.skip(f"PyTorch has no double backward for {name}")
    ours = _second_derivatives(pg, fn, args)
    theirs = _second_derivatives(torch, fn, args)
    for kind, a, b in zip(("first", "second"), ours, theirs):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(
                x, y, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {kind} {i}"
            )
