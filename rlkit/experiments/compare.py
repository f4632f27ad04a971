"""Compare agents (rlkit's REINFORCE, SB3's PPO/A2C/DQN) on the same envs, seeds and protocol.

:func:`compare` runs every agent x env x seed as one trial (see :mod:`rlkit.experiments.trial` for
the evaluation protocol) on a local process pool or Ray, and writes into ``out``::

    trials/<trial_id>/metrics.csv   evaluation and training-episode rows of one trial
    trials/<trial_id>/result.json   its result (written last and atomically: a finished trial)
    results.csv                     one row per agent x env x seed (timing columns last)
    summary.md / summary.json       per agent x env: final evaluation mean with 95% bootstrap CI
                                    over seeds, IQM, steps / wall time to the reward threshold,
                                    throughput
    curves.png                      mean and 95% CI band over seeds, against env steps and wall time
    profiles.png                    performance profiles of the normalised scores (several envs)

``summary.json`` holds ``summary`` (the rows) and ``aggregate``: across envs, the mean and IQM of
normalised scores (0 = random policy, 1 = the env's threshold) with stratified bootstrap intervals
and the probability of improvement of each agent over each other (see
:mod:`rlkit.experiments.aggregate`).

Re-running with the same ``out`` reuses every finished trial whose spec is unchanged (failed
trials are tried again). A failed trial is a row with ``status=failed`` and its error.

Example::

    >>> from rlkit.experiments.compare import compare
    >>> result = compare(["CartPole-v1"], ["sb3-ppo", "sb3-a2c"], seeds=2,  # doctest: +SKIP
    ...                  total_timesteps=2000, eval_every=500, eval_episodes=5, out="runs/compare/demo")
    >>> [(row["agent"], row["final_mean"]) for row in result.summary]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import atomic_write, atomic_write_json, atomic_write_text
from rlkit.agents.presets import parse_value
from rlkit.errors import RlkitError
from rlkit.experiments.aggregate import aggregate, aggregate_markdown, plot_profiles, references
from rlkit.experiments.executors import make_executor
from rlkit.experiments.stats import bootstrap_ci, bootstrap_ci_columns, iqm
from rlkit.experiments.trial import (
    AGENTS,
    EVAL_SEED_BASE,
    METRIC_COLUMNS,
    TrialResult,
    TrialSpec,
    budget_of,
    check_agent,
    check_config,
    default_config,
)

__all__ = [
    "compare",
    "run_experiment",
    "rank_summary",
    "summarize",
    "summary_table",
    "ExperimentResult",
    "parse_sets",
    "parse_value",
    "apply_overrides",
    "env_info",
    "RESULT_COLUMNS",
    "TIMING_COLUMNS",
]

#: below this many seeds an agent x env row shows the range of its seeds, not a bootstrap "95% CI"
MIN_SEEDS_FOR_CI = 5

RESULT_COLUMNS = [
    "trial_id", "env", "agent", "config_id", "params", "seed", "status", "error", "timesteps",
    "final_eval_mean", "final_eval_std", "best_eval_mean", "reward_threshold", "steps_to_threshold",
    "train_episodes", "train_return_last10",
]
#: Columns that measure time (differ from run to run); every other column is deterministic.
TIMING_COLUMNS = ["wall_time_s", "train_time_s", "time_to_threshold_s", "steps_per_s", "host"]


# ---------------------------------------------------------------------------------------------
# Parsing user input
# ---------------------------------------------------------------------------------------------


def check_protocol(eval_episodes: int, eval_every: int | None, total_timesteps: int | None) -> None:
    """Check the evaluation protocol and budget shared by :func:`compare` and sweeps.

    :raises RlkitError: a count below 1.
    """
    if eval_episodes < 1:
        raise RlkitError(f"--eval-episodes must be >= 1, got {eval_episodes}")
    if eval_every is not None and eval_every < 1:
        raise RlkitError(f"--eval-every must be >= 1, got {eval_every}")
    if total_timesteps is not None and total_timesteps < 1:
        raise RlkitError(f"--total-timesteps must be >= 1, got {total_timesteps}")


def _set_nested(config: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else None
            if child is None:
                raise RlkitError(f"cannot set {key!r}: {part!r} is not a mapping", where="--set")
            node[part] = child
        node = child
    node[parts[-1]] = value


def parse_sets(items: Sequence[str], agents: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Parse ``--set AGENT.KEY=VALUE`` items into ``{agent: {key: value}}``.

    Without an agent prefix (``KEY=VALUE``) the override applies to every agent in ``agents``.
    ``KEY`` may be dotted (``policy_kwargs.net_arch=[64, 64]``).

    :param items: the raw ``--set`` strings.
    :param agents: the agents of this run (used for un-prefixed keys and to check prefixes).
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item:
            raise RlkitError(f"{item!r} is not AGENT.KEY=VALUE", where="--set")
        lhs, value = item.split("=", 1)
        lhs = lhs.strip()
        if not lhs:
            raise RlkitError(f"{item!r} has no key", where="--set")
        head, _, rest = lhs.partition(".")
        if head in AGENTS or (agents and head in agents):
            if not rest:
                raise RlkitError(f"{item!r} has no key after the agent name", where="--set")
            targets, key = [head], rest
        elif agents:
            targets, key = list(agents), lhs
        else:
            raise RlkitError(f"{item!r}: start the key with an agent name ({', '.join(AGENTS)})",
                             where="--set")
        if agents and targets[0] not in agents:
            raise RlkitError(f"{item!r} names agent {targets[0]!r}, which is not in this run", where="--set")
        for agent in targets:
            out.setdefault(agent, {})[key] = parse_value(value.strip())
    return out


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with dotted-key ``overrides`` applied."""
    result = copy.deepcopy(config)
    for key, value in overrides.items():
        _set_nested(result, key, value)
    return result


