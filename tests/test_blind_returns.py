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
