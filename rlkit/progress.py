"""Progress bars for long work (training, compare, sweep, supervised epochs), one way for all.

rich draws them on a terminal and, with ``ipywidgets`` installed, in Jupyter. :func:`wanted`
decides whether to show one: an explicit ``True`` or ``False`` is obeyed; ``None`` (the default
of every rlkit entry point) shows a bar on a terminal or in a notebook and stays quiet in pipes,
files and CI logs.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

__all__ = ["TrainingProgress", "in_notebook", "new_progress", "wanted"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def wanted(enabled: bool | None) -> bool:
    """Whether to show a progress bar (see the module docstring)."""
    if enabled is not None:
        return bool(enabled)
    return sys.stderr.isatty() or in_notebook()


def new_progress(*columns: Any, transient: bool = False):
    """A :class:`rich.progress.Progress` on stderr (in a notebook: the cell's output)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, force_jupyter=True if in_notebook() else None)
    return Progress(*columns, console=console, transient=transient)


class TrainingProgress:
    """The bar of an agent's ``learn``: env steps done of the total, the running mean return, ETA."""

    def __init__(self, total: int, start: int, enabled: bool | None) -> None:
        self.bar = None
        if not wanted(enabled):
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        self.bar = new_progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("return {task.fields[ret]}"),
            TimeRemainingColumn(),
        )
        self.task = self.bar.add_task("training", total=total, completed=start, ret="-")
        self.bar.start()
        self._last = 0.0

    def update(self, done: int, ret: float) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self._last > 0.1:
            self.bar.update(self.task, completed=done, ret="-" if math.isnan(ret) else f"{ret:.1f}")
            self._last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.stop()
