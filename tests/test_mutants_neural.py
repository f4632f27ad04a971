"""The update equations of ``rlkit.tabular.neural`` one step at a time, on hand-made steps of two
environments and a value table (one-hot features, no bias: v(s) = w[s]), against the textbook
updates written out here (S&B 9.3, 9.7, 12.5, 12.6). Written against the surviving mutants of
``tabular/neural.py`` (docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlkit.tabular import neural
from rlkit.tabular.neural import (
    EnvStep,
    EpisodeLog,
    ValueNetwork,
    gradient_mc_learner,
    mc_returns,
    rms_error,
    semi_gradient_step,
    semi_gradient_td0_learner,
    semi_gradient_td_lambda_learner,
    td_target,
    trace_step,
    trace_update,
)

S = 5


def _table(values=(0.5, -1.0, 2.0, 0.25, 3.0)) -> ValueNetwork:
    net = ValueNetwork(spaces.Discrete(S), {"type": "mlp", "hidden": []})
    assert net.is_table and net.head.bias is None
    with torch.no_grad():
        net.head.weight[0] = torch.tensor(values, dtype=torch.float32)
    return net


def _w(net: ValueNetwork) -> np.ndarray:
    return net.head.weight.detach().numpy()[0].astype(float).copy()


def _step(obs, rewards, next_obs, terminated=(False, False), truncated=(False, False)) -> EnvStep:
    term, trunc = np.array(terminated), np.array(truncated)
    return EnvStep(np.array(obs), np.zeros(len(obs), dtype=np.int64), np.array(rewards, dtype=float),
                   term, trunc, term | trunc, np.array(next_obs))


def test_td_target_zeroes_the_successor_only_at_a_termination():
    u = td_target(np.array([1.0, 2.0, -1.0]), np.array([4.0, 4.0, 8.0]),
                  np.array([False, True, False]), 0.5)
    assert u.dtype == torch.float32
    np.testing.assert_allclose(u.numpy(), [3.0, 2.0, 3.0])


def test_semi_gradient_step_moves_each_state_by_alpha_times_the_summed_errors():
    net, alpha = _table(), 0.1
    w0 = _w(net)
    x = net.encode(np.array([1, 1, 3]))
    target = torch.tensor([0.0, 1.0, 5.0])
    delta = semi_gradient_step(net, torch.optim.SGD(net.parameters(), lr=alpha), x, target)
    np.testing.assert_allclose(delta.numpy(), [1.0, 2.0, 4.75])  # U - v before the step
    w1 = w0.copy()
    w1[1] += alpha * (1.0 + 2.0)
    w1[3] += alpha * 4.75
    np.testing.assert_allclose(_w(net), w1, rtol=1e-6)


def test_trace_update_and_step_are_the_accumulating_trace_of_each_environment():
    z = [torch.tensor([[1.0, 2.0], [3.0, 4.0]])]  # (n_envs = 2, 2 parameters)
    g = [torch.tensor([[0.5, 0.0], [0.0, -1.0]])]
    out = trace_update(z, g, 0.5)
    assert out is z
    np.testing.assert_allclose(z[0].numpy(), [[1.0, 1.0], [1.5, 1.0]])
    p = torch.nn.Parameter(torch.tensor([10.0, 20.0]))
    trace_step([p], z, torch.tensor([2.0, -1.0]), torch.optim.SGD([p], lr=0.1))
    # w += alpha * sum_i delta_i z_i = 0.1 * (2 * [1, 1] - [1.5, 1])
    np.testing.assert_allclose(p.detach().numpy(), [10.05, 20.1], rtol=1e-6)


def test_mc_returns_discounts_and_adds_the_discounted_tail():
    np.testing.assert_allclose(mc_returns(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])
    np.testing.assert_allclose(mc_returns(np.array([1.0, 2.0, 3.0]), 0.5, tail=8.0), [3.75, 5.5, 7.0])
    np.testing.assert_allclose(mc_returns(np.array([1.0]), 0.9, tail=10.0), [10.0])


def test_episode_log_records_mean_squared_errors_returns_lengths_up_to_its_limit():
    log = EpisodeLog(3, limit=3)
    calls = []
    log.add(np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 9.0]))
    log.add(np.array([1.0, 2.0, 3.0]), np.array([2.0, 1.0, 3.0]))
    log.close(np.array([True, False, True]), lambda: calls.append(log.finished))
    assert (log.returns, log.lengths, log.losses) == ([2.0, 6.0], [2, 2], [3.0, 6.0])
    assert calls == [1, 2] and log.finished == 2
    np.testing.assert_array_equal(log.length, [0, 2, 0])
    np.testing.assert_array_equal(log.ret, [0.0, 4.0, 0.0])
    np.testing.assert_array_equal(log.sq_err, [0.0, 2.0, 0.0])
    log.add(np.array([5.0, 1.0, 7.0]), np.array([1.0, 1.0, 1.0]))
    log.close(np.array([True, True, True]))  # only one more fits: env 0's
    assert (log.returns, log.lengths, log.losses) == ([2.0, 6.0, 5.0], [2, 2, 1], [3.0, 6.0, 1.0])
    assert log.finished == 3
    np.testing.assert_array_equal(log.length, [0, 0, 0])  # all the ended episodes reset


def test_td0_learner_bootstraps_from_the_successor_and_not_after_a_termination():
    net, alpha, gamma = _table(), 0.5, 0.9
    w0 = _w(net)
    update = semi_gradient_td0_learner(net, torch.optim.SGD(net.parameters(), lr=alpha), gamma, 0.0, 2)
    # env 0: 1 -> 2 with reward 1 (running); env 1: 3 -> 4 with reward 2, terminated
    sq = update(_step([1, 3], [1.0, 2.0], [2, 4], terminated=(False, True)))
    d0 = 1.0 + gamma * w0[2] - w0[1]
    d1 = 2.0 - w0[3]
    np.testing.assert_allclose(sq, [d0**2, d1**2], rtol=1e-6)
    w1 = w0.copy()
    w1[1] += alpha * d0
    w1[3] += alpha * d1
    np.testing.assert_allclose(_w(net), w1, rtol=1e-6)
    # a truncated episode bootstraps from its final observation (next_obs holds it)
    sq = update(_step([0, 0], [0.0, 0.0], [4, 4], truncated=(True, False)))
    np.testing.assert_allclose(sq, [(gamma * w1[4] - w1[0]) ** 2] * 2, rtol=1e-6)


def test_td_lambda_learner_replays_the_textbook_traces_per_environment():
    net, alpha, gamma, lam = _table(), 0.2, 0.9, 0.5
    update = semi_gradient_td_lambda_learner(net, torch.optim.SGD(net.parameters(), lr=alpha), gamma, lam, 2)
    steps = [
        _step([0, 2], [1.0, 0.0], [1, 3]),
        _step([1, 3], [0.0, 1.0], [2, 4], terminated=(False, True)),  # env 1 ends: its trace resets
        _step([2, 0], [2.0, 0.0], [3, 1]),
        _step([3, 1], [1.0, 1.0], [4, 2], truncated=(True, False)),
    ]
    w = _w(net)
    z = np.zeros((2, S))
    for st in steps:
        v, v_next = w[st.obs], w[st.next_obs]
        delta = st.rewards + gamma * np.where(st.terminated, 0.0, v_next) - v
        for i in range(2):
            z[i] = gamma * lam * z[i] + np.eye(S)[st.obs[i]]
        w = w + alpha * (delta[:, None] * z).sum(0)
        z[st.dones] = 0.0
        sq = update(st)
        np.testing.assert_allclose(sq, delta**2, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(_w(net), w, rtol=1e-5, atol=1e-7)


def test_gradient_mc_learner_steps_once_per_ended_episode_towards_its_returns():
    net, alpha, gamma = _table(), 0.1, 0.5
    update = gradient_mc_learner(net, torch.optim.SGD(net.parameters(), lr=alpha), gamma, 0.0, 2)
    w0 = _w(net)
    sq = update(_step([0, 2], [1.0, 4.0], [1, 3]))
    np.testing.assert_array_equal(sq, [0.0, 0.0])  # nothing ended: no step
    np.testing.assert_array_equal(_w(net), w0)
    # env 0 terminates (returns 1 + 0.5 * 2, 2); env 1 is cut at state 4: the tail is v(4)
    sq = update(_step([1, 3], [2.0, 1.0], [2, 4], terminated=(True, False), truncated=(False, True)))
    G0 = np.array([1 + gamma * 2.0, 2.0])
    G1 = np.array([4.0 + gamma * 1.0 + gamma**2 * w0[4], 1.0 + gamma * w0[4]])
    e0 = G0 - w0[[0, 1]]
    e1 = G1 - w0[[2, 3]]
    np.testing.assert_allclose(sq, [(e0**2).sum(), (e1**2).sum()], rtol=1e-6)
    w1 = w0.copy()
    w1[[0, 1]] += alpha * e0
    w1[[2, 3]] += alpha * e1
    np.testing.assert_allclose(_w(net), w1, rtol=1e-6)
    # the buffers were emptied: the next episode's return starts afresh
    sq = update(_step([0, 1], [3.0, 0.0], [1, 2], terminated=(True, False)))
    np.testing.assert_allclose(sq, [(3.0 - w1[0]) ** 2, 0.0], rtol=1e-6)


def test_gradient_mc_learner_terminated_and_truncated_at_once_has_no_tail():
    net = _table()
    w0 = _w(net)
    update = gradient_mc_learner(net, torch.optim.SGD(net.parameters(), lr=0.1), 0.5, 0.0, 1)
    sq = update(EnvStep(np.array([2]), np.zeros(1, dtype=np.int64), np.array([1.0]), np.array([True]),
                        np.array([True]), np.array([True]), np.array([4])))
    np.testing.assert_allclose(sq, [(1.0 - w0[2]) ** 2], rtol=1e-6)


def test_rms_error_over_the_mask_and_zero_when_it_is_empty():
    v, e = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 0.0])
    assert rms_error(v, e, np.array([True, True, True])) == pytest.approx(np.sqrt(17 / 3))
    assert rms_error(v, e, np.array([False, True, True])) == pytest.approx(np.sqrt(8))
    assert rms_error(v, e, np.zeros(3, dtype=bool)) == 0.0


def test_replace_rows_takes_the_final_observations_where_masked():
    out = neural._replace_rows(np.array([[1, 1], [2, 2], [3, 3]]), [[9, 9], [8, 8], [7, 7]],
                               [False, True, False])
    np.testing.assert_array_equal(out, [[1, 1], [8, 8], [3, 3]])


def _mlp_and_inputs() -> tuple[ValueNetwork, torch.Tensor]:
    """A small MLP value net with a non-zero head (a zero head has zero gradients below it) and 5
    inputs."""
    torch.manual_seed(0)
    net = ValueNetwork(spaces.Box(-1, 1, (3,)), {"type": "mlp", "hidden": [4]})
    with torch.no_grad():
        net.head.weight.normal_()
    return net, torch.randn(5, 3)


def test_per_sample_grads_are_each_samples_own_gradient():
    net, x = _mlp_and_inputs()
    values, grads = neural._per_sample_grads(net, x)
    params = list(net.parameters())
    for i in range(5):
        v = net(x[i : i + 1]).sum()
        assert float(values[i]) == pytest.approx(v.item(), rel=1e-6)
        for g_all, g in zip(grads, torch.autograd.grad(v, params), strict=True):
            torch.testing.assert_close(g_all[i], g)


def test_env_steps_hands_the_final_observation_as_the_successor():
    class Venv:
        num_envs = 2

        def __init__(self):
            self.t = 0

        def step(self, actions):
            self.t += 1
            obs = np.array([self.t, 10 + self.t])
            done = np.array([self.t == 2, False])
            info = {"final_obs": np.array([99, 0]), "_final_obs": done} if done.any() else {}
            return obs, np.ones(2), done, np.zeros(2, dtype=bool), info

    starts = []

    def act(obs, episode_start):
        starts.append(episode_start.copy())
        return np.zeros(2, dtype=np.int64)

    it = neural.env_steps(Venv(), act, np.array([0, 10]))
    s1, s2, s3 = next(it), next(it), next(it)
    np.testing.assert_array_equal(s1.next_obs, [1, 11])
    np.testing.assert_array_equal(s2.next_obs, [99, 12])  # env 0 ended: its final observation
    np.testing.assert_array_equal(s3.obs, [2, 12])
    np.testing.assert_array_equal(s2.dones, [True, False])
    np.testing.assert_array_equal(np.array(starts), [[True, True], [False, False], [True, False]])


def test_one_hot_encoding_counts_from_the_spaces_start():
    net = ValueNetwork(spaces.Discrete(4, start=2), {"type": "mlp", "hidden": []})
    np.testing.assert_array_equal(net.encode(np.array([2, 5, 3])).numpy(),
                                  [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]])


def test_per_sample_grads_without_vmap_are_the_same(monkeypatch):
    """Modules vmap cannot batch take the loop over samples: the same values and gradients."""
    import torch.func

    net, x = _mlp_and_inputs()
    v_ref, g_ref = neural._per_sample_grads(net, x)

    def no_vmap(*args, **kwargs):
        raise RuntimeError("vmap: not supported")

    monkeypatch.setattr(torch.func, "vmap", no_vmap)
    v, g = neural._per_sample_grads(net, x)
    torch.testing.assert_close(v, v_ref)
    assert len(g) == len(g_ref) == len(list(net.parameters()))
    for a, b in zip(g, g_ref, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b)


def test_env_steps_hands_on_the_actions_bool_starts_and_falls_back_to_the_dones():
    class Venv:
        num_envs = 2

        def step(self, actions):
            # an env that reports final observations without the "_final_obs" mask
            return (np.array([5, 6]), np.zeros(2), np.array([False, True]), np.zeros(2, dtype=bool),
                    {"final_obs": np.array([0, 77])})

    starts = []

    def act(obs, episode_start):
        starts.append(episode_start)
        return np.array([1, 0])

    step = next(neural.env_steps(Venv(), act, np.array([0, 0])))
    np.testing.assert_array_equal(step.actions, [1, 0])
    np.testing.assert_array_equal(step.next_obs, [5, 77])
    assert starts[0].dtype == bool
