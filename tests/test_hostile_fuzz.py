"""Fuzzing the readers: random structures and random bytes into model files (YAML / JSON / NPZ),
policy files and their parsers. The only exception allowed out is RlkitError, on one line; a
reader must never crash the interpreter, raise anything else or hang (pytest-timeout bounds each).

The default budget is small; ``-m slow`` runs the same properties with a larger one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.mdp import io as mio

pytestmark = pytest.mark.timeout(600)

SMALL, LARGE = 120, 2000
_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------------

NAMES = st.sampled_from(["s0", "s1", "s2", "a", "b", "go", "stay", "to", "p", "reward", "end", "0", "1"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.sampled_from([10**400, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["1/3", "1/0", "x", "", "0.5", "-1"]),
    NAMES, st.text(max_size=8),
)
VALUES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(NAMES, st.integers(0, 3)), kids, max_size=4)),
    max_leaves=25)
TOP_KEYS = st.sampled_from(["kind", "gamma", "states", "actions", "terminal", "start", "transitions",
                            "rewards", "grid", "generator", "params", "meta", "name"])
KINDS = st.sampled_from(["chain", "mrp", "mdp"])


@st.composite
def model_docs(draw):
    """Documents shaped like model files: the real keys with random (often nearly right) values."""
    doc = draw(st.dictionaries(TOP_KEYS, VALUES, max_size=6))
    if draw(st.booleans()):
        doc["kind"] = draw(KINDS)
    if draw(st.booleans()):
        # a plausible transitions block, then perturbed
        states = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
        trans = {}
        for s in states:
            if doc.get("kind") == "mdp":
                trans[s] = {a: draw(st.one_of(st.sampled_from(states), VALUES))
                            for a in draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))}
            else:
                trans[s] = draw(st.one_of(st.sampled_from(states), st.dictionaries(st.sampled_from(states),
                                                                                   SCALARS, max_size=3)))
        doc["transitions"] = trans
    if draw(st.booleans()):
        doc["generator"] = draw(st.sampled_from(["gambler", "forest", "random-walk", "jacks-car-rental"]))
        doc["params"] = draw(st.dictionaries(st.sampled_from(["p_h", "goal", "S", "n", "max_cars", "max_move",
                                                              "r1", "p", "sparse", "request_means"]),
                                             SCALARS, max_size=3))
        doc.pop("transitions", None)
    if draw(st.booleans()):
        doc["grid"] = {"map": draw(st.one_of(st.lists(st.text("SFHGW.#C", max_size=4), max_size=4), VALUES)),
                       "slip": draw(SCALARS)}
        doc["kind"] = "mdp"
    return doc


def _only_rlkit_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except RlkitError as exc:
        message = str(exc)
        assert "\n" not in message and 0 < len(message) < 2000, message
        return None


def _budget(n: int):
    return settings(max_examples=n, **_SETTINGS)


@pytest.fixture(autouse=True)
def _small_memory_limit(monkeypatch):
    # generators with huge random sizes are refused quickly instead of being built
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "200M")


# ------------------------------------------------------------------------------------------------
# model documents (the dict reader) and the text files holding them
# ------------------------------------------------------------------------------------------------


def _model_doc_property(doc):
    model = _only_rlkit_errors(mio.model_from_dict, doc, source="fuzz.yaml")
    if model is not None:  # whatever is accepted is a valid model
        P = model.P if not isinstance(model.P, list) else np.stack([m.toarray() for m in model.P])
        assert np.isfinite(P).all() and np.allclose(P.sum(axis=-1), 1.0)


@_budget(SMALL)
@given(model_docs())
def test_model_documents(doc):
    _model_doc_property(doc)


@pytest.mark.slow
@_budget(LARGE)
@given(model_docs())
def test_model_documents_large(doc):
    _model_doc_property(doc)


def _text_file_property(tmp_path: Path, suffix: str, text: str | bytes):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "replace"))
    _only_rlkit_errors(mio.load, path)


def _dump(doc, suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(doc, default=str)
    return yaml.safe_dump(doc, default_flow_style=None)


YAML_SNIPPETS = st.sampled_from(["&a [*a]", "*x", "!!python/object:os.system ls", "{a: 1, a: 2}",
                                 "? [1]\n: 2",
                                 "- &a x\n- *a", "!!binary aGVsbG8=", "%YAML 9.9\n---\na: 1", "a: !!float x",
                                 "2001-13-45", "[" * 200, "{{{{", "\t\ttab", "a: |\n  \x00"])


@_budget(SMALL)
@given(doc=model_docs(), suffix=st.sampled_from([".yaml", ".json"]),
       junk=st.one_of(st.just(""), YAML_SNIPPETS), at=st.integers(0, 400))
def test_model_text_files(tmp_path, doc, suffix, junk, at):
    text = _dump(doc, suffix)
    text = text[:at] + junk + text[at:]
    _text_file_property(tmp_path, suffix, text)


@_budget(SMALL)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".json", ".npz"]))
def test_model_files_of_random_bytes(tmp_path, data, suffix):
    _text_file_property(tmp_path, suffix, data)


@pytest.mark.slow
@_budget(LARGE)
@given(doc=model_docs(), suffix=st.sampled_from([".yaml", ".json"]),
       junk=st.one_of(st.just(""), YAML_SNIPPETS), at=st.integers(0, 400), data=st.binary(max_size=600))
def test_model_files_large(tmp_path, doc, suffix, junk, at, data):
    text = _dump(doc, suffix)
    _text_file_property(tmp_path, suffix, text[:at] + junk + text[at:])
    _text_file_property(tmp_path, suffix, data)


# ------------------------------------------------------------------------------------------------
# NPZ files in rlkit's layout, with random fields
# ------------------------------------------------------------------------------------------------

DTYPES = st.sampled_from(["f8", "f4", "i8", "i4", "u1", "b", "U3", "S2", "c16", "m8[s]", "O"])
NPZ_KEYS = st.sampled_from(["P", "R", "gamma", "kind", "states", "actions", "terminal", "meta_json",
                            "action_mask", "initial", "P_csr_count", "P_csr_data_0", "P_csr_indices_0",
                            "P_csr_indptr_0", "P_csr_data_1", "P_csr_indices_1", "P_csr_indptr_1"])


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    if dtype.kind in "fc":
        flat = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n,
                             max_size=n))
    elif dtype.kind in "iub":
        flat = draw(st.lists(st.integers(-3, 6), min_size=n, max_size=n))
    elif dtype.kind == "O":
        flat = draw(st.lists(st.one_of(st.none(), st.integers()), min_size=n, max_size=n))
    elif dtype.kind == "m":
        flat = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    else:
        flat = draw(st.lists(st.sampled_from(["mdp", "mrp", "x", "{}", "s0", "[1]"]), min_size=n,
                             max_size=n))
    try:
        arr = np.array(flat, dtype=object)
        arr = arr if dtype.kind == "O" else arr.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        arr = np.zeros(n, dtype=dtype if dtype.kind != "O" else "f8")
    return arr.reshape(shape) if arr.size == n else arr


@st.composite
def npz_layouts(draw):
    """A valid small model's arrays, with some fields replaced, added or removed at random."""
    base = draw(st.sampled_from(["student-mdp", "random-walk", "forest-sparse"]))
    model = (mio.load("forest", env_kwargs={"S": 4, "sparse": True}) if base == "forest-sparse"
             else mio.load(base))
    fields = _model_arrays(model)
    for key in draw(st.lists(NPZ_KEYS, max_size=3)):
        if draw(st.booleans()):
            fields.pop(key, None)
        else:
            fields[key] = draw(arrays())
    indices = np.asarray(fields.get("P_csr_indices_0", []))
    if draw(st.booleans()) and indices.dtype.kind in "iub":  # the classic: an index one past the end
        idx = indices.astype(np.int64)
        if idx.size:
            idx.flat[draw(st.integers(0, idx.size - 1))] = draw(st.sampled_from([4, 5, -1, 2**31, 10**6]))
        fields["P_csr_indices_0"] = idx
    return fields


