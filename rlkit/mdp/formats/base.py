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
from rlkit.mdp.models import MDP, MRP, MarkovChain

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


def _check_meta(model: Model, where: str) -> None:
    """The typed facts a file may put in ``meta`` (start distribution, action mask, grid shape) are
    checked against the model here, once, so that no later step meets a wrong shape or type."""
    meta, S = model.meta, model.n_states

    def bad(key: str, expected: str) -> RlkitError:
        return RlkitError(f"meta {key}: expected {expected}, got {str(meta[key])[:80]!r}", where=where)

    for key in ("grid", "value_shape"):
        if meta.get(key) is not None:
            v = meta[key]
            if (not isinstance(v, (list, tuple, np.ndarray)) or len(v) != 2
                    or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
                               for x in v) or int(v[0]) * int(v[1]) != S):
                raise bad(key, f"[rows, cols], two positive integers with rows * cols = {S} states")
            meta[key] = (int(v[0]), int(v[1]))
    if meta.get("grid_map") is not None:
        gm = meta["grid_map"]
        if not isinstance(gm, (list, tuple)) or not all(isinstance(r, str) for r in gm):
            raise bad("grid_map", "a list of row strings")
    for key, dtype, shape in (("initial", np.float64, (S,)),
                              ("action_mask", bool, (S, getattr(model, "n_actions", 1)))):
        if meta.get(key) is None:
            continue
        try:
            arr = np.asarray(meta[key], dtype=dtype)
        except (TypeError, ValueError):
            raise bad(key, f"an array of shape {shape}") from None
        if arr.shape != shape:
            raise bad(key, f"an array of shape {shape} (got shape {arr.shape})")
        if key == "initial" and (not np.isfinite(arr).all() or (arr < 0).any() or abs(arr.sum() - 1) > 1e-8):
            raise bad(key, f"a start distribution over the {S} states (non-negative, summing to 1)")
        if key == "action_mask" and not arr.any(axis=1).all():
            raise bad(key, "at least one available action in every state")
        meta[key] = arr


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
