"""Static B+tree (a CSS-tree): bulk load and lookup kernels.

The leaf level is the sorted key array itself, cut into blocks of ``L`` keys
(``L = node_size * fill``). Inner levels hold, for each child, the child's
**largest** key, in one flat array of nodes of ``B = node_size`` slots, root
first (top-down), in the key dtype and padded with the dtype's maximum (or
``+inf``). A node holds up to ``F`` children (``F = node_size * fill``, at
least 2); node ``k`` of a level has children ``k * F + c`` on the level below,
so no child pointers are stored. The ``meta`` array describes the levels::

    meta = [h, B, F, L, off_0 .. off_{h-1}, cnt_0 .. cnt_h]

``off_l`` is the first node of level ``l`` (in nodes), ``cnt_l`` its node
count and ``cnt_h`` the number of leaves.

Lookup of ``q`` (lower bound; upper bound with ``<=`` for ``<``): range checks
against the first and last key, then at each level ``c = #(slots < q)`` in the
node (the first child whose largest key is ``>= q``), and last a search of the
leaf block with the shared last-mile kernels of :mod:`learned_index.search`.
Every key before the leaf is ``< q`` and the leaf holds a key ``>= q``, so
the answer lies in the block: no verification is needed. Batch kernels run
the descents a level at a time (:func:`level_passes`): a pass over a chunk of
queries searches one query's node while it prefetches the node of a query
further on, so that many cache misses are in flight at once (the learned
index's batch kernels do the same, a stage at a time).

In-node search: on 10M random uint64 keys a SIMD count of the keys before the
query (``COUNT``/``NODE_COUNT``) beats a branch-free binary search at every
node size (e.g. 131 vs 230 ns per lookup at 64 keys per node): all of a
node's cache lines are requested at once instead of one dependent load per
step, and the compare-and-add loop vectorises.
"""
import numpy as np
from numba import njit, prange

from learned_index import search as _search
from learned_index._pointer import at, borrow, put
from learned_index._prefetch import prefetch
from learned_index.fences import line_keys
from learned_index.batch import AHEAD, CHUNK, CHUNK_QUERIES  # as the learned index's batches
from learned_index.search import before

COUNT = 8          # search kind: branch-free count of the keys before q (SIMD-friendly)
NODE_BRANCHLESS = 0
NODE_COUNT = 1
FETCH_LINES = 16    # cache lines prefetched per node or leaf block
M_H, M_B, M_F, M_L = range(4)
M_LEVELS = 4


def aligned_empty(size, dtype, fill=None):
    """A 1-D array of ``size`` items whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    buf = np.empty(size * dtype.itemsize + 64, dtype=np.uint8)
    shift = -buf.ctypes.data % 64
    out = buf[shift:shift + size * dtype.itemsize].view(dtype)
    if fill is not None:
        out[:] = fill
    return out


def pad_value(dtype):
    """The padding slot value: larger than or equal to every key."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return dtype.type(np.inf)
    return dtype.type(np.iinfo(dtype).max)


# --------------------------------------------------------------------------- bulk load

