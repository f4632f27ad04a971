"""Time-limit truncation in every prediction and control method, tabular and neural.

A time-limit cut is not an ending: the value of the state the episode was cut in is still
``V(final observation)``. So a TD target at a cut bootstraps from the final observation, never 0
(the termination bug) and never the value of the next episode's start (the reset-observation bug).
Monte Carlo's tabular return stops at the cut (documented in ``Transitions.discounted_returns``),
and it must not run on into the next episode; neural gradient MC completes it with
``gamma^n v(final observation)``.

Each method is compared against a textbook loop written here, one run and one episode at a time,
on episodes that are cut by ``max_steps`` (the random walk cut after 3 steps: some episodes
terminate, most are truncated), and control methods against the closed-form values of a cycle that
never terminates (every episode is cut, so only a correct bootstrap reaches them).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from _walk import walk_mdp

from rlkit.mdp import MDP
from rlkit.mdp.io import load
from rlkit.tabular import ModelSource, control, estimate_values, rollout
from rlkit.tabular.neural import neural_prediction

GAMMA = 0.9
CUT = 3


@pytest.fixture(scope="module")
def walk():
    return load("random-walk")


@pytest.fixture(scope="module")
def cut_tr(walk):
    """Random-walk episodes from C cut after 3 steps: C needs exactly 3 to terminate, and a cut
    episode's final state is B or D (two steps from C), never C, where the next episode starts."""
    return rollout(ModelSource(walk, start=3), None, episodes=40, runs=3, seed=5, max_steps=CUT)


def episodes_of(tr, run):
    """The run's episodes with their cut flag: (states, rewards, next_states, terminated, truncated)."""
    out = []
    for ep in tr.episode_list(run):
        term = bool(ep["terminated"][-1])
        out.append((ep["states"], ep["rewards"], ep["next_states"], ep["terminated"], not term))
    return out


# ----------------------------------------------------------------------------------------------
# textbook loops (Sutton & Barto's pseudocode) with a time limit
# ----------------------------------------------------------------------------------------------

def ref_td0(eps, alpha, gamma, V):
    V = V.copy()
    for states, rewards, nxt, term, _ in eps:
        for s, r, s2, te in zip(states, rewards, nxt, term, strict=True):
            V[s] += alpha * (r + (0.0 if te else gamma * V[s2]) - V[s])
    return V


def ref_nstep(eps, n, alpha, gamma, V):
    """n-step TD (S&B p. 144); at a cut the return is completed with gamma^k V(S_T)."""
    V = V.copy()
    for states, rewards, nxt, _, truncated in eps:
        S = list(states) + [nxt[-1]]
        T = len(rewards)
        for tau in range(T):
            end = min(tau + n, T)
            G = sum(gamma ** (i - tau) * rewards[i] for i in range(tau, end))
            if end < T or truncated:
                G += gamma ** (end - tau) * V[S[end]]
            V[S[tau]] += alpha * (G - V[S[tau]])
    return V


def ref_td_lambda(eps, lam, alpha, gamma, V, trace, offline):
    V = V.copy()
    for states, rewards, nxt, term, _ in eps:
        e = np.zeros_like(V)
        dV = np.zeros_like(V)
        for s, r, s2, te in zip(states, rewards, nxt, term, strict=True):
            delta = r + (0.0 if te else gamma * V[s2]) - V[s]
            e *= gamma * lam
            e[s] = 1.0 if trace == "replacing" else e[s] + 1.0
            if offline:
                dV += alpha * delta * e
            else:
                V += alpha * delta * e
        V += dV
    return V


def ref_returns(rewards, gamma):
    G, out = 0.0, []
    for r in rewards[::-1]:
        G = r + gamma * G
        out.append(G)
    return out[::-1]


