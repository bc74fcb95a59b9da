"""Representation tools: see what each layer of a model has learned.

A model turns raw input into features layer by layer; these tools make that
visible with numbers. ``capture`` runs a model and records the activations of
its layers (forward hooks, batched, removed afterwards). The measures then work
on those plain NumPy arrays, so they know nothing of the model:

- ``project``: PCA by plaingrad's own SVD; t-SNE (scikit-learn, the ``digits``
  extra) and UMAP (``umap-learn``) when installed; per-layer scatter plots
  (matplotlib, the ``plot`` extra);
- ``similarity``: linear CKA between layers, or between two models, as a matrix
  and a heatmap;
- ``separation``: silhouette, the between/within class distance ratio and
  nearest neighbours in representation space;
- ``probe``: linear probes, the test accuracy of a logistic regression trained
  (with plaingrad) on each layer's activations;
- ``drift``: all of these at chosen epochs of a run (``DriftTracker`` in your
  own training loop, ``drift`` for models saved along the way);
- ``charts``: the probes and silhouettes per layer, and the drift, as
  figures (matplotlib).

Optional libraries are imported inside the functions that need them, so
``import plaingrad.lens`` needs NumPy only, and a missing one raises
``MissingExtraError`` naming the extra to install.
"""

from __future__ import annotations

from .capture import capture, select_modules
from .charts import drift_chart, layer_chart
from .drift import DriftTracker, drift
from .probe import PROBE_SETTINGS, linear_probe, probe_layers
from .project import pca, scatter, tsne, umap
from .separation import (
    class_distance_ratio,
    nearest_neighbours,
    separation,
    silhouette,
)
from .similarity import cka_heatmap, cka_matrix, linear_cka

__all__ = [
    "DriftTracker",
    "PROBE_SETTINGS",
    "capture",
    "cka_heatmap",
    "cka_matrix",
    "class_distance_ratio",
    "drift",
    "drift_chart",
    "layer_chart",
    "linear_cka",
    "linear_probe",
    "nearest_neighbours",
    "pca",
    "probe_layers",
    "scatter",
    "select_modules",
    "separation",
    "silhouette",
    "tsne",
    "umap",
]
