"""Hostile model files: CSR structure, odd NPZ fields, budgets. Only RlkitError may come out, and a
matrix that passes the checks is exactly the one the arrays describe (checked against a dense
matrix built entry by entry in Python)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.errors import RlkitError
from rlkit.mdp import io as mio
from rlkit.mdp.models import MDP, check_csr_arrays

pytestmark = pytest.mark.timeout(120)


def _dense_reference(data, indices, indptr, n_cols):
    """The matrix CSR arrays describe, by the definition (duplicates add up)."""
    out = np.zeros((len(indptr) - 1, n_cols))
    for r in range(len(indptr) - 1):
        for k in range(indptr[r], indptr[r + 1]):
            out[r, indices[k]] += data[k]
    return out


def _structurally_valid(data, indices, indptr, n_cols):
    return (len(indptr) >= 2 and indptr[0] == 0 and all(np.diff(indptr) >= 0)
            and indptr[-1] == len(indices) == len(data) and all(0 <= i < n_cols for i in indices)
            and all(np.isfinite(data)))


@st.composite
def csr_arrays(draw):
    n = draw(st.integers(1, 6))
    nnz = draw(st.integers(0, 12))
    # mostly near-valid structures: the bugs live at the edges (index n, indptr off by one)
    indices = draw(st.lists(st.integers(-2, n + 1), min_size=nnz, max_size=nnz))
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, nnz), min_size=n - 1, max_size=n - 1)))
        indptr = [0, *cuts, nnz]
    else:
        indptr = draw(st.lists(st.integers(-1, nnz + 1), min_size=0, max_size=n + 2))
    data = draw(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([np.nan, np.inf, -1.0])),
                         min_size=nnz, max_size=nnz + draw(st.integers(0, 1))))
    return n, np.array(data, dtype=float), np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csr_arrays())
def test_csr_checks_refuse_bad_structure_and_keep_good_matrices_exact(case):
    n, data, indices, indptr = case
    if not _structurally_valid(data.tolist(), indices.tolist(), indptr.tolist(), n) or len(indptr) != n + 1:
        with pytest.raises(RlkitError):
            check_csr_arrays(data, indices, indptr, (n, n), field="P[0]")
        return
    m = check_csr_arrays(data, indices, indptr, (n, n), field="P[0]")
    assert m.has_canonical_format
    np.testing.assert_array_equal(m.toarray(), _dense_reference(data, indices, indptr, n))


def _npz_sparse_mdp(path, indices_row3, *, dtype=np.int64, indptr=None):
    S, arrays = 4, {"P_csr_count": np.array(2), "R": np.zeros((4, 2)), "gamma": np.array(0.9)}
    for a in range(2):
        arrays[f"P_csr_data_{a}"] = np.ones(S)
        arrays[f"P_csr_indices_{a}"] = np.array([1, 2, 3, indices_row3], dtype=dtype)
        arrays[f"P_csr_indptr_{a}"] = np.arange(S + 1) if indptr is None else indptr
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("col", [4, 5, 100_000, -1, 2**40])
def test_out_of_range_column_indices_are_refused_by_name(tmp_path, col):
    path = _npz_sparse_mdp(tmp_path / "m.npz", col)
    with pytest.raises(RlkitError, match=r"m\.npz: P_csr_\*_0: column index .* outside \[0, 4\)"):
        mio.load(path)


@pytest.mark.parametrize("method", ["exact", "policy-iteration", "value-iteration", "gauss-seidel",
                                    "modified-policy-iteration"])
def test_solvers_never_meet_a_bad_csr(tmp_path, cli, method):
    """Before: a segfault (far indices) or wrong values (index S) under these methods."""
    path = _npz_sparse_mdp(tmp_path / "m.npz", 4)
    code, out, err = cli("solve-mdp", str(path), "-m", method)
    assert code == 2 and err.count("error:") == 1 and "column index 4" in err


def test_duplicate_and_unsorted_entries_are_summed_the_way_a_dense_model_reads(tmp_path):
    # row 0 gives 0.25 twice to state 1 and 0.5 to state 0, unsorted; rows 1, 2 absorbing
    data, indices = np.array([0.25, 0.5, 0.25, 1, 1]), np.array([1, 0, 1, 1, 2])
    indptr = np.array([0, 3, 4, 5])
    arrays = {"P_csr_count": np.array(1), "P_csr_data_0": data, "P_csr_indices_0": indices,
              "P_csr_indptr_0": indptr, "kind": np.array("mdp"), "R": np.array([[1.0], [0], [0]]),
              "gamma": np.array(0.5)}
    np.savez(tmp_path / "m.npz", **arrays)
    m = mio.load(tmp_path / "m.npz")
    dense = MDP(np.array([[[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]]]), np.array([[1.0], [0], [0]]), 0.5)
    np.testing.assert_array_equal(m.P[0].toarray(), dense.P[0])
    assert m.P[0].has_canonical_format


def test_a_handmade_scipy_matrix_with_bad_indices_is_refused_too():
    bad = sp.csr_array((np.ones(2), np.array([0, 7]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(RlkitError, match=r"P\[0\]: column index 7"):
        MDP([bad], np.zeros((2, 1)), 0.9)


@pytest.mark.parametrize("arrays, message", [
    ({"P": np.array(["a", "b"])}, "P.*dtype"),
    ({"P": np.eye(2)[None, None]}, "P.*shape"),
    ({"P": np.eye(2), "R": np.zeros(2), "gamma": np.array("x")}, "gamma.*dtype"),
    ({"P": np.eye(2), "R": np.zeros(2), "gamma": np.array([0.9, 0.8])}, "gamma.*single value"),
    ({"P": np.eye(2), "R": np.zeros(2), "gamma": np.array(0.9), "states": np.array([["a"], ["b"]])},
     "states.*shape"),
    ({"P": np.eye(2), "R": np.zeros(2), "gamma": np.array(0.9), "terminal": np.array([0.5, 1.0])},
     "terminal.*dtype"),
    ({"P": np.eye(2), "meta_json": np.array(1.0)}, "meta_json.*dtype"),
    ({"P": np.eye(2), "meta_json": np.array("[1, 2]")}, "meta_json.*JSON object"),
    ({"P": np.eye(2), "meta_json": np.array('{"grid": "ab"}')}, "meta grid"),
    ({"P": np.eye(2), "meta_json": np.array('{"x": ' + "9" * 5000 + "}")}, "meta_json"),
    ({"P": np.eye(2), "meta_json": np.array("[" * 100_000 + "]" * 100_000)}, "meta_json"),
    ({"P": np.eye(2), "R": np.zeros(2), "gamma": np.array(0.9), "initial": np.array([0.7, 0.7])},
     "meta initial"),
    ({"P_csr_count": np.array(3), "P_csr_data_0": np.ones(1), "P_csr_indices_0": np.zeros(1, int),
      "P_csr_indptr_0": np.array([0, 1])}, "P_csr_count is 3"),
    ({"P_csr_count": np.array([1, 2])}, "P_csr_count.*single value"),
    ({"P_csr_count": np.array(1), "P_csr_data_0": np.ones(1), "P_csr_indices_0": np.zeros(1),
      "P_csr_indptr_0": np.array([0, 1])}, "indices has dtype float64"),
    ({"P_csr_count": np.array(1), "P_csr_data_0": np.ones(2), "P_csr_indices_0": np.zeros(2, int),
      "P_csr_indptr_0": np.array([0, 2, 1])}, "indptr decreases"),
    ({"P_csr_count": np.array(1), "P_csr_data_0": np.ones(2), "P_csr_indices_0": np.zeros(2, int),
      "P_csr_indptr_0": np.array([0, 1])}, "indptr ends at 1"),
])
def test_odd_npz_fields_in_rlkits_layout_are_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(RlkitError, match=message):
        mio.load(tmp_path / "m.npz")


def test_object_arrays_are_never_unpickled(tmp_path):
    np.savez(tmp_path / "m.npz", P=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(RlkitError, match="Python objects"):
        mio.load(tmp_path / "m.npz")


def test_an_npz_whose_arrays_would_not_fit_is_refused_before_reading(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "m.npz", P=np.eye(300), R=np.zeros(300), gamma=np.array(0.9))
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "100k")  # the file holds 720 kB of arrays
    with pytest.raises(RlkitError, match="RLKIT_MAX_MEMORY"):
        mio.load(tmp_path / "m.npz")
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "10M")
    assert mio.load(tmp_path / "m.npz").n_states == 300


# ------------------------------------------------------------------------------------------------
# YAML / JSON documents
# ------------------------------------------------------------------------------------------------

def _alias_bomb(levels: int) -> str:
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "kind: mrp\ngamma: 0.9\ntransitions: {s: s}\nmeta:\n  " + "\n  ".join(lines) + "\n"


@pytest.mark.parametrize("name, text, message", [
    ("bomb.yaml", _alias_bomb(12), "expands to more than"),
    ("deep.yaml", "kind: mrp\ngamma: 0.9\ntransitions: {s: s}\nmeta: {x: " + "[" * 5000 + "]" * 5000 + "}\n",
     "nested more than"),
    ("deep.json", '{"kind": "chain", "transitions": {"s": "s"}, "meta": {"x": ' + "[" * 5000 + "]" * 5000
     + "}}", "nested more than"),
    ("deep2.json", '{"kind": "chain", "transitions": {"s": "s"}, "meta": {"x": ' + "[" * 100 + "]" * 100
     + "}}", "nested more than"),
    ("self.yaml", "kind: chain\ntransitions: {s: s}\nmeta: &m {again: *m}\n", "refers to itself"),
    ("digits.yaml", "kind: mrp\ngamma: " + "9" * 5000 + "\ntransitions: {s: s}\n", "more than 4300 digits"),
    ("digits.json", '{"kind": "mrp", "gamma": ' + "9" * 5000 + ', "transitions": {"s": "s"}}',
     "more than 4300 digits"),
    ("big.yaml", "kind: mrp\ngamma: 0.9\ntransitions: {s: s}\nrewards: {s: " + "9" * 400 + "}\n",
     "too large for a float"),
    ("gamma.yaml", "kind: mrp\ngamma: " + "9" * 400 + "\ntransitions: {s: s}\n", "gamma must be"),
    ("frac.yaml", "kind: mrp\ngamma: '1/" + "3" * 1000 + "'\ntransitions: {s: s}\n", "gamma must be"),
    ("grid.yaml", "kind: chain\ntransitions: {s: s}\nmeta: {grid: [2, x]}\n", "meta grid"),
    ("mask.yaml", "kind: mdp\ngamma: 0.9\ntransitions: {s: {a: s}}\nmeta: {action_mask: [[0]]}\n",
     "meta action_mask"),
])
def test_hostile_documents_are_refused_in_one_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RlkitError, match=message) as info:
        mio.load(path)
    assert name in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 400


def test_moderate_aliases_still_work(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("kind: mdp\ngamma: 0.5\ntransitions:\n  a: &go {left: b, right: b}\n  b: *go\n")
    m = mio.load(path)
    assert m.P.shape == (2, 2, 2) and np.allclose(m.P[:, :, 1], 1.0)


def test_a_dense_model_beyond_the_memory_limit_is_refused_before_allocation(tmp_path, monkeypatch):
    n = 400  # P alone takes 8 * 400**2 = 1.28 MB
    path = tmp_path / "ring.yaml"
    path.write_text("kind: chain\ntransitions:\n" + "".join(f"  s{i}: s{(i + 1) % n}\n" for i in range(n)))
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "1M")
    with pytest.raises(RlkitError, match=r"400 states .* RLKIT_MAX_MEMORY"):
        mio.load(path)
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "100M")
    m = mio.load(path)
    assert m.P[n - 1, 0] == 1.0 and m.P.sum() == n


@pytest.mark.parametrize("name, kwargs", [
    ("forest", {"S": 10**12}), ("forest", {"S": 100_000, "sparse": False}), ("gambler", {"goal": 10**5}),
    ("random-walk", {"n": 10**8}), ("jacks-car-rental", {"max_cars": 200}),
])
def test_generator_sizes_that_cannot_be_allocated_are_refused(name, kwargs, monkeypatch):
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "16G")
    with pytest.raises(RlkitError, match="RLKIT_MAX_MEMORY"):
        mio.load(name, env_kwargs=kwargs)


def test_the_memory_limit_can_be_raised_and_must_be_a_size(monkeypatch):
    from rlkit._budget import memory_limit

    monkeypatch.setenv("RLKIT_MAX_MEMORY", "2GiB")
    assert memory_limit() == 2 * 2**30
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "lots")
    with pytest.raises(RlkitError, match="RLKIT_MAX_MEMORY='lots' is not a size"):
        memory_limit()
    monkeypatch.setenv("RLKIT_MAX_MEMORY", "1M")  # a small forest still fits
    assert mio.load("forest", env_kwargs={"S": 10}).n_states == 10


def test_generator_numbers_of_hundreds_of_digits_are_refused():
    with pytest.raises(RlkitError, match="p_h is too large for a float"):
        mio.model_from_dict({"generator": "gambler", "params": {"p_h": 10**400}}, source="m.yaml")
