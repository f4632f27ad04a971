"""rlkit/MNISTBandit-v0 from scratch, from a frozen supervised backbone, and fine-tuned from it.

Steps and seconds of REINFORCE until the greedy policy labels >= 97 % of the MNIST test images
right (all 10,000 by default, ``--test-images``), for

* ``scratch``: the preset's CNN, random weights, the preset's hyperparameters;
* ``frozen``: the backbone of a supervised CNN (``rlkit supervised train``, ``--sup-epochs``
  epochs), frozen, with a new zero-initialised action head (``policy.head_gain: 0``: a uniform
  start), the running-mean baseline, ``--frozen-n-envs`` envs per batch (many small updates in
  5,000 steps), ``--frozen-lr`` and ``--frozen-ent``;
* ``frozen-head``: the same frozen backbone with the classifier's head kept (``init_head``);
* ``fine-tuned``: the backbone of ``--fine-run`` (default: the same supervised run) trained on,
  with the classifier's head kept, a small constant learning rate (``--fine-lr``).

The accuracy is checked every ``--check-every`` env steps for scratch and every
``--pre-check-every`` steps for the pretrained variants, and once at the first update with at
least ``--early-steps`` steps (the frozen target: >= 98.5 % within 5,000 steps); the checks' time
is left out of the seconds. A variant that does not reach 97 % within its step or second budget
says so. The supervised runs' own seconds are reported beside them. Writes section
``mnist-bandit`` of docs/benchmarks.md.

    PYTHONPATH=. RLKIT_DATA=/work/shared/data python benchmarks/mnist_bandit.py --keep-going \
        --sup-run runs/sup1 --fine-run runs/sup4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine, markdown_table, write_section

TARGET = 0.97


def _accuracy(agent, images, labels) -> float:
    pred, _ = agent.predict(images, deterministic=True)
    return float(np.mean(pred == labels))


def run_variant(name: str, policy: dict, hp: dict, images, labels, args, *, pretrained: bool) -> dict:
    """Train one variant in a single ``learn`` call (so a learning-rate schedule runs over the whole
    budget), checking the accuracy from a callback; the checks' time is left out of the seconds."""
    from rlkit.agents.reinforce import Reinforce
    from rlkit.envs.mnist_bandit import _load

    agent = Reinforce(policy, "rlkit/MNISTBandit-v0", seed=args.seed, **hp)
    check = args.pre_check_every if pretrained else args.check_every
    budget = args.pre_max_steps if pretrained else args.max_steps
    first = _accuracy(agent, images, labels)
    st = {"best": first, "reached": (0, 0.0) if first >= TARGET else None, "early": None, "acc": first,
          "next": check, "checks": 0.0}
    t0 = time.perf_counter()

    def seconds() -> float:
        return time.perf_counter() - t0 - st["checks"]

    def callback(agent, metrics) -> bool:
        steps = agent.num_timesteps
        early = st["early"] is None and steps >= args.early_steps
        if steps < st["next"] and steps < budget and not early:
            return seconds() < args.max_seconds
        t = time.perf_counter()
        now = t - t0 - st["checks"]  # the training seconds so far, this check left out
        while st["next"] <= steps:
            st["next"] += check
        acc = st["acc"] = _accuracy(agent, images, labels)
        st["best"] = max(st["best"], acc)
        if early:
            st["early"] = (steps, acc)
        print(f"{name}: {steps} steps, {now:.1f} s, accuracy {acc:.4f}", flush=True)
        reached = acc >= TARGET and st["reached"] is None
        if reached:
            st["reached"] = (steps, now)
        st["checks"] += time.perf_counter() - t
        return not (reached and not args.keep_going and not pretrained) and seconds() < args.max_seconds

    try:
        agent.learn(budget, callback=callback, progress_bar=False)
        trained = seconds()
        test_x, test_y = _load("test", "mnist", None)
        full = st["acc"] if len(labels) == len(test_y) else _accuracy(agent, np.array(test_x), test_y)
    finally:
        agent.close()
    return {"name": name, "start": first, "best": st["best"], "last": st["acc"], "early": st["early"],
            "full": full, "steps": agent.num_timesteps, "seconds": trained, "reached": st["reached"],
            "steps_per_s": agent.num_timesteps / trained if trained else float("nan")}


