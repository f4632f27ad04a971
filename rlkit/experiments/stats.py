"""Statistics over seeds: percentile-bootstrap confidence intervals and the interquartile mean.

Results of a few seeds are summarised as in Agarwal et al., "Deep RL at the edge of the statistical
precipice" (NeurIPS 2021, the ``rliable`` library): a point estimate (mean or interquartile mean)
and a 95% percentile-bootstrap confidence interval over seeds.

Example::

    >>> import numpy as np
    >>> from rlkit.experiments.stats import bootstrap_ci, iqm
    >>> scores = np.array([10.0, 200.0, 480.0, 500.0, 500.0])
    >>> float(iqm(scores))  # mean of the middle 3 of 5 sorted scores
    393.3333333333333
    >>> ci = bootstrap_ci(scores, seed=0)
    >>> bool(ci.low <= scores.mean() <= ci.high)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rlkit.errors import RlkitError
from rlkit.seeding import SeedLike, as_generator

__all__ = ["Interval", "bootstrap_ci", "iqm", "bootstrap_ci_columns"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of ``values`` along ``axis``.

    Follows ``scipy.stats.trim_mean(values, 0.25)`` (what ``rliable`` uses): ``floor(n/4)`` values
    are dropped at each end of the sorted sample, the rest averaged. For ``n < 4`` nothing is
    dropped and the IQM is the mean.

    :param values: scores, any shape; NaNs are not allowed.
    :param axis: the axis holding the seeds.
    :return: the IQM along ``axis``.
    """
    x = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise RlkitError("iqm of an empty sample")
    cut = int(0.25 * n)
    kept = np.take(x, np.arange(cut, n - cut), axis=axis)
    return kept.mean(axis=axis)


def _statistic(name: str | Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    if callable(name):
        return name
    if name == "mean":
        return lambda a, axis: np.mean(a, axis=axis)
    if name == "median":
        return lambda a, axis: np.median(a, axis=axis)
    if name == "iqm":
        return iqm
    raise RlkitError(f"unknown statistic {name!r}; use mean, median or iqm")


def bootstrap_ci_columns(
    samples: np.ndarray,
    *,
    statistic: str | Callable[..., np.ndarray] = "mean",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: SeedLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile-bootstrap CIs for every row of ``samples`` (shape (P, n): P points, n seeds).

    The same resampled seed indices are used for every row (the seeds are the unit of
    resampling), all in one vectorised pass.

    :param samples: (P, n) array; row p holds the n seeds' scores at point p.
    :param statistic: "mean", "median", "iqm" or a callable ``f(array, axis)``.
    :param confidence: e.g. 0.95.
    :param n_resamples: bootstrap resamples B.
    :param seed: seed of the resampling.
    :return: (estimate (P,), low (P,), high (P,)).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise RlkitError(f"bootstrap needs a (points, seeds) array with at least one seed, got {x.shape}")
    if not 0.0 < confidence < 1.0:
        raise RlkitError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise RlkitError(f"n_resamples must be >= 1, got {n_resamples}")
    stat = _statistic(statistic)
    estimate = np.asarray(stat(x, axis=1), dtype=np.float64)
    n = x.shape[1]
    rng = as_generator(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))  # (B, n) resampled seed indices
    resampled = x[:, idx]  # (P, B, n)
    boot = np.asarray(stat(resampled, axis=2), dtype=np.float64)  # (P, B)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=1)
    return estimate, low, high


def bootstrap_ci(
    values: np.ndarray,
    *,
    statistic: str | Callable[..., np.ndarray] = "mean",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: SeedLike = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval of ``statistic`` over the seeds in ``values``.

    Resamples the n values with replacement ``n_resamples`` times, computes the statistic of each
    resample and returns the ``(1-confidence)/2`` and ``(1+confidence)/2`` quantiles. With one seed
    the interval collapses to the point (there is no spread to resample): report n with it.

    :param values: 1-D scores, one per seed.
    :param statistic: "mean" (default), "median", "iqm" or a callable ``f(array, axis)``.
    :param confidence: coverage, 0.95 by default.
    :param n_resamples: number of bootstrap resamples.
    :param seed: seed of the resampling, so the interval is reproducible.
    :return: :class:`Interval` with estimate, low, high, confidence, n.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise RlkitError("bootstrap_ci of an empty sample")
    if not np.all(np.isfinite(x)):
        raise RlkitError("bootstrap_ci: values must be finite")
    est, low, high = bootstrap_ci_columns(
        x[None, :], statistic=statistic, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    return Interval(float(est[0]), float(low[0]), float(high[0]), confidence, int(x.size))
