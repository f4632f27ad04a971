"""Exact values of a Markov reward process: the matrix Bellman equation ``(I - gamma P) v = R``.

Solved by a linear solve (LAPACK LU for dense ``P``; for sparse ``P`` a verified iteration, verified
GMRES or SuperLU, whichever the model needs), never by an explicit inverse. With ``gamma = 1`` the
system is singular; the values are then the expected total reward until absorption, found by
solving on the transient states only, provided every closed set of states the process can end up in
pays zero reward (terminal states, in the usual case). Otherwise the values are infinite and
:func:`solve_mrp` says which states never terminate.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlkit.errors import RlkitError
from rlkit.mdp.models import MRP, _fmt_states
from rlkit.mdp.solution import Solution

__all__ = ["solve_mrp", "bellman_residual_mrp", "check_terminates", "resolve_threads", "CSRKernel",
           "CSRRowsKernel", "blas_threads"]


# --------------------------------------------------------------------------------------------
# threads: our own row-parallel sparse products; BLAS kept to what the caller allows
# --------------------------------------------------------------------------------------------

def resolve_threads(threads: Any) -> int:
    """The number of threads a solver uses: ``None`` means the cores this process may run on.

    :raises RlkitError: for anything but a positive integer (or None).
    """
    if threads is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover (not Linux)
            return max(1, os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or int(threads) < 1:
        raise RlkitError(f"threads must be a positive integer (or None for all cores), got {threads!r}")
    return int(threads)


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit the BLAS thread pools (OpenBLAS, MKL) to ``n`` threads inside the block.

    Sparse solves are memory-bound: the level-1 BLAS calls inside GMRES gain nothing from more
    threads, and on a machine where other processes hold cores, a BLAS pool as large as the
    machine makes every call wait for its slowest thread (the random 10^5-state policy iteration
    went from 0.6 s to 11-14 s that way). The dense LU solve is compute-bound and gets ``threads``.
    """
    with _controller().limit(limits=int(n), user_api="blas"):
        yield


@lru_cache(maxsize=8)
def _pool(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="rlkit-mdp")


#: A row block of a parallel product holds at least this many stored entries.
MIN_BLOCK_NNZ = 1 << 18
#: Output rows (all actions together) of one chunk of a block: 256 KB of float64, in a core's L2.
CHUNK_ROWS = 1 << 15


