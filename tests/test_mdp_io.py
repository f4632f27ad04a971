"""rlkit.mdp.io: model files, .npz, the catalog, Gymnasium import; checked against textbook numbers,
closed forms, pymdptoolbox's arrays and sampled Gymnasium episodes."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, MRP, MarkovChain, evaluate, policy_iteration, solve_mrp, value_iteration
from rlkit.mdp.io import (
    action_mask,
    catalog_names,
    from_gym,
    grid_mdp,
    load,
    load_policy,
    parse_env_kwargs,
    save,
    uniform_policy,
)
from rlkit.mdp.report import solve


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_same_P(P1, P2):
    if isinstance(P1, list) or sp.issparse(P1):
        mats1 = P1 if isinstance(P1, list) else [P1]
        mats2 = P2 if isinstance(P2, list) else [P2]
        assert len(mats1) == len(mats2)
        for m1, m2 in zip(mats1, mats2, strict=True):
            assert m1.shape == m2.shape and abs(sp.csr_array(m1) - sp.csr_array(m2)).max() == 0
    else:
        np.testing.assert_array_equal(P1, P2)


def assert_same_model(a, b):
    assert type(a) is type(b)
    assert a.states == b.states
    assert_same_P(a.P, b.P)
    if not isinstance(a, MarkovChain):
        np.testing.assert_array_equal(a.R, b.R)
        assert a.gamma == b.gamma
        np.testing.assert_array_equal(a.terminal, b.terminal)
    if isinstance(a, MDP):
        assert a.actions == b.actions
        np.testing.assert_array_equal(action_mask(a), action_mask(b))
    for key in ("grid", "grid_map"):
        assert a.meta.get(key) == b.meta.get(key)
    if a.meta.get("initial") is not None:
        np.testing.assert_array_equal(a.meta["initial"], b.meta["initial"])


# ------------------------------------------------------------------------------------------------
# catalog: sizes and textbook values
# ------------------------------------------------------------------------------------------------

SIZES = {
    "student-mrp": ("mrp", 7, None),
    "student-mdp": ("mdp", 5, 5),
    "gridworld-4x4": ("mdp", 16, 4),
    "gambler": ("mdp", 101, 50),
    "jacks-car-rental": ("mdp", 441, 11),
    "random-walk": ("mrp", 7, None),
    "cliff-walking": ("mdp", 48, 4),
    "forest": ("mdp", 3, 2),
}


def test_catalog_lists_every_entry():
    assert set(SIZES) <= set(catalog_names())


@pytest.mark.parametrize("name", sorted(SIZES))
def test_catalog_entry_sizes(name):
    kind, S, A = SIZES[name]
    model = load(name)
    assert {"mrp": MRP, "mdp": MDP}[kind] is type(model)
    assert model.n_states == S
    if A is not None:
        assert model.n_actions == A
    assert model.meta.get("description")


def test_student_mrp_values_match_silver():
    # D. Silver, lecture 2: gamma = 0.9 values (slide, one decimal) and gamma = 1 (rounded there)
    states = ["C1", "C2", "C3", "Pass", "Pub", "FB", "Sleep"]
    v = dict(zip(states, solve_mrp(load("student-mrp", gamma=0.9)).values, strict=True))
    expected = {"C1": -5.0, "C2": 0.9, "C3": 4.1, "Pass": 10.0, "Pub": 1.9, "FB": -7.6, "Sleep": 0.0}
    for s, x in expected.items():
        assert abs(v[s] - x) < 0.05, s
    v1 = solve_mrp(load("student-mrp")).values
    np.testing.assert_allclose(v1[[1, 2, 4]], [1.5, 4.3, 0.8], atol=0.05)
    # closed form at gamma = 1 by hand: v(C1) = -12.543..., v(FB) = v(C1) - 10
    assert v1[5] == pytest.approx(v1[0] - 10.0)


def test_student_mdp_optimal_and_uniform_values():
    mdp = load("student-mdp")
    rep = solve(mdp)
    np.testing.assert_allclose(rep.values, [6, 6, 8, 10, 0], atol=1e-12)
    names = [mdp.actions[a] for a in rep.policy[:4]]
    assert names == ["quit", "study", "study", "study"]
    # the uniform policy picks each of the TWO available actions with probability 1/2
    pi = uniform_policy(mdp)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    assert set(np.unique(pi[:4])) == {0.0, 0.5}
    v = evaluate(mdp, pi).values
    np.testing.assert_allclose(v, [-2.3, -1.3, 2.7, 7.4, 0.0], atol=0.05)


def test_unavailable_actions_copy_the_first_available_one():
    mdp = load("student-mdp")
    mask = action_mask(mdp)
    assert mask[:4].sum(axis=1).tolist() == [2, 2, 2, 2]
    s, first = mdp.states.index("Class2"), mdp.actions.index("study")
    for a in np.flatnonzero(~mask[s]):
        np.testing.assert_array_equal(mdp.P[a, s], mdp.P[first, s])
        assert mdp.R[s, a] == mdp.R[s, first]


def test_gridworld_4x4_uniform_reproduces_figure_4_1():
    mdp = load("gridworld-4x4")
    assert mdp.meta["grid"] == (4, 4) and mdp.gamma == 1.0
    v = evaluate(mdp, uniform_policy(mdp)).values.reshape(4, 4)
    fig41 = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]
    np.testing.assert_allclose(v, fig41, atol=1e-9)


def bold_play(s: int, goal: int, p: float) -> float:
    """Dubins-Savage: bold play's win probability from the binary digits of x = s / goal,
    f(x) = sum_i b_i p prod_{j<i} (q if b_j else p); optimal for p < 1/2."""
    if s >= goal:
        return 1.0
    total, weight, num = 0.0, 1.0, s
    for _ in range(80):
        num *= 2
        if num >= goal:
            total += weight * p
            weight *= 1 - p
            num -= goal
        else:
            weight *= p
        if num == 0:
            break
    return total


@pytest.mark.parametrize("p_h", [0.4, 0.25])
def test_gambler_optimal_values_equal_bold_play(p_h):
    mdp = load("gambler", env_kwargs={"p_h": p_h})
    v = policy_iteration(mdp).values
    expected = np.array([bold_play(s, 100, p_h) for s in range(100)] + [0.0])  # 100 is terminal
    np.testing.assert_allclose(v, expected, atol=1e-10)
    assert np.all(np.diff(v[:100]) >= -1e-12)  # monotone in the capital
    assert v[0] == 0 and v[100] == 0  # terminal (the +1 is paid on the winning bet)
    # V(99) by hand: 99 -> 100 with p, else 98 (digits of 0.99 give the same series)
    assert v[99] == pytest.approx(p_h + (1 - p_h) * v[98])


def test_gambler_policy_uses_available_stakes_only():
    rep = solve("gambler")
    stakes = np.array([int(rep.model.actions[a]) for a in rep.policy])
    capital = np.arange(101)
    live = ~rep.model.terminal
    assert np.all(stakes[live] <= np.minimum(capital, 100 - capital)[live])
    assert np.all(stakes[live] >= 1)


def test_random_walk_true_values():
    mrp = load("random-walk")
    assert mrp.states == ["left", "A", "B", "C", "D", "E", "right"]
    np.testing.assert_allclose(solve_mrp(mrp).values[1:6], np.arange(1, 6) / 6, atol=1e-12)
    assert mrp.meta["initial"][3] == 1.0
    big = load("random-walk", env_kwargs={"n": 19})
    np.testing.assert_allclose(solve_mrp(big).values[1:20], np.arange(1, 20) / 20, atol=1e-12)


def test_jacks_car_rental_location_model_matches_simulation():
    from scipy import stats

    from rlkit.mdp.generators import _location_matrix

    T, E = _location_matrix(20, 3.0, 2.0)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-12)
    k = np.arange(200)
    for m in (0, 5, 20):  # E[min(Poisson(3), m)] by direct summation
        assert E[m] == pytest.approx(np.sum(np.minimum(k, m) * stats.poisson.pmf(k, 3.0)))
    rng = np.random.default_rng(0)
    n = 200_000
    for m in (3, 12, 20):
        rented = np.minimum(rng.poisson(3.0, n), m)
        evening = np.minimum(m - rented + rng.poisson(2.0, n), 20)
        freq = np.bincount(evening, minlength=21) / n
        # each frequency within 5 binomial standard errors (+ a floor for tiny cells)
        se = np.sqrt(T[m] * (1 - T[m]) / n)
        assert np.all(np.abs(freq - T[m]) <= 5 * se + 1e-4)


def test_jacks_car_rental_policy_iteration_as_in_figure_4_2():
    mdp = load("jacks-car-rental")
    zero = mdp.actions.index("0")
    sol = policy_iteration(mdp, policy0=np.full(mdp.n_states, zero))
    assert sol.iterations == 5  # pi_0 .. pi_4 as in Figure 4.2, then stable
    rep = solve(mdp)
    move = np.array([int(mdp.actions[a]) for a in rep.policy]).reshape(21, 21)  # [n1, n2]
    np.testing.assert_allclose(rep.values, sol.values, atol=1e-8)
    n1, n2 = np.divmod(np.arange(441), 21)
    flat = move.ravel()
    assert np.all(flat <= n1) and np.all(-flat <= n2)  # never moves cars it does not have
    assert move[20, 0] == 5 and move[0, 20] < 0 and move[0, 0] == 0


def test_forest_matches_pymdptoolbox():
    ex = pytest.importorskip("mdptoolbox.example")
    P, R = ex.forest(S=10, r1=4, r2=2, p=0.1)
    mdp = load("forest", env_kwargs={"S": 10})
    np.testing.assert_array_equal(mdp.P, P)
    np.testing.assert_array_equal(mdp.R, R)
    Ps, Rs = ex.forest(S=2000, is_sparse=True)
    big = load("forest", env_kwargs={"S": 2000})
    assert big.is_sparse
    for a in range(2):
        assert abs(big.P[a] - sp.csr_array(Ps[a])).max() == 0
    np.testing.assert_array_equal(big.R, Rs)


def test_forest_large_is_sparse_and_solves():
    mdp = load("forest", env_kwargs={"S": 100_000})
    assert mdp.is_sparse and mdp.n_states == 100_000
    sol = policy_iteration(mdp)
    assert sol.converged and np.isfinite(sol.values).all()


# ------------------------------------------------------------------------------------------------
# Gymnasium
# ------------------------------------------------------------------------------------------------


def test_frozenlake_optimal_value_and_grid_meta():
    mdp = load("gym:FrozenLake-v1", gamma=0.99)
    assert mdp.meta["grid"] == (4, 4) and mdp.meta["grid_map"] == ["SFFF", "FHFH", "FFFH", "HFFG"]
    assert mdp.actions == ["left", "down", "right", "up"]
    assert [mdp.states[i] for i in np.flatnonzero(mdp.terminal)] == ["r1c1", "r1c3", "r2c3", "r3c0", "r3c3"]
    sol = value_iteration(mdp, tol=1e-10)
    assert sol.values[0] == pytest.approx(0.5420, abs=5e-4)
    np.testing.assert_allclose(policy_iteration(mdp).values, sol.values, atol=1e-9)


def test_frozenlake_value_matches_sampled_gymnasium_episodes():
    """Independent check: play gymnasium's own FrozenLake with the greedy policy. The discounted
    return's sample mean must lie within 4 standard errors of V*(start)."""
    import gymnasium as gym

    rep = solve("gym:FrozenLake-v1", gamma=0.99, method="value-iteration", tol=1e-10)
    env = gym.make("FrozenLake-v1", max_episode_steps=100_000)  # no 100-step truncation
    env.reset(seed=2024)
    n = 3000
    returns = np.empty(n)
    for i in range(n):
        s, _ = env.reset()
        g, disc = 0.0, 1.0
        for _ in range(5000):  # 0.99**5000 < 1e-21: the cut-off bias is nil
            s, r, terminated, truncated, _ = env.step(int(rep.policy[s]))
            g += disc * r
            disc *= 0.99
            if terminated or truncated:
                break
        returns[i] = g
    env.close()
    se = returns.std(ddof=1) / math.sqrt(n)
    assert abs(returns.mean() - rep.start_value) < 4 * se


