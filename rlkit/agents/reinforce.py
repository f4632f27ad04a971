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

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from rlkit._torchfile import load_torch_file
from rlkit.agents.base import OnPolicyAgent, OnPolicyConfig, lr_factor, optimizer
from rlkit.agents.config import check_field, hp
from rlkit.agents.config import make_config as _make_config
from rlkit.agents.policies import ActorCritic
from rlkit.agents.returns import compute_advantages
from rlkit.agents.rollout import Rollout
from rlkit.agents.spaces import space_from_dict, space_to_dict
from rlkit.errors import RlkitError

__all__ = [
    "Batch",
    "NaNLossError",
    "Reinforce",
    "ReinforceConfig",
    "UpdateStats",
    "check_hyperparam",
    "compute_advantages",
    "load_torch_file",
    "lr_factor",
    "reinforce_loss",
    "reinforce_update",
    "space_from_dict",
    "space_to_dict",
]

FORMAT = "rlkit-reinforce"


class NaNLossError(RlkitError):
    """The loss (or its gradient) became NaN or infinite; raised before the optimiser step."""


# ------------------------------------------------------------------------------------------------
# hyperparameters
# ------------------------------------------------------------------------------------------------


@dataclass
class ReinforceConfig(OnPolicyConfig):
    """REINFORCE's hyperparameters: those of :class:`~rlkit.agents.base.OnPolicyConfig` and

    :param gae_lambda: GAE(lambda) advantages (needs ``baseline: value``); None: ``G_t - b``.
    :param baseline: ``none``, ``mean`` (running mean of returns) or ``value`` (learned V).
    :param baseline_decay: decay of the running-mean baseline, ``b <- d b + (1 - d) mean(G)``.
    :param normalize_advantage: standardise advantages per batch (mean 0, std 1).
    :param ent_coef: entropy bonus weight beta.
    :param vf_coef: value-loss weight when the value net shares the optimiser.
    :param value_learning_rate: value-net learning rate (separate optimiser); None: ``learning_rate``.
    :param value_optimizer: ``separate`` (own optimiser, ``value_epochs`` steps per batch) or
        ``shared`` (one optimiser on ``L + vf_coef * L_V``; required with ``policy.shared``).
    :param value_epochs: gradient steps of the value net per batch (separate optimiser).
    :param reward_scale: multiply rewards by this in the returns and value targets (large rewards
        make the value regression slow; metrics always report the env's own rewards).
    :param target_kl: adapt the policy's step size to the distance each update moves the policy
        (``approx_kl`` of :func:`reinforce_update`): above ``2 target_kl`` the learning rate is
        divided by ``kl_adapt_factor`` for the next updates, below ``target_kl / 2`` multiplied
        by it, never above the schedule's rate nor below ``lr_adapt_min`` times it. None: off.
        This is the trust-region idea of TRPO/PPO for the one-step update: with normalised
        advantages every step has about the same size however little the batch says. (On
        CartPole it did not prevent the collapse after solving; the entropy bonus did -- see the
        preset.)
    :param kl_adapt_factor: the factor of that adaptation.
    :param lr_adapt_min: the smallest adapted learning rate, as a fraction of the schedule's.

    Every field can be set from a preset or ``--set key=value``; the types and ranges checked are
    the ones declared here (:mod:`rlkit.agents.config`).
    """

    gae_lambda: float | None = hp(None, lo=0.0, hi=1.0)
    baseline: str = hp("value", choices=("none", "mean", "value"))
    baseline_decay: float = hp(0.9, lo=0.0, hi=1.0)
    normalize_advantage: bool = hp(True)
    ent_coef: float = hp(0.0, lo=0.0)
    vf_coef: float = hp(0.5, lo=0.0)
    value_learning_rate: float | None = hp(None, lo=0.0)
    value_optimizer: str = hp("separate", choices=("separate", "shared"))
    value_epochs: int = hp(1, lo=1, hi=1000)
    reward_scale: float = hp(1.0, lo=0.0)
    target_kl: float | None = hp(None, lo=0.0)
    kl_adapt_factor: float = hp(1.5, lo=1.0, hi=10.0)
    lr_adapt_min: float = hp(0.01, lo=0.0, hi=1.0)


def check_hyperparam(name: str, value: Any, where: str | None = None) -> Any:
    """Check one REINFORCE hyperparameter's type and range; return it (ints accepted for floats).

    :raises RlkitError: unknown name, wrong type, out of range.
    """
    return check_field(ReinforceConfig, name, value, where)


