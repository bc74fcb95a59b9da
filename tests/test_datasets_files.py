"""``plaingrad.datasets``: IDX files (MNIST, Fashion-MNIST, KMNIST) and CSV.

Every file is written here, in ``tmp_path``, byte by byte from the IDX
format's definition (magic number: two zero bytes, a type code, the number of
dimensions; big-endian uint32 sizes; big-endian values), so the expected
arrays are known without any reader.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import plaingrad as pg
from plaingrad.datasets import KMNIST, MNIST, CSVDataset, FashionMNIST, read_idx
from plaingrad.utils.data import DataLoader

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def _idx_bytes(array: np.ndarray) -> bytes:
    code = _CODES[array.dtype.str[1:]]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = _idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _mnist_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def _mnist_folder(folder: Path, gz: bool) -> dict:
    """Four MNIST files (5 training, 3 test samples) in ``folder``."""
    arrays = {"train": _mnist_arrays(5, 0), "t10k": _mnist_arrays(3, 1)}
    for split, (images, labels) in arrays.items():
        _write(folder / f"{split}-images-idx3-ubyte", images, gz)
        _write(folder / f"{split}-labels-idx1-ubyte", labels, gz)
    return arrays


# ------------------------------------------------------------------ read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)
def test_read_idx_gives_every_type_and_shape(tmp_path, dtype, gz):
    values = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)

    out = read_idx(_write(tmp_path / "x-idx3", values, gz))

    assert out.dtype.name == np.dtype(dtype).name
    assert tuple(out.shape) == (2, 3, 4)
    np.testing.assert_array_equal(out.numpy(), values)


def test_read_idx_of_a_file_written_by_hand(tmp_path):
    # uint8 (0x08), one dimension of size 3, then the values 7, 8, 9
    (tmp_path / "labels").write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9]))

    out = read_idx(tmp_path / "labels")

    assert out.dtype == pg.uint8 and out.tolist() == [7, 8, 9]


def test_read_idx_reads_big_endian_values(tmp_path):
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2]) + bytes([0x01, 0x02, 0xFF, 0xFE])
    (tmp_path / "s").write_bytes(raw)

    assert read_idx(tmp_path / "s").tolist() == [0x0102, -2]


def test_read_idx_rejects_bad_magic_and_type_code(tmp_path):
    (tmp_path / "magic").write_bytes(bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]))
    (tmp_path / "code").write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]))

    with pytest.raises(ValueError, match=r"not an IDX file.*0x01 0x00"):
        read_idx(tmp_path / "magic")
    with pytest.raises(ValueError, match=r"type code 0x0a; expected one of 0x08"):
        read_idx(tmp_path / "code")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_is_a_clear_error(tmp_path, gz):
    images, _ = _mnist_arrays(4, 0)
    raw = _idx_bytes(images)[:-10]  # 10 bytes of pixels missing
    path = tmp_path / "cut"
    path.write_bytes(gzip.compress(raw) if gz else raw)

    with pytest.raises(ValueError, match=r"is truncated.*needs 3136 bytes.*has 3126"):
        read_idx(path)


def test_truncated_gzip_stream_and_short_headers(tmp_path):
    images, _ = _mnist_arrays(2, 0)
    (tmp_path / "gz").write_bytes(gzip.compress(_idx_bytes(images))[:-20])
    (tmp_path / "tiny").write_bytes(bytes([0, 0]))
    (tmp_path / "dims").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    (tmp_path / "long").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 5, 6]))

    with pytest.raises(ValueError, match="cannot be decompressed"):
        read_idx(tmp_path / "gz")
    with pytest.raises(ValueError, match="shorter than the 4-byte IDX magic"):
        read_idx(tmp_path / "tiny")
    with pytest.raises(ValueError, match="header needs 16 bytes for 3 dimensions"):
        read_idx(tmp_path / "dims")
    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx(tmp_path / "long")


def test_missing_idx_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing")


# --------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_both_splits_from_root(tmp_path, gz):
    arrays = _mnist_folder(tmp_path, gz)

    for train, split in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        images, labels = arrays[split]

        assert len(ds) == len(labels)
        assert ds.data.dtype == pg.uint8 and tuple(ds.data.shape) == images.shape
        assert ds.targets.dtype == pg.int64
        np.testing.assert_array_equal(ds.data.numpy(), images)
        np.testing.assert_array_equal(ds.targets.numpy(), labels)


def test_getitem_gives_a_scaled_float_image_and_an_int_label(tmp_path):
    images, labels = _mnist_folder(tmp_path, gz=False)["train"]
    ds = MNIST(str(tmp_path))

    image, label = ds[2]

    assert image.dtype == pg.float32 and tuple(image.shape) == (1, 28, 28)
    np.testing.assert_allclose(image.numpy()[0], images[2] / 255.0, rtol=1e-6)
    assert type(label) is int and label == int(labels[2])


def test_transforms_apply_to_image_and_label(tmp_path):
    images, labels = _mnist_folder(tmp_path, gz=True)["t10k"]
    ds = MNIST(
        tmp_path,
        train=False,
        transform=lambda x: x.flatten(),
        target_transform=lambda y: y + 100,
    )

    image, label = ds[1]

    assert tuple(image.shape) == (784,)
    assert label == int(labels[1]) + 100


def test_torchvision_layout_and_variants(tmp_path):
    _mnist_folder(tmp_path / "FashionMNIST" / "raw", gz=True)
    _mnist_folder(tmp_path / "KMNIST" / "raw", gz=False)

    fashion = FashionMNIST(tmp_path, train=True)
    kmnist = KMNIST(tmp_path, train=False, download=True)  # nothing downloads

    assert len(fashion) == 5 and len(kmnist) == 3
    assert fashion.classes[9] == "Ankle boot" and kmnist.classes[0] == "o"
    assert fashion.raw_folder == tmp_path / "FashionMNIST" / "raw"
    with pytest.raises(FileNotFoundError):
        MNIST(tmp_path)  # the files belong to the other classes


def test_missing_file_names_the_paths_and_says_no_download(tmp_path):
    _write(tmp_path / "train-images-idx3-ubyte", _mnist_arrays(2, 0)[0])

    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path, train=True)

    message = str(info.value)
    assert str(tmp_path / "train-labels-idx1-ubyte") in message
    assert str(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz") in message
    assert "does not download" in message


def test_images_and_labels_must_agree(tmp_path):
    images, labels = _mnist_arrays(4, 0)
    _write(tmp_path / "train-images-idx3-ubyte", images)
    _write(tmp_path / "train-labels-idx1-ubyte", labels[:3])
    _write(tmp_path / "t10k-images-idx3-ubyte", images[0])  # 2-D
    _write(tmp_path / "t10k-labels-idx1-ubyte", labels)

    with pytest.raises(ValueError, match="has 4 images but .* has 3 labels"):
        MNIST(tmp_path)
    with pytest.raises(ValueError, match=r"uint8 images \(N, rows, cols\)"):
        MNIST(tmp_path, train=False)


def test_loader_batches_equal_the_collated_samples(tmp_path):
    images, labels = _mnist_folder(tmp_path, gz=False)["train"]
    ds = MNIST(tmp_path)

    x, y = next(iter(DataLoader(ds, batch_size=4, sampler=[4, 0, 3, 1])))

    assert x.dtype == pg.float32 and tuple(x.shape) == (4, 1, 28, 28)
    assert y.dtype == pg.int64 and y.tolist() == [int(labels[i]) for i in (4, 0, 3, 1)]
    np.testing.assert_allclose(x.numpy()[:, 0], images[[4, 0, 3, 1]] / 255.0)


# ----------------------------------------------------------------------- CSV


def test_csv_with_header_and_named_target(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a, b ,label\n1,2.5,0\n\n-3,4e1,2\n")

    ds = CSVDataset(path, target_column="label")

    assert ds.columns == ["a", "b"]
    assert ds.data.dtype == pg.float32 and ds.data.tolist() == [[1, 2.5], [-3, 40]]
    assert ds.targets.dtype == pg.int64 and ds.targets.tolist() == [0, 2]
    features, target = ds[1]
    assert features.tolist() == [-3.0, 40.0] and target.item() == 2


def test_csv_without_header_defaults_to_last_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("0.5;1;0.25\n2;3;0.75\n")

    ds = CSVDataset(path, delimiter=";")

    assert ds.columns is None
    assert ds.data.tolist() == [[0.5, 1.0], [2.0, 3.0]]
    # fractional targets: a regression problem, float32
    assert ds.targets.dtype == pg.float32 and ds.targets.tolist() == [0.25, 0.75]


def test_csv_target_options(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n4,5,6\n")

    first = CSVDataset(path, target_column=0, target_dtype=pg.float64)
    none = CSVDataset(path, target_column=None, header=False, dtype=pg.float64)
    numeric_header = CSVDataset(path, header=True)

    assert first.targets.dtype == pg.float64 and first.targets.tolist() == [1, 4]
    assert first.data.tolist() == [[2, 3], [5, 6]]
    assert none.targets is None and none[0].dtype == pg.float64
    assert numeric_header.columns == ["1", "2"] and len(numeric_header) == 1


def test_csv_loader_matches_rows(tmp_path):
    path = tmp_path / "t.csv"
    rows = [[i, i * 0.5, i % 3] for i in range(7)]
    path.write_text("x,y,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))

    batches = list(DataLoader(CSVDataset(path), batch_size=3))

    assert [tuple(x.shape) for x, _ in batches] == [(3, 2), (3, 2), (1, 2)]
    assert sum((y.tolist() for _, y in batches), []) == [r[2] for r in rows]


def test_csv_errors_name_the_problem(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    (tmp_path / "empty.csv").write_text("\n\n")
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n")

    with pytest.raises(ValueError, match=r"line 3, column 'b': 'x' is not a number"):
        CSVDataset(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="line 2 has 1 fields, expected 2"):
        CSVDataset(tmp_path / "ragged.csv")
    with pytest.raises(ValueError, match="is empty"):
        CSVDataset(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="no column named 'z'"):
        CSVDataset(tmp_path / "ok.csv", target_column="z")
    with pytest.raises(ValueError, match="out of range for 2 columns"):
        CSVDataset(tmp_path / "ok.csv", target_column=5)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        CSVDataset(tmp_path / "nope.csv")


@pytest.mark.parametrize("label", [10, 255])
def test_a_label_outside_the_classes_names_the_file_and_index(tmp_path, label):
    _mnist_folder(tmp_path, gz=False)
    images, labels = _mnist_arrays(3, 1)
    labels[2] = label
    _write(tmp_path / "t10k-labels-idx1-ubyte", labels)

    assert len(MNIST(tmp_path, train=True)) == 5  # the training files are fine
    with pytest.raises(ValueError) as info:
        MNIST(tmp_path, train=False)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert f"label {label} at index 2" in message and "10 classes" in message
