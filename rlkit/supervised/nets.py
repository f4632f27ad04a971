"""Backbones shared by the supervised, tabular-neural and RL paths: MLP, CNN and RNN.

A backbone maps one batch of observations to a batch of feature vectors of size ``output_dim``;
heads (a classifier, a policy, a value) go on top. All backbones are built from a small config
and one observation's shape by :func:`build_backbone`::

    >>> import torch
    >>> from rlkit.supervised import build_backbone, count_parameters
    >>> net = build_backbone({"type": "cnn", "preset": "lenet"}, (28, 28))
    >>> net(torch.zeros(5, 28, 28, dtype=torch.uint8)).shape == (5, net.output_dim)
    True
    >>> rnn = build_backbone({"type": "rnn", "cell": "gru", "hidden": 32}, (4,))
    >>> feats, h = rnn(torch.zeros(3, 10, 4))          # (B, T, *obs) -> (B, T, 32)
    >>> feats.shape, h.shape
    (torch.Size([3, 10, 32]), torch.Size([1, 3, 32]))

Conventions (see docs/design.md):

* ``input_shape`` is one observation's shape as the environment gives it: ``(D,)``, ``(H, W)``,
  ``(C, H, W)`` or ``(H, W, C)``. Image layout is guessed (``(H, W, C)`` when the last axis has
  1, 3 or 4 entries and the first has more than 4) and can be forced with ``cfg["layout"]``.
* Inputs of any numeric dtype are cast to float32; ``uint8`` inputs are divided by 255 first.
  ``cfg["normalize"] = [mean, std]`` then applies ``(x - mean) / std`` inside the module, so a net
  trained on normalised MNIST reads raw ``uint8`` observations unchanged in an environment.
* Non-recurrent modules: ``forward(x)`` with ``x`` ``(B, *input_shape)`` gives ``(B, output_dim)``.
* Recurrent modules (:class:`RNN` over time): ``forward(x, hidden=None) -> (features, hidden)``;
  ``hidden`` is ONE tensor ``(k * layers, B, hidden)`` with ``k = 1`` for a GRU and ``k = 2`` for an
  LSTM (h stacked over c), so agents reset it at episode starts with :meth:`RNN.mask_state`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rlkit.errors import RlkitError

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "RNN",
    "CNN_PRESETS",
    "Classifier",
    "build_backbone",
    "build_classifier",
    "count_parameters",
    "init_weights",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
}

# Orthogonal-init gains per activation (torch.nn.init.calculate_gain; GELU/ELU/SiLU as ReLU).
_GAINS = {"relu": math.sqrt(2), "gelu": math.sqrt(2), "elu": math.sqrt(2), "silu": math.sqrt(2),
          "leaky_relu": math.sqrt(2), "tanh": 5.0 / 3.0, "sigmoid": 1.0}

# Conv blocks: channels, kernel, stride, padding, pool (max-pool size after the activation),
# batch_norm. "lenet" is the default for small images (MNIST 28x28): LeNet-5's layout (two 5x5
# conv + max-pool blocks, then a fully connected layer) with 16/32 channels, batch norm and 128
# units: ~3 M multiply-adds per image (a quarter of PyTorch's examples/mnist net), >= 99.2 % on
# MNIST in 4 epochs. "nature" is the Atari DQN network of Mnih et al. (2015) for 84x84x4 frames.
CNN_PRESETS: dict[str, dict[str, Any]] = {
    "lenet": {
        "blocks": [
            {"channels": 16, "kernel": 5, "padding": 2, "pool": 2, "batch_norm": True},
            {"channels": 32, "kernel": 5, "padding": 2, "pool": 2, "batch_norm": True},
        ],
        "hidden": [128],
        "dropout": 0.0,
    },
    "nature": {
        "blocks": [
            {"channels": 32, "kernel": 8, "stride": 4},
            {"channels": 64, "kernel": 4, "stride": 2},
            {"channels": 64, "kernel": 3, "stride": 1},
        ],
        "hidden": [512],
        "dropout": 0.0,
    },
}


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def count_parameters(module: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``module``.

    :param module: any torch module.
    :param trainable_only: count only parameters with ``requires_grad``.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def init_weights(module: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    """Orthogonal initialisation (the RL practice of CleanRL / SB3) with zero biases.

    Linear and convolution weights get ``orthogonal_(w, gain)``; GRU/LSTM input and recurrent
    weights get ``orthogonal_(w, 1)`` per gate block; biases are zero except an LSTM's forget gate
    (1). Normalisation layers keep their (1, 0) defaults. Returns ``module`` (changed in place).

    :param module: the module whose sub-modules are initialised.
    :param gain: the gain of Linear/Conv layers (``sqrt(2)`` for ReLU, 5/3 for tanh, 1 for a
        sigmoid or a value head, 0.01 for a policy head).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.orthogonal_(layer.weight, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.GRU, nn.LSTM)):
            gates = 3 if isinstance(layer, nn.GRU) else 4
            for name, param in layer.named_parameters():
                if name.startswith("weight"):
                    for block in param.data.chunk(gates, 0):
                        nn.init.orthogonal_(block, 1.0)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                    if isinstance(layer, nn.LSTM) and name.startswith("bias_hh"):
                        param.data[layer.hidden_size: 2 * layer.hidden_size] = 1.0
    return module


