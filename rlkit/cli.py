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
