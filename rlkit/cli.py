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
from rlkit.tabular import registry as methods

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
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an out-of-memory, nesting or "
                               "file error (accepted anywhere on the command line)."),
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
                               "| modified-policy-iteration | gauss-seidel | lp | relative-value-iteration "
                               "(--criterion average)."),
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
    criterion: str = typer.Option("discounted", "--criterion", help="discounted (the spec's gamma) | average "
                                  "(average reward per step: gain and bias, unichain models)."),
    horizon: int = typer.Option(None, "--horizon", help="A finite number of steps N >= 1: backward induction "
                                "(values at t = 0, one policy per step in the JSON)."),
    threads: int = typer.Option(None, "--threads", help="Threads of the sparse solvers (>= 1; default all "
                                "cores; results do not depend on it)."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda (value-iteration and "
                               "modified-policy-iteration on a GPU)."),
) -> None:
    """Solve a Markov model exactly or by dynamic programming; print values and the greedy policy."""
    from rlkit.cliutil import parse_env_kwargs
    from rlkit.mdp.io import save as save_model
    from rlkit.mdp.report import render, solve

    kwargs = parse_env_kwargs([*(env_kwargs or []), *(more_kwargs or [])])
    report = solve(spec, gamma=gamma, method=method, policy=policy, tol=tol, max_iter=max_iter,
                   env_kwargs=kwargs or None, criterion=criterion, horizon=horizon, threads=threads,
                   device=device)
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


def _tabular_kwargs(items: list[str] | None) -> dict | None:
    if not items:
        return None
    from rlkit.cliutil import parse_env_kwargs

    return parse_env_kwargs(list(items)) or None


def _fmt(x: object, digits: int = 4) -> str:
    if x is None:
        return "-"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return "nan" if v != v else f"{v:.{digits}g}"


def _takers(key: str) -> str:
    """``"nstep"``: the prediction methods that take parameter ``key``, for a flag's help."""
    return ", ".join(m.name for (kind, _), m in methods.METHODS.items()
                     if kind == "prediction" and m.takes(key))


