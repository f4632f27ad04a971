"""rlkit's Gymnasium environments, registered under the ``rlkit/`` namespace on import.

* ``rlkit/MNISTBandit-v0`` -- :class:`~rlkit.envs.mnist_bandit.MNISTBanditEnv`: a 28x28 digit in,
  its label out, reward 1 when right (one image per episode; ``episode_length=N`` for more);
  ``gymnasium.make_vec`` gives the native :class:`~rlkit.envs.mnist_bandit.MNISTBanditVectorEnv`.
* ``rlkit/TabularMDP-v0`` -- :class:`~rlkit.envs.tabular_env.TabularMDPEnv`: any model of
  :mod:`rlkit.mdp` (``spec=`` catalog name, file or ``gym:<EnvId>``; or ``mdp=`` a model) with
  ``Discrete`` observations; ``max_episode_steps=1000``.
* ``rlkit/CartPoleNoVel-v1`` -- CartPole that observes only cart position and pole angle
  (:class:`~rlkit.envs.wrappers.MaskVelocity`), a partially observed task for recurrent policies;
  ``max_episode_steps=500`` like CartPole-v1.

:func:`make` registers these first and turns an unknown id into an :class:`~rlkit.errors.RlkitError`
with the closest known ids. :mod:`rlkit.envs.bridge` scores a policy on a tabular env exactly.

Example::

    >>> import rlkit.envs
    >>> env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="random-walk")
    >>> env.observation_space
    Discrete(7)
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym

from rlkit.errors import RlkitError

#: id -> registration keyword arguments of rlkit's environments.
ENV_SPECS: dict[str, dict[str, Any]] = {
    "rlkit/MNISTBandit-v0": {
        "entry_point": "rlkit.envs.mnist_bandit:MNISTBanditEnv",
        "vector_entry_point": "rlkit.envs.mnist_bandit:MNISTBanditVectorEnv",
        "reward_threshold": 0.97,
    },
    "rlkit/TabularMDP-v0": {
        "entry_point": "rlkit.envs.tabular_env:TabularMDPEnv",
        "max_episode_steps": 1000,
    },
    "rlkit/CartPoleNoVel-v1": {
        "entry_point": "rlkit.envs.wrappers:make_cartpole_no_velocity",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
}


def register_envs() -> list[str]:
    """Register rlkit's environments with Gymnasium (idempotent); return their ids."""
    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, **kwargs)
    return list(ENV_SPECS)


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` after registering rlkit's environments, with rlkit errors.

    :param env_id: a Gymnasium id (``"CartPole-v1"``, ``"rlkit/MNISTBandit-v0"``, ...); a leading
        ``"gym:"`` is accepted and ignored.
    :param kwargs: passed to :func:`gymnasium.make` (env constructor arguments,
        ``max_episode_steps``, ``render_mode``, ...).
    :raises RlkitError: for an id Gymnasium does not know (with the closest known ids) or
        keyword arguments the environment does not take.
    """
    register_envs()
    if not isinstance(env_id, str):
        raise RlkitError(f"env id must be a string, got {type(env_id).__name__}")
    env_id = env_id.removeprefix("gym:")
    if env_id not in gym.registry:
        known = list(gym.registry)
        close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
        if not close:  # case or version slips: compare lower-cased names without versions
            stem = env_id.lower().split("-v")[0]
            close = [k for k in known if k.lower().split("-v")[0] == stem][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else "; see gymnasium.pprint_registry()"
        raise RlkitError(f"unknown environment id {env_id!r}{hint}")
    mode = kwargs.get("render_mode")
    if mode is not None and not isinstance(mode, str):
        raise RlkitError(f"{env_id}: render_mode must be a string such as 'rgb_array' or None, got "
                         f"{type(mode).__name__} {str(mode)[:40]!r}")
    try:
        return gym.make(env_id, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise RlkitError(f"{env_id}: {str(exc).splitlines()[0]}") from exc
        raise


register_envs()

__all__ = ["ENV_SPECS", "make", "register_envs"]
