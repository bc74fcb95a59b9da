"""Higher-order gradients: ``create_graph=True``, ``gradgradcheck``, ``hessian``.

The engine's Tensor-level walk against real PyTorch and mathematics: second
and third derivatives, a WGAN-style gradient penalty, Hessian-vector products,
leaves whose ``.grad`` has a ``grad_fn``, hooks, custom Functions, anomaly
mode, the error for an op without a double-backward rule, and
``autograd.functional``. The ops' own rules are checked one by one in
``test_double_backward_ops.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.autograd.gradcheck import GradcheckError
from plaingrad.autograd.node import Op

torch = import_torch()


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(
        ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol
    )


# ------------------------------------------------------------ derivatives


SCALAR_FUNCTIONS = [
    lambda m, x: x**3,
    lambda m, x: m.sin(x),
    lambda m, x: m.exp(x) * m.log(x),
    lambda m, x: m.tanh(m.sigmoid(x * 3) * 2 - x),
    lambda m, x: m.sigmoid(m.tanh(x)) / (1 + x * x),
    lambda m, x: m.sqrt(x) * m.cos(x) ** 2,
]


@pytest.mark.parametrize("f", SCALAR_FUNCTIONS)
def test_second_derivative_of_a_scalar_function_matches_torch(f) -> None:
    for value in (0.3, 1.7):
        results = []
        for lib in (pg, torch):
            x = lib.tensor(value, dtype=lib.float64, requires_grad=True)
            (d1,) = lib.autograd.grad(f(lib, x), x, create_graph=True)
            (d2,) = lib.autograd.grad(d1, x)
            results.append((d1, d2))
        (ours1, ours2), (theirs1, theirs2) = results
        assert ours1.grad_fn is not None
        _close(ours1, theirs1)
        _close(ours2, theirs2)


def test_derivatives_of_x_to_the_fourth() -> None:
    # 4x^3, 12x^2, 24x, 24
    x = pg.tensor([-1.5, 0.5, 2.0], dtype=pg.float64, requires_grad=True)
    y = (x**4).sum()
    (d1,) = pg.autograd.grad(y, x, create_graph=True)
    (d2,) = pg.autograd.grad(d1.sum(), x, create_graph=True)
    (d3,) = pg.autograd.grad(d2.sum(), x, create_graph=True)
    (d4,) = pg.autograd.grad(d3.sum(), x)
    v = np.array([-1.5, 0.5, 2.0])
    np.testing.assert_allclose(d1.detach().numpy(), 4 * v**3)
    np.testing.assert_allclose(d2.detach().numpy(), 12 * v**2)
    np.testing.assert_allclose(d3.detach().numpy(), 24 * v)
    np.testing.assert_allclose(d4.numpy(), [24.0, 24.0, 24.0])


def test_float32_input_through_a_cast() -> None:
    results = []
    for lib in (pg, torch):
        x = lib.tensor([0.5, -1.25], requires_grad=True)
        (d1,) = lib.autograd.grad((x.double() ** 3).sum(), x, create_graph=True)
        (d2,) = lib.autograd.grad((d1 * d1).sum(), x)
        results.append((d1, d2))
    for ours, theirs in zip(*results):
        assert str(ours.dtype).endswith(str(theirs.dtype).removeprefix("torch."))
        _close(ours, theirs, rtol=1e-6, atol=1e-6)


def _critic(lib):
    return lib.nn.Sequential(
        lib.nn.Linear(3, 8),
        lib.nn.LeakyReLU(0.2),
        lib.nn.Linear(8, 8),
        lib.nn.Tanh(),
        lib.nn.Linear(8, 1),
    ).double()


def test_wgan_gradient_penalty_matches_torch() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)) + 1
    mix = rng.random((5, 1))
    reference = _critic(torch)
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    grads = []
    for lib, critic in ((torch, reference), (pg, _critic(pg))):
        if lib is pg:
            critic.load_state_dict({k: pg.tensor(v) for k, v in state.items()})
        r, f, e = (lib.tensor(a) for a in (real, fake, mix))
        between = (e * r + (1 - e) * f).requires_grad_(True)
        (slope,) = lib.autograd.grad(critic(between).sum(), between, create_graph=True)
        penalty = ((slope.norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(f).mean() - critic(r).mean() + 10 * penalty
        loss.backward()
        grads.append([p.grad for p in critic.parameters()])
    theirs, ours = grads
    assert len(ours) == len(theirs) == 6
    for a, b in zip(ours, theirs):
        assert a.grad_fn is None
        _close(a, b)


def test_hessian_vector_product_by_double_backward() -> None:
    rng = np.random.default_rng(1)
    x0, v0 = rng.standard_normal(4), rng.standard_normal(4)

    def f(m, x):
        return (m.tanh(x) * x.sum()).sum() + (x**3).sum() * x[0]

    results = []
    for lib in (pg, torch):
        x = lib.tensor(x0, requires_grad=True)
        (g,) = lib.autograd.grad(f(lib, x), x, create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(v0)).sum(), x)
        results.append(hv)
    _close(*results)
    _, reference = torch.autograd.functional.hvp(
        lambda x: f(torch, x), torch.tensor(x0), torch.tensor(v0)
    )
    _close(results[0], reference)
    hessian = pg.autograd.functional.hessian(lambda x: f(pg, x), pg.tensor(x0))
    np.testing.assert_allclose(hessian.numpy() @ v0, results[0].numpy(), rtol=1e-12)


# ------------------------------------------------------------------ leaves


def test_leaf_grad_has_a_grad_fn_and_accumulates_out_of_place() -> None:
    states = []
    for lib in (pg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        (x**3).sum().backward(create_graph=True)
        first = x.grad
        assert first.grad_fn is not None
        (x**2).sum().backward(create_graph=True)  # the graph was retained
        assert x.grad is not first and x.grad.grad_fn.name() == "AddBackward0"
        assert first.tolist() == [3.0, 12.0]
        total = x.grad
        x.grad = None
        total.sum().backward()  # d(3x^2 + 2x)/dx = 6x + 2
        states.append((total.detach().clone(), x.grad))
    for a, b in zip(*states):
        _close(a, b)
    assert states[0][1].tolist() == [8.0, 14.0]


def test_a_constant_gradient_has_no_grad_fn() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward(create_graph=True)
    assert x.grad.tolist() == [3.0, 3.0]
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_backward_inputs_with_create_graph() -> None:
    a = pg.tensor(2.0, requires_grad=True)
    b = pg.tensor(3.0, requires_grad=True)
    (a * a * b).backward(inputs=[a], create_graph=True)
    assert b.grad is None
    assert a.grad.item() == 12.0
    (gb,) = pg.autograd.grad(a.grad, b)  # d(2ab)/db = 2a
    assert gb.item() == 4.0


def test_grad_with_create_graph_allow_unused_and_materialize() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = pg.tensor(1.0, requires_grad=True)
    gx, gy = pg.autograd.grad(
        (x**2).sum(), [x, y], create_graph=True, allow_unused=True
    )
    assert gx.grad_fn is not None and gy is None
    gx, gy = pg.autograd.grad(
        (x**2).sum(), [x, y], create_graph=True, materialize_grads=True
    )
    assert gy.item() == 0.0 and gy.requires_grad  # as PyTorch
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        pg.autograd.grad((x**2).sum(), [x, y], create_graph=True)


def test_freed_graph_is_reported_as_in_torch() -> None:
    messages = []
    for lib in (pg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (g,) = lib.autograd.grad(
            x.exp().sum(), x, create_graph=True, retain_graph=False
        )
        with pytest.raises(RuntimeError) as info:
            lib.autograd.grad(g.sum(), x)
        messages.append(str(info.value)[:60])
    assert messages[0] == messages[1]


def test_deep_chain_has_no_recursion_limit() -> None:
    results = []
    for lib in (pg, torch):
        x = lib.tensor(0.5, dtype=lib.float64, requires_grad=True)
        y = x
        for _ in range(3000):
            y = y * 0.999 + 0.0005 * y * y
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (h,) = lib.autograd.grad(g, x)
        results.append((g, h))
    for a, b in zip(*results):
        _close(a, b, rtol=1e-9)


# ------------------------------------------------------------------- hooks


@pytest.mark.parametrize("create_graph", [False, True])
def test_tensor_hooks_and_retain_grad_see_graph_tensors(create_graph) -> None:
    # retain_grad sees the gradient after the tensor hooks, as in PyTorch
    results = []
    for lib in (pg, torch):
        x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        h = x * x
        h.retain_grad()
        seen = []

        def hook(grad, seen=seen):
            seen.append(grad.grad_fn is not None)
            return grad * grad  # replaced, and still differentiable

        h.register_hook(hook)
        (h.sin()).sum().backward(create_graph=create_graph)
        assert seen == [create_graph]
        assert (h.grad.grad_fn is not None) == create_graph
        if not create_graph:
            results.append((x.grad, h.grad))
            continue
        (second,) = lib.autograd.grad(x.grad.sum(), x)
        results.append((x.grad, h.grad, second))
    for a, b in zip(*results):
        _close(a, b)


def test_module_backward_hook_gets_graph_tensors() -> None:
    layer = pg.nn.Linear(3, 2)
    seen = []
    layer.register_full_backward_hook(
        lambda module, grad_input, grad_output: seen.append(
            (grad_input[0].requires_grad, grad_output[0].requires_grad)
        )
    )
    x = pg.randn(4, 3, requires_grad=True)
    (g,) = pg.autograd.grad(layer(x).tanh().sum(), x, create_graph=True)
    assert seen == [(True, True)]
    assert g.grad_fn is not None


# -------------------------------------------------------- custom Functions


class Cube(pg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2  # differentiable ops: 6x next


class SavedOutputExp(pg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * out


class WrongSquare(pg.autograd.Function):
    """Right first derivative (2x), wrong second (1 instead of 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x + x.detach())


