"""Adadelta, Adamax, NAdam, RAdam and LBFGS against PyTorch, and the parts of
``Optimizer`` every optimizer shares (groups, state dicts, zero_grad, skipping).

The trajectory helpers are those of ``test_optim.py``: both libraries start
from the same float64 weights, see the same data and loss, and must agree after
every one of 100 steps (rtol 1e-5, atol 1e-9).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from test_optim import _assert_params_close, _loss, _mlp, _step, _twin_models

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


_ALL = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "LBFGS",
]
_NEW = ["Adadelta", "Adamax", "NAdam", "RAdam"]


def _closure_step(lib: ModuleType, model: Any, opt: Any) -> float:
    """One ``step(closure)``, as LBFGS needs; returns the loss it reports."""

    def closure() -> Any:
        opt.zero_grad()
        loss = _loss(lib, model)
        loss.backward()
        return loss

    return float(opt.step(closure).detach())


def _to_pg(value: Any) -> Any:
    """A torch state value with every tensor converted to plaingrad's."""
    if isinstance(value, (list, tuple)):
        return type(value)(_to_pg(v) for v in value)
    if hasattr(value, "detach"):
        return pg.tensor(value.detach().numpy().copy())
    return value


def _converted(state_dict: dict) -> dict:
    return {
        "state": {
            i: {k: _to_pg(v) for k, v in s.items()}
            for i, s in state_dict["state"].items()
        },
        "param_groups": state_dict["param_groups"],
    }


def _arrays(value: Any) -> list:
    """Every NumPy array inside a state value (lists included)."""
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    if hasattr(value, "numpy") and not isinstance(value, (float, int)):
        return [value.numpy()]
    return []


def _assert_state_close(ours: dict, theirs: dict) -> None:
    """Two state dicts' states hold the same names and values."""
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i, state in theirs["state"].items():
        assert sorted(ours["state"][i]) == sorted(state), i
        for key, value in state.items():
            mine = ours["state"][i][key]
            if isinstance(value, list):
                assert len(mine) == len(value), key
                pairs = [(a, b) for a, b in zip(mine, value) if b is not None]
            else:
                pairs = [(mine, value)]
            for a, b in pairs:
                expected = b.numpy() if hasattr(b, "numpy") else np.asarray(b)
                got = a.numpy() if hasattr(a, "numpy") else np.asarray(a)
                np.testing.assert_allclose(
                    got, expected, rtol=1e-5, atol=1e-9, err_msg=key
                )


# ------------------------------------------------------------ trajectories

_CONFIGS = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, maximize=True, weight_decay=0.01)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, betas=(0.8, 0.99))),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, maximize=True)),
    # Variants of the older optimizers the other files leave out.
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.1, maximize=True, weight_decay=0.1)),
]


@pytest.mark.parametrize(("name", "options"), _CONFIGS)
def test_trajectory_matches_torch(torch: ModuleType, name: str, options: dict) -> None:
    ours, theirs = _twin_models(torch)
    opt_ours = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for step in range(1, 101):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)
    _assert_state_close(opt_ours.state_dict(), opt_theirs.state_dict())


# L-BFGS on this MLP is chaotic for most settings: PyTorch against itself from
# weights one ulp apart drifts past 1e-5 within 40 steps (checked for lr 0.1,
# max_iter 4; lr 1 with strong_wolfe, max_iter 3). These two stay well
# conditioned for 100 steps; the logistic regression below is convex.
_LBFGS_CONFIGS = [
    dict(lr=0.05, max_iter=2, history_size=10),
    dict(
        lr=0.3, max_iter=1, max_eval=4, history_size=20, line_search_fn="strong_wolfe"
    ),
]


@pytest.mark.parametrize("options", _LBFGS_CONFIGS)
def test_lbfgs_trajectory_matches_torch(torch: ModuleType, options: dict) -> None:
    ours, theirs = _twin_models(torch)
    opt_ours = pg.optim.LBFGS(ours.parameters(), **options)
    opt_theirs = torch.optim.LBFGS(theirs.parameters(), **options)
    for step in range(1, 101):
        loss = _closure_step(pg, ours, opt_ours)
        loss_ref = _closure_step(torch, theirs, opt_theirs)
        assert loss == pytest.approx(loss_ref, rel=1e-5, abs=1e-9)
        _assert_params_close(ours, theirs, step)
    state, state_ref = opt_ours.state_dict(), opt_theirs.state_dict()
    for key in ("func_evals", "n_iter"):
        assert state["state"][0][key] == state_ref["state"][0][key]
    _assert_state_close(state, state_ref)


