"""Find the catalog folders (``envs/`` MDP definitions, ``agents/`` presets) by name.

From a checkout they are the top-level ``envs/`` and ``agents/`` folders; from an installed wheel
they ship as ``rlkit/_catalog/envs`` and ``rlkit/_catalog/agents`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def catalog_dir(kind: str) -> Path:
    """Return the folder of catalog ``kind`` (``"envs"`` or ``"agents"``)."""
    if kind not in ("envs", "agents"):
        raise ValueError(f"unknown catalog kind {kind!r}")
    for candidate in (_PKG.parent / kind, _PKG / "_catalog" / kind):
        if candidate.is_dir() and any(candidate.glob("*.y*ml")):
            return candidate
    try:  # an editable install maps rlkit._catalog.<kind> elsewhere
        import importlib.resources as resources

        path = Path(str(resources.files(f"rlkit._catalog.{kind}")))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return _PKG.parent / kind


def catalog_files(kind: str) -> dict[str, Path]:
    """Map each catalog entry's name (file stem) to its file."""
    folder = catalog_dir(kind)
    return {p.stem: p for p in sorted(folder.glob("*.y*ml"))}
