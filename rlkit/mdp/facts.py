"""The typed facts of a model (start distribution, action mask, per-transition rewards, grid
layout, names), the one start-distribution parser, the one reachability search, and the
``meta`` view that keeps the old keys of those facts working.

:class:`~rlkit.mdp.models.MarkovChain`, :class:`~rlkit.mdp.models.MRP` and
:class:`~rlkit.mdp.models.MDP` inherit :class:`_Facts`; everything here is re-exported by
:mod:`rlkit.mdp.models`.
"""

from __future__ import annotations

import functools
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError

#: Rows of a transition matrix (and a start distribution) must sum to 1 within this tolerance.
ROW_SUM_TOL = 1e-8

__all__ = ["LEGACY_META_KEYS", "ModelMeta", "ROW_SUM_TOL", "check_fact", "reachable_states",
           "start_distribution"]


def _state_index(start: Any, states: list[str], field: str = "start") -> int:
    if isinstance(start, str):
        try:
            return states.index(start)
        except ValueError:
            raise RlkitError(f"{field}: unknown state {start!r}; known states: {', '.join(states[:10])}"
                             + (" ..." if len(states) > 10 else "")) from None
    if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
        if not 0 <= int(start) < len(states):
            raise RlkitError(f"{field}: state index {start} out of range [0, {len(states)})")
        return int(start)
    raise RlkitError(f"{field} must be a state name or index, got {start!r}")


def start_distribution(start: Any, states: Sequence[str], terminal: np.ndarray | None = None, *,
                       field: str = "start") -> np.ndarray:
    """The one parser of a start specification: a distribution over the states, (S,).

    :param start: ``None`` or ``"uniform"`` (uniform over the non-terminal states), a state name or
        index (that state), a list of names or indices (uniform over them), a mapping
        ``{state: probability}``, or an (S,) vector of probabilities (float, or any numbers that
        sum to 1).
    :param states: the model's state names.
    :param terminal: bool (S,): if given, a start on a terminal state is refused.
    :param field: what error messages name (``"meta initial"``, ``"start"``).

    Example::

        >>> start_distribution({"b": 0.25, "c": 0.75}, ["a", "b", "c"]).tolist()
        [0.0, 0.25, 0.75]
        >>> start_distribution(["a", 2], ["a", "b", "c"]).tolist()
        [0.5, 0.0, 0.5]
    """
    states = list(states)
    S = len(states)
    if start is None or (isinstance(start, str) and start == "uniform" and "uniform" not in states):
        mu = np.ones(S) if terminal is None else (~np.asarray(terminal, bool)).astype(float)
        if mu.sum() == 0:
            raise RlkitError(f"{field}: every state is terminal: there is nothing to sample")
        return mu / mu.sum()
    if isinstance(start, (str, int, np.integer)) and not isinstance(start, bool):
        mu = np.zeros(S)
        mu[_state_index(start, states, field)] = 1.0
    elif isinstance(start, dict):
        mu = np.zeros(S)
        for name, p in start.items():
            try:
                mu[_state_index(name, states, field)] += float(p)
            except (TypeError, ValueError):
                raise RlkitError(f"{field}: the probability of {name!r} must be a number, "
                                 f"got {p!r}") from None
        mu = _checked_distribution(mu, S, field)
    else:
        try:
            arr = np.asarray(start)
        except (ValueError, TypeError):
            raise RlkitError(f"{field} must be a state, a list of states, {{state: probability}} or {S} "
                             "probabilities") from None
        numeric = arr.dtype.kind in "iuf" and arr.shape == (S,)
        if numeric and (arr.dtype.kind == "f" or abs(float(arr.sum()) - 1.0) <= ROW_SUM_TOL):
            mu = _checked_distribution(arr.astype(float), S, field)
        elif arr.ndim == 1 and arr.size and arr.dtype.kind in "iuUSO":
            mu = np.zeros(S)
            for v in (start if isinstance(start, (list, tuple)) else arr.tolist()):
                mu[_state_index(v.item() if isinstance(v, np.generic) else v, states, field)] = 1.0
            mu /= mu.sum()
        elif arr.dtype.kind == "f":
            raise RlkitError(f"{field}: a start distribution must have shape ({S},), got {arr.shape}")
        else:
            raise RlkitError(f"{field} must be a state, a list of states, {{state: probability}} or {S} "
                             f"probabilities, got {str(start)[:80]!r}")
    if terminal is not None and (mu[np.asarray(terminal, bool)] > 0).any():
        bad = [states[i] for i in np.flatnonzero(np.asarray(terminal, bool) & (mu > 0))]
        raise RlkitError(f"{field}: the start distribution puts mass on terminal states {bad[:10]}")
    return mu


