"""Control from samples (rlkit.tabular.control): S&B's cliff walking, optimal policies recovered and
checked against policy iteration, Double Q-learning's answer to maximisation bias, schedules and
bad input. Fixed seeds; comparisons use several standard errors over runs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, policy_iteration, q_from_v
from rlkit.mdp.io import load
from rlkit.tabular import control, epsilon_greedy_probs
from rlkit.tabular.control import epsilon_greedy_available
from rlkit.tabular.schedules import Constant, Exponential, Linear, parse_alpha, parse_epsilon


def greedy_path(mdp: MDP, policy: np.ndarray, start: int, limit: int = 100) -> list[int]:
    """States visited by a deterministic policy in a deterministic MDP, start to terminal."""
    path = [start]
    while not mdp.terminal[path[-1]] and len(path) <= limit:
        path.append(int(np.argmax(mdp.P[policy[path[-1]], path[-1]])))
    return path


@pytest.fixture(scope="module")
def cliff_runs():
    cliff = load("cliff-walking")
    kw = dict(episodes=500, runs=20, alpha=0.5, epsilon=0.1, seed=1)
    return cliff, control(cliff, "sarsa", **kw), control(cliff, "q-learning", **kw)


def test_cliff_walking_sarsa_earns_more_online_than_q_learning(cliff_runs):
    """S&B Example 6.6 / Figure 6.4: with ε = 0.1, SARSA's online return (about -25) is clearly
    higher than Q-learning's (about -50), which walks the edge and falls off now and then."""
    _, s, q = cliff_runs
    a, b = s.returns_runs[:, 100:].mean(axis=1), q.returns_runs[:, 100:].mean(axis=1)
    se = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(a.size)
    assert a.mean() - b.mean() > max(10.0, 4 * se)
    assert -35 < a.mean() < -18 and -60 < b.mean() < -40
    assert s.returns_curve.shape == (500,) and s.lengths_curve.shape == (500,)


def test_cliff_walking_q_learning_learns_the_13_step_edge_path(cliff_runs):
    cliff, _, q = cliff_runs
    start = int(np.flatnonzero(cliff.meta["initial"])[0])
    assert cliff.states[start] == "r3c0"
    path = greedy_path(cliff, q.policy, start)
    assert len(path) - 1 == 13
    assert [cliff.states[s] for s in path] == ["r3c0", *[f"r2c{c}" for c in range(12)], "r3c11"]
    np.testing.assert_array_equal(q.policy_value_runs[:, start], -13.0)   # every run, exactly
    assert q.policy_start_value == q.optimal_start_value == -13.0


def test_q_learning_recovers_the_optimal_policy_of_a_small_mdp():
    rng = np.random.default_rng(9)
    S, A = 6, 3
    mdp = MDP(rng.dirichlet(np.ones(S), size=(A, S)), rng.normal(size=(S, A)), 0.9)
    sol = policy_iteration(mdp)
    q_star = q_from_v(mdp, sol.values)
    top2 = np.sort(q_star, axis=1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]).min()
    assert gap > 0.5                                               # the optimal action is clear
    res = control(mdp, "q-learning", episodes=300, runs=10, alpha="linear:0.5,0.02,300", epsilon=0.5,
                  max_steps=50, start="uniform", seed=0)
    # |Q - Q*| < gap / 2 in every run implies the greedy policy is optimal; check both
    assert np.abs(res.q_runs - q_star).max() < gap / 2
    np.testing.assert_array_equal(res.policy_runs, np.broadcast_to(sol.policy, (10, S)))
    np.testing.assert_allclose(res.policy_value, sol.values, atol=1e-10)
    np.testing.assert_allclose(res.optimal_values, sol.values, atol=1e-10)


@pytest.mark.parametrize("method", ["sarsa", "expected-sarsa", "double-q-learning", "q-learning"])
def test_td_control_methods_reach_v_star_on_the_student_mdp(method):
    mdp = load("student-mdp")
    res = control(mdp, method, episodes=300, runs=20, alpha=0.1, epsilon="linear:0.5,0.0,250", seed=0,
                  start="uniform")
    v_star = policy_iteration(mdp).values
    np.testing.assert_allclose(res.policy_value_runs, np.broadcast_to(v_star, (20, mdp.n_states)), atol=1e-9)
    assert res.optimal_fraction == 1.0 and res.to_dict()["optimal_fraction"] == 1.0
    mask = mdp.meta.get("action_mask")
    if mask is not None:                                           # greedy actions are available ones
        assert mask[np.arange(mdp.n_states), res.policy].all()


def test_monte_carlo_exploring_starts_finds_v_star_on_the_gridworld():
    grid = load("gridworld-4x4")
    res = control(grid, "mc-control", exploring_starts=True, episodes=3000, runs=10, max_steps=30, seed=0)
    v_star = policy_iteration(grid).values
    ok = np.all(np.abs(res.policy_value_runs - v_star) < 1e-9, axis=1)
    assert ok.sum() >= 9
    np.testing.assert_allclose(res.policy_value, v_star, atol=1e-9)
    assert res.params["exploring_starts"] and res.params["alpha"] == "sample-average"


