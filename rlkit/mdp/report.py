"""Solve a spec and report: the library side of ``rlkit solve-mdp``.

:func:`solve` loads a spec (:func:`rlkit.mdp.io.load`), solves it and returns a :class:`SolveReport`:

* an MDP: optimal values, action values and a greedy policy (``method`` picks the solver), or the
  values of a given policy (``policy="uniform"`` or a policy file);
* an MRP: its values (exact linear solve, or iterative evaluation);
* a Markov chain: classification of its states, stationary distribution(s), absorption
  probabilities and expected steps to absorption.

:meth:`SolveReport.to_dict` is the ``--format json`` object, :func:`render` the terminal table (grids
drawn as a grid with arrows), :meth:`SolveReport.plot` the PNG.

Example::

    >>> from rlkit.mdp.report import solve
    >>> rep = solve("student-mdp")
    >>> rep.values.tolist(), [rep.model.actions[a] for a in rep.policy[:4]]
    ([6.0, 6.0, 8.0, 10.0, 0.0], ['quit', 'study', 'study', 'study'])
    >>> {"kind", "values", "q", "policy", "converged"} <= set(rep.to_dict())
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import RlkitError
from rlkit.mdp.formats import load
from rlkit.mdp.formats.base import model_kind
from rlkit.mdp.models import MDP, MarkovChain
from rlkit.mdp.policy_files import load_policy
from rlkit.mdp.solution import Solution

__all__ = ["METHODS", "SolveReport", "render", "render_text", "solve", "solve_model"]

#: Methods of ``rlkit solve-mdp --method``. ``exact`` is policy iteration with exact (linear-solve)
#: evaluation for an MDP and the linear solve for an MRP or a policy's values; ``lp`` the linear
#: program (discounted MDPs). Under ``--criterion average``: ``exact``/``policy-iteration`` is
#: average-reward policy iteration, ``value-iteration``/``relative-value-iteration`` relative VI.
METHODS = ("exact", "policy-iteration", "value-iteration", "modified-policy-iteration", "gauss-seidel", "lp",
           "relative-value-iteration")

#: ``--criterion``: discounted (or total) reward, or average reward per step.
CRITERIA = ("discounted", "average")


@dataclass
class SolveReport:
    """What :func:`solve` found.

    :param spec: the spec as given (a catalog name, a path, ``gym:<EnvId>``).
    :param model: the loaded model.
    :param kind: ``"chain"``, ``"mrp"`` or ``"mdp"``.
    :param method: the method asked for.
    :param solution: the solver's :class:`Solution` (None for a chain).
    :param values: state values (None for a chain).
    :param q: action values (MDP), with NaN for unavailable actions (:attr:`~rlkit.mdp.MDP.action_mask`).
    :param policy: MDP: the optimal greedy policy, the evaluated deterministic policy, or (for a
        stochastic evaluated policy) the greedy policy of its action values; available actions only.
    :param evaluated: None when optimising, else what was evaluated (``"uniform"`` or the file).
    :param chain: for a chain: classification, recurrent classes, stationary distributions,
        absorption probabilities, expected steps (see :func:`_chain_analysis`).
    :param seconds: wall time of the solve (loading excluded).
    """

    spec: str
    model: Any
    kind: str
    method: str
    solution: Solution | None = None
    values: np.ndarray | None = None
    q: np.ndarray | None = None
    policy: np.ndarray | None = None
    evaluated: str | None = None
    chain: dict[str, Any] | None = None
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    criterion: str = "discounted"
    horizon: int | None = None

    @property
    def gamma(self) -> float | None:
        if self.kind == "chain" or self.criterion == "average":
            return None
        return float(self.model.gamma)

    @property
    def start_value(self) -> float | None:
        """Expected value of the model's start distribution (:attr:`~rlkit.mdp.MDP.start`), if it has
        one."""
        mu = self.model.start
        if mu is None or self.values is None or self.criterion == "average":
            return None
        return float(np.dot(np.asarray(mu, dtype=float), self.values))

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` object: ``kind``, ``spec``, ``states``, ``actions`` (MDP), ``gamma``,
        ``method``, ``solver``, ``values``, ``q`` (S lists of A floats, null for an unavailable
        action), ``policy`` (action indices), ``policy_names``, ``evaluated``, ``iterations``,
        ``residual``, ``converged``, ``seconds``, ``start_value``, ``criterion``; a chain adds its
        analysis. ``--criterion average`` adds ``gain`` and ``bias`` (``values`` is the bias);
        ``--horizon N`` holds ``values`` and ``q`` at t = 0 and ``policy`` (and ``policy_names``) as
        N lists, one per step t = 0 .. N-1."""
        sol = self.solution
        out: dict[str, Any] = {
            "kind": self.kind,
            "spec": self.spec,
            "states": list(self.model.states),
        }
        if self.kind == "mdp":
            out["actions"] = list(self.model.actions)
        out["gamma"] = self.gamma
        out["method"] = self.method
        out["solver"] = sol.method if sol is not None else "exact"
        out["values"] = None if self.values is None else [float(x) for x in self.values]
        out["criterion"] = self.criterion
        if self.kind == "mdp":
            out["q"] = [[None if np.isnan(x) else float(x) for x in row] for row in self.q]
            if self.horizon is not None:
                stages = self.info["stage_policies"]
                out["horizon"] = self.horizon
                out["policy"] = [[int(a) for a in row] for row in stages]
                out["policy_names"] = [[self.model.actions[a] for a in row] for row in stages]
            else:
                out["policy"] = [int(a) for a in self.policy]
                out["policy_names"] = [self.model.actions[a] for a in self.policy]
            out["evaluated"] = self.evaluated
            if self.model.action_mask is not None:
                out["action_mask"] = self.model.action_mask.tolist()
        out["iterations"] = int(sol.iterations) if sol is not None else 0
        out["residual"] = float(sol.residual) if sol is not None else 0.0
        out["converged"] = bool(sol.converged) if sol is not None else True
        out["seconds"] = float(self.seconds)
        if self.kind != "chain":
            out["terminal"] = [bool(t) for t in self.model.terminal]
            out["start_value"] = self.start_value
        if sol is not None and "stop" in sol.info:
            out["stop"] = str(sol.info["stop"])
        if sol is not None and sol.gain is not None:
            out["gain"] = float(sol.gain)
            out["bias"] = [float(x) for x in sol.bias]
        if self.chain is not None:
            out.update(self.chain)
        return out

    def plot(self, path: str | Path) -> Path:
        """Write the PNG: a value heatmap with policy arrows for a grid, a bar chart otherwise (a chain:
        its stationary distribution, or the expected steps to absorption)."""
        from rlkit.plotting import plot_values

        model = self.model
        name = model.name or self.spec
        if self.kind == "chain":
            stat = np.asarray(self.chain["stationary"])
            if len(stat) == 1:
                vals, what = stat[0], "stationary distribution"
            else:
                vals, what = np.asarray(self.chain["expected_steps"]), "expected steps to absorption"
            return plot_values(vals, grid=model.grid, grid_map=model.grid_map,
                               states=self.model.states, title=f"{name}: {what}", path=path)
        what = "V*" if self.evaluated is None else f"V of policy {self.evaluated}"
        title = f"{name}: {what}" + (f" (gamma={self.gamma:g})" if self.gamma is not None else "") + \
            (" and its greedy policy" if self.kind == "mdp" else "")
        return plot_values(
            self.values, grid=model.grid or model.meta.get("value_shape"), grid_map=model.grid_map,
            policy=self.policy if self.kind == "mdp" else None,
            actions=self.model.actions if self.kind == "mdp" else None, states=self.model.states,
            terminal=self.model.terminal, unreachable=unreachable_states(self.model), title=title,
            value_label=f"{what}(s)" if self.evaluated is None else "V(s)", path=path,
        )


