"""``rlkit plot`` (``rlkit.runs.plot_runs``): which runs are grouped, how they are labelled, the
grid they are averaged on, the evaluation points, the threshold and the title, checked on run
folders written by hand, with the figure call plot_calls (``plot_curves`` is checked on its own in
tests/test_blind_plots.py). Written against the mutants mutmut left alive in ``rlkit/runs/train.py``
(docs/mutation.md, eleventh measurement).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.runs import rundir as rd

train_mod = importlib.import_module("rlkit.runs.train")  # rlkit.runs.train is also the function

CONFIG = {"agent": "reinforce", "env_id": "CartPole-v1", "seed": 0, "total_timesteps": 1000,
          "hyperparams": {"learning_rate": 0.003, "n_steps": 64, "env_kwargs": {}},
          "policy": {"net": {"type": "mlp", "hidden": [8]}}, "run": {"eval_every": 100},
          "created": "2026-12-03T10:00:00", "versions": {"rlkit": "0.1.0"}}


def hand_run(root: Path, name: str, ts, values, evals=None, loss=None, **config) -> str:
    """A run folder with the config (CONFIG updated with ``config``; ``hyperparams``/``policy``
    merged one level deep), a metrics.csv of ``ts`` against ``values`` and, if given, an
    evaluations.csv of (timesteps, mean) pairs."""
    d = root / name
    d.mkdir()
    cfg = {**CONFIG, **{k: v for k, v in config.items() if k not in ("hyperparams", "policy")}}
    for key in ("hyperparams", "policy"):
        cfg[key] = {**CONFIG[key], **config.get(key, {})}
    rd.write_run_config(d, cfg)
    loss = loss if loss is not None else [0.5] * len(ts)
    lines = ["timesteps,return_mean,loss,length_mean"] + [
        f"{t},{'' if np.isnan(v) else v},{x},{2 * x}" for t, v, x in zip(ts, values, loss, strict=True)]
    (d / rd.METRICS).write_text("\n".join(lines) + "\n")
    if evals is not None:
        (d / rd.EVALUATIONS).write_text("timesteps,mean\n" + "".join(f"{t},{m}\n" for t, m in evals))
    return str(d)


@pytest.fixture
def plot_calls(monkeypatch):
    calls = []

    def fake_plot_curves(curves, **kw):
        calls.append({"curves": {k: np.array(v) for k, v in curves.items()}, **kw})
        Path(kw["path"]).write_bytes(b"png")
        return Path(kw["path"])

    monkeypatch.setattr(train_mod, "plot_curves", fake_plot_curves)
    return calls


def test_one_run_its_seed_its_evaluations_and_the_threshold(tmp_path, plot_calls):
    # uneven steps: one run is drawn on its own steps, not spread on an even grid
    d = hand_run(tmp_path, "a", [64, 128, 192, 448], [np.nan, 10.0, 20.0, 30.0],
                 evals=[(100, 30.0), (200, 40.0)], seed=3)
    out = train_mod.plot_runs([d], tmp_path / "p.png")
    assert out == tmp_path / "p.png"
    (call,) = plot_calls
    assert list(call["curves"]) == ["reinforce CartPole-v1 s3"]
    np.testing.assert_array_equal(call["curves"]["reinforce CartPole-v1 s3"], [[10.0, 20.0, 30.0]])  # no NaN
    np.testing.assert_array_equal(call["x"]["reinforce CartPole-v1 s3"], [128, 192, 448])
    ex, ey = call["points"]["reinforce CartPole-v1 s3"]
    np.testing.assert_array_equal(ex, [100, 200])
    np.testing.assert_array_equal(ey, [30.0, 40.0])
    assert call["title"] == "reinforce on CartPole-v1, seed 3"
    assert call["hline"] == 475.0 and call["hline_label"] == "threshold 475"
    assert call["ylabel"] == "mean return (last 100 training episodes)"
    assert call["xlabel"] == "environment steps"
    assert call["band"] == "ci95" and call["points_label"] == "evaluation (deterministic)"
    assert json.loads((tmp_path / "p.png.json").read_text()) == {
        "title": "reinforce on CartPole-v1, seed 3", "y": "return_mean", "threshold": 475.0,
        "curves": [{"label": "reinforce CartPole-v1 s3", "runs": [d], "x": [128.0, 192.0, 448.0],
                    "mean": [10.0, 20.0, 30.0], "eval_points": 2}]}


def test_seeds_of_one_configuration_are_averaged_on_a_common_grid(tmp_path, plot_calls):
    a = hand_run(tmp_path, "a", [100, 200, 300], [1.0, 2.0, 3.0], evals=[(300, 9.0)], seed=0)
    b = hand_run(tmp_path, "b", [150, 250], [10.0, 20.0], seed=1)
    c = hand_run(tmp_path, "c", [100, 300], [5.0, 7.0], evals=[], seed=0, hyperparams={"learning_rate": 0.01})
    train_mod.plot_runs([a, b, c], tmp_path / "p.png")
    (call,) = plot_calls
    assert list(call["curves"]) == ["learning_rate=0.003 (n=2)", "learning_rate=0.01"]
    # the union of the pair's steps, 5 of them, spread evenly from the first to the last
    np.testing.assert_array_equal(call["x"]["learning_rate=0.003 (n=2)"], [100, 150, 200, 250, 300])
    nan = np.nan
    np.testing.assert_array_equal(call["curves"]["learning_rate=0.003 (n=2)"],
                                  [[1.0, 1.5, 2.0, 2.5, 3.0], [nan, 10.0, 15.0, 20.0, nan]])
    np.testing.assert_array_equal(call["x"]["learning_rate=0.01"], [100, 300])  # one run: its own steps
    assert list(call["points"]) == ["learning_rate=0.003 (n=2)"]  # an empty evaluations.csv draws none
    assert call["title"] == "reinforce on CartPole-v1: 3 runs, 2 configurations"
    drawn = json.loads((tmp_path / "p.png.json").read_text())["curves"]
    assert drawn[0]["mean"] == [1.0, 5.75, 8.5, 11.25, 3.0] and drawn[0]["runs"] == [a, b]
    assert drawn[0]["eval_points"] == 1 and drawn[1]["eval_points"] == 0
    # one run alone of several keeps its label without a seed
    assert drawn[1]["label"] == "learning_rate=0.01"


def test_a_long_common_grid_is_cut_to_200_points(tmp_path, plot_calls):
    a = hand_run(tmp_path, "a", list(range(0, 3000, 10)), [1.0] * 300, seed=0)
    b = hand_run(tmp_path, "b", list(range(5, 3005, 10)), [3.0] * 300, seed=1)
    train_mod.plot_runs([a, b], tmp_path / "p.png")
    x = plot_calls[0]["x"]["reinforce CartPole-v1 (n=2)"]
    np.testing.assert_array_equal(x, np.linspace(0, 2995, 200))


def test_another_column_and_several_envs_draw_no_threshold_and_no_points(tmp_path, plot_calls):
    a = hand_run(tmp_path, "a", [10, 20], [1.0, 2.0], evals=[(10, 5.0)], loss=[0.25, 0.75])
    b = hand_run(tmp_path, "b", [10, 20], [1.0, 2.0], evals=[(10, 5.0)], env_id="Acrobot-v1")
    train_mod.plot_runs([a], tmp_path / "loss.png", y="loss")
    call = plot_calls[-1]
    assert call["hline"] is None and call["hline_label"] is None and call["points"] == {}
    assert call["ylabel"] == "loss"
    np.testing.assert_array_equal(call["curves"]["reinforce CartPole-v1 s0"], [[0.25, 0.75]])
    assert json.loads((tmp_path / "loss.png.json").read_text())["threshold"] is None
    train_mod.plot_runs([a, b], tmp_path / "two.png")
    call = plot_calls[-1]
    assert list(call["curves"]) == ["CartPole-v1", "Acrobot-v1"] and call["hline"] is None
    assert call["title"] == "reinforce on Acrobot-v1, CartPole-v1: 2 runs, 2 configurations"
    assert len(call["points"]) == 2
    # a column with an underscore is labelled in words; several agents are all named
    train_mod.plot_runs([a], tmp_path / "len.png", y="length_mean")
    assert plot_calls[-1]["ylabel"] == "length mean"
    np.testing.assert_array_equal(plot_calls[-1]["curves"]["reinforce CartPole-v1 s0"], [[0.5, 1.5]])
    c = hand_run(tmp_path, "c", [10, 20], [1.0, 2.0], agent="other")
    train_mod.plot_runs([a, c], tmp_path / "agents.png")
    assert plot_calls[-1]["title"] == "other, reinforce on CartPole-v1: 2 runs, 2 configurations"
    assert list(plot_calls[-1]["curves"]) == ["reinforce", "other"]


def test_what_cannot_be_plotted_is_one_error_naming_where(tmp_path, plot_calls):
    with pytest.raises(RlkitError) as e:
        train_mod.plot_runs([], tmp_path / "p.png")
    assert str(e.value) == "give at least one run folder"
    d = hand_run(tmp_path, "a", [10, 20], [np.nan, np.nan])
    with pytest.raises(RlkitError) as e:
        train_mod.plot_runs([d], tmp_path / "p.png", y="nope")
    assert str(e.value) == f"{Path(d) / 'metrics.csv'}: no column 'nope'"
    with pytest.raises(RlkitError) as e:
        train_mod.plot_runs([d], tmp_path / "p.png")
    assert str(e.value) == f"{d}: no finished episode to plot yet"
    assert plot_calls == [] and not (tmp_path / "p.png").exists()


def test_flat_and_setting_keep_what_makes_a_configuration():
    nested = {"a": 1, "b": {"c": 2, "d": {"e": [3]}}, "f": {}}
    assert train_mod._flat(nested) == {"a": 1, "b.c": 2, "b.d.e": [3]}
    assert train_mod._flat(5, "x") == {"x": 5}
    assert train_mod._flat({"a": {"b": 1}}, "p.") == {"p.a.b": 1}
    s = train_mod._setting({**CONFIG, "seed": 9})
    assert s == {"agent": "reinforce", "env": "CartPole-v1", "total_timesteps": 1000, "learning_rate": 0.003,
                 "n_steps": 64, "policy.net.type": "mlp", "policy.net.hidden": "[8]"}
    assert train_mod._setting({"agent": "a", "env_id": "E", "hyperparams": None, "policy": None}) == {
        "agent": "a", "env": "E", "total_timesteps": None}
    cfg = {"agent": "a", "env_id": "E", "hyperparams": {"k": {"x": 1}, "m": [1, {}]}}
    assert train_mod._setting(cfg) == {"agent": "a", "env": "E", "total_timesteps": None, "k.x": 1,
                                       "m": "[1, {}]"}


def test_group_labels_name_the_settings_that_differ():
    base = {"agent": "reinforce", "env": "CartPole-v1", "learning_rate": 0.003, "policy.net.hidden": "[8]"}
    same = [dict(base), dict(base)]
    assert train_mod._group_labels(same) == ["reinforce CartPole-v1"] * 2
    lr = [dict(base), {**base, "learning_rate": 0.01}]
    assert train_mod._group_labels(lr) == ["learning_rate=0.003", "learning_rate=0.01"]
    # agent and env first and bare, then the rest sorted; policy keys by their last part
    mixed = [{**base, "env": "Acrobot-v1", "policy.net.hidden": "[16]", "gamma": 0.9},
             {**base, "agent": "other", "gamma": 0.99}]
    assert train_mod._group_labels(mixed) == ["reinforce Acrobot-v1 gamma=0.9 hidden=[16]",
                                              "other CartPole-v1 gamma=0.99 hidden=[8]"]
    # a key only one run has differs (None for the other)
    extra = [dict(base), {**base, "ent_coef": 0.01}]
    assert train_mod._group_labels(extra) == ["ent_coef=None", "ent_coef=0.01"]
    # only policy keys are shortened: a nested hyperparameter keeps its whole name
    kw = [{**base, "env_kwargs.max_episode_steps": 5}, {**base, "env_kwargs.max_episode_steps": 9}]
    assert train_mod._group_labels(kw) == ["env_kwargs.max_episode_steps=5", "env_kwargs.max_episode_steps=9"]
