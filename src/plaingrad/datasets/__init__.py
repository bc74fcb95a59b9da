"""Built-in datasets, returned as ready-to-use tensors.

Each loader returns plaingrad tensors with PyTorch's conventions: float32
features and int64 class labels (or float32 targets for regression). Datasets
that come from an optional package say which extra to install when it is
missing, through ``MissingExtraError``, rather than failing deep inside an
import.

- ``load_digits``: scikit-learn's bundled 8x8 handwritten digits (1,797
  images, no download), split 80/20 with every class in proportion.
- ``load_xor``: the four points of XOR, the classic non-linearly-separable
  problem.
"""

from __future__ import annotations

from .digits import DigitsSplit, MissingExtraError, load_digits
from .xor import load_xor

__all__ = ["DigitsSplit", "MissingExtraError", "load_digits", "load_xor"]
