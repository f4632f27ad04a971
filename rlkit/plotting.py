"""Plots written to PNG files: value heatmaps with policy arrows, value bar charts, learning curves.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so nothing here
touches pyplot's global state or needs a display; files are written atomically.

Example::

    >>> import numpy as np
    >>> from rlkit.plotting import plot_curves, plot_values
    >>> plot_values(np.arange(16.0), grid=(4, 4), policy=np.zeros(16, int),
    ...             actions=["left", "down", "right", "up"], path="/tmp/values.png")   # doctest: +ELLIPSIS
    PosixPath('/tmp/values.png')
    >>> runs = np.random.default_rng(0).normal(size=(5, 100)).cumsum(axis=1)
    >>> plot_curves({"td": runs}, xlabel="episode", ylabel="RMS error", path="/tmp/curves.png")
    PosixPath('/tmp/curves.png')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import atomic_write
from rlkit.errors import RlkitError

__all__ = ["ARROWS", "action_direction", "mean_and_band", "plot_curves", "plot_values"]

#: (dx, dy) on the page (y up) for the action names rlkit and Gymnasium use.
ARROWS: dict[str, tuple[float, float]] = {
    "left": (-1, 0), "right": (1, 0), "up": (0, 1), "down": (0, -1),
    "west": (-1, 0), "east": (1, 0), "north": (0, 1), "south": (0, -1),
    "l": (-1, 0), "r": (1, 0), "u": (0, 1), "d": (0, -1),
}


def action_direction(name: str) -> tuple[float, float] | None:
    """The page direction of an action name (``"left"``, ``"north"`` ...), or None."""
    return ARROWS.get(str(name).strip().lower())


def _figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise RlkitError(f"plot path must end in .png, got {path}")
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _policy_matrix(policy: Any, S: int, A: int | None) -> np.ndarray | None:
    """(S, A) probabilities from (S,) indices or an (S, A) matrix."""
    if policy is None:
        return None
    pol = np.asarray(policy)
    if pol.ndim == 1:
        if pol.shape != (S,):
            raise RlkitError(f"policy has {pol.shape[0]} entries for {S} states")
        n = int(A if A is not None else pol.max() + 1)
        out = np.zeros((S, n))
        out[np.arange(S), pol.astype(int)] = 1.0
        return out
    if pol.ndim != 2 or pol.shape[0] != S:
        raise RlkitError(f"policy must be (S,) or (S, A) with S = {S}, got shape {pol.shape}")
    return pol.astype(float)


def plot_values(values: Any, *, grid: tuple[int, int] | None = None, policy: Any = None,
                actions: Sequence[str] | None = None, title: str | None = None, path: str | Path,
                grid_map: Sequence[str] | None = None, states: Sequence[str] | None = None,
                terminal: Any = None, cmap: str = "viridis") -> Path:
    """Plot state values: a heatmap with policy arrows for a grid, a bar chart otherwise.

    :param values: (S,) state values (or any per-state quantity, e.g. a stationary distribution).
    :param grid: (rows, cols) for a grid MDP (state index ``row * cols + col``); None for a bar chart.
    :param policy: (S,) action indices or (S, A) probabilities; arrows (grid: one per action with
        probability > 0, length proportional to it) or labels above the bars (few states).
    :param actions: action names; ``left/right/up/down`` and ``north/south/east/west`` become
        arrows, other names are written in the cell.
    :param title: figure title.
    :param path: PNG file to write.
    :param grid_map: rows of cell letters (FrozenLake-style); walls are greyed, H/G/C/S are marked.
    :param states: state names for the bar chart's ticks.
    :param terminal: bool (S,) of terminal states (no arrows there).
    :param cmap: matplotlib colour map of the heatmap.
    :return: the path written.
    """
    v = np.asarray(values, dtype=float).ravel()
    S = v.shape[0]
    A = len(actions) if actions is not None else None
    pi = _policy_matrix(policy, S, A)
    term = np.zeros(S, bool) if terminal is None else np.asarray(terminal, bool).ravel()
    if term.shape != (S,):
        raise RlkitError(f"terminal must have {S} entries, got {term.shape}")
    if grid is not None:
        rows, cols = (int(x) for x in grid)
        if rows * cols != S:
            raise RlkitError(f"grid {rows}x{cols} has {rows * cols} cells but there are {S} values")
        return _plot_grid(v, rows, cols, pi, actions, title, path, grid_map, term, cmap)
    return _plot_bars(v, pi, actions, title, path, states, term)


def _plot_grid(v, rows, cols, pi, actions, title, path, grid_map, term, cmap) -> Path:
    letters = None
    if grid_map is not None:
        letters = np.array([list(r) for r in grid_map])
        if letters.shape != (rows, cols):
            letters = None
    wall = np.zeros((rows, cols), bool) if letters is None else np.isin(letters, ["W", "#"])
    img = np.ma.masked_array(v.reshape(rows, cols), mask=wall)
    fig = _figure((max(4.0, 0.9 * cols + 1.5), max(3.0, 0.9 * rows + 0.8)))
    ax = fig.add_subplot(1, 1, 1)
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap].with_extremes(bad="#555555")
    except KeyError:
        raise RlkitError(f"unknown colour map {cmap!r}") from None
    im = ax.imshow(img, cmap=colormap, origin="upper")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    finite = v[np.isfinite(v)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    small = rows * cols <= 150
    for s in range(rows * cols):
        r, c = divmod(s, cols)
        if wall[r, c]:
            continue
        colour = "black" if v[s] > mid else "white"
        letter = letters[r, c] if letters is not None else ""
        if small:
            label = f"{v[s]:.3g}"
            if letter in ("H", "G", "S", "C"):
                label = f"{letter}\n{label}"
            ax.text(c, r + 0.3, label, ha="center", va="center", fontsize=7, color=colour)
        if pi is None or term[s] or letter in ("H", "G"):
            continue
        for a in np.flatnonzero(pi[s] > 1e-12):
            name = actions[a] if actions is not None and a < len(actions) else str(a)
            d = action_direction(name)
            if d is None:
                ax.text(c, r - 0.15 if small else r, name, ha="center", va="center", fontsize=8, color=colour)
                continue
            length = 0.35 * pi[s, a]
            ax.arrow(c - d[0] * length / 2, r + d[1] * length / 2, d[0] * length, -d[1] * length,
                     head_width=0.12, head_length=0.1, length_includes_head=True, color=colour)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _plot_bars(v, pi, actions, title, path, states, term) -> Path:
    S = v.shape[0]
    fig = _figure((min(14.0, max(5.0, 0.35 * S + 2)) if S <= 60 else 8.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(S)
    if S <= 200:
        colours = np.where(term, "#999999", "#3b75af")
        ax.bar(x, v, color=colours)
    else:
        ax.plot(x, v, lw=1.0)
    if S <= 60 and states is not None:
        ax.set_xticks(x)
        ax.set_xticklabels([str(s) for s in states], rotation=45 if S > 8 else 0,
                           ha="right" if S > 8 else "center", fontsize=8)
    ax.set_xlabel("state")
    ax.set_ylabel("value")
    ax.axhline(0.0, color="black", lw=0.6)
    if pi is not None and S <= 30:
        best = pi.argmax(axis=1)
        for s in range(S):
            if term[s]:
                continue
            name = actions[best[s]] if actions is not None else str(best[s])
            ax.annotate(name, (s, v[s]), textcoords="offset points", xytext=(0, 3 if v[s] >= 0 else -10),
                        ha="center", fontsize=7)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def mean_and_band(runs: Any, band: str | None = "ci95") -> tuple[np.ndarray, np.ndarray | None,
                                                                 np.ndarray | None]:
    """Mean over runs and a band around it.

    :param runs: (runs, T) or (T,); NaN entries (runs of different lengths) are ignored.
    :param band: ``"ci95"`` (Student-t 95% confidence interval of the mean), ``"std"`` (one sample
        standard deviation) or None.
    :return: (mean, low, high); low/high are None without a band or with a single run.
    """
    arr = np.asarray(runs, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise RlkitError(f"a curve must be (T,) or (runs, T), got shape {arr.shape}")
    if band not in ("ci95", "std", None):
        raise RlkitError(f"band must be 'ci95', 'std' or None, got {band!r}")
    n = np.sum(~np.isnan(arr), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(arr, axis=0) / np.where(n > 0, n, np.nan)
        if band is None or arr.shape[0] < 2:
            return mean, None, None
        dev = np.where(np.isnan(arr), 0.0, arr - mean)
        sd = np.sqrt((dev ** 2).sum(axis=0) / np.where(n > 1, n - 1, np.nan))
        if band == "std":
            half = sd
        else:
            from scipy import stats

            half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    return mean, mean - half, mean + half


def plot_curves(curves: Mapping[str, Any], *, x: Any = None, xlabel: str = "step", ylabel: str = "value",
                title: str | None = None, path: str | Path, band: str | None = "ci95",
                logy: bool = False, points: Mapping[str, tuple[Any, Any]] | None = None,
                points_label: str = "evaluation", hline: float | None = None,
                hline_label: str | None = None) -> Path:
    """Learning curves: the mean over runs of each curve with a band (95% CI or one std).

    :param curves: name -> (runs, T) array (or (T,) for a single run).
    :param x: x values, (T,) shared or a mapping name -> (T,); default 0..T-1.
    :param xlabel: x-axis label.
    :param ylabel: y-axis label.
    :param title: figure title.
    :param path: PNG file to write.
    :param band: ``"ci95"``, ``"std"`` or None.
    :param logy: log-scale y axis.
    :param points: name -> (x, y) markers drawn in the curve's colour (e.g. periodic evaluations).
    :param points_label: legend text of the markers.
    :param hline: a horizontal reference line (e.g. the env's reward threshold).
    :param hline_label: its legend text.
    :return: the path written.
    """
    if not curves:
        raise RlkitError("plot_curves needs at least one curve")
    fig = _figure((7.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for name, runs in curves.items():
        mean, lo, hi = mean_and_band(runs, band)
        xs = x.get(name) if isinstance(x, Mapping) else x
        xs = np.arange(mean.shape[0]) if xs is None else np.asarray(xs, dtype=float)
        if xs.shape != mean.shape:
            raise RlkitError(f"curve {name!r}: x has {xs.shape[0]} points but the curve has {mean.shape[0]}")
        (line,) = ax.plot(xs, mean, label=str(name), lw=1.4)
        if lo is not None:
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        if points and name in points:
            px, py = points[name]
            label = f"{name}: {points_label}" if len(curves) > 1 else points_label
            ax.plot(np.asarray(px, float), np.asarray(py, float), "o", ms=3.5, color=line.get_color(),
                    mec="black", mew=0.4, label=label)
    if hline is not None:
        ax.axhline(hline, color="0.35", ls="--", lw=1.0, label=hline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
