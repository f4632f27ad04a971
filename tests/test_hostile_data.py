"""Hostile dataset files: gzip bombs, IDX headers that lie, random bytes, another dataset's files.
Only RlkitError may come out, and no file is inflated beyond the size its header declares."""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.supervised import data as D
from rlkit.supervised.data import load_mnist, read_idx

pytestmark = pytest.mark.timeout(120)


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _bomb(declared: tuple[int, ...], real_bytes: int) -> bytes:
    """A gzip stream whose IDX header declares ``declared`` but which inflates to ``real_bytes``."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [z.compress(_header(0x08, declared))]
    zeros = bytes(1 << 20)
    for _ in range(real_bytes >> 20):
        parts.append(z.compress(zeros))
    parts.append(z.flush())
    return b"".join(parts)


def test_a_gzip_bomb_stops_at_the_size_its_header_declares(tmp_path, monkeypatch):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(_bomb((10,), 1 << 27))  # 128 MiB of zeros in about 130 kB
    inflated = []
    real = zlib.decompressobj

    class Spy:  # records how much the reader inflates
        def __init__(self, *a):
            self._d = real(*a)

        def decompress(self, data, max_length=0):
            out = self._d.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._d, name)

    monkeypatch.setattr(D.zlib, "decompressobj", Spy)
    with pytest.raises(RlkitError, match="trailing bytes") as info:
        read_idx(path)
    assert "bomb-idx1-ubyte.gz" in str(info.value)
    assert sum(inflated) <= 100  # the header, then one byte beyond the declared 18


def test_a_header_declaring_more_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "1G")
    huge = (2**32 - 1, 2**32 - 1, 2**32 - 1)
    (tmp_path / "x.gz").write_bytes(gzip.compress(_header(0x0E, huge)))
    (tmp_path / "x").write_bytes(_header(0x0E, huge))
    for name in ("x.gz", "x"):
        with pytest.raises(RlkitError, match="RLKIT_MAX_MEMORY"):
            read_idx(tmp_path / name)


@pytest.mark.parametrize("payload, match", [
    (_header(0x08, (3,)) + b"\x01\x02", "truncated"),
    (_header(0x08, (3,)) + b"\x01\x02\x03\x04", "trailing bytes"),
    (_header(0x08, (2, 2)) + b"\x01\x02\x03", "truncated"),
    (bytes([0, 0, 0x08, 9]) + bytes(40), "bad magic"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "bad magic"),
    (bytes([0, 0, 0x08, 2, 0, 0]), "truncated IDX header"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_headers_that_lie_are_refused(tmp_path, payload, match, gz):
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(RlkitError, match=match):
        read_idx(path)


def test_data_after_the_gzip_stream_is_refused(tmp_path):
    good = gzip.compress(_header(0x08, (2,)) + b"\x01\x02")
    (tmp_path / "f.gz").write_bytes(good + b"junk")
    with pytest.raises(RlkitError, match="after the end of its gzip stream"):
        read_idx(tmp_path / "f.gz")
    (tmp_path / "g.gz").write_bytes(good + bytes(8))  # zero padding, as gzip itself allows
    assert read_idx(tmp_path / "g.gz").tolist() == [1, 2]


@st.composite
def idx_like(draw):
    """Mostly well-formed headers with lies in the dims or the body, plus raw random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=80))
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
    dim = st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1))
    dims = tuple(draw(st.lists(dim, min_size=0, max_size=9)))
    body = draw(st.binary(max_size=64))
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(payload=idx_like(), gz=st.booleans(), cut=st.integers(0, 30))
def test_fuzzed_idx_files_give_arrays_or_rlkit_errors(tmp_path, payload, gz, cut):
    raw = gzip.compress(payload) if gz else payload
    if gz and cut:  # a truncated stream sometimes
        raw = raw[: max(len(raw) - cut, 0)]
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(raw)
    try:
        arr = read_idx(path)
    except RlkitError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    # it read: then the payload was a valid IDX file and the array is its body, decoded independently
    ndim = payload[3]
    dims = struct.unpack(f">{ndim}I", payload[4:4 + 4 * ndim])
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[payload[2]]
    expect = np.frombuffer(payload[4 + 4 * ndim:], dtype).reshape(dims)
    np.testing.assert_array_equal(arr, expect)


# ------------------------------------------------------------------------------------------------
# published checksums
# ------------------------------------------------------------------------------------------------


def test_fashion_mnist_pointed_at_the_mnist_folder_is_refused(mnist_dir, isolated, cli):
    load_mnist("test", data_dir=mnist_dir)  # MNIST itself passes its checks (and is cached)
    with pytest.raises(RlkitError, match=r"t10k-images-idx3-ubyte.gz: this is the published mnist file "
                                         r"t10k-images-idx3-ubyte, not a fashion-mnist file"):
        load_mnist("test", dataset="fashion-mnist", data_dir=mnist_dir)
    code, _, err = cli("supervised", "train", "--dataset", "fashion-mnist", "--data-dir", str(mnist_dir),
                       "--epochs", "1", "--run-dir", str(isolated / "run"), "-q")
    assert code == 2 and err.count("error:") == 1 and "not a fashion-mnist file" in err
    assert not (isolated / "run").exists() or not any((isolated / "run").rglob("*.pt"))


def test_the_local_mnist_files_are_the_published_ones(mnist_dir):
    for name in D._ALL_FILES:
        assert D._md5_file(mnist_dir / f"{name}.gz") == D.DATASETS["mnist"].gz_md5[name]


def test_a_standard_size_fashion_file_with_the_wrong_md5_is_corrupt(isolated):
    folder = isolated / "fashion"
    folder.mkdir()
    zeros = _header(0x08, (10000, 28, 28)) + bytes(10000 * 784)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(zeros))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_header(0x08, (10000,)) + bytes(10000)))
    with pytest.raises(RlkitError, match="differs from the published bef4ecab.* of fashion-mnist's"):
        load_mnist("test", dataset="fashion-mnist", data_dir=folder)