@dataclass(frozen=True)
class EnvInfo:
    env_id: str
    reward_threshold: float | None
    action_space: Any
    observation_space: Any = None


def env_info(env_id: str) -> EnvInfo:
    """Check that ``env_id`` can be made; return its reward threshold and action space."""
    import gymnasium as gym

    from rlkit.experiments.trial import _register_rlkit_envs

    _register_rlkit_envs(env_id)
    try:
        spec = gym.spec(env_id)
    except Exception as exc:
        raise RlkitError(f"unknown env {env_id!r} ({' '.join(str(exc).split())})", where="--env") from None
    try:
        env = gym.make(env_id)
    except Exception as exc:
        raise RlkitError(f"cannot make env {env_id!r}: {' '.join(str(exc).split())}", where="--env") from None
    spaces = env.action_space, env.observation_space
    env.close()
    threshold = spec.reward_threshold
    return EnvInfo(env_id, None if threshold is None else float(threshold), *spaces)


# ---------------------------------------------------------------------------------------------
# Running trials and writing their files
# ---------------------------------------------------------------------------------------------


def _trial_dir(out: Path, spec: TrialSpec) -> Path:
    return out / "trials" / spec.trial_id


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    evals, trains = [], []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            parsed: dict[str, Any] = {}
            for key, value in row.items():
                if key == "kind" or value == "":
                    parsed[key] = value
                elif key in ("eval_point", "timesteps", "episodes"):
                    parsed[key] = int(value)
                else:
                    parsed[key] = float(value)
            (evals if row["kind"] == "eval" else trains).append(parsed)
    return evals, trains


def _result_json(result: TrialResult) -> dict[str, Any]:
    return {
        "trial_id": result.spec.trial_id, "fingerprint": result.spec.fingerprint(),
        "spec": result.spec.to_dict(), "status": result.status, "error": result.error,
        "timesteps": result.timesteps, "final_eval_mean": result.final_eval_mean,
        "final_eval_std": result.final_eval_std, "wall_time_s": result.wall_time_s,
        "train_time_s": result.train_time_s, "host": result.host,
    }


def save_trial(out: Path, result: TrialResult) -> None:
    """Write a trial's metrics.csv, then its result.json (the marker of a finished trial)."""
    folder = _trial_dir(out, result.spec)
    _write_metrics(folder / "metrics.csv", result.eval_rows + result.train_rows)
    atomic_write_json(folder / "result.json", _result_json(result))


