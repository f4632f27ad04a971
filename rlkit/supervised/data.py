"""MNIST and Fashion-MNIST from the four standard IDX files, loaded once into uint8 tensors.

>>> from rlkit.supervised.data import load_mnist
>>> images, labels = load_mnist("test")                     # doctest: +SKIP
>>> images.shape, images.dtype, labels[:5].tolist()         # doctest: +SKIP
(torch.Size([10000, 28, 28]), torch.uint8, [7, 2, 1, 0, 4])

Files are the torchvision names (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``), gzipped or not, looked up in
``data_dir`` (also ``data_dir/<dataset>`` and torchvision's ``data_dir/MNIST/raw``), then
``$RLKIT_DATA/<dataset>``, then ``~/.cache/rlkit/<dataset>`` (``$XDG_CACHE_HOME`` if set).
Every file is checked before use: IDX magic, dtype code, header/body size, image/label counts,
label range, the gzip CRC (never inflating beyond the header's size), and for standard-size files
the published MD5s (content and .gz; a file of another dataset is refused by name).
Missing files raise one :class:`~rlkit.errors.RlkitError` naming the four files and the folders
searched; :func:`download_mnist` (opt-in, ``download=True``) fetches them with MD5 checks.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn

from rlkit._budget import check_memory
from rlkit._io import atomic_write
from rlkit.errors import RlkitError
from rlkit.progress import new_progress, wanted

__all__ = [
    "DATASETS",
    "FILES",
    "MirrorSet",
    "download_mnist",
    "find_data_dir",
    "load_mnist",
    "random_shift",
    "read_idx",
]

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = [*FILES["train"], *FILES["test"]]


@dataclass(frozen=True)
class MirrorSet:
    """Where a dataset comes from and what its files must hash to.

    :param mirrors: base URLs tried in order (the file name is appended).
    :param gz_md5: MD5 of each standard ``.gz`` file.
    :param raw_md5: MD5 of each decompressed file (checked on local files of the standard size).
    :param mean: pixel mean on the training set (pixels scaled to [0, 1]).
    :param std: pixel standard deviation on the training set.
    :param torchvision_name: torchvision's folder name (``<root>/<name>/raw``).
    :param classes: class names.
    """

    mirrors: tuple[str, ...]
    gz_md5: dict[str, str]
    raw_md5: dict[str, str]
    mean: float
    std: float
    torchvision_name: str
    classes: tuple[str, ...]


DATASETS: dict[str, MirrorSet] = {
    # MD5s from torchvision.datasets.MNIST.resources and the published decompressed checksums
    # (see ../shared/data/mnist/SOURCE.md); mean/std are the usual 0.1307 / 0.3081.
    "mnist": MirrorSet(
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        gz_md5={"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"},
        raw_md5={"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                 "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                 "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                 "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
        mean=0.1307, std=0.3081, torchvision_name="MNIST",
        classes=tuple(str(i) for i in range(10)),
    ),
    # torchvision.datasets.FashionMNIST.resources; mean/std of the training pixels.
    "fashion-mnist": MirrorSet(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        gz_md5={"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
        raw_md5={},
        mean=0.2860, std=0.3530, torchvision_name="FashionMNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                 "Bag", "Ankle boot"),
    ),
}

_STANDARD_COUNTS = {"train": 60000, "test": 10000}

# IDX type code -> big-endian numpy dtype
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _check_dataset(dataset: str) -> MirrorSet:
    try:
        if not isinstance(dataset, str):
            raise KeyError(dataset)
        return DATASETS[dataset]
    except KeyError:
        raise RlkitError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}",
                         where="dataset") from None


# ------------------------------------------------------------------------------------------------
# IDX reader
# ------------------------------------------------------------------------------------------------


def _idx_size(head: bytes, where: str) -> int | None:
    """The total byte length an IDX file must have, from its header; None while ``head`` is too short
    to tell. Checks the magic number, and the size against the memory budget before any reading."""
    if len(head) < 4:
        return None
    if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES or not 1 <= head[3] <= 8:
        raise RlkitError(f"not an IDX file: bad magic number 0x{head[:4].hex()} (expected 0x0000TTNN "
                         "with a known type TT and 1..8 dims NN)", where=where)
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    dims = struct.unpack(f">{head[3]}I", head[4:header])
    size = header + math.prod(dims) * _IDX_DTYPES[head[2]].itemsize
    check_memory(size, f"an IDX file whose header says {dims}", where=where)
    return size


def _gunzip_idx(path: Path, where: str) -> bytes:
    """Decompress a gzipped IDX file, never beyond the size its IDX header declares (a gzip bomb, or a
    header that lies, stops at the header's size); the gzip CRC and length are checked at the end."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    expected: int | None = None
    try:
        with path.open("rb") as fh:
            while not inflate.eof:
                chunk = inflate.unconsumed_tail or fh.read(1 << 16)
                if not chunk:
                    raise RlkitError("corrupt or truncated gzip file (the stream ends early); delete it "
                                     "and fetch it again", where=where)
                limit = (expected if expected is not None else 64) - len(out) + 1
                out += inflate.decompress(chunk, max(limit, 1))
                if expected is None:
                    expected = _idx_size(bytes(out[:36]), where)
                if expected is not None and len(out) > expected:
                    raise RlkitError(f"has trailing bytes: the gzip stream holds more than the {expected} "
                                     "bytes its IDX header declares; delete it and fetch it again",
                                     where=where)
            if (inflate.unused_data + fh.read(1 << 16)).strip(b"\0"):
                raise RlkitError("has data after the end of its gzip stream; delete it and fetch it again",
                                 where=where)
    except zlib.error as exc:
        raise RlkitError(f"corrupt or truncated gzip file ({exc}); delete it and fetch it again",
                         where=where) from None
    return bytes(out)


def _read_bytes(path: Path) -> bytes:
    where = str(path)
    with path.open("rb") as fh:
        head = fh.read(36)
    if head[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        return _gunzip_idx(path, where)
    if path.suffix == ".gz":
        raise RlkitError("named .gz but is not a gzip file; delete it and fetch it again", where=where)
    expected, actual = _idx_size(head, where), path.stat().st_size
    if expected is not None and actual > expected:
        raise RlkitError(f"has trailing bytes: {actual} bytes but the header needs {expected}; delete it "
                         "and fetch it again", where=where)
    return path.read_bytes()


def _parse_idx(data: bytes, where: str) -> np.ndarray:
    if len(data) < 4:
        raise RlkitError(f"too short for an IDX file ({len(data)} bytes)", where=where)
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or not 1 <= data[3] <= 8:
        raise RlkitError(f"not an IDX file: bad magic number 0x{data[:4].hex()} (expected 0x0000TTNN "
                         "with a known type TT and 1..8 dims NN)", where=where)
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RlkitError(f"truncated IDX header ({len(data)} bytes, expected {header})", where=where)
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise RlkitError(f"{what}: {len(data)} bytes but the header {dims} of {dtype.name} needs "
                         f"{expected}; delete it and fetch it again", where=where)
    if math.prod(d for d in dims if d) * dtype.itemsize >= 2**62:  # numpy cannot even shape an empty one
        raise RlkitError(f"the header's dims {dims} describe no possible array", where=where)
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a native-endian numpy array.

    Checks the magic number (two zero bytes, a known type code, 1..8 dims), that the body size is
    exactly what the header says, and the gzip CRC. Any failure raises
    :class:`~rlkit.errors.RlkitError` naming the file.

    :param path: the file.

    Example::

        >>> import numpy as np, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> read_idx(p).tolist()
        [7, 2, 1]
    """
    path = Path(path)
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        raise RlkitError("file not found", where=str(path)) from None
    except IsADirectoryError:
        raise RlkitError("is a folder, not an IDX file", where=str(path)) from None
    return _parse_idx(data, str(path))


# ------------------------------------------------------------------------------------------------
# lookup
# ------------------------------------------------------------------------------------------------


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlkit"


def _search_dirs(dataset: str, data_dir: str | os.PathLike | None) -> list[Path]:
    spec = _check_dataset(dataset)
    dirs: list[Path] = []
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise RlkitError(f"data_dir must be a folder path, got {type(data_dir).__name__} {data_dir!r}",
                             where="--data-dir")
        d = Path(data_dir).expanduser()
        if not d.is_dir():
            raise RlkitError(f"data folder {d} does not exist (or is not a folder); pass the folder "
                             "holding the four IDX files", where="--data-dir")
        dirs += [d, d / dataset, d / spec.torchvision_name / "raw"]
    if os.environ.get("RLKIT_DATA"):
        dirs.append(Path(os.environ["RLKIT_DATA"]).expanduser() / dataset)
    dirs.append(_cache_root() / dataset)
    return dirs


def _find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(dataset: str, dirs: list[Path], extra: str = "") -> str:
    names = ", ".join(f"{n}[.gz]" for n in _ALL_FILES)
    where = ", ".join(str(d) for d in dirs)
    return (f"{dataset} data not found: expected the four IDX files {names}; looked in {where}. "
            f"Put the files in one of these folders, pass --data-dir DIR, or (with internet) "
            f"--download / download=True.{extra}")


def find_data_dir(split: str = "train", *, dataset: str = "mnist",
                  data_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Return ``(images_file, labels_file)`` of ``split`` from the first folder holding both.

    :param split: ``"train"`` or ``"test"``.
    :param dataset: ``"mnist"`` or ``"fashion-mnist"``.
    :param data_dir: a folder searched first (must exist when given).
    """
    if split not in FILES:
        raise RlkitError(f"split must be train or test, got {split!r}", where="split")
    dirs = _search_dirs(dataset, data_dir)
    for d in dirs:
        img, lab = (_find_file(d, n) for n in FILES[split])
        if img is not None and lab is not None:
            return img, lab
    raise RlkitError(_missing_message(dataset, [d for d in dirs if "raw" not in d.parts[-1:]]))


# ------------------------------------------------------------------------------------------------
# load
# ------------------------------------------------------------------------------------------------

_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _load_checked(path: Path, name: str, dataset: str, split: str) -> np.ndarray:
    data = _read_bytes(path)
    arr = _parse_idx(data, str(path))
    if arr.shape[0] == _STANDARD_COUNTS[split]:  # a standard file: it must be the published one
        _check_published(path, name, dataset, data)
    return arr


def _check_published(path: Path, name: str, dataset: str, content: bytes) -> None:
    """Compare a standard-size file with the published checksums of every dataset: the content MD5
    where one is published (MNIST), the MD5 of the ``.gz`` file (MNIST, Fashion-MNIST). A file that
    is another dataset's is refused by name; one that matches nothing published for ``dataset`` is
    corrupt. (An uncompressed Fashion-MNIST file cannot be checked: only its .gz MD5 is published.)"""
    raw_md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    with path.open("rb") as fh:
        gz_md5 = _md5_file(path) if fh.read(2) == b"\x1f\x8b" else None
    for other, spec in DATASETS.items():
        if raw_md5 == spec.raw_md5.get(name) or (gz_md5 is not None and gz_md5 == spec.gz_md5.get(name)):
            if other == dataset:
                return
            raise RlkitError(f"this is the published {other} file {name}, not a {dataset} file; point "
                             f"--data-dir at the {dataset} files (or use --dataset {other})", where=str(path))
    spec = DATASETS[dataset]
    if name in spec.raw_md5:
        raise RlkitError(f"content MD5 {raw_md5} differs from the published {spec.raw_md5[name]} of the "
                         f"standard {dataset} file: the file is corrupt; delete it and fetch it again",
                         where=str(path))
    if gz_md5 is not None and name in spec.gz_md5:
        raise RlkitError(f"MD5 {gz_md5} differs from the published {spec.gz_md5[name]} of {dataset}'s "
                         f"{name}.gz: the file is corrupt or from another dataset; delete it and fetch it "
                         "again", where=str(path))


def load_mnist(split: str = "train", *, dataset: str = "mnist", data_dir: str | os.PathLike | None = None,
               download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of MNIST or Fashion-MNIST as tensors (cached in memory after the first call).

    :param split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
    :param dataset: ``"mnist"`` or ``"fashion-mnist"``.
    :param data_dir: folder searched first (then ``$RLKIT_DATA/<dataset>``, then the user cache).
    :param download: where the files are missing, fetch them into ``data_dir`` (or the user cache)
        from the standard mirrors with MD5 checks. Off by default (never touches the network).
    :returns: ``(images, labels)``: ``torch.uint8 (N, H, W)`` and ``torch.int64 (N,)``.
    :raises RlkitError: files missing (naming the four files and the folders searched), corrupt,
        truncated, or images and labels that do not match.

    Example::

        >>> images, labels = load_mnist("test", data_dir="../shared/data/mnist")  # doctest: +SKIP
        >>> images.shape                                                        # doctest: +SKIP
        torch.Size([10000, 28, 28])
    """
    spec = _check_dataset(dataset)
    try:
        img_path, lab_path = find_data_dir(split, dataset=dataset, data_dir=data_dir)
    except RlkitError as exc:
        if not download or "not found" not in str(exc):
            raise
        dest = Path(data_dir).expanduser() if data_dir is not None else _cache_root() / dataset
        try:
            download_mnist(dataset, dest)
        except RlkitError as dl_exc:
            raise RlkitError(f"{exc} (download failed: {dl_exc})") from None
        img_path, lab_path = find_data_dir(split, dataset=dataset, data_dir=dest)
    files = ((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in (img_path, lab_path))
    key = (dataset, split, *files)  # the same files checked as another dataset are refused
    if key in _CACHE:
        return _CACHE[key]
    img_name, lab_name = FILES[split]
    images = _load_checked(img_path, img_name, dataset, split)
    labels = _load_checked(lab_path, lab_name, dataset, split)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise RlkitError(f"expected uint8 images (N, H, W), got {images.dtype.name} {images.shape}",
                         where=str(img_path))
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise RlkitError(f"expected uint8 labels (N,), got {labels.dtype.name} {labels.shape}",
                         where=str(lab_path))
    if len(images) != len(labels):
        raise RlkitError(f"{len(images)} images but {len(labels)} labels in {lab_path}; the two files "
                         "do not belong together", where=str(img_path))
    n_classes = len(spec.classes)
    if labels.size and int(labels.max()) >= n_classes:
        raise RlkitError(f"label {int(labels.max())} out of range 0..{n_classes - 1}", where=str(lab_path))
    result = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    _CACHE[key] = result
    return result


# ------------------------------------------------------------------------------------------------
# download (opt-in)
# ------------------------------------------------------------------------------------------------


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, progress, task_label: str, timeout: float) -> None:
    def write(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            task = progress.add_task(task_label, total=total) if progress is not None else None
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                out.write(chunk)
                if task is not None:
                    progress.update(task, advance=len(chunk))

    atomic_write(dest, write)


def download_mnist(dataset: str = "mnist", dest: str | os.PathLike | None = None, *,
                   mirrors: tuple[str, ...] | None = None, progress: bool | None = None,
                   timeout: float = 30.0) -> Path:
    """Download the four ``.gz`` files of ``dataset`` into ``dest`` and verify their MD5.

    Files already present with the right MD5 are kept. Each file is written atomically; a file
    whose MD5 does not match is deleted and the next mirror is tried.

    :param dataset: ``"mnist"`` or ``"fashion-mnist"``.
    :param dest: target folder (default ``~/.cache/rlkit/<dataset>``).
    :param mirrors: base URLs (default: the standard mirrors of the dataset).
    :param progress: show a progress bar (default: when stderr is a terminal).
    :param timeout: seconds per connection attempt.
    :returns: the folder.
    :raises RlkitError: no mirror delivered a file with the published MD5.
    """
    spec = _check_dataset(dataset)
    dest = Path(dest).expanduser() if dest is not None else _cache_root() / dataset
    mirrors = tuple(mirrors or spec.mirrors)
    bar = None
    if wanted(progress):
        bar = new_progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                           TransferSpeedColumn(), transient=True)
    try:
        if bar is not None:
            bar.start()
        for name in _ALL_FILES:
            fname = f"{name}.gz"
            target, md5 = dest / fname, spec.gz_md5[name]
            if target.is_file() and _md5_file(target) == md5:
                continue
            errors = []
            for base in mirrors:
                url = base.rstrip("/") + "/" + fname
                try:
                    _fetch(url, target, bar, fname, timeout)
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
                    continue
                got = _md5_file(target)
                if got == md5:
                    break
                target.unlink(missing_ok=True)
                errors.append(f"{url}: MD5 {got} != {md5}")
            else:
                raise RlkitError(f"could not download {fname}: " + "; ".join(errors))
    finally:
        if bar is not None:
            bar.stop()
    return dest


# ------------------------------------------------------------------------------------------------
# augmentation
# ------------------------------------------------------------------------------------------------


def random_shift(images: torch.Tensor, max_shift: int = 2, *, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """Shift each image of a batch by a random whole number of pixels in each direction.

    Vectorised (one gather); the border is filled with zeros, the dtype is kept.

    :param images: ``(B, H, W)`` or ``(B, C, H, W)`` tensor.
    :param max_shift: largest shift in pixels (shifts are uniform in ``[-max_shift, max_shift]``).
    :param generator: torch generator for the shifts (on the images' device).
    """
    if max_shift <= 0:
        return images
    squeeze = images.dim() == 3
    x = images.unsqueeze(1) if squeeze else images
    b, _, h, w = x.shape
    s = int(max_shift)
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    offs = torch.randint(0, 2 * s + 1, (2, b), device=x.device, generator=generator)
    rows = (offs[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
    cols = (offs[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B,1,1,W)
    bidx = torch.arange(b, device=x.device)[:, None, None, None]
    cidx = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[bidx, cidx, rows, cols]
    return out.squeeze(1) if squeeze else out
