"""The many-run sampler of rlkit.tabular: same streams as a plain loop, right frequencies, episodes,
truncation, Gymnasium sources and the errors for non-discrete spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, MRP
from rlkit.mdp.io import load
from rlkit.seeding import as_generator
from rlkit.tabular.sampling import GymSource, ModelSource, RunStreams, make_source, rollout


def sb_random_walk() -> MRP:
    """The catalog's random walk, which keeps S&B's reward per transition (+1 on entering the
    right end) for the sampler."""
    walk = load("random-walk")
    Rt = np.zeros((7, 7))
    Rt[5, 6] = 1.0
    np.testing.assert_array_equal(walk.meta["transition_rewards"], Rt)
    return walk


def plain_loop(P, R_of, start, terminal, policy, runs, episodes, seed, max_steps=10_000):
    """Textbook sampling, one run at a time with ``rng.choice``: returns per run the list of
    (s, a, r, s', terminated, end) tuples."""
    out = []
    for rng in as_generator(seed).spawn(runs):
        steps = []
        for _ in range(episodes):
            s = rng.choice(len(start), p=start)
            t = 0
            while True:
                a = 0 if policy is None else rng.choice(policy.shape[1], p=policy[s])
                row = P[s] if policy is None else P[a, s]
                s2 = rng.choice(len(row), p=row)
                t += 1
                term = bool(terminal[s2])
                end = term or t >= max_steps
                steps.append((s, a, R_of(s, a, s2), s2, term, end))
                s = s2
                if end:
                    break
        out.append(steps)
    return out


def stream_of(tr, r):
    m = tr.valid[r]
    return list(zip(tr.states[r, m].tolist(), tr.actions[r, m].tolist(), tr.rewards[r, m].tolist(),
                    tr.next_states[r, m].tolist(), tr.terminated[r, m].tolist(), tr.ends[r, m].tolist(),
                    strict=True))


def test_run_streams_are_the_spawned_generators_in_order():
    s5, s3 = RunStreams(7, 5, block=8), RunStreams(7, 3, block=8)
    gens = as_generator(7).spawn(5)
    expect = np.stack([g.random(30) for g in gens])
    got5 = np.stack([s5.draw() for _ in range(30)], axis=1)          # crosses several refills
    got3 = np.stack([s3.draw() for _ in range(30)], axis=1)
    np.testing.assert_array_equal(got5, expect)
    np.testing.assert_array_equal(got3, expect[:3])                 # run r does not depend on R
    # drawing for some runs only advances only those
    s = RunStreams(7, 5, block=4)
    a = s.draw(np.array([1, 3]))
    b = s.draw()
    np.testing.assert_array_equal(a, expect[[1, 3], 0])
    np.testing.assert_array_equal(b, [expect[0, 0], expect[1, 1], expect[2, 0], expect[3, 1], expect[4, 0]])


@pytest.mark.parametrize("max_steps", [10_000, 3])
def test_mrp_rollout_is_the_plain_loop_run_by_run(max_steps):
    walk = sb_random_walk()
    src = ModelSource(walk)
    assert src.start[3] == 1.0                                      # the catalog starts in C
    tr = rollout(src, None, episodes=20, runs=5, seed=11, max_steps=max_steps)
    ref = plain_loop(walk.P, lambda s, a, s2: float(s2 == 6 and s == 5), src.start, walk.terminal, None,
                     5, 20, 11, max_steps)
    for r in range(5):
        assert stream_of(tr, r) == ref[r]
    assert (tr.lengths <= max_steps).all()
    if max_steps == 3:
        assert (tr.ends & ~tr.terminated).any()                     # some episodes were truncated


def test_mdp_rollout_with_stochastic_policy_is_the_plain_loop():
    grid = load("gridworld-4x4")
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(grid.n_actions) * 3, size=grid.n_states)
    pi[:8, 1] = 0.0                                                 # zero-probability actions
    pi /= pi.sum(axis=1, keepdims=True)
    src = ModelSource(grid)
    tr = rollout(src, pi, episodes=8, runs=3, seed=5)
    ref = plain_loop(grid.P, lambda s, a, s2: float(grid.R[s, a]), src.start, grid.terminal, pi, 3, 8, 5)
    for r in range(3):
        assert stream_of(tr, r) == ref[r]
    assert not (tr.actions[tr.valid & (tr.states < 8)] == 1).any()