@app.command("evaluate-policy")
def evaluate_policy_command(
    spec: str = typer.Argument(..., help="A catalog name (see `rlkit envs`), a .yaml/.json/.npz model file, "
                               "or gym:<EnvId> (with a model, or any env with Discrete observations)."),
    method: str = typer.Option("td", "--method", "-m", help=methods.help_text("prediction") + "; with --net: "
                               + methods.help_text("neural") + "."),
    policy: str = typer.Option("uniform", "--policy", help="uniform | optimal | a .npy/.csv/.json file with "
                               "(S, A) probabilities or (S,) action indices."),
    episodes: int = typer.Option(100, "--episodes", "-e", help="Episodes per run."),
    alpha: str = typer.Option(None, "--alpha", "-a", help="Step size in (0, 1] (default 0.1; Monte Carlo "
                              "without --alpha uses sample averages); several, comma-separated "
                              "(0.05,0.1,0.15), for one curve each."),
    n: int = typer.Option(None, "--n", help="Steps of n-step TD (default 4; " + _takers("n") + ")."),
    lam: float = typer.Option(None, "--lambda", help="Lambda in [0, 1] (default 0.9; "
                              + _takers("lambda") + "; td-lambda with --net)."),
    trace: str = typer.Option(None, "--trace", help="accumulating | replacing (default accumulating; "
                              + _takers("trace") + ")."),
    runs: int = typer.Option(1, "--runs", "-r", help="Independent runs, advanced together; curves are "
                             "averaged over them."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed."),
    gamma: float = typer.Option(None, "--gamma", "-g", help="Discount in [0, 1], overriding the spec's."),
    init: float = typer.Option(0.0, "--init", help="Initial value of the non-terminal states."),
    start: str = typer.Option(None, "--start", help="Start state name (default: the model's start, else "
                              "uniform over non-terminal states); 'uniform' for uniform."),
    max_steps: int = typer.Option(None, "--max-steps",
                                  help="Truncate episodes after this many steps (default 10000)."),
    env_kwargs: list[str] = typer.Option(None, "--env-kwargs", "-k",
                                         help="key=value parameters of the spec."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    plot: str = typer.Option(None, "--plot", help="Write a PNG: the RMS error per episode (mean over runs, "
                             "95% band); the estimates as bars where there is no model."),
    net: str = typer.Option(None, "--net", help="Estimate with a value network instead of a table "
                            "(semi-gradient TD, TD(lambda), gradient MC), for any Gymnasium env such as "
                            "CartPole-v1: auto | mlp | linear | cnn | a .yaml/.json backbone config | "
                            "a run folder of `rlkit train` or `rlkit supervised train` (start from its "
                            "trained backbone) | policy (the backbone of --policy's run folder). "
                            "--policy may then also be a run folder of `rlkit train`."),
) -> None:
    """Evaluate a policy from samples (MC, TD, TD(lambda)), with a table or a value network.

    Many independent runs are advanced together; estimates are scored against the exact values
    when the spec has a model (RMS error per episode, mean over runs).
    """
    alphas = _alphas(alpha)
    flags = {"n": n, "lambda": lam, "trace": trace}
    if net is not None:
        if len(alphas) > 1:
            raise RlkitError("--alpha takes one step size with --net")
        _evaluate_policy_neural(spec, method, policy, episodes, alphas[0], flags, seed, gamma, env_kwargs,
                                net, fmt, plot)
        return
    from rlkit.tabular.prediction import evaluate_policy, evaluate_policy_sweep

    entry = methods.get("prediction", method)
    methods.check_flags(entry, flags)
    common = dict(method=entry.name, episodes=episodes, runs=runs, n=n, lam=lam, trace=trace, seed=seed,
                  gamma=gamma, start=start, init=init, max_steps=max_steps,
                  env_kwargs=_tabular_kwargs(env_kwargs))
    if len(alphas) > 1:
        _evaluate_policy_alphas(spec, evaluate_policy_sweep(spec, policy, alphas=alphas, **common), fmt, plot)
        return
    res = evaluate_policy(spec, policy, alpha=alphas[0], **common)
    written = None
    if plot:
        from rlkit import plotting

        title = f"{res.method} on {res.info.get('source', spec)} ({res.runs} runs)"
        if res.rmse_runs is not None:
            written = plotting.plot_step_sizes([res], path=plot)
        else:
            written = plotting.plot_values(res.values, states=res.states, title=title, path=plot)
    if fmt == OutputFormat.json:
        out = res.to_dict()
        out["spec"] = spec
        print_json(out)
    else:
        from rich.console import Console
        from rich.table import Table

        p = ", ".join(f"{k}={_fmt(v)}" for k, v in res.params.items())
        table = Table(title=f"{res.method} ({p}) on {res.info.get('source', spec)}: {res.runs} run(s) x "
                      f"{res.episodes} episodes, gamma={res.gamma:g}")
        for col in ("state", "estimate", "std over runs", "exact", "error"):
            table.add_column(col, justify="left" if col == "state" else "right")
        std = res.values_runs.std(axis=0)
        for i, name in enumerate(res.states):
            ex = None if res.exact is None else res.exact[i]
            err = None if ex is None else res.values[i] - ex
            table.add_row(name, _fmt(res.values[i]), _fmt(std[i]), _fmt(ex), _fmt(err))
        Console().print(table)
        if res.rmse is not None:
            typer.echo(f"RMS error over non-terminal states after {res.episodes} episodes: {res.rmse:.4g} "
                       f"(mean over runs; of the run-averaged estimate: {res.rmse_of_mean:.4g}); "
                       f"{res.seconds:.3g} s")
        else:
            typer.echo(f"no model, so no exact values; {res.seconds:.3g} s")
    if written:
        typer.echo(f"wrote plot: {written}", err=fmt == OutputFormat.json)


def _alphas(text: str | None) -> list[float | None]:
    """``--alpha``: None, one step size, or several comma-separated (checked by the estimators)."""
    if text is None:
        return [None]
    try:
        return [float(x) for x in text.split(",") if x.strip()] or [None]
    except ValueError:
        raise RlkitError(f"--alpha must be a number or comma-separated numbers, got {text!r}") from None


def _evaluate_policy_alphas(spec: str, results: list, fmt: OutputFormat, plot: str | None) -> None:
    """Output of ``evaluate-policy --alpha A,B,...``: one row (JSON object) per step size."""
    written = None
    if plot:
        from rlkit import plotting

        written = plotting.plot_step_sizes(results, path=plot)
    if fmt == OutputFormat.json:
        print_json({"spec": spec, "results": [r.to_dict() for r in results]})
    else:
        from rich.console import Console
        from rich.table import Table

        first = results[0]
        table = Table(title=f"{first.method} on {first.info.get('source', spec)}: {first.runs} run(s) x "
                      f"{first.episodes} episodes, gamma={first.gamma:g}")
        for col in ("alpha", "RMS error after the last episode", "of the run-averaged estimate"):
            table.add_column(col, justify="right")
        for r in results:
            table.add_row(_fmt(r.params.get("alpha")), _fmt(r.rmse), _fmt(r.rmse_of_mean))
        Console().print(table)
    if written:
        typer.echo(f"wrote plot: {written}", err=fmt == OutputFormat.json)


def _evaluate_policy_neural(spec: str, method: str, policy: str, episodes: int, alpha: float | None,
                            flags: dict, seed: int, gamma: float | None, env_kwargs: list[str] | None,
                            net: str, fmt: OutputFormat, plot: str | None) -> None:
    """`rlkit evaluate-policy --net ...`: rlkit.tabular.neural.neural_prediction."""
    try:
        entry = methods.get("neural", method)
    except RlkitError:
        raise RlkitError(f"with --net the method must be {', '.join(methods.names('neural')[:-1])} or "
                         f"{methods.names('neural')[-1]} (gradient Monte Carlo), got {method!r}",
                         where="--method") from None
    methods.check_flags(entry, flags, " with --net")
    from pathlib import Path

    from rlkit.tabular.neural import net_config, neural_prediction

    if net == "policy":  # the value net starts from the evaluated policy's own backbone
        if not Path(policy).is_dir():
            raise RlkitError("--net policy starts the value network from the policy's backbone: "
                             "--policy must then be a run folder of `rlkit train`", where="--net")
        net = policy
    if Path(policy).is_dir():  # a run folder of `rlkit train`: the CLI turns it into the agent
        from rlkit.runs.train import load_run_agent

        policy = load_run_agent(policy)
    params = entry.validate(alpha=alpha, lam=0.9 if flags["lambda"] is None else flags["lambda"])
    res = neural_prediction(spec, policy, method=entry.name, episodes=episodes, alpha=params["alpha"],
                            lam=params.get("lambda", 0.0), gamma=gamma, net=net_config(net), seed=seed,
                            env_kwargs=_tabular_kwargs(env_kwargs))
    written = None
    if plot:
        from rlkit import plotting

        curves = {"RMS error": res.error_curve} if res.error_curve is not None else {"loss": res.loss_curve}
        (label, curve), = curves.items()
        written = plotting.plot_curves(curves, xlabel="finished episode", ylabel=label,
                                       title=f"{res.method} with a value network on {spec}", path=plot)
    if fmt == OutputFormat.json:
        print_json({**res.to_dict(), "spec": spec, "net": res.config.get("net", net)})
    else:
        import numpy as np

        n = len(res.loss_curve)
        tail = max(1, n // 10)
        typer.echo(f"{res.method} with a value network ({net}) on {spec}: {res.episodes} episodes, "
                   f"{res.steps} steps, gamma={res.gamma:g}, alpha={res.alpha:g}; {res.seconds:.3g} s")
        typer.echo(f"loss (mean over episodes): first 10% {float(np.mean(res.loss_curve[:tail])):.4g}, "
                   f"last 10% {float(np.mean(res.loss_curve[-tail:])):.4g}; mean episode return "
                   f"{float(np.mean(res.episode_returns)):.4g}")
        if res.values is not None:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="estimates")
            for col in ("state", "estimate", "exact"):
                table.add_column(col, justify="left" if col == "state" else "right")
            for i, v in enumerate(res.values):
                table.add_row(str(i), _fmt(v), _fmt(None if res.exact is None else res.exact[i]))
            Console().print(table)
        if res.rmse is not None:
            typer.echo(f"RMS error against the exact values: {res.rmse:.4g}")
    if written:
        typer.echo(f"wrote plot: {written}", err=fmt == OutputFormat.json)


@app.command("control")
def control_command(
    spec: str = typer.Argument(..., help="A catalog name (see `rlkit envs`), a .yaml/.json/.npz model file, "
                               "or gym:<EnvId> (with a model, or any env with Discrete spaces)."),
    method: str = typer.Option("q-learning", "--method", "-m", help=methods.help_text("control") + "."),
    episodes: int = typer.Option(500, "--episodes", "-e", help="Episodes per run."),
    alpha: str = typer.Option(None, "--alpha", "-a", help="Step size in (0, 1]: a number, "
                              "'linear:START,END,EPISODES' or 'exp:START,DECAY[,MIN]' (default 0.1; "
                              "mc-control: sample averages)."),
    epsilon: str = typer.Option("0.1", "--epsilon", help="Exploration in [0, 1]: a number or a schedule "
                                "like --alpha."),
    runs: int = typer.Option(1, "--runs", "-r", help="Independent runs, advanced together."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed."),
    gamma: float = typer.Option(None, "--gamma", "-g", help="Discount in [0, 1], overriding the spec's."),
    q_init: float = typer.Option(0.0, "--q-init", help="Initial action values."),
    start: str = typer.Option(None, "--start", help="Start state name (default: the model's start, else "
                              "uniform over non-terminal states); 'uniform' for uniform."),
    exploring_starts: bool = typer.Option(False, "--exploring-starts", help="mc-control: random start state "
                                          "and first action, then greedy."),
    max_steps: int = typer.Option(None, "--max-steps",
                                  help="Truncate episodes after this many steps (default 10000)."),
    env_kwargs: list[str] = typer.Option(None, "--env-kwargs", "-k",
                                         help="key=value parameters of the spec."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    plot: str = typer.Option(None, "--plot", help="Write a PNG: the sum of rewards per episode (mean over "
                             "runs, 95% band)."),
    gif: str = typer.Option(None, "--gif", help="Record an episode of the learned greedy policy to this GIF "
                            "(or .mp4): gym:FrozenLake-v1, gym:CliffWalking-v1, catalog grid worlds."),
) -> None:
    """Learn a policy from samples (SARSA, Q-learning, MC).

    SARSA, Expected SARSA, Q-learning, Double Q-learning or Monte Carlo control, many runs at once;
    prints the greedy policy and, with a model, its exact value beside V*.
    """
    from rlkit import recording
    from rlkit.tabular.control import control

    entry = methods.get("control", method)
    methods.check_flags(entry, {"exploring_starts": exploring_starts})
    if gif:
        recording.check_tabular_output(spec, gif, env_kwargs=_tabular_kwargs(env_kwargs))
    res = control(spec, entry.name, episodes=episodes, runs=runs, alpha=alpha, epsilon=epsilon, gamma=gamma,
                  seed=seed, q_init=q_init, start=start, max_steps=max_steps,
                  exploring_starts=exploring_starts,
                  env_kwargs=_tabular_kwargs(env_kwargs))
    written = None
    if plot:
        from rlkit import plotting

        p = ", ".join(f"{k}={v}" for k, v in res.params.items())
        written = plotting.plot_returns({res.method: res.returns_runs}, path=plot,
                                        title=f"{res.method} ({p}) on {res.info.get('source', spec)}: "
                                        f"{res.runs} run(s)")
    if fmt == OutputFormat.json:
        out = res.to_dict()
        out["spec"] = spec
        print_json(out)
    else:
        from rich.console import Console
        from rich.table import Table

        p = ", ".join(f"{k}={v}" for k, v in res.params.items())
        table = Table(title=f"{res.method} ({p}) on {res.info.get('source', spec)}: {res.runs} run(s) x "
                      f"{res.episodes} episodes, gamma={res.gamma:g}")
        for col in ("state", "greedy action", "max Q", "value of greedy policy", "V*"):
            table.add_column(col, justify="left" if col in ("state", "greedy action") else "right")
        qmax = res.q.max(axis=1)
        for i, name in enumerate(res.states):
            pv = None if res.policy_value is None else res.policy_value[i]
            vs = None if res.optimal_values is None else res.optimal_values[i]
            table.add_row(name, res.actions[res.policy[i]], _fmt(qmax[i]), _fmt(pv), _fmt(vs))
        Console().print(table)
        tail = max(1, res.episodes // 10)
        typer.echo(f"mean sum of rewards over the last {tail} episodes: "
                   f"{res.returns_curve[-tail:].mean():.4g} (mean over runs); {res.seconds:.3g} s")
        if res.policy_start_value is not None:
            typer.echo(f"greedy policy from the start: {res.policy_start_value:.6g}; optimal: "
                       f"{_fmt(res.optimal_start_value, 6)}")
        elif "policy_value_error" in res.info:
            typer.echo(f"greedy policy value: undefined ({res.info['policy_value_error']})")
    if written:
        typer.echo(f"wrote plot: {written}", err=fmt == OutputFormat.json)
    if gif:
        rec = recording.record_tabular_policy(spec, res.policy, gif, seed=seed,
                                              env_kwargs=_tabular_kwargs(env_kwargs))
        typer.echo(f"wrote {rec.path}: {rec.frames} frames, return {rec.returns[0]:g}",
                   err=fmt == OutputFormat.json)


# ---------------------------------------------------------------------------------------------
# Supervised: rlkit.supervised (supervised train, supervised evaluate)
# ---------------------------------------------------------------------------------------------

supervised_app = typer.Typer(
    name="supervised",
    help="Train and evaluate the MLP / CNN / RNN backbones on MNIST and Fashion-MNIST.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(supervised_app, name="supervised")


def _supervised_table(title: str, rows: list[tuple[str, str]], history=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if history:
        table = Table(title=title)
        for col in ("epoch", "train loss", "train acc", "test loss", "test acc", "img/s", "time (s)"):
            table.add_column(col, justify="right")
        for m in history:
            table.add_row(str(m.epoch), f"{m.train_loss:.4f}", f"{m.train_accuracy:.2%}",
                          f"{m.test_loss:.4f}", f"{m.test_accuracy:.2%}", f"{m.images_per_second:,.0f}",
                          f"{m.seconds:.1f}")
        console.print(table)
    summary = Table(show_header=False, title=None if history else title)
    summary.add_column(style="bold")
    summary.add_column()
    for key, value in rows:
        summary.add_row(key, value)
    console.print(summary)


@supervised_app.command("train")
def supervised_train(
    model: str = typer.Option("cnn", "--model", "-m",
                              help="mlp, cnn, rnn, mlp-textbook, or a YAML/JSON backbone config file."),
    dataset: str = typer.Option(None, "--dataset", help="mnist (default) or fashion-mnist."),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Epochs (default: the model's preset)."),
    batch_size: int = typer.Option(None, "--batch-size", "-b", help="Batch size (default: the preset's)."),
    lr: float = typer.Option(None, "--lr", help="(Peak) learning rate (default: the preset's)."),
    optimizer: str = typer.Option(None, "--optimizer", help="adam, adamw, sgd or adadelta."),
    augment: int = typer.Option(None, "--augment", help="Largest random shift in pixels (0 = none)."),
    data_dir: str = typer.Option(None, "--data-dir", help="Folder with the four IDX files (searched first)."),
    download: bool = typer.Option(False, "--download", help="Fetch missing files (MD5-checked)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed."),
    run_dir: str = typer.Option(None, "--run-dir",
                                help="Run folder (default runs/<dataset>/<model>/<time>-s<seed>)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    train_subset: int = typer.Option(None, "--train-subset", help="Train on this many images only."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch (default: one per core)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    resume: str = typer.Option(None, "--resume", help="Continue this run folder from its last epoch "
                               "(bit-identical on the same device; its own settings)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write TensorBoard events (tb/)."),
) -> None:
    """Train a classifier on MNIST / Fashion-MNIST; write config, metrics, checkpoint and plots."""
    from rlkit.supervised.train import fit
    from rlkit.supervised.train import resume as resume_run

    progress = False if quiet else None
    if resume is not None:
        given = {"--model": model != "cnn", "--dataset": dataset, "--epochs": epochs,
                 "--batch-size": batch_size, "--lr": lr, "--optimizer": optimizer, "--augment": augment,
                 "--seed": seed != 0, "--run-dir": run_dir, "--train-subset": train_subset}
        clash = [name for name, value in given.items() if value is not None and value is not False]
        if clash:
            raise RlkitError(f"a resumed run keeps its own settings; drop {', '.join(clash)}",
                             where="--resume")
        result = resume_run(resume, data_dir=data_dir, download=download, device=device, threads=threads,
                            progress=progress, tensorboard=tensorboard or None)
    else:
        result = fit(model, dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     augment=augment, data_dir=data_dir, download=download, seed=seed,
                     run_dir=run_dir or "auto", device=device, train_subset=train_subset, threads=threads,
                     progress=progress, tensorboard=tensorboard)
    summary = result.summary()
    if fmt == OutputFormat.json:
        print_json(summary)
        return
    _supervised_table(
        f"{summary['model']} on {summary['dataset']}",
        [("test accuracy", f"{result.test_accuracy:.2%}"), ("parameters", f"{result.parameters:,}"),
         ("epochs", str(result.epochs)), ("seconds", f"{result.seconds:.1f}"),
         ("images/s", f"{result.images_per_second:,.0f}"), ("device", result.device),
         ("run dir", str(result.run_dir))],
        result.history,
    )


@supervised_app.command("evaluate")
def supervised_evaluate(
    run_dir: str = typer.Argument(..., help="A run folder of `rlkit supervised train` (or its model.pt), or "
                                  "of `rlkit train` whose policy reads MNIST images."),
    data_dir: str = typer.Option(None, "--data-dir", help="Folder with the four IDX files (searched first)."),
    batch_size: int = typer.Option(2000, "--batch-size", "-b", help="Evaluation batch size."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """Re-score a run's checkpoint on its dataset's test set (an RL run: its policy as a classifier)."""
    from pathlib import Path

    from rlkit.runs.rundir import CONFIG
    from rlkit.supervised.train import evaluate_run

    path = Path(run_dir)
    if path.is_dir() and (path / CONFIG).is_file():  # an `rlkit train` run: its policy as a classifier
        from rlkit.agents.pretrained import evaluate_rl_run

        result = evaluate_rl_run(path, data_dir=data_dir, device=device, batch_size=batch_size,
                                 test_subset=None)
    else:
        result = evaluate_run(path, data_dir=data_dir, device=device, batch_size=batch_size)
    summary = result.summary()
    if fmt == OutputFormat.json:
        print_json({**summary, "confusion": result.confusion.tolist()})
        return
    _supervised_table(
        f"{summary['model']} on {summary['dataset']} (test set)",
        [("test accuracy", f"{result.test_accuracy:.2%}"), ("test loss", f"{result.test_loss:.4f}"),
         ("images", f"{result.n_images:,}"), ("parameters", f"{result.parameters:,}"),
         ("run dir", str(result.run_dir))],
    )
    from rich.console import Console
    from rich.table import Table

    conf = Table(title="confusion matrix (rows: true label, columns: predicted)")
    conf.add_column("")
    for j in range(len(result.confusion)):
        conf.add_column(str(j), justify="right")
    for i, row in enumerate(result.confusion):
        conf.add_row(str(i), *(str(int(v)) for v in row))
    Console().print(conf)


# ---------------------------------------------------------------------------------------------
# Agents and runs: rlkit.agents, rlkit.runs (train, evaluate, plot)
# ---------------------------------------------------------------------------------------------


def _runs_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=False, title=title)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, escape(value))
    Console().print(table)


def _eval_text(ev) -> str:
    if ev is None:
        return "not evaluated (run.eval_episodes=0)"
    kind = "deterministic" if ev.deterministic else "stochastic"
    return f"{ev.mean:.2f} ± {ev.std:.2f} over {ev.episodes} episodes ({kind})"


@app.command("train")
def train_command(
    env: str = typer.Option(None, "--env", "-e", help="Env id, e.g. CartPole-v1 or rlkit/MNISTBandit-v0."),
    agent: str = typer.Option(None, "--agent", "-a", help="The agent (default reinforce)."),
    seed: int = typer.Option(None, "--seed", "-s", help="Random seed (default 0)."),
    total_timesteps: int = typer.Option(None, "--total-timesteps", "-n",
                                        help="Env steps (default: the preset's)."),
    n_envs: int = typer.Option(None, "--n-envs", help="Parallel sub-envs (default: the preset's)."),
    set_: list[str] = typer.Option(None, "--set", help="Override a preset value, KEY=VALUE (repeatable): "
                                   "learning_rate=1e-3, policy.net.hidden=[32,32], run.eval_episodes=10."),
    run_dir: str = typer.Option(None, "--run-dir",
                                help="Run folder (default runs/<env>/<agent>/<time>-s<seed>)."),
    resume: str = typer.Option(None, "--resume", help="Continue this run folder from its last checkpoint "
                               "(a finished run: give a larger --total-timesteps to train on)."),
    eval_every: int = typer.Option(None, "--eval-every", help="Evaluate every N env steps (deterministic, "
                                   "fixed episodes; evaluations.csv, best_model.pt). Presets set "
                                   "run.eval_every."),
    stop_at_threshold: bool = typer.Option(False, "--stop-at-threshold",
                                           help="Stop once an evaluation reaches the env's reward threshold "
                                           "(or run.stop_at=NUMBER)."),
    init_from: str = typer.Option(None, "--init-from", help="Start the policy from a trained backbone: a "
                                  "`rlkit supervised train` run folder or model.pt, or an `rlkit train` "
                                  "run folder (= --set policy.init=PATH; see policy.freeze, "
                                  "policy.init_head)."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda: where the networks run "
                               "(= --set device=...; envs stay on the CPU)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write TensorBoard events (tb/)."),
    record: str = typer.Option(None, "--record", help="At the end, record an episode of the model a user "
                               "gets (the best, else the last) to this .gif or .mp4."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """Train an agent with its preset (agents/<agent>.yaml) and write a run folder."""
    from rlkit.agents.presets import parse_set
    from rlkit.runs import resume as resume_run
    from rlkit.runs import train

    if record is not None:
        from rlkit import recording

        recording.check_output(record, "--record")  # before any training
    overrides = parse_set(set_)
    if eval_every is not None:
        overrides["run.eval_every"] = eval_every
    if stop_at_threshold:
        overrides["run.stop_at"] = "threshold"
    if init_from is not None:
        overrides["policy.init"] = init_from
    if device is not None:
        overrides["device"] = device
    if resume is not None:
        if overrides or n_envs is not None or run_dir is not None:
            raise RlkitError("a resumed run keeps its configuration: drop --set, --eval-every, "
                             "--stop-at-threshold, --init-from, --device, --n-envs and --run-dir",
                             where="--resume")
    elif env is None:
        raise RlkitError("give --env ENV_ID (e.g. --env CartPole-v1) or --resume RUN_DIR", where="--env")
    try:
        if resume is not None:
            if agent is not None:
                raise RlkitError("a resumed run keeps its agent: drop --agent", where="--agent")
            result = resume_run(resume, tensorboard=tensorboard or None, progress=False if quiet else None,
                                env_id=env, seed=seed, total_timesteps=total_timesteps)
        else:
            result = train(env, agent=agent or "reinforce", seed=0 if seed is None else seed,
                           total_timesteps=total_timesteps, n_envs=n_envs,
                           overrides=overrides, run_dir=run_dir, tensorboard=tensorboard,
                           progress=False if quiet else None)
    except KeyboardInterrupt:
        where = resume or run_dir or "RUN_DIR (the new folder under runs/)"
        typer.echo(f"interrupted; continue from the last checkpoint: rlkit train --resume {where}", err=True)
        raise
    if record is not None:
        from rlkit import recording

        rec = recording.record_run(result.run_dir, record, episodes=1)
        result.files["recording"] = str(rec.path)
    if fmt == OutputFormat.json:
        print_json(result.to_dict())
        return
    training = (f"{result.timesteps:,} steps, {result.updates:,} updates, {result.episodes:,} episodes, "
                f"{result.seconds:.1f} s")
    if result.already_finished:
        training += " (the run had finished; give a larger --total-timesteps to train on)"
    elif result.resumed_from is not None:
        training += f" (resumed at step {result.resumed_from:,})"
    rows = [("last model", _eval_text(result.eval))]
    if result.best_eval is not None:
        rows.append(("best model", _eval_text(result.best_eval)
                     + f"; taken at step {result.best_timesteps:,} (periodic evaluation "
                     f"{result.best_periodic_mean:.2f})"))
    if result.evaluations:
        rows.append(("evaluations", f"{result.evaluations} periodic evaluations in evaluations.csv"))
    if result.stopped_at is not None:
        rows.append(("stopped", f"an evaluation reached {result.stopped_at:g} (run.stop_at): training "
                     f"stopped at step {result.timesteps:,}"))
    rows.append(("training", training))
    _runs_table(f"{result.agent} on {result.env_id} (seed {result.seed})", rows)
    # paths as plain lines (a table would wrap them)
    labels = {"metrics": "metrics", "episodes": "episodes", "evaluations": "evaluations",
              "curves": "curves (plot)", "model": "last model", "best_model": "best model",
              "eval": "evaluation", "best_eval": "best evaluation", "tensorboard": "tensorboard",
              "recording": "recording"}
    lines = [("run dir", str(result.run_dir))]
    lines += [(label, result.files[key]) for key, label in labels.items() if key in result.files]
    lines += [("evaluate again", f"rlkit evaluate {result.run_dir}"),
              ("overlay curves", f"rlkit plot {result.run_dir} [MORE_RUN_DIRS...]")]
    for label, value in lines:
        typer.echo(f"{label + ':':<17}{value}")


@app.command("evaluate")
def evaluate_run_command(
    run_dir: str = typer.Argument(..., help="A run folder of `rlkit train`."),
    episodes: int = typer.Option(None, "--episodes", "-n", help="Episodes (default: the run's own number)."),
    deterministic: bool = typer.Option(True, "--deterministic/--stochastic",
                                       help="Greedy actions (default) or sampled from the policy."),
    seed: int = typer.Option(None, "--seed", "-s", help="Seed of the episodes (default: train's own)."),
    model: str = typer.Option(None, "--model", "-m", help="best (best_model.pt) or last (model.pt, or the "
                              "last checkpoint of an unfinished run); default: best when the run has one."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    gif: str = typer.Option(None, "--gif", help="Also record episodes to this GIF (--episodes of them, "
                            "default 1)."),
    video: str = typer.Option(None, "--video", help="Also record episodes to this MP4 (video extra)."),
) -> None:
    """Evaluate a run's model over whole episodes: mean, std, episodes."""
    from pathlib import Path

    from rlkit import recording
    from rlkit.runs import evaluate_run, read_run_config
    from rlkit.runs.rundir import BEST_MODEL

    outputs = [recording.check_output(path, opt) for opt, path in (("--gif", gif), ("--video", video))
               if path]
    ev = evaluate_run(run_dir, episodes=episodes, deterministic=deterministic, seed=seed, model=model)
    cfg = read_run_config(run_dir)
    which = model or ("best" if (Path(run_dir) / BEST_MODEL).is_file() else "last")
    recs = [recording.record_run(run_dir, path, episodes=episodes or 1, deterministic=deterministic,
                                 seed=seed, model=which) for path in outputs]
    if fmt == OutputFormat.json:
        print_json({"run_dir": run_dir, "env_id": cfg["env_id"], "agent": cfg["agent"], "model": which,
                    "mean": ev.mean, "std": ev.std, "episodes": ev.episodes,
                    "deterministic": ev.deterministic, "seed": ev.seed, "length_mean": ev.length_mean,
                    **({"recordings": [r.to_dict() for r in recs]} if recs else {})})
        return
    _runs_table(f"{cfg['agent']} on {cfg['env_id']} ({which} model)", [
        ("mean return", f"{ev.mean:.2f}"), ("std", f"{ev.std:.2f}"), ("episodes", str(ev.episodes)),
        ("mean length", f"{ev.length_mean:.1f}"),
        ("actions", "deterministic" if ev.deterministic else "stochastic"), ("run dir", run_dir)])
    for r in recs:
        typer.echo(f"wrote {r.path}: {len(r.lengths)} episode(s), {r.frames} frames at {r.fps:g} fps, "
                   f"returns {', '.join(f'{x:g}' for x in r.returns)}")


@app.command("plot")
def plot_runs_command(
    run_dirs: list[str] = typer.Argument(..., help="Run folders; runs of one agent and env are averaged."),
    out: str = typer.Option(None, "--out", "-o",
                            help="PNG to write (default RUN_DIR/curves.png for one run, else curves.png)."),
    y: str = typer.Option("return_mean", "--y", help="The metrics.csv column to plot."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """Overlay the learning curves of runs in one PNG."""
    from pathlib import Path

    from rlkit.runs import plot_runs

    if out is None:
        out = str(Path(run_dirs[0]) / "curves.png") if len(run_dirs) == 1 else "curves.png"
    path = plot_runs(run_dirs, out, y=y)
    if fmt == OutputFormat.json:
        print_json({"path": str(path), "runs": run_dirs})
        return
    typer.echo(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# Experiments: rlkit.experiments (compare, sweep)
# ---------------------------------------------------------------------------------------------


def _experiment_table(title: str, result, *, with_params: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from rlkit.experiments.compare import summary_table

    headers, cells = summary_table(result.summary, with_params=with_params)
    for name in ("env", "agent"):  # a column with one value goes into the title
        col = headers.index(name)
        if len({row[col] for row in cells}) == 1:
            title += "" if cells[0][col] in title else f" | {name} {cells[0][col]}"
            headers = headers[:col] + headers[col + 1:]
            cells = [row[:col] + row[col + 1:] for row in cells]
    short = {"final eval mean [95% CI]": "final eval [95% CI]", "steps to threshold": "steps to thr.",
             "time to threshold": "time to thr."}
    headers = [short.get(h, h) for h in headers]
    table = Table(title=title)
    for h in headers:
        table.add_column(h, justify="left" if h in ("env", "agent", "config", "params") else "right")
    for row in cells:
        table.add_row(*row)
    console = Console()
    console.print(table)
    for r in result.failed:
        console.print(f"[red]failed[/red] {r.spec.trial_id}: {r.error}", markup=True, highlight=False)
    console.print(f"{len(result.results)} trials ({result.reused} reused from an earlier run), "
                  f"{len(result.failed)} failed; results in {result.out}", highlight=False)


def _experiment_json(result, extra: dict | None = None) -> None:
    print_json({"out": str(result.out), "trials": len(result.results), "reused": result.reused,
                "failed": [{"trial_id": r.spec.trial_id, "error": r.error} for r in result.failed],
                **(extra or {}), "rows": result.summary})


def _split_commas(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command("compare")
def compare_cmd(
    env: list[str] = typer.Option(..., "--env", "-e", help="Env id(s), comma-separated or repeated."),
    agents: str = typer.Option("reinforce,sb3-ppo,sb3-a2c,sb3-dqn", "--agents", "-a",
                               help="Comma-separated: reinforce, sb3-ppo, sb3-a2c, sb3-dqn."),
    seeds: int = typer.Option(5, "--seeds", "-n", help="Seeds per agent and env (0..N-1)."),
    total_timesteps: int = typer.Option(None, "--total-timesteps", "-t",
                                        help="Budget of every agent (default: each preset's own)."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", help="Episodes per evaluation."),
    eval_every: int = typer.Option(None, "--eval-every",
                                   help="Env steps between evaluations (default: smallest budget / 10)."),
    workers: int = typer.Option(None, "--workers", "-w", help="Parallel trials (default: CPU cores)."),
    backend: str = typer.Option("local", "--backend", help="local (process pool) or ray."),
    ray_address: str = typer.Option(None, "--ray-address",
                                    help="Join this Ray cluster (else $RAY_ADDRESS, else a local Ray)."),
    ship_code: bool = typer.Option(False, "--ray-ship-code",
                                   help="Send this rlkit package to the Ray workers (runtime_env)."),
    out: str = typer.Option(None, "--out", "-o",
                            help="Output folder (default runs/compare/<envs>-<time>); reuse it to resume."),
    sets: list[str] = typer.Option([], "--set", "-s", help="AGENT.KEY=VALUE override (repeatable)."),
    target: list[str] = typer.Option([], "--target", help="ENV=SCORE: the score that normalises to 1 in the "
                                     "aggregate across envs (default: the env's reward threshold); for an "
                                     "env without a threshold also the score of 'time to threshold'."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Compare agents on the same envs, seeds and evaluation protocol; table, CSV and curves."""
    from rlkit.experiments.compare import compare, parse_sets

    agent_list = _split_commas([agents])
    result = compare(
        _split_commas(env), agent_list, seeds=seeds, total_timesteps=total_timesteps,
        eval_episodes=eval_episodes, eval_every=eval_every, workers=workers, backend=backend,
        ray_address=ray_address, ship_code=ship_code, out=out, overrides=parse_sets(sets, agent_list),
        progress=False if quiet else None, targets=_parse_targets(target),
    )
    if fmt == OutputFormat.json:
        _experiment_json(result, {"aggregate": result.aggregate})
        return
    _experiment_table("rlkit compare", result)
    _aggregate_table(result.aggregate)


def _parse_targets(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        env_id, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not env_id.strip() or number != number or number in (float("inf"), float("-inf")):
            raise RlkitError(f"expected ENV=SCORE (e.g. Pendulum-v1=-200), got {item!r}", where="--target")
        out[env_id.strip()] = number
    return out


def _aggregate_table(agg) -> None:
    if not agg or len(agg.get("envs", [])) < 2 or not agg.get("agents"):
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="aggregate over " + ", ".join(agg["envs"]) + " (normalised: 0 random, 1 threshold)")
    for h in ("agent", "runs", "mean [95% CI]", "IQM [95% CI]"):
        table.add_column(h, justify="left" if h == "agent" else "right")
    for agent, row in agg["agents"].items():
        m, q = row["mean"], row["iqm"]
        table.add_row(agent, str(row["runs"]), f"{m['estimate']:.3f} [{m['low']:.3f}, {m['high']:.3f}]",
                      f"{q['estimate']:.3f} [{q['low']:.3f}, {q['high']:.3f}]")
    Console().print(table)


@app.command("sweep")
def sweep_cmd(
    agent: str = typer.Option("reinforce", "--agent", "-a", help="reinforce, sb3-ppo, sb3-a2c or sb3-dqn."),
    env: str = typer.Option(..., "--env", "-e", help="Env id."),
    grid: list[str] = typer.Option(..., "--grid", "-g",
                                   help="KEY=V1,V2,... (repeatable; dotted keys reach nested fields)."),
    seeds: int = typer.Option(3, "--seeds", "-n", help="Seeds per configuration (0..N-1)."),
    total_timesteps: int = typer.Option(None, "--total-timesteps", "-t",
                                        help="Budget per trial (default: the preset's)."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", help="Episodes per evaluation."),
    eval_every: int = typer.Option(None, "--eval-every", help="Env steps between evaluations."),
    workers: int = typer.Option(None, "--workers", "-w", help="Parallel trials (default: CPU cores)."),
    backend: str = typer.Option("local", "--backend", help="local (process pool) or ray."),
    ray_address: str = typer.Option(None, "--ray-address",
                                    help="Join this Ray cluster (else $RAY_ADDRESS, else a local Ray)."),
    ship_code: bool = typer.Option(False, "--ray-ship-code",
                                   help="Send this rlkit package to the Ray workers (runtime_env)."),
    out: str = typer.Option(None, "--out", "-o",
                            help="Output folder (default runs/sweep/<env>-<agent>-<time>); "
                            "reuse it to resume."),
    sets: list[str] = typer.Option([], "--set", "-s", help="KEY=VALUE (or AGENT.KEY=VALUE) override."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Grid-search an agent's hyperparameters over seeds; ranked table; best config as a preset."""
    from rlkit.experiments.compare import parse_sets
    from rlkit.experiments.sweep import parse_grid, sweep

    result = sweep(
        agent, env, parse_grid(grid), seeds=seeds, total_timesteps=total_timesteps,
        eval_episodes=eval_episodes, eval_every=eval_every,
        overrides=parse_sets(sets, [agent]).get(agent, {}), workers=workers, backend=backend,
        ray_address=ray_address, ship_code=ship_code, out=out, progress=not quiet and sys.stderr.isatty(),
    )
    best = {"best_config_id": result.best_config_id,
            "best_preset": str(result.best_preset_path) if result.best_preset_path else None}
    if fmt == OutputFormat.json:
        _experiment_json(result.experiment, best)
        return
    _experiment_table(f"rlkit sweep: {agent} on {env}", result.experiment, with_params=True)
    if result.best_preset_path is not None:
        typer.echo(f"best: {result.best_config_id}; preset snippet in {result.best_preset_path}:")
        typer.echo(result.best_preset_path.read_text())


@app.command("presets")
def presets_command(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """List the envs each agent has a tuned preset for (agents/<agent>.yaml)."""
    from rlkit.agents.presets import preset_envs
    from rlkit.catalog import catalog_files

    presets = {agent: preset_envs(agent) for agent in catalog_files("agents")}
    if fmt == OutputFormat.json:
        print_json(presets)
        return
    for agent, envs in presets.items():
        typer.echo(f"{agent + ':':<11}{', '.join(envs)}")
    typer.echo("other envs use the agent's `default` preset: rlkit train --env ENV --agent AGENT")


# ---------------------------------------------------------------------------------------------
# Help: flags shown as flags, examples under every command
# ---------------------------------------------------------------------------------------------

#: command -> examples printed at the end of its --help.
EXAMPLES: dict[str, list[str]] = {
    "envs": ["rlkit envs", "rlkit envs --format json"],
    "solve-mdp": ["rlkit solve-mdp student-mdp", "rlkit solve-mdp gridworld-4x4 --policy uniform",
                  "rlkit solve-mdp gym:FrozenLake-v1 --method value-iteration --gamma 0.99 --plot fl.png"],
    "evaluate-policy": ["rlkit evaluate-policy random-walk --method td --alpha 0.05,0.1,0.15 --init 0.5 "
                        "--runs 100 --plot td.png",
                        "rlkit evaluate-policy gridworld-4x4 --method td-lambda --lambda 0.8 --runs 50",
                        "rlkit evaluate-policy CartPole-v1 --net mlp --method td --episodes 200"],
    "control": ["rlkit control cliff-walking --method sarsa --alpha 0.5 --runs 50 --plot sarsa.png",
                "rlkit control gym:FrozenLake-v1 --episodes 5000 --epsilon exp:1,0.999,0.05 --gif lake.gif"],
    "train": ["rlkit train --env CartPole-v1 --seed 0",
              "rlkit train --env Acrobot-v1 --set learning_rate=3e-3 --set policy.net.hidden=[64,64]",
              "rlkit train --resume runs/CartPole-v1/reinforce/<time>-s0"],
    "evaluate": ["rlkit evaluate runs/CartPole-v1/reinforce/<time>-s0 --episodes 100",
                 "rlkit evaluate RUN_DIR --episodes 2 --gif cartpole.gif",
                 "rlkit evaluate RUN_DIR --video cartpole.mp4   (needs the video extra)"],
    "plot": ["rlkit plot runs/CartPole-v1/reinforce/*", "rlkit plot RUN_A RUN_B --out both.png"],
    "compare": ["rlkit compare --env CartPole-v1 --agents reinforce,sb3-ppo --seeds 2 -t 20000",
                "rlkit compare --env CartPole-v1 --backend ray --ray-address 10.0.0.1:6379"],
    "sweep": ["rlkit sweep --agent reinforce --env CartPole-v1 --grid learning_rate=0.003,0.001 --seeds 3"],
    "presets": ["rlkit presets", "rlkit presets --format json"],
    "supervised train": ["rlkit supervised train --model cnn",
                         "rlkit supervised train --model rnn --epochs 6"],
    "supervised evaluate": ["rlkit supervised evaluate runs/mnist/cnn/<time>-s0"],
}


def _add_examples() -> None:
    for prefix, typer_app in (("", app), ("supervised ", supervised_app)):
        for info in typer_app.registered_commands:
            examples = EXAMPLES.get(prefix + (info.name or ""))
            if examples and info.epilog is None:
                info.epilog = "\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples)


def _flags_without_type() -> None:
    """typer's help prints a type after every option, ``--quiet <bool>`` for a flag, which reads as if
    it took a value: a flag gets no type column."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_rlkit", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._rlkit = True
    TyperOption.display_type_rich = display_type_rich


_add_examples()
_flags_without_type()


def _given_path(filename: object, args: list[str]) -> bool:
    """Whether an OSError's file is one the user gave (an argument, or a path inside one)."""
    if not filename:
        return False
    from pathlib import Path

    try:
        target = Path(str(filename)).expanduser().resolve()
        for arg in args:
            value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
            if not value or value.startswith("-"):
                continue
            given = Path(value).expanduser().resolve()
            if target == given or given in target.parents:
                return True
    except (OSError, RuntimeError, ValueError):
        return False
    return False


def _fail(message: str, debug: bool, code: int = 2) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    typer.echo("error: " + " ".join(message.split()), err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rlkit`` console script.

    User mistakes (:class:`RlkitError`, bad options) print one ``error:`` line and exit 2. So do, as a
    last line of defence, running out of memory, input nested too deeply (``RecursionError``) and an
    ``OSError`` on a path the user gave; ``--debug`` (anywhere on the line) adds their traceback.
    Any other exception is a bug in rlkit and keeps its traceback.
    """
    try:  # typer >= 0.2x vendors click
        from typer._click import exceptions as click_exc
    except ImportError:  # pragma: no cover - older typer on the real click
        from click import exceptions as click_exc

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="rlkit", standalone_mode=False)
    except RlkitError as exc:
        _fail(str(exc), debug)
    except click_exc.UsageError as exc:
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
        _fail(exc.format_message() + hint, debug, exc.exit_code)
    except click_exc.ClickException as exc:
        _fail(exc.format_message(), debug, exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        _fail("out of memory: the input asks for more memory than this machine has; use smaller sizes "
              "(rlkit refuses estimated sizes beyond RLKIT_MAX_MEMORY before allocating)", debug)
    except RecursionError:
        _fail("the input is nested too deeply to process", debug)
    except OSError as exc:
        if not (_given_path(exc.filename, args) or _given_path(exc.filename2, args)):
            raise
        name = exc.filename2 if _given_path(exc.filename2, args) else exc.filename
        _fail(f"{name}: {exc.strerror or type(exc).__name__}", debug)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
