"""The classic-control suite: rlkit's REINFORCE beside SB3's PPO / A2C / DQN (rl-zoo presets), and
executor scaling.

Part 1 runs one ``rlkit compare`` per env of the suite (``--envs``; default CartPole-v1,
Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0, Pendulum-v1, LunarLander-v3,
LunarLanderContinuous-v3) with 10 seeds on CartPole and 5 elsewhere, every agent at its own
preset budget (SB3 with rl-zoo's settings, VecNormalize where the zoo uses it), DQN only where the
actions are discrete, and then the aggregate across the envs run (normalised scores, rliable's
definitions; Pendulum's target is -200). It writes the tables, a verdict per env (does REINFORCE
reach every threshold PPO reaches, sooner in median wall time, and end at least as well as the
best SB3 baseline or within its interval?) and ``docs/compare-classic.png`` into section "compare"
of docs/benchmarks.md. ``--quick``: 10k steps, 3 seeds.

Part 2 times the local process pool: the same 4 trials with 1 worker and with 2 workers
(target: 2 workers take <= 0.6x the time of 1 on a 2-core machine). Wall times include starting
the worker processes.

    python benchmarks/compare.py                          # the whole suite (hours on 2 cores)
    python benchmarks/compare.py --envs CartPole-v1,Acrobot-v1
    python benchmarks/compare.py --quick                  # small budgets (minutes)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOCS, machine, markdown_table, read_section, write_section  # noqa: E402

from rlkit.experiments.aggregate import aggregate, aggregate_markdown, plot_profiles, references  # noqa: E402
from rlkit.experiments.compare import compare, env_info, plot_compare, summary_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ["reinforce", "sb3-ppo", "sb3-a2c", "sb3-dqn"]
SUITE = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1",
         "LunarLander-v3", "LunarLanderContinuous-v3"]
TARGETS = {"Pendulum-v1": -200.0}  # Gymnasium sets no threshold; -200 is the usual "solved"
EVAL_EPISODES = 10
REASONS = {"LunarLanderContinuous-v3:sb3-a2c":
           "sb3-a2c (rl-zoo's budget is 5M steps, about 100 min of a core per seed here)"}


def _counts(text: str) -> dict[str, int]:
    """``"A=3,B=5"`` -> ``{"A": 3, "B": 5}``."""
    return {k: int(v) for k, v in (item.rsplit("=", 1) for item in text.split(",") if item)}


def _seeds(env: str, args: argparse.Namespace) -> int:
    if env in args.env_seeds:
        return args.env_seeds[env]
    if args.seeds:
        return args.seeds
    if args.quick:
        return 3
    return 10 if env == "CartPole-v1" else 5


def verdict(rows: list[dict], threshold: float | None) -> str:
    """Does reinforce win on this env (see the module docstring)? One line."""
    by = {r["agent"]: r for r in rows if r["ok"]}
    me = by.get("reinforce")
    if me is None:
        return "reinforce failed"
    sb3 = [r for a, r in by.items() if a != "reinforce"]
    words = []
    ppo = by.get("sb3-ppo")
    if threshold is not None and ppo is not None and ppo["time_to_threshold_s"] is not None:
        mine = me["time_to_threshold_s"]
        if mine is None:
            words.append("does not reach the threshold PPO reaches")
        else:
            theirs = ppo["time_to_threshold_s"]
            words.append(f"reaches the threshold {'sooner' if mine < theirs else 'later'} "
                         f"than PPO ({mine:.1f} s vs {theirs:.1f} s)")
    if sb3:
        best = max(sb3, key=lambda r: r["final_mean"])
        low = best["ci_low"] if best["ci_is_95"] else best["min"]
        ok = me["final_mean"] >= best["final_mean"] or me["final_mean"] >= low
        words.append(f"final {me['final_mean']:.1f} vs best SB3 ({best['agent']}) {best['final_mean']:.1f}: "
                     + ("at least as good or within its interval" if ok else "worse"))
    return "; ".join(words)


def after_solving(results: list, env: str, threshold: float | None, agent: str = "reinforce") -> str:
    """How the evaluations behave once ``agent`` first reaches the threshold on ``env``: the
    lowest point of the mean-over-seeds curve after the first evaluation point where that mean
    reaches the threshold, and the share of each seed's later evaluations at or above it."""
    import numpy as np

    runs = [r for r in results if r.status == "ok" and r.spec.agent == agent and r.spec.env_id == env]
    if threshold is None or not runs:
        return ""
    points = sorted({row["eval_point"] for r in runs for row in r.eval_rows})
    means = []
    for point in points:
        vals = [row["return_mean"] for r in runs for row in r.eval_rows if row["eval_point"] == point]
        means.append(float(np.mean(vals)) if len(vals) == len(runs) else float("nan"))
    first = next((i for i, m in enumerate(means) if m >= threshold), None)
    if first is None:
        return f"{agent}'s mean evaluation over seeds never reaches {threshold:g}."
    later = [m for m in means[first + 1:] if m == m]
    share = []
    for r in runs:
        vals = [row["return_mean"] for row in r.eval_rows]
        k = next((i for i, v in enumerate(vals) if v >= threshold), None)
        if k is not None:
            share += [v >= threshold for v in vals[k + 1:]]
    low = f"{min(later):.1f}" if later else "no later point"
    return (f"After {agent}'s mean evaluation over the {len(runs)} seeds first reaches {threshold:g} "
            f"(at {points[first]:,} steps), its lowest point is {low}; of each seed's evaluations after "
            f"its own first reach, {100 * np.mean(share):.1f}% are at or above {threshold:g} "
            f"({len(share)} evaluations).") if share else ""


