"""Mutants of rlkit/mdp/exact.py that the solver tests left alive (docs/mutation-survivors.md),
each killed here against a hand number or an independent solve (scipy's dense ``solve``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import MRP, exact, solve_mrp

SINGULAR = ("the Bellman system I - gamma P is singular; check that every run terminates "
            "(gamma = 1) or use gamma < 1")


def raises_exactly(message, fn, *args, **kwargs):
    with pytest.raises(RlkitError, match=f"^{re.escape(message)}$"):
        fn(*args, **kwargs)


def cycle(n):
    """A directed cycle s -> s + 1 (mod n): its Krylov spaces need n steps to hold the answer."""
    i = np.arange(n)
    return sp.csr_array((np.ones(n), (i, (i + 1) % n)), shape=(n, n))


@pytest.mark.parametrize("solve, P", [
    (exact._solve_dense, np.eye(2)),                                     # I - P = 0
    (exact._solve_sparse_lu, sp.csr_array(np.eye(2))),
    (exact._solve_sparse_lu, sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))),   # rank 1
])
def test_a_singular_bellman_system_is_refused_in_plain_words(solve, P):
    # gamma = 1 on a closed set of states: unreachable from solve_mrp (which solves on the
    # transient states only), kept as the solvers' last guard
    raises_exactly(SINGULAR, solve, P, np.ones(2), 1.0)


def test_gmres_starts_from_the_guess_it_is_given():
    # a 300-state cycle at gamma 0.999: one restart cycle (40 steps) from zero is far from the
    # answer, but from the exact values (scipy's dense solve) GMRES has nothing left to do
    n, gamma = 300, 0.999
    P = cycle(n)
    R = np.sin(np.arange(n) / 7.0)
    v = scipy.linalg.solve(np.eye(n) - gamma * P.toarray(), R)
    kernel = exact.CSRKernel(P)
    cold, cold_bound = exact._solve_sparse_krylov(kernel, R, gamma, None, 1)
    assert cold is None and cold_bound > 1e-6
    warm, warm_bound = exact._solve_sparse_krylov(kernel, R, gamma, v, 1)
    assert warm is not None and warm_bound <= 1e-10 * max(1.0, np.abs(v).max())
    np.testing.assert_allclose(warm, v, atol=1e-9)


def test_gamma_1_names_the_whole_closed_set_that_keeps_paying():
    # a -> b <-> c pays 1 in b forever; "end" is absorbing with reward 0 (it terminates)
    P = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    mrp = MRP(P, [0, 1, 0, 0], 1.0, states=["a", "b", "c", "end"])
    raises_exactly(
        "gamma = 1 but the runs from state(s) 'b', 'c' never terminate (they stay in a closed set of "
        "states that keeps paying reward, so the undiscounted values are infinite); use gamma < 1 or "
        "give those states a transition to a terminal state", solve_mrp, mrp)


def test_the_bounded_iteration_by_hand():
    """A 2-state swap paying 1 in state 0, gamma 1/2: V = (4/3, 2/3). From v = 0 MacQueen's bound
    (gamma / (1 - gamma) times half the span of Tv - v) is 1/2, then halves every sweep (the
    change alternates +-b/2 with no shift), so it first proves 1e-10 * max(1, |V|) = 1.33e-10 at
    sweep 33, with the bound 2**-33. A one-state MRP is done in one sweep with bound 0."""
    swap = MRP(sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]])), [1.0, 0.0], 0.5)
    for method in ("iteration", "auto"):
        sol = solve_mrp(swap, method=method)
        assert sol.info == {"solver": "iteration", "error_bound": 2.0**-33, "sweeps": 33}
        np.testing.assert_allclose(sol.values, [4 / 3, 2 / 3], atol=2.0**-33)
        res = np.max(np.abs(swap.R + 0.5 * (swap.P @ sol.values) - sol.values))
        assert sol.residual == res and sol.iterations == 0 and sol.converged and sol.method == "exact"
    one = solve_mrp(MRP(sp.csr_array(np.array([[1.0]])), [1.0], 0.5), method="iteration")
    assert one.info == {"solver": "iteration", "error_bound": 0.0, "sweeps": 1}
    assert one.values.tolist() == [2.0]
    krylov = solve_mrp(swap, method="krylov")
    assert krylov.info["solver"] == "krylov" and krylov.info["error_bound"] <= 1e-15
    np.testing.assert_allclose(krylov.values, [4 / 3, 2 / 3], rtol=1e-15)
    assert solve_mrp(swap, method="direct").info == {"solver": "direct"}


@pytest.mark.parametrize("sparse", [False, True])
def test_gamma_1_is_solved_on_the_transient_states(sparse):
    # 0 -> 1 -> 2 (absorbing), 1 each step; 3 <-> 4 is a closed set paying 0: V = (2, 1, 0, 0, 0)
    P = np.zeros((5, 5))
    P[0, 1] = P[1, 2] = P[2, 2] = P[3, 4] = P[4, 3] = 1.0
    sol = solve_mrp(MRP(sp.csr_array(P) if sparse else P, [1.0, 1.0, 0, 0, 0], 1.0))
    assert sol.values.tolist() == [2.0, 1.0, 0.0, 0.0, 0.0]
    assert sol.info == {"solved_on": "transient states", "solver": "direct"}
    assert sol.residual == 0.0 and sol.converged and sol.iterations == 0


def test_one_gmres_cycle_is_40_krylov_steps():
    # on a cycle of n states the answer needs exactly n Krylov steps (the minimal polynomial of
    # the shift has degree n): one restart cycle of 40 solves n = 40 and leaves n = 41 far off
    R40, R41 = np.sin(np.arange(40) / 3.0), np.sin(np.arange(41) / 3.0)
    v, bound = exact._solve_sparse_krylov(exact.CSRKernel(cycle(40)), R40, 0.999, None, 1)
    assert v is not None and bound <= 1e-9
    ref = scipy.linalg.solve(np.eye(40) - 0.999 * cycle(40).toarray(), R40)
    np.testing.assert_allclose(v, ref, rtol=1e-9)
    v, bound = exact._solve_sparse_krylov(exact.CSRKernel(cycle(41)), R41, 0.999, None, 1)
    assert v is None and bound > 1.0
