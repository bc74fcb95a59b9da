"""Normalisation: ``batch_norm``, ``layer_norm``, ``group_norm``, ``instance_norm``,
``rms_norm``, ``normalize``, ``cosine_similarity``, ``pairwise_distance`` and the
``BatchNorm1d/2d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm`` modules.

Values and gradients (input, weight, bias) are compared with real PyTorch in
float32 (rtol 1e-4, atol 1e-6) and float64 (rtol 1e-7, atol 1e-10), and checked
with float64 finite differences. The modules' parameters, buffers, running
statistics, state dicts and reprs are PyTorch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_gradients, dtype_name, make_inputs

import plaingrad as pg

torch = import_torch()

TOL = {"float32": (1e-4, 1e-6), "float64": (1e-7, 1e-10)}


def _close(got: Any, expected: Any, dtype: str, what: str) -> None:
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(
        np.asarray(got.detach().numpy(), dtype=np.float64),
        expected.detach().numpy().astype(np.float64),
        rtol=rtol,
        atol=atol,
        err_msg=what,
    )


def compare(fn: Callable[..., Any], *args: Any, grad: bool = True) -> None:
    """``fn(lib, *inputs)`` in both libraries: outputs and every input's grad."""
    for dtype in ("float32", "float64"):
        ours = make_inputs(pg, args, dtype, None)
        theirs = make_inputs(torch, args, dtype, None)
        out, expected = fn(pg, *ours), fn(torch, *theirs)
        assert tuple(out.shape) == tuple(expected.shape)
        assert dtype_name(out.dtype) == dtype_name(expected.dtype)
        _close(out, expected, dtype, f"output ({dtype})")
        if not grad:
            continue
        seed = np.random.default_rng(7).standard_normal(tuple(expected.shape))
        out.backward(pg.tensor(seed.astype(dtype)))
        expected.backward(torch.tensor(seed, dtype=expected.dtype))
        for i, (p, t) in enumerate(zip(ours, theirs)):
            if not isinstance(t, torch.Tensor) or not t.requires_grad:
                continue
            what = f"gradient of input {i} ({dtype})"
            if t.grad is None:
                assert p.grad is None, what
            else:
                _close(p.grad, t.grad, dtype, what)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------- batch_norm

BATCH_SHAPES = [(6, 3), (4, 3, 5), (2, 3, 4, 3)]


@pytest.mark.parametrize("shape", BATCH_SHAPES)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_batch_norm_training_against_torch(shape: tuple, affine: str) -> None:
    rng = _rng()
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)

    def fn(lib, x, w, b):
        weight = w if affine in ("both", "weight") else None
        bias = b if affine in ("both", "bias") else None
        return lib.nn.functional.batch_norm(x, None, None, weight, bias, training=True)

    compare(fn, x, w, b)
    check_gradients(fn, x, w, b)


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_batch_norm_eval_uses_running_stats(shape: tuple) -> None:
    rng = _rng(1)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)

    def fn(lib, x, w, b):
        rm = lib.tensor(mean, dtype=x.dtype)
        rv = lib.tensor(var, dtype=x.dtype)
        return lib.nn.functional.batch_norm(x, rm, rv, w, b, training=False)

    compare(fn, x, w, b)
    check_gradients(fn, x, w, b)


def test_batch_norm_updates_running_stats_in_place() -> None:
    x = _rng(2).standard_normal((5, 3, 4)).astype(np.float32)
    ours = [pg.zeros(3), pg.ones(3)]
    theirs = [torch.zeros(3), torch.ones(3)]
    same_objects = list(ours)
    for step in range(3):
        pg.nn.functional.batch_norm(pg.tensor(x + step), *ours, training=True)
        torch.nn.functional.batch_norm(
            torch.tensor(x + step), *theirs, training=True, momentum=0.1
        )
    for got, expected in zip(ours, theirs):
        _close(got, expected, "float32", "running statistic")
    assert ours[0] is same_objects[0] and ours[1] is same_objects[1]


def test_batch_norm_float32_with_a_large_mean_stays_accurate() -> None:
    # statistics accumulate in float64: NumPy's float32 sums over (N, H, W)
    # lost ~2e-4 here, where the float64 reference and PyTorch agree to 5e-5
    rng = _rng(20)
    x = (rng.standard_normal((64, 32, 16, 16)) + 1000).astype(np.float32)
    exact = torch.nn.functional.batch_norm(
        torch.tensor(x, dtype=torch.float64), None, None, training=True
    ).numpy()
    got = pg.nn.functional.batch_norm(pg.tensor(x), None, None, training=True)
    np.testing.assert_allclose(got.numpy(), exact, atol=6e-5)


