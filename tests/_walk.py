"""Test helper (not a test module): the 5-state random walk of S&B Example 6.2 as an MDP with
explicit actions, shared by the neural prediction tests."""

from __future__ import annotations

import numpy as np

from rlkit.mdp import MDP


def walk_mdp() -> MDP:
    """States L A B C D E R (L and R terminal), actions left/right moving one state
    deterministically, start C, reward 1 for stepping right from E into R."""
    P = np.zeros((2, 7, 7))
    for s in range(7):
        if s in (0, 6):
            P[:, s, s] = 1.0
        else:
            P[0, s, s - 1] = P[1, s, s + 1] = 1.0
    R = np.zeros((7, 2))
    R[5, 1] = 1.0
    return MDP(P, R, 1.0, states=list("LABCDER"), actions=["left", "right"], meta={"initial": "C"})