_RNG = np.random.default_rng(7)
_FEATURES = _RNG.standard_normal((40, 5))
_LABELS = (_RNG.random(40) < 0.5).astype(np.float64)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(line_search_fn="strong_wolfe"),
        dict(lr=0.5, max_iter=1, history_size=3),
        # lr 4 overshoots: the line search must extrapolate and zoom.
        dict(
            lr=4, max_iter=1, max_eval=10, history_size=3, line_search_fn="strong_wolfe"
        ),
    ],
)
def test_lbfgs_logistic_regression_matches_torch(
    torch: ModuleType, options: dict
) -> None:
    def run(lib: ModuleType) -> list:
        w = lib.nn.Parameter(lib.tensor(np.zeros(5)))
        b = lib.nn.Parameter(lib.tensor(np.zeros(1)))
        opt = lib.optim.LBFGS([w, b], **options)
        x, y = lib.tensor(_FEATURES), lib.tensor(_LABELS)

        def closure() -> Any:
            opt.zero_grad()
            z = x @ w + b
            loss = (lib.nn.functional.softplus(z) - y * z).mean()
            loss = loss + 0.01 * (w * w).sum()
            loss.backward()
            return loss

        trace = []
        for _ in range(100):
            loss = float(opt.step(closure).detach())
            weights = np.concatenate([w.detach().numpy(), b.detach().numpy()])
            trace.append((loss, weights, opt.state[w]["func_evals"]))
        return trace

    ours, theirs = run(pg), run(torch)
    for step, ((loss, w, evals), (loss_ref, w_ref, evals_ref)) in enumerate(
        zip(ours, theirs), 1
    ):
        assert evals == evals_ref, step
        assert loss == pytest.approx(loss_ref, rel=1e-5, abs=1e-9), step
        np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-9, err_msg=str(step))
    if options.get("lr") == 4:
        assert ours[9][2] > 2 * 10  # more than one trial step per iteration


def test_lbfgs_stops_at_once_when_the_gradient_is_small(torch: ModuleType) -> None:
    w = pg.nn.Parameter(pg.tensor([2.0], dtype=pg.float64))
    opt = pg.optim.LBFGS([w], tolerance_grad=1e-3)

    def closure() -> Any:
        opt.zero_grad()
        loss = ((w - 2.0) ** 2).sum()  # gradient 0 at the start
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0
    assert opt.state[w]["func_evals"] == 1 and opt.state[w]["n_iter"] == 0
    assert w.item() == 2.0


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_minimises_a_quadratic_exactly(line_search_fn: Any) -> None:
    # f(x) = 1/2 x'Ax - b'x has its minimum at A^-1 b; L-BFGS with its
    # history reaches it on a 3-dimensional quadratic well within 50 steps.
    a = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
    b = np.array([1.0, -2.0, 0.5])
    x = pg.nn.Parameter(pg.zeros(3, dtype=pg.float64))
    opt = pg.optim.LBFGS(
        [x],
        max_iter=50,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,  # the default 1e-9 on the loss stops at 1e-5
        line_search_fn=line_search_fn,
    )
    a_t, b_t = pg.tensor(a), pg.tensor(b)

    def closure() -> Any:
        opt.zero_grad()
        loss = 0.5 * (x * (a_t @ x)).sum() - (b_t * x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a, b), atol=1e-9)


def test_lbfgs_needs_a_closure_and_one_group() -> None:
    a, b = pg.nn.Parameter(pg.ones(2)), pg.nn.Parameter(pg.ones(2))
    with pytest.raises(TypeError, match="closure"):
        pg.optim.LBFGS([a]).step()
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        pg.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = pg.optim.LBFGS([a])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(ValueError, match="'strong_wolfe', got 'wolfe'"):
        pg.optim.LBFGS([a], line_search_fn="wolfe")


