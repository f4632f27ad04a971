"""MNIST: rlkit's default CNN beside PyTorch's own ``examples/mnist`` network and settings.

Both run in the same process on the same machine and the same data (the real MNIST IDX files):

* **PyTorch example** (``pytorch/examples/mnist/main.py``, reimplemented here because torchvision
  is not a dependency): ``Net`` = conv 1->32 3x3, conv 32->64 3x3, max-pool 2, dropout 0.25,
  fc 9216->128, dropout 0.5, fc 128->10, log-softmax; Adadelta lr=1.0, StepLR(step 1, gamma 0.7),
  batch 64, test batch 1000, a ``DataLoader`` over a per-image dataset that does what
  ``torchvision.datasets.MNIST`` + ``ToTensor()`` + ``Normalize((0.1307,), (0.3081,))`` do
  (uint8 -> PIL image -> float tensor -> normalise, one image at a time); on CUDA it uses the
  example's ``num_workers=1, pin_memory=True``.
* **rlkit**: ``rlkit.supervised.train.fit("cnn")`` (whole dataset in memory as uint8, batches
  gathered by index, random shifts, Adam + one-cycle, channels-last convs), once with the short
  schedule ``epochs=2`` (``rlkit supervised train --model cnn --epochs 2``) and once with its
  defaults (4 epochs; full run only).

Measured: time to reach 99 % test accuracy (test set scored after every epoch, as the example does;
the clock runs over training and scoring, not over reading the files), training images/s, and the
test accuracy where each run stopped. Target: rlkit reaches 99 % at least 3x sooner.

    python benchmarks/mnist.py             # full: rlkit --epochs 2, rlkit defaults, example (<= 14 epochs)
    python benchmarks/mnist.py --quick     # 12,000 training images, <= 2 epochs, target 97 %
    python benchmarks/mnist.py --threads 1 # on a machine shared with other busy processes
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, write_section  # noqa: E402

from rlkit.seeding import seed_everything  # noqa: E402
from rlkit.supervised.data import load_mnist  # noqa: E402
from rlkit.supervised.train import MODEL_PRESETS, fit  # noqa: E402

TARGET = 0.99


class Net(nn.Module):
    """The network of pytorch/examples mnist/main.py."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


