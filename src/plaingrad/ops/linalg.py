"""Matrix products: matmul (1-D, 2-D, batched), its named forms (mm, bmm, dot,
mv, outer, inner), addmm / baddbmm, and linear (``x @ W.T + b``).

``matmul`` follows NumPy's (and PyTorch's) rules: a 1-D operand is treated as a
row or column vector and that dimension is removed from the result; batch
dimensions broadcast. The backward rule promotes 1-D operands to matrices so a
single formula covers every case, then sums the gradient over broadcast batch
dimensions.
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from ._util import binary_operands, unbroadcast


class Matmul(Op):
    _name = "MmBackward0"
    _saved_for = "others"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        # d(AB)/dA = G B^T, d(AB)/dB = A^T G (1-D operands promoted to matrices)
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_output
        # b's column first, so that a 1-D @ 1-D (0-d) gradient becomes (1, 1)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = g @ xp.swapaxes(b2, -1, -2)
            grad_a = unbroadcast(grad_a, a2.shape).reshape(a.shape)
        if ctx._next[1] is not None:
            grad_b = xp.swapaxes(a2, -1, -2) @ g
            grad_b = unbroadcast(grad_b, b2.shape).reshape(b.shape)
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_graph_tensors
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(1) if b.ndim == 1 else b
        g = grad_output
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        if a.ndim == 1:
            g = g.unsqueeze(-2)
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = (g @ b2.mT).sum_to_size(a2.shape).reshape(a.shape)
        if ctx._next[1] is not None:
            grad_b = (a2.mT @ g).sum_to_size(b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Dot(Matmul):
    _name = "DotBackward0"


class Mv(Matmul):
    _name = "MvBackward0"


class Bmm(Matmul):
    _name = "BmmBackward0"


class Addmm(Op):
    _name = "AddmmBackward0"
    _saved_for = ((), (2,), (1,))

    @staticmethod
    def forward(ctx, input, m1, m2, beta, alpha):
        # beta * input + alpha * (m1 @ m2); input broadcasts to the product
        ctx.save_for_backward(m1, m2)
        ctx.input_shape = input.shape
        ctx.beta = beta
        ctx.alpha = alpha
        out = m1 @ m2
        if alpha != 1:
            out *= alpha
        if beta == 0:
            # PyTorch ignores input then: its NaN and inf do not reach out
            return out
        return out + (input if beta == 1 else beta * input)

    @staticmethod
    def backward(ctx, grad_output):
        # d/d input = beta G; d/d m1 = alpha G m2^T; d/d m2 = alpha m1^T G
        m1, m2 = ctx.saved_tensors
        grad_input = grad_m1 = grad_m2 = None
        if ctx._next[0] is not None:
            grad_input = unbroadcast(ctx.beta * grad_output, ctx.input_shape)
        if ctx._next[1] is not None:
            grad_m1 = ctx.alpha * (grad_output @ xp.swapaxes(m2, -1, -2))
        if ctx._next[2] is not None:
            grad_m2 = ctx.alpha * (xp.swapaxes(m1, -1, -2) @ grad_output)
        return grad_input, grad_m1, grad_m2

    @staticmethod
    def backward_graph(ctx, grad_output):
        m1, m2 = ctx.saved_graph_tensors
        grad_input = grad_m1 = grad_m2 = None
        if ctx._next[0] is not None:
            grad_input = (ctx.beta * grad_output).sum_to_size(ctx.input_shape)
        if ctx._next[1] is not None:
            grad_m1 = ctx.alpha * (grad_output @ m2.mT)
        if ctx._next[2] is not None:
            grad_m2 = ctx.alpha * (m1.mT @ grad_output)
        return grad_input, grad_m1, grad_m2


class Baddbmm(Addmm):
    _name = "BaddbmmBackward0"


def _rows(value):
    """``value`` as ``(rows, last dimension)``; spelled out rather than
    ``reshape(-1, n)``, which cannot tell the rows when ``n`` is 0."""
    if value.ndim == 2:
        return value
    rows = 1
    for size in value.shape[:-1]:
        rows *= size
    return value.reshape(rows, value.shape[-1])


class Linear(Op):
    _name = "AddmmBackward0"
    _saved_for = ((1,), (0,), ())

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        # x: (..., in), weight: (out, in), bias: (out,)
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # y = x W^T + b: dy/dx = G W, dy/dW = G^T x, dy/db = sum of G over rows
        x, weight = ctx.saved_tensors
        nxt = ctx._next
        has_bias = len(nxt) > 2
        grad_x = grad_w = grad_b = None
        if nxt[0] is not None:
            grad_x = grad_output @ weight
        if nxt[1] is not None or has_bias:
            g2 = _rows(grad_output)
            if nxt[1] is not None:
                grad_w = g2.T @ _rows(x)
            if has_bias and nxt[2] is not None:
                grad_b = xp.add.reduce(g2, axis=0)
        if has_bias:
            return grad_x, grad_w, grad_b
        return grad_x, grad_w

    @staticmethod
    def backward_graph(ctx, grad_output):
        x, weight = ctx.saved_graph_tensors
        grad_x = grad_w = grad_b = None
        if ctx._next[0] is not None:
            grad_x = grad_output @ weight
        g2 = _rows(grad_output)
        if ctx._next[1] is not None:
            grad_w = g2.mT @ _rows(x)
        if len(ctx._next) > 2:
            if ctx._next[2] is not None:
                grad_b = g2.sum(0)
            return grad_x, grad_w, grad_b
        return grad_x, grad_w


class LinearNoBias(Linear):
    _name = "MmBackward0"


def matmul(input: Any, other: Any) -> Tensor:
    """Matrix product with NumPy/PyTorch broadcasting rules."""
    a, b = binary_operands(input, other, "matmul")
    both = isinstance(input, Tensor) and isinstance(other, Tensor)
    if both and input._data.dtype != other._data.dtype:
        # PyTorch does not promote inside a matrix product
        raise RuntimeError(
            f"matmul: expected both operands to have the same dtype, but got "
            f"{input.dtype.name} and {other.dtype.name} (convert one, e.g. "
            "x.double() or model.float())"
        )
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(
            "matmul: both arguments to matmul need to be at least 1D, but they "
            f"are {a._data.ndim}D and {b._data.ndim}D"
        )
    ka = a._data.shape[-1]
    kb = b._data.shape[-2] if b._data.ndim > 1 else b._data.shape[0]
    if ka != kb:
        raise RuntimeError(
            f"matmul: `input.shape[-1]` is {ka} but `other` has {kb} rows: shapes "
            f"{tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
            "multiplied"
        )
    # PyTorch names the product by the operands' ranks
    op = Matmul
    if b._data.ndim == 1 and a._data.ndim <= 2:
        op = Dot if a._data.ndim == 1 else Mv
    return op.apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (both 2-D)."""
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(
            f"mm: expected 2-D tensors, got {input._data.ndim}-D and "
            f"{mat2._data.ndim}-D"
        )
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors: (b, n, m) @ (b, m, p) -> (b, n, p)."""
    _check_product("bmm", input, mat2, 3, 3)
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(
            f"bmm: batch sizes differ: `input` has {input._data.shape[0]} "
            f"matrices and `mat2` has {mat2._data.shape[0]}"
        )
    return Bmm.apply(*binary_operands(input, mat2, "bmm"))


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """The dot product of two 1-D tensors of the same length."""
    _check_product("dot", input, tensor, 1, 1)
    return Dot.apply(input, tensor)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix times vector: (n, m) @ (m,) -> (n,)."""
    _check_product("mv", input, vec, 2, 1)
    return Mv.apply(input, vec)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors: (n,), (m,) -> (n, m)."""
    for name, t in (("input", input), ("vec2", vec2)):
        if t._data.ndim != 1:
            raise RuntimeError(
                f"outer: `{name}` must be 1-D, got shape {tuple(t._data.shape)}"
            )
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum over the last dimension of both: shape input[:-1] + other[:-1]."""
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        return input * other
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(
            f"inner: the last dimensions differ: `input` has shape "
            f"{tuple(a.shape)} and `other` has shape {tuple(b.shape)}"
        )
    k = a.shape[-1]
    # row counts spelled out: -1 cannot be inferred when k is 0
    rows_a, rows_b = math.prod(a.shape[:-1]), math.prod(b.shape[:-1])
    flat = input.reshape(rows_a, k) @ other.reshape(rows_b, k).t()
    return flat.reshape(*a.shape[:-1], *b.shape[:-1])


