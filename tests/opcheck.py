"""Shared checks for the op tests: one computation, run on plaingrad and PyTorch.

A test writes its computation once as ``fn(lib, *inputs)``, where ``lib`` is
either ``plaingrad`` or ``torch``. ``check_against_torch`` builds the same inputs
in both libraries (floating arrays become tensors that require grad, integer and
bool arrays plain tensors, anything else passes through unchanged), runs ``fn``
and compares each output's shape, dtype, values and ``requires_grad``; then it
backpropagates the same random output gradients in both and compares every
input's ``.grad``. ``check_gradients`` runs plaingrad's float64 central
difference check on the same ``fn``. The right answers come from PyTorch and
finite differences, never from plaingrad.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import plaingrad as pg

FLOAT_DTYPES = ("float32", "float64")

# (rtol, atol) per dtype for comparisons with PyTorch: summation order differs.
TOLERANCE = {
    "float16": (1e-2, 1e-2),
    "float32": (1e-5, 1e-5),
    "float64": (1e-10, 1e-12),
}


def dtype_name(dtype: Any) -> str:
    """``float32`` for both ``torch.float32`` and ``plaingrad.float32``."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).removeprefix("torch.")


def make_inputs(
    lib: Any, args: Sequence[Any], dtype: str, requires_grad: Sequence[bool] | None
) -> list:
    """Tensors of ``lib`` made from ``args`` (see the module docstring)."""
    inputs = []
    for i, arg in enumerate(args):
        if isinstance(arg, np.generic):
            arg = np.asarray(arg)
        if isinstance(arg, np.ndarray):
            if arg.dtype.kind == "f":
                wants = True if requires_grad is None else requires_grad[i]
                values = np.array(arg, dtype=dtype)
                inputs.append(lib.tensor(values, requires_grad=wants))
            else:
                inputs.append(lib.tensor(arg.copy()))
        else:
            inputs.append(arg)
    return inputs


def _outputs(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def assert_close(got: Any, expected: Any, dtype: str, what: str) -> None:
    """Compare a plaingrad tensor with a torch tensor or NumPy array."""
    rtol, atol = TOLERANCE.get(dtype, (0, 0))
    got_values = np.asarray(got.detach().numpy(), dtype=np.float64)
    if hasattr(expected, "detach"):
        expected_values = expected.detach().numpy().astype(np.float64)
    else:
        expected_values = np.asarray(expected, dtype=np.float64)
    assert got_values.shape == expected_values.shape, (
        f"{what}: shape {got_values.shape}, expected {expected_values.shape}"
    )
    np.testing.assert_allclose(
        got_values, expected_values, rtol=rtol, atol=atol, err_msg=what
    )


def check_against_torch(
    torch: Any,
    fn: Callable[..., Any],
    *args: Any,
    dtypes: Sequence[str] = FLOAT_DTYPES,
    requires_grad: Sequence[bool] | None = None,
    backward: bool = True,
) -> None:
    """Run ``fn`` on plaingrad and torch; compare outputs and input gradients."""
    for dtype in dtypes:
        pg_in = make_inputs(pg, args, dtype, requires_grad)
        torch_in = make_inputs(torch, args, dtype, requires_grad)
        pg_outs = _outputs(fn(pg, *pg_in))
        torch_outs = _outputs(fn(torch, *torch_in))
        assert len(pg_outs) == len(torch_outs)
        for k, (p, t) in enumerate(zip(pg_outs, torch_outs)):
            what = f"output {k} ({dtype})"
            assert isinstance(p, pg.Tensor), f"{what}: got {type(p).__name__}"
            assert tuple(p.shape) == tuple(t.shape), f"{what}: shape"
            assert dtype_name(p.dtype) == dtype_name(t.dtype), f"{what}: dtype"
            assert p.requires_grad == t.requires_grad, f"{what}: requires_grad"
            assert_close(p, t, dtype, what)
        if not backward:
            continue
        pairs = [(p, t) for p, t in zip(pg_outs, torch_outs) if t.requires_grad]
        if not pairs:
            continue
        rng = np.random.default_rng(1234)
        seeds = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
        pg.autograd.backward(
            [p for p, _ in pairs],
            [pg.tensor(s.astype(p.dtype.np)) for s, (p, _) in zip(seeds, pairs)],
        )
        torch.autograd.backward(
            [t for _, t in pairs],
            [torch.tensor(s, dtype=t.dtype) for s, (_, t) in zip(seeds, pairs)],
        )
        for i, (p, t) in enumerate(zip(pg_in, torch_in)):
            if not hasattr(t, "requires_grad") or not t.requires_grad:
                continue
            what = f"gradient of input {i} ({dtype})"
            if t.grad is None:
                assert p.grad is None, f"{what}: expected None"
                continue
            assert p.grad is not None, f"{what}: missing"
            assert dtype_name(p.grad.dtype) == dtype_name(t.grad.dtype), what
            assert_close(p.grad, t.grad, dtype, what)


def check_gradients(
    fn: Callable[..., Any],
    *args: Any,
    requires_grad: Sequence[bool] | None = None,
) -> None:
    """plaingrad's float64 finite-difference check of ``fn(plaingrad, *args)``."""
    inputs = make_inputs(pg, args, "float64", requires_grad)
    assert pg.autograd.gradcheck(lambda *xs: fn(pg, *xs), tuple(inputs)) is True


def forward_value(fn: Callable[..., Any], *args: Any, dtype: str = "float64") -> Any:
    """``fn(plaingrad, *args)`` as a NumPy array (for comparisons with NumPy)."""
    inputs = make_inputs(pg, args, dtype, [False] * len(args))
    out = fn(pg, *inputs)
    return out.detach().numpy()
