"""Hostile values a user can type: seeds of any size or sign, absurd counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.seeding import as_generator, normalize_seed, seed_everything

pytestmark = pytest.mark.timeout(300)


def _reference(seed: int) -> int:
    """The documented rule, written independently: SeedSequence of (|seed|, sign word), 64 bits."""
    if 0 <= seed < 2**64:
        return seed
    return int(np.random.SeedSequence([abs(seed), 1 if seed < 0 else 2]).generate_state(1, np.uint64)[0])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(), st.integers(-2**70, -1), st.integers(2**64, 2**2000)))
def test_any_integer_is_a_seed_reduced_as_documented(seed):
    s = normalize_seed(seed)
    assert 0 <= s < 2**64 and s == _reference(seed)
    assert as_generator(seed).integers(2**62) == np.random.default_rng(s).integers(2**62)


@pytest.mark.parametrize("a, b", [(-5, 5), (2**64, 0), (-1, 2**64 - 1), (2**64 + 1, 1)])
def test_seeds_that_a_modulus_would_merge_stay_distinct(a, b):
    assert normalize_seed(a) != normalize_seed(b)


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_a_seed_that_is_not_an_integer_is_refused(bad):
    with pytest.raises(RlkitError, match="seed must be an integer"):
        normalize_seed(bad)


def test_torch_and_python_random_take_every_seed():
    import random

    import torch

    for seed in (-1, 2**64, -(10**400), 2**64 - 1):
        seed_everything(seed)
        a = (random.random(), torch.rand(1).item(), np.random.random())
        seed_everything(seed)
        assert a == (random.random(), torch.rand(1).item(), np.random.random())


@pytest.mark.parametrize("seed", ["-1", str(2**64), str(-(10**50)), str(2**200)])
def test_cli_seed_options_take_any_integer(cli, seed):
    args = ("evaluate-policy", "random-walk", "--episodes", "5", "--runs", "2", "-f", "json",
            f"--seed={seed}")
    code, out, err = cli(*args)
    assert code == 0, err
    again = cli(*args)[1]
    assert json.loads(out)["values"] == json.loads(again)["values"]
    other = cli(*args[:-1], "--seed=3")[1]
    assert json.loads(other)["values"] != json.loads(out)["values"]
    code, out, err = cli("control", "student-mdp", "--episodes", "5", f"--seed={seed}")
    assert code == 0, err


def test_supervised_training_takes_a_negative_seed_and_the_largest_one(mnist_dir):
    from rlkit.supervised.train import fit

    kw = dict(data_dir=mnist_dir, epochs=1, train_subset=100, test_subset=50, run_dir=None, progress=False,
              device="cpu")
    a, b = fit("mlp", seed=-1, **kw), fit("mlp", seed=-1, **kw)
    assert [m.train_loss for m in a.history] == [m.train_loss for m in b.history]
    c = fit("mlp", seed=2**64 - 1, **kw)  # seed + 1 (the test subset's stream) is reduced too
    assert [m.train_loss for m in c.history] != [m.train_loss for m in a.history]


def test_supervised_training_stops_on_a_nan_loss_with_one_error(mnist_dir, tmp_path):
    import torch

    from rlkit.supervised.train import fit

    out = tmp_path / "run"
    with pytest.raises(RlkitError, match=r"training loss became (nan|inf) at epoch \d+, batch \d+") as info:
        fit("mlp", data_dir=mnist_dir, epochs=5, train_subset=256, test_subset=64, batch_size=32, lr=1e12,
            optimizer="sgd", run_dir=out, progress=False, device="cpu")
    assert "\n" not in str(info.value)
    assert not (out / "result.json").exists()  # the run is not reported as finished
    if (out / "model.pt").exists():  # the last checkpoint has finite weights
        state = torch.load(out / "model.pt", weights_only=True)
        tensors = [v for v in (state.get("model") or state.get("state_dict") or state).values()
                   if isinstance(v, torch.Tensor)]
        assert tensors and all(torch.isfinite(t).all() for t in tensors)


@pytest.mark.parametrize("args", [
    ("evaluate-policy", "random-walk", "--runs", "1000000000"),
    ("evaluate-policy", "random-walk", "--episodes", "100000000000"),
    ("control", "gridworld-4x4", "--runs", "1000000000"),
    ("evaluate-policy", "random-walk", "--runs", "1e9"),
])
def test_absurd_counts_are_refused_before_any_work(cli, args):
    code, out, err = cli(*args)
    assert code == 2 and err.count("error:") == 1 and len(err.strip().splitlines()) == 1
    assert "RLKIT_MAX_MEMORY" in err or "--runs" in err


# ------------------------------------------------------------------------------------------------
# the CLI's last line of defence
# ------------------------------------------------------------------------------------------------

def _raise(exc):
    def f(*a, **k):
        raise exc
    return f


@pytest.mark.parametrize("exc, match", [
    (MemoryError(), "out of memory"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
])
def test_memory_and_recursion_errors_are_one_line(cli, monkeypatch, exc, match):
    import rlkit.mdp.report as report

    monkeypatch.setattr(report, "solve", _raise(exc))
    code, _, err = cli("solve-mdp", "student-mdp")
    assert code == 2 and err.strip().startswith("error:") and match in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("solve-mdp", "student-mdp", "--debug")  # --debug: the traceback too
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error:")


def test_an_os_error_on_a_user_path_is_one_line_and_a_bug_keeps_its_traceback(cli, monkeypatch, tmp_path):
    import rlkit.mdp.report as report

    user = tmp_path / "given.yaml"
    monkeypatch.setattr(report, "solve", _raise(PermissionError(13, "Permission denied", str(user))))
    code, _, err = cli("solve-mdp", str(user))
    assert code == 2 and err.strip() == f"error: {user}: Permission denied"
    internal = PermissionError(13, "Permission denied", "/etc/rlkit-internal")
    monkeypatch.setattr(report, "solve", _raise(internal))
    with pytest.raises(PermissionError):  # not a path the user gave: a bug, shown as such
        cli("solve-mdp", str(user))
    monkeypatch.setattr(report, "solve", _raise(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli("solve-mdp", "student-mdp")


def test_usage_errors_are_one_line(cli):
    for args in (("solve-mdp", "--nope"), ("nope",), ("solve-mdp",)):
        code, out, err = cli(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error:"), args


@pytest.mark.parametrize("env_id, kwargs, match", [
    ("rlkit/MNISTBandit-v0", {"obs_layout": [1]}, "obs_layout must be one of"),
    ("rlkit/MNISTBandit-v0", {"dataset": [1]}, "unknown dataset"),
    ("rlkit/MNISTBandit-v0", {"data_dir": 5}, "data_dir must be a folder path"),
    ("rlkit/MNISTBandit-v0", {"render_mode": [1]}, "render_mode must be a string"),
    ("rlkit/TabularMDP-v0", {"spec": "student-mdp", "render_mode": 3}, "render_mode must be a string"),
    ("rlkit/CartPoleNoVel-v1", {"mode": [1]}, "mode must be"),
])
def test_env_kwargs_of_the_wrong_kind_are_rlkit_errors(env_id, kwargs, match):
    from rlkit.envs import make

    with pytest.raises(RlkitError, match=match):
        make(env_id, **kwargs)
