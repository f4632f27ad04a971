"""Tests against the surviving mutants of issue 15's fourth measurement (docs/mutation.md):
``rlkit.tabular.prediction`` and ``rlkit.tabular.control``.

Every number here is computed by hand (the arithmetic written out in the test) on episodes made
by hand, so a kernel is checked against an independent value, not against itself. The episodes
are built directly as a :class:`~rlkit.tabular.sampling.Transitions` stream: each is a list of
``(state, reward, next_state)`` steps and a flag saying whether it terminated (else it was cut by
a time limit, and its last ``next_state`` is the final observation to bootstrap from).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from rlkit.mdp import MDP, MRP
from rlkit.tabular import (
    ModelSource,
    batch_mc,
    batch_td,
    estimate_values,
    estimate_values_sweep,
    evaluate_policy,
    evaluate_policy_sweep,
    mc_prediction,
    nstep_td,
    rollout,
    td_lambda,
    td_prediction,
)
from rlkit.tabular.sampling import Transitions


def make_tr(runs, S, gamma=1.0):
    """A Transitions stream from ``runs``: one list per run of episodes ``(steps, terminated)``,
    ``steps`` a list of ``(s, r, s2)``. Shorter runs are padded (``valid`` False)."""
    R = len(runs)
    E = len(runs[0])
    assert all(len(eps) == E for eps in runs)
    T = max(sum(len(st) for st, _ in eps) for eps in runs)
    states = np.zeros((R, T), np.intp)
    nxt = np.zeros((R, T), np.intp)
    rewards = np.zeros((R, T))
    term = np.zeros((R, T), bool)
    ends = np.zeros((R, T), bool)
    episode = np.full((R, T), -1, np.intp)
    lengths = np.zeros((R, E), np.intp)
    returns = np.zeros((R, E))
    for r, eps in enumerate(runs):
        t = 0
        for k, (steps, terminated) in enumerate(eps):
            for j, (s, rew, s2) in enumerate(steps):
                states[r, t], rewards[r, t], nxt[r, t], episode[r, t] = s, rew, s2, k
                if j == len(steps) - 1:
                    ends[r, t] = True
                    term[r, t] = terminated
                t += 1
            lengths[r, k] = len(steps)
            returns[r, k] = sum(x[1] for x in steps)
    return Transitions(states=states, actions=np.zeros((R, T), np.intp), rewards=rewards, next_states=nxt,
                       terminated=term, ends=ends, valid=episode >= 0, episode=episode, lengths=lengths,
                       returns=returns, n_states=S, n_actions=1, gamma=gamma)


def chain_mrp(p_stay=0.0):
    """0 -> 1 -> 2 (terminal), reward 1 on each step out of 0 and 1; from 0 the walk stays with
    probability ``p_stay``. Values (gamma 1): v(1) = 1, v(0) = 1 / (1 - p) + 1."""
    P = np.array([[p_stay, 1 - p_stay, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    return MRP(P, np.array([1.0, 1.0, 0.0]), gamma=1.0, states=["a", "b", "end"])


# ----------------------------------------------------------------------------------------------
# the one-method wrappers: their method, their defaults, and every keyword passed on
# ----------------------------------------------------------------------------------------------

WRAPPERS = [
    (mc_prediction, {}, "mc", {"alpha": "sample-average", "first_visit": True}),
    (mc_prediction, {"first_visit": False}, "every-visit-mc",
     {"alpha": "sample-average", "first_visit": False}),
    (td_prediction, {}, "td", {"alpha": 0.1}),
    (nstep_td, {}, "nstep", {"alpha": 0.1, "n": 4}),
    (td_lambda, {}, "td-lambda", {"alpha": 0.1, "lambda": 0.9, "trace": "accumulating", "offline": False}),
    (batch_td, {}, "batch-td", {"alpha": 1.0}),
    (batch_mc, {}, "batch-mc", {"alpha": 1.0, "first_visit": False}),
]


@pytest.mark.parametrize(("fn", "kw", "method", "params"), WRAPPERS)
def test_wrappers_run_their_method_with_its_defaults(fn, kw, method, params):
    walk = chain_mrp(0.5)
    res = fn(walk, episodes=6, runs=2, seed=4, init=0.25, **kw)
    assert res.method == method
    assert res.params == params
    assert (res.episodes, res.runs, res.gamma) == (6, 2, 1.0)
    ref = evaluate_policy(walk, method=method, episodes=6, runs=2, seed=4, init=0.25,
                          **({"n": 4} if method == "nstep" else {}))
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)
    np.testing.assert_array_equal(res.exact, [3.0, 1.0, 0.0])


def two_way_mdp():
    """A corridor 0 - 1 - 2 - 3 with terminals at both ends; action 0 goes left, 1 goes right;
    reward 1 on entering 3. A policy that always goes right is worth 1 everywhere (gamma 1)."""
    P = np.zeros((2, 4, 4))
    for s in (1, 2):
        P[0, s, s - 1] = P[1, s, s + 1] = 1.0
    P[:, 0, 0] = P[:, 3, 3] = 1.0
    R = np.zeros((4, 2))
    R[2, 1] = 1.0
    return MDP(P, R, 1.0, terminal=[True, False, False, True])


RIGHT = np.array([[0.0, 1.0]] * 4)


@pytest.mark.parametrize("fn", [mc_prediction, td_prediction, nstep_td, td_lambda, batch_td, batch_mc])
def test_wrappers_pass_the_policy_on(fn):
    """Going right always: every episode pays 1, so Monte Carlo's values are exactly 1 and the exact
    values are those of that policy (the uniform one is worth 1/3 and 2/3)."""
    res = fn(two_way_mdp(), RIGHT, episodes=4, runs=2, seed=0, start=1)
    np.testing.assert_array_equal(res.exact, [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(res.transitions.actions[res.transitions.valid], 1)
    if fn in (mc_prediction, batch_mc):
        np.testing.assert_array_equal(res.values, [0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize(("fn", "kw"), [
    (mc_prediction, {"alpha": 0.3}), (mc_prediction, {"first_visit": False, "alpha": 0.3}),
    (td_prediction, {"alpha": 0.3}), (nstep_td, {"alpha": 0.3, "n": 2}),
    (td_lambda, {"alpha": 0.3, "lam": 0.5, "trace": "replacing", "offline": True}),
    (batch_td, {"alpha": 0.5}), (batch_mc, {"alpha": 0.5}),
])
def test_wrappers_pass_their_keywords_on(fn, kw):
    walk = chain_mrp(0.5)
    res = fn(walk, episodes=5, runs=2, seed=1, **kw)
    method = res.method
    ref_kw = dict(kw)
    ref_kw.pop("first_visit", None)
    ref = evaluate_policy(walk, method=method, episodes=5, runs=2, seed=1, **ref_kw)
    assert res.params == ref.params
    assert res.params["alpha"] == kw["alpha"]
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)
    if fn is td_lambda:
        assert res.params == {"alpha": 0.3, "lambda": 0.5, "trace": "replacing", "offline": True}
    if fn is nstep_td:
        assert res.params["n"] == 2


# ----------------------------------------------------------------------------------------------
# PredictionResult's summary
# ----------------------------------------------------------------------------------------------

def test_prediction_result_to_dict_and_repr_by_hand():
    # two runs of one episode each: a -> b -> end, rewards 1, 1 (run 0) and 1, 3 (run 1)
    tr = make_tr([[([(0, 1.0, 1), (1, 1.0, 2)], True)], [([(0, 1.0, 1), (1, 3.0, 2)], True)]], S=3)
    res = estimate_values(tr, "every-visit-mc", alpha=0.5, exact=[2.0, 1.0, 0.0],
                          terminal=[False, False, True], states=["a", "b", "end"])
    # V = 0.5 G: run 0: a 1.0, b 0.5; run 1: a 2.0, b 1.5
    np.testing.assert_array_equal(res.values_runs, [[1.0, 0.5, 0.0], [2.0, 1.5, 0.0]])
    rmse0 = np.sqrt(((1.0 - 2.0) ** 2 + (0.5 - 1.0) ** 2) / 2)
    rmse1 = np.sqrt(((2.0 - 2.0) ** 2 + (1.5 - 1.0) ** 2) / 2)
    rmse_mean = np.sqrt(((1.5 - 2.0) ** 2 + (1.0 - 1.0) ** 2) / 2)
    res.seconds = 0.25
    d = res.to_dict()
    assert list(d) == ["method", "states", "gamma", "episodes", "runs", "params", "values", "exact", "rmse",
                       "rmse_of_mean", "rmse_initial", "rmse_curve", "values_std", "seconds", "info"]
    assert d["method"] == "every-visit-mc"
    assert d["states"] == ["a", "b", "end"]
    assert (d["gamma"], d["episodes"], d["runs"], d["seconds"], d["info"]) == (1.0, 1, 2, 0.25, {})
    assert d["params"] == {"alpha": 0.5, "first_visit": False}
    assert d["values"] == [1.5, 1.0, 0.0]
    assert d["exact"] == [2.0, 1.0, 0.0]
    assert d["rmse"] == pytest.approx((rmse0 + rmse1) / 2, abs=1e-15)
    assert d["rmse_curve"] == [pytest.approx((rmse0 + rmse1) / 2, abs=1e-15)]
    assert d["rmse_of_mean"] == pytest.approx(rmse_mean, abs=1e-15)
    assert d["rmse_initial"] == pytest.approx(np.sqrt((4 + 1) / 2), abs=1e-15)
    assert d["values_std"] == [0.5, 0.5, 0.0]                 # population std over the 2 runs
    assert repr(res) == ("PredictionResult(method='every-visit-mc', n_states=3, runs=2, episodes=1, "
                         f"rmse={(rmse0 + rmse1) / 2:.4g}, seconds=0.25)")


def test_prediction_result_without_a_model():
    tr = make_tr([[([(0, 1.0, 1), (1, 1.0, 2)], True)]], S=3)
    res = estimate_values(tr, "td", alpha=0.5)
    res.seconds = 1.5
    d = res.to_dict()
    assert d["exact"] is None and d["rmse"] is None and d["rmse_curve"] is None
    assert d["rmse_of_mean"] is None and d["rmse_initial"] is None
    assert d["states"] == ["0", "1", "2"]
    assert repr(res) == "PredictionResult(method='td', n_states=3, runs=1, episodes=1, seconds=1.5)"


# ----------------------------------------------------------------------------------------------
# the recorder: values after every episode, per run, where the runs' episodes end at different steps
# ----------------------------------------------------------------------------------------------

TERM3 = [False, False, True]


def two_runs():
    """Run 0: a -> b -> end (rewards 1, 1), then b -> end (2). Run 1: b -> end (4), then
    a -> b -> end (0, 0). Their first episodes end at different steps (t = 1 and t = 0)."""
    return make_tr([[([(0, 1.0, 1), (1, 1.0, 2)], True), ([(1, 2.0, 2)], True)],
                    [([(1, 4.0, 2)], True), ([(0, 0.0, 1), (1, 0.0, 2)], True)]], S=3)


def test_td0_values_history_by_hand():
    res = estimate_values(two_runs(), "td", alpha=0.5, terminal=TERM3, record_values=True,
                          exact=[2.0, 1.0, 0.0])
    # run 0: V(a) = .5 (1 + 0), V(b) = .5 (1 + 0); then V(b) = .5 + .5 (2 - .5) = 1.25
    # run 1: V(b) = .5 * 4 = 2; then V(a) = .5 (0 + 2) = 1, V(b) = 2 + .5 (0 - 2) = 1
    hist = [[[0, 0, 0], [0.5, 0.5, 0], [0.5, 1.25, 0]], [[0, 0, 0], [0, 2, 0], [1, 1, 0]]]
    np.testing.assert_array_equal(res.values_history, hist)
    np.testing.assert_array_equal(res.values_runs, [[0.5, 1.25, 0], [1, 1, 0]])
    err = [[np.sqrt((1.5**2 + 0.5**2) / 2), np.sqrt((1.5**2 + 0.25**2) / 2)],
           [np.sqrt((2.0**2 + 1.0**2) / 2), np.sqrt((1.0**2 + 0.0**2) / 2)]]
    np.testing.assert_allclose(res.rmse_runs, err, rtol=1e-15)
    np.testing.assert_allclose(res.rmse_curve, np.mean(err, axis=0), rtol=1e-15)
    assert res.rmse == pytest.approx((err[0][1] + err[1][1]) / 2, rel=1e-15)     # after the last episode
    assert res.rmse_initial == pytest.approx(np.sqrt((4 + 1) / 2), rel=1e-15)


def test_values_history_is_off_by_default():
    assert estimate_values(two_runs(), "td", alpha=0.5, terminal=TERM3).values_history is None


# ----------------------------------------------------------------------------------------------
# batch TD / MC: the sweep count, its stop rule and bound, no bootstrap after a termination
# ----------------------------------------------------------------------------------------------

def one_step_tr():
    """One episode a -> b that terminates (reward 1); b is never visited as a state."""
    return make_tr([[([(0, 1.0, 1)], True)]], S=2)


def test_batch_td_does_not_bootstrap_after_a_termination():
    # no terminal mask given: b keeps its initial 0.5, and a terminated step must not read it
    res = estimate_values(one_step_tr(), "batch-td", alpha=1.0, init=0.5)
    np.testing.assert_array_equal(res.values_runs, [[1.0, 0.5]])
    # sweep 1 moves a by 0.5, sweep 2 by 0 (< tol): 2 sweeps, counted as ints (JSON)
    assert res.info == {"sweeps": [2], "converged": True}
    assert all(type(k) is int for k in res.info["sweeps"])


def test_batch_td_bootstraps_from_the_final_state_of_a_cut():
    tr = make_tr([[([(0, 1.0, 1)], False)]], S=2, gamma=0.5)
    res = estimate_values(tr, "batch-td", alpha=1.0, init=0.5)
    np.testing.assert_array_equal(res.values_runs, [[1.0 + 0.5 * 0.5, 0.5]])


@pytest.mark.parametrize(("max_sweeps", "tol", "sweeps", "converged", "v_a"), [
    (0, 1e-10, 0, False, 0.5),      # no sweep: the values stay at init
    (1, 1e-10, 1, False, 1.0),      # one sweep, cut by the bound before the stop rule applies
    (2, 1e-10, 2, True, 1.0),       # the second sweep moves nothing: stops, converged
    (3, 0.5, 2, True, 1.0),         # the first move is exactly tol: not below it, so one more sweep
    (3, 0.5000001, 1, True, 1.0),   # strictly below tol: stops after the first sweep
])
def test_batch_sweeps_and_their_bound(max_sweeps, tol, sweeps, converged, v_a):
    for method in ("batch-td", "batch-mc"):
        res = estimate_values(one_step_tr(), method, alpha=1.0, init=0.5, max_sweeps=max_sweeps,
                              batch_tol=tol)
        assert res.info == {"sweeps": [sweeps], "converged": converged}, method
        assert type(res.info["sweeps"][0]) is int
        np.testing.assert_array_equal(res.values_runs, [[v_a, 0.5]])


def test_batch_sweeps_are_bounded_by_100_000_by_default():
    """A stop rule that never holds (tol 0: a move is never below 0) runs the default bound out:
    exactly 100,000 sweeps, not converged (about a second: the arrays are 1 x 2)."""
    res = estimate_values(one_step_tr(), "batch-td", alpha=1.0, init=0.5, batch_tol=0.0)
    assert res.info == {"sweeps": [100_000], "converged": False}


def test_batch_rmse_curve_is_a_float_array():
    tr = make_tr([[([(0, 1.0, 1)], True), ([(0, 3.0, 1)], True)]], S=2)
    res = estimate_values(tr, "batch-mc", alpha=1.0, exact=[1.5, 0.0], terminal=[False, True])
    # after episode 1 the mean of the returns is 1, after episode 2 it is 2: errors 0.5 and 0.5
    assert res.rmse_runs.dtype == np.float64
    np.testing.assert_array_equal(res.rmse_runs, [[0.5, 0.5]])
    assert np.isfinite(res.rmse_curve).all()


# ----------------------------------------------------------------------------------------------
# evaluate_policy: every keyword reaches the sampler or the kernel, the discount override included
# ----------------------------------------------------------------------------------------------

def walk3():
    """S&B's random walk with 3 inner states (left, A, B, C, right), +1 on entering right, built
    here by hand (the catalog's random-walk with n = 3 is the same model)."""
    P = np.zeros((5, 5))
    P[0, 0] = P[4, 4] = 1.0
    for s in (1, 2, 3):
        P[s, s - 1] = P[s, s + 1] = 0.5
    Rt = np.zeros((5, 5))
    Rt[3, 4] = 1.0
    return MRP(P, Rt.sum(axis=1) * 0.5, 1.0, states=["left", "A", "B", "C", "right"],
               terminal=[True, False, False, False, True], transition_rewards=Rt)


def walk3_values(gamma):
    """v = R + gamma P v on A, B, C (the ends are worth 0), solved here with numpy."""
    M = np.array([[1.0, -gamma / 2, 0.0], [-gamma / 2, 1.0, -gamma / 2], [0.0, -gamma / 2, 1.0]])
    return np.concatenate([[0.0], np.linalg.solve(M, [0.0, 0.0, 0.5]), [0.0]])


@pytest.mark.parametrize("env", ["catalog", "object"])
@pytest.mark.parametrize(("method", "kw"), [
    ("td-lambda", {"alpha": 0.3, "lam": 0.5, "trace": "replacing", "offline": True}),
    ("td-lambda", {"alpha": 0.3}),                         # the defaults: lambda 0.9, accumulating, online
    ("every-visit-mc", {"alpha": 0.2}),
    ("mc", {"first_visit": False}),                        # first_visit passed on: every visit, sample means
    ("nstep", {"alpha": 0.4, "n": 3}),
    ("batch-td", {"alpha": 0.5, "batch_tol": 1e-3}),
    ("batch-td", {}),                                      # the default tol 1e-10
])
def test_evaluate_policy_passes_every_keyword(env, method, kw):
    gamma, cut = 0.5, 2
    spec = walk3() if env == "object" else "random-walk"
    res = evaluate_policy(spec, method=method, env_kwargs=None if env == "object" else {"n": 3}, gamma=gamma,
                          start="A", max_steps=cut, episodes=6, runs=3, seed=7, init=0.2, record_values=True,
                          **kw)
    assert res.gamma == gamma and res.runs == 3 and res.episodes == 6
    np.testing.assert_allclose(res.exact, walk3_values(gamma), rtol=1e-14, atol=1e-16)
    tr = rollout(ModelSource(walk3(), gamma=gamma, start="A"), None, episodes=6, runs=3, seed=7,
                 max_steps=cut)
    np.testing.assert_array_equal(res.transitions.states, tr.states)
    np.testing.assert_array_equal(res.transitions.states[:, 0], 1)          # every run starts in A
    assert res.transitions.lengths.max() == cut                             # cut by max_steps
    ref_kw = dict(kw)
    if method == "mc":
        method, ref_kw = "every-visit-mc", {}
    if method == "batch-td":
        ref_kw.setdefault("batch_tol", 1e-10)
    ref = estimate_values(tr, method, init=0.2, terminal=walk3().terminal, gamma=gamma, record_values=True,
                          **ref_kw)
    np.testing.assert_array_equal(res.values_history, ref.values_history)
    assert res.params == ref.params
    assert res.info.get("sweeps") == ref.info.get("sweeps")


def test_evaluate_policy_defaults():
    assert evaluate_policy(walk3(), seed=0).episodes == 100
    res = evaluate_policy(walk3(), seed=0, episodes=3)
    assert (res.method, res.runs, res.params, res.values_history) == ("td", 1, {"alpha": 0.1}, None)
    ref = estimate_values(rollout(ModelSource(walk3()), None, episodes=3, seed=0), alpha=0.1,
                          terminal=walk3().terminal)
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)
    assert estimate_values(rollout(ModelSource(walk3()), None, episodes=3, seed=0)).method == "td"


