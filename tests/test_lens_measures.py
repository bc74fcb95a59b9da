"""plaingrad.lens measures: PCA, t-SNE/UMAP, scatter plots and the class-separation
statistics, checked against mathematics, NumPy and sklearn (CKA has its own
file, test_lens_similarity.py)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import plaingrad as pg
from plaingrad.datasets import MissingExtraError
from plaingrad.lens import (
    cka_heatmap,
    class_distance_ratio,
    nearest_neighbours,
    pca,
    scatter,
    separation,
    silhouette,
    tsne,
    umap,
)

# The package's `separation` is the function; the module is reached by name.
separation_module = importlib.import_module("plaingrad.lens.separation")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def _orthogonal(d: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(_normal(d, d, seed=seed))
    return q


def _blobs(per_class: int = 20, seed: int = 0, spread: float = 0.3) -> tuple:
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 5.0, -2.0]])
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.normal(size=(per_class, 3)) for c in centres])
    return x, np.repeat(np.arange(3), per_class)


# ------------------------------------------------------------------------ PCA


def test_pca_points_on_a_line_explain_everything():
    direction = np.array([2.0, -1.0, 2.0]) / 3.0
    t = np.linspace(-2.0, 3.0, 11)
    points = t[:, None] * direction + np.array([1.0, 1.0, 1.0])

    projected, ratio, components = pca(points, k=2)

    np.testing.assert_allclose(ratio, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(components[0], direction, atol=1e-12)  # 2 > |-1|
    np.testing.assert_allclose(projected[:, 0], t - t.mean(), atol=1e-12)
    np.testing.assert_allclose(projected[:, 1], 0.0, atol=1e-12)


def test_pca_recovers_the_rotation_of_an_exactly_anisotropic_cloud():
    # Columns that are exactly orthonormal and centred, scaled 4 : 2 : 1, then
    # rotated by R: the principal axes are R's columns, the variances 16 : 4 : 1.
    # (Q spans the centred columns of A, which are orthogonal to the ones.)
    a = _normal(40, 3)
    basis, _ = np.linalg.qr(a - a.mean(0))
    rotation = _orthogonal(3, seed=3)
    x = basis @ np.diag([4.0, 2.0, 1.0]) @ rotation.T + 7.0

    _, ratio, components = pca(x, k=3)

    np.testing.assert_allclose(ratio, np.array([16.0, 4.0, 1.0]) / 21.0, atol=1e-12)
    alignment = components @ rotation  # +-1 on the diagonal, 0 elsewhere
    np.testing.assert_allclose(np.abs(alignment), np.eye(3), atol=1e-10)


def test_pca_of_a_sampled_rotated_gaussian_finds_its_axes():
    angle = np.deg2rad(30.0)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    x = (_normal(20000, 2, seed=5) * [3.0, 1.0]) @ rotation.T

    _, ratio, components = pca(x)

    np.testing.assert_allclose(np.abs(components @ rotation), np.eye(2), atol=0.01)
    np.testing.assert_allclose(ratio, [0.9, 0.1], atol=0.01)


def test_pca_matches_numpy_svd_up_to_sign():
    x = _normal(30, 5, seed=1) @ _normal(5, 5, seed=2)
    centred = x - x.mean(0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)

    projected, ratio, components = pca(x, k=3)

    signs = np.sign(np.sum(components * vt[:3], axis=1))
    np.testing.assert_allclose(components, vt[:3] * signs[:, None], atol=1e-12)
    np.testing.assert_allclose(projected, u[:, :3] * s[:3] * signs, atol=1e-10)
    np.testing.assert_allclose(ratio, s[:3] ** 2 / np.sum(s**2), atol=1e-12)


def test_pca_matches_sklearn_up_to_sign():
    decomposition = pytest.importorskip("sklearn.decomposition")
    x = _normal(50, 6, seed=4) @ _normal(6, 6, seed=5)

    projected, ratio, components = pca(x, k=4)
    reference = decomposition.PCA(n_components=4, svd_solver="full").fit(x)

    signs = np.sign(np.sum(components * reference.components_, axis=1))
    np.testing.assert_allclose(
        components, reference.components_ * signs[:, None], atol=1e-10
    )
    np.testing.assert_allclose(projected, reference.transform(x) * signs, atol=1e-9)
    np.testing.assert_allclose(ratio, reference.explained_variance_ratio_, atol=1e-12)


def test_pca_sign_convention_is_fixed():
    x = _normal(25, 4, seed=6)

    _, _, components = pca(x, k=4)
    projected_neg, _, components_neg = pca(-x, k=4)
    _, _, components_perm = pca(x[::-1], k=4)

    biggest = np.argmax(np.abs(components), axis=1)
    assert np.all(components[np.arange(4), biggest] > 0)
    np.testing.assert_allclose(components_neg, components, atol=1e-12)
    np.testing.assert_allclose(components_perm, components, atol=1e-12)
    np.testing.assert_allclose(projected_neg, -pca(x, k=4)[0], atol=1e-12)


def test_pca_of_constant_data_and_of_tensors():
    _, ratio, _ = pca(np.ones((5, 3)), k=2)
    projected, _, _ = pca(pg.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), k=1)

    np.testing.assert_array_equal(ratio, [0.0, 0.0])
    np.testing.assert_allclose(np.abs(projected[:, 0]), [2 * 2**0.5, 0, 2 * 2**0.5])


@pytest.mark.parametrize("k", [0, 4, 11])
def test_pca_rejects_k_out_of_range(k):
    with pytest.raises(ValueError, match=r"min\(N, features\) = 3"):
        pca(_normal(10, 3), k=k)


def test_pca_rejects_nan():
    x = _normal(4, 2)
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pca(x)


# -------------------------------------------------------------- t-SNE and UMAP


def test_tsne_keeps_separate_clusters_apart_and_repeats_with_its_seed():
    pytest.importorskip("sklearn.manifold")
    x, labels = _blobs(per_class=15)
    x = np.concatenate([x, _normal(45, 7, seed=9) * 0.1], axis=1)  # 10-D

    first = tsne(x, k=2, seed=3)
    again = tsne(x, k=2, seed=3)

    assert first.shape == (45, 2)
    np.testing.assert_array_equal(first, again)
    assert silhouette(first, labels) > 0.6


def test_tsne_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(MissingExtraError, match=r"plaingrad\[digits\]"):
        tsne(_normal(10, 3))


def test_umap_without_umap_learn_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)
    with pytest.raises(MissingExtraError, match="umap-learn"):
        umap(_normal(10, 3))


# ---------------------------------------------------------------- scatter plot


def test_scatter_draws_one_plot_per_layer_coloured_by_label(tmp_path):
    pytest.importorskip("matplotlib")
    x, labels = _blobs(per_class=5)
    projections = {"input": x[:, :2], "hidden": x[:, 1:], "output": -x[:, :2]}
    path = tmp_path / "layers.png"

    figure = scatter(projections, labels, path=path, columns=2)

    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in visible] == ["input", "hidden", "output"]
    hidden = visible[1].collections
    assert len(hidden) == 3  # one per class
    np.testing.assert_allclose(hidden[2].get_offsets(), x[labels == 2, 1:])
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["0", "1", "2"]
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_scatter_rejects_bad_input():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="at least 2 columns"):
        scatter({"a": np.zeros((4, 1))})
    with pytest.raises(ValueError, match="same number of points"):
        scatter({"a": np.zeros((4, 2)), "b": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="one label per sample"):
        scatter({"a": np.zeros((4, 2))}, labels=[0, 1])


def test_plots_without_matplotlib_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingExtraError, match=r"plaingrad\[plot\]"):
        scatter({"a": np.zeros((3, 2))})
    with pytest.raises(MissingExtraError, match=r"plaingrad\[plot\]"):
        cka_heatmap(np.eye(2), ["a", "b"])


# ------------------------------------------------------------------ separation


@pytest.mark.parametrize("chunk", [None, 7])
def test_silhouette_equals_sklearn(monkeypatch, chunk):
    metrics = pytest.importorskip("sklearn.metrics")
    if chunk is not None:  # force several row chunks
        monkeypatch.setattr(separation_module, "_CHUNK_ELEMENTS", chunk * 31)
    x = _normal(31, 4, seed=2)
    labels = np.array(["b", "a", "c"] * 10 + ["d"])  # "d" is a class of one

    assert silhouette(x, labels) == pytest.approx(
        metrics.silhouette_score(x, labels), abs=1e-12
    )


def test_silhouette_of_separate_and_of_mixed_classes():
    metrics = pytest.importorskip("sklearn.metrics")
    x, labels = _blobs()
    shuffled = np.random.default_rng(0).permutation(labels)

    separate, mixed = silhouette(x, labels), silhouette(x, shuffled)

    assert separate > 0.8 and abs(mixed) < 0.1
    assert mixed == pytest.approx(metrics.silhouette_score(x, shuffled), abs=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3]])
def test_silhouette_needs_2_to_n_minus_1_classes(labels):
    with pytest.raises(ValueError, match="between 2 and N - 1 = 3"):
        silhouette(_normal(4, 2), labels)


def test_class_distance_ratio_of_hand_made_clusters():
    # Centroids (0, 0), (4, 0), (0, 10); every sample 1 from its centroid.
    x = np.array(
        [[0, 1], [0, -1], [4, 1], [4, -1], [1, 10], [-1, 10]], dtype=np.float64
    )
    between = (4.0 + 10.0 + np.sqrt(116.0)) / 3

    ratio, b, w = class_distance_ratio(x, [0, 0, 1, 1, 2, 2], details=True)

    assert (b, w) == (pytest.approx(between), pytest.approx(1.0))
    assert ratio == pytest.approx(between)


def test_class_distance_ratio_weighs_samples_not_classes():
    # Class 0: two samples 1 from (0, 0); class 1: four samples 3 from (4, 0).
    x = np.array([[0, 1], [0, -1], [4, 3], [4, -3], [4, 3], [4, -3]], dtype=float)

    ratio = class_distance_ratio(x, [0, 0, 1, 1, 1, 1])

    assert ratio == pytest.approx(4.0 / ((2 * 1 + 4 * 3) / 6))


def test_class_distance_ratio_of_collapsed_classes_is_infinite():
    x = np.array([[0.0], [0.0], [2.0], [2.0]])

    assert class_distance_ratio(x, [0, 0, 1, 1]) == np.inf


def _brute_force_neighbours(x: np.ndarray, index: int, k: int) -> tuple:
    pairs = []
    for j in range(len(x)):
        if j != index:
            pairs.append((float(np.sqrt(np.sum((x[j] - x[index]) ** 2))), j))
    pairs.sort()
    return [j for _, j in pairs[:k]], [d for d, _ in pairs[:k]]


@pytest.mark.parametrize("index, k", [(0, 1), (7, 5), (-1, 39), (20, 10)])
def test_nearest_neighbours_match_brute_force(index, k):
    x = _normal(40, 3, seed=3)
    x[11] = x[20]  # a duplicate of sample 20: its nearest, at distance 0

    indices, distances = nearest_neighbours(x, index, k)

    expected_indices, expected_distances = _brute_force_neighbours(x, index % 40, k)
    assert indices.tolist() == expected_indices
    np.testing.assert_allclose(distances, expected_distances, atol=1e-12)
    if index == 20:
        assert indices[0] == 11 and distances[0] == 0.0


def test_nearest_neighbours_per_layer_and_errors():
    acts = {"a": _normal(6, 2, seed=1), "b": _normal(6, 4, seed=2)}

    per_layer = nearest_neighbours(acts, 2, k=3)

    assert list(per_layer) == ["a", "b"]
    for name, (indices, _) in per_layer.items():
        assert indices.tolist() == _brute_force_neighbours(acts[name], 2, 3)[0]
    with pytest.raises(ValueError, match="N - 1 = 5"):
        nearest_neighbours(acts["a"], 0, k=6)
    with pytest.raises(IndexError, match="out of range"):
        nearest_neighbours(acts["a"], 6)


def test_separation_reports_every_layer_in_order():
    x, labels = _blobs(per_class=8)
    acts = {"input": x, "noise": _normal(24, 3, seed=7)}

    stats = separation(acts, pg.tensor(labels))

    assert list(stats) == ["input", "noise"]
    for name, layer in stats.items():
        ratio, between, within = class_distance_ratio(acts[name], labels, details=True)
        assert layer == {
            "silhouette": pytest.approx(silhouette(acts[name], labels)),
            "class_distance_ratio": pytest.approx(ratio),
            "between_class_distance": pytest.approx(between),
            "within_class_distance": pytest.approx(within),
        }
    assert stats["input"]["silhouette"] > 0.8 > 0.2 > stats["noise"]["silhouette"]
    assert (
        stats["input"]["class_distance_ratio"]
        > 5 * stats["noise"]["class_distance_ratio"]
    )
