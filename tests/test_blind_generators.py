"""Every catalog generator against literal arrays (checked by hand, and for ``forest`` once against
``mdptoolbox.example.forest``, which CI does not install), and Jack's car rental against a
brute-force sum over Poisson outcomes written here.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from rlkit.mdp import policy_iteration
from rlkit.mdp.generators import forest, gambler, jacks_car_rental, random_walk


def test_forest_small_is_pymdptoolboxs_arrays():
    # mdptoolbox.example.forest(S=4, r1=5, r2=3, p=0.2), printed by pymdptoolbox 4.0b3
    P = np.array([[[0.2, 0.8, 0.0, 0.0],
                   [0.2, 0.0, 0.8, 0.0],
                   [0.2, 0.0, 0.0, 0.8],
                   [0.2, 0.0, 0.0, 0.8]],
                  [[1.0, 0.0, 0.0, 0.0]] * 4])
    R = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 1.0], [5.0, 3.0]])
    m = forest(S=4, r1=5, r2=3, p=0.2)
    np.testing.assert_allclose(np.asarray(m.P), P)
    np.testing.assert_allclose(m.R, R)
    assert m.gamma == 0.9 and m.actions == ["wait", "cut"]


def test_forest_sparse_has_the_same_arrays():
    dense, sparse = forest(S=5, sparse=False), forest(S=5, sparse=True)
    for a in range(2):
        np.testing.assert_allclose(sparse.P[a].toarray(), np.asarray(dense.P)[a])
    np.testing.assert_allclose(sparse.R, dense.R)


def test_gambler_goal_4_by_hand():
    """Capital 0..4, stakes 1 and 2; stake 2 is not allowed with capital 1 or 3 (masked: a copy of
    stake 1); +p_h on a bet that can reach the goal."""
    P = np.array([
        [[1, 0, 0, 0, 0], [.6, 0, .4, 0, 0], [0, .6, 0, .4, 0], [0, 0, .6, 0, .4], [0, 0, 0, 0, 1]],
        [[1, 0, 0, 0, 0], [.6, 0, .4, 0, 0], [.6, 0, 0, 0, .4], [0, 0, .6, 0, .4], [0, 0, 0, 0, 1]],
    ])
    R = np.array([[0, 0], [0, 0], [0, 0.4], [0.4, 0.4], [0, 0]])
    m = gambler(p_h=0.4, goal=4)
    np.testing.assert_allclose(np.asarray(m.P), P)
    np.testing.assert_allclose(m.R, R)
    assert m.terminal.tolist() == [True, False, False, False, True]
    assert m.meta["action_mask"].tolist() == [[True, True], [True, False], [True, True], [True, False],
                                              [True, True]]
    # bold play: V(2) = 0.4, V(1) = 0.4 V(2), V(3) = 0.4 + 0.6 V(2)
    np.testing.assert_allclose(policy_iteration(m).values, [0, 0.16, 0.4, 0.64, 0], atol=1e-12)


def test_random_walk_3_by_hand():
    m = random_walk(n=3)
    P = np.array([[1, 0, 0, 0, 0], [.5, 0, .5, 0, 0], [0, .5, 0, .5, 0], [0, 0, .5, 0, .5], [0, 0, 0, 0, 1]])
    np.testing.assert_allclose(np.asarray(m.P), P)
    np.testing.assert_allclose(m.R, [0, 0, 0, 0.5, 0])
    Rt = np.zeros((5, 5))
    Rt[3, 4] = 1.0
    np.testing.assert_allclose(m.meta["transition_rewards"], Rt)
    assert m.states == ["left", "A", "B", "C", "right"]
    np.testing.assert_allclose(m.meta["initial"], [0, 0, 1, 0, 0])


def brute_force_jack(N, M, rent, cost, req, ret, tail=60):
    """Jack's car rental by summing over every request and return count (to ``tail``, far past any
    mass that matters): move a cars, rent min(requests, cars), then returns, capped at N."""
    moves = list(range(-M, M + 1))
    S, A = (N + 1) ** 2, len(moves)
    P, R = np.zeros((A, S, S)), np.zeros((S, A))
    k = np.arange(tail)
    pq = [stats.poisson.pmf(k, lam) for lam in req]
    pr = [stats.poisson.pmf(k, lam) for lam in ret]
    for s in range(S):
        n = divmod(s, N + 1)
        for ai, a in enumerate(moves):
            ok = a <= n[0] and -a <= n[1]
            if not ok:            # masked: a copy of the lowest allowed move
                continue
            morning = (min(n[0] - a, N), min(n[1] + a, N))
            evening = [np.zeros(N + 1), np.zeros(N + 1)]
            reward = -cost * abs(a)
            for loc in range(2):
                for q in k:
                    rented = min(q, morning[loc])
                    reward += rent * rented * pq[loc][q]
                    for r in k:
                        evening[loc][min(morning[loc] - rented + r, N)] += pq[loc][q] * pr[loc][r]
            P[ai, s] = np.outer(evening[0], evening[1]).reshape(-1)
            R[s, ai] = reward
        first = next(ai for ai, a in enumerate(moves) if a <= n[0] and -a <= n[1])
        for ai, a in enumerate(moves):
            if not (a <= n[0] and -a <= n[1]):
                P[ai, s], R[s, ai] = P[first, s], R[s, first]
    return P, R


def test_jacks_car_rental_small_against_brute_force():
    m = jacks_car_rental(max_cars=2, max_move=1, rent_reward=10, move_cost=2, request_means=(1.5, 2.0),
                         return_means=(1.0, 0.5))
    P, R = brute_force_jack(2, 1, 10.0, 2.0, (1.5, 2.0), (1.0, 0.5))
    np.testing.assert_allclose(np.asarray(m.P), P, atol=1e-12)
    np.testing.assert_allclose(m.R, R, atol=1e-9)
    assert m.states[5] == "1,2" and m.actions == ["-1", "0", "1"]
    assert m.meta["action_mask"][0].tolist() == [False, True, False]       # no cars: no move
