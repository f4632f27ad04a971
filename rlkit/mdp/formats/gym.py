"""The ``gym:<EnvId>`` prefix: the model of a Gymnasium toy-text environment (read only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import _check_gamma
from rlkit.mdp.models import MDP, reachable_states

#: Discount used for ``gym:`` specs when none is given (Gymnasium envs carry no discount).
DEFAULT_GYM_GAMMA = 0.99

_GYM_ACTIONS = {
    "FrozenLakeEnv": ["left", "down", "right", "up"],
    "CliffWalkingEnv": ["up", "right", "down", "left"],
    "TaxiEnv": ["south", "north", "east", "west", "pickup", "dropoff"],
}
_GYM_TABULAR = "FrozenLake-v1, FrozenLake8x8-v1, Taxi-v4, CliffWalking-v1"


def read(spec: str, *, where: str | None = None, gamma: float | None = None,
         env_kwargs: dict | None = None) -> MDP:
    """``"gym:<EnvId>"`` -> the env's MDP (see :func:`from_gym`)."""
    env_id = str(spec).removeprefix("gym:").strip()
    if not env_id:
        raise RlkitError("gym: needs an environment id, e.g. gym:FrozenLake-v1")
    return from_gym(env_id, gamma=gamma, **(env_kwargs or {}))


def from_gym(env_id: str, *, gamma: float | None = None, **kwargs: Any) -> MDP:
    """The MDP of a Gymnasium environment that exposes its model as ``env.unwrapped.P``
    (``P[s][a] = [(prob, next_state, reward, terminated), ...]``, the toy-text convention).

    Terminal transitions are not bootstrapped: a transition flagged ``terminated`` leads to an
    absorbing zero-reward state, so V(s) is exactly the expected (discounted) episodic return. The
    states reached only through terminating transitions (FrozenLake's holes and goal, CliffWalking's
    goal, Taxi's delivered states) are marked terminal; if a state is also reached without
    terminating, one extra absorbing state ``"terminal"`` is added instead.
    Grid envs get ``model.grid`` and ``model.grid_map``; ``model.start`` is the env's start
    distribution. Time limits (``max_episode_steps``) are not part of the model.

    :param env_id: a Gymnasium id, e.g. ``"FrozenLake-v1"`` (``rlkit/...`` ids register rlkit's envs).
    :param gamma: discount (default :data:`DEFAULT_GYM_GAMMA`; Gymnasium envs carry none).
    :param kwargs: passed to ``gymnasium.make`` (e.g. ``is_slippery=False``, ``map_name="8x8"``).

    Example::

        >>> from rlkit.mdp.io import from_gym
        >>> m = from_gym("FrozenLake-v1", is_slippery=False)
        >>> m.n_states, m.n_actions, m.actions
        (16, 4, ['left', 'down', 'right', 'up'])
    """
    import gymnasium as gym

    where = f"gym:{env_id}"
    g = DEFAULT_GYM_GAMMA if gamma is None else _check_gamma(gamma)
    if env_id.startswith("rlkit/"):
        try:
            import rlkit.envs  # noqa: F401  (registers rlkit's environments)
        except ImportError:
            pass
    try:
        env = gym.make(env_id, **kwargs)
    except gym.error.DeprecatedEnv as exc:
        raise RlkitError(str(exc), where=where) from None
    except gym.error.Error as exc:
        raise RlkitError(f"unknown Gymnasium id: {exc}", where=where) from None
    except TypeError as exc:
        raise RlkitError(f"bad env_kwargs {kwargs}: {exc}", where=where) from None
    except Exception as exc:  # the env's constructor rejected its arguments
        raise RlkitError(f"could not make the env with env_kwargs {kwargs}: {type(exc).__name__}: {exc}",
                         where=where) from None
    try:
        return _mdp_from_env(env, env_id, g, kwargs, where)
    finally:
        env.close()