def _model_arrays(model) -> dict[str, np.ndarray]:
    path = Path(f"/tmp/rlkit-fuzz-{id(model)}.npz")
    mio.save(model, path)
    with np.load(path, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    path.unlink()
    return out


def _npz_property(tmp_path: Path, fields: dict, corrupt: int | None = None):
    path = tmp_path / "fuzz.npz"
    np.savez(path, **fields)  # object arrays are pickled here: the reader must refuse them
    if corrupt is not None:
        raw = bytearray(path.read_bytes())
        if raw:
            raw[corrupt % len(raw)] ^= 0xFF
        path.write_bytes(bytes(raw))
    model = _only_rlkit_errors(mio.load, path)
    if model is not None and isinstance(model.P, list):
        for m in model.P:
            assert m.indices.min(initial=0) >= 0 and m.indices.max(initial=0) < m.shape[1]


@_budget(SMALL)
@given(fields=npz_layouts(), corrupt=st.one_of(st.none(), st.integers(0, 10**6)))
def test_npz_models_with_odd_fields(tmp_path, fields, corrupt):
    _npz_property(tmp_path, fields, corrupt)


@pytest.mark.slow
@_budget(LARGE)
@given(fields=npz_layouts(), corrupt=st.one_of(st.none(), st.integers(0, 10**6)))
def test_npz_models_with_odd_fields_large(tmp_path, fields, corrupt):
    _npz_property(tmp_path, fields, corrupt)


# ------------------------------------------------------------------------------------------------
# policy files
# ------------------------------------------------------------------------------------------------

STUDENT = None


def _student():
    global STUDENT
    if STUDENT is None:
        STUDENT = mio.load("student-mdp")
    return STUDENT


POLICY_VALUES = st.one_of(
    VALUES,
    st.lists(st.integers(-2, 6), min_size=0, max_size=7),
    st.lists(st.lists(st.floats(-1, 2), min_size=5, max_size=5), min_size=5, max_size=5),
    st.dictionaries(st.sampled_from(["Facebook", "Class1", "Sleep", "x"]),
                    st.one_of(st.sampled_from(["Study", "Sleep", "Quit", "Facebook", "Pub", "nope"]),
                              st.dictionaries(st.sampled_from(["Study", "Pub", "nope"]), SCALARS,
                                              max_size=2)),
                    max_size=4),
)


def _policy_property(tmp_path: Path, value, suffix: str):
    path = tmp_path / f"policy{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(value, default=str))
    elif suffix == ".yaml":
        path.write_text(yaml.safe_dump(value))
    else:
        try:
            arr = np.array(value, dtype=float)
        except (ValueError, TypeError, OverflowError):
            arr = np.array([str(value)])
        np.save(path, arr) if suffix == ".npy" else np.savez(path, policy=arr)
    pi = _only_rlkit_errors(mio.load_policy, str(path), _student())
    if pi is not None:
        pi = np.asarray(pi)
        S, A = _student().n_states, _student().n_actions
        assert (pi.shape == (S,) and ((0 <= pi) & (pi < A)).all()) or (
            pi.shape == (S, A) and np.allclose(pi.sum(1), 1) and (pi >= 0).all())


@_budget(SMALL)
@given(value=POLICY_VALUES, suffix=st.sampled_from([".json", ".yaml", ".npy", ".npz"]))
def test_policy_files(tmp_path, value, suffix):
    _policy_property(tmp_path, value, suffix)


@_budget(SMALL // 2)
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".json", ".yaml", ".npy", ".npz"]))
def test_policy_files_of_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"policy{suffix}"
    path.write_bytes(data)
    _only_rlkit_errors(mio.load_policy, str(path), _student())


@pytest.mark.slow
@_budget(LARGE)
@given(value=POLICY_VALUES, suffix=st.sampled_from([".json", ".yaml", ".npy", ".npz"]))
def test_policy_files_large(tmp_path, value, suffix):
    _policy_property(tmp_path, value, suffix)


def test_an_npz_zip_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, P=np.zeros((1, 2500, 2500)), R=np.zeros((2500, 1)), gamma=np.array(0.9))
    assert path.stat().st_size < 200_000  # 50 MB of zeros in a small file
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "10M")
    with pytest.raises(RlkitError, match="RLKIT_MAX_MEMORY"):
        mio.load(path)
