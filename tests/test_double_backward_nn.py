"""Double backward of the network ops: convolution, pooling, normalisation,
attention, embedding, dropout, indexing, statistics, sorting, linear algebra,
einsum and padding.

Each op is checked twice, in float64: ``gradgradcheck`` (finite differences of
its first derivatives, with respect to the inputs and the output gradients),
and real PyTorch: the first derivatives ``(g,) = grad(out, x, v,
create_graph=True)``, then ``grad((g * u).sum(), [x, ..., v])`` for fixed random
``v`` and ``u``, compared with the same in torch on the same arrays. The
adjoint ops that carry those second derivatives (a convolution's input and
weight gradients, pooling's scatters, ...) are differentiated once more in the
third-order tests. Gradient penalties (WGAN-GP style) end the file: on small
CNNs, and on a transformer encoder layer whose weights are copied from torch by
state_dict name; every parameter's gradient must equal torch's.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

_rng = np.random.default_rng(11)


def _normal(*shape):
    return _rng.standard_normal(shape)


def _apart(*shape):
    # distinct values away from 0 and from each other: no ties, no kinks
    n = int(np.prod(shape))
    values = (np.arange(n) + 1.0) * 0.37 + _rng.uniform(0.01, 0.1, n)
    values *= _rng.permutation([-1, 1] * n)[:n]
    return _rng.permutation(values).reshape(shape)


def _positive(*shape):
    return _rng.uniform(0.5, 2.0, shape)


def _f(lib):
    return lib.nn.functional


X4 = _normal(2, 2, 4, 5)
CONV = [
    (
        "conv2d",
        lambda m, x, w, b: _f(m).conv2d(x, w, b),
        (X4, _normal(3, 2, 3, 3), _normal(3)),
    ),
    (
        "conv2d_stride_padding",
        lambda m, x, w: _f(m).conv2d(x, w, stride=2, padding=1),
        (X4, _normal(2, 2, 3, 2)),
    ),
    (
        "conv2d_dilation_groups",
        lambda m, x, w, b: _f(m).conv2d(
            x, w, b, stride=(1, 2), padding=(2, 1), dilation=2, groups=2
        ),
        (X4, _normal(4, 1, 2, 3), _normal(4)),
    ),
    (
        "conv2d_same_even_kernel",
        lambda m, x, w: _f(m).conv2d(x, w, padding="same"),
        (_normal(1, 2, 4, 5), _normal(3, 2, 2, 4)),
    ),
    (
        "conv2d_unbatched",
        lambda m, x, w: _f(m).conv2d(x * x, w, padding=1),
        (_normal(2, 4, 4), _normal(2, 2, 3, 3)),
    ),
    (
        "conv1d",
        lambda m, x, w, b: _f(m).conv1d(x, w, b, stride=2, padding=1, dilation=2),
        (_normal(2, 4, 9), _normal(3, 4, 3), _normal(3)),
    ),
    (
        "conv1d_groups_same",
        lambda m, x, w: _f(m).conv1d(x, w, padding="same", groups=2),
        (_normal(2, 4, 7), _normal(6, 2, 4)),
    ),
    (
        "conv_transpose2d",
        lambda m, x, w, b: _f(m).conv_transpose2d(x, w, b),
        (_normal(2, 3, 3, 4), _normal(3, 2, 3, 3), _normal(2)),
    ),
    (
        "conv_transpose2d_stride_groups",
        lambda m, x, w: _f(m).conv_transpose2d(
            x, w, stride=2, padding=1, output_padding=1, groups=2
        ),
        (_normal(1, 4, 2, 3), _normal(4, 2, 3, 2)),
    ),
    (
        # output_padding >= stride (allowed below the dilation): the adjoint
        # convolution has more windows than the input has positions
        "conv_transpose2d_dilation",
        lambda m, x, w, b: _f(m).conv_transpose2d(
            x, w, b, stride=1, padding=(1, 0), output_padding=(1, 2), dilation=3
        ),
        (_normal(1, 2, 3, 3), _normal(2, 3, 2, 2), _normal(3)),
    ),
]

FOLD = [
    (
        "unfold",
        lambda m, x: _f(m).unfold(x * x, (2, 3), dilation=(1, 2), padding=1, stride=2),
        (_normal(2, 2, 5, 6),),
    ),
    (
        "fold",
        lambda m, x: _f(m).fold(x * x, (4, 5), (2, 2), padding=1, stride=(1, 2)),
        (_normal(2, 8, 15),),
    ),
    ("fold_unbatched", lambda m, x: _f(m).fold(x * x, (3, 3), 2), (_normal(4, 4),)),
]


XP = _apart(2, 3, 5, 6)  # no ties: the winners are unambiguous
POOL = [
    ("max_pool2d", lambda m, x: _f(m).max_pool2d(x * x, 2), (XP,)),
    (
        "max_pool2d_overlapping",
        lambda m, x: _f(m).max_pool2d(
            x * x, 3, stride=(1, 2), padding=1, dilation=(1, 2), ceil_mode=True
        ),
        (XP,),
    ),
    (
        "max_pool1d",
        lambda m, x: _f(m).max_pool1d(x * x, 3, stride=2, padding=1),
        (_apart(2, 3, 7),),
    ),
    (
        "adaptive_max_pool2d",
        lambda m, x: _f(m).adaptive_max_pool2d(x * x, (2, 4)),
        (XP,),
    ),
    ("avg_pool2d", lambda m, x: _f(m).avg_pool2d(x * x, 2), (XP,)),
    (
        "avg_pool2d_padding",
        lambda m, x: _f(m).avg_pool2d(
            x * x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False
        ),
        (XP,),
    ),
    (
        "avg_pool2d_divisor",
        lambda m, x: _f(m).avg_pool2d(x * x, (2, 3), 1, divisor_override=4),
        (XP[0],),
    ),
    (
        "avg_pool1d",
        lambda m, x: _f(m).avg_pool1d(x * x, 2, padding=1),
        (_normal(2, 7),),
    ),
    (
        "adaptive_avg_pool2d",
        lambda m, x: _f(m).adaptive_avg_pool2d(x * x, (3, 4)),
        (XP,),
    ),
    ("adaptive_avg_pool2d_1", lambda m, x: _f(m).adaptive_avg_pool2d(x * x, 1), (XP,)),
]


XN = _normal(4, 3, 2, 2)
NORM = [
    (
        "batch_norm_train",
        lambda m, x, w, b: _f(m).batch_norm(x, None, None, w, b, training=True),
        (XN, _positive(3), _normal(3)),
    ),
    (
        "batch_norm_train_running",
        lambda m, x: _f(m).batch_norm(
            x * x,
            m.zeros(3, dtype=m.float64),
            m.ones(3, dtype=m.float64),
            None,
            None,
            True,
            0.2,
            1e-3,
        ),
        (_normal(5, 3),),
    ),
    (
        "batch_norm_eval",
        lambda m, x, w, b: _f(m).batch_norm(
            x * x, m.tensor(_MEAN), m.tensor(_VAR), w, b, training=False
        ),
        (XN, _positive(3), _normal(3)),
    ),
    (
        "layer_norm",
        lambda m, x, w, b: _f(m).layer_norm(x, (2, 2), w, b, eps=1e-3),
        (XN, _positive(2, 2), _normal(2, 2)),
    ),
    ("layer_norm_plain", lambda m, x: _f(m).layer_norm(x * x, (4,)), (_normal(3, 4),)),
    (
        "group_norm",
        lambda m, x, w, b: _f(m).group_norm(x, 3, w, b),
        (_normal(2, 6, 3), _positive(6), _normal(6)),
    ),
    ("group_norm_plain", lambda m, x: _f(m).group_norm(x * x, 1), (XN,)),
    (
        "instance_norm",
        lambda m, x, w, b: _f(m).instance_norm(x, weight=w, bias=b),
        (XN, _positive(3), _normal(3)),
    ),
    (
        "rms_norm",
        lambda m, x, w: _f(m).rms_norm(x, (2, 2), w, eps=1e-4),
        (XN, _positive(2, 2)),
    ),
    ("normalize", lambda m, x: _f(m).normalize(x, dim=1), (_normal(3, 4),)),
    (
        "cosine_similarity",
        lambda m, a, b: _f(m).cosine_similarity(a, b, dim=-1),
        (_normal(3, 4), _normal(4)),
    ),
    (
        "pairwise_distance",
        lambda m, a, b: _f(m).pairwise_distance(a, b, p=3.0),
        (_normal(3, 4), _normal(3, 4)),
    ),
]
_MEAN = _normal(3)
_VAR = _positive(3)


WITH_ZEROS = np.array(
    [[0.5, 0.0, 1.5, -2.0], [1.2, -0.7, 0.0, 0.0], [0.3, 2.0, -1.1, 0.8]]
)
STATISTICS = [
    ("prod", lambda m, x: x.prod(), (_positive(2, 3),)),
    ("prod_dim", lambda m, x: x.prod(1, keepdim=True), (_normal(3, 4),)),
    ("prod_zeros", lambda m, x: x.prod(1), (WITH_ZEROS,)),
    ("prod_all_zeros", lambda m, x: x.prod(), (WITH_ZEROS[:, :2],)),
    ("var", lambda m, x: x.var(), (_normal(3, 4),)),
    ("var_dim", lambda m, x: x.var((0, 2), correction=0, keepdim=True), (XN,)),
    ("std", lambda m, x: x.std(1), (_normal(3, 4),)),
    ("std_all", lambda m, x: (x * x).std(), (_normal(3, 4),)),
    ("std_constant_row", lambda m, x: (x * m.tensor(_ROWS)).std(1), (_normal(3, 4),)),
    ("norm", lambda m, x: x.norm(), (_normal(3, 4),)),
    ("norm_dim", lambda m, x: x.norm(dim=1, keepdim=True), (_normal(3, 4),)),
    ("norm_1", lambda m, x: (x * x).norm(1, dim=0), (_apart(3, 4),)),
    ("norm_3", lambda m, x: x.norm(3, dim=1), (_apart(3, 4),)),
    ("norm_1_5", lambda m, x: x.norm(1.5), (_apart(3, 4),)),
    ("norm_0_5", lambda m, x: x.norm(0.5, dim=0), (_apart(3, 4),)),
    ("norm_inf", lambda m, x: (x * x).norm(float("inf"), dim=1), (_apart(3, 4),)),
    ("norm_zero_row", lambda m, x: (x * m.tensor(_ROWS)).norm(dim=1), (_normal(3, 4),)),
    ("vector_norm", lambda m, x: m.linalg.vector_norm(x, 4, dim=(0, 1)), (XN,)),
    ("matrix_norm", lambda m, x: m.linalg.matrix_norm(x), (_normal(2, 3, 3),)),
    ("cumsum", lambda m, x: (x * x).cumsum(1), (_normal(3, 4),)),
    ("cumprod", lambda m, x: x.cumprod(1), (_normal(3, 4),)),
    ("cumprod_zeros", lambda m, x: x.cumprod(1), (WITH_ZEROS,)),
    ("cumprod_zeros_dim0", lambda m, x: x.cumprod(0), (WITH_ZEROS.T.copy(),)),
    ("logcumsumexp", lambda m, x: x.logcumsumexp(0), (_normal(4, 3) * 3,)),
]
_ROWS = np.array([[1.0], [0.0], [1.0]])


EMBEDDING = [
    (
        "embedding",
        lambda m, w: _f(m).embedding(m.tensor(_IDS), w) ** 2,
        (_normal(5, 3),),
    ),
    (
        "embedding_padding",
        lambda m, w: _f(m).embedding(m.tensor(_IDS), w, padding_idx=1) ** 2,
        (_normal(5, 3),),
    ),
    (
        "embedding_freq",
        lambda m, w, x: (
            _f(m).embedding(m.tensor(_IDS), w, padding_idx=0, scale_grad_by_freq=True)
            * x
        ),
        (_normal(5, 3), _normal(3)),
    ),
]
_IDS = np.array([[1, 3, 3], [0, 1, 3]])

ATTENTION = [
    (
        "sdpa",
        lambda m, q, k, v: _f(m).scaled_dot_product_attention(q, k, v),
        (_normal(2, 3, 4), _normal(2, 5, 4), _normal(2, 5, 3)),
    ),
    (
        "sdpa_causal_scale",
        lambda m, q, k, v: _f(m).scaled_dot_product_attention(
            q, k, v, is_causal=True, scale=0.3
        ),
        (_normal(1, 2, 4, 3), _normal(1, 2, 4, 3), _normal(1, 2, 4, 2)),
    ),
    (
        "sdpa_bool_mask_dead_row",
        lambda m, q, k, v: _f(m).scaled_dot_product_attention(
            q, k, v, attn_mask=m.tensor(_ATTN_MASK)
        ),
        (_normal(3, 4), _normal(3, 4), _normal(3, 2)),
    ),
    (
        "sdpa_float_mask",
        lambda m, q, k, v, b: _f(m).scaled_dot_product_attention(q, k, v, b),
        (_normal(2, 3, 4), _normal(2, 3, 4), _normal(2, 3, 2), _normal(3, 3)),
    ),
]
_ATTN_MASK = np.array([[True, False, True], [False, False, False], [True, True, True]])

INDEXING = [
    ("gather", lambda m, x: (x * x).gather(1, m.tensor(_GATHER)), (_normal(3, 4),)),
    (
        "scatter",
        lambda m, x, src: (x * x).scatter(1, m.tensor(_SCATTER), src * src),
        (_normal(3, 4), _normal(3, 3)),
    ),
    (
        "scatter_value",
        lambda m, x: (x * x).scatter(1, m.tensor(_SCATTER[:, :2]), 2.0),
        (_normal(3, 4),),
    ),
    (
        "scatter_add",
        lambda m, x, src: (x * x).scatter_add(1, m.tensor(_GATHER), src * x[:, :1]),
        (_normal(3, 4), _normal(3, 5)),
    ),
    (
        "index_select",
        lambda m, x: (x * x).index_select(1, m.tensor([3, 0, 3])),
        (_normal(3, 4),),
    ),
    (
        "index_add",
        lambda m, x, src: (x * x).index_add(
            0, m.tensor([2, 0, 2]), src * src, alpha=1.5
        ),
        (_normal(3, 4), _normal(3, 4)),
    ),
    (
        "index_put",
        lambda m, x, v: (x * x).index_put((m.tensor([0, 2]), m.tensor([1, 3])), v * v),
        (_normal(3, 4), _normal(2)),
    ),
    (
        "index_put_accumulate",
        lambda m, x, v: (x * x).index_put((m.tensor([0, 0, 2]),), v * x[1], True),
        (_normal(3, 4), _normal(4)),
    ),
    (
        "index_put_mask",
        lambda m, x, v: (x * x).index_put((m.tensor(_MASK),), v * v),
        (_normal(3, 4), _normal(1)),
    ),
    (
        "take_along_dim",
        lambda m, x: m.take_along_dim(x * x, m.tensor(_GATHER[:, :2]), 1),
        (_normal(3, 4),),
    ),
    (
        "take_along_dim_flat",
        lambda m, x: m.take_along_dim(x * x, m.tensor([5, 0, 5])),
        (_normal(3, 4),),
    ),
    (
        "masked_select",
        lambda m, x: (x * x).masked_select(m.tensor(_MASK)),
        (_normal(3, 4),),
    ),
]
_GATHER = np.array([[0, 3, 3, 1, 0], [2, 2, 0, 1, 3], [1, 0, 0, 0, 2]])
_SCATTER = np.array([[3, 0, 1], [1, 2, 0], [0, 3, 2]])
_MASK = _rng.random((3, 4)) > 0.5


SORTING = [
    ("sort", lambda m, x: (x * x).sort(1).values, (_apart(3, 4),)),
    (
        "sort_descending",
        lambda m, x: (x * x).sort(0, descending=True)[0],
        (_apart(3, 4),),
    ),
    ("topk", lambda m, x: (x * x).topk(2).values, (_apart(3, 4),)),
    ("kthvalue", lambda m, x: (x * x).kthvalue(2, 0, keepdim=True)[0], (_apart(3, 4),)),
    ("median", lambda m, x: (x * x).median(), (_apart(3, 4),)),
    ("median_dim", lambda m, x: (x * x).median(1).values, (_apart(3, 4),)),
    ("mode", lambda m, x: (x * x * m.tensor(_MODE)).mode(1)[0], (_apart(2, 4),)),
]
_MODE = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]])

# a batch of a singular matrix (row 2 = row 1 - row 0), an invertible one, and
# one with a zero row
_SINGULAR = np.array(
    [
        [[1.0, 2, 3], [2, 4, 7], [1, 2, 4]],
        [[2.0, 1, 0], [1, 3, 1], [0, 1, 2]],
        [[1.0, 2, 3], [0, 0, 0], [4, 1, 2]],
    ]
)

LINALG = [
    ("inv", lambda m, a: m.linalg.inv(a), (_normal(3, 3) + 3 * np.eye(3),)),
    (
        "inv_batched",
        lambda m, a: m.linalg.inv(a * a),
        (_normal(2, 3, 3) + 2 * np.eye(3),),
    ),
    ("det", lambda m, a: m.linalg.det(a), (_normal(2, 3, 3),)),
    # exactly singular matrices (det is 0.0): PyTorch's double backward gives
    # the cofactors there, and second derivatives through them
    ("det_singular", lambda m, a: m.linalg.det(a), (_SINGULAR,)),
    ("det_singular_2x2", lambda m, a: m.linalg.det(a), (np.array([[1.0, 2], [2, 4]]),)),
    (
        "det_singular_rank1",
        lambda m, a: m.linalg.det(a),
        (np.outer([1.0, 2, 3], [1, 0, 2]),),
    ),
    (
        "solve",
        lambda m, a, b: m.linalg.solve(a, b),
        (_normal(3, 3) + 3 * np.eye(3), _normal(3, 2)),
    ),
    (
        "solve_vector",
        lambda m, a, b: m.linalg.solve(a, b),
        (_normal(2, 3, 3) + 3 * np.eye(3), _normal(2, 3)),
    ),
    (
        "solve_broadcast",
        lambda m, a, b: m.linalg.solve(a, b),
        (_normal(3, 3) + 3 * np.eye(3), _normal(2, 3, 2)),
    ),
    ("linalg_norm", lambda m, a: m.linalg.norm(a, dim=(0, 1)), (_normal(3, 4, 2),)),
]

EINSUM = [
    (
        "einsum_matmul",
        lambda m, a, b: m.einsum("ij,jk->ik", a, b),
        (_normal(2, 3), _normal(3, 4)),
    ),
    (
        "einsum_batched",
        lambda m, a, b: m.einsum("bij,bkj->bik", a, b),
        (_normal(2, 2, 3), _normal(2, 4, 3)),
    ),
    (
        "einsum_three",
        lambda m, a, b, c: m.einsum("i,ij,j", a, b, c),
        (_normal(3), _normal(3, 2), _normal(2)),
    ),
    ("einsum_trace", lambda m, a: m.einsum("ii", a * a), (_normal(3, 3),)),
    (
        "einsum_diagonal",
        lambda m, a, b: m.einsum("iij,j->i", a, b),
        (_normal(3, 3, 2), _normal(2)),
    ),
    (
        "einsum_sum_away",
        lambda m, a, b: m.einsum("ijk,k->i", a, b),
        (_normal(2, 3, 2), _normal(2)),
    ),
    (
        "einsum_ellipsis_broadcast",
        lambda m, a, b: m.einsum("...ij,...j->...i", a, b),
        (_normal(2, 3, 4), _normal(1, 4)),
    ),
    ("einsum_outer_self", lambda m, a: m.einsum("i,j->ij", a, a), (_normal(3),)),
]

PADDING = [
    (
        "pad_constant",
        lambda m, x: _f(m).pad(x * x, (1, 2, 0, 1), value=0.5),
        (_normal(2, 3, 3),),
    ),
    ("pad_crop", lambda m, x: _f(m).pad(x * x, (-1, 1, 2, -1)), (_normal(2, 3, 4),)),
    (
        "pad_reflect",
        lambda m, x: _f(m).pad(x * x, (2, 1, 1, 2), mode="reflect"),
        (_normal(1, 2, 4, 4),),
    ),
    (
        "pad_replicate",
        lambda m, x: _f(m).pad(x * x, (2, 3), mode="replicate"),
        (_normal(2, 3, 3),),
    ),
    (
        "pad_circular",
        lambda m, x: _f(m).pad(x * x, (1, 2, 2, 0), mode="circular"),
        (_normal(1, 2, 3, 3),),
    ),
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
    return np.zeros(tuple(like.shape)) if t is None else t.detach().numpy()


def _second_derivatives(lib, fn, args):
    """First derivatives (create_graph) for fixed random output gradients
    ``v``, then the gradient of ``sum(u * first)`` for fixed random ``u`` with
    respect to the inputs and to ``v``."""
    rng = np.random.default_rng(5)
    xs = _inputs(lib, args)
    wrt = [x for x in xs if getattr(x, "requires_grad", False)]
    outs = [o for o in _as_list(fn(lib, *xs)) if o.requires_grad]
    vs = [
        lib.tensor(rng.standard_normal(tuple(o.shape)), requires_grad=True)
        for o in outs
    ]
    firsts = lib.autograd.grad(outs, wrt, vs, create_graph=True, allow_unused=True)
    us = [rng.standard_normal(tuple(x.shape)) for x in wrt]
    terms = [
        (f * lib.tensor(u)).sum()
        for f, u in zip(firsts, us)
        if f is not None and f.requires_grad
    ]
    if terms:
        seconds = lib.autograd.grad(sum(terms), wrt + vs, allow_unused=True)
    else:
        seconds = [None] * (len(wrt) + len(vs))
    first = [_numpy(f, x) for f, x in zip(firsts, wrt)]
    second = [_numpy(s, x) for s, x in zip(seconds, wrt + vs)]
    return first, second


OPS = (
    CONV
    + FOLD
    + POOL
    + NORM
    + STATISTICS
    + EMBEDDING
    + ATTENTION
    + INDEXING
    + SORTING
    + LINALG
    + EINSUM
    + PADDING
)

# Second derivatives that do not exist, where PyTorch gives NaN (and so does
# plaingrad): compared with torch, not with finite differences
UNDEFINED = {"std_constant_row", "norm_zero_row"}
# scale_grad_by_freq's gradient is not the derivative of the lookup, and
# PyTorch's double backward reads rows back unscaled (plaingrad follows it):
# compared with torch only
NOT_A_DERIVATIVE = {"embedding_freq"}


@pytest.mark.parametrize(("name", "fn", "args"), OPS, ids=[op[0] for op in OPS])
def test_gradgradcheck(name, fn, args) -> None:
    if name in UNDEFINED:
        pytest.skip(f"{name}: no second derivative at this point (NaN, as torch)")
    if name in NOT_A_DERIVATIVE:
        pytest.skip(f"{name}: its first derivative is not a derivative")
    xs = _inputs(pg, args)
    assert pg.autograd.gradgradcheck(lambda *a: fn(pg, *a), tuple(xs)) is True


@pytest.mark.parametrize(("name", "fn", "args"), OPS, ids=[op[0] for op in OPS])
def test_second_derivatives_match_torch(name, fn, args) -> None:
    ours = _second_derivatives(pg, fn, args)
    theirs = _second_derivatives(torch, fn, args)
    for kind, a, b in zip(("first", "second"), ours, theirs):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(
                x, y, rtol=1e-9, atol=1e-11, err_msg=f"{name}: {kind} {i}"
            )


# -------------------------------------------------------------- third order


def _gradients(lib, fn):
    """``fn`` -> the function of the same inputs returning its first
    derivatives, with create_graph (for a fixed output gradient), so that
    double-checking it differentiates the adjoint ops' own Tensor-level rules."""

    def first(m, *xs):
        out = fn(m, *xs)
        v = m.tensor(np.random.default_rng(8).standard_normal(tuple(out.shape)))
        wrt = [x for x in xs if getattr(x, "requires_grad", False)]
        return m.autograd.grad(out, wrt, v, create_graph=True)

    return first


