"""Markov chains, Markov reward processes and Markov decision processes as validated arrays.

Layout (the one pymdptoolbox users already have):

* :class:`MarkovChain` holds ``P`` with shape (S, S), ``P[s, s']``.
* :class:`MRP` holds ``P`` (S, S) and the expected reward ``R`` (S,) received on leaving ``s``.
* :class:`MDP` holds ``P`` with shape (A, S, S), ``P[a, s, s']``, either a dense ndarray or a list of
  A :class:`scipy.sparse.csr_array` matrices (S, S), and the expected reward ``R`` (S, A).
  ``R`` is also accepted as (A, S, S) (reward on the transition, turned into
  ``R[s, a] = sum_s' P[a, s, s'] R[a, s, s']``) or (S,) (the same reward for every action).

Terminal states are absorbing (``P[a, s, s] = 1`` for every action) with zero reward. When
``terminal`` is not given, the absorbing zero-reward states are the terminal ones.

Every constructor validates its input and raises :class:`rlkit.errors.RlkitError` naming the field,
the first offending action/state and the fix.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp.facts import (
    LEGACY_META_KEYS,
    ROW_SUM_TOL,
    ModelMeta,
    _fact,
    _Facts,
    _start_distribution,
    _state_index,
    _take_facts,
    _transition_graph,
    check_fact,
    reachable_states,
    start_distribution,
)
from rlkit.seeding import SeedLike, as_generator

__all__ = ["MarkovChain", "MRP", "MDP", "IndexNames", "ROW_SUM_TOL", "check_csr_arrays",
           # the typed facts (rlkit.mdp.facts)
           "LEGACY_META_KEYS", "ModelMeta", "check_fact", "reachable_states", "start_distribution"]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

class IndexNames(Sequence):
    """The names ``"0", "1", ..., str(n - 1)`` as a sequence that makes each name when asked.

    A generated model of 10^7 states would otherwise hold 10^7 Python strings (about 600 MB and
    seconds to build) that no solver reads. It behaves as the list of those names (indexing,
    slices as lists, iteration, ``in``, ``index``, ``==`` with a list); ``list(names)`` makes them.

    Example::

        >>> from rlkit.mdp.models import IndexNames
        >>> names = IndexNames(4)
        >>> names[1], names[-1], names[1:3], "2" in names, names.index("3"), names == ["0", "1", "2", "3"]
        ('1', '3', ['1', '2'], True, 3, True)
    """

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [str(j) for j in range(self.n)[i]]
        return str(range(self.n)[operator.index(i)])

    def __iter__(self) -> Iterator[str]:
        return map(str, range(self.n))

    def _position(self, name: Any) -> int:
        if isinstance(name, str) and name.isdigit() and str(int(name)) == name and int(name) < self.n:
            return int(name)
        return -1

    def __contains__(self, name: Any) -> bool:
        return self._position(name) >= 0

    def index(self, name: Any, start: int = 0, stop: int | None = None) -> int:
        i = self._position(name)
        if i < 0 or not start <= i < (self.n if stop is None else stop):
            raise ValueError(f"{name!r} is not in the names")
        return i

    def count(self, name: Any) -> int:
        return int(name in self)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, IndexNames):
            return self.n == other.n
        if isinstance(other, (list, tuple)):
            return len(other) == self.n and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (compares equal to a list, which is unhashable)

    def __repr__(self) -> str:
        return f"IndexNames({self.n})"


def _own_names(states: Sequence[str]) -> Sequence[str]:
    """The names a model built from validated parts keeps: a list copy, or :class:`IndexNames` itself."""
    return states if isinstance(states, IndexNames) else list(states)


def _names(names: Sequence[Any] | None, n: int, field: str, prefix: str) -> list[str]:
    """Default names ``prefix0, prefix1, ...`` or the user's names, checked: length and unique."""
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    if isinstance(names, str):
        raise RlkitError(f"{field} must be a list of {n} names, got the single string {names!r}")
    out = [str(x) for x in names]
    if len(out) != n:
        raise RlkitError(f"{field} has {len(out)} names but the model has {n}; give exactly one name each")
    seen: dict[str, int] = {}
    for i, name in enumerate(out):
        if name in seen:
            raise RlkitError(f"{field} names must be unique: {name!r} is used for both "
                             f"index {seen[name]} and index {i}; rename one of them")
        seen[name] = i
    return out


def _gamma(gamma: Any) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise RlkitError(f"gamma must be a number in [0, 1], got {gamma!r}") from None
    if not np.isfinite(g) or g < 0.0 or g > 1.0:
        raise RlkitError(f"gamma must be in [0, 1], got {gamma!r}")
    return g


def _is_sparse(x: Any) -> bool:
    return sp.issparse(x)


