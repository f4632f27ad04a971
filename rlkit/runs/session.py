"""The per-update bookkeeping of ``rlkit train``: logs, periodic evaluation, best model, stopping,
checkpoints -- what SB3 users get from ``Monitor`` + ``EvalCallback`` +
``StopTrainingOnRewardThreshold`` and Tianshou users from ``save_best_fn`` / ``stop_fn``.

After every update :class:`Session` (the agent's ``learn`` callback)

1. appends a row to ``metrics.csv`` and one row per finished training episode to ``episodes.csv``
   (timesteps, return, length, sub-env), and the same to TensorBoard when enabled;
2. every ``run.eval_every`` env steps evaluates the current policy deterministically on separate
   env instances, always on the same episodes (seeds fixed from the run's seed, different from
   the final evaluation's so the best model is not picked on the episodes it is scored on), with
   the training clock paused; appends the result to ``evaluations.csv``;
3. keeps the best evaluation's weights in ``best_model.pt`` (ties go to the later model, which has
   trained longer at the same score);
4. stops training when an evaluation reaches ``run.stop_at`` (``threshold``: the env's reward
   threshold, or a number);
5. writes a checkpoint every ``run.checkpoint_freq`` env steps with everything above (rows
   written, evaluation schedule, best score), so a resumed run continues every file exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

import rlkit.envs  # noqa: F401 -- registers rlkit/ ids (for their reward thresholds)
from rlkit.agents.rollout import make_vec_env
from rlkit.errors import RlkitError
from rlkit.runs import rundir as rd
from rlkit.runs.checkpoint import save_checkpoint
from rlkit.runs.evaluate import evaluate_policy
from rlkit.runs.logger import EPISODE_COLUMNS, EVAL_COLUMNS, CsvLogger, MetricsLogger, TensorBoardLogger

__all__ = ["PERIODIC_EVAL_SEED_OFFSET", "Session", "env_threshold", "stop_target"]

#: seeds of the periodic evaluations: run seed + this (the final evaluation uses another offset)
PERIODIC_EVAL_SEED_OFFSET = 2_000_029


def env_threshold(env_id: str) -> float | None:
    """The env's ``reward_threshold`` from its Gymnasium registration, or None."""
    spec = gym.registry.get(env_id.removeprefix("gym:"))
    value = getattr(spec, "reward_threshold", None) if spec is not None else None
    return None if value is None else float(value)


def stop_target(run: dict[str, Any], env_id: str) -> float | None:
    """The score ``run.stop_at`` asks for (None: never stop early).

    :raises RlkitError: ``threshold`` for an env without one, or without periodic evaluation.
    """
    stop = run.get("stop_at")
    if stop is None:
        return None
    if not run.get("eval_every"):
        raise RlkitError(
            "stopping at a score needs periodic evaluation: give --eval-every N (run.eval_every)",
            where="run.stop_at",
        )
    if stop == "threshold":
        value = env_threshold(env_id)
        if value is None:
            raise RlkitError(
                f"{env_id} has no reward threshold; give the score to stop at as run.stop_at=NUMBER",
                where="--stop-at-threshold",
            )
        return value
    return float(stop)


