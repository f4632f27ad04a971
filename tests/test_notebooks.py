"""The notebooks run top to bottom, and are stored executed, with their outputs (figures included).

Each notebook is executed with ``notebooks/run.py``'s :func:`execute`: nbclient, a kernel started
from *this* interpreter, ``notebooks/`` as the working directory and ``MPLBACKEND=Agg`` (the
notebooks switch to the inline backend themselves, so their figures are really drawn). A cell that
raises fails the test; so does a cell that runs longer than ``CELL_TIMEOUT`` seconds.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
RUN = NB_DIR / "run.py"
EXPECTED = {"policy-evaluation.ipynb", "td-vs-mc.ipynb", "control.ipynb"}

_spec = importlib.util.spec_from_file_location("rlkit_notebooks_run", RUN)
nbrun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbrun)


def _images(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") in ("display_data", "execute_result")
            and "image/png" in o.get("data", {})]


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, record_property):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:                       # run from a blank slate, not from the stored outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    try:
        seconds = nbrun.execute(nb, NB_DIR)
    except (CellExecutionError, CellTimeoutError) as exc:
        pytest.fail(f"{path.name}: a cell failed:\n{exc}", pytrace=False)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: ran in {seconds:.1f} s")

    assert nbrun.problems(nb) == [], "every code cell ran once, in order, without an error"
    assert _images(nb), f"{path.name} drew no figure inline"
    # numbers printed by the notebook never come out as NaN
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), f"{path.name} printed a NaN:\n{text}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_executed_with_its_figures(path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nbrun.problems(nb) == [], f"{path.name}: run: .venv/bin/python notebooks/run.py {path.name}"
    assert _images(nb), f"{path.name} is stored without its figures; run: .venv/bin/python notebooks/run.py"


def _notebook(tmp_path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell(source)]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_run_stores_outputs_without_timings(tmp_path: Path):
    path = _notebook(tmp_path, "print(6 * 7)")
    check = subprocess.run([sys.executable, str(RUN), "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and "not one run top to bottom" in check.stdout   # never executed

    done = subprocess.run([sys.executable, str(RUN), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].execution_count == 1
    assert [o.text for o in nb.cells[1].outputs] == ["42\n"]
    assert "execution" not in nb.cells[1].metadata and nb.cells[0].source == "# title"
    again = subprocess.run([sys.executable, str(RUN), "--check", str(path)], capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""


def test_run_leaves_a_failing_notebook_as_it_was(tmp_path: Path):
    path = _notebook(tmp_path, "1 / 0")
    before = path.read_bytes()
    done = subprocess.run([sys.executable, str(RUN), str(path)], capture_output=True, text=True)
    assert done.returncode != 0 and "ZeroDivisionError" in done.stderr + done.stdout
    assert path.read_bytes() == before
