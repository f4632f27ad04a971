"""Supervised run folders on the rlkit.runs plumbing: the same files and numbers as the run folder
that the previous code wrote (tests/data/supervised_run_v1, made with the code before the move),
exact resume, damaged files as one error line, TensorBoard, and no dependency on the agents."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlkit.errors import RlkitError
from rlkit.supervised.train import fit, load_checkpoint, resume

V1 = Path(__file__).parent / "data" / "supervised_run_v1"  # written by the previous fit (see its config)
V1_CONFIG = json.loads((V1 / "config.json").read_text())
# the arguments that made V1: a dropout MLP with random shifts and a one-cycle schedule, so the
# weights depend on the init, the batch order, the shifts, dropout and the schedule
V1_ARGS = dict(model=V1_CONFIG["backbone"] | {}, epochs=2, train_subset=300, test_subset=200, batch_size=32,
               augment=1, seed=5, progress=False, device="cpu")
V1_ARGS["model"].pop("normalize")
OLD_FILES = {"config.json", "metrics.csv", "model.pt", "result.json", "learning_curve.png",
             "confusion_matrix.png"}
EXACT = ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"]  # not the timings


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_a_run_writes_the_files_and_numbers_of_the_previous_code(mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = fit(data_dir=mnist_dir, run_dir=out, **V1_ARGS)
    names = {p.name for p in out.iterdir()}
    assert OLD_FILES <= names and names - OLD_FILES == {"checkpoint.pt"}
    cfg = json.loads((out / "config.json").read_text())
    cfg.pop("torch")
    assert cfg == {k: v for k, v in V1_CONFIG.items() if k != "torch"}
    # metrics.csv: same header, same plain "\n" rows, same numbers (timings aside)
    text, old_text = (out / "metrics.csv").read_bytes(), (V1 / "metrics.csv").read_bytes()
    assert text.splitlines()[0] == old_text.splitlines()[0] and b"\r" not in text
    new_rows, old_rows = _rows(out / "metrics.csv"), _rows(V1 / "metrics.csv")
    assert [row["epoch"] for row in new_rows] == ["1", "2"]
    for new, old in zip(new_rows, old_rows, strict=True):
        for key in EXACT:
            assert float(new[key]) == pytest.approx(float(old[key]), rel=1e-4, abs=1e-6), key
    # the trained weights match those the previous code trained (same init, batches, RNG draws)
    new_w, old_w = _weights(out / "model.pt"), _weights(V1 / "model.pt")
    assert new_w.keys() == old_w.keys()
    for key in old_w:
        torch.testing.assert_close(new_w[key], old_w[key], rtol=1e-4, atol=1e-5)
    assert r.test_accuracy == pytest.approx(json.loads((V1 / "result.json").read_text())["test_accuracy"],
                                            abs=0.011)


def test_supervised_evaluate_reads_a_run_folder_of_the_previous_code(cli, mnist_dir, tmp_path):
    run = tmp_path / "v1"
    shutil.copytree(V1, run)
    assert "digest" not in torch.load(run / "model.pt", weights_only=True)  # written before digests
    code, out, err = cli("supervised", "evaluate", str(run), "--data-dir", str(mnist_dir), "--format", "json",
                         "--device", "cpu")
    assert code == 0, err
    res = json.loads(out)
    # the run's own 200-image test subset, scored again: the accuracy the run recorded
    assert res["n_images"] == 200 and sum(map(sum, res["confusion"])) == 200
    assert res["test_accuracy"] == json.loads((run / "result.json").read_text())["test_accuracy"]
    assert sum(res["confusion"][i][i] for i in range(10)) == round(200 * res["test_accuracy"])
    net, cfg = load_checkpoint(run)
    assert cfg["model"] == "custom-mlp" and sum(p.numel() for p in net.parameters()) == cfg["parameters"]
    # a run without checkpoint.pt (written before resume existed) cannot be resumed: one error line
    code, _, err = cli("supervised", "train", "--resume", str(run), "--quiet")
    assert code == 2 and err.startswith("error:") and "checkpoint.pt" in err and err.count("\n") == 1


def test_resume_continues_bit_identically(mnist_dir, tmp_path):
    whole = fit(data_dir=mnist_dir, run_dir=tmp_path / "whole", **V1_ARGS)
    cut = tmp_path / "cut"

    class Interrupted(Exception):
        pass

    def stop_after_first(row):
        # called after the epoch's files are written: they already hold this epoch
        assert [r["epoch"] for r in _rows(cut / "metrics.csv")] == [str(row.epoch)]  # flushed
        saved = torch.load(cut / "model.pt", weights_only=True)
        assert saved["epoch"] == row.epoch == 1 and saved["test_accuracy"] == row.test_accuracy
        ckpt = torch.load(cut / "checkpoint.pt", weights_only=True)
        assert [h["epoch"] for h in ckpt["history"]] == [1]
        raise Interrupted

    with pytest.raises(Interrupted):
        fit(data_dir=mnist_dir, run_dir=cut, callback=stop_after_first, **V1_ARGS)
    with (cut / "metrics.csv").open("a") as f:  # a row written after the checkpoint (killed in between)
        f.write("2,9,9,9,9,9,9,9\n")
    seen = []
    resumed = resume(cut, data_dir=mnist_dir, device="cpu", progress=False, callback=seen.append)
    assert [row.epoch for row in seen] == [2] and [row.epoch for row in resumed.history] == [1, 2]
    new_w, whole_w = _weights(cut / "model.pt"), _weights(tmp_path / "whole" / "model.pt")
    assert all(torch.equal(new_w[k], whole_w[k]) for k in whole_w)
    for a, b in zip(_rows(cut / "metrics.csv"), _rows(tmp_path / "whole" / "metrics.csv"), strict=True):
        assert [a[k] for k in EXACT] == [b[k] for k in EXACT]
    assert [(m.train_loss, m.test_accuracy, m.lr) for m in resumed.history] == \
        [(m.train_loss, m.test_accuracy, m.lr) for m in whole.history]
    assert torch.load(cut / "model.pt", weights_only=True)["epoch"] == 2
    assert json.loads((cut / "result.json").read_text())["epochs"] == 2
    with pytest.raises(RlkitError, match="finished"):
        resume(cut, data_dir=mnist_dir)


def test_cli_resume_and_its_errors(cli, mnist_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--model", "mlp-textbook", "--train-subset", "200", "--data-dir", str(mnist_dir), "--quiet"]
    code, _, err = cli("supervised", "train", *args, "--epochs", "1", "--run-dir", str(out), "-f", "json")
    assert code == 0, err
    code, _, err = cli("supervised", "train", "--resume", str(out), "--quiet")
    assert code == 2 and "finished (1 of 1 epochs)" in err and err.count("\n") == 1
    code, _, err = cli("supervised", "train", "--resume", str(out), "--epochs", "3", "--quiet")
    assert code == 2 and "drop --epochs" in err and err.count("\n") == 1
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "checkpoint.pt").write_bytes(before["checkpoint.pt"][:300])  # truncated
    code, _, err = cli("supervised", "train", "--resume", str(out), "--quiet")
    assert code == 2 and err.startswith("error:") and "corrupt" in err and err.count("\n") == 1
    assert {p.name for p in out.iterdir()} == set(before)
    assert (out / "metrics.csv").read_bytes() == before["metrics.csv"]  # nothing rewritten


def _flip_inside(path: Path, tensor: torch.Tensor) -> None:
    """Flip one byte inside ``tensor``'s stored bytes (torch does not check the zip's CRCs)."""
    data = bytearray(path.read_bytes())
    at = data.find(tensor.numpy().tobytes())
    assert at > 0
    data[at + tensor.numel() * tensor.element_size() // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_damaged_model_is_one_error_line(cli, mnist_dir, tmp_path):
    out = tmp_path / "run"
    fit("mlp-textbook", data_dir=mnist_dir, epochs=1, train_subset=200, test_subset=100, run_dir=out,
        progress=False, device="cpu")
    good = (out / "model.pt").read_bytes()
    weight = max(_weights(out / "model.pt").values(), key=lambda t: t.numel())
    _flip_inside(out / "model.pt", weight)
    assert torch.load(out / "model.pt", weights_only=True)  # torch itself reads it without complaint
    code, _, err = cli("supervised", "evaluate", str(out), "--data-dir", str(mnist_dir))
    assert code == 2 and err.startswith("error:") and "checksum" in err and err.count("\n") == 1
    (out / "model.pt").write_bytes(good[: len(good) // 3])
    code, _, err = cli("supervised", "evaluate", str(out), "--data-dir", str(mnist_dir))
    assert code == 2 and err.startswith("error:") and "corrupt" in err and err.count("\n") == 1
    (out / "model.pt").write_bytes(b"")
    code, _, err = cli("supervised", "evaluate", str(out), "--data-dir", str(mnist_dir))
    assert code == 2 and err.startswith("error:") and "empty" in err and err.count("\n") == 1


def test_tensorboard_events_per_epoch(mnist_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    r = fit("mlp-textbook", data_dir=mnist_dir, epochs=2, train_subset=200, test_subset=100, run_dir=out,
            progress=False, device="cpu", tensorboard=True)
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    scalars = events.Scalars("train/test_accuracy")
    assert [s.step for s in scalars] == [1, 2]
    assert [s.value for s in scalars] == pytest.approx([m.test_accuracy for m in r.history])
    assert "train/epoch" not in events.Tags()["scalars"]  # the step is the x axis, not a curve


def test_supervised_imports_no_agents():
    code = ("import sys, rlkit.supervised.train; "
            "print(sorted(m for m in sys.modules if m.startswith(('rlkit.agents', 'gymnasium'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"
    src = Path(__file__).parent.parent / "rlkit" / "supervised"
    upward = re.compile(r"^\s*(from|import) rlkit\.(agents|experiments)\b", re.M)
    assert not [p.name for p in src.glob("*.py") if upward.search(p.read_text())]
