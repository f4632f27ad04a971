"""Policy evaluation from samples: Monte Carlo, TD(0), n-step TD, TD(λ), batch TD and batch MC.

Every method reads the same thing, a :class:`~rlkit.tabular.sampling.Transitions` stream of ``R``
independent runs, and updates an (R, S) table of values one time step at a time for all runs at
once. The updates are written exactly as Sutton & Barto's pseudocode for one run (the same order,
the same arithmetic), so run ``r`` of a batch gives the same numbers as a plain loop over that
run's episodes.

Main entry: :func:`evaluate_policy`; one function per method wraps it (:func:`mc_prediction`,
:func:`td_prediction`, :func:`nstep_td`, :func:`td_lambda`, :func:`batch_td`, :func:`batch_mc`);
:func:`estimate_values` applies a method to transitions you already have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlkit.errors import RlkitError
from rlkit.seeding import SeedLike
from rlkit.tabular import registry
from rlkit.tabular.policies import resolve_policy
from rlkit.tabular.registry import check_positive_int
from rlkit.tabular.sampling import Source, Transitions, make_source, rollout

#: Method names accepted by :func:`evaluate_policy` (``mc`` is first-visit Monte Carlo): a view of
#: :mod:`rlkit.tabular.registry` (kind ``"prediction"``).
PREDICTION_METHODS = registry.names("prediction")


@dataclass
class PredictionResult:
    """What a prediction method estimated, averaged over runs and per run.

    :param method: the method's name.
    :param values: estimate averaged over runs, (S,).
    :param values_runs: estimate of each run, (R, S).
    :param exact: the policy's true values when a model exists (``rlkit.mdp.evaluate``), else None.
    :param rmse: RMS error over the non-terminal states after the last episode, averaged over runs
        (``rmse_curve[-1]``), or None without a model.
    :param rmse_curve: RMS error after each episode averaged over runs, (E,) (S&B's curves).
    :param rmse_runs: the same per run, (R, E).
    :param rmse_initial: RMS error of the initial values (before any episode).
    :param states: state names.
    :param gamma: discount.
    :param episodes: episodes per run.
    :param runs: number of runs.
    :param params: the method's parameters (alpha, n, lambda, ...).
    :param seconds: wall time (sampling and learning).
    :param nonterminal: the states the RMS error is taken over, bool (S,).
    :param visits: how many times each run visited each state, (R, S).
    :param values_history: (R, E + 1, S) values before the first and after every episode when
        asked for with ``record_values=True``, else None.
    :param transitions: the experience the estimate came from.
    :param info: method-specific extras (e.g. batch sweeps to convergence).
    """

    method: str
    values: np.ndarray
    values_runs: np.ndarray
    exact: np.ndarray | None
    rmse: float | None
    rmse_curve: np.ndarray | None
    rmse_runs: np.ndarray | None
    rmse_initial: float | None
    states: list[str]
    gamma: float
    episodes: int
    runs: int
    params: dict[str, Any]
    seconds: float
    nonterminal: np.ndarray
    visits: np.ndarray
    values_history: np.ndarray | None = None
    transitions: Transitions | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def rmse_of_mean(self) -> float | None:
        """RMS error of the run-averaged estimate ``values`` (smaller than ``rmse``: averaging over
        runs removes the variance, not the bias)."""
        if self.exact is None:
            return None
        m = self.nonterminal
        return float(np.sqrt(np.mean((self.values[m] - self.exact[m]) ** 2))) if m.any() else 0.0

    def __repr__(self) -> str:
        err = "" if self.rmse is None else f", rmse={self.rmse:.4g}"
        return (f"PredictionResult(method={self.method!r}, n_states={len(self.states)}, runs={self.runs}, "
                f"episodes={self.episodes}{err}, seconds={self.seconds:.3g})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-run arrays except the final per-run RMS)."""
        return {
            "method": self.method, "states": self.states, "gamma": self.gamma,
            "episodes": self.episodes, "runs": self.runs, "params": self.params,
            "values": self.values.tolist(),
            "exact": None if self.exact is None else self.exact.tolist(),
            "rmse": self.rmse, "rmse_of_mean": self.rmse_of_mean, "rmse_initial": self.rmse_initial,
            "rmse_curve": None if self.rmse_curve is None else self.rmse_curve.tolist(),
            "values_std": self.values_runs.std(axis=0).tolist(),
            "seconds": self.seconds, "info": self.info,
        }


# ---------------------------------------------------------------------------------------------
# Recording the error curve
# ---------------------------------------------------------------------------------------------


class _Recorder:
    """Per-run RMS error (and optionally values) at the end of each episode.

    The (run, step) pairs where episodes end are found once; at step t the kernel calls
    ``rec(t, V)`` only if ``rec.has_end[t]``.
    """

    def __init__(self, tr: Transitions, exact: np.ndarray | None, nonterminal: np.ndarray,
                 record_values: bool, V0: np.ndarray) -> None:
        R, E = tr.runs, tr.episodes
        t_idx, r_idx = np.nonzero(tr.ends.T)                   # sorted by step, then run
        self.rows = r_idx
        self.eps = tr.episode[r_idx, t_idx]
        self.offsets = np.searchsorted(t_idx, np.arange(tr.states.shape[1] + 1))
        self.has_end = self.offsets[1:] > self.offsets[:-1]
        self.exact = exact
        self.flat = None if exact is None else np.zeros(r_idx.size)
        if exact is not None:
            self.ex = np.where(nonterminal, exact, 0.0)
            n = int(nonterminal.sum())
            self.w = nonterminal / max(n, 1)
        self.history = None
        if record_values:
            self.history = np.empty((R, E + 1, V0.shape[1]))
            self.history[:, 0] = V0
        self.runs, self.episodes = R, E
        self.direct: np.ndarray | None = None

    def __call__(self, t: int, V: np.ndarray) -> None:
        lo, hi = self.offsets[t], self.offsets[t + 1]
        rows = self.rows[lo:hi]
        Vr = V[rows]
        if self.flat is not None:
            d = Vr - self.ex
            self.flat[lo:hi] = np.sqrt((d * d) @ self.w)
        if self.history is not None:
            self.history[rows, self.eps[lo:hi] + 1] = Vr

    def all_runs(self, k: int, V: np.ndarray) -> None:
        """Record every run after its episode ``k`` (batch methods)."""
        if self.flat is not None:
            if self.direct is None:
                self.direct = np.full((self.runs, self.episodes), np.nan)
            d = V - self.ex
            self.direct[:, k] = np.sqrt((d * d) @ self.w)
        if self.history is not None:
            self.history[:, k + 1] = V

    def rmse(self) -> np.ndarray | None:
        if self.flat is None:
            return None
        if self.direct is not None:
            return self.direct
        out = np.full((self.runs, self.episodes), np.nan)
        out[self.rows, self.eps] = self.flat
        return out


# ---------------------------------------------------------------------------------------------
# The methods, over a Transitions stream (all runs at once, one time step per iteration).
# ``alpha`` is an (R,) array: one step size per run (a sweep over step sizes is a batch of runs).
# ---------------------------------------------------------------------------------------------


def _flat_index(tr: Transitions, S: int) -> tuple[np.ndarray, np.ndarray]:
    base = (np.arange(tr.runs) * S)[:, None]
    return base + tr.states, base + tr.next_states


def td0_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder) -> None:
    """Tabular TD(0) (S&B p. 120): V(S) <- V(S) + α [R + γ V(S') - V(S)], no bootstrap from a
    terminal state."""
    T = tr.states.shape[1]
    Vf = V.reshape(-1)
    I, J = _flat_index(tr, V.shape[1])
    a_t = alpha[:, None] * tr.valid                       # α on real steps, 0 on padding
    g_t = gamma * (~tr.terminated)                        # γ, or 0 after a terminal transition
    rewards = tr.rewards
    has_end = rec.has_end
    for t in range(T):
        i = I[:, t]
        v = Vf[i]
        target = rewards[:, t] + g_t[:, t] * Vf[J[:, t]]
        Vf[i] = v + a_t[:, t] * (target - v)
        if has_end[t]:
            rec(t, V)


