"""Optimizers on 0-d parameters (``nn.Parameter(torch.tensor(1.0))``), against
PyTorch.

NumPy arithmetic on 0-d arrays returns NumPy scalars, which an ``out=``
argument refuses ("return arrays must be of ArrayType"); the update rules
once failed there. Every optimizer and variant here steps a 0-d parameter and
a (3,) one, in one group, for 20 steps in float64 from the same values under
the same loss, and must follow PyTorch's trajectory to rtol 1e-10; the 0-d
parameter's state must then have PyTorch's names, shapes and dtypes.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


_W0 = 1.5
_B0 = [0.5, -1.0, 2.0]
_X = [1.0, -2.0, 0.5]
_Y = [0.3, 0.1, -0.7]


def _params(lib: ModuleType, dtype: Any) -> list:
    """``[w, b]``: a 0-d parameter first (LBFGS keeps its state under it)."""
    w = lib.nn.Parameter(lib.tensor(_W0, dtype=dtype))
    b = lib.nn.Parameter(lib.tensor(_B0, dtype=dtype))
    return [w, b]


def _loss(lib: ModuleType, params: list) -> Any:
    """A smooth loss that couples ``w`` and ``b`` (neither gradient is ever 0)."""
    w, b = params
    x = lib.tensor(_X, dtype=b.dtype)
    y = lib.tensor(_Y, dtype=b.dtype)
    return ((w * x + b * b - y) ** 2).mean() + (w - 0.3) ** 2


def _step(lib: ModuleType, params: list, opt: Any) -> None:
    def closure() -> Any:
        opt.zero_grad()
        loss = _loss(lib, params)
        loss.backward()
        return loss

    opt.step(closure)


def _values(params: list) -> list:
    return [p.detach().numpy().copy() for p in params]


def _shapes(value: Any) -> Any:
    """(shape, dtype) of every tensor in a state value; other values as they are
    (LBFGS keeps lists of tensors and plain numbers)."""
    if isinstance(value, (list, tuple)):
        return [_shapes(v) for v in value]
    if hasattr(value, "detach"):
        array = value.detach().numpy()
        return (tuple(array.shape), str(array.dtype))
    return type(value).__name__


def _numbers(value: Any) -> list:
    """Every number in a state value, flattened (None as NaN)."""
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    if value is None:
        return [float("nan")]
    if hasattr(value, "detach"):
        return value.detach().numpy().astype(np.float64).ravel().tolist()
    return [float(value)]


_CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.002, momentum=0.5, maximize=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.05, maximize=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, maximize=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, maximize=True, lr_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1)),
    ("Adamax", dict(lr=0.05, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, maximize=True)),
    # RAdam's adaptive step starts once rho_t > 5 (step 6 with these betas).
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, maximize=True)),
    ("LBFGS", dict(lr=0.1, max_iter=2, history_size=5)),
    ("LBFGS", dict(lr=0.5, max_iter=2, line_search_fn="strong_wolfe")),
]


def _run_both(torch: ModuleType, name: str, options: dict) -> tuple:
    ours = _params(pg, pg.float64)
    theirs = _params(torch, torch.float64)
    opt_ours = getattr(pg.optim, name)(ours, **options)
    opt_theirs = getattr(torch.optim, name)(theirs, **options)
    for step in range(1, 21):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        for i, (got, expected) in enumerate(zip(_values(ours), _values(theirs))):
            assert got.shape == expected.shape, (step, i)
            assert np.isfinite(expected).all(), (step, i)  # a meaningful run
            np.testing.assert_allclose(
                got, expected, rtol=1e-10, atol=1e-14, err_msg=f"step {step}, p{i}"
            )
    return opt_ours, opt_theirs


@pytest.mark.parametrize(("name", "options"), _CONFIGS)
def test_trajectory_with_a_0d_parameter_matches_torch(
    torch: ModuleType, name: str, options: dict
) -> None:
    opt_ours, opt_theirs = _run_both(torch, name, options)
    ours = opt_ours.state_dict()["state"]
    theirs = opt_theirs.state_dict()["state"]
    assert sorted(ours) == sorted(theirs)
    if name == "SGD" and not options.get("momentum"):
        assert theirs == {}  # plain SGD keeps no state
        return
    # Parameter 0 is the 0-d one: its buffers are 0-d too, as in PyTorch.
    state, reference = ours[0], theirs[0]
    assert list(state) == list(reference)
    for key, value in reference.items():
        # NOTE: LBFGS keeps these scalars as Python floats where PyTorch keeps
        # 0-d tensors, whatever the parameters' shapes; their values must agree.
        if not (name == "LBFGS" and key in ("ro", "H_diag", "al")):
            assert _shapes(state[key]) == _shapes(value), key
        np.testing.assert_allclose(
            _numbers(state[key]), _numbers(value), rtol=1e-10, err_msg=key
        )


# One variant per rule path that built a temporary on which ``out=`` failed.
_FLOAT32 = [
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01)),
    ("Adadelta", dict()),
    ("Adamax", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05)),
]


@pytest.mark.parametrize(("name", "options"), _FLOAT32)
def test_float32_0d_parameter_keeps_its_dtype_and_matches_torch(
    torch: ModuleType, name: str, options: dict
) -> None:
    ours = _params(pg, pg.float32)
    theirs = _params(torch, torch.float32)
    opt_ours = getattr(pg.optim, name)(ours, **options)
    opt_theirs = getattr(torch.optim, name)(theirs, **options)
    for _ in range(20):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
    for got, expected in zip(_values(ours), _values(theirs)):
        assert (got.shape, got.dtype) == (expected.shape, expected.dtype)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    state = opt_ours.state_dict()["state"][0]
    reference = opt_theirs.state_dict()["state"][0]
    assert {k: _shapes(v) for k, v in state.items()} == {
        k: _shapes(v) for k, v in reference.items()
    }
