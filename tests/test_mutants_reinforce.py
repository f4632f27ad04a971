"""REINFORCE's update with a value net, its statistics, clipping and step-size rules, against
numbers computed here by hand (numpy on a softmax-linear policy and a linear value net), not
through rlkit's own loss. Written against the surviving mutants of ``agents/reinforce.py``
(docs/mutation.md)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlkit.agents.policies import ActorCritic
from rlkit.agents.reinforce import (
    Batch,
    NaNLossError,
    Reinforce,
    ReinforceConfig,
    make_config,
    reinforce_loss,
    reinforce_update,
)
from rlkit.agents.rollout import Rollout
from rlkit.errors import RlkitError

T, N, D, A = 4, 2, 3, 3


def _policy(shared: bool) -> ActorCritic:
    """pi(a|x) = softmax(W x + c), V(x) = u . x + b (the backbones are identities), float64."""
    torch.manual_seed(1)
    cfg = {"net": {"type": "mlp", "hidden": []}, "head_gain": 1.0, "shared": shared}
    if not shared:
        cfg["value_net"] = {"type": "mlp", "hidden": []}
    pol = ActorCritic(spaces.Box(-1, 1, (D,)), spaces.Discrete(A), cfg, with_value=True)
    pol.body = torch.nn.Identity()
    if not shared:
        pol.value_body = torch.nn.Identity()
    return pol.double()


def _sgd(pol: ActorCritic, lr: float, value_lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
    """Separate plain-SGD optimisers of the policy and the value net (the update's textbook step)."""
    return {"policy": torch.optim.SGD(pol.policy_parameters(), lr=lr),
            "value": torch.optim.SGD(pol.value_parameters(), lr=lr if value_lr is None else value_lr)}


def _batch(seed: int = 0) -> Batch:
    g = np.random.default_rng(seed)
    w = np.full((T, N), 1.0)
    w[0, 1] = 0.0  # a step left out
    w /= w.sum()
    return Batch(
        x=torch.from_numpy(g.normal(size=(T, N, D))),
        actions=torch.from_numpy(g.integers(0, A, size=(T, N))),
        starts=torch.zeros(T, N, dtype=torch.bool),
        advantages=torch.from_numpy(g.normal(size=(T, N))),
        returns=torch.from_numpy(g.normal(size=(T, N)) * 3 + 1),
        weights=torch.from_numpy(w),
    )


def _params(pol: ActorCritic) -> dict[str, np.ndarray]:
    return {
        "W": pol.action_head.weight.detach().numpy().copy(),
        "c": pol.action_head.bias.detach().numpy().copy(),
        "u": pol.value_head.weight.detach().numpy()[0].copy(),
        "b": float(pol.value_head.bias.detach()[0]),
    }


def _by_hand(p: dict[str, np.ndarray], batch: Batch) -> dict[str, object]:
    """Losses, statistics and gradients of a softmax-linear policy and a linear value net."""
    x = batch.x.numpy().reshape(-1, D)
    a = batch.actions.numpy().reshape(-1)
    adv = batch.advantages.numpy().reshape(-1)
    G = batch.returns.numpy().reshape(-1)
    w = batch.weights.numpy().reshape(-1)
    logits = x @ p["W"].T + p["c"]
    logits -= logits.max(1, keepdims=True)
    pi = np.exp(logits)
    pi /= pi.sum(1, keepdims=True)
    logpi = np.log(pi)
    logp = logpi[np.arange(len(a)), a]
    H = -(pi * logpi).sum(1)
    v = x @ p["u"] + p["b"]
    # d(-sum w A log pi(a))/d logits = -w A (e_a - pi);  dH/d logits_j = -pi_j (log pi_j + H)
    d_pg = -(w * adv)[:, None] * (np.eye(A)[a] - pi)
    d_H = -pi * (logpi + H[:, None])
    d_v = 2 * w * (v - G)
    valid = w > 0
    return {
        "logp": logp,
        "policy_loss": -(w * logp * adv).sum(),
        "entropy": (w * H).sum(),
        "value_loss": (w * (v - G) ** 2).sum(),
        "ev": 1 - np.var(G[valid] - v[valid], ddof=1) / np.var(G[valid], ddof=1),
        "adv_mean": (w * adv).sum(),
        # gradients: of the policy loss, of the entropy (by the logits), of L_V
        "gW_pg": d_pg.T @ x, "gc_pg": d_pg.sum(0),
        "gW_H": (w[:, None] * d_H).T @ x, "gc_H": (w[:, None] * d_H).sum(0),
        "gu": d_v @ x, "gb": d_v.sum(),
    }


def test_separate_optimisers_one_policy_step_and_value_epochs_value_steps():
    pol, batch = _policy(shared=False), _batch()
    p0 = _params(pol)
    h = _by_hand(p0, batch)
    lr_p, lr_v, beta, epochs = 0.3, 0.05, 0.2, 3
    opt = _sgd(pol, lr_p, lr_v)
    stats = reinforce_update(pol, batch, opt, ent_coef=beta, max_grad_norm=None, value_epochs=epochs)
    gW = h["gW_pg"] - beta * h["gW_H"]
    gc = h["gc_pg"] - beta * h["gc_H"]
    p1 = _params(pol)
    np.testing.assert_allclose(p1["W"], p0["W"] - lr_p * gW, atol=1e-12)
    np.testing.assert_allclose(p1["c"], p0["c"] - lr_p * gc, atol=1e-12)
    # value_epochs plain gradient steps on the same targets
    q = dict(p0)
    for _ in range(epochs):
        hq = _by_hand(q, batch)
        q = {**q, "u": q["u"] - lr_v * hq["gu"], "b": q["b"] - lr_v * hq["gb"]}
    np.testing.assert_allclose(p1["u"], q["u"], atol=1e-12)
    assert p1["b"] == pytest.approx(q["b"], abs=1e-12)
    # the statistics are those of the batch before the step
    assert stats.policy_loss == pytest.approx(h["policy_loss"], rel=1e-10)
    assert stats.entropy == pytest.approx(h["entropy"], rel=1e-10)
    assert stats.value_loss == pytest.approx(h["value_loss"], rel=1e-10)
    assert stats.advantage_mean == pytest.approx(h["adv_mean"], rel=1e-10)
    assert stats.explained_variance == pytest.approx(h["ev"], rel=1e-10)
    assert stats.grad_norm == pytest.approx(math.sqrt((gW**2).sum() + (gc**2).sum()), rel=1e-10)
    assert math.isnan(stats.approx_kl)


def test_shared_optimiser_descends_policy_loss_minus_entropy_plus_vf_coef_value_loss():
    pol, batch = _policy(shared=True), _batch(seed=2)
    p0 = _params(pol)
    h = _by_hand(p0, batch)
    lr, beta, cv = 0.1, 0.05, 0.7
    params = list(dict.fromkeys(pol.policy_parameters() + pol.value_parameters()))
    assert len(params) == 4
    stats = reinforce_update(pol, batch, {"shared": torch.optim.SGD(params, lr=lr)},
                             ent_coef=beta, vf_coef=cv, max_grad_norm=None)
    gW, gc = h["gW_pg"] - beta * h["gW_H"], h["gc_pg"] - beta * h["gc_H"]
    gu, gb = cv * h["gu"], cv * h["gb"]
    p1 = _params(pol)
    np.testing.assert_allclose(p1["W"], p0["W"] - lr * gW, atol=1e-12)
    np.testing.assert_allclose(p1["c"], p0["c"] - lr * gc, atol=1e-12)
    np.testing.assert_allclose(p1["u"], p0["u"] - lr * gu, atol=1e-12)
    assert p1["b"] == pytest.approx(p0["b"] - lr * gb, abs=1e-12)
    norm = math.sqrt((gW**2).sum() + (gc**2).sum() + (gu**2).sum() + gb**2)
    assert stats.grad_norm == pytest.approx(norm, rel=1e-10)


def test_clipping_scales_each_net_to_the_threshold_and_reports_the_norm_before_clipping():
    pol, batch = _policy(shared=False), _batch(seed=4)
    p0 = _params(pol)
    h = _by_hand(p0, batch)
    clip, lr = 0.01, 1.0
    opt = _sgd(pol, lr)
    stats = reinforce_update(pol, batch, opt, max_grad_norm=clip, value_epochs=1)
    g_pol = math.sqrt((h["gW_pg"] ** 2).sum() + (h["gc_pg"] ** 2).sum())
    g_val = math.sqrt((h["gu"] ** 2).sum() + h["gb"] ** 2)
    assert g_pol > clip and g_val > clip
    assert stats.grad_norm == pytest.approx(g_pol, rel=1e-10)
    p1 = _params(pol)
    # torch scales by clip / (norm + 1e-6)
    np.testing.assert_allclose(p1["W"], p0["W"] - lr * h["gW_pg"] * clip / (g_pol + 1e-6), atol=1e-12)
    np.testing.assert_allclose(p1["u"], p0["u"] - lr * h["gu"] * clip / (g_val + 1e-6), atol=1e-12)
    step = math.sqrt(((p1["u"] - p0["u"]) ** 2).sum() + (p1["b"] - p0["b"]) ** 2)
    assert step == pytest.approx(clip, rel=1e-4)


def test_max_grad_norm_zero_means_no_clipping():
    pol, batch = _policy(shared=False), _batch(seed=4)
    p0 = _params(pol)
    h = _by_hand(p0, batch)
    opt = _sgd(pol, 1.0)
    reinforce_update(pol, batch, opt, max_grad_norm=0.0)
    np.testing.assert_allclose(_params(pol)["W"], p0["W"] - h["gW_pg"], atol=1e-12)


def test_approx_kl_is_schulmans_estimator_of_the_step_just_taken():
    pol, batch = _policy(shared=False), _batch(seed=5)
    h0 = _by_hand(_params(pol), batch)
    opt = _sgd(pol, 0.5)
    stats = reinforce_update(pol, batch, opt, measure_kl=True)
    h1 = _by_hand(_params(pol), batch)
    r = h1["logp"] - h0["logp"]
    w = batch.weights.numpy().reshape(-1)
    kl = (w * (np.expm1(r) - r)).sum()
    assert kl > 1e-6
    assert stats.approx_kl == pytest.approx(kl, rel=1e-8)


def test_explained_variance_is_nan_for_constant_targets_and_one_minus_ratio_otherwise():
    pol, batch = _policy(shared=False), _batch(seed=6)
    batch.returns = torch.full((T, N), 2.0, dtype=torch.float64)
    opt = _sgd(pol, 0.0)
    assert math.isnan(reinforce_update(pol, batch, opt).explained_variance)
    # the step left out (weight 0) does not count: a wild target there changes nothing
    batch = _batch(seed=6)
    ev = reinforce_update(pol, batch, opt).explained_variance
    batch.returns[0, 1] = 1e6
    assert reinforce_update(pol, batch, opt).explained_variance == pytest.approx(ev, rel=1e-12)
    # one valid step: no variance, nan
    batch.weights = torch.zeros(T, N, dtype=torch.float64)
    batch.weights[2, 0] = 1.0
    assert math.isnan(reinforce_update(pol, batch, opt).explained_variance)


def test_policy_without_value_reports_zero_value_loss_and_nan_explained_variance():
    torch.manual_seed(0)
    pol = ActorCritic(spaces.Box(-1, 1, (D,)), spaces.Discrete(A),
                      {"net": {"type": "mlp", "hidden": []}}, with_value=False).double()
    pol.body = torch.nn.Identity()
    batch = _batch()
    stats = reinforce_update(pol, batch, {"policy": torch.optim.SGD(pol.policy_parameters(), lr=0.1)})
    assert stats.value_loss == 0.0 and math.isnan(stats.explained_variance)
    _, _, value_loss, _ = reinforce_loss(pol, batch)
    assert float(value_loss) == 0.0


@pytest.mark.parametrize("where", ["returns", "advantages"])
def test_a_nan_loss_is_refused_before_any_weight_moves(where):
    pol, batch = _policy(shared=False), _batch()
    getattr(batch, where)[1, 0] = float("nan")
    before = [p.detach().clone() for p in pol.parameters()]
    opt = _sgd(pol, 0.1)
    name = "value loss" if where == "returns" else "policy loss"
    with pytest.raises(NaNLossError, match=f"the {name} became nan at update 3"):
        reinforce_update(pol, batch, opt, update=3)
    assert all(torch.equal(b, p) for b, p in zip(before, pol.parameters(), strict=True))


def test_an_infinite_gradient_is_refused():
    pol, batch = _huge_inputs()
    before = [p.detach().clone() for p in pol.parameters()]
    opt = _sgd(pol, 0.1)
    with pytest.raises(NaNLossError, match="the gradient became inf at update 1"):
        reinforce_update(pol, batch, opt, update=1)
    assert all(torch.equal(b, p) for b, p in zip(before, pol.parameters(), strict=True))


def _huge_inputs():
    """Finite logits and losses (inputs 1e300 times weights 1e-300) but gradients of 1e300, whose
    norm overflows."""
    pol, batch = _policy(shared=False), _batch()
    batch.x = batch.x * 1e300
    with torch.no_grad():
        pol.action_head.weight.mul_(1e-300)
        pol.value_head.weight.mul_(1e-300)
    return pol, batch


# ------------------------------------------------------------------------------------------------
# the agent's step-size rules and its batches
# ------------------------------------------------------------------------------------------------


def _agent(**hp) -> Reinforce:
    return Reinforce({"net": {"type": "mlp", "hidden": [4]}}, "CartPole-v1", seed=0, n_envs=1,
                     n_steps=8, **hp)


def test_target_kl_rule_divides_multiplies_and_stays_within_its_bounds():
    ag = _agent(target_kl=0.01, kl_adapt_factor=2.0, lr_adapt_min=0.2)
    assert ag._lr_adapt == 1.0
    ag._adapt_learning_rate(0.0201)  # above 2 target: divide
    assert ag._lr_adapt == pytest.approx(0.5)
    ag._adapt_learning_rate(0.02)  # exactly 2 target: unchanged
    assert ag._lr_adapt == pytest.approx(0.5)
    ag._adapt_learning_rate(0.03)
    ag._adapt_learning_rate(0.03)  # 0.125 -> floored at lr_adapt_min
    assert ag._lr_adapt == pytest.approx(0.2)
    ag._adapt_learning_rate(0.005)  # exactly target / 2: unchanged
    assert ag._lr_adapt == pytest.approx(0.2)
    ag._adapt_learning_rate(0.0049)
    assert ag._lr_adapt == pytest.approx(0.4)
    ag._adapt_learning_rate(float("nan"))
    assert ag._lr_adapt == pytest.approx(0.4)
    for _ in range(3):
        ag._adapt_learning_rate(0.0)
    assert ag._lr_adapt == 1.0  # never above the schedule's rate
    off = _agent()
    off._adapt_learning_rate(100.0)
    assert off._lr_adapt == 1.0


def test_learning_rates_follow_the_schedule_the_kl_factor_and_the_value_rate():
    ag = _agent(learning_rate=0.01, value_learning_rate=0.003, lr_schedule="linear")
    ag._total_timesteps, ag.num_timesteps = 100, 25
    ag._lr_adapt = 0.5
    lr = ag._set_learning_rates()
    assert lr == pytest.approx(0.01 * 0.5 * 0.75)
    assert ag.optimizers["policy"].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 * 0.75)
    assert ag.optimizers["value"].param_groups[0]["lr"] == pytest.approx(0.003 * 0.75)
    same = _agent(learning_rate=0.01)
    same._set_learning_rates()
    assert same.optimizers["value"].param_groups[0]["lr"] == pytest.approx(0.01)


