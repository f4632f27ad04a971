"""The YAML and JSON model format (``.yaml``, ``.yml``, ``.json``): schema, reading and writing.

Model files (YAML or JSON)
--------------------------
Top-level fields (all optional except as noted)::

    kind: mdp                # chain | mrp | mdp (default: mdp if `actions` is given, mrp if
                             # `rewards` or `gamma` is, else chain)
    name: my-model           # free text (model.name)
    description: one line    # shown by `rlkit envs` (model.description)
    gamma: 0.9               # required for mrp/mdp unless given to load(..., gamma=)
    states: [s1, s2, end]    # optional: default = the states named in transitions/terminal, in order
    actions: [go, stay]      # MDP only; optional (default: the actions named in transitions)
    terminal: [end]          # absorbing states with zero reward; they get no transitions
    start: s1                # or [s1, s2] or {s1: 0.5, s2: 0.5}: the start distribution (model.start)
    transitions: ...         # required (see below), unless `grid` or `generator` is given
    rewards: ...             # optional (see below)

Transitions of an MDP map state -> action -> *outcome*; those of a chain or MRP map state -> outcome.
An outcome is one of::

    s2                                   # go to s2 with probability 1
    {s2: 0.5, s3: 0.5}                   # a distribution over next states
    {to: s2, reward: 1}                  # next state (or {to: {s2: 0.5, s3: 0.5}}) and the reward
                                         # for taking this action / leaving this state
    [{to: s2, p: 0.5, reward: 1},        # one entry per next state, each with its own reward
     {to: s3, p: 0.5, reward: -1}]       # (a list of names without p is uniform)

Probabilities are numbers or fractions written as strings (``"1/3"``); each outcome must sum to 1.
Rewards add up: ``rewards: {s: r}`` gives r for every action taken in s (for an MRP: on leaving
s), ``rewards: {s: {a: r}}`` gives r for action a in s, ``reward`` in an outcome adds the reward of
that action / transition, so ``R[s, a] = rewards + sum_s' p(s'|s, a) r(s, a, s')``.

An MDP state need not list every action: an action missing in a state is *unavailable* there.
rlkit keeps P as (A, S, S), so an unavailable action gets a copy of the row of the state's first
(lowest-index) available action; optimal values are unchanged, and ``model.action_mask``
((S, A) bool) records which actions are real, so that the uniform policy and the greedy policy use
available actions only.

Gridworlds (``grid:``) are described in :mod:`rlkit.mdp.grids`. ``generator: gambler`` with
``params: {p_h: 0.4}`` calls :data:`rlkit.mdp.generators.GENERATORS`; ``env_kwargs`` given to
:func:`~rlkit.mdp.formats.load` update the parameters (for a grid, the fields of ``grid``).

``meta:`` holds free-form entries; the old keys of typed facts (``initial``, ``grid``,
``grid_map``, ``action_mask``, ``transition_rewards``), which files written by earlier versions
carry there, are read into the model's fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import yaml

from rlkit._budget import check_memory
from rlkit._io import atomic_write_text
from rlkit.errors import RlkitError
from rlkit.mdp.formats.base import (
    MAX_DOC_DEPTH,
    MAX_DOC_NODES,
    PROB_TOL,
    Model,
    _check_gamma,
    _close,
    _Ctx,
    _first_line,
    _index_of,
    _line_of,
    _Map,
    _meta_json,
    _name,
    _name_list,
    _number,
    _plain,
    _prob,
    _read_text,
    _set_meta,
    _short,
    model_kind,
)
from rlkit.mdp.generators import apply_action_mask
from rlkit.mdp.grids import _GRID_KEYS, _grid_from_mapping
from rlkit.mdp.models import MDP, MRP, MarkovChain, start_distribution

_TOP_KEYS = ("kind", "name", "description", "source", "gamma", "states", "actions", "terminal", "start",
             "transitions", "rewards", "grid", "generator", "params", "meta")

class _TooBig(yaml.YAMLError):
    pass


def _check_node_tree(root: yaml.Node) -> None:
    """Refuse alias bombs and deep nesting before anything is built: count the nodes the document
    expands to (aliases count once per use) and its depth, without recursion, memoised per node."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_DOC_NODES:
                raise _TooBig(f"the document expands to more than {MAX_DOC_NODES:,} values (YAML aliases "
                              "repeated inside one another?)")
            if depth[key] > MAX_DOC_DEPTH:
                raise _TooBig(f"the document is nested more than {MAX_DOC_DEPTH} levels deep")
            continue
        if key in size:
            continue
        if key in on_path:
            raise _TooBig("the document refers to itself (a recursive YAML alias)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
        if len(on_path) > MAX_DOC_DEPTH + 1:
            raise _TooBig(f"the document is nested more than {MAX_DOC_DEPTH} levels deep")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _LineLoader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        _check_node_tree(node)
        return super().construct_document(node)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.line = key, line


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise _DuplicateKey(key, key_node.start_mark.line + 1) from None
        if key in out:
            raise _DuplicateKey(key, key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_outcome(spec: Any, ctx: _Ctx, field: str, line: int | None, *, allow_reward: bool,
                   distribution: bool = False):
    """An outcome -> (list of (next name, p, transition reward or None), reward of the whole outcome
    or None). ``distribution``: a mapping is {state: p} even with a state named "to"."""
    if isinstance(spec, (str, int)) and not isinstance(spec, bool):
        return [(_name(spec), 1.0, None)], None
    if isinstance(spec, list):
        if not spec:
            raise ctx.error(field, "empty list of outcomes", line)
        items = []
        for i, item in enumerate(spec):
            f = f"{field}[{i}]"
            ln = item.line if isinstance(item, _Map) else line
            if isinstance(item, (str, int)) and not isinstance(item, bool):
                items.append((_name(item), None, None))
                continue
            if not isinstance(item, dict) or "to" not in item:
                raise ctx.error(f, "each outcome in a list must be a state name or {to: STATE, p: P, "
                                "reward: R}", ln)
            unknown = set(item) - {"to", "p", "reward"}
            if unknown:
                k = sorted(map(str, unknown))[0]
                raise ctx.error(f, f"unknown key {k!r}{_close(k, ['to', 'p', 'reward'])}; an outcome has "
                                "to, p and reward", _line_of(item, k))
            to = item["to"]
            if not isinstance(to, (str, int)) or isinstance(to, bool):
                raise ctx.error(f"{f}.to", f"must name one state, got {_short(to)}", _line_of(item, "to"))
            p = _prob(item["p"], ctx, f"{f}.p", _line_of(item, "p")) if "p" in item else None
            if "reward" in item and not allow_reward:
                raise ctx.error(f"{f}.reward", "a Markov chain has no rewards; use kind: mrp",
                                _line_of(item, "reward"))
            r = _number(item["reward"], ctx, f"{f}.reward", _line_of(item, "reward")) if "reward" in item \
                else None
            items.append((_name(to), p, r))
        given = [p is not None for _, p, _ in items]
        if any(given) and not all(given):
            raise ctx.error(field, "give p for every outcome of the list or for none (none = uniform)", line)
        if not any(given):
            items = [(t, 1.0 / len(items), r) for t, _, r in items]
        return items, None
    if isinstance(spec, dict):
        if "to" in spec and not distribution:
            unknown = set(spec) - {"to", "reward"}
            if unknown:
                k = sorted(map(str, unknown))[0]
                hint = "; per-transition probabilities go in a list: [{to: s, p: 0.5, reward: r}, ...]" \
                    if k == "p" else _close(k, ["to", "reward"])
                raise ctx.error(field, f"unknown key {k!r}{hint}", _line_of(spec, k))
            reward = None
            if "reward" in spec:
                if not allow_reward:
                    raise ctx.error(f"{field}.reward", "a Markov chain has no rewards; use kind: mrp",
                                    _line_of(spec, "reward"))
                reward = _number(spec["reward"], ctx, f"{field}.reward", _line_of(spec, "reward"))
            to = spec["to"]
            outcomes, _ = _parse_outcome(to, ctx, f"{field}.to", _line_of(spec, "to"), allow_reward=False,
                                         distribution=True)
            return outcomes, reward
        if not spec:
            raise ctx.error(field, "empty outcome: give the next state(s)", line)
        out = []
        for k, p in spec.items():
            out.append((_name(k), _prob(p, ctx, f"{field}.{k}", _line_of(spec, k)), None))
        return out, None
    raise ctx.error(field, f"an outcome must be a state name, a {{state: probability}} mapping, "
                    f"{{to: ..., reward: ...}} or a list of {{to, p, reward}}; got {_short(spec)}", line)



def _parse_start(value: Any, states: list[str], ctx: _Ctx, line: int | None) -> np.ndarray:
    """A file's ``start:`` -> a distribution (:func:`~rlkit.mdp.models.start_distribution`), with the
    file's line in the messages; probabilities may be fractions (``"1/3"``)."""
    if isinstance(value, dict):
        value = {_name(k): _prob(p, ctx, f"start.{k}", _line_of(value, k)) for k, p in value.items()}
    else:
        value = _name_list(value, ctx, "start", line)
        if not value:
            raise ctx.error("start", "give a state, a list of states or {state: probability}", line)
    try:
        return start_distribution(value, states)
    except RlkitError as exc:
        raise ctx.error("", str(exc), line) from None


def _infer_kind(doc: dict) -> str:
    if "grid" in doc or "actions" in doc:
        return "mdp"
    if "rewards" in doc or "gamma" in doc:
        return "mrp"
    return "chain"


def model_from_dict(doc: Any, *, source: str = "<model>", gamma: float | None = None,
                    env_kwargs: dict | None = None) -> Model:
    """Build a model from a parsed YAML/JSON document (schema in this module's docstring).

    :param doc: the document (a mapping).
    :param source: file name used in error messages.
    :param gamma: discount overriding the document's.
    :param env_kwargs: generator parameters or grid fields overriding the document's.
    :return: a :class:`MarkovChain`, :class:`MRP` or :class:`MDP`.
    """
    ctx = _Ctx(source)
    if not isinstance(doc, dict):
        raise ctx.error("", "the file must hold a mapping with fields such as kind, states, transitions "
                        f"(got {type(doc).__name__})")
    for key in doc:
        if key not in _TOP_KEYS:
            raise ctx.error(str(key), f"unknown field{_close(str(key), _TOP_KEYS)}; fields are "
                            f"{', '.join(_TOP_KEYS)}", _line_of(doc, key))
    kind = doc.get("kind", _infer_kind(doc))
    if kind not in ("chain", "mrp", "mdp"):
        raise ctx.error("kind", f"must be chain, mrp or mdp, got {_short(kind)}", _line_of(doc, "kind"))
    if gamma is not None:
        g = _check_gamma(gamma)
    elif "gamma" in doc:
        g = _check_gamma(doc["gamma"], where=f"{source} line {_line_of(doc, 'gamma')}"
                         if _line_of(doc, "gamma") else source)
    else:
        g = None
    env_kwargs = dict(env_kwargs or {})

    if "generator" in doc:
        model = _from_generator(doc, ctx, g, env_kwargs)
    elif "grid" in doc:
        if kind != "mdp":
            raise ctx.error("kind", f"a grid is an MDP; drop kind: {kind}", _line_of(doc, "kind"))
        for key in ("transitions", "states", "actions", "terminal", "rewards"):
            if key in doc:
                raise ctx.error(key, "a grid model takes its states, actions and rewards from `grid`; "
                                f"remove {key}", _line_of(doc, key))
        grid = doc["grid"]
        if not isinstance(grid, dict):
            raise ctx.error("grid", "must be a mapping with map, slip, step_reward, rewards, actions",
                            _line_of(doc, "grid"))
        for k in env_kwargs:
            if k not in _GRID_KEYS:
                raise ctx.error("env_kwargs", f"unknown grid field {k!r}{_close(k, _GRID_KEYS)}; "
                                f"a grid accepts {', '.join(_GRID_KEYS)}")
        merged = _Map({**grid, **env_kwargs})
        merged.line, merged.key_lines = getattr(grid, "line", None), getattr(grid, "key_lines", {})
        model = _grid_from_mapping(merged, ctx, _need_gamma(g, ctx, doc))
    else:
        if env_kwargs:
            raise ctx.error("env_kwargs", f"this model takes no parameters (got {sorted(env_kwargs)}); "
                            "only generator and grid models do")
        if "transitions" not in doc:
            raise ctx.error("transitions", "missing: list the transitions of each state (or give `grid` "
                            "or `generator`)", getattr(doc, "line", None))
        model = _from_transitions(doc, kind, ctx, g)

    for key in ("name", "description", "source"):
        if key in doc:
            model.meta[key] = str(doc[key])
    if "meta" in doc:
        meta = doc["meta"]
        if not isinstance(meta, dict):
            raise ctx.error("meta", "must be a mapping", _line_of(doc, "meta"))
        _set_meta(model, {str(k): _plain(v) for k, v in meta.items()}, source)
    if "start" in doc:
        model.start = _parse_start(doc["start"], model.states, ctx, _line_of(doc, "start"))
    return model



def _need_gamma(g: float | None, ctx: _Ctx, doc: dict) -> float:
    if g is None:
        raise ctx.error("gamma", "missing: add e.g. `gamma: 0.9` to the file or pass a discount "
                        "(--gamma G, load(..., gamma=G))", getattr(doc, "line", None))
    return g


def _from_generator(doc: dict, ctx: _Ctx, g: float | None, env_kwargs: dict) -> Model:
    from rlkit.mdp.generators import GENERATORS, generator_params

    name = str(doc["generator"])
    if name not in GENERATORS:
        raise ctx.error("generator", f"unknown generator {name!r}{_close(name, list(GENERATORS))}; "
                        f"generators: {', '.join(GENERATORS)}", _line_of(doc, "generator"))
    for key in ("transitions", "states", "actions", "terminal", "rewards", "grid", "start"):
        if key in doc:
            raise ctx.error(key, f"a generator model builds its own {key}; remove it", _line_of(doc, key))
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise ctx.error("params", "must be a mapping of parameter: value", _line_of(doc, "params"))
    accepted = generator_params(name)
    for origin, mapping in (("params", params), ("env_kwargs", env_kwargs)):
        for k in mapping:
            if k not in accepted:
                raise ctx.error(f"{origin}.{k}" if origin == "params" else "env_kwargs",
                                f"unknown parameter {k!r}{_close(str(k), list(accepted))} of generator "
                                f"{name}; it accepts {', '.join(accepted)}", _line_of(mapping, k))
    kwargs = {str(k): v for k, v in {**params, **env_kwargs}.items()}
    if g is not None:
        kwargs["gamma"] = g
    try:
        return GENERATORS[name](**kwargs)
    except RlkitError as exc:
        raise ctx.error("params", str(exc)) from None
    except OverflowError:  # a number of hundreds of digits where a float is wanted
        big = [k for k, v in kwargs.items() if isinstance(v, int) and abs(v) > 2**1023]
        raise ctx.error("params", f"{', '.join(big) or 'a parameter'} is too large for a float; give a "
                        "number of ordinary size") from None


def _from_transitions(doc: dict, kind: str, ctx: _Ctx, g: float | None) -> Model:
    trans = doc["transitions"]
    tline = _line_of(doc, "transitions")
    if not isinstance(trans, dict):
        raise ctx.error("transitions", "must map each state to its transitions", tline)
    terminal_names = _name_list(doc.get("terminal"), ctx, "terminal", _line_of(doc, "terminal"))
    is_mdp = kind == "mdp"
    if "actions" in doc and not is_mdp:
        raise ctx.error("actions", f"a {kind} has no actions; use kind: mdp", _line_of(doc, "actions"))
    if "rewards" in doc and kind == "chain":
        raise ctx.error("rewards", "a Markov chain has no rewards; use kind: mrp", _line_of(doc, "rewards"))

    # pass 1: parse every outcome
    records = []  # (state, action|None, outcomes, reward, field, line)
    for s, per_state in trans.items():
        s_name = _name(s)
        f, ln = f"transitions.{s_name}", _line_of(trans, s)
        if s_name in terminal_names:
            raise ctx.error(f, f"{s_name!r} is terminal (absorbing, zero reward) and cannot have "
                            "transitions; remove them or drop it from terminal", ln)
        if is_mdp:
            if not isinstance(per_state, dict) or not per_state or (
                    "to" in per_state and "to" not in _name_list(doc.get("actions"), ctx, "actions", None)):
                raise ctx.error(f, "an MDP state maps each of its actions to an outcome, e.g. "
                                "{go: s2, stay: {to: s1, reward: -1}}", ln)
            for a, spec in per_state.items():
                a_name = _name(a)
                fa, la = f"{f}.{a_name}", _line_of(per_state, a)
                outcomes, reward = _parse_outcome(spec, ctx, fa, la, allow_reward=True)
                records.append((s_name, a_name, outcomes, reward, fa, la))
        else:
            outcomes, reward = _parse_outcome(per_state, ctx, f, ln, allow_reward=kind == "mrp")
            records.append((s_name, None, outcomes, reward, f, ln))

    # names
    if "states" in doc:
        states = _name_list(doc["states"], ctx, "states", _line_of(doc, "states"))
        if not states:
            raise ctx.error("states", "is empty", _line_of(doc, "states"))
    else:
        states = []
        seen: set[str] = set()
        for name in [r[0] for r in records] + terminal_names + [t for r in records for t, _, _ in r[2]]:
            if name not in seen:
                seen.add(name)
                states.append(name)
    state_of = _index_of(states, ctx, "transitions", tline)
    terminal = np.zeros(len(states), dtype=bool)
    for t in terminal_names:
        terminal[state_of(t, "terminal", _line_of(doc, "terminal"))] = True
    if is_mdp:
        if "actions" in doc:
            actions = _name_list(doc["actions"], ctx, "actions", _line_of(doc, "actions"))
        else:
            actions = list(dict.fromkeys(r[1] for r in records))
        if not actions:
            raise ctx.error("actions", "an MDP needs at least one action", _line_of(doc, "actions"))
        action_of = _index_of(actions, ctx, "transitions", tline, what="action")
    S = len(states)
    A = len(actions) if is_mdp else 1

    # pass 2: arrays
    check_memory(2 * 8.0 * A * S * S, f"a dense model with {S:,} states and {A:,} action(s)",
                 where=ctx.source)
    P = np.zeros((A, S, S))
    R = np.zeros((S, A))
    mask = np.zeros((S, A), dtype=bool)
    for s_name, a_name, outcomes, reward, f, ln in records:
        s = state_of(s_name, f, ln)
        a = action_of(a_name, f, ln) if is_mdp else 0
        total = 0.0
        for t_name, p, r in outcomes:
            t = state_of(t_name, f, ln)
            P[a, s, t] += p
            total += p
            if r is not None:
                R[s, a] += p * r
        if abs(total - 1.0) > PROB_TOL:
            raise ctx.error(f, f"probabilities sum to {total:.10g}, not 1", ln)
        if reward is not None:
            R[s, a] += reward
        mask[s, a] = True

    if "rewards" in doc:
        _add_rewards(doc["rewards"], R, states, actions if is_mdp else None, state_of, ctx,
                     _line_of(doc, "rewards"))
    bad = terminal & (R != 0).any(axis=1)
    if bad.any():
        s = int(np.flatnonzero(bad)[0])
        raise ctx.error("rewards", f"terminal state {states[s]!r} has a reward; terminal states have zero "
                        "reward", _line_of(doc, "rewards"))
    missing = ~terminal & ~mask.any(axis=1)
    if missing.any():
        s = int(np.flatnonzero(missing)[0])
        raise ctx.error(f"transitions.{states[s]}", f"state {states[s]!r} has no transitions; give them, "
                        "or list it under terminal if it ends the episode", tline)
    t_idx = np.flatnonzero(terminal)
    P[:, t_idx, :] = 0.0
    P[:, t_idx, t_idx] = 1.0
    mask[t_idx] = True

    try:
        if kind == "chain":
            return MarkovChain(P[0], states)
        g = _need_gamma(g, ctx, doc)
        if kind == "mrp":
            return MRP(P[0], R[:, 0], g, states=states, terminal=terminal)
        if not mask.all():
            apply_action_mask(P, R, mask)
        return MDP(P, R, g, states=states, actions=actions, terminal=terminal,
                   action_mask=None if mask.all() else mask)
    except RlkitError as exc:
        raise RlkitError(str(exc), where=ctx.source) from None


def _add_rewards(rewards: Any, R: np.ndarray, states: list[str], actions: list[str] | None, state_of,
                 ctx: _Ctx, line: int | None) -> None:
    if not isinstance(rewards, dict):
        raise ctx.error("rewards", "must map states to a reward (or, in an MDP, to {action: reward})", line)
    action_of = _index_of(actions, ctx, "rewards", line, what="action") if actions else None
    for s_name, r in rewards.items():
        f, ln = f"rewards.{s_name}", _line_of(rewards, s_name)
        s = state_of(_name(s_name), f, ln)
        if isinstance(r, dict):
            if action_of is None:
                raise ctx.error(f, "per-action rewards need an MDP (kind: mdp)", ln)
            for a_name, ra in r.items():
                a = action_of(_name(a_name), f"{f}.{a_name}", _line_of(r, a_name))
                R[s, a] += _number(ra, ctx, f"{f}.{a_name}", _line_of(r, a_name))
        else:
            R[s, :] += _number(r, ctx, f, ln)



def _row_items(P: Any, s: int) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(P):
        lo, hi = P.indptr[s], P.indptr[s + 1]
        return P.indices[lo:hi], P.data[lo:hi]
    row = P[s]
    nz = np.flatnonzero(row)
    return nz, row[nz]


def _outcome_dict(idx: np.ndarray, probs: np.ndarray, states: list[str]) -> Any:
    if len(idx) == 1 and probs[0] == 1.0:
        return states[int(idx[0])]
    out = {states[int(t)]: float(p) for t, p in zip(idx, probs, strict=True)}
    return {"to": out} if "to" in out else out  # a state named "to" needs the explicit form


def model_to_dict(model: Model) -> dict[str, Any]:
    """The YAML/JSON document of a model; :func:`model_from_dict` reads it back to the same arrays."""
    kind = model_kind(model)
    states = list(model.states)
    doc: dict[str, Any] = {"kind": kind}
    meta = dict(model.meta)
    for key in ("name", "description", "source"):
        if key in meta:
            doc[key] = str(meta.pop(key))
    if kind != "chain":
        doc["gamma"] = float(model.gamma)
    doc["states"] = states
    if kind == "mdp":
        doc["actions"] = list(model.actions)
    terminal = np.asarray(model.terminal, dtype=bool) if kind != "chain" else np.zeros(len(states), bool)
    if terminal.any():
        doc["terminal"] = [states[i] for i in np.flatnonzero(terminal)]
    initial = meta.pop("initial", None)
    if initial is not None:
        mu = np.asarray(initial, dtype=float)
        doc["start"] = {states[i]: float(mu[i]) for i in np.flatnonzero(mu)}
    mask = meta.pop("action_mask", None)
    trans: dict[str, Any] = {}
    if kind == "mdp":
        mats = model.P if isinstance(model.P, list) else [model.P[a] for a in range(model.n_actions)]
        mask = np.ones(model.R.shape, bool) if mask is None else np.asarray(mask, bool)
        for s in np.flatnonzero(~terminal):
            per: dict[str, Any] = {}
            for a in np.flatnonzero(mask[s]):
                idx, probs = _row_items(mats[a], int(s))
                out: Any = _outcome_dict(idx, probs, states)
                if model.R[s, a] != 0:
                    target = out["to"] if isinstance(out, dict) and list(out) == ["to"] else out
                    out = {"to": target, "reward": float(model.R[s, a])}
                per[model.actions[a]] = out
            trans[states[s]] = per
    else:
        P = sp.csr_array(model.P) if sp.issparse(model.P) else model.P
        for s in np.flatnonzero(~terminal):
            idx, probs = _row_items(P, int(s))
            trans[states[s]] = _outcome_dict(idx, probs, states)
        if kind == "mrp" and np.any(model.R != 0):
            doc["rewards"] = {states[s]: float(model.R[s]) for s in np.flatnonzero(model.R)}
    doc["transitions"] = trans
    plain = json.loads(_meta_json(meta))
    if plain:
        doc["meta"] = plain
    return doc



def _read_doc(path: Path, where: str) -> Any:
    text = _read_text(path, where, "YAML/JSON")
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RlkitError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                             where=where) from None
        except (ValueError, RecursionError) as exc:  # a number of > 4300 digits; nesting too deep
            raise RlkitError(f"unreadable JSON: {_first_line(exc)}",
                             where=where) from None
        try:  # JSON is YAML: read it again with line numbers for the error messages
            again = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
        except (yaml.YAMLError, ValueError, RecursionError):
            again = None
        if again is None or again != doc:
            _check_plain_tree(doc, where)
            return doc
        return again
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise RlkitError(f"malformed YAML: nested more than {MAX_DOC_DEPTH} levels deep",
                         where=where) from None
    except _TooBig as exc:
        raise RlkitError(f"refused YAML: {exc}", where=where) from None
    except ValueError as exc:  # an integer of more than 4300 digits, a bad date
        raise RlkitError(f"unreadable YAML value: {_first_line(exc)}", where=where) from None
    except _DuplicateKey as exc:
        raise RlkitError(f"malformed YAML at line {exc.line}: duplicate key {exc.key!r}",
                         where=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise RlkitError(f"malformed YAML{at}: {problem}", where=where) from None
    if doc is None:
        raise RlkitError("the file is empty", where=where)
    return doc



def _check_plain_tree(doc: Any, where: str) -> None:
    """Depth and size limits for a document parsed by :mod:`json` (no aliases, so a walk is enough)."""
    stack, n = [(doc, 1)], 0
    while stack:
        x, d = stack.pop()
        n += 1
        if d > MAX_DOC_DEPTH or n > MAX_DOC_NODES:
            raise RlkitError(f"refused JSON: nested more than {MAX_DOC_DEPTH} levels deep or more than "
                             f"{MAX_DOC_NODES:,} values", where=where)
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x)




def read(path: Path, *, where: str, gamma: float | None = None, env_kwargs: dict | None = None) -> Model:
    """Read a YAML or JSON model file (schema in this module's docstring)."""
    return model_from_dict(_read_doc(Path(path), where), source=where, gamma=gamma, env_kwargs=env_kwargs)


def write_yaml(model: Model, path: Path) -> None:
    """Write ``model`` as a YAML document, atomically."""
    atomic_write_text(path, yaml.safe_dump(model_to_dict(model), sort_keys=False, default_flow_style=None,
                                           width=100))


def write_json(model: Model, path: Path) -> None:
    """Write ``model`` as a JSON document, atomically."""
    atomic_write_text(path, json.dumps(model_to_dict(model), indent=1) + "\n")
