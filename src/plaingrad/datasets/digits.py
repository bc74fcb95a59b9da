"""scikit-learn's 8x8 handwritten digits as plaingrad tensors.

The images ship inside scikit-learn (no download): 1,797 grey-scale 8x8
digits, pixel values 0..16, ten classes of about 180 each. They are small
enough to train an MLP on in seconds, and real enough that the result means
something. scikit-learn is an optional extra (``pip install
"plaingrad[digits]"``); it is imported only when the data is asked for.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..creation import from_numpy
from ..tensor import Tensor

# The brightest pixel value in the dataset: dividing by it maps pixels to [0, 1].
_MAX_PIXEL = 16.0


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra."""


class DigitsSplit(NamedTuple):
    """The digits, split for training and testing.

    Attributes:
        x_train: (n_train, 64) float32 pixels in [0, 1].
        y_train: (n_train,) int64 labels 0..9.
        x_test: (n_test, 64) float32 pixels in [0, 1].
        y_test: (n_test,) int64 labels 0..9.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def _sklearn() -> tuple:
    """scikit-learn's ``load_digits`` and ``train_test_split``, or a clear error."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise MissingExtraError(
            "the digits dataset needs scikit-learn, which is not installed; "
            'install it with: pip install "plaingrad[digits]"'
        ) from None
    return sk_load_digits, train_test_split


def load_digits(test_size: float = 0.2, seed: int = 0) -> DigitsSplit:
    """Load the 8x8 digits, split into train and test sets with stratification.

    Every class keeps its share in both sets, so accuracy on the test set is
    not skewed by an unlucky split.

    Args:
        test_size: the fraction of samples held out for testing, in (0, 1).
        seed: the seed of the split; the same seed gives the same split.

    Returns:
        A ``DigitsSplit`` ``(x_train, y_train, x_test, y_test)``: pixels
        scaled to [0, 1] as float32 of shape (n, 64), labels as int64 of
        shape (n,). With the default ``test_size`` that is 1,437 training and
        360 test samples.

    Raises:
        MissingExtraError: when scikit-learn is not installed.
        ValueError: when ``test_size`` is not strictly between 0 and 1.

    Example:
        >>> from plaingrad.datasets import load_digits
        >>> data = load_digits()
        >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
        ((1437, 64), (360, 64))
    """
    if not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise ValueError(
            f"load_digits: `test_size` must be a float strictly between 0 and 1, "
            f"got {test_size!r}"
        )
    sk_load_digits, train_test_split = _sklearn()

    images, labels = sk_load_digits(return_X_y=True)
    pixels = (images / _MAX_PIXEL).astype(np.float32)  # (1797, 64)
    labels = labels.astype(np.int64)  # (1797,)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return DigitsSplit(
        from_numpy(np.ascontiguousarray(x_train)),
        from_numpy(np.ascontiguousarray(y_train)),
        from_numpy(np.ascontiguousarray(x_test)),
        from_numpy(np.ascontiguousarray(y_test)),
    )
