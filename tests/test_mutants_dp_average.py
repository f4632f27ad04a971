"""Mutants of rlkit/mdp/dp.py's average-reward solvers and linear program that the solver tests
left alive (docs/mutation-survivors.md, tenth measurement). Each result field is checked against a
textbook loop written here (plain numpy, least squares instead of rlkit's pinned solve), a hand
number, or scipy, and each error message whole."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from _mdps import FOREST_P, FOREST_R, backup, raises_exactly

from rlkit.errors import RlkitError
from rlkit.mdp import (
    MDP,
    evaluate_average,
    linear_programming,
    policy_iteration_average,
    relative_value_iteration,
)
from rlkit.mdp.dp import TIE_TOL


def forest3(sparse: bool = False) -> MDP:
    P = [sp.csr_array(m) for m in FOREST_P] if sparse else FOREST_P
    return MDP(P, FOREST_R, gamma=1.0, states=["young", "mid", "old"])


def gain_bias(P_pi: np.ndarray, R_pi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Gain, bias and stationary distribution of a unichain policy by least squares on
    ``g + h = R + P h``, ``mu h = 0``, with ``mu`` the left eigenvector for 1 (not rlkit's
    pinned-state solve and shift)."""
    S = len(R_pi)
    w, V = np.linalg.eig(P_pi.T)
    mu = np.real(V[:, np.argmin(np.abs(w - 1))])
    mu = mu / mu.sum()
    M = np.zeros((S + 1, S + 1))
    M[:S, :S] = np.eye(S) - P_pi
    M[:S, S] = 1.0
    M[S, :S] = mu
    x = np.linalg.lstsq(M, np.append(R_pi, 0.0), rcond=None)[0]
    return float(x[S]), x[:S], mu


def dense(mdp: MDP) -> np.ndarray:
    return np.stack([m.toarray() for m in mdp.P]) if mdp.is_sparse else np.asarray(mdp.P)


def two_cycles(rewards=((1,), (0,), (0,), (2,))) -> MDP:
    """Two separate 2-cycles {a, b} and {c, d}: every policy has two recurrent classes."""
    P = np.zeros((1, 4, 4))
    P[0, 0, 1] = P[0, 1, 0] = P[0, 2, 3] = P[0, 3, 2] = 1.0
    return MDP(P, [list(r) for r in rewards], gamma=1.0, states=["a", "b", "c", "d"])


MULTICHAIN_TAIL = (", each with its own average reward; relative value iteration and average-reward policy "
                   "iteration need a unichain model (one recurrent class under every policy)")


def multichain(under: str, n: int = 2, shown: str = "{'a', 'b'}; {'c', 'd'}") -> str:
    """The whole message of a multichain model."""
    return f"the model is multichain: under {under} the states fall into {n} recurrent classes ({shown})" + \
        MULTICHAIN_TAIL


# --------------------------------------------------------------------------------------------
# evaluate_average
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
def test_evaluate_average_fills_every_field(sparse):
    mdp = forest3(sparse)
    policy = np.array([0, 1, 0])                    # cut in the middle state: 0 -> 1 -> 0 ...
    rows = np.arange(3)
    P = dense(mdp)
    P_pi, R_pi = P[policy, rows], FOREST_R[rows, policy]
    g, h, mu = gain_bias(P_pi, R_pi)
    # by hand: young stays with p 0.1 and grows with 0.9, mid is cut back to young (reward 1):
    # stationary (1, 0.9) / 1.9, gain 0.9 / 1.9
    assert abs(g - 9 / 19) < 1e-12 and np.allclose(mu, [10 / 19, 9 / 19, 0])
    sol = evaluate_average(mdp, policy)
    assert sol.gain == pytest.approx(g, abs=1e-12) and type(sol.gain) is float
    np.testing.assert_allclose(sol.bias, h, atol=1e-12)
    np.testing.assert_allclose(sol.values, h, atol=1e-12)
    assert sol.values.dtype == np.float64 and sol.bias is not sol.values
    q = backup(P, FOREST_R, 1.0, h) - g
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.policy.tolist() == [0, 1, 0] and sol.policy is not policy
    assert sol.iterations == 0 and sol.converged is True and sol.method == "evaluate-average"
    assert 0 <= sol.residual < 1e-12 and 0 < sol.seconds < 5
    np.testing.assert_allclose(sol.info["stationary"], mu, atol=1e-12)
    assert sol.info["recurrent_class"].tolist() == [0, 1]
    assert set(sol.info) == {"stationary", "recurrent_class"}
    # the residual is |q[s, pi(s)] - h[s]|, which a sign error would turn into 2|h|
    assert np.max(np.abs(h)) > 0.1