def _first_visits(tr: Transitions) -> np.ndarray:
    """(R, T) True where the step's state is visited for the first time in its episode."""
    R, T = tr.states.shape
    S = tr.n_states
    seen = np.zeros(R * S, bool)
    seen2 = seen.reshape(R, S)
    I, _ = _flat_index(tr, S)
    first = np.zeros((R, T), bool)
    ends_any = tr.ends.any(axis=0)
    for t in range(T):
        i = I[:, t]
        first[:, t] = ~seen[i]
        seen[i] = True
        if ends_any[t]:
            seen2[tr.ends[:, t]] = False
    return first & tr.valid


def mc_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray | None, gamma: float, rec: _Recorder, *,
              first_visit: bool) -> None:
    """Monte Carlo prediction (S&B p. 92; constant-α form p. 119): after an episode, for t = 0..T-1
    (first visits only for first-visit MC), V(S_t) <- V(S_t) + α (G_t - V(S_t)), or the sample
    average V(S_t) <- V(S_t) + (G_t - V(S_t)) / N(S_t) when ``alpha`` is None. (The targets do not
    depend on V, so applying the updates as the steps go by gives the same numbers.)"""
    T = tr.states.shape[1]
    Vf = V.reshape(-1)
    I, _ = _flat_index(tr, V.shape[1])
    G = tr.discounted_returns(gamma)
    use = _first_visits(tr) if first_visit else tr.valid
    has_end = rec.has_end
    if alpha is None:
        N = np.zeros(Vf.size)
        for t in range(T):
            i = I[:, t]
            v = Vf[i]
            m = use[:, t]
            N[i] += m
            Vf[i] = np.where(m, v + (G[:, t] - v) / np.maximum(N[i], 1.0), v)
            if has_end[t]:
                rec(t, V)
    else:
        a_t = alpha[:, None] * use
        for t in range(T):
            i = I[:, t]
            v = Vf[i]
            Vf[i] = v + a_t[:, t] * (G[:, t] - v)
            if has_end[t]:
                rec(t, V)


