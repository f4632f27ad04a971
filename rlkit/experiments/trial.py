"""One trial (agent x env x seed x config) under the evaluation protocol shared by every agent.

The protocol, the same for rlkit's agents and Stable-Baselines3's:

* every ``eval_every`` environment steps (counted over all training envs), and once before
  training and once at the end, the current policy plays ``eval_episodes`` episodes with
  **deterministic** actions on separate evaluation env instances (never the training envs);
* evaluation episode ``i`` of a trial with seed ``s`` starts from ``env.reset(seed=EVAL_SEED_BASE +
  1000 * s + i)``: the same start states at every evaluation point and for every agent with that
  seed (a paired comparison);
* the returns of training episodes are logged as they end;
* the clock that measures training time stops while the protocol evaluates, so wall time and
  throughput are the agent's own.

:func:`run_trial` never raises for a failure inside a trial: it returns a :class:`TrialResult` with
``status="failed"`` and the error, so the other trials go on.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rlkit._io import to_json
from rlkit.agents import registry as agent_registry

__all__ = [
    "EVAL_SEED_BASE",
    "TrialSpec",
    "TrialResult",
    "Protocol",
    "evaluate_episodes",
    "eval_seeds",
    "run_trial",
    "METRIC_COLUMNS",
]

EVAL_SEED_BASE = 1_000_000
METRIC_COLUMNS = [
    "kind", "eval_point", "timesteps", "train_time_s", "return_mean", "return_std", "return_min",
    "return_max", "episodes", "length_mean",
]

Predict = Callable[..., tuple[np.ndarray, Any]]


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs, resolved on the driver (workers read no catalog files).

    :param agent: agent name ("reinforce", "sb3-ppo", "sb3-a2c", "sb3-dqn").
    :param env_id: Gymnasium id.
    :param seed: the trial's seed (agent, training envs, evaluation start states).
    :param total_timesteps: training budget in environment steps.
    :param eval_every: evaluate after every this many environment steps.
    :param eval_episodes: episodes per evaluation.
    :param hyperparams: the agent's resolved configuration (preset + overrides), JSON-able.
    :param config_id: name of the configuration ("default", or "c3" in a sweep).
    """

    agent: str
    env_id: str
    seed: int
    total_timesteps: int
    eval_every: int
    eval_episodes: int
    hyperparams: dict[str, Any] = field(default_factory=dict)
    config_id: str = "default"

    @property
    def trial_id(self) -> str:
        """A file-system safe, unique name: ``<env>__<agent>__<config>__s<seed>``."""
        env = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.env_id)
        return f"{env}__{self.agent}__{self.config_id}__s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """Hash of the whole spec: a finished trial is reused only if its fingerprint matches."""
        return hashlib.sha256(to_json(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrialResult:
    """What a trial sends back to the driver (small and picklable; the driver writes the files).

    ``eval_rows`` / ``train_rows`` are dicts with the keys of :data:`METRIC_COLUMNS`.
    Deterministic fields (same seed -> same value on any executor): status, error, timesteps,
    final_eval_mean, final_eval_std, eval_rows' returns. Timing fields: wall_time_s,
    train_time_s, steps_per_s and the ``train_time_s`` of each row.
    """

    spec: TrialSpec
    status: str  # "ok" | "failed"
    error: str = ""
    timesteps: int = 0
    final_eval_mean: float = float("nan")
    final_eval_std: float = float("nan")
    eval_rows: list[dict[str, Any]] = field(default_factory=list)
    train_rows: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    host: str = ""

    @property
    def steps_per_s(self) -> float:
        return self.timesteps / self.train_time_s if self.train_time_s > 0 else float("nan")


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """Reset seeds of the evaluation episodes of a trial with ``seed`` (see module docstring)."""
    return [EVAL_SEED_BASE + 1000 * int(seed) + i for i in range(int(episodes))]


def _register_rlkit_envs(env_id: str = "") -> None:
    """Register rlkit's ``rlkit/...`` env ids with Gymnasium (needed in every worker process)."""
    try:
        import rlkit.envs  # noqa: F401
    except Exception:
        if env_id.startswith("rlkit/"):
            raise


class _EvalEnvs:
    """``n`` evaluation env instances, one vector env kept open across evaluations."""

    def __init__(self, env_id: str, n: int) -> None:
        from rlkit.agents.rollout import make_vec_env

        _register_rlkit_envs(env_id)
        self.vec, _ = make_vec_env(env_id, n, "sync")
        spec = (self.vec.envs[0] if hasattr(self.vec, "envs") else self.vec).spec  # native vector envs too
        limit = spec.max_episode_steps if spec is not None else None
        self.max_steps = int(limit) if limit else 100_000

    def close(self) -> None:
        self.vec.close()


class _Predictor:
    """A bare ``predict`` function as the agent :func:`rlkit.runs.evaluate.evaluate_policy` plays."""

    def __init__(self, predict: Predict) -> None:
        self.predict = predict