def unreachable_states(model: Any) -> np.ndarray | None:
    """States that no episode can visit from the model's start distribution, whatever the actions,
    bool (S,); None when the model has no start distribution (every state may start)."""
    return None if model.start is None else ~model.reachable()


def _opts(tol: float | None, max_iter: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tol is not None:
        out["tol"] = float(tol)
    if max_iter is not None:
        out["max_iter"] = int(max_iter)
    return out


def _chain_analysis(chain: MarkovChain) -> dict[str, Any]:
    states = chain.states
    classes = chain.recurrent_classes()
    out: dict[str, Any] = {
        "classification": chain.classify(),
        "recurrent_classes": [[states[i] for i in c] for c in classes],
        "stationary": chain.stationary_distributions().tolist(),
    }
    kinds = out["classification"]
    if "transient" in kinds:
        out["absorption"] = chain.absorption_probabilities().tolist()
        out["expected_steps"] = chain.expected_steps_to_absorption().tolist()
    else:
        out["absorption"] = None
        out["expected_steps"] = [0.0] * chain.n_states
    return out


def _check_options(kind: str, method: str, criterion: str, horizon: Any, policy: Any, device: Any,
                   spec: str) -> int | None:
    """The combinations of options that make no sense, refused before any work (``--horizon``
    returned as an int)."""
    if method not in METHODS:
        raise RlkitError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    if criterion not in CRITERIA:
        raise RlkitError(f"unknown criterion {criterion!r}; criteria: {', '.join(CRITERIA)}")
    if horizon is not None:
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or int(horizon) < 1:
            raise RlkitError(f"--horizon must be a positive number of steps, got {horizon!r}")
        horizon = int(horizon)
        if kind != "mdp":
            raise RlkitError(f"--horizon needs an MDP; {spec} is a {kind}")
        if criterion == "average" or policy is not None or method not in ("exact", "policy-iteration"):
            raise RlkitError("--horizon solves by backward induction: it takes no --criterion average, "
                             "--policy or --method")
    if criterion == "average":
        if kind == "chain":
            raise RlkitError(f"{spec} is a Markov chain: it has no rewards, so no average reward")
        if method in ("modified-policy-iteration", "gauss-seidel", "lp"):
            raise RlkitError(f"--method {method} does not apply to --criterion average; use policy-iteration "
                             "or relative-value-iteration")
    elif method == "relative-value-iteration":
        raise RlkitError("--method relative-value-iteration is for --criterion average")
    if method == "lp" and (kind != "mdp" or policy is not None):
        raise RlkitError("--method lp solves an MDP for its optimal values (no --policy, no MRP)")
    if device not in (None, "cpu") and (method not in ("value-iteration", "modified-policy-iteration")
                                        or policy is not None or criterion == "average"):
        raise RlkitError(f"--device {device} runs value-iteration and modified-policy-iteration (optimal "
                         "values, discounted); use --device cpu for the other methods")
    return horizon


def solve_model(model: Any, *, method: str = "exact", policy: Any = None, tol: float | None = None,
                max_iter: int | None = None, spec: str = "<model>", criterion: str = "discounted",
                horizon: int | None = None, threads: int | None = None,
                device: str | None = None) -> SolveReport:
    """Solve a loaded model (see :func:`solve`)."""
    from rlkit.mdp import dp
    from rlkit.mdp.exact import resolve_threads, solve_mrp

    kind = model_kind(model)
    horizon = _check_options(kind, method, criterion, horizon, policy, device, spec)
    threads = resolve_threads(threads)
    if device not in (None, "cpu"):
        dp._torch_device(device)                  # no CUDA: say so before any work
    opts = _opts(tol, max_iter)
    t0 = time.perf_counter()
    if kind == "chain":
        if policy is not None:
            raise RlkitError(f"{spec} is a Markov chain: it has no actions, so no policy to evaluate")
        analysis = _chain_analysis(model)
        return SolveReport(spec=spec, model=model, kind=kind, method="exact", chain=analysis,
                           seconds=time.perf_counter() - t0)
    if kind == "mrp":
        if policy is not None:
            raise RlkitError(f"{spec} is a Markov reward process: it has no actions, so no policy to "
                             "evaluate")
        one = model.as_mdp()
        zero = np.zeros(model.n_states, dtype=np.int64)
        if criterion == "average":
            sol = dp.evaluate_average(one, zero, what="the process")
        elif method == "exact" or method == "policy-iteration":
            sol = solve_mrp(model, threads=threads)
        else:
            sol = dp.evaluate(one, zero, method="iterative", threads=threads, **opts)
        sol.q, sol.policy = None, None
        return SolveReport(spec=spec, model=model, kind=kind, method=method, solution=sol, values=sol.values,
                           seconds=time.perf_counter() - t0, criterion=criterion)

    mdp: MDP = model
    evaluated = None
    info: dict[str, Any] = {}
    if policy is not None:
        evaluated = str(policy) if isinstance(policy, (str, Path)) else "given"
        pi = load_policy(policy, mdp)
        if criterion == "average":
            if np.ndim(pi) != 1:
                raise RlkitError("--criterion average evaluates deterministic policies only (one action per "
                                 "state)")
            sol = dp.evaluate_average(mdp, pi, what=f"policy {evaluated}")
        else:
            eval_method = "exact" if method in ("exact", "policy-iteration") else "iterative"
            eval_opts = opts if eval_method == "iterative" else {}
            sol = dp.evaluate(mdp, pi, method=eval_method, threads=threads, **eval_opts)
        chosen = np.asarray(pi) if np.ndim(pi) == 1 else mdp.greedy(sol.q)
    else:
        if horizon is not None:
            sol = dp.backward_induction(mdp, horizon)
            info["stage_policies"] = sol.info["stage_policies"]
        elif criterion == "average":
            if method in ("exact", "policy-iteration"):
                sol = dp.policy_iteration_average(mdp, **({"max_iter": opts["max_iter"]} if "max_iter" in opts
                                                          else {}))
            else:
                sol = dp.relative_value_iteration(mdp, threads=threads, **opts)
        elif method in ("exact", "policy-iteration"):
            sol = dp.policy_iteration(mdp, threads=threads,
                                      **({"max_iter": opts["max_iter"]} if "max_iter" in opts else {}))
        elif method == "lp":
            sol = dp.linear_programming(mdp)
        elif method == "value-iteration":
            sol = dp.value_iteration(mdp, threads=threads, device=device, **opts)
        elif method == "modified-policy-iteration":
            sol = dp.modified_policy_iteration(mdp, threads=threads, device=device, **opts)
        else:
            sol = dp.gauss_seidel(mdp, **opts)
        chosen = sol.policy if horizon is not None else mdp.greedy(sol.q)
    q = np.where(mdp.available_actions(), sol.q, np.nan)
    info["deterministic"] = policy is None or np.ndim(pi) == 1
    return SolveReport(spec=spec, model=mdp, kind=kind, method=method, solution=sol, values=sol.values, q=q,
                       policy=np.asarray(chosen, dtype=np.int64), evaluated=evaluated,
                       seconds=time.perf_counter() - t0, info=info, criterion=criterion, horizon=horizon)


def solve(spec: Any, *, gamma: float | None = None, method: str = "exact", policy: Any = None,
          tol: float | None = None, max_iter: int | None = None, env_kwargs: dict | None = None,
          criterion: str = "discounted", horizon: int | None = None, threads: int | None = None,
          device: str | None = None) -> SolveReport:
    """Load ``spec`` and solve it: what ``rlkit solve-mdp`` does.

    :param spec: a catalog name, a ``.yaml``/``.json``/``.npz`` path, ``gym:<EnvId>`` or a model.
    :param gamma: discount overriding the spec's (not with ``criterion="average"``).
    :param method: one of :data:`METHODS`.
    :param policy: None to optimise; ``"uniform"`` (over each state's available actions), a policy
        file (see :func:`rlkit.mdp.io.load_policy`) or an array, to evaluate that policy.
    :param tol: accuracy of the iterative methods (value iteration, modified PI, Gauss-Seidel,
        iterative evaluation); solver default if None.
    :param max_iter: iteration limit; solver default if None.
    :param env_kwargs: parameters of the spec (see :func:`rlkit.mdp.io.load`).
    :param criterion: ``"discounted"`` (the spec's gamma; 1 for episodic models) or ``"average"``
        (average reward per step of a unichain model: gain and bias).
    :param horizon: a finite number of steps: backward induction (values at t = 0, one policy per step).
    :param threads: threads of the sparse products (None: all cores; results do not depend on it).
    :param device: ``"cpu"`` or ``"cuda"`` (value iteration and modified PI on a GPU).
    :return: :class:`SolveReport`.

    Example::

        >>> from rlkit.mdp.report import solve
        >>> rep = solve("gym:FrozenLake-v1", gamma=0.99, method="value-iteration")
        >>> round(rep.start_value, 3), rep.solution.converged
        (0.542, True)
    """
    from rlkit.mdp.exact import resolve_threads

    resolve_threads(threads)
    if criterion == "average" and gamma is not None:
        raise RlkitError("--criterion average takes no --gamma: the average reward per step is not "
                         "discounted")
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer))
                                or int(horizon) < 1):
        raise RlkitError(f"--horizon must be a positive number of steps, got {horizon!r}")
    model = load(spec, gamma=gamma, env_kwargs=env_kwargs)
    name = spec if isinstance(spec, (str, Path)) else (model.name or "<model>")
    return solve_model(model, method=method, policy=policy, tol=tol, max_iter=max_iter, spec=str(name),
                       criterion=criterion, horizon=horizon, threads=threads, device=device)


