"""Strip the outputs of the notebooks before committing them.

Usage (from the repository root)::

    .venv/bin/python notebooks/strip.py            # strip every notebooks/*.ipynb in place
    .venv/bin/python notebooks/strip.py --check    # exit 1 and name the notebooks that have outputs
    .venv/bin/python notebooks/strip.py FILE.ipynb ...

Removes code-cell outputs, execution counts and the per-cell timing metadata that Jupyter / nbclient
add; the sources and everything else are kept. Files already clean are not rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from rlkit._io import atomic_write_text

HERE = Path(__file__).resolve().parent
CELL_METADATA = ("execution", "ExecuteTime")     # timings written by nbclient / jupyter extensions


def strip_notebook(nb: nbformat.NotebookNode) -> bool:
    """Strip ``nb`` in place; return True if anything was removed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
        meta = cell.get("metadata", {})
        for key in CELL_METADATA:
            if key in meta:
                del meta[key]
                changed = True
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook has outputs")
    args = parser.parse_args(argv)
    files = args.files or sorted(HERE.glob("*.ipynb"))
    dirty = []
    for path in files:
        nb = nbformat.read(path, as_version=4)
        if strip_notebook(nb):
            dirty.append(path)
            if not args.check:
                text = nbformat.writes(nb)
                atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    verb = "has outputs" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    if args.check and dirty:
        print(f"run: python {Path(__file__).as_posix()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
