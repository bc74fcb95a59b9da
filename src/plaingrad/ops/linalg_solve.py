"""Square-matrix ops and ``linalg``'s norms: inverse, determinant, solve, norms.

Every op takes a batch of matrices (``(..., n, n)``), as PyTorch's ``linalg``
does, and its backward rule is written in matrix calculus over that batch. A
singular matrix raises PyTorch's ``LinAlgError`` message naming the op. The
determinant's gradient is computed through the adjugate (from an SVD), which
stays accurate near singular matrices, where ``det(A) * inv(A)`` would not.
Double backward (``backward_graph``) writes the same rules with recorded ops;
there the determinant's gradient is ``det(A) * inv(A)^T``, which can be
differentiated again (the SVD could not), or at a singular matrix the cofactor
matrix, from determinants of minors: PyTorch too gives the cofactors there
under create_graph (and 0 without it). The matrix norms 'nuc', 2 and -2 reduce
the singular values, as PyTorch's do; their gradient ``U diag(g) V^T`` is itself
an op whose backward is the thin SVD's full one, so they have second
derivatives too.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ._util import normalize_dims, to_float, unbroadcast
from .statistics import Norm


class LinAlgError(RuntimeError):
    """A linear-algebra op met a matrix it cannot handle (e.g. singular)."""


def _mT(a: Any) -> Any:
    return xp.swapaxes(a, -1, -2)


class Inv(Op):
    _name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            out = xp.linalg.inv(a)
        except xp.linalg.LinAlgError:
            raise LinAlgError(
                "linalg.inv: the input matrix is singular, so it has no inverse"
            ) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # Y = A^-1: dL/dA = -Y^T G Y^T
        (inv,) = ctx.saved_tensors
        inv_t = _mT(inv)
        return -(inv_t @ grad_output @ inv_t)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (inv,) = ctx.saved_graph_tensors
        inv_t = inv.mT
        return -(inv_t @ grad_output @ inv_t)


class Det(Op):
    _name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.asarray(xp.linalg.det(a))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d det(A) / dA = adj(A)^T (= det(A) A^-T when A is invertible).
        # NOTE: at an exactly singular A PyTorch returns 0, not the cofactors
        # (nonzero when the rank is n - 1); plaingrad follows PyTorch there.
        a, out = ctx.saved_tensors
        scale = xp.where(out == 0, 0, grad_output)
        return scale[..., None, None] * _mT(_adjugate(a))

    @staticmethod
    def backward_graph(ctx, grad_output):
        # adj(A)^T = det(A) A^-T where every A is invertible; with a singular
        # one, the cofactors themselves (determinants of minors, recorded), as
        # PyTorch's double-backward formula gives them there (its first-order
        # rule gives 0, as the array rule does)
        a, out = ctx.saved_graph_tensors
        g = grad_output.unsqueeze(-1).unsqueeze(-1)
        if not (out._data == 0).any():
            return g * out.unsqueeze(-1).unsqueeze(-1) * Inv.apply(a).mT
        return g * _cofactors(a)


def _adjugate(a: Any) -> Any:
    """adj(A) for a batch of square matrices, singular ones included.

    With A = U diag(s) V^T, adj(A) = det(U) det(V) V diag(c) U^T, where c_i is
    the product of every singular value but s_i (no division, so zeros are fine).
    """
    u, s, vt = xp.linalg.svd(a)
    n = s.shape[-1]
    ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    before = xp.concatenate([ones, xp.cumprod(s, axis=-1)[..., : n - 1]], axis=-1)
    after = xp.flip(
        xp.concatenate(
            [ones, xp.cumprod(xp.flip(s, -1), axis=-1)[..., : n - 1]], axis=-1
        ),
        -1,
    )
    cofactors = before * after
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    return sign[..., None, None] * ((_mT(vt) * cofactors[..., None, :]) @ _mT(u))


class MinorDet(Det):
    """``Det`` of the minors inside ``_cofactors``: its array rule is the
    adjugate at singular matrices too, for the gradient of the cofactors is
    needed exactly there (PyTorch's 0 is for a user's ``det`` only)."""

    @staticmethod
    def backward(ctx, grad_output):
        # d det(A) / dA = adj(A)^T, singular A included
        a, _ = ctx.saved_tensors
        return grad_output[..., None, None] * _mT(_adjugate(a))


def _cofactors(a: Tensor) -> Tensor:
    """The cofactor matrix adj(A)^T of each matrix, as recorded ops: C_ij =
    (-1)^(i+j) det(A without row i and column j). Exact at singular matrices,
    and differentiable again (a polynomial in A's entries)."""
    n = a.shape[-1]
    if n == 1:
        return _wrap(xp.ones(tuple(a.shape), dtype=a._data.dtype), None)
    others = xp.array([[j for j in range(n) if j != i] for i in range(n)])
    # (..., n, n, n-1, n-1): the minor of every entry
    minors = a[..., others[:, None, :, None], others[None, :, None, :]]
    signs = (-1.0) ** xp.add.outer(xp.arange(n), xp.arange(n))
    return MinorDet.apply(minors) * _wrap(signs.astype(a._data.dtype), None)


class Solve(Op):
    _name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b, vector):
        # a: (..., n, n); b: (..., n, k), or (..., n) when ``vector``
        if vector:
            b = b[..., None]
        try:
            out = xp.linalg.solve(a, b)
        except xp.linalg.LinAlgError:
            raise LinAlgError(
                "linalg.solve: the matrix `A` is singular, so AX = B has no "
                "unique solution"
            ) from None
        # the returned array itself, so that backward_graph sees the output
        out = out[..., 0] if vector else out
        ctx.save_for_backward(a, out)
        ctx.vector = vector
        ctx.b_shape = b.shape
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # X = A^-1 B: dL/dB = A^-T G; dL/dA = -(dL/dB) X^T
        a, x = ctx.saved_tensors
        if ctx.vector:
            x, grad_output = x[..., None], grad_output[..., None]
        g = grad_output
        grad_b = xp.linalg.solve(_mT(a), g)
        grad_a = -(grad_b @ _mT(x))
        grad_b = unbroadcast(grad_b, ctx.b_shape)
        if ctx.vector:
            grad_b = grad_b[..., 0]
        return unbroadcast(grad_a, a.shape), grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, x = ctx.saved_graph_tensors
        g = grad_output
        if ctx.vector:
            x, g = x.unsqueeze(-1), g.unsqueeze(-1)
        grad_b = Solve.apply(a.mT, g, vector=False)
        grad_a = -(grad_b @ x.mT)
        grad_b = grad_b.sum_to_size(ctx.b_shape)
        if ctx.vector:
            grad_b = grad_b.squeeze(-1)
        return grad_a.sum_to_size(tuple(a.shape)), grad_b


