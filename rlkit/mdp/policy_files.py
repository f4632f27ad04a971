"""Policies read from files or given by name, for an MDP (``rlkit solve-mdp --policy``)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._budget import check_memory
from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import _close, _Ctx, _first_line, _listing, _name, _prob, model_kind
from rlkit.mdp.formats.npz import _npz_budget
from rlkit.mdp.formats.yamldoc import _read_doc
from rlkit.mdp.models import MDP


def action_mask(model: MDP) -> np.ndarray:
    """(S, A) bool: the actions available in each state (:meth:`MDP.available_actions`)."""
    return model.available_actions()


def uniform_policy(model: MDP) -> np.ndarray:
    """The equiprobable policy over each state's available actions (:meth:`MDP.uniform_policy`)."""
    return model.uniform_policy()


def load_policy(source: str | Path | np.ndarray | Sequence, model: MDP) -> np.ndarray:
    """A policy for ``model``: ``"uniform"``, an array, or a file.

    Files: ``.npy`` / ``.npz`` (array ``policy`` or the only array), ``.json`` / ``.yaml`` holding a
    list of action indices or names (one per state), an (S, A) list of lists, a mapping
    ``state: action`` or ``state: {action: probability}`` (missing states: uniform over their
    available actions), or the output of ``rlkit solve-mdp --format json`` (its ``policy``).

    :return: (S,) action indices or an (S, A) row-stochastic matrix, validated.
    """
    if not isinstance(model, MDP):
        raise RlkitError(f"a policy needs an MDP; this model is a {model_kind(model)}")
    where = None
    if isinstance(source, (str, Path)):
        if str(source) == "uniform":
            return uniform_policy(model)
        path = Path(source).expanduser()
        where = str(path)
        if not path.is_file():
            raise RlkitError(f"policy file not found: {path} (give a file or 'uniform')")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            check_memory(path.stat().st_size, "this policy file", where=where)
            try:
                value: Any = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise RlkitError(f"not a readable .npy array: {_first_line(exc, 'empty')}",
                                 where=where) from None
            if not isinstance(value, np.ndarray):
                raise RlkitError("not a .npy array (an .npz archive?); save the policy with numpy.save",
                                 where=where)
        elif suffix == ".npz":
            _npz_budget(path, where)
            try:
                data = np.load(path, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("a single array, not an archive")
                with data:
                    files = data.files
                    key = "policy" if "policy" in files else (files[0] if len(files) == 1 else None)
                    value = None if key is None else data[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise RlkitError(f"not a readable .npz file: {_first_line(exc, 'empty')}",
                                 where=where) from None
            if key is None:
                raise RlkitError(f"no array 'policy' (found {', '.join(files) or 'nothing'})", where=where)
        elif suffix in (".json", ".yaml", ".yml"):
            value = _read_doc(path, where)
        else:
            raise RlkitError(f"unsupported policy file type {suffix!r}; use .json, .yaml, .npy or .npz",
                             where=where)
    else:
        value = source
    if isinstance(value, dict) and "policy" in value:
        value = value["policy"]
    try:
        if isinstance(value, dict):
            value = _policy_from_mapping(value, model)
        idx, mat = model.check_policy(value)
    except RlkitError as exc:
        if where is None or exc.where:
            raise
        raise RlkitError(str(exc), where=where) from None
    return idx if idx is not None else mat


def _policy_from_mapping(mapping: dict, model: MDP) -> np.ndarray:
    pi = uniform_policy(model)
    s_of = {n: i for i, n in enumerate(model.states)}
    a_of = {n: i for i, n in enumerate(model.actions)}
    for s_name, choice in mapping.items():
        s_name = _name(s_name)
        if s_name not in s_of:
            raise RlkitError(f"policy: unknown state {s_name!r}{_close(s_name, model.states)}")
        s = s_of[s_name]
        row = np.zeros(model.n_actions)
        items = choice.items() if isinstance(choice, dict) else [(choice, 1.0)]
        for a_name, p in items:
            a_name = _name(a_name)
            if a_name not in a_of:
                raise RlkitError(f"policy.{s_name}: unknown action {a_name!r}"
                                 f"{_close(a_name, model.actions)}; actions are {_listing(model.actions)}")
            row[a_of[a_name]] += _prob(p, _Ctx("policy"), f"{s_name}.{a_name}", None)
        pi[s] = row
    return pi
