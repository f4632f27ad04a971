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

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch

import rlkit
from rlkit._io import atomic_write_json
from rlkit.agents import registry as agent_registry
from rlkit.agents.presets import apply_overrides, load_preset, run_settings, split_preset
from rlkit.agents.pretrained import reduce_preset_net
from rlkit.agents.reinforce import NaNLossError
from rlkit.errors import RlkitError
from rlkit.plotting import plot_curves
from rlkit.runs import rundir as rd
from rlkit.runs.checkpoint import load_checkpoint
from rlkit.runs.evaluate import EvalResult, evaluate_policy
from rlkit.runs.logger import read_metrics
from rlkit.runs.rundir import new_run_dir, write_run_config
from rlkit.runs.session import Session, env_threshold, stop_target

__all__ = ["AGENTS", "TrainResult", "evaluate_run", "plot_runs", "resume", "train"]

AGENTS = tuple(agent_registry.rlkit_names())
EVAL_SEED_OFFSET = 1_000_003


@dataclass
class TrainResult:
    """What a training run produced.

    :ivar run_dir: the run folder. :ivar timesteps: env steps trained. :ivar updates: updates done.
    :ivar episodes: training episodes finished. :ivar seconds: wall time of training (all
        sessions of a resumed run; evaluations left out). :ivar eval: the final evaluation of the
        last model. :ivar resumed_from: the timestep a resumed run started from (None for a fresh
        run). :ivar best_eval: the same final evaluation of ``best_model.pt`` (periodic evaluation
        on). :ivar best_timesteps: when the best model was taken. :ivar best_periodic_mean: its
        periodic evaluation score. :ivar stopped_at: the score training stopped at (None: it ran
        its budget). :ivar evaluations: periodic evaluations done. :ivar already_finished: a
        resume found the run finished and did nothing.
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
    best_eval: EvalResult | None = None
    best_timesteps: int | None = None
    best_periodic_mean: float | None = None
    stopped_at: float | None = None
    evaluations: int = 0
    already_finished: bool = False

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
            "best_eval_mean": None if self.best_eval is None else self.best_eval.mean,
            "best_eval_std": None if self.best_eval is None else self.best_eval.std,
            "best_timesteps": self.best_timesteps,
            "best_periodic_mean": self.best_periodic_mean,
            "stopped_at_threshold": self.stopped_at is not None,
            "stop_at": self.stopped_at,
            "evaluations": self.evaluations,
            "already_finished": self.already_finished,
            "files": self.files,
        }


def _check_agent(agent: str) -> None:
    agent_registry.get(agent, kinds=("rlkit",))


def _versions() -> dict[str, str]:
    return {
        "rlkit": rlkit.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": str(torch.__version__),
        "gymnasium": str(gymnasium.__version__),
    }


def _make_agent(config: dict[str, Any]):
    cls = agent_registry.agent_class(config["agent"])
    return cls(config["policy"], config["env_id"], seed=config["seed"], **config["hyperparams"])


def resolve_config(
    env_id: str,
    *,
    agent: str = agent_registry.DEFAULT_AGENT,
    seed: int = 0,
    total_timesteps: int | None = None,
    n_envs: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full configuration of a run: preset of ``env_id``, then overrides, checked.

    :returns: dict with ``agent``, ``env_id``, ``seed``, ``total_timesteps``, ``policy``,
        ``hyperparams`` and ``run`` (evaluation and checkpoint settings).
    """
    _check_agent(agent)
    if not isinstance(env_id, str) or not env_id:
        raise RlkitError("give an env id, e.g. --env CartPole-v1", where="--env")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RlkitError(f"must be an integer, got {seed!r}", where="--seed")
    preset, run = load_preset(agent, env_id), run_settings(agent, env_id)
    if overrides and "policy.init" in overrides:  # the architecture comes from the source
        preset["policy"] = reduce_preset_net(preset.get("policy"), overrides)
    preset, run = apply_overrides(preset, run, overrides or {}, agent)
    if total_timesteps is not None:
        preset, _ = apply_overrides(preset, {}, {"total_timesteps": total_timesteps}, agent)
    if n_envs is not None:
        preset, _ = apply_overrides(preset, {}, {"n_envs": n_envs}, agent)
    stop_target(run, env_id)  # an env without a threshold fails here, before any folder is made
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


