"""Benchmark: rlkit's MDP solvers beside mdpsolver (C++, OpenMP), pymdptoolbox and a scipy baseline.

Cases
  * pymdptoolbox's ``forest`` (S = 1e5 and 1e6, 2 actions) and a random sparse MDP (S = 1e5,
    4 actions, 10 random successors per state-action with Dirichlet(1) weights), gamma 0.9, all
    built by ``rlkit.mdp.generators`` (the forest arrays equal ``mdptoolbox.example.forest``'s,
    checked at S = 1500) and handed to every library as the same per-action CSR matrices;
  * policy iteration, value iteration and modified policy iteration, tolerance 1e-8 for every
    library (rlkit: |V - V*| < tol proven by MacQueen's bounds; mdpsolver and pymdptoolbox: their
    own stops with that tolerance; the accuracy reached is measured, column ``max abs(V - V*)``);
  * the same table twice: on the machine as it is, and with one core kept busy by a spinner
    process that the benchmark starts before and stops after that table;
  * for value iteration: bytes of P read per sweep x sweeps / seconds, against a stream bandwidth
    measured here with numpy (``a = b + c`` on 3 x 160 MB arrays, best of 5) — the ratio says how
    close a sweep is to the memory limit;
  * ``--ten-million``: forest and random sparse at S = 1e7, rlkit only (section ``mdp-10m``);
  * the dense exact MRP solve at n = 4000 against a bare ``numpy.linalg.solve``.

Every run is its own subprocess (fresh interpreter, address space limited to ``--mem-gb``). rlkit
and mdpsolver run ``--rounds`` times, alternated (rlkit, mdpsolver, rlkit, ...), best of the rounds
reported; pymdptoolbox and the scipy baseline once (they are far behind or do not fit). Two times:
``solve`` (the library's solve call on its own model object) and ``from arrays`` (from the CSR
matrices and R to the solution: rlkit's validating ``MDP(P, R, gamma)``, mdpsolver's conversion to
the nested Python lists its ``mdp()`` takes plus ``mdp()``, pymdptoolbox's constructor).

Usage: ``python benchmarks/mdp.py [--quick] [--rounds N] [--no-write] [--ten-million]``.
"""

from __future__ import annotations

import argparse
import json
import os
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
METHODS = {"pi": "policy iteration", "vi": "value iteration", "mpi": "modified PI"}
HOW = ("How rlkit gets there: value iteration and modified PI move each iterate to the middle of MacQueen's "
       "bounds and stop on their gap (|V - V*| < tol still proven, far fewer sweeps on chains that mix); "
       "policy evaluation first iterates with the same bounds and keeps the answer only when they prove it, "
       "falling back to GMRES and then SuperLU when the contraction it observes is too slow; every sparse "
       "product is one pass over the stacked (A*S, S) CSR matrix in row blocks on the process's cores "
       "(scipy's csr_matvec releases the GIL; blocks from a shared queue, so a core taken by another process "
       "delays one block, not half the sweep), with the max over actions and the change TV - V computed in "
       "the same pass; BLAS is held to one thread in sparse solves (threadpoolctl). Results are bitwise the "
       "same for any `threads`.")
MAIN = ("rlkit", "mdpsolver", "mdpsolver-serial")  # repeated and alternated
OTHERS = ("pymdptoolbox", "scipy")               # once


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

def build(family: str, S: int):
    """The case's model as (list of A canonical CSR matrices, R (S, A))."""
    import scipy.sparse as sp

    from rlkit.mdp.generators import forest, random_sparse

    mdp = forest(S=S, gamma=GAMMA) if family == "forest" else random_sparse(S=S, gamma=GAMMA)
    P = []
    for m in mdp.P:
        m = sp.csr_matrix(m, copy=True)
        m.sum_duplicates()
        P.append(m)
    return P, np.array(mdp.R)


# ---------------------------------------------------------------------------------------------
# the implementations (run inside a case subprocess); each returns (values, iterations, solve s)
# ---------------------------------------------------------------------------------------------

