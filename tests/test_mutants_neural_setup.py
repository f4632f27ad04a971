"""What ``rlkit.tabular.neural`` sets up around its updates, against hand numbers: the env factory,
the policies (their actions and the matrix the exact values come from), the exact values and the
states they are scored on, the value network's construction, ``net_config`` and ``to_dict``.
Written for the mutants of ``neural_prediction``'s helpers (docs/mutation.md)."""

from __future__ import annotations

import re
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from _mdps import raises_exactly
from _walk import walk_mdp
from gymnasium import spaces

from rlkit.envs import make
from rlkit.envs.bridge import tabular_model
from rlkit.errors import RlkitError
from rlkit.mdp import MDP
from rlkit.seeding import normalize_seed
from rlkit.tabular import neural
from rlkit.tabular.neural import DEFAULT_CNN, DEFAULT_MLP, ValueNetwork, net_config, neural_prediction

TABLE = {"type": "mlp", "hidden": []}


@pytest.fixture
def env():
    e = make("rlkit/TabularMDP-v0", mdp=walk_mdp())
    yield e
    e.close()


def walk_with_absorbing():
    """The walk's model with one more, unreachable absorbing state, as a Gymnasium import may add:
    8 states in the model, 7 in the env."""
    walk = walk_mdp()
    P = np.zeros((2, 8, 8))
    P[:, :7, :7] = walk.P
    P[:, 7, 7] = 1.0
    R = np.zeros((8, 2))
    R[:7] = walk.R
    return MDP(P, R, 1.0, states=list("LABCDER") + ["terminal"], actions=["left", "right"])


class Agent:
    """Always right (action 1); records each predict call's (state, episode starts, greedy flag) and
    counts its recurrent state up from 0."""

    def __init__(self):
        self.calls = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        obs = np.asarray(obs).reshape(-1)
        self.calls.append((state, None if episode_start is None else np.asarray(episode_start).tolist(),
                           deterministic))
        return np.ones(len(obs), dtype=np.int64), (0 if state is None else state + 1)


# -- the env factory ------------------------------------------------------------------------------

def test_env_factory_builds_each_kind_of_env():
    cp = gym.make("CartPole-v1")
    factory, instance = neural._env_factory(cp, None, None)
    assert instance is cp and factory() is cp
    # a model: the tabular env, with a 1000-step limit unless one is given
    factory, instance = neural._env_factory(walk_mdp(), None, None)
    assert instance is None and factory().spec.max_episode_steps == 1000
    assert neural._env_factory(walk_mdp(), None, 7)[0]().spec.max_episode_steps == 7
    # an id (with or without gym:), with its kwargs and limit
    e = neural._env_factory("gym:FrozenLake-v1", {"is_slippery": False}, 9)[0]()
    assert e.spec.id == "FrozenLake-v1" and e.spec.max_episode_steps == 9
    assert len(e.unwrapped.P[0][0]) == 1                           # not slippery: one outcome
    assert neural._env_factory("CartPole-v1", None, None)[0]().spec.max_episode_steps == 500
    # a catalog name: the tabular env of that model, its parameters passed on
    e = neural._env_factory("random-walk", {"n": 7}, None)[0]()
    assert e.spec.id == "rlkit/TabularMDP-v0" and e.observation_space.n == 9
    assert neural._env_factory("random-walk", None, 5)[0]().spec.max_episode_steps == 5
    # a model's kwargs reach its env (start state B instead of the model's C)
    assert neural._env_factory(walk_mdp(), {"start": 2}, None)[0]().reset(seed=0)[0] == 2
    # a factory is used as it is
    made = []
    factory, instance = neural._env_factory(lambda: made.append(1) or gym.make("CartPole-v1"), None, None)
    assert instance is None and made == [] and factory().spec.id == "CartPole-v1" and made == [1]