def load_trial(out: Path, spec: TrialSpec) -> TrialResult | None:
    """The finished result of ``spec`` in ``out``, or None (absent, failed, other spec, unreadable)."""
    folder = _trial_dir(out, spec)
    try:
        data = json.loads((folder / "result.json").read_text())
        if data.get("status") != "ok" or data.get("fingerprint") != spec.fingerprint():
            return None
        evals, trains = _read_metrics(folder / "metrics.csv")
    except (OSError, ValueError, KeyError):
        return None
    return TrialResult(
        spec=spec, status="ok", timesteps=int(data["timesteps"]),
        final_eval_mean=float(data["final_eval_mean"]), final_eval_std=float(data["final_eval_std"]),
        eval_rows=evals, train_rows=trains, wall_time_s=float(data["wall_time_s"]),
        train_time_s=float(data["train_time_s"]), host=str(data.get("host", "")),
    )


@dataclass
class ExperimentResult:
    """What :func:`compare` / :func:`run_experiment` return.

    :ivar out: the output folder.
    :ivar results: one :class:`TrialResult` per spec, in spec order.
    :ivar rows: the rows of results.csv.
    :ivar summary: one row per env x agent x config (the rows of summary.md / summary.json).
    :ivar files: paths of results.csv, summary.md, summary.json, curves.png.
    :ivar reused: trials taken from an earlier run in ``out``.
    """

    out: Path
    results: list[TrialResult]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    reused: int = 0
    aggregate: dict[str, Any] | None = None

    @property
    def failed(self) -> list[TrialResult]:
        return [r for r in self.results if r.status != "ok"]


class _Progress:
    """The bar of a compare or sweep: trials done of the total, how many run now, elapsed, ETA."""

    def __init__(self, enabled: bool | None, title: str, total: int, done: int, slots: int) -> None:
        from rlkit.progress import new_progress, wanted

        self.bar = None
        self.total, self.done, self.slots = total, done, max(1, slots)
        if not wanted(enabled) or total == done:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = new_progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[running]} running"), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn())
        self.task = self.bar.add_task(f"{title}: trials", total=total, completed=done,
                                      running=self._running())
        self.bar.start()

    def _running(self) -> int:
        return min(self.slots, self.total - self.done)

    def advance(self, text: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=1, running=self._running())
            self.bar.console.print(text, highlight=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_experiment(
    specs: Sequence[TrialSpec],
    out: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    ship_code: bool = False,
    thresholds: dict[str, float | None] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: bool | None = False,
    title: str = "compare",
    rank: bool = False,
    refs: dict[str, dict[str, float]] | None = None,
) -> ExperimentResult:
    """Run ``specs`` (skipping those already finished in ``out``) and write every output file.

    :param specs: the trials, in the order of the output files. They are submitted seed by seed
        (every agent's and configuration's seed 0, then seed 1, ...), so that a change in the
        machine's load while the trials run falls on all of them alike, not on whichever agent's
        trials happen to run then.
    :param out: output folder (created).
    :param backend: "local" or "ray".
    :param workers: local processes / local Ray CPUs.
    :param ray_address: Ray cluster to join.
    :param ship_code: Ray: send the local rlkit package to the workers.
    :param thresholds: reward threshold per env id (None: not defined).
    :param params: per config_id, the hyperparameters that define it (sweeps).
    :param progress: show a progress bar.
    :param title: first line of summary.md.
    :param rank: order the summary best first (see :func:`rank_summary`), as a sweep does.
    :param refs: per env ``{"random": r, "target": t}``: the normalisation of the aggregate across
        envs (None: no aggregate).
    """
    out = Path(out)
    ids = [s.trial_id for s in specs]
    if len(set(ids)) != len(ids):
        raise RlkitError("two trials share one id (repeated seed, agent or env?)")
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, TrialResult] = {}
    for spec in specs:
        previous = load_trial(out, spec)
        if previous is not None:
            done[spec.trial_id] = previous
    reused = len(done)
    todo = sorted((s for s in specs if s.trial_id not in done), key=lambda s: s.seed)  # stable
    if todo:
        executor = make_executor(backend, workers=workers, ray_address=ray_address, ship_code=ship_code)
        bar = _Progress(progress, title, len(specs), reused, getattr(executor, "workers", None) or 1)
        try:
            for result in executor.results(todo):
                save_trial(out, result)
                done[result.spec.trial_id] = result
                final = "" if result.status != "ok" else f" final {result.final_eval_mean:.1f}"
                bar.advance(f"{result.spec.trial_id}: {result.status}{final}")
        finally:
            bar.close()
    results = [done[s.trial_id] for s in specs]
    thresholds = thresholds or {}
    params = params or {}
    rows = [_result_row(r, thresholds.get(r.spec.env_id), params.get(r.spec.config_id, {})) for r in results]
    summary = summarize(results, thresholds, params)
    if rank:
        summary = rank_summary(summary)
    agg = aggregate(results, refs) if refs else None
    files = write_outputs(out, results, rows, summary, thresholds, title=title, aggregate=agg, refs=refs)
    return ExperimentResult(out=out, results=results, rows=rows, summary=summary, files=files, reused=reused,
                            aggregate=agg)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _first_reach(result: TrialResult, threshold: float | None) -> dict[str, Any] | None:
    if threshold is None or result.status != "ok":
        return None
    for row in result.eval_rows:
        if row["return_mean"] >= threshold:
            return row
    return None


