"""Mutants of rlkit/experiments/stats.py that the bootstrap and aggregate tests left alive, each
killed here against a hand number, scipy or the exact bootstrap distribution (all n**n equally
likely resamples): the median and callable statistics, the axis of the IQM, float64 arithmetic on
float32 input (2**24 + 1 is not a float32), the argument checks and their exact messages, the
interval's fields, and the stratified bootstrap's percentiles, defaults and reshaping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats
from _mdps import raises_exactly

from rlkit.experiments.stats import (
    aggregate_iqm,
    aggregate_mean,
    bootstrap_ci,
    bootstrap_ci_columns,
    iqm,
    normalize_scores,
    probability_of_improvement,
    stratified_bootstrap,
)

BIG = float(2**24)  # BIG + 1 is exact in float64, rounds to BIG in float32


def exact_bootstrap(x, statistic):
    """The exact bootstrap distribution: the statistic of every one of the n**n resamples."""
    idx = np.array(list(itertools.product(range(len(x)), repeat=len(x))))
    return statistic(np.asarray(x, dtype=np.float64)[idx], axis=1)


# -- iqm and the statistics -----------------------------------------------------------------------


def test_iqm_along_the_first_axis_is_scipys_trim_mean():
    x = np.array([[5.0, 0.0], [1.0, 9.0], [4.0, 2.0], [3.0, 7.0], [2.0, 8.0]])
    np.testing.assert_allclose(iqm(x, axis=0), scipy.stats.trim_mean(x, 0.25, axis=0))
    np.testing.assert_allclose(iqm(x, axis=0), [3.0, 17.0 / 3.0])  # by hand: middle 3 of 5


def test_iqm_and_aggregates_of_float32_scores_are_computed_in_float64():
    x = np.array([0.0, 1.0, BIG, 2 * BIG], dtype=np.float32)  # keeps 1 and BIG
    # float(): comparing a float32 with a Python float rounds the Python float to float32
    assert float(iqm(x)) == (BIG + 1.0) / 2.0
    tasks = [np.array([BIG], dtype=np.float32), np.array([1.0], dtype=np.float32)]
    assert aggregate_mean(tasks) == (BIG + 1.0) / 2.0
    assert aggregate_iqm(tasks) == (BIG + 1.0) / 2.0
    est, _, _ = bootstrap_ci_columns(np.array([[BIG, 1.0]], dtype=np.float32), n_resamples=10)
    assert est[0] == (BIG + 1.0) / 2.0
    assert float(normalize_scores(np.array([1.0], dtype=np.float32), 0.0, 3.0)[0]) == 1.0 / 3.0


def test_pooled_aggregates_flatten_every_task():
    tasks = [np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([4.0])]  # 5 runs: 0..4
    assert aggregate_mean(tasks) == pytest.approx(2.0)
    assert aggregate_iqm(tasks) == pytest.approx(2.0)  # middle 3 of 5: 1, 2, 3


def test_median_statistic_against_the_exact_bootstrap():
    # n=3, values 1 < 2 < 10: the resampled median is 1 or 10 with chance 7/27 each, so the
    # 2.5% and 97.5% quantiles of the exact distribution are 1 and 10; the estimate is 2.
    x = np.array([10.0, 1.0, 2.0])
    exact = exact_bootstrap(x, np.median)
    assert np.mean(exact == 1.0) == pytest.approx(7 / 27)
    ci = bootstrap_ci(x, statistic="median", seed=3)
    assert (ci.estimate, ci.low, ci.high) == (2.0, *np.quantile(exact, [0.025, 0.975]))
    assert (ci.low, ci.high) == (1.0, 10.0)


def test_callable_statistic_is_used():
    # the maximum of 3 resampled values is 10 with chance 1 - (2/3)**3 = 19/27 and 1 with chance
    # 1/27 (more than 2.5%), so the 95% interval is [1, 10]; the mean's would be inside (1, 10)
    x = np.array([10.0, 1.0, 2.0])
    assert np.mean(exact_bootstrap(x, np.max) == 1.0) == pytest.approx(1 / 27)
    ci = bootstrap_ci(x, statistic=lambda a, axis: np.max(a, axis=axis), seed=0)
    assert (ci.estimate, ci.low, ci.high) == (10.0, 1.0, 10.0)


# -- bootstrap_ci / bootstrap_ci_columns ----------------------------------------------------------


def test_bootstrap_defaults_are_10000_resamples_and_seed_0():
    x = np.random.default_rng(11).normal(size=(2, 7))
    default = bootstrap_ci_columns(x)
    np.testing.assert_array_equal(default, bootstrap_ci_columns(x, n_resamples=10_000, seed=0))
    assert not np.array_equal(default, bootstrap_ci_columns(x, n_resamples=10_001, seed=0))
    assert not np.array_equal(default, bootstrap_ci_columns(x, n_resamples=10_000, seed=1))
    one = bootstrap_ci(x[0])
    assert one == bootstrap_ci(x[0], n_resamples=10_000, seed=0)
    assert one != bootstrap_ci(x[0], n_resamples=10_001, seed=0)


def test_bootstrap_interval_reports_its_confidence():
    ci = bootstrap_ci(np.array([1.0, 2.0, 4.0]), confidence=0.9, n_resamples=50)
    assert (ci.confidence, ci.n) == (0.9, 3)


def test_one_resample_is_allowed():
    # the interval of one resample of [0, 1] is that resample's mean: 0, 0.5 or 1
    _, low, high = bootstrap_ci_columns(np.array([[0.0, 1.0]]), n_resamples=1, seed=4)
    assert low[0] == high[0] and low[0] in (0.0, 0.5, 1.0)


def test_bootstrap_argument_checks_and_messages():
    raises_exactly("bootstrap needs a (points, seeds) array with at least one seed, got (3,)",
                   bootstrap_ci_columns, np.ones(3))
    raises_exactly("bootstrap needs a (points, seeds) array with at least one seed, got (1, 2, 3)",
                   bootstrap_ci_columns, np.ones((1, 2, 3)))
    raises_exactly("bootstrap needs a (points, seeds) array with at least one seed, got (2, 0)",
                   bootstrap_ci_columns, np.ones((2, 0)))
    for bad in (0.0, 1.0):
        raises_exactly(f"confidence must be in (0, 1), got {bad}", bootstrap_ci_columns, np.ones((1, 3)),
                       confidence=bad)
    raises_exactly("n_resamples must be >= 1, got 0", bootstrap_ci_columns, np.ones((1, 3)), n_resamples=0)
    raises_exactly("unknown statistic 'mode'; use mean, median or iqm", bootstrap_ci, np.ones(3),
                   statistic="mode")
    raises_exactly("bootstrap_ci of an empty sample", bootstrap_ci, np.array([]))
    raises_exactly("bootstrap_ci: values must be finite", bootstrap_ci, np.array([1.0, np.inf]))
    raises_exactly("iqm of an empty sample", iqm, np.array([]))


# -- aggregates -----------------------------------------------------------------------------------


def test_normalising_needs_finite_distinct_references():
    msg = "normalising needs a target different from the random score, got random {} and target {}"
    raises_exactly(msg.format("nan", "1.0"), normalize_scores, np.ones(2), float("nan"), 1.0)
    raises_exactly(msg.format("0.0", "inf"), normalize_scores, np.ones(2), 0.0, float("inf"))
    raises_exactly(msg.format("3.0", "3.0"), normalize_scores, np.ones(2), 3.0, 3.0)


def test_probability_of_improvement_needs_matching_task_lists():
    msg = "probability of improvement needs the same (non-empty) list of tasks for both"
    raises_exactly(msg, probability_of_improvement, [np.ones(2), np.ones(2)], [np.ones(2)])
    raises_exactly(msg, probability_of_improvement, [], [])


def test_stratified_bootstrap_is_the_exact_bootstrap_for_one_task():
    # one task: the stratified bootstrap of the mean is the ordinary one, whose exact
    # distribution over the 5**5 resamples gives the 5% and 95% quantiles (a wrong alpha, 3.3% or
    # 20%, is off by about 0.2 sd or more; the Monte Carlo error of B=8000 is about 0.025 sd)
    x = np.array([9.0, 150.0, 230.0, 480.0, 500.0])
    exact = exact_bootstrap(x, np.mean)
    sd = exact.std()
    lo, hi = np.quantile(exact, [0.05, 0.95])
    iv = stratified_bootstrap(aggregate_mean, [x], confidence=0.9, n_resamples=8000, seed=2)
    assert iv.estimate == pytest.approx(x.mean())
    assert abs(iv.low - lo) < 0.08 * sd and abs(iv.high - hi) < 0.08 * sd
    assert (iv.confidence, iv.n) == (0.9, 5)


def test_stratified_bootstrap_resamples_runs_not_rows():
    # a task given as a (2, 2) table holds 4 runs 0, 1, 0, 1: resampling its rows would always
    # give the mean 0.5; resampling the runs spreads the interval to [0.25, 0.75] or wider
    iv = stratified_bootstrap(aggregate_mean, [np.array([[0.0, 1.0], [0.0, 1.0]])], n_resamples=400, seed=0)
    assert iv.low <= 0.25 and iv.high >= 0.75 and iv.n == 4


def test_stratified_bootstrap_defaults_seed_checks_and_n():
    rng = np.random.default_rng(5)
    tasks = [rng.normal(size=3), rng.normal(size=5)]
    default = stratified_bootstrap(aggregate_mean, tasks, n_resamples=300)
    assert default == stratified_bootstrap(aggregate_mean, tasks, n_resamples=300, seed=0)
    assert default != stratified_bootstrap(aggregate_mean, tasks, n_resamples=300, seed=1)
    assert default.n == 3  # the fewest runs of any task
    full = stratified_bootstrap(aggregate_mean, tasks)
    assert full == stratified_bootstrap(aggregate_mean, tasks, n_resamples=2000, seed=0, confidence=0.95)
    assert full != stratified_bootstrap(aggregate_mean, tasks, n_resamples=2001, seed=0)
    for bad in (0.0, 1.0, 1.5):
        raises_exactly(f"confidence must be in (0, 1), got {bad}", stratified_bootstrap, aggregate_mean,
                       tasks, confidence=bad)
