"""The bridge: a policy acting in a tabular env, evaluated exactly and compared with V*."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlkit.envs
from rlkit.envs.bridge import (
    TabularPolicyReport,
    evaluate_tabular_policy,
    policy_matrix,
    start_distribution,
    tabular_model,
)
from rlkit.envs.wrappers import OneHotObservation
from rlkit.errors import RlkitError

# FrozenLake 4x4:  SFFF / FHFH / FFFH / HFFG ; actions 0 left, 1 down, 2 right, 3 up
PATH = np.zeros(16, dtype=int)
PATH[[0, 4, 9]] = 1
PATH[[8, 13, 14]] = 2  # 0 -> 4 -> 8 -> 9 -> 13 -> 14 -> 15: six steps, the shortest path


def test_hand_policy_on_deterministic_frozenlake_has_the_known_value():
    env = rlkit.envs.make("FrozenLake-v1", is_slippery=False)
    rep = evaluate_tabular_policy(env, lambda obs: PATH[np.asarray(obs)], gamma=0.9)
    assert isinstance(rep, TabularPolicyReport)
    # reward 1 on the 6th transition: V(0) = 0.9 ** 5; every state on the path gets 0.9 ** (steps left - 1)
    on_path = {0: 5, 4: 4, 8: 3, 9: 2, 13: 1, 14: 0}
    for s, k in on_path.items():
        assert rep.values[s] == pytest.approx(0.9**k, abs=1e-12)
        assert rep.optimal_values[s] == pytest.approx(0.9**k, abs=1e-12)  # the path is shortest
    assert rep.start_value == pytest.approx(0.9**5, abs=1e-12)
    assert rep.start_gap == pytest.approx(0.0, abs=1e-12)
    # off the path the policy goes left: 2 -> 1 -> 0 and then along the path, one and two steps more
    assert rep.values[1] == pytest.approx(0.9**6) and rep.values[2] == pytest.approx(0.9**7)
    assert rep.values[[5, 7, 11, 12, 15]].tolist() == [0, 0, 0, 0, 0]  # holes and goal: terminal
    assert np.all(rep.gap >= -1e-12) and rep.max_gap == pytest.approx(rep.gap.max())
    # the start distribution is FrozenLake's own: all mass on state 0
    assert rep.start_distribution.tolist() == [1.0] + [0.0] * 15
    d = rep.to_dict()
    assert d["start_value"] == pytest.approx(0.9**5) and len(d["values"]) == 16


def test_uniform_policy_on_gridworld_reproduces_sutton_barto_figure_4_1():
    env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="gridworld-4x4")
    rep = evaluate_tabular_policy(env, np.full((16, 4), 0.25))
    expected = np.array([0, -14, -20, -22, -14, -18, -20, -20, -20, -20, -18, -14, -22, -20, -14, 0])
    np.testing.assert_allclose(rep.values, expected, atol=1e-9)
    # V*: minus the number of steps to the nearest corner
    rows, cols = np.divmod(np.arange(16), 4)
    steps = np.minimum(rows + cols, 6 - rows - cols)
    np.testing.assert_allclose(rep.optimal_values, -steps, atol=1e-9)
    assert rep.gamma == 1.0 and rep.agreement < 1.0


def test_agent_with_predict_stochastic_probabilities_and_one_hot_observations():
    env = OneHotObservation(rlkit.envs.make("FrozenLake-v1", is_slippery=False))

    class Agent:
        """SB3-shaped: batched predict and the probabilities of the stochastic policy."""

        def __init__(self):
            self.seen = None

        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            obs = np.asarray(obs)
            assert obs.shape == (16, 16)  # one-hot observations of all 16 states at once
            self.seen = obs
            return PATH[obs.argmax(axis=1)], state

        def action_probabilities(self, obs):
            p = np.full((len(obs), 4), 0.1)
            p[np.arange(len(obs)), PATH[np.asarray(obs).argmax(axis=1)]] = 0.7
            return p

    agent = Agent()
    greedy = policy_matrix(env, agent)
    np.testing.assert_array_equal(agent.seen, np.eye(16, dtype=np.float32))
    np.testing.assert_array_equal(greedy.argmax(axis=1), PATH)
    stochastic = policy_matrix(env, agent, deterministic=False)
    assert stochastic[0].tolist() == pytest.approx([0.1, 0.7, 0.1, 0.1])
    rep = evaluate_tabular_policy(env, agent, gamma=0.9, deterministic=False)
    # exact value of the 0.7/0.1 policy: solve (I - gamma P_pi) v = r_pi independently
    from rlkit.mdp.io import from_gym

    m = from_gym("FrozenLake-v1", gamma=0.9, is_slippery=False)
    P_pi = np.einsum("sa,ast->st", stochastic, m.P)
    r_pi = (stochastic * m.R).sum(axis=1)
    v = np.linalg.solve(np.eye(16) - 0.9 * P_pi, r_pi)
    np.testing.assert_allclose(rep.values, v, atol=1e-10)
    assert 0 < rep.start_value < rep.optimal_start_value


def test_one_observation_at_a_time_policies_and_errors():
    env = rlkit.envs.make("FrozenLake-v1", is_slippery=False)

    def scalar_policy(obs):
        return int(PATH[int(obs)])  # fails on a batch, works per state

    np.testing.assert_array_equal(policy_matrix(env, scalar_policy).argmax(axis=1), PATH)
    with pytest.raises(RlkitError, match="probabilities"):
        policy_matrix(env, lambda obs: PATH[np.asarray(obs)], deterministic=False)
    with pytest.raises(RlkitError, match="0..3"):
        policy_matrix(env, lambda obs: np.full(np.shape(obs), 7))
    with pytest.raises(RlkitError, match="16"):
        policy_matrix(env, np.zeros(5, dtype=int))
    with pytest.raises(RlkitError, match="summing to 1"):
        policy_matrix(env, np.full((16, 4), 0.3))
    with pytest.raises(RlkitError, match="no tabular model"):
        tabular_model(gym.make("CartPole-v1"))


def test_slippery_frozenlake_exact_value_matches_rollouts_in_the_real_env():
    """Independent check: discounted returns of the policy in Gymnasium's own env."""
    gamma = 0.95
    policy = np.array([0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0])  # a reasonable hand policy
    env = gym.make("FrozenLake-v1", is_slippery=True, max_episode_steps=400)
    rep = evaluate_tabular_policy(env, policy, gamma=gamma)
    rng_seed, n = 0, 3000
    returns = np.empty(n)
    obs, _ = env.reset(seed=rng_seed)
    for i in range(n):
        obs, _ = env.reset()
        g, disc = 0.0, 1.0
        while True:
            obs, r, term, trunc, _ = env.step(int(policy[obs]))
            g += disc * r
            disc *= gamma
            if term or trunc:
                break
        returns[i] = g
    se = returns.std(ddof=1) / np.sqrt(n)
    assert abs(returns.mean() - rep.start_value) <= 5 * se + 0.95**400  # truncation bias is negligible
    assert rep.start_value < rep.optimal_start_value


