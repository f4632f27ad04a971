"""Model formats as plugins (rlkit.mdp.formats), the CSV transition list, and the typed model facts.

Numbers are checked against an independent source: the YAML of the same model (round trips), the
files written by rlkit before the typed fields existed (tests/data/main-v0, written by main's
``save``), and hand-computed values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlkit.errors import RlkitError
from rlkit.mdp import MDP, MRP, MarkovChain, policy_iteration
from rlkit.mdp.formats import FORMATS, SUFFIXES, format_of
from rlkit.mdp.io import load, save
from rlkit.mdp.models import start_distribution

OLD = Path(__file__).resolve().parent / "data" / "main-v0"


def by_name(model):
    """P (A, S, S) and R (S, A) with states and actions sorted by name: models whose states come in
    another order compare equal."""
    s = np.argsort(model.states)
    P = model.P if isinstance(model, MDP) else np.asarray(model.P)[None]
    R = model.R if isinstance(model, MDP) else np.zeros((model.n_states, 1)) if isinstance(
        model, MarkovChain) else model.R[:, None]
    a = np.argsort(model.actions) if isinstance(model, MDP) else np.array([0])
    P = np.asarray([np.asarray(P[i].toarray() if hasattr(P[i], "toarray") else P[i]) for i in a])
    return P[:, s][:, :, s], R[s][:, a], np.asarray(model.terminal)[s]


def assert_same_by_name(a, b):
    assert sorted(a.states) == sorted(b.states)
    Pa, Ra, Ta = by_name(a)
    Pb, Rb, Tb = by_name(b)
    np.testing.assert_allclose(Pa, Pb, atol=1e-12)
    np.testing.assert_allclose(Ra, Rb, atol=1e-12)
    np.testing.assert_array_equal(Ta, Tb)


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

def test_one_table_names_every_suffix_and_prefix():
    assert [f.name for f in FORMATS] == ["yaml", "json", "npz", "csv", "gym"]
    assert SUFFIXES == (".yaml", ".yml", ".json", ".npz", ".csv")
    assert format_of("m.CSV").name == "csv" and format_of("m.yml").name == "yaml"
    assert format_of("m.txt") is None
    assert [f.prefix for f in FORMATS if f.prefix] == ["gym:"]


def test_save_refuses_a_read_only_or_unknown_format(tmp_path):
    with pytest.raises(RlkitError, match=r"unsupported suffix '.txt'; use .yaml, .json, .npz or .csv"):
        save(load("student-mdp"), tmp_path / "m.txt")


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

RECYCLING = """\
state,action,next_state,probability,reward
high,search,high,0.7,2
high,search,low,0.3,2
high,wait,high,1,1
low,search,low,0.4,2
low,search,high,0.6,-3
low,wait,low,1,1
low,recharge,high,1,0
"""


def test_csv_mdp_equals_the_yaml_of_the_same_model(tmp_path):
    # S&B Example 3.3 (recycling robot, alpha = 0.7, beta = 0.4, r_search = 2, r_wait = 1, -3 rescued)
    (tmp_path / "robot.csv").write_text(RECYCLING)
    (tmp_path / "robot.yaml").write_text("""\
kind: mdp
gamma: 0.9
transitions:
  high:
    search: [{to: high, p: 0.7, reward: 2}, {to: low, p: 0.3, reward: 2}]
    wait: {to: high, reward: 1}
  low:
    search: [{to: low, p: 0.4, reward: 2}, {to: high, p: 0.6, reward: -3}]
    wait: {to: low, reward: 1}
    recharge: high
