"""Threads and the sparse kernels: row-parallel products equal scipy's, results are bitwise the same
with 1 or N threads, BLAS is held to one thread in sparse solves, the generators build large models
without copies, and MacQueen's bounds hold."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import (
    MDP,
    MRP,
    evaluate,
    exact,
    modified_policy_iteration,
    policy_iteration,
    solve_mrp,
    value_iteration,
)
from rlkit.mdp.exact import CSRKernel, blas_threads, resolve_threads, span_bounds
from rlkit.mdp.generators import forest, random_sparse


@pytest.fixture
def small_blocks(monkeypatch):
    """Let small test models split into many row blocks."""
    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", 7)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 4])
def test_kernel_equals_scipy_product(small_blocks, threads, groups):
    rng = np.random.default_rng(0)
    S = 301
    M = sp.random_array((groups * S, S), density=0.05, format="csr", rng=rng)
    x, b = rng.normal(size=S), rng.normal(size=groups * S)
    kernel = CSRKernel(M, threads, groups=groups)
    assert len(kernel.blocks) == (1 if threads == 1 else min(4 * threads, M.nnz // 7))
    # blocks cover the states once, in order
    assert kernel.blocks[0][0] == 0 and kernel.blocks[-1][1] == S
    assert all(a[1] == b_[0] for a, b_ in zip(kernel.blocks, kernel.blocks[1:], strict=False))
    np.testing.assert_allclose(kernel(x, b), b + M @ x, rtol=1e-13, atol=1e-13)
    # post runs once per block on the block's states, after every action's rows of it are done
    out = np.empty(groups * S)
    seen = kernel(x, 0.0, out=out, post=lambda s0, s1: (s0, s1, out.reshape(groups, S)[:, s0:s1].copy()))
    assert sorted(s0 for s0, _, _ in seen) == [s0 for s0, _ in kernel.blocks]
    full = (M @ x).reshape(groups, S)
    for s0, s1, part in seen:
        np.testing.assert_allclose(part, full[:, s0:s1], rtol=1e-13, atol=1e-13)


def test_results_are_bitwise_identical_with_1_and_n_threads(small_blocks):
    mdp = random_sparse(S=400, A=3, k=5, seed=3, gamma=0.95)
    for solver in (value_iteration, modified_policy_iteration, policy_iteration):
        one = solver(mdp, threads=1)
        for n in (2, 3):
            other = solver(mdp, threads=n)
            assert np.array_equal(one.values, other.values), solver.__name__
            assert np.array_equal(one.policy, other.policy) and one.iterations == other.iterations
    pi = np.random.default_rng(1).integers(0, 3, 400)
    for method in ("exact", "iterative"):
        a, b = evaluate(mdp, pi, method=method, threads=1), evaluate(mdp, pi, method=method, threads=3)
        assert np.array_equal(a.values, b.values)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_threads_must_be_a_positive_integer(bad):
    mdp = forest(S=5)
    with pytest.raises(RlkitError, match="threads must be a positive integer"):
        value_iteration(mdp, threads=bad)
    with pytest.raises(RlkitError, match="threads must be a positive integer"):
        resolve_threads(bad)
    assert resolve_threads(None) >= 1 and resolve_threads(2) == 2


def test_blas_is_held_to_one_thread_inside_sparse_solves(monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []
    real = exact._solve_sparse_iteration

    def spy(*args, **kwargs):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return real(*args, **kwargs)

    monkeypatch.setattr(exact, "_solve_sparse_iteration", spy)
    mdp = random_sparse(S=200, seed=1)
    solve_mrp(mdp.mrp(np.zeros(200, dtype=int)))
    assert seen and all(n == 1 for n in seen[0])
    with blas_threads(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")


def test_span_bounds_bracket_the_fixed_point():
    # MacQueen: for any v, Tv + k min(Tv - v) <= V* <= Tv + k max(Tv - v), k = gamma / (1 - gamma)
    rng = np.random.default_rng(4)
    mdp = random_sparse(S=60, A=3, k=4, seed=4, gamma=0.8)
    v_star = policy_iteration(mdp).values
    for _ in range(20):
        v = rng.normal(size=60) * 10
        tv = (mdp.R + 0.8 * mdp.expected_next(v)).max(axis=1)
        d = tv - v
        shift, bound = span_bounds(float(d.min()), float(d.max()), 0.8)
        k = 0.8 / 0.2
        assert np.all(tv + k * d.min() <= v_star + 1e-9) and np.all(v_star <= tv + k * d.max() + 1e-9)
        assert np.max(np.abs(tv + shift - v_star)) <= bound + 1e-9


@pytest.mark.parametrize("bounds", [True, False])
def test_value_iteration_and_mpi_meet_tol_with_either_stop(bounds):
    mdp = random_sparse(S=500, A=4, k=10, seed=2, gamma=0.95)
    v_star = policy_iteration(mdp).values
    for tol in (1e-3, 1e-8):
        vi = value_iteration(mdp, tol=tol, bounds=bounds)
        mpi = modified_policy_iteration(mdp, tol=tol, bounds=bounds)
        assert vi.converged and np.max(np.abs(vi.values - v_star)) < tol
        assert mpi.converged and np.max(np.abs(mpi.values - v_star)) < tol
    # the bounds need far fewer sweeps on a fast-mixing chain
    if bounds:
        assert value_iteration(mdp, tol=1e-8).iterations * 3 < value_iteration(mdp, tol=1e-8,
                                                                                 bounds=False).iterations


def test_policy_evaluation_picks_the_bounded_iteration_or_falls_back(monkeypatch):
    fast = random_sparse(S=300, seed=5).mrp(np.zeros(300, dtype=int))
    sol = solve_mrp(fast)
    ref = solve_mrp(fast, method="direct").values
    assert sol.info["solver"] == "iteration" and np.max(np.abs(sol.values - ref)) < 1e-9
    # a slowly mixing chain (a long cycle, gamma 0.999): the iteration foresees too many sweeps
    S = 300
    P = sp.csr_array((np.ones(S), (np.arange(S), (np.arange(S) + 1) % S)), shape=(S, S))
    slow = MRP(P, np.sin(np.arange(S)), 0.999)
    sol = solve_mrp(slow)
    assert sol.info["solver"] in ("krylov", "direct")
    np.testing.assert_allclose(sol.values, solve_mrp(slow, method="direct").values, atol=1e-8)
    monkeypatch.setattr(exact, "MAX_ITERATION_SWEEPS", 5)
    with pytest.raises(RlkitError, match="bounded iteration did not reach the accuracy"):
        solve_mrp(slow, method="iteration")


def test_generators_share_one_stacked_matrix_and_match_the_reference():
    m = forest(S=1500)
    try:  # pymdptoolbox is in the bench extra; test_blind_generators checks forest by literal arrays
        import mdptoolbox.example
    except ImportError:
        mdptoolbox = None
    if mdptoolbox is not None:
        P_ref, R_ref = mdptoolbox.example.forest(S=1500, is_sparse=True)
        assert all(abs(a - b).max() == 0 for a, b in zip(P_ref, m.P, strict=True))
        np.testing.assert_array_equal(m.R, R_ref)
    assert m._P_stack.shape == (2 * 1500, 1500)
    assert all(np.shares_memory(p.data, m._P_stack.data) for p in m.P)  # forest is stacked too
    r = random_sparse(S=3000, A=4, k=10, seed=7)
    stack = r._P_stack
    assert stack.shape == (12000, 3000) and stack.nnz == 120000
    assert all(np.shares_memory(p.data, stack.data) for p in r.P)       # views, no copies
    assert abs(sp.vstack(r.P) - stack).max() == 0
    np.testing.assert_allclose(stack.sum(axis=1), 1.0, atol=1e-12)
    # same seed, same model; and the validating constructor accepts it
    again = random_sparse(S=3000, A=4, k=10, seed=7)
    assert np.array_equal(again._P_stack.data, stack.data) and np.array_equal(again.R, r.R)
    checked = MDP([sp.csr_array(p) for p in r.P], r.R, r.gamma)     # (sums the repeated successors)
    np.testing.assert_allclose(value_iteration(checked).values, value_iteration(r).values, atol=1e-12)
    with pytest.raises(RlkitError, match="k must be >= 1"):
        random_sparse(S=10, k=0)
