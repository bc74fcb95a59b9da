"""Collation: how a list of samples becomes one batch.

``default_collate`` follows PyTorch's rules, recursively: tensors are stacked
along a new first dimension; NumPy arrays become tensors and are stacked;
Python floats give a float64 tensor, Python ints int64 and bools bool (a list
mixing ints and floats starts from its first element, as in PyTorch); NumPy
scalars keep their dtype; strings and bytes stay a list; dicts (and other
mappings) are collated key by key and keep their type; namedtuples keep their
type; other tuples and lists are transposed into a list of collated fields.
``default_convert`` is the unbatched counterpart (``batch_size=None``): it only
turns NumPy arrays into tensors, inside the same containers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...tensor import Tensor, _wrap

# NumPy dtype kinds that cannot become tensors: bytes, str, object.
_UNSUPPORTED_KINDS = "SaUO"

_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
    "or lists; found {}"
)


def _stack(tensors: list) -> Tensor:
    from ...ops import stack

    first = tensors[0]
    if any(t.requires_grad for t in tensors):
        return stack(tensors, 0)  # through autograd, as torch.stack
    shape = first._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(shape)} at entry 0 and {list(t._data.shape)} at entry {i}"
            )
    return _wrap(np.stack([t._data for t in tensors]), None)


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _same_type_mapping(elem: Any, values: dict) -> Any:
    """A mapping of ``elem``'s type holding ``values``; a dict if it cannot."""
    try:
        clone = copy.copy(elem)
        clone.update(values)
        return clone
    except (TypeError, AttributeError):
        return values


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch, as PyTorch's ``default_collate``.

    Args:
        batch: the samples, all of the same structure.

    Returns:
        The same structure with a batch dimension in front of every leaf
        (see the module docstring for the rules).

    Raises:
        TypeError: for a sample type with no rule (None, objects, NumPy
            arrays of strings).
        RuntimeError: for tensors of different shapes, or sequences of
            different lengths.

    Example:
        >>> import numpy as np
        >>> samples = [{"x": np.zeros(2), "y": 1}, {"x": np.ones(2), "y": 2}]
        >>> out = default_collate(samples)
        >>> tuple(out["x"].shape), out["x"].dtype, out["y"].tolist()
        ((2, 2), plaingrad.float64, [1, 2])
    """
    from ..._dtype import float64
    from ...creation import tensor

    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(
        elem, (str, bytes)
    ):
        kind = np.asarray(elem).dtype
        if kind.kind in _UNSUPPORTED_KINDS:
            raise TypeError(_ERROR.format(kind))
        if isinstance(elem, np.ndarray) and elem.shape != ():
            return _stack([_as_tensor(b) for b in batch])
        # 0-d arrays and NumPy scalars keep their own dtype
        return _as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):
        # bools are ints: tensor() infers bool, int64 or (mixed) float32
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        values = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _same_type_mapping(elem, values)
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # PyTorch gives a list for a tuple sample
        try:
            clone: Any = copy.copy(elem)
            clone[:] = fields
            return clone
        except TypeError:
            return fields
    raise TypeError(_ERROR.format(type(elem)))


def _as_tensor(array: Any) -> Tensor:
    from ...creation import as_tensor

    return as_tensor(np.asarray(array))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays into tensors inside ``data``, without batching.

    The ``collate_fn`` a ``DataLoader`` uses for ``batch_size=None``. Tuples
    become lists (as PyTorch's); namedtuples, mappings and lists keep their
    type; everything else is returned as it is.

    Example:
        >>> import numpy as np
        >>> default_convert((np.zeros(2), 1))
        [tensor([0., 0.], dtype=plaingrad.float64), 1]
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(
        data, (str, bytes)
    ):
        if np.asarray(data).dtype.kind in _UNSUPPORTED_KINDS:
            return data
        return _as_tensor(data)
    if isinstance(data, Mapping):
        return _same_type_mapping(
            data, {key: default_convert(value) for key, value in data.items()}
        )
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        try:
            clone: Any = copy.copy(data)
            clone[:] = converted
            return clone
        except TypeError:
            return converted
    return data
