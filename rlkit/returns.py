"""Discounted returns-to-go: a small pure function over (T, ...) arrays, time first.

It sits at the top of the package so that every layer can use it: the agents
(:mod:`rlkit.agents.returns` re-exports it beside ``gae``) and the textbook layer
(:mod:`rlkit.tabular.neural`'s gradient Monte Carlo), which imports nothing from ``agents``.

A step ``t`` either continues into step ``t + 1`` of the same episode (``dones[t]`` False and
``t < T - 1``), or is cut; at a cut the return bootstraps from ``bootstrap[t]``: 0 after a
termination, V(final observation) after a time-limit truncation, V(next observation) where the
rollout simply ends.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cuts", "returns_to_go"]


def cuts(dones: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Where the return is cut, (T, ...) bool: ``dones``, and always the last step."""
    cut = np.zeros(shape, dtype=bool) if dones is None else np.asarray(dones, dtype=bool).copy()
    cut[-1] = True  # the rollout ends after its last step
    return cut


def returns_to_go(
    rewards: np.ndarray, gamma: float, dones: np.ndarray | None = None, bootstrap: np.ndarray | None = None
) -> np.ndarray:
    """Discounted returns-to-go ``G_t = r_t + gamma * (G_{t+1} if the episode continues else b_t)``.

    :param rewards: (T, ...) rewards, time first.
    :param gamma: discount factor.
    :param dones: (T, ...) bool, True where the episode ends at step ``t`` (terminated or
        truncated); the last step is always treated as a cut.
    :param bootstrap: (T, ...) value to bootstrap from at a cut (0 after a termination, V(final
        obs) after a truncation, V(next obs) at the end of the rollout); zeros if None.
    :returns: (T, ...) float64 returns.

    >>> returns_to_go(np.array([1.0, 1.0, 1.0]), 0.9)
    array([2.71, 1.9 , 1.  ])
    >>> returns_to_go(np.array([1.0, 2.0, 3.0]), 0.5, dones=np.array([True, False, False]))
    array([1. , 3.5, 3. ])
    """
    r = np.asarray(rewards, dtype=np.float64)
    cut = cuts(dones, r.shape)
    b = np.zeros_like(r) if bootstrap is None else np.asarray(bootstrap, dtype=np.float64)
    out = np.empty_like(r)
    nxt = np.zeros(r.shape[1:])
    for t in range(r.shape[0] - 1, -1, -1):
        nxt = r[t] + gamma * np.where(cut[t], b[t], nxt)
        out[t] = nxt
    return out