def test_env_factory_refusals_name_the_problem():
    raises_exactly("env_kwargs are only for an env id or a model, not an env instance",
                   neural._env_factory, gym.make("CartPole-v1"), {"a": 1}, None)
    raises_exactly("unknown environment id 'Nope-v0'", neural._env_factory, "gym:Nope-v0", None, None)
    raises_exactly("env must be an env id, a catalog name/file, an rlkit.mdp model, a gymnasium.Env or a "
                   "factory, got int", neural._env_factory, 3, None, None)

    class HalfModel:                                               # gamma but no P: not a model
        gamma = 0.9

    raises_exactly("env must be an env id, a catalog name/file, an rlkit.mdp model, a gymnasium.Env or a "
                   "factory, got HalfModel", neural._env_factory, HalfModel(), None, None)
    # an rlkit/ id that does not exist is an unknown env id, not an unknown catalog model
    factory = neural._env_factory("rlkit/Nope-v0", None, None)[0]
    with pytest.raises(RlkitError, match=r"^unknown environment id 'rlkit/Nope-v0'"):
        factory()


def test_an_env_instance_runs_as_one_env_and_is_left_open():
    cp = gym.make("CartPole-v1")
    res = neural_prediction(cp, episodes=2, alpha=1e-3, n_envs=4, seed=0)
    assert res.n_envs == 1 and res.steps == int(res.episode_lengths.sum())
    cp.reset(seed=0)                                               # not closed by the run
    assert res.values is None and res.exact is None and res.rmse is None and res.error_curve is None


# -- the policies ----------------------------------------------------------------------------------

def test_the_uniform_policy_samples_every_action_and_is_the_uniform_matrix(env):
    model = tabular_model(env)
    for name in ("uniform", "random", None):
        act, matrix = neural._policy_fn(name, env, model, False, np.random.default_rng(0))
        assert matrix.tolist() == [[0.5, 0.5]] * 7
        actions = act(np.full(4000, 3), np.zeros(4000, dtype=bool))
        assert set(actions.tolist()) == {0, 1} and abs(actions.mean() - 0.5) < 0.04   # 4 sd
    assert neural._policy_fn("uniform", env, None, False, np.random.default_rng(0))[1] is None


def test_a_continuous_action_space_is_sampled_from_the_space():
    mc = gym.make("MountainCarContinuous-v0")
    act, matrix = neural._policy_fn("uniform", mc, None, False, np.random.default_rng(0))
    actions = act(np.zeros((500, 2)), np.zeros(500, dtype=bool))
    assert matrix is None and actions.shape == (500, 1)
    assert actions.min() >= -1.0 and actions.max() <= 1.0 and actions.std() > 0.5   # uniform: 0.577
    again = neural._policy_fn("uniform", mc, None, False, np.random.default_rng(0))[0]
    assert np.array_equal(again(np.zeros((500, 2)), np.zeros(500, dtype=bool)), actions)  # seeded


def test_the_optimal_policy_is_policy_iterations(env):
    act, matrix = neural._policy_fn("optimal", env, tabular_model(env), False, np.random.default_rng(0))
    # right everywhere (the terminal states' action is arbitrary: left, the first)
    assert matrix.tolist() == [[1.0, 0.0]] + [[0.0, 1.0]] * 5 + [[1.0, 0.0]]
    assert act(np.array([1, 2, 3, 4, 5]), np.zeros(5, dtype=bool)).tolist() == [1, 1, 1, 1, 1]


def test_the_optimal_policy_keeps_the_envs_states_of_a_model_with_an_added_one(env):
    act, matrix = neural._policy_fn("optimal", env, walk_with_absorbing(), False, np.random.default_rng(0))
    assert matrix.tolist() == [[1.0, 0.0]] + [[0.0, 1.0]] * 5 + [[1.0, 0.0]]


def test_a_policy_array_is_sampled_as_its_matrix(env):
    rng = np.random.default_rng(0)
    act, matrix = neural._policy_fn(np.array([0, 1, 0, 1, 0, 1, 0]), env, tabular_model(env), False, rng)
    assert matrix.tolist() == [[1.0, 0.0], [0.0, 1.0]] * 3 + [[1.0, 0.0]]
    assert act(np.array([1, 2, 3, 4]), np.zeros(4, dtype=bool)).tolist() == [1, 0, 1, 0]
    probs = np.tile([0.25, 0.75], (7, 1))
    act, matrix = neural._policy_fn(probs, env, tabular_model(env), False, rng)
    assert np.array_equal(matrix, probs)
    actions = act(np.full(20_000, 2), np.zeros(20_000, dtype=bool))
    assert set(actions.tolist()) == {0, 1} and abs(actions.mean() - 0.75) < 0.013   # 4 sd


