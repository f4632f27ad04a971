"""Shared by the benchmark scripts: machine description, timing, and the docs/benchmarks.md writer.

Each benchmark owns one section of ``docs/benchmarks.md``, between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; :func:`write_section` replaces only that section, so the scripts can run in
any order and each keeps the others' tables.
"""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nWritten by the scripts in `benchmarks/` (`make bench`); "
          "each section says how it was measured.\n")


def machine() -> str:
    """One line naming the machine, Python, numpy and torch versions."""
    import numpy

    parts = [f"{platform.machine()}, {os.cpu_count()} cores", f"Python {platform.python_version()}",
             f"numpy {numpy.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        pass
    return "; ".join(parts)


def timed(fn, *args, repeat: int = 1, **kwargs):
    """Run ``fn`` ``repeat`` times; return (best seconds, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, result


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _section_pattern(name: str) -> re.Pattern:
    return re.compile(rf"<!-- {re.escape(name)}:start -->\n?(.*?)\n?<!-- {re.escape(name)}:end -->", re.S)


def read_section(name: str, path: Path = DOCS) -> str:
    """The body of section ``name`` of docs/benchmarks.md as the page has it now ("" if none)."""
    match = _section_pattern(name).search(path.read_text()) if path.exists() else None
    return match.group(1) if match else ""


def write_section(name: str, body: str, path: Path = DOCS) -> None:
    """Replace (or append) section ``name`` of docs/benchmarks.md with ``body``."""
    text = path.read_text() if path.exists() else HEADER
    block = f"<!-- {name}:start -->\n{body.rstrip()}\n<!-- {name}:end -->"
    pattern = _section_pattern(name)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
