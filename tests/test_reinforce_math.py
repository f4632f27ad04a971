"""REINFORCE's math against hand computations: returns-to-go, GAE, bootstrapping at truncations,
the action distributions' densities, and the gradient of the loss (finite differences and the
closed form of a softmax-linear policy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlkit.agents.distributions import Categorical, DiagGaussian, MultiBernoulli, MultiCategorical
from rlkit.agents.policies import ActorCritic
from rlkit.agents.reinforce import Batch, compute_advantages, lr_factor, reinforce_loss, reinforce_update
from rlkit.agents.rollout import Rollout, complete_returns_mask, gae, returns_to_go

# ------------------------------------------------------------------------------------------------
# returns-to-go and GAE
# ------------------------------------------------------------------------------------------------


def test_returns_to_go_by_hand():
    # G2 = 1, G1 = 1 + 0.9 * 1, G0 = 1 + 0.9 * 1.9
    np.testing.assert_allclose(returns_to_go(np.ones(3), 0.9), [2.71, 1.9, 1.0])
    # an episode ends after step 1 (terminated: bootstrap 0); the rollout ends after step 3 and
    # bootstraps from V(next obs) = 10:  G3 = 4 + 0.5*10 = 9, G2 = 3 + 0.5*9 = 7.5, G1 = 2, G0 = 2
    r = np.array([1.0, 2.0, 3.0, 4.0])
    dones = np.array([False, True, False, False])
    boot = np.array([0.0, 0.0, 0.0, 10.0])
    np.testing.assert_allclose(returns_to_go(r, 0.5, dones, boot), [2.0, 2.0, 7.5, 9.0])
    # a truncation after step 1 bootstraps from V(final obs) = 6: G1 = 1 + 0.5*6 = 4, G0 = 1 + 0.5*4
    np.testing.assert_allclose(
        returns_to_go(np.ones(2), 0.5, np.array([False, True]), np.array([0.0, 6.0])), [3.0, 4.0]
    )


def test_returns_to_go_columns_are_independent_episodes():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(7, 3))
    d = rng.random((7, 3)) < 0.3
    b = rng.normal(size=(7, 3))
    both = returns_to_go(r, 0.8, d, b)
    for n in range(3):
        np.testing.assert_allclose(both[:, n], returns_to_go(r[:, n], 0.8, d[:, n], b[:, n]))


def test_gae_by_hand():
    np.testing.assert_allclose(gae(np.ones(2), np.full(2, 0.5), 1.0, 1.0), [1.5, 0.5])
    # lambda = 0: the one-step TD errors delta_1 = 1 - 0.5, delta_0 = 1 + 0.5 - 0.5
    np.testing.assert_allclose(gae(np.ones(2), np.full(2, 0.5), 1.0, 0.0), [1.0, 0.5])
    # gamma 0.9, lambda 0.5, V = [1, 2, 3], r = [0, 0, 1], terminated at the end:
    # delta = [0 + .9*2 - 1, 0 + .9*3 - 2, 1 - 3] = [.8, .7, -2]; A2 = -2, A1 = .7 + .45*(-2) = -.2,
    # A0 = .8 + .45*(-.2) = .71
    a = gae(
        np.array([0.0, 0.0, 1.0]), np.array([1.0, 2.0, 3.0]), 0.9, 0.5, dones=np.array([False, False, True])
    )
    np.testing.assert_allclose(a, [0.71, -0.2, -2.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_extremes_agree_with_returns_and_td_errors(seed):
    rng = np.random.default_rng(seed)
    T, N, gamma = 9, 4, 0.95
    r, v, b = rng.normal(size=(T, N)), rng.normal(size=(T, N)), rng.normal(size=(T, N))
    d = rng.random((T, N)) < 0.25
    # lambda = 1: A = G - V with the same bootstraps
    np.testing.assert_allclose(gae(r, v, gamma, 1.0, d, b), returns_to_go(r, gamma, d, b) - v, atol=1e-12)
    # lambda = 0: A_t = r_t + gamma * v'_t - V(s_t)
    cut = d.copy()
    cut[-1] = True
    next_v = np.where(cut, b, np.vstack([v[1:], v[-1:]]))
    np.testing.assert_allclose(gae(r, v, gamma, 0.0, d, b), r + gamma * next_v - v, atol=1e-12)


def test_complete_returns_mask():
    d = np.array([[False, False], [True, False], [False, False], [False, True]])
    np.testing.assert_array_equal(
        complete_returns_mask(d), [[True, True], [True, True], [False, True], [False, True]]
    )


def _rollout(rewards, terminated, truncated, valid=None):
    rewards = np.asarray(rewards, dtype=np.float64)
    T, N = rewards.shape
    z = np.zeros((T, N, 1), dtype=np.float32)
    return Rollout(
        obs=z,
        actions=np.zeros((T, N), dtype=np.int64),
        env_actions=np.zeros((T, N), dtype=np.int64),
        rewards=rewards,
        terminated=np.asarray(terminated),
        truncated=np.asarray(truncated),
        starts=np.zeros((T, N), dtype=bool),
        final_obs=z.copy(),
        valid=np.ones((T, N), dtype=bool) if valid is None else valid,
        next_obs=np.zeros((N, 1), dtype=np.float32),
    )


def test_truncation_bootstraps_termination_does_not():
    # env 0: truncated (time limit) after step 1, then a new episode runs past the end of the rollout;
    # env 1: terminated after step 1.  gamma = 0.5, every reward 1.
    ro = _rollout(
        np.ones((3, 2)),
        terminated=[[False, False], [False, True], [False, False]],
        truncated=[[False, False], [True, False], [False, False]],
    )
    values = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    final_values = np.array([[0.0, 0.0], [8.0, 99.0], [0.0, 0.0]])  # 99 must be ignored (not truncated)
    last_values = np.array([4.0, 6.0])
    adv, targets, valid = compute_advantages(
        ro, 0.5, values=values, final_values=final_values, last_values=last_values
    )
    # env 0: G1 = 1 + .5*8 = 5, G0 = 1 + .5*5 = 3.5, G2 = 1 + .5*4 = 3
    # env 1: G1 = 1 (terminated), G0 = 1.5, G2 = 1 + .5*6 = 4
    np.testing.assert_allclose(targets, [[3.5, 1.5], [5.0, 1.0], [3.0, 4.0]])
    np.testing.assert_allclose(adv, targets - values)
    assert valid.all()


def test_without_a_value_net_truncation_is_the_return_so_far_and_unfinished_steps_are_left_out():
    ro = _rollout(
        np.ones((3, 1)), terminated=[[False], [False], [False]], truncated=[[False], [True], [False]]
    )
    adv, targets, valid = compute_advantages(ro, 1.0, exclude_incomplete=True, baseline=0.5)
    np.testing.assert_allclose(targets[:2, 0], [2.0, 1.0])
    np.testing.assert_array_equal(valid[:, 0], [True, True, False])  # step 2's episode has not ended
    np.testing.assert_allclose(adv[:2, 0], [1.5, 0.5])


def test_reward_scale_scales_returns():
    ro = _rollout(np.array([[2.0], [4.0]]), [[False], [True]], [[False], [False]])
    _, g, _ = compute_advantages(ro, 1.0, reward_scale=0.5)
    np.testing.assert_allclose(g[:, 0], [3.0, 2.0])


def test_lr_schedules():
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("linear", 0.25) == pytest.approx(0.75)
    assert lr_factor("linear", 1.0, final=0.1) == pytest.approx(0.1)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 1.0, final=0.2) == pytest.approx(0.2)


# ------------------------------------------------------------------------------------------------
# distributions
# ------------------------------------------------------------------------------------------------


def test_categorical_matches_torch_and_samples_its_probabilities():
    logits = torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    ours, ref = Categorical(logits), torch.distributions.Categorical(logits=logits)
    a = torch.tensor([2, 1])
    torch.testing.assert_close(ours.log_prob(a), ref.log_prob(a))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    n = 40_000
    draws = Categorical(logits[:1].expand(n, 3)).sample(torch.Generator().manual_seed(0))
    freq = np.bincount(draws.numpy(), minlength=3) / n
    p = ref.probs[0].numpy()
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n))  # 5 standard errors
    assert Categorical(logits, start=-1).to_env(torch.tensor([0, 2])).tolist() == [-1, 1]


def test_multicategorical_and_bernoulli_match_torch():
    logits = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mc = MultiCategorical(logits, [2, 3], np.array([0, 10]))
    a = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    ref = torch.distributions.Categorical(logits=logits[:, :2]).log_prob(
        a[:, 0]
    ) + torch.distributions.Categorical(logits=logits[:, 2:]).log_prob(a[:, 1])
    torch.testing.assert_close(mc.log_prob(a), ref)
    assert mc.to_env(a)[:, 1].tolist() == [12, 10, 11, 10]
    mb = MultiBernoulli(logits)
    bits = (logits > 0.1).double()
    torch.testing.assert_close(
        mb.log_prob(bits), torch.distributions.Bernoulli(logits=logits).log_prob(bits).sum(-1)
    )
    torch.testing.assert_close(mb.entropy(), torch.distributions.Bernoulli(logits=logits).entropy().sum(-1))


def test_gaussian_clip_keeps_the_unclipped_log_density():
    mean = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    log_std = torch.tensor([0.5, -0.3], dtype=torch.float64)
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    d = DiagGaussian(mean, log_std, low, high, "clip")
    u = torch.tensor([[2.5, -3.0]], dtype=torch.float64)  # outside the bounds
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(-1)
    torch.testing.assert_close(d.log_prob(u), ref)
    np.testing.assert_allclose(d.to_env(u), [[1.0, -1.0]])


def test_gaussian_tanh_log_density_is_the_change_of_variables():
    mean = torch.tensor([[0.2, -0.4]], dtype=torch.float64)
    log_std = torch.tensor([0.1, -0.2], dtype=torch.float64)
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 1.0])
    d = DiagGaussian(mean, log_std, low, high, "tanh")
    u = torch.tensor([[0.7, -5.0]], dtype=torch.float64)
    scale, shift = torch.tensor((high - low) / 2), torch.tensor((high + low) / 2)
    ref_dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()),
        [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(shift, scale)],
    )
    a = torch.tanh(u) * scale + shift
    torch.testing.assert_close(d.log_prob(u), ref_dist.log_prob(a).sum(-1))
    env_a = d.to_env(u)
    assert np.all(env_a >= low) and np.all(env_a <= high)
    # a density: integrates to 1 over the (1-D) action interval
    d1 = DiagGaussian(mean[:, :1], log_std[:1], low[:1], high[:1], "tanh")
    us = torch.linspace(-12, 12, 200_001, dtype=torch.float64)[:, None]
    acts = torch.tanh(us) * 2.0
    dens = d1.log_prob(us).exp()
    mass = torch.trapezoid(dens, acts[:, 0])
    assert float(mass) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------------
# the gradient of the loss
# ------------------------------------------------------------------------------------------------


def _tiny(action_space, obs_dim=3, **cfg):
    torch.manual_seed(0)
    pol = ActorCritic(
        spaces.Box(-1, 1, (obs_dim,)),
        action_space,
        {"net": {"type": "mlp", "hidden": []}, "head_gain": 1.0, **cfg},
        with_value=False,
    )
    # the backbone (an MLP without hidden layers) only flattens, but casts to float32; in float64
    # the finite differences are exact to ~1e-9, so use the identity instead
    pol.body = torch.nn.Identity()
    return pol.double()


def _batch(pol, T=5, N=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, 3, dtype=torch.float64, generator=g)
    with torch.no_grad():
        dist, _ = pol.distribution(x.reshape(T * N, 3))
        actions = dist.sample(g).reshape(T, N, *pol.spec["raw_shape"])
    adv = torch.randn(T, N, dtype=torch.float64, generator=g)
    w = torch.full((T, N), 1.0 / (T * N), dtype=torch.float64)
    w[0, 1] = 0.0  # a step left out
    w = w / w.sum()
    return Batch(
        x=x,
        actions=actions,
        starts=torch.zeros(T, N, dtype=torch.bool),
        advantages=adv,
        returns=torch.zeros(T, N, dtype=torch.float64),
        weights=w,
    )


def _fd_check(pol, batch, ent_coef):
    def loss():
        p, h, _, _ = reinforce_loss(pol, batch)
        return p - ent_coef * h

    params = [p for p in pol.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(), params)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            up = loss().item()
            flat[i] = old - eps
            down = loss().item()
            flat[i] = old
            assert (up - down) / (2 * eps) == pytest.approx(g.view(-1)[i].item(), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    "space,cfg",
    [
        (spaces.Discrete(3), {}),
        (spaces.MultiDiscrete([2, 3]), {}),
        (spaces.Box(-1.0, 1.0, (2,)), {"bounds": "clip"}),
        (spaces.Box(-1.0, 2.0, (2,)), {"bounds": "tanh", "std": "state"}),
    ],
)
def test_loss_gradient_matches_finite_differences(space, cfg):
    pol = _tiny(space, **cfg)
    _fd_check(pol, _batch(pol), ent_coef=0.1)


def test_gradient_is_the_textbook_score_function_of_a_softmax_linear_policy():
    """For pi(a|x) = softmax(W x + c): grad_W log pi(a|x) = (e_a - pi(x)) x^T, so
    grad_W L = -sum_t w_t A_t (e_{a_t} - pi_t) x_t^T; and one SGD step moves W by -lr * that."""
    pol = _tiny(spaces.Discrete(3))
    batch = _batch(pol, seed=3)
    W, c = pol.action_head.weight, pol.action_head.bias
    x = batch.x.reshape(-1, 3).numpy()
    a = batch.actions.reshape(-1).numpy()
    wA = (batch.weights * batch.advantages).reshape(-1).numpy()
    logits = x @ W.detach().numpy().T + c.detach().numpy()
    pi = np.exp(logits - logits.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    score = np.eye(3)[a] - pi
    grad_W = -(wA[:, None] * score).T @ x
    grad_c = -(wA[:, None] * score).sum(0)
    p_loss, _, _, _ = reinforce_loss(pol, batch)
    gW, gc = torch.autograd.grad(p_loss, [W, c])
    np.testing.assert_allclose(gW.numpy(), grad_W, atol=1e-12)
    np.testing.assert_allclose(gc.numpy(), grad_c, atol=1e-12)

    lr = 0.1
    before = W.detach().clone()
    opt = {"policy": torch.optim.SGD(pol.policy_parameters(), lr=lr)}
    stats = reinforce_update(pol, batch, opt, ent_coef=0.0, max_grad_norm=None)
    np.testing.assert_allclose((W.detach() - before).numpy(), -lr * grad_W, atol=1e-12)
    assert stats.grad_norm == pytest.approx(math.sqrt((grad_W**2).sum() + (grad_c**2).sum()))


def test_update_refuses_a_nan_loss_and_leaves_the_weights_alone():
    from rlkit.agents.reinforce import NaNLossError

    pol = _tiny(spaces.Discrete(3))
    batch = _batch(pol)
    batch.advantages[2, 0] = float("nan")
    before = [p.detach().clone() for p in pol.parameters()]
    with pytest.raises(NaNLossError, match="update 7"):
        reinforce_update(pol, batch, {"policy": torch.optim.SGD(pol.policy_parameters(), lr=0.1)}, update=7)
    assert all(torch.equal(b, p) for b, p in zip(before, pol.parameters(), strict=True))
