"""rlkit/MNISTBandit-v0 from scratch, from a frozen supervised backbone, and fine-tuned from it.

Steps and seconds of REINFORCE (the bandit preset's hyperparameters) until the greedy policy
labels >= 97 % of a fixed set of MNIST test images right, for

* ``scratch``: the preset's CNN, random weights;
* ``frozen``: the backbone of a supervised CNN (``rlkit supervised train``, ``--sup-epochs``
  epochs on ``--sup-images`` training images), frozen, with a new action head;
* ``fine-tuned``: the same backbone trained on, with the classifier's head kept (``init_head``).

The accuracy is checked every ``--check-every`` env steps (that time is left out of the seconds);
a variant that does not reach the target within ``--max-steps`` / ``--max-seconds`` says so. The
supervised run's own seconds are reported beside it. Writes section ``mnist-bandit`` of
docs/benchmarks.md.

    PYTHONPATH=. RLKIT_DATA=/work/shared/data python benchmarks/mnist_bandit.py --max-seconds 300
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine, markdown_table, write_section

TARGET = 0.97


def _accuracy(agent, images, labels) -> float:
    pred, _ = agent.predict(images, deterministic=True)
    return float(np.mean(pred == labels))


def run_variant(name: str, policy: dict, hp: dict, images, labels, args) -> dict:
    from rlkit.agents.reinforce import Reinforce

    agent = Reinforce(policy, "rlkit/MNISTBandit-v0", seed=args.seed, **hp)
    seconds, first = 0.0, _accuracy(agent, images, labels)
    best, reached = first, None
    try:
        while agent.num_timesteps < args.max_steps and seconds < args.max_seconds:
            t = time.perf_counter()
            agent.learn(args.check_every, reset_num_timesteps=False)
            seconds += time.perf_counter() - t
            acc = _accuracy(agent, images, labels)
            best = max(best, acc)
            print(f"{name}: {agent.num_timesteps} steps, {seconds:.0f} s, accuracy {acc:.4f}", flush=True)
            if acc >= TARGET and reached is None:
                reached = (agent.num_timesteps, seconds)
                if not args.keep_going:
                    break
    finally:
        agent.close()
    return {"name": name, "start": first, "best": best, "last": acc if agent.num_timesteps else first,
            "steps": agent.num_timesteps, "seconds": seconds, "reached": reached,
            "steps_per_s": agent.num_timesteps / seconds if seconds else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sup-epochs", type=int, default=1)
    ap.add_argument("--sup-images", type=int, default=None, help="supervised training images (all: None)")
    ap.add_argument("--test-images", type=int, default=2000)
    ap.add_argument("--check-every", type=int, default=2048)
    ap.add_argument("--max-steps", type=int, default=400_000)
    ap.add_argument("--max-seconds", type=float, default=180.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-going", action="store_true", help="train the whole budget after reaching 97%")
    ap.add_argument("--variants", default="scratch,frozen,fine-tuned")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--sup-run", default=None, help="reuse this `rlkit supervised train` run folder")
    ap.add_argument("--frozen-lr", type=float, default=0.01,
                    help="learning rate of the frozen variant (only its new head trains)")
    args = ap.parse_args()

    import torch

    from rlkit.envs.mnist_bandit import _load
    from rlkit.runs.train import resolve_config
    from rlkit.supervised.train import fit

    cfg = resolve_config("rlkit/MNISTBandit-v0")
    hp = cfg["hyperparams"]
    images, labels = _load("test", "mnist", None)
    idx = np.random.default_rng(12345).choice(len(labels), args.test_images, replace=False)
    images, labels = images[idx], labels[idx]
    rows, sup_note = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.sup_run:
            import json

            sup_dir = Path(args.sup_run)
            done = json.loads((sup_dir / "result.json").read_text())
            sub = json.loads((sup_dir / "config.json").read_text()).get("train_subset")
            sup_note = (f"supervised CNN ({done['model']}, reused run): {done['epochs']} epoch(s) on "
                        f"{sub or 60000:,} images, {done['test_accuracy']:.2%} test accuracy, "
                        f"{done['seconds']:.0f} s")
        else:
            # another seed than the RL runs': with the same seed a new action head would start
            # as the classifier's initial head (same draws), which its backbone learned to read
            sup_dir = Path(tmp) / "sup"
            t = time.perf_counter()
            sup = fit("cnn", epochs=args.sup_epochs, train_subset=args.sup_images, run_dir=sup_dir,
                      progress=False, device="cpu", seed=args.seed + 1, threads=torch.get_num_threads())
            sup_note = (f"supervised CNN (lenet preset): {args.sup_epochs} epoch(s) on "
                        f"{args.sup_images or 60000:,} images, {sup.test_accuracy:.2%} test accuracy, "
                        f"{time.perf_counter() - t:.0f} s")
        print(sup_note, flush=True)
        variants = {
            "scratch": cfg["policy"],
            "frozen": {"init": str(sup_dir), "freeze": True},
            "fine-tuned": {"init": str(sup_dir), "init_head": True},
        }
        lrs = {"frozen": args.frozen_lr}
        for name in args.variants.split(","):
            r = run_variant(name, variants[name], {**hp, "learning_rate": lrs.get(name, hp["learning_rate"])},
                            images, labels, args)
            r["lr"] = lrs.get(name, hp["learning_rate"])
            rows.append(r)
    table = markdown_table(
        ["variant", "learning rate", "accuracy at step 0", "best accuracy", "steps to 97%", "seconds to 97%",
         "steps trained", "seconds trained", "env steps/s"],
        [[r["name"], f"{r['lr']:g}", f"{r['start']:.2%}", f"{r['best']:.2%}",
          f"{r['reached'][0]:,}" if r["reached"] else "not reached",
          f"{r['reached'][1]:.0f}" if r["reached"] else "-", f"{r['steps']:,}", f"{r['seconds']:.0f}",
          f"{r['steps_per_s']:.0f}"] for r in rows],
    )
    import os

    body = (
        "## MNIST bandit: scratch, frozen and fine-tuned backbones (`benchmarks/mnist_bandit.py`)\n\n"
        f"{machine()}; CPU only, {os.cpu_count()} cores, load average at the start "
        f"{os.getloadavg()[0]:.1f}.\n\n"
        f"REINFORCE with the `rlkit/MNISTBandit-v0` preset (n_envs {hp['n_envs']}, n_steps {hp['n_steps']}, "
        f"lr {hp['learning_rate']}); accuracy = greedy labels on {args.test_images:,} fixed test images, "
        f"checked every {args.check_every:,} steps (not timed); budget {args.max_steps:,} steps or "
        f"{args.max_seconds:.0f} s per variant. {sup_note}.\n\n" + table + "\n"
    )
    print(body)
    if not args.no_write:
        write_section("mnist-bandit", body)


if __name__ == "__main__":
    main()
