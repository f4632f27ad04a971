"""Returns and advantages: small pure functions over (T, ...) arrays, time first.

A step ``t`` either continues into step ``t + 1`` of the same episode (``dones[t]`` False and
``t < T - 1``), or is cut; at a cut the return bootstraps from ``bootstrap[t]``: 0 after a
termination, V(final observation) after a time-limit truncation, V(next observation) where the
rollout simply ends. :func:`compute_advantages` applies these rules to a collected
:class:`~rlkit.agents.rollout.Rollout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlkit.returns import cuts as _cuts
from rlkit.returns import returns_to_go

if TYPE_CHECKING:
    from rlkit.agents.rollout import Rollout

__all__ = ["complete_returns_mask", "compute_advantages", "gae", "returns_to_go"]


# ------------------------------------------------------------------------------------------------


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    gamma: float,
    lam: float,
    dones: np.ndarray | None = None,
    bootstrap: np.ndarray | None = None,
) -> np.ndarray:
    """Generalised advantage estimates (Schulman et al., 2016).

    ``delta_t = r_t + gamma * v'_t - V(s_t)`` with ``v'_t = V(s_{t+1})`` if the episode continues
    and ``b_t`` at a cut; ``A_t = delta_t + gamma * lam * A_{t+1}`` while the episode continues.
    ``lam = 1`` gives ``G_t - V(s_t)`` (with the same bootstraps), ``lam = 0`` the one-step TD error.

    :param rewards: (T, ...) rewards.
    :param values: (T, ...) V(s_t).
    :param gamma: discount factor.
    :param lam: the GAE lambda in [0, 1].
    :param dones: (T, ...) bool episode ends (see :func:`returns_to_go`).
    :param bootstrap: (T, ...) values at the cuts (see :func:`returns_to_go`).
    :returns: (T, ...) float64 advantages.

    >>> gae(np.array([1.0, 1.0]), np.array([0.5, 0.5]), gamma=1.0, lam=1.0)
    array([1.5, 0.5])
    """
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    cut = _cuts(dones, r.shape)
    b = np.zeros_like(r) if bootstrap is None else np.asarray(bootstrap, dtype=np.float64)
    out = np.empty_like(r)
    adv = np.zeros(r.shape[1:])
    for t in range(r.shape[0] - 1, -1, -1):
        next_v = b[t] if t == r.shape[0] - 1 else np.where(cut[t], b[t], v[t + 1])
        delta = r[t] + gamma * next_v - v[t]
        adv = delta + gamma * lam * np.where(cut[t], 0.0, adv)
        out[t] = adv
    return out


def complete_returns_mask(dones: np.ndarray) -> np.ndarray:
    """True at the steps whose episode ends inside the rollout (so their return-to-go is known
    without a value estimate); False at the trailing steps of episodes still running at the end.

    >>> complete_returns_mask(np.array([False, True, False]))
    array([ True,  True, False])
    """
    d = np.asarray(dones, dtype=bool)
    # reverse cumulative OR along time: is there a done at or after t?
    return np.flip(np.logical_or.accumulate(np.flip(d, 0), axis=0), 0)


def compute_advantages(
    rollout: Rollout,
    gamma: float,
    *,
    values: np.ndarray | None = None,
    final_values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
    gae_lambda: float | None = None,
    baseline: float | None = None,
    exclude_incomplete: bool = False,
    reward_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advantages, value targets and the mask of usable steps for one rollout.

    With a value net: truncated episodes bootstrap from ``V(final obs)``, episodes still running
    at the end of the rollout from ``V(next obs)``; terminated episodes from 0.
    ``A_t = GAE(lambda)`` if ``gae_lambda`` is given, else ``G_t - V(s_t)``; targets ``A_t + V(s_t)``
    (GAE) or ``G_t``.
    Without a value net truncations bootstrap from 0 (the return so far is all we know), and with
    ``exclude_incomplete`` the steps of episodes still running at the end of the rollout are left
    out (their return-to-go is unknown). ``A_t = G_t - baseline`` (a number) or ``G_t``.

    ``reward_scale`` multiplies the rewards first.

    :returns: (advantages (T, N), targets (T, N), valid mask (T, N)).
    """
    dones = rollout.dones
    rewards = rollout.rewards * reward_scale if reward_scale != 1.0 else rollout.rewards
    valid = rollout.valid.copy()
    boot = np.zeros(rollout.rewards.shape)
    if values is not None:
        boot[rollout.truncated] = final_values[rollout.truncated]
        boot[-1] = np.where(dones[-1], boot[-1], last_values)
    elif exclude_incomplete:
        valid &= complete_returns_mask(dones)
    returns = returns_to_go(rewards, gamma, dones, boot)
    if values is None:
        adv = returns - (0.0 if baseline is None else baseline)
        return adv, returns, valid
    if gae_lambda is not None:
        adv = gae(rewards, values, gamma, gae_lambda, dones, boot)
        return adv, adv + values, valid
    return returns - values, returns, valid