def test_optimisers_per_configuration():
    ag = _agent(learning_rate=0.02, value_learning_rate=0.004, adam_eps=1e-5)
    assert set(ag.optimizers) == {"policy", "value"}
    assert ag.optimizers["value"].param_groups[0]["lr"] == pytest.approx(0.004)
    assert ag.optimizers["policy"].param_groups[0]["eps"] == pytest.approx(1e-5)
    pol_ids = {id(p) for p in ag.policy.policy_parameters()}
    assert {id(p) for p in ag.optimizers["policy"].param_groups[0]["params"]} == pol_ids
    shared = _agent(value_optimizer="shared", learning_rate=0.02)
    assert set(shared.optimizers) == {"shared"}
    n = len(set(map(id, shared.policy.policy_parameters() + shared.policy.value_parameters())))
    assert len(shared.optimizers["shared"].param_groups[0]["params"]) == n
    alone = _agent(baseline="none")
    assert set(alone.optimizers) == {"policy"}


def test_configuration_checks():
    with pytest.raises(RlkitError, match="value_epochs > 1 needs value_optimizer: separate"):
        _agent(value_optimizer="shared", value_epochs=2)
    with pytest.raises(RlkitError, match="shared policy/value backbone needs value_optimizer: shared"):
        Reinforce({"net": {"type": "mlp", "hidden": [4]}, "shared": True}, "CartPole-v1", n_steps=8)
    Reinforce({"net": {"type": "mlp", "hidden": [4]}, "shared": True}, "CartPole-v1", n_steps=8,
              value_optimizer="shared")
    with pytest.raises(RlkitError, match="GAE needs a value baseline"):
        make_config(gae_lambda=0.9, baseline="mean")
    make_config(gae_lambda=0.9, baseline="value")


