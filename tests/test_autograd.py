"""Autograd semantics: graph recording, gradient accumulation, grad modes,
``backward``/``autograd.grad``, hooks, memory and deep graphs.

The expected values are worked out by hand (and written in the tests) or come
from real PyTorch; the cases from public bug reports say so.
"""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.autograd.gradcheck import GradcheckError

torch = import_torch()

SECOND_BACKWARD = "Trying to backward through the graph a second time"


# ------------------------------------------------------- recording the graph


def test_requires_grad_propagates() -> None:
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    b = pg.tensor([3.0, 4.0])
    assert (a * b).requires_grad
    assert (b * a).grad_fn.name() == "MulBackward0"
    assert not (b * b).requires_grad
    assert (b * b).grad_fn is None
    assert (b + 1).is_leaf
    assert not (a * b).is_leaf
    assert a.is_leaf and a.grad_fn is None
    assert pg.cat([b, a]).requires_grad
    assert not a.detach().requires_grad


def test_requires_grad_on_integer_tensor_raises() -> None:
    message = "Only Tensors of floating point and complex dtype can require gradients"
    with pytest.raises(RuntimeError, match=message):
        pg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        pg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match=message):
        pg.zeros(2, dtype=pg.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        torch.tensor([1, 2], requires_grad=True)


def test_requires_grad_of_non_leaf_cannot_be_switched_off() -> None:
    y = pg.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)
    assert y.requires_grad_(True) is y


# -------------------------------------------------------------------- .grad


def test_leaf_gradients_accumulate() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_non_leaf_grad_is_none_unless_retained() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = x * 4
    z.retain_grad()
    assert z.retains_grad and not y.retains_grad
    (y * z).sum().backward()
    assert y.grad is None
    assert z.grad.tolist() == [3.0, 6.0]  # d(y z)/dz = y
    assert x.grad.tolist() == [24.0, 48.0]  # d(12 x^2)/dx = 24 x


def test_gradients_have_their_tensors_dtype() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = pg.tensor([3.0, 4.0], dtype=pg.float64, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.dtype == pg.float32
    assert y.grad.dtype == pg.float64
    assert x.grad.tolist() == [3.0, 4.0]
    h = pg.tensor([1.0], dtype=pg.float16, requires_grad=True)
    (h.double() * 2).sum().backward()
    assert h.grad.dtype == pg.float16 and h.grad.item() == 2.0


def test_broadcast_gradients_have_the_operands_shapes() -> None:
    # public bug report: (1, 4) and (3, 1) broadcast against (3, 4)
    row = pg.ones(1, 4, requires_grad=True)
    col = pg.ones(3, 1, requires_grad=True)
    full = pg.ones(3, 4, requires_grad=True)
    (row * col + full).sum().backward()
    assert tuple(row.grad.shape) == (1, 4)
    assert tuple(col.grad.shape) == (3, 1)
    assert row.grad.tolist() == [[3.0, 3.0, 3.0, 3.0]]
    assert col.grad.tolist() == [[4.0], [4.0], [4.0]]
    assert full.grad.tolist() == [[1.0] * 4] * 3

    # public bug report: a (4,) bias added to a (2, 3, 4) tensor gets 6 each
    bias = pg.zeros(4, requires_grad=True)
    (pg.ones(2, 3, 4) + bias).sum().backward()
    assert tuple(bias.grad.shape) == (4,)
    assert bias.grad.tolist() == [6.0, 6.0, 6.0, 6.0]


def test_value_used_several_times_gets_the_sum_once() -> None:
    # public bug report: f = x(xk) + (xx)k + x(xk) at x = 1, k = 1: df/dx = 6
    x = pg.tensor(1.0, requires_grad=True)
    k = pg.tensor(1.0, requires_grad=True)
    f = x * (x * k) + (x * x) * k + x * (x * k)
    f.backward()
    assert x.grad.item() == 6.0
    assert k.grad.item() == 3.0

    # a diamond: y feeds two branches that meet again
    x = pg.tensor(2.0, requires_grad=True)
    y = x * x
    (y * 3 + y.exp() + y).backward()
    assert x.grad.item() == pytest.approx(2 * 2.0 * (3 + np.exp(4.0) + 1))


def test_leaf_gradients_are_not_aliased() -> None:
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    b = pg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad += 1
    assert b.grad.tolist() == [1.0, 1.0]
    b.grad.zero_()
    assert a.grad.tolist() == [2.0, 2.0]

    # the same, without a reduction in between, and through a view
    c = pg.tensor([1.0, 2.0], requires_grad=True)
    d = pg.tensor([3.0, 4.0], requires_grad=True)
    seed = pg.tensor([1.0, 1.0])
    (c + d).backward(seed)
    assert not np.shares_memory(c.grad.numpy(), d.grad.numpy())
    assert not np.shares_memory(c.grad.numpy(), seed.numpy())
    c.grad.mul_(10)
    assert d.grad.tolist() == [1.0, 1.0]
    assert seed.tolist() == [1.0, 1.0]

    e = pg.tensor([[1.0, 2.0]], requires_grad=True)
    f = pg.tensor([[3.0, 4.0]], requires_grad=True)
    (e.view(2) + f.view(2)).backward(pg.tensor([1.0, 1.0]))
    e.grad.add_(5)
    assert f.grad.tolist() == [[1.0, 1.0]]


def test_leaf_gradient_is_writable() -> None:
    x = pg.ones(3, requires_grad=True)
    x.sum().backward()
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    y = pg.ones((), requires_grad=True)
    (y * 2).backward()
    y.grad.zero_()
    assert y.grad.item() == 0.0


# -------------------------------------------------------------------- backward


def test_backward_with_gradient_for_non_scalar() -> None:
    x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=pg.tensor([1.0, 0.5, -1.0]))
    assert x.grad.tolist() == [2.0, 2.0, -6.0]