def make_config(**hyperparams: Any) -> ReinforceConfig:
    """A checked :class:`ReinforceConfig` from keyword arguments."""
    cfg = _make_config(ReinforceConfig, **hyperparams)
    if cfg.gae_lambda is not None and cfg.baseline != "value":
        raise RlkitError(
            "GAE needs a value baseline; set baseline=value or gae_lambda=null", where="gae_lambda"
        )
    return cfg


# ------------------------------------------------------------------------------------------------
# the loss and the update
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
    approx_kl: float = float("nan")


def reinforce_loss(
    policy: ActorCritic, batch: Batch, out: Any = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    r"""The REINFORCE losses of a batch (see :func:`reinforce_update`).

    ``policy_loss = -sum_t w_t log pi(a_t|s_t) A_t``, ``entropy = sum_t w_t H[pi(.|s_t)]``,
    ``value_loss = sum_t w_t (V(s_t) - G_t)^2`` (0 without a value net), with ``w_t = 1/|B|`` on
    the steps used and 0 elsewhere.

    :param out: the networks' outputs on the batch (:meth:`ActorCritic.evaluate_rollout` with
        gradients, values included), when the caller already has them; None: computed here.
    :returns: (policy_loss, entropy, value_loss, the networks' outputs).
    """
    w = batch.weights
    if out is None:
        out = policy.evaluate_rollout(
            batch.x, batch.actions, batch.starts, batch.h0, value_h0=batch.value_h0,
            need_values=policy.with_value,
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
    measure_kl: bool = False,
    outputs: Any = None,
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
    :param measure_kl: also return how far the step moved the policy on the batch,
        ``approx_kl = 1/|B| sum_t (r_t - 1) - log r_t`` with ``r_t = pi_new(a_t|s_t) / pi_old(a_t|s_t)``
        (Schulman's low-variance, non-negative estimator of ``KL(pi_old || pi_new)``; one more
        forward pass).
    :param outputs: the networks' outputs on the batch with gradients, if the caller has them
        (see :func:`reinforce_loss`): the agent computes the values for the advantages and the
        log-probabilities in one forward pass.
    """
    policy_loss, entropy, value_loss, out = reinforce_loss(policy, batch, outputs)
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
    kl = float("nan")
    if measure_kl:
        with torch.no_grad():
            new = policy.evaluate_rollout(batch.x, batch.actions, batch.starts, batch.h0, need_values=False)
            log_ratio = new.logp - out.logp.detach()
            kl = float((w * (torch.expm1(log_ratio) - log_ratio)).sum())
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
        approx_kl=kl,
    )


# ------------------------------------------------------------------------------------------------
# the agent
# ------------------------------------------------------------------------------------------------


class Reinforce(OnPolicyAgent):
    """REINFORCE with an optional learned baseline, shaped like a Stable-Baselines3 algorithm.

    :param policy_cfg: policy config (see :mod:`rlkit.agents.policies`), e.g.
        ``{"net": {"type": "mlp", "hidden": [64, 64]}}``; None for the defaults.
    :param env: an env id, a :class:`gymnasium.Env` or a vector env (``autoreset_mode=DISABLED``).
        None only with ``observation_space`` and ``action_space`` (a loaded model that only predicts).
    :param seed: seeds the network initialisation, the action noise and every episode's reset.
    :param hyperparams: any field of :class:`ReinforceConfig` (``n_envs``, ``gamma``,
        ``learning_rate``, ...).

    Example::

        >>> agent = Reinforce(None, "CartPole-v1", seed=1, n_envs=2, n_steps=16)
        >>> agent.learn(64, progress_bar=False).num_timesteps
        64
    """

    name = "reinforce"
    config_class = ReinforceConfig

    def __init__(
        self, policy_cfg: dict[str, Any] | None = None, env: Any = None, *, seed: int = 0, **hyperparams: Any
    ) -> None:
        self._baseline_mean = 0.0
        self._baseline_seen = False
        self._value_hidden: torch.Tensor | None = None
        self._lr_adapt = 1.0  # the KL-adaptive multiplier of the policy's learning rate (target_kl)
        super().__init__(policy_cfg, env, seed=seed, **hyperparams)

    @classmethod
    def make_config(cls, **hyperparams: Any) -> ReinforceConfig:
        return make_config(**hyperparams)

    def _with_value(self) -> bool:
        return self.config.baseline == "value"

    def _check_policy(self) -> None:
        cfg = self.config
        if self.policy.shared and cfg.value_optimizer != "shared" and self.policy.with_value:
            raise RlkitError(
                "a shared policy/value backbone needs value_optimizer: shared", where="value_optimizer"
            )
        if cfg.value_optimizer == "shared" and cfg.value_epochs != 1:
            raise RlkitError("value_epochs > 1 needs value_optimizer: separate", where="value_epochs")

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg, pol = self.config, self.policy
        if not pol.with_value:
            params = pol.policy_parameters()
            return {"policy": optimizer(cfg.optimizer, params, cfg.learning_rate, cfg.adam_eps)}
        if cfg.value_optimizer == "shared":
            params = list(dict.fromkeys(pol.policy_parameters() + pol.value_parameters()))
            return {"shared": optimizer(cfg.optimizer, params, cfg.learning_rate, cfg.adam_eps)}
        vlr = cfg.value_learning_rate if cfg.value_learning_rate is not None else cfg.learning_rate
        return {
            "policy": optimizer(cfg.optimizer, pol.policy_parameters(), cfg.learning_rate, cfg.adam_eps),
            "value": optimizer(cfg.optimizer, pol.value_parameters(), vlr, cfg.adam_eps),
        }

    def _set_learning_rates(self) -> float:
        cfg = self.config
        factor = self._learning_rate_factor()
        vlr = cfg.value_learning_rate if cfg.value_learning_rate is not None else cfg.learning_rate
        for name, opt in self.optimizers.items():
            base = vlr if name == "value" else cfg.learning_rate * self._lr_adapt
            for g in opt.param_groups:
                g["lr"] = base * factor
        return cfg.learning_rate * self._lr_adapt * factor

    def _adapt_learning_rate(self, kl: float) -> None:
        """The ``target_kl`` rule (see :class:`ReinforceConfig`)."""
        cfg = self.config
        if cfg.target_kl is None or not math.isfinite(kl):
            return
        if kl > 2.0 * cfg.target_kl:
            self._lr_adapt = max(self._lr_adapt / cfg.kl_adapt_factor, cfg.lr_adapt_min)
        elif kl < 0.5 * cfg.target_kl:
            self._lr_adapt = min(self._lr_adapt * cfg.kl_adapt_factor, 1.0)

    def update(self, rollout: Rollout) -> dict[str, Any]:
        """Advantages of the batch, then one REINFORCE update (:func:`reinforce_update`)."""
        cfg = self.config
        lr = self._set_learning_rates()
        batch, outputs = self._make_batch(rollout)
        stats = reinforce_update(
            self.policy,
            batch,
            self.optimizers,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.max_grad_norm,
            value_epochs=cfg.value_epochs,
            update=self.num_updates + 1,
            measure_kl=cfg.target_kl is not None,
            outputs=outputs,
        )
        self._adapt_learning_rate(stats.approx_kl)
        numbers = asdict(stats)
        if cfg.target_kl is None:
            numbers.pop("approx_kl")  # not measured
        return {**numbers, "learning_rate": lr}

    def _make_batch(self, ro: Rollout) -> tuple[Batch, Any]:
        """The batch of an update and, with a value net, the networks' outputs on it: one forward
        pass with gradients gives the values of the advantages (detached) and the loss's
        log-probabilities (the same numbers as two passes: the weights have not moved between)."""
        cfg = self.config
        pol = self.policy
        T, N = ro.rewards.shape
        x = pol.obs_to_tensor(ro.obs.reshape(T * N, *ro.obs.shape[2:]))
        x = x.reshape(T, N, *x.shape[1:])
        starts = torch.from_numpy(ro.starts)
        actions = torch.from_numpy(ro.actions)
        value_h0 = self._value_hidden
        out = None
        if pol.with_value:
            final_x = pol.obs_to_tensor(ro.final_obs.reshape(T * N, *ro.final_obs.shape[2:]))
            final_x = final_x.reshape(T, N, *final_x.shape[1:])
            # V(next obs) only bootstraps episodes still running at the end of the batch
            last_x = None if ro.dones[-1].all() else pol.obs_to_tensor(ro.next_obs)
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
            last_values = np.zeros(N) if last_x is None else out.last_values.double().numpy()
            adv, targets, valid = compute_advantages(
                ro,
                cfg.gamma,
                values=out.values.detach().double().numpy(),
                final_values=out.final_values.double().numpy(),
                last_values=last_values,
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
        ), out

    # -- state beyond weights and optimisers ------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "baseline": {"mean": self._baseline_mean, "seen": self._baseline_seen},
            "value_hidden": None if self._value_hidden is None else self._value_hidden.clone(),
            "lr_adapt": self._lr_adapt,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._baseline_mean = float(state["baseline"]["mean"])
        self._baseline_seen = bool(state["baseline"]["seen"])
        self._value_hidden = state["value_hidden"]
        self._lr_adapt = float(state.get("lr_adapt", 1.0))
        if not (0.0 < self._lr_adapt <= 1.0):
            raise RlkitError(f"lr_adapt must be in (0, 1], got {self._lr_adapt}", where="checkpoint")
