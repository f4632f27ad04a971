"""The parts that let rlkit hold and solve 10^7-state models: names made on demand, the
generators' direct CSR arrays, and the solver paths they take (checked against plain references)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.mdp import policy_iteration
from rlkit.mdp.generators import forest, random_sparse
from rlkit.mdp.models import IndexNames


def test_index_names_behave_as_the_list_of_names():
    names, ref = IndexNames(12), [str(i) for i in range(12)]
    assert list(names) == ref and names == ref and ref == names
    assert [names[i] for i in range(-12, 12)] == [ref[i] for i in range(-12, 12)]
    assert names[3:9:2] == ref[3:9:2] and names[::-1] == ref[::-1]
    assert all(names.index(n) == i for i, n in enumerate(ref))
    for bad in ("12", "-1", "01", "a", 3, None):
        assert bad not in names
        with pytest.raises(ValueError):
            names.index(bad)
    with pytest.raises(IndexError):
        names[12]
    assert names != [str(i) for i in range(11)] and names != ref[:-1] + ["x"]
    assert json.dumps(list(names)) == json.dumps(ref)


@pytest.mark.parametrize("make", [lambda: forest(S=2000), lambda: random_sparse(S=300, A=3, k=4)])
def test_generated_models_name_states_without_a_list_and_keep_it(make):
    mdp = make()
    S = mdp.n_states
    assert isinstance(mdp.states, IndexNames) and mdp.states == [str(i) for i in range(S)]
    # derived models share the names object instead of making S strings
    assert mdp.mrp(np.zeros(S, dtype=int)).states is mdp.states
    assert mdp.with_gamma(0.5).states is mdp.states
    sol = policy_iteration(mdp)
    assert sol.converged and sol.residual < 1e-8
