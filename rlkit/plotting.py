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

__all__ = [
    "ARROWS", "CELL_KINDS", "action_direction", "cell_kinds", "mean_and_band", "moving_average",
    "new_figure",
    "plot_curves", "plot_returns", "plot_step_sizes", "plot_values", "returns_figure", "robust_limits",
    "step_sizes_figure",
    "values_figure",
]

#: (dx, dy) on the page (y up) for the action names rlkit and Gymnasium use.
ARROWS: dict[str, tuple[float, float]] = {
    "left": (-1, 0), "right": (1, 0), "up": (0, 1), "down": (0, -1),
    "west": (-1, 0), "east": (1, 0), "north": (0, 1), "south": (0, -1),
    "l": (-1, 0), "r": (1, 0), "u": (0, 1), "d": (0, -1),
}


def action_direction(name: str) -> tuple[float, float] | None:
    """The page direction of an action name (``"left"``, ``"north"`` ...), or None."""
    return ARROWS.get(str(name).strip().lower())


def new_figure(figsize: tuple[float, float]):
    """A :class:`matplotlib.figure.Figure` on its own Agg canvas: drawn and saved without pyplot, so
    neither a display nor the caller's backend (a notebook's inline one) is touched."""
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
                terminal: Any = None, unreachable: Any = None, value_label: str = "value",
                cmap: str = "viridis") -> Path:
    """Plot state values: a heatmap with policy arrows for a grid, a bar chart otherwise.

    :param values: (S,) state values (or any per-state quantity, e.g. a stationary distribution).
    :param grid: (rows, cols) for a grid MDP (state index ``row * cols + col``); None for a bar chart.
    :param policy: (S,) action indices or (S, A) probabilities; arrows (grid: one per action with
        probability > 0, length proportional to it) or labels above the bars (few states).
    :param actions: action names; ``left/right/up/down`` and ``north/south/east/west`` become
        arrows, other names are written in the cell.
    :param title: figure title.
    :param path: PNG file to write.
    :param grid_map: rows of cell letters (FrozenLake-style): walls (``W``/``#``), holes (``H``),
        the goal (``G``) and cliff cells (``C``) are drawn in colours of their own, without a value.
    :param states: state names for the bar chart's ticks.
    :param terminal: bool (S,) of terminal states: greyed out, no value colour, no arrows.
    :param unreachable: bool (S,) of states no episode can visit: greyed out too.
    :param value_label: what the colour bar (or the bar chart's y axis) shows, e.g. ``"V*(s)"``.
    :param cmap: matplotlib colour map of the heatmap.
    :return: the path written.
    """
    return _save(values_figure(values, grid=grid, policy=policy, actions=actions, title=title,
                               grid_map=grid_map, states=states, terminal=terminal, unreachable=unreachable,
                               value_label=value_label, cmap=cmap), path)


def _state_mask(mask: Any, S: int, name: str) -> np.ndarray:
    out = np.zeros(S, bool) if mask is None else np.asarray(mask, bool).ravel()
    if out.shape != (S,):
        raise RlkitError(f"{name} must have {S} entries, got {out.shape}")
    return out


def values_figure(values: Any, *, grid: tuple[int, int] | None = None, policy: Any = None,
                  actions: Sequence[str] | None = None, title: str | None = None,
                  grid_map: Sequence[str] | None = None, states: Sequence[str] | None = None,
                  terminal: Any = None, unreachable: Any = None, value_label: str = "value",
                  cmap: str = "viridis"):
    """The :class:`matplotlib.figure.Figure` that :func:`plot_values` writes (same parameters)."""
    v = np.asarray(values, dtype=float).ravel()
    S = v.shape[0]
    A = len(actions) if actions is not None else None
    pi = _policy_matrix(policy, S, A)
    term = _state_mask(terminal, S, "terminal")
    unreach = _state_mask(unreachable, S, "unreachable")
    if grid is not None:
        rows, cols = (int(x) for x in grid)
        if rows * cols != S:
            raise RlkitError(f"grid {rows}x{cols} has {rows * cols} cells but there are {S} values")
        return _grid_figure(v, rows, cols, pi, actions, title, grid_map, term, unreach, value_label, cmap)
    return _bars_figure(v, pi, actions, title, states, term, value_label)


