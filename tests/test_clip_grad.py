"""``nn.utils`` gradient clipping and parameter vectors against PyTorch.

One documented difference is tested with its exact answer: the total norm is
accumulated without overflow, so float32 gradients of 1e20 clip to finite
values (PyTorch's norm overflows to inf and zeroes them).
"""

from __future__ import annotations

import math
import warnings
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

utils = pg.nn.utils


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def _grads(seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 3 for shape in SHAPES]


def _params(lib: ModuleType, grads: list, dtype: str, none_at: int = 1) -> list:
    """One parameter per gradient, plus one without a gradient at ``none_at``."""
    params = []
    for g in grads:
        p = lib.nn.Parameter(lib.zeros(g.shape, dtype=getattr(lib, dtype)))
        p.grad = lib.tensor(np.asarray(g), dtype=getattr(lib, dtype))
        params.append(p)
    params.insert(none_at, lib.nn.Parameter(lib.zeros(2, dtype=getattr(lib, dtype))))
    return params


def _grad_arrays(params: list) -> list:
    return [None if p.grad is None else p.grad.detach().numpy() for p in params]


TOLERANCE = {"float32": 2e-6, "float64": 1e-12, "float16": 2e-3}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0, -1.0]
)
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(
    torch: ModuleType, dtype: str, norm_type: float, max_norm: float
) -> None:
    grads = _grads()
    ours, theirs = _params(pg, grads, dtype), _params(torch, grads, dtype)
    total = utils.clip_grad_norm_(ours, max_norm, norm_type)
    total_ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    rtol = TOLERANCE[dtype]
    assert str(total.dtype).split(".")[-1] == dtype
    np.testing.assert_allclose(total.item(), total_ref.item(), rtol=rtol)
    assert ours[1].grad is None
    for a, b in zip(_grad_arrays(ours), _grad_arrays(theirs)):
        if a is None:
            assert b is None
        else:
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-30)


def test_norm_known_values() -> None:
    a = pg.nn.Parameter(pg.zeros(2, dtype=pg.float64))
    b = pg.nn.Parameter(pg.zeros(3, dtype=pg.float64))
    a.grad = pg.tensor([3.0, 0.0], dtype=pg.float64)
    b.grad = pg.tensor([-4.0, 0.0, 12.0], dtype=pg.float64)
    assert utils.get_total_norm([a.grad, b.grad]).item() == 13.0
    assert utils.get_total_norm([a.grad, b.grad], 1).item() == 19.0
    assert utils.get_total_norm([a.grad, b.grad], math.inf).item() == 12.0
    assert utils.get_total_norm([a.grad, b.grad], "inf").item() == 12.0
    assert utils.clip_grad_norm_([a, b], 6.5).item() == 13.0
    np.testing.assert_allclose(b.grad.numpy(), [-2.0, 0.0, 6.0], rtol=1e-6)


def test_mixed_dtypes_promote(torch: ModuleType) -> None:
    results = []
    for lib in (pg, torch):
        a = lib.nn.Parameter(lib.zeros(3))
        b = lib.nn.Parameter(lib.zeros(2, dtype=lib.float64))
        a.grad = lib.tensor([1.0, 2.0, 3.0])
        b.grad = lib.tensor([4.0, 5.0], dtype=lib.float64)
        total = lib.nn.utils.clip_grad_norm_([a, b], 1.0)
        results.append((total.item(), str(total.dtype), a.grad.numpy(), b.grad.numpy()))
    (t0, d0, a0, b0), (t1, d1, a1, b1) = results
    # PyTorch takes the float32 tensor's norm in float32 before promoting.
    assert t0 == pytest.approx(t1, rel=1e-7) and d0.split(".")[-1] == d1.split(".")[-1]
    np.testing.assert_allclose(a0, a1, rtol=1e-6)
    np.testing.assert_allclose(b0, b1, rtol=1e-6)
    assert a0.dtype == np.float32 and b0.dtype == np.float64


def test_float16_matches_torch(torch: ModuleType) -> None:
    grads = [np.array([300.0, -400.0]), np.array([[1.5, 2.0], [0.25, 8.0]])]
    ours, theirs = _params(pg, grads, "float16"), _params(torch, grads, "float16")
    total = utils.clip_grad_norm_(ours, 2.0)
    total_ref = torch.nn.utils.clip_grad_norm_(theirs, 2.0)
    assert total.dtype == pg.float16
    np.testing.assert_allclose(total.item(), total_ref.item(), rtol=2e-3)
    for a, b in zip(_grad_arrays(ours), _grad_arrays(theirs)):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4)


# ------------------------------------------- the documented deviation


