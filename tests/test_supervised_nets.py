"""Backbones: output shapes on every input kind, hand-counted parameters, init, recurrence."""

from __future__ import annotations

import pytest
import torch

from rlkit.errors import RlkitError
from rlkit.supervised import (
    CNN,
    MLP,
    RNN,
    Classifier,
    build_backbone,
    build_classifier,
    count_parameters,
    init_weights,
)

INPUT_KINDS = {
    "flat": (12,),
    "hw": (28, 28),
    "chw": (1, 28, 28),
    "hwc": (28, 28, 1),
    "atari_chw": (4, 84, 84),
    "atari_hwc": (84, 84, 4),
    "rgb_chw": (3, 32, 32),
}
CONFIGS = {
    "mlp": {"type": "mlp", "hidden": [32, 16], "activation": "relu"},
    "mlp_ln_dropout": {"type": "mlp", "hidden": [32], "activation": "gelu", "layer_norm": True,
                       "dropout": 0.1},
    "cnn": {"type": "cnn"},
    "rnn_rows": {"type": "rnn", "cell": "gru", "hidden": 24, "sequence": "rows"},
    "lstm_rows": {"type": "rnn", "cell": "lstm", "hidden": 24, "sequence": "rows"},
}


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_non_recurrent_shapes_on_every_input_kind(name, kind):
    shape = INPUT_KINDS[kind]
    cfg = CONFIGS[name]
    if cfg["type"] in ("cnn",) or cfg.get("sequence") == "rows":
        if len(shape) == 1:
            with pytest.raises(RlkitError):
                build_backbone(cfg, shape)
            return
    net = build_backbone(cfg, shape)
    assert net.is_recurrent is False
    all_dtypes = (torch.uint8, torch.float32, torch.float64, torch.int64)
    dtypes = all_dtypes if kind in ("flat", "hw") else (torch.uint8,)
    for dtype in dtypes:
        x = torch.randint(0, 255, (2, *shape)).to(dtype)
        y = net(x)
        assert y.shape == (2, net.output_dim) and y.dtype == torch.float32
    cnn_dim = 512 if 84 in shape else 128  # nature preset for 84x84 frames, lenet otherwise
    dims = {"mlp": 16, "mlp_ln_dropout": 32, "rnn_rows": 24, "lstm_rows": 24}
    assert net.output_dim == dims.get(name, cnn_dim)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_recurrent_shapes_sequence_and_single_step(cell, kind):
    shape = INPUT_KINDS[kind]
    net = build_backbone({"type": "rnn", "cell": cell, "hidden": 16, "layers": 2}, shape)
    assert net.is_recurrent and net.output_dim == 16
    k = 1 if cell == "gru" else 2
    h0 = net.initial_state(3)
    assert h0.shape == (k * 2, 3, 16) and not h0.any()
    feats, h = net(torch.rand(3, 5, *shape))
    assert feats.shape == (3, 5, 16) and h.shape == (k * 2, 3, 16)
    one, h1 = net(torch.rand(3, *shape), h)
    assert one.shape == (3, 16) and h1.shape == h.shape


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stepping_with_carried_state_equals_the_whole_sequence(cell):
    torch.manual_seed(0)
    net = build_backbone({"type": "rnn", "cell": cell, "hidden": 8}, (3,))
    x = torch.randn(2, 6, 3)
    feats, h_end = net(x)
    h = None
    for t in range(6):
        out, h = net(x[:, t], h)
        torch.testing.assert_close(out, feats[:, t])
    torch.testing.assert_close(h, h_end)


def test_mask_state_resets_only_started_episodes():
    h = torch.ones(2, 3, 4)
    out = RNN.mask_state(h, torch.tensor([True, False, True]))
    assert out[:, 0].abs().sum() == 0 and out[:, 2].abs().sum() == 0
    assert torch.equal(out[:, 1], h[:, 1])


