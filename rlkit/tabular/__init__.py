"""rlkit.tabular: sample-based prediction and control on finite MDPs and Gymnasium toy-text envs.

* prediction -- :func:`evaluate_policy` (Monte Carlo, TD(0), n-step TD, TD(λ), batch TD / MC),
  :func:`evaluate_policy_sweep` (several step sizes in one pass), :func:`estimate_values` (a method
  over transitions you already sampled);
* control -- :func:`control` (SARSA, Expected SARSA, Q-learning, Double Q-learning, Monte Carlo
  control with ε-greedy or exploring starts);
* sampling -- :func:`make_source`, :func:`rollout`: many independent runs advanced together in
  numpy, one random stream per run.

Every estimate is scored against the exact answer of :mod:`rlkit.mdp` when a model exists.
"""

from rlkit.tabular.control import (
    CONTROL_METHODS,
    ControlResult,
    control,
    double_q_learning,
    expected_sarsa,
    mc_control,
    q_learning,
    sarsa,
)
from rlkit.tabular.policies import (
    as_policy_matrix,
    epsilon_greedy_probs,
    greedy_policy,
    load_policy,
    resolve_policy,
    uniform_policy,
)
from rlkit.tabular.prediction import (
    PREDICTION_METHODS,
    PredictionResult,
    batch_mc,
    batch_td,
    estimate_values,
    estimate_values_sweep,
    evaluate_policy,
    evaluate_policy_sweep,
    exact_values,
    mc_prediction,
    nstep_td,
    td_lambda,
    td_prediction,
)
from rlkit.tabular.sampling import (
    GymSource,
    ModelSource,
    RunStreams,
    Source,
    Transitions,
    make_source,
    rollout,
)
from rlkit.tabular.schedules import Constant, Exponential, Linear, Schedule, parse_schedule

__all__ = [
    "CONTROL_METHODS", "ControlResult", "control", "sarsa", "expected_sarsa", "q_learning",
    "double_q_learning", "mc_control",
    "PREDICTION_METHODS", "PredictionResult", "evaluate_policy", "evaluate_policy_sweep",
    "estimate_values", "estimate_values_sweep", "exact_values", "mc_prediction", "td_prediction",
    "nstep_td", "td_lambda", "batch_td", "batch_mc",
    "Source", "ModelSource", "GymSource", "RunStreams", "Transitions", "make_source", "rollout",
    "as_policy_matrix", "epsilon_greedy_probs", "greedy_policy", "load_policy", "resolve_policy",
    "uniform_policy", "Schedule", "Constant", "Linear", "Exponential", "parse_schedule",
    "neural_prediction", "semi_gradient_td", "semi_gradient_td_lambda", "gradient_mc",
    "NeuralPredictionResult", "ValueNetwork",
]

# Function approximation (rlkit.tabular.neural) imports torch: load it on first use only, so that
# `import rlkit.tabular` stays light.
_NEURAL = {"neural_prediction", "semi_gradient_td", "semi_gradient_td_lambda", "gradient_mc",
           "NeuralPredictionResult", "ValueNetwork"}


def __getattr__(name: str):
    if name in _NEURAL:
        from rlkit.tabular import neural

        return getattr(neural, name)
    raise AttributeError(f"module 'rlkit.tabular' has no attribute {name!r}")
