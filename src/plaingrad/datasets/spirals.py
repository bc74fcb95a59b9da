"""Two interleaved spirals: the classic problem no straight line separates.

Class ``k`` (0 or 1) lies on the arm ``angle = t + k * pi``, ``radius = t /
t_max`` for ``t`` in ``[0, t_max]``, ``t_max = turns * 2 * pi``, so the two
arms wind around the origin side by side, each the other turned half a turn.
Points are drawn with ``t`` uniform in ``[0, t_max]`` (evenly spread in
angle, so denser near the centre, where the arms are short) and then moved
by Gaussian noise in the plane. The radius runs from 0 to 1, so
neighbouring arms of the two classes lie ``1 / (2 * turns)`` apart, and
``noise`` is measured against that gap. Near the centre the arms meet and
the noise mixes the classes a little: with the defaults about 1% of the
points are on the wrong side (a 15-nearest-neighbour classifier on 40,000
points scores 0.987).

A linear model can do little better than chance on them, while a small MLP
separates them almost perfectly: the dataset on which hidden layers visibly
earn their keep (see ``plaingrad.lens.probe_layers``). Nothing is downloaded
and no extra is needed: the points are made with NumPy from a seed.
"""

from __future__ import annotations

import math

import numpy as np

from ..creation import from_numpy
from ..tensor import Tensor
from .digits import DigitsSplit

__all__ = ["load_spirals", "spirals"]


def _check(name: str, value: object, positive: bool) -> None:
    """Raise unless ``value`` is a finite number, above 0 when ``positive``
    and at least 0 otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"spirals: `{name}` must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        what = "greater than 0" if positive else "0 or more"
        raise ValueError(f"spirals: `{name}` must be {what}, got {value!r}")


def _points(
    n: int, noise: float, turns: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The spirals as NumPy arrays: (n, 2) float32 points, (n,) int64 labels,
    in a shuffled order (so that no slice of rows holds one class only)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"spirals: `n` must be an integer, got {n!r}")
    if n < 2:
        raise ValueError(
            f"spirals: `n` must be at least 2 (one point a class), got {n}"
        )
    _check("noise", noise, positive=False)
    _check("turns", turns, positive=True)
    rng = np.random.default_rng(seed)

    labels = np.arange(n, dtype=np.int64) % 2  # class 0 gets the odd point out
    t_max = turns * 2.0 * math.pi
    t = t_max * rng.uniform(size=n)
    angle = t + labels * math.pi
    radius = t / t_max
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    points += noise * rng.standard_normal((n, 2))

    order = rng.permutation(n)
    return points[order].astype(np.float32), labels[order]


def spirals(
    n: int = 1000, noise: float = 0.03, turns: float = 1.5, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Make ``n`` points on two interleaved spirals, half of each class.

    Args:
        n: the number of points (at least 2); class 0 has ``ceil(n / 2)`` and
            class 1 ``n // 2`` of them.
        noise: the standard deviation of the Gaussian noise added to each
            coordinate. The radius runs from 0 to 1 and neighbouring arms of
            the two classes are ``1 / (2 * turns)`` apart, so with the
            defaults (0.03, 1.5 turns) the arms stay apart but near the
            centre.
        turns: how many times each arm winds around the origin (> 0).
        seed: the seed of the points; the same seed gives the same points,
            and the same places along the arms whatever ``noise`` is.

    Returns:
        ``(X, y)``: ``X`` of shape (n, 2) float32 points, ``y`` of shape (n,)
        int64 labels 0 and 1, in a shuffled order.

    Raises:
        TypeError: when ``n`` is not an integer, or ``noise`` or ``turns``
            not a number.
        ValueError: when ``n`` is below 2, ``noise`` negative or ``turns`` not
            positive.

    Example:
        >>> from plaingrad.datasets import spirals
        >>> X, y = spirals(n=10)
        >>> tuple(X.shape), sorted(y.tolist())
        ((10, 2), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    points, labels = _points(n, noise, turns, seed)
    return from_numpy(points), from_numpy(labels)


def load_spirals(
    n: int = 1000,
    noise: float = 0.03,
    turns: float = 1.5,
    test_size: float = 0.2,
    seed: int = 0,
) -> DigitsSplit:
    """Make the spirals and split them into train and test sets, per class.

    Each class keeps its share in both sets (rounded down in the test set),
    as ``load_digits`` does, so the test set is as balanced as the data.

    Args:
        n: the number of points in both sets together (at least 2).
        noise: the standard deviation of the noise (see ``spirals``).
        turns: how many times each arm winds around the origin.
        test_size: the fraction held out for testing, in (0, 1).
        seed: seeds both the points and the split.

    Returns:
        A ``DigitsSplit`` ``(x_train, y_train, x_test, y_test)``: points as
        float32 of shape (m, 2), labels as int64 of shape (m,). With the
        defaults that is 800 training and 200 test points.

    Raises:
        TypeError: for an ``n``, ``noise`` or ``turns`` of the wrong type.
        ValueError: for a bad ``n``, ``noise`` or ``turns`` (see ``spirals``),
            a ``test_size`` not strictly between 0 and 1, or one so small
            for ``n`` that no test point would be left.

    Example:
        >>> from plaingrad.datasets import load_spirals
        >>> data = load_spirals()
        >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
        ((800, 2), (200, 2))
    """
    if not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise ValueError(
            f"load_spirals: `test_size` must be a float strictly between 0 and 1, "
            f"got {test_size!r}"
        )
    points, labels = _points(n, noise, turns, seed)

    # The rows are already in a random order, so the first rows of each class
    # are a random sample of it.
    test = np.zeros(len(labels), dtype=bool)
    for k in (0, 1):
        rows = np.flatnonzero(labels == k)
        test[rows[: int(len(rows) * test_size)]] = True
    if not test.any():
        raise ValueError(
            f"load_spirals: `test_size` {test_size} of {n} points leaves no "
            f"test point; give more points or a larger test_size"
        )
    return DigitsSplit(
        from_numpy(np.ascontiguousarray(points[~test])),
        from_numpy(np.ascontiguousarray(labels[~test])),
        from_numpy(np.ascontiguousarray(points[test])),
        from_numpy(np.ascontiguousarray(labels[test])),
    )