def run_compare(args: argparse.Namespace) -> tuple[str, object]:
    kwargs = ({"total_timesteps": 10_000, "eval_every": 1_000} if args.quick else {})
    sections, all_results, thresholds, verdicts = [], [], {}, []
    t0 = time.perf_counter()
    for env in args.envs:
        info = env_info(env)
        discrete = hasattr(info.action_space, "n")
        agents = [a for a in args.agents if (discrete or a != "sb3-dqn") and (env, a) not in args.skip]
        skipped = [a for a in args.agents if (env, a) in args.skip]
        out = Path(args.out) / (env + ("-quick" if args.quick else ""))
        seeds = _seeds(env, args)
        # a fixed evaluation grid per env, so that trials finished by an earlier run are reused
        every = kwargs.get("eval_every") or args.eval_every.get(env, 10_000)
        targets = {k: v for k, v in TARGETS.items() if k == env}
        result = compare([env], agents, seeds=seeds, workers=args.workers, out=out,
                         eval_episodes=EVAL_EPISODES, eval_every=every, progress=None, targets=targets,
                         agent_seeds={a: n for a, n in args.agent_seeds.items() if a in agents},
                         **{k: v for k, v in kwargs.items() if k != "eval_every"})
        thresholds[env] = info.reward_threshold if info.reward_threshold is not None else TARGETS.get(env)
        all_results += result.results
        seed_text = ", ".join(f"{row['agent']} {row['seeds']}" for row in result.summary)
        headers, cells = summary_table(result.summary)
        print(markdown_table(headers, cells))
        line = verdict(result.summary, thresholds[env])
        verdicts.append([env, line])
        stable = after_solving(result.results, env, thresholds[env])
        if stable:
            print(stable)
        budgets = ", ".join(f"{row['agent']} {row['budget']:,}" for row in result.summary)
        sections.append(f"### {env}\n\nSeeds: {seed_text}; budgets (env steps): {budgets}; evaluation every "
                        f"{every:,} steps on {EVAL_EPISODES} fixed episodes.\n\n"
                        f"{markdown_table(headers, cells)}\n\nVerdict: {line}."
                        + (f" {stable}" if stable else "")
                        + (f" Not run here: {', '.join(args.skip[(env, a)] for a in skipped)}." if skipped
                           else "") + "\n")
        for r in result.failed:
            sections.append(f"FAILED `{r.spec.trial_id}`: {r.error}")
    seconds = time.perf_counter() - t0
    png = ROOT / "docs" / ("compare-classic-quick.png" if args.quick else "compare-classic.png")
    plot_compare(all_results, png, thresholds)
    text = [f"Envs: {', '.join(args.envs)}; {args.workers} worker processes; {seconds:,.0f} s for this run "
            "(trials finished by an earlier run in the same folders are reused). Same protocol for every "
            "agent; CI = 95% percentile bootstrap over seeds (a range below 5 seeds); time and steps/s are "
            "training time (evaluation excluded).", "", markdown_table(["env", "verdict"], verdicts), ""]
    text += sections
    if len(args.envs) > 1:
        refs = references(args.envs, thresholds, TARGETS)
        agg = aggregate(all_results, refs)
        text += [""] + aggregate_markdown(agg)
        prof = ROOT / "docs" / ("compare-profiles-quick.png" if args.quick else "compare-profiles.png")
        if plot_profiles(all_results, refs, prof):
            text.append(f"![performance profiles]({prof.name})")
        # an agent skipped on some env drops out of the aggregate above: aggregate again over the envs
        # where every agent ran, so that it still has a row
        full = [e for e in args.envs if e not in {env for env, _ in args.skip}]
        if args.skip and len(full) > 1:
            agg = aggregate(all_results, {e: refs[e] for e in full})
            text += ["", f"Every agent ran on {len(full)} of the {len(args.envs)} envs: the aggregate "
                         "over those.", ""] + aggregate_markdown(agg)
    text += ["", f"![learning curves]({png.name})"]
    return "\n".join(text), all_results


