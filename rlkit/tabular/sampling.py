"""Many independent runs of a finite MDP (or a Gymnasium environment) advanced together.

A *run* is one independent learner with its own episodes. ``R`` runs are advanced in lock step:
each step of the sampler moves every active run by one transition with a handful of numpy
operations over arrays of length ``R``, so a learning curve averaged over 100 runs costs about
what one run costs in a Python loop.

Random streams. Run ``r`` draws from its own generator, ``as_generator(seed).spawn(runs)[r]``,
and every categorical draw (start state, action, next state, an ε-greedy choice, Double
Q-learning's coin) uses exactly one uniform double of that stream, turned into a category by the
inverse CDF, the same way ``Generator.choice(n, p=p)`` does it. Hence run ``r`` of a batch is the
same trajectory whatever the number of runs, and the same as a plain loop written with
``rng.choice(n, p=row)`` on that run's generator (the benchmark checks this bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlkit._budget import check_memory
from rlkit.errors import RlkitError
from rlkit.mdp.models import start_distribution as model_start_distribution
from rlkit.seeding import SeedLike, as_generator

#: Default cap on the length of one episode (an episode that reaches it is truncated: TD methods
#: bootstrap from the last state, Monte Carlo uses the truncated return).
DEFAULT_MAX_STEPS = 10_000

NEURAL_HINT = ("use the function-approximation methods of rlkit.tabular.neural instead "
               "(gradient_mc, semi_gradient_td, semi_gradient_td_lambda: a value network on the "
               "observations)")


# ---------------------------------------------------------------------------------------------
# Per-run uniform streams and the inverse CDF
# ---------------------------------------------------------------------------------------------


class RunStreams:
    """One stream of uniform doubles per run, drawn in blocks and read one value at a time.

    :param seed: an int, a Generator or ``None``; run ``r`` uses ``as_generator(seed).spawn(runs)[r]``.
    :param runs: number of runs ``R``.
    :param block: how many doubles each run keeps ready (only speed depends on it).

    >>> s = RunStreams(0, 3)
    >>> u = s.draw()                       # one double for each run
    >>> v = np.random.default_rng(0).spawn(3)[1].random()
    >>> bool(u[1] == v)
    True
    """

    def __init__(self, seed: SeedLike, runs: int, *, block: int = 1024) -> None:
        if runs < 1:
            raise RlkitError(f"runs must be >= 1, got {runs}")
        check_memory(int(runs) * (8.0 * block + 2000), f"{int(runs):,} runs (their random streams)",
                     where="runs")
        self.generators: list[np.random.Generator] = as_generator(seed).spawn(int(runs))
        self.runs = int(runs)
        self.block = int(block)
        self._buf = np.empty((self.runs, self.block))
        for r, g in enumerate(self.generators):
            g.random(out=self._buf[r])
        self._ptr = np.zeros(self.runs, dtype=np.intp)
        self._hi = 0                                  # upper bound of max(self._ptr)
        self._flat = self._buf.reshape(-1)
        self._base = np.arange(self.runs, dtype=np.intp) * self.block

    def _refill(self) -> None:
        # move each run's unread values to the front and top the buffer up from its generator:
        # the run's stream continues in order
        ptr = self._ptr
        for r, g in enumerate(self.generators):
            keep = self.block - int(ptr[r])
            if keep < self.block:
                self._buf[r, :keep] = self._buf[r, ptr[r]:]
                g.random(out=self._buf[r, keep:])
        ptr[:] = 0
        self._hi = 0

    def draw(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The next uniform double of each run in ``rows`` (distinct run indices; None: all runs)."""
        if self._hi >= self.block:
            self._refill()
        self._hi += 1
        if rows is None:
            u = self._flat[self._base + self._ptr]
            self._ptr += 1
            return u
        ptr = self._ptr[rows]
        self._ptr[rows] = ptr + 1
        return self._flat[self._base[rows] + ptr]


def cdf_rows(p: np.ndarray) -> np.ndarray:
    """Cumulative distribution of each row of ``p`` (last axis), normalised as ``Generator.choice``
    does it (``cumsum`` then divide by the last entry)."""
    c = np.cumsum(np.asarray(p, dtype=float), axis=-1)
    c /= c[..., -1:]
    return c


