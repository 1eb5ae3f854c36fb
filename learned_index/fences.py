"""Fence leaves: the hybrid index's replacement for a leaf its model fits badly.

The paper's section 3.5: where a leaf's error stays large after training,
swap its model for a B-tree over that leaf's keys, so that the worst case
costs what a B-tree costs while well-modelled regions keep the learned speed.
A *fence leaf* is a small static B+tree whose leaf level is the key array
itself: level 0 holds the keys at every ``F``-th position of the leaf, and
each level above holds every ``FANOUT``-th entry of the level below, up to a
root of at most ``FANOUT`` entries. A query scans one node (at most
``FANOUT - 1`` entries, one or two cache lines) per level, then searches at
most ``F`` keys.

``F``, the *span*, is whole cache lines of keys set by the index's
``max_window`` (see :func:`fence_keys`): one line for a tight window, up to
:data:`MAX_SPAN_LINES` lines for a loose one. A wider span makes the area
(about ``8 / F`` bytes per key) and the descent shorter, for a last-mile
search over more lines, adjacent and prefetched whole: under a size cap,
that fences more leaves (figures in ``docs/tuning.md``).

Layout: the leaf record's window width is ``-1`` (a marker) and its first
parameter is the offset ``f`` of the fence area in the blob (a compact
record, see :mod:`.compact`, marks its window code and keeps ``f`` in place
of its base key)::

    p[f] = s, p[f + 1] = e, p[f + 2] = L        the leaf's keys are K[s:e]; L levels
    p[f + 3] = F                                the span (keys per bottom entry)
    p[f + 4 + 2 j], p[f + 5 + 2 j]              offset and size of level j (0 = bottom)
    level entries                               images of K[s + i F FANOUT**j]

Entries are stored as the record base keys are (see :mod:`.rmi`): the
order-preserving ``uint64`` image of an integer key, or the float64 key, so
comparing a query with an entry is exact.

**Window.** Let ``i`` be the number of level-0 entries before the query
(``< q`` for a lower bound, ``<= q`` for an upper bound). Every query routed
to the leaf has its answer in ``[s, e]`` (routing is monotone and the leaf
holds exactly ``K[s:e]``); entry ``i - 1`` lies before the answer and entry
``i`` does not, so the answer lies in ``[s + (i - 1) F + 1, min(s + i F, e)]``
(``[s, s]`` for ``i = 0``). The same argument one level up bounds ``i`` to one
node below. As everywhere, :func:`.search.settle` verifies the result.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from ._prefetch import prefetch
from .models.common import key_bits, ordered_u64

#: marker stored as the window width of a fence leaf
FENCE_MARK = -1
#: floats before the level table in a fence area
AREA_HEADER = 4
#: offset of the span ``F`` in a fence area
SPAN = 3
#: entries per node above the bottom level
FANOUT = 8
#: widest span, in cache lines (a last-mile window this wide is prefetched whole)
MAX_SPAN_LINES = 16


def keys_per_line(itemsize):
    """Keys of ``itemsize`` bytes per 64-byte cache line (at least 2)."""
    return max(64 // itemsize, 2)


def line_keys(keys):
    """:func:`keys_per_line` for the key array ``keys`` (jitted): a compile-time
    constant, so that stepping over lines is a shift, not a division."""
    raise NotImplementedError("line_keys is only callable from jitted code")


@overload(line_keys, inline="always")
def _line_keys(keys):
    if isinstance(keys, types.Array):
        k = keys_per_line(keys.dtype.bitwidth // 8)

        def impl(keys):
            return k
        return impl
    return None


def fence_keys(max_window, itemsize):
    """``F`` for an index with ``max_window``: whole cache lines of keys, one per
    8 lines of ``max_window``, from 1 to :data:`MAX_SPAN_LINES` lines.

    >>> fence_keys(16, 8), fence_keys(256, 8), fence_keys(10**6, 8)
    (8, 32, 128)
    """
    line = keys_per_line(itemsize)
    return line * min(max(int(max_window) // (8 * line), 1), MAX_SPAN_LINES)


def fenced(widths, counts, max_window, itemsize):
    """Which leaves (by window ``widths`` and key ``counts``) become fence leaves under
    ``max_window`` (None: none): those wider than it and of more keys than one span."""
    if max_window is None:
        return np.zeros(len(widths), dtype=bool)
    return (widths > max_window) & (counts > fence_keys(max_window, itemsize))


def spans(p, areas):
    """The spans ``F`` of the fence areas at offsets ``areas`` of blob ``p`` (int64)."""
    return p[areas + SPAN].astype(np.int64)


def fence_before(pu, p, j, q, right):
    """Does the fence at ``p[j]`` lie before the answer for ``q``? (jitted, exact)"""
    raise NotImplementedError("fence_before is only callable from jitted code")


@overload(fence_before, inline="always")
def _fence_before(pu, p, j, q, right):
    if isinstance(q, types.Float):
        def impl(pu, p, j, q, right):
            if right:
                return p[j] <= q
            return p[j] < q
        return impl
    if isinstance(q, types.Integer):
        def impl(pu, p, j, q, right):
            if right:
                return pu[j] <= ordered_u64(q)
            return pu[j] < ordered_u64(q)
        return impl
    return None


@njit(cache=True, inline="always")
def _count_before(pu, p, base, lo, hi, q, right):
    """``lo`` plus the number of entries ``p[base + lo : base + hi]`` before ``q`` (sorted)."""
    k = lo
    while k < hi and fence_before(pu, p, base + k, q, right):
        k += 1
    return k


@njit(cache=True, inline="always")
def fence_begin(p, f):
    """Start a descent of the fence leaf at ``p[f:]``: ``(level, node start, node end)`` of the root."""
    top = f + AREA_HEADER + 2 * (np.int64(p[f + 2]) - 1)
    return np.int64(p[f + 2]) - 1, np.int64(0), np.int64(p[top + 1])


@njit(cache=True, inline="always")
def prefetch_fence_node(p, f, j, lo, hi):
    """Prefetch node ``[lo, hi)`` of level ``j``: the lines of its first and last entry.

    Entries are not aligned, so about three nodes in four straddle two cache
    lines; prefetching only the first left the scan waiting on the second.
    """
    base = np.int64(p[f + AREA_HEADER + 2 * j])
    prefetch(p, base + lo)
    prefetch(p, base + hi - 1)


@njit(cache=True, inline="always")
def fence_step(pu, p, f, j, lo, hi, q, right):
    """Scan node ``[lo, hi)`` of level ``j``; return the next ``(level, start, end)``.

    Level ``-1`` means done, with ``start`` the count of bottom entries
    before ``q``. A count of 0 at any level is 0 at the bottom.
    """
    at = f + AREA_HEADER + 2 * j
    i = _count_before(pu, p, np.int64(p[at]), lo, hi, q, right)
    if j == 0 or i == 0:
        return -1, i, i
    return j - 1, FANOUT * (i - 1) + 1, min(FANOUT * i, np.int64(p[at - 1]))


@njit(cache=True, inline="always")
def fence_final(p, f, i):
    """``(lo, hi)`` of the keys to search, given ``i`` bottom entries before the query."""
    s = np.int64(p[f])
    if i == 0:
        return s, s
    per = np.int64(p[f + SPAN])
    return s + (i - 1) * per + 1, min(s + i * per, np.int64(p[f + 1]))


@njit(cache=True)
def fence_descend(pu, p, f, j, lo, hi, q, right):
    """Finish a descent from node ``[lo, hi)`` of level ``j``: the count of bottom
    entries before ``q``. O(j * FANOUT).

    Not inlined on purpose: a loop inlined into a lookup loop slows that loop
    down several times even where it is never taken (a model leaf's lookup).
    """
    while j >= 0:
        j, lo, hi = fence_step(pu, p, f, j, lo, hi, q, right)
    return lo


@njit(cache=True, inline="always")
def fence_window(p, pu, f, q, right):
    """``(lo, hi)``: the keys a query routed to the fence leaf at ``p[f:]`` must search.

    One node of at most ``FANOUT - 1`` entries per level. O(L * FANOUT).
    """
    j, lo, hi = fence_begin(p, f)
    return fence_final(p, f, fence_descend(pu, p, f, j, lo, hi, q, right))


def _level_sizes(m, per):
    """Entries per level (bottom first) of a fence leaf over ``m`` keys."""
    sizes = [-(-m // per)]
    while sizes[-1] > FANOUT:
        sizes.append(-(-sizes[-1] // FANOUT))
    return sizes


def area_sizes(starts, chosen, per):
    """Floats of the fence area of each chosen leaf."""
    out = []
    for m in np.diff(starts)[chosen]:
        sizes = _level_sizes(int(m), per)
        out.append(AREA_HEADER + 2 * len(sizes) + sum(sizes))
    return np.array(out, dtype=np.int64)


@njit(cache=True)
def write_fences(keys, starts, p, chosen, area_off, per, areas):
    """Write the fence areas of the chosen leaves from ``p[area_off:]``, their offsets
    into ``areas``; return the levels of the deepest (the blob header's ``fence
    depth``, see :func:`.rmi.pipelined_levels`). The caller marks the leaf records
    (:func:`.rmi.mark_fence_leaves`). O(n / F).
    """
    pu = p.view(np.uint64)
    f = area_off
    deepest = 0
    for t in range(chosen.shape[0]):
        r = chosen[t]
        s = starts[r]
        e = starts[r + 1]
        levels = 1
        c = (e - s + per - 1) // per
        while c > FANOUT:
            c = (c + FANOUT - 1) // FANOUT
            levels += 1
        p[f] = s
        p[f + 1] = e
        p[f + 2] = levels
        p[f + SPAN] = per
        at = f + AREA_HEADER + 2 * levels
        stride = per
        for j in range(levels):
            c = (e - s + stride - 1) // stride
            p[f + AREA_HEADER + 2 * j] = at
            p[f + AREA_HEADER + 2 * j + 1] = c
            for i in range(c):
                bu, bf = key_bits(keys[s + i * stride])
                pu[at + i] = bu
                if bu == 0:
                    p[at + i] = bf
            at += c
            stride *= FANOUT
        areas[t] = f
        f = at
        deepest = max(deepest, levels)
    return deepest


@njit(cache=True)
def areas_valid(p, starts_f, n, line):
    """Are the fence areas at offsets ``starts_f`` of blob ``p`` well formed for ``n`` keys?

    Checks what a lookup relies on, so that a damaged blob cannot make it read
    out of bounds: ``0 <= s <= e <= n``, 1 to 32 levels, a span of 1 to
    :data:`MAX_SPAN_LINES` lines of ``line`` keys, each level inside the blob
    with the entry count its stride implies. O(levels) per area.
    """
    size = p.shape[0]
    for t in range(starts_f.shape[0]):
        f = starts_f[t]
        if f < 0 or f + AREA_HEADER > size:
            return False
        s, e, levels, per = p[f], p[f + 1], p[f + 2], p[f + SPAN]
        if not (0 <= s <= e <= n and 1 <= levels <= 32) or s != np.floor(s) or e != np.floor(e):
            return False
        if levels != np.floor(levels) or f + AREA_HEADER + 2 * levels > size:
            return False
        if not (line <= per <= MAX_SPAN_LINES * line) or per != np.floor(per) or per % line != 0:
            return False
        stride = np.int64(per)
        m = np.int64(e) - np.int64(s)
        for j in range(np.int64(levels)):
            at = p[f + AREA_HEADER + 2 * j]
            c = p[f + AREA_HEADER + 2 * j + 1]
            if at != np.floor(at) or at < 0 or c != (m + stride - 1) // stride or at + c > size:
                return False
            if j == np.int64(levels) - 1 and c > FANOUT:
                return False
            stride *= FANOUT
    return True
