"""The parts that let rlkit hold and solve 10^7-state models: names made on demand, the
generators' direct CSR arrays, and the solver paths they take (checked against plain references)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.mdp import policy_iteration
from rlkit.mdp.generators import forest, random_sparse
from rlkit.mdp.models import IndexNames


def test_index_names_behave_as_the_list_of_names():
    names, ref = IndexNames(12), [str(i) for i in range(12)]
    assert list(names) == ref and names == ref and ref == names
    assert [names[i] for i in range(-12, 12)] == [ref[i] for i in range(-12, 12)]
    assert names[3:9:2] == ref[3:9:2] and names[::-1] == ref[::-1]
    assert all(names.index(n) == i for i, n in enumerate(ref))
    for bad in ("12", "-1", "01", "a", 3, None):
        assert bad not in names
        with pytest.raises(ValueError):
            names.index(bad)
    with pytest.raises(IndexError):
        names[12]
    assert names != [str(i) for i in range(11)] and names != ref[:-1] + ["x"]
    assert json.dumps(list(names)) == json.dumps(ref)


@pytest.mark.parametrize("make", [lambda: forest(S=2000), lambda: random_sparse(S=300, A=3, k=4)])
def test_generated_models_name_states_without_a_list_and_keep_it(make):
    mdp = make()
    S = mdp.n_states
    assert isinstance(mdp.states, IndexNames) and mdp.states == [str(i) for i in range(S)]
    # derived models share the names object instead of making S strings
    assert mdp.mrp(np.zeros(S, dtype=int)).states is mdp.states
    assert mdp.with_gamma(0.5).states is mdp.states
    sol = policy_iteration(mdp)
    assert sol.converged and sol.residual < 1e-8


def _greedy_reference(Q, current, tol):
    """The tie rule written the obvious way: an (A, S) mask, its first True, the current kept."""
    best = Q.max(axis=0)
    tied = Q >= (best - tol * np.maximum(1.0, np.abs(best)))[None, :]
    policy = tied.argmax(axis=0)
    if current is not None:
        policy = np.where(tied[current, np.arange(Q.shape[1])], current, policy)
    return policy


@pytest.mark.parametrize("A", [1, 2, 5])
def test_greedy_one_pass_per_action_equals_the_mask_rule(A):
    from rlkit.mdp.dp import TIE_TOL, _greedy_AS, greedy_policy

    rng = np.random.default_rng(A)
    S = 4000
    Q = rng.integers(0, 4, size=(A, S)).astype(float) * 0.5 - 1.0   # many exact ties
    Q[:, ::7] += rng.normal(0, 1e-11, size=(A, len(Q[0, ::7])))     # ties within the tolerance
    Q[:, ::5] *= 1e6                                                   # the relative part of the rule
    Q[0, ::3] -= 1.5 * TIE_TOL * np.maximum(1.0, np.abs(Q[0, ::3]))    # just outside the tolerance
    current = rng.integers(0, A, size=S)
    for cur in (None, current):
        ref = _greedy_reference(Q, cur, TIE_TOL)
        assert np.array_equal(_greedy_AS(Q, cur), ref)
        assert np.array_equal(_greedy_AS(Q, cur, best=Q.max(axis=0)), ref)
        assert np.array_equal(greedy_policy(Q.T, cur), ref)           # the (S, A) view
    assert len(np.unique(_greedy_AS(Q))) == A                          # the cases cover every action


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kernel_blocks_and_chunks_equal_the_plain_product(monkeypatch, threads):
    import scipy.sparse as sp

    from rlkit.mdp import exact

    monkeypatch.setattr(exact, "MIN_BLOCK_NNZ", 1000)     # several blocks ...
    monkeypatch.setattr(exact, "CHUNK_ROWS", 64)          # ... of several chunks (1024 states each)
    rng = np.random.default_rng(threads)
    A, S = 3, 5000
    M = sp.random_array((A * S, S), density=8 / S, random_state=rng, format="csr")
    x, b = rng.normal(size=S), rng.normal(size=A * S)
    kernel = exact.CSRKernel(M, threads, groups=A)
    assert len(kernel.blocks) == (1 if threads == 1 else 4 * threads) and kernel.chunk == 1024
    seen = []
    spans = kernel(x, b, post=lambda c0, c1: seen.append((c0, c1)) or (c0, c1))
    covered = np.zeros(S, dtype=int)
    for c0, c1 in seen:
        covered[c0:c1] += 1
    assert (covered == 1).all() and sorted(spans) == sorted(seen)
    assert np.max(np.abs(kernel(x, b) - (b + M @ x))) < 1e-12
    assert np.max(np.abs(kernel(x, 0.5) - (0.5 + M @ x))) < 1e-12
    monkeypatch.undo()                                    # one block, one chunk: the same sums, bitwise
    plain = exact.CSRKernel(M, 1, groups=A)
    assert len(plain.blocks) == 1 and plain.chunk > S
    assert np.array_equal(kernel(x, b), plain(x, b))


@pytest.mark.parametrize("make", [lambda: forest(S=3000), lambda: random_sparse(S=400, A=3, k=5)])
def test_generated_rewards_and_solution_q_share_the_solvers_buffers(make):
    from rlkit.mdp import value_iteration
    from rlkit.mdp.dp import _Backup

    mdp = make()
    backup = _Backup(mdp, 1)
    assert np.shares_memory(backup.RT, mdp.R)              # R.T is a view: no (A, S) copy of R
    assert np.array_equal(backup.RT.reshape(mdp.n_actions, -1), mdp.R.T)
    for solve in (policy_iteration, value_iteration):
        sol = solve(mdp)
        # q is the backup's (A, S) buffer seen as (S, A), and it is right: R + gamma P V
        ref = mdp.R + mdp.gamma * np.column_stack([m @ sol.values for m in mdp.P])
        assert sol.q.shape == (mdp.n_states, mdp.n_actions) and not sol.q.flags.c_contiguous
        assert np.max(np.abs(sol.q - ref)) < 1e-12
