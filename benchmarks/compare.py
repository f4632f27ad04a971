"""CartPole-v1: rlkit's REINFORCE beside SB3's PPO / A2C / DQN (rl-zoo presets), and executor scaling.

Part 1 runs ``rlkit compare --env CartPole-v1 --agents reinforce,sb3-ppo,sb3-a2c,sb3-dqn`` with
5 seeds and each agent's own preset budget (``--quick``: 10k steps each, 3 seeds), copies the
curves to ``docs/compare-cartpole.png`` and the table into section "compare" of docs/benchmarks.md.

Part 2 times the local process pool: the same 4 trials with 1 worker and with 2 workers
(target: 2 workers take <= 0.6x the time of 1 on a 2-core machine). Wall times include starting
the worker processes.

    python benchmarks/compare.py            # full budgets (tens of minutes on 2 cores)
    python benchmarks/compare.py --quick    # small budgets (a few minutes)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, write_section  # noqa: E402

from rlkit.experiments.compare import compare, summary_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ["reinforce", "sb3-ppo", "sb3-a2c", "sb3-dqn"]


def run_compare(args: argparse.Namespace) -> tuple[str, object]:
    out = Path(args.out) / ("cartpole-quick" if args.quick else "cartpole")
    # a fixed evaluation grid (not "a tenth of the smallest budget"), so that trials finished by an
    # earlier run with other agents are reused
    kwargs = ({"total_timesteps": 10_000, "eval_every": 1_000, "eval_episodes": 5} if args.quick
              else {"eval_every": 5_000, "eval_episodes": 10})
    seeds = args.seeds or (3 if args.quick else 5)
    t0 = time.perf_counter()
    result = compare(["CartPole-v1"], args.agents, seeds=seeds, workers=args.workers, out=out,
                     progress=sys.stderr.isatty(), **kwargs)
    seconds = time.perf_counter() - t0
    headers, cells = summary_table(result.summary)
    print(markdown_table(headers, cells))
    for r in result.failed:
        print(f"FAILED {r.spec.trial_id}: {r.error}")
    png = ROOT / "docs" / ("compare-cartpole-quick.png" if args.quick else "compare-cartpole.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.files["curves"], png)
    budgets = ", ".join(f"{row['agent']} {row['budget']:,}" for row in result.summary)
    text = [
        f"CartPole-v1, {seeds} seeds per agent, budgets (env steps): {budgets}"
        + (" (`--quick`: small budgets, not the presets')" if args.quick else " (each preset's own)")
        + f". {args.workers} worker processes; {sum(r.wall_time_s for r in result.results):,.0f} s of"
        " trial wall time in all"
        + (f" ({result.reused} trials run earlier in the same folder, reused)" if result.reused
           else f", {seconds:,.0f} s for the whole compare") + ".",
        "Same protocol for every agent: deterministic evaluation every "
        f"{result.results[0].spec.eval_every:,} steps on {result.results[0].spec.eval_episodes} fixed-seed "
        "episodes; CI = 95% percentile bootstrap over seeds; time and steps/s are training time "
        "(evaluation excluded).",
        "",
        markdown_table(headers, cells),
        "",
        f"![CartPole-v1 learning curves]({png.name})",
    ]
    if result.failed:
        text += ["", "Failed trials: " + "; ".join(f"`{r.spec.trial_id}`: {r.error}" for r in result.failed)]
    return "\n".join(text), result


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
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (default 5, quick 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the compare")
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agents")
    parser.add_argument("--scaling-agent", default="sb3-ppo", help="agent of the scaling runs")
    parser.add_argument("--repeat", type=int, default=3, help="scaling runs per worker count (best kept)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-compare"),
                        help="output folder (re-run to resume an interrupted compare)")
    parser.add_argument("--note", default="", help="a sentence about the conditions, added to the docs")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    args.agents = [a for a in args.agents.split(",") if a]
    parts = [f"Machine: {machine()}. Run: `python benchmarks/compare.py{' --quick' if args.quick else ''}`"
             f" on {time.strftime('%Y-%m-%d')}; each trial runs with one torch thread."
             + (f" {args.note}" if args.note else "")]
    if not args.skip_compare:
        text, _ = run_compare(args)
        parts.append(text)
    if not args.skip_scaling:
        text, _ = run_scaling(args)
        print(text)
        parts.append(text)
    write_section("compare", "## Compare: REINFORCE vs SB3 on CartPole-v1\n\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
