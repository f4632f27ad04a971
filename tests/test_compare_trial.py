"""The shared evaluation protocol, the SB3 adapters and their presets (in-process, small budgets)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.experiments.compare import apply_overrides, parse_sets, parse_value
from rlkit.experiments.sb3 import check_sb3_config, linear_schedule, sb3_preset
from rlkit.experiments.trial import (
    EVAL_SEED_BASE,
    Protocol,
    TrialSpec,
    eval_seeds,
    evaluate_episodes,
    run_trial,
)


def _heuristic(obs, state=None, episode_start=None, deterministic=True):
    """Push the cart towards the side the pole falls to (a classic hand policy)."""
    return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64), state


def test_evaluate_episodes_equals_a_plain_loop():
    seeds = [11, 12, 13]
    returns, lengths = evaluate_episodes(_heuristic, "CartPole-v1", seeds)
    for i, seed in enumerate(seeds):  # the same episodes, one at a time, by hand
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=seed)
        total, steps, done = 0.0, 0, False
        while not done:
            action = int(obs[2] + obs[3] > 0)
            obs, r, term, trunc, _ = env.step(action)
            total += r
            steps += 1
            done = term or trunc
        assert returns[i] == total and lengths[i] == steps
    assert returns.max() > 100  # the heuristic balances for a while: a real check, not all 9s


def test_evaluate_episodes_passes_recurrent_state():
    calls = []

    def predict(obs, state=None, episode_start=None, deterministic=False):
        assert deterministic is True
        calls.append((state, episode_start.copy()))
        return np.zeros(len(obs), dtype=np.int64), (0 if state is None else state + 1)

    _, lengths = evaluate_episodes(predict, "CartPole-v1", [0, 1])
    assert calls[0][0] is None and calls[0][1].all()
    assert [c[0] for c in calls[1:4]] == [0, 1, 2] and not calls[1][1].any()
    assert len(calls) == lengths.max()


def test_eval_seeds_are_fixed_and_disjoint_across_seeds():
    assert eval_seeds(2, 3) == [EVAL_SEED_BASE + 2000, EVAL_SEED_BASE + 2001, EVAL_SEED_BASE + 2002]
    assert not set(eval_seeds(0, 100)) & set(eval_seeds(1, 100))


def test_protocol_grid_and_jumps():
    spec = TrialSpec("sb3-a2c", "CartPole-v1", seed=0, total_timesteps=1000, eval_every=250,
                     eval_episodes=2)
    protocol = Protocol(spec)
    try:
        protocol.on_step(0, _heuristic)
        protocol.on_step(100, _heuristic)  # between points: nothing
        protocol.on_step(600, _heuristic)  # jumps over 250 and 500: both recorded at step 600
        protocol.on_step(1000, _heuristic)  # 750; the budget point is only the final evaluation
        protocol.on_episode(640, 21.0, 21)
        protocol.finish(1010, _heuristic)
    finally:
        protocol.close()
    points = [(r["eval_point"], r["timesteps"]) for r in protocol.eval_rows]
    assert points == [(0, 0), (250, 600), (500, 600), (750, 1000), (1000, 1010)]
    expected, _ = evaluate_episodes(_heuristic, "CartPole-v1", eval_seeds(0, 2))
    assert all(r["return_mean"] == expected.mean() for r in protocol.eval_rows)
    assert protocol.train_rows[0]["return_mean"] == 21.0 and protocol.train_rows[0]["timesteps"] == 640
    times = [r["train_time_s"] for r in protocol.eval_rows]
    assert times == sorted(times)


def _spec(agent, seed=0, **kw):
    hp = apply_overrides(sb3_preset(agent, "CartPole-v1"), kw.pop("hp", {}))
    return TrialSpec(agent, "CartPole-v1", seed=seed, total_timesteps=kw.pop("total", 512),
                     eval_every=kw.pop("every", 256), eval_episodes=3, hyperparams=hp)


def test_sb3_trial_is_deterministic_and_seed_dependent():
    a = run_trial(_spec("sb3-ppo"))
    b = run_trial(_spec("sb3-ppo"))
    c = run_trial(_spec("sb3-ppo", seed=1))
    assert a.status == b.status == c.status == "ok", (a.error, c.error)
    assert [r["eval_point"] for r in a.eval_rows] == [0, 256, 512]
    assert a.timesteps == 512  # 8 envs x 32 steps per rollout, two rollouts
    strip = [{k: v for k, v in r.items() if k != "train_time_s"} for r in a.eval_rows + a.train_rows]
    assert strip == [{k: v for k, v in r.items() if k != "train_time_s"} for r in b.eval_rows + b.train_rows]
    assert [r["return_mean"] for r in a.train_rows] != [r["return_mean"] for r in c.train_rows]
    assert a.train_rows and all(r["return_mean"] == r["length_mean"] for r in a.train_rows)  # +1 a step


def test_failure_is_a_result_not_an_exception():
    # PPO asserts n_steps * n_envs > 1 when advantages are normalised
    result = run_trial(_spec("sb3-ppo", hp={"n_envs": 1, "n_steps": 1}))
    assert result.status == "failed"
    assert "AssertionError" in result.error and "n_steps" in result.error
    assert result.eval_rows == []


def test_vecnormalize_preset_logs_raw_returns():
    """Acrobot's PPO preset normalises observations and rewards; the protocol must still see the
    env's own rewards (-1 a step, 0 on the step that reaches the goal)."""
    hp = apply_overrides(sb3_preset("sb3-ppo", "Acrobot-v1"), {"n_envs": 2, "n_steps": 128})
    assert hp["normalize"] is True
    spec = TrialSpec("sb3-ppo", "Acrobot-v1", seed=0, total_timesteps=256, eval_every=256,
                     eval_episodes=2, hyperparams=hp)
    result = run_trial(spec)
    assert result.status == "ok", result.error
    for row in result.eval_rows:
        assert -500 <= row["return_mean"] <= 0 and float(row["return_min"]).is_integer()


