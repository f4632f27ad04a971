"""Shared test setup: headless plotting, the data root, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("RLKIT_DATA", str((REPO.parent / "shared" / "data").resolve()))


@pytest.fixture
def cli():
    """Run ``rlkit ARGS...`` in-process; returns (exit_code, stdout, stderr)."""
    import contextlib
    import io

    from rlkit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST folder; tests that need it are skipped where it is absent."""
    path = Path(os.environ["RLKIT_DATA"]) / "mnist"
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {path}")
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data anywhere: $RLKIT_DATA and the user cache point at empty folders."""
    from rlkit.supervised import data

    monkeypatch.setenv("RLKIT_DATA", str(tmp_path / "data_root"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data._CACHE.clear()
    yield tmp_path
    data._CACHE.clear()
