"""Representation drift (``plaingrad.lens.DriftTracker`` and ``drift``).

Each record's figures are recomputed here independently: the probe with
scikit-learn's logistic regression, the silhouette with scikit-learn's
``silhouette_score``, the CKA with the formula written out in NumPy on
activations taken by hand-written forward passes. Recording must not change
the run, and on the spirals the drift must show what training does: the raw
input's figures stay put while the last hidden layer's probe climbs from
near chance to above 0.95.
"""

from __future__ import annotations

import numpy as np
import pytest

import plaingrad as pg
from plaingrad import nn
from plaingrad.datasets import load_spirals
from plaingrad.lens import DriftTracker, drift, linear_probe


def _mlp(seed: int = 0) -> nn.Sequential:
    pg.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU())


def _classifier(seed: int = 0) -> nn.Sequential:
    net = _mlp(seed)
    net.append(nn.Linear(32, 2))
    return net


def _epoch(model, data, optimizer, generator) -> None:
    order = pg.randperm(len(data.y_train), generator=generator)
    for start in range(0, len(order), 32):
        batch = order[start : start + 32]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(
            model(data.x_train[batch]), data.y_train[batch]
        )
        loss.backward()
        optimizer.step()


def _numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _layers_by_hand(model: nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each module's output, by running the modules one after another."""
    acts = {"input": x}
    value = pg.from_numpy(x.astype(np.float32))
    with pg.no_grad():
        for index, module in enumerate(model):
            value = module(value)
            acts[str(index)] = value.numpy().astype(np.float64)
    return acts


@pytest.fixture(scope="module")
def spirals():
    return load_spirals(seed=0)


@pytest.fixture(scope="module")
def trained_run(spirals):
    """A spirals classifier recorded at epochs 0, 2, 10 and 40, with the
    models saved at each, and the same run without a tracker."""
    model = _classifier()
    tracker = DriftTracker(model, spirals.x_train, spirals.y_train, *_test(spirals))
    optimizer = pg.optim.Adam(model.parameters(), lr=1e-2)
    generator = pg.Generator().manual_seed(1)
    saved = {}
    tracker.record(0)
    saved[0] = _copy(model)
    for epoch in range(1, 41):
        _epoch(model, spirals, optimizer, generator)
        if epoch in (2, 10, 40):
            tracker.record(epoch)
            saved[epoch] = _copy(model)

    plain = _classifier()
    optimizer = pg.optim.Adam(plain.parameters(), lr=1e-2)
    generator = pg.Generator().manual_seed(1)
    for _ in range(40):
        _epoch(plain, spirals, optimizer, generator)
    return tracker, saved, model, plain


def _test(data):
    return data.x_test, data.y_test


def _copy(model: nn.Sequential) -> nn.Sequential:
    twin = _classifier(seed=99)
    twin.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    return twin


def test_recording_leaves_the_run_bitwise_unchanged(trained_run):
    _, _, model, plain = trained_run
    for (name, ours), theirs in zip(
        model.state_dict().items(), plain.state_dict().values(), strict=True
    ):
        assert np.array_equal(ours.numpy(), theirs.numpy()), name
    assert model.training  # put back in training mode after each record


def test_the_spirals_drift_shows_the_hidden_layer_learning(trained_run):
    tracker, _, _, _ = trained_run
    history = tracker.history
    assert [row["epoch"] for row in history] == [0, 2, 10, 40]
    names = [layer["name"] for layer in history[0]["layers"]]
    assert names == ["input", "0", "1", "2", "3", "4"]
    by_layer = {
        name: [row["layers"][i] for row in history] for i, name in enumerate(names)
    }
    # the raw input is the same at every epoch: same probe, CKA 1 to every record
    raw = by_layer["input"]
    assert len({r["probe_accuracy"] for r in raw}) == 1
    assert raw[0]["probe_accuracy"] < 0.7  # a straight line cannot split spirals
    for record in raw:
        for key in ("cka_to_first", "cka_to_last"):
            assert record[key] == pytest.approx(1.0, abs=1e-9)
    # the last hidden layer (the ReLU, "3") becomes linearly separable; its
    # random features already help (0.77-0.83 untrained for seeds 0-2, 0.98-0.99
    # after 40 epochs)
    hidden = by_layer["3"]
    assert hidden[0]["probe_accuracy"] < 0.9
    assert hidden[-1]["probe_accuracy"] > 0.95
    assert hidden[-1]["probe_accuracy"] - hidden[0]["probe_accuracy"] > 0.1
    assert hidden[0]["cka_to_previous"] is None
    assert hidden[-1]["cka_to_last"] == pytest.approx(1.0, abs=1e-9)
    # the logits move furthest: their classes pull apart (silhouette 0.01-0.02
    # untrained, 0.50-0.63 at epoch 40 for seeds 0-2) and they end far from
    # where they started (CKA to epoch 0: 0.06-0.29)
    logits = by_layer["4"]
    assert logits[0]["silhouette"] < 0.1 < 0.3 < logits[-1]["silhouette"]
    assert logits[-1]["cka_to_first"] < 0.5
    assert logits[0]["cka_to_last"] == pytest.approx(logits[-1]["cka_to_first"])


def test_each_figure_matches_an_independent_computation(trained_run, spirals):
    from sklearn.metrics import silhouette_score

    tracker, saved, _, _ = trained_run
    x_train = spirals.x_train.numpy().astype(np.float64)
    x_test = spirals.x_test.numpy().astype(np.float64)
    y_train, y_test = spirals.y_train.numpy(), spirals.y_test.numpy()
    by_hand = {e: _layers_by_hand(m, x_test) for e, m in saved.items()}
    epochs = list(saved)
    for index, row in enumerate(tracker.history):
        epoch = row["epoch"]
        train_acts = _layers_by_hand(saved[epoch], x_train)
        for layer in row["layers"]:
            name = layer["name"]
            test_acts = by_hand[epoch][name]
            assert layer["silhouette"] == pytest.approx(
                silhouette_score(test_acts, y_test), abs=1e-5
            )
            # the probe itself is checked against scikit-learn in
            # test_lens_probe.py; here it must have been fitted to the right
            # activations (one test sample of rounding between the float32
            # captures and these float64 copies)
            expected = linear_probe(train_acts[name], y_train, test_acts, y_test)
            assert layer["probe_accuracy"] == pytest.approx(expected, abs=0.0051)
            first, last = by_hand[epochs[0]][name], by_hand[epochs[-1]][name]
            assert layer["cka_to_first"] == pytest.approx(
                _numpy_cka(test_acts, first), rel=1e-5, abs=1e-6
            )
            assert layer["cka_to_last"] == pytest.approx(
                _numpy_cka(test_acts, last), rel=1e-5, abs=1e-6
            )
            if index:
                previous = by_hand[epochs[index - 1]][name]
                assert layer["cka_to_previous"] == pytest.approx(
                    _numpy_cka(test_acts, previous), rel=1e-5, abs=1e-6
                )


def test_drift_of_saved_models_equals_the_tracker(trained_run, spirals):
    tracker, saved, _, _ = trained_run
    rows = drift(saved, spirals.x_train, spirals.y_train, *_test(spirals))
    assert rows == tracker.history
    pair = tracker.cka_between(0, 40)
    assert pair == {layer["name"]: layer["cka_to_last"] for layer in rows[0]["layers"]}


def test_samples_limits_the_separation_statistics(spirals):
    from sklearn.metrics import silhouette_score

    model = _mlp()
    tracker = DriftTracker(
        model, spirals.x_train, spirals.y_train, *_test(spirals), samples=50
    )
    record = tracker.record("start")
    x = spirals.x_test.numpy()[:50].astype(np.float64)
    expected = silhouette_score(x, spirals.y_test.numpy()[:50])
    assert record["layers"][0]["silhouette"] == pytest.approx(expected, abs=1e-9)
    assert record["epoch"] == "start"


def test_without_probes_the_accuracy_is_none(spirals):
    tracker = DriftTracker(_mlp(), spirals.x_train, spirals.y_train, *_test(spirals))
    tracker.probe = False
    record = tracker.record(0)
    assert all(layer["probe_accuracy"] is None for layer in record["layers"])


def test_a_constant_layer_has_nan_cka():
    pg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    with pg.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)  # every ReLU output is 0
    x = pg.randn(30, 2)
    y = (x[:, 0] > 0).long()
    record = DriftTracker(model, x, y, x, y, probe=False).record(0)
    assert record["layers"][0]["cka_to_first"] == pytest.approx(1.0)  # the input
    assert np.isnan(record["layers"][1]["cka_to_first"])  # the Linear: all -1
    assert np.isnan(record["layers"][2]["cka_to_first"])  # the ReLU: all 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"samples": 1}, ValueError, "`samples` must be an integer from 2"),
        ({"samples": 10_000}, ValueError, "`samples` must be an integer from 2"),
        ({"samples": True}, ValueError, "`samples`"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"momentum": 0.9}, TypeError, "unexpected probe option"),
        ({"seed": "a"}, ValueError, "`seed` must be 0 or more, got 'a'"),
        ({"batch_size": 0}, ValueError, "`batch_size` must be a positive integer"),
        ({"layers": "Conv2d"}, ValueError, "Conv2d"),
    ],
)
def test_bad_settings_are_refused(spirals, kwargs, error, message):
    with pytest.raises(error, match=message):
        DriftTracker(
            _mlp(), spirals.x_train, spirals.y_train, *_test(spirals), **kwargs
        )