def _index_array(x: Any, name: str, field: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise RlkitError(f"{field}: {name} has shape {x.shape}; expected a 1-D array of integers")
    if x.dtype.kind not in "iu":
        raise RlkitError(f"{field}: {name} has dtype {x.dtype}; expected integers")
    return x.astype(np.int64)


def check_csr_arrays(data: Any, indices: Any, indptr: Any, shape: tuple[int, int] | None = None, *,
                     field: str = "P") -> sp.csr_array:
    """Check the raw arrays of a CSR matrix and build its canonical form (sorted, no duplicates).

    Every structural rule is checked *before* scipy sees the arrays, because scipy's compiled
    routines trust them and read outside the arrays otherwise (a segmentation fault, or silently
    wrong numbers): ``indptr`` is a 1-D integer array of length ``n_rows + 1`` starting at 0,
    non-decreasing, ending at ``nnz = len(indices) = len(data)``; ``indices`` are integers in
    ``[0, n_cols)``; ``data`` is real and finite. Duplicate entries of a row are summed and rows
    are sorted (scipy's canonical format), so every solver sees the same matrix.

    :param shape: ``(n_rows, n_cols)``; default square, ``n_rows = len(indptr) - 1``.
    :param field: the name used in error messages (``"P[2]"``).
    :raises RlkitError: naming the field and the rule broken.
    """
    indptr = _index_array(indptr, "indptr", field)
    indices = _index_array(indices, "indices", field)
    data = np.asarray(data)
    if data.ndim != 1:
        raise RlkitError(f"{field}: data has shape {data.shape}; expected a 1-D array of numbers")
    if data.dtype.kind not in "fiub":
        raise RlkitError(f"{field}: data has dtype {data.dtype}; expected real numbers")
    if len(indptr) < 2:
        raise RlkitError(f"{field}: indptr has length {len(indptr)}; a matrix with n rows has n + 1 >= 2")
    n_rows = len(indptr) - 1
    if shape is None:
        shape = (n_rows, n_rows)
    shape = (int(shape[0]), int(shape[1]))
    if n_rows != shape[0]:
        raise RlkitError(f"{field}: indptr has length {len(indptr)}; a matrix with {shape[0]} rows needs "
                         f"{shape[0] + 1}")
    if len(indices) != len(data):
        raise RlkitError(f"{field}: indices has {len(indices)} entries but data has {len(data)}; they must "
                         "match")
    if indptr[0] != 0:
        raise RlkitError(f"{field}: indptr[0] is {indptr[0]}; it must be 0")
    steps = np.diff(indptr)
    if (steps < 0).any():
        k = int(np.flatnonzero(steps < 0)[0])
        raise RlkitError(f"{field}: indptr decreases at row {k} ({indptr[k]} then {indptr[k + 1]}); it must "
                         "be non-decreasing")
    if indptr[-1] != len(indices):
        raise RlkitError(f"{field}: indptr ends at {indptr[-1]} but there are {len(indices)} entries "
                         "(nnz); the last entry of indptr must be nnz")
    if len(indices) and (indices.min() < 0 or indices.max() >= shape[1]):
        k = int(np.flatnonzero((indices < 0) | (indices >= shape[1]))[0])
        row = int(np.searchsorted(indptr, k, side="right") - 1)
        raise RlkitError(f"{field}: column index {indices[k]} (entry {k}, row {row}) is outside "
                         f"[0, {shape[1]}); a matrix with {shape[1]} columns has indices 0..{shape[1] - 1}")
    data = data.astype(np.float64)
    if not np.isfinite(data).all():
        k = int(np.flatnonzero(~np.isfinite(data))[0])
        raise RlkitError(f"{field}: data[{k}] is {data[k]}; entries must be finite numbers")
    out = sp.csr_array((data, indices, indptr), shape=shape)
    out.sum_duplicates()  # sorts the indices of each row too
    out.eliminate_zeros()
    return out


def _to_csr(m: Any, field: str = "P") -> sp.csr_array:
    """A scipy.sparse matrix (any format) -> canonical float64 CSR, its structure checked first."""
    fmt = getattr(m, "format", None)
    if fmt == "csr":
        return check_csr_arrays(m.data, m.indices, m.indptr, m.shape, field=field)
    if fmt == "csc":  # the transpose's CSR
        return check_csr_arrays(m.data, m.indices, m.indptr, m.shape[::-1], field=field).T.tocsr()
    if fmt == "coo":
        if m.ndim != 2:
            raise RlkitError(f"{field}: expected a 2-D sparse matrix, got shape {m.shape}")
        for name, idx, n in (("row", m.coords[0], m.shape[0]), ("column", m.coords[1], m.shape[1])):
            idx = np.asarray(idx)
            if idx.dtype.kind not in "iu" or (len(idx) and (idx.min() < 0 or idx.max() >= n)):
                raise RlkitError(f"{field}: a COO matrix of shape {m.shape} has {name} indices outside "
                                 f"[0, {n})")
    elif fmt == "bsr":  # its block indices would need checks of their own: rlkit takes CSR instead
        raise RlkitError(f"{field}: a BSR matrix is not accepted; convert it with .tocsr() first")
    if m.ndim != 2:
        raise RlkitError(f"{field}: expected a 2-D sparse matrix, got shape {m.shape}")
    out = sp.csr_array(m, dtype=np.float64)
    return check_csr_arrays(out.data, out.indices, out.indptr, out.shape, field=field)


def _row_label(a: int | None, s: int, states: list[str], actions: list[str] | None) -> str:
    if a is None:
        return f"P[{s}] (state {states[s]!r})"
    return f"P[{a}][{s}] (action {actions[a]!r}, state {states[s]!r})"  # type: ignore[index]


def _check_stochastic_dense(P: np.ndarray, states: list[str], actions: list[str] | None,
                            tol: float) -> None:
    """P has shape (S, S) (actions None) or (A, S, S)."""
    if not np.isfinite(P).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(P))[0])
        raise RlkitError(f"P{list(idx)} is {P[idx]}; transition probabilities must be finite numbers")
    if (P < 0).any():
        idx = tuple(int(i) for i in np.argwhere(P < 0)[0])
        a, s, t = (None, *idx) if P.ndim == 2 else idx
        raise RlkitError(f"{_row_label(a, s, states, actions)} gives probability {P[idx]:.6g} to next state "
                         f"{states[t]!r}; probabilities must be non-negative")
    sums = P.sum(axis=-1)
    bad = np.abs(sums - 1.0) > tol
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        a, s = (None, *idx) if P.ndim == 2 else idx
        raise RlkitError(f"{_row_label(a, s, states, actions)} sums to {sums[idx]:.10g}; every row of P "
                         f"must sum to 1 (within {tol:g}): fix the transitions out of state {states[s]!r}")


def _check_stochastic_csr(M: sp.csr_array, a: int | None, states: list[str], actions: list[str] | None,
                          tol: float) -> None:
    S = len(states)
    if M.shape != (S, S):
        where = "P" if a is None else f"P[{a}]"
        raise RlkitError(f"{where} has shape {M.shape}; expected ({S}, {S})")
    rows = np.repeat(np.arange(S), np.diff(M.indptr))
    if not np.isfinite(M.data).all():
        k = int(np.flatnonzero(~np.isfinite(M.data))[0])
        raise RlkitError(f"{_row_label(a, int(rows[k]), states, actions)} has probability {M.data[k]} "
                         f"to {states[int(M.indices[k])]!r}; transition probabilities must be finite")
    if (M.data < 0).any():
        k = int(np.flatnonzero(M.data < 0)[0])
        raise RlkitError(f"{_row_label(a, int(rows[k]), states, actions)} gives probability {M.data[k]:.6g} "
                         f"to next state {states[int(M.indices[k])]!r}; probabilities must be non-negative")
    sums = np.bincount(rows, weights=M.data, minlength=S)
    bad = np.abs(sums - 1.0) > tol
    if bad.any():
        s = int(np.flatnonzero(bad)[0])
        raise RlkitError(f"{_row_label(a, s, states, actions)} sums to {sums[s]:.10g}; every row of P must "
                         f"sum to 1 (within {tol:g}): fix the transitions out of state {states[s]!r}")


