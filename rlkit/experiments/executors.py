"""Where trials run: a local process pool (default) or a Ray cluster.

Both executors take a list of :class:`~rlkit.experiments.trial.TrialSpec` and yield
:class:`~rlkit.experiments.trial.TrialResult` objects as trials finish (in any order); the driver
writes them to the output folder. A trial's numbers depend only on its spec (seed included) and
each trial runs with one torch thread, so the same seeds give the same numbers on either executor;
only the timing columns differ.

Example::

    >>> from rlkit.experiments.executors import make_executor
    >>> executor = make_executor("local", workers=2)
    >>> # for result in executor.results(specs): ...
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from rlkit.errors import RlkitError
from rlkit.experiments.trial import TrialResult, TrialSpec, run_trial

__all__ = ["LocalExecutor", "RayExecutor", "make_executor", "import_ray", "INSTALL_RAY"]

INSTALL_RAY = "pip install 'rlkit[distributed]'"
_PRELOAD = ["torch", "torch._dynamo", "gymnasium", "stable_baselines3", "rlkit.agents",
            "rlkit.experiments.trial", "rlkit.experiments.sb3"]


def _failed(spec: TrialSpec, message: str) -> TrialResult:
    return TrialResult(spec=spec, status="failed", error=" ".join(message.split()))


#: Seconds between a worker's checks that the driver process still lives.
PARENT_POLL_S = 0.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not our driver any more (pid reused)
        return False
    try:  # a zombie is dead too (nobody may reap it in a container)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _watch_driver(pid: int) -> None:
    """Exit this worker as soon as the driver ``pid`` is gone (killed, even with SIGKILL)."""
    while _alive(pid):
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _init_worker(driver_pid: int | None = None) -> None:
    """Each worker process: one BLAS/torch thread (the pool already uses every core), and a watch
    on the driver so that no worker outlives it."""
    if driver_pid is not None:
        threading.Thread(target=_watch_driver, args=(driver_pid,), name="rlkit-watch-driver",
                         daemon=True).start()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While trials run, SIGTERM raises SystemExit(143) in the driver, so that its cleanup (stopping
    the workers) runs instead of the process vanishing and leaving them behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LocalExecutor:
    """A pool of ``workers`` processes on this machine, one trial per process at a time.

    Like any ``multiprocessing`` user, a script that runs trials this way must guard its entry
    point with ``if __name__ == "__main__":`` (the workers import the main module).

    :param workers: processes (default: the number of CPU cores, at most the number of trials).
    :param start_method: ``"forkserver"`` (default on Linux: torch, Gymnasium and SB3 are imported
        once in the server, so workers start fast) or ``"spawn"``; never ``fork`` (torch's threads
        and fork do not mix).
    """

    def __init__(self, workers: int | None = None, *, start_method: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise RlkitError(f"--workers must be >= 1, got {workers}")
        self.workers = workers or os.cpu_count() or 1
        methods = mp.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods and sys.platform != "darwin" else "spawn"
        if start_method not in ("forkserver", "spawn") or start_method not in methods:
            raise RlkitError(f"start_method must be forkserver or spawn (available: {methods})")
        self.start_method = start_method

    def results(self, specs: Sequence[TrialSpec]) -> Iterator[TrialResult]:
        """Run ``specs`` (submitted in order) and yield results as trials finish."""
        specs = list(specs)
        if not specs:
            return
        ctx = mp.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(_PRELOAD)
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(specs)), mp_context=ctx,
                                   initializer=_init_worker, initargs=(os.getpid(),))
        futures: dict[Future, TrialSpec] = {}
        finished = False
        try:
            with _sigterm_raises():
                yield from self._collect(pool, specs, futures)
            finished = True
        finally:
            for future in futures:
                future.cancel()
            if not finished:  # interrupted (signal, error, caller stopped early): stop running trials now
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
            pool.shutdown(wait=finished, cancel_futures=True)

    @staticmethod
    def _collect(pool: ProcessPoolExecutor, specs: list[TrialSpec],
                 futures: dict[Future, TrialSpec]) -> Iterator[TrialResult]:
        futures.update({pool.submit(run_trial, spec): spec for spec in specs})
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: specs.index(futures[f])):
                try:
                    yield future.result()
                except Exception as exc:  # the worker died (killed, out of memory, segfault)
                    hint = (" (a script that calls compare/sweep needs `if __name__ == '__main__':`"
                            " around that call, as with any multiprocessing)"
                            if isinstance(exc, BrokenProcessPool) else "")
                    yield _failed(futures[future],
                                  f"worker process failed: {type(exc).__name__}: {exc}{hint}")


def import_ray() -> Any:
    """Import Ray or raise :class:`RlkitError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RlkitError(f"--backend ray needs Ray, which is not installed: {INSTALL_RAY}") from None
    return ray


class RayExecutor:
    """Trials as Ray tasks (one CPU each), on a local Ray or an existing cluster.

    :param address: a cluster address (``"ray://head:10001"``, ``"head:6379"``, ``"auto"``). Without
        one, ``RAY_ADDRESS`` is used if set; otherwise a private local Ray is started with
        ``num_cpus`` CPUs (``ray.init(address="local")``: never an unrelated ``ray start`` instance).
    :param num_cpus: CPUs of the local Ray (default: the cores of this machine). Ignored when
        joining a cluster (the cluster decides).
    :param ship_code: send this process's ``rlkit`` package to the workers
        (``runtime_env={"py_modules": [...]}``), for clusters whose nodes lack this rlkit version.
        Its dependencies (torch, gymnasium, stable-baselines3) must still be installed there.
    :param runtime_env: a Ray runtime environment for the trials, merged with ``ship_code``'s.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 ship_code: bool = False, runtime_env: dict[str, Any] | None = None) -> None:
        if num_cpus is not None and num_cpus < 1:
            raise RlkitError(f"--workers must be >= 1, got {num_cpus}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.runtime_env = dict(runtime_env or {})
        if ship_code:
            import rlkit

            modules = list(self.runtime_env.get("py_modules", []))
            self.runtime_env["py_modules"] = modules + [os.path.dirname(rlkit.__file__)]
        self.ray = import_ray()

    def _init(self) -> bool:
        ray = self.ray
        if ray.is_initialized():
            return False
        common = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning",
                  "runtime_env": self.runtime_env or None}
        try:
            if self.address:
                ray.init(address=self.address, **common)
            else:
                ray.init(address="local", num_cpus=self.num_cpus or os.cpu_count() or 1, **common)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = self.address or "a local Ray"
            hint = ""
            if self.address:
                mode = os.environ.get("RAY_AUTH_MODE", "")
                hint = ("; a cluster with token authentication needs RAY_AUTH_MODE=token "
                        f"(here: {mode or 'not set'}) and the cluster's token on this machine "
                        "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token), see docs/distributed.md")
            raise RlkitError(f"cannot start or join {where}: {' '.join(str(exc).split())}{hint}",
                             where="--ray-address") from None
        return True

    def results(self, specs: Sequence[TrialSpec]) -> Iterator[TrialResult]:
        """Submit every spec as a Ray task and yield results as they finish."""
        specs = list(specs)
        if not specs:
            return
        ray = self.ray
        started = self._init()
        refs: dict[Any, TrialSpec] = {}
        pending: list[Any] = []
        stop = _sigterm_raises()
        try:
            stop.__enter__()  # SIGTERM: the finally below cancels the tasks
            task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
            refs = {task.remote(spec): spec for spec in specs}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # worker crashed or the task could not run
                        yield _failed(refs[ref], f"Ray task failed: {type(exc).__name__}: {exc}")
        finally:
            stop.__exit__(None, None, None)
            # Only the tasks not yet finished (an interrupted compare). Cancelling a finished task
            # can race with its completion inside Ray 2.60's driver ("Tried to complete task that
            # was not pending"), a fatal check that ends the whole process.
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # finished meanwhile or already gone
                    pass
            if started:
                ray.shutdown()


def make_executor(backend: str = "local", *, workers: int | None = None, ray_address: str | None = None,
                  ship_code: bool = False) -> LocalExecutor | RayExecutor:
    """The executor for ``backend`` ("local" or "ray").

    :param backend: "local" (process pool) or "ray".
    :param workers: local processes, or the CPUs of a local Ray.
    :param ray_address: join this Ray cluster (``--backend ray`` only; ``RAY_ADDRESS`` also works).
    :param ship_code: Ray only: send the local rlkit package to the cluster's workers.
    """
    if backend == "local":
        if ray_address:
            raise RlkitError("--ray-address needs --backend ray")
        return LocalExecutor(workers)
    if backend == "ray":
        return RayExecutor(ray_address, num_cpus=workers, ship_code=ship_code)
    raise RlkitError(f"unknown backend {backend!r}; use local or ray", where="--backend")
