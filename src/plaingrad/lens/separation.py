"""How well a layer separates the classes, and who its samples' neighbours are.

All distances are euclidean, in the layer's own activation space.

- ``silhouette``: the mean silhouette coefficient, ``(b - a) / max(a, b)``
  per sample with ``a`` the mean distance to the rest of its class and ``b``
  the smallest mean distance to another class (0 for a class of one sample),
  as scikit-learn's ``silhouette_score`` defines it; computed in row chunks so
  that the ``N x N`` distance matrix is never held whole.
- ``class_distance_ratio``: how far apart the class centroids are, relative to
  how far samples lie from their own centroid.
- ``nearest_neighbours``: the ``k`` samples closest to a given one.
- ``separation``: the class statistics for every layer of a capture.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._common import as_labels, as_matrix, squared_distances

# Rows of the distance matrix computed at once by silhouette (rows x N floats).
_CHUNK_ELEMENTS = 4_000_000


def _labelled(fn: str, x: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, int]:
    data = as_matrix(fn, "x", x)
    classes, codes = as_labels(fn, labels, len(data))
    if not 2 <= len(classes) <= len(data) - 1:
        raise ValueError(
            f"{fn}: needs between 2 and N - 1 = {len(data) - 1} distinct labels, "
            f"got {len(classes)}"
        )
    return data, codes, len(classes)


def silhouette(x: Any, labels: Any) -> float:
    """The mean silhouette coefficient of ``x`` clustered by ``labels``.

    Args:
        x: ``(N, features)`` activations.
        labels: ``N`` labels, with between 2 and ``N - 1`` distinct values.

    Returns:
        A float in [-1, 1]: near 1 when every sample is much closer to its own
        class than to any other, near 0 when the classes overlap.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0], [1.0], [10.0], [11.0]])
        >>> # a = 1 for every sample; b = 10.5 for 0 and 11, 9.5 for 1 and 10
        >>> round(silhouette(x, [0, 0, 1, 1]), 6)  # (9.5/10.5 + 8.5/9.5) / 2
        0.899749
    """
    data, codes, count = _labelled("silhouette", x, labels)
    # distances by |a|^2 + |b|^2 - 2ab lose the digits a large common offset
    # holds (points near 1e6 spread by 1e-6); centred they keep them
    data = data - data.mean(axis=0)
    n = len(data)
    one_hot = np.zeros((n, count))
    one_hot[np.arange(n), codes] = 1.0
    sizes = one_hot.sum(axis=0)

    scores = np.empty(n)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        distances = np.sqrt(squared_distances(data[rows], data))
        distances[np.arange(len(rows)), rows] = 0.0  # exact zero to itself
        sums = distances @ one_hot  # (rows, classes): distance to each class
        own = codes[rows]
        own_size = sizes[own]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = sums[np.arange(len(rows)), own] / (own_size - 1)
            means = sums / sizes
        means[np.arange(len(rows)), own] = np.inf
        b = means.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (b - a) / np.maximum(a, b)
        scores[rows] = np.where(own_size > 1, np.nan_to_num(s), 0.0)
    return float(scores.mean())


def class_distance_ratio(x: Any, labels: Any, *, details: bool = False) -> Any:
    """Mean distance between class centroids over mean distance to own centroid.

    With ``mu_c`` the mean of the samples of class ``c``:

    - between = the mean of ``|mu_c - mu_d|`` over the unordered pairs of
      distinct classes ``c != d`` (each pair once, unweighted);
    - within = the mean of ``|x_i - mu_(y_i)|`` over all samples ``i`` (so
      classes weigh by their size);
    - ratio = between / within; ``inf`` when every sample sits on its class
      centroid (and the centroids differ).

    A higher ratio means classes lie further apart relative to their spread.

    Args:
        x: ``(N, features)`` activations.
        labels: ``N`` labels, with between 2 and ``N - 1`` distinct values.
        details: return ``(ratio, between, within)`` rather than the ratio.

    Returns:
        The ratio as a float, or ``(ratio, between, within)``.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]])
        >>> class_distance_ratio(x, [0, 0, 1, 1], details=True)
        (4.0, 4.0, 1.0)
    """
    data, codes, count = _labelled("class_distance_ratio", x, labels)
    sizes = np.bincount(codes, minlength=count)
    centroids = np.zeros((count, data.shape[1]))
    np.add.at(centroids, codes, data)
    centroids /= sizes[:, None]

    within = float(np.linalg.norm(data - centroids[codes], axis=1).mean())
    upper = np.triu_indices(count, k=1)
    gaps = centroids[upper[0]] - centroids[upper[1]]
    between = float(np.linalg.norm(gaps, axis=1).mean())
    if within > 0:
        ratio = between / within
    else:
        ratio = float("inf") if between > 0 else float("nan")
    return (ratio, between, within) if details else ratio


def nearest_neighbours(acts: Any, index: int, k: int = 5) -> Any:
    """The ``k`` samples nearest to sample ``index`` in representation space.

    Args:
        acts: ``(N, features)`` activations, or a dict of them per layer (as
            ``capture`` returns).
        index: the row of the query sample (negative counts from the end).
        k: how many neighbours, at most ``N - 1``; the sample itself is left
            out, other samples at distance 0 are not.

    Returns:
        ``(indices, distances)``: two ``(k,)`` arrays, nearest first (ties by
        lower index). For a dict, a dict from each layer to that pair.

    Example:
        >>> import numpy as np
        >>> points = np.array([[0.0], [5.0], [1.0], [3.0]])
        >>> indices, distances = nearest_neighbours(points, 0, k=2)
        >>> indices.tolist(), distances.tolist()
        ([2, 3], [1.0, 3.0])
    """
    if isinstance(acts, Mapping):
        return OrderedDict(
            (name, nearest_neighbours(layer, index, k)) for name, layer in acts.items()
        )
    data = as_matrix("nearest_neighbours", "acts", acts)
    n = len(data)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(
            f"nearest_neighbours: `index` must be an int, got {type(index).__name__}"
        )
    if not -n <= index < n:
        raise IndexError(
            f"nearest_neighbours: `index` {index} is out of range for {n} samples"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(
            f"nearest_neighbours: `k` must be an int from 1 to N - 1 = {n - 1}, "
            f"got {k!r}"
        )
    index = int(index) % n
    distances = np.linalg.norm(data - data[index], axis=1)
    distances[index] = np.inf  # not its own neighbour
    order = np.argsort(distances, kind="stable")[:k]
    return order, distances[order]


def separation(acts_by_layer: Mapping[str, Any], labels: Any) -> OrderedDict:
    """Class-separation statistics for every layer.

    Args:
        acts_by_layer: layer name to ``(N, features)`` activations (``capture``'s
            result, the raw input first).
        labels: the ``N`` samples' labels.

    Returns:
        An ``OrderedDict`` from layer name to a dict with ``"silhouette"``,
        ``"class_distance_ratio"``, ``"between_class_distance"`` and
        ``"within_class_distance"`` (floats), in the layers' order.
    """
    if not isinstance(acts_by_layer, Mapping) or not acts_by_layer:
        raise TypeError(
            "separation: `acts_by_layer` must be a non-empty dict of layer "
            f"activations (as `capture` returns), got {type(acts_by_layer).__name__}"
        )
    result: OrderedDict[str, dict[str, float]] = OrderedDict()
    for name, acts in acts_by_layer.items():
        ratio, between, within = class_distance_ratio(acts, labels, details=True)
        result[name] = {
            "silhouette": silhouette(acts, labels),
            "class_distance_ratio": ratio,
            "between_class_distance": between,
            "within_class_distance": within,
        }
    return result
