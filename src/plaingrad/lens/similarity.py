"""How alike two representations are: linear CKA, per pair of layers.

Centred kernel alignment (Kornblith et al., 2019) compares two sets of
activations of the same ``N`` samples, ``X`` (N, p) and ``Y`` (N, q), through
their Gram matrices, so ``p`` and ``q`` may differ. With linear kernels and
the columns centred, the Hilbert-Schmidt independence criterion is
``HSIC(X, Y) = |Y^T X|_F^2`` (up to a factor ``1/(N-1)^2`` that cancels), and

    CKA(X, Y) = HSIC(X, Y) / sqrt(HSIC(X, X) * HSIC(Y, Y)).

It lies in [0, 1], is 1 for ``Y = c X Q`` with ``Q`` orthogonal and ``c != 0``
(a rotation, reflection or isotropic scaling changes nothing), and is not
invariant to other invertible linear maps: stretching one direction changes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from ._common import as_matrix, figure, save


def _centred(fn: str, name: str, x: Any) -> np.ndarray:
    """Centred, and scaled to unit Frobenius norm: CKA does not change under
    scaling, and its products then neither overflow nor underflow (1e80 * x
    or 1e-90 * x gives the same CKA as x)."""
    data = as_matrix(fn, name, x, min_rows=2)
    data = data - data.mean(axis=0)
    scale = np.max(np.abs(data))
    if scale > 0:
        data = data / scale  # first to order 1, so that the norm cannot overflow
        data = data / np.linalg.norm(data)
    return data


def _hsic(x: np.ndarray, y: np.ndarray) -> float:
    """``|Y^T X|_F^2`` for centred ``x``, ``y``: by the feature products when
    they are smaller than the ``N x N`` Gram matrices, else by the Gram ones."""
    n = len(x)
    if x.shape[1] * y.shape[1] <= n * n:
        return float(np.square(y.T @ x).sum())
    return float(((x @ x.T) * (y @ y.T)).sum())


def _cka(cross: Any, self_x: float, self_y: float) -> float:
    """CKA from ``cross()``, the HSIC of the pair (called only when both
    representations vary), and each one's own HSIC."""
    if self_x == 0.0 or self_y == 0.0:
        return float("nan")  # a representation without variance
    value = cross() / np.sqrt(self_x * self_y)
    return float(min(max(value, 0.0), 1.0))  # rounding may step just outside