def load_mdp_2x2():
    """State 0 -> terminal state 1 by either action, reward 1 (action 0) or 2 (action 1)."""
    P = np.zeros((2, 2, 2))
    P[:, 0, 1] = P[:, 1, 1] = 1.0
    return MDP(P, [[1.0, 2.0], [0.0, 0.0]], 1.0, terminal=[False, True])


def test_no_exact_values_for_a_callable_policy():
    """A callable policy has no matrix to evaluate on the model: no exact values, no error curve."""
    mdp = load_mdp_2x2()
    res = evaluate_policy(mdp, lambda s: np.tile([0.0, 1.0], (len(s), 1)), method="td", alpha=1.0,
                          episodes=2, seed=0)
    assert res.exact is None and res.rmse is None
    np.testing.assert_array_equal(res.values, [2.0, 0.0])        # action 1 always: reward 2


def test_the_method_reaches_the_source_for_its_messages():
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError, match="^method 'td-lambda' needs a Discrete observation space"):
        evaluate_policy("gym:CartPole-v1", method="td-lambda")


@pytest.mark.parametrize(("method", "kw"), [
    ("td-lambda", {"lam": 0.5, "trace": "replacing", "offline": True}),
    ("td-lambda", {}),
    ("nstep", {"n": 3}),
    ("every-visit-mc", {}),
    ("batch-td", {"batch_tol": 1e-3}),
    ("batch-td", {}),
])
def test_evaluate_policy_sweep_passes_every_keyword(method, kw):
    gamma, cut = 0.5, 2
    # batch methods sweep all the runs of a call until every one has converged, so a sweep over
    # step sizes is the same as separate calls only to within the tolerance: one step size there
    alphas = [0.6] if method.startswith("batch") else [0.3, 0.6]
    t0 = time.perf_counter()
    out = evaluate_policy_sweep("random-walk", method=method, alphas=alphas, env_kwargs={"n": 3},
                                gamma=gamma, start="A", max_steps=cut, episodes=6, runs=3, seed=7, init=0.2,
                                record_values=True, **kw)
    wall = time.perf_counter() - t0
    tr = rollout(ModelSource(walk3(), gamma=gamma, start="A"), None, episodes=6, runs=3, seed=7,
                 max_steps=cut)
    ref_kw = dict(kw)
    if method == "batch-td":
        ref_kw.setdefault("batch_tol", 1e-10)
    assert len(out) == len(alphas)
    for res, alpha in zip(out, alphas, strict=True):
        ref = estimate_values(tr, method, alpha=alpha, init=0.2, terminal=walk3().terminal, gamma=gamma,
                              record_values=True, **ref_kw)
        np.testing.assert_array_equal(res.values_history, ref.values_history)
        np.testing.assert_allclose(res.exact, walk3_values(gamma), rtol=1e-14, atol=1e-16)
        assert res.params == ref.params and res.gamma == gamma
        assert res.info.get("sweeps") == ref.info.get("sweeps")
        assert res.states == ["left", "A", "B", "C", "right"]
        assert res.info["source"] == "random-walk" and res.info["policy"] == "uniform"
        assert 0 < res.seconds <= wall / len(alphas)         # the call's time shared by the results
        assert res.seconds == out[0].seconds