THIRD = [
    (
        "conv2d",
        lambda m, x, w: _f(m).conv2d(x * x, w * w, stride=2, padding=1, groups=2),
        (_normal(1, 2, 4, 4), _normal(4, 1, 2, 3)),
    ),
    (
        "conv1d",
        lambda m, x, w: _f(m).conv1d(x * x, w * w, dilation=2),
        (_normal(2, 2, 6), _normal(2, 2, 2)),
    ),
    (
        "conv_transpose2d",
        lambda m, x, w: _f(m).conv_transpose2d(
            x * x, w * w, stride=2, padding=1, dilation=2
        ),
        (_normal(1, 2, 2, 3), _normal(2, 1, 2, 2)),
    ),
    (
        "unfold",
        lambda m, x: _f(m).unfold(x * x * x, 2, padding=1),
        (_normal(1, 1, 3, 3),),
    ),
    (
        "max_pool2d",
        lambda m, x: _f(m).max_pool2d(x * x * x, 2, 1),
        (_apart(1, 2, 3, 3),),
    ),
    (
        "avg_pool2d",
        lambda m, x: _f(m).avg_pool2d(x * x * x, 2, 1),
        (_normal(1, 2, 3, 3),),
    ),
    (
        "embedding",
        lambda m, w: _f(m).embedding(m.tensor(_IDS), w, padding_idx=1) ** 3,
        (_normal(5, 3),),
    ),
    ("layer_norm", lambda m, x: _f(m).layer_norm(x, (3,)), (_normal(2, 3),)),
    ("cumprod_zeros", lambda m, x: x.cumprod(1), (WITH_ZEROS[:2],)),
]


