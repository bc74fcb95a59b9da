"""Double backward of resampling: ``interpolate`` in every mode, pixel
shuffles, ``bilinear`` and the zero-gradient nodes of random sampling.

Each case is checked in float64 by ``gradgradcheck`` (finite differences of the
first derivatives, varying the inputs and the output gradients) and against
real PyTorch: ``(g,) = grad(out, x, v, create_graph=True)``, then
``grad((g * u).sum(), [x, v])`` for fixed random ``v`` and ``u``. A linear op's
second derivative with respect to its input is zero (None in torch), so the
cases square their input first, and the gradient with respect to ``v`` is the
one that reads the adjoint op. The first derivative under create_graph must be
exactly the array rule's, PyTorch's shortcuts included (ops/resample.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

_rng = np.random.default_rng(23)


def _normal(*shape):
    return _rng.standard_normal(shape)


def _f(lib):
    return lib.nn.functional


def _interp(**options):
    return lambda m, x: _f(m).interpolate(x * x, **options)


X3, X4, X5 = _normal(2, 2, 5), _normal(1, 2, 4, 5), _normal(1, 1, 3, 4, 3)

INTERPOLATE = [
    ("nearest_1d_up", _interp(size=8), (X3,)),
    ("nearest_1d_down", _interp(size=3), (X3,)),
    ("nearest_1d_double", _interp(scale_factor=2), (X3,)),
    ("nearest_2d", _interp(size=(7, 3)), (X4,)),
    ("nearest_2d_double", _interp(scale_factor=2), (X4,)),
    ("nearest_2d_same", _interp(size=(4, 5)), (X4,)),
    ("nearest_3d", _interp(size=(5, 2, 6)), (X5,)),
    ("nearest_exact_1d", _interp(size=7, mode="nearest-exact"), (X3,)),
    ("nearest_exact_2d", _interp(size=(3, 8), mode="nearest-exact"), (X4,)),
    ("nearest_exact_3d", _interp(size=(4, 5, 2), mode="nearest-exact"), (X5,)),
    ("linear", _interp(size=9, mode="linear"), (X3,)),
    ("linear_down", _interp(size=3, mode="linear"), (X3,)),
    (
        "linear_align_corners",
        _interp(size=8, mode="linear", align_corners=True),
        (X3,),
    ),
    ("linear_scale", _interp(scale_factor=1.7, mode="linear"), (X3,)),
    ("bilinear", _interp(size=(7, 3), mode="bilinear"), (X4,)),
    (
        "bilinear_align_corners",
        _interp(size=(6, 9), mode="bilinear", align_corners=True),
        (X4,),
    ),
    ("bilinear_one_axis", _interp(size=(4, 8), mode="bilinear"), (X4,)),
    ("bicubic", _interp(size=(6, 7), mode="bicubic"), (X4,)),
    (
        "bicubic_align_corners",
        _interp(size=(3, 8), mode="bicubic", align_corners=True),
        (X4,),
    ),
    ("bicubic_scale", _interp(scale_factor=(1.5, 0.8), mode="bicubic"), (X4,)),
    ("trilinear", _interp(size=(5, 3, 4), mode="trilinear"), (X5,)),
    (
        "trilinear_align_corners",
        _interp(size=(2, 6, 5), mode="trilinear", align_corners=True),
        (X5,),
    ),
    ("area_1d", _interp(size=3, mode="area"), (X3,)),
    ("area_2d", _interp(size=(3, 2), mode="area"), (X4,)),
    ("area_2d_up", _interp(size=(6, 7), mode="area"), (X4,)),
]

OTHERS = [
    (
        "pixel_shuffle",
        lambda m, x: _f(m).pixel_shuffle(x * x, 2),
        (_normal(1, 8, 2, 3),),
    ),
    (
        "pixel_shuffle_batched",
        lambda m, x: _f(m).pixel_shuffle(x * x, 2),
        (_normal(2, 1, 4, 2, 2),),
    ),
    (
        "pixel_unshuffle",
        lambda m, x: _f(m).pixel_unshuffle(x * x, 2),
        (_normal(1, 2, 4, 6),),
    ),
    (
        "pixel_unshuffle_3d",
        lambda m, x: _f(m).pixel_unshuffle(x * x, 3),
        (_normal(1, 3, 6),),
    ),
    (
        "bilinear_form",
        lambda m, x1, x2, w, b: _f(m).bilinear(x1, x2, w, b),
        (_normal(3, 2), _normal(3, 4), _normal(5, 2, 4), _normal(5)),
    ),
    (
        "bilinear_form_batched",
        lambda m, x1, x2, w: _f(m).bilinear(x1 * x1, x2, w),
        (_normal(2, 3, 2), _normal(2, 3, 3), _normal(2, 2, 3)),
    ),
]

# PyTorch's shortcuts (ops/resample.py): the backward copies while the forward
# reads floor(dst / 1.05), and the derivative of the backward is the forward,
# as PyTorch's formula says. Not a derivative, so compared with torch only.
SHORTCUTS = [
    ("nearest_1d_shortcut", _interp(scale_factor=1.05), (_normal(1, 2, 10),)),
    (
        "nearest_3d_shortcut",
        _interp(scale_factor=(1.05, 1.0, 2.0)),
        (_normal(1, 1, 10, 2, 3),),
    ),
    (
        "bicubic_shortcut",
        _interp(scale_factor=1.05, mode="bicubic"),
        (_normal(1, 1, 10, 10),),
    ),
]

CASES = INTERPOLATE + OTHERS


def _inputs(lib, args):
    return [lib.tensor(a.copy(), dtype=lib.float64, requires_grad=True) for a in args]


def _numpy(t, like):
    return np.zeros(tuple(like.shape)) if t is None else t.detach().numpy()


def _second_derivatives(lib, fn, args):
    """The first derivatives for a fixed output gradient ``v`` (create_graph),
    then the gradient of ``sum(u * first)`` with respect to the inputs and
    ``v``, for a fixed ``u``."""
    rng = np.random.default_rng(4)
    xs = _inputs(lib, args)
    out = fn(lib, *xs)
    v = lib.tensor(rng.standard_normal(tuple(out.shape)), requires_grad=True)
    firsts = lib.autograd.grad(out, xs, v, create_graph=True)
    terms = [
        (f * lib.tensor(rng.standard_normal(tuple(f.shape)))).sum() for f in firsts
    ]
    seconds = lib.autograd.grad(sum(terms), xs + [v], allow_unused=True)
    first = [_numpy(f, x) for f, x in zip(firsts, xs)]
    second = [_numpy(s, x) for s, x in zip(seconds, xs + [v])]
    return first, second


def _assert_match(name, ours, theirs):
    for kind, a, b in zip(("first", "second"), ours, theirs):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(
                x, y, rtol=1e-9, atol=1e-11, err_msg=f"{name}: {kind} {i}"
            )


@pytest.mark.parametrize(("name", "fn", "args"), CASES, ids=[c[0] for c in CASES])
def test_gradgradcheck(name, fn, args) -> None:
    xs = _inputs(pg, args)
    assert pg.autograd.gradgradcheck(lambda *a: fn(pg, *a), tuple(xs)) is True


@pytest.mark.parametrize(
    ("name", "fn", "args"), CASES + SHORTCUTS, ids=[c[0] for c in CASES + SHORTCUTS]
)
def test_second_derivatives_match_torch(name, fn, args) -> None:
    _assert_match(
        name, _second_derivatives(pg, fn, args), _second_derivatives(torch, fn, args)
    )


@pytest.mark.parametrize(
    ("name", "fn", "args"), CASES + SHORTCUTS, ids=[c[0] for c in CASES + SHORTCUTS]
)
def test_first_derivative_is_the_array_rule(name, fn, args) -> None:
    xs, ys = _inputs(pg, args), _inputs(pg, args)
    out, again = fn(pg, *xs), fn(pg, *ys)
    v = np.random.default_rng(6).standard_normal(tuple(out.shape))
    plain = pg.autograd.grad(out, xs, pg.tensor(v))
    graph = pg.autograd.grad(again, ys, pg.tensor(v), create_graph=True)
    assert graph[0].requires_grad  # it depends on the inputs
    for a, b in zip(plain, graph):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())


def test_shortcut_second_derivative_is_the_forward() -> None:
    # written out: the gradient of sum(u * backward(v)) with respect to v is
    # the forward applied to u, not the transpose of the (copying) backward
    x = pg.tensor(_normal(1, 1, 10), requires_grad=True)
    out = _f(pg).interpolate(x, scale_factor=1.05)
    v = pg.tensor(_normal(1, 1, 10), requires_grad=True)
    (g,) = pg.autograd.grad(out, x, v, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), v.detach().numpy())
    u = _normal(1, 1, 10)
    (grad_v,) = pg.autograd.grad((g * pg.tensor(u)).sum(), v)
    index = np.floor(np.arange(10, dtype=np.float32) / np.float32(1.05))
    expected = u[..., index.astype(int)]
    np.testing.assert_array_equal(grad_v.numpy(), expected)


NAMED = INTERPOLATE[:4] + INTERPOLATE[7:22:2]


@pytest.mark.parametrize(("name", "fn", "args"), NAMED, ids=[c[0] for c in NAMED])
def test_grad_fn_names_match_torch(name, fn, args) -> None:
    def names(lib):
        (x,) = _inputs(lib, args)
        out = fn(lib, x)
        v = lib.tensor(np.ones(tuple(out.shape)), requires_grad=True)
        (g,) = lib.autograd.grad(out, x, v, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), v, create_graph=True)
        return out.grad_fn.name(), g.grad_fn.name(), h.grad_fn.name()

    assert names(pg) == names(torch)


# -------------------------------------------------------------- third order


def _gradients(fn):
    """The function of the same input returning ``fn``'s first derivative
    (create_graph, fixed output gradient): double-checking it differentiates
    the adjoint ops (the backward scatters) once more."""

    def first(m, x):
        out = fn(m, x)
        v = m.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)))
        (g,) = m.autograd.grad(out, x, v, create_graph=True)
        return g

    return first


def _cube(f):
    return lambda m, x: f(m, x * x * x / 3)


THIRD = [
    ("nearest_1d", _cube(lambda m, x: _f(m).interpolate(x, size=8)), (X3,)),
    (
        "nearest_exact_2d",
        _cube(lambda m, x: _f(m).interpolate(x, size=(3, 7), mode="nearest-exact")),
        (X4,),
    ),
    (
        "bilinear",
        _cube(lambda m, x: _f(m).interpolate(x, size=(6, 3), mode="bilinear")),
        (X4,),
    ),
    (
        "bicubic",
        _cube(
            lambda m, x: _f(m).interpolate(
                x, size=(5, 7), mode="bicubic", align_corners=True
            )
        ),
        (X4,),
    ),
    (
        "trilinear",
        _cube(lambda m, x: _f(m).interpolate(x, size=(4, 5, 2), mode="trilinear")),
        (X5,),
    ),
    (
        "pixel_shuffle",
        _cube(lambda m, x: _f(m).pixel_shuffle(x, 2)),
        (_normal(1, 4, 2, 3),),
    ),
    (
        "pixel_unshuffle",
        _cube(lambda m, x: _f(m).pixel_unshuffle(x, 2)),
        (X4[..., :4],),
    ),
]


@pytest.mark.parametrize(("name", "fn", "args"), THIRD, ids=[c[0] for c in THIRD])
def test_third_derivatives(name, fn, args) -> None:
    first = _gradients(fn)
    xs = _inputs(pg, args)
    assert pg.autograd.gradgradcheck(lambda *a: first(pg, *a), tuple(xs)) is True
    _assert_match(
        name,
        _second_derivatives(pg, first, args),
        _second_derivatives(torch, first, args),
    )


# ------------------------------------------------------------------ sampling


def _sampled_first(lib, draw, shape):
    """``(g, grad_v)``: the first derivative of ``x * x + draw(x)`` for a fixed
    ``v`` under create_graph, and the gradient of ``sum(u * g)`` with respect
    to ``v``; the draw contributes nothing to either."""
    rng = np.random.default_rng(12)
    x = lib.tensor(rng.uniform(0.2, 0.8, shape), requires_grad=True)
    out = draw(lib, x)
    v = lib.tensor(rng.standard_normal(shape), requires_grad=True)
    (g,) = lib.autograd.grad(out, x, v, create_graph=True)
    u = lib.tensor(rng.standard_normal(shape))
    grads = lib.autograd.grad((g * u).sum(), [x, v], allow_unused=True)
    return g.detach().numpy(), [_numpy(t, x) for t in grads]


def _fill_view(m, x):
    y = x * x
    y[1:].normal_()
    return y


SAMPLES = [
    ("bernoulli", lambda m, x: m.bernoulli(x) + x * x),
    ("poisson", lambda m, x: m.poisson(x) * 2 + x * x * x),
    ("bernoulli_tensor_p", lambda m, x: (x * x).bernoulli_(x) + x * x),
    ("normal_", lambda m, x: (x * x).normal_() + x * x),
    ("normal_view", _fill_view),
    ("uniform_", lambda m, x: (x * 3).uniform_() + x * x),
]


@pytest.mark.parametrize(("name", "draw"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_sampling_second_derivatives_match_torch(name, draw) -> None:
    g, grads = _sampled_first(pg, draw, (2, 3))
    g_t, grads_t = _sampled_first(torch, draw, (2, 3))
    np.testing.assert_allclose(g, g_t, rtol=1e-12, atol=0)
    for i, (a, b) in enumerate(zip(grads, grads_t)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"{name}: {i}")


@pytest.mark.parametrize(
    ("name", "draw"), [s for s in SAMPLES if s[0] in ("bernoulli", "poisson")]
)
def test_sampling_gradgradcheck(name, draw) -> None:
    # the same draw at every evaluation, so finite differences see a constant
    def fn(x):
        pg.manual_seed(1)
        return draw(pg, x)

    x = pg.tensor(
        np.random.default_rng(2).uniform(0.2, 0.8, (2, 3)), requires_grad=True
    )
    assert pg.autograd.gradgradcheck(fn, (x,)) is True


@pytest.mark.parametrize("op", ["bernoulli", "poisson"])
def test_sample_gradient_is_a_constant_zero(op) -> None:
    # as torch: zeros_like(grad), which requires no grad
    for lib in (pg, torch):
        x = lib.tensor([0.3, 0.6], dtype=lib.float64, requires_grad=True)
        v = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(getattr(lib, op)(x), x, v, create_graph=True)
        assert not g.requires_grad
        np.testing.assert_array_equal(g.detach().numpy(), [0.0, 0.0])