def ref_mc(eps, alpha, gamma, V, first_visit):
    V, N = V.copy(), np.zeros_like(V)
    for states, rewards, *_ in eps:
        seen = set()
        for s, G in zip(states, ref_returns(rewards, gamma), strict=True):
            if first_visit and s in seen:
                continue
            seen.add(s)
            N[s] += 1
            V[s] += (alpha if alpha is not None else 1.0 / N[s]) * (G - V[s])
    return V


def ref_batch_td(eps, S, gamma, init, terminal):
    """Certainty equivalence on all the data: N(s) V(s) = sum r + gamma sum_{not terminated} V(s');
    a cut transition is bootstrapped like any other; unseen states keep their initial value."""
    N, Rs, C = np.zeros(S), np.zeros(S), np.zeros((S, S))
    for states, rewards, nxt, term, _ in eps:
        for s, r, s2, te in zip(states, rewards, nxt, term, strict=True):
            N[s] += 1
            Rs[s] += r
            if not te:
                C[s, s2] += gamma
    V = np.where(terminal, 0.0, init)
    seen = N > 0
    A = np.diag(N[seen]) - C[np.ix_(seen, seen)]
    b = Rs[seen] + C[np.ix_(seen, ~seen)] @ V[~seen]
    V[seen] = np.linalg.solve(A, b)
    return V


def ref_batch_mc(eps, S, gamma, init):
    """Every-visit sample mean of the (cut) returns; unseen states keep ``init``."""
    sums, N = np.zeros(S), np.zeros(S)
    for states, rewards, *_ in eps:
        for s, G in zip(states, ref_returns(rewards, gamma), strict=True):
            sums[s] += G
            N[s] += 1
    return np.where(N > 0, sums / np.maximum(N, 1), init)


# ----------------------------------------------------------------------------------------------
# the experience itself: a cut step's next state is the real successor, not the reset state
# ----------------------------------------------------------------------------------------------

def test_cut_steps_keep_the_real_successor_and_are_not_terminations(walk, cut_tr):
    tr = cut_tr
    cut = tr.ends & ~tr.terminated
    assert cut.sum() > 20 and (tr.ends & tr.terminated).sum() > 5   # both kinds of ending occur
    assert (tr.lengths <= CUT).all()
    P = np.asarray(walk.P)
    v = tr.valid
    assert (P[tr.states[v], tr.next_states[v]] > 0).all()                # every step a real move
    assert set(tr.next_states[cut].tolist()) == {2, 4}                    # B or D, two steps from C
    # the step after an ending starts a new episode in C (the reset state), not the successor
    r, t = np.nonzero(tr.ends[:, :-1] & tr.valid[:, 1:])
    assert (tr.states[r, t + 1] == 3).all()
    assert (tr.next_states[r, t] != 3).any()


# ----------------------------------------------------------------------------------------------
# tabular prediction
# ----------------------------------------------------------------------------------------------

def _estimate(tr, walk, method, **kw):
    return estimate_values(tr, method, gamma=GAMMA, init=0.5, terminal=walk.terminal, **kw)


def _init(walk):
    return np.where(walk.terminal, 0.0, 0.5)


def test_td0_bootstraps_at_a_cut(walk, cut_tr):
    res = _estimate(cut_tr, walk, "td", alpha=0.3)
    for r in range(cut_tr.runs):
        ref = ref_td0(episodes_of(cut_tr, r), 0.3, GAMMA, _init(walk))
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_nstep_td_completes_the_return_with_the_final_state_at_a_cut(walk, cut_tr, n):
    res = _estimate(cut_tr, walk, "nstep", alpha=0.3, n=n)
    for r in range(cut_tr.runs):
        ref = ref_nstep(episodes_of(cut_tr, r), n, 0.3, GAMMA, _init(walk))
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-12)


@pytest.mark.parametrize("trace,offline", [("accumulating", False), ("replacing", False),
                                           ("accumulating", True)])
