"""Test helpers (not a test module): the 3-state forest of the solver tests, a random MDP, the
textbook backup written with numpy alone, and the exact-message check of ``RlkitError``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp import MDP

# forest, 3 states (young, mid, old): action 0 waits (a fire, p = 0.1, resets to young), action
# 1 cuts (back to young); waiting pays 4 in the old stand, cutting 1 in the middle, 2 in the old
FOREST_P = np.array([[[.1, .9, 0], [.1, 0, .9], [.1, 0, .9]], [[1, 0, 0], [1, 0, 0], [1, 0, 0]]])
FOREST_R = np.array([[0.0, 0.0], [0.0, 1.0], [4.0, 2.0]])


def raises_exactly(message, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` raises ``RlkitError`` with exactly ``message``."""
    with pytest.raises(RlkitError, match=f"^{re.escape(message)}$"):
        fn(*args, **kwargs)


def backup(P: np.ndarray, R: np.ndarray, gamma: float, v: np.ndarray) -> np.ndarray:
    """``Q[s, a] = R[s, a] + gamma sum_t P[a, s, t] v[t]`` for a dense (A, S, S) ``P``."""
    return np.asarray(R, dtype=np.float64) + gamma * np.einsum("ast,t->sa", P, v)


def random_model(seed=4, S=20, A=3, gamma=0.95, sparse=False):
    """A random MDP with about 30% of the transitions (plus 1e-3 everywhere) and normal rewards:
    ``(P, R, mdp)``, the model dense or sparse."""
    rng = np.random.default_rng(seed)
    P = rng.random((A, S, S)) * (rng.random((A, S, S)) < 0.3) + 1e-3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(S, A))
    return P, R, MDP([sp.csr_array(a) for a in P] if sparse else P, R, gamma)