""")
    csv_model, yaml_model = load(tmp_path / "robot.csv", gamma=0.9), load(tmp_path / "robot.yaml")
    assert csv_model.states == ["high", "low"] and csv_model.actions == ["search", "wait", "recharge"]
    np.testing.assert_array_equal(csv_model.P, yaml_model.P)
    np.testing.assert_allclose(csv_model.R, yaml_model.R)
    np.testing.assert_array_equal(csv_model.action_mask, yaml_model.action_mask)
    # by hand: R(low, search) = 0.4 * 2 + 0.6 * -3 = -1.0; recharge is not available in high
    assert csv_model.R[1, 0] == pytest.approx(-1.0)
    assert csv_model.action_mask.tolist() == [[True, True, False], [True, True, True]]
    # the rows of (low, search) pay different rewards: kept for the samplers
    assert csv_model.transition_rewards[0, 1].tolist() == [-3.0, 2.0]
    np.testing.assert_allclose(policy_iteration(csv_model).values, policy_iteration(yaml_model).values)


@pytest.mark.parametrize("spec", ["student-mdp", "student-mrp", "gambler", "random-walk", "gridworld-4x4",
                                  "cliff-walking"])
def test_csv_round_trip_matches_the_yaml(tmp_path, spec):
    model = load(spec, env_kwargs={"goal": 10} if spec == "gambler" else None)
    save(model, tmp_path / "m.yaml")
    save(model, tmp_path / "m.csv")
    from_yaml, from_csv = load(tmp_path / "m.yaml"), load(tmp_path / "m.csv")
    assert from_csv.gamma == model.gamma  # from the '# gamma=' line
    assert_same_by_name(from_csv, from_yaml)
    if isinstance(model, MDP):
        order = [from_csv.states.index(s) for s in model.states]
        mask = from_csv.available_actions()[order]
        np.testing.assert_array_equal(mask, model.available_actions())
    if model.transition_rewards is not None:  # random walk: +1 on entering the right end only
        order = [from_csv.states.index(s) for s in model.states]
        Rt = np.asarray(from_csv.transition_rewards)
        Rt = Rt[..., order, :][..., order]
        np.testing.assert_allclose(Rt * (np.asarray(model.P) > 0), np.asarray(model.transition_rewards)
                                   * (np.asarray(model.P) > 0))


def test_csv_chain_and_mrp_without_columns(tmp_path):
    (tmp_path / "chain.csv").write_text("state,next_state,probability\n1,0,0.5\n1,2,0.5\n2,1,0.5\n2,3,0.5\n")
    chain = load(tmp_path / "chain.csv")
    assert isinstance(chain, MarkovChain) and chain.states == ["1", "0", "2", "3"]
    # gambler's ruin from 1 coin, fair: absorbed at 3 with probability 1/3 (closed form i / N)
    absorb = chain.absorption_probabilities()
    assert absorb[0].tolist() == pytest.approx([2 / 3, 1 / 3])
    (tmp_path / "mrp.csv").write_text("# gamma=1\nstate,next_state,probability,reward\n"
                                      "a,a,0.5,1\na,end,0.5,1\n")
    mrp = load(tmp_path / "mrp.csv")
    assert isinstance(mrp, MRP) and mrp.terminal.tolist() == [False, True]
    from rlkit.mdp import solve_mrp

    assert solve_mrp(mrp).values.tolist() == pytest.approx([2.0, 0.0])  # 1 per step, 2 steps on average


def test_csv_from_a_spreadsheet_with_bom_crlf_quotes_and_other_column_order(tmp_path):
    path = tmp_path / "robot.csv"
    rows = RECYCLING.splitlines()
    header, body = rows[0].split(","), [r.split(",") for r in rows[1:]]
    order = [4, 2, 0, 3, 1]                         # reward,next_state,state,probability,action
    text = "\r\n".join(",".join(f'"{r[i]}"' for i in order) for r in [header] + body) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "plain.csv").write_text(RECYCLING)
    a, b = load(path, gamma=0.9), load(tmp_path / "plain.csv", gamma=0.9)
    assert a.states == b.states and a.actions == b.actions
    np.testing.assert_array_equal(a.P, b.P)
    np.testing.assert_array_equal(a.R, b.R)


def test_cli_solves_a_csv_with_gamma(cli, tmp_path):
    path = tmp_path / "robot.csv"
    path.write_text(RECYCLING)
    code, out, err = cli("solve-mdp", str(path), "--gamma", "0.9", "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    yaml_path = tmp_path / "robot.yaml"
    save(load(path, gamma=0.9), yaml_path)
    code, out2, err = cli("solve-mdp", str(yaml_path), "--format", "json")
    assert code == 0, err
    assert got["values"] == pytest.approx(json.loads(out2)["values"])
    assert got["policy_names"] == json.loads(out2)["policy_names"]


@pytest.mark.parametrize("text, message", [
    ("state,action,next_state,probability,reward\na,go,b,x,1\n", r"m.csv line 2: probability: .*'x'"),
    ("state,action,next_state,probability,reward\na,go,b,0.5,1\na,go,a,0.4,0\n",
     r"m.csv line 2: probability: the rows of state 'a', action 'go' .* sum to 0.9"),
    ("state,next_state,probability,colour\n", r"m.csv line 1: header: unknown column 'colour'"),
    ("state,action,next_state,probability,reward\na,go,b,1,lots\n", r"m.csv line 2: reward: "),
    ("state,action,next_state,probability,reward\na,go,b,1\n", r"m.csv line 2: the row has 4 fields"),
    ("state,action,next_state,probability,reward\na,go,b,1.5,0\n", r"m.csv line 2: probability: .*greater"),
    ("state,action,next_state,probability,reward\na,go,b,-1,0\n", r"m.csv line 2: probability: negative"),
    ("state,action,next_state,probability,reward\n,go,b,1,0\n", r"m.csv line 2: state: is empty"),
    ("state,probability\n", r"m.csv line 1: header: missing column 'next_state'"),
    ("state,state,next_state,probability\n", r"m.csv line 1: header: column 'state' is given twice"),
    ("# gamma=2\nstate,next_state,probability,reward\na,a,1,1\n", r"m.csv line 1: gamma = 2.0 is outside"),
    ("state,next_state,probability,reward\na,a,1,1\n", r"m.csv: gamma: missing"),
    ("state,action,next_state,probability,reward\n", r"m.csv line 1: no transitions"),
    ("", r"m.csv: no header row"),
    ('state,next_state,probability\n"a,a,1\n', r"m.csv line \d+: malformed CSV"),
])
def test_bad_csv_rows_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(RlkitError, match=message):
        load(path)


def test_bad_csv_in_the_cli_is_one_error_line(cli, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("state,action,next_state,probability,reward\na,go,b,0.5,1\nb,go,b,1,x\n")
    code, out, err = cli("solve-mdp", str(path), "--gamma", "0.9")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "m.csv line 3: reward" in lines[0]
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# files written before the typed fields (by main's save) load into the fields
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npz", ".yaml"])
def test_old_frozenlake_files_load_into_typed_fields(suffix):
    old = load(OLD / f"lake{suffix}")
    live = load("gym:FrozenLake-v1")
    assert old.grid == live.grid == (4, 4)
    assert old.grid_map == live.grid_map == ["SFFF", "FHFH", "FFFH", "HFFG"]
    np.testing.assert_array_equal(old.start, np.eye(16)[0])
    np.testing.assert_allclose(old.transition_rewards, live.transition_rewards)
    assert old.description == "Gymnasium FrozenLake-v1 (FrozenLakeEnv)"
    assert old.meta["gym_id"] == "FrozenLake-v1"          # free-form stays in meta
    assert "gym_id" in old.meta.free() and "grid" not in old.meta.free()


@pytest.mark.parametrize("suffix", [".npz", ".yaml", ".json"])
def test_old_grid_files_load_into_typed_fields(suffix):
    from rlkit.mdp.io import grid_mdp

    old = load(OLD / f"grid{suffix}")
    fresh = grid_mdp(["SFW", "FHG"], gamma=0.9, slip=0.2, rewards={"G": 1})
    assert old.grid == (2, 3) and old.grid_map == ["SFW", "FHG"]
    np.testing.assert_array_equal(old.start, [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(old.P, fresh.P)


@pytest.mark.parametrize("suffix", [".npz", ".yaml"])
def test_old_masked_and_transition_reward_files(suffix):
    gambler = load(OLD / f"gambler{suffix}")
    # goal 6: from s coins the stakes are 1..min(s, 6 - s) (S&B Example 4.3); 0 and 6 are terminal
    assert gambler.action_mask.sum(axis=1).tolist() == [3, 1, 2, 3, 2, 1, 3]
    assert gambler.name == "gambler"
    walk = load(OLD / f"walk{suffix}")
    assert isinstance(walk, MRP)
    assert walk.transition_rewards[5, 6] == 1.0 and walk.transition_rewards.sum() == 1.0
    np.testing.assert_array_equal(walk.start, np.eye(7)[3])   # S&B: start in C


# --------------------------------------------------------------------------------------------
# typed facts and the meta view
# --------------------------------------------------------------------------------------------

def test_old_meta_keys_read_and_write_the_typed_fields():
    P = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    m = MDP(P, np.array([[1.0], [0.0]]), 0.9, meta={"initial": 0, "grid": (1, 2), "source": "me"})
    np.testing.assert_array_equal(m.start, [1.0, 0.0])
    assert m.grid == (1, 2) and m.meta["grid"] == (1, 2) and m.meta["source"] == "me"
    assert m.meta.free() == {"source": "me"}
    m.meta["initial"] = "s1"
    np.testing.assert_array_equal(m.start, [0.0, 1.0])
    del m.meta["grid"]
    assert m.grid is None and "grid" not in m.meta
    assert m.with_gamma(0.5).start is m.start           # shared, not copied
    with pytest.raises(RlkitError, match="grid: expected"):
        m.grid = (3, 3)


def test_start_is_parsed_by_one_function_everywhere():
    states = ["a", "b", "c"]
    np.testing.assert_array_equal(start_distribution("b", states), [0, 1, 0])
    np.testing.assert_array_equal(start_distribution([0, 2], states), [0.5, 0, 0.5])
    np.testing.assert_array_equal(start_distribution([0, 1, 0], states), [0, 1, 0])   # a one-hot vector
    np.testing.assert_array_equal(start_distribution(None, states, np.array([0, 0, 1], bool)), [0.5, 0.5, 0])
    with pytest.raises(RlkitError, match="terminal states"):
        start_distribution("c", states, np.array([0, 0, 1], bool))
    with pytest.raises(RlkitError, match="sum to 1"):
        start_distribution({"a": 0.5}, states)


def test_uniform_policy_and_greedy_honour_the_mask():
    gambler = load("gambler", env_kwargs={"goal": 4})
    pi = gambler.uniform_policy()
    # 2 coins of 4: stakes 1 and 2 available, each 1/2; 1 coin: stake 1 only
    assert pi[2].tolist()[:2] == [0.5, 0.5] and pi[1].tolist()[0] == 1.0
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    assert (pi[~gambler.available_actions()] == 0).all()
    q = np.zeros((gambler.n_states, gambler.n_actions))
    q[:, -1] = 10.0                                   # the biggest stake looks best everywhere ...
    chosen = gambler.greedy(q)
    assert gambler.available_actions()[np.arange(gambler.n_states), chosen].all()   # ... if available


def test_mrp_as_mdp_and_reachability():
    walk = load("random-walk")
    one = walk.as_mdp()
    assert one.actions == ["step"] and one.meta["source_model"] is walk
    np.testing.assert_array_equal(one.P[0], walk.P)
    np.testing.assert_array_equal(one.start, walk.start)
    np.testing.assert_array_equal(one.transition_rewards[0], walk.transition_rewards)
    lake = load("gym:FrozenLake-v1", env_kwargs={"is_slippery": False})
    right = np.full(16, 2)                           # always right: r0c0 -> r0c1 -> r0c2 -> r0c3 (stuck)
    assert np.flatnonzero(lake.reachable(right)).tolist() == [0, 1, 2, 3]
    assert lake.reachable().sum() == 16 - 0           # every cell can be reached by some moves
    assert lake.reachable(start=5).tolist() == np.eye(16, dtype=bool)[5].tolist()   # a hole: stays


def test_writers_still_write_the_files_of_before(tmp_path):
    """The typed fields are stored under the old keys: YAML/JSON byte for byte, NPZ array for array."""
    from rlkit.mdp.io import grid_mdp

    models = {"lake": load("gym:FrozenLake-v1"), "grid": grid_mdp(["SFW", "FHG"], gamma=0.9, slip=0.2,
                                                                 rewards={"G": 1}),
              "gambler": load("gambler", env_kwargs={"goal": 6}), "walk": load("random-walk")}
    for name, model in models.items():
        for suffix in (".yaml", ".npz") + ((".json",) if name == "grid" else ()):
            path = save(model, tmp_path / f"{name}{suffix}")
            if suffix == ".npz":
                old, new = np.load(OLD / path.name), np.load(path)
                assert sorted(old.files) == sorted(new.files)
                for key in old.files:
                    np.testing.assert_array_equal(old[key], new[key], err_msg=f"{path.name} {key}")
            else:
                assert path.read_text() == (OLD / path.name).read_text(), path.name


def test_a_stored_zero_is_not_an_edge_of_the_reachability_search():
    import scipy.sparse as sp

    from rlkit.mdp.facts import reachable_states

    # 0 -> 1 is stored with probability 0 (as arithmetic on a sparse P can leave it); 0 -> 2 is real
    graph = sp.csr_array((np.array([0.0, 1.0, 1.0, 1.0]), (np.array([0, 0, 1, 2]), np.array([1, 2, 1, 2]))),
                         shape=(3, 3))
    assert graph.nnz == 4
    np.testing.assert_array_equal(reachable_states(graph, np.array([1.0, 0, 0])), [True, False, True])
