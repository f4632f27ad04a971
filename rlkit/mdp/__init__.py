"""rlkit.mdp: Markov chains, reward processes and MDPs, solved exactly and by dynamic programming.

Models (:mod:`rlkit.mdp.models`) hold validated arrays in pymdptoolbox's layout, ``P[a, s, s']``
and ``R[s, a]``; solvers (:mod:`rlkit.mdp.exact`, :mod:`rlkit.mdp.dp`) are plain functions that
return a :class:`Solution`.
"""

from rlkit.mdp.dp import (
    backward_induction,
    bellman_residual,
    evaluate,
    evaluate_average,
    gauss_seidel,
    greedy_policy,
    linear_programming,
    modified_policy_iteration,
    policy_iteration,
    policy_iteration_average,
    proper_policy,
    q_from_v,
    relative_value_iteration,
    value_iteration,
)
from rlkit.mdp.exact import solve_mrp
from rlkit.mdp.formats import catalog_names, load, save
from rlkit.mdp.models import MDP, MRP, MarkovChain
from rlkit.mdp.solution import Solution

__all__ = [
    "MarkovChain", "MRP", "MDP", "Solution",
    "solve_mrp", "evaluate", "policy_iteration", "value_iteration", "modified_policy_iteration",
    "gauss_seidel", "backward_induction", "evaluate_average", "policy_iteration_average",
    "relative_value_iteration", "linear_programming", "q_from_v", "greedy_policy", "bellman_residual",
    "proper_policy", "load", "save", "catalog_names",
]
