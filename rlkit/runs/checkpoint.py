"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain values (ints, floats, strings, lists, dicts) saved with
:func:`torch.save` to a temporary file in the same folder and renamed over the old one, so a crash
while writing leaves the previous checkpoint intact. It is read back with
``torch.load(..., weights_only=True)``; anything else in the file (a pickled class, a damaged
byte) is an :class:`~rlkit.errors.RlkitError`, never code that runs. Torch does not check the zip's
CRCs, so the checkpoint carries a SHA-256 of its whole structure (``digest``), checked on load: a
flipped byte inside a tensor is refused instead of trained on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rlkit._io import atomic_write
from rlkit._torchfile import load_torch_file, structure_digest
from rlkit.errors import RlkitError

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "rlkit-run-checkpoint"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], *, fmt: str = CHECKPOINT_FORMAT) -> Path:
    """Save ``state`` (tensors and plain values) to ``path`` atomically, with its ``digest``.

    :param path: the ``.pt`` file.
    :param state: the dict to save; ``format`` is set to ``fmt``.
    :param fmt: the format tag (default :data:`CHECKPOINT_FORMAT`; other file kinds, e.g. the
        supervised ``model.pt``, pass their own).
    """
    state = {**state, "format": fmt}
    state["digest"] = structure_digest(state)
    return atomic_write(path, lambda p: torch.save(state, p))


def load_checkpoint(path: str | os.PathLike, *, fmt: str = CHECKPOINT_FORMAT,
                    foreign: str = "not an rlkit run checkpoint") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    A file without a ``digest`` (written before digests existed) loads unchecked.

    :param fmt: the format tag the file must carry.
    :param foreign: the error message for a readable file of another format.
    :raises RlkitError: missing, corrupt, damaged (digest) or of another format.
    """
    data = load_torch_file(path)
    if data.get("format") != fmt:
        raise RlkitError(foreign, where=str(path))
    digest = data.pop("digest", None)
    if digest is not None and structure_digest(data) != digest:
        raise RlkitError("the checkpoint does not match its checksum (damaged or edited)", where=str(path))
    return data
