"""Mutants of rlkit/returns.py that the loop tests left alive: ``cuts`` is documented as a bool
mask, and must stay one when the episode ends arrive as 0/1 integers (as a CSV or an int env flag
gives them) or are not given: an integer or float "mask" would index positions instead of
selecting steps."""

from __future__ import annotations

import numpy as np

from rlkit.returns import cuts

STEPS = np.array([10.0, 11.0, 12.0, 13.0])


def test_cuts_is_a_boolean_mask_of_the_ends_and_the_last_step():
    # by hand: an episode ends after step 1; the rollout ends after step 3
    from_ints = cuts(np.array([0, 1, 0, 0]), (4,))
    assert from_ints.dtype == bool
    np.testing.assert_array_equal(STEPS[from_ints], [11.0, 13.0])
    no_dones = cuts(None, (4,))
    assert no_dones.dtype == bool
    np.testing.assert_array_equal(STEPS[no_dones], [13.0])


def test_cuts_leaves_the_callers_dones_alone():
    dones = np.array([False, True, False])
    cuts(dones, (3,))
    np.testing.assert_array_equal(dones, [False, True, False])

