"""Named matrix products, and ``linalg``: inv, det, solve and the norms,
against real PyTorch and float64 finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()


def _well_conditioned(shape: tuple, seed: int) -> np.ndarray:
    """Random square matrices pushed away from singularity by n * I."""
    rng = np.random.default_rng(seed)
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


# -------------------------------------------------------------- products

PRODUCTS = {
    "dot": (lambda m, a, b: m.dot(a, b), [(4,), (4,)]),
    "mv": (lambda m, a, b: m.mv(a, b), [(3, 4), (4,)]),
    "outer": (lambda m, a, b: m.outer(a, b), [(3,), (4,)]),
    "inner 1-D": (lambda m, a, b: m.inner(a, b), [(4,), (4,)]),
    "inner N-D": (lambda m, a, b: m.inner(a, b), [(2, 3, 4), (5, 4)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "method mv": (lambda m, a, b: a.mv(b), [(3, 4), (4,)]),
    "method dot": (lambda m, a, b: a.dot(b), [(4,), (4,)]),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products(name: str) -> None:
    fn, shapes = PRODUCTS[name]
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s) for s in shapes]
    check_against_torch(torch, fn, *args)
    check_gradients(fn, *args)


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (0, 1)])
@pytest.mark.parametrize("input_shape", [(2, 5), (5,), (1, 1)])
def test_addmm(beta: float, alpha: float, input_shape: tuple) -> None:
    rng = np.random.default_rng(1)
    c, a, b = (rng.standard_normal(s) for s in (input_shape, (2, 3), (3, 5)))

    def fn(m, c, a, b):
        return m.addmm(c, a, b, beta=beta, alpha=alpha)

    check_against_torch(torch, fn, c, a, b)
    check_gradients(fn, c, a, b)


def test_baddbmm() -> None:
    rng = np.random.default_rng(2)
    c, a, b = (rng.standard_normal(s) for s in ((2, 3, 5), (2, 3, 4), (2, 4, 5)))

    def fn(m, c, a, b):
        return m.baddbmm(c, a, b, beta=0.5, alpha=-1.5)

    check_against_torch(torch, fn, c, a, b)
    check_gradients(fn, c, a, b)


def test_product_grad_fn_names() -> None:
    a = np.ones((2, 3, 3))
    v = np.ones(3)
    cases = {
        "dot": lambda m, t, u: m.dot(u, u),
        "mv": lambda m, t, u: m.mv(t[0], u),
        "bmm": lambda m, t, u: m.bmm(t, t),
        "addmm": lambda m, t, u: m.addmm(t[0], t[0], t[1]),
        "baddbmm": lambda m, t, u: m.baddbmm(t, t, t),
        "outer": lambda m, t, u: m.outer(u, u),
    }
    for name, fn in cases.items():
        ours = fn(
            pg, pg.tensor(a, requires_grad=True), pg.tensor(v, requires_grad=True)
        )
        ref = fn(
            torch,
            torch.tensor(a, requires_grad=True),
            torch.tensor(v, requires_grad=True),
        )
        assert ours.grad_fn.name() == ref.grad_fn.name(), name


def test_product_errors() -> None:
    with pytest.raises(RuntimeError, match=r"dot: expected 1-D and 1-D"):
        pg.dot(pg.ones(2, 2), pg.ones(2))
    with pytest.raises(RuntimeError, match=r"dot: shapes \(3,\) and \(4,\)"):
        pg.dot(pg.ones(3), pg.ones(4))
    with pytest.raises(RuntimeError, match="mv: shapes"):
        pg.mv(pg.ones(2, 3), pg.ones(2))
    with pytest.raises(RuntimeError, match="bmm: batch sizes differ"):
        pg.bmm(pg.ones(2, 3, 4), pg.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"addmm: `input` of shape \(3,\)"):
        pg.addmm(pg.ones(3), pg.ones(2, 3), pg.ones(3, 5))
    with pytest.raises(RuntimeError, match="outer: `vec2` must be 1-D"):
        pg.outer(pg.ones(2), pg.ones(2, 2))


# ---------------------------------------------------------- inv, det, solve


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_inv_and_det(shape: tuple) -> None:
    a = _well_conditioned(shape, seed=3)
    for fn in (
        lambda m, x: m.linalg.inv(x),
        lambda m, x: m.linalg.det(x),
        lambda m, x: m.inverse(x),
        lambda m, x: x.det(),
    ):
        check_against_torch(torch, fn, a)
        check_gradients(fn, a)


def test_det_gradient_near_and_at_singular_matrices() -> None:
    # Near singular: the adjugate, accurate where det * inv is not.
    near = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0 + 1e-9], [1.0, 0.0, 1.0]])
    check_against_torch(torch, lambda m, x: m.linalg.det(x), near, dtypes=("float64",))
    x = pg.tensor(np.diag([2.0, 3.0, 1e-12]), requires_grad=True)
    pg.linalg.det(x).backward()
    # d det / d a_ij is the cofactor of a_ij: 3e-12, 2e-12 and 2 * 3
    np.testing.assert_allclose(
        x.grad.numpy(), np.diag([3e-12, 2e-12, 6.0]), rtol=1e-9, atol=1e-20
    )
    # Exactly singular: PyTorch returns a zero gradient, and so do we.
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    for a in (singular, np.diag([2.0, 3.0, 0.0])):
        check_against_torch(torch, lambda m, x: m.linalg.det(x), a, dtypes=("float64",))


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3, 3), (3,)),
        ((3, 3), (3, 2)),
        ((2, 3, 3), (2, 3)),
        ((2, 3, 3), (2, 3, 4)),
        ((2, 3, 3), (3, 4)),  # B broadcasts over A's batch
    ],
)
def test_solve(a_shape: tuple, b_shape: tuple) -> None:
    a = _well_conditioned(a_shape, seed=4)
    b = np.random.default_rng(5).standard_normal(b_shape)

    def fn(m, x, y):
        return m.linalg.solve(x, y)

    check_against_torch(torch, fn, a, b)
    check_gradients(fn, a, b)
    vector = len(b_shape) == 1 or b_shape == a_shape[:-1]
    expected = (
        np.linalg.solve(a, b[..., None])[..., 0] if vector else np.linalg.solve(a, b)
    )
    np.testing.assert_allclose(
        pg.linalg.solve(pg.tensor(a), pg.tensor(b)).numpy(), expected, rtol=1e-12
    )


def test_singular_and_misshapen_matrices_are_explained() -> None:
    with pytest.raises(pg.linalg.LinAlgError, match="linalg.inv: .*singular"):
        pg.linalg.inv(pg.zeros(2, 2))
    with pytest.raises(pg.linalg.LinAlgError, match="linalg.solve: .*singular"):
        pg.linalg.solve(pg.zeros(2, 2), pg.ones(2))
    with pytest.raises(RuntimeError, match=r"square matrices .* shape \(2, 3\)"):
        pg.linalg.det(pg.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes .* \(3x3 and 4x1\)"):
        pg.linalg.solve(pg.eye(3), pg.ones(4))
    with pytest.raises(RuntimeError, match="Expected a floating point tensor"):
        pg.linalg.inv(pg.eye(2, dtype=pg.int64))


# ------------------------------------------------------------------- norms

VECTOR_ORDS = [2, 1, 3, 0.5, math.inf, -math.inf, 0, -1]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), ((0, 2), True)])
def test_vector_norm(ord: float, dim, keepdim: bool) -> None:
    x = np.random.default_rng(6).standard_normal((2, 3, 4))

    def fn(m, t):
        return m.linalg.vector_norm(t, ord=ord, dim=dim, keepdim=keepdim)

    check_against_torch(torch, fn, x)
    if ord != 0:
        check_gradients(fn, x)


def test_vector_norm_at_zero_and_ties() -> None:
    for ord in (2, 1, 3, math.inf):
        check_against_torch(
            torch, lambda m, t, ord=ord: m.linalg.vector_norm(t, ord=ord), np.zeros(3)
        )
    # inf-norm: the gradient splits among tied extremes, signs kept
    x = pg.tensor([1.0, -3.0, 3.0], requires_grad=True)
    pg.linalg.vector_norm(x, ord=math.inf).backward()
    assert x.grad.tolist() == [0.0, -0.5, 0.5]


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf, "nuc", 2, -2])
def test_matrix_norm(ord) -> None:
    a = np.random.default_rng(7).standard_normal((2, 3, 4))

    def fn(m, t):
        return m.linalg.matrix_norm(t, ord=ord)

    check_against_torch(torch, fn, a)
    check_gradients(fn, a)


@pytest.mark.parametrize(
    "shape, ord, dim",
    [
        ((5,), None, None),
        ((2, 3), None, None),
        ((2, 3, 4), None, None),
        ((2, 3), "fro", None),
        ((2, 3), 1, None),
        ((2, 3), math.inf, None),
        ((5,), 1, None),
        ((2, 3, 4), 3, 2),
        ((2, 3, 4), None, (1, 2)),
    ],
)
def test_norm_chooses_as_torch(shape: tuple, ord, dim) -> None:
    x = np.random.default_rng(8).standard_normal(shape)

    def fn(m, t):
        return m.linalg.norm(t, ord=ord, dim=dim)

    check_against_torch(torch, fn, x)


def test_norm_errors() -> None:
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        pg.linalg.matrix_norm(pg.ones(2, 2), ord=3)
    with pytest.raises(RuntimeError, match="is a matrix norm, but the input"):
        pg.linalg.norm(pg.ones(3), ord="fro")
    with pytest.raises(TypeError, match="`ord` must be a number"):
        pg.linalg.vector_norm(pg.ones(3), ord="fro")


def test_matmul_grad_fn_names_follow_the_ranks() -> None:
    vector, matrix = np.ones(3), np.ones((2, 3))
    for a, b in ((vector, vector), (matrix, vector), (matrix, matrix.T)):
        ours = pg.tensor(a, requires_grad=True) @ pg.tensor(b)
        theirs = torch.tensor(a, requires_grad=True) @ torch.tensor(b)
        assert ours.grad_fn.name() == theirs.grad_fn.name()


def test_svd_norms_dims_keepdim_and_empty() -> None:
    a = np.random.default_rng(9).standard_normal((2, 3, 4))
    for ord in ("nuc", 2, -2):
        check_against_torch(
            torch,
            lambda m, t, ord=ord: m.linalg.matrix_norm(t, ord, (2, 0), keepdim=True),
            a,
        )
        check_against_torch(
            torch, lambda m, t, ord=ord: m.linalg.norm(t, ord, (0, 2)), a
        )
    for ord in ("nuc", 2):
        check_against_torch(
            torch, lambda m, t, ord=ord: m.linalg.matrix_norm(t, ord), np.zeros((2, 0))
        )
    with pytest.raises(IndexError):
        pg.linalg.matrix_norm(pg.zeros(2, 0), -2)


def test_svd_norms_split_the_gradient_between_equal_singular_values() -> None:
    # the identity's singular values are all 1: amax shares the gradient, as torch
    eye = np.eye(3)
    for ord in (2, -2):
        check_against_torch(
            torch, lambda m, t, ord=ord: m.linalg.matrix_norm(t, ord), eye
        )


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 2, 4)])
@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_svd_norms_double_backward(shape: tuple, ord) -> None:
    # the gradient U diag(g) V^T moves with A through U and V too: second
    # derivatives against torch's and against finite differences
    a = np.random.default_rng(10).standard_normal(shape)
    weights = np.random.default_rng(11).standard_normal(shape)
    hessians = []
    for m in (pg, torch):
        x = m.tensor(a, requires_grad=True)
        (g,) = m.autograd.grad(m.linalg.matrix_norm(x, ord).sum(), x, create_graph=True)
        (h,) = m.autograd.grad((g * m.tensor(weights)).sum(), x)
        hessians.append(h.detach().numpy())
    np.testing.assert_allclose(hessians[0], hessians[1], rtol=1e-7, atol=1e-10)
    x = pg.tensor(a, requires_grad=True)
    assert pg.autograd.gradgradcheck(lambda t: pg.linalg.matrix_norm(t, ord), (x,))
