"""Projections of a layer's activations to 2-D or 3-D, and scatter plots of them.

- ``pca``: principal components from plaingrad's own SVD of the centred data
  (NumPy's ``linalg.svd``, not scikit-learn), with a fixed sign for each
  component so that the same data always gives the same picture;
- ``tsne``: t-SNE from scikit-learn (the ``digits`` extra), seeded;
- ``umap``: UMAP from ``umap-learn`` when it is installed;
- ``scatter``: one scatter plot per layer, points coloured by label.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..datasets.digits import MissingExtraError
from ._common import as_labels, as_matrix, figure, save

# Distinct colours for up to this many classes; more get a continuous colormap.
_QUALITATIVE = (("tab10", 10), ("tab20", 20))


def pca(x: Any, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project ``x`` on its first ``k`` principal components.

    The rows of ``x`` are centred and decomposed as ``U S V^T``; the
    components are the first ``k`` rows of ``V^T``, each signed so that its
    entry of largest magnitude is positive (the first such entry on a tie).

    Args:
        x: ``(N, features)`` samples (more dimensions are flattened).
        k: how many components, from 1 to ``min(N, features)``.

    Returns:
        ``(projected, explained_variance_ratio, components)``: the ``(N, k)``
        coordinates of the centred samples on the components; the ``(k,)``
        share of the total variance along each (all zeros for data with no
        variance); and the ``(k, features)`` unit components.

    Example:
        >>> import numpy as np
        >>> t = np.linspace(-1.0, 1.0, 5)[:, None]
        >>> points = t * np.array([[3.0, 4.0]])  # on a line through 0
        >>> projected, ratio, components = pca(points, k=1)
        >>> ratio.round(6).tolist(), components.round(6).tolist()
        ([1.0], [[0.6, 0.8]])
    """
    data = as_matrix("pca", "x", x)
    n, features = data.shape
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"pca: `k` must be an int, got {type(k).__name__}")
    if not 1 <= k <= min(n, features):
        raise ValueError(
            f"pca: `k` must be between 1 and min(N, features) = {min(n, features)} "
            f"for x of shape {data.shape}, got {k}"
        )
    centred = data - data.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k]
    # The sign of a singular vector is arbitrary; fix it so results repeat.
    # The largest entry in size, the first of those that tie within rounding
    # (t * (1, -1) has two), so that row order and negation cannot flip it.
    size = np.abs(components)
    near = size >= size.max(axis=1, keepdims=True) * (1 - 1e-9)
    biggest = np.argmax(near, axis=1)
    signs = np.sign(components[np.arange(k), biggest])
    components = components * signs[:, None]

    variance = singular**2
    total = variance.sum()
    ratio = variance[:k] / total if total > 0 else np.zeros(k)
    return centred @ components.T, ratio, components


def tsne(x: Any, k: int = 2, seed: int = 0, **kw: Any) -> np.ndarray:
    """Embed ``x`` in ``k`` dimensions with scikit-learn's t-SNE.

    ``perplexity`` defaults to scikit-learn's 30, lowered to ``(N - 1) / 3``
    for small ``N`` (t-SNE needs it below ``N``); other keywords go to
    ``sklearn.manifold.TSNE`` unchanged.

    Args:
        x: ``(N, features)`` samples.
        k: the embedding's dimension (t-SNE's ``n_components``; 2 or 3).
        seed: ``random_state``; the same seed gives the same embedding.
            scikit-learn starts t-SNE from the PCA projection by default
            (``init="pca"``), which is the same whatever the seed; pass
            ``init="random"`` for seeds that give different embeddings.
        **kw: more arguments of ``sklearn.manifold.TSNE``.

    Returns:
        The ``(N, k)`` embedding.

    Raises:
        MissingExtraError: when scikit-learn is not installed.
    """
    data = as_matrix("tsne", "x", x, min_rows=2)
    try:
        from sklearn.manifold import TSNE  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError(
            "plaingrad.lens.tsne needs scikit-learn, which is not installed; "
            'install it with: pip install "plaingrad[digits]"'
        ) from None
    kw.setdefault("perplexity", min(30.0, max(1.0, (len(data) - 1) / 3)))
    model = TSNE(n_components=k, random_state=seed, **kw)
    return np.asarray(model.fit_transform(data), dtype=np.float64)


