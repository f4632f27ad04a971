"""rlkit: reinforcement learning on Gymnasium and PyTorch.

Three paths that meet in shared parts (see DESIGN.md):

* tabular  -- :mod:`rlkit.mdp` (exact solves, dynamic programming) and :mod:`rlkit.tabular`
  (Monte Carlo, TD, SARSA, Q-learning);
* supervised -- :mod:`rlkit.supervised` (MLP / CNN / RNN backbones, MNIST);
* RL -- :mod:`rlkit.agents` (REINFORCE), :mod:`rlkit.envs`, :mod:`rlkit.runs`,
  :mod:`rlkit.experiments`.
"""

from rlkit.errors import RlkitError

__version__ = "0.1.0"

__all__ = ["RlkitError", "__version__"]
