"""Reading and writing Markov models: the names user code and notebooks import from here.

The work is done by the format plugins in :mod:`rlkit.mdp.formats` (one module per format and one
table from suffix or prefix to format, :data:`rlkit.mdp.formats.FORMATS`), gridworld building by
:mod:`rlkit.mdp.grids`, policy files by :mod:`rlkit.mdp.policy_files` and the ``key=value``
parser by :mod:`rlkit.cliutil`; this module re-exports them so that ``from rlkit.mdp.io import
load, save`` keeps working.

:func:`load` takes a *spec* and returns a :class:`~rlkit.mdp.models.MarkovChain`,
:class:`~rlkit.mdp.models.MRP` or :class:`~rlkit.mdp.models.MDP`:

* a catalog name (``"student-mdp"``, ``"gridworld-4x4"``, ``"gambler"`` ...; :func:`catalog_names`),
  found in the top-level ``envs/`` folder (or the wheel's copy of it);
* a path to a ``.yaml`` / ``.yml`` / ``.json`` model file (:mod:`rlkit.mdp.formats.yamldoc`), a
  ``.npz`` file of arrays (:mod:`rlkit.mdp.formats.npz`) or a ``.csv`` transition list
  (:mod:`rlkit.mdp.formats.csvlist`);
* ``"gym:<EnvId>"`` for a Gymnasium environment exposing its transition model ``env.unwrapped.P``
  (:mod:`rlkit.mdp.formats.gym`).

:func:`save` writes any model back to a file of any writable format; loading the file gives the
same arrays.

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

from rlkit.cliutil import parse_env_kwargs
from rlkit.mdp.formats import FORMATS, catalog_entries, catalog_names, load, save
from rlkit.mdp.formats.base import MAX_TEXT_BYTES, PROB_TOL, Model, model_kind
from rlkit.mdp.formats.gym import (
    DEFAULT_GYM_GAMMA,
    _mdp_from_env,  # noqa: F401  (tests build a model from an env object)
    from_gym,
)
from rlkit.mdp.formats.yamldoc import model_from_dict, model_to_dict
from rlkit.mdp.grids import GRID_ACTIONS, grid_mdp
from rlkit.mdp.policy_files import action_mask, load_policy, uniform_policy

__all__ = [
    "DEFAULT_GYM_GAMMA",
    "FORMATS",
    "GRID_ACTIONS",
    "MAX_TEXT_BYTES",
    "PROB_TOL",
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