def test_documented_defaults():
    cfg = ReinforceConfig()
    assert (cfg.gae_lambda, cfg.baseline, cfg.baseline_decay) == (None, "value", 0.9)
    assert cfg.normalize_advantage is True
    assert (cfg.ent_coef, cfg.vf_coef, cfg.value_learning_rate) == (0.0, 0.5, None)
    assert cfg.value_optimizer == "separate"
    assert (cfg.value_epochs, cfg.reward_scale, cfg.target_kl) == (1, 1.0, None)
    assert (cfg.kl_adapt_factor, cfg.lr_adapt_min) == (1.5, 0.01)


def _rollout(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray | None = None,
             seed: int | None = None) -> Rollout:
    """A rollout of CartPole-shaped observations by hand: zero observations and actions, or, with a
    ``seed``, random ones (and random final observations where an episode was cut)."""
    Tn, Nn = rewards.shape
    truncated = np.zeros((Tn, Nn), dtype=bool) if truncated is None else truncated
    starts = np.zeros((Tn, Nn), dtype=bool)
    starts[0] = True
    starts[1:] = (terminated | truncated)[:-1]
    obs, final = np.zeros((Tn, Nn, 4), dtype=np.float32), np.zeros((Tn, Nn, 4), dtype=np.float32)
    actions, next_obs = np.zeros((Tn, Nn), dtype=np.int64), np.zeros((Nn, 4), dtype=np.float32)
    if seed is not None:
        g = np.random.default_rng(seed)
        obs = g.normal(size=obs.shape).astype(np.float32)
        actions = g.integers(0, 2, size=actions.shape)
        final[truncated] = g.normal(size=(int(truncated.sum()), 4))
        next_obs = g.normal(size=next_obs.shape).astype(np.float32)
    return Rollout(obs=obs, actions=actions, env_actions=np.zeros((Tn, Nn), dtype=np.int64),
                   rewards=rewards.astype(np.float64), terminated=terminated, truncated=truncated,
                   starts=starts, final_obs=final, valid=np.ones((Tn, Nn), dtype=bool), next_obs=next_obs)


