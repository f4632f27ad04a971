"""Agent presets per environment (``agents/<agent>.yaml``, keyed by env id, like rl-zoo's hyperparams).

A preset file maps env ids to settings; the entry ``default`` applies to every env and the env's
own entry overrides it key by key (``policy`` is merged one level deeper)::

    default:
      total_timesteps: 100000
      n_envs: 8
      policy: {net: {type: mlp, hidden: [64, 64], activation: tanh}}
    CartPole-v1:
      n_steps: 128
      learning_rate: 0.005
      run: {eval_episodes: 100}

:func:`load_preset` returns the agent's settings: every hyperparameter of
:class:`~rlkit.agents.reinforce.ReinforceConfig`, ``policy`` (the policy config) and
``total_timesteps``. The ``run`` block (evaluation episodes, checkpoint interval) is for
``rlkit train`` and comes from :func:`run_settings`.

``rlkit train --set key=value`` overrides go through :func:`apply_overrides`, which checks every
key and value: ``learning_rate=3e-4``, ``policy.net.hidden=[32,32]``, ``run.eval_episodes=10``.
"""

from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from rlkit.errors import RlkitError

__all__ = ["RUN_DEFAULTS", "apply_overrides", "load_preset", "parse_set", "parse_value", "preset_envs",
           "read_presets", "run_settings"]

#: settings of ``rlkit train`` itself (not of the agent), with their defaults.
RUN_DEFAULTS: dict[str, Any] = {
    "eval_episodes": 100,  # episodes of the final evaluation (eval.json)
    "checkpoint_freq": 20_000,
    "eval_deterministic": True,
    "eval_env_kwargs": {},  # gymnasium.make arguments of the evaluation env only, e.g. {split: test}
    "eval_every": None,  # env steps between periodic evaluations (evaluations.csv, best_model.pt); null: off
    "periodic_eval_episodes": 20,  # episodes of each periodic evaluation
    "stop_at": None,  # stop when a periodic evaluation reaches this: "threshold" (the env's) or a number
}
_TOP_KEYS = {"total_timesteps", "policy", "run"}


def _file(agent: str) -> Path:
    from rlkit.catalog import catalog_files

    files = catalog_files("agents")
    if not isinstance(agent, str) or agent not in files:
        known = ", ".join(sorted(files)) or "none"
        raise RlkitError(f"unknown agent {agent!r}; known agents: {known}", where="--agent")
    return files[agent]


@lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise RlkitError(f"not valid YAML: {str(exc).splitlines()[0]}", where=path) from None
    if not isinstance(data, dict):
        raise RlkitError("a preset file maps env ids to settings", where=path)
    return data


def read_presets(agent: str) -> dict[str, Any]:
    """The whole preset file ``agents/<agent>.yaml`` (env id -> settings), read once and cached
    until the file changes; a fresh copy each call.

    :raises RlkitError: unknown agent, invalid YAML, not a mapping.
    """
    path = _file(agent)
    return copy.deepcopy(_read(str(path), path.stat().st_mtime))




def preset_envs(agent: str = "reinforce") -> list[str]:
    """The env ids that have their own preset."""
    return sorted(k for k in read_presets(agent) if k != "default")


def _merged(agent: str, env_id: str) -> dict[str, Any]:
    data = read_presets(agent)
    out = dict(data.get("default") or {})
    entry = data.get(env_id) or {}
    for key, value in entry.items():
        if key in ("policy", "run") and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def load_preset(agent: str, env_id: str) -> dict[str, Any]:
    """The agent's preset for ``env_id``: hyperparameters, ``policy`` and ``total_timesteps``.

    Envs without an entry get the ``default`` entry.

    :param agent: the agent's name (``"reinforce"``).
    :param env_id: the env id.
    :raises RlkitError: unknown agent, unreadable file.

    Example::

        >>> p = load_preset("reinforce", "CartPole-v1")
        >>> p["total_timesteps"] > 0 and "policy" in p
        True
    """
    out = _merged(agent, env_id)
    out.pop("run", None)
    return out


def run_settings(agent: str, env_id: str) -> dict[str, Any]:
    """The preset's ``run`` block (evaluation episodes, checkpoint interval) over :data:`RUN_DEFAULTS`."""
    run = _merged(agent, env_id).get("run") or {}
    if not isinstance(run, dict):
        raise RlkitError("the run block must be a mapping", where=f"{_file(agent)}: {env_id}")
    return {**RUN_DEFAULTS, **{k: _check_run_key(k, v) for k, v in run.items()}}


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are read as YAML (``3e-4``, ``[64, 64]``, ``null``).

    :raises RlkitError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise RlkitError(f"expected key=value, got {item!r}", where="--set")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise RlkitError(f"empty key in {item!r}", where="--set")
        value = parse_value(raw) if raw.strip() else None
        if isinstance(value, str) and value.lower() in ("none", "null"):
            value = None
        out[key] = value
    return out