def addmm(
    input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` with 2-D ``mat1``, ``mat2``."""
    _check_product("addmm", mat1, mat2, 2, 2)
    return _add_product(Addmm, "addmm", input, mat1, mat2, beta, alpha)


def baddbmm(
    input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)`` with 3-D batches."""
    _check_product("baddbmm", batch1, batch2, 3, 3)
    return _add_product(Baddbmm, "baddbmm", input, batch1, batch2, beta, alpha)


def _add_product(
    op: Any, name: str, input: Tensor, m1: Tensor, m2: Tensor, beta: Any, alpha: Any
) -> Tensor:
    shape = m1._data.shape[:-1] + m2._data.shape[-1:]
    try:
        xp.broadcast_shapes(input._data.shape, shape)
    except ValueError:
        raise RuntimeError(
            f"{name}: `input` of shape {tuple(input._data.shape)} does not "
            f"broadcast to the product's shape {shape}"
        ) from None
    dtypes = {input._data.dtype, m1._data.dtype, m2._data.dtype}
    if len(dtypes) != 1:
        raise RuntimeError(
            f"{name}: expected one dtype, got {input.dtype.name}, "
            f"{m1.dtype.name} and {m2.dtype.name}"
        )
    return op.apply(input, m1, m2, beta=beta, alpha=alpha)


def _check_product(name: str, a: Tensor, b: Tensor, ndim_a: int, ndim_b: int) -> None:
    """Raise PyTorch-like errors for operands of the wrong rank or size."""
    x, y = a._data, b._data
    if x.ndim != ndim_a or y.ndim != ndim_b:
        raise RuntimeError(
            f"{name}: expected {ndim_a}-D and {ndim_b}-D tensors, got "
            f"{x.ndim}-D and {y.ndim}-D (shapes {tuple(x.shape)} and "
            f"{tuple(y.shape)})"
        )
    inner_a = x.shape[-1]
    inner_b = y.shape[-2] if y.ndim > 1 else y.shape[0]
    if inner_a != inner_b:
        raise RuntimeError(
            f"{name}: shapes {tuple(x.shape)} and {tuple(y.shape)} cannot be "
            f"multiplied ({inner_a} != {inner_b})"
        )
    if x.dtype != y.dtype:
        raise RuntimeError(
            f"{name}: expected both operands to have the same dtype, got "
            f"{a.dtype.name} and {b.dtype.name}"
        )


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``, as ``nn.Linear`` computes it.

    Shape:
        input: (*, in_features); weight: (out_features, in_features);
        bias: (out_features,); output: (*, out_features).
    """
    x = input._data
    w = weight._data
    if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise RuntimeError(
            f"linear: `input.shape[-1]` is {x.shape[-1] if x.ndim else None} but "
            f"`weight.shape[1]` is {w.shape[1] if w.ndim == 2 else None} "
            f"(in_features); input shape {tuple(x.shape)}, weight shape "
            f"{tuple(w.shape)}"
        )
    if x.dtype != w.dtype:
        raise RuntimeError(
            f"linear: `input` is {input.dtype.name} but `weight` is "
            f"{weight.dtype.name}; convert one (e.g. input.float() or "
            "model.double())"
        )
    if bias is None:
        return LinearNoBias.apply(input, weight)
    return Linear.apply(input, weight, bias)
