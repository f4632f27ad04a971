"""rlkit/MNISTBandit-v0 on the real MNIST files, and the observation wrappers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rlkit.envs
from rlkit.envs.wrappers import MaskVelocity, OneHotObservation
from rlkit.errors import RlkitError


@pytest.fixture(scope="module")
def test_split(request):
    import os
    from pathlib import Path

    path = Path(os.environ["RLKIT_DATA"]) / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {path}")
    from rlkit.supervised.data import load_mnist

    images, labels = load_mnist("test", data_dir=path)
    return path, images.numpy(), labels.numpy()


@pytest.mark.parametrize("layout,shape", [("hw", (28, 28)), ("chw", (1, 28, 28)), ("hwc", (28, 28, 1))])
def test_passes_env_checkers(test_split, layout, shape):
    path, _, _ = test_split
    env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path, obs_layout=layout)
    assert env.observation_space == gym.spaces.Box(0, 255, shape, np.uint8)
    assert env.action_space == gym.spaces.Discrete(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    # SB3's checker only warns here (28x28 is under its CnnPolicy's 36x36; (28, 28) is not an
    # image layout it knows): it must not raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(env.unwrapped)


def test_observation_and_label_come_from_the_dataset_and_reward_is_correctness(test_split):
    path, images, labels = test_split
    env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path)
    obs, info = env.reset(seed=0)
    for k in range(50):
        i = info["index"]
        assert np.array_equal(obs, images[i]) and info["obs_label"] == labels[i]
        label = info["obs_label"]
        action = label if k % 2 == 0 else (label + 1) % 10
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["label"] == label and reward == float(k % 2 == 0) and info["correct"] == (k % 2 == 0)
        assert terminated and not truncated  # one image per episode
        obs, info = env.reset()


def test_seeds_reproduce_and_draws_cover_the_split(test_split):
    path, _, labels = test_split

    def draws(seed, n=3000):
        env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path)
        out = [env.reset(seed=seed)[1]["index"]]
        out += [env.reset()[1]["index"] for _ in range(n - 1)]
        return np.array(out)

    a, b, c = draws(5), draws(5), draws(6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < len(labels)
    # uniform draws: each digit appears with its share of the test set (5-sigma bounds)
    n = len(a)
    share = np.bincount(labels, minlength=10) / len(labels)
    counts = np.bincount(labels[a], minlength=10)
    assert np.all(np.abs(counts - n * share) <= 5 * np.sqrt(n * share * (1 - share)))


def test_episodes_of_n_images(test_split):
    path, _, _ = test_split
    env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path, episode_length=5)
    obs, info = env.reset(seed=1)
    total, steps, seen = 0.0, 0, set()
    while True:
        seen.add(info["index"])
        obs, r, term, trunc, info = env.step(info["obs_label"])
        total += r
        steps += 1
        if term or trunc:
            break
    assert steps == 5 and total == 5.0 and term and not trunc
    assert len(seen) > 1  # a new image after each answer


def test_vector_env_and_render(test_split):
    path, _, _ = test_split
    venv = gym.make_vec("rlkit/MNISTBandit-v0", num_envs=3, split="test", data_dir=path)
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, 28, 28) and obs.dtype == np.uint8
    _, rewards, term, _, _ = venv.step(info["obs_label"])
    assert rewards.tolist() == [1.0, 1.0, 1.0] and term.all()
    venv.close()
    env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (28, 28, 3) and np.array_equal(frame[..., 0], obs)


# -- the native vector env -------------------------------------------------------------------------


def _singles_vs_vector(path, n, episode_length, steps, seed):
    """Step N single envs and the native vector env with the same seeds and actions (resets of
    the finished sub-envs with fresh seeds, as rlkit's collector does); compare everything."""
    from gymnasium.vector import AutoresetMode

    from rlkit.envs.mnist_bandit import MNISTBanditEnv, MNISTBanditVectorEnv

    kw = {"split": "test", "data_dir": path, "episode_length": episode_length}
    venv = MNISTBanditVectorEnv(n, autoreset_mode=AutoresetMode.DISABLED, **kw)
    singles = [MNISTBanditEnv(**kw) for _ in range(n)]
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.integers(0, 2**31, n)]
    obs, info = venv.reset(seed=seeds)
    loop = [e.reset(seed=s) for e, s in zip(singles, seeds, strict=True)]
    assert np.array_equal(obs, np.stack([o for o, _ in loop]))
    assert np.array_equal(info["obs_label"], [i["obs_label"] for _, i in loop])
    shown = [info["index"]]
    for _ in range(steps):
        actions = rng.integers(0, 10, n)
        obs, reward, term, trunc, info = venv.step(actions)
        loop = [e.step(int(a)) for e, a in zip(singles, actions, strict=True)]
        assert np.array_equal(obs, np.stack([s[0] for s in loop]))
        assert np.array_equal(reward, [s[1] for s in loop]) and reward.dtype == np.float64
        assert np.array_equal(term, [s[2] for s in loop]) and not trunc.any()
        for key in ("label", "correct", "obs_label", "index"):
            assert np.array_equal(info[key], [s[4][key] for s in loop]), key
        if term.any():
            fresh = [int(s) if d else None for s, d in zip(rng.integers(0, 2**31, n), term, strict=True)]
            obs, info = venv.reset(seed=fresh, options={"reset_mask": term})
            for i in np.flatnonzero(term):
                o, inf = singles[i].reset(seed=fresh[i])
                assert np.array_equal(obs[i], o) and info["index"][i] == inf["index"]
        shown.append(info["index"])
    return np.concatenate(shown)


