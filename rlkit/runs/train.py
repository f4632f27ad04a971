"""``rlkit train`` / ``rlkit evaluate`` / ``rlkit plot`` as library functions.

:func:`train` resolves the configuration (preset of the env, then ``--set`` overrides), makes the
agent, creates the run folder and trains with a callback that logs every update to
``metrics.csv`` (and TensorBoard), writes a checkpoint every ``checkpoint_freq`` env steps, and
at the end saves the model, evaluates it and plots the learning curve.

:func:`resume` continues a run from its last checkpoint: the model, the optimisers' moments, the
counters and schedules, every random generator (the agent's numpy and torch streams, torch's and
numpy's global state, Python's) and the environments (each sub-env is put back by replaying its
current episode from the recorded seed and actions). Rows logged after that checkpoint are cut
from ``metrics.csv``. On CPU the resumed run therefore ends with exactly the metrics (all but the
wall-clock ``seconds``), weights and evaluation of a run that was never interrupted.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlkit.errors import RlkitError
from rlkit.runs import rundir as rd
from rlkit.runs.evaluate import EvalResult, evaluate_policy

__all__ = ["AGENTS", "TrainResult", "evaluate_run", "plot_runs", "resume", "train"]

AGENTS = ("reinforce",)
EVAL_SEED_OFFSET = 1_000_003


@dataclass
class TrainResult:
    """What a training run produced.

    :ivar run_dir: the run folder. :ivar timesteps: env steps trained. :ivar updates: updates done.
    :ivar episodes: training episodes finished. :ivar seconds: wall time of training (all
        sessions of a resumed run). :ivar eval: the final evaluation. :ivar resumed_from: the
        timestep a resumed run started from (None for a fresh run).
    """

    run_dir: Path
    env_id: str
    agent: str
    seed: int
    timesteps: int
    updates: int
    episodes: int
    seconds: float
    eval: EvalResult | None
    resumed_from: int | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``rlkit train --format json``."""
        ev = self.eval
        return {
            "run_dir": str(self.run_dir),
            "env_id": self.env_id,
            "agent": self.agent,
            "seed": self.seed,
            "timesteps": self.timesteps,
            "updates": self.updates,
            "episodes": self.episodes,
            "seconds": round(self.seconds, 3),
            "eval_mean": None if ev is None else ev.mean,
            "eval_std": None if ev is None else ev.std,
            "eval_episodes": 0 if ev is None else ev.episodes,
            "eval_deterministic": None if ev is None else ev.deterministic,
            "resumed_from": self.resumed_from,
            "files": self.files,
        }


def _check_agent(agent: str) -> None:
    if agent not in AGENTS:
        raise RlkitError(f"unknown agent {agent!r}; known agents: {', '.join(AGENTS)}", where="--agent")


def _versions() -> dict[str, str]:
    import gymnasium
    import numpy
    import torch

    import rlkit

    return {
        "rlkit": rlkit.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": str(torch.__version__),
        "gymnasium": str(gymnasium.__version__),
    }


def _make_agent(config: dict[str, Any]):
    from rlkit.agents import Reinforce

    return Reinforce(config["policy"], config["env_id"], seed=config["seed"], **config["hyperparams"])


