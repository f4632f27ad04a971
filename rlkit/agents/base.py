"""The on-policy agent base: what every on-policy algorithm of rlkit shares (SB3's
``OnPolicyAlgorithm`` idea), so that an algorithm is its config, its loss and its update.

:class:`OnPolicyAgent` owns

* the vector env and the :class:`~rlkit.agents.rollout.Collector` (seeded resets, exact replay),
* the policy (:class:`~rlkit.agents.policies.ActorCritic`) and, optionally, observation
  normalisation and reward scaling (:mod:`rlkit.agents.normalize`),
* the learn loop (``learn`` / ``train_one_batch``, callbacks with the finished episodes, a
  progress bar, the learning-rate schedule),
* ``predict`` / ``action_probabilities``,
* ``save`` / ``load`` (a model file: config, spaces, weights, normalisation statistics) and
  ``get_state`` / ``set_state`` (everything for an exact resume: optimisers, counters, every
  random generator, the envs' episodes).

A subclass sets :attr:`OnPolicyAgent.name`, :attr:`OnPolicyAgent.config_class` (a dataclass
derived from :class:`OnPolicyConfig`, checked by :mod:`rlkit.agents.config`) and implements
:meth:`OnPolicyAgent._make_optimizers` and :meth:`OnPolicyAgent.update` (one gradient update on a
collected :class:`~rlkit.agents.rollout.Rollout`, returning its numbers). Extra state that must
survive a resume goes through :meth:`OnPolicyAgent._extra_state` / ``_load_extra_state``.
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlkit._torchfile import load_torch_file, tensors_digest
from rlkit.agents.config import check_field, hp, make_config
from rlkit.agents.normalize import ObsNormalizer, RewardScaler
from rlkit.agents.policies import ActorCritic
from rlkit.agents.rollout import Collector, Rollout, make_vec_env
from rlkit.agents.spaces import space_from_dict, space_to_dict
from rlkit.errors import RlkitError
from rlkit.progress import TrainingProgress
from rlkit.seeding import seed_everything

__all__ = ["Episode", "OnPolicyAgent", "OnPolicyConfig", "lr_factor", "optimizer", "resolve_device"]

#: The largest number of sub-envs an agent makes (a typo such as ``n_envs=100000`` would
#: otherwise try to create that many environments).
MAX_ENVS = 4096


@dataclass
class OnPolicyConfig:
    """Settings every on-policy agent has (collection, schedule, optimiser, normalisation).

    :param n_envs: number of parallel sub-envs.
    :param vectorization: ``sync`` (one process) or ``async`` (a process per sub-env).
    :param batch_mode: ``steps`` (``n_steps`` per sub-env per batch) or ``episodes`` (whole
        episodes; ``n_episodes`` per batch, rounded up to a multiple of ``n_envs``).
    :param n_steps: steps per sub-env per batch (``steps`` mode).
    :param n_episodes: episodes per batch (``episodes`` mode).
    :param gamma: discount factor.
    :param max_grad_norm: clip the gradient's global norm (None: no clipping).
    :param learning_rate: learning rate (start value of the schedule).
    :param lr_schedule: ``constant``, ``linear`` or ``cosine`` over ``total_timesteps``.
    :param lr_final: the schedule's final learning rate as a fraction of the first.
    :param optimizer: ``adam``, ``rmsprop`` or ``sgd``.
    :param adam_eps: epsilon of Adam / RMSprop.
    :param normalize_obs: running mean/std observation normalisation (as SB3's VecNormalize).
    :param normalize_reward: scale rewards by the running std of the discounted return.
    :param clip_obs: clip normalised observations to ``[-clip_obs, clip_obs]``.
    :param clip_reward: clip scaled rewards to ``[-clip_reward, clip_reward]``.
    :param env_kwargs: keyword arguments of ``gymnasium.make``.
    :param torch_threads: torch intra-op threads while learning (1 is fastest for small nets);
        None leaves torch's setting.
    :param stats_window: episodes in the running mean return.
    :param device: where the networks run: ``cpu``, ``cuda``, or ``auto`` (CUDA when there is
        one and the policy has a CNN backbone; tiny MLPs are faster on the CPU). Environments,
        rollouts and action sampling stay on the CPU; models and checkpoints are saved with CPU
        tensors, so they load on either.
    """

    n_envs: int = hp(8, lo=1, hi=MAX_ENVS)
    vectorization: str = hp("sync", choices=("sync", "async"))
    batch_mode: str = hp("steps", choices=("steps", "episodes"))
    n_steps: int = hp(64, lo=1, hi=10**7)
    n_episodes: int = hp(8, lo=1, hi=10**6)
    gamma: float = hp(0.99, lo=0.0, hi=1.0)
    max_grad_norm: float | None = hp(0.5, lo=0.0)
    learning_rate: float = hp(1e-3, lo=0.0)
    lr_schedule: str = hp("constant", choices=("constant", "linear", "cosine"))
    lr_final: float = hp(0.0, lo=0.0, hi=1.0)
    optimizer: str = hp("adam", choices=("adam", "rmsprop", "sgd"))
    adam_eps: float = hp(1e-5, lo=0.0)
    normalize_obs: bool = hp(False)
    normalize_reward: bool = hp(False)
    clip_obs: float = hp(10.0, lo=0.0)
    clip_reward: float = hp(10.0, lo=0.0)
    env_kwargs: dict = hp({})
    torch_threads: int | None = hp(1, lo=1, hi=1024)
    stats_window: int = hp(100, lo=1, hi=10**6)
    device: str = hp("auto", choices=("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class Episode:
    """A finished training episode: the env step count when it ended (over all sub-envs), its
    return in the env's own rewards, its length and the sub-env it ran in."""

    timesteps: int
    ret: float
    length: int
    env: int


def lr_factor(kind: str, progress: float, final: float = 0.0) -> float:
    """Learning-rate multiplier after ``progress`` in [0, 1] of training.

    ``constant``: 1; ``linear``: ``1 - (1 - final) progress``; ``cosine``:
    ``final + (1 - final) (1 + cos(pi progress)) / 2``.
    """
    p = min(max(float(progress), 0.0), 1.0)
    if kind == "linear":
        return 1.0 - (1.0 - final) * p
    if kind == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0


def optimizer(name: str, params: list[torch.nn.Parameter], lr: float, eps: float) -> torch.optim.Optimizer:
    """The torch optimiser called ``name`` (adam, rmsprop, sgd)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=eps)
    return torch.optim.SGD(params, lr=lr)


Callback = Callable[["OnPolicyAgent", dict[str, Any]], Any]


def resolve_device(device: str, policy_cfg: dict[str, Any]) -> torch.device:
    """The torch device of the ``device`` setting (see :class:`OnPolicyConfig`).

    :raises RlkitError: ``cuda`` on a machine without CUDA.
    """
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RlkitError("CUDA was asked for but is not available here; use --device cpu (or auto)",
                             where="device")
        return torch.device("cuda")
    cnn = any(isinstance(policy_cfg.get(k), dict) and policy_cfg[k].get("type") == "cnn"
              for k in ("net", "value_net"))
    return torch.device("cuda" if device == "auto" and cnn and torch.cuda.is_available() else "cpu")


def _check_weights(model: dict[str, Any], where: str) -> None:
    """Refuse weights that fail the model's checksum or are not finite."""
    state = model["policy_state"]
    if "digest" in model and tensors_digest(state) != model["digest"]:
        raise RlkitError("the weights do not match the file's checksum (damaged or edited)", where=where)
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise RlkitError(f"the weights {name!r} are not finite (NaN or inf)", where=where)


class OnPolicyAgent:
    """An on-policy agent shaped like a Stable-Baselines3 algorithm (see the module docstring).

    :param policy_cfg: policy config (see :mod:`rlkit.agents.policies`), e.g.
        ``{"net": {"type": "mlp", "hidden": [64, 64]}}``; None for the defaults.
    :param env: an env id, a :class:`gymnasium.Env` or a vector env (``autoreset_mode=DISABLED``).
        None only with ``observation_space`` and ``action_space`` (a loaded model that only predicts).
    :param seed: seeds the network initialisation, the action noise and every episode's reset; any
        integer (see :func:`rlkit.seeding.normalize_seed`).
    :param hyperparams: any field of the agent's :attr:`config_class`.
    """

    #: the agent's name in presets, run folders and the registry
    name: ClassVar[str] = ""
    #: the hyperparameter dataclass
    config_class: ClassVar[type] = OnPolicyConfig

    def __init__(
        self,
        policy_cfg: dict[str, Any] | None = None,
        env: Any = None,
        *,
        seed: int = 0,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        env_id: str | None = None,
        verbose: int = 0,
        **hyperparams: Any,
    ) -> None:
        from rlkit.seeding import normalize_seed

        self.seed = normalize_seed(seed)  # any integer: negative or huge seeds are reduced, not refused
        self.verbose = verbose
        self.config = self.make_config(**hyperparams)
        cfg = self.config
        self.envs: gym.vector.VectorEnv | None = None
        self.env_id = env_id
        if env is not None:
            self.envs, made_id = make_vec_env(env, cfg.n_envs, cfg.vectorization, cfg.env_kwargs)
            self.env_id = self.env_id or made_id
            if self.envs.num_envs != cfg.n_envs:
                self.config.n_envs = self.envs.num_envs
            observation_space = self.envs.single_observation_space
            action_space = self.envs.single_action_space
        elif observation_space is None or action_space is None:
            raise RlkitError(
                "give an env (id, Env or VectorEnv), or observation_space and action_space", where="env"
            )
        self.observation_space, self.action_space = observation_space, action_space
        try:
            self.obs_normalizer = self._make_obs_normalizer()
            seed_everything(self.seed)  # the networks' initial weights
            self.policy = ActorCritic(
                observation_space, action_space, policy_cfg, with_value=self._with_value()
            )
            self.policy_cfg = self.policy.cfg
            self.device = resolve_device(cfg.device, self.policy_cfg)
            self.policy.to(self.device)
            self._check_policy()
            self.optimizers = self._make_optimizers()
        except BaseException:
            self.close()
            raise
        self.reward_scaler = (
            RewardScaler(cfg.n_envs, cfg.gamma, cfg.clip_reward) if cfg.normalize_reward else None
        )
        self._rng = np.random.default_rng(self.seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        self._predict_gen = torch.Generator().manual_seed((self.seed + 1) % 2**64)
        self.num_timesteps = 0
        self.num_updates = 0
        self._total_timesteps = 0
        self.last_stats: dict[str, Any] = {}
        self.collector: Collector | None = None
        if self.envs is not None:
            self.collector = Collector(
                self.envs,
                self._rng,
                self.policy.spec["raw_shape"],
                self.policy.spec["raw_dtype"],
                cfg.stats_window,
                obs_normalizer=self.obs_normalizer,
                reward_scaler=self.reward_scaler,
            )

    # -- hooks of a subclass -----------------------------------------------------------------------
    @classmethod
    def make_config(cls, **hyperparams: Any) -> Any:
        """A checked config; subclasses add checks across fields."""
        return make_config(cls.config_class, **hyperparams)

    @classmethod
    def check_hyperparam(cls, name: str, value: Any, where: str | None = None) -> Any:
        """Check one hyperparameter's type and range; return it normalised."""
        return check_field(cls.config_class, name, value, where)

    def _with_value(self) -> bool:
        """Whether the policy has a value net."""
        return True

    def _check_policy(self) -> None:
        """Checks that need the built policy (e.g. a shared backbone needs one optimiser)."""

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def update(self, rollout: Rollout) -> dict[str, Any]:
        """One update on a collected batch; returns the update's numbers (losses, ...)."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        """Algorithm state beyond weights, optimisers and RNGs that a resume needs."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_extra_state`."""

    # -- set-up ------------------------------------------------------------------------------------
    def _make_obs_normalizer(self) -> ObsNormalizer | None:
        if not self.config.normalize_obs:
            return None
        space = self.observation_space
        if not isinstance(space, spaces.Box) or not np.issubdtype(space.dtype, np.floating):
            raise RlkitError(
                f"normalize_obs needs a Box observation space of floats, the env has {space}",
                where="normalize_obs",
            )
        return ObsNormalizer(space.shape, self.config.clip_obs)

    def _learning_rate_factor(self) -> float:
        cfg = self.config
        progress = self.num_timesteps / self._total_timesteps if self._total_timesteps else 0.0
        return lr_factor(cfg.lr_schedule, progress, cfg.lr_final)

    @property
    def steps_per_batch(self) -> int:
        """Env steps of one batch (``steps`` mode; whole-episode batches vary)."""
        return self.config.n_envs * self.config.n_steps

    # -- learning ----------------------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: int,
        callback: Callback | None = None,
        progress_bar: bool | None = None,
        reset_num_timesteps: bool = True,
    ) -> OnPolicyAgent:
        """Train for ``total_timesteps`` environment steps (summed over sub-envs).

        :param total_timesteps: env steps to train for; a batch is never cut, so training can
            overshoot by less than one batch.
        :param callback: ``callback(agent, metrics) -> bool | None`` after every update; returning
            False stops training. ``metrics`` holds ``update``, ``timesteps``, ``episodes``,
            ``return_mean``, ``length_mean``, the update's losses, ``learning_rate`` and
            ``finished``: the :class:`Episode` list of every episode that ended in the batch.
        :param progress_bar: True shows a progress bar (terminal or Jupyter), False never; None
            (default) shows one on a terminal or in a notebook only.
        :param reset_num_timesteps: start counting from 0 with fresh episodes (True), or continue
            from the current counters and episodes (False; the learning-rate schedule then spans
            ``num_timesteps + total_timesteps``).
        :returns: self.
        """
        if self.envs is None:
            raise RlkitError(
                f"this agent has no env; load it with {type(self).__name__}.load(path, env=...)", where="env"
            )
        if (
            isinstance(total_timesteps, bool)
            or not isinstance(total_timesteps, (int, np.integer))
            or total_timesteps < 0
        ):
            raise RlkitError(
                f"total_timesteps must be a non-negative integer, got {total_timesteps!r}",
                where="total_timesteps",
            )
        if reset_num_timesteps:
            self.num_timesteps = 0
            self.collector.pending_reset = True
            self._total_timesteps = int(total_timesteps)
        else:
            self._total_timesteps = self.num_timesteps + int(total_timesteps)
        threads = torch.get_num_threads()
        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        bar = TrainingProgress(self._total_timesteps, self.num_timesteps, enabled=progress_bar)
        try:
            while self.num_timesteps < self._total_timesteps:
                metrics = self.train_one_batch()
                bar.update(self.num_timesteps, metrics["return_mean"])
                if callback is not None and callback(self, metrics) is False:
                    break
        finally:
            bar.close()
            torch.set_num_threads(threads)
        return self

    def collect(self) -> Rollout:
        """Collect one batch with the current policy (see :class:`~rlkit.agents.rollout.Collector`)."""
        cfg = self.config
        if cfg.batch_mode == "episodes":
            return self.collector.collect(
                self.policy, self._gen, episodes_per_env=-(-cfg.n_episodes // cfg.n_envs)
            )
        return self.collector.collect(self.policy, self._gen, n_steps=cfg.n_steps)

    def train_one_batch(self) -> dict[str, Any]:
        """Collect one batch, update; return the metrics of this update."""
        before = self.num_timesteps
        rollout = self.collect()
        self.num_timesteps += int(rollout.rewards.size)
        stats = self.update(rollout)
        self.num_updates += 1
        n = self.config.n_envs
        finished = [
            Episode(before + (t + 1) * n, r, L, e)
            for t, r, L, e in zip(
                rollout.episode_steps, rollout.episode_returns, rollout.episode_lengths, rollout.episode_envs,
                strict=True,
            )
        ]
        returns = self.collector.recent_returns
        lengths = self.collector.recent_lengths
        self.last_stats = {
            "update": self.num_updates,
            "timesteps": self.num_timesteps,
            "episodes": self.collector.num_episodes,
            "return_mean": float(np.mean(returns)) if returns else float("nan"),
            "length_mean": float(np.mean(lengths)) if lengths else float("nan"),
            **stats,
            "finished": finished,
        }
        return self.last_stats

    # -- acting ------------------------------------------------------------------------------------
    def _batched(self, obs: Any) -> tuple[np.ndarray, bool]:
        obs = np.asarray(obs)
        shape = self.observation_space.shape or ()
        if obs.shape == tuple(shape):
            return obs[None], True
        if obs.shape[1:] != tuple(shape):
            raise RlkitError(
                f"observation shape {obs.shape} does not match the space's {tuple(shape)} "
                "(one observation or a batch of them)",
                where="obs",
            )
        return obs, False

    def _policy_input(self, batch: np.ndarray) -> torch.Tensor:
        """Observations as the policy reads them: normalised with the frozen statistics, if any."""
        if self.obs_normalizer is not None:
            batch = self.obs_normalizer(batch)
        return self.policy.obs_to_tensor(batch)

    def predict(
        self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The policy's action for an observation or a batch of them (like SB3's ``predict``).

        :param obs: one observation or a batch (B, *obs_shape), as the env gives them (the
            agent applies its observation normalisation itself).
        :param state: the recurrent hidden state returned by the previous call (None at the start).
        :param episode_start: (B,) bool, True where a new episode starts (resets ``state`` there).
        :param deterministic: the most likely action (argmax / Gaussian mean) instead of a sample.
        :returns: (actions as the env takes them, next hidden state or None).
        """
        batch, single = self._batched(obs)
        pol = self.policy
        hidden = starts = None
        if pol.is_recurrent:
            hidden = (
                pol.initial_state(len(batch))
                if state is None
                else torch.as_tensor(np.asarray(state), dtype=torch.float32)
            )
            if episode_start is not None:
                starts = torch.as_tensor(np.asarray(episode_start, dtype=bool).reshape(-1))
        with torch.inference_mode():
            _, actions, hidden = pol.act(
                self._policy_input(batch),
                hidden,
                starts,
                deterministic=deterministic,
                generator=self._predict_gen,
            )
        new_state = None if hidden is None else hidden.numpy().copy()
        return (actions[0] if single else actions), new_state

    def action_probabilities(self, obs: Any) -> np.ndarray:
        """Action probabilities (B, n) of a Discrete-action, non-recurrent policy (for the tabular bridge)."""
        if self.policy.spec["kind"] != "discrete" or self.policy.is_recurrent:
            raise RlkitError("action_probabilities needs a Discrete action space and a non-recurrent policy")
        batch, single = self._batched(obs)
        with torch.inference_mode():
            dist, _ = self.policy.distribution(self._policy_input(batch))
            probs = dist.logits.double().exp()
            probs = (probs / probs.sum(-1, keepdim=True)).numpy()  # rows sum to 1 in float64
        return probs[0] if single else probs

    # -- saving ------------------------------------------------------------------------------------
    @classmethod
    def file_format(cls) -> str:
        """The ``format`` tag of this agent's model files."""
        return f"rlkit-{cls.name}"

    def _normalizer_state(self) -> dict[str, Any]:
        return {
            "obs": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "reward": None if self.reward_scaler is None else self.reward_scaler.state_dict(),
        }

    def _load_normalizer_state(self, state: dict[str, Any] | None, where: str) -> None:
        state = state or {}
        for kind, obj in (("obs", self.obs_normalizer), ("reward", self.reward_scaler)):
            saved = state.get(kind)
            if obj is None:
                continue
            if saved is None:
                raise RlkitError(f"the file has no {kind} normalisation statistics", where=where)
            obj.load_state_dict(saved, where)

    def _model_dict(self) -> dict[str, Any]:
        policy_state = {k: v.cpu() for k, v in self.policy.state_dict().items()}
        return {
            "format": self.file_format(),
            "version": 1,
            "agent": self.name,
            "env_id": self.env_id,
            "seed": self.seed,
            "config": copy.deepcopy(asdict(self.config)),
            "policy_cfg": copy.deepcopy(self.policy_cfg),
            "observation_space": space_to_dict(self.observation_space),
            "action_space": space_to_dict(self.action_space),
            "policy_state": policy_state,
            "normalization": self._normalizer_state(),
            "num_timesteps": self.num_timesteps,
            "num_updates": self.num_updates,
            "digest": tensors_digest(policy_state),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Save the model (config, spaces, weights, normalisation statistics) atomically (``.pt``)."""
        from rlkit._io import atomic_write

        return atomic_write(path, lambda p: torch.save(self._model_dict(), p))

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any = None, **overrides: Any) -> OnPolicyAgent:
        """Load a model written by :meth:`save` (or the model inside a run's checkpoint) without
        unpickling objects.

        :param path: the ``.pt`` file.
        :param env: an env to continue learning in (its spaces must match); None to only predict.
        :param overrides: hyperparameters to change (e.g. ``n_envs``).
        :raises RlkitError: missing, corrupt, tampered or foreign file; spaces that do not match.
        """
        data = load_torch_file(path)
        if isinstance(data.get("agent"), dict) and isinstance(data["agent"].get("model"), dict):
            data = data["agent"]["model"]  # a run checkpoint (rlkit.runs.checkpoint)
        elif isinstance(data.get("model"), dict):
            data = data["model"]  # an agent state (get_state)
        return cls.from_model_dict(data, str(path), env=env, **overrides)

    @classmethod
    def from_model_dict(
        cls, data: dict[str, Any], where: str, env: Any = None, **overrides: Any
    ) -> OnPolicyAgent:
        """The agent of a model dict (see :meth:`load`)."""
        if data.get("format") != cls.file_format():
            raise RlkitError(f"not an rlkit {cls.name} model", where=where)
        try:
            state = data["policy_state"]
            _check_weights(data, where)
            obs_space = space_from_dict(data["observation_space"])
            act_space = space_from_dict(data["action_space"])
            config = {**data["config"], **overrides}
            if config.get("device") == "cuda" and "device" not in overrides and not torch.cuda.is_available():
                config["device"] = "cpu"  # a model trained on a GPU loads on a machine without one
            agent = cls(
                data["policy_cfg"],
                env,
                seed=data["seed"],
                observation_space=obs_space,
                action_space=act_space,
                env_id=data.get("env_id"),
                **config,
            )
            if env is not None and (agent.observation_space != obs_space or agent.action_space != act_space):
                agent.close()
                raise RlkitError(
                    f"the env's spaces {agent.observation_space}, {agent.action_space} do not match "
                    f"the model's {obs_space}, {act_space}",
                    where="env",
                )
            agent.policy.load_state_dict(state)
            agent._load_normalizer_state(data.get("normalization"), where)
        except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as exc:
            raise RlkitError(
                f"the model file is damaged or from another version ({str(exc)[:200]})", where=where
            ) from None
        agent.num_timesteps = int(data.get("num_timesteps", 0))
        agent.num_updates = int(data.get("num_updates", 0))
        return agent

    # -- checkpoints (everything needed to continue exactly) ---------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The full training state: model, optimisers, counters, normalisation, collector (episode
        seeds and actions), the algorithm's extra state and every RNG. Plain types and tensors only."""
        np_state = np.random.get_state()
        py_state = random.getstate()
        return {
            "format": self.file_format() + "-checkpoint",
            "version": 1,
            "model": self._model_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "counters": {
                "num_timesteps": self.num_timesteps,
                "num_updates": self.num_updates,
                "total_timesteps": self._total_timesteps,
            },
            **self._extra_state(),
            "collector": self.collector.state_dict() if self.collector is not None else None,
            "rng": {
                "numpy": self._rng.bit_generator.state,
                "torch": self._gen.get_state(),
                "predict": self._predict_gen.get_state(),
                "torch_global": torch.get_rng_state(),
                "numpy_global": [
                    np_state[0],
                    torch.from_numpy(np_state[1].astype(np.int64)),
                    int(np_state[2]),
                    int(np_state[3]),
                    float(np_state[4]),
                ],
                "python": [py_state[0], list(py_state[1]), py_state[2]],
            },
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` (the env must be the same: the collector replays episodes).

        :raises RlkitError: a damaged state, weights that fail their checksum or are not finite,
            non-finite normalisation statistics.
        """
        where = "checkpoint"
        try:
            model = state["model"]
            _check_weights(model, where)
            self.policy.load_state_dict(model["policy_state"])
            self._load_normalizer_state(model.get("normalization"), where)
            for k, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
            c = state["counters"]
            self.num_timesteps = int(c["num_timesteps"])
            self.num_updates = int(c["num_updates"])
            self._total_timesteps = int(c["total_timesteps"])
            self._load_extra_state(state)
            rng = state["rng"]
            self._rng.bit_generator.state = rng["numpy"]
            self._gen.set_state(rng["torch"])
            self._predict_gen.set_state(rng["predict"])
            torch.set_rng_state(rng["torch_global"])
            g = rng["numpy_global"]
            np.random.set_state((g[0], g[1].numpy().astype(np.uint32), g[2], g[3], g[4]))
            p = rng["python"]
            random.setstate((p[0], tuple(p[1]), p[2]))
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise RlkitError(
                f"the checkpoint is damaged or from another version ({str(exc)[:200]})", where=where
            ) from None
        if self.collector is not None and state.get("collector") is not None:
            try:
                self.collector.load_state_dict(state["collector"])
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
                raise RlkitError(
                    f"the checkpoint's environment state is damaged ({str(exc)[:200]})", where=where
                ) from None

    def close(self) -> None:
        """Close the envs."""
        if self.envs is not None:
            self.envs.close()
