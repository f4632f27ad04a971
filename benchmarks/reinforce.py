"""CartPole-v1: time to solve with rlkit's REINFORCE preset beside Stable-Baselines3 PPO (rl-zoo's tuned
CartPole settings), same machine, same run, same evaluation.

For every seed, each agent trains in its own fresh process (one after the other, never two at a time)
and is evaluated every ``--eval-every`` env steps with the clock paused: a screening evaluation of 10
deterministic episodes, and when that reaches 475 the real one, 100 deterministic episodes. "Time to
solve" is the training wall time (collection + updates, evaluation excluded) until the first
evaluation whose 100-episode mean is >= 475; "steps to solve" the env steps at that point. Each agent
then trains on to the end of its budget (rlkit: the preset's 200k steps; PPO: the zoo's 100k) and its
final model is evaluated over 100 deterministic episodes. Also measured: training throughput (env
steps per second of training), collection throughput (env steps per second inside collection, policy
inference included) and the process's peak resident memory.

    python benchmarks/reinforce.py              # 10 seeds (about 15 minutes on 2 quiet cores)
    python benchmarks/reinforce.py --quick      # 2 seeds, SB3 stopped once solved (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
PPO_ZOO = dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0)
PPO_ENVS, PPO_STEPS = 8, 100_000


class Judge:
    """Pausable training clock plus the periodic solve check (shared by both agents)."""

    def __init__(self, predictor, seed: int, eval_every: int) -> None:
        self.predictor, self.seed, self.every = predictor, seed, eval_every
        self.train_s, self.eval_s, self.t0 = 0.0, 0.0, None
        self.next = eval_every
        self.solved_steps = self.solved_s = None
        self.checks: list[tuple[int, float]] = []

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def pause(self) -> None:
        self.train_s += time.perf_counter() - self.t0

    def check(self, steps: int) -> bool:
        """Evaluate if an evaluation point was passed; True once solved."""
        if steps < self.next:
            return self.solved_steps is not None
        self.pause()
        t_eval = time.perf_counter()
        self.next = (steps // self.every + 1) * self.every
        if self.solved_steps is None:
            from rlkit.runs.evaluate import evaluate_policy

            ev = evaluate_policy(self.predictor(), ENV_ID, n_episodes=10, seed=self.seed + 7)
            if ev.mean >= THRESHOLD:
                ev = evaluate_policy(self.predictor(), ENV_ID, n_episodes=100, seed=self.seed + 1_000_003)
            self.checks.append((steps, round(ev.mean, 1)))
            if ev.episodes == 100 and ev.mean >= THRESHOLD:
                self.solved_steps, self.solved_s = steps, self.train_s
        self.eval_s += time.perf_counter() - t_eval
        self.start()
        return self.solved_steps is not None


def _final(predictor, seed: int) -> float:
    from rlkit.runs.evaluate import evaluate_policy

    return evaluate_policy(predictor, ENV_ID, n_episodes=100, seed=seed + 1_000_003).mean


def worker_rlkit(seed: int, eval_every: int, stop_when_solved: bool) -> dict:
    from rlkit.agents import Reinforce
    from rlkit.agents.presets import load_preset, split_preset

    policy, hp, total = split_preset(load_preset("reinforce", ENV_ID))
    agent = Reinforce(policy, ENV_ID, seed=seed, **hp)
    judge = Judge(lambda: agent, seed, eval_every)
    collect = {"s": 0.0, "steps": 0}
    inner = agent.collect

    def timed_collect():
        t, e = time.perf_counter(), judge.eval_s
        ro = inner()
        collect["s"] += time.perf_counter() - t - (judge.eval_s - e)
        collect["steps"] += ro.rewards.size
        return ro

    agent.collect = timed_collect
    judge.start()
    agent.learn(
        total,
        callback=lambda a, m: not (judge.check(a.num_timesteps) and stop_when_solved),
        progress_bar=False,
    )
    judge.pause()
    return {
        "agent": "rlkit REINFORCE",
        "seed": seed,
        "steps": agent.num_timesteps,
        "train_s": judge.train_s,
        "solved_steps": judge.solved_steps,
        "solved_s": judge.solved_s,
        "final": _final(agent, seed),
        "collect_sps": collect["steps"] / collect["s"],
        "checks": judge.checks,
        "threads": agent.config.torch_threads,
    }


def worker_sb3(seed: int, eval_every: int, stop_when_solved: bool, threads: int) -> dict:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from rlkit.experiments.sb3 import linear_schedule

    env = make_vec_env(ENV_ID, n_envs=PPO_ENVS, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        learning_rate=linear_schedule(0.001),
        clip_range=linear_schedule(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
        **PPO_ZOO,
    )
    judge = Judge(lambda: model, seed, eval_every)
    collect = {"s": 0.0, "steps": 0}
    inner = model.collect_rollouts

    def timed_collect(*args, **kwargs):
        t, n, e = time.perf_counter(), model.num_timesteps, judge.eval_s
        out = inner(*args, **kwargs)  # (evaluations run inside, from the callback: not counted)
        collect["s"] += time.perf_counter() - t - (judge.eval_s - e)
        collect["steps"] += model.num_timesteps - n
        return out

    model.collect_rollouts = timed_collect

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            return not (judge.check(self.num_timesteps) and stop_when_solved)

    judge.start()
    model.learn(PPO_STEPS, callback=Check())
    judge.pause()
    return {
        "agent": "SB3 PPO (rl-zoo)",
        "seed": seed,
        "steps": model.num_timesteps,
        "train_s": judge.train_s,
        "solved_steps": judge.solved_steps,
        "solved_s": judge.solved_s,
        "final": _final(model, seed),
        "collect_sps": collect["steps"] / collect["s"],
        "checks": judge.checks,
        "threads": torch.get_num_threads(),
    }


def run_worker(kind: str, seed: int, eval_every: int, stop: bool, sb3_threads: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--seed",
        str(seed),
        "--eval-every",
        str(eval_every),
        "--sb3-threads",
        str(sb3_threads),
    ]
    if stop:
        cmd.append("--stop-when-solved")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} seed {seed} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: list[float | None]) -> float:
    return statistics.median([float("inf") if v is None else v for v in values]) if values else float("nan")


def _f(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 seeds; stop each agent once solved")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 10, quick 2)")
    p.add_argument("--eval-every", type=int, default=10_000, help="env steps between solve checks")
    p.add_argument(
        "--sb3-threads",
        type=int,
        default=1,
        help="torch threads for SB3 (default 1, as rlkit's preset uses; 0 = torch's default)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="agent processes at a time (default 1; more only on a machine with spare cores)",
    )
    p.add_argument("--save", help="also save the raw results to this JSON file")
    p.add_argument("--load", help="render and write the section from results saved with --save (no runs)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    p.add_argument("--worker", choices=["rlkit", "sb3"], help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--stop-when-solved", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        if args.worker == "rlkit":
            res = worker_rlkit(args.seed, args.eval_every, args.stop_when_solved)
        else:
            res = worker_sb3(args.seed, args.eval_every, args.stop_when_solved, args.sb3_threads)
        res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return

    from _common import machine, markdown_table, write_section

    n = args.seeds or (2 if args.quick else 10)
    t0 = time.perf_counter()
    if args.load:
        saved = json.loads(Path(args.load).read_text())
        results, n, info = saved["results"], len(saved["results"]["rlkit"]), saved["info"]
    else:
        jobs = [(kind, seed) for seed in range(n) for kind in ("rlkit", "sb3")]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # each job is its own process
            done = list(
                pool.map(
                    lambda j: run_worker(j[0], j[1], args.eval_every, args.quick, args.sb3_threads), jobs
                )
            )
        results = {
            "rlkit": [r for r in done if r["agent"].startswith("rlkit")],
            "sb3": [r for r in done if not r["agent"].startswith("rlkit")],
        }
        info = {
            "machine": machine(),
            "jobs": args.jobs,
            "quick": args.quick,
            "eval_every": args.eval_every,
            "seconds": time.perf_counter() - t0,
        }
        if args.save:
            Path(args.save).write_text(json.dumps({"results": results, "info": info}))
    for kind in ("rlkit", "sb3"):
        for r in results[kind]:
            print(
                f"{r['agent']:>18} seed {r['seed']}: solved at {_f(r['solved_steps'], '{:,}')} steps / "
                f"{_f(r['solved_s'])} s; final {r['final']:.1f} after {r['steps']:,} steps "
                f"({r['train_s']:.1f} s); {r['collect_sps']:,.0f} collection steps/s; "
                f"{r['peak_mb']:.0f} MB",
                flush=True,
            )

    rows = []
    for seed in range(n):
        a, b = results["rlkit"][seed], results["sb3"][seed]
        rows.append(
            [
                seed,
                _f(a["solved_steps"], "{:,}"),
                _f(a["solved_s"]),
                f"{a['final']:.1f}",
                _f(b["solved_steps"], "{:,}"),
                _f(b["solved_s"]),
                f"{b['final']:.1f}",
            ]
        )
    per_seed = markdown_table(
        [
            "seed",
            "rlkit steps to solve",
            "rlkit s to solve",
            "rlkit final (200k)",
            "PPO steps to solve",
            "PPO s to solve",
            "PPO final" + (" (stopped when solved)" if info["quick"] else " (100k)"),
        ],
        rows,
    )
    summary = []
    for kind in ("rlkit", "sb3"):
        rs = results[kind]
        solved = sum(r["solved_s"] is not None for r in rs)
        finals = sum(r["final"] >= THRESHOLD for r in rs)
        med_s, med_steps = _median([r["solved_s"] for r in rs]), _median([r["solved_steps"] for r in rs])
        summary.append(
            [
                rs[0]["agent"],
                f"{solved}/{n}",
                f"{finals}/{n}",
                _f(med_s),
                _f(med_steps, "{:,.0f}"),
                f"{statistics.median(r['steps'] / r['train_s'] for r in rs):,.0f}",
                f"{statistics.median(r['collect_sps'] for r in rs):,.0f}",
                f"{max(r['peak_mb'] for r in rs):.0f}",
                str(rs[0]["threads"]),
            ]
        )
    med_a = _median([r["solved_s"] for r in results["rlkit"]])
    med_b = _median([r["solved_s"] for r in results["sb3"]])
    ratio = med_a / med_b if med_b not in (0.0, float("inf")) else float("nan")
    table = markdown_table(
        [
            "agent",
            "solved (>=475, 100 eps)",
            "final >= 475",
            "median s to solve",
            "median steps to solve",
            "train steps/s",
            "collection steps/s",
            "peak MB",
            "torch threads",
        ],
        summary,
    )
    ppo_full = statistics.median(r["train_s"] for r in results["sb3"])
    rlkit_full = statistics.median(r["train_s"] for r in results["rlkit"])
    verdict = (
        f"Median time to solve: rlkit {med_a:.1f} s, PPO {med_b:.1f} s -> ratio {ratio:.2f} (target <= 0.25)."
    )
    if not info["quick"]:
        verdict += (
            f" PPO's whole 100k-step training took a median {ppo_full:.1f} s (rlkit's median time to "
            f"solve is {med_a / ppo_full:.2f} of that); rlkit's whole 200k-step preset run took a median "
            f"{rlkit_full:.1f} s."
        )
    how = (
        f"Solve check every {info['eval_every']:,} env steps, training clock paused: 10 deterministic "
        "episodes, then 100 when those reach 475; solved = 100-episode mean >= 475. Times are training "
        "wall time (collection + updates). Peak MB = the process's peak RSS (torch included). torch "
        "threads: rlkit's preset runs torch on 1 thread (fastest for these tiny nets); SB3 gets the same "
        "by default (`--sb3-threads 0` leaves torch's default)."
    )
    setup = (
        "rlkit: the `agents/reinforce.yaml` preset (8 envs x 128 steps, lr 0.005 linear, value baseline, "
        "MLP 64-64, 200k steps). SB3 PPO: rl-zoo's tuned CartPole settings (8 envs, n_steps 32, batch "
        "256, gae 0.8, gamma 0.98, 20 epochs, lr and clip linear from 0.001 / 0.2, 100k steps)."
    )
    where = f"{info['machine']}. {n} seeds; {info['jobs']} agent process(es) at a time"
    where += " (`--quick`: agents stop once solved)." if info["quick"] else "."
    body = "\n".join(
        [
            "## REINFORCE vs SB3 PPO on CartPole-v1 (`benchmarks/reinforce.py`)",
            "",
            where,
            setup,
            how,
            "",
            table,
            "",
            verdict,
            "",
            per_seed,
            "",
            f"Whole benchmark: {info['seconds']:,.0f} s.",
        ]
    )
    print()
    print(body)
    if not args.no_write:
        write_section("reinforce", body)


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