def test_huge_float32_gradients_do_not_overflow() -> None:
    # sqrt(100 * (1e20)^2) = 1e21, so each gradient becomes 1e20 / 1e21 = 0.1
    # (PyTorch squares 1e20 in float32, overflows, and returns zeros).
    params = [pg.nn.Parameter(pg.zeros(1)) for _ in range(100)]
    for p in params:
        p.grad = pg.full((1,), 1e20)
    total = utils.clip_grad_norm_(params, max_norm=1.0)
    assert total.dtype == pg.float32
    assert total.item() == pytest.approx(1e21, rel=1e-6)
    for p in params:
        assert p.grad.dtype == pg.float32
        np.testing.assert_allclose(p.grad.numpy(), [0.1], rtol=1e-6)
    # The same inside one tensor, and for the 3-norm.
    w = pg.nn.Parameter(pg.zeros(100))
    w.grad = pg.full((100,), 1e20)
    total = utils.clip_grad_norm_(w, max_norm=1.0, norm_type=3.0)
    assert total.item() == pytest.approx(1e20 * 100 ** (1 / 3), rel=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 100 ** (-1 / 3), rtol=1e-6)


def test_tiny_gradients_do_not_underflow() -> None:
    # 1e-30 squared is below float32's smallest subnormal; the norm is not 0.
    w = pg.nn.Parameter(pg.zeros(4))
    w.grad = pg.full((4,), 1e-30)
    total = utils.clip_grad_norm_(w, max_norm=1.0)
    assert total.item() == pytest.approx(2e-30, rel=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 1e-30, rtol=1e-6)


def test_huge_float64_gradients() -> None:
    w = pg.nn.Parameter(pg.zeros(4, dtype=pg.float64))
    w.grad = pg.full((4,), 1e300, dtype=pg.float64)
    total = utils.clip_grad_norm_(w, max_norm=4.0)
    assert total.item() == pytest.approx(2e300, rel=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), 2.0, rtol=1e-12)


# -------------------------------------------------- non-finite gradients


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0])
def test_error_if_nonfinite(torch: ModuleType, bad: float, norm_type: float) -> None:
    messages = []
    for lib in (pg, torch):
        a = lib.nn.Parameter(lib.zeros(3))
        a.grad = lib.tensor([bad, 1.0, -2.0])
        with pytest.raises(RuntimeError) as info:
            lib.nn.utils.clip_grad_norm_([a], 1.0, norm_type, error_if_nonfinite=True)
        messages.append(str(info.value))
        np.testing.assert_array_equal(a.grad.numpy(), [bad, 1.0, -2.0])
    assert messages[0] == messages[1]
    assert "non-finite" in messages[0]


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_nonfinite_without_error_matches_torch(torch: ModuleType, bad: float) -> None:
    results = []
    for lib in (pg, torch):
        a = lib.nn.Parameter(lib.zeros(3))
        b = lib.nn.Parameter(lib.zeros(1))
        a.grad = lib.tensor([bad, 1.0, -2.0])
        b.grad = lib.tensor([5.0])
        total = lib.nn.utils.clip_grad_norm_([a, b], 1.0)
        results.append((total.item(), a.grad.numpy(), b.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])


# ------------------------------------------------------- argument forms


def test_empty_parameters(torch: ModuleType) -> None:
    total = utils.clip_grad_norm_([], 1.0)
    ref = torch.nn.utils.clip_grad_norm_([], 1.0)
    assert total.item() == ref.item() == 0.0
    assert total.dtype == pg.float32 and total.ndim == 0
    with pytest.warns(UserWarning, match="empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)
    # Parameters without any gradient give 0 and no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert utils.clip_grad_norm_(iter([pg.nn.Parameter(pg.ones(2))]), 1.0) == 0


def test_single_tensor_generator_and_foreach(torch: ModuleType) -> None:
    grads = _grads(3)
    reference = _params(torch, grads, "float64")
    torch.nn.utils.clip_grad_norm_(reference, 1.0)
    expected = _grad_arrays(reference)
    for foreach in (None, True, False):
        params = _params(pg, grads, "float64")
        utils.clip_grad_norm_((p for p in params), 1.0, foreach=foreach)
        for a, b in zip(_grad_arrays(params), expected):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-12)
    w = pg.nn.Parameter(pg.zeros(2))
    w.grad = pg.tensor([0.0, -3.0])
    assert utils.clip_grad_norm_(w, 1.0).item() == 3.0
    np.testing.assert_allclose(w.grad.numpy(), [0.0, -1.0], rtol=1e-6)