@pytest.mark.parametrize("name", [*_NEW, "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_their_own_options_match_torch(
    torch: ModuleType, name: str
) -> None:
    ours, theirs = _twin_models(torch)
    second = {
        "Adadelta": dict(lr=0.5, rho=0.8, weight_decay=0.1),
        "Adamax": dict(lr=0.005, betas=(0.8, 0.9), weight_decay=0.1),
        "NAdam": dict(lr=0.005, weight_decay=0.1, decoupled_weight_decay=True),
        "RAdam": dict(lr=0.005, weight_decay=0.1, decoupled_weight_decay=True),
        "Adam": dict(lr=0.005, amsgrad=True, weight_decay=0.05),
        "AdamW": dict(lr=0.005, weight_decay=0.2, betas=(0.8, 0.9)),
        "RMSprop": dict(lr=0.002, centered=True, momentum=0.5),
        "Adagrad": dict(lr=0.05, lr_decay=0.01, weight_decay=0.1),
    }[name]

    def groups(model: Any) -> list:
        return [
            {"params": model[0].parameters()},
            {"params": model[2].parameters(), **second},
        ]

    lr = 0.002 if name == "RMSprop" else 0.02
    opt_ours = getattr(pg.optim, name)(groups(ours), lr=lr)
    opt_theirs = getattr(torch.optim, name)(groups(theirs), lr=lr)
    for key, value in second.items():
        assert opt_ours.param_groups[1][key] == value
    assert opt_ours.param_groups[0]["lr"] == lr
    for step in range(1, 101):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


# ------------------------------------------------------------ known values


def test_adam_and_adamw_known_values_from_the_formulas() -> None:
    # lr 0.1, weight_decay 0.1, gradient 0, w = 1. Adam's L2 decay makes the
    # gradient 0.1 w; with Adam's bias-corrected moments that gives 0.9, then
    # 0.800412. AdamW's decay is w *= 1 - lr * wd and the moments stay 0.
    lr, wd, b1, b2, eps = 0.1, 0.1, 0.9, 0.999, 1e-8
    w, m, v = 1.0, 0.0, 0.0
    expected = []
    for t in (1, 2):
        g = wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr / (1 - b1**t) * m / (math.sqrt(v) / math.sqrt(1 - b2**t) + eps)
        expected.append(w)
    assert expected == pytest.approx([0.9, 0.800412], abs=1e-6)

    adam = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    adamw = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.Adam([adam], lr=lr, weight_decay=wd)
    opt_w = pg.optim.AdamW([adamw], lr=lr, weight_decay=wd)
    for value, value_w in zip(expected, (0.99, 0.9801)):
        adam.grad = pg.zeros(1, dtype=pg.float64)
        adamw.grad = pg.zeros(1, dtype=pg.float64)
        opt.step()
        opt_w.step()
        assert adam.item() == pytest.approx(value, rel=1e-12)
        assert adamw.item() == pytest.approx(value_w, rel=1e-12)


def test_adadelta_known_values() -> None:
    # rho 0.5, eps 1: v = 0.5, delta = sqrt(0 + 1) / sqrt(0.5 + 1) * 1,
    # u = 0.5 delta^2; step 2: v = 0.75, delta = sqrt(u + 1) / sqrt(1.75).
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.Adadelta([w], lr=1.0, rho=0.5, eps=1.0)
    delta1 = 1 / math.sqrt(1.5)
    delta2 = math.sqrt(0.5 * delta1**2 + 1) / math.sqrt(1.75)
    for value in (1 - delta1, 1 - delta1 - delta2):
        w.grad = pg.ones(1, dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(value, abs=1e-12)


def test_adamax_known_values() -> None:
    # g = 2 then -1, eps 0: u = 2 then max(0.999 * 2, 1) = 1.998;
    # m = 0.2 then 0.9 * 0.2 - 0.1 = 0.08.
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.Adamax([w], lr=0.1, eps=0.0)
    first = 1 - 0.1 / 0.1 * 0.2 / 2
    second = first - 0.1 / (1 - 0.81) * 0.08 / 1.998
    for g, value in ((2.0, first), (-1.0, second)):
        w.grad = pg.tensor([g], dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(value, abs=1e-12)


def test_radam_is_momentum_sgd_until_rho_passes_5() -> None:
    # rho_t = rho_inf - 2 t b2^t / (1 - b2^t) is at most 5 for the first
    # steps, where the update is lr * m / (1 - b1^t) with no second moment.
    b1, b2 = 0.9, 0.999
    rho_inf = 2 / (1 - b2) - 1
    w = pg.nn.Parameter(pg.tensor([0.0], dtype=pg.float64))
    opt = pg.optim.RAdam([w], lr=0.1)
    expected, m = 0.0, 0.0
    for t in range(1, 5):
        assert rho_inf - 2 * t * b2**t / (1 - b2**t) <= 5
        g = float(t)
        m = b1 * m + (1 - b1) * g
        expected -= 0.1 * m / (1 - b1**t)
        w.grad = pg.tensor([g], dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(expected, abs=1e-12)


def test_nadam_first_step_known_value() -> None:
    # momentum_decay 0: mu = 0.9 * 0.5 = 0.45 every step. Step 1 with g = 1:
    # m = 0.1, sqrt(v / (1 - b2)) = 1, so p -= lr (1 - mu) / (1 - mu) g
    # + lr mu / (1 - mu^2) m (mu_product is a float32, hence rel 1e-7).
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.NAdam([w], lr=0.1, momentum_decay=0.0, eps=0.0)
    w.grad = pg.ones(1, dtype=pg.float64)
    opt.step()
    expected = 1 - 0.1 - 0.1 * 0.45 / (1 - 0.45**2) * 0.1
    assert w.item() == pytest.approx(expected, rel=1e-7)
    assert opt.state[w]["mu_product"].dtype == pg.float32


# ----------------------------------------------------- defaults and state


@pytest.mark.parametrize("name", _ALL)
def test_defaults_and_group_keys_are_torch_s(torch: ModuleType, name: str) -> None:
    ours = getattr(pg.optim, name)([pg.nn.Parameter(pg.ones(2))])
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))])
    assert ours.defaults == theirs.defaults
    assert list(ours.state_dict()["param_groups"][0]) == list(
        theirs.state_dict()["param_groups"][0]
    )