def test_evaluate_policy_sweep_defaults():
    (res,) = evaluate_policy_sweep(walk3(), seed=3)
    assert (res.method, res.runs, res.episodes, res.params) == ("td", 1, 100, {"alpha": 0.1})
    assert res.values_history is None
    assert res.info == {"source": "MRP", "policy": "uniform"}
    (res,) = evaluate_policy_sweep(walk3(), method="td-lambda", alphas=0.5, episodes=4, seed=3)   # a scalar
    assert res.params == {"alpha": 0.5, "lambda": 0.9, "trace": "accumulating", "offline": False}
    ref = estimate_values(rollout(ModelSource(walk3()), None, episodes=4, seed=3), "td-lambda", alpha=0.5,
                          terminal=walk3().terminal)
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)
    (res,) = evaluate_policy_sweep(walk3(), method="batch-td", alphas=[1.0], episodes=4, seed=3)
    ref = estimate_values(rollout(ModelSource(walk3()), None, episodes=4, seed=3), "batch-td", alpha=1.0,
                          terminal=walk3().terminal, batch_tol=1e-10)
    assert res.info["sweeps"] == ref.info["sweeps"]
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)


def test_evaluate_policy_sweep_names_the_policy_by_its_type():
    mdp = load_mdp_2x2()
    (res,) = evaluate_policy_sweep(mdp, np.array([[0.0, 1.0], [1.0, 0.0]]), episodes=2, seed=0)
    assert res.info["policy"] == "ndarray"


@pytest.mark.parametrize(("kw", "match"), [
    ({"alphas": [0.5, 1.5]}, r"alpha must be in \(0, 1\], got 1.5"),
    ({"method": "nstep", "n": 0}, "n must be an integer > 0, got 0"),
    ({"method": "td-lambda", "lam": 2.0}, r"lambda must be in \[0, 1\], got 2"),
    ({"method": "td-lambda", "trace": "dutch"}, "unknown trace 'dutch'"),
])
def test_evaluate_policy_sweep_checks_its_parameters_before_building_the_env(kw, match):
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError, match=match):
        evaluate_policy_sweep("no-such-environment-anywhere", **kw)


# ----------------------------------------------------------------------------------------------
# estimate_values_sweep: sample averages mixed with constant step sizes, its checks and defaults
# ----------------------------------------------------------------------------------------------

def cut_walk_tr():
    return rollout(ModelSource(walk3(), gamma=0.5, start="A"), None, episodes=5, runs=2, seed=11, max_steps=2)


@pytest.mark.parametrize("method", ["mc", "every-visit-mc"])
def test_a_sweep_mixing_sample_averages_and_step_sizes_is_separate_runs(method):
    """Sample averages and constant step sizes follow different update rules, so such a sweep runs
    each step size apart: every result is the call with that one step size (all keywords on)."""
    tr = cut_walk_tr()
    # gamma 0.8 overrides the stream's 0.5; first_visit is the opposite of the method's default
    kw = dict(init=0.3, exact=walk3_values(0.8), terminal=walk3().terminal, gamma=0.8, record_values=True,
              states=["l", "a", "b", "c", "r"], first_visit=method != "mc")
    out = estimate_values_sweep(tr, method, [None, 0.25, None], **kw)
    assert [r.params["alpha"] for r in out] == ["sample-average", 0.25, "sample-average"]
    for res, alpha in zip(out, [None, 0.25, None], strict=True):
        ref = estimate_values(tr, method, alpha=alpha, **kw)
        np.testing.assert_array_equal(res.values_history, ref.values_history)
        np.testing.assert_array_equal(res.rmse_runs, ref.rmse_runs)
        assert res.states == ["l", "a", "b", "c", "r"] and res.gamma == 0.8 and res.params == ref.params
        assert res.params["first_visit"] is (method != "mc")
    # and by hand, the sample average of the returns of each state's visits (first visits for
    # every-visit-mc, whose rule was overridden; every visit for mc)
    G = tr.discounted_returns(0.8)
    first = np.zeros_like(tr.valid)
    for r in range(tr.runs):
        for k in range(tr.episodes):
            seen = set()
            for t in np.flatnonzero(tr.episode[r] == k):
                s = tr.states[r, t]
                first[r, t] = s not in seen or method == "mc"
                seen.add(s)
    for r in range(tr.runs):
        for s in (1, 2, 3):
            m = first[r] & (tr.states[r] == s)
            want = G[r, m].mean() if m.any() else 0.3
            assert out[0].values_runs[r, s] == pytest.approx(want, rel=1e-14)