def _result_row(result: TrialResult, threshold: float | None, params: dict[str, Any]) -> dict[str, Any]:
    spec = result.spec
    ok = result.status == "ok"
    reach = _first_reach(result, threshold)
    train_returns = [r["return_mean"] for r in result.train_rows]
    return {
        "trial_id": spec.trial_id, "env": spec.env_id, "agent": spec.agent, "config_id": spec.config_id,
        "params": json.dumps(params, sort_keys=True) if params else "", "seed": spec.seed,
        "status": result.status, "error": result.error, "timesteps": result.timesteps if ok else "",
        "final_eval_mean": result.final_eval_mean if ok else "",
        "final_eval_std": result.final_eval_std if ok else "",
        "best_eval_mean": max(r["return_mean"] for r in result.eval_rows) if ok else "",
        "reward_threshold": "" if threshold is None else threshold,
        "steps_to_threshold": reach["timesteps"] if reach else "",
        "train_episodes": len(train_returns) if ok else "",
        "train_return_last10": float(np.mean(train_returns[-10:])) if ok and train_returns else "",
        "wall_time_s": result.wall_time_s, "train_time_s": result.train_time_s if ok else "",
        "time_to_threshold_s": reach["train_time_s"] if reach else "",
        "steps_per_s": result.steps_per_s if ok else "", "host": result.host,
    }


def _median_censored(values: list[float]) -> float | None:
    """Median where ``inf`` marks 'not reached'; None if the median itself is not reached."""
    if not values:
        return None
    m = float(np.median(np.asarray(values, dtype=np.float64)))
    return None if math.isinf(m) or math.isnan(m) else m


