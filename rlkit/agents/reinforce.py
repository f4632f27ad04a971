"""REINFORCE (Williams, 1992) with baselines, GAE, entropy bonus -- the Stable-Baselines3 way to use it.

The algorithm, top to bottom:

1. **Collect** a batch with the current policy from a vector env (:class:`~rlkit.agents.rollout.Collector`):
   ``n_steps`` steps of each of ``n_envs`` sub-envs, or whole episodes.
2. **Score** every step: the return-to-go ``G_t = sum_k gamma^k r_{t+k}`` (to the end of the
   episode; a time-limit truncation or the end of the batch bootstraps from the value net, a
   termination does not) and an advantage ``A_t = G_t - b(s_t)`` with a baseline ``b``: none, a
   running mean of returns, or a learned value ``V(s_t)`` -- optionally GAE(lambda) instead.
3. **Update** the policy with one gradient step on (see :func:`reinforce_update`)::

       L(theta) = - 1/|B| sum_t log pi_theta(a_t | s_t) A_t  -  beta 1/|B| sum_t H[pi_theta(. | s_t)]

   and the value net on ``1/|B| sum_t (V(s_t) - G_t)^2`` (its own optimiser, or the same one with
   weight ``vf_coef``).

Example::

    >>> from rlkit.agents import Reinforce
    >>> agent = Reinforce({"net": {"type": "mlp", "hidden": [32]}}, "CartPole-v1", seed=0, n_envs=4,
    ...                   n_steps=32, learning_rate=3e-3)
    >>> agent = agent.learn(total_timesteps=2_000, progress_bar=False)
    >>> actions, state = agent.predict(agent.envs.reset(seed=0)[0], deterministic=True)
    >>> actions.shape, state is None
    ((4,), True)
"""

from __future__ import annotations

import copy
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlkit.agents.policies import ActorCritic
from rlkit.agents.rollout import Collector, Rollout, complete_returns_mask, gae, make_vec_env, returns_to_go
from rlkit.errors import RlkitError

__all__ = [
    "Batch",
    "NaNLossError",
    "Reinforce",
    "ReinforceConfig",
    "UpdateStats",
    "compute_advantages",
    "lr_factor",
    "reinforce_loss",
    "reinforce_update",
    "space_from_dict",
    "space_to_dict",
]

FORMAT = "rlkit-reinforce"
FORMAT_VERSION = 1


class NaNLossError(RlkitError):
    """The loss (or its gradient) became NaN or infinite; raised before the optimiser step."""


# ------------------------------------------------------------------------------------------------
# hyperparameters
# ------------------------------------------------------------------------------------------------


@dataclass
class ReinforceConfig:
    """The agent's hyperparameters (every one can be set from a preset or ``--set key=value``).

    :param n_envs: number of parallel sub-envs.
    :param vectorization: ``sync`` (one process) or ``async`` (a process per sub-env).
    :param batch_mode: ``steps`` (``n_steps`` per sub-env per batch) or ``episodes`` (whole
        episodes; ``n_episodes`` per batch, rounded up to a multiple of ``n_envs``).
    :param n_steps: steps per sub-env per batch (``steps`` mode).
    :param n_episodes: episodes per batch (``episodes`` mode).
    :param gamma: discount factor.
    :param gae_lambda: GAE(lambda) advantages (needs ``baseline: value``); None: ``G_t - b``.
    :param baseline: ``none``, ``mean`` (running mean of returns) or ``value`` (learned V).
    :param baseline_decay: decay of the running-mean baseline, ``b <- d b + (1 - d) mean(G)``.
    :param normalize_advantage: standardise advantages per batch (mean 0, std 1).
    :param ent_coef: entropy bonus weight beta.
    :param vf_coef: value-loss weight when the value net shares the optimiser.
    :param max_grad_norm: clip the gradient's global norm (None: no clipping).
    :param learning_rate: policy learning rate (start value of the schedule).
    :param value_learning_rate: value-net learning rate (separate optimiser); None: ``learning_rate``.
    :param value_optimizer: ``separate`` (own optimiser, ``value_epochs`` steps per batch) or
        ``shared`` (one optimiser on ``L + vf_coef * L_V``; required with ``policy.shared``).
    :param value_epochs: gradient steps of the value net per batch (separate optimiser).
    :param lr_schedule: ``constant``, ``linear`` or ``cosine`` over ``total_timesteps``.
    :param lr_final: the schedule's final learning rate as a fraction of the first.
    :param optimizer: ``adam``, ``rmsprop`` or ``sgd``.
    :param adam_eps: epsilon of Adam / RMSprop.
    :param reward_scale: multiply rewards by this in the returns and value targets (large rewards
        make the value regression slow; metrics always report the env's own rewards).
    :param env_kwargs: keyword arguments of ``gymnasium.make``.
    :param torch_threads: torch intra-op threads while learning (1 is fastest for small nets);
        None leaves torch's setting.
    :param stats_window: episodes in the running mean return.
    """

    n_envs: int = 8
    vectorization: str = "sync"
    batch_mode: str = "steps"
    n_steps: int = 64
    n_episodes: int = 8
    gamma: float = 0.99
    gae_lambda: float | None = None
    baseline: str = "value"
    baseline_decay: float = 0.9
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float | None = 0.5
    learning_rate: float = 1e-3
    value_learning_rate: float | None = None
    value_optimizer: str = "separate"
    value_epochs: int = 1
    lr_schedule: str = "constant"
    lr_final: float = 0.0
    optimizer: str = "adam"
    adam_eps: float = 1e-5
    reward_scale: float = 1.0
    env_kwargs: dict = field(default_factory=dict)
    torch_threads: int | None = 1
    stats_window: int = 100