# torch 2.13's third derivative of layer_norm disagrees with finite differences
# of its own second derivative (plaingrad's agrees: gradgradcheck)
THIRD_TORCH_WRONG = {"layer_norm"}


@pytest.mark.parametrize(("name", "fn", "args"), THIRD, ids=[op[0] for op in THIRD])
def test_third_derivatives(name, fn, args) -> None:
    first = _gradients(pg, fn)
    xs = _inputs(pg, args)
    assert pg.autograd.gradgradcheck(lambda *a: first(pg, *a), tuple(xs)) is True
    if name in THIRD_TORCH_WRONG:
        return
    ours = _second_derivatives(pg, first, args)
    theirs = _second_derivatives(torch, _gradients(torch, fn), args)
    for kind, a, b in zip(("second", "third"), ours, theirs):
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(
                x, y, rtol=1e-9, atol=1e-11, err_msg=f"{name}: {kind} {i}"
            )


def _det_third(lib, a, seed=0):
    rng = np.random.default_rng(seed)
    u, w = rng.standard_normal(a.shape), rng.standard_normal(a.shape)
    x = lib.tensor(a, requires_grad=True)
    det = lib.linalg.det(x)
    v = lib.tensor(1.3, dtype=lib.float64)
    (g,) = lib.autograd.grad(det, x, v, create_graph=True)
    (h,) = lib.autograd.grad((g * lib.tensor(u)).sum(), x, create_graph=True)
    (t,) = lib.autograd.grad((h * lib.tensor(w)).sum(), x)
    return t.numpy()


