"""MNIST IDX reader and lookup: hand-made files (raw and gzip), corrupt/missing files, download."""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rlkit.errors import RlkitError
from rlkit.supervised import data as D
from rlkit.supervised.data import find_data_dir, load_mnist, random_shift, read_idx

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]


def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file written by hand from the format description (big-endian header)."""
    code = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
            np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.tobytes()


def write_dataset(folder: Path, n_train=6, n_test=4, gz=True, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        NAMES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        NAMES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        NAMES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        NAMES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("arr", [
    np.arange(7, dtype=np.uint8),
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.array([-3, 0, 5], dtype=np.int8),
    np.array([[-70000, 1], [2, 70000]], dtype=">i4"),
    np.array([1.5, -2.25], dtype=">f4"),
    np.array([[1e300]], dtype=">f8"),
    np.array([-1, 300], dtype=">i2"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, arr, gz):
    raw = idx_bytes(arr)
    path = tmp_path / ("x.gz" if gz else "x")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = read_idx(path)
    assert out.shape == arr.shape and out.dtype.isnative
    np.testing.assert_array_equal(out, arr.astype(arr.dtype.newbyteorder("=")))


def test_read_idx_known_bytes(tmp_path):
    # magic 0x00000801 (uint8, 1 dim), 3 items: 7 2 1
    (tmp_path / "l").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    assert read_idx(tmp_path / "l").tolist() == [7, 2, 1]
    # 0x00000803 (uint8, 3 dims): 2 x 1 x 2
    (tmp_path / "i").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4]))
    assert read_idx(tmp_path / "i").tolist() == [[[1, 2]], [[3, 4]]]


@pytest.mark.parametrize("payload, match", [
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "bad magic"),
    (bytes([0, 0, 7, 1, 0, 0, 0, 1, 5]), "bad magic"),
    (bytes([0, 0, 8, 0]), "bad magic"),
    (bytes([0, 0, 8]), "too short"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "trailing bytes"),
])
def test_read_idx_rejects_corrupt_files_naming_them(tmp_path, payload, match):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(RlkitError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 251))
    (tmp_path / "trunc.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(RlkitError, match="corrupt or truncated gzip") as info:
        read_idx(tmp_path / "trunc.gz")
    assert "trunc.gz" in str(info.value)
    flipped = bytearray(good)
    flipped[-6] ^= 0xFF  # inside the stored CRC32 / size trailer
    (tmp_path / "crc.gz").write_bytes(bytes(flipped))
    with pytest.raises(RlkitError, match="gzip"):
        read_idx(tmp_path / "crc.gz")
    (tmp_path / "plain.gz").write_bytes(idx_bytes(np.arange(3, dtype=np.uint8)))
    with pytest.raises(RlkitError, match="not a gzip file"):
        read_idx(tmp_path / "plain.gz")
    with pytest.raises(RlkitError, match="not found"):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize("gz", [True, False])
def test_load_hand_made_dataset(isolated, gz):
    arrays = write_dataset(isolated / "mine", gz=gz)
    x, y = load_mnist("train", data_dir=isolated / "mine")
    assert x.dtype == torch.uint8 and x.shape == (6, 28, 28) and y.dtype == torch.int64
    np.testing.assert_array_equal(x.numpy(), arrays[NAMES[0]])
    np.testing.assert_array_equal(y.numpy(), arrays[NAMES[1]])
    xt, yt = load_mnist("test", data_dir=isolated / "mine")
    np.testing.assert_array_equal(xt.numpy(), arrays[NAMES[2]])
    assert load_mnist("train", data_dir=isolated / "mine")[0] is x  # loaded once


def test_lookup_order(isolated):
    a = write_dataset(isolated / "explicit", seed=1)
    b = write_dataset(isolated / "data_root" / "mnist", seed=2)
    c = write_dataset(isolated / "cache" / "rlkit" / "mnist", seed=3)
    write_dataset(isolated / "tv" / "MNIST" / "raw", seed=4)
    assert np.array_equal(load_mnist("test", data_dir=isolated / "explicit")[1].numpy(), a[NAMES[3]])
    assert np.array_equal(load_mnist("test")[1].numpy(), b[NAMES[3]])
    assert find_data_dir("test", data_dir=isolated / "tv")[0].parent == isolated / "tv" / "MNIST" / "raw"
    for p in (isolated / "data_root" / "mnist").iterdir():
        p.unlink()
    assert np.array_equal(load_mnist("test")[1].numpy(), c[NAMES[3]])
    # an explicit folder without the files falls through to the others
    (isolated / "empty").mkdir()
    assert np.array_equal(load_mnist("test", data_dir=isolated / "empty")[1].numpy(), c[NAMES[3]])


def test_fashion_mnist_lookup_and_names(isolated):
    a = write_dataset(isolated / "data_root" / "fashion-mnist", seed=5)
    x, y = load_mnist("train", dataset="fashion-mnist")
    np.testing.assert_array_equal(y.numpy(), a[NAMES[1]])
    write_dataset(isolated / "tv" / "FashionMNIST" / "raw", seed=6)
    img, _ = find_data_dir("test", dataset="fashion-mnist", data_dir=isolated / "tv")
    assert img.parent == isolated / "tv" / "FashionMNIST" / "raw"
    (isolated / "empty").mkdir()
    for p in (isolated / "data_root" / "fashion-mnist").iterdir():
        p.unlink()
    with pytest.raises(RlkitError, match="fashion-mnist data not found"):
        load_mnist("test", dataset="fashion-mnist", data_dir=isolated / "empty")
    assert len(D.DATASETS["fashion-mnist"].classes) == 10


def test_missing_files_one_clear_error(isolated):
    (isolated / "empty").mkdir()
    with pytest.raises(RlkitError) as info:
        load_mnist("train", data_dir=isolated / "empty")
    msg = str(info.value)
    assert "\n" not in msg
    for name in NAMES:
        assert name in msg
    cache = isolated / "cache" / "rlkit" / "mnist"
    for folder in (isolated / "empty", isolated / "data_root" / "mnist", cache):
        assert str(folder) in msg
    with pytest.raises(RlkitError, match="does not exist"):
        load_mnist("train", data_dir=isolated / "nowhere")
    with pytest.raises(RlkitError, match="unknown dataset"):
        load_mnist("train", dataset="cifar")
    with pytest.raises(RlkitError, match="split"):
        load_mnist("validation")


def test_inconsistent_files_are_reported(isolated):
    folder = isolated / "d"
    write_dataset(folder, gz=False)
    (folder / NAMES[1]).write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))  # 6 images, 5 labels
    with pytest.raises(RlkitError, match="6 images but 5 labels"):
        load_mnist("train", data_dir=folder)
    (folder / NAMES[3]).write_bytes(idx_bytes(np.array([1, 2, 3, 10], dtype=np.uint8)))
    with pytest.raises(RlkitError, match="label 10 out of range"):
        load_mnist("test", data_dir=folder)
    (folder / NAMES[1]).write_bytes(idx_bytes(np.zeros((6, 2), dtype=np.uint8)))
    with pytest.raises(RlkitError, match="labels"):
        load_mnist("train", data_dir=folder)
    raw = (folder / NAMES[2]).read_bytes()
    (folder / NAMES[2]).write_bytes(raw[:-100])
    with pytest.raises(RlkitError, match="truncated") as info:
        load_mnist("test", data_dir=folder)
    assert NAMES[2] in str(info.value)


def test_standard_size_file_is_checked_against_published_md5(isolated):
    folder = isolated / "d"
    write_dataset(folder, n_test=4)
    # 10,000 images: the size of the standard test file, but not its content (a valid gzip/IDX)
    (folder / f"{NAMES[2]}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((10000, 1, 1), np.uint8))))
    (folder / f"{NAMES[3]}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(10000, np.uint8))))
    with pytest.raises(RlkitError, match="differs from the published") as info:
        load_mnist("test", data_dir=folder)
    assert NAMES[2] in str(info.value)


def test_real_mnist_matches_published_facts(mnist_dir):
    x, y = load_mnist("test", data_dir=mnist_dir)
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    xt, yt = load_mnist("train", data_dir=mnist_dir)
    assert yt[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    pixels = xt.double() / 255.0  # the standard normalisation constants
    assert abs(float(pixels.mean()) - 0.1307) < 5e-5 and abs(float(pixels.std()) - 0.3081) < 5e-5


# ---------------------------------------------------------------------------------------------
# download through file:// mirrors (no network in tests)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def mirror(isolated, monkeypatch):
    src = isolated / "mirror"
    write_dataset(src, seed=7)
    md5 = {n: hashlib.md5((src / f"{n}.gz").read_bytes()).hexdigest() for n in NAMES}
    spec = replace(D.DATASETS["mnist"], mirrors=(src.as_uri() + "/",), gz_md5=md5, raw_md5={})
    monkeypatch.setitem(D.DATASETS, "mnist", spec)
    return src


def test_download_from_mirror_with_md5(mirror, isolated):
    x, y = load_mnist("test", download=True)
    dest = isolated / "cache" / "rlkit" / "mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert np.array_equal(y.numpy(), read_idx(mirror / f"{NAMES[3]}.gz"))


def test_download_md5_mismatch_and_unreachable_mirror(mirror, isolated, monkeypatch):
    spec = D.DATASETS["mnist"]
    bad = dict(spec.gz_md5, **{NAMES[0]: "0" * 32})
    monkeypatch.setitem(D.DATASETS, "mnist", replace(spec, gz_md5=bad))
    dest = isolated / "dl"
    with pytest.raises(RlkitError, match="MD5"):
        D.download_mnist("mnist", dest, progress=False)
    assert not (dest / f"{NAMES[0]}.gz").exists() and not [p for p in dest.iterdir() if p.suffix == ".tmp"]
    monkeypatch.setitem(D.DATASETS, "mnist", replace(spec, mirrors=((isolated / "void").as_uri() + "/",)))
    with pytest.raises(RlkitError) as info:
        load_mnist("train", download=True)
    assert "not found" in str(info.value) and "download failed" in str(info.value)


# ---------------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------------


def test_random_shift_is_a_zero_filled_translation():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 9, 7), dtype=torch.uint8)
    out = random_shift(x, 2, generator=gen)
    assert out.shape == x.shape and out.dtype == torch.uint8
    seen = set()
    for img, res in zip(x, out, strict=True):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros_like(img)
                ys, xs = slice(max(dy, 0), 9 + min(dy, 0)), slice(max(dx, 0), 7 + min(dx, 0))
                ys0, xs0 = slice(max(-dy, 0), 9 + min(-dy, 0)), slice(max(-dx, 0), 7 + min(-dx, 0))
                ref[ys0, xs0] = img[ys, xs]
                if torch.equal(ref, res):
                    matches.append((dy, dx))
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 10  # the shifts vary
    assert random_shift(x, 0) is x
    chw = random_shift(x[:, None], 1, generator=gen)
    assert chw.shape == (64, 1, 9, 7)
