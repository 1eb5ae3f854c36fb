"""Dynamic B+tree: node pools in flat arrays, and the insert/delete/lookup kernels.

Once a :class:`~baselines.BPlusTree` is written to, its keys move into
fixed-capacity leaves and its inner nodes get explicit child ids and subtree
sizes. Every node lives in a pool of flat arrays (``B = node_size``)::

    lk    (cap_leaves * B)  leaf slots in the key dtype, padded with the maximum
    lc    (cap_leaves,)     keys per leaf
    ln    (cap_leaves,)     next leaf in key order (-1 at the end); free-list link
    ik    (cap_inner * B)   inner slots: the largest key of each child (exact), padded
    ic    (cap_inner * B)   child ids (leaf ids on the lowest inner level); free-list link
    isz   (cap_inner * B)   keys in each child's subtree
    icnt  (cap_inner,)      children per inner node
    meta  (META,)           root, height, key count, pool marks, free lists, counters

``height`` counts the inner levels; with height 0 the root is a leaf. Every
leaf is at depth ``height``. A non-root leaf holds ``min_leaf .. B`` keys and
a non-root inner node ``min_inner .. B`` children (``min_* <= B // 2``); the
root, when inner, has at least 2. Slots hold each child's exact largest key,
so the first child whose largest key is ``>= q`` contains the first key
``>= q`` (if any): lookups are exact with duplicates too. The subtree sizes
turn a descent into a rank, so ``lower_bound`` keeps returning positions in
the current sorted order, in O(height * B) per query.

Insert descends to the leaf, adding one to the sizes on the way, and splits a
full node into halves (``(B + 1) // 2`` and the rest), up to a new root.
Delete removes one occurrence, then walks back up: a node below its minimum
borrows one entry from a sibling that can spare one, or else merges with it
(the right one into the left one), and every slot on the path gets its
child's largest key again; a root with one child is replaced by that child.
Both are O(height * B). Pools grow (by 1.5x) outside the kernels, which stop
when fewer free nodes remain than one insert may need.
"""
import numpy as np
from numba import njit, prange

from learned_index.search import branchless

from learned_index._pointer import borrow
from learned_index._prefetch import prefetch

from ._bptree_static import aligned_empty, fetch, in_block, in_node

(ROOT, HEIGHT, N, LEAF_HWM, INNER_HWM, FREE_L, FREE_I, N_FREE_L, N_FREE_I, HEAD,
 NODE, MIN_LEAF, MIN_INNER, SPLITS, MERGES, BORROWS) = range(16)
META = 16
MAX_HEIGHT = 64
GROUP = 16         # queries descending together in batch kernels


# --------------------------------------------------------------------------- pools

class Pools:
    """The arrays of a dynamic tree (see the module docstring)."""

    NAMES = ("lk", "lc", "ln", "ik", "ic", "isz", "icnt", "meta")

    def __init__(self, dtype, node_size, cap_leaves, cap_inner, pad):
        B = node_size
        self.pad = pad
        self.lk = aligned_empty(cap_leaves * B, dtype, pad)
        self.lc = np.zeros(cap_leaves, np.int64)
        self.ln = np.full(cap_leaves, -1, np.int64)
        self.ik = aligned_empty(cap_inner * B, dtype, pad)
        self.ic = np.full(cap_inner * B, -1, np.int64)
        self.isz = np.zeros(cap_inner * B, np.int64)
        self.icnt = np.zeros(cap_inner, np.int64)
        self.meta = np.zeros(META, np.int64)
        self.meta[[FREE_L, FREE_I]] = -1
        self.meta[NODE] = B

    def args(self):
        return self.lk, self.lc, self.ln, self.ik, self.ic, self.isz, self.icnt, self.meta

    @property
    def nbytes(self):
        return int(sum(a.nbytes for a in self.args()))

    def grow(self, need_leaves, need_inner):
        """Make room for ``need_*`` more nodes (1.5x growth, existing ids kept)."""
        B, m = int(self.meta[NODE]), self.meta
        for (keys_name, names, cap, hwm, need) in (
                ("lk", ("lc", "ln"), self.lc.shape[0], m[LEAF_HWM], need_leaves),
                ("ik", ("ic", "isz", "icnt"), self.icnt.shape[0], m[INNER_HWM], need_inner)):
            if cap - hwm >= need:
                continue
            new = max(int(cap * 1.5) + 8, int(hwm + need))
            old = getattr(self, keys_name)
            grown = aligned_empty(new * B, old.dtype, self.pad)
            grown[:old.shape[0]] = old
            setattr(self, keys_name, grown)
            for name in names:
                a = getattr(self, name)
                width = a.shape[0] // cap
                fill = -1 if name in ("ln", "ic") else 0
                b = np.full(new * width, fill, np.int64)
                b[:a.shape[0]] = a
                setattr(self, name, b)


