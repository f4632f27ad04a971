"""`rlkit envs` and `rlkit solve-mdp`: output formats, methods, policies, plots, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rlkit.mdp.io import catalog_names, load

JSON_KEYS = {"kind", "states", "actions", "gamma", "method", "values", "q", "policy", "iterations",
             "converged", "seconds"}


def run_json(cli, *args):
    code, out, err = cli("solve-mdp", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_envs_lists_catalog(cli):
    code, out, _ = cli("envs")
    assert code == 0
    for name in catalog_names():
        assert name in out
    code, out, _ = cli("envs", "--format", "json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert entries["jacks-car-rental"]["n_states"] == 441 and entries["jacks-car-rental"]["n_actions"] == 11
    assert entries["student-mrp"]["kind"] == "mrp" and entries["student-mrp"]["n_actions"] is None
    assert entries["gambler"]["params"]["p_h"] == 0.4


def test_demo_student_mdp_table(cli):
    code, out, err = cli("solve-mdp", "student-mdp")
    assert code == 0, err
    assert "student-mdp" in out and "converged" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ ")}
    assert "quit" in lines["Facebook"] and "study" in lines["Class3"]


def test_demo_frozenlake_value_iteration_grid(cli):
    code, out, err = cli("solve-mdp", "gym:FrozenLake-v1", "--method", "value-iteration", "--gamma", "0.99")
    assert code == 0, err
    assert "0.542" in out  # V*(start)
    assert "S ←" in out and "G" in out and "H" in out  # drawn as a grid with arrows


def test_json_keys_and_values(cli):
    data = run_json(cli, "student-mdp")
    assert JSON_KEYS <= set(data)
    assert data["kind"] == "mdp" and data["gamma"] == 1.0 and data["method"] == "exact"
    assert data["values"] == pytest.approx([6, 6, 8, 10, 0])
    assert [data["actions"][a] for a in data["policy"][:4]] == ["quit", "study", "study", "study"]
    assert len(data["q"]) == 5 and all(len(row) == 5 for row in data["q"])
    assert data["q"][0][data["actions"].index("study")] is None  # not available in Facebook
    assert data["converged"] is True and data["seconds"] >= 0


@pytest.mark.parametrize("method", ["policy-iteration", "value-iteration", "modified-policy-iteration",
                                    "gauss-seidel"])
def test_methods_agree_with_exact(cli, method):
    exact = run_json(cli, "gym:FrozenLake-v1", "--gamma", "0.99")
    other = run_json(cli, "gym:FrozenLake-v1", "--gamma", "0.99", "--method", method, "--tol", "1e-10")
    assert other["method"] == method and other["converged"]
    np.testing.assert_allclose(other["values"], exact["values"], atol=1e-9)
    assert other["policy"] == exact["policy"]


def test_uniform_policy_gridworld_figure_4_1(cli):
    data = run_json(cli, "gridworld-4x4", "--policy", "uniform")
    fig41 = [0, -14, -20, -22, -14, -18, -20, -20, -20, -20, -18, -14, -22, -20, -14, 0]
    np.testing.assert_allclose(data["values"], fig41, atol=1e-9)
    assert data["evaluated"] == "uniform"
    iterative = run_json(cli, "gridworld-4x4", "--policy", "uniform", "--method", "value-iteration",
                         "--tol", "1e-9")
    np.testing.assert_allclose(iterative["values"], fig41, atol=1e-6)
    assert iterative["iterations"] > 1


def test_policy_file_from_json_output(cli, tmp_path):
    best = run_json(cli, "gym:FrozenLake-v1", "--gamma", "0.9")
    (tmp_path / "best.json").write_text(json.dumps(best))
    again = run_json(cli, "gym:FrozenLake-v1", "--gamma", "0.9", "--policy", str(tmp_path / "best.json"))
    np.testing.assert_allclose(again["values"], best["values"], atol=1e-12)  # v_pi* = v*


def test_mrp_and_env_kwargs(cli):
    data = run_json(cli, "random-walk", "n=19")
    assert data["kind"] == "mrp" and "actions" not in data
    np.testing.assert_allclose(data["values"][1:20], np.arange(1, 20) / 20, atol=1e-12)
    data = run_json(cli, "gambler", "--env-kwargs", "p_h=0.25")
    assert data["values"][50] == pytest.approx(0.25)  # bold play: one bet of 50
    data = run_json(cli, "gym:FrozenLake-v1", "--env-kwargs", "is_slippery=false", "--gamma", "0.9")
    assert data["values"][0] == pytest.approx(0.9 ** 5)  # six moves to the goal, reward on the last
    code, out, _ = cli("solve-mdp", "student-mrp", "--gamma", "0.9")
    assert code == 0 and "-5.0" in out and "reward" in out


def test_markov_chain_prints_stationary_and_absorption(cli, tmp_path):
    ruin = tmp_path / "ruin.yaml"
    ruin.write_text(textwrap.dedent("""
        kind: chain
        states: ["0", "1", "2", "3"]
        transitions:
          "0": "0"
          "1": {"0": 0.5, "2": 0.5}
          "2": {"1": 0.5, "3": 0.5}
          "3": "3"
        """))
    data = run_json(cli, str(ruin))
    assert data["kind"] == "chain" and data["classification"] == ["absorbing", "transient", "transient",
                                                                  "absorbing"]
    np.testing.assert_allclose(data["absorption"], [[1, 0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0, 1]])
    np.testing.assert_allclose(data["expected_steps"], [0, 2, 2, 0])
    code, out, _ = cli("solve-mdp", str(ruin))
    assert code == 0 and "P(end in 0)" in out and "E[steps]" in out
    two = tmp_path / "two.yaml"  # p = 0.3 out of a, q = 0.1 out of b: pi = (q, p) / (p + q)
    two.write_text("kind: chain\ntransitions:\n  a: {a: 0.7, b: 0.3}\n  b: {a: 0.1, b: 0.9}\n")
    data = run_json(cli, str(two))
    np.testing.assert_allclose(data["stationary"], [[0.25, 0.75]])
    code, out, _ = cli("solve-mdp", str(two))
    assert code == 0 and "stationary" in out and "0.75" in out


def test_plot_and_save(cli, tmp_path):
    code, out, err = cli("solve-mdp", "gym:FrozenLake-v1", "--gamma", "0.99", "--plot",
                         str(tmp_path / "v.png"), "--save", str(tmp_path / "lake.yaml"))
    assert code == 0, err
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote plot" in out and "wrote model" in out
    again = run_json(cli, str(tmp_path / "lake.yaml"))
    assert again["values"][0] == pytest.approx(0.5420, abs=5e-4)
    np.testing.assert_array_equal(load(tmp_path / "lake.yaml").P, load("gym:FrozenLake-v1").P)
    code, _, err = cli("solve-mdp", "student-mdp", "--plot", str(tmp_path / "bars.png"), "--format", "json")
    assert code == 0 and "wrote plot" in err and (tmp_path / "bars.png").stat().st_size > 1000


BAD = {
    "unknown-spec": (["no-such-model"], "unknown model 'no-such-model'"),
    "close-name": (["studnet-mrp"], "did you mean 'student-mrp'"),
    "gamma-range": (["student-mdp", "--gamma", "1.5"], "outside [0, 1]"),
    "gamma-text": (["student-mdp", "--gamma", "abc"], "gamma must be a number"),
    "method": (["student-mdp", "--method", "magic"], "unknown method 'magic'"),
    "gym-id": (["gym:NoSuchEnv-v0"], "unknown Gymnasium id"),
    "no-model": (["gym:CartPole-v1"], "no transition model"),
    "kwargs": (["forest", "size=10"], "unknown parameter 'size'"),
    "not-kv": (["forest", "oops"], "not key=value"),
    "policy-file": (["student-mdp", "--policy", "nope.json"], "policy file not found"),
    "policy-mrp": (["student-mrp", "--policy", "uniform"], "no policy to evaluate"),
    "plot-suffix": (["student-mdp", "--plot", "v.jpg"], "must end in .png"),
    "never-terminates": (["student-mrp-loop"], "never terminate"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exit_2_one_error_line(cli, tmp_path, monkeypatch, case):
    args, expected = BAD[case]
    monkeypatch.chdir(tmp_path)
    if case == "never-terminates":
        (tmp_path / "loop.yaml").write_text("kind: mrp\ngamma: 1\ntransitions:\n  a: a\nrewards: {a: -1}\n")
        args = ["loop.yaml"]
    code, out, err = cli("solve-mdp", *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert "Traceback" not in err and out == ""


def test_bad_file_in_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: mdp\ngamma: 0.9\nstates: [a, b]\nactions: [go]\nterminal: [b]\n"
                   "transitions:\n  a: {go: {b: 0.5, c: 0.5}}\n")
    proc = subprocess.run([sys.executable, "-m", "rlkit.cli", "solve-mdp", str(bad)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error:")
    assert "bad.yaml line 7" in proc.stderr and "unknown state 'c'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
