"""Benchmark: rlkit's MDP solvers beside pymdptoolbox and a plain scipy baseline.

Cases
  * pymdptoolbox's ``forest`` (S = 1e3 .. 1e6, 2 actions, gamma 0.9), arrays built here (sparse,
    the same numbers as ``mdptoolbox.example.forest``; checked at small S);
  * a random sparse MDP (4 actions, 10 random successors per state-action, gamma 0.9);
  * policy iteration and value iteration (tol 1e-8 for both libraries: rlkit's sup-norm stop,
    pymdptoolbox's span stop with epsilon 1e-8; the scipy baseline uses the sup-norm stop);
  * the dense exact MRP solve at n = 4000 against a bare ``numpy.linalg.solve``.

Each case runs in its own subprocess (fresh interpreter, address space limited to ``--mem-gb``),
timed from the arrays to the solution (model construction + solve), with the peak resident memory of
that process (``ru_maxrss``, interpreter and imports included). Peers get ``--peer-timeout`` seconds
(default 150) per case; when a peer does not finish at some size it is not run at larger ones.
``max |V - V*|`` is measured against rlkit's policy iteration of the same model.

Usage: ``python benchmarks/mdp.py [--quick] [--no-write]``; results go to the ``mdp`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # rlkit from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common

GAMMA = 0.9
TOL = 1e-8


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

def forest_arrays(S: int, r1: float = 4.0, r2: float = 2.0, p: float = 0.1):
    """pymdptoolbox's forest as a list of 2 CSR matrices and R (S, 2), built without Python loops."""
    import scipy.sparse as sp

    rows = np.concatenate([np.arange(S), np.arange(S)])
    cols = np.concatenate([np.zeros(S, dtype=np.int64), np.minimum(np.arange(1, S + 1), S - 1)])
    vals = np.concatenate([np.full(S, p), np.full(S, 1.0 - p)])
    wait = sp.csr_matrix((vals, (rows, cols)), shape=(S, S))
    cut = sp.csr_matrix((np.ones(S), (np.arange(S), np.zeros(S, dtype=np.int64))), shape=(S, S))
    R = np.zeros((S, 2))
    R[S - 1, 0] = r1
    R[:, 1] = 1.0
    R[0, 1] = 0.0
    R[S - 1, 1] = r2
    return [wait, cut], R


def random_arrays(S: int, A: int = 4, k: int = 10, seed: int = 0):
    """A random sparse MDP: each (s, a) moves to k random states with Dirichlet(1) weights."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    P = []
    for _ in range(A):
        cols = rng.integers(0, S, size=(S, k))
        w = rng.exponential(size=(S, k))
        w /= w.sum(axis=1, keepdims=True)
        m = sp.csr_matrix((w.ravel(), cols.ravel(), np.arange(0, S * k + 1, k)), shape=(S, S))
        m.sum_duplicates()
        P.append(m)
    R = rng.uniform(0.0, 1.0, size=(S, A))
    return P, R


def build(family: str, S: int):
    return forest_arrays(S) if family == "forest" else random_arrays(S)


# ---------------------------------------------------------------------------------------------
# the implementations (run inside a case subprocess)
# ---------------------------------------------------------------------------------------------

def run_rlkit(P, R, method: str):
    from rlkit.mdp import MDP, policy_iteration, value_iteration

    mdp = MDP(P, R, GAMMA)
    sol = policy_iteration(mdp) if method == "pi" else value_iteration(mdp, tol=TOL)
    return sol.values, sol.iterations


def run_pymdptoolbox(P, R, method: str):
    import mdptoolbox.mdp

    if method == "pi":
        algo = mdptoolbox.mdp.PolicyIteration(P, R, GAMMA, max_iter=1000)
    else:
        algo = mdptoolbox.mdp.ValueIteration(P, R, GAMMA, epsilon=TOL, max_iter=100_000)
    algo.run()
    return np.asarray(algo.V), algo.iter


def run_scipy(P, R, method: str):
    """What one writes by hand with scipy: spsolve-based PI, sup-norm-stopped VI."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    S, A = R.shape
    P = [sp.csr_matrix(m) for m in P]

    def q_of(v):
        return np.column_stack([R[:, a] + GAMMA * (P[a] @ v) for a in range(A)])

    if method == "pi":
        policy = R.argmax(axis=1)
        eye = sp.identity(S, format="csr")
        for it in range(1, 1001):
            P_pi = sum(sp.diags((policy == a).astype(float)) @ P[a] for a in range(A))
            v = spsolve(sp.csc_matrix(eye - GAMMA * P_pi), R[np.arange(S), policy])
            new = q_of(v).argmax(axis=1)
            if np.array_equal(new, policy):
                return v, it
            policy = new
        return v, it
    v = np.zeros(S)
    for it in range(1, 100_001):  # noqa: B007 (it is returned)
        new = q_of(v).max(axis=1)
        done = np.max(np.abs(new - v)) * GAMMA / (1 - GAMMA) < TOL
        v = new
        if done:
            break
    return v, it