def load(keys, node_size, fill, pad):
    """Bulk-load sorted ``keys`` into new :class:`Pools`. O(n).

    Leaves get ``n // k`` or ``n // k + 1`` keys for ``k`` leaves, where ``k``
    aims at ``node_size * fill`` keys per leaf but keeps every leaf at or
    above the minimum; inner levels likewise.
    """
    B = int(node_size)
    L = max(1, int(B * fill))
    F = max(2, int(B * fill))
    min_leaf, min_inner = max(1, min(B // 2, L)), max(2, min(B // 2, F))
    n = keys.shape[0]
    n_leaves = max(1, min(-(-n // L), n // min_leaf))
    sizes, m = [], n_leaves
    while m > 1:
        k = max(1, min(-(-m // F), m // min_inner))
        sizes.append(k)
        m = k
    n_inner = sum(sizes)
    p = Pools(keys.dtype, B, n_leaves + n_leaves // 4 + 8, n_inner + n_inner // 4 + 8, pad)
    meta = p.meta
    meta[MIN_LEAF], meta[MIN_INNER] = min_leaf, min_inner
    starts = (np.arange(n_leaves + 1, dtype=np.int64) * n) // n_leaves
    counts = np.diff(starts)
    row = np.repeat(np.arange(n_leaves), counts)
    p.lk.reshape(-1, B)[row, np.arange(n) - starts[row]] = keys
    p.lc[:n_leaves] = counts
    p.ln[:n_leaves - 1] = np.arange(1, n_leaves)
    child_ids = np.arange(n_leaves)
    child_max = keys[np.maximum(starts[1:] - 1, 0)] if n else np.full(1, pad, keys.dtype)
    child_size = counts
    first = 0
    for k in sizes:
        m = child_ids.shape[0]
        cs = (np.arange(k + 1, dtype=np.int64) * m) // k
        row = np.repeat(np.arange(k), np.diff(cs))
        col = np.arange(m) - cs[row]
        ids = first + np.arange(k)
        for name, values in (("ik", child_max), ("ic", child_ids), ("isz", child_size)):
            getattr(p, name).reshape(-1, B)[ids[row], col] = values
        p.icnt[ids] = np.diff(cs)
        child_max = child_max[cs[1:] - 1]
        child_size = np.add.reduceat(child_size, cs[:-1])
        child_ids = ids
        first += k
    meta[ROOT] = child_ids[0]
    meta[HEIGHT] = len(sizes)
    meta[N] = n
    meta[LEAF_HWM], meta[INNER_HWM] = n_leaves, n_inner
    meta[HEAD] = 0
    return p


# --------------------------------------------------------------------------- lookup

@njit(cache=True, inline="always")
def locate(lk, lc, ik, ic, isz, icnt, meta, q, right, kind, node_kind):
    """``(rank, leaf, slot)`` of the lower (upper) bound of ``q``. O(height * B)."""
    B = meta[NODE]
    node = meta[ROOT]
    rank = 0
    for _ in range(meta[HEIGHT]):
        base = node * B
        c = min(in_node(ik, q, base, B, right, node_kind), icnt[node] - 1)
        for j in range(base, base + c):
            rank += isz[j]
        node = ic[base + c]
    base = node * B
    s = in_block(lk, q, base, base + lc[node], right, kind) - base
    return rank + s, node, s


@njit(cache=True)           # scalar: keeping the GIL is cheaper per call
def bound_one(lk, lc, ik, ic, isz, icnt, meta, kind, node_kind, q, right):
    return locate(lk, lc, ik, ic, isz, icnt, meta, q, right, kind, node_kind)[0]


@njit(cache=True)           # scalar: keeping the GIL is cheaper per call
def contains_one(lk, lc, ik, ic, isz, icnt, meta, kind, node_kind, q):
    _, leaf, s = locate(lk, lc, ik, ic, isz, icnt, meta, q, False, kind, node_kind)
    return s < lc[leaf] and lk[leaf * meta[NODE] + s] == q


@njit(cache=True, inline="always")
def _group(lk, lc, ik, ic, isz, icnt, meta, qs, g0, g1, node, rank, slot, right, kind, node_kind):
    """Descend ``qs[g0:g1]`` together, level by level, prefetching each level's nodes
    for the whole group first (as the static tree does): fills ``node`` (the leaf),
    ``rank`` and ``slot``. Works on borrowed views (see :func:`learned_index._pointer.borrow`),
    so that the node slices it counts over take no locked reference counts."""
    lk, lc, ik, ic, isz, icnt, meta, qs = (borrow(lk), borrow(lc), borrow(ik), borrow(ic),
                                           borrow(isz), borrow(icnt), borrow(meta), borrow(qs))
    node, rank, slot = borrow(node), borrow(rank), borrow(slot)
    B = meta[NODE]
    m = g1 - g0
    for j in range(m):
        node[j] = meta[ROOT]
        rank[j] = 0
    for lv in range(meta[HEIGHT]):
        if lv > 0:
            for j in range(m):
                base = node[j] * B
                fetch(ik, base, base + B)
                fetch(isz, base, base + B)
                prefetch(icnt, node[j])
        for j in range(m):
            base = node[j] * B
            c = min(in_node(ik, qs[g0 + j], base, B, right, node_kind), icnt[node[j]] - 1)
            rank[j] += isz[base:base + c].sum()
            node[j] = ic[base + c]
    for j in range(m):
        fetch(lk, node[j] * B, node[j] * B + B)
        prefetch(lc, node[j])
    for j in range(m):
        base = node[j] * B
        slot[j] = in_block(lk, qs[g0 + j], base, base + lc[node[j]], right, kind) - base


@njit(cache=True, nogil=True)
def bound_many(lk, lc, ik, ic, isz, icnt, meta, qs, out, right, kind, node_kind):
    """Batch ranks (lower/upper bounds) into ``out``. O(m height B)."""
    node = np.empty(GROUP, np.int64)
    rank = np.empty(GROUP, np.int64)
    slot = np.empty(GROUP, np.int64)
    for g0 in range(0, qs.shape[0], GROUP):
        g1 = min(g0 + GROUP, qs.shape[0])
        _group(lk, lc, ik, ic, isz, icnt, meta, qs, g0, g1, node, rank, slot, right, kind, node_kind)
        out[g0:g1] = rank[:g1 - g0] + slot[:g1 - g0]


@njit(cache=True, nogil=True, parallel=True)
def bound_many_parallel(lk, lc, ik, ic, isz, icnt, meta, qs, out, right, kind, node_kind):
    """Batch ranks, groups of queries split across threads (numba ``prange``)."""
    m = qs.shape[0]
    for g in prange((m + GROUP - 1) // GROUP):
        node = np.empty(GROUP, np.int64)
        rank = np.empty(GROUP, np.int64)
        slot = np.empty(GROUP, np.int64)
        g0 = g * GROUP
        g1 = min(g0 + GROUP, m)
        _group(lk, lc, ik, ic, isz, icnt, meta, qs, g0, g1, node, rank, slot, right, kind, node_kind)
        out[g0:g1] = rank[:g1 - g0] + slot[:g1 - g0]


@njit(cache=True, nogil=True)
def contains_many(lk, lc, ik, ic, isz, icnt, meta, qs, out, kind, node_kind):
    """Batch membership into the bool array ``out``."""
    B = meta[NODE]
    node = np.empty(GROUP, np.int64)
    rank = np.empty(GROUP, np.int64)
    slot = np.empty(GROUP, np.int64)
    for g0 in range(0, qs.shape[0], GROUP):
        g1 = min(g0 + GROUP, qs.shape[0])
        _group(lk, lc, ik, ic, isz, icnt, meta, qs, g0, g1, node, rank, slot, False, kind, node_kind)
        for j in range(g1 - g0):
            out[g0 + j] = slot[j] < lc[node[j]] and lk[node[j] * B + slot[j]] == qs[g0 + j]


@njit(cache=True, nogil=True)
def materialize(lk, lc, ln, meta, out):
    """The keys in order, walking the leaf chain. O(n)."""
    B = meta[NODE]
    leaf = meta[HEAD]
    i = 0
    while leaf >= 0:
        for j in range(lc[leaf]):
            out[i] = lk[leaf * B + j]
            i += 1
        leaf = ln[leaf]
    return i


# --------------------------------------------------------------------------- node pools

@njit(cache=True, inline="always")
def _alloc(link, stride, meta, free, n_free, hwm):
    f = meta[free]
    if f >= 0:
        meta[free] = link[f * stride]
        meta[n_free] -= 1
        return f
    f = meta[hwm]
    meta[hwm] += 1
    return f


@njit(cache=True, inline="always")
def _release(link, stride, meta, free, n_free, node):
    link[node * stride] = meta[free]
    meta[free] = node
    meta[n_free] += 1


@njit(cache=True, inline="always")
def _room(lc, icnt, meta):
    """Can one more insert run (one leaf and ``height + 1`` inner nodes may be needed)?"""
    leaves = lc.shape[0] - meta[LEAF_HWM] + meta[N_FREE_L]
    inner = icnt.shape[0] - meta[INNER_HWM] + meta[N_FREE_I]
    return leaves >= 1 and inner >= meta[HEIGHT] + 1


# --------------------------------------------------------------------------- insert

@njit(cache=True, inline="always")
def _put(ik, ic, isz, at, key, child, size):
    ik[at] = key
    ic[at] = child
    isz[at] = size


@njit(cache=True)
def _insert(lk, lc, ln, ik, ic, isz, icnt, meta, x, pad, path_n, path_c, tk, tc, ts):
    B = meta[NODE]
    h = meta[HEIGHT]
    node = meta[ROOT]
    for lv in range(h):
        base = node * B
        c = min(branchless(ik, x, base, base + B, False) - base, icnt[node] - 1)
        path_n[lv] = node
        path_c[lv] = c
        isz[base + c] += 1
        if ik[base + c] < x:
            ik[base + c] = x
        node = ic[base + c]
    meta[N] += 1
    leaf, base, cnt = node, node * B, lc[node]
    s = branchless(lk, x, base, base + cnt, True) - base
    if cnt < B:
        for j in range(cnt, s, -1):
            lk[base + j] = lk[base + j - 1]
        lk[base + s] = x
        lc[leaf] = cnt + 1
        return
    for j in range(s):
        tk[j] = lk[base + j]
    tk[s] = x
    for j in range(s, B):
        tk[j + 1] = lk[base + j]
    half = (B + 1) // 2
    new = _alloc(ln, 1, meta, FREE_L, N_FREE_L, LEAF_HWM)
    nb = new * B
    for j in range(B):
        lk[base + j] = tk[j] if j < half else pad
        lk[nb + j] = tk[half + j] if j < B + 1 - half else pad
    lc[leaf], lc[new] = half, B + 1 - half
    ln[new] = ln[leaf]
    ln[leaf] = new
    meta[SPLITS] += 1
    left, lmax, lsize = leaf, tk[half - 1], half
    right, rmax, rsize = new, tk[B], B + 1 - half
    for lv in range(h - 1, -1, -1):
        p, c = path_n[lv], path_c[lv]
        pb, cnt = p * B, icnt[p]
        _put(ik, ic, isz, pb + c, lmax, left, lsize)
        if cnt < B:
            for j in range(pb + cnt, pb + c + 1, -1):
                _put(ik, ic, isz, j, ik[j - 1], ic[j - 1], isz[j - 1])
            _put(ik, ic, isz, pb + c + 1, rmax, right, rsize)
            icnt[p] = cnt + 1
            return
        t = 0
        for j in range(B):
            tk[t], tc[t], ts[t] = ik[pb + j], ic[pb + j], isz[pb + j]
            t += 1
            if j == c:
                tk[t], tc[t], ts[t] = rmax, right, rsize
                t += 1
        new = _alloc(ic, B, meta, FREE_I, N_FREE_I, INNER_HWM)
        nb = new * B
        lsize = rsize = 0
        for j in range(B):
            if j < half:
                _put(ik, ic, isz, pb + j, tk[j], tc[j], ts[j])
                lsize += ts[j]
            else:
                _put(ik, ic, isz, pb + j, pad, -1, 0)
            if j < B + 1 - half:
                _put(ik, ic, isz, nb + j, tk[half + j], tc[half + j], ts[half + j])
                rsize += ts[half + j]
            else:
                _put(ik, ic, isz, nb + j, pad, -1, 0)
        icnt[p], icnt[new] = half, B + 1 - half
        meta[SPLITS] += 1
        left, lmax = p, tk[half - 1]
        right, rmax = new, tk[B]
    r = _alloc(ic, B, meta, FREE_I, N_FREE_I, INNER_HWM)
    rb = r * B
    for j in range(B):
        _put(ik, ic, isz, rb + j, pad, -1, 0)
    _put(ik, ic, isz, rb, lmax, left, lsize)
    _put(ik, ic, isz, rb + 1, rmax, right, rsize)
    icnt[r] = 2
    meta[ROOT] = r
    meta[HEIGHT] = h + 1


@njit(cache=True, nogil=True)
def insert_many(lk, lc, ln, ik, ic, isz, icnt, meta, xs, start, pad):
    """Insert ``xs[start:]`` in order; returns the index where pool room ran out (or len)."""
    B = meta[NODE]
    path_n = np.empty(MAX_HEIGHT, np.int64)
    path_c = np.empty(MAX_HEIGHT, np.int64)
    tk = np.empty(B + 1, lk.dtype)
    tc = np.empty(B + 1, np.int64)
    ts = np.empty(B + 1, np.int64)
    for i in range(start, xs.shape[0]):
        if not _room(lc, icnt, meta):
            return i
        _insert(lk, lc, ln, ik, ic, isz, icnt, meta, xs[i], pad, path_n, path_c, tk, tc, ts)
    return xs.shape[0]


# --------------------------------------------------------------------------- delete

@njit(cache=True)
def _rebalance_leaf(lk, lc, ln, ik, ic, isz, icnt, meta, p, li, under_left, pad):
    """Leaf in slot ``li`` or ``li + 1`` of node ``p`` is below its minimum: borrow or merge."""
    B = meta[NODE]
    pb = p * B
    a, b = ic[pb + li], ic[pb + li + 1]
    ab, bb, ca, cb = a * B, b * B, lc[a], lc[b]
    if under_left and cb > meta[MIN_LEAF]:           # first key of b -> end of a
        lk[ab + ca] = lk[bb]
        for j in range(cb - 1):
            lk[bb + j] = lk[bb + j + 1]
        lk[bb + cb - 1] = pad
        lc[a], lc[b] = ca + 1, cb - 1
        isz[pb + li] += 1
        isz[pb + li + 1] -= 1
    elif not under_left and ca > meta[MIN_LEAF]:     # last key of a -> front of b
        for j in range(cb, 0, -1):
            lk[bb + j] = lk[bb + j - 1]
        lk[bb] = lk[ab + ca - 1]
        lk[ab + ca - 1] = pad
        lc[a], lc[b] = ca - 1, cb + 1
        isz[pb + li] -= 1
        isz[pb + li + 1] += 1
    else:                                            # b into a
        for j in range(cb):
            lk[ab + ca + j] = lk[bb + j]
            lk[bb + j] = pad
        lc[a], lc[b] = ca + cb, 0
        ln[a] = ln[b]
        _release(ln, 1, meta, FREE_L, N_FREE_L, b)
        _drop_slot(ik, ic, isz, icnt, meta, p, li, pad)
        ik[pb + li] = lk[ab + ca + cb - 1]
        meta[MERGES] += 1
        return
    ik[pb + li] = lk[ab + lc[a] - 1]
    ik[pb + li + 1] = lk[bb + lc[b] - 1]
    meta[BORROWS] += 1


@njit(cache=True, inline="always")
def _drop_slot(ik, ic, isz, icnt, meta, p, li, pad):
    """Remove slot ``li + 1`` of node ``p``, adding its size to slot ``li``."""
    B = meta[NODE]
    pb = p * B
    cnt = icnt[p]
    isz[pb + li] += isz[pb + li + 1]
    for j in range(pb + li + 1, pb + cnt - 1):
        _put(ik, ic, isz, j, ik[j + 1], ic[j + 1], isz[j + 1])
    _put(ik, ic, isz, pb + cnt - 1, pad, -1, 0)
    icnt[p] = cnt - 1


@njit(cache=True)
def _rebalance_inner(ik, ic, isz, icnt, meta, p, li, under_left, pad):
    """Inner node in slot ``li`` or ``li + 1`` of node ``p`` is below its minimum."""
    B = meta[NODE]
    pb = p * B
    a, b = ic[pb + li], ic[pb + li + 1]
    ab, bb, ca, cb = a * B, b * B, icnt[a], icnt[b]
    if under_left and cb > meta[MIN_INNER]:          # first entry of b -> end of a
        moved = isz[bb]
        _put(ik, ic, isz, ab + ca, ik[bb], ic[bb], isz[bb])
        for j in range(bb, bb + cb - 1):
            _put(ik, ic, isz, j, ik[j + 1], ic[j + 1], isz[j + 1])
        _put(ik, ic, isz, bb + cb - 1, pad, -1, 0)
        icnt[a], icnt[b] = ca + 1, cb - 1
        isz[pb + li] += moved
        isz[pb + li + 1] -= moved
    elif not under_left and ca > meta[MIN_INNER]:    # last entry of a -> front of b
        moved = isz[ab + ca - 1]
        for j in range(bb + cb, bb, -1):
            _put(ik, ic, isz, j, ik[j - 1], ic[j - 1], isz[j - 1])
        _put(ik, ic, isz, bb, ik[ab + ca - 1], ic[ab + ca - 1], moved)
        _put(ik, ic, isz, ab + ca - 1, pad, -1, 0)
        icnt[a], icnt[b] = ca - 1, cb + 1
        isz[pb + li] -= moved
        isz[pb + li + 1] += moved
    else:                                            # b into a
        for j in range(cb):
            _put(ik, ic, isz, ab + ca + j, ik[bb + j], ic[bb + j], isz[bb + j])
            _put(ik, ic, isz, bb + j, pad, -1, 0)
        icnt[a], icnt[b] = ca + cb, 0
        _release(ic, B, meta, FREE_I, N_FREE_I, b)
        _drop_slot(ik, ic, isz, icnt, meta, p, li, pad)
        ik[pb + li] = ik[ab + ca + cb - 1]
        meta[MERGES] += 1
        return
    ik[pb + li] = ik[ab + icnt[a] - 1]
    ik[pb + li + 1] = ik[bb + icnt[b] - 1]
    meta[BORROWS] += 1


@njit(cache=True)
def _delete(lk, lc, ln, ik, ic, isz, icnt, meta, x, pad, path_n, path_c):
    """Remove one occurrence of ``x``; False (nothing changed) if absent."""
    B = meta[NODE]
    h = meta[HEIGHT]
    node = meta[ROOT]
    for lv in range(h):
        base = node * B
        c = branchless(ik, x, base, base + B, False) - base
        if c >= icnt[node]:
            return False
        path_n[lv] = node
        path_c[lv] = c
        node = ic[base + c]
    leaf, base, cnt = node, node * B, lc[node]
    s = branchless(lk, x, base, base + cnt, False) - base
    if s >= cnt or lk[base + s] != x:
        return False
    for j in range(base + s, base + cnt - 1):
        lk[j] = lk[j + 1]
    lk[base + cnt - 1] = pad
    lc[leaf] = cnt - 1
    meta[N] -= 1
    for lv in range(h):
        isz[path_n[lv] * B + path_c[lv]] -= 1
    child = leaf
    for lv in range(h - 1, -1, -1):
        p, c = path_n[lv], path_c[lv]
        if lv == h - 1:
            if lc[child] < meta[MIN_LEAF]:
                li = c - 1 if c > 0 else c
                _rebalance_leaf(lk, lc, ln, ik, ic, isz, icnt, meta, p, li, li == c, pad)
            else:
                ik[p * B + c] = lk[child * B + lc[child] - 1]
        elif icnt[child] < meta[MIN_INNER]:
            li = c - 1 if c > 0 else c
            _rebalance_inner(ik, ic, isz, icnt, meta, p, li, li == c, pad)
        else:
            ik[p * B + c] = ik[child * B + icnt[child] - 1]
        child = p
    while meta[HEIGHT] > 0 and icnt[meta[ROOT]] == 1:
        r = meta[ROOT]
        meta[ROOT] = ic[r * B]
        _put(ik, ic, isz, r * B, pad, -1, 0)
        icnt[r] = 0
        _release(ic, B, meta, FREE_I, N_FREE_I, r)
        meta[HEIGHT] -= 1
    return True


@njit(cache=True, nogil=True)
def delete_many(lk, lc, ln, ik, ic, isz, icnt, meta, xs, pad):
    """Delete one occurrence of each of ``xs`` in order; returns the index of the first
    absent key (nothing deleted for it), or ``len(xs)``."""
    path_n = np.empty(MAX_HEIGHT, np.int64)
    path_c = np.empty(MAX_HEIGHT, np.int64)
    for i in range(xs.shape[0]):
        if not _delete(lk, lc, ln, ik, ic, isz, icnt, meta, xs[i], pad, path_n, path_c):
            return i
    return xs.shape[0]
