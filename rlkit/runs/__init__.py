"""rlkit.runs: run folders, metric logs, atomic checkpoints, resume, evaluation.

>>> from rlkit.runs import train, resume, evaluate_run, evaluate_policy   # doctest: +SKIP
>>> result = train("CartPole-v1", seed=0)                                   # doctest: +SKIP
>>> result.eval.mean >= 475                                                 # doctest: +SKIP
True

See :mod:`rlkit.runs.train` for what a run folder holds and how resuming is exact.
"""

from rlkit.runs.checkpoint import load_checkpoint, save_checkpoint
from rlkit.runs.evaluate import EvalResult, evaluate_policy
from rlkit.runs.logger import COLUMNS, MetricsLogger, read_metrics
from rlkit.runs.rundir import is_run_dir, new_run_dir, read_run_config
from rlkit.runs.train import (
    TrainResult,
    evaluate_run,
    load_run_agent,
    plot_runs,
    resolve_config,
    resume,
    train,
)

__all__ = [
    "COLUMNS",
    "EvalResult",
    "MetricsLogger",
    "TrainResult",
    "evaluate_policy",
    "evaluate_run",
    "is_run_dir",
    "load_checkpoint",
    "load_run_agent",
    "new_run_dir",
    "plot_runs",
    "read_metrics",
    "read_run_config",
    "resolve_config",
    "resume",
    "save_checkpoint",
    "train",
]
