"""Policies started from trained backbones (policy.init / freeze / init_head, --init-from), RL runs
scored as classifiers (rlkit supervised evaluate), warm starts, and the device setting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rlkit.agents.reinforce import Reinforce
from rlkit.runs import load_checkpoint, resume, train

BANDIT = "rlkit/MNISTBandit-v0"
# a small CNN (one 4-channel conv block): fast on a busy CPU, ~90% after two epochs on 3k images
TINY_CNN = {"type": "cnn", "blocks": [{"channels": 4, "kernel": 5, "padding": 2, "pool": 4}], "hidden": [32]}
BANDIT_HP = {"n_envs": 8, "n_steps": 8, "baseline": "mean", "learning_rate": 3e-3, "lr_schedule": "constant"}


@pytest.fixture(scope="module")
def sup_run(tmp_path_factory):
    """A two-epoch supervised run of TINY_CNN on 3,000 training images (about 90% on the test images)."""
    import os

    if not (Path(os.environ["RLKIT_DATA"]) / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("real MNIST not found")
    from rlkit.supervised.train import fit

    out = tmp_path_factory.mktemp("sup") / "run"
    fit(dict(TINY_CNN), epochs=2, batch_size=32, train_subset=3000, test_subset=1000, run_dir=out,
        progress=False,
        device="cpu", seed=0, augment=0)
    return out


def _classifier_state(run: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(run / "model.pt", weights_only=True)
    return payload["state_dict"]


def _bandit(policy: dict, **hp):
    return Reinforce(policy, BANDIT, seed=1, **{**BANDIT_HP, **hp})


def test_weights_are_copied_and_the_head_is_kept_or_new(sup_run):
    src = _classifier_state(sup_run)
    kept = _bandit({"init": str(sup_run), "init_head": True})
    new = _bandit({"init": str(sup_run)})
    # the same architecture from scratch, same seed: the action head a new head must have
    scratch = _bandit({"net": json.loads((sup_run / "config.json").read_text())["backbone"]})
    try:
        for agent in (kept, new):
            st = agent.policy.state_dict()
            for k, v in src.items():
                if k.startswith("backbone."):
                    assert torch.equal(st["body." + k[len("backbone."):]], v), k
        for k in ("weight", "bias"):
            assert torch.equal(kept.policy.action_head.state_dict()[k], src["head." + k])
            fresh = scratch.policy.action_head.state_dict()[k]
            assert torch.equal(new.policy.action_head.state_dict()[k], fresh)
        assert not torch.equal(new.policy.action_head.weight, src["head.weight"])
        assert kept.policy_cfg["init"]["kind"] == "supervised" and kept.policy_cfg["init"]["head"] is True
        # a kept head plays like the classifier before its first update: same greedy labels
        from rlkit.supervised.train import load_checkpoint as load_classifier

        net, _ = load_classifier(sup_run)
        images = torch.from_numpy(kept.envs.unwrapped.images[:300].copy())
        with torch.no_grad():
            want = net(images).argmax(1).numpy()
        got, _ = kept.predict(images.numpy(), deterministic=True)
        assert np.array_equal(got, want)
    finally:
        for a in (kept, new, scratch):
            a.close()


@pytest.mark.parametrize("freeze", [True, ["conv"]], ids=["all", "conv-only"])
def test_frozen_layers_stay_bit_identical_while_the_rest_moves(sup_run, freeze):
    agent = _bandit({"init": str(sup_run), "freeze": freeze})
    try:
        before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
        in_opt = {id(p) for g in agent.optimizers["policy"].param_groups for p in g["params"]}
        agent.learn(128)
        after = agent.policy.state_dict()
        frozen_prefix = "body." if freeze is True else "body.conv."
        for k in before:
            same = torch.equal(before[k], after[k])
            if k.startswith(frozen_prefix):
                assert same, f"{k} moved although frozen"
            elif k.endswith("weight"):
                assert not same, f"{k} did not train"
        for name, p in agent.policy.named_parameters():
            assert (id(p) in in_opt) == (not name.startswith(frozen_prefix)), name
    finally:
        agent.close()


def _greedy_accuracy(agent, n: int = 2000) -> float:
    from rlkit.envs.mnist_bandit import _load

    images, labels = _load("test", "mnist", None)
    pred, _ = agent.predict(np.array(images[:n]), deterministic=True)  # a writable copy
    return float(np.mean(pred == labels[:n]))


def test_a_pretrained_bandit_beats_scratch_on_a_small_budget(sup_run):
    budget = 512
    scores = {}
    for name, policy in (("pretrained", {"init": str(sup_run), "freeze": ["conv"], "init_head": True}),
                         ("scratch", {"net": dict(TINY_CNN)})):
        agent = _bandit(policy)
        try:
            agent.learn(budget)
            scores[name] = _greedy_accuracy(agent)
        finally:
            agent.close()
    assert scores["pretrained"] > 0.75 and scores["scratch"] < 0.5, scores


def test_supervised_evaluate_of_an_rl_run_matches_its_bandit_accuracy(cli, sup_run, tmp_path):
    from rlkit.envs.mnist_bandit import _load
    from rlkit.runs.train import load_run_agent

    run = tmp_path / "rl"
    r = train(BANDIT, seed=0, total_timesteps=64, overrides={
        **{k: v for k, v in BANDIT_HP.items()}, "policy.init": str(sup_run), "policy.init_head": True,
        "run.eval_episodes": 300, "run.eval_every": None, "run.checkpoint_freq": 10**6,
    }, run_dir=run)
    code, out, err = cli("supervised", "evaluate", str(run), "--format", "json", "--device", "cpu")
    assert code == 0, err
    res = json.loads(out)
    conf = np.array(res["confusion"])
    assert conf.sum() == res["n_images"] == 10000
    assert res["test_accuracy"] == pytest.approx(np.trace(conf) / conf.sum())
    # independently: the run's agent labels every test image through predict()
    agent = load_run_agent(run)
    images, labels = _load("test", "mnist", None)
    pred, _ = agent.predict(np.array(images), deterministic=True)
    agent.close()
    correct = pred == labels
    assert res["test_accuracy"] == pytest.approx(float(correct.mean()), abs=1e-12)
    # the bandit's reward is the classifier's correctness on the image it showed, episode by episode
    import gymnasium as gym

    import rlkit.envs  # noqa: F401

    agent = load_run_agent(run)
    env = gym.make(BANDIT, split="test")
    rewards, drawn = [], []
    for i in range(200):
        obs, info = env.reset(seed=i)
        action, _ = agent.predict(obs, deterministic=True)
        rewards.append(env.step(action)[1])
        drawn.append(info["index"])
    agent.close()
    assert np.array_equal(np.array(rewards), correct[drawn].astype(float))
    # and the run's own final evaluation (300 test episodes) agrees within sampling error
    sigma = np.sqrt(res["test_accuracy"] * (1 - res["test_accuracy"]) / r.eval.episodes)
    assert abs(r.eval.mean - res["test_accuracy"]) < 4 * sigma + 1e-9


def test_a_run_started_from_a_backbone_resumes_exactly_without_its_source(sup_run, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(sup_run, src)
    ov = {**BANDIT_HP, "policy.init": str(src), "policy.freeze": ["conv"], "run.checkpoint_freq": 128,
          "run.eval_episodes": 20, "run.eval_every": None}
    full = train(BANDIT, seed=2, total_timesteps=384, overrides=ov, run_dir=tmp_path / "full")
    state = {"n": 0}

    def ctrl_c(agent, metrics):
        state["n"] += 1
        if agent.num_timesteps >= 192:  # one batch after the checkpoint at 128
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(BANDIT, seed=2, total_timesteps=384, overrides=ov, run_dir=tmp_path / "cut", callback=ctrl_c)
    shutil.rmtree(src)  # the weights live in the run now
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["run"]["timesteps"] == 128
    resumed = resume(tmp_path / "cut")
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["policy_state"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["policy_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.eval.returns == full.eval.returns
    assert Reinforce.load(tmp_path / "cut" / "model.pt").policy_cfg["init"]["kind"] == "supervised"


def test_cartpole_warm_start_from_another_run_with_a_new_configuration(cli, tmp_path):
    first = tmp_path / "first"
    code, _, err = cli("train", "--env", "CartPole-v1", "--total-timesteps", "1024", "--n-envs", "4",
                       "--set", "n_steps=64", "--set", "run.eval_episodes=2", "--run-dir", str(first), "-q")
    assert code == 0, err
    second = tmp_path / "second"
    code, out, err = cli("train", "--env", "CartPole-v1", "--init-from", str(first),
                         "--set", "policy.init_head=true",
                         "--set", "learning_rate=0.001", "--set", "ent_coef=0.0", "--total-timesteps", "512",
                         "--n-envs", "2", "--set", "n_steps=32", "--set", "run.eval_episodes=2",
                         "--run-dir", str(second), "--format", "json", "-q")
    assert code == 0, err
    import yaml

    cfg = yaml.safe_load((second / "config.yaml").read_text())
    assert cfg["policy"]["init"]["kind"] == "rl" and cfg["hyperparams"]["learning_rate"] == 0.001
    # the warm start's first weights are the first run's final model (policy, value net, heads)
    src = torch.load(first / "model.pt", weights_only=True)["policy_state"]
    # (the first run has no best_model.pt: its model.pt is what --init-from reads); rebuild the
    # second run's starting policy from its config with the source path given again
    from rlkit.runs.train import _make_agent

    agent = _make_agent({**cfg, "policy": {**cfg["policy"], "init": str(first)}})
    st = agent.policy.state_dict()
    agent.close()
    assert set(st) == set(src) and all(torch.equal(st[k], src[k]) for k in src)
    after = torch.load(second / "model.pt", weights_only=True)["policy_state"]
    assert not torch.equal(after["body.body.1.weight"], src["body.body.1.weight"])  # it trained on


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--env", "CartPole-v1", "--init-from", "/nonexistent/run"], "no such run folder"),
        (["--env", "CartPole-v1", "--init-from", "{empty}"], "holds no backbone"),
        (["--env", "CartPole-v1", "--init-from", "{sup}", "--set", "policy.net.type=cnn"], "shape (28, 28)"),
        (["--env", "CartPole-v1", "--init-from", "{sup}"], "shape (4,)"),
        (["--env", BANDIT, "--init-from", "{sup}", "--set", "policy.net.type=mlp"], "contradicts"),
        (["--env", BANDIT, "--init-from", "{sup}", "--set", "policy.freeze=[conv, nope]"], "no layer 'nope'"),
        (["--env", BANDIT, "--init-from", "{sup}", "--set", "policy.freeze=maybe"], "policy.freeze"),
        (["--env", "CartPole-v1", "--device", "tpu"], "device"),
    ],
    ids=["missing", "no-backbone", "cnn-into-cartpole", "cartpole-shape", "mlp-vs-cnn", "unknown-layer",
         "freeze-type", "bad-device"],
)
def test_bad_sources_are_one_error_line(cli, sup_run, tmp_path, args, needle):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)).replace("{sup}", str(sup_run)) for a in args]
    code, out, err = cli("train", *args, "--total-timesteps", "64", "--run-dir", str(tmp_path / "r"), "-q")
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not (tmp_path / "r").exists()


def test_an_rnn_backbone_into_an_mlp_policy_is_refused(cli, tmp_path):
    gru = tmp_path / "gru"
    code, _, err = cli("train", "--env", "rlkit/CartPoleNoVel-v1", "--total-timesteps", "64", "--n-envs", "2",
                       "--set", "n_steps=32", "--set", "policy.net.hidden=8",
                       "--set", "policy.value_net.hidden=8",
                       "--set", "run.eval_episodes=1", "--run-dir", str(gru), "-q")
    assert code == 0, err
    code, _, err = cli("train", "--env", "rlkit/CartPoleNoVel-v1", "--init-from", str(gru), "--set",
                       "policy.net.type=mlp", "--total-timesteps", "64", "--run-dir", str(tmp_path / "r"),
                       "-q")
    assert code == 2 and err.startswith("error:") and "contradicts" in err and "rnn" in err, err


def test_device_cpu_and_auto_work_and_cuda_without_cuda_is_one_error_line(cli, tmp_path, monkeypatch):
    from rlkit.agents.base import resolve_device

    cnn, mlp = {"net": {"type": "cnn"}}, {"net": {"type": "mlp"}}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [resolve_device("auto", c).type for c in (cnn, mlp)] == ["cuda", "cpu"]  # CUDA only where it pays
    assert resolve_device("cpu", cnn).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", cnn).type == "cpu"
    code, out, err = cli("train", "--env", "CartPole-v1", "--device", "cuda", "--total-timesteps", "64",
                         "--run-dir", str(tmp_path / "r"), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "CUDA" in err and err.startswith("error:")
    assert not (tmp_path / "r").exists()
    for device in ("cpu", "auto"):
        code, out, err = cli("train", "--env", "CartPole-v1", "--device", device, "--total-timesteps", "128",
                             "--n-envs", "2", "--set", "n_steps=32", "--set", "run.eval_episodes=1",
                             "--run-dir", str(tmp_path / device), "--format", "json", "-q")
        assert code == 0, err
        assert Reinforce.load(tmp_path / device / "model.pt").config.device == device


def test_a_model_saved_with_device_cuda_loads_on_a_machine_without_cuda(tmp_path, monkeypatch):
    agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=1, device="cpu")
    data = agent._model_dict()
    agent.close()
    data["config"]["device"] = "cuda"  # as a GPU run writes it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = Reinforce.from_model_dict(data, "m.pt")
    assert loaded.device.type == "cpu"
    st = loaded.policy.state_dict()
    assert all(torch.equal(st[k], v) for k, v in data["policy_state"].items())