def test_mean_baseline_starts_at_the_first_batch_mean_then_decays():
    """b_1 = mean(G) of batch 1; b_k = d b_{k-1} + (1 - d) mean(G_k); A = G - b (old b)."""
    ag = _agent(baseline="mean", baseline_decay=0.75, normalize_advantage=False, gamma=1.0,
                batch_mode="episodes")
    r = np.ones((3, 1))
    term = np.array([[False], [False], [True]])
    batch, _ = ag._make_batch(_rollout(r, term))  # G = 3, 2, 1; b = 0 before
    np.testing.assert_allclose(batch.advantages.numpy()[:, 0], [3, 2, 1])
    np.testing.assert_allclose(batch.weights.numpy()[:, 0], [1 / 3] * 3, rtol=1e-6)
    assert ag._baseline_mean == pytest.approx(2.0)
    batch, _ = ag._make_batch(_rollout(2 * r, term))  # G = 6, 4, 2 (mean 4); A = G - 2
    np.testing.assert_allclose(batch.advantages.numpy()[:, 0], [4, 2, 0])
    assert ag._baseline_mean == pytest.approx(0.75 * 2 + 0.25 * 4)
    state = ag._extra_state()
    other = _agent(baseline="mean")
    other._load_extra_state(state)
    assert (other._baseline_mean, other._baseline_seen) == (pytest.approx(2.5), True)