def _mdp_from_env(env: Any, env_id: str, gamma: float, kwargs: dict, where: str) -> MDP:
    from gymnasium import spaces

    u = env.unwrapped
    model = getattr(u, "P", None)
    if not isinstance(model, dict):
        raise RlkitError(f"{type(u).__name__} has no transition model (env.unwrapped.P), so it cannot be "
                         f"solved as an MDP; tabular envs that have one: {_GYM_TABULAR}", where=where)
    if not (isinstance(u.observation_space, spaces.Discrete) and isinstance(u.action_space, spaces.Discrete)):
        raise RlkitError(f"observation and action spaces must be Discrete, got {u.observation_space} and "
                         f"{u.action_space}", where=where)
    S, A = int(u.observation_space.n), int(u.action_space.n)
    rows = []
    try:
        for s in range(S):
            for a in range(A):
                for entry in model[s][a]:
                    p, s2, r, done = entry[:4]
                    rows.append((s, a, float(p), int(s2), float(r), bool(done)))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise RlkitError(f"env.unwrapped.P is not a toy-text model P[s][a] = [(p, s', r, done), ...]: "
                         f"{type(exc).__name__}: {exc}", where=where) from None
    arr = np.array(rows, dtype=np.float64)
    from_state, action, to_state = (arr[:, k].astype(np.int64) for k in (0, 1, 3))
    prob, reward, done = arr[:, 2], arr[:, 4], arr[:, 5].astype(bool)
    # The states entered by terminating transitions become terminal (absorbing, zero reward: their own
    # rows are replaced). That is exact unless one of them is also entered without terminating from a
    # state an episode can reach (from the start distribution, through non-terminating transitions);
    # then one extra absorbing state "terminal" takes the terminating transitions instead.
    reached_done = np.zeros(S, dtype=bool)
    reached_done[to_state[done & (prob > 0)]] = True
    init = getattr(u, "initial_state_distrib", None)
    init = np.asarray(init, dtype=float) if init is not None and np.shape(init) == (S,) else None
    live = ~done & (prob > 0) & ~reached_done[from_state]
    edges = sp.csr_array((np.ones(int(live.sum())), (from_state[live], to_state[live])), shape=(S, S))
    reachable = reachable_states(edges, init)
    reached_live = np.zeros(S, dtype=bool)
    reached_live[to_state[live & reachable[from_state]]] = True
    extra = bool((reached_done & reached_live).any())
    n = S + 1 if extra else S
    if extra:
        to_state = np.where(done, S, to_state)
        terminal = np.zeros(n, dtype=bool)
        terminal[S] = True
    else:
        terminal = reached_done
    P = np.zeros((A, n, n))
    R = np.zeros((A, n, n))  # reward of each transition (probability-weighted where entries merge)
    np.add.at(P, (action, from_state, to_state), prob)
    np.add.at(R, (action, from_state, to_state), prob * reward)
    np.divide(R, P, out=R, where=P > 0)
    t_idx = np.flatnonzero(terminal)
    P[:, t_idx, :] = 0.0
    P[:, t_idx, t_idx] = 1.0
    R[:, t_idx, :] = 0.0

    cls = type(u).__name__
    actions = _GYM_ACTIONS.get(cls, [f"a{i}" for i in range(A)])
    if len(actions) != A:
        actions = [f"a{i}" for i in range(A)]
    meta: dict[str, Any] = {"gym_id": env_id, "env_kwargs": dict(kwargs),
                            "description": f"Gymnasium {env_id} ({cls})"}   # lifted to model.description
    states = [str(i) for i in range(S)]
    grid_map = None
    if cls == "FrozenLakeEnv":
        grid_map = [b"".join(row).decode() for row in np.asarray(u.desc)]
    elif cls == "CliffWalkingEnv":
        shape = tuple(int(x) for x in u.shape)
        cells = np.full(shape, "F")
        cells[np.asarray(u._cliff, dtype=bool)] = "C"
        cells[np.unravel_index(int(u.start_state_index), shape)] = "S"
        cells[shape[0] - 1, shape[1] - 1] = "G"
        grid_map = ["".join(row) for row in cells]
    elif cls == "TaxiEnv" and hasattr(u, "decode"):
        states = ["r{}c{}p{}d{}".format(*u.decode(i)) for i in range(S)]
    grid = None
    if grid_map is not None:
        cols = len(grid_map[0])
        grid = (len(grid_map), cols)
        states = [f"r{i // cols}c{i % cols}" for i in range(S)]
    if extra:
        states.append("terminal")
    try:
        return MDP(P, R, gamma, states=states, actions=actions, terminal=terminal, meta=meta, grid=grid,
                   grid_map=grid_map, start=None if init is None else np.concatenate([init, np.zeros(n - S)]))
    except RlkitError as exc:
        raise RlkitError(str(exc), where=where) from None
