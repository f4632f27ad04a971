"""Exact resume from *every* checkpoint: the state saved after each update of a run, restored into
a fresh agent, gives the very same next batches and the very same final weights.

Killing a run at one moment and resuming it passes by luck when a bug only shows at some
checkpoints (an episode that ends on the last step of a batch, a reset still pending, a recurrent
state at an episode boundary). So every update's state is restored here, through the same
``torch.save`` / ``torch.load(weights_only=True)`` round trip as a run's ``checkpoint.pt``, after
the global random generators have been scrambled as a fresh process would have them.
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
import torch

from rlkit.agents import Reinforce


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def _weights(agent: Reinforce) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in agent.policy.state_dict().items()}


def _scramble_globals() -> None:
    torch.manual_seed(987654)
    np.random.seed(4321)
    random.seed(77)


CASES = {
    # episodes end at batch boundaries now and then (~20-step episodes, 32-step batches)
    "cartpole": ("CartPole-v1", {"net": {"type": "mlp", "hidden": [16]}}, {"n_envs": 4, "n_steps": 32}, 14),
    # every batch is exactly one 200-step episode: each checkpoint sits on an episode boundary
    "pendulum-one-episode-batches": (
        "Pendulum-v1",
        {"net": {"type": "mlp", "hidden": [16]}},
        {"n_envs": 2, "n_steps": 200, "gamma": 0.9},
        6,
    ),
    # running normalisation statistics and the reward scaler's returns must come back exactly too
    "pendulum-normalised": (
        "Pendulum-v1",
        {"net": {"type": "mlp", "hidden": [16]}},
        {"n_envs": 2, "n_steps": 150, "normalize_obs": True, "normalize_reward": True, "target_kl": 0.001},
        6,
    ),
    "gru-cartpole-novel": (
        "rlkit/CartPoleNoVel-v1",
        {"net": {"type": "rnn", "cell": "gru", "hidden": 8},
         "value_net": {"type": "rnn", "cell": "gru", "hidden": 8}},
        {"n_envs": 4, "n_steps": 20},
        7,
    ),
    "mnist-bandit-episodes": (
        "rlkit/MNISTBandit-v0",
        {"net": {"type": "mlp", "hidden": [16]}},
        {"n_envs": 4, "n_steps": 8, "baseline": "mean", "env_kwargs": {"episode_length": 3}},
        10,
    ),
    "cartpole-whole-episode-batches": (
        "CartPole-v1",
        {"net": {"type": "mlp", "hidden": [16]}},
        {"n_envs": 2, "batch_mode": "episodes", "n_episodes": 2, "baseline": "mean"},
        8,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_restore_after_every_update_gives_the_same_run(case, request):
    env, policy, hp, n_updates = CASES[case]
    if env.startswith("rlkit/MNIST"):
        request.getfixturevalue("mnist_dir")
    ref = Reinforce(policy, env, seed=5, **hp)
    ref.learn(0, progress_bar=False)  # sets the schedule's horizon and a pending reset
    ref._total_timesteps = 10**7
    states = [_roundtrip(ref.get_state())]
    metrics = []
    for _ in range(n_updates):
        metrics.append(ref.train_one_batch())
        states.append(_roundtrip(ref.get_state()))
    final = _weights(ref)
    ref.close()

    boundaries = sum(
        bool(s["collector"]["starts"].any()) and not s["collector"]["pending_reset"] for s in states[1:]
    )
    if hp.get("batch_mode") != "episodes":
        assert boundaries > 0, "the run never checkpointed on an episode boundary; the case tests nothing"

    for k in range(n_updates):
        _scramble_globals()
        agent = Reinforce(policy, env, seed=5, **hp)
        try:
            agent.set_state(states[k])
            for u in range(k, n_updates):
                got = agent.train_one_batch()
                assert _same(got, metrics[u]), f"restored after update {k}: update {u + 1} differs"
            w = _weights(agent)
            same = all(torch.equal(w[n], final[n]) for n in final)
            assert same, f"restored after update {k}: weights differ"
        finally:
            agent.close()


def test_restore_into_async_envs_and_twice():
    """Async sub-processes replay like sync ones, and a restored agent can be checkpointed and
    restored again (a second resume)."""
    policy = {"net": {"type": "mlp", "hidden": [8]}}
    hp = {"n_envs": 2, "n_steps": 40, "vectorization": "async"}
    ref = Reinforce(policy, "CartPole-v1", seed=2, **hp)
    ref.learn(0, progress_bar=False)
    ref._total_timesteps = 10**7
    for _ in range(2):
        ref.train_one_batch()
    first = _roundtrip(ref.get_state())
    expected = [ref.train_one_batch() for _ in range(4)]
    ref.close()

    a = Reinforce(policy, "CartPole-v1", seed=2, **hp)
    a.set_state(first)
    got = [a.train_one_batch() for _ in range(2)]
    second = _roundtrip(a.get_state())
    a.close()
    b = Reinforce(policy, "CartPole-v1", seed=2, **hp)
    b.set_state(second)
    got += [b.train_one_batch() for _ in range(2)]
    b.close()
    assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
