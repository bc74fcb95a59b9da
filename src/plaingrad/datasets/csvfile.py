"""``CSVDataset``: a table of numbers in a CSV file, one sample per row."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._dtype import to_np
from ..tensor import Tensor, _wrap
from ..utils.data import Dataset


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, delimiter: str) -> list:
    """The file's non-blank rows as (line number, cells)."""
    if not path.is_file():
        raise FileNotFoundError(f"CSVDataset: no file {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [
            (line, [cell.strip() for cell in cells])
            for line, cells in enumerate(csv.reader(f, delimiter=delimiter), 1)
            if any(cell.strip() for cell in cells)
        ]
    if not rows:
        raise ValueError(f"CSVDataset: {path} is empty")
    return rows


class CSVDataset(Dataset):
    """Samples from the rows of a CSV file of numbers.

    Args:
        path: the CSV file.
        target_column: the column holding the target: an index (negative
            counts from the end; default -1, the last column), a name from
            the header row, or None for no target (samples are then the
            feature rows alone).
        header: ``"infer"`` (default) treats the first row as column names
            when any of its cells is not a number; True or False say so.
        delimiter: the field separator (default ``","``).
        dtype: the features' dtype (default float32).
        target_dtype: the targets' dtype; None (default) gives int64 when
            every target is a whole number (class labels) and float32
            otherwise.
        transform: applied to each feature row.
        target_transform: applied to each target.

    Attributes:
        data: the features, a (N, F) tensor.
        targets: the targets, a (N,) tensor (None without a target column).
        columns: the feature columns' names (None without a header).

    Returns (from ``dataset[i]``):
        ``(features, target)``: a (F,) tensor and a 0-d tensor (each after
        its transform); just ``features`` when ``target_column`` is None.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for an empty file, rows of different lengths, a cell that
            is not a number (with its line and column), or a target column
            that does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "points.csv"
        >>> _ = path.write_text("x,y,label\\n0.5,1.5,0\\n2.0,3.0,1\\n")
        >>> ds = CSVDataset(path, target_column="label")
        >>> len(ds), ds.columns, ds[1]
        (2, ['x', 'y'], (tensor([2., 3.]), tensor(1)))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        target_column: int | str | None = -1,
        *,
        header: bool | str = "infer",
        delimiter: str = ",",
        dtype: Any = None,
        target_dtype: Any = None,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ) -> None:
        self.path = Path(os.path.expanduser(os.fspath(path)))
        self.transform = transform
        self.target_transform = target_transform
        rows = _read_rows(self.path, delimiter)
        if header == "infer":
            header = not all(_is_number(cell) for cell in rows[0][1])
        elif not isinstance(header, bool):
            raise ValueError(
                f"CSVDataset: `header` must be True, False or 'infer', got {header!r}"
            )
        names = rows.pop(0)[1] if header else None
        if not rows:
            raise ValueError(f"CSVDataset: {self.path} has a header but no data rows")
        width = len(names) if names is not None else len(rows[0][1])
        for line, cells in rows:
            if len(cells) != width:
                raise ValueError(
                    f"CSVDataset: {self.path} line {line} has {len(cells)} fields, "
                    f"expected {width}"
                )
        table = np.empty((len(rows), width), dtype=np.float64)
        for r, (line, cells) in enumerate(rows):
            for c, cell in enumerate(cells):
                try:
                    table[r, c] = float(cell)
                except ValueError:
                    column = names[c] if names else c
                    raise ValueError(
                        f"CSVDataset: {self.path} line {line}, column {column!r}: "
                        f"{cell!r} is not a number"
                    ) from None
        target = self._target_index(target_column, names, width)
        feature_cols = [c for c in range(width) if c != target]
        features_np = to_np(dtype) if dtype is not None else np.dtype(np.float32)
        self.data = _wrap(
            np.ascontiguousarray(table[:, feature_cols], features_np), None
        )
        self.columns = [names[c] for c in feature_cols] if names else None
        self.targets: Tensor | None = None
        if target is not None:
            values = table[:, target]
            if target_dtype is not None:
                target_np = to_np(target_dtype)
            elif np.isfinite(values).all() and (values == np.round(values)).all():
                target_np = np.dtype(np.int64)
            else:
                target_np = np.dtype(np.float32)
            self.targets = _wrap(values.astype(target_np), None)

    def _target_index(self, target: Any, names: list | None, width: int) -> Any:
        if target is None:
            return None
        if isinstance(target, str):
            if names is None or target not in names:
                known = f"the header has {names}" if names else "the file has no header"
                raise ValueError(
                    f"CSVDataset: no column named {target!r} in {self.path} ({known})"
                )
            return names.index(target)
        if not isinstance(target, int) or not -width <= target < width:
            raise ValueError(
                f"CSVDataset: `target_column` {target!r} is out of range for "
                f"{width} columns in {self.path}"
            )
        return target % width

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> Any:
        features: Any = _wrap(self.data._data[index], None)
        if self.transform is not None:
            features = self.transform(features)
        if self.targets is None:
            return features
        target: Any = _wrap(self.targets._data[index], None)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return features, target

    def _get_batch(self, indices: Any) -> Any:
        """A whole batch: what ``default_collate`` of the samples gives."""
        if self.transform is not None or self.target_transform is not None:
            from ..utils.data import default_collate

            return default_collate([self[i] for i in indices])
        features = _wrap(self.data._data[indices], None)
        if self.targets is None:
            return features
        return [features, _wrap(self.targets._data[indices], None)]
