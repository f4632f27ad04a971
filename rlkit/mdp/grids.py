"""Gridworlds: an MDP from a FrozenLake-style map, in Python (:func:`grid_mdp`) or in a model file.

``grid:`` in a model file builds an MDP from a map (``model.grid = (rows, cols)``,
``model.grid_map`` the rows, ``model.start`` uniform over the ``S`` cells; state ``r{row}c{col}``
has index ``row * cols + col``)::

    kind: mdp
    gamma: 0.99
    grid:
      map: [SFFF, FHFH, FFFH, HFFG]   # or one multi-line string
      slip: 2/3            # probability of slipping to one of the two perpendicular directions
      step_reward: 0       # reward for each move (default 0)
      rewards: {G: 1}      # reward for a move that enters a cell of that kind (default step_reward)
      actions: [left, down, right, up]   # FrozenLake's order (the default); any order of these four

Cells: ``S`` start, ``F`` or ``.`` free, ``H`` hole (terminal), ``G`` goal (terminal), ``W`` or ``#``
wall (cannot be entered; kept as an unreachable absorbing state so indices stay row * cols + col),
``C`` cliff (entering it gives its reward and sends the agent back to ``S``). Moving into a wall
or off the map leaves the agent in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import _check_gamma, _close, _Ctx, _line_of, _Map, _name_list, _number, _prob
from rlkit.mdp.models import MDP

#: The four moves of a gridworld, as (row, col) steps, in FrozenLake's action order.
GRID_ACTIONS: dict[str, tuple[int, int]] = {"left": (0, -1), "down": (1, 0), "right": (0, 1), "up": (-1, 0)}
_GRID_KEYS = ("map", "slip", "step_reward", "rewards", "actions")
_CELL_KINDS = {"S": "start", "F": "free", ".": "free", "H": "hole", "G": "goal", "W": "wall", "#": "wall",
               "C": "cliff"}



def grid_mdp(grid_map: str | Sequence[str], *, gamma: float, slip: float = 0.0, step_reward: float = 0.0,
             rewards: dict[str, float] | None = None, actions: Sequence[str] = tuple(GRID_ACTIONS)) -> MDP:
    """A gridworld MDP from a FrozenLake-style map (cells described in :mod:`rlkit.mdp.grids`).

    :param grid_map: rows as a list of strings or one multi-line string.
    :param gamma: discount.
    :param slip: probability of moving to one of the two perpendicular directions instead (half
        each); FrozenLake's ``is_slippery=True`` is ``slip=2/3``.
    :param step_reward: reward of every move.
    :param rewards: reward of a move that enters a cell of a kind, e.g. ``{"G": 1, "C": -100}``.
    :param actions: the moves and their order (FrozenLake's by default).
    :return: the MDP, with :attr:`~rlkit.mdp.MDP.grid`, ``grid_map`` and ``start``.

    Example (Sutton & Barto's Example 4.1)::

        >>> from rlkit.mdp.io import grid_mdp
        >>> m = grid_mdp(["GFFF", "FFFF", "FFFF", "FFFG"], gamma=1.0, step_reward=-1)
        >>> m.n_states, m.n_actions, m.grid
        (16, 4, (4, 4))
    """
    doc = _Map({"map": grid_map, "slip": slip, "step_reward": step_reward, "rewards": rewards or {},
                "actions": list(actions)})
    doc.key_lines = {}
    return _grid_from_mapping(doc, _Ctx("grid"), _check_gamma(gamma))


def _grid_from_mapping(g: dict, ctx: _Ctx, gamma: float) -> MDP:
    for key in g:
        if key not in _GRID_KEYS:
            raise ctx.error(f"grid.{key}", f"unknown field{_close(str(key), _GRID_KEYS)}; a grid has "
                            f"{', '.join(_GRID_KEYS)}", _line_of(g, key))
    if "map" not in g:
        raise ctx.error("grid.map", "missing: give the rows, e.g. [SFFF, FHFH, FFFH, HFFG]", g.get("line"))
    raw, mline = g["map"], _line_of(g, "map")
    rows = raw.split() if isinstance(raw, str) else raw
    if not isinstance(rows, list) or not rows or not all(isinstance(r, str) and r for r in rows):
        raise ctx.error("grid.map", "must be a list of row strings or one multi-line string", mline)
    cols = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != cols:
            raise ctx.error("grid.map", f"row {i} has {len(row)} cells but row 0 has {cols}; rows must have "
                            "the same length", mline)
        for j, ch in enumerate(row):
            if ch not in _CELL_KINDS:
                raise ctx.error("grid.map", f"row {i} column {j}: unknown cell {ch!r}; cells are S (start), "
                                "F or . (free), H (hole), G (goal), W or # (wall), C (cliff)", mline)
    slip = _prob(g.get("slip", 0), ctx, "grid.slip", _line_of(g, "slip"))
    step_reward = _number(g.get("step_reward", 0), ctx, "grid.step_reward", _line_of(g, "step_reward"))
    cell_rewards = g.get("rewards") or {}
    if not isinstance(cell_rewards, dict):
        raise ctx.error("grid.rewards", "must map a cell letter to the reward for entering it, e.g. {G: 1}",
                        _line_of(g, "rewards"))
    reward_of = {ch: step_reward for ch in _CELL_KINDS}
    for ch, r in cell_rewards.items():
        ch = str(ch)
        if ch not in _CELL_KINDS:
            raise ctx.error(f"grid.rewards.{ch}", f"unknown cell kind; cells are {', '.join(_CELL_KINDS)}",
                            _line_of(cell_rewards, ch))
        reward_of[ch] = _number(r, ctx, f"grid.rewards.{ch}", _line_of(cell_rewards, ch))
        if ch in ("F", "."):
            reward_of["F"] = reward_of["."] = reward_of[ch]
        if ch in ("W", "#"):
            raise ctx.error(f"grid.rewards.{ch}", "walls cannot be entered, so they have no reward",
                            _line_of(cell_rewards, ch))
    actions = _name_list(g.get("actions", list(GRID_ACTIONS)), ctx, "grid.actions", _line_of(g, "actions"))
    for a in actions:
        if a not in GRID_ACTIONS:
            raise ctx.error("grid.actions", f"unknown move {a!r}{_close(a, list(GRID_ACTIONS))}; moves are "
                            "left, down, right, up", _line_of(g, "actions"))

    n_rows = len(rows)
    cells = np.array([list(r) for r in rows])  # (rows, cols) of letters
    flat = cells.ravel()
    S = n_rows * cols
    rr, cc = np.divmod(np.arange(S), cols)
    kind = np.array([_CELL_KINDS[ch] for ch in flat])
    wall = kind == "wall"
    terminal = wall | (kind == "hole") | (kind == "goal")
    starts = np.flatnonzero(kind == "start")
    if (kind == "cliff").any() and len(starts) != 1:
        raise ctx.error("grid.map", "cliff cells (C) send the agent back to the start, so the map needs "
                        f"exactly one S (found {len(starts)})", mline)
    if wall.all():
        raise ctx.error("grid.map", "every cell is a wall", mline)
    cell_reward = np.array([reward_of[ch] for ch in flat])

    perpendicular = {"left": ("up", "down"), "right": ("up", "down"), "up": ("left", "right"),
                     "down": ("left", "right")}
    s_idx = np.arange(S)

    def move(direction: str) -> np.ndarray:
        dr, dc = GRID_ACTIONS[direction]
        r2, c2 = rr + dr, cc + dc
        inside = (r2 >= 0) & (r2 < n_rows) & (c2 >= 0) & (c2 < cols)
        target = np.where(inside, np.clip(r2, 0, n_rows - 1) * cols + np.clip(c2, 0, cols - 1), s_idx)
        target = np.where(wall[target], s_idx, target)
        return target

    A = len(actions)
    P = np.zeros((A, S, S))
    R = np.zeros((S, A))
    for a, name in enumerate(actions):
        outcomes = [(name, 1.0 - slip)] + [(d, slip / 2.0) for d in perpendicular[name]]
        for direction, p in outcomes:
            if p == 0.0:
                continue
            entered = move(direction)
            nxt = np.where(kind[entered] == "cliff", starts[0] if len(starts) else 0, entered)
            np.add.at(P[a], (s_idx, nxt), p)
            R[:, a] += p * cell_reward[entered]
    t_idx = np.flatnonzero(terminal)
    P[:, t_idx, :] = 0.0
    P[:, t_idx, t_idx] = 1.0
    R[t_idx] = 0.0
    start = None
    if len(starts):
        start = np.zeros(S)
        start[starts] = 1.0 / len(starts)
    try:
        return MDP(P, R, gamma, states=[f"r{r}c{c}" for r, c in zip(rr, cc, strict=True)], actions=actions,
                   terminal=terminal, grid=(n_rows, cols), grid_map=list(rows), start=start)
    except RlkitError as exc:
        raise RlkitError(str(exc), where=ctx.source) from None


