"""The small update functions of rlkit.tabular.neural against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import torch

from rlkit.tabular.neural import mc_returns, td_target, trace_step, trace_update


def test_td_target_drops_the_successor_value_after_a_termination_only():
    terminated = np.array([False, True, False])
    got = td_target(np.array([1.0, -1.0, 0.5]), np.array([2.0, 4.0, 8.0]), terminated, 0.9)
    np.testing.assert_allclose(got.numpy(), [1 + 0.9 * 2, -1.0, 0.5 + 0.9 * 8], rtol=1e-6)
    assert got.dtype == torch.float32


def test_trace_update_decays_then_adds_the_gradient():
    z = [torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0]])]
    out = trace_update(z, [torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0]])], 0.5)
    assert out is z                                        # in place
    np.testing.assert_allclose(z[0].numpy(), [[0.5 + 3, 1 + 4]])
    np.testing.assert_allclose(z[1].numpy(), [[2 + 1]])


def test_trace_step_moves_the_weights_by_alpha_sum_of_delta_times_trace():
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    traces = [torch.tensor([[1.0, 0.0], [0.5, 2.0]])]      # two environments
    trace_step([w], traces, torch.tensor([1.0, -2.0]), opt)
    # w = 0.1 * (1 * [1, 0] + (-2) * [0.5, 2]) = [0, -0.4]
    np.testing.assert_allclose(w.detach().numpy(), [0.0, -0.4], atol=1e-7)


def test_mc_returns_by_hand_with_and_without_a_tail():
    np.testing.assert_allclose(mc_returns(np.array([1.0, 2.0, 3.0]), 0.5),
                               [1 + 0.5 * 2 + 0.25 * 3, 2 + 1.5, 3])
    np.testing.assert_allclose(mc_returns(np.array([0.0, 1.0]), 0.9, tail=10.0), [0.9 * (1 + 9), 1 + 9])