#: cell kind -> (face colour, label written in the cell) of the cells a value heatmap does not colour.
#: Colours outside viridis' purple-blue-green-yellow, so that no value is mistaken for them.
CELL_KINDS: dict[str, tuple[str, str]] = {
    "wall": ("#8c8c8c", ""),
    "hole": ("#2b2b2b", "hole"),
    "cliff": ("#7b4a2d", "cliff"),
    "goal": ("#d62728", "goal"),
    "terminal": ("#b9b9b9", "terminal"),
    "unreachable": ("#e3e3e3", "unreachable"),
}
_LETTER_KINDS = {"W": "wall", "#": "wall", "H": "hole", "C": "cliff", "G": "goal"}


def cell_kinds(S: int, cols: int, grid_map: Sequence[str] | None, terminal: np.ndarray,
               unreachable: np.ndarray) -> list[str | None]:
    """Per state: the kind of cell drawn without a value colour (see :data:`CELL_KINDS`), or None."""
    rows = S // cols
    letters = None
    if grid_map is not None:
        letters = [str(r) for r in grid_map]
        if len(letters) != rows or any(len(r) != cols for r in letters):
            letters = None
    kinds: list[str | None] = []
    for s in range(S):
        r, c = divmod(s, cols)
        kind = _LETTER_KINDS.get(letters[r][c]) if letters is not None else None
        if kind is None and terminal[s]:
            kind = "terminal"
        if kind is None and unreachable[s]:
            kind = "unreachable"
        kinds.append(kind)
    return kinds


def _grid_figure(v, rows, cols, pi, actions, title, grid_map, term, unreach, value_label, cmap):
    import matplotlib
    from matplotlib.patches import Patch, Rectangle

    kinds = cell_kinds(rows * cols, cols, grid_map, term, unreach)
    special = np.array([k is not None for k in kinds])
    img = np.ma.masked_array(v.reshape(rows, cols), mask=special.reshape(rows, cols) | ~np.isfinite(
        v.reshape(rows, cols)))
    fig = new_figure((max(4.5, 0.9 * cols + 2.0), max(3.4, 0.9 * rows + 1.4)))
    ax = fig.add_subplot(1, 1, 1)
    try:
        colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    except KeyError:
        raise RlkitError(f"unknown colour map {cmap!r}") from None
    shown = v[~special & np.isfinite(v)]
    lo, hi = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    im = ax.imshow(img, cmap=colormap, origin="upper", vmin=lo, vmax=hi)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(value_label)
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    mid = (lo + hi) / 2
    small = rows * cols <= 150
    for s in range(rows * cols):
        r, c = divmod(s, cols)
        kind = kinds[s]
        if kind is not None:
            face, label = CELL_KINDS[kind]
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor="white", lw=0.5,
                                   gid=f"cell:{kind}:{s}"))
            if small and label and cols <= 16:
                ax.text(c, r, label, ha="center", va="center", fontsize=6.5,
                        color="white" if kind in ("hole", "cliff", "goal", "wall") else "#444444")
            continue
        colour = "black" if v[s] > mid else "white"
        if small:
            ax.text(c, r + 0.3, f"{v[s]:.3g}", ha="center", va="center", fontsize=7, color=colour)
        if pi is None:
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
    present = [k for k in CELL_KINDS if k in kinds]
    if present:
        ax.legend(handles=[Patch(facecolor=CELL_KINDS[k][0], edgecolor="#999999", label=k) for k in present],
                  loc="upper center", bbox_to_anchor=(0.5, -0.14 if rows > 2 else -0.3), ncol=len(present),
                  fontsize=7, frameon=False)
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, width=int(fig.get_figwidth() * 9))), fontsize=10)
    return fig


def _bars_figure(v, pi, actions, title, states, term, value_label):
    S = v.shape[0]
    fig = new_figure((min(14.0, max(5.0, 0.35 * S + 2)) if S <= 60 else 8.0, 4.0))
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
    ax.set_ylabel(value_label)
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
    return fig


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
    fig = new_figure((7.0, 4.2))
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


# ---------------------------------------------------------------------------------------------
# Tabular learning: returns per episode (control) and RMS error per step size (prediction)
# ---------------------------------------------------------------------------------------------

