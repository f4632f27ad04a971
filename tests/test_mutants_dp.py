"""Mutants of rlkit/mdp/dp.py's discounted solvers and their helpers that the solver tests left
alive (docs/mutation-survivors.md, tenth measurement): the torch sweeps on the CPU against the
numpy ones and an exact binary model, the memory check against a faked /proc, and the result
fields of Gauss-Seidel and backward induction against textbook loops."""

from __future__ import annotations

import io
import resource

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _mdps import FOREST_P, FOREST_R, backup, raises_exactly, random_model

from rlkit.mdp import MDP, backward_induction, dp, gauss_seidel, policy_iteration, value_iteration
from rlkit.mdp.dp import _room_for, _torch_iterate
from rlkit.mdp.generators import forest, random_sparse

CPU = torch.device("cpu")


# --------------------------------------------------------------------------------------------
# the torch sweeps (device="cuda" runs them on a GPU; here on the CPU)
# --------------------------------------------------------------------------------------------

def halving() -> MDP:
    """One state paying 1 a step, gamma 1/2: v_k = 2 - 2^(1-k), every number exact in binary."""
    return MDP(np.ones((1, 1, 1)), [[1.0]], gamma=0.5, terminal=[])


def test_torch_plain_stop_on_exact_numbers():
    # the plain stop: change 2^(1-k) times gamma / (1 - gamma) = 1, so the bound is 2^(1-k):
    # 1, 1/2, 1/4 ... With tol = 1/4 the bound must fall below it: sweep 4 (1/8), not 3 (1/4)
    v, k, residual, bound, converged = _torch_iterate(halving(), CPU, np.zeros(1), 0.25, 100, False)
    assert (k, residual, bound, converged) == (4, 0.125, 0.125, True)
    assert v.dtype == np.float64 and v.tolist() == [1.875]
    numpy = value_iteration(halving(), tol=0.25, bounds=False)
    assert numpy.iterations == 4 and numpy.values.tolist() == [1.875] and numpy.info["error_bound"] == 0.125


def test_torch_sweep_limit_and_an_unconverged_result():
    v, k, residual, bound, converged = _torch_iterate(halving(), CPU, np.zeros(1), 1e-9, 3, False)
    assert (k, converged, residual, bound, v.tolist()) == (3, False, 0.25, 0.25, [1.75])
    v, k, *_, converged = _torch_iterate(halving(), CPU, np.zeros(1), 1e-9, 1, False)
    assert (k, converged, v.tolist()) == (1, False, [1.0])


@pytest.mark.parametrize("model", [forest(S=40), random_sparse(S=300, seed=1)])
@pytest.mark.parametrize("bounds", [True, False])
def test_torch_sweeps_report_what_the_numpy_sweeps_report(model, bounds):
    ref = value_iteration(model, tol=1e-9, bounds=bounds)
    # m left at its default: plain value iteration, sweep for sweep
    start = np.zeros(model.n_states)
    v, k, residual, bound, converged = _torch_iterate(model, CPU, start, 1e-9, 10_000, bounds)
    assert converged and k == ref.iterations
    assert residual == pytest.approx(ref.residual, rel=1e-9)
    assert bound == pytest.approx(ref.info["error_bound"], rel=1e-9) and bound < 1e-9
    np.testing.assert_allclose(v, ref.values, atol=1e-12)


def test_torch_sweeps_at_gamma_one_use_the_residual_stop():
    # a corridor to a terminal state, gamma = 1: no contraction bound, the stop is |change| < tol
    P = np.zeros((2, 4, 4))
    for s in range(4):
        P[0, s, min(s + 1, 3)] = 1.0
        P[1, s, s] = 1.0
    R = np.full((4, 2), -1.0)
    R[3] = 0.0
    mdp = MDP(P, R, 1.0)
    for bounds in (True, False):
        v, k, residual, bound, converged = _torch_iterate(mdp, CPU, np.zeros(4), 1e-9, 100, bounds)
        ref = value_iteration(mdp, tol=1e-9, bounds=bounds)
        assert converged and v.tolist() == [-3.0, -2.0, -1.0, 0.0] and k == ref.iterations == 4
        assert residual == bound == 0.0


# --------------------------------------------------------------------------------------------
# _room_for: the memory check before action elimination copies the rows it keeps
# --------------------------------------------------------------------------------------------

def fake_proc(monkeypatch, vmsize_kb=1000, available_kb=4000, limit=resource.RLIM_INFINITY):
    files = {"/proc/self/status": f"Name:\tpython\nVmPeak:\t 9999 kB\nVmSize:\t {vmsize_kb} kB\n",
             "/proc/meminfo": f"MemTotal: 99999 kB\nMemFree: 1 kB\nMemAvailable: {available_kb} kB\n"}
    monkeypatch.setattr(dp, "open", lambda path, *a, **k: io.StringIO(files[path]), raising=False)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limit, resource.RLIM_INFINITY)
                        if which == resource.RLIMIT_AS else (resource.RLIM_INFINITY,) * 2)