def run_scaling(args: argparse.Namespace) -> tuple[str, float]:
    budget = 4_000 if args.quick else 30_000
    with tempfile.TemporaryDirectory() as tmp:  # start the forkserver (imports) outside the timings
        compare(["CartPole-v1"], [args.scaling_agent], seeds=1, total_timesteps=64, eval_every=64,
                eval_episodes=1, workers=1, out=Path(tmp) / "warm")
    load_before = os.getloadavg()[0]
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeat):  # 1 and 2 workers alternate, so that a load spike hits both
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                result = compare(["CartPole-v1"], [args.scaling_agent], seeds=4, total_timesteps=budget,
                                 eval_every=budget, eval_episodes=2, workers=workers, out=Path(tmp) / "out")
                times[workers].append(time.perf_counter() - t0)
                assert not result.failed, [r.error for r in result.failed]
            print(f"scaling: 4 trials of {args.scaling_agent}, {budget:,} steps each, {workers} worker(s): "
                  f"{times[workers][-1]:.1f} s")
    best = {w: min(t) for w, t in times.items()}
    ratio = best[2] / best[1]
    verdict = "meets" if ratio <= 0.6 else "misses"
    table = markdown_table(
        ["workers", "4 trials, best (s)", "all runs (s)", "ratio to 1 worker"],
        [[w, f"{best[w]:.1f}", ", ".join(f"{t:.1f}" for t in times[w]), f"{best[w] / best[1]:.2f}"]
         for w in (1, 2)])
    text = (f"Local executor scaling: 4 trials of {args.scaling_agent} on CartPole-v1 ({budget:,} steps each,"
            f" evaluation only at start and end), wall time including worker start-up, best of "
            f"{args.repeat} alternating runs; 1-minute load average {load_before:.2f} before and "
            f"{os.getloadavg()[0]:.2f} after on {os.cpu_count()} cores (a load above ~1 from other "
            f"programs leaves the two workers one core to share). Target <= 0.60: {verdict} it "
            f"({ratio:.2f}).\n\n{table}")
    return text, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (10k steps, 3 seeds)")
    parser.add_argument("--envs", default=",".join(SUITE), help="comma-separated envs (default: the suite)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per agent and env (default 10 on CartPole, 5 elsewhere; quick 3)")
    parser.add_argument("--env-seeds", default="", help="ENV=N,...: seeds per agent on these envs")
    parser.add_argument("--agent-seeds", default="",
                        help="AGENT=N,...: fewer seeds for these agents (a budget cut, said in the table)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the compare")
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agents")
    parser.add_argument("--scaling-agent", default="sb3-ppo", help="agent of the scaling runs")
    parser.add_argument("--repeat", type=int, default=3, help="scaling runs per worker count (best kept)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "compare"),
                        help="output folder: one compare folder per env (committed: its finished trials "
                             "are the evidence of the tables, and a later run reuses them)")
    parser.add_argument("--note", default="", help="a sentence about the conditions, added to the docs")
    parser.add_argument("--skip", default="",
                        help="ENV:AGENT,...: pairs not run (said in the env's section, with the reason "
                             "for sb3-a2c on LunarLanderContinuous-v3)")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    args.agents = [a for a in args.agents.split(",") if a]
    args.envs = [e for e in args.envs.split(",") if e]
    args.agent_seeds = _counts(args.agent_seeds)
    args.env_seeds = _counts(args.env_seeds)
    pairs = [item for item in args.skip.split(",") if item]
    bad = [item for item in pairs if item.count(":") != 1
           or item.split(":")[0] not in args.envs or item.split(":")[1] not in args.agents]
    if bad:
        parser.error(f"--skip: {', '.join(bad)} is not ENV:AGENT of --envs/--agents")
    args.skip = {tuple(item.split(":")): REASONS.get(item, item.split(":")[1]) for item in pairs}
    args.eval_every = {"CartPole-v1": 5_000, "Acrobot-v1": 10_000, "Pendulum-v1": 20_000,
                       "MountainCar-v0": 20_000, "LunarLander-v3": 20_000, "LunarLanderContinuous-v3": 20_000,
                       "MountainCarContinuous-v0": 5_000}
    title = "## Compare: REINFORCE vs SB3 on the classic-control suite\n\n"
    old_body = read_section("compare")
    scaling_line = re.compile(r"^Local executor scaling:.*$", re.M)
    if args.skip_compare:  # keep the measured compare as the page has it; only the scaling is new
        if not old_body.startswith(title):
            parser.error(f"--skip-compare: {DOCS} has no compare section to keep")
        parts = [scaling_line.sub("", old_body.removeprefix(title)).rstrip()]
    else:
        quick = " --quick" if args.quick else ""
        parts = [f"Machine: {machine()}. Run: `python benchmarks/compare.py{quick}`"
                 f" on {time.strftime('%Y-%m-%d')}; each trial runs with one torch thread."
                 + (f" {args.note}" if args.note else "")]
        text, _ = run_compare(args)
        parts.append(text)
    if not args.skip_scaling:
        text, _ = run_scaling(args)
        print(text)
        parts.append(text)
    else:  # keep the last measured scaling paragraph instead of dropping it from the page
        old = scaling_line.search(old_body)
        if old:
            kept = old.group(0).removesuffix(" (kept from an earlier run: --skip-scaling)")
            parts.append(kept + " (kept from an earlier run: --skip-scaling)")
    write_section("compare", title + "\n\n".join(parts))


if __name__ == "__main__":
    main()
