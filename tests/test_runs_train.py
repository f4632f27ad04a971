"""Runs: `rlkit train` / `evaluate` / `plot`, run folders, exact resume, and bad input (exit 2,
one error line, nothing already written lost)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from rlkit.errors import RlkitError
from rlkit.runs import evaluate_run, load_checkpoint, read_metrics, resume, train

SMALL = [
    "--total-timesteps",
    "2048",
    "--n-envs",
    "4",
    "--set",
    "n_steps=64",
    "--set",
    "run.eval_episodes=3",
    "--quiet",
]


class NaNRewardEnv(gym.Env):
    """CartPole-like shape; the reward turns NaN after 300 steps of the sub-env."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if not hasattr(self, "t"):
            self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), (float("nan") if self.t > 300 else 1.0), self.t % 10 == 0, False, {}


if "rlkit_test/NaNReward-v0" not in gym.registry:
    gym.register("rlkit_test/NaNReward-v0", entry_point=NaNRewardEnv)


def _rows(path: Path) -> list[list[str]]:
    rows = list(csv.reader(path.open()))
    i = rows[0].index("seconds")
    return [r[:i] + r[i + 1 :] for r in rows]  # everything but the wall clock


def test_train_json_and_run_folder(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "--env", "CartPole-v1", "--seed", "2", "--run-dir", str(run), "--format", "json", *SMALL
    )
    assert code == 0, err
    res = json.loads(out)
    for key in ("run_dir", "timesteps", "seconds", "eval_mean", "eval_std", "eval_episodes"):
        assert key in res
    assert res["timesteps"] == 2048 and res["eval_episodes"] == 3 and res["run_dir"] == str(run)
    for name in ("config.yaml", "metrics.csv", "checkpoint.pt", "model.pt", "eval.json", "curves.png"):
        assert (run / name).is_file(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["hyperparams"]["n_steps"] == 64 and cfg["hyperparams"]["learning_rate"] == 0.005  # preset kept
    assert cfg["policy"]["value_net"]["hidden"] == [64, 64]  # resolved, defaults filled in
    m = read_metrics(run / "metrics.csv")
    np.testing.assert_array_equal(m["timesteps"], np.arange(1, 9) * 256)
    ev = json.loads((run / "eval.json").read_text())
    assert ev["episodes"] == 3 and ev["mean"] == pytest.approx(res["eval_mean"])
    assert ev["mean"] == pytest.approx(np.mean(ev["returns"]))

    # rlkit evaluate repeats the final evaluation (same episodes' seed, deterministic policy)
    code, out, err = cli("evaluate", str(run), "--format", "json")
    assert code == 0, err
    again = json.loads(out)
    assert again["episodes"] == 3 and again["mean"] == pytest.approx(ev["mean"]) and again["deterministic"]
    code, out, _ = cli("evaluate", str(run), "--episodes", "4", "--stochastic", "--format", "json")
    assert code == 0 and json.loads(out)["episodes"] == 4 and not json.loads(out)["deterministic"]


def test_table_output_says_where_things_are(cli, tmp_path):
    code, out, err = cli("train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r"), *SMALL)
    assert code == 0, err
    for word in ("evaluation", "over 3 episodes", "run dir", "metrics.csv", "curves.png", "model.pt"):
        assert word in out.replace("\n", " ") or word in out, word


