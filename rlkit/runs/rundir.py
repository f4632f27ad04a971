"""Run directories: ``runs/<env>/<agent>/<YYYYmmdd-HHMMSS>-s<seed>/`` and what lives in them.

=================  ===================================================================
``config.yaml``    the resolved configuration (agent, env, seed, hyperparameters, policy,
                   run settings, versions); its presence makes a folder a run
``metrics.csv``    one row per update (see :mod:`rlkit.runs.logger`)
``checkpoint.pt``  the last periodic checkpoint (atomic; everything needed to resume)
``model.pt``       the final model (``Reinforce.load``)
``best_model.pt``  the model of the best periodic evaluation (``run.eval_every``)
``eval.json``      the final evaluation of ``model.pt``
``best_eval.json`` the same evaluation of ``best_model.pt``
``evaluations.csv`` one row per periodic evaluation (timesteps, mean, std, min, max, episodes)
``episodes.csv``   one row per finished training episode (timesteps, return, length, env)
``curves.png``     learning curve
``tb/``            TensorBoard events (``--tensorboard``)
=================  ===================================================================
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import yaml

from rlkit._io import atomic_write_text
from rlkit.errors import RlkitError

__all__ = [
    "BEST_EVAL",
    "BEST_MODEL",
    "CHECKPOINT",
    "CONFIG",
    "CURVES",
    "EPISODES",
    "EVAL",
    "EVALUATIONS",
    "METRICS",
    "MODEL",
    "TENSORBOARD",
    "env_slug",
    "is_run_dir",
    "new_run_dir",
    "read_run_config",
    "write_run_config",
]

CONFIG, METRICS, CHECKPOINT, MODEL, EVAL, CURVES, TENSORBOARD = (
    "config.yaml",
    "metrics.csv",
    "checkpoint.pt",
    "model.pt",
    "eval.json",
    "curves.png",
    "tb",
)
BEST_MODEL, BEST_EVAL = "best_model.pt", "best_eval.json"
EVALUATIONS, EPISODES = "evaluations.csv", "episodes.csv"
MARKER = "rlkit_run"


def env_slug(env_id: str) -> str:
    """An env id as one folder name (``rlkit/MNISTBandit-v0`` -> ``rlkit-MNISTBandit-v0``)."""
    return env_id.replace("/", "-").replace(":", "-")


def new_run_dir(
    env_id: str, agent: str, seed: int, root: str | os.PathLike = "runs", now: _dt.datetime | None = None
) -> Path:
    """Create and return a fresh ``<root>/<env>/<agent>/<time>-s<seed>`` folder (never reused)."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / env_slug(env_id) / agent
    base.mkdir(parents=True, exist_ok=True)
    for k in range(1000):
        path = base / (f"{stamp}-s{seed}" + (f"-{k}" if k else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RlkitError("could not create a new run folder", where=str(base))


def is_run_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` holds an rlkit run's ``config.yaml``."""
    cfg = Path(path) / CONFIG
    if not cfg.is_file():
        return False
    try:
        data = yaml.safe_load(cfg.read_text())
    except (yaml.YAMLError, OSError):
        return False
    return isinstance(data, dict) and MARKER in data


#: the fields of config.yaml that every reader relies on: name -> (types, description)
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "agent": ((str,), "an agent name"),
    "env_id": ((str,), "an env id"),
    "seed": ((int,), "an integer"),
    "total_timesteps": ((int,), "a positive integer"),
    "hyperparams": ((dict,), "a mapping"),
    "policy": ((dict, type(None)), "a mapping"),
    "run": ((dict,), "a mapping"),
}


def read_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """The run's ``config.yaml``, its fields checked (a hand-edited file gets one clear error).

    :raises RlkitError: ``path`` is not a run folder, or a field has the wrong type.
    """
    path = Path(path)
    if not path.is_dir():
        raise RlkitError("no such run folder", where=str(path))
    if not is_run_dir(path):
        raise RlkitError(
            f"not an rlkit run folder (no readable {CONFIG} written by rlkit train)", where=str(path)
        )
    cfg = yaml.safe_load((path / CONFIG).read_text())
    for name, (types, what) in _FIELDS.items():
        value = cfg.get(name)
        bad = name not in cfg or not isinstance(value, types) or isinstance(value, bool)
        if not bad and name == "total_timesteps" and value < 1:
            bad = True
        if bad:
            shown = "missing" if name not in cfg else f"{value!r}"[:60]
            raise RlkitError(f"{name} must be {what}, got {shown}", where=f"{path / CONFIG}: {name}")
    return cfg


def write_run_config(path: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Write ``config.yaml`` atomically (with the run marker)."""
    data = {MARKER: 1, **config}
    return atomic_write_text(Path(path) / CONFIG, yaml.safe_dump(data, sort_keys=False))