def _describe_run(sup_dir: Path) -> str:
    done = json.loads((sup_dir / "result.json").read_text())
    sub = json.loads((sup_dir / "config.json").read_text()).get("train_subset")
    return (f"supervised CNN ({done['model']}, a run made beforehand): {done['epochs']} "
            f"epoch(s) on {sub or 60000:,} images, {done['test_accuracy']:.2%} test accuracy, "
            f"{done['seconds']:.0f} s")


def _supervised_source(args, tmp: str) -> tuple[Path, str]:
    """The supervised run the pretrained variants start from (trained here unless ``--sup-run``)."""
    if args.sup_run:
        return Path(args.sup_run), _describe_run(Path(args.sup_run))
    import torch

    from rlkit.supervised.train import fit

    # another seed than the RL runs': with the same seed a new action head would start as the
    # classifier's initial head (same draws), which its backbone learned to read
    sup_dir = Path(tmp) / "sup"
    t = time.perf_counter()
    sup = fit("cnn", epochs=args.sup_epochs, train_subset=args.sup_images, run_dir=sup_dir,
              progress=False, device="cpu", seed=args.seed + 1, threads=torch.get_num_threads())
    return sup_dir, (f"supervised CNN (lenet preset): {args.sup_epochs} epoch(s) on "
                     f"{args.sup_images or 60000:,} images, {sup.test_accuracy:.2%} test accuracy, "
                     f"{time.perf_counter() - t:.0f} s")