IMPLS = {"rlkit": run_rlkit, "pymdptoolbox": run_pymdptoolbox, "scipy": run_scipy}


def run_case(case: dict, out: str | None) -> dict:
    if case["impl"] == "dense-mrp":
        return run_dense_mrp(case["n"], case["repeat"])
    P, R = build(case["family"], case["S"])
    impl = IMPLS[case["impl"]]
    # import the implementation's modules before the clock starts
    if case["impl"] == "pymdptoolbox":
        import mdptoolbox.mdp  # noqa: F401
    elif case["impl"] == "rlkit":
        import rlkit.mdp  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401

    t0 = time.perf_counter()
    v, iterations = impl(P, R, case["method"])
    seconds = time.perf_counter() - t0
    if out:
        np.save(out, np.asarray(v, dtype=np.float64))
    return {"seconds": seconds, "iterations": int(iterations),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_dense_mrp(n: int, repeat: int) -> dict:
    from rlkit.mdp import MRP, solve_mrp

    rng = np.random.default_rng(0)
    P = rng.random((n, n))
    P /= P.sum(axis=1, keepdims=True)
    R = rng.uniform(-1, 1, n)
    mrp = MRP(P, R, GAMMA)
    A = np.eye(n) - GAMMA * P
    best_np = best_rl = float("inf")
    for _ in range(repeat):                     # alternate so that both see the same machine load
        t0 = time.perf_counter()
        v_np = np.linalg.solve(A, R)
        best_np = min(best_np, time.perf_counter() - t0)
        t0 = time.perf_counter()
        v_rl = solve_mrp(mrp).values
        best_rl = min(best_rl, time.perf_counter() - t0)
    return {"numpy_s": best_np, "rlkit_s": best_rl, "ratio": best_rl / best_np,
            "max_diff": float(np.max(np.abs(v_np - v_rl))),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------

def spawn(case: dict, timeout: float, mem_gb: float, out: str | None) -> dict:
    cmd = [sys.executable, __file__, "--case", json.dumps(case), "--mem-gb", str(mem_gb)]
    if out:
        cmd += ["--out", out]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {timeout:g} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        return {"status": "ok", **json.loads(lines[-1])}
    err = (proc.stderr.strip().splitlines() or ["?"])[-1]
    if "MemoryError" in proc.stderr or "Unable to allocate" in proc.stderr or proc.returncode == -9:
        return {"status": f"out of memory (limit {mem_gb:g} GB)"}
    return {"status": f"failed: {err[:80]}"}


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a minute or two)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--peer-timeout", type=float, default=None, help="seconds per peer case (default 150)")
    ap.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit per case")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.case:                                   # child process: one case
        limit = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        print(json.dumps(run_case(json.loads(args.case), args.out)), flush=True)
        return

    from _common import machine, markdown_table, write_section

    quick = args.quick
    peer_timeout = args.peer_timeout or (20.0 if quick else 150.0)
    forest_sizes = [10**3, 10**4] if quick else [10**3, 10**4, 10**5, 10**6]
    random_sizes = [3000] if quick else [10**5]
    dense_n = 1000 if quick else 4000

    # forest arrays are pymdptoolbox's (checked at a small size)
    import mdptoolbox.example

    P_ref, R_ref = mdptoolbox.example.forest(S=50, is_sparse=True)
    P_ours, R_ours = forest_arrays(50)
    assert all(abs(a - b).max() == 0 for a, b in zip(P_ref, P_ours, strict=True))
    assert np.array_equal(R_ref, R_ours)

    rows = []
    failed: dict[tuple, int] = {}
    tmp = Path(tempfile.mkdtemp(prefix="rlkit-bench-mdp-"))
    cases = [("forest", S) for S in forest_sizes] + [("random", S) for S in random_sizes]
    for family, S in cases:
        vstar_path = tmp / f"{family}-{S}-vstar.npy"
        for method in ("pi", "vi"):
            for impl in ("rlkit", "scipy", "pymdptoolbox"):
                key = (impl, method, family)
                label = f"{family} S={S:.0e}".replace("e+0", "e")
                if key in failed:
                    res = {"status": f"not run (did not finish at S={failed[key]:.0e})".replace("e+0", "e")}
                else:
                    out = tmp / f"{family}-{S}-{impl}-{method}.npy"
                    timeout = 600.0 if impl == "rlkit" else peer_timeout
                    case = {"impl": impl, "method": method, "family": family, "S": S}
                    res = spawn(case, timeout, args.mem_gb, str(out))
                    if res["status"] != "ok":
                        failed[key] = S
                    elif vstar_path.exists():
                        res["err"] = float(np.max(np.abs(np.load(out) - np.load(vstar_path))))
                        out.unlink()
                    elif impl == "rlkit" and method == "pi":
                        out.rename(vstar_path)
                        res["err"] = 0.0
                ok = res["status"] == "ok"
                row = [label, {"pi": "policy iteration", "vi": "value iteration"}[method], impl,
                       fmt_s(res["seconds"]) if ok else res["status"], res.get("iterations", ""),
                       f"{res['peak_mb']:.0f}" if ok else "", f"{res['err']:.1e}" if "err" in res else ""]
                rows.append(row)
                print(" | ".join(str(c) for c in row), flush=True)
        if vstar_path.exists():
            vstar_path.unlink()

    repeat = 3 if quick else 5
    dense = spawn({"impl": "dense-mrp", "n": dense_n, "repeat": repeat}, 1200.0, args.mem_gb, None)
    if dense["status"] == "ok":
        dense_line = (f"Dense exact MRP solve, n = {dense_n}, gamma {GAMMA} (best of {repeat}, alternated): "
                      f"`rlkit.mdp.solve_mrp` {dense['rlkit_s']:.3f} s (building I - gamma P included) "
                      "vs bare "
                      f"`numpy.linalg.solve(A, R)` on a prebuilt A {dense['numpy_s']:.3f} s: ratio "
                      f"**{dense['ratio']:.2f}** (target <= 1.2); max difference {dense['max_diff']:.1e}.")
    else:
        dense_line = f"Dense exact MRP solve, n = {dense_n}: {dense['status']}."
    print(dense_line)

    import mdptoolbox
    import scipy

    body = "\n".join([
        "## MDP solvers (`benchmarks/mdp.py`" + (" --quick" if quick else "") + ")",
        "",
        f"Machine: {machine()}; scipy {scipy.__version__}; pymdptoolbox "
        f"{getattr(mdptoolbox, '__version__', '4.0b3')}. Run {time.strftime('%Y-%m-%d %H:%M')}"
        + (" (quick run: small sizes only)" if quick else "") + ".",
        "",
        f"gamma = {GAMMA}; value iteration to tol {TOL:g} (rlkit and the scipy baseline: sup-norm stop "
        "gamma/(1-gamma)|V_k+1 - V_k| < tol; pymdptoolbox: its span stop with epsilon = tol). "
        "Seconds: from the arrays to the solution (model construction and validation included), one run in a "
        "fresh process. Peak MB: the process's maximum resident memory (interpreter and imports included). "
        f"Peers are stopped after {peer_timeout:g} s; the address space of each case is limited to "
        f"{args.mem_gb:g} GB. max abs(V - V*): against rlkit's policy iteration on the same model. "
        "`scipy` is a plain hand-written baseline (spsolve policy iteration, per-action sparse products).",
        "",
        markdown_table(["model", "method", "implementation", "seconds", "iterations", "peak MB",
                        "max abs(V - V*)"], rows),
        "",
        dense_line,
    ])
    if not args.no_write:
        write_section("mdp", body)
        print("wrote section 'mdp' of docs/benchmarks.md")


if __name__ == "__main__":
    main()
