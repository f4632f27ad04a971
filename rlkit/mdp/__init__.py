"""rlkit.mdp: Markov chains, reward processes and MDPs, solved exactly and by dynamic programming.

>>> from rlkit.mdp import MDP, policy_iteration, value_iteration   # doctest: +SKIP
"""

from rlkit.mdp.models import MDP, MRP, MarkovChain
from rlkit.mdp.solution import Solution

__all__ = ["MarkovChain", "MRP", "MDP", "Solution"]
