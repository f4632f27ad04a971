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


# ---------------------------------------------------------------------------------------------
# Aggregates across envs (rliable's definitions)
# ---------------------------------------------------------------------------------------------


def normalize_scores(scores: np.ndarray, random_score: float, target_score: float) -> np.ndarray:
    """Scores on a scale where 0 is a random policy's score and 1 the target (the env's threshold).

    >>> normalize_scores(np.array([22.0, 475.0, 500.0]), random_score=22.0, target_score=475.0).round(3)
    array([0.   , 1.   , 1.055])
    """
    if not (np.isfinite(random_score) and np.isfinite(target_score)) or target_score == random_score:
        raise RlkitError(f"normalising needs a target different from the random score, got random "
                         f"{random_score} and target {target_score}")
    return (np.asarray(scores, dtype=np.float64) - random_score) / (target_score - random_score)


def _pooled(tasks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(t, dtype=np.float64).reshape(-1) for t in tasks])


def aggregate_mean(tasks: list[np.ndarray]) -> float:
    """Mean of the normalised scores of every run of every task (rliable's ``aggregate_mean``)."""
    return float(np.mean(_pooled(tasks)))


def aggregate_iqm(tasks: list[np.ndarray]) -> float:
    """Interquartile mean of the pooled runs x tasks (rliable's ``aggregate_iqm``, trim_mean 0.25)."""
    return float(iqm(_pooled(tasks)))


def probability_of_improvement(x_tasks: list[np.ndarray], y_tasks: list[np.ndarray]) -> float:
    """``P(X > Y)`` averaged over tasks: for task m, the chance that a run of X scores above a run of Y
    (ties count one half), i.e. the Mann-Whitney U statistic over ``n_x n_y`` (rliable's
    ``probability_of_improvement``).

    >>> probability_of_improvement([np.array([1.0, 2.0])], [np.array([0.0, 2.0])])
    0.625
    """
    if len(x_tasks) != len(y_tasks) or not x_tasks:
        raise RlkitError("probability of improvement needs the same (non-empty) list of tasks for both")
    per_task = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        x, y = np.asarray(x, np.float64)[:, None], np.asarray(y, np.float64)[None, :]
        per_task.append(float(np.mean((x > y) + 0.5 * (x == y))))
    return float(np.mean(per_task))


def stratified_bootstrap(
    statistic: Callable[..., float],
    *groups: list[np.ndarray],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: SeedLike = 0,
) -> Interval:
    """Percentile interval of ``statistic(*groups)`` under the stratified bootstrap: every task's
    runs are resampled with replacement on their own (the runs of one task are exchangeable, the
    tasks are not), independently for each group (agent).

    :param statistic: ``f(tasks_a, tasks_b, ...) -> float``, each argument a list of per-task arrays.
    :param groups: one list of per-task run arrays per agent.
    """
    if not 0.0 < confidence < 1.0:
        raise RlkitError(f"confidence must be in (0, 1), got {confidence}")
    rng = as_generator(seed)
    est = float(statistic(*groups))
    boots = np.empty(n_resamples)
    arrays = [[np.asarray(t, dtype=np.float64).reshape(-1) for t in g] for g in groups]
    for b in range(n_resamples):
        resampled = [[t[rng.integers(0, len(t), len(t))] for t in g] for g in arrays]
        boots[b] = statistic(*resampled)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    n = min(len(t) for g in arrays for t in g)
    return Interval(est, float(low), float(high), confidence, n)


def performance_profile(tasks: list[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """Fraction of runs (pooled over tasks) whose normalised score is above each ``tau``
    (rliable's run-score distribution)."""
    pooled = _pooled(tasks)
    return np.mean(pooled[None, :] > np.asarray(taus, dtype=np.float64)[:, None], axis=1)
