"""Verify rlkit's REINFORCE presets with the model a user gets: `rlkit train` (the library call),
then the final 100-episode deterministic evaluation of the last model and of the best one.

Every run appends one JSON line to ``<out>/<env>.jsonl`` as it finishes (an interrupted
verification keeps what it did; ``--report`` rebuilds the table from those files), and the table
goes into section "presets" of docs/benchmarks.md: per env, seeds run, seeds whose last / best
model reached the threshold, the worst and median scores, and the training time.

    python benchmarks/presets.py --env CartPole-v1 --seeds 0-29
    python benchmarks/presets.py --env Acrobot-v1 --seeds 0-4 --set learning_rate=0.003
    python benchmarks/presets.py --report             # the table from what is recorded

Each record carries the fingerprint of the preset it ran (``preset``); ``--report`` counts only the
records of the env's current preset, so a changed preset starts its table row afresh (the stale
records stay in the file, and the row says how many it left out). Records without a fingerprint
(written before it was kept) count as current; ``<out>/superseded/`` (not read) keeps the records
of presets replaced before that.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOCS, machine, markdown_table, read_section, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: the score each env counts as solved (Gymnasium's threshold; -200 for Pendulum, which has none)
TARGETS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0,
           "MountainCarContinuous-v0": 90.0, "Pendulum-v1": -200.0, "LunarLander-v3": 200.0,
           "LunarLanderContinuous-v3": 200.0, "rlkit/CartPoleNoVel-v1": 475.0}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def _file(out: Path, env: str) -> Path:
    return out / (env.replace("/", "-") + ".jsonl")


def preset_fingerprint(env: str) -> str:
    """A short hash of REINFORCE's preset for ``env`` as ``rlkit train`` loads it (agents/reinforce.yaml,
    the ``default`` entry merged in)."""
    from rlkit.agents.presets import load_preset

    text = json.dumps(load_preset("reinforce", env), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run(env: str, seeds: list[int], out: Path, overrides: dict, runs: Path) -> None:
    from rlkit.runs import train

    out.mkdir(parents=True, exist_ok=True)
    fingerprint = preset_fingerprint(env)
    for seed in seeds:
        t0 = time.perf_counter()
        r = train(env, seed=seed, root=str(runs), overrides=overrides)
        best = r.best_eval.mean if r.best_eval else None
        row = {"env": env, "seed": seed, "last": r.eval.mean, "best": best,
               "best_at": r.best_timesteps, "timesteps": r.timesteps, "train_s": round(r.seconds, 1),
               "wall_s": round(time.perf_counter() - t0, 1), "overrides": overrides, "preset": fingerprint}
        with _file(out, env).open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


HEADERS = ["env", "target", "seeds", "last >= target", "best >= target", "last worst", "last median",
           "best worst", "best median", "train s (median)", "--set"]


def page_rows(path: Path = DOCS) -> dict[str, list[str]]:
    """The rows of the presets table as the page has them now, by env (what ``report`` keeps for
    the envs that ``out`` holds no record of: an earlier session's runs whose per-seed records
    were not kept)."""
    rows = {}
    for line in read_section("presets", path).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(HEADERS) and cells[0] != "env" and not cells[0].startswith("-"):
            cells[0] = cells[0].removesuffix(" *")  # report() marks kept rows again
            rows[cells[0]] = cells
    return rows


def report(out: Path, note: str) -> str:
    rows, stale = [], {}
    for path in sorted(out.glob("*.jsonl")):
        runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not runs:
            continue
        env = runs[0].get("env") or path.stem
        current = preset_fingerprint(env)
        fresh = [r for r in runs if r.get("preset", current) == current]
        if len(fresh) < len(runs):
            stale[env] = len(runs) - len(fresh)
        runs = fresh
        if not runs:
            continue
        target = TARGETS.get(env)
        last = [r["last"] for r in runs]
        best = [r["best"] if r["best"] is not None else r["last"] for r in runs]

        def solved(xs, target=target):
            return "-" if target is None else f"{sum(x >= target for x in xs)}/{len(xs)}"

        seconds = [r["train_s"] for r in runs if r.get("train_s") is not None]  # None: not recorded
        rows.append([env, target, len(runs), solved(last), solved(best), f"{min(last):.1f}",
                     f"{statistics.median(last):.1f}", f"{min(best):.1f}", f"{statistics.median(best):.1f}",
                     f"{statistics.median(seconds):.1f}" if seconds else "",
                     json.dumps(runs[0].get("overrides") or {})])
    recorded = {row[0] for row in rows} | set(stale)  # the page's row of a stale env is stale too
    kept = [list(cells) for env, cells in page_rows().items() if env not in recorded]
    for cells in kept:
        cells[0] += " *"
    rows = sorted(rows + kept, key=lambda row: str(row[0]))
    table = markdown_table(HEADERS, rows)
    footnote = ("\n\n\\* Kept from the page as it was: an earlier session's runs, whose per-seed records are "
                f"not in `{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}`." if kept else "")
    if stale:
        footnote += ("\n\nLeft out, recorded with an earlier preset: "
                     + ", ".join(f"{n} of {env}" for env, n in stale.items()) + ".")
    return (f"Machine: {machine()}. `python benchmarks/presets.py`: each seed is `rlkit train --env ENV "
            "--seed S` with the preset; the final evaluation is 100 deterministic episodes of the last "
            "model (`model.pt`) and of the best periodic evaluation's model (`best_model.pt`, what "
            f"`rlkit evaluate` uses by default), on the same episodes. {note}\n\n{table}{footnote}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", default=[], help="env id (repeatable)")
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-29 or 0,3,7")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE override (as rlkit train)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "presets"),
                        help="folder of the per-env .jsonl records (committed: the table's evidence)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "bench-presets"),
                        help="folder of the training runs (models, logs; not committed)")
    parser.add_argument("--report", action="store_true", help="only rebuild the table")
    parser.add_argument("--note", default="", help="a sentence about the conditions, added to the docs")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.report:
        from rlkit.agents.presets import parse_set

        for env in args.env:
            run(env, _seeds(args.seeds), out, parse_set(args.set), Path(args.runs))
    text = report(out, args.note)
    print(text)
    if not args.no_write:
        write_section("presets", "## Presets verified with the model a user gets\n\n" + text)


if __name__ == "__main__":
    main()