def _positions(tr: Transitions) -> np.ndarray:
    """(R, T) index of each step within its episode."""
    R, T = tr.states.shape
    pos = np.zeros((R, T), np.intp)
    run = np.zeros(R, np.intp)
    for t in range(T):
        pos[:, t] = run
        run = np.where(tr.ends[:, t], 0, run + 1)
    return pos


def _window_rewards(tr: Transitions, n: int, gamma: float) -> np.ndarray:
    """W[:, τ] = sum_{k < min(n, steps left in the episode)} γ^k r_{τ+k}, summed from k = 0 up."""
    R, T = tr.states.shape
    left = np.zeros((R, T), np.intp)                      # steps left in the episode (1 on the last)
    nxt = np.zeros(R, np.intp)
    for t in range(T - 1, -1, -1):
        nxt = np.where(tr.ends[:, t], 1, nxt + 1)
        left[:, t] = nxt
    left[~tr.valid] = 0
    W = np.zeros((R, T))
    kmax = int(min(n, left.max(initial=0)))
    for k in range(kmax):
        W[:, : T - k] += (gamma**k * tr.rewards[:, k:]) * (left[:, : T - k] > k)
    return W


def nstep_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder, *,
                 n: int) -> None:
    """n-step TD (S&B p. 144). At within-episode step t (after observing R_{t+1}, S_{t+1}) update
    τ = t - n + 1 with G = Σ γ^{i-τ-1} R_i + γ^n V(S_{τ+n}); when the episode ends, the remaining
    τ up to T - 1 in order (bootstrapping from the last state only if the episode was truncated)."""
    R, T = tr.states.shape
    S = V.shape[1]
    Vf = V.reshape(-1)
    I, J = _flat_index(tr, S)
    pos = _positions(tr)
    W = _window_rewards(tr, n, gamma)
    gn_t = gamma**n * (~tr.terminated)
    a_main = alpha[:, None] * (tr.valid & (pos >= n - 1))
    has_end = rec.has_end
    for t in range(T):
        if t >= n - 1:
            tau = t - n + 1
            i = I[:, tau]
            v = Vf[i]
            G = W[:, tau] + gn_t[:, t] * Vf[J[:, t]]
            Vf[i] = v + a_main[:, t] * (G - v)
        if has_end[t]:
            rows = rec.rows[rec.offsets[t]:rec.offsets[t + 1]]
            start = t - pos[rows, t]                           # first step of the ending episode
            trunc = ~tr.terminated[rows, t]
            boot_i = J[rows, t]
            for tau in range(max(t - n + 2, int(start.min())), t + 1):
                ok = tau >= start
                if not ok.any():
                    continue
                r_ok = rows[ok]
                i = I[r_ok, tau]
                v = Vf[i]
                G = W[r_ok, tau] + np.where(trunc[ok], gamma ** (t - tau + 1) * Vf[boot_i[ok]], 0.0)
                Vf[i] = v + alpha[r_ok] * (G - v)
            rec(t, V)


