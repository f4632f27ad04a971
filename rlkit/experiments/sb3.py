"""Stable-Baselines3 agents (PPO, A2C, DQN) under rlkit's evaluation protocol.

Presets are ``agents/sb3-ppo.yaml``, ``agents/sb3-a2c.yaml``, ``agents/sb3-dqn.yaml``: rl-zoo's
tuned hyperparameters keyed by env id (the files name the zoo commit they were copied from). A
preset entry holds the zoo's wrapper keys (``policy``, ``n_envs``, ``n_timesteps``, ``normalize``)
and keywords of the SB3 algorithm; ``"lin_X"`` learning rates / clip ranges decay linearly from X
to 0 as in the zoo. An env without a preset gets SB3's defaults (``MlpPolicy``, one env, 100k steps).

Example::

    >>> from rlkit.experiments.sb3 import sb3_preset
    >>> sb3_preset("sb3-ppo", "CartPole-v1")["n_steps"]
    32
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from rlkit.errors import RlkitError

if TYPE_CHECKING:  # pragma: no cover
    from rlkit.experiments.trial import Protocol, TrialSpec

__all__ = ["SB3_AGENTS", "sb3_preset", "check_sb3_config", "linear_schedule", "train_sb3"]

SB3_AGENTS = {"sb3-ppo": "PPO", "sb3-a2c": "A2C", "sb3-dqn": "DQN"}
WRAPPER_KEYS = {"policy", "n_envs", "n_timesteps", "normalize"}
RESERVED_KEYS = {"env", "seed", "verbose", "device", "tensorboard_log", "_init_setup_model", "self"}
DEFAULT_CONFIG: dict[str, Any] = {"policy": "MlpPolicy", "n_envs": 1, "n_timesteps": 100_000}
DISCRETE_ONLY = {"sb3-dqn"}
_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "gelu": "GELU", "leaky_relu": "LeakyReLU",
                "leakyrelu": "LeakyReLU", "silu": "SiLU", "sigmoid": "Sigmoid"}


def _algo_class(agent: str) -> type:
    import stable_baselines3

    if agent not in SB3_AGENTS:
        raise RlkitError(f"unknown SB3 agent {agent!r}; use one of {', '.join(SB3_AGENTS)}")
    return getattr(stable_baselines3, SB3_AGENTS[agent])


def _preset_file(agent: str) -> dict[str, Any]:
    from rlkit.agents.presets import read_presets
    from rlkit.catalog import catalog_files

    return read_presets(agent) if agent in catalog_files("agents") else {}


def sb3_preset(agent: str, env_id: str) -> dict[str, Any]:
    """rl-zoo's hyperparameters of ``agent`` for ``env_id`` (a fresh dict), or SB3's defaults.

    :param agent: "sb3-ppo", "sb3-a2c" or "sb3-dqn".
    :param env_id: a Gymnasium id.
    """
    _algo_class(agent)
    entry = _preset_file(agent).get(env_id)
    if entry is None:
        return dict(DEFAULT_CONFIG)
    if not isinstance(entry, dict):
        raise RlkitError(f"agents/{agent}.yaml: entry {env_id!r} must be a mapping")
    import copy

    return {**DEFAULT_CONFIG, **copy.deepcopy(entry)}


def allowed_keys(agent: str) -> set[str]:
    """Keys a preset or ``--set`` may use for ``agent``."""
    params = set(inspect.signature(_algo_class(agent).__init__).parameters)
    return (params - RESERVED_KEYS) | WRAPPER_KEYS


def check_sb3_config(agent: str, config: dict[str, Any], *, action_space: Any = None,
                     observation_space: Any = None) -> None:
    """Raise :class:`RlkitError` for keys the algorithm does not take or an action space it cannot
    act in (DQN: Discrete only). Values are checked by SB3 itself when the trial starts.
    """
    allowed = allowed_keys(agent)
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise RlkitError(
            f"{agent}: unknown hyperparameter {unknown[0]!r}; valid keys: {', '.join(sorted(allowed))}",
            where="--set/preset",
        )
    if action_space is not None and agent in DISCRETE_ONLY:
        from gymnasium import spaces

        if not isinstance(action_space, spaces.Discrete):
            raise RlkitError(f"{agent} needs a Discrete action space, the env has {action_space}; "
                             "drop it from --agents for this env")


def linear_schedule(initial: float):
    """rl-zoo's ``linear_schedule``: ``progress_remaining * initial`` (1 at start, 0 at the end)."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial

    return schedule


def _value(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            return linear_schedule(float(value[4:]))
        except ValueError:
            raise RlkitError(f"{key}: {value!r} is not lin_<number>") from None
    return value


def _policy_kwargs(kwargs: dict[str, Any] | None) -> dict[str, Any] | None:
    if not kwargs:
        return None
    import torch.nn as nn

    out = dict(kwargs)
    act = out.get("activation_fn")
    if isinstance(act, str):
        name = act.removeprefix("nn.").removeprefix("th.nn.")
        cls_name = _ACTIVATIONS.get(name.lower(), name)
        if not hasattr(nn, cls_name):
            raise RlkitError(f"policy_kwargs.activation_fn: unknown activation {act!r}")
        out["activation_fn"] = getattr(nn, cls_name)
    return out


def train_sb3(spec: TrialSpec, protocol: Protocol) -> int:
    """Train ``spec.agent`` on ``spec.env_id`` for ``spec.total_timesteps`` steps under ``protocol``.

    :return: the environment steps actually taken (SB3 finishes its last rollout, so PPO/A2C may
        pass the budget by less than ``n_steps * n_envs``).
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from rlkit.experiments.trial import _register_rlkit_envs

    _register_rlkit_envs()
    cfg = dict(spec.hyperparams)
    check_sb3_config(spec.agent, cfg)
    policy = cfg.pop("policy", "MlpPolicy")
    n_envs = int(cfg.pop("n_envs", 1))
    cfg.pop("n_timesteps", None)
    normalize = cfg.pop("normalize", False)
    cfg = {k: _value(k, v) for k, v in cfg.items()}
    if "policy_kwargs" in cfg:
        cfg["policy_kwargs"] = _policy_kwargs(cfg["policy_kwargs"])

    env = make_vec_env(spec.env_id, n_envs=n_envs, seed=spec.seed)
    vecnorm = None
    if normalize:
        norm_kwargs = dict(normalize) if isinstance(normalize, dict) else {}
        norm_kwargs.setdefault("gamma", spec.hyperparams.get("gamma", 0.99))
        env = vecnorm = VecNormalize(env, **norm_kwargs)
    obs_transform = vecnorm.normalize_obs if vecnorm is not None else None

    model = _algo_class(spec.agent)(policy, env, seed=spec.seed, device="cpu", verbose=0, **cfg)

    class _ProtocolCallback(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", ()):
                episode = info.get("episode")
                if episode is not None:  # Monitor (inside VecNormalize): raw returns
                    protocol.on_episode(self.num_timesteps, float(episode["r"]), int(episode["l"]))
            protocol.on_step(self.num_timesteps, self.model.predict, obs_transform)
            return True

    try:
        protocol.on_step(0, model.predict, obs_transform)
        model.learn(spec.total_timesteps, callback=_ProtocolCallback(), progress_bar=False)
        protocol.finish(model.num_timesteps, model.predict, obs_transform)
        return int(model.num_timesteps)
    finally:
        env.close()
