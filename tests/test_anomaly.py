"""Anomaly mode names the op whose backward made NaN or Inf, and the line of
user code that created it."""

from __future__ import annotations

import warnings

import pytest
from conftest import import_torch

import plaingrad as pg

NAN_IN_SQRT = r"Function 'SqrtBackward0' returned nan values in its 0th output"


def _nan_through_sqrt(lib):
    x = lib.tensor([0.0, 4.0], requires_grad=True)
    y = (x.sqrt() * lib.tensor([0.0, 1.0])).sum()  # 0 * inf at x = 0: NaN
    return x, y


def test_the_op_and_its_line_are_named_as_torch_names_the_op() -> None:
    torch = import_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch prints the forward trace
        with torch.autograd.detect_anomaly():
            _, y = _nan_through_sqrt(torch)
            with pytest.raises(RuntimeError, match=NAN_IN_SQRT):
                y.backward()
    with pg.autograd.detect_anomaly():
        _, y = _nan_through_sqrt(pg)
        with pytest.raises(RuntimeError, match=NAN_IN_SQRT) as caught:
            y.backward()
    message = str(caught.value)
    assert "test_anomaly.py" in message and "_nan_through_sqrt" in message
    assert "x.sqrt()" in message


def test_inf_is_caught_too() -> None:
    with pg.autograd.detect_anomaly():
        x = pg.tensor([0.0], requires_grad=True)
        y = x.log().sum()
        with pytest.raises(RuntimeError, match="'LogBackward0' returned inf values"):
            y.backward()


def test_off_by_default_and_switchable() -> None:
    assert not pg.autograd.is_anomaly_enabled()
    x, y = _nan_through_sqrt(pg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y.backward()  # no check: the NaN lands in the gradient
    assert x.grad.isnan().tolist() == [True, False]

    pg.autograd.set_detect_anomaly(True)
    try:
        assert pg.autograd.is_anomaly_enabled()
        _, y = _nan_through_sqrt(pg)
        with pytest.raises(RuntimeError, match=NAN_IN_SQRT):
            y.backward()
    finally:
        pg.autograd.set_detect_anomaly(False)
    assert not pg.autograd.is_anomaly_enabled()


def test_as_a_decorator_and_for_graphs_built_before() -> None:
    _, early = _nan_through_sqrt(pg)  # built with anomaly mode off

    @pg.autograd.detect_anomaly()
    def run(loss):
        loss.backward()

    with pytest.raises(RuntimeError, match="created before anomaly detection"):
        run(early)
    assert not pg.autograd.is_anomaly_enabled()