#: name -> (kind, extra): kind in int, float, bool, str, dict; extra = allowed strings, min value,
#: or whether None is allowed.
_TYPES: dict[str, tuple[str, Any, bool]] = {
    "n_envs": ("int", 1, False),
    "vectorization": ("str", ("sync", "async"), False),
    "batch_mode": ("str", ("steps", "episodes"), False),
    "n_steps": ("int", 1, False),
    "n_episodes": ("int", 1, False),
    "gamma": ("float", (0.0, 1.0), False),
    "gae_lambda": ("float", (0.0, 1.0), True),
    "baseline": ("str", ("none", "mean", "value"), False),
    "baseline_decay": ("float", (0.0, 1.0), False),
    "normalize_advantage": ("bool", None, False),
    "ent_coef": ("float", (0.0, math.inf), False),
    "vf_coef": ("float", (0.0, math.inf), False),
    "max_grad_norm": ("float", (0.0, math.inf), True),
    "learning_rate": ("float", (0.0, math.inf), False),
    "value_learning_rate": ("float", (0.0, math.inf), True),
    "value_optimizer": ("str", ("separate", "shared"), False),
    "value_epochs": ("int", 1, False),
    "lr_schedule": ("str", ("constant", "linear", "cosine"), False),
    "lr_final": ("float", (0.0, 1.0), False),
    "optimizer": ("str", ("adam", "rmsprop", "sgd"), False),
    "adam_eps": ("float", (0.0, math.inf), False),
    "reward_scale": ("float", (0.0, math.inf), False),
    "env_kwargs": ("dict", None, False),
    "torch_threads": ("int", 1, True),
    "stats_window": ("int", 1, False),
}


def check_hyperparam(name: str, value: Any, where: str | None = None) -> Any:
    """Check one hyperparameter's type and range; return it (ints accepted for floats).

    :raises RlkitError: unknown name, wrong type, out of range.
    """
    where = where or name
    if name not in _TYPES:
        raise RlkitError(
            f"unknown hyperparameter {name!r}; known: {', '.join(sorted(_TYPES))}, policy.*", where=where
        )
    kind, extra, nullable = _TYPES[name]
    if value is None:
        if nullable:
            return None
        raise RlkitError("must not be null", where=where)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RlkitError(f"must be an integer, got {value!r}", where=where)
        if value < extra:
            raise RlkitError(f"must be >= {extra}, got {value}", where=where)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise RlkitError(f"must be a number, got {value!r}", where=where)
        lo, hi = extra
        if not (lo <= float(value) <= hi) or math.isnan(float(value)):
            raise RlkitError(f"must be in [{lo}, {hi}], got {value}", where=where)
        return float(value)
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise RlkitError(f"must be true or false, got {value!r}", where=where)
        return bool(value)
    if kind == "str":
        if value not in extra:
            raise RlkitError(f"must be one of {', '.join(extra)}, got {value!r}", where=where)
        return str(value)
    if not isinstance(value, dict):
        raise RlkitError(f"must be a mapping, got {value!r}", where=where)
    return dict(value)


def make_config(**hyperparams: Any) -> ReinforceConfig:
    """A checked :class:`ReinforceConfig` from keyword arguments."""
    checked = {k: check_hyperparam(k, v) for k, v in hyperparams.items()}
    cfg = ReinforceConfig(**checked)
    if cfg.gae_lambda is not None and cfg.baseline != "value":
        raise RlkitError(
            "GAE needs a value baseline; set baseline=value or gae_lambda=null", where="gae_lambda"
        )
    return cfg


