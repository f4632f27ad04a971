"""The REINFORCE agent end to end: learning on CartPole, seeds, save/load, action spaces, recurrent
policies, whole-episode batches, truncation handling in the collector, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlkit.agents import Reinforce
from rlkit.errors import RlkitError


class CounterEnv(gym.Env):
    """obs = number of steps taken; reward 1; never terminates (a TimeLimit truncates it)."""

    observation_space = spaces.Box(0, 1000, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), 1.0, False, False, {}


class TargetEnv(gym.Env):
    """One-step bandit with a structured action space: reward 1 for the target action."""

    observation_space = spaces.Box(-1, 1, (2,), np.float32)

    def __init__(self, kind="multidiscrete"):
        self.kind = kind
        if kind == "multidiscrete":
            self.action_space, self.target = spaces.MultiDiscrete([3, 2]), np.array([2, 0])
        elif kind == "multibinary":
            self.action_space, self.target = spaces.MultiBinary(3), np.array([1, 0, 1])
        else:
            self.action_space, self.target = spaces.Box(-1.0, 1.0, (2,), np.float32), np.array([0.5, -0.5])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        a = np.asarray(action)
        if self.kind == "box":
            assert np.all(a >= -1.0) and np.all(a <= 1.0)
            reward = -float(np.sum((a - self.target) ** 2))
        else:
            reward = float(np.array_equal(a, self.target))
        return np.zeros(2, np.float32), reward, True, False, {}


class DictObsEnv(CounterEnv):
    observation_space = spaces.Dict({"a": spaces.Discrete(2)})


def _register():
    for name, entry, kwargs in [
        ("Counter-v0", CounterEnv, {"max_episode_steps": 3}),
        ("MultiDiscreteTarget-v0", TargetEnv, {}),
        ("DictObs-v0", DictObsEnv, {}),
    ]:
        env_id = f"rlkit_test/{name}"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry, **kwargs)


_register()

FAST = dict(n_envs=4, n_steps=64, learning_rate=5e-3, lr_schedule="linear")


def test_short_cartpole_run_return_clearly_rises():
    agent = Reinforce(None, "CartPole-v1", seed=0, **FAST)
    history = []
    agent.learn(25_000, callback=lambda a, m: history.append(m["return_mean"]), progress_bar=False)
    first = history[1]  # ~22: a uniform random policy balances for about 22 steps
    assert first < 35
    assert history[-1] > 3 * first, (first, history[-1])


def test_same_seed_same_numbers_other_seed_other_numbers():
    def run(seed):
        agent = Reinforce(None, "CartPole-v1", seed=seed, **FAST)
        rows = []
        agent.learn(2048, callback=lambda a, m: rows.append(m), progress_bar=False)
        return rows, [p.detach().clone() for p in agent.policy.parameters()]

    (r1, w1), (r2, w2), (r3, _) = run(5), run(5), run(6)
    assert r1 == r2
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert [m["policy_loss"] for m in r1] != [m["policy_loss"] for m in r3]


def test_save_load_round_trip(tmp_path):
    agent = Reinforce({"net": {"type": "mlp", "hidden": [16]}}, "CartPole-v1", seed=1, **FAST)
    agent.learn(512, progress_bar=False)
    path = agent.save(tmp_path / "model.pt")
    loaded = Reinforce.load(path)  # no env: predict only
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    a1, _ = agent.predict(obs, deterministic=True)
    a2, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_allclose(agent.action_probabilities(obs), loaded.action_probabilities(obs))
    assert loaded.num_timesteps == agent.num_timesteps and loaded.env_id == "CartPole-v1"
    assert loaded.predict(obs[0], deterministic=True)[0] == a1[0]  # one observation, unbatched
    with pytest.raises(RlkitError, match="no env"):
        loaded.learn(10)
    again = Reinforce.load(path, env="CartPole-v1")
    again.learn(256, progress_bar=False)
    with pytest.raises(RlkitError, match="do not match"):
        Reinforce.load(path, env="Acrobot-v1")


def test_load_refuses_damaged_and_pickled_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(RlkitError, match="corrupt"):
        Reinforce.load(bad)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "rlkit-reinforce", "payload": CounterEnv}, evil)  # a pickled class
    with pytest.raises(RlkitError):
        Reinforce.load(evil)
    with pytest.raises(RlkitError, match="no such file"):
        Reinforce.load(tmp_path / "missing.pt")


def test_box_actions_clip_for_the_env_but_keep_the_raw_sample():
    agent = Reinforce({"log_std_init": 1.0}, "Pendulum-v1", seed=0, n_envs=2, n_steps=50)
    ro = agent.collect()
    assert np.abs(ro.actions).max() > 2.0  # std e ~ 2.7: raw samples leave [-2, 2]
    np.testing.assert_allclose(ro.env_actions, np.clip(ro.actions, -2.0, 2.0))
    tanh = Reinforce({"bounds": "tanh", "std": "state"}, "Pendulum-v1", seed=0, n_envs=2, n_steps=8)
    actions, _ = tanh.predict(np.zeros((5, 3), np.float32))
    assert actions.dtype == np.float32 and np.all(np.abs(actions) <= 2.0)


@pytest.mark.parametrize("kind", ["multidiscrete", "multibinary", "box"])
def test_structured_action_spaces_learn_a_one_step_task(kind):
    agent = Reinforce(
        {"net": {"type": "mlp", "hidden": [16]}},
        "rlkit_test/MultiDiscreteTarget-v0",
        seed=0,
        n_envs=8,
        n_steps=16,
        baseline="mean",
        learning_rate=0.05,
        env_kwargs={"kind": kind},
    )
    agent.learn(6000, progress_bar=False)
    target = agent.envs.envs[0].unwrapped.target
    action, _ = agent.predict(np.zeros(2, np.float32), deterministic=True)
    if kind == "box":
        np.testing.assert_allclose(action, target, atol=0.15)
    else:
        np.testing.assert_array_equal(action, target)


def test_collector_final_obs_starts_and_truncation():
    """CounterEnv is cut by a TimeLimit after 3 steps: the step that truncates holds the true final
    observation (3), the next observation is the reset one (0) and starts a new episode."""
    agent = Reinforce(None, "rlkit_test/Counter-v0", seed=0, n_envs=2, n_steps=7)
    ro = agent.collect()
    np.testing.assert_array_equal(ro.truncated[:, 0], [False, False, True, False, False, True, False])
    assert not ro.terminated.any()
    np.testing.assert_array_equal(ro.obs[:, 0, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(ro.final_obs[ro.truncated][:, 0], np.full(4, 3.0))
    np.testing.assert_array_equal(ro.starts[:, 0], [True, False, False, True, False, False, True])
    assert ro.episode_returns == [3.0] * 4


def test_whole_episode_batches():
    agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=4, batch_mode="episodes", n_episodes=8)
    ro = agent.collect()
    assert len(ro.episode_returns) == 8
    assert ro.valid.sum() == sum(ro.episode_lengths)
    for n in range(4):  # each sub-env: two whole episodes, then only steps left out
        v = ro.valid[:, n]
        last = np.flatnonzero(v)[-1]
        assert v[: last + 1].all() and ro.dones[last, n] and ro.dones[: last + 1, n].sum() == 2
    agent.learn(1000, progress_bar=False)


def test_recurrent_policy_resets_its_state_at_episode_starts():
    policy = {"net": {"type": "rnn", "cell": "gru", "hidden": 8}, "value_net": {"type": "rnn", "hidden": 8}}
    agent = Reinforce(policy, "rlkit/CartPoleNoVel-v1", seed=0, n_envs=3, n_steps=40)
    agent.collect()
    ro = agent.collect()  # starts with carried hidden state, contains episode starts
    pol = agent.policy
    x = pol.obs_to_tensor(ro.obs.reshape(-1, 2)).reshape(40, 3, 2)
    with torch.no_grad():
        out = pol.evaluate_rollout(x, torch.from_numpy(ro.actions), torch.from_numpy(ro.starts), ro.h0)
        t, n = map(int, np.argwhere(ro.starts)[0])  # an episode that starts inside the rollout
        end = t + 1
        while end < 40 and not ro.starts[end, n]:
            end += 1
        feats, _ = pol.body(x[t:end, n][None], pol.body.initial_state(1))  # fresh state at its start
        dist, _ = pol.distribution(x[t:end, n])  # (not used for the state, only for its class)
        logits = pol.action_head(feats[0])
        ref = torch.log_softmax(logits, -1).gather(-1, torch.from_numpy(ro.actions[t:end, n])[:, None])[:, 0]
    torch.testing.assert_close(out.logp[t:end, n], ref, rtol=1e-5, atol=1e-6)
    assert dist is not None
    # predict: a carried state reset by episode_start equals no state at all
    obs = ro.obs[0]
    _, state = agent.predict(obs, deterministic=True)
    a_reset, s_reset = agent.predict(obs, state=state, episode_start=np.ones(3, bool), deterministic=True)
    a_fresh, s_fresh = agent.predict(obs, state=None, deterministic=True)
    np.testing.assert_array_equal(a_reset, a_fresh)
    np.testing.assert_allclose(s_reset, s_fresh)
    agent.learn(1000, progress_bar=False)


def test_tabular_observations_are_one_hot():
    agent = Reinforce(None, "FrozenLake-v1", seed=0, n_envs=2, n_steps=16, env_kwargs={"is_slippery": False})
    probs = agent.action_probabilities(np.arange(16))
    assert probs.shape == (16, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    agent.learn(256, progress_bar=False)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"env": "NoSuchEnv-v0"}, "unknown environment"),
        ({"env": "rlkit_test/DictObs-v0"}, "no backbone fits"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"n_steps": 2.5}, "n_steps"),
        ({"no_such_thing": 1}, "unknown hyperparameter"),
        ({"gae_lambda": 0.9, "baseline": "none"}, "GAE needs a value baseline"),
        ({"policy": {"shared": True}}, "value_optimizer: shared"),
        ({"policy": {"net": {"type": "cnn"}}}, "policy.net"),
        ({"policy": {"colour": "red"}}, "unknown keys"),
    ],
)
def test_bad_input_raises_rlkit_errors(kwargs, match):
    kwargs = dict(kwargs)
    env = kwargs.pop("env", "CartPole-v1")
    policy = kwargs.pop("policy", None)
    with pytest.raises(RlkitError, match=match):
        Reinforce(policy, env, seed=0, n_envs=1, **kwargs)


def test_async_sub_processes_give_the_same_numbers_as_sync():
    """Every episode is reset with a seed drawn by the agent, so where the sub-envs run does not
    change a single number."""
    runs = {}
    for mode in ("sync", "async"):
        agent = Reinforce(None, "CartPole-v1", seed=1, n_envs=2, n_steps=32, vectorization=mode)
        rows: list[dict] = []
        agent.learn(512, callback=lambda a, m, rows=rows: rows.append(m), progress_bar=False)
        state = agent.get_state()["collector"]
        agent.close()
        runs[mode] = (rows, state["env_rng"], [s.tolist() for s in state["episode_actions"]])
    assert runs["sync"] == runs["async"]
