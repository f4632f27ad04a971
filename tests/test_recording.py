"""Recording episodes: GIF / MP4 files read back and checked against episodes run without rendering."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from rlkit.errors import RlkitError
from rlkit.recording import gif_duration_ms, record_episodes, record_tabular_policy


def tilt(obs) -> int:
    """Push the cart towards the side the pole leans to (a fixed, deterministic policy)."""
    return int(obs[2] > 0)


def plain_lengths(env_id: str, policy, seeds: list[int]) -> list[int]:
    """Episode lengths of ``policy`` on ``env_id``, run without any rendering."""
    env = gym.make(env_id)
    lengths = []
    for s in seeds:
        obs, _ = env.reset(seed=s)
        n, done = 0, False
        while not done:
            obs, _, term, trunc, _ = env.step(policy(obs))
            n, done = n + 1, term or trunc
        lengths.append(n)
    return lengths


def gif_frames(path) -> tuple[int, tuple[int, int], int, list[np.ndarray]]:
    """(frames, size, total duration in ms, the frames as RGB arrays) of a GIF, read with Pillow."""
    im = Image.open(path)
    frames, total = [], 0
    for i in range(im.n_frames):
        im.seek(i)
        total += im.info["duration"]
        frames.append(np.asarray(im.convert("RGB")))
    return im.n_frames, im.size, total, frames


def test_cartpole_gif_has_one_frame_per_step_plus_each_reset(tmp_path):
    lengths = plain_lengths("CartPole-v1", tilt, [5, 6])
    rec = record_episodes("CartPole-v1", tilt, tmp_path / "cp.gif", episodes=2, seed=5)
    expected = sum(n + 1 for n in lengths)
    assert rec.lengths == lengths and rec.frames == expected
    n, size, total, _ = gif_frames(tmp_path / "cp.gif")
    assert size == (600, 400) == rec.size
    # Pillow stores identical consecutive frames once with their time added: the playing time is
    # exactly one frame duration per recorded frame, at CartPole's 50 fps
    assert total == expected * gif_duration_ms(50) == expected * 20
    assert expected - 5 <= n <= expected


def test_cliff_walking_grid_is_drawn_step_by_step(tmp_path):
    from rlkit.mdp import load, value_iteration

    model = load("cliff-walking")
    policy = value_iteration(model).policy
    rec = record_tabular_policy("cliff-walking", policy, tmp_path / "cliff.gif")
    # the optimal path along the cliff edge: up, 11 x right, down = 13 steps, -1 each
    assert rec.lengths == [13] and rec.returns == [-13.0]
    n, size, total, frames = gif_frames(tmp_path / "cliff.gif")
    assert n == 14 and size == (12 * 32, 4 * 32) and total == 14 * gif_duration_ms(4)

    def agent_cell(frame):
        red = (frame[..., 0] > 180) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
        ys, xs = np.nonzero(red)
        return int(ys.mean() // 32), int(xs.mean() // 32)

    cells = [agent_cell(f) for f in frames]
    assert cells[0] == (3, 0) and cells[1] == (2, 0) and cells[12] == (2, 11) and cells[-1] == (3, 11)
    assert all(c[0] < 3 for c in cells[1:-1]), "the agent never stands on the cliff"


def test_frozenlake_gif_uses_gymnasiums_renderer(tmp_path):
    rec = record_tabular_policy("gym:FrozenLake-v1", np.full(16, 2), tmp_path / "fl.gif", episodes=1, seed=0,
                                env_kwargs={"is_slippery": False})
    # always right on the deterministic lake: 0 -> 1 -> 2 -> 3, then bumping the wall until the limit
    assert rec.returns == [0.0] and rec.lengths == [100]
    n, size, total, _ = gif_frames(tmp_path / "fl.gif")
    assert size == (256, 256) and total == 101 * gif_duration_ms(4)
    assert n == 4                   # four distinct frames, the last one held while bumping


def test_mp4_frames_read_back(tmp_path):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    lengths = plain_lengths("CartPole-v1", tilt, [3])
    rec = record_episodes("CartPole-v1", tilt, tmp_path / "cp.mp4", seed=3)
    frames, _secs = ffmpeg.count_frames_and_secs(str(tmp_path / "cp.mp4"))
    assert frames == rec.frames == lengths[0] + 1
    reader = ffmpeg.read_frames(str(tmp_path / "cp.mp4"))
    assert next(reader)["size"] == (600, 400)
    reader.close()


def test_mp4_without_the_video_extra_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(RlkitError, match=r"rlkit\[video\]"):
        record_episodes("CartPole-v1", tilt, tmp_path / "cp.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, match", [
    ("missing/x.gif", "folder .*missing does not exist"),
    (".", "is a folder"),
    ("x.png", "unknown format .png"),
])
def test_bad_output_paths(tmp_path, name, match):
    with pytest.raises(RlkitError, match=match):
        record_episodes("CartPole-v1", tilt, tmp_path / name)


def test_env_without_rgb_array_is_named_with_its_modes(tmp_path):
    with pytest.raises(RlkitError, match=r"rlkit/TabularMDP-v0 \(spec student-mdp\).*render modes: ansi"):
        record_tabular_policy("student-mdp", np.zeros(5, int), tmp_path / "x.gif")

    class AnsiOnly(gym.Env):
        metadata = {"render_modes": ["ansi", "human"]}
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
        action_space = gym.spaces.Discrete(2)

    if "rlkit_test/AnsiOnly-v0" not in gym.registry:
        gym.register("rlkit_test/AnsiOnly-v0", entry_point=AnsiOnly)
    with pytest.raises(RlkitError, match=r"^rlkit_test/AnsiOnly-v0 cannot .*render modes: ansi, human"):
        record_episodes("rlkit_test/AnsiOnly-v0", lambda o: 0, tmp_path / "a.gif")
    assert list(tmp_path.iterdir()) == []


# --- the CLI ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from rlkit.runs import train

    path = tmp_path_factory.mktemp("run") / "r"
    train("CartPole-v1", seed=2, total_timesteps=512, n_envs=2,
          overrides={"n_steps": 64, "run.eval_episodes": 2},
          run_dir=path)
    return path


def test_evaluate_gif_records_the_runs_model(cli, run_dir, tmp_path):
    from rlkit.recording import agent_policy
    from rlkit.runs import load_run_agent

    code, out, err = cli("evaluate", str(run_dir), "-n", "2", "--seed", "7", "--gif", str(tmp_path / "e.gif"),
                         "--format", "json")
    assert code == 0, err
    import json

    rec = json.loads(out)["recordings"][0]
    lengths = plain_lengths("CartPole-v1", agent_policy(load_run_agent(run_dir)), [7, 8])
    assert rec["lengths"] == lengths and rec["frames"] == sum(n + 1 for n in lengths)
    _, size, total, _ = gif_frames(tmp_path / "e.gif")
    assert size == (600, 400) and total == rec["frames"] * 20


@pytest.mark.parametrize("args, match", [
    (["--gif", "{tmp}/no/such/dir/e.gif"], "does not exist"),
    (["--gif", "{tmp}"], "is a folder"),
])
def test_evaluate_bad_gif_path_is_one_error_line(cli, run_dir, tmp_path, args, match):
    code, out, err = cli("evaluate", str(run_dir), *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert match in err and out == ""


def test_evaluate_video_without_the_extra(cli, run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    code, out, err = cli("evaluate", str(run_dir), "--video", str(tmp_path / "e.mp4"))
    assert code == 2 and "rlkit[video]" in err and len(err.strip().splitlines()) == 1 and out == ""


def test_control_gif_on_the_cliff_and_a_model_without_a_grid(cli, tmp_path):
    code, out, err = cli("control", "cliff-walking", "--method", "q-learning", "--alpha", "0.5", "--episodes",
                         "300", "--epsilon", "0.1", "--gif", str(tmp_path / "c.gif"))
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "c.gif").is_file()
    code, out, err = cli("control", "student-mdp", "--episodes", "10", "--gif", str(tmp_path / "s.gif"))
    assert code == 2 and "render modes: ansi" in err and out == ""     # refused before learning
