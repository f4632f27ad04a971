"""Prediction with function approximation: semi-gradient TD(0), semi-gradient TD(lambda) and
gradient Monte Carlo with a value network built from :mod:`rlkit.supervised`'s backbones.

The value network is ``v(s; w) = head(backbone(x(s)))``: the backbone comes from
:func:`rlkit.supervised.build_backbone` (an MLP by default, a small CNN for image observations) and
the head is one linear unit, initialised to zero so every estimate starts at 0 like the tabular
methods. ``Discrete`` observations are fed one-hot, so ``net={"type": "mlp", "hidden": []}`` is a
linear function of one-hot features: exactly a table, and the methods reduce to their tabular
versions (Sutton & Barto, chapters 9 and 12).

The updates (S&B eq. 9.7, 9.8 and section 12.2), with ``alpha`` the step size:

* gradient Monte Carlo: ``w <- w + alpha * [G_t - v(S_t)] grad v(S_t)`` for every step of an
  episode, applied when it ends (the sum over its steps, with the weights of the episode's end);
* semi-gradient TD(0): ``w <- w + alpha * delta_t grad v(S_t)``,
  ``delta_t = R_{t+1} + gamma * v(S_{t+1}) - v(S_t)`` (``v(terminal) = 0``);
* semi-gradient TD(lambda): ``z <- gamma * lambda * z + grad v(S_t)``; ``w <- w + alpha * delta_t z``
  with one trace ``z`` per environment, reset to 0 when its episode ends.

Episodes are collected from ``n_envs`` copies of the env in a :class:`gymnasium.vector.SyncVectorEnv`
(same-step autoreset); each environment's transition contributes its own step
``alpha * delta * z`` and the ``n_envs`` steps of one vector step are applied together. The step
size follows ``alpha_k = alpha / (1 + alpha_decay * k)`` with ``k`` the number of finished
episodes (Robbins-Monro for ``alpha_decay > 0``). At a time-limit truncation TD bootstraps from the
final observation, and Monte Carlo completes the return with ``gamma^n v(final observation)``.

Example (the 5-state random walk, S&B Example 6.2, true values 1/6 .. 5/6)::

    >>> from rlkit.tabular.neural import semi_gradient_td
    >>> res = semi_gradient_td("random-walk", episodes=300, alpha=0.1, seed=0,
    ...                        net={"type": "mlp", "hidden": []})
    >>> res.values.shape, res.rmse < 0.1
    ((7,), True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlkit.errors import RlkitError
from rlkit.mdp.facts import reachable_states
from rlkit.returns import returns_to_go
from rlkit.seeding import as_generator, normalize_seed, seed_everything
from rlkit.tabular import registry

#: Default value-network backbones: an MLP for vectors, a small CNN (no batch norm) for images.
DEFAULT_MLP: dict[str, Any] = {"type": "mlp", "hidden": [64, 64], "activation": "tanh"}
DEFAULT_CNN: dict[str, Any] = {
    "type": "cnn",
    "blocks": [
        {"channels": 16, "kernel": 5, "padding": 2, "pool": 2},
        {"channels": 32, "kernel": 5, "padding": 2, "pool": 2},
    ],
    "hidden": [64],
}
#: Method names accepted by :func:`neural_prediction`: a view of :mod:`rlkit.tabular.registry` (kind
#: ``"neural"``).
METHODS = registry.names("neural")


def net_config(text: str | None) -> dict[str, Any] | None:
    """A value-network config from a short name or a file (what ``--net`` of
    ``rlkit evaluate-policy`` takes).

    :param text: ``None``/``"auto"`` (MLP, or a CNN for image observations), ``"mlp"``
        (:data:`DEFAULT_MLP`), ``"linear"`` (no hidden layer: a table on one-hot features),
        ``"cnn"`` (:data:`DEFAULT_CNN`), a .yaml/.json file with a backbone config, or a run
        folder (or model file) of ``rlkit train`` or ``rlkit supervised train``: ``{"init": PATH}``,
        a value network that starts from that run's trained backbone.
    :raises RlkitError: anything else, or a file that is not a mapping.

    >>> net_config("linear")
    {'type': 'mlp', 'hidden': []}
    """
    if text is None or text == "auto":
        return None
    named = {"mlp": DEFAULT_MLP, "linear": {"type": "mlp", "hidden": []}, "cnn": DEFAULT_CNN}
    if text in named:
        return dict(named[text])
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        import yaml

        try:
            cfg = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise RlkitError(f"not valid YAML/JSON: {exc}".splitlines()[0], where=str(path)) from None
        if not isinstance(cfg, dict):
            raise RlkitError("a backbone config must be a mapping like {type: mlp, hidden: [64]}",
                             where=str(path))
        return cfg
    if path.is_dir() or (path.suffix.lower() == ".pt" and path.is_file()):
        return {"init": str(path)}  # start from this run's trained backbone (see ValueNetwork)
    raise RlkitError(f"unknown value network {text!r}: use auto, mlp, linear, cnn, a .yaml/.json "
                     "backbone config or a run folder / model file with a trained backbone", where="--net")


# -- the value network ---------------------------------------------------------------------------


class ValueNetwork(nn.Module):
    """``v(s) = head(backbone(x(s)))``: a shared backbone and one linear output.

    :param observation_space: the env's (single) observation space; ``Discrete(n)`` observations
        are encoded one-hot (length ``n``), others are passed as they are (the backbone casts
        them to float; uint8 images are divided by 255).
    :param net: backbone config for :func:`rlkit.supervised.build_backbone` (default
        :data:`DEFAULT_MLP`, or :data:`DEFAULT_CNN` for 2-D/3-D uint8 observations).
        ``{"init": PATH}``: the backbone of a run of ``rlkit train`` (its policy's) or of
        ``rlkit supervised train`` (the classifier's), or of one of their model files: its
        architecture and weights are copied and the head is new (zero, as always); batch-norm
        layers keep the source's running statistics. An observation shape the backbone cannot
        read is an error naming both shapes.
    :param bias: give the linear head a bias. Default: yes, except for a table (one-hot
        features straight into the head, ``{"type": "mlp", "hidden": []}``), where a shared bias
        would tie the states together; without it ``v(s) = w[s]`` exactly.
    """

    def __init__(self, observation_space: spaces.Space, net: dict[str, Any] | None = None,
                 bias: bool | None = None) -> None:
        super().__init__()
        from rlkit.supervised import build_backbone

        if isinstance(observation_space, spaces.Discrete):
            self.n_discrete: int | None = int(observation_space.n)
            self._start = int(observation_space.start)
            input_shape: tuple[int, ...] = (self.n_discrete,)
        elif isinstance(observation_space, spaces.Box):
            self.n_discrete = None
            self._start = 0
            input_shape = tuple(int(d) for d in observation_space.shape)
        else:
            raise RlkitError(
                f"value network: observation space {observation_space} is not supported; use an env "
                "with Discrete or Box observations (flatten Dict/Tuple observations with a wrapper)"
            )
        source = None
        if net is not None and "init" in net:
            from rlkit.agents.pretrained import _check_shape, read_source

            if set(net) != {"init"}:
                raise RlkitError("a value network started from a trained backbone takes its "
                                 "architecture from the source; give only its path", where="net")
            source = read_source(net["init"], where="--net")
            _check_shape(source, input_shape, where="--net")
            net = dict(source.net)
        if net is None:
            image = (
                isinstance(observation_space, spaces.Box)
                and observation_space.dtype == np.uint8
                and len(input_shape) in (2, 3)
            )
            net = DEFAULT_CNN if image else DEFAULT_MLP
        self.cfg = dict(net)
        self.backbone = build_backbone(self.cfg, input_shape)
        if getattr(self.backbone, "is_recurrent", False):
            raise RlkitError("value network: recurrent backbones are not supported for prediction; "
                             "use mlp or cnn", where="net.type")
        self._norms = [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if source is not None:
            self.backbone.load_state_dict(source.body)
            self.cfg = {**self.cfg, "init": source.path}
        elif self._norms:
            raise RlkitError(
                "value network: batch norm makes v(s) depend on the rest of the batch, which breaks TD "
                "targets and per-state traces; give blocks without batch_norm (e.g. rlkit.tabular.neural."
                "DEFAULT_CNN)", where="net")
        self.is_table = (
            self.n_discrete is not None and str(self.cfg.get("type", "mlp")).lower() == "mlp"
            and list(self.cfg.get("hidden", [None])) == [] and not self.cfg.get("normalize")
        )
        if bias is None:
            bias = not self.is_table
        self.head = nn.Linear(int(self.backbone.output_dim), 1, bias=bool(bias))
        nn.init.zeros_(self.head.weight)
        if self.head.bias is not None:
            nn.init.zeros_(self.head.bias)

    def train(self, mode: bool = True) -> ValueNetwork:
        """As nn.Module.train, but batch-norm layers of a trained backbone keep their running
        statistics (eval mode), so v(s) never depends on the rest of a batch."""
        super().train(mode)
        for m in self._norms:
            m.eval()
        return self

    def encode(self, obs: Any) -> torch.Tensor:
        """Turn a batch of raw observations into the network's input tensor."""
        if self.n_discrete is not None:
            idx = torch.as_tensor(np.asarray(obs), dtype=torch.int64).reshape(-1) - self._start
            return nn.functional.one_hot(idx, self.n_discrete).to(torch.float32)
        return torch.as_tensor(np.asarray(obs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Values (B,) of encoded inputs ``x`` (B, ...)."""
        return self.head(self.backbone(x)).squeeze(-1)

    @torch.no_grad()
    def predict(self, obs: Any) -> np.ndarray:
        """Values (B,) of a batch of raw observations, as numpy."""
        return self.forward(self.encode(obs)).cpu().numpy().astype(float)


# -- result --------------------------------------------------------------------------------------


@dataclass
class NeuralPredictionResult:
    """What a neural prediction run returns.

    :ivar method: ``"td"``, ``"td-lambda"`` or ``"mc"``.
    :ivar net: the trained :class:`ValueNetwork`; ``value(obs_batch)`` evaluates it.
    :ivar values: v(s) for every state when observations are ``Discrete``, else None.
    :ivar exact: the policy's exact values from :func:`rlkit.mdp.evaluate` when the env has a
        tabular model and the policy is known as a matrix (``"uniform"``, ``"optimal"``, an
        array, an agent queried greedily or exposing ``action_probabilities``), else None.
    :ivar rmse: final RMS error against ``exact`` over ``eval_mask`` states, else None.
    :ivar loss_curve: one value per finished episode (in the order they finished): the mean of
        the squared TD errors (TD) or of ``(G_t - v(S_t))^2`` (MC) over its steps.
    :ivar error_curve: RMS error against ``exact`` after each finished episode, else None.
    :ivar episode_returns: undiscounted return of each finished episode.
    :ivar episode_lengths: length of each finished episode.
    :ivar eval_mask: the states the error is measured on (non-terminal and reachable from the
        start under the policy).
    """

    method: str
    net: ValueNetwork
    values: np.ndarray | None
    exact: np.ndarray | None
    rmse: float | None
    loss_curve: np.ndarray
    error_curve: np.ndarray | None
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    episodes: int
    steps: int
    gamma: float
    lam: float | None
    alpha: float
    n_envs: int
    seed: int | None
    seconds: float
    eval_mask: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def value(self, obs: Any) -> np.ndarray:
        """v(obs) for a batch of raw observations."""
        return self.net.predict(obs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no network)."""
        out = {
            "method": self.method,
            "values": None if self.values is None else self.values.tolist(),
            "exact": None if self.exact is None else self.exact.tolist(),
            "rmse": self.rmse,
            "loss_curve": self.loss_curve.tolist(),
            "error_curve": None if self.error_curve is None else self.error_curve.tolist(),
            "episode_returns": self.episode_returns.tolist(),
            "episodes": self.episodes,
            "steps": self.steps,
            "gamma": self.gamma,
            "lambda": self.lam,
            "alpha": self.alpha,
            "n_envs": self.n_envs,
            "seed": self.seed,
            "seconds": self.seconds,
        }
        return out


# -- environments and policies -------------------------------------------------------------------


def _env_factory(env: Any, env_kwargs: dict[str, Any] | None, max_episode_steps: int | None
                 ) -> tuple[Callable[[], gym.Env], gym.Env | None]:
    """Return (factory, the given instance or None)."""
    kwargs = dict(env_kwargs or {})
    if isinstance(env, gym.Env):
        if kwargs:
            raise RlkitError("env_kwargs are only for an env id or a model, not an env instance")
        return (lambda: env), env
    if hasattr(env, "P") and hasattr(env, "gamma"):  # an rlkit.mdp model
        from rlkit.envs import make

        steps = max_episode_steps or 1000
        return (lambda: make("rlkit/TabularMDP-v0", mdp=env, max_episode_steps=steps, **kwargs)), None
    if isinstance(env, str):
        from rlkit.envs import make

        extra = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
        if env.startswith("rlkit/") or env.startswith("gym:") or _is_registered(env):
            env_id = env.removeprefix("gym:")
            if env.startswith("gym:") and not _is_registered(env_id):
                raise RlkitError(f"unknown environment id {env_id!r}")
            return (lambda: make(env_id, **extra, **kwargs)), None
        # a catalog name or a model file: the tabular env
        return (lambda: make("rlkit/TabularMDP-v0", spec=env, env_kwargs=kwargs or None, **extra)), None
    if callable(env):
        return env, None
    raise RlkitError(f"env must be an env id, a catalog name/file, an rlkit.mdp model, a gymnasium.Env or a "
                     f"factory, got {type(env).__name__}")


def _is_registered(env_id: str) -> bool:
    import rlkit.envs  # noqa: F401  (registers rlkit/...)

    return env_id in gym.registry


def _policy_fn(policy: Any, env: gym.Env, model: Any, deterministic: bool, rng: np.random.Generator
               ) -> tuple[Callable[[Any, np.ndarray], np.ndarray], np.ndarray | None]:
    """Return (act(obs_batch, episode_start) -> actions, the policy as an (S, A) matrix if known)."""
    action_space = env.action_space
    if policy is None or (isinstance(policy, str) and policy in ("uniform", "random")):
        if isinstance(action_space, spaces.Discrete):
            n = int(action_space.n)
            matrix = None if model is None else np.full((model.n_states, n), 1.0 / n)
            return (lambda obs, start: rng.integers(n, size=len(np.asarray(obs)))), matrix
        space = action_space
        space.seed(int(rng.integers(2**31)))
        return (lambda obs, start: np.stack([space.sample() for _ in range(len(start))])), None
    if isinstance(policy, str) and policy == "optimal":
        if model is None:
            raise RlkitError("policy 'optimal' needs an env with a tabular model "
                             "(rlkit/TabularMDP-v0, FrozenLake...)")
        from rlkit.mdp import policy_iteration

        n_obs = int(env.observation_space.n)  # a Gymnasium import may add an absorbing state
        policy = np.asarray(policy_iteration(model).policy)[:n_obs]
    if isinstance(policy, str):
        hint = (" (a run folder: `rlkit evaluate-policy --net` loads it; in Python pass the loaded agent)"
                if Path(policy).is_dir() else "")
        raise RlkitError(f"unknown policy {policy!r}{hint}; use 'uniform', 'optimal', a matrix, an agent "
                         "or a callable")
    if isinstance(policy, (np.ndarray, list, tuple)):
        if not isinstance(env.observation_space, spaces.Discrete):
            raise RlkitError("a policy given as an array needs Discrete observations (a tabular env)")
        from rlkit.envs.bridge import policy_matrix

        matrix = policy_matrix(env, np.asarray(policy))
        cdf = np.cumsum(matrix, axis=1)

        def act_matrix(obs: Any, start: np.ndarray) -> np.ndarray:
            rows = cdf[np.asarray(obs, dtype=np.int64).reshape(-1)]
            u = rng.random(len(rows))[:, None] * rows[:, -1:]
            return np.minimum((rows <= u).sum(axis=1), rows.shape[1] - 1)

        return act_matrix, matrix
    if hasattr(policy, "predict"):
        state: list[Any] = [None]

        def act_agent(obs: Any, start: np.ndarray) -> np.ndarray:
            actions, state[0] = policy.predict(obs, state=state[0], episode_start=start,
                                               deterministic=deterministic)
            return np.asarray(actions)

        fn: Callable[[Any, np.ndarray], np.ndarray] = act_agent
    elif callable(policy):
        fn = lambda obs, start: np.asarray(policy(obs))  # noqa: E731
    else:
        raise RlkitError(f"policy must be 'uniform', 'optimal', an (S, A)/(S,) array, an agent with "
                         f"predict() or a callable, got {type(policy).__name__}")
    # The exact values need the policy as a matrix: an agent's greedy actions, or the probabilities
    # it exposes. A plain callable may be stochastic, so it gets none (turn it into a matrix with
    # rlkit.envs.bridge.policy_matrix, or pass exact= values).
    matrix = None
    if model is not None and hasattr(policy, "predict"):
        from rlkit.envs.bridge import policy_matrix

        try:
            matrix = policy_matrix(env, policy, deterministic=deterministic)
        except RlkitError:
            matrix = None
    return fn, matrix


# -- per-sample gradients (for traces) -----------------------------------------------------------


def _per_sample_grads(net: ValueNetwork, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Values (B,) and grad v(x_i) per sample: list over parameters of (B, *param.shape)."""
    params = {k: p.detach() for k, p in net.named_parameters()}
    names = list(params)
    try:
        from torch.func import functional_call, grad_and_value, vmap

        def v_one(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
            return functional_call(net, p, (xi.unsqueeze(0),)).sum()

        grads, values = vmap(grad_and_value(v_one), in_dims=(None, 0))(params, x)
        return values.detach(), [grads[k].detach() for k in names]
    except (RuntimeError, NotImplementedError):  # modules vmap cannot batch: one sample at a time
        plist = [p for _, p in net.named_parameters()]
        per: list[list[torch.Tensor]] = [[] for _ in plist]
        values_list = []
        for i in range(len(x)):
            v = net(x[i : i + 1]).sum()
            g = torch.autograd.grad(v, plist)
            values_list.append(v.detach())
            for j, gj in enumerate(g):
                per[j].append(gj)
        return torch.stack(values_list), [torch.stack(p) for p in per]


# -- the updates: each equation in one function ----------------------------------------------------


def td_target(rewards: np.ndarray, v_next: np.ndarray, terminated: np.ndarray, gamma: float) -> torch.Tensor:
    """The TD(0) target ``U_t = R_{t+1} + gamma * v(S_{t+1})``, with ``v(terminal) = 0`` (S&B eq. 9.7;
    after a truncation ``v_next`` is v of the final observation), as float32 (B,).

    >>> td_target(np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([False, True]), 0.5)
    tensor([2., 1.])
    """
    v_next = np.where(terminated, 0.0, v_next)
    return torch.as_tensor(rewards + gamma * v_next, dtype=torch.float32)


def semi_gradient_step(vnet: ValueNetwork, opt: torch.optim.Optimizer, x: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
    """One semi-gradient step towards fixed targets: ``w <- w + alpha * sum_i [U_i - v(x_i)] grad v(x_i)``,
    the gradient of ``0.5 * sum_i (U_i - v(x_i))^2`` with ``U`` held fixed (S&B eq. 9.7: TD(0)
    with ``U = R + gamma v(S')``, gradient Monte Carlo with ``U = G_t``). Returns the errors
    ``delta_i = U_i - v(x_i)`` before the step."""
    opt.zero_grad()
    v = vnet(x)
    delta = target - v.detach()
    (0.5 * ((target - v) ** 2).sum()).backward()
    opt.step()
    return delta


def trace_update(traces: list[torch.Tensor], grads: list[torch.Tensor], decay: float) -> list[torch.Tensor]:
    """The accumulating trace over the parameters, one per environment: ``z <- gamma * lambda * z +
    grad v(S_t)`` (S&B eq. 12.5), in place; ``decay = gamma * lambda``."""
    for z, g in zip(traces, grads, strict=True):
        z.mul_(decay).add_(g)
    return traces


def trace_step(params: list[torch.Tensor], traces: list[torch.Tensor], delta: torch.Tensor,
               opt: torch.optim.Optimizer) -> None:
    """``w <- w + alpha * sum_i delta_i z_i`` (S&B eq. 12.6, one term per environment): the gradient
    handed to the optimiser is ``-sum_i delta_i z_i``."""
    for p, z in zip(params, traces, strict=True):
        shape = (len(delta),) + (1,) * (z.dim() - 1)
        p.grad = -(delta.reshape(shape) * z).sum(dim=0)
    opt.step()


def mc_returns(rewards: np.ndarray, gamma: float, tail: float = 0.0) -> np.ndarray:
    """The Monte Carlo targets ``G_t = sum_k gamma^k R_{t+k+1} + gamma^(T-t) * tail`` of one
    episode (``tail``: v(final observation) after a truncation, else 0), by
    :func:`rlkit.returns.returns_to_go`.

    >>> mc_returns(np.array([1.0, 0.0, 2.0]), 0.5, tail=4.0)
    array([2., 2., 4.])
    """
    bootstrap = np.zeros(len(rewards))
    bootstrap[-1] = tail
    return returns_to_go(np.asarray(rewards, dtype=float), gamma, bootstrap=bootstrap)


# -- one step iterator over the vector env, and the episode bookkeeping ---------------------------


@dataclass
class EnvStep:
    """One step of the ``n_envs`` environments: ``next_obs`` is the true successor (the final
    observation where an episode ended), ``dones = terminated | truncated``."""

    obs: Any
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    dones: np.ndarray
    next_obs: Any


def env_steps(venv: Any, act: Callable[[Any, np.ndarray], np.ndarray], obs: Any) -> Iterator[EnvStep]:
    """Step ``venv`` (same-step autoreset) with ``act(obs, episode_start)`` from ``obs``, for ever."""
    episode_start = np.ones(venv.num_envs, dtype=bool)
    while True:
        actions = act(obs, episode_start)
        next_obs, rewards, terminated, truncated, info = venv.step(actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        # the true successor observation (SAME_STEP autoreset puts it in final_obs)
        succ = next_obs
        if dones.any() and "final_obs" in info:
            succ = _replace_rows(next_obs, info["final_obs"], info.get("_final_obs", dones))
        yield EnvStep(obs, actions, np.asarray(rewards, dtype=float), terminated, truncated, dones, succ)
        episode_start = dones
        obs = next_obs


class EpisodeLog:
    """Per-environment running length, return and summed squared error; the finished episodes in
    the order they finished, up to ``limit``."""

    def __init__(self, n_envs: int, limit: int) -> None:
        self.limit = limit
        self.sq_err = np.zeros(n_envs)
        self.length = np.zeros(n_envs, dtype=np.int64)
        self.ret = np.zeros(n_envs)
        self.losses: list[float] = []
        self.returns: list[float] = []
        self.lengths: list[int] = []

    @property
    def finished(self) -> int:
        return len(self.returns)

    def add(self, rewards: np.ndarray, sq_err: np.ndarray) -> None:
        self.length += 1
        self.ret += rewards
        self.sq_err += sq_err

    def close(self, dones: np.ndarray, on_episode: Callable[[], None] | None = None) -> None:
        """Record the episodes that ended (``dones``), then reset their counters."""
        for i in np.flatnonzero(dones):
            if self.finished >= self.limit:
                break
            self.losses.append(float(self.sq_err[i] / max(self.length[i], 1)))
            self.returns.append(float(self.ret[i]))
            self.lengths.append(int(self.length[i]))
            if on_episode is not None:
                on_episode()
        self.sq_err[dones] = 0.0
        self.length[dones] = 0
        self.ret[dones] = 0.0


# -- the three methods: learner(vnet, opt, gamma, lam, n_envs) -> update(step) -> squared errors (B,) --
# (registered in rlkit.tabular.registry, kind "neural")


def semi_gradient_td0_learner(vnet: ValueNetwork, opt: torch.optim.Optimizer, gamma: float, lam: float,
                              n_envs: int) -> Callable[[EnvStep], np.ndarray]:
    """Semi-gradient TD(0): ``w <- w + alpha * delta_t grad v(S_t)`` every step."""
    def update(step: EnvStep) -> np.ndarray:
        target = td_target(step.rewards, _values(vnet, step.next_obs), step.terminated, gamma)
        delta = semi_gradient_step(vnet, opt, vnet.encode(step.obs), target)
        return delta.numpy().astype(float) ** 2

    return update


def semi_gradient_td_lambda_learner(vnet: ValueNetwork, opt: torch.optim.Optimizer, gamma: float, lam: float,
                                    n_envs: int) -> Callable[[EnvStep], np.ndarray]:
    """Semi-gradient TD(lambda): ``z <- gamma lambda z + grad v(S_t)``, ``w <- w + alpha delta_t z``,
    one trace per environment, reset to 0 when its episode ends."""
    params = list(vnet.parameters())
    traces = [torch.zeros((n_envs, *p.shape)) for p in params]

    def update(step: EnvStep) -> np.ndarray:
        target = td_target(step.rewards, _values(vnet, step.next_obs), step.terminated, gamma)
        opt.zero_grad()
        v, grads = _per_sample_grads(vnet, vnet.encode(step.obs))
        delta = target - v
        trace_step(params, trace_update(traces, grads, gamma * lam), delta, opt)
        if step.dones.any():
            idx = torch.as_tensor(np.flatnonzero(step.dones))
            for z in traces:
                z[idx] = 0.0
        return delta.numpy().astype(float) ** 2

    return update


def gradient_mc_learner(vnet: ValueNetwork, opt: torch.optim.Optimizer, gamma: float, lam: float,
                        n_envs: int) -> Callable[[EnvStep], np.ndarray]:
    """Gradient Monte Carlo: store each environment's episode; when it ends, one semi-gradient step
    towards its returns ``G_t`` (all the episodes that ended at this step together)."""
    buffers: list[list[tuple[Any, float]]] = [[] for _ in range(n_envs)]  # (obs, reward)

    def update(step: EnvStep) -> np.ndarray:
        sq_err = np.zeros(n_envs)
        for i in range(n_envs):
            buffers[i].append((_row(step.obs, i), float(step.rewards[i])))
        finished = np.flatnonzero(step.dones)
        if finished.size:
            xs, gs, owners = [], [], []
            for i in finished:
                tail = 0.0
                if step.truncated[i] and not step.terminated[i]:
                    tail = float(vnet.predict(_row_batch(step.next_obs, i))[0])
                G = mc_returns(np.array([r for _, r in buffers[i]]), gamma, tail)
                xs.extend(o for o, _ in buffers[i])
                gs.append(G)
                owners.append(np.full(len(G), i))
                buffers[i] = []
            target = torch.as_tensor(np.concatenate(gs), dtype=torch.float32)
            err = semi_gradient_step(vnet, opt, vnet.encode(_stack_obs(xs)), target).numpy().astype(float)
            np.add.at(sq_err, np.concatenate(owners), err**2)
        return sq_err

    return update


def _values(vnet: ValueNetwork, obs: Any) -> np.ndarray:
    with torch.no_grad():
        return vnet(vnet.encode(obs)).numpy().astype(float)


# -- scoring ----------------------------------------------------------------------------------------


def rms_error(values: np.ndarray, exact: np.ndarray, mask: np.ndarray) -> float:
    """RMS of ``values - exact`` over the ``mask`` states (0 when the mask is empty)."""
    d = (values - exact)[mask]
    return float(np.sqrt(np.mean(d**2))) if d.size else 0.0


def _exact_and_mask(exact: bool | np.ndarray, model: Any, matrix: np.ndarray | None, gamma: float,
                    probe: gym.Env, obs_space: spaces.Space) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The exact values to score against and the states they are scored on (non-terminal and
    reachable from the start under the policy), cut to the env's observations."""
    exact_values: np.ndarray | None = None
    eval_mask: np.ndarray | None = None
    if isinstance(exact, np.ndarray):
        exact_values = np.asarray(exact, dtype=float)
    elif exact and model is not None and matrix is not None:
        from rlkit.envs.bridge import pad_policy
        from rlkit.mdp import evaluate

        m = model.with_gamma(gamma) if float(model.gamma) != gamma else model
        matrix = pad_policy(matrix, int(m.n_states))
        exact_values = np.asarray(evaluate(m, matrix, method="exact").values, dtype=float)
    if exact_values is not None and model is not None:
        eval_mask = ~np.asarray(model.terminal, dtype=bool)
        if matrix is not None:
            from rlkit.envs.bridge import start_distribution

            P_pi = model.mrp(matrix).P
            eval_mask &= reachable_states(P_pi, start_distribution(probe, model))
    elif exact_values is not None:
        eval_mask = np.ones(len(exact_values), dtype=bool)
    if exact_values is not None and isinstance(obs_space, spaces.Discrete):
        n_obs = int(obs_space.n)  # a model imported from Gymnasium may add an absorbing state
        if len(exact_values) < n_obs:
            raise RlkitError(f"exact values have {len(exact_values)} entries; the env has {n_obs} states")
        exact_values, eval_mask = exact_values[:n_obs], eval_mask[:n_obs]
    return exact_values, eval_mask


# -- the entry ----------------------------------------------------------------------------------------


def _check_arguments(method: str, episodes: Any, alpha: float, alpha_decay: float, lam: float,
                     optimizer: str, n_envs: Any) -> registry.Method:
    entry = registry.get("neural", method, what="method")
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes <= 0:
        raise RlkitError(f"episodes must be a positive int, got {episodes!r}", where="episodes")
    registry.check_positive_step(alpha)
    if not (np.isfinite(alpha_decay) and alpha_decay >= 0):
        raise RlkitError(f"alpha_decay must be >= 0, got {alpha_decay!r}", where="alpha_decay")
    if not 0.0 <= lam <= 1.0:
        raise RlkitError(f"lambda must be in [0, 1], got {lam!r}", where="lambda")
    if optimizer not in ("sgd", "adam"):
        raise RlkitError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}", where="optimizer")
    if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
        raise RlkitError(f"n_envs must be an int >= 1, got {n_envs!r}", where="n_envs")
    return entry


def neural_prediction(
    env: Any,
    policy: Any = "uniform",
    *,
    method: str = "td",
    episodes: int = 500,
    alpha: float = 0.01,
    alpha_decay: float = 0.0,
    gamma: float | None = None,
    lam: float = 0.0,
    net: dict[str, Any] | None = None,
    optimizer: str = "sgd",
    n_envs: int = 8,
    deterministic: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    exact: bool | np.ndarray = True,
    record_error: bool = True,
    seed: int | None = 0,
    torch_threads: int | None = 1,
) -> NeuralPredictionResult:
    """Estimate the value function of a policy from episodes with a value network.

    :param env: a Gymnasium id (``"CartPole-v1"``, ``"rlkit/MNISTBandit-v0"``), a catalog name or
        model file (``"random-walk"``, run as ``rlkit/TabularMDP-v0``), an :mod:`rlkit.mdp` model,
        a ``gymnasium.Env`` (then ``n_envs`` must be 1) or an env factory.
    :param policy: ``"uniform"`` (default), ``"optimal"`` (tabular model needed), an (S, A) or (S,)
        array, an agent with ``predict(obs, state, episode_start, deterministic)`` or a callable
        ``obs_batch -> actions``.
    :param method: ``"td"`` (semi-gradient TD(0)), ``"td-lambda"`` (traces over the parameters)
        or ``"mc"`` (gradient Monte Carlo).
    :param episodes: number of finished episodes to learn from (> 0).
    :param alpha: step size (> 0); with ``optimizer="adam"`` Adam's learning rate.
    :param alpha_decay: ``alpha_k = alpha / (1 + alpha_decay * k)``, ``k`` finished episodes.
    :param gamma: discount (default: the model's for tabular envs, else 0.99).
    :param lam: lambda of TD(lambda), in [0, 1].
    :param net: backbone config (see :class:`ValueNetwork`).
    :param optimizer: ``"sgd"`` (the textbook update) or ``"adam"`` (applied to the same
        semi-gradient direction).
    :param n_envs: environments collected in parallel (gymnasium.vector, same-step autoreset).
    :param deterministic: ask an agent policy for greedy actions.
    :param env_kwargs: constructor arguments for an env id, or catalog parameters for a name.
    :param max_episode_steps: time limit override.
    :param exact: compute the exact values (when a tabular model exists) to score against; or
        give them as an (S,) array.
    :param record_error: record the RMS error after every finished episode (tabular envs).
    :param seed: seeds the envs (``reset(seed=seed)``), the action sampling and torch.
    :param torch_threads: torch intra-op threads during the run (restored after). Value nets are
        small and updated one batch per env step, where one thread is many times faster than
        several (thread wake-ups dominate); ``None`` leaves torch's setting alone.
    :returns: a :class:`NeuralPredictionResult`.

    Example::

        >>> from rlkit.tabular.neural import neural_prediction
        >>> res = neural_prediction("CartPole-v1", method="td", episodes=20, alpha=1e-3, seed=0)
        >>> bool(np.isfinite(res.value(np.zeros((1, 4)))).all())
        True
    """
    t0 = time.perf_counter()
    entry = _check_arguments(method, episodes, alpha, alpha_decay, lam, optimizer, n_envs)
    method = entry.name
    factory, instance = _env_factory(env, env_kwargs, max_episode_steps)
    if instance is not None and n_envs != 1:
        n_envs = 1  # one instance cannot be copied; give an id or a factory to run several
    if seed is not None:  # an int (any: normalised) or None; a Generator is refused by name
        seed = normalize_seed(seed)
        seed_everything(seed)
    rng = as_generator(seed)

    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    venv = SyncVectorEnv([factory for _ in range(n_envs)], autoreset_mode=AutoresetMode.SAME_STEP)
    threads_before = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    try:
        probe = venv.envs[0]
        obs_space = venv.single_observation_space
        model = None
        from rlkit.envs.bridge import tabular_model

        if isinstance(obs_space, spaces.Discrete):
            try:
                model = tabular_model(probe)
            except RlkitError:
                model = None
        if gamma is None:
            gamma = float(model.gamma) if model is not None else 0.99
        if not 0.0 <= gamma <= 1.0:
            raise RlkitError(f"gamma must be in [0, 1], got {gamma!r}", where="gamma")
        act, matrix = _policy_fn(policy, probe, model, deterministic, rng)
        exact_values, eval_mask = _exact_and_mask(exact, model, matrix, gamma, probe, obs_space)

        vnet = ValueNetwork(obs_space, net)
        params = list(vnet.parameters())
        opt: torch.optim.Optimizer = (torch.optim.SGD(params, lr=alpha) if optimizer == "sgd"
                                      else torch.optim.Adam(params, lr=alpha))
        update = entry.run(vnet, opt, gamma, lam, n_envs)
        all_states = (np.arange(obs_space.n) + int(obs_space.start)
                      if isinstance(obs_space, spaces.Discrete) else None)
        scored = exact_values is not None and all_states is not None
        errors: list[float] = []

        def record_rms() -> None:
            errors.append(rms_error(vnet.predict(all_states), exact_values, eval_mask))

        log = EpisodeLog(n_envs, episodes)
        steps = 0
        obs, _ = venv.reset(seed=seed)
        for step in env_steps(venv, act, obs):
            lr = alpha / (1.0 + alpha_decay * log.finished)
            for g in opt.param_groups:
                g["lr"] = lr
            steps += n_envs
            log.add(step.rewards, update(step))
            log.close(step.dones, record_rms if record_error and scored else None)
            if not np.all(np.isfinite([p.detach().abs().max().item() for p in params])):
                raise RlkitError(
                    f"{method}: the value network diverged (non-finite weights) after {log.finished} "
                    f"episodes; lower alpha (now {alpha}) or use optimizer='adam'")
            if log.finished >= episodes:
                break

        values = vnet.predict(all_states) if all_states is not None else None
        rmse = rms_error(values, exact_values, eval_mask) if scored else None
        return NeuralPredictionResult(
            method=method,
            net=vnet,
            values=values,
            exact=exact_values,
            rmse=rmse,
            loss_curve=np.asarray(log.losses),
            error_curve=np.asarray(errors) if errors else None,
            episode_returns=np.asarray(log.returns),
            episode_lengths=np.asarray(log.lengths, dtype=np.int64),
            episodes=log.finished,
            steps=steps,
            gamma=float(gamma),
            lam=float(lam) if method == "td-lambda" else None,
            alpha=float(alpha),
            n_envs=n_envs,
            seed=seed,
            seconds=time.perf_counter() - t0,
            eval_mask=eval_mask,
            config={"alpha_decay": alpha_decay, "optimizer": optimizer, "net": vnet.cfg,
                    "deterministic": deterministic},
        )
    finally:
        torch.set_num_threads(threads_before)
        if instance is None:
            venv.close()


def _row(batch: Any, i: int) -> Any:
    return np.asarray(batch)[i].copy()


def _row_batch(batch: Any, i: int) -> np.ndarray:
    return np.asarray(batch)[i : i + 1]


def _stack_obs(obs: list[Any]) -> np.ndarray:
    return np.stack([np.asarray(o) for o in obs])


def _replace_rows(batch: Any, final_obs: Any, mask: Any) -> np.ndarray:
    out = np.array(batch, copy=True)
    mask = np.asarray(mask, dtype=bool)
    for i in np.flatnonzero(mask):
        out[i] = np.asarray(final_obs[i])
    return out


# -- the three named entries ---------------------------------------------------------------------


def semi_gradient_td(env: Any, policy: Any = "uniform", **kwargs: Any) -> NeuralPredictionResult:
    """Semi-gradient TD(0) (S&B section 9.3); see :func:`neural_prediction` for the arguments."""
    return neural_prediction(env, policy, method="td", **kwargs)


def semi_gradient_td_lambda(env: Any, policy: Any = "uniform", *, lam: float = 0.9,
                            **kwargs: Any) -> NeuralPredictionResult:
    """Semi-gradient TD(lambda) with accumulating traces over the network's parameters (S&B
    section 12.2); see :func:`neural_prediction` for the arguments."""
    return neural_prediction(env, policy, method="td-lambda", lam=lam, **kwargs)


def gradient_mc(env: Any, policy: Any = "uniform", **kwargs: Any) -> NeuralPredictionResult:
    """Gradient Monte Carlo (S&B section 9.3); see :func:`neural_prediction` for the arguments."""
    return neural_prediction(env, policy, method="mc", **kwargs)


__all__ = [
    "DEFAULT_CNN",
    "DEFAULT_MLP",
    "METHODS",
    "NeuralPredictionResult",
    "ValueNetwork",
    "gradient_mc",
    "neural_prediction",
    "semi_gradient_td",
    "semi_gradient_td_lambda",
]
