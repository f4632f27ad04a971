"""The registry of tabular methods (rlkit.tabular.registry): the public name tuples are views of
it, every entry resolves to its function, parameters are checked from the schema, and a method
added with one register() line runs through evaluate_policy and the CLI with no other edit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.mdp.io import load
from rlkit.tabular import CONTROL_METHODS, PREDICTION_METHODS, ModelSource, estimate_values, registry, rollout
from rlkit.tabular.prediction import td0_kernel


def test_public_names_are_views_of_the_registry_and_every_function_resolves():
    assert PREDICTION_METHODS == ("mc", "every-visit-mc", "td", "nstep", "td-lambda", "batch-td", "batch-mc",
                                  "true-online-td-lambda")
    assert CONTROL_METHODS == ("sarsa", "expected-sarsa", "q-learning", "double-q-learning", "mc-control")
    assert registry.names("neural") == ("td", "td-lambda", "mc")
    for entry in registry.METHODS.values():
        assert callable(entry.run), entry.name


@pytest.mark.parametrize(("kind", "typed", "name"), [
    ("prediction", "TD(0)", "td"), ("prediction", "first_visit_mc", "mc"), ("prediction", "n-step", "nstep"),
    ("control", "Q_Learning", "q-learning"), ("control", "mc-es", "mc-control"),
    ("neural", "every-visit-mc", "mc"),
])
def test_names_and_aliases(kind, typed, name):
    assert registry.get(kind, typed).name == name


def test_parameters_are_checked_and_defaulted_from_the_schema():
    td_lambda = registry.get("prediction", "td-lambda")
    assert td_lambda.validate() == {"alpha": 0.1, "lambda": 0.9, "trace": "accumulating", "offline": False}
    assert registry.get("prediction", "mc").validate(alpha=None) == {"alpha": None, "first_visit": True}
    assert registry.get("prediction", "nstep").validate(n=3, lam=7) == {"alpha": 0.1, "n": 3}  # lam not taken
    with pytest.raises(RlkitError, match=r"alpha must be in \(0, 1\], got 0"):
        td_lambda.validate(alpha=0)
    with pytest.raises(RlkitError, match="unknown trace 'dutch'"):
        td_lambda.validate(trace="dutch")
    with pytest.raises(RlkitError, match="n must be an integer > 0"):
        registry.get("prediction", "nstep").validate(n=0)
    with pytest.raises(RlkitError, match="unknown control method 'td'; choose one of sarsa, "):
        registry.get("control", "td")
    with pytest.raises(RlkitError, match=r"--n does not apply to --method td \(it takes: --alpha\)"):
        registry.check_flags(registry.get("prediction", "td"), {"n": 3, "lambda": None})
    registry.check_flags(registry.get("prediction", "nstep"), {"n": 3, "lambda": None})   # fine


def half_step_td(tr, V, alpha, gamma, rec):
    """A toy method for the test: TD(0) with half the step size."""
    td0_kernel(tr, V, alpha / 2, gamma, rec)


@pytest.fixture
def half_step_registered():
    entry = registry.register(registry.Method("half-td", "prediction", f"{__name__}:half_step_td",
                                              {"alpha": 0.2}, "TD(0) at alpha / 2"))
    yield entry
    del registry.METHODS[("prediction", "half-td")]


def test_a_method_added_with_one_register_line_runs_everywhere(half_step_registered, cli):
    walk = load("random-walk")
    tr = rollout(ModelSource(walk, start=3), None, episodes=20, runs=3, seed=1)
    new = estimate_values(tr, "half-td", alpha=0.3, init=0.5, terminal=walk.terminal)
    ref = estimate_values(tr, "td", alpha=0.15, init=0.5, terminal=walk.terminal)
    np.testing.assert_array_equal(new.values_runs, ref.values_runs)
    assert new.params == {"alpha": 0.3} and estimate_values(tr, "half-td").params == {"alpha": 0.2}
    code, out, err = cli("evaluate-policy", "random-walk", "--method", "half-td", "--episodes", "5",
                         "--format", "json")
    assert code == 0, err
    assert json.loads(out)["method"] == "half-td"
    code, out, err = cli("evaluate-policy", "random-walk", "--method", "half-td", "--n", "3")
    assert code == 2 and "--n does not apply to --method half-td" in err


def test_registering_a_name_twice_or_an_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Method("td0", "prediction", "x:y", {"alpha": 0.1}))
    with pytest.raises(ValueError, match="not in the schema"):
        registry.register(registry.Method("new", "prediction", "x:y", {"beta": 1}))