def test_custom_function_backward_is_differentiable() -> None:
    x = pg.tensor([2.0, -1.0], dtype=pg.float64, requires_grad=True)
    (d1,) = pg.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    (d2,) = pg.autograd.grad(d1.sum(), x, create_graph=True)
    (d3,) = pg.autograd.grad(d2.sum(), x)
    assert d1.tolist() == [12.0, 3.0]
    assert d2.tolist() == [12.0, -6.0]
    assert d3.tolist() == [6.0, 6.0]
    assert pg.autograd.gradgradcheck(Cube.apply, (x,))


def test_custom_function_saved_output_stays_connected() -> None:
    x = pg.tensor([0.5, 1.5], dtype=pg.float64, requires_grad=True)
    (d1,) = pg.autograd.grad(SavedOutputExp.apply(x).sum(), x, create_graph=True)
    (d2,) = pg.autograd.grad(d1.sum(), x)
    np.testing.assert_allclose(d2.numpy(), np.exp([0.5, 1.5]), rtol=1e-14)
    assert pg.autograd.gradgradcheck(SavedOutputExp.apply, (x,))


def test_gradgradcheck_catches_a_wrong_double_backward() -> None:
    x = pg.tensor([0.7, -1.3], dtype=pg.float64, requires_grad=True)
    assert pg.autograd.gradcheck(WrongSquare.apply, (x,))
    with pytest.raises(GradcheckError, match="gradgradcheck: Jacobian mismatch"):
        pg.autograd.gradgradcheck(WrongSquare.apply, (x,))
    assert (
        pg.autograd.gradgradcheck(WrongSquare.apply, (x,), raise_exception=False)
        is False
    )