def _check_finite_rewards(R: np.ndarray, field: str = "R") -> None:
    if not np.isfinite(R).all():
        idx = [int(i) for i in np.argwhere(~np.isfinite(R))[0]]
        raise RlkitError(f"{field}{idx} is {R[tuple(idx)]}; rewards must be finite numbers")


def _terminal_mask(terminal: Any, states: list[str], field: str = "terminal") -> np.ndarray | None:
    """Turn ``terminal`` (None, a bool mask, or names / indices) into a bool mask (S,)."""
    S = len(states)
    if terminal is None:
        return None
    arr = np.asarray(terminal) if not isinstance(terminal, (set, frozenset)) else np.asarray(sorted(terminal))
    if arr.dtype == bool:
        if arr.shape != (S,):
            raise RlkitError(f"{field} as a mask must have shape ({S},), got {arr.shape}")
        return arr.copy()
    mask = np.zeros(S, dtype=bool)
    index = {name: i for i, name in enumerate(states)}
    for item in np.atleast_1d(arr).tolist():
        if isinstance(item, str):
            if item not in index:
                raise RlkitError(f"{field}: unknown state {item!r}; known states: {', '.join(states[:10])}"
                                 + (" ..." if S > 10 else ""))
            mask[index[item]] = True
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= int(item) < S:
                raise RlkitError(f"{field}: state index {item} out of range [0, {S})")
            mask[int(item)] = True
        else:
            raise RlkitError(f"{field} must list state names or indices, got {item!r}")
    return mask


def _fmt_states(states: list[str], idx: Iterable[int], limit: int = 5) -> str:
    idx = list(idx)
    names = ", ".join(repr(states[i]) for i in idx[:limit])
    return names + (f" and {len(idx) - limit} more" if len(idx) > limit else "")


# --------------------------------------------------------------------------------------------
# Markov chain
# --------------------------------------------------------------------------------------------

