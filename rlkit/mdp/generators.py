"""Parametrised MDPs of the catalog, built with vectorised numpy (no loop over states).

A catalog entry such as ``envs/gambler.yaml`` names a generator (``generator: gambler``) and its
default parameters (``params: {p_h: 0.4}``); :func:`rlkit.mdp.io.load` calls the generator with those
parameters, updated by ``env_kwargs``. Every generator takes its parameters as keyword arguments
plus ``gamma`` and returns a model of :mod:`rlkit.mdp.models`.

Unavailable actions (a stake larger than the capital, moving cars one does not have) are encoded the
way every rlkit model encodes them: ``model.action_mask`` is an (S, A) bool array, and the row of a
masked action is a copy of the lowest-index allowed action of that state, so optimal values are
unchanged and every policy stays well defined (see :func:`apply_action_mask`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import stats

from rlkit._budget import check_memory
from rlkit.errors import RlkitError

__all__ = [
    "GENERATORS",
    "apply_action_mask",
    "forest",
    "gambler",
    "generator_params",
    "jacks_car_rental",
    "random_sparse",
    "random_walk",
]


def _models():
    from rlkit.mdp import models

    return models


def apply_action_mask(P: np.ndarray, R: np.ndarray, mask: np.ndarray) -> None:
    """In place: copy, for every disallowed (s, a), the transitions and reward of the state's
    lowest-index allowed action.

    :param P: dense (A, S, S) transition array.
    :param R: (S, A) expected rewards.
    :param mask: (S, A) bool, True where the action is available; every row needs one True.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any(axis=1).all():
        bad = np.flatnonzero(~mask.any(axis=1))
        raise RlkitError(f"action_mask: states {bad[:10].tolist()} have no allowed action")
    first = mask.argmax(axis=1)
    s_idx, a_idx = np.nonzero(~mask)
    P[a_idx, s_idx] = P[first[s_idx], s_idx]
    R[s_idx, a_idx] = R[s_idx, first[s_idx]]


def _check_prob(name: str, value: Any, *, open_low=False, open_high=False) -> float:
    try:
        v = float(value)
    except OverflowError:
        raise RlkitError(f"{name} is too large for a float (a number in [0, 1] is needed)") from None
    except (TypeError, ValueError):
        raise RlkitError(f"{name} must be a number in [0, 1], got {value!r}") from None
    lo_ok = v > 0 if open_low else v >= 0
    hi_ok = v < 1 if open_high else v <= 1
    if not (lo_ok and hi_ok) or math.isnan(v):
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise RlkitError(f"{name} must lie in {lo}0, 1{hi}, got {v}")
    return v


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise RlkitError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise RlkitError(f"{name} must be {rng}, got {value}")
    return value


def _stacked_mdp(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, R: np.ndarray, gamma: float,
                 actions: list[str], meta: dict):
    """An MDP from its stacked (A*S, S) CSR arrays (row ``a*S + s``), built right by the caller.

    No copy: the stacked matrix becomes the solvers' operator (``MDP._P_stack``) and ``P[a]`` are
    views of its rows, so a model of 10^7 states and 4*10^8 transitions costs its arrays and
    nothing more (the validating constructor would copy them twice). The states are named "0" ..
    str(S - 1) by :class:`~rlkit.mdp.models.IndexNames` (no 10^7 strings). No state is terminal
    (every generator using this pays a reward in every state).
    """
    models = _models()
    S, A = R.shape
    gamma = models._gamma(gamma)
    stack = sp.csr_array((data, indices, indptr), shape=(A * S, S))
    P = []
    for a in range(A):
        lo, hi = int(indptr[a * S]), int(indptr[(a + 1) * S])
        # set after construction: scipy's constructor copies a view of less than half its base
        m = sp.csr_array((S, S))
        m.data, m.indices, m.indptr = data[lo:hi], indices[lo:hi], indptr[a * S:(a + 1) * S + 1] - lo
        P.append(m)
    # the views above share data and indices; only the (S+1) row pointers of each are new
    mdp = models.MDP._from_validated(P, R, gamma, models.IndexNames(S), actions, np.zeros(S, dtype=bool),
                                     meta)
    mdp.__dict__["_P_stack"] = stack
    return mdp