def test_td_lambda_bootstraps_at_a_cut(walk, cut_tr, trace, offline):
    res = _estimate(cut_tr, walk, "td-lambda", alpha=0.2, lam=0.8, trace=trace, offline=offline)
    for r in range(cut_tr.runs):
        ref = ref_td_lambda(episodes_of(cut_tr, r), 0.8, 0.2, GAMMA, _init(walk), trace, offline)
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-12)


@pytest.mark.parametrize("method,alpha,first", [("mc", None, True), ("every-visit-mc", 0.2, False)])
def test_monte_carlo_return_stops_at_the_cut_and_not_in_the_next_episode(walk, cut_tr, method, alpha, first):
    res = _estimate(cut_tr, walk, method, alpha=alpha)
    for r in range(cut_tr.runs):
        ref = ref_mc(episodes_of(cut_tr, r), alpha, GAMMA, _init(walk), first)
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-12)


def test_batch_td_bootstraps_cut_transitions(walk, cut_tr):
    res = _estimate(cut_tr, walk, "batch-td", batch_tol=1e-13)
    for r in range(cut_tr.runs):
        ref = ref_batch_td(episodes_of(cut_tr, r), 7, GAMMA, 0.5, walk.terminal)
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-9)


def test_batch_mc_is_the_mean_of_the_cut_returns(walk, cut_tr):
    res = _estimate(cut_tr, walk, "batch-mc", batch_tol=1e-13)
    for r in range(cut_tr.runs):
        ref = ref_batch_mc(episodes_of(cut_tr, r), 7, GAMMA, _init(walk))
        np.testing.assert_allclose(res.values_runs[r], ref, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# tabular control: a cycle that never terminates, so every episode is cut
# ----------------------------------------------------------------------------------------------

CYCLE_R = np.array([1.0, 2.0, 3.0])


def cycle_mdp() -> MDP:
    """0 -> 1 -> 2 -> 0 with rewards 1, 2, 3 and one action: no terminal state."""
    P = np.zeros((1, 3, 3))
    P[0, [0, 1, 2], [1, 2, 0]] = 1.0
    return MDP(P, CYCLE_R[:, None], GAMMA)


def cycle_values() -> np.ndarray:
    """V = r + gamma P V in closed form for the 3-cycle."""
    P = np.roll(np.eye(3), 1, axis=1)
    return np.linalg.solve(np.eye(3) - GAMMA * P, CYCLE_R)


@pytest.mark.parametrize("method", ["sarsa", "expected-sarsa", "q-learning", "double-q-learning"])
def test_td_control_reaches_the_uncut_values_although_every_episode_is_cut(method):
    """Episodes of 2 steps from a uniform start: only a bootstrap from the final state reaches the
    infinite-horizon values (terminating at the cut gives Q(s) = r(s) + gamma r(s+1) or r(s); the
    next start's value gives a mixture)."""
    res = control(cycle_mdp(), method, episodes=600, runs=2, alpha=0.8, epsilon=0.1, max_steps=2,
                  q_init=5.0, seed=0, evaluate_runs=False)
    assert (res.lengths_runs == 2).all()
    np.testing.assert_allclose(res.q_runs[:, :, 0], np.tile(cycle_values(), (2, 1)), atol=1e-4)


def test_td_control_at_a_cut_matches_the_textbook_loop_step_by_step():
    """One episode of one step from each start: Q(s) <- Q(s) + a (r(s) + gamma Q(s+1) - Q(s)) with
    Q(s+1) at its initial value; only the first visit moves it, so the numbers are exact."""
    res = control(cycle_mdp(), "q-learning", episodes=1, runs=30, alpha=0.5, max_steps=1, q_init=5.0,
                  seed=1, evaluate_runs=False)
    q = res.q_runs[:, :, 0]
    moved = q != 5.0
    assert moved.sum(axis=1).tolist() == [1] * 30
    s = np.argmax(moved, axis=1)
    np.testing.assert_allclose(q[np.arange(30), s], 5.0 + 0.5 * (CYCLE_R[s] + GAMMA * 5.0 - 5.0))


def test_mc_control_return_stops_at_the_cut():
    """One-step episodes: G = r(s) exactly (the return of a cut episode is not bootstrapped)."""
    res = control(cycle_mdp(), "mc-control", episodes=20, runs=2, max_steps=1, seed=0, evaluate_runs=False)
    np.testing.assert_allclose(res.q_runs[:, :, 0], np.tile(CYCLE_R, (2, 1)))


class CycleEnv(gym.Env):
    """The same 3-cycle as a Gymnasium env (no model), uniform start; cut by a TimeLimit."""

    observation_space = gym.spaces.Discrete(3)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = int(self.np_random.integers(3))
        return self.s, {}

    def step(self, action):
        r = float(CYCLE_R[self.s])
        self.s = (self.s + 1) % 3
        return self.s, r, False, False, {}


def test_gymnasium_time_limit_truncation_is_bootstrapped():
    res = control(lambda: gym.wrappers.TimeLimit(CycleEnv(), max_episode_steps=2), "q-learning",
                  episodes=600, runs=1, alpha=0.8, gamma=GAMMA, q_init=5.0, seed=0)
    assert (res.lengths_runs == 2).all()
    np.testing.assert_allclose(res.q[:, 0], cycle_values(), atol=1e-6)


# ----------------------------------------------------------------------------------------------
# neural prediction (one-hot features, no hidden layer: a table) on the random walk cut at 3 steps
# ----------------------------------------------------------------------------------------------

TABLE = {"type": "mlp", "hidden": []}


class Recorder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.log = []

    def __call__(self, obs):
        obs = np.asarray(obs).reshape(-1)
        a = self.rng.integers(2, size=len(obs))
        self.log.extend(zip(obs.tolist(), a.tolist(), strict=True))
        return a


def replay_cut(log, *, method, alpha, gamma, limit, lam=0.0):
    """Tabular TD(0) / TD(lambda) / gradient MC on the logged walk, cut after ``limit`` steps: TD
    bootstraps from the final state, MC adds gamma^n V(final state) at the end of the return."""
    V, z, steps, episode = np.zeros(7), np.zeros(7), 0, []
    for s, a in log:
        s2 = s + 1 if a == 1 else s - 1
        r = 1.0 if s2 == 6 else 0.0
        term = s2 in (0, 6)
        steps += 1
        end = term or steps == limit
        if method == "mc":
            episode.append((s, r))
            if end:
                G, old = (0.0 if term else V[s2]), V.copy()
                for s_t, r_t in reversed(episode):
                    G = r_t + gamma * G
                    V[s_t] += alpha * (G - old[s_t])
                episode = []
        else:
            delta = r + (0.0 if term else gamma * V[s2]) - V[s]
            z *= gamma * lam
            z[s] += 1.0
            V += alpha * delta * z
        if end:
            z[:] = 0.0
            steps = 0
    return V


@pytest.mark.parametrize("method,lam", [("td", 0.0), ("td-lambda", 0.6), ("mc", 0.0)])
def test_neural_prediction_bootstraps_from_the_final_observation_at_a_cut(method, lam):
    policy = Recorder(seed=4)
    res = neural_prediction(walk_mdp(), policy, method=method, episodes=150, alpha=0.3, gamma=GAMMA,
                            lam=lam, net=TABLE, n_envs=1, seed=2, max_episode_steps=3, exact=False,
                            record_error=False)
    assert (res.episode_lengths <= 3).all() and (res.episode_lengths == 3).sum() > 50
    V = replay_cut(policy.log, method=method, alpha=0.3, gamma=GAMMA, limit=3, lam=lam)
    assert np.abs(V[1:6]).max() > 0.05                       # the values moved, so a cut matters
    np.testing.assert_allclose(res.values[1:6], V[1:6], atol=2e-5)