def test_evaluate_average_messages_name_the_policy():
    mdp = two_cycles()
    raises_exactly(multichain("the policy"), evaluate_average, mdp, [0, 0, 0, 0])
    raises_exactly(multichain("my policy"), evaluate_average, mdp, [0, 0, 0, 0], what="my policy")
    raises_exactly("evaluate_average needs a deterministic policy: (S,) action indices",
                   evaluate_average, mdp, np.ones((4, 1)))
    # n absorbing states: four classes shown, the rest counted
    first4 = "{'u'}; {'v'}; {'w'}; {'x'}"
    for n, shown in ((6, first4 + " and 2 more"), (5, first4 + " and 1 more"), (4, first4)):
        absorbing = MDP(np.eye(n)[None], np.zeros((n, 1)), gamma=1.0, states=list("uvwxyz"[:n]))
        raises_exactly(multichain("the policy", n, shown), evaluate_average, absorbing, [0] * n)


# --------------------------------------------------------------------------------------------
# policy_iteration_average
# --------------------------------------------------------------------------------------------

def textbook_pi_average(mdp: MDP, policy: np.ndarray, tol: float = TIE_TOL, max_iter: int = 1000):
    """Average-reward policy iteration as Puterman 8.6 writes it, with the least-squares
    evaluation above; the current action is kept among ties within ``tol`` (relative)."""
    P, R = dense(mdp), np.asarray(mdp.R, float)
    rows, steps = np.arange(mdp.n_states), []
    for k in range(1, max_iter + 1):
        g, h, mu = gain_bias(P[policy, rows], R[rows, policy])
        q = backup(P, R, 1.0, h) - g
        best = q.max(axis=1)
        keep = q[rows, policy] >= best - tol * np.maximum(1.0, np.abs(best))
        new = np.where(keep, policy, q.argmax(axis=1))
        steps.append({"iteration": k, "residual": float(np.max(best - h)), "gain": g,
                      "changed": int(np.count_nonzero(new != policy))})
        if steps[-1]["changed"] == 0:
            return policy, g, h, q, mu, steps, True
        policy = new
    return policy, g, h, q, mu, steps, False


def test_policy_iteration_average_matches_the_textbook_loop_field_by_field():
    mdp = forest3()
    # default start: greedy on the immediate reward, [0 (tie, first), 1, 0]
    policy, g, h, q, mu, steps, done = textbook_pi_average(mdp, np.array([0, 1, 0]))
    assert done and policy.tolist() == [0, 0, 0] and len(steps) == 2 and abs(g - 3.24) < 1e-12
    sol = policy_iteration_average(mdp)
    assert sol.policy.tolist() == [0, 0, 0] and sol.converged is True
    assert sol.iterations == 2 and [s["iteration"] for s in sol.history] == [1, 2]
    assert [s["changed"] for s in sol.history] == [s["changed"] for s in steps] == [1, 0]
    for got, want in zip(sol.history, steps, strict=True):
        assert set(got) == {"iteration", "residual", "gain", "changed"}
        assert got["gain"] == pytest.approx(want["gain"], abs=1e-12)
        assert got["residual"] == pytest.approx(want["residual"], abs=1e-12)
    assert sol.history[0]["residual"] > 0.1                      # the first policy is improvable
    assert sol.residual == sol.history[-1]["residual"]
    assert sol.gain == pytest.approx(g, abs=1e-12)
    np.testing.assert_allclose(sol.values, h, atol=1e-12)
    np.testing.assert_allclose(sol.bias, h, atol=1e-12)
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.method == "policy-iteration-average" and 0 < sol.seconds < 5
    assert sol.info["stop"] == "policy stable" and set(sol.info) == {"stop", "stationary"}
    np.testing.assert_allclose(sol.info["stationary"], [0.1, 0.09, 0.81], atol=1e-12)