def test_an_agent_gets_its_state_episode_starts_and_greedy_flag(env):
    agent = Agent()
    act, matrix = neural._policy_fn(agent, env, tabular_model(env), True, np.random.default_rng(0))
    assert matrix.tolist() == [[0.0, 1.0]] * 7                     # its greedy actions, as a matrix
    agent.calls.clear()
    assert act(np.array([1, 2]), np.array([True, False])).tolist() == [1, 1]
    assert act(np.array([3, 4]), np.array([False, False])).tolist() == [1, 1]
    assert agent.calls == [(None, [True, False], True), (0, [False, False], True)]
    # without a model there is no matrix
    assert neural._policy_fn(agent, env, None, False, np.random.default_rng(0))[1] is None
    # sampled actions (deterministic False) need the agent's probabilities: none exposed, no matrix
    assert neural._policy_fn(agent, env, tabular_model(env), False, np.random.default_rng(0))[1] is None

    class ProbAgent(Agent):
        def action_probabilities(self, obs):
            return np.tile([0.25, 0.75], (len(np.asarray(obs).reshape(-1)), 1))

    matrix = neural._policy_fn(ProbAgent(), env, tabular_model(env), False, np.random.default_rng(0))[1]
    assert matrix.tolist() == [[0.25, 0.75]] * 7                   # its probabilities, not greedy


def test_a_callable_policy_acts_but_has_no_matrix(env):
    act, matrix = neural._policy_fn(lambda obs: np.asarray(obs) % 2, env, tabular_model(env), False,
                                    np.random.default_rng(0))
    assert matrix is None and act(np.array([1, 2, 3]), np.zeros(3, dtype=bool)).tolist() == [1, 0, 1]


def test_policy_refusals_name_the_problem(env, tmp_path):
    rng = np.random.default_rng(0)
    model = tabular_model(env)
    raises_exactly("policy 'optimal' needs an env with a tabular model (rlkit/TabularMDP-v0, FrozenLake...)",
                   neural._policy_fn, "optimal", gym.make("CartPole-v1"), None, False, rng)
    raises_exactly("unknown policy 'greedy'; use 'uniform', 'optimal', a matrix, an agent or a callable",
                   neural._policy_fn, "greedy", env, model, False, rng)
    raises_exactly(f"unknown policy {str(tmp_path)!r} (a run folder: `rlkit evaluate-policy --net` loads "
                   "it; in Python pass the loaded agent); use 'uniform', 'optimal', a matrix, an agent or a "
                   "callable",
                   neural._policy_fn, str(tmp_path), env, model, False, rng)
    raises_exactly("a policy given as an array needs Discrete observations (a tabular env)",
                   neural._policy_fn, [0, 1], gym.make("CartPole-v1"), None, False, rng)
    raises_exactly("policy must be 'uniform', 'optimal', an (S, A)/(S,) array, an agent with predict() or a "
                   "callable, got float", neural._policy_fn, 3.5, env, model, False, rng)


# -- the exact values and the states scored --------------------------------------------------------

def test_exact_values_of_always_right_at_gamma_one_half_by_hand(env):
    # from s, right reaches R after 6 - s steps and is paid 1 on the last: V(s) = (1/2)^(5 - s).
    # From C only C, D, E (and R) are reached: A and B are not scored, nor the terminal L and R
    right = np.tile([0.0, 1.0], (7, 1))
    values, mask = neural._exact_and_mask(True, tabular_model(env), right, 0.5, env, env.observation_space)
    assert values.tolist() == [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 0.0]
    assert mask.tolist() == [False, False, False, True, True, True, False]
    # uniform at the model's gamma 1: i / 6, every inner state reached
    uniform = np.full((7, 2), 0.5)
    values, mask = neural._exact_and_mask(True, tabular_model(env), uniform, 1.0, env, env.observation_space)
    np.testing.assert_allclose(values, np.r_[0.0, np.arange(1, 6) / 6, 0.0], atol=1e-12)
    assert mask.tolist() == [False] + [True] * 5 + [False]
    # a model with an added absorbing state: the same values and states, cut to the env's 7
    values, mask = neural._exact_and_mask(True, walk_with_absorbing(), right, 0.5, env, env.observation_space)
    assert values.tolist() == [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 0.0]
    assert mask.tolist() == [False, False, False, True, True, True, False]


