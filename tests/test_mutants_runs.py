"""`rlkit.runs`' bookkeeping, checked piece by piece against schedules and files worked out by hand:
the session's evaluation points, best model, stop, checkpoints and clock; the CSV and TensorBoard
loggers; run folders and their config; checkpoints; the checks of a resume.

Written against the mutants mutmut left alive in ``rlkit/runs/`` (docs/mutation.md, sixth
measurement). The session runs with a scripted agent and scripted evaluations, so every number
below is known in advance: the training-loop tests (tests/test_training_loop.py) check the same
behaviour end to end, on real training, where a boundary (an evaluation exactly at a multiple of
``eval_every``) is hit only by chance.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import math
import platform
import re
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import gymnasium
import numpy as np
import pytest
import torch
import yaml

import rlkit
import rlkit.progress as progress_mod
import rlkit.runs.session as session_mod
from rlkit.agents.presets import run_settings
from rlkit.errors import RlkitError
from rlkit.runs import evaluate_run, load_run_agent, resume, train
from rlkit.runs import rundir as rd
from rlkit.runs.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from rlkit.runs.evaluate import EvalResult
from rlkit.runs.logger import (
    COLUMNS,
    EPISODE_COLUMNS,
    EVAL_COLUMNS,
    CsvLogger,
    MetricsLogger,
    TensorBoardLogger,
    _fmt,
    read_metrics,
)
from rlkit.runs.session import PERIODIC_EVAL_SEED_OFFSET, Session, env_threshold, stop_target

train_mod = importlib.import_module("rlkit.runs.train")  # rlkit.runs.train is also the function

# --------------------------------------------------------------------------------------------
# the session, with a scripted agent, scripted evaluations and a hand-driven clock
# --------------------------------------------------------------------------------------------


class Clock:
    """Stands in for the ``time`` module of ``rlkit.runs.session``: ``perf_counter`` is set by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


class Agent:
    """What a session needs of an agent: a step counter, ``save`` and ``get_state``."""

    def __init__(self, timesteps: int = 0) -> None:
        self.num_timesteps = timesteps
        self.saved: list[tuple[str, int]] = []

    def save(self, path) -> None:
        self.saved.append((Path(path).name, self.num_timesteps))

    def get_state(self) -> dict:
        return {"at": self.num_timesteps}


class Envs:
    def __init__(self, n: int) -> None:
        self.num_envs, self.closed = n, False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def rig(monkeypatch):
    """Patches the session's evaluation, env maker, checkpoint writer and clock; records calls."""
    rec = SimpleNamespace(means=[], evals=[], made=[], ckpts=[], clock=Clock(), eval_seconds=0.0,
                          returns=None)

    def fake_make(env_id, n, mode, kwargs):
        rec.made.append((env_id, n, mode, dict(kwargs)))
        rec.envs = Envs(n)
        return rec.envs, None

    def fake_eval(agent, envs, **kw):
        rec.evals.append({"timesteps": agent.num_timesteps, "envs": envs, **kw})
        rec.clock.now += rec.eval_seconds  # evaluation time: must not count as training time
        mean = rec.means.pop(0)
        returns = [mean - 1.0, mean, mean + 1.0] if rec.returns is None else rec.returns
        return EvalResult(mean=mean, std=0.5, episodes=len(returns), deterministic=True, seed=kw["seed"],
                          returns=returns)

    def fake_ckpt(path, state):
        rec.ckpts.append((Path(path).name, state))

    monkeypatch.setattr(session_mod, "make_vec_env", fake_make)
    monkeypatch.setattr(session_mod, "evaluate_policy", fake_eval)
    monkeypatch.setattr(session_mod, "save_checkpoint", fake_ckpt)
    monkeypatch.setattr(session_mod, "time", rec.clock)
    return rec


def _config(seed=7, env_id="CartPole-v1", **run):
    return {"env_id": env_id, "seed": seed, "run": {"checkpoint_freq": 10**9, **run}}


def _session(tmp_path, config, agent=None, resume_state=None, callback=None, tensorboard=False, kwargs=None):
    return Session(agent or Agent(), tmp_path, config, resume_state=resume_state, tensorboard=tensorboard,
                   eval_env_kwargs=kwargs or {}, user_callback=callback)


def _drive(session, steps, batch=256, finished=()):
    """Advance the agent by ``batch`` steps ``steps`` times, calling the session after each update;
    returns the callback's answers."""
    answers = []
    for _ in range(steps):
        session.agent.num_timesteps += batch
        answers.append(session(session.agent, {"update": 1, "timesteps": session.agent.num_timesteps,
                                                "finished": list(finished)}))
    return answers


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_evaluations_land_on_the_first_update_at_or_past_each_multiple(tmp_path, rig):
    # eval_every 512 with batches of 256: exactly at 512, 1024, 1536 (the boundary counts)
    rig.means = [1.0] * 3
    s = _session(tmp_path, _config(eval_every=512))
    _drive(s, 6)
    assert [e["timesteps"] for e in rig.evals] == [512, 1024, 1536]
    s.close()
    # eval_every 700: due at 700, 1400, 2100, 2800, 3500 -> the updates at 768, 1536, 2304, 2816, 3584
    rig.means, rig.evals = [1.0] * 5, []
    s = _session(tmp_path / "b", _config(eval_every=700))
    _drive(s, 14)
    assert [e["timesteps"] for e in rig.evals] == [768, 1536, 2304, 2816, 3584]
    assert s.next_eval == 4200
    # a batch that jumps over two multiples evaluates once and schedules the next multiple after it
    rig.means, rig.evals = [1.0] * 2, []
    s = _session(tmp_path / "c", _config(eval_every=100))
    _drive(s, 2, batch=250)
    assert [e["timesteps"] for e in rig.evals] == [250, 500] and s.next_eval == 600
    s.close()


def test_evaluation_settings_reach_the_evaluation(tmp_path, rig):
    rig.means = [1.0, 2.0]
    s = _session(tmp_path, _config(seed=7, eval_every=256, periodic_eval_episodes=13), kwargs={"sutton": 1})
    _drive(s, 2)
    # one set of envs, made at the first evaluation and kept: min(episodes, 10) sync sub-envs
    assert rig.made == [("CartPole-v1", 10, "sync", {"sutton": 1})]
    for e in rig.evals:
        assert e["envs"] is rig.envs and e["n_envs"] == 10 and e["n_episodes"] == 13
        assert e["deterministic"] is True and e["seed"] == 7 + PERIODIC_EVAL_SEED_OFFSET == 2_000_036
        assert e["env_kwargs"] == {"sutton": 1}
    s.close()
    assert rig.envs.closed
    # fewer episodes than 10: that many sub-envs; the default is 20 episodes
    rig.means, rig.made, rig.evals = [1.0], [], []
    s = _session(tmp_path / "b", _config(eval_every=256, periodic_eval_episodes=4))
    _drive(s, 1)
    assert rig.made[0][1] == 4 and rig.evals[0]["n_envs"] == 4
    rig.means, rig.made, rig.evals = [1.0], [], []
    s = _session(tmp_path / "c", _config(eval_every=256))
    _drive(s, 1)
    assert rig.evals[0]["n_episodes"] == 20 and rig.made[0][1] == 10


def test_best_model_keeps_the_later_of_equal_scores_and_logs_each_evaluation(tmp_path, rig):
    rig.means = [10.0, 30.0, 30.0, 20.0, -5.0]
    agent = Agent()
    s = _session(tmp_path, _config(eval_every=256), agent=agent)
    _drive(s, 5)
    # saved at the first evaluation, at the better one and at the equal, later one; never after
    assert agent.saved == [("best_model.pt", 256), ("best_model.pt", 512), ("best_model.pt", 768)]
    assert (s.best_mean, s.best_timesteps) == (30.0, 768)
    assert isinstance(s.best_mean, float) and isinstance(s.best_timesteps, int)
    s.close()
    rows = _rows(tmp_path / "evaluations.csv")
    assert list(rows[0]) == EVAL_COLUMNS
    assert [(int(r["timesteps"]), float(r["mean"]), float(r["min"]), float(r["max"])) for r in rows] == [
        (256, 10.0, 9.0, 11.0), (512, 30.0, 29.0, 31.0), (768, 30.0, 29.0, 31.0), (1024, 20.0, 19.0, 21.0),
        (1280, -5.0, -6.0, -4.0)]
    assert {(r["std"], r["episodes"]) for r in rows} == {("0.5", "3")}