def test_a_sweep_needs_a_step_size():
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError) as exc:
        estimate_values_sweep(cut_walk_tr(), "td", [])
    assert str(exc.value) == "alpha: give at least one step size" and exc.value.where == "alpha"


def test_estimate_values_sweep_defaults():
    tr = cut_walk_tr()
    (res,) = estimate_values_sweep(tr)
    assert (res.method, res.params, res.values_history, res.gamma) == ("td", {"alpha": 0.1}, None, 0.5)
    (res,) = estimate_values_sweep(tr, "td", 0.5)                  # a scalar step size
    assert res.params == {"alpha": 0.5}
    (res,) = estimate_values_sweep(tr, "td-lambda", [0.5])
    assert res.params == {"alpha": 0.5, "lambda": 0.9, "trace": "accumulating", "offline": False}
    ref = estimate_values(tr, "td-lambda", alpha=0.5, lam=0.9, trace="accumulating", offline=False)
    np.testing.assert_array_equal(res.values_runs, ref.values_runs)
    (res,) = estimate_values_sweep(tr, "batch-td", [1.0])
    ref = estimate_values(tr, "batch-td", alpha=1.0, batch_tol=1e-10)
    assert res.info == ref.info


def test_visits_are_counted_by_hand():
    res = estimate_values(two_runs(), "td", alpha=0.5)
    # run 0 steps from a, b, b; run 1 from b, a, b
    np.testing.assert_array_equal(res.visits, [[1, 2, 0], [1, 2, 0]])
    assert res.visits.dtype == np.int64
    tr = make_tr([[([(0, 1.0, 1), (1, 1.0, 0), (0, 0.0, 2)], True)], [([(1, 0.0, 2)], True)]], S=3)
    np.testing.assert_array_equal(estimate_values(tr, "td", alpha=0.5).visits, [[2, 1, 0], [0, 1, 0]])


def test_rmse_without_a_terminal_mask_is_over_every_state():
    tr = make_tr([[([(0, 2.0, 1)], False)]], S=2)          # one cut step a -> b, reward 2
    res = estimate_values(tr, "td", alpha=0.5, init=1.0, exact=[3.0, 1.0])
    # V(a) = 1 + .5 (2 + 1 - 1) = 2, V(b) = 1; errors 1 and 0 over both states
    np.testing.assert_array_equal(res.values_runs, [[2.0, 1.0]])
    np.testing.assert_array_equal(res.nonterminal, [True, True])
    assert res.rmse == pytest.approx(np.sqrt(0.5), rel=1e-15)
    assert res.rmse_initial == pytest.approx(np.sqrt(2.0), rel=1e-15)


def test_rmse_with_every_state_terminal_is_zero():
    tr = make_tr([[([(0, 2.0, 1)], True)]], S=2)
    res = estimate_values(tr, "td", alpha=0.5, exact=[3.0, 1.0], terminal=[True, True])
    assert (res.rmse, res.rmse_initial, res.rmse_of_mean) == (0.0, 0.0, 0.0)


def test_estimate_values_sweep_shares_its_time_between_the_step_sizes():
    tr = cut_walk_tr()
    t0 = time.perf_counter()
    out = estimate_values_sweep(tr, "td", [0.1, 0.2, 0.3])
    wall = time.perf_counter() - t0
    assert all(0 < r.seconds <= wall / 3 and r.seconds == out[0].seconds for r in out)


# ==============================================================================================
# rlkit.tabular.control
# ==============================================================================================

from rlkit.tabular import control as control_fn  # noqa: E402
from rlkit.tabular.control import (  # noqa: E402
    _greedy,
    _Learner,
    _sample,
    double_q_learning_update,
    epsilon_greedy_available,
    expected_sarsa_update,
    q_learning_update,
    sarsa_update,
)
from rlkit.tabular.sampling import RunStreams  # noqa: E402
from rlkit.tabular.schedules import Constant  # noqa: E402


def learner(mdp, runs=2, q=None, avail=None, double=False, seed=0):
    L = _Learner(ModelSource(mdp), runs, 3, seed, Constant(0.5), Constant(0.1), 0.0, double, avail)
    if q is not None:
        L.Q[:] = q
        if double:
            L.Q2[:] = q
    return L


def three_actions_mdp(gamma=0.5):
    """States 0, 1 (non-terminal) and 2 (terminal), 3 actions; only Q tables matter here."""
    P = np.zeros((3, 3, 3))
    P[:, :, 2] = 1.0
    return MDP(P, np.zeros((3, 3)), gamma, terminal=[False, False, True])


Q0 = np.array([[[1.0, 4.0, 4.0], [2.0, 6.0, 0.0], [0.0, 0.0, 0.0]],      # run 0
               [[3.0, 0.0, 1.0], [-1.0, 5.0, 8.0], [0.0, 0.0, 0.0]]])    # run 1


def test_epsilon_greedy_probabilities_by_hand():
    q = np.array([[1.0, 4.0, 4.0], [3.0, 0.0, 1.0], [2.0, 9.0, 0.0]])
    eps = np.array([0.3, 0.6, 0.0])
    p = epsilon_greedy_available(q, eps, None)
    want = [[0.1, 0.1 + 0.35, 0.1 + 0.35], [0.2 + 0.4, 0.2, 0.2], [0.0, 1.0, 0.0]]
    np.testing.assert_allclose(p, want, rtol=1e-15, atol=1e-16)
    # the best action (9) unavailable in row 2: greedy over {0, 2}; eps spread over the 2 available
    avail = np.array([[True, True, True], [False, True, True], [True, False, True]])
    p = epsilon_greedy_available(q, np.array([0.3, 0.6, 0.5]), avail)
    want = [[0.1, 0.45, 0.45], [0.0, 0.3, 0.3 + 0.4], [0.25 + 0.5, 0.0, 0.25]]
    np.testing.assert_allclose(p, want, rtol=1e-15, atol=1e-16)
    p = epsilon_greedy_available(q[:1], 0.3, None)          # a scalar eps
    np.testing.assert_allclose(p, [[0.1, 0.45, 0.45]], rtol=1e-15)


def test_sampling_an_action_by_its_cdf():
    probs = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    u = np.array([0.1, 0.45, 0.99, 0.3, 0.999999])
    np.testing.assert_array_equal(_sample(probs, u), [0, 1, 2, 2, 0])   # unnormalised rows work too


def test_greedy_takes_the_lowest_index_on_ties_among_the_available():
    q = np.array([[1.0, 4.0, 4.0], [3.0, 0.0, 3.0], [2.0, 9.0, 0.0]])
    np.testing.assert_array_equal(_greedy(q, None), [1, 0, 1])
    avail = np.array([[True, False, True], [False, True, True], [True, False, True]])
    np.testing.assert_array_equal(_greedy(q, avail), [2, 2, 0])


def test_q_learning_update_by_hand():
    L = learner(three_actions_mdp(0.5), q=Q0)
    rows, s, a = np.array([0, 1]), np.array([0, 1]), np.array([0, 2])
    q_learning_update(L, rows, s, a, np.array([1.0, 2.0]), np.array([1, 0]), np.array([True, False]), 0.5,
                      0.1)
    # run 0: Q(0,0) = 1 + .5 (1 + .5 * max(2, 6, 0) - 1) = 2.5; run 1 terminated: Q(1,2) = 8 + .5 (2 - 8) = 5
    want = Q0.copy()
    want[0, 0, 0], want[1, 1, 2] = 2.5, 5.0
    np.testing.assert_array_equal(L.Q, want)


def test_q_learning_update_maximises_over_the_available_actions():
    avail = np.array([[True, True, True], [True, False, True], [True, True, True]])
    L = learner(three_actions_mdp(0.5), q=Q0, avail=avail)
    q_learning_update(L, np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), np.array([0.0, 0.0]),
                      np.array([1, 1]), np.array([True, True]), np.array([1.0, 0.5]), 0.1)
    # run 0: max over {0, 2} of (2, 0) = 2 -> Q(0,1) = 0 + .5 * 2 = 1 (alpha 1);
    # run 1: max of (-1, 8) = 8 -> Q(0,1) = 0 + .5 (.5 * 8 - 0) = 2
    assert (L.Q[0, 0, 1], L.Q[1, 0, 1]) == (1.0, 2.0)


def test_expected_sarsa_update_by_hand():
    avail = np.array([[True, True, True], [True, True, False], [True, True, True]])
    L = learner(three_actions_mdp(0.5), q=Q0, avail=avail)
    eps = np.array([0.3, 0.6])
    expected_sarsa_update(L, np.array([0, 1]), np.array([0, 0]), np.array([2, 0]), np.array([1.0, 1.0]),
                          np.array([1, 1]), np.array([True, True]), 0.5, eps)
    # next state 1, available actions {0, 1}: run 0 q = (2, 6): .15 * 2 + .85 * 6 = 5.4;
    # run 1 q = (-1, 5): .3 * -1 + .7 * 5 = 3.2
    assert L.Q[0, 0, 2] == pytest.approx(4.0 + 0.5 * (1 + 0.5 * 5.4 - 4.0), rel=1e-15)
    assert L.Q[1, 0, 0] == pytest.approx(3.0 + 0.5 * (1 + 0.5 * 3.2 - 3.0), rel=1e-15)
    L = learner(three_actions_mdp(0.5), q=Q0)
    expected_sarsa_update(L, np.array([1]), np.array([1]), np.array([1]), np.array([2.0]), np.array([0]),
                          np.array([False]), np.array([0.25]), np.array([0.3]))
    assert L.Q[1, 1, 1] == 5.0 + 0.25 * (2.0 - 5.0)              # terminated: no bootstrap