def test_exact_values_given_or_not_wanted(env):
    model, space = tabular_model(env), env.observation_space
    right = np.tile([0.0, 1.0], (7, 1))
    assert neural._exact_and_mask(False, model, right, 0.5, env, space) == (None, None)
    assert neural._exact_and_mask(True, model, None, 0.5, env, space) == (None, None)    # no matrix
    assert neural._exact_and_mask(True, None, right, 0.5, env, space) == (None, None)    # no model
    # given: scored on the non-terminal states (all reachable: no matrix to say otherwise)
    values, mask = neural._exact_and_mask(np.arange(7), model, None, 0.5, env, space)
    assert values.dtype == float and values.tolist() == list(range(7))
    assert mask.tolist() == [False] + [True] * 5 + [False]
    # given with a matrix: the reachable ones too
    values, mask = neural._exact_and_mask(np.arange(7.0), model, right, 0.5, env, space)
    assert mask.tolist() == [False, False, False, True, True, True, False]
    # given without a model: every state, cut to the env's states
    values, mask = neural._exact_and_mask(np.arange(9.0), None, None, 0.5, env, space)
    assert values.tolist() == list(range(7)) and mask.tolist() == [True] * 7
    assert neural.rms_error(np.zeros(7), values, mask) == pytest.approx(np.sqrt(91 / 7))   # a real mask
    raises_exactly("exact values have 3 entries; the env has 7 states",
                   neural._exact_and_mask, np.arange(3.0), model, right, 0.5, env, space)
    # Box observations: the values are kept as given (no states to cut them to)
    cp = gym.make("CartPole-v1")
    values, mask = neural._exact_and_mask(np.arange(3.0), None, None, 0.99, cp, cp.observation_space)
    assert values.tolist() == [0.0, 1.0, 2.0] and mask.tolist() == [True] * 3


def test_the_run_scores_against_the_exact_values_at_its_own_gamma():
    res = neural_prediction(walk_mdp(), np.ones(7, dtype=int), episodes=3, alpha=0.1, gamma=0.5, net=TABLE,
                            n_envs=1, seed=0)
    assert res.gamma == 0.5 and res.exact.tolist() == [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 0.0]
    assert res.eval_mask.tolist() == [False, False, False, True, True, True, False]
    d = (res.values - res.exact)[res.eval_mask]
    assert res.rmse == pytest.approx(float(np.sqrt(np.mean(d**2))), abs=1e-12)
    assert len(res.error_curve) == 3 and res.error_curve[-1] == pytest.approx(res.rmse, abs=1e-7)
    off = neural_prediction(walk_mdp(), np.ones(7, dtype=int), episodes=3, alpha=0.1, gamma=0.5, net=TABLE,
                            n_envs=1, seed=0, record_error=False)
    assert off.error_curve is None and off.rmse == pytest.approx(res.rmse, abs=1e-12)
    none = neural_prediction(walk_mdp(), np.ones(7, dtype=int), episodes=3, alpha=0.1, net=TABLE, n_envs=1,
                             seed=0, exact=False)
    assert none.exact is None and none.rmse is None and none.error_curve is None and none.gamma == 1.0
    raises_exactly("gamma: gamma must be in [0, 1], got -0.1", neural_prediction, walk_mdp(), episodes=3,
                   gamma=-0.1)


# -- the value network ------------------------------------------------------------------------------