def test_an_evaluation_without_episodes_logs_nan_bounds(tmp_path, rig):
    rig.means, rig.returns = [0.0], []
    s = _session(tmp_path, _config(eval_every=256))
    _drive(s, 1)
    s.close()
    row = _rows(tmp_path / "evaluations.csv")[0]
    assert (row["min"], row["max"], row["episodes"]) == ("nan", "nan", "0")


def test_stop_at_a_score_stops_at_the_first_evaluation_at_or_above_it(tmp_path, rig):
    rig.means = [10.0, 29.999, 30.0, 50.0]
    s = _session(tmp_path, _config(eval_every=256, stop_at=30))
    answers = _drive(s, 3)
    assert answers == [None, None, False] and s.stopped and s.stop_at == 30.0
    assert s.state()["stopped"] is True
    # without stop_at the same scores never stop
    rig.means = [10.0, 29.999, 30.0]
    s = _session(tmp_path / "b", _config(eval_every=256))
    assert _drive(s, 3) == [None, None, None] and not s.stopped and s.stop_at is None


def test_checkpoints_every_freq_steps_with_the_whole_session_state(tmp_path, rig):
    rig.clock.now = 0.0
    rig.means = [5.0, 7.0, 6.0, 1.0]
    ep = SimpleNamespace(timesteps=3, ret=2.5, length=3, env=1)
    s = _session(tmp_path, _config(eval_every=512, checkpoint_freq=1024))
    for k in range(8):
        rig.clock.now += 1.5
        s.agent.num_timesteps += 256
        s(s.agent, {"update": k + 1, "timesteps": s.agent.num_timesteps, "finished": [ep] * (k % 2)})
    # the gap since the last checkpoint reaching freq counts: at 1024 and 2048
    assert [c[1]["run"]["timesteps"] for c in rig.ckpts] == [1024, 2048]
    assert [c[1]["agent"] for c in rig.ckpts] == [{"at": 1024}, {"at": 2048}]
    assert {c[0] for c in rig.ckpts} == {"checkpoint.pt"}
    assert rig.ckpts[0][1]["run"] == {
        "metrics_rows": 4, "episode_rows": 2, "eval_rows": 2, "seconds": 6.0, "timesteps": 1024,
        "next_eval": 1536, "best_mean": 7.0, "best_timesteps": 1024, "stopped": False, "finished": False}
    assert rig.ckpts[1][1]["run"]["metrics_rows"] == 8 and rig.ckpts[1][1]["run"]["eval_rows"] == 4
    assert s.last_ckpt == 2048
    s.checkpoint(finished=True)
    assert rig.ckpts[-1][1]["run"]["finished"] is True
    s.close()
    eps = _rows(tmp_path / "episodes.csv")
    assert list(eps[0]) == EPISODE_COLUMNS and len(eps) == 4
    assert eps[0] == {"timesteps": "3", "return": "2.5", "length": "3", "env": "1"}


def test_the_training_clock_leaves_evaluations_out(tmp_path, rig):
    rig.means, rig.eval_seconds = [1.0, 1.0], 40.0
    rig.clock.now = 1000.0
    s = _session(tmp_path, _config(eval_every=512), resume_state={"seconds": 12.5, "metrics_rows": 0,
                                                                    "episode_rows": 0, "eval_rows": 0})
    for _ in range(4):
        rig.clock.now += 2.0
        _drive(s, 1)
    # 12.5 s from the earlier sessions + 4 x 2 s of training; the two 40 s evaluations left out
    assert s.seconds == pytest.approx(20.5)
    s.close()
    rows = _rows(tmp_path / "metrics.csv")
    assert [float(r["seconds"]) for r in rows] == pytest.approx([14.5, 16.5, 18.5, 20.5])
    assert [float(r["seconds"]) for r in _rows(tmp_path / "evaluations.csv")] == pytest.approx([16.5, 20.5])


def test_seconds_are_logged_to_the_millisecond(tmp_path, rig):
    rig.clock.now, rig.means = 0.0, [1.0]
    s = _session(tmp_path, _config(eval_every=256))
    rig.clock.now = 1.23456789
    _drive(s, 1)
    s.close()
    assert _rows(tmp_path / "metrics.csv")[0]["seconds"] == "1.235"
    assert _rows(tmp_path / "evaluations.csv")[0]["seconds"] == "1.235"