def run_rlkit(P, R, method: str, threads: int | None = None):
    from rlkit.mdp import MDP, modified_policy_iteration, policy_iteration, value_iteration

    mdp = MDP(P, R, GAMMA)
    t0 = time.perf_counter()
    if method == "pi":
        sol = policy_iteration(mdp, threads=threads)
    elif method == "vi":
        sol = value_iteration(mdp, tol=TOL, threads=threads)
    else:
        sol = modified_policy_iteration(mdp, tol=TOL, threads=threads)
    extra = {"bytes_per_sweep": sol.info.get("bytes_per_sweep"), "bytes_read": sol.info.get("bytes_read")}
    return sol.values, sol.iterations, time.perf_counter() - t0, extra


def mdpsolver_lists(P, R):
    """mdpsolver's input: rewards [s][a], tranMatProbs and tranMatColumns [s][a][k]."""
    S = R.shape[0]
    per_action_p, per_action_c = [], []
    for m in P:
        ip, data, cols = m.indptr.tolist(), m.data.tolist(), m.indices.tolist()
        per_action_p.append([data[ip[s]:ip[s + 1]] for s in range(S)])
        per_action_c.append([cols[ip[s]:ip[s + 1]] for s in range(S)])
    probs = [list(t) for t in zip(*per_action_p, strict=True)]
    cols = [list(t) for t in zip(*per_action_c, strict=True)]
    return R.tolist(), probs, cols


def run_mdpsolver(P, R, method: str, threads: int | None = None, parallel: bool = True):
    import mdpsolver

    rewards, probs, cols = mdpsolver_lists(P, R)
    model = mdpsolver.model()
    model.mdp(discount=GAMMA, rewards=rewards, tranMatProbs=probs, tranMatColumns=cols)
    t0 = time.perf_counter()
    model.solve(algorithm=method, tolerance=TOL, update="standard", parallel=parallel)
    seconds = time.perf_counter() - t0
    return np.asarray(model.getValueVector()), -1, seconds, {}


def run_pymdptoolbox(P, R, method: str, threads: int | None = None):
    import mdptoolbox.mdp

    if method == "pi":
        algo = mdptoolbox.mdp.PolicyIteration(P, R, GAMMA, max_iter=1000)
    elif method == "vi":
        algo = mdptoolbox.mdp.ValueIteration(P, R, GAMMA, epsilon=TOL, max_iter=100_000)
    else:
        algo = mdptoolbox.mdp.PolicyIterationModified(P, R, GAMMA, epsilon=TOL, max_iter=100_000)
    t0 = time.perf_counter()
    algo.run()
    return np.asarray(algo.V), algo.iter, time.perf_counter() - t0, {}