def _activation(name: str, where: str) -> nn.Module:
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise RlkitError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}",
                         where=where) from None


def _positive_ints(values: Any, field: str, *, allow_empty: bool = True) -> list[int]:
    if isinstance(values, (int,)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)) or (not values and not allow_empty):
        raise RlkitError(f"{field} must be a list of positive integers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise RlkitError(f"{field} must be a list of positive integers, got {values!r}")
        out.append(int(v))
    return out


def _as_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError:
        shape = (int(input_shape),)
    if not shape or any(s <= 0 for s in shape):
        raise RlkitError(f"input_shape must be a non-empty tuple of positive sizes, got {input_shape!r}")
    return shape


def image_layout(input_shape: tuple[int, ...], layout: str = "auto") -> str:
    """Layout of an image observation: ``"hw"``, ``"chw"`` or ``"hwc"``.

    :param input_shape: one observation's shape, 2 or 3 axes.
    :param layout: ``"auto"`` (guess: ``hwc`` when the last axis is 1, 3 or 4 and the first is
        larger than 4) or a forced ``"chw"`` / ``"hwc"``.
    """
    if len(input_shape) == 2:
        return "hw"
    if len(input_shape) != 3:
        raise RlkitError(f"an image observation has shape (H, W), (C, H, W) or (H, W, C), got {input_shape}")
    if layout in ("chw", "hwc"):
        return layout
    if layout != "auto":
        raise RlkitError(f"layout must be auto, chw or hwc, got {layout!r}", where="cfg.layout")
    return "hwc" if input_shape[-1] in (1, 3, 4) and input_shape[0] > 4 else "chw"


class _Input(nn.Module):
    """Cast to float32 (uint8 / 255), optional ``(x - mean) / std``, optional HWC -> CHW."""

    def __init__(self, normalize: Sequence[float] | None = None, to_chw: bool = False) -> None:
        super().__init__()
        self.to_chw = to_chw
        if normalize is not None:
            # a config file can hold anything here: true, a string ("15" would read as [1, 5]),
            # a mapping (read as its keys), one number, three
            mean = std = float("nan")
            if not isinstance(normalize, (str, bytes, dict)):
                with contextlib.suppress(TypeError, ValueError):
                    mean, std = (float(v) for v in normalize)
            if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
                raise RlkitError(f"normalize must be [mean, std] with std > 0, got {normalize!r}",
                                 where="cfg.normalize")
            self.register_buffer("mean", torch.tensor(mean), persistent=False)
            self.register_buffer("std", torch.tensor(std), persistent=False)
        self.normalize = normalize is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        elif x.dtype != torch.float32:
            x = x.float()
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.to_chw:
            x = x.movedim(-1, -3)
        return x


# ------------------------------------------------------------------------------------------------
# MLP
# ------------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Fully connected backbone: flatten, then ``Linear -> [LayerNorm] -> act -> [Dropout]`` per
    hidden size. ``output_dim`` is the last hidden size (the flat input size if there is none).

    :param input_shape: one observation's shape (flattened).
    :param hidden: hidden layer sizes, e.g. ``[64, 64]``.
    :param activation: relu, tanh, sigmoid, gelu, elu, leaky_relu or silu.
    :param layer_norm: LayerNorm before each activation.
    :param dropout: dropout probability after each activation (0 = none).
    :param normalize: optional ``(mean, std)`` applied to the float input.
    """

    is_recurrent = False

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (64, 64), activation: str = "tanh",
                 *, layer_norm: bool = False, dropout: float = 0.0,
                 normalize: Sequence[float] | None = None) -> None:
        super().__init__()
        self.input_shape = _as_shape(input_shape)
        hidden = _positive_ints(list(hidden), "cfg.hidden")
        if not 0.0 <= float(dropout) < 1.0:
            raise RlkitError(f"dropout must be in [0, 1), got {dropout!r}", where="cfg.dropout")
        self.input = _Input(normalize)
        layers: list[nn.Module] = [nn.Flatten(start_dim=1)]
        width = math.prod(self.input_shape)
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if layer_norm:
                layers.append(nn.LayerNorm(size))
            layers.append(_activation(activation, "cfg.activation"))
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = size
        self.body = nn.Sequential(*layers)
        self.output_dim = int(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.input(x))


# ------------------------------------------------------------------------------------------------
# CNN
# ------------------------------------------------------------------------------------------------


class CNN(nn.Module):
    """Convolutional backbone: conv blocks, flatten, then fully connected ``hidden`` layers.

    Each block is ``Conv2d -> [BatchNorm2d] -> act -> [MaxPool2d(pool)]``, given as a dict with
    ``channels``, ``kernel`` (default 3), ``stride`` (1), ``padding`` (0), ``pool`` (none) and
    ``batch_norm`` (false). ``output_dim`` is the last hidden size (the flattened conv output if
    ``hidden`` is empty).

    :param input_shape: ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)``.
    :param blocks: the conv blocks (see :data:`CNN_PRESETS`).
    :param hidden: fully connected sizes after the convolutions.
    :param activation: activation name.
    :param dropout: dropout before each fully connected layer (0 = none).
    :param layout: ``"auto"``, ``"chw"`` or ``"hwc"`` for 3-axis inputs.
    :param normalize: optional ``(mean, std)`` applied to the float input.
    """

    is_recurrent = False

    def __init__(self, input_shape: Sequence[int], blocks: Sequence[dict[str, Any]] | None = None,
                 hidden: Sequence[int] = (128,), activation: str = "relu", *, dropout: float = 0.0,
                 layout: str = "auto", normalize: Sequence[float] | None = None) -> None:
        super().__init__()
        self.input_shape = _as_shape(input_shape)
        if len(self.input_shape) not in (2, 3):
            raise RlkitError(f"a CNN needs image observations (H, W), (C, H, W) or (H, W, C); "
                             f"got shape {self.input_shape}; use an MLP for flat vectors",
                             where="cfg.type")
        self.layout = image_layout(self.input_shape, layout)
        if self.layout == "hw":
            c, h, w = 1, *self.input_shape
        elif self.layout == "chw":
            c, h, w = self.input_shape
        else:
            h, w, c = self.input_shape
        self._add_channel = self.layout == "hw"
        self.input = _Input(normalize, to_chw=self.layout == "hwc")
        if blocks is None:
            blocks = CNN_PRESETS["lenet"]["blocks"]
        if not isinstance(blocks, (list, tuple)) or not blocks:
            raise RlkitError("blocks must be a non-empty list of conv block dicts", where="cfg.blocks")
        if not 0.0 <= float(dropout) < 1.0:
            raise RlkitError(f"dropout must be in [0, 1), got {dropout!r}", where="cfg.dropout")
        layers: list[nn.Module] = []
        for i, block in enumerate(blocks):
            where = f"cfg.blocks[{i}]"
            if not isinstance(block, dict) or "channels" not in block:
                raise RlkitError("each block is a dict with at least 'channels'", where=where)
            unknown = set(block) - {"channels", "kernel", "stride", "padding", "pool", "batch_norm",
                                    "activation"}
            if unknown:
                raise RlkitError(f"unknown keys {sorted(unknown)}", where=where)
            out_c, k, s, p = (block["channels"], block.get("kernel", 3), block.get("stride", 1),
                              block.get("padding", 0))
            _positive_ints([out_c, k, s], where)
            if not isinstance(p, int) or p < 0:
                raise RlkitError(f"padding must be a non-negative int, got {p!r}", where=where)
            bn = bool(block.get("batch_norm", False))
            layers.append(nn.Conv2d(c, out_c, k, s, p, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(out_c))
            layers.append(_activation(block.get("activation", activation), where + ".activation"))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            pool = block.get("pool")
            if pool:
                _positive_ints([pool], where + ".pool")
                layers.append(nn.MaxPool2d(int(pool)))
                h, w = h // pool, w // pool
            if h <= 0 or w <= 0:
                raise RlkitError(f"the image ({self.input_shape}) is too small for these conv blocks: "
                                 f"block {i} leaves {h}x{w}", where=where)
            c = out_c
        self.conv = nn.Sequential(*layers)
        self.conv_shape = (c, h, w)
        fc: list[nn.Module] = [nn.Flatten(start_dim=1)]
        width = c * h * w
        for size in _positive_ints(list(hidden), "cfg.hidden"):
            if dropout > 0:
                fc.append(nn.Dropout(float(dropout)))
            fc += [nn.Linear(width, size), _activation(activation, "cfg.activation")]
            width = size
        self.fc = nn.Sequential(*fc)
        self.output_dim = int(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input(x)
        if self._add_channel:
            x = x.unsqueeze(-3)
        return self.fc(self.conv(x))


# ------------------------------------------------------------------------------------------------
# RNN
# ------------------------------------------------------------------------------------------------


class RNN(nn.Module):
    """GRU or LSTM backbone, in one of two modes.

    * ``sequence="time"`` (default, recurrent): each observation (flattened) is one time step.
      ``forward(x, hidden=None) -> (features, hidden)``; ``x (B, T, *input_shape)`` gives features
      ``(B, T, hidden)``, ``x (B, *input_shape)`` is one step and gives ``(B, hidden)``.
      ``is_recurrent`` is True.
    * ``sequence="rows"`` (not recurrent across observations): one image observation is read row
      by row (``H`` steps of ``W * C`` inputs) and the last top-layer state is the feature vector;
      ``forward(x)`` with ``x (B, *input_shape)`` gives ``(B, hidden)``. This is the classic
      row-by-row MNIST GRU.

    :param input_shape: one observation's shape.
    :param cell: ``"gru"`` or ``"lstm"``.
    :param hidden: hidden size (= ``output_dim``).
    :param layers: number of stacked layers.
    :param sequence: ``"time"`` or ``"rows"``.
    :param layout: image layout for ``rows`` with 3-axis inputs.
    :param normalize: optional ``(mean, std)`` applied to the float input.
    """

    def __init__(self, input_shape: Sequence[int], cell: str = "gru", hidden: int = 128, *, layers: int = 1,
                 sequence: str = "time", layout: str = "auto",
                 normalize: Sequence[float] | None = None) -> None:
        super().__init__()
        self.input_shape = _as_shape(input_shape)
        cell = str(cell).lower()
        if cell not in ("gru", "lstm"):
            raise RlkitError(f"cell must be gru or lstm, got {cell!r}", where="cfg.cell")
        if sequence not in ("time", "rows"):
            raise RlkitError(f"sequence must be time or rows, got {sequence!r}", where="cfg.sequence")
        (hidden,) = _positive_ints([hidden], "cfg.hidden")
        (layers,) = _positive_ints([layers], "cfg.layers")
        self.cell, self.sequence, self.hidden_size, self.num_layers = cell, sequence, hidden, layers
        self.is_recurrent = sequence == "time"
        to_chw = False
        if sequence == "rows":
            if len(self.input_shape) not in (2, 3):
                raise RlkitError(f"sequence=rows reads an image (H, W[, C]) row by row; got shape "
                                 f"{self.input_shape}", where="cfg.sequence")
            self.layout = image_layout(self.input_shape, layout)
            # rows of an HWC image are (W, C) -> W*C features; CHW is moved to HWC first.
            self._chw_to_hwc = self.layout == "chw"
            steps = self.input_shape[0] if self.layout != "chw" else self.input_shape[1]
            n_in = math.prod(self.input_shape) // steps
        else:
            self._chw_to_hwc = False
            n_in = math.prod(self.input_shape)
        self.input = _Input(normalize, to_chw=to_chw)
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(n_in, hidden, num_layers=layers, batch_first=True)
        self.output_dim = int(hidden)
        self._state_rows = layers * (1 if cell == "gru" else 2)

    # -- hidden state: one tensor (k * layers, B, hidden) ----------------------------------------
    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zeros of shape ``(k * layers, batch_size, hidden)`` (k = 2 for an LSTM: h over c)."""
        return torch.zeros(self._state_rows, batch_size, self.hidden_size, device=device)

    @staticmethod
    def mask_state(hidden: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        """Zero the state of the batch entries where ``episode_start`` (shape ``(B,)``) is true."""
        keep = 1.0 - episode_start.to(hidden.dtype).reshape(1, -1, 1)
        return hidden * keep

    def _pack(self, state: Any) -> torch.Tensor:
        return torch.cat(state, 0) if self.cell == "lstm" else state

    def _unpack(self, hidden: torch.Tensor) -> Any:
        if self.cell == "lstm":
            h, c = hidden.chunk(2, 0)
            return h.contiguous(), c.contiguous()
        return hidden.contiguous()

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None = None):
        x = self.input(x)
        if self.sequence == "rows":
            if self._chw_to_hwc:
                x = x.movedim(-3, -1)
            seq = x.reshape(x.shape[0], x.shape[1], -1)
            state = None if hidden is None else self._unpack(hidden)
            out, _ = self.rnn(seq, state)
            return out[:, -1]
        n_obs = len(self.input_shape)
        single = x.dim() == n_obs + 1
        if not single and x.dim() != n_obs + 2:
            raise RlkitError(f"expected input (B, {self.input_shape}) or (B, T, {self.input_shape}), "
                             f"got {tuple(x.shape)}")
        seq = x.reshape(x.shape[0], 1 if single else x.shape[1], -1)
        if hidden is None:
            hidden = self.initial_state(x.shape[0], device=x.device)
        out, state = self.rnn(seq, self._unpack(hidden))
        return (out[:, 0] if single else out), self._pack(state)