def test_a_run_without_periodic_evaluation_writes_no_evaluations(tmp_path, rig):
    s = _session(tmp_path, _config())
    _drive(s, 3)
    assert s.evals is None and s.state()["eval_rows"] == 0 and rig.evals == []
    s.checkpoint()
    s.close()
    assert rig.ckpts[-1][1]["run"]["eval_rows"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.csv", "metrics.csv"]


def test_an_update_without_finished_episodes_and_stop_at_the_threshold(tmp_path, rig):
    # an agent's metrics need not carry "finished"; stop_at "threshold" is the env's (CartPole: 475)
    rig.means = [474.9, 475.0]
    s = _session(tmp_path, _config(eval_every=256, stop_at="threshold"))
    assert s.stop_at == 475.0
    answers = []
    for _ in range(2):
        s.agent.num_timesteps += 256
        answers.append(s(s.agent, {"update": 1, "timesteps": s.agent.num_timesteps}))
    s.close()
    assert answers == [None, False] and _rows(tmp_path / "episodes.csv") == []
    assert len(_rows(tmp_path / "metrics.csv")) == 2


def test_a_checkpoint_without_row_counts_starts_the_files_again(tmp_path, rig):
    # checkpoints of earlier versions lack "episode_rows" / "eval_rows": nothing of those files is kept
    for name, cols in (("episodes.csv", EPISODE_COLUMNS), ("evaluations.csv", EVAL_COLUMNS)):
        (tmp_path / name).write_text(",".join(cols) + "\r\n" + ",".join(["1"] * len(cols)) + "\r\n")
    s = _session(tmp_path, _config(eval_every=512), resume_state={"metrics_rows": 0, "seconds": 0.0})
    assert (s.episodes.rows, s.evals.rows, s.metrics.rows) == (0, 0, 0)
    s.close()
    assert _rows(tmp_path / "episodes.csv") == [] and _rows(tmp_path / "evaluations.csv") == []


def test_a_resumed_session_continues_the_schedule_the_best_score_and_the_files(tmp_path, rig):
    first = _session(tmp_path, _config(eval_every=512))
    rig.means = [3.0, 9.0, 4.0]
    _drive(first, 6, finished=[SimpleNamespace(timesteps=1, ret=1.0, length=1, env=0)])
    first.close()
    assert len(_rows(tmp_path / "metrics.csv")) == 6 and len(_rows(tmp_path / "evaluations.csv")) == 3
    # the checkpoint was taken after 4 updates, 2 evaluations; the later rows are cut
    state = {"metrics_rows": 4, "episode_rows": 4, "eval_rows": 2, "seconds": 3.0, "timesteps": 1024,
             "next_eval": 1536, "best_mean": 9.0, "best_timesteps": 1024, "stopped": False}
    agent = Agent(timesteps=1024)
    rig.means = [8.0, 9.0]
    s = _session(tmp_path, _config(eval_every=512, checkpoint_freq=512), agent=agent, resume_state=state)
    assert (s.next_eval, s.best_mean, s.best_timesteps, s.last_ckpt) == (1536, 9.0, 1024, 1024)
    assert (len(_rows(tmp_path / "metrics.csv")), len(_rows(tmp_path / "evaluations.csv"))) == (4, 2)
    _drive(s, 4)
    # 8 < 9 keeps the old best; the tie at 2048 takes over
    assert agent.saved == [("best_model.pt", 2048)] and s.best_timesteps == 2048
    assert [c[1]["run"]["timesteps"] for c in rig.ckpts] == [1536, 2048]
    s.close()
    assert [int(r["timesteps"]) for r in _rows(tmp_path / "evaluations.csv")] == [512, 1024, 1536, 2048]
    assert len(_rows(tmp_path / "metrics.csv")) == 8 and len(_rows(tmp_path / "episodes.csv")) == 4


def test_a_resumed_session_that_had_stopped_stays_stopped(tmp_path, rig):
    state = {"metrics_rows": 0, "episode_rows": 0, "eval_rows": 0, "seconds": 0.0, "timesteps": 0,
             "stopped": True, "best_mean": None}
    s = _session(tmp_path, _config(eval_every=512, stop_at=5), resume_state=state)
    assert s.stopped and s.best_mean is None and s.next_eval == 512
    # a new run starts with nothing kept: every file new, nothing stopped, next evaluation at eval_every
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.csv").write_text(",".join(COLUMNS) + "\r\n" + "1," * 12 + "1\r\n")
    n = _session(tmp_path / "b", _config(eval_every=300))
    assert not n.stopped and n.next_eval == 300 and n.metrics.rows == 0 and n.last_ckpt == 0
    assert n.best_mean is None and n.best_timesteps is None
    assert _rows(tmp_path / "b" / "metrics.csv") == []


def test_the_user_callback_sees_the_row_and_can_stop(tmp_path, rig):
    seen = []

    def callback(agent, row):
        seen.append(dict(row))
        return False if agent.num_timesteps >= 512 else None

    s = _session(tmp_path, _config(), callback=callback)
    answers = _drive(s, 3, finished=[SimpleNamespace(timesteps=1, ret=1.0, length=1, env=0)])
    assert answers == [None, False, False]
    assert "finished" not in seen[0] and seen[0]["timesteps"] == 256 and "seconds" in seen[0]
    assert "timesteps" in _rows(tmp_path / "metrics.csv")[0]


def test_tensorboard_gets_the_rows_and_the_evaluations(tmp_path, rig, monkeypatch):
    logged = []

    class TB:
        def __init__(self, log_dir, purge_step=None):
            logged.append(("open", Path(log_dir).name, purge_step))

        def log(self, metrics, prefix="train"):
            logged.append((prefix, dict(metrics)))

        def close(self):
            logged.append(("close",))

    monkeypatch.setattr(session_mod, "TensorBoardLogger", TB)
    rig.means = [4.0]
    s = _session(tmp_path, _config(eval_every=256), agent=Agent(timesteps=0), tensorboard=True)
    _drive(s, 1)
    s.close()
    assert logged[0] == ("open", "tb", None)  # a new run purges nothing
    assert logged[1][0] == "train" and logged[1][1]["timesteps"] == 256 and "finished" not in logged[1][1]
    assert logged[2] == ("eval", {"timesteps": 256, "mean_return": 4.0, "std_return": 0.5})
    assert logged[-1] == ("close",)
    logged.clear()
    _session(tmp_path / "b", _config(), agent=Agent(timesteps=4096), tensorboard=True,
             resume_state={"timesteps": 4096}).close()
    assert logged[0] == ("open", "tb", 4096)  # a resumed run drops the events after its checkpoint
    logged.clear()
    _session(tmp_path / "c", _config()).close()
    assert logged == []


def test_env_threshold_and_stop_target():
    assert env_threshold("CartPole-v1") == 475.0 and env_threshold("gym:CartPole-v1") == 475.0
    assert env_threshold("Acrobot-v1") == -100.0 and isinstance(env_threshold("CartPole-v0"), float)
    assert env_threshold("Pendulum-v1") is None and env_threshold("NoSuchEnv-v9") is None
    assert stop_target({}, "CartPole-v1") is None
    assert stop_target({"eval_every": 10, "stop_at": "threshold"}, "CartPole-v1") == 475.0
    assert stop_target({"eval_every": 10, "stop_at": "-150.5"}, "Pendulum-v1") == -150.5
    with pytest.raises(RlkitError, match=r"^run.stop_at: stopping at a score needs periodic evaluation: "
                                         r"give --eval-every N \(run.eval_every\)$"):
        stop_target({"stop_at": 10}, "CartPole-v1")
    with pytest.raises(RlkitError, match=r"^--stop-at-threshold: Pendulum-v1 has no reward threshold; give "
                                         r"the score to stop at as run.stop_at=NUMBER$"):
        stop_target({"eval_every": 10, "stop_at": "threshold"}, "Pendulum-v1")


# --------------------------------------------------------------------------------------------
# loggers
# --------------------------------------------------------------------------------------------


def test_fmt_writes_what_reads_back():
    assert _fmt(None) == "" and _fmt(3) == "3" and _fmt(np.int64(4)) == "4" and _fmt("x") == "x"
    assert _fmt(0.1) == "0.1" and _fmt(np.float32(0.5)) == "0.5" and _fmt(1 / 3) == repr(1 / 3)
    assert _fmt(float("nan")) == "nan" and _fmt(np.nan) == "nan"
    assert _fmt(float("inf")) == "inf" and _fmt(-np.inf) == "-inf"
    assert _fmt(True) == "True"


def test_csv_logger_new_file_rows_and_flush(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("old,stuff\r\n1,2\r\n")
    log = CsvLogger(path, ["x", "y"])  # keep_rows None: a new file over the old one
    assert path.read_bytes() == b"x,y\r\n" and log.rows == 0
    log.log({"x": 1, "z": 5})
    log.log({"y": 0.25, "x": None})
    assert path.read_bytes() == b"x,y\r\n1,\r\n,0.25\r\n"  # flushed before close
    assert log.rows == 2
    log.close()
    plain = CsvLogger(tmp_path / "b.csv", ["x"], lineterminator="\n")
    plain.log({"x": 2})
    plain.close()
    assert (tmp_path / "b.csv").read_bytes() == b"x\n2\n"


def test_csv_logger_resume_keeps_the_checkpointed_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x,y\r\n1,2\r\n3,4\r\n5,6\r\n")
    log = CsvLogger(path, ["x", "y"], keep_rows=2)
    assert log.rows == 2 and path.read_bytes() == b"x,y\r\n1,2\r\n3,4\r\n"
    log.log({"x": 7, "y": 8})
    log.close()
    assert path.read_bytes() == b"x,y\r\n1,2\r\n3,4\r\n7,8\r\n"
    again = CsvLogger(path, ["x", "y"], keep_rows=3)  # exactly as many rows as kept: fine
    again.close()
    assert again.rows == 3
    with pytest.raises(RlkitError, match=r"a.csv: has 3 rows but the checkpoint was taken after 4$"):
        CsvLogger(path, ["x", "y"], keep_rows=4)
    assert path.read_bytes() == b"x,y\r\n1,2\r\n3,4\r\n7,8\r\n"  # nothing lost
    # keep_rows on a file that is not there starts it; keep_rows 0 empties one
    fresh = CsvLogger(tmp_path / "new.csv", ["x"], keep_rows=5)
    fresh.close()
    assert fresh.rows == 0 and (tmp_path / "new.csv").read_bytes() == b"x\r\n"
    empty = CsvLogger(path, ["x", "y"], keep_rows=0)
    empty.close()
    assert path.read_bytes() == b"x,y\r\n"


def test_csv_logger_reorders_a_file_of_another_version_by_column_name(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("y,gone,x\r\n2,9,1\r\n4,9\r\n")  # the second row is short
    log = CsvLogger(path, ["x", "y", "new"], keep_rows=2)
    log.close()
    assert path.read_bytes() == b"x,y,new\r\n1,2,\r\n,4,\r\n"
    # an empty file (not even a header) keeps nothing
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(RlkitError, match="has 0 rows but the checkpoint was taken after 1"):
        CsvLogger(tmp_path / "e.csv", ["x"], keep_rows=1)


def test_metrics_logger_has_the_documented_columns(tmp_path):
    log = MetricsLogger(tmp_path / "m.csv")
    log.close()
    assert (tmp_path / "m.csv").read_text().strip().split(",") == COLUMNS
    assert COLUMNS[0] == "update" and COLUMNS[-1] == "seconds" and len(COLUMNS) == 13
    (tmp_path / "m.csv").write_text(",".join(COLUMNS) + "\r\n" + ",".join(["1"] * 13) + "\r\n")
    kept = MetricsLogger(tmp_path / "m.csv", keep_rows=1)
    kept.close()
    assert kept.rows == 1


def test_read_metrics_parses_gaps_as_nan(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b,c\n1,,2.5\n3,x\n")
    m = read_metrics(path)
    assert list(m) == ["a", "b", "c"] and all(v.dtype == np.float64 for v in m.values())
    assert m["a"].tolist() == [1.0, 3.0]
    assert np.isnan(m["b"]).all() and m["c"][0] == 2.5 and np.isnan(m["c"][1])
    path.write_text("a\n")
    assert read_metrics(path)["a"].shape == (0,)
    path.write_text("")
    with pytest.raises(RlkitError, match=r"m.csv: empty metrics file$"):
        read_metrics(path)
    with pytest.raises(RlkitError, match=r"nope.csv: no metrics file$"):
        read_metrics(tmp_path / "nope.csv")
    with pytest.raises(RlkitError, match="no metrics file"):
        read_metrics(tmp_path)  # a folder is not a file


def test_tensorboard_logger_writes_the_numbers_only(tmp_path, monkeypatch):
    import torch.utils.tensorboard as tbmod

    calls = []

    class Writer:
        def __init__(self, log_dir, purge_step=None):
            calls.append(("init", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def flush(self):
            calls.append(("flush",))

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(tbmod, "SummaryWriter", Writer)
    tb = TensorBoardLogger(tmp_path / "tb", purge_step=64)
    assert calls == [("init", str(tmp_path / "tb"), 64)]
    tb.log({"timesteps": 128, "update": 2, "loss": 0.5, "n": 3, "ok": True, "name": "x", "gap": math.nan,
            "arr": np.float64(1.5)})
    assert calls[1:] == [("train/loss", 0.5, 128), ("train/n", 3, 128), ("train/arr", 1.5, 128)]
    tb.log({"timesteps": 7.9, "mean": -1.0}, "eval")
    assert calls[-1] == ("eval/mean", -1.0, 7)
    sup = TensorBoardLogger(tmp_path / "s", step_key="epoch")
    calls.clear()
    sup.log({"epoch": 3, "timesteps": 99, "acc": 0.9})
    assert calls == [("train/acc", 0.9, 3)]
    tb.close()
    assert calls[-2:] == [("flush",), ("close",)]


def test_tensorboard_logger_without_tensorboard_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_tb(name, *a, **kw):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    with pytest.raises(RlkitError, match=r"^--tensorboard: --tensorboard needs the tensorboard package: "
                                         r"pip install 'rlkit\[tensorboard\]'$"):
        TensorBoardLogger(tmp_path / "tb")


# --------------------------------------------------------------------------------------------
# run folders
# --------------------------------------------------------------------------------------------


def test_env_slug_and_new_run_dirs(tmp_path):
    assert rd.env_slug("rlkit/MNISTBandit-v0") == "rlkit-MNISTBandit-v0"
    assert rd.env_slug("gym:CartPole-v1") == "gym-CartPole-v1" and rd.env_slug("a/b:c/d") == "a-b-c-d"
    now = dt.datetime(2026, 12, 2, 3, 4, 5)
    first = rd.new_run_dir("rlkit/Gridworld-v0", "reinforce", 3, tmp_path, now=now)
    assert first == tmp_path / "rlkit-Gridworld-v0" / "reinforce" / "20261202-030405-s3" and first.is_dir()
    second = rd.new_run_dir("rlkit/Gridworld-v0", "reinforce", 3, tmp_path, now=now)
    third = rd.new_run_dir("rlkit/Gridworld-v0", "reinforce", 3, tmp_path, now=now)
    assert (second.name, third.name) == ("20261202-030405-s3-1", "20261202-030405-s3-2")
    assert not any(second.iterdir())
    base = tmp_path / "E" / "a"
    base.mkdir(parents=True)
    (base / "20261202-030405-s0").mkdir()
    for k in range(1, 1000):
        (base / f"20261202-030405-s0-{k}").mkdir()
    with pytest.raises(RlkitError, match=r"E/a: could not create a new run folder$"):
        rd.new_run_dir("E", "a", 0, tmp_path, now=now)


def test_new_run_dirs_go_under_runs_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = rd.new_run_dir("CartPole-v1", "reinforce", 0, now=dt.datetime(2026, 1, 2, 3, 4, 5))
    assert path == Path("runs") / "CartPole-v1" / "reinforce" / "20260102-030405-s0" and path.is_dir()


def test_is_run_dir(tmp_path):
    assert not rd.is_run_dir(tmp_path)
    (tmp_path / "config.yaml").mkdir()
    assert not rd.is_run_dir(tmp_path)  # a folder named config.yaml
    for text, expected in (("[1, 2]", False), ("a: [", False), ("agent: x", False), ("rlkit_run: 1", True),
                           ("rlkit_run: 0\nagent: x", True)):
        d = tmp_path / str(abs(hash(text)))
        d.mkdir()
        (d / "config.yaml").write_text(text)
        assert rd.is_run_dir(d) is expected, text


GOOD = {"agent": "reinforce", "env_id": "CartPole-v1", "seed": 0, "total_timesteps": 1,
        "hyperparams": {}, "policy": None, "run": {}}


def test_write_and_read_run_config(tmp_path):
    path = rd.write_run_config(tmp_path, {**GOOD, "policy": {"net": "mlp"}})
    assert path == tmp_path / "config.yaml"
    text = path.read_text()
    assert text.startswith("rlkit_run: 1\nagent: reinforce\nenv_id: CartPole-v1\n")  # marker first, in order
    assert rd.read_run_config(tmp_path) == {"rlkit_run": 1, **GOOD, "policy": {"net": "mlp"}}
    rd.write_run_config(tmp_path, GOOD)
    assert rd.read_run_config(tmp_path)["policy"] is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("agent", 3, "agent must be an agent name, got 3"),
    ("env_id", None, "env_id must be an env id, got None"),
    ("seed", "1", "seed must be an integer, got '1'"),
    ("seed", True, "seed must be an integer, got True"),
    ("seed", 1.0, "seed must be an integer, got 1.0"),
    ("total_timesteps", 0, "total_timesteps must be a positive integer, got 0"),
    ("total_timesteps", -5, "total_timesteps must be a positive integer, got -5"),
    ("hyperparams", [1], "hyperparams must be a mapping, got [1]"),
    ("policy", "mlp", "policy must be a mapping, got 'mlp'"),
    ("run", None, "run must be a mapping, got None"),
    ("run", "x" * 100, "run must be a mapping, got '" + "x" * 59),  # the value cut at 60 characters
])
def test_read_run_config_names_the_bad_field(tmp_path, field, value, message):
    rd.write_run_config(tmp_path, {**GOOD, field: value})
    with pytest.raises(RlkitError) as err:
        rd.read_run_config(tmp_path)
    assert str(err.value) == f"{tmp_path / 'config.yaml'}: {field}: {message}"


def test_read_run_config_names_a_missing_field_and_a_folder_that_is_not_a_run(tmp_path):
    for name in GOOD:
        d = tmp_path / name
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump({"rlkit_run": 1, **{k: v for k, v in GOOD.items()
                                                                          if k != name}}))
        with pytest.raises(RlkitError, match=rf"config.yaml: {name}: {name} must be .*, got missing$"):
            rd.read_run_config(d)
    assert rd.read_run_config(_good(tmp_path))["seed"] == 0
    with pytest.raises(RlkitError, match=r"nowhere: no such run folder$"):
        rd.read_run_config(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RlkitError, match=r"plain: not an rlkit run folder \(no readable config.yaml "
                                         r"written by rlkit train\)$"):
        rd.read_run_config(tmp_path / "plain")


def _good(tmp_path: Path) -> Path:
    d = tmp_path / "good"
    d.mkdir()
    rd.write_run_config(d, GOOD)
    return d


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


def test_checkpoint_round_trip_format_and_digest(tmp_path):
    state = {"w": torch.arange(3.0), "run": {"timesteps": 5, "best": None}}
    path = save_checkpoint(tmp_path / "c.pt", state)
    assert path == tmp_path / "c.pt" and set(state) == {"w", "run"}  # the caller's dict is left alone
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT == "rlkit-run-checkpoint" and len(raw["digest"]) == 64
    back = load_checkpoint(path)
    assert set(back) == {"w", "run", "format"} and torch.equal(back["w"], state["w"])
    assert back["run"] == {"timesteps": 5, "best": None}
    # another format: its own tag on save and load; the run's loader refuses it with the message given
    save_checkpoint(tmp_path / "m.pt", state, fmt="rlkit-model")
    assert load_checkpoint(tmp_path / "m.pt", fmt="rlkit-model")["format"] == "rlkit-model"
    with pytest.raises(RlkitError, match=r"m.pt: not an rlkit run checkpoint$"):
        load_checkpoint(tmp_path / "m.pt")
    with pytest.raises(RlkitError, match=r"c.pt: not a model$"):
        load_checkpoint(tmp_path / "c.pt", fmt="rlkit-model", foreign="not a model")


def test_checkpoint_digest_catches_an_edit_and_old_files_load_unchecked(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(2)})
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    raw["w"][1] = 1e-30  # one changed number, the old digest kept
    torch.save(raw, tmp_path / "c.pt")
    with pytest.raises(RlkitError, match=r"c.pt: the checkpoint does not match its checksum \(damaged or "
                                         r"edited\)$"):
        load_checkpoint(tmp_path / "c.pt")
    del raw["digest"]
    torch.save(raw, tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt")["w"][1].item() == pytest.approx(1e-30)


# --------------------------------------------------------------------------------------------
# the checks of a resume, and the result of a run that had finished
# --------------------------------------------------------------------------------------------


def _run_folder(tmp_path: Path) -> tuple[Path, dict]:
    """A run folder of 4,096 steps, seed 5, with a (stand-in) model.pt."""
    d = tmp_path / "run"
    d.mkdir()
    rd.write_run_config(d, {**GOOD, "total_timesteps": 4096, "seed": 5})
    (d / "model.pt").write_bytes(b"x")
    return d, rd.read_run_config(d)


def test_check_resume_refuses_another_env_or_seed_or_a_smaller_budget(tmp_path):
    d, config = _run_folder(tmp_path)
    run = {"timesteps": 2048, "finished": False}
    check = train_mod._check_resume
    with pytest.raises(RlkitError, match=r"^--env: the run trains CartPole-v1, not Acrobot-v1; drop "
                                         r"--env, or start a new run$"):
        check(d, config, run, env_id="Acrobot-v1", seed=None, total_timesteps=None)
    with pytest.raises(RlkitError, match=r"^--seed: the run has seed 5, not 6; drop --seed, or start a "
                                         r"new run$"):
        check(d, config, run, env_id=None, seed=6, total_timesteps=None)
    for bad in (2047, True, 3000.0, "4096"):
        with pytest.raises(RlkitError, match=r"^--total-timesteps: the run has already trained 2,048 steps; "
                                             r"--total-timesteps must be at least that$"):
            check(d, config, run, env_id=None, seed=None, total_timesteps=bad)
    # the run's own env, seed and a budget from what it has done up to its own: the run as it is
    for total in (2048, 4096, None):
        assert check(d, config, run, env_id="CartPole-v1", seed=5, total_timesteps=total) is config
    assert rd.read_run_config(d)["total_timesteps"] == 4096


def test_check_resume_with_a_larger_budget_rewrites_the_config_and_lifts_a_stop(tmp_path):
    d, config = _run_folder(tmp_path)
    run = {"timesteps": 4096, "finished": True, "stopped": True}
    new = train_mod._check_resume(d, config, run, env_id=None, seed=None, total_timesteps=8192)
    assert new["total_timesteps"] == 8192 and rd.MARKER not in new and config["total_timesteps"] == 4096
    assert run["stopped"] is False
    on_disk = rd.read_run_config(d)
    assert on_disk["total_timesteps"] == 8192 and on_disk[rd.MARKER] == 1
    assert {k: v for k, v in on_disk.items() if k != "total_timesteps"} == {
        k: v for k, v in config.items() if k != "total_timesteps"}


def test_check_resume_of_a_finished_run(tmp_path):
    d, config = _run_folder(tmp_path)
    done = {"timesteps": 4096, "finished": True}
    assert train_mod._check_resume(d, config, done, env_id=None, seed=None, total_timesteps=None) is None
    assert train_mod._check_resume(d, config, done, env_id=None, seed=None, total_timesteps=4096) is None
    (d / "model.pt").unlink()  # finished, but its model was never written: train the end again
    assert train_mod._check_resume(d, config, done, env_id=None, seed=None, total_timesteps=None) is config
    going = {"timesteps": 4096, "finished": False}
    (d / "model.pt").write_bytes(b"x")
    assert train_mod._check_resume(d, config, going, env_id=None, seed=None, total_timesteps=None) is config


def _eval_json(mean: float, **extra) -> str:
    return json.dumps({"mean": mean, "std": 1.0, "episodes": 2, "deterministic": True, "seed": 9,
                       "returns": [mean - 1, mean + 1], "lengths": [10, 12], "length_mean": 11.0, **extra})


def test_the_result_of_a_finished_run_is_read_from_its_files(tmp_path):
    d, config = _run_folder(tmp_path)
    (d / "metrics.csv").write_text("update,timesteps,episodes\n1,2048,7\n2,4096,15\n")
    (d / "eval.json").write_text(_eval_json(200.0))
    (d / "best_eval.json").write_text(_eval_json(300.0, timesteps=2048, periodic_mean=290.0))
    (d / "best_model.pt").write_bytes(b"x")
    (d / "checkpoint.pt").write_bytes(b"x")
    (d / "curves.png").write_bytes(b"x")
    run = {"timesteps": 4096, "seconds": 12.5, "best_timesteps": 2048, "best_mean": 290.0}
    r = train_mod._finished_result(d, config, run)
    assert r.run_dir == d
    assert (r.env_id, r.agent, r.seed, r.timesteps, r.updates, r.episodes) == ("CartPole-v1", "reinforce", 5,
                                                                               4096, 2, 15)
    assert r.seconds == 12.5 and r.resumed_from == 4096 and r.already_finished and r.stopped_at is None
    assert r.eval == EvalResult(mean=200.0, std=1.0, episodes=2, deterministic=True, seed=9,
                                returns=[199.0, 201.0], lengths=[10, 12])
    assert r.best_eval.mean == 300.0 and (r.best_timesteps, r.best_periodic_mean) == (2048, 290.0)
    assert r.files == {k: str(d / n) for k, n in (("config", "config.yaml"), ("metrics", "metrics.csv"),
                                                  ("model", "model.pt"), ("checkpoint", "checkpoint.pt"),
                                                  ("eval", "eval.json"), ("best_model", "best_model.pt"),
                                                  ("curves", "curves.png"))}
    assert r.to_dict()["already_finished"] is True and r.to_dict()["eval_mean"] == 200.0
    # no evaluation files, no updates logged
    for name in ("eval.json", "best_eval.json"):
        (d / name).unlink()
    (d / "metrics.csv").write_text("update,timesteps,episodes\n")
    (d / "curves.png").unlink()
    r = train_mod._finished_result(d, config, {"timesteps": 0, "seconds": 0})
    assert (r.updates, r.episodes, r.eval, r.best_eval, r.best_timesteps) == (0, 0, None, None, None)
    assert "eval" not in r.files and "curves" not in r.files


# bad JSON, a key missing, not an object
@pytest.mark.parametrize("text", ["{", '{"mean": 1}', "[1, 2]", '"text"'])
def test_an_unreadable_evaluation_file_of_a_finished_run_is_one_error(tmp_path, text):
    d, config = _run_folder(tmp_path)
    (d / "metrics.csv").write_text("update,timesteps,episodes\n1,2,3\n")
    (d / "best_eval.json").write_text(text)
    with pytest.raises(RlkitError, match=r"best_eval.json: unreadable evaluation file$"):
        train_mod._finished_result(d, config, {"timesteps": 2, "seconds": 1.0})


# --------------------------------------------------------------------------------------------
# train and resume end to end, on tiny runs: the files reported, and what resume hands on
# --------------------------------------------------------------------------------------------

TINY = {"n_steps": 64, "run.eval_episodes": 2, "policy.net.hidden": [8], "policy.value_net.hidden": [8]}
FILES = {"config": "config.yaml", "metrics": "metrics.csv", "episodes": "episodes.csv",
         "checkpoint": "checkpoint.pt", "model": "model.pt", "eval": "eval.json",
         "best_model": "best_model.pt", "evaluations": "evaluations.csv", "best_eval": "best_eval.json",
         "curves": "curves.png"}
EVERY_128 = {**TINY, "run.eval_every": 128, "run.periodic_eval_episodes": 1}
NO_EVAL = {**TINY, "run.eval_every": None}  # no periodic evaluation
BARE = {**NO_EVAL, "run.eval_episodes": 0}  # no evaluation at all


def test_train_reports_every_file_it_wrote(tmp_path):
    d = tmp_path / "r"
    res = train("CartPole-v1", seed=0, total_timesteps=512, n_envs=2, run_dir=d,
                overrides={**TINY, "run.eval_every": 256, "run.periodic_eval_episodes": 2})
    assert res.files == {k: str(d / v) for k, v in FILES.items()}
    assert all(Path(p).is_file() for p in res.files.values())
    best = json.loads((d / "best_eval.json").read_text())
    assert best["timesteps"] == res.best_timesteps and best["periodic_mean"] == res.best_periodic_mean
    assert best["episodes"] == 2 and res.eval.episodes == 2


def test_final_evaluations_of_one_episode_and_of_none(tmp_path):
    one = train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=tmp_path / "one",
                overrides={**EVERY_128, "run.eval_episodes": 1})
    assert one.eval.episodes == 1 and one.best_eval.episodes == 1
    none = train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=tmp_path / "none",
                 overrides={**EVERY_128, "run.eval_episodes": 0})
    assert none.eval is None and none.best_eval is None
    assert set(none.files) == set(FILES) - {"eval", "best_eval"}
    assert not any((tmp_path / "none" / name).exists() for name in ("eval.json", "best_eval.json"))


def _killed_run(d: Path, at: int, total: int = 512, extra=None, **kw) -> None:
    extra = extra or {}
    def kill(agent, row):
        if agent.num_timesteps >= at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("CartPole-v1", seed=0, total_timesteps=total, n_envs=2, run_dir=d, callback=kill,
              overrides={**NO_EVAL, "run.checkpoint_freq": 128, **extra}, **kw)


def test_resume_hands_on_the_callback_and_keeps_tensorboard_on(tmp_path, capsys):
    d = tmp_path / "r"
    _killed_run(d, 256, tensorboard=True)
    events = len(list((d / "tb").iterdir()))
    capsys.readouterr()
    seen = []
    res = resume(d, callback=lambda agent, row: seen.append(agent.num_timesteps))
    assert seen == [384, 512] and res.resumed_from == 256 and res.timesteps == 512
    assert (res.env_id, res.agent, res.seed) == ("CartPole-v1", "reinforce", 0)
    assert res.files["tensorboard"] == str(d / "tb")
    assert capsys.readouterr().err == ""  # no progress bar unless asked for
    # the run had tb/: the resumed session writes its events there too
    assert len(list((d / "tb").iterdir())) == events + 1
    # a larger budget continues it, with the progress bar asked for
    resume(d, total_timesteps=640, progress=True)
    assert "training" in capsys.readouterr().err
    # a run without tb/ gets none on resume
    _killed_run(tmp_path / "plain", 256)
    resume(tmp_path / "plain")
    assert not (tmp_path / "plain" / "tb").exists()


def test_resume_refuses_a_run_without_or_with_a_damaged_checkpoint(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    rd.write_run_config(d, {**GOOD, "total_timesteps": 512})
    with pytest.raises(RlkitError) as err:
        resume(d)
    assert str(err.value) == (f"{d}: the run has no checkpoint.pt to resume from; start it again with "
                              "rlkit train")
    save_checkpoint(d / "checkpoint.pt", {"agent": {}, "run": {"timesteps": 3}})  # no row counts
    with pytest.raises(RlkitError) as err:
        resume(d)
    assert str(err.value) == f"{d / 'checkpoint.pt'}: the checkpoint is damaged (no run state)"


def test_periodic_evaluations_play_on_the_evaluation_env(tmp_path):
    # run.eval_env_kwargs cuts every evaluation episode at 5 steps, before CartPole can fall
    d = tmp_path / "r"
    train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=d,
          overrides={**EVERY_128, "run.periodic_eval_episodes": 3,
                     "run.eval_env_kwargs": {"max_episode_steps": 5}})
    rows = _rows(d / "evaluations.csv")
    assert len(rows) == 2 and all((r["mean"], r["max"], r["episodes"]) == ("5.0", "5.0", "3") for r in rows)


def test_a_run_killed_in_its_first_update_resumes_from_step_0(tmp_path):
    d = tmp_path / "r"

    def kill(agent, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=d, callback=kill,
              overrides={**TINY, "run.checkpoint_freq": 10_000})
    assert load_checkpoint(d / "checkpoint.pt")["run"]["timesteps"] == 0
    res = resume(d)
    assert res.resumed_from == 0 and res.timesteps == 256


def test_a_run_killed_after_its_last_update_finishes_on_resume_and_takes_one_step_more(tmp_path):
    ov = {**NO_EVAL, "run.checkpoint_freq": 128}
    full = train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=tmp_path / "full",
                 overrides=ov)
    _killed_run(tmp_path / "cut", 256, total=256)  # after its last update's checkpoint, before finishing
    res = resume(tmp_path / "cut")
    # nothing is trained again: the same updates and episodes, no periodic evaluation, no stop
    assert (res.timesteps, res.updates, res.episodes, res.resumed_from) == (256, 2, full.episodes, 256)
    assert res.evaluations == 0 and res.stopped_at is None
    assert len(_rows(tmp_path / "cut" / "metrics.csv")) == 2
    # one step more than it has is one more batch (2 sub-envs x 64 steps)
    more = resume(tmp_path / "cut", total_timesteps=257)
    assert (more.timesteps, more.updates) == (384, 3)