def sample_categorical(cdf: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category drawn from row ``rows[i]`` of the cumulative table ``cdf`` (n_rows, n) with
    uniform ``u[i]`` (same rule as :func:`inverse_cdf`); cheap for a few categories."""
    n = cdf.shape[1]
    if n > 6:
        return inverse_cdf(cdf[rows], u)
    out = np.zeros(u.size, np.intp)
    for k in range(n - 1):                      # the last cumulative entry is 1 > u
        out += cdf[rows, k] <= u
    return out


def inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category of each row: the first index whose cumulative probability exceeds ``u``
    (``searchsorted(..., side="right")``, as in ``Generator.choice``).

    :param cdf: (k, n) cumulative rows from :func:`cdf_rows` (entries after the last may be +inf).
    :param u: (k,) uniforms in [0, 1).
    """
    return (cdf <= u[:, None]).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Sources: where transitions come from
# ---------------------------------------------------------------------------------------------


class Source:
    """What the samplers and learners need from an environment (a model or a Gymnasium env).

    Attributes: ``n_states``, ``n_actions``, ``gamma``, ``states`` (names), ``actions`` (names),
    ``terminal`` (bool (S,) or ``None`` when unknown), ``model`` (the rlkit model or ``None``),
    ``is_mrp`` (no actions to choose), ``name``.
    """

    n_states: int
    n_actions: int
    gamma: float
    states: list[str]
    actions: list[str]
    terminal: np.ndarray | None
    model: Any = None
    is_mrp: bool = False
    name: str = ""
    can_set_state: bool = False

    def reset(self, rows: np.ndarray, streams: RunStreams,
              start: np.ndarray | None = None) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, rows: np.ndarray, states: np.ndarray, actions: np.ndarray,
             streams: RunStreams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance runs ``rows`` from ``states`` by ``actions``; returns next states, rewards,
        terminated, truncated (each (k,))."""
        raise NotImplementedError  # pragma: no cover - interface

    def close(self) -> None:
        """Release resources (Gymnasium environments)."""


def start_distribution(start: Any, n_states: int, states: list[str], terminal: np.ndarray,
                       meta: dict | None = None) -> np.ndarray:
    """Resolve a start specification into a distribution over states (S,):
    :func:`rlkit.mdp.models.start_distribution`, refusing mass on terminal states.

    :param start: ``None`` (``meta["initial"]`` if given, else uniform over the non-terminal
        states), ``"uniform"``, a state name or index, a list of names/indices (uniform over them),
        ``{state: probability}`` or an (S,) probability vector.
    """
    if start is None and meta:
        start = meta.get("initial")
    return model_start_distribution(start, states, np.asarray(terminal, bool), field="start")


class ModelSource(Source):
    """Sample transitions from a finite model (rlkit ``MDP`` or ``MRP``), vectorised over runs.

    Next states come from the inverse CDF of the row ``P[a, s, :]`` (only its non-zero entries are
    kept, padded with +inf, so a step costs O(runs x max nonzeros per row)).

    Rewards: a model stores the *expected* reward ``R[s, a]`` (an MRP's ``R[s]``), and that is what
    a sampled step receives, unless the model also keeps the reward of each transition in
    ``transition_rewards`` (or an attribute ``R_sas``): (A, S, S) for an MDP, (S, S) for an
    MRP. Then a step from ``s`` by ``a`` to ``s'`` receives ``R[a, s, s']``, as in the textbook
    examples (random walk: +1 on entering the right end rather than 0.5 on every step out of E).
    Both give unbiased value estimates; only the variance differs.

    :param model: an rlkit ``MDP`` or ``MRP`` (anything with ``P``, ``R``, ``gamma``, ``terminal``).
    :param gamma: override the model's discount.
    :param start: see :func:`start_distribution`.
    """

    can_set_state = True

    def __init__(self, model: Any, *, gamma: float | None = None, start: Any = None) -> None:
        if not hasattr(model, "R"):
            raise RlkitError("a Markov chain has no rewards: give an MRP or an MDP to evaluate or control")
        self.model = model
        P = model.P
        sparse = isinstance(P, (list, tuple))
        if sparse:
            A, S = len(P), P[0].shape[0]
        else:
            P = np.asarray(P)
            if P.ndim == 2:
                P = P[None]
            A, S = P.shape[0], P.shape[1]
        self.is_mrp = np.ndim(model.R) == 1 or (not sparse and np.asarray(model.P).ndim == 2)
        self.n_states, self.n_actions = int(S), int(A)
        self.gamma = float(model.gamma if gamma is None else gamma)
        if not 0.0 <= self.gamma <= 1.0:
            raise RlkitError(f"gamma must be in [0, 1], got {self.gamma}", where="gamma")
        self.states = [str(s) for s in (getattr(model, "states", None) or range(S))]
        acts = getattr(model, "actions", None)
        self.actions = [str(a) for a in acts] if acts else [str(a) for a in range(A)]
        term = getattr(model, "terminal", None)
        self.terminal = np.zeros(S, bool) if term is None else np.asarray(term, bool).copy()
        self.meta = dict(getattr(model, "meta", None) or {})
        gym_id = self.meta.get("gym_id")
        name = getattr(model, "name", None)
        self.name = str(name or (f"gym:{gym_id}" if gym_id else type(model).__name__))
        R = np.asarray(model.R, dtype=float)
        self.R = R.reshape(S, 1) if R.ndim == 1 else R                       # (S, A)
        r3 = getattr(model, "R_sas", None)
        if r3 is None:
            r3 = getattr(model, "transition_rewards", None)
        self.R_sas = None
        if r3 is not None:
            r3 = np.asarray(r3.toarray() if hasattr(r3, "toarray") else r3, dtype=float)
            if r3.shape == (S, S):
                r3 = r3[None]
            if r3.shape != (A, S, S) or not np.isfinite(r3).all():
                raise RlkitError(f"transition rewards must be finite with shape ({A}, {S}, {S}) "
                                 f"(or ({S}, {S}) for a reward process), got {r3.shape}",
                                 where="transition_rewards")
            self.R_sas = r3                                                    # (A, S, S)
        self._build_cdf(P, sparse)
        if start is None:
            start = getattr(model, "start", None)
        self.start = start_distribution(start, S, self.states, self.terminal)
        self.start_cdf = cdf_rows(self.start)[None]

    def _build_cdf(self, P: Any, sparse: bool) -> None:
        S, A = self.n_states, self.n_actions
        # row index s * A + a; keep non-zero entries only, cumulated over the full row
        if sparse:
            import scipy.sparse as sp

            blocks = [sp.csr_matrix(P[a]) for a in range(A)]
            rows_nnz = np.stack([np.diff(b.indptr) for b in blocks], axis=1).reshape(-1)   # (S*A,)
            K = int(rows_nnz.max())
            cdf = np.full((S * A, K), np.inf)
            idx = np.zeros((S * A, K), dtype=np.intp)
            for a, b in enumerate(blocks):
                b = b.copy()
                b.sort_indices()
                counts = np.diff(b.indptr)
                row_of = np.repeat(np.arange(S), counts)
                pos = np.arange(b.data.size) - b.indptr[row_of]
                # cumulate within rows in the same order numpy's cumsum over the dense row would
                within = _rowwise_cumsum(b.data, b.indptr)
                tot = within[b.indptr[1:] - 1]
                cdf[row_of * A + a, pos] = within / tot[row_of]
                idx[row_of * A + a, pos] = b.indices
        else:
            rows = np.ascontiguousarray(P.transpose(1, 0, 2)).reshape(S * A, S)
            nz = rows > 0
            K = int(nz.sum(axis=1).max())
            full = cdf_rows(rows)
            order = np.argsort(~nz, axis=1, kind="stable")[:, :K]              # non-zeros first
            idx = order.astype(np.intp)
            cdf = np.take_along_axis(full, order, axis=1)
            cdf[~np.take_along_axis(nz, order, axis=1)] = np.inf
        self._cdf, self._idx, self._K = cdf, idx, K
        # flat per-entry lookups: next state, reward and terminal flag of entry (row, k)
        rows_sa = np.repeat(np.arange(S * A), K)
        s_of, a_of = rows_sa // A, rows_sa % A
        nxt = idx.reshape(-1)
        if self.R_sas is not None:
            rew = self.R_sas[a_of, s_of, nxt]
        else:
            rew = self.R[s_of, a_of]
        self._cdf_f = cdf.reshape(-1)
        self._idx_f = nxt
        self._rew_f = rew.astype(float)
        self._term_f = self.terminal[nxt]

    def reset(self, rows: np.ndarray | None, streams: RunStreams,
              start: np.ndarray | None = None) -> np.ndarray:
        """Draw a start state for each run in ``rows`` (one uniform each; None: all runs)."""
        u = streams.draw(rows)
        cdf = self.start_cdf if start is None else cdf_rows(start)[None]
        return inverse_cdf(np.broadcast_to(cdf, (u.size, self.n_states)), u)

    def step(self, rows, states, actions, streams):
        nxt, rew, term = self.step_fast(rows, states, actions, streams)
        return nxt, rew, term, np.zeros(states.size, bool)

    def step_fast(self, rows: np.ndarray | None, states: np.ndarray, actions: np.ndarray | None,
                  streams: RunStreams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`step` without the (always False) truncation flags; ``actions`` None for an MRP."""
        u = streams.draw(rows)
        K = self._K
        row = states if actions is None else states * self.n_actions + actions
        j = row * K if K > 1 else row
        if K == 1:
            pass
        elif K <= 8:
            cdf = self._cdf_f
            for k in range(K - 1):        # the last non-zero entry has cumulative 1 > u
                j = j + (cdf[row * K + k] <= u)
        else:
            j = j + inverse_cdf(self._cdf[row], u)
        return self._idx_f[j], self._rew_f[j], self._term_f[j]


def _rowwise_cumsum(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each CSR row, computed sequentially per row like ``np.cumsum``."""
    out = np.empty_like(data, dtype=float)
    lengths = np.diff(indptr)
    if data.size == 0:
        return out
    K = int(lengths.max())
    # column-by-column over the padded rows keeps the left-to-right summation order of cumsum
    n = lengths.size
    acc = np.zeros(n)
    for k in range(K):
        has = lengths > k
        pos = indptr[:-1][has] + k
        acc[has] = acc[has] + data[pos]
        out[pos] = acc[has]
    return out


def _discrete_n(space: Any, what: str, env_name: str, method: str | None) -> tuple[int, int]:
    from gymnasium.spaces import Discrete

    if not isinstance(space, Discrete):
        m = f"method {method!r}" if method else "a tabular method"
        raise RlkitError(f"{m} needs a Discrete {what} space, but {env_name} has {space}; "
                         + (NEURAL_HINT if what == "observation" else "use a discrete-action environment"))
    return int(space.n), int(space.start)


class GymSource(Source):
    """Sample transitions from ``R`` copies of a Gymnasium environment with discrete observations
    and actions (one environment per run, stepped in a loop; no model needed).

    :param env: an env id (``"FrozenLake-v1"``, ``"gym:FrozenLake-v1"``), a ``gymnasium.Env``
        (copied per run through its spec, else deep-copied) or a callable returning a new env.
    :param runs: number of environments to make.
    :param gamma: the discount used by the learners (default 1.0).
    :param method: the caller's method name, for error messages.
    """

    def __init__(self, env: Any, runs: int, *, gamma: float | None = None,
                 env_kwargs: dict | None = None, method: str | None = None) -> None:
        import copy

        import gymnasium as gym

        try:
            import rlkit.envs  # noqa: F401  (registers rlkit/ environments)
        except Exception:  # pragma: no cover - optional
            pass
        kw = dict(env_kwargs or {})
        if isinstance(env, str):
            env_id = env[4:] if env.startswith("gym:") else env
            try:
                self.envs = [gym.make(env_id, **kw) for _ in range(runs)]
            except Exception as exc:  # gymnasium raises several error types for unknown ids
                raise RlkitError(f"cannot make Gymnasium env {env_id!r}: {exc}") from None
            self.name = env_id
        elif callable(env) and not isinstance(env, gym.Env):
            self.envs = [env() for _ in range(runs)]
            self.name = getattr(self.envs[0].spec, "id", type(self.envs[0]).__name__)
        else:
            spec = getattr(env, "spec", None)
            if spec is not None and not kw:
                self.envs = [env] + [gym.make(spec) for _ in range(runs - 1)]
            else:
                self.envs = [env] + [copy.deepcopy(env) for _ in range(runs - 1)]
            self.name = getattr(spec, "id", type(env).__name__)
        e = self.envs[0]
        self.n_states, self._obs_start = _discrete_n(e.observation_space, "observation", self.name, method)
        self.n_actions, self._act_start = _discrete_n(e.action_space, "action", self.name, method)
        self.gamma = 1.0 if gamma is None else float(gamma)
        if not 0.0 <= self.gamma <= 1.0:
            raise RlkitError(f"gamma must be in [0, 1], got {self.gamma}", where="gamma")
        self.states = [str(s + self._obs_start) for s in range(self.n_states)]
        self.actions = [str(a + self._act_start) for a in range(self.n_actions)]
        self.terminal = None
        self.model = None
        self._seeded = np.zeros(runs, bool)
        self._seeds: list[int] | None = None

    def _env_seed(self, streams: RunStreams, r: int) -> int:
        if self._seeds is None:
            # children of each run's generator: seeding the envs leaves the runs' streams untouched
            self._seeds = [int(g.spawn(1)[0].integers(2**31 - 1)) for g in streams.generators]
        return self._seeds[r]

    def reset(self, rows, streams, start=None):
        if start is not None:
            raise RlkitError(f"{self.name} is a Gymnasium env without a model: its start state cannot be "
                             "chosen (exploring starts need a model; use mc-control with epsilon)")
        out = np.empty(rows.size, dtype=np.intp)
        for i, r in enumerate(rows):
            seed = None if self._seeded[r] else self._env_seed(streams, int(r))
            self._seeded[r] = True
            obs, _ = self.envs[r].reset(seed=seed)
            out[i] = int(obs) - self._obs_start
        return out

    def step(self, rows, states, actions, streams):
        k = rows.size
        nxt = np.empty(k, dtype=np.intp)
        rew = np.empty(k)
        term = np.empty(k, bool)
        trunc = np.empty(k, bool)
        for i, r in enumerate(rows):
            obs, reward, te, tr, _ = self.envs[r].step(int(actions[i]) + self._act_start)
            nxt[i], rew[i], term[i], trunc[i] = int(obs) - self._obs_start, reward, te, tr
        return nxt, rew, term, trunc

    def close(self) -> None:
        for e in self.envs:
            e.close()


def _is_gym_env(env: Any) -> bool:
    try:
        import gymnasium as gym
    except ImportError:  # pragma: no cover
        return False
    return isinstance(env, gym.Env)


def make_source(env: Any, *, runs: int = 1, gamma: float | None = None, start: Any = None,
                env_kwargs: dict | None = None, method: str | None = None) -> Source:
    """Turn what the user gave into a :class:`Source`.

    :param env: an rlkit ``MDP``/``MRP``; a spec string resolved by ``rlkit.mdp.load`` (catalog name,
        file, ``gym:<Id>`` with a transition model); ``gym:<Id>`` of an env without a model, a
        ``gymnasium.Env`` or a callable making one (sampled through Gymnasium, discrete spaces only);
        or an existing :class:`Source`.
    :param runs: number of runs (Gymnasium sources make one env per run).
    :param gamma: override the discount.
    :param start: start states of a model (see :func:`start_distribution`).
    :param env_kwargs: keyword arguments for catalog entries / Gymnasium envs.
    :param method: the caller's method name (for error messages).
    """
    if isinstance(env, Source):
        return env
    if isinstance(env, str) or hasattr(env, "__fspath__"):
        spec = str(env)
        if spec.startswith("gym:"):
            import gymnasium as gym

            env_id = spec[4:]
            try:
                probe = gym.make(env_id, **(env_kwargs or {}))
            except Exception as exc:
                raise RlkitError(f"cannot make Gymnasium env {env_id!r}: {exc}") from None
            has_model = hasattr(probe.unwrapped, "P")
            _discrete_n(probe.observation_space, "observation", env_id, method)
            probe.close()
            if not has_model:
                return GymSource(env_id, runs, gamma=gamma, env_kwargs=env_kwargs, method=method)
        from rlkit.mdp import load

        model = load(spec, gamma=gamma, env_kwargs=env_kwargs)
        src = ModelSource(model, start=start)
        if src.name in ("MDP", "MRP"):
            src.name = spec
        return src
    if _is_gym_env(env) or callable(env) and not hasattr(env, "P"):
        return GymSource(env, runs, gamma=gamma, env_kwargs=env_kwargs, method=method)
    if hasattr(env, "P"):
        return ModelSource(env, gamma=gamma, start=start)
    raise RlkitError(f"cannot use {type(env).__name__} as an environment: give an rlkit MDP/MRP, a spec "
                     "string (catalog name, file, gym:<Id>) or a Gymnasium env")


# ---------------------------------------------------------------------------------------------
# Rollouts of a fixed policy: the step stream that every prediction method reads
# ---------------------------------------------------------------------------------------------


@dataclass
class Transitions:
    """The experience of ``R`` runs under a fixed policy, as one step stream per run.

    Column ``t`` holds each run's ``t``-th transition (runs restart a new episode right after one
    ends, so episodes of a run follow each other; a run that has done its episodes is padded,
    ``valid`` False). Arrays are (R, T):

    :param states: state index before the step.
    :param actions: action taken (0 for a reward process).
    :param rewards: reward received.
    :param next_states: state after the step.
    :param terminated: the episode ended in a terminal state (no bootstrapping).
    :param ends: the step is the last of its episode (terminated or truncated).
    :param valid: the entry is a real step (False: padding after the run's last episode).
    :param episode: index of the episode the step belongs to (-1 on padding).
    :param lengths: (R, E) steps of each episode.
    :param returns: (R, E) undiscounted sum of rewards of each episode.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    terminated: np.ndarray
    ends: np.ndarray
    valid: np.ndarray
    episode: np.ndarray
    lengths: np.ndarray
    returns: np.ndarray
    n_states: int
    n_actions: int
    gamma: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return int(self.states.shape[0])

    @property
    def episodes(self) -> int:
        return int(self.lengths.shape[1])

    def repeat(self, k: int) -> Transitions:
        """The runs repeated ``k`` times (run ``q * R + r`` is run ``r``): the same experience for
        ``k`` learners, e.g. one per step size."""
        def rep(a: np.ndarray) -> np.ndarray:
            return np.tile(a, (k,) + (1,) * (a.ndim - 1))

        return Transitions(states=rep(self.states), actions=rep(self.actions), rewards=rep(self.rewards),
                           next_states=rep(self.next_states), terminated=rep(self.terminated),
                           ends=rep(self.ends), valid=rep(self.valid), episode=rep(self.episode),
                           lengths=rep(self.lengths), returns=rep(self.returns), n_states=self.n_states,
                           n_actions=self.n_actions, gamma=self.gamma, info=dict(self.info))

    def discounted_returns(self, gamma: float | None = None) -> np.ndarray:
        """G_t of every step (R, T): ``r_t + gamma * G_{t+1}`` within its episode (a truncated
        episode's return stops at the truncation)."""
        g = self.gamma if gamma is None else float(gamma)
        R, T = self.states.shape
        G = np.zeros((R, T))
        nxt = np.zeros(R)
        cont = (~self.ends).astype(float)
        for t in range(T - 1, -1, -1):
            nxt = self.rewards[:, t] + g * nxt * cont[:, t]
            G[:, t] = nxt
        return G

    def episode_list(self, run: int) -> list[dict[str, np.ndarray]]:
        """The episodes of one run as dicts of arrays (states, actions, rewards, next_states,
        terminated) -- handy for checking an algorithm by hand."""
        out = []
        for k in range(self.episodes):
            m = self.episode[run] == k
            out.append({"states": self.states[run, m], "actions": self.actions[run, m],
                        "rewards": self.rewards[run, m], "next_states": self.next_states[run, m],
                        "terminated": self.terminated[run, m]})
        return out


PolicyLike = np.ndarray | Callable[[np.ndarray], np.ndarray] | None


def rollout(source: Source, policy: PolicyLike, *, episodes: int, runs: int = 1, seed: SeedLike = None,
            max_steps: int | None = None, start: np.ndarray | None = None) -> Transitions:
    """Play ``episodes`` episodes in each of ``runs`` independent runs under a fixed policy.

    Per run and step the draws are: a start state (when an episode begins), an action (unless
    the source is a reward process), a next state (model sources). Each takes one uniform of the
    run's stream (see the module docstring).

    :param source: from :func:`make_source`.
    :param policy: (S, A) row-stochastic matrix, or a callable ``states (k,) -> probabilities (k, A)``;
        ``None`` for a reward process.
    :param episodes: episodes per run (> 0).
    :param runs: independent runs.
    :param seed: seed or Generator.
    :param max_steps: truncate an episode after this many steps (default 10 000).
    :param start: override the source's start distribution, (S,).

    >>> import numpy as np
    >>> from rlkit.tabular.sampling import ModelSource, rollout
    >>> class Walk:                    # 0 <- 1 <-> 2 <-> 3 -> 4, reward 1 at the right end
    ...     P = np.array([[[1,0,0,0,0],[1,0,0,0,0],[0,1,0,0,0],[0,0,1,0,0],[0,0,0,0,1]],
    ...                   [[1,0,0,0,0],[0,0,1,0,0],[0,0,0,1,0],[0,0,0,0,1],[0,0,0,0,1]]], float)
    ...     R = np.array([[0, 0], [0, 0], [0, 0], [0, 1], [0, 0]], float)
    ...     gamma, terminal = 1.0, np.array([1, 0, 0, 0, 1], bool)
    >>> tr = rollout(ModelSource(Walk(), start=2), np.full((5, 2), 0.5), episodes=3, runs=4, seed=0)
    >>> tr.lengths.shape, bool(tr.terminated[tr.ends].all())
    ((4, 3), True)
    """
    if episodes < 1:
        raise RlkitError(f"episodes must be > 0, got {episodes}", where="episodes")
    max_steps = DEFAULT_MAX_STEPS if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise RlkitError(f"max_steps must be > 0, got {max_steps}", where="max_steps")
    R, E = int(runs), int(episodes)
    if R < 1:
        raise RlkitError(f"runs must be >= 1, got {runs}", where="runs")
    check_memory(R * (8.0 * 1024 + 2000) + 16.0 * R * E, f"{R:,} runs x {E:,} episodes",
                 where="runs, episodes")
    if not source.is_mrp and policy is None:
        raise RlkitError("a policy is needed to sample an MDP", where="policy")
    if isinstance(source, ModelSource) and not callable(policy):
        return _rollout_model(source, policy, E, R, seed, max_steps, start)
    streams = RunStreams(seed, R)
    draw_actions = not source.is_mrp
    pol_cdf = None if (not draw_actions or callable(policy)) else cdf_rows(np.asarray(policy, dtype=float))

    cap = 1024
    states, actions, rewards, next_states, terminated, ends = _stream_arrays(R, cap)
    episode = np.full((R, cap), -1, np.intp)
    lengths = np.zeros((R, E), np.intp)
    returns = np.zeros((R, E))

    ep = np.zeros(R, np.intp)
    t_ep = np.zeros(R, np.intp)
    ret = np.zeros(R)
    rows_all = np.arange(R)
    s = source.reset(rows_all, streams, start)
    t = 0
    while True:
        rows = rows_all[ep < E]
        if rows.size == 0:
            break
        if t == cap:
            def grow(a: np.ndarray, fill: Any) -> np.ndarray:
                return np.concatenate([a, np.full_like(a, fill)], axis=1)

            states, actions, rewards = grow(states, 0), grow(actions, 0), grow(rewards, 0)
            next_states = grow(next_states, 0)
            terminated, ends, episode = grow(terminated, False), grow(ends, False), grow(episode, -1)
            cap *= 2
        ss = s[rows]
        if not draw_actions:
            a = np.zeros(rows.size, np.intp)
        elif pol_cdf is not None:
            a = sample_categorical(pol_cdf, ss, streams.draw(rows))
        else:
            a = inverse_cdf(cdf_rows(np.asarray(policy(ss), dtype=float)), streams.draw(rows))
        s2, r, term, trunc = source.step(rows, ss, a, streams)
        t_ep[rows] += 1
        end = term | trunc | (t_ep[rows] >= max_steps)
        states[rows, t], actions[rows, t], rewards[rows, t], next_states[rows, t] = ss, a, r, s2
        terminated[rows, t], ends[rows, t], episode[rows, t] = term, end, ep[rows]
        ret[rows] += r
        s[rows] = s2
        if end.any():
            done = rows[end]
            lengths[done, ep[done]] = t_ep[done]
            returns[done, ep[done]] = ret[done]
            ep[done] += 1
            again = done[ep[done] < E]
            if again.size:
                s[again] = source.reset(again, streams, start)
            t_ep[done] = 0
            ret[done] = 0.0
        t += 1
    valid = episode[:, :t] >= 0
    ends = ends[:, :t] & valid
    terminated = terminated[:, :t] & valid
    return Transitions(states=states[:, :t], actions=actions[:, :t], rewards=rewards[:, :t],
                       next_states=next_states[:, :t], terminated=terminated, ends=ends, valid=valid,
                       episode=episode[:, :t],
                       lengths=lengths, returns=returns, n_states=source.n_states,
                       n_actions=source.n_actions, gamma=source.gamma,
                       info={"source": source.name, "max_steps": max_steps})


def _stream_arrays(runs: int, steps: int) -> tuple[np.ndarray, ...]:
    """Zeroed (runs, steps) arrays of a step stream: states, actions, rewards, next states,
    terminated, ends."""
    shape = (runs, steps)
    return (np.zeros(shape, np.intp), np.zeros(shape, np.intp), np.zeros(shape), np.zeros(shape, np.intp),
            np.zeros(shape, bool), np.zeros(shape, bool))


def _padded_table(probs: np.ndarray, targets: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of probabilities (n, m) with the node each column leads to (n, m) -> cumulative table
    and targets of the non-zero entries, padded to K columns (cdf +inf, target 0)."""
    n = probs.shape[0]
    nz = probs > 0
    full = cdf_rows(probs)
    order = np.argsort(~nz, axis=1, kind="stable")[:, :K]
    cdf = np.take_along_axis(full, order, axis=1)
    tgt = np.take_along_axis(targets, order, axis=1)
    keep = np.take_along_axis(nz, order, axis=1)
    cdf[~keep] = np.inf
    tgt[~keep] = 0
    if order.shape[1] < K:
        pad = K - order.shape[1]
        cdf = np.concatenate([cdf, np.full((n, pad), np.inf)], axis=1)
        tgt = np.concatenate([tgt, np.zeros((n, pad), tgt.dtype)], axis=1)
    return cdf, tgt


def _rollout_model(source: ModelSource, policy: np.ndarray | None, E: int, R: int, seed: SeedLike,
                   max_steps: int, start: np.ndarray | None) -> Transitions:
    """Fixed-policy rollout of a model as one Markov chain per run, one uniform per sub-step.

    The nodes of the chain are the states (a draw picks the action: node (s, a)), the pairs (s, a)
    (a draw picks the next state), and a restart node (a draw picks a start state); a terminal state
    leads to the restart node's draw. Every run then takes exactly one uniform per sub-step, in the
    order a plain loop takes them (start, action, next state, action, ...), so the uniforms of all
    runs come from one (R, block) array and a sub-step is half a dozen numpy operations.
    """
    S, A = source.n_states, source.n_actions
    mrp = source.is_mrp
    term = source.terminal
    start_d = source.start if start is None else start_distribution(start, S, source.states, term)
    K0 = source._K
    # --- node tables: rows of (cumulative probability, entry -> next node) ------------------------
    # node ids: states 0..S-1, pairs S + s*A + a (MDP only), restart node last
    n_pair = 0 if mrp else S * A
    ROOT = S + n_pair
    k_pol = 0 if mrp else int((np.asarray(policy) > 0).sum(axis=1).max())
    k_start = int((start_d > 0).sum())
    K = max(K0 if mrp else max(K0, k_pol), k_start)
    n_nodes = ROOT + 1
    cdf = np.full((n_nodes, K), np.inf)
    tgt = np.zeros((n_nodes, K), np.intp)
    kind = np.zeros((n_nodes, K), np.int8)          # 0 action, 1 transition, 2 restart
    e_s = np.zeros((n_nodes, K), np.intp)
    e_a = np.zeros((n_nodes, K), np.intp)
    e_r = np.zeros((n_nodes, K))
    sc, st = _padded_table(start_d[None], np.arange(S)[None], K)
    trans_cdf = np.full((S * A, K), np.inf)
    trans_cdf[:, :K0] = source._cdf
    trans_tgt = np.zeros((S * A, K), np.intp)
    trans_tgt[:, :K0] = source._idx
    trans_rew = np.zeros((S * A, K))
    trans_rew[:, :K0] = source._rew_f.reshape(S * A, K0)
    if mrp:
        cdf[:S], tgt[:S], kind[:S] = trans_cdf, trans_tgt, 1
        e_s[:S] = np.arange(S)[:, None]
        e_r[:S] = trans_rew
    else:
        pol = np.asarray(policy, dtype=float)
        pc, pt = _padded_table(pol, S + np.arange(S)[:, None] * A + np.arange(A)[None], K)
        cdf[:S], tgt[:S], kind[:S] = pc, pt, 0
        e_s[:S] = np.arange(S)[:, None]
        rows = slice(S, S + n_pair)
        cdf[rows], tgt[rows], kind[rows] = trans_cdf, trans_tgt, 1
        e_s[rows] = (np.arange(S * A) // A)[:, None]
        e_a[rows] = (np.arange(S * A) % A)[:, None]
        e_r[rows] = trans_rew
    restart_rows = np.append(np.flatnonzero(term), ROOT)
    cdf[restart_rows], tgt[restart_rows], kind[restart_rows] = sc, st, 2
    e_r[restart_rows] = 0.0
    cdf_f, tgt_f, kind_f = cdf.reshape(-1), tgt.reshape(-1), kind.reshape(-1)
    is_trans_f = kind_f == 1
    term_node = np.zeros(n_nodes, bool)
    term_node[:S] = term
    ends_f = is_trans_f & term_node[tgt_f]            # transition into a terminal state

    # --- the chain ------------------------------------------------------------------------------
    gens = as_generator(seed).spawn(R)
    block = 1024
    U = np.empty((R, block))
    chunk = 32
    cap = 2048
    X = np.zeros((R, cap), np.intp)
    TR = np.zeros((R, cap), bool)               # truncated after this entry
    base_f = tgt_f * K                          # entry -> first entry of the node it leads to
    cols = [cdf_f[c:] for c in range(K)]        # cols[c][b] = cdf_f[b + c]
    base = np.full(R, ROOT * K, np.intp)        # first entry of each run's current node
    n_end = np.zeros(R, np.intp)                # episodes ended so far
    ep_len = np.zeros(R, np.intp)               # transitions in the current episode
    k = 0
    while True:
        if k % block == 0:
            for r, g in enumerate(gens):
                g.random(out=U[r])
        if k + chunk > cap:
            X = np.concatenate([X, np.zeros_like(X)], axis=1)
            TR = np.concatenate([TR, np.zeros_like(TR)], axis=1)
            cap *= 2
        careful = int(ep_len.max()) + chunk >= max_steps
        k0 = k
        for _ in range(chunk):
            u = U[:, k % block]
            if K == 1:
                j = base
            elif K <= 4:
                j = base + (cols[0][base] <= u)
                for c in range(1, K - 1):
                    j += cols[c][base] <= u
            else:
                j = base + (cdf[base // K] <= u[:, None]).sum(axis=1)
            X[:, k] = j
            base = base_f[j]
            if careful:
                ep_len = np.where(kind_f[j] == 2, 0, ep_len + is_trans_f[j])
                cut = (ep_len >= max_steps) & is_trans_f[j] & ~ends_f[j]
                if cut.any():
                    TR[cut, k] = True
                    base[cut] = ROOT * K
                    ep_len[cut] = 0
            k += 1
            if k % block == 0:
                break
        J = X[:, k0:k]
        endings = ends_f[J] | TR[:, k0:k]
        n_end += endings.sum(axis=1)
        if not careful:
            # transitions since the last restart entry of the chunk (or added to the running count)
            restart = kind_f[J] == 2
            trans = is_trans_f[J]
            any_restart = restart.any(axis=1)
            last = J.shape[1] - 1 - np.argmax(restart[:, ::-1], axis=1)
            after = np.cumsum(trans[:, ::-1], axis=1)[:, ::-1]     # transitions from column c on
            nxt_col = np.minimum(last + 1, J.shape[1] - 1)
            tail = np.where(last + 1 < J.shape[1], after[np.arange(R), nxt_col], 0)
            ep_len = np.where(any_restart, tail, ep_len + trans.sum(axis=1))
        if n_end.min() >= E:
            break

    # --- from entries to the transition stream -----------------------------------------------
    X, TR = X[:, :k], TR[:, :k]
    M = is_trans_f[X]
    col = np.cumsum(M, axis=1) - 1
    ri, ki = np.nonzero(M)
    ci = col[ri, ki]
    T_all = int(M.sum(axis=1).max())
    j = X[ri, ki]
    states, actions, rewards, next_states, terminated, ends = _stream_arrays(R, T_all)
    states[ri, ci] = e_s.reshape(-1)[j]
    actions[ri, ci] = e_a.reshape(-1)[j]
    rewards[ri, ci] = e_r.reshape(-1)[j]
    next_states[ri, ci] = tgt_f[j]
    terminated[ri, ci] = ends_f[j]
    ends[ri, ci] = ends_f[j] | TR[ri, ki]
    episode = np.cumsum(ends, axis=1) - ends
    valid = np.zeros((R, T_all), bool)
    valid[ri, ci] = True
    valid &= episode < E
    T = int(np.flatnonzero(valid.any(axis=0)).max()) + 1
    states, actions, rewards, next_states, terminated, ends, episode, valid = (
        a[:, :T] for a in (states, actions, rewards, next_states, terminated, ends, episode, valid))
    ends &= valid
    terminated &= valid
    episode = np.where(valid, episode, -1)
    states[~valid] = 0
    next_states[~valid] = 0
    actions[~valid] = 0
    rewards[~valid] = 0.0
    rr, cc = np.nonzero(valid)
    lengths = np.zeros((R, E), np.intp)
    np.add.at(lengths, (rr, episode[rr, cc]), 1)
    returns = np.zeros((R, E))
    np.add.at(returns, (rr, episode[rr, cc]), rewards[rr, cc])
    return Transitions(states=states, actions=actions, rewards=rewards, next_states=next_states,
                       terminated=terminated, ends=ends, valid=valid, episode=episode, lengths=lengths,
                       returns=returns, n_states=S,
                       n_actions=A, gamma=source.gamma,
                       info={"source": source.name, "max_steps": max_steps, "substeps": k})