def test_start_distribution_of_tabular_env():
    env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="random-walk")
    assert start_distribution(env).tolist() == [0, 0, 0, 1, 0, 0, 0]
    rep = evaluate_tabular_policy(env, np.zeros(7, dtype=int))  # an MRP: its only action
    np.testing.assert_allclose(rep.values[1:6], np.arange(1, 6) / 6)
    assert rep.start_value == pytest.approx(0.5) and rep.start_gap == pytest.approx(0.0)
    assert rep.agreement == 1.0


def test_reinforce_agent_on_a_tabular_env_exact_value_matches_its_own_rollouts():
    """The trained agent's probabilities, turned into a matrix and solved exactly, give the value
    its own sampled actions (agent.predict) achieve in the env."""
    from rlkit.agents import Reinforce
    from rlkit.mdp import MDP

    S = 7  # the random walk with actions left/right; +1 at the right end; start in the middle
    P = np.zeros((2, S, S))
    P[:, 0, 0] = P[:, S - 1, S - 1] = 1.0
    for s in range(1, S - 1):
        P[0, s, s - 1] = P[1, s, s + 1] = 1.0
    R = np.zeros((S, 2))
    R[S - 2, 1] = 1.0
    walk = MDP(P, R, 1.0, actions=["left", "right"], meta={"initial": 3})
    agent = Reinforce(None, rlkit.envs.make("rlkit/TabularMDP-v0", mdp=walk), seed=0)
    agent.learn(1500, progress_bar=False)

    env = rlkit.envs.make("rlkit/TabularMDP-v0", mdp=walk)
    rep = evaluate_tabular_policy(env, agent, deterministic=False)
    np.testing.assert_allclose(rep.policy, agent.action_probabilities(np.arange(S)), atol=1e-12)
    greedy = evaluate_tabular_policy(env, agent, deterministic=True)
    greedy_actions, _ = agent.predict(np.arange(S), deterministic=True)
    np.testing.assert_array_equal(greedy.policy.argmax(axis=1), greedy_actions)
    assert rep.optimal_start_value == pytest.approx(1.0)  # always right: certain to reach +1

    n, returns = 1000, []
    env.reset(seed=0)
    for _ in range(n):
        obs, _ = env.reset()
        total = 0.0
        while True:
            action, _ = agent.predict(obs)
            obs, r, term, trunc, _ = env.step(int(action))
            total += r
            if term or trunc:
                break
        returns.append(total)
    se = np.std(returns, ddof=1) / np.sqrt(n)
    assert abs(np.mean(returns) - rep.start_value) <= 5 * se
