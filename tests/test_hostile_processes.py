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


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, expected):
    from rlkit._io import atomic_write_text
    from rlkit.mdp import io as mio

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        mio.save(mio.load("student-mdp"), tmp_path / "m.npz")
        with open(tmp_path / "plain.txt", "w") as fh:  # what open() gives, the reference
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    for name in ("a.txt", "m.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name


def test_a_replaced_file_keeps_its_mode(tmp_path):
    from rlkit._io import atomic_write_text

    target = tmp_path / "a.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640


def test_leftovers_of_a_killed_write_are_removed_by_the_next_write(tmp_path):
    from rlkit import _io

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = tmp_path / f".model.pt.rlkit-{_io._HOST}-{dead.pid}-abc123.tmp"  # its process is gone
    alive = tmp_path / f".model.pt.rlkit-{_io._HOST}-{os.getpid()}-def456.tmp"  # a write in progress
    other_host = tmp_path / f".model.pt.rlkit-elsewhere-{dead.pid}-xyz.tmp"
    old_style = tmp_path / ".metrics.csv.ab12cd_9.tmp"
    foreign = tmp_path / ".cache.tmp"  # not rlkit's
    for p in (mine, alive, other_host, old_style, foreign):
        p.write_text("partial")
    week_ago = time.time() - 7 * 86400
    os.utime(old_style, (week_ago, week_ago))
    os.utime(foreign, (week_ago, week_ago))
    _io.atomic_write_text(tmp_path / "config.json", "{}")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {alive.name, other_host.name, foreign.name, "config.json"}
    os.utime(other_host, (week_ago, week_ago))  # old enough: its owner is surely done
    _io.atomic_write_text(tmp_path / "config.json", "{}")
    assert not other_host.exists() and alive.exists() and foreign.exists()


def test_a_killed_write_leaves_a_tmp_that_the_next_write_removes(tmp_path):
    script = (f"import os, signal\nfrom rlkit._io import atomic_write\n"
              f"atomic_write({str(tmp_path / 'big.bin')!r}, lambda p: (p.write_bytes(b'x' * 1000), "
              "os.kill(os.getpid(), signal.SIGKILL)))\n")
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "the kill left no tmp file"
    from rlkit._io import atomic_write_text

    atomic_write_text(tmp_path / "other.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


@pytest.mark.parametrize("setup, target, match", [
    (lambda d: (d / "out").mkdir(), "out", "is a folder"),
    (lambda d: (d / "f").write_text(""), "f/out.json", "a file of that name is in the way"),
    (lambda d: (d / "f").write_text(""), "f/sub/out.json", "part of that path is a file"),
])
def test_output_paths_that_are_folders_or_under_files_are_errors(tmp_path, setup, target, match):
    from rlkit._io import atomic_write_text
    from rlkit.errors import RlkitError

    setup(tmp_path)
    with pytest.raises(RlkitError, match=match):
        atomic_write_text(tmp_path / target, "x")