def _run(
    agent,
    run_dir: Path,
    config: dict[str, Any],
    *,
    resume_state: dict[str, Any] | None,
    tensorboard: bool,
    progress: bool | None,
    callback: Callable | None,
    resumed_from: int | None,
) -> TrainResult:
    try:
        session = Session(
            agent,
            run_dir,
            config,
            resume_state=resume_state,
            tensorboard=tensorboard,
            eval_env_kwargs=_eval_env_kwargs(config),
            user_callback=callback,
        )
    except BaseException:
        agent.close()
        raise
    total = int(config["total_timesteps"])
    try:
        if agent.num_timesteps == 0 and not (run_dir / rd.CHECKPOINT).exists():
            session.checkpoint()  # a run can be resumed from its very start
        remaining = total - agent.num_timesteps
        if remaining > 0 and not session.stopped:
            agent.learn(remaining, callback=session, progress_bar=progress, reset_num_timesteps=False)
        session.checkpoint(finished=True)
    except NaNLossError as exc:
        where = run_dir / rd.CHECKPOINT
        agent.close()
        raise RlkitError(
            f"{exc}; the last good checkpoint ({where}, step {session.last_ckpt}) is kept"
        ) from None
    except BaseException:
        agent.close()
        raise
    finally:
        session.close()
    agent.save(run_dir / rd.MODEL)
    try:
        result = _finish(agent, run_dir, config, session=session, resumed_from=resumed_from)
    finally:
        agent.close()
    return result


