"""`--help`: flags shown as flags, examples under the commands, and `rlkit presets`."""

from __future__ import annotations

import json
import re

import pytest

from rlkit.agents.presets import preset_envs
from rlkit.cli import EXAMPLES


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


def option_row(help_text: str, flag: str) -> str:
    rows = [ln for ln in help_text.splitlines() if re.search(rf"\s{re.escape(flag)}(\s|$)", ln)]
    assert rows, f"{flag} is not in the help"
    return rows[0]


def test_flags_show_no_value_type(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    assert "<bool>" not in out
    assert "<int>" in option_row(out, "--seed")                 # options that take a value keep theirs
    assert not re.search(r"--quiet\s+-q\s+<", option_row(out, "--quiet"))
    code, out, _ = cli("evaluate", "--help")
    assert "--deterministic" in out and "--stochastic" in out and "<bool>" not in out


@pytest.mark.parametrize("command", ["train", "evaluate", "control", "evaluate-policy", "compare", "presets"])
def test_help_ends_with_examples(cli, command):
    code, out, _ = cli(*command.split(), "--help")
    assert code == 0
    tail = out[out.index("Examples:"):]
    for example in EXAMPLES[command]:
        assert example.split("   (")[0] in " ".join(tail.split()), example


def test_every_example_names_its_own_command():
    for command, examples in EXAMPLES.items():
        assert all(e.startswith(f"rlkit {command}") for e in examples), command


def test_presets_lists_the_envs_of_every_agent(cli):
    code, out, err = cli("presets", "--format", "json")
    assert code == 0, err
    presets = json.loads(out)
    assert set(presets) == {"reinforce", "sb3-ppo", "sb3-a2c", "sb3-dqn"}
    for agent, envs in presets.items():
        assert envs == preset_envs(agent) and "default" not in envs
    assert "CartPole-v1" in presets["reinforce"] and "rlkit/MNISTBandit-v0" in presets["reinforce"]
    code, out, _ = cli("presets")
    assert code == 0 and out.splitlines()[0].startswith("reinforce:") and "CartPole-v1" in out.splitlines()[0]