def test_a_stop_score_never_reached_is_not_reported_as_a_stop(tmp_path):
    res = train("CartPole-v1", seed=0, total_timesteps=256, n_envs=2, run_dir=tmp_path / "r",
                overrides={**EVERY_128, "run.stop_at": 1e9})
    assert res.stopped_at is None and res.evaluations == 2 and res.timesteps == 256
    assert res.to_dict()["stopped_at_threshold"] is False


def test_a_run_that_stopped_at_its_score_and_was_killed_before_finishing_stays_stopped(tmp_path):
    # the stop at 256 steps is checkpointed, then the process dies before the run is marked finished
    d = tmp_path / "r"
    _killed_run(d, 256, total=1024, extra={"run.eval_every": 256, "run.periodic_eval_episodes": 1,
                                           "run.stop_at": -1.0})
    run = load_checkpoint(d / "checkpoint.pt")["run"]
    assert run["stopped"] is True and run["finished"] is False and run["timesteps"] == 256
    res = resume(d)
    assert res.timesteps == 256 and len(_rows(d / "metrics.csv")) == 2


# --------------------------------------------------------------------------------------------
# what the sixth measurement left out: the result's JSON, the config's versions, loading and
# evaluating a run's model (docs/mutation.md, eleventh measurement)
# --------------------------------------------------------------------------------------------


