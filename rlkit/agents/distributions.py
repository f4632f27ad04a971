"""Action distributions of the policies: one per Gymnasium action space.

Every distribution is built from the raw output of the policy's action head and offers

* ``sample(generator)`` -- a *raw* action (what the rollout stores and the gradient uses),
* ``mode()`` -- the deterministic action (argmax / mean),
* ``log_prob(raw)`` -- ``log pi(raw | s)`` summed over action components, shape ``(B,)``,
* ``entropy()`` -- shape ``(B,)``,
* ``to_env(raw)`` -- the action sent to the environment (a numpy array of the space's dtype).

Spaces and what the raw action is:

=================  ======================================  ==========================================
space              distribution                            raw action -> env action
=================  ======================================  ==========================================
Discrete(n, s)     categorical over n logits               index i -> i + s
MultiDiscrete      one categorical per component            indices -> indices + start
MultiBinary(n)     n independent Bernoullis (logits)        bits -> bits (int8)
Box, clip          diagonal Gaussian N(mu, sigma^2)         u -> clip(u, low, high)
Box, tanh          diagonal Gaussian squashed by tanh       u -> low + (tanh(u) + 1) (high - low) / 2
=================  ======================================  ==========================================

Bounds of a Box (``bounds`` in the policy config):

* ``"clip"`` (default, as Stable-Baselines3 does): the sample ``u`` is stored and its log-density
  is the plain Gaussian one; only the copy sent to the environment is clipped into ``[low, high]``.
  This keeps the score function ``grad log N(u; mu, sigma)`` exact for the sample that was drawn;
  the environment sees ``clip(u)``, a deterministic function of ``u``, so the gradient estimator
  stays unbiased for the clipped problem.
* ``"tanh"``: ``a = low + (tanh(u) + 1) (high - low) / 2`` and
  ``log pi(a) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2) - sum_i log((high_i - low_i) / 2)``
  (change of variables). The rollout stores ``u``, so no ``atanh`` of a saturated action is ever
  needed. The entropy reported (and used by the entropy bonus) is the Gaussian entropy of ``u``,
  which has a closed form; the squashed distribution's entropy has none.
* Unbounded Boxes get the plain Gaussian. ``"tanh"`` needs finite bounds.

Standard deviation (``std`` in the policy config): ``"independent"`` -- a learned parameter vector
``log sigma`` that does not depend on the state (the REINFORCE/PPO default); ``"state"`` -- the head
also outputs ``log sigma(s)`` (clamped to [-20, 2]); ``"fixed"`` -- ``log sigma = log_std_init``,
not learned.

Sampling uses an explicit :class:`torch.Generator`, so the agent's action noise has its own
stream that checkpoints save and restore.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces

from rlkit.errors import RlkitError

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

__all__ = [
    "Categorical",
    "DiagGaussian",
    "MultiBernoulli",
    "MultiCategorical",
    "action_spec",
    "make_distribution",
]


def _categorical_sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # Gumbel-max: argmax(logits + Gumbel noise) is a sample of softmax(logits); cheaper than
    # torch.multinomial for the tiny batches of a vector env.
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    u = u.clamp_(min=torch.finfo(logits.dtype).tiny)
    return (logits - torch.log(-torch.log(u))).argmax(-1)


class Categorical:
    """Categorical over the last axis of ``logits`` (B, n); actions are indices (B,).

    The logits need not be normalised: sampling (Gumbel-max) and the mode use them as they are;
    log-probabilities normalise them (once, on first use).
    """

    def __init__(self, logits: torch.Tensor, start: int = 0) -> None:
        self.raw_logits = logits
        self.start = int(start)
        self._logp: torch.Tensor | None = None

    @property
    def logits(self) -> torch.Tensor:
        """Normalised log-probabilities."""
        if self._logp is None:
            self._logp = self.raw_logits - self.raw_logits.logsumexp(-1, keepdim=True)
        return self._logp

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return _categorical_sample(self.raw_logits, generator)

    def mode(self) -> torch.Tensor:
        return self.raw_logits.argmax(-1)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, raw.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        logp = self.logits
        return -(logp.exp() * logp).sum(-1)

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        out = raw.numpy() if raw.device.type == "cpu" else raw.cpu().numpy()
        return out + self.start if self.start else out


class MultiCategorical:
    """Independent categoricals, one per component of a MultiDiscrete space; raw actions (B, k)."""

    def __init__(self, logits: torch.Tensor, nvec: list[int], start: np.ndarray | None = None) -> None:
        self.parts = [Categorical(chunk) for chunk in torch.split(logits, list(nvec), dim=-1)]
        self.start = None if start is None or not np.any(start) else np.asarray(start, dtype=np.int64)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.stack([p.sample(generator) for p in self.parts], -1)

    def mode(self) -> torch.Tensor:
        return torch.stack([p.mode() for p in self.parts], -1)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return sum(p.log_prob(raw[..., i]) for i, p in enumerate(self.parts))

    def entropy(self) -> torch.Tensor:
        return sum(p.entropy() for p in self.parts)

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        out = raw.cpu().numpy().astype(np.int64)
        return out + self.start if self.start is not None else out


class MultiBernoulli:
    """Independent Bernoullis with ``logits`` (B, n); raw actions are 0/1 floats (B, n)."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(self.logits.shape, generator=generator, dtype=self.logits.dtype)
        return (u < torch.sigmoid(self.logits)).to(self.logits.dtype)

    def mode(self) -> torch.Tensor:
        return (self.logits > 0).to(self.logits.dtype)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        # log sigma(l) for 1, log(1 - sigma(l)) = log sigma(-l) for 0
        return -torch.nn.functional.binary_cross_entropy_with_logits(
            self.logits, raw.to(self.logits.dtype), reduction="none"
        ).sum(-1)

    def entropy(self) -> torch.Tensor:
        p = torch.sigmoid(self.logits)
        return torch.nn.functional.binary_cross_entropy_with_logits(self.logits, p, reduction="none").sum(-1)

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        return raw.cpu().numpy().astype(np.int8)


