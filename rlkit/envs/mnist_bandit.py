"""``rlkit/MNISTBandit-v0``: classify digits from reward alone.

Each step shows one 28x28 grey-scale digit; the action is a label in ``0..9``; the reward is 1 when
the label is right and 0 otherwise. By default an episode is one image (a contextual bandit);
``episode_length=N`` gives episodes of N images. The same CNN backbone that classifies MNIST in
:mod:`rlkit.supervised` reads these observations.

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

from rlkit.errors import RlkitError

_LAYOUTS = {"hw": (28, 28), "chw": (1, 28, 28), "hwc": (28, 28, 1)}
_SPLITS = ("train", "test")
_CACHE: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}


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


class MNISTBanditEnv(gym.Env):
    """Digit classification as a contextual bandit (or a sequence of ``episode_length`` images).

    Observation: one image, ``uint8`` ``Box(0, 255)`` of shape ``(28, 28)`` (``obs_layout="hw"``,
    the default), ``(1, 28, 28)`` (``"chw"``, what SB3's image check and channel-first CNNs expect)
    or ``(28, 28, 1)`` (``"hwc"``). Action: ``Discrete(10)``, the label. Reward: 1.0 if the action
    is the true label of the current image, else 0.0. Images are drawn uniformly with replacement
    from the split with the env's ``np_random``, so ``reset(seed=...)`` reproduces the sequence.

    ``info`` holds ``"label"``: the true label of the observation returned by ``reset``, and in
    ``step`` the true label of the image the action answered (with ``"correct"``); ``"obs_label"``
    is always the label of the observation returned with it. The episode ends (``terminated``)
    after ``episode_length`` answers; the observation returned with the last answer is the
    answered image again.

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
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RlkitError(
                f"rlkit/MNISTBandit-v0: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        self.split = split
        self.episode_length = int(episode_length)
        self.dataset = dataset
        self.obs_layout = obs_layout
        self.render_mode = render_mode
        self.images, self.labels = _load(split, dataset, data_dir)
        self.observation_space = spaces.Box(0, 255, shape=_LAYOUTS[obs_layout], dtype=np.uint8)
        self.action_space = spaces.Discrete(10)
        self._index = 0
        self._t = 0

    # -- helpers -----------------------------------------------------------------------------
    def _draw(self) -> None:
        self._index = int(self.np_random.integers(len(self.labels)))

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