# ------------------------------------------------------------------------------------------------
# builder and classifier head
# ------------------------------------------------------------------------------------------------

_KEYS = {
    "mlp": {"type", "hidden", "activation", "layer_norm", "dropout", "normalize", "gain"},
    "cnn": {"type", "preset", "blocks", "hidden", "activation", "dropout", "layout", "normalize", "gain"},
    "rnn": {"type", "cell", "hidden", "layers", "sequence", "layout", "normalize", "gain"},
}


def build_backbone(cfg: dict[str, Any] | None, input_shape: Sequence[int]) -> nn.Module:
    """Build a backbone from a small config and one observation's shape, initialised orthogonally.

    :param cfg: ``{"type": "mlp", "hidden": [64, 64], "activation": "tanh", "layer_norm": False,
        "dropout": 0.0}`` | ``{"type": "cnn", "preset": "lenet" | "nature", "blocks": [...],
        "hidden": [...], "activation": "relu", "dropout": 0.0}`` | ``{"type": "rnn", "cell":
        "gru" | "lstm", "hidden": 128, "layers": 1, "sequence": "time" | "rows"}``. Every type
        also takes ``normalize: [mean, std]``, ``layout`` (images) and ``gain`` (init gain).
        ``None`` means an MLP for flat inputs and a CNN for images. A CNN without ``preset`` and
        ``blocks`` uses ``nature`` for images of 64 pixels or more and ``lenet`` otherwise.
    :param input_shape: one observation's shape: ``(D,)``, ``(H, W)``, ``(C, H, W)``, ``(H, W, C)``.
    :returns: a module with ``.output_dim`` and ``.is_recurrent``.

    Example::

        >>> net = build_backbone({"type": "mlp", "hidden": [64, 64]}, (4,))
        >>> net.output_dim, net.is_recurrent
        (64, False)
    """
    shape = _as_shape(input_shape)
    if cfg is None:
        cfg = {"type": "cnn"} if len(shape) in (2, 3) and min(shape[-2:]) >= 8 else {"type": "mlp"}
    if not isinstance(cfg, dict):
        raise RlkitError(f"a backbone config is a dict with a 'type', got {type(cfg).__name__}")
    kind = str(cfg.get("type", "mlp")).lower()
    if kind not in _KEYS:
        raise RlkitError(f"unknown backbone type {kind!r}; use mlp, cnn or rnn", where="cfg.type")
    unknown = set(cfg) - _KEYS[kind]
    if unknown:
        raise RlkitError(f"unknown keys {sorted(unknown)} for a {kind} backbone; allowed: "
                         f"{', '.join(sorted(_KEYS[kind]))}", where="cfg")
    act = str(cfg.get("activation", "tanh" if kind == "mlp" else "relu")).lower()
    if kind == "mlp":
        net: nn.Module = MLP(shape, cfg.get("hidden", [64, 64]), act, layer_norm=bool(cfg.get("layer_norm")),
                             dropout=float(cfg.get("dropout", 0.0)), normalize=cfg.get("normalize"))
    elif kind == "cnn":
        preset_name = cfg.get("preset")
        if preset_name is None and "blocks" not in cfg:
            preset_name = "nature" if len(shape) >= 2 and min(_spatial(shape, cfg)) >= 64 else "lenet"
        preset: dict[str, Any] = {}
        if preset_name is not None:
            if preset_name not in CNN_PRESETS:
                raise RlkitError(f"unknown CNN preset {preset_name!r}; use one of {', '.join(CNN_PRESETS)}",
                                 where="cfg.preset")
            preset = CNN_PRESETS[preset_name]
        net = CNN(shape, cfg.get("blocks", preset.get("blocks")), cfg.get("hidden", preset.get("hidden", [])),
                  act, dropout=float(cfg.get("dropout", preset.get("dropout", 0.0))),
                  layout=cfg.get("layout", "auto"), normalize=cfg.get("normalize"))
    else:
        net = RNN(shape, cfg.get("cell", "gru"), cfg.get("hidden", 128), layers=cfg.get("layers", 1),
                  sequence=cfg.get("sequence", "time"), layout=cfg.get("layout", "auto"),
                  normalize=cfg.get("normalize"))
    gain = float(cfg.get("gain", _GAINS.get(act, 1.0)))
    return init_weights(net, gain)


