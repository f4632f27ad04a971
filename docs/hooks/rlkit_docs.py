"""MkDocs hooks of rlkit's site (named in mkdocs.yml under ``hooks``).

* The docstrings use Sphinx roles (``:class:`Solution```), which mkdocstrings shows as written: the
  role prefix is dropped from the rendered API pages, leaving the name in code style.
* MathJax for the notebooks' formulas is copied from the ``jupyter-server-mathjax`` package into the
  site, so that the formulas render without a network. Only its static files are used: it is found
  without being imported (importing it loads Jupyter Server, which the Makefile does not install).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const):(?=<code>)")
MATHJAX_DIR = "assets/mathjax"


def on_page_content(html: str, page, config, files) -> str:
    return _ROLE.sub("", html)


def on_post_build(config) -> None:
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:  # not installed: the formulas then show as TeX source
        return
    static = Path(spec.origin).parent / "static"
    target = Path(config["site_dir"]) / MATHJAX_DIR
    if not target.exists():
        shutil.copytree(static, target)
