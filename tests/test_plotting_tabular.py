"""Tabular plots read back from the figures' data: masked cells, patches, lines and their labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.patches import FancyArrow, Rectangle

from rlkit.mdp import load, value_iteration
from rlkit.mdp.report import unreachable_states
from rlkit.plotting import moving_average, returns_figure, step_sizes_figure, values_figure


def special_cells(fig) -> dict[int, str]:
    ax = fig.axes[0]
    out = {}
    for p in ax.patches:
        if isinstance(p, Rectangle) and (p.get_gid() or "").startswith("cell:"):
            _, kind, s = p.get_gid().split(":")
            out[int(s)] = kind
    return out


def test_frozenlake_holes_goal_and_colorbar():
    m = load("gym:FrozenLake-v1", gamma=0.99)
    sol = value_iteration(m, tol=1e-10)
    fig = values_figure(sol.values, grid=m.meta["grid"], grid_map=m.meta["grid_map"], policy=sol.policy,
                        actions=m.actions, terminal=m.terminal, value_label="V*(s)")
    cells = special_cells(fig)
    assert cells == {5: "hole", 7: "hole", 11: "hole", 12: "hole", 15: "goal"}  # SFFF/FHFH/FFFH/HFFG
    rects = {p.get_gid(): p.get_facecolor() for p in fig.axes[0].patches if isinstance(p, Rectangle)}
    assert rects["cell:goal:15"] != rects["cell:hole:5"]
    mask = np.ma.getmaskarray(fig.axes[0].images[0].get_array()).ravel()
    assert sorted(np.flatnonzero(mask)) == sorted(cells)          # no value colour on them
    assert fig.axes[1].get_ylabel() == "V*(s)"                     # the colorbar says what it shows
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrow)]
    assert len(arrows) == 16 - len(cells)                          # one greedy arrow per other cell
    # the colour scale spans the values shown, not the zeros of the holes and the goal
    lo, hi = fig.axes[0].images[0].get_clim()
    shown = np.delete(sol.values, list(cells))
    assert (lo, hi) == pytest.approx((shown.min(), shown.max()))


def test_cliff_cells_are_unreachable_and_drawn_as_cliff():
    m = load("cliff-walking")
    unreach = unreachable_states(m)
    # stepping into the cliff sends the agent back to the start: its cells (bottom row between start
    # and goal, states 37..46) are never occupied; every other cell is reachable
    assert np.flatnonzero(unreach).tolist() == list(range(37, 47))
    sol = value_iteration(m)
    fig = values_figure(sol.values, grid=m.meta["grid"], grid_map=m.meta["grid_map"], policy=sol.policy,
                        actions=m.actions, terminal=m.terminal, unreachable=unreach)
    cells = special_cells(fig)
    assert {s for s, k in cells.items() if k == "cliff"} == set(range(37, 47)) and cells[47] == "goal"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("cliff") == 10
    assert len([p for p in fig.axes[0].patches if isinstance(p, FancyArrow)]) == 48 - 11


def test_terminal_and_unreachable_cells_without_a_map_are_greyed():
    values = np.arange(6.0)
    fig = values_figure(values, grid=(2, 3), terminal=[1, 0, 0, 0, 0, 0], unreachable=[0, 0, 1, 0, 0, 0])
    assert special_cells(fig) == {0: "terminal", 2: "unreachable"}
    assert unreachable_states(load("gridworld-4x4")) is None       # no start distribution: all may start


def test_control_curve_is_smoothed_and_clipped():
    rng = np.random.default_rng(0)
    sarsa = -25 + rng.normal(0, 3, (20, 300))
    sarsa[:, 0] = -1850.0                                           # the first episode on the cliff
    qlearn = -45 + rng.normal(0, 3, (20, 300))
    fig = returns_figure({"sarsa": sarsa, "q-learning": qlearn}, window=10)
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == ["sarsa: mean of 20 run(s)", "sarsa: moving average (10 episodes)",
                      "q-learning: mean of 20 run(s)", "q-learning: moving average (10 episodes)"]
    ymin, ymax = ax.get_ylim()
    assert -80 < ymin < -45 and ymax > -25                           # both curves readable, -1850 clipped off
    assert any("clipped" in t.get_text() and "-1850" in t.get_text() for t in ax.texts)
    smooth = ax.lines[1].get_ydata()
    assert smooth[-1] == pytest.approx(sarsa.mean(axis=0)[-10:].mean())


def test_moving_average_matches_a_convolution():
    y = np.random.default_rng(1).normal(size=50)
    full = np.convolve(y, np.ones(7) / 7, mode="valid")
    assert moving_average(y, 7)[6:] == pytest.approx(full)
    assert moving_average(y, 7)[2] == pytest.approx(y[:3].mean())


def test_step_sizes_overlay_one_line_per_alpha():
    from rlkit.tabular import evaluate_policy, evaluate_policy_sweep

    res = evaluate_policy_sweep("random-walk", method="td", alphas=[0.05, 0.1, 0.15], episodes=30, runs=20,
                                seed=3, init=0.5)
    fig = step_sizes_figure(res)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["td, α = 0.05", "td, α = 0.1", "td, α = 0.15"]
    legend = ax.get_legend()
    assert "95% CI" in legend.get_title().get_text() and "20 runs" in legend.get_title().get_text()
    single = evaluate_policy("random-walk", method="td", alpha=0.1, episodes=30, runs=20, seed=3, init=0.5)
    y = ax.lines[1].get_ydata()
    assert y[0] == pytest.approx(single.rmse_initial) and y[1:] == pytest.approx(single.rmse_curve)


def test_evaluate_policy_alpha_list_cli(cli, tmp_path):
    png = tmp_path / "td.png"
    code, out, err = cli("evaluate-policy", "random-walk", "--alpha", "0.05,0.1,0.15", "--episodes", "20",
                         "--runs", "5", "--seed", "2", "--plot", str(png), "--format", "json")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert [r["params"]["alpha"] for r in results] == [0.05, 0.1, 0.15] and png.is_file()
    code, out1, _ = cli("evaluate-policy", "random-walk", "--alpha", "0.1", "--episodes", "20", "--runs", "5",
                        "--seed", "2", "--format", "json")
    assert json.loads(out1)["rmse"] == pytest.approx(results[1]["rmse"])
    code, out, err = cli("evaluate-policy", "random-walk", "--alpha", "0.1,x")
    assert code == 2 and err.startswith("error: --alpha") and out == ""
    code, out, err = cli("evaluate-policy", "random-walk", "--alpha", "0.1,1.5")
    assert code == 2 and "alpha must be in (0, 1]" in err