def test_the_value_network_picks_its_backbone_and_bias():
    table = ValueNetwork(spaces.Discrete(4, start=2), TABLE)
    assert table.is_table and table.head.bias is None and table.n_discrete == 4 and table._start == 2
    assert ValueNetwork(spaces.Discrete(4, start=2), TABLE, bias=True).head.bias is not None
    mlp = ValueNetwork(spaces.Discrete(4))
    assert mlp.cfg == DEFAULT_MLP and not mlp.is_table and mlp.head.bias is not None
    assert not ValueNetwork(spaces.Discrete(4), {**TABLE, "normalize": [0.0, 1.0]}).is_table
    box = ValueNetwork(spaces.Box(-1, 1, (3,), np.float32))
    assert box.n_discrete is None and box.cfg == DEFAULT_MLP and not box.is_table
    assert box.predict(np.zeros((2, 3), dtype=np.float32)).tolist() == [0.0, 0.0]   # a zero head
    image = ValueNetwork(spaces.Box(0, 255, (28, 28), np.uint8))
    assert image.cfg == DEFAULT_CNN
    assert ValueNetwork(spaces.Box(0.0, 1.0, (28, 28), np.float32)).cfg == DEFAULT_MLP   # not uint8
    assert ValueNetwork(spaces.Box(0, 255, (784,), np.uint8)).cfg == DEFAULT_MLP       # 1-D
    assert ValueNetwork(spaces.Box(0, 255, (1, 28, 28), np.uint8)).cfg == DEFAULT_CNN  # (C, H, W)
    # a config without "type" is an MLP (a table when it has no hidden layer); without "hidden" not one
    untyped = ValueNetwork(spaces.Discrete(4), {"hidden": []})
    assert untyped.is_table and untyped.head.bias is None
    default_hidden = ValueNetwork(spaces.Discrete(4), {"type": "mlp"})
    assert not default_hidden.is_table and default_hidden.head.bias is not None
    for net in (table, mlp, box, image):
        assert float(net.head.weight.detach().abs().sum()) == 0.0
        assert net.head.bias is None or float(net.head.bias.detach().abs().sum()) == 0.0


def test_value_network_refusals_name_the_problem():
    raises_exactly("value network: observation space Dict('a': Discrete(2)) is not supported; use an env "
                   "with Discrete or Box observations (flatten Dict/Tuple observations with a wrapper)",
                   ValueNetwork, spaces.Dict({"a": spaces.Discrete(2)}))
    with pytest.raises(RlkitError, match=r"^net\.type: value network: recurrent backbones are not "
                                         r"supported for prediction; use mlp or cnn") as err:
        ValueNetwork(spaces.Box(-1, 1, (3,), np.float32), {"type": "rnn", "hidden": 8})
    assert err.value.where == "net.type"
    with pytest.raises(RlkitError, match=r"^net: value network: batch norm makes v\(s\) depend on the "
                                         r"rest of the batch, which breaks TD targets and per-state traces; "
                                         r"give blocks without batch_norm \(e\.g\. "
                                         r"rlkit\.tabular\.neural\.DEFAULT_CNN\)$") as err:
        ValueNetwork(spaces.Box(0, 255, (28, 28), np.uint8), {"type": "cnn", "preset": "lenet"})
    assert err.value.where == "net"
    with pytest.raises(RlkitError, match=r"^net: a value network started from a trained backbone takes its "
                                         r"architecture from the source; give only its path") as err:
        ValueNetwork(spaces.Discrete(3), {"init": "x", "hidden": [4]})
    assert err.value.where == "net"


def test_train_returns_the_network_and_predict_gives_float64():
    net = ValueNetwork(spaces.Discrete(3))
    assert net.train() is net and net.training and net.backbone.training
    net.train(False)
    assert not net.training
    with torch.no_grad():
        net.head.weight.fill_(1.0)
    assert net.predict([0, 1, 2]).dtype == np.float64


# -- net_config --------------------------------------------------------------------------------------

def test_net_config_names_files_and_runs(tmp_path):
    assert net_config(None) is None and net_config("auto") is None       # ValueNetwork picks
    assert net_config("linear") == {"type": "mlp", "hidden": []}
    assert net_config("cnn") == DEFAULT_CNN and net_config("cnn") is not DEFAULT_CNN
    assert net_config("mlp") is not DEFAULT_MLP
    (tmp_path / "net.json").write_text('{"type": "mlp", "hidden": [8]}')
    assert net_config(str(tmp_path / "net.json")) == {"type": "mlp", "hidden": [8]}
    (tmp_path / "NET.YML").write_text("type: mlp\nhidden: [4]\n")
    assert net_config(str(tmp_path / "NET.YML")) == {"type": "mlp", "hidden": [4]}
    assert net_config(str(tmp_path)) == {"init": str(tmp_path)}                # a run folder
    (tmp_path / "model.pt").write_bytes(b"")
    assert net_config(str(tmp_path / "model.pt")) == {"init": str(tmp_path / "model.pt")}


