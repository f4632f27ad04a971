"""rlkit/TabularMDP-v0, rlkit.envs.make and the registration of rlkit's environments."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rlkit.envs
from rlkit.envs.tabular_env import TabularMDPEnv
from rlkit.errors import RlkitError
from rlkit.mdp import MDP, MRP, MarkovChain


def two_state_loop() -> MDP:
    """Two states that never terminate: 'stay' keeps the state, 'move' flips it; reward = state index."""
    P = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    R = np.array([[0.0, 0.0], [1.0, 1.0]])
    return MDP(P, R, 0.9, states=["a", "b"], actions=["stay", "move"])


def noisy_mdp(sparse: bool = False) -> MDP:
    """3 states, 2 actions, stochastic rows, state 2 terminal."""
    P = np.array([
        [[0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.0, 0.0, 1.0]],
        [[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.0, 0.0, 1.0]],
    ])
    R = np.array([[1.0, -1.0], [2.0, 0.5], [0.0, 0.0]])
    mats = [sp.csr_array(P[a]) for a in range(2)] if sparse else P
    return MDP(mats, R, 0.95, states=["x", "y", "end"], actions=["l", "r"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spec": "gridworld-4x4"},
        {"spec": "random-walk"},
        {"spec": "student-mdp"},
        {"spec": "gym:FrozenLake-v1"},
        {"mdp": noisy_mdp(sparse=True)},
    ],
    ids=["gridworld", "random-walk-mrp", "student-mdp", "frozenlake", "sparse"],
)
def test_passes_gymnasium_and_sb3_env_checkers(kwargs):
    env = rlkit.envs.make("rlkit/TabularMDP-v0", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    assert isinstance(env.observation_space, gym.spaces.Discrete)
    assert env.observation_space.n == env.unwrapped.mdp.n_states


def test_gym_make_after_import_and_registration_is_idempotent():
    ids = rlkit.envs.register_envs()
    assert rlkit.envs.register_envs() == ids
    assert {"rlkit/TabularMDP-v0", "rlkit/MNISTBandit-v0", "rlkit/CartPoleNoVel-v1"} <= set(gym.registry)
    env = gym.make("rlkit/TabularMDP-v0", spec="gridworld-4x4")
    assert (env.observation_space.n, env.action_space.n) == (16, 4)
    assert env.spec.max_episode_steps == 1000


def test_transitions_follow_P_within_statistical_bounds():
    mdp = noisy_mdp()
    env = TabularMDPEnv(mdp=mdp, start="y")
    env.reset(seed=123)
    n = 20_000
    counts = np.zeros((2, 3))
    rewards = set()
    for a in (0, 1):
        for _ in range(n):
            env.state = 1  # from state y
            s2, r, *_ = env.step(a)
            counts[a, s2] += 1
            rewards.add((a, r))
    freq = counts / n
    p = mdp.P[:, 1, :]
    # 5 standard errors: a false failure has probability ~1e-6 per cell
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)
    assert rewards == {(0, 2.0), (1, 0.5)}  # the model's expected reward R[y, a]


def test_sparse_and_dense_models_give_the_same_trajectories():
    def rollout(env):
        out = []
        obs, _ = env.reset(seed=7)
        for t in range(200):
            obs, r, term, trunc, _ = env.step(t % 2)
            out.append((obs, r, term))
            if term:
                obs, _ = env.reset()
        return out

    assert rollout(TabularMDPEnv(mdp=noisy_mdp())) == rollout(TabularMDPEnv(mdp=noisy_mdp(sparse=True)))


def test_seed_reproduces_episode_and_other_seed_differs():
    def run(seed):
        env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="gym:FrozenLake-v1")
        obs, _ = env.reset(seed=seed)
        traj = [obs]
        for _ in range(60):
            obs, _, term, trunc, _ = env.step(1)
            traj.append(obs)
            if term or trunc:
                obs, _ = env.reset()
                traj.append(-1)
        return traj

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_start_distribution_from_meta_kwarg_or_uniform_over_non_terminal():
    rw = rlkit.envs.make("rlkit/TabularMDP-v0", spec="random-walk")
    assert rw.unwrapped.start_distribution.tolist() == [0, 0, 0, 1, 0, 0, 0]  # S&B: start in C
    assert rw.reset(seed=0)[0] == 3

    grid = TabularMDPEnv(spec="gridworld-4x4")  # no start in the catalog: uniform over 14 states
    expected = np.where(grid.mdp.terminal, 0.0, 1.0 / 14)
    np.testing.assert_allclose(grid.start_distribution, expected)
    starts = np.bincount([grid.reset(seed=s)[0] for s in range(2800)], minlength=16)
    assert starts[0] == starts[15] == 0
    n, p = 2800, 1 / 14
    assert np.all(np.abs(starts[1:15] - n * p) <= 5 * np.sqrt(n * p * (1 - p)))

    env = TabularMDPEnv(spec="random-walk", start="B")
    assert env.reset(seed=0)[0] == 2
    env = TabularMDPEnv(spec="random-walk", start=[0, 0.5, 0, 0, 0, 0.5, 0])
    assert {env.reset(seed=s)[0] for s in range(50)} == {1, 5}


def test_terminal_ends_episode_and_time_limit_truncates():
    env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="random-walk")
    env.reset(seed=0)
    rewards, terminated = [], False
    for _ in range(10_000):
        obs, r, terminated, truncated, _ = env.step(0)
        rewards.append(r)
        if terminated:
            break
    assert terminated and obs in (0, 6)
    assert sum(rewards) == (1.0 if obs == 6 else 0.0)  # +1 only on reaching the right end

    loop = rlkit.envs.make("rlkit/TabularMDP-v0", mdp=two_state_loop(), max_episode_steps=7)
    obs, _ = loop.reset(seed=0)
    flags = [loop.step(1)[2:4] for _ in range(7)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])


def test_rewards_are_expected_rewards_and_mc_returns_match_exact_values():
    """Mean return from C in the random walk = exact value 1/2 (honest 5-sigma bound)."""
    from rlkit.mdp import solve_mrp
    from rlkit.mdp.io import load

    v = solve_mrp(load("random-walk")).values
    np.testing.assert_allclose(v[1:6], np.arange(1, 6) / 6)
    env = TabularMDPEnv(spec="random-walk")
    env.reset(seed=11)
    n, total = 4000, 0.0
    for _ in range(n):
        env.reset()
        while True:
            _, r, term, _, _ = env.step(0)
            total += r
            if term:
                break
    mean = total / n
    assert abs(mean - v[3]) <= 5 * np.sqrt(0.25 / n)


def test_mrp_and_markov_chain_become_one_action_envs():
    mrp = MRP([[0.5, 0.5], [0.0, 1.0]], [1.0, 0.0], gamma=1.0, states=["a", "end"])
    env = TabularMDPEnv(mdp=mrp)
    assert env.action_space.n == 1 and env.actions == ["step"]
    assert env.mdp.meta["source_model"] is mrp
    obs, _ = env.reset(seed=0)
    assert obs == 0
    _, r, *_ = env.step(0)
    assert r == 1.0
    chain = TabularMDPEnv(mdp=MarkovChain([[0.0, 1.0], [0.0, 1.0]]))
    assert chain.reset(seed=0)[0] == 0
    assert chain.step(0)[:3] == (1, 0.0, True)


def test_ansi_render_draws_grid():
    env = TabularMDPEnv(spec="gym:FrozenLake-v1", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert text.splitlines()[0].startswith("@") and len(text.splitlines()) == 4


def test_bad_input_raises_rlkit_errors():
    with pytest.raises(RlkitError, match="exactly one of spec"):
        TabularMDPEnv()
    with pytest.raises(RlkitError, match="exactly one of spec"):
        TabularMDPEnv(spec="random-walk", mdp=two_state_loop())
    with pytest.raises(RlkitError):
        TabularMDPEnv(spec="no-such-model")
    with pytest.raises(RlkitError, match="start"):
        TabularMDPEnv(mdp=two_state_loop(), start="zz")
    with pytest.raises(RlkitError, match="start"):
        TabularMDPEnv(mdp=two_state_loop(), start=[0.5, 0.6])
    with pytest.raises(RlkitError, match="mdp= must be"):
        TabularMDPEnv(mdp=np.eye(2))
    env = TabularMDPEnv(mdp=two_state_loop())
    env.reset(seed=0)
    with pytest.raises(RlkitError, match="action"):
        env.step(2)


def test_make_unknown_id_suggests_close_matches_and_bad_kwargs_are_rlkit_errors():
    with pytest.raises(RlkitError, match="did you mean rlkit/MNISTBandit-v0"):
        rlkit.envs.make("rlkit/MnistBandit-v0")
    with pytest.raises(RlkitError, match="CartPole-v1"):
        rlkit.envs.make("CartPol-v1")
    with pytest.raises(RlkitError, match="unexpected keyword argument 'colour'"):
        rlkit.envs.make("CartPole-v1", colour="red")
    env = rlkit.envs.make("gym:CartPole-v1")
    assert env.spec.id == "CartPole-v1"


@pytest.mark.parametrize("suffix", [".yaml", ".npz"])
def test_model_file_spec(tmp_path, suffix):
    from rlkit.mdp.io import save

    path = tmp_path / f"noisy{suffix}"
    save(noisy_mdp(), path)
    env = rlkit.envs.make("rlkit/TabularMDP-v0", spec=str(path), gamma=0.5)
    assert env.unwrapped.mdp.gamma == 0.5
    np.testing.assert_allclose(env.unwrapped.mdp.P, noisy_mdp().P)
    assert env.unwrapped.states == ["x", "y", "end"] and env.unwrapped.actions == ["l", "r"]
    check_env(env.unwrapped)