def summarize(results: Sequence[TrialResult], thresholds: dict[str, float | None],
              params: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per env x agent x config: statistics over its seeds (failed seeds counted apart).

    Keys: env, agent, config_id, params, seeds, ok, failed, budget, final_mean, ci_low, ci_high,
    iqm, reward_threshold, reached, steps_to_threshold, time_to_threshold_s, steps_per_s, errors.
    Steps (time) to threshold is the median over seeds counting a seed that never reached it as
    infinite, so it is None ("not reached") unless more than half the seeds got there (2 of 4 is
    not enough: the median of 200, 300, inf, inf is inf).
    """
    params = params or {}
    groups: dict[tuple[str, str, str], list[TrialResult]] = {}
    for r in results:
        groups.setdefault((r.spec.env_id, r.spec.agent, r.spec.config_id), []).append(r)
    rows = []
    for (env, agent, config_id), group in groups.items():
        ok = [r for r in group if r.status == "ok"]
        threshold = thresholds.get(env)
        row: dict[str, Any] = {
            "env": env, "agent": agent, "config_id": config_id, "params": params.get(config_id, {}),
            "seeds": len(group), "ok": len(ok), "failed": len(group) - len(ok),
            "budget": group[0].spec.total_timesteps, "final_mean": None, "ci_low": None, "ci_high": None,
            "iqm": None, "min": None, "max": None, "ci_is_95": False,
            "reward_threshold": threshold, "reached": 0, "steps_to_threshold": None,
            "time_to_threshold_s": None, "steps_per_s": None,
            "errors": sorted({r.error for r in group if r.status != "ok"}),
        }
        if ok:
            finals = np.array([r.final_eval_mean for r in ok])
            ci = bootstrap_ci(finals, seed=0)
            reaches = [_first_reach(r, threshold) for r in ok]
            row.update(
                final_mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, iqm=float(iqm(finals)),
                min=float(finals.min()), max=float(finals.max()), ci_is_95=len(ok) >= MIN_SEEDS_FOR_CI,
                reached=sum(x is not None for x in reaches) if threshold is not None else 0,
                steps_per_s=float(np.mean([r.steps_per_s for r in ok])),
            )
            if threshold is not None:
                row["steps_to_threshold"] = _median_censored(
                    [x["timesteps"] if x else math.inf for x in reaches])
                row["time_to_threshold_s"] = _median_censored(
                    [x["train_time_s"] if x else math.inf for x in reaches])
        rows.append(row)
    return rows


def rank_summary(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows best first (highest mean final return; ties: higher CI low), each with a
    ``rank``; groups where every seed failed come last."""

    def key(row: dict[str, Any]) -> tuple:
        if row["final_mean"] is None:
            return (1, 0.0, 0.0, row["config_id"])
        return (0, -row["final_mean"], -row["ci_low"], row["config_id"])

    ranked = sorted((dict(r) for r in summary), key=key)
    for i, row in enumerate(ranked, 1):
        row["rank"] = i
    return ranked


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


def summary_table(summary: Sequence[dict[str, Any]], *,
                  with_params: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of the summary (used by summary.md and the CLI)."""
    ranked = bool(summary) and "rank" in summary[0]
    headers = (["rank"] if ranked else []) + ["env", "agent"]
    headers += (["config", "params"] if with_params else []) + [
        "seeds ok", "final eval mean [95% CI]", "IQM", "steps to threshold", "time to threshold",
        "steps/s"]
    cells = []
    for row in summary:
        threshold = row["reward_threshold"]
        if row["ok"] == 0:
            mean, steps, seconds = "failed", "-", "-"
        else:
            if row["ok"] < MIN_SEEDS_FOR_CI:
                mean = (f"{_fmt(row['final_mean'])} range [{_fmt(row['min'])}, {_fmt(row['max'])}] "
                        f"(n<{MIN_SEEDS_FOR_CI})")
            else:
                mean = f"{_fmt(row['final_mean'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
            if threshold is None:
                steps, seconds = "no threshold", "-"
            elif row["steps_to_threshold"] is None:
                steps, seconds = f"not reached ({row['reached']}/{row['ok']})", "-"
            else:
                steps = f"{row['steps_to_threshold']:,.0f} ({row['reached']}/{row['ok']})"
                seconds = f"{row['time_to_threshold_s']:.1f} s"
        params = " ".join(f"{k}={json.dumps(v)}" for k, v in row["params"].items()) if row["params"] else "-"
        cell = ([str(row["rank"])] if ranked else []) + [row["env"], row["agent"]]
        cell += [row["config_id"], params] if with_params else []
        cell += [f"{row['ok']}/{row['seeds']}", mean, _fmt(row["iqm"]), steps, seconds,
                 _fmt(row["steps_per_s"], 0)]
        cells.append(cell)
    return headers, cells


def _markdown(headers: list[str], cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def summary_markdown(results: Sequence[TrialResult], summary: Sequence[dict[str, Any]],
                     thresholds: dict[str, float | None], *, title: str = "compare",
                     aggregate: dict[str, Any] | None = None) -> str:
    """The text of summary.md: the table, the protocol, failures."""
    with_params = any(row["params"] for row in summary)
    headers, cells = summary_table(summary, with_params=with_params)
    first = results[0].spec if results else None
    budgets = sorted({(r.spec.env_id, r.spec.agent, r.spec.total_timesteps) for r in results})
    lines = [f"# {title}", "", _markdown(headers, cells), ""]
    if any(0 < row["ok"] < MIN_SEEDS_FOR_CI for row in summary):
        lines += [f"**Warning**: rows with fewer than {MIN_SEEDS_FOR_CI} seeds show the range of their seeds "
                  "(min, max), not a 95% confidence interval: so few runs cannot support one.", ""]
    if aggregate:
        lines += aggregate_markdown(aggregate)
    if first is not None:
        lines += [
            "## Protocol",
            "",
            f"- Evaluation before training, every {first.eval_every:,} environment steps (counted over all "
            f"training envs) and at the end: {first.eval_episodes} episodes, deterministic actions, on "
            "separate env instances; episode i of seed s starts from "
            f"`reset(seed={EVAL_SEED_BASE:,} + 1000*s + i)` (the same start states for every agent).",
            "- Final eval mean: the last evaluation of each seed; 95% CI: percentile bootstrap over seeds "
            "(10,000 resamples); IQM: mean of the middle 50% of seeds (scipy's trim_mean 0.25).",
            "- Steps / time to threshold: first evaluation whose mean reaches the env's "
            "`reward_threshold` or, for an env without one, its `--target` ("
            + ", ".join(f"{env}: {_fmt(t)}" for env, t in sorted(thresholds.items(), key=lambda kv: kv[0]))
            + "); median over seeds, a seed that never reached it counting as infinite, (k/n) seeds "
            "reached it. Time is training time (the clock stops during evaluations).",
            "- steps/s: environment steps per second of training time, mean over seeds.",
            "- Budgets (env steps): "
            + ", ".join(f"{agent} on {env} {b:,}" for env, agent, b in budgets) + ".",
            "",
        ]
    failed = [r for r in results if r.status != "ok"]
    if failed:
        lines += ["## Failed trials", ""] + [f"- `{r.spec.trial_id}`: {r.error}" for r in failed] + [""]
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_outputs(out: Path, results: Sequence[TrialResult], rows: list[dict[str, Any]],
                  summary: list[dict[str, Any]], thresholds: dict[str, float | None], *,
                  title: str = "compare", aggregate: dict[str, Any] | None = None,
                  refs: dict[str, dict[str, float]] | None = None) -> dict[str, Path]:
    """Write results.csv, summary.md, summary.json, curves.png (and profiles.png) into ``out``."""
    files = {"results": out / "results.csv", "summary_md": out / "summary.md",
             "summary_json": out / "summary.json", "curves": out / "curves.png"}
    _write_csv(files["results"], rows, RESULT_COLUMNS + TIMING_COLUMNS)
    atomic_write_text(files["summary_md"], summary_markdown(results, summary, thresholds, title=title,
                                                            aggregate=aggregate))
    atomic_write_json(files["summary_json"], {"summary": summary, "aggregate": aggregate})
    plot_compare(results, files["curves"], thresholds)
    if aggregate and refs and len(refs) > 1 and plot_profiles(results, refs, out / "profiles.png"):
        files["profiles"] = out / "profiles.png"
    return files


# ---------------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------------


def _curve_over_steps(group: Sequence[TrialResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% CI over seeds at each evaluation point every seed has."""
    points = sorted(set.intersection(*[{r["eval_point"] for r in t.eval_rows} for t in group]))
    values = np.array([[next(r["return_mean"] for r in t.eval_rows if r["eval_point"] == p) for t in group]
                       for p in points])
    steps = np.array([np.mean([next(r["timesteps"] for r in t.eval_rows if r["eval_point"] == p)
                               for t in group]) for p in points])
    est, low, high = bootstrap_ci_columns(values, seed=0, n_resamples=2000)
    return steps, est, low, high


def _curve_over_time(group: Sequence[TrialResult]) -> tuple[np.ndarray, ...]:
    """Each seed's last evaluation at time t (a step function), then mean and CI over seeds, at
    every time one of the seeds evaluated."""
    grid = np.unique([r["train_time_s"] for t in group for r in t.eval_rows])
    values = np.empty((len(grid), len(group)))
    for j, t in enumerate(group):
        times = np.array([r["train_time_s"] for r in t.eval_rows])
        rets = np.array([r["return_mean"] for r in t.eval_rows])
        idx = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, len(times) - 1)
        values[:, j] = rets[idx]
    est, low, high = bootstrap_ci_columns(values, seed=0, n_resamples=2000)
    return grid, est, low, high


def plot_compare(results: Sequence[TrialResult], path: str | Path,
                 thresholds: dict[str, float | None] | None = None) -> Path | None:
    """curves.png: per env, evaluation return (mean over seeds, 95% bootstrap CI band) against
    environment steps (left) and training wall time (right). Returns None if nothing finished."""
    ok = [r for r in results if r.status == "ok" and r.eval_rows]
    if not ok:
        return None
    from rlkit.plotting import new_figure  # never pyplot: a notebook keeps its inline backend

    thresholds = thresholds or {}
    envs = list(dict.fromkeys(r.spec.env_id for r in ok))
    fig = new_figure((12, 4.2 * len(envs)))
    axes = fig.subplots(len(envs), 2, squeeze=False)
    for i, env in enumerate(envs):
        groups: dict[tuple[str, str], list[TrialResult]] = {}
        for r in ok:
            if r.spec.env_id == env:
                groups.setdefault((r.spec.agent, r.spec.config_id), []).append(r)
        ends = []
        for (agent, config_id), group in groups.items():
            label = agent if config_id == "default" else f"{agent} {config_id}"
            label += f" (n={len(group)})"
            for ax, curve, step in ((axes[i, 0], _curve_over_steps, None),
                                    (axes[i, 1], _curve_over_time, "post")):  # over time: a step function
                x, est, low, high = curve(group)
                (line,) = ax.plot(x, est, label=label, drawstyle="steps-post" if step else "default")
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0, step=step)
            ends.append(x[-1])
        time_label = "training wall time (s)"
        if min(ends) > 0 and max(ends) / min(ends) > 10:  # agents 10x apart in speed: log scale
            axes[i, 1].set_xscale("symlog", linthresh=min(ends) / 10)
            time_label = "training wall time (s, log scale above 1/10 of the fastest run)"
        for ax, xlabel in ((axes[i, 0], "environment steps"), (axes[i, 1], time_label)):
            if thresholds.get(env) is not None:
                ax.axhline(thresholds[env], color="grey", linestyle="--", linewidth=1,
                           label="reward threshold")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("evaluation return")
            ax.set_title(f"{env}: mean and 95% CI over seeds")
            ax.grid(alpha=0.3)
        axes[i, 0].legend(fontsize="small", loc="best")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    return path