def test_zoo_presets_loaded_as_written():
    ppo = sb3_preset("sb3-ppo", "CartPole-v1")
    assert (ppo["n_envs"], ppo["n_steps"], ppo["batch_size"], ppo["n_epochs"], ppo["learning_rate"]) == (
        8, 32, 256, 20, "lin_0.001")
    dqn = sb3_preset("sb3-dqn", "CartPole-v1")
    assert (dqn["train_freq"], dqn["gradient_steps"]) == (256, 128)
    assert dqn["policy_kwargs"] == {"net_arch": [256, 256]}
    assert sb3_preset("sb3-a2c", "LunarLander-v3")["learning_rate"] == "lin_0.00083"
    assert sb3_preset("sb3-ppo", "NoPresetEnv-v0")["policy"] == "MlpPolicy"  # SB3 defaults
    assert linear_schedule(0.001)(1.0) == 0.001 and linear_schedule(0.001)(0.25) == pytest.approx(0.00025)


def test_sb3_config_checks():
    with pytest.raises(RlkitError, match="learning_rat"):
        check_sb3_config("sb3-ppo", {"learning_rat": 0.1})
    with pytest.raises(RlkitError, match="Discrete"):
        check_sb3_config("sb3-dqn", {}, action_space=gym.spaces.Box(-1, 1, (1,)))
    check_sb3_config("sb3-ppo", {"n_steps": 8, "normalize": True, "n_timesteps": 10})


def test_parse_sets_and_values():
    assert parse_value("3e-4") == pytest.approx(3e-4) and parse_value("64") == 64
    assert parse_value("[64, 64]") == [64, 64] and parse_value("lin_0.001") == "lin_0.001"
    sets = parse_sets(["sb3-ppo.n_steps=64", "sb3-ppo.policy_kwargs.net_arch=[32]", "gamma=0.9"],
                      ["sb3-ppo", "sb3-a2c"])
    assert sets == {"sb3-ppo": {"n_steps": 64, "policy_kwargs.net_arch": [32], "gamma": 0.9},
                    "sb3-a2c": {"gamma": 0.9}}
    cfg = apply_overrides({"policy_kwargs": {"ortho_init": False}}, sets["sb3-ppo"])
    assert cfg["policy_kwargs"] == {"ortho_init": False, "net_arch": [32]}
    for bad in (["sb3-ppo.n_steps"], ["=3"], ["sb3-dqn.gamma=0.9"]):
        with pytest.raises(RlkitError):
            parse_sets(bad, ["sb3-ppo"])
