"""Rollouts: vectorised collection from a Gymnasium vector env, and returns / advantages.

Collection
----------
The vector env runs with ``autoreset_mode=DISABLED`` (Gymnasium >= 1.1): when a sub-env's episode
ends, :class:`Collector` resets just that sub-env itself with ``reset(seed=s, options={"reset_mask":
done})``, where ``s`` is drawn from the agent's own :class:`numpy.random.Generator`. Compared with
the default ``NEXT_STEP`` mode (the sub-env is reset on the *next* ``step`` call, whose action is
ignored and whose reward must be masked out) this gives

* the true final observation of every episode right in the step that ends it (truncated episodes
  bootstrap from it), and no wasted "reset step";
* an explicit seed for every episode. The state of a sub-env mid-episode is then a function of
  that seed and the actions taken since, so a checkpoint stores (seed, actions) per sub-env and a
  resumed run replays them to put every sub-env back exactly where it was -- without pickling
  environments (see :meth:`Collector.state_dict`).

Batches are either ``n_steps`` steps of every sub-env (``batch_mode="steps"``; episodes carry over
between batches) or whole episodes (``batch_mode="episodes"``: every sub-env runs a quota of
complete episodes from a fresh reset; a sub-env that has met its quota keeps stepping until the
others are done, and those extra steps are left out of the update).

The returns and advantages of a rollout are pure functions in :mod:`rlkit.agents.returns`
(re-exported here).
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from rlkit.agents.returns import complete_returns_mask, gae, returns_to_go
from rlkit.errors import RlkitError

__all__ = [
    "Collector",
    "Rollout",
    "complete_returns_mask",
    "gae",
    "make_vec_env",
    "returns_to_go",
]

_SEED_HIGH = 2**31 - 1


# ------------------------------------------------------------------------------------------------
# rollout storage
# ------------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One batch of experience, time first: arrays (T, N, ...).

    :ivar obs: observations s_t.
    :ivar actions: raw actions (what the log-probabilities are of).
    :ivar env_actions: the actions sent to the env (clipped / squashed / offset).
    :ivar rewards: r_t (float64).
    :ivar terminated: the episode terminated at step t.
    :ivar truncated: the episode was truncated (time limit) at step t.
    :ivar starts: ``obs[t]`` is the first observation of an episode.
    :ivar final_obs: the last observation of an episode truncated at step t (else zeros).
    :ivar valid: steps that go into the update.
    :ivar next_obs: (N, ...) the observation after the last step.
    :ivar h0: the policy's hidden state before the first step (recurrent policies).
    :ivar episode_returns: the env's own (unscaled) return of every episode that ended in the batch;
        ``episode_lengths``, ``episode_envs`` (sub-env) and ``episode_steps`` (the batch step ``t``
        it ended at) go with it, in the order the episodes ended.

    With observation normalisation ``obs``, ``final_obs`` and ``next_obs`` hold normalised
    observations and with reward scaling ``rewards`` the scaled rewards: what the update sees.
    """

    obs: np.ndarray
    actions: np.ndarray
    env_actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    starts: np.ndarray
    final_obs: np.ndarray
    valid: np.ndarray
    next_obs: np.ndarray
    h0: torch.Tensor | None = None
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_envs: list[int] = field(default_factory=list)
    episode_steps: list[int] = field(default_factory=list)

    @property
    def dones(self) -> np.ndarray:
        return self.terminated | self.truncated

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])


class _Buffers:
    """Pre-allocated arrays that grow by doubling (whole-episode batches have unknown length)."""

    def __init__(
        self,
        capacity: int,
        n: int,
        obs_space: gym.Space,
        raw_shape: tuple,
        raw_dtype,
        env_action_space: gym.Space,
        obs_dtype=None,
    ) -> None:
        obs_shape, obs_dtype = obs_space.shape, (obs_space.dtype if obs_dtype is None else obs_dtype)
        self.arrays = {
            "obs": np.zeros((capacity, n, *obs_shape), dtype=obs_dtype),
            "actions": np.zeros((capacity, n, *raw_shape), dtype=raw_dtype),
            "env_actions": np.zeros((capacity, n, *env_action_space.shape), dtype=env_action_space.dtype),
            "rewards": np.zeros((capacity, n), dtype=np.float64),
            "terminated": np.zeros((capacity, n), dtype=bool),
            "truncated": np.zeros((capacity, n), dtype=bool),
            "starts": np.zeros((capacity, n), dtype=bool),
            "final_obs": np.zeros((capacity, n, *obs_shape), dtype=obs_dtype),
            "valid": np.ones((capacity, n), dtype=bool),
        }
        self.capacity = capacity

    def ensure(self, t: int) -> None:
        if t < self.capacity:
            return
        new = self.capacity * 2
        for k, a in self.arrays.items():
            grown = np.zeros((new, *a.shape[1:]), dtype=a.dtype)
            grown[: self.capacity] = a
            self.arrays[k] = grown
        self.capacity = new

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None