def _variants(args, cfg: dict, sup_dir: Path, fine_dir: Path) -> dict[str, tuple[dict, dict]]:
    """Each variant's (policy config, hyperparameters). The pretrained ones drop the preset's
    backbone (it comes from the source) and its value baseline: a new value head on a shared
    pretrained backbone sends its first, large errors into the backbone, and for the frozen one
    the running mean lost fewer digits (see the docs section)."""
    hp = cfg["hyperparams"]
    keep = {k: v for k, v in cfg["policy"].items() if k not in ("net", "value_net", "shared")}
    pre = {**hp, "baseline": "mean", "value_optimizer": "separate", "lr_schedule": "constant"}
    return {
        "scratch": (cfg["policy"], hp),
        "frozen": ({**keep, "init": str(sup_dir), "freeze": True, "head_gain": 0.0},
                   {**pre, "n_envs": args.frozen_n_envs, "learning_rate": args.frozen_lr,
                    "ent_coef": args.frozen_ent}),
        "frozen-head": ({**keep, "init": str(sup_dir), "freeze": True, "init_head": True},
                        {**pre, "learning_rate": args.frozen_head_lr, "ent_coef": 0.0}),
        "fine-tuned": ({**keep, "init": str(fine_dir), "init_head": True},
                       {**pre, "learning_rate": args.fine_lr, "ent_coef": 0.0}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sup-epochs", type=int, default=1)
    ap.add_argument("--sup-images", type=int, default=None, help="supervised training images (all: None)")
    ap.add_argument("--sup-run", default=None, help="reuse this `rlkit supervised train` run folder")
    ap.add_argument("--fine-run", default=None,
                    help="the supervised run the fine-tuned variant starts from (default: --sup-run's)")
    ap.add_argument("--test-images", type=int, default=10_000)
    ap.add_argument("--check-every", type=int, default=50_000)
    ap.add_argument("--pre-check-every", type=int, default=1024)
    ap.add_argument("--early-steps", type=int, default=5000)
    ap.add_argument("--max-steps", type=int, default=None, help="scratch's budget (default: the preset's)")
    ap.add_argument("--pre-max-steps", type=int, default=20_480)
    ap.add_argument("--max-seconds", type=float, default=180.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-going", action="store_true",
                    help="train scratch's whole budget (or --max-seconds) after reaching 97%%")
    ap.add_argument("--variants", default="scratch,frozen,frozen-head,fine-tuned")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--frozen-n-envs", type=int, default=8,
                    help="envs (images per update) of the frozen variant")
    ap.add_argument("--frozen-lr", type=float, default=1e-3,
                    help="learning rate of the frozen variant (only its new head trains)")
    ap.add_argument("--frozen-ent", type=float, default=0.01, help="entropy bonus of the frozen variant")
    ap.add_argument("--frozen-head-lr", type=float, default=1e-4,
                    help="learning rate of the frozen-head variant (the classifier's head trains on)")
    ap.add_argument("--fine-lr", type=float, default=3e-5, help="learning rate of the fine-tuned variant")
    args = ap.parse_args()

    from rlkit.envs.mnist_bandit import _load
    from rlkit.runs.train import resolve_config

    cfg = resolve_config("rlkit/MNISTBandit-v0")
    hp = cfg["hyperparams"]
    args.max_steps = args.max_steps or int(cfg["total_timesteps"])
    images, labels = _load("test", "mnist", None)
    if args.test_images < len(labels):
        idx = np.random.default_rng(12345).choice(len(labels), args.test_images, replace=False)
        images, labels = images[idx], labels[idx]
    images = np.array(images)
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sup_dir, sup_note = _supervised_source(args, tmp)
        print(sup_note, flush=True)
        fine_dir = Path(args.fine_run) if args.fine_run else sup_dir
        if args.fine_run:
            sup_note += f"; `fine-tuned` starts from another {_describe_run(fine_dir)}"
        variants = _variants(args, cfg, sup_dir, fine_dir)
        for name in args.variants.split(","):
            policy, vhp = variants[name]
            r = run_variant(name, policy, vhp, images, labels, args, pretrained=name != "scratch")
            r.update(baseline=vhp["baseline"], lr=vhp["learning_rate"], ent=vhp.get("ent_coef", 0.0),
                     n_envs=vhp["n_envs"], schedule=vhp.get("lr_schedule", "constant"))
            rows.append(r)
    load_end = os.getloadavg()
    table = markdown_table(
        ["variant", "baseline", "n_envs", "learning rate", "entropy bonus", "accuracy at step 0",
         f"accuracy at {args.early_steps:,} steps",
         "steps to 97%", "seconds to 97%", "best accuracy", "steps trained", "seconds trained",
         "env steps/s", "final accuracy"],
        [[r["name"], r["baseline"], r["n_envs"], f"{r['lr']:g} ({r['schedule']})", f"{r['ent']:g}",
          f"{r['start']:.2%}",
          f"{r['early'][1]:.2%} ({r['early'][0]:,})" if r["early"] else "-",
          f"{r['reached'][0]:,}" if r["reached"] else "not reached",
          f"{r['reached'][1]:.0f}" if r["reached"] else "-", f"{r['best']:.2%}", f"{r['steps']:,}",
          f"{r['seconds']:.0f}", f"{r['steps_per_s']:.0f}", f"{r['full']:.2%}"] for r in rows],
    )
    where = "all 10,000 test images" if len(labels) == 10_000 else f"{len(labels):,} fixed test images"
    body = (
        "## MNIST bandit: scratch, frozen and fine-tuned backbones (`benchmarks/mnist_bandit.py`)\n\n"
        f"{machine()}; CPU only (no GPU was lent: no CUDA figures); load average (1 min) "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end.\n\n"
        f"REINFORCE; scratch with the `rlkit/MNISTBandit-v0` preset (n_envs {hp['n_envs']}, "
        f"lr {hp['learning_rate']} {hp.get('lr_schedule', 'constant')} over {args.max_steps:,} steps, "
        f"ent_coef {hp.get('ent_coef', 0.0)}, torch threads {hp.get('torch_threads', 1)}); accuracy = "
        f"greedy labels on {where}, checked every {args.check_every:,} steps (scratch) or "
        f"{args.pre_check_every:,} steps (pretrained), and at the first update with >= "
        f"{args.early_steps:,} steps (not timed); budget {args.max_steps:,} steps (scratch) or "
        f"{args.pre_max_steps:,} (pretrained), and {args.max_seconds:.0f} s per variant; final accuracy "
        f"on all 10,000 test images. {sup_note}.\n\n" + table + "\n"
    )
    print(body)
    if not args.no_write:
        write_section("mnist-bandit", body)


if __name__ == "__main__":
    main()
