"""A corpus of hostile files, written at test time (no committed binaries), and the CLI meeting each:
exit code 2, exactly one ``error:`` line on stderr and no traceback, within a time bound.

The memory-safety cases (CSR indices out of range, which used to crash the interpreter) also run in
a separate process, so that a segmentation fault fails the test instead of killing pytest.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parent.parent


def _csr_npz(path: Path, col: int = 4, indptr=None, dtype=np.int64) -> None:
    arrays = {"P_csr_count": np.array(2), "R": np.zeros((4, 2)), "gamma": np.array(0.9)}
    for a in range(2):
        arrays[f"P_csr_data_{a}"] = np.ones(4)
        arrays[f"P_csr_indices_{a}"] = np.array([1, 2, 3, col], dtype=dtype)
        arrays[f"P_csr_indptr_{a}"] = np.arange(5) if indptr is None else np.asarray(indptr)
    np.savez(path, **arrays)


def _alias_bomb() -> str:
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 12)]
    return "kind: mrp\ngamma: 0.9\ntransitions: {s: s}\nmeta:\n  " + "\n  ".join(lines) + "\n"


def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _gzip_bomb(declared: tuple[int, ...], real: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunks = [z.compress(_idx_header(0x08, declared))]
    chunks += [z.compress(bytes(1 << 20)) for _ in range(real >> 20)]
    return b"".join(chunks) + z.flush()


def _mnist_folder(folder: Path, images: bytes, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    labels = _idx_header(0x08, (2,)) + b"\x01\x02"
    for split in ("train", "t10k"):
        for kind, payload in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            if gz:
                gzipped = payload if payload[:2] == b"\x1f\x8b" else gzip.compress(payload)
                (folder / f"{name}.gz").write_bytes(gzipped)
            else:
                (folder / name).write_bytes(payload)


# Each case: (class, builder(folder) -> argv, environment overrides). The builder writes its files.
def _model(name: str, write):
    def build(d: Path) -> list[str]:
        write(d / name)
        return ["solve-mdp", str(d / name)]
    return build


def _text(text: str):
    return lambda p: p.write_text(text)


def _bytes(data: bytes):
    return lambda p: p.write_bytes(data)


def _policy(name: str, write):
    def build(d: Path) -> list[str]:
        write(d / name)
        return ["solve-mdp", "student-mdp", "--policy", str(d / name)]
    return build


def _idx(images: bytes, gz: bool = True):
    def build(d: Path) -> list[str]:
        _mnist_folder(d / "mn", images, gz)
        return ["supervised", "train", "--data-dir", str(d / "mn"), "-q"]
    return build


def _truncated_npz(p: Path) -> None:
    np.savez(p, P=np.eye(3))
    p.write_bytes(p.read_bytes()[:150])


def _npz_bomb(p: Path) -> None:
    np.savez_compressed(p, P=np.zeros((1, 3000, 3000)), R=np.zeros((3000, 1)))


def _ring(n: int) -> str:
    return "kind: chain\ntransitions:\n" + "".join(f"  s{i}: s{(i + 1) % n}\n" for i in range(n))


def _in_the_way(d: Path, argv: list[str], folder: bool) -> list[str]:
    (d / "o.npz").mkdir() if folder else (d / "f").write_text("")
    return argv


MNIST = REPO.parent / "shared" / "data" / "mnist"
DEEP = "[" * 50_000 + "]" * 50_000
CHAIN = "kind: chain\ntransitions: {s: s}\n"
MRP = "kind: mrp\ngamma: 0.9\ntransitions: {s: s}\n"

CASES = {
    # memory safety: CSR structure in NPZ models
    "csr-index-far": ("csr", _model("m.npz", lambda p: _csr_npz(p, 10**6)), {}),
    "csr-index-one-past": ("csr", _model("m.npz", lambda p: _csr_npz(p, 4)), {}),
    "csr-index-negative": ("csr", _model("m.npz", lambda p: _csr_npz(p, -1)), {}),
    "csr-indptr-decreasing": ("csr", _model("m.npz", lambda p: _csr_npz(p, 0, [0, 2, 1, 3, 4])), {}),
    "csr-indptr-short": ("csr", _model("m.npz", lambda p: _csr_npz(p, 0, [0, 1, 2, 4])), {}),
    "csr-indices-float": ("csr", _model("m.npz", lambda p: _csr_npz(p, 0, dtype=np.float64)), {}),
    # odd NPZ fields
    "npz-object-array": ("npz", _model("m.npz", lambda p: np.savez(p, P=np.array([None, {}], dtype=object))),
                         {}),
    "npz-string-P": ("npz", _model("m.npz", lambda p: np.savez(p, P=np.array(["a", "b"]))), {}),
    "npz-gamma-string": ("npz", _model("m.npz", lambda p: np.savez(p, P=np.eye(2), R=np.zeros(2),
                                                                   gamma=np.array("x"))), {}),
    "npz-meta-deep": ("npz", _model("m.npz", lambda p: np.savez(p, P=np.eye(2), meta_json=np.array(DEEP))),
                      {}),
    "npz-zero-bytes": ("npz", _model("m.npz", _bytes(b"")), {}),
    "npz-truncated": ("npz", _model("m.npz", _truncated_npz), {}),
    "npz-zip-bomb": ("npz", _model("m.npz", _npz_bomb), {"RLKIT_MAX_MEMORY": "20M"}),
    "npz-is-npy": ("npz", _model("m.npz", lambda p: p.write_bytes(_npy_bytes(np.eye(2)))), {}),
    # YAML / JSON
    "yaml-alias-bomb": ("yaml", _model("m.yaml", _text(_alias_bomb())), {}),
    "yaml-deep": ("yaml", _model("m.yaml", _text(CHAIN + "meta: " + DEEP)), {}),
    "yaml-self-alias": ("yaml", _model("m.yaml", _text(CHAIN + "meta: &m {x: *m}\n")), {}),
    "yaml-5000-digits": ("yaml", _model("m.yaml", _text("kind: mrp\ngamma: " + "9" * 5000 + "\n")), {}),
    "yaml-huge-reward": ("yaml", _model("m.yaml", _text(MRP + "rewards: {s: " + "9" * 400 + "}\n")), {}),
    "yaml-dense-too-big": ("yaml", _model("m.yaml", _text(_ring(3000))), {"RLKIT_MAX_MEMORY": "50M"}),
    "yaml-python-tag": ("yaml", _model("m.yaml", _text("kind: !!python/object/apply:os.system [ls]\n")), {}),
    "yaml-binary-garbage": ("yaml", _model("m.yaml", _bytes(bytes(range(256)) * 4)), {}),
    "yaml-duplicate-key": ("yaml", _model("m.yaml", _text("kind: chain\nkind: mrp\n")), {}),
    "yaml-empty": ("yaml", _model("m.yaml", _text("")), {}),
    "json-deep": ("json", _model("m.json", _text('{"meta": ' + DEEP + "}")), {}),
    "json-5000-digits": ("json", _model("m.json", _text('{"kind": "mrp", "gamma": ' + "1" * 5000 + "}")), {}),
    "json-trailing": ("json", _model("m.json", _text('{"kind": "chain"} }')), {}),
    # policy files
    "policy-empty-npy": ("policy", _policy("p.npy", _bytes(b"")), {}),
    "policy-random-npz": ("policy", _policy("p.npz", _bytes(bytes(range(256)) + b"PK\x03\x04")), {}),
    "policy-json-nested": ("policy", _policy("p.json", _text(json.dumps({"policy": [[["x"]]] * 5}))), {}),
    "policy-object-npy": ("policy", _policy("p.npy", lambda p: np.save(p, np.array([{}, None], object))), {}),
    # IDX / gzip
    "idx-gzip-bomb": ("idx", _idx(_gzip_bomb((2, 28, 28), 1 << 26)), {}),
    "idx-header-lies": ("idx", _idx(_idx_header(0x08, (2, 28, 28)) + bytes(10), gz=False), {}),
    "idx-header-huge": ("idx", _idx(_idx_header(0x08, (2**31, 2**31, 28))), {}),
    "idx-bad-magic": ("idx", _idx(b"\x00\x00\x08\x09" + bytes(40), gz=False), {}),
    "idx-fashion-at-mnist": ("idx", lambda d: ["supervised", "train", "--dataset", "fashion-mnist",
                                               "--data-dir", str(MNIST), "-q"], {}),
    # sizes and values typed on the command line
    "size-forest": ("size", lambda d: ["solve-mdp", "forest", "--env-kwargs", "S=1000000000000"], {}),
    "size-gambler": ("size", lambda d: ["solve-mdp", "gambler", "--env-kwargs", "goal=100000"], {}),
    "size-random-walk": ("size", lambda d: ["solve-mdp", "random-walk", "--env-kwargs", "n=100000000"], {}),
    "size-jacks": ("size", lambda d: ["solve-mdp", "jacks-car-rental", "--env-kwargs", "max_cars=200"], {}),
    "size-runs": ("size", lambda d: ["evaluate-policy", "random-walk", "--runs", "1000000000"], {}),
    "size-runs-float": ("size", lambda d: ["evaluate-policy", "random-walk", "--runs", "1e9"], {}),
    "value-gamma-digits": ("value", lambda d: ["solve-mdp", "student-mdp", "--gamma", "0." + "9" * 5000], {}),
    "value-gamma-huge": ("value", lambda d: ["solve-mdp", "student-mdp", "--gamma", "9" * 5000], {}),
    "value-memory-limit": ("value", lambda d: ["solve-mdp", "student-mdp"], {"RLKIT_MAX_MEMORY": "lots"}),
    # output paths
    "out-folder": ("output", lambda d: _in_the_way(d, ["solve-mdp", "student-mdp", "--save",
                                                       str(d / "o.npz")], True), {}),
    "out-under-file": ("output", lambda d: _in_the_way(d, ["solve-mdp", "student-mdp", "--save",
                                                           str(d / "f" / "m.npz")], False), {}),
    "out-run-dir-file": ("output", lambda d: _in_the_way(d, ["train", "--env", "CartPole-v1", "--run-dir",
                                                             str(d / "f"), "--total-timesteps", "64"], False),
                         {}),
}


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _check(code: int, err: str, name: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, f"{name}: exit {code}\n{err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: stderr was\n{err[-2000:]}"
    assert "Traceback" not in err and len(lines[0]) < 1500


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_cli_meets_each_hostile_file_with_one_error_line(name, tmp_path, cli, monkeypatch):
    _cls, build, env = CASES[name]
    if name == "idx-fashion-at-mnist" and not MNIST.is_dir():
        pytest.skip("real MNIST not available")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RLKIT_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    argv = build(tmp_path)
    code, _out, err = cli(*argv)
    _check(code, err, name)


@pytest.mark.parametrize("name", ["csr-index-far", "csr-index-one-past"])
def test_memory_safety_cases_in_a_separate_process(name, tmp_path):
    """A segmentation fault would end this process with -11, not with one error line."""
    argv = CASES[name][1](tmp_path)
    for method in ("exact", "value-iteration", "gauss-seidel", "modified-policy-iteration"):
        proc = subprocess.run([sys.executable, "-m", "rlkit.cli", *argv, "-m", method], text=True,
                              capture_output=True, timeout=90, env={**os.environ, "PYTHONPATH": str(REPO)})
        _check(proc.returncode, proc.stderr, f"{name} ({method})")


def test_corpus_covers_every_class():
    classes = {}
    for cls, _, _ in CASES.values():
        classes[cls] = classes.get(cls, 0) + 1
    assert set(classes) == {"csr", "npz", "yaml", "json", "policy", "idx", "size", "value", "output"}