class DiagGaussian:
    """Diagonal Gaussian over ``u`` (B, d) with bound handling ``"clip"``, ``"tanh"`` or ``"none"``.

    :param mean: (B, d) means.
    :param log_std: (B, d) or (d,) log standard deviations.
    :param low: lower bounds (d,) (used by ``clip`` / ``tanh``).
    :param high: upper bounds (d,).
    :param bounds: ``"clip"``, ``"tanh"`` or ``"none"``.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        log_std: torch.Tensor,
        low: np.ndarray,
        high: np.ndarray,
        bounds: str = "clip",
        dtype: np.dtype = np.float32,
    ) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.bounds = bounds
        self.low, self.high, self.dtype = low, high, dtype
        if bounds == "tanh":
            self._scale = torch.as_tensor((high - low) / 2.0, dtype=mean.dtype)
            self._shift = torch.as_tensor((high + low) / 2.0, dtype=mean.dtype)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)
        return self.mean + noise * self.log_std.exp()

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        z = (raw - self.mean) * torch.exp(-self.log_std)
        logp = (-0.5 * z * z - self.log_std - _HALF_LOG_2PI).sum(-1)
        if self.bounds == "tanh":
            # log |d a / d u| = sum log(scale * (1 - tanh(u)^2)); 1 - tanh^2 = 4 / (e^u + e^-u)^2,
            # computed stably as 2 (log 2 - u - softplus(-2u)).
            log_det = (2.0 * (math.log(2.0) - raw - torch.nn.functional.softplus(-2.0 * raw))).sum(-1)
            logp = logp - log_det - torch.log(self._scale).sum()
        return logp

    def entropy(self) -> torch.Tensor:
        return (self.log_std + 0.5 + _HALF_LOG_2PI).sum(-1)

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        if self.bounds == "tanh":
            raw = torch.tanh(raw) * self._scale + self._shift
            out = raw.cpu().numpy()
            return np.clip(out, self.low, self.high).astype(self.dtype, copy=False)  # round-off at +-1
        out = raw.cpu().numpy()
        if self.bounds == "clip":
            out = np.clip(out, self.low, self.high)
        return out.astype(self.dtype, copy=False)


def action_spec(space: spaces.Space, bounds: str = "clip", std: str = "independent") -> dict:
    """How many outputs the action head needs and the raw action's shape and dtype for ``space``.

    :param space: the environment's (single) action space.
    :param bounds: bound handling for Box spaces: ``"clip"`` or ``"tanh"``.
    :param std: ``"independent"``, ``"state"`` or ``"fixed"`` (Box only).
    :returns: dict with ``kind``, ``head_dim``, ``raw_shape``, ``raw_dtype`` (numpy) and details.
    :raises RlkitError: for spaces no distribution here fits (Dict, Tuple, Text ...).
    """
    if isinstance(space, spaces.Discrete):
        return {
            "kind": "discrete",
            "head_dim": int(space.n),
            "raw_shape": (),
            "raw_dtype": np.int64,
            "start": int(space.start),
        }
    if isinstance(space, spaces.MultiDiscrete):
        if space.nvec.ndim != 1:
            raise RlkitError(
                f"MultiDiscrete action spaces must be 1-D, got nvec shape {space.nvec.shape}",
                where="action_space",
            )
        nvec = [int(n) for n in space.nvec]
        return {
            "kind": "multidiscrete",
            "head_dim": sum(nvec),
            "raw_shape": (len(nvec),),
            "raw_dtype": np.int64,
            "nvec": nvec,
            "start": np.asarray(space.start, dtype=np.int64),
        }
    if isinstance(space, spaces.MultiBinary):
        n = int(np.prod(space.shape))
        if len(space.shape) != 1:
            raise RlkitError(
                f"MultiBinary action spaces must be 1-D, got shape {space.shape}", where="action_space"
            )
        return {"kind": "multibinary", "head_dim": n, "raw_shape": (n,), "raw_dtype": np.float32}
    if isinstance(space, spaces.Box):
        if len(space.shape) != 1:
            raise RlkitError(
                f"Box action spaces must be 1-D, got shape {space.shape}; flatten the "
                "actions with gymnasium.wrappers",
                where="action_space",
            )
        if bounds not in ("clip", "tanh"):
            raise RlkitError(f"bounds must be clip or tanh, got {bounds!r}", where="policy.bounds")
        if std not in ("independent", "state", "fixed"):
            raise RlkitError(f"std must be independent, state or fixed, got {std!r}", where="policy.std")
        d = int(space.shape[0])
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        finite = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        if bounds == "tanh" and not finite:
            raise RlkitError(
                "bounds: tanh needs a Box with finite low and high; use bounds: clip", where="policy.bounds"
            )
        return {
            "kind": "box",
            "head_dim": 2 * d if std == "state" else d,
            "raw_shape": (d,),
            "raw_dtype": np.float32,
            "low": low,
            "high": high,
            "bounds": bounds if finite or bounds == "tanh" else "none",
            "std": std,
            "dtype": space.dtype,
        }
    raise RlkitError(
        f"no action distribution for {type(space).__name__} action spaces; use Discrete, "
        "MultiDiscrete, MultiBinary or a 1-D Box",
        where="action_space",
    )


def make_distribution(spec: dict, head_out: torch.Tensor, log_std: torch.Tensor | None = None):
    """The distribution for one batch of action-head outputs.

    :param spec: from :func:`action_spec`.
    :param head_out: (B, head_dim) outputs of the action head.
    :param log_std: the state-independent log standard deviations (Box with std independent/fixed).
    """
    kind = spec["kind"]
    if kind == "discrete":
        return Categorical(head_out, spec["start"])
    if kind == "multidiscrete":
        return MultiCategorical(head_out, spec["nvec"], spec["start"])
    if kind == "multibinary":
        return MultiBernoulli(head_out)
    if spec["std"] == "state":
        mean, log_std = head_out.chunk(2, -1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
    else:
        mean = head_out
    return DiagGaussian(mean, log_std, spec["low"], spec["high"], spec["bounds"], spec["dtype"])