def evaluate_episodes(
    predict: Predict,
    envs: _EvalEnvs | str,
    seeds: list[int],
    *,
    obs_transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Play one episode per seed with deterministic actions; return (returns, lengths) in seed order.

    All episodes run side by side through :func:`rlkit.runs.evaluate.evaluate_policy` (the one
    evaluation loop): one ``predict(obs_batch, state, episode_start, deterministic=True)`` call per
    step, so recurrent policies get their state. Episodes with no time limit are cut at 100 000
    steps.

    :param predict: SB3-style ``predict``.
    :param envs: an env id or the evaluation envs of a :class:`Protocol`.
    :param seeds: reset seed of each episode.
    :param obs_transform: applied to observations before ``predict`` (e.g. VecNormalize stats).
    """
    from rlkit.runs.evaluate import evaluate_policy

    owned = isinstance(envs, str)
    pool = _EvalEnvs(envs, len(seeds)) if owned else envs
    try:
        res = evaluate_policy(_Predictor(predict), pool.vec, seeds=list(seeds), deterministic=True,
                              max_steps=pool.max_steps, obs_transform=obs_transform, seed=None)
        return np.asarray(res.returns, dtype=np.float64), np.asarray(res.lengths, dtype=np.int64)
    finally:
        if owned:
            pool.close()


class Protocol:
    """The shared evaluation protocol; agent adapters call :meth:`on_step` and :meth:`on_episode`.

    :param spec: the trial.
    """

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.seeds = eval_seeds(spec.seed, spec.eval_episodes)
        self.envs = _EvalEnvs(spec.env_id, spec.eval_episodes)
        self.eval_rows: list[dict[str, Any]] = []
        self.train_rows: list[dict[str, Any]] = []
        self.next_point = 0
        self._t0 = time.perf_counter()
        self._eval_seconds = 0.0

    def train_time(self) -> float:
        """Seconds since the start, minus the time spent in evaluations."""
        return time.perf_counter() - self._t0 - self._eval_seconds

    def _evaluate(self, predict: Predict, obs_transform: Callable | None) -> tuple[np.ndarray, np.ndarray]:
        t = time.perf_counter()
        try:
            return evaluate_episodes(predict, self.envs, self.seeds, obs_transform=obs_transform)
        finally:
            self._eval_seconds += time.perf_counter() - t

    def _row(self, point: int, timesteps: int, returns: np.ndarray, lengths: np.ndarray,
             train_time: float) -> dict[str, Any]:
        return {
            "kind": "eval", "eval_point": int(point), "timesteps": int(timesteps),
            "train_time_s": train_time, "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "return_min": float(returns.min()),
            "return_max": float(returns.max()), "episodes": len(returns),
            "length_mean": float(lengths.mean()),
        }

    def on_step(self, timesteps: int, predict: Predict, obs_transform: Callable | None = None) -> None:
        """Evaluate if ``timesteps`` reached the next evaluation point (below the budget).

        A jump over several points (a big batch) evaluates once and records that result for each
        point passed, so every seed has the same grid of points.
        """
        if timesteps < self.next_point or self.next_point >= self.spec.total_timesteps:
            return
        train_time = self.train_time()
        returns, lengths = self._evaluate(predict, obs_transform)
        while self.next_point <= timesteps and self.next_point < self.spec.total_timesteps:
            self.eval_rows.append(self._row(self.next_point, timesteps, returns, lengths, train_time))
            self.next_point += self.spec.eval_every

    def on_episode(self, timesteps: int, episode_return: float, length: int) -> None:
        """Log one finished training episode."""
        self.train_rows.append({
            "kind": "train", "eval_point": "", "timesteps": int(timesteps),
            "train_time_s": self.train_time(), "return_mean": float(episode_return), "return_std": "",
            "return_min": "", "return_max": "", "episodes": 1, "length_mean": float(length),
        })

    def finish(self, timesteps: int, predict: Predict,
               obs_transform: Callable | None = None) -> dict[str, Any]:
        """The final evaluation, recorded at eval point ``total_timesteps``."""
        train_time = self.train_time()
        returns, lengths = self._evaluate(predict, obs_transform)
        row = self._row(self.spec.total_timesteps, timesteps, returns, lengths, train_time)
        self.eval_rows.append(row)
        return row

    def close(self) -> None:
        self.envs.close()


def _limit_threads() -> int:
    """One torch thread per trial: trials, not threads, use the cores (and results do not depend
    on a thread count). Returns the previous count."""
    import torch

    previous = torch.get_num_threads()
    if previous != 1:
        torch.set_num_threads(1)
    return previous


# ---------------------------------------------------------------------------------------------
# The agents a trial can run: configuration (on the driver) and training (in the worker)
# ---------------------------------------------------------------------------------------------

AGENTS = tuple(agent_registry.names())
BUDGET_KEYS = ("n_timesteps", "total_timesteps")


def check_agent(agent: str) -> None:
    """Raise :class:`RlkitError` for an agent name rlkit cannot run."""
    agent_registry.get(agent, where="--agents")


def default_config(agent: str, env_id: str) -> dict[str, Any]:
    """The agent's preset for ``env_id`` (``agents/<agent>.yaml``), as a fresh dict."""
    return agent_registry.get(agent, where="--agents").defaults(env_id)


def check_config(agent: str, config: dict[str, Any], *, action_space: Any = None,
                 observation_space: Any = None) -> None:
    """Raise :class:`RlkitError` for a configuration ``agent`` cannot take (before any trial starts):
    unknown keys, wrong types (rlkit agents), an action space the algorithm does not handle."""
    agent_registry.get(agent, where="--agents").check(
        config, observation_space=observation_space, action_space=action_space)


def budget_of(config: dict[str, Any], default: int = 100_000) -> int:
    """The training budget a preset asks for (``n_timesteps`` or ``total_timesteps``)."""
    for key in BUDGET_KEYS:
        if key in config:
            return int(float(config[key]))
    return default


def rlkit_default_config(agent: str, env_id: str) -> dict[str, Any]:
    """An rlkit agent's preset for ``env_id`` (registry hook)."""
    from rlkit.agents.presets import load_preset

    return dict(load_preset(agent, env_id))


def _hyperparams(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in BUDGET_KEYS and k != "policy"}


def check_onpolicy_config(agent: str, config: dict[str, Any], *, observation_space: Any = None,
                          action_space: Any = None) -> None:
    """Check every hyperparameter's name, type and range of an rlkit agent (registry hook); with the
    env's spaces, also build the networks once (catches a policy config no backbone fits) without
    making any env."""
    cls = agent_registry.agent_class(agent, where="--agents")
    for key, value in _hyperparams(config).items():
        cls.check_hyperparam(key, value, where=f"{agent}.{key}")
    if observation_space is not None and action_space is not None:
        cls(config.get("policy"), None, observation_space=observation_space, action_space=action_space,
            **_hyperparams(config))


def train_onpolicy(spec: TrialSpec, protocol: Protocol) -> int:
    """Train one trial of an rlkit agent under the protocol (registry hook)."""
    cls = agent_registry.agent_class(spec.agent, where="--agents")
    agent = cls(spec.hyperparams.get("policy"), spec.env_id, seed=spec.seed, **_hyperparams(spec.hyperparams))

    def callback(agent: Any, metrics: dict[str, Any]) -> bool:
        for ep in metrics["finished"]:  # every episode that ended in this batch
            protocol.on_episode(ep.timesteps, ep.ret, ep.length)
        protocol.on_step(agent.num_timesteps, agent.predict)
        return True

    try:
        protocol.on_step(0, agent.predict)
        agent.learn(spec.total_timesteps, callback=callback, progress_bar=False)
        protocol.finish(agent.num_timesteps, agent.predict)
        return int(agent.num_timesteps)
    finally:
        agent.close()


def run_trial(spec: TrialSpec) -> TrialResult:
    """Run one trial under the protocol; failures come back as ``status="failed"``, never raised.

    Example::

        >>> from rlkit.experiments.trial import TrialSpec, run_trial
        >>> spec = TrialSpec("sb3-a2c", "CartPole-v1", seed=0, total_timesteps=200, eval_every=100,
        ...                  eval_episodes=2, hyperparams={"policy": "MlpPolicy", "n_envs": 2})
        >>> result = run_trial(spec)
        >>> result.status, [r["eval_point"] for r in result.eval_rows]
        ('ok', [0, 100, 200])
    """
    from rlkit.seeding import seed_everything

    host = f"{socket.gethostname()}:{os.getpid()}"
    protocol: Protocol | None = None
    threads = _limit_threads()
    t0 = time.perf_counter()
    try:
        entry = agent_registry.get(spec.agent, where="--agents")
        entry.import_for_trial()  # before the clock starts: torch's first optimiser imports for seconds
        t0 = time.perf_counter()
        seed_everything(spec.seed)
        protocol = Protocol(spec)
        timesteps = entry.train_trial(spec, protocol)
        final = protocol.eval_rows[-1]
        return TrialResult(
            spec=spec, status="ok", timesteps=int(timesteps), final_eval_mean=final["return_mean"],
            final_eval_std=final["return_std"], eval_rows=protocol.eval_rows,
            train_rows=protocol.train_rows, wall_time_s=time.perf_counter() - t0,
            train_time_s=final["train_time_s"], host=host,
        )
    except Exception as exc:  # a failed trial is a result, the others go on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        return TrialResult(
            spec=spec, status="failed", error=message + where,
            eval_rows=protocol.eval_rows if protocol else [],
            train_rows=protocol.train_rows if protocol else [],
            wall_time_s=time.perf_counter() - t0, host=host,
        )
    finally:
        if protocol is not None:
            protocol.close()
        if threads != 1:  # run in-process (not in a worker): give the caller its threads back
            import torch

            torch.set_num_threads(threads)