# ------------------------------------------------------------------------------------------------
# terminal output
# ------------------------------------------------------------------------------------------------

_ARROW_TEXT = {"left": "←", "right": "→", "up": "↑", "down": "↓", "west": "←", "east": "→", "north": "↑",
               "south": "↓"}


def _fmt(x: float | None, digits: int = 4) -> str:
    """Values in a table: 4 significant digits, no negative zero, a dash for a missing one."""
    if x is None or np.isnan(x):
        return "—"
    x = float(x) + 0.0
    if abs(x) < 5e-13:
        return "0"
    return f"{x:.{digits}g}"


def _header(rep: SolveReport) -> str:
    from rich.markup import escape

    m = rep.model
    name = escape(str(m.name or rep.spec))
    if rep.kind == "chain":
        return f"[bold]{name}[/bold]: Markov chain, {m.n_states} states"
    size = f"{m.n_states} states" + (f", {m.n_actions} actions" if rep.kind == "mdp" else "")
    what = {"mrp": "Markov reward process", "mdp": "MDP"}[rep.kind]
    if rep.criterion == "average":
        return f"[bold]{name}[/bold]: {what}, {size}, average reward per step"
    horizon = f", horizon {rep.horizon} steps" if rep.horizon is not None else ""
    return f"[bold]{name}[/bold]: {what}, {size}, gamma = {m.gamma:g}{horizon}"


