"""Model formats are plugins: one module per format, and one table, :data:`FORMATS`, from a file
suffix or a spec prefix to the module's ``read`` / ``write``. :func:`load` and :func:`save` consult
the table and nothing else, so a new format is one new module plus one line below.

=========  ======================  =====================================  ==========
format     suffix / prefix         module                                 writes
=========  ======================  =====================================  ==========
yaml       ``.yaml``, ``.yml``     :mod:`rlkit.mdp.formats.yamldoc`       yes
json       ``.json``               :mod:`rlkit.mdp.formats.yamldoc`       yes
npz        ``.npz``                :mod:`rlkit.mdp.formats.npz`           yes
csv        ``.csv``                :mod:`rlkit.mdp.formats.csvlist`       yes
gym        ``gym:<EnvId>``         :mod:`rlkit.mdp.formats.gym`           no
=========  ======================  =====================================  ==========

A format's ``read(source, *, where, gamma, env_kwargs)`` returns a model (``source`` is the
path, or the whole spec for a prefix format; ``where`` names it in error messages) and raises
:class:`~rlkit.errors.RlkitError` for bad input; ``write(model, path)`` writes atomically.
Besides files and prefixes, :func:`load` takes catalog names (``envs/*.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlkit.catalog import catalog_files
from rlkit.errors import RlkitError
from rlkit.mdp.formats import csvlist, gym, npz, yamldoc
from rlkit.mdp.formats.base import Model, _check_gamma, _close, _listing, model_kind
from rlkit.mdp.models import MDP, MRP, MarkovChain

__all__ = ["FORMATS", "SUFFIXES", "Format", "catalog_entries", "catalog_names", "format_of", "load", "save"]


@dataclass(frozen=True)
class Format:
    """One row of :data:`FORMATS`: a name, the suffixes or the prefix it owns, its reader and writer."""

    name: str
    read: Callable[..., Model]
    write: Callable[[Model, Path], None] | None = None
    suffixes: tuple[str, ...] = ()
    prefix: str | None = None


#: Suffix or prefix -> format; :func:`load` and :func:`save` read this table only.
FORMATS: tuple[Format, ...] = (
    Format("yaml", yamldoc.read, yamldoc.write_yaml, suffixes=(".yaml", ".yml")),
    Format("json", yamldoc.read, yamldoc.write_json, suffixes=(".json",)),
    Format("npz", npz.read, npz.write, suffixes=(".npz",)),
    Format("csv", csvlist.read, csvlist.write, suffixes=(".csv",)),
    Format("gym", gym.read, prefix="gym:"),
)
#: Every file suffix a format reads, in table order.
SUFFIXES: tuple[str, ...] = tuple(s for fmt in FORMATS for s in fmt.suffixes)


def catalog_names() -> list[str]:
    """Names of the catalog's entries (``envs/*.yaml``), sorted."""
    return sorted(catalog_files("envs"))


def catalog_entries() -> list[dict[str, Any]]:
    """One dict per catalog entry: ``name``, ``kind``, ``n_states``, ``n_actions`` (None for a chain
    or MRP), ``gamma``, ``params`` (a generator's defaults) and ``description``."""
    out = []
    for name, path in sorted(catalog_files("envs").items()):
        doc = yamldoc._read_doc(path, str(path))
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
    for fmt in FORMATS:
        if fmt.prefix and text.startswith(fmt.prefix):
            return fmt.read(text, where=text, gamma=gamma, env_kwargs=env_kwargs)
    path = Path(text).expanduser()
    files = catalog_files("envs")
    if path.suffix.lower() in SUFFIXES:
        if not path.is_file():
            raise RlkitError(f"file not found: {path}")
        return _load_path(path, str(path), gamma, env_kwargs)
    if text in files:  # a catalog name wins over a suffix-less file of the same name
        return _load_path(files[text], f"envs/{files[text].name}", gamma, env_kwargs)
    if path.is_file():
        return _load_path(path, str(path), gamma, env_kwargs)
    raise RlkitError(f"unknown model {text!r}{_close(text, list(files))}: not a catalog name (`rlkit envs` "
                     f"lists them: {_listing(list(files))}), not a {'/'.join(SUFFIXES)} file, "
                     "not gym:<EnvId>")


def format_of(path: str | Path) -> Format | None:
    """The format that reads and writes files with ``path``'s suffix (None if there is none)."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt in FORMATS if suffix in fmt.suffixes), None)


def _load_path(path: Path, where: str, gamma: float | None, env_kwargs: dict | None) -> Model:
    fmt = format_of(path)
    if fmt is None:
        raise RlkitError(f"unsupported file type {path.suffix.lower() or '(none)'!r}; use "
                         f"{_or(SUFFIXES)}", where=where)
    return fmt.read(path, where=where, gamma=gamma, env_kwargs=env_kwargs)


def _or(words: tuple[str, ...]) -> str:
    return ", ".join(words[:-1]) + f" or {words[-1]}"


def save(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically, in the format its suffix names (:data:`FORMATS`).

    :func:`load` of the file gives the same arrays (P, R, gamma, names, terminal states, metadata).

    :param model: a :class:`MarkovChain`, :class:`MRP` or :class:`MDP`.
    :param path: the file to write; the suffix picks the format.
    :return: the path written.
    """
    path = Path(path)
    model_kind(model)
    fmt = format_of(path)
    if fmt is None or fmt.write is None:
        writable = tuple(s for f in FORMATS if f.write is not None for s in f.suffixes if s != ".yml")
        raise RlkitError(f"cannot save to {path}: unsupported suffix {path.suffix.lower() or '(none)'!r}; "
                         f"use {_or(writable)}")
    fmt.write(model, path)
    return path