_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)")


def parse_value(text: str) -> Any:
    """A ``--set`` / ``--grid`` value read as YAML (``64``, ``0.5``, ``true``, ``[64, 64]``,
    ``{a: 1}``), with ``3e-4`` read as a float (YAML 1.1 alone would keep it a string).

    :raises RlkitError: the text is not valid YAML (``[64,``).

    >>> parse_value("3e-3"), parse_value("[64, 64]"), parse_value("tanh")
    (0.003, [64, 64], 'tanh')
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise RlkitError(f"cannot read value {text!r} (use YAML: 0.001, true, [64, 64])") from None
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def _check_run_key(key: str, value: Any) -> Any:
    if key not in RUN_DEFAULTS:
        raise RlkitError(
            f"unknown run setting {key!r}; known: {', '.join(RUN_DEFAULTS)}", where=f"--set run.{key}"
        )
    if key == "eval_env_kwargs":
        if not isinstance(value, dict):
            raise RlkitError(f"must be a mapping, got {value!r}", where=f"--set run.{key}")
        return value
    if key == "stop_at":
        if value is None or value == "threshold":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RlkitError(f"must be threshold, a number or null, got {value!r}", where=f"--set run.{key}")
        return float(value)
    if key == "eval_every" and value is None:
        return None
    if key == "eval_deterministic":
        if not isinstance(value, bool):
            raise RlkitError(f"must be true or false, got {value!r}", where=f"--set run.{key}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "eval_episodes" else 1):
        raise RlkitError(f"must be a positive integer, got {value!r}", where=f"--set run.{key}")
    return value


def apply_overrides(
    preset: dict[str, Any],
    run: dict[str, Any],
    overrides: dict[str, Any],
    agent: str = "reinforce",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``--set`` overrides to a preset and its run settings, checking every key and value.

    Keys: any hyperparameter (``learning_rate``), ``total_timesteps``, ``policy.<key>[.<key>...]``
    (nested policy config), ``run.<key>`` (or a bare run key such as ``eval_episodes``).

    :param agent: the rlkit agent whose hyperparameters these are.
    :returns: (preset, run settings), new dicts.
    :raises RlkitError: unknown key, wrong type or range.
    """
    from rlkit.agents.policies import POLICY_KEYS
    from rlkit.agents.registry import agent_class

    check_hyperparam = agent_class(agent).check_hyperparam

    preset, run = copy.deepcopy(preset), dict(run)
    for key, value in overrides.items():
        where = f"--set {key}"
        parts = key.split(".")
        if parts[0] == "run" or (len(parts) == 1 and key in RUN_DEFAULTS):
            name = parts[-1] if parts[0] == "run" and len(parts) == 2 else (key if len(parts) == 1 else None)
            if name is None:
                raise RlkitError("use run.<setting>", where=where)
            run[name] = _check_run_key(name, value)
        elif parts[0] == "policy":
            if len(parts) == 1:
                if value is not None and not isinstance(value, dict):
                    raise RlkitError("must be a mapping (the policy config)", where=where)
                preset["policy"] = value
                continue
            if parts[1] not in POLICY_KEYS:
                raise RlkitError(
                    f"unknown policy key {parts[1]!r}; known: {', '.join(sorted(POLICY_KEYS))}", where=where
                )
            node = preset.setdefault("policy", {}) or {}
            preset["policy"] = node
            for p in parts[1:-1]:
                child = node.get(p)
                if not isinstance(child, dict):
                    child = {}
                    node[p] = child
                node = child
            node[parts[-1]] = value
        elif key == "total_timesteps":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RlkitError(f"must be a positive integer, got {value!r}", where=where)
            preset[key] = value
        elif len(parts) == 1:
            preset[key] = check_hyperparam(key, value, where=where)
        else:
            raise RlkitError(f"unknown setting {key!r}", where=where)
    return preset, run


def split_preset(preset: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any], int | None]:
    """(policy config, hyperparameters, total_timesteps) of a preset from :func:`load_preset`."""
    hp = {k: v for k, v in preset.items() if k not in _TOP_KEYS and k != "n_timesteps"}
    total = preset.get("total_timesteps", preset.get("n_timesteps"))
    return preset.get("policy"), hp, (int(total) if total is not None else None)
