"""Reading and writing Markov models: YAML/JSON files, ``.npz`` arrays, the catalog, Gymnasium.

:func:`load` takes a *spec* and returns a :class:`~rlkit.mdp.models.MarkovChain`,
:class:`~rlkit.mdp.models.MRP` or :class:`~rlkit.mdp.models.MDP`:

* a catalog name (``"student-mdp"``, ``"gridworld-4x4"``, ``"gambler"`` ...; :func:`catalog_names`),
  found in the top-level ``envs/`` folder (or the wheel's copy of it);
* a path to a ``.yaml`` / ``.yml`` / ``.json`` model file (schema below) or a ``.npz`` file of arrays;
* ``"gym:<EnvId>"`` for a Gymnasium environment exposing its transition model ``env.unwrapped.P``
  (``gym:FrozenLake-v1``, ``gym:FrozenLake8x8-v1``, ``gym:Taxi-v4``, ``gym:CliffWalking-v1``).

:func:`save` writes any model back to ``.yaml`` / ``.json`` / ``.npz``; loading the file gives the
same arrays.

Model files (YAML or JSON)
--------------------------
Top-level fields (all optional except as noted)::

    kind: mdp                # chain | mrp | mdp (default: mdp if `actions` is given, mrp if
                             # `rewards` or `gamma` is, else chain)
    name: my-model           # free text, kept in model.meta
    description: one line    # shown by `rlkit envs`
    gamma: 0.9               # required for mrp/mdp unless given to load(..., gamma=)
    states: [s1, s2, end]    # optional: default = the states named in transitions/terminal, in order
    actions: [go, stay]      # MDP only; optional (default: the actions named in transitions)
    terminal: [end]          # absorbing states with zero reward; they get no transitions
    start: s1                # or {s1: 0.5, s2: 0.5}: the start distribution (model.meta["initial"])
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
(lowest-index) available action; optimal values are unchanged, and ``model.meta["action_mask"]``
((S, A) bool) records which actions are real, so that the uniform policy and the greedy policy of
:mod:`rlkit.mdp.report` use available actions only.

Gridworlds
----------
``grid:`` builds an MDP from a FrozenLake-style map (``meta["grid"] = (rows, cols)``,
``meta["grid_map"]`` the rows; state ``r{row}c{col}`` has index ``row * cols + col``)::

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

Generators
----------
``generator: gambler`` with ``params: {p_h: 0.4}`` calls :data:`rlkit.mdp.generators.GENERATORS`;
``env_kwargs`` given to :func:`load` update the parameters (for a grid, the fields of ``grid``).

``.npz`` files
--------------
Arrays ``P`` ((A, S, S) for an MDP, (S, S) for a chain or MRP), ``R`` ((S, A), (A, S, S) or
(S,)), and optionally ``gamma``, ``states``, ``actions``, ``terminal`` — pymdptoolbox's layout, so
``numpy.savez("m.npz", P=P, R=R, gamma=0.9)`` is enough. :func:`save` also writes sparse models
(``P_csr_*`` arrays) and metadata. Files are read with ``allow_pickle=False``.

Example::

    >>> from rlkit.mdp.io import load, save
    >>> mdp = load("student-mdp")
    >>> mdp.n_states, mdp.n_actions, mdp.gamma
    (5, 5, 1.0)
    >>> save(mdp, "/tmp/student.npz")           # doctest: +ELLIPSIS
    PosixPath('/tmp/student.npz')
    >>> bool((load("/tmp/student.npz").P == mdp.P).all())
    True
"""

from __future__ import annotations

import difflib
import json
import math
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import yaml

from rlkit._budget import check_memory
from rlkit._io import atomic_write, atomic_write_text, to_json
from rlkit.catalog import catalog_files
from rlkit.errors import RlkitError
from rlkit.mdp.models import MDP, MRP, MarkovChain, check_csr_arrays

__all__ = [
    "DEFAULT_GYM_GAMMA",
    "GRID_ACTIONS",
    "Model",
    "action_mask",
    "catalog_entries",
    "catalog_names",
    "from_gym",
    "grid_mdp",
    "load",
    "load_policy",
    "model_from_dict",
    "model_kind",
    "model_to_dict",
    "parse_env_kwargs",
    "save",
    "uniform_policy",
]

Model = MarkovChain | MRP | MDP

#: Discount used for ``gym:`` specs when none is given (Gymnasium envs carry no discount).
DEFAULT_GYM_GAMMA = 0.99
#: Absolute tolerance on the sum of an outcome's probabilities in a model file.
PROB_TOL = 1e-8
#: The four moves of a gridworld, as (row, col) steps, in FrozenLake's action order.
GRID_ACTIONS: dict[str, tuple[int, int]] = {"left": (0, -1), "down": (1, 0), "right": (0, 1), "up": (-1, 0)}