def _eval_env_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The evaluation env's ``gymnasium.make`` arguments: the training env's, then ``run.eval_env_kwargs``."""
    train_kwargs = (config.get("hyperparams") or {}).get("env_kwargs") or {}
    return {**train_kwargs, **((config.get("run") or {}).get("eval_env_kwargs") or {})}


def _final_eval(agent, config: dict[str, Any]) -> EvalResult:
    run = config["run"]
    return evaluate_policy(
        agent,
        config["env_id"],
        n_episodes=int(run["eval_episodes"]),
        deterministic=bool(run["eval_deterministic"]),
        seed=config["seed"] + EVAL_SEED_OFFSET,
        env_kwargs=_eval_env_kwargs(config),
    )


def _finish(
    agent, run_dir: Path, config: dict[str, Any], *, session, resumed_from: int | None
) -> TrainResult:
    run = config["run"]
    ev = best_ev = None
    files = {
        "config": str(run_dir / rd.CONFIG),
        "metrics": str(run_dir / rd.METRICS),
        "episodes": str(run_dir / rd.EPISODES),
        "checkpoint": str(run_dir / rd.CHECKPOINT),
        "model": str(run_dir / rd.MODEL),
    }
    if int(run["eval_episodes"]) > 0:
        ev = _final_eval(agent, config)
        atomic_write_json(run_dir / rd.EVAL, ev.to_dict())
        files["eval"] = str(run_dir / rd.EVAL)
    if (run_dir / rd.BEST_MODEL).is_file():
        files["best_model"] = str(run_dir / rd.BEST_MODEL)
        files["evaluations"] = str(run_dir / rd.EVALUATIONS)
        if int(run["eval_episodes"]) > 0:
            best = load_run_agent(run_dir, "best")
            try:
                best_ev = _final_eval(best, config)
            finally:
                best.close()
            atomic_write_json(
                run_dir / rd.BEST_EVAL,
                {**best_ev.to_dict(), "timesteps": session.best_timesteps,
                 "periodic_mean": session.best_mean},
            )
            files["best_eval"] = str(run_dir / rd.BEST_EVAL)
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
        seconds=session.seconds,
        eval=ev,
        resumed_from=resumed_from,
        files=files,
        best_eval=best_ev,
        best_timesteps=session.best_timesteps,
        best_periodic_mean=session.best_mean,
        stopped_at=session.stop_at if session.stopped else None,
        evaluations=0 if session.evals is None else session.evals.rows,
    )


def train(
    env_id: str,
    *,
    agent: str = agent_registry.DEFAULT_AGENT,
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
        resume_state=None,
        tensorboard=tensorboard,
        progress=progress,
        callback=callback,
        resumed_from=None,
    )


def _check_resume(
    path: Path,
    config: dict[str, Any],
    run: dict[str, Any],
    *,
    env_id: str | None,
    seed: int | None,
    total_timesteps: int | None,
) -> dict[str, Any] | None:
    """The configuration to resume with, or None for a finished run with nothing to add."""
    if env_id is not None and env_id != config.get("env_id"):
        raise RlkitError(
            f"the run trains {config.get('env_id')}, not {env_id}; drop --env, or start a new run",
            where="--env",
        )
    if seed is not None and seed != config.get("seed"):
        raise RlkitError(
            f"the run has seed {config.get('seed')}, not {seed}; drop --seed, or start a new run",
            where="--seed",
        )
    done = int(run["timesteps"])
    if total_timesteps is not None:
        bad = isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int)
        if bad or total_timesteps < done:
            raise RlkitError(
                f"the run has already trained {done:,} steps; --total-timesteps must be at least that",
                where="--total-timesteps",
            )
        if total_timesteps > int(config["total_timesteps"]):
            config = {**config, "total_timesteps": int(total_timesteps)}
            config.pop(rd.MARKER, None)
            write_run_config(path, config)
            run["stopped"] = False  # a larger budget goes past an earlier stop at the threshold
            return config
    if run.get("finished") and (path / rd.MODEL).is_file():
        return None
    return config


def _finished_result(path: Path, config: dict[str, Any], run: dict[str, Any]) -> TrainResult:
    """The result of a run that had already finished (from its files; nothing is re-run)."""
    def read(name: str) -> EvalResult | None:
        f = path / name
        if not f.is_file():
            return None
        try:
            d = json.loads(f.read_text())
            return EvalResult(**{k: d[k] for k in ("mean", "std", "episodes", "deterministic", "seed",
                                                   "returns", "lengths")})
        except (ValueError, KeyError, TypeError):
            raise RlkitError("unreadable evaluation file", where=str(f)) from None

    names = (("config", rd.CONFIG), ("metrics", rd.METRICS), ("model", rd.MODEL),
             ("checkpoint", rd.CHECKPOINT), ("eval", rd.EVAL), ("best_model", rd.BEST_MODEL),
             ("curves", rd.CURVES))
    files = {k: str(path / n) for k, n in names if (path / n).is_file()}
    m = read_metrics(path / rd.METRICS)
    updates = int(m["update"][-1]) if len(m.get("update", [])) else 0
    episodes = int(m["episodes"][-1]) if len(m.get("episodes", [])) else 0
    return TrainResult(
        run_dir=path, env_id=config["env_id"], agent=config["agent"], seed=int(config["seed"]),
        timesteps=int(run["timesteps"]), updates=updates, episodes=episodes, seconds=float(run["seconds"]),
        eval=read(rd.EVAL), resumed_from=int(run["timesteps"]), files=files, best_eval=read(rd.BEST_EVAL),
        best_timesteps=run.get("best_timesteps"), best_periodic_mean=run.get("best_mean"),
        stopped_at=None, already_finished=True,
    )


def resume(
    run_dir: str | os.PathLike,
    *,
    tensorboard: bool | None = None,
    progress: bool | None = False,
    callback: Callable | None = None,
    env_id: str | None = None,
    seed: int | None = None,
    total_timesteps: int | None = None,
) -> TrainResult:
    """Continue a run from its last checkpoint (see the module docstring).

    A run that already finished is reported as it is (nothing is trained again), unless
    ``total_timesteps`` asks for more steps than it had: then it continues to the new total (the
    learning-rate schedule then spans the new total from that point on).

    :param run_dir: the run folder.
    :param tensorboard: write TensorBoard events (default: if the run has them).
    :param env_id: if given, must be the run's env (a guard for scripts: a resume never changes it).
    :param seed: if given, must be the run's seed.
    :param total_timesteps: a new, larger budget for the run.
    :raises RlkitError: not a run folder, no or a corrupt checkpoint, a conflicting env or seed, a
        budget smaller than what the run has done.
    """
    path = Path(run_dir)
    config = rd.read_run_config(path)
    ckpt_path = path / rd.CHECKPOINT
    if not ckpt_path.is_file():
        raise RlkitError(
            f"the run has no {rd.CHECKPOINT} to resume from; start it again with rlkit train", where=str(path)
        )
    ckpt = load_checkpoint(ckpt_path)
    try:
        run = dict(ckpt["run"])
        int(run["metrics_rows"]), float(run["seconds"])
        step = int(run["timesteps"])
        state = ckpt["agent"]
    except (KeyError, TypeError, ValueError):
        raise RlkitError("the checkpoint is damaged (no run state)", where=str(ckpt_path)) from None
    config = _check_resume(path, config, run, env_id=env_id, seed=seed, total_timesteps=total_timesteps)
    if config is None:  # finished, nothing to add
        return _finished_result(path, rd.read_run_config(path), run)
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
        resume_state=run,
        tensorboard=tensorboard,
        progress=progress,
        callback=callback,
        resumed_from=step,
    )


def _agent_class(config: dict[str, Any], where: str):
    return agent_registry.agent_class(config.get("agent", agent_registry.DEFAULT_AGENT), where=where)


def load_run_agent(run_dir: str | os.PathLike, model: str | None = None):
    """A run's model: ``best`` (``best_model.pt``), ``last`` (``model.pt``, or the last checkpoint's
    model when training did not finish), or None: the best when there is one, else the last.

    :raises RlkitError: not a run, ``best`` for a run without periodic evaluation, no model at all.
    """
    path = Path(run_dir)
    config = rd.read_run_config(path)
    if model not in (None, "best", "last"):
        raise RlkitError(f"must be best or last, got {model!r}", where="--model")
    cls = _agent_class(config, str(path / rd.CONFIG))
    if model == "best" or (model is None and (path / rd.BEST_MODEL).is_file()):
        if not (path / rd.BEST_MODEL).is_file():
            raise RlkitError(
                f"the run has no {rd.BEST_MODEL} (it ran without periodic evaluation: train with "
                "--eval-every N); use --model last",
                where=str(path),
            )
        return cls.load(path / rd.BEST_MODEL)
    for name in (rd.MODEL, rd.CHECKPOINT):
        if (path / name).is_file():
            return cls.load(path / name)
    raise RlkitError(f"the run has neither {rd.MODEL} nor {rd.CHECKPOINT}", where=str(path))


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    episodes: int | None = None,
    deterministic: bool = True,
    seed: int | None = None,
    model: str | None = None,
) -> EvalResult:
    """Evaluate a run's model (``rlkit evaluate``).

    :param run_dir: the run folder.
    :param episodes: number of episodes (default: the run's ``eval_episodes``, at least 1).
    :param deterministic: greedy actions (default) or sampled.
    :param seed: episodes' seed (default: the one ``rlkit train`` used, so a deterministic
        evaluation repeats ``eval.json`` / ``best_eval.json``).
    :param model: ``best``, ``last`` or None (best when it exists); see :func:`load_run_agent`.
    """
    config = rd.read_run_config(run_dir)
    agent = load_run_agent(run_dir, model)
    if episodes is None:
        episodes = max(int(config.get("run", {}).get("eval_episodes", 100)), 1)
    if seed is None:
        seed = int(config["seed"]) + EVAL_SEED_OFFSET
    try:
        return evaluate_policy(
            agent,
            config["env_id"],
            n_episodes=episodes,
            deterministic=deterministic,
            seed=seed,
            env_kwargs=_eval_env_kwargs(config),
        )
    finally:
        agent.close()


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}." if isinstance(v, dict) and v else f"{prefix}{k}"))
    return out


def _setting(cfg: dict[str, Any]) -> dict[str, Any]:
    """What makes a run's configuration (everything but the seed, the clock and the versions)."""
    flat = {
        "agent": cfg.get("agent"),
        "env": cfg.get("env_id"),
        "total_timesteps": cfg.get("total_timesteps"),
        **_flat(cfg.get("hyperparams") or {}),
        **_flat({"policy": cfg.get("policy") or {}}),
    }
    return {k: repr(v) if isinstance(v, (list, dict)) else v for k, v in flat.items()}