def test_sarsa_update_chooses_the_next_action_and_bootstraps_from_it():
    L = learner(three_actions_mdp(0.5), q=Q0)
    # eps 0: greedy next actions: run 0 in state 1 -> action 1 (6); run 1 in state 1 -> action 2 (8)
    nxt = sarsa_update(L, np.array([0, 1]), np.array([0, 0]), np.array([0, 1]), np.array([1.0, 0.0]),
                       np.array([1, 1]), np.array([True, True]), 0.5, 0.0)
    np.testing.assert_array_equal(nxt, [1, 2])
    assert (L.Q[0, 0, 0], L.Q[1, 0, 1]) == (1.0 + 0.5 * (1 + 3.0 - 1.0), 0.0 + 0.5 * (4.0 - 0.0))
    # one run terminated: its next action is 0 (unused) and it does not bootstrap; the other still
    # picks its greedy action with its own eps
    L = learner(three_actions_mdp(0.5), q=Q0)
    nxt = sarsa_update(L, np.array([0, 1]), np.array([1, 1]), np.array([1, 0]), np.array([2.0, 1.0]),
                       np.array([2, 0]), np.array([False, True]), np.array([0.5, 1.0]), np.array([0.9, 0.0]))
    np.testing.assert_array_equal(nxt, [0, 0])
    assert (L.Q[0, 1, 1], L.Q[1, 1, 0]) == (6.0 + 0.5 * (2.0 - 6.0), 1.0 + 0.5 * 3.0)


def test_double_q_learning_update_by_hand():
    L = learner(three_actions_mdp(0.5), q=Q0, double=True, seed=3)
    L.Q2[:] = Q0[::-1]                                          # the second table: the runs swapped
    coins = RunStreams(3, 2).draw(np.array([0, 1])) < 0.5       # the same stream: the same coins
    assert coins.tolist() == [False, True]                      # both tables get an update
    Q1, Q2 = L.Q.copy(), L.Q2.copy()
    double_q_learning_update(L, np.array([0, 1]), np.array([0, 0]), np.array([0, 0]), np.array([1.0, 1.0]),
                             np.array([1, 1]), np.array([True, True]), np.array([0.5, 1.0]), 0.1)
    for r, al in ((0, 0.5), (1, 1.0)):
        upd, other = (Q1, Q2) if coins[r] else (Q2, Q1)
        best = int(np.argmax(upd[r, 1]))
        want = upd[r, 0, 0] + al * (1.0 + 0.5 * other[r, 1, best] - upd[r, 0, 0])
        got_upd, got_other = (L.Q, L.Q2) if coins[r] else (L.Q2, L.Q)
        assert got_upd[r, 0, 0] == want
        assert got_other[r, 0, 0] == other[r, 0, 0]              # the other table is left alone


def cycle2(gamma=0.5):
    """Two states in a cycle 0 -> 1 -> 0, one action, reward 1 out of 0 and 2 out of 1; it never
    terminates, so every episode is cut by max_steps. Start: state 0."""
    P = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    return MDP(P, [[1.0], [2.0]], gamma, start=[1.0, 0.0])


def ref_td_cycle(episodes, cut, alpha, gamma, q_init):
    """The TD loop by hand (one action: SARSA, Expected SARSA and Q-learning are all TD(0) on Q),
    bootstrapping at the cut from the state the episode was cut in."""
    Q = np.full(2, q_init)
    r = [1.0, 2.0]
    for _ in range(episodes):
        s = 0
        for _ in range(cut):
            s2 = 1 - s
            Q[s] += alpha * (r[s] + gamma * Q[s2] - Q[s])
            s = s2
    return Q


@pytest.mark.parametrize("method", ["sarsa", "expected-sarsa", "q-learning", "double-q-learning"])
def test_td_control_loop_on_a_cut_cycle_by_hand(method):
    res = control_fn(cycle2(), method, episodes=3, runs=2, alpha=0.5, epsilon=0.2, max_steps=3, q_init=1.5,
                     seed=0, evaluate_runs=False)
    np.testing.assert_array_equal(res.lengths_runs, np.full((2, 3), 3))
    np.testing.assert_array_equal(res.returns_runs, np.full((2, 3), 1.0 + 2.0 + 1.0))
    if method != "double-q-learning":
        want = ref_td_cycle(3, 3, 0.5, 0.5, 1.5)
        np.testing.assert_allclose(res.q_runs[:, :, 0], np.tile(want, (2, 1)), rtol=1e-15)
    assert res.params == {"alpha": "0.5", "epsilon": "0.2", "q_init": 1.5, "max_steps": 3}


def test_td_control_with_a_schedule_of_the_step_size():
    """alpha 'linear:0.5,0.1,2': 0.5 in episode 0, 0.3 in episode 1, 0.1 from episode 2 on."""
    res = control_fn(cycle2(), "q-learning", episodes=3, alpha="linear:0.5,0.1,2", max_steps=2, seed=0,
                     evaluate_runs=False)
    Q = np.zeros(2)
    for al in (0.5, 0.3, 0.1):
        for s in (0, 1):
            Q[s] += al * ([1.0, 2.0][s] + 0.5 * Q[1 - s] - Q[s])
    np.testing.assert_allclose(res.q_runs[0, :, 0], Q, rtol=1e-14)
    assert res.params["alpha"] == "linear:0.5,0.1,2"


def chain_mdp(gamma=1.0):
    """0 -> 1 -> 2 (terminal), one action, rewards 1 and 3."""
    P = np.zeros((1, 3, 3))
    P[0, 0, 1] = P[0, 1, 2] = P[0, 2, 2] = 1.0
    return MDP(P, [[1.0], [3.0], [0.0]], gamma, terminal=[False, False, True], start=[1.0, 0.0, 0.0])


@pytest.mark.parametrize("method", ["sarsa", "expected-sarsa", "q-learning", "double-q-learning"])
def test_td_control_loop_on_a_terminating_chain_by_hand(method):
    res = control_fn(chain_mdp(), method, episodes=2, alpha=0.5, max_steps=10, q_init=2.0, seed=0)
    np.testing.assert_array_equal(res.lengths_runs, [[2, 2]])
    np.testing.assert_array_equal(res.returns_runs, [[4.0, 4.0]])
    if method != "double-q-learning":
        q0, q1 = 2.0, 2.0                                         # terminal state 2 starts at 0
        for _ in range(2):
            q0 += 0.5 * (1.0 + q1 - q0)
            q1 += 0.5 * (3.0 - q1)                                # no bootstrap after termination
        np.testing.assert_array_equal(res.q_runs[0, :, 0], [q0, q1, 0.0])
    np.testing.assert_array_equal(res.optimal_values, [4.0, 3.0, 0.0])
    np.testing.assert_array_equal(res.policy_value, [4.0, 3.0, 0.0])


def test_double_q_learning_reports_the_mean_of_its_two_tables():
    res = control_fn(chain_mdp(), "double-q-learning", episodes=1, alpha=1.0, q_init=2.0, seed=0)
    # each step updates one table (alpha 1: the target itself), the other keeps 2
    # state 1: target 3 in one table -> mean (3 + 2) / 2 = 2.5
    assert res.q_runs[0, 1, 0] == 2.5
    # state 0: target 1 + Q_other(1); Q_other(1) is 2 (not updated yet at step 0) -> 3; mean 2.5
    assert res.q_runs[0, 0, 0] == 2.5
    assert res.q_runs[0, 2, 0] == 0.0


@pytest.mark.parametrize(("first_visit", "alpha", "q0"), [
    (True, None, 2.25),                            # first visit of state 0: G_0
    (False, None, (2.25 + 1.0) / 2),               # every visit: mean of G_0 and G_2
    (False, 0.5, (0.5 * 2.25) + 0.5 * (1.0 - 0.5 * 2.25)),     # constant alpha, in time order
    (True, 0.5, 0.5 * 2.25),
])
def test_mc_control_on_a_cut_cycle_by_hand(first_visit, alpha, q0):
    """Cut after 3 steps from 0: rewards 1, 2, 1 at gamma 0.5: G_0 = 1 + 1 + .25 = 2.25,
    G_1 = 2 + .5 = 2.5, G_2 = 1 (the return stops at the cut)."""
    res = control_fn(cycle2(), "mc-control", episodes=1, runs=2, alpha=alpha, first_visit=first_visit,
                     max_steps=3, seed=0, evaluate_runs=False)
    np.testing.assert_allclose(res.q_runs[:, :, 0], [[q0, 0.5 * 2.5 if alpha else 2.5]] * 2, rtol=1e-15)
    np.testing.assert_array_equal(res.lengths_runs, [[3], [3]])
    np.testing.assert_array_equal(res.returns_runs, [[4.0], [4.0]])
    assert res.params == {"alpha": "sample-average" if alpha is None else "0.5", "epsilon": "0.1",
                          "q_init": 0.0, "max_steps": 3, "exploring_starts": False,
                          "first_visit": first_visit}


