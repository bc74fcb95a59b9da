"""Reshaping ops that copy: repeat, tile, flip, roll, narrow, chunk, split,
unbind, movedim, swapaxes, diagonal, tril, triu and nn.functional.pad.

Each case runs on plaingrad and real PyTorch (values, gradients, grad_fn name)
and through float64 finite differences; errors are checked for PyTorch's
exception type and a message that names the op.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()

X = np.random.default_rng(0).standard_normal((3, 4, 5))


def _pad(*args, **kwargs):
    return lambda m, t: m.nn.functional.pad(t, *args, **kwargs)


CASES = {
    "repeat": lambda m, t: t.repeat(2, 1, 3),
    "repeat_new_dims": lambda m, t: t.repeat(2, 1, 1, 2),
    "repeat_tuple": lambda m, t: t[0].repeat((3, 2)),
    "repeat_zero": lambda m, t: t.repeat(1, 0, 1),
    "tile_fewer_dims": lambda m, t: m.tile(t, (2,)),
    "tile_more_dims": lambda m, t: t.tile(1, 2, 1, 1),
    "flip": lambda m, t: t.flip(0),
    "flip_two_negative": lambda m, t: m.flip(t, (0, -1)),
    "roll_flat": lambda m, t: t.roll(7),
    "roll_dim": lambda m, t: t.roll(-1, 1),
    "roll_dims": lambda m, t: m.roll(t, (1, -2), (0, 2)),
    "narrow": lambda m, t: t.narrow(1, 1, 2),
    "narrow_negative": lambda m, t: m.narrow(t, -1, -3, 2),
    "narrow_empty": lambda m, t: t.narrow(2, 5, 0),
    "chunk_even": lambda m, t: t.chunk(2, 1),
    "chunk_uneven": lambda m, t: m.chunk(t, 2, -1),
    "chunk_fewer": lambda m, t: t.chunk(4, 0),
    "split_int": lambda m, t: t.split(2, 2),
    "split_sizes": lambda m, t: t.split([1, 3], 1),
    "split_empty_piece": lambda m, t: m.split(t, [0, 5], -1),
    "unbind": lambda m, t: t.unbind(1),
    "unbind_negative": lambda m, t: m.unbind(t, -1),
    "movedim": lambda m, t: t.movedim(0, 2),
    "movedim_tuples": lambda m, t: m.movedim(t, (0, 1), (2, 0)),
    "moveaxis": lambda m, t: t.moveaxis(-1, 0),
    "swapaxes": lambda m, t: t.swapaxes(0, 2),
    "swapdims": lambda m, t: t.swapdims(-1, 1),
    "diagonal": lambda m, t: t.diagonal(),
    "diagonal_offset_dims": lambda m, t: m.diagonal(t, 1, 0, 2),
    "diagonal_negative": lambda m, t: t.diagonal(-2, -1, -2),
    "diagonal_empty": lambda m, t: t.diagonal(10),
    "tril": lambda m, t: t.tril(),
    "triu_above": lambda m, t: t.triu(1),
    "tril_below": lambda m, t: m.tril(t, -1),
    "triu_keyword": lambda m, t: m.triu(t, diagonal=-2),
    "pad_constant": _pad((1, 2)),
    "pad_constant_value_crop": _pad((2, 1, 1, -1), value=2.0),
    "pad_constant_3d": _pad((1, 1, 0, 2, 1, 0)),
    "pad_constant_to_empty": _pad((-5, 0)),
    "pad_reflect_1d": _pad((2, 1), mode="reflect"),
    "pad_reflect_2d_crop": _pad((4, 1, 1, -1), mode="reflect"),
    "pad_reflect_unbatched": lambda m, t: m.nn.functional.pad(t[0], (1, 3), "reflect"),
    "pad_replicate_1d": _pad((3, 1), mode="replicate"),
    "pad_replicate_2d": _pad((2, 1, 1, 4), mode="replicate"),
    "pad_circular_1d": _pad((2, 5), mode="circular"),
    "pad_circular_2d_crop": _pad((2, -1, -1, 3), mode="circular"),
}

# 3-D padding needs a 4-D (batched) or 5-D input.
CASES_4D = {
    "pad_reflect_3d": _pad((1, 1, 2, 0, 1, 2), mode="reflect"),
    "pad_replicate_3d": _pad((0, 1, 2, 1, 1, 0), mode="replicate"),
    "pad_circular_3d": _pad((1, 2, 0, 1, 2, 1), mode="circular"),
}
X4 = np.random.default_rng(1).standard_normal((2, 3, 4, 3))


def _grad_fn_names(fn, x):
    """plaingrad's node names and PyTorch's node class names, per output."""
    names = []
    for lib in (pg, torch):
        out = fn(lib, lib.tensor(x, requires_grad=True))
        out = out if isinstance(out, tuple) else (out,)
        if lib is pg:
            names.append([o.grad_fn.name() for o in out])
        else:
            names.append([type(o.grad_fn).__name__ for o in out])
    return names


@pytest.mark.parametrize("name", sorted(CASES) + sorted(CASES_4D))
def test_reshaping_op(name: str) -> None:
    fn, x = (CASES[name], X) if name in CASES else (CASES_4D[name], X4)

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)
    ours, theirs = _grad_fn_names(fn, x)
    assert ours == theirs


@pytest.mark.parametrize("name", ["repeat", "flip", "roll_dims", "split_sizes"])
def test_reshaping_op_float16(name: str) -> None:
    check_against_torch(torch, CASES[name], X, dtypes=("float16",))


def test_forward_values_match_numpy() -> None:
    x = pg.tensor(X)
    np.testing.assert_array_equal(x.repeat(2, 1, 3).numpy(), np.tile(X, (2, 1, 3)))
    np.testing.assert_array_equal(x.flip(0, 2).numpy(), X[::-1, :, ::-1])
    np.testing.assert_array_equal(x.roll(3).numpy(), np.roll(X, 3))
    np.testing.assert_array_equal(x.diagonal(1, 1, 2).numpy(), X.diagonal(1, 1, 2))
    np.testing.assert_array_equal(x.tril(1).numpy(), np.tril(X, 1))
    np.testing.assert_array_equal(
        pg.nn.functional.pad(x, (2, 1), mode="reflect").numpy(),
        np.pad(X, ((0, 0), (0, 0), (2, 1)), mode="reflect"),
    )
    np.testing.assert_array_equal(
        pg.nn.functional.pad(x, (1, 2, 2, 0), mode="replicate").numpy(),
        np.pad(X, ((0, 0), (2, 0), (1, 2)), mode="edge"),
    )
    np.testing.assert_array_equal(
        pg.nn.functional.pad(x, (3, 1), mode="circular").numpy(),
        np.pad(X, ((0, 0), (0, 0), (3, 1)), mode="wrap"),
    )


def test_repeat_gradient_sums_the_copies() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x.repeat(3) * pg.arange(6.0)).sum().backward()
    assert x.grad.tolist() == [0.0 + 2 + 4, 1.0 + 3 + 5]


def test_replicate_pad_gradient_collects_at_the_edges() -> None:
    x = pg.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    pg.nn.functional.pad(x, (2, 1), mode="replicate").sum().backward()
    assert x.grad.tolist() == [[[3.0, 1.0, 2.0]]]


def test_split_pieces_share_one_gradient() -> None:
    x = pg.arange(5.0, requires_grad=True)
    a, b, c = x.split(2)
    (a.sum() * 1 + b.sum() * 2 + c.sum() * 3).backward()
    assert x.grad.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0]
    assert [p.shape[0] for p in pg.zeros(0).split(2)] == [0]
    assert [p.shape[0] for p in pg.zeros(0).chunk(3)] == [0, 0, 0]


def test_no_grad_inputs_give_no_grad_fn() -> None:
    x = pg.tensor(X)
    assert x.repeat(2, 1, 1).grad_fn is None
    assert all(p.grad_fn is None for p in x.unbind())
    assert pg.nn.functional.pad(x, (1, 1), mode="reflect").grad_fn is None


ERRORS = [
    (lambda x: x.repeat(2, 2), RuntimeError, "repeat: Number of dimensions"),
    (lambda x: x.repeat(2, 2, -1), RuntimeError, "repeat: .*negative"),
    (lambda x: x.flip(0, 0), RuntimeError, "flip: dim 0 appears multiple times"),
    (lambda x: x.flip(3), IndexError, "flip: Dimension out of range"),
    (lambda x: x.roll((1, 2), (0,)), RuntimeError, "roll: shifts and dimensions"),
    (lambda x: x.roll((1, 2)), RuntimeError, "roll: shifts and dimensions"),
    (lambda x: x.narrow(1, 2, 3), RuntimeError, r"narrow: start \(2\) \+ length"),
    (lambda x: x.narrow(1, 5, 0), IndexError, "narrow: start out of range"),
    (lambda x: x.narrow(1, 0, -1), RuntimeError, "narrow.*non-negative"),
    (lambda x: x.chunk(0), RuntimeError, "chunk expects `chunks`"),
    (lambda x: x.split(0, 1), RuntimeError, "split: split_size can only be 0"),
    (lambda x: x.split(-1, 1), RuntimeError, "split expects split_size"),
    (lambda x: x.split([1, 2], 1), RuntimeError, "split_with_sizes .* sum exactly"),
    (lambda x: x.split([5, -1], 1), RuntimeError, "split_with_sizes .*non-negative"),
    (lambda x: x.sum().unbind(), IndexError, "unbind: .*no dimensions"),
    (lambda x: x.movedim((0, 0), (1, 2)), RuntimeError, "movedim: repeated dim"),
    (lambda x: x.movedim((0, 1), (1,)), RuntimeError, "movedim: Invalid source"),
    (lambda x: x.diagonal(0, 1, 1), RuntimeError, "diagonal: diagonal dimensions"),
    (lambda x: x[0, 0].diagonal(), IndexError, "diagonal: Dimension out of range"),
    (lambda x: x[0, 0].tril(), RuntimeError, "tril: input tensor must have"),
    (lambda x: x[0, 0].triu(), RuntimeError, "triu: input tensor must have"),
]
PAD_ERRORS = [
    ((1,), {}, RuntimeError, "pad: Padding length must be divisible by 2"),
    ((1, 1) * 4, {}, RuntimeError, "pad: Padding length should be less"),
    ((5, 5), {"mode": "reflect"}, RuntimeError, "pad: .*should be less than"),
    ((6, 0), {"mode": "circular"}, RuntimeError, "pad: .*wrapping around"),
    ((1, 1), {"mode": "foo"}, NotImplementedError, "pad: Unrecognised padding"),
    ((1, 1, 1, 1), {"mode": "reflect", "value": 1.0}, RuntimeError, "pad: .*value"),
    ((-6, 0), {}, RuntimeError, "pad: .*negative size"),
    ((1, 1, 1, 1, 1, 1), {"mode": "replicate"}, NotImplementedError, "pad: Padding"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_match_pytorch(case: int) -> None:
    fn, kind, message = ERRORS[case]

    with pytest.raises(kind, match=message):
        fn(pg.tensor(X))
    with pytest.raises(kind):
        fn(torch.tensor(X))


@pytest.mark.parametrize("case", range(len(PAD_ERRORS)))
def test_pad_errors_match_pytorch(case: int) -> None:
    args, kwargs, kind, message = PAD_ERRORS[case]

    with pytest.raises(kind, match=message):
        pg.nn.functional.pad(pg.tensor(X), args, **kwargs)
    with pytest.raises(kind):
        torch.nn.functional.pad(torch.tensor(X), args, **kwargs)