def test_sparse_model_samples_the_same_as_dense():
    rng = np.random.default_rng(3)
    S, A = 9, 3
    P = rng.dirichlet(np.ones(S) * 0.3, size=(A, S))
    P[P < 0.05] = 0.0
    P /= P.sum(axis=2, keepdims=True)
    P[:, 0] = 0.0
    P[:, 0, 0] = 1.0                                                # state 0 terminal
    R = rng.normal(size=(S, A))
    R[0] = 0.0
    dense = MDP(P, R, 0.9, terminal=[0])
    sparse = MDP([sp.csr_matrix(P[a]) for a in range(A)], R, 0.9, terminal=[0])
    pi = np.full((S, A), 1 / A)
    a = rollout(ModelSource(dense), pi, episodes=30, runs=4, seed=2)
    b = rollout(ModelSource(sparse), pi, episodes=30, runs=4, seed=2)
    for name in ("states", "actions", "rewards", "next_states", "ends"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_transition_frequencies_match_the_model():
    rng = np.random.default_rng(8)
    S, A = 5, 2
    P = rng.dirichlet(np.ones(S), size=(A, S))
    mdp = MDP(P, np.zeros((S, A)), 0.9)                             # continuing: episodes truncated
    tr = rollout(ModelSource(mdp, start="uniform"), np.full((S, A), 0.5), episodes=40, runs=50, seed=1,
                 max_steps=100)
    assert (tr.lengths == 100).all() and not tr.terminated.any()
    counts = np.zeros((A, S, S))
    v = tr.valid
    np.add.at(counts, (tr.actions[v], tr.states[v], tr.next_states[v]), 1)
    n = counts.sum(axis=2, keepdims=True)
    assert (n > 5000).all()
    freq = counts / n
    sd = np.sqrt(P * (1 - P) / n)
    assert (np.abs(freq - P) <= 5 * sd + 1e-12).all()               # 5 sigma, 50 cells


def test_episode_bookkeeping():
    tr = rollout(ModelSource(sb_random_walk()), None, episodes=25, runs=6, seed=0)
    assert tr.lengths.shape == (6, 25) and (tr.lengths >= 3).all()  # C needs >= 3 steps to an end
    assert (tr.valid.sum(axis=1) == tr.lengths.sum(axis=1)).all()
    assert (tr.ends.sum(axis=1) == 25).all() and (tr.ends == tr.terminated).all()
    for r in range(6):
        eps = tr.episode[r, tr.valid[r]]
        assert (np.diff(eps) >= 0).all() and eps[0] == 0 and eps[-1] == 24
        assert (tr.states[r, tr.valid[r]][np.r_[0, np.flatnonzero(tr.ends[r])[:-1] + 1]] == 3).all()
    np.testing.assert_array_equal(tr.returns, np.where(tr.returns > 0, 1.0, 0.0))  # 0 or +1 per episode
    G = tr.discounted_returns(1.0)
    first = np.r_[0, np.flatnonzero(tr.ends[0])[:-1] + 1]
    np.testing.assert_array_equal(G[0, first], tr.returns[0])


def test_gym_source_without_model_discrete_env():
    env = gym.make("FrozenLake-v1", is_slippery=True)
    src = make_source(env, runs=3, gamma=0.9)
    assert isinstance(src, GymSource) and src.model is None and src.n_states == 16
    pi = np.full((16, 4), 0.25)
    a = rollout(src, pi, episodes=10, runs=3, seed=4)
    b = rollout(make_source(gym.make("FrozenLake-v1", is_slippery=True), runs=3, gamma=0.9), pi,
                episodes=10, runs=3, seed=4)
    np.testing.assert_array_equal(a.states, b.states)               # seeded envs: reproducible
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert (a.ends.sum(axis=1) == 10).all()
    assert set(np.unique(a.rewards[a.valid])) <= {0.0, 1.0}
    # the env's time limit (100 steps) truncates: an end that is not a termination
    assert np.all(a.lengths <= 100)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1"])
def test_non_discrete_observations_point_to_the_neural_methods(env_id):
    with pytest.raises(RlkitError, match=r"Discrete observation space.*rlkit\.tabular\.neural"):
        make_source(f"gym:{env_id}", method="td")
    with pytest.raises(RlkitError, match="'q-learning'"):
        make_source(gym.make(env_id), method="q-learning")


def test_bad_inputs():
    walk = sb_random_walk()
    with pytest.raises(RlkitError, match="episodes"):
        rollout(ModelSource(walk), None, episodes=0)
    with pytest.raises(RlkitError, match="terminal"):
        ModelSource(walk, start="left")
    with pytest.raises(RlkitError, match="unknown state"):
        ModelSource(walk, start="Z")
    with pytest.raises(RlkitError, match="Markov chain"):
        ModelSource(walk.chain)


def test_callable_policy_takes_the_generic_path_with_the_same_streams():
    grid = load("gridworld-4x4")
    pi = np.random.default_rng(1).dirichlet(np.ones(4) * 2, size=16)
    src = ModelSource(grid)
    fast = rollout(src, pi, episodes=6, runs=4, seed=3, max_steps=12)
    generic = rollout(src, lambda states: pi[states], episodes=6, runs=4, seed=3, max_steps=12)
    for name in ("states", "actions", "rewards", "next_states", "terminated", "ends", "valid", "episode",
                 "lengths", "returns"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(generic, name))
