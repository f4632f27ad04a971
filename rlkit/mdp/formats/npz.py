"""----------
``generator: gambler`` with ``params: {p_h: 0.4}`` calls :data:`rlkit.mdp.generators.GENERATORS`;
``env_kwargs`` given to :func:`load` update the parameters (for a grid, the fields of ``grid``).

``.npz`` files
--------------
Arrays ``P`` ((A, S, S) for an MDP, (S, S) for a chain or MRP), ``R`` ((S, A), (A, S, S) or
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit._budget import check_memory
from rlkit._io import atomic_write
from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import Model, _check_gamma, _first_line, _meta_json, _set_meta, model_kind
from rlkit.mdp.models import MDP, MRP, MarkovChain, check_csr_arrays


def _npz_budget(path: Path, where: str) -> None:
    """Refuse an .npz whose arrays, decompressed, would not fit (the zip directory states the sizes;
    zipfile never inflates a member beyond its stated size, so a zip bomb stops here)."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise RlkitError(f"not a readable .npz file: {_first_line(exc)}", where=where) from None
    check_memory(total, "the arrays of this .npz file", where=where)


def read(path: Path, *, where: str, gamma: float | None = None, env_kwargs: dict | None = None) -> Model:
    """Read an ``.npz`` model (arrays described in this module's docstring)."""
    if env_kwargs:
        raise RlkitError(f"an .npz model takes no env_kwargs (got {sorted(env_kwargs)})", where=where)
    return _load_npz(Path(path), gamma, where)