def run_scipy(P, R, method: str, threads: int | None = None):
    """What one writes by hand with scipy: spsolve-based PI, sup-norm-stopped VI (no MPI)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    t0 = time.perf_counter()
    S, A = R.shape
    P = [sp.csr_matrix(m) for m in P]

    def q_of(v):
        return np.column_stack([R[:, a] + GAMMA * (P[a] @ v) for a in range(A)])

    if method == "pi":
        policy = R.argmax(axis=1)
        eye = sp.identity(S, format="csr")
        for it in range(1, 1001):  # noqa: B007 (it is returned)
            P_pi = sum(sp.diags((policy == a).astype(float)) @ P[a] for a in range(A))
            v = spsolve(sp.csc_matrix(eye - GAMMA * P_pi), R[np.arange(S), policy])
            new = q_of(v).argmax(axis=1)
            if np.array_equal(new, policy):
                break
            policy = new
        return v, it, time.perf_counter() - t0, {}
    v = np.zeros(S)
    for it in range(1, 100_001):  # noqa: B007 (it is returned)
        new = q_of(v).max(axis=1)
        done = np.max(np.abs(new - v)) * GAMMA / (1 - GAMMA) < TOL
        v = new
        if done:
            break
    return v, it, time.perf_counter() - t0, {}


def run_mdpsolver_serial(P, R, method: str, threads: int | None = None):
    return run_mdpsolver(P, R, method, threads, parallel=False)


IMPLS = {"rlkit": run_rlkit, "mdpsolver": run_mdpsolver, "mdpsolver-serial": run_mdpsolver_serial,
         "pymdptoolbox": run_pymdptoolbox, "scipy": run_scipy}


def run_case(case: dict, out: str | None) -> dict:
    if case["impl"] == "dense-mrp":
        return run_dense_mrp(case["n"], case["repeat"])
    if case["impl"] == "rlkit-10m":
        return run_ten_million(case["family"], case["method"], case.get("S", 10**7))
    P, R = build(case["family"], case["S"])
    impl = IMPLS[case["impl"]]
    # import the implementation's modules before the clock starts
    if case["impl"] == "pymdptoolbox":
        import mdptoolbox.mdp  # noqa: F401
    elif case["impl"].startswith("mdpsolver"):
        import mdpsolver  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401

    import rlkit.mdp  # noqa: F401

    t0 = time.perf_counter()
    v, iterations, solve_s, extra = impl(P, R, case["method"])
    seconds = time.perf_counter() - t0
    if out:
        np.save(out, np.asarray(v, dtype=np.float64))
    return {"seconds": seconds, "solve_s": solve_s, "iterations": int(iterations), **extra,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_ten_million(family: str, method: str, S: int = 10**7) -> dict:
    from rlkit.mdp import policy_iteration, value_iteration
    from rlkit.mdp.generators import forest, random_sparse

    t0 = time.perf_counter()
    mdp = forest(S=S, gamma=GAMMA) if family == "forest" else random_sparse(S=S, gamma=GAMMA)
    build_s = time.perf_counter() - t0
    if method == "backup":                     # one value-iteration sweep (after one to warm up)
        from rlkit.mdp.dp import _Backup
        from rlkit.mdp.exact import resolve_threads

        backup = _Backup(mdp, resolve_threads(None))
        v = backup(np.zeros(S))[0].copy()
        t1 = time.perf_counter()
        backup(v)
        solve_s = time.perf_counter() - t1
        return {"seconds": build_s + solve_s, "build_s": build_s, "solve_s": solve_s, "iterations": 1,
                "bytes_per_sweep": backup.bytes_per_sweep, "bytes_read": backup.bytes_per_sweep,
                "nnz": int(mdp._P_stack.nnz),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    t1 = time.perf_counter()
    sol = policy_iteration(mdp) if method == "pi" else value_iteration(mdp, tol=TOL)
    solve_s = time.perf_counter() - t1
    # independent check of the answer: the Bellman optimality residual of the returned values
    from rlkit.mdp import bellman_residual

    return {"seconds": build_s + solve_s, "build_s": build_s, "solve_s": solve_s,
            "iterations": int(sol.iterations), "bellman_residual": bellman_residual(mdp, sol.values),
            "bytes_per_sweep": sol.info.get("bytes_per_sweep"), "bytes_read": sol.info.get("bytes_read"),
            "eliminated": sol.info.get("eliminated"), "nnz": int(mdp._P_stack.nnz),
            "solver": sol.info.get("solver"),
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

def stream_bandwidth(n: int = 20_000_000, repeat: int = 5) -> float:
    """GB/s of ``a = b + c`` (numpy, one thread): 3 arrays of n doubles moved per call."""
    b, c = np.ones(n), np.ones(n)
    a = np.empty(n)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.add(b, c, out=a)
        best = min(best, time.perf_counter() - t0)
    return 3 * 8 * n / best / 1e9


def spawn(case: dict, timeout: float, mem_gb: float, out: str | None, nice: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--case", json.dumps(case), "--mem-gb", str(mem_gb)]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
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
    if "MemoryError" in proc.stderr or "Unable to allocate" in proc.stderr or "bad_alloc" in proc.stderr \
            or proc.returncode in (-9, -6):
        return {"status": f"out of memory (limit {mem_gb:g} GB)"}
    return {"status": f"failed: {err[:80]}"}


class Spinner:
    """A process that keeps one core busy while the ``with`` block runs."""

    def __enter__(self) -> Spinner:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait()


def read_bytes(res: dict) -> float:
    """Bytes of P a value-iteration run read: what the solver counted (the sweep from v = 0 reads
    nothing; action elimination reads the alive rows only), else bytes per sweep x sweeps."""
    return res.get("bytes_read") or res["bytes_per_sweep"] * res["iterations"]


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def label_of(family: str, S: int) -> str:
    return f"{family} S={S:.0e}".replace("e+0", "e")


def measure(cases, rounds: int, mem_gb: float, peer_timeout: float, tmp: Path, skip: set) -> dict:
    """Run every (case, method, implementation); rlkit and mdpsolver ``rounds`` times alternated.

    :return: {(family, S, method, impl): the best run (least solve time; ``seconds`` the least
        from-arrays time over the runs)}.
    """
    runs: dict = {}
    for family, S in cases:
        vstar = tmp / f"{family}-{S}-vstar.npy"
        ref = spawn({"impl": "rlkit", "method": "pi", "family": family, "S": S}, 600, mem_gb, str(vstar))
        for method in METHODS:
            for r in range(rounds):
                for impl in (*MAIN, *(OTHERS if r == 0 else ())):
                    key = (family, S, method, impl)
                    if impl == "scipy" and method == "mpi":
                        continue
                    if (impl, method, family) in skip:
                        runs[key] = [{"status": "not run (did not finish before)"}]
                        continue
                    out = tmp / "v.npy"
                    limit = 2.0 if impl == "pymdptoolbox" else mem_gb
                    res = spawn({"impl": impl, "method": method, "family": family, "S": S},
                                600.0 if impl in MAIN else peer_timeout, limit, str(out))
                    if res["status"] == "ok" and ref["status"] == "ok":
                        res["err"] = float(np.max(np.abs(np.load(out) - np.load(vstar))))
                    elif res["status"] != "ok" and impl in OTHERS:
                        skip.add((impl, method, family))
                    runs.setdefault(key, []).append(res)
                    print(label_of(family, S), method, impl, r, res.get("solve_s", res["status"]),
                          res.get("seconds", ""), flush=True)
    best = {}
    for key, rs in runs.items():
        ok = [x for x in rs if x["status"] == "ok"]
        if not ok:
            best[key] = rs[-1]
            continue
        top = dict(min(ok, key=lambda x: x["solve_s"]))
        top["seconds"] = min(x["seconds"] for x in ok)
        top["runs"] = len(ok)
        best[key] = top
    return best


def table(results: dict, cases, bandwidth: float) -> str:
    from _common import markdown_table

    rows = []
    for family, S in cases:
        for method in METHODS:
            # the faster mdpsolver of the two (OpenMP or serial) is the one to beat
            peers = [results.get((family, S, method, m), {}) for m in ("mdpsolver", "mdpsolver-serial")]
            peers = [m for m in peers if m.get("status") == "ok"]
            ms = {"status": "ok", "solve_s": min(m["solve_s"] for m in peers),
                  "seconds": min(m["seconds"] for m in peers)} if peers else {}
            for impl in (*MAIN, *OTHERS):
                res = results.get((family, S, method, impl))
                if res is None:
                    continue
                ok = res["status"] == "ok"
                ratio_solve = ratio_arrays = bw = ""
                if impl == "rlkit" and ok and ms.get("status") == "ok":
                    ratio_solve = f"**{res['solve_s'] / ms['solve_s']:.2f}**"
                    ratio_arrays = f"**{res['seconds'] / ms['seconds']:.2f}**"
                if impl == "rlkit" and ok and method == "vi" and res.get("bytes_per_sweep"):
                    gbs = read_bytes(res) / res["solve_s"] / 1e9
                    bw = f"{gbs:.1f} GB/s = {gbs / bandwidth:.2f}"
                rows.append([label_of(family, S), METHODS[method], impl,
                             fmt_s(res["solve_s"]) if ok else res["status"],
                             fmt_s(res["seconds"]) if ok else "",
                             ratio_solve, ratio_arrays,
                             (res["iterations"] if res.get("iterations", -1) >= 0 else "") if ok else "",
                             f"{res['peak_mb']:.0f}" if ok else "",
                             f"{res['err']:.1e}" if "err" in res else "", bw])
    return markdown_table(["model", "method", "implementation", "solve s", "from arrays s",
                           "rlkit/mdpsolver solve", "rlkit/mdpsolver from arrays", "iterations",
                           "peak MB", "max abs(V - V*)", "VI: P bytes read / s = x stream"], rows)


#: The target of the S = 1e7 rows (issue 11): build and solve in under this many seconds and GB.
TARGET_S, TARGET_GB = 60.0, 8.0
#: Niceness the S = 1e7 rows add to the driver's: 0, a timing run at the priority it is started
#: with (under the shared lock; the other jobs on this machine run at 10-19).
TEN_MILLION_NICE = 0


def ten_million(mem_gb: float, write: bool, timeout: float, S: int = 10**7) -> None:
    from _common import machine, markdown_table, write_section

    bandwidth = stream_bandwidth()
    load0 = os.getloadavg()
    rows = []
    cases = [("forest", "pi"), ("forest", "vi"), ("random", "pi"), ("random", "vi"), ("random", "backup")]
    for family, method in cases:
        res = spawn({"impl": "rlkit-10m", "family": family, "method": method, "S": S}, timeout, mem_gb, None,
                    nice=TEN_MILLION_NICE)
        ok = res["status"] == "ok"
        bw = verdict = ""
        if ok and method in ("vi", "backup"):
            gbs = read_bytes(res) / res["solve_s"] / 1e9
            bw = f"{gbs:.1f} GB/s = {gbs / bandwidth:.2f}"
        if method != "backup":
            fits = ok and res["peak_mb"] / 1024 < TARGET_GB
            verdict = "met" if fits and res["seconds"] < TARGET_S else "not met"
            if verdict != "met" and fits and res["solve_s"] < TARGET_S:
                verdict += f" (solve alone < {TARGET_S:g} s)"
        label = METHODS.get(method, "one VI sweep (no solve)")
        if ok and res.get("eliminated"):
            label += f" (action elimination: {100 * res['eliminated']:.0f}% of (s, a) dropped)"
        row = [label_of(family, S), label,
               f"{res.get('nnz', 0):.1e}" if ok else "",
               fmt_s(res["build_s"]) if ok else res["status"], fmt_s(res["solve_s"]) if ok else "",
               fmt_s(res["seconds"]) if ok else "", res.get("iterations", ""),
               f"{res['peak_mb'] / 1024:.2f}" if ok else "",
               f"{res['bellman_residual']:.1e}" if ok and "bellman_residual" in res else "", bw, verdict]
        rows.append(row)
        print(" | ".join(str(c) for c in row), flush=True)
    load = os.getloadavg()
    body = "\n".join([
        "### Ten million states (`benchmarks/mdp.py --ten-million`)",
        "",
        f"Machine: {machine()}; stream bandwidth (numpy a = b + c) {bandwidth:.1f} GB/s; load average "
        f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} (1/5/15 min) at the start, "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end. "
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, each row once in a fresh process at nice "
        f"{os.nice(0) + TEN_MILLION_NICE}, "
        f"address space limited to {mem_gb:g} GB, stopped after {timeout:g} s. rlkit only (mdpsolver's "
        "input is nested Python lists: 4*10^8 floats do not fit; pymdptoolbox densifies). Build: the "
        "generator (`rlkit.mdp.generators.forest` / `random_sparse`, straight into the stacked CSR arrays); "
        "Bellman residual: max |max_a Q(s, a) - V(s)| of the returned values, computed afterwards. "
        "VI bandwidth: the bytes of P the sweeps read (the first sweep, from V = 0, reads nothing; with "
        "action elimination only the rows of the actions still alive) over the solve seconds. "
        f"Target: build + solve under {TARGET_S:g} s and peak resident memory under {TARGET_GB:g} GB. "
        "The last row times one value-iteration sweep of the random model alone (the second of two).",
        "",
        markdown_table(["model", "method", "nnz(P)", "build s", "solve s", "total s", "iterations",
                        "peak GB", "Bellman residual", "VI: P bytes read / s = x stream",
                        f"target < {TARGET_S:g} s, < {TARGET_GB:g} GB"], rows),
    ])
    if write:
        write_section("mdp-10m", body)
        print("wrote section 'mdp-10m' of docs/benchmarks.md")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one round (a few minutes)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of rlkit / mdpsolver (default 3)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--no-busy", action="store_true", help="skip the table with one core kept busy")
    ap.add_argument("--ten-million", action="store_true",
                    help="only the S = 1e7 rows (heavy: run at a quiet moment)")
    ap.add_argument("--peer-timeout", type=float, default=60.0, help="seconds per pymdptoolbox / scipy run")
    ap.add_argument("--row-timeout", type=float, default=300.0, help="seconds per --ten-million row")
    ap.add_argument("--ten-million-S", type=int, default=10**7, help=argparse.SUPPRESS)  # smaller: a dry run
    ap.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit per run")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.case:                                   # child process: one case
        limit = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        print(json.dumps(run_case(json.loads(args.case), args.out)), flush=True)
        return
    if args.ten_million:
        ten_million(max(args.mem_gb, 8.0), not args.no_write, args.row_timeout, args.ten_million_S)
        return

    from _common import machine, write_section

    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    cases = ([("forest", 10**4), ("random", 10**4)] if quick
             else [("forest", 10**5), ("forest", 10**6), ("random", 10**5)])
    dense_n = 1000 if quick else 4000

    # forest arrays are pymdptoolbox's
    import mdptoolbox.example

    P_ref, R_ref = mdptoolbox.example.forest(S=1500, is_sparse=True)
    P_ours, R_ours = build("forest", 1500)
    assert all(abs(a - b).max() == 0 for a, b in zip(P_ref, P_ours, strict=True))
    assert np.array_equal(R_ref, R_ours)

    tmp = Path(tempfile.mkdtemp(prefix="rlkit-bench-mdp-"))
    skip: set = set()
    load0 = os.getloadavg()
    bw_quiet = stream_bandwidth()
    quiet = measure(cases, rounds, args.mem_gb, args.peer_timeout, tmp, skip)
    load1 = os.getloadavg()
    tables = [("as the machine was", quiet, bw_quiet, load0, load1)]
    if not args.no_busy:
        with Spinner():
            load2 = os.getloadavg()
            bw_busy = stream_bandwidth()
            busy = measure(cases, rounds, args.mem_gb, args.peer_timeout, tmp, skip)
            load3 = os.getloadavg()
        tables.append(("one core kept busy by a spinner process", busy, bw_busy, load2, load3))

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

    from importlib.metadata import version

    import mdpsolver  # noqa: F401
    import mdptoolbox
    import scipy

    parts = [
        "## MDP solvers (`benchmarks/mdp.py`" + (" --quick" if quick else "") + ")",
        "",
        f"Machine: {machine()}; scipy {scipy.__version__}; mdpsolver {version('mdpsolver')}; pymdptoolbox "
        f"{getattr(mdptoolbox, '__version__', '4.0b3')}. Run {time.strftime('%Y-%m-%d %H:%M')}"
        + (" (quick run: small sizes only)" if quick else "") + ". The machine is shared with other "
        "engineers' jobs: the load averages below say how busy it was; compare the ratios (measured in the "
        "same minutes, alternated), not the seconds across tables.",
        "",
        f"gamma = {GAMMA}; tolerance {TOL:g} for every library and method (rlkit: |V - V*| < tol proven by "
        "MacQueen's bounds for VI and MPI, verified linear solves for PI; mdpsolver and pymdptoolbox: their "
        "own stopping rules at that tolerance; the scipy baseline: sup-norm stop). MPI: each library's "
        "default partial evaluation (rlkit m = 10 sweeps, mdpsolver parIterLim = 100, pymdptoolbox its "
        "default). "
        f"rlkit and mdpsolver: best of {rounds} runs, alternated, each in a fresh process; rlkit with its "
        "default threads (the cores of the process); mdpsolver twice, with `parallel=True` (OpenMP, all "
        "cores) and `parallel=False` (`mdpsolver-serial`): the ratios are against the faster of the two. "
        "pymdptoolbox and the scipy baseline: one run (pymdptoolbox densifies P: it is given a 2 GB address "
        f"space and fails fast; peers are stopped after {args.peer_timeout:g} s). "
        "`solve s`: the solve call on the library's own model object; `from arrays s`: from the per-action "
        "CSR matrices and R to the solution (rlkit's validating constructor; mdpsolver's conversion to "
        "nested lists and its `mdp()`). Ratios below 1: rlkit faster. Peak MB: the process's maximum "
        "resident memory. max abs(V - V*): against rlkit's policy iteration. Last column, VI: bytes of P "
        "read per sweep (values, column indices, row pointers) x sweeps / solve seconds, and that as a "
        "fraction of the stream bandwidth measured before the table.",
        "",
        HOW,
    ]
    for title, res, bw, la, lb in tables:
        text = table(res, cases, bw)
        parts += ["", f"### {title[0].upper() + title[1:]}", "",
                  f"Stream bandwidth (numpy `a = b + c`, best of 5) {bw:.1f} GB/s; load average "
                  f"{la[0]:.1f} at the start, {lb[0]:.1f} at the end (1 min).", "", text]
    parts += ["", dense_line]
    if not args.no_write:
        write_section("mdp", "\n".join(parts))
        print("wrote section 'mdp' of docs/benchmarks.md")


if __name__ == "__main__":
    main()
