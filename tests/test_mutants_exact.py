"""Mutants of rlkit/mdp/exact.py that the solver tests left alive (docs/mutation-survivors.md),
each killed here against a hand number or an independent solve (scipy's dense ``solve``)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from _mdps import raises_exactly
from threadpoolctl import threadpool_info

from rlkit.errors import RlkitError
from rlkit.mdp import MRP, exact, solve_mrp

SINGULAR = ("the Bellman system I - gamma P is singular; check that every run terminates "
            "(gamma = 1) or use gamma < 1")


def cycle(n):
    """A directed cycle s -> s + 1 (mod n): its Krylov spaces need n steps to hold the answer."""
    i = np.arange(n)
    return sp.csr_array((np.ones(n), (i, (i + 1) % n)), shape=(n, n))


@pytest.mark.parametrize("solve, P", [
    (exact._solve_dense, np.eye(2)),                                     # I - P = 0
    (exact._solve_sparse_lu, sp.csr_array(np.eye(2))),
    (exact._solve_sparse_lu, sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))),   # rank 1
])
def test_a_singular_bellman_system_is_refused_in_plain_words(solve, P):
    # gamma = 1 on a closed set of states: unreachable from solve_mrp (which solves on the
    # transient states only), kept as the solvers' last guard
    raises_exactly(SINGULAR, solve, P, np.ones(2), 1.0)


def test_gmres_starts_from_the_guess_it_is_given():
    # a 300-state cycle at gamma 0.999: one restart cycle (40 steps) from zero is far from the
    # answer, but from the exact values (scipy's dense solve) GMRES has nothing left to do
    n, gamma = 300, 0.999
    P = cycle(n)
    R = np.sin(np.arange(n) / 7.0)
    v = scipy.linalg.solve(np.eye(n) - gamma * P.toarray(), R)
    kernel = exact.CSRKernel(P)
    cold, cold_bound = exact._solve_sparse_krylov(kernel, R, gamma, None, 1)
    assert cold is None and cold_bound > 1e-6
    warm, warm_bound = exact._solve_sparse_krylov(kernel, R, gamma, v, 1)
    assert warm is not None and warm_bound <= 1e-10 * max(1.0, np.abs(v).max())
    np.testing.assert_allclose(warm, v, atol=1e-9)


def test_gamma_1_names_the_whole_closed_set_that_keeps_paying():
    # a -> b <-> c pays 1 in b forever; "end" is absorbing with reward 0 (it terminates)
    P = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    mrp = MRP(P, [0, 1, 0, 0], 1.0, states=["a", "b", "c", "end"])
    raises_exactly(
        "gamma = 1 but the runs from state(s) 'b', 'c' never terminate (they stay in a closed set of "
        "states that keeps paying reward, so the undiscounted values are infinite); use gamma < 1 or "
        "give those states a transition to a terminal state", solve_mrp, mrp)


def test_the_bounded_iteration_by_hand():
    """A 2-state swap paying 1 in state 0, gamma 1/2: V = (4/3, 2/3). From v = 0 MacQueen's bound
    (gamma / (1 - gamma) times half the span of Tv - v) is 1/2, then halves every sweep (the
    change alternates +-b/2 with no shift), so it first proves 1e-10 * max(1, |V|) = 1.33e-10 at
    sweep 33, with the bound 2**-33. A one-state MRP is done in one sweep with bound 0."""
    swap = MRP(sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]])), [1.0, 0.0], 0.5)
    for method in ("iteration", "auto"):
        sol = solve_mrp(swap, method=method)
        assert sol.info == {"solver": "iteration", "error_bound": 2.0**-33, "sweeps": 33}
        np.testing.assert_allclose(sol.values, [4 / 3, 2 / 3], atol=2.0**-33)
        res = np.max(np.abs(swap.R + 0.5 * (swap.P @ sol.values) - sol.values))
        assert sol.residual == res and sol.iterations == 0 and sol.converged and sol.method == "exact"
    one = solve_mrp(MRP(sp.csr_array(np.array([[1.0]])), [1.0], 0.5), method="iteration")
    assert one.info == {"solver": "iteration", "error_bound": 0.0, "sweeps": 1}
    assert one.values.tolist() == [2.0]
    krylov = solve_mrp(swap, method="krylov")
    assert krylov.info["solver"] == "krylov" and krylov.info["error_bound"] <= 1e-15
    np.testing.assert_allclose(krylov.values, [4 / 3, 2 / 3], rtol=1e-15)
    assert solve_mrp(swap, method="direct").info == {"solver": "direct"}


@pytest.mark.parametrize("sparse", [False, True])
def test_gamma_1_is_solved_on_the_transient_states(sparse):
    # 0 -> 1 -> 2 (absorbing), 1 each step; 3 <-> 4 is a closed set paying 0: V = (2, 1, 0, 0, 0)
    P = np.zeros((5, 5))
    P[0, 1] = P[1, 2] = P[2, 2] = P[3, 4] = P[4, 3] = 1.0
    sol = solve_mrp(MRP(sp.csr_array(P) if sparse else P, [1.0, 1.0, 0, 0, 0], 1.0))
    assert sol.values.tolist() == [2.0, 1.0, 0.0, 0.0, 0.0]
    assert sol.info == {"solved_on": "transient states", "solver": "direct"}
    assert sol.residual == 0.0 and sol.converged and sol.iterations == 0


def test_one_gmres_cycle_is_40_krylov_steps():
    # on a cycle of n states the answer needs exactly n Krylov steps (the minimal polynomial of
    # the shift has degree n): one restart cycle of 40 solves n = 40 and leaves n = 41 far off
    R40, R41 = np.sin(np.arange(40) / 3.0), np.sin(np.arange(41) / 3.0)
    v, bound = exact._solve_sparse_krylov(exact.CSRKernel(cycle(40)), R40, 0.999, None, 1)
    assert v is not None and bound <= 1e-9
    ref = scipy.linalg.solve(np.eye(40) - 0.999 * cycle(40).toarray(), R40)
    np.testing.assert_allclose(v, ref, rtol=1e-9)
    v, bound = exact._solve_sparse_krylov(exact.CSRKernel(cycle(41)), R41, 0.999, None, 1)
    assert v is None and bound > 1.0


# --------------------------------------------------------------------------------------------
# the bounded iteration, the sparse routing and the small helpers, against hand numbers
# --------------------------------------------------------------------------------------------

SWAP = sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))


def swap_values(R0, gamma):
    """The 2-state swap paying R0 in state 0: V0 = R0 / (1 - g^2), V1 = g R0 / (1 - g^2)."""
    return np.array([R0, gamma * R0]) / (1.0 - gamma**2)


@pytest.mark.parametrize("R0", [1.0, 1000.0, -1000.0])
def test_the_bounded_iterations_bound_halves_every_sweep_and_is_relative(R0):
    # gamma 1/2 on the swap: the span of Tv - v halves every sweep and the shifts do not change it,
    # so the bound after sweep k is |R0| 2^-k exactly. The accuracy asked is relative: 1e-10 times
    # max(1, |v|) = 1e-10 |V0| (4/3 |R0|), first met at sweep 33 whatever R0's size or sign (with
    # an absolute 1e-10, R0 = 1000 would need sweep 43).
    kernel = exact.CSRKernel(SWAP)
    R = np.array([R0, 0.0])
    v, bound, sweeps = exact._solve_sparse_iteration(kernel, R, 0.5, None, 1000, False)
    assert sweeps == 33 and bound == abs(R0) * 2.0**-33
    np.testing.assert_allclose(v, swap_values(R0, 0.5), rtol=1e-10)
    # the limit: 32 sweeps are not enough; the answer is None with the bound of sweep 32
    v, bound, sweeps = exact._solve_sparse_iteration(kernel, R, 0.5, None, 32, False)
    assert v is None and sweeps == 32 and bound == abs(R0) * 2.0**-32


def test_the_bounded_iteration_foresees_when_its_limit_will_not_do():
    # from sweep 6 on, the contraction seen since sweep 2 (exactly 1/2 here) predicts the sweep
    # that proves the accuracy: log2(1 / (4/3 1e-10)) = 32.8. With a limit of 32 it stops at
    # sweep 6 (bound 2^-6); with 33 it goes on and succeeds at 33
    kernel = exact.CSRKernel(SWAP)
    R = np.array([1.0, 0.0])
    v, bound, sweeps = exact._solve_sparse_iteration(kernel, R, 0.5, None, 32, True)
    assert v is None and sweeps == 6 and bound == 2.0**-6
    v, bound, sweeps = exact._solve_sparse_iteration(kernel, R, 0.5, None, 33, True)
    assert v is not None and sweeps == 33 and bound == 2.0**-33


def test_the_bounded_iteration_starts_from_x0_without_changing_it():
    kernel = exact.CSRKernel(SWAP)
    x0 = swap_values(1.0, 0.5)
    before = x0.copy()
    v, bound, sweeps = exact._solve_sparse_iteration(kernel, np.array([1.0, 0.0]), 0.5, x0, 10, True)
    # from the fixed point, Tv - v = 0 up to round-off: proven in one sweep
    assert sweeps == 1 and bound <= 1e-16 and np.array_equal(x0, before)
    np.testing.assert_allclose(v, before, rtol=1e-15)


@pytest.mark.parametrize("gamma, solver, sweeps", [(0.68, "iteration", 60), (0.685, "krylov", None)])
def test_auto_iterates_while_it_foresees_at_most_60_sweeps(gamma, solver, sweeps):
    # the swap at gamma 0.68 needs 60 sweeps, at 0.685 it needs 61: "auto" keeps the first and
    # hands the second to GMRES (which solves 2 states at once)
    sol = solve_mrp(MRP(SWAP, [1.0, 0.0], gamma))
    assert sol.info["solver"] == solver and sol.info.get("sweeps") == sweeps
    np.testing.assert_allclose(sol.values, swap_values(1.0, gamma), rtol=1e-9)
    # method="iteration" has a far larger limit and iterates on
    it = solve_mrp(MRP(SWAP, [1.0, 0.0], gamma), method="iteration")
    assert it.info["solver"] == "iteration" and it.info["sweeps"] == {0.68: 60, 0.685: 61}[gamma]


def test_auto_falls_back_to_lu_when_two_gmres_cycles_cannot_prove_the_answer():
    # a 300-state cycle at gamma 0.999: the iteration foresees far more than 60 sweeps, two
    # restart cycles (80 Krylov steps) cannot hold an answer that needs 300; LU is exact
    n, gamma = 300, 0.999
    R = np.sin(np.arange(n) / 7.0)
    sol = solve_mrp(MRP(cycle(n), R, gamma))
    assert sol.info == {"solver": "direct"}
    np.testing.assert_allclose(sol.values, scipy.linalg.solve(np.eye(n) - gamma * cycle(n).toarray(), R),
                               rtol=1e-10)
    # and a 40-state cycle is GMRES's: one restart cycle holds it
    sol = solve_mrp(MRP(cycle(40), R[:40], gamma))
    assert sol.info["solver"] == "krylov" and sol.info["error_bound"] <= 1e-9


def test_iteration_and_krylov_say_when_they_cannot_prove_the_accuracy():
    # the swap at gamma 0.9999: after the 100,000 sweeps of method="iteration" the bound is
    # g^k / (2 (1 - g)) = 0.227 (the span shrinks by g per sweep from 1 after sweep 1)
    raises_exactly("the bounded iteration did not reach the accuracy asked for (error bound 0.227); "
                   "use method='direct'", solve_mrp, MRP(SWAP, [1.0, 0.0], 0.9999), method="iteration")
    assert f"{0.9999**100_000 / (2 * 0.0001):.3g}" == "0.227"
    with pytest.raises(RlkitError, match=r"^the Krylov solver did not reach the accuracy asked for "
                                         r"\(error bound [0-9.e+]+\); use method='direct'$"):
        solve_mrp(MRP(cycle(300), np.sin(np.arange(300) / 7.0), 0.999), method="krylov")


def test_the_iterations_shift_never_reaches_a_terminal_state():
    # 0 -> 1 -> 2 (absorbing, reward 0) at gamma 0.9, sparse: the bounded iteration adds its shift
    # to every state, the terminal one too; the solution sets it back to exactly 0
    P = sp.csr_array(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    sol = solve_mrp(MRP(P, [1.0, 2.0, 0.0], 0.9))
    assert sol.info["solver"] == "iteration"
    assert sol.values[2] == 0.0
    np.testing.assert_allclose(sol.values, [1.0 + 0.9 * 2.0, 2.0, 0.0], rtol=1e-10)


def test_x0_and_threads_reach_the_sparse_solvers(monkeypatch):
    seen = []
    real = exact.CSRKernel

    class Spy(real):
        def __init__(self, M, threads=1, groups=1):
            seen.append(threads)
            super().__init__(M, threads, groups)

    monkeypatch.setattr(exact, "CSRKernel", Spy)
    mrp = MRP(SWAP, [1.0, 0.0], 0.5)
    sol = solve_mrp(mrp, x0=swap_values(1.0, 0.5), threads=3)
    assert seen == [3] and sol.info["sweeps"] == 1
    assert solve_mrp(mrp, method="krylov", threads=2).info["solver"] == "krylov" and seen == [3, 2]


def test_span_bounds_and_accuracy_by_hand():
    assert exact.span_bounds(1.0, 3.0, 0.5) == (2.0, 1.0)          # k = 1: midpoint 2, half-span 1
    assert exact.span_bounds(-2.0, 4.0, 0.75) == (3.0, 9.0)        # k = 3
    tol = exact.KRYLOV_TOL
    assert tol == 1e-10
    v = np.array([-5.0, 2.0])                                      # scale max(1, 2, 5) = 5
    assert exact._accurate(5 * tol, v) and not exact._accurate(np.nextafter(5 * tol, 1.0), v)
    small = np.array([0.5, -0.25])                                 # scale 1
    assert exact._accurate(tol, small) and not exact._accurate(2 * tol, small)
    big = np.array([3.0, 7.0])                                     # scale 7, from the max
    assert exact._accurate(7 * tol, big) and not exact._accurate(8 * tol, big)
    assert exact._accurate(tol, np.zeros(0)) and not exact._accurate(2 * tol, np.zeros(0))
    assert exact._accurate(6 * tol, small, scale=6.0) and not exact._accurate(7 * tol, small, scale=6.0)
    assert not exact._accurate(np.nan, v) and not exact._accurate(np.inf, v)


def test_the_bellman_residual_by_hand():
    # 0 -> 1 (absorbing), R = (1, 0), gamma 1/2: R + g P v - v at v = (2, 1) is (-1/2, -1/2)
    mrp = MRP(np.array([[0.0, 1.0], [0.0, 1.0]]), [1.0, 0.0], 0.5)
    assert exact.bellman_residual_mrp(mrp, np.array([2.0, 1.0])) == 0.5
    assert exact.bellman_residual_mrp(mrp, np.array([1.0, 0.0])) == 0.0
    assert exact.bellman_residual_mrp(mrp, np.array([0.0, 4.0])) == 3.0    # |1 + 2 - 0|, |2 - 4|


def test_threads_by_hand():
    assert exact.resolve_threads(None) == len(os.sched_getaffinity(0))
    n = exact.resolve_threads(np.int64(3))
    assert n == 3 and type(n) is int
    assert exact.resolve_threads(1) == 1
    for bad in (0, -2, True, 2.0, "3"):
        raises_exactly(f"threads must be a positive integer (or None for all cores), got {bad!r}",
                       exact.resolve_threads, bad)


def test_the_dense_solve_reports_itself_and_gets_the_threads_asked_for(monkeypatch):
    seen = []
    real = exact._solve_dense

    def spy(*args):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real(*args)

    monkeypatch.setattr(exact, "_solve_dense", spy)
    P = np.array([[0.0, 1.0], [1.0, 0.0]])
    t0 = time.perf_counter()
    sol = solve_mrp(MRP(P, [1.0, 0.0], 0.5), threads=2)
    elapsed = time.perf_counter() - t0
    assert sol.info == {"solver": "direct"} and sol.method == "exact" and sol.iterations == 0
    assert sol.converged is True and sol.residual <= 1e-15
    assert 0.0 <= sol.seconds <= elapsed
    np.testing.assert_allclose(sol.values, [4 / 3, 2 / 3], rtol=1e-15)
    if any(p["user_api"] == "blas" for p in threadpool_info()):
        assert seen == [{2}]
    raises_exactly("solve_mrp: method must be 'auto', 'direct', 'krylov' or 'iteration', got 'lu'",
                   solve_mrp, MRP(P, [1.0, 0.0], 0.5), method="lu")


# --------------------------------------------------------------------------------------------
# CSRKernel with its real block and chunk sizes
# --------------------------------------------------------------------------------------------

def banded(rows, per_row, cols=None):
    """``rows`` x ``cols`` CSR with ``per_row(i)`` entries 1/k in row i (a stochastic matrix)."""
    cols = cols or rows
    counts = np.array([per_row(i) for i in range(rows)], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate([(i + np.arange(c)) % cols for i, c in enumerate(counts)])
    data = np.repeat(1.0 / counts, counts)
    return sp.csr_array((data, indices, indptr), shape=(rows, cols))


def test_kernel_blocks_start_at_2_18_entries_each():
    # 2^16 rows of 8 entries = 2^19 stored entries: two blocks of >= 2^18 with 2 threads (up to 4
    # per thread), one with one thread; one entry less and the second block is gone
    M = banded(1 << 16, lambda i: 8)
    assert M.nnz == 1 << 19
    assert len(exact.CSRKernel(M, 2).blocks) == 2 and len(exact.CSRKernel(M, 1).blocks) == 1
    assert len(exact.CSRKernel(M, 8).blocks) == 2                  # not 4 x 8: too few entries
    fewer = banded(1 << 16, lambda i: 7 if i == 0 else 8)
    assert fewer.nnz == (1 << 19) - 1 and len(exact.CSRKernel(fewer, 2).blocks) == 1


def test_kernel_blocks_hold_equal_numbers_of_entries_not_of_rows():
    # rows 0..S/2 hold 2 entries, the rest 30: cut by entries, the first block takes most rows
    S = 1 << 16
    M = banded(S, lambda i: 2 if i < S // 2 else 30)
    kernel = exact.CSRKernel(M, 2)
    assert len(kernel.blocks) == 4                                 # min(4 x 2, nnz / 2^18 = 4)
    per_block = [int(M.indptr[s1] - M.indptr[s0]) for s0, s1 in kernel.blocks]
    # balanced to the grid of S / (64 x 4) states: within 256 rows of 30 entries of a quarter
    assert max(abs(n - M.nnz / 4) for n in per_block) <= 256 * 30
    assert kernel.blocks[0][1] > S // 2                            # by rows it would be S / 4
    x = np.random.default_rng(0).normal(size=S)
    assert np.array_equal(kernel(x), exact.CSRKernel(M, 1)(x))


def test_kernel_blocks_of_an_mdp_count_every_actions_entries():
    # A = 2 stacked blocks: action 0 holds its entries in the first half of the states, action 1
    # in the second; the cut balances their sum, so it falls near the middle of the states
    S = 1 << 16
    M0 = banded(S, lambda i: 14 if i < S // 2 else 2)
    M1 = banded(S, lambda i: 2 if i < S // 2 else 14)
    kernel = exact.CSRKernel(sp.vstack([M0, M1], format="csr"), 2, groups=2)
    assert len(kernel.blocks) == 4 and kernel.n == S
    middle = [s1 for _, s1 in kernel.blocks][1]
    assert abs(middle - S // 2) <= S // 256
    x = np.random.default_rng(1).normal(size=S)
    stacked = sp.vstack([M0, M1], format="csr")
    np.testing.assert_allclose(kernel(x, 1.0), 1.0 + stacked @ x, rtol=1e-13, atol=1e-13)


def test_kernel_chunks_are_2_15_output_rows():
    # post sees the states in chunks of 32768 output rows over all actions, at least 1024 states
    S = 70_000
    one = exact.CSRKernel(banded(S, lambda i: 2), 1)
    assert one.chunk == 32768
    assert one(np.ones(S), post=lambda c0, c1: (c0, c1)) == [(0, 32768), (32768, 65536), (65536, 70000)]
    assert exact.CSRKernel(sp.csr_array((16 * 8, 8)), 1, groups=16).chunk == 2048
    assert exact.CSRKernel(sp.csr_array((64 * 8, 8)), 1, groups=64).chunk == 1024   # not 512
    assert exact.CSRKernel(sp.csr_array((40 * 8, 8)), 1, groups=40).chunk == 1024   # not 819
    # each_chunk walks the same chunks without a product
    assert one.each_chunk(lambda c0, c1: (c0, c1)) == [(0, 32768), (32768, 65536), (65536, 70000)]


def test_kernel_runs_blocks_on_its_threads_and_one_block_in_the_caller():
    M = banded(1 << 16, lambda i: 8)
    names = exact.CSRKernel(M, 2)(np.ones(1 << 16), post=lambda c0, c1: threading.current_thread().name)
    assert names and all(n.startswith("rlkit-mdp") for n in names)
    names = exact.CSRKernel(M, 1)(np.ones(1 << 16), post=lambda c0, c1: threading.current_thread().name)
    assert names == [threading.current_thread().name] * 2


def test_kernel_takes_any_matrix_and_vector_it_can_read_as_float64():
    P = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    x = np.array([1, 2, 4])                                        # integers
    want = P @ x
    assert exact.CSRKernel(P)(x).tolist() == want.tolist()         # a dense array
    k32 = exact.CSRKernel(sp.csr_array(P.astype(np.float32)))
    assert k32.data.dtype == np.float64 and k32(x).tolist() == want.tolist()
    strided = np.array([1.0, 9.0, 2.0, 9.0, 4.0, 9.0])[::2]       # not contiguous
    assert exact.CSRKernel(sp.csr_array(P))(strided).tolist() == want.tolist()
    assert exact.CSRKernel(sp.csr_array(P))(x, [1, 2, 3]).tolist() == (want + [1, 2, 3]).tolist()
    out = np.full(3, 7.0)
    got = exact.CSRKernel(sp.csr_array(P))(x, 0.5, out=out)
    assert got is out and out.tolist() == (want + 0.5).tolist()
    # the bytes one product reads: 4 values (8 bytes), 4 column indices and 4 row pointers (4 bytes)
    k = exact.CSRKernel(sp.csr_array(P))
    assert k.indices.dtype == np.int32 and k.bytes == 4 * 8 + 4 * 4 + 4 * 4 and k.nnz == 4


def test_kernel_reads_row_pointers_of_another_dtype_than_the_indices():
    P = sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))
    P.indptr = P.indptr.astype(np.int64)                           # indices stay int32
    k = exact.CSRKernel(P)
    assert k.indptr.dtype == k.indices.dtype
    assert k(np.array([1.0, 2.0])).tolist() == [2.0, 1.0]
