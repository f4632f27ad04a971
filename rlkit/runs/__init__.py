"""rlkit.runs: run folders, metric logs, atomic checkpoints, resume, evaluation.

>>> from rlkit.runs import train, resume, evaluate_run, evaluate_policy   # doctest: +SKIP
>>> result = train("CartPole-v1", seed=0)                                   # doctest: +SKIP
>>> result.eval.mean >= 475                                                 # doctest: +SKIP
True

See :mod:`rlkit.runs.train` for what a run folder holds and how resuming is exact.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (see _Package)
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

_WHERE = {
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "EvalResult": "evaluate", "evaluate_policy": "evaluate",
    "COLUMNS": "logger", "MetricsLogger": "logger", "read_metrics": "logger",
    "is_run_dir": "rundir", "new_run_dir": "rundir", "read_run_config": "rundir",
    "TrainResult": "train", "evaluate_run": "train", "load_run_agent": "train", "plot_runs": "train",
    "resolve_config": "train", "resume": "train", "train": "train",
}


class _Package(types.ModuleType):
    """``rlkit.runs`` with its names imported on first use, so that the run-folder plumbing
    (``rundir``, ``logger``, ``checkpoint``), which rlkit.supervised shares, imports without the
    agents that ``rlkit.runs.train`` needs. ``rlkit.runs.train`` stays the function, as it was
    when this package imported everything eagerly (the import system's setting of the submodule
    of the same name is ignored)."""

    @property
    def train(self) -> Any:
        return importlib.import_module("rlkit.runs.train").train

    @train.setter
    def train(self, value: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module 'rlkit.runs' has no attribute {name!r}")
        value = getattr(importlib.import_module(f"rlkit.runs.{module}"), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_WHERE))


sys.modules[__name__].__class__ = _Package

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