def resolve_config(
    env_id: str,
    *,
    agent: str = "reinforce",
    seed: int = 0,
    total_timesteps: int | None = None,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full configuration of a run: preset of ``env_id``, then overrides, checked.

    :returns: dict with ``agent``, ``env_id``, ``seed``, ``total_timesteps``, ``policy``,
        ``hyperparams`` and ``run`` (evaluation and checkpoint settings).
    """
    from rlkit.agents.presets import apply_overrides, load_preset, run_settings, split_preset

    _check_agent(agent)
    if not isinstance(env_id, str) or not env_id:
        raise RlkitError("give an env id, e.g. --env CartPole-v1", where="--env")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RlkitError(f"must be an integer, got {seed!r}", where="--seed")
    preset, run = load_preset(agent, env_id), run_settings(agent, env_id)
    preset, run = apply_overrides(preset, run, overrides or {})
    if total_timesteps is not None:
        preset, _ = apply_overrides(preset, {}, {"total_timesteps": total_timesteps})
    if n_envs is not None:
        preset, _ = apply_overrides(preset, {}, {"n_envs": n_envs})
    policy, hyperparams, total = split_preset(preset)
    if total is None:
        raise RlkitError(
            "no total_timesteps in the preset; give --total-timesteps", where="--total-timesteps"
        )
    return {
        "agent": agent,
        "env_id": env_id,
        "seed": int(seed),
        "total_timesteps": int(total),
        "policy": policy,
        "hyperparams": hyperparams,
        "run": run,
    }


class _Session:
    """The per-update bookkeeping of a run: CSV, TensorBoard, checkpoints, NaN handling."""

    def __init__(
        self,
        agent,
        run_dir: Path,
        config: dict[str, Any],
        *,
        keep_rows: int | None,
        seconds: float,
        last_ckpt: int,
        tensorboard: bool,
        user_callback: Callable | None,
    ) -> None:
        from rlkit.runs.logger import MetricsLogger, TensorBoardLogger

        self.agent, self.run_dir, self.config = agent, run_dir, config
        self.metrics = MetricsLogger(run_dir / rd.METRICS, keep_rows=keep_rows)
        self.tb = (
            TensorBoardLogger(run_dir / rd.TENSORBOARD, purge_step=agent.num_timesteps or None)
            if tensorboard
            else None
        )
        self.seconds0, self.t0 = seconds, time.perf_counter()
        self.last_ckpt = last_ckpt
        self.freq = int(config["run"]["checkpoint_freq"])
        self.user_callback = user_callback

    @property
    def seconds(self) -> float:
        return self.seconds0 + time.perf_counter() - self.t0

    def checkpoint(self) -> None:
        from rlkit.runs.checkpoint import save_checkpoint

        save_checkpoint(
            self.run_dir / rd.CHECKPOINT,
            {
                "agent": self.agent.get_state(),
                "run": {
                    "metrics_rows": self.metrics.rows,
                    "seconds": self.seconds,
                    "timesteps": self.agent.num_timesteps,
                },
            },
        )
        self.last_ckpt = self.agent.num_timesteps

    def __call__(self, agent, metrics: dict[str, Any]) -> Any:
        row = {**metrics, "seconds": round(self.seconds, 3)}
        self.metrics.log(row)
        if self.tb is not None:
            self.tb.log(row)
        if agent.num_timesteps - self.last_ckpt >= self.freq:
            self.checkpoint()
        if self.user_callback is not None:
            return self.user_callback(agent, row)
        return None

    def close(self) -> None:
        self.metrics.close()
        if self.tb is not None:
            self.tb.close()


def _run(
    agent,
    run_dir: Path,
    config: dict[str, Any],
    *,
    keep_rows: int | None,
    seconds: float,
    last_ckpt: int,
    tensorboard: bool,
    progress: bool,
    callback: Callable | None,
    resumed_from: int | None,
) -> TrainResult:
    from rlkit.agents.reinforce import NaNLossError

    session = _Session(
        agent,
        run_dir,
        config,
        keep_rows=keep_rows,
        seconds=seconds,
        last_ckpt=last_ckpt,
        tensorboard=tensorboard,
        user_callback=callback,
    )
    total = int(config["total_timesteps"])
    try:
        if agent.num_timesteps == 0 and not (run_dir / rd.CHECKPOINT).exists():
            session.checkpoint()  # a run can be resumed from its very start
        remaining = total - agent.num_timesteps
        if remaining > 0:
            agent.learn(remaining, callback=session, progress_bar=progress, reset_num_timesteps=False)
        session.checkpoint()
    except NaNLossError as exc:
        where = run_dir / rd.CHECKPOINT
        raise RlkitError(
            f"{exc}; the last good checkpoint ({where}, step {session.last_ckpt}) is kept"
        ) from None
    finally:
        session.close()
    seconds = session.seconds
    agent.save(run_dir / rd.MODEL)
    result = _finish(agent, run_dir, config, seconds=seconds, resumed_from=resumed_from)
    agent.close()
    return result


def _eval_env_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The evaluation env's ``gymnasium.make`` arguments: the training env's, then ``run.eval_env_kwargs``."""
    train_kwargs = (config.get("hyperparams") or {}).get("env_kwargs") or {}
    return {**train_kwargs, **((config.get("run") or {}).get("eval_env_kwargs") or {})}


def _finish(
    agent, run_dir: Path, config: dict[str, Any], *, seconds: float, resumed_from: int | None
) -> TrainResult:
    from rlkit._io import atomic_write_json

    run = config["run"]
    ev = None
    if int(run["eval_episodes"]) > 0:
        ev = evaluate_policy(
            agent,
            config["env_id"],
            n_episodes=int(run["eval_episodes"]),
            deterministic=bool(run["eval_deterministic"]),
            seed=config["seed"] + EVAL_SEED_OFFSET,
            env_kwargs=_eval_env_kwargs(config),
        )
        atomic_write_json(run_dir / rd.EVAL, ev.to_dict())
    files = {
        "config": str(run_dir / rd.CONFIG),
        "metrics": str(run_dir / rd.METRICS),
        "checkpoint": str(run_dir / rd.CHECKPOINT),
        "model": str(run_dir / rd.MODEL),
    }
    if ev is not None:
        files["eval"] = str(run_dir / rd.EVAL)
    try:
        files["curves"] = str(plot_runs([run_dir], run_dir / rd.CURVES))
    except RlkitError:
        pass  # no finished episode to plot yet
    if (run_dir / rd.TENSORBOARD).is_dir():
        files["tensorboard"] = str(run_dir / rd.TENSORBOARD)
    return TrainResult(
        run_dir=run_dir,
        env_id=config["env_id"],
        agent=config["agent"],
        seed=config["seed"],
        timesteps=agent.num_timesteps,
        updates=agent.num_updates,
        episodes=agent.collector.num_episodes if agent.collector else 0,
        seconds=seconds,
        eval=ev,
        resumed_from=resumed_from,
        files=files,
    )


def train(
    env_id: str,
    *,
    agent: str = "reinforce",
    seed: int = 0,
    total_timesteps: int | None = None,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
    run_dir: str | os.PathLike | None = None,
    root: str | os.PathLike = "runs",
    tensorboard: bool = False,
    progress: bool = False,
    callback: Callable | None = None,
) -> TrainResult:
    """Train an agent with its preset for ``env_id`` and write a run folder.

    :param env_id: a Gymnasium env id (rlkit's ``rlkit/...`` envs included).
    :param agent: the agent (``"reinforce"``).
    :param seed: the seed (networks, action noise, episodes).
    :param total_timesteps: env steps (default: the preset's).
    :param n_envs: parallel sub-envs (default: the preset's).
    :param overrides: ``--set`` values, e.g. ``{"learning_rate": 1e-3, "policy.net.hidden": [32]}``.
    :param run_dir: the run folder (default ``<root>/<env>/<agent>/<time>-s<seed>``); must be new or empty.
    :param root: where run folders are created.
    :param tensorboard: also write TensorBoard events.
    :param progress: show a progress bar (on a terminal).
    :param callback: ``callback(agent, metrics)`` after each update (False stops training).
    :raises RlkitError: bad env id, agent, override; NaN loss (the last good checkpoint is kept).

    Example::

        >>> r = train("CartPole-v1", seed=0, total_timesteps=2048, root=str(tmp),
        ...           overrides={"run.eval_episodes": 5})                        # doctest: +SKIP
        >>> r.eval.episodes                                                      # doctest: +SKIP
        5
    """
    from rlkit.runs.rundir import new_run_dir, write_run_config

    config = resolve_config(
        env_id, agent=agent, seed=seed, total_timesteps=total_timesteps, n_envs=n_envs, overrides=overrides
    )
    agent_obj = _make_agent(config)  # bad env ids and configs fail here, before any folder is made
    config["hyperparams"] = asdict(agent_obj.config)  # every hyperparameter, defaults included
    config["policy"] = agent_obj.policy_cfg
    try:
        if run_dir is None:
            path = new_run_dir(env_id, agent, seed, root)
        else:
            path = Path(run_dir)
            if path.exists() and any(path.iterdir()):
                raise RlkitError(
                    "the run folder exists and is not empty; choose a new one or --resume it", where=str(path)
                )
            path.mkdir(parents=True, exist_ok=True)
        config["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        config["versions"] = _versions()
        write_run_config(path, config)
    except BaseException:
        agent_obj.close()
        raise
    return _run(
        agent_obj,
        path,
        config,
        keep_rows=None,
        seconds=0.0,
        last_ckpt=0,
        tensorboard=tensorboard,
        progress=progress,
        callback=callback,
        resumed_from=None,
    )


def resume(
    run_dir: str | os.PathLike,
    *,
    tensorboard: bool | None = None,
    progress: bool = False,
    callback: Callable | None = None,
) -> TrainResult:
    """Continue a run from its last checkpoint (see the module docstring).

    :param run_dir: the run folder.
    :param tensorboard: write TensorBoard events (default: if the run has them).
    :raises RlkitError: not a run folder, no or a corrupt checkpoint.
    """
    from rlkit.runs.checkpoint import load_checkpoint

    path = Path(run_dir)
    config = rd.read_run_config(path)
    ckpt_path = path / rd.CHECKPOINT
    if not ckpt_path.is_file():
        raise RlkitError(
            f"the run has no {rd.CHECKPOINT} to resume from; start it again with rlkit train", where=str(path)
        )
    ckpt = load_checkpoint(ckpt_path)
    try:
        run = ckpt["run"]
        keep_rows, seconds, step = int(run["metrics_rows"]), float(run["seconds"]), int(run["timesteps"])
        state = ckpt["agent"]
    except (KeyError, TypeError, ValueError):
        raise RlkitError("the checkpoint is damaged (no run state)", where=str(ckpt_path)) from None
    try:
        agent = _make_agent(config)
    except KeyError as exc:
        raise RlkitError(f"config.yaml lacks {exc}", where=str(path / rd.CONFIG)) from None
    try:
        agent.set_state(state)
    except BaseException:
        agent.close()
        raise
    if tensorboard is None:
        tensorboard = (path / rd.TENSORBOARD).is_dir()
    return _run(
        agent,
        path,
        config,
        keep_rows=keep_rows,
        seconds=seconds,
        last_ckpt=step,
        tensorboard=tensorboard,
        progress=progress,
        callback=callback,
        resumed_from=step,
    )


def load_run_agent(run_dir: str | os.PathLike):
    """The run's final model (``model.pt``), or its last checkpoint's model if training did not finish."""
    from rlkit.agents import Reinforce

    path = Path(run_dir)
    rd.read_run_config(path)
    for name in (rd.MODEL, rd.CHECKPOINT):
        if (path / name).is_file():
            return Reinforce.load(path / name)
    raise RlkitError(f"the run has neither {rd.MODEL} nor {rd.CHECKPOINT}", where=str(path))


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    episodes: int | None = None,
    deterministic: bool = True,
    seed: int | None = None,
) -> EvalResult:
    """Evaluate a run's model (``rlkit evaluate``).

    :param run_dir: the run folder.
    :param episodes: number of episodes (default: the run's ``eval_episodes``, at least 1).
    :param deterministic: greedy actions (default) or sampled.
    :param seed: episodes' seed (default: the one ``rlkit train`` used, so a deterministic
        evaluation repeats ``eval.json``).
    """
    config = rd.read_run_config(run_dir)
    agent = load_run_agent(run_dir)
    if episodes is None:
        episodes = max(int(config.get("run", {}).get("eval_episodes", 100)), 1)
    if seed is None:
        seed = int(config["seed"]) + EVAL_SEED_OFFSET
    env_kwargs = _eval_env_kwargs(config)
    return evaluate_policy(
        agent,
        config["env_id"],
        n_episodes=episodes,
        deterministic=deterministic,
        seed=seed,
        env_kwargs=env_kwargs,
    )


def plot_runs(run_dirs: list[str | os.PathLike], out: str | os.PathLike, *, y: str = "return_mean") -> Path:
    """Overlay the learning curves (``y`` against timesteps) of runs; runs with the same env and
    config label (all seeds of one setting) are averaged with a 95% band.

    :param run_dirs: run folders.
    :param out: the PNG to write.
    :param y: the metrics column to plot.
    :raises RlkitError: a folder that is not a run, a run with nothing to plot.
    """
    import numpy as np

    from rlkit.plotting import plot_curves
    from rlkit.runs.logger import read_metrics

    if not run_dirs:
        raise RlkitError("give at least one run folder")
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for d in run_dirs:
        cfg = rd.read_run_config(d)
        m = read_metrics(Path(d) / rd.METRICS)
        if y not in m:
            raise RlkitError(f"no column {y!r}", where=str(Path(d) / rd.METRICS))
        keep = ~np.isnan(m[y])
        if not keep.any():
            raise RlkitError("no finished episode to plot yet", where=str(d))
        label = (
            f"{cfg['agent']} {cfg['env_id']}"
            if len(run_dirs) > 1
            else f"{cfg['agent']} {cfg['env_id']} s{cfg['seed']}"
        )
        groups.setdefault(label, []).append((m["timesteps"][keep], m[y][keep]))
    curves, xs = {}, {}
    for label, runs in groups.items():
        grid = np.unique(np.concatenate([r[0] for r in runs]))
        if len(runs) > 1:  # align runs on a common grid (seeds may differ in batch boundaries)
            grid = np.linspace(grid.min(), grid.max(), min(len(grid), 200))
        stack = np.stack([np.interp(grid, r[0], r[1], left=np.nan, right=np.nan) for r in runs])
        curves[f"{label} (n={len(runs)})" if len(runs) > 1 else label] = stack
        xs[f"{label} (n={len(runs)})" if len(runs) > 1 else label] = grid
    ylabel = "mean return (last 100 episodes)" if y == "return_mean" else y.replace("_", " ")
    return plot_curves(
        curves,
        x=xs,
        xlabel="environment steps",
        ylabel=ylabel,
        title="learning curves",
        path=out,
        band="ci95",
    )
