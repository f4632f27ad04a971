"""Policies that start from a trained backbone: ``policy.init``, ``policy.freeze``, ``policy.init_head``.

A policy config may name a source of weights::

    policy:
      init: runs/mnist/cnn/20261201-093000-s0   # `rlkit supervised train` run folder or model.pt,
                                                # or an `rlkit train` run folder (or model file)
      freeze: true            # true | false | [layer names of the backbone, e.g. conv, conv.0, fc]
      init_head: true         # keep the source's head (classifier or action head) when it fits

``rlkit train --init-from PATH`` is ``--set policy.init=PATH``. What happens, once, when the
policy is built:

* The backbone's architecture is the source's (a supervised run's ``backbone``; an RL run's
  ``policy.net``). A ``policy.net`` in the config that builds a different module is an error naming
  both; a preset's ``policy.net`` is reduced to its ``type`` when ``policy.init`` is given on the
  command line and ``policy.net`` is not (see :func:`reduce_preset_net`).
* The source's backbone weights are copied into the policy backbone and, when the value net has
  the same architecture (not shared), into the value backbone too (an RL source's own value
  backbone and head when it has them). An observation shape the backbone cannot read is an error
  naming both shapes.
* ``init_head: true`` copies the head: the classifier's ``n_classes`` logits become the action
  logits (the action space must be ``Discrete(n_classes)``), or an RL source's action head (and
  log-std) when the action spaces match. Otherwise the action head is new (default).
* ``freeze`` takes the named backbone layers out of the optimiser (``requires_grad`` off); batch
  norm layers of an initialised backbone always use the source's running statistics (eval mode),
  so a frozen layer stays bit-identical while the rest trains.

After construction ``policy.init`` is replaced by a record ``{path, kind, head}``: the weights now
live in the model, so loading the model, resuming the run from its checkpoint or reading its
``config.yaml`` never reads the source again (it may be deleted).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from rlkit.errors import RlkitError

__all__ = [
    "BackboneSource",
    "PolicyClassifier",
    "apply_freeze",
    "apply_source",
    "check_init_keys",
    "merge_source_cfg",
    "read_source",
    "reduce_preset_net",
]


@dataclass
class BackboneSource:
    """The weights a policy can start from.

    :ivar path: the file read. :ivar kind: ``supervised`` or ``rl``. :ivar net: backbone config.
    :ivar input_shape: the observation shape the backbone was trained on.
    :ivar body: backbone state dict. :ivar head: linear head state (``weight``, ``bias``).
    :ivar n_outputs: the head's outputs (classes or action-head size).
    :ivar action_space: the RL source's action space (None for a classifier).
    :ivar value_net / value_body / value_head: an RL source's value backbone config and weights.
    :ivar log_std: an RL source's state-independent log-std (Box actions).
    """

    path: str
    kind: str
    net: dict[str, Any]
    input_shape: tuple[int, ...]
    body: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor]
    n_outputs: int
    action_space: spaces.Space | None = None
    value_net: dict[str, Any] | None = None
    value_body: dict[str, torch.Tensor] | None = None
    value_head: dict[str, torch.Tensor] | None = None
    log_std: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _from_supervised(file: Path) -> BackboneSource:
    from rlkit.supervised.train import load_checkpoint

    net, cfg = load_checkpoint(file, device="cpu")
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return BackboneSource(
        str(file), "supervised", copy.deepcopy(cfg["backbone"]), tuple(int(s) for s in cfg["input_shape"]),
        _prefixed(state, "backbone."), _prefixed(state, "head."), int(cfg["n_classes"]),
    )


def _from_agent(agent: Any, where: str) -> BackboneSource:
    from rlkit.agents.policies import obs_input_shape

    pol = agent.policy
    state = {k: v.detach().clone() for k, v in pol.state_dict().items()}
    cfg = pol.cfg
    return BackboneSource(
        where, "rl", copy.deepcopy(cfg["net"]), obs_input_shape(agent.observation_space),
        _prefixed(state, "body."), _prefixed(state, "action_head."), int(pol.spec["head_dim"]),
        action_space=agent.action_space,
        value_net=None if pol.value_body is None else copy.deepcopy(cfg["value_net"]),
        value_body=None if pol.value_body is None else _prefixed(state, "value_body."),
        value_head=None if pol.value_head is None or pol.shared else _prefixed(state, "value_head."),
        log_std=state.get("log_std"),
    )


def read_source(path: str | os.PathLike, where: str = "policy.init") -> BackboneSource:
    """Read the backbone (and head) of a supervised run, an RL run, or one of their model files.

    Torch's global random state is left as it was (rebuilding the source draws initial weights),
    so a new head starts exactly as it would without a source.

    :raises RlkitError: a path that does not exist or holds no backbone.
    """
    with torch.random.fork_rng(devices=[]):
        return _read_source(path, where)


def _read_source(path: str | os.PathLike, where: str) -> BackboneSource:
    from rlkit._torchfile import load_torch_file

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise RlkitError(f"must be the path of a run folder or model file, got {path!r}", where=where)
    p = Path(path)
    if p.is_dir():
        supervised = (p / "config.json").is_file()
        if supervised or ((p / "model.pt").is_file() and not (p / "config.yaml").is_file()):
            return _from_supervised(p / "model.pt")
        if (p / "config.yaml").is_file():
            from rlkit.runs.train import load_run_agent

            agent = load_run_agent(p)
            try:
                return _from_agent(agent, str(p))
            finally:
                agent.close()
        raise RlkitError(
            "holds no backbone: not a run folder of `rlkit supervised train` (config.json, model.pt) "
            "or `rlkit train` (config.yaml, model.pt)",
            where=f"{where} {p}",
        )
    if not p.is_file():
        raise RlkitError("no such run folder or model file", where=f"{where} {p}")
    data = load_torch_file(p)
    fmt = str(data.get("format", ""))
    if fmt.startswith("rlkit.supervised"):
        return _from_supervised(p)
    from rlkit.agents import registry

    model = data.get("agent", {}).get("model") if isinstance(data.get("agent"), dict) else data
    name = model.get("agent") if isinstance(model, dict) else None
    if name not in registry.rlkit_names():
        raise RlkitError("holds no backbone: not a model of rlkit supervised train or rlkit train",
                         where=f"{where} {p}")
    agent = registry.agent_class(name).load(p)
    try:
        return _from_agent(agent, str(p))
    finally:
        agent.close()


# -- the config ------------------------------------------------------------------------------------


def check_init_keys(cfg: dict[str, Any]) -> None:
    """Check the types of ``init``, ``freeze`` and ``init_head`` (set their defaults)."""
    init = cfg.setdefault("init", None)
    if init is not None and not isinstance(init, (str, os.PathLike, dict)):
        raise RlkitError(f"must be the path of a run folder or model file, got {init!r}", where="policy.init")
    freeze = cfg.setdefault("freeze", False)
    if not isinstance(freeze, bool) and not (
        isinstance(freeze, list) and freeze and all(isinstance(n, str) and n for n in freeze)
    ):
        raise RlkitError(f"must be true, false or a list of layer names, got {freeze!r}",
                         where="policy.freeze")
    if not isinstance(cfg.setdefault("init_head", False), bool):
        raise RlkitError(f"must be true or false, got {cfg['init_head']!r}", where="policy.init_head")


def reduce_preset_net(policy: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any] | None:
    """A preset's policy config for a run whose ``--set policy.init`` (or ``--init-from``) names a
    source: its ``net`` / ``value_net`` keep only their ``type`` unless the overrides set them, so
    the architecture comes from the source (a different type is still an error)."""
    keys = set(overrides)
    if not policy or "policy.init" not in keys:
        return policy
    out = copy.deepcopy(policy)
    for key in ("net", "value_net"):
        if isinstance(out.get(key), dict) and not any(k == f"policy.{key}" or k.startswith(f"policy.{key}.")
                                                      for k in keys):
            out[key] = {"type": out[key]["type"]} if "type" in out[key] else None
    return out


def _architecture(net_cfg: dict[str, Any], shape: tuple[int, ...]) -> str | None:
    from rlkit.supervised import build_backbone

    try:
        return repr(build_backbone(net_cfg, shape))
    except (RlkitError, RuntimeError, ValueError, TypeError):
        return None


def _same_as_source(given: dict[str, Any] | None, source: BackboneSource) -> bool:
    """Whether a configured backbone is the source's (None or a bare matching type: yes)."""
    if given is None:
        return True
    if set(given) <= {"type"}:
        return str(given.get("type", "mlp")).lower() == str(source.net.get("type", "mlp")).lower()
    merged = {**source.net, **given}
    return _architecture(merged, source.input_shape) == _architecture(source.net, source.input_shape)