def _group_labels(settings: list[dict[str, Any]]) -> list[str]:
    """One label per run: the settings that differ between the runs' configurations (``agent``
    and ``env`` always, when they differ), so runs of one configuration share a label."""
    keys = sorted({k for s in settings for k in s})
    differ = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
    shown = [k for k in ("agent", "env") if k in differ] + [k for k in differ if k not in ("agent", "env")]
    if not shown:
        first = settings[0]
        return [f"{first['agent']} {first['env']}"] * len(settings)
    short = {k: k.split(".")[-1] if k.startswith("policy.") else k for k in shown}
    return [" ".join(str(s.get(k)) if k in ("agent", "env") else f"{short[k]}={s.get(k)}" for k in shown)
            for s in settings]


def plot_runs(run_dirs: list[str | os.PathLike], out: str | os.PathLike, *, y: str = "return_mean") -> Path:
    """Overlay the learning curves (``y`` against timesteps) of runs, one curve per configuration:
    runs whose configurations differ only in the seed are averaged with a 95% band, and the
    labels name the settings that differ (``learning_rate=0.003``). Periodic evaluations
    (``evaluations.csv``) are drawn as points, the env's reward threshold as a line.

    :param run_dirs: run folders.
    :param out: the PNG to write.
    :param y: the metrics column to plot.
    :returns: the PNG; ``<out>.json`` beside it holds the curves drawn (label, runs, x, mean).
    :raises RlkitError: a folder that is not a run, a run with nothing to plot.
    """
    if not run_dirs:
        raise RlkitError("give at least one run folder")
    cfgs, data, evals = [], [], []
    for d in run_dirs:
        cfg = rd.read_run_config(d)
        m = read_metrics(Path(d) / rd.METRICS)
        if y not in m:
            raise RlkitError(f"no column {y!r}", where=str(Path(d) / rd.METRICS))
        keep = ~np.isnan(m[y])
        if not keep.any():
            raise RlkitError("no finished episode to plot yet", where=str(d))
        cfgs.append(cfg)
        data.append((m["timesteps"][keep], m[y][keep]))
        ev_file = Path(d) / rd.EVALUATIONS
        evals.append(read_metrics(ev_file) if ev_file.is_file() else None)
    labels = _group_labels([_setting(c) for c in cfgs])
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    curves, xs, points, drawn = {}, {}, {}, []
    for label, idx in groups.items():
        runs = [data[i] for i in idx]
        grid = np.unique(np.concatenate([r[0] for r in runs]))
        if len(runs) > 1:  # align runs on a common grid (seeds may differ in batch boundaries)
            grid = np.linspace(grid.min(), grid.max(), min(len(grid), 200))
        stack = np.stack([np.interp(grid, r[0], r[1], left=np.nan, right=np.nan) for r in runs])
        name = f"{label} (n={len(runs)})" if len(runs) > 1 else (
            label if len(run_dirs) > 1 else f"{label} s{cfgs[idx[0]]['seed']}")
        curves[name], xs[name] = stack, grid
        ev = [evals[i] for i in idx if evals[i] is not None and len(evals[i].get("timesteps", []))]
        if ev and y == "return_mean":
            ex = np.concatenate([e["timesteps"] for e in ev])
            ey = np.concatenate([e["mean"] for e in ev])
            points[name] = (ex, ey)
        drawn.append({"label": name, "runs": [str(run_dirs[i]) for i in idx], "x": grid.tolist(),
                      "mean": np.nanmean(stack, axis=0).tolist(),
                      "eval_points": len(points[name][0]) if name in points else 0})
    envs = sorted({c["env_id"] for c in cfgs})
    agents = sorted({c["agent"] for c in cfgs})
    threshold = env_threshold(envs[0]) if len(envs) == 1 and y == "return_mean" else None
    if len(run_dirs) == 1:
        title = f"{agents[0]} on {envs[0]}, seed {cfgs[0]['seed']}"
    else:
        title = (f"{', '.join(agents)} on {', '.join(envs)}: {len(run_dirs)} runs, "
                 f"{len(curves)} configurations")
    ylabel = "mean return (last 100 training episodes)" if y == "return_mean" else y.replace("_", " ")
    path = plot_curves(
        curves,
        x=xs,
        xlabel="environment steps",
        ylabel=ylabel,
        title=title,
        path=out,
        band="ci95",
        points=points,
        points_label="evaluation (deterministic)",
        hline=threshold,
        hline_label=None if threshold is None else f"threshold {threshold:g}",
    )
    atomic_write_json(Path(str(path) + ".json"), {"title": title, "y": y, "threshold": threshold,
                                                  "curves": drawn})
    return path
