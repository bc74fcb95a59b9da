"""The text form of a tensor, laid out character for character like PyTorch's repr.

``Tensor.__repr__`` hands this module the tensor's values as a NumPy array, the name
of its dtype and the suffixes only the tensor knows (``requires_grad=True``,
``grad_fn=<MulBackward0>``). The module does the rest in three steps:

1. Choose one element format for the whole tensor. It is picked from a sample of
   the values (all of them, or only the corners that will be shown when the tensor
   is summarised): integers print bare; floats whose finite, nonzero values are all
   whole numbers print as ``3.``; otherwise four-decimal fixed point, or scientific
   notation when the magnitudes span more than a factor of 1000 or leave the range
   [1e-4, 1e8]. Every element is right-aligned to the widest one.
2. Lay the elements out as nested brackets. A long 1-D row wraps at the line width,
   continuing under its first element; the blocks of an n-D tensor are separated by
   n-1 newlines. Tensors over the threshold (1000 elements) keep only ``edgeitems``
   entries at each end of every dimension, with ``...`` between.
3. Close with the suffixes: the size of an empty tensor, a non-default dtype, then
   the caller's own. A suffix that would overflow the line starts a new one; the
   dtype suffix is measured as PyTorch's shorter ``dtype=torch.<name>``, so the
   breaks fall where PyTorch puts them.

Options are module-wide, as in PyTorch: ``set_printoptions`` changes them and
``get_printoptions`` reads them back.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

_PREFIX = "tensor("
_DTYPE_PREFIX = "dtype=plaingrad."
# How much longer our dtype suffix is than PyTorch's; see step 3 above.
_NAMESPACE_GAP = len("plaingrad.") - len("torch.")


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTIONS = _PrintOptions()

_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set how tensors are printed, as ``torch.set_printoptions`` does.

    Options left as ``None`` keep their value, except ``sci_mode``, which every call
    resets to automatic unless it is given (PyTorch does the same).

    Args:
        precision: Digits after the decimal point (default 4).
        threshold: Element count above which a tensor is summarised (default 1000).
        edgeitems: Entries kept at each end of a summarised dimension (default 3).
        linewidth: Characters per line before a row wraps (default 80).
        profile: ``"default"``, ``"short"`` or ``"full"``: a preset applied before
            the other arguments.
        sci_mode: ``True`` or ``False`` to force or forbid scientific notation;
            ``None`` lets the values decide.

    Raises:
        ValueError: If ``profile`` is not one of the three presets.

    Example:
        >>> set_printoptions(precision=2)
        >>> format_tensor(np.array([1.12345]), "float32", [])
        'tensor([1.12])'
        >>> set_printoptions(profile="default")
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(
                f"set_printoptions: `profile` must be one of {sorted(_PROFILES)}, "
                f"got {profile!r}"
            )
        for name, value in _PROFILES[profile].items():
            setattr(_OPTIONS, name, value)

    given = {
        "precision": precision,
        "threshold": threshold,
        "edgeitems": edgeitems,
        "linewidth": linewidth,
    }
    for name, value in given.items():
        if value is not None:
            setattr(_OPTIONS, name, value)
    _OPTIONS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current print options, ready to pass back to ``set_printoptions``.

    Returns:
        A dict with keys ``precision``, ``threshold``, ``edgeitems``, ``linewidth``
        and ``sci_mode``.

    Example:
        >>> get_printoptions()["precision"]
        4
    """
    return dataclasses.asdict(_OPTIONS)


class _ElementFormat:
    """One format shared by every element of a tensor, chosen from a sample."""

    def __init__(self, sample: np.ndarray, options: _PrintOptions) -> None:
        self.precision = options.precision
        self.is_float = sample.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1

        if not self.is_float:
            for value in sample.ravel().tolist():
                self.width = max(self.width, len(str(value)))
            return

        values = sample.astype(np.float64).ravel()
        shown = values[np.isfinite(values) & (values != 0)]
        if shown.size == 0:
            return

        magnitudes = np.abs(shown)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if options.sci_mode is None:
            with np.errstate(over="ignore"):  # an infinite ratio is still "wide"
                spread = largest / smallest
            self.sci_mode = bool(
                spread > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
            )
        else:
            self.sci_mode = options.sci_mode
        for value in shown.tolist():
            self.width = max(self.width, len(self._bare(value)))

    def _bare(self, value: Any) -> str:
        if not self.is_float:
            return str(value)
        if self.sci_mode:
            return f"{value:.{self.precision}e}"
        if self.int_mode:
            # The trailing dot tells a whole-valued float from an integer.
            return f"{value:.0f}" + ("." if math.isfinite(value) else "")
        return f"{value:.{self.precision}f}"

    def __call__(self, value: Any) -> str:
        return self._bare(value).rjust(self.width)