def test_train_result_to_dict_field_by_field():
    ev = EvalResult(mean=2.5, std=0.5, episodes=2, deterministic=False, seed=11, returns=[2.0, 3.0],
                    lengths=[2, 3])
    best = EvalResult(mean=3.0, std=0.25, episodes=2, deterministic=True, seed=11, returns=[2.75, 3.25],
                      lengths=[3, 3])
    res = train_mod.TrainResult(run_dir=Path("runs/x"), env_id="CartPole-v1", agent="reinforce", seed=3,
                                timesteps=640, updates=5, episodes=31, seconds=1.23456, eval=ev,
                                resumed_from=128, files={"model": "runs/x/model.pt"}, best_eval=best,
                                best_timesteps=512, best_periodic_mean=9.5, stopped_at=9.5, evaluations=4)
    assert res.to_dict() == {
        "run_dir": "runs/x", "env_id": "CartPole-v1", "agent": "reinforce", "seed": 3, "timesteps": 640,
        "updates": 5, "episodes": 31, "seconds": 1.235, "eval_mean": 2.5, "eval_std": 0.5,
        "eval_episodes": 2, "eval_deterministic": False, "resumed_from": 128, "best_eval_mean": 3.0,
        "best_eval_std": 0.25, "best_timesteps": 512, "best_periodic_mean": 9.5,
        "stopped_at_threshold": True, "stop_at": 9.5, "evaluations": 4, "already_finished": False,
        "files": {"model": "runs/x/model.pt"},
    }
    bare = train_mod.TrainResult(run_dir=Path("r"), env_id="Acrobot-v1", agent="reinforce", seed=0,
                                 timesteps=1, updates=1, episodes=0, seconds=0.0004, eval=None,
                                 already_finished=True)
    d = bare.to_dict()
    assert d["seconds"] == 0.0 and d["already_finished"] is True and d["stopped_at_threshold"] is False
    assert [d[k] for k in ("eval_mean", "eval_std", "eval_episodes", "eval_deterministic",
                           "best_eval_mean", "best_eval_std", "best_timesteps", "stop_at")] == \
        [None, None, 0, None, None, None, None, None]