def td_lambda_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder, *,
                     lam: float, trace: str, offline: bool) -> None:
    """Tabular TD(λ) with eligibility traces (S&B p. 293, tabular case): e <- γλ e; e(S) += 1
    (accumulating) or e(S) = 1 (replacing); δ = R + γ V(S') - V(S); V += α δ e. Online updates
    every step, or offline: the increments are summed over the episode and applied at its end
    (offline TD(1) with accumulating traces is every-visit constant-α Monte Carlo)."""
    R, T = tr.states.shape
    S = V.shape[1]
    Vf = V.reshape(-1)
    I, J = _flat_index(tr, S)
    E = np.zeros((R, S))
    Ef = E.reshape(-1)
    dV = np.zeros((R, S)) if offline else None
    g_t = gamma * (~tr.terminated)
    valid_f = tr.valid.astype(float)
    a_t = alpha[:, None] * valid_f
    decay = gamma * lam
    replacing = trace == "replacing"
    rewards = tr.rewards
    has_end = rec.has_end
    for t in range(T):
        i = I[:, t]
        delta = rewards[:, t] + g_t[:, t] * Vf[J[:, t]] - Vf[i]
        E *= decay
        if replacing:
            Ef[i] = np.where(tr.valid[:, t], 1.0, Ef[i])
        else:
            Ef[i] += valid_f[:, t]
        step = a_t[:, t] * delta
        if offline:
            dV += step[:, None] * E
        else:
            V += step[:, None] * E
        if has_end[t]:
            rows = rec.rows[rec.offsets[t]:rec.offsets[t + 1]]
            E[rows] = 0.0
            if offline:
                V[rows] += dV[rows]
                dV[rows] = 0.0
            rec(t, V)


def _episode_slices(tr: Transitions) -> tuple[np.ndarray, np.ndarray]:
    """Flat step indices sorted by episode, and the offsets of each episode's block."""
    ep = tr.episode.reshape(-1)
    order = np.argsort(ep, kind="stable")
    counts = np.bincount(ep[ep >= 0], minlength=tr.episodes)
    skip = int((ep < 0).sum())
    offsets = skip + np.concatenate([[0], np.cumsum(counts)])
    return order, offsets


def batch_td_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder, *,
                    batch_tol: float, max_sweeps: int) -> dict[str, Any]:
    """Batch TD(0): :func:`_batch` with TD's increments."""
    return _batch(tr, V, alpha, gamma, "td", False, batch_tol, max_sweeps, rec)


def batch_mc_kernel(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder, *,
                    first_visit: bool, batch_tol: float, max_sweeps: int) -> dict[str, Any]:
    """Batch Monte Carlo: :func:`_batch` with the returns as targets."""
    return _batch(tr, V, alpha, gamma, "mc", first_visit, batch_tol, max_sweeps, rec)


def _batch(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, kind: str, first_visit: bool,
           tol: float, max_sweeps: int, rec: _Recorder) -> dict[str, Any]:
    """Batch updating (S&B Section 6.3): after each episode, sweep over all the episodes seen so far
    until the values stop changing, each sweep moving every visited state by ``alpha`` times the
    mean of its TD (or MC) increments over the batch.

    TD's increments for state s sum to ``Rsum(s) + γ Σ_s' C(s, s') V(s') - N(s) V(s)``, so a sweep
    needs only those counts (C: bootstrapped transitions s -> s'); MC's sum to ``Gsum(s) - N(s) V(s)``.
    S&B apply the *sum* of increments with a small α; the mean (α = 1 is a Jacobi sweep on the
    empirical model) reaches the same fixed point -- the certainty-equivalence estimate for TD, the
    sample mean of the returns for MC -- in far fewer sweeps.
    """
    R, T = tr.states.shape
    S = V.shape[1]
    N = np.zeros((R, S))
    Rsum = np.zeros((R, S))
    C = np.zeros((R, S, S)) if kind == "td" else None
    if kind == "mc":
        G = tr.discounted_returns(gamma)
        use = _first_visits(tr) if first_visit else tr.valid
    order, offsets = _episode_slices(tr)
    run_of = order // T
    col_of = order % T
    sweeps = np.zeros(tr.episodes, np.intp)
    converged = True
    a = alpha[:, None]
    for k in range(tr.episodes):
        sl = slice(offsets[k], offsets[k + 1])
        r, c = run_of[sl], col_of[sl]
        s = tr.states[r, c]
        if kind == "td":
            np.add.at(N, (r, s), 1.0)
            np.add.at(Rsum, (r, s), tr.rewards[r, c])
            b = ~tr.terminated[r, c]
            np.add.at(C, (r[b], s[b], tr.next_states[r[b], c[b]]), gamma)
        else:
            m = use[r, c]
            np.add.at(N, (r[m], s[m]), 1.0)
            np.add.at(Rsum, (r[m], s[m]), G[r[m], c[m]])
        seen = N > 0
        Nsafe = np.where(seen, N, 1.0)
        sweep = 0
        for sweep in range(1, max_sweeps + 1):  # noqa: B007 (kept for the report)
            total = Rsum + np.einsum("rij,rj->ri", C, V) if kind == "td" else Rsum
            step = np.where(seen, a * (total / Nsafe - V), 0.0)
            V += step
            if np.max(np.abs(step), initial=0.0) < tol:
                break
        else:
            converged = False
        sweeps[k] = sweep
        rec.all_runs(k, V)
    return {"sweeps": sweeps.tolist(), "converged": converged}


