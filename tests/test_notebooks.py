"""The notebooks run top to bottom and are stored without outputs.

Each notebook is executed with nbclient in a kernel started from *this* interpreter (the venv's
``sys.executable``, whatever kernelspecs the machine has installed), with ``notebooks/`` as the
working directory and ``MPLBACKEND=Agg`` (the notebooks switch to the inline backend themselves, so
their figures are really drawn). A cell that raises fails the test; so does a cell that runs longer
than ``CELL_TIMEOUT`` seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
STRIP = NB_DIR / "strip.py"
CELL_TIMEOUT = 300     # seconds per cell: a guard against hangs, not a speed target
EXPECTED = {"policy-evaluation.ipynb", "td-vs-mc.ipynb", "control.ipynb"}


class VenvKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel is ``sys.executable -m ipykernel_launcher``, never a kernelspec
    found on the machine (which could point at another Python without rlkit)."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="rlkit (this interpreter)", language="python",
            env={"MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}, resource_dir="",
        )


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, record_property):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_manager_class=VenvKernelManager, kernel_name="python3",
                            timeout=CELL_TIMEOUT, startup_timeout=120, allow_errors=False,
                            record_timing=True, resources={"metadata": {"path": str(NB_DIR)}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        pytest.fail(f"{path.name}: a cell failed:\n{exc}", pytrace=False)
    seconds = time.perf_counter() - t0
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: ran in {seconds:.1f} s")

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in code for o in c.outputs
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure inline"
    # numbers printed by the notebook never come out as NaN
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), f"{path.name} printed a NaN:\n{text}"


def _outputs(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    bad = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            bad.append(f"cell {i}")
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path):
    bad = _outputs(path)
    assert not bad, (f"{path.name} is stored with outputs ({', '.join(bad)}); "
                     f"run: .venv/bin/python notebooks/strip.py")


def test_strip_removes_outputs(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.execution_count = 3
    cell.metadata["execution"] = {"iopub.status.idle": "2024-01-01T00:00:00Z"}
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, str(path))

    check = subprocess.run([sys.executable, str(STRIP), "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and "has outputs" in check.stdout
    assert _outputs(path) == ["cell 1"]                      # --check leaves the file alone

    done = subprocess.run([sys.executable, str(STRIP), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _outputs(path) == []
    clean = nbformat.read(path, as_version=4)
    assert clean.cells[1].source == "print(1)" and "execution" not in clean.cells[1].metadata
    assert clean.cells[0].source == "# title"
    again = subprocess.run([sys.executable, str(STRIP), "--check", str(path)], capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""
