"""``nn.init`` orthogonal_ and trunc_normal_; ParameterList and ParameterDict.

Random initialisers cannot match PyTorch draw for draw, so they are checked
for the property that defines them (orthogonality; the truncated normal's
bounds and moments, computed in closed form). The containers are built the
same way in both libraries and compared by keys, reprs and gradients.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


# ------------------------------------------------------------------ orthogonal_


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (4, 2, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape: tuple) -> None:
    w = pg.nn.init.orthogonal_(pg.empty(*shape, dtype=pg.float64), gain=2.0)
    flat = w.numpy().reshape(shape[0], -1)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_generator_and_errors() -> None:
    a = pg.nn.init.orthogonal_(pg.empty(3, 3), generator=pg.Generator().manual_seed(1))
    b = pg.nn.init.orthogonal_(pg.empty(3, 3), generator=pg.Generator().manual_seed(1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="2 or more dimensions"):
        pg.nn.init.orthogonal_(pg.empty(3))


# ---------------------------------------------------------------- trunc_normal_


def _truncated_moments(mean: float, std: float, a: float, b: float) -> tuple:
    def pdf(x: float) -> float:
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return (1 + math.erf(x / math.sqrt(2))) / 2

    alpha, beta = (a - mean) / std, (b - mean) / std
    z = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - shift**2
    return mean + std * shift, std * math.sqrt(var)


@pytest.mark.parametrize(
    "args", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, 0.0, 3.0), (0.0, 0.02, -0.04, 0.04)]
)
def test_trunc_normal_bounds_and_moments(args: tuple) -> None:
    mean, std, a, b = args
    pg.manual_seed(0)
    w = pg.nn.init.trunc_normal_(pg.empty(200_000, dtype=pg.float64), *args)
    values = w.numpy()
    assert values.min() >= a and values.max() <= b
    expected_mean, expected_std = _truncated_moments(*args)
    np.testing.assert_allclose(values.mean(), expected_mean, atol=0.01 * std)
    np.testing.assert_allclose(values.std(), expected_std, rtol=0.01)


def test_trunc_normal_matches_torch_in_distribution(torch: ModuleType) -> None:
    torch.manual_seed(0)
    theirs = torch.nn.init.trunc_normal_(torch.empty(100_000), 1.0, 2.0, 0.0, 3.0)
    pg.manual_seed(0)
    ours = pg.nn.init.trunc_normal_(pg.empty(100_000), 1.0, 2.0, 0.0, 3.0)
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    np.testing.assert_allclose(
        np.quantile(ours.numpy(), quantiles),
        np.quantile(theirs.numpy(), quantiles),
        atol=0.03,
    )


# ---------------------------------------------------------------- ParameterList


def _holder(lib: ModuleType) -> Any:
    nn = lib.nn

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.plist = nn.ParameterList([lib.ones(2), nn.Parameter(lib.ones(3))])
            self.plist.append(nn.Parameter(lib.ones(2, 2), requires_grad=False))
            self.pdict = nn.ParameterDict({"w": lib.ones(2), "b": lib.zeros(1)})
            self.pdict["c"] = nn.Parameter(lib.ones(1, dtype=lib.float64))

        def forward(self, x: Any) -> Any:
            out = x * self.plist[0] + self.plist[-2].sum()
            return out * self.pdict["w"] + self.pdict["b"]

    return Holder()


def test_parameter_containers_match_torch(torch: ModuleType) -> None:
    ours, theirs = _holder(pg), _holder(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs).replace("torch.", "plaingrad.")
    names = [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters()] == names
    for module in (ours, theirs):
        lib = pg if module is ours else torch
        module(lib.tensor([1.0, 2.0])).sum().backward()
    for (name, p), (_, t) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.requires_grad == t.requires_grad, name
        if t.grad is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), err_msg=name)


def test_parameter_list_behaviour() -> None:
    plist = pg.nn.ParameterList([pg.ones(1), pg.ones(2)])
    assert isinstance(plist[0], pg.nn.Parameter) and plist[0].requires_grad
    plist += [pg.ones(3)]
    assert [tuple(p.shape) for p in plist] == [(1,), (2,), (3,)]
    assert len(plist[1:]) == 2 and tuple(plist[-1].shape) == (3,)
    plist[0] = pg.zeros(4)
    assert tuple(plist[0].shape) == (4,) and isinstance(plist[0], pg.nn.Parameter)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        plist[3]
    with pytest.raises(RuntimeError, match="should not be called"):
        plist(1)
    assert repr(pg.nn.ParameterList()) == "ParameterList()"


def test_parameter_dict_behaviour() -> None:
    pdict = pg.nn.ParameterDict({"b": pg.ones(1), "a": pg.ones(2)})
    assert list(pdict) == ["a", "b"]  # a plain dict is added sorted, as PyTorch
    pdict.update(OrderedDict([("z", pg.ones(1)), ("y", pg.ones(1))]))
    assert list(pdict.keys()) == ["a", "b", "z", "y"]
    assert "z" in pdict and len(pdict) == 4
    assert tuple(pdict.pop("z").shape) == (1,) and "z" not in pdict
    assert pdict.get("nope") is None
    assert pdict.setdefault("x", pg.ones(5)).shape == (5,)
    key, _ = pdict.popitem()
    assert key == "x"
    assert list(pdict.copy()) == ["a", "b", "y"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pdict["nope"]
    with pytest.raises(TypeError, match="keys must be strings"):
        pdict[1] = pg.ones(1)
    pdict.clear()
    assert len(pdict) == 0 and list(pdict.state_dict()) == []
