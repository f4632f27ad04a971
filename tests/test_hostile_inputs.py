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