def test_gradgradcheck_with_given_grad_outputs_and_module_path() -> None:
    x = pg.randn(2, 3, dtype=pg.float64, requires_grad=True)
    v = pg.randn(2, 3, dtype=pg.float64, requires_grad=True)
    from plaingrad.autograd.gradcheck import gradgradcheck

    assert gradgradcheck is pg.autograd.gradgradcheck  # both paths, as PyTorch
    assert pg.autograd.gradgradcheck(lambda a: a.sin() * a, (x,), (v,))
    with pytest.raises(ValueError, match="float64"):
        pg.autograd.gradgradcheck(pg.sin, (pg.randn(2, requires_grad=True),))


# --------------------------------------------------- ops without a rule


class NoRule(Op):
    _name = "NoRuleBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * 2 * a


def test_an_op_without_a_rule_is_named_never_guessed() -> None:
    x = pg.tensor([1.0, 2.0], dtype=pg.float64, requires_grad=True)
    message = r"double backward is not implemented for NoRuleBackward0 \(create"
    with pytest.raises(NotImplementedError, match=message):
        NoRule.apply(x).sum().backward(create_graph=True)
    with pytest.raises(NotImplementedError, match=message):
        pg.autograd.grad(NoRule.apply(x).sum(), x, create_graph=True)
    for raise_exception in (True, False):
        with pytest.raises(NotImplementedError, match=message):
            pg.autograd.gradgradcheck(
                NoRule.apply, (x,), raise_exception=raise_exception
            )
    # first order is unaffected
    NoRule.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_grad_runs_only_the_nodes_that_lead_to_its_inputs() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = NoRule.apply(x)  # below the input that grad asks for: never run
    (g,) = pg.autograd.grad((y.sin()).sum(), y, create_graph=True)
    assert g.grad_fn is not None
    np.testing.assert_allclose(g.detach().numpy(), np.cos([1.0, 4.0]), rtol=1e-6)


