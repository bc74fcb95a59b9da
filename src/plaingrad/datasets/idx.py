"""MNIST-format (IDX) files and the datasets stored in them.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values,
big-endian, in C order. MNIST, Fashion-MNIST and KMNIST ship as four such
files each (images N x 28 x 28 uint8, labels N uint8), usually gzipped.

The files are read from a local folder, never downloaded: either straight in
``root`` or in torchvision's layout ``root/<ClassName>/raw/``, so a folder
that torchvision filled works as it is.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..creation import from_numpy
from ..tensor import Tensor, _wrap
from ..utils.data import Dataset

# IDX type codes -> big-endian NumPy dtypes.
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"read_idx: {path} is gzip-compressed but cannot be decompressed "
            f"({error}); the file is probably truncated or corrupted"
        ) from None


def read_idx(path: str | os.PathLike) -> Tensor:
    """Read an IDX file (gzipped or not) into a tensor.

    Args:
        path: the file; gzip compression is recognised by its content, not
            its name.

    Returns:
        A tensor of the file's shape and type: uint8, int8, int16, int32,
        float32 or float64 (type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E),
        in native byte order.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for a bad magic number, an unknown type code, or a file
            whose size does not match its header (truncated, or with bytes
            left over).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
        >>> _ = path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(path)
        tensor([7, 8, 9], dtype=plaingrad.uint8)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(
            f"read_idx: {path} is truncated: {len(raw)} bytes, shorter than the "
            "4-byte IDX magic number"
        )
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: its magic number starts with "
            f"bytes {raw[0]:#04x} {raw[1]:#04x}, expected 0x00 0x00"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"{c:#04x}" for c in _IDX_TYPES)
        raise ValueError(
            f"read_idx: {path} has IDX type code {code:#04x}; expected one of {known}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"read_idx: {path} is truncated: its header needs {header} bytes for "
            f"{ndim} dimensions, the file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = _IDX_TYPES[code]
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have != needed:
        problem = "truncated" if have < needed else "longer than its header says"
        raise ValueError(
            f"read_idx: {path} is {problem}: shape {shape} of {dtype.name} needs "
            f"{needed} bytes of data after the header, the file has {have}"
        )
    values = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return from_numpy(values.astype(dtype.newbyteorder("="), copy=True))


class MNIST(Dataset):
    """The MNIST handwritten digits, from IDX files in a local folder.

    Looks for ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (``train=True``) or ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (``train=False``), each optionally ending in
    ``.gz``, first in ``root`` and then in torchvision's layout
    ``root/<ClassName>/raw/``. Nothing is downloaded.

    Args:
        root: the folder holding the files.
        train: the training split (default) or the test split.
        transform: applied to each image (see Returns below).
        target_transform: applied to each label (a Python int).
        download: accepted so that torchvision code runs; nothing is ever
            downloaded, the files must already be there.

    Attributes:
        data: the images, a uint8 tensor (N, 28, 28).
        targets: the labels, an int64 tensor (N,).
        classes: the class names, as torchvision's.

    Returns (from ``dataset[i]``):
        ``(image, label)`` as torchvision's: ``image`` is a float32 tensor
        (1, 28, 28) with the pixels scaled to [0, 1] (what torchvision's
        ``ToTensor()`` gives; plaingrad has no PIL images), passed through
        ``transform`` when one is given; ``label`` is a Python int, passed
        through ``target_transform``.

    Raises:
        FileNotFoundError: naming every path looked at, when a file is
            missing.
        ValueError: when a file is not valid IDX, or the images and labels do
            not fit together.

    Example:
        >>> from plaingrad.datasets import MNIST
        >>> train = MNIST("data", train=True)  # doctest: +SKIP
        >>> image, label = train[0]  # doctest: +SKIP
    """

    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]

    def __init__(
        self,
        root: str | os.PathLike,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        self.root = Path(os.path.expanduser(os.fspath(root)))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        split = "train" if train else "t10k"
        images_path = self._find(f"{split}-images-idx3-ubyte")
        labels_path = self._find(f"{split}-labels-idx1-ubyte")
        name = type(self).__name__
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype.name != "uint8" or images.dim() != 3:
            raise ValueError(
                f"{name}: {images_path} should hold uint8 images (N, rows, cols), "
                f"but holds {images.dtype.name} of shape {tuple(images.shape)}"
            )
        if labels.dim() != 1 or labels.dtype.is_floating_point:
            raise ValueError(
                f"{name}: {labels_path} should hold integer labels (N,), but "
                f"holds {labels.dtype.name} of shape {tuple(labels.shape)}"
            )
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"{name}: {images_path} has {images.shape[0]} images but "
                f"{labels_path} has {labels.shape[0]} labels"
            )
        bad = np.flatnonzero((labels._data < 0) | (labels._data >= len(self.classes)))
        if bad.size:
            raise ValueError(
                f"{name}: {labels_path} holds label {int(labels._data[bad[0]])} "
                f"at index {int(bad[0])}, but {name} has {len(self.classes)} "
                f"classes (labels 0 to {len(self.classes) - 1})"
            )
        self.data = images
        self.targets = _wrap(labels._data.astype(np.int64), None)

    @property
    def raw_folder(self) -> Path:
        """torchvision's folder for the files: ``root/<ClassName>/raw``."""
        return self.root / type(self).__name__ / "raw"

    @property
    def class_to_idx(self) -> dict:
        return {name: i for i, name in enumerate(self.classes)}

    def _find(self, filename: str) -> Path:
        candidates = []
        for folder in (self.root, self.raw_folder):
            for name in (filename, filename + ".gz"):
                candidates.append(folder / name)
        for path in candidates:
            if path.is_file():
                return path
        looked = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(
            f"{type(self).__name__}: dataset file not found; looked for {looked}. "
            "plaingrad does not download datasets at run time: put the IDX files "
            f"(optionally gzipped) in {self.root} or {self.raw_folder}"
        )

    def __len__(self) -> int:
        return self.data.shape[0]

    def _image(self, pixels: np.ndarray) -> Tensor:
        # (rows, cols) uint8 -> (1, rows, cols) float32 in [0, 1], as ToTensor
        return _wrap((pixels.astype(np.float32) / 255.0)[None], None)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image: Any = self._image(self.data._data[index])
        label: Any = int(self.targets._data[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def _get_batch(self, indices: Any) -> Any:
        """A whole batch: what ``default_collate`` of the samples gives."""
        if self.transform is not None or self.target_transform is not None:
            from ..utils.data import default_collate

            return default_collate([self[i] for i in indices])
        pixels = self.data._data[indices].astype(np.float32) / 255.0
        return [
            _wrap(pixels[:, None], None),  # (batch, 1, rows, cols)
            _wrap(self.targets._data[indices], None),
        ]

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Root location: {self.root}",
            f"    Split: {'Train' if self.train else 'Test'}",
        ]
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Fashion-MNIST: Zalando's 28x28 grey-scale clothing images, in MNIST's
    file format and layout (see ``MNIST``; ``root/FashionMNIST/raw/`` for
    torchvision's layout)."""

    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: ten cursive Japanese characters, in MNIST's file
    format and layout (see ``MNIST``; ``root/KMNIST/raw/`` for torchvision's
    layout)."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
