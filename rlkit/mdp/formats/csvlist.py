"""CSV transition lists: one row per transition, the format spreadsheets and pandas write.

An MDP has the columns ``state,action,next_state,probability,reward``; a Markov reward process
drops ``action``; a Markov chain drops ``reward`` too. The header row is required; columns may
come in any order; blank lines are skipped::

    state,action,next_state,probability,reward
    low,search,low,0.6,1
    low,search,high,0.4,1
    low,wait,low,1,0.5
    high,search,high,1,2

* States and actions are named by their first appearance, reading the rows top to bottom
  (``state`` before ``next_state`` in a row).
* The rows of one state and action (one state for an MRP or chain) must sum to 1. The reward of a
  row is paid on that transition, so ``R[s, a] = sum p * reward``; when the rows of a state and
  action pay different rewards, the model keeps them (``transition_rewards``) for the samplers.
* A state that is never in the ``state`` column, or whose every row goes back to itself with
  probability 1 and reward 0, is terminal (absorbing, zero reward); an action a state never
  lists is unavailable there (``action_mask``), as in a YAML model.
* The discount is not a column: give it with ``--gamma`` / ``load(path, gamma=...)``, or in a
  comment line before the header, ``# gamma=0.9`` (what :func:`write` puts there).

Errors name the file and the line: ``m.csv line 4: probability: ...``.

Example::

    >>> import tempfile, pathlib
    >>> from rlkit.mdp.io import load
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = path.write_text("state,action,next_state,probability,reward\\n"
    ...                     "a,go,b,1,1\\na,stay,a,1,0\\n")
    >>> m = load(path, gamma=0.9)
    >>> m.states, m.actions, m.terminal.tolist()
    (['a', 'b'], ['go', 'stay'], [False, True])
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from rlkit._budget import check_memory
from rlkit._io import atomic_write_text
from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import (
    PROB_TOL,
    Model,
    _check_gamma,
    _Ctx,
    _number,
    _prob,
    _read_text,
    model_kind,
)
from rlkit.mdp.generators import apply_action_mask
from rlkit.mdp.models import MDP, MRP, MarkovChain

#: The columns of a transition list; ``action`` (MDP) and ``reward`` (MDP, MRP) are optional.
COLUMNS = ("state", "action", "next_state", "probability", "reward")
_REQUIRED = ("state", "next_state", "probability")
_GAMMA_COMMENT = "# gamma="
_GAMMA_KEY = "#gamma="


def read(path: Path, *, where: str, gamma: float | None = None, env_kwargs: dict | None = None) -> Model:
    """Read a CSV transition list (this module's docstring) into a chain, MRP or MDP."""
    ctx = _Ctx(where)
    if env_kwargs:
        raise ctx.error("env_kwargs", f"a CSV model takes no parameters (got {sorted(env_kwargs)})")
    lines = _read_text(Path(path), where, "CSV").removeprefix("\ufeff").splitlines()  # Excel's BOM
    first = 0  # comment lines before the header: "# gamma=0.9"
    file_gamma = None
    while first < len(lines) and (lines[first].lstrip().startswith("#") or not lines[first].strip()):
        text = lines[first].strip().replace(" ", "")
        if text.startswith(_GAMMA_KEY):
            file_gamma = _check_gamma(text[len(_GAMMA_KEY):], where=f"{where} line {first + 1}")
        first += 1
    if first == len(lines):
        raise ctx.error("", f"no header row; the first row names the columns, e.g. {','.join(COLUMNS)}")
    rows = csv.reader(io.StringIO("\n".join(lines[first:])), strict=True)
    try:
        header = [name.strip() for name in next(rows)]
        columns = _check_header(header, ctx, first + 1)
        records = []
        for row in rows:
            line = first + rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ctx.error("", f"the row has {len(row)} fields but the header has {len(header)}", line)
            records.append((line, {name: row[i].strip() for name, i in columns.items()}))
    except csv.Error as exc:
        raise ctx.error("", f"malformed CSV: {exc}", first + rows.line_num) from None
    if not records:
        raise ctx.error("", "no transitions: give one row per transition after the header", first + 1)
    g = gamma if gamma is not None else file_gamma
    return _build(records, "action" in columns, "reward" in columns, ctx, g)


def _check_header(header: list[str], ctx: _Ctx, line: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        if name not in COLUMNS:
            raise ctx.error("header", f"unknown column {name!r}; the columns are {', '.join(COLUMNS)} "
                            "(action and reward are optional)", line)
        if name in columns:
            raise ctx.error("header", f"column {name!r} is given twice", line)
        columns[name] = i
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise ctx.error("header", f"missing column {missing[0]!r}; a transition list needs "
                        f"{', '.join(_REQUIRED)} (and action for an MDP, reward for rewards)", line)
    if "action" in columns and "reward" not in columns:
        raise ctx.error("header", "an MDP (an action column) needs a reward column too", line)
    return columns


def _build(records: list[tuple[int, dict[str, str]]], has_action: bool, has_reward: bool, ctx: _Ctx,
           gamma: float | None) -> Model:
    states: dict[str, int] = {}
    actions: dict[str, int] = {}
    parsed = []  # (line, state, action, next state, probability, reward)
    for line, row in records:
        for column in ("state", "next_state") + (("action",) if has_action else ()):
            if not row[column]:
                raise ctx.error(column, "is empty; name the state or action", line)
        s = states.setdefault(row["state"], len(states))
        t = states.setdefault(row["next_state"], len(states))
        a = actions.setdefault(row["action"], len(actions)) if has_action else 0
        p = _prob(row["probability"], ctx, "probability", line)
        r = _number(row["reward"], ctx, "reward", line) if has_reward else 0.0
        parsed.append((line, s, a, t, p, r))
    S, A = len(states), max(len(actions), 1)
    check_memory(3 * 8.0 * A * S * S, f"a dense model with {S:,} states and {A:,} action(s)",
                 where=ctx.source)
    P = np.zeros((A, S, S))
    paid = np.zeros((A, S, S))          # sum of p * reward per transition
    first_line: dict[tuple[int, int], int] = {}
    for line, s, a, t, p, r in parsed:
        P[a, s, t] += p
        paid[a, s, t] += p * r
        first_line.setdefault((s, a), line)
    names, action_names = list(states), list(actions)
    listed = np.zeros((S, A), dtype=bool)
    for s, a in first_line:
        listed[s, a] = True
    sums = P.sum(axis=2).T              # (S, A)
    for (s, a), line in first_line.items():
        if abs(sums[s, a] - 1.0) > PROB_TOL:
            what = f"state {names[s]!r}" + (f", action {action_names[a]!r}" if has_action else "")
            raise ctx.error("probability", f"the rows of {what} (the first on this line) sum to "
                            f"{sums[s, a]:.10g}, not 1", line)
    reward = np.divide(paid, P, out=np.zeros_like(paid), where=P > 0)   # reward of each transition
    s_all = np.arange(S)
    stays = (np.abs(P[:, s_all, s_all] - 1.0) <= PROB_TOL).T & (paid[:, s_all, s_all] == 0).T   # (S, A)
    # terminal: never in the state column, or staying put for nothing under every action it lists
    terminal = ~listed.any(axis=1) | (stays | ~listed).all(axis=1)
    t_idx = np.flatnonzero(terminal)
    P[:, t_idx, :] = 0.0
    P[:, t_idx, t_idx] = 1.0
    reward[:, t_idx, :] = 0.0
    listed[t_idx] = True
    try:
        if not has_reward and not has_action:
            return MarkovChain(P[0], names)
        if gamma is None:
            raise ctx.error("gamma", "missing: a CSV file holds no discount; pass one (--gamma G, "
                            "load(path, gamma=G)) or start the file with a line '# gamma=0.9'")
        gamma = _check_gamma(gamma)
        if not has_action:
            return MRP(P[0], _rewards(P[0], reward[0]), gamma, states=names, terminal=terminal)
        mask = None
        if not listed.all():
            mask = listed
            first = mask.argmax(axis=1)
            s_idx, a_idx = np.nonzero(~mask)
            reward[a_idx, s_idx] = reward[first[s_idx], s_idx]
            apply_action_mask(P, np.zeros((S, A)), mask)
        return MDP(P, _rewards(P, reward), gamma, states=names, actions=action_names, terminal=terminal,
                   action_mask=mask)
    except RlkitError as exc:
        if exc.where:
            raise
        raise RlkitError(str(exc), where=ctx.source) from None


def _rewards(P: np.ndarray, reward: np.ndarray) -> np.ndarray:
    """Per-transition rewards (kept by the model) when the rows of one state and action differ, else
    the expected rewards: (S, A) for an MDP (``P`` (A, S, S)), (S,) for an MRP (``P`` (S, S))."""
    expected = (P * reward).sum(axis=-1)                                   # (A, S) or (S,)
    differs = np.abs(np.where(P > 0, reward - expected[..., None], 0.0)).max(initial=0.0) > 0
    if differs:
        return reward
    return expected.T if P.ndim == 3 else expected


def write(model: Model, path: Path) -> None:
    """Write ``model`` as a CSV transition list, atomically: one row per non-zero transition of each
    non-terminal state and available action; a state no row names gets a self-loop row, so that
    it is kept; the discount goes in a ``# gamma=`` comment line."""
    kind = model_kind(model)
    states, S = list(model.states), model.n_states
    if kind == "mdp":  # everything as (A, S, S) / (S, A): a chain or MRP has one action
        mats = [sp.csr_array(model.P[a]) for a in range(model.n_actions)]
        actions, mask, expected = list(model.actions), model.available_actions(), model.R
        per_transition = model.transition_rewards
    else:
        mats, actions, mask = [sp.csr_array(model.P)], [None], np.ones((S, 1), dtype=bool)
        expected = np.zeros((S, 1)) if kind == "chain" else model.R[:, None]
        per_transition = None if kind == "chain" or model.transition_rewards is None \
            else model.transition_rewards[None]
    columns = ["state"] + (["action"] if kind == "mdp" else []) + ["next_state", "probability"] + \
        (["reward"] if kind != "chain" else [])

    def row(s: int, a: int, t: int, p: float, reward: float) -> list[str]:
        cells = {"state": states[s], "action": actions[a], "next_state": states[t],
                 "probability": repr(p), "reward": repr(reward)}
        return [cells[c] for c in columns]

    terminal = np.asarray(model.terminal, dtype=bool)
    named = np.zeros(S, dtype=bool)
    rows = []
    for s in np.flatnonzero(~terminal):
        for a in np.flatnonzero(mask[s]):
            lo, hi = mats[a].indptr[s], mats[a].indptr[s + 1]
            for t, p in zip(mats[a].indices[lo:hi], mats[a].data[lo:hi], strict=True):
                reward = expected[s, a] if per_transition is None else per_transition[a, s, t]
                rows.append(row(s, a, t, float(p), float(reward)))
                named[[s, t]] = True
    for s in np.flatnonzero(~named):  # a state no row names: a self-loop keeps it in the model
        rows.append(row(s, 0, s, 1.0, 0.0))
    out = io.StringIO()
    if kind != "chain":
        out.write(f"{_GAMMA_COMMENT}{model.gamma!r}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())