class Prepared:
    """One representation made ready for many CKAs with others of the same
    samples (``DriftTracker`` keeps one per layer and record): centred and
    scaled once, its own HSIC worked out once, and held as its ``N x N``
    Gram matrix when that is smaller than its ``N x features`` activations.
    """

    def __init__(self, fn: str, name: str, x: Any) -> None:
        centred = _centred(fn, name, x)
        self.rows, self.width = centred.shape
        self.own = _hsic(centred, centred)
        self.gram = centred.shape[1] > self.rows
        self.data = centred @ centred.T if self.gram else centred

    def _as_gram(self) -> np.ndarray:
        return self.data if self.gram else self.data @ self.data.T

    def cka(self, other: Prepared) -> float:
        """Linear CKA with ``other`` (NaN when either is constant)."""

        def cross() -> float:
            if not (self.gram or other.gram):
                return _hsic(self.data, other.data)
            # |Y^T X|_F^2 = <X X^T, Y Y^T>
            return float((self._as_gram() * other._as_gram()).sum())

        return _cka(cross, self.own, other.own)


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA between two representations of the same samples.

    Args:
        x: ``(N, p)`` activations (more dimensions are flattened).
        y: ``(N, q)`` activations of the same ``N`` samples, in the same order.

    Returns:
        A float in [0, 1] (clipped there against rounding), or NaN when either
        representation is constant over the samples (CKA is then undefined).

    Raises:
        ValueError: ``x`` and ``y`` hold different numbers of samples, or
            fewer than 2.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(50, 4))
        >>> q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
        >>> round(linear_cka(x, 3.0 * x @ q), 10)
        1.0
    """
    cx = _centred("linear_cka", "x", x)
    cy = _centred("linear_cka", "y", y)
    if len(cx) != len(cy):
        raise ValueError(
            f"linear_cka: `x` and `y` must hold the same samples, got {len(cx)} "
            f"and {len(cy)} rows"
        )
    return _cka(partial(_hsic, cx, cy), _hsic(cx, cx), _hsic(cy, cy))


def _layers(fn: str, name: str, acts: Any) -> list[np.ndarray]:
    if isinstance(acts, Mapping):
        items = list(acts.items())
    elif isinstance(acts, Sequence) and not isinstance(acts, (str, bytes)):
        items = list(enumerate(acts))
    else:
        raise TypeError(
            f"{fn}: `{name}` must be a dict of layer activations (as `capture` "
            f"returns) or a list of arrays, got {type(acts).__name__}"
        )
    if not items:
        raise ValueError(f"{fn}: `{name}` holds no layers")
    return [_centred(fn, f"{name}[{key!r}]", value) for key, value in items]


def cka_matrix(acts_a: Any, acts_b: Any = None) -> np.ndarray:
    """Linear CKA between every pair of layers.

    Args:
        acts_a: layer activations, a dict (``capture``'s result) or a list of
            ``(N, features)`` arrays.
        acts_b: another model's layers on the same samples (another seed, or
            the same model before training); None compares ``acts_a`` with
            itself.

    Returns:
        A ``(len(acts_a), len(acts_b or acts_a))`` float64 array; entry
        ``[i, j]`` is ``linear_cka(layer i of a, layer j of b)``. Without
        ``acts_b`` it is symmetric with ones on the diagonal (NaN for a
        constant layer).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(30, 3))
        >>> cka_matrix({"x": x, "2x": 2 * x}).round(6).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    layers_a = _layers("cka_matrix", "acts_a", acts_a)
    layers_b = layers_a if acts_b is None else _layers("cka_matrix", "acts_b", acts_b)
    if len({len(layer) for layer in layers_a + layers_b}) != 1:
        raise ValueError(
            "cka_matrix: every layer must hold the same samples, got row counts "
            f"{[len(layer) for layer in layers_a]}"
            + ("" if acts_b is None else f" and {[len(y) for y in layers_b]}")
        )
    self_a = [_hsic(x, x) for x in layers_a]
    self_b = self_a if acts_b is None else [_hsic(y, y) for y in layers_b]

    matrix = np.empty((len(layers_a), len(layers_b)))
    for i, x in enumerate(layers_a):
        for j, y in enumerate(layers_b):
            if acts_b is None and j < i:
                matrix[i, j] = matrix[j, i]  # CKA is symmetric
            else:
                matrix[i, j] = _cka(partial(_hsic, x, y), self_a[i], self_b[j])
    return matrix


def cka_heatmap(
    matrix: Any,
    names: Sequence[str],
    path: str | os.PathLike | None = None,
    *,
    column_names: Sequence[str] | None = None,
    title: str = "linear CKA",
) -> Any:
    """Draw a CKA matrix as a heatmap with its values written in the cells.

    Args:
        matrix: ``(rows, columns)`` values in [0, 1], as ``cka_matrix`` returns.
        names: the layer of each row (and of each column, unless
            ``column_names`` is given).
        path: where to save the figure as PNG, if given.
        column_names: the layers of the columns, when they differ from the
            rows' (two models).
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure`` (drawn without pyplot).

    Raises:
        MissingExtraError: when matplotlib is not installed.
    """
    values = np.asarray(matrix, dtype=np.float64)
    rows = [str(name) for name in names]
    columns = rows if column_names is None else [str(n) for n in column_names]
    if values.ndim != 2 or values.shape != (len(rows), len(columns)):
        raise ValueError(
            f"cka_heatmap: `matrix` must have shape (len(names), "
            f"len(column_names or names)) = {(len(rows), len(columns))}, got "
            f"{values.shape}"
        )
    cell = 0.45 if max(values.shape) > 12 else 0.7
    fig = figure("cka_heatmap", (2.5 + cell * len(columns), 1.5 + cell * len(rows)))
    axes = fig.subplots()
    image = axes.imshow(np.ma.masked_invalid(values), vmin=0.0, vmax=1.0, cmap="magma")
    axes.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    if max(values.shape) <= 12:
        for (i, j), value in np.ndenumerate(values):
            text = "nan" if np.isnan(value) else f"{value:.2f}"
            colour = "white" if value <= 0.6 else "black"  # NaN: black on blank
            axes.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=axes, shrink=0.8)
    axes.set_title(title)
    return save(fig, path)
