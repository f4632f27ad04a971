"""Reading rlkit's torch files (models, checkpoints) safely, and checksums of their tensors.

Files are read with ``torch.load(..., weights_only=True)``: no pickled object ever runs. Torch does
not check the zip's CRCs, so a flipped byte inside a tensor loads silently; :func:`tensors_digest`
gives a SHA-256 over the names, dtypes, shapes and bytes of a state dict, which rlkit stores beside
the weights and compares on load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from rlkit.errors import RlkitError

__all__ = ["load_torch_file", "structure_digest", "tensors_digest"]


def tensors_digest(state: dict[str, Any]) -> str:
    """SHA-256 (hex) of a ``{name: tensor}`` dict: names, dtypes, shapes and contents, in name order.

    >>> import torch
    >>> a = tensors_digest({"w": torch.zeros(2)})
    >>> a == tensors_digest({"w": torch.zeros(2)}), a == tensors_digest({"w": torch.ones(2)})
    (True, False)
    """
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            raise RlkitError(f"{name!r} is not a tensor", where="weights")
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def structure_digest(obj: Any) -> str:
    """SHA-256 (hex) of a nested structure of dicts, lists, tensors and plain values: every path,
    type and value (tensors by dtype, shape and bytes), so any changed byte of a checkpoint shows.

    >>> import torch
    >>> a = structure_digest({"n": 1, "w": [torch.zeros(2)]})
    >>> b = structure_digest({"n": 2, "w": [torch.zeros(2)]})
    >>> a == structure_digest({"n": 1, "w": [torch.zeros(2)]}), a == b
    (True, False)
    """
    import torch

    h = hashlib.sha256()

    def walk(x: Any, path: str) -> None:
        if isinstance(x, dict):
            h.update(f"{path}{{{len(x)}|".encode())
            for k in sorted(x, key=repr):
                walk(x[k], f"{path}/{k!r}")
        elif isinstance(x, (list, tuple)):
            h.update(f"{path}[{len(x)}|".encode())
            for i, v in enumerate(x):
                walk(v, f"{path}/{i}")
        elif isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"{path}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(f"{path}={type(x).__name__}:{x!r}|".encode())

    walk(obj, "")
    return h.hexdigest()


def load_torch_file(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with an :class:`RlkitError` for a missing, empty or
    corrupt file, or one that holds anything but a dict."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise RlkitError("no such file", where=str(path))
    if path.stat().st_size == 0:
        raise RlkitError("the file is empty (a write was interrupted?)", where=str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means a damaged file
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise RlkitError(
            f"cannot read the file (corrupt or not a checkpoint): {first}", where=str(path)
        ) from None
    if not isinstance(data, dict):
        raise RlkitError("not an rlkit checkpoint", where=str(path))
    return data
