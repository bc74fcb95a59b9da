"""What the measures share: input checks, and figures drawn without pyplot."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..datasets.digits import MissingExtraError
from ..tensor import Tensor


def as_matrix(fn: str, name: str, x: Any, *, min_rows: int = 1) -> np.ndarray:
    """``x`` (Tensor or array-like) as a float64 ``(N, features)`` matrix.

    A 1-D ``x`` is one feature per sample; more dimensions are flattened
    after the first, as ``capture`` does.
    """
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{fn}: `{name}` must hold real numbers, got dtype {array.dtype}"
        )
    if array.ndim == 0:
        raise ValueError(
            f"{fn}: `{name}` must have a sample dimension, got a 0-d value"
        )
    if array.size == 0:
        raise ValueError(
            f"{fn}: `{name}` must hold at least one sample and one feature, "
            f"got shape {array.shape}"
        )
    array = array.astype(np.float64).reshape(len(array), -1)
    if len(array) < min_rows:
        raise ValueError(
            f"{fn}: `{name}` needs at least {min_rows} samples, got {len(array)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{fn}: `{name}` contains NaN or Inf")
    return array


def as_labels(fn: str, labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` as ``(classes, codes)``: the sorted distinct labels and, per
    sample, the index of its label in ``classes``."""
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(
            f"{fn}: `labels` must be 1-D with one label per sample ({n}), got "
            f"shape {tuple(array.shape)}"
        )
    classes, codes = np.unique(array, return_inverse=True)
    return classes, codes.reshape(-1)


def integer_labels(fn: str, name: str, labels: Any, n: int) -> np.ndarray:
    """``labels`` (a Tensor, PyTorch's too, or array-like) as a 1-D integer
    array of length ``n``."""
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(
            f"{fn}: `{name}` must be 1-D with one label per sample ({n}), got "
            f"shape {tuple(array.shape)}"
        )
    if array.dtype.kind not in "biu":
        raise TypeError(
            f"{fn}: `{name}` must hold integer class labels, got dtype {array.dtype}"
        )
    return array


def ordered_inputs(fn: str, name: str, value: Any) -> Any:
    """``value`` if it is a Tensor or an array: inputs whose rows must stay in
    the order of labels given apart (a shuffled DataLoader would not)."""
    if not isinstance(value, (Tensor, np.ndarray)):
        raise TypeError(
            f"{fn}: `{name}` must be a Tensor or a NumPy array (its rows in the "
            f"order of the labels), got {type(value).__name__}"
        )
    return value


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared euclidean distances between the rows of ``a`` and of ``b``,
    ``(len(a), len(b))``, by ``|a|^2 + |b|^2 - 2 a.b`` clipped at zero."""
    out = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(out, 0.0, out=out)


def figure(fn: str, size: tuple[float, float]) -> Any:
    """A matplotlib Figure on its own Agg canvas: pyplot's state is untouched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(
            f"plaingrad.lens.{fn} needs matplotlib, which is not installed; "
            'install it with: pip install "plaingrad[plot]"'
        ) from None
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: str | os.PathLike | None) -> Any:
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=100)
    return fig
