"""The same tiny compare through the local process pool and through a local Ray: same numbers.

The Ray half runs in a child process. When one of Ray's own processes dies (its raylet or GCS, on a
starved or short-lived machine), Ray ends the driver with ``_exit(1)``: run in pytest's process,
that ends the whole test session with no summary and no message. In a child, such a crash is seen,
tried again once with a fresh Ray, and reported with Ray's own log lines if it happens again.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlkit.experiments.compare import TIMING_COLUMNS, compare

ray = pytest.importorskip("ray")

AGENTS = ["reinforce", "sb3-ppo"]
TINY = {"seeds": 2, "total_timesteps": 256, "eval_every": 128, "eval_episodes": 2}
ATTEMPTS = 2

CHILD = """
import json, sys
import ray
from rlkit.experiments.compare import compare
out, agents, tiny = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
res = compare(["CartPole-v1"], agents, workers=2, backend="ray", out=out, **tiny)
print(json.dumps({"status": [r.status for r in res.results], "hosts": [r.host for r in res.results],
                  "ray_left_running": ray.is_initialized()}))
"""


def rows_without_timing(path):
    with path.open(newline="") as fh:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]


def ray_log_tail(lines: int = 15) -> str:
    """The last lines of the newest Ray session's raylet and GCS logs, for a failure message."""
    logs = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "session_latest" / "logs"
    parts = []
    for name in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err"):
        path = logs / name
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no Ray logs under {logs})"


def compare_on_ray(out: Path) -> dict:
    """Run the compare on a private local Ray in a child process; one retry if Ray itself crashed."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never someone's cluster
    failures = []
    for attempt in range(ATTEMPTS):
        folder = out / f"attempt{attempt}"
        argv = [sys.executable, "-c", CHILD, str(folder), json.dumps(AGENTS), json.dumps(TINY)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            return {"folder": folder, **json.loads(lines[-1])}
        failures.append(f"attempt {attempt + 1}: exit {proc.returncode}\n{proc.stderr[-3000:]}\n"
                        + ray_log_tail())
    pytest.fail("the compare on a local Ray did not finish:\n" + "\n\n".join(failures))


@pytest.mark.slow
def test_local_and_ray_give_identical_results(tmp_path):
    local = compare(["CartPole-v1"], AGENTS, workers=2, out=tmp_path / "local", **TINY)
    remote = compare_on_ray(tmp_path / "ray")
    assert not remote["ray_left_running"]  # the executor shut down the Ray it started
    assert remote["status"] == ["ok"] * 4
    pids = lambda hosts: {h.split(":")[1] for h in hosts}  # noqa: E731
    assert pids(remote["hosts"]).isdisjoint(pids(r.host for r in local.results))  # really other processes
    expected = rows_without_timing(tmp_path / "local" / "results.csv")
    assert rows_without_timing(remote["folder"] / "results.csv") == expected
    # every evaluation point's numbers too, not only the final ones
    for r in expected:
        a = (tmp_path / "local" / "trials" / r["trial_id"] / "metrics.csv").read_text().splitlines()
        b = (remote["folder"] / "trials" / r["trial_id"] / "metrics.csv").read_text().splitlines()
        strip = lambda lines: [",".join(x.split(",")[:3] + x.split(",")[4:]) for x in lines]  # noqa: E731
        assert strip(a) == strip(b)


class FakeRay:
    """Just enough of Ray for RayExecutor: tasks finish in submission order, cancels are recorded."""

    def __init__(self):
        self.cancelled, self.initialized = [], False

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.initialized = True

    def shutdown(self):
        self.initialized = False

    def remote(self, **options):
        return lambda fn: type("Task", (), {"remote": staticmethod(lambda spec: ("ref", spec))})

    def wait(self, pending, num_returns):
        return pending[:num_returns], pending[num_returns:]

    def get(self, ref):
        return ref[1]

    def cancel(self, ref):
        self.cancelled.append(ref[1])


def test_ray_executor_cancels_only_unfinished_tasks(monkeypatch):
    """Ray 2.60's driver dies on a fatal check when a finished task is cancelled as it completes, so a
    compare that ran to the end cancels nothing, and an interrupted one cancels only what still runs."""
    from rlkit.experiments import executors

    fake = FakeRay()
    monkeypatch.setattr(executors, "import_ray", lambda: fake)
    executor = executors.RayExecutor()
    assert list(executor.results(["a", "b", "c"])) == ["a", "b", "c"]
    assert fake.cancelled == [] and not fake.initialized
    gen = executor.results(["a", "b", "c", "d"])
    assert next(gen) == "a"
    gen.close()  # the compare was interrupted after its first result
    assert fake.cancelled == ["b", "c", "d"] and not fake.initialized


def test_a_cluster_that_refuses_says_what_token_auth_needs(monkeypatch):
    from rlkit.errors import RlkitError
    from rlkit.experiments import executors

    class Refusing(FakeRay):
        def init(self, **kwargs):
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")

    monkeypatch.setattr(executors, "import_ray", lambda: Refusing())
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(RlkitError, match=r"join 10\.0\.0\.1:6379: Failed to connect.*RAY_AUTH_MODE=token "
                                         r"\(here: not set\)") as err:
        list(executors.RayExecutor("10.0.0.1:6379").results(["a"]))
    assert err.value.where == "--ray-address"