# ---------------------------------------------------------------------------------------------
# Public entries
# ---------------------------------------------------------------------------------------------


def _validated_params(entry: registry.Method, alpha: Any, n: int, lam: float, trace: str, offline: bool,
                      first_visit: bool | None) -> dict[str, Any]:
    """The parameters ``entry`` takes, checked, with its defaults (alpha None: its own default)."""
    return entry.validate(alpha=alpha, n=n, lam=lam, trace=trace, offline=offline, first_visit=first_visit)


def _run_method(tr: Transitions, entry: registry.Method, alpha_rows: np.ndarray | None,
                params: dict[str, Any], gamma: float, V: np.ndarray, rec: _Recorder, batch_tol: float,
                max_sweeps: int) -> dict:
    """Run the registered kernel ``f(tr, V, alpha, gamma, rec, **params)``; its extras dict."""
    info = entry.run(tr, V, alpha_rows, gamma, rec,
                     **entry.kwargs(params, batch_tol=batch_tol, max_sweeps=max_sweeps))
    return info or {}


def estimate_values_sweep(transitions: Transitions, method: str = "td", alphas: Any = (None,), *,
                          n: int | None = None, lam: float = 0.9, trace: str = "accumulating",
                          offline: bool = False,
                          first_visit: bool | None = None, init: float | np.ndarray = 0.0,
                          exact: np.ndarray | None = None, terminal: np.ndarray | None = None,
                          gamma: float | None = None, record_values: bool = False, batch_tol: float = 1e-10,
                          max_sweeps: int = 100_000,
                          states: list[str] | None = None) -> list[PredictionResult]:
    """Run one prediction method over transitions already sampled (see
    :func:`~rlkit.tabular.sampling.rollout`), for several step sizes at once.

    The runs are repeated once per step size and all ``len(alphas) x R`` learners advance together,
    so a sweep over step sizes (S&B Figure 6.2) costs about what one step size costs. Each step size
    sees the same episodes. ``None`` in ``alphas`` (the default) means the method's default step
    size (sample averages for Monte Carlo). Other parameters as in :func:`evaluate_policy`;
    ``exact`` and ``terminal`` (bool (S,)) enable the RMS error curves (terminal states keep
    value 0 and are left out).

    :returns: one :class:`PredictionResult` per step size, in the order given.
    """
    t0 = time.perf_counter()
    entry = registry.get("prediction", method)
    method = entry.name
    alphas = list(alphas) if np.ndim(alphas) else [alphas]
    if not alphas:
        raise RlkitError("give at least one step size", where="alpha")
    plist = [_validated_params(entry, a, n, lam, trace, offline, first_visit) for a in alphas]
    sample_avg = [p["alpha"] is None for p in plist]
    if any(sample_avg) and not all(sample_avg):
        # sample averages and constant step sizes follow different update rules: run them apart
        out: list[PredictionResult] = []
        for a in alphas:
            out += estimate_values_sweep(transitions, method, [a], n=n, lam=lam, trace=trace, offline=offline,
                                         first_visit=first_visit, init=init, exact=exact, terminal=terminal,
                                         gamma=gamma, record_values=record_values, batch_tol=batch_tol,
                                         max_sweeps=max_sweeps, states=states)
        return out
    g = transitions.gamma if gamma is None else float(gamma)
    R, S, k = transitions.runs, transitions.n_states, len(alphas)
    tr = transitions if k == 1 else transitions.repeat(k)
    alpha_rows = None if sample_avg[0] else np.repeat([p["alpha"] for p in plist], R).astype(float)

    terminal = np.zeros(S, bool) if terminal is None else np.asarray(terminal, bool)
    V = np.empty((k * R, S))
    V[:] = np.asarray(init, dtype=float)
    V[:, terminal] = 0.0
    nonterminal = ~terminal
    exact_arr = None if exact is None else np.asarray(exact, dtype=float)
    rmse_initial = None
    if exact_arr is not None:
        m = nonterminal
        err0 = np.sqrt(np.mean((V[:R, m] - exact_arr[m]) ** 2, axis=1)) if m.any() else np.zeros(R)
        rmse_initial = float(err0.mean())
    rec = _Recorder(tr, exact_arr, nonterminal, record_values, V)
    info = _run_method(tr, entry, alpha_rows, plist[0], g, V, rec, batch_tol, max_sweeps)

    visits = np.zeros((R, S), np.int64)
    valid = transitions.valid
    np.add.at(visits, (np.nonzero(valid)[0], transitions.states[valid]), 1)
    rmse_all = rec.rmse()
    seconds = (time.perf_counter() - t0) / k
    names = list(states) if states else [str(s) for s in range(S)]
    results = []
    for q in range(k):
        rows = slice(q * R, (q + 1) * R)
        Vq = V[rows].copy()
        rmse_runs = None if rmse_all is None else rmse_all[rows]
        curve = None if rmse_runs is None else rmse_runs.mean(axis=0)
        params = dict(plist[q])
        if params.get("alpha", 0) is None:
            params["alpha"] = "sample-average"
        results.append(PredictionResult(
            method=method, values=Vq.mean(axis=0), values_runs=Vq, exact=exact_arr,
            rmse=None if curve is None else float(curve[-1]), rmse_curve=curve, rmse_runs=rmse_runs,
            rmse_initial=rmse_initial, states=names, gamma=g, episodes=transitions.episodes, runs=R,
            params=params, seconds=seconds, nonterminal=nonterminal, visits=visits,
            values_history=None if rec.history is None else rec.history[rows],
            transitions=transitions, info=dict(info),
        ))
    return results