def test_frozenlake_grid_file_equals_gymnasium(tmp_path):
    path = write(tmp_path, "lake.yaml", """
        kind: mdp
        gamma: 0.99
        grid:
          map: |
            SFFF
            FHFH
            FFFH
            HFFG
          slip: 2/3
          rewards: {G: 1}
        """)
    mine, gym_mdp = load(path), load("gym:FrozenLake-v1", gamma=0.99)
    assert mine.states == gym_mdp.states
    np.testing.assert_allclose(mine.P, gym_mdp.P, atol=1e-15)
    np.testing.assert_allclose(mine.R, gym_mdp.R, atol=1e-15)
    np.testing.assert_array_equal(mine.terminal, gym_mdp.terminal)
    det = grid_mdp(["SFFF", "FHFH", "FFFH", "HFFG"], gamma=0.9, rewards={"G": 1})
    np.testing.assert_array_equal(det.P, load("gym:FrozenLake-v1", gamma=0.9,
                                              env_kwargs={"is_slippery": False}).P)


def test_cliff_walking_catalog_equals_gymnasium():
    mine, theirs = load("cliff-walking"), load("gym:CliffWalking-v1", gamma=1.0)
    assert mine.states == theirs.states and mine.actions == theirs.actions
    np.testing.assert_array_equal(mine.P, theirs.P)
    np.testing.assert_array_equal(mine.R, theirs.R)
    np.testing.assert_array_equal(mine.terminal, theirs.terminal)
    v = policy_iteration(mine).values
    assert v[36] == -13.0  # S&B Example 6.6: the optimal path along the cliff takes 13 steps


