"""Prediction from samples (rlkit.tabular.prediction) against textbook loops, closed forms and
independent estimates: every kernel is checked on the same episodes as a plain per-run Python
implementation of Sutton & Barto's pseudocode, and the statistics with fixed seeds and bounds of
several standard errors."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.mdp import MRP, evaluate
from rlkit.mdp.io import load
from rlkit.tabular import (
    ModelSource,
    estimate_values,
    estimate_values_sweep,
    evaluate_policy,
    evaluate_policy_sweep,
    rollout,
)


def sb_random_walk() -> MRP:
    """The catalog's random walk, which keeps S&B's reward per transition (+1 on entering the
    right end) for the sampler."""
    walk = load("random-walk")
    Rt = np.zeros((7, 7))
    Rt[5, 6] = 1.0
    np.testing.assert_array_equal(walk.meta["transition_rewards"], Rt)
    return walk


def expected_reward_walk() -> MRP:
    """The same walk paying only the expected reward of each state (0.5 on every step out of E)."""
    walk = load("random-walk")
    meta = {k: v for k, v in walk.meta.items() if k != "transition_rewards"}
    return MRP(walk.P, walk.R, 1.0, states=walk.states, terminal=walk.terminal, meta=meta)


TRUE_WALK = np.array([0, 1, 2, 3, 4, 5, 0]) / 6


@pytest.fixture(scope="module")
def walk_tr():
    return rollout(ModelSource(sb_random_walk()), None, episodes=30, runs=4, seed=3)


@pytest.fixture(scope="module")
def grid_tr():
    grid = load("gridworld-4x4").with_gamma(0.9)
    return grid, rollout(ModelSource(grid), np.full((16, 4), 0.25), episodes=12, runs=3, seed=9)


# ----------------------------------------------------------------------------------------------
# textbook reference implementations, one run at a time
# ----------------------------------------------------------------------------------------------

def ref_td0(eps, alpha, gamma, V):
    V = V.copy()
    for ep in eps:
        for s, r, s2, term in zip(ep["states"], ep["rewards"], ep["next_states"], ep["terminated"],
                                  strict=True):
            target = r if term else r + gamma * V[s2]
            V[s] += alpha * (target - V[s])
    return V


def ref_mc(eps, alpha, gamma, V, first_visit):
    V, N = V.copy(), np.zeros_like(V)
    for ep in eps:
        G, Gs = 0.0, []
        for r in ep["rewards"][::-1]:
            G = r + gamma * G
            Gs.append(G)
        Gs = Gs[::-1]
        seen = set()
        for s, G in zip(ep["states"], Gs, strict=True):
            if first_visit and s in seen:
                continue
            seen.add(s)
            if alpha is None:
                N[s] += 1
                V[s] += (G - V[s]) / N[s]
            else:
                V[s] += alpha * (G - V[s])
    return V


def ref_nstep(eps, n, alpha, gamma, V):
    V = V.copy()
    for ep in eps:
        S = list(ep["states"]) + [ep["next_states"][-1]]
        Rw = [0.0] + list(ep["rewards"])
        T = len(ep["rewards"])
        assert ep["terminated"][-1]
        for t in range(T + n - 1):
            tau = t - n + 1
            if tau >= 0:
                G = sum(gamma ** (i - tau - 1) * Rw[i] for i in range(tau + 1, min(tau + n, T) + 1))
                if tau + n < T:
                    G += gamma**n * V[S[tau + n]]
                V[S[tau]] += alpha * (G - V[S[tau]])
    return V


def ref_td_lambda(eps, lam, alpha, gamma, V, trace):
    V = V.copy()
    for ep in eps:
        e = np.zeros_like(V)
        for s, r, s2, term in zip(ep["states"], ep["rewards"], ep["next_states"], ep["terminated"],
                                  strict=True):
            delta = r + (0.0 if term else gamma * V[s2]) - V[s]
            e *= gamma * lam
            if trace == "accumulating":
                e[s] += 1.0
            else:
                e[s] = 1.0
            V += (alpha * delta) * e
    return V


def ref_offline_mc_sum(eps, alpha, gamma, V):
    """Every-visit constant-α MC with the increments of an episode summed and applied at its end."""
    V = V.copy()
    for ep in eps:
        G, Gs = 0.0, []
        for r in ep["rewards"][::-1]:
            G = r + gamma * G
            Gs.append(G)
        dV = np.zeros_like(V)
        for s, G in zip(ep["states"], Gs[::-1], strict=True):
            dV[s] += alpha * (G - V[s])
        V += dV
    return V


def ce_estimate(eps, S, gamma):
    """Certainty equivalence: the values of the maximum-likelihood model of the data."""
    N = np.zeros(S)
    Rs = np.zeros(S)
    C = np.zeros((S, S))
    for ep in eps:
        for s, r, s2, term in zip(ep["states"], ep["rewards"], ep["next_states"], ep["terminated"],
                                  strict=True):
            N[s] += 1
            Rs[s] += r
            if not term:
                C[s, s2] += 1
    vis = np.flatnonzero(N)
    P_hat = C[np.ix_(vis, vis)] / N[vis, None]
    v = np.linalg.solve(np.eye(vis.size) - gamma * P_hat, Rs[vis] / N[vis])
    return vis, v


# ----------------------------------------------------------------------------------------------
# kernels == textbook loops on the same episodes
# ----------------------------------------------------------------------------------------------

def test_td0_is_the_textbook_loop(grid_tr):
    grid, tr = grid_tr
    res = estimate_values(tr, "td", alpha=0.2, terminal=grid.terminal)
    for r in range(tr.runs):
        np.testing.assert_array_equal(res.values_runs[r], ref_td0(tr.episode_list(r), 0.2, 0.9, np.zeros(16)))


@pytest.mark.parametrize(("method", "alpha", "first"), [("every-visit-mc", 0.05, False), ("mc", 0.05, True),
                                                        ("mc", None, True), ("every-visit-mc", None, False)])
def test_monte_carlo_is_the_textbook_loop(walk_tr, method, alpha, first):
    res = estimate_values(walk_tr, method, alpha=alpha, init=0.5, terminal=[1, 0, 0, 0, 0, 0, 1])
    V0 = np.r_[0, [0.5] * 5, 0]
    for r in range(walk_tr.runs):
        np.testing.assert_allclose(res.values_runs[r], ref_mc(walk_tr.episode_list(r), alpha, 1.0, V0, first),
                                   rtol=0, atol=1e-13)


@pytest.mark.parametrize("n", [1, 3, 50])
def test_nstep_td_is_the_textbook_loop(grid_tr, n):
    grid, tr = grid_tr
    res = estimate_values(tr, "nstep", alpha=0.3, n=n, terminal=grid.terminal)
    for r in range(tr.runs):
        ref = ref_nstep(tr.episode_list(r), n, 0.3, 0.9, np.zeros(16))
        np.testing.assert_allclose(res.values_runs[r], ref, rtol=0, atol=1e-12)
    if n == 1:
        td = estimate_values(tr, "td", alpha=0.3, terminal=grid.terminal)
        np.testing.assert_array_equal(res.values_runs, td.values_runs)


@pytest.mark.parametrize("trace", ["accumulating", "replacing"])
def test_td_lambda_is_the_textbook_loop(grid_tr, trace):
    grid, tr = grid_tr
    res = estimate_values(tr, "td-lambda", alpha=0.1, lam=0.8, trace=trace, terminal=grid.terminal)
    for r in range(tr.runs):
        ref = ref_td_lambda(tr.episode_list(r), 0.8, 0.1, 0.9, np.zeros(16), trace)
        np.testing.assert_allclose(res.values_runs[r], ref, rtol=0, atol=1e-12)
    # lambda = 0 is TD(0), bit for bit, with either trace
    lam0 = estimate_values(tr, "td-lambda", alpha=0.1, lam=0.0, trace=trace, terminal=grid.terminal)
    td0 = estimate_values(tr, "td", alpha=0.1, terminal=grid.terminal)
    np.testing.assert_array_equal(lam0.values_runs, td0.values_runs)
    np.testing.assert_array_equal(lam0.rmse_runs is None, td0.rmse_runs is None)


def test_offline_td1_with_accumulating_traces_is_monte_carlo(walk_tr):
    term = [1, 0, 0, 0, 0, 0, 1]
    res = estimate_values(walk_tr, "td-lambda", alpha=0.05, lam=1.0, offline=True, init=0.5, terminal=term)
    V0 = np.r_[0, [0.5] * 5, 0]
    for r in range(walk_tr.runs):
        ref = ref_offline_mc_sum(walk_tr.episode_list(r), 0.05, 1.0, V0)
        np.testing.assert_allclose(res.values_runs[r], ref, rtol=0, atol=1e-12)
    # online TD(1) differs from it only by the within-episode changes of V: close, not equal
    online = estimate_values(walk_tr, "td-lambda", alpha=0.05, lam=1.0, init=0.5, terminal=term)
    mc = estimate_values(walk_tr, "every-visit-mc", alpha=0.05, init=0.5, terminal=term)
    assert np.abs(online.values_runs - res.values_runs).max() < 0.05
    assert np.abs(mc.values_runs - res.values_runs).max() < 0.05


# ----------------------------------------------------------------------------------------------
# batch updating (S&B Section 6.3, Figure 6.2 right)
# ----------------------------------------------------------------------------------------------

def test_batch_td_is_the_certainty_equivalence_estimate(walk_tr):
    res = estimate_values(walk_tr, "batch-td", init=0.5, terminal=[1, 0, 0, 0, 0, 0, 1], record_values=True,
                          batch_tol=1e-14, exact=TRUE_WALK)
    assert res.info["converged"]
    for r in range(walk_tr.runs):
        eps = walk_tr.episode_list(r)
        for k in (0, 4, 29):
            vis, v = ce_estimate(eps[: k + 1], 7, 1.0)
            V = res.values_history[r, k + 1]
            np.testing.assert_allclose(V[vis], v, rtol=0, atol=1e-9)
            unseen = np.setdiff1d(np.arange(1, 6), vis)
            np.testing.assert_array_equal(V[unseen], 0.5)          # never visited: the initial value


def test_batch_td_certainty_equivalence_with_discount():
    mrp = load("student-mrp").with_gamma(0.9)
    tr = rollout(ModelSource(mrp, start="uniform"), None, episodes=20, runs=3, seed=2)
    res = estimate_values(tr, "batch-td", terminal=mrp.terminal, batch_tol=1e-13)
    for r in range(3):
        vis, v = ce_estimate(tr.episode_list(r), 7, 0.9)
        np.testing.assert_allclose(res.values_runs[r, vis], v, rtol=0, atol=1e-8)


@pytest.mark.parametrize("first_visit", [False, True])
def test_batch_mc_is_the_sample_mean_of_the_returns(walk_tr, first_visit):
    res = estimate_values(walk_tr, "batch-mc", first_visit=first_visit, init=0.5,
                          terminal=[1, 0, 0, 0, 0, 0, 1])
    for r in range(walk_tr.runs):
        returns: dict[int, list[float]] = {}
        for ep in walk_tr.episode_list(r):
            G = ep["rewards"].sum()                                # gamma = 1
            seen = set()
            for t, s in enumerate(ep["states"]):
                if first_visit and s in seen:
                    continue
                seen.add(s)
                returns.setdefault(int(s), []).append(ep["rewards"][t:].sum())
            assert G in (0.0, 1.0)
        for s, g in returns.items():
            assert res.values_runs[r, s] == pytest.approx(np.mean(g), abs=1e-12)


def test_batch_td_beats_batch_mc_on_the_random_walk():
    """S&B Figure 6.2 (right): averaged over 100 runs, batch TD's RMS error is below batch MC's."""
    walk = sb_random_walk()
    td = evaluate_policy(walk, method="batch-td", episodes=60, runs=100, init=0.5, seed=1, batch_tol=1e-9)
    mc = evaluate_policy(walk, method="batch-mc", episodes=60, runs=100, init=0.5, seed=1)
    d = mc.rmse_runs[:, -1] - td.rmse_runs[:, -1]                  # paired: same episodes
    assert d.mean() > 4 * d.std(ddof=1) / np.sqrt(d.size)
    assert td.rmse < 0.06 and mc.rmse > td.rmse


# ----------------------------------------------------------------------------------------------
# statistics against the exact values
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transition_rewards", [True, False])
def test_td_beats_constant_alpha_mc_on_the_random_walk(transition_rewards):
    """S&B Example 6.2: 100 runs x 100 episodes, values initialised to 0.5; the best TD(0) step
    size ends with a clearly smaller RMS error than the best constant-α MC step size."""
    walk = sb_random_walk() if transition_rewards else expected_reward_walk()
    kw = dict(episodes=100, runs=100, init=0.5, seed=2024)
    td = evaluate_policy_sweep(walk, method="td", alphas=[0.05, 0.1, 0.15], **kw)
    mc = evaluate_policy_sweep(walk, method="every-visit-mc", alphas=[0.01, 0.02, 0.03, 0.04], **kw)
    np.testing.assert_allclose(td[0].exact, TRUE_WALK, atol=1e-12)
    best_td = min(td, key=lambda r: r.rmse)
    best_mc = min(mc, key=lambda r: r.rmse)
    se = np.hypot(best_td.rmse_runs[:, -1].std(ddof=1), best_mc.rmse_runs[:, -1].std(ddof=1)) / 10
    assert best_mc.rmse - best_td.rmse > 4 * se
    assert best_td.rmse < 0.07 and best_mc.rmse > 0.07
    # the curves start at the RMS error of the initial values and go down
    assert best_td.rmse_initial == pytest.approx(np.sqrt(np.mean((0.5 - TRUE_WALK[1:6]) ** 2)))
    assert best_td.rmse_curve[0] < best_td.rmse_initial and best_td.rmse_curve.shape == (100,)


def test_sweep_equals_separate_calls():
    walk = sb_random_walk()
    sweep = evaluate_policy_sweep(walk, method="nstep", alphas=[0.1, 0.3], n=2, episodes=20, runs=7, seed=5)
    for a, res in zip([0.1, 0.3], sweep, strict=True):
        one = evaluate_policy(walk, method="nstep", alpha=a, n=2, episodes=20, runs=7, seed=5)
        np.testing.assert_array_equal(res.values_runs, one.values_runs)
        np.testing.assert_allclose(res.rmse_runs, one.rmse_runs, rtol=0, atol=1e-15)
    tr = sweep[0].transitions
    many = estimate_values_sweep(tr, "td-lambda", [0.2, None, 0.05], lam=0.5, exact=TRUE_WALK,
                                 terminal=walk.terminal)
    assert [m.params["alpha"] for m in many] == [0.2, 0.1, 0.05]   # None: the method's default
    for m in many:
        one = estimate_values(tr, "td-lambda", alpha=m.params["alpha"], lam=0.5, exact=TRUE_WALK,
                              terminal=walk.terminal)
        np.testing.assert_array_equal(m.values_runs, one.values_runs)


def test_first_visit_mc_on_the_student_mrp_is_within_its_confidence_interval():
    mrp = load("student-mrp")
    res = evaluate_policy(mrp, method="mc", episodes=40, runs=200, start="uniform", seed=7)
    # exact values by an independent linear solve on the transient states (D. Silver's slide rounds
    # them to C1 -13, C2 1.5, C3 4.3, Pass 10, Pub 0.8, FB -23)
    t = ~mrp.terminal
    v = np.linalg.solve(np.eye(t.sum()) - mrp.P[np.ix_(t, t)], mrp.R[t])
    np.testing.assert_allclose(res.exact[t], v, atol=1e-10)
    np.testing.assert_allclose(res.exact, [-13, 1.5, 4.3, 10, 0.8, -23, 0], atol=0.5)
    assert (res.visits[:, :6] > 0).all()
    se = res.values_runs.std(axis=0, ddof=1) / np.sqrt(res.runs)
    assert (np.abs(res.values - res.exact) <= 4 * se + 1e-12).all()
    assert res.rmse_of_mean < res.rmse


def test_optimal_policy_and_exact_values_of_an_mdp():
    lake = "gym:FrozenLake-v1"
    res = evaluate_policy(lake, "optimal", method="td", alpha=0.05, episodes=50, runs=4, seed=0)
    model = load(lake)
    from rlkit.mdp import policy_iteration

    np.testing.assert_allclose(res.exact, evaluate(model, policy_iteration(model).policy).values, atol=1e-12)
    assert res.rmse_curve.shape == (50,) and np.isfinite(res.rmse)


def test_gymnasium_env_without_model():
    env = gym.make("FrozenLake-v1", map_name="4x4")
    res = evaluate_policy(env, "uniform", method="td-lambda", lam=0.5, episodes=30, runs=3, seed=1,
                          gamma=0.95)
    assert res.exact is None and res.rmse is None and res.rmse_curve is None
    assert res.values.shape == (16,) and np.isfinite(res.values).all()
    assert res.values[15] == 0.0                                   # the goal is never a state to update


# ----------------------------------------------------------------------------------------------
# policies and bad input
# ----------------------------------------------------------------------------------------------

def test_policy_files(tmp_path):
    grid = load("gridworld-4x4").with_gamma(0.9)      # a random deterministic policy may loop
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=16)
    idx = rng.integers(0, 4, size=16)
    np.save(tmp_path / "p.npy", pi)
    np.savetxt(tmp_path / "p.csv", idx, delimiter=",", fmt="%d")
    (tmp_path / "p.json").write_text(json.dumps({"policy": pi.tolist()}))
    kw = dict(method="td", episodes=5, runs=2, seed=0, max_steps=200)
    base = evaluate_policy(grid, pi, **kw)
    for f in ("p.npy", "p.json"):
        np.testing.assert_array_equal(evaluate_policy(grid, str(tmp_path / f), **kw).values_runs,
                                      base.values_runs)
    det = evaluate_policy(grid, str(tmp_path / "p.csv"), **kw)
    np.testing.assert_array_equal(det.values_runs, evaluate_policy(grid, idx, **kw).values_runs)
    np.save(tmp_path / "bad.npy", np.full((15, 4), 0.25))
    with pytest.raises(RlkitError, match=r"bad\.npy.*shape \(15, 4\)"):
        evaluate_policy(grid, str(tmp_path / "bad.npy"), **kw)
    np.save(tmp_path / "rows.npy", np.full((16, 4), 0.3))
    with pytest.raises(RlkitError, match="sum to 1"):
        evaluate_policy(grid, str(tmp_path / "rows.npy"), **kw)
    with pytest.raises(RlkitError, match="not found"):
        evaluate_policy(grid, str(tmp_path / "none.npy"), **kw)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "sarsa"}, "unknown prediction method"),
    ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
    ({"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
    ({"method": "td-lambda", "lam": 1.2}, r"lambda must be in \[0, 1\]"),
    ({"method": "td-lambda", "lam": -0.1}, r"lambda must be in \[0, 1\]"),
    ({"episodes": 0}, "episodes must be"),
    ({"runs": 0}, "runs must be"),
    ({"method": "nstep", "n": 0}, "n must be"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(RlkitError, match=match):
        evaluate_policy("random-walk", **kwargs)


def test_uniform_policy_uses_the_available_actions():
    from rlkit.tabular import make_source, resolve_policy

    src = make_source("student-mdp")
    mask = np.asarray(src.meta["action_mask"])
    pi = resolve_policy("uniform", src)
    np.testing.assert_allclose(pi, mask / mask.sum(axis=1, keepdims=True))
    res = evaluate_policy("student-mdp", "uniform", method="td", episodes=5, runs=2, seed=0)
    np.testing.assert_allclose(res.exact, evaluate(load("student-mdp"), pi).values)
    # D. Silver, lecture 2: the uniform random policy on the student MDP, gamma = 1
    np.testing.assert_allclose(res.exact[:4], [-2.3, -1.3, 2.7, 7.4], atol=0.05)
