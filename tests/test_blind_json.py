"""The full key set and the types of every ``--format json`` output, one table per command and kind.

Notebooks and scripts read these objects; renaming, dropping or retyping a documented key must fail
here. ``F`` is a float (JSON may also write a whole number), ``OPT(t)`` t or null.
"""

from __future__ import annotations

import importlib
import json

import pytest

F = (float, int)
S, I, B, L, D = str, int, bool, list, dict  # noqa: E741


def OPT(*types):
    return (*types, type(None))


ENVS_ENTRY = {"name": S, "kind": S, "n_states": I, "n_actions": OPT(I), "gamma": F, "params": D,
              "description": S}

_SOLVE_COMMON = {"kind": S, "spec": S, "states": L, "gamma": OPT(*F), "method": S, "solver": S,
                 "values": OPT(L), "iterations": I, "residual": F, "converged": B, "seconds": F,
                 "criterion": S}
SOLVE_MRP = {**_SOLVE_COMMON, "terminal": L, "start_value": OPT(*F)}
SOLVE_MDP = {**_SOLVE_COMMON, "actions": L, "q": L, "policy": L, "policy_names": L, "evaluated": OPT(S),
             "terminal": L, "start_value": OPT(*F)}
SOLVE_CHAIN = {**_SOLVE_COMMON, "classification": L, "recurrent_classes": L, "stationary": L,
               "absorption": OPT(L), "expected_steps": OPT(L)}

EVALUATE_POLICY = {"method": S, "states": L, "gamma": F, "episodes": I, "runs": I, "params": D, "values": L,
                   "exact": OPT(L), "rmse": OPT(*F), "rmse_of_mean": OPT(*F), "rmse_initial": OPT(*F),
                   "rmse_curve": OPT(L), "values_std": L, "seconds": F, "info": D, "spec": S}
EVALUATE_POLICY_NET = {"method": S, "values": OPT(L), "exact": OPT(L), "rmse": OPT(*F), "loss_curve": L,
                       "error_curve": OPT(L), "episode_returns": L, "episodes": I, "steps": I, "gamma": F,
                       "lambda": OPT(*F), "alpha": F, "n_envs": I, "seed": OPT(I), "seconds": F, "spec": S,
                       "net": D}
CONTROL = {"method": S, "states": L, "actions": L, "gamma": F, "episodes": I, "runs": I, "params": D,
           "q": L, "policy": L, "returns_curve": L, "lengths_curve": L, "policy_value": OPT(L),
           "optimal_values": OPT(L),
           "policy_start_value": OPT(*F), "optimal_start_value": OPT(*F), "optimal_fraction": OPT(*F),
           "seconds": F, "info": D, "spec": S}
TRAIN = {"run_dir": S, "env_id": S, "agent": S, "seed": I, "timesteps": I, "updates": I, "episodes": I,
         "seconds": F, "eval_mean": OPT(*F), "eval_std": OPT(*F), "eval_episodes": I, "eval_deterministic": B,
         "resumed_from": OPT(S), "files": D, "best_eval_mean": OPT(*F), "best_eval_std": OPT(*F),
         "best_timesteps": OPT(I), "best_periodic_mean": OPT(*F), "stopped_at_threshold": B,
         "stop_at": OPT(*F), "evaluations": I, "already_finished": B}
TRAIN_FILES = {"config": S, "metrics": S, "checkpoint": S, "model": S, "eval": S, "curves": S,
               "episodes": S}
EVALUATE = {"run_dir": S, "env_id": S, "agent": S, "mean": F, "std": F, "episodes": I, "deterministic": B,
            "seed": I, "length_mean": F, "model": S}
PLOT = {"path": S, "runs": L}
SWEEP = {"out": S, "trials": I, "reused": I, "failed": L, "rows": L, "best_config_id": OPT(S),
         "best_preset": OPT(S)}
COMPARE = {"out": S, "trials": I, "reused": I, "failed": L, "rows": L, "aggregate": OPT(D)}
SUMMARY_ROW = {"env": S, "agent": S, "config_id": S, "params": D, "seeds": I, "ok": I, "failed": I,
               "budget": I,
               "final_mean": OPT(*F), "ci_low": OPT(*F), "ci_high": OPT(*F), "iqm": OPT(*F),
               "reward_threshold": OPT(*F), "reached": I, "steps_to_threshold": OPT(*F),
               "time_to_threshold_s": OPT(*F), "steps_per_s": OPT(*F), "errors": L,
               "min": OPT(*F), "max": OPT(*F), "ci_is_95": B}


