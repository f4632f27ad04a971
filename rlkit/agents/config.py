"""Hyperparameter dataclasses that check themselves: the types come from the annotations, the
ranges and choices from each field's metadata, so there is no second type table to keep in step.

Declare a field with :func:`hp`::

    @dataclass
    class MyConfig(OnPolicyConfig):
        clip_range: float = hp(0.2, lo=0.0, hi=1.0, doc="PPO's clip epsilon")
        mode: str = hp("fast", choices=("fast", "exact"))

and :func:`check_field` / :func:`make_config` validate a value / a whole config against it::

    >>> from rlkit.agents.base import OnPolicyConfig
    >>> check_field(OnPolicyConfig, "gamma", 1)
    1.0
    >>> check_field(OnPolicyConfig, "gamma", 1.5)
    Traceback (most recent call last):
    ...
    rlkit.errors.RlkitError: gamma: must be in [0.0, 1.0], got 1.5
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any

import numpy as np

from rlkit.errors import RlkitError

__all__ = ["check_field", "field_names", "hp", "make_config"]


def hp(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with a default (copied when it is a dict) and its checks.

    :param lo: smallest allowed value (numbers).
    :param hi: largest allowed value (floats).
    :param choices: allowed strings.
    :param doc: one line on what it does.
    """
    meta = {"lo": lo, "hi": hi, "choices": choices, "doc": doc}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@cache
def _fields(cls: type) -> dict[str, tuple[type, bool, dict[str, Any]]]:
    """name -> (base type, nullable, metadata) of a config dataclass."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp, nullable = hints[f.name], False
        if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            nullable = len(args) < len(typing.get_args(tp))
            tp = args[0]
        out[f.name] = (typing.get_origin(tp) or tp, nullable, dict(f.metadata))
    return out


def field_names(cls: type) -> list[str]:
    """The hyperparameter names of a config dataclass."""
    return list(_fields(cls))


def check_field(cls: type, name: str, value: Any, where: str | None = None) -> Any:
    """Check one hyperparameter of config class ``cls``; return it normalised (ints accepted for
    floats, numpy scalars turned into Python ones).

    :raises RlkitError: unknown name, wrong type, out of range, not one of the choices.
    """
    where = where or name
    fields = _fields(cls)
    if name not in fields:
        raise RlkitError(
            f"unknown hyperparameter {name!r}; known: {', '.join(sorted(fields))}, policy.*", where=where
        )
    tp, nullable, meta = fields[name]
    if value is None:
        if nullable:
            return None
        raise RlkitError("must not be null", where=where)
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise RlkitError(f"must be true or false, got {value!r}", where=where)
        return bool(value)
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise RlkitError(f"must be an integer, got {value!r}", where=where)
        if lo is not None and value < lo:
            raise RlkitError(f"must be >= {lo}, got {value}", where=where)
        if hi is not None and value > hi:
            raise RlkitError(f"must be <= {hi}, got {value}", where=where)
        return int(value)
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise RlkitError(f"must be a number, got {value!r}", where=where)
        try:
            x = float(value)
        except OverflowError:
            raise RlkitError(f"must be a finite number, got {value}", where=where) from None
        low = -math.inf if lo is None else float(lo)
        high = math.inf if hi is None else float(hi)
        if math.isnan(x) or not (low <= x <= high):
            raise RlkitError(f"must be in [{low}, {high}], got {value}", where=where)
        return x
    if tp is str:
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise RlkitError(f"must be one of {', '.join(choices or ())}, got {value!r}", where=where)
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise RlkitError(f"must be a mapping, got {value!r}", where=where)
        return dict(value)
    raise TypeError(f"{cls.__name__}.{name}: unsupported hyperparameter type {tp!r}")  # a bug, not input


def make_config(cls: type, **values: Any) -> Any:
    """A checked instance of config class ``cls`` from keyword arguments."""
    return cls(**{k: check_field(cls, k, v) for k, v in values.items()})
