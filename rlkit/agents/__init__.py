"""rlkit.agents: REINFORCE and what it needs (policies, distributions, rollouts, presets).

>>> from rlkit.agents import Reinforce
>>> agent = Reinforce(None, "CartPole-v1", seed=0, n_envs=2, n_steps=8)
>>> agent.learn(32, progress_bar=False).num_timesteps
32
"""

from rlkit.agents.reinforce import NaNLossError, Reinforce, ReinforceConfig, reinforce_update
from rlkit.agents.rollout import gae, returns_to_go

__all__ = ["NaNLossError", "Reinforce", "ReinforceConfig", "gae", "reinforce_update", "returns_to_go"]