# ------------------------------------------------------------------ functions


class Svdvals(Op):
    # PyTorch's matrix norms 'nuc', 2 and -2 reduce linalg.svdvals, whose node
    # is the SVD's; numpy's SVD sorts the values in descending order, as LAPACK
    _name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a):
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(a, u, vh)
        return s

    @staticmethod
    def backward(ctx, grad_output):
        # d s_i / dA = u_i v_i^T, so dA = U diag(grad) V^T
        _, u, vh = ctx.saved_tensors
        return (u * grad_output[..., None, :]) @ vh

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a, _, _) = ctx.saved_graph_tensors
        return SvdvalsBackward.apply(a, grad_output)


class SvdvalsBackward(Op):
    """``U(A) diag(g) V(A)^T``, Svdvals' gradient, as an op of A and g: its own
    backward is the SVD's full one (the singular vectors move with A)."""

    _name = "LinalgSvdBackwardBackward0"

    @staticmethod
    def forward(ctx, a, g):
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, s, vh, g)
        return (u * g[..., None, :]) @ vh

    @staticmethod
    def backward(ctx, grad_output):
        # d/dg_i = u_i^T G v_i; d/dA through U and V: the SVD's backward
        # (Townsend's thin-SVD formula) fed dU = G V diag(g), dV = G^T U diag(g)
        u, s, vh, g = ctx.saved_tensors
        v = _mT(vh)
        ut_g = _mT(u) @ grad_output  # (k, n)
        grad_g = (ut_g * vh).sum(-1)
        gu = (grad_output @ v) * g[..., None, :]
        gv = _mT(ut_g) * g[..., None, :]
        s2 = s * s
        with errstate(divide="ignore", invalid="ignore"):
            diff = s2[..., None, :] - s2[..., :, None]  # s_j^2 - s_i^2
            f = xp.where(diff == 0, 0.0, 1.0 / diff)
            inv_s = 1.0 / s
        ut_gu, vt_gv = _mT(u) @ gu, _mT(v) @ gv
        core = (f * (ut_gu - _mT(ut_gu))) * s[..., None, :] + s[..., :, None] * (
            f * (vt_gv - _mT(vt_gv))
        )
        grad_a = u @ core @ vh
        m, n = u.shape[-2], vh.shape[-1]
        if m > s.shape[-1]:  # the part of gU outside U's columns
            gu_s = gu * inv_s[..., None, :]
            grad_a = grad_a + (gu_s - u @ (_mT(u) @ gu_s)) @ vh
        if n > s.shape[-1]:  # the part of gV outside V's columns
            gv_s = gv * inv_s[..., None, :]
            grad_a = grad_a + u @ _mT(gv_s - v @ (_mT(v) @ gv_s))
        return grad_a, grad_g