def test_taxi_sizes_and_deterministic_returns():
    """Taxi is deterministic: following the greedy policy in gymnasium's env from every start
    state must give exactly V*(start)."""
    import gymnasium as gym

    rep = solve("gym:Taxi-v4", gamma=0.9)
    mdp = rep.model
    assert (mdp.n_states, mdp.n_actions) == (500, 6)
    assert mdp.terminal.sum() == 4
    env = gym.make("Taxi-v4")
    env.reset(seed=0)
    starts = np.flatnonzero(mdp.meta["initial"])
    assert len(starts) == 300
    for s0 in starts[::7]:
        env.unwrapped.s = int(s0)
        s, g, disc = int(s0), 0.0, 1.0
        for _ in range(100):
            s, r, terminated, _, _ = env.step(int(rep.policy[s]))
            g += disc * r
            disc *= 0.9
            if terminated:
                break
        assert terminated and g == pytest.approx(rep.values[s0], abs=1e-9)
    env.close()


def test_gym_terminal_state_also_entered_without_terminating_gets_extra_state():
    class Env:
        """Two states: from 0, 'go' ends the episode in 1 (reward 1); 'stay' walks to 1 without
        ending it; from 1 anything goes back to 0 with reward 0."""

        def __init__(self):
            from gymnasium import spaces

            self.observation_space, self.action_space = spaces.Discrete(2), spaces.Discrete(2)
            self.P = {0: {0: [(1.0, 1, 1.0, True)], 1: [(1.0, 1, 0.0, False)]},
                      1: {0: [(1.0, 0, 0.0, False)], 1: [(1.0, 0, 0.0, False)]}}
            self.unwrapped = self

    from rlkit.mdp.io import _mdp_from_env

    mdp = _mdp_from_env(Env(), "toy", 0.5, {}, "gym:toy")
    assert mdp.states == ["0", "1", "terminal"] and mdp.terminal.tolist() == [False, False, True]
    assert mdp.P[0, 0, 2] == 1.0 and mdp.P[1, 0, 1] == 1.0
    # 'go' pays 1 once; 'stay' loops 0 -> 1 -> 0 paying nothing: V*(0) = 1
    assert value_iteration(mdp, tol=1e-12).values[0] == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_gym_errors():
    with pytest.raises(RlkitError, match="unknown Gymnasium id"):
        load("gym:NoSuchEnv-v0")
    with pytest.raises(RlkitError, match="Taxi-v4"):
        load("gym:Taxi-v3")  # deprecated in gymnasium 1.x
    with pytest.raises(RlkitError, match="no transition model"):
        load("gym:CartPole-v1")
    with pytest.raises(RlkitError, match="bad env_kwargs"):
        load("gym:FrozenLake-v1", env_kwargs={"no_such_option": 1})
    assert from_gym("FrozenLake-v1", map_name="8x8").n_states == 64