def _check_shape(source: BackboneSource, shape: tuple[int, ...], where: str = "policy.init") -> None:
    """The source's backbone, built for this env's observations, must take the source's weights."""
    from rlkit.supervised import build_backbone

    try:
        own = build_backbone(source.net, shape).state_dict()
    except (RlkitError, RuntimeError, ValueError, TypeError):
        own = None
    if own is None or set(own) != set(source.body) or any(
        tuple(own[k].shape) != tuple(source.body[k].shape) for k in own
    ):
        raise RlkitError(
            f"the {source.net.get('type', 'mlp')} backbone of {source.path} reads observations of shape "
            f"{source.input_shape}; this env's observations have shape {shape}, which it cannot read",
            where=where,
        )


def merge_source_cfg(cfg: dict[str, Any], source: BackboneSource, shape: tuple[int, ...]) -> dict[str, Any]:
    """The policy config with the source's backbone architecture (``net``; ``value_net`` too when
    it does not name another one).

    :param shape: one observation's shape as the backbone sees it.
    :raises RlkitError: observations the backbone cannot read; a ``policy.net`` that contradicts
        the source's backbone.
    """
    with torch.random.fork_rng(devices=[]):  # the trial builds below draw weights
        return _merge(cfg, source, shape)


def _merge(cfg: dict[str, Any], source: BackboneSource, shape: tuple[int, ...]) -> dict[str, Any]:
    _check_shape(source, shape)
    cfg = copy.deepcopy(cfg)
    given = cfg.get("net")
    if not _same_as_source(given, source):
        raise RlkitError(
            f"the config's backbone {given} contradicts the backbone of {source.path} "
            f"({source.net}); drop policy.net (the architecture comes from the source) or make it match",
            where="policy.net",
        )
    cfg["net"] = copy.deepcopy(source.net)
    value = cfg.get("value_net")
    if not cfg.get("shared") and _same_as_source(value, source):
        cfg["value_net"] = copy.deepcopy(source.value_net or source.net)
        cfg["_init_value"] = True
    return cfg