def test_mc_control_sample_averages_over_episodes_and_long_episodes():
    """A cut after 70 steps (longer than the first buffer of 64 steps) twice: the sample average of
    the same returns is that return; the undiscounted sum of an episode is 35 * (1 + 2)."""
    res = control_fn(cycle2(gamma=0.5), "mc-control", episodes=2, max_steps=70, seed=0, evaluate_runs=False)
    G = np.zeros(70)
    nxt = 0.0
    for t in range(69, -1, -1):
        nxt = [1.0, 2.0][t % 2] + 0.5 * nxt
        G[t] = nxt
    np.testing.assert_allclose(res.q_runs[0, :, 0], [G[0], G[1]], rtol=1e-15)
    np.testing.assert_array_equal(res.returns_runs, [[105.0, 105.0]])
    np.testing.assert_array_equal(res.lengths_runs, [[70, 70]])


def test_control_result_to_dict_and_repr_by_hand():
    res = control_fn(chain_mdp(), "q-learning", episodes=2, runs=2, alpha=0.5, q_init=2.0, seed=0)
    res.seconds = 0.5
    # Q(0): 2 -> 2 + .5 (1 + 2 - 2) = 2.5 -> 2.5 + .5 (1 + 2.5 - 2.5) = 3; Q(1): 2 -> 2.5 -> 2.75
    assert res.to_dict() == {
        "method": "q-learning", "states": ["s0", "s1", "s2"], "actions": ["a0"], "gamma": 1.0, "episodes": 2,
        "runs": 2, "params": {"alpha": "0.5", "epsilon": "0.1", "q_init": 2.0, "max_steps": 10_000},
        "q": [[3.0], [2.75], [0.0]], "policy": [0, 0, 0], "returns_curve": [4.0, 4.0],
        "lengths_curve": [2.0, 2.0],
        "policy_value": [4.0, 3.0, 0.0], "optimal_values": [4.0, 3.0, 0.0], "policy_start_value": 4.0,
        "optimal_start_value": 4.0, "optimal_fraction": 1.0, "seconds": 0.5, "info": {"source": "MDP"},
    }
    assert repr(res) == ("ControlResult(method='q-learning', n_states=3, runs=2, episodes=2, final_return=4, "
                         "policy_start_value=4, seconds=0.5)")
    np.testing.assert_array_equal(res.policy_value_runs, [[4.0, 3.0, 0.0]] * 2)
    np.testing.assert_array_equal(res.optimal_policy, [0, 0, 0])
    np.testing.assert_array_equal(res.start, [1.0, 0.0, 0.0])


def test_control_result_without_a_model():
    import gymnasium as gym

    res = control_fn(gym.make("FrozenLake-v1", is_slippery=False), "q-learning", episodes=2, seed=0,
                     max_steps=3)
    res.seconds = 2.0
    d = res.to_dict()
    assert (d["policy_value"], d["optimal_values"], d["policy_start_value"], d["optimal_start_value"],
            d["optimal_fraction"]) == (None, None, None, None, None)
    assert res.policy_value_runs is None and res.optimal_policy is None and res.start is None
    assert repr(res).endswith(f"episodes=2, final_return={res.returns_curve[-1]:.4g}, seconds=2)")


def test_control_without_evaluating_every_run():
    res = control_fn(chain_mdp(), "sarsa", episodes=1, seed=0, evaluate_runs=False)
    assert res.policy_value_runs is None and res.optimal_fraction is None
    np.testing.assert_array_equal(res.policy_value, [4.0, 3.0, 0.0])


def loop_mdp(gamma=1.0):
    """State 0 (start): action 0 ends the episode (reward 1), action 1 goes to 1. State 1: action
    0 stays in 1 (reward -1, forever), action 1 ends it (reward 5). State 2 is terminal."""
    P = np.zeros((2, 3, 3))
    P[0, 0, 2] = P[1, 0, 1] = P[0, 1, 1] = P[1, 1, 2] = 1.0
    P[:, 2, 2] = 1.0
    R = np.array([[1.0, 0.0], [-1.0, 5.0], [0.0, 0.0]])
    return MDP(P, R, gamma, terminal=[False, False, True], start=[1.0, 0.0, 0.0])


def test_policy_value_of_a_policy_that_loops_where_the_start_never_leads():
    from rlkit.tabular.control import _policy_value

    start = np.array([1.0, 0.0, 0.0])
    v, err = _policy_value(loop_mdp(), np.array([0, 0, 0]), start)
    np.testing.assert_array_equal(v, [1.0, np.nan, 0.0])          # state 1 loops, unreachable from 0
    assert err is None
    v, err = _policy_value(loop_mdp(), np.array([0, 0, 0]), None)
    assert v is None and "terminal" in err
    v, err = _policy_value(loop_mdp(), np.array([1, 0, 0]), start)  # the start itself leads to the loop
    assert v is None and err
    v, err = _policy_value(loop_mdp(0.5), np.array([0, 0, 0]), start)   # discounted: -1 / (1 - 0.5)
    np.testing.assert_array_equal(v, [1.0, -2.0, 0.0])
    assert err is None
    v, err = _policy_value(loop_mdp(), np.array([1, 1, 0]), start)
    np.testing.assert_array_equal(v, [5.0, 5.0, 0.0])


def test_control_reports_an_improper_greedy_policy():
    # q_init 0 and episodes that go 0 -> end: the greedy policy of Q (ties: action 0) loops in state 1
    res = control_fn(loop_mdp(), "q-learning", episodes=1, epsilon=0.0, seed=0, alpha=0.5)
    np.testing.assert_array_equal(res.policy, [0, 0, 0])
    np.testing.assert_array_equal(res.policy_value, [1.0, np.nan, 0.0])
    assert "policy_value_error" not in res.info
    assert res.optimal_start_value == 5.0 and res.policy_start_value == 1.0
    assert res.optimal_fraction == 0.5                           # state 0 not optimal, state 2 is


@pytest.mark.parametrize(("fn", "kw", "method", "params"), [
    ("sarsa", {}, "sarsa", {}),
    ("expected_sarsa", {}, "expected-sarsa", {}),
    ("q_learning", {}, "q-learning", {}),
    ("double_q_learning", {}, "double-q-learning", {}),
    ("mc_control", {}, "mc-control", {"exploring_starts": False, "first_visit": True}),
    ("mc_control", {"exploring_starts": True}, "mc-control", {"exploring_starts": True, "first_visit": True}),
])
def test_control_wrappers(fn, kw, method, params):
    import importlib

    wrapper = getattr(importlib.import_module("rlkit.tabular.control"), fn)
    res = wrapper(chain_mdp(0.5), episodes=3, runs=2, seed=5, q_init=1.0, max_steps=4, **kw)
    ref = control_fn(chain_mdp(0.5), method, episodes=3, runs=2, seed=5, q_init=1.0, max_steps=4, **kw)
    assert res.method == method
    assert {k: res.params[k] for k in params} == params
    assert res.params["q_init"] == 1.0 and res.params["max_steps"] == 4 and res.gamma == 0.5
    np.testing.assert_array_equal(res.q_runs, ref.q_runs)
    np.testing.assert_array_equal(res.returns_runs, ref.returns_runs)


def test_td_learner_runs_the_loop_with_its_update():
    from rlkit.tabular.control import q_learning_update, td_learner

    run = td_learner(q_learning_update)
    assert run.__doc__ == q_learning_update.__doc__
    L = run(ModelSource(chain_mdp()), 2, 2, 0, Constant(0.5), Constant(0.1), 2.0, 10, None)
    np.testing.assert_array_equal(L.Q[:, :, 0], [[3.0, 2.75, 0.0]] * 2)
    np.testing.assert_array_equal(L.lengths, [[2, 2]] * 2)
    L = run(ModelSource(cycle2()), 1, 1, 0, Constant(0.5), Constant(0.1), 1.5, 3, None)
    np.testing.assert_allclose(L.Q[0, :, 0], ref_td_cycle(1, 3, 0.5, 0.5, 1.5), rtol=1e-15)