def test_anomaly_mode_checks_the_graph_walk() -> None:
    x = pg.tensor([0.0], requires_grad=True)
    with pg.autograd.detect_anomaly():
        y = (x.sqrt() * 0).sum()
        with pytest.raises(RuntimeError, match="'SqrtBackward0' returned nan"):
            pg.autograd.grad(y, x, create_graph=True)


# ------------------------------------------------ autograd.functional


def _hessian_cases():
    rng = np.random.default_rng(5)
    return [
        (
            lambda m: lambda x: (x**3).sum() + x[0] * x[1] * x[2],
            (rng.standard_normal(3),),
        ),
        (lambda m: lambda x: (m.tanh(x) @ x.t()).sum(), (rng.standard_normal((2, 3)),)),
        (
            lambda m: lambda x, y: (m.sin(x) * y.sum()).sum() + (x * x).sum() * y[0],
            (rng.standard_normal(3), rng.standard_normal(2)),
        ),
        (lambda m: lambda x: (x * 2).sum(), (rng.standard_normal(2),)),  # zero
    ]


def _nested_close(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _nested_close(a, b)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    _close(ours, theirs)


@pytest.mark.parametrize("case", range(4))
def test_hessian_matches_torch(case) -> None:
    make, args = _hessian_cases()[case]
    single = len(args) == 1
    ours = pg.autograd.functional.hessian(
        make(pg), pg.tensor(args[0]) if single else tuple(pg.tensor(a) for a in args)
    )
    theirs = torch.autograd.functional.hessian(
        make(torch),
        torch.tensor(args[0]) if single else tuple(torch.tensor(a) for a in args),
    )
    _nested_close(ours, theirs)


def test_hessian_options() -> None:
    x = pg.tensor([0.5, 2.0], dtype=pg.float64, requires_grad=True)
    hess = pg.autograd.functional.hessian(lambda a: (a**4).sum(), x, create_graph=True)
    assert hess.grad_fn is not None
    (g,) = pg.autograd.grad(hess.sum(), x)  # d(12 x^2)/dx = 24x
    assert g.tolist() == [12.0, 48.0]
    with pytest.raises(RuntimeError, match="independent of the input"):
        pg.autograd.functional.hessian(lambda a: (a * 2).sum(), x, strict=True)
    with pytest.raises(RuntimeError, match="single element"):
        pg.autograd.functional.hessian(lambda a: a * a, x)


def test_hvp_and_vhp_match_torch() -> None:
    rng = np.random.default_rng(6)
    x0, y0 = rng.standard_normal(3), rng.standard_normal((2, 2))
    vx, vy = rng.standard_normal(3), rng.standard_normal((2, 2))

    def f(m):
        return lambda x, y: (m.tanh(x).sum() * y).sum() + (x**3).sum() * y[0, 1]

    for name in ("hvp", "vhp"):
        ours = getattr(pg.autograd.functional, name)(
            f(pg), (pg.tensor(x0), pg.tensor(y0)), (pg.tensor(vx), pg.tensor(vy))
        )
        theirs = getattr(torch.autograd.functional, name)(
            f(torch),
            (torch.tensor(x0), torch.tensor(y0)),
            (torch.tensor(vx), torch.tensor(vy)),
        )
        _close(ours[0], theirs[0])
        _nested_close(ours[1], theirs[1])
    out, hv = pg.autograd.functional.hvp(lambda a: (a**3).sum(), pg.tensor([2.0]))
    assert out.item() == 8.0 and hv.tolist() == [12.0]


def test_jacobian_with_create_graph_matches_torch() -> None:
    x0 = np.array([0.3, -0.8, 1.2])
    results = []
    for lib in (pg, torch):
        x = lib.tensor(x0, requires_grad=True)
        jac = lib.autograd.functional.jacobian(
            lambda a, m=lib: m.sigmoid(a) * a.sum(), x, create_graph=True
        )
        (g,) = lib.autograd.grad((jac * jac).sum(), x)
        results.append((jac, g))
    for a, b in zip(*results):
        _close(a, b)


def test_node_prehooks_get_arrays_first_order_and_tensors_with_create_graph() -> None:
    seen = []
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    for create_graph in (False, True):
        y = x * x
        y.grad_fn.register_prehook(lambda grad: seen.append(type(grad).__name__))
        y.sum().backward(create_graph=create_graph)
    assert seen == ["ndarray", "Tensor"]
