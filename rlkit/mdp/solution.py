"""The result object every solver in :mod:`rlkit.mdp` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Solvers keep the values of every iteration in ``history`` only up to this many states.
HISTORY_VALUES_MAX_STATES = 1000


@dataclass
class Solution:
    """What a solver found.

    :param values: state values, shape (S,); for :func:`~rlkit.mdp.backward_induction` the values
        at stage 0 (``history`` has every stage).
    :param q: action values, shape (S, A), or ``None`` for a reward process.
    :param policy: greedy (or evaluated deterministic) policy, action index per state, shape (S,),
        or ``None`` where there is none (a reward process, a stochastic policy's evaluation).
    :param iterations: sweeps / improvement steps done (0 for a direct linear solve).
    :param residual: sup-norm of the last change (iterative methods) or of the Bellman residual
        ``|R + gamma P v - v|`` (direct solves).
    :param converged: whether the stopping rule was met before ``max_iter``.
    :param history: one dict per iteration, ``{"iteration", "residual"}`` and, for models with at
        most :data:`HISTORY_VALUES_MAX_STATES` states, ``"values"`` (and ``"policy"`` where one is
        improved); a plot of the convergence reads this.
    :param method: the solver's name, e.g. ``"value-iteration"``.
    :param seconds: wall time of the solve.
    :param info: anything else a method reports (e.g. the stopping rule used).
    :param gain: average-reward criterion: the optimal gain (average reward per step), else None.
    :param bias: average-reward criterion: the bias ``h`` of the returned policy (S,), normalised so
        that its mean under the policy's stationary distribution is 0, else None.
    """

    values: np.ndarray
    q: np.ndarray | None = None
    policy: np.ndarray | None = None
    iterations: int = 0
    residual: float = 0.0
    converged: bool = True
    history: list[dict[str, Any]] = field(default_factory=list)
    method: str = ""
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    gain: float | None = None
    bias: np.ndarray | None = None

    def __repr__(self) -> str:
        n = self.values.shape[0]
        return (f"Solution(method={self.method!r}, n_states={n}, iterations={self.iterations}, "
                f"residual={self.residual:.3g}, converged={self.converged}, seconds={self.seconds:.3g})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays as lists; the history's per-iteration values left out)."""
        return {
            "method": self.method,
            "values": self.values.tolist(),
            "q": None if self.q is None else self.q.tolist(),
            "policy": None if self.policy is None else self.policy.tolist(),
            "iterations": int(self.iterations),
            "residual": float(self.residual),
            "converged": bool(self.converged),
            "seconds": float(self.seconds),
            "history": [{"iteration": h["iteration"], "residual": float(h["residual"])}
                        for h in self.history],
            **({} if self.gain is None else {"gain": float(self.gain)}),
            **({} if self.bias is None else {"bias": self.bias.tolist()}),
        }