def _summary(rep: SolveReport) -> str:
    sol = rep.solution
    if sol is None:
        return f"exact analysis in {rep.seconds:.3g} s"
    task = "optimal values" if rep.kind == "mdp" and rep.evaluated is None else (
        f"values of policy {rep.evaluated}" if rep.evaluated else "values")
    method = rep.method if rep.method == sol.method else f"{rep.method} ({sol.method})"
    status = "converged" if sol.converged else "[red]NOT converged[/red]"
    its = f" after {sol.iterations} iteration{'s' if sol.iterations != 1 else ''}" if sol.iterations else ""
    line = (f"{task} by {method}: {status}{its}, residual {sol.residual:.3g}, {rep.seconds:.3g} s")
    if sol.gain is not None:
        line += (f"\ngain (average reward per step): {_fmt(sol.gain, 6)}; the value column is the bias h "
                 "(mean 0 under the policy's stationary distribution)")
    if rep.horizon is not None:
        line += (f"\nvalues and actions at t = 0 of {rep.horizon} steps; the actions of every step "
                 "t = 0 .. N-1 are in --format json (policy\\[t])")
    if rep.start_value is not None:
        line += f"\nvalue of the start distribution: {_fmt(rep.start_value)}"
    return line


def _grid_table(rep: SolveReport):
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    m = rep.model
    rows, cols = m.grid
    letters = m.grid_map
    narrow = cols > 6  # arrow and value on two lines so that wide grids fit a terminal
    table = Table(show_header=False, show_lines=True, box=box.SQUARE, padding=(0, 1))
    for _ in range(cols):
        table.add_column(justify="center")
    for r in range(rows):
        cells = []
        for c in range(cols):
            s = r * cols + c
            letter = letters[r][c] if letters is not None and len(letters) == rows else ""
            if letter in ("W", "#"):
                cells.append("[dim]█████[/dim]")
                continue
            value = _fmt(rep.values[s], 3 if narrow else 4)
            sep = "\n" if narrow else " "
            if m.terminal[s]:
                cells.append(f"[dim]{letter or '■'}{sep}{value}[/dim]")
                continue
            if rep.kind == "mdp":
                name = m.actions[rep.policy[s]]
                arrow = _ARROW_TEXT.get(name, escape(name))
                prefix = f"{letter} " if letter in ("S", "C") else ""
                cells.append(f"{prefix}[bold]{arrow}[/bold]{sep}{value}")
            else:
                cells.append(value)
        table.add_row(*cells)
    return table