class Collector:
    """Steps a vector env (``autoreset_mode=DISABLED``) with a policy and fills :class:`Rollout`s.

    :param envs: the vector env.
    :param rng: the Generator that draws every episode's reset seed.
    :param raw_shape: shape of one raw action.
    :param raw_dtype: numpy dtype of raw actions.
    :param stats_window: how many recent episodes the running return statistics cover.
    :param obs_normalizer: an :class:`~rlkit.agents.normalize.ObsNormalizer` updated with every
        observation acted on and applied to what is stored (None: raw observations).
    :param reward_scaler: a :class:`~rlkit.agents.normalize.RewardScaler` applied to the stored
        rewards (None: the env's rewards).
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        rng: np.random.Generator,
        raw_shape: tuple,
        raw_dtype,
        stats_window: int = 100,
        obs_normalizer: Any = None,
        reward_scaler: Any = None,
    ) -> None:
        if envs.metadata.get("autoreset_mode") != AutoresetMode.DISABLED:
            raise RlkitError(
                "the vector env must be created with autoreset_mode=AutoresetMode.DISABLED "
                "(rlkit resets each finished sub-env itself with a recorded seed); or pass an "
                "env id and let the agent make the vector env",
                where="env",
            )
        self.envs = envs
        self.n = envs.num_envs
        self.rng = rng
        self.raw_shape, self.raw_dtype = tuple(raw_shape), raw_dtype
        self.obs_space = envs.single_observation_space
        self.act_space = envs.single_action_space
        self.obs: np.ndarray | None = None
        self.starts = np.ones(self.n, dtype=bool)
        self.hidden: torch.Tensor | None = None
        self.ep_return = np.zeros(self.n)
        self.ep_length = np.zeros(self.n, dtype=np.int64)
        self.episode_seeds = np.zeros(self.n, dtype=np.int64)
        self.episode_actions: list[list[np.ndarray]] = [[] for _ in range(self.n)]
        self.pending_reset = True  # every sub-env is reset before the next step
        self.recent_returns: deque[float] = deque(maxlen=stats_window)
        self.recent_lengths: deque[int] = deque(maxlen=stats_window)
        self.num_episodes = 0
        self._buf: _Buffers | None = None
        self.obs_normalizer = obs_normalizer
        self.reward_scaler = reward_scaler

    # -- resets ----------------------------------------------------------------------------------
    def _reset(self, mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        seeds = self.rng.integers(0, _SEED_HIGH, size=idx.size)
        seed_list: list[int | None] = [None] * self.n
        for j, i in enumerate(idx):
            seed_list[i] = int(seeds[j])
            self.episode_seeds[i] = seeds[j]
            self.episode_actions[i] = []
        if idx.size == self.n:
            obs, _ = self.envs.reset(seed=seed_list)
        else:
            obs, _ = self.envs.reset(seed=seed_list, options={"reset_mask": mask})
        self.ep_return[mask] = 0.0
        self.ep_length[mask] = 0
        return obs

    def reset_all(self) -> None:
        """Start a fresh episode in every sub-env (seeds from ``rng``)."""
        self.obs = np.array(self._reset(np.ones(self.n, dtype=bool)))
        self.starts[:] = True
        if self.reward_scaler is not None:
            self.reward_scaler.returns[:] = 0.0  # the discounted returns restart with the episodes
        self.pending_reset = False

    # -- collection ------------------------------------------------------------------------------
    def collect(
        self,
        policy,
        generator: torch.Generator,
        *,
        n_steps: int | None = None,
        episodes_per_env: int | None = None,
    ) -> Rollout:
        """Collect one batch: ``n_steps`` steps of every sub-env, or ``episodes_per_env`` whole
        episodes of every sub-env (from a fresh reset).

        :param policy: an :class:`~rlkit.agents.policies.ActorCritic`.
        :param generator: the torch Generator of the action noise.
        """
        whole = episodes_per_env is not None
        if whole or self.pending_reset or self.obs is None:
            self.reset_all()
        if policy.is_recurrent and (self.hidden is None or self.hidden.shape[1] != self.n):
            self.hidden = policy.initial_state(self.n)
        cap = n_steps if n_steps is not None else 256
        if self._buf is None or self._buf.capacity < cap or (not whole and self._buf.capacity != cap):
            self._buf = _Buffers(
                cap, self.n, self.obs_space, self.raw_shape, self.raw_dtype, self.act_space,
                obs_dtype=np.float32 if self.obs_normalizer is not None else None,
            )
        buf = self._buf
        buf.valid[:] = True
        buf.final_obs[:] = 0
        h0 = None if self.hidden is None else self.hidden.clone()
        hidden = self.hidden
        obs, starts = self.obs, self.starts.copy()
        quota = np.zeros(self.n, dtype=np.int64)
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        ep_envs: list[int] = []
        ep_steps: list[int] = []
        ep_ret, ep_len, envs, act = self.ep_return, self.ep_length, self.envs, policy.act
        norm, scaler = self.obs_normalizer, self.reward_scaler
        no_starts = np.zeros(self.n, dtype=bool)
        b = buf.arrays  # hot loop: plain local lookups (re-read after the buffers grow)
        obs_b, starts_b, act_b, env_act_b = b["obs"], b["starts"], b["actions"], b["env_actions"]
        rew_b, term_b, trunc_b = b["rewards"], b["terminated"], b["truncated"]
        t = 0
        with torch.inference_mode():
            while True:
                if whole:
                    if np.all(quota >= episodes_per_env):
                        break
                    if t >= buf.capacity:
                        buf.ensure(t)
                        b = buf.arrays
                        obs_b, starts_b, act_b = b["obs"], b["starts"], b["actions"]
                        env_act_b, rew_b, term_b, trunc_b = b["env_actions"], b["rewards"], b["terminated"], \
                            b["truncated"]
                    b["valid"][t] = quota < episodes_per_env
                elif t >= n_steps:
                    break
                if norm is None:
                    obs_b[t] = obs
                else:
                    norm.update(obs)
                    obs_b[t] = norm(obs)
                starts_b[t] = starts
                x = policy.obs_to_tensor(obs_b[t])
                raw, env_action, hidden = act(
                    x, hidden, torch.as_tensor(starts) if hidden is not None else None, generator=generator
                )
                act_b[t] = raw.numpy()
                env_act_b[t] = env_action
                obs, reward, terminated, truncated, _ = envs.step(env_action)
                done = terminated | truncated
                rew_b[t] = reward if scaler is None else scaler(reward, done)
                term_b[t] = terminated
                trunc_b[t] = truncated
                ep_ret += reward
                ep_len += 1
                if done.any():
                    if truncated.any():
                        final = obs[truncated]
                        b["final_obs"][t, truncated] = final if norm is None else norm(final)
                    for i in np.flatnonzero(done & b["valid"][t]):
                        ep_returns.append(float(ep_ret[i]))
                        ep_lengths.append(int(ep_len[i]))
                        ep_envs.append(int(i))
                        ep_steps.append(t)
                    quota += done
                    obs = self._reset(done)
                    starts = done
                else:
                    starts = no_starts
                t += 1
        self.obs = np.array(obs)
        self.starts = starts.copy()
        self.hidden = hidden
        T = t
        arrays = {k: a[:T].copy() for k, a in buf.arrays.items()}  # the buffers are reused
        if whole:
            self.pending_reset = True
            self.episode_actions = [[] for _ in range(self.n)]
        else:
            self._log_actions(arrays["env_actions"], arrays["starts"])
        for r, L in zip(ep_returns, ep_lengths, strict=True):
            self.recent_returns.append(r)
            self.recent_lengths.append(L)
        self.num_episodes += len(ep_returns)
        next_obs = self.obs.copy() if norm is None else norm(self.obs)
        return Rollout(
            **arrays, next_obs=next_obs, h0=h0, episode_returns=ep_returns, episode_lengths=ep_lengths,
            episode_envs=ep_envs, episode_steps=ep_steps,
        )

    def _log_actions(self, env_actions: np.ndarray, starts: np.ndarray) -> None:
        """Keep, per sub-env, the actions since its current episode's (seeded) reset.

        ``starts[t]`` marks the batch's steps that begin an episode; ``self.starts`` marks the
        sub-envs whose episode ended on the batch's last step and that were reset already: their
        new episode has taken no action yet, so their log is empty (not the finished episode's).
        """
        for i in range(self.n):
            if self.starts[i]:
                self.episode_actions[i] = []
                continue
            s = np.flatnonzero(starts[:, i])
            if s.size:
                self.episode_actions[i] = [env_actions[s[-1] :, i].copy()]
            else:
                self.episode_actions[i].append(env_actions[:, i].copy())

    # -- checkpoints -----------------------------------------------------------------------------
    def env_rng_states(self) -> list[Any]:
        """The bit-generator state of every sub-env's ``np_random`` (plain dicts of ints), or the
        sub-env states of a native vector env that reports them (``sub_env_states()``)."""
        own = getattr(self.envs.unwrapped, "sub_env_states", None)
        if own is not None:
            return own()
        return [g.bit_generator.state for g in self.envs.get_attr("np_random")]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to put the collector and its envs back: episode seeds and the actions
        since, running episode statistics, the policy's hidden state. Tensors and plain types only."""
        actions = [
            torch.from_numpy(np.concatenate(a, 0))
            if a
            else torch.from_numpy(np.zeros((0, *self.act_space.shape), dtype=self.act_space.dtype))
            for a in self.episode_actions
        ]
        return {
            "pending_reset": bool(self.pending_reset or self.obs is None),
            "episode_seeds": torch.from_numpy(self.episode_seeds.copy()),
            "episode_actions": actions,
            "env_rng": [] if (self.pending_reset or self.obs is None) else self.env_rng_states(),
            "starts": torch.from_numpy(self.starts.copy()),
            "ep_return": torch.from_numpy(self.ep_return.copy()),
            "ep_length": torch.from_numpy(self.ep_length.copy()),
            "hidden": None if self.hidden is None else self.hidden.clone(),
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "num_episodes": int(self.num_episodes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`: replays each sub-env's episode so far (seeded reset,
        then its recorded actions) and checks that every env RNG ends where it was."""
        self.episode_seeds = state["episode_seeds"].numpy().astype(np.int64).copy()
        self.starts = state["starts"].numpy().astype(bool).copy()
        self.ep_return = state["ep_return"].numpy().astype(np.float64).copy()
        self.ep_length = state["ep_length"].numpy().astype(np.int64).copy()
        self.hidden = None if state["hidden"] is None else state["hidden"].clone()
        self.recent_returns.clear()
        self.recent_returns.extend(float(x) for x in state["recent_returns"])
        self.recent_lengths.clear()
        self.recent_lengths.extend(int(x) for x in state["recent_lengths"])
        self.num_episodes = int(state["num_episodes"])
        logs = [a.numpy() for a in state["episode_actions"]]
        self.episode_actions = [[a.copy()] if len(a) else [] for a in logs]
        self.pending_reset = bool(state["pending_reset"])
        if self.pending_reset:
            self.obs = None
            return
        self.obs = np.array(self._replay(self.episode_seeds, logs))
        expected = state.get("env_rng") or []
        if expected and self.env_rng_states() != list(expected):
            raise RlkitError(
                "the environments could not be put back exactly (their random state after "
                "replaying the recorded episode differs); this env is not reproducible from its "
                "seed and actions, so the run cannot be resumed exactly",
                where="checkpoint",
            )

    def _replay(self, seeds: np.ndarray, logs: list[np.ndarray]) -> np.ndarray:
        """Bring every sub-env to the state after ``reset(seed=seeds[i])`` and ``logs[i]`` steps.

        Sub-env ``i`` is (re)reset with its seed at step ``T - len(logs[i])`` and then replays its
        actions, so all sub-envs end together after ``T = max len`` vector steps; before its own
        start a sub-env takes filler steps that its seeded reset then wipes out.
        """
        n = self.n
        lengths = np.array([len(a) for a in logs], dtype=np.int64)
        T = int(lengths.max()) if n else 0
        begin = T - lengths
        filler = self.act_space.sample()
        obs, _ = self.envs.reset(seed=[int(s) for s in seeds])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in range(T + 1):
                starting = (begin == t) & (t > 0)
                if starting.any():
                    obs, _ = self.envs.reset(
                        seed=[int(s) if m else None for s, m in zip(seeds, starting, strict=True)],
                        options={"reset_mask": starting},
                    )
                if t == T:
                    break
                actions = np.stack([logs[i][t - begin[i]] if t >= begin[i] else filler for i in range(n)])
                obs, _, terminated, truncated, _ = self.envs.step(actions)
                done = terminated | truncated
                replaying = t >= begin
                early = done & replaying
                if np.any(early):
                    i = int(np.flatnonzero(early)[0])
                    raise RlkitError(
                        f"sub-env {i}: replaying its recorded episode (seed {int(seeds[i])}, "
                        f"{int(lengths[i])} actions) ended it after {t - int(begin[i]) + 1} actions; "
                        "the checkpoint's action log does not belong to that episode, or the env "
                        "does not replay the same from a seed and actions",
                        where="checkpoint",
                    )
                filler_done = done & ~replaying
                if filler_done.any():
                    obs, _ = self.envs.reset(options={"reset_mask": filler_done})
        return obs


# ------------------------------------------------------------------------------------------------
# making the vector env
# ------------------------------------------------------------------------------------------------


def _make_one(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    import rlkit.envs

    return rlkit.envs.make(env_id, **env_kwargs)


def _native_vec_env(env_id: str, n_envs: int, env_kwargs: dict[str, Any]) -> gym.vector.VectorEnv | None:
    """rlkit's own batched vector env of an rlkit env (its registered ``vector_entry_point``, such
    as the MNIST bandit's), or None. Other envs' vector entry points (Gymnasium's CartPole has
    one) are not used: their sub-envs do not replay from seeds the way the collector needs."""
    import rlkit.envs

    env_id = env_id.removeprefix("gym:")
    if "vector_entry_point" not in rlkit.envs.ENV_SPECS.get(env_id, {}):
        return None
    rlkit.envs.register_envs()
    try:
        return gym.make_vec(env_id, n_envs, vectorization_mode="vector_entry_point",
                            autoreset_mode=AutoresetMode.DISABLED, **env_kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise RlkitError(f"{env_id}: {str(exc).splitlines()[0]}", where="env_kwargs") from exc
        raise


def make_vec_env(
    env: Any, n_envs: int = 1, vectorization: str = "sync", env_kwargs: dict[str, Any] | None = None
) -> tuple[gym.vector.VectorEnv, str | None]:
    """A vector env with ``autoreset_mode=DISABLED`` for the :class:`Collector`.

    :param env: an env id (``"CartPole-v1"``, ``"rlkit/MNISTBandit-v0"``, ...), a single
        :class:`gymnasium.Env` (copied from its spec when ``n_envs > 1``) or a vector env created
        with ``autoreset_mode=DISABLED`` (used as is).
    :param n_envs: number of sub-envs.
    :param vectorization: ``"sync"`` (one process; fastest for cheap envs; an rlkit env with a
        native batched vector env, ``rlkit/MNISTBandit-v0``, gets that one) or ``"async"`` (one
        process per sub-env).
    :param env_kwargs: keyword arguments of :func:`gymnasium.make`.
    :returns: (vector env, env id or None).
    :raises RlkitError: unknown env id, bad ``vectorization``, a vector env in another autoreset mode.
    """
    import functools

    from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

    env_kwargs = dict(env_kwargs or {})
    if isinstance(env, gym.vector.VectorEnv):
        if env.metadata.get("autoreset_mode") != AutoresetMode.DISABLED:
            raise RlkitError(
                "a vector env given to the agent must use autoreset_mode=AutoresetMode.DISABLED; "
                "or pass the env id",
                where="env",
            )
        spec = getattr(env, "spec", None)
        return env, getattr(spec, "id", None)
    if vectorization not in ("sync", "async"):
        raise RlkitError(f"vectorization must be sync or async, got {vectorization!r}", where="vectorization")
    if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise RlkitError(f"n_envs must be a positive integer, got {n_envs!r}", where="n_envs")
    n_envs = int(n_envs)
    if isinstance(env, gym.Env):
        spec = env.spec
        if n_envs == 1:
            return SyncVectorEnv([lambda: env], copy=False, autoreset_mode=AutoresetMode.DISABLED), getattr(
                spec, "id", None
            )
        if spec is None:
            raise RlkitError("n_envs > 1 needs an env id (or an env with a spec to copy)", where="env")
        fns = [lambda: env] + [functools.partial(gym.make, spec) for _ in range(n_envs - 1)]
        return SyncVectorEnv(fns, copy=False, autoreset_mode=AutoresetMode.DISABLED), spec.id
    if not isinstance(env, str):
        raise RlkitError(
            f"env must be an env id, a gymnasium.Env or a VectorEnv, got {type(env).__name__}", where="env"
        )
    native = _native_vec_env(env, n_envs, env_kwargs) if vectorization == "sync" else None
    if native is not None:
        return native, env
    fns = [functools.partial(_make_one, env, env_kwargs) for _ in range(n_envs)]
    if vectorization == "async":
        _make_one(env, env_kwargs).close()  # unknown ids and bad kwargs fail here, with an RlkitError
        return AsyncVectorEnv(fns, copy=False, autoreset_mode=AutoresetMode.DISABLED), env
    return SyncVectorEnv(fns, copy=False, autoreset_mode=AutoresetMode.DISABLED), env