def test_advantages_are_standardised_over_the_valid_steps_only():
    ag = _agent(baseline="none", normalize_advantage=True, gamma=1.0, batch_mode="steps")
    r = np.array([[1.0], [2.0], [4.0], [8.0]])
    term = np.array([[False], [True], [False], [False]])  # the last episode is incomplete
    batch, _ = ag._make_batch(_rollout(r, term))
    G = np.array([3.0, 2.0])
    expected = (G - G.mean()) / (G.std() + 1e-8)
    np.testing.assert_allclose(batch.advantages.numpy()[:2, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(batch.weights.numpy()[:, 0], [0.5, 0.5, 0, 0])
    raw = _agent(baseline="none", normalize_advantage=False, gamma=1.0, batch_mode="steps")
    batch, _ = raw._make_batch(_rollout(r, term))
    np.testing.assert_allclose(batch.advantages.numpy()[:2, 0], G)


def test_lr_adapt_out_of_range_in_a_checkpoint_is_refused():
    ag = _agent()
    state = ag._extra_state()
    state["lr_adapt"] = 0.0
    with pytest.raises(RlkitError, match=r"lr_adapt must be in \(0, 1\], got 0.0"):
        ag._load_extra_state(state)
    state["lr_adapt"] = 1.0
    ag._load_extra_state(state)
    del state["lr_adapt"]
    ag._lr_adapt = 0.3
    ag._load_extra_state(state)
    assert ag._lr_adapt == 1.0


# ------------------------------------------------------------------------------------------------
# the second measurement's survivors: the value-net batch, recurrent states, messages, defaults
# ------------------------------------------------------------------------------------------------


def _v(pol, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(-1, 4))
        return pol.value_head(pol.value_body(x)).squeeze(-1).double().numpy().reshape(np.shape(obs)[:-1])


def _gae_by_hand(ro: Rollout, V, V_final, V_last, gamma, lam, scale):
    T_, N_ = ro.rewards.shape
    adv = np.zeros((T_, N_))
    for n in range(N_):
        a = 0.0
        for t in reversed(range(T_)):
            if ro.terminated[t, n]:
                nxt, a = 0.0, 0.0
            elif ro.truncated[t, n]:
                nxt, a = V_final[t, n], 0.0
            else:
                nxt = V_last[n] if t == T_ - 1 else V[t + 1, n]
            delta = scale * ro.rewards[t, n] + gamma * nxt - V[t, n]
            a = delta + gamma * lam * a
            adv[t, n] = a
    return adv, adv + V


@pytest.mark.parametrize("last_all_done", [False, True])
def test_value_batch_is_gae_of_the_value_nets_own_values_by_hand(last_all_done):
    T_, N_ = 6, 3
    term = np.zeros((T_, N_), dtype=bool)
    trunc = np.zeros((T_, N_), dtype=bool)
    term[1, :] = True  # rows where every env is done (the second and the second to last), before
    term[4, :] = True  # a last row that is not: the batch still bootstraps from V(next obs)
    trunc[3, 1] = True
    if last_all_done:
        term[-1, :2] = True
        trunc[-1, 2] = True
    ro = _rollout(np.random.default_rng(1).normal(size=(T_, N_)) + 1.0, term, trunc, seed=0)
    ag = Reinforce({"net": {"type": "mlp", "hidden": [5]}}, "CartPole-v1", seed=3, n_envs=N_, n_steps=T_,
                   gae_lambda=0.8, gamma=0.9, reward_scale=0.5, normalize_advantage=False)
    pol = ag.policy
    with torch.no_grad():
        pol.value_head.bias.fill_(0.3)
        pol.value_head.weight.normal_()
    V, V_final, V_last = _v(pol, ro.obs), _v(pol, ro.final_obs), _v(pol, ro.next_obs)
    adv, ret = _gae_by_hand(ro, V, V_final, V_last, 0.9, 0.8, 0.5)
    batch, out = ag._make_batch(ro)
    np.testing.assert_allclose(batch.advantages.numpy(), adv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.returns.numpy(), ret, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.weights.numpy(), np.full((T_, N_), 1 / (T_ * N_)), rtol=1e-6)
    np.testing.assert_allclose(batch.x.numpy(), ro.obs)
    assert torch.equal(batch.actions, torch.from_numpy(ro.actions))
    assert torch.equal(batch.starts, torch.from_numpy(ro.starts))
    # the outputs handed on are the policy's log-probabilities of the actions, with gradients
    with torch.no_grad():
        logits = pol.action_head(pol.body(batch.x.reshape(-1, 4)))
    logp = torch.log_softmax(logits, -1).gather(1, batch.actions.reshape(-1, 1)).reshape(T_, N_)
    torch.testing.assert_close(out.logp.detach(), logp)
    assert out.logp.requires_grad
    np.testing.assert_allclose(out.values.detach().double().numpy(), V, rtol=1e-6)


def test_a_single_valid_step_keeps_its_raw_advantage_and_all_the_weight():
    ag = _agent(baseline="none", normalize_advantage=True, gamma=1.0, batch_mode="steps")
    r = np.array([[1.0], [2.0], [4.0]])
    term = np.array([[True], [False], [False]])
    batch, _ = ag._make_batch(_rollout(r, term))
    np.testing.assert_allclose(batch.advantages.numpy()[:1, 0], [1.0])  # not standardised
    np.testing.assert_allclose(batch.weights.numpy()[:, 0], [1.0, 0.0, 0.0])
    assert ag._baseline_seen is False and ag._extra_state()["baseline"] == {"mean": 0.0, "seen": False}


def test_standardising_tiny_advantages_divides_by_std_plus_eps():
    ag = _agent(baseline="none", normalize_advantage=True, gamma=1.0, batch_mode="episodes")
    r = np.array([[0.0], [2e-8]])
    term = np.array([[True], [True]])
    batch, _ = ag._make_batch(_rollout(r, term))
    np.testing.assert_allclose(batch.advantages.numpy()[:, 0], [-0.5, 0.5], rtol=1e-5)


RNN_CFG = {"net": {"type": "rnn", "cell": "gru", "hidden": 4},
           "value_net": {"type": "rnn", "cell": "gru", "hidden": 3}}


def _recurrent():
    torch.manual_seed(0)
    cfg = RNN_CFG
    pol = ActorCritic(spaces.Box(-1, 1, (D,)), spaces.Discrete(A), cfg, with_value=True)
    with torch.no_grad():
        pol.value_head.weight.normal_()
    g = torch.Generator().manual_seed(1)
    batch = _batch(seed=7)
    batch.x = batch.x.float()
    batch.advantages, batch.returns, batch.weights = (batch.advantages.float(), batch.returns.float(),
                                                      batch.weights.float())
    batch.h0 = torch.randn(pol.initial_state(N).shape, generator=g)
    batch.value_h0 = torch.randn(pol.value_body.initial_state(N).shape, generator=g)
    return pol, batch


def test_recurrent_states_reach_the_loss_the_kl_and_every_value_epoch():
    pol, batch = _recurrent()
    ref = pol.evaluate_rollout(batch.x, batch.actions, batch.starts, batch.h0, value_h0=batch.value_h0,
                               need_values=True)
    p, h, v, _ = reinforce_loss(pol, batch)
    w = batch.weights
    torch.testing.assert_close(p, -(w * ref.logp * batch.advantages).sum())
    torch.testing.assert_close(v, (w * (ref.values - batch.returns) ** 2).sum())
    cold = Batch(**{**batch.__dict__, "h0": None, "value_h0": None})
    p0, _, v0, _ = reinforce_loss(pol, cold)
    assert abs((p0 - p).item()) > 1e-4 and abs((v0 - v).item()) > 1e-4  # the states matter here
    # a step of size 0 moves nothing: the KL measured with the same state is 0
    opt0 = _sgd(pol, 0.0)
    assert reinforce_update(pol, batch, opt0, measure_kl=True).approx_kl == pytest.approx(0.0, abs=1e-9)
    # two value epochs, both from the batch's value state
    import copy

    twin = copy.deepcopy(pol)
    lr = 0.2
    reinforce_update(pol, batch, _sgd(pol, lr), value_epochs=2)
    vopt = torch.optim.SGD(twin.value_parameters(), lr=lr)
    for _ in range(2):
        vals = twin.values_only(batch.x, batch.starts, batch.value_h0)
        vopt.zero_grad()
        (w * (vals - batch.returns) ** 2).sum().backward()
        vopt.step()
    for a, b in zip(pol.value_parameters(), twin.value_parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_agent_keeps_and_checkpoints_the_value_nets_recurrent_state():
    cfg = RNN_CFG
    ag = Reinforce(cfg, "CartPole-v1", seed=0, n_envs=2, n_steps=5)
    ro = _rollout(np.ones((5, 2)), np.zeros((5, 2), dtype=bool), seed=0)
    ro.starts[0] = False  # episodes running on from the last batch: their states carry over
    g = torch.Generator().manual_seed(5)
    ro.h0 = torch.randn(ag.policy.initial_state(2).shape, generator=g)
    vh = torch.randn(ag.policy.value_body.initial_state(2).shape, generator=g)
    ag._value_hidden = vh
    batch, out = ag._make_batch(ro)
    assert batch.h0 is ro.h0 and batch.value_h0 is vh  # the states before this batch
    ref = ag.policy.evaluate_rollout(batch.x, batch.actions, batch.starts, ro.h0, value_h0=vh,
                                     need_values=True)
    torch.testing.assert_close(out.logp, ref.logp)
    torch.testing.assert_close(out.values, ref.values)
    assert ag._value_hidden is not None and torch.equal(ag._value_hidden, out.value_hidden)
    state = ag._extra_state()
    assert torch.equal(state["value_hidden"], ag._value_hidden)
    assert state["value_hidden"] is not ag._value_hidden  # a copy
    batch2, _ = ag._make_batch(ro)
    assert torch.equal(batch2.value_h0, state["value_hidden"])  # the next batch starts from it
    other = Reinforce(cfg, "CartPole-v1", seed=0, n_envs=2, n_steps=5)
    other._load_extra_state(state)
    assert torch.equal(other._value_hidden, state["value_hidden"])


def test_update_reports_the_statistics_and_the_learning_rate():
    ag = _agent(baseline="none", normalize_advantage=False, gamma=1.0, batch_mode="episodes",
                learning_rate=0.01, lr_schedule="constant")
    ro = _rollout(np.ones((3, 1)), np.array([[False], [False], [True]]))
    numbers = ag.update(ro)
    assert set(numbers) == {"policy_loss", "value_loss", "entropy", "grad_norm", "advantage_mean",
                            "explained_variance", "learning_rate"}
    assert numbers["learning_rate"] == pytest.approx(0.01)
    assert numbers["advantage_mean"] == pytest.approx(2.0)  # mean of the returns 3, 2, 1
    kl = _agent(baseline="none", target_kl=1e-12, learning_rate=0.01, lr_schedule="constant",
                normalize_advantage=False, gamma=1.0, batch_mode="episodes")
    numbers = kl.update(ro)
    assert numbers["approx_kl"] > 2e-12 and kl._lr_adapt == pytest.approx(1 / 1.5)


def test_defaults_of_the_update_function():
    pol, batch = _policy(shared=True), _batch(seed=2)
    p0 = _params(pol)
    h = _by_hand(p0, batch)
    params = list(dict.fromkeys(pol.policy_parameters() + pol.value_parameters()))
    reinforce_update(pol, batch, {"shared": torch.optim.SGD(params, lr=0.1)})  # vf_coef 0.5, no entropy
    np.testing.assert_allclose(_params(pol)["u"], p0["u"] - 0.1 * 0.5 * h["gu"], atol=1e-12)
    pol = _policy(shared=False)
    opt = _sgd(pol, 0.1)
    reinforce_update(pol, batch, opt)  # value_epochs 1: one step
    np.testing.assert_allclose(_params(pol)["u"], p0["u"] - 0.1 * h["gu"], atol=1e-12)
    batch.advantages[0, 0] = float("inf")
    with pytest.raises(NaNLossError) as err:
        reinforce_update(pol, batch, opt)
    assert str(err.value) == ("the policy loss became inf at update 0; training stopped before the optimiser "
                              "step (lower learning_rate, set max_grad_norm, check the rewards)")


def test_gradient_and_extra_epoch_messages():
    pol, batch = _huge_inputs()
    opt = _sgd(pol, 0.1)
    with pytest.raises(NaNLossError) as err:
        reinforce_update(pol, batch, opt, update=4)
    assert str(err.value) == ("the gradient became inf at update 4; training stopped before the optimiser "
                              "step (lower learning_rate, set max_grad_norm)")
    # a value net that blows up in its second epoch
    pol, batch = _policy(shared=False), _batch()
    batch.returns = batch.returns * 1e100  # a finite first loss; the first step throws V to ~1e300
    opt = _sgd(pol, 0.0, 1e200)
    with pytest.raises(NaNLossError) as err:
        reinforce_update(pol, batch, opt, value_epochs=3, update=9)
    assert re.fullmatch(r"the value loss became (inf|nan) at update 9", str(err.value))


def test_explained_variance_with_two_valid_steps_and_a_small_target_variance():
    pol, batch = _policy(shared=False), _batch(seed=6)
    opt = _sgd(pol, 0.0)
    batch.returns = batch.returns * 0.05  # variance well below 1
    h = _by_hand(_params(pol), batch)
    assert np.var(batch.returns.numpy().reshape(-1)[batch.weights.numpy().reshape(-1) > 0], ddof=1) < 1
    assert reinforce_update(pol, batch, opt).explained_variance == pytest.approx(h["ev"], rel=1e-10)
    batch.weights = torch.zeros(T, N, dtype=torch.float64)
    batch.weights[1, 0] = batch.weights[2, 1] = 0.5
    h = _by_hand(_params(pol), batch)
    assert reinforce_update(pol, batch, opt).explained_variance == pytest.approx(h["ev"], rel=1e-10)


def test_errors_name_where_and_say_what():
    with pytest.raises(RlkitError) as err:
        make_config(gae_lambda=0.9, baseline="mean")
    assert err.value.where == "gae_lambda"
    assert str(err.value) == "gae_lambda: GAE needs a value baseline; set baseline=value or gae_lambda=null"
    with pytest.raises(RlkitError) as err:
        _agent(value_optimizer="shared", value_epochs=2)
    assert err.value.where == "value_epochs"
    assert str(err.value) == "value_epochs: value_epochs > 1 needs value_optimizer: separate"
    with pytest.raises(RlkitError) as err:
        Reinforce({"net": {"type": "mlp", "hidden": [4]}, "shared": True}, "CartPole-v1", n_steps=8)
    assert err.value.where == "value_optimizer"
    assert str(err.value) == "value_optimizer: a shared policy/value backbone needs value_optimizer: shared"
    ag = _agent()
    state = ag._extra_state()
    for bad in (0.0, 1.5, -0.1):
        state["lr_adapt"] = bad
        with pytest.raises(RlkitError) as err:
            ag._load_extra_state(state)
        assert err.value.where == "checkpoint"
    from rlkit.agents.reinforce import check_hyperparam

    assert check_hyperparam("ent_coef", 1) == 1.0
    with pytest.raises(RlkitError, match="ent_coef"):
        check_hyperparam("ent_coef", -1.0)
    with pytest.raises(RlkitError) as err:
        check_hyperparam("ent_coef", "x", where="--set")
    assert err.value.where == "--set"


def test_lr_adapt_round_trips_and_the_seed_reaches_the_networks():
    ag = _agent()
    ag._lr_adapt = 0.3
    other = _agent()
    other._load_extra_state(ag._extra_state())
    assert other._lr_adapt == pytest.approx(0.3)

    def weights(a):
        return torch.cat([p.detach().flatten() for p in a.policy.parameters()])

    cfg = {"net": {"type": "mlp", "hidden": [4]}}
    default = Reinforce(cfg, "CartPole-v1", n_envs=1, n_steps=8)
    assert torch.equal(weights(default), weights(Reinforce(cfg, "CartPole-v1", seed=0, n_envs=1, n_steps=8)))
    three = Reinforce(cfg, "CartPole-v1", seed=3, n_envs=1, n_steps=8)
    assert not torch.equal(weights(three), weights(default))
    assert torch.equal(weights(three), weights(Reinforce(cfg, "CartPole-v1", seed=3, n_envs=1, n_steps=8)))
    assert default._extra_state()["baseline"]["seen"] is False


@pytest.mark.parametrize("value_optimizer,baseline", [("separate", "value"), ("shared", "value"),
                                                      ("separate", "none")])
def test_the_configured_optimiser_is_used_for_every_net(value_optimizer, baseline):
    ag = _agent(optimizer="adam", value_optimizer=value_optimizer, baseline=baseline)
    assert ag.optimizers and all(isinstance(o, torch.optim.Adam) for o in ag.optimizers.values())
    sgd = _agent(optimizer="sgd", value_optimizer=value_optimizer, baseline=baseline)
    assert all(type(o) is torch.optim.SGD for o in sgd.optimizers.values())


def test_reward_scale_reaches_the_returns_without_a_value_net():
    r = np.ones((3, 1))
    term = np.array([[False], [False], [True]])
    for baseline in ("none", "mean"):
        ag = _agent(baseline=baseline, normalize_advantage=False, gamma=1.0, batch_mode="episodes",
                    reward_scale=0.5)
        batch, _ = ag._make_batch(_rollout(r, term))
        np.testing.assert_allclose(batch.advantages.numpy()[:, 0], [1.5, 1.0, 0.5])


def test_update_hands_every_setting_to_the_update_function(monkeypatch):
    import rlkit.agents.reinforce as mod

    seen = {}
    real = mod.reinforce_update

    def spy(policy, batch, optimizers, **kwargs):
        seen.update(kwargs, policy=policy, batch=batch, optimizers=optimizers)
        return real(policy, batch, optimizers, **kwargs)

    monkeypatch.setattr(mod, "reinforce_update", spy)
    ag = _agent(ent_coef=0.02, vf_coef=0.3, max_grad_norm=0.7, value_epochs=3, target_kl=0.05,
                normalize_advantage=False, gamma=1.0, batch_mode="episodes")
    ag.num_updates = 5
    ro = _rollout(np.ones((3, 1)), np.array([[False], [False], [True]]))
    expected_batch, expected_out = ag._make_batch(ro)
    ag._value_hidden = None
    ag.update(ro)
    assert {k: seen[k] for k in ("ent_coef", "vf_coef", "max_grad_norm", "value_epochs", "update",
                                 "measure_kl")} == {"ent_coef": 0.02, "vf_coef": 0.3, "max_grad_norm": 0.7,
                                                    "value_epochs": 3, "update": 6, "measure_kl": True}
    assert seen["policy"] is ag.policy and seen["optimizers"] is ag.optimizers
    assert seen["outputs"] is not None  # the values' forward pass is reused for the loss
    torch.testing.assert_close(seen["outputs"].logp, expected_out.logp)
    torch.testing.assert_close(seen["batch"].advantages, expected_batch.advantages)