def _checked_distribution(mu: np.ndarray, S: int, field: str) -> np.ndarray:
    if not np.isfinite(mu).all() or (mu < 0).any() or abs(mu.sum() - 1.0) > ROW_SUM_TOL:
        raise RlkitError(f"{field}: a start distribution over the {S} states must be non-negative and "
                         f"sum to 1 (it sums to {mu.sum():.10g})")
    return mu


def _start_distribution(start: Any, states: list[str]) -> np.ndarray:
    return start_distribution(start, states, field="start distribution")


# --------------------------------------------------------------------------------------------
# typed facts: start distribution, action mask, per-transition rewards, grid layout, names
# --------------------------------------------------------------------------------------------

#: Old ``meta`` keys that still read and write a model's typed fields (files written before the
#: fields existed carry them, and user code may use them); the first key of a field is the one
#: ``meta`` lists.
LEGACY_META_KEYS: dict[str, str] = {
    "initial": "start", "start": "start", "initial_distribution": "start",
    "action_mask": "action_mask", "transition_rewards": "transition_rewards",
    "grid": "grid", "grid_map": "grid_map", "name": "name", "description": "description",
}
_LISTED_KEY = {"start": "initial"}


def check_fact(model: Any, field: str, value: Any, label: str | None = None) -> Any:
    """Validate and normalise the typed fact ``field`` of ``model`` (None passes as None).

    :param label: what error messages name (default the field; loaders pass ``"meta grid"``).
    """
    label = label or field
    if value is None:
        return None
    S = len(model.states)

    def bad(expected: str) -> RlkitError:
        return RlkitError(f"{label}: expected {expected}, got {str(value)[:80]!r}")

    if field == "start":
        return start_distribution(value, model.states, field=label)
    if field in ("name", "description"):
        return str(value)
    if field == "grid":
        if (not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 2
                or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
                           for x in value)
                or int(value[0]) * int(value[1]) != S):
            raise bad(f"[rows, cols], two positive integers with rows * cols = {S} states")
        return (int(value[0]), int(value[1]))
    if field == "grid_map":
        if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) for r in value):
            raise bad("a list of row strings")
        return list(value)
    if field == "action_mask":
        shape = (S, model.n_actions)
        try:
            arr = np.asarray(value, dtype=bool)
        except (TypeError, ValueError):
            raise bad(f"an array of shape {shape}") from None
        if arr.shape != shape:
            raise bad(f"an array of shape {shape} (got shape {arr.shape})")
        if not arr.any(axis=1).all():
            raise bad("at least one available action in every state")
        return arr
    if field == "transition_rewards":
        shape = (model.n_actions, S, S) if hasattr(model, "actions") else (S, S)
        try:
            arr = np.asarray(value.toarray() if sp.issparse(value) else value, dtype=np.float64)
        except (TypeError, ValueError):
            raise bad(f"an array of shape {shape}") from None
        if arr.shape != shape or not np.isfinite(arr).all():
            raise bad(f"finite numbers of shape {shape} (got shape {arr.shape})")
        return arr
    raise KeyError(field)  # a bug: not a typed fact


def _fact(field: str, doc: str) -> property:
    key = _LISTED_KEY.get(field, field)

    def get(self: Any) -> Any:
        return self._store.get(key)

    def put(self: Any, value: Any) -> None:
        self._put_fact(field, check_fact(self, field, value))

    return property(get, put, doc=doc)


class ModelMeta(MutableMapping):
    """``model.meta``: the free-form metadata (``source``, ``gym_id``, ``value_shape`` ...).

    The old keys of the typed facts (``"initial"``, ``"grid"``, ``"action_mask"`` ...,
    :data:`LEGACY_META_KEYS`) still read and write the model's typed fields through it, so code
    and files from before the fields keep working; :meth:`free` is the free-form part alone.
    Iterating lists both, in the order they were set (what the file writers store).
    """

    def __init__(self, model: Any) -> None:
        self._model = model

    def _field(self, key: Any) -> str | None:
        field = LEGACY_META_KEYS.get(key) if isinstance(key, str) else None
        return field if field in self._model._FACTS else None

    def __getitem__(self, key: Any) -> Any:
        field = self._field(key)
        if field is None:
            return self._model._store[key]
        value = getattr(self._model, field)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        field = self._field(key)
        if field is None:
            self._model._store[key] = value
        else:
            setattr(self._model, field, value)

    def __delitem__(self, key: Any) -> None:
        field = self._field(key)
        if field is None:
            del self._model._store[key]
        elif getattr(self._model, field) is None:
            raise KeyError(key)
        else:
            setattr(self._model, field, None)

    def __iter__(self):
        return iter(list(self._model._store))

    def __len__(self) -> int:
        return len(self._model._store)

    def __contains__(self, key: Any) -> bool:
        field = self._field(key)
        return key in self._model._store if field is None else getattr(self._model, field) is not None

    def free(self) -> dict[str, Any]:
        """A copy of the free-form entries only."""
        return {k: v for k, v in self._model._store.items() if self._field(k) is None}

    def __repr__(self) -> str:
        return repr(dict(self))


