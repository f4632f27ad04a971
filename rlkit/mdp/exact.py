"""Exact values of a Markov reward process: the matrix Bellman equation ``(I - gamma P) v = R``.

Solved by a linear solve (LAPACK ``gesv`` for dense ``P``, SuperLU for sparse ``P``), never by an
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
    # Build I - gamma P with one allocation and solve it with LAPACK gesv.
    M = np.multiply(P, -gamma)
    M.reshape(-1)[:: M.shape[0] + 1] += 1.0
    try:
        return np.linalg.solve(M, R)
    except np.linalg.LinAlgError:
        raise RlkitError("the Bellman system I - gamma P is singular; check that every run terminates "
                         "(gamma = 1) or use gamma < 1") from None


def _solve_sparse(P: sp.csr_array, R: np.ndarray, gamma: float) -> np.ndarray:
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


def solve_mrp(mrp: MRP) -> Solution:
    """Exact values of a reward process by one linear solve.

    ``v = R + gamma P v``, i.e. ``(I - gamma P) v = R``. Dense ``P``: ``numpy.linalg.solve`` on
    ``I - gamma P`` built in place. Sparse ``P``: ``scipy.sparse.linalg.spsolve`` (SuperLU).
    ``gamma = 1``: solved on the transient states (values 0 on closed, zero-reward sets such as
    terminal states); a clear :class:`RlkitError` names the states whose runs never terminate.

    :param mrp: the reward process.
    :return: :class:`Solution` with ``values``; ``residual`` is the Bellman residual
        ``max |R + gamma P v - v|`` of the result.

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
    S, g = mrp.n_states, mrp.gamma
    info: dict = {}
    if g < 1.0:
        v = _solve_sparse(mrp.P, mrp.R, g) if mrp.is_sparse else _solve_dense(mrp.P, mrp.R, g)
    else:
        transient, recurrent = check_terminates(mrp)
        v = np.zeros(S)
        info["solved_on"] = "transient states"
        if len(transient):
            if mrp.is_sparse:
                sub = mrp.P[transient][:, transient]
                v[transient] = _solve_sparse(sp.csr_array(sub), mrp.R[transient], 1.0)
            else:
                v[transient] = _solve_dense(mrp.P[np.ix_(transient, transient)], mrp.R[transient], 1.0)
    residual = bellman_residual_mrp(mrp, v)
    return Solution(values=v, iterations=0, residual=residual, converged=True, method="exact",
                    seconds=time.perf_counter() - t0, info=info)