def test_default_run_dir_layout_and_plot(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dirs = []
    for seed in (0, 1):
        code, out, err = cli("train", "--env", "CartPole-v1", "--seed", str(seed), "--format", "json", *SMALL)
        assert code == 0, err
        dirs.append(json.loads(out)["run_dir"])
    for seed, d in enumerate(dirs):
        p = Path(d)
        assert p.parent == Path("runs/CartPole-v1/reinforce") and p.name.endswith(f"-s{seed}")
    code, out, err = cli("plot", *dirs, "--out", "both.png", "--format", "json")
    assert code == 0, err
    assert Path(json.loads(out)["path"]).stat().st_size > 1000


@pytest.mark.parametrize(
    "overrides",
    [
        {"n_steps": 64},
        {
            "n_steps": 64,
            "policy.net": {"type": "rnn", "cell": "gru", "hidden": 8},
            "policy.value_net": {"type": "rnn", "cell": "gru", "hidden": 8},
            "env": "rlkit/CartPoleNoVel-v1",
        },
        {"batch_mode": "episodes", "n_episodes": 8, "baseline": "mean"},
    ],
    ids=["mlp-steps", "gru-masked-cartpole", "whole-episodes-mean-baseline"],
)
def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path, overrides):
    overrides = dict(overrides)
    env = overrides.pop("env", "CartPole-v1")
    ov = {**overrides, "run.checkpoint_freq": 1024, "run.eval_episodes": 5}
    full = train(env, seed=3, total_timesteps=4096, n_envs=4, overrides=ov, run_dir=tmp_path / "full")

    state = {"last": 0, "after": 0}

    def ctrl_c(agent, metrics):  # Ctrl-C one update after a periodic checkpoint
        # (one, not two: whole episodes of a learning policy make updates of 500+ steps, and with
        # a checkpoint every 1,024 steps a second update without one may never come)
        if agent.num_timesteps - state["last"] >= 1024:  # the run's checkpoint rule
            state["last"], state["after"] = agent.num_timesteps, 0
        elif state["last"] > 0:
            state["after"] += 1
            if state["after"] == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            env,
            seed=3,
            total_timesteps=4096,
            n_envs=4,
            overrides=ov,
            run_dir=tmp_path / "cut",
            callback=ctrl_c,
        )
    cut = tmp_path / "cut"
    logged = len(_rows(cut / "metrics.csv")) - 1
    ckpt_rows = load_checkpoint(cut / "checkpoint.pt")["run"]["metrics_rows"]
    assert 0 < ckpt_rows < logged  # rows after the checkpoint are on disk and must be dropped
    resumed = resume(cut)
    assert resumed.resumed_from is not None and resumed.resumed_from > 0
    assert _rows(cut / "metrics.csv") == _rows(tmp_path / "full" / "metrics.csv")
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["policy_state"]
    b = torch.load(cut / "model.pt", weights_only=True)["policy_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.eval.returns == full.eval.returns
    assert resumed.timesteps == full.timesteps and resumed.episodes == full.episodes


def test_resume_through_the_cli_and_tensorboard(cli, tmp_path):
    run = tmp_path / "r"

    def stop(agent, metrics):
        if metrics["update"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            "CartPole-v1",
            seed=0,
            total_timesteps=2048,
            n_envs=4,
            overrides={"n_steps": 64, "run.checkpoint_freq": 512, "run.eval_episodes": 2},
            run_dir=run,
            tensorboard=True,
            callback=stop,
        )
    code, out, err = cli("train", "--resume", str(run), "--quiet", "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert res["resumed_from"] == 1024 and res["timesteps"] == 2048
    assert any((run / "tb").iterdir())
    code, _, err = cli("train", "--resume", str(run), "--set", "n_steps=8")
    assert code == 2 and "keeps its configuration" in err


@pytest.mark.parametrize(
    "args,match",
    [
        (["--env", "NoSuchEnv-v9"], "unknown environment"),
        (["--env", "CartPole-v1", "--agent", "dqn"], "unknown agent"),
        (["--env", "CartPole-v1", "--set", "learning_rat=0.1"], "unknown hyperparameter"),
        (["--env", "CartPole-v1", "--set", "n_steps=lots"], "must be an integer"),
        (["--env", "CartPole-v1", "--set", "policy.colour=red"], "unknown policy key"),
        (["--env", "CartPole-v1", "--set", "run.eval_episodes=-1"], "positive integer"),
        (["--env", "CartPole-v1", "--set", "novalue"], "key=value"),
        (["--env", "CartPole-v1", "--set", "policy.net.type=transformer"], "unknown backbone type"),
        (["--env", "FrozenLake-v1", "--set", "policy.net={type: cnn}"], "policy.net"),
        ([], "--env"),
    ],
)
def test_bad_train_input_exits_2_with_one_line(cli, tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", *args, "--quiet")
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.csv"))


def test_resume_and_evaluate_refuse_what_is_not_a_run(cli, tmp_path):
    (tmp_path / "junk").mkdir()
    for args in (
        ["train", "--resume", str(tmp_path / "junk")],
        ["evaluate", str(tmp_path / "junk")],
        ["plot", str(tmp_path / "missing")],
    ):
        code, _, err = cli(*args)
        assert code == 2 and err.startswith("error:") and "run folder" in err, err


def test_corrupt_checkpoint_is_refused_and_nothing_is_lost(cli, tmp_path):
    run = tmp_path / "r"
    code, _, err = cli("train", "--env", "CartPole-v1", "--run-dir", str(run), *SMALL)
    assert code == 0, err
    (run / "checkpoint.pt").write_bytes(b"\x80\x02garbage")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, _, err = cli("train", "--resume", str(run))
    assert code == 2 and "corrupt" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    with pytest.raises(RlkitError):
        load_checkpoint(run / "model.pt")  # a model file is not a run checkpoint


def test_nan_loss_stops_says_where_and_keeps_the_last_good_checkpoint(cli, tmp_path):
    run = tmp_path / "nan"
    code, _, err = cli(
        "train",
        "--env",
        "rlkit_test/NaNReward-v0",
        "--run-dir",
        str(run),
        "--total-timesteps",
        "4096",
        "--n-envs",
        "2",
        "--set",
        "n_steps=50",
        "--set",
        "run.checkpoint_freq=200",
        "--quiet",
    )
    assert code == 2 and err.count("\n") == 1
    # each sub-env takes 50 steps a batch: its step 301 (the first NaN reward) is in batch 7
    assert "at update 7" in err, err
    assert f"the last good checkpoint ({run / 'checkpoint.pt'}, step 600) is kept" in err, err
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["run"]["timesteps"] == 600
    params = ckpt["agent"]["model"]["policy_state"]
    assert all(torch.isfinite(v).all() for v in params.values())
    assert not (run / "model.pt").exists()


def test_evaluate_run_uses_the_run_seed_by_default(tmp_path):
    r = train(
        "CartPole-v1",
        seed=4,
        total_timesteps=1024,
        n_envs=4,
        overrides={"n_steps": 64, "run.eval_episodes": 4},
        run_dir=tmp_path / "r",
    )
    assert evaluate_run(tmp_path / "r").returns == r.eval.returns
    assert evaluate_run(tmp_path / "r", episodes=2, seed=123).episodes == 2


def test_evaluation_env_can_differ_from_the_training_env(tmp_path):
    """run.eval_env_kwargs reaches only the evaluation env (MNISTBandit's preset evaluates on test images)."""
    r = train(
        "CartPole-v1",
        seed=0,
        total_timesteps=512,
        n_envs=2,
        overrides={"n_steps": 64, "run.eval_episodes": 4, "run.eval_env_kwargs": {"max_episode_steps": 7}},
        run_dir=tmp_path / "r",
    )
    assert r.eval.lengths and max(r.eval.lengths) <= 7
    assert max(read_metrics(tmp_path / "r" / "metrics.csv")["length_mean"]) > 7  # training is not cut
    assert max(evaluate_run(tmp_path / "r").lengths) <= 7
