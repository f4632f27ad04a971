"""Compare and sweep checked on numbers, not plumbing.

* A hyperparameter set in a sweep grid or a compare ``--set`` reaches the agent that trains: a spy
  agent records its config and its optimiser's learning rate inside the trial (the trials run in
  this process through the real ``run_experiment`` -> executor -> ``run_trial`` path).
* Two trials that differ in one hyperparameter start equal and then differ; with a learning rate
  of ~0 every evaluation equals the first (the evaluation follows the trained policy).
(The summary's numbers from hand-made trial results are in test_blind_summary.py.)
"""

from __future__ import annotations

import importlib

import pytest

import rlkit.agents
from rlkit.experiments.compare import compare
from rlkit.experiments.sweep import sweep
from rlkit.experiments.trial import TrialSpec, run_trial

# the modules (rlkit.experiments re-exports functions of the same names)
compare_mod = importlib.import_module("rlkit.experiments.compare")
sweep_mod = importlib.import_module("rlkit.experiments.sweep")
sb3_mod = importlib.import_module("rlkit.experiments.sb3")


class InProcess:
    """An executor that runs the trials here, one after the other (so spies can see them)."""

    def __init__(self, *args, **kwargs):
        pass

    def results(self, specs):
        for spec in specs:
            yield run_trial(spec)


@pytest.fixture
def in_process(monkeypatch):
    for mod in (compare_mod, sweep_mod):
        monkeypatch.setattr(mod, "make_executor", lambda *a, **k: InProcess())


@pytest.fixture
def reinforce_spy(monkeypatch):
    seen = []

    class Spy(rlkit.agents.Reinforce):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.envs is None:          # the driver's config check builds one without envs
                return
            lrs = {name: [g["lr"] for g in opt.param_groups] for name, opt in self.optimizers.items()}
            seen.append({"config": self.config, "lrs": lrs, "seed": self.seed})

    monkeypatch.setattr(rlkit.agents, "Reinforce", Spy)
    monkeypatch.setattr(rlkit.agents.reinforce, "Reinforce", Spy)  # what the agent registry loads
    return seen


TINY = {"n_envs": 2, "n_steps": 32}


def test_sweep_grid_values_reach_the_agents_optimiser(tmp_path, in_process, reinforce_spy):
    res = sweep("reinforce", "CartPole-v1", {"learning_rate": [0.01, 0.0007]}, seeds=[3], total_timesteps=64,
                eval_every=64, eval_episodes=1, overrides=TINY, out=tmp_path / "s")
    assert len(reinforce_spy) == 2
    assert sorted(s["config"].learning_rate for s in reinforce_spy) == [0.0007, 0.01]
    for s in reinforce_spy:
        assert s["seed"] == 3 and s["config"].n_envs == 2 and s["config"].n_steps == 32
        assert s["lrs"]["policy"] == [s["config"].learning_rate]        # the optimiser got it
    by_id = {r["config_id"]: r["params"]["learning_rate"] for r in res.ranked}
    assert by_id == {"c0": 0.01, "c1": 0.0007}


def test_compare_override_reaches_an_sb3_model(tmp_path, in_process, monkeypatch):
    seen = []
    real = sb3_mod._algo_class

    def spy_class(agent):
        cls = real(agent)

        class Spy(cls):
            def _setup_model(self):
                super()._setup_model()
                seen.append((self.learning_rate, self.gamma,
                             [g["lr"] for g in self.policy.optimizer.param_groups]))

        return Spy

    monkeypatch.setattr(sb3_mod, "_algo_class", spy_class)
    compare(["CartPole-v1"], ["sb3-a2c"], seeds=[0], total_timesteps=20, eval_every=20, eval_episodes=1,
            overrides={"sb3-a2c": {"learning_rate": 0.0123, "gamma": 0.9, "n_envs": 1}}, out=tmp_path / "c")
    assert seen == [(0.0123, 0.9, [0.0123])]


def _trial(lr):
    return TrialSpec("reinforce", "CartPole-v1", seed=0, total_timesteps=384, eval_every=128, eval_episodes=3,
                     hyperparams={"n_envs": 2, "n_steps": 64, "learning_rate": lr, "policy": None})


def test_one_hyperparameter_apart_gives_different_curves_from_the_same_start():
    fast, frozen = run_trial(_trial(0.05)), run_trial(_trial(1e-12))
    assert fast.status == frozen.status == "ok", (fast.error, frozen.error)
    f = [r["return_mean"] for r in fast.eval_rows]
    z = [r["return_mean"] for r in frozen.eval_rows]
    assert [r["eval_point"] for r in fast.eval_rows] == [0, 128, 256, 384]
    assert f[0] == z[0]                         # same seed, same initial network
    assert z == [z[0]] * 4                      # no learning: the evaluation does not move
    assert f[1:] != z[1:]                       # learning moved the evaluated policy
