"""Plot content read back from the figures: which series is drawn, its x and y data, and the width
of its band against scipy.stats.t.interval (learning curves) or the exact bootstrap (compare).

The figures are caught just before they are written (``rlkit.plotting._save`` and pyplot's
``close``), so the checks read the matplotlib artists themselves, not the PNG bytes.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from scipy import stats

import rlkit.plotting as plotting
from rlkit.plotting import mean_and_band, plot_curves
from rlkit.runs import plot_runs
from rlkit.runs.rundir import METRICS, write_run_config


@pytest.fixture
def caught(monkeypatch):
    """The figures rlkit.plotting saves (the files are still written)."""
    figs = []
    real = plotting._save

    def spy(fig, path):
        figs.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plotting, "_save", spy)
    return figs


def band_of(ax, k=0):
    """(x, low, high) of the k-th fill_between band: its polygon's lower and upper edges."""
    verts = ax.collections[k].get_paths()[0].vertices
    xs = np.unique(verts[:, 0])
    low = np.array([verts[verts[:, 0] == x, 1].min() for x in xs])
    high = np.array([verts[verts[:, 0] == x, 1].max() for x in xs])
    return xs, low, high


def t_interval(runs):
    """scipy's Student-t 95% interval of the mean over runs, per column (NaNs left out)."""
    lo, hi = [], []
    for col in np.asarray(runs, float).T:
        col = col[~np.isnan(col)]
        a, b = stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=stats.sem(col))
        lo.append(a)
        hi.append(b)
    return np.array(lo), np.array(hi)


RUNS = np.random.default_rng(3).normal(size=(6, 9)).cumsum(axis=1)


def test_mean_and_band_is_scipys_t_interval_and_sample_std():
    mean, lo, hi = mean_and_band(RUNS, "ci95")
    np.testing.assert_allclose(mean, RUNS.mean(axis=0))
    tlo, thi = t_interval(RUNS)
    np.testing.assert_allclose(lo, tlo, rtol=1e-12)
    np.testing.assert_allclose(hi, thi, rtol=1e-12)
    _, slo, shi = mean_and_band(RUNS, "std")
    np.testing.assert_allclose(shi - mean, RUNS.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(mean - slo, RUNS.std(axis=0, ddof=1), rtol=1e-12)


def test_mean_and_band_with_runs_of_different_lengths():
    runs = RUNS.copy()
    runs[0, 5:] = np.nan
    runs[1, 7:] = np.nan                      # the last columns have 4 runs, the first 6
    mean, lo, hi = mean_and_band(runs)
    np.testing.assert_allclose(mean, np.nanmean(runs, axis=0))
    tlo, thi = t_interval(runs)
    np.testing.assert_allclose(lo, tlo, rtol=1e-12)
    np.testing.assert_allclose(hi, thi, rtol=1e-12)
    one = mean_and_band(RUNS[:1])
    assert one[1] is None and one[2] is None   # one run: no band


def test_plot_curves_draws_each_mean_over_its_x_with_the_t_band(caught, tmp_path):
    other = RUNS[:3] * 2 + 1
    x = np.arange(9) * 10.0
    plot_curves({"td": RUNS, "mc": other}, x=x, path=tmp_path / "c.png")
    (fig,) = caught
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["td", "mc"]
    for k, runs in enumerate((RUNS, other)):
        np.testing.assert_allclose(ax.lines[k].get_xdata(), x)
        np.testing.assert_allclose(ax.lines[k].get_ydata(), runs.mean(axis=0))
        bx, lo, hi = band_of(ax, k)
        tlo, thi = t_interval(runs)
        np.testing.assert_allclose(bx, x)
        np.testing.assert_allclose(lo, tlo, rtol=1e-9)
        np.testing.assert_allclose(hi, thi, rtol=1e-9)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _fake_run(path, seed, steps, returns, losses):
    path.mkdir()
    write_run_config(path, {"agent": "reinforce", "env_id": "CartPole-v1", "seed": seed,
                            "total_timesteps": 600, "hyperparams": {}, "policy": None, "run": {}})
    lines = ["timesteps,return_mean,loss"] + [f"{t},{r},{v}" for t, r, v in zip(steps, returns, losses,
                                                                               strict=True)]
    (path / METRICS).write_text("\n".join(lines) + "\n")


def test_rlkit_plot_draws_the_column_asked_for_averaged_over_seeds(cli, caught, tmp_path):
    steps = np.arange(6) * 100
    rets = [np.array([10, 20, 30, 40, 50, 60.0]), np.array([12, 18, 36, 44, 58, 70.0])]
    losses = [np.array([5, 4, 3, 2, 1, 0.5]), np.array([6, 5, 1, 2.5, 3, 1.5])]
    for s in range(2):
        _fake_run(tmp_path / f"r{s}", s, steps, rets[s], losses[s])
    runs = [str(tmp_path / "r0"), str(tmp_path / "r1")]
    for y, data in (("return_mean", rets), ("loss", losses)):
        caught.clear()
        code, _, err = cli("plot", *runs, "--y", y, "--out", str(tmp_path / f"{y}.png"))
        assert code == 0, err
        ax = caught[0].axes[0]
        threshold = ["threshold 475"] if y == "return_mean" else []  # the env's line, returns only
        assert [ln.get_label() for ln in ax.lines] == ["reinforce CartPole-v1 (n=2)", *threshold]
        np.testing.assert_allclose(ax.lines[0].get_xdata(), steps)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), (data[0] + data[1]) / 2)
        _, lo, hi = band_of(ax)
        tlo, thi = t_interval(np.stack(data))          # n = 2: t(0.975, 1) = 12.71 standard errors
        np.testing.assert_allclose(lo, tlo, rtol=1e-9)
        np.testing.assert_allclose(hi, thi, rtol=1e-9)
    plot_runs(runs[:1], tmp_path / "one.png", y="loss")
    ax = caught[-1].axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), losses[0])
    assert len(ax.collections) == 0                      # one run: no band


