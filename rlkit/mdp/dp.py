"""Dynamic programming on an :class:`~rlkit.mdp.MDP`: evaluation, policy / value / modified policy
iteration, Gauss-Seidel value iteration and finite-horizon backward induction.

Every Bellman backup is one vectorised operation over all states and actions,
``Q = R + gamma * (P @ V)`` with ``P`` seen as one (A*S, S) operator (a reshape for dense ``P``, a
stacked CSR matrix for sparse ``P``). Gauss-Seidel's sweep, sequential by definition, is done
with sparse triangular solves; a state-by-state loop is only its last-resort finish.

Stopping rules. For ``gamma < 1`` the Bellman operator ``T`` is a ``gamma``-contraction in the
sup-norm, so for any ``V``: ``|TV - V*| <= gamma / (1 - gamma) * |TV - V|``. Value iteration,
modified policy iteration and Gauss-Seidel stop when that bound is below ``tol``, so the values they
return are within ``tol`` of ``V*`` (pymdptoolbox's span-based stop does not give that).
For ``gamma = 1`` (episodic MDPs whose runs end in terminal states) there is no such bound: they stop
when the sup-norm change is below ``tol`` and say so in ``Solution.info["stop"]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp.exact import (
    CSRKernel,
    CSRRowsKernel,
    _solve_sparse,
    bellman_residual_mrp,
    blas_threads,
    check_terminates,
    resolve_threads,
    solve_mrp,
    span_bounds,
)
from rlkit.mdp.models import MDP, _fmt_states
from rlkit.mdp.solution import HISTORY_VALUES_MAX_STATES, Solution

__all__ = [
    "q_from_v", "greedy_policy", "bellman_residual", "evaluate", "policy_iteration", "value_iteration",
    "modified_policy_iteration", "gauss_seidel", "backward_induction", "proper_policy",
    "evaluate_average", "policy_iteration_average", "relative_value_iteration", "linear_programming",
]

#: Relative tolerance under which two action values count as tied (see :func:`greedy_policy`).
TIE_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

def q_from_v(mdp: MDP, v: np.ndarray) -> np.ndarray:
    """Action values from state values: ``Q[s, a] = R[s, a] + gamma * sum_s' P[a, s, s'] v[s']``.

    :param mdp: the MDP.
    :param v: state values (S,).
    :return: (S, A).

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, q_from_v
        >>> mdp = MDP(np.array([[[0, 1], [0, 1]], [[1, 0], [0, 1]]]), R=[[1, 0], [0, 0]], gamma=0.5)
        >>> q_from_v(mdp, np.array([2.0, 0.0])).tolist()
        [[1.0, 1.0], [0.0, 0.0]]
    """
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (mdp.n_states,):
        raise RlkitError(f"values have shape {v.shape}; expected ({mdp.n_states},)")
    return mdp.R + mdp.gamma * mdp.expected_next(v)


def greedy_policy(q: np.ndarray, current: np.ndarray | None = None, tol: float = TIE_TOL) -> np.ndarray:
    """The greedy policy of action values ``q`` (S, A), with a stable tie rule.

    Actions whose value is within ``tol * max(1, |max_a q[s, a]|)`` of the best count as tied.
    Among tied actions the ``current`` one (if given) is kept, else the lowest index wins. Keeping
    the current action makes policy iteration stop instead of cycling between equally good actions.

    :param q: action values (S, A).
    :param current: the current policy (S,) action indices, or None.
    :param tol: relative tie tolerance.
    :return: action indices (S,).

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import greedy_policy
        >>> greedy_policy(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])).tolist()
        [1, 0]
        >>> greedy_policy(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), current=np.array([2, 2])).tolist()
        [2, 0]
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2:
        raise RlkitError(f"q must have shape (S, A), got {q.shape}")
    return _greedy_AS(q.T, current, tol)


def _greedy_AS(Q: np.ndarray, current: np.ndarray | None = None, tol: float = TIE_TOL,
               best: np.ndarray | None = None) -> np.ndarray:
    """:func:`greedy_policy` of ``Q`` in the (A, S) layout (the solvers' own, contiguous per action).

    One pass per action over (S,) arrays and no (A, S) temporary (at S = 10^7 the mask and its
    argmax cost a second per call): the lowest tied action is found by writing each tied action's
    index from the highest to the lowest. ``best``: ``Q.max(axis=0)`` if the caller has it."""
    A, S = Q.shape
    if best is None:
        best = Q.max(axis=0)
    threshold = np.abs(best)                      # best - tol * max(1, |best|)
    np.maximum(threshold, 1.0, out=threshold)
    threshold *= -tol
    threshold += best
    policy = np.zeros(S, dtype=np.int64)
    for a in range(A - 1, -1, -1):
        np.copyto(policy, a, where=Q[a] >= threshold)
    if current is not None:                       # keep the current action where it is tied too
        current = np.asarray(current, dtype=np.int64)
        other = np.flatnonzero(policy != current)  # usually few states
        keep = other[Q[current[other], other] >= threshold[other]]
        policy[keep] = current[keep]
    return policy


def bellman_residual(mdp: MDP, v: np.ndarray) -> float:
    """The optimality residual ``max_s |max_a Q(s, a) - v(s)|`` with ``Q = q_from_v(mdp, v)``."""
    return float(np.max(np.abs(q_from_v(mdp, v).max(axis=1) - v)))


def _keep_values(mdp: MDP) -> bool:
    return mdp.n_states <= HISTORY_VALUES_MAX_STATES


def _record(history: list, k: int, residual: float, v: np.ndarray, keep: bool,
            policy: np.ndarray | None = None) -> None:
    entry: dict[str, Any] = {"iteration": k, "residual": float(residual)}
    if keep:
        entry["values"] = v.copy()
        if policy is not None:
            entry["policy"] = policy.copy()
    history.append(entry)


def _stop_factor(gamma: float) -> float:
    """Multiply the sup-norm change by this to bound the distance to the fixed point."""
    return gamma / (1.0 - gamma) if gamma < 1.0 else 1.0


@dataclass
class _FixedPoint:
    """What :func:`_iterate` returns."""

    values: np.ndarray
    iterations: int
    residual: float
    converged: bool
    history: list
    error_bound: float = np.inf