_SUFFIXES = (".yaml", ".yml", ".json", ".npz")
_TOP_KEYS = ("kind", "name", "description", "source", "gamma", "states", "actions", "terminal", "start",
             "transitions", "rewards", "grid", "generator", "params", "meta")
_GRID_KEYS = ("map", "slip", "step_reward", "rewards", "actions")
_CELL_KINDS = {"S": "start", "F": "free", ".": "free", "H": "hole", "G": "goal", "W": "wall", "#": "wall",
               "C": "cliff"}


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------


def model_kind(model: Any) -> str:
    """``"chain"``, ``"mrp"`` or ``"mdp"``."""
    if isinstance(model, MDP):
        return "mdp"
    if isinstance(model, MRP):
        return "mrp"
    if isinstance(model, MarkovChain):
        return "chain"
    raise RlkitError(f"not an rlkit model: {type(model).__name__}")


def _close(word: str, choices: Sequence[str], n: int = 3) -> str:
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(x) for x in m)}?)" if m else ""


def _listing(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _short(x: Any, limit: int = 60) -> str:
    """``repr(x)``, cut to ``limit`` characters for a message (a value may have thousands of digits)."""
    if isinstance(x, int) and x.bit_length() > 200:
        return f"an integer of about {x.bit_length() * 3 // 10} digits"
    text = repr(x)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_gamma(gamma: Any, where: str | None = None) -> float:
    if isinstance(gamma, bool):
        raise RlkitError(f"gamma must be a number in [0, 1], got {_short(gamma)}", where=where)
    try:
        if isinstance(gamma, str) and len(gamma) > 400:
            raise ValueError("too long")
        g = float(Fraction(gamma.strip())) if isinstance(gamma, str) else float(gamma)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise RlkitError(f"gamma must be a number in [0, 1], got {_short(gamma)}", where=where) from None
    if not (0.0 <= g <= 1.0):  # also catches NaN
        raise RlkitError(f"gamma = {g} is outside [0, 1]; use a discount between 0 and 1", where=where)
    return g


class _Map(dict):
    """A YAML mapping that remembers the line of each key."""

    line: int | None = None
    key_lines: dict


#: Most nodes a YAML/JSON document may hold once its aliases are expanded, and deepest nesting.
MAX_DOC_NODES = 2_000_000
MAX_DOC_DEPTH = 64


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


class _Ctx:
    """Where we are in a model file, for error messages: ``file line N: field: message``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, field: str, message: str, line: int | None = None) -> RlkitError:
        where = f"{self.source} line {line}" if line else self.source
        return RlkitError(f"{field}: {message}" if field else message, where=where)


def _line_of(mapping: Any, key: Any) -> int | None:
    if isinstance(mapping, _Map):
        return mapping.key_lines.get(key, mapping.line)
    return None


def _name(x: Any) -> str:
    """State/action names are strings; YAML may have read ``1`` or ``yes`` as a number or bool."""
    return str(x)


def _number(x: Any, ctx: _Ctx, field: str, line: int | None, what: str = "reward") -> float:
    if isinstance(x, bool) or x is None:
        raise ctx.error(field, f"{what} must be a number, got {_short(x)}", line)
    try:
        if isinstance(x, (int, float, np.integer, np.floating)):
            v = float(x)
        elif isinstance(x, str):
            try:
                if len(x) > 400:
                    raise ValueError("too long")
                v = float(Fraction(x.strip()))
            except (ValueError, ZeroDivisionError):
                raise ctx.error(field, f"{what} must be a number or a fraction like '1/3', got {_short(x)}",
                                line) from None
        else:
            raise ctx.error(field, f"{what} must be a number, got {type(x).__name__} {_short(x)}", line)
    except OverflowError:
        raise ctx.error(field, f"{what} {_short(x)} is too large for a float; give a finite number",
                        line) from None
    if math.isnan(v):
        raise ctx.error(field, f"{what} is NaN; give a finite number", line)
    if math.isinf(v):
        raise ctx.error(field, f"{what} is infinite; give a finite number", line)
    return v


def _prob(x: Any, ctx: _Ctx, field: str, line: int | None) -> float:
    p = _number(x, ctx, field, line, what="probability")
    if p < 0:
        raise ctx.error(field, f"negative probability {p}; probabilities must be in [0, 1]", line)
    if p > 1 + PROB_TOL:
        raise ctx.error(field, f"probability {p} is greater than 1", line)
    return p


# ------------------------------------------------------------------------------------------------
# model files: dict -> model
# ------------------------------------------------------------------------------------------------


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


def _name_list(value: Any, ctx: _Ctx, field: str, line: int | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [_name(value)]
    if not isinstance(value, list):
        raise ctx.error(field, f"must be a list of names, got {_short(value)}", line)
    out = [_name(v) for v in value]
    dup = [n for i, n in enumerate(out) if n in out[:i]]
    if dup:
        raise ctx.error(field, f"{dup[0]!r} is listed twice; names must be unique", line)
    return out


def _index_of(names: list[str], ctx: _Ctx, field: str, line: int | None, what: str = "state"):
    index = {n: i for i, n in enumerate(names)}

    def lookup(name: str, f: str | None = None, ln: int | None = None) -> int:
        if name not in index:
            raise ctx.error(f or field, f"unknown {what} {name!r}{_close(name, names)}; known {what}s: "
                            f"{_listing(names)}", ln or line)
        return index[name]

    return lookup


def _parse_start(value: Any, states: list[str], ctx: _Ctx, line: int | None) -> np.ndarray:
    lookup = _index_of(states, ctx, "start", line)
    mu = np.zeros(len(states))
    if isinstance(value, dict):
        for k, p in value.items():
            mu[lookup(_name(k))] += _prob(p, ctx, f"start.{k}", _line_of(value, k))
        if abs(mu.sum() - 1.0) > PROB_TOL:
            raise ctx.error("start", f"probabilities sum to {mu.sum():.10g}, not 1", line)
        return mu
    names = _name_list(value, ctx, "start", line)
    if not names:
        raise ctx.error("start", "give a state, a list of states or {state: probability}", line)
    for n in names:
        mu[lookup(n)] = 1.0 / len(names)
    return mu


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
        for k, v in meta.items():
            model.meta.setdefault(str(k), _plain(v))
    _check_meta(model, source)
    if "start" in doc:
        model.meta["initial"] = _parse_start(doc["start"], model.states, ctx, _line_of(doc, "start"))
    return model


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


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
        meta = {}
        if not mask.all():
            from rlkit.mdp.generators import apply_action_mask

            apply_action_mask(P, R, mask)
            meta["action_mask"] = mask
        return MDP(P, R, g, states=states, actions=actions, terminal=terminal, meta=meta)
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


# ------------------------------------------------------------------------------------------------
# gridworlds
# ------------------------------------------------------------------------------------------------


def grid_mdp(grid_map: str | Sequence[str], *, gamma: float, slip: float = 0.0, step_reward: float = 0.0,
             rewards: dict[str, float] | None = None, actions: Sequence[str] = tuple(GRID_ACTIONS)) -> MDP:
    """A gridworld MDP from a FrozenLake-style map (cells described in this module's docstring).

    :param grid_map: rows as a list of strings or one multi-line string.
    :param gamma: discount.
    :param slip: probability of moving to one of the two perpendicular directions instead (half
        each); FrozenLake's ``is_slippery=True`` is ``slip=2/3``.
    :param step_reward: reward of every move.
    :param rewards: reward of a move that enters a cell of a kind, e.g. ``{"G": 1, "C": -100}``.
    :param actions: the moves and their order (FrozenLake's by default).
    :return: the MDP, with ``meta["grid"]``, ``meta["grid_map"]`` and ``meta["initial"]``.

    Example (Sutton & Barto's Example 4.1)::

        >>> from rlkit.mdp.io import grid_mdp
        >>> m = grid_mdp(["GFFF", "FFFF", "FFFF", "FFFG"], gamma=1.0, step_reward=-1)
        >>> m.n_states, m.n_actions, m.meta["grid"]
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
    meta: dict[str, Any] = {"grid": (n_rows, cols), "grid_map": list(rows)}
    if len(starts):
        initial = np.zeros(S)
        initial[starts] = 1.0 / len(starts)
        meta["initial"] = initial
    try:
        return MDP(P, R, gamma, states=[f"r{r}c{c}" for r, c in zip(rr, cc, strict=True)], actions=actions,
                   terminal=terminal, meta=meta)
    except RlkitError as exc:
        raise RlkitError(str(exc), where=ctx.source) from None


# ------------------------------------------------------------------------------------------------
# Gymnasium
# ------------------------------------------------------------------------------------------------

_GYM_ACTIONS = {
    "FrozenLakeEnv": ["left", "down", "right", "up"],
    "CliffWalkingEnv": ["up", "right", "down", "left"],
    "TaxiEnv": ["south", "north", "east", "west", "pickup", "dropoff"],
}
_GYM_TABULAR = "FrozenLake-v1, FrozenLake8x8-v1, Taxi-v4, CliffWalking-v1"


def from_gym(env_id: str, *, gamma: float | None = None, **kwargs: Any) -> MDP:
    """The MDP of a Gymnasium environment that exposes its model as ``env.unwrapped.P``
    (``P[s][a] = [(prob, next_state, reward, terminated), ...]``, the toy-text convention).

    Terminal transitions are not bootstrapped: a transition flagged ``terminated`` leads to an
    absorbing zero-reward state, so V(s) is exactly the expected (discounted) episodic return. The
    states reached only through terminating transitions (FrozenLake's holes and goal, CliffWalking's
    goal, Taxi's delivered states) are marked terminal; if a state is also reached without
    terminating, one extra absorbing state ``"terminal"`` is added instead.
    Grid envs get ``meta["grid"]`` and ``meta["grid_map"]``; ``meta["initial"]`` is the env's start
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
    s_i, a_i, p, s2, r, done = (arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2],
                                arr[:, 3].astype(np.int64), arr[:, 4], arr[:, 5].astype(bool))
    # The states entered by terminating transitions become terminal (absorbing, zero reward: their own
    # rows are replaced). That is exact unless one of them is also entered without terminating from a
    # state an episode can reach (from the start distribution, through non-terminating transitions);
    # then one extra absorbing state "terminal" takes the terminating transitions instead.
    reached_done = np.zeros(S, dtype=bool)
    reached_done[s2[done & (p > 0)]] = True
    init = getattr(u, "initial_state_distrib", None)
    init = np.asarray(init, dtype=float) if init is not None and np.shape(init) == (S,) else None
    live = ~done & (p > 0) & ~reached_done[s_i]
    reachable = _reachable(S, s_i[live], s2[live], None if init is None else np.flatnonzero(init > 0))
    reached_live = np.zeros(S, dtype=bool)
    reached_live[s2[live & reachable[s_i]]] = True
    extra = bool((reached_done & reached_live).any())
    n = S + 1 if extra else S
    if extra:
        s2 = np.where(done, S, s2)
        terminal = np.zeros(n, dtype=bool)
        terminal[S] = True
    else:
        terminal = reached_done
    P = np.zeros((A, n, n))
    R = np.zeros((A, n, n))  # reward of each transition (probability-weighted where entries merge)
    np.add.at(P, (a_i, s_i, s2), p)
    np.add.at(R, (a_i, s_i, s2), p * r)
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
                            "description": f"Gymnasium {env_id} ({cls})"}
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
    if grid_map is not None:
        cols = len(grid_map[0])
        meta["grid"] = (len(grid_map), cols)
        meta["grid_map"] = grid_map
        states = [f"r{i // cols}c{i % cols}" for i in range(S)]
    if init is not None:
        meta["initial"] = np.concatenate([init, np.zeros(n - S)])
    if extra:
        states.append("terminal")
    try:
        return MDP(P, R, gamma, states=states, actions=actions, terminal=terminal, meta=meta)
    except RlkitError as exc:
        raise RlkitError(str(exc), where=where) from None


def _reachable(S: int, src: np.ndarray, dst: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """Bool (S,): states reachable from ``starts`` (all states when None) along the edges src->dst."""
    if starts is None:
        return np.ones(S, dtype=bool)
    from scipy.sparse.csgraph import breadth_first_order

    # a virtual node S points at every start state
    rows = np.concatenate([src, np.full(len(starts), S)])
    cols = np.concatenate([dst, starts])
    graph = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(S + 1, S + 1))
    order = breadth_first_order(graph, S, directed=True, return_predecessors=False)
    out = np.zeros(S + 1, dtype=bool)
    out[order] = True
    return out[:S]


# ------------------------------------------------------------------------------------------------
# .npz
# ------------------------------------------------------------------------------------------------


def _npz_budget(path: Path, where: str) -> None:
    """Refuse an .npz whose arrays, decompressed, would not fit (the zip directory states the sizes;
    zipfile never inflates a member beyond its stated size, so a zip bomb stops here)."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise RlkitError(f"not a readable .npz file: {_first_line(exc)}", where=where) from None
    check_memory(total, "the arrays of this .npz file", where=where)


def _load_npz(path: Path, gamma: float | None, where: str) -> Model:
    _npz_budget(path, where)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise RlkitError(f"not a readable .npz file: {_first_line(exc)}", where=where) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise RlkitError("not an .npz archive (a single .npy array?); save models with numpy.savez",
                         where=where)
    with data:
        keys = set(data.files)

        def get(key: str, kinds: str | None = None, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
            try:
                arr = data[key]
            except ValueError as exc:
                if "pickle" not in str(exc).lower():
                    raise RlkitError(f"array {key!r} cannot be read: {_first_line(exc)}",
                                     where=where) from None
                raise RlkitError(f"array {key!r} holds Python objects (pickled), which rlkit does not load; "
                                 "save plain numeric arrays (numpy.savez(path, P=P, R=R))",
                                 where=where) from None
            except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise RlkitError(f"array {key!r} cannot be read: {_first_line(exc)}", where=where) from None
            if kinds is not None and arr.dtype.kind not in kinds:
                raise RlkitError(f"array {key!r} has dtype {arr.dtype}; expected {_KIND_WORDS[kinds]}",
                                 where=where)
            ndims = (ndim,) if isinstance(ndim, int) else ndim
            if ndims is not None and arr.ndim not in ndims:
                raise RlkitError(f"array {key!r} has shape {arr.shape}; expected "
                                 f"{' or '.join(f'{n}-D' for n in ndims)}", where=where)
            return arr

        def scalar(key: str, kinds: str) -> Any:
            arr = get(key, kinds)
            if arr.size != 1 or arr.ndim > 1:
                raise RlkitError(f"array {key!r} has shape {arr.shape}; expected a single value", where=where)
            return arr.reshape(()).item()

        meta: dict[str, Any] = {}
        if "meta_json" in keys:
            try:
                meta = json.loads(scalar("meta_json", "U"))
            except (ValueError, RecursionError) as exc:
                raise RlkitError(f"meta_json is not valid JSON: {str(exc)[:200]}", where=where) from None
            if not isinstance(meta, dict):
                raise RlkitError(f"meta_json holds a {type(meta).__name__}; expected a JSON object",
                                 where=where)
        if "P" in keys:
            P: Any = get("P", "fiub", (2, 3)).astype(np.float64)
        elif "P_csr_count" in keys:
            count = scalar("P_csr_count", "iu")
            n_given = sum(1 for k in keys if k.startswith("P_csr_indptr_"))
            if not 1 <= count <= n_given:
                raise RlkitError(f"P_csr_count is {count} but the file holds {n_given} sparse matrices "
                                 "(P_csr_indptr_*)", where=where)
            P = _csr_from_npz(get, int(count), where)
        else:
            raise RlkitError(f"no array 'P' (found {', '.join(sorted(keys)) or 'nothing'}); an .npz model "
                             "holds P (A, S, S) or (S, S) and R", where=where)
        declared = str(scalar("kind", "US")) if "kind" in keys else None
        if isinstance(P, list):
            kind = declared or ("mdp" if len(P) > 1 else "mrp" if "R" in keys else "chain")
            if kind != "mdp":
                P = P[0] if len(P) == 1 else P
        else:
            kind = declared or ("mdp" if P.ndim == 3 else "mrp" if "R" in keys else "chain")
        shape = (len(P), *P[0].shape) if isinstance(P, list) else P.shape
        if kind not in ("chain", "mrp", "mdp"):
            raise RlkitError(f"kind is {kind!r}; expected chain, mrp or mdp", where=where)
        if kind == "mdp" and (len(shape) != 3 or shape[1] != shape[2]):
            raise RlkitError(f"P has shape {shape}; an MDP needs P of shape (A, S, S)", where=where)
        if kind != "mdp" and (len(shape) != 2 or shape[0] != shape[1]):
            raise RlkitError(f"P has shape {shape}; expected (A, S, S) for an MDP or (S, S) for a chain "
                             "or MRP", where=where)
        S = shape[1] if kind == "mdp" else shape[0]
        A = shape[0] if kind == "mdp" else None

        states = [str(x) for x in get("states", "USiu", 1).tolist()] if "states" in keys else None
        actions = [str(x) for x in get("actions", "USiu", 1).tolist()] if "actions" in keys else None
        if states is not None and len(states) != S:
            raise RlkitError(f"states has {len(states)} names but P has {S} states", where=where)
        if actions is not None and A is not None and len(actions) != A:
            raise RlkitError(f"actions has {len(actions)} names but P has {A} actions", where=where)
        terminal = get("terminal", "biu", 1).astype(bool) if "terminal" in keys else None
        if terminal is not None and terminal.shape != (S,):
            raise RlkitError(f"terminal has shape {terminal.shape}; expected ({S},) booleans", where=where)
        if "gamma" in keys and gamma is None:
            gamma = _check_gamma(float(scalar("gamma", "fiu")), where=f"{where} gamma")
        elif gamma is not None:
            gamma = _check_gamma(gamma)
        try:
            if kind == "chain":
                model: Model = MarkovChain(P, states, meta=meta)
            else:
                if "R" not in keys:
                    raise RlkitError(f"no array 'R'; a {kind} needs rewards R", where=where)
                R = get("R", "fiub").astype(np.float64)
                if kind == "mdp":
                    ok = [(S, A), (A, S, S), (S,)]
                    if R.shape not in ok:
                        raise RlkitError(f"R has shape {R.shape}; expected (S, A) = ({S}, {A}), "
                                         f"(A, S, S) = ({A}, {S}, {S}) or (S,) = ({S},)", where=where)
                elif R.shape not in ((S,), (S, S)):
                    raise RlkitError(f"R has shape {R.shape}; an MRP needs ({S},)", where=where)
                if gamma is None:
                    raise RlkitError("no gamma in the file: pass a discount (--gamma G, load(..., gamma=G)) "
                                     "or save one (numpy.savez(path, P=P, R=R, gamma=0.9))", where=where)
                if kind == "mrp":
                    model = MRP(P, R, gamma, states=states, terminal=terminal, meta=meta)
                else:
                    model = MDP(P, R, gamma, states=states, actions=actions, terminal=terminal, meta=meta)
        except RlkitError as exc:
            if exc.where:
                raise
            raise RlkitError(str(exc), where=where) from None
        for key in ("action_mask", "initial"):
            if key in keys:
                model.meta[key] = get(key, "biuf" if key == "initial" else "biu")
    _check_meta(model, where)
    return model


_KIND_WORDS = {"fiub": "numbers", "fiu": "a number", "iu": "an integer", "US": "a string", "U": "a string",
               "USiu": "names (strings)", "biu": "booleans", "biuf": "numbers"}


def _check_meta(model: Model, where: str) -> None:
    """The typed facts a file may put in ``meta`` (start distribution, action mask, grid shape) are
    checked against the model here, once, so that no later step meets a wrong shape or type."""
    meta, S = model.meta, model.n_states

    def bad(key: str, expected: str) -> RlkitError:
        return RlkitError(f"meta {key}: expected {expected}, got {str(meta[key])[:80]!r}", where=where)

    for key in ("grid", "value_shape"):
        if meta.get(key) is not None:
            v = meta[key]
            if (not isinstance(v, (list, tuple, np.ndarray)) or len(v) != 2
                    or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
                               for x in v) or int(v[0]) * int(v[1]) != S):
                raise bad(key, f"[rows, cols], two positive integers with rows * cols = {S} states")
            meta[key] = (int(v[0]), int(v[1]))
    if meta.get("grid_map") is not None:
        gm = meta["grid_map"]
        if not isinstance(gm, (list, tuple)) or not all(isinstance(r, str) for r in gm):
            raise bad("grid_map", "a list of row strings")
    for key, dtype, shape in (("initial", np.float64, (S,)),
                              ("action_mask", bool, (S, getattr(model, "n_actions", 1)))):
        if meta.get(key) is None:
            continue
        try:
            arr = np.asarray(meta[key], dtype=dtype)
        except (TypeError, ValueError):
            raise bad(key, f"an array of shape {shape}") from None
        if arr.shape != shape:
            raise bad(key, f"an array of shape {shape} (got shape {arr.shape})")
        if key == "initial" and (not np.isfinite(arr).all() or (arr < 0).any() or abs(arr.sum() - 1) > 1e-8):
            raise bad(key, f"a start distribution over the {S} states (non-negative, summing to 1)")
        if key == "action_mask" and not arr.any(axis=1).all():
            raise bad(key, "at least one available action in every state")
        meta[key] = arr


def _csr_from_npz(get, count: int, where: str) -> list[sp.csr_array]:
    out = []
    for a in range(count):
        try:
            data, indices, indptr = (get(f"P_csr_{k}_{a}") for k in ("data", "indices", "indptr"))
        except KeyError as exc:
            raise RlkitError(f"sparse P is incomplete: missing {exc}", where=where) from None
        shape = None if not out else out[0].shape
        try:
            out.append(check_csr_arrays(data, indices, indptr, shape, field=f"P_csr_*_{a}"))
        except RlkitError as exc:
            raise RlkitError(str(exc), where=where) from None
    return out


def _save_npz(model: Model, path: Path) -> None:
    kind = model_kind(model)
    arrays: dict[str, np.ndarray] = {"kind": np.array(kind), "states": np.array(model.states)}
    mats = model.P if isinstance(model.P, list) else ([model.P] if sp.issparse(model.P) else None)
    if mats is None:
        arrays["P"] = np.asarray(model.P)
    else:
        arrays["P_csr_count"] = np.array(len(mats))
        for a, m in enumerate(mats):
            m = sp.csr_array(m)
            arrays[f"P_csr_data_{a}"] = m.data
            arrays[f"P_csr_indices_{a}"] = m.indices
            arrays[f"P_csr_indptr_{a}"] = m.indptr
    if kind != "chain":
        arrays["R"] = np.asarray(model.R)
        arrays["gamma"] = np.array(model.gamma)
        arrays["terminal"] = np.asarray(model.terminal, dtype=bool)
    if kind == "mdp":
        arrays["actions"] = np.array(model.actions)
    meta = dict(model.meta)
    for key in ("action_mask", "initial"):
        if meta.get(key) is not None:
            arrays[key] = np.asarray(meta.pop(key))
    arrays["meta_json"] = np.array(_meta_json(meta))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write(path, write)


def _meta_json(meta: dict) -> str:
    plain = {}
    for k, v in meta.items():
        try:
            plain[str(k)] = json.loads(to_json(v))
        except (TypeError, ValueError):
            continue  # not serialisable: left out
    return json.dumps(plain)


# ------------------------------------------------------------------------------------------------
# model -> dict (YAML / JSON)
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# public entry points
# ------------------------------------------------------------------------------------------------


def catalog_names() -> list[str]:
    """Names of the catalog's entries (``envs/*.yaml``), sorted."""
    return sorted(catalog_files("envs"))


def catalog_entries() -> list[dict[str, Any]]:
    """One dict per catalog entry: ``name``, ``kind``, ``n_states``, ``n_actions`` (None for a chain
    or MRP), ``gamma``, ``params`` (a generator's defaults) and ``description``."""
    out = []
    for name, path in sorted(catalog_files("envs").items()):
        doc = _read_doc(path, str(path))
        model = load(name)
        kind = model_kind(model)
        out.append({
            "name": name,
            "kind": kind,
            "n_states": model.n_states,
            "n_actions": model.n_actions if kind == "mdp" else None,
            "gamma": None if kind == "chain" else model.gamma,
            "params": dict(doc.get("params") or {}),
            "description": str(doc.get("description", model.meta.get("description", ""))),
        })
    return out


#: Largest model/policy file read as text (YAML/JSON); a larger model belongs in an .npz.
MAX_TEXT_BYTES = 256 * 2**20


def _read_doc(path: Path, where: str) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise RlkitError(f"the file has {size:,} bytes, more than the {MAX_TEXT_BYTES:,} rlkit reads as "
                             "YAML/JSON; save large models as .npz (rlkit.mdp.io.save(model, 'm.npz'))",
                             where=where)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RlkitError(f"cannot read the file: {_first_line(exc)}", where=where) from None
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


def _first_line(exc: BaseException, default: str = "") -> str:
    text = str(exc).splitlines()[0] if str(exc) else default
    if "Exceeds the limit" in text:  # Python's int-from-string guard
        return "a number has more than 4300 digits; write numbers of ordinary size"
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DOC_DEPTH} levels deep"
    return text[:200]


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


def load(spec: str | Path | Model, *, gamma: float | None = None, env_kwargs: dict | None = None) -> Model:
    """Load a model from a catalog name, a file or a Gymnasium id (see the module docstring).

    :param spec: ``"student-mdp"`` (catalog), ``"path/model.yaml"`` / ``.json`` / ``.npz``,
        ``"gym:FrozenLake-v1"``, or a model (returned, with ``gamma`` applied).
    :param gamma: discount overriding the spec's (required where the spec has none).
    :param env_kwargs: parameters: a generator's (``{"p_h": 0.25}`` for ``gambler``,
        ``{"S": 1000}`` for ``forest``), a grid's fields (``{"slip": 0.2}``), or keyword arguments
        of ``gymnasium.make`` (``{"is_slippery": False}``).
    :return: a :class:`MarkovChain`, :class:`MRP` or :class:`MDP`.
    :raises RlkitError: for an unknown spec or any malformed input, naming the file and field.

    Example::

        >>> from rlkit.mdp.io import load
        >>> load("gambler", env_kwargs={"p_h": 0.25}).n_states
        101
        >>> load("gym:Taxi-v4").n_actions
        6
    """
    if isinstance(spec, (MarkovChain, MRP, MDP)):
        if env_kwargs:
            raise RlkitError("env_kwargs apply to specs, not to a model object")
        if gamma is not None and not isinstance(spec, MarkovChain):
            return spec.with_gamma(_check_gamma(gamma))
        return spec
    if gamma is not None:
        gamma = _check_gamma(gamma)
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise RlkitError(f"env_kwargs must be a dict, got {type(env_kwargs).__name__}")
    text = str(spec)
    if text.startswith("gym:"):
        env_id = text[4:].strip()
        if not env_id:
            raise RlkitError("gym: needs an environment id, e.g. gym:FrozenLake-v1")
        return from_gym(env_id, gamma=gamma, **(env_kwargs or {}))
    path = Path(text).expanduser()
    files = catalog_files("envs")
    if path.suffix.lower() in _SUFFIXES:
        if not path.is_file():
            raise RlkitError(f"file not found: {path}")
        return _load_path(path, str(path), gamma, env_kwargs)
    if text in files:  # a catalog name wins over a suffix-less file of the same name
        return _load_path(files[text], f"envs/{files[text].name}", gamma, env_kwargs)
    if path.is_file():
        return _load_path(path, str(path), gamma, env_kwargs)
    raise RlkitError(f"unknown model {text!r}{_close(text, list(files))}: not a catalog name (`rlkit envs` "
                     f"lists them: {_listing(list(files))}), not a .yaml/.json/.npz file, not gym:<EnvId>")


def _load_path(path: Path, where: str, gamma: float | None, env_kwargs: dict | None) -> Model:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if env_kwargs:
            raise RlkitError(f"an .npz model takes no env_kwargs (got {sorted(env_kwargs)})", where=where)
        return _load_npz(path, gamma, where)
    if suffix not in _SUFFIXES:
        raise RlkitError(f"unsupported file type {suffix or '(none)'!r}; use .yaml, .yml, .json or .npz",
                         where=where)
    doc = _read_doc(path, where)
    return model_from_dict(doc, source=where, gamma=gamma, env_kwargs=env_kwargs)


def save(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (``.yaml``/``.yml``, ``.json`` or ``.npz``), atomically.

    :func:`load` of the file gives the same arrays (P, R, gamma, names, terminal states, metadata).

    :param model: a :class:`MarkovChain`, :class:`MRP` or :class:`MDP`.
    :param path: the file to write; the suffix picks the format.
    :return: the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    model_kind(model)
    if suffix == ".npz":
        _save_npz(model, path)
    elif suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(model_to_dict(model), sort_keys=False, default_flow_style=None, width=100)
        atomic_write_text(path, text)
    elif suffix == ".json":
        atomic_write_text(path, json.dumps(model_to_dict(model), indent=1) + "\n")
    else:
        raise RlkitError(f"cannot save to {path}: unsupported suffix {suffix or '(none)'!r}; use .yaml, "
                         ".json or .npz")
    return path


def parse_env_kwargs(items: Sequence[str] | None) -> dict[str, Any]:
    """``["is_slippery=false", "map_name=8x8"]`` -> ``{"is_slippery": False, "map_name": "8x8"}``
    (values read as YAML scalars/lists: numbers, true/false, [1, 2], strings)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise RlkitError(f"--env-kwargs: {item!r} is not key=value (e.g. is_slippery=false)")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key] = value
    return out


def action_mask(model: MDP) -> np.ndarray:
    """(S, A) bool: the actions available in each state (all True unless the model says otherwise)."""
    mask = model.meta.get("action_mask")
    if mask is None:
        return np.ones((model.n_states, model.n_actions), dtype=bool)
    return np.asarray(mask, dtype=bool)


def uniform_policy(model: MDP) -> np.ndarray:
    """The equiprobable policy over each state's available actions, (S, A)."""
    mask = action_mask(model).astype(float)
    return mask / mask.sum(axis=1, keepdims=True)


def load_policy(source: str | Path | np.ndarray | Sequence, model: MDP) -> np.ndarray:
    """A policy for ``model``: ``"uniform"``, an array, or a file.

    Files: ``.npy`` / ``.npz`` (array ``policy`` or the only array), ``.json`` / ``.yaml`` holding a
    list of action indices or names (one per state), an (S, A) list of lists, a mapping
    ``state: action`` or ``state: {action: probability}`` (missing states: uniform over their
    available actions), or the output of ``rlkit solve-mdp --format json`` (its ``policy``).

    :return: (S,) action indices or an (S, A) row-stochastic matrix, validated.
    """
    if not isinstance(model, MDP):
        raise RlkitError(f"a policy needs an MDP; this model is a {model_kind(model)}")
    where = None
    if isinstance(source, (str, Path)):
        if str(source) == "uniform":
            return uniform_policy(model)
        path = Path(source).expanduser()
        where = str(path)
        if not path.is_file():
            raise RlkitError(f"policy file not found: {path} (give a file or 'uniform')")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            check_memory(path.stat().st_size, "this policy file", where=where)
            try:
                value: Any = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise RlkitError(f"not a readable .npy array: {_first_line(exc, 'empty')}",
                                 where=where) from None
            if not isinstance(value, np.ndarray):
                raise RlkitError("not a .npy array (an .npz archive?); save the policy with numpy.save",
                                 where=where)
        elif suffix == ".npz":
            _npz_budget(path, where)
            try:
                data = np.load(path, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("a single array, not an archive")
                with data:
                    files = data.files
                    key = "policy" if "policy" in files else (files[0] if len(files) == 1 else None)
                    value = None if key is None else data[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise RlkitError(f"not a readable .npz file: {_first_line(exc, 'empty')}",
                                 where=where) from None
            if key is None:
                raise RlkitError(f"no array 'policy' (found {', '.join(files) or 'nothing'})", where=where)
        elif suffix in (".json", ".yaml", ".yml"):
            value = _read_doc(path, where)
        else:
            raise RlkitError(f"unsupported policy file type {suffix!r}; use .json, .yaml, .npy or .npz",
                             where=where)
    else:
        value = source
    if isinstance(value, dict) and "policy" in value:
        value = value["policy"]
    try:
        if isinstance(value, dict):
            value = _policy_from_mapping(value, model)
        idx, mat = model.check_policy(value)
    except RlkitError as exc:
        if where is None or exc.where:
            raise
        raise RlkitError(str(exc), where=where) from None
    return idx if idx is not None else mat


def _policy_from_mapping(mapping: dict, model: MDP) -> np.ndarray:
    pi = uniform_policy(model)
    s_of = {n: i for i, n in enumerate(model.states)}
    a_of = {n: i for i, n in enumerate(model.actions)}
    for s_name, choice in mapping.items():
        s_name = _name(s_name)
        if s_name not in s_of:
            raise RlkitError(f"policy: unknown state {s_name!r}{_close(s_name, model.states)}")
        s = s_of[s_name]
        row = np.zeros(model.n_actions)
        items = choice.items() if isinstance(choice, dict) else [(choice, 1.0)]
        for a_name, p in items:
            a_name = _name(a_name)
            if a_name not in a_of:
                raise RlkitError(f"policy.{s_name}: unknown action {a_name!r}"
                                 f"{_close(a_name, model.actions)}; actions are {_listing(model.actions)}")
            row[a_of[a_name]] += _prob(p, _Ctx("policy"), f"{s_name}.{a_name}", None)
        pi[s] = row
    return pi
