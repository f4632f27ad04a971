"""fit / evaluate on MNIST subsets, run directories, checkpoints, and the CLI commands."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from rlkit.errors import RlkitError
from rlkit.supervised.data import load_mnist
from rlkit.supervised.train import MODEL_PRESETS, evaluate, evaluate_run, fit, load_checkpoint

RUN_FILES = {"config.json", "metrics.csv", "model.pt", "result.json", "learning_curve.png",
             "confusion_matrix.png"}


@pytest.mark.parametrize("model, epochs", [("mlp", 15), ("cnn", 8), ("rnn", 15)])
def test_tiny_subset_overfits(mnist_dir, model, epochs):
    # 512 training images seen `epochs` times: training loss falls far and train accuracy rises
    r = fit(model, data_dir=mnist_dir, epochs=epochs, train_subset=512, test_subset=500, augment=0,
            batch_size=64, run_dir=None, progress=False, device="cpu")
    first, last = r.history[0], r.history[-1]
    assert len(r.history) == epochs
    assert last.train_loss < 0.25 * first.train_loss
    assert last.train_accuracy > 0.95 and last.train_accuracy > first.train_accuracy + 0.2
    assert last.test_accuracy > 0.8  # and it generalises somewhat from 512 images
    # the confusion matrix is of the test subset and agrees with the accuracy
    assert r.confusion.sum() == 500 and np.trace(r.confusion) / 500 == pytest.approx(r.test_accuracy)


def test_same_seed_same_numbers(mnist_dir):
    kw = dict(data_dir=mnist_dir, epochs=2, train_subset=300, test_subset=200, run_dir=None, progress=False,
              device="cpu")
    a, b = fit("mlp", seed=3, **kw), fit("mlp", seed=3, **kw)
    assert [m.train_loss for m in a.history] == [m.train_loss for m in b.history]
    assert a.test_accuracy == b.test_accuracy
    c = fit("mlp", seed=4, **kw)
    assert [m.train_loss for m in c.history] != [m.train_loss for m in a.history]


def test_run_dir_contents_and_evaluate_reproduces(mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = fit("cnn", data_dir=mnist_dir, epochs=2, train_subset=600, test_subset=400, run_dir=out,
            progress=False, device="cpu")
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert float(rows[-1]["test_accuracy"]) == pytest.approx(r.test_accuracy)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "cnn" and cfg["input_shape"] == [28, 28] and cfg["parameters"] == r.parameters
    summary = json.loads((out / "result.json").read_text())
    assert {"test_accuracy", "epochs", "seconds", "parameters", "run_dir"} <= set(summary)
    for png in ("learning_curve.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # re-scoring the checkpoint gives the same accuracy and confusion (same 400-image subset)
    e = evaluate_run(out, data_dir=mnist_dir, device="cpu")
    assert e.test_accuracy == pytest.approx(r.test_accuracy) and e.n_images == 400
    assert np.array_equal(e.confusion, r.confusion)
    # and independently: the rebuilt model's predictions counted by hand on the full test set
    net, _ = load_checkpoint(out)
    x, y = load_mnist("test", data_dir=mnist_dir)
    with torch.no_grad():
        hand = float((net(x[:1000]).argmax(1) == y[:1000]).float().mean())
    assert evaluate(net, x[:1000], y[:1000], device="cpu").test_accuracy == pytest.approx(hand)


def test_checkpoint_of_another_architecture_or_corrupt(mnist_dir, tmp_path):
    kw = dict(data_dir=mnist_dir, epochs=1, train_subset=200, test_subset=100, progress=False, device="cpu")
    fit("mlp", run_dir=tmp_path / "mlp", **kw)
    fit("mlp-textbook", run_dir=tmp_path / "book", **kw)
    shutil.copy(tmp_path / "mlp" / "model.pt", tmp_path / "book" / "model.pt")
    with pytest.raises(RlkitError, match="different model"):
        evaluate_run(tmp_path / "book", data_dir=mnist_dir)
    data = (tmp_path / "mlp" / "model.pt").read_bytes()
    (tmp_path / "mlp" / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RlkitError, match="corrupt"):
        evaluate_run(tmp_path / "mlp", data_dir=mnist_dir)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(RlkitError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(RlkitError, match="not an rlkit"):
        load_checkpoint(tmp_path / "foreign.pt")


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "resnet"}, "unknown model"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": 0}, "epochs"),
    ({"lr": -1.0}, "lr"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"dataset": "cifar10"}, "unknown dataset"),
    ({"augment": -1}, "augment"),
])
def test_bad_arguments_write_nothing(tmp_path, kwargs, match):
    out = tmp_path / "run"
    model = kwargs.pop("model", "mlp")
    with pytest.raises(RlkitError, match=match):
        fit(model, run_dir=out, progress=False, **kwargs)
    assert not out.exists()


def test_existing_run_is_not_overwritten(mnist_dir, tmp_path):
    out = tmp_path / "run"
    fit("mlp", data_dir=mnist_dir, epochs=1, train_subset=100, test_subset=100, run_dir=out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RlkitError, match="already holds a run"):
        fit("mlp", data_dir=mnist_dir, epochs=1, train_subset=100, run_dir=out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_custom_backbone_config_and_stop_at_accuracy(mnist_dir):
    cfg = {"type": "mlp", "hidden": [32], "activation": "elu", "layer_norm": True}
    seen = []
    r = fit(cfg, data_dir=mnist_dir, epochs=6, train_subset=2000, test_subset=500, run_dir=None,
            progress=False, stop_at_accuracy=0.6, callback=seen.append)
    assert r.config["model"] == "custom-mlp" and r.stopped_early
    assert seen == r.history and r.epochs == len(seen) < 6
    # it stopped at the first epoch that reached the target
    assert seen[-1].test_accuracy >= 0.6 and all(m.test_accuracy < 0.6 for m in seen[:-1])
    assert r.parameters == 784 * 32 + 32 + 2 * 32 + 32 * 10 + 10  # linear, layer norm, head


def test_model_config_files(mnist_dir, tmp_path):
    (tmp_path / "small.yaml").write_text(
        "backbone: {type: mlp, hidden: [16], activation: tanh}\nepochs: 1\nlr: 0.002\noptimizer: sgd\n")
    r = fit(tmp_path / "small.yaml", data_dir=mnist_dir, train_subset=300, test_subset=100, run_dir=None,
            progress=False)
    assert r.config["model"] == "small" and r.config["optimizer"] == "sgd" and r.epochs == 1
    assert r.parameters == 784 * 16 + 16 + 16 * 10 + 10
    (tmp_path / "bb.json").write_text('{"type": "cnn", "blocks": [{"channels": 4, "pool": 2}], "hidden": []}')
    r = fit(str(tmp_path / "bb.json"), data_dir=mnist_dir, epochs=1, train_subset=100, test_subset=100,
            run_dir=None, progress=False)
    assert r.parameters == (9 * 4 + 4) + 4 * 13 * 13 * 10 + 10  # conv 3x3 -> 26x26 -> pool 13x13
    (tmp_path / "bad.yaml").write_text("backbone: {type: mlp}\nepochz: 3\n")
    with pytest.raises(RlkitError, match="epochz"):
        fit(tmp_path / "bad.yaml", run_dir=None)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RlkitError, match="mapping"):
        fit(tmp_path / "list.yaml", run_dir=None)
    with pytest.raises(RlkitError, match="not found"):
        fit(tmp_path / "absent.yaml", run_dir=None)


def test_presets_are_complete():
    for name, preset in MODEL_PRESETS.items():
        assert {"backbone", "epochs", "batch_size", "lr", "optimizer", "schedule"} <= set(preset), name


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_train_json_and_evaluate(cli, mnist_dir, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("supervised", "train", "--model", "mlp", "--epochs", "1", "--train-subset",
                            "500", "--data-dir", str(mnist_dir), "--run-dir", str(out), "--format", "json",
                            "--quiet")
    assert code == 0, err
    summary = json.loads(stdout)
    assert {"test_accuracy", "epochs", "seconds", "parameters", "run_dir"} <= set(summary)
    assert summary["epochs"] == 1 and summary["parameters"] == 784 * 512 + 512 + 512 * 256 + 256 + 2570
    code, stdout, err = cli("supervised", "evaluate", str(out), "--format", "json")
    assert code == 0, err
    assert json.loads(stdout)["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    code, stdout, _ = cli("supervised", "evaluate", str(out))
    assert code == 0 and "test accuracy" in stdout


@pytest.mark.parametrize("args, match", [
    (["--model", "transformer"], "unknown model"),
    (["--batch-size", "0"], "batch_size"),
    (["--batch-size", "-5"], "batch_size"),
    (["--epochs", "0"], "epochs"),
    (["--data-dir", "/nonexistent/mnist"], "does not exist"),
    (["--dataset", "imagenet"], "unknown dataset"),
])
def test_cli_bad_input_exits_2_with_one_line(cli, tmp_path, args, match):
    out = tmp_path / "run"
    code, stdout, err = cli("supervised", "train", *args, "--run-dir", str(out), "--quiet")
    assert code == 2
    assert err.startswith("error:") and match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_cli_evaluate_bad_run_dir(cli, tmp_path):
    code, _, err = cli("supervised", "evaluate", str(tmp_path / "missing"))
    assert code == 2 and err.startswith("error:")
    (tmp_path / "empty").mkdir()
    code, _, err = cli("supervised", "evaluate", str(tmp_path / "empty"))
    assert code == 2 and "model.pt" in err


@pytest.mark.slow
def test_default_cnn_one_epoch_full_mnist(mnist_dir):
    r = fit("cnn", data_dir=mnist_dir, epochs=1, run_dir=None, progress=False)
    assert r.test_accuracy >= 0.985, r.history
