"""``nn.utils.rnn``: batches of sequences of different lengths.

A ``PackedSequence`` stores a batch time step by time step: ``data`` holds, for
each step t, the rows of the ``batch_sizes[t]`` sequences still running, longest
sequence first, so no row is padding. ``sorted_indices`` says which original
batch entry each of those rows belongs to (None when the batch was already
sorted by decreasing length) and ``unsorted_indices`` is its inverse.

Packing and unpacking are one ``index_select`` each (the index of every row is
worked out in NumPy first), so gradients flow through them back to the padded
input; padding positions read from one extra row holding ``padding_value``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ...creation import full, tensor
from ...ops.indexing import index_select
from ...ops.shape import cat
from ...tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """A batch of variable-length sequences with the padding left out.

    Build one with ``pack_padded_sequence`` or ``pack_sequence`` rather than by
    hand; ``RNN``, ``LSTM`` and ``GRU`` accept it as input and return one.

    Shape:
        data: (sum of lengths, *); batch_sizes: (longest length,), int64;
        sorted_indices, unsorted_indices: (batch,), int64, or None.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad.nn.utils.rnn import pack_sequence
        >>> packed = pack_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])])
        >>> packed.data, packed.batch_sizes
        (tensor([1, 4, 2, 3]), tensor([2, 1, 1]))
    """

    def __new__(
        cls,
        data: Any,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            # PyTorch's legacy form: PackedSequence((data, batch_sizes))
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """Convert ``data`` (dtype or device); the index tensors stay as they are."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, *self[2:])

    def cpu(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self.to(self.data.double().dtype)

    def float(self) -> PackedSequence:
        return self.to(self.data.float().dtype)

    @property
    def is_cuda(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    order = np.asarray(permutation._data)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size, dtype=order.dtype)
    return tensor(inverse)


def _lengths_array(lengths: Any, op: str) -> np.ndarray:
    if isinstance(lengths, Tensor):
        values = np.asarray(lengths._data)
    else:
        values = np.asarray(list(lengths))
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise TypeError(
            f"{op}: `lengths` must be a 1-D list or tensor of ints, got "
            f"{type(lengths).__name__} of shape {values.shape} and dtype "
            f"{values.dtype}"
        )
    return values.astype(np.int64)


def pack_padded_sequence(
    input: Tensor,
    lengths: Tensor | list[int],
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch, dropping every position past each sequence's length.

    Args:
        input: the padded batch.
        lengths: the length of each sequence (list or 1-D tensor), all > 0.
        batch_first: ``input`` is (batch, time, *) instead of (time, batch, *).
        enforce_sorted: require ``lengths`` in decreasing order; with False the
            batch is sorted here and ``sorted_indices`` records the order.

    Returns:
        The ``PackedSequence``.

    Shape:
        input: (time, batch, *), or (batch, time, *) with ``batch_first``;
        lengths: (batch,).

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad.nn.utils.rnn import pack_padded_sequence
        >>> x = torch.tensor([[1, 4], [2, 0], [3, 0]])  # (time, batch)
        >>> pack_padded_sequence(x, [3, 1]).data
        tensor([1, 4, 2, 3])
    """
    op = "pack_padded_sequence"
    lengths_np = _lengths_array(lengths, op)
    if input.dim() < 2:
        raise ValueError(
            f"{op}: `input` must have a time and a batch dimension, got shape "
            f"{tuple(input.shape)}"
        )
    steps, batch = (input.shape[1], input.shape[0])
    if not batch_first:
        steps, batch = batch, steps
    if lengths_np.size != batch:
        raise ValueError(
            f"{op}: expected {batch} lengths (the batch size of `input`, shape "
            f"{tuple(input.shape)}, batch_first={batch_first}), got {lengths_np.size}"
        )
    if (lengths_np <= 0).any():
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element "
            "in 'lengths' that is <= 0"
        )
    if lengths_np.max() > steps:
        raise ValueError(
            f"{op}: a length of {int(lengths_np.max())} is longer than the "
            f"{steps} time steps of `input` (shape {tuple(input.shape)}, "
            f"batch_first={batch_first})"
        )
    if enforce_sorted:
        if (np.diff(lengths_np) > 0).any():
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when "
                "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                "pack_padded_sequence and/or pack_sequence to sidestep this "
                "requirement if you do not need ONNX exportability."
            )
        order = np.arange(batch)
        sorted_indices = None
    else:
        order = np.argsort(-lengths_np, kind="stable")
        sorted_indices = tensor(order.astype(np.int64))
    sorted_lengths = lengths_np[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(
        1
    )

    # Row of the flattened input for step t, sorted position s < batch_sizes[t].
    rows = []
    for t, size in enumerate(batch_sizes):
        members = order[:size]
        rows.append(members * steps + t if batch_first else t * batch + members)
    flat = input.flatten(0, 1)  # (time * batch, *) or (batch * time, *)
    data = index_select(flat, 0, tensor(np.concatenate(rows).astype(np.int64)))
    return PackedSequence(data, tensor(batch_sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: the padded batch and the lengths.

    Args:
        sequence: the packed batch.
        batch_first: return (batch, time, *) instead of (time, batch, *).
        padding_value: the value of positions past a sequence's end.
        total_length: pad to this many steps (at least the longest length).

    Returns:
        ``(padded, lengths)``, both in the batch's original order; lengths is
        an int64 tensor.

    Shape:
        padded: (time, batch, *), or (batch, time, *) with ``batch_first``;
        lengths: (batch,).

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad.nn.utils.rnn import pack_sequence, pad_packed_sequence
        >>> packed = pack_sequence([torch.tensor([1, 2]), torch.tensor([3])])
        >>> pad_packed_sequence(packed, batch_first=True)
        (tensor([[1, 2],
                [3, 0]]), tensor([2, 1]))
    """
    data = sequence.data
    batch_sizes = np.asarray(sequence.batch_sizes._data, dtype=np.int64)
    steps, batch = batch_sizes.size, int(batch_sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max "
                f"sequence length being {steps}"
            )
        steps = total_length
    if sequence.unsorted_indices is None:
        unsorted = np.arange(batch)
    else:
        unsorted = np.asarray(sequence.unsorted_indices._data, dtype=np.int64)
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    offsets = np.concatenate([offsets, np.zeros(steps + 1 - offsets.size, np.int64)])

    # rows[t, b]: the data row of original batch entry b at step t, or the
    # padding row (index len(data)) past its end.
    positions = unsorted[None, :]  # sorted position of each original entry
    t = np.arange(steps)[:, None]
    rows = np.where(
        t < sorted_lengths[positions], offsets[:steps, None] + positions, len(data)
    )  # (time, batch)
    if batch_first:
        rows = rows.T
    pad_row = full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    source = cat([data, pad_row])
    flat = index_select(source, 0, tensor(rows.reshape(-1).astype(np.int64)))
    padded = flat.reshape(*rows.shape, *data.shape[1:])
    return padded, tensor(sorted_lengths[unsorted].astype(np.int64))


def pad_sequence(
    sequences: Any,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack sequences of different lengths, padding them to the longest.

    Args:
        sequences: tensors of shape (length_i, *), the same ``*`` for all.
        batch_first: return (batch, time, *) instead of (time, batch, *).
        padding_value: the value of the padding.
        padding_side: ``'right'`` (default) pads after each sequence,
            ``'left'`` before it.

    Returns:
        The padded batch.

    Shape:
        output: (longest, batch, *), or (batch, longest, *) with
        ``batch_first``.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad.nn.utils.rnn import pad_sequence
        >>> pad_sequence([torch.tensor([1, 2]), torch.tensor([3])], batch_first=True)
        tensor([[1, 2],
                [3, 0]])
    """
    op = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, seq in enumerate(sequences):
        if seq.dim() == 0 or tuple(seq.shape[1:]) != trailing:
            raise RuntimeError(
                f"{op}: every sequence must be (length, *{trailing}) like "
                f"sequences[0], but sequences[{i}] has shape {tuple(seq.shape)}"
            )
    lengths = np.array([seq.shape[0] for seq in sequences], dtype=np.int64)
    longest = int(lengths.max())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    t = np.arange(longest)[:, None]
    start = 0 if padding_side == "right" else longest - lengths[None, :]
    inside = (t >= start) & (t < start + lengths[None, :])
    rows = np.where(inside, offsets[None, :] + t - start, lengths.sum())
    if batch_first:
        rows = rows.T
    pad_row = full((1, *trailing), padding_value, dtype=sequences[0].dtype)
    source = cat([*sequences, pad_row])
    flat = index_select(source, 0, tensor(rows.reshape(-1).astype(np.int64)))
    return flat.reshape(*rows.shape, *trailing)


def unpad_sequence(
    padded_sequences: Tensor, lengths: Tensor | list[int], batch_first: bool = False
) -> list[Tensor]:
    """Split a padded batch back into its sequences (inverse of ``pad_sequence``).

    Shape:
        padded_sequences: (time, batch, *), or (batch, time, *) with
        ``batch_first``; lengths: (batch,); output: tensors (length_i, *).
    """
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths_np = _lengths_array(lengths, "unpad_sequence")
    return [padded_sequences[b, : int(n)] for b, n in enumerate(lengths_np)]


def pack_sequence(
    sequences: list[Tensor], enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a list of sequences (``pad_sequence`` then ``pack_padded_sequence``).

    Shape:
        sequences: tensors (length_i, *); output data: (sum of lengths, *).
    """
    lengths = [seq.shape[0] for seq in sequences]
    return pack_padded_sequence(
        pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted
    )


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences in a ``PackedSequence``, in original batch order.

    Shape:
        output: tensors (length_i, *).
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
