"""Evaluate a policy over a fixed number of whole episodes, vectorised and reproducible.

Each sub-env is given its share of the episodes up front (``n_episodes`` split as evenly as
possible), and every episode is reset with a seed drawn from ``seed``; so the result does not depend
on which sub-env happens to finish first, and the same seed gives the same episodes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

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
) -> EvalResult:
    """Run ``n_episodes`` whole episodes with ``agent.predict`` and report the returns.

    :param agent: a :class:`~rlkit.agents.Reinforce` (or anything with ``predict(obs, state,
        episode_start, deterministic)`` and, for a fresh env, ``env_id``).
    :param env: an env id or env; None: the agent's ``env_id`` (with its ``env_kwargs``).
    :param n_episodes: number of episodes.
    :param deterministic: greedy (mode) actions, or sampled ones.
    :param seed: seeds the episodes' resets (and the action noise when sampling, for rlkit agents).
    :param n_envs: parallel sub-envs (default ``min(n_episodes, 10)``).
    :param env_kwargs: keyword arguments of ``gymnasium.make`` (default: the agent's).
    :param max_steps: stop after this many vector steps (a guard for envs without a time limit);
        episodes still running are then left out of the result.
    :returns: :class:`EvalResult`.

    Example::

        >>> from rlkit.agents import Reinforce
        >>> agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=2)
        >>> evaluate_policy(agent, n_episodes=4, seed=1).episodes
        4
    """
    from rlkit.agents.rollout import make_vec_env

    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise RlkitError(f"n_episodes must be a positive integer, got {n_episodes!r}", where="episodes")
    config = getattr(agent, "config", None)
    if env is None:
        env = getattr(agent, "env_id", None)
        if env is None:
            raise RlkitError("the agent has no env id; pass env=...", where="env")
        if env_kwargs is None and config is not None:
            env_kwargs = config.env_kwargs
    n = int(min(n_episodes, n_envs or 10))
    envs, _ = make_vec_env(env, n, "sync", env_kwargs or {})
    rng = np.random.default_rng(seed)
    quota = np.full(n, n_episodes // n, dtype=np.int64)
    quota[: n_episodes % n] += 1
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
        obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31 - 1, size=n)])
        state = None
        starts = np.ones(n, dtype=bool)
        steps = 0
        while np.any(finished < quota):
            if max_steps is not None and steps >= max_steps:
                break
            actions, state = agent.predict(
                obs, state=state, episode_start=starts, deterministic=deterministic
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
                finished += done & active
                ep_ret[done] = 0.0
                ep_len[done] = 0
                seeds = rng.integers(0, 2**31 - 1, size=n)
                obs, _ = envs.reset(
                    seed=[int(s) if d else None for s, d in zip(seeds, done, strict=True)],
                    options={"reset_mask": done},
                )
    finally:
        envs.close()
        torch.set_num_threads(threads)
        if saved_gen is not None:
            gen.set_state(saved_gen)
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
