"""rlkit.supervised: the backbones (MLP, CNN, RNN) shared with the agents, MNIST data, fit/evaluate.

>>> from rlkit.supervised import build_backbone, count_parameters
>>> net = build_backbone({"type": "mlp", "hidden": [64, 64], "activation": "tanh"}, (4,))
>>> net.output_dim, count_parameters(net)
(64, 4480)

``rlkit.supervised.data.load_mnist`` reads MNIST / Fashion-MNIST; ``rlkit.supervised.train``
holds ``fit`` / ``evaluate_run`` behind ``rlkit supervised train|evaluate``.
"""

from rlkit.supervised.nets import (
    CNN,
    CNN_PRESETS,
    MLP,
    RNN,
    Classifier,
    build_backbone,
    build_classifier,
    count_parameters,
    init_weights,
)

__all__ = [
    "CNN",
    "CNN_PRESETS",
    "MLP",
    "RNN",
    "Classifier",
    "build_backbone",
    "build_classifier",
    "count_parameters",
    "init_weights",
]