def test_batch_norm_functional_errors() -> None:
    F = pg.nn.functional
    x = pg.randn(4, 3)
    with pytest.raises(RuntimeError, match="running_mean"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="both be None"):
        F.batch_norm(x, pg.zeros(3), None, training=True)
    with pytest.raises(RuntimeError, match="should contain 3 elements"):
        F.batch_norm(x, pg.zeros(4), pg.ones(4), training=True)
    with pytest.raises(RuntimeError, match="`weight` should contain 3"):
        F.batch_norm(x, None, None, pg.ones(4), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(pg.randn(1, 3), None, None, training=True)
    with pytest.raises(TypeError, match="momentum"):
        F.batch_norm(x, pg.zeros(3), pg.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(x, None, None, training=True, eps=0.0)


# ------------------------------------------------------------ BatchNorm modules


def _copy_params(ours: Any, theirs: Any) -> None:
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize(
    "kind, shape",
    [
        ("BatchNorm1d", (8, 3)),
        ("BatchNorm1d", (4, 3, 5)),
        ("BatchNorm2d", (2, 3, 4, 4)),
    ],
)
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_module_training_then_eval(kind: str, shape: tuple, momentum) -> None:
    ours = getattr(pg.nn, kind)(3, momentum=momentum)
    theirs = getattr(torch.nn, kind)(3, momentum=momentum)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    _copy_params(ours, theirs)
    rng = _rng(3)
    for step in range(3):
        x = rng.standard_normal(shape).astype(np.float32) * (step + 1) + step
        _close(ours(pg.tensor(x)), theirs(torch.tensor(x)), "float32", "train")
    for name in ("running_mean", "running_var"):
        _close(getattr(ours, name), getattr(theirs, name), "float32", name)
    assert int(ours.num_batches_tracked) == 3
    assert ours.num_batches_tracked.dtype == pg.int64
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    _close(ours(pg.tensor(x)), theirs(torch.tensor(x)), "float32", "eval")
    assert int(ours.num_batches_tracked) == 3


def test_batchnorm_module_gradients_against_torch() -> None:
    ours, theirs = pg.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    _copy_params(ours, theirs)
    x = _rng(4).standard_normal((2, 3, 3, 3)).astype(np.float32)
    xp, xt = pg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    seed = _rng(5).standard_normal(x.shape).astype(np.float32)
    (ours(xp) * pg.tensor(seed)).sum().backward()
    (theirs(xt) * torch.tensor(seed)).sum().backward()
    _close(xp.grad, xt.grad, "float32", "input")
    _close(ours.weight.grad, theirs.weight.grad, "float32", "weight")
    _close(ours.bias.grad, theirs.bias.grad, "float32", "bias")


def test_batchnorm_state_dict_is_pytorchs() -> None:
    for kind in ("BatchNorm1d", "BatchNorm2d"):
        ours, theirs = getattr(pg.nn, kind)(4), getattr(torch.nn, kind)(4)
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b)
        for key in b:
            assert tuple(a[key].shape) == tuple(b[key].shape), key
            assert dtype_name(a[key].dtype) == dtype_name(b[key].dtype), key
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
        theirs.train()
        theirs(torch.randn(5, 4) if kind == "BatchNorm1d" else torch.randn(2, 4, 3, 3))
        _copy_params(ours, theirs)
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())
    assert [n for n, _ in pg.nn.BatchNorm1d(2).named_parameters()] == [
        "weight",
        "bias",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"eps": 1e-3, "momentum": None},
        {"affine": False},
        {"track_running_stats": False},
        {"bias": False},
    ],
)
def test_batchnorm_options_and_reprs(kwargs: dict) -> None:
    for kind in ("BatchNorm1d", "BatchNorm2d"):
        ours, theirs = (
            getattr(pg.nn, kind)(3, **kwargs),
            getattr(torch.nn, kind)(3, **kwargs),
        )
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert (ours.weight is None) == (theirs.weight is None)
        assert (ours.bias is None) == (theirs.bias is None)
        assert (ours.running_mean is None) == (theirs.running_mean is None)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval() -> None:
    x = _rng(5).standard_normal((6, 3)).astype(np.float32)
    ours = pg.nn.BatchNorm1d(3, track_running_stats=False).eval()
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=False).eval()
    _close(ours(pg.tensor(x)), theirs(torch.tensor(x)), "float32", "eval")


