"""Bridge from a policy acting in a tabular Gymnasium env to the exact answers of :mod:`rlkit.mdp`.

A trained agent (or any callable) on ``rlkit/TabularMDP-v0``, FrozenLake, Taxi or CliffWalking is
queried at every state to get its (S, A) policy matrix, which the tabular core then evaluates
exactly (a linear solve) and compares with the optimal values V* from policy iteration.

Example (deterministic FrozenLake: the 6-step path down, down, right, down, right, right)::

    >>> import numpy as np, rlkit.envs
    >>> from rlkit.envs.bridge import evaluate_tabular_policy
    >>> env = rlkit.envs.make("FrozenLake-v1", is_slippery=False)
    >>> path = np.zeros(16, dtype=int)                 # 0 left, 1 down, 2 right, 3 up
    >>> path[[0, 4, 9]] = 1; path[[8, 13, 14]] = 2
    >>> report = evaluate_tabular_policy(env, lambda obs: path[np.asarray(obs)], gamma=0.9)
    >>> round(report.start_value, 5), round(report.start_gap, 12)   # 0.9**5, and it is optimal
    (0.59049, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlkit.errors import RlkitError


@dataclass
class TabularPolicyReport:
    """The exact value of a policy on a tabular env beside the optimum.

    :ivar policy: (S, A) row-stochastic matrix the policy was turned into.
    :ivar values: V^pi (S,), exact (matrix solve).
    :ivar optimal_values: V* (S,) from policy iteration.
    :ivar gap: V* - V^pi per state (>= 0 up to round-off).
    :ivar start_distribution: (S,) start probabilities used for the start values.
    :ivar start_value: E_{s0}[V^pi(s0)]; ``optimal_start_value`` likewise for V*.
    :ivar start_gap: ``optimal_start_value - start_value``.
    :ivar max_gap: the largest gap over states.
    :ivar optimal_policy: (S,) greedy optimal actions (lowest index on ties).
    :ivar agreement: share of non-terminal states where every action the policy may take is
        optimal (Q*(s, a) within ``1e-8 * (1 + |V*(s)|)`` of V*(s)).
    """

    policy: np.ndarray
    values: np.ndarray
    optimal_values: np.ndarray
    gap: np.ndarray
    start_distribution: np.ndarray
    start_value: float
    optimal_start_value: float
    start_gap: float
    max_gap: float
    optimal_policy: np.ndarray
    agreement: float
    gamma: float
    states: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (arrays as lists)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


# -- the model behind an env ---------------------------------------------------------------------


def _wrapper_chain(env: gym.Env) -> list[gym.Env]:
    """Wrappers from the outermost to the innermost (the unwrapped env excluded)."""
    chain = []
    while isinstance(env, gym.Wrapper):
        chain.append(env)
        env = env.env
    return chain


def tabular_model(env: gym.Env, *, gamma: float | None = None) -> Any:
    """Return the :mod:`rlkit.mdp` model behind a tabular env.

    :param env: ``rlkit/TabularMDP-v0`` (its model), or a Gymnasium toy-text env with a transition
        model (``env.unwrapped.P``: FrozenLake, Taxi, CliffWalking), loaded as ``gym:<id>`` with the
        env's constructor arguments.
    :param gamma: discount of the returned model (default: the model's own; for ``gym:`` envs what
        :func:`rlkit.mdp.load` chooses).
    :raises RlkitError: when the env has no tabular model.
    """
    base = env.unwrapped
    model = getattr(base, "mdp", None)
    if model is not None and hasattr(model, "P"):
        return model.with_gamma(gamma) if gamma is not None and hasattr(model, "with_gamma") else model
    spec = getattr(base, "spec", None) or getattr(env, "spec", None)
    if isinstance(getattr(base, "P", None), dict) and spec is not None:
        from rlkit.mdp.io import from_gym

        kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k != "render_mode"}
        return from_gym(spec.id, gamma=gamma, **kwargs)
    raise RlkitError(
        f"{getattr(spec, 'id', type(base).__name__)}: no tabular model behind this env; use "
        "rlkit/TabularMDP-v0 or a Gymnasium env with a transition model (FrozenLake, Taxi, CliffWalking)"
    )


def start_distribution(env: gym.Env, model: Any | None = None) -> np.ndarray:
    """The start-state distribution of a tabular env: ``start_distribution`` of
    ``rlkit/TabularMDP-v0``, ``initial_state_distrib`` of toy-text envs, else the model's
    ``start``, else uniform over its non-terminal states. With ``model`` given, the vector
    has the model's length (a model imported from Gymnasium may add one absorbing state)."""
    base = env.unwrapped
    dist = None
    for name in ("start_distribution", "initial_state_distrib"):
        if getattr(base, name, None) is not None:
            dist = np.asarray(getattr(base, name), dtype=float).reshape(-1)
            break
    if dist is None:
        from rlkit.envs.tabular_env import TabularMDPEnv

        model = tabular_model(env) if model is None else model
        dist = TabularMDPEnv(mdp=model).start_distribution
    if model is not None and len(dist) < int(model.n_states):
        dist = np.concatenate([dist, np.zeros(int(model.n_states) - len(dist))])
    return dist / dist.sum()