def test_the_config_records_the_versions_and_a_sampled_final_evaluation_stays_sampled(tmp_path):
    d = tmp_path / "r"
    res = train("CartPole-v1", seed=2, total_timesteps=256, n_envs=2, run_dir=d,
                overrides={**NO_EVAL, "run.eval_episodes": 3, "run.eval_deterministic": False})
    versions = rd.read_run_config(d)["versions"]
    assert versions == {"rlkit": rlkit.__version__, "python": platform.python_version(),
                        "numpy": np.__version__, "torch": str(torch.__version__),
                        "gymnasium": str(gymnasium.__version__)}
    assert res.eval.deterministic is False and res.eval.episodes == 3
    assert json.loads((d / "eval.json").read_text())["deterministic"] is False
    # the same sampled episodes again (the run's seed), and greedy ones are another evaluation
    assert evaluate_run(d, deterministic=False).returns == res.eval.returns
    assert evaluate_run(d).deterministic is True


def _edit_config(d: Path, **changes) -> None:
    cfg = yaml.safe_load((d / rd.CONFIG).read_text())
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        target = cfg[section] if section else cfg
        if value is None:
            target.pop(name)
        else:
            target[name] = value
    (d / rd.CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_evaluate_run_episodes_default_to_the_runs_then_100_and_at_least_1(tmp_path):
    d = tmp_path / "r"
    train("CartPole-v1", seed=1, total_timesteps=128, n_envs=2, run_dir=d,
          overrides={**NO_EVAL, "run.eval_episodes": 3})
    assert evaluate_run(d).episodes == 3
    _edit_config(d, **{"run.eval_episodes": 0})
    assert evaluate_run(d).episodes == 1
    _edit_config(d, **{"run.eval_episodes": None})  # a config without the key: 100, as the CLI says
    ev = evaluate_run(d, seed=5)
    assert ev.episodes == 100 and len(ev.returns) == 100



def test_evaluate_run_plays_on_the_evaluation_env_with_the_model_asked_for(tmp_path, monkeypatch):
    d = tmp_path / "r"
    train("CartPole-v1", seed=1, total_timesteps=256, n_envs=2, run_dir=d,
          overrides={**EVERY_128, "run.eval_env_kwargs": {"max_episode_steps": 3}})
    ev = evaluate_run(d, episodes=4)
    assert ev.lengths == [3, 3, 3, 3]  # the untrained policy lasts longer than 3 steps on CartPole
    asked = []
    real = train_mod.load_run_agent
    monkeypatch.setattr(train_mod, "load_run_agent", lambda run_dir, model=None: asked.append(model)
                        or real(run_dir, model))
    for model in ("last", "best", None):
        evaluate_run(d, episodes=1, model=model)
    assert asked == ["last", "best", None]


def test_load_run_agent_refuses_with_one_message_naming_where(tmp_path):
    d = tmp_path / "r"
    train("CartPole-v1", seed=1, total_timesteps=128, n_envs=2, run_dir=d,
          overrides=NO_EVAL)
    with pytest.raises(RlkitError) as e:
        load_run_agent(d, "worst")
    assert str(e.value) == "--model: must be best or last, got 'worst'" and e.value.where == "--model"
    with pytest.raises(RlkitError) as e:
        load_run_agent(d, "best")
    assert e.value.where == str(d)
    assert str(e.value) == (f"{d}: the run has no best_model.pt (it ran without periodic evaluation: "
                            "train with --eval-every N); use --model last")
    assert load_run_agent(d, None).num_timesteps == load_run_agent(d, "last").num_timesteps == 128
    (d / "model.pt").unlink()
    assert load_run_agent(d).num_timesteps == 128  # the last checkpoint's model
    (d / "checkpoint.pt").unlink()
    with pytest.raises(RlkitError) as e:
        load_run_agent(d)
    assert str(e.value) == f"{d}: the run has neither model.pt nor checkpoint.pt" and e.value.where == str(d)
    # the agent is read from the config, and an unknown one is named with the config's path
    _edit_config(d, agent="nope")
    with pytest.raises(RlkitError) as e:
        load_run_agent(d)
    assert e.value.where == str(d / rd.CONFIG) and str(e.value).startswith(f"{d / rd.CONFIG}: ")


def test_resolve_config_reads_the_envs_preset_and_checks_what_it_is_given(monkeypatch):
    resolve = train_mod.resolve_config
    cartpole = resolve("CartPole-v1")  # no overrides at all
    assert cartpole["agent"] == "reinforce" and cartpole["seed"] == 0 and cartpole["env_id"] == "CartPole-v1"
    assert cartpole["run"] == run_settings("reinforce", "CartPole-v1")
    assert cartpole["run"]["eval_every"] == 10_000
    assert cartpole["total_timesteps"] == 200_000
    acrobot = resolve("Acrobot-v1", seed=4, total_timesteps=None)
    assert acrobot["total_timesteps"] == 300_000 and acrobot["seed"] == 4  # its own preset, not the default
    assert resolve("CartPole-v1", total_timesteps=512, n_envs=3)["total_timesteps"] == 512
    assert resolve("CartPole-v1", n_envs=3)["hyperparams"]["n_envs"] == 3
    # --init-from: the preset's nets keep only their type (the architecture comes from the source)
    init = resolve("CartPole-v1", overrides={"policy.init": "/tmp/src"})
    assert init["policy"] == {"net": {"type": "mlp"}, "init": "/tmp/src"}
    for bad in ("", None, 3):
        with pytest.raises(RlkitError) as e:
            resolve(bad)
        assert str(e.value) == "--env: give an env id, e.g. --env CartPole-v1" and e.value.where == "--env"
    for bad in ("1", 1.5, True):
        with pytest.raises(RlkitError) as e:
            resolve("CartPole-v1", seed=bad)
        assert str(e.value) == f"--seed: must be an integer, got {bad!r}" and e.value.where == "--seed"
    with pytest.raises(RlkitError) as e:
        resolve("CartPole-v1", agent="sb3-ppo")  # an SB3 baseline is not something rlkit train trains
    assert str(e.value) == "--agent: unknown agent 'sb3-ppo'; known agents: reinforce"
    assert resolve("CartPole-v1", overrides={"run.stop_at": "threshold"})["run"]["stop_at"] == "threshold"
    with pytest.raises(RlkitError) as e:
        resolve("Pendulum-v1", overrides={"run.stop_at": "threshold"})
    assert str(e.value) == ("--stop-at-threshold: Pendulum-v1 has no reward threshold; give the score to "
                            "stop at as run.stop_at=NUMBER")
    monkeypatch.setattr(train_mod, "load_preset", lambda agent, env_id: {"learning_rate": 0.01})
    with pytest.raises(RlkitError) as e:
        resolve("CartPole-v1")
    assert str(e.value) == "--total-timesteps: no total_timesteps in the preset; give --total-timesteps"
    assert e.value.where == "--total-timesteps"
    assert resolve("CartPole-v1", total_timesteps=64)["total_timesteps"] == 64


def test_make_agent_final_eval_and_eval_env_kwargs_pass_the_config_on(monkeypatch):
    cfg = train_mod.resolve_config("CartPole-v1", seed=7, overrides={"policy.net.hidden": [8], "n_envs": 2})
    agent = train_mod._make_agent(cfg)
    assert agent.seed == 7 and agent.policy_cfg["net"]["hidden"] == [8] and agent.config.n_envs == 2
    agent.close()
    assert train_mod._eval_env_kwargs({"hyperparams": {"env_kwargs": {"a": 1, "b": 2}},
                                       "run": {"eval_env_kwargs": {"b": 3}}}) == {"a": 1, "b": 3}
    assert train_mod._eval_env_kwargs({"hyperparams": {"env_kwargs": {"a": 1}}, "run": {}}) == {"a": 1}
    assert train_mod._eval_env_kwargs({"hyperparams": None, "run": None}) == {}
    calls = []
    monkeypatch.setattr(train_mod, "evaluate_policy", lambda *a, **kw: calls.append((a, kw)) or "ev")
    for det in (True, False):
        config = {"env_id": "Acrobot-v1", "seed": 5, "hyperparams": {"env_kwargs": {"a": 1}},
                  "run": {"eval_episodes": "3", "eval_deterministic": det, "eval_env_kwargs": {"b": 2}}}
        assert train_mod._final_eval("agent", config) == "ev"
        assert calls[-1] == (("agent", "Acrobot-v1"), {"n_episodes": 3, "deterministic": det,
                                                       "seed": 5 + train_mod.EVAL_SEED_OFFSET,
                                                       "env_kwargs": {"a": 1, "b": 2}})
    assert train_mod.EVAL_SEED_OFFSET == 1_000_003


def test_train_makes_the_run_folder_and_records_the_whole_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = train("CartPole-v1", seed=3, total_timesteps=128, n_envs=2,
                overrides=NO_EVAL)
    # the default folder: runs/<env>/<agent>/<time>-s<seed>, relative to the working directory
    rel = res.run_dir.relative_to(tmp_path) if res.run_dir.is_absolute() else res.run_dir
    assert rel.parts[:3] == ("runs", "CartPole-v1", "reinforce")
    assert re.fullmatch(r"\d{8}-\d{6}-s3", rel.parts[3])
    cfg = rd.read_run_config(res.run_dir)
    assert cfg["seed"] == 3 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", cfg["created"])
    agent = load_run_agent(res.run_dir)
    assert cfg["hyperparams"] == asdict(agent.config) and "value_epochs" in cfg["hyperparams"]
    assert cfg["policy"] == agent.policy_cfg and cfg["policy"]["net"]["hidden"] == [8]
    assert agent.seed == 3
    agent.close()
    # another root; a folder given that is nested and new, or exists and is empty, is used
    other = train("CartPole-v1", total_timesteps=64, n_envs=1, root=tmp_path / "elsewhere",
                  overrides=BARE)
    assert other.run_dir.parent == tmp_path / "elsewhere" / "CartPole-v1" / "reinforce"
    assert other.run_dir.name.endswith("-s0")
    nested = tmp_path / "a" / "b" / "c"
    assert train("CartPole-v1", total_timesteps=64, n_envs=1, run_dir=nested,
                 overrides=BARE).run_dir == nested
    (tmp_path / "empty").mkdir()
    train("CartPole-v1", total_timesteps=64, n_envs=1, run_dir=tmp_path / "empty",
          overrides=BARE)
    before = {p: p.read_bytes() for p in nested.iterdir() if p.is_file()}
    with pytest.raises(RlkitError) as e:
        train("CartPole-v1", total_timesteps=64, n_envs=1, run_dir=nested, overrides=TINY)
    assert str(e.value) == (f"{nested}: the run folder exists and is not empty; choose a new one or "
                            "--resume it") and e.value.where == str(nested)
    assert {p: p.read_bytes() for p in nested.iterdir() if p.is_file()} == before  # nothing touched


def test_without_a_model_choice_the_best_model_is_loaded(tmp_path):
    d = tmp_path / "r"
    res = train("CartPole-v1", seed=0, total_timesteps=512, n_envs=2, run_dir=d,
                overrides={**TINY, "run.eval_every": 256, "run.periodic_eval_episodes": 1})
    # a model.pt of another run (128 steps) in its place tells the two files apart
    train("CartPole-v1", seed=0, total_timesteps=128, n_envs=2, run_dir=tmp_path / "short",
          overrides=NO_EVAL)
    (d / "model.pt").write_bytes((tmp_path / "short" / "model.pt").read_bytes())
    assert load_run_agent(d).num_timesteps == res.best_timesteps == load_run_agent(d, "best").num_timesteps
    assert load_run_agent(d, "last").num_timesteps == 128


def test_train_shows_a_progress_bar_only_when_asked(tmp_path, capsys, monkeypatch):
    # on a terminal, where a bar is shown by default, train's default (False) still shows none
    monkeypatch.setattr(progress_mod, "in_notebook", lambda: False)
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: True, raising=False)
    train("CartPole-v1", total_timesteps=64, n_envs=1, run_dir=tmp_path / "quiet", overrides=BARE)
    assert capsys.readouterr().err == ""
    monkeypatch.undo()
    train("CartPole-v1", total_timesteps=64, n_envs=1, run_dir=tmp_path / "bar", overrides=BARE,
          progress=True)
    assert "training" in capsys.readouterr().err
