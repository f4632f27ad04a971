"""Compare's summary from hand-made trial results: the reward-threshold boundary (reaching it
exactly counts), the IQM column, the censored medians of steps and time to threshold, and
summary.md / summary.json against hand computations (no training: fast, and the mutation run's
test selection for rlkit.experiments.stats)."""

from __future__ import annotations

import importlib
import json
import math
import re

import numpy as np
import pytest

from rlkit.experiments.compare import summarize, summary_markdown
from rlkit.experiments.stats import bootstrap_ci
from rlkit.experiments.trial import TrialResult, TrialSpec

compare_mod = importlib.import_module("rlkit.experiments.compare")



def fake(seed, curve, *, agent="reinforce", times=None, config_id="default"):
    """A finished trial whose evaluations at 0, 100, 200, ... returned ``curve``."""
    spec = TrialSpec(agent, "CartPole-v1", seed, 100 * (len(curve) - 1), 100, 5, {}, config_id=config_id)
    times = times or [10.0 * i for i in range(len(curve))]
    rows = [{"kind": "eval", "eval_point": 100 * i, "timesteps": 100 * i, "train_time_s": t,
             "return_mean": float(v), "return_std": 0.0, "return_min": float(v), "return_max": float(v),
             "episodes": 5, "length_mean": float(v)}
            for i, (v, t) in enumerate(zip(curve, times, strict=True))]
    return TrialResult(spec=spec, status="ok", timesteps=spec.total_timesteps,
                       final_eval_mean=float(curve[-1]), final_eval_std=0.0, eval_rows=rows,
                       train_time_s=times[-1], wall_time_s=times[-1] + 1)


def test_reaching_the_threshold_exactly_counts_and_the_first_reach_is_taken():
    just = fake(0, [10, 499.999, 500.0, 480])      # reaches 500 exactly at 200 steps, then drops
    never = fake(1, [10, 499.999, 499.999, 499.999])
    (row,) = summarize([just, never], {"CartPole-v1": 500.0})
    assert row["reached"] == 1
    assert row["steps_to_threshold"] is None        # 1 of 2: the median is not reached
    (row,) = summarize([just], {"CartPole-v1": 500.0})
    assert row["reached"] == 1 and row["steps_to_threshold"] == 200 and row["time_to_threshold_s"] == 20.0
    rows = compare_mod._result_row(just, 500.0, {})
    assert rows["steps_to_threshold"] == 200 and rows["time_to_threshold_s"] == 20.0
    assert rows["best_eval_mean"] == 500.0 and rows["final_eval_mean"] == 480.0


def test_censored_medians_over_seeds():
    # seeds reach the threshold (100) at 100, 300, never, 200, never steps; times 5 s per 100 steps
    curves = [[0, 100, 0, 0], [0, 0, 0, 100], [0, 0, 0, 0], [0, 0, 100, 100], [0, 99, 99, 99]]
    trials = [fake(s, c, times=[0.0, 5.0, 10.0, 15.0]) for s, c in enumerate(curves)]
    (row,) = summarize(trials, {"CartPole-v1": 100.0})
    assert row["reached"] == 3
    assert row["steps_to_threshold"] == 300            # median of 100, 300, inf, 200, inf
    assert row["time_to_threshold_s"] == 15.0
    (row,) = summarize(trials[:4], {"CartPole-v1": 100.0})  # 100, 300, inf, 200: median (200 + 300) / 2
    assert row["steps_to_threshold"] == 250 and row["time_to_threshold_s"] == 12.5
    (row,) = summarize(trials[1:5], {"CartPole-v1": 100.0})  # 300, inf, 200, inf: half is not enough
    assert row["reached"] == 2 and row["steps_to_threshold"] is None
    (row,) = summarize(trials, {"CartPole-v1": None})
    assert row["reached"] == 0 and row["steps_to_threshold"] is None


FINALS = [500.0, 20.0, 480.0, 300.0, 100.0, 350.0]      # sorted: 20 100 300 350 480 500