def choice_mdp():
    """State 0 (start): action 0 ends the episode with reward 1, action 1 goes to state 1 (reward
    0). State 1: action 0 ends it with reward 10, action 1 with reward 0. State 2 is terminal."""
    P = np.zeros((2, 3, 3))
    P[0, 0, 2] = P[1, 0, 1] = P[0, 1, 2] = P[1, 1, 2] = 1.0
    P[:, 2, 2] = 1.0
    R = np.array([[1.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    return MDP(P, R, 1.0, terminal=[False, False, True], start=[1.0, 0.0, 0.0])


def test_exploring_starts_random_start_and_first_action_then_greedy():
    """Monte Carlo ES: episodes start in state 0 or 1 (uniform over the non-terminal states, not
    the model's start 0), with a random first action, then act greedily whatever epsilon says: once
    Q(1, 0) = 10 is learned, an episode 0 -> 1 always ends with 10, never with 0."""
    res = control_fn(choice_mdp(), "mc-control", exploring_starts=True, epsilon=1.0, episodes=200, runs=2,
                     seed=0, evaluate_runs=False)
    lengths, returns = res.lengths_runs, res.returns_runs
    assert (lengths == 1).any() and (lengths == 2).any()
    # one-step episodes: from 0 by action 0 (return 1), or from 1 (10 or 0, by the random first action)
    one = returns[lengths == 1]
    assert set(one.tolist()) == {0.0, 1.0, 10.0}
    two = returns[:, 50:][lengths[:, 50:] == 2]
    assert two.size > 0 and (two == 10.0).all()                # greedy in state 1 after the first action
    np.testing.assert_allclose(res.q_runs[:, 1, 0], 10.0)
    np.testing.assert_allclose(res.q_runs[:, 1, 1], 0.0)
    assert res.params["exploring_starts"] is True


def test_exploring_starts_take_only_available_first_actions():
    mdp = choice_mdp()
    mdp = MDP(mdp.P, mdp.R, 1.0, terminal=mdp.terminal, start=[1.0, 0.0, 0.0],
              action_mask=[[True, True], [False, True], [True, True]])
    res = control_fn(mdp, "mc-control", exploring_starts=True, episodes=60, runs=2, seed=1,
                     evaluate_runs=False)
    # state 1 may only take action 1 (reward 0): no episode ever earns 10
    assert res.returns_runs.max() == 1.0
    assert (res.lengths_runs == 1).any() and (res.lengths_runs == 2).any()


def test_monte_carlo_control_takes_only_available_actions():
    mdp = choice_mdp()
    mdp = MDP(mdp.P, mdp.R, 1.0, terminal=mdp.terminal, start=[1.0, 0.0, 0.0],
              action_mask=[[False, True], [True, False], [True, True]])
    res = control_fn(mdp, "mc-control", epsilon=1.0, episodes=20, runs=2, seed=0, evaluate_runs=False)
    np.testing.assert_array_equal(res.returns_runs, 10.0)     # 0 -> 1 by action 1, then action 0
    np.testing.assert_array_equal(res.lengths_runs, 2)


def test_exploring_starts_need_a_model():
    import gymnasium as gym

    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError) as exc:
        control_fn(gym.make("FrozenLake-v1"), "mc-control", exploring_starts=True, episodes=1)
    assert exc.value.where == "exploring_starts"
    assert str(exc.value).startswith("exploring_starts: exploring starts need a model whose start state "
                                     "can be chosen; ")
    assert str(exc.value).endswith(" is a Gymnasium env: use mc-control with epsilon instead")


def test_monte_carlo_control_follows_its_epsilon_schedule():
    a = control_fn(choice_mdp(), "mc-control", epsilon="linear:0.0,0.0,5", episodes=6, runs=2, seed=4)
    b = control_fn(choice_mdp(), "mc-control", epsilon=0.0, episodes=6, runs=2, seed=4)
    np.testing.assert_array_equal(a.q_runs, b.q_runs)
    np.testing.assert_array_equal(a.returns_runs, b.returns_runs)


@pytest.mark.parametrize("method",
                         ["sarsa", "expected-sarsa", "q-learning", "double-q-learning", "mc-control"])
def test_a_run_does_not_depend_on_the_runs_beside_it(method):
    """Run r draws from its own stream (spawn(runs)[r]), so the first two runs of a 3-run call are
    the 2-run call's, although the runs' episodes end at different steps."""
    kw = dict(episodes=15, epsilon=0.5, seed=9, alpha=0.3, evaluate_runs=False)
    two = control_fn(two_way_mdp(), method, runs=2, start=1, **kw)
    three = control_fn(two_way_mdp(), method, runs=3, start=1, **kw)
    assert len(set(three.lengths_runs.ravel().tolist())) > 1
    np.testing.assert_array_equal(three.q_runs[:2], two.q_runs)
    np.testing.assert_array_equal(three.lengths_runs[:2], two.lengths_runs)
    again = control_fn(two_way_mdp(), method, runs=2, start=1, **kw)
    np.testing.assert_array_equal(again.q_runs, two.q_runs)            # the seed reaches the sampler
    other = control_fn(two_way_mdp(), method, runs=2, start=1, **{**kw, "seed": 10})
    assert not np.array_equal(other.lengths_runs, two.lengths_runs)


class CycleGym:
    """cycle2 as a Gymnasium env (no model): 0 -> 1 -> 0 ..., reward 1 out of 0 and 2 out of 1."""

    def __new__(cls):
        import gymnasium as gym

        class Env(gym.Env):
            observation_space = gym.spaces.Discrete(2)
            action_space = gym.spaces.Discrete(1)

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.s = 0
                return 0, {}

            def step(self, action):
                r = [1.0, 2.0][self.s]
                self.s = 1 - self.s
                return self.s, r, False, False, {}

        return Env()


@pytest.mark.parametrize("method", ["q-learning", "sarsa", "mc-control"])
def test_control_of_a_gymnasium_env_by_hand(method):
    res = control_fn(CycleGym, method, episodes=2, runs=2, alpha=0.5, max_steps=3, q_init=1.5, seed=0,
                     gamma=0.5)
    np.testing.assert_array_equal(res.lengths_runs, 3)
    np.testing.assert_array_equal(res.returns_runs, 4.0)
    if method == "mc-control":      # constant alpha 0.5, first visits: G_0 = 2.25, G_1 = 2.5
        q0 = 1.5 + 0.5 * (2.25 - 1.5)
        q1 = 1.5 + 0.5 * (2.5 - 1.5)
        want = [q0 + 0.5 * (2.25 - q0), q1 + 0.5 * (2.5 - q1)]
    else:
        want = ref_td_cycle(2, 3, 0.5, 0.5, 1.5)
    np.testing.assert_allclose(res.q_runs[:, :, 0], np.tile(want, (2, 1)), rtol=1e-15)
    assert res.policy_value is None and res.optimal_values is None


def test_control_discount_override_reaches_the_learner_and_the_exact_values():
    res = control_fn(chain_mdp(1.0), "q-learning", gamma=0.5, episodes=1, alpha=1.0, q_init=2.0, seed=0)
    assert res.gamma == 0.5
    # alpha 1: Q(0) = 1 + .5 * Q(1) = 1 + .5 * 2 (Q(1) not updated yet), then Q(1) = 3
    np.testing.assert_array_equal(res.q_runs[0, :, 0], [2.0, 3.0, 0.0])
    np.testing.assert_array_equal(res.optimal_values, [2.5, 3.0, 0.0])     # 1 + .5 * 3
    np.testing.assert_array_equal(res.policy_value, [2.5, 3.0, 0.0])
    np.testing.assert_array_equal(res.policy_value_runs, [[2.5, 3.0, 0.0]])


def test_control_keeps_terminal_action_values_at_zero():
    for method in ("q-learning", "double-q-learning", "mc-control"):
        res = control_fn(chain_mdp(), method, episodes=1, q_init=7.0, seed=0, alpha=0.5)
        np.testing.assert_array_equal(res.q_runs[:, 2], 0.0)
        np.testing.assert_array_equal(res.q[2], 0.0)


@pytest.mark.parametrize(("kw", "message"), [
    ({"method": "q-learning", "exploring_starts": True},
     "exploring_starts: exploring starts are a Monte Carlo control option; use --method mc-control"),
    ({"max_steps": 0}, "max_steps: max_steps must be > 0, got 0"),
    ({"episodes": 0}, "episodes: episodes must be an integer > 0, got 0"),
    ({"runs": 0}, "runs: runs must be an integer > 0, got 0"),
])
def test_control_refuses(kw, message):
    from rlkit.errors import RlkitError

    kw = {"method": "sarsa", **kw}
    with pytest.raises(RlkitError) as exc:
        control_fn(chain_mdp(), kw.pop("method"), **kw)
    assert str(exc.value) == message


def test_control_refuses_a_reward_process():
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError) as exc:
        control_fn(walk3(), "q-learning", episodes=1)
    assert str(exc.value) == "env: a reward process has no actions to control: give an MDP"
    assert exc.value.where == "env"


def test_control_defaults():
    res = control_fn(chain_mdp(), seed=0)
    assert (res.method, res.episodes, res.runs) == ("q-learning", 500, 1)
    assert res.params == {"alpha": "0.1", "epsilon": "0.1", "q_init": 0.0, "max_steps": 10_000}
    res = control_fn(chain_mdp(), "mc-control", episodes=2, seed=0)
    assert res.params["alpha"] == "sample-average" and res.params["first_visit"] is True
    np.testing.assert_array_equal(res.q_runs[0, :, 0], [4.0, 3.0, 0.0])   # the returns themselves


def test_control_result_repr_reports_the_last_episode():
    res = control_fn(chain_mdp(), "q-learning", episodes=3, seed=0)
    res.returns_curve = np.array([1.0, 2.0, 3.0])
    res.seconds = 1.0
    assert "final_return=3, " in repr(res)


def test_double_q_learning_argmax_over_the_available_actions():
    avail = np.array([[True, True, True], [True, False, True], [True, True, True]])
    L = learner(three_actions_mdp(0.5), q=Q0, double=True, seed=1, avail=avail)
    coins = RunStreams(1, 2).draw(np.array([0, 1])) < 0.5
    assert coins.tolist() == [False, True]
    double_q_learning_update(L, np.array([0, 1]), np.array([0, 0]), np.array([0, 0]), np.array([0.0, 0.0]),
                             np.array([1, 1]), np.array([True, True]), 1.0, 0.1)
    # both tables hold Q0; in state 1 action 1 is unavailable: run 0's argmax over {0, 2} of
    # (2, 0) is 0 -> target .5 * 2 = 1; run 1's of (-1, 8) is 2 -> target .5 * 8 = 4
    assert (L.Q2[0, 0, 0], L.Q[1, 0, 0]) == (1.0, 4.0)


def sarsa_mdp():
    """State 0: either action goes to state 1, reward 100 * action; state 1: either action ends
    the episode, reward 10 * action. The return tells both actions of an episode."""
    P = np.zeros((2, 3, 3))
    P[:, 0, 1] = P[:, 1, 2] = P[:, 2, 2] = 1.0
    R = np.array([[0.0, 100.0], [0.0, 10.0], [0.0, 0.0]])
    return MDP(P, R, 1.0, terminal=[False, False, True], start=[1.0, 0.0, 0.0])


def test_sarsa_bootstraps_from_the_action_it_then_takes():
    """Random actions (epsilon 1), alpha 1: each episode sets Q(0, A0) = r(A0) + Q(1, A1) with
    Q(1, A1) as it was before the episode, A1 the action actually taken next, then Q(1, A1) =
    r(A1). Both actions are read back from the episode's return."""
    res = control_fn(sarsa_mdp(), "sarsa", episodes=30, runs=2, alpha=1.0, epsilon=1.0, q_init=5.0, seed=2,
                     evaluate_runs=False)
    for r in range(2):
        Q = np.full((2, 2), 5.0)
        for ret in res.returns_runs[r]:
            a0, a1 = int(ret // 100), int(ret % 100 // 10)
            Q[0, a0] = 100.0 * a0 + Q[1, a1]
            Q[1, a1] = 10.0 * a1
        np.testing.assert_array_equal(res.q_runs[r, :2], Q)
    assert len(set(res.returns_runs.ravel().tolist())) == 4            # all four paths were taken


def test_td_learner_seed_and_action_mask_reach_the_loop():
    from rlkit.tabular.control import q_learning_update, td_learner

    run = td_learner(q_learning_update)
    a = run(ModelSource(two_way_mdp(), start=1), 2, 10, 3, Constant(0.5), Constant(0.5), 0.0, 50, None)
    ref = control_fn(two_way_mdp(), "q-learning", start=1, runs=2, episodes=10, seed=3, alpha=0.5,
                     epsilon=0.5, max_steps=50, evaluate_runs=False)
    np.testing.assert_array_equal(a.Q, ref.q_runs)
    mdp = choice_mdp()
    mask = np.array([[False, True], [True, False], [True, True]])
    L = run(ModelSource(mdp), 2, 10, 0, Constant(0.5), Constant(1.0), 0.0, 50, mask)
    np.testing.assert_array_equal(L.returns, 10.0)                     # 0 -> 1 by action 1, then action 0


def test_monte_carlo_control_explores_with_epsilon_and_averages_only_real_steps():
    """epsilon 1 without exploring starts: random actions from state 0, so the three paths (return
    1 in one step, 10 or 0 in two) all keep happening; sample averages of first visits: Q(0, 0) = 1,
    Q(1, 0) = 10, Q(1, 1) = 0 exactly and Q(0, 1) the mean of the two-step returns. The runs'
    episodes end at different steps (one step or two)."""
    res = control_fn(choice_mdp(), "mc-control", epsilon=1.0, episodes=40, runs=3, seed=0,
                     evaluate_runs=False)
    assert set(res.returns_runs[:, 10:].ravel().tolist()) == {0.0, 1.0, 10.0}
    np.testing.assert_array_equal(res.q_runs[:, 0, 0], 1.0)
    np.testing.assert_array_equal(res.q_runs[:, 1], [[10.0, 0.0]] * 3)
    for r in range(3):
        two = res.returns_runs[r][res.lengths_runs[r] == 2]
        assert res.q_runs[r, 0, 1] == pytest.approx(two.mean(), rel=1e-15)


def test_monte_carlo_control_episodes_longer_than_128_steps():
    res = control_fn(cycle2(gamma=0.5), "mc-control", episodes=1, max_steps=130, seed=0, evaluate_runs=False)
    np.testing.assert_array_equal(res.lengths_runs, [[130]])
    assert res.returns_runs[0, 0] == 65 * 3.0


def self_loop_mdp():
    """State 0 stays with probability 1/2 or moves to 1; 1 ends the episode; reward 1 a step."""
    P = np.zeros((1, 3, 3))
    P[0, 0, 0] = P[0, 0, 1] = 0.5
    P[0, 1, 2] = P[0, 2, 2] = 1.0
    return MDP(P, [[1.0], [1.0], [0.0]], 1.0, terminal=[False, False, True], start=[1.0, 0.0, 0.0])


def test_first_visit_monte_carlo_control_goes_on_after_a_step_with_nothing_to_update():
    """Episodes 0, 0, ..., 0, 1: after the first step every later visit of 0 is a revisit, but the
    last step (first visit of 1) is still updated. alpha 0.5 from 0: Q(1) = 1 - 0.5^E, and Q(0)
    follows the first-visit returns, the episode lengths."""
    res = control_fn(self_loop_mdp(), "mc-control", alpha=0.5, episodes=8, seed=0, evaluate_runs=False)
    L = res.lengths_runs[0]
    assert (L > 2).any()
    q0 = 0.0
    for n in L:
        q0 += 0.5 * (n - q0)
    assert res.q_runs[0, 0, 0] == pytest.approx(q0, rel=1e-15)
    assert res.q_runs[0, 1, 0] == 1.0 - 0.5**8


def test_monte_carlo_control_with_a_step_size_schedule():
    """alpha 'linear:0.5,0.1,1': 0.5 in episode 0, 0.1 after; first visits G_0 = 2.25, G_1 = 2.5."""
    res = control_fn(cycle2(), "mc-control", alpha="linear:0.5,0.1,1", episodes=2, max_steps=3, seed=0,
                     evaluate_runs=False)
    np.testing.assert_allclose(res.q_runs[0, :, 0], [1.125 + 0.1 * (2.25 - 1.125), 1.25 + 0.1 * (2.5 - 1.25)],
                               rtol=1e-15)


def test_sampling_normalises_each_row_by_its_sum():
    np.testing.assert_array_equal(_sample(np.array([[1.0, 1.0], [1.0, 3.0]]), np.array([0.7, 0.2])), [1, 0])


def test_double_q_learning_behaves_by_the_sum_of_its_tables():
    L = learner(three_actions_mdp(), q=Q0, double=True)
    L.Q2[:] = Q0[::-1]
    np.testing.assert_array_equal(L.behaviour_q(np.array([0, 1]), np.array([1, 0])),
                                  [Q0[0, 1] + Q0[1, 1], Q0[1, 0] + Q0[0, 0]])


def test_the_greedy_policy_skips_unavailable_actions():
    mdp = choice_mdp()
    mdp = MDP(mdp.P, mdp.R, 1.0, terminal=mdp.terminal, start=[1.0, 0.0, 0.0],
              action_mask=[[False, True], [True, False], [True, True]])
    # q_init 100: the unavailable actions keep 100, above anything learned
    res = control_fn(mdp, "q-learning", episodes=5, runs=2, q_init=100.0, alpha=0.5, seed=0)
    np.testing.assert_array_equal(res.policy[:2], [1, 0])
    np.testing.assert_array_equal(res.policy_runs[:, :2], [[1, 0], [1, 0]])


def test_control_names_its_method_in_the_source_errors_and_times_itself():
    from rlkit.errors import RlkitError

    with pytest.raises(RlkitError, match="^method 'sarsa' needs a Discrete observation space"):
        control_fn("gym:CartPole-v1", "sarsa", episodes=1)
    t0 = time.perf_counter()
    res = control_fn(chain_mdp(), "sarsa", episodes=2, seed=0)
    assert 0 < res.seconds <= time.perf_counter() - t0


# ==============================================================================================
# defaults: the library functions take the registry's defaults, as the CLI does
# ==============================================================================================

def test_nstep_defaults_to_four_steps_as_the_cli_and_nstep_td():
    kw = dict(episodes=20, runs=2, seed=3, alpha=0.2)
    def nstep(**extra):
        return evaluate_policy("random-walk", method="nstep", **kw, **extra).values

    default = nstep()
    np.testing.assert_array_equal(default, nstep(n=4))
    np.testing.assert_array_equal(default, nstep_td("random-walk", **kw).values)
    assert not np.array_equal(default, nstep(n=1))
    tr = rollout(ModelSource(walk3(), gamma=1.0, start="A"), None, episodes=10, runs=2, seed=1)
    (swept,) = estimate_values_sweep(tr, "nstep", [0.2])
    np.testing.assert_array_equal(swept.values, estimate_values(tr, "nstep", alpha=0.2, n=4).values)


def test_sweeps_default_to_the_methods_own_step_size():
    kw = dict(episodes=15, runs=2, seed=5)
    for method in ("mc", "batch-td", "td"):
        (swept,) = evaluate_policy_sweep("random-walk", method=method, **kw)
        one = evaluate_policy("random-walk", method=method, **kw)
        np.testing.assert_array_equal(swept.values, one.values)
    # Monte Carlo's own default is the sample average, not a constant 0.1
    (mc,) = evaluate_policy_sweep("random-walk", method="mc", **kw)
    assert not np.array_equal(mc.values, evaluate_policy("random-walk", method="mc", alpha=0.1, **kw).values)