def test_room_for_uses_half_the_available_memory(monkeypatch):
    fake_proc(monkeypatch)                           # 4000 kB available: room for 2000 kB
    assert _room_for(2_048_000 - 1) is True
    assert _room_for(2_048_000) is False


def test_room_for_keeps_under_the_address_space_limit(monkeypatch):
    # mapped 1000 kB, limit 2,000,000 bytes: 0.95 of it is 1,900,000, so 876,000 more fit exactly
    fake_proc(monkeypatch, available_kb=10**6, limit=2_000_000)
    assert _room_for(876_000) is True
    assert _room_for(876_001) is False
    fake_proc(monkeypatch, available_kb=10**6)      # no soft limit: only the available memory counts
    assert _room_for(876_001) is True


def test_room_for_without_proc_says_yes(monkeypatch):
    def missing(path, *a, **k):
        raise FileNotFoundError(path)

    monkeypatch.setattr(dp, "open", missing, raising=False)
    assert _room_for(10**15) is True


# --------------------------------------------------------------------------------------------
# Gauss-Seidel
# --------------------------------------------------------------------------------------------

def textbook_gauss_seidel(P, R, gamma, tol):
    """Gauss-Seidel value iteration state by state (Puterman 6.3.3), the plain sup-norm stop."""
    S = len(R)
    v, history = np.zeros(S), []
    factor = gamma / (1 - gamma)
    while True:
        old = v.copy()
        for s in range(S):
            v[s] = max(R[s][a] + gamma * P[a, s] @ v for a in range(P.shape[0]))
        history.append(float(np.max(np.abs(v - old))))
        if history[-1] * factor < tol:
            return v, history


@pytest.mark.parametrize("sparse", [False, True])
def test_gauss_seidel_fills_every_field(sparse):
    P = [sp.csr_array(m) for m in FOREST_P] if sparse else FOREST_P
    mdp = MDP(P, FOREST_R, gamma=0.9)
    v, changes = textbook_gauss_seidel(FOREST_P, FOREST_R, 0.9, 1e-8)
    sol = gauss_seidel(mdp)
    np.testing.assert_allclose(sol.values, v, atol=1e-10)
    assert sol.iterations == len(changes) and sol.converged is True
    np.testing.assert_allclose([h["residual"] for h in sol.history], changes, rtol=1e-8, atol=1e-13)
    # the model is small, so the history keeps every sweep's values
    assert all(set(h) == {"iteration", "residual", "values"} for h in sol.history)
    np.testing.assert_allclose(sol.history[-1]["values"], sol.values, atol=0)
    q = backup(FOREST_P, FOREST_R, 0.9, sol.values)
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.policy.tolist() == [0, 0, 0] and sol.residual == sol.history[-1]["residual"]
    assert sol.method == "gauss-seidel" and 0 < sol.seconds < 5
    assert set(sol.info) == {"stop", "error_bound", "triangular_solves", "states_swept_one_by_one"}
    assert sol.info["error_bound"] == pytest.approx(sol.residual * 9, rel=1e-12)
    assert sol.info["triangular_solves"] >= sol.iterations and sol.info["states_swept_one_by_one"] == 0


def test_gauss_seidel_limits_and_their_messages():
    mdp = MDP(FOREST_P, FOREST_R, gamma=0.9)
    short = gauss_seidel(mdp, max_iter=3)
    _, changes = textbook_gauss_seidel(FOREST_P, FOREST_R, 0.9, 1e-8)
    assert short.iterations == 3 and short.converged is False and len(changes) > 3
    raises_exactly("max_rounds must be >= 1, got 0", gauss_seidel, mdp, max_rounds=0)
    # undiscounted, paying 1 a step forever: the change never falls, so the default limit of
    # 100,000 sweeps is where it stops
    loop = gauss_seidel(MDP(np.ones((1, 1, 1)), [[1.0]], gamma=1.0, terminal=[]))
    assert loop.iterations == 100_000 and loop.converged is False and loop.values.tolist() == [100_000.0]


# --------------------------------------------------------------------------------------------
# backward induction and the starting values
# --------------------------------------------------------------------------------------------

def test_backward_induction_result_fields_by_hand():
    # the docstring's forest, 2 decisions left
    sol = backward_induction(MDP(FOREST_P, FOREST_R, gamma=1.0), horizon=2)
    assert sol.values.tolist() == [0.9, 3.6, 7.6] and sol.residual == 0.0 and type(sol.residual) is float
    assert sol.converged is True and sol.method == "backward-induction" and 0 < sol.seconds < 5
    assert sol.q.shape == (3, 2) and sol.iterations == 2
    # a horizon of one: Q_0 is the reward itself
    one = backward_induction(MDP(FOREST_P, FOREST_R, gamma=1.0), horizon=1)
    np.testing.assert_array_equal(one.q, FOREST_R)


