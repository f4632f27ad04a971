"""``rlkit/TabularMDP-v0``: any tabular model of :mod:`rlkit.mdp` as a Gymnasium environment.

The observation is the state index (``Discrete(S)``), the action an action index
(``Discrete(A)``). A step from ``s`` with action ``a`` draws ``s' ~ P[a, s, :]`` with the env's
``np_random``, pays the model's expected reward ``R[s, a]``, and terminates when ``s'`` is a
terminal state of the model. A Markov reward process becomes an env with the single action
``"step"``; a Markov chain one with the single action and reward 0.

Note that the model stores expected rewards (S, A): every policy has exactly the model's values,
but a source environment whose reward depends on ``s'`` (FrozenLake pays on arrival at the goal)
is replayed with its expected reward, which has less variance than the original.

Start state: ``start=`` (a state index, a state name, a list of them, ``{state: probability}`` or
a probability vector over states; :func:`rlkit.mdp.models.start_distribution`) if given; else the
model's :attr:`~rlkit.mdp.MDP.start` (a file's ``start:`` field, a grid's ``S`` cells or a
Gymnasium env's start distribution); else uniform over the non-terminal states.

Example::

    >>> import gymnasium as gym, rlkit.envs
    >>> env = gym.make("rlkit/TabularMDP-v0", spec="gridworld-4x4")
    >>> obs, info = env.reset(seed=0)
    >>> env.observation_space, env.action_space
    (Discrete(16), Discrete(4))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlkit.errors import RlkitError
from rlkit.mdp.models import start_distribution

_WHERE = "rlkit/TabularMDP-v0"


def _load_model(spec: Any, gamma: float | None, env_kwargs: dict | None) -> Any:
    from rlkit.mdp.io import load

    if isinstance(spec, str) or hasattr(spec, "__fspath__"):
        return load(spec, gamma=gamma, env_kwargs=env_kwargs)
    raise RlkitError(
        f"{_WHERE}: spec must be a catalog name, a model file path or 'gym:<EnvId>', got "
        f"{type(spec).__name__}; pass a model object as mdp= instead"
    )


def as_mdp(model: Any) -> Any:
    """An :class:`~rlkit.mdp.MDP` for any tabular model: an MDP as is; an MRP or a Markov chain as
    a one-action MDP (:meth:`rlkit.mdp.MRP.as_mdp`, action ``"step"``; a chain pays 0 and gets
    gamma 1). The original is kept in ``meta["source_model"]``."""
    from rlkit.mdp import MDP, MRP, MarkovChain

    if isinstance(model, MDP):
        return model
    if isinstance(model, MRP):
        return model.as_mdp()
    if isinstance(model, MarkovChain):
        out = MRP(model.P, np.zeros(model.n_states), 1.0, states=model.states, terminal=model.terminal,
                  meta=model.meta).as_mdp()
        out.meta["source_model"] = model
        return out
    raise RlkitError(f"{_WHERE}: mdp= must be an rlkit.mdp model (MDP, MRP or MarkovChain), got "
                     f"{type(model).__name__}")


def _dense_rows(P: Any) -> tuple[list, bool]:
    """Return the per-action transition matrices (dense ndarrays or CSR) and whether they are sparse."""
    import scipy.sparse as sp

    if sp.issparse(P):  # a single (S, S) sparse matrix: Markov chain / MRP
        return [sp.csr_matrix(P)], True
    if isinstance(P, np.ndarray):
        if P.ndim == 2:  # Markov chain / MRP: one action
            return [np.asarray(P, dtype=float)], False
        return [np.asarray(P[a], dtype=float) for a in range(P.shape[0])], False
    mats = list(P)
    if mats and all(sp.issparse(m) for m in mats):
        return [sp.csr_matrix(m) for m in mats], True
    return [np.asarray(m, dtype=float) for m in mats], False


class TabularMDPEnv(gym.Env):
    """A tabular model (:class:`rlkit.mdp.MDP`, ``MRP`` or ``MarkovChain``) as a Gymnasium env.

    :param spec: a catalog name (``"gridworld-4x4"``), a ``.yaml``/``.json``/``.npz`` path or
        ``"gym:<EnvId>"``, loaded with :func:`rlkit.mdp.load`.
    :param mdp: a model object instead of ``spec``.
    :param gamma: discount override when loading ``spec`` (kept on the model; the env itself does
        not discount).
    :param env_kwargs: catalog / Gymnasium parameters for :func:`rlkit.mdp.load`.
    :param start: start state (index, name, list, ``{state: p}`` or probability vector); default
        the model's ``start``, else uniform over the non-terminal states.
    :param render_mode: ``None`` or ``"ansi"`` (the current state's name; grid MDPs draw the grid).

    Attributes: ``mdp`` (the model, always an :class:`~rlkit.mdp.MDP`; see :func:`as_mdp`),
    ``start_distribution`` ((S,) probabilities), ``state`` (the
    current state index). Registered with ``max_episode_steps=1000`` (a ``TimeLimit``), so an
    episode that reaches no terminal state is truncated.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        spec: Any = None,
        *,
        mdp: Any = None,
        gamma: float | None = None,
        env_kwargs: dict | None = None,
        start: Any = None,
        render_mode: str | None = None,
    ) -> None:
        if (spec is None) == (mdp is None):
            raise RlkitError(f"{_WHERE}: give exactly one of spec= (name, file, gym:<id>) or mdp= (a model)")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RlkitError(f"{_WHERE}: render_mode must be None or 'ansi', got {render_mode!r}")
        model = as_mdp(_load_model(spec, gamma, env_kwargs) if mdp is None else mdp)
        if mdp is not None and gamma is not None:
            model = model.with_gamma(gamma)
        self.mdp = model
        self.model_spec = spec
        self.render_mode = render_mode

        self._mats, self._sparse = _dense_rows(model.P)
        self._R = np.asarray(model.R, dtype=float)
        n_states, n_actions = int(model.n_states), int(model.n_actions)
        self.states: list[str] = list(model.states)
        self.actions: list[str] = list(model.actions)
        self.terminal = np.asarray(model.terminal, dtype=bool).copy()
        if start is None:
            start = model.start
        if start is None and self.terminal.all():
            raise RlkitError(f"{_WHERE}: every state of the model is terminal; nothing to start from")
        # the given start as is; none: uniform over the non-terminal states
        self.start_distribution = start_distribution(start, self.states,
                                                     self.terminal if start is None else None,
                                                     field=f"{_WHERE} start")
        self._start_cdf = np.cumsum(self.start_distribution)
        self.grid = model.grid
        self.grid_map = model.grid_map

        self.observation_space = spaces.Discrete(n_states)
        self.action_space = spaces.Discrete(n_actions)
        self.state = 0

    @property
    def n_states(self) -> int:
        return int(self.observation_space.n)

    @property
    def n_actions(self) -> int:
        return int(self.action_space.n)

    def _row(self, a: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Successor states and their probabilities for (s, a)."""
        m = self._mats[a]
        if self._sparse:
            lo, hi = m.indptr[s], m.indptr[s + 1]
            return m.indices[lo:hi], m.data[lo:hi]
        row = m[s]
        nz = np.flatnonzero(row)
        return nz, row[nz]

    def _sample(self, cdf: np.ndarray) -> int:
        u = self.np_random.random() * cdf[-1]
        return int(min(np.searchsorted(cdf, u, side="right"), len(cdf) - 1))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        idx = self._sample(self._start_cdf)
        self.state = idx
        return idx, {"state_name": self.states[idx]}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        bad = f"{_WHERE}: action must be an int in 0..{self.n_actions - 1}, got {action!r}"
        try:
            a = int(np.asarray(action).item())
        except (TypeError, ValueError) as exc:
            raise RlkitError(bad) from exc
        if not 0 <= a < self.n_actions:
            raise RlkitError(bad)
        s = self.state
        reward = float(self._R[s, a])
        succ, prob = self._row(a, s)
        s_next = int(succ[self._sample(np.cumsum(prob))])
        self.state = s_next
        terminated = bool(self.terminal[s_next])
        return s_next, reward, terminated, False, {"state_name": self.states[s_next]}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self.grid_map and self.grid:
            rows, cols = self.grid
            r, c = divmod(self.state, cols) if self.state < rows * cols else (-1, -1)
            lines = []
            for i, line in enumerate(self.grid_map):
                chars = list(line)
                if i == r and 0 <= c < len(chars):
                    chars[c] = "@"
                lines.append("".join(chars))
            return "\n".join(lines) + "\n"
        return f"state {self.state} ({self.states[self.state]})\n"
