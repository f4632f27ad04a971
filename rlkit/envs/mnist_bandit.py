"""``rlkit/MNISTBandit-v0``: classify digits from reward alone.

Each step shows one 28x28 grey-scale digit; the action is a label in ``0..9``; the reward is 1 when
the label is right and 0 otherwise. By default an episode is one image (a contextual bandit);
``episode_length=N`` gives episodes of N images. The same CNN backbone that classifies MNIST in
:mod:`rlkit.supervised` reads these observations.

:class:`MNISTBanditVectorEnv` is the native vector env (``gymnasium.make_vec`` picks it, and so do
rlkit's agents): N sub-envs held as arrays, each step one numpy gather of N images, no Python
loop over sub-envs. Which image an episode shows is a counter-based hash: ``splitmix64`` of the
episode's key (itself ``splitmix64`` of the reset seed) and the number of images it drew so far.
So sub-env ``i`` of the vector env reset with seed ``s`` shows exactly the images of a single env
reset with seed ``s``, and its state is two integers.

Example::

    >>> import gymnasium as gym, rlkit.envs
    >>> env = gym.make("rlkit/MNISTBandit-v0", split="test")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, 0 <= info["label"] <= 9
    ((28, 28), dtype('uint8'), True)
    >>> obs, reward, terminated, truncated, info = env.step(info["label"])
    >>> reward, terminated
    (1.0, True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlkit.errors import RlkitError

_LAYOUTS = {"hw": (28, 28), "chw": (1, 28, 28), "hwc": (28, 28, 1)}
_SPLITS = ("train", "test")
_CACHE: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: Any) -> np.ndarray:
    """The splitmix64 output function (Steele, Lea & Flood 2014; Vigna's constants), element-wise
    with wrap-around uint64 arithmetic: a bijection of 64-bit words that passes BigCrush."""
    z = np.array(x, dtype=np.uint64, ndmin=1) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def draw_indices(keys: np.ndarray, draws: np.ndarray, n: int) -> np.ndarray:
    """Image index number ``draws`` (0, 1, ...) of the episodes with ``keys``: uniform on
    ``0..n-1`` (modulo bias ``n / 2**64``, below 1e-14), one vectorised hash for all sub-envs."""
    counter = (np.array(draws, dtype=np.uint64, ndmin=1) + np.uint64(1)) * _GOLDEN
    return (splitmix64(np.array(keys, dtype=np.uint64, ndmin=1) ^ counter) % np.uint64(n)).astype(np.int64)


def _load(split: str, dataset: str, data_dir: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Load (images uint8 (N,28,28), labels int64 (N,)) once per process and keep them."""
    from rlkit.supervised.data import _check_dataset, load_mnist

    _check_dataset(dataset)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise RlkitError(f"rlkit/MNISTBandit-v0: data_dir must be a folder path, got "
                         f"{type(data_dir).__name__}")
    key = (split, dataset, str(Path(data_dir).resolve()) if data_dir is not None else "")
    if key not in _CACHE:

        images, labels = load_mnist(split, dataset=dataset, data_dir=data_dir)
        images = np.ascontiguousarray(np.asarray(images), dtype=np.uint8)
        labels = np.asarray(labels).astype(np.int64)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise RlkitError(
                f"{dataset} {split} split: expected images (N, 28, 28) with N labels, "
                f"got images {images.shape} and labels {labels.shape}; re-download the IDX files"
            )
        images.setflags(write=False)
        labels.setflags(write=False)
        _CACHE[key] = (images, labels)
    return _CACHE[key]


def _setup(env: Any, split: str = "train", episode_length: int = 1, data_dir: str | os.PathLike | None = None,
           dataset: str = "mnist", obs_layout: str = "hw", render_mode: str | None = None) -> spaces.Box:
    """Check the constructor arguments of both bandit classes, set them on ``env`` and load the
    split; return one observation's space."""
    if split not in _SPLITS:
        raise RlkitError(f"rlkit/MNISTBandit-v0: split must be 'train' or 'test', got {split!r}")
    if isinstance(episode_length, bool) or not isinstance(episode_length, (int, np.integer)) or (
        episode_length < 1
    ):
        raise RlkitError(
            f"rlkit/MNISTBandit-v0: episode_length must be an int >= 1, got {episode_length!r}"
        )
    if not isinstance(obs_layout, str) or obs_layout not in _LAYOUTS:
        raise RlkitError(
            f"rlkit/MNISTBandit-v0: obs_layout must be one of {sorted(_LAYOUTS)}, got {obs_layout!r}"
        )
    if render_mode is not None and render_mode not in env.metadata["render_modes"]:
        raise RlkitError(
            f"rlkit/MNISTBandit-v0: render_mode must be None or 'rgb_array', got {render_mode!r}"
        )
    env.split, env.episode_length, env.dataset = split, int(episode_length), dataset
    env.obs_layout, env.render_mode = obs_layout, render_mode
    env.images, env.labels = _load(split, dataset, data_dir)
    return spaces.Box(0, 255, shape=_LAYOUTS[obs_layout], dtype=np.uint8)


class MNISTBanditEnv(gym.Env):
    """Digit classification as a contextual bandit (or a sequence of ``episode_length`` images).

    Observation: one image, ``uint8`` ``Box(0, 255)`` of shape ``(28, 28)`` (``obs_layout="hw"``,
    the default), ``(1, 28, 28)`` (``"chw"``, what SB3's image check and channel-first CNNs expect)
    or ``(28, 28, 1)`` (``"hwc"``). Action: ``Discrete(10)``, the label. Reward: 1.0 if the action
    is the true label of the current image, else 0.0.

    ``info`` holds ``"label"``: the true label of the observation returned by ``reset``, and in
    ``step`` the true label of the image the action answered (with ``"correct"``); ``"obs_label"``
    is always the label of the observation returned with it. The episode ends (``terminated``)
    after ``episode_length`` answers; the observation returned with the last answer is the
    answered image again.

    Images are drawn uniformly with replacement: ``reset(seed=s)`` gives the episode the key
    ``splitmix64(s)`` (a reset without a seed draws the key from ``np_random``) and its ``k``-th
    image is :func:`draw_indices` ``(key, k)``, so ``reset(seed=...)`` reproduces the sequence.

    :param split: ``"train"`` or ``"test"``.
    :param episode_length: images per episode (>= 1).
    :param data_dir: folder with the IDX files; else ``$RLKIT_DATA/<dataset>/`` (see
        :func:`rlkit.supervised.data.load_mnist`).
    :param dataset: ``"mnist"`` or ``"fashion-mnist"``.
    :param obs_layout: ``"hw"``, ``"chw"`` or ``"hwc"`` (see above).
    :param render_mode: ``None`` or ``"rgb_array"`` (the digit as a (28, 28, 3) image).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        split: str = "train",
        episode_length: int = 1,
        data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist",
        obs_layout: str = "hw",
        render_mode: str | None = None,
    ) -> None:
        self.observation_space = _setup(self, split, episode_length, data_dir, dataset, obs_layout,
                                        render_mode)
        self.action_space = spaces.Discrete(10)
        self._index = 0
        self._t = 0
        self._key = np.uint64(0)

    # -- helpers -----------------------------------------------------------------------------
    def _draw(self) -> None:
        self._index = int(draw_indices(self._key, self._t, len(self.labels))[0])

    def _obs(self) -> np.ndarray:
        return self.images[self._index].reshape(self.observation_space.shape).copy()

    @property
    def label(self) -> int:
        """True label of the current observation."""
        return int(self.labels[self._index])

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._key = (splitmix64(seed % 2**64) if seed is not None
                     else np.array([self.np_random.integers(2**63)], dtype=np.uint64))[0]
        self._draw()
        return self._obs(), {"label": self.label, "obs_label": self.label, "index": self._index}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            try:
                action = int(np.asarray(action).item())
            except (TypeError, ValueError):
                action = -1
            if not 0 <= action < 10:
                raise RlkitError(f"rlkit/MNISTBandit-v0: action must be an int in 0..9, got {action!r}")
        answered = self.label
        correct = int(action) == answered
        self._t += 1
        terminated = self._t >= self.episode_length
        if not terminated:
            self._draw()
        info = {"label": answered, "correct": correct, "obs_label": self.label, "index": self._index}
        return self._obs(), float(correct), terminated, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return np.repeat(self.images[self._index][:, :, None], 3, axis=2)
        return None


class MNISTBanditVectorEnv(VectorEnv):
    """``num_envs`` MNIST bandits as arrays: each step one gather of ``num_envs`` images.

    Sub-env ``i`` behaves exactly as :class:`MNISTBanditEnv` reset with the same seed (same images,
    rewards, ``terminated``, ``info``); ``info`` holds arrays (``label``, ``correct``,
    ``obs_label``, ``index``) with Gymnasium's ``_name`` masks. ``reset(seed=...)`` takes None, an
    int ``s`` (sub-env ``i`` gets ``s + i``, as :class:`gymnasium.vector.SyncVectorEnv`) or a list
    with an int or None per sub-env; ``options={"reset_mask": mask}`` resets only the masked
    sub-envs. ``autoreset_mode`` is ``NEXT_STEP`` (Gymnasium's default: a finished sub-env is reset
    by the next ``step``, whose action it ignores) or ``DISABLED`` (what rlkit's agents use: the
    caller resets finished sub-envs with ``reset_mask``).

    :param num_envs: number of sub-envs.
    :param autoreset_mode: see above.
    :param max_episode_steps: truncate episodes after this many steps (as Gymnasium's ``TimeLimit``
        on the single env); None: episodes end only after ``episode_length`` images.
    :param env_kwargs: the keyword arguments of :class:`MNISTBanditEnv` (``split``,
        ``episode_length``, ``data_dir``, ``dataset``, ``obs_layout``, ``render_mode``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise RlkitError(f"rlkit/MNISTBandit-v0: num_envs must be an int >= 1, got {num_envs!r}")
        self.single_observation_space = _setup(self, **env_kwargs)
        mode = next((m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED)
                     if autoreset_mode in (m, m.value)), None)
        if mode is None:
            raise RlkitError("rlkit/MNISTBandit-v0: autoreset_mode must be AutoresetMode.NEXT_STEP or "
                             f"DISABLED, got {autoreset_mode!r}")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.num_envs = int(num_envs)
        self._obs_shape = self.single_observation_space.shape
        self.single_action_space = spaces.Discrete(10)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        n = self.num_envs
        self._keys = np.zeros(n, dtype=np.uint64)
        self._t = np.zeros(n, dtype=np.int64)  # answers given in the current episode
        self._index = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=bool)  # finished, awaiting a reset (NEXT_STEP: by the next step)
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not isinstance(
                max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise RlkitError(f"rlkit/MNISTBandit-v0: max_episode_steps must be an int >= 1 or None, "
                             f"got {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps

    # -- helpers -----------------------------------------------------------------------------
    def _seeds(self, seed: int | list[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise RlkitError(f"rlkit/MNISTBandit-v0: {len(seeds)} seeds for {self.num_envs} sub-envs")
        return seeds

    def _start(self, mask: np.ndarray, seeds: list[int | None]) -> None:
        """New episodes in the masked sub-envs: keys from the seeds (or ``np_random``), first images."""
        idx = np.flatnonzero(mask)
        given = np.array([s is not None for s in seeds], dtype=bool)[idx]
        keys = np.empty(idx.size, dtype=np.uint64)
        if given.any():
            keys[given] = splitmix64([int(seeds[i]) % 2**64 for i in idx[given]])
        if not given.all():
            keys[~given] = self.np_random.integers(2**63, size=int((~given).sum())).astype(np.uint64)
        self._keys[idx] = keys
        self._t[idx] = 0
        self._done[idx] = False
        self._index[idx] = draw_indices(keys, 0, len(self.labels))

    def _obs(self) -> np.ndarray:
        return self.images[self._index].reshape(self.num_envs, *self._obs_shape)  # one gather (a copy)

    def _info(self, **arrays: np.ndarray) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for k, v in arrays.items():
            info[k], info["_" + k] = v, np.ones(self.num_envs, dtype=bool)
        return info

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = self._seeds(seed)
        if isinstance(seed, (int, np.integer)):
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
        mask = (options or {}).get("reset_mask")
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_envs,):
            raise RlkitError(f"rlkit/MNISTBandit-v0: reset_mask must have shape ({self.num_envs},), "
                             f"got {mask.shape}")
        self._start(mask, seeds)
        labels = self.labels[self._index]
        return self._obs(), self._info(label=labels, obs_label=labels, index=self._index.copy())

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or not (np.issubdtype(a.dtype, np.integer) or (
            np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))) or np.any((a < 0) | (a > 9)):
            raise RlkitError(f"rlkit/MNISTBandit-v0: actions must be {self.num_envs} ints in 0..9, "
                             f"got {str(actions)[:80]}")
        a = a.astype(np.int64)
        restart = self._done.copy() if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP else None
        answered = self.labels[self._index]
        correct = a == answered
        self._t += 1
        terminated = self._t >= self.episode_length
        truncated = ~terminated & (self._t >= (self.max_episode_steps or np.iinfo(np.int64).max))
        going = ~terminated
        self._index[going] = draw_indices(self._keys[going], self._t[going], len(self.labels))
        if restart is not None and restart.any():  # NEXT_STEP: this step only resets these sub-envs
            self._start(restart, [None] * self.num_envs)
            correct[restart], terminated[restart], truncated[restart] = False, False, False
        self._done = terminated | truncated
        info = self._info(label=answered, correct=correct, obs_label=self.labels[self._index],
                          index=self._index.copy())
        return self._obs(), correct.astype(np.float64), terminated, truncated, info

    def sub_env_states(self) -> list[list[int]]:
        """Each sub-env's state as plain ints ``[key, answers so far]`` (checkpoints compare them
        after a replay; see :meth:`rlkit.agents.rollout.Collector.env_rng_states`)."""
        return [[int(k), int(t)] for k, t in zip(self._keys, self._t, strict=True)]

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode == "rgb_array":
            return tuple(np.repeat(self.images[i][:, :, None], 3, axis=2) for i in self._index)
        return None