def _square(a: Tensor, op: str) -> None:
    shape = a._data.shape
    if a._data.ndim < 2 or shape[-1] != shape[-2]:
        raise RuntimeError(
            f"{op}: `A` must be a batch of square matrices (..., n, n), got "
            f"shape {tuple(shape)}"
        )
    if a._data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: Expected a floating point tensor as input, got {a.dtype.name}"
        )


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix in ``A`` (..., n, n)."""
    _square(A, "linalg.inv")
    return Inv.apply(A)


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix in ``A`` (..., n, n) -> (...)."""
    _square(A, "linalg.det")
    return Det.apply(A)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B``; B is a batch of vectors or matrices.

    Shape:
        A: (..., n, n); B: (..., n) for vectors or (..., n, k); X as B.
    """
    _square(A, "linalg.solve")
    if not left:
        # X A = B is A^T X^T = B^T; as in PyTorch, a B that reads as a vector
        # (by the rule below) is refused
        b = B._data
        vector = b.ndim == 1 or (b.ndim == A._data.ndim - 1 and b.shape == A.shape[:-1])
        if vector or b.shape[-1] != A._data.shape[-1]:
            n = A._data.shape[-1]
            rows, cols = (b.shape[-1], 1) if vector else b.shape[-2:]
            raise RuntimeError(
                "linalg.solve: Incompatible shapes of A and B for the equation XA = B "
                f"({n}x{n} and {rows}x{cols})"
            )
        return solve(A.mT, B.mT).mT
    n = A._data.shape[-1]
    b = B._data
    vector = b.ndim == 1 or (b.ndim == A._data.ndim - 1 and b.shape == A.shape[:-1])
    rows = b.shape[-1] if vector else (b.shape[-2] if b.ndim >= 2 else None)
    if rows != n:
        cols = 1 if vector else b.shape[-1]
        raise RuntimeError(
            "linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            f"({n}x{n} and {rows}x{cols})"
        )
    if A._data.dtype != b.dtype:
        raise RuntimeError(
            f"linalg.solve: `A` is {A.dtype.name} but `B` is {B.dtype.name}; "
            "expected the same dtype"
        )
    return Solve.apply(A, B, vector=vector)


def vector_norm(
    x: Tensor,
    ord: float = 2,
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """``(sum |x|^ord)^(1/ord)`` over ``dim`` (every element by default).

    ``ord`` may be any number, ``inf`` (max |x|), ``-inf`` (min |x|) or 0 (the
    count of non-zeros). At the zero vector the gradient is 0, as in PyTorch.
    The op is ``torch.norm``'s (``ops.statistics.Norm``); this adds
    ``linalg``'s argument names and checks.
    """
    if dtype is not None:
        x = x.to(dtype)
    x = to_float(x)
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(
            f"linalg.vector_norm: `ord` must be a number, got {type(ord).__name__}"
        )
    if ord < 0 and x._data.size == 0:
        raise RuntimeError(
            "linalg.vector_norm: a negative `ord` is not defined for an empty tensor"
        )
    axes = None
    if dim is not None and not (isinstance(dim, (tuple, list)) and not dim):
        axes = normalize_dims(dim, x._data.ndim, "linalg.vector_norm")
    if not x._data.ndim:  # a 0-d tensor's only dim (0 or -1) is itself
        axes = None
    return Norm.apply(x, p=float(ord), axes=axes, keepdim=keepdim)


def matrix_norm(
    A: Tensor, ord: Any = "fro", dim: tuple = (-2, -1), keepdim: bool = False
) -> Tensor:
    """Frobenius norm, the largest/smallest column (1) or row (inf) sum, or
    from the singular values: their sum ('nuc'), the largest (2), the smallest
    (-2)."""
    if A._data.ndim < 2:
        raise RuntimeError(
            f"linalg.matrix_norm: `A` must have at least 2 dimensions, got "
            f"shape {tuple(A._data.shape)}"
        )
    rows, cols = normalize_dims(dim, A._data.ndim, "linalg.matrix_norm")
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim)
    if ord in (1, -1, float("inf"), float("-inf")):
        # 1: max over columns of the column sums of |A|; inf: over rows
        summed, pick = (rows, cols) if abs(ord) == 1 else (cols, rows)
        sums = A.abs().sum(dim=summed, keepdim=True)
        out = (
            sums.amax(dim=pick, keepdim=True)
            if ord > 0
            else sums.amin(dim=pick, keepdim=True)
        )
        return out if keepdim else out.squeeze((rows, cols))
    if ord in ("nuc", 2, -2):
        # from the singular values: their sum, the largest, the smallest (as
        # PyTorch: amax/amin share the gradient between equal values)
        values = Svdvals.apply(to_float(A).movedim((rows, cols), (-2, -1)))
        if ord == 2 and not values.shape[-1]:
            # an empty matrix's 2-norm: zeros without a graph, as in PyTorch
            out = _wrap(xp.zeros(values.shape[:-1], dtype=values._data.dtype), None)
        elif ord == "nuc":
            out = values.sum(-1)
        else:
            out = values.amax(-1) if ord == 2 else values.amin(-1)
        if keepdim:
            out = out.unsqueeze(min(rows, cols)).unsqueeze(max(rows, cols))
        return out
    raise RuntimeError(
        f"linalg.matrix_norm: Order {ord} not supported (expected 'fro', 'nuc', "
        "2, -2, 1, -1, inf or -inf)"
    )


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False) -> Tensor:
    """A vector norm or a matrix norm, chosen as PyTorch chooses.

    With ``ord=None`` the 2-norm of the flattened input (or over ``dim``); with
    an ``ord`` and a 2-D input (or a 2-tuple ``dim``), a matrix norm.
    """
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", tuple(dim), keepdim)
        return vector_norm(A, 2, dim, keepdim)
    if (dim is None and A._data.ndim == 2) or (dim is not None and len(dim) == 2):
        return matrix_norm(A, ord, tuple(dim) if dim else (-2, -1), keepdim)
    if isinstance(ord, str):
        raise RuntimeError(
            f"linalg.norm: `ord={ord!r}` is a matrix norm, but the input is a "
            f"vector (dim={dim}, shape {tuple(A._data.shape)})"
        )
    if dim is None and A._data.ndim != 1:
        raise RuntimeError(
            "linalg.norm: with a numeric `ord`, the input must be 1-D or 2-D, or "
            f"`dim` must be given; got shape {tuple(A._data.shape)}"
        )
    return vector_norm(A, ord, dim, keepdim)
