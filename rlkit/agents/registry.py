"""The one table of agents rlkit can train (like rl-zoo's ``ALGOS`` or Gymnasium's registry).

Each :class:`AgentEntry` knows its defaults, its checks and how to run it; ``runs/``,
``experiments/``, the presets and the CLI read it instead of matching agent names. rlkit's own
agents are :class:`~rlkit.agents.base.OnPolicyAgent` subclasses; the Stable-Baselines3 adapters
run under the same comparison protocol. Functions are named by import path and loaded on first
use, so this module imports neither torch-heavy agents nor SB3 nor the experiment layer.

Adding an agent is one entry::

    register(AgentEntry("my-ppo", kind="rlkit", agent_class="mypkg.ppo:PPO",
                        trainer="rlkit.experiments.trial:train_onpolicy"))

>>> names()
['reinforce', 'sb3-ppo', 'sb3-a2c', 'sb3-dqn']
>>> get("sb3-dqn").discrete_only
True
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rlkit.errors import RlkitError

__all__ = ["AgentEntry", "agent_class", "get", "names", "register", "rlkit_names"]


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class AgentEntry:
    """One agent.

    :param name: its name in ``--agent``, presets (``agents/<name>.yaml``) and run folders.
    :param kind: ``rlkit`` (an :class:`~rlkit.agents.base.OnPolicyAgent`, trainable with
        ``rlkit train``) or ``sb3`` (a Stable-Baselines3 algorithm, in compare and sweep).
    :param agent_class: import path of the class (rlkit agents).
    :param trainer: import path of ``train(spec, protocol) -> timesteps`` for one compare trial.
    :param default_config: import path of ``default(agent, env_id) -> dict`` (the preset).
    :param check_config: import path of ``check(agent, config, *, observation_space, action_space)``.
    :param warm_up: modules to import before a trial's clock starts.
    :param discrete_only: the algorithm needs a Discrete action space.
    """

    name: str
    kind: str
    trainer: str
    default_config: str
    check_config: str
    agent_class: str | None = None
    warm_up: tuple[str, ...] = ()
    discrete_only: bool = False

    def cls(self) -> type:
        """The agent class (rlkit agents)."""
        if self.agent_class is None:
            raise RlkitError(f"{self.name} is not an rlkit agent (it runs in compare and sweep only)",
                             where="--agent")
        return _load(self.agent_class)

    def train_trial(self, spec: Any, protocol: Any) -> int:
        """Train one compare/sweep trial under the protocol; returns the env steps done."""
        return _load(self.trainer)(spec, protocol)

    def defaults(self, env_id: str) -> dict[str, Any]:
        """The agent's preset for ``env_id`` (a fresh dict)."""
        return _load(self.default_config)(self.name, env_id)

    def check(
        self, config: dict[str, Any], *, observation_space: Any = None, action_space: Any = None
    ) -> None:
        """Raise :class:`RlkitError` for a configuration the agent cannot take."""
        _load(self.check_config)(self.name, config, observation_space=observation_space,
                                 action_space=action_space)

    def import_for_trial(self) -> None:
        for module in self.warm_up:
            importlib.import_module(module)


_REGISTRY: dict[str, AgentEntry] = {}

#: The agent ``rlkit train`` / ``rlkit.runs.train`` use when none is named.
DEFAULT_AGENT = "reinforce"


def register(entry: AgentEntry) -> AgentEntry:
    """Add an agent (a name already taken is an error)."""
    if entry.name in _REGISTRY:
        raise RlkitError(f"agent {entry.name!r} is registered already")
    if entry.kind not in ("rlkit", "sb3"):
        raise RlkitError(f"agent kind must be rlkit or sb3, got {entry.kind!r}")
    _REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    """Every registered agent, in the order registered (rlkit's first)."""
    return list(_REGISTRY)


def rlkit_names() -> list[str]:
    """The agents ``rlkit train`` can train."""
    return [n for n in names() if _REGISTRY[n].kind == "rlkit"]


def get(name: str, where: str = "--agent", kinds: tuple[str, ...] = ("rlkit", "sb3")) -> AgentEntry:
    """The entry of ``name``.

    :raises RlkitError: an unknown agent, or one not of ``kinds``.
    """
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None or entry.kind not in kinds:
        known = [n for n in names() if _REGISTRY[n].kind in kinds]
        raise RlkitError(f"unknown agent {name!r}; known agents: {', '.join(known)}", where=where)
    return entry


def agent_class(name: str, where: str = "--agent") -> type:
    """The class of an rlkit agent."""
    return get(name, where, kinds=("rlkit",)).cls()


register(AgentEntry(
    "reinforce", kind="rlkit", agent_class="rlkit.agents.reinforce:Reinforce",
    trainer="rlkit.experiments.trial:train_onpolicy",
    default_config="rlkit.experiments.trial:rlkit_default_config",
    check_config="rlkit.experiments.trial:check_onpolicy_config",
    warm_up=("gymnasium", "torch._dynamo", "rlkit.agents"),
))
for _name, _discrete in (("sb3-ppo", False), ("sb3-a2c", False), ("sb3-dqn", True)):
    register(AgentEntry(
        _name, kind="sb3", trainer="rlkit.experiments.sb3:train_sb3",
        default_config="rlkit.experiments.sb3:sb3_preset",
        check_config="rlkit.experiments.sb3:check_sb3_config",
        warm_up=("gymnasium", "torch._dynamo", "stable_baselines3"), discrete_only=_discrete,
    ))
