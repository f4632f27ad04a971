"""--device cuda: value iteration and modified PI on torch tensors. No GPU here: the torch path is
checked on the CPU against the numpy path, and asking for CUDA without one is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.errors import RlkitError
from rlkit.mdp import modified_policy_iteration, policy_iteration, value_iteration
from rlkit.mdp.dp import _torch_iterate
from rlkit.mdp.generators import forest, random_sparse


@pytest.mark.parametrize("model", [random_sparse(S=1500, seed=2), forest(S=500), forest(S=40)])
@pytest.mark.parametrize("m", [0, 5])
def test_torch_sweeps_equal_the_numpy_sweeps(model, m):
    v_star = policy_iteration(model).values
    v, k, residual, bound, converged = _torch_iterate(model, torch.device("cpu"), np.zeros(model.n_states),
                                                      1e-9, 10_000, True, m)
    assert converged and bound < 1e-9 and np.max(np.abs(v - v_star)) < 1e-9
    if m == 0:
        ref = value_iteration(model, tol=1e-9)
        assert k == ref.iterations and np.max(np.abs(v - ref.values)) < 1e-12


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_clear_error():
    m = forest(S=10)
    for solver in (value_iteration, modified_policy_iteration):
        with pytest.raises(RlkitError, match="no CUDA device is available"):
            solver(m, device="cuda")
    with pytest.raises(RlkitError, match="device must be 'cpu' or 'cuda'"):
        value_iteration(m, device="tpu")
    assert value_iteration(m, device="cpu").info["device"] == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    m = random_sparse(S=5000, seed=3)
    np.testing.assert_allclose(value_iteration(m, device="cuda").values, value_iteration(m).values, atol=1e-9)
    np.testing.assert_allclose(modified_policy_iteration(m, device="cuda").values,
                               policy_iteration(m).values, atol=1e-8)