def test_rows_mode_is_the_gru_run_over_the_rows():
    torch.manual_seed(1)
    rows = build_backbone({"type": "rnn", "hidden": 10, "sequence": "rows"}, (28, 28))
    x = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    # independent: the raw nn.GRU over the 28 rows, pixels scaled by hand
    out, _ = rows.rnn(x.float() / 255.0)
    torch.testing.assert_close(rows(x), out[:, -1])
    # (C, H, W) and (H, W, C) read the same rows
    chw = build_backbone({"type": "rnn", "hidden": 10, "sequence": "rows"}, (1, 28, 28))
    hwc = build_backbone({"type": "rnn", "hidden": 10, "sequence": "rows"}, (28, 28, 1))
    chw.load_state_dict(rows.state_dict())
    hwc.load_state_dict(rows.state_dict())
    torch.testing.assert_close(chw(x[:, None]), rows(x))
    torch.testing.assert_close(hwc(x[..., None]), rows(x))


def test_uint8_is_scaled_and_normalize_applied():
    torch.manual_seed(2)
    net = build_backbone({"type": "mlp", "hidden": [5]}, (6,))
    x = torch.randint(0, 256, (4, 6), dtype=torch.uint8)
    torch.testing.assert_close(net(x), net(x.double() / 255.0))
    norm = build_backbone({"type": "mlp", "hidden": [5], "normalize": [0.5, 0.25]}, (6,))
    norm.load_state_dict(net.state_dict())
    torch.testing.assert_close(norm(x), net((x.float() / 255.0 - 0.5) / 0.25))


def test_hwc_and_chw_images_give_the_same_features():
    torch.manual_seed(3)
    chw = build_backbone({"type": "cnn", "preset": "nature"}, (4, 84, 84))
    hwc = build_backbone({"type": "cnn", "preset": "nature"}, (84, 84, 4))
    hwc.load_state_dict(chw.state_dict())
    x = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(hwc(x.permute(0, 2, 3, 1)), chw(x))
    assert chw.conv_shape == (64, 7, 7)


def test_parameter_counts_by_hand():
    # 4 -> 64 -> 64: (4*64 + 64) + (64*64 + 64)
    assert count_parameters(build_backbone({"type": "mlp", "hidden": [64, 64]}, (4,))) == 4480
    # Nature DQN body: conv 4->32 8x8, 32->64 4x4, 64->64 3x3, fc 3136->512
    nature = (4 * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64) + (3136 * 512 + 512)
    assert count_parameters(build_backbone({"type": "cnn", "preset": "nature"}, (84, 84, 4))) == nature
    # textbook 784-50-100-10 classifier
    textbook = build_classifier({"type": "mlp", "hidden": [50, 100], "activation": "sigmoid"}, (28, 28), 10)
    assert count_parameters(textbook) == 784 * 50 + 50 + 50 * 100 + 100 + 100 * 10 + 10
    # GRU over 28-pixel rows: 3 gates x (W_ih 28xH + W_hh HxH + two biases)
    gru = build_backbone({"type": "rnn", "hidden": 16, "sequence": "rows"}, (28, 28))
    assert count_parameters(gru) == 3 * (28 * 16 + 16 * 16 + 2 * 16)
    frozen = MLP((3,), [2])
    frozen.body[1].weight.requires_grad_(False)
    assert count_parameters(frozen) == 2 and count_parameters(frozen, trainable_only=False) == 8