def test_integer_starting_and_terminal_values():
    # integer v0 gives the sweep of the same floats, and integer terminal values of backward
    # induction give the stage values by hand (the int-to-float cast itself cannot be seen from
    # outside: every solver builds new float64 arrays; see __check_v0_4 in mutation-survivors.md)
    mdp = MDP(FOREST_P, FOREST_R, gamma=0.9)
    from_ints = value_iteration(mdp, v0=[26, 29, 33], max_iter=1)
    from_floats = value_iteration(mdp, v0=[26.0, 29.0, 33.0], max_iter=1)
    np.testing.assert_array_equal(from_ints.values, from_floats.values)
    assert from_ints.values.dtype == np.float64
    bi = backward_induction(mdp, horizon=1, terminal_values=[1, 0, 0])
    assert bi.info["stage_values"].dtype == np.float64
    # by hand: cut pays 0.9 * 1 from the young and 1 + 0.9 from the middle stand; the old one waits
    np.testing.assert_allclose(bi.values, [0.9, 1.9, 4.09])


def two_state_choice() -> MDP:
    """State 0 pays 10 and stays; state 1 either moves to state 0 (action 0, pays 0: a
    below-diagonal entry) or stays (action 1, pays 1). gamma 0.9."""
    P = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    return MDP(P, [[10, 10], [0, 1]], gamma=0.9, terminal=[])


def test_gauss_seidel_sweep_counts_its_triangular_solves_by_hand():
    mdp = two_state_choice()
    # from v = 0 the guess for state 1 is to stay (1 > 0.9 * 0); its solve has no below-diagonal
    # entry (v = u = [10, 1]), and then moving pays 0.9 * 10 = 9 > 1: a second solve, [10, 9]
    first = gauss_seidel(mdp, max_iter=1)
    assert first.values.tolist() == [10.0, 9.0] and first.info["triangular_solves"] == 2
    assert first.info["states_swept_one_by_one"] == 0
    # from v = [10, 0] the guess reads the old value below the diagonal: moving (9 > 1) is right
    # at once: one solve, [19, 17.1]
    right = gauss_seidel(mdp, v0=[10.0, 0.0], max_iter=1)
    np.testing.assert_allclose(right.values, [19.0, 17.1], rtol=1e-15)
    assert right.info["triangular_solves"] == 1
    # one solve allowed: state 1 is swept by itself in each sweep where its guess is wrong:
    # sweep 1 as above; sweep 2 from [10, 9] guesses to stay (1 + 8.1 > 9), then moving pays
    # 0.9 * 19 = 17.1
    capped = gauss_seidel(mdp, max_iter=2, max_rounds=1)
    np.testing.assert_allclose(capped.values, [19.0, 17.1], rtol=1e-15)
    assert capped.info["triangular_solves"] == 2 and capped.info["states_swept_one_by_one"] == 2
    v, _ = textbook_gauss_seidel(mdp.P, mdp.R, 0.9, 1e-8)
    np.testing.assert_allclose(gauss_seidel(mdp, max_rounds=1).values, v, atol=1e-9)


def test_gauss_seidel_with_one_entry_below_the_diagonal_is_not_a_jacobi_sweep():
    # a 2-cycle, one action: state 1's update reads state 0's new value (Jacobi would read 0)
    mdp = MDP(np.array([[[0.0, 1.0], [1.0, 0.0]]]), [[1.0], [0.0]], gamma=0.9, terminal=[])
    assert gauss_seidel(mdp, max_iter=1).values.tolist() == [1.0, 0.9]


# --------------------------------------------------------------------------------------------
# action elimination (_PrunedBackup): the rule sweep by sweep, the bytes read, corner models
# --------------------------------------------------------------------------------------------

def record_sweeps(monkeypatch):
    """Each call of the pruned sweep: (v, bound, alive before, alive after, bytes it added,
    the rows kernel it ran on)."""
    calls: list = []
    orig = dp._PrunedBackup.__call__

    def spy(self, v):
        before, bound, read, kernel = self.alive.copy(), self.bound, self.bytes_read, self.rows_kernel
        v_in = v.copy()
        out = orig(self, v)
        calls.append((v_in, bound, before, self.alive.copy(), self.bytes_read - read, kernel, self))
        return out

    monkeypatch.setattr(dp._PrunedBackup, "__call__", spy)
    return calls


@pytest.mark.parametrize("rewards", ["positive", "negative"])
def test_elimination_follows_the_two_gamma_b_rule_sweep_by_sweep(monkeypatch, rewards):
    monkeypatch.setattr(dp, "REBUILD_FRACTION", 0.95)
    mdp = random_sparse(S=1500, A=4, k=6, seed=3, gamma=0.9)
    if rewards == "negative":                     # values fall from v0 = 0: stale rows would win
        mdp = MDP(list(mdp.P), mdp.R - 3.0, 0.9)
    calls = record_sweeps(monkeypatch)
    sol = value_iteration(mdp, tol=1e-8, eliminate=True)
    V = policy_iteration(mdp).values
    assert sol.converged and np.max(np.abs(sol.values - V)) < 1e-8
    assert len(calls) == sol.iterations
    assert calls[0][1] == np.inf and np.all(calls[0][3])        # no bound yet: nothing dropped
    dropped_any = False
    for v, bound, before, after, added, kernel, pruned in calls:
        Q = (mdp.R + 0.9 * np.column_stack([m @ v for m in mdp.P])).T     # (A, S)
        best = np.where(before, Q, -np.inf).max(axis=0)
        if np.isfinite(bound):
            keep = Q >= best - (2 * 0.9 * bound + 1e-12 * (np.abs(best) + 1.0))
            np.testing.assert_array_equal(after, before & keep)
            dropped_any |= bool((before & ~keep).any())
        # the bytes read: nothing from v = 0, the full operator, or the alive rows' kernel
        expect = 0 if not v.any() else (pruned.kernel.bytes if kernel is None else kernel.bytes)
        assert added == expect
    assert dropped_any and sol.info["bytes_read"] == sum(c[4] for c in calls) > 0
    assert sol.info["eliminated"] == pytest.approx(1.0 - calls[-1][3].mean(), abs=0)


