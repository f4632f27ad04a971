"""What every model format shares: error locations (file, line, field), numbers and probabilities
read from text, names, the discount check, and the checks of a loaded model's typed facts."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import to_json
from rlkit.errors import RlkitError
from rlkit.mdp.models import LEGACY_META_KEYS, MDP, MRP, MarkovChain, check_fact

Model = MarkovChain | MRP | MDP

#: Absolute tolerance on the sum of an outcome's probabilities in a model file.
PROB_TOL = 1e-8

#: Most nodes a YAML/JSON document may hold once its aliases are expanded, and deepest nesting.
MAX_DOC_NODES = 2_000_000
MAX_DOC_DEPTH = 64


def model_kind(model: Any) -> str:
    """``"chain"``, ``"mrp"`` or ``"mdp"``."""
    if isinstance(model, MDP):
        return "mdp"
    if isinstance(model, MRP):
        return "mrp"
    if isinstance(model, MarkovChain):
        return "chain"
    raise RlkitError(f"not an rlkit model: {type(model).__name__}")


def _close(word: str, choices: Sequence[str], n: int = 3) -> str:
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(x) for x in m)}?)" if m else ""


def _listing(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _short(x: Any, limit: int = 60) -> str:
    """``repr(x)``, cut to ``limit`` characters for a message (a value may have thousands of digits)."""
    if isinstance(x, int) and x.bit_length() > 200:
        return f"an integer of about {x.bit_length() * 3 // 10} digits"
    text = repr(x)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_gamma(gamma: Any, where: str | None = None) -> float:
    if isinstance(gamma, bool):
        raise RlkitError(f"gamma must be a number in [0, 1], got {_short(gamma)}", where=where)
    try:
        if isinstance(gamma, str) and len(gamma) > 400:
            raise ValueError("too long")
        g = float(Fraction(gamma.strip())) if isinstance(gamma, str) else float(gamma)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise RlkitError(f"gamma must be a number in [0, 1], got {_short(gamma)}", where=where) from None
    if not (0.0 <= g <= 1.0):  # also catches NaN
        raise RlkitError(f"gamma = {g} is outside [0, 1]; use a discount between 0 and 1", where=where)
    return g


class _Map(dict):
    """A YAML mapping that remembers the line of each key."""

    line: int | None = None
    key_lines: dict



class _Ctx:
    """Where we are in a model file, for error messages: ``file line N: field: message``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, field: str, message: str, line: int | None = None) -> RlkitError:
        where = f"{self.source} line {line}" if line else self.source
        return RlkitError(f"{field}: {message}" if field else message, where=where)


def _line_of(mapping: Any, key: Any) -> int | None:
    if isinstance(mapping, _Map):
        return mapping.key_lines.get(key, mapping.line)
    return None


def _name(x: Any) -> str:
    """State/action names are strings; YAML may have read ``1`` or ``yes`` as a number or bool."""
    return str(x)


def _number(x: Any, ctx: _Ctx, field: str, line: int | None, what: str = "reward") -> float:
    if isinstance(x, bool) or x is None:
        raise ctx.error(field, f"{what} must be a number, got {_short(x)}", line)
    try:
        if isinstance(x, (int, float, np.integer, np.floating)):
            v = float(x)
        elif isinstance(x, str):
            try:
                if len(x) > 400:
                    raise ValueError("too long")
                v = float(Fraction(x.strip()))
            except (ValueError, ZeroDivisionError):
                raise ctx.error(field, f"{what} must be a number or a fraction like '1/3', got {_short(x)}",
                                line) from None
        else:
            raise ctx.error(field, f"{what} must be a number, got {type(x).__name__} {_short(x)}", line)
    except OverflowError:
        raise ctx.error(field, f"{what} {_short(x)} is too large for a float; give a finite number",
                        line) from None
    if math.isnan(v):
        raise ctx.error(field, f"{what} is NaN; give a finite number", line)
    if math.isinf(v):
        raise ctx.error(field, f"{what} is infinite; give a finite number", line)
    return v


def _prob(x: Any, ctx: _Ctx, field: str, line: int | None) -> float:
    p = _number(x, ctx, field, line, what="probability")
    if p < 0:
        raise ctx.error(field, f"negative probability {p}; probabilities must be in [0, 1]", line)
    if p > 1 + PROB_TOL:
        raise ctx.error(field, f"probability {p} is greater than 1", line)
    return p



def _name_list(value: Any, ctx: _Ctx, field: str, line: int | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [_name(value)]
    if not isinstance(value, list):
        raise ctx.error(field, f"must be a list of names, got {_short(value)}", line)
    out = [_name(v) for v in value]
    dup = [n for i, n in enumerate(out) if n in out[:i]]
    if dup:
        raise ctx.error(field, f"{dup[0]!r} is listed twice; names must be unique", line)
    return out


def _index_of(names: list[str], ctx: _Ctx, field: str, line: int | None, what: str = "state"):
    index = {n: i for i, n in enumerate(names)}

    def lookup(name: str, f: str | None = None, ln: int | None = None) -> int:
        if name not in index:
            raise ctx.error(f or field, f"unknown {what} {name!r}{_close(name, names)}; known {what}s: "
                            f"{_listing(names)}", ln or line)
        return index[name]

    return lookup



def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _set_meta(model: Model, values: dict, where: str) -> None:
    """Put the ``meta`` entries of a file on ``model``: an old key of a typed fact (``"initial"``,
    ``"grid"``, ``"action_mask"``, ... :data:`~rlkit.mdp.models.LEGACY_META_KEYS`; files written
    before the fields carry them) is checked against the model, once, and set unless the model
    already has that fact; anything else is free-form (``value_shape`` checked like a grid)."""
    for key, value in values.items():
        key = str(key)
        field = LEGACY_META_KEYS.get(key)
        try:
            if field in model._FACTS:
                if getattr(model, field) is None:
                    model._put_fact(field, check_fact(model, field, value, label=f"meta {key}"))
            elif key not in model._store:
                if key == "value_shape" and value is not None:
                    value = check_fact(model, "grid", value, label="meta value_shape")
                model._store[key] = value
        except RlkitError as exc:
            raise RlkitError(str(exc), where=where) from None


def _meta_json(meta: dict) -> str:
    plain = {}
    for k, v in meta.items():
        try:
            plain[str(k)] = json.loads(to_json(v))
        except (TypeError, ValueError):
            continue  # not serialisable: left out
    return json.dumps(plain)



def _first_line(exc: BaseException, default: str = "") -> str:
    text = str(exc).splitlines()[0] if str(exc) else default
    if "Exceeds the limit" in text:  # Python's int-from-string guard
        return "a number has more than 4300 digits; write numbers of ordinary size"
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DOC_DEPTH} levels deep"
    return text[:200]




#: Largest model/policy file read as text (YAML/JSON/CSV); a larger model belongs in an .npz.
MAX_TEXT_BYTES = 256 * 2**20


def _read_text(path: Path, where: str, what: str) -> str:
    """The text of a model file of format ``what``, refused beyond :data:`MAX_TEXT_BYTES`."""
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise RlkitError(f"the file has {size:,} bytes, more than the {MAX_TEXT_BYTES:,} rlkit reads as "
                             f"{what}; save large models as .npz (rlkit.mdp.io.save(model, 'm.npz'))",
                             where=where)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RlkitError(f"cannot read the file: {_first_line(exc)}", where=where) from None
