"""Experiments: compare agents and sweep hyperparameters, on local processes or a Ray cluster.

* :func:`compare` -- every agent x env x seed under one evaluation protocol; results.csv,
  summary.md (mean with 95% bootstrap CI over seeds, IQM, steps/time to the reward threshold,
  throughput), curves.png.
* :func:`sweep` -- a grid over one agent's hyperparameters, ranked, best config as a preset snippet.
* Executors: :class:`LocalExecutor` (process pool) and :class:`RayExecutor` (``pip install
  'rlkit[distributed]'``); the same seeds give the same numbers on either.
* :mod:`rlkit.experiments.sb3` -- Stable-Baselines3 PPO / A2C / DQN with rl-zoo's presets.
* :mod:`rlkit.experiments.stats` -- percentile bootstrap CI and interquartile mean.
"""

from rlkit.experiments.compare import ExperimentResult, compare, run_experiment
from rlkit.experiments.executors import LocalExecutor, RayExecutor, make_executor
from rlkit.experiments.stats import Interval, bootstrap_ci, iqm
from rlkit.experiments.sweep import SweepResult, parse_grid, sweep
from rlkit.experiments.trial import AGENTS, TrialResult, TrialSpec, run_trial

__all__ = [
    "AGENTS", "ExperimentResult", "Interval", "LocalExecutor", "RayExecutor", "SweepResult", "TrialResult",
    "TrialSpec", "bootstrap_ci", "compare", "iqm", "make_executor", "parse_grid", "run_experiment",
    "run_trial", "sweep",
]
