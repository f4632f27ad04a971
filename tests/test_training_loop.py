"""`rlkit train`'s training loop: periodic evaluation, the best model, stopping at a score,
episodes.csv, normalisation, and their exact resume; bad input (exit 2, one error line)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rlkit._torchfile import structure_digest
from rlkit.agents import Reinforce
from rlkit.agents.normalize import ObsNormalizer, RewardScaler, RunningMeanStd
from rlkit.runs import evaluate_policy, load_checkpoint, read_metrics, resume, train
from rlkit.runs.session import PERIODIC_EVAL_SEED_OFFSET

SMALL = {"n_steps": 64, "run.eval_episodes": 3, "policy.net.hidden": [16], "policy.value_net.hidden": [16]}


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _no_clock(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_evaluation_points_best_model_and_episodes(tmp_path):
    snapshots = {}

    def spy(agent, row):  # runs after the session's bookkeeping of this update
        snapshots[agent.num_timesteps] = {k: v.clone() for k, v in agent.policy.state_dict().items()}

    res = train("CartPole-v1", seed=1, total_timesteps=4096, n_envs=4, run_dir=tmp_path / "r", callback=spy,
                overrides={**SMALL, "run.eval_every": 1000, "run.periodic_eval_episodes": 4})
    run = tmp_path / "r"
    evals = _csv(run / "evaluations.csv")
    # a batch is 4 x 64 = 256 steps: the first update at or past each multiple of 1000 evaluates
    assert [int(r["timesteps"]) for r in evals] == [1024, 2048, 3072, 4096]
    assert all(int(r["episodes"]) == 4 for r in evals)
    means = [float(r["mean"]) for r in evals]
    best = max(i for i, m in enumerate(means) if m == max(means))  # ties: the later model
    best_ts = int(evals[best]["timesteps"])
    assert res.best_timesteps == best_ts and res.best_periodic_mean == means[best]
    saved = torch.load(run / "best_model.pt", weights_only=True)["policy_state"]
    assert all(torch.equal(saved[k], snapshots[best_ts][k]) for k in saved)
    # the logged score is what an independent evaluation of that model on the same episodes gives
    agent = Reinforce.load(run / "best_model.pt")
    again = evaluate_policy(agent, "CartPole-v1", n_episodes=4, seed=1 + PERIODIC_EVAL_SEED_OFFSET)
    assert again.mean == pytest.approx(means[best]) and float(evals[best]["min"]) == min(again.returns)
    # episodes.csv: every finished training episode once; CartPole pays 1 per step
    eps = _csv(run / "episodes.csv")
    m = read_metrics(run / "metrics.csv")
    assert len(eps) == int(m["episodes"][-1]) == res.episodes
    assert all(float(e["return"]) == int(e["length"]) for e in eps)
    per_env = {e: sum(int(r["length"]) for r in eps if int(r["env"]) == e) for e in range(4)}
    assert all(v <= 1024 for v in per_env.values()) and sum(per_env.values()) > 4096 - 4 * 500
    ts = [int(e["timesteps"]) for e in eps]
    assert ts == sorted(ts) and ts[-1] <= 4096
    # the summary reports both models, evaluated on the final evaluation's episodes
    assert res.best_eval is not None and res.eval is not None
    assert json.loads((run / "best_eval.json").read_text())["timesteps"] == best_ts


def test_stop_at_a_score_stops_and_says_so(tmp_path):
    res = train("CartPole-v1", seed=0, total_timesteps=20_000, n_envs=4, run_dir=tmp_path / "r",
                overrides={**SMALL, "run.eval_every": 512, "run.stop_at": 25})
    evals = _csv(tmp_path / "r" / "evaluations.csv")
    reached = [i for i, r in enumerate(evals) if float(r["mean"]) >= 25]
    assert reached == [len(evals) - 1]  # it stopped at the first evaluation at or above 25
    assert res.timesteps == int(evals[-1]["timesteps"]) < 20_000 and res.stopped_at == 25.0
    assert int(read_metrics(tmp_path / "r" / "metrics.csv")["timesteps"][-1]) == res.timesteps


def test_killed_and_resumed_run_keeps_every_file(tmp_path):
    ov = {**SMALL, "run.eval_every": 700, "run.checkpoint_freq": 1024, "run.periodic_eval_episodes": 3,
          "normalize_obs": True, "normalize_reward": True}
    train("CartPole-v1", seed=4, total_timesteps=4096, n_envs=4, overrides=ov, run_dir=tmp_path / "full")

    def kill(agent, row):
        if agent.num_timesteps == 2816:  # after the checkpoint at 2048, past an evaluation at 2304
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("CartPole-v1", seed=4, total_timesteps=4096, n_envs=4, overrides=ov, run_dir=tmp_path / "cut",
              callback=kill)
    cut = tmp_path / "cut"
    assert load_checkpoint(cut / "checkpoint.pt")["run"]["eval_rows"] < len(_csv(cut / "evaluations.csv"))
    resume(cut)
    full = tmp_path / "full"
    for name in ("evaluations.csv", "metrics.csv", "episodes.csv"):
        assert _no_clock(_csv(cut / name)) == _no_clock(_csv(full / name)), name
    for name in ("best_model.pt", "model.pt"):
        a = torch.load(full / name, weights_only=True)
        b = torch.load(cut / name, weights_only=True)
        assert all(torch.equal(a["policy_state"][k], b["policy_state"][k]) for k in a["policy_state"])
        for kind in ("obs", "reward"):
            for key in ("mean", "var"):
                assert torch.equal(a["normalization"][kind][key], b["normalization"][kind][key])


# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------


def test_running_mean_std_equals_the_whole_stream():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (1, 7, 50, 2)]
    rms = RunningMeanStd((3,), epsilon=0.0 + 1e-300)
    for c in chunks:
        rms.update(c)
    allx = np.concatenate(chunks)
    np.testing.assert_allclose(rms.mean, allx.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rms.var, allx.var(0), rtol=1e-10)


def test_reward_scaler_divides_by_the_std_of_discounted_returns():
    scaler = RewardScaler(2, gamma=0.9, clip=100.0, epsilon=0.0)
    rewards = np.array([[1.0, 2.0], [1.0, -1.0], [3.0, 0.5], [1.0, 1.0]])
    dones = np.array([[False, False], [True, False], [False, False], [False, False]])
    got = [scaler(r, d) for r, d in zip(rewards, dones, strict=True)]
    # by hand: R_t = 0.9 R_{t-1} + r_t per sub-env, reset after a done; std over all R seen so far
    seen, ret = [], np.zeros(2)
    for r, d, g in zip(rewards, dones, got, strict=True):
        ret = 0.9 * ret + r
        seen.extend(ret)
        np.testing.assert_allclose(g, r / np.sqrt(np.var(seen) * len(seen) / (len(seen) + 1e-4)), rtol=1e-3)
        ret[d] = 0.0


def test_normalised_agent_round_trips_statistics_bit_for_bit(tmp_path):
    agent = Reinforce({"net": {"type": "mlp", "hidden": [8]}}, "Pendulum-v1", seed=0, n_envs=2, n_steps=50,
                      normalize_obs=True, normalize_reward=True)
    agent.learn(300, progress_bar=False)
    norm = agent.obs_normalizer
    assert not np.allclose(norm.rms.mean, 0)  # it learned statistics
    agent.save(tmp_path / "m.pt")
    loaded = Reinforce.load(tmp_path / "m.pt")
    assert np.array_equal(loaded.obs_normalizer.rms.mean, norm.rms.mean)
    assert np.array_equal(loaded.obs_normalizer.rms.var, norm.rms.var)
    assert np.array_equal(loaded.reward_scaler.rms.var, agent.reward_scaler.rms.var)
    obs = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -3.0]], np.float32)
    a1, _ = agent.predict(obs, deterministic=True)
    a2, _ = loaded.predict(obs, deterministic=True)
    assert np.array_equal(a1, a2)
    # predict applies the statistics: the same as the policy on hand-normalised observations
    x = (obs - norm.rms.mean) / np.sqrt(norm.rms.var + 1e-8)
    with torch.no_grad():
        dist, _ = agent.policy.distribution(torch.as_tensor(np.clip(x, -10, 10), dtype=torch.float32))
    np.testing.assert_allclose(a1, np.clip(dist.mean.numpy(), -2, 2), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        raw = agent.policy.distribution(torch.as_tensor(obs))[0].mean.numpy()
    assert not np.allclose(np.clip(raw, -2, 2), a1)  # the raw observations would act otherwise
    # predicting never moves the statistics
    before = norm.rms.mean.copy()
    agent.predict(obs)
    assert np.array_equal(before, norm.rms.mean)
    agent.close()


def test_collector_stores_normalised_observations_and_scaled_rewards():
    agent = Reinforce({"net": {"type": "mlp", "hidden": [8]}}, "CartPole-v1", seed=0, n_envs=2, n_steps=40,
                      normalize_obs=True, normalize_reward=True, clip_obs=5.0)
    agent.learn(0, progress_bar=False)
    ro = agent.collect()
    assert ro.obs.dtype == np.float32 and np.abs(ro.obs).max() <= 5.0
    assert not np.all(ro.rewards == 1.0)  # CartPole pays 1: scaled rewards differ
    assert ro.episode_returns == [float(n) for n in ro.episode_lengths]  # metrics keep the env's rewards
    agent.close()


def test_obs_normalizer_clips():
    n = ObsNormalizer((1,), clip=2.0)
    n.update(np.array([[0.0], [1.0]]))
    assert float(n(np.array([[100.0]]))[0, 0]) == 2.0


# --------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------

CLI_SMALL = ["--total-timesteps", "1024", "--n-envs", "4", "--set", "n_steps=64",
             "--set", "run.eval_episodes=2", "--set", "policy.net.hidden=[8]", "--quiet"]


def test_cli_eval_every_stop_and_evaluate_best_or_last(cli, tmp_path):
    run = tmp_path / "r"
    code, out, err = cli("train", "--env", "CartPole-v1", "--run-dir", str(run), "--eval-every", "256",
                         "--format", "json", *CLI_SMALL)
    assert code == 0, err
    res = json.loads(out)
    assert res["evaluations"] == 4 and res["best_eval_mean"] is not None and not res["stopped_at_threshold"]
    for model, name in (("best", "best_eval.json"), ("last", "eval.json")):
        code, out, err = cli("evaluate", str(run), "--model", model, "--format", "json")
        assert code == 0, err
        got = json.loads(out)
        assert got["model"] == model
        assert got["mean"] == pytest.approx(json.loads((run / name).read_text())["mean"])
    code, out, _ = cli("evaluate", str(run), "--format", "json")
    assert json.loads(out)["model"] == "best"  # the default when a best model exists


@pytest.mark.parametrize(
    "args,match",
    [
        (["--env", "CartPole-v1", "--eval-every", "0"], "positive integer"),
        (["--env", "CartPole-v1", "--eval-every", "-5"], "positive integer"),
        (["--env", "Pendulum-v1", "--eval-every", "100", "--stop-at-threshold"], "run.stop_at=NUMBER"),
        (["--env", "CartPole-v1", "--set", "run.eval_every=null", "--stop-at-threshold"], "--eval-every"),
        (["--env", "CartPole-v1", "--set", "run.stop_at=soon"], "threshold, a number"),
        (["--env", "CartPole-v1", "--set", "normalize_obs=maybe"], "true or false"),
        (["--env", "FrozenLake-v1", "--set", "normalize_obs=true"], "Box observation space"),
        (["--env", "CartPole-v1", "--n-envs", "100000"], "<= 4096"),
    ],
)
def test_bad_training_loop_input(cli, tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", *args, "--quiet")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.csv"))


def test_model_best_without_a_best_model(cli, tmp_path):
    run = tmp_path / "r"
    assert cli("train", "--env", "CartPole-v1", "--run-dir", str(run), *CLI_SMALL)[0] == 0
    code, _, err = cli("evaluate", str(run), "--model", "best")
    assert code == 2 and "no best_model.pt" in err and err.count("\n") == 1


def test_interrupted_run_can_be_evaluated_and_finished_runs_resume_sensibly(cli, tmp_path):
    run = tmp_path / "r"

    def stop(agent, row):
        if agent.num_timesteps >= 512:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("CartPole-v1", seed=0, total_timesteps=1024, n_envs=4, run_dir=run, callback=stop,
              overrides={**SMALL, "run.checkpoint_freq": 256})
    assert not (run / "model.pt").exists()
    code, out, err = cli("evaluate", str(run), "--format", "json")  # the last checkpoint's model
    assert code == 0, err
    assert json.loads(out)["model"] == "last"
    code, out, err = cli("evaluate-policy", "--help")
    assert code == 0
    # a conflicting env or seed is an error, not silently ignored
    for args, match in ((["--env", "Acrobot-v1"], "trains CartPole-v1"), (["--seed", "3"], "has seed 0")):
        code, _, err = cli("train", "--resume", str(run), *args, "--quiet")
        assert code == 2 and match in err, err
    assert cli("train", "--resume", str(run), "--quiet")[0] == 0
    code, out, err = cli("train", "--resume", str(run), "--quiet", "--format", "json")
    assert code == 0 and json.loads(out)["already_finished"], err
    code, out, err = cli("train", "--resume", str(run), "--total-timesteps", "1536", "--quiet",
                         "--format", "json")
    assert code == 0, err
    assert json.loads(out)["timesteps"] == 1536 and not json.loads(out)["already_finished"]
    code, _, err = cli("train", "--resume", str(run), "--total-timesteps", "100", "--quiet")
    assert code == 2 and "at least" in err


def test_nan_normalisation_statistics_in_a_checkpoint_are_refused(cli, tmp_path):
    run = tmp_path / "r"
    ov = ["--set", "normalize_obs=true"]
    assert cli("train", "--env", "CartPole-v1", "--run-dir", str(run), *CLI_SMALL, *ov)[0] == 0
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["agent"]["model"]["normalization"]["obs"]["var"][0] = float("nan")
    ck["run"]["finished"] = False
    ck.pop("digest")
    ck["digest"] = structure_digest(ck)  # a consistent file: the statistics themselves are refused
    buf = io.BytesIO()
    torch.save(ck, buf)
    (run / "checkpoint.pt").write_bytes(buf.getvalue())
    before = (run / "metrics.csv").read_bytes()
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 2 and "not finite" in err and err.count("\n") == 1, err
    assert (run / "metrics.csv").read_bytes() == before


def test_plot_groups_runs_by_configuration(cli, tmp_path):
    runs = []
    for lr, seed in ((0.003, 0), (0.003, 1), (0.01, 0)):
        d = tmp_path / f"lr{lr}-s{seed}"
        code, _, err = cli("train", "--env", "CartPole-v1", "--seed", str(seed), "--run-dir", str(d),
                           *CLI_SMALL, "--set", f"learning_rate={lr}")
        assert code == 0, err
        runs.append(str(d))
    code, out, err = cli("plot", *runs, "--out", str(tmp_path / "p.png"), "--format", "json")
    assert code == 0, err
    drawn = json.loads((tmp_path / "p.png.json").read_text())["curves"]
    assert sorted(c["label"] for c in drawn) == ["learning_rate=0.003 (n=2)", "learning_rate=0.01"]
    assert sorted(len(c["runs"]) for c in drawn) == [1, 2]


def _flip_in_largest_tensor(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    header = 30 + len(info.filename.encode()) + len(info.extra)
    pos = info.header_offset + header + info.file_size // 2
    raw[pos] ^= 0x10
    path.write_bytes(bytes(raw))


def test_flipped_bytes_and_edited_weights_are_refused(cli, tmp_path):
    run = tmp_path / "r"
    assert cli("train", "--env", "CartPole-v1", "--run-dir", str(run), *CLI_SMALL)[0] == 0
    for name, command in (("model.pt", ["evaluate", str(run), "--model", "last"]),
                          ("checkpoint.pt", ["train", "--resume", str(run), "--total-timesteps", "2048"])):
        good = (run / name).read_bytes()
        _flip_in_largest_tensor(run / name)
        code, _, err = cli(*command, "--quiet") if command[0] == "train" else cli(*command)
        assert code == 2 and err.count("\n") == 1 and ("checksum" in err or "corrupt" in err), (name, err)
        (run / name).write_bytes(good)
    # weights edited by a script (a valid file whose tensors no longer match the stored checksum)
    m = torch.load(run / "model.pt", weights_only=True)
    next(iter(m["policy_state"].values())).view(-1)[0] += 1e-3
    torch.save(m, run / "model.pt")
    code, _, err = cli("evaluate", str(run), "--model", "last")
    assert code == 2 and "checksum" in err
    m["policy_state"] = {k: v * float("nan") for k, v in m["policy_state"].items()}
    m.pop("digest")
    torch.save(m, run / "model.pt")
    code, _, err = cli("evaluate", str(run), "--model", "last")
    assert code == 2 and "not finite" in err
    (run / "checkpoint.pt").write_bytes(b"")
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 2 and "empty" in err


def test_train_record_writes_a_gif_of_the_model_a_user_gets(cli, tmp_path):
    from PIL import Image

    gif = tmp_path / "cp.gif"
    code, out, err = cli("train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r"),
                         "--record", str(gif),
                         "--format", "json", *CLI_SMALL)
    assert code == 0, err
    assert json.loads(out)["files"]["recording"] == str(gif)
    with Image.open(gif) as im:
        assert im.size == (600, 400) and im.n_frames >= 9  # a reset frame and one per step (>= 8 steps)
    code, _, err = cli("train", "--env", "CartPole-v1", "--record", str(tmp_path), "--quiet")
    assert code == 2 and "is a folder" in err and err.count("\n") == 1


def test_evaluation_plays_every_episode_asked_for():
    """More episodes than sub-envs: each sub-env plays its quota (a shadowed variable once cut the
    result to the last episode of each of the 10 sub-envs)."""
    agent = Reinforce({"net": {"type": "mlp", "hidden": [8]}}, "CartPole-v1", seed=0, n_envs=2)
    res = evaluate_policy(agent, n_episodes=25, seed=3)
    assert res.episodes == 25 and len(res.lengths) == 25
    paired = evaluate_policy(agent, n_episodes=99, seed=3, seeds=[5, 6, 7])
    assert paired.episodes == 3
    agent.close()