def test_policy_iteration_average_limits_and_start():
    mdp = forest3()
    # one step from the reward-greedy start: the policy changes, so it has not converged
    one = policy_iteration_average(mdp, max_iter=1)
    assert one.converged is False and one.iterations == 1 and one.policy.tolist() == [0, 0, 0]
    assert one.gain == pytest.approx(9 / 19, abs=1e-12)   # the evaluated policy was [0, 1, 0]
    # started at the optimum: one evaluation, stable at once
    opt = policy_iteration_average(mdp, policy0=[0, 0, 0])
    assert opt.converged is True and opt.iterations == 1 and opt.history[0]["changed"] == 0
    # a start by action names is read through the MDP's actions
    named = policy_iteration_average(mdp, policy0=np.array(["a0", "a0", "a0"]))
    assert named.iterations == 1
    # cutting everywhere: the textbook loop takes as many steps
    policy, g, *_, steps, _ = textbook_pi_average(mdp, np.array([1, 1, 1]))
    sol = policy_iteration_average(mdp, policy0=[1, 1, 1])
    assert sol.iterations == len(steps) and sol.gain == pytest.approx(g, abs=1e-12)
    raises_exactly("max_iter must be >= 1, got 0", policy_iteration_average, mdp, max_iter=0)
    assert policy_iteration_average(mdp, max_iter=1).iterations == 1
    raises_exactly("policy0 must be deterministic: (S,) action indices", policy_iteration_average, mdp,
                   policy0=np.full((3, 2), 0.5))
    raises_exactly("policy0 has 2 entries; it needs one action per state (3)", policy_iteration_average, mdp,
                   policy0=[0, 0])
    raises_exactly(multichain("the policy of policy-iteration step 1"), policy_iteration_average,
                   two_cycles())


def test_policy_iteration_average_ties_keep_the_current_action():
    # two actions with the same effect: the start's action is kept (no change, one step)
    P = np.stack([FOREST_P[0], FOREST_P[0]])
    mdp = MDP(P, [[0, 0], [0, 0], [4, 4]], gamma=1.0)
    sol = policy_iteration_average(mdp, policy0=[1, 0, 1])
    assert sol.policy.tolist() == [1, 0, 1] and sol.iterations == 1
    # a gain gap of 1e-7 relative: inside a tie tolerance of 1e-6, outside the default
    R = np.array([[0, 0], [0, 0], [4, 4 + 4e-7]])
    mdp = MDP(P, R, gamma=1.0)
    assert policy_iteration_average(mdp, policy0=[0, 0, 0]).policy.tolist() == [0, 0, 1]
    assert policy_iteration_average(mdp, policy0=[0, 0, 0], tol=1e-6).policy.tolist() == [0, 0, 0]


# --------------------------------------------------------------------------------------------
# relative_value_iteration
# --------------------------------------------------------------------------------------------

def textbook_rvi(mdp: MDP, tol: float = 1e-8, max_iter: int = 100_000, tau: float = 0.5):
    """Relative value iteration on P_tau = tau I + (1 - tau) P (Puterman 8.5.5), plain numpy."""
    P, R = dense(mdp), np.asarray(mdp.R, float)
    P_tau = tau * np.eye(mdp.n_states)[None] + (1 - tau) * P
    h, gaps = np.zeros(mdp.n_states), []
    for _ in range(max_iter):
        th = backup(P_tau, R, 1.0, h).max(axis=1)
        d = th - h
        lo, hi = d.min(), d.max()
        h = th - th[0]
        gaps.append(hi - lo)
        if hi - lo < tol:
            break
    return h, gaps, lo, hi


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("tau", [0.5, 0.2])
def test_relative_value_iteration_matches_the_textbook_loop_field_by_field(sparse, tau):
    mdp = forest3(sparse)
    h, gaps, lo, hi = textbook_rvi(mdp, tol=1e-8, tau=tau)
    sol = relative_value_iteration(mdp, tau=tau)
    assert sol.iterations == len(gaps) == len(sol.history) > 5
    assert [s["iteration"] for s in sol.history] == list(range(1, len(gaps) + 1))
    np.testing.assert_allclose([s["residual"] for s in sol.history], gaps, rtol=1e-9, atol=1e-13)
    assert set(sol.history[0]) == {"iteration", "residual"}
    assert sol.residual == pytest.approx(hi - lo, abs=1e-13) and sol.residual < 1e-8
    assert sol.info["gain_bounds"] == pytest.approx((lo, hi), abs=1e-12)
    assert lo <= 3.24 <= hi
    assert sol.info["tau"] == tau and sol.info["stop"] == "Odoni bounds: max(Th - h) - min(Th - h) < tol"
    assert set(sol.info) == {"stop", "gain_bounds", "tau", "stationary"}
    np.testing.assert_allclose(sol.info["stationary"], [0.1, 0.09, 0.81], atol=1e-12)
    g, bias, _ = gain_bias(FOREST_P[0], np.array([0.0, 0.0, 4.0]))
    assert sol.policy.tolist() == [0, 0, 0] and sol.gain == pytest.approx(g, abs=1e-12)
    np.testing.assert_allclose(sol.values, bias, atol=1e-12)
    np.testing.assert_allclose(sol.bias, bias, atol=1e-12)
    q = backup(FOREST_P, FOREST_R, 1.0, bias) - g
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.converged is True and sol.method == "relative-value-iteration" and 0 < sol.seconds < 5


