"""Metric loggers: a CSV file (always) and TensorBoard events (optional).

The CSV has one row per update and fixed columns (:data:`COLUMNS`); it is flushed after every row
so a killed run keeps what it logged. On resume the rows written after the last checkpoint are cut
(:meth:`MetricsLogger.open` with ``keep_rows``), so the file ends up exactly as an uninterrupted
run's.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import atomic_write
from rlkit.errors import RlkitError

__all__ = ["COLUMNS", "EPISODE_COLUMNS", "EVAL_COLUMNS", "CsvLogger", "MetricsLogger", "TensorBoardLogger",
           "read_metrics"]

COLUMNS = [
    "update",
    "timesteps",
    "episodes",
    "return_mean",
    "length_mean",
    "policy_loss",
    "value_loss",
    "entropy",
    "grad_norm",
    "explained_variance",
    "approx_kl",
    "learning_rate",
    "seconds",
]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return (
            repr(float(value))
            if math.isfinite(value)
            else ("nan" if math.isnan(value) else str(float(value)))
        )
    return str(value)


#: ``evaluations.csv``: one row per periodic evaluation of ``rlkit train --eval-every``.
EVAL_COLUMNS = ["timesteps", "mean", "std", "min", "max", "episodes", "seconds"]
#: ``episodes.csv``: one row per finished training episode (like SB3's Monitor).
EPISODE_COLUMNS = ["timesteps", "return", "length", "env"]


class CsvLogger:
    """Append-only CSV with fixed ``columns``, flushed after every row.

    :param path: the CSV file.
    :param columns: the header.
    :param keep_rows: None to start a new file; an int to keep that many data rows of an existing
        file (resume) and append after them.
    :param lineterminator: the row end (the csv module's default ``"\r\n"``; ``"\n"`` for files
        that have always been written with plain newlines).
    """

    def __init__(self, path: str | os.PathLike, columns: list[str], keep_rows: int | None = None, *,
                 lineterminator: str = "\r\n") -> None:
        self.columns = list(columns)
        self.path = Path(path)
        if keep_rows is None or not self.path.exists():
            rows: list[list[str]] = []
        else:
            with self.path.open(newline="") as f:
                rows = list(csv.reader(f))
            header, rows = (rows[0] if rows else []), rows[1:]
            if header and header != self.columns:  # written by another version: re-order by name
                where = {c: header.index(c) for c in self.columns if c in header}
                rows = [[r[where[c]] if c in where and where[c] < len(r) else "" for c in self.columns]
                        for r in rows]
            if len(rows) < keep_rows:
                raise RlkitError(
                    f"has {len(rows)} rows but the checkpoint was taken after {keep_rows}",
                    where=str(self.path),
                )
            rows = rows[:keep_rows]

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as f:
                writer = csv.writer(f, lineterminator=lineterminator)
                writer.writerow(self.columns)
                writer.writerows(rows)

        atomic_write(self.path, write)
        self.rows = len(rows)
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file, lineterminator=lineterminator)

    def log(self, metrics: dict[str, Any]) -> None:
        """Write one row (missing columns stay empty) and flush."""
        self._writer.writerow([_fmt(metrics.get(c)) for c in self.columns])
        self._file.flush()
        self.rows += 1

    def close(self) -> None:
        self._file.close()


class MetricsLogger(CsvLogger):
    """``metrics.csv``: one row of :data:`COLUMNS` per update."""

    def __init__(self, path: str | os.PathLike, keep_rows: int | None = None) -> None:
        super().__init__(path, COLUMNS, keep_rows)


def read_metrics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A metrics CSV as column name -> float array.

    :raises RlkitError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise RlkitError("no metrics file", where=str(path))
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise RlkitError("empty metrics file", where=str(path))
    header, data = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for index, name in enumerate(header):
        col = []
        for row in data:
            try:
                col.append(float(row[index]) if index < len(row) and row[index] != "" else float("nan"))
            except ValueError:
                col.append(float("nan"))
        out[name] = np.asarray(col, dtype=np.float64)
    return out


class TensorBoardLogger:
    """Scalars to TensorBoard event files under ``log_dir`` (x axis: ``step_key``, timesteps).

    :param log_dir: the folder of the event files.
    :param purge_step: on resume, the step of the checkpoint: events after it are dropped.
    :param step_key: the metric that is the x axis (``"epoch"`` for supervised runs).
    """

    def __init__(self, log_dir: str | os.PathLike, purge_step: int | None = None, *,
                 step_key: str = "timesteps") -> None:
        self.step_key = step_key
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # tensorboard is an optional extra
            raise RlkitError(
                "--tensorboard needs the tensorboard package: pip install 'rlkit[tensorboard]'",
                where="--tensorboard",
            ) from exc
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def log(self, metrics: dict[str, Any], prefix: str = "train") -> None:
        step = int(metrics[self.step_key])
        for key, value in metrics.items():
            if key in ("timesteps", "update", self.step_key) or isinstance(value, bool):
                continue
            if not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and math.isnan(value):
                continue
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
