"""plaingrad.lens.similarity: linear CKA from its definition and its known
properties, the CKA matrix of captures, and its heatmap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plaingrad as pg
from plaingrad import nn
from plaingrad.lens import capture, cka_heatmap, cka_matrix, linear_cka

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def _orthogonal(d: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(_normal(d, d, seed=seed))
    return q


# ------------------------------------------------------------------------- CKA


def _cka_by_gram(x: np.ndarray, y: np.ndarray) -> float:
    """CKA from its definition with the centring matrix H = I - 11^T / n."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h
    return np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_))


def test_cka_hand_computed_example():
    # Centred already; Y^T X = [2, 2], |X^T X|_F^2 = 8, |Y^T Y|_F^2 = 16:
    # CKA = 8 / sqrt(8 * 16) = 1 / sqrt(2). Y's offset is removed by centring.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    y = np.array([[1.0], [1.0], [-1.0], [-1.0]]) + 5.0

    assert linear_cka(x, y) == pytest.approx(2**-0.5, abs=1e-12)


def test_cka_of_one_feature_each_is_the_squared_correlation():
    x, y = _normal(30, seed=1), _normal(30, seed=2)

    expected = np.corrcoef(x, y)[0, 1] ** 2

    assert linear_cka(x, y) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape_x, shape_y", [((20, 3), (20, 5)), ((6, 30), (6, 40))])
def test_cka_matches_the_gram_definition(shape_x, shape_y):
    # The second case has more features than samples: the Gram-matrix branch.
    x, y = _normal(*shape_x, seed=1), _normal(*shape_y, seed=2) + 1.0

    assert linear_cka(x, y) == pytest.approx(_cka_by_gram(x, y), abs=1e-12)


def test_cka_invariances():
    x = _normal(40, 6, seed=1)
    y = np.tanh(x @ _normal(6, 4, seed=2))
    q = _orthogonal(6, seed=3)
    base = linear_cka(x, y)

    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, -2.5 * x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x + 3.0) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(7.0 * x, 0.1 * y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(y, x) == pytest.approx(base, abs=1e-12)


def test_cka_is_not_invariant_to_an_anisotropic_stretch():
    x = _normal(100, 4, seed=4)
    stretch = np.diag([10.0, 1.0, 1.0, 1.0])  # invertible, not orthogonal

    value = linear_cka(x, x @ stretch)

    assert value < 0.7
    # Whitened data gives the exact value: |S|_F^2 / sqrt(4 |S^2|_F^2).
    assert value == pytest.approx(103 / np.sqrt(4 * 10003), abs=0.1)


@given(
    st.integers(3, 12),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 2**32 - 1),
)
def test_cka_lies_in_0_1_and_is_symmetric(n, p, q, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q)) ** 3

    value = linear_cka(x, y)

    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(linear_cka(y, x), abs=1e-12)
    assert value == pytest.approx(_cka_by_gram(x, y), abs=1e-9)


def test_cka_of_a_constant_representation_is_nan():
    assert np.isnan(linear_cka(_normal(5, 2), np.ones((5, 3))))


def test_cka_rejects_different_sample_counts():
    with pytest.raises(ValueError, match="5 and 4 rows"):
        linear_cka(_normal(5, 2), _normal(4, 2))


def test_cka_matrix_of_one_capture_and_of_two_models():
    x = _normal(16, 4, seed=1)
    pg.manual_seed(0)
    model_a = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    pg.manual_seed(1)
    model_b = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
    acts_a, acts_b = capture(model_a, x), capture(model_b, x)

    within = cka_matrix(acts_a)
    between = cka_matrix(acts_a, acts_b)

    names_a, names_b = list(acts_a), list(acts_b)
    assert within.shape == (4, 4) and between.shape == (4, 3)
    np.testing.assert_allclose(np.diag(within), 1.0, atol=1e-12)
    np.testing.assert_array_equal(within, within.T)
    for i, a in enumerate(names_a):
        for j, b in enumerate(names_a):
            assert within[i, j] == pytest.approx(linear_cka(acts_a[a], acts_a[b]))
        for j, b in enumerate(names_b):
            assert between[i, j] == pytest.approx(linear_cka(acts_a[a], acts_b[b]))
    assert between[0, 0] == pytest.approx(1.0)  # both start from the same input


def test_cka_matrix_takes_lists_and_checks_sample_counts():
    x = _normal(10, 3)

    matrix = cka_matrix([x, x @ _orthogonal(3), np.ones((10, 2))])

    np.testing.assert_allclose(matrix[:2, :2], 1.0, atol=1e-12)
    assert np.isnan(matrix[2]).all() and np.isnan(matrix[:, 2]).all()
    with pytest.raises(ValueError, match="same samples"):
        cka_matrix([x, x[:5]])
    with pytest.raises(TypeError, match="dict of layer activations"):
        cka_matrix(x)


def test_cka_heatmap_draws_the_matrix(tmp_path):
    pytest.importorskip("matplotlib")
    matrix = np.array([[1.0, 0.25], [0.25, 1.0], [0.5, np.nan]])
    path = tmp_path / "cka.png"

    figure = cka_heatmap(matrix, ["a", "b", "c"], path, column_names=["x", "y"])

    axes = figure.axes[0]
    image = axes.get_images()[0].get_array()
    np.testing.assert_array_equal(image.filled(-1), [[1, 0.25], [0.25, 1], [0.5, -1]])
    assert [t.get_text() for t in axes.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["x", "y"]
    assert "nan" in [t.get_text() for t in axes.texts]
    assert path.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        cka_heatmap(matrix, ["a", "b", "c"])