def test_relative_value_iteration_stops_at_tol_and_says_when_it_cannot():
    mdp = forest3()
    _, gaps, *_ = textbook_rvi(mdp, tol=1e-3)
    assert relative_value_iteration(mdp, tol=1e-3).iterations == len(gaps) < 30
    _, gaps, lo, hi = textbook_rvi(mdp, max_iter=3)
    assert gaps[-1] > 1e-8
    raises_exactly(f"relative value iteration did not converge in 3 sweeps (gain bounds [{lo:.6g}, "
                   f"{hi:.6g}]); the model may be multichain: try policy-iteration, which names the "
                   "recurrent classes it finds", relative_value_iteration, mdp, max_iter=3)
    for bad in (0.0, 1.0, -0.5):
        raises_exactly(f"tau must lie in (0, 1), got {bad!r}", relative_value_iteration, mdp, tau=bad)
    # two cycles of different gains: the gap stays at 1/2, and after 128 sweeps (the first power
    # of two from 100 on) the multichain greedy policy is named
    multi = two_cycles()
    raises_exactly(multichain("the greedy policy after 128 sweeps of relative value iteration"),
                   relative_value_iteration, multi)
    # stopped before sweep 128: the greedy policy it ended with is named; the stall check runs on
    # powers of two only, so at 100 sweeps without a stop it is the end message too
    for limit in (127, 100):
        raises_exactly(multichain("the greedy policy relative value iteration ended with"),
                       relative_value_iteration, multi, max_iter=limit)


def test_relative_value_iteration_stall_check_compares_with_the_gap_at_half_the_sweeps():
    # a unichain model whose gap halves every 2 sweeps or so converges without the stall check
    # firing: a slow but shrinking gap (tau close to 1) is not taken for a multichain model
    mdp = forest3()
    h, gaps, *_ = textbook_rvi(mdp, tau=0.99)
    assert len(gaps) > 256
    sol = relative_value_iteration(mdp, tau=0.99)
    assert sol.iterations == len(gaps) and sol.policy.tolist() == [0, 0, 0]


# --------------------------------------------------------------------------------------------
# linear_programming
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
def test_linear_programming_fills_every_field(sparse):
    P = [sp.csr_array(m) for m in FOREST_P] if sparse else FOREST_P
    mdp = MDP(P, FOREST_R, gamma=0.9)
    sol = linear_programming(mdp)
    # the docstring's values, by policy evaluation of "wait everywhere" with numpy's solve
    v = np.linalg.solve(np.eye(3) - 0.9 * FOREST_P[0], [0.0, 0.0, 4.0])
    np.testing.assert_allclose(sol.values, v, rtol=1e-7)
    assert sol.values.dtype == np.float64
    q = backup(FOREST_P, FOREST_R, 0.9, sol.values)
    np.testing.assert_allclose(sol.q, q, atol=1e-12)
    assert sol.policy.tolist() == [0, 0, 0]
    assert sol.residual == pytest.approx(np.max(np.abs(q.max(axis=1) - sol.values)), abs=1e-12)
    assert sol.residual < 1e-6 and sol.iterations >= 1 and type(sol.iterations) is int
    assert sol.converged is True and sol.method == "linear-programming" and 0 < sol.seconds < 5
    assert sol.info == {"lp_status": "Optimization terminated successfully. (HiGHS Status 7: Optimal)"}
    assert sol.gain is None and sol.bias is None and sol.history == []


