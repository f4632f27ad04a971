"""Mutants of rlkit/mdp/generators.py that the literal-array tests left alive
(docs/mutation-survivors.md): the parameter checks with their exact messages and boundaries, and
the generators' arrays where no literal test looked (random_sparse against its recipe written out
here, random_walk's start state and names, forest's sparse switch)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.mdp import policy_iteration, value_iteration
from rlkit.mdp.generators import (
    _index_dtype,
    _stacked_mdp,
    apply_action_mask,
    forest,
    gambler,
    jacks_car_rental,
    random_sparse,
    random_walk,
)

JACK = {"max_cars": 2, "max_move": 1}
J = jacks_car_rental


@pytest.mark.parametrize("make, message", [
    (lambda: gambler(p_h=10**400), "p_h is too large for a float (a number in [0, 1] is needed)"),
    (lambda: gambler(p_h="x"), "p_h must be a number in [0, 1], got 'x'"),
    (lambda: gambler(p_h=1), "p_h must lie in (0, 1), got 1.0"),
    (lambda: gambler(p_h=0), "p_h must lie in (0, 1), got 0.0"),
    (lambda: forest(p=float("nan")), "p must lie in [0, 1], got nan"),
    (lambda: forest(p=1.5), "p must lie in [0, 1], got 1.5"),
    (lambda: forest(p=-0.5), "p must lie in [0, 1], got -0.5"),
    (lambda: gambler(goal=True), "goal must be an integer, got True"),
    (lambda: gambler(goal=4.5), "goal must be an integer, got 4.5"),
    (lambda: gambler(goal="4"), "goal must be an integer, got '4'"),
    (lambda: gambler(goal=1), "goal must be >= 2, got 1"),
    (lambda: jacks_car_rental(max_cars=201), "max_cars must be in [1, 200], got 201"),
    (lambda: jacks_car_rental(max_cars=0), "max_cars must be in [1, 200], got 0"),
    (lambda: jacks_car_rental(max_cars=2, max_move=3), "max_move must be in [0, 2], got 3"),
    (lambda: forest(r1=10**400), "r1 is too large for a float"),
    (lambda: forest(r1="a"), "r1 must be a number, got 'a'"),
    (lambda: forest(r2=float("inf")), "r2 must be finite, got inf"),
    (lambda: J(**JACK, rent_reward=float("nan")), "rent_reward must be finite, got nan"),
    (lambda: J(**JACK, move_cost=None), "move_cost must be a number, got None"),
    (lambda: J(**JACK, request_means=(1,)), "request_means must be a pair of numbers, got (1,)"),
    (lambda: J(**JACK, return_means="ab"), "return_means must be a pair of numbers, got 'ab'"),
    (lambda: J(**JACK, return_means=(-1, 2)), "return_means must be non-negative, got (-1, 2)"),
    (lambda: J(**JACK, request_means=[1, "x"]), "request_means must be a number, got 'x'"),
    (lambda: forest(sparse="yes"), "sparse must be true, false or auto, got 'yes'"),
    (lambda: forest(S=1), "S must be >= 2, got 1"),
    (lambda: random_walk(n=0), "n must be >= 1, got 0"),
    (lambda: random_sparse(S=0), "S must be >= 1, got 0"),
    (lambda: random_sparse(A=0), "A must be >= 1, got 0"),
    (lambda: random_sparse(k=0), "k must be >= 1, got 0"),
    (lambda: random_sparse(seed=-1), "seed must be >= 0, got -1"),
])
def test_bad_parameters_are_refused_with_their_name_and_value(make, message):
    with pytest.raises(RlkitError, match=f"^{re.escape(message)}$"):
        make()


def test_the_edges_of_each_range_are_accepted():
    assert forest(p=0.0).P[0][1, 2] == 1.0 and forest(p=1.0).P[0][1, 0] == 1.0
    assert gambler(goal=2).n_states == 3 and gambler(goal=np.int64(4)).n_states == 5
    assert gambler(goal=4.0).n_states == 5                                   # a whole float is an int
    assert jacks_car_rental(max_cars=1, max_move=1).n_actions == 3
    assert jacks_car_rental(max_cars=1, max_move=0).n_actions == 1
    m = jacks_car_rental(**JACK, request_means=(0, 0), return_means=(0.0, 0.0))
    np.testing.assert_allclose(m.R[:, 1], 0.0)                              # nobody rents, moving 0 is free
    np.testing.assert_allclose(np.asarray(m.P)[1], np.eye(9))               # and nothing changes overnight
    assert random_walk(n=1).states == ["left", "A", "right"]
    assert random_sparse(S=1, A=1, k=1, seed=0).n_states == 1


def test_apply_action_mask_names_the_states_without_an_allowed_action():
    mask = np.array([[True, False], [False, False], [False, False]])
    with pytest.raises(RlkitError, match=re.escape("action_mask: states [1, 2] have no allowed action")):
        apply_action_mask(np.zeros((2, 3, 3)), np.zeros((3, 2)), mask)


def test_random_sparse_is_its_recipe():
    """k successors per (s, a) uniform on the states, Dirichlet(1, ..., 1) weights (normalised
    standard exponentials), rewards uniform on [0, 1), all drawn in this order from one
    ``default_rng(seed)`` (one block: fewer than 2**20 entries)."""
    S, A, k, seed = 7, 3, 4, 11
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, S, size=A * S * k, dtype=np.int32).reshape(A, S, k)
    w = rng.standard_exponential(size=(A * S, k)).reshape(A, S, k)
    w /= w.sum(axis=2, keepdims=True)
    R = rng.uniform(0.0, 1.0, size=(S, A))
    P = np.zeros((A, S, S))
    for a in range(A):
        for s in range(S):
            for j in range(k):
                P[a, s, cols[a, s, j]] += w[a, s, j]
    m = random_sparse(S=S, A=A, k=k, seed=seed, gamma=0.8)
    assert m.is_sparse and m.gamma == 0.8 and m.actions == ["a0", "a1", "a2"]
    for a in range(A):
        np.testing.assert_allclose(m.P[a].toarray(), P[a], rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(m.R, R)
    assert m._P_stack.nnz == A * S * k and not m.terminal.any()
    assert m.meta["description"] == "random sparse MDP, S=7, A=3, k=4, seed=11"


def test_random_walk_starts_in_the_middle_and_names_long_walks_by_number():
    for n, start in [(1, 1), (2, 1), (4, 2), (5, 3), (19, 10)]:
        initial = np.zeros(n + 2)
        initial[start] = 1.0
        np.testing.assert_array_equal(random_walk(n=n).meta["initial"], initial)
    assert random_walk(n=26).states[1:-1] == [chr(ord("A") + i) for i in range(26)]
    assert random_walk(n=27).states[1:-1] == [f"s{i}" for i in range(1, 28)]
    assert random_walk(n=4).meta["description"] == "random walk with 4 states (S&B Example 6.2)"


def test_forest_goes_sparse_above_1000_states_and_says_what_it_is():
    assert not forest(S=1000).is_sparse and forest(S=1001).is_sparse
    assert forest(S=3, sparse=True).is_sparse and not forest(S=2000, sparse=False).is_sparse
    assert forest(S=6).meta["description"] == "forest management (pymdptoolbox), S=6"
    dense, sparse = forest(S=6, r1=7, r2=5, p=0.3), forest(S=6, r1=7, r2=5, p=0.3, sparse=True)
    np.testing.assert_array_equal(dense.R, sparse.R)
    for a in range(2):
        np.testing.assert_allclose(sparse.P[a].toarray(), np.asarray(dense.P)[a], atol=0)


@pytest.mark.parametrize("make, what, nbytes", [
    (lambda: gambler(goal=5), "gambler with goal=5 (dense P)", 2 * 8 * 2 * 6**2),
    (lambda: forest(S=3), "forest with S=3", 3 * 16 * 3 * 3),
    (lambda: forest(S=3, sparse=True), "forest with S=3", 200 * 3),
    (lambda: random_walk(n=3), "random-walk with n=3 (dense P)", 3 * 16 * 5**2),
    (lambda: J(max_cars=3, max_move=3), "jacks-car-rental with max_cars=3, max_move=3", 3 * 8 * 7 * 4**4),
])
def test_each_generator_checks_its_memory_estimate_first(monkeypatch, make, what, nbytes):
    # the estimates written out: (A, S, S) float64 arrays, 2 or 3 of them (complex128 for 16)
    monkeypatch.setenv("RLKIT_MAX_MEMORY", str(nbytes))
    make()
    monkeypatch.setenv("RLKIT_MAX_MEMORY", str(nbytes - 1))
    with pytest.raises(RlkitError, match=f"^{re.escape(what)} would need about "):
        make()


def test_the_defaults_are_the_textbook_ones():
    g = gambler()
    assert g.meta["description"] == "gambler's problem, p_h=0.4, goal=100" and g.gamma == 1.0
    f = forest()
    np.testing.assert_allclose(np.asarray(f.P)[0], [[0.1, 0.9, 0], [0.1, 0, 0.9], [0.1, 0, 0.9]])
    np.testing.assert_allclose(f.R, [[0, 0], [0, 1], [4, 2]])
    assert f.gamma == 0.9 and not f.is_sparse
    w = random_walk()
    assert w.states == ["left", "A", "B", "C", "D", "E", "right"] and w.gamma == 1.0
    assert w.terminal.tolist() == [True, False, False, False, False, False, True]
    r = random_sparse()
    assert r.meta["description"] == "random sparse MDP, S=1000, A=4, k=10, seed=0" and r.gamma == 0.9
    j, ref = J(), J(max_cars=20, max_move=5, rent_reward=10.0, move_cost=2.0, request_means=(3.0, 4.0),
                    return_means=(3.0, 2.0), gamma=0.9)
    assert j.gamma == 0.9 and j.actions == [str(a) for a in range(-5, 6)]
    np.testing.assert_array_equal(j.R, ref.R)
    np.testing.assert_array_equal(np.asarray(j.P)[[0, 5, 10]], np.asarray(ref.P)[[0, 5, 10]])


def test_random_walk_marks_both_ends_terminal():
    m = random_walk(n=3)
    assert m.terminal.tolist() == [True, False, False, False, True]
    assert m.meta["description"] == "random walk with 3 states (S&B Example 6.2)"


def test_apply_action_mask_copies_the_lowest_allowed_action_for_a_0_1_mask():
    # 2 states, 3 actions; state 0 allows only action 2, state 1 allows actions 1 and 2
    P = np.zeros((3, 2, 2))
    for a in range(3):
        P[a, :, a % 2] = 1.0
    R = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[0, 0, 1], [0, 1, 1]])                       # ints, read as bools
    apply_action_mask(P, R, mask)
    np.testing.assert_array_equal(R, [[3.0, 3.0, 3.0], [5.0, 5.0, 6.0]])
    np.testing.assert_array_equal(P[:, 0], [[1, 0], [1, 0], [1, 0]])  # all copies of action 2's row
    np.testing.assert_array_equal(P[:, 1], [[0, 1], [0, 1], [1, 0]])  # action 0 copies action 1
    # more than ten bad states: the message names the first ten
    with pytest.raises(RlkitError, match=re.escape("states [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] have no allowed")):
        apply_action_mask(np.zeros((2, 12, 12)), np.zeros((12, 2)), np.zeros((12, 2), dtype=bool))


def test_jacks_car_rental_says_what_it_is_and_its_value_grid():
    m = J(max_cars=2, max_move=1)
    assert m.meta["description"] == "Jack's car rental (S&B Example 4.2)"
    assert m.meta["value_shape"] == (3, 3) and m.states[:4] == ["0,0", "0,1", "0,2", "1,0"]


def test_sparse_forest_is_int32_indexed_and_named_like_the_dense_one():
    # int32 row pointers and columns (half the memory of scipy's int64 default) while they fit
    m = forest(S=5, sparse=True)
    assert m._P_stack.indptr.dtype == np.int32 and m._P_stack.indices.dtype == np.int32
    assert m.P[0].indices.dtype == np.int32 and m.P[1].indptr.dtype == np.int32
    assert m.actions == ["wait", "cut"] and m.states == ["0", "1", "2", "3", "4"]
    assert m.meta["description"] == "forest management (pymdptoolbox), S=5"
    r = random_sparse(S=20, A=2, k=3)
    assert r._P_stack.indptr.dtype == np.int32 and r._P_stack.indices.dtype == np.int32


def test_generator_params_lists_each_generators_defaults_without_gamma():
    from rlkit.mdp.generators import generator_params

    assert generator_params("gambler") == {"p_h": 0.4, "goal": 100}
    assert generator_params("forest") == {"S": 3, "r1": 4.0, "r2": 2.0, "p": 0.1, "sparse": "auto"}
    assert generator_params("random-walk") == {"n": 5}
    assert list(generator_params("jacks-car-rental")) == ["max_cars", "max_move", "rent_reward", "move_cost",
                                                          "request_means", "return_means"]
    assert generator_params("random-sparse") == {"S": 1000, "A": 4, "k": 10, "seed": 0}


def test_states_and_actions_are_named_by_their_numbers():
    # the models' default names would be s0.. and a0..; the catalog's are the capital and the stake
    g = gambler(goal=4)
    assert g.states == ["0", "1", "2", "3", "4"] and g.actions == ["1", "2"]
    assert forest(S=3).states == ["0", "1", "2"] and forest(S=3).actions == ["wait", "cut"]


def test_a_stacked_mdp_by_hand_shares_its_arrays():
    # S = 2, A = 2, stacked rows a*S + s: a0 swaps the states, a1 stays (state 1: half and half)
    indptr = np.array([0, 1, 2, 3, 5], dtype=np.int32)
    indices = np.array([1, 0, 0, 0, 1], dtype=np.int32)
    data = np.array([1.0, 1.0, 1.0, 0.5, 0.5])
    R = np.array([[1.0, 2.0], [3.0, 4.0]])
    m = _stacked_mdp(indptr, indices, data, R, 0.75, ["go", "stay"], {"generator": "hand"})
    assert m.P[0].toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert m.P[1].toarray().tolist() == [[1.0, 0.0], [0.5, 0.5]]
    assert m._P_stack.shape == (4, 2)
    assert m._P_stack.toarray().tolist() == [[0, 1], [1, 0], [1, 0], [0.5, 0.5]]
    assert all(np.shares_memory(p.data, data) and np.shares_memory(p.indices, indices) for p in m.P)
    assert np.shares_memory(m._P_stack.data, data)
    assert m.gamma == 0.75 and m.R.tolist() == R.tolist() and list(m.actions) == ["go", "stay"]
    assert list(m.states) == ["0", "1"] and m.terminal.tolist() == [False, False]
    assert m.meta == {"generator": "hand"}
    # the solvers read it as any MDP: value iteration against policy iteration's exact values
    np.testing.assert_allclose(value_iteration(m, tol=1e-10).values, policy_iteration(m).values, atol=1e-9)
    with pytest.raises(RlkitError, match="gamma"):
        _stacked_mdp(indptr, indices, data, R, 1.5, ["go", "stay"], {})


def test_the_index_dtype_switches_at_int32s_largest_value():
    top = np.iinfo(np.int32).max
    assert _index_dtype(top - 1) is np.int32 and _index_dtype(0) is np.int32
    assert _index_dtype(top) is np.int64 and _index_dtype(top + 1) is np.int64