# -- the weights -----------------------------------------------------------------------------------


def _load(module: nn.Module, state: dict[str, torch.Tensor], source: BackboneSource, shape: tuple[int, ...],
          where: str) -> None:
    own = module.state_dict()
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if bad or set(state) - set(own):
        raise RlkitError(
            f"the backbone of {source.path} reads observations of shape {source.input_shape}; this env's "
            f"observations have shape {shape} and do not fit it "
            f"(first mismatch: {(bad or sorted(state))[0]})",
            where=where,
        )
    module.load_state_dict(state)


def apply_source(policy: Any, source: BackboneSource, init_value: bool) -> dict[str, Any]:
    """Copy the source's weights into a built :class:`~rlkit.agents.policies.ActorCritic`.

    :returns: the record that replaces ``policy.init`` in the config.
    :raises RlkitError: shapes that do not fit; ``init_head`` with a head that does not fit.
    """
    shape = policy.input_shape
    _load(policy.body, source.body, source, shape, "policy.init")
    value_from = None
    if init_value and policy.value_body is not None:
        if source.value_body is not None:
            _load(policy.value_body, source.value_body, source, shape, "policy.init")
            if source.value_head is not None:
                policy.value_head.load_state_dict(source.value_head)
            value_from = "value"
        else:
            _load(policy.value_body, source.body, source, shape, "policy.init")
            value_from = "backbone"
    head = bool(policy.cfg.get("init_head"))
    if head:
        want = tuple(policy.action_head.weight.shape)
        got = tuple(source.head["weight"].shape)
        same_space = source.action_space is None or source.action_space == policy.action_space
        if source.kind == "supervised" and not isinstance(policy.action_space, spaces.Discrete):
            same_space = False
        if want != got or not same_space:
            what = (f"{source.n_outputs} classes" if source.kind == "supervised"
                    else f"action space {source.action_space}")
            raise RlkitError(
                f"init_head: the head of {source.path} has {what}; this env's action space is "
                f"{policy.action_space}; set policy.init_head=false for a new head",
                where="policy.init_head",
            )
        policy.action_head.load_state_dict(source.head)
        if source.log_std is not None and isinstance(policy.log_std, (nn.Parameter, torch.Tensor)):
            with torch.no_grad():
                policy.log_std.copy_(source.log_std)
    return {"path": str(Path(source.path).resolve()), "kind": source.kind, "head": head,
            "value": value_from}


