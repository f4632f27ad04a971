"""--method lp: the linear program (HiGHS) gives the same V* as policy iteration; infeasible and
unbounded programs are errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, linear_programming, policy_iteration
from rlkit.mdp.generators import forest, random_sparse


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_lp_equals_policy_iteration(seed, gamma):
    rng = np.random.default_rng(seed)
    S, A = 15, 3
    P = rng.random((A, S, S)) * (rng.random((A, S, S)) < 0.3) + 1e-3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(S, A))
    for model in (MDP(P, R, gamma), MDP([sp.csr_array(m) for m in P], R, gamma)):
        lp, pi = linear_programming(model), policy_iteration(model)
        np.testing.assert_allclose(lp.values, pi.values, atol=1e-7 * max(1, np.abs(pi.values).max()))
        assert np.array_equal(lp.policy, pi.policy) and lp.residual < 1e-6
    big = random_sparse(S=300, seed=seed, gamma=gamma)
    np.testing.assert_allclose(linear_programming(big).values, policy_iteration(big).values, atol=1e-6)
    f = forest(S=50, gamma=gamma)
    np.testing.assert_allclose(linear_programming(f).values, policy_iteration(f).values, atol=1e-6)


def test_undiscounted_lp_fixes_terminal_states_and_reports_bad_programs():
    # gridworld 1-D: 0 and 3 terminal, -1 per move: values -min(distance)
    P = np.zeros((2, 4, 4))
    for s in range(4):
        for a, step in enumerate((-1, 1)):
            P[a, s, s if s in (0, 3) else s + step] = 1.0
    R = np.full((4, 2), -1.0)
    R[[0, 3]] = 0.0
    lp = linear_programming(MDP(P, R, 1.0))
    np.testing.assert_allclose(lp.values, [0, -1, -1, 0], atol=1e-9)
    # a non-terminal state that loops on itself paying 1 forever: v >= 1 + v has no solution
    loop = MDP(np.ones((1, 1, 1)), [[1.0]], 1.0)
    with pytest.raises(RlkitError, match="linear program is infeasible"):
        linear_programming(loop)
    # the same loop paying nothing but not declared terminal: v >= v, min v is -infinity
    free = MDP(np.ones((1, 1, 1)), [[0.0]], 1.0, terminal=[])
    with pytest.raises(RlkitError, match="linear program is unbounded"):
        linear_programming(free)