def _load_npz(path: Path, gamma: float | None, where: str) -> Model:
    _npz_budget(path, where)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise RlkitError(f"not a readable .npz file: {_first_line(exc)}", where=where) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise RlkitError("not an .npz archive (a single .npy array?); save models with numpy.savez",
                         where=where)
    with data:
        keys = set(data.files)

        def get(key: str, kinds: str | None = None, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
            try:
                arr = data[key]
            except ValueError as exc:
                if "pickle" not in str(exc).lower():
                    raise RlkitError(f"array {key!r} cannot be read: {_first_line(exc)}",
                                     where=where) from None
                raise RlkitError(f"array {key!r} holds Python objects (pickled), which rlkit does not load; "
                                 "save plain numeric arrays (numpy.savez(path, P=P, R=R))",
                                 where=where) from None
            except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise RlkitError(f"array {key!r} cannot be read: {_first_line(exc)}", where=where) from None
            if kinds is not None and arr.dtype.kind not in kinds:
                raise RlkitError(f"array {key!r} has dtype {arr.dtype}; expected {_KIND_WORDS[kinds]}",
                                 where=where)
            ndims = (ndim,) if isinstance(ndim, int) else ndim
            if ndims is not None and arr.ndim not in ndims:
                raise RlkitError(f"array {key!r} has shape {arr.shape}; expected "
                                 f"{' or '.join(f'{n}-D' for n in ndims)}", where=where)
            return arr

        def scalar(key: str, kinds: str) -> Any:
            arr = get(key, kinds)
            if arr.size != 1 or arr.ndim > 1:
                raise RlkitError(f"array {key!r} has shape {arr.shape}; expected a single value", where=where)
            return arr.reshape(()).item()

        meta: dict[str, Any] = {}
        if "meta_json" in keys:
            try:
                meta = json.loads(scalar("meta_json", "U"))
            except (ValueError, RecursionError) as exc:
                raise RlkitError(f"meta_json is not valid JSON: {str(exc)[:200]}", where=where) from None
            if not isinstance(meta, dict):
                raise RlkitError(f"meta_json holds a {type(meta).__name__}; expected a JSON object",
                                 where=where)
        if "P" in keys:
            P: Any = get("P", "fiub", (2, 3)).astype(np.float64)
        elif "P_csr_count" in keys:
            count = scalar("P_csr_count", "iu")
            n_given = sum(1 for k in keys if k.startswith("P_csr_indptr_"))
            if not 1 <= count <= n_given:
                raise RlkitError(f"P_csr_count is {count} but the file holds {n_given} sparse matrices "
                                 "(P_csr_indptr_*)", where=where)
            P = _csr_from_npz(get, int(count), where)
        else:
            raise RlkitError(f"no array 'P' (found {', '.join(sorted(keys)) or 'nothing'}); an .npz model "
                             "holds P (A, S, S) or (S, S) and R", where=where)
        declared = str(scalar("kind", "US")) if "kind" in keys else None
        if isinstance(P, list):
            kind = declared or ("mdp" if len(P) > 1 else "mrp" if "R" in keys else "chain")
            if kind != "mdp":
                P = P[0] if len(P) == 1 else P
        else:
            kind = declared or ("mdp" if P.ndim == 3 else "mrp" if "R" in keys else "chain")
        shape = (len(P), *P[0].shape) if isinstance(P, list) else P.shape
        if kind not in ("chain", "mrp", "mdp"):
            raise RlkitError(f"kind is {kind!r}; expected chain, mrp or mdp", where=where)
        if kind == "mdp" and (len(shape) != 3 or shape[1] != shape[2]):
            raise RlkitError(f"P has shape {shape}; an MDP needs P of shape (A, S, S)", where=where)
        if kind != "mdp" and (len(shape) != 2 or shape[0] != shape[1]):
            raise RlkitError(f"P has shape {shape}; expected (A, S, S) for an MDP or (S, S) for a chain "
                             "or MRP", where=where)
        S = shape[1] if kind == "mdp" else shape[0]
        A = shape[0] if kind == "mdp" else None

        states = [str(x) for x in get("states", "USiu", 1).tolist()] if "states" in keys else None
        actions = [str(x) for x in get("actions", "USiu", 1).tolist()] if "actions" in keys else None
        if states is not None and len(states) != S:
            raise RlkitError(f"states has {len(states)} names but P has {S} states", where=where)
        if actions is not None and A is not None and len(actions) != A:
            raise RlkitError(f"actions has {len(actions)} names but P has {A} actions", where=where)
        terminal = get("terminal", "biu", 1).astype(bool) if "terminal" in keys else None
        if terminal is not None and terminal.shape != (S,):
            raise RlkitError(f"terminal has shape {terminal.shape}; expected ({S},) booleans", where=where)
        if "gamma" in keys and gamma is None:
            gamma = _check_gamma(float(scalar("gamma", "fiu")), where=f"{where} gamma")
        elif gamma is not None:
            gamma = _check_gamma(gamma)
        try:
            if kind == "chain":
                model: Model = MarkovChain(P, states)
            else:
                if "R" not in keys:
                    raise RlkitError(f"no array 'R'; a {kind} needs rewards R", where=where)
                R = get("R", "fiub").astype(np.float64)
                if kind == "mdp":
                    ok = [(S, A), (A, S, S), (S,)]
                    if R.shape not in ok:
                        raise RlkitError(f"R has shape {R.shape}; expected (S, A) = ({S}, {A}), "
                                         f"(A, S, S) = ({A}, {S}, {S}) or (S,) = ({S},)", where=where)
                elif R.shape not in ((S,), (S, S)):
                    raise RlkitError(f"R has shape {R.shape}; an MRP needs ({S},)", where=where)
                if gamma is None:
                    raise RlkitError("no gamma in the file: pass a discount (--gamma G, load(..., gamma=G)) "
                                     "or save one (numpy.savez(path, P=P, R=R, gamma=0.9))", where=where)
                if kind == "mrp":
                    model = MRP(P, R, gamma, states=states, terminal=terminal)
                else:
                    model = MDP(P, R, gamma, states=states, actions=actions, terminal=terminal)
        except RlkitError as exc:
            if exc.where:
                raise
            raise RlkitError(str(exc), where=where) from None
        arrays = {key: get(key, "biuf" if key == "initial" else "biu") for key in ("action_mask", "initial")
                  if key in keys}
    _set_meta(model, {**meta, **arrays}, where)  # the arrays win over meta_json
    return model


_KIND_WORDS = {"fiub": "numbers", "fiu": "a number", "iu": "an integer", "US": "a string", "U": "a string",
               "USiu": "names (strings)", "biu": "booleans", "biuf": "numbers"}



def _csr_from_npz(get, count: int, where: str) -> list[sp.csr_array]:
    out = []
    for a in range(count):
        try:
            data, indices, indptr = (get(f"P_csr_{k}_{a}") for k in ("data", "indices", "indptr"))
        except KeyError as exc:
            raise RlkitError(f"sparse P is incomplete: missing {exc}", where=where) from None
        shape = None if not out else out[0].shape
        try:
            out.append(check_csr_arrays(data, indices, indptr, shape, field=f"P_csr_*_{a}"))
        except RlkitError as exc:
            raise RlkitError(str(exc), where=where) from None
    return out


def write(model: Model, path: Path) -> None:
    """Write ``model`` as an ``.npz`` file of arrays, atomically."""
    kind = model_kind(model)
    arrays: dict[str, np.ndarray] = {"kind": np.array(kind), "states": np.array(model.states)}
    mats = model.P if isinstance(model.P, list) else ([model.P] if sp.issparse(model.P) else None)
    if mats is None:
        arrays["P"] = np.asarray(model.P)
    else:
        arrays["P_csr_count"] = np.array(len(mats))
        for a, m in enumerate(mats):
            m = sp.csr_array(m)
            arrays[f"P_csr_data_{a}"] = m.data
            arrays[f"P_csr_indices_{a}"] = m.indices
            arrays[f"P_csr_indptr_{a}"] = m.indptr
    if kind != "chain":
        arrays["R"] = np.asarray(model.R)
        arrays["gamma"] = np.array(model.gamma)
        arrays["terminal"] = np.asarray(model.terminal, dtype=bool)
    if kind == "mdp":
        arrays["actions"] = np.array(model.actions)
    meta = dict(model.meta)
    for key in ("action_mask", "initial"):
        if meta.get(key) is not None:
            arrays[key] = np.asarray(meta.pop(key))
    arrays["meta_json"] = np.array(_meta_json(meta))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write(path, write)


