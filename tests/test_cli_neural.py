"""`rlkit evaluate-policy --net ...`: prediction with a value network from the shell."""

from __future__ import annotations

import json

import numpy as np

from rlkit.tabular.neural import DEFAULT_MLP, net_config


def test_net_config_names_and_files(tmp_path):
    assert net_config(None) is None and net_config("auto") is None
    assert net_config("mlp") == DEFAULT_MLP
    assert net_config("linear") == {"type": "mlp", "hidden": []}
    cfg = tmp_path / "net.yaml"
    cfg.write_text("type: mlp\nhidden: [16]\nactivation: relu\n")
    assert net_config(str(cfg)) == {"type": "mlp", "hidden": [16], "activation": "relu"}


def test_linear_net_on_random_walk_matches_exact_values(cli):
    # one-hot features into a linear head is a table: semi-gradient TD(0) converges to k/6
    code, out, err = cli("evaluate-policy", "random-walk", "--net", "linear", "--method", "td",
                         "--episodes", "300", "--alpha", "0.05", "--seed", "0", "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert res["method"] == "td"
    assert np.allclose(res["exact"][1:6], [k / 6 for k in range(1, 6)], atol=1e-12)
    assert res["rmse"] < 0.06
    assert np.isfinite(res["loss_curve"]).all()


def test_cartpole_with_a_trained_run_as_policy(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", "--env", "CartPole-v1", "--total-timesteps", "2048", "--quiet",
                       "--set", "run.eval_episodes=1", "--run-dir", str(run))
    assert code == 0, err
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", "mlp", "--method", "mc",
                         "--policy", str(run), "--episodes", "10", "--alpha", "0.001",
                         "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert res["episodes"] == 10 and res["values"] is None and res["exact"] is None
    assert len(res["episode_returns"]) == 10


def test_bad_net_and_method_exit_2(cli):
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", "transformer")
    assert code == 2 and err.startswith("error:") and "--net" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", "mlp", "--method", "nstep")
    assert code == 2 and "td, td-lambda or mc" in err
