"""rlkit/MNISTBandit-v0 from scratch, from a frozen supervised backbone, and fine-tuned from it.

Steps and seconds of REINFORCE (the bandit preset's hyperparameters) until the greedy policy
labels >= 97 % of a fixed set of MNIST test images right, for

* ``scratch``: the preset's CNN, random weights;
* ``frozen``: the backbone of a supervised CNN (``rlkit supervised train``, ``--sup-epochs``
  epochs on ``--sup-images`` training images), frozen, with a new action head;
* ``frozen-head``: the same frozen backbone with the classifier's head kept (``init_head``);
* ``fine-tuned``: the backbone trained on, with the classifier's head kept (``init_head``).

The accuracy is checked every ``--check-every`` env steps for scratch and every
``--pre-check-every`` steps for the pretrained variants (that time is left out of the seconds);
a variant that does not reach the target within its step or second budget says so. Each row
also gives the accuracy after ``--early-steps`` steps (the frozen target: >= 98.5 % within
5,000 steps) and, at the end, on all 10,000 test images. The supervised run's own seconds are
reported beside it. Writes section ``mnist-bandit`` of docs/benchmarks.md.

    PYTHONPATH=. RLKIT_DATA=/work/shared/data python benchmarks/mnist_bandit.py
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
        if agent.num_timesteps < st["next"] and agent.num_timesteps < budget:
            return seconds() < args.max_seconds
        t = time.perf_counter()
        st["next"] += check
        acc = st["acc"] = _accuracy(agent, images, labels)
        st["best"] = max(st["best"], acc)
        if st["early"] is None and agent.num_timesteps >= args.early_steps:
            st["early"] = (agent.num_timesteps, acc)
        print(f"{name}: {agent.num_timesteps} steps, {seconds():.1f} s, accuracy {acc:.4f}", flush=True)
        reached = acc >= TARGET and st["reached"] is None
        if reached:
            st["reached"] = (agent.num_timesteps, seconds())
        st["checks"] += time.perf_counter() - t
        return not (reached and not args.keep_going and not pretrained) and seconds() < args.max_seconds

    try:
        agent.learn(budget, callback=callback, progress_bar=False)
        trained = seconds()
        test_x, test_y = _load("test", "mnist", None)
        full = _accuracy(agent, np.array(test_x), test_y)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sup-epochs", type=int, default=1)
    ap.add_argument("--sup-images", type=int, default=None, help="supervised training images (all: None)")
    ap.add_argument("--sup-run", default=None, help="reuse this `rlkit supervised train` run folder")
    ap.add_argument("--fine-run", default=None,
                    help="another supervised run for a second fine-tuned row (`fine-tuned-2`)")
    ap.add_argument("--test-images", type=int, default=2000)
    ap.add_argument("--check-every", type=int, default=16384)
    ap.add_argument("--pre-check-every", type=int, default=1024)
    ap.add_argument("--early-steps", type=int, default=5000)
    ap.add_argument("--max-steps", type=int, default=None, help="scratch's budget (default: the preset's)")
    ap.add_argument("--pre-max-steps", type=int, default=20_480)
    ap.add_argument("--max-seconds", type=float, default=180.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-going", action="store_true",
                    help="train scratch's whole budget after reaching 97%%")
    ap.add_argument("--variants", default="scratch,frozen,frozen-head,fine-tuned")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--frozen-lr", type=float, default=0.01,
                    help="learning rate of the frozen variant (only its new head trains)")
    ap.add_argument("--frozen-head-lr", type=float, default=1e-4,
                    help="learning rate of the frozen-head variant (the classifier's head trains on)")
    ap.add_argument("--fine-lr", type=float, default=1e-4, help="learning rate of the fine-tuned variant")
    ap.add_argument("--pre-baseline", default="mean", choices=("mean", "value", "preset"),
                    help="baseline of the pretrained variants (preset: the preset's). A new value head "
                         "on a shared pretrained backbone sends its first, large errors into the backbone")
    ap.add_argument("--pre-ent", type=float, default=0.0,
                    help="entropy bonus of the pretrained variants (the preset's pulls a confident "
                         "classifier back towards uniform)")
    args = ap.parse_args()

    from rlkit.envs.mnist_bandit import _load
    from rlkit.runs.train import resolve_config

    cfg = resolve_config("rlkit/MNISTBandit-v0")
    hp = cfg["hyperparams"]
    args.max_steps = args.max_steps or int(cfg["total_timesteps"])
    images, labels = _load("test", "mnist", None)
    idx = np.random.default_rng(12345).choice(len(labels), args.test_images, replace=False)
    images, labels = images[idx], labels[idx]
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sup_dir, sup_note = _supervised_source(args, tmp)
        print(sup_note, flush=True)
        # the pretrained variants keep the preset's policy keys (e.g. a shared value head) but
        # take their backbone from the supervised run
        keep = {k: v for k, v in cfg["policy"].items() if k not in ("net", "value_net")}
        pre_hp: dict = {}
        if args.pre_baseline != "preset":
            pre_hp["baseline"] = args.pre_baseline
            if args.pre_baseline == "mean":
                keep.pop("shared", None)
                pre_hp["value_optimizer"] = "separate"
        variants = {
            "scratch": cfg["policy"],
            "frozen": {**keep, "init": str(sup_dir), "freeze": True},
            "frozen-head": {**keep, "init": str(sup_dir), "freeze": True, "init_head": True},
            "fine-tuned": {**keep, "init": str(sup_dir), "init_head": True},
        }
        if args.fine_run:
            variants["fine-tuned-2"] = {**keep, "init": str(args.fine_run), "init_head": True}
            sup_note += f"; `fine-tuned-2` starts from another {_describe_run(Path(args.fine_run))}"
            if "fine-tuned-2" not in args.variants:
                args.variants += ",fine-tuned-2"
        lrs = {"frozen": args.frozen_lr, "frozen-head": args.frozen_head_lr, "fine-tuned": args.fine_lr,
               "fine-tuned-2": args.fine_lr}
        for name in args.variants.split(","):
            lr = lrs.get(name, hp["learning_rate"])
            ent = hp.get("ent_coef", 0.0) if name == "scratch" else args.pre_ent
            extra = {} if name == "scratch" else pre_hp
            r = run_variant(name, variants[name], {**hp, **extra, "learning_rate": lr, "ent_coef": ent},
                            images, labels, args, pretrained=name != "scratch")
            r["baseline"] = extra.get("baseline", hp.get("baseline"))
            r["lr"], r["ent"] = lr, ent
            rows.append(r)
    load_end = os.getloadavg()
    table = markdown_table(
        ["variant", "baseline", "learning rate", "entropy bonus", "accuracy at step 0",
         f"accuracy at {args.early_steps:,} steps",
         "steps to 97%", "seconds to 97%", "best accuracy", "steps trained", "seconds trained",
         "env steps/s", "final accuracy, all 10,000 test images"],
        [[r["name"], r["baseline"], f"{r['lr']:g}", f"{r['ent']:g}", f"{r['start']:.2%}",
          f"{r['early'][1]:.2%} ({r['early'][0]:,})" if r["early"] else "-",
          f"{r['reached'][0]:,}" if r["reached"] else "not reached",
          f"{r['reached'][1]:.0f}" if r["reached"] else "-", f"{r['best']:.2%}", f"{r['steps']:,}",
          f"{r['seconds']:.0f}", f"{r['steps_per_s']:.0f}", f"{r['full']:.2%}"] for r in rows],
    )
    body = (
        "## MNIST bandit: scratch, frozen and fine-tuned backbones (`benchmarks/mnist_bandit.py`)\n\n"
        f"{machine()}; CPU only; load average (1 min) {load_start[0]:.1f} at the start, "
        f"{load_end[0]:.1f} at the end.\n\n"
        f"REINFORCE with the `rlkit/MNISTBandit-v0` preset (n_envs {hp['n_envs']}, n_steps {hp['n_steps']}, "
        f"lr {hp['learning_rate']}, torch threads {hp.get('torch_threads', 1)}); accuracy = greedy labels on "
        f"{args.test_images:,} fixed test images, checked every {args.check_every:,} steps (scratch) or "
        f"{args.pre_check_every:,} steps (pretrained; not timed); budget {args.max_steps:,} steps "
        f"(scratch) or {args.pre_max_steps:,} (pretrained), and {args.max_seconds:.0f} s per variant. "
        f"{sup_note}.\n\n" + table + "\n"
    )
    print(body)
    if not args.no_write:
        write_section("mnist-bandit", body)


if __name__ == "__main__":
    main()
