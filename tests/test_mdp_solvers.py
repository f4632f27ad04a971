"""rlkit.mdp solvers: textbook values (Silver's student MRP, S&B Figure 4.1), agreement of every
method on random MDPs (dense and sparse), the sup-norm guarantee of value iteration, gamma = 1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from _mdps import FOREST_P, FOREST_R
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.mdp import (
    MDP,
    MRP,
    Solution,
    backward_induction,
    bellman_residual,
    evaluate,
    gauss_seidel,
    greedy_policy,
    modified_policy_iteration,
    policy_iteration,
    proper_policy,
    q_from_v,
    solve_mrp,
    value_iteration,
)

# D. Silver, RL lecture 2: the student Markov reward process
STUDENT_STATES = ["C1", "C2", "C3", "Pass", "Pub", "FB", "Sleep"]
STUDENT_P = np.array([
    [0, .5, 0, 0, 0, .5, 0],     # C1
    [0, 0, .8, 0, 0, 0, .2],     # C2
    [0, 0, 0, .6, .4, 0, 0],     # C3
    [0, 0, 0, 0, 0, 0, 1],       # Pass
    [.2, .4, .4, 0, 0, 0, 0],    # Pub
    [.1, 0, 0, 0, 0, .9, 0],     # FB
    [0, 0, 0, 0, 0, 0, 1],       # Sleep
])
STUDENT_R = np.array([-2, -2, -2, 10, 1, -1, 0], dtype=float)
# the values printed on the slides, and how many decimals they show
STUDENT_VALUES = {
    0.0: ([-2, -2, -2, 10, 1, -1, 0], 0),
    0.9: ([-5.0, 0.9, 4.1, 10, 1.9, -7.6, 0], 1),
    1.0: ([-13, 1.5, 4.3, 10, 0.8, -23, 0], None),   # C1 and FB shown as integers, the rest to 1 decimal
}



def gridworld(n: int = 4) -> MDP:
    """S&B Example 4.1: n x n grid, terminal corners, reward -1 per move, moves off the grid stay."""
    S = n * n
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1)]
    P = np.zeros((4, S, S))
    R = np.full((S, 4), -1.0)
    terminal = [0, S - 1]
    for s in range(S):
        r, c = divmod(s, n)
        for a, (dr, dc) in enumerate(moves):
            nr, nc = min(max(r + dr, 0), n - 1), min(max(c + dc, 0), n - 1)
            P[a, s, s if s in terminal else n * nr + nc] = 1.0
    R[terminal] = 0.0
    return MDP(P, R, 1.0, actions=["up", "right", "down", "left"])


def random_mdp(rng: np.random.Generator, S: int, A: int, gamma: float, sparse: bool,
               density: float = 0.5) -> MDP:
    P = rng.random((A, S, S)) * (rng.random((A, S, S)) < density)
    P[np.arange(A)[:, None], np.arange(S)[None, :], rng.integers(0, S, (A, S))] += 0.05
    P /= P.sum(axis=2, keepdims=True)
    R = rng.uniform(-1, 1, (S, A))
    return MDP([sp.csr_array(m) for m in P] if sparse else P, R, gamma)


def forest_sparse(S: int, gamma: float = 0.9) -> MDP:
    p = 0.1
    rows = np.r_[np.arange(S), np.arange(S)]
    cols = np.r_[np.zeros(S, int), np.minimum(np.arange(1, S + 1), S - 1)]
    P0 = sp.csr_array((np.r_[np.full(S, p), np.full(S, 1 - p)], (rows, cols)), shape=(S, S))
    P1 = sp.csr_array((np.ones(S), (np.arange(S), np.zeros(S, int))), shape=(S, S))
    R = np.zeros((S, 2))
    R[S - 1, 0], R[:, 1], R[0, 1], R[S - 1, 1] = 4, 1, 0, 2
    return MDP([P0, P1], R, gamma)


# ---------------------------------------------------------------------------------------------
# textbook values
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_student_mrp_values_match_the_lecture(gamma, sparse):
    P = sp.csr_matrix(STUDENT_P) if sparse else STUDENT_P
    mrp = MRP(P, STUDENT_R, gamma, states=STUDENT_STATES)
    sol = solve_mrp(mrp)
    assert isinstance(sol, Solution) and sol.method == "exact" and sol.residual < 1e-12
    shown, decimals = STUDENT_VALUES[gamma]
    if decimals is None:
        decimals = [0, 1, 1, 0, 1, 0, 0]
    np.testing.assert_array_equal([round(float(v), d) for v, d in
                                   zip(sol.values, np.broadcast_to(decimals, 7), strict=True)], shown)
    # the same numbers from the Bellman equation written out: v = R + gamma P v
    np.testing.assert_allclose(STUDENT_R + gamma * STUDENT_P @ sol.values, sol.values, atol=1e-12)
    if gamma == 1.0:
        # hand solution: C1 = -1016/81 (v_C1 = -2 + (v_C2 + v_FB)/2, v_FB = -10 + v_C1, ...)
        np.testing.assert_allclose(sol.values[0], -1016 / 81, rtol=1e-12)


@pytest.mark.parametrize("method", ["exact", "iterative"])
def test_sutton_barto_figure_4_1(method):
    mdp = gridworld()
    sol = evaluate(mdp, mdp.uniform_policy(), method=method, tol=1e-9)
    expected = np.array([[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]])
    np.testing.assert_allclose(sol.values.reshape(4, 4), expected, atol=1e-6)
    assert sol.converged and sol.policy is None
    if method == "iterative":
        assert sol.iterations > 100 and sol.info["stop"].startswith("residual")


ALL_SOLVERS = [policy_iteration, value_iteration, modified_policy_iteration, gauss_seidel]


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_gridworld_optimal_values_are_minus_distance_to_nearest_corner(solver):
    mdp = gridworld()
    sol = solver(mdp)
    r, c = np.divmod(np.arange(16), 4)
    dist = np.minimum(r + c, (3 - r) + (3 - c))
    np.testing.assert_allclose(sol.values, -dist, atol=1e-9)
    assert sol.converged
    # the greedy policy reaches a corner: evaluating it gives the same values
    np.testing.assert_allclose(evaluate(mdp, sol.policy).values, -dist, atol=1e-9)


def test_forest_reference_values():
    # pymdptoolbox's documented result for forest() with gamma 0.9: V = (26.244, 29.484, 33.484)
    for P in (FOREST_P, [sp.csr_matrix(m) for m in FOREST_P]):
        mdp = MDP(P, FOREST_R, 0.9)
        for solver in (policy_iteration, value_iteration, modified_policy_iteration, gauss_seidel):
            sol = solver(mdp)
            np.testing.assert_allclose(sol.values, [26.244, 29.484, 33.484], atol=1e-8)
            assert sol.policy.tolist() == [0, 0, 0]


# ---------------------------------------------------------------------------------------------
# agreement on random MDPs (hypothesis)
# ---------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), S=st.integers(1, 15), A=st.integers(1, 4),
       gamma=st.floats(0.0, 0.97), sparse=st.booleans(), density=st.floats(0.1, 1.0))
@example(seed=64777, S=8, A=3, gamma=0.75, sparse=True, density=0.125)
def test_all_methods_agree_on_random_mdps(seed, S, A, gamma, sparse, density):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng, S, A, gamma, sparse, density)
    tol = 1e-9
    pi = policy_iteration(mdp)
    v_star = pi.values
    assert pi.converged and pi.residual < 1e-9
    # the optimality equation holds
    assert bellman_residual(mdp, v_star) < 1e-9
    # evaluating the optimal policy (both ways) returns V*
    np.testing.assert_allclose(evaluate(mdp, pi.policy).values, v_star, atol=1e-9)
    np.testing.assert_allclose(evaluate(mdp, pi.policy, method="iterative", tol=tol).values, v_star, atol=tol)
    # VI, MPI and Gauss-Seidel return V* to the tolerance asked for (sup-norm guarantee), measured
    # against a dense direct solve for PI's policy (PI's own sparse solve is exact to 1e-10 relative
    # only, which alone can use up a fifth of a 1e-9 tolerance: seed 64777, S 8, A 3, gamma 0.75)
    P_dense = np.stack([m.toarray() for m in mdp.P]) if sparse else np.asarray(mdp.P)
    rows = np.arange(S)
    R_pi = np.asarray(mdp.R)[rows, pi.policy]
    v_exact = np.linalg.solve(np.eye(S) - gamma * P_dense[pi.policy, rows], R_pi)
    np.testing.assert_allclose(v_star, v_exact, atol=1e-10 * max(1.0, np.abs(v_exact).max()) + 1e-12)
    for solver in (value_iteration, modified_policy_iteration, gauss_seidel):
        sol = solver(mdp, tol=tol)
        assert sol.converged, solver.__name__
        assert np.max(np.abs(sol.values - v_exact)) < tol + 1e-12, solver.__name__
        # and their greedy policies are optimal up to that accuracy
        v_greedy = evaluate(mdp, sol.policy).values
        assert np.all(v_greedy >= v_star - 2 * tol / max(1e-12, 1 - gamma) - 1e-9)
    # no deterministic policy beats PI (brute force on small models)
    if A**S <= 256:
        for pol in itertools.product(range(A), repeat=S):
            assert np.all(evaluate(mdp, np.array(pol)).values <= v_star + 1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), S=st.integers(2, 12), A=st.integers(1, 3), sparse=st.booleans())
def test_exact_and_iterative_evaluation_agree_for_stochastic_policies(seed, S, A, sparse):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng, S, A, 0.9, sparse)
    policy = rng.dirichlet(np.ones(A), size=S)
    exact = evaluate(mdp, policy)
    it = evaluate(mdp, policy, method="iterative", tol=1e-10)
    np.testing.assert_allclose(it.values, exact.values, atol=1e-10)
    P = np.stack([m.toarray() for m in mdp.P]) if sparse else mdp.P
    P_pi = np.einsum("sa,ast->st", policy, P)
    R_pi = (policy * mdp.R).sum(1)
    np.testing.assert_allclose(exact.values, np.linalg.solve(np.eye(S) - 0.9 * P_pi, R_pi), atol=1e-10)
    # q of the evaluated policy: averaging it over the policy gives back the values
    np.testing.assert_allclose((exact.q * policy).sum(1), exact.values, atol=1e-10)


def test_value_iteration_error_is_within_tol_where_a_span_stop_is_not():
    # gamma close to 1: the span of V_k+1 - V_k shrinks long before V_k reaches V*
    mdp = forest_sparse(50, gamma=0.99)
    v_star = policy_iteration(mdp).values
    for tol in (1e-2, 1e-5, 1e-8):
        sol = value_iteration(mdp, tol=tol)
        err = np.max(np.abs(sol.values - v_star))
        assert sol.converged and err < tol
        assert sol.info["error_bound"] < tol
    # a span stop at the same tolerance (pymdptoolbox's rule) stops far from V*
    v, thresh = np.zeros(50), 1e-2 * (1 - 0.99) / 0.99
    while True:
        new = q_from_v(mdp, v).max(axis=1)
        diff = new - v
        v = new
        if diff.max() - diff.min() < thresh:
            break
    assert np.max(np.abs(v - v_star)) > 1.0


# ---------------------------------------------------------------------------------------------
# gamma = 1 and errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
def test_gamma_one_with_a_state_that_never_terminates_raises_naming_it(sparse):
    P = STUDENT_P.copy()
    P[6] = 0
    P[6, 3] = 1.0            # Sleep -> Pass -> Sleep -> ... forever, collecting +10
    P[3, 6] = 1.0
    mrp = MRP(sp.csr_matrix(P) if sparse else P, STUDENT_R, 1.0, states=STUDENT_STATES)
    msg = r"gamma = 1 but the runs from state\(s\) 'Pass', 'Sleep' never terminate"
    with pytest.raises(RlkitError, match=msg):
        solve_mrp(mrp)
    # with discounting it is fine
    assert np.isfinite(solve_mrp(mrp.with_gamma(0.9)).values).all()


def test_gamma_one_evaluation_of_an_improper_policy_raises():
    mdp = gridworld()
    up = np.zeros(16, dtype=int)                 # the top row bumps into the wall forever
    for method in ("exact", "iterative"):
        with pytest.raises(RlkitError, match=r"never terminate"):
            evaluate(mdp, up, method=method)


def test_zero_reward_closed_loop_is_allowed_at_gamma_one():
    P = np.array([[0.0, 0.5, 0.5], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    sol = solve_mrp(MRP(P, [3.0, 0.0, 0.0], 1.0))
    np.testing.assert_allclose(sol.values, [3.0, 0.0, 0.0])


def test_proper_policy_and_unreachable_terminal():
    mdp = gridworld()
    pol = proper_policy(mdp)
    assert np.isfinite(evaluate(mdp, pol).values).all()
    # a state that cannot leave itself and is not terminal (reward -1)
    P = mdp.P.copy()
    P[:, 5, :] = 0
    P[:, 5, 5] = 1
    trap = MDP(P, mdp.R, 1.0)
    with pytest.raises(RlkitError, match=r"no policy leads from state\(s\) 's5' to a terminal state"):
        policy_iteration(trap)
    no_terminal = MDP(FOREST_P, FOREST_R, 1.0)
    with pytest.raises(RlkitError, match="no terminal state"):
        policy_iteration(no_terminal)


def test_argument_errors():
    mdp = MDP(FOREST_P, FOREST_R, 0.9)
    with pytest.raises(RlkitError, match="method must be 'exact' or 'iterative'"):
        evaluate(mdp, [0, 0, 0], method="magic")
    with pytest.raises(RlkitError, match="tol must be a positive number"):
        value_iteration(mdp, tol=0)
    with pytest.raises(RlkitError, match="max_iter must be >= 1"):
        gauss_seidel(mdp, max_iter=0)
    with pytest.raises(RlkitError, match="horizon must be >= 1"):
        backward_induction(mdp, 0)
    with pytest.raises(RlkitError, match=r"values have shape \(2,\)"):
        q_from_v(mdp, np.zeros(2))
    with pytest.raises(RlkitError, match="v0 must be 3 finite values"):
        value_iteration(mdp, v0=[0, np.nan, 0])


def test_max_iter_reached_is_reported():
    mdp = MDP(FOREST_P, FOREST_R, 0.99)
    sol = value_iteration(mdp, tol=1e-10, max_iter=5, bounds=False)
    assert not sol.converged and sol.iterations == 5 and len(sol.history) == 5
    # with MacQueen's bounds the 3-state forest is done in 4 sweeps: under "wait" the chain forgets
    # its start after 2 steps (rows 1 and 2 of P are equal), so the span of TV - V drops to 0
    fast = value_iteration(mdp, tol=1e-10, max_iter=5)
    assert fast.converged and fast.iterations == 4 and fast.info["error_bound"] == 0.0
    np.testing.assert_allclose(fast.values, policy_iteration(mdp).values, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# building blocks, finite horizon, result object
# ---------------------------------------------------------------------------------------------

def test_q_from_v_and_greedy_tie_rule():
    rng = np.random.default_rng(2)
    mdp = random_mdp(rng, 6, 3, 0.7, sparse=False)
    v = rng.normal(size=6)
    q = q_from_v(mdp, v)
    for s in range(6):
        for a in range(3):
            assert q[s, a] == pytest.approx(mdp.R[s, a] + 0.7 * sum(mdp.P[a, s, t] * v[t] for t in range(6)))
    ties = np.array([[1.0, 1.0 + 1e-13, 0.0], [0.0, 2.0, 2.0], [5.0, 4.0, 5.0]])
    assert greedy_policy(ties).tolist() == [0, 1, 0]
    assert greedy_policy(ties, current=np.array([1, 2, 1])).tolist() == [1, 2, 0]


def test_policy_iteration_keeps_current_action_on_ties():
    # two identical actions: PI must stop at once, keeping the given policy
    P = np.stack([FOREST_P[0], FOREST_P[0]])
    mdp = MDP(P, np.repeat(FOREST_R[:, :1], 2, axis=1), 0.9)
    sol = policy_iteration(mdp, policy0=[1, 0, 1])
    assert sol.policy.tolist() == [1, 0, 1] and sol.iterations == 1


def brute_force_finite_horizon(mdp: MDP, H: int, s0: int) -> float:
    """max over all action sequences conditioned on states, by recursion on the tree."""
    def best(s: int, h: int) -> float:
        if h == 0:
            return 0.0
        return max(mdp.R[s, a] + mdp.gamma * sum(mdp.P[a, s, t] * best(t, h - 1)
                                                 for t in range(mdp.n_states) if mdp.P[a, s, t] > 0)
                   for a in range(mdp.n_actions))
    return best(s0, H)


def test_backward_induction_against_tree_search_and_the_infinite_horizon():
    rng = np.random.default_rng(7)
    mdp = random_mdp(rng, 4, 2, 1.0, sparse=False, density=0.6)
    sol = backward_induction(mdp, 3)
    assert sol.info["stage_values"].shape == (4, 4) and sol.info["stage_policies"].shape == (3, 4)
    for s in range(4):
        assert sol.values[s] == pytest.approx(brute_force_finite_horizon(mdp, 3, s), abs=1e-12)
    # stage values follow the recursion, and the stage policies are greedy at each stage
    V, pols = sol.info["stage_values"], sol.info["stage_policies"]
    for t in range(3):
        q = q_from_v(mdp, V[t + 1])
        np.testing.assert_allclose(V[t], q.max(axis=1))
        np.testing.assert_array_equal(pols[t], greedy_policy(q))
    # with discounting, a long horizon approaches V*: |V_0 - V*| <= gamma^H |V*|
    disc = mdp.with_gamma(0.8)
    v_star = policy_iteration(disc).values
    long = backward_induction(disc, 60)
    assert np.max(np.abs(long.values - v_star)) <= 0.8**60 * np.max(np.abs(v_star)) + 1e-12


def test_history_keeps_values_only_for_small_models_and_solution_to_dict():
    small = value_iteration(MDP(FOREST_P, FOREST_R, 0.9))
    assert "values" in small.history[0] and small.history[-1]["residual"] == small.residual
    np.testing.assert_array_equal(small.history[-1]["values"], small.values)
    big = value_iteration(forest_sparse(1001), tol=1e-4)
    assert "values" not in big.history[0]
    d = small.to_dict()
    assert d["method"] == "value-iteration" and len(d["values"]) == 3 and len(d["q"][0]) == 2
    assert d["converged"] is True and d["history"][0]["iteration"] == 1


def test_sparse_forest_large_agrees_between_methods():
    mdp = forest_sparse(20_000, gamma=0.95)
    pi = policy_iteration(mdp)
    vi = value_iteration(mdp, tol=1e-8)
    assert pi.converged and vi.converged
    assert np.max(np.abs(pi.values - vi.values)) < 1e-8
    assert pi.residual < 1e-8


def test_sparse_linear_solvers_agree_and_say_which_ran():
    rng = np.random.default_rng(11)
    mdp = random_mdp(rng, 300, 3, 0.95, sparse=True, density=0.03)
    mrp = mdp.mrp(rng.integers(0, 3, 300))
    dense = MRP(mrp.P.toarray(), mrp.R, mrp.gamma)
    ref = solve_mrp(dense).values
    for method in ("auto", "direct", "krylov", "iteration"):
        sol = solve_mrp(mrp, method=method)
        np.testing.assert_allclose(sol.values, ref, atol=1e-9)
        # a random sparse chain mixes fast: auto's bounded iteration proves its answer
        assert sol.info["solver"] == {"auto": "iteration"}.get(method, method)
    # gamma = 1 always factorises (there is no contraction bound to verify GMRES with)
    grid = gridworld().mrp(np.full((16, 4), 0.25))
    sparse_grid = MRP(sp.csr_matrix(grid.P), grid.R, 1.0)
    assert solve_mrp(sparse_grid).info["solver"] == "direct"
    with pytest.raises(RlkitError, match="method must be 'auto', 'direct', 'krylov' or 'iteration'"):
        solve_mrp(mrp, method="inverse")
    pi = policy_iteration(mdp)
    assert pi.info["solver"] == "iteration" and pi.residual < 1e-9


def reference_gauss_seidel_sweep(mdp: MDP, v: np.ndarray) -> np.ndarray:
    """The textbook in-place sweep, one state at a time."""
    P = np.stack([m.toarray() for m in mdp.P]) if mdp.is_sparse else mdp.P
    v = v.copy()
    for s in range(mdp.n_states):
        v[s] = max(mdp.R[s, a] + mdp.gamma * P[a, s] @ v for a in range(mdp.n_actions))
    return v


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), S=st.integers(1, 25), A=st.integers(1, 4), sparse=st.booleans(),
       max_rounds=st.sampled_from([1, 2, 20]))
def test_gauss_seidel_sweep_equals_the_state_by_state_sweep(seed, S, A, sparse, max_rounds):
    rng = np.random.default_rng(seed)
    mdp = random_mdp(rng, S, A, 0.9, sparse, density=0.3)
    v = rng.normal(size=S) * 5
    one = gauss_seidel(mdp, v0=v, max_iter=1, max_rounds=max_rounds)
    np.testing.assert_allclose(one.values, reference_gauss_seidel_sweep(mdp, v), atol=1e-12)


def test_gauss_seidel_on_a_chain_uses_the_state_by_state_finish_when_rounds_run_out():
    mdp = gridworld(6)                           # moves up/left depend on lower-numbered states
    v = np.zeros(36)
    sol = gauss_seidel(mdp, v0=v, max_iter=1, max_rounds=1)
    np.testing.assert_allclose(sol.values, reference_gauss_seidel_sweep(mdp, v), atol=1e-12)
    full = gauss_seidel(mdp)
    r, c = np.divmod(np.arange(36), 6)
    np.testing.assert_allclose(full.values, -np.minimum(r + c, 10 - r - c), atol=1e-9)
    assert sol.info["states_swept_one_by_one"] > 0 and full.info["states_swept_one_by_one"] == 0
    # forest: every action can jump back to state 0, so Gauss-Seidel needs fewer sweeps than VI
    forest = forest_sparse(200)
    assert gauss_seidel(forest).iterations < 0.7 * value_iteration(forest, bounds=False).iterations
