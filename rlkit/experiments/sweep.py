"""Grid search over an agent's hyperparameters, several seeds per configuration.

Every configuration of the grid (the Cartesian product of the ``--grid`` values, applied on top of
the agent's preset and ``--set`` overrides) runs with every seed, under the same evaluation
protocol and executors as :func:`rlkit.experiments.compare.compare`. The configurations are
ranked by mean final evaluation return over seeds (95% bootstrap CI shown; ties broken by the
lower CI bound), and the best one is written as a preset snippet (``best.yaml``) to paste into
``agents/<agent>.yaml``.

Example::

    >>> from rlkit.experiments.sweep import parse_grid, sweep
    >>> parse_grid(["learning_rate=0.01,0.001", "policy.hidden=[32],[64, 64]"])
    {'learning_rate': [0.01, 0.001], 'policy.hidden': [[32], [64, 64]]}
    >>> result = sweep("reinforce", "CartPole-v1", {"learning_rate": [0.01, 0.001]},
    ...                seeds=3, total_timesteps=20_000)  # doctest: +SKIP
    >>> result.best_config_id, result.best_preset_path  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlkit._io import atomic_write_text
from rlkit.agents.presets import parse_value
from rlkit.errors import RlkitError
from rlkit.experiments.compare import (
    ExperimentResult,
    apply_overrides,
    check_protocol,
    default_eval_every,
    default_out,
    env_info,
    resolve_agent_config,
    run_experiment,
    seed_list,
)
from rlkit.experiments.executors import make_executor
from rlkit.experiments.trial import TrialSpec, budget_of, check_agent, check_config

__all__ = ["parse_grid", "split_values", "sweep", "SweepResult"]


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at commas outside brackets/braces/quotes (``[64,64],[32]`` -> 2 values)."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth < 0:
                raise RlkitError(f"unbalanced brackets in {text!r}", where="--grid")
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if depth != 0 or quote:
        raise RlkitError(f"unbalanced brackets or quotes in {text!r}", where="--grid")
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``--grid KEY=V1,V2,...`` items into ``{key: [values]}`` (values read as YAML).

    :raises RlkitError: no ``=``, an empty key or value, a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise RlkitError(f"{item!r} is not KEY=V1,V2,...", where="--grid")
        key, values = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise RlkitError(f"{item!r} has no key", where="--grid")
        if key in grid:
            raise RlkitError(f"key {key!r} given twice", where="--grid")
        texts = split_values(values)
        if any(t == "" for t in texts):
            raise RlkitError(f"{item!r} has an empty value", where="--grid")
        parsed = [parse_value(t) for t in texts]
        grid[key] = parsed
    if not grid:
        raise RlkitError("give at least one --grid KEY=V1,V2", where="--grid")
    return grid


@dataclass
class SweepResult:
    """What :func:`sweep` returns.

    :ivar ranked: summary rows (see :func:`rlkit.experiments.compare.summarize`), best first, each
        with ``rank`` and ``params`` (the grid values of that configuration).
    :ivar best_config_id: id of the best configuration ("c0", "c1", ...), None if all failed.
    :ivar best_config: the full resolved configuration of the best one.
    :ivar best_preset_path: ``best.yaml`` in the output folder (None if all failed).
    :ivar experiment: the underlying :class:`ExperimentResult` (files, trial results).
    """

    ranked: list[dict[str, Any]]
    best_config_id: str | None
    best_config: dict[str, Any] | None
    best_preset_path: Path | None
    experiment: ExperimentResult


def _preset_snippet(agent: str, env_id: str, config: dict[str, Any], row: dict[str, Any]) -> str:
    import yaml

    header = (
        f"# Best of `rlkit sweep --agent {agent} --env {env_id}`: {row['config_id']} {row['params']}\n"
        f"# final evaluation mean {row['final_mean']:.2f}"
        f" (95% CI [{row['ci_low']:.2f}, {row['ci_high']:.2f}], IQM {row['iqm']:.2f})"
        f" over {row['ok']} seeds, {row['budget']:,} env steps each.\n"
        f"# Paste under agents/{agent}.yaml (replacing the {env_id} entry); the budget key is the"
        f" preset's.\n"
    )
    return header + yaml.safe_dump({env_id: config}, sort_keys=False, default_flow_style=False)


def sweep(
    agent: str,
    env_id: str,
    grid: dict[str, list[Any]],
    *,
    seeds: int | Sequence[int] = 3,
    total_timesteps: int | None = None,
    eval_episodes: int = 10,
    eval_every: int | None = None,
    overrides: dict[str, Any] | None = None,
    workers: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    ship_code: bool = False,
    out: str | Path | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run every configuration of ``grid`` with every seed; rank them; write the best as a preset.

    :param agent: agent name ("reinforce", "sb3-ppo", ...).
    :param env_id: Gymnasium id.
    :param grid: ``{key: [values]}`` (dotted keys reach nested fields), see :func:`parse_grid`.
    :param seeds: number of seeds (0..N-1) or the seeds.
    :param total_timesteps: budget per trial (default: the preset's).
    :param eval_episodes: episodes per evaluation.
    :param eval_every: env steps between evaluations (default: a tenth of the budget).
    :param overrides: ``{key: value}`` applied to the preset before the grid (``--set``).
    :param workers: local processes / local Ray CPUs.
    :param backend: "local" or "ray".
    :param ray_address: Ray cluster to join.
    :param ship_code: Ray: send this rlkit package to the workers.
    :param out: output folder (default ``runs/sweep/<env>-<agent>-<time>``); re-use it to resume.
    :param progress: show a progress bar.
    """
    check_agent(agent)
    if not grid:
        raise RlkitError("give at least one --grid KEY=V1,V2", where="--grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise RlkitError(f"grid key {key!r} needs a non-empty list of values", where="--grid")
    check_protocol(eval_episodes, eval_every, total_timesteps)
    seeds = seed_list(seeds)
    make_executor(backend, workers=workers, ray_address=ray_address)
    info = env_info(env_id)
    base = resolve_agent_config(agent, info, overrides or {})

    keys = list(grid)
    configs: dict[str, dict[str, Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    for i, values in enumerate(itertools.product(*(grid[k] for k in keys))):
        point = dict(zip(keys, values, strict=True))
        config = apply_overrides(base, point)
        check_config(agent, config, action_space=info.action_space,
                     observation_space=info.observation_space)
        configs[f"c{i}"], params[f"c{i}"] = config, point
    budgets = {cid: total_timesteps or budget_of(cfg) for cid, cfg in configs.items()}
    every = eval_every or default_eval_every(list(budgets.values()))
    specs = [TrialSpec(agent, env_id, seed, budgets[cid], every, eval_episodes, cfg, config_id=cid)
             for cid, cfg in configs.items() for seed in seeds]
    out = Path(out) if out is not None else default_out("sweep", f"{env_id}-{agent}")
    experiment = run_experiment(
        specs, out, backend=backend, workers=workers, ray_address=ray_address, ship_code=ship_code,
        thresholds={env_id: info.reward_threshold}, params=params, progress=progress,
        title=f"rlkit sweep: {agent} on {env_id}", rank=True,
    )
    ranked = experiment.summary
    best = ranked[0] if ranked and ranked[0]["final_mean"] is not None else None
    best_path = None
    best_config = None
    if best is not None:
        best_config = configs[best["config_id"]]
        best_path = out / "best.yaml"
        atomic_write_text(best_path, _preset_snippet(agent, env_id, best_config, best))
    return SweepResult(ranked=ranked, best_config_id=best["config_id"] if best else None,
                       best_config=best_config, best_preset_path=best_path, experiment=experiment)
