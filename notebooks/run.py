"""Execute the notebooks and store them with their outputs, so that browsing one shows its figures.

Usage (from the repository root)::

    .venv/bin/python notebooks/run.py              # execute every notebooks/*.ipynb, store it with outputs
    .venv/bin/python notebooks/run.py FILE.ipynb ...
    .venv/bin/python notebooks/run.py --check      # exit 1 and name the notebooks not stored as executed

Each notebook runs top to bottom in a fresh kernel started from *this* interpreter (never a
kernelspec found on the machine, which could point at another Python without rlkit), with
``notebooks/`` as the working directory and ``MPLBACKEND=Agg``. The per-cell timing metadata that
nbclient adds is removed, so re-running a notebook changes only what its cells print and draw. A
cell that raises stops the run and the file is left as it was.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from rlkit._io import atomic_write_text

HERE = Path(__file__).resolve().parent
CELL_METADATA = ("execution", "ExecuteTime")     # timings written by nbclient / jupyter extensions
CELL_TIMEOUT = 300                               # seconds per cell: a guard against hangs


class VenvKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel is ``sys.executable -m ipykernel_launcher``."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="rlkit (this interpreter)", language="python",
            env={"MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}, resource_dir="",
        )


def execute(nb: nbformat.NotebookNode, cwd: Path = HERE) -> float:
    """Run ``nb`` in place in a fresh kernel (outputs filled in); return the seconds it took.

    :raises nbclient.exceptions.CellExecutionError: a cell raised.
    :raises nbclient.exceptions.CellTimeoutError: a cell ran longer than ``CELL_TIMEOUT``.
    """
    client = NotebookClient(nb, kernel_manager_class=VenvKernelManager, kernel_name="python3",
                            timeout=CELL_TIMEOUT, startup_timeout=120, allow_errors=False,
                            record_timing=False, resources={"metadata": {"path": str(cwd)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def clean_metadata(nb: nbformat.NotebookNode) -> bool:
    """Remove timing and widget metadata from ``nb`` in place; return True if anything was removed."""
    changed = False
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        for key in CELL_METADATA:
            if key in meta:
                del meta[key]
                changed = True
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    return changed


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why ``nb`` is not stored as a clean top-to-bottom run (empty: it is)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    out = []
    if counts != list(range(1, len(code) + 1)):
        out.append(f"execution counts {counts} are not 1..{len(code)} (not one run top to bottom)")
    if any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])):
        out.append("an output is an error")
    if any(key in c.get("metadata", {}) for c in nb.cells for key in CELL_METADATA):
        out.append("cells carry timing metadata")
    return out


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    text = nbformat.writes(nb)
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="only report; exit 1 if a notebook is not stored as one clean run")
    args = parser.parse_args(argv)
    files = args.files or sorted(HERE.glob("*.ipynb"))
    bad = 0
    for path in files:
        nb = nbformat.read(path, as_version=4)
        if args.check:
            for why in problems(nb):
                print(f"{path}: {why}")
                bad += 1
            continue
        seconds = execute(nb, path.resolve().parent)
        clean_metadata(nb)
        write(nb, path)
        print(f"{path}: executed in {seconds:.1f} s and stored with its outputs")
    if bad:
        print(f"run: python {Path(__file__).as_posix()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