def _n_states(env: gym.Env) -> int:
    """The number of states of a tabular env (its unwrapped Discrete observation space)."""
    space = env.unwrapped.observation_space
    if not isinstance(space, spaces.Discrete):
        raise RlkitError(f"tabular bridge: the env's state space must be Discrete, got {space}")
    return int(space.n)


def state_observations(env: gym.Env, n_states: int | None = None) -> list[Any]:
    """The observation the agent sees in each state 0..S-1: the index, passed through the env's
    observation wrappers (e.g. :class:`~rlkit.envs.wrappers.OneHotObservation`), innermost first."""
    if n_states is None:
        n_states = _n_states(env)
    obs_wrappers = [w for w in reversed(_wrapper_chain(env)) if isinstance(w, gym.ObservationWrapper)]
    out = []
    for s in range(n_states):
        obs: Any = s
        for w in obs_wrappers:
            obs = w.observation(obs)
        out.append(obs)
    return out


# -- the policy as a matrix ----------------------------------------------------------------------


def _stack(observations: list[Any]) -> np.ndarray:
    return np.stack([np.asarray(o) for o in observations])


def _probabilities_of(policy: Any, obs: np.ndarray) -> np.ndarray | None:
    """Action probabilities from a policy that exposes them, or None."""
    for name in ("action_probabilities", "predict_proba", "action_probs"):
        fn = getattr(policy, name, None)
        if callable(fn):
            return np.asarray(_to_numpy(fn(obs)), dtype=float)
    sb3_policy = getattr(policy, "policy", None)  # a Stable-Baselines3 model
    if (sb3_policy is not None and hasattr(sb3_policy, "get_distribution")
            and hasattr(sb3_policy, "obs_to_tensor")):
        import torch

        with torch.no_grad():
            tensor, _ = sb3_policy.obs_to_tensor(obs)
            dist = sb3_policy.get_distribution(tensor).distribution
        probs = getattr(dist, "probs", None)
        if probs is not None:
            return probs.cpu().numpy().astype(float)
    return None


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x