# ------------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["student-mrp", "student-mdp", "gridworld-4x4", "gambler", "random-walk",
                                  "cliff-walking", "forest", "gym:FrozenLake-v1"])
@pytest.mark.parametrize("suffix", [".yaml", ".json", ".npz"])
def test_round_trip(tmp_path, spec, suffix):
    model = load(spec)
    path = save(model, tmp_path / f"model{suffix}")
    assert_same_model(model, load(path))


@pytest.mark.parametrize("spec,kwargs", [("jacks-car-rental", None), ("gym:Taxi-v4", None),
                                         ("forest", {"S": 5000})])
def test_round_trip_npz_large(tmp_path, spec, kwargs):
    model = load(spec, env_kwargs=kwargs)
    assert_same_model(model, load(save(model, tmp_path / "m.npz")))


def test_chain_round_trip_and_gamma_override(tmp_path):
    path = write(tmp_path, "chain.yaml", """
        kind: chain
        transitions:
          a: {a: 0.5, b: 0.5}
          b: [a, b]
        """)
    chain = load(path)
    assert isinstance(chain, MarkovChain)
    np.testing.assert_array_equal(chain.P, [[0.5, 0.5], [0.5, 0.5]])
    assert_same_model(chain, load(save(chain, tmp_path / "c.yaml")))
    assert load("student-mdp", gamma=0.5).gamma == 0.5


