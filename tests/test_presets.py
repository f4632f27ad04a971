"""`--set key=value` parsing shared by `rlkit train`, `compare` and `sweep`."""

from __future__ import annotations

import pytest

from rlkit.agents.presets import parse_set, parse_value
from rlkit.errors import RlkitError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3e-3", 0.003), ("1E5", 100000.0), ("-2.5e-1", -0.25), ("0.001", 0.001), ("64", 64),
     ("[64, 64]", [64, 64]), ("true", True), ("tanh", "tanh"), ("{a: 1}", {"a": 1})],
)
def test_parse_value_reads_yaml_and_exponent_floats(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_parse_set():
    assert parse_set(["learning_rate=3e-4", "policy.net.hidden=[32, 32]", "ent_coef=null"]) == {
        "learning_rate": 3e-4, "policy.net.hidden": [32, 32], "ent_coef": None}
    with pytest.raises(RlkitError, match="key=value"):
        parse_set(["learning_rate"])
    with pytest.raises(RlkitError, match="cannot read value"):
        parse_set(["policy.net.hidden=[64,"])


def test_train_accepts_exponent_learning_rate(cli, tmp_path):
    code, out, err = cli("train", "--env", "CartPole-v1", "--total-timesteps", "2048", "--quiet",
                         "--set", "learning_rate=3e-3", "--set", "run.eval_episodes=2",
                         "--run-dir", str(tmp_path / "run"), "--format", "json")
    assert code == 0, err
    import yaml

    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["hyperparams"]["learning_rate"] == pytest.approx(3e-3)
