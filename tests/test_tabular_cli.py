"""`rlkit evaluate-policy` and `rlkit control`: JSON keys, tables, plots, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_evaluate_policy_json(cli):
    code, out, err = cli("evaluate-policy", "random-walk", "--method", "td", "--runs", "10",
                         "--episodes", "20", "--alpha", "0.1", "--init", "0.5", "--seed", "1",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {"values", "exact", "rmse", "rmse_curve"} <= d.keys()
    assert len(d["values"]) == 7 and len(d["rmse_curve"]) == 20
    np.testing.assert_allclose(d["exact"], np.array([0, 1, 2, 3, 4, 5, 0]) / 6, atol=1e-12)
    assert d["rmse_initial"] == pytest.approx(np.sqrt(np.mean((0.5 - np.arange(1, 6) / 6) ** 2)))
    # learning must cut the initial error (0.236) by well over half: a bound above it cannot fail
    assert d["rmse"] == d["rmse_curve"][-1] and 0 < d["rmse"] < 0.5 * d["rmse_initial"]
    assert d["params"] == {"alpha": 0.1} and d["runs"] == 10


def test_evaluate_policy_table_and_plot(cli, tmp_path):
    png = tmp_path / "rmse.png"
    code, out, err = cli("evaluate-policy", "gridworld-4x4", "--method", "td-lambda", "--lambda", "0.5",
                         "--episodes", "10", "--runs", "3", "--plot", str(png))
    assert code == 0, err
    assert "RMS error" in out and "r0c1" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_policy_optimal_policy_of_a_gym_model(cli):
    code, out, err = cli("evaluate-policy", "gym:FrozenLake-v1", "--policy", "optimal", "--method", "mc",
                         "--episodes", "30", "--runs", "2", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["exact"][0] > 0.5 and d["params"]["alpha"] == "sample-average"


def test_control_json_and_plot(cli, tmp_path):
    png = tmp_path / "returns.png"
    code, out, err = cli("control", "cliff-walking", "--method", "q-learning", "--episodes", "200",
                         "--runs", "3", "--alpha", "0.5", "--epsilon", "0.1", "--seed", "0",
                         "--format", "json", "--plot", str(png))
    assert code == 0, err
    d = json.loads(out)
    assert {"q", "policy", "returns_curve", "policy_value"} <= d.keys()
    assert np.shape(d["q"]) == (48, 4) and len(d["policy"]) == 48 and len(d["returns_curve"]) == 200
    assert d["policy_value"][36] == -13.0 and d["optimal_start_value"] == -13.0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_control_table_with_schedules(cli):
    code, out, err = cli("control", "student-mdp", "--method", "sarsa", "--episodes", "100", "--runs", "2",
                         "--epsilon", "linear:0.5,0,80", "--alpha", "exp:0.5,0.99,0.05", "--start", "uniform",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["params"]["epsilon"] == "linear:0.5,0,80" and d["params"]["alpha"] == "exp:0.5,0.99,0.05"
    code, out, err = cli("control", "student-mdp", "--method", "mc-control", "--episodes", "100",
                         "--runs", "2", "--epsilon", "linear:0.5,0,80")
    assert code == 0, err
    assert "greedy action" in out and "optimal" in out


@pytest.mark.parametrize(("args", "match"), [
    (["evaluate-policy", "random-walk", "--method", "sarsa"], "unknown prediction method"),
    (["evaluate-policy", "random-walk", "--alpha", "0"], "alpha must be in (0, 1]"),
    (["evaluate-policy", "random-walk", "--alpha", "1.5"], "alpha must be in (0, 1]"),
    (["evaluate-policy", "random-walk", "--method", "td-lambda", "--lambda", "1.5"],
     "lambda must be in [0, 1]"),
    (["evaluate-policy", "random-walk", "--episodes", "0"], "episodes must be"),
    (["evaluate-policy", "gym:CartPole-v1"], "rlkit.tabular.neural"),
    (["evaluate-policy", "no-such-model"], "no-such-model"),
    (["control", "cliff-walking", "--method", "td"], "unknown control method"),
    (["control", "cliff-walking", "--alpha", "2"], "alpha must be in (0, 1]"),
    (["control", "cliff-walking", "--epsilon", "linear:1,0"], "cannot read schedule"),
    (["control", "cliff-walking", "--episodes", "-3"], "episodes must be"),
])
def test_bad_input_is_one_error_line(cli, args, match):
    code, out, err = cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0]
    assert "Traceback" not in err


def test_wrong_policy_shape_file(cli, tmp_path):
    bad = tmp_path / "pi.npy"
    np.save(bad, np.full((5, 4), 0.25))
    code, out, err = cli("evaluate-policy", "gridworld-4x4", "--policy", str(bad))
    assert code == 2 and err.startswith("error: ") and "pi.npy" in err and "(5, 4)" in err
    assert len(err.strip().splitlines()) == 1
