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
- ``spirals`` / ``load_spirals``: two interleaved spirals made from a seed,
  which no straight line separates (``load_spirals`` splits them 80/20).
- ``MNIST``, ``FashionMNIST``, ``KMNIST``: the 28x28 image sets, read from
  MNIST-format IDX files (``read_idx``) in a local folder, gzipped or not;
  nothing is downloaded.
- ``CSVDataset``: the rows of a CSV file of numbers.

The ``Dataset`` classes here plug into ``plaingrad.utils.data.DataLoader``,
which holds the loading machinery.
"""

from __future__ import annotations

from .csvfile import CSVDataset
from .digits import DigitsSplit, MissingExtraError, load_digits
from .idx import KMNIST, MNIST, FashionMNIST, read_idx
from .spirals import load_spirals, spirals
from .xor import load_xor

__all__ = [
    "CSVDataset",
    "DigitsSplit",
    "FashionMNIST",
    "KMNIST",
    "MNIST",
    "MissingExtraError",
    "load_digits",
    "load_spirals",
    "load_xor",
    "read_idx",
    "spirals",
]