def _summary_sample(data: np.ndarray, edgeitems: int) -> np.ndarray:
    """Return the corner of ``data`` that a summarised print shows."""
    if data.ndim == 0:
        return data
    if edgeitems == 0:
        # PyTorch's `row[-0:]` keeps a whole 1-D tensor; higher ones sample nothing.
        return data if data.ndim == 1 else data[(slice(0, 0),) * data.ndim]

    for axis, size in enumerate(data.shape):
        if size > 2 * edgeitems:
            kept = np.r_[0:edgeitems, size - edgeitems : size]
            data = np.take(data, kept, axis=axis)
    return data


def _row_str(row: np.ndarray, indent: int, summarize: bool, fmt: _ElementFormat) -> str:
    options = _OPTIONS
    edge = options.edgeitems
    if summarize and not edge:
        items = ["..."]
    elif summarize and len(row) > 2 * edge:
        head = [fmt(value) for value in row[:edge].tolist()]
        tail = [fmt(value) for value in row[-edge:].tolist()]
        items = head + [" ..."] + tail
    else:
        items = [fmt(value) for value in row.tolist()]

    # Each element takes its width plus ", " on the line.
    per_line = max(1, (options.linewidth - indent) // (fmt.width + 2))
    lines = [
        ", ".join(items[start : start + per_line])
        for start in range(0, len(items), per_line)
    ]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(
    data: np.ndarray, indent: int, summarize: bool, fmt: _ElementFormat
) -> str:
    if data.ndim == 0:
        return fmt(data.item())
    if data.ndim == 1:
        return _row_str(data, indent, summarize, fmt)

    edge = _OPTIONS.edgeitems
    count = data.shape[0]
    if summarize and count > 2 * edge:
        head = [_nested_str(data[i], indent + 1, summarize, fmt) for i in range(edge)]
        tail = [
            _nested_str(data[i], indent + 1, summarize, fmt)
            for i in range(count - edge, count)
        ]
        blocks = head + ["..."] + tail
    else:
        blocks = [_nested_str(block, indent + 1, summarize, fmt) for block in data]

    separator = "," + "\n" * (data.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(blocks) + "]"


def _close(text: str, suffixes: list[str], indent: int) -> str:
    """Append ``suffixes`` and the closing parenthesis, wrapping long lines."""
    linewidth = _OPTIONS.linewidth
    # PyTorch counts two more characters than the last line holds; so do we.
    line_length = len(text) - text.rfind("\n") + 1
    parts = [text]
    for suffix in suffixes:
        length = len(suffix)
        if suffix.startswith(_DTYPE_PREFIX):
            length -= _NAMESPACE_GAP
        if line_length + length + 2 > linewidth:
            parts.append(",\n" + " " * indent + suffix)
            line_length = indent + length
        else:
            parts.append(", " + suffix)
            line_length += length + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(
    data: np.ndarray,
    dtype_name: str,
    suffixes: list[str],
    default_float: str = "float32",
) -> str:
    """Format a tensor's values exactly as PyTorch's ``repr(tensor)`` would.

    Args:
        data: The tensor's values, of any shape (0-d and empty included).
        dtype_name: The tensor's dtype without a namespace, e.g. ``"float64"``.
        suffixes: Extra suffixes written last, e.g. ``["requires_grad=True"]``.
        default_float: The default floating dtype, whose name is not printed.

    Returns:
        The text ``tensor(...)``, with ``plaingrad.`` where PyTorch writes
        ``torch.``.

    Example:
        >>> format_tensor(np.array([1.5, 2.25], dtype=np.float32), "float32", [])
        'tensor([1.5000, 2.2500])'
        >>> format_tensor(np.array([1.0, 2.0]), "float64", ["requires_grad=True"])
        'tensor([1., 2.], dtype=plaingrad.float64, requires_grad=True)'
        >>> format_tensor(np.zeros((0, 3), dtype=np.int64), "int64", [])
        'tensor([], size=(0, 3), dtype=plaingrad.int64)'
    """
    data = np.asarray(data)
    options = _OPTIONS
    dtype_suffix = _DTYPE_PREFIX + dtype_name
    size_suffix = f"size={tuple(int(n) for n in data.shape)}"
    leading: list[str] = []

    if data.size == 0:
        # With no values to hint at the dtype, only the default float goes unnamed.
        if data.ndim != 1:
            leading.append(size_suffix)
        if dtype_name != default_float:
            leading.append(dtype_suffix)
        body = "[]"
    else:
        if not options.edgeitems:
            leading.append(size_suffix)
        if dtype_name not in (default_float, "int64", "bool"):
            leading.append(dtype_suffix)
        summarize = data.size > options.threshold
        sample = _summary_sample(data, options.edgeitems) if summarize else data
        fmt = _ElementFormat(sample, options)
        body = _nested_str(data, len(_PREFIX), summarize, fmt)

    return _close(_PREFIX + body, leading + list(suffixes), len(_PREFIX))