def test_third_derivative_of_det_at_a_singular_matrix() -> None:
    # det of a 3 x 3 matrix is cubic, so its third derivative is one constant:
    # torch's value at an invertible matrix is the right answer everywhere
    # (torch's own at a singular one, through an SVD, is not)
    invertible = _normal(3, 3) + 3 * np.eye(3)
    expected = _det_third(torch, invertible)
    for a in (invertible, _SINGULAR[0], _SINGULAR[2], np.zeros((3, 3))):
        np.testing.assert_allclose(_det_third(pg, a), expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- dropout


def _dropout_mask(op, shape, p):
    """The mask plaingrad's dropout draws after ``manual_seed(3)``."""
    pg.manual_seed(3)
    return op(_f(pg))(pg.ones(*shape, dtype=pg.float64), p).numpy()


@pytest.mark.parametrize(
    ("op", "shape"),
    [(lambda F: F.dropout, (3, 4)), (lambda F: F.dropout2d, (2, 3, 2, 2))],
    ids=["dropout", "dropout2d"],
)
def test_dropout_second_derivatives(op, shape) -> None:
    # the same draw each call (manual_seed), so the op is a fixed mask
    def ours(m, x):
        pg.manual_seed(3)
        return op(_f(pg))(x * x, 0.4)

    mask = _dropout_mask(op, shape, 0.4)
    assert 0 < (mask == 0).sum() < mask.size  # some kept, some dropped
    x = _normal(*shape)
    assert pg.autograd.gradgradcheck(
        lambda a: ours(pg, a), (pg.tensor(x, requires_grad=True),)
    )
    # torch's answer for the same mask, written as the product it is
    got = _second_derivatives(pg, ours, (x,))
    expected = _second_derivatives(torch, lambda m, a: a * a * m.tensor(mask), (x,))
    for a, b in zip(got, expected):
        for x_, y_ in zip(a, b):
            np.testing.assert_allclose(x_, y_, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------- gradient penalties


def _copy_weights(theirs, ours) -> None:
    with torch.no_grad():
        for p in theirs.parameters():  # LayerNorm starts at 1 and 0: perturb
            p.add_(0.1 * torch.randn(p.shape, dtype=p.dtype))
    ours.load_state_dict(
        {k: pg.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    )


def _wgan_gp(lib, critic, real, fake, eps, weight=10.0):
    """The WGAN-GP critic loss, E[D(fake)] - E[D(real)] + weight * penalty, with
    penalty = E[(|grad D(x)| - 1)^2] at points x between real and fake."""
    real, fake = lib.tensor(real), lib.tensor(fake)
    mix = lib.tensor(eps) * real + (1 - lib.tensor(eps)) * fake
    mix.requires_grad_(True)
    (grad,) = lib.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    penalty = ((norms - 1) ** 2).mean()
    return critic(fake).mean() - critic(real).mean() + weight * penalty, penalty


def _check_penalty(build, shape, name) -> None:
    torch.manual_seed(0)
    theirs = build(torch).double()
    ours = build(pg).double()
    _copy_weights(theirs, ours)
    rng = np.random.default_rng(21)
    real, fake = rng.standard_normal(shape), rng.standard_normal(shape)
    eps = rng.uniform(size=(shape[0],) + (1,) * (len(shape) - 1))
    # torch's fused CPU attention kernels have no double backward: its math one
    with sdpa_kernel(SDPBackend.MATH):
        t_loss, t_penalty = _wgan_gp(torch, theirs, real, fake, eps)
        t_loss.backward()
    p_loss, p_penalty = _wgan_gp(pg, ours, real, fake, eps)
    np.testing.assert_allclose(p_penalty.item(), t_penalty.item(), rtol=1e-10)
    assert t_penalty.item() > 1e-3  # the penalty is not trivially zero
    p_loss.backward()
    params = dict(ours.named_parameters())
    for key, t_param in theirs.named_parameters():
        assert params[key].grad is not None, f"{name}: {key} got no gradient"
        np.testing.assert_allclose(
            params[key].grad.numpy(),
            t_param.grad.numpy(),
            rtol=1e-8,
            atol=1e-10,
            err_msg=f"{name}: gradient of {key}",
        )


def _small_cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 1),
    )


def test_gradient_penalty_cnn() -> None:
    _check_penalty(_small_cnn, (4, 2, 6, 6), "cnn")


def _small_cnn_norms(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.GroupNorm(2, 4),
        nn.LeakyReLU(0.2),
        nn.Conv2d(4, 4, 3, padding=1, groups=2),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 1),
    )


def test_gradient_penalty_cnn_with_norms() -> None:
    _check_penalty(_small_cnn_norms, (3, 2, 8, 8), "cnn_norms")


class _Critic:
    """A transformer encoder layer and a linear read-out, built for ``lib``."""

    @staticmethod
    def build(norm_first):
        def build(lib):
            nn = lib.nn

            class Critic(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = nn.TransformerEncoderLayer(
                        8,
                        2,
                        dim_feedforward=16,
                        dropout=0.0,
                        batch_first=True,
                        norm_first=norm_first,
                        activation="gelu",
                    )
                    self.head = nn.Linear(8, 1)

                def forward(self, x):
                    return self.head(self.encoder(x).mean(1))

            return Critic()

        return build


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_gradient_penalty_transformer_encoder_layer(norm_first) -> None:
    _check_penalty(_Critic.build(norm_first), (3, 4, 8), "transformer")
