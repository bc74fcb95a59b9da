"""GradientMonitor and its verdicts, on the issue's demonstrations.

The demonstrations train small MLPs on the bundled digits for 40 steps with
batches of 64 (a few tenths of a second each) and check the verdicts; the
healthy and vanishing runs are repeated under three seeds and learning rates
x0.5 and x2. The measures the monitor records are checked against NumPy
computations of the same quantities, and the verdict rules against
hand-built histories on each side of their thresholds.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import plaingrad as torch
from plaingrad import nn
from plaingrad.cli.train import build_mlp
from plaingrad.explain import GradientMonitor, verdicts
from plaingrad.explain.verdicts import judge

DOCS = Path(__file__).resolve().parents[1] / "docs" / "verdicts.md"
DEEP = [64] + [64] * 19 + [10]  # 20 Linear layers
DIGITS_MLP = [64, 128, 64, 10]
SWEEP = [(seed, factor) for seed in (0, 1, 2) for factor in (0.5, 1.0, 2.0)]


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from plaingrad.datasets import load_digits

    return load_digits()


def train(
    data,
    sizes,
    activation,
    *,
    optimizer="sgd",
    lr=0.1,
    seed=0,
    init=None,
    hidden_bias=None,
    steps=40,
    batch_size=64,
    record=None,
):
    """Train an MLP on random batches of the digits with a monitor attached."""
    torch.manual_seed(seed)
    model = build_mlp(sizes, activation)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if init == "kaiming":
        for layer in linears:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    if hidden_bias is not None:
        for layer in linears[:-1]:
            nn.init.constant_(layer.bias, hidden_bias)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    monitor = GradientMonitor(model)
    batches = torch.Generator().manual_seed(seed)
    criterion = nn.CrossEntropyLoss()
    for _ in range(steps):
        index = torch.randint(
            0, data.x_train.shape[0], (batch_size,), generator=batches
        )
        loss = criterion(model(data.x_train[index]), data.y_train[index])
        opt.zero_grad()
        loss.backward()
        if record is not None:
            record.append(
                [
                    math.sqrt(
                        sum(
                            float(np.sum(p.grad.numpy().astype(np.float64) ** 2))
                            for p in layer.parameters()
                        )
                    )
                    for layer in linears
                ]
            )
        opt.step()
        monitor.step(loss)
    return model, monitor


def names(monitor):
    return [v.name for v in monitor.verdicts()]


# ----------------------------------------------------------- demonstrations


def test_deep_sigmoid_is_vanishing_and_names_the_layers(digits):
    by_hand = []
    _, monitor = train(digits, DEEP, "sigmoid", record=by_hand)
    recorded = np.array([monitor.history["grad_norm"][n] for n in monitor.layers]).T
    np.testing.assert_allclose(recorded, np.array(by_hand), rtol=1e-6)

    (verdict,) = monitor.verdicts()
    assert verdict.name == "vanishing_gradients"
    ratios = np.median(np.array(by_hand) / np.array(by_hand)[:, -1:], axis=0)
    expected = {n for n, r in zip(monitor.layers, ratios) if r < 1e-3}
    assert set(verdict.layers) == expected
    # sigma' <= 1/4 per layer: the first layers are certainly far below 1e-3.
    assert {"0", "2", "4"} <= expected and monitor.layers[-1] not in expected
    assert verdict.threshold == 1e-3
    assert "collapses at layer" in verdict.message


@pytest.mark.parametrize(("seed", "factor"), SWEEP)
def test_deep_sigmoid_verdict_is_stable(digits, seed, factor):
    _, monitor = train(digits, DEEP, "sigmoid", lr=0.1 * factor, seed=seed)
    assert names(monitor) == ["vanishing_gradients"]


@pytest.mark.parametrize(("seed", "factor"), SWEEP)
def test_deep_relu_kaiming_is_healthy(digits, seed, factor):
    _, monitor = train(digits, DEEP, "relu", lr=0.1 * factor, seed=seed, init="kaiming")
    assert names(monitor) == ["healthy"]


def test_digits_mlp_at_lr_10_explodes(digits):
    _, monitor = train(digits, DIGITS_MLP, "relu", lr=10.0, steps=20)
    found = {v.name: v for v in monitor.verdicts()}
    assert "exploding_gradients" in found
    losses = monitor.history["loss"]
    assert max(losses) > 1.5 * losses[0]
    assert found["exploding_gradients"].value > 1.0


def test_negative_biases_kill_the_relus(digits):
    model, monitor = train(digits, DIGITS_MLP, "relu", hidden_bias=-5.0)
    found = {v.name: v for v in monitor.verdicts()}
    dead = found["dead_units"]
    # Independently: no training sample makes any hidden unit fire.
    with torch.no_grad():
        first = model[1](model[0](digits.x_train)).numpy()
        second = model[3](model[2](model[1](model[0](digits.x_train)))).numpy()
    never = {
        "1": np.mean(np.all(first <= 0, axis=0)),
        "3": np.mean(np.all(second <= 0, axis=0)),
    }
    assert never == {"1": 1.0, "3": 1.0}
    assert dead.layers == pytest.approx(never)
    assert "1: 100%" in dead.message and "3: 100%" in dead.message


@pytest.mark.parametrize(("seed", "factor"), SWEEP)
def test_shallow_sigmoid_is_healthy(digits, seed, factor):
    _, monitor = train(digits, DIGITS_MLP, "sigmoid", lr=0.1 * factor, seed=seed)
    assert names(monitor) == ["healthy"]


@pytest.mark.parametrize(("seed", "factor"), SWEEP)
def test_default_digits_run_is_healthy(digits, seed, factor):
    _, monitor = train(
        digits, DIGITS_MLP, "relu", optimizer="adam", lr=1e-3 * factor, seed=seed
    )
    assert names(monitor) == ["healthy"]


# ----------------------------------------------------------- measures


def test_optimizer_hooks_record_update_ratio():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    monitor = GradientMonitor(model, opt)
    loss = model(torch.randn(5, 3)).pow(2).sum()
    loss.backward()
    expected = {}
    for name in ("0", "2"):
        layer = model.get_submodule(name)
        w = np.concatenate([p.detach().numpy().ravel() for p in layer.parameters()])
        g = np.concatenate([p.grad.numpy().ravel() for p in layer.parameters()])
        # SGD: w_after - w_before = -lr * g
        expected[name] = 0.5 * np.linalg.norm(g) / np.linalg.norm(w)
    monitor.record_loss(loss)
    opt.step()
    assert monitor.history["loss"] == [pytest.approx(loss.item())]
    for name, ratio in expected.items():
        assert monitor.history["update_ratio"][name] == [pytest.approx(ratio)]
    monitor.remove()
    opt.step()
    assert len(monitor.history["loss"]) == 1


def test_steps_without_a_loss_raise_no_alarm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    monitor = GradientMonitor(model, opt)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(4, 3)).pow(2).mean().backward()
        opt.step()  # no record_loss: the loss is unknown, not NaN
    assert monitor.history["loss"] == [None] * 5
    assert [v.name for v in monitor.verdicts()] == ["healthy"]


def test_dead_units_need_ten_silent_batches():
    model = nn.Sequential(nn.ReLU())
    monitor = GradientMonitor(model)
    batch = torch.tensor(
        [[-1.0, -2.0, 1.0, -1.0], [-3.0, 5.0, -1.0, -1.0]], requires_grad=True
    )
    for _ in range(9):
        model(batch)
        monitor.step(1.0)
    assert monitor.history["dead_fraction"]["0"][-1] == 0.0
    model(batch)
    monitor.step(1.0)
    assert monitor.history["dead_fraction"]["0"][-1] == 0.5  # units 0 and 3


def test_saturation_fractions_and_no_grad():
    model = nn.Sequential(nn.Sigmoid(), nn.Tanh())
    monitor = GradientMonitor(model)
    x = torch.tensor([[-10.0, 0.0, 10.0, 0.5]], requires_grad=True)
    model(x)
    monitor.step(1.0)
    # sigmoid: 4.5e-5 and 0.99995 are saturated; tanh of those: 0.99995 -> 0.76
    s = 1 / (1 + np.exp(-np.array([-10.0, 0.0, 10.0, 0.5])))
    assert monitor.history["saturation"]["0"] == [np.mean((s < 0.01) | (s > 0.99))]
    assert monitor.history["saturation"]["1"] == [np.mean(np.abs(np.tanh(s)) > 0.99)]
    with torch.no_grad():
        model(x)
    monitor.step(1.0)
    assert len(monitor.history["saturation"]["0"]) == 1


def test_nonfinite_forward_names_the_module():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(3e38)
    monitor = GradientMonitor(model)
    with np.errstate(over="ignore"):
        loss = model(torch.full((1, 2), 10.0)).sum()
    monitor.step(loss)
    (first, *_) = monitor.verdicts()
    assert first.name == "nonfinite"
    assert "module 0 (Linear)" in first.message


class _Sqrt(nn.Module):
    def forward(self, x):
        return x.sqrt()


def test_nonfinite_backward_names_the_op():
    model = nn.Sequential(nn.Linear(3, 1), _Sqrt())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
    monitor = GradientMonitor(model, detect_anomaly=True)
    loss = (model(torch.ones(2, 3)) * 0).sum()  # d sqrt / dx at 0 is inf; x 0: NaN
    with np.errstate(invalid="ignore", divide="ignore"):
        monitor.backward(loss)
    monitor.step(loss)
    (verdict,) = [v for v in monitor.verdicts() if v.name == "nonfinite"]
    assert "SqrtBackward0" in verdict.message
    assert "test_explain_monitor.py" in verdict.message  # the line that built it


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="GradientMonitor: `model` must be"):
        GradientMonitor(lambda x: x)


# ----------------------------------------------------------- verdict rules


def history(losses, ratios=None, grads=None):
    steps = len(losses)
    ratios = ratios or {"a": [1e-3] * steps}
    return {
        "loss": list(losses),
        "grad_norm": grads or {n: [1.0] * steps for n in ratios},
        "weight_norm": {n: [1.0] * steps for n in ratios},
        "update_ratio": ratios,
        "dead_fraction": {},
        "saturation": {},
        "nonfinite": [],
    }


def test_spike_is_twice_the_recent_maximum():
    calm = [1.0, 1.5] * 10
    assert [v.name for v in judge(history(calm + [2.9]))] == ["healthy"]
    (spike,) = judge(history(calm + [3.1]))
    assert spike.name == "loss_spike" and spike.value == pytest.approx(3.1 / 1.5)
    # late in a run, a jump among tiny losses (below 0.1 x the first) is noise
    late = [2.3] + [0.01, 0.015] * 10
    assert [v.name for v in judge(history(late + [0.05]))] == ["healthy"]
    assert [v.name for v in judge(history(late + [0.5]))] == ["loss_spike"]


def test_a_jump_the_run_recovers_from_is_not_an_explosion():
    ratios = {"a": [0.5, 3.0, 0.5, 0.5]}
    recovered = judge(history([1.0, 5.0, 0.8, 0.6], ratios))
    assert "exploding_gradients" not in [v.name for v in recovered]
    still_up = judge(history([1.0, 5.0, 3.0, 2.0], ratios))
    assert "exploding_gradients" in [v.name for v in still_up]


def test_learning_rate_from_update_ratios():
    def verdict(ratio):
        return [v.name for v in judge(history([1.0] * 5, {"a": [ratio] * 5}))]

    assert verdict(0.2) == ["lr_too_high"]
    assert verdict(0.05) == ["healthy"]
    assert verdict(2e-5) == ["healthy"]
    assert verdict(5e-6) == ["lr_too_low"]


def test_explosion_needs_both_measures():
    rising = [1.0, 2.0, 4.0]
    assert "exploding_gradients" in [
        v.name for v in judge(history(rising, {"a": [0.5, 3.0, 2.0]}))
    ]
    # A rising loss with modest updates, or big updates the loss absorbs.
    assert "exploding_gradients" not in [
        v.name for v in judge(history(rising, {"a": [0.5, 0.5, 0.5]}))
    ]
    assert "exploding_gradients" not in [
        v.name for v in judge(history([1.0, 0.9, 0.8], {"a": [3.0] * 3}))
    ]


def test_vanishing_is_relative_to_the_last_layer():
    grads = {"a": [1e-4] * 3, "b": [2e-3] * 3, "c": [1.0] * 3}
    ratios = {n: [1e-3] * 3 for n in grads}
    (verdict,) = judge(history([1.0] * 3, ratios, grads))
    assert verdict.name == "vanishing_gradients"
    assert verdict.layers == pytest.approx({"a": 1e-4})


def test_docs_define_every_verdict_and_threshold():
    text = DOCS.read_text()
    for name in (
        "VANISHING",
        "EXPLODING",
        "DEAD_UNITS",
        "SATURATION",
        "LOSS_SPIKE",
        "NONFINITE",
        "LR_TOO_HIGH",
        "LR_TOO_LOW",
        "HEALTHY",
    ):
        assert f"`{getattr(verdicts, name)}`" in text
    constants = [
        n
        for n in dir(verdicts)
        if re.fullmatch(r"[A-Z_]+", n)
        and isinstance(getattr(verdicts, n), (int, float))
    ]
    assert len(constants) >= 9
    for name in constants:
        documented = re.search(rf"`{name}` = ([0-9.e+-]+)", text)
        assert documented is not None, name
        assert float(documented.group(1)) == getattr(verdicts, name)
        assert name in verdicts.__doc__