def test_get_total_norm_and_clip_grads_with_norm(torch: ModuleType) -> None:
    grads = _grads(5)
    ours, theirs = _params(pg, grads, "float64"), _params(torch, grads, "float64")
    total = utils.get_total_norm([p.grad for p in ours if p.grad is not None], 3.0)
    total_ref = torch.nn.utils.get_total_norm(
        [p.grad for p in theirs if p.grad is not None], 3.0
    )
    assert total.item() == pytest.approx(total_ref.item(), rel=1e-12)
    utils.clip_grads_with_norm_(ours, 2.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 2.0, total_ref)
    for a, b in zip(_grad_arrays(ours), _grad_arrays(theirs)):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12)
    assert utils.get_total_norm([]).item() == 0.0


# ------------------------------------------------------ clip_grad_value_


def test_clip_grad_value_matches_torch(torch: ModuleType) -> None:
    grads = _grads(1)
    ours, theirs = _params(pg, grads, "float32"), _params(torch, grads, "float32")
    assert utils.clip_grad_value_(ours, 1.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for a, b in zip(_grad_arrays(ours), _grad_arrays(theirs)):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)
    assert max(np.abs(a).max() for a in _grad_arrays(ours) if a is not None) == 1.5
    w = pg.nn.Parameter(pg.zeros(3))
    w.grad = pg.tensor([-5.0, math.nan, 0.25])
    utils.clip_grad_value_(w, 1, foreach=True)
    np.testing.assert_array_equal(w.grad.numpy(), [-1.0, math.nan, 0.25])


# ---------------------------------------- parameters_to_vector and back


def test_parameters_to_vector_matches_torch(torch: ModuleType) -> None:
    values = _grads(7)
    ours = [pg.nn.Parameter(pg.tensor(v)) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    vec = utils.parameters_to_vector(ours)
    ref = torch.nn.utils.parameters_to_vector(theirs)
    assert vec.shape == (sum(v.size for v in values),)
    np.testing.assert_array_equal(vec.detach().numpy(), ref.detach().numpy())
    # The vector is part of the graph: its gradient reaches every parameter.
    (vec * pg.arange(vec.numel(), dtype=vec.dtype)).sum().backward()
    (ref * torch.arange(ref.numel(), dtype=ref.dtype)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_parameters_to_vector_promotes_and_rejects(torch: ModuleType) -> None:
    vec = utils.parameters_to_vector([pg.ones(2), pg.ones(1, dtype=pg.float64)])
    ref = torch.nn.utils.parameters_to_vector([torch.ones(2), torch.ones(1).double()])
    assert vec.dtype == pg.float64 and ref.dtype == torch.float64
    with pytest.raises(ValueError) as ours:
        utils.parameters_to_vector([])
    with pytest.raises(ValueError) as theirs:
        torch.nn.utils.parameters_to_vector([])
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match="element 1 is float"):
        utils.parameters_to_vector([pg.ones(1), 2.0])


def test_vector_to_parameters_matches_torch(torch: ModuleType) -> None:
    shapes = [(2, 3), (4,), ()]
    ours = [pg.nn.Parameter(pg.zeros(s)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    values = np.arange(12.0) / 7  # longer than needed: the rest is ignored
    vec = pg.tensor(values, dtype=pg.float64)
    utils.vector_to_parameters(vec, ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(values), theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == tuple(b.shape) and a.requires_grad
        assert a.dtype == pg.float64 and b.dtype == torch.float64
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # As in PyTorch, the parameters now view the vector's memory.
    vec[0] = 100.0
    assert ours[0].detach().numpy()[0, 0] == 100.0


def test_vector_to_parameters_errors(torch: ModuleType) -> None:
    with pytest.raises(TypeError) as ours:
        utils.vector_to_parameters([1.0, 2.0], [pg.nn.Parameter(pg.zeros(2))])
    with pytest.raises(TypeError) as theirs:
        torch.nn.utils.vector_to_parameters([1.0, 2.0], [torch.zeros(2)])
    assert (
        str(ours.value) == str(theirs.value) == "expected torch.Tensor, but got: list"
    )
    params = [pg.nn.Parameter(pg.zeros(2)), pg.nn.Parameter(pg.zeros(3))]
    with pytest.raises(RuntimeError, match="has 4 elements but the parameters need 5"):
        utils.vector_to_parameters(pg.ones(4), params)
    assert all(p.detach().numpy().sum() == 0 for p in params)  # nothing changed


def test_modules_and_rnn_still_importable() -> None:
    from plaingrad.nn.utils import clip_grad, convert_parameters, rnn

    assert clip_grad.clip_grad_norm_ is utils.clip_grad_norm_
    assert convert_parameters.vector_to_parameters is utils.vector_to_parameters
    assert hasattr(rnn, "pack_padded_sequence")