def _state_table(rep: SolveReport, max_rows: int):
    from rich.markup import escape
    from rich.table import Table

    m = rep.model
    S = m.n_states
    table = Table(show_lines=False)
    table.add_column("state", style="bold")
    if rep.kind == "chain":
        ch = rep.chain
        table.add_column("class")
        stat, heads, absorb = ch["stationary"], ch["recurrent_classes"], ch["absorption"]
        # stationary distributions worth a column: the only one, or those of classes of several states
        shown = [k for k in range(len(stat)) if len(stat) == 1 or len(heads[k]) > 1][:3]
        for k in shown:
            table.add_column("stationary" if len(stat) == 1 else f"stationary {k + 1}", justify="right")
        if absorb is not None:
            for k in range(min(len(heads), 4)):
                label = heads[k][0] if len(heads[k]) == 1 else "{" + ",".join(heads[k][:3]) + "}"
                table.add_column(f"P(end in {label})", justify="right")
            table.add_column("E\\[steps]", justify="right")
        for s in range(min(S, max_rows)):
            row = [escape(m.states[s]), ch["classification"][s]]
            row += [_fmt(stat[k][s]) for k in shown]
            if absorb is not None:
                row += [_fmt(absorb[s][k]) for k in range(min(len(heads), 4))]
                row.append(_fmt(ch["expected_steps"][s]))
            table.add_row(*row)
        return table
    table.add_column("bias" if rep.criterion == "average" else "value", justify="right")
    show_q = rep.kind == "mdp" and m.n_actions <= 5
    if rep.kind == "mrp":
        table.add_column("reward", justify="right")
    if rep.kind == "mdp":
        label = "action" if rep.evaluated is None else (
            "policy" if rep.info.get("deterministic") else "greedy")
        table.add_column(label)
        if show_q:
            for a in m.actions:
                table.add_column(escape(a), justify="right")
            table.caption = "action columns: q(s, a); — = action not available"
    for s in range(min(S, max_rows)):
        row = [escape(m.states[s]), _fmt(rep.values[s])]
        if rep.kind == "mrp":
            row.append(_fmt(m.R[s]))
        if rep.kind == "mdp":
            row.append("[dim]terminal[/dim]" if m.terminal[s] else escape(m.actions[rep.policy[s]]))
            if show_q:
                row += [_fmt(x) for x in rep.q[s]]
        table.add_row(*row)
    return table