def moving_average(y: Any, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` points (fewer at the start, where there are fewer).

    >>> moving_average([1.0, 3.0, 5.0, 7.0], 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    y = np.asarray(y, dtype=float)
    window = max(int(window), 1)
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, y.shape[0] + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def robust_limits(values: Any, *, low: float = 2.0, high: float = 100.0,
                  pad: float = 0.05) -> tuple[float, float]:
    """y limits from percentiles of ``values`` (NaNs ignored), padded by ``pad`` of the range, so
    that a few extreme points (the first episodes on the cliff) do not flatten everything else."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(np.percentile(v, low)), float(np.percentile(v, high))
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - pad * span, hi + pad * span


def returns_figure(curves: Mapping[str, Any], *, title: str | None = None, window: int | None = None,
                   ylabel: str = "sum of rewards in the episode", clip: bool = True):
    """Sum of rewards per episode of control runs: the raw mean over runs (faint), its moving average
    with the 95% confidence band of the mean over runs, and a y axis clipped to where most episodes
    lie (the clipping is said on the figure).

    :param curves: name -> (runs, episodes) sums of rewards (``ControlResult.returns_runs``).
    :param title: figure title.
    :param window: episodes of the moving average (default: episodes / 50, at least 1).
    :param ylabel: y-axis label.
    :param clip: clip the y axis to the 2nd percentile of the raw means (and above).
    """
    if not curves:
        raise RlkitError("returns_figure needs at least one curve")
    fig = new_figure((7.5, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    raw_all = []
    for name, runs in curves.items():
        arr = np.atleast_2d(np.asarray(runs, dtype=float))
        mean, lo, hi = mean_and_band(arr, "ci95")
        E = mean.shape[0]
        w = window or max(E // 50, 1)
        x = np.arange(1, E + 1)
        (line,) = ax.plot(x, mean, lw=0.7, alpha=0.35, label=f"{name}: mean of {arr.shape[0]} run(s)")
        smooth = moving_average(mean, w)
        ax.plot(x, smooth, lw=1.8, color=line.get_color(), label=f"{name}: moving average ({w} episodes)")
        if lo is not None:
            ax.fill_between(x, moving_average(lo, w), moving_average(hi, w), color=line.get_color(),
                            alpha=0.18, lw=0)
        raw_all.append(mean)
    raw = np.concatenate(raw_all)
    if clip:
        ymin, ymax = robust_limits(raw)
        ax.set_ylim(ymin, ymax)
        if np.nanmin(raw) < ymin:
            ax.text(0.99, 0.02, f"y axis clipped; lowest episode mean: {np.nanmin(raw):.4g}",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#555555")
    ax.set_xlabel("episode")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title="band: 95% CI of the mean over runs", title_fontsize=7)
    return fig


def plot_returns(curves: Mapping[str, Any], *, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`returns_figure` to a PNG (``rlkit control --plot``); returns the path."""
    return _save(returns_figure(curves, **kwargs), path)


def step_sizes_figure(results: Sequence[Any], *, title: str | None = None):
    """RMS error per episode of prediction runs, one line per step size, labelled with its α, with the
    95% confidence band of the mean over runs (S&B Figure 6.2 from one call).

    :param results: :class:`rlkit.tabular.PredictionResult` objects with ``rmse_runs`` (a model);
        episode 0 is the error of the initial values.
    :param title: figure title (default: method, source and number of runs).
    """
    results = [r for r in results if r.rmse_runs is not None]
    if not results:
        raise RlkitError("no RMS error to plot: the spec has no model to compare the estimates with")
    fig = new_figure((7.0, 4.3))
    ax = fig.add_subplot(1, 1, 1)
    for res in results:
        runs = np.hstack([np.full((res.runs, 1), res.rmse_initial), res.rmse_runs])
        mean, lo, hi = mean_and_band(runs, "ci95")
        x = np.arange(runs.shape[1])
        alpha = res.params.get("alpha")
        label = f"{res.method}, α = {alpha:g}" if alpha is not None else f"{res.method}, sample averages"
        (line,) = ax.plot(x, mean, lw=1.5, label=label)
        if lo is not None:
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
    first = results[0]
    band = f"band: 95% CI of the mean over {first.runs} runs" if first.runs > 1 else "one run: no band"
    ax.set_xlabel("episodes")
    ax.set_ylabel("RMS error over non-terminal states")
    ax.set_title(title or f"{first.method} on {first.info.get('source', '')}: RMS error, "
                 f"mean over {first.runs} run(s)", fontsize=10)
    ax.set_xlim(0, x[-1])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=band, title_fontsize=7)
    return fig


def plot_step_sizes(results: Sequence[Any], *, path: str | Path, title: str | None = None) -> Path:
    """Write :func:`step_sizes_figure` to a PNG (``rlkit evaluate-policy --plot``); returns the path."""
    return _save(step_sizes_figure(results, title=title), path)
