"""The harness itself: each kind of disagreement with torch fails in its column.

These specs are not in the registry (they would be wrong rows); they run with a
throwaway result record.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

from . import runner
from .harness import (
    ConformanceError,
    CustomSpec,
    ModuleSpec,
    OpSpec,
    away_from,
    distinct,
    floats,
    stage,
)
from .runner import run_spec

torch = import_torch()


def _run(spec) -> runner.SpecResult:
    return run_spec(spec, torch, record={})


def _fails(spec, column: str) -> ConformanceError:
    with pytest.raises(ConformanceError) as info:
        _run(spec)
    assert info.value.stage == column, str(info.value)
    return info.value


class _DoubleGrad(pg.autograd.Function):
    """x -> x with a backward that doubles the gradient (a planted bug)."""

    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 2


def test_a_right_spec_passes_and_counts_its_cases() -> None:
    spec = OpSpec("exp", lambda lib, x: lib.exp(x), floats(high=3.0))
    result = _run(spec)
    assert result.cases >= 3
    assert result.gradcheck_cases >= 1
    assert result.as_json()["forward"] == "pass"


def test_wrong_values_fail_forward() -> None:
    spec = OpSpec(
        "bad", lambda lib, x: lib.sin(x) if lib is pg else lib.cos(x), floats()
    )
    _fails(spec, "forward")


def test_wrong_dtype_fails_forward() -> None:
    spec = OpSpec(
        "bad",
        lambda lib, x: x.double() if lib is pg else x,
        floats(),
        dtypes=["float32"],
    )
    assert "dtype" in str(_fails(spec, "forward"))


def test_wrong_gradient_fails_backward() -> None:
    spec = OpSpec(
        "bad",
        lambda lib, x: _DoubleGrad.apply(x) if lib is pg else x * 1,
        floats((3,)),
    )
    _fails(spec, "backward")


def test_a_wrong_backward_in_float64_only_is_caught_by_gradcheck() -> None:
    # torch is given the same wrong gradient, so only finite differences can tell.
    class TorchDouble(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 2

    spec = OpSpec(
        "bad",
        lambda lib, x: (_DoubleGrad if lib is pg else TorchDouble).apply(x),
        floats((3,)),
        gradgrad=False,
    )
    _fails(spec, "gradcheck")


def test_torch_raising_requires_plaingrad_to_raise_the_same_class() -> None:
    def fn(lib, x):
        if lib is torch:
            raise ValueError("torch rejects this case")
        return x

    _fails(OpSpec("bad", fn, floats()), "forward")

    def both(lib, x):
        raise ValueError(f"{lib.__name__} rejects this case")

    assert _run(OpSpec("ok", both, floats())).error_cases >= 1


def test_double_backward_is_no_while_plaingrad_lacks_it(monkeypatch) -> None:
    spec = OpSpec("tanh", lambda lib, x: lib.tanh(x), floats((2,)))
    monkeypatch.delattr(pg.autograd, "gradgradcheck", raising=False)
    assert _run(spec).as_json()["double_backward"] == "no"

    # gradgradcheck exists but create_graph raises NotImplementedError: still "no".
    def gradgradcheck(fn, inputs):
        raise NotImplementedError("not yet")

    monkeypatch.setattr(pg.autograd, "gradgradcheck", gradgradcheck, raising=False)
    monkeypatch.setattr(
        pg.autograd,
        "grad",
        _raising_create_graph(pg.autograd.grad),
    )
    record = _run(spec).as_json()
    assert record["double_backward"] == "no"
    assert "NotImplementedError" in record["double_backward_note"]


def _raising_create_graph(grad):
    def wrapped(*args, create_graph=False, **kwargs):
        if create_graph:
            raise NotImplementedError("create_graph")
        return grad(*args, **kwargs)

    return wrapped


def test_wrong_second_derivatives_fail_double_backward(monkeypatch) -> None:
    real = runner._second_derivatives

    def planted(lib, outs, leaves, vs, ws):
        if lib is pg:  # as if plaingrad's double backward ran and gave ones
            return [np.ones(tuple(x.shape)) for x in leaves]
        return real(lib, outs, leaves, vs, ws)

    monkeypatch.setattr(runner, "_second_derivatives", planted)
    monkeypatch.setattr(pg.autograd, "gradgradcheck", lambda f, x: True, raising=False)
    spec = OpSpec("tanh", lambda lib, x: lib.tanh(x), floats((2,)))
    _fails(spec, "double backward")


def test_a_module_spec_checks_state_dict_names() -> None:
    spec = ModuleSpec(
        "bad",
        lambda lib: (
            lib.nn.Linear(3, 2)
            if lib is torch
            else pg.nn.Sequential(pg.nn.Linear(3, 2))
        ),
        floats((4, 3)),
    )
    assert "state_dict names" in str(_fails(spec, "forward"))


def test_a_module_spec_compares_parameter_gradients() -> None:
    class Bad(pg.nn.Linear):
        def forward(self, x):
            return _DoubleGrad.apply(super().forward(x))

    spec = ModuleSpec(
        "bad",
        lambda lib: lib.nn.Linear(3, 2) if lib is torch else Bad(3, 2),
        floats((4, 3)),
        grad=[False],
    )
    assert "parameter" in str(_fails(spec, "backward"))


def test_custom_spec_stages_and_note() -> None:
    def check(torch_, dtype, x):
        with stage("backward"):
            raise AssertionError("gradient is not mask * scale")

    _fails(CustomSpec("bad", check, floats(), note="n"), "backward")
    with pytest.raises(ValueError, match="note"):
        CustomSpec("bad", check, floats())


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="tol_why"):
        OpSpec("x", lambda lib, x: x, floats(), tol={"float32": (1e-3, 1e-5)})
    with pytest.raises(ValueError, match="dtypes"):
        OpSpec("x", lambda lib, x: x, floats(), dtypes=["float8"])
    with pytest.raises(TypeError):
        OpSpec("x", lambda lib, x: x, floats(), tolerance=1)


def test_fd_predicates() -> None:
    assert away_from(0.0)(np.array([0.5, -1.0]))
    assert not away_from(1.0)(np.array([0.5, 1.0]))
    assert distinct(np.array([1.0, 2.0]), 3)
    assert not distinct(np.array([1.0, 2.0, 1.0]))