class CSRKernel:
    """``out = b + M @ x`` for a CSR matrix ``M``, in row blocks on ``threads`` threads.

    Each row's sum is computed by the same code whatever the number of threads (scipy's
    ``csr_matvec``, which releases the GIL, on a block of rows), so the result is bitwise the
    same with 1 or N threads. The blocks hold about equal numbers of stored entries, and there are
    four per thread, taken from a shared queue: a thread that loses its core to another process
    delays one small block, not half the product.

    ``groups = A`` reads ``M`` as A stacked (S, S) blocks (the (A*S, S) operator of an MDP): a
    block of the product is then a range of states ``[s0, s1)`` under every action, done in
    chunks of :data:`CHUNK_ROWS` output rows, so that ``post(c0, c1)`` (the max over actions,
    say) runs on each chunk in the same thread, while it is still in cache.

    :param M: the matrix (``scipy.sparse`` CSR, float64).
    :param threads: threads (see :func:`resolve_threads`).
    :param groups: number of stacked blocks of rows (1: a plain matrix).
    """

    def __init__(self, M: sp.csr_array, threads: int = 1, groups: int = 1) -> None:
        from scipy.sparse import _sparsetools

        M = M if isinstance(M, (sp.csr_array, sp.csr_matrix)) else sp.csr_array(M)
        if M.data.dtype != np.float64:
            M = M.astype(np.float64)
        self._matvec = _sparsetools.csr_matvec
        self.indptr, self.indices, self.data = M.indptr, M.indices, M.data
        if self.indptr.dtype != self.indices.dtype:
            self.indptr = self.indptr.astype(self.indices.dtype)
        self.shape = M.shape
        self.nnz = int(M.nnz)
        self.threads = int(threads)
        self.groups = int(groups)
        self.n = self.shape[0] // self.groups               # rows per group (states)
        self.chunk = max(1024, CHUNK_ROWS // max(1, self.groups))   # states per chunk of a block
        n_blocks = min(4 * self.threads, max(1, self.nnz // MIN_BLOCK_NNZ)) if self.threads > 1 else 1
        if n_blocks > 1:
            # entries of states [0, s) under every action, on a grid of states (balanced to 1/64 block)
            grid = np.append(np.arange(0, self.n, max(1, self.n // (64 * n_blocks))), self.n)
            cum = sum(self.indptr[a * self.n + grid].astype(np.int64) - int(self.indptr[a * self.n])
                      for a in range(self.groups))
            cuts = grid[np.searchsorted(cum, np.linspace(0, cum[-1], n_blocks + 1)[1:-1])]
        else:
            cuts = np.zeros(0, dtype=np.int64)
        bounds = np.unique(np.concatenate([[0], cuts, [self.n]]).astype(np.int64))
        self.blocks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

    @property
    def bytes(self) -> int:
        """Bytes of ``M`` one product reads (values, column indices, row pointers)."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def _block(self, s0: int, s1: int, x: np.ndarray | None, b: np.ndarray | float, out: np.ndarray | None,
               post: Callable | None) -> list:
        """The rows of states ``[s0, s1)``, in chunks whose output rows (every action) stay in the
        core's cache from being set to ``b``, through the product's adds, to ``post``."""
        n, ptr, results = self.n, self.indptr, []
        for c0 in range(s0, s1, self.chunk):
            c1 = min(s1, c0 + self.chunk)
            for a in range(self.groups if x is not None else 0):
                lo, hi = a * n + c0, a * n + c1
                out[lo:hi] = b if np.ndim(b) == 0 else b[lo:hi]     # csr_matvec adds to what is there
                self._matvec(hi - lo, self.shape[1], ptr[lo:hi + 1], self.indices, self.data, x, out[lo:hi])
            if post is not None:
                results.append(post(c0, c1))
        return results

    def each_chunk(self, post: Callable[[int, int], Any]) -> list:
        """``post(c0, c1)`` over the same blocks and chunks of states as a product, on the same
        threads, with no product (for work on ``out`` that another path filled)."""
        return self._blocks(None, 0.0, None, post)

    def _blocks(self, x: np.ndarray | None, b: np.ndarray | float, out: np.ndarray | None,
                post: Callable | None) -> list:
        if len(self.blocks) == 1:
            return self._block(0, self.n, x, b, out, post)
        per_block = _pool(self.threads).map(lambda blk: self._block(blk[0], blk[1], x, b, out, post),
                                            self.blocks)
        return [r for rs in per_block for r in rs]

    def __call__(self, x: np.ndarray, b: np.ndarray | float = 0.0, out: np.ndarray | None = None,
                 post: Callable[[int, int], Any] | None = None) -> np.ndarray | list:
        """``b + M @ x`` (``out``, if given, is overwritten and returned); with ``post``, the list of
        ``post(c0, c1)`` over the chunks of states instead (``out`` then holds the product)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if out is None:
            out = np.empty(self.shape[0])
        if np.ndim(b) != 0:
            b = np.broadcast_to(np.asarray(b, dtype=np.float64), out.shape)
        results = self._blocks(x, b, out, post)
        return out if post is None else results


class CSRRowsKernel:
    """``out[rows] = b[rows] + M[rows] @ x`` for a subset ``rows`` of the rows of a CSR matrix,
    reading ``M``'s arrays where they are (no copy of the selected rows' entries).

    Value iteration with action elimination (:func:`~rlkit.mdp.value_iteration`) needs the
    products of the rows still alive, about a quarter of the stacked (A*S, S) operator once most
    suboptimal actions are gone; copying those rows out would cost 1.2 GB beside a 4.8 GB model at
    S = 10^7. Instead the rows are handed to scipy's ``csr_matvec`` as *virtual rows*: a row
    pointer array ``[start(r_m), end(r_m), start(r_m-1), end(r_m-1), ...]`` that lists the chosen
    rows in decreasing order, so virtual row ``2j`` is row ``r_j``'s entries and virtual row
    ``2j + 1`` runs from ``end(r_j)`` back to ``start(r_j-1) <= end(r_j)``: empty (csr_matvec's
    loop ``for jj in [Ap[i], Ap[i+1])`` does nothing), its output slot a junk one. Each row's sum
    is the same code as in :class:`CSRKernel`, so the values equal ``M[rows] @ x`` bitwise; the
    cost is the selected rows' entries, a row pointer pair per row and two (2m,) buffers.

    The rows are split into about ``4 * threads`` pieces of equal numbers of entries, run on the
    shared pool; each piece writes its own slice of ``out`` (set from ``b``, summed, scattered).

    :param M: the matrix (``scipy.sparse`` CSR, float64) or a :class:`CSRKernel` of it.
    With ``copy=True`` the chosen rows' entries are copied instead into arrays of their own (12
    bytes an entry), a plain CSR matrix of those rows: read as one stream, not row by row from all
    over ``M``, which is faster (about 1.3x at S = 10^6) when the memory is there; value iteration
    does this once a quarter or less of the rows is left. The sums are the same, bitwise.

    :param rows: the rows, any order, no repeats (sorted internally).
    :param threads: threads (see :func:`resolve_threads`).
    :param copy: copy the rows' entries (see above).
    """

    def __init__(self, M: Any, rows: np.ndarray, threads: int = 1, copy: bool = False) -> None:
        base = M if isinstance(M, CSRKernel) else CSRKernel(M)
        self._matvec, self.shape = base._matvec, base.shape
        self.indices, self.data = base.indices, base.data
        ptr = base.indptr
        r = np.asarray(rows, dtype=np.int64)
        if len(r) > 1 and not (r[1:] > r[:-1]).all():     # np.flatnonzero's rows need no sort
            r = np.sort(r)
        if (len(r) > 1 and not (r[1:] > r[:-1]).all()) or (len(r) and (r[0] < 0 or r[-1] >= self.shape[0])):
            raise ValueError("rows must be distinct row indices of M")
        r = r[::-1]
        self.rows = r.astype(ptr.dtype) if self.shape[0] < np.iinfo(ptr.dtype).max else r
        self.m = m = len(r)
        self.vptr = np.empty(2 * m, dtype=ptr.dtype)
        self.vptr[0::2] = ptr[r]
        self.vptr[1::2] = ptr[r + 1]
        self.y = np.zeros(max(0, 2 * m - 1))
        self.nnz = int((self.vptr[1::2].astype(np.int64) - self.vptr[0::2]).sum())
        self.copied = bool(copy)
        self.threads = int(threads)
        n_pieces = min(4 * self.threads, max(1, self.nnz // MIN_BLOCK_NNZ)) if self.threads > 1 else 1
        if n_pieces > 1 and m > 1:
            cum = np.cumsum(self.vptr[1::2].astype(np.int64) - self.vptr[0::2])
            cuts = np.searchsorted(cum, np.linspace(0, cum[-1], n_pieces + 1)[1:-1])
        else:
            cuts = np.zeros(0, dtype=np.int64)
        bounds = np.unique(np.concatenate([[0], cuts, [m]]).astype(np.int64))
        self.pieces = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        if self.copied:
            self._copy_rows()

    def _copy_rows(self, chunk: int = 1 << 16) -> None:
        """The rows' entries into arrays of their own, in the same (descending) row order."""
        starts, ends = self.vptr[0::2], self.vptr[1::2]
        it = np.int64 if self.nnz >= np.iinfo(self.indices.dtype).max else self.indices.dtype
        ptr = np.zeros(self.m + 1, dtype=it)
        np.cumsum(ends.astype(np.int64) - starts, out=ptr[1:])
        indices, data = np.empty(self.nnz, dtype=it), np.empty(self.nnz)   # csr_matvec: one index type
        for j0 in range(0, self.m, chunk):
            j1 = min(self.m, j0 + chunk)
            lo, hi = int(ptr[j0]), int(ptr[j1])
            # entry e of the chunk comes from starts[j] + (e - ptr[j]) for its row j
            src = np.repeat(starts[j0:j1].astype(np.int64) - ptr[j0:j1], np.diff(ptr[j0:j1 + 1]))
            src += np.arange(lo, hi)
            indices[lo:hi] = self.indices[src]
            data[lo:hi] = self.data[src]
        self.indices, self.data, self.vptr = indices, data, ptr
        self.y = np.zeros(self.m)

    @property
    def bytes(self) -> int:
        """Bytes one product reads: the rows' entries (values, columns) and the row pointers."""
        return int(self.nnz * (self.data.itemsize + self.indices.itemsize) + self.vptr.nbytes)

    def _piece(self, j0: int, j1: int, x: np.ndarray, b: np.ndarray | float, out: np.ndarray) -> None:
        if j1 <= j0:
            return
        if self.copied:
            rows, y = self.rows[j0:j1], self.y[j0:j1]
            y[:] = b if np.ndim(b) == 0 else b[rows]
            self._matvec(j1 - j0, self.shape[1], self.vptr[j0:j1 + 1], self.indices, self.data, x, y)
            out[rows] = y
            return
        rows, y = self.rows[j0:j1], self.y[2 * j0:2 * j1 - 1]
        y[0::2] = b if np.ndim(b) == 0 else b[rows]        # csr_matvec adds to what is there
        self._matvec(2 * (j1 - j0) - 1, self.shape[1], self.vptr[2 * j0:2 * j1], self.indices, self.data, x,
                     y)
        out[rows] = y[0::2]

    def __call__(self, x: np.ndarray, b: np.ndarray | float = 0.0,
                 out: np.ndarray | None = None) -> np.ndarray:
        """``out[rows] = b[rows] + M[rows] @ x``; the other entries of ``out`` are left as they are
        (``out``: the caller's (n_rows,) buffer, or a new one of NaN)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if out is None:
            out = np.full(self.shape[0], np.nan)
        if len(self.pieces) == 1:
            self._piece(0, self.m, x, b, out)
        else:
            list(_pool(self.threads).map(lambda p: self._piece(p[0], p[1], x, b, out), self.pieces))
        return out


def bellman_residual_mrp(mrp: MRP, v: np.ndarray) -> float:
    """``max_s |R + gamma P v - v|``."""
    if mrp.n_states == 0:
        return 0.0
    return float(np.max(np.abs(mrp.R + mrp.gamma * (mrp.P @ v) - v)))


def check_terminates(mrp: MRP) -> tuple[np.ndarray, np.ndarray]:
    """For ``gamma = 1``: check that every run ends up where no more reward is paid.

    :return: ``(transient, recurrent)`` state indices; the values on the recurrent states are 0.
    :raises RlkitError: naming the states of closed sets that keep paying reward (their runs
        never terminate and the undiscounted values are infinite).
    """
    chain = mrp.chain
    _, classes, class_of = chain._structure
    recurrent = np.flatnonzero(class_of >= 0)
    paying = recurrent[mrp.R[recurrent] != 0]
    if len(paying):
        # name the whole closed sets that pay reward, starting with the first one
        bad = np.concatenate([classes[k] for k in np.unique(class_of[paying])])
        raise RlkitError(
            f"gamma = 1 but the runs from state(s) {_fmt_states(mrp.states, bad)} never terminate (they stay "
            "in a closed set of states that keeps paying reward, so the undiscounted values are infinite); "
            "use gamma < 1 or give those states a transition to a terminal state")
    return np.flatnonzero(class_of < 0), recurrent


def _solve_dense(P: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Solve (I - gamma P) v = R with LAPACK getrf/getrs, building the matrix once and copying
    nothing else: the C-ordered M = I - gamma P is, read in Fortran order, M^T; getrf factorises
    that in place and getrs solves with trans=1, i.e. (M^T)^T v = M v = R.
    (``numpy.linalg.solve`` would copy M into a Fortran-ordered buffer first.)"""
    from scipy.linalg import lapack

    n = P.shape[0]
    M = np.multiply(P, -gamma)
    M.reshape(-1)[:: n + 1] += 1.0
    getrf, getrs = lapack.get_lapack_funcs(("getrf", "getrs"), (M,))
    lu, piv, info = getrf(M.T, overwrite_a=True)
    if info == 0:
        v, info = getrs(lu, piv, np.asarray(R, dtype=np.float64), trans=1)
    if info != 0 or not np.isfinite(v).all():
        raise RlkitError("the Bellman system I - gamma P is singular; check that every run terminates "
                         "(gamma = 1) or use gamma < 1")
    return v


def _solve_sparse_lu(P: sp.csr_array, R: np.ndarray, gamma: float) -> np.ndarray:
    from scipy.sparse.linalg import MatrixRankWarning, spsolve

    n = P.shape[0]
    M = sp.csc_array(sp.identity(n, format="csr", dtype=np.float64) - gamma * P)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", MatrixRankWarning)
        try:
            v = spsolve(M, R)
        except MatrixRankWarning:
            raise RlkitError("the Bellman system I - gamma P is singular; check that every run terminates "
                             "(gamma = 1) or use gamma < 1") from None
    return np.asarray(v, dtype=np.float64).reshape(n)


#: Accuracy the iterative and Krylov paths must prove:
#: ``|v - v_exact|_inf <= KRYLOV_TOL * max(1, |v|_inf)``.
KRYLOV_TOL = 1e-10

#: The bounded iteration of ``method="auto"`` gives up when it foresees more sweeps than this.
MAX_AUTO_SWEEPS = 60
#: ... and the one of ``method="iteration"`` after this many.
MAX_ITERATION_SWEEPS = 100_000


def span_bounds(lo: float, hi: float, gamma: float) -> tuple[float, float]:
    """MacQueen's bounds (Puterman, Thm 6.6.3): for the Bellman operator ``T`` of a discounted
    model with stochastic ``P`` and any ``v``, with ``d = Tv - v``, ``lo = min d``, ``hi = max d``:
    ``Tv + gamma/(1-gamma) lo <= V* <= Tv + gamma/(1-gamma) hi``.

    :return: ``(shift, bound)``: ``Tv + shift`` (the midpoint) is within ``bound`` of ``V*``,
        ``shift = gamma/(1-gamma) (hi + lo)/2``, ``bound = gamma/(1-gamma) (hi - lo)/2``.

    Example (a one-state MRP paying 1, gamma 0.5, from v = 0: Tv = 1, V* = 2)::

        >>> span_bounds(1.0, 1.0, 0.5)
        (1.0, 0.0)
    """
    k = gamma / (1.0 - gamma)
    return k * (hi + lo) / 2.0, k * (hi - lo) / 2.0


def _accurate(bound: float, v: np.ndarray, scale: float | None = None) -> bool:
    """``bound <= KRYLOV_TOL * max(1, |v|_inf)`` (``scale``: that max, if the caller has it)."""
    if scale is None:
        scale = max(1.0, float(v.max()), -float(v.min())) if len(v) else 1.0
    return bool(np.isfinite(bound)) and bound <= KRYLOV_TOL * scale


def _solve_sparse_iteration(kernel: CSRKernel, R: np.ndarray, gamma: float, x0: np.ndarray | None,
                            max_sweeps: int, foresee: bool) -> tuple[np.ndarray | None, float, int]:
    """``v <- R + gamma P v + shift`` with MacQueen's bounds (:func:`span_bounds`), until they prove
    ``|v - v_exact| <= KRYLOV_TOL`` (relative). On well-mixing chains (a random sparse MDP) the
    span of the change shrinks by far more than ``gamma`` per sweep, so this takes a few dozen
    sparse products and nothing else. ``foresee``: give up as soon as the observed contraction
    rate says that ``max_sweeps`` will not suffice (then the caller tries GMRES or LU).

    :return: ``(v or None, error bound, sweeps)``.
    """
    n = kernel.shape[0]
    v = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64)
    if n == 0:
        return v, 0.0, 1
    new, d, gv = np.empty(n), np.empty(n), np.empty(n)
    bound, first = np.inf, None

    def post(c0: int, c1: int) -> tuple[float, float, float, float]:
        # on a chunk still in cache: the change's and the new values' extremes
        seg = new[c0:c1]
        np.subtract(seg, v[c0:c1], out=d[c0:c1])
        return float(d[c0:c1].min()), float(d[c0:c1].max()), float(seg.min()), float(seg.max())

    for k in range(1, max_sweeps + 1):
        stats = kernel(np.multiply(v, gamma, out=gv), R, out=new, post=post)
        shift, bound = span_bounds(min(t[0] for t in stats), max(t[1] for t in stats), gamma)
        new += shift
        v, new = new, v
        # max |v| after the shift, exactly (rounding is monotone): from the chunks' extremes
        scale = max(1.0, max(t[3] for t in stats) + shift, -(min(t[2] for t in stats) + shift))
        if _accurate(bound, v, scale):
            return v, bound, k
        if k == 2:
            first = bound
        if foresee and k >= 6 and first and bound > 0:
            rate = (bound / first) ** (1.0 / (k - 2))
            target = KRYLOV_TOL * scale
            if rate >= 1.0 or k + np.log(target / bound) / np.log(rate) > max_sweeps:
                break
    return None, bound, k


def _solve_sparse_krylov(kernel: CSRKernel, R: np.ndarray, gamma: float, x0: np.ndarray | None,
                         max_cycles: int) -> tuple[np.ndarray | None, float]:
    """GMRES on ``I - gamma P``; returns (v, error bound) or (None, bound) when not proven accurate.

    For gamma < 1, ``|v - v_exact|_inf <= |R + gamma P v - v|_inf / (1 - gamma)`` for any ``v``, so
    the answer is checked, not trusted.
    """
    from scipy.sparse.linalg import LinearOperator, gmres

    n = kernel.shape[0]
    op = LinearOperator((n, n), matvec=lambda x: x - gamma * kernel(x), dtype=np.float64)
    v, _ = gmres(op, R, x0=x0, rtol=1e-14, atol=0.0, restart=40, maxiter=max_cycles)
    v = np.asarray(v, dtype=np.float64)
    bound = float(np.max(np.abs(kernel(gamma * v, R) - v))) / (1.0 - gamma) if n else 0.0
    return (v if _accurate(bound, v) else None), bound


SPARSE_METHODS = ("auto", "direct", "krylov", "iteration")


def _solve_sparse(P: sp.csr_array, R: np.ndarray, gamma: float, method: str, x0: np.ndarray | None,
                  info: dict, threads: int = 1) -> np.ndarray:
    """The sparse solve: ``auto`` tries the bounded iteration (while it foresees at most
    :data:`MAX_AUTO_SWEEPS` sweeps), then two GMRES cycles, then SuperLU; each answer is checked."""
    if method in ("auto", "iteration", "krylov") and gamma < 1.0:
        kernel = CSRKernel(P, threads)
        if method in ("auto", "iteration"):
            limit = MAX_AUTO_SWEEPS if method == "auto" else MAX_ITERATION_SWEEPS
            v, bound, sweeps = _solve_sparse_iteration(kernel, R, gamma, x0, limit, method == "auto")
            if v is not None:
                info.update(solver="iteration", error_bound=bound, sweeps=sweeps)
                return v
            if method == "iteration":
                raise RlkitError("the bounded iteration did not reach the accuracy asked for "
                                 f"(error bound {bound:.3g}); use method='direct'")
        v, bound = _solve_sparse_krylov(kernel, R, gamma, x0, 2 if method == "auto" else 100)
        if v is not None:
            info.update(solver="krylov", error_bound=bound)
            return v
        if method == "krylov":
            raise RlkitError("the Krylov solver did not reach the accuracy asked for "
                             f"(error bound {bound:.3g}); use method='direct'")
    info["solver"] = "direct"
    return _solve_sparse_lu(P, R, gamma)


def solve_mrp(mrp: MRP, *, method: str = "auto", x0: np.ndarray | None = None,
              threads: int | None = None) -> Solution:
    """Exact values of a reward process by one linear solve.

    ``v = R + gamma P v``, i.e. ``(I - gamma P) v = R``. Dense ``P``: LAPACK ``getrf``/``getrs`` on
    ``I - gamma P``, built once and factorised in place (no copy, unlike ``numpy.linalg.solve``).
    Sparse ``P``: sparse LU fills in badly on random-looking transition graphs (a random 10^4-state
    MDP takes minutes and gigabytes), where a few dozen sparse products suffice. ``method="auto"``
    (gamma < 1) first iterates ``v <- R + gamma P v`` shifted by MacQueen's bounds
    (:func:`span_bounds`), which prove the error after a few dozen sweeps on well-mixing chains,
    and stops early when the observed contraction says it will need more than
    :data:`MAX_AUTO_SWEEPS`; then two GMRES cycles (answer kept only when the bound
    ``|v - v_exact| <= |R + gamma P v - v| / (1 - gamma)`` proves it accurate to :data:`KRYLOV_TOL`,
    relative); then the sparse LU factorisation (SuperLU, ``scipy.sparse.linalg.spsolve``).
    BLAS is kept to one thread for the sparse paths (memory-bound; see :func:`blas_threads`).
    ``gamma = 1``: solved on the transient states (values 0 on closed, zero-reward sets such as
    terminal states); a clear :class:`RlkitError` names the states whose runs never terminate.

    :param mrp: the reward process.
    :param method: ``"auto"``, ``"direct"`` (always LU), ``"krylov"`` or ``"iteration"`` (sparse
        only, gamma < 1; an error when the accuracy cannot be proven).
    :param x0: starting guess for the iterative solvers (e.g. the previous policy's values).
    :param threads: threads of the sparse products and of the dense LU's BLAS (None: all cores).
        Sparse results are bitwise the same for any number of threads.
    :return: :class:`Solution` with ``values``; ``residual`` is the Bellman residual
        ``max |R + gamma P v - v|`` of the result; ``info["solver"]`` says which solver ran.

    Example (D. Silver's student MRP, lecture 2, gamma = 1)::

        >>> import numpy as np
        >>> from rlkit.mdp import MRP, solve_mrp
        >>> states = ["C1", "C2", "C3", "Pass", "Pub", "FB", "Sleep"]
        >>> P = np.array([[0, .5, 0, 0, 0, .5, 0], [0, 0, .8, 0, 0, 0, .2],
        ...               [0, 0, 0, .6, .4, 0, 0], [0, 0, 0, 0, 0, 0, 1],
        ...               [.2, .4, .4, 0, 0, 0, 0], [.1, 0, 0, 0, 0, .9, 0], [0, 0, 0, 0, 0, 0, 1]])
        >>> R = [-2, -2, -2, 10, 1, -1, 0]
        >>> solve_mrp(MRP(P, R, gamma=1.0, states=states)).values.round(1).tolist()
        [-12.5, 1.5, 4.3, 10.0, 0.8, -22.5, 0.0]
    """
    t0 = time.perf_counter()
    if method not in SPARSE_METHODS:
        raise RlkitError("solve_mrp: method must be 'auto', 'direct', 'krylov' or 'iteration', "
                         f"got {method!r}")
    n_threads = resolve_threads(threads)
    with blas_threads(n_threads if not mrp.is_sparse else 1):
        return _solve_mrp(mrp, method, x0, n_threads, t0)


def _solve_mrp(mrp: MRP, method: str, x0: np.ndarray | None, threads: int, t0: float) -> Solution:
    S, g = mrp.n_states, mrp.gamma
    info: dict = {}
    if g < 1.0:
        if mrp.is_sparse:
            v = _solve_sparse(mrp.P, mrp.R, g, method, x0, info, threads)
        else:
            info["solver"] = "direct"
            v = _solve_dense(mrp.P, mrp.R, g)
    else:
        transient, recurrent = check_terminates(mrp)
        v = np.zeros(S)
        info.update(solved_on="transient states", solver="direct")
        if len(transient):
            if mrp.is_sparse:
                sub = mrp.P[transient][:, transient]
                v[transient] = _solve_sparse(sp.csr_array(sub), mrp.R[transient], 1.0, "direct", None, info)
            else:
                v[transient] = _solve_dense(mrp.P[np.ix_(transient, transient)], mrp.R[transient], 1.0)
    v[mrp.terminal] = 0.0  # exactly: absorbing with zero reward (the solve leaves round-off there)
    residual = bellman_residual_mrp(mrp, v)
    return Solution(values=v, iterations=0, residual=residual, converged=True, method="exact",
                    seconds=time.perf_counter() - t0, info=info)
