"""In-place ops against real PyTorch: values, gradients, names and versions.

In-place ops write into the tensor's memory and rebase its history; on a leaf
that requires grad they are refused outside no_grad; a later backward that
needs an overwritten value raises PyTorch's "modified by an inplace
operation". Every expected value, gradient, name and version comes from torch
(or from finite differences). Views and index assignment are in
``test_inplace_views.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()

MODIFIED = "modified by an inplace operation"


def both(fn: Any) -> tuple:
    """``fn(lib)`` for plaingrad and torch."""
    return fn(pg), fn(torch)


def same_error(fn: Any, error: type = RuntimeError) -> str:
    """``fn(lib)`` raises the same error with the same message in both."""
    messages = []
    for lib in (torch, pg):
        with pytest.raises(error) as info:
            fn(lib)
        messages.append(str(info.value).replace("torch.", "plaingrad."))
    assert messages[0] in messages[1], messages  # ours may name the op first
    return messages[1]


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
MASK = RNG.standard_normal((3, 4)) > 0

# ------------------------------------------------ in-place ops on non-leaves

IN_PLACE = {
    "add_": lambda lib, b, y: b.add_(y, alpha=2),
    "sub_": lambda lib, b, y: b.sub_(y),
    "mul_": lambda lib, b, y: b.mul_(y),
    "div_": lambda lib, b, y: b.div_(y * y + 1),
    "pow_": lambda lib, b, y: b.abs_().add_(1).pow_(y),
    "iadd": lambda lib, b, y: b.__iadd__(y[0]),
    "isub": lambda lib, b, y: b.__isub__(2.5),
    "imul": lambda lib, b, y: b.__imul__(y),
    "itruediv": lambda lib, b, y: b.__itruediv__(3.0),
    "clamp_": lambda lib, b, y: b.clamp_(min=-0.5, max=0.5),
    "clamp_tensors": lambda lib, b, y: b.clamp_(min=y - 1, max=y),
    "masked_fill_": lambda lib, b, y: b.masked_fill_(lib.tensor(MASK), 2.0),
    "masked_fill_tensor": lambda lib, b, y: b.masked_fill_(lib.tensor(MASK), y[0, 0]),
    "index_add_": lambda lib, b, y: b.index_add_(0, lib.tensor([2, 0, 2]), y, alpha=3),
    "copy_": lambda lib, b, y: b.copy_(y[1]),
    "fill_tensor": lambda lib, b, y: b.fill_(y[0, 1]),
    "zero_": lambda lib, b, y: b.zero_().add_(y),
    "exp_": lambda lib, b, y: b.exp_(),
    "sigmoid_": lambda lib, b, y: b.sigmoid_(),
    "tanh_": lambda lib, b, y: b.tanh_(),
    "relu_": lambda lib, b, y: b.relu_(),
    "sin_": lambda lib, b, y: b.sin_(),
    "lerp_": lambda lib, b, y: b.lerp_(y, 0.25),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_op_on_a_non_leaf_matches_torch(name: str) -> None:
    op = IN_PLACE[name]

    def fn(lib, x, y):
        b = x * 1.5
        out = op(lib, b, y)
        assert out is b  # returns self
        return b

    check_against_torch(torch, fn, X, Y)


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_op_gradients_by_finite_differences(name: str) -> None:
    op = IN_PLACE[name]
    check_gradients(lambda lib, x, y: op(lib, x * 1.5, y), X, Y)


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_op_name_version_and_memory_match_torch(name: str) -> None:
    def fn(lib):
        x = lib.tensor(X, requires_grad=True)
        y = lib.tensor(Y, requires_grad=True)
        b = x * 1.5
        before = b.data_ptr()
        IN_PLACE[name](lib, b, y)
        return b.grad_fn.name(), b._version, b.data_ptr() == before

    ours, theirs = both(fn)
    assert ours == theirs


def test_in_place_through_plus_equals_keeps_the_object_and_memory() -> None:
    x = pg.ones(3)
    view = x[1:]
    same = x
    x += 2
    x *= pg.tensor([1.0, 2.0, 3.0])
    assert x is same and view.tolist() == [6.0, 9.0] and x._version == 2


def test_in_place_on_a_tensor_that_does_not_require_grad_joins_the_graph() -> None:
    def fn(lib):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        z = lib.zeros(2)
        z.add_(w * w)
        z.sum().backward()
        return z.grad_fn.name(), z.requires_grad, w.grad.tolist()

    assert fn(pg) == fn(torch)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.ones(3).add_(lib.ones(2, 3)),
        lambda lib: lib.ones(3, dtype=lib.int64).div_(2),
        lambda lib: lib.ones(3, dtype=lib.int64).add_(1.5),
        lambda lib: lib.ones(3).copy_(lib.ones(2)),
        lambda lib: lib.ones(3).copy_(lib.ones(1, 3)),
        lambda lib: lib.ones(3).fill_(lib.ones(2)),
        lambda lib: lib.ones(3, 1).expand(3, 3).add_(1),
    ],
)
def test_in_place_errors_match_torch(fn) -> None:
    same_error(fn)


def test_narrowing_in_place_is_allowed_as_in_torch() -> None:
    def fn(lib):
        x = lib.ones(3)
        x.add_(lib.full((3,), 0.5, dtype=lib.float64))
        y = lib.zeros(2, 3)
        y.copy_(lib.tensor([1, 2, 3]))
        return x.dtype.is_floating_point, x.tolist(), y.tolist()

    assert fn(pg) == fn(torch)


# ------------------------------------------------------------------- leaves


LEAF = "a leaf Variable that requires grad is being used in an in-place operation."


@pytest.mark.parametrize(
    "modify",
    [
        lambda x: x.add_(1),
        lambda x: x.mul_(2),
        lambda x: x.zero_(),
        lambda x: x.fill_(1.0),
        lambda x: x.copy_(x.detach() * 2),
        lambda x: x.clamp_(0, 1),
        lambda x: x.__setitem__([0], 1.0),
    ],
)
def test_leaf_that_requires_grad_refuses_in_place_outside_no_grad(modify) -> None:
    for lib in (pg, torch):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match=LEAF):
            modify(x)
        with lib.no_grad():
            modify(x)
        assert x.requires_grad and x.grad_fn is None and x._version == 1


def test_view_of_a_leaf_that_requires_grad_refuses_in_place() -> None:
    same_error(lambda lib: lib.ones(3, requires_grad=True)[0].add_(1))
    same_error(lambda lib: lib.ones(3, requires_grad=True).__setitem__(0, 1.0))
    x = pg.ones(3, requires_grad=True)
    with pg.no_grad():
        x[1:].mul_(3)
        x[0] = 5.0
    assert x.tolist() == [5.0, 3.0, 3.0] and x._version == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, w: lib.optim.SGD([w], lr=0.1, momentum=0.9),
        lambda lib, w: lib.optim.Adam([w], lr=0.1),
    ],
)
def test_optimizer_steps_still_work_and_bump_versions(make) -> None:
    results = []
    for lib in (pg, torch):
        w = lib.nn.Parameter(lib.tensor([1.0, -2.0]))
        view = w[1:]  # a view made before the steps reads the stepped values
        opt = make(lib, w)
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        (view * 3).sum().backward()
        results.append(
            (np.round(w.detach().numpy(), 5).tolist(), w._version, w.grad.tolist())
        )
    assert results[0] == results[1]


def test_graph_saved_before_an_optimizer_step_raises() -> None:
    def fn(lib):
        w = lib.nn.Parameter(lib.tensor([1.0, -2.0]))
        loss = (w * w).sum()
        with lib.no_grad():
            w.sub_(0.1)
        loss.backward()

    assert MODIFIED in same_error(fn)


# ---------------------------------------------------- modified saved values


@pytest.mark.parametrize(
    "build, modify",
    [
        (lambda lib, b, c: b * c, lambda b, y: b.add_(1)),
        (lambda lib, b, c: c * b, lambda b, y: b[0].mul_(2)),
        (lambda lib, b, c: b @ c.t(), lambda b, y: b.t()[1].zero_()),
        (lambda lib, b, c: lib.matmul(c.t(), b), lambda b, y: b.__setitem__(0, 3.0)),
        (lambda lib, b, c: b.sigmoid(), lambda b, y: y.mul_(2)),
        (lambda lib, b, c: b.tanh(), lambda b, y: y.view(-1)[0].fill_(0.0)),
        (lambda lib, b, c: b[1:, :2] * c[1:, :2], lambda b, y: b[1, 1].sub_(1)),
        (lambda lib, b, c: b[1:] * c[1:], lambda b, y: b.__setitem__(b > 0, 0.0)),
        # advanced indexing copies: b's later change is not b[[0, 2]]'s
        (lambda lib, b, c: b[[0, 2]] * c[:2], lambda b, y: b.add_(1)),
        (lambda lib, b, c: b.exp(), lambda b, y: b.mul_(2)),
        (lambda lib, b, c: (b * 2).detach() * c, lambda b, y: b.add_(1)),
        (lambda lib, b, c: b.detach() * c, lambda b, y: b.add_(1)),
    ],
)
def test_backward_raises_exactly_when_torch_does(build, modify) -> None:
    def fn(lib):
        x = lib.tensor(X, requires_grad=True)
        c = lib.tensor(Y, requires_grad=True)
        b = x * 1.0
        y = build(lib, b, c)
        modify(b, y)
        y.sum().backward()
        return x.grad, c.grad

    try:
        theirs = fn(torch)
    except RuntimeError as error:
        assert MODIFIED in str(error)
        with pytest.raises(RuntimeError, match=MODIFIED):
            fn(pg)
        return
    ours = fn(pg)
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_exp_saves_its_output_so_changing_its_input_is_fine() -> None:
    def fn(lib):
        x = lib.tensor([0.5, -1.0], requires_grad=True)
        b = x * 1
        e = b.exp()
        b.add_(1)
        e.sum().backward()
        return x.grad.tolist(), b._version

    ours, theirs = both(fn)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    assert ours[1] == theirs[1] == 1


def test_changing_an_in_place_result_that_backward_needs_raises() -> None:
    # sigmoid_ saves its output, which is the tensor itself
    def fn(lib):
        b = lib.tensor([0.5, -1.0], requires_grad=True) * 1
        b.sigmoid_()
        b.mul_(2)
        b.sum().backward()

    assert "output 0 of Sigmoid" in same_error(fn)


def test_array_saved_as_a_numpy_view_of_an_input_is_checked() -> None:
    class SavesTranspose(pg.autograd.node.Op):
        _name = "SavesTransposeBackward0"

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a.T)  # a NumPy view, not a itself
            return (a * a).sum()

        @staticmethod
        def backward(ctx, grad_output):
            (a_t,) = ctx.saved_tensors
            return 2 * grad_output * a_t.T

    x = pg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = x * 1
    out = SavesTranspose.apply(b)
    b[0, 0] = 5.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()
    b = x * 1
    SavesTranspose.apply(b).backward()  # unchanged: fine
    assert x.grad.tolist() == [[2.0, 4.0], [6.0, 8.0]]


def test_conv_weight_changed_after_forward_raises_as_torch() -> None:
    # conv2d saves a reshaped view of the weight, not the weight itself
    for lib in (torch, pg):
        x = lib.ones(1, 1, 4, 4)
        w = lib.nn.Parameter(lib.ones(2, 1, 3, 3))
        y = lib.nn.functional.conv2d(x, w)
        with lib.no_grad():
            w.mul_(2)
        with pytest.raises(RuntimeError, match=MODIFIED):
            y.sum().backward()


# ------------------------------------------------------------ odds and ends


def test_retain_grad_follows_the_tensor_through_in_place_ops() -> None:
    def fn(lib):
        a = lib.ones(3, requires_grad=True)
        b = a * 2
        b.retain_grad()
        b.mul_(3)
        b[1:].mul_(lib.tensor([2.0, 5.0]))
        (b * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        return b.grad.tolist(), a.grad.tolist()

    assert fn(pg) == fn(torch)


def test_activation_and_random_fills_in_place_through_a_view_match_torch() -> None:
    def fn(lib):
        a = lib.tensor([1.0, -2.0, 3.0, -4.0], dtype=lib.float64, requires_grad=True)
        b = a * 2
        b[:1].uniform_()
        lib.nn.functional.elu(b[1:], inplace=True)
        (b * lib.arange(4.0, dtype=lib.float64)).sum().backward()
        return b.grad_fn.name(), a.grad.numpy()

    ours, theirs = both(fn)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)


def test_double_backward_through_in_place_ops_matches_torch() -> None:
    def fn(lib):
        x = lib.tensor([0.3, 0.5, 0.7], dtype=lib.float64, requires_grad=True)
        c = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = x * 1
        b[1:].mul_(x[1:])
        b[0] = c[0] * x[2]
        b.copy_(c * 2 + b)
        b[[0, 2]] = (b[[2, 0]] * 1).exp()
        (g,) = lib.autograd.grad(b.pow(2).sum(), x, create_graph=True)
        (g * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        return g.detach().numpy(), x.grad.numpy(), c.grad.numpy()

    for ours, theirs in zip(*both(fn)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_geometry_finds_a_view_inside_a_base_with_gaps() -> None:
    from plaingrad.ops.strided import Geometry, from_base, to_base

    memory = np.arange(40.0).reshape(5, 8)
    base = memory[::2, 1::3]  # (3, 3), neither contiguous nor dense
    view = base[1:, ::2].T  # (2, 2)
    geometry = Geometry(base, view)
    grad = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = np.zeros((3, 3))
    expected[1:, ::2] = grad.T
    np.testing.assert_array_equal(to_base(geometry, grad), expected)
    np.testing.assert_array_equal(from_base(geometry, base), view)
    repeated = Geometry(base, np.broadcast_to(base[0], (2, 3)))
    np.testing.assert_array_equal(
        to_base(repeated, np.ones((2, 3))), [[2, 2, 2], [0, 0, 0], [0, 0, 0]]
    )
