"""Evaluate a policy over a fixed number of whole episodes, vectorised and reproducible: the one
evaluation loop of rlkit (``rlkit train``'s final and periodic evaluations, ``rlkit evaluate``, the
compare protocol for rlkit's and SB3's agents).

Each sub-env is given its share of the episodes up front (``n_episodes`` split as evenly as
possible), and every episode is reset with a seed drawn from ``seed``; so the result does not depend
on which sub-env happens to finish first, and the same seed gives the same episodes. With
``seeds=[...]`` instead, sub-env ``i`` plays exactly one episode from ``reset(seed=seeds[i])``
(the compare protocol's paired episodes), and the returns come back in that order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlkit.agents.rollout import make_vec_env
from rlkit.errors import RlkitError

__all__ = ["EvalResult", "evaluate_policy"]


@dataclass
class EvalResult:
    """Returns of ``episodes`` evaluation episodes.

    :ivar mean: mean return. :ivar std: standard deviation of the returns (ddof 0).
    :ivar episodes: number of episodes. :ivar deterministic: greedy actions or sampled.
    :ivar returns: every episode's return. :ivar lengths: every episode's length.
    :ivar seed: the seed of the episodes' resets.
    """

    mean: float
    std: float
    episodes: int
    deterministic: bool
    seed: int | None
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    @property
    def length_mean(self) -> float:
        return float(np.mean(self.lengths)) if self.lengths else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["length_mean"] = self.length_mean
        return d


def evaluate_policy(
    agent: Any,
    env: Any = None,
    *,
    n_episodes: int = 100,
    deterministic: bool = True,
    seed: int | None = 0,
    n_envs: int | None = None,
    env_kwargs: dict | None = None,
    max_steps: int | None = None,
    seeds: list[int] | None = None,
    obs_transform: Any = None,
) -> EvalResult:
    """Run ``n_episodes`` whole episodes with ``agent.predict`` and report the returns.

    :param agent: a :class:`~rlkit.agents.Reinforce` (or anything with ``predict(obs, state,
        episode_start, deterministic)`` and, for a fresh env, ``env_id``).
    :param env: an env id, an env, or a vector env made with ``autoreset_mode=DISABLED`` (kept
        open: the caller's); None: the agent's ``env_id`` (with its ``env_kwargs``).
    :param n_episodes: number of episodes.
    :param deterministic: greedy (mode) actions, or sampled ones.
    :param seed: seeds the episodes' resets (and the action noise when sampling, for rlkit agents).
    :param n_envs: parallel sub-envs (default ``min(n_episodes, 10)``).
    :param env_kwargs: keyword arguments of ``gymnasium.make`` (default: the agent's).
    :param max_steps: stop after this many vector steps (a guard for envs without a time limit);
        episodes still running are then left out of the result.
    :param seeds: one episode per seed, sub-env ``i`` from ``reset(seed=seeds[i])`` (then
        ``n_episodes`` and ``n_envs`` are ``len(seeds)``); returns and lengths in seed order, an
        episode cut by ``max_steps`` with its return so far.
    :param obs_transform: applied to every observation batch before ``predict`` (e.g. the
        statistics of SB3's ``VecNormalize``).
    :returns: :class:`EvalResult`.

    Example::

        >>> from rlkit.agents import Reinforce
        >>> agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=2)
        >>> evaluate_policy(agent, n_episodes=4, seed=1).episodes
        4
    """
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        n_episodes = len(seeds)
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise RlkitError(f"n_episodes must be a positive integer, got {n_episodes!r}", where="episodes")
    config = getattr(agent, "config", None)
    if env is None:
        env = getattr(agent, "env_id", None)
        if env is None:
            raise RlkitError("the agent has no env id; pass env=...", where="env")
        if env_kwargs is None and config is not None:
            env_kwargs = config.env_kwargs
    owned = not isinstance(env, gym.vector.VectorEnv)
    n = n_episodes if seeds is not None else int(min(n_episodes, n_envs or 10))
    envs, _ = make_vec_env(env, n, "sync", env_kwargs or {})
    if envs.num_envs != n:
        raise RlkitError(f"the vector env has {envs.num_envs} sub-envs, {n} are needed", where="env")
    rng = np.random.default_rng(seed)
    quota = np.full(n, n_episodes // n, dtype=np.int64)
    quota[: n_episodes % n] += 1
    by_env: list[tuple[float, int] | None] = [None] * n  # seeds mode: each sub-env's one episode
    finished = np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    ep_ret = np.zeros(n)
    ep_len = np.zeros(n, dtype=np.int64)
    gen = getattr(agent, "_predict_gen", None)
    saved_gen = gen.get_state() if isinstance(gen, torch.Generator) else None
    if saved_gen is not None:
        gen.manual_seed(int(rng.integers(2**31 - 1)))
    threads = torch.get_num_threads()
    if config is not None and getattr(config, "torch_threads", None):
        torch.set_num_threads(config.torch_threads)
    try:
        first = seeds if seeds is not None else [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]
        obs, _ = envs.reset(seed=first)
        state = None
        starts = np.ones(n, dtype=bool)
        steps = 0
        while np.any(finished < quota):
            if max_steps is not None and steps >= max_steps:
                break
            actions, state = agent.predict(
                obs if obs_transform is None else obs_transform(obs),
                state=state,
                episode_start=starts,
                deterministic=deterministic,
            )
            obs, reward, terminated, truncated, _ = envs.step(actions)
            steps += 1
            active = finished < quota
            ep_ret += reward
            ep_len += 1
            done = terminated | truncated
            starts = done.copy()
            if done.any():
                for i in np.flatnonzero(done & active):
                    returns.append(float(ep_ret[i]))
                    lengths.append(int(ep_len[i]))
                    by_env[i] = (float(ep_ret[i]), int(ep_len[i]))
                finished += done & active
                ep_ret[done] = 0.0
                ep_len[done] = 0
                fresh = rng.integers(0, 2**31 - 1, size=n)
                obs, _ = envs.reset(
                    seed=[int(s) if d else None for s, d in zip(fresh, done, strict=True)],
                    options={"reset_mask": done},
                )
    finally:
        if owned:
            envs.close()
        torch.set_num_threads(threads)
        if saved_gen is not None:
            gen.set_state(saved_gen)
    if seeds is not None:  # in seed order; an episode cut by max_steps counts its return so far
        done_eps = [e if e is not None else (float(ep_ret[i]), int(ep_len[i])) for i, e in enumerate(by_env)]
        returns = [e[0] for e in done_eps]
        lengths = [e[1] for e in done_eps]
    r = np.asarray(returns, dtype=np.float64)
    return EvalResult(
        mean=float(r.mean()) if r.size else float("nan"),
        std=float(r.std()) if r.size else float("nan"),
        episodes=int(r.size),
        deterministic=bool(deterministic),
        seed=seed,
        returns=returns,
        lengths=lengths,
    )