def estimate_values(transitions: Transitions, method: str = "td", *, alpha: float | None = None,
                    **kwargs: Any) -> PredictionResult:
    """Run one prediction method over transitions already sampled (see
    :func:`~rlkit.tabular.sampling.rollout`); parameters as in :func:`estimate_values_sweep` and
    :func:`evaluate_policy`.

    Example (the same episodes, TD(0) and constant-α Monte Carlo)::

        >>> import numpy as np
        >>> from rlkit.mdp import MRP
        >>> from rlkit.tabular import ModelSource, rollout, estimate_values
        >>> P = np.zeros((7, 7)); P[0, 0] = P[6, 6] = 1
        >>> for s in range(1, 6): P[s, s - 1] = P[s, s + 1] = 0.5
        >>> walk = MRP(P, np.eye(7)[5] * 0.5, gamma=1.0)
        >>> tr = rollout(ModelSource(walk, start=3), None, episodes=50, runs=20, seed=1)
        >>> td = estimate_values(tr, "td", alpha=0.1, init=0.5, terminal=walk.terminal)
        >>> mc = estimate_values(tr, "every-visit-mc", alpha=0.02, init=0.5, terminal=walk.terminal)
        >>> td.values_runs.shape, mc.episodes
        ((20, 7), 50)
    """
    return estimate_values_sweep(transitions, method, [alpha], **kwargs)[0]


def exact_values(source: Source, policy: np.ndarray | None) -> np.ndarray | None:
    """The true values of ``policy`` on ``source``'s model (None without a model).

    An MDP is evaluated with :func:`rlkit.mdp.evaluate`, a reward process with
    :func:`rlkit.mdp.solve_mrp`, at the source's discount.
    """
    model = source.model
    if model is None or callable(policy):
        return None
    from rlkit.mdp import evaluate, solve_mrp

    if float(model.gamma) != source.gamma:
        model = model.with_gamma(source.gamma)
    if source.is_mrp:
        return np.asarray(solve_mrp(model).values, dtype=float)
    return np.asarray(evaluate(model, policy).values, dtype=float)


