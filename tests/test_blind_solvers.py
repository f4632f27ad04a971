"""Solver options and corner cases: backward induction's terminal values, the Krylov error bound
against the true error and the fallback when GMRES cannot prove its accuracy, gamma = 0, modified
policy iteration with m = 0, and policy / value iteration stopped by ``max_iter``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import (
    MDP,
    MRP,
    backward_induction,
    evaluate,
    modified_policy_iteration,
    policy_iteration,
    solve_mrp,
    value_iteration,
)
from rlkit.mdp.generators import forest


def q_of(mdp, v):
    """R + gamma P v for every action, written out: (S, A)."""
    P = np.asarray(mdp.P)
    return mdp.R + mdp.gamma * np.einsum("ast,t->sa", P, v)


def random_mdp(S=6, A=3, gamma=0.8, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.random((A, S, S)) ** 3
    P /= P.sum(axis=2, keepdims=True)
    return MDP(P, rng.normal(size=(S, A)), gamma)


# ----------------------------------------------------------------------------------------------
# backward induction
# ----------------------------------------------------------------------------------------------

def test_backward_induction_with_terminal_values_by_hand():
    mdp = random_mdp()
    T = np.array([5.0, -3.0, 0.0, 1.0, 2.0, -1.0])
    sol = backward_induction(mdp, 3, terminal_values=T)
    V = T.copy()
    stages = [V]
    for _ in range(3):
        V = q_of(mdp, V).max(axis=1)
        stages.append(V)
    np.testing.assert_allclose(sol.info["stage_values"], np.array(stages[::-1]), atol=1e-12)
    np.testing.assert_allclose(sol.values, stages[-1], atol=1e-12)
    np.testing.assert_array_equal(sol.policy, q_of(mdp, stages[-2]).argmax(axis=1))


def test_backward_induction_terminal_shift_and_fixed_point():
    mdp = random_mdp(gamma=0.7)
    base = backward_induction(mdp, 4).values
    shifted = backward_induction(mdp, 4, terminal_values=np.full(6, 10.0)).values
    np.testing.assert_allclose(shifted - base, 10.0 * 0.7**4, atol=1e-10)   # a constant shifts by gamma^H
    vstar = policy_iteration(mdp).values
    np.testing.assert_allclose(backward_induction(mdp, 7, terminal_values=vstar).values, vstar, atol=1e-10)
    with pytest.raises(RlkitError):
        backward_induction(mdp, 2, terminal_values=np.zeros(5))


# ----------------------------------------------------------------------------------------------
# the Krylov solve: its bound holds, and an unproven answer is never returned
# ----------------------------------------------------------------------------------------------

def sparse_mrp(n=300, gamma=0.95):
    rng = np.random.default_rng(0)
    P = sp.random(n, n, density=0.02, random_state=1, format="csr") + sp.eye(n) * 0.01
    P = sp.csr_array(P.multiply(1 / P.sum(axis=1)))
    return MRP(P, rng.normal(size=n), gamma=gamma)


def slow_ring(n=200, gamma=0.99999):
    """A ring walk with gamma near 1: two GMRES cycles are far from the answer."""
    i = np.arange(n)
    P = sp.csr_array((np.full(2 * n, 0.5), (np.r_[i, i], np.r_[(i + 1) % n, (i - 1) % n])), shape=(n, n))
    return MRP(P, np.sin(i / 50.0), gamma=gamma)


def test_krylov_error_bound_covers_the_true_error():
    m = sparse_mrp()
    direct = solve_mrp(m, method="direct")
    assert direct.info["solver"] == "direct"
    for method in ("krylov", "auto"):
        k = solve_mrp(m, method=method)
        assert k.info["solver"] == "krylov"
        err = np.max(np.abs(k.values - direct.values))
        assert err <= k.info["error_bound"] <= 1e-9
        # the bound is the residual over 1 - gamma, recomputed here
        res = np.max(np.abs(m.R + 0.95 * (m.P @ k.values) - k.values))
        assert k.info["error_bound"] == pytest.approx(res / 0.05, rel=1e-6)


def test_auto_falls_back_to_lu_when_gmres_cannot_prove_its_answer():
    m = slow_ring()
    auto = solve_mrp(m)
    assert auto.info["solver"] == "direct"
    assert auto.residual < 1e-9
    with pytest.raises(RlkitError, match="did not reach the accuracy"):
        solve_mrp(m, method="krylov")


# ----------------------------------------------------------------------------------------------
# gamma = 0, m = 0, max_iter
# ----------------------------------------------------------------------------------------------

def test_gamma_zero_is_the_best_immediate_reward():
    mdp = random_mdp(gamma=0.0)
    best = mdp.R.max(axis=1)
    for sol in (policy_iteration(mdp), value_iteration(mdp), modified_policy_iteration(mdp, m=3)):
        np.testing.assert_allclose(sol.values, best, atol=1e-12)
        np.testing.assert_array_equal(sol.policy, mdp.R.argmax(axis=1))
        assert sol.converged
    assert value_iteration(mdp).iterations <= 2
    pol = np.zeros(6, int)
    np.testing.assert_allclose(evaluate(mdp, pol).values, mdp.R[:, 0], atol=1e-12)


def test_modified_policy_iteration_with_m_zero_is_value_iteration():
    mdp = forest(S=6)
    v0 = np.zeros(6)
    mpi = modified_policy_iteration(mdp, m=0, tol=1e-9, v0=v0)
    vi = value_iteration(mdp, tol=1e-9, v0=v0)
    assert mpi.iterations == vi.iterations
    np.testing.assert_allclose(mpi.values, vi.values, atol=1e-12)
    np.testing.assert_allclose([h["residual"] for h in mpi.history], [h["residual"] for h in vi.history])
    assert modified_policy_iteration(mdp, m=5, tol=1e-9, v0=v0).iterations < vi.iterations


def test_policy_iteration_stopped_by_max_iter():
    mdp = random_mdp(S=40, A=5, gamma=0.95, seed=2)
    start = np.zeros(40, int)
    full = policy_iteration(mdp, policy0=start)
    assert full.converged and full.iterations == 3
    cut = policy_iteration(mdp, max_iter=1, policy0=start)
    assert not cut.converged and cut.iterations == 1
    np.testing.assert_allclose(cut.values, evaluate(mdp, start).values, atol=1e-10)  # the one it evaluated
    np.testing.assert_array_equal(cut.policy, q_of(mdp, cut.values).argmax(axis=1))  # its improvement
    assert cut.residual > 1e-6
    assert np.max(np.abs(cut.values - full.values)) > 1e-3


def test_value_iteration_stopped_by_max_iter():
    mdp = forest(S=6)
    cut = value_iteration(mdp, max_iter=3, v0=np.zeros(6), bounds=False)  # the plain Bellman iterates
    assert not cut.converged and cut.iterations == 3
    V = np.zeros(6)
    for _ in range(3):
        V = q_of(mdp, V).max(axis=1)
    np.testing.assert_allclose(cut.values, V, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# the per-iteration history (what convergence plots read)
# ----------------------------------------------------------------------------------------------

def test_backward_induction_horizon_one_and_its_history():
    mdp = random_mdp()
    one = backward_induction(mdp, 1)
    np.testing.assert_allclose(one.values, mdp.R.max(axis=1), atol=1e-12)
    assert one.iterations == 1 and [h["stage"] for h in one.history] == [0]
    sol = backward_induction(mdp, 3)
    V, pol = sol.info["stage_values"], sol.info["stage_policies"]
    assert [h["stage"] for h in sol.history] == [2, 1, 0]
    assert [h["iteration"] for h in sol.history] == [1, 2, 3]
    for h in sol.history:
        t = h["stage"]
        np.testing.assert_allclose(h["values"], V[t])
        np.testing.assert_array_equal(h["policy"], pol[t])
        assert h["residual"] == pytest.approx(np.max(np.abs(V[t] - V[t + 1])))
    with pytest.raises(RlkitError, match="horizon"):
        backward_induction(mdp, 0)


def test_policy_iteration_history_holds_each_evaluated_policy():
    mdp = random_mdp(S=40, A=5, gamma=0.95, seed=2)
    sol = policy_iteration(mdp, policy0=np.zeros(40, int))
    assert [h["iteration"] for h in sol.history] == [1, 2, 3]
    for h, nxt in zip(sol.history, sol.history[1:] + [None], strict=True):
        np.testing.assert_allclose(h["values"], evaluate(mdp, h["policy"]).values, atol=1e-10)
        q = q_of(mdp, h["values"])
        assert h["residual"] == pytest.approx(np.max(np.abs(q.max(axis=1) - h["values"])), abs=1e-9)
        if nxt is not None:
            assert h["changed"] == int(np.count_nonzero(nxt["policy"] != h["policy"])) > 0
    assert sol.history[-1]["changed"] == 0
    np.testing.assert_array_equal(sol.policy, sol.history[-1]["policy"])


def test_value_iteration_history_is_the_bellman_iterates():
    mdp = forest(S=5)
    sol = value_iteration(mdp, v0=np.zeros(5), tol=1e-6, bounds=False)  # plain iterates, not shifted
    V = np.zeros(5)
    for k, h in enumerate(sol.history, 1):
        new = q_of(mdp, V).max(axis=1)
        assert h["iteration"] == k
        np.testing.assert_allclose(h["values"], new, atol=1e-9)
        assert h["residual"] == pytest.approx(np.max(np.abs(new - V)), rel=1e-9, abs=1e-12)
        V = new
    assert sol.iterations == len(sol.history) and sol.converged


def test_backward_induction_result_fields():
    mdp = random_mdp()
    sol = backward_induction(mdp, 2)
    np.testing.assert_allclose(sol.q, q_of(mdp, sol.info["stage_values"][1]), atol=1e-12)
    assert sol.method == "backward-induction" and sol.converged is True and sol.residual == 0.0
    assert sol.iterations == 2 and sol.info["horizon"] == 2 and 0.0 <= sol.seconds < 60.0


def test_modified_policy_iteration_start_history_and_max_iter():
    mdp = random_mdp(S=5, A=2, gamma=0.8, seed=3)           # min(R) < 0: the start is not 0
    v0 = np.full(5, mdp.R.min() / (1 - mdp.gamma))        # the documented default start
    sol = modified_policy_iteration(mdp, m=2, tol=1e-9, bounds=False)
    first = q_of(mdp, v0)
    np.testing.assert_allclose(sol.history[0]["values"], first.max(axis=1), atol=1e-12)
    np.testing.assert_array_equal(sol.history[0]["policy"], first.argmax(axis=1))
    assert [h["iteration"] for h in sol.history] == list(range(1, sol.iterations + 1))
    assert sol.converged and sol.info["m"] == 2
    cut = modified_policy_iteration(mdp, m=2, max_iter=1, bounds=False)
    assert cut.iterations == 1 and not cut.converged
    v = first.max(axis=1)
    P0 = np.asarray(mdp.P)[first.argmax(axis=1), np.arange(5)]
    R0 = mdp.R[np.arange(5), first.argmax(axis=1)]
    for _ in range(2):                                    # then m = 2 partial evaluation sweeps
        v = R0 + mdp.gamma * P0 @ v
    np.testing.assert_allclose(cut.values, v, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# the shared sweep loop (mutants of dp._iterate and dp._stop_rule)
# ----------------------------------------------------------------------------------------------

MACQUEEN = ("MacQueen bounds: V_k+1 = TV_k + gamma/(1-gamma) (max+min)(TV_k - V_k)/2 and "
            "gamma/(1-gamma) * span(TV_k - V_k)/2 < tol, so |V - V*| < tol")
SUP_NORM = "sup-norm bound: gamma/(1-gamma) * |V_k+1 - V_k| < tol, so |V - V*| < tol"
RESIDUAL = "residual: |V_k+1 - V_k| < tol (gamma = 1, no contraction bound)"


def one_state(gamma=0.5):
    """One state, one action, reward 1, a self-loop: V_k = 2 - 2**(1-k) from V_0 = 0."""
    return MDP(np.ones((1, 1, 1)), [[1.0]], gamma)


def test_the_sweeps_stop_at_the_first_bound_strictly_below_tol():
    # gamma = 1/2: the sup-norm bound is gamma/(1-gamma) = 1 times the change; the changes are
    # 1, 1/2, 1/4 (exact in binary), so with tol = 1/2 the third sweep is the first below tol
    from rlkit.mdp import gauss_seidel

    for sol in (value_iteration(one_state(), tol=0.5, bounds=False), gauss_seidel(one_state(), tol=0.5)):
        assert (sol.iterations, sol.values.tolist(), sol.residual) == (3, [1.75], 0.25)
        assert sol.converged and sol.info["error_bound"] == 0.25
        assert [h["residual"] for h in sol.history] == [1.0, 0.5, 0.25]


def test_each_solver_reports_the_stop_rule_it_applied():
    from rlkit.mdp import gauss_seidel

    mdp = random_mdp()
    assert value_iteration(mdp).info["stop"] == MACQUEEN
    assert value_iteration(mdp, bounds=False).info["stop"] == SUP_NORM
    assert evaluate(mdp, np.zeros(6, dtype=int), method="iterative").info["stop"] == MACQUEEN
    assert gauss_seidel(mdp).info["stop"] == SUP_NORM
    assert modified_policy_iteration(mdp, bounds=False).info["stop"] == SUP_NORM
    # gamma = 1: state 0 moves to the terminal state 1
    episodic = MDP(np.array([[[0.0, 1.0], [0.0, 1.0]]]), [[1.0], [0.0]], 1.0)
    for sol in (value_iteration(episodic), gauss_seidel(episodic)):
        assert sol.info["stop"] == RESIDUAL and sol.values.tolist() == [1.0, 0.0]
    # with gamma = 1 the bound is the change itself (no contraction factor): 1 after the first
    # sweep, 0 after the second
    sol = gauss_seidel(episodic)
    assert [h["residual"] for h in sol.history] == [1.0, 0.0] and sol.info["error_bound"] == 0.0
    assert gauss_seidel(episodic, max_iter=1).info["error_bound"] == 1.0


def test_greedy_policy_uses_the_given_tie_tolerance_and_names_a_bad_shape():
    from rlkit.mdp import greedy_policy

    q = np.array([[1.0, 1.4], [2.0, 0.0]])
    # state 0: 1.4 - 1.0 = 0.4 is inside tol * max(1, 1.4) = 0.7, so both actions tie and the lowest wins
    assert greedy_policy(q, tol=0.5).tolist() == [0, 0]
    assert greedy_policy(q).tolist() == [1, 0]  # the default tolerance is tiny
    # the window is tol * max(1, |best|): 0.2 for a best of 0.3, so 0.0 is outside it ...
    assert greedy_policy(np.array([[0.0, 0.3]]), tol=0.2).tolist() == [1]
    # ... and a value exactly at its edge (0.5 - 0.5 * 1 = 0, exact in binary) is inside
    assert greedy_policy(np.array([[0.0, 0.5]]), tol=0.5).tolist() == [0]
    with pytest.raises(RlkitError, match=r"^q must have shape \(S, A\), got \(3,\)$"):
        greedy_policy(np.ones(3))


def test_proper_policy_without_a_terminal_state_says_why():
    from rlkit.mdp.dp import proper_policy

    loop = MDP(np.ones((1, 1, 1)), [[1.0]], 1.0)  # one rewarding self-loop: never ends
    msg = ("gamma = 1 but the MDP has no terminal state (absorbing with zero reward under every action), "
           "so the undiscounted values are not defined; use gamma < 1")
    with pytest.raises(RlkitError) as err:
        proper_policy(loop)
    assert str(err.value) == msg


def test_proper_policy_of_a_corridor_by_hand():
    from rlkit.mdp.dp import proper_policy

    # states 0..4 in a row, 4 terminal; action 0 stays, actions 1 and 2 move right, action 3 moves
    # left. Every state must move right, and of the two right moves the lower index is taken.
    S = 5
    P = np.zeros((4, S, S))
    for s in range(S):
        right, left = min(s + 1, S - 1), max(s - 1, 0)
        P[0, s, s] = P[1, s, right] = P[2, s, right] = P[3, s, left] = 1.0
    P[:, S - 1] = 0.0
    P[:, S - 1, S - 1] = 1.0
    R = np.where(np.arange(S)[:, None] < S - 1, -1.0, 0.0) * np.ones((S, 4))
    mdp = MDP(P, R, 1.0)
    policy = proper_policy(mdp)
    assert policy.dtype == np.int64 and policy.tolist() == [1, 1, 1, 1, 0]  # action indices
    sparse = MDP([sp.csr_array(P[a]) for a in range(4)], R, 1.0)
    assert sparse.is_sparse and proper_policy(sparse).tolist() == [1, 1, 1, 1, 0]


def test_history_keeps_the_values_up_to_1000_states():
    # the documented limit: models of at most HISTORY_VALUES_MAX_STATES = 1000 states keep the
    # values of every sweep in the history, larger ones only the residuals
    from rlkit.mdp.solution import HISTORY_VALUES_MAX_STATES

    assert HISTORY_VALUES_MAX_STATES == 1000
    for S, kept in ((1000, True), (1001, False)):
        mdp = MDP([sp.identity(S, format="csr")], np.ones((S, 1)), 0.5)
        entry = value_iteration(mdp, max_iter=1).history[0]
        assert ("values" in entry) is kept and entry["residual"] == 1.0
