"""Small file helpers shared by every writer: atomic writes, JSON that numpy values can go into."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import RlkitError


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that understands numpy arrays and scalars and paths."""
    return json.dumps(obj, default=_jsonable, **kwargs)


#: A leftover temporary file of a write whose process is gone is removed by the next write into
#: its folder; one whose owner cannot be told (another host, an older rlkit) only after this long.
STALE_TMP_S = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
_TMP_RE = re.compile(r"^\..+\.rlkit-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[^.]*\.tmp$")
_OLD_TMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # mkstemp names of earlier rlkit versions


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writes of rlkit left in ``folder`` (only rlkit's own
    names: ``.<name>.rlkit-<host>-<pid>-*.tmp`` whose process on this host is gone, or any of them
    (and earlier versions' ``.<name>.XXXXXXXX.tmp``) older than :data:`STALE_TMP_S`).

    :return: the files removed.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        m = _TMP_RE.match(name)
        if m is None and not _OLD_TMP_RE.match(name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TMP_S
            orphan = m is not None and m["host"] == _HOST and not _pid_alive(int(m["pid"]))
            if old or orphan:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # raced with its owner or another cleaner: leave it
            continue
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(tmp_path)`` fills a temporary file in the same folder,
    which is then renamed over ``path``. A crash leaves the old file (or none), never half of one;
    the temporary files that killed writes left behind are removed by the next write into the folder
    (:func:`clean_stale_tmp`). The file gets the permissions a plain ``open()`` would give it (0644
    under the usual umask 022), or keeps those of the file it replaces.
    """
    path = Path(path)
    if path.is_dir():
        raise RlkitError("is a folder; give a file name to write", where=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RlkitError(f"cannot create the folder {path.parent}: a file of that name is in the way",
                         where=str(path)) from None
    except NotADirectoryError:
        raise RlkitError(f"cannot write under {path.parent}: part of that path is a file, not a folder",
                         where=str(path)) from None
    clean_stale_tmp(path.parent)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.rlkit-{_HOST}-{os.getpid()}-",
                               suffix=".tmp")
    tmp_path = Path(tmp)
    try:
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, to_json(obj, indent=2) + "\n")