def test_elimination_at_gamma_zero_and_on_one_state(monkeypatch):
    # gamma = 0: V* = max_a R in one sweep; the bound 0 * inf must not drop every action
    base = random_sparse(S=200, A=3, k=4, seed=0, gamma=0.9)
    greedy = MDP(list(base.P), base.R, 0.0)
    sol = value_iteration(greedy, eliminate=True)
    np.testing.assert_array_equal(sol.values, base.R.max(axis=1))
    assert sol.converged and np.isfinite(sol.values).all() and sol.info["eliminated"] == 0.0
    # one state, two actions (pay 1 or 2, stay): the worse one is dropped once the plain bound
    # (MacQueen's is 0 after one sweep on one state) has shrunk below the gap
    one = MDP([sp.csr_array(np.ones((1, 1))), sp.csr_array(np.ones((1, 1)))], [[1.0, 2.0]], 0.9, terminal=[])
    sol = value_iteration(one, eliminate=True, bounds=False)
    assert abs(sol.values[0] - 20.0) < 1e-8 and sol.info["eliminated"] == 0.5


# --------------------------------------------------------------------------------------------
# the documented defaults (docs/mdp.md and the docstrings: accuracy 1e-8 for the iterations,
# 1e-10 for iterative evaluation, ties within 1e-10 relative, 1000 improvement steps)
# --------------------------------------------------------------------------------------------

