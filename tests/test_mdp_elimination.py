"""Value iteration with action elimination and the alive-rows product it runs on: the rows product
equals scipy's rows of the full product, elimination never drops an optimal action and leaves the
values within tol of V* (policy iteration's), and the sweep from v = 0 reads nothing of P."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, dp, exact, policy_iteration, value_iteration
from rlkit.mdp.exact import CSRKernel, CSRRowsKernel
from rlkit.mdp.generators import forest, random_sparse


def _matrix_with_empty_rows(rng, n_rows=700, n_cols=90):
    M = sp.random_array((n_rows, n_cols), density=0.06, format="csr", rng=rng).tolil()
    M[::9] = 0.0                                             # empty rows between full ones
    M[n_rows - 1] = 0.0                                      # ... and at the end
    return sp.csr_array(M)


@pytest.mark.parametrize("copy", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_rows_product_equals_the_rows_of_the_full_product(monkeypatch, threads, copy):
    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", 5)          # many pieces, so piece edges are crossed
    rng = np.random.default_rng(threads)
    M = _matrix_with_empty_rows(rng)
    n = M.shape[0]
    x, b = rng.normal(size=M.shape[1]), rng.normal(size=n)
    full = b + M @ x
    subsets = [np.arange(n), rng.choice(n, 250, replace=False), np.array([0]), np.array([n - 1]),
               np.array([n - 2, 0]), np.arange(0, n, 9), np.arange(1, n, 2), np.array([], dtype=int)]
    for rows in subsets:
        kernel = CSRRowsKernel(M, rows, threads, copy=copy)
        assert kernel.copied == copy and (np.shares_memory(kernel.data, M.data) != copy or not len(rows))
        if kernel.nnz > 40 * threads and threads > 1:
            assert len(kernel.pieces) == 4 * threads
        assert kernel.nnz == int(np.diff(M.indptr)[rows].sum())
        out = np.full(n, 7.5)
        assert kernel(x, b, out=out) is out
        rest = np.setdiff1d(np.arange(n), rows)
        assert np.max(np.abs(out[rows] - full[rows]), initial=0.0) < 1e-12
        assert (out[rest] == 7.5).all()                      # rows not chosen are left alone
        scalar = kernel(x, 0.25)                             # a scalar b, a new buffer
        assert np.max(np.abs(scalar[rows] - (0.25 + M @ x)[rows]), initial=0.0) < 1e-12
        assert np.isnan(scalar[rest]).all()
    # the same sums as the full kernel, bitwise (the same code on the same rows)
    every = CSRRowsKernel(CSRKernel(M), np.arange(n)[::-1], threads, copy=copy)(x, b)
    assert np.array_equal(every, CSRKernel(M)(x, b))
    with pytest.raises(ValueError):
        CSRRowsKernel(M, np.array([3, 3]))
    with pytest.raises(ValueError):
        CSRRowsKernel(M, np.array([n]))


def test_the_sweep_from_zero_reads_nothing_and_equals_the_product():
    mdp = random_sparse(S=500, A=3, k=4, seed=2)
    backup = dp._Backup(mdp, 1)
    new, lo, hi = backup(np.zeros(500))
    assert np.array_equal(new, mdp.R.max(axis=1)) and backup.bytes_read == 0
    assert (lo, hi) == (new.min(), new.max())
    v = np.zeros(500)
    v[1:] = 1e-3                                             # zero where the check might look, not zero
    q = mdp.R + mdp.gamma * np.column_stack([m @ v for m in mdp.P])
    new, lo, hi = backup(v)
    assert backup.bytes_read == backup.bytes_per_sweep
    assert np.max(np.abs(new - q.max(axis=1))) < 1e-14 and abs(lo - (q.max(axis=1) - v).min()) < 1e-14


@pytest.mark.parametrize("case", ["random", "random-k2", "forest", "ties"])
def test_elimination_keeps_the_optimal_actions_and_the_values(monkeypatch, case):
    monkeypatch.setattr(dp, "REBUILD_FRACTION", 0.95)        # rebuild the rows kernel often ...
    monkeypatch.setattr(dp, "COPY_FRACTION", 0.4)            # ... and copy its rows at the end
    if case == "random":
        mdp = random_sparse(S=3000, A=4, k=6, seed=5, gamma=0.9)
    elif case == "random-k2":
        mdp = random_sparse(S=2000, A=5, k=2, seed=1, gamma=0.95)
    elif case == "forest":
        mdp = forest(S=2000, gamma=0.9)
    else:                                                    # two copies of each action: exact ties
        base = random_sparse(S=800, A=2, k=3, seed=4, gamma=0.9)
        P = [base.P[0], base.P[0], base.P[1], base.P[1]]
        mdp = MDP(P, np.repeat(base.R, 2, axis=1), 0.9)
    exact_sol = policy_iteration(mdp)
    V, Qstar = exact_sol.values, exact_sol.q
    tol = 1e-8
    seen: list = []
    kinds: list = []
    orig = dp._PrunedBackup.__call__

    def spy(self, v):
        out = orig(self, v)
        seen.append(self.alive.copy())
        kinds.append(None if self.rows_kernel is None else self.rows_kernel.copied)
        return out

    monkeypatch.setattr(dp._PrunedBackup, "__call__", spy)
    sol = value_iteration(mdp, tol=tol, eliminate=True)
    plain = value_iteration(mdp, tol=tol, eliminate=False)
    assert sol.converged and np.max(np.abs(sol.values - V)) < tol and np.max(np.abs(plain.values - V)) < tol
    assert sol.iterations <= plain.iterations and sol.info["error_bound"] < tol
    optimal = (Qstar >= V[:, None] - 1e-9).T                 # (A, S): every action optimal within 1e-9
    for alive in seen:
        assert alive[optimal].all()                          # never an optimal action dropped
    assert sol.info["eliminated"] == 1.0 - seen[-1].mean()
    if case != "ties":                                       # copies stay; the rest goes
        assert sol.info["eliminated"] > 0.4
        assert sol.info["bytes_read"] < 0.8 * plain.info["bytes_read"]
        # full, then the rows in place, then copied (forest keeps half its rows: never copied)
        assert kinds[0] is None and False in kinds and (True in kinds) == (case != "forest")
    else:
        assert seen[-1][0].sum() + seen[-1][2].sum() >= 800 and (seen[-1][0] == seen[-1][1]).all()
    ref = mdp.R + mdp.gamma * np.column_stack([m @ sol.values for m in mdp.P])
    assert np.max(np.abs(sol.q - ref)) < 1e-12               # q for every action, eliminated or not
    assert np.array_equal(sol.policy, plain.policy)


def test_elimination_is_on_where_it_pays_and_refused_where_it_has_no_bound(monkeypatch):
    mdp = random_sparse(S=600, A=3, k=4, seed=0)
    assert value_iteration(mdp).info["eliminated"] == 0.0    # small: off, plain iterates
    monkeypatch.setattr(dp, "ELIMINATE_MIN_NNZ", mdp._P_stack.nnz)
    assert value_iteration(mdp).info["eliminated"] > 0.3     # large enough, 4 entries a row: on
    monkeypatch.setattr(dp, "ELIMINATE_MIN_NNZ", 0)
    assert value_iteration(forest(S=2000)).info["eliminated"] == 0.0   # 1-2 entries a row: off
    assert value_iteration(forest(S=2000), eliminate=True).info["eliminated"] > 0.3
    assert value_iteration(mdp, eliminate=False).info["eliminated"] == 0.0
    dense = MDP(np.array([[[0.5, 0.5], [0, 1]], [[1, 0], [0, 1]]]), [[1, 0], [0, 2]], 0.9)
    assert value_iteration(dense).info["eliminated"] == 0.0
    undiscounted = forest(S=2000, gamma=1.0)
    for bad_model in (dense, undiscounted):
        with pytest.raises(RlkitError, match="action elimination needs gamma < 1"):
            value_iteration(bad_model, eliminate=True)
    with pytest.raises(RlkitError, match="eliminate must be"):
        value_iteration(mdp, eliminate="yes")


def test_the_rows_are_copied_only_where_the_copy_fits(monkeypatch):
    import resource

    assert dp._room_for(10**6) and not dp._room_for(10**15)      # beyond the machine's memory
    monkeypatch.setattr(resource, "getrlimit", lambda what: (10**8, 10**8))   # a 100 MB address space
    assert not dp._room_for(10**6)                               # the interpreter alone maps more
    monkeypatch.setattr(dp, "COPY_FRACTION", 0.4)
    kinds: list = []
    orig = dp._PrunedBackup.__call__

    def spy(self, v):
        out = orig(self, v)
        kinds.append(None if self.rows_kernel is None else self.rows_kernel.copied)
        return out

    monkeypatch.setattr(dp._PrunedBackup, "__call__", spy)
    mdp = random_sparse(S=3000, A=4, k=6, seed=5, gamma=0.9)
    sol = value_iteration(mdp, eliminate=True)
    assert sol.converged and False in kinds and True not in kinds  # no room: the rows in place
    assert abs(sol.info["eliminated"] - 0.75) < 0.01


def test_rows_kernel_checks_its_rows_and_splits_them_into_balanced_pieces(monkeypatch):
    """The rows: distinct, in range, kept in decreasing order (so every junk virtual row between
    two chosen rows is empty) in the index type of M; one piece with one thread; with more, about
    4 x threads pieces of nearly equal numbers of entries (each within one row of its share)."""
    rng = np.random.default_rng(5)
    M = _matrix_with_empty_rows(rng)
    n = M.shape[0]
    for bad in ([3, 3], [0, 1, 1], [2, 0, 2], [-1, 2], [0, n]):
        with pytest.raises(ValueError) as e:
            CSRRowsKernel(M, np.array(bad))
        assert str(e.value) == "rows must be distinct row indices of M", bad
    one = CSRRowsKernel(M, np.array([4]))
    assert one.rows.tolist() == [4] and one.pieces == [(0, 1)] and one.threads == 1 and not one.copied
    rows = rng.choice(n, 200, replace=False)
    k = CSRRowsKernel(M, rows)
    assert k.rows.tolist() == sorted(rows.tolist(), reverse=True) and k.rows.dtype == M.indptr.dtype
    assert (k.vptr[2::2] <= k.vptr[1:-1:2]).all()            # start(r_j+1) <= end(r_j): empty
    # rows whose first is the smallest are sorted all the same
    assert CSRRowsKernel(M, np.array([0, 5, 3])).rows.tolist() == [5, 3, 0]
    # the copy, chunk by chunk, in M's index type (small enough), equals the product
    x, b = rng.normal(size=M.shape[1]), rng.normal(size=n)
    for chunk in (1, 7, 1 << 16):
        c = CSRRowsKernel(M, rows)
        c.copied = True  # what __init__ does with copy=True, with another chunk size
        c._copy_rows(chunk=chunk)
        assert c.indices.dtype == M.indices.dtype and not np.shares_memory(c.data, M.data)
        assert np.array_equal(c(x, b)[np.sort(rows)], CSRRowsKernel(M, rows)(x, b)[np.sort(rows)])
    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", 5)
    assert CSRRowsKernel(M, rows, 1).pieces == [(0, 200)]  # one thread: one piece, whatever the size
    sizes = np.diff(M.indptr)[np.sort(rows)[::-1]]
    for threads in (2, 3):
        k = CSRRowsKernel(M, rows, threads)
        assert len(k.pieces) == 4 * threads and k.pieces[0][0] == 0 and k.pieces[-1][1] == 200
        assert all(a[1] == b[0] for a, b in zip(k.pieces, k.pieces[1:], strict=False))
        share = sizes.sum() / (4 * threads)
        for a, b in k.pieces:
            assert abs(sizes[a:b].sum() - share) <= 2 * sizes.max(), (threads, a, b)
    assert CSRRowsKernel(M, np.array([7]), 3).pieces == [(0, 1)]  # one row cannot be split
    big = np.argsort(np.diff(M.indptr))[-2:]                 # two rows of many entries: two pieces
    assert CSRRowsKernel(M, big, 3).pieces == [(0, 1), (1, 2)]
    two = np.sort(rows)[:100]
    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", int(np.diff(M.indptr)[two].sum()) // 2)
    assert len(CSRRowsKernel(M, two, 3).pieces) == 2  # entries for two blocks: two pieces
    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", 10**9)
    assert CSRRowsKernel(M, rows, 3).pieces == [(0, 200)]  # too few entries to be worth splitting