def test_non_scalar_backward_without_gradient_raises() -> None:
    y = pg.ones(3, requires_grad=True) * 2
    message = "grad can be implicitly created only for scalar outputs"
    with pytest.raises(RuntimeError, match=message):
        y.backward()
    with pytest.raises(RuntimeError, match=message):
        (torch.ones(3, requires_grad=True) * 2).backward()


def test_backward_gradient_of_the_wrong_shape_raises() -> None:
    y = pg.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(pg.ones(2))


def test_backward_of_tensor_without_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        pg.ones(2).sum().backward()


def test_second_backward_raises_without_retain_graph() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        y.backward()
    # the same in PyTorch
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    s = (t * t).sum()
    s.backward()
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        s.backward()


def test_retain_graph_allows_a_second_backward_and_doubles() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    np.testing.assert_allclose(first, 2 * np.array([1.0, 2.0]) * np.exp([1.0, 4.0]))
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        y.backward()


def test_graph_that_saved_nothing_backpropagates_twice() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_backward_inputs_argument() -> None:
    a = pg.tensor(2.0, requires_grad=True)
    b = pg.tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 3.0
    assert b.grad is None


def test_create_graph_gives_a_differentiable_grad() -> None:
    # more in test_double_backward.py
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward(create_graph=True)
    assert x.grad.tolist() == [2.0, 4.0]
    assert x.grad.grad_fn is not None


# -------------------------------------------------------------- autograd.grad


def test_autograd_grad_leaves_grad_untouched() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    w = pg.tensor([3.0, 5.0], requires_grad=True)
    h = x * w
    y = (h * h).sum()
    gx, gh = pg.autograd.grad(y, [x, h], retain_graph=True)
    assert x.grad is None and w.grad is None
    assert gx.tolist() == [18.0, 100.0]  # 2 x w^2
    assert gh.tolist() == [6.0, 20.0]  # 2 h
    assert not gx.requires_grad
    (gw,) = pg.autograd.grad(y, w)
    assert gw.tolist() == [6.0, 40.0]  # 2 x^2 w
    assert w.grad is None


def test_autograd_grad_unused_input() -> None:
    x = pg.tensor(1.0, requires_grad=True)
    z = pg.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        pg.autograd.grad(x * 2, [x, z])
    gx, gz = pg.autograd.grad(x * 2, [x, z], allow_unused=True)
    assert gx.item() == 2.0 and gz is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        pg.autograd.grad(x * 2, pg.tensor(1.0))


def test_autograd_grad_with_grad_outputs() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = pg.autograd.grad(x * x, x, grad_outputs=pg.tensor([1.0, 3.0]))
    assert g.tolist() == [2.0, 12.0]


# ------------------------------------------------------------------ grad modes


def test_no_grad_context_and_decorators() -> None:
    x = pg.ones(2, requires_grad=True)
    with pg.no_grad():
        assert not pg.is_grad_enabled()
        y = x * 2
        with pg.enable_grad():
            assert (x * 2).requires_grad
        assert not pg.is_grad_enabled()
    assert pg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @pg.no_grad()
    def called() -> pg.Tensor:
        return x * 2

    @pg.no_grad
    def bare() -> pg.Tensor:
        return x * 2

    assert not called().requires_grad
    assert not bare().requires_grad
    assert bare.__name__ == "bare"
    assert pg.is_grad_enabled()

    @pg.enable_grad()
    def enabled() -> pg.Tensor:
        return x * 2

    @pg.enable_grad
    def enabled_bare() -> pg.Tensor:
        return x * 2

    with pg.no_grad():
        assert enabled().requires_grad
        assert enabled_bare().requires_grad
        assert not pg.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception() -> None:
    with pytest.raises(ValueError):
        with pg.no_grad():
            raise ValueError("boom")
    assert pg.is_grad_enabled()

    @pg.no_grad()
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert pg.is_grad_enabled()


