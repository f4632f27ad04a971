"""`rlkit evaluate-policy --net RUN_DIR | policy`: a value network that starts from a trained
policy's backbone (issue 10, "both directions")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rlkit.errors import RlkitError
from rlkit.runs.train import load_run_agent
from rlkit.tabular.neural import ValueNetwork, net_config, neural_prediction


def _train(out, total_timesteps=2048, **overrides):
    """A short CartPole run of `rlkit train` in ``out`` (no periodic evaluation)."""
    from rlkit.runs import train

    train("CartPole-v1", seed=0, total_timesteps=total_timesteps, run_dir=out,
          overrides={"run.eval_episodes": 1, "run.eval_every": None, **overrides})
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short CartPole run (its policy: the preset's 64-64 tanh MLP)."""
    return _train(tmp_path_factory.mktemp("vinit") / "run")


def _body(run_dir) -> dict[str, torch.Tensor]:
    agent = load_run_agent(run_dir)
    try:
        state = agent.policy.state_dict()
        return {k[len("body."):]: v.clone() for k, v in state.items() if k.startswith("body.")}
    finally:
        agent.close()


def test_a_run_folder_gives_its_backbone_and_a_zero_head(run):
    assert net_config(str(run)) == {"init": str(run)}
    body = _body(run)
    assert body and any(v.abs().sum() > 0 for v in body.values())
    vnet = ValueNetwork(spaces.Box(-np.inf, np.inf, (4,), np.float32), net_config(str(run)))
    own = vnet.backbone.state_dict()
    assert set(own) == set(body)
    for k, v in body.items():
        assert torch.equal(own[k], v), k
    assert vnet.cfg["init"] == str(run) and vnet.cfg["hidden"] == [64, 64]
    # the head is new and zero: every estimate starts at 0, as with a fresh value net
    assert float(vnet.head.weight.detach().abs().sum()) == 0.0
    assert np.all(vnet.predict(np.random.default_rng(0).normal(size=(5, 4))) == 0.0)
    # a scratch value net of the same architecture has other weights (the copy is not a coincidence)
    scratch = ValueNetwork(spaces.Box(-np.inf, np.inf, (4,), np.float32), {"type": "mlp", "hidden": [64, 64],
                                                                            "activation": "tanh"})
    assert not torch.equal(scratch.backbone.state_dict()[next(iter(body))], next(iter(body.values())))


def test_the_architecture_is_the_sources_not_the_default(tmp_path):
    small = _train(tmp_path / "small", 256, **{"policy.net.hidden": [16], "n_envs": 2, "n_steps": 128})
    vnet = ValueNetwork(spaces.Box(-np.inf, np.inf, (4,), np.float32), net_config(str(small)))
    assert vnet.cfg["hidden"] == [16] and vnet.cfg["init"] == str(small)
    for k, v in _body(small).items():
        assert torch.equal(vnet.backbone.state_dict()[k], v), k


def test_the_copied_backbone_trains(run):
    agent = load_run_agent(run)
    try:
        res = neural_prediction("CartPole-v1", agent, method="mc", episodes=4, alpha=1e-3, seed=0,
                                net={"init": str(run)})
    finally:
        agent.close()
    assert res.config["net"]["init"] == str(run)
    assert len(res.loss_curve) == 4 and np.isfinite(res.loss_curve).all()


def test_cli_net_policy_uses_the_policy_run(cli, run):
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", "policy", "--method", "td",
                         "--policy", str(run), "--episodes", "3", "--alpha", "0.001", "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert res["net"]["init"] == str(run) and res["episodes"] == 3


def test_bad_sources_exit_2(cli, run, tmp_path):
    # CartPole's 4 numbers cannot feed FrozenLake's one-hot states (16)
    code, out, err = cli("evaluate-policy", "FrozenLake-v1", "--net", str(run), "--episodes", "2")
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert err == (f"error: --net: the mlp backbone of {run} reads observations of shape (4,); this env's "
                   "observations have shape (16,), which it cannot read\n")
    # --net policy without a run folder as --policy
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", "policy", "--episodes", "2")
    assert code == 2 and err.startswith("error:") and "--net" in err
    # a folder that holds no backbone
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = cli("evaluate-policy", "CartPole-v1", "--net", str(empty), "--episodes", "2")
    assert code == 2 and err.startswith(f"error: --net {empty}: holds no backbone: not a run folder of ")
    with pytest.raises(RlkitError, match="architecture from the source"):
        ValueNetwork(spaces.Box(-1, 1, (4,)), {"init": str(run), "hidden": [8]})
