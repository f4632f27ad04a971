"""Record episodes of a policy as a GIF or an MP4, to watch what an agent does.

Frames come from Gymnasium's ``render_mode="rgb_array"``; for rlkit's own tabular environment
(``rlkit/TabularMDP-v0``: catalog models such as ``cliff-walking`` or ``gridworld-4x4``) a grid
model is drawn by :func:`draw_grid` instead. A GIF is written with Pillow (always installed), an MP4
with imageio and the ffmpeg that imageio-ffmpeg ships (``pip install 'rlkit[video]'``). Files are
written atomically: an interrupted recording never leaves half a file.

Example::

    >>> from rlkit.recording import record_episodes
    >>> rec = record_episodes("CartPole-v1", lambda obs: int(obs[2] > 0), "/tmp/tilt.gif",
    ...                       episodes=1, seed=0)                      # doctest: +SKIP
    >>> rec.frames == rec.lengths[0] + 1                               # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit._io import atomic_write
from rlkit.errors import RlkitError

__all__ = [
    "FORMATS", "Recording", "agent_policy", "check_output", "check_tabular_output", "draw_grid",
    "gif_duration_ms", "record_episodes", "record_run", "record_tabular_policy",
]

#: file suffix -> what writes it (and the extra it needs).
FORMATS = {".gif": "Pillow", ".mp4": "imageio + imageio-ffmpeg (pip install 'rlkit[video]')"}
MAX_STEPS = 10_000          # per episode: a guard for envs without a time limit


@dataclass
class Recording:
    """What :func:`record_episodes` wrote.

    :ivar path: the file written. :ivar frames: frames in it (one after each reset and each step).
    :ivar size: (width, height) of a frame in pixels. :ivar fps: frames per second.
    :ivar returns: each episode's sum of rewards. :ivar lengths: each episode's number of steps.
    """

    path: Path
    frames: int
    size: tuple[int, int]
    fps: float
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": self.frames, "size": list(self.size), "fps": self.fps,
                "returns": self.returns, "lengths": self.lengths}


def check_output(path: str | Path, option: str = "path") -> Path:
    """Check that ``path`` can receive a recording (before any episode is run).

    :param path: a ``.gif`` or ``.mp4`` file whose folder exists.
    :param option: how the user gave it (``"--gif"``), for the error message.
    :raises RlkitError: the folder does not exist, the path is a folder, or the suffix is unknown.
    """
    p = Path(path)
    if p.is_dir():
        raise RlkitError(f"{option} {path} is a folder; give a file name such as {p / 'episode.gif'}")
    if p.suffix.lower() not in FORMATS:
        raise RlkitError(f"{option} {path}: unknown format {p.suffix or '(none)'}; use .gif or .mp4")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise RlkitError(f"{option} {path}: the folder {parent} does not exist")
    if p.suffix.lower() == ".mp4":
        _ffmpeg()
    return p


def _ffmpeg():
    try:
        import imageio_ffmpeg  # ships its own ffmpeg binary
    except ImportError:
        raise RlkitError("writing an MP4 needs the video extra: pip install 'rlkit[video]' "
                         "(imageio and imageio-ffmpeg); or record a .gif") from None
    return imageio_ffmpeg


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

#: colours of the cell letters of a grid map (FrozenLake-style) in :func:`draw_grid`.
CELL_COLOURS = {"S": (170, 200, 235), "F": (235, 240, 248), ".": (235, 240, 248), "H": (40, 60, 110),
                "G": (90, 180, 90), "C": (120, 80, 60), "W": (90, 90, 90), "#": (90, 90, 90),
                "T": (90, 180, 90)}


def draw_grid(grid_map: Sequence[str], position: int, *, cell: int = 32) -> np.ndarray:
    """One RGB frame of a grid world: the cells by their letters, the agent as a red disc.

    :param grid_map: rows of cell letters (``S`` start, ``F``/``.`` free, ``H`` hole, ``C`` cliff,
        ``G``/``T`` goal, ``W``/``#`` wall).
    :param position: the agent's state index, ``row * cols + col``.
    :param cell: pixels per cell.
    :returns: (rows * cell, cols * cell, 3) uint8.
    """
    rows, cols = len(grid_map), len(grid_map[0])
    img = np.empty((rows * cell, cols * cell, 3), np.uint8)
    for r, line in enumerate(grid_map):
        for c, letter in enumerate(line):
            img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = CELL_COLOURS.get(letter, (235, 240, 248))
    img[::cell, :] = 160          # grid lines
    img[:, ::cell] = 160
    if 0 <= position < rows * cols:
        r, c = divmod(int(position), cols)
        yy, xx = np.mgrid[0:cell, 0:cell]
        disc = (yy - cell / 2 + 0.5) ** 2 + (xx - cell / 2 + 0.5) ** 2 <= (cell * 0.32) ** 2
        img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell][disc] = (220, 40, 40)
    return img


class _Frames:
    """Where the frames come from: Gymnasium's renderer, or :func:`draw_grid` for a grid model."""

    def __init__(self, env: Any, grid_map: Sequence[str] | None):
        self.env, self.grid_map = env, grid_map

    def __call__(self, obs: Any) -> np.ndarray:
        if self.grid_map is not None:
            return draw_grid(self.grid_map, int(obs))
        frame = self.env.render()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            raise RlkitError(f"{self.env.spec.id if self.env.spec else self.env}: render() gave no RGB frame")
        return frame


def _grid_map_of(env: Any) -> list[str] | None:
    import gymnasium as gym

    grid_map = getattr(env.unwrapped, "grid_map", None)
    if (grid_map and isinstance(env.observation_space, gym.spaces.Discrete)
            and len(grid_map) * len(grid_map[0]) == env.observation_space.n):
        return [str(r) for r in grid_map]
    return None


def _declared_render_modes(env_id: str) -> list[str] | None:
    """The render modes an env's class declares, read before making it (None: not known)."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    from rlkit.envs import register_envs

    register_envs()
    env_id = env_id.removeprefix("gym:")
    if env_id not in gym.registry:
        return None                       # rlkit.envs.make names the closest ids
    entry = gym.registry[env_id].entry_point
    try:
        creator = load_env_creator(entry) if isinstance(entry, str) else entry
    except Exception:                     # noqa: BLE001 - make() reports it
        return None
    meta = getattr(creator, "metadata", None)
    return list(meta.get("render_modes", [])) if isinstance(meta, dict) else None


def _make_env(env_id: str, env_kwargs: dict | None) -> tuple[Any, _Frames]:
    import gymnasium as gym

    from rlkit.envs import make

    kwargs = dict(env_kwargs or {})
    kwargs.pop("render_mode", None)
    label = f"{env_id} (spec {kwargs['spec']})" if isinstance(kwargs.get("spec"), str) else env_id
    for var in ("SDL_VIDEODRIVER", "SDL_AUDIODRIVER"):     # pygame draws off screen, silently
        os.environ.setdefault(var, "dummy")
    modes = _declared_render_modes(env_id)
    if modes is not None and "rgb_array" not in modes:
        env = make(env_id, **kwargs)
        grid_map = _grid_map_of(env)
        if grid_map is not None:
            return env, _Frames(env, grid_map)
        env.close()
        raise RlkitError(f"{label} cannot be recorded: it has no 'rgb_array' rendering (its render modes: "
                         f"{', '.join(modes) or 'none'}) and no grid map to draw")
    with warnings.catch_warnings():       # an unsupported render mode is reported below, in one line
        warnings.simplefilter("ignore")
        env = make(env_id, render_mode="rgb_array", **kwargs)
    modes = list(env.unwrapped.metadata.get("render_modes", []))
    if "rgb_array" not in modes:
        env.close()
        raise RlkitError(f"{label} cannot be recorded: it has no 'rgb_array' rendering (its render modes: "
                         f"{', '.join(modes) or 'none'})")
    try:
        env.reset(seed=0)
        env.render()
    except gym.error.DependencyNotInstalled as exc:
        env.close()
        raise RlkitError(f"rendering {env_id} needs pygame ({str(exc).splitlines()[0]}): "
                         "pip install 'rlkit[video]'") from None
    return env, _Frames(env, None)


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------

def _write_gif(frames: list[np.ndarray], tmp: Path, fps: float) -> None:
    from PIL import Image

    # one palette per frame (fast octree quantisation: an RGB frame would be quantised by median cut,
    # four times slower). Pillow stores identical consecutive frames once with their durations added,
    # so the file plays at the env's speed.
    images = [Image.fromarray(f).quantize(method=Image.Quantize.FASTOCTREE) for f in frames]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                   duration=gif_duration_ms(fps), loop=0)


def gif_duration_ms(fps: float) -> int:
    """Milliseconds per GIF frame at ``fps`` (GIF counts in hundredths of a second, 20 ms at least)."""
    return max(int(round(100 / fps)) * 10, 20)


def _write_mp4(frames: list[np.ndarray], tmp: Path, fps: float) -> None:
    ffmpeg = _ffmpeg()
    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))              # libx264 wants even sizes
    writer = ffmpeg.write_frames(str(tmp), (w + w % 2, h + h % 2), fps=fps, codec="libx264",
                                 macro_block_size=1, output_params=["-f", "mp4"], ffmpeg_log_level="error")
    writer.send(None)
    try:
        for f in frames:
            writer.send(np.ascontiguousarray(np.pad(f, pad) if h % 2 or w % 2 else f, dtype=np.uint8))
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

def _episodes(env: Any, frames_of: _Frames, policy_fn: Callable[[Any], Any], episodes: int, seed: int,
              max_steps: int, returns: list[float], lengths: list[int]) -> Iterator[np.ndarray]:
    reset = getattr(policy_fn, "reset", None)
    for i in range(episodes):
        if reset is not None:
            reset()
        obs, _ = env.reset(seed=seed + i)
        yield frames_of(obs)
        total, steps, done = 0.0, 0, False
        while not done and steps < max_steps:
            obs, reward, terminated, truncated, _ = env.step(policy_fn(obs))
            total += float(reward)
            steps += 1
            done = terminated or truncated
            yield frames_of(obs)
        returns.append(total)
        lengths.append(steps)


def record_episodes(env_id: str, policy_fn: Callable[[Any], Any], path: str | Path, *, episodes: int = 1,
                    seed: int = 0, env_kwargs: dict | None = None, fps: float | None = None,
                    max_steps: int = MAX_STEPS) -> Recording:
    """Run ``episodes`` episodes of ``policy_fn`` on ``env_id`` and write them as a GIF or an MP4.

    :param env_id: a Gymnasium id (``"CartPole-v1"``, ``"FrozenLake-v1"``, ``"rlkit/TabularMDP-v0"``
        with ``env_kwargs={"spec": "cliff-walking"}``, ...).
    :param policy_fn: observation -> action. If it has a ``reset()`` method (a recurrent policy's
        state), it is called at the start of each episode.
    :param path: ``.gif`` or ``.mp4`` file; its folder must exist.
    :param episodes: episodes to record, one after the other; episode ``i`` is reset with ``seed + i``.
    :param seed: seed of the first episode.
    :param env_kwargs: keyword arguments of ``gymnasium.make`` (``render_mode`` is set here).
    :param fps: frames per second (default: the env's ``render_fps``, else 30).
    :param max_steps: stop an episode after this many steps.
    :returns: :class:`Recording`.
    :raises RlkitError: a bad path, an env that cannot render RGB frames (the message lists the
        render modes it has), or ``.mp4`` without the video extra.
    """
    out = check_output(path)
    if int(episodes) < 1:
        raise RlkitError(f"episodes must be >= 1, got {episodes}")
    env, frames_of = _make_env(env_id, env_kwargs)
    try:
        if fps is None:
            fps = float(env.unwrapped.metadata.get("render_fps") or 30)
        if fps <= 0:
            raise RlkitError(f"fps must be > 0, got {fps}")
        returns: list[float] = []
        lengths: list[int] = []
        frames = list(_episodes(env, frames_of, policy_fn, int(episodes), int(seed), int(max_steps),
                                returns, lengths))
    finally:
        env.close()
    write = _write_gif if out.suffix.lower() == ".gif" else _write_mp4
    atomic_write(out, lambda tmp: write(frames, tmp, float(fps)))
    h, w = frames[0].shape[:2]
    return Recording(out, len(frames), (int(w), int(h)), float(fps), returns, lengths)


class agent_policy:
    """``policy_fn`` of an agent with SB3's ``predict(obs, state, episode_start, deterministic)``,
    keeping a recurrent agent's hidden state across the steps of an episode."""

    def __init__(self, agent: Any, deterministic: bool = True):
        self.agent, self.deterministic = agent, deterministic
        self.reset()

    def reset(self) -> None:
        self.state, self.start = None, True

    def __call__(self, obs: Any) -> Any:
        action, self.state = self.agent.predict(obs, self.state, np.array([self.start]),
                                                deterministic=self.deterministic)
        self.start = False
        return action


def record_run(run_dir: str | Path, path: str | Path, *, episodes: int = 1, deterministic: bool = True,
               seed: int | None = None, fps: float | None = None, model: str | None = None) -> Recording:
    """Record a run folder's model (``rlkit evaluate RUN_DIR --gif/--video``).

    The model is the one :func:`rlkit.runs.load_run_agent` loads, on the run's evaluation env
    (the training env's ``env_kwargs``, then ``run.eval_env_kwargs``).

    :param run_dir: a run folder of ``rlkit train``.
    :param path: ``.gif`` or ``.mp4``.
    :param episodes: episodes to record.
    :param deterministic: greedy actions or sampled ones.
    :param seed: seed of the first episode (default: the run's seed).
    :param fps: frames per second (default: the env's).
    :param model: ``best``, ``last`` or None (see :func:`rlkit.runs.load_run_agent`).
    """
    from rlkit.runs import load_run_agent, read_run_config

    check_output(path)
    config = read_run_config(run_dir)
    agent = load_run_agent(run_dir, model)
    env_kwargs = {**((config.get("hyperparams") or {}).get("env_kwargs") or {}),
                  **((config.get("run") or {}).get("eval_env_kwargs") or {})}
    try:
        return record_episodes(config["env_id"], agent_policy(agent, deterministic), path, episodes=episodes,
                               seed=int(config.get("seed", 0)) if seed is None else int(seed),
                               env_kwargs=env_kwargs, fps=fps)
    finally:
        agent.close()


def _tabular_target(spec: str, env_kwargs: dict | None,
                    fps: float | None) -> tuple[str, dict | None, float | None]:
    """(env id, make kwargs, fps) that show a tabular spec: Gymnasium's env, or rlkit's drawn grid."""
    if str(spec).startswith("gym:"):
        return spec[4:], env_kwargs, fps
    kwargs = {"spec": spec, **({"env_kwargs": env_kwargs} if env_kwargs else {})}
    return "rlkit/TabularMDP-v0", kwargs, 4.0 if fps is None else fps


def check_tabular_output(spec: str, path: str | Path, *, env_kwargs: dict | None = None,
                         option: str = "--gif") -> Path:
    """Check, before learning, that ``spec`` can be recorded into ``path`` (see :func:`check_output`)."""
    out = check_output(path, option)
    env_id, kwargs, _ = _tabular_target(spec, env_kwargs, None)
    env, _ = _make_env(env_id, kwargs)
    env.close()
    return out


def record_tabular_policy(spec: str, policy: Any, path: str | Path, *, episodes: int = 1, seed: int = 0,
                          env_kwargs: dict | None = None, fps: float | None = None) -> Recording:
    """Record a tabular policy ((S,) action indices) on a grid env (``rlkit control ... --gif``).

    :param spec: ``gym:<EnvId>`` (Gymnasium's renderer: FrozenLake, CliffWalking, Taxi) or a
        catalog grid model such as ``cliff-walking`` (drawn by :func:`draw_grid`).
    :param policy: (S,) greedy action per state.
    :param path: ``.gif`` or ``.mp4``.
    :param episodes: episodes to record.
    :param seed: seed of the first episode.
    :param env_kwargs: the spec's parameters (catalog) or ``gymnasium.make`` arguments (``gym:``).
    :param fps: frames per second (default: the env's; 4 for a drawn grid).
    """
    pi = np.asarray(policy).astype(int).ravel()

    def act(obs: Any) -> int:
        return int(pi[int(obs)])

    env_id, kwargs, fps = _tabular_target(spec, env_kwargs, fps)
    return record_episodes(env_id, act, path, episodes=episodes, seed=seed, env_kwargs=kwargs, fps=fps)
