"""Edge cases a breaker found in plaingrad.lens, with the right answers from
PyTorch, scikit-learn or the mathematics."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad import lens, nn
from plaingrad.utils.data import DataLoader, TensorDataset


def test_attention_out_proj_hook_fires_as_in_torch():
    torch = import_torch()
    fired = {}
    for lib in (torch, pg):
        layer = lib.nn.MultiheadAttention(8, 2, batch_first=True)
        seen = []
        layer.out_proj.register_forward_hook(lambda m, i, o, seen=seen: seen.append(1))
        x = lib.randn(3, 5, 8)
        layer(x, x, x)
        fired[lib.__name__] = len(seen)
    assert fired["plaingrad"] == fired["torch"] == 0


def test_a_batch_first_transformer_captures_one_row_per_sample():
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    model = nn.TransformerEncoder(layer, 1)
    acts = lens.capture(model, pg.randn(20, 3, 8), batch_size=7)
    assert {len(a) for a in acts.values()} == {20}


def test_a_sequence_first_layer_is_refused_not_misread():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(2, 4)  # sequence first, as in torch

        def forward(self, x):
            return self.rnn(x)[0]

    with pytest.raises(ValueError, match="module 'rnn' \\(LSTM\\) is sequence-first"):
        lens.capture(Net(), pg.randn(6, 10, 2), batch_size=3)


def test_a_layer_that_folds_the_batch_is_refused():
    model = nn.Sequential(nn.Linear(3, 2), nn.Flatten(0))
    with pytest.raises(ValueError, match="layer '1' returned 8 rows for a batch of 4"):
        lens.capture(model, pg.randn(4, 3))


def test_probe_layers_refuses_a_loader_whose_order_the_labels_do_not_follow():
    x, y = pg.randn(16, 2), pg.zeros(16, dtype=pg.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    with pytest.raises(TypeError, match="probe_layers: `x_train` must be a Tensor"):
        lens.probe_layers(nn.Linear(2, 2), None, loader, y, x, y)


def test_pca_sign_is_the_same_for_tied_entries_in_any_row_order():
    t = np.linspace(-1, 1, 9)[:, None]
    x = t * np.array([1.0, -1.0])
    reference = lens.pca(x, k=1)[2]
    rng = np.random.default_rng(0)
    for _ in range(20):
        shuffled = x[rng.permutation(len(x))]
        np.testing.assert_allclose(lens.pca(shuffled, k=1)[2], reference)
        np.testing.assert_allclose(lens.pca(-shuffled, k=1)[2], reference)


def test_silhouette_keeps_its_digits_under_a_large_offset():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    labels = rng.integers(0, 3, 40)
    want = silhouette_score(x, labels)
    assert lens.silhouette(x * 1e-6 + 1e6, labels) == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("scale", [1e80, 1e-90])
def test_cka_is_scale_invariant_at_extreme_scales(scale):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 4))
    assert lens.linear_cka(scale * x, y) == pytest.approx(lens.linear_cka(x, y))


def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="pca: `x` must hold at least one sample"):
        lens.pca(np.zeros((0, 3)))
