"""Bootstrap CI and IQM against hand numbers, scipy and the exact bootstrap distribution."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.experiments.stats import bootstrap_ci, bootstrap_ci_columns, iqm


def test_iqm_by_hand():
    # n=4: drop one at each end -> mean(2, 3); n=5: drop one at each end -> mean(200, 480, 500)
    assert iqm(np.array([4.0, 1.0, 3.0, 2.0])) == pytest.approx(2.5)
    assert iqm(np.array([10.0, 200.0, 480.0, 500.0, 500.0])) == pytest.approx(1180.0 / 3.0)
    # n=8: drop two at each end
    assert iqm(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))
    # fewer than 4 values: nothing dropped
    assert iqm(np.array([1.0, 5.0, 9.0])) == pytest.approx(5.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_iqm_equals_scipy_trim_mean(values):
    x = np.array(values)
    assert iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25), rel=1e-9, abs=1e-6)


def test_iqm_along_axis():
    x = np.arange(20.0).reshape(4, 5)
    np.testing.assert_allclose(iqm(x, axis=1), [iqm(row) for row in x])


def test_constant_sample_and_single_seed_collapse():
    ci = bootstrap_ci(np.full(5, 500.0))
    assert (ci.estimate, ci.low, ci.high, ci.n) == (500.0, 500.0, 500.0, 5)
    one = bootstrap_ci(np.array([123.0]))
    assert (one.low, one.high) == (123.0, 123.0)


def test_matches_exact_bootstrap_distribution():
    """n=5: all 5**5 equally likely resamples give the exact bootstrap distribution of the mean;
    the Monte Carlo percentile interval (B=40000) must sit on its exact quantiles."""
    x = np.array([9.0, 150.0, 230.0, 480.0, 500.0])
    idx = np.array(list(itertools.product(range(5), repeat=5)))
    exact = x[idx].mean(axis=1)
    lo, hi = np.quantile(exact, [0.025, 0.975])
    ci = bootstrap_ci(x, n_resamples=40_000, seed=1)
    spread = x.std() / np.sqrt(5)  # bootstrap sd of the mean ~ 98; MC quantile error ~ 1-2% of it
    assert ci.estimate == pytest.approx(x.mean())
    assert abs(ci.low - lo) < 0.05 * spread and abs(ci.high - hi) < 0.05 * spread


def test_agrees_with_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    x = rng.normal(200.0, 40.0, size=12)
    ours = bootstrap_ci(x, n_resamples=20_000, seed=0)
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile",
                                confidence_level=0.95, random_state=1).confidence_interval
    se = x.std() / np.sqrt(len(x))
    assert abs(ours.low - ref.low) < 0.1 * se and abs(ours.high - ref.high) < 0.1 * se


def test_coverage_of_normal_mean():
    """400 samples of n=20 from N(0,1): the 95% percentile interval covers 0 about 93-95% of
    the time (it is slightly narrow for small n). 99.9% binomial bounds around 0.94: [0.90, 0.975]."""
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(400, 20))
    _, low, high = bootstrap_ci_columns(samples, n_resamples=2000, seed=1)
    coverage = np.mean((low <= 0.0) & (0.0 <= high))
    assert 0.90 <= coverage <= 0.975


def test_columns_equal_row_by_row_and_seeded():
    rng = np.random.default_rng(5)
    data = rng.normal(size=(3, 6))
    est, low, high = bootstrap_ci_columns(data, n_resamples=500, seed=7)
    for i in range(3):
        ci = bootstrap_ci(data[i], n_resamples=500, seed=7)
        assert (est[i], low[i], high[i]) == pytest.approx((ci.estimate, ci.low, ci.high))
    again = bootstrap_ci_columns(data, n_resamples=500, seed=7)
    np.testing.assert_array_equal(again[1], low)


def test_iqm_statistic_interval_contains_estimate():
    x = np.array([10.0, 200.0, 480.0, 500.0, 500.0, 20.0, 330.0])
    ci = bootstrap_ci(x, statistic="iqm", seed=0)
    assert ci.estimate == pytest.approx(iqm(x))
    assert ci.low <= ci.estimate <= ci.high


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.nan])])
def test_bad_samples(bad):
    with pytest.raises(RlkitError):
        bootstrap_ci(bad)


def test_bad_confidence_and_statistic():
    with pytest.raises(RlkitError):
        bootstrap_ci(np.ones(3), confidence=1.5)
    with pytest.raises(RlkitError):
        bootstrap_ci(np.ones(3), statistic="mode")