def render(rep: SolveReport, console: Any = None, *, max_rows: int = 40) -> None:
    """Print the report as text: a header, a summary line and a table (a grid drawn as a grid with
    arrows for the greedy action; other models one row per state, at most ``max_rows``)."""
    from rich.console import Console

    console = console or Console()
    console.print(_header(rep))
    console.print(_summary(rep), highlight=False)
    m = rep.model
    grid = m.grid
    if grid is not None and rep.kind != "chain" and grid[1] <= 16 and grid[0] * grid[1] == m.n_states:
        console.print(_grid_table(rep))
    else:
        console.print(_state_table(rep, max_rows))
        if m.n_states > max_rows:
            console.print(f"... {m.n_states - max_rows} more states (--format json prints them all)",
                          highlight=False)
    if rep.kind == "chain":
        ch = rep.chain
        classes = ch["recurrent_classes"]
        console.print(f"recurrent classes: {len(classes)}: " + "; ".join(
            "{" + ", ".join(c[:8]) + (" ..." if len(c) > 8 else "") + "}" for c in classes[:6]),
            highlight=False)


def render_text(rep: SolveReport, *, width: int = 100, max_rows: int = 40) -> str:
    """:func:`render` into a string (no colours)."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    render(rep, Console(file=buf, width=width, color_system=None, force_terminal=False), max_rows=max_rows)
    return buf.getvalue()
