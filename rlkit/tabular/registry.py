"""The registry of tabular methods: name -> function, parameter schema, kind.

Every sample-based method of :mod:`rlkit.tabular` is one :class:`Method` entry in :data:`METHODS`:

* ``kind`` -- ``"prediction"`` (a kernel over a :class:`~rlkit.tabular.sampling.Transitions`
  stream, run by :func:`rlkit.tabular.prediction.evaluate_policy`), ``"control"`` (a learner run
  by :func:`rlkit.tabular.control.control`) or ``"neural"`` (a value-network update run by
  :func:`rlkit.tabular.neural.neural_prediction`);
* ``function`` -- ``"module:attribute"``, imported on first use (so that this table can list
  torch-based methods without importing torch);
* ``params`` -- the parameters the method takes, in the order they are reported
  (``PredictionResult.params``), each with its default; their types and ranges are the shared
  :data:`PARAMS` schema.

Callers never match a method's name: :func:`get` finds the entry (aliases included),
:meth:`Method.validate` checks and fills in its parameters, :func:`names` lists a kind (the CLI's
``--method`` choices and help), :meth:`Method.takes` says which flags apply. Adding a method is
one module with its function plus one :func:`register` line below (see docs/design.md, "Tabular
methods").
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlkit.errors import RlkitError

KINDS = ("prediction", "control", "neural")
TRACES = ("accumulating", "replacing")


# ---------------------------------------------------------------------------------------------
# Parameter checks: each takes the user's value and returns it converted, or raises RlkitError
# ---------------------------------------------------------------------------------------------


def check_unit_step(value: Any, name: str = "alpha") -> float:
    """A step size in (0, 1]."""
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise RlkitError(f"{name} must be a number in (0, 1], got {value!r}", where=name) from None
    if not 0.0 < a <= 1.0:
        raise RlkitError(f"{name} must be in (0, 1], got {a:g}", where=name)
    return a


def check_positive_step(value: Any, name: str = "alpha") -> float:
    """A step size > 0 (a value network's learning rate)."""
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise RlkitError(f"{name} must be > 0, got {value!r}", where=name) from None
    if not (math.isfinite(a) and a > 0):
        raise RlkitError(f"{name} must be > 0, got {value!r}", where=name)
    return a


def check_positive_int(value: Any, name: str) -> int:
    """An integer > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RlkitError(f"{name} must be an integer > 0, got {value!r}", where=name)
    return int(value)


def check_lambda(value: Any, name: str = "lambda") -> float:
    """λ in [0, 1]."""
    try:
        lam = float(value)
    except (TypeError, ValueError):
        raise RlkitError(f"{name} must be a number in [0, 1], got {value!r}", where=name) from None
    if not 0.0 <= lam <= 1.0:
        raise RlkitError(f"{name} must be in [0, 1], got {lam:g}", where=name)
    return lam


def check_trace(value: Any, name: str = "trace") -> str:
    """``"accumulating"`` or ``"replacing"``."""
    if value not in TRACES:
        raise RlkitError(f"unknown {name} {value!r}; choose accumulating or replacing", where=name)
    return str(value)


def check_bool(value: Any, name: str) -> bool:
    return bool(value)


def _schedule(kind: str) -> Callable[[Any, str], Any]:
    def check(value: Any, name: str) -> Any:
        from rlkit.tabular import schedules

        return getattr(schedules, f"parse_{kind}")(value)

    check.__doc__ = f"A number or a schedule string (:func:`rlkit.tabular.schedules.parse_{kind}`)."
    return check


@dataclass(frozen=True)
class Param:
    """One parameter of the schema.

    :param key: its name in results and error messages (``"lambda"``).
    :param arg: the keyword of the library functions (``"lam"``).
    :param check: ``check(value, key)`` -> the converted value, or raises :class:`RlkitError`.
    :param flag: the CLI flag that sets it, or None.
    :param help: one line for the CLI's help.
    """

    key: str
    arg: str
    check: Callable[[Any, str], Any]
    flag: str | None = None
    help: str = ""


PARAMS: dict[str, Param] = {p.key: p for p in (
    Param("alpha", "alpha", check_unit_step, "--alpha", "step size in (0, 1]"),
    Param("n", "n", check_positive_int, "--n", "steps of n-step TD (integer > 0)"),
    Param("lambda", "lam", check_lambda, "--lambda", "λ of the traces, in [0, 1]"),
    Param("trace", "trace", check_trace, "--trace", "accumulating | replacing eligibility traces"),
    Param("offline", "offline", check_bool, None, "apply the summed increments at the end of each episode"),
    Param("first_visit", "first_visit", check_bool, None, "Monte Carlo updates first visits only"),
    Param("epsilon", "epsilon", _schedule("epsilon"), "--epsilon", "exploration in [0, 1] or a schedule"),
    Param("exploring_starts", "exploring_starts", check_bool, "--exploring-starts",
          "random start state and first action, then greedy"),
)}
#: control methods take a schedule as step size, value networks any step size > 0
CONTROL_ALPHA = Param("alpha", "alpha", _schedule("alpha"), "--alpha", "step size in (0, 1] or a schedule")
NEURAL_ALPHA = Param("alpha", "alpha", check_positive_step, "--alpha", "step size > 0")


@dataclass(frozen=True)
class Method:
    """One tabular method.

    :param name: what users type (``rlkit evaluate-policy --method NAME``).
    :param kind: ``"prediction"``, ``"control"`` or ``"neural"``.
    :param function: ``"module:attribute"`` of the function that runs it (see the kind's entry
        point for the signature it must have).
    :param params: parameter key -> default, in the order results report them; a default of
        None means "the method's own rule" (sample averages for Monte Carlo's alpha).
    :param summary: one line with its textbook reference.
    :param aliases: other spellings accepted.
    :param options: keywords passed to ``function`` that are not reported as parameters
        (e.g. the batch methods' ``batch_tol``).
    """

    name: str
    kind: str
    function: str
    params: dict[str, Any]
    summary: str = ""
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    schema: dict[str, Param] = field(default_factory=dict, repr=False)

    def param(self, key: str) -> Param:
        return self.schema.get(key) or PARAMS[key]

    def takes(self, key: str) -> bool:
        """Whether the method has parameter ``key`` (``"lambda"``, ``"n"``, ...)."""
        return key in self.params

    def validate(self, **given: Any) -> dict[str, Any]:
        """Check the method's parameters, given by their library keywords (``lam=0.5``); None or
        missing means the default. Keywords of parameters the method does not take are ignored
        (the library functions pass them all); :func:`check_flags` rejects them where a user
        typed them. Returns ``{key: value}`` in the method's order."""
        out: dict[str, Any] = {}
        for key, default in self.params.items():
            p = self.param(key)
            value = given.get(p.arg)
            if value is None:
                value = default
                if value is None:
                    out[key] = None
                    continue
            out[key] = p.check(value, key)
        return out

    def kwargs(self, params: dict[str, Any], exclude: tuple[str, ...] = ("alpha",),
               **options: Any) -> dict[str, Any]:
        """Keyword arguments for :attr:`run`: the validated parameters by their library names
        (less ``exclude``, which the kind's entry point passes itself) and the method's options."""
        out = {self.param(k).arg: v for k, v in params.items() if k not in exclude}
        out.update({k: options[k] for k in self.options})
        return out

    @property
    def run(self) -> Callable[..., Any]:
        """The function, imported on first use."""
        module, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module), attr)


#: (kind, name) -> entry, in registration order
METHODS: dict[tuple[str, str], Method] = {}


def register(entry: Method) -> Method:
    """Add a method to the registry (a name is unique within its kind, aliases included)."""
    if entry.kind not in KINDS:
        raise ValueError(f"unknown kind {entry.kind!r}")
    for n in (entry.name, *entry.aliases):
        if _lookup(entry.kind, n) is not None:
            raise ValueError(f"{entry.kind} method {n!r} is already registered")
    unknown = [k for k in entry.params if k not in PARAMS and k not in entry.schema]
    if unknown:
        raise ValueError(f"{entry.name}: parameters {unknown} are not in the schema")
    METHODS[(entry.kind, entry.name)] = entry
    return entry


def names(kind: str) -> tuple[str, ...]:
    """The method names of one kind, in registration order."""
    return tuple(name for k, name in METHODS if k == kind)


def _normalise(method: Any) -> str:
    return str(method).strip().lower().replace("_", "-")


def _lookup(kind: str, method: str) -> Method | None:
    entry = METHODS.get((kind, method))
    if entry is not None:
        return entry
    for (k, _), e in METHODS.items():
        if k == kind and method in e.aliases:
            return e
    return None


def get(kind: str, method: Any, what: str | None = None) -> Method:
    """The entry of ``method`` (a name or an alias, any case, ``_`` or ``-``) of one kind.

    :param what: how the error names it (default ``"<kind> method"``).
    :raises RlkitError: ``unknown <kind> method ...; choose one of ...``.
    """
    entry = _lookup(kind, _normalise(method))
    if entry is None:
        raise RlkitError(f"unknown {what or kind + ' method'} {method!r}; choose one of "
                         f"{', '.join(names(kind))}", where="method")
    return entry


def check_flags(entry: Method, given: dict[str, Any], context: str = "") -> None:
    """Reject a parameter a user set (not None in ``given``, keyed by parameter key) that
    ``entry`` does not take: ``--trace does not apply to --method td (it takes: --alpha)``."""
    for key, value in given.items():
        if value is None or value is False or entry.takes(key):
            continue
        flag = PARAMS[key].flag or key
        taken = [entry.param(k).flag for k in entry.params if entry.param(k).flag]
        raise RlkitError(f"{flag} does not apply to --method {entry.name}{context} (it takes: "
                         f"{', '.join(taken) or 'no method flags'})")


def help_text(kind: str) -> str:
    """``name | name | ...`` of one kind, for the CLI's ``--method`` help."""
    return " | ".join(names(kind))


# ---------------------------------------------------------------------------------------------
# The table. Prediction kernels: f(tr, V, alpha, gamma, rec, **params) -> dict of extras or None.
# Control learners: f(source, method, runs, episodes, seed, alpha, epsilon, q_init, max_steps,
# avail, **params) -> learner. Neural updates: see rlkit.tabular.neural.
# ---------------------------------------------------------------------------------------------

_P = "rlkit.tabular.prediction"
_C = "rlkit.tabular.control"
_N = "rlkit.tabular.neural"

register(Method("mc", "prediction", f"{_P}:mc_kernel", {"alpha": None, "first_visit": True},
                "first-visit Monte Carlo (S&B p. 92; constant-α p. 119)",
                aliases=("first-visit-mc", "monte-carlo")))
register(Method("every-visit-mc", "prediction", f"{_P}:mc_kernel", {"alpha": None, "first_visit": False},
                "every-visit Monte Carlo (S&B p. 92)"))
register(Method("td", "prediction", f"{_P}:td0_kernel", {"alpha": 0.1},
                "TD(0) (S&B p. 120)", aliases=("td0", "td(0)")))
register(Method("nstep", "prediction", f"{_P}:nstep_kernel", {"alpha": 0.1, "n": 4},
                "n-step TD (S&B p. 144)", aliases=("n-step", "n-step-td")))
register(Method("td-lambda", "prediction", f"{_P}:td_lambda_kernel",
                {"alpha": 0.1, "lambda": 0.9, "trace": "accumulating", "offline": False},
                "TD(λ) with eligibility traces (S&B p. 293)", aliases=("tdlambda", "td(lambda)")))
register(Method("batch-td", "prediction", f"{_P}:batch_td_kernel", {"alpha": 1.0},
                "batch TD(0) (S&B section 6.3)", options=("batch_tol", "max_sweeps")))
register(Method("batch-mc", "prediction", f"{_P}:batch_mc_kernel", {"alpha": 1.0, "first_visit": False},
                "batch Monte Carlo (S&B section 6.3)", options=("batch_tol", "max_sweeps")))
register(Method("true-online-td-lambda", "prediction", "rlkit.tabular.true_online:true_online_td_lambda",
                {"alpha": 0.1, "lambda": 0.9}, "true online TD(λ), dutch traces (S&B p. 300)",
                aliases=("true-online", "true-online-td")))

_CONTROL = {"alpha": 0.1, "epsilon": 0.1}
_CA = {"alpha": CONTROL_ALPHA}
register(Method("sarsa", "control", f"{_C}:sarsa_learner", _CONTROL, "SARSA (S&B p. 130)", schema=_CA))
register(Method("expected-sarsa", "control", f"{_C}:expected_sarsa_learner", _CONTROL,
                "Expected SARSA (S&B p. 133)", schema=_CA))
register(Method("q-learning", "control", f"{_C}:q_learning_learner", _CONTROL, "Q-learning (S&B p. 131)",
                aliases=("qlearning",), schema=_CA))
register(Method("double-q-learning", "control", f"{_C}:double_q_learning_learner", _CONTROL,
                "Double Q-learning (S&B p. 136)", aliases=("double-q", "double-qlearning"), schema=_CA))
register(Method("mc-control", "control", f"{_C}:mc_control_learner",
                {"alpha": None, "epsilon": 0.1, "exploring_starts": False, "first_visit": True},
                "Monte Carlo control, ε-soft (S&B p. 101) or exploring starts (p. 99)",
                aliases=("mc", "monte-carlo", "mc-es"), schema=_CA))

_NA = {"alpha": NEURAL_ALPHA}
register(Method("td", "neural", f"{_N}:semi_gradient_td0_learner", {"alpha": 0.01},
                "semi-gradient TD(0) (S&B section 9.3)", schema=_NA))
register(Method("td-lambda", "neural", f"{_N}:semi_gradient_td_lambda_learner",
                {"alpha": 0.01, "lambda": 0.0},
                "semi-gradient TD(λ) (S&B section 12.2)", schema=_NA))
register(Method("mc", "neural", f"{_N}:gradient_mc_learner", {"alpha": 0.01},
                "gradient Monte Carlo (S&B section 9.3)", aliases=("every-visit-mc",), schema=_NA))