def _prepare(env: Any, policy: Any, method: str, episodes: int, runs: int, seed: SeedLike,
             gamma: float | None, start: Any, max_steps: int | None,
             env_kwargs: dict | None) -> tuple[Source, Transitions, np.ndarray | None]:
    source = make_source(env, runs=runs, gamma=gamma, start=start, env_kwargs=env_kwargs, method=method)
    try:
        pol = resolve_policy(policy, source)
        exact = exact_values(source, pol)
        tr = rollout(source, pol, episodes=episodes, runs=runs, seed=seed, max_steps=max_steps)
    finally:
        source.close()
    return source, tr, exact


def evaluate_policy(env: Any, policy: Any = "uniform", *, method: str = "td", episodes: int = 100,
                    runs: int = 1, alpha: float | None = None, n: int | None = None, lam: float = 0.9,
                    trace: str = "accumulating", offline: bool = False, first_visit: bool | None = None,
                    seed: SeedLike = None, gamma: float | None = None, start: Any = None,
                    init: float | np.ndarray = 0.0, max_steps: int | None = None,
                    record_values: bool = False, env_kwargs: dict | None = None,
                    batch_tol: float = 1e-10) -> PredictionResult:
    """Estimate the values of ``policy`` from sampled episodes, for ``runs`` independent runs at once.

    :param env: an rlkit ``MDP`` / ``MRP``; a spec for ``rlkit.mdp.load`` (catalog name, file,
        ``gym:<Id>``); a Gymnasium env (or id with ``gym:``) with Discrete observations and actions
        and no model (then there are no exact values).
    :param policy: ``"uniform"``, ``"optimal"`` (policy iteration on the model), a ``.npy``/``.csv``/
        ``.json`` file, an (S, A) matrix or (S,) action indices (ignored for a reward process).
    :param method: ``"mc"`` (first-visit Monte Carlo), ``"every-visit-mc"``, ``"td"`` (TD(0)),
        ``"nstep"`` (n-step TD), ``"td-lambda"``, ``"batch-td"``, ``"batch-mc"``.
    :param episodes: episodes per run (> 0).
    :param runs: independent runs, advanced together; curves are averaged over them.
    :param alpha: step size in (0, 1]. Default 0.1 for TD methods; for Monte Carlo None means the
        sample average (1/N(s)); for batch methods the step on the mean increment (default 1).
    :param n: steps of n-step TD (None: the method's default, 4, as ``rlkit evaluate-policy``).
    :param lam: λ of TD(λ), in [0, 1].
    :param trace: ``"accumulating"`` or ``"replacing"`` eligibility traces.
    :param offline: TD(λ) applies its summed increments at the end of each episode.
    :param first_visit: override the Monte Carlo visit rule (batch MC defaults to every visit).
    :param seed: seed or Generator; run r uses ``as_generator(seed).spawn(runs)[r]``.
    :param gamma: override the model's discount.
    :param start: start states (default: the model's ``start`` or uniform over the
        non-terminal states), see :func:`~rlkit.tabular.sampling.start_distribution`.
    :param init: initial value of every non-terminal state (scalar or (S,)); S&B's random walk uses 0.5.
    :param max_steps: truncate episodes after this many steps (default 10 000).
    :param record_values: keep the values after every episode (``values_history``).
    :param env_kwargs: parameters of a catalog entry or Gymnasium env.
    :param batch_tol: batch methods sweep until no value moves more than this.
    :return: :class:`PredictionResult`.

    Example (S&B Example 6.2: TD(0) on the random walk, 100 runs of 100 episodes)::

        >>> import numpy as np
        >>> from rlkit.mdp import MRP
        >>> from rlkit.tabular import evaluate_policy
        >>> P = np.zeros((7, 7)); P[0, 0] = P[6, 6] = 1
        >>> for s in range(1, 6): P[s, s - 1] = P[s, s + 1] = 0.5
        >>> Rt = np.zeros((7, 7)); Rt[5, 6] = 1.0            # +1 on entering the right end
        >>> walk = MRP(P, Rt, gamma=1.0, meta={"transition_rewards": Rt})
        >>> res = evaluate_policy(walk, method="td", alpha=0.1, episodes=100, runs=100, start=3,
        ...                       init=0.5, seed=0)
        >>> res.exact[1:6].round(3).tolist()
        [0.167, 0.333, 0.5, 0.667, 0.833]
        >>> bool(res.rmse < 0.15)
        True
    """
    return evaluate_policy_sweep(env, policy, method=method, alphas=[alpha], episodes=episodes, runs=runs,
                                 n=n, lam=lam, trace=trace, offline=offline, first_visit=first_visit,
                                 seed=seed, gamma=gamma, start=start, init=init, max_steps=max_steps,
                                 record_values=record_values, env_kwargs=env_kwargs, batch_tol=batch_tol)[0]


