"""rlkit.mdp.models: validation, reward forms, policies, and Markov-chain analysis checked against
closed forms (gambler's ruin), eigenvectors and exact matrix powers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _mdps import FOREST_P, FOREST_R
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, MRP, MarkovChain


def gambler_chain(N: int, p: float, sparse: bool = False) -> MarkovChain:
    """States 0..N coins; win one with probability p, lose one otherwise; 0 and N absorb."""
    P = np.zeros((N + 1, N + 1))
    P[0, 0] = P[N, N] = 1.0
    i = np.arange(1, N)
    P[i, i + 1] = p
    P[i, i - 1] = 1 - p
    return MarkovChain(sp.csr_matrix(P) if sparse else P, states=[str(k) for k in range(N + 1)])


def random_chain(rng: np.random.Generator, S: int, density: float) -> np.ndarray:
    P = rng.random((S, S)) * (rng.random((S, S)) < density)
    P[np.arange(S), rng.integers(0, S, S)] += 0.1        # every row has some mass
    return P / P.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# validation messages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
def test_row_sum_error_names_action_and_state(sparse):
    P = FOREST_P.copy()
    P[1, 2, 0] = 0.7
    P_in = [sp.csr_matrix(m) for m in P] if sparse else P
    msg = r"P\[1\]\[2\] \(action 'cut', state 'old'\) sums to 0.7.*must sum to 1"
    with pytest.raises(RlkitError, match=msg):
        MDP(P_in, FOREST_R, 0.9, states=["young", "mid", "old"], actions=["wait", "cut"])


@pytest.mark.parametrize("sparse", [False, True])
def test_negative_probability_error(sparse):
    P = FOREST_P.copy()
    P[0, 1, 0], P[0, 1, 2] = -0.1, 1.1
    P_in = [sp.csr_matrix(m) for m in P] if sparse else P
    with pytest.raises(RlkitError, match=r"action 'a0', state 's1'.*-0.1 to next state 's0'.*non-negative"):
        MDP(P_in, FOREST_R, 0.9)


def test_reward_and_gamma_and_name_errors():
    R = FOREST_R.copy()
    R[2, 1] = np.nan
    with pytest.raises(RlkitError, match=r"R\[2, 1\] is nan; rewards must be finite"):
        MDP(FOREST_P, R, 0.9)
    for g in (-0.1, 1.5, float("nan"), "x"):
        with pytest.raises(RlkitError, match="gamma must be"):
            MDP(FOREST_P, FOREST_R, g)
    with pytest.raises(RlkitError, match="states names must be unique: 'a'"):
        MDP(FOREST_P, FOREST_R, 0.9, states=["a", "b", "a"])
    with pytest.raises(RlkitError, match="actions has 3 names but the model has 2"):
        MDP(FOREST_P, FOREST_R, 0.9, actions=["x", "y", "z"])
    with pytest.raises(RlkitError, match=r"R has shape \(2, 3\) = \(A, S\).*pass R.T"):
        MDP(FOREST_P, FOREST_R.T, 0.9)
    with pytest.raises(RlkitError, match=r"R has shape \(4,\); expected \(S, A\)"):
        MDP(FOREST_P, np.zeros(4), 0.9)
    msg = r"P has shape \(3, 3\); an MDP needs P of shape \(A, S, S\).*MarkovChain"
    with pytest.raises(RlkitError, match=msg):
        MDP(FOREST_P[0], FOREST_R, 0.9)
    with pytest.raises(RlkitError, match="square"):
        MarkovChain(np.ones((2, 3)) / 3)
    with pytest.raises(RlkitError, match=r"R has shape \(2,\); an MRP needs R of shape \(3,\)"):
        MRP(FOREST_P[0], [1.0, 2.0], 0.9)


def test_terminal_states_validated_and_inferred():
    P = np.array([[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    mdp = MDP(P, [[1.0, 0.0], [0.0, 0.0]], 1.0, states=["x", "end"])
    assert mdp.terminal.tolist() == [False, True]
    assert MDP(P, [[1.0, 0.0], [0.0, 0.0]], 1.0, terminal=[]).terminal.tolist() == [False, False]
    msg = "terminal state 'x' is not absorbing: it stays with probability 0.5 under action 'a0'"
    with pytest.raises(RlkitError, match=msg):
        MDP(P, [[1.0, 0.0], [0.0, 0.0]], 1.0, states=["x", "end"], terminal=["x"])
    with pytest.raises(RlkitError, match="terminal state 'end' has reward 3 under action 'a1'"):
        MDP(P, [[1.0, 0.0], [0.0, 3.0]], 1.0, states=["x", "end"], terminal=["end"])
    with pytest.raises(RlkitError, match="terminal: unknown state 'nope'"):
        MDP(P, [[1.0, 0.0], [0.0, 0.0]], 1.0, terminal=["nope"])


def test_policy_validation_messages():
    mdp = MDP(FOREST_P, FOREST_R, 0.9, actions=["wait", "cut"])
    with pytest.raises(RlkitError, match=r"policy\[1\] \(state 's1'\) is action 2, out of range"):
        mdp.mrp([0, 2, 0])
    with pytest.raises(RlkitError, match=r"policy\[0\] \(state 's0'\) sums to 0.5"):
        mdp.mrp([[0.25, 0.25], [1, 0], [0, 1]])
    with pytest.raises(RlkitError, match="one action per state"):
        mdp.mrp([0, 1])
    with pytest.raises(RlkitError, match="unknown action 'jump'"):
        mdp.mrp(["wait", "jump", "cut"])
    assert np.array_equal(mdp.mrp(["wait", "cut", "cut"]).R, [0.0, 1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# reward forms, sparse vs dense, policies
# ---------------------------------------------------------------------------------------------

def test_reward_forms_are_expected_rewards():
    rng = np.random.default_rng(0)
    R3 = rng.normal(size=(2, 3, 3))
    mdp = MDP(FOREST_P, R3, 0.9)
    expected = np.array([[sum(FOREST_P[a, s, t] * R3[a, s, t] for t in range(3)) for a in range(2)]
                         for s in range(3)])
    np.testing.assert_allclose(mdp.R, expected)
    sparse = MDP([sp.csr_matrix(m) for m in FOREST_P], [sp.csr_matrix(m) for m in R3], 0.9)
    np.testing.assert_allclose(sparse.R, expected)
    sparse3 = MDP([sp.csr_matrix(m) for m in FOREST_P], R3, 0.9)
    np.testing.assert_allclose(sparse3.R, expected)
    vec = MDP(FOREST_P, [1.0, 2.0, 3.0], 0.9)
    assert vec.R.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    mrp = MRP(FOREST_P[0], R3[0], 0.5)
    np.testing.assert_allclose(mrp.R, expected[:, 0])


def test_sparse_and_dense_mdp_agree():
    rng = np.random.default_rng(1)
    P = np.stack([random_chain(rng, 20, 0.2) for _ in range(3)])
    R = rng.normal(size=(20, 3))
    dense, sparse = MDP(P, R, 0.8), MDP([sp.csr_array(m) for m in P], R, 0.8)
    assert sparse.is_sparse and not dense.is_sparse
    v = rng.normal(size=20)
    np.testing.assert_allclose(sparse.expected_next(v), dense.expected_next(v), atol=1e-12)
    np.testing.assert_allclose(dense.expected_next(v), np.einsum("ast,t->sa", P, v), atol=1e-12)
    pol = rng.integers(0, 3, 20)
    onehot = np.eye(3)[pol]
    for m in (dense, sparse):
        det, sto = m.mrp(pol), m.mrp(onehot)
        Pd = det.P.toarray() if m.is_sparse else det.P
        Ps = sto.P.toarray() if m.is_sparse else sto.P
        np.testing.assert_allclose(Pd, P[pol, np.arange(20)], atol=1e-15)
        np.testing.assert_allclose(Ps, Pd, atol=1e-15)
        np.testing.assert_allclose(det.R, R[np.arange(20), pol])
    mix = rng.dirichlet(np.ones(3), size=20)
    np.testing.assert_allclose(sparse.mrp(mix).P.toarray(), np.einsum("sa,ast->st", mix, P), atol=1e-14)
    np.testing.assert_allclose(dense.mrp(mix).R, (mix * R).sum(1))


def test_with_gamma_shares_arrays_and_keeps_names():
    mdp = MDP(FOREST_P, FOREST_R, 0.9, states=["a", "b", "c"], actions=["wait", "cut"], meta={"k": 1})
    other = mdp.with_gamma(0.5)
    assert other.P is mdp.P and other.R is mdp.R and other.gamma == 0.5 and mdp.gamma == 0.9
    assert other.states == ["a", "b", "c"] and other.actions == ["wait", "cut"] and other.meta == {"k": 1}
    with pytest.raises(RlkitError, match="gamma must be in"):
        mdp.with_gamma(2)


# ---------------------------------------------------------------------------------------------
# Markov chains
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("p", [0.4, 0.5, 0.7])
def test_gambler_ruin_absorption_matches_closed_form(sparse, p):
    N = 10
    mc = gambler_chain(N, p, sparse)
    i = np.arange(N + 1)
    q = 1 - p
    if p == 0.5:
        win = i / N
        steps = i * (N - i)
    else:
        r = q / p
        win = (1 - r**i) / (1 - r**N)
        steps = i / (q - p) - N / (q - p) * win
    absorb = mc.absorption_probabilities()
    assert [c.tolist() for c in mc.recurrent_classes()] == [[0], [N]]
    np.testing.assert_allclose(absorb[:, 1], win, atol=1e-12)
    np.testing.assert_allclose(absorb.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(mc.expected_steps_to_absorption(), steps, atol=1e-9)
    assert mc.classify() == ["absorbing"] + ["transient"] * (N - 1) + ["absorbing"]
    assert mc.terminal.tolist() == [True] + [False] * (N - 1) + [True]


@pytest.mark.parametrize("sparse", [False, True])
def test_stationary_distribution_is_the_left_eigenvector(sparse):
    rng = np.random.default_rng(3)
    P = random_chain(rng, 30, 0.3)
    P = 0.9 * P + 0.1 / 30                                    # irreducible
    mc = MarkovChain(sp.csr_array(P) if sparse else P)
    pi = mc.stationary_distribution()
    w, V = np.linalg.eig(P.T)
    vec = np.real(V[:, np.argmin(np.abs(w - 1))])
    np.testing.assert_allclose(pi, vec / vec.sum(), atol=1e-12)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-14)
    assert mc.classify() == ["recurrent"] * 30


def test_classification_of_mixed_chain_and_several_stationary_distributions():
    # 0 -> {1, 2, 4}; {1, 2} a periodic closed class; 3 absorbing; 4 -> {3, 0}; {5, 6} a closed class
    P = np.zeros((7, 7))
    P[0, [1, 2, 4]] = [0.2, 0.3, 0.5]
    P[1, 2] = P[2, 1] = 1.0
    P[3, 3] = 1.0
    P[4, [3, 0]] = [0.5, 0.5]
    P[5, 6] = 1.0
    P[6, [5, 6]] = [0.5, 0.5]
    for mat in (P, sp.csr_matrix(P)):
        mc = MarkovChain(mat)
        assert mc.classify() == ["transient", "recurrent", "recurrent", "absorbing", "transient",
                                 "recurrent", "recurrent"]
        assert [c.tolist() for c in mc.recurrent_classes()] == [[1, 2], [3], [5, 6]]
        pis = mc.stationary_distributions()
        np.testing.assert_allclose(pis, [[0, .5, .5, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0],
                                         [0, 0, 0, 0, 0, 1 / 3, 2 / 3]], atol=1e-12)
        with pytest.raises(RlkitError, match="3 recurrent classes.*stationary_distributions"):
            mc.stationary_distribution()
        # from 0: reach {1,2} w.p. h, where h = 0.5 + 0.5 * (0.5 h)  =>  h = 2/3
        absorb = mc.absorption_probabilities()
        np.testing.assert_allclose(absorb[0], [2 / 3, 1 / 3, 0], atol=1e-12)
        np.testing.assert_allclose(absorb[4], [1 / 3, 2 / 3, 0], atol=1e-12)
        # steps: t0 = 1 + 0.5 t4, t4 = 1 + 0.5 t0  =>  t0 = t4 = 2
        np.testing.assert_allclose(mc.expected_steps_to_absorption(), [2, 0, 0, 0, 2, 0, 0], atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_n_step_distribution_and_sampling(sparse):
    rng = np.random.default_rng(5)
    P = random_chain(rng, 6, 0.5)
    mc = MarkovChain(sp.csr_matrix(P) if sparse else P, states=list("abcdef"))
    expected = np.linalg.matrix_power(P, 4)[2]
    np.testing.assert_allclose(mc.distribution("c", 4), expected, atol=1e-14)
    np.testing.assert_allclose(mc.distribution(2, 0), np.eye(6)[2])
    n4 = mc.n_step(4)
    np.testing.assert_allclose(n4.toarray() if sparse else n4, np.linalg.matrix_power(P, 4), atol=1e-14)
    n = 20_000
    paths = mc.sample(4, start="c", seed=11, n_paths=n)
    assert paths.shape == (n, 5) and (paths[:, 0] == 2).all()
    freq = np.bincount(paths[:, 4], minlength=6) / n
    # 5 standard errors per state (a false alarm has probability < 1e-5 for the 6 states together)
    assert np.all(np.abs(freq - expected) <= 5 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    # every sampled transition has positive probability
    assert (P[paths[:, :-1], paths[:, 1:]] > 0).all()
    np.testing.assert_array_equal(mc.sample(30, start=1, seed=4), mc.sample(30, start=1, seed=4))
    one = mc.sample(30, start=np.full(6, 1 / 6), seed=4)
    assert one.shape == (31,)


def test_chain_input_errors():
    mc = gambler_chain(4, 0.5)
    with pytest.raises(RlkitError, match="unknown state 'x'"):
        mc.distribution("x", 2)
    with pytest.raises(RlkitError, match="n_steps must be >= 0"):
        mc.distribution(0, -1)
    with pytest.raises(RlkitError, match="seed must be an int"):
        mc.sample(3, seed="abc")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), S=st.integers(1, 12), density=st.floats(0.05, 1.0),
       sparse=st.booleans())
def test_chain_invariants_on_random_chains(seed, S, density, sparse):
    P = random_chain(np.random.default_rng(seed), S, density)
    mc = MarkovChain(sp.csr_matrix(P) if sparse else P)
    pis = mc.stationary_distributions()
    classes = mc.recurrent_classes()
    assert len(classes) >= 1 and pis.shape == (len(classes), S)
    np.testing.assert_allclose(pis @ P, pis, atol=1e-10)
    np.testing.assert_allclose(pis.sum(axis=1), 1.0, atol=1e-12)
    absorb = mc.absorption_probabilities()
    np.testing.assert_allclose(absorb.sum(axis=1), 1.0, atol=1e-9)
    # absorption probabilities are harmonic on transient states: h = P h
    kinds = np.array(mc.classify())
    tr = kinds == "transient"
    np.testing.assert_allclose((P @ absorb)[tr], absorb[tr], atol=1e-9)
    steps = mc.expected_steps_to_absorption()
    np.testing.assert_allclose(steps[tr], 1 + (P @ steps)[tr], atol=1e-8 * (1 + steps.max()))
    assert (steps[~tr] == 0).all()