def _index_dtype(n: int) -> type:
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _check_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except OverflowError:
        raise RlkitError(f"{name} is too large for a float") from None
    except (TypeError, ValueError):
        raise RlkitError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise RlkitError(f"{name} must be finite, got {v}")
    return v


# ------------------------------------------------------------------------------------------------
# Gambler's problem (Sutton & Barto, Example 4.3)
# ------------------------------------------------------------------------------------------------


def gambler(*, p_h: float = 0.4, goal: int = 100, gamma: float = 1.0):
    """The gambler's problem: capital s in 0..goal, stake 1..min(s, goal - s); heads (probability
    ``p_h``) wins the stake. Reward +1 on reaching ``goal``; 0 and ``goal`` are terminal, so V*(s) is
    the probability of reaching the goal.

    States are named ``"0" .. str(goal)``, actions (stakes) ``"1" .. str(goal // 2)``; stakes above
    min(s, goal - s) are masked (``model.action_mask``).

    :param p_h: probability of heads, in (0, 1).
    :param goal: the capital that wins (S&B: 100).
    :param gamma: discount (S&B: 1, undiscounted).

    Example::

        >>> from rlkit.mdp.generators import gambler
        >>> m = gambler(p_h=0.4)
        >>> m.n_states, m.n_actions
        (101, 50)
    """
    p_h = _check_prob("p_h", p_h, open_low=True, open_high=True)
    goal = _check_int("goal", goal, 2)
    check_memory(2 * 8.0 * (goal // 2) * (goal + 1) ** 2, f"gambler with goal={goal} (dense P)")
    S, A = goal + 1, goal // 2
    s = np.arange(S)[:, None]  # (S, 1)
    stake = np.arange(1, A + 1)[None, :]  # (1, A)
    mask = stake <= np.minimum(s, goal - s)  # (S, A)
    win = np.clip(s + stake, 0, goal)
    lose = np.clip(s - stake, 0, goal)
    P = np.zeros((A, S, S))
    a_idx = np.broadcast_to(np.arange(A)[None, :], (S, A))
    s_idx = np.broadcast_to(s, (S, A))
    np.add.at(P, (a_idx, s_idx, win), p_h)
    np.add.at(P, (a_idx, s_idx, lose), 1.0 - p_h)
    R = p_h * (win == goal).astype(float)
    terminal = np.zeros(S, dtype=bool)
    terminal[[0, goal]] = True
    mask[terminal] = True  # terminal rows are overwritten below; every action "allowed" there
    apply_action_mask(P, R, mask)
    P[:, terminal, :] = 0.0
    P[:, terminal, terminal.nonzero()[0]] = 1.0
    R[terminal] = 0.0
    meta = {"action_mask": mask, "description": f"gambler's problem, p_h={p_h}, goal={goal}"}
    return _models().MDP(
        P, R, gamma, states=[str(i) for i in range(S)], actions=[str(i) for i in range(1, A + 1)],
        terminal=terminal, meta=meta,
    )


# ------------------------------------------------------------------------------------------------
# Jack's car rental (Sutton & Barto, Example 4.2)
# ------------------------------------------------------------------------------------------------


def _location_matrix(max_cars: int, req_mean: float, ret_mean: float) -> tuple[np.ndarray, np.ndarray]:
    """One location overnight, exactly (Poisson tails lumped, nothing truncated away).

    Returns T (N+1, N+1) with T[m, e] = P(e cars in the evening | m cars in the morning) and the
    expected number of rentals E[m]. Rentals are min(requests, m); returns beyond capacity vanish.
    """
    N = max_cars
    n = np.arange(N + 1)
    req_pmf = stats.poisson.pmf(n, req_mean)
    # rent[m, k] = P(min(req, m) = k)
    rent = np.where(n[None, :] < n[:, None], req_pmf[None, :], 0.0)
    rent[n, n] = stats.poisson.sf(n - 1, req_mean)  # P(req >= m)
    expected_rented = rent @ n
    # left[m, l] = P(m - rented = l) = rent[m, m - l]
    diff = n[:, None] - n[None, :]
    left = np.where(diff >= 0, rent[n[:, None], np.clip(diff, 0, N)], 0.0)
    # ret[l, e] = P(min(l + returns, N) = e)
    d = n[None, :] - n[:, None]  # e - l
    ret = np.where(d >= 0, stats.poisson.pmf(np.clip(d, 0, None), ret_mean), 0.0)
    ret[:, N] = stats.poisson.sf(N - n - 1, ret_mean)  # P(returns >= N - l)
    return left @ ret, expected_rented


def jacks_car_rental(
    *,
    max_cars: int = 20,
    max_move: int = 5,
    rent_reward: float = 10.0,
    move_cost: float = 2.0,
    request_means: tuple[float, float] | list[float] = (3.0, 4.0),
    return_means: tuple[float, float] | list[float] = (3.0, 2.0),
    gamma: float = 0.9,
):
    """Jack's car rental: two locations with up to ``max_cars`` cars each; overnight Jack moves up to
    ``max_move`` cars (action a > 0 moves a cars from the first location to the second, a < 0 the
    other way) at ``move_cost`` each; every rental earns ``rent_reward``. Requests and returns are
    Poisson with the given means. Built exactly: rentals are min(requests, cars), cars beyond
    ``max_cars`` (returned or moved) leave the system, and the Poisson tails are lumped into the
    boundary instead of being cut off.

    State ``"n1,n2"`` has index ``n1 * (max_cars + 1) + n2``; actions are ``"-5" .. "5"``. Moving cars
    a location does not have is masked (``model.action_mask``). ``meta["value_shape"]`` =
    (max_cars + 1, max_cars + 1) lets plots draw values and policy as a heatmap.

    Values are those of the model as stated: S&B's Figure 4.2 (V* up to about 612) comes from code
    that drops the Poisson tails beyond 10 or so (probability mass leaks out each night); the exact
    model here gives V* from about 421 to 637, with the same policy iteration path (4 improvements
    from the no-move policy) and a policy of the same shape.

    :param max_cars: capacity of each location (S&B: 20).
    :param max_move: most cars moved overnight (S&B: 5).
    :param rent_reward: reward per rental (S&B: 10).
    :param move_cost: cost per car moved (S&B: 2).
    :param request_means: Poisson means of requests at the two locations (S&B: 3, 4).
    :param return_means: Poisson means of returns (S&B: 3, 2).
    :param gamma: discount (S&B: 0.9).

    Example::

        >>> from rlkit.mdp.generators import jacks_car_rental
        >>> m = jacks_car_rental()
        >>> m.n_states, m.n_actions
        (441, 11)
    """
    N = _check_int("max_cars", max_cars, 1, 200)
    M = _check_int("max_move", max_move, 0, N)
    check_memory(3 * 8.0 * (2 * M + 1) * (N + 1) ** 4, f"jacks-car-rental with max_cars={N}, max_move={M}")
    rent_reward = _check_float("rent_reward", rent_reward)
    move_cost = _check_float("move_cost", move_cost)
    means = []
    for name, pair in (("request_means", request_means), ("return_means", return_means)):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RlkitError(f"{name} must be a pair of numbers, got {pair!r}")
        vals = [_check_float(name, v) for v in pair]
        if min(vals) < 0:
            raise RlkitError(f"{name} must be non-negative, got {pair!r}")
        means.append(vals)
    T1, E1 = _location_matrix(N, means[0][0], means[1][0])
    T2, E2 = _location_matrix(N, means[0][1], means[1][1])

    moves = np.arange(-M, M + 1)  # (A,)
    n1, n2 = np.divmod(np.arange((N + 1) ** 2), N + 1)  # (S,)
    mask = (moves[None, :] <= n1[:, None]) & (-moves[None, :] <= n2[:, None])  # (S, A)
    m1 = np.clip(n1[None, :] - moves[:, None], 0, N)  # (A, S) morning counts
    m2 = np.clip(n2[None, :] + moves[:, None], 0, N)
    A, S = len(moves), (N + 1) ** 2
    P = (T1[m1][:, :, :, None] * T2[m2][:, :, None, :]).reshape(A, S, S)
    R = (rent_reward * (E1[m1] + E2[m2]) - move_cost * np.abs(moves)[:, None]).T.copy()
    apply_action_mask(P, R, mask)
    return _models().MDP(
        P, R, gamma,
        states=[f"{a},{b}" for a, b in zip(n1, n2, strict=True)],
        actions=[str(int(m)) for m in moves],
        meta={"action_mask": mask, "description": "Jack's car rental (S&B Example 4.2)",
              "value_shape": (N + 1, N + 1)},  # plots: a heatmap, rows n1, columns n2
    )


# ------------------------------------------------------------------------------------------------
# pymdptoolbox's forest management
# ------------------------------------------------------------------------------------------------


def forest(*, S: int = 3, r1: float = 4.0, r2: float = 2.0, p: float = 0.1, gamma: float = 0.9,
           sparse: bool | str = "auto"):
    """pymdptoolbox's forest-management MDP, the same arrays as ``mdptoolbox.example.forest``.

    State s is the age class of the forest (0 youngest, S - 1 oldest); action 0 ("wait") lets it age
    one class unless a fire (probability ``p``) resets it to 0; action 1 ("cut") earns 1 (``r2`` in
    the oldest state, 0 in state 0) and resets it. Waiting in the oldest state earns ``r1``.

    :param S: number of states (>= 2).
    :param r1: reward for waiting in the oldest state.
    :param r2: reward for cutting in the oldest state.
    :param p: probability of fire each year.
    :param gamma: discount.
    :param sparse: ``True`` for a list of CSR matrices, ``False`` for a dense array, ``"auto"``
        (sparse above 1000 states).

    Example::

        >>> from rlkit.mdp.generators import forest
        >>> forest(S=10**6).is_sparse
        True
    """
    S = _check_int("S", S, 2)
    r1, r2 = _check_float("r1", r1), _check_float("r2", r2)
    p = _check_prob("p", p)
    if sparse == "auto":
        sparse = S > 1000
    elif not isinstance(sparse, bool):
        raise RlkitError(f"sparse must be true, false or auto, got {sparse!r}")
    check_memory(200.0 * S if sparse else 3 * 16.0 * S * S, f"forest with S={S}")
    s = np.arange(S)
    nxt = np.minimum(s + 1, S - 1)
    R = np.zeros((S, 2), order="F")                # R.T, the solvers' (A, S) layout, is then a view
    R[S - 1, 0] = r1
    R[:, 1] = 1.0
    R[0, 1] = 0.0
    R[S - 1, 1] = r2
    meta = {"description": f"forest management (pymdptoolbox), S={S}"}
    if sparse:
        # stacked (2S, S) CSR written directly: "wait" rows hold (0: p, s+1: 1-p) (state S-1 stays),
        # "cut" rows (0: 1); p = 0 or 1 leaves explicit zeros, which are harmless
        it = _index_dtype(3 * S + 1)
        indptr = np.concatenate([np.arange(0, 2 * S + 1, 2, dtype=it),
                                 np.arange(2 * S + 1, 3 * S + 1, dtype=it)])
        indices = np.zeros(3 * S, dtype=it)
        indices[1:2 * S:2] = nxt
        data = np.ones(3 * S)
        data[0:2 * S:2] = p
        data[1:2 * S:2] = 1.0 - p
        return _stacked_mdp(indptr, indices, data, R, gamma, ["wait", "cut"], meta)
    else:
        P = np.zeros((2, S, S))
        P[0, s, 0] += p
        P[0, s, nxt] += 1.0 - p
        P[1, :, 0] = 1.0
    return _models().MDP(P, R, gamma, states=[str(i) for i in range(S)], actions=["wait", "cut"], meta=meta)


# ------------------------------------------------------------------------------------------------
# A random sparse MDP (the benchmark's)
# ------------------------------------------------------------------------------------------------


def random_sparse(*, S: int = 1000, A: int = 4, k: int = 10, seed: int = 0, gamma: float = 0.9):
    """A random sparse MDP: each (s, a) moves to ``k`` states drawn uniformly (with replacement),
    with Dirichlet(1, ..., 1) probabilities; rewards uniform on [0, 1). The standard hard case for
    sparse solvers (no structure for a direct factorisation; it mixes fast).

    Built in blocks of rows straight into the stacked (A*S, S) CSR arrays, with no dense or
    per-action intermediate: S = 10^7, A = 4, k = 10 takes its 4.8 GB (float64 values, int32
    columns) plus blocks of 10^6 rows. A successor drawn twice is kept as two entries (the
    matrix products sum them).

    :param S: states. :param A: actions. :param k: successors per state-action.
    :param seed: random seed (same seed, same model).
    :param gamma: discount.

    Example::

        >>> from rlkit.mdp.generators import random_sparse
        >>> m = random_sparse(S=100, A=2, k=3)
        >>> m.n_states, m.n_actions, m._P_stack.nnz, bool(abs(m._P_stack.sum(axis=1) - 1).max() < 1e-12)
        (100, 2, 600, True)
    """
    S = _check_int("S", S, 1)
    A = _check_int("A", A, 1)
    k = _check_int("k", k, 1)
    seed = _check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    rows, nnz = A * S, A * S * k
    it = _index_dtype(max(nnz, S) + 1)
    indptr = np.arange(0, nnz + 1, k, dtype=it)
    indices = np.empty(nnz, dtype=it)
    data = np.empty(nnz)
    block = max(1, (1 << 20) // k)                           # rows per block: about 10^6 entries
    for r0 in range(0, rows, block):
        r1 = min(rows, r0 + block)
        lo, hi = r0 * k, r1 * k
        indices[lo:hi] = rng.integers(0, S, size=hi - lo, dtype=it)
        w = data[lo:hi].reshape(r1 - r0, k)
        rng.standard_exponential(out=w)
        w /= w.sum(axis=1, keepdims=True)
    R = np.asfortranarray(rng.uniform(0.0, 1.0, size=(S, A)))   # R.T (the solvers' layout): a view
    return _stacked_mdp(indptr, indices, data, R, gamma, [f"a{i}" for i in range(A)],
                        {"description": f"random sparse MDP, S={S}, A={A}, k={k}, seed={seed}"})


# ------------------------------------------------------------------------------------------------
# Random walk (Sutton & Barto, Example 6.2)
# ------------------------------------------------------------------------------------------------


def random_walk(*, n: int = 5, gamma: float = 1.0):
    """The random walk MRP: ``n`` non-terminal states in a row (A, B, C, ... for n <= 26) between two
    terminals ``left`` and ``right``; each step goes left or right with probability 1/2; reward +1
    on entering ``right``, 0 otherwise. Episodes start in the middle state. With gamma = 1 the true
    values are k / (n + 1), k = 1..n.

    State order: ``left``, the n walk states, ``right``.

    :param n: number of non-terminal states (S&B Example 6.2: 5; Example 7.1: 19).
    :param gamma: discount.

    Example::

        >>> from rlkit.mdp.generators import random_walk
        >>> random_walk().states
        ['left', 'A', 'B', 'C', 'D', 'E', 'right']
    """
    n = _check_int("n", n, 1)
    check_memory(3 * 16.0 * (n + 2) ** 2, f"random-walk with n={n} (dense P)")
    S = n + 2
    P = np.zeros((S, S))
    k = np.arange(1, n + 1)
    P[k, k - 1] = 0.5
    P[k, k + 1] = 0.5
    P[0, 0] = P[S - 1, S - 1] = 1.0
    R = np.zeros((S, S))
    R[n, n + 1] = 1.0  # reward +1 on entering "right" (expected reward of E: 0.5)
    terminal = np.zeros(S, dtype=bool)
    terminal[[0, S - 1]] = True
    names = [chr(ord("A") + i) for i in range(n)] if n <= 26 else [f"s{i}" for i in range(1, n + 1)]
    initial = np.zeros(S)
    initial[(n + 1) // 2] = 1.0
    return _models().MRP(
        P, R, gamma, states=["left", *names, "right"], terminal=terminal,
        meta={"initial": initial, "description": f"random walk with {n} states (S&B Example 6.2)"},
    )


GENERATORS: dict[str, Callable[..., Any]] = {
    "gambler": gambler,
    "jacks-car-rental": jacks_car_rental,
    "forest": forest,
    "random-sparse": random_sparse,
    "random-walk": random_walk,
}


def generator_params(name: str) -> dict[str, Any]:
    """The parameters (name -> default) that generator ``name`` accepts, ``gamma`` excluded."""
    sig = inspect.signature(GENERATORS[name])
    return {k: v.default for k, v in sig.parameters.items() if k != "gamma"}