class MarkovChain(_Facts):
    """A finite Markov chain ``P[s, s']``.

    :param P: transition matrix (S, S), a dense array or a scipy.sparse matrix (stored as CSR).
    :param states: state names (default ``s0, s1, ...``).
    :param meta: free-form metadata (old keys of the typed facts, ``"initial"``, ``"grid"`` ...,
        are read into the fields).
    :param tol: tolerance on the row sums.
    :param start: start distribution (see :func:`start_distribution`), :attr:`start`.
    :param grid: ``(rows, cols)`` of a gridworld; ``grid_map``: its rows; ``name``,
        ``description``: text.

    Example (a gambler with 0..3 coins, fair coin, stops at 0 and 3)::

        >>> import numpy as np
        >>> from rlkit.mdp import MarkovChain
        >>> P = np.array([[1, 0, 0, 0], [.5, 0, .5, 0], [0, .5, 0, .5], [0, 0, 0, 1]])
        >>> mc = MarkovChain(P, states=["0", "1", "2", "3"])
        >>> mc.classify()
        ['absorbing', 'transient', 'transient', 'absorbing']
        >>> mc.absorption_probabilities().round(4).tolist()   # columns: classes {0}, {3}
        [[1.0, 0.0], [0.6667, 0.3333], [0.3333, 0.6667], [0.0, 1.0]]
        >>> mc.expected_steps_to_absorption().tolist()
        [0.0, 2.0, 2.0, 0.0]
    """

    def __init__(self, P: Any, states: Sequence[Any] | None = None, *, meta: dict | None = None,
                 tol: float = ROW_SUM_TOL, start: Any = None, grid: Any = None, grid_map: Any = None,
                 name: str | None = None, description: str | None = None) -> None:
        if _is_sparse(P):
            P = _to_csr(P)
            if P.ndim != 2 or P.shape[0] != P.shape[1]:
                raise RlkitError(f"P must be a square (S, S) matrix, got shape {P.shape}")
            self.states = _names(states, P.shape[0], "states", "s")
            _check_stochastic_csr(P, None, self.states, None, tol)
        else:
            P = np.asarray(P, dtype=np.float64)
            if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] == 0:
                raise RlkitError(f"P must be a square (S, S) matrix with S >= 1, got shape {P.shape}")
            self.states = _names(states, P.shape[0], "states", "s")
            _check_stochastic_dense(P, self.states, None, tol)
        self.P = P
        self._init_facts(meta, {"start": start, "grid": grid, "grid_map": grid_map, "name": name,
                                "description": description})

    @classmethod
    def _from_validated(cls, P: Any, states: list[str], meta: Any = None) -> MarkovChain:
        obj = cls.__new__(cls)
        obj.P, obj.states = P, _own_names(states)
        _take_facts(obj, meta)
        return obj

    # -- basic attributes --------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def is_sparse(self) -> bool:
        return _is_sparse(self.P)

    @property
    def terminal(self) -> np.ndarray:
        """Bool mask (S,) of the absorbing states."""
        kinds = np.asarray(self.classify())
        return kinds == "absorbing"

    def __repr__(self) -> str:
        return f"MarkovChain(n_states={self.n_states}, sparse={self.is_sparse})"

    @cached_property
    def _csr(self) -> sp.csr_array:
        return self.P if self.is_sparse else _to_csr(self.P)

    # -- distributions -----------------------------------------------------------------------
    def distribution(self, start: Any, n_steps: int = 1) -> np.ndarray:
        """The distribution of the state after ``n_steps`` steps, ``mu P^n``.

        :param start: a state name or index, or an initial distribution (S,).
        :param n_steps: number of steps (>= 0).
        :return: probabilities, shape (S,).
        """
        if int(n_steps) < 0:
            raise RlkitError(f"n_steps must be >= 0, got {n_steps}")
        mu = _start_distribution(start, self.states)
        PT = self._csr.T.tocsr() if self.is_sparse else self.P.T
        for _ in range(int(n_steps)):
            mu = PT @ mu
        return np.asarray(mu)

    def n_step(self, n_steps: int) -> np.ndarray | sp.csr_array:
        """The n-step transition matrix ``P^n`` (dense for a dense chain, CSR for a sparse one)."""
        n = int(n_steps)
        if n < 0:
            raise RlkitError(f"n_steps must be >= 0, got {n_steps}")
        if not self.is_sparse:
            return np.linalg.matrix_power(self.P, n)
        result = sp.identity(self.n_states, format="csr", dtype=np.float64)
        base = self._csr
        while n:
            if n & 1:
                result = result @ base
            n >>= 1
            if n:
                base = base @ base
        return sp.csr_array(result)

    # -- structure ---------------------------------------------------------------------------
    @cached_property
    def _structure(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """(class label per state, recurrent classes as sorted index arrays, class index per state
        or -1 for a transient state)."""
        from scipy.sparse.csgraph import connected_components

        G = self._csr
        _, labels = connected_components(G, directed=True, connection="strong")
        rows = np.repeat(np.arange(self.n_states), np.diff(G.indptr))
        cross = labels[rows] != labels[G.indices]
        n_comp = int(labels.max()) + 1
        leaves = np.zeros(n_comp, dtype=bool)
        leaves[labels[rows[cross]]] = True           # a class with an edge out of it is transient
        closed = np.flatnonzero(~leaves)
        # order the recurrent classes by their smallest state
        order = np.argsort(labels, kind="stable")
        first = np.full(n_comp, self.n_states)
        np.minimum.at(first, labels, np.arange(self.n_states))
        closed = closed[np.argsort(first[closed])]
        classes = []
        class_of = np.full(self.n_states, -1, dtype=np.int64)
        sorted_labels = labels[order]
        for k, c in enumerate(closed):
            lo, hi = np.searchsorted(sorted_labels, [c, c + 1])
            members = np.sort(order[lo:hi])
            classes.append(members)
            class_of[members] = k
        return labels, classes, class_of

    def communicating_classes(self) -> list[np.ndarray]:
        """All communicating classes (strongly connected components), as sorted index arrays."""
        labels = self._structure[0]
        order = np.argsort(labels, kind="stable")
        splits = np.flatnonzero(np.diff(labels[order])) + 1
        groups = [np.sort(g) for g in np.split(order, splits)]
        return sorted(groups, key=lambda g: int(g[0]))

    def recurrent_classes(self) -> list[np.ndarray]:
        """The closed communicating classes, as sorted index arrays, ordered by smallest state."""
        return [c.copy() for c in self._structure[1]]

    def classify(self) -> list[str]:
        """Kind of each state: ``"absorbing"`` (a closed class of one state), ``"recurrent"``
        (in a closed class of several states) or ``"transient"``."""
        _, classes, class_of = self._structure
        sizes = np.array([len(c) for c in classes] + [0])
        kinds = np.full(self.n_states, "transient", dtype=object)
        rec = class_of >= 0
        kinds[rec] = np.where(sizes[class_of[rec]] == 1, "absorbing", "recurrent")
        return kinds.tolist()

    # -- stationary distributions ------------------------------------------------------------
    def stationary_distributions(self) -> np.ndarray:
        """One stationary distribution per recurrent class, rows in :meth:`recurrent_classes`
        order: shape (K, S), each row supported on its class. Every stationary distribution of the
        chain is a mixture of these rows.
        """
        classes = self._structure[1]
        out = np.zeros((len(classes), self.n_states))
        for k, c in enumerate(classes):
            out[k, c] = self._class_stationary(c)
        return out

    def stationary_distribution(self) -> np.ndarray:
        """The stationary distribution (S,) of a chain with a single recurrent class.

        Raises :class:`RlkitError` when there are several (use :meth:`stationary_distributions`).
        """
        classes = self._structure[1]
        if len(classes) != 1:
            heads = [self.states[int(c[0])] for c in classes[:5]]
            raise RlkitError(f"the chain has {len(classes)} recurrent classes (containing "
                             f"{', '.join(map(repr, heads))}{' ...' if len(classes) > 5 else ''}), so its "
                             "stationary distribution is not unique; use stationary_distributions()")
        return self.stationary_distributions()[0]

    def _class_stationary(self, c: np.ndarray) -> np.ndarray:
        n = len(c)
        if n == 1:
            return np.ones(1)
        # pi (I - P_cc) = 0 with sum(pi) = 1: transpose, replace the last equation by the
        # normalisation (the equations sum to zero, so nothing is lost).
        if self.is_sparse or n > 2000:
            sub = self._csr[c][:, c]
            A = (sp.identity(n, format="csr") - sub).T.tolil()
            A[n - 1, :] = np.ones(n)
            b = np.zeros(n)
            b[-1] = 1.0
            from scipy.sparse.linalg import spsolve

            pi = spsolve(A.tocsc(), b)
        else:
            A = -self.P[np.ix_(c, c)].T
            A[np.diag_indices(n)] += 1.0
            A[-1, :] = 1.0
            b = np.zeros(n)
            b[-1] = 1.0
            pi = np.linalg.solve(A, b)
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()

    # -- absorption --------------------------------------------------------------------------
    @cached_property
    def _transient_solver(self):
        """A solve(b) for (I - P_TT) x = b on the transient states T (factorised once)."""
        T = np.flatnonzero(self._structure[2] < 0)
        if len(T) == 0:
            return T, None
        if self.is_sparse:
            from scipy.sparse.linalg import splu

            M = sp.identity(len(T), format="csc") - self._csr[T][:, T].tocsc()
            lu = splu(sp.csc_matrix(M))
            return T, lu.solve
        import scipy.linalg as sla

        M = -self.P[np.ix_(T, T)]
        M[np.diag_indices(len(T))] += 1.0
        lu = sla.lu_factor(M, check_finite=False)
        return T, lambda b: sla.lu_solve(lu, b, check_finite=False)

    def absorption_probabilities(self) -> np.ndarray:
        """Probability that the chain started in each state ends in each recurrent class.

        :return: shape (S, K), columns in :meth:`recurrent_classes` order (for an absorbing chain,
            one column per absorbing state). Rows sum to 1; a recurrent state has 1 in its own class.
        """
        _, classes, class_of = self._structure
        K = len(classes)
        out = np.zeros((self.n_states, K))
        rec = np.flatnonzero(class_of >= 0)
        out[rec, class_of[rec]] = 1.0
        T, solve = self._transient_solver
        if solve is None:
            return out
        # one-step probability from a transient state into each class: P[T, :] @ membership
        membership = sp.csr_array((np.ones(len(rec)), (rec, class_of[rec])), shape=(self.n_states, K))
        B = np.asarray((self._csr[T] @ membership).todense()).reshape(len(T), K)
        out[T] = np.asarray(solve(B)).reshape(len(T), K)
        return out

    def expected_steps_to_absorption(self) -> np.ndarray:
        """Expected number of steps until the chain enters a recurrent class (0 for recurrent
        states), shape (S,)."""
        out = np.zeros(self.n_states)
        T, solve = self._transient_solver
        if solve is not None:
            out[T] = np.asarray(solve(np.ones(len(T)))).ravel()
        return out

    # -- sampling ----------------------------------------------------------------------------
    @cached_property
    def _sampler(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        G = self._csr
        cum = np.cumsum(G.data)
        starts = G.indptr[:-1]
        base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
        ends = G.indptr[1:]
        total = cum[ends - 1] - base
        return G.indptr, G.indices, cum, base, total

    def _next(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        indptr, indices, cum, base, total = self._sampler
        u = rng.random(x.shape)
        k = np.searchsorted(cum, base[x] + u * total[x], side="right")
        k = np.clip(k, indptr[x], indptr[x + 1] - 1)
        return indices[k]

    def sample(self, n_steps: int, start: Any = 0, seed: SeedLike = None,
               n_paths: int | None = None) -> np.ndarray:
        """Sample trajectories.

        :param n_steps: number of transitions.
        :param start: a state name or index, or an initial distribution (S,) to draw from.
        :param seed: an int or a Generator.
        :param n_paths: number of independent trajectories (vectorised); ``None`` for one.
        :return: state indices, shape (n_steps + 1,) or (n_paths, n_steps + 1).
        """
        rng = as_generator(seed)
        m = 1 if n_paths is None else int(n_paths)
        if m < 1 or int(n_steps) < 0:
            raise RlkitError("sample needs n_steps >= 0 and n_paths >= 1")
        if isinstance(start, (str, int, np.integer)):
            x = np.full(m, _state_index(start, self.states), dtype=np.int64)
        else:
            mu = _start_distribution(start, self.states)
            x = np.minimum(np.searchsorted(np.cumsum(mu), rng.random(m), side="right"), self.n_states - 1)
        out = np.empty((m, int(n_steps) + 1), dtype=np.int64)
        out[:, 0] = x
        for t in range(int(n_steps)):
            x = self._next(x, rng)
            out[:, t + 1] = x
        return out[0] if n_paths is None else out


# --------------------------------------------------------------------------------------------
# Markov reward process
# --------------------------------------------------------------------------------------------

class MRP(_Facts):
    """A Markov reward process: transitions ``P`` (S, S), expected reward ``R`` (S,), discount.

    :param P: transition matrix (S, S), dense or scipy.sparse.
    :param R: expected reward on leaving each state, (S,); an (S, S) reward per transition is
        turned into ``sum_s' P[s, s'] R[s, s']`` and kept as :attr:`transition_rewards`, so
        that sampled steps (:mod:`rlkit.tabular`) pay the reward of the transition taken.
    :param gamma: discount in [0, 1].
    :param states: state names (default ``s0, s1, ...``).
    :param terminal: terminal states (names, indices or a bool mask); they must be absorbing with
        zero reward. Default: the absorbing zero-reward states.
    :param meta: free-form metadata (old keys of the typed facts are read into the fields).
    :param start: start distribution; ``transition_rewards``: (S, S) reward of each transition
        (default: ``R`` when it is (S, S)); ``grid``, ``grid_map``, ``name``, ``description``: as
        for :class:`MarkovChain`.

    Example::

        >>> from rlkit.mdp import MRP, solve_mrp
        >>> mrp = MRP([[0.5, 0.5], [0.0, 1.0]], R=[1.0, 0.0], gamma=1.0, states=["a", "end"])
        >>> solve_mrp(mrp).values.tolist()         # 1 reward per step, 2 steps on average
        [2.0, 0.0]
    """

    _FACTS = (*_Facts._FACTS, "transition_rewards")
    transition_rewards = _fact("transition_rewards", "Reward of each transition, (S, S), or None "
                               "(samplers pay it instead of the expected ``R``).")

    def __init__(self, P: Any, R: Any, gamma: float, states: Sequence[Any] | None = None,
                 terminal: Any = None, meta: dict | None = None, *, tol: float = ROW_SUM_TOL,
                 start: Any = None, transition_rewards: Any = None, grid: Any = None, grid_map: Any = None,
                 name: str | None = None, description: str | None = None) -> None:
        chain = MarkovChain(P, states, tol=tol)
        self.P, self.states = chain.P, chain.states
        self.gamma = _gamma(gamma)
        S = self.n_states
        if _is_sparse(R):
            R = R.toarray() if R.shape != (S,) else R.toarray().ravel()
        R = np.asarray(R, dtype=np.float64)
        _check_finite_rewards(R)
        per_transition = None
        if R.shape == (S, S):
            # Keep the reward of each transition for samplers (rlkit.tabular): the solvers only need
            # its expectation, but a sampled step should pay what the textbook example pays.
            per_transition = R
            if self.is_sparse:
                R = np.asarray((self.P.multiply(R)).sum(axis=1)).ravel()
            else:
                R = (self.P * R).sum(axis=1)
        elif R.shape != (S,):
            raise RlkitError(f"R has shape {R.shape}; an MRP needs R of shape ({S},) (or ({S}, {S}) per "
                             "transition)")
        self.R = R
        facts = {"start": start, "transition_rewards": transition_rewards, "grid": grid, "grid_map": grid_map,
                 "name": name, "description": description}
        self._init_facts(meta, facts)
        if self.transition_rewards is None and per_transition is not None:
            self.transition_rewards = per_transition
        self.terminal = _checked_terminal(terminal, self.states, self._self_loops()[:, None], R[:, None],
                                          None, tol)
        self._chain = MarkovChain._from_validated(self.P, self.states, self.meta)

    @classmethod
    def _from_validated(cls, P: Any, R: np.ndarray, gamma: float, states: list[str], terminal: np.ndarray,
                        meta: Any = None) -> MRP:
        obj = cls.__new__(cls)
        obj.P, obj.R, obj.gamma, obj.states = P, R, float(gamma), _own_names(states)
        obj.terminal = terminal
        _take_facts(obj, meta)
        obj._chain = MarkovChain._from_validated(P, obj.states, obj.meta)
        return obj

    def _self_loops(self) -> np.ndarray:
        return self.P.diagonal() if self.is_sparse else np.diagonal(self.P).copy()

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def is_sparse(self) -> bool:
        return _is_sparse(self.P)

    @property
    def chain(self) -> MarkovChain:
        """The underlying :class:`MarkovChain` (shares ``P``)."""
        return self._chain

    #: The name of the one action of :meth:`as_mdp`.
    STEP_ACTION = "step"

    def as_mdp(self) -> MDP:
        """The one-action MDP of this process (action :data:`STEP_ACTION`), for code that takes MDPs;
        same arrays (not copied), facts and names, and ``meta["source_model"]`` is this MRP."""
        P = [sp.csr_array(self.P)] if self.is_sparse else self.P[None]
        out = MDP._from_validated(P, self.R[:, None], self.gamma, self.states, [self.STEP_ACTION],
                                  self.terminal, self.meta)
        if self.transition_rewards is not None:
            out._put_fact("transition_rewards", self.transition_rewards[None])
        out._store["source_model"] = self
        return out

    def with_gamma(self, gamma: float) -> MRP:
        """The same process with another discount (arrays shared, not copied)."""
        return MRP._from_validated(self.P, self.R, _gamma(gamma), self.states, self.terminal, self.meta)

    def __repr__(self) -> str:
        return f"MRP(n_states={self.n_states}, gamma={self.gamma}, sparse={self.is_sparse})"


def _checked_terminal(terminal: Any, states: list[str], self_loops: np.ndarray, R: np.ndarray,
                      actions: list[str] | None, tol: float) -> np.ndarray:
    """self_loops (S, A): P[a, s, s]; R (S, A). Infer or check the terminal mask."""
    absorbing = (np.abs(self_loops - 1.0) <= tol).all(axis=1)
    zero_reward = (R == 0).all(axis=1)
    mask = _terminal_mask(terminal, states)
    if mask is None:
        return absorbing & zero_reward
    bad = mask & ~absorbing
    if bad.any():
        s = int(np.flatnonzero(bad)[0])
        a = int(np.flatnonzero(np.abs(self_loops[s] - 1.0) > tol)[0])
        under = f" under action {actions[a]!r}" if actions is not None else ""
        raise RlkitError(f"terminal state {states[s]!r} is not absorbing: it stays with probability "
                         f"{self_loops[s, a]:.6g}{under}; a terminal state must move to itself with "
                         "probability 1")
    bad = mask & ~zero_reward
    if bad.any():
        s = int(np.flatnonzero(bad)[0])
        a = int(np.flatnonzero(R[s] != 0)[0])
        under = f" under action {actions[a]!r}" if actions is not None else ""
        raise RlkitError(f"terminal state {states[s]!r} has reward {R[s, a]:.6g}{under}; terminal states "
                         "must have zero reward")
    return mask


# --------------------------------------------------------------------------------------------
# Markov decision process
# --------------------------------------------------------------------------------------------

class MDP(_Facts):
    """A finite MDP: ``P[a, s, s']`` (A, S, S) and expected reward ``R[s, a]`` (S, A).

    :param P: an ndarray (A, S, S), or a list of A matrices (S, S) (scipy.sparse matrices are
        stored as a list of :class:`scipy.sparse.csr_array`; a list of dense arrays is stacked).
    :param R: expected reward (S, A); or (A, S, S) per transition (stored as
        ``sum_s' P[a, s, s'] R[a, s, s']``, also as a list of A sparse/dense (S, S); a dense
        (A, S, S) array is also kept as :attr:`transition_rewards` for samplers); or (S,) for
        a reward that does not depend on the action.
    :param gamma: discount in [0, 1].
    :param states: state names (default ``s0, s1, ...``).
    :param actions: action names (default ``a0, a1, ...``).
    :param terminal: terminal states (names, indices or a bool mask): absorbing under every
        action with zero reward. Default: the states that are.
    :param meta: free-form metadata (:class:`ModelMeta`; old keys of the typed facts, such as
        ``"initial"`` or ``"action_mask"``, are read into the fields).
    :param tol: tolerance on the row sums of ``P``.
    :param start: start distribution (:func:`start_distribution`); ``action_mask``: (S, A) bool,
        the available actions; ``transition_rewards``: (A, S, S) reward of each transition
        (default: ``R`` when it is (A, S, S)); ``grid``, ``grid_map``, ``name``, ``description``:
        as for :class:`MarkovChain`.

    Attributes: ``P``, ``R``, ``gamma``, ``states``, ``actions``, ``terminal`` (bool (S,)),
    ``n_states``, ``n_actions``, ``is_sparse``, the typed facts ``start``, ``action_mask``,
    ``transition_rewards``, ``grid``, ``grid_map``, ``name``, ``description`` (each None when
    the model has none), and ``meta``.

    Example (pymdptoolbox's forest with 3 states)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, policy_iteration
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]],
        ...               [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> R = np.array([[0, 0], [0, 1], [4, 2]])
        >>> mdp = MDP(P, R, gamma=0.9, actions=["wait", "cut"])
        >>> sol = policy_iteration(mdp)
        >>> sol.policy.tolist()
        [0, 0, 0]
        >>> sol.values.round(4).tolist()
        [26.244, 29.484, 33.484]
    """

    _FACTS = (*_Facts._FACTS, "action_mask", "transition_rewards")
    action_mask = _fact("action_mask", "(S, A) bool: the actions available in each state, or None (all).")
    transition_rewards = _fact("transition_rewards", "Reward of each transition, (A, S, S), or None "
                               "(samplers pay it instead of the expected ``R``).")

    def __init__(self, P: Any, R: Any, gamma: float, states: Sequence[Any] | None = None,
                 actions: Sequence[Any] | None = None, terminal: Any = None, meta: dict | None = None,
                 *, tol: float = ROW_SUM_TOL, start: Any = None, action_mask: Any = None,
                 transition_rewards: Any = None, grid: Any = None, grid_map: Any = None,
                 name: str | None = None, description: str | None = None) -> None:
        P = self._coerce_P(P)
        if isinstance(P, list):
            A, S = len(P), P[0].shape[0]
        else:
            A, S = P.shape[0], P.shape[1]
        self.states = _names(states, S, "states", "s")
        self.actions = _names(actions, A, "actions", "a")
        if isinstance(P, list):
            for a, M in enumerate(P):
                _check_stochastic_csr(M, a, self.states, self.actions, tol)
        else:
            _check_stochastic_dense(P, self.states, self.actions, tol)
        self.P = P
        self.gamma = _gamma(gamma)
        self.R = self._coerce_R(R, A, S)
        self._init_facts(meta, {"start": start, "action_mask": action_mask,
                                "transition_rewards": transition_rewards, "grid": grid, "grid_map": grid_map,
                                "name": name, "description": description})
        if self.transition_rewards is None and isinstance(R, np.ndarray) and R.shape == (A, S, S):
            # Per-transition rewards are kept for samplers (rlkit.tabular); solvers use self.R.
            self.transition_rewards = R
        self.terminal = _checked_terminal(terminal, self.states, self._self_loops(), self.R, self.actions,
                                          tol)

    # -- construction helpers ----------------------------------------------------------------
    @staticmethod
    def _coerce_P(P: Any) -> np.ndarray | list[sp.csr_array]:
        if _is_sparse(P):
            raise RlkitError(f"P is one sparse matrix of shape {P.shape}; an MDP needs one (S, S) matrix per "
                             "action: pass a list of A sparse matrices (or use MarkovChain/MRP)")
        if isinstance(P, (list, tuple)):
            if len(P) == 0:
                raise RlkitError("P is an empty list; an MDP needs one (S, S) matrix per action")
            if any(_is_sparse(m) for m in P):
                mats = [_to_csr(m, f"P[{a}]") for a, m in enumerate(P)]
            else:
                try:
                    P = np.asarray(P, dtype=np.float64)
                except ValueError:
                    shapes = [np.shape(m) for m in P]
                    raise RlkitError(f"P's matrices have different shapes {shapes}; "
                                     "each must be (S, S)") from None
                mats = None
            if mats is not None:
                S = mats[0].shape[0]
                for a, m in enumerate(mats):
                    if m.shape != (S, S):
                        raise RlkitError(f"P[{a}] has shape {m.shape}; every P[a] must be ({S}, {S})")
                return mats
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 3 or P.shape[1] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            hint = " (that is a Markov chain's shape: use MarkovChain or MRP)" if P.ndim == 2 else ""
            raise RlkitError(f"P has shape {P.shape}; an MDP needs P of shape (A, S, S){hint}")
        return P

    def _coerce_R(self, R: Any, A: int, S: int) -> np.ndarray:
        if isinstance(R, (list, tuple)) and len(R) == A and any(_is_sparse(m) for m in R):
            out = np.empty((S, A))
            for a, m in enumerate(R):
                m = _to_csr(m, f"R[{a}]")
                if m.shape != (S, S):
                    raise RlkitError(f"R[{a}] has shape {m.shape}; a per-transition reward R[a] "
                                     f"must be ({S}, {S})")
                _check_finite_rewards(m.data, f"R[{a}] data")
                out[:, a] = np.asarray(self._P_a(a).multiply(m).sum(axis=1)).ravel()
            return out
        if _is_sparse(R):
            R = R.toarray()
        try:
            R = np.asarray(R, dtype=np.float64)
        except ValueError:
            raise RlkitError("R must be an array of shape (S, A), (A, S, S) or (S,)") from None
        _check_finite_rewards(R)
        if R.shape == (S, A):
            return R
        if R.shape == (S,):
            return np.repeat(R[:, None], A, axis=1)
        if R.shape == (A, S, S):
            if self.is_sparse:
                cols = [np.asarray(self.P[a].multiply(R[a]).sum(axis=1)).ravel() for a in range(A)]
                return np.stack(cols, axis=1)
            return np.einsum("ast,ast->sa", self.P, R)
        if R.shape == (A, S) and A != S:
            raise RlkitError(f"R has shape {R.shape} = (A, S); rlkit stores R as (S, A) = ({S}, {A}): "
                             "pass R.T")
        raise RlkitError(f"R has shape {R.shape}; expected (S, A) = ({S}, {A}), (A, S, S) = ({A}, {S}, {S}) "
                         f"or (S,) = ({S},)")

    def _P_a(self, a: int) -> Any:
        return self.P[a]

    def _self_loops(self) -> np.ndarray:
        """P[a, s, s] as (S, A)."""
        if self.is_sparse:
            return np.stack([m.diagonal() for m in self.P], axis=1)
        return np.diagonal(self.P, axis1=1, axis2=2).T.copy()

    @classmethod
    def _from_validated(cls, P: Any, R: np.ndarray, gamma: float, states: list[str], actions: list[str],
                        terminal: np.ndarray, meta: Any = None) -> MDP:
        obj = cls.__new__(cls)
        obj.P, obj.R, obj.gamma = P, R, float(gamma)
        obj.states, obj.actions = _own_names(states), list(actions)
        obj.terminal = terminal
        _take_facts(obj, meta)
        return obj

    # -- attributes --------------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return self.R.shape[0]

    @property
    def n_actions(self) -> int:
        return self.R.shape[1]

    @property
    def is_sparse(self) -> bool:
        return isinstance(self.P, list)

    def __repr__(self) -> str:
        return (f"MDP(n_states={self.n_states}, n_actions={self.n_actions}, gamma={self.gamma}, "
                f"sparse={self.is_sparse})")

    def with_gamma(self, gamma: float) -> MDP:
        """The same MDP with another discount (arrays shared, not copied)."""
        out = MDP._from_validated(self.P, self.R, _gamma(gamma), self.states, self.actions, self.terminal,
                                  self.meta)
        if "_P_stack" in self.__dict__:
            out.__dict__["_P_stack"] = self.__dict__["_P_stack"]
        return out

    # -- the one operator every solver uses --------------------------------------------------
    @cached_property
    def _P_stack(self) -> np.ndarray | sp.csr_array:
        """P as one (A*S, S) operator, row ``a*S + s`` (a view for dense P)."""
        A, S = self.n_actions, self.n_states
        if self.is_sparse:
            return sp.csr_array(sp.vstack(self.P, format="csr"))
        return self.P.reshape(A * S, S)

    def expected_next(self, v: np.ndarray) -> np.ndarray:
        """``sum_s' P[a, s, s'] v[s']`` for every state and action at once, shape (S, A)."""
        return (self._P_stack @ v).reshape(self.n_actions, self.n_states).T

    # -- policies ----------------------------------------------------------------------------
    def check_policy(self, policy: Any, field: str = "policy") -> tuple[np.ndarray | None, np.ndarray | None]:
        """Validate a policy: returns ``(indices, None)`` for an (S,) array of action indices (or
        action names), ``(None, matrix)`` for an (S, A) row-stochastic matrix."""
        S, A = self.n_states, self.n_actions
        shapes = f"(S,) = ({S},) action indices or an (S, A) = ({S}, {A}) matrix of action probabilities"
        try:
            arr = np.asarray(policy)
        except (ValueError, TypeError, OverflowError):  # ragged nesting, odd objects
            raise RlkitError(f"{field} is neither {shapes}") from None
        if arr.ndim == 1:
            if arr.shape != (S,):
                raise RlkitError(f"{field} has {arr.shape[0]} entries; it needs one action per state ({S})")
            if arr.dtype.kind in "US":
                index = {name: i for i, name in enumerate(self.actions)}
                unknown = [x for x in arr.tolist() if x not in index]
                if unknown:
                    raise RlkitError(f"{field}: unknown action {unknown[0]!r}; actions are {self.actions}")
                return np.array([index[x] for x in arr.tolist()], dtype=np.int64), None
            if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            if arr.dtype.kind not in "iu":
                raise RlkitError(f"{field} as a vector must hold action indices (integers), "
                                 f"got dtype {arr.dtype}")
            if arr.size and (arr.min() < 0 or arr.max() >= A):
                s = int(np.flatnonzero((arr < 0) | (arr >= A))[0])
                raise RlkitError(f"{field}[{s}] (state {self.states[s]!r}) is action {arr[s]}, "
                                 f"out of range [0, {A})")
            return arr.astype(np.int64, copy=False), None
        if arr.shape != (S, A):
            raise RlkitError(f"{field} has shape {arr.shape}; expected {shapes}")
        if arr.dtype.kind not in "fiub":
            raise RlkitError(f"{field} as a matrix must hold probabilities (numbers), got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all() or (arr < 0).any():
            s = int(np.flatnonzero(~(np.isfinite(arr) & (arr >= 0)).all(axis=1))[0])
            raise RlkitError(f"{field}[{s}] (state {self.states[s]!r}) has a negative or non-finite "
                             "probability")
        sums = arr.sum(axis=1)
        bad = np.abs(sums - 1.0) > ROW_SUM_TOL
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise RlkitError(f"{field}[{s}] (state {self.states[s]!r}) sums to {sums[s]:.10g}; action "
                             "probabilities must sum to 1")
        return None, arr

    def available_actions(self) -> np.ndarray:
        """(S, A) bool: the actions available in each state (:attr:`action_mask`, all when None)."""
        if self.action_mask is None:
            return np.ones((self.n_states, self.n_actions), dtype=bool)
        return self.action_mask

    def uniform_policy(self) -> np.ndarray:
        """The equiprobable random policy over each state's available actions, (S, A)."""
        mask = self.available_actions().astype(float)
        return mask / mask.sum(axis=1, keepdims=True)

    def greedy(self, q: np.ndarray, current: np.ndarray | None = None) -> np.ndarray:
        """The greedy policy of action values ``q`` (S, A) over the available actions, (S,) indices.

        Ties follow :func:`rlkit.mdp.dp.greedy_policy` (relative tolerance, the ``current`` action
        kept, else the lowest index); an unavailable action is never chosen.
        """
        from rlkit.mdp.dp import greedy_policy  # dp imports this module

        q = np.asarray(q, dtype=np.float64)
        if q.shape != (self.n_states, self.n_actions):
            raise RlkitError(f"q has shape {q.shape}; expected (S, A) = ({self.n_states}, {self.n_actions})")
        if self.action_mask is not None:
            q = np.where(self.action_mask, q, -np.inf)
        return greedy_policy(q, current)

    def reachable(self, policy: Any = None, start: Any = None) -> np.ndarray:
        """States an episode can visit from ``start`` (default: :attr:`start`; all states when the
        model has none), bool (S,): under any available action, or under ``policy`` ((S,) action
        indices or (S, A) probabilities) when given."""
        S = self.n_states
        if policy is None:
            mask = self.available_actions()
            mats = [self._P_a(a).multiply(mask[:, a][:, None]) if self.is_sparse
                    else self.P[a] * mask[:, a][:, None] for a in range(self.n_actions)]
        else:
            idx, mat = self.check_policy(policy)
            if mat is None:
                mat = np.zeros((S, self.n_actions))
                mat[np.arange(S), idx] = 1.0
            mats = [self.mrp(mat).P]
        return reachable_states(_transition_graph(*mats), self._start_or_none(start))

    def mrp(self, policy: Any) -> MRP:
        """The reward process obtained by following ``policy``.

        :param policy: (S,) action indices or (S, A) action probabilities.
        :return: :class:`MRP` with ``P_pi[s, s'] = sum_a pi(a|s) P[a, s, s']`` and
            ``R_pi[s] = sum_a pi(a|s) R[s, a]`` (same names, terminal states and gamma).
        """
        idx, mat = self.check_policy(policy)
        S = self.n_states
        rows = np.arange(S)
        if idx is not None:
            R = self.R[rows, idx]
            if self.is_sparse:
                P = sp.csr_array(self._P_stack[idx * S + rows])
            else:
                P = self.P[idx, rows, :]
        else:
            R = (self.R * mat).sum(axis=1)
            if self.is_sparse:
                P = sp.csr_array(sum(sp.diags_array(mat[:, a]) @ self.P[a] for a in range(self.n_actions)))
            else:
                P = np.einsum("sa,ast->st", mat, self.P)
        out = MRP._from_validated(P, R, self.gamma, self.states, self.terminal, self.meta)
        out._put_fact("transition_rewards", None)  # (A, S, S): not the process's own
        return out
