"""Aggregates of a compare across envs (rliable's definitions) against hand computations on fixed
tables; honest intervals below 5 seeds; the compare files and bad input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.experiments.aggregate import aggregate, random_score, references
from rlkit.experiments.stats import (
    aggregate_iqm,
    aggregate_mean,
    normalize_scores,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap,
)


def _trial(agent, env, score, status="ok"):
    return SimpleNamespace(spec=SimpleNamespace(agent=agent, env_id=env), status=status,
                           final_eval_mean=score)


def test_normalised_scores_and_pooled_statistics_by_hand():
    got = normalize_scores(np.array([-500.0, -100.0, -300.0]), -500.0, -100.0)
    np.testing.assert_allclose(got, [0, 1, 0.5])
    tasks = [np.array([0.0, 1.0, 1.0, 0.2]), np.array([0.5, 0.9, 3.0, -1.0])]
    # pooled: -1, 0, .2, .5, .9, 1, 1, 3 -> mean 5.6/8
    # IQM drops 2 at each end: (.2+.5+.9+1)/4
    assert aggregate_mean(tasks) == pytest.approx(5.6 / 8)
    assert aggregate_iqm(tasks) == pytest.approx((0.2 + 0.5 + 0.9 + 1.0) / 4)
    with pytest.raises(RlkitError):
        normalize_scores(np.array([1.0]), 3.0, 3.0)


def test_probability_of_improvement_by_hand():
    x = [np.array([1.0, 2.0]), np.array([5.0])]
    y = [np.array([0.0, 2.0]), np.array([5.0, 6.0])]
    # task 1: pairs (1,0)=1 (1,2)=0 (2,0)=1 (2,2)=.5 -> .625; task 2: (5,5)=.5 (5,6)=0 -> .25
    assert probability_of_improvement(x, y) == pytest.approx((0.625 + 0.25) / 2)
    assert probability_of_improvement(y, x) == pytest.approx(1 - (0.625 + 0.25) / 2)


def test_bootstrap_is_stratified_by_task():
    # all runs of task A score 0, of task B 1: a bootstrap that keeps each task's run count fixed
    # always gives the pooled mean 8/10; resampling the pooled runs would not
    tasks = [np.zeros(2), np.ones(8)]
    iv = stratified_bootstrap(aggregate_mean, tasks, n_resamples=300, seed=1)
    assert iv.estimate == iv.low == iv.high == pytest.approx(0.8)
    spread = stratified_bootstrap(aggregate_mean, [np.array([0.0, 1.0]), np.ones(8)], n_resamples=300, seed=1)
    assert spread.low < spread.estimate < spread.high or spread.low < spread.high


def test_performance_profile_by_hand():
    taus = np.array([-1, 0.0, 0.5, 1.5, 5])
    prof = performance_profile([np.array([0.0, 0.5]), np.array([1.0, 2.0])], taus)
    np.testing.assert_allclose(prof, [1.0, 0.75, 0.5, 0.25, 0.0])


def test_aggregate_of_a_fixed_table():
    refs = {"A-v0": {"random": 0.0, "target": 100.0}, "B-v0": {"random": -200.0, "target": 0.0}}
    results = [
        _trial("x", "A-v0", 100.0), _trial("x", "A-v0", 50.0),
        _trial("x", "B-v0", -100.0), _trial("x", "B-v0", 0.0),
        _trial("y", "A-v0", 0.0), _trial("y", "A-v0", 100.0), _trial("y", "B-v0", -200.0),
        _trial("y", "B-v0", 0.0, status="failed"),
        _trial("z", "A-v0", 10.0),  # never ran on B: left out
    ]
    agg = aggregate(results, refs, n_resamples=200)
    # x normalised: A 1, .5; B .5, 1 -> mean .75; y: A 0, 1; B 0 -> mean 1/3
    assert agg["agents"]["x"]["mean"]["estimate"] == pytest.approx(0.75)
    assert agg["agents"]["y"]["mean"]["estimate"] == pytest.approx(1 / 3)
    assert agg["agents"]["y"]["runs"] == 3 and agg["agents"]["y"]["min_seeds"] == 1
    # P(x > y): A: x{1,.5} vs y{0,1}: (1>0)+(1=1)/2+(.5>0)+(.5<1 -> 0) = 2.5/4; B: x{.5,1} vs y{0}: 1
    assert agg["probability_of_improvement"]["x > y"]["estimate"] == pytest.approx((2.5 / 4 + 1) / 2)
    assert agg["missing"] == ["z"]
    assert agg["missing_envs"] == {"z": {"B-v0": "not run"}}
    results.append(_trial("w", "A-v0", 1.0))
    results.append(_trial("w", "B-v0", 1.0, status="failed"))
    results.append(_trial("w", "B-v0", 2.0, status="failed"))
    agg = aggregate(results, refs, n_resamples=50)
    assert agg["missing"] == ["z", "w"]
    assert agg["missing_envs"] == {"z": {"B-v0": "not run"}, "w": {"B-v0": "every seed failed"}}
    from rlkit.experiments.aggregate import aggregate_markdown

    assert aggregate_markdown(agg)[-2] == ("Left out, without a finished seed on every env: z (not run on "
                                           "B-v0), w (every seed failed on B-v0).")
    for row in agg["agents"].values():
        assert row["mean"]["low"] <= row["mean"]["estimate"] <= row["mean"]["high"]


def test_random_scores_are_measured_and_references_need_a_target():
    r = random_score("CartPole-v1")
    assert 15 < r < 30 and r == random_score("CartPole-v1")  # ~22 for uniform actions, cached
    refs = references(["CartPole-v1"], {"CartPole-v1": 475.0})
    assert refs["CartPole-v1"] == {"random": r, "target": 475.0}
    with pytest.raises(RlkitError, match="Pendulum-v1=SCORE"):
        references(["CartPole-v1", "Pendulum-v1"], {"CartPole-v1": 475.0, "Pendulum-v1": None})
    given = references(["Pendulum-v1"], {"Pendulum-v1": None}, {"Pendulum-v1": -200.0})
    assert given["Pendulum-v1"]["target"] == -200


def test_compare_over_two_envs_writes_the_aggregate_and_warns_below_5_seeds(tmp_path):
    from rlkit.experiments.compare import compare

    res = compare(["CartPole-v1", "Acrobot-v1"], ["reinforce"], seeds=2, total_timesteps=512, eval_every=256,
                  eval_episodes=2, workers=1, out=tmp_path / "c",
                  overrides={"reinforce": {"n_envs": 2, "n_steps": 64, "policy.net.hidden": [8]}})
    data = json.loads((tmp_path / "c" / "summary.json").read_text())
    agg = data["aggregate"]
    assert agg["envs"] == ["CartPole-v1", "Acrobot-v1"] and "reinforce" in agg["agents"]
    finals = {env: [r.final_eval_mean for r in res.results if r.spec.env_id == env] for env in agg["envs"]}
    norm = [(np.array(finals[e]) - agg["normalization"][e]["random"])
            / (agg["normalization"][e]["target"] - agg["normalization"][e]["random"]) for e in agg["envs"]]
    assert agg["agents"]["reinforce"]["mean"]["estimate"] == pytest.approx(np.concatenate(norm).mean())
    md = (tmp_path / "c" / "summary.md").read_text()
    assert "range [" in md and "not a 95% confidence interval" in md and "## Aggregate over" in md
    assert (tmp_path / "c" / "profiles.png").stat().st_size > 1000


def test_compare_aggregate_without_a_threshold_is_refused_before_any_trial(cli, tmp_path):
    out = tmp_path / "c"
    code, _, err = cli("compare", "--env", "CartPole-v1,Pendulum-v1", "--agents", "reinforce",
                       "--seeds", "1", "--total-timesteps", "256", "--out", str(out), "--quiet")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    assert "--target Pendulum-v1=SCORE" in err
    assert not (out / "trials").exists()
    code, _, err = cli("compare", "--env", "CartPole-v1", "--agents", "reinforce",
                       "--target", "CartPole-v1=lots", "--out", str(out), "--quiet")
    assert code == 2 and "ENV=SCORE" in err


def test_a_target_is_the_threshold_of_an_env_without_one(tmp_path):
    """Pendulum has no reward_threshold: its --target counts for steps / time to threshold too."""
    from rlkit.experiments.compare import compare

    kw = dict(seeds=1, total_timesteps=256, eval_every=128, eval_episodes=1, workers=1,
              overrides={"reinforce": {"n_envs": 2, "n_steps": 64, "policy.net.hidden": [8]}})
    easy = compare(["Pendulum-v1"], ["reinforce"], out=tmp_path / "easy", targets={"Pendulum-v1": -1e9}, **kw)
    row = easy.summary[0]
    first_point = easy.results[0].eval_rows[0]["timesteps"]
    assert row["reward_threshold"] == -1e9 and row["reached"] == 1
    assert row["steps_to_threshold"] == first_point
    hard = compare(["Pendulum-v1"], ["reinforce"], out=tmp_path / "hard", targets={"Pendulum-v1": 1e9}, **kw)
    assert hard.summary[0]["reward_threshold"] == 1e9 and hard.summary[0]["reached"] == 0
    assert "its `--target` (Pendulum-v1: " in (tmp_path / "hard" / "summary.md").read_text()