# ---------------------------------------------------------------------------------------------
# compare()
# ---------------------------------------------------------------------------------------------


def resolve_agent_config(agent: str, env: EnvInfo, overrides: dict[str, Any]) -> dict[str, Any]:
    """Preset of ``agent`` for the env with ``overrides`` applied, checked (RlkitError if bad)."""
    config = apply_overrides(default_config(agent, env.env_id), overrides)
    check_config(agent, config, action_space=env.action_space, observation_space=env.observation_space)
    return config


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``5`` -> [0, 1, 2, 3, 4]; a sequence is used as given (must be distinct, >= 0)."""
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise RlkitError(f"--seeds must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out) or min(out) < 0:
        raise RlkitError(f"seeds must be distinct integers >= 0, got {list(seeds)}", where="--seeds")
    return out


def default_eval_every(budgets: Sequence[int]) -> int:
    """One evaluation grid per env: a tenth of the smallest budget of the agents compared."""
    return max(1, min(budgets) // 10)


def default_out(kind: str, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / kind / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{stamp}"


def compare(
    envs: Sequence[str],
    agents: Sequence[str],
    *,
    seeds: int | Sequence[int] = 5,
    total_timesteps: int | None = None,
    eval_episodes: int = 10,
    eval_every: int | None = None,
    workers: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    ship_code: bool = False,
    out: str | Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: bool | None = False,
    targets: dict[str, float] | None = None,
    agent_seeds: dict[str, int] | None = None,
) -> ExperimentResult:
    """Train and evaluate every agent on every env with every seed, under one protocol.

    :param envs: Gymnasium env ids.
    :param agents: agent names: "reinforce", "sb3-ppo", "sb3-a2c", "sb3-dqn".
    :param seeds: number of seeds (0..N-1) or the seeds themselves.
    :param total_timesteps: training budget of every agent (default: each preset's own budget).
    :param eval_episodes: episodes per evaluation.
    :param eval_every: env steps between evaluations (default: a tenth of the env's smallest budget).
    :param workers: local processes (or local Ray CPUs); default: the CPU cores.
    :param backend: "local" or "ray".
    :param ray_address: join this Ray cluster (else ``RAY_ADDRESS``, else a local Ray).
    :param ship_code: Ray: send this rlkit package to the cluster's workers.
    :param out: output folder (default ``runs/compare/<envs>-<time>``); re-use it to resume.
    :param overrides: ``{agent: {key: value}}`` (see :func:`parse_sets`).
    :param progress: show a progress bar (None: on a terminal or in a notebook).
    :param targets: per env, the score that normalises to 1 in the aggregate (default: the env's
        reward threshold; needed for an env without one when several envs are compared). For an
        env without a reward threshold the target is also the threshold of steps / time to
        threshold (Pendulum-v1: -200 is the usual "solved").
    :param agent_seeds: ``{agent: n}``: run only the first ``n`` of ``seeds`` for that agent (a
        budget cut for an expensive baseline; the summary shows each agent's own seed count).
    :return: :class:`ExperimentResult`.

    Example::

        >>> result = compare(["CartPole-v1"], ["reinforce", "sb3-ppo"], seeds=3,
        ...                  total_timesteps=20_000, out="runs/compare/cartpole")  # doctest: +SKIP
        >>> result.files["summary_md"].read_text()  # doctest: +SKIP
    """
    envs = list(dict.fromkeys(e.strip() for e in envs if e.strip()))
    agents = list(dict.fromkeys(a.strip() for a in agents if a.strip()))
    if not envs:
        raise RlkitError("no env given", where="--env")
    if not agents:
        raise RlkitError("no agent given", where="--agents")
    for agent in agents:
        check_agent(agent)
    overrides = overrides or {}
    for agent in overrides:
        if agent not in agents:
            raise RlkitError(f"override for {agent!r}, which is not in --agents", where="--set")
    check_protocol(eval_episodes, eval_every, total_timesteps)
    seeds = seed_list(seeds)
    agent_seeds = dict(agent_seeds or {})
    for agent, n in agent_seeds.items():
        if agent not in agents:
            raise RlkitError(f"a seed count for {agent!r}, which is not in --agents", where="agent_seeds")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise RlkitError(f"the seed count of {agent!r} must be an integer >= 1, got {n!r}",
                             where="agent_seeds")
    make_executor(backend, workers=workers, ray_address=ray_address)  # bad backend / no Ray: fail now

    specs, thresholds = [], {}
    for env_id in envs:
        info = env_info(env_id)
        thresholds[env_id] = info.reward_threshold
        configs = {a: resolve_agent_config(a, info, overrides.get(a, {})) for a in agents}
        budgets = {a: total_timesteps or budget_of(configs[a]) for a in agents}
        every = eval_every or default_eval_every(list(budgets.values()))
        for agent in agents:
            for seed in seeds[:agent_seeds.get(agent, len(seeds))]:
                specs.append(TrialSpec(agent, env_id, seed, budgets[agent], every, eval_episodes,
                                       configs[agent]))
    targets = dict(targets or {})
    for env_id in targets:
        if env_id not in envs:
            raise RlkitError(f"a target for {env_id}, which is not compared", where="--target")
    # an env without a reward threshold takes its target as the threshold of steps/time to threshold
    time_thresholds = {e: (targets.get(e) if t is None else t) for e, t in thresholds.items()}
    if len(envs) > 1:
        refs = references(envs, thresholds, targets)  # fails before any trial runs
    else:
        has = targets.get(envs[0], thresholds.get(envs[0])) is not None
        refs = references(envs, thresholds, targets) if has else None
    out = Path(out) if out is not None else default_out("compare", "-".join(envs))
    return run_experiment(specs, out, backend=backend, workers=workers, ray_address=ray_address,
                          ship_code=ship_code, thresholds=time_thresholds, progress=progress,
                          title="rlkit compare: " + ", ".join(envs), refs=refs)
