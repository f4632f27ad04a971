"""`rlkit solve-mdp` options of the MDP solvers: --criterion average, --method lp, --horizon,
--threads, --device; bad values are one `error:` line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.mdp import policy_iteration
from rlkit.mdp.io import load


def run_json(cli, *args):
    code, out, err = cli("solve-mdp", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_average_reward_json_and_table(cli):
    d = run_json(cli, "forest", "--criterion", "average")
    # forest, 3 states, wait everywhere: stationary (0.1, 0.09, 0.81), reward 4 in the oldest state
    assert d["criterion"] == "average" and d["gamma"] is None
    assert abs(d["gain"] - 0.81 * 4) < 1e-12 and d["policy_names"] == ["wait", "wait", "wait"]
    # the bias solves g + h = R_pi + P_pi h and has mean 0 under (0.1, 0.09, 0.81)
    h = np.array(d["bias"])
    assert abs(np.dot([0.1, 0.09, 0.81], h)) < 1e-12 and d["values"] == d["bias"]
    g = d["gain"]
    np.testing.assert_allclose([g + h[0], g + h[1], g + h[2]],
                               [0.1 * h[0] + 0.9 * h[1], 0.1 * h[0] + 0.9 * h[2],
                                4 + 0.1 * h[0] + 0.9 * h[2]],
                               atol=1e-12)
    rvi = run_json(cli, "forest", "--criterion", "average", "--method", "relative-value-iteration")
    assert abs(rvi["gain"] - d["gain"]) < 1e-9 and np.allclose(rvi["bias"], d["bias"], atol=1e-7)
    code, out, _ = cli("solve-mdp", "forest", "--criterion", "average")
    assert code == 0 and "gain (average reward per step): 3.24" in out and "bias" in out


def test_lp_equals_policy_iteration_from_the_shell(cli):
    for spec, kwargs, gamma in ((["student-mdp"], None, None),
                                (["gambler", "goal=30", "--gamma", "0.95"], {"goal": 30}, 0.95),
                                (["forest", "S=400"], {"S": 400}, None)):
        lp = run_json(cli, *spec, "--method", "lp")
        pi = policy_iteration(load(spec[0], gamma=gamma, env_kwargs=kwargs))
        np.testing.assert_allclose(lp["values"], pi.values, rtol=1e-7, atol=1e-9)
        assert lp["solver"] == "linear-programming"


def test_horizon_values_by_hand(cli):
    # forest, gamma 1, 2 steps. t = 1 (last step): V_1 = max_a R = (0, 1, 4), cut in state 1.
    # t = 0: wait in state 2: 4 + 0.1 V_1(0) + 0.9 V_1(2) = 7.6; state 1: wait 0.1*0 + 0.9*4 = 3.6
    # beats cut 1 + V_1(0) = 1; state 0: wait 0.9 * V_1(1) = 0.9 beats cut 0 + V_1(0) = 0
    d = run_json(cli, "forest", "--horizon", "2", "--gamma", "1")
    np.testing.assert_allclose(d["values"], [0.9, 3.6, 7.6], atol=1e-12)
    assert d["horizon"] == 2 and d["policy"] == [[0, 0, 0], [0, 1, 0]]
    assert d["policy_names"][1] == ["wait", "cut", "wait"]
    code, out, _ = cli("solve-mdp", "forest", "--horizon", "2", "--gamma", "1")
    flat = out.replace("\n", " ")
    assert code == 0 and "at t = 0 of 2 steps" in flat and "--format json (policy[t])" in flat


def test_threads_give_identical_json(cli):
    a = run_json(cli, "forest", "S=3000", "--method", "value-iteration", "--threads", "1")
    b = run_json(cli, "forest", "S=3000", "--method", "value-iteration", "--threads", "2")
    assert a["values"] == b["values"] and a["policy"] == b["policy"]


@pytest.mark.parametrize("args, message", [
    (["--horizon", "0"], "--horizon must be a positive number of steps"),
    (["--horizon", "-2"], "--horizon must be a positive number of steps"),
    (["--threads", "0"], "threads must be a positive integer"),
    (["--criterion", "average", "--gamma", "0.9"], "--criterion average takes no --gamma"),
    (["--criterion", "mean"], "unknown criterion 'mean'"),
    (["--method", "lp", "--gamma", "1"], "linear program is infeasible"),
    (["--method", "lp", "--criterion", "average"], "does not apply to --criterion average"),
    (["--method", "relative-value-iteration"], "is for --criterion average"),
    (["--horizon", "3", "--criterion", "average"], "backward induction"),
    (["--device", "cuda", "--method", "value-iteration"], "no CUDA device is available"),
    (["--device", "cuda"], "runs value-iteration and modified-policy-iteration"),
])
def test_bad_options_are_one_error_line(cli, args, message):
    import torch

    if "cuda" in args and "value-iteration" in args and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, out, err = cli("solve-mdp", "forest", *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_multichain_average_is_an_error_naming_the_classes(cli, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("kind: mdp\ngamma: 1.0\nstates: [a, b, c, d]\nactions: [go]\ntransitions:\n"
                    "  a: {go: {to: b, reward: 1}}\n  b: {go: {to: a, reward: 0}}\n"
                    "  c: {go: {to: d, reward: 0}}\n  d: {go: {to: c, reward: 2}}\n")
    code, out, err = cli("solve-mdp", str(path), "--criterion", "average")
    assert code == 2, err
    assert err.count("\n") == 1 and "multichain" in err and "{'a', 'b'}" in err and "{'c', 'd'}" in err
