"""Exact values of a Markov reward process: the matrix Bellman equation ``(I - gamma P) v = R``.

Solved by a linear solve (LAPACK LU for dense ``P``; SuperLU or verified GMRES for sparse ``P``), never by an
explicit inverse. With ``gamma = 1`` the system is singular; the values are then the expected total
reward until absorption, found by solving on the transient states only, provided every closed set of
states the process can end up in pays zero reward (terminal states, in the usual case). Otherwise the
values are infinite and :func:`solve_mrp` says which states never terminate.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp.models import MRP, _fmt_states
from rlkit.mdp.solution import Solution

__all__ = ["solve_mrp", "bellman_residual_mrp", "check_terminates"]


def bellman_residual_mrp(mrp: MRP, v: np.ndarray) -> float:
    """``max_s |R + gamma P v - v|``."""
    if mrp.n_states == 0:
        return 0.0
    return float(np.max(np.abs(mrp.R + mrp.gamma * (mrp.P @ v) - v)))


def check_terminates(mrp: MRP) -> tuple[np.ndarray, np.ndarray]:
    """For ``gamma = 1``: check that every run ends up where no more reward is paid.

    :return: ``(transient, recurrent)`` state indices; the values on the recurrent states are 0.
    :raises RlkitError: naming the states of closed sets that keep paying reward (their runs
        never terminate and the undiscounted values are infinite).
    """
    chain = mrp.chain
    _, classes, class_of = chain._structure
    recurrent = np.flatnonzero(class_of >= 0)
    paying = recurrent[mrp.R[recurrent] != 0]
    if len(paying):
        # name the whole closed sets that pay reward, starting with the first one
        bad = np.concatenate([classes[k] for k in np.unique(class_of[paying])])
        raise RlkitError(
            f"gamma = 1 but the runs from state(s) {_fmt_states(mrp.states, bad)} never terminate (they stay "
            "in a closed set of states that keeps paying reward, so the undiscounted values are infinite); "
            "use gamma < 1 or give those states a transition to a terminal state")
    return np.flatnonzero(class_of < 0), recurrent


def _solve_dense(P: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Solve (I - gamma P) v = R with LAPACK getrf/getrs, building the matrix once and copying
    nothing else: the C-ordered M = I - gamma P is, read in Fortran order, M^T; getrf factorises
    that in place and getrs solves with trans=1, i.e. (M^T)^T v = M v = R.
    (``numpy.linalg.solve`` would copy M into a Fortran-ordered buffer first.)"""
    from scipy.linalg import lapack

    n = P.shape[0]
    M = np.multiply(P, -gamma)
    M.reshape(-1)[:: n + 1] += 1.0
    getrf, getrs = lapack.get_lapack_funcs(("getrf", "getrs"), (M,))
    lu, piv, info = getrf(M.T, overwrite_a=True)
    if info == 0:
        v, info = getrs(lu, piv, np.asarray(R, dtype=np.float64), trans=1)
    if info != 0 or not np.isfinite(v).all():
        raise RlkitError("the Bellman system I - gamma P is singular; check that every run terminates "
                         "(gamma = 1) or use gamma < 1")
    return v


def _solve_sparse_lu(P: sp.csr_array, R: np.ndarray, gamma: float) -> np.ndarray:
    from scipy.sparse.linalg import MatrixRankWarning, spsolve

    n = P.shape[0]
    M = sp.csc_array(sp.identity(n, format="csr", dtype=np.float64) - gamma * P)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", MatrixRankWarning)
        try:
            v = spsolve(M, R)
        except MatrixRankWarning:
            raise RlkitError("the Bellman system I - gamma P is singular; check that every run terminates "
                             "(gamma = 1) or use gamma < 1") from None
    return np.asarray(v, dtype=np.float64).reshape(n)


#: Accuracy the Krylov path must prove: ``|v - v_exact|_inf <= KRYLOV_TOL * max(1, |v|_inf)``.
KRYLOV_TOL = 1e-10


def _solve_sparse_krylov(P: sp.csr_array, R: np.ndarray, gamma: float, x0: np.ndarray | None,
                         max_cycles: int) -> tuple[np.ndarray | None, float]:
    """GMRES on ``I - gamma P``; returns (v, error bound) or (None, bound) when not proven accurate.

    For gamma < 1, ``|v - v_exact|_inf <= |R + gamma P v - v|_inf / (1 - gamma)`` for any ``v``, so
    the answer is checked, not trusted.
    """
    from scipy.sparse.linalg import LinearOperator, gmres

    n = P.shape[0]
    op = LinearOperator((n, n), matvec=lambda x: x - gamma * (P @ x), dtype=np.float64)
    v, _ = gmres(op, R, x0=x0, rtol=1e-14, atol=0.0, restart=40, maxiter=max_cycles)
    v = np.asarray(v, dtype=np.float64)
    bound = float(np.max(np.abs(R + gamma * (P @ v) - v))) / (1.0 - gamma) if n else 0.0
    ok = np.isfinite(bound) and bound <= KRYLOV_TOL * max(1.0, float(np.max(np.abs(v))) if n else 1.0)
    return (v if ok else None), bound


