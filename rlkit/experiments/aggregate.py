"""Aggregates of a compare across envs, as rliable defines them (Agarwal et al., NeurIPS 2021).

Every trial's final evaluation is put on one scale per env, **0 = a uniformly random policy's
score, 1 = the target** (the env's ``reward_threshold``, or a reference given for an env without
one, e.g. ``Pendulum-v1=-200``). Then, per agent, over all runs of all envs:

* **mean** and **IQM** (interquartile mean of the pooled runs x envs) of the normalised scores,
  each with a 95% **stratified bootstrap** interval (every env's runs resampled on their own);
* the **probability of improvement** ``P(X > Y)`` of each agent over each other agent: the chance
  that a run of X beats a run of Y on an env, averaged over envs (ties count one half), with its
  stratified bootstrap interval;
* the **performance profile** (``profiles.png``): the fraction of runs whose normalised score is
  above tau, for tau from 0 to beyond 1, with a bootstrap band.

The random policy's score is measured, not looked up: 100 episodes of uniformly random actions
from seeded resets (the same numbers every time).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import atomic_write
from rlkit.errors import RlkitError
from rlkit.experiments.stats import (
    aggregate_iqm,
    aggregate_mean,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap,
)

__all__ = ["RANDOM_EPISODES", "aggregate", "aggregate_markdown", "plot_profiles", "random_score",
           "references"]

RANDOM_EPISODES = 100


@cache
def random_score(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = 0) -> float:
    """Mean return of uniformly random actions over ``episodes`` seeded episodes of ``env_id``."""
    import gymnasium as gym

    from rlkit.experiments.trial import _register_rlkit_envs

    _register_rlkit_envs(env_id)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    limit = env.spec.max_episode_steps if env.spec is not None and env.spec.max_episode_steps else 10_000
    total = 0.0
    try:
        for i in range(episodes):
            env.reset(seed=seed + i)
            for _ in range(limit):
                _, r, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(r)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return total / episodes


def references(envs: Sequence[str], thresholds: dict[str, float | None],
               targets: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per env, the ``random`` and ``target`` scores of the normalisation.

    :param targets: a target for an env (overrides its threshold; needed where it has none).
    :raises RlkitError: an env with neither a threshold nor a target, or a target that equals
        the random score.
    """
    targets = targets or {}
    refs = {}
    for env in envs:
        target = targets.get(env, thresholds.get(env))
        if target is None:
            raise RlkitError(
                f"{env} has no reward threshold to normalise scores with; give one as "
                f"--target {env}=SCORE (e.g. Pendulum-v1=-200)",
                where="--target",
            )
        rand = random_score(env)
        if not np.isfinite(target) or target == rand:
            raise RlkitError(f"the target of {env} ({target}) must differ from the random score ({rand:.2f})",
                             where="--target")
        refs[env] = {"random": rand, "target": float(target)}
    return refs


def _normalised(results: Sequence[Any], refs: dict[str, dict[str, float]]) -> dict[str, list[np.ndarray]]:
    """agent -> one array of normalised final scores per env (in ``refs``'s order)."""
    envs = list(refs)
    out: dict[str, list[np.ndarray]] = {}
    for agent in dict.fromkeys(r.spec.agent for r in results):
        per_env = []
        for env in envs:
            scores = [r.final_eval_mean for r in results
                      if r.spec.agent == agent and r.spec.env_id == env and r.status == "ok"]
            if not scores:
                break
            ref = refs[env]
            per_env.append((np.asarray(scores, float) - ref["random"]) / (ref["target"] - ref["random"]))
        else:
            out[agent] = per_env
    return out


def _interval(iv) -> dict[str, float]:
    return {"estimate": iv.estimate, "low": iv.low, "high": iv.high}