def maximisation_bias_mdp() -> MDP:
    """S&B Example 6.7: from A, right ends (reward 0); left goes to B, whose 10 actions all end
    with a reward of mean -0.1 and spread 1 (one of four outcomes, -1.6 .. 1.4). A has 2 actions."""
    S, A = 7, 10
    P = np.zeros((A, S, S))
    Rt = np.zeros((A, S, S))
    P[:, 0, 1] = 1.0                                               # A: left (and the masked actions)
    P[1, 0] = 0.0
    P[1, 0, 2] = 1.0                                               # A: right -> end
    P[:, 1, 3:7] = 0.25
    Rt[:, 1, 3:7] = -0.1 + np.array([-1.5, -0.5, 0.5, 1.5])
    for t in range(2, 7):
        P[:, t, t] = 1.0
    mask = np.ones((S, A), bool)
    mask[0, 2:] = False
    return MDP(P, Rt, 1.0, states=["A", "B", "end", "o1", "o2", "o3", "o4"],
               meta={"action_mask": mask, "transition_rewards": Rt, "initial": "A"})


def test_double_q_learning_avoids_the_maximisation_bias():
    mdp = maximisation_bias_mdp()
    kw = dict(episodes=20, runs=1000, alpha=0.1, epsilon=0.1, seed=0)
    q = control(mdp, "q-learning", **kw)
    dq = control(mdp, "double-q-learning", **kw)
    assert q.optimal_policy[0] == 1                                # right is optimal (0 > -0.1)
    p_q = np.mean(q.q_runs[:, 0, 0] > q.q_runs[:, 0, 1])           # left looks better than right
    p_dq = np.mean(dq.q_runs[:, 0, 0] > dq.q_runs[:, 0, 1])
    se = np.sqrt(p_q * (1 - p_q) / 1000 + p_dq * (1 - p_dq) / 1000)
    assert p_q > 0.5 and p_q - p_dq > 4 * se
    # the greedy policies never pick a masked action at A
    assert np.isin(q.policy_runs[:, 0], [0, 1]).all() and np.isin(dq.policy_runs[:, 0], [0, 1]).all()


def test_gymnasium_env_without_model():
    res = control(gym.make("FrozenLake-v1"), "expected-sarsa", episodes=50, runs=3, seed=0, gamma=0.95)
    assert res.policy_value is None and res.optimal_values is None
    assert res.q_runs.shape == (3, 16, 4)
    assert set(np.unique(res.returns_runs)) <= {0.0, 1.0}
    with pytest.raises(RlkitError, match="exploring starts need a model"):
        control(gym.make("FrozenLake-v1"), "mc-control", exploring_starts=True, episodes=2)
    with pytest.raises(RlkitError, match=r"Discrete observation space.*neural"):
        control("gym:Blackjack-v1", "q-learning", episodes=2)


def test_same_seed_same_numbers():
    a = control("cliff-walking", "double-q-learning", episodes=30, runs=4, alpha=0.5, seed=3)
    b = control("cliff-walking", "double-q-learning", episodes=30, runs=4, alpha=0.5, seed=3)
    c = control("cliff-walking", "double-q-learning", episodes=30, runs=2, alpha=0.5, seed=3)
    np.testing.assert_array_equal(a.q_runs, b.q_runs)
    np.testing.assert_array_equal(a.q_runs[:2], c.q_runs)         # run r does not depend on R


def test_epsilon_greedy_probabilities():
    np.testing.assert_allclose(epsilon_greedy_probs(np.array([[1.0, 3.0, 3.0, 0.0]]), 0.2),
                               [[0.05, 0.45, 0.45, 0.05]])
    avail = np.array([[True, False, True, True]])
    np.testing.assert_allclose(
        epsilon_greedy_available(np.array([[1.0, 9.0, 2.0, 0.0]]), np.array([0.3]), avail),
        [[0.1, 0.0, 0.8, 0.1]])


def test_schedules():
    lin = parse_epsilon("linear:1,0.1,9")
    assert isinstance(lin, Linear)
    np.testing.assert_allclose(lin(np.array([0, 3, 9, 100])), [1.0, 0.7, 0.1, 0.1])
    ex = parse_alpha("exp:0.5,0.5,0.1")
    assert isinstance(ex, Exponential)
    np.testing.assert_allclose(ex(np.array([0, 1, 2, 10])), [0.5, 0.25, 0.125, 0.1])
    assert parse_alpha(0.3) == Constant(0.3) and parse_alpha("0.3") == Constant(0.3)
    for bad, parse in (("linear:1.5,0.1,10", parse_epsilon), ("0", parse_alpha), ("exp:0.5,1.5", parse_alpha),
                       ("cosine:1,2", parse_alpha), (1.2, parse_epsilon)):
        with pytest.raises(RlkitError):
            parse(bad)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "td"}, "unknown control method"),
    ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
    ({"alpha": "linear:0.5,2,10"}, r"alpha must be in \(0, 1\]"),
    ({"epsilon": 1.5}, r"epsilon must be in \[0, 1\]"),
    ({"episodes": 0}, "episodes must be"),
    ({"method": "sarsa", "exploring_starts": True}, "exploring starts"),
])
def test_bad_parameters(kwargs, match):
    kwargs = {"method": "q-learning", **kwargs}
    with pytest.raises(RlkitError, match=match):
        control("cliff-walking", kwargs.pop("method"), **kwargs)


def test_reward_process_has_nothing_to_control():
    with pytest.raises(RlkitError, match="no actions"):
        control("student-mrp", "q-learning", episodes=2)