def _as_matrix(actions_or_probs: Any, n_states: int, n_actions: int, where: str) -> np.ndarray:
    arr = np.asarray(_to_numpy(actions_or_probs))
    if arr.ndim == 2 and arr.shape == (n_states, n_actions) and np.issubdtype(arr.dtype, np.floating):
        if np.any(arr < -1e-9) or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-6):
            raise RlkitError(f"{where}: action probabilities must be non-negative rows summing to 1")
        arr = np.clip(arr, 0.0, None)
        return arr / arr.sum(axis=1, keepdims=True)
    arr = arr.reshape(-1)
    if arr.shape != (n_states,):
        raise RlkitError(
            f"{where}: expected {n_states} actions (one per state) or a ({n_states}, {n_actions}) "
            f"probability matrix, got shape {np.shape(actions_or_probs)}"
        )
    if not np.all(np.equal(np.mod(arr, 1), 0)):
        raise RlkitError(f"{where}: actions must be integers, got {arr[:5]}")
    idx = arr.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n_actions:
        raise RlkitError(f"{where}: actions must be in 0..{n_actions - 1}, got {idx.min()}..{idx.max()}")
    out = np.zeros((n_states, n_actions))
    out[np.arange(n_states), idx] = 1.0
    return out


def policy_matrix(
    env: gym.Env,
    policy: Any,
    *,
    deterministic: bool = True,
    n_states: int | None = None,
    n_actions: int | None = None,
) -> np.ndarray:
    """Query a policy at every state of a tabular env and return its (S, A) matrix.

    :param env: the tabular env the policy acts in (observations are produced as the env would:
        the state index through its observation wrappers).
    :param policy: an (S, A) matrix or (S,) action array (returned as a matrix); an agent with
        ``predict(obs, state=None, episode_start=None, deterministic=...) -> (actions, state)``
        (rlkit's Reinforce, Stable-Baselines3); or a callable ``obs_batch -> actions`` (or
        ``-> (B, A)`` probabilities). With ``deterministic=False`` the policy must expose
        probabilities: ``action_probabilities(obs_batch)`` (or ``predict_proba``), an SB3 model,
        or a callable that returns them.
    :param deterministic: query greedy actions (True) or the stochastic policy's probabilities.
    :returns: (S, A) row-stochastic matrix.
    """
    if n_states is None:
        n_states = _n_states(env)
    if n_actions is None:
        if not isinstance(env.action_space, spaces.Discrete):
            raise RlkitError(
                f"tabular bridge: the env's action space must be Discrete, got {env.action_space}"
            )
        n_actions = int(env.action_space.n)
    where = "policy"
    if isinstance(policy, np.ndarray) or isinstance(policy, (list, tuple)):
        return _as_matrix(np.asarray(policy, dtype=float if np.ndim(policy) == 2 else None), n_states,
                          n_actions, where)
    obs = _stack(state_observations(env, n_states))
    if not deterministic:
        probs = _probabilities_of(policy, obs)
        if probs is None and callable(policy) and not hasattr(policy, "predict"):
            probs = np.asarray(_to_numpy(policy(obs)))
            if probs.ndim != 2:
                probs = None
        if probs is None:
            raise RlkitError(
                f"{where}: deterministic=False needs action probabilities, but {type(policy).__name__} "
                "exposes none (action_probabilities(obs) or an SB3 model); use deterministic=True"
            )
        return _as_matrix(probs.astype(float), n_states, n_actions, where)
    if hasattr(policy, "predict"):
        call: Callable[[np.ndarray], Any] = lambda o: policy.predict(  # noqa: E731
            o, state=None, episode_start=np.ones(len(o), dtype=bool), deterministic=True
        )[0]
    elif callable(policy):
        call = policy
    else:
        raise RlkitError(f"{where}: expected an (S, A) matrix, (S,) actions, an agent or a callable, "
                         f"got {type(policy).__name__}")
    try:
        actions = call(obs)
        result = _as_matrix(actions, n_states, n_actions, where)
    except RlkitError:
        raise
    except Exception:  # a policy that takes one observation at a time
        actions = np.array([np.asarray(_to_numpy(call(o))).reshape(-1)[0] for o in obs])
        result = _as_matrix(actions, n_states, n_actions, where)
    return result


def pad_policy(pi: np.ndarray, n_states: int) -> np.ndarray:
    """Extend an (S_obs, A) policy matrix to a model with ``n_states >= S_obs`` states: the states
    a Gymnasium import adds (one absorbing ``"terminal"``) take action 0, which changes nothing."""
    if len(pi) >= n_states:
        return pi
    extra = np.zeros((n_states - len(pi), pi.shape[1]))
    extra[:, 0] = 1.0
    return np.vstack([pi, extra])