class Session:
    """The ``learn`` callback of a run (see the module docstring).

    :param agent: the agent.
    :param run_dir: the run folder.
    :param config: the run's configuration (``run`` block, ``env_id``, ``seed``).
    :param resume_state: the ``run`` entry of the checkpoint a resumed run starts from (None: new).
    :param tensorboard: also write TensorBoard events.
    :param eval_env_kwargs: ``gymnasium.make`` arguments of the evaluation envs.
    :param user_callback: called after the bookkeeping, ``callback(agent, row)``; False stops.
    """

    def __init__(
        self,
        agent,
        run_dir: Path,
        config: dict[str, Any],
        *,
        resume_state: dict[str, Any] | None,
        tensorboard: bool,
        eval_env_kwargs: dict[str, Any],
        user_callback: Callable | None,
    ) -> None:
        st = resume_state or {}
        self.agent, self.run_dir, self.config = agent, run_dir, config
        run = config["run"]
        resumed = resume_state is not None
        def kept(key: str) -> int | None:  # rows of a file the checkpoint had seen (None: a new run)
            return int(st.get(key, 0)) if resumed else None

        self.metrics = MetricsLogger(run_dir / rd.METRICS, keep_rows=kept("metrics_rows"))
        self.episodes = CsvLogger(run_dir / rd.EPISODES, EPISODE_COLUMNS, keep_rows=kept("episode_rows"))
        self.eval_every = int(run["eval_every"]) if run.get("eval_every") else None
        self.evals = (
            CsvLogger(run_dir / rd.EVALUATIONS, EVAL_COLUMNS, keep_rows=kept("eval_rows"))
            if self.eval_every
            else None
        )
        self.tb = (
            TensorBoardLogger(run_dir / rd.TENSORBOARD, purge_step=agent.num_timesteps or None)
            if tensorboard
            else None
        )
        self.seconds0, self.t0, self.paused = float(st.get("seconds", 0.0)), time.perf_counter(), 0.0
        self.last_ckpt = int(st.get("timesteps", 0))
        self.freq = int(run["checkpoint_freq"])
        self.user_callback = user_callback
        self.eval_episodes = int(run.get("periodic_eval_episodes", 20))
        self.eval_seed = int(config["seed"]) + PERIODIC_EVAL_SEED_OFFSET
        self.eval_env_kwargs = eval_env_kwargs
        self.next_eval = int(st.get("next_eval", self.eval_every or 0))
        best = st.get("best_mean")
        self.best_mean = None if best is None else float(best)
        self.best_timesteps = st.get("best_timesteps")
        self.stop_at = stop_target(run, config["env_id"])
        self.stopped = bool(st.get("stopped", False))
        self._eval_envs = None  # made at the first periodic evaluation, kept open for the others

    @property
    def seconds(self) -> float:
        """Training wall time (all sessions of a resumed run), evaluations left out."""
        return self.seconds0 + time.perf_counter() - self.t0 - self.paused

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the session."""
        return {
            "metrics_rows": self.metrics.rows,
            "episode_rows": self.episodes.rows,
            "eval_rows": 0 if self.evals is None else self.evals.rows,
            "seconds": self.seconds,
            "timesteps": self.agent.num_timesteps,
            "next_eval": self.next_eval,
            "best_mean": self.best_mean,
            "best_timesteps": self.best_timesteps,
            "stopped": self.stopped,
        }

    def checkpoint(self, finished: bool = False) -> None:
        save_checkpoint(
            self.run_dir / rd.CHECKPOINT,
            {"agent": self.agent.get_state(), "run": {**self.state(), "finished": finished}},
        )
        self.last_ckpt = self.agent.num_timesteps

    def evaluate(self) -> dict[str, Any]:
        """One periodic evaluation (clock paused); logs it, keeps the best model."""
        agent = self.agent
        t = time.perf_counter()
        try:
            if self._eval_envs is None:
                self._eval_envs, _ = make_vec_env(
                    self.config["env_id"], min(self.eval_episodes, 10), "sync", self.eval_env_kwargs
                )
            ev = evaluate_policy(
                agent,
                self._eval_envs,
                n_envs=self._eval_envs.num_envs,
                n_episodes=self.eval_episodes,
                deterministic=True,
                seed=self.eval_seed,
                env_kwargs=self.eval_env_kwargs,
            )
        finally:
            self.paused += time.perf_counter() - t
        returns = ev.returns or [math.nan]
        row = {
            "timesteps": agent.num_timesteps,
            "mean": ev.mean,
            "std": ev.std,
            "min": min(returns),
            "max": max(returns),
            "episodes": ev.episodes,
            "seconds": round(self.seconds, 3),
        }
        self.evals.log(row)
        if self.tb is not None:
            self.tb.log({"timesteps": agent.num_timesteps, "mean_return": ev.mean, "std_return": ev.std},
                        "eval")
        if self.best_mean is None or ev.mean >= self.best_mean:
            self.best_mean, self.best_timesteps = float(ev.mean), int(agent.num_timesteps)
            agent.save(self.run_dir / rd.BEST_MODEL)
        return row

    def __call__(self, agent, metrics: dict[str, Any]) -> Any:
        row = {**metrics, "seconds": round(self.seconds, 3)}
        row.pop("finished", None)
        self.metrics.log(row)
        for ep in metrics.get("finished", ()):
            self.episodes.log(
                {"timesteps": ep.timesteps, "return": ep.ret, "length": ep.length, "env": ep.env}
            )
        if self.tb is not None:
            self.tb.log(row)
        go_on = True
        if self.eval_every and agent.num_timesteps >= self.next_eval:
            while self.next_eval <= agent.num_timesteps:
                self.next_eval += self.eval_every
            ev = self.evaluate()
            if self.stop_at is not None and ev["mean"] >= self.stop_at:
                self.stopped = True
                go_on = False
        if agent.num_timesteps - self.last_ckpt >= self.freq:
            self.checkpoint()
        if self.user_callback is not None and self.user_callback(agent, row) is False:
            go_on = False
        return None if go_on else False

    def close(self) -> None:
        self.metrics.close()
        self.episodes.close()
        if self.evals is not None:
            self.evals.close()
        if self._eval_envs is not None:
            self._eval_envs.close()
        if self.tb is not None:
            self.tb.close()