def test_batchnorm_input_rank_and_single_value_checks() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        pg.nn.BatchNorm1d(3)(pg.randn(1, 3))
    assert pg.nn.BatchNorm2d(3)(pg.randn(1, 3, 2, 2)).shape == (1, 3, 2, 2)
    assert pg.nn.BatchNorm1d(3).eval()(pg.randn(1, 3)).shape == (1, 3)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        pg.nn.BatchNorm1d(3)(pg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected 4D input"):
        pg.nn.BatchNorm2d(3)(pg.randn(2, 3))


# ------------------------------------------------------------------- layer_norm


@pytest.mark.parametrize(
    "shape, normalized", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 6), (3, 6))]
)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layer_norm_against_torch(shape: tuple, normalized: tuple, affine: str) -> None:
    rng = _rng(6)
    x = rng.standard_normal(shape) * 3 - 1
    w, b = rng.standard_normal(normalized), rng.standard_normal(normalized)

    def fn(lib, x, w, b):
        weight = w if affine in ("both", "weight") else None
        bias = b if affine in ("both", "bias") else None
        return lib.nn.functional.layer_norm(x, normalized, weight, bias)

    compare(fn, x, w, b)
    check_gradients(fn, x, w, b)


def test_layer_norm_gradient_of_parameters_only() -> None:
    x = pg.randn(3, 4)
    w = pg.ones(4, requires_grad=True)
    b = pg.zeros(4, requires_grad=True)
    pg.nn.functional.layer_norm(x, (4,), w, b).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


def test_layer_norm_module() -> None:
    for args, kwargs in [
        ((5,), {}),
        (((2, 5),), {"eps": 1e-3}),
        (([5],), {"elementwise_affine": False}),
        ((5,), {"bias": False}),
    ]:
        ours, theirs = (
            pg.nn.LayerNorm(*args, **kwargs),
            torch.nn.LayerNorm(*args, **kwargs),
        )
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())
    x = _rng(7).standard_normal((3, 2, 5)).astype(np.float32)
    ours, theirs = pg.nn.LayerNorm((2, 5)), torch.nn.LayerNorm((2, 5))
    _close(ours(pg.tensor(x)), theirs(torch.tensor(x)), "float32", "LayerNorm")
    assert ours(pg.tensor(x, requires_grad=True)).grad_fn.name() == (
        "NativeLayerNormBackward0"
    )


def test_layer_norm_errors() -> None:
    with pytest.raises(RuntimeError, match="normalized_shape"):
        pg.nn.functional.layer_norm(pg.randn(4, 3), (4,))
    with pytest.raises(RuntimeError, match="same shape as normalized_shape"):
        pg.nn.functional.layer_norm(pg.randn(4, 3), (3,), pg.ones(4))


# ------------------------------------------------------------------- group_norm


@pytest.mark.parametrize(
    "shape, groups", [((2, 6, 4), 3), ((2, 4, 3, 3), 2), ((3, 6), 2)]
)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_group_norm_against_torch(shape: tuple, groups: int, affine: str) -> None:
    rng = _rng(8)
    x = rng.standard_normal(shape) + 0.5
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)

    def fn(lib, x, w, b):
        weight = w if affine in ("both", "weight") else None
        bias = b if affine in ("both", "bias") else None
        if lib is torch and weight is None and bias is not None:
            # torch 2.13's CPU group_norm fails on a bias without a weight
            # ("tensor does not have a device"); a weight of ones is the same
            weight = torch.ones(x.shape[1], dtype=x.dtype)
        return lib.nn.functional.group_norm(x, groups, weight, bias)

    compare(fn, x, w, b)
    check_gradients(fn, x, w, b)


def test_group_norm_module_and_errors() -> None:
    for kwargs in ({}, {"affine": False}, {"eps": 1e-3, "bias": False}):
        ours, theirs = (
            pg.nn.GroupNorm(2, 4, **kwargs),
            torch.nn.GroupNorm(2, 4, **kwargs),
        )
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    with pytest.raises(ValueError, match="divisible"):
        pg.nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        pg.nn.functional.group_norm(pg.randn(4, 3, 5), 2)
    with pytest.raises(RuntimeError, match="number of channels"):
        pg.nn.functional.group_norm(pg.randn(4, 4, 5), 2, pg.ones(3))


# -------------------------------------------------------- instance and RMS norm


