"""Hostile run folders, checkpoints and model files: random bytes, random structures and hand edits
meet one rlkit error (exit 2, one line), never a traceback, and nothing already written changes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.agents import Reinforce
from rlkit.errors import RlkitError
from rlkit.runs import load_checkpoint, resume

SMALL = ["--total-timesteps", "512", "--n-envs", "2", "--set", "n_steps=64", "--set", "run.eval_episodes=1",
         "--set", "policy.net.hidden=[8]", "--set", "policy.value_net.hidden=[8]", "--quiet"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from rlkit.cli import main

    run = tmp_path_factory.mktemp("runs") / "r"
    try:
        main(["train", "--env", "CartPole-v1", "--run-dir", str(run), *SMALL])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert (run / "model.pt").is_file()
    return run


_leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=8))
structures = st.recursive(
    _leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_as_checkpoint_or_model(tmp_path, data):
    path = tmp_path / "f.pt"
    path.write_bytes(data)
    for reader in (load_checkpoint, Reinforce.load):
        with pytest.raises(RlkitError):
            reader(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=structures, where=st.sampled_from(["model", "checkpoint", "agent"]))
def test_random_structures_in_valid_torch_files(tmp_path, obj, where):
    """Files torch reads fine, holding anything: only RlkitError comes out."""
    if where == "model":
        payload = {"format": "rlkit-reinforce", "policy_state": obj, "config": obj, "observation_space": obj}
    elif where == "checkpoint":
        payload = {"format": "rlkit-run-checkpoint", "run": obj, "agent": obj}
    else:
        payload = obj if isinstance(obj, dict) else {"x": obj}
    path = tmp_path / "f.pt"
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(RlkitError):
        Reinforce.load(path)
    if where == "checkpoint":
        data = load_checkpoint(path)  # no digest: accepted as a file, refused when used
        agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=1)
        try:
            with pytest.raises(RlkitError):
                agent.set_state(data.get("agent") if isinstance(data.get("agent"), dict) else {"model": obj})
        finally:
            agent.close()


def _edited(run: Path, tmp_path: Path, edit) -> Path:
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    edit(cfg)
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    return copy


EDITS = {
    "seed-text": lambda c: c.update(seed="abc"),
    "no-env": lambda c: c.pop("env_id"),
    "env-number": lambda c: c.update(env_id=5),
    "hyperparams-list": lambda c: c.update(hyperparams=[1, 2]),
    "bad-hyperparam": lambda c: c["hyperparams"].update(n_steps="many"),
    "unknown-hyperparam": lambda c: c["hyperparams"].update(colour="red"),
    "agent-unknown": lambda c: c.update(agent="dqn"),
    "run-not-mapping": lambda c: c.update(run="x"),
    "total-negative": lambda c: c.update(total_timesteps=-3),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_hand_edited_config_is_one_error_line(cli, finished_run, tmp_path, name):
    run = _edited(finished_run, tmp_path, EDITS[name])
    ck = load_checkpoint(run / "checkpoint.pt")
    ck["run"]["finished"] = False  # force the resume to read the config and build the agent
    ck.pop("digest", None)
    from rlkit.runs.checkpoint import save_checkpoint

    save_checkpoint(run / "checkpoint.pt", ck)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for args in (["train", "--resume", str(run), "--quiet"], ["evaluate", str(run), "--episodes", "1"]):
        code, _, err = cli(*args)
        if code == 0:  # an edit that evaluate does not need (e.g. the seed of training)
            continue
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (name, args, err)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after.get("metrics.csv") == before.get("metrics.csv") or name == "seed-text"


def test_a_checkpoint_whose_collector_log_was_edited_says_what_is_inconsistent(finished_run, tmp_path):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(finished_run, run)
    ck = load_checkpoint(run / "checkpoint.pt")
    col = ck["agent"]["collector"]
    if col["pending_reset"]:
        pytest.skip("the final checkpoint has no running episode")
    i = max(range(len(col["episode_actions"])), key=lambda j: len(col["episode_actions"][j]))
    col["episode_actions"][i] = torch.cat([col["episode_actions"][i]] * 40)  # far longer than an episode
    ck["run"]["finished"] = False
    ck.pop("digest", None)
    from rlkit.runs.checkpoint import save_checkpoint

    save_checkpoint(run / "checkpoint.pt", ck)
    with pytest.raises(RlkitError, match=f"sub-env {i}: replaying"):
        resume(run)


def test_zip_members_removed_from_a_model(finished_run, tmp_path):
    src = finished_run / "model.pt"
    dst = tmp_path / "m.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if "/data/0" not in item.filename:
                zout.writestr(item, zin.read(item.filename))
    with pytest.raises(RlkitError):
        Reinforce.load(dst)