def _with_span(step: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """A step ``v -> Tv`` as :func:`_iterate` wants it: ``v -> (Tv, min(Tv - v), max(Tv - v))``."""
    def fused(v: np.ndarray) -> tuple[np.ndarray, float, float]:
        new = step(v)
        if not len(v):
            return new, 0.0, 0.0
        d = new - v
        return new, float(d.min()), float(d.max())
    return fused


def _iterate(step: Callable[[np.ndarray], tuple[np.ndarray, float, float]], v: np.ndarray, gamma: float,
             tol: float, max_iter: int, keep: bool, bounds: bool = False,
             proved: Callable[[float], None] | None = None) -> _FixedPoint:
    """Apply ``v <- Tv`` until the error bound is below ``tol`` (shared by iterative evaluation,
    value iteration and Gauss-Seidel). ``step(v)`` returns ``(Tv, min(Tv - v), max(Tv - v))``
    (see :func:`_with_span`); it may reuse buffers other than ``v``.

    The bound is the sup-norm one of :func:`_stop_factor`, or with ``bounds`` (a Bellman operator
    ``T`` with ``T(v + c) = Tv + gamma c``, gamma < 1) MacQueen's (:func:`~rlkit.mdp.exact.span_bounds`):
    each iterate is moved to the middle of the bounds, ``v <- Tv + shift``, and the stop is
    ``gamma/(1-gamma) span(Tv - v)/2 < tol``. The span shrinks by a factor ``gamma`` times the
    chain's ergodicity coefficient per sweep, often far faster than the sup-norm, so fewer sweeps
    (passes over ``P``) give the same guarantee ``|V - V*| < tol``. ``proved(bound)``, if given, is
    told after each sweep the bound on ``|v - V*|`` of the new iterate (gamma < 1 only: for
    gamma = 1 there is none)."""
    factor, history = _stop_factor(gamma), []
    bounds = bounds and gamma < 1.0
    converged, residual, iterations, bound = False, np.inf, 0, np.inf
    for k in range(1, int(max_iter) + 1):
        new, lo, hi = step(v)
        residual = max(abs(lo), abs(hi))
        if bounds:
            shift, bound = span_bounds(lo, hi, gamma)
            new += shift
        else:
            bound = residual * factor
        v = new
        iterations = k
        _record(history, k, residual, v, keep)
        if proved is not None and gamma < 1.0:
            proved(bound)
        if bound < tol:
            converged = True
            break
    return _FixedPoint(v, iterations, residual, converged, history, bound)


def _stop_rule(gamma: float, bounds: bool = False) -> str:
    if gamma < 1.0 and bounds:
        return ("MacQueen bounds: V_k+1 = TV_k + gamma/(1-gamma) (max+min)(TV_k - V_k)/2 and "
                "gamma/(1-gamma) * span(TV_k - V_k)/2 < tol, so |V - V*| < tol")
    if gamma < 1.0:
        return "sup-norm bound: gamma/(1-gamma) * |V_k+1 - V_k| < tol, so |V - V*| < tol"
    return "residual: |V_k+1 - V_k| < tol (gamma = 1, no contraction bound)"


def _check_tol(tol: float, max_iter: int) -> None:
    if not (np.isfinite(tol) and tol > 0):
        raise RlkitError(f"tol must be a positive number, got {tol!r}")
    if int(max_iter) < 1:
        raise RlkitError(f"max_iter must be >= 1, got {max_iter!r}")


def _check_v0(mdp: MDP, v0: Any) -> np.ndarray | None:
    if v0 is None:
        return None
    v = np.array(v0, dtype=np.float64)
    if v.shape != (mdp.n_states,) or not np.isfinite(v).all():
        raise RlkitError(f"v0 must be {mdp.n_states} finite values, got shape {v.shape}")
    return v


class _Backup:
    """``Q = R + gamma P V`` in the (A, S) layout of the stacked (A*S, S) operator: one pass over
    ``P`` per backup (sparse: :class:`~rlkit.mdp.exact.CSRKernel`, ``R`` written into the output
    first and ``gamma`` folded into ``V``; dense: one matrix-vector product).

    Calling it is one value-iteration sweep in the form :func:`_iterate` wants: for sparse ``P``
    the max over actions and the change ``TV - V`` are computed block by block in the threads
    that computed the block's Q, into two reused buffers (no new arrays per sweep).
    """

    def __init__(self, mdp: MDP, threads: int, discount: float | None = None) -> None:
        self.A, self.S = mdp.n_actions, mdp.n_states
        self.g = mdp.gamma if discount is None else float(discount)
        self.RT = np.ascontiguousarray(mdp.R.T).reshape(-1)
        self.stack = mdp._P_stack
        self.kernel = CSRKernel(self.stack, threads, groups=self.A) if mdp.is_sparse else None
        self.out = np.empty(self.A * self.S)
        self.bytes_per_sweep = self.kernel.bytes if self.kernel is not None else self.stack.nbytes
        self._bufs = [np.empty(self.S), np.empty(self.S)]
        self._d, self._gv = np.empty(self.S), np.empty(self.S)   # reused: no 10^7-entry allocation a sweep
        self.bytes_read = 0                                        # of P, by the sweeps (__call__)
        self.n_alive = self.A * self.S                             # (s, a) rows computed (all, here)

    def q(self, v: np.ndarray) -> np.ndarray:
        """(A, S) action values (a buffer reused by the next call)."""
        if self.kernel is not None:
            self.kernel(self.g * v, self.RT, out=self.out)
        else:
            np.matmul(self.stack, v, out=self.out)
            self.out *= self.g
            self.out += self.RT
        return self.out.reshape(self.A, self.S)

    def __call__(self, v: np.ndarray) -> tuple[np.ndarray, float, float]:
        new = self._bufs[0] if self._bufs[0] is not v else self._bufs[1]
        if self.kernel is None or self.S == 0:
            return _with_span(lambda v: self.q(v).max(axis=0))(v)
        Q, d = self.out.reshape(self.A, self.S), self._d

        def post(s0: int, s1: int) -> tuple[float, float]:
            np.max(Q[:, s0:s1], axis=0, out=new[s0:s1])
            np.subtract(new[s0:s1], v[s0:s1], out=d[s0:s1])
            return float(d[s0:s1].min()), float(d[s0:s1].max())

        spans = self._product(v, post)
        return new, min(t[0] for t in spans), max(t[1] for t in spans)

    def _product(self, v: np.ndarray, post: Callable[[int, int], Any]) -> list:
        """``out = R + gamma P v`` (sparse P), then ``post`` over the chunks of states. From
        ``v = 0`` (value iteration's default start) ``P v = 0`` exactly, so nothing of P is read:
        ``out = R``, the same numbers the product gives (up to the sign of a zero)."""
        if not v.any():
            np.copyto(self.out, self.RT)
            return self.kernel.each_chunk(post)
        self.bytes_read += self.kernel.bytes
        return self.kernel(np.multiply(v, self.g, out=self._gv), self.RT, out=self.out, post=post)


#: ``value_iteration(eliminate=None)`` eliminates actions on sparse models with at least this many
#: stored transitions (where a sweep costs a second or more; below, the bookkeeping is not worth it
#: and the iterates stay those of plain value iteration) ...
ELIMINATE_MIN_NNZ = 1 << 24
#: ... and at least this many per row: the test and the masking cost a few passes over the (A, S)
#: values a sweep, which a row of 10 random successors repays and a row of 1-2 does not (forest at
#: S = 10^6: 3.1 s of CPU with elimination against 1.9 s without, though it reads 57% of P).
ELIMINATE_MIN_ROW_NNZ = 4
#: Relative slack of the elimination test, far above the rounding of a backup (about 1e-15).
ELIMINATE_SLACK = 1e-12
#: The alive rows get their own kernel (and a new one later) when they fall to this fraction of
#: the rows that the kernel in use computes.
REBUILD_FRACTION = 0.85
#: ... and that kernel copies their entries (a stream instead of rows read from all over P) once
#: they are at most this fraction of all rows: at S = 10^7 the copy is then 1.2 GB beside 4.8.
COPY_FRACTION = 0.3


def _room_for(nbytes: int) -> bool:
    """Whether ``nbytes`` more fit: under the process's address-space limit (``RLIMIT_AS``, if one
    is set; the benchmark sets 8 GB) beside what it has mapped, and in half the memory the machine
    has available. Linux (``/proc``); elsewhere True."""
    import resource

    def field(path: str, key: str) -> int:
        with open(path) as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    try:
        mapped, available = field("/proc/self/status", "VmSize:"), field("/proc/meminfo", "MemAvailable:")
    except (OSError, StopIteration, ValueError):
        return True
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY and mapped + nbytes > 0.95 * limit:
        return False
    return nbytes < 0.5 * available


class _PrunedBackup(_Backup):
    """A value-iteration sweep over the actions not yet proven suboptimal: action elimination
    (MacQueen 1967; Puterman, Section 6.7.2).

    If ``|v - V*| <= b`` then ``|Q_v(s, a) - Q*(s, a)| <= gamma b`` for ``Q_v = R + gamma P v``, so
    an action with ``Q_v(s, a) < max_a' Q_v(s, a') - 2 gamma b`` is not optimal in ``s``, now or
    ever; dropping it leaves an MDP with the same V*, on which the sweeps and their bounds go on.
    ``b`` is the bound :func:`_iterate` proved for the ``v`` of this call (``bound``, set after each
    sweep; ``inf`` at the start, when nothing is eliminated). The test keeps a margin of
    :data:`ELIMINATE_SLACK` (relative) for rounding. Dead rows hold ``-inf`` in the (A, S) buffer.

    While most rows live, the sweep is the full product (dead rows computed and masked); when the
    alive rows fall to :data:`REBUILD_FRACTION` of those computed, a
    :class:`~rlkit.mdp.exact.CSRRowsKernel` computes only them, reading P in place (or, once at
    most :data:`COPY_FRACTION` of the rows is left and :func:`_room_for` says the copy fits, from a
    copy of their entries: at S = 10^7 under the benchmark's 8 GB limit it does not). On a random
    sparse MDP (4 actions, gamma 0.9) one action per state is left after about ten sweeps, so the
    sweeps that follow read a quarter of P.
    """

    def __init__(self, mdp: MDP, threads: int) -> None:
        super().__init__(mdp, threads)
        self.threads = threads
        self.alive = np.ones((self.A, self.S), dtype=bool)
        self.computed = self.n_alive
        self.rows_kernel: Any = None
        self.bound = np.inf
        self._thr = np.empty(self.S)

    def set_bound(self, bound: float) -> None:
        """``|v - V*| <= bound`` for the ``v`` of the next call (from :func:`_iterate`)."""
        self.bound = float(bound)

    def __call__(self, v: np.ndarray) -> tuple[np.ndarray, float, float]:
        new = self._bufs[0] if self._bufs[0] is not v else self._bufs[1]
        if self.S == 0:
            return _Backup.__call__(self, v)
        Q, d, alive, thr = self.out.reshape(self.A, self.S), self._d, self.alive, self._thr
        cut = 2.0 * self.g * self.bound if np.isfinite(self.bound) else None

        def post(s0: int, s1: int) -> tuple[float, float, int]:
            q, live, best = Q[:, s0:s1], alive[:, s0:s1], new[s0:s1]
            np.copyto(q, -np.inf, where=~live)
            np.max(q, axis=0, out=best)
            np.subtract(best, v[s0:s1], out=d[s0:s1])
            if cut is not None:                   # keep q >= best - 2 gamma b - slack
                t = thr[s0:s1]
                np.abs(best, out=t)
                t += 1.0
                t *= ELIMINATE_SLACK
                t += cut
                np.subtract(best, t, out=t)
                live &= q >= t
            return float(d[s0:s1].min()), float(d[s0:s1].max()), int(np.count_nonzero(live))

        if self.rows_kernel is None:
            spans = self._product(v, post)
        else:
            self.rows_kernel(np.multiply(v, self.g, out=self._gv), self.RT, out=self.out)
            self.bytes_read += self.rows_kernel.bytes
            spans = self.kernel.each_chunk(post)
        self.n_alive = sum(t[2] for t in spans)
        if self.n_alive <= REBUILD_FRACTION * self.computed:
            self.rows_kernel = None                # free the old one first
            copy = (self.n_alive <= COPY_FRACTION * self.A * self.S
                    and _room_for(2 * self.n_alive * (12 * self.kernel.nnz // max(1, self.A * self.S) + 24)))
            self.rows_kernel = CSRRowsKernel(self.kernel, np.flatnonzero(alive.reshape(-1)), self.threads,
                                             copy=copy)
            self.computed = self.n_alive
        return new, min(t[0] for t in spans), max(t[1] for t in spans)


def proper_policy(mdp: MDP) -> np.ndarray:
    """A deterministic policy under which every run reaches a terminal state (for ``gamma = 1``).

    Breadth-first search backwards from the terminal states over the transition graph: each state
    takes an action that can move it one step closer, so from every state the terminal set is
    reached with positive probability within its distance, hence with probability 1.

    :raises RlkitError: naming the states from which no policy can reach a terminal state.
    """
    from scipy.sparse.csgraph import breadth_first_order

    S, A = mdp.n_states, mdp.n_actions
    if not mdp.terminal.any():
        raise RlkitError("gamma = 1 but the MDP has no terminal state (absorbing with zero reward under "
                         "every action), so the undiscounted values are not defined; use gamma < 1")
    stack = mdp._P_stack if mdp.is_sparse else sp.csr_array(mdp._P_stack)
    coo = stack.tocoo()
    coo_s, coo_t = coo.row % S, coo.col
    keep = coo.data > 0
    # reverse graph on S + 1 nodes: node S links to every terminal state; t -> s when s can move to t
    src = np.concatenate([coo_t[keep], np.full(int(mdp.terminal.sum()), S)])
    dst = np.concatenate([coo_s[keep], np.flatnonzero(mdp.terminal)])
    G = sp.csr_array((np.ones(len(src)), (src, dst)), shape=(S + 1, S + 1))
    order, parent = breadth_first_order(G, S, directed=True, return_predecessors=True)
    reached = np.zeros(S + 1, dtype=bool)
    reached[order] = True
    if not reached[:S].all():
        bad = np.flatnonzero(~reached[:S])
        raise RlkitError(f"gamma = 1 but no policy leads from state(s) {_fmt_states(mdp.states, bad)} to a "
                         "terminal state, so their undiscounted values are not defined; use gamma < 1")
    policy = np.zeros(S, dtype=np.int64)
    target = parent[:S]
    # among the entries (a, s, t) with t = parent[s], take the lowest action for each s
    a_of = coo.row // S
    hit = keep & (coo_t == target[coo_s]) & ~mdp.terminal[coo_s]
    best = np.full(S, A, dtype=np.int64)
    np.minimum.at(best, coo_s[hit], a_of[hit])
    nonterm = ~mdp.terminal
    policy[nonterm] = best[nonterm]
    return policy


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------

def evaluate(mdp: MDP, policy: Any, *, method: str = "exact", tol: float = 1e-10, max_iter: int = 100_000,
             v0: Any = None, solver: str = "auto", threads: int | None = None) -> Solution:
    """Value of a fixed policy.

    ``method="exact"`` solves ``(I - gamma P_pi) v = R_pi`` (see :func:`~rlkit.mdp.solve_mrp`);
    ``method="iterative"`` repeats ``v <- R_pi + gamma P_pi v`` until ``|v - v_pi| < tol`` (MacQueen's
    bounds, see :func:`_iterate`; for ``gamma = 1`` until the change is below ``tol``).

    :param mdp: the MDP.
    :param policy: (S,) action indices or (S, A) action probabilities.
    :param method: ``"exact"`` or ``"iterative"``.
    :param tol: accuracy of the iterative method.
    :param max_iter: sweep limit of the iterative method.
    :param v0: starting values of the iterative method (default zeros).
    :param solver: linear solver of the exact method for sparse models (see
        :func:`~rlkit.mdp.solve_mrp`): ``"auto"``, ``"direct"``, ``"krylov"`` or ``"iteration"``.
    :param threads: threads of the sparse products (None: all cores; the result does not depend on it).
    :return: :class:`Solution` with ``values``, ``q`` (the policy's action values) and ``policy``
        (the evaluated one for a deterministic policy, else None).

    Example (S&B Example 4.1, the equiprobable policy on the 4x4 gridworld, built by hand)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, evaluate
        >>> S, moves = 16, [(-1, 0), (0, 1), (1, 0), (0, -1)]
        >>> P = np.zeros((4, S, S)); R = np.full((S, 4), -1.0)
        >>> for s in range(S):
        ...     r, c = divmod(s, 4)
        ...     for a, (dr, dc) in enumerate(moves):
        ...         nr, nc = min(max(r + dr, 0), 3), min(max(c + dc, 0), 3)
        ...         P[a, s, (s if s in (0, 15) else 4 * nr + nc)] = 1
        >>> R[[0, 15]] = 0
        >>> evaluate(MDP(P, R, gamma=1.0), np.full((S, 4), 0.25)).values.reshape(4, 4).round()[0].tolist()
        [0.0, -14.0, -20.0, -22.0]
    """
    t0 = time.perf_counter()
    n_threads = resolve_threads(threads)
    idx, _ = mdp.check_policy(policy)
    mrp = mdp.mrp(policy)
    if method == "exact":
        sol = solve_mrp(mrp, method=solver, threads=n_threads)
        v, iterations, residual, converged, history = sol.values, 0, sol.residual, True, []
        info = dict(sol.info)
    elif method == "iterative":
        _check_tol(tol, max_iter)
        if mrp.gamma == 1.0:
            check_terminates(mrp)
        v = np.zeros(mdp.n_states) if v0 is None else _check_v0(mdp, v0)
        g = mrp.gamma
        if mrp.is_sparse:
            kernel = CSRKernel(mrp.P, n_threads)

            def step(v: np.ndarray) -> np.ndarray:
                return kernel(g * v, mrp.R)
        else:
            def step(v: np.ndarray) -> np.ndarray:
                return mrp.R + g * (mrp.P @ v)
        with blas_threads(1 if mrp.is_sparse else n_threads):
            fp = _iterate(_with_span(step), v, g, tol, max_iter, _keep_values(mdp), bounds=True)
        v, iterations, residual, converged, history = (fp.values, fp.iterations, fp.residual, fp.converged,
                                                       fp.history)
        info = {"stop": _stop_rule(g, True), "error_bound": fp.error_bound,
                "bellman_residual": bellman_residual_mrp(mrp, v)}
    else:
        raise RlkitError(f"evaluate: method must be 'exact' or 'iterative', got {method!r}")
    return Solution(values=v, q=q_from_v(mdp, v), policy=None if idx is None else idx.copy(),
                    iterations=iterations, residual=residual, converged=converged, history=history,
                    method=f"evaluate-{method}", seconds=time.perf_counter() - t0, info=info)


# --------------------------------------------------------------------------------------------
# policy iteration
# --------------------------------------------------------------------------------------------

def policy_iteration(mdp: MDP, *, tol: float = TIE_TOL, max_iter: int = 1000,
                     policy0: Any = None, threads: int | None = None) -> Solution:
    """Howard's policy iteration with exact evaluation.

    Evaluate the policy by a linear solve, improve it greedily (keeping the current action when it
    is among the best within ``tol``, else the lowest index), stop when the policy is stable. The
    result is exact up to the linear solver's rounding. For ``gamma = 1`` the default first policy
    is a proper one (see :func:`proper_policy`), so every evaluation is finite.

    :param mdp: the MDP.
    :param tol: relative tie tolerance of the improvement step.
    :param max_iter: improvement-step limit.
    :param policy0: first policy (S,) (default: greedy on the immediate reward; proper for gamma = 1).
    :param threads: threads of the sparse products (None: all cores; the result does not depend on it).
    :return: :class:`Solution` (``iterations`` = number of evaluations; ``residual`` = Bellman
        optimality residual of the returned values).

    Example (pymdptoolbox's forest, 3 states, gamma 0.9)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, policy_iteration
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> sol = policy_iteration(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=0.9))
        >>> sol.policy.tolist(), sol.values.round(3).tolist(), sol.converged
        ([0, 0, 0], [26.244, 29.484, 33.484], True)
    """
    t0 = time.perf_counter()
    if int(max_iter) < 1:
        raise RlkitError(f"max_iter must be >= 1, got {max_iter!r}")
    n_threads = resolve_threads(threads)
    if policy0 is not None:
        policy, mat = mdp.check_policy(policy0, "policy0")
        if policy is None:
            raise RlkitError("policy0 must be deterministic: (S,) action indices")
        policy = policy.copy()
    elif mdp.gamma == 1.0:
        policy = proper_policy(mdp)
    else:
        policy = greedy_policy(mdp.R)
    keep, history, converged = _keep_values(mdp), [], False
    v = q = None
    iterations, solver, used = 0, "auto", "direct"
    backup = _Backup(mdp, n_threads)
    S, rows = mdp.n_states, np.arange(mdp.n_states)
    fast = mdp.is_sparse and mdp.gamma < 1.0
    for k in range(1, int(max_iter) + 1):
        # the first evaluation picks the sparse solver (bounded iteration, verified GMRES or LU);
        # later ones reuse LU if it came to that, else try again warm-started from the previous values
        if fast:                                 # P_pi straight from the stacked operator
            picked = policy * S + rows
            info: dict = {}
            with blas_threads(1):
                v = _solve_sparse(sp.csr_array(backup.stack[picked]), backup.RT[picked], mdp.gamma, solver, v,
                                  info, n_threads)
            used = info["solver"]
        else:
            ev = solve_mrp(mdp.mrp(policy), method=solver, x0=v, threads=n_threads)
            v, used = ev.values, ev.info.get("solver", "direct")
        solver = "direct" if used == "direct" else "auto"
        Q = backup.q(v)
        best = Q.max(axis=0)
        new = _greedy_AS(Q, current=policy, tol=tol, best=best)
        changed = int(np.count_nonzero(new != policy))
        iterations = k
        best -= v
        residual = float(max(best.max(), -best.min())) if S else 0.0
        _record(history, k, residual, v, keep, policy)
        history[-1]["changed"] = changed
        if changed == 0:
            converged = True
            break
        policy = new
    q = Q.T                                      # (S, A) view of the backup's buffer: no copy
    return Solution(values=v, q=q, policy=policy, iterations=iterations, residual=residual,
                    converged=converged, history=history, method="policy-iteration",
                    seconds=time.perf_counter() - t0,
                    info={"stop": "policy stable (no action improves by more than the tie tolerance)",
                          "solver": used})


# --------------------------------------------------------------------------------------------
# value iteration
# --------------------------------------------------------------------------------------------

def _torch_device(device: Any) -> Any:
    """None for the numpy path ("cpu" or None), else a CUDA ``torch.device`` that exists."""
    if device is None or device == "cpu":
        return None
    if not isinstance(device, str) or not (device == "cuda" or device.startswith("cuda:")):
        raise RlkitError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    import torch

    if not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU"
        raise RlkitError(f"device {device!r}: no CUDA device is available (torch {torch.__version__}, "
                         f"{build}); use --device cpu")
    dev = torch.device(device)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RlkitError(f"device {device!r}: there are {torch.cuda.device_count()} CUDA devices")
    return dev


def _torch_iterate(mdp: MDP, dev: Any, v: np.ndarray, tol: float, max_iter: int, bounds: bool,
                   m: int = 0) -> tuple[np.ndarray, int, float, float, bool]:
    """Value iteration (``m = 0``) or modified policy iteration (``m`` evaluation sweeps per
    improvement) on torch tensors on ``dev``: the stacked (A*S, S) operator as a sparse CSR tensor
    (dense for dense models), float64, the same stop as the numpy path.

    :return: (values, iterations, last sup-norm change, error bound, converged).
    """
    import torch

    A, S, g = mdp.n_actions, mdp.n_states, mdp.gamma
    stack = mdp._P_stack
    if mdp.is_sparse:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
            P = torch.sparse_csr_tensor(torch.from_numpy(stack.indptr.astype(np.int64)),
                                        torch.from_numpy(stack.indices.astype(np.int64)),
                                        torch.from_numpy(np.asarray(stack.data, dtype=np.float64)),
                                        size=stack.shape, device=dev, check_invariants=False)
    else:
        P = torch.from_numpy(np.ascontiguousarray(stack)).to(dev)
    RT = torch.from_numpy(np.ascontiguousarray(mdp.R.T).reshape(-1)).to(dev)
    x = torch.from_numpy(v).to(dev)
    rows = torch.arange(S, device=dev)
    factor = _stop_factor(g)
    bounds = bounds and g < 1.0
    residual, bound, converged, k = np.inf, np.inf, False, 0

    def q_of(x: Any) -> Any:
        return (RT + g * (P @ x.unsqueeze(1)).squeeze(1)).view(A, S)

    for k in range(1, int(max_iter) + 1):  # noqa: B007 (k is returned)
        new, policy = q_of(x).max(dim=0)
        d = new - x
        lo, hi = float(d.min()), float(d.max())
        residual = max(abs(lo), abs(hi))
        if bounds:
            shift, bound = span_bounds(lo, hi, g)
            new = new + shift
        else:
            bound = residual * factor
        x = new
        if bound < tol:
            converged = True
            break
        for _ in range(int(m)):
            x = q_of(x)[policy, rows]
    return x.cpu().numpy().astype(np.float64), k, residual, bound, converged


def value_iteration(mdp: MDP, *, tol: float = 1e-8, max_iter: int = 100_000, v0: Any = None,
                    threads: int | None = None, bounds: bool = True, device: str | None = None,
                    eliminate: bool | None = None) -> Solution:
    """Value iteration ``V <- max_a (R + gamma P V)`` with a stop that bounds the error.

    For ``gamma < 1`` each sweep ``TV`` is moved to the middle of MacQueen's bounds on V*
    (Puterman, Thm 6.6.3; :func:`~rlkit.mdp.exact.span_bounds`), ``V <- TV + gamma/(1-gamma)
    (max + min)(TV - V)/2``, and it stops when ``gamma/(1-gamma) * span(TV - V)/2 < tol``, which
    guarantees ``|V - V*|_inf < tol``: the returned values are V* to the tolerance asked for
    (unlike a bare span stop that returns ``TV``, as pymdptoolbox does). The span shrinks faster
    than the sup-norm change, so this needs fewer sweeps than the plain stop
    ``gamma/(1-gamma) * |V_k+1 - V_k| < tol`` (``bounds=False``), which is also exact to ``tol``.
    For ``gamma = 1`` (runs that end in terminal states) it stops when ``|V_k+1 - V_k|_inf < tol``
    (a residual stop with no such guarantee; use :func:`policy_iteration` for exact values).

    Each sweep is one pass over the stacked (A*S, S) operator, in row blocks on ``threads``
    threads for sparse ``P`` (:class:`~rlkit.mdp.exact.CSRKernel`); ``info["bytes_per_sweep"]``
    is what one full sweep reads of ``P``. The first sweep from ``v0 = 0`` reads nothing (``P 0 = 0``).

    Action elimination (``eliminate``; gamma < 1, sparse ``P``): after each sweep the bound
    ``b >= |V - V*|`` just proved drops every action whose ``Q`` is more than ``2 gamma b`` below
    its state's best (it cannot be optimal; see :class:`_PrunedBackup`), and later sweeps compute
    only the actions left, reading P in place (:class:`~rlkit.mdp.exact.CSRRowsKernel`). V*, the
    stop and its guarantee are unchanged; the iterates may differ from plain value iteration's
    below ``tol``. It pays where sweeps are costly: on the random sparse MDP (4 actions, 10
    successors, gamma 0.9) one action per state is left after about ten of the 23 sweeps, and the
    whole run reads about 40% of what plain value iteration reads. ``None`` (default): on for sparse
    models with more than one action, at least :data:`ELIMINATE_MIN_NNZ` stored transitions and
    :data:`ELIMINATE_MIN_ROW_NNZ` per row (the random 10^6- and 10^7-state models of the benchmark,
    not forest, whose rows of 1-2 entries make the bookkeeping cost more than it saves).
    ``info["bytes_read"]`` is what all sweeps read of ``P``, ``info["eliminated"]`` the fraction of
    (s, a) pairs dropped by the end.

    :param mdp: the MDP.
    :param tol: accuracy (sup-norm) of the returned values.
    :param max_iter: sweep limit (``converged`` is False when reached).
    :param v0: starting values (default zeros).
    :param threads: threads of the sparse products (None: all cores; the result does not depend on it).
    :param bounds: use MacQueen's bounds (default) or the plain sup-norm stop.
    :param device: ``"cpu"`` (default: numpy and scipy) or ``"cuda"``/``"cuda:N"``: the sweeps run
        on torch tensors on that GPU (P as a sparse CSR tensor, float64), the same stop; an error
        when no CUDA device is available.
    :param eliminate: action elimination on (True), off (False) or where it pays (None).
    :return: :class:`Solution`; ``q`` and ``policy`` are greedy with respect to the returned values
        (``q`` for every action, eliminated or not).

    Example (forest, 3 states: the values agree with policy iteration to 1e-8)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, value_iteration
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> sol = value_iteration(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=0.9), tol=1e-8)
        >>> sol.values.round(3).tolist(), sol.policy.tolist(), sol.converged
        ([26.244, 29.484, 33.484], [0, 0, 0], True)
    """
    t0 = time.perf_counter()
    _check_tol(tol, max_iter)
    n_threads = resolve_threads(threads)
    dev = _torch_device(device)
    v = np.zeros(mdp.n_states) if v0 is None else _check_v0(mdp, v0)
    g = mdp.gamma
    prune = _eliminates(mdp, eliminate, dev)
    backup = _PrunedBackup(mdp, n_threads) if prune else _Backup(mdp, n_threads)
    with blas_threads(1 if mdp.is_sparse else n_threads):
        if dev is None:
            fp = _iterate(backup, v, g, tol, max_iter, _keep_values(mdp), bounds=bounds,
                          proved=backup.set_bound if prune else None)
        else:
            values, k, res, bound, conv = _torch_iterate(mdp, dev, v, tol, max_iter, bounds)
            fp = _FixedPoint(values, k, res, conv, [{"iteration": k, "residual": res}], bound)
        q = backup.q(fp.values).T               # (S, A) view of the backup's buffer: no copy
    return Solution(values=fp.values, q=q, policy=greedy_policy(q), iterations=fp.iterations,
                    residual=fp.residual, converged=fp.converged, history=fp.history,
                    method="value-iteration", seconds=time.perf_counter() - t0,
                    info={"stop": _stop_rule(g, bounds), "error_bound": fp.error_bound,
                          "bytes_per_sweep": int(backup.bytes_per_sweep), "threads": n_threads,
                          "device": str(dev or "cpu"), **_elimination_info(backup, fp.iterations)})


def _eliminates(mdp: MDP, eliminate: bool | None, dev: Any) -> bool:
    """Whether value iteration eliminates actions (see :func:`value_iteration`)."""
    if eliminate is None:
        return (mdp.is_sparse and mdp.gamma < 1.0 and mdp.n_actions > 1 and dev is None
                and mdp._P_stack.nnz >= max(ELIMINATE_MIN_NNZ, ELIMINATE_MIN_ROW_NNZ * mdp._P_stack.shape[0]))
    if not isinstance(eliminate, (bool, np.bool_)):
        raise RlkitError(f"eliminate must be true, false or None, got {eliminate!r}")
    if eliminate and (mdp.gamma >= 1.0 or not mdp.is_sparse or dev is not None):
        raise RlkitError("action elimination needs gamma < 1 (its test uses the discounted error bound), "
                         "sparse transitions and device 'cpu'; use eliminate=False")
    return bool(eliminate)


def _elimination_info(backup: _Backup, sweeps: int) -> dict:
    """What value iteration reports of its sweeps' reads of P and of the elimination."""
    if backup.kernel is None:                      # dense P: every sweep one product
        return {"bytes_read": int(backup.bytes_per_sweep) * int(sweeps), "eliminated": 0.0}
    total = max(1, backup.A * backup.S)
    return {"bytes_read": int(backup.bytes_read), "eliminated": 1.0 - backup.n_alive / total}


def modified_policy_iteration(mdp: MDP, *, m: int = 10, tol: float = 1e-8, max_iter: int = 100_000,
                              v0: Any = None, threads: int | None = None, bounds: bool = True,
                              device: str | None = None) -> Solution:
    """Modified policy iteration (Puterman 6.5): greedy improvement, then ``m`` sweeps of
    ``v <- R_pi + gamma P_pi v`` for that policy.

    Stops on the same bound as :func:`value_iteration`, applied to the improvement backup
    (MacQueen's bounds, which hold for any ``V``; with ``bounds=False`` the plain
    ``|TV - V*| <= gamma/(1-gamma) |TV - V|``), so the values are within ``tol`` of V*
    (``gamma = 1``: residual stop). ``m = 0`` is value iteration; large ``m`` approaches policy
    iteration.

    :param mdp: the MDP.
    :param m: partial evaluation sweeps per improvement.
    :param tol: accuracy of the returned values.
    :param max_iter: improvement-step limit.
    :param v0: starting values (default ``min(R) / (1 - gamma)`` everywhere; zeros for gamma = 1).
    :param threads: threads of the sparse products (None: all cores; the result does not depend on it).
    :param bounds: stop on MacQueen's bounds (default) or on the plain sup-norm bound.
    :param device: ``"cpu"`` (default) or ``"cuda"``/``"cuda:N"`` (torch tensors on that GPU, as in
        :func:`value_iteration`).
    :return: :class:`Solution`.

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, modified_policy_iteration
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> sol = modified_policy_iteration(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=0.9), m=5)
        >>> sol.values.round(3).tolist()
        [26.244, 29.484, 33.484]
    """
    t0 = time.perf_counter()
    _check_tol(tol, max_iter)
    if int(m) < 0:
        raise RlkitError(f"m must be >= 0, got {m!r}")
    n_threads = resolve_threads(threads)
    dev = _torch_device(device)
    g, S = mdp.gamma, mdp.n_states
    if v0 is not None:
        v = _check_v0(mdp, v0)
    elif g < 1.0:
        v = np.full(S, float(mdp.R.min()) / (1.0 - g))
    else:
        v = np.zeros(S)
    factor, keep, history = _stop_factor(g), _keep_values(mdp), []
    bounds = bounds and g < 1.0
    converged, residual, iterations, policy, bound = False, np.inf, 0, None, np.inf
    rows = np.arange(S)
    backup = _Backup(mdp, n_threads)
    if dev is not None:
        v, iterations, residual, bound, converged = _torch_iterate(mdp, dev, v, tol, max_iter, bounds, int(m))
        history.append({"iteration": iterations, "residual": residual})
        max_iter = 0                              # skip the numpy loop below
    with blas_threads(1 if mdp.is_sparse else n_threads):
        for k in range(1, int(max_iter) + 1):
            Q = backup.q(v)
            policy = _greedy_AS(Q, current=policy)
            new = Q[policy, rows]
            d = new - v
            residual = float(np.max(np.abs(d))) if S else 0.0
            if bounds:
                shift, bound = span_bounds(float(d.min()), float(d.max()), g)
                new += shift
            else:
                bound = residual * factor
            v = new
            iterations = k
            _record(history, k, residual, v, keep, policy)
            if bound < tol:
                converged = True
                break
            if m:
                mrp = mdp.mrp(policy)
                if mrp.is_sparse:
                    kernel = CSRKernel(mrp.P, n_threads)
                    for _ in range(int(m)):
                        v = kernel(g * v, mrp.R)
                else:
                    for _ in range(int(m)):
                        v = mrp.R + g * (mrp.P @ v)
        q = backup.q(v).T                       # (S, A) view of the backup's buffer: no copy
    return Solution(values=v, q=q, policy=greedy_policy(q, current=policy), iterations=iterations,
                    residual=residual, converged=converged, history=history,
                    method="modified-policy-iteration", seconds=time.perf_counter() - t0,
                    info={"stop": _stop_rule(g, bounds), "error_bound": bound, "m": int(m),
                          "threads": n_threads, "device": str(dev or "cpu")})


class _GaussSeidelSweep:
    """One Gauss-Seidel sweep ``v[s] <- max_a (R[s, a] + gamma * (sum_{t<s} P[a,s,t] v_new[t]
    + sum_{t>=s} P[a,s,t] v_old[t]))`` for s = 0, 1, ..., computed with sparse triangular solves.

    The sweep is a forward substitution through a max. Guess each state's maximising action (the
    plain value-iteration choice), solve the lower-triangular system ``(I - gamma L_pi) v = u_pi`` for
    that choice, and check every state at once: where the chosen action is not a maximiser of
    ``u + gamma L v``, switch it and solve again. A state whose predecessors are all right is right
    after the next solve, so the rounds end; the values of all states before the first wrong one
    are already exact (forward substitution), so if ``max_rounds`` runs out the remaining states
    are swept one by one in index order (the honest, sequential Gauss-Seidel loop).
    """

    def __init__(self, mdp: MDP, max_rounds: int = 20) -> None:
        S, A = mdp.n_states, mdp.n_actions
        stack = mdp._P_stack if mdp.is_sparse else sp.csr_array(mdp._P_stack)
        coo = stack.tocoo()
        s_of = coo.row % S
        low = coo.col < s_of
        shape = (A * S, S)
        self.L = sp.csr_array((coo.data[low], (coo.row[low], coo.col[low])), shape=shape)
        self.U = sp.csr_array((coo.data[~low], (coo.row[~low], coo.col[~low])), shape=shape)
        self.RT = np.ascontiguousarray(mdp.R.T)
        self.S, self.A, self.g, self.max_rounds = S, A, mdp.gamma, max_rounds
        self.rows = np.arange(S)
        self.full = stack
        self.rounds = 0
        self.fallback_states = 0

    def __call__(self, v_old: np.ndarray) -> np.ndarray:
        from scipy.sparse.linalg import spsolve_triangular

        S, A, g, rows = self.S, self.A, self.g, self.rows
        u = self.RT + g * (self.U @ v_old).reshape(A, S)
        if self.L.nnz == 0:                       # nothing below the diagonal: a Jacobi sweep
            return u.max(axis=0)
        w = u + g * (self.L @ v_old).reshape(A, S)
        policy = w.argmax(axis=0)
        v = v_old
        for _ in range(self.max_rounds):
            self.rounds += 1
            L_pi = sp.csr_array(self.L[policy * S + rows])
            if L_pi.nnz:
                v = spsolve_triangular(-g * L_pi, u[policy, rows], lower=True, unit_diagonal=True)
            else:
                v = u[policy, rows].copy()
            w = u + g * (self.L @ v).reshape(A, S)
            best = w.max(axis=0)
            bad = w[policy, rows] < best - TIE_TOL * np.maximum(1.0, np.abs(best))
            if not bad.any():
                return v
            policy = np.where(bad, w.argmax(axis=0), policy)
        # rounds exhausted: v is exact before the first wrong state; sweep the rest in order
        first = int(np.flatnonzero(bad)[0])
        v = v.copy()
        v[first:] = v_old[first:]
        G = self.full
        for s in range(first, S):
            q = [self.RT[a, s] + g * float(G.data[G.indptr[a * S + s]:G.indptr[a * S + s + 1]]
                                             @ v[G.indices[G.indptr[a * S + s]:G.indptr[a * S + s + 1]]])
                 for a in range(A)]
            v[s] = max(q)
        self.fallback_states += S - first
        return v


def gauss_seidel(mdp: MDP, *, tol: float = 1e-8, max_iter: int = 100_000, v0: Any = None,
                 max_rounds: int = 20) -> Solution:
    """Gauss-Seidel value iteration: sweeps over the states in index order, each update using the
    values already updated in this sweep.

    Each sweep is computed exactly but without a Python loop over states, by sparse triangular
    solves (see :class:`_GaussSeidelSweep`: guess the maximising actions, solve, correct the states
    whose choice was wrong, at most ``max_rounds`` times, then finish the sweep state by state).
    The Gauss-Seidel operator is a ``gamma``-contraction with fixed point V*, so the same stop as
    :func:`value_iteration` gives ``|V - V*| < tol`` for ``gamma < 1`` (residual stop for
    ``gamma = 1``). It needs fewer sweeps than value iteration when many transitions go to
    lower-numbered states; ``info`` reports the triangular solves and the states swept one by one.

    :param mdp: the MDP.
    :param tol: accuracy of the returned values.
    :param max_iter: sweep limit.
    :param v0: starting values (default zeros).
    :param max_rounds: triangular solves per sweep before the state-by-state finish.
    :return: :class:`Solution`.

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, gauss_seidel
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> gauss_seidel(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=0.9)).values.round(3).tolist()
        [26.244, 29.484, 33.484]
    """
    t0 = time.perf_counter()
    _check_tol(tol, max_iter)
    if int(max_rounds) < 1:
        raise RlkitError(f"max_rounds must be >= 1, got {max_rounds!r}")
    g = mdp.gamma
    v = np.zeros(mdp.n_states) if v0 is None else _check_v0(mdp, v0)
    sweep = _GaussSeidelSweep(mdp, int(max_rounds))
    fp = _iterate(_with_span(sweep), v, g, tol, max_iter, _keep_values(mdp))
    q = q_from_v(mdp, fp.values)
    return Solution(values=fp.values, q=q, policy=greedy_policy(q), iterations=fp.iterations,
                    residual=fp.residual, converged=fp.converged, history=fp.history,
                    method="gauss-seidel", seconds=time.perf_counter() - t0,
                    info={"stop": _stop_rule(g), "error_bound": fp.residual * _stop_factor(g),
                          "triangular_solves": sweep.rounds,
                          "states_swept_one_by_one": sweep.fallback_states})


def backward_induction(mdp: MDP, horizon: int, *, terminal_values: Any = None) -> Solution:
    """Finite-horizon dynamic programming: ``V_H = terminal_values``,
    ``V_t = max_a (R + gamma P V_t+1)`` for ``t = H-1, ..., 0``.

    :param mdp: the MDP (``gamma`` is used as the per-step discount; 1 is common here).
    :param horizon: number of decisions ``H`` (>= 1).
    :param terminal_values: ``V_H`` (S,), default zeros.
    :return: :class:`Solution` with ``values = V_0``, ``q = Q_0``, ``policy = pi_0``, and
        ``info["stage_values"]`` (H+1, S) and ``info["stage_policies"]`` (H, S): the values and the
        optimal (non-stationary) policy of every stage ``t``. ``history`` lists the stages in the
        order computed (t = H-1 first).

    Example (forest with 2 decisions left: wait everywhere, then at the last step cut the middle
    stand, since waiting there no longer pays)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, backward_induction
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> sol = backward_induction(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=1.0), horizon=2)
        >>> sol.info["stage_policies"].tolist(), sol.values.tolist()
        ([[0, 0, 0], [0, 1, 0]], [0.9, 3.6, 7.6])
    """
    t0 = time.perf_counter()
    H = int(horizon)
    if H < 1:
        raise RlkitError(f"horizon must be >= 1, got {horizon!r}")
    S = mdp.n_states
    values = np.empty((H + 1, S))
    policies = np.empty((H, S), dtype=np.int64)
    values[H] = 0.0 if terminal_values is None else _check_v0(mdp, terminal_values)
    keep, history = _keep_values(mdp), []
    q = None
    for t in range(H - 1, -1, -1):
        q = q_from_v(mdp, values[t + 1])
        policies[t] = greedy_policy(q)
        values[t] = q[np.arange(S), policies[t]]
        change = float(np.max(np.abs(values[t] - values[t + 1])))
        _record(history, H - t, change, values[t], keep, policies[t])
        history[-1]["stage"] = t
    return Solution(values=values[0].copy(), q=q, policy=policies[0].copy(), iterations=H, residual=0.0,
                    converged=True, history=history, method="backward-induction",
                    seconds=time.perf_counter() - t0,
                    info={"stage_values": values, "stage_policies": policies, "horizon": H})


# --------------------------------------------------------------------------------------------
# linear programming
# --------------------------------------------------------------------------------------------

def linear_programming(mdp: MDP) -> Solution:
    """V* as the solution of a linear program, solved by HiGHS (``scipy.optimize.linprog``): an
    exact solver independent of the Bellman iterations (Puterman, 6.9).

    ``min sum_s v(s) / S`` subject to ``v(s) >= R[s, a] + gamma sum_s' P[a, s, s'] v(s')`` for every
    (s, a): the smallest v that is a Bellman upper bound is V*. For ``gamma = 1`` the terminal
    states are fixed at 0; a model whose runs may never end is then infeasible (a cycle that pays)
    or unbounded (a cycle that pays nothing and is not terminal), which is reported as an error.
    The constraint matrix is the stacked (A*S, S) operator, sparse for sparse models. Accuracy:
    HiGHS's feasibility tolerances (1e-7); where two actions are within that of each other the
    optimal basis may be the other one, so the values agree with policy iteration to about 1e-7
    relative, not to rounding.

    :param mdp: the MDP.
    :return: :class:`Solution` with ``values``, the greedy ``q`` and ``policy``;
        ``info["lp_status"]`` is HiGHS's message.
    :raises RlkitError: when the LP is infeasible or unbounded, or HiGHS fails.

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, linear_programming
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> linear_programming(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=0.9)).values.round(3).tolist()
        [26.244, 29.484, 33.484]
    """
    from scipy.optimize import linprog

    t0 = time.perf_counter()
    S, A, g = mdp.n_states, mdp.n_actions, mdp.gamma
    stack = mdp._P_stack if mdp.is_sparse else sp.csr_array(mdp._P_stack)
    eye = sp.csr_array(sp.vstack([sp.identity(S, format="csr")] * A, format="csr"))
    A_ub = sp.csr_array(g * stack - eye)                     # gamma P v - v <= -R
    b_ub = -np.ascontiguousarray(mdp.R.T).reshape(-1)
    bounds = np.full((S, 2), np.nan)
    bounds[:, 0], bounds[:, 1] = -np.inf, np.inf
    if g == 1.0:
        bounds[mdp.terminal] = 0.0
    res = linprog(np.full(S, 1.0 / S), A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status == 2:
        raise RlkitError(f"the linear program is infeasible (HiGHS: {res.message}): no finite values satisfy "
                         "the Bellman inequalities, so some runs collect reward forever; use gamma < 1")
    if res.status == 3:
        raise RlkitError(f"the linear program is unbounded (HiGHS: {res.message}): some states never reach a "
                         "terminal state and pay nothing, so their undiscounted values are not defined; use "
                         "gamma < 1 or mark those states terminal")
    if res.status != 0:
        raise RlkitError(f"the linear program was not solved (HiGHS status {res.status}: {res.message})")
    v = np.asarray(res.x, dtype=np.float64)
    q = q_from_v(mdp, v)
    return Solution(values=v, q=q, policy=greedy_policy(q), iterations=int(getattr(res, "nit", 0) or 0),
                    residual=bellman_residual(mdp, v), converged=True, method="linear-programming",
                    seconds=time.perf_counter() - t0, info={"lp_status": str(res.message)})


# --------------------------------------------------------------------------------------------
# average reward (unichain models)
# --------------------------------------------------------------------------------------------

def _policy_matrix(mdp: MDP, idx: np.ndarray) -> Any:
    """``P_pi`` (S, S) of a deterministic policy, from the stacked operator."""
    S, rows = mdp.n_states, np.arange(mdp.n_states)
    if mdp.is_sparse:
        return sp.csr_array(mdp._P_stack[idx * S + rows])
    return mdp.P[idx, rows, :]


def _single_recurrent_class(mdp: MDP, P_pi: Any, what: str) -> np.ndarray:
    """The one recurrent class of the chain ``P_pi``, or an error naming the classes found."""
    from rlkit.mdp.models import MarkovChain

    classes = MarkovChain._from_validated(P_pi, mdp.states).recurrent_classes()
    if len(classes) != 1:
        shown = "; ".join("{" + _fmt_states(mdp.states, c) + "}" for c in classes[:4])
        more = f" and {len(classes) - 4} more" if len(classes) > 4 else ""
        raise RlkitError(f"the model is multichain: under {what} the states fall into {len(classes)} "
                         f"recurrent classes ({shown}{more}), each with its own average reward; relative "
                         "value iteration and average-reward policy iteration need a unichain model "
                         "(one recurrent class under every policy)")
    return classes[0]


def evaluate_average(mdp: MDP, policy: Any, *, what: str = "the policy") -> Solution:
    """Gain and bias of a deterministic policy under the average-reward criterion (unichain).

    Solves ``g + h = R_pi + P_pi h`` with ``h(ref) = 0`` for a state ``ref`` of the policy's
    recurrent class (one linear solve, LU), then shifts ``h`` so that ``mu_pi h = 0`` with
    ``mu_pi`` the stationary distribution: that ``h`` is the policy's bias (Puterman, 8.2).
    ``mdp.gamma`` is not used.

    :param mdp: the MDP.
    :param policy: (S,) action indices.
    :param what: how error messages name the policy.
    :return: :class:`Solution` with ``gain``, ``bias`` (= ``values``), ``q[s, a] = R[s, a] - g +
        sum_s' P[a, s, s'] h[s']`` (so that ``q[s, pi(s)] = h[s]``) and ``info["stationary"]``.
    :raises RlkitError: when the policy's chain has several recurrent classes.

    Example (a two-state cycle paying 1 then 0: gain 1/2)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, evaluate_average
        >>> sol = evaluate_average(MDP(np.array([[[0, 1], [1, 0]]]), [[1], [0]], gamma=1), [0, 0])
        >>> sol.gain, sol.bias.tolist()
        (0.5, [0.25, -0.25])
    """
    t0 = time.perf_counter()
    idx, _ = mdp.check_policy(policy)
    if idx is None:
        raise RlkitError("evaluate_average needs a deterministic policy: (S,) action indices")
    S, rows = mdp.n_states, np.arange(mdp.n_states)
    P_pi = _policy_matrix(mdp, idx)
    R_pi = mdp.R[rows, idx]
    recurrent = _single_recurrent_class(mdp, P_pi, what)
    ref = int(recurrent[0])
    # [[I - P, 1], [e_ref, 0]] [h; g] = [R; 0]
    rhs = np.append(R_pi, 0.0)
    if mdp.is_sparse:
        from scipy.sparse.linalg import spsolve

        top = sp.hstack([sp.identity(S, format="csr") - P_pi, sp.csr_array(np.ones((S, 1)))])
        bottom = sp.csr_array((np.ones(1), ([0], [ref])), shape=(1, S + 1))
        x = spsolve(sp.csc_array(sp.vstack([top, bottom])), rhs)
    else:
        M = np.zeros((S + 1, S + 1))
        M[:S, :S] = np.eye(S) - P_pi
        M[:S, S] = 1.0
        M[S, ref] = 1.0
        x = np.linalg.solve(M, rhs)
    h, g = np.asarray(x[:S], dtype=np.float64), float(x[S])
    mu = np.zeros(S)
    mu[recurrent] = _stationary_on(mdp, P_pi, recurrent)
    h = h - float(mu @ h)
    q = mdp.R - g + mdp.with_gamma(1.0).expected_next(h)
    residual = float(np.max(np.abs(q[rows, idx] - h)))
    return Solution(values=h, q=q, policy=idx.copy(), iterations=0, residual=residual, converged=True,
                    method="evaluate-average", seconds=time.perf_counter() - t0, gain=g, bias=h.copy(),
                    info={"stationary": mu, "recurrent_class": recurrent})


def _stationary_on(mdp: MDP, P_pi: Any, recurrent: np.ndarray) -> np.ndarray:
    """Stationary distribution of ``P_pi`` on its (single) recurrent class."""
    from rlkit.mdp.models import MarkovChain

    return MarkovChain._from_validated(P_pi, mdp.states)._class_stationary(recurrent)


def policy_iteration_average(mdp: MDP, *, tol: float = TIE_TOL, max_iter: int = 1000,
                             policy0: Any = None) -> Solution:
    """Policy iteration for the average-reward criterion on a unichain model (Puterman, 8.6).

    Evaluate the policy's gain ``g`` and bias ``h`` (:func:`evaluate_average`), improve greedily on
    ``R + P h`` (keeping the current action among ties within ``tol``), stop when the policy is
    stable. ``mdp.gamma`` is not used.

    :param mdp: the MDP (unichain: one recurrent class under every policy).
    :param tol: relative tie tolerance of the improvement step.
    :param max_iter: improvement-step limit.
    :param policy0: first policy (default: greedy on the immediate reward).
    :return: :class:`Solution` with ``gain``, ``bias`` (= ``values``), ``q`` and ``policy``.
    :raises RlkitError: naming the recurrent classes when a policy met is multichain.

    Example (forest, 3 states: waiting pays 4 per step in the oldest state, but a fire (p = 0.1)
    resets it; the best is to wait everywhere)::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, policy_iteration_average
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> sol = policy_iteration_average(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=1.0))
        >>> round(sol.gain, 4), sol.policy.tolist()
        (3.24, [0, 0, 0])
    """
    t0 = time.perf_counter()
    if int(max_iter) < 1:
        raise RlkitError(f"max_iter must be >= 1, got {max_iter!r}")
    if policy0 is not None:
        policy, _ = mdp.check_policy(policy0, "policy0")
        if policy is None:
            raise RlkitError("policy0 must be deterministic: (S,) action indices")
    else:
        policy = greedy_policy(mdp.R)
    history, converged, ev = [], False, None
    for k in range(1, int(max_iter) + 1):
        ev = evaluate_average(mdp, policy, what=f"the policy of policy-iteration step {k}")
        new = greedy_policy(ev.q, current=policy, tol=tol)
        changed = int(np.count_nonzero(new != policy))
        history.append({"iteration": k, "residual": float(np.max(ev.q.max(axis=1) - ev.bias)),
                        "gain": ev.gain, "changed": changed})
        if changed == 0:
            converged = True
            break
        policy = new
    return Solution(values=ev.bias, q=ev.q, policy=policy, iterations=len(history),
                    residual=history[-1]["residual"], converged=converged, history=history,
                    method="policy-iteration-average", seconds=time.perf_counter() - t0, gain=ev.gain,
                    bias=ev.bias, info={"stop": "policy stable", "stationary": ev.info["stationary"]})


def relative_value_iteration(mdp: MDP, *, tol: float = 1e-8, max_iter: int = 100_000, tau: float = 0.5,
                             threads: int | None = None) -> Solution:
    """Relative value iteration for the average-reward criterion on a unichain model (Puterman, 8.5.5).

    Iterates ``h <- T h - (T h)(ref)`` on the aperiodic transform ``P_tau = tau I + (1 - tau) P``
    (same gain, same optimal policies; it makes every chain aperiodic so the iteration converges),
    ``T h = max_a (R + P_tau h)``. Odoni's bounds ``min(Th - h) <= g* <= max(Th - h)`` give the
    stop: their gap (the span of ``Th - h``) below ``tol``. The greedy policy of the last ``h``
    is then evaluated exactly (:func:`evaluate_average`; an error if its chain is multichain), so
    the returned ``gain`` and ``bias`` are those of the returned policy, whose gain is within
    ``tol`` of the optimum. ``mdp.gamma`` is not used.

    :param mdp: the MDP (unichain).
    :param tol: gap of the gain bounds at the stop.
    :param max_iter: sweep limit.
    :param tau: weight of the self-loop in the aperiodic transform, in (0, 1).
    :param threads: threads of the sparse products.
    :return: :class:`Solution` with ``gain``, ``bias`` (= ``values``), ``q``, ``policy``;
        ``info["gain_bounds"]`` = the last Odoni bounds.

    Example::

        >>> import numpy as np
        >>> from rlkit.mdp import MDP, relative_value_iteration
        >>> P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
        >>> round(relative_value_iteration(MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=1.0)).gain, 4)
        3.24
    """
    t0 = time.perf_counter()
    _check_tol(tol, max_iter)
    if not (0.0 < float(tau) < 1.0):
        raise RlkitError(f"tau must lie in (0, 1), got {tau!r}")
    n_threads = resolve_threads(threads)
    tau = float(tau)
    backup = _Backup(mdp, n_threads, discount=1.0 - tau)
    h = np.zeros(mdp.n_states)
    history, converged, lo, hi = [], False, -np.inf, np.inf
    with blas_threads(1 if mdp.is_sparse else n_threads):
        for k in range(1, int(max_iter) + 1):
            th = backup(h)[0] + tau * h           # the tau * h of P_tau does not depend on the action
            d = th - h
            lo, hi = float(d.min()), float(d.max())
            h = th - th[0]
            history.append({"iteration": k, "residual": hi - lo})
            if hi - lo < tol:
                converged = True
                break
            if k >= 100 and (k & (k - 1)) == 0 and hi - lo > 0.5 * history[k // 2 - 1]["residual"]:
                # the gap stopped shrinking: a multichain greedy policy is the usual cause; name it
                _single_recurrent_class(mdp, _policy_matrix(mdp, greedy_policy(backup.q(h).T)),
                                        f"the greedy policy after {k} sweeps of relative value iteration")
    if not converged:
        _single_recurrent_class(mdp, _policy_matrix(mdp, greedy_policy(backup.q(h).T)),
                                "the greedy policy relative value iteration ended with")
        raise RlkitError(f"relative value iteration did not converge in {max_iter} sweeps (gain bounds "
                         f"[{lo:.6g}, {hi:.6g}]); the model may be multichain: try policy-iteration, "
                         "which names the recurrent classes it finds")
    Q = backup.q(h).T                              # R + (1 - tau) P h: its argmax is that of R + P h
    policy = greedy_policy(Q)
    ev = evaluate_average(mdp, policy, what="the policy relative value iteration found")
    return Solution(values=ev.bias, q=ev.q, policy=policy, iterations=len(history), residual=hi - lo,
                    converged=True, history=history, method="relative-value-iteration",
                    seconds=time.perf_counter() - t0, gain=ev.gain, bias=ev.bias,
                    info={"stop": "Odoni bounds: max(Th - h) - min(Th - h) < tol", "gain_bounds": (lo, hi),
                          "tau": tau, "stationary": ev.info["stationary"]})
