"""Benchmark: S&B Figure 6.2's random-walk curves, rlkit's vectorised runs beside a per-run Python loop.

Setting (Sutton & Barto, Example 6.2): the 5-state random walk (the catalog's ``random-walk`` with
the textbook's reward of +1 on entering the right end), values initialised to 0.5, 100 runs x 100
episodes, TD(0) with alpha in {0.15, 0.1, 0.05} and constant-alpha every-visit Monte Carlo with
alpha in {0.01, 0.02, 0.03, 0.04}; the RMS error over the five states after every episode,
averaged over runs.

Peer: the same algorithms written the way textbook code does it -- one run after the other, one
``rng.choice(S, p=P[s])`` per step, a Python update per step -- with run r seeded by
``as_generator(seed).spawn(100)[r]``, the stream rlkit gives run r. Each step draws one uniform in
both, so the estimates are checked to be identical bit for bit (and the RMS curves to 1e-12:
rlkit sums the squared errors with a dot product).

rlkit is timed two ways: one ``evaluate_policy`` call per curve (sampling included in each call, as
the loop re-samples), and the whole figure with ``evaluate_policy_sweep`` (one sampling and one
vectorised pass per method for all its step sizes). Times are the best of ``--repeat`` runs for
rlkit, one run for the loop.

Usage: ``python benchmarks/tabular.py [--quick] [--no-write] [--repeat N]``; results go to the
``tabular`` section of docs/benchmarks.md (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # rlkit from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common

from _common import machine, markdown_table, timed, write_section  # noqa: E402

from rlkit.seeding import as_generator  # noqa: E402

TD_ALPHAS = (0.15, 0.1, 0.05)
MC_ALPHAS = (0.01, 0.02, 0.03, 0.04)
SEED = 2024


def random_walk():
    """The catalog's random walk (it keeps S&B's reward per transition for samplers)."""
    from rlkit.mdp.io import load

    return load("random-walk")


# ---------------------------------------------------------------------------------------------
# the peer: textbook loops, one run at a time
# ---------------------------------------------------------------------------------------------

def loop_td0(P, Rt, terminal, start, true_v, alpha, runs, episodes, seed, init=0.5, gamma=1.0):
    S = len(start)
    nonterm = ~terminal
    values = np.zeros((runs, S))
    rmse = np.zeros((runs, episodes))
    for r, rng in enumerate(as_generator(seed).spawn(runs)):
        V = np.where(terminal, 0.0, init)
        for ep in range(episodes):
            s = rng.choice(S, p=start)
            while True:
                s2 = rng.choice(S, p=P[s])
                reward = Rt[s, s2]
                done = terminal[s2]
                target = reward if done else reward + gamma * V[s2]
                V[s] += alpha * (target - V[s])
                s = s2
                if done:
                    break
            rmse[r, ep] = np.sqrt(np.mean((V[nonterm] - true_v[nonterm]) ** 2))
        values[r] = V
    return values, rmse


def loop_mc(P, Rt, terminal, start, true_v, alpha, runs, episodes, seed, init=0.5, gamma=1.0):
    S = len(start)
    nonterm = ~terminal
    values = np.zeros((runs, S))
    rmse = np.zeros((runs, episodes))
    for r, rng in enumerate(as_generator(seed).spawn(runs)):
        V = np.where(terminal, 0.0, init)
        for ep in range(episodes):
            s = rng.choice(S, p=start)
            states, rewards = [], []
            while True:
                s2 = rng.choice(S, p=P[s])
                states.append(s)
                rewards.append(Rt[s, s2])
                s = s2
                if terminal[s2]:
                    break
            G, returns = 0.0, [0.0] * len(states)
            for t in range(len(states) - 1, -1, -1):
                G = rewards[t] + gamma * G
                returns[t] = G
            for t, st in enumerate(states):          # every visit, constant alpha
                V[st] += alpha * (returns[t] - V[st])
            rmse[r, ep] = np.sqrt(np.mean((V[nonterm] - true_v[nonterm]) ** 2))
        values[r] = V
    return values, rmse


# ---------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 runs x 30 episodes, nothing written")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for rlkit")
    args = ap.parse_args()
    runs, episodes = (20, 30) if args.quick else (100, 100)

    from rlkit.tabular import evaluate_policy, evaluate_policy_sweep
    from rlkit.tabular.sampling import ModelSource

    walk = random_walk()
    P, Rt, terminal = walk.P, walk.meta["transition_rewards"], walk.terminal
    start = ModelSource(walk).start
    true_v = np.array([0, 1, 2, 3, 4, 5, 0]) / 6
    kw = dict(episodes=episodes, runs=runs, init=0.5, seed=SEED)
    evaluate_policy(walk, method="td", alpha=0.1, **kw)          # warm-up (imports, caches)

    rows, loop_total, one_total, all_same = [], 0.0, 0.0, True
    for method, alphas, loop in (("td", TD_ALPHAS, loop_td0), ("every-visit-mc", MC_ALPHAS, loop_mc)):
        for a in alphas:
            t_one, res = timed(evaluate_policy, walk, method=method, alpha=a, repeat=args.repeat, **kw)
            t0 = time.perf_counter()
            V_loop, rmse_loop = loop(P, Rt, terminal, start, true_v, a, runs, episodes, SEED)
            t_loop = time.perf_counter() - t0
            same_v = bool(np.array_equal(V_loop, res.values_runs))
            same_curve = bool(np.allclose(rmse_loop, res.rmse_runs, rtol=0, atol=1e-12))
            all_same &= same_v and same_curve
            loop_total += t_loop
            one_total += t_one
            name = "TD(0)" if method == "td" else "constant-α MC"
            rows.append([name, f"{a:g}", f"{t_loop:.3f}", f"{t_one:.4f}", f"{t_loop / t_one:.0f}x",
                         f"{res.rmse:.4f}", "yes" if same_v and same_curve else "NO"])
            print(f"{name:14s} alpha={a:<5g} loop {t_loop:7.3f} s  rlkit {t_one:7.4f} s  "
                  f"x{t_loop / t_one:5.0f}  rmse {res.rmse:.4f}  identical={same_v and same_curve}",
                  flush=True)

    def figure():
        td = evaluate_policy_sweep(walk, method="td", alphas=TD_ALPHAS, **kw)
        mc = evaluate_policy_sweep(walk, method="every-visit-mc", alphas=MC_ALPHAS, **kw)
        return td + mc

    t_fig, fig = timed(figure, repeat=args.repeat)
    for res, row in zip(fig, rows, strict=True):                 # the sweep gives the same curves
        all_same &= bool(np.array_equal(res.values_runs, evaluate_policy(
            walk, method=res.method, alpha=res.params["alpha"], **kw).values_runs))
        assert f"{res.rmse:.4f}" == row[5]
    t_batch, _ = timed(lambda: (evaluate_policy(walk, method="batch-td", **kw),
                                evaluate_policy(walk, method="batch-mc", **kw)), repeat=1)
    print(f"all 7 curves: loop {loop_total:.2f} s, rlkit one call per curve {one_total:.3f} s "
          f"(x{loop_total / one_total:.0f}), rlkit sweep {t_fig:.3f} s (x{loop_total / t_fig:.0f}); "
          f"identical estimates: {all_same}; batch TD + batch MC (Fig 6.2 right) {t_batch:.2f} s")
    if not all_same:
        raise SystemExit("rlkit and the loop disagree")
    if args.quick or args.no_write:
        return

    body = "\n".join([
        "## Tabular prediction: S&B Figure 6.2 (random walk), vectorised runs vs a per-run Python loop",
        "",
        f"{runs} runs x {episodes} episodes per curve, values initialised to 0.5, RMS error over the 5 "
        "states after every episode. Peer: the textbook loop (one run after another, "
        "`rng.choice(S, p=P[s])` per step), run r seeded with `as_generator(seed).spawn(runs)[r]` "
        "like rlkit's run r, so the estimates must agree bit for bit (checked; RMS curves to 1e-12). "
        f"rlkit: best of {args.repeat}; loop: one run. `python benchmarks/tabular.py`.",
        "",
        markdown_table(["method", "alpha", "loop (s)", "rlkit, one call (s)", "speed-up", "final RMS error",
                        "identical"], rows),
        "",
        markdown_table(["all 7 curves", "seconds", "speed-up"], [
            ["per-run Python loop", f"{loop_total:.2f}", "1x"],
            ["rlkit, one `evaluate_policy` call per curve", f"{one_total:.3f}",
             f"{loop_total / one_total:.0f}x"],
            ["rlkit, `evaluate_policy_sweep` per method (3 + 4 step sizes)", f"{t_fig:.3f}",
             f"{loop_total / t_fig:.0f}x"],
        ]),
        "",
        f"Batch TD and batch MC (Figure 6.2 right, every episode re-solved to convergence), {runs} runs x "
        f"{episodes} episodes each: {t_batch:.2f} s together.",
        "",
        f"Machine: {machine()}.",
    ])
    write_section("tabular", body)
    print("wrote section 'tabular' of docs/benchmarks.md")


if __name__ == "__main__":
    main()