def test_net_config_refusals_name_the_file(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(RlkitError, match=re.escape(f"{bad}: a backbone config must be a mapping like "
                                                   "{type: mlp, hidden: [64]}") + "$") as err:
        net_config(str(bad))
    assert err.value.where == str(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("type: [mlp\n")
    with pytest.raises(RlkitError, match="^" + re.escape(f"{broken}: not valid YAML/JSON: ")) as err:
        net_config(str(broken))
    assert err.value.where == str(broken) and "\n" not in str(err.value)
    with pytest.raises(RlkitError, match=r"^--net: unknown value network 'resnet': use auto, mlp, linear, "
                                         r"cnn, a \.yaml/\.json backbone config or a run folder / model file "
                                         r"with a trained backbone$") as err:
        net_config("resnet")
    assert err.value.where == "--net"
    (tmp_path / "notes.txt").write_text("not a model")                     # a file, but not .pt
    with pytest.raises(RlkitError, match="^--net: unknown value network "):
        net_config(str(tmp_path / "notes.txt"))
    with pytest.raises(RlkitError, match="unknown value network"):
        net_config(str(tmp_path / "missing.yaml"))                 # not a file


# -- the result --------------------------------------------------------------------------------------

def test_to_dict_holds_the_run_as_plain_values():
    res = neural_prediction(walk_mdp(), "uniform", method="td-lambda", lam=0.5, episodes=2, alpha=0.1,
                            alpha_decay=0.5, net=TABLE, n_envs=2, seed=3, optimizer="adam")
    d = res.to_dict()
    assert list(d) == ["method", "values", "exact", "rmse", "loss_curve", "error_curve", "episode_returns",
                       "episodes", "steps", "gamma", "lambda", "alpha", "n_envs", "seed", "seconds"]
    assert d["method"] == "td-lambda" and d["lambda"] == 0.5 and d["alpha"] == 0.1 and d["gamma"] == 1.0
    assert d["values"] == res.values.tolist() and d["exact"] == res.exact.tolist() and d["rmse"] == res.rmse
    assert d["loss_curve"] == res.loss_curve.tolist() and d["error_curve"] == res.error_curve.tolist()
    assert d["episode_returns"] == res.episode_returns.tolist() and d["episodes"] == 2 == len(d["loss_curve"])
    assert d["steps"] == res.steps and d["n_envs"] == 2 and d["seed"] == 3 and d["seconds"] == res.seconds
    assert res.config == {"alpha_decay": 0.5, "optimizer": "adam", "net": TABLE, "deterministic": False}
    assert isinstance(res.net.head.weight, torch.Tensor) and res.value([3]).shape == (1,)
    cp = neural_prediction("CartPole-v1", episodes=1, alpha=1e-3, n_envs=1, seed=0).to_dict()
    assert cp["values"] is None and cp["exact"] is None and cp["error_curve"] is None and cp["lambda"] is None


# -- the loop around the updates ----------------------------------------------------------------------

class Chain(gym.Env):
    """A 3-state chain without a tabular model: observations 1, 2, 3 (Discrete(3, start=1)), every
    action moves one state on, reward 1 on each move, the episode ends on reaching 3."""

    observation_space = spaces.Discrete(3, start=1)
    action_space = spaces.Discrete(2)

    def __init__(self):
        self.closed = False

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 1
        return self.s, {}

    def step(self, action):
        self.s += 1
        return self.s, 1.0, self.s == 3, False, {}

    def close(self):
        self.closed = True


def test_the_defaults_are_the_documented_ones(monkeypatch):
    threads = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n) or real(n))
    before = torch.get_num_threads()
    res = neural_prediction(walk_mdp())                             # td, 500 episodes, alpha 0.01, 8 envs
    assert (res.method, res.episodes, res.alpha, res.n_envs, res.seed) == ("td", 500, 0.01, 8, 0)
    assert res.config["optimizer"] == "sgd" and res.config["deterministic"] is False
    assert threads == [1, before]                                   # one thread in the run, then restored
    assert neural_prediction(walk_mdp(), method="td-lambda", episodes=2).lam == 0.0
    threads.clear()
    neural_prediction(walk_mdp(), episodes=2, torch_threads=None)   # left alone: only the restore
    assert threads == [before]