def test_bad_inputs_are_refused(spirals):
    x, y = spirals.x_train, spirals.y_train
    with pytest.raises(TypeError, match="`model` must be an nn.Module"):
        DriftTracker("net", x, y, x, y)
    with pytest.raises(TypeError, match="`x_train` must be a Tensor or a NumPy"):
        DriftTracker(_mlp(), x.tolist(), y, x, y)
    with pytest.raises(ValueError, match=r"`y_test` must be 1-D .* \(800\)"):
        DriftTracker(_mlp(), x, y, x, y[:10])
    with pytest.raises(TypeError, match="`y_train` must hold integer class labels"):
        DriftTracker(_mlp(), x, y.float(), x, y)
    with pytest.raises(TypeError, match="`models` must be a non-empty dict"):
        drift([], x, y, x, y)
    with pytest.raises(TypeError, match=r"`models\[1\]` must be an nn.Module"):
        drift({0: _mlp(), 1: None}, x, y, x, y, probe=False)


def test_a_repeated_epoch_or_changed_model_is_refused(spirals):
    tracker = DriftTracker(
        _mlp(), spirals.x_train, spirals.y_train, *_test(spirals), probe=False
    )
    tracker.record(1)
    with pytest.raises(ValueError, match="epoch 1 is recorded"):
        tracker.record(1)
    with pytest.raises(ValueError, match="must have the tracked model's layers"):
        tracker.record(2, nn.Sequential(nn.Linear(2, 4)))
    other = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Sigmoid())
    with pytest.raises(ValueError, match=r"got \[.*'Sigmoid'"):
        tracker.record(2, other)  # same paths, another activation
    wider = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 32), nn.ReLU())
    with pytest.raises(ValueError, match="layer '0' has 16 features at epoch 2, 32"):
        tracker.record(2, wider)
    for label in (float("nan"), True, np.array([1, 2]), None):
        with pytest.raises(ValueError, match="`epoch` must be an integer"):
            tracker.record(label)
    assert tracker.epochs == [1]  # nothing half-recorded
    with pytest.raises(KeyError, match=r"no record for epoch 7; recorded: \[1\]"):
        tracker.cka_between(1, 7)


