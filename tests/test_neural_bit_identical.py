"""neural_prediction gives bit-identical results to the code before it was split into small
functions: the fingerprints in tests/data/neural_prediction_main.json were recorded with main's
rlkit (commit 7a7a908) by running this file as a script (``python tests/test_neural_bit_identical.py
OUT.json``). On the CPU they were recorded on the results are bit-identical (hex floats, sha256 of the
weights); another CPU's torch kernels (other vector units) round float32 sums differently, so here
integers (lengths, steps, masks) must match exactly, floats to a relative 1e-3 (seen: 1e-9 to 1e-4,
the largest on a run that diverges to 1e14), and the weights' hash only when every float is
bit-identical (the same CPU): a changed algorithm moves the numbers far more than rounding does."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data" / "neural_prediction_main.json"
TABLE = {"type": "mlp", "hidden": []}
CONFIGS = [
    ("random-walk", {"method": "td", "episodes": 30, "alpha": 0.1, "seed": 3, "n_envs": 2, "net": TABLE}),
    ("random-walk", {"method": "td-lambda", "lam": 0.7, "episodes": 30, "alpha": 0.1, "seed": 4, "n_envs": 3,
                     "net": {"type": "mlp", "hidden": [8]}}),
    ("random-walk", {"method": "mc", "episodes": 30, "alpha": 0.05, "seed": 5, "n_envs": 2,
                     "alpha_decay": 0.1}),
    ("gridworld-4x4", {"method": "td-lambda", "lam": 0.5, "episodes": 10, "alpha": 0.2, "seed": 6,
                       "net": TABLE, "record_error": True}),
    ("CartPole-v1", {"method": "mc", "episodes": 6, "alpha": 1e-3, "seed": 0, "max_episode_steps": 30,
                     "optimizer": "adam"}),
    ("CartPole-v1", {"method": "td", "episodes": 5, "alpha": 1e-3, "seed": 1, "n_envs": 2,
                     "max_episode_steps": 40}),
]


def _hex(x) -> list[str] | None:
    return None if x is None else [float(v).hex() for v in np.ravel(x)]


def fingerprint(env: str, kwargs: dict) -> dict:
    from rlkit.tabular.neural import neural_prediction

    r = neural_prediction(env, **kwargs)
    weights = b"".join(p.detach().contiguous().numpy().tobytes() for p in r.net.parameters())
    return {"env": env, "kwargs": kwargs, "values": _hex(r.values), "loss_curve": _hex(r.loss_curve),
            "error_curve": _hex(r.error_curve), "returns": _hex(r.episode_returns),
            "lengths": [int(v) for v in r.episode_lengths], "steps": r.steps,
            "rmse": None if r.rmse is None else float(r.rmse).hex(),
            "eval_mask": None if r.eval_mask is None else [bool(b) for b in r.eval_mask],
            "weights": hashlib.sha256(weights).hexdigest()}


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_same_numbers_as_before_the_split(index):
    recorded = json.loads(DATA.read_text())[index]
    env, kwargs = CONFIGS[index]
    assert recorded["env"] == env and recorded["kwargs"] == kwargs
    got = fingerprint(env, kwargs)
    assert got.keys() == recorded.keys()
    floats = ("values", "loss_curve", "error_curve", "returns")
    for key in got:
        if key in floats and got[key] is not None and recorded[key] is not None:
            a = np.array([float.fromhex(v) for v in got[key]])
            b = np.array([float.fromhex(v) for v in recorded[key]])
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-9, err_msg=key)
        elif key == "rmse" and got[key] is not None and recorded[key] is not None:
            assert float.fromhex(got[key]) == pytest.approx(float.fromhex(recorded[key]), rel=1e-3)
        elif key != "weights":
            assert got[key] == recorded[key], key
    if all(got[k] == recorded[k] for k in (*floats, "rmse")):
        assert got["weights"] == recorded["weights"]


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps([fingerprint(e, k) for e, k in CONFIGS], indent=0))
