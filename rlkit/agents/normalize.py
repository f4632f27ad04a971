"""Running observation normalisation and return-based reward scaling, as SB3's ``VecNormalize``.

* **Observations**: ``(obs - mean) / sqrt(var + eps)``, clipped to ``[-clip_obs, clip_obs]``, with
  the mean and variance of every observation seen in training (Chan et al.'s parallel update).
* **Rewards**: divided by the standard deviation of the *discounted return*
  ``R_t = gamma R_{t-1} + r_t`` (reset at every episode end), clipped to
  ``[-clip_reward, clip_reward]``. The mean is not subtracted: that would change which policy is
  optimal (an alive bonus turned into a penalty), scaling does not.

The statistics change only while training (the collector calls ``update``); ``predict`` and every
evaluation apply them frozen. They are saved with the model and the checkpoint as float64 tensors,
so a resumed run normalises bit for bit as the uninterrupted one.

>>> rms = RunningMeanStd((), epsilon=1e-12)  # the stream's own mean and variance
>>> rms.update(np.array([1.0, 2.0, 3.0])); rms.update(np.array([4.0]))
>>> round(float(rms.mean), 6), round(float(rms.var), 6), round(rms.count, 6)
(2.5, 1.25, 4.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.errors import RlkitError

__all__ = ["ObsNormalizer", "RewardScaler", "RunningMeanStd"]


class RunningMeanStd:
    """Mean and (population) variance of a stream of arrays of shape ``shape``, in float64.

    The count starts at ``epsilon`` (like SB3) so the first update needs no special case.
    """

    def __init__(self, shape: tuple[int, ...], epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Fold in a batch ``(B, *shape)``."""
        x = np.asarray(batch, dtype=np.float64)
        b_mean, b_var, b_count = x.mean(0), x.var(0), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = np.asarray(self.mean + delta * b_count / total)
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = np.asarray(m2 / total)
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": torch.from_numpy(np.array(self.mean, dtype=np.float64)),
            "var": torch.from_numpy(np.array(self.var, dtype=np.float64)),
            "count": float(self.count),
        }

    def load_state_dict(self, state: dict[str, Any], where: str = "checkpoint") -> None:
        mean = np.asarray(state["mean"].numpy(), dtype=np.float64)
        var = np.asarray(state["var"].numpy(), dtype=np.float64)
        count = float(state["count"])
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise RlkitError(
                f"normalisation statistics have shape {mean.shape}, the observations {self.mean.shape}",
                where=where,
            )
        finite = np.isfinite(mean).all() and np.isfinite(var).all() and np.isfinite(count)
        if not finite or (var < 0).any() or count <= 0:
            raise RlkitError(
                "normalisation statistics are not finite (NaN, inf or a negative variance)", where=where
            )
        self.mean, self.var, self.count = mean.copy(), var.copy(), count


class ObsNormalizer:
    """Observation normalisation (see the module docstring)."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.rms = RunningMeanStd(tuple(shape))
        self.clip, self.epsilon = float(clip), float(epsilon)

    def update(self, obs: np.ndarray) -> None:
        self.rms.update(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalised float32 observations (statistics unchanged)."""
        x = (np.asarray(obs, dtype=np.float64) - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(x, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return self.rms.state_dict()

    def load_state_dict(self, state: dict[str, Any], where: str = "checkpoint") -> None:
        self.rms.load_state_dict(state, where)


class RewardScaler:
    """Reward scaling by the running standard deviation of the discounted return."""

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(n_envs, np.float64)
        self.gamma, self.clip, self.epsilon = float(gamma), float(clip), float(epsilon)

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scale one vector step's rewards (updating the statistics); ``dones`` end returns."""
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        out = np.clip(rewards / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)
        self.returns[dones] = 0.0
        return out

    def scale(self, rewards: np.ndarray) -> np.ndarray:
        """Scale rewards with the current statistics, changing nothing."""
        return np.clip(np.asarray(rewards) / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {**self.rms.state_dict(), "returns": torch.from_numpy(self.returns.copy())}

    def load_state_dict(self, state: dict[str, Any], where: str = "checkpoint") -> None:
        self.rms.load_state_dict(state, where)
        returns = np.asarray(state["returns"].numpy(), dtype=np.float64)
        if returns.shape != self.returns.shape or not np.isfinite(returns).all():
            raise RlkitError("reward-scaling returns are not finite or do not match n_envs", where=where)
        self.returns = returns.copy()