def test_set_grad_enabled() -> None:
    x = pg.ones(2, requires_grad=True)
    with pg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert pg.is_grad_enabled()
    with pg.no_grad():
        with pg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not pg.is_grad_enabled()

    pg.set_grad_enabled(False)  # as a function: takes effect at once
    try:
        assert not pg.is_grad_enabled()
    finally:
        pg.set_grad_enabled(True)
    assert pg.is_grad_enabled()


def test_set_grad_enabled_as_decorator_leaves_the_mode_alone() -> None:
    # bug: decorating switched recording off for the rest of the program
    @pg.set_grad_enabled(False)
    def off() -> bool:
        return pg.is_grad_enabled()

    assert pg.is_grad_enabled()
    assert off() is False
    assert pg.is_grad_enabled()


def test_inference_mode() -> None:
    x = pg.ones(2, requires_grad=True)
    with pg.inference_mode():
        assert not (x * 2).requires_grad
    assert pg.is_grad_enabled()
    with pg.inference_mode(False):
        assert (x * 2).requires_grad

    @pg.inference_mode()
    def called() -> pg.Tensor:
        return x * 2

    # bug: bare @inference_mode was not accepted
    @pg.inference_mode
    def bare() -> pg.Tensor:
        return x * 2

    assert not called().requires_grad
    assert not bare().requires_grad
    assert pg.is_grad_enabled()


# ----------------------------------------------------------------------- hooks


def test_register_hook_replaces_the_gradient() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    assert seen == [[6.0, 12.0]]  # 2 y
    assert x.grad.tolist() == [180.0, 360.0]  # 10 * 2y * 3


def test_register_hook_on_leaf_and_remove() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 0 + 7)
    x.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]
    handle.remove()
    x.grad = None
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        pg.ones(2).register_hook(lambda g: g)


# ---------------------------------------------------------------------- memory


def test_saved_buffers_are_freed_after_backward() -> None:
    x = pg.randn(1000, requires_grad=True)
    y = x.exp()
    z = (y * 2).sum()
    del y  # only the graph keeps exp's output now
    mul = z.grad_fn.next_functions[0][0]
    saved = weakref.ref(mul.saved_tensors[0])
    exp_node = mul.next_functions[0][0]
    assert exp_node.name() == "ExpBackward0"
    gc.collect()
    assert saved() is not None
    z.backward()
    gc.collect()
    assert saved() is None
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        _ = mul.saved_tensors


def test_retain_graph_keeps_saved_buffers() -> None:
    x = pg.randn(10, requires_grad=True)
    z = (x.exp() * 2).sum()
    mul = z.grad_fn.next_functions[0][0]
    z.backward(retain_graph=True)
    assert len(mul.saved_tensors) == 2


# ----------------------------------------------------------------- deep graphs


def test_chain_of_100k_ops_has_no_recursion_limit() -> None:
    x = pg.tensor(1.0, requires_grad=True)
    y = x
    start = time.perf_counter()
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing a deep graph must not recurse either
    assert time.perf_counter() - start < 20


def test_deep_chain_of_mixed_ops() -> None:
    x = pg.tensor([0.5, -0.5], requires_grad=True)
    y = x
    for _ in range(20_000):
        y = (y + 1.0) - 1.0
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0], rtol=1e-5)


# ------------------------------------------------------------------- gradcheck


def test_gradcheck_catches_a_wrong_backward_rule() -> None:
    class WrongSquare(pg.autograd.node.Op):
        name = "WrongSquareBackward"

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad_output):
            (a,) = ctx.saved_tensors
            return grad_output * a  # should be 2a

    x = pg.tensor([1.0, 2.0], dtype=pg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="input 0"):
        pg.autograd.gradcheck(WrongSquare.apply, (x,))
    assert pg.autograd.gradcheck(lambda t: t * t, (x,))
    assert not pg.autograd.gradcheck(WrongSquare.apply, (x,), raise_exception=False)


