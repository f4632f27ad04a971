"""The same tiny compare through the local process pool and through a local Ray: same numbers."""

from __future__ import annotations

import csv

import pytest

from rlkit.experiments.compare import TIMING_COLUMNS, compare

ray = pytest.importorskip("ray")

AGENTS = ["reinforce", "sb3-ppo"]
TINY = {"seeds": 2, "total_timesteps": 256, "eval_every": 128, "eval_episodes": 2}


def rows_without_timing(path):
    with path.open(newline="") as fh:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_local_and_ray_give_identical_results(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a private local Ray, not someone's cluster
    local = compare(["CartPole-v1"], AGENTS, workers=2, out=tmp_path / "local", **TINY)
    remote = compare(["CartPole-v1"], AGENTS, workers=2, backend="ray", out=tmp_path / "ray", **TINY)
    assert not ray.is_initialized()  # the executor shut down the Ray it started
    assert [r.status for r in remote.results] == ["ok"] * 4
    pids = lambda res: {r.host.split(":")[1] for r in res.results}  # noqa: E731
    assert pids(remote).isdisjoint(pids(local))  # really other processes
    expected = rows_without_timing(tmp_path / "local" / "results.csv")
    assert rows_without_timing(tmp_path / "ray" / "results.csv") == expected
    # every evaluation point's numbers too, not only the final ones
    for r in expected:
        a = (tmp_path / "local" / "trials" / r["trial_id"] / "metrics.csv").read_text().splitlines()
        b = (tmp_path / "ray" / "trials" / r["trial_id"] / "metrics.csv").read_text().splitlines()
        strip = lambda lines: [",".join(x.split(",")[:3] + x.split(",")[4:]) for x in lines]  # noqa: E731
        assert strip(a) == strip(b)