@pytest.mark.parametrize("name", [n for n in _ALL if n != "LBFGS"])
def test_state_names_and_step_dtype_are_torch_s(torch: ModuleType, name: str) -> None:
    options = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    ours, theirs = _twin_models(torch)
    opt = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for _ in range(3):
        _step(pg, ours, opt)
        _step(torch, theirs, opt_theirs)
    saved, reference = opt.state_dict(), opt_theirs.state_dict()
    _assert_state_close(saved, reference)
    for i, state in reference["state"].items():
        for key, value in state.items():
            assert isinstance(saved["state"][i][key], pg.Tensor), key
            mine = saved["state"][i][key].numpy()
            assert mine.dtype == value.numpy().dtype, key  # step: float32
            assert mine.shape == tuple(value.shape), key  # step: 0-d


def test_state_is_a_defaultdict_as_torch_s() -> None:
    w = pg.nn.Parameter(pg.ones(2))
    opt = pg.optim.Adam([w])
    assert opt.state[w] == {}  # no KeyError for a parameter without state


# ------------------------------------------------------ groups and errors


def test_add_param_group_errors_are_torch_s(torch: ModuleType) -> None:
    a, b = pg.nn.Parameter(pg.ones(2)), pg.nn.Parameter(pg.ones(2))
    ta = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError) as reference:
        torch.optim.SGD([ta], lr=0.1).add_param_group({"params": [ta]})
    opt = pg.optim.NAdam([a], lr=0.1)
    with pytest.raises(ValueError) as error:
        opt.add_param_group({"params": [b, a]})
    assert str(reference.value) in str(error.value)
    assert len(opt.param_groups) == 1

    from torch.optim.optimizer import required as torch_required

    from plaingrad.optim.optimizer import required

    with pytest.raises(ValueError) as reference:
        torch.optim.Optimizer([ta], dict(lr=torch_required))
    with pytest.raises(ValueError) as error:
        pg.optim.Optimizer([a], dict(lr=required))
    assert str(reference.value) in str(error.value)
    opt = pg.optim.Optimizer([{"params": [a], "lr": 0.5}], dict(lr=required))
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        opt.add_param_group({"params": [b]})
    opt.add_param_group({"params": [b], "lr": 0.1})
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Adadelta", dict(lr=-1.0)),
        ("Adadelta", dict(rho=1.5)),
        ("Adadelta", dict(rho=-0.1)),
        ("Adadelta", dict(eps=-1e-6)),
        ("Adadelta", dict(weight_decay=-0.5)),
        ("Adamax", dict(lr=-1.0)),
        ("Adamax", dict(eps=-1.0)),
        ("Adamax", dict(betas=(1.0, 0.999))),
        ("Adamax", dict(betas=(0.9, -0.1))),
        ("Adamax", dict(weight_decay=-0.1)),
        ("NAdam", dict(lr=-1.0)),
        ("NAdam", dict(lr=math.nan)),
        ("NAdam", dict(eps=-1e-8)),
        ("NAdam", dict(betas=(1.5, 0.999))),
        ("NAdam", dict(betas=(0.9, 1.0))),
        ("NAdam", dict(weight_decay=-0.1)),
        ("NAdam", dict(momentum_decay=-1.0)),
        ("RAdam", dict(lr=-1.0)),
        ("RAdam", dict(eps=-1e-8)),
        ("RAdam", dict(betas=(-0.1, 0.999))),
        ("RAdam", dict(betas=(0.9, 1.0))),
        ("RAdam", dict(weight_decay=-0.1)),
        ("LBFGS", dict(lr=-1.0)),
        ("Adam", dict(lr=-1.0, betas=(2.0, 0.9))),  # lr is checked first
        ("Adam", dict(betas=(2.0, 0.9), weight_decay=-1.0)),  # then betas
        ("SGD", dict(lr=0.1, nesterov=True)),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, nesterov=True)),
    ],
)
def test_bad_hyperparameters_give_torch_s_message(
    torch: ModuleType, name: str, options: dict
) -> None:
    with pytest.raises(ValueError) as reference:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **options)
    with pytest.raises(ValueError) as error:
        getattr(pg.optim, name)([pg.nn.Parameter(pg.ones(1))], **options)
    assert str(error.value).startswith(f"{name}: {reference.value}")


