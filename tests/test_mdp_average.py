"""Average-reward criterion: gain and bias by policy iteration and relative value iteration, checked
against a linear program, the stationary distribution of the optimal policy, and the limit
(1 - gamma) V*_gamma -> g as gamma -> 1."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from rlkit.errors import RlkitError
from rlkit.mdp import (
    MDP,
    evaluate_average,
    policy_iteration,
    policy_iteration_average,
    relative_value_iteration,
)


def unichain_mdp(seed: int, S: int = 12, A: int = 3, sparse: bool = False) -> MDP:
    """Every entry of P positive on a random support that keeps every state reachable from state 0
    and state 0 reachable from every state under every action: one recurrent class per policy."""
    rng = np.random.default_rng(seed)
    P = rng.random((A, S, S)) * (rng.random((A, S, S)) < 0.4)
    P[:, :, 0] += 0.05                              # every state can return to 0 ...
    P[:, 0, :] += 0.05                              # ... and 0 reaches every state
    P /= P.sum(axis=2, keepdims=True)
    R = rng.uniform(-1, 1, (S, A))
    return MDP([sp.csr_array(m) for m in P] if sparse else P, R, 1.0)


def lp_gain(mdp: MDP) -> float:
    """The dual LP of the average-reward criterion (Puterman 8.8.2): max sum r x over state-action
    frequencies x >= 0 with sum_a x(j, a) = sum_{s,a} P(j|s, a) x(s, a) and sum x = 1."""
    S, A = mdp.n_states, mdp.n_actions
    P = np.stack([m.toarray() for m in mdp.P]) if mdp.is_sparse else mdp.P
    # variable x[s, a] at index s * A + a
    flow = np.zeros((S, S * A))
    for s in range(S):
        for a in range(A):
            flow[s, s * A + a] += 1.0
            flow[:, s * A + a] -= P[a, s]
    A_eq = np.vstack([flow, np.ones((1, S * A))])
    b_eq = np.r_[np.zeros(S), 1.0]
    res = linprog(-mdp.R.ravel(), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert res.status == 0
    return -res.fun


def stationary(P: np.ndarray) -> np.ndarray:
    """Left eigenvector of P for eigenvalue 1 (independent of rlkit's solver)."""
    w, V = np.linalg.eig(P.T)
    mu = np.real(V[:, np.argmin(np.abs(w - 1))])
    return mu / mu.sum()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sparse", [False, True])
def test_gain_equals_the_lp_optimum_and_the_stationary_average(seed, sparse):
    mdp = unichain_mdp(seed, sparse=sparse)
    pi = policy_iteration_average(mdp)
    rvi = relative_value_iteration(mdp, tol=1e-11)
    g_lp = lp_gain(mdp)
    assert pi.converged and abs(pi.gain - g_lp) < 1e-9 and abs(rvi.gain - g_lp) < 1e-9
    # the gain is the reward averaged over the optimal policy's stationary distribution
    S = mdp.n_states
    P = np.stack([m.toarray() for m in mdp.P]) if sparse else mdp.P
    P_pi = P[pi.policy, np.arange(S)]
    mu = stationary(P_pi)
    assert abs(mu @ mdp.R[np.arange(S), pi.policy] - pi.gain) < 1e-10
    # bias: g + h = R_pi + P_pi h with mu h = 0, and RVI finds the same
    np.testing.assert_allclose(pi.gain + pi.bias, mdp.R[np.arange(S), pi.policy] + P_pi @ pi.bias, atol=1e-10)
    assert abs(mu @ pi.bias) < 1e-10
    np.testing.assert_allclose(rvi.bias, pi.bias, atol=1e-8)
    # optimality: no action improves on h
    assert np.all(pi.q.max(axis=1) <= pi.bias + 1e-10)


def test_discounted_values_times_one_minus_gamma_tend_to_the_gain():
    mdp = unichain_mdp(3)
    g = policy_iteration_average(mdp).gain
    h = policy_iteration_average(mdp).bias
    errs = []
    for gamma in (0.9, 0.99, 0.999, 0.9999):
        v = policy_iteration(mdp.with_gamma(gamma)).values
        errs.append(np.max(np.abs((1 - gamma) * v - g)))
        # Laurent expansion: (1 - gamma) V_gamma = g + (1 - gamma) h + O((1 - gamma)^2)
        assert errs[-1] <= (1 - gamma) * (np.max(np.abs(h)) + 1) + 1e-9
    assert errs == sorted(errs, reverse=True) and errs[-1] < 1e-3


def test_forest_gain_by_hand_and_periodic_chain():
    # forest, 3 states, always wait: stationary (0.1, 0.09, 0.81), reward 4 in the oldest state
    P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
    mdp = MDP(P, [[0, 0], [0, 1], [4, 2]], gamma=1.0)
    for sol in (policy_iteration_average(mdp), relative_value_iteration(mdp)):
        assert sol.policy.tolist() == [0, 0, 0] and abs(sol.gain - 0.81 * 4) < 1e-9
        np.testing.assert_allclose(sol.info["stationary"], [0.1, 0.09, 0.81], atol=1e-12)
    # a 2-cycle is periodic: plain relative value iteration would oscillate; the aperiodic
    # transform converges to gain 1/2
    cyc = MDP(np.array([[[0, 1], [1, 0]]]), [[1], [0]], gamma=1.0)
    sol = relative_value_iteration(cyc)
    assert abs(sol.gain - 0.5) < 1e-9 and np.allclose(sol.bias, [0.25, -0.25])


def test_multichain_model_is_refused_naming_the_recurrent_classes():
    # two separate absorbing pairs {0, 1} and {2, 3}: every policy has two recurrent classes
    P = np.zeros((1, 4, 4))
    P[0, 0, 1] = P[0, 1, 0] = P[0, 2, 3] = P[0, 3, 2] = 1.0
    mdp = MDP(P, [[1], [0], [0], [2]], gamma=1.0, states=["a", "b", "c", "d"])
    for solve in (policy_iteration_average, relative_value_iteration):
        with pytest.raises(RlkitError, match=r"multichain.*2 recurrent classes.*\{'a', 'b'\}.*\{'c', 'd'\}"):
            solve(mdp)
    with pytest.raises(RlkitError, match="deterministic"):
        evaluate_average(mdp, np.ones((4, 1)))
    with pytest.raises(RlkitError, match="tau must lie in"):
        relative_value_iteration(unichain_mdp(0), tau=1.0)