def evaluate_policy_sweep(env: Any, policy: Any = "uniform", *, method: str = "td", alphas: Any = (None,),
                          episodes: int = 100, runs: int = 1, n: int | None = None, lam: float = 0.9,
                          trace: str = "accumulating", offline: bool = False, first_visit: bool | None = None,
                          seed: SeedLike = None, gamma: float | None = None, start: Any = None,
                          init: float | np.ndarray = 0.0, max_steps: int | None = None,
                          record_values: bool = False, env_kwargs: dict | None = None,
                          batch_tol: float = 1e-10) -> list[PredictionResult]:
    """:func:`evaluate_policy` for several step sizes at once (one sampling, one vectorised pass):
    S&B Figure 6.2's curves in one call per method. Returns one result per step size; result ``q``
    is the same as ``evaluate_policy(..., alpha=alphas[q])`` with the same seed.
    """
    t0 = time.perf_counter()
    entry = registry.get("prediction", method)
    method = entry.name
    episodes = check_positive_int(episodes, "episodes")
    runs = check_positive_int(runs, "runs")
    alist = list(alphas) if np.ndim(alphas) else [alphas]
    for a in alist:
        _validated_params(entry, a, n, lam, trace, offline, first_visit)
    source, tr, exact = _prepare(env, policy, method, episodes, runs, seed, gamma, start, max_steps,
                                 env_kwargs)
    results = estimate_values_sweep(tr, method, alist, n=n, lam=lam, trace=trace, offline=offline,
                                    first_visit=first_visit, init=init, exact=exact, terminal=source.terminal,
                                    gamma=source.gamma, record_values=record_values, batch_tol=batch_tol,
                                    states=source.states)
    seconds = (time.perf_counter() - t0) / len(results)
    for res in results:
        res.info["source"] = source.name
        res.info["policy"] = policy if isinstance(policy, str) else type(policy).__name__
        res.seconds = seconds
    return results


def mc_prediction(env: Any, policy: Any = "uniform", *, first_visit: bool = True,
                  **kwargs: Any) -> PredictionResult:
    """Monte Carlo prediction (first-visit by default; ``alpha=None`` for sample averages, a number
    for constant-α MC). Other parameters as in :func:`evaluate_policy`."""
    return evaluate_policy(env, policy, method="mc" if first_visit else "every-visit-mc", **kwargs)


def td_prediction(env: Any, policy: Any = "uniform", **kwargs: Any) -> PredictionResult:
    """Tabular TD(0); parameters as in :func:`evaluate_policy`."""
    return evaluate_policy(env, policy, method="td", **kwargs)


def nstep_td(env: Any, policy: Any = "uniform", *, n: int = 4, **kwargs: Any) -> PredictionResult:
    """n-step TD; parameters as in :func:`evaluate_policy`."""
    return evaluate_policy(env, policy, method="nstep", n=n, **kwargs)


def td_lambda(env: Any, policy: Any = "uniform", *, lam: float = 0.9, trace: str = "accumulating",
              offline: bool = False, **kwargs: Any) -> PredictionResult:
    """TD(λ) with eligibility traces; parameters as in :func:`evaluate_policy`."""
    return evaluate_policy(env, policy, method="td-lambda", lam=lam, trace=trace, offline=offline, **kwargs)


def batch_td(env: Any, policy: Any = "uniform", **kwargs: Any) -> PredictionResult:
    """Batch TD(0): after each episode, the certainty-equivalence estimate of all data so far."""
    return evaluate_policy(env, policy, method="batch-td", **kwargs)


def batch_mc(env: Any, policy: Any = "uniform", **kwargs: Any) -> PredictionResult:
    """Batch Monte Carlo: after each episode, the sample mean of the returns seen so far."""
    return evaluate_policy(env, policy, method="batch-mc", **kwargs)
