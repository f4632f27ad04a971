"""Gymnasium spaces <-> plain dicts of tensors and values, so model files and checkpoints load
with ``weights_only=True`` (no pickled objects)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from rlkit.errors import RlkitError

__all__ = ["space_from_dict", "space_to_dict"]


def space_to_dict(space: spaces.Space) -> dict[str, Any]:
    """A Box / Discrete / MultiDiscrete / MultiBinary space as a dict of tensors and plain values.

    >>> space_from_dict(space_to_dict(spaces.Discrete(3, start=1)))
    Discrete(3, start=1)
    """
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": torch.from_numpy(np.array(space.low)),
            "high": torch.from_numpy(np.array(space.high)),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": np.asarray(space.start).tolist(),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(np.atleast_1d(space.n).tolist())}
    raise RlkitError(f"cannot save a {type(space).__name__} space", where="space")


def space_from_dict(d: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_dict`."""
    kind = d.get("type")
    if kind == "Box":
        return spaces.Box(d["low"].numpy(), d["high"].numpy(), dtype=np.dtype(d["dtype"]))
    if kind == "Discrete":
        return spaces.Discrete(d["n"], start=d["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.array(d["nvec"]), start=np.array(d["start"]))
    if kind == "MultiBinary":
        n = d["n"]
        return spaces.MultiBinary(n[0] if len(n) == 1 else n)
    raise RlkitError(f"unknown space type {kind!r}", where="checkpoint")