def test_seeds_none_any_integer_and_refused():
    assert neural_prediction(walk_mdp(), episodes=3, seed=None).seed is None          # unseeded runs
    res = neural_prediction(walk_mdp(), episodes=3, seed=-1)
    assert res.seed == normalize_seed(-1) and res.seed >= 0                             # normalised
    again = neural_prediction(walk_mdp(), episodes=3, seed=normalize_seed(-1))
    assert np.array_equal(res.episode_lengths, again.episode_lengths)
    with pytest.raises(RlkitError, match=r"^seed: seed must be an integer, got 'Generator\(PCG64\)'$"):
        neural_prediction(walk_mdp(), episodes=3, seed=np.random.default_rng(0))


def test_gamma_bounds_are_inclusive():
    assert neural_prediction(walk_mdp(), episodes=2, gamma=0.0).gamma == 0.0
    assert neural_prediction(walk_mdp(), episodes=2, gamma=1.0).gamma == 1.0
    for bad in (-0.1, 1.5):
        raises_exactly(f"gamma: gamma must be in [0, 1], got {bad!r}", neural_prediction, walk_mdp(),
                       episodes=2, gamma=bad)


def test_the_run_passes_env_kwargs_limits_and_the_greedy_flag_on():
    res = neural_prediction("random-walk", env_kwargs={"n": 7}, episodes=2, n_envs=1)
    assert len(res.values) == 9                                     # the 7-state walk and its two ends
    agent = Agent()
    res = neural_prediction(walk_mdp(), agent, episodes=2, n_envs=1, deterministic=True)
    calls = [greedy for _, _, greedy in agent.calls]
    assert calls and all(flag is True for flag in calls)
    # always right from C: C, D, E, then R paid 1; every return is 1
    assert res.episode_lengths.tolist() == [3, 3] and res.episode_returns.tolist() == [1.0, 1.0]


def test_exact_values_longer_than_the_env_are_cut_to_its_states():
    res = neural_prediction(walk_mdp(), np.ones(7, dtype=int), episodes=2, n_envs=1, exact=np.arange(9.0))
    assert res.exact.tolist() == list(range(7)) and len(res.values) == 7


def test_a_discrete_env_without_a_model_with_states_from_one():
    made = []

    def factory():
        made.append(Chain())
        return made[-1]

    res = neural_prediction(factory, lambda obs: np.zeros(len(obs), dtype=np.int64), episodes=3, n_envs=2,
                            alpha=0.1, net=TABLE, exact=np.array([1.0, 0.0, 0.0]))
    assert res.values.shape == (3,) and res.exact.tolist() == [1.0, 0.0, 0.0]
    assert res.eval_mask.tolist() == [True, True, True]             # no model: every state scored
    assert res.rmse == pytest.approx(neural.rms_error(res.values, res.exact, res.eval_mask))
    assert res.gamma == 0.99                                        # no model, no gamma of its own
    assert made and all(e.closed for e in made)                     # the run's own envs are closed


def test_an_env_instance_given_is_run_alone_and_not_closed():
    chain = Chain()
    res = neural_prediction(chain, lambda obs: np.zeros(len(obs), dtype=np.int64), episodes=2, n_envs=2,
                            exact=False)
    assert res.n_envs == 1 and res.steps == 4 and not chain.closed


def test_seconds_is_the_runs_wall_time():
    t0 = time.perf_counter()
    res = neural_prediction(walk_mdp(), episodes=20, n_envs=1)
    wall = time.perf_counter() - t0
    assert 0.0 < res.seconds <= wall