def test_instance_norm_against_torch() -> None:
    rng = _rng(9)
    x = rng.standard_normal((3, 2, 5))
    w, b = rng.standard_normal(2), rng.standard_normal(2)

    def fn(lib, x, w, b):
        return lib.nn.functional.instance_norm(x, weight=w, bias=b)

    compare(fn, x, w, b)
    check_gradients(fn, x, w, b)


def test_instance_norm_running_stats() -> None:
    x = _rng(10).standard_normal((3, 2, 4, 4)).astype(np.float32)
    ours, theirs = [pg.zeros(2), pg.ones(2)], [torch.zeros(2), torch.ones(2)]
    pg.nn.functional.instance_norm(pg.tensor(x), *ours)
    torch.nn.functional.instance_norm(torch.tensor(x), *theirs)
    for got, expected in zip(ours, theirs):
        _close(got, expected, "float32", "running statistic")
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        pg.nn.functional.instance_norm(pg.randn(4, 3, 1))


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_against_torch(eps) -> None:
    rng = _rng(11)
    x = rng.standard_normal((3, 2, 4))
    w = rng.standard_normal((2, 4))

    def fn(lib, x, w):
        return lib.nn.functional.rms_norm(x, (2, 4), w, eps)

    compare(fn, x, w)
    check_gradients(fn, x, w)


def test_rms_norm_default_eps_is_the_dtypes() -> None:
    # tiny inputs make eps dominate: float32 eps differs from float64 eps
    for dtype in ("float32", "float64"):
        x = np.full((1, 3), 1e-4)
        got = pg.nn.functional.rms_norm(pg.tensor(x, dtype=getattr(pg, dtype)), (3,))
        expected = torch.nn.functional.rms_norm(
            torch.tensor(x, dtype=getattr(torch, dtype)), (3,)
        )
        _close(got, expected, dtype, "rms_norm eps")


def test_rms_norm_module() -> None:
    for args, kwargs in [
        ((5,), {}),
        (((2, 5),), {"eps": 1e-3, "elementwise_affine": False}),
    ]:
        ours, theirs = pg.nn.RMSNorm(*args, **kwargs), torch.nn.RMSNorm(*args, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    x = _rng(12).standard_normal((3, 5)).astype(np.float32)
    _close(
        pg.nn.RMSNorm(5)(pg.tensor(x)),
        torch.nn.RMSNorm(5)(torch.tensor(x)),
        "float32",
        "",
    )


# ------------------------------------------------------ vector norms, distances


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize_against_torch(p: float, dim: int) -> None:
    x = _rng(13).standard_normal((3, 4))

    def fn(lib, x):
        return lib.nn.functional.normalize(x, p=p, dim=dim)

    compare(fn, x)
    check_gradients(fn, x)


def test_normalize_clamps_at_eps() -> None:
    x = pg.zeros(2, 3)
    np.testing.assert_array_equal(
        pg.nn.functional.normalize(x).numpy(), np.zeros((2, 3))
    )


@pytest.mark.parametrize("shapes, dim", [(((4, 3), (4, 3)), 1), (((3,), (2, 3)), -1)])
def test_cosine_similarity_against_torch(shapes: tuple, dim: int) -> None:
    rng = _rng(14)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])

    def fn(lib, a, b):
        return lib.nn.functional.cosine_similarity(a, b, dim=dim)

    compare(fn, a, b)
    check_gradients(fn, a, b)


@pytest.mark.parametrize("p, keepdim", [(2.0, False), (1.0, True), (3.0, False)])
def test_pairwise_distance_against_torch(p: float, keepdim: bool) -> None:
    rng = _rng(15)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def fn(lib, a, b):
        return lib.nn.functional.pairwise_distance(a, b, p=p, keepdim=keepdim)

    compare(fn, a, b)
    check_gradients(fn, a, b)


def test_fused_grad_fn_names() -> None:
    x = pg.randn(4, 4, 3, requires_grad=True)
    F = pg.nn.functional
    assert F.batch_norm(x, None, None, training=True).grad_fn.name() == (
        "NativeBatchNormBackward0"
    )
    assert F.layer_norm(x, (3,)).grad_fn.name() == "NativeLayerNormBackward0"
    assert F.group_norm(x, 2).grad_fn.name() == "NativeGroupNormBackward0"
    assert F.rms_norm(x, (3,)).grad_fn.name() == "MulBackward0"
    assert F.normalize(x).grad_fn.name() == "DivBackward0"
