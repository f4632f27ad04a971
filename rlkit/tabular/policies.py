"""Policies for the sample-based methods: uniform, optimal, from a file, epsilon-greedy.

A policy is an (S, A) row-stochastic matrix or an (S,) array of action indices (DESIGN.md);
:func:`as_policy_matrix` turns either into the matrix the samplers use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import RlkitError


def uniform_policy(n_states: int, n_actions: int) -> np.ndarray:
    """The equiprobable random policy, (S, A)."""
    return np.full((n_states, n_actions), 1.0 / n_actions)


def as_policy_matrix(policy: Any, n_states: int, n_actions: int, *, where: str = "policy") -> np.ndarray:
    """Validate ``policy`` and return it as an (S, A) row-stochastic float matrix.

    :param policy: (S, A) probabilities or (S,) action indices (ints, or floats that are whole).
    :param n_states: S of the model.
    :param n_actions: A of the model.
    :param where: what to name in error messages (e.g. the file).
    """
    arr = np.asarray(policy)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise RlkitError("a policy must be numeric: an (S, A) probability matrix or (S,) action indices",
                         where=where)
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape == (n_states, 1) and n_actions != 1):
        arr = arr.reshape(-1)
        if arr.shape != (n_states,):
            raise RlkitError(f"shape {arr.shape} does not match the model: give (S, A) = ({n_states}, "
                             f"{n_actions}) probabilities or ({n_states},) action indices", where=where)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise RlkitError("action indices must be whole numbers", where=where)
        idx = arr.astype(np.int64)
        if (idx < 0).any() or (idx >= n_actions).any():
            raise RlkitError(f"action indices must be in 0..{n_actions - 1}", where=where)
        out = np.zeros((n_states, n_actions))
        out[np.arange(n_states), idx] = 1.0
        return out
    if arr.shape != (n_states, n_actions):
        raise RlkitError(f"shape {arr.shape} does not match the model: give (S, A) = ({n_states}, "
                         f"{n_actions}) probabilities or ({n_states},) action indices", where=where)
    arr = arr.astype(float)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise RlkitError("policy probabilities must be finite and >= 0", where=where)
    sums = arr.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise RlkitError(f"row {bad} sums to {sums[bad]:.6g}; each row of an (S, A) policy must sum to 1",
                         where=where)
    return arr / sums[:, None]


def load_policy(path: str | Path, n_states: int, n_actions: int) -> np.ndarray:
    """Read a policy file (``.npy``, ``.csv``, ``.json``) holding (S, A) probabilities or (S,)
    action indices and return the (S, A) matrix.

    A JSON file holds a list (of lists) or an object with key ``"policy"``.
    """
    p = Path(path)
    where = str(p)
    if not p.is_file():
        raise RlkitError("policy file not found; give uniform, optimal or a .npy/.csv/.json file",
                         where=where)
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif suffix == ".csv":
            arr = np.loadtxt(p, delimiter=",", ndmin=1)
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
        elif suffix == ".json":
            obj = json.loads(p.read_text())
            if isinstance(obj, dict):
                if "policy" not in obj:
                    raise RlkitError('a JSON policy file needs a list or an object with key "policy"',
                                     where=where)
                obj = obj["policy"]
            arr = np.asarray(obj, dtype=float)
        else:
            raise RlkitError(f"unknown policy file type {suffix!r}; use .npy, .csv or .json", where=where)
    except RlkitError:
        raise
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise RlkitError(f"cannot read policy: {str(exc).splitlines()[0]}", where=where) from None
    return as_policy_matrix(arr, n_states, n_actions, where=where)


def resolve_policy(policy: Any, source: Any) -> np.ndarray | None:
    """Turn ``policy`` into an (S, A) matrix for ``source`` (a :class:`~rlkit.tabular.sampling.Source`).

    :param policy: ``"uniform"`` (also ``None``; over the available actions where the model has
        ``action_mask``), ``"optimal"`` (policy iteration on the model),
        a path to a ``.npy``/``.csv``/``.json`` file, an (S, A) / (S,) array, or a callable
        ``states -> (k, A) probabilities`` (returned unchanged).
    :returns: the matrix, the callable, or ``None`` for a reward process (no actions).
    """
    S, A = source.n_states, source.n_actions
    if source.is_mrp:
        if policy is None or (isinstance(policy, str) and policy == "uniform"):
            return None
        raise RlkitError("a reward process has no actions: leave the policy out (or use uniform)",
                         where="policy")
    if callable(policy):
        return policy
    if policy is None or (isinstance(policy, str) and policy == "uniform"):
        model = getattr(source, "model", None)
        if getattr(model, "action_mask", None) is not None:   # uniform over the available actions
            return model.uniform_policy()
        return uniform_policy(S, A)
    if isinstance(policy, str) and policy == "optimal":
        if source.model is None:
            raise RlkitError(f"{source.name} has no model, so the optimal policy is unknown; give a policy "
                             "file or uniform", where="policy")
        from rlkit.mdp import policy_iteration

        return as_policy_matrix(policy_iteration(_with_gamma(source.model, source.gamma)).policy, S, A)
    if isinstance(policy, (str, Path)):
        return load_policy(policy, S, A)
    return as_policy_matrix(policy, S, A)


def _with_gamma(model: Any, gamma: float) -> Any:
    if float(getattr(model, "gamma", gamma)) == float(gamma):
        return model
    return model.with_gamma(gamma)


def greedy_probs(q: np.ndarray) -> np.ndarray:
    """Greedy policy as probabilities, ties split evenly: (..., A) -> (..., A)."""
    best = q == q.max(axis=-1, keepdims=True)
    return best / best.sum(axis=-1, keepdims=True)


def epsilon_greedy_probs(q: np.ndarray, epsilon: float | np.ndarray) -> np.ndarray:
    """ε-greedy probabilities over the last axis of ``q``: ε/A to every action plus (1-ε) shared
    by the greedy actions (ties split evenly, so no action is favoured by its index).

    :param q: action values (..., A).
    :param epsilon: scalar or array broadcasting against ``q[..., 0]``.

    >>> epsilon_greedy_probs(np.array([[0.0, 1.0, 1.0]]), 0.3)
    array([[0.1 , 0.45, 0.45]])
    """
    A = q.shape[-1]
    eps = np.asarray(epsilon, dtype=float)[..., None]
    return eps / A + (1.0 - eps) * greedy_probs(q)


def greedy_policy(q: np.ndarray) -> np.ndarray:
    """Greedy action indices over the last axis (lowest index on ties, as rlkit.mdp does)."""
    return np.argmax(q, axis=-1)
