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