def test_load_state_dict_mismatches_raise_torch_s_errors(torch: ModuleType) -> None:
    def messages(lib: ModuleType) -> list:
        a, b, c = (lib.nn.Parameter(lib.ones(2)) for _ in range(3))
        source = lib.optim.RAdam([{"params": [a]}, {"params": [b]}])
        found = []
        for params in ([{"params": [a]}], [{"params": [a]}, {"params": [b, c]}]):
            target = lib.optim.RAdam(params, lr=0.5)
            with pytest.raises(ValueError) as error:
                target.load_state_dict(source.state_dict())
            assert all(g["lr"] == 0.5 for g in target.param_groups)
            found.append(str(error.value))
        return found

    for ours, theirs in zip(messages(pg), messages(torch)):
        assert theirs in ours


# ------------------------------------------------- zero_grad and skipping


@pytest.mark.parametrize("name", _ALL)
def test_zero_grad_both_ways(name: str) -> None:
    model = _mlp(pg)
    opt = getattr(pg.optim, name)(model.parameters())
    _loss(pg, model).backward()
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(model.parameters(), grads):
        assert p.grad is g  # the same tensor, filled with zeros
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(tuple(p.shape)))
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Adadelta", dict(weight_decay=0.5)),
        ("Adamax", dict(lr=0.1, weight_decay=0.5)),
        ("NAdam", dict(lr=0.1, weight_decay=0.5)),
        ("NAdam", dict(lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)),
        ("RAdam", dict(lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)),
        ("Adam", dict(lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)),
        ("SGD", dict(lr=0.1, weight_decay=0.5, maximize=True)),
    ],
)
def test_parameters_without_grad_are_skipped(
    torch: ModuleType, name: str, options: dict
) -> None:
    used, unused = pg.nn.Parameter(pg.ones(2)), pg.nn.Parameter(pg.ones(3))
    ref_used = torch.nn.Parameter(torch.ones(2))
    ref_unused = torch.nn.Parameter(torch.ones(3))
    opt = getattr(pg.optim, name)([used, unused], **options)
    ref = getattr(torch.optim, name)([ref_used, ref_unused], **options)
    for _ in range(3):
        for o, p in ((opt, used), (ref, ref_used)):
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
    np.testing.assert_array_equal(unused.detach().numpy(), np.ones(3))
    assert unused.grad is None and unused not in opt.state
    np.testing.assert_allclose(
        used.detach().numpy(), ref_used.detach().numpy(), rtol=1e-6
    )