def test_gradcheck_catches_a_gradient_of_the_wrong_shape() -> None:
    class FlatGrad(pg.autograd.node.Op):
        name = "FlatGradBackward"

        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            return (grad_output * 2).reshape(-1)  # right values, wrong shape

    x = pg.ones(2, 2, dtype=pg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="shape"):
        pg.autograd.gradcheck(FlatGrad.apply, (x,))


def test_gradcheck_needs_float64() -> None:
    with pytest.raises(ValueError, match="gradcheck.*float64"):
        pg.autograd.gradcheck(pg.tanh, (pg.ones(2, requires_grad=True),))
    with pytest.raises(ValueError, match="gradcheck.*requires grad"):
        pg.autograd.gradcheck(pg.tanh, (pg.ones(2, dtype=pg.float64),))


@pytest.mark.parametrize(
    "modify",
    [
        lambda b: b[1:].mul_(3),
        lambda b: b[0].add_(5.0),
        lambda b: b.view(3).mul_(2),
        lambda b: b.unsqueeze(0).mul_(0),
        lambda b: b.t().sub_(1),
    ],
)
def test_in_place_through_a_view_in_the_graph_rewrites_the_base(modify) -> None:
    # PyTorch writes through to the base and gives it a CopySlices history
    torch = import_torch()
    results = []
    for lib in (pg, torch):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a * 2
        modify(b)
        (b * lib.tensor([1.0, 10.0, 100.0])).sum().backward()
        results.append((b.tolist(), a.grad.tolist(), b.grad_fn.name(), b._version))
    assert results[0] == results[1]


def test_in_place_through_a_view_outside_the_graph_writes_through() -> None:
    x = pg.zeros(4)
    view = x[1:]
    view += 1
    x.view(2, 2)[0].mul_(5)
    assert x.tolist() == [0.0, 5.0, 1.0, 1.0]
    b = pg.ones(3, requires_grad=True) * 2
    with pg.no_grad():
        b[1:].mul_(3)
    assert b.tolist() == [2.0, 6.0, 6.0]


def test_basic_indexing_grad_fn_names_match_torch() -> None:
    torch = import_torch()
    x = np.arange(6.0).reshape(2, 3)
    for index in (0, (1, 2), slice(1, None), (0, slice(None, 2)), [0, 1]):
        ours = pg.tensor(x, requires_grad=True)[index]
        theirs = torch.tensor(x, requires_grad=True)[index]
        assert ours.grad_fn.name() == theirs.grad_fn.name(), index


@pytest.mark.parametrize(
    "op, name",
    [
        (lambda a, b: a + b, "add"),
        (lambda a, b: a * b, "mul"),
        (lambda a, b: a / b, "div"),
        (lambda a, b: a == b, "eq"),
    ],
)
def test_shapes_that_do_not_broadcast_raise_torch_error(op, name: str) -> None:
    torch = import_torch()
    pattern = (
        r"The size of tensor a \(3\) must match the size of tensor b \(4\) at "
        r"non-singleton dimension 1"
    )
    with pytest.raises(RuntimeError, match=pattern):
        op(torch.zeros(2, 3), torch.zeros(4))
    with pytest.raises(RuntimeError, match=f"{name}: " + pattern):
        op(pg.zeros(2, 3, requires_grad=True), pg.zeros(4))


def test_backward_from_roots_that_depend_on_each_other() -> None:
    torch = import_torch()
    grads = []
    for lib in (pg, torch):
        x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([2.0, 3.0], dtype=lib.float64, requires_grad=True)
        y = (x * w).tanh()
        z = (y * w).tanh()  # z depends on y: one root leads to the other
        seeds = [lib.tensor([1.0, 2.0], dtype=lib.float64)] * 2
        lib.autograd.backward(
            [y, z, z.sum()], seeds + [lib.tensor(3.0, dtype=lib.float64)]
        )
        grads.append((x.grad.numpy(), w.grad.numpy()))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_assigned_gradients_are_checked_as_torch() -> None:
    torch = import_torch()
    for lib in (pg, torch):
        p = lib.nn.Parameter(lib.zeros(2))
        with pytest.raises(
            RuntimeError, match="attempting to assign a gradient of size '\\[3\\]'"
        ):
            p.grad = lib.zeros(3)
        with pytest.raises(
            RuntimeError, match="attempting to assign a gradient with dtype"
        ):
            p.grad = lib.zeros(2, dtype=lib.float64)
        with pytest.raises(
            TypeError, match="assigned grad expected to be a Tensor or None"
        ):
            p.grad = [0.0, 0.0]
        p.grad = lib.ones(2)
        (p * 2).sum().backward()
        assert p.grad.tolist() == [3.0, 3.0]
        p.grad = None
        assert p.grad is None