class _Sampler(nn.Module):
    """A layer that draws noise in its forward pass, in training and in eval
    (as a VAE's sampling step may): it uses the global random stream."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 8)

    def forward(self, x):
        hidden = self.linear(x)
        return hidden + 0.1 * pg.randn_like(hidden)


def test_a_model_that_samples_runs_bitwise_the_same_with_a_tracker(spirals):
    def run(track: bool):
        pg.manual_seed(3)
        model = nn.Sequential(_Sampler(), nn.ReLU(), nn.Linear(8, 2))
        optimizer = pg.optim.SGD(model.parameters(), lr=0.1)
        tracker = DriftTracker(
            model, spirals.x_train, spirals.y_train, *_test(spirals), probe=False
        )
        for epoch in range(3):
            if track:
                tracker.record(epoch)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(spirals.x_train), spirals.y_train)
            loss.backward()
            optimizer.step()
        return [p.detach().numpy().copy() for p in model.parameters()], pg.rand(
            4
        ).numpy()

    tracked, untracked = run(True), run(False)
    for ours, theirs in zip(tracked[0], untracked[0], strict=True):
        assert np.array_equal(ours, theirs)
    assert np.array_equal(tracked[1], untracked[1])  # the stream goes on alike


def test_each_cka_pair_is_worked_out_once(spirals, monkeypatch):
    from plaingrad.lens import similarity

    calls = []
    original = similarity.Prepared.cka

    def counted(self, other):
        calls.append(1)
        return original(self, other)

    monkeypatch.setattr(similarity.Prepared, "cka", counted)
    model = _mlp()
    tracker = DriftTracker(
        model, spirals.x_train, spirals.y_train, *_test(spirals), probe=False
    )
    for epoch in range(6):
        with pg.no_grad():
            model[0].weight.mul_(1.1)  # something to drift
        tracker.record(epoch)
    layers = len(tracker.history[0]["layers"])
    # each record pairs with itself, the first, the previous and the newest:
    # at most 4 new pairs a record (the two in the first), never the whole square
    assert len(calls) <= 4 * 6 * layers
    before = len(calls)
    assert len(tracker.history) == 6
    assert len(calls) == before  # reading history again computes nothing


def test_wide_layers_are_kept_as_gram_matrices_with_the_same_cka():
    from plaingrad.lens import linear_cka

    pg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 200), nn.Tanh())  # 200 features, 40 rows
    x = pg.randn(40, 3)
    y = (x[:, 0] > 0).long()
    tracker = DriftTracker(model, x, y, x, y, probe=False)
    first = lens_capture(model, x)
    tracker.record(0)
    with pg.no_grad():
        model[0].weight.add_(0.5 * pg.randn(200, 3))
    tracker.record(1)
    second = lens_capture(model, x)
    assert tracker._kept[1]["0"].gram and not tracker._kept[1]["input"].gram
    pair = tracker.cka_between(0, 1)
    for name in ("0", "1"):
        assert pair[name] == pytest.approx(
            linear_cka(first[name], second[name]), rel=1e-9
        )
        assert pair[name] == pytest.approx(
            _numpy_cka(first[name], second[name]), rel=1e-6
        )


def lens_capture(model, x):
    from plaingrad.lens import capture

    return {k: v.astype(np.float64) for k, v in capture(model, x).items()}


def test_non_finite_activations_name_the_epoch_and_layer(spirals):
    model = _mlp()
    tracker = DriftTracker(
        model, spirals.x_train, spirals.y_train, *_test(spirals), probe=False
    )
    with pg.no_grad():
        model[2].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="epoch 5: layer '2' has NaN or Inf"):
        tracker.record(5)
    assert tracker.epochs == []