class _Facts:
    """What MarkovChain, MRP and MDP share: typed facts and the ``meta`` view over them.

    Facts and free-form entries live in one insertion-ordered dict, ``_store``, a fact under its
    listed key (``"initial"`` for :attr:`start`, else its name)."""

    _FACTS: tuple[str, ...] = ("start", "grid", "grid_map", "name", "description")

    start = _fact("start", "Start distribution (S,) float, or None (every non-terminal state may start).")
    grid = _fact("grid", "(rows, cols) of a gridworld (state ``r * cols + c``), or None.")
    grid_map = _fact("grid_map", "The gridworld's rows as strings (``S``, ``F``, ``H``, ``G``), or None.")
    name = _fact("name", "The model's name, or None.")
    description = _fact("description", "One line about the model, or None.")

    def _put_fact(self, field: str, value: Any) -> None:
        """Store an already checked fact (None removes it)."""
        key = _LISTED_KEY.get(field, field)
        if value is None:
            self._store.pop(key, None)
        else:
            self._store[key] = value

    def _init_facts(self, meta: Any, facts: dict[str, Any]) -> None:
        """Free-form ``meta`` (its old keys of typed facts lifted into the fields) and the typed
        ``facts`` given by keyword (they win over ``meta``'s)."""
        self._store: dict[str, Any] = {}
        for key, value in dict(meta or {}).items():
            field = LEGACY_META_KEYS.get(key) if isinstance(key, str) else None
            if field in self._FACTS:
                given = facts.pop(field, None)
                setattr(self, field, value if given is None else given)
            else:
                self._store[key] = value
        for field in self._FACTS:
            if facts.get(field) is not None:
                setattr(self, field, facts[field])

    def _copy_facts(self, other: Any) -> None:
        """Share ``other``'s facts and free-form meta (a shallow copy; arrays are not copied), less
        the facts this kind of model does not have."""
        drop = _dropped_keys(type(other), type(self))
        store = other._store
        self._store = {k: v for k, v in store.items() if k not in drop} if drop else dict(store)

    @property
    def meta(self) -> ModelMeta:
        """Free-form metadata (see :class:`ModelMeta`)."""
        return ModelMeta(self)

    @meta.setter
    def meta(self, value: Any) -> None:
        self._init_facts(value, {})

    def reachable(self, start: Any = None) -> np.ndarray:
        """States the process can visit from ``start`` (default: the model's :attr:`start`; all
        states when it has none), bool (S,)."""
        return reachable_states(_transition_graph(self.P), self._start_or_none(start))

    def _start_or_none(self, start: Any) -> np.ndarray | None:
        if start is None:
            return self.start
        return start_distribution(start, self.states)


def _transition_graph(*mats: Any) -> sp.csr_array:
    """The union of the non-zero patterns of (S, S) matrices, as a CSR graph."""
    graph = None
    for m in mats:
        g = (sp.csr_array(m) > 0).astype(np.int8)
        graph = g if graph is None else graph + g
    return sp.csr_array(graph)


def reachable_states(graph: Any, start: np.ndarray | None) -> np.ndarray:
    """Bool (S,): the states reachable along the edges of ``graph`` (S, S) (a non-zero entry
    ``[s, s']`` is an edge s -> s') from the states where ``start`` is positive; every state
    when ``start`` is None. The one reachability search of :mod:`rlkit.mdp` (breadth first)."""
    from scipy.sparse.csgraph import breadth_first_order

    graph = sp.csr_array(graph)
    S = graph.shape[0]
    if start is None:
        return np.ones(S, dtype=bool)
    sources = np.flatnonzero(np.asarray(start) > 0)
    # a virtual node S points at every start state
    coo = graph.tocoo()
    edge = coo.data != 0  # a stored zero (left by arithmetic on a sparse P) is not an edge
    rows = np.concatenate([coo.row[edge], np.full(len(sources), S)])
    cols = np.concatenate([coo.col[edge], sources])
    full = sp.csr_array((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(S + 1, S + 1))
    out = np.zeros(S + 1, dtype=bool)
    out[breadth_first_order(full, S, directed=True, return_predecessors=False)] = True
    return out[:S]


@functools.cache
def _dropped_keys(source: type, target: type) -> frozenset[str]:
    """The listed keys of ``source``'s facts that a ``target`` model does not have."""
    return frozenset(_LISTED_KEY.get(f, f) for f in source._FACTS if f not in target._FACTS)


def _take_facts(obj: Any, meta: Any) -> None:
    """Facts for a model built from validated parts: shared with the model whose ``meta`` view is
    given (no second validation), else read from a plain mapping."""
    if isinstance(meta, ModelMeta):
        obj._copy_facts(meta._model)
    else:
        obj._init_facts(meta, {})