class TorchvisionLikeMNIST(torch.utils.data.Dataset):
    """Per-image pipeline of ``torchvision.datasets.MNIST`` with ``ToTensor`` + ``Normalize``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.images[i].numpy(), mode="L")  # what torchvision's MNIST returns
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).float().div_(255.0).unsqueeze(0)  # ToTensor
        x = (x - 0.1307) / 0.3081  # Normalize
        return x, int(self.labels[i])


def run_example(train, test, *, epochs: int, device: torch.device, seed: int, target: float) -> dict:
    seed_everything(seed)
    cuda = device.type == "cuda"
    loader_kw = {"num_workers": 1, "pin_memory": True} if cuda else {}
    train_loader = torch.utils.data.DataLoader(TorchvisionLikeMNIST(*train), batch_size=64, shuffle=True,
                                               **loader_kw)
    test_loader = torch.utils.data.DataLoader(TorchvisionLikeMNIST(*test), batch_size=1000, **loader_kw)
    model = Net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    history, t0, train_time = [], time.perf_counter(), 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        t_ep = time.perf_counter()
        for data, target_ in train_loader:
            data, target_ = data.to(device), target_.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target_)
            loss.backward()
            optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t_ep
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target_ in test_loader:
                data, target_ = data.to(device), target_.to(device)
                correct += int((model(data).argmax(1) == target_).sum())
        scheduler.step()
        acc = correct / len(test[0])
        history.append((epoch, acc, time.perf_counter() - t0))
        print(f"  example epoch {epoch}: test {acc:.4f} at {history[-1][2]:.1f} s", flush=True)
        if acc >= target:
            break
    params = sum(p.numel() for p in model.parameters())
    return _summary("PyTorch examples/mnist", history, len(train[0]), train_time, params, target,
                    "Adadelta 1.0, StepLR 0.7, batch 64, DataLoader, up to 14 epochs")


def run_rlkit(label: str, train_subset, *, epochs: int | None, device: torch.device, seed: int,
              target: float, data_dir) -> dict:
    history = []

    def log(m) -> None:
        history.append((m.epoch, m.test_accuracy, m.seconds))
        print(f"  {label} epoch {m.epoch}: test {m.test_accuracy:.4f} at {m.seconds:.1f} s", flush=True)

    r = fit("cnn", epochs=epochs, data_dir=data_dir, seed=seed, run_dir=None, progress=False, device=device,
            train_subset=train_subset, stop_at_accuracy=target, callback=log)
    n = train_subset or 60000
    train_time = len(history) * n / r.images_per_second
    p = MODEL_PRESETS["cnn"]
    settings = (f"Adam {p['lr']:g} one-cycle over {epochs or p['epochs']} epochs, batch {p['batch_size']}, "
                f"shifts +-{p['augment']} px, in-memory uint8")
    return _summary(label, history, n, train_time, r.parameters, target, settings)


def _summary(name: str, history: list, n: int, train_time: float, params: int, target: float,
             settings: str) -> dict:
    hit = next((h for h in history if h[1] >= target), None)
    return {"name": name, "params": params, "settings": settings, "history": history,
            "epochs_to_target": hit[0] if hit else None, "time_to_target": hit[2] if hit else None,
            "images_per_second": len(history) * n / train_time, "final_accuracy": history[-1][1],
            "epochs": len(history), "seconds": history[-1][2]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="12,000 training images, at most 2 epochs each, target 97%% (a few minutes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--data-dir", default=None, help="folder with the four MNIST IDX files")
    ap.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    train = load_mnist("train", data_dir=args.data_dir)
    test = load_mnist("test", data_dir=args.data_dir)
    subset = 12000 if args.quick else None
    if subset:
        train = (train[0][:subset], train[1][:subset])
    target = 0.97 if args.quick else TARGET
    kw = {"device": device, "seed": args.seed, "target": target, "data_dir": args.data_dir}

    # rlkit with the short schedule (`--epochs 2`), then (full run only) with its 4-epoch defaults
    results = [run_rlkit("rlkit cnn --epochs 2", subset, epochs=2, **kw)]
    if not args.quick:
        results.append(run_rlkit("rlkit cnn (defaults)", subset, epochs=None, **kw))
    results.append(run_example(train, test, epochs=2 if args.quick else 14, device=device, seed=args.seed,
                               target=target))
    ex = results[-1]
    pct = f"{100 * target:g}%"
    rows = []
    for r in results:
        rows.append([r["name"], f"{r['params']:,}", r["epochs_to_target"] or f"not in {r['epochs']}",
                     f"{r['time_to_target']:.1f}" if r["time_to_target"] else "-",
                     f"{r['images_per_second']:,.0f}", f"{100 * r['final_accuracy']:.2f}", r["settings"]])
    headers = ["network", "parameters", f"epochs to {pct}", f"time to {pct} (s)", "train images/s",
               "test acc. at stop (%)", "settings"]
    verdicts = []
    for r in results[:-1]:
        if r["time_to_target"] and ex["time_to_target"]:
            ratio = ex["time_to_target"] / r["time_to_target"]
            met = "met" if ratio >= 3 else "missed"
            verdicts.append(f"{r['name']}: reaches {pct} {ratio:.1f}x sooner than the example "
                            f"(target >= 3x: {met}); throughput "
                            f"{r['images_per_second'] / ex['images_per_second']:.1f}x.")
        else:
            who = r["name"] if not r["time_to_target"] else ex["name"]
            verdicts.append(f"{r['name']}: no ratio, {who} did not reach {pct} in this run.")
    scope = "12,000 training images (`--quick`)" if args.quick else "all 60,000 training images"
    body = "\n".join([
        "## MNIST: rlkit CNN vs PyTorch examples/mnist",
        "",
        f"Machine: {machine()}; device {device}. Run: `python benchmarks/mnist.py"
        f"{' --quick' if args.quick else ''}{f' --threads {args.threads}' if args.threads else ''}` "
        f"on {date.today().isoformat()}, seed {args.seed}.",
        "",
        f"Each network trains on {scope} of the same MNIST files, in the same process; the whole test set "
        f"(10,000 images) is scored after every epoch and each run stops at the first epoch with >= {pct} "
        "test accuracy. Time = wall time of training + scoring up to that epoch (reading the files "
        "excluded). Train images/s = training throughput, scoring excluded.",
        "",
        markdown_table(headers, rows),
        "",
        *[f"- {v}" for v in verdicts],
    ])
    print(body)
    if not args.no_write:
        write_section("mnist", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