def test_final_mean_iqm_and_ci_columns_by_hand():
    trials = [fake(s, [0, v]) for s, v in enumerate(FINALS)]
    (row,) = summarize(trials, {"CartPole-v1": 475.0})
    assert row["final_mean"] == pytest.approx(1750 / 6)
    assert row["iqm"] == pytest.approx((100 + 300 + 350 + 480) / 4)   # floor(6/4) = 1 cut at each end
    ci = bootstrap_ci(np.array(FINALS), seed=0)
    assert (row["ci_low"], row["ci_high"]) == (ci.low, ci.high)
    assert 20 < row["ci_low"] < row["final_mean"] < row["ci_high"] < 500
    assert row["reached"] == 2 and row["steps_to_threshold"] is None
    assert row["steps_per_s"] == pytest.approx(100 / 10.0)         # 100 steps in 10 s of training


def test_summary_md_cells_are_the_hand_computed_numbers():
    a = [fake(s, [0, v]) for s, v in enumerate(FINALS)]
    b = [fake(s, [0, 100 + 10 * s], agent="sb3-ppo") for s in range(3)]        # finals 100, 110, 120
    trials = a + b
    summary = summarize(trials, {"CartPole-v1": 110.0})
    text = summary_markdown(trials, summary, {"CartPole-v1": 110.0})
    table = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0] == "CartPole-v1":
            table[cells[1]] = cells
    r, p = table["reinforce"], table["sb3-ppo"]
    assert r[2] == "6/6" and p[2] == "3/3"
    mean, low, high = (float(x.replace(",", "")) for x in re.findall(r"[\d,]+\.\d", r[3]))
    assert mean == round(1750 / 6, 1)
    assert (low, high) == (round(summary[0]["ci_low"], 1), round(summary[0]["ci_high"], 1))
    assert r[4] == "307.5" and p[4] == "110.0"                 # IQM; n = 3 keeps every seed
    assert r[5] == "100 (4/6)" and r[6] == "10.0 s"           # 4 of 6 reach 110 at the first point
    assert p[5] == "100 (2/3)" and p[6] == "10.0 s"
    assert p[3] == "110.0 range [100.0, 120.0] (n<5)"          # 3 seeds: their range, not a "95% CI"
    assert r[7] == "10" and p[7] == "10"                         # steps/s = 100 / 10 s
    assert "CartPole-v1: 110.0" in text


def test_summary_json_of_a_run_experiment_holds_the_same_numbers(tmp_path, monkeypatch):
    trials = [fake(s, [0, v]) for s, v in enumerate(FINALS)]

    class Canned:
        def results(self, specs):
            by_id = {t.spec.trial_id: t for t in trials}
            for spec in specs:
                yield by_id[spec.trial_id]

    monkeypatch.setattr(compare_mod, "make_executor", lambda *a, **k: Canned())
    res = compare_mod.run_experiment([t.spec for t in trials], tmp_path, thresholds={"CartPole-v1": 475.0})
    (row,) = json.loads(res.files["summary_json"].read_text())["summary"]
    assert row["iqm"] == pytest.approx(307.5) and row["final_mean"] == pytest.approx(1750 / 6)
    assert row["reached"] == 2 and row["steps_to_threshold"] is None and row["ok"] == 6
    csv_rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 7 and all(math.isfinite(float(line.split(",")[9])) for line in csv_rows[1:])


def test_bootstrap_ci_defaults_input_shapes_and_messages():
    from rlkit.errors import RlkitError

    x = np.array(FINALS)
    default = bootstrap_ci(x)
    assert default == bootstrap_ci(x, seed=0, n_resamples=10_000, confidence=0.95, statistic="mean")
    assert default != bootstrap_ci(x, seed=1)                       # the default seed is 0
    assert bootstrap_ci(x[:, None]) == default                      # a column of seeds is flattened
    assert bootstrap_ci(x.astype(int)) == default
    with pytest.raises(RlkitError, match="bootstrap_ci of an empty sample"):
        bootstrap_ci(np.array([]))
    with pytest.raises(RlkitError, match="bootstrap_ci: values must be finite"):
        bootstrap_ci(np.array([1.0, np.nan]))