# -- exact evaluation ----------------------------------------------------------------------------


def evaluate_tabular_policy(
    env: gym.Env,
    policy: Any,
    *,
    gamma: float | None = None,
    deterministic: bool = True,
    tol: float | None = None,
) -> TabularPolicyReport:
    """Evaluate a policy on a tabular env exactly and compare it with the optimum.

    :param env: ``rlkit/TabularMDP-v0`` or a toy-text env with a model (FrozenLake, Taxi,
        CliffWalking), possibly wrapped (observation wrappers are applied when querying).
    :param policy: see :func:`policy_matrix` (matrix, agent with ``predict``, or callable).
    :param gamma: discount (default: the model's; 0.99 for Gymnasium envs, which carry none).
    :param deterministic: query greedy actions (True) or the policy's probabilities (False).
    :param tol: tie tolerance of policy iteration for V* (default: its own).
    :returns: a :class:`TabularPolicyReport`. Its arrays follow the model's states: for a
        Gymnasium env whose import added an absorbing ``"terminal"`` state (Taxi), one more than
        the env's observations.

    Example::

        >>> import rlkit.envs
        >>> env = rlkit.envs.make("rlkit/TabularMDP-v0", spec="gridworld-4x4")
        >>> rep = evaluate_tabular_policy(env, np.full((16, 4), 0.25))   # the uniform random policy
        >>> round(float(rep.values[1]), 1)                                 # S&B Figure 4.1: -14
        -14.0
    """
    from rlkit.mdp import evaluate, policy_iteration

    model = tabular_model(env, gamma=gamma)
    n_states, n_actions = int(model.n_states), int(model.n_actions)
    base_space = env.unwrapped.observation_space
    n_obs = int(base_space.n) if isinstance(base_space, spaces.Discrete) else n_states
    if n_obs > n_states:
        raise RlkitError(f"tabular bridge: the env has {n_obs} states but its model {n_states}")
    pi = pad_policy(policy_matrix(env, policy, deterministic=deterministic, n_states=n_obs,
                                  n_actions=n_actions), n_states)
    v = np.asarray(evaluate(model, pi, method="exact").values, dtype=float)
    opt = policy_iteration(model) if tol is None else policy_iteration(model, tol=tol)
    v_star = np.asarray(opt.values, dtype=float)
    if opt.q is not None:
        q_star = np.asarray(opt.q, dtype=float)
    else:
        from rlkit.mdp import q_from_v

        q_star = np.asarray(q_from_v(model, v_star), dtype=float)
    d0 = start_distribution(env, model)
    optimal = q_star >= v_star[:, None] - 1e-8 * (1.0 + np.abs(v_star[:, None]))
    ok = np.all((pi <= 1e-12) | optimal, axis=1)
    live = ~np.asarray(model.terminal, dtype=bool)
    agreement = float(ok[live].mean()) if live.any() else 1.0
    start_value = float(d0 @ v)
    optimal_start = float(d0 @ v_star)
    gap = v_star - v
    return TabularPolicyReport(
        policy=pi,
        values=v,
        optimal_values=v_star,
        gap=gap,
        start_distribution=d0,
        start_value=start_value,
        optimal_start_value=optimal_start,
        start_gap=optimal_start - start_value,
        max_gap=float(gap.max()) if gap.size else 0.0,
        optimal_policy=np.asarray(opt.policy, dtype=np.int64),
        agreement=agreement,
        gamma=float(model.gamma),
        states=list(model.states),
        actions=list(model.actions),
    )


__all__ = [
    "TabularPolicyReport",
    "evaluate_tabular_policy",
    "pad_policy",
    "policy_matrix",
    "start_distribution",
    "state_observations",
    "tabular_model",
]