def test_orthogonal_init_and_zero_bias():
    torch.manual_seed(4)
    net = init_weights(torch.nn.Sequential(torch.nn.Linear(10, 6), torch.nn.Conv2d(3, 4, 3)), gain=2.0)
    w = net[0].weight  # (6, 10): orthonormal rows times the gain
    torch.testing.assert_close(w @ w.T, 4.0 * torch.eye(6), atol=1e-5, rtol=0)
    c = net[1].weight.reshape(4, -1)
    torch.testing.assert_close(c @ c.T, 4.0 * torch.eye(4), atol=1e-5, rtol=0)
    assert not net[0].bias.any() and not net[1].bias.any()
    lstm = build_backbone({"type": "rnn", "cell": "lstm", "hidden": 5}, (3,))
    w_hh = lstm.rnn.weight_hh_l0  # 4 gate blocks, each orthogonal
    for block in w_hh.chunk(4, 0):
        torch.testing.assert_close(block @ block.T, torch.eye(5), atol=1e-5, rtol=0)
    assert torch.equal(lstm.rnn.bias_hh_l0[5:10], torch.ones(5))  # forget gate
    # the builder picks the gain of the activation: tanh -> 5/3
    tanh = build_backbone({"type": "mlp", "hidden": [4], "activation": "tanh"}, (8,))
    w = tanh.body[1].weight
    torch.testing.assert_close(w @ w.T, (5 / 3) ** 2 * torch.eye(4), atol=1e-5, rtol=0)


def test_default_cnn_preset_depends_on_image_size():
    assert len(build_backbone({"type": "cnn"}, (84, 84, 4)).conv) == 6  # nature: 3 x (conv, relu)
    small = build_backbone({"type": "cnn"}, (28, 28))
    assert small.conv_shape == (32, 7, 7)
    assert isinstance(build_backbone(None, (28, 28)), CNN) and isinstance(build_backbone(None, (4,)), MLP)


@pytest.mark.parametrize("cfg, shape, match", [
    ({"type": "transformer"}, (4,), "unknown backbone type"),
    ({"type": "mlp", "hiden": [4]}, (4,), "unknown keys"),
    ({"type": "mlp", "activation": "swishy"}, (4,), "unknown activation"),
    ({"type": "mlp", "hidden": [0]}, (4,), "positive"),
    ({"type": "mlp", "dropout": 1.5}, (4,), "dropout"),
    ({"type": "cnn", "preset": "resnet"}, (28, 28), "unknown CNN preset"),
    ({"type": "cnn", "preset": "nature"}, (28, 28), "too small"),
    ({"type": "cnn", "blocks": [{"kernel": 3}]}, (28, 28), "channels"),
    ({"type": "cnn", "layout": "nhwc"}, (3, 28, 28), "layout"),
    ({"type": "rnn", "cell": "lstmx"}, (4,), "cell"),
    ({"type": "rnn", "sequence": "cols"}, (4,), "sequence"),
    ({"type": "mlp", "normalize": [0.1, 0.0]}, (4,), "std"),
    # what a config file can hold instead of [mean, std]: refused in one line, not a TypeError
    ({"type": "mlp", "normalize": True}, (4,),
     r"^cfg\.normalize: normalize must be \[mean, std\] with std > 0, got True$"),
    ({"type": "mlp", "normalize": "0.1,0.3"}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": "15"}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": {"0": 1, "2": 3}}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": [0.1]}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": [0.1, 0.2, 0.3]}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": ["a", 0.2]}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": [float("nan"), 0.2]}, (4,), "normalize must be"),
    ({"type": "mlp", "normalize": [0.0, float("inf")]}, (4,), "normalize must be"),
    ("mlp", (4,), "dict"),
    ({"type": "mlp"}, (0,), "input_shape"),
])
def test_bad_configs_raise_rlkit_error(cfg, shape, match):
    with pytest.raises(RlkitError, match=match):
        build_backbone(cfg, shape)


def test_classifier_head_and_recurrent_refusal():
    clf = build_classifier({"type": "cnn"}, (28, 28), 10)
    assert isinstance(clf, Classifier) and clf(torch.zeros(2, 28, 28)).shape == (2, 10)
    with pytest.raises(RlkitError, match="non-recurrent"):
        build_classifier({"type": "rnn"}, (28, 28), 10)
    w = clf.head.weight
    torch.testing.assert_close(w @ w.T, torch.eye(10), atol=1e-5, rtol=0)
    assert not clf.head.bias.detach().any()
