"""`rlkit compare` / `rlkit sweep` through the local process pool: outputs, resume, failures, bad input."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.experiments.compare import TIMING_COLUMNS, compare, load_trial
from rlkit.experiments.stats import bootstrap_ci

AGENTS = ["reinforce", "sb3-ppo"]
TINY = {"seeds": 2, "total_timesteps": 256, "eval_every": 128, "eval_episodes": 2}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def deterministic(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    result = compare(["CartPole-v1"], AGENTS, workers=2, out=out, **TINY)
    return out, result


def test_outputs(tiny):
    out, result = tiny
    rows = read_rows(out / "results.csv")
    assert [(r["agent"], r["seed"], r["status"]) for r in rows] == [
        ("reinforce", "0", "ok"), ("reinforce", "1", "ok"), ("sb3-ppo", "0", "ok"), ("sb3-ppo", "1", "ok")]
    assert list(rows[0])[-len(TIMING_COLUMNS):] == TIMING_COLUMNS  # timing columns kept apart, last
    for r in rows:
        metrics = read_rows(out / "trials" / r["trial_id"] / "metrics.csv")
        evals = [m for m in metrics if m["kind"] == "eval"]
        assert [int(m["eval_point"]) for m in evals] == [0, 128, 256]
        assert float(evals[-1]["return_mean"]) == float(r["final_eval_mean"])
        assert r["best_eval_mean"] == str(max(float(m["return_mean"]) for m in evals))
        trains = [m for m in metrics if m["kind"] == "train"]
        assert int(r["train_episodes"]) == len(trains) > 0
    summary = {row["agent"]: row for row in result.summary}
    for agent in AGENTS:  # the summary is the statistics of results.csv's rows
        finals = np.array([float(r["final_eval_mean"]) for r in rows if r["agent"] == agent])
        ci = bootstrap_ci(finals, seed=0)
        row = summary[agent]
        assert (row["final_mean"], row["ci_low"], row["ci_high"]) == pytest.approx(
            (ci.estimate, ci.low, ci.high))
        assert row["ok"] == 2 and row["reward_threshold"] == 475.0 and row["steps_per_s"] > 0
        reached = [int(r["steps_to_threshold"]) for r in rows
                   if r["agent"] == agent and r["steps_to_threshold"]]
        assert row["reached"] == len(reached)
        # median over 2 seeds, a seed that never got there counting as infinite
        assert row["steps_to_threshold"] == (float(np.mean(reached)) if len(reached) == 2 else None)
    text = (out / "summary.md").read_text()
    assert "| CartPole-v1 | sb3-ppo | 2/2 |" in text and "## Protocol" in text
    assert json.loads((out / "summary.json").read_text())["summary"][0]["agent"] == "reinforce"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_skips_finished_trials(tiny):
    out, first = tiny
    before = read_rows(out / "results.csv")
    marker = out / "trials" / before[0]["trial_id"] / "result.json"
    stamp = marker.stat().st_mtime_ns
    again = compare(["CartPole-v1"], AGENTS, workers=2, out=out, **TINY)
    assert again.reused == 4 and marker.stat().st_mtime_ns == stamp
    assert read_rows(out / "results.csv") == before  # nothing re-run: even the timings are the same
    # lose one finished trial (as if the run was killed before it ended): only it runs again, in
    # a different process layout (1 worker), and gives the same numbers
    gone = before[3]["trial_id"]
    (out / "trials" / gone / "result.json").unlink()
    third = compare(["CartPole-v1"], AGENTS, workers=1, out=out, **TINY)
    assert third.reused == 3
    after = read_rows(out / "results.csv")
    assert deterministic(after) == deterministic(before)
    assert after[3]["wall_time_s"] != before[3]["wall_time_s"]


def test_cli_table_over_a_finished_compare(cli, tiny):
    out, _ = tiny
    code, stdout, stderr = cli("compare", "--env", "CartPole-v1", "--agents", ",".join(AGENTS),
                               "--seeds", "2", "-t", "256", "--eval-every", "128", "--eval-episodes", "2",
                               "--out", str(out))
    assert code == 0, stderr
    assert "reinforce" in stdout and "sb3-ppo" in stdout and "4 trials (4 reused" in stdout


def test_changed_spec_is_not_reused(tiny):
    out, result = tiny
    spec = result.results[0].spec
    assert load_trial(out, spec) is not None
    from dataclasses import replace

    assert load_trial(out, replace(spec, eval_episodes=3)) is None
    assert load_trial(out, replace(spec, hyperparams={**spec.hyperparams, "gamma": 0.5})) is None


def test_failed_trial_is_recorded_and_retried(cli, tmp_path):
    out = tmp_path / "fail"
    args = ["compare", "--env", "CartPole-v1", "--agents", "sb3-a2c,sb3-ppo", "--seeds", "1",
            "-t", "256", "--eval-every", "128", "--eval-episodes", "2", "--workers", "2",
            "--set", "sb3-ppo.n_envs=1", "--set", "sb3-ppo.n_steps=1", "--out", str(out), "--format", "json"]
    code, stdout, stderr = cli(*args)
    assert code == 0, stderr
    report = json.loads(stdout)
    assert [f["trial_id"] for f in report["failed"]] == ["CartPole-v1__sb3-ppo__default__s0"]
    rows = {r["agent"]: r for r in read_rows(out / "results.csv")}
    assert rows["sb3-a2c"]["status"] == "ok"
    assert rows["sb3-ppo"]["status"] == "failed" and "AssertionError" in rows["sb3-ppo"]["error"]
    by_agent = {r["agent"]: r for r in report["rows"]}
    assert by_agent["sb3-ppo"]["failed"] == 1 and by_agent["sb3-ppo"]["final_mean"] is None
    assert "## Failed trials" in (out / "summary.md").read_text()
    code, stdout, _ = cli(*args)  # the finished trial is reused, the failed one tried again
    assert code == 0 and json.loads(stdout)["reused"] == 1


def test_sweep_ranks_and_writes_best_preset(cli, tmp_path):
    import yaml

    out = tmp_path / "sweep"
    code, stdout, stderr = cli("sweep", "--agent", "reinforce", "--env", "CartPole-v1",
                               "--grid", "learning_rate=0.01,0.0007", "--seeds", "2", "-t", "256",
                               "--eval-every", "128", "--eval-episodes", "2", "--out", str(out),
                               "--set", "n_envs=2", "--set", "n_steps=64", "--format", "json")
    assert code == 0, stderr
    report = json.loads(stdout)
    means = [r["final_mean"] for r in report["rows"]]
    assert means == sorted(means, reverse=True) and [r["rank"] for r in report["rows"]] == [1, 2]
    best = report["rows"][0]
    assert report["best_config_id"] == best["config_id"]
    snippet = yaml.safe_load(Path(report["best_preset"]).read_text())
    assert snippet["CartPole-v1"]["learning_rate"] == best["params"]["learning_rate"]
    assert snippet["CartPole-v1"]["n_envs"] == 2  # the --set override is part of the preset
    rows = read_rows(out / "results.csv")
    assert sorted({r["params"] for r in rows}) == ['{"learning_rate": 0.0007}', '{"learning_rate": 0.01}']


@pytest.mark.parametrize("args, message", [
    (["compare", "--env", "CartPole-v1", "--agents", "sb3-ppo,sac"], "unknown agent 'sac'"),
    (["compare", "--env", "NoSuchEnv-v9", "--agents", "sb3-ppo"], "unknown env 'NoSuchEnv-v9'"),
    (["compare", "--env", "Pendulum-v1", "--agents", "sb3-dqn"], "Discrete"),
    (["compare", "--env", "CartPole-v1", "--agents", "sb3-ppo", "--set", "sb3-ppo.n_step=3"], "n_step"),
    (["compare", "--env", "CartPole-v1", "--agents", "reinforce", "--set", "reinforce.n_step=3"], "n_step"),
    (["compare", "--env", "CartPole-v1", "--agents", "reinforce", "--set", "reinforce.gamma=2"], "gamma"),
    (["compare", "--env", "CartPole-v1", "--agents", "reinforce", "--set", "policy.net.type=transformer"],
     "transformer"),
    (["compare", "--env", "CartPole-v1", "--agents", "sb3-ppo", "--set", "sb3-a2c.gamma=0.9"], "not in"),
    (["compare", "--env", "CartPole-v1", "--agents", "sb3-ppo", "--backend", "spark"], "unknown backend"),
    (["compare", "--env", "CartPole-v1", "--agents", "sb3-ppo", "--seeds", "0"], "--seeds"),
    (["sweep", "--agent", "sb3-ppo", "--env", "CartPole-v1", "--grid", "gamma"], "--grid"),
    (["sweep", "--agent", "sb3-ppo", "--env", "CartPole-v1", "--grid", "gamma=0.9,"], "empty value"),
    (["sweep", "--agent", "sb3-ppo", "--env", "CartPole-v1", "--grid", "n_steps=[8,16"], "unbalanced"),
    (["sweep", "--agent", "sb3-ppo", "--env", "CartPole-v1", "--grid", "gama=0.9,0.99"], "gama"),
])
def test_bad_input_exits_2(cli, tmp_path, args, message):
    code, stdout, stderr = cli(*args, "--out", str(tmp_path / "never"))
    assert code == 2 and stderr.startswith("error:") and message in stderr, stderr
    assert "Traceback" not in stderr and not (tmp_path / "never").exists()


def test_ray_backend_without_ray_says_how_to_install(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code, _, stderr = cli("compare", "--env", "CartPole-v1", "--agents", "sb3-ppo", "--backend", "ray",
                          "--out", str(tmp_path / "x"))
    assert code == 2 and "pip install 'rlkit[distributed]'" in stderr


@pytest.fixture
def recorded(monkeypatch):
    """Replace the executor by one that records the submitted (agent, seed) pairs and runs nothing."""
    import importlib

    from rlkit.experiments.trial import TrialResult

    compare_module = importlib.import_module("rlkit.experiments.compare")  # the attribute is the function
    submitted = []

    class Recorder:
        workers = 1

        def results(self, specs):
            for spec in specs:
                submitted.append((spec.agent, spec.seed))
                yield TrialResult(spec=spec, status="failed", error="not run (test)")

    monkeypatch.setattr(compare_module, "make_executor", lambda *args, **kwargs: Recorder())
    return submitted


def test_trials_are_submitted_seed_by_seed_and_written_agent_by_agent(tmp_path, recorded):
    """A load change while a compare runs must fall on every agent alike: the executor gets seed 0
    of every agent, then seed 1, ...; results.csv still lists each agent's seeds together."""
    compare(["CartPole-v1"], AGENTS, seeds=3, total_timesteps=256, eval_every=128, eval_episodes=2,
            workers=1, out=tmp_path / "order")
    assert recorded == [(a, s) for s in range(3) for a in AGENTS]
    rows = read_rows(tmp_path / "order" / "results.csv")
    assert [(r["agent"], int(r["seed"])) for r in rows] == [(a, s) for a in AGENTS for s in range(3)]


def test_agent_seeds_cut_one_agents_seeds(tmp_path, recorded):
    res = compare(["CartPole-v1"], AGENTS, seeds=3, total_timesteps=256, eval_every=128, eval_episodes=2,
                  workers=1, out=tmp_path / "cut", agent_seeds={"sb3-ppo": 1})
    assert sorted(recorded) == [("reinforce", 0), ("reinforce", 1), ("reinforce", 2), ("sb3-ppo", 0)]
    assert {row["agent"]: row["seeds"] for row in res.summary} == {"reinforce": 3, "sb3-ppo": 1}
    with pytest.raises(RlkitError, match="not in --agents"):
        compare(["CartPole-v1"], AGENTS, seeds=3, out=tmp_path / "bad", agent_seeds={"sb3-dqn": 1})
    with pytest.raises(RlkitError, match=">= 1"):
        compare(["CartPole-v1"], AGENTS, seeds=3, out=tmp_path / "bad", agent_seeds={"sb3-ppo": 0})
