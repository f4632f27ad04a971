"""The ``rlkit`` command: thin wrappers over the library, no logic of its own.

Every command turns its options into one library call and prints the result (a rich table or one
JSON object with ``--format json``). A user mistake raises :class:`rlkit.errors.RlkitError`;
:func:`main` prints it as one ``error:`` line on stderr and exits with code 2, without a traceback.

Each section below belongs to one part of the library; keep commands in their section.
"""

from __future__ import annotations

import sys
from enum import Enum

import typer

from rlkit import __version__
from rlkit.errors import RlkitError

app = typer.Typer(
    name="rlkit",
    help="Reinforcement learning on Gymnasium and PyTorch: exact MDP solvers, tabular and neural "
    "prediction/control, REINFORCE, MNIST backbones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rlkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """rlkit: reinforcement learning on Gymnasium and PyTorch."""


def print_json(obj: object) -> None:
    """Print one JSON object on stdout (numpy values allowed)."""
    from rlkit._io import to_json

    typer.echo(to_json(obj))


# ---------------------------------------------------------------------------------------------
# Tabular core: rlkit.mdp (envs, solve-mdp)
# ---------------------------------------------------------------------------------------------


@app.command("envs")
def envs_command(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """List the catalog of Markov models (envs/): kind, sizes, parameters, description."""
    from rich.console import Console
    from rich.table import Table

    from rlkit.mdp.io import catalog_entries

    entries = catalog_entries()
    if fmt == OutputFormat.json:
        print_json(entries)
        return
    table = Table(title="rlkit catalog: rlkit solve-mdp NAME [--env-kwargs key=value ...]",
                  caption="S states, A actions; params can be set with --env-kwargs")
    for col, justify in (("name", "left"), ("kind", "left"), ("S", "right"), ("A", "right"),
                         ("gamma", "right"), ("description", "left")):
        table.add_column(col, justify=justify, no_wrap=col != "description")
    for e in entries:
        actions = "" if e["n_actions"] is None else str(e["n_actions"])
        gamma = "" if e["gamma"] is None else f"{e['gamma']:g}"
        params = f" [dim](params: {', '.join(e['params'])})[/dim]" if e["params"] else ""
        table.add_row(e["name"], e["kind"], str(e["n_states"]), actions, gamma, e["description"] + params)
    Console().print(table)
    typer.echo("Also: any .yaml/.json/.npz model file, and gym:<EnvId> for Gymnasium envs with a model "
               "(gym:FrozenLake-v1, gym:FrozenLake8x8-v1, gym:Taxi-v4, gym:CliffWalking-v1).")


@app.command("solve-mdp")
def solve_mdp_command(
    spec: str = typer.Argument(..., help="A catalog name (see `rlkit envs`), a .yaml/.json/.npz model file, "
                               "or gym:<EnvId>."),
    more_kwargs: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                            help="More --env-kwargs (e.g. is_slippery=false map_name=8x8)."),
    gamma: str = typer.Option(None, "--gamma", "-g", help="Discount in [0, 1], overriding the spec's "
                              "(gym: specs default to 0.99)."),
    method: str = typer.Option("exact", "--method", "-m", help="exact | policy-iteration | value-iteration "
                               "| modified-policy-iteration | gauss-seidel."),
    policy: str = typer.Option(None, "--policy", help="Evaluate a policy instead of optimising: 'uniform' or "
                               "a policy file (.json/.yaml/.npy/.npz, e.g. a --format json output)."),
    tol: float = typer.Option(None, "--tol", help="Accuracy |V - V*| of the iterative methods."),
    max_iter: int = typer.Option(None, "--max-iter", help="Iteration limit."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    plot: str = typer.Option(None, "--plot", help="Write a PNG: value heatmap with policy arrows for a grid, "
                             "bar chart otherwise."),
    env_kwargs: list[str] = typer.Option(None, "--env-kwargs", "-k", help="key=value parameters of the spec "
                                         "(generator params, grid fields, gymnasium.make kwargs)."),
    save: str = typer.Option(None, "--save", help="Also write the loaded model to a .yaml/.json/.npz file."),
) -> None:
    """Solve a Markov model exactly or by dynamic programming; print values and the greedy policy."""
    from rlkit.mdp.io import parse_env_kwargs
    from rlkit.mdp.io import save as save_model
    from rlkit.mdp.report import render, solve

    kwargs = parse_env_kwargs([*(env_kwargs or []), *(more_kwargs or [])])
    report = solve(spec, gamma=gamma, method=method, policy=policy, tol=tol, max_iter=max_iter,
                   env_kwargs=kwargs or None)
    written = []
    if plot:
        written.append(("plot", report.plot(plot)))
    if save:
        written.append(("model", save_model(report.model, save)))
    if fmt == OutputFormat.json:
        print_json(report.to_dict())
    else:
        render(report)
    for what, path in written:
        typer.echo(f"wrote {what}: {path}", err=fmt == OutputFormat.json)


# ---------------------------------------------------------------------------------------------
# Sample-based prediction and control: rlkit.tabular (evaluate-policy, control)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Supervised: rlkit.supervised (supervised train, supervised evaluate)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Agents and runs: rlkit.agents, rlkit.runs (train, evaluate, plot)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Experiments: rlkit.experiments (compare, sweep)
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rlkit`` console script."""
    try:
        app(args=argv, prog_name="rlkit", standalone_mode=True)
    except RlkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
