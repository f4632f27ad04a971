"""Neural prediction (rlkit.tabular.neural): semi-gradient TD(0), TD(lambda), gradient MC.

Where the truth is known: with one-hot features and no hidden layer the value network is a table,
so (1) its updates must equal the tabular updates replayed by hand on the same experience, and
(2) with a decaying step size it converges to the exact values of rlkit.mdp.evaluate (the random
walk: 1/6 .. 5/6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _walk import walk_mdp

from rlkit.errors import RlkitError
from rlkit.tabular.neural import (
    ValueNetwork,
    gradient_mc,
    neural_prediction,
    semi_gradient_td,
    semi_gradient_td_lambda,
)

TABLE = {"type": "mlp", "hidden": []}
TRUE_RW = np.arange(1, 6) / 6  # S&B Example 6.2


class RecordingPolicy:
    """Uniform random actions from its own generator, recording what it saw and did."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.log: list[tuple[int, int]] = []

    def __call__(self, obs):
        obs = np.asarray(obs).reshape(-1)
        actions = self.rng.integers(2, size=len(obs))
        self.log.extend(zip(obs.tolist(), actions.tolist(), strict=True))
        return actions


def replay(log, *, alpha, alpha_decay, lam=None, mc=False, gamma=1.0):
    """Tabular TD(0) / TD(lambda) (accumulating traces) / summed every-visit MC on the logged walk."""
    V = np.zeros(7)
    z = np.zeros(7)
    k = 0
    episode = []
    for s, a in log:
        s2 = s + 1 if a == 1 else s - 1
        r = 1.0 if s2 == 6 else 0.0
        term = s2 in (0, 6)
        lr = alpha / (1 + alpha_decay * k)
        if mc:
            episode.append((s, r))
            if term:
                G, targets = 0.0, []
                for s_t, r_t in reversed(episode):
                    G = r_t + gamma * G
                    targets.append((s_t, G))
                old = V.copy()
                for s_t, G_t in targets:
                    V[s_t] += lr * (G_t - old[s_t])
                episode = []
        else:
            delta = r + (0.0 if term else gamma * V[s2]) - V[s]
            if lam is None:
                V[s] += lr * delta
            else:
                z *= gamma * lam
                z[s] += 1.0
                V += lr * delta * z
                if term:
                    z[:] = 0.0
        if term:
            k += 1
    return V


@pytest.mark.parametrize(
    "method,extra", [("td", {}), ("td-lambda", {"lam": 0.7}), ("mc", {})], ids=["td0", "td-lambda", "mc"]
)
def test_table_updates_equal_tabular_updates_replayed_by_hand(method, extra):
    policy = RecordingPolicy(seed=3)
    res = neural_prediction(
        walk_mdp(), policy, method=method, episodes=100, alpha=0.2, alpha_decay=0.05,
        net=TABLE, n_envs=1, seed=1, exact=np.r_[0.0, TRUE_RW, 0.0], **extra,
    )
    V = replay(policy.log, alpha=0.2, alpha_decay=0.05, lam=extra.get("lam"), mc=method == "mc")
    assert res.episodes == 100 and res.steps == len(policy.log)
    assert res.net.head.bias is None  # a table: v(s) = w[s], no shared bias
    np.testing.assert_allclose(res.values[1:6], V[1:6], atol=2e-5)
    assert res.rmse == pytest.approx(np.sqrt(np.mean((res.values[1:6] - TRUE_RW) ** 2)), abs=1e-9)


@pytest.mark.parametrize(
    "fn,kwargs,tol",
    [
        (semi_gradient_td, {}, 0.05),
        (semi_gradient_td_lambda, {"lam": 0.6}, 0.05),
        (gradient_mc, {}, 0.08),
    ],
    ids=["td0", "td-lambda", "mc"],
)
def test_one_hot_linear_value_converges_to_exact_values_on_random_walk(fn, kwargs, tol):
    res = fn("random-walk", "uniform", episodes=1500, alpha=0.1, alpha_decay=0.02, net=TABLE, n_envs=16,
             seed=0, **kwargs)
    # the exact values come from rlkit.mdp.evaluate; check them against the closed form first
    np.testing.assert_allclose(res.exact[1:6], TRUE_RW, atol=1e-12)
    assert res.eval_mask.tolist() == [False, True, True, True, True, True, False]
    assert res.rmse < tol, (res.values, res.rmse)
    curve = res.error_curve
    assert len(curve) == res.episodes == 1500 and len(res.loss_curve) == 1500
    assert curve[-100:].mean() < curve[:100].mean() / 3  # the error falls as it learns


@pytest.mark.slow
@pytest.mark.parametrize("method", ["td", "td-lambda", "mc"])
def test_long_run_gets_close_to_exact_values(method):
    res = neural_prediction("random-walk", method=method, episodes=16000, alpha=0.1, alpha_decay=0.05,
                            lam=0.5, net=TABLE, n_envs=32, seed=1)
    assert res.rmse < (0.015 if method != "mc" else 0.025), res.values


