"""Returns-to-go and GAE against a plain per-episode loop, on integer and float32 inputs too (the
results are float64 whatever the input: an integer reward must not truncate a discounted return).
"""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.agents.rollout import gae, returns_to_go


def loop_returns(r, gamma, dones, boot):
    """G_t per column, walking back: restart at every cut with its bootstrap value."""
    T, N = r.shape
    G = np.zeros((T, N))
    for n in range(N):
        g = 0.0
        for t in range(T - 1, -1, -1):
            cont = g if (t < T - 1 and not dones[t, n]) else boot[t, n]
            g = r[t, n] + gamma * cont
            G[t, n] = g
    return G


def loop_gae(r, v, gamma, lam, dones, boot):
    T, N = r.shape
    A = np.zeros((T, N))
    for n in range(N):
        a = 0.0
        for t in range(T - 1, -1, -1):
            cut = t == T - 1 or dones[t, n]
            delta = r[t, n] + gamma * (boot[t, n] if cut else v[t + 1, n]) - v[t, n]
            a = delta + (0.0 if cut else gamma * lam * a)
            A[t, n] = a
    return A


@pytest.fixture
def batch():
    rng = np.random.default_rng(7)
    T, N = 9, 4
    r = rng.integers(-3, 4, size=(T, N))                    # integers on purpose
    dones = rng.random((T, N)) < 0.3
    boot = np.where(dones, rng.integers(0, 5, size=(T, N)), 0)
    boot[-1] = rng.integers(1, 5, size=N)
    v = rng.integers(-2, 3, size=(T, N))
    return r, v, dones, boot


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_returns_to_go_is_the_loop_in_float64(batch, dtype):
    r, _, dones, boot = batch
    out = returns_to_go(r.astype(dtype), 0.9, dones, boot.astype(dtype))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, loop_returns(r.astype(float), 0.9, dones, boot.astype(float)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_gae_is_the_loop_in_float64(batch, dtype, lam):
    r, v, dones, boot = batch
    out = gae(r.astype(dtype), v.astype(dtype), 0.9, lam, dones, boot.astype(dtype))
    assert out.dtype == np.float64
    ref = loop_gae(r.astype(float), v.astype(float), 0.9, lam, dones, boot.astype(float))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def _random_rollout(seed=3, T=8, N=5):
    from test_reinforce_math import _rollout

    rng = np.random.default_rng(seed)
    rewards = rng.integers(-2, 3, size=(T, N)).astype(float)
    ends = rng.random((T, N)) < 0.35
    kind = rng.random((T, N)) < 0.5
    term, trunc = ends & kind, ends & ~kind
    term[-1, :2], trunc[-1, :2] = [True, False], [False, True]     # a termination and a cut at the end
    term[-1, 2:], trunc[-1, 2:] = False, False                        # the rest run past the rollout
    valid = np.ones((T, N), bool)
    valid[0, 4] = False                                                # a step already left out
    return _rollout(rewards, term, trunc, valid=valid), rewards, term, trunc, rng


def _reference_boot(term, trunc, final_values, last_values):
    boot = np.where(trunc, final_values, 0.0)
    boot[-1] = np.where(term[-1] | trunc[-1], boot[-1], last_values)
    return boot


@pytest.mark.parametrize("lam", [None, 0.0, 0.8])
def test_compute_advantages_with_a_value_net_is_the_loop(lam):
    from rlkit.agents.reinforce import compute_advantages

    ro, r, term, trunc, rng = _random_rollout()
    values = rng.normal(size=r.shape)
    final_values = rng.normal(size=r.shape) * 5
    last_values = rng.normal(size=r.shape[1]) * 5
    adv, targets, valid = compute_advantages(ro, 0.9, values=values, final_values=final_values,
                                             last_values=last_values, gae_lambda=lam, reward_scale=2.0)
    boot = _reference_boot(term, trunc, final_values, last_values)
    dones = term | trunc
    G = loop_returns(2.0 * r, 0.9, dones, boot)
    if lam is None:
        np.testing.assert_allclose(targets, G, rtol=1e-12)
        np.testing.assert_allclose(adv, G - values, rtol=1e-12)
    else:
        A = loop_gae(2.0 * r, values, 0.9, lam, dones, boot)
        np.testing.assert_allclose(adv, A, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(targets, A + values, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(valid, ro.valid)


def test_compute_advantages_without_a_value_net():
    from rlkit.agents.reinforce import compute_advantages

    ro, r, term, trunc, _ = _random_rollout(seed=4)
    dones = term | trunc
    G = loop_returns(r, 0.9, dones, np.zeros_like(r))
    adv, targets, valid = compute_advantages(ro, 0.9)
    np.testing.assert_allclose(targets, G, rtol=1e-12)
    np.testing.assert_allclose(adv, G, rtol=1e-12)                     # no baseline: A = G
    np.testing.assert_array_equal(valid, ro.valid)                      # nothing left out by default
    adv, _, valid = compute_advantages(ro, 0.9, baseline=1.5, exclude_incomplete=True)
    np.testing.assert_allclose(adv, G - 1.5, rtol=1e-12)
    finished = np.flip(np.logical_or.accumulate(np.flip(dones, 0), axis=0), 0)
    np.testing.assert_array_equal(valid, ro.valid & finished)
