"""The package's foundation: version, help, error class, atomic writes, seeding."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rlkit
from rlkit._io import atomic_write, atomic_write_json
from rlkit.errors import RlkitError
from rlkit.seeding import as_generator


def test_version_and_help(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"rlkit {rlkit.__version__}"
    code, out, _ = cli("--help")
    assert code == 0 and "Usage" in out


def test_error_is_value_error_and_one_line():
    err = RlkitError("probabilities of row 3\n do not sum to 1", where="model.yaml")
    assert isinstance(err, ValueError)
    assert str(err) == "model.yaml: probabilities of row 3 do not sum to 1"


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"a": np.arange(3), "b": np.float32(0.5)})
    assert json.loads(target.read_text()) == {"a": [0, 1, 2], "b": 0.5}

    def boom(path):
        path.write_text("half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert json.loads(target.read_text())["a"] == [0, 1, 2]
    assert list(tmp_path.iterdir()) == [target]


def test_as_generator():
    a = as_generator(3).random(4)
    b = as_generator(3).random(4)
    assert np.array_equal(a, b)
    g = np.random.default_rng(0)
    assert as_generator(g) is g
    with pytest.raises(RlkitError):
        as_generator("seven")
