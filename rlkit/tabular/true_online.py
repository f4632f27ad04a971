"""True online TD(λ) (van Seijen & Sutton, 2014; Sutton & Barto, 2nd ed., section 12.5, p. 300).

With tabular (one-hot) features, ``x(s) = e_s``, S&B's linear algorithm reads, per step
``S -> S'`` with reward ``R`` (``V(S') = 0`` after a termination)::

    δ      = R + γ V(S') - V(S)
    z      <- γλ z + (1 - α γλ z(S)) e_S            (dutch trace)
    V      <- V + α (δ + V(S) - V_old) z - α (V(S) - V_old) e_S
    V_old  <- V(S')

with ``V(S)``, ``V(S')`` read before the update, ``z = 0`` and ``V_old = 0`` at the start of
every episode. It produces exactly the weights of the online λ-return algorithm (S&B 12.4) at
every step, for the cost of TD(λ); at λ = 0 it is TD(0).

Registered in :mod:`rlkit.tabular.registry` as ``true-online-td-lambda``:
``rlkit evaluate-policy random-walk --method true-online-td-lambda --lambda 0.8``.
"""

from __future__ import annotations

import numpy as np

from rlkit.tabular.prediction import _flat_index, _Recorder
from rlkit.tabular.sampling import Transitions


def true_online_td_lambda(tr: Transitions, V: np.ndarray, alpha: np.ndarray, gamma: float, rec: _Recorder, *,
                          lam: float) -> None:
    """True online TD(λ) over all runs at once, in place on the (R, S) table ``V``; ``alpha`` is
    one step size per run (R,). A truncated episode bootstraps from its last state, like TD(λ)."""
    R, T = tr.states.shape
    S = V.shape[1]
    values = V.reshape(-1)
    obs, next_obs = _flat_index(tr, S)                     # flat (run, state) indices, (R, T)
    z = np.zeros((R, S))
    z_flat = z.reshape(-1)
    v_old = np.zeros(R)
    continues = ~tr.terminated                             # V(S') = 0 after a termination
    step = alpha[:, None] * tr.valid                       # α on real steps, 0 on padding
    decay = gamma * lam
    rewards = tr.rewards
    has_end = rec.has_end
    for t in range(T):
        i = obs[:, t]
        a = step[:, t]
        v = values[i]
        v_next = continues[:, t] * values[next_obs[:, t]]
        delta = rewards[:, t] + gamma * v_next - v
        z_s = z_flat[i]
        z *= decay
        z_flat[i] += tr.valid[:, t] * (1.0 - a * decay * z_s)
        V += (a * (delta + v - v_old))[:, None] * z
        values[i] -= a * (v - v_old)
        v_old = v_next
        if has_end[t]:
            rows = rec.rows[rec.offsets[t]:rec.offsets[t + 1]]
            z[rows] = 0.0
            v_old[rows] = 0.0
            rec(t, V)