def test_compare_curves_png_draws_the_seed_mean_and_the_bootstrap_band(monkeypatch, tmp_path):
    """Two seeds a < b: the bootstrap distribution of the mean is a, (a+b)/2, b with probabilities
    1/4, 1/2, 1/4, so the 95% percentile band is exactly [a, b]."""
    from matplotlib.figure import Figure
    from test_blind_summary import fake

    compare_mod = importlib.import_module("rlkit.experiments.compare")
    closed = []
    real_savefig = Figure.savefig

    def spy(self, *args, **kwargs):  # the figure compare writes (it builds it without pyplot)
        closed.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    a = fake(0, [10, 30, 80], times=[0.0, 1.0, 2.0])
    b = fake(1, [20, 50, 60], times=[0.0, 3.0, 4.0])
    c = fake(0, [5, 5, 5], agent="sb3-ppo", times=[0.0, 1.0, 2.0])
    compare_mod.plot_compare([a, b, c], tmp_path / "curves.png", {"CartPole-v1": 70.0})
    (fig,) = closed
    steps_ax, time_ax = fig.axes[:2]
    labels = [ln.get_label() for ln in steps_ax.lines]
    assert labels == ["reinforce (n=2)", "sb3-ppo (n=1)", "reward threshold"]
    np.testing.assert_allclose(steps_ax.lines[0].get_xdata(), [0, 100, 200])
    np.testing.assert_allclose(steps_ax.lines[0].get_ydata(), [15, 40, 70])
    np.testing.assert_allclose(steps_ax.lines[1].get_ydata(), [5, 5, 5])
    np.testing.assert_allclose(steps_ax.lines[2].get_ydata(), [70, 70])
    _, lo, hi = band_of(steps_ax, 0)
    np.testing.assert_allclose(lo, [10, 30, 60])
    np.testing.assert_allclose(hi, [20, 50, 80])
    # over training time: each seed's last evaluation at t (a step function), times 0, 1, 2, 3, 4
    np.testing.assert_allclose(time_ax.lines[0].get_xdata(), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(time_ax.lines[0].get_ydata(), [15, 25, 50, 65, 70])
