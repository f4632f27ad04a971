"""Processes and files: workers never outlive their driver; writes honour the umask; leftovers of a
killed write are cleaned up by the next write into that folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlkit.experiments.executors import _alive

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parent.parent

_HELPER = '''
import os, time
from pathlib import Path

def sleepy_trial(spec):
    Path(os.environ["PIDS_DIR"], str(os.getpid())).write_text("")
    time.sleep(600)
'''

_DRIVER = '''
import sys
import helper_sleepy
from rlkit.experiments import executors

if __name__ == "__main__":
    executors.run_trial = helper_sleepy.sleepy_trial
    ex = executors.LocalExecutor(workers=2, start_method="spawn")
    for result in ex.results(["a", "b", "c"]):
        print(result, flush=True)
'''


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_stop_when_the_driver_is_terminated_or_killed(tmp_path, sig):
    (tmp_path / "helper_sleepy.py").write_text(textwrap.dedent(_HELPER))
    (tmp_path / "driver.py").write_text(textwrap.dedent(_DRIVER))
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "PIDS_DIR": str(pids), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py")], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert _wait(lambda: len(list(pids.iterdir())) == 2, 90), "the two workers did not start"
        workers = [int(p.name) for p in pids.iterdir()]
        assert all(_alive(w) for w in workers)
        driver.send_signal(sig)
        driver.wait(timeout=30)
        assert _wait(lambda: not any(_alive(w) for w in workers), 15), "workers outlived the driver"
        if sig == signal.SIGTERM:
            assert driver.returncode == 128 + signal.SIGTERM
        assert len(list(pids.iterdir())) == 2  # the third trial never started
    finally:
        if driver.poll() is None:
            driver.kill()
        for p in pids.iterdir():
            if _alive(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)