def level_counts(n_leaves, fanout):
    """Node counts of the inner levels, top-down (empty for at most one leaf)."""
    counts = []
    m = n_leaves
    while m > 1:
        m = -(-m // fanout)
        counts.append(m)
    return counts[::-1]


def build(keys, node_size, fill):
    """Bulk load: ``(seps, meta)`` for sorted ``keys``. O(n / L) time and memory."""
    n = keys.shape[0]
    B = int(node_size)
    L = max(1, int(B * fill))
    F = max(2, int(B * fill))
    n_leaves = -(-n // L)
    counts = level_counts(n_leaves, F)
    h = len(counts)
    offs = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    meta = np.array([h, B, F, L, *offs[:h], *counts, n_leaves], dtype=np.int64)
    pad = pad_value(keys.dtype)
    seps = aligned_empty(int(offs[-1]) * B, keys.dtype, pad)
    grid = seps.reshape(-1, B)
    largest = keys[np.minimum(np.arange(1, n_leaves + 1) * L, n) - 1]   # of each child
    for lv in range(h - 1, -1, -1):
        m = largest.shape[0]
        slots = np.full(counts[lv] * F, pad, dtype=keys.dtype)
        slots[:m] = largest
        grid[offs[lv]:offs[lv + 1], :F] = slots.reshape(-1, F)
        largest = largest[np.minimum(np.arange(1, counts[lv] + 1) * F, m) - 1]
    return seps, meta


# --------------------------------------------------------------------------- in-node search

@njit(cache=True, inline="always")
def count_before(a, q, lo, hi, right):
    """Number of ``a[lo:hi]`` before ``q``: a branch-free count that vectorises. O(hi - lo)."""
    s = a[lo:hi]        # a slice from 0 lets LLVM drop the negative-index check (no gathers)
    c = 0
    if right:
        for j in range(s.shape[0]):
            c += s[j] <= q
    else:
        for j in range(s.shape[0]):
            c += s[j] < q
    return c


@njit(cache=True, inline="always")
def in_node(a, q, base, width, right, kind):
    """Slots of the sorted node ``a[base:base + width]`` before ``q``."""
    if kind == NODE_COUNT:
        return count_before(a, q, base, base + width, right)
    return _search.branchless(a, q, base, base + width, right) - base


@njit(cache=True, inline="always")
def in_block(keys, q, lo, hi, right, kind):
    """Exact bound in the leaf block ``[lo, hi)`` with the shared search kernels."""
    if kind == COUNT:
        return lo + count_before(keys, q, lo, hi, right)
    return _search.in_window(keys, q, lo, hi, lo, kind, right)


# --------------------------------------------------------------------------- lookup

@njit(cache=True, inline="always")
def descend(seps, meta, q, right, node_kind):
    """The leaf block of ``q`` (clamped to the tree, so out-of-range queries stay in bounds)."""
    h, B, F = meta[M_H], meta[M_B], meta[M_F]
    idx = 0
    for lv in range(h):
        c = in_node(seps, q, (meta[M_LEVELS + lv] + idx) * B, B, right, node_kind)
        idx = min(idx * F + c, meta[M_LEVELS + h + lv + 1] - 1)
    return idx


@njit(cache=True, inline="always")
def finish(keys, meta, q, leaf, right, kind):
    """Range checks, then the exact bound inside ``leaf``'s block."""
    n = keys.shape[0]
    if n == 0 or not before(keys[0], q, right):
        return 0
    if before(keys[n - 1], q, right):
        return n
    L = meta[M_L]
    return in_block(keys, q, leaf * L, min(leaf * L + L, n), right, kind)


@njit(cache=True)           # scalar: keeping the GIL is cheaper per call
def bound_one(keys, seps, meta, kind, node_kind, q, right):
    """Lower (``right=False``) or upper bound of one query. O(h log B + search(L))."""
    if keys.shape[0] == 0:
        return 0
    return finish(keys, meta, q, descend(seps, meta, q, right, node_kind), right, kind)


@njit(cache=True, inline="always")
def fetch(a, lo, hi):
    """Prefetch ``a[lo:hi]``: every cache line up to :data:`FETCH_LINES`, else that many spread out."""
    step = line_keys(a)
    if hi - lo <= FETCH_LINES * step:
        for i in range(lo, hi, step):
            prefetch(a, i)
        prefetch(a, hi - 1)
    else:
        for t in range(1, FETCH_LINES + 1):
            prefetch(a, lo + (t * (hi - lo)) // (FETCH_LINES + 1))


@njit(cache=True, nogil=True)
def level_pass(seps, meta, qs, idx, a, c, lv, right, node_kind):
    """Level ``lv`` of the descents of ``qs[a:a + c]``: ``idx[k]``, the node of query
    ``k`` on that level, becomes its child on the next (the root's children for
    ``lv == 0``). The node of query ``k + AHEAD`` is prefetched meanwhile. O(c B)."""
    seps, meta, qs, idx = borrow(seps), borrow(meta), borrow(qs), borrow(idx)
    h, B, F = meta[M_H], meta[M_B], meta[M_F]
    off = meta[M_LEVELS + lv]
    cap = meta[M_LEVELS + h + lv + 1] - 1
    if lv > 0:
        for k in range(AHEAD):
            fetch(seps, (off + at(idx, k)) * B, (off + at(idx, k) + 1) * B)
    for k in range(c):
        node = 0
        if lv > 0:
            ahead = at(idx, k + AHEAD)
            fetch(seps, (off + ahead) * B, (off + ahead + 1) * B)
            node = at(idx, k)
        child = in_node(seps, at(qs, a + k), (off + node) * B, B, right, node_kind)
        put(idx, k, min(node * F + child, cap))


@njit(cache=True, nogil=True)
def block_pass(keys, meta, qs, out, idx, a, c, right, kind):
    """The bounds of ``qs[a:a + c]`` in their leaf blocks ``idx[k]``, into ``out``,
    with the block of query ``k + AHEAD`` prefetched meanwhile. O(c search(L))."""
    keys, meta, qs, out, idx = borrow(keys), borrow(meta), borrow(qs), borrow(out), borrow(idx)
    n, L = keys.shape[0], meta[M_L]
    for k in range(AHEAD):
        fetch(keys, at(idx, k) * L, min(at(idx, k) * L + L, n))
    for k in range(c):
        ahead = at(idx, k + AHEAD)
        fetch(keys, ahead * L, min(ahead * L + L, n))
        put(out, a + k, finish(keys, meta, at(qs, a + k), at(idx, k), right, kind))


@njit(cache=True, nogil=True)
def level_passes(keys, seps, meta, qs, start, stop, out, right, kind, node_kind):
    """Bounds of ``qs[start:stop]`` into ``out``, a level at a time.

    Queries go in chunks of :data:`CHUNK_QUERIES`; a chunk takes one pass per
    inner level (:func:`level_pass`) and one over the leaf blocks
    (:func:`block_pass`). Each pass searches the node of one query while the
    node of the query :data:`AHEAD` places later arrives, so that many misses
    are in flight (the learned index's batch kernel works the same way, see
    :mod:`learned_index.batch`). ``right`` is a compile-time constant.
    """
    h = meta[M_H]
    idx = np.zeros(CHUNK_QUERIES + AHEAD, np.int64)     # a tree of no level: all in block 0
    for a in range(start, stop, CHUNK_QUERIES):
        c = min(CHUNK_QUERIES, stop - a)
        idx[c:] = 0         # past the chunk: a valid node, for the prefetches ahead
        for lv in range(h):
            level_pass(seps, meta, qs, idx, a, c, lv, right, node_kind)
        block_pass(keys, meta, qs, out, idx, a, c, right, kind)


@njit(cache=True, nogil=True)
def bound_range(keys, seps, meta, qs, out, start, stop, right, kind, node_kind):
    """Bounds of ``qs[start:stop]`` into ``out``: :func:`level_passes` compiled for
    each value of ``right`` (each pass borrows its arrays, see :mod:`learned_index.batch`)."""
    if keys.shape[0] == 0:
        out[start:stop] = 0
    elif right:
        level_passes(keys, seps, meta, qs, start, stop, out, True, kind, node_kind)
    else:
        level_passes(keys, seps, meta, qs, start, stop, out, False, kind, node_kind)


@njit(cache=True, nogil=True)
def bound_many(keys, seps, meta, qs, out, right, kind, node_kind):
    """Batch lower/upper bounds into ``out`` (int64). O(m (h log B + search(L)))."""
    bound_range(keys, seps, meta, qs, out, 0, qs.shape[0], right, kind, node_kind)


@njit(cache=True, nogil=True, parallel=True)
def bound_many_parallel(keys, seps, meta, qs, out, right, kind, node_kind):
    """Batch bounds, chunks of queries split across threads (numba ``prange``)."""
    m = qs.shape[0]
    for c in prange((m + CHUNK - 1) // CHUNK):
        bound_range(keys, seps, meta, qs, out, c * CHUNK, min((c + 1) * CHUNK, m), right, kind,
                    node_kind)


@njit(cache=True)           # scalar: keeping the GIL is cheaper per call
def contains_one(keys, seps, meta, kind, node_kind, q):
    """Is ``q`` a key?"""
    r = bound_one(keys, seps, meta, kind, node_kind, q, np.bool_(False))
    return r < keys.shape[0] and keys[r] == q


@njit(cache=True, nogil=True)
def contains_many(keys, seps, meta, qs, out, kind, node_kind):
    """Batch membership into the bool array ``out``: the bounds of
    ``CHUNK_QUERIES`` queries at a time, each chunk checked right after, as
    the learned index does (:func:`learned_index.search.members`). O(m (h log B + search(L)))."""
    m = qs.shape[0]
    pos = np.empty(min(m, CHUNK_QUERIES), np.int64)
    for a in range(0, m, CHUNK_QUERIES):
        c = min(CHUNK_QUERIES, m - a)
        bound_range(keys, seps, meta, qs[a:a + c], pos[:c], 0, c, np.bool_(False), kind, node_kind)
        _search.members(keys, qs, pos, out, a, c, AHEAD)
