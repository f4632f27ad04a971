"""Small observation wrappers: partial observability (:class:`MaskVelocity`) and one-hot states.

Example::

    >>> import gymnasium as gym
    >>> from rlkit.envs.wrappers import MaskVelocity
    >>> env = MaskVelocity(gym.make("CartPole-v1"))      # sees cart position and pole angle only
    >>> env.observation_space.shape
    (2,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlkit.errors import RlkitError

#: Indices of velocity components in the observations of classic-control / Box2D envs
#: (the same table as rl-baselines3-zoo's ``MaskVelocityWrapper``).
VELOCITY_INDICES: dict[str, list[int]] = {
    "CartPole-v1": [1, 3],
    "MountainCar-v0": [1],
    "MountainCarContinuous-v0": [1],
    "Pendulum-v1": [2],
    "LunarLander-v3": [2, 3, 5],
    "LunarLanderContinuous-v3": [2, 3, 5],
    "Acrobot-v1": [4, 5],
}


def _env_id(env: gym.Env) -> str | None:
    spec = getattr(env, "spec", None) or getattr(env.unwrapped, "spec", None)
    return spec.id if spec is not None else None


class MaskVelocity(gym.ObservationWrapper):
    """Hide the velocity components of a Box observation (a partially observed task).

    :param env: the environment (its id must be in :data:`VELOCITY_INDICES`, or give ``indices``).
    :param indices: the observation components to hide; default from the env id.
    :param mode: ``"drop"`` (default) removes them, so CartPole observes ``(x, theta)``;
        ``"zero"`` keeps the shape and sets them to 0 (rl-baselines3-zoo's choice).
    """

    def __init__(self, env: gym.Env, indices: Sequence[int] | None = None, mode: str = "drop") -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise RlkitError(f"MaskVelocity: needs a 1-D Box observation space, got {space}")
        if indices is None:
            env_id = _env_id(env)
            if env_id not in VELOCITY_INDICES:
                raise RlkitError(
                    f"MaskVelocity: no velocity indices known for {env_id!r}; pass indices=[...] "
                    f"(known: {', '.join(sorted(VELOCITY_INDICES))})"
                )
            indices = VELOCITY_INDICES[env_id]
        dim = space.shape[0]
        hidden = sorted({int(i) for i in indices})
        if not hidden or hidden[0] < 0 or hidden[-1] >= dim:
            raise RlkitError(f"MaskVelocity: indices {list(indices)} must be within 0..{dim - 1}")
        if mode not in ("drop", "zero"):
            raise RlkitError(f"MaskVelocity: mode must be 'drop' or 'zero', got {mode!r}")
        self.mode = mode
        self.hidden = np.array(hidden, dtype=np.int64)
        self.keep = np.array([i for i in range(dim) if i not in hidden], dtype=np.int64)
        if mode == "drop":
            self.observation_space = spaces.Box(
                space.low[self.keep], space.high[self.keep], dtype=space.dtype
            )
        else:
            low, high = space.low.copy(), space.high.copy()
            low[self.hidden] = 0
            high[self.hidden] = 0
            self.observation_space = spaces.Box(low, high, dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation)
        if self.mode == "drop":
            return observation[..., self.keep]
        out = observation.copy()
        out[..., self.hidden] = 0
        return out


class OneHotObservation(gym.ObservationWrapper):
    """Turn a ``Discrete(n)`` observation into a float32 one-hot vector of length ``n``
    (so an MLP policy or value net can read a tabular env)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Discrete):
            raise RlkitError(f"OneHotObservation: needs a Discrete observation space, got {space}")
        self.n = int(space.n)
        self._start = int(space.start)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n,), dtype=np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        out[int(observation) - self._start] = 1.0
        return out


def make_cartpole_no_velocity(render_mode: str | None = None, mode: str = "drop") -> gym.Env:
    """Entry point of ``rlkit/CartPoleNoVel-v1``: CartPole seeing only cart position and pole angle."""
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    env = CartPoleEnv(render_mode=render_mode)
    return MaskVelocity(env, indices=VELOCITY_INDICES["CartPole-v1"], mode=mode)