def test_pymdptoolbox_style_npz(tmp_path):
    P = np.array([[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.2, 0.8]]])
    R = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.savez(tmp_path / "m.npz", P=P, R=R, gamma=0.9)
    mdp = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(mdp.P, P)
    assert mdp.gamma == 0.9 and mdp.states == ["s0", "s1"]
    np.savez(tmp_path / "r3.npz", P=P, R=np.ones((2, 2, 2)))
    assert load(tmp_path / "r3.npz", gamma=0.5).R.tolist() == [[1.0, 1.0], [1.0, 1.0]]


# ------------------------------------------------------------------------------------------------
# the model file schema
# ------------------------------------------------------------------------------------------------


def test_all_outcome_forms_and_reward_kinds(tmp_path):
    path = write(tmp_path, "m.yaml", """
        kind: mdp
        gamma: 0.5
        states: [a, b, end]
        actions: [x, y]
        terminal: [end]
        start: {a: 0.25, b: 0.75}
        transitions:
          a:
            x: b                                   # deterministic
            y: {a: "1/3", b: "2/3"}                # distribution with fractions
          b:
            x: {to: end, reward: 2}                # reward for the action
            y: [{to: a, p: 0.5, reward: 4}, {to: end, p: 0.5, reward: -2}]   # per transition
        rewards:
          a: 1                                     # every action in a
          b: {y: 10}                               # one action
        """)
    m = load(path)
    np.testing.assert_allclose(m.P[1, 0], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(m.R, [[1, 1], [2, 10 + 0.5 * 4 - 0.5 * 2], [0, 0]])
    np.testing.assert_allclose(m.meta["initial"], [0.25, 0.75, 0])
    # states and actions may be left out: taken from the transitions in order of appearance
    short = write(tmp_path, "s.yaml", """
        gamma: 0.9
        actions: [go]
        terminal: [end]
        transitions:
          start: {go: end}
        """)
    assert load(short).states == ["start", "end"]


def test_mrp_file_with_transition_rewards(tmp_path):
    path = write(tmp_path, "mrp.yaml", """
        kind: mrp
        gamma: 1
        terminal: [T]
        transitions:
          s: [{to: s, p: 0.5, reward: 1}, {to: T, p: 0.5, reward: 3}]
        """)
    mrp = load(path)
    # v = 0.5 (1 + v) + 0.5 * 3  =>  v = 4
    assert solve_mrp(mrp).values[0] == pytest.approx(4.0)


def test_grid_walls_cliff_and_slip():
    m = grid_mdp(["S#G", "FCF"], gamma=0.9, slip=0.2, step_reward=-1, rewards={"C": -10, "G": 5})
    assert m.meta["grid"] == (2, 3)
    S0, wall, goal, cliff = 0, 1, 2, 4
    assert m.terminal[wall] and m.terminal[goal] and not m.terminal[cliff]
    right = m.actions.index("right")
    # from S, 'right' hits the wall (stay, 0.8), slips up (off the map: stay, 0.1) or down (0.1)
    np.testing.assert_allclose(m.P[right, S0], [0.9, 0, 0, 0.1, 0, 0])
    assert m.R[S0, right] == pytest.approx(-1.0)
    # from F (row 1, col 0), 'right' enters the cliff w.p. 0.8 (back to S with -10); slipping up
    # (0.1) also lands on S, slipping down (0.1) hits the edge
    assert m.P[right, 3, S0] == pytest.approx(0.9) and m.P[right, 3, 3] == pytest.approx(0.1)
    assert m.R[3, right] == pytest.approx(0.8 * -10 + 0.2 * -1)
    up = m.actions.index("up")
    # from (1, 2) 'up' enters G (0.8, +5); slipping left enters the cliff (0.1, -10), right hits the edge
    assert m.P[up, 5, goal] == pytest.approx(0.8) and m.P[up, 5, S0] == pytest.approx(0.1)
    assert m.R[5, up] == pytest.approx(0.8 * 5 + 0.1 * -10 + 0.1 * -1)


def test_load_policy_forms(tmp_path):
    mdp = load("student-mdp")
    import json

    (tmp_path / "names.json").write_text(json.dumps({"Facebook": "quit", "Class1": "study",
                                                     "Class3": {"study": 0.5, "pub": 0.5}}))
    pi = load_policy(tmp_path / "names.json", mdp)
    assert pi.shape == (5, 5) and pi[0, 1] == 1.0 and pi[3, 4] == 0.5
    np.testing.assert_allclose(pi[2], uniform_policy(mdp)[2])  # not given: uniform over available
    np.save(tmp_path / "p.npy", np.array([1, 2, 2, 2, 0]))
    assert load_policy(tmp_path / "p.npy", mdp).tolist() == [1, 2, 2, 2, 0]
    with pytest.raises(RlkitError, match="unknown action 'sleeep'"):
        load_policy({"Class2": "sleeep"}, mdp)


def test_parse_env_kwargs():
    assert parse_env_kwargs(["is_slippery=false", "map_name=8x8", "S=1000", "m=[3, 4]"]) == {
        "is_slippery": False, "map_name": "8x8", "S": 1000, "m": [3, 4]}
    with pytest.raises(RlkitError, match="key=value"):
        parse_env_kwargs(["oops"])


# ------------------------------------------------------------------------------------------------
# bad input: one RlkitError naming file and field
# ------------------------------------------------------------------------------------------------

BAD_FILES = {
    "malformed": ("kind: mdp\ntransitions: {a: [b\n", r"bad\.yaml.*malformed YAML at line \d"),
    "unknown-state": ("kind: mrp\ngamma: 1\nstates: [a, b]\nterminal: [b]\ntransitions:\n  a: {c: 1}\n",
                      r"bad\.yaml line 6: transitions\.a: unknown state 'c'"),
    "close-state": ("kind: chain\nstates: [class1, b]\ntransitions:\n  class1: clas1\n  b: b\n",
                    r"unknown state 'clas1' \(did you mean 'class1'\?\)"),
    "sum": ("kind: chain\ntransitions:\n  a: {a: 0.5, b: 0.4}\n  b: b\n",
            r"line 3: transitions\.a: probabilities sum to 0\.9, not 1"),
    "negative": ("kind: chain\ntransitions:\n  a: {b: -0.5, a: 1.5}\n  b: b\n",
                 r"transitions\.a\.b: negative"),
    "nan-reward": ("kind: mrp\ngamma: 0.9\ntransitions:\n  a: a\nrewards: {a: .nan}\n",
                   r"rewards\.a: reward is NaN"),
    "gamma": ("kind: mrp\ngamma: 1.5\ntransitions:\n  a: a\n", r"line 2.*gamma = 1\.5 is outside \[0, 1\]"),
    "no-gamma": ("kind: mrp\ntransitions:\n  a: a\n", r"gamma: missing"),
    "typo": ("kind: chain\ntransitons:\n  a: a\n", r"transitons: unknown field \(did you mean 'transitions'"),
    "duplicate": ("kind: chain\ntransitions:\n  a: a\n  a: a\n", r"line 4: duplicate key 'a'"),
    "terminal-moves": ("kind: mrp\ngamma: 1\nterminal: [a]\ntransitions:\n  a: a\n",
                       r"'a' is terminal .* cannot have transitions"),
    "dead-end": ("kind: mdp\ngamma: 1\nactions: [go]\ntransitions:\n  a: {go: b}\n",
                 r"state 'b' has no transitions"),
    "unknown-action": ("kind: mdp\ngamma: 1\nactions: [go]\nterminal: [b]\ntransitions:\n  a: {og: b}\n",
                       r"unknown action 'og' \(did you mean 'go'\?\)"),
    "chain-reward": ("kind: chain\ntransitions:\n  a: {to: a, reward: 1}\n", r"Markov chain has no rewards"),
    "bad-cell": ("kind: mdp\ngamma: 1\ngrid:\n  map: [SXG]\n",
                 r"grid\.map: row 0 column 1: unknown cell 'X'"),
    "ragged": ("kind: mdp\ngamma: 1\ngrid:\n  map: [SF, FFG]\n", r"row 1 has 3 cells but row 0 has 2"),
    "generator-param": ("generator: gambler\nparams: {ph: 0.3}\ngamma: 1\n",
                        r"unknown parameter 'ph' \(did you mean 'p_h'\?\)"),
    "generator-value": ("generator: gambler\nparams: {p_h: 1.5}\ngamma: 1\n", r"p_h must lie in \(0, 1\)"),
    "empty": ("", r"the file is empty"),
    "not-mapping": ("- a\n- b\n", r"must hold a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_model_files(tmp_path, case):
    text, pattern = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RlkitError, match=pattern) as info:
        load(path)
    assert "bad.yaml" in str(info.value) and "\n" not in str(info.value)


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"kind": "chain",\n "transitions": {"a": "a",}}')
    with pytest.raises(RlkitError, match=r"m\.json: malformed JSON at line 2"):
        load(path)
    path.write_text('{"kind": "chain",\n "transitions": {\n  "a": {"a": 0.5, "b": 0.4},\n  "b": "b"}}')
    with pytest.raises(RlkitError, match=r"m\.json line 3: transitions\.a: probabilities sum to 0\.9"):
        load(path)


def test_bad_npz(tmp_path):
    np.savez(tmp_path / "shape.npz", P=np.ones((2, 3, 4)) / 4, R=np.zeros((3, 2)))
    with pytest.raises(RlkitError, match=r"shape\.npz: P has shape \(2, 3, 4\)"):
        load(tmp_path / "shape.npz", gamma=0.9)
    P = np.stack([np.eye(3), np.eye(3)])
    np.savez(tmp_path / "r.npz", P=P, R=np.zeros((4, 2)), gamma=0.9)
    with pytest.raises(RlkitError, match=r"r\.npz: R has shape \(4, 2\); expected \(S, A\) = \(3, 2\)"):
        load(tmp_path / "r.npz")
    np.savez(tmp_path / "rows.npz", P=P * 0.5, R=np.zeros((3, 2)), gamma=0.9)
    with pytest.raises(RlkitError, match=r"rows\.npz: .*sums to 0\.5"):
        load(tmp_path / "rows.npz")
    np.savez(tmp_path / "g.npz", P=P, R=np.zeros((3, 2)), gamma=-0.1)
    with pytest.raises(RlkitError, match=r"g\.npz.*outside \[0, 1\]"):
        load(tmp_path / "g.npz")
    np.savez(tmp_path / "nogamma.npz", P=P, R=np.zeros((3, 2)))
    with pytest.raises(RlkitError, match="no gamma"):
        load(tmp_path / "nogamma.npz")
    np.savez(tmp_path / "obj.npz", P=np.array([np.eye(2), np.eye(3)], dtype=object), R=np.zeros(2))
    with pytest.raises(RlkitError, match="pickled"):
        load(tmp_path / "obj.npz", gamma=0.5)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(RlkitError, match="not a readable .npz"):
        load(tmp_path / "junk.npz")
    np.savez(tmp_path / "noP.npz", Q=np.eye(2))
    with pytest.raises(RlkitError, match="no array 'P'"):
        load(tmp_path / "noP.npz")


def test_unknown_spec_lists_close_matches():
    with pytest.raises(RlkitError, match=r"unknown model 'studnet-mdp' \(did you mean 'student-mdp'"):
        load("studnet-mdp")
    with pytest.raises(RlkitError, match="file not found"):
        load("missing.yaml")
    with pytest.raises(RlkitError, match=r"gamma = 2\.0 is outside"):
        load("student-mdp", gamma=2.0)
    with pytest.raises(RlkitError, match="takes no parameters"):
        load("student-mdp", env_kwargs={"x": 1})


# ------------------------------------------------------------------------------------------------
# property: any model (awkward names included) saves and loads to the same arrays
# ------------------------------------------------------------------------------------------------

AWKWARD = ["to", "yes", "1", "null", "a b", "x:y", "p", "reward", "~", "0.5", "[s]", "é"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(S=st.integers(1, 5), A=st.integers(1, 3), seed=st.integers(0, 10**6),
       kind=st.sampled_from(["mdp", "mrp"]), suffix=st.sampled_from([".yaml", ".json", ".npz"]))
def test_round_trip_random_models(tmp_path, S, A, seed, kind, suffix):
    rng = np.random.default_rng(seed)
    names = list(rng.choice(AWKWARD, size=S, replace=False)) if S <= len(AWKWARD) else None
    P = rng.dirichlet(np.ones(S) * 0.3, size=(A, S))
    P[P < 0.05] = 0.0
    P[..., 0] += 1.0 - P.sum(axis=-1)  # rows sum to 1 again, exactly representable or not
    R = np.round(rng.normal(size=(S, A)), 3)
    gamma = float(rng.uniform(0, 1))
    if kind == "mdp":
        model = MDP(P, R, gamma, states=names, actions=list(rng.choice(AWKWARD, size=A, replace=False)))
    else:
        model = MRP(P[0], R[:, 0], gamma, states=names)
    assert_same_model(model, load(save(model, tmp_path / f"m{suffix}")))
