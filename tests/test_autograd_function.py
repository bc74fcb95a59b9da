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


def _several_outputs(lib: ModuleType, materialize: bool = True) -> Any:
    """f(x) = (2x, x > 0, 3 x^2, 5): two differentiable outputs, a mask and a
    number; backward records what it was given."""

    class Several(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            mask = (x > 0).long()
            ctx.mark_non_differentiable(mask)
            return x * 2, mask, 3 * x**2, 5

        @staticmethod
        def backward(ctx, g_double, g_mask, g_square, g_number):
            (x,) = ctx.saved_tensors
            ctx.given.append(
                [
                    None if g is None else (str(g.dtype)[-5:], g.tolist())
                    for g in (g_double, g_mask, g_square, g_number)
                ]
            )
            # d(2x)/dx = 2 ; d(3x^2)/dx = 6x
            grad = None
            if g_double is not None:
                grad = 2 * g_double
            if g_square is not None:
                grad = 6 * x * g_square if grad is None else grad + 6 * x * g_square
            return grad

    return Several


SEVERAL_LOSSES = {
    "first": lambda a, c: a.sum(),
    "second": lambda a, c: (c * c).sum(),
    "both": lambda a, c: (a * c).sum(),
}


@pytest.mark.parametrize("materialize", [True, False])
@pytest.mark.parametrize("loss", SEVERAL_LOSSES.values(), ids=SEVERAL_LOSSES.keys())
def test_several_outputs_get_one_gradient_each(
    torch: ModuleType, loss: Any, materialize: bool
) -> None:
    results = []
    for lib in (torch, pg):
        x = lib.tensor([1.5, -1.0], dtype=lib.float64, requires_grad=True)
        fn = _several_outputs(lib, materialize)
        a, mask, c, number = fn.apply(x)
        assert a.grad_fn is not None and c.grad_fn is not None
        assert a.grad_fn.name() == c.grad_fn.name() == "SeveralBackward"
        assert mask.grad_fn is None and not mask.requires_grad and number == 5
        given: list = []
        type(a.grad_fn).given = given  # ctx is the node in both libraries
        loss(a, c).backward()
        results.append((x.grad.tolist(), given))
    ours, theirs = results[1], results[0]
    assert len(theirs[1]) == 1  # backward ran once
    np.testing.assert_allclose(ours[0], theirs[0])
    assert ours[1] == theirs[1]


def test_several_outputs_double_backward(torch: ModuleType) -> None:
    results = []
    for lib in (torch, pg):
        x = lib.tensor([1.5, -1.0], dtype=lib.float64, requires_grad=True)
        fn = _several_outputs(lib)
        a, _, c, _ = fn.apply(x)
        type(a.grad_fn).given = []
        (g,) = lib.autograd.grad((a * c).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        results.append((g.tolist(), h.tolist()))
    np.testing.assert_allclose(results[1], results[0])


def test_mark_non_differentiable_extra_output_from_the_report(
    torch: ModuleType,
) -> None:
    def make(lib: ModuleType) -> Any:
        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                b = (x > 0).to(x.dtype)
                ctx.mark_non_differentiable(b)
                return x * 2, b

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2

        return Two

    grads = []
    for lib in (torch, pg):
        x = lib.tensor([1.0, -1.0], requires_grad=True)
        a, b = make(lib).apply(x)
        a.sum().backward()
        grads.append(x.grad.tolist())
    assert grads[1] == grads[0] == [2.0, 2.0]


def _doubling_in_place(lib: ModuleType) -> Any:
    class DoubleInPlace(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 2  # d(2x)/dx = 2

    return DoubleInPlace


def test_mark_dirty(torch: ModuleType) -> None:
    results = []
    for lib in (torch, pg):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = w * 3
        before = y._version
        z = _doubling_in_place(lib).apply(y)
        assert z is y and y.grad_fn.name() == "DoubleInPlaceBackward"
        (z * z).sum().backward()
        results.append((y.tolist(), y._version - before, w.grad.tolist()))
    assert results[1] == results[0]


def test_mark_dirty_on_a_leaf_is_refused(torch: ModuleType) -> None:
    messages = []
    for lib in (torch, pg):
        with pytest.raises(RuntimeError) as info:
            _doubling_in_place(lib).apply(lib.tensor([1.0], requires_grad=True))
        messages.append(str(info.value))
    assert messages[1] == messages[0]


def test_once_differentiable(torch: ModuleType) -> None:
    from torch.autograd.function import once_differentiable as theirs

    from plaingrad.autograd.function import once_differentiable as ours

    def make(lib: ModuleType, decorator: Any) -> Any:
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x**2

            @staticmethod
            @decorator
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return 2 * x * grad_output  # d(x^2)/dx = 2x

        return Square

    results = []
    for lib, decorator in ((torch, theirs), (pg, ours)):
        x = lib.tensor([3.0], requires_grad=True)
        (g,) = lib.autograd.grad(
            make(lib, decorator).apply(x).sum(), x, create_graph=True
        )
        with pytest.raises(RuntimeError) as info:
            g.sum().backward()
        results.append((g.tolist(), g.requires_grad, str(info.value)))
    assert results[1] == results[0]