def umap(x: Any, k: int = 2, seed: int = 0, **kw: Any) -> np.ndarray:
    """Embed ``x`` in ``k`` dimensions with UMAP (``umap-learn``).

    Args:
        x: ``(N, features)`` samples.
        k: the embedding's dimension (``n_components``).
        seed: ``random_state``.
        **kw: more arguments of ``umap.UMAP``.

    Returns:
        The ``(N, k)`` embedding.

    Raises:
        MissingExtraError: when umap-learn is not installed.
    """
    data = as_matrix("umap", "x", x, min_rows=2)
    try:
        import umap as umap_learn  # type: ignore[import-not-found]
    except ImportError:
        raise MissingExtraError(
            "plaingrad.lens.umap needs umap-learn, which is not installed; "
            "install it with: pip install umap-learn"
        ) from None
    model = umap_learn.UMAP(n_components=k, random_state=seed, **kw)
    return np.asarray(model.fit_transform(data), dtype=np.float64)


def scatter(
    projections_by_layer: Mapping[str, Any],
    labels: Any = None,
    path: str | os.PathLike | None = None,
    *,
    columns: int = 3,
    title: str | None = None,
) -> Any:
    """One scatter plot per layer of its 2-D projection, coloured by label.

    Args:
        projections_by_layer: layer name to ``(N, 2)`` (or wider: the first
            two columns are drawn) coordinates, e.g. ``pca(acts)[0]`` for each
            entry of ``capture``'s result; every layer has the same ``N``.
        labels: ``N`` labels, one colour each (a legend names them), or None
            for one colour.
        path: where to save the figure as PNG, if given.
        columns: plots per row.
        title: a title over the whole figure.

    Returns:
        The ``matplotlib.figure.Figure`` (drawn without pyplot).

    Raises:
        MissingExtraError: when matplotlib is not installed.
    """
    if not isinstance(projections_by_layer, Mapping) or not projections_by_layer:
        raise ValueError(
            "scatter: `projections_by_layer` must be a non-empty dict from layer "
            f"names to (N, 2) coordinates, got {type(projections_by_layer).__name__}"
        )
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"scatter: `columns` must be a positive int, got {columns!r}")
    points = {}
    for name, value in projections_by_layer.items():
        array = as_matrix("scatter", f"projections_by_layer[{name!r}]", value)
        if array.shape[1] < 2:
            raise ValueError(
                f"scatter: `projections_by_layer[{name!r}]` must have at least 2 "
                f"columns (x, y), got shape {array.shape}"
            )
        points[str(name)] = array[:, :2]
    sizes = {len(array) for array in points.values()}
    if len(sizes) != 1:
        raise ValueError(
            "scatter: every layer must have the same number of points, got "
            f"{ {name: len(a) for name, a in points.items()} }"
        )
    n = sizes.pop()
    if labels is not None:
        classes, codes = as_labels("scatter", labels, n)

    columns = min(columns, len(points))
    rows = math.ceil(len(points) / columns)
    fig = figure("scatter", (3.2 * columns + 1.0, 3.0 * rows))
    grid = fig.subplots(rows, columns, squeeze=False)
    colours = _colours(len(classes)) if labels is not None else []
    for axes, (name, xy) in zip(grid.flat, points.items()):
        if labels is None:
            axes.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
        else:
            for index, label in enumerate(classes):
                chosen = codes == index
                axes.scatter(
                    xy[chosen, 0],
                    xy[chosen, 1],
                    s=6,
                    alpha=0.7,
                    color=colours[index],
                    label=str(label),
                )
        axes.set_title(name, fontsize=9)
        axes.set_xticks([])
        axes.set_yticks([])
    for axes in list(grid.flat)[len(points) :]:
        axes.set_visible(False)
    if labels is not None and len(classes) <= 20:
        handles, names = grid.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right", markerscale=2, fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return save(fig, path)


def _colours(count: int) -> list[Any]:
    import matplotlib  # figure() has already checked it is installed

    for name, size in _QUALITATIVE:
        if count <= size:
            return [matplotlib.colormaps[name](i) for i in range(count)]
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / max(count - 1, 1)) for i in range(count)]
