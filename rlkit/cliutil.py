"""Small parsers of command-line values shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from rlkit.errors import RlkitError


def parse_env_kwargs(items: Sequence[str] | None) -> dict[str, Any]:
    """``["is_slippery=false", "map_name=8x8"]`` -> ``{"is_slippery": False, "map_name": "8x8"}``
    (values read as YAML scalars/lists: numbers, true/false, [1, 2], strings)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise RlkitError(f"--env-kwargs: {item!r} is not key=value (e.g. is_slippery=false)")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key] = value
    return out