@pytest.mark.parametrize("episode_length", [1, 3])
def test_native_vector_env_equals_a_loop_of_single_envs(test_split, episode_length):
    path, images, labels = test_split
    shown = _singles_vs_vector(path, 7, episode_length, 40, seed=episode_length)
    assert len(np.unique(shown)) > 0.9 * len(shown)  # fresh images, not one repeated


def test_native_vector_env_pairs_images_with_labels_and_draws_uniformly(test_split):
    path, images, labels = test_split
    venv = gym.make_vec("rlkit/MNISTBandit-v0", num_envs=500, split="test", data_dir=path)
    from rlkit.envs.mnist_bandit import MNISTBanditVectorEnv

    assert isinstance(venv.unwrapped, MNISTBanditVectorEnv)  # gymnasium picks the native one
    obs, info = venv.reset(seed=3)
    drawn = []
    for k in range(12):
        assert np.array_equal(obs, images[info["index"]])
        assert np.array_equal(info["obs_label"], labels[info["index"]])
        drawn.append(info["index"])
        wrong = k % 2 == 1
        actions = (info["obs_label"] + wrong) % 10
        obs, reward, term, trunc, info = venv.step(actions)
        assert term.all() and not trunc.any() and np.all(reward == float(not wrong))
        # NEXT_STEP (Gymnasium's default): the next step resets; its action is ignored
        obs, reward, term, trunc, info = venv.step(np.zeros(500, dtype=np.int64))
        assert not term.any() and np.all(reward == 0.0)
    a = np.concatenate(drawn)
    n = len(a)
    share = np.bincount(labels, minlength=10) / len(labels)
    counts = np.bincount(labels[a], minlength=10)
    assert np.all(np.abs(counts - n * share) <= 5 * np.sqrt(n * share * (1 - share)))
    # an int seed gives sub-env i the seed s + i, as SyncVectorEnv does
    single = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path)
    venv.reset(seed=3)
    assert venv.reset(seed=3)[1]["index"][4] == single.reset(seed=7)[1]["index"]
    venv.close()


def test_native_vector_env_bad_input(test_split):
    path, _, _ = test_split
    from rlkit.envs.mnist_bandit import MNISTBanditVectorEnv

    venv = MNISTBanditVectorEnv(3, split="test", data_dir=path)
    venv.reset(seed=0)
    for bad in ([0, 1, 10], [0, 1], [0.5, 1, 2], ["a", "b", "c"]):
        with pytest.raises(RlkitError, match="actions"):
            venv.step(np.array(bad))
    with pytest.raises(RlkitError, match="reset_mask"):
        venv.reset(options={"reset_mask": np.ones(2, dtype=bool)})
    with pytest.raises(RlkitError, match="seeds"):
        venv.reset(seed=[1, 2])
    with pytest.raises(RlkitError, match="num_envs"):
        MNISTBanditVectorEnv(0, data_dir=path)
    with pytest.raises(RlkitError, match="autoreset_mode"):
        MNISTBanditVectorEnv(2, data_dir=path, autoreset_mode="SameStep")
    with pytest.raises(RlkitError, match="episode_length"):
        MNISTBanditVectorEnv(2, data_dir=path, episode_length=0)
    from rlkit.agents.rollout import make_vec_env

    with pytest.raises(RlkitError, match="bogus"):  # the agent's route: one error line, not a TypeError
        make_vec_env("rlkit/MNISTBandit-v0", 2, env_kwargs={"bogus": 1, "data_dir": path})


