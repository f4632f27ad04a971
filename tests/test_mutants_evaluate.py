"""``rlkit.runs.evaluate_policy``, the one evaluation loop (``rlkit train``'s evaluations, ``rlkit
evaluate``, the compare protocol), checked against episodes worked out from the seeds its resets
were given.

The env's episode length is a function of its reset seed, so every episode's return and length,
and the vector step it finishes on, follow from the log of resets alone: the expected returns are
rebuilt from that log (each sub-env's first ``quota`` episodes, ordered by the step they finish
on, then by sub-env) without reading the loop's bookkeeping. Written against the mutants mutmut
left alive in ``rlkit/runs/evaluate.py`` (docs/mutation.md, eleventh measurement).
"""

from __future__ import annotations

from contextlib import closing
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import rlkit.runs.evaluate as ev_mod
from rlkit.errors import RlkitError
from rlkit.runs.evaluate import EvalResult, evaluate_policy

SEED_MAX = 2**31 - 1


def length_of(seed: int) -> int:
    return 1 + seed % 5


class SeedLength(gym.Env):
    """Episodes of ``1 + seed % 5`` steps; step ``t`` pays ``t`` (plus 10 for action 1). Odd
    lengths end by termination, even ones by truncation. Every reset is logged as (vector step, tag, seed)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, tag: int = 0, log: list | None = None, clock: list | None = None) -> None:
        self.tag, self.log = tag, log if log is not None else []
        self.clock = clock if clock is not None else [0]  # vector steps so far (sub-env 0 counts them)
        self.t, self.length = 0, 1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.log.append((self.clock[0], self.tag, seed))
        self.length = length_of(seed) if seed is not None else 1 + int(self.np_random.integers(5))
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.clock[0] += self.tag == 0
        self.t += 1
        end = self.t >= self.length
        reward = float(self.t) + 10.0 * int(action)
        odd = self.length % 2 == 1
        return np.array([self.t], np.float32), reward, end and odd, end and not odd, {}


def vec(n: int, log: list) -> closing:
    """``n`` sub-envs in a vector env that rlkit takes as it is (closed by the ``with``)."""
    clock = [0]
    fns = [lambda i=i: SeedLength(i, log, clock) for i in range(n)]
    return closing(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.DISABLED))


class Scripted:
    """An agent that plays ``action`` and records what ``predict`` was given."""

    def __init__(self, action: int = 0, **attrs) -> None:
        self.action, self.calls = action, []
        self.__dict__.update(attrs)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.calls.append(SimpleNamespace(obs=np.array(obs), state=state, starts=np.array(episode_start),
                                          deterministic=deterministic, threads=torch.get_num_threads()))
        return np.full(len(obs), self.action), ("state", len(self.calls))


def resets_of(log: list) -> list[tuple[int, int | None]]:
    """(sub-env, seed) of every logged reset, in order."""
    return [(tag, seed) for _, tag, seed in log]


@pytest.fixture
def made(monkeypatch):
    """Stands in for the env maker: a vector env is used as it is (as rlkit's maker does); every
    other call is recorded as (env, n, mode, kwargs, the vector env of SeedLength sub-envs made)."""
    calls = []

    def fake_make(env, n, mode, kwargs):
        if isinstance(env, gym.vector.VectorEnv):
            return env, None
        calls.append((env, n, mode, dict(kwargs), vec(n, []).thing))
        return calls[-1][-1], None

    monkeypatch.setattr(ev_mod, "make_vec_env", fake_make)
    return calls


def expected(log: list, quota: list[int], bonus: float = 0.0) -> tuple[list[float], list[int]]:
    """Each sub-env's first ``quota[i]`` episodes from the logged seeds, in the order they finish
    (vector step, then sub-env): (returns, lengths)."""
    seeds: dict[int, list[int]] = {}
    for tag, seed in resets_of(log):
        seeds.setdefault(tag, []).append(seed)
    done = []
    for i, q in enumerate(quota):
        t = 0
        for seed in seeds[i][:q]:
            L = length_of(seed)
            t += L
            done.append((t, i, L * (L + 1) / 2 + bonus * L, L))
    done.sort()
    return [d[2] for d in done], [d[3] for d in done]


def test_each_sub_env_plays_its_share_from_seeds_drawn_from_the_seed():
    log: list = []
    agent = Scripted()
    with vec(3, log) as envs:
        res = evaluate_policy(agent, envs, n_episodes=7, n_envs=3, seed=42)
        # the vector env given is the caller's: still open
        assert envs.step(np.zeros(3, int))[0].shape == (3, 1)
    first = np.random.default_rng(42).integers(0, SEED_MAX, size=3)
    assert resets_of(log)[:3] == [(0, int(first[0])), (1, int(first[1])), (2, int(first[2]))]
    assert all(seed is not None for _, seed in resets_of(log))  # only the sub-envs that ended are reset
    returns, lengths = expected(log, [3, 2, 2])  # 7 episodes over 3 sub-envs: 3, 2, 2
    assert res.returns == returns and res.lengths == lengths and res.episodes == 7
    assert res.mean == pytest.approx(np.mean(returns)) and res.std == pytest.approx(np.std(returns))
    assert res.length_mean == pytest.approx(np.mean(lengths)) and res.seed == 42
    assert res.deterministic is True and all(c.deterministic is True for c in agent.calls)


def test_every_step_hands_the_state_and_the_episode_starts_on():
    log: list = []
    agent = Scripted()
    with vec(2, log) as envs:
        evaluate_policy(agent, envs, n_episodes=4, n_envs=2, seed=3, deterministic=False)
    assert agent.calls[0].state is None and agent.calls[0].starts.tolist() == [True, True]
    assert [c.state for c in agent.calls[1:]] == [("state", k) for k in range(1, len(agent.calls))]
    assert all(c.deterministic is False for c in agent.calls)
    # a start is flagged on the step after a sub-env's episode ended (its observation is the reset
    # one, 0), and only then
    assert sum(c.starts.sum() for c in agent.calls[1:]) >= 2
    assert all(((c.obs[:, 0] == 0) == c.starts).all() for c in agent.calls)
    assert all(c.starts.dtype == bool for c in agent.calls)  # a mask, as SB3's episode_start


def test_rewards_come_from_the_agents_actions_and_the_transform_sees_every_observation():
    log: list = []
    agent = Scripted(action=1)
    seen = []

    def transform(obs):
        seen.append(np.array(obs))
        return obs * 0 + 7

    with vec(2, log) as envs:
        res = evaluate_policy(agent, envs, n_episodes=3, n_envs=2, seed=9, obs_transform=transform)
    returns, lengths = expected(log, [2, 1], bonus=10.0)
    assert res.returns == returns and res.lengths == lengths
    assert len(seen) == len(agent.calls) and all((c.obs == 7).all() for c in agent.calls)
    assert all((s[:, 0] < 6).all() for s in seen)


def test_max_steps_leaves_unfinished_episodes_out():
    log: list = []
    with vec(2, log) as envs:
        res = evaluate_policy(Scripted(), envs, n_episodes=2, n_envs=2, seed=0, max_steps=0)
    assert res.episodes == 0 and res.returns == [] and np.isnan(res.mean) and np.isnan(res.std)
    assert np.isnan(res.length_mean)
    # seeds whose episodes last 1 and 5 steps; cut after 2 vector steps: only the short one counts
    log.clear()
    with vec(2, log) as envs:
        res = evaluate_policy(Scripted(), envs, seeds=[5, 4], max_steps=2)
    assert res.returns == [1.0, 3.0] and res.lengths == [1, 2]  # seed order; the cut one so far
    log.clear()
    with vec(2, log) as envs:
        res = evaluate_policy(Scripted(), envs, n_episodes=2, n_envs=2, seed=0, max_steps=2)
    quota_done = [length_of(s) <= 2 for _, s in resets_of(log)[:2]]
    assert res.episodes == sum(quota_done)


def test_paired_seeds_play_one_episode_each_in_seed_order():
    log: list = []
    with vec(3, log) as envs:
        res = evaluate_policy(Scripted(), envs, n_episodes=99, seeds=[4, 0, 2], seed=1)
    assert resets_of(log)[:3] == [(0, 4), (1, 0), (2, 2)]
    assert res.lengths == [5, 1, 3] and res.returns == [15.0, 1.0, 6.0] and res.episodes == 3
    assert res.seed == 1


def test_the_agents_env_and_settings_and_what_is_put_back(made):
    gen = torch.Generator().manual_seed(123)
    before = gen.get_state()
    threads = torch.get_num_threads()
    config = SimpleNamespace(env_kwargs={"max_episode_steps": 9}, torch_threads=1)
    agent = Scripted(env_id="Toy-v0", config=config, _predict_gen=gen)
    res = evaluate_policy(agent, n_episodes=4, seed=5)
    assert [m[:4] for m in made] == [("Toy-v0", 4, "sync", {"max_episode_steps": 9})]  # min(episodes, 10)
    assert all(c.threads == 1 for c in agent.calls) and torch.get_num_threads() == threads
    assert torch.equal(gen.get_state(), before)  # the agent's sampling stream is put back
    assert res.episodes == 4
    evaluate_policy(agent, "Other-v0", n_episodes=25, seed=5, env_kwargs={"a": 1})
    assert made[-1][:4] == ("Other-v0", 10, "sync", {"a": 1})
    evaluate_policy(agent, n_episodes=3, seed=5, env_kwargs={})  # given kwargs win, even empty
    assert made[-1][:4] == ("Toy-v0", 3, "sync", {})
    # the generator is seeded from the episodes' seed while evaluating
    draws = []

    class Sampler(Scripted):
        def predict(self, obs, **kw):
            draws.append(torch.rand(1, generator=self._predict_gen).item())
            return super().predict(obs, **kw)

    for _ in range(2):
        evaluate_policy(Sampler(env_id="Toy-v0", _predict_gen=torch.Generator().manual_seed(7)),
                        n_episodes=1, seed=5, max_steps=1)
    assert draws[0] == draws[1]
    first_draw = torch.rand(1, generator=torch.Generator().manual_seed(
        int(np.random.default_rng(5).integers(SEED_MAX)))).item()
    assert draws[0] == first_draw


def test_bad_arguments_are_one_error_each():
    agent = Scripted()
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(RlkitError) as e:
            evaluate_policy(agent, "CartPole-v1", n_episodes=bad)
        assert str(e.value) == f"episodes: n_episodes must be a positive integer, got {bad!r}"
    with pytest.raises(RlkitError) as e:
        evaluate_policy(agent, n_episodes=2)
    assert str(e.value) == "env: the agent has no env id; pass env=..." and e.value.where == "env"
    with vec(3, []) as envs, pytest.raises(RlkitError) as e:
        evaluate_policy(agent, envs, n_episodes=7)
    assert str(e.value) == "env: the vector env has 3 sub-envs, 7 are needed"


def test_eval_result_to_dict_adds_the_mean_length():
    r = EvalResult(mean=2.0, std=1.0, episodes=2, deterministic=True, seed=None, returns=[1.0, 3.0],
                   lengths=[2, 5])
    assert r.to_dict() == {"mean": 2.0, "std": 1.0, "episodes": 2, "deterministic": True, "seed": None,
                           "returns": [1.0, 3.0], "lengths": [2, 5], "length_mean": 3.5}


def test_later_episodes_take_their_seeds_from_the_same_stream():
    """After the first seeds, every vector step on which some sub-env ended draws one fresh seed
    per sub-env from the same generator, and the sub-envs that ended take theirs."""
    log: list = []
    with vec(3, log) as envs:
        evaluate_policy(Scripted(), envs, n_episodes=9, n_envs=3, seed=11)
    rng = np.random.default_rng(11)
    first = rng.integers(0, SEED_MAX, size=3)
    assert log[:3] == [(0, i, int(first[i])) for i in range(3)]
    steps = sorted({step for step, _, _ in log[3:]})
    assert len(steps) >= 3
    for step in steps:
        fresh = rng.integers(0, SEED_MAX, size=3)
        assert [(tag, seed) for st, tag, seed in log if st == step] == [
            (tag, int(fresh[tag])) for st, tag, _ in log if st == step]


def test_defaults_100_episodes_from_seed_0():
    log: list = []
    with vec(10, log) as envs:
        res = evaluate_policy(Scripted(), envs)
    assert res.episodes == 100 and res.seed == 0 and res.deterministic is True
    first = np.random.default_rng(0).integers(0, SEED_MAX, size=10)
    assert resets_of(log)[:10] == [(i, int(first[i])) for i in range(10)]


def test_envs_it_made_are_closed_and_the_callers_are_not(made):
    with vec(2, []) as envs:
        evaluate_policy(Scripted(), envs, n_episodes=2, n_envs=2)
        assert not envs.closed
    evaluate_policy(Scripted(env_id="Toy-v0"), n_episodes=2)
    assert made[0][-1].closed


def test_paired_seeds_set_the_number_of_sub_envs():
    with vec(3, []) as envs:
        res = evaluate_policy(Scripted(), envs, seeds=[4, 0, 2], n_envs=1)
    assert res.episodes == 3


def test_torch_threads_of_the_agents_config_hold_only_while_evaluating():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        agent = Scripted(config=SimpleNamespace(env_kwargs={}, torch_threads=1))
        with vec(2, []) as envs:
            evaluate_policy(agent, envs, n_episodes=2, n_envs=2)
        assert {c.threads for c in agent.calls} == {1} and torch.get_num_threads() == 2
        unset = Scripted(config=SimpleNamespace(env_kwargs={}, torch_threads=None))
        with vec(2, []) as envs:
            evaluate_policy(unset, envs, n_episodes=2, n_envs=2)
        assert {c.threads for c in unset.calls} == {2}
        other = Scripted(config=SimpleNamespace(env_kwargs={}))  # a config without the setting
        with vec(2, []) as envs:
            evaluate_policy(other, envs, n_episodes=2, n_envs=2)
        assert {c.threads for c in other.calls} == {2}
    finally:
        torch.set_num_threads(threads)
