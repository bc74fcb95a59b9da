"""Activation functions (``nn.functional`` and the ``nn`` modules).

Each is checked against real PyTorch (values, dtypes and gradients in float32
and float64, grad_fn names, the derivative at every kink, extreme inputs) and
with float64 finite differences away from the kinks; the modules' reprs are
PyTorch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()

# name -> (call on either library's functional module, the points of its kinks)
ACTIVATIONS = {
    "logsigmoid": (lambda F, x: F.logsigmoid(x), []),
    "softplus": (lambda F, x: F.softplus(x), []),
    "softplus_beta": (lambda F, x: F.softplus(x, beta=2.0, threshold=3.0), [1.5]),
    "silu": (lambda F, x: F.silu(x), []),
    "gelu": (lambda F, x: F.gelu(x), []),
    "gelu_tanh": (lambda F, x: F.gelu(x, approximate="tanh"), []),
    "elu": (lambda F, x: F.elu(x), [0.0]),
    "elu_alpha": (lambda F, x: F.elu(x, alpha=0.5), [0.0]),
    "selu": (lambda F, x: F.selu(x), [0.0]),
    "celu": (lambda F, x: F.celu(x, alpha=2.0), [0.0]),
    "leaky_relu": (lambda F, x: F.leaky_relu(x), [0.0]),
    "leaky_relu_slope": (lambda F, x: F.leaky_relu(x, 0.2), [0.0]),
    "hardtanh": (lambda F, x: F.hardtanh(x), [-1.0, 1.0]),
    "hardtanh_bounds": (lambda F, x: F.hardtanh(x, -0.5, 2.0), [-0.5, 2.0]),
    "hardsigmoid": (lambda F, x: F.hardsigmoid(x), [-3.0, 3.0]),
    "hardswish": (lambda F, x: F.hardswish(x), [-3.0, 3.0]),
    "mish": (lambda F, x: F.mish(x), []),
    "relu6": (lambda F, x: F.relu6(x), [0.0, 6.0]),
    "softsign": (lambda F, x: F.softsign(x), [0.0]),
    "tanhshrink": (lambda F, x: F.tanhshrink(x), []),
}


def _inputs(kinks: list, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-7, 7, (4, 5))
    for k in kinks:  # stay off the kinks, where finite differences straddle them
        x = np.where(np.abs(x - k) < 0.05, k + 0.5, x)
    return x


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_values_and_gradients_against_torch(name: str) -> None:
    fn, kinks = ACTIVATIONS[name]
    x = _inputs(kinks)

    def run(m, t):
        return fn(m.nn.functional, t)

    check_against_torch(torch, run, x)
    check_gradients(run, x)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_grad_fn_names(name: str) -> None:
    fn, _ = ACTIVATIONS[name]
    ours = fn(pg.nn.functional, pg.tensor([0.5], requires_grad=True))
    theirs = fn(torch.nn.functional, torch.tensor([0.5], requires_grad=True))
    assert ours.grad_fn.name() == theirs.grad_fn.name()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_kinks_and_extremes_as_torch(name: str) -> None:
    fn, kinks = ACTIVATIONS[name]
    values = [*kinks, -1000.0, -40.0, -20.0, -1e-8, 0.0, 1e-8, 20.0, 40.0, 1000.0]
    for dtype in ("float32", "float64"):
        x = pg.tensor(values, dtype=getattr(pg, dtype), requires_grad=True)
        t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warnings from NumPy
            out = fn(pg.nn.functional, x)
            out.backward(pg.ones_like(out))
        expected = fn(torch.nn.functional, t)
        expected.backward(torch.ones_like(expected))
        # float32: composites (softsign) cancel in their last bits at 1000
        rtol, atol = (1e-12, 1e-30) if dtype == "float64" else (1e-6, 1e-9)
        np.testing.assert_allclose(
            out.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol
        )
        np.testing.assert_allclose(
            x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=dtype
        )


def test_softplus_threshold_edge_as_torch() -> None:
    values = [1.0, 2.5, 3.0, 100.0, 800.0]
    for beta, threshold in ((2.0, 5.0), (1.0, 1000.0), (0.5, 20.0)):
        x = pg.tensor(values, dtype=pg.float64, requires_grad=True)
        t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        with np.errstate(over="ignore"):
            out = pg.nn.functional.softplus(x, beta, threshold)
            out.backward(pg.ones_like(out))
        expected = torch.nn.functional.softplus(t, beta, threshold)
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy())
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_integer_inputs_as_torch() -> None:
    F = pg.nn.functional
    ints = pg.tensor([1, 7, -2])
    assert F.relu6(ints).tolist() == [1, 6, 0] and F.relu6(ints).dtype == pg.int64
    assert F.hardtanh(ints).tolist() == [1, 1, -1]
    expected = torch.nn.functional.softsign(torch.tensor([1, 7, -2]))
    np.testing.assert_allclose(F.softsign(ints).numpy(), expected.numpy(), rtol=1e-6)
    expected = torch.nn.functional.tanhshrink(torch.tensor([1, 7, -2]))
    np.testing.assert_allclose(
        F.tanhshrink(ints).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6
    )
    for name in ("gelu", "silu", "elu", "logsigmoid", "mish", "hardswish"):
        with pytest.raises(NotImplementedError, match=f"{name}.*int64"):
            getattr(F, name)(ints)


def test_argument_errors() -> None:
    F = pg.nn.functional
    x = pg.zeros(2)
    with pytest.raises(RuntimeError, match="gelu.*approximate.*'none' or 'tanh'"):
        F.gelu(x, approximate="exact")
    with pytest.raises(ValueError, match=r"hardtanh.*min_val.*\(1.0\).*max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="celu.*alpha.*0"):
        F.celu(x, 0.0)
    with pytest.raises(ValueError, match="Hardtanh.*min_val"):
        pg.nn.Hardtanh(2.0, 1.0)


@pytest.mark.parametrize(
    "name", ["elu", "selu", "celu", "leaky_relu", "hardtanh", "relu6", "silu", "mish"]
)
def test_inplace_forms(name: str) -> None:
    values = [-2.0, -0.5, 0.5, 7.0]
    x, t = pg.tensor(values), torch.tensor(values)
    out = getattr(pg.nn.functional, name)(x, inplace=True)
    expected = getattr(torch.nn.functional, name)(t, inplace=True)
    assert out is x
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)
    if hasattr(torch.nn.functional, name + "_"):
        y = pg.tensor(values)
        getattr(pg.nn.functional, name + "_")(y)
        np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-6)
    leaf = pg.tensor(values, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        getattr(pg.nn.functional, name)(leaf, inplace=True)
    # inside the graph, the in-place result backpropagates like the plain one
    a = pg.tensor(values, dtype=pg.float64, requires_grad=True)
    b = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    getattr(pg.nn.functional, name)(a * 1, inplace=True).sum().backward()
    getattr(torch.nn.functional, name)(b * 1, inplace=True).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_selu_and_celu_in_the_top_namespace() -> None:
    x = np.array([-1.0, 0.5])
    check_against_torch(torch, lambda m, t: m.selu(t) + m.celu(t), x)


# ------------------------------------------------------------------ modules

MODULES = [
    ("SiLU", (), {}),
    ("SiLU", (), {"inplace": True}),
    ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("ELU", (), {}),
    ("ELU", (), {"alpha": 0.5, "inplace": True}),
    ("SELU", (), {}),
    ("CELU", (2.0,), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("Hardtanh", (), {}),
    ("Hardtanh", (-2, 3), {}),
    ("Hardsigmoid", (), {}),
    ("Hardsigmoid", (True,), {}),
    ("Hardswish", (), {}),
    ("Mish", (), {}),
    ("ReLU6", (), {}),
    ("ReLU6", (True,), {}),
    ("Softsign", (), {}),
    ("Tanhshrink", (), {}),
    ("Softplus", (), {}),
    ("Softplus", (2, 10), {}),
    ("LogSigmoid", (), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), MODULES)
def test_modules_match_torch(name: str, args: tuple, kwargs: dict) -> None:
    ours = getattr(pg.nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and list(ours.parameters()) == []
    x = _inputs([-3.0, -2.0, 0.0, 3.0, 6.0], seed=1)

    def run(m, t):
        module = ours if m is pg else theirs
        return module(t * 1)  # a non-leaf, so that inplace=True is allowed

    check_against_torch(torch, run, x)


def test_module_defaults_are_torch_defaults() -> None:
    assert pg.nn.GELU().approximate == "none"
    assert (pg.nn.Softplus().beta, pg.nn.Softplus().threshold) == (1.0, 20.0)
    assert pg.nn.LeakyReLU().negative_slope == 0.01
    assert pg.nn.ELU().alpha == 1.0
    seq = pg.nn.Sequential(pg.nn.Linear(2, 3), pg.nn.GELU(), pg.nn.Linear(3, 1))
    assert "(1): GELU(approximate='none')" in repr(seq)


def test_relu_backward_drops_a_nan_gradient_where_the_input_is_negative():
    # PyTorch's threshold_backward selects, it does not multiply by a mask
    grads = []
    for lib in (pg, torch):
        x = lib.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        lib.relu(x).backward(lib.tensor([float("nan"), float("nan"), 1.0]))
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert grads[0].tolist() == [0.0, 0.0, 1.0]


def test_autograd_grad_of_a_non_scalar_names_grad_outputs():
    x = pg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="`grad_outputs=`"):
        pg.autograd.grad(x * 2, x)