def check(obj, table, optional=()):
    """Exactly the table's keys (plus any of ``optional`` present), each of its type."""
    keys = set(obj)
    assert set(table) - set(optional) <= keys, f"missing: {sorted(set(table) - set(optional) - keys)}"
    assert keys <= set(table), f"not in the table: {sorted(keys - set(table))}"
    for key in keys:
        value = obj[key]
        is_bool = isinstance(value, bool)           # a bool is an int to isinstance: not here
        ok = isinstance(value, table[key]) and not (is_bool and bool not in _tuple(table[key]))
        assert ok, f"{key}: {type(value).__name__} {value!r:.60} is not {table[key]}"


def _tuple(t):
    return t if isinstance(t, tuple) else (t,)


def run_json(cli, *args):
    code, out, err = cli(*args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_envs(cli):
    entries = run_json(cli, "envs")
    assert len(entries) >= 8
    for e in entries:
        check(e, ENVS_ENTRY)


@pytest.mark.parametrize("args,table,optional", [
    (["student-mrp"], SOLVE_MRP, ()),
    (["random-walk", "--method", "gauss-seidel"], SOLVE_MRP, ("stop",)),
    (["student-mdp", "--policy", "uniform"], SOLVE_MDP, ("action_mask", "stop")),
    (["student-mdp"], SOLVE_MDP, ("action_mask", "stop")),
    (["gridworld-4x4", "--method", "value-iteration"], SOLVE_MDP, ("stop",)),
    (["forest", "--method", "modified-policy-iteration"], SOLVE_MDP, ("stop",)),
], ids=["mrp", "mrp-gauss-seidel", "mdp-policy", "mdp", "mdp-vi", "mdp-mpi"])
def test_solve_mdp(cli, args, table, optional):
    data = run_json(cli, "solve-mdp", *args)
    extra = {"stop": S, "action_mask": L}
    check(data, {**table, **{k: extra[k] for k in optional}}, optional)
    assert data["kind"] == ("mrp" if table is SOLVE_MRP else "mdp")


def test_solve_mdp_of_a_chain(cli, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kind: chain\ntransitions:\n  a: {a: 0.7, b: 0.3}\n  b: {a: 0.1, b: 0.9}\n")
    data = run_json(cli, "solve-mdp", str(path))
    check(data, SOLVE_CHAIN)
    assert data["kind"] == "chain"


def test_solve_mdp_keys_that_depend_on_the_model(cli):
    data = run_json(cli, "solve-mdp", "student-mdp")
    assert "action_mask" in data and data["stop"] and data["evaluated"] is None
    data = run_json(cli, "solve-mdp", "gridworld-4x4", "--method", "value-iteration")
    assert "action_mask" not in data


def test_evaluate_policy_tabular_and_neural(cli):
    data = run_json(cli, "evaluate-policy", "random-walk", "--episodes", "5")
    check(data, EVALUATE_POLICY)
    check(data["info"], {"source": S, "policy": S})
    data = run_json(cli, "evaluate-policy", "random-walk", "--episodes", "3", "--net", "mlp")
    check(data, EVALUATE_POLICY_NET)


def test_control(cli):
    data = run_json(cli, "control", "student-mdp", "--episodes", "5")
    check(data, CONTROL)
    check(data["params"], {"alpha": S, "epsilon": S, "q_init": F, "max_steps": I})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from rlkit.cli import main

    path = tmp_path_factory.mktemp("train") / "run"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["train", "--env", "CartPole-v1", "-n", "64", "--n-envs", "2", "--set", "n_steps=32",
              "--run-dir", str(path), "-q", "--format", "json"])
    return path, json.loads(out.getvalue())


def test_train_evaluate_and_plot(cli, run_dir):
    path, data = run_dir
    check(data, TRAIN)
    check(data["files"], TRAIN_FILES)
    check(run_json(cli, "evaluate", str(path), "--episodes", "2"), EVALUATE)
    check(run_json(cli, "plot", str(path), "--out", str(path / "p.png")), PLOT)


def test_compare_and_sweep(cli, tmp_path, monkeypatch):
    from test_blind_compare import InProcess

    for name in ("rlkit.experiments.compare", "rlkit.experiments.sweep"):
        monkeypatch.setattr(importlib.import_module(name), "make_executor", lambda *a, **k: InProcess())
    common = ["--seeds", "1", "-t", "20", "--eval-every", "20", "--eval-episodes", "1", "--set", "n_envs=1"]
    data = run_json(cli, "compare", "--env", "CartPole-v1", "--agents", "sb3-a2c", *common,
                    "--out", str(tmp_path / "c"))
    check(data, COMPARE)
    check(data["rows"][0], SUMMARY_ROW)
    data = run_json(cli, "sweep", "--agent", "sb3-a2c", "--env", "CartPole-v1", "--grid", "gamma=0.9,0.99",
                    *common, "--out", str(tmp_path / "s"))
    check(data, SWEEP)
    for row in data["rows"]:
        check(row, {**SUMMARY_ROW, "rank": I})
        check(row["params"], {"gamma": F})
