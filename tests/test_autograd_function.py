"""``autograd.Function``: user-defined ops, checked against the same Function
written for real PyTorch and against finite differences."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

SECOND_BACKWARD = "Trying to backward through the graph a second time"


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _scaled_cube(lib: ModuleType) -> Any:
    """f(x, w, k) = k * x^3 * w, with k a Python number."""

    class ScaledCube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.save_for_backward(x, w)
            ctx.k = k
            ctx.seen_needs = ctx.needs_input_grad
            return k * x**3 * w

        @staticmethod
        def backward(ctx, grad_output):
            x, w = ctx.saved_tensors
            # d/dx = 3 k x^2 w ; d/dw = k x^3 ; none for the number k
            grad_x = grad_output * 3 * ctx.k * x**2 * w
            grad_w = grad_output * ctx.k * x**3
            return grad_x, grad_w, None

    return ScaledCube


def _run(lib: ModuleType, x: np.ndarray, w: np.ndarray, w_grad: bool) -> tuple:
    fn = _scaled_cube(lib)
    tx = lib.tensor(x, requires_grad=True)
    tw = lib.tensor(w, requires_grad=w_grad)
    out = fn.apply(tx * 2, tw, 0.5)
    (out.tanh() * lib.tensor(x)).sum().backward()
    grads = (tx.grad.numpy(), None if tw.grad is None else tw.grad.numpy())
    return out.detach().numpy(), grads, out.grad_fn


@pytest.mark.parametrize("w_grad", [True, False])
def test_values_and_gradients_match_torch(torch: ModuleType, w_grad: bool) -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    out, grads, node = _run(pg, x, w, w_grad)
    out_t, grads_t, node_t = _run(torch, x, w, w_grad)
    close = dict(rtol=1e-10, atol=1e-12)  # tanh's slope differs in the last bits
    np.testing.assert_allclose(out, out_t, **close)
    np.testing.assert_allclose(grads[0], grads_t[0], **close)
    if w_grad:
        np.testing.assert_allclose(grads[1], grads_t[1], **close)
    else:
        assert grads[1] is None and grads_t[1] is None
    assert node.name() == node_t.name() == "ScaledCubeBackward"
    assert node.seen_needs == node_t.seen_needs == (True, w_grad, False)


def test_gradcheck_of_a_custom_function() -> None:
    fn = _scaled_cube(pg)
    rng = np.random.default_rng(1)
    x = pg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    w = pg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert pg.autograd.gradcheck(lambda a, b: fn.apply(a, b, 1.5), (x, w))


def test_without_grad_nothing_is_recorded() -> None:
    fn = _scaled_cube(pg)
    out = fn.apply(pg.ones(2), pg.ones(2), 2.0)
    assert out.grad_fn is None and not out.requires_grad
    with pg.no_grad():
        out = fn.apply(pg.ones(2, requires_grad=True), pg.ones(2), 2.0)
    assert out.grad_fn is None


def test_ops_inside_forward_leave_no_graph() -> None:
    seen = {}

    class Square(pg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * x
            seen["inner"] = y.grad_fn
            return y

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 0  # deliberately not 2x: proves it is used

    x = pg.tensor([3.0], requires_grad=True)
    Square.apply(x).backward()
    assert seen["inner"] is None
    assert x.grad.tolist() == [0.0]


def test_saved_tensors_are_freed_after_backward() -> None:
    fn = _scaled_cube(pg)
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    out = fn.apply(x, pg.ones(2), 1.0).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert x.grad.tolist() == [6.0, 24.0]  # 2 * 3x^2
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        out.backward()


def test_returning_an_input_keeps_the_input_a_leaf() -> None:
    class Identity(pg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 2

    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert x.is_leaf and x.grad_fn is None
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_non_differentiable_outputs(torch: ModuleType) -> None:
    def make(lib: ModuleType) -> Any:
        class SortedWithOrder(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                order = lib.tensor(np.argsort(x.detach().numpy(), kind="stable"))
                ctx.mark_non_differentiable(order)
                ctx.save_for_backward(order)
                return x[order], order

            @staticmethod
            def backward(ctx, grad_values, grad_order=None):
                (order,) = ctx.saved_tensors
                grad = lib.zeros(grad_values.shape, dtype=grad_values.dtype)
                grad[order] = grad_values
                return grad

        return SortedWithOrder

    data = np.array([3.0, 1.0, 2.0])
    results = []
    for lib in (pg, torch):
        x = lib.tensor(data, requires_grad=True)
        values, order = make(lib).apply(x)
        (values * lib.tensor([1.0, 10.0, 100.0], dtype=lib.float64)).sum().backward()
        assert order.grad_fn is None and not order.requires_grad
        results.append((values.detach().numpy(), order.numpy(), x.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_setup_context_style(torch: ModuleType) -> None:
    def make(lib: ModuleType) -> Any:
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(x):
                return x.exp()

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return grad_output * out  # d exp(x) = exp(x)

        return Exp

    grads = []
    for lib in (pg, torch):
        x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        make(lib).apply(x).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-15)


def test_wrong_gradients_are_explained(torch: ModuleType) -> None:
    def make(lib: ModuleType, result: Any) -> Any:
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x + y

            @staticmethod
            def backward(ctx, grad_output):
                return result(lib, grad_output)

        return Bad

    cases = [
        (lambda lib, g: g, "returned an incorrect number of gradients"),
        (
            lambda lib, g: (g, lib.ones(5, dtype=lib.float64)),
            "returned an invalid gradient at index 1 - got \\[5\\] but "
            "expected shape compatible with \\[3\\]",
        ),
    ]
    for result, pattern in cases:
        for lib in (pg, torch):
            x = lib.ones(3, dtype=lib.float64, requires_grad=True)
            y = lib.ones(3, dtype=lib.float64, requires_grad=True)
            out = make(lib, result).apply(x, y).sum()
            with pytest.raises(RuntimeError, match=pattern):
                out.backward()


def test_function_needs_a_backward_to_be_differentiated() -> None:
    class NoBackward(pg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    out = NoBackward.apply(pg.ones(2, requires_grad=True)).sum()
    with pytest.raises(NotImplementedError, match="must define backward"):
        out.backward()
    with pytest.raises(TypeError, match="save_for_backward can only save Tensors"):

        class SavesANumber(pg.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(3)
                return x

        SavesANumber.apply(pg.ones(1, requires_grad=True))
