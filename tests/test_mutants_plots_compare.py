"""Tests against the surviving mutants of issue 15's fourth measurement (docs/mutation.md):
``rlkit.plotting``'s statistics (the band around a mean curve, the moving average, the robust y
limits) and ``rlkit.experiments.compare``'s summary (first reach of the threshold, result rows,
censored medians, summary rows, ranking, table cells). Every number is computed here by hand or
with scipy, on hand-made curves and trial results (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rlkit.errors import RlkitError
from rlkit.plotting import mean_and_band, moving_average, robust_limits

# ----------------------------------------------------------------------------------------------
# mean_and_band
# ----------------------------------------------------------------------------------------------

NAN = np.nan
# 4 runs of 4 steps; column 2 has 2 values, column 3 only 1 (runs of different lengths)
RUNS = np.array([[1.0, 2.0, 5.0, 7.0], [3.0, 2.5, 9.0, NAN], [2.0, 6.0, NAN, NAN], [6.0, 1.5, NAN, NAN]])


def test_the_ci95_band_is_scipys_t_interval_column_by_column():
    mean, lo, hi = mean_and_band(RUNS, "ci95")
    for j in range(3):
        col = RUNS[:, j][~np.isnan(RUNS[:, j])]
        m = col.mean()
        assert mean[j] == pytest.approx(m, rel=1e-15)
        a, b = stats.t.interval(0.95, col.size - 1, loc=m, scale=stats.sem(col))
        assert (lo[j], hi[j]) == (pytest.approx(a, rel=1e-13), pytest.approx(b, rel=1e-13))
    assert mean[3] == 7.0 and np.isnan(lo[3]) and np.isnan(hi[3])     # one value: no band there


def test_the_std_band_is_one_sample_standard_deviation():
    mean, lo, hi = mean_and_band(RUNS, "std")
    sd = np.nanstd(RUNS[:, :3], axis=0, ddof=1)
    np.testing.assert_allclose(hi[:3] - mean[:3], sd, rtol=1e-14)
    np.testing.assert_allclose(mean[:3] - lo[:3], sd, rtol=1e-14)
    np.testing.assert_allclose(mean, [3.0, 3.0, 7.0, 7.0], rtol=1e-15)


def test_no_band_for_one_run_or_when_asked_and_an_empty_column_has_no_mean():
    mean, lo, hi = mean_and_band([1.0, 2.0, 4.0])
    np.testing.assert_array_equal(mean, [1.0, 2.0, 4.0])
    assert lo is None and hi is None
    mean, lo, hi = mean_and_band(RUNS, None)
    assert lo is None and hi is None
    np.testing.assert_allclose(mean, [3.0, 3.0, 7.0, 7.0], rtol=1e-15)
    mean, lo, hi = mean_and_band([[1.0, NAN], [3.0, NAN]], "std")
    assert mean[0] == 2.0 and np.isnan(mean[1]) and np.isnan(lo[1]) and np.isnan(hi[1])
    assert (lo[0], hi[0]) == (2.0 - math.sqrt(2.0), 2.0 + math.sqrt(2.0))


def test_two_runs_ci95_by_hand():
    mean, lo, hi = mean_and_band([[0.0, 1.0], [2.0, 1.0]])          # the default band: ci95
    # n = 2: t(0.975, 1) = 12.706..., sd = sqrt(2), half = t * sqrt(2) / sqrt(2) = t
    t1 = stats.t.ppf(0.975, 1)
    np.testing.assert_allclose(lo, [1.0 - t1, 1.0], rtol=1e-14)
    np.testing.assert_allclose(hi, [1.0 + t1, 1.0], rtol=1e-14)


@pytest.mark.parametrize(("runs", "band", "match"), [
    (np.zeros((2, 2, 2)), "ci95", r"^a curve must be \(T,\) or \(runs, T\), got shape \(2, 2, 2\)$"),
    (np.zeros((2, 2)), "ci90", r"^band must be 'ci95', 'std' or None, got 'ci90'$"),
])
def test_mean_and_band_refuses(runs, band, match):
    with pytest.raises(RlkitError, match=match):
        mean_and_band(runs, band)


# ----------------------------------------------------------------------------------------------
# moving_average, robust_limits
# ----------------------------------------------------------------------------------------------

def test_moving_average_by_hand():
    y = [1.0, 3.0, 5.0, 7.0, 9.0]
    np.testing.assert_allclose(moving_average(y, 3), [1.0, 2.0, 3.0, 5.0, 7.0], rtol=1e-15)
    np.testing.assert_array_equal(moving_average(y, 1), y)
    np.testing.assert_array_equal(moving_average(y, 0), y)            # a window below 1 is 1
    np.testing.assert_allclose(moving_average(y, 10), [1.0, 2.0, 3.0, 4.0, 5.0], rtol=1e-15)
    np.testing.assert_array_equal(moving_average([2, 4], 2.7), [2.0, 3.0])   # int(2.7) = 2
    assert moving_average([], 3).shape == (0,)


def test_robust_limits_by_hand():
    v = np.arange(101.0)                                   # percentiles are the values themselves
    assert robust_limits(v) == (pytest.approx(2.0 - 0.05 * 98), pytest.approx(100.0 + 0.05 * 98))
    assert robust_limits(v, low=10, high=90, pad=0.5) == (pytest.approx(10 - 40.0), pytest.approx(90 + 40.0))
    assert robust_limits([NAN, np.inf, 5.0, 5.0]) == (pytest.approx(5 - 0.25), pytest.approx(5 + 0.25))
    assert robust_limits([0.5, 0.5]) == (pytest.approx(0.5 - 0.05), pytest.approx(0.5 + 0.05))  # span 1
    assert robust_limits([-3.0]) == (pytest.approx(-3.0 - 0.15), pytest.approx(-3.0 + 0.15))    # span |hi|
    assert robust_limits([NAN, -np.inf]) == (0.0, 1.0)
    assert robust_limits([]) == (0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# compare's summary, from hand-made trial results
# ----------------------------------------------------------------------------------------------

import importlib  # noqa: E402

from rlkit.experiments.compare import rank_summary, summarize, summary_table  # noqa: E402
from rlkit.experiments.stats import bootstrap_ci  # noqa: E402
from rlkit.experiments.trial import TrialResult, TrialSpec  # noqa: E402

cmp = importlib.import_module("rlkit.experiments.compare")
ENV = "CartPole-v1"


def trial(seed, curve, *, agent="reinforce", config_id="default", env=ENV, times=None, train=(),
          budget=None, timesteps=None):
    """A finished trial evaluated at 0, 100, 200, ... with mean returns ``curve``."""
    budget = 100 * (len(curve) - 1) if budget is None else budget
    spec = TrialSpec(agent, env, seed, budget, 100, 5, {}, config_id=config_id)
    times = times or [10.0 * i for i in range(len(curve))]
    rows = [{"kind": "eval", "eval_point": 100 * i, "timesteps": 100 * i, "train_time_s": t,
             "return_mean": float(v), "return_std": 0.0, "return_min": float(v), "return_max": float(v),
             "episodes": 5, "length_mean": float(v)}
            for i, (v, t) in enumerate(zip(curve, times, strict=True))]
    train_rows = [{"kind": "train", "return_mean": float(v)} for v in train]
    return TrialResult(spec=spec, status="ok", timesteps=budget if timesteps is None else timesteps,
                       final_eval_mean=float(curve[-1]), final_eval_std=1.5, eval_rows=rows,
                       train_rows=train_rows, train_time_s=times[-1], wall_time_s=times[-1] + 1, host="h1")


def failed(seed, error="boom", config_id="default", agent="reinforce"):
    spec = TrialSpec(agent, ENV, seed, 300, 100, 5, {}, config_id=config_id)
    return TrialResult(spec=spec, status="failed", error=error, wall_time_s=2.5, host="h2")


def test_first_reach():
    t = trial(0, [0, 50, 100, 150], times=[0.0, 1.0, 2.0, 3.0])
    assert cmp._first_reach(t, 100.0)["timesteps"] == 200          # reaching it exactly counts
    assert cmp._first_reach(t, 99.5)["timesteps"] == 200
    assert cmp._first_reach(t, 0.0)["timesteps"] == 0
    assert cmp._first_reach(t, 150.5) is None
    assert cmp._first_reach(t, None) is None
    assert cmp._first_reach(failed(1), 0.0) is None


def test_result_row_of_a_finished_trial_by_hand():
    train = [float(i) for i in range(1, 13)]                  # 12 training episodes: last 10 are 3..12
    t = trial(3, [0, 50, 100, 80], times=[0.0, 2.0, 4.0, 8.0], train=train)
    row = cmp._result_row(t, 90.0, {"lr": 0.01, "a": [1, 2]})
    assert row == {
        "trial_id": "CartPole-v1__reinforce__default__s3", "env": ENV, "agent": "reinforce",
        "config_id": "default", "params": '{"a": [1, 2], "lr": 0.01}', "seed": 3, "status": "ok", "error": "",
        "timesteps": 300, "final_eval_mean": 80.0, "final_eval_std": 1.5, "best_eval_mean": 100.0,
        "reward_threshold": 90.0, "steps_to_threshold": 200, "train_episodes": 12,
        "train_return_last10": 7.5, "wall_time_s": 9.0, "train_time_s": 8.0, "time_to_threshold_s": 4.0,
        "steps_per_s": 300 / 8.0, "host": "h1",
    }
    row = cmp._result_row(t, None, {})
    assert row["params"] == "" and row["reward_threshold"] == "" and row["steps_to_threshold"] == ""
    assert row["time_to_threshold_s"] == "" and row["train_episodes"] == 12
    row = cmp._result_row(trial(0, [0, 5]), 10.0, {})
    assert (row["train_episodes"], row["train_return_last10"], row["steps_to_threshold"]) == (0, "", "")


def test_result_row_of_a_failed_trial():
    row = cmp._result_row(failed(2, "it broke"), 50.0, {})
    assert row == {
        "trial_id": "CartPole-v1__reinforce__default__s2", "env": ENV, "agent": "reinforce",
        "config_id": "default", "params": "", "seed": 2, "status": "failed", "error": "it broke",
        "timesteps": "", "final_eval_mean": "", "final_eval_std": "", "best_eval_mean": "",
        "reward_threshold": 50.0, "steps_to_threshold": "", "train_episodes": "", "train_return_last10": "",
        "wall_time_s": 2.5, "train_time_s": "", "time_to_threshold_s": "", "steps_per_s": "", "host": "h2",
    }


def test_censored_median():
    assert cmp._median_censored([]) is None
    assert cmp._median_censored([300.0]) == 300.0
    assert cmp._median_censored([100.0, math.inf, 200.0]) == 200.0
    assert cmp._median_censored([100.0, math.inf]) is None         # the median itself is infinite
    assert cmp._median_censored([100.0, 200.0, 400.0, math.inf]) == 300.0
    assert cmp._median_censored([math.nan, 1.0]) is None
    assert type(cmp._median_censored([1, 2])) is float


def test_summary_rows_by_hand():
    finals = [40.0, 10.0, 30.0, 20.0, 50.0]
    ok = [trial(s, [0, 0, f], times=[0.0, 2.0, 4.0], timesteps=200) for s, f in enumerate(finals)]
    bad = [failed(7, "b"), failed(8, "a"), failed(9, "b")]
    other = [trial(0, [0, 20, 20], config_id="c2"), trial(1, [0, 0, 10], config_id="c2")]
    rows = summarize(ok + bad + other, {ENV: 20.0}, {"c2": {"lr": 0.5}})
    assert [r["config_id"] for r in rows] == ["default", "c2"]
    r = rows[0]
    ci = bootstrap_ci(np.array(finals), seed=0)
    assert r == {
        "env": ENV, "agent": "reinforce", "config_id": "default", "params": {}, "seeds": 8, "ok": 5,
        "failed": 3, "budget": 200, "final_mean": 30.0, "ci_low": ci.low, "ci_high": ci.high,
        "iqm": pytest.approx((20 + 30 + 40) / 3), "min": 10.0, "max": 50.0, "ci_is_95": True,
        "reward_threshold": 20.0, "reached": 4, "steps_to_threshold": 200, "time_to_threshold_s": 4.0,
        "steps_per_s": 200 / 4.0, "errors": ["a", "b"],
    }
    assert ci.estimate == 30.0 and ci.low < 30.0 < ci.high
    r2 = rows[1]
    assert r2["params"] == {"lr": 0.5} and r2["ci_is_95"] is False and r2["reached"] == 1
    assert (r2["min"], r2["max"], r2["final_mean"]) == (10.0, 20.0, 15.0)
    assert r2["steps_to_threshold"] is None and r2["errors"] == []       # 1 of 2 reached: not the median


def test_summary_row_of_a_group_that_failed_and_of_no_threshold():
    (row,) = summarize([failed(0), failed(1, "x")], {ENV: 10.0})
    assert (row["ok"], row["failed"], row["seeds"], row["final_mean"], row["iqm"], row["reached"]) == \
        (0, 2, 2, None, None, 0)
    assert row["steps_to_threshold"] is None and row["errors"] == ["boom", "x"] and row["budget"] == 300
    (row,) = summarize([trial(0, [0, 100])], {})
    assert row["reward_threshold"] is None and row["reached"] == 0 and row["time_to_threshold_s"] is None
    assert row["ci_is_95"] is False and row["params"] == {}


def test_ranking_by_mean_then_ci_low_then_name_failed_last():
    rows = [
        {"config_id": "b", "final_mean": 10.0, "ci_low": 5.0},
        {"config_id": "f", "final_mean": None, "ci_low": None},
        {"config_id": "c", "final_mean": 10.0, "ci_low": 7.0},
        {"config_id": "a", "final_mean": 10.0, "ci_low": 5.0},
        {"config_id": "e", "final_mean": None, "ci_low": None},
        {"config_id": "d", "final_mean": 12.0, "ci_low": -3.0},
    ]
    ranked = rank_summary(rows)
    assert [(r["config_id"], r["rank"]) for r in ranked] == [("d", 1), ("c", 2), ("a", 3), ("b", 4), ("e", 5),
                                                             ("f", 6)]
    assert "rank" not in rows[0]                                    # the input rows are not changed


def test_fmt():
    assert cmp._fmt(None) == "-" and cmp._fmt(math.nan) == "-"
    assert cmp._fmt(1234.567) == "1,234.6" and cmp._fmt(1234.567, 0) == "1,235"
    assert cmp._fmt(2.0, 3) == "2.000"
    assert cmp._fmt(7) == "7" and cmp._fmt("x") == "x"


def test_summary_table_cells_by_hand():
    rows = [
        {"env": ENV, "agent": "ppo", "config_id": "c1", "params": {"lr": 0.1, "n": 2}, "seeds": 5, "ok": 5,
         "final_mean": 1234.5, "ci_low": 1000.0, "ci_high": 1500.25, "min": 0.0, "max": 0.0, "iqm": 1200.0,
         "reward_threshold": 500.0, "reached": 4, "steps_to_threshold": 12345.0, "time_to_threshold_s": 3.25,
         "steps_per_s": 999.6, "rank": 1},
        {"env": ENV, "agent": "ppo", "config_id": "c2", "params": {}, "seeds": 3, "ok": 3,
         "final_mean": 10.0, "ci_low": 1.0, "ci_high": 2.0, "min": 5.0, "max": 15.0, "iqm": None,
         "reward_threshold": 500.0, "reached": 1, "steps_to_threshold": None, "time_to_threshold_s": None,
         "steps_per_s": None, "rank": 2},
        {"env": ENV, "agent": "dqn", "config_id": "c3", "params": {}, "seeds": 6, "ok": 6,
         "final_mean": 1.0, "ci_low": 0.5, "ci_high": 1.5, "min": 0.0, "max": 2.0, "iqm": 1.0,
         "reward_threshold": None, "reached": 0, "steps_to_threshold": None, "time_to_threshold_s": None,
         "steps_per_s": 10.0, "rank": 3},
        {"env": ENV, "agent": "dqn", "config_id": "c4", "params": {}, "seeds": 2, "ok": 0,
         "final_mean": None, "ci_low": None, "ci_high": None, "min": None, "max": None, "iqm": None,
         "reward_threshold": 500.0, "reached": 0, "steps_to_threshold": None, "time_to_threshold_s": None,
         "steps_per_s": None, "rank": 4},
    ]
    headers, cells = summary_table(rows, with_params=True)
    assert headers == ["rank", "env", "agent", "config", "params", "seeds ok", "final eval mean [95% CI]",
                       "IQM", "steps to threshold", "time to threshold", "steps/s"]
    assert cells == [
        ["1", ENV, "ppo", "c1", 'lr=0.1 n=2', "5/5", "1,234.5 [1,000.0, 1,500.2]", "1,200.0", "12,345 (4/5)",
         "3.2 s", "1,000"],
        ["2", ENV, "ppo", "c2", "-", "3/3", "10.0 range [5.0, 15.0] (n<5)", "-", "not reached (1/3)", "-",
         "-"],
        ["3", ENV, "dqn", "c3", "-", "6/6", "1.0 [0.5, 1.5]", "1.0", "no threshold", "-", "10"],
        ["4", ENV, "dqn", "c4", "-", "0/2", "failed", "-", "-", "-", "-"],
    ]
    for r in rows:
        del r["rank"]
    headers, cells = summary_table(rows[2:3])
    assert headers == ["env", "agent", "seeds ok", "final eval mean [95% CI]", "IQM", "steps to threshold",
                       "time to threshold", "steps/s"]
    assert cells == [[ENV, "dqn", "6/6", "1.0 [0.5, 1.5]", "1.0", "no threshold", "-", "10"]]
    assert summary_table([]) == (headers, [])


def test_markdown_table_by_hand():
    assert cmp._markdown(["a", "b|c"], [["1", "x|y"], ["2", ""]]) == (
        "| a | b|c |\n|---|---|\n| 1 | x\\|y |\n| 2 |  |")


def test_summary_markdown_whole_text_by_hand():
    from rlkit.experiments.trial import EVAL_SEED_BASE

    res = [trial(0, [0, 100, 300]), trial(1, [0, 50, 200], agent="ppo"), failed(2, "it broke")]
    rows = summarize(res, {ENV: 250.0})
    text = cmp.summary_markdown(res, rows, {ENV: 250.0, "Other-v0": 1.5}, title="my run")
    headers, cells = summary_table(rows)
    assert text == "\n".join([
        "# my run", "", cmp._markdown(headers, cells), "",
        "**Warning**: rows with fewer than 5 seeds show the range of their seeds (min, max), not a 95% "
        "confidence interval: so few runs cannot support one.", "",
        "## Protocol", "",
        f"- Evaluation before training, every 100 environment steps (counted over all training envs) and at "
        f"the end: 5 episodes, deterministic actions, on separate env instances; episode i of seed s starts "
        f"from `reset(seed={EVAL_SEED_BASE:,} + 1000*s + i)` (the same start states for every agent).",
        "- Final eval mean: the last evaluation of each seed; 95% CI: percentile bootstrap over seeds "
        "(10,000 resamples); IQM: mean of the middle 50% of seeds (scipy's trim_mean 0.25).",
        "- Steps / time to threshold: first evaluation whose mean reaches the env's `reward_threshold` or, "
        "for an env without one, its `--target` (CartPole-v1: 250.0, Other-v0: 1.5); median over seeds, a "
        "seed that never reached it counting as infinite, (k/n) seeds reached it. Time is training time "
        "(the clock stops during evaluations).",
        "- steps/s: environment steps per second of training time, mean over seeds.",
        "- Budgets (env steps): ppo on CartPole-v1 200, reinforce on CartPole-v1 200, reinforce on "
        "CartPole-v1 300.",
        "",
        "## Failed trials", "", "- `CartPole-v1__reinforce__default__s2`: it broke", ""])
    assert "with_params" not in text and "| config |" not in text


def test_summary_markdown_params_aggregate_and_no_warning():
    res = [trial(s, [0, 10 * s], config_id="c1") for s in range(5)]
    rows = summarize(res, {ENV: None}, {"c1": {"lr": 0.5}})
    agg_lines = ["## Aggregate over X", "", "a line", ""]
    original = cmp.aggregate_markdown
    cmp.aggregate_markdown = lambda agg: agg_lines if agg == {"k": 1} else ["wrong"]
    try:
        text = cmp.summary_markdown(res, rows, {ENV: None}, aggregate={"k": 1})
    finally:
        cmp.aggregate_markdown = original
    headers, cells = summary_table(rows, with_params=True)
    assert "params" in headers and 'lr=0.5' in cells[0]
    head = "# compare\n\n" + cmp._markdown(headers, cells) + "\n\n"
    assert text.startswith(head + "## Aggregate over X\n\na line\n\n## Protocol\n")
    assert "**Warning**" not in text and "## Failed trials" not in text
    assert "(CartPole-v1: -)" in text
    assert text.endswith("reinforce on CartPole-v1 100.\n")
    assert cmp.summary_markdown([], [], {}) == "# compare\n\n" + cmp._markdown(*summary_table([])) + "\n"


def test_mean_and_band_of_empty_columns_warns_nothing():
    import warnings

    runs = np.array([[1.0, NAN, 2.0], [3.0, NAN, NAN]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "mean of empty slice" / "invalid value" would raise
        for band in ("ci95", "std"):
            mean, low, high = mean_and_band(runs, band)
            assert np.isnan(mean[1]) and np.isnan(low[1]) and np.isnan(high[1]) and np.isnan(low[2])


def test_ranking_puts_failed_groups_after_negative_means():
    rows = [{"config_id": "failed", "final_mean": None, "ci_low": None},
            {"config_id": "neg", "final_mean": -200.0, "ci_low": -250.0}]
    assert [r["config_id"] for r in rank_summary(rows)] == ["neg", "failed"]


def test_summary_of_failed_groups_and_one_trial():
    (row,) = summarize([failed(0), failed(1)], {ENV: 10.0})
    assert row["ci_is_95"] is False and row["ok"] == 0
    text = cmp.summary_markdown([failed(0)], [row], {ENV: 10.0})
    assert "**Warning**" not in text            # no seed finished: nothing to warn about
    assert "every 100 environment steps" in text and "## Failed trials" in text