def test_linear_programming_with_negative_values_and_its_messages(monkeypatch):
    # every reward negative: the values are negative, so no default lower bound of 0 may apply
    mdp = MDP(FOREST_P, -FOREST_R - 1, gamma=0.9)
    from rlkit.mdp import policy_iteration

    np.testing.assert_allclose(linear_programming(mdp).values, policy_iteration(mdp).values, rtol=1e-7)
    assert np.all(linear_programming(mdp).values < -1)
    loop = MDP(np.ones((1, 1, 1)), [[1.0]], 1.0)
    with pytest.raises(RlkitError) as err:
        linear_programming(loop)
    assert re.fullmatch(r"the linear program is infeasible \(HiGHS: .+\): no finite values satisfy the "
                        r"Bellman inequalities, so some runs collect reward forever; use gamma < 1",
                        str(err.value))
    free = MDP(np.ones((1, 1, 1)), [[0.0]], 1.0, terminal=[])
    with pytest.raises(RlkitError) as err:
        linear_programming(free)
    assert re.fullmatch(r"the linear program is unbounded \(HiGHS: .+\): some states never reach a terminal "
                        r"state and pay nothing, so their undiscounted values are not defined; use gamma < 1 "
                        r"or mark those states terminal", str(err.value))

    class Stopped:
        status, message, x, nit = 1, "Iteration limit reached.", np.zeros(3), 5

    import scipy.optimize

    monkeypatch.setattr(scipy.optimize, "linprog", lambda *a, **k: Stopped())
    raises_exactly("the linear program was not solved (HiGHS status 1: Iteration limit reached.)",
                   linear_programming, MDP(FOREST_P, FOREST_R, gamma=0.9))


def test_relative_value_iteration_limits_on_exact_numbers():
    # the 2-cycle paying 1 then 0, tau 1/2: sweep 1 from h = 0 has the gap 1 (Th = [1, 0]),
    # sweep 2 the gap 0 (every number exact in binary). With tol = 1 the gap must fall below it
    cyc = MDP(np.array([[[0, 1], [1, 0]]]), [[1], [0]], gamma=1.0, terminal=[])
    sol = relative_value_iteration(cyc, tol=1.0)
    assert sol.iterations == 2 and [s["residual"] for s in sol.history] == [1.0, 0.0]
    # a gap that cannot reach the tolerance: the default sweep limit of 100,000 is reported
    with pytest.raises(RlkitError) as err:
        relative_value_iteration(forest3(), tol=1e-300)
    assert re.fullmatch(r"relative value iteration did not converge in 100000 sweeps \(gain bounds "
                        r"\[3\.24, 3\.24\]\); the model may be multichain: try policy-iteration, which names "
                        r"the recurrent classes it finds", str(err.value))


def test_relative_value_iteration_names_a_multichain_policy_it_converged_to():
    # two separate 2-cycles with the same gain 1/2: the Odoni gap closes, but the greedy policy
    # has two recurrent classes, which its exact evaluation names
    twins = two_cycles(((1,), (0,), (0,), (1,)))
    raises_exactly(multichain("the policy relative value iteration found"), relative_value_iteration, twins)


def test_policy_iteration_average_reports_the_last_steps_residual():
    one = policy_iteration_average(forest3(), max_iter=1)
    assert one.residual == one.history[-1]["residual"] > 0.1


def test_linear_programming_reports_the_bellman_residual_and_highs_iterations():
    rng = np.random.default_rng(0)
    P = rng.random((3, 15, 15)) + 1e-3
    P /= P.sum(axis=2, keepdims=True)
    mdp = MDP(P, rng.normal(size=(15, 3)), 0.9)
    sol = linear_programming(mdp)
    q = backup(P, mdp.R, 0.9, sol.values)
    assert sol.residual > 0 and sol.residual == pytest.approx(np.max(np.abs(q.max(axis=1) - sol.values)),
                                                              rel=1e-6)
    # one state paying 1 forever: v >= 1 + 0.9 v, solved by HiGHS's presolve without an iteration
    assert linear_programming(MDP(np.ones((1, 1, 1)), [[1.0]], 0.9, terminal=[])).iterations == 0


def test_evaluate_average_reports_its_own_residual():
    # a random unichain model: q[s, pi(s)] - h[s] is rounding, and that is what is reported
    rng = np.random.default_rng(7)
    P = rng.random((2, 12, 12)) + 0.05
    P /= P.sum(axis=2, keepdims=True)
    mdp = MDP(P, rng.uniform(-1, 1, (12, 2)), gamma=1.0)
    policy = rng.integers(0, 2, 12)
    sol = evaluate_average(mdp, policy)
    rows = np.arange(12)
    assert sol.residual == float(np.max(np.abs(sol.q[rows, policy] - sol.values))) > 0