# ------------------------------------------------------------ state dicts

_ROUND_TRIP = [
    ("Adadelta", dict(lr=0.5, weight_decay=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.01)),
    ("LBFGS", _LBFGS_CONFIGS[0]),
    ("LBFGS", _LBFGS_CONFIGS[1]),
]


def _advance(lib: ModuleType, model: Any, opt: Any) -> None:
    if type(opt).__name__ == "LBFGS":
        _closure_step(lib, model, opt)
    else:
        _step(lib, model, opt)


def _scribble(opt: Any) -> None:
    for state in opt.state.values():
        for value in state.values():
            for array in _arrays(value):
                array[...] = 1e6


@pytest.mark.parametrize(("name", "options"), _ROUND_TRIP)
def test_state_dict_round_trip_continues_the_trajectory(
    torch: ModuleType, name: str, options: dict
) -> None:
    ours, theirs = _twin_models(torch)
    opt = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for _ in range(10):
        _advance(pg, ours, opt)
        _advance(torch, theirs, opt_theirs)
    saved = opt.state_dict()
    _assert_state_close(saved, opt_theirs.state_dict())

    twin = _mlp(pg)
    twin.load_state_dict(ours.state_dict())
    resumed = getattr(pg.optim, name)(twin.parameters(), lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == options["lr"]
    # A deep copy: scribbling on the dict, or on the source's own state,
    # changes nothing in the loaded optimizer.
    for state in saved["state"].values():
        for value in state.values():
            for array in _arrays(value):
                array[...] = 1e6
    checkpoint = opt.state_dict()
    _scribble(opt)
    opt.load_state_dict(checkpoint)
    _assert_state_close(resumed.state_dict(), checkpoint)

    for step in range(11, 31):
        _advance(pg, ours, opt)
        _advance(pg, twin, resumed)
        _advance(torch, theirs, opt_theirs)
        for a, b in zip(ours.parameters(), twin.parameters()):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_params_close(ours, theirs, step)


@pytest.mark.parametrize(("name", "options"), _ROUND_TRIP)
def test_loading_a_state_dict_from_torch(
    torch: ModuleType, name: str, options: dict
) -> None:
    ours, theirs = _twin_models(torch)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for _ in range(5):
        _advance(torch, theirs, opt_theirs)
    ours.load_state_dict(
        {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    opt = getattr(pg.optim, name)(ours.parameters(), **options)
    opt.load_state_dict(_converted(opt_theirs.state_dict()))
    for step in range(6, 26):
        _advance(pg, ours, opt)
        _advance(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


def test_loading_an_old_state_dict_with_a_numeric_step(torch: ModuleType) -> None:
    ours, theirs = _twin_models(torch)
    opt_theirs = torch.optim.Adamax(theirs.parameters(), lr=0.01)
    for _ in range(3):
        _step(torch, theirs, opt_theirs)
    ours.load_state_dict(
        {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    converted = _converted(opt_theirs.state_dict())
    for state in converted["state"].values():
        state["step"] = 3  # as PyTorch before 1.12 saved it
    opt = pg.optim.Adamax(ours.parameters(), lr=0.01)
    opt.load_state_dict(converted)
    assert opt.state[next(iter(ours.parameters()))]["step"].dtype == pg.float32
    for step in range(4, 9):
        _step(pg, ours, opt)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)