def lr_factor(kind: str, progress: float, final: float = 0.0) -> float:
    """Learning-rate multiplier after ``progress`` in [0, 1] of training.

    ``constant``: 1; ``linear``: ``1 - (1 - final) progress``; ``cosine``:
    ``final + (1 - final) (1 + cos(pi progress)) / 2``.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if kind == "linear":
        return 1.0 - (1.0 - final) * p
    if kind == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0


# ------------------------------------------------------------------------------------------------
# spaces <-> plain dicts (checkpoints are loaded with weights_only=True: no pickled objects)
# ------------------------------------------------------------------------------------------------


def space_to_dict(space: spaces.Space) -> dict[str, Any]:
    """A Box / Discrete / MultiDiscrete / MultiBinary space as a dict of tensors and plain values."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": torch.from_numpy(np.array(space.low)),
            "high": torch.from_numpy(np.array(space.high)),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": np.asarray(space.start).tolist(),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(np.atleast_1d(space.n).tolist())}
    raise RlkitError(f"cannot save a {type(space).__name__} space", where="space")


def space_from_dict(d: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_dict`."""
    kind = d.get("type")
    if kind == "Box":
        return spaces.Box(d["low"].numpy(), d["high"].numpy(), dtype=np.dtype(d["dtype"]))
    if kind == "Discrete":
        return spaces.Discrete(d["n"], start=d["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.array(d["nvec"]), start=np.array(d["start"]))
    if kind == "MultiBinary":
        n = d["n"]
        return spaces.MultiBinary(n[0] if len(n) == 1 else n)
    raise RlkitError(f"unknown space type {kind!r}", where="checkpoint")


# ------------------------------------------------------------------------------------------------
# advantages and the update
# ------------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Tensors of one update, time first (T, N, ...).

    :ivar x: policy inputs; ``actions``: raw actions; ``starts``: episode starts;
        ``advantages``: A_t; ``returns``: value targets; ``weights``: 1/|valid| on valid steps, else 0.
    """

    x: torch.Tensor
    actions: torch.Tensor
    starts: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    weights: torch.Tensor
    h0: torch.Tensor | None = None
    value_h0: torch.Tensor | None = None


@dataclass
class UpdateStats:
    """Numbers from one update (logged in metrics.csv)."""

    policy_loss: float
    value_loss: float
    entropy: float
    grad_norm: float
    advantage_mean: float
    explained_variance: float


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


def reinforce_loss(
    policy: ActorCritic, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    r"""The REINFORCE losses of a batch (see :func:`reinforce_update`).

    ``policy_loss = -sum_t w_t log pi(a_t|s_t) A_t``, ``entropy = sum_t w_t H[pi(.|s_t)]``,
    ``value_loss = sum_t w_t (V(s_t) - G_t)^2`` (0 without a value net), with ``w_t = 1/|B|`` on
    the steps used and 0 elsewhere.

    :returns: (policy_loss, entropy, value_loss, the networks' outputs).
    """
    w = batch.weights
    out = policy.evaluate_rollout(
        batch.x, batch.actions, batch.starts, batch.h0, value_h0=batch.value_h0, need_values=policy.with_value
    )
    policy_loss = -(w * out.logp * batch.advantages).sum()
    entropy = (w * out.entropy).sum()
    value_loss = (w * (out.values - batch.returns) ** 2).sum() if policy.with_value else torch.zeros(())
    return policy_loss, entropy, value_loss, out


def reinforce_update(
    policy: ActorCritic,
    batch: Batch,
    optimizers: dict[str, torch.optim.Optimizer],
    *,
    ent_coef: float = 0.0,
    vf_coef: float = 0.5,
    max_grad_norm: float | None = None,
    value_epochs: int = 1,
    update: int = 0,
) -> UpdateStats:
    r"""One REINFORCE update on a batch whose advantages are already computed.

    The policy-gradient theorem with a baseline gives the estimator

    .. math::
        \nabla_\theta J(\theta) \approx \frac{1}{|B|} \sum_{t \in B}
            \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, \hat A_t ,
        \qquad \hat A_t = G_t - b(s_t) \;(\text{or GAE}(\lambda)),

    so we minimise, by one gradient step,

    .. math::
        L(\theta) = -\frac{1}{|B|}\sum_t \log\pi_\theta(a_t\mid s_t)\,\hat A_t
                    \;-\; \beta\,\frac{1}{|B|}\sum_t \mathcal H[\pi_\theta(\cdot\mid s_t)]
        \qquad
        L_V(\phi) = \frac{1}{|B|}\sum_t \big(V_\phi(s_t) - G_t\big)^2 .

    ``optimizers`` is ``{"policy": opt, "value": opt}`` (separate: ``value_epochs`` steps on
    :math:`L_V`) or ``{"shared": opt}`` (one step on :math:`L + c_V L_V`). Gradients are clipped
    to a global norm of ``max_grad_norm``. A NaN/inf loss or gradient raises
    :class:`NaNLossError` before any parameter changes.

    :param policy: the networks.
    :param batch: the batch (advantages computed and, if asked, normalised).
    :param optimizers: see above.
    :param ent_coef: beta.
    :param vf_coef: c_V (shared optimiser).
    :param max_grad_norm: clipping threshold (None: none).
    :param value_epochs: value steps per batch (separate optimiser).
    :param update: the update's number (for the NaN message).
    """
    policy_loss, entropy, value_loss, out = reinforce_loss(policy, batch)
    objective = policy_loss - ent_coef * entropy  # what the policy step descends
    for name, loss in (("policy loss", objective), ("value loss", value_loss)):
        if not torch.isfinite(loss):
            raise NaNLossError(
                f"the {name} became {loss.item()} at update {update}; training stopped before the "
                "optimiser step (lower learning_rate, set max_grad_norm, check the rewards)"
            )
    clip = max_grad_norm if max_grad_norm else math.inf

    def clipped_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if not torch.isfinite(norm):
            raise NaNLossError(
                f"the gradient became {norm.item()} at update {update}; training stopped before the "
                "optimiser step (lower learning_rate, set max_grad_norm)"
            )
        return norm

    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    if "shared" in optimizers:
        (objective + vf_coef * value_loss).backward()
        params = [p for g in optimizers["shared"].param_groups for p in g["params"]]
        grad_norm = float(clipped_norm(params))
        optimizers["shared"].step()
    else:
        need_values = policy.with_value
        (objective + value_loss).backward()  # disjoint parameters: each loss reaches only its own net
        grad_norm = float(clipped_norm(policy.policy_parameters()))
        if need_values:
            clipped_norm(policy.value_parameters())
        optimizers["policy"].step()
        if need_values:
            optimizers["value"].step()
            for _ in range(value_epochs - 1):  # more regression steps on the same targets
                values = policy.values_only(batch.x, batch.starts, batch.value_h0)
                extra = (batch.weights * (values - batch.returns) ** 2).sum()
                if not torch.isfinite(extra):
                    raise NaNLossError(f"the value loss became {extra.item()} at update {update}")
                optimizers["value"].zero_grad(set_to_none=True)
                extra.backward()
                clipped_norm(policy.value_parameters())
                optimizers["value"].step()
    w = batch.weights
    ev = float("nan")
    if policy.with_value:
        with torch.no_grad():
            m = w > 0
            y, v = batch.returns[m], out.values.detach()[m]
            var = torch.var(y) if y.numel() > 1 else torch.zeros(())
            ev = float(1.0 - torch.var(y - v) / var) if var > 0 else float("nan")
    return UpdateStats(
        policy_loss=policy_loss.item(),
        value_loss=value_loss.item(),
        entropy=entropy.item(),
        grad_norm=grad_norm,
        advantage_mean=float((w * batch.advantages).sum()),
        explained_variance=ev,
    )


# ------------------------------------------------------------------------------------------------
# the agent
# ------------------------------------------------------------------------------------------------

Callback = Callable[["Reinforce", dict[str, Any]], Any]


def _optimizer(name: str, params: list[torch.nn.Parameter], lr: float, eps: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=eps)
    return torch.optim.SGD(params, lr=lr)


class Reinforce:
    """REINFORCE with an optional learned baseline, shaped like a Stable-Baselines3 algorithm.

    :param policy_cfg: policy config (see :mod:`rlkit.agents.policies`), e.g.
        ``{"net": {"type": "mlp", "hidden": [64, 64]}}``; None for the defaults.
    :param env: an env id, a :class:`gymnasium.Env` or a vector env (``autoreset_mode=DISABLED``).
        None only with ``observation_space`` and ``action_space`` (a loaded model that only predicts).
    :param seed: seeds the network initialisation, the action noise and every episode's reset.
    :param n_envs: parallel sub-envs.
    :param gamma: discount factor.
    :param learning_rate: the policy's learning rate.
    :param hyperparams: any field of :class:`ReinforceConfig`.

    Example::

        >>> agent = Reinforce(None, "CartPole-v1", seed=1, n_envs=2, n_steps=16)
        >>> agent.learn(64, progress_bar=False).num_timesteps
        64
    """

    def __init__(
        self,
        policy_cfg: dict[str, Any] | None = None,
        env: Any = None,
        *,
        seed: int = 0,
        n_envs: int = 8,
        gamma: float = 0.99,
        learning_rate: float = 1e-3,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        env_id: str | None = None,
        verbose: int = 0,
        **hyperparams: Any,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise RlkitError(f"seed must be an integer, got {seed!r}", where="seed")
        self.seed = int(seed)
        self.verbose = verbose
        self.config = make_config(n_envs=n_envs, gamma=gamma, learning_rate=learning_rate, **hyperparams)
        cfg = self.config
        self.envs: gym.vector.VectorEnv | None = None
        self.env_id = env_id
        if env is not None:
            self.envs, made_id = make_vec_env(env, cfg.n_envs, cfg.vectorization, cfg.env_kwargs)
            self.env_id = self.env_id or made_id
            if self.envs.num_envs != cfg.n_envs:
                self.config.n_envs = self.envs.num_envs
            observation_space = self.envs.single_observation_space
            action_space = self.envs.single_action_space
        elif observation_space is None or action_space is None:
            raise RlkitError(
                "give an env (id, Env or VectorEnv), or observation_space and action_space", where="env"
            )
        self.observation_space, self.action_space = observation_space, action_space

        from rlkit.seeding import seed_everything

        seed_everything(self.seed)  # the networks' initial weights
        self.policy = ActorCritic(
            observation_space, action_space, policy_cfg, with_value=cfg.baseline == "value"
        )
        self.policy_cfg = self.policy.cfg
        if self.policy.shared and cfg.value_optimizer != "shared" and self.policy.with_value:
            raise RlkitError(
                "a shared policy/value backbone needs value_optimizer: shared", where="value_optimizer"
            )
        if cfg.value_optimizer == "shared" and cfg.value_epochs != 1:
            raise RlkitError("value_epochs > 1 needs value_optimizer: separate", where="value_epochs")
        self.optimizers = self._make_optimizers()
        self._rng = np.random.default_rng(self.seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        self._predict_gen = torch.Generator().manual_seed(self.seed + 1)
        self.num_timesteps = 0
        self.num_updates = 0
        self._total_timesteps = 0
        self._baseline_mean = 0.0
        self._baseline_seen = False
        self._value_hidden: torch.Tensor | None = None
        self.last_stats: dict[str, Any] = {}
        self.collector: Collector | None = None
        if self.envs is not None:
            self.collector = Collector(
                self.envs,
                self._rng,
                self.policy.spec["raw_shape"],
                self.policy.spec["raw_dtype"],
                cfg.stats_window,
            )

    # -- set-up ----------------------------------------------------------------------------------
    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        if not self.policy.with_value:
            return {
                "policy": _optimizer(
                    cfg.optimizer, self.policy.policy_parameters(), cfg.learning_rate, cfg.adam_eps
                )
            }
        if cfg.value_optimizer == "shared":
            params = list(dict.fromkeys(self.policy.policy_parameters() + self.policy.value_parameters()))
            return {"shared": _optimizer(cfg.optimizer, params, cfg.learning_rate, cfg.adam_eps)}
        vlr = cfg.value_learning_rate if cfg.value_learning_rate is not None else cfg.learning_rate
        return {
            "policy": _optimizer(
                cfg.optimizer, self.policy.policy_parameters(), cfg.learning_rate, cfg.adam_eps
            ),
            "value": _optimizer(cfg.optimizer, self.policy.value_parameters(), vlr, cfg.adam_eps),
        }

    def _set_learning_rates(self) -> float:
        cfg = self.config
        progress = self.num_timesteps / self._total_timesteps if self._total_timesteps else 0.0
        factor = lr_factor(cfg.lr_schedule, progress, cfg.lr_final)
        vlr = cfg.value_learning_rate if cfg.value_learning_rate is not None else cfg.learning_rate
        for name, opt in self.optimizers.items():
            base = vlr if name == "value" else cfg.learning_rate
            for g in opt.param_groups:
                g["lr"] = base * factor
        return cfg.learning_rate * factor

    @property
    def steps_per_batch(self) -> int:
        """Env steps of one batch (``steps`` mode; whole-episode batches vary)."""
        return self.config.n_envs * self.config.n_steps

    # -- learning --------------------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: int,
        callback: Callback | None = None,
        progress_bar: bool = True,
        reset_num_timesteps: bool = True,
    ) -> Reinforce:
        """Train for ``total_timesteps`` environment steps (summed over sub-envs).

        :param total_timesteps: env steps to train for; a batch is never cut, so training can
            overshoot by less than one batch.
        :param callback: ``callback(agent, metrics) -> bool | None`` after every update; returning
            False stops training. ``metrics`` holds ``update``, ``timesteps``, ``episodes``,
            ``return_mean``, ``length_mean``, ``policy_loss``, ``value_loss``, ``entropy``,
            ``grad_norm``, ``learning_rate``, ``explained_variance``.
        :param progress_bar: show a progress bar with the running mean return (only on a terminal).
        :param reset_num_timesteps: start counting from 0 with fresh episodes (True), or continue
            from the current counters and episodes (False; the learning-rate schedule then spans
            ``num_timesteps + total_timesteps``).
        :returns: self.
        """
        if self.envs is None:
            raise RlkitError("this agent has no env; load it with Reinforce.load(path, env=...)", where="env")
        if (
            isinstance(total_timesteps, bool)
            or not isinstance(total_timesteps, (int, np.integer))
            or total_timesteps < 0
        ):
            raise RlkitError(
                f"total_timesteps must be a non-negative integer, got {total_timesteps!r}",
                where="total_timesteps",
            )
        if reset_num_timesteps:
            self.num_timesteps = 0
            self.collector.pending_reset = True
            self._total_timesteps = int(total_timesteps)
        else:
            self._total_timesteps = self.num_timesteps + int(total_timesteps)
        threads = torch.get_num_threads()
        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        bar = _Progress(self._total_timesteps, self.num_timesteps, enabled=progress_bar)
        try:
            while self.num_timesteps < self._total_timesteps:
                metrics = self.train_one_batch()
                bar.update(self.num_timesteps, metrics["return_mean"])
                if callback is not None and callback(self, metrics) is False:
                    break
        finally:
            bar.close()
            torch.set_num_threads(threads)
        return self

    def collect(self) -> Rollout:
        """Collect one batch with the current policy (see :class:`~rlkit.agents.rollout.Collector`)."""
        cfg = self.config
        if cfg.batch_mode == "episodes":
            return self.collector.collect(
                self.policy, self._gen, episodes_per_env=-(-cfg.n_episodes // cfg.n_envs)
            )
        return self.collector.collect(self.policy, self._gen, n_steps=cfg.n_steps)

    def train_one_batch(self) -> dict[str, Any]:
        """Collect one batch, compute advantages, update; return the metrics of this update."""
        cfg = self.config
        rollout = self.collect()
        self.num_timesteps += int(rollout.rewards.size)
        lr = self._set_learning_rates()
        batch = self._make_batch(rollout)
        stats = reinforce_update(
            self.policy,
            batch,
            self.optimizers,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.max_grad_norm,
            value_epochs=cfg.value_epochs,
            update=self.num_updates + 1,
        )
        self.num_updates += 1
        returns = self.collector.recent_returns
        lengths = self.collector.recent_lengths
        self.last_stats = {
            "update": self.num_updates,
            "timesteps": self.num_timesteps,
            "episodes": self.collector.num_episodes,
            "return_mean": float(np.mean(returns)) if returns else float("nan"),
            "length_mean": float(np.mean(lengths)) if lengths else float("nan"),
            **asdict(stats),
            "learning_rate": lr,
        }
        return self.last_stats

    def _make_batch(self, ro: Rollout) -> Batch:
        cfg = self.config
        pol = self.policy
        T, N = ro.rewards.shape
        x = pol.obs_to_tensor(ro.obs.reshape(T * N, *ro.obs.shape[2:]))
        x = x.reshape(T, N, *x.shape[1:])
        starts = torch.from_numpy(ro.starts)
        actions = torch.from_numpy(ro.actions)
        value_h0 = self._value_hidden
        if pol.with_value:
            final_x = pol.obs_to_tensor(ro.final_obs.reshape(T * N, *ro.final_obs.shape[2:]))
            final_x = final_x.reshape(T, N, *final_x.shape[1:])
            last_x = pol.obs_to_tensor(ro.next_obs)
            with torch.no_grad():
                out = pol.evaluate_rollout(
                    x,
                    actions,
                    starts,
                    ro.h0,
                    final_x=final_x,
                    final_mask=torch.from_numpy(ro.truncated),
                    last_x=last_x,
                    value_h0=value_h0,
                    need_values=True,
                )
            self._value_hidden = out.value_hidden
            adv, targets, valid = compute_advantages(
                ro,
                cfg.gamma,
                values=out.values.double().numpy(),
                final_values=out.final_values.double().numpy(),
                last_values=out.last_values.double().numpy(),
                gae_lambda=cfg.gae_lambda,
                reward_scale=cfg.reward_scale,
            )
        else:
            base = None
            if cfg.baseline == "mean":
                base = self._baseline_mean
            adv, targets, valid = compute_advantages(
                ro,
                cfg.gamma,
                baseline=base,
                exclude_incomplete=cfg.batch_mode == "steps",
                reward_scale=cfg.reward_scale,
            )
            if cfg.baseline == "mean" and valid.any():
                m = float(targets[valid].mean())
                self._baseline_mean = (
                    m
                    if not self._baseline_seen
                    else cfg.baseline_decay * self._baseline_mean + (1 - cfg.baseline_decay) * m
                )
                self._baseline_seen = True
        n_valid = int(valid.sum())
        if cfg.normalize_advantage and n_valid > 1:
            a = adv[valid]
            adv = (adv - a.mean()) / (a.std() + 1e-8)
        weights = valid / max(n_valid, 1)
        return Batch(
            x=x,
            actions=actions,
            starts=starts,
            advantages=torch.from_numpy(adv).float(),
            returns=torch.from_numpy(targets).float(),
            weights=torch.from_numpy(weights).float(),
            h0=ro.h0,
            value_h0=value_h0,
        )

    # -- acting ----------------------------------------------------------------------------------
    def _batched(self, obs: Any) -> tuple[np.ndarray, bool]:
        obs = np.asarray(obs)
        shape = self.observation_space.shape or ()
        if obs.shape == tuple(shape):
            return obs[None], True
        if obs.shape[1:] != tuple(shape):
            raise RlkitError(
                f"observation shape {obs.shape} does not match the space's {tuple(shape)} "
                "(one observation or a batch of them)",
                where="obs",
            )
        return obs, False

    def predict(
        self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The policy's action for an observation or a batch of them (like SB3's ``predict``).

        :param obs: one observation or a batch (B, *obs_shape).
        :param state: the recurrent hidden state returned by the previous call (None at the start).
        :param episode_start: (B,) bool, True where a new episode starts (resets ``state`` there).
        :param deterministic: the most likely action (argmax / Gaussian mean) instead of a sample.
        :returns: (actions as the env takes them, next hidden state or None).
        """
        batch, single = self._batched(obs)
        pol = self.policy
        hidden = starts = None
        if pol.is_recurrent:
            hidden = (
                pol.initial_state(len(batch))
                if state is None
                else torch.as_tensor(np.asarray(state), dtype=torch.float32)
            )
            if episode_start is not None:
                starts = torch.as_tensor(np.asarray(episode_start, dtype=bool).reshape(-1))
        with torch.inference_mode():
            _, actions, hidden = pol.act(
                pol.obs_to_tensor(batch),
                hidden,
                starts,
                deterministic=deterministic,
                generator=self._predict_gen,
            )
        new_state = None if hidden is None else hidden.numpy().copy()
        return (actions[0] if single else actions), new_state

    def action_probabilities(self, obs: Any) -> np.ndarray:
        """Action probabilities (B, n) of a Discrete-action, non-recurrent policy (for the tabular bridge)."""
        if self.policy.spec["kind"] != "discrete" or self.policy.is_recurrent:
            raise RlkitError("action_probabilities needs a Discrete action space and a non-recurrent policy")
        batch, single = self._batched(obs)
        with torch.inference_mode():
            dist, _ = self.policy.distribution(self.policy.obs_to_tensor(batch))
            probs = dist.logits.double().exp()
            probs = (probs / probs.sum(-1, keepdim=True)).numpy()  # rows sum to 1 in float64
        return probs[0] if single else probs

    # -- saving ----------------------------------------------------------------------------------
    def _model_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "env_id": self.env_id,
            "seed": self.seed,
            "config": copy.deepcopy(asdict(self.config)),
            "policy_cfg": copy.deepcopy(self.policy_cfg),
            "observation_space": space_to_dict(self.observation_space),
            "action_space": space_to_dict(self.action_space),
            "policy_state": self.policy.state_dict(),
            "num_timesteps": self.num_timesteps,
            "num_updates": self.num_updates,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Save the model (config, spaces, weights) to ``path`` atomically (``.pt``)."""
        from rlkit._io import atomic_write

        return atomic_write(path, lambda p: torch.save(self._model_dict(), p))

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any = None, **overrides: Any) -> Reinforce:
        """Load a model written by :meth:`save` (or a run's checkpoint) without unpickling objects.

        :param path: the ``.pt`` file.
        :param env: an env to continue learning in (its spaces must match); None to only predict.
        :param overrides: hyperparameters to change (e.g. ``n_envs``).
        :raises RlkitError: missing, corrupt or foreign file; spaces that do not match.
        """
        data = load_torch_file(path)
        if "model" in data and isinstance(data["model"], dict):  # a run checkpoint
            data = data["model"]
        if data.get("format") != FORMAT:
            raise RlkitError("not an rlkit REINFORCE model", where=str(path))
        try:
            obs_space = space_from_dict(data["observation_space"])
            act_space = space_from_dict(data["action_space"])
            config = {**data["config"], **overrides}
            agent = cls(
                data["policy_cfg"],
                env,
                seed=data["seed"],
                observation_space=obs_space,
                action_space=act_space,
                env_id=data.get("env_id"),
                **config,
            )
            if env is not None and (agent.observation_space != obs_space or agent.action_space != act_space):
                raise RlkitError(
                    f"the env's spaces {agent.observation_space}, {agent.action_space} do not match "
                    f"the model's {obs_space}, {act_space}",
                    where="env",
                )
            agent.policy.load_state_dict(data["policy_state"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise RlkitError(
                f"the model file is damaged or from another version ({exc})", where=str(path)
            ) from None
        agent.num_timesteps = int(data.get("num_timesteps", 0))
        agent.num_updates = int(data.get("num_updates", 0))
        return agent

    # -- checkpoints (everything needed to continue exactly) -------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The full training state: model, optimisers, counters, baseline, collector (episode
        seeds and actions) and every RNG. Plain types and tensors only."""
        np_state = np.random.get_state()
        py_state = random.getstate()
        return {
            "format": FORMAT + "-checkpoint",
            "version": FORMAT_VERSION,
            "model": self._model_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "counters": {
                "num_timesteps": self.num_timesteps,
                "num_updates": self.num_updates,
                "total_timesteps": self._total_timesteps,
            },
            "baseline": {"mean": self._baseline_mean, "seen": self._baseline_seen},
            "value_hidden": None if self._value_hidden is None else self._value_hidden.clone(),
            "collector": self.collector.state_dict() if self.collector is not None else None,
            "rng": {
                "numpy": self._rng.bit_generator.state,
                "torch": self._gen.get_state(),
                "predict": self._predict_gen.get_state(),
                "torch_global": torch.get_rng_state(),
                "numpy_global": [
                    np_state[0],
                    torch.from_numpy(np_state[1].astype(np.int64)),
                    int(np_state[2]),
                    int(np_state[3]),
                    float(np_state[4]),
                ],
                "python": [py_state[0], list(py_state[1]), py_state[2]],
            },
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` (the env must be the same: the collector replays episodes)."""
        try:
            self.policy.load_state_dict(state["model"]["policy_state"])
            for k, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
            c = state["counters"]
            self.num_timesteps = int(c["num_timesteps"])
            self.num_updates = int(c["num_updates"])
            self._total_timesteps = int(c["total_timesteps"])
            self._baseline_mean = float(state["baseline"]["mean"])
            self._baseline_seen = bool(state["baseline"]["seen"])
            self._value_hidden = state["value_hidden"]
            rng = state["rng"]
            self._rng.bit_generator.state = rng["numpy"]
            self._gen.set_state(rng["torch"])
            self._predict_gen.set_state(rng["predict"])
            torch.set_rng_state(rng["torch_global"])
            g = rng["numpy_global"]
            np.random.set_state((g[0], g[1].numpy().astype(np.uint32), g[2], g[3], g[4]))
            p = rng["python"]
            random.setstate((p[0], tuple(p[1]), p[2]))
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise RlkitError(
                f"the checkpoint is damaged or from another version ({exc})", where="checkpoint"
            ) from None
        if self.collector is not None and state.get("collector") is not None:
            self.collector.load_state_dict(state["collector"])

    def close(self) -> None:
        """Close the envs."""
        if self.envs is not None:
            self.envs.close()


def load_torch_file(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with an :class:`RlkitError` for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise RlkitError("no such file", where=str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means a damaged file
        raise RlkitError(
            f"cannot read the file (corrupt or not a checkpoint): {str(exc).splitlines()[0][:200]}",
            where=str(path),
        ) from None
    if not isinstance(data, dict):
        raise RlkitError("not an rlkit checkpoint", where=str(path))
    return data


class _Progress:
    """A rich progress bar with the running mean return, shown only on a terminal."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if not enabled or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("return {task.fields[ret]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.bar.add_task("training", total=total, completed=start, ret="-")
        self.bar.start()
        self._last = 0.0

    def update(self, done: int, ret: float) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self._last > 0.1:
            self.bar.update(self.task, completed=done, ret="-" if math.isnan(ret) else f"{ret:.1f}")
            self._last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