def _solve_sparse(P: sp.csr_array, R: np.ndarray, gamma: float, method: str, x0: np.ndarray | None,
                  info: dict) -> np.ndarray:
    if method in ("auto", "krylov") and gamma < 1.0:
        v, bound = _solve_sparse_krylov(P, R, gamma, x0, 2 if method == "auto" else 100)
        if v is not None:
            info.update(solver="krylov", error_bound=bound)
            return v
        if method == "krylov":
            raise RlkitError("the Krylov solver did not reach the accuracy asked for "
                             f"(error bound {bound:.3g}); use method='direct'")
    info["solver"] = "direct"
    return _solve_sparse_lu(P, R, gamma)


def solve_mrp(mrp: MRP, *, method: str = "auto", x0: np.ndarray | None = None) -> Solution:
    """Exact values of a reward process by one linear solve.

    ``v = R + gamma P v``, i.e. ``(I - gamma P) v = R``. Dense ``P``: LAPACK ``getrf``/``getrs`` on
    ``I - gamma P``, built once and factorised in place (no copy, unlike ``numpy.linalg.solve``).
    Sparse ``P``: a sparse LU factorisation (SuperLU, through ``scipy.sparse.linalg.spsolve``), or
    GMRES when that is faster: sparse LU fills in badly on random-looking transition graphs (a
    random 10^4-state MDP takes minutes and gigabytes), where a few dozen GMRES steps suffice.
    ``method="auto"`` tries a short GMRES run first (gamma < 1) and keeps its answer only when the
    bound ``|v - v_exact| <= |R + gamma P v - v| / (1 - gamma)`` proves it accurate to
    :data:`KRYLOV_TOL` (relative); otherwise it falls back to the LU solve.
    ``gamma = 1``: solved on the transient states (values 0 on closed, zero-reward sets such as
    terminal states); a clear :class:`RlkitError` names the states whose runs never terminate.

    :param mrp: the reward process.
    :param method: ``"auto"``, ``"direct"`` (always LU) or ``"krylov"`` (sparse only, gamma < 1;
        an error when the accuracy cannot be proven).
    :param x0: starting guess for the Krylov solver (e.g. the previous policy's values).
    :return: :class:`Solution` with ``values``; ``residual`` is the Bellman residual
        ``max |R + gamma P v - v|`` of the result; ``info["solver"]`` says which solver ran.

    Example (D. Silver's student MRP, lecture 2, gamma = 1)::

        >>> import numpy as np
        >>> from rlkit.mdp import MRP, solve_mrp
        >>> states = ["C1", "C2", "C3", "Pass", "Pub", "FB", "Sleep"]
        >>> P = np.array([[0, .5, 0, 0, 0, .5, 0], [0, 0, .8, 0, 0, 0, .2],
        ...               [0, 0, 0, .6, .4, 0, 0], [0, 0, 0, 0, 0, 0, 1],
        ...               [.2, .4, .4, 0, 0, 0, 0], [.1, 0, 0, 0, 0, .9, 0], [0, 0, 0, 0, 0, 0, 1]])
        >>> R = [-2, -2, -2, 10, 1, -1, 0]
        >>> solve_mrp(MRP(P, R, gamma=1.0, states=states)).values.round(1).tolist()
        [-12.5, 1.5, 4.3, 10.0, 0.8, -22.5, 0.0]
    """
    t0 = time.perf_counter()
    if method not in ("auto", "direct", "krylov"):
        raise RlkitError(f"solve_mrp: method must be 'auto', 'direct' or 'krylov', got {method!r}")
    S, g = mrp.n_states, mrp.gamma
    info: dict = {}
    if g < 1.0:
        if mrp.is_sparse:
            v = _solve_sparse(mrp.P, mrp.R, g, method, x0, info)
        else:
            info["solver"] = "direct"
            v = _solve_dense(mrp.P, mrp.R, g)
    else:
        transient, recurrent = check_terminates(mrp)
        v = np.zeros(S)
        info.update(solved_on="transient states", solver="direct")
        if len(transient):
            if mrp.is_sparse:
                sub = mrp.P[transient][:, transient]
                v[transient] = _solve_sparse(sp.csr_array(sub), mrp.R[transient], 1.0, "direct", None, info)
            else:
                v[transient] = _solve_dense(mrp.P[np.ix_(transient, transient)], mrp.R[transient], 1.0)
    v[mrp.terminal] = 0.0  # exactly: absorbing with zero reward (the solve leaves round-off there)
    residual = bellman_residual_mrp(mrp, v)
    return Solution(values=v, iterations=0, residual=residual, converged=True, method="exact",
                    seconds=time.perf_counter() - t0, info=info)