def _spatial(shape: tuple[int, ...], cfg: dict[str, Any]) -> tuple[int, int]:
    layout = image_layout(shape, cfg.get("layout", "auto")) if len(shape) in (2, 3) else "hw"
    if layout == "hw":
        return shape[0], shape[1]
    return (shape[1], shape[2]) if layout == "chw" else (shape[0], shape[1])


class Classifier(nn.Module):
    """A non-recurrent backbone with a linear head giving ``n_classes`` logits.

    :param backbone: a module from :func:`build_backbone` with ``is_recurrent`` False.
    :param n_classes: number of classes.
    """

    def __init__(self, backbone: nn.Module, n_classes: int) -> None:
        super().__init__()
        if getattr(backbone, "is_recurrent", False):
            raise RlkitError("a classifier needs a non-recurrent backbone; for an RNN over an image "
                             "use sequence: rows", where="cfg.sequence")
        self.backbone = backbone
        self.head = init_weights(nn.Linear(backbone.output_dim, int(n_classes)), 1.0)
        self.n_classes = int(n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_classifier(cfg: dict[str, Any], input_shape: Sequence[int], n_classes: int) -> Classifier:
    """:func:`build_backbone` plus a linear classification head.

    :param cfg: backbone config (see :func:`build_backbone`).
    :param input_shape: one input's shape, e.g. ``(28, 28)``.
    :param n_classes: number of classes.
    """
    return Classifier(build_backbone(cfg, input_shape), n_classes)
