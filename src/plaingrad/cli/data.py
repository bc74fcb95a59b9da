"""The classification datasets of ``plaingrad train``, as flat float tensors.

- ``digits``: scikit-learn's bundled 8x8 digits (the ``digits`` extra), split
  80/20 with every class in proportion (``load_digits``).
- ``spirals``: 1,000 points on two interleaved spirals (2 features, 2
  classes), made from the split seed and split 80/20 per class
  (``load_spirals``); no extra needed.
- ``mnist`` / ``fashion-mnist`` / ``kmnist``: 28x28 images read from the IDX
  files in ``--data-dir`` by ``plaingrad.datasets.MNIST`` / ``FashionMNIST`` /
  ``KMNIST``, which name the file they miss; nothing is downloaded. Their own
  train and test sets are used; pixels are scaled to [0, 1] and each image
  flattened to 784 features for the MLP.

Each loader returns a ``DigitsSplit`` (``x_train``, ``y_train``, ``x_test``,
``y_test``) whatever the dataset; ``load_dataset`` gives the inputs in the
run's dtype (float32, or float64 with ``--dtype float64``).
"""

from __future__ import annotations

from typing import Any

from .. import datasets, float32, float64, int64
from ..datasets import DigitsSplit

# Dataset -> (input features, classes).
IDX_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
SHAPES = {
    "digits": (64, 10),
    "spirals": (2, 2),
    **{name: (784, 10) for name in IDX_CLASSES},
}
# Rows of the largest batch each dataset feeds the network at once (its test
# set, when accuracy is measured), for the memory estimate.
TEST_ROWS = {"digits": 360, "spirals": 200, **{name: 10_000 for name in IDX_CLASSES}}


class DataError(RuntimeError):
    """A dataset this plaingrad cannot read; one line for the user."""


def load_config_digits(config: Any) -> DigitsSplit:
    """The digits split that ``config`` names (its test fraction and seed).

    Raises:
        MissingExtraError: when scikit-learn is not installed.
    """
    from ..datasets import load_digits

    test_size = 0.2 if config.test_size is None else config.test_size
    split_seed = 0 if config.split_seed is None else config.split_seed
    return load_digits(test_size=test_size, seed=split_seed)


def load_config_spirals(config: Any) -> DigitsSplit:
    """The spirals split that ``config`` names: its test fraction, and its
    split seed, which seeds the points too."""
    from ..datasets import load_spirals

    test_size = 0.2 if config.test_size is None else config.test_size
    split_seed = 0 if config.split_seed is None else config.split_seed
    return load_spirals(test_size=test_size, seed=split_seed)


def _flat(images: Any) -> Any:
    """(n, 28, 28) uint8 -> (n, 784) float32 in [0, 1]."""
    return images.reshape(images.shape[0], -1).to(float32) / 255.0


def load_idx(name: str, root: str) -> DigitsSplit:
    """The train and test sets of an IDX dataset in ``root``.

    Raises:
        FileNotFoundError: naming the file that is missing.
        DataError: when a file is not valid IDX, or ``plaingrad.datasets``
            has no reader for the dataset.
    """
    cls = getattr(datasets, IDX_CLASSES[name], None)
    if cls is None:
        raise DataError(
            f"{name}: this plaingrad has no datasets.{IDX_CLASSES[name]} reader"
        )
    try:
        train, test = cls(root, train=True), cls(root, train=False)
    except ValueError as error:  # a damaged file; the message names it
        text = str(error)
        if not text.startswith(f"{IDX_CLASSES[name]}:"):
            text = f"{name}: {text}"
        raise DataError(text) from None
    return DigitsSplit(
        _flat(train.data),
        train.targets.to(int64),
        _flat(test.data),
        test.targets.to(int64),
    )


def load_dataset(config: Any) -> DigitsSplit:
    """The split ``config.dataset`` names (``digits``, ``mnist``, ...), its
    inputs in ``config.dtype`` (float32 unless the run says otherwise)."""
    if config.dataset == "digits":
        split = load_config_digits(config)
    elif config.dataset == "spirals":
        split = load_config_spirals(config)
    else:
        split = load_idx(config.dataset, config.data_dir)
    if getattr(config, "dtype", "float32") == "float64":
        split = split._replace(
            x_train=split.x_train.to(float64), x_test=split.x_test.to(float64)
        )
    return split