DEFAULTS = {
    "evaluate": {"method": "exact", "tol": 1e-10, "max_iter": 100_000, "v0": None, "solver": "auto",
                 "threads": None},
    "policy_iteration": {"tol": 1e-10, "max_iter": 1000, "policy0": None, "threads": None},
    "value_iteration": {"tol": 1e-8, "max_iter": 100_000, "v0": None, "threads": None, "bounds": True,
                        "device": None, "eliminate": None},
    "modified_policy_iteration": {"m": 10, "tol": 1e-8, "max_iter": 100_000, "v0": None, "threads": None,
                                  "bounds": True, "device": None},
    "gauss_seidel": {"tol": 1e-8, "max_iter": 100_000, "v0": None, "max_rounds": 20},
    "backward_induction": {"terminal_values": None},
    "evaluate_average": {"what": "the policy"},
    "policy_iteration_average": {"tol": 1e-10, "max_iter": 1000, "policy0": None},
    "relative_value_iteration": {"tol": 1e-8, "max_iter": 100_000, "tau": 0.5, "threads": None},
    "greedy_policy": {"current": None, "tol": 1e-10},
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_solver_defaults_are_the_documented_ones(name):
    import inspect

    params = inspect.signature(getattr(dp, name)).parameters
    found = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    assert found == DEFAULTS[name]


def test_default_accuracy_of_iterative_evaluation_and_of_the_iterations():
    mdp = MDP(FOREST_P, FOREST_R, gamma=0.9)
    exact = np.linalg.solve(np.eye(3) - 0.9 * FOREST_P[0], [0.0, 0.0, 4.0])
    it = dp.evaluate(mdp, [0, 0, 0], method="iterative")
    assert it.converged and np.max(np.abs(it.values - exact)) < 1e-10 and it.info["error_bound"] < 1e-10
    for solve in (value_iteration, dp.modified_policy_iteration, gauss_seidel):
        sol = solve(mdp)
        assert sol.converged and np.max(np.abs(sol.values - exact)) < 1e-8


def test_torch_sweeps_where_no_transition_enters_the_last_state():
    # the sparse operator's shape must be given: inferred from its entries it would lack the
    # last column (state 2 is left at once and never entered)
    P = np.array([[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
                  [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    mdp = MDP([sp.csr_array(m) for m in P], [[1, 0], [0, 2], [3, 1]], 0.9)
    assert mdp.is_sparse and mdp._P_stack[:, 2].nnz == 0
    v, k, *_ = _torch_iterate(mdp, CPU, np.zeros(3), 1e-9, 10_000, True)
    ref = value_iteration(mdp, tol=1e-9)
    assert k == ref.iterations and np.max(np.abs(v - ref.values)) < 1e-12


@pytest.mark.parametrize("model", ["random", "forest"])
def test_the_copy_of_the_alive_rows_asks_for_its_size(monkeypatch, model):
    # the copy holds each alive row's entries (12 bytes each: value and column, times the mean
    # number of entries a row, in whole bytes) and 24 bytes of row bookkeeping, asked for twice
    # over. forest has 1.5 entries a row (18 bytes) and keeps about half its rows
    monkeypatch.setattr(dp, "COPY_FRACTION", 0.6)
    asked: list = []
    monkeypatch.setattr(dp, "_room_for", lambda nbytes: asked.append(nbytes) or True)
    calls = record_sweeps(monkeypatch)
    if model == "random":
        mdp = random_sparse(S=2000, A=4, k=6, seed=5, gamma=0.9)
    else:
        mdp = forest(S=2000, gamma=0.9)
    A = mdp.n_actions
    assert value_iteration(mdp, eliminate=True).converged and asked
    per_row = 12 * calls[0][6].kernel.nnz // (A * 2000)    # of the operator the sweeps read
    assert per_row == (72 if model == "random" else 18)
    alive_counts = {int(c[3].sum()) for c in calls}
    for nbytes in asked:
        assert type(nbytes) is int
        n, rest = divmod(nbytes, 2 * (per_row + 24))
        assert rest == 0 and n in alive_counts and n <= 0.6 * A * 2000


def chain(S: int = 30) -> MDP:
    """State 0 pays 10 and stays; state i > 0 moves to i - 1 (action 0, pays 0) or stays
    (action 1, pays 1). From v = 0 one Gauss-Seidel sweep moves in the states i with
    10 * 0.9^i > 1, i <= 21: each triangular solve corrects one more of them."""
    P = np.zeros((2, S, S))
    P[:, 0, 0] = 1.0
    for i in range(1, S):
        P[0, i, i - 1] = P[1, i, i] = 1.0
    R = np.zeros((S, 2))
    R[0] = 10.0
    R[1:, 1] = 1.0
    return MDP(P, R, gamma=0.9, terminal=[])


def test_gauss_seidel_rounds_default_to_twenty_then_sweep_state_by_state():
    mdp = chain()
    v, _ = textbook_gauss_seidel(mdp.P, mdp.R, 0.9, np.inf)        # one sweep
    free = gauss_seidel(mdp, max_iter=1, max_rounds=50)
    assert free.info["triangular_solves"] == 22 and free.info["states_swept_one_by_one"] == 0
    capped = gauss_seidel(mdp, max_iter=1)                           # 20 solves: states 0..19 right
    assert capped.info["triangular_solves"] == 20 and capped.info["states_swept_one_by_one"] == 30 - 20
    np.testing.assert_allclose(free.values, v, rtol=1e-14)
    np.testing.assert_allclose(capped.values, v, rtol=1e-14)


def test_elimination_is_on_from_four_entries_a_row_of_the_stacked_operator(monkeypatch):
    # the rule counts the (A*S) rows of the stacked operator, not its S columns: 2 entries a row
    # is off even though there are more than 4 per state, 4 entries a row is on
    monkeypatch.setattr(dp, "ELIMINATE_MIN_NNZ", 0)
    sparse2 = random_sparse(S=600, A=3, k=2, seed=0, gamma=0.9)
    assert sparse2._P_stack.nnz == 2 * 3 * 600
    assert value_iteration(sparse2).info["eliminated"] == 0.0
    sparse4 = random_sparse(S=600, A=3, k=4, seed=0, gamma=0.9)
    assert sparse4._P_stack.nnz == 4 * 3 * 600
    assert value_iteration(sparse4).info["eliminated"] > 0.3
    two_actions = random_sparse(S=600, A=2, k=4, seed=0, gamma=0.9)      # two actions are enough
    assert value_iteration(two_actions).info["eliminated"] > 0.3
    raises_exactly("eliminate must be true, false or None, got 'yes'", value_iteration, sparse4,
                   eliminate="yes")
    raises_exactly("action elimination needs gamma < 1 (its test uses the discounted error bound), sparse "
                   "transitions and device 'cpu'; use eliminate=False", value_iteration,
                   MDP(FOREST_P, FOREST_R, gamma=0.9), eliminate=True)


# --------------------------------------------------------------------------------------------
# greedy ties, evaluate's fields, the device check, the dense reads
# --------------------------------------------------------------------------------------------

def test_greedy_keeps_the_current_action_on_an_exact_tie_and_reads_a_float_policy():
    q = np.array([[1.0, 1.0], [0.0, 2.0]])
    # tol = 0: only an exact tie keeps the current action, and this one is exact
    assert dp.greedy_policy(q, current=np.array([1, 0]), tol=0.0).tolist() == [1, 1]
    # a current policy of whole-number floats (as read from a file) is taken as indices
    assert dp.greedy_policy(q, current=np.array([1.0, 0.0])).tolist() == [1, 1]
    # integer action values (a reward table read as ints) are read as floats
    assert dp.greedy_policy(np.array([[1, 3], [2, 2]])).tolist() == [1, 0]


@pytest.mark.parametrize("method", ["exact", "iterative"])
def test_evaluate_fills_every_field(method):
    mdp = MDP(FOREST_P, FOREST_R, gamma=0.9)
    v = np.linalg.solve(np.eye(3) - 0.9 * FOREST_P[0], [0.0, 0.0, 4.0])
    sol = dp.evaluate(mdp, [0, 0, 0], method=method)
    np.testing.assert_allclose(sol.values, v, atol=1e-10)
    q = backup(FOREST_P, FOREST_R, 0.9, sol.values)
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.policy.tolist() == [0, 0, 0] and sol.method == f"evaluate-{method}" and 0 < sol.seconds < 5
    assert sol.converged is True
    if method == "exact":
        assert sol.iterations == 0 and sol.history == [] and 0 <= sol.residual < 1e-12
    else:
        # MacQueen's bounds: three sweeps here (the span of Tv - v falls to rounding at once)
        assert sol.iterations == len(sol.history) == 3 and sol.residual == sol.history[-1]["residual"] > 0
        assert sol.info["error_bound"] < 1e-10
        assert set(sol.info) == {"stop", "error_bound", "bellman_residual"}
        assert sol.info["stop"].startswith("MacQueen bounds")
        r = np.max(np.abs(np.array([0.0, 0.0, 4.0]) + 0.9 * FOREST_P[0] @ sol.values - sol.values))
        assert sol.info["bellman_residual"] == pytest.approx(r, abs=1e-15) and r > 0
        assert all(set(h) == {"iteration", "residual", "values"} for h in sol.history)
        np.testing.assert_array_equal(sol.history[-1]["values"], sol.values)
    # a stochastic policy has no deterministic policy to report
    assert dp.evaluate(mdp, np.full((3, 2), 0.5), method=method).policy is None
    short = dp.evaluate(mdp, [0, 0, 0], method="iterative", max_iter=2)
    assert short.converged is False and short.iterations == 2


def test_device_names_and_the_cuda_checks(monkeypatch):
    import rlkit.mdp.dp as dpm

    assert dpm._torch_device(None) is None and dpm._torch_device("cpu") is None
    raises_exactly("device must be 'cpu' or 'cuda' (or 'cuda:N'), got 'tpu'", dpm._torch_device, "tpu")
    raises_exactly("device must be 'cpu' or 'cuda' (or 'cuda:N'), got 0", dpm._torch_device, 0)
    raises_exactly("device must be 'cpu' or 'cuda' (or 'cuda:N'), got 'CUDA:0'", dpm._torch_device, "CUDA:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    raises_exactly(f"device 'cuda:0': no CUDA device is available (torch {torch.__version__}, built "
                   "without CUDA); use --device cpu", dpm._torch_device, "cuda:0")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    raises_exactly(f"device 'cuda': no CUDA device is available (torch {torch.__version__}, CUDA 12.4, no "
                   "GPU); use --device cpu", dpm._torch_device, "cuda")
    # with one GPU (faked: a torch.device needs no GPU to exist), cuda:0 is it and cuda:1 is not
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert dpm._torch_device("cuda:0") == torch.device("cuda:0")
    assert dpm._torch_device("cuda") == torch.device("cuda")
    raises_exactly("device 'cuda:1': there are 1 CUDA devices", dpm._torch_device, "cuda:1")


def test_dense_value_iteration_reads_the_whole_operator_every_sweep():
    mdp = MDP(FOREST_P, FOREST_R, gamma=0.9)
    sol = value_iteration(mdp)
    assert sol.info["bytes_read"] == FOREST_P.nbytes * sol.iterations
    assert sol.info["bytes_per_sweep"] == FOREST_P.nbytes
    assert sol.info["eliminated"] == 0.0 and sol.iterations > 1


# --------------------------------------------------------------------------------------------
# modified policy iteration
# --------------------------------------------------------------------------------------------

def textbook_mpi(P, R, gamma, m, tol):
    """Modified policy iteration as Puterman 6.5 writes it (plain sup-norm stop): from
    v0 = min R / (1 - gamma), improve greedily, stop when gamma/(1-gamma) |Tv - v| < tol, else m
    sweeps of the improved policy's evaluation."""
    S = len(R)
    v, rows, residuals = np.full(S, R.min() / (1 - gamma)), np.arange(S), []
    while True:
        Q = backup(P, R, gamma, v)
        pi = Q.argmax(axis=1)
        new = Q[rows, pi]
        residuals.append(float(np.max(np.abs(new - v))))
        v = new
        if residuals[-1] * gamma / (1 - gamma) < tol:
            return v, pi, residuals
        for _ in range(m):
            v = R[rows, pi] + gamma * P[pi, rows] @ v


@pytest.mark.parametrize("sparse", [False, True])
def test_modified_policy_iteration_matches_the_textbook_loop(sparse):
    rng = np.random.default_rng(4)
    P = rng.random((3, 20, 20)) * (rng.random((3, 20, 20)) < 0.3) + 1e-3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(20, 3))
    mdp = MDP([sp.csr_array(a) for a in P] if sparse else P, R, 0.95)
    v, pi, residuals = textbook_mpi(P, R, 0.95, 10, 1e-8)
    sol = dp.modified_policy_iteration(mdp, bounds=False)          # m left at its default, 10
    assert sol.iterations == len(residuals) and sol.converged is True
    np.testing.assert_allclose([h["residual"] for h in sol.history], residuals, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(sol.values, v, atol=1e-10)
    assert sol.policy.tolist() == pi.tolist() and sol.residual == sol.history[-1]["residual"]
    assert sol.info["m"] == 10 and sol.info["error_bound"] == pytest.approx(sol.residual * 19, rel=1e-12)
    assert sol.method == "modified-policy-iteration" and 0 < sol.seconds < 5
    np.testing.assert_allclose(sol.q, backup(P, R, 0.95, sol.values), atol=1e-12)
    assert set(sol.info) == {"stop", "error_bound", "m", "threads", "device"} and sol.info["device"] == "cpu"
    assert sol.info["stop"] == "sup-norm bound: gamma/(1-gamma) * |V_k+1 - V_k| < tol, so |V - V*| < tol"
    assert sol.info["threads"] == dp.resolve_threads(None)
    assert dp.modified_policy_iteration(mdp, threads=1).info["threads"] == 1
    assert dp.modified_policy_iteration(mdp).info["stop"].startswith("MacQueen bounds")


def test_modified_policy_iteration_stop_and_check_on_exact_numbers():
    # m = 0 from v = 0 on the halving model is value iteration: bounds 1, 1/2, 1/4, 1/8
    sol = dp.modified_policy_iteration(halving(), m=0, v0=[0.0], tol=0.25, bounds=False)
    assert sol.iterations == 4 and sol.values.tolist() == [1.875] and sol.info["error_bound"] == 0.125
    raises_exactly("m must be >= 0, got -1", dp.modified_policy_iteration, halving(), m=-1)


# --------------------------------------------------------------------------------------------
# policy iteration and value iteration, field by field
# --------------------------------------------------------------------------------------------

def textbook_pi(P, R, gamma, policy):
    """Howard's policy iteration (Puterman 6.4) with numpy's dense solve."""
    S, rows, steps = len(R), np.arange(len(R)), []
    while True:
        v = np.linalg.solve(np.eye(S) - gamma * P[policy, rows], R[rows, policy])
        Q = backup(P, R, gamma, v)
        new = Q.argmax(axis=1)
        changed = int(np.count_nonzero(new != policy))
        steps.append((float(np.max(np.abs(Q.max(axis=1) - v))), changed))
        if changed == 0:
            return v, policy, Q, steps
        policy = new


@pytest.mark.parametrize("sparse", [False, True])
def test_policy_iteration_matches_the_textbook_loop(sparse):
    P, R, mdp = random_model(sparse=sparse)
    v, pi, Q, steps = textbook_pi(P, R, 0.95, R.argmax(axis=1))
    sol = policy_iteration(mdp)
    assert sol.iterations == len(steps) > 1 and sol.converged is True
    assert [h["changed"] for h in sol.history] == [c for _, c in steps]
    np.testing.assert_allclose([h["residual"] for h in sol.history], [r for r, _ in steps], atol=1e-9)
    assert all({"iteration", "residual", "values", "policy", "changed"} == set(h) for h in sol.history)
    np.testing.assert_allclose(sol.values, v, atol=1e-9)
    np.testing.assert_allclose(sol.q, Q, atol=1e-9)
    assert sol.policy.tolist() == pi.tolist() and sol.residual == sol.history[-1]["residual"]
    assert sol.method == "policy-iteration" and 0 < sol.seconds < 5
    assert sol.info["stop"] == "policy stable (no action improves by more than the tie tolerance)"
    assert set(sol.info) == {"stop", "solver"} and (sparse or sol.info["solver"] == "direct")
    # from a given start, one step at most
    one = policy_iteration(mdp, policy0=[0] * 20, max_iter=1)
    assert one.iterations == 1 and one.converged is False and one.history[0]["changed"] > 0
    raises_exactly("max_iter must be >= 1, got 0", policy_iteration, mdp, max_iter=0)
    raises_exactly("policy0 must be deterministic: (S,) action indices", policy_iteration, mdp,
                   policy0=np.full((20, 3), 1 / 3))
    raises_exactly("policy0 has 2 entries; it needs one action per state (20)", policy_iteration, mdp,
                   policy0=[0, 0])
    started = policy_iteration(mdp, policy0=pi)
    assert started.iterations == 1 and started.policy.tolist() == pi.tolist()


@pytest.mark.parametrize("sparse", [False, True])
def test_value_iteration_matches_the_textbook_loop(sparse):
    P, R, mdp = random_model(seed=6, sparse=sparse)
    v, residuals = np.zeros(20), []
    while True:
        new = backup(P, R, 0.95, v).max(axis=1)
        residuals.append(float(np.max(np.abs(new - v))))
        v = new
        if residuals[-1] * 19 < 1e-8:
            break
    sol = value_iteration(mdp, bounds=False, threads=1)
    assert sol.iterations == len(residuals) and sol.converged is True
    np.testing.assert_allclose([h["residual"] for h in sol.history], residuals, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(sol.values, v, atol=1e-12)
    Q = backup(P, R, 0.95, sol.values)
    np.testing.assert_allclose(sol.q, Q, atol=1e-12)
    assert sol.policy.tolist() == Q.argmax(axis=1).tolist()
    assert sol.residual == sol.history[-1]["residual"] == pytest.approx(residuals[-1], rel=1e-4)
    assert sol.method == "value-iteration" and 0 < sol.seconds < 5
    assert set(sol.info) == {"stop", "error_bound", "bytes_per_sweep", "threads", "device", "bytes_read",
                             "eliminated"}
    assert sol.info["stop"] == "sup-norm bound: gamma/(1-gamma) * |V_k+1 - V_k| < tol, so |V - V*| < tol"
    assert sol.info["error_bound"] == pytest.approx(sol.residual * 19, rel=1e-12)
    assert (sol.info["threads"], sol.info["device"], sol.info["eliminated"]) == (1, "cpu", 0.0)
    short = value_iteration(mdp, max_iter=2)
    assert short.iterations == 2 and short.converged is False


def test_the_device_path_of_the_solvers_on_a_cpu_torch_device(monkeypatch):
    # device="cuda" with the device check answering torch's CPU device: the solvers take their
    # torch path (as on a GPU) and must report what the numpy path reports
    monkeypatch.setattr(dp, "_torch_device", lambda device: CPU if device == "cuda" else None)
    _, _, mdp = random_model(seed=2, sparse=True)
    for solve, kwargs in ((value_iteration, {}), (dp.modified_policy_iteration, {"m": 5}),
                          (dp.modified_policy_iteration, {})):
        ref = solve(mdp, tol=1e-9, **kwargs)
        got = solve(mdp, tol=1e-9, device="cuda", **kwargs)
        assert got.info["device"] == "cpu" and got.converged is True
        assert got.iterations == ref.iterations and got.history == [{"iteration": got.iterations,
                                                                      "residual": got.residual}]
        np.testing.assert_allclose(got.values, ref.values, atol=1e-11)
        assert got.residual == pytest.approx(ref.residual, rel=1e-6)
        assert got.info["error_bound"] == pytest.approx(ref.info["error_bound"], rel=1e-6)
        np.testing.assert_allclose(got.q, ref.q, atol=1e-11)
        assert got.policy.tolist() == ref.policy.tolist()


def test_policy_iteration_keeps_its_sparse_solver_and_its_tie_tolerance():
    # a sparse discounted model: every evaluation goes to the bounded iteration, warm-started,
    # and the last one says so (not LU, which the solver falls back to only when it must)
    big = random_sparse(S=3000, seed=1, gamma=0.9)
    sol = policy_iteration(big)
    assert sol.info["solver"] == "iteration" and sol.iterations > 1
    np.testing.assert_allclose(sol.values, value_iteration(big, tol=1e-10).values, atol=1e-8)
    # two actions with the same transitions whose rewards differ by 4e-7 in the old stand:
    # a tie within tol = 1e-6, not within the default 1e-10
    P = np.stack([FOREST_P[0], FOREST_P[0]])
    mdp = MDP(P, [[0, 0], [0, 0], [4, 4 + 4e-7]], gamma=0.9)
    assert policy_iteration(mdp, policy0=[0, 0, 0]).policy.tolist() == [0, 0, 1]
    assert policy_iteration(mdp, policy0=[0, 0, 0], tol=1e-6).policy.tolist() == [0, 0, 0]


def test_evaluate_passes_its_solver_start_and_default_accuracy():
    big = random_sparse(S=3000, seed=1, gamma=0.9)
    auto = dp.evaluate(big, [0] * 3000)
    assert auto.info["solver"] == "iteration" and auto.info["sweeps"] > 5   # solve_mrp's report
    direct = dp.evaluate(big, [0] * 3000, solver="direct")
    assert direct.info == {"solver": "direct"}
    np.testing.assert_allclose(auto.values, direct.values, atol=1e-9)
    # the iterative method: the default tol holds on a model that mixes slowly, and a start at the
    # answer stops after one sweep
    P, R, mdp = random_model(seed=9, gamma=0.99)
    exact = dp.evaluate(mdp, [1] * 20)
    it = dp.evaluate(mdp, [1] * 20, method="iterative")
    assert it.iterations > 10 and np.max(np.abs(it.values - exact.values)) < 1e-10
    started = dp.evaluate(mdp, [1] * 20, method="iterative", v0=exact.values)
    assert started.iterations == 1 and np.max(np.abs(started.values - exact.values)) < 1e-10
    raises_exactly("v0 must be 20 finite values, got shape (2,)", dp.evaluate, mdp, [1] * 20,
                   method="iterative", v0=[0.0, 0.0])
