"""A full CartPole solve with the preset (slow: about 10-30 s of training on 2 cores)."""

from __future__ import annotations

import pytest

from rlkit.runs import train


@pytest.mark.slow
def test_cartpole_preset_solves_seed_0(tmp_path):
    result = train("CartPole-v1", seed=0, root=tmp_path)
    assert result.timesteps <= 200_000 + 1024  # the preset's budget (plus at most one batch)
    assert result.eval.episodes == 100 and result.eval.deterministic
    assert result.eval.mean >= 475.0