def test_the_agent_collects_from_the_native_vector_env_and_resumes_exactly(test_split):
    """Episodes of 3 images in batches of 2 steps: episodes run across batches, so a resume must
    replay them (seeded reset + actions) in the native vector env."""
    from rlkit.agents.reinforce import Reinforce
    from rlkit.envs.mnist_bandit import MNISTBanditVectorEnv

    path, images, labels = test_split
    hp = {"n_envs": 4, "n_steps": 2, "baseline": "mean", "learning_rate": 1e-3,
          "env_kwargs": {"split": "test", "data_dir": str(path), "episode_length": 3}}
    policy = {"net": {"type": "mlp", "hidden": [16]}}
    ref = Reinforce(policy, "rlkit/MNISTBandit-v0", seed=2, **hp)
    assert isinstance(ref.envs, MNISTBanditVectorEnv)
    ref.learn(8 * 5)  # 5 batches: every sub-env is mid-episode after an odd number of steps
    state = ref.get_state()
    assert any(len(a) for a in state["collector"]["episode_actions"])  # mid-episode: a replay is needed
    other = Reinforce(policy, "rlkit/MNISTBandit-v0", seed=99, **hp)
    other.set_state(state)
    a, b = ref.collect(), other.collect()
    for key in ("obs", "actions", "rewards", "terminated", "starts"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    # the collector pairs each stored image with the action taken on it and its reward
    label_of = {img.tobytes(): int(y) for img, y in zip(images, labels, strict=True)}
    shown = np.array([[label_of[o.tobytes()] for o in row] for row in a.obs])
    assert np.array_equal(a.rewards, (a.env_actions == shown).astype(float))
    ref.close()
    other.close()


def test_bad_arguments(test_split, tmp_path):
    path, _, _ = test_split
    with pytest.raises(RlkitError, match="split"):
        rlkit.envs.make("rlkit/MNISTBandit-v0", split="validation", data_dir=path)
    with pytest.raises(RlkitError, match="episode_length"):
        rlkit.envs.make("rlkit/MNISTBandit-v0", episode_length=0, data_dir=path)
    with pytest.raises(RlkitError, match="obs_layout"):
        rlkit.envs.make("rlkit/MNISTBandit-v0", obs_layout="whc", data_dir=path)
    env = rlkit.envs.make("rlkit/MNISTBandit-v0", split="test", data_dir=path)
    env.reset(seed=0)
    with pytest.raises(RlkitError, match="action"):
        env.unwrapped.step(10)


def test_missing_data_is_an_rlkit_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RLKIT_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RlkitError):
        rlkit.envs.make("rlkit/MNISTBandit-v0", data_dir=tmp_path / "nothing-here", dataset="fashion-mnist")


# -- wrappers --------------------------------------------------------------------------------------


def test_mask_velocity_hides_cartpole_velocities():
    env = MaskVelocity(gym.make("CartPole-v1"))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (2,)
    for _ in range(5):
        full = np.asarray(env.unwrapped.state, dtype=np.float32)
        np.testing.assert_array_equal(obs, full[[0, 2]])
        obs, *_ = env.step(0)
    zero = MaskVelocity(gym.make("CartPole-v1"), mode="zero")
    obs, _ = zero.reset(seed=0)
    assert obs.shape == (4,) and obs[1] == 0 and obs[3] == 0 and obs[0] != 0
    assert zero.observation_space.contains(obs)
    with pytest.raises(RlkitError, match="1-D Box"):
        MaskVelocity(gym.make("FrozenLake-v1"))
    with pytest.raises(RlkitError, match="within 0..3"):
        MaskVelocity(gym.make("CartPole-v1"), indices=[4])
    with pytest.raises(RlkitError, match="no velocity indices"):
        MaskVelocity(gym.make("rlkit/CartPoleNoVel-v1"))


def test_cartpole_no_velocity_registered():
    env = rlkit.envs.make("rlkit/CartPoleNoVel-v1")
    assert env.observation_space.shape == (2,) and env.spec.max_episode_steps == 500
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    steps = 0
    while True:
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        if term or trunc:
            break
    assert 1 <= steps <= 500


def test_one_hot_observation():
    env = OneHotObservation(gym.make("FrozenLake-v1"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.float32 and obs[0] == 1.0 and obs.sum() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
    with pytest.raises(RlkitError):
        OneHotObservation(gym.make("CartPole-v1"))
