"""True online TD(λ) (rlkit.tabular.true_online, registered as ``true-online-td-lambda``) against
independent computations: the online λ-return algorithm of S&B section 12.4 computed by brute
force (every horizon redone from the episode's start), TD(0) at λ = 0, constant-α every-visit
Monte Carlo at λ = 1, and the exact values of the random walk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.mdp import solve_mrp
from rlkit.mdp.io import load
from rlkit.tabular import ModelSource, estimate_values, evaluate_policy, rollout


def _nstep(R, S2, term, diag, gamma, t, n):
    """G_{t:t+n}: n rewards, then γ^n w_{t+n-1}(S_{t+n}) unless the episode terminated at t + n."""
    T = len(R)
    g = sum(gamma**k * R[t + k] for k in range(n))
    if not (t + n == T and term[T - 1]):
        g += gamma**n * diag[t + n - 1][S2[t + n - 1]]
    return g


def online_lambda_return(episodes: list[dict], alpha: float, gamma: float, lam: float,
                         V0: np.ndarray) -> np.ndarray:
    """S&B's online λ-return algorithm (eq. 12.10), tabular, by brute force.

    For every horizon h = 1..T of an episode the updates w_{t+1}^h = w_t^h + α [G_{t:h}^λ -
    w_t^h(S_t)] e_{S_t} are redone for t = 0..h-1 from the weights at the episode's start; the
    n-step returns inside G_{t:h}^λ bootstrap from w_{t+n-1} = w_{t+n-1}^{t+n-1}, the weights of
    the diagonal (eq. 12.9)."""
    w = V0.astype(float).copy()
    for ep in episodes:
        S, R, S2, term = ep["states"], ep["rewards"], ep["next_states"], ep["terminated"]
        T = len(S)
        diag = [w.copy()]                                  # diag[k] = w_k^k
        for h in range(1, T + 1):
            wh = diag[0].copy()
            for t in range(h):
                G = (1 - lam) * sum(lam ** (n - 1) * _nstep(R, S2, term, diag, gamma, t, n)
                                    for n in range(1, h - t)) \
                    + lam ** (h - t - 1) * _nstep(R, S2, term, diag, gamma, t, h - t)
                wh[S[t]] += alpha * (G - wh[S[t]])
            diag.append(wh)
        w = diag[T]
    return w


@pytest.fixture(scope="module")
def walk():
    return load("random-walk")


@pytest.fixture(scope="module")
def short_tr(walk):
    """A few short random-walk episodes, discounted so that every term of the λ-return counts."""
    return rollout(ModelSource(walk.with_gamma(0.9), start=3), None, episodes=6, runs=3, seed=5)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.8, 1.0])
def test_equals_the_online_lambda_return_algorithm_by_brute_force(walk, short_tr, lam):
    V0 = np.where(walk.terminal, 0.0, 0.5)
    res = estimate_values(short_tr, "true-online-td-lambda", alpha=0.3, lam=lam, init=0.5,
                          terminal=walk.terminal, gamma=0.9)
    assert res.params == {"alpha": 0.3, "lambda": lam}
    for r in range(short_tr.runs):
        ref = online_lambda_return(short_tr.episode_list(r), 0.3, 0.9, lam, V0)
        np.testing.assert_allclose(res.values_runs[r], ref, rtol=0, atol=1e-12)
    # and it learned something: the values moved away from the initial 0.5
    assert np.abs(res.values_runs - V0).max() > 0.05


def test_gridworld_with_truncated_episodes_matches_the_brute_force_too():
    """Truncated episodes bootstrap from their last state, like the λ-return with h = T < ∞."""
    grid = load("gridworld-4x4").with_gamma(0.9)
    tr = rollout(ModelSource(grid), np.full((16, 4), 0.25), episodes=5, runs=2, seed=2, max_steps=6)
    assert (~tr.terminated[tr.ends]).any()              # some episodes were cut
    res = estimate_values(tr, "true-online-td-lambda", alpha=0.2, lam=0.7, terminal=grid.terminal, gamma=0.9)
    for r in range(tr.runs):
        eps = tr.episode_list(r)
        for ep, end in zip(eps, np.flatnonzero(tr.ends[r]), strict=True):
            ep["terminated"] = np.r_[ep["terminated"][:-1], tr.terminated[r, end]]
        ref = online_lambda_return(eps, 0.2, 0.9, 0.7, np.zeros(16))
        np.testing.assert_allclose(res.values_runs[r], ref, rtol=0, atol=1e-12)


def test_lambda_zero_is_td0_and_lambda_one_is_every_visit_constant_alpha_mc(walk):
    tr = rollout(ModelSource(walk, start=3), None, episodes=40, runs=5, seed=11)
    kw = dict(alpha=0.1, init=0.5, terminal=walk.terminal, record_values=True)
    t0 = estimate_values(tr, "true-online-td-lambda", lam=0.0, **kw)
    td = estimate_values(tr, "td", **kw)
    np.testing.assert_allclose(t0.values_history, td.values_history, rtol=0, atol=1e-12)
    # λ = 1, γ = 1 and episodes that terminate: the λ-return is the Monte Carlo return, so at every
    # episode's end the values are those of every-visit constant-α MC applied step by step
    assert tr.terminated[tr.ends].all()
    t1 = estimate_values(tr, "true-online-td-lambda", lam=1.0, **kw)
    mc = estimate_values(tr, "every-visit-mc", **kw)
    np.testing.assert_allclose(t1.values_history, mc.values_history, rtol=0, atol=1e-12)
    assert np.abs(t1.values_history - t0.values_history).max() > 0.05   # λ matters


def test_converges_to_the_exact_values_of_the_random_walk(walk):
    exact = np.asarray(solve_mrp(walk).values)
    np.testing.assert_allclose(exact[1:6], np.arange(1, 6) / 6, atol=1e-12)   # by hand: k / 6
    res = evaluate_policy(walk, method="true-online-td-lambda", lam=0.8, alpha=0.02, episodes=400,
                          runs=40, start=3, init=0.5, seed=0)
    np.testing.assert_allclose(res.exact, exact, atol=1e-12)
    assert res.rmse_initial > 0.2
    assert res.rmse < 0.06 and res.rmse_of_mean < 0.02
    np.testing.assert_allclose(res.values[1:6], np.arange(1, 6) / 6, atol=0.03)


def test_cli_runs_it_and_rejects_flags_it_does_not_take(cli):
    code, out, err = cli("evaluate-policy", "random-walk", "--method", "true-online-td-lambda", "--lambda",
                         "0.8", "--episodes", "30", "--runs", "5", "--alpha", "0.1", "--init", "0.5",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["method"] == "true-online-td-lambda" and d["params"] == {"alpha": 0.1, "lambda": 0.8}
    assert d["rmse"] < d["rmse_initial"]
    code, out, err = cli("evaluate-policy", "random-walk", "--method", "true-online-td-lambda", "--trace",
                         "replacing")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "--trace does not apply to --method true-online-td-lambda" in err and "--lambda" in err