def test_td_lambda_zero_equals_td0_with_a_nonlinear_net():
    """TD(lambda=0) through per-sample gradients and traces = TD(0) through one batched backward."""
    kw = dict(episodes=12, alpha=1e-3, net={"type": "mlp", "hidden": [16]}, n_envs=4, seed=5)
    a = neural_prediction("CartPole-v1", method="td", **kw)
    b = neural_prediction("CartPole-v1", method="td-lambda", lam=0.0, **kw)
    for pa, pb in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-4)


def test_same_seed_same_numbers():
    kw = dict(method="td", episodes=100, alpha=0.1, net=TABLE, n_envs=4)
    a, b = neural_prediction("random-walk", seed=7, **kw), neural_prediction("random-walk", seed=7, **kw)
    c = neural_prediction("random-walk", seed=8, **kw)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.loss_curve, b.loss_curve)
    assert not np.array_equal(a.values, c.values)


def test_gridworld_optimal_policy_and_matrix_policies_are_scored_exactly():
    # deterministic moves and rewards: TD(0) with alpha = 1 sets V(s) = -1 + V(s'), exact once the
    # values have propagated back from the corners
    res = semi_gradient_td("gridworld-4x4", "optimal", episodes=200, alpha=1.0, net=TABLE, n_envs=1, seed=0)
    rows, cols = np.divmod(np.arange(16), 4)
    np.testing.assert_allclose(res.exact, -np.minimum(rows + cols, 6 - rows - cols), atol=1e-9)
    assert res.rmse < 1e-6
    probs = np.full((16, 4), 0.25)  # the uniform random policy as a matrix: S&B Figure 4.1's values
    res = semi_gradient_td("gridworld-4x4", probs, episodes=2, net=TABLE, seed=0)
    assert res.exact[1] == pytest.approx(-14.0) and res.exact[6] == pytest.approx(-20.0)


def test_cartpole_smoke_mc_loss_drops_and_td_values_are_sensible():
    mc = gradient_mc("CartPole-v1", episodes=300, alpha=3e-3, optimizer="adam", seed=0)
    assert np.isfinite(mc.loss_curve).all()
    assert mc.loss_curve[-30:].mean() < 0.7 * mc.loss_curve[:30].mean()
    td = semi_gradient_td("CartPole-v1", episodes=300, alpha=3e-3, optimizer="adam", seed=0)
    v0 = td.value(np.zeros((1, 4), dtype=np.float32))[0]
    # the discounted return of the random policy from a start state, estimated from the episodes
    returns = (1 - 0.99 ** td.episode_lengths) / (1 - 0.99)
    assert np.isfinite(v0) and abs(v0 - returns.mean()) < 0.35 * returns.mean()
    assert td.values is None and td.exact is None and td.rmse is None


def test_mnist_bandit_cnn_value_of_the_uniform_policy_is_one_tenth(mnist_dir):
    res = semi_gradient_td("rlkit/MNISTBandit-v0", "uniform", episodes=800, alpha=1e-2, optimizer="adam",
                           n_envs=16, env_kwargs={"split": "test", "data_dir": mnist_dir}, seed=0)
    assert res.net.cfg["type"] == "cnn"
    from rlkit.supervised.data import load_mnist

    images, _ = load_mnist("test", data_dir=mnist_dir)
    v = res.value(images[:256].numpy())
    assert abs(v.mean() - 0.1) < 0.04 and v.std() < 0.1


def test_value_network_encodes_discrete_observations_one_hot():
    from gymnasium import spaces

    net = ValueNetwork(spaces.Discrete(5), TABLE)
    with torch.no_grad():
        net.head.weight.copy_(torch.arange(5.0)[None])
    assert net.predict([4, 0, 2]).tolist() == [4.0, 0.0, 2.0]
    assert ValueNetwork(spaces.Discrete(5)).head.bias is not None  # an MLP keeps its bias
    with pytest.raises(RlkitError, match="batch norm"):
        ValueNetwork(spaces.Box(0, 255, (28, 28), np.uint8), {"type": "cnn", "preset": "lenet"})
    with pytest.raises(RlkitError, match="not supported"):
        ValueNetwork(spaces.Dict({"a": spaces.Discrete(2)}))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "sarsa"}, "unknown method"),
        ({"episodes": 0}, "episodes"),
        ({"alpha": 0.0}, "alpha"),
        ({"method": "td-lambda", "lam": 1.5}, "lambda"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"n_envs": 0}, "n_envs"),
        ({"gamma": 1.5}, "gamma"),
    ],
)
def test_bad_arguments_raise_rlkit_errors(kwargs, match):
    with pytest.raises(RlkitError, match=match):
        neural_prediction("random-walk", **{"episodes": 5, **kwargs})


def test_bad_policies_and_divergence_are_reported():
    with pytest.raises(RlkitError, match="unknown policy"):
        neural_prediction("random-walk", "greedy", episodes=5)
    with pytest.raises(RlkitError, match="tabular model"):
        neural_prediction("CartPole-v1", "optimal", episodes=5)
    with pytest.raises(RlkitError, match="diverged"):
        gradient_mc("CartPole-v1", episodes=200, alpha=5.0, seed=0)
