"""Policy (and value) networks: a backbone from :mod:`rlkit.supervised` plus small linear heads.

The policy config (``policy_cfg`` of :class:`~rlkit.agents.Reinforce`) is a dict::

    net:        backbone of the policy (default: MLP [64, 64] tanh for vectors, CNN for images)
    value_net:  backbone of the value network (default: same as ``net``); only built when the
                agent's baseline is ``value``
    shared:     false | true -- one backbone for policy and value (two heads); needs
                ``value_optimizer: shared``
    bounds:     clip | tanh  -- Box actions (see :mod:`rlkit.agents.distributions`)
    std:        independent | state | fixed -- Box standard deviation
    log_std_init: 0.0
    head_gain:  0.01 -- orthogonal-init gain of the action head (small: a near-uniform start)
    init:       null | PATH -- start from a trained backbone (a `rlkit supervised train` or
                `rlkit train` run); see :mod:`rlkit.agents.pretrained`
    freeze:     false | true | [layer names] -- backbone layers left out of training
    init_head:  false | true -- keep the source's head (classifier / action head) when it fits

A bare backbone config (a dict with ``type``) is accepted as shorthand for ``{"net": cfg}``.

Observations: Box spaces go to the backbone as they are (any numeric dtype; ``uint8`` images are
scaled by the backbone); Discrete and MultiDiscrete observations are one-hot encoded; MultiBinary
observations are cast to float. Dict, Tuple, Text and Graph spaces raise :class:`RlkitError`
(flatten them with ``gymnasium.wrappers.FlattenObservation``).

Recurrent policies (``net: {type: rnn, ...}``) carry one hidden tensor ``(k * layers, B, H)``
between steps; it is zeroed where an episode starts.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlkit.agents.distributions import action_spec, make_distribution
from rlkit.errors import RlkitError

POLICY_KEYS = {"net", "value_net", "shared", "bounds", "std", "log_std_init", "head_gain", "init", "freeze",
               "init_head"}

__all__ = [
    "POLICY_KEYS",
    "ActorCritic",
    "RolloutOutputs",
    "default_net",
    "obs_input_shape",
    "resolve_policy_cfg",
]


def obs_input_shape(space: spaces.Space) -> tuple[int, ...]:
    """The shape of one observation as the backbone sees it (after one-hot encoding).

    :raises RlkitError: for observation spaces no backbone fits.
    """
    if isinstance(space, spaces.Box):
        if len(space.shape) == 0:
            return (1,)
        return tuple(int(s) for s in space.shape)
    if isinstance(space, spaces.Discrete):
        return (int(space.n),)
    if isinstance(space, spaces.MultiDiscrete):
        return (int(np.sum(space.nvec)),)
    if isinstance(space, spaces.MultiBinary):
        return (int(np.prod(space.shape)),)
    raise RlkitError(
        f"no backbone fits a {type(space).__name__} observation space; wrap the env with "
        "gymnasium.wrappers.FlattenObservation (Dict/Tuple) or use Box/Discrete observations",
        where="observation_space",
    )


def default_net(space: spaces.Space) -> dict[str, Any]:
    """MLP [64, 64] tanh for flat observations, the LeNet-style CNN for images."""
    shape = obs_input_shape(space)
    if len(shape) in (2, 3) and min(shape[-2:]) >= 8:
        return {"type": "cnn"}
    return {"type": "mlp", "hidden": [64, 64], "activation": "tanh"}


def resolve_policy_cfg(cfg: dict[str, Any] | None, observation_space: spaces.Space) -> dict[str, Any]:
    """Fill the defaults of a policy config (see the module docstring) and check its keys."""
    cfg = copy.deepcopy(cfg) if cfg else {}
    if not isinstance(cfg, dict):
        raise RlkitError(f"policy config must be a dict, got {type(cfg).__name__}", where="policy")
    if "type" in cfg:  # a bare backbone config
        cfg = {"net": cfg}
    unknown = set(cfg) - POLICY_KEYS
    if unknown:
        raise RlkitError(
            f"unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(POLICY_KEYS))}", where="policy"
        )
    cfg.setdefault("net", default_net(observation_space))
    if cfg["net"] is None:
        cfg["net"] = default_net(observation_space)
    if cfg.get("value_net") is None:
        cfg["value_net"] = copy.deepcopy(cfg["net"])
    cfg.setdefault("shared", False)
    cfg.setdefault("bounds", "clip")
    cfg.setdefault("std", "independent")
    cfg.setdefault("log_std_init", 0.0)
    cfg.setdefault("head_gain", 0.01)
    from rlkit.agents.pretrained import check_init_keys

    check_init_keys(cfg)
    for key in ("net", "value_net"):
        if not isinstance(cfg[key], dict):
            raise RlkitError(
                f"must be a backbone config dict like {{type: mlp, hidden: [64, 64]}}, got {cfg[key]!r}",
                where=f"policy.{key}",
            )
    if not isinstance(cfg["shared"], bool):
        raise RlkitError(f"must be true or false, got {cfg['shared']!r}", where="policy.shared")
    for key in ("log_std_init", "head_gain"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], (int, float)):
            raise RlkitError(f"must be a number, got {cfg[key]!r}", where=f"policy.{key}")
    return cfg


def _build(cfg: dict[str, Any], shape: tuple[int, ...], where: str) -> nn.Module:
    from rlkit.supervised import build_backbone

    try:
        return build_backbone(cfg, shape)
    except RlkitError as exc:
        raise RlkitError(f"{exc} (observation shape {shape})", where=where) from None
    except (RuntimeError, ValueError, TypeError) as exc:  # e.g. an image too small for the CNN
        raise RlkitError(
            f"this backbone does not fit observations of shape {shape}: {exc}", where=where
        ) from None


def _mask_hidden(hidden: torch.Tensor, starts: torch.Tensor | None) -> torch.Tensor:
    """Zero the hidden state (k * layers, B, H) of the batch entries where an episode starts."""
    if starts is None:
        return hidden
    return hidden * (~starts).to(hidden.device, hidden.dtype).reshape(1, -1, 1)


@dataclass
class RolloutOutputs:
    """What the update needs from the networks over a (T, N) rollout.

    :ivar logp: log pi(a_t | s_t), (T, N), with gradient.
    :ivar entropy: (T, N), with gradient.
    :ivar values: V(s_t), (T, N), with gradient (None without a value net).
    :ivar final_values: V(final observation) where an episode was truncated, else 0, (T, N), no grad.
    :ivar last_values: V(s_T) of the observation after the rollout, (N,), no grad.
    :ivar value_hidden: the value net's hidden state after the rollout (recurrent, separate value).
    """

    logp: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor | None
    final_values: torch.Tensor | None
    last_values: torch.Tensor | None
    value_hidden: torch.Tensor | None = None


class ActorCritic(nn.Module):
    """Policy network (backbone + action head) and, when asked for, a value network.

    :param observation_space: the env's single observation space.
    :param action_space: the env's single action space.
    :param cfg: policy config (see the module docstring); resolved with :func:`resolve_policy_cfg`.
    :param with_value: build the value head (and its backbone unless ``shared``).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        cfg: dict[str, Any] | None,
        *,
        with_value: bool = True,
    ) -> None:
        super().__init__()
        from rlkit.agents import pretrained
        from rlkit.supervised import init_weights

        source, init_value = None, False
        if isinstance(cfg, dict) and "type" not in cfg and isinstance(cfg.get("init"), (str, os.PathLike)):
            source = pretrained.read_source(cfg["init"])  # applied once: then a record (see pretrained)
            cfg = pretrained.merge_source_cfg(cfg, source, obs_input_shape(observation_space))
            init_value = bool(cfg.pop("_init_value", False))
        self.cfg = resolve_policy_cfg(cfg, observation_space)
        self.observation_space, self.action_space = observation_space, action_space
        self.input_shape = obs_input_shape(observation_space)
        self.spec = action_spec(action_space, self.cfg["bounds"], self.cfg["std"])
        self.body = _build(self.cfg["net"], self.input_shape, "policy.net")
        self.is_recurrent = bool(getattr(self.body, "is_recurrent", False))
        self.action_head = init_weights(
            nn.Linear(self.body.output_dim, self.spec["head_dim"]), float(self.cfg["head_gain"])
        )
        if self.spec["kind"] == "box" and self.spec["std"] != "state":
            log_std = torch.full((self.spec["raw_shape"][0],), float(self.cfg["log_std_init"]))
            if self.spec["std"] == "fixed":
                self.register_buffer("log_std", log_std)
            else:
                self.log_std = nn.Parameter(log_std)
        else:
            self.log_std = None
        self.with_value = bool(with_value)
        self.shared = bool(self.cfg["shared"])
        self.value_body: nn.Module | None = None
        self.value_head: nn.Module | None = None
        if self.with_value:
            if not self.shared:
                self.value_body = _build(self.cfg["value_net"], self.input_shape, "policy.value_net")
            out = self.body.output_dim if self.shared else self.value_body.output_dim
            self.value_head = init_weights(nn.Linear(out, 1), 1.0)
        self.value_is_recurrent = bool(
            self.with_value
            and (self.is_recurrent if self.shared else getattr(self.value_body, "is_recurrent", False))
        )
        self._onehot = isinstance(observation_space, (spaces.Discrete, spaces.MultiDiscrete))
        if source is not None:
            self.cfg["init"] = pretrained.apply_source(self, source, init_value)
        pretrained.apply_freeze(self)
        self.train()

    def train(self, mode: bool = True) -> ActorCritic:
        """``nn.Module.train``; an initialised backbone's batch norm keeps the source's statistics."""
        super().train(mode)
        if self.cfg.get("init") is not None:
            from rlkit.agents.pretrained import keep_statistics

            keep_statistics(self)
        return self

    # -- parameters ------------------------------------------------------------------------------
    def policy_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the policy (backbone, action head, log-std), shared backbone
        included; frozen ones (``policy.freeze``) are left out."""
        params = list(self.body.parameters()) + list(self.action_head.parameters())
        if isinstance(self.log_std, nn.Parameter):
            params.append(self.log_std)
        return [p for p in params if p.requires_grad]

    def value_parameters(self) -> list[nn.Parameter]:
        """Parameters only the value network has (empty without a value net)."""
        if not self.with_value:
            return []
        params = list(self.value_head.parameters())
        if self.value_body is not None:
            params = list(self.value_body.parameters()) + params
        return [p for p in params if p.requires_grad]

    # -- observations ----------------------------------------------------------------------------
    def obs_to_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """A batch of observations (B, *obs_shape) as the backbone's input (no copy for Box)."""
        space = self.observation_space
        if isinstance(space, spaces.Box):
            x = torch.as_tensor(obs)
            return x.reshape(-1, 1) if len(space.shape) == 0 else x
        if isinstance(space, spaces.Discrete):
            idx = torch.as_tensor(np.asarray(obs, dtype=np.int64) - int(space.start)).reshape(-1)
            return nn.functional.one_hot(idx, int(space.n)).float()
        if isinstance(space, spaces.MultiDiscrete):
            idx = torch.as_tensor(np.asarray(obs, dtype=np.int64) - space.start.astype(np.int64))
            return torch.cat(
                [nn.functional.one_hot(idx[:, i], int(n)) for i, n in enumerate(space.nvec)], -1
            ).float()
        return torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(len(obs), -1)

    # -- acting ----------------------------------------------------------------------------------
    def initial_state(self, batch_size: int) -> torch.Tensor | None:
        """Zero hidden state of the policy backbone, or None when it is not recurrent."""
        return self.body.initial_state(batch_size) if self.is_recurrent else None

    def _fast_plan(self) -> list | None:
        """For an MLP backbone: its layers as (weight, bias, activation) to call without the
        module machinery (about 3x faster for the tiny batches of a vector env; same ops, same
        numbers). None for any other backbone."""
        if not hasattr(self, "_plan"):
            from rlkit.supervised.nets import MLP

            plan: list | None = None
            body = self.body
            if type(body) is MLP and not body.input.normalize:
                plan = []
                for m in body.body:
                    if isinstance(m, nn.Flatten):
                        continue
                    if isinstance(m, nn.Linear):
                        plan.append([m.weight, m.bias, None])
                    elif isinstance(m, (nn.Tanh, nn.ReLU)) and plan and plan[-1][2] is None:
                        plan[-1][2] = torch.tanh if isinstance(m, nn.Tanh) else torch.relu
                    else:
                        plan = None
                        break
            self._plan = plan
        return self._plan

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        plan = self._fast_plan()
        if plan is None:
            return self.body(x)
        h = x.reshape(x.shape[0], -1)
        if h.dtype != torch.float32:
            h = self.body.input(h)
        for w, b, act in plan:
            h = nn.functional.linear(h, w, b)
            if act is not None:
                h = act(h)
        return h

    @property
    def device(self) -> torch.device:
        """Where the networks are (``device`` of the agent); inputs and outputs stay on the CPU."""
        return self.action_head.weight.device

    def distribution(
        self, x: torch.Tensor, hidden: torch.Tensor | None = None, starts: torch.Tensor | None = None
    ):
        """The action distribution for one step of inputs ``x`` (B, *input_shape).

        On another device than the CPU the inputs go there and the logits come back, so actions
        are drawn on the CPU from the same random streams.

        :returns: (distribution, new hidden or None).
        """
        dev = self.device
        if dev.type != "cpu":
            head, hidden = self._head(x.to(dev), None if hidden is None else hidden.to(dev),
                                      None if starts is None else starts.to(dev))
            log_std = None if self.log_std is None else self.log_std.cpu()
            return make_distribution(self.spec, head.cpu(), log_std), None if hidden is None else hidden.cpu()
        head, hidden = self._head(x, hidden, starts)
        return make_distribution(self.spec, head, self.log_std), hidden

    def _head(self, x: torch.Tensor, hidden: torch.Tensor | None, starts: torch.Tensor | None):
        if self.is_recurrent:
            if hidden is None:
                hidden = self.body.initial_state(x.shape[0])
            feats, hidden = self.body(x, _mask_hidden(hidden, starts))
        else:
            feats = self._features(x)
        return nn.functional.linear(feats, self.action_head.weight, self.action_head.bias), hidden

    def act(
        self,
        x: torch.Tensor,
        hidden: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
        *,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ):
        """Sample (or take the mode of) an action for one step.

        :returns: (raw action tensor, env action ndarray, new hidden or None).
        """
        dist, hidden = self.distribution(x, hidden, starts)
        raw = dist.mode() if deterministic else dist.sample(generator)
        return raw, dist.to_env(raw), hidden

    # -- the update ------------------------------------------------------------------------------
    def _run(
        self,
        body: nn.Module,
        x: torch.Tensor,
        starts: torch.Tensor,
        h0: torch.Tensor | None,
        final_x: torch.Tensor | None = None,
        final_mask: torch.Tensor | None = None,
        last_x: torch.Tensor | None = None,
    ):
        """Features of a (T, N, ...) rollout: (T, N, F), features of the truncated episodes' final
        observations (K, F) in (t, n) order, of the next observation (N, F), and the final hidden."""
        T, N = starts.shape
        recurrent = bool(getattr(body, "is_recurrent", False))
        final_feats = last_feats = None
        if not recurrent:
            feats = body(x.reshape(T * N, *x.shape[2:])).reshape(T, N, -1)
            if final_x is not None and final_mask is not None and bool(final_mask.any()):
                final_feats = body(final_x[final_mask])
            if last_x is not None:
                last_feats = body(last_x)
            return feats, final_feats, last_feats, None
        h = body.initial_state(N) if h0 is None else h0
        out, finals = [], []
        for t in range(T):
            f, h = body(x[t], _mask_hidden(h, starts[t]))
            out.append(f)
            if final_x is not None and final_mask is not None and bool(final_mask[t].any()):
                rows = final_mask[t]
                ff, _ = body(final_x[t][rows], h[:, rows])
                finals.append(ff)
        if finals:
            final_feats = torch.cat(finals, 0)
        if last_x is not None:
            last_feats, _ = body(last_x, h)
        return torch.stack(out, 0), final_feats, last_feats, h

    def evaluate_rollout(
        self,
        x: torch.Tensor,
        raw_actions: torch.Tensor,
        starts: torch.Tensor,
        h0: torch.Tensor | None = None,
        *,
        final_x: torch.Tensor | None = None,
        final_mask: torch.Tensor | None = None,
        last_x: torch.Tensor | None = None,
        value_h0: torch.Tensor | None = None,
        need_values: bool = False,
    ) -> RolloutOutputs:
        """Log-probabilities, entropies and (optionally) values over a (T, N) rollout.

        :param x: inputs (T, N, *input_shape).
        :param raw_actions: raw actions (T, N, *raw_shape).
        :param starts: bool (T, N), True where ``x[t, n]`` is the first observation of an episode.
        :param h0: the policy's hidden state before the rollout (recurrent).
        :param final_x: final observations of truncated episodes (T, N, *input_shape), read where
            ``final_mask`` is True.
        :param last_x: the observation after the rollout (N, *input_shape), for bootstrapping.
        :param value_h0: the value net's hidden state before the rollout (recurrent, not shared).
        :param need_values: compute the value outputs.
        """
        dev = self.device
        if dev.type != "cpu":  # compute there, hand the outputs back on the CPU (gradients follow)
            def to(t):
                return None if t is None else t.to(dev)

            out = self._evaluate_rollout(
                x.to(dev), raw_actions.to(dev), starts.to(dev), to(h0), to(final_x), to(final_mask),
                to(last_x), to(value_h0), need_values,
            )
            return RolloutOutputs(*(None if t is None else t.cpu() for t in (
                out.logp, out.entropy, out.values, out.final_values, out.last_values, out.value_hidden)))
        return self._evaluate_rollout(x, raw_actions, starts, h0, final_x, final_mask, last_x, value_h0,
                                      need_values)

    def _evaluate_rollout(self, x, raw_actions, starts, h0, final_x, final_mask, last_x, value_h0,
                          need_values) -> RolloutOutputs:
        T, N = starts.shape
        want = need_values and self.with_value
        feats, f_final, f_last, _ = self._run(
            self.body,
            x,
            starts,
            h0,
            final_x if want and self.shared else None,
            final_mask,
            last_x if want and self.shared else None,
        )
        head = self.action_head(feats.reshape(T * N, -1))
        dist = make_distribution(self.spec, head, self.log_std)
        flat_actions = raw_actions.reshape(T * N, *raw_actions.shape[2:])
        logp = dist.log_prob(flat_actions).reshape(T, N)
        entropy = dist.entropy().reshape(T, N)
        values = final_values = last_values = value_hidden = None
        if want:
            if not self.shared:
                feats, f_final, f_last, value_hidden = self._run(
                    self.value_body, x, starts, value_h0, final_x, final_mask, last_x
                )
            values = self.value_head(feats).squeeze(-1)
            with torch.no_grad():
                final_values = torch.zeros(T, N, dtype=values.dtype, device=values.device)
                if f_final is not None:
                    final_values[final_mask] = self.value_head(f_final).squeeze(-1)
                last_values = self.value_head(f_last).squeeze(-1) if f_last is not None else None
        return RolloutOutputs(
            logp,
            entropy,
            values,
            final_values,
            last_values,
            None if value_hidden is None else value_hidden.detach(),
        )

    def values_only(self, x: torch.Tensor, starts: torch.Tensor, value_h0: torch.Tensor | None = None):
        """V(s_t) over a (T, N) rollout with gradient, for extra value-fitting epochs."""
        T, N = starts.shape
        body = self.body if self.shared else self.value_body
        dev = self.device
        h0 = None if value_h0 is None else value_h0.to(dev)
        feats, _, _, _ = self._run(body, x.to(dev), starts.to(dev), h0)
        return self.value_head(feats).squeeze(-1).cpu()