def _layer_names(body: nn.Module) -> list[str]:
    return [n for n, m in body.named_modules() if n and any(True for _ in m.parameters())]


def apply_freeze(policy: Any) -> None:
    """Take the layers ``policy.freeze`` names out of training (``requires_grad=False``)."""
    freeze = policy.cfg.get("freeze", False)
    if freeze is False:
        return
    bodies = [policy.body]
    if isinstance(policy.cfg.get("init"), dict) and policy.cfg["init"].get("value") and policy.value_body:
        bodies.append(policy.value_body)
    names = _layer_names(policy.body)
    if freeze is not True:
        unknown = [n for n in freeze if n not in names]
        if unknown:
            raise RlkitError(f"no layer {unknown[0]!r} in the backbone; its layers: {', '.join(names)}",
                             where="policy.freeze")
    for body in bodies:
        mods = dict(body.named_modules())
        for m in [body] if freeze is True else [mods[n] for n in freeze if n in mods]:
            for p in m.parameters():
                p.requires_grad_(False)


def keep_statistics(policy: Any) -> None:
    """Batch-norm layers of initialised backbones use the source's running statistics."""
    for body in (policy.body, policy.value_body):
        if body is None:
            continue
        for m in body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


class PolicyClassifier(nn.Module):
    """A discrete policy read as a classifier: images ``(B, H, W)`` in, action logits out.

    :param agent: an agent whose observations are images and whose action space is Discrete.
    """

    def __init__(self, agent: Any) -> None:
        super().__init__()
        pol = agent.policy
        if pol.spec["kind"] != "discrete" or pol.is_recurrent:
            raise RlkitError(
                f"the run's policy is not a classifier: it needs Discrete actions and a non-recurrent "
                f"backbone (action space {agent.action_space})", where="run_dir",
            )
        self.policy = pol
        self.obs_shape = tuple(agent.observation_space.shape or ())
        self.n_classes = int(agent.action_space.n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.obs_shape)
        return self.policy.action_head(self.policy.body(x))


def evaluate_rl_run(run_dir: Path, *, data_dir: Any, device: Any, batch_size: int,
                    test_subset: int | None) -> Any:
    """``rlkit supervised evaluate`` of an ``rlkit train`` run whose policy reads MNIST images:
    the policy's greedy label scored on the test set (accuracy, loss of the logits, confusion)."""
    from rlkit.runs import rundir as rd
    from rlkit.runs.train import load_run_agent
    from rlkit.supervised.data import DATASETS, load_mnist
    from rlkit.supervised.train import _subset, evaluate

    config = rd.read_run_config(run_dir)
    kwargs = (config.get("hyperparams") or {}).get("env_kwargs") or {}
    dataset = kwargs.get("dataset", "mnist")
    if dataset not in DATASETS:
        raise RlkitError(f"unknown dataset {dataset!r}", where=str(run_dir / rd.CONFIG))
    agent = load_run_agent(run_dir)
    try:
        shape = tuple(agent.observation_space.shape or ())
        if not isinstance(agent.observation_space, spaces.Box) or int(torch.tensor(shape).prod()) != 28 * 28:
            raise RlkitError(
                f"the run's policy reads observations of shape {shape}, not MNIST images (28, 28)",
                where=str(run_dir),
            )
        net = PolicyClassifier(agent)
        net.eval()
        n_classes = len(DATASETS[dataset].classes)
        if net.n_classes != n_classes:
            raise RlkitError(f"the policy has {net.n_classes} actions, not the {n_classes} classes of "
                             f"{dataset}", where=str(run_dir))
        x, y = load_mnist("test", dataset=dataset, data_dir=data_dir)
        if test_subset is not None:
            x, y = _subset(x, y, test_subset, int(config.get("seed", 0)) + 1)
        res = evaluate(net, x, y, n_classes=net.n_classes, device=device, batch_size=batch_size)
    finally:
        agent.close()
    res.run_dir, res.dataset = run_dir, dataset
    res.model = f"{config.get('agent')} policy on {config.get('env_id')}"
    return res
