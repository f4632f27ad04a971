"""Control from samples: SARSA, Expected SARSA, Q-learning, Double Q-learning, Monte Carlo control.

``R`` independent learners (runs) are advanced together: each step chooses an action for every
run from its own Q table (ε-greedy, ties split evenly), samples the next states of all runs at
once (:class:`~rlkit.tabular.sampling.ModelSource`) or steps one Gymnasium env per run
(:class:`~rlkit.tabular.sampling.GymSource`), and applies the update to all runs with a few numpy
operations. Step size α and exploration ε follow schedules of the episode index
(:mod:`rlkit.tabular.schedules`). At the end the greedy policy of the Q table and, when a model
exists, its exact value (:func:`rlkit.mdp.evaluate`) beside the optimal values.

Main entry: :func:`control`; :func:`sarsa`, :func:`expected_sarsa`, :func:`q_learning`,
:func:`double_q_learning`, :func:`mc_control` wrap it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlkit.errors import RlkitError
from rlkit.seeding import SeedLike
from rlkit.tabular import registry
from rlkit.tabular.sampling import DEFAULT_MAX_STEPS, RunStreams, Source, inverse_cdf, make_source
from rlkit.tabular.schedules import Constant, Schedule, parse_alpha

#: Method names accepted by :func:`control`: a view of :mod:`rlkit.tabular.registry` (kind
#: ``"control"``).
CONTROL_METHODS = registry.names("control")


@dataclass
class ControlResult:
    """What a control method learned, averaged over runs and per run.

    :param method: the method's name.
    :param q: action values averaged over runs, (S, A) (Double Q-learning: (Q1 + Q2) / 2).
    :param q_runs: each run's action values, (R, S, A).
    :param policy: greedy policy of ``q`` (lowest index on ties), (S,).
    :param policy_runs: each run's greedy policy, (R, S).
    :param returns_curve: sum of rewards of each episode, averaged over runs, (E,).
    :param returns_runs: the same per run, (R, E).
    :param lengths_runs: steps of each episode, (R, E).
    :param policy_value: exact value of ``policy`` (model only; None without a model or when the
        policy never terminates with gamma = 1, see ``info["policy_value_error"]``).
    :param policy_value_runs: exact value of each run's greedy policy, (R, S) (NaN rows where
        it is undefined), or None.
    :param optimal_values: V* by policy iteration (model only).
    :param optimal_policy: a policy attaining V* (model only).
    :param start: start distribution of the episodes (model only), to score ``start @ values``.
    :param states: state names.
    :param actions: action names.
    :param gamma: discount.
    :param episodes: episodes per run.
    :param runs: number of runs.
    :param params: the method's parameters.
    :param seconds: wall time.
    :param info: extras.
    """

    method: str
    q: np.ndarray
    q_runs: np.ndarray
    policy: np.ndarray
    policy_runs: np.ndarray
    returns_curve: np.ndarray
    returns_runs: np.ndarray
    lengths_runs: np.ndarray
    policy_value: np.ndarray | None
    policy_value_runs: np.ndarray | None
    optimal_values: np.ndarray | None
    optimal_policy: np.ndarray | None
    start: np.ndarray | None
    states: list[str]
    actions: list[str]
    gamma: float
    episodes: int
    runs: int
    params: dict[str, Any]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def lengths_curve(self) -> np.ndarray:
        """Steps per episode averaged over runs, (E,)."""
        return self.lengths_runs.mean(axis=0)

    @property
    def optimal_fraction(self) -> float | None:
        """Share of (run, state) pairs where the run's greedy policy is worth V* (to 1e-9
        relative), over the states where its value is defined (see ``policy_value_runs``)."""
        if self.policy_value_runs is None or self.optimal_values is None:
            return None
        v, vs = self.policy_value_runs, self.optimal_values[None]
        ok = np.isfinite(v) & np.isfinite(vs)
        good = np.abs(v - vs) <= 1e-9 * (1.0 + np.abs(vs))
        return float(good[ok].mean()) if ok.any() else None

    @property
    def policy_start_value(self) -> float | None:
        """Value of the greedy policy from the start distribution (model only)."""
        if self.policy_value is None or self.start is None:
            return None
        m = self.start > 0
        return float(self.start[m] @ self.policy_value[m])

    @property
    def optimal_start_value(self) -> float | None:
        """V* from the start distribution (model only)."""
        if self.optimal_values is None or self.start is None:
            return None
        m = self.start > 0
        return float(self.start[m] @ self.optimal_values[m])

    def __repr__(self) -> str:
        v = "" if self.policy_start_value is None else f", policy_start_value={self.policy_start_value:.4g}"
        return (f"ControlResult(method={self.method!r}, n_states={len(self.states)}, runs={self.runs}, "
                f"episodes={self.episodes}, final_return={self.returns_curve[-1]:.4g}{v}, "
                f"seconds={self.seconds:.3g})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        def lst(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "method": self.method, "states": self.states, "actions": self.actions, "gamma": self.gamma,
            "episodes": self.episodes, "runs": self.runs, "params": self.params,
            "q": self.q.tolist(), "policy": self.policy.tolist(),
            "returns_curve": self.returns_curve.tolist(), "lengths_curve": self.lengths_curve.tolist(),
            "policy_value": lst(self.policy_value), "optimal_values": lst(self.optimal_values),
            "policy_start_value": self.policy_start_value, "optimal_start_value": self.optimal_start_value,
            "optimal_fraction": self.optimal_fraction,
            "seconds": self.seconds, "info": self.info,
        }


# ---------------------------------------------------------------------------------------------
# ε-greedy over the available actions, sampled with one uniform per run
# ---------------------------------------------------------------------------------------------


def _masked(q: np.ndarray, avail: np.ndarray | None) -> np.ndarray:
    return q if avail is None else np.where(avail, q, -np.inf)


def epsilon_greedy_available(q: np.ndarray, eps: np.ndarray, avail: np.ndarray | None) -> np.ndarray:
    """ε-greedy probabilities (k, A) over the available actions: ε spread evenly over them, 1 - ε
    over the greedy ones (ties split evenly)."""
    qm = _masked(q, avail)
    best = qm == qm.max(axis=1, keepdims=True)
    e = eps[:, None] if np.ndim(eps) else eps
    greedy = (1.0 - e) * best / best.sum(axis=1, keepdims=True)
    if avail is None:
        return greedy + e / q.shape[1]
    return greedy + e * avail / avail.sum(axis=1, keepdims=True)


def _sample(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum(inverse_cdf(cdf, u), probs.shape[1] - 1)


# ---------------------------------------------------------------------------------------------
# The learners
# ---------------------------------------------------------------------------------------------


class _Learner:
    """State shared by the learners: Q tables, schedules, random streams, episode bookkeeping."""

    def __init__(self, source: Source, runs: int, episodes: int, seed: SeedLike, alpha: Schedule,
                 epsilon: Schedule, q_init: float, double: bool, avail: np.ndarray | None) -> None:
        S, A = source.n_states, source.n_actions
        self.source, self.runs, self.episodes, self.S, self.A = source, runs, episodes, S, A
        self.gamma = source.gamma
        self.streams = RunStreams(seed, runs)
        self.alpha, self.epsilon = alpha, epsilon
        self.avail = avail
        self.Q = np.full((runs, S, A), float(q_init))
        if source.terminal is not None:
            self.Q[:, source.terminal] = 0.0
        self.Q2 = self.Q.copy() if double else None
        self.Q_rows = self.Q.reshape(runs * S, A)             # Q[run, s] as Q_rows[run * S + s]
        self.returns = np.zeros((runs, episodes))
        self.lengths = np.zeros((runs, episodes), np.intp)

    def available(self, states: np.ndarray) -> np.ndarray | None:
        return None if self.avail is None else self.avail[states]

    def behaviour_q(self, rows: np.ndarray, states: np.ndarray) -> np.ndarray:
        rs = rows * self.S + states
        q = self.Q_rows[rs]
        return q if self.Q2 is None else q + self.Q2.reshape(-1, self.A)[rs]

    def choose(self, rows: np.ndarray, states: np.ndarray, eps: np.ndarray) -> np.ndarray:
        probs = epsilon_greedy_available(self.behaviour_q(rows, states), eps, self.available(states))
        return _sample(probs, self.streams.draw(rows))


# One TD control update per method, for the runs ``rows`` that took ``actions`` in ``states`` and
# saw ``rewards`` and ``next_states`` (``continues``: False after a termination). ``alpha`` and
# ``eps`` are per-run (or scalar) values of the schedules. An update that picks the next action
# itself (SARSA) returns it and is marked ``next_action = True``; one that needs a second table
# is marked ``double = True``.


def sarsa_update(L: _Learner, rows: np.ndarray, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                 next_states: np.ndarray, continues: np.ndarray, alpha: Any, eps: Any) -> np.ndarray:
    """SARSA (S&B p. 130): A' ~ ε-greedy(S'); Q(S, A) += α [R + γ Q(S', A') - Q(S, A)]. The next
    action is chosen before the update (also at a truncation, to bootstrap)."""
    if continues.all():
        next_actions = L.choose(rows, next_states, eps)
    else:
        next_actions = np.zeros(rows.size, np.intp)
        if continues.any():
            next_actions[continues] = L.choose(rows[continues], next_states[continues],
                                               eps if np.isscalar(eps) else eps[continues])
    q_next = L.Q_rows[rows * L.S + next_states, next_actions]
    _td_step(L, rows, states, actions, rewards, continues, q_next, alpha)
    return next_actions


sarsa_update.next_action = True  # type: ignore[attr-defined]


def expected_sarsa_update(L: _Learner, rows: np.ndarray, states: np.ndarray, actions: np.ndarray,
                          rewards: np.ndarray, next_states: np.ndarray, continues: np.ndarray, alpha: Any,
                          eps: Any) -> None:
    """Expected SARSA (S&B p. 133): Q(S, A) += α [R + γ Σ_a π(a|S') Q(S', a) - Q(S, A)], π ε-greedy."""
    q_next = L.Q_rows[rows * L.S + next_states]
    probs = epsilon_greedy_available(q_next, eps, L.available(next_states))
    _td_step(L, rows, states, actions, rewards, continues, np.sum(probs * q_next, axis=1), alpha)


def q_learning_update(L: _Learner, rows: np.ndarray, states: np.ndarray, actions: np.ndarray,
                      rewards: np.ndarray, next_states: np.ndarray, continues: np.ndarray, alpha: Any,
                      eps: Any) -> None:
    """Q-learning (S&B p. 131): Q(S, A) += α [R + γ max_a Q(S', a) - Q(S, A)]."""
    q_next = _masked(L.Q_rows[rows * L.S + next_states], L.available(next_states)).max(axis=1)
    _td_step(L, rows, states, actions, rewards, continues, q_next, alpha)


def double_q_learning_update(L: _Learner, rows: np.ndarray, states: np.ndarray, actions: np.ndarray,
                             rewards: np.ndarray, next_states: np.ndarray, continues: np.ndarray, alpha: Any,
                             eps: Any) -> None:
    """Double Q-learning (S&B p. 136): a fair coin picks the table Q1 to update, Q1(S, A) +=
    α [R + γ Q2(S', argmax_a Q1(S', a)) - Q1(S, A)] (and the same with the tables swapped)."""
    coin = L.streams.draw(rows) < 0.5
    for upd, other, m in ((L.Q, L.Q2, coin), (L.Q2, L.Q, ~coin)):
        if not m.any():
            continue
        rr, sa, aa, s2m, rm, cm = rows[m], states[m], actions[m], next_states[m], rewards[m], continues[m]
        al = alpha if np.isscalar(alpha) else alpha[m]
        best = _masked(upd[rr, s2m], L.available(s2m)).argmax(axis=1)
        target = rm + L.gamma * np.where(cm, other[rr, s2m, best], 0.0)
        upd[rr, sa, aa] += al * (target - upd[rr, sa, aa])


double_q_learning_update.double = True  # type: ignore[attr-defined]


def _td_step(L: _Learner, rows: np.ndarray, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
             continues: np.ndarray, q_next: np.ndarray, alpha: Any) -> None:
    """Q(S, A) += α [R + γ q_next - Q(S, A)], with no bootstrap after a termination."""
    i_sa = (rows * L.S + states, actions)
    target = rewards + L.gamma * np.where(continues, q_next, 0.0)
    L.Q_rows[i_sa] += alpha * (target - L.Q_rows[i_sa])


def _td_control(source: Source, update: Callable[..., Any], runs: int, episodes: int, seed: SeedLike,
                alpha: Schedule, epsilon: Schedule, q_init: float, max_steps: int,
                avail: np.ndarray | None) -> _Learner:
    """The TD control loop, all runs at once (episodes restart as soon as they end): ε-greedy
    actions, one env step, then ``update`` (SARSA, Expected SARSA, Q-learning, Double Q-learning)."""
    double = getattr(update, "double", False)
    L = _Learner(source, runs, episodes, seed, alpha, epsilon, q_init, double, avail)
    all_rows = np.arange(runs)
    episode = np.zeros(runs, np.intp)
    steps = np.zeros(runs, np.intp)
    ret = np.zeros(runs)
    obs = source.reset(all_rows, L.streams)
    picks_next = getattr(update, "next_action", False)
    next_actions = L.choose(all_rows, obs, epsilon(episode)) if picks_next else None
    if isinstance(epsilon, Constant):
        eps_c = float(epsilon.start)
        epsilon = lambda e: eps_c  # noqa: E731
    if isinstance(alpha, Constant):
        alp_c = float(alpha.start)
        alpha = lambda e: alp_c  # noqa: E731
    while True:
        rows = all_rows[episode < episodes]
        if rows.size == 0:
            break
        states = obs[rows]
        eps = epsilon(episode[rows])
        alp = alpha(episode[rows])
        actions = next_actions[rows] if picks_next else L.choose(rows, states, eps)
        next_states, rewards, terminated, truncated = source.step(rows, states, actions, L.streams)
        steps[rows] += 1
        dones = terminated | truncated | (steps[rows] >= max_steps)
        chosen = update(L, rows, states, actions, rewards, next_states, ~terminated, alp, eps)
        if picks_next:
            next_actions[rows] = chosen
        ret[rows] += rewards
        obs[rows] = next_states
        if dones.any():
            done = rows[dones]
            L.returns[done, episode[done]] = ret[done]
            L.lengths[done, episode[done]] = steps[done]
            episode[done] += 1
            ret[done] = 0.0
            steps[done] = 0
            again = done[episode[done] < episodes]
            if again.size:
                obs[again] = source.reset(again, L.streams)
                if picks_next:
                    next_actions[again] = L.choose(again, obs[again], epsilon(episode[again]))
    return L


def td_learner(update: Callable[..., Any]) -> Callable[..., _Learner]:
    """A control learner (the registry's signature) running :func:`_td_control` with ``update``."""
    def learner(source: Source, runs: int, episodes: int, seed: SeedLike, alpha: Schedule, epsilon: Schedule,
                q_init: float, max_steps: int, avail: np.ndarray | None) -> _Learner:
        return _td_control(source, update, runs, episodes, seed, alpha, epsilon, q_init, max_steps, avail)

    learner.__doc__ = update.__doc__
    return learner


sarsa_learner = td_learner(sarsa_update)
expected_sarsa_learner = td_learner(expected_sarsa_update)
q_learning_learner = td_learner(q_learning_update)
double_q_learning_learner = td_learner(double_q_learning_update)


def mc_control_learner(source: Source, runs: int, episodes: int, seed: SeedLike, alpha: Schedule | None,
                       epsilon: Schedule, q_init: float, max_steps: int, avail: np.ndarray | None, *,
                       exploring_starts: bool, first_visit: bool) -> _Learner:
    """On-policy Monte Carlo control (S&B p. 101, ε-soft) or Monte Carlo ES (p. 99): play one
    episode in every run, then update Q(S_t, A_t) towards G_t (first visits of each pair by default)
    by sample averages (``alpha`` None) or a constant/scheduled step size."""
    L = _Learner(source, runs, episodes, seed, alpha or parse_alpha(1.0), epsilon, q_init, False, avail)
    S, A, gamma = source.n_states, source.n_actions, source.gamma
    all_rows = np.arange(runs)
    N = np.zeros((runs, S, A))
    Q = L.Q
    es_start = None
    if exploring_starts:
        if not source.can_set_state:
            raise RlkitError(f"exploring starts need a model whose start state can be chosen; "
                             f"{source.name} is a Gymnasium env: use mc-control with epsilon instead",
                             where="exploring_starts")
        ok = ~source.terminal
        es_start = ok / ok.sum()
    for k in range(episodes):
        eps = epsilon(np.full(runs, k)) if not exploring_starts else np.zeros(runs)
        obs = source.reset(all_rows, L.streams, es_start)
        cap = 64
        ep_states = np.zeros((runs, cap), np.intp)
        ep_actions = np.zeros((runs, cap), np.intp)
        ep_rewards = np.zeros((runs, cap))
        live = np.ones(runs, bool)
        t = 0
        while live.any():
            if t == cap:
                ep_states = np.concatenate([ep_states, np.zeros_like(ep_states)], axis=1)
                ep_actions = np.concatenate([ep_actions, np.zeros_like(ep_actions)], axis=1)
                ep_rewards = np.concatenate([ep_rewards, np.zeros_like(ep_rewards)], axis=1)
                cap *= 2
            rows = all_rows[live]
            states = obs[rows]
            if exploring_starts and t == 0:
                ok_actions = np.ones((rows.size, A), bool) if avail is None else avail[states]
                actions = _sample(ok_actions / ok_actions.sum(axis=1, keepdims=True), L.streams.draw(rows))
            else:
                actions = L.choose(rows, states, eps[rows])
            next_states, rewards, terminated, truncated = source.step(rows, states, actions, L.streams)
            ep_states[rows, t], ep_actions[rows, t], ep_rewards[rows, t] = states, actions, rewards
            obs[rows] = next_states
            t += 1
            dones = terminated | truncated | (t >= max_steps)
            L.returns[rows, k] += rewards
            if dones.any():
                L.lengths[rows[dones], k] = t
                live[rows[dones]] = False
        # returns backwards, then the updates in time order (first visits of each (s, a) pair)
        T = t
        lengths = L.lengths[:, k]
        G = np.zeros((runs, T))
        nxt = np.zeros(runs)
        for j in range(T - 1, -1, -1):
            inside = j < lengths
            nxt = np.where(inside, ep_rewards[:, j] + gamma * nxt, 0.0)
            G[:, j] = nxt
        seen = np.zeros((runs, S, A), bool)
        for j in range(T):
            inside = j < lengths
            sj, aj = ep_states[:, j], ep_actions[:, j]
            m = inside & (~seen[all_rows, sj, aj] if first_visit else True)
            seen[all_rows, sj, aj] |= inside
            if not m.any():
                continue
            rr, sm, am = all_rows[m], sj[m], aj[m]
            q = Q[rr, sm, am]
            if alpha is None:
                N[rr, sm, am] += 1.0
                Q[rr, sm, am] = q + (G[m, j] - q) / N[rr, sm, am]
            else:
                Q[rr, sm, am] = q + alpha(np.full(rr.size, k)) * (G[m, j] - q)
    return L


# ---------------------------------------------------------------------------------------------
# Public entry
# ---------------------------------------------------------------------------------------------


def _greedy(q: np.ndarray, avail: np.ndarray | None) -> np.ndarray:
    """Greedy action per state over the available actions (lowest index on ties)."""
    if avail is None:
        return np.argmax(q, axis=-1)
    return np.argmax(np.where(avail, q, -np.inf), axis=-1)


def _policy_value(model: Any, policy: np.ndarray,
                  start: np.ndarray | None) -> tuple[np.ndarray | None, str | None]:
    """Exact value of a greedy policy. With gamma = 1 a greedy policy often loops in states it never
    visited (their Q values are still the initial ones); then the values are given on the states
    reachable from the start (NaN elsewhere), which do not depend on those loops."""
    from rlkit.mdp import evaluate, proper_policy

    try:
        return np.asarray(evaluate(model, policy).values, dtype=float), None
    except RlkitError as exc:
        first = str(exc)
    if start is None or model.gamma < 1.0:
        return None, first
    try:
        reach = model.reachable(policy, start)
        patched = np.where(reach, policy, proper_policy(model))
        v = np.asarray(evaluate(model, patched).values, dtype=float)
    except RlkitError:
        return None, first
    v[~reach] = np.nan
    return v, None


def control(env: Any, method: str = "q-learning", *, episodes: int = 500, runs: int = 1,
            alpha: float | str | Schedule | None = None, epsilon: float | str | Schedule = 0.1,
            gamma: float | None = None, seed: SeedLike = None, start: Any = None, q_init: float = 0.0,
            max_steps: int | None = None, exploring_starts: bool = False, first_visit: bool = True,
            env_kwargs: dict | None = None, evaluate_runs: bool = True) -> ControlResult:
    """Learn a policy from samples with a tabular control method, ``runs`` independent runs at once.

    :param env: an rlkit ``MDP``; a spec for ``rlkit.mdp.load`` (catalog name, file, ``gym:<Id>``);
        or a Gymnasium env (or ``gym:<Id>`` without a model) with Discrete observations and actions.
    :param method: ``"sarsa"``, ``"expected-sarsa"``, ``"q-learning"``, ``"double-q-learning"`` or
        ``"mc-control"``.
    :param episodes: episodes per run (> 0).
    :param runs: independent runs advanced together; curves are averaged over them.
    :param alpha: step size in (0, 1]: a number, a :class:`~rlkit.tabular.schedules.Schedule` or a
        string ``"linear:START,END,EPISODES"`` / ``"exp:START,DECAY[,MIN]"``. Default 0.1 for the TD
        methods, sample averages (1/N) for Monte Carlo control.
    :param epsilon: exploration in [0, 1], same forms as ``alpha`` (ignored with exploring starts).
    :param gamma: override the model's discount.
    :param seed: seed or Generator; run r uses ``as_generator(seed).spawn(runs)[r]``.
    :param start: start states (default: the model's ``start``, else uniform).
    :param q_init: initial action value (optimistic values encourage exploration).
    :param max_steps: truncate an episode after this many steps (default 10 000; TD methods
        bootstrap at a truncation).
    :param exploring_starts: Monte Carlo ES: random start state and first action, then greedy.
    :param first_visit: Monte Carlo control updates first visits of each (s, a) only.
    :param env_kwargs: parameters of a catalog entry or Gymnasium env.
    :param evaluate_runs: also evaluate every run's greedy policy exactly (``policy_value_runs``).
    :return: :class:`ControlResult`.

    Example (S&B Example 6.6, cliff walking: Q-learning learns the edge path)::

        >>> from rlkit.tabular import control
        >>> res = control("cliff-walking", "q-learning", episodes=300, alpha=0.5, epsilon=0.1,
        ...               runs=5, seed=0)
        >>> res.policy_start_value              # the 13-step path along the cliff
        -13.0
    """
    t0 = time.perf_counter()
    entry = registry.get("control", method)
    method = entry.name
    episodes = registry.check_positive_int(episodes, "episodes")
    runs = registry.check_positive_int(runs, "runs")
    params_in = entry.validate(alpha=alpha, epsilon=epsilon, exploring_starts=exploring_starts,
                               first_visit=first_visit)
    alpha_s, eps_s = params_in["alpha"], params_in["epsilon"]
    if exploring_starts and not entry.takes("exploring_starts"):
        raise RlkitError("exploring starts are a Monte Carlo control option; use --method mc-control",
                         where="exploring_starts")
    max_steps = DEFAULT_MAX_STEPS if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise RlkitError(f"max_steps must be > 0, got {max_steps}", where="max_steps")
    source = make_source(env, runs=int(runs), gamma=gamma, start=start, env_kwargs=env_kwargs, method=method)
    if source.is_mrp:
        raise RlkitError("a reward process has no actions to control: give an MDP", where="env")
    avail = getattr(getattr(source, "model", None), "action_mask", None)
    avail = None if avail is None else np.asarray(avail, bool)
    try:
        learner = entry.run(source, runs, episodes, seed, alpha_s, eps_s, q_init, max_steps, avail,
                            **entry.kwargs(params_in, exclude=("alpha", "epsilon")))
    finally:
        source.close()

    q_runs = learner.Q if learner.Q2 is None else (learner.Q + learner.Q2) / 2.0
    if source.terminal is not None:
        q_runs[:, source.terminal] = 0.0
    q = q_runs.mean(axis=0)
    policy = _greedy(q, avail)
    policy_runs = _greedy(q_runs, avail)
    info: dict[str, Any] = {"source": source.name}
    policy_value = policy_value_runs = optimal_values = optimal_policy = start_d = None
    model = source.model
    if model is not None:
        from rlkit.mdp import policy_iteration

        if float(model.gamma) != source.gamma:
            model = model.with_gamma(source.gamma)
        start_d = getattr(source, "start", None)
        policy_value, err = _policy_value(model, policy, start_d)
        if err:
            info["policy_value_error"] = err
        if evaluate_runs:
            policy_value_runs = np.full((runs, source.n_states), np.nan)
            for r in range(runs):
                v, _ = _policy_value(model, policy_runs[r], start_d)
                if v is not None:
                    policy_value_runs[r] = v
        try:
            sol = policy_iteration(model)
            optimal_values, optimal_policy = np.asarray(sol.values, float), np.asarray(sol.policy)
        except RlkitError as exc:
            info["optimal_error"] = str(exc)
    params: dict[str, Any] = {
        "alpha": "sample-average" if alpha_s is None else str(alpha_s), "epsilon": str(eps_s),
        "q_init": q_init, "max_steps": max_steps,
    }
    params.update({k: params_in[k] for k in ("exploring_starts", "first_visit") if entry.takes(k)})
    return ControlResult(
        method=method, q=q, q_runs=q_runs, policy=policy, policy_runs=policy_runs,
        returns_curve=learner.returns.mean(axis=0), returns_runs=learner.returns,
        lengths_runs=learner.lengths,
        policy_value=policy_value, policy_value_runs=policy_value_runs, optimal_values=optimal_values,
        optimal_policy=optimal_policy, start=start_d, states=list(source.states),
        actions=list(source.actions),
        gamma=source.gamma, episodes=int(episodes), runs=int(runs), params=params,
        seconds=time.perf_counter() - t0, info=info,
    )


def sarsa(env: Any, **kwargs: Any) -> ControlResult:
    """SARSA (on-policy TD control); parameters as in :func:`control`."""
    return control(env, "sarsa", **kwargs)


def expected_sarsa(env: Any, **kwargs: Any) -> ControlResult:
    """Expected SARSA; parameters as in :func:`control`."""
    return control(env, "expected-sarsa", **kwargs)


def q_learning(env: Any, **kwargs: Any) -> ControlResult:
    """Q-learning (off-policy TD control); parameters as in :func:`control`."""
    return control(env, "q-learning", **kwargs)


def double_q_learning(env: Any, **kwargs: Any) -> ControlResult:
    """Double Q-learning; parameters as in :func:`control`."""
    return control(env, "double-q-learning", **kwargs)


def mc_control(env: Any, *, exploring_starts: bool = False, **kwargs: Any) -> ControlResult:
    """Monte Carlo control (ε-soft on-policy, or exploring starts); parameters as in :func:`control`."""
    return control(env, "mc-control", exploring_starts=exploring_starts, **kwargs)