def aggregate(results: Sequence[Any], refs: dict[str, dict[str, float]], *,
              n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The ``aggregate`` entry of ``summary.json`` (see the module docstring).

    Agents without a finished seed on some env are left out: listed under ``missing``, and under
    ``missing_envs`` with, per env, ``"not run"`` (no trial of it there: DQN on a continuous-action
    env) or ``"every seed failed"``.
    """
    norm = _normalised(results, refs)
    missing_envs: dict[str, dict[str, str]] = {}
    for agent in dict.fromkeys(r.spec.agent for r in results):
        if agent in norm:
            continue
        mine = [r for r in results if r.spec.agent == agent]
        missing_envs[agent] = {
            env: "not run" if not any(r.spec.env_id == env for r in mine) else "every seed failed"
            for env in refs
            if not any(r.spec.env_id == env and r.status == "ok" for r in mine)
        }
    agents = list(norm)
    out: dict[str, Any] = {
        "envs": list(refs),
        "normalization": refs,
        "definition": "normalised score = (score - random) / (target - random); stratified bootstrap "
                      f"95% percentile intervals over {n_resamples} resamples",
        "missing": list(missing_envs),
        "missing_envs": missing_envs,
        "agents": {},
        "probability_of_improvement": {},
    }
    for agent in agents:
        tasks = norm[agent]
        out["agents"][agent] = {
            "runs": int(sum(len(t) for t in tasks)),
            "min_seeds": int(min(len(t) for t in tasks)),
            "mean": _interval(stratified_bootstrap(aggregate_mean, tasks, n_resamples=n_resamples,
                                                   seed=seed)),
            "iqm": _interval(stratified_bootstrap(aggregate_iqm, tasks, n_resamples=n_resamples,
                                                  seed=seed)),
        }
    for a in agents:
        for b in agents:
            if a != b:
                iv = stratified_bootstrap(probability_of_improvement, norm[a], norm[b],
                                          n_resamples=n_resamples, seed=seed)
                out["probability_of_improvement"][f"{a} > {b}"] = _interval(iv)
    return out


def aggregate_markdown(agg: dict[str, Any]) -> list[str]:
    """The aggregate section of summary.md."""
    if not agg.get("agents"):
        return []
    lines = ["## Aggregate over " + ", ".join(agg["envs"]), "",
             "Normalised score: 0 = uniformly random actions, 1 = the target ("
             + ", ".join(f"{e}: random {r['random']:.1f}, target {r['target']:g}"
                         for e, r in agg["normalization"].items())
             + "). Intervals: 95% stratified bootstrap over seeds.", "",
             "| agent | runs | mean [95% CI] | IQM [95% CI] |", "|---|---|---|---|"]
    small = False
    for agent, row in agg["agents"].items():
        m, q = row["mean"], row["iqm"]
        flag = "" if row["min_seeds"] >= 5 else " *"
        small |= bool(flag)
        lines.append(f"| {agent} | {row['runs']} | {m['estimate']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
                     f"{flag} | {q['estimate']:.3f} [{q['low']:.3f}, {q['high']:.3f}]{flag} |")
    if small:
        lines += ["", "\\* fewer than 5 seeds on some env: the interval is a bootstrap range over very few "
                      "runs, not a trustworthy 95% CI."]
    if agg["probability_of_improvement"]:
        lines += ["", "| P(X > Y) | estimate [95% CI] |", "|---|---|"]
        for pair, iv in agg["probability_of_improvement"].items():
            lines.append(f"| {pair} | {iv['estimate']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}] |")
    if agg["missing_envs"]:
        parts = []
        for agent, why in agg["missing_envs"].items():
            by_reason: dict[str, list[str]] = {}
            for env, reason in why.items():
                by_reason.setdefault(reason, []).append(env)
            parts.append(f"{agent} (" + "; ".join(f"{reason} on {', '.join(envs)}"
                                                  for reason, envs in by_reason.items()) + ")")
        lines += ["", "Left out, without a finished seed on every env: " + ", ".join(parts) + "."]
    return lines + [""]


def plot_profiles(results: Sequence[Any], refs: dict[str, dict[str, float]], path: str | Path, *,
                  n_resamples: int = 500, seed: int = 0) -> Path | None:
    """profiles.png: the performance profile of each agent with a 95% stratified bootstrap band."""
    norm = _normalised(results, refs)
    if not norm:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(1.25, max(float(np.max(np.concatenate(t))) for t in norm.values()) + 0.05)
    taus = np.linspace(0.0, top, 101)
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for agent, tasks in norm.items():
        curve = performance_profile(tasks, taus)
        boots = np.stack([performance_profile([t[rng.integers(0, len(t), len(t))] for t in tasks], taus)
                          for _ in range(n_resamples)])
        low, high = np.quantile(boots, [0.025, 0.975], axis=0)
        (line,) = ax.plot(taus, curve, label=f"{agent} ({sum(len(t) for t in tasks)} runs)", lw=1.6)
        ax.fill_between(taus, low, high, color=line.get_color(), alpha=0.2, lw=0)
    ax.axvline(1.0, color="0.4", ls="--", lw=1, label="target (threshold)")
    ax.set_xlabel("normalised score tau (0 = random, 1 = threshold)")
    ax.set_ylabel("fraction of runs with score > tau")
    # one line per ~70 characters: the names of five or more envs do not fit the axes' width
    ax.set_title(textwrap.fill("performance profile over " + ", ".join(refs), 70), fontsize=10)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
