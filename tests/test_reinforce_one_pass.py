"""REINFORCE's update computes the values of the advantages and the loss's log-probabilities in one
forward pass with gradients. It must move the weights exactly as the textbook two passes do
(values under ``no_grad`` first, then a fresh forward pass for the loss), on CartPole (episodes
still running at the end of a batch bootstrap from V(next obs)) and on the MNIST bandit (every
episode ends at every step: V(next obs) is not needed, so it is not computed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rlkit.agents.reinforce import Batch, Reinforce, compute_advantages, reinforce_update

TINY_CNN = {"type": "cnn", "blocks": [{"channels": 4, "kernel": 5, "padding": 2, "pool": 4}], "hidden": [32]}


def _two_pass_update(agent: Reinforce, ro) -> None:
    """The reference: V under no_grad (with V(next obs) always), advantages, then
    :func:`reinforce_update` with its own forward pass."""
    cfg, pol = agent.config, agent.policy
    agent._set_learning_rates()
    T, N = ro.rewards.shape
    x = pol.obs_to_tensor(ro.obs.reshape(T * N, *ro.obs.shape[2:]))
    x = x.reshape(T, N, *x.shape[1:])
    final_x = pol.obs_to_tensor(ro.final_obs.reshape(T * N, *ro.final_obs.shape[2:]))
    final_x = final_x.reshape(T, N, *final_x.shape[1:])
    actions, starts = torch.from_numpy(ro.actions), torch.from_numpy(ro.starts)
    with torch.no_grad():
        out = pol.evaluate_rollout(x, actions, starts, ro.h0, final_x=final_x,
                                   final_mask=torch.from_numpy(ro.truncated),
                                   last_x=pol.obs_to_tensor(ro.next_obs), need_values=True)
    adv, targets, valid = compute_advantages(
        ro, cfg.gamma, values=out.values.double().numpy(), final_values=out.final_values.double().numpy(),
        last_values=out.last_values.double().numpy(), gae_lambda=cfg.gae_lambda,
        reward_scale=cfg.reward_scale)
    n_valid = int(valid.sum())
    a = adv[valid]
    adv = (adv - a.mean()) / (a.std() + 1e-8)
    batch = Batch(x=x, actions=actions, starts=starts, advantages=torch.from_numpy(adv).float(),
                  returns=torch.from_numpy(targets).float(),
                  weights=torch.from_numpy(valid / max(n_valid, 1)).float(), h0=ro.h0)
    reinforce_update(pol, batch, agent.optimizers, ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
                     max_grad_norm=cfg.max_grad_norm, value_epochs=cfg.value_epochs)


def _images_through(body: torch.nn.Module, fn) -> int:
    """How many inputs ``fn()`` sends through ``body``."""
    seen = []
    hook = body.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    try:
        fn()
    finally:
        hook.remove()
    return sum(seen)


def _compare(env: str, policy: dict | None, updates: int, **hp) -> tuple[int, int, int]:
    """Update two equal agents on the same batches, one by ``update`` and one by the reference;
    the weights must stay bit-identical. Returns (inputs through the body in the agent's updates,
    batch steps), and how many batches had episodes running and others ended at their last step."""
    one = Reinforce(policy, env, seed=4, **hp)
    ref = Reinforce(policy, env, seed=4, **hp)
    through = steps = mixed = 0
    try:
        for _ in range(updates):
            ro = one.collect()
            last = ro.dones[-1]
            mixed += bool(last.any() and not last.all())
            through += _images_through(one.policy.body, lambda ro=ro: one.update(ro))
            steps += ro.rewards.size
            _two_pass_update(ref, ro)
            for (name, p), q in zip(one.policy.state_dict().items(), ref.policy.state_dict().values(),
                                    strict=True):
                assert torch.equal(p, q), name
    finally:
        one.close()
        ref.close()
    return through, steps, mixed


@pytest.mark.parametrize("policy,hp", [
    (None, {}),
    ({"shared": True}, {"value_optimizer": "shared", "gae_lambda": 0.95}),
])
def test_cartpole_update_is_the_two_pass_update(policy, hp):
    through, steps, mixed = _compare("CartPole-v1", policy, 25, n_envs=8, n_steps=4, **hp)
    assert mixed >= 3  # batches whose last step ended some episodes and not others were checked
    shared = bool(policy and policy.get("shared"))
    # one pass over the batch, plus V(next obs) (N inputs) through the shared body when it bootstraps
    assert through >= steps and (through > steps) == shared


def test_bandit_update_is_the_two_pass_update_in_one_pass_over_the_images():
    if not (Path(os.environ["RLKIT_DATA"]) / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("real MNIST not found")
    through, steps, _ = _compare("rlkit/MNISTBandit-v0", {"shared": True, "net": TINY_CNN}, 6, n_envs=16,
                                 n_steps=1, value_optimizer="shared", ent_coef=0.03, learning_rate=2e-3)
    assert through == steps  # every image once: no second forward pass, no V(next obs)
