"""Batch lookup kernels: a stage at a time.

A batch goes through the index in chunks of :data:`CHUNK_QUERIES` queries,
and each chunk in one pass per stage, each pass a small jitted function of
its own::

    root pass     range checks; the record the root routes each query to
    middle pass   (3 stages) the leaf record, from the middle record
    leaf pass     the window, from the leaf record (a wide one is set aside)
    search pass   the exact answer, searched in the window

A pass works on query ``k`` while it prefetches what query ``k + AHEAD``
will read (its record, or its window's keys), so the misses of many queries
are in flight, as in the ring pipeline (:func:`.rmi.ring_pipeline`) that
interleaves all stages in one loop. A pass's loop is short, keeps its values
in registers, and its iterations do not depend on each other, so the
processor overlaps the searches of several queries; and the search pass is
compiled for a constant ``right`` (the branch-free search's compare is then
one instruction). Each pass works on borrowed views of its arrays
(:func:`._pointer.borrow`): a callee cannot know that its caller's views
are borrowed, and with its own it has no reference counts to keep. At 10**7
keys this made the default index's batch lookups 18-31% faster on random
present keys (``docs/tuning-log.md``, "Lookups a stage at a time").

Indexes with fence leaves or a network root keep the ring pipeline: a fence
leaf's descent takes a step per level. Both paths set the queries of wide
windows aside for :func:`.wide.narrow_pass`, a chunk of
:data:`.wide.DEFER_CHUNK` queries at a time.
"""
import numpy as np
from numba import njit, prange

from . import search as _search
from ._pointer import at, borrow, put
from .fences import line_keys
from .models.common import key_bits, spread
from .rmi import (FENCE_STEPS, H_N_MID, H_NARROW, L_LEAF_FORM, L_LEAF_OFF, L_LEAF_W, L_MID_FORM,
                  L_MID_OFF, L_MID_W, L_N_MID, _views, has_fences, has_network, layout,
                  leaf_position, leaf_width, prefetch_record, ring_pipeline, route_mid, route_root)
from .wide import DEFER_CHUNK, narrow_pass, narrowed, prefetch_window

#: queries per chunk of a batch (each pass runs over one chunk)
CHUNK_QUERIES = 1024
#: queries between the prefetch of a query's data and its use in a pass
AHEAD = 16
#: queries per task of the parallel batch kernel
CHUNK = 4096


# --------------------------------------------------------------------------- the passes

@njit(cache=True, nogil=True)
def root_pass(keys, p, qs, out, rec, a, c, right):
    """Range checks of ``qs[a:a + c]``: an answer into ``out`` and -1 into ``rec``,
    or the offset of the record the root routes the query to. O(c).

    Its loop is compiled twice, for keys that span ``2**63`` or more and for
    the others (``spread`` in :func:`.rmi.route_root`): over the first, the
    size of a key's offset would be a coin toss for the branch predictor; over
    the second, the branch on it is always taken and the conversion is one
    instruction.
    """
    keys, p, qs, out, rec = borrow(keys), borrow(p), borrow(qs), borrow(out), borrow(rec)
    if spread(keys[0], keys[keys.shape[0] - 1]):
        _route_chunk(keys, p, qs, out, rec, a, c, right, True)
    else:
        _route_chunk(keys, p, qs, out, rec, a, c, right, False)
    rec[c:] = -1


@njit(cache=True, inline="always")
def _route_chunk(keys, p, qs, out, rec, a, c, right, wide):
    """The loop of :func:`root_pass`, with ``wide`` (keys that span ``2**63``) a constant."""
    lay = layout(p)
    n = keys.shape[0]
    kbu, kbf = key_bits(keys[0])
    first = keys[0]
    last = keys[n - 1]
    if lay[L_N_MID] > 0:
        base, width = lay[L_MID_OFF], lay[L_MID_W]
    else:
        base, width = lay[L_LEAF_OFF], lay[L_LEAF_W]
    for k in range(c):
        q = at(qs, a + k)
        if not _search.before(first, q, right):
            put(out, a + k, 0)
            put(rec, k, -1)
        elif _search.before(last, q, right):
            put(out, a + k, n)
            put(rec, k, -1)
        else:
            put(rec, k, base + route_root(p, lay, kbu, kbf, q, False, wide) * width)


@njit(cache=True, inline="always")
def _prefetch_records(p, form, rec, k):
    """Ask for the record at ``rec[k]`` (none if -1)."""
    if at(rec, k) >= 0:
        prefetch_record(p, form, at(rec, k))


@njit(cache=True, inline="always")
def _prefetch_first_records(p, form, rec):
    """Ask for the records of a pass's first :data:`AHEAD` queries, before its loop."""
    for k in range(AHEAD):
        _prefetch_records(p, form, rec, k)


@njit(cache=True, nogil=True)
def mid_pass(p, qs, rec, a, c):
    """The leaf record the middle record at ``rec[k]`` routes ``qs[a + k]`` to, into
    ``rec[k]``, for ``k < c`` (-1 stays -1). O(c)."""
    p, qs, rec = borrow(p), borrow(qs), borrow(rec)
    pu, pi, _ = _views(p)
    lay = layout(p)
    form = lay[L_MID_FORM]
    _prefetch_first_records(p, form, rec)
    for k in range(c):
        _prefetch_records(p, form, rec, k + AHEAD)
        o = at(rec, k)
        if o >= 0:
            put(rec, k, lay[L_LEAF_OFF] + route_mid(p, pu, pi, lay, o, at(qs, a + k))
                * lay[L_LEAF_W])


@njit(cache=True, nogil=True)
def leaf_pass(keys, p, qs, rec, lo, hi, a, c, defer, deferred, m):
    """The window ``[lo[k], hi[k]]`` of the leaf record at ``rec[k]`` for ``qs[a + k]``.

    With ``defer``, a window :func:`.wide.narrowed` is not searched here: the
    query's index and window go to column ``m`` of ``deferred``, ``rec[k]``
    becomes -1 and ``m`` counts it. Returns ``m``. O(c).
    """
    keys, p, qs, rec = borrow(keys), borrow(p), borrow(qs), borrow(rec)
    lo, hi = borrow(lo), borrow(hi)
    pu, pi, pf = _views(p)
    form = layout(p)[L_LEAF_FORM]
    n = keys.shape[0]
    per_line = line_keys(keys)
    _prefetch_first_records(p, form, rec)
    for k in range(c):
        _prefetch_records(p, form, rec, k + AHEAD)
        o = at(rec, k)
        if o >= 0:
            x = leaf_position(p, pu, pi, pf, form, o, at(qs, a + k), n)
            y = min(x + leaf_width(pi, form, o), n)
            if defer and narrowed(y - x, per_line):
                deferred[0, m], deferred[1, m], deferred[2, m] = a + k, x, y
                m += 1
                put(rec, k, -1)
            else:
                put(lo, k, x)
                put(hi, k, y)
    return m


@njit(cache=True, inline="always")
def _prefetch_window(keys, rec, lo, hi, k):
    """Ask for the keys of query ``k``'s window (none if ``rec[k]`` is -1)."""
    if at(rec, k) >= 0:
        prefetch_window(keys, at(lo, k), at(hi, k))


@njit(cache=True, nogil=True)
def search_pass(keys, qs, out, rec, lo, hi, a, c, right, kind):
    """The exact bound of ``qs[a + k]`` in its window, into ``out``, for each ``k < c``
    whose ``rec[k]`` is not -1. O(c log window)."""
    keys, qs, out, rec = borrow(keys), borrow(qs), borrow(out), borrow(rec)
    lo, hi = borrow(lo), borrow(hi)
    for k in range(AHEAD):
        _prefetch_window(keys, rec, lo, hi, k)
    for k in range(c):
        _prefetch_window(keys, rec, lo, hi, k + AHEAD)
        if at(rec, k) >= 0:
            q = at(qs, a + k)
            r = _search.in_window(keys, q, at(lo, k), at(hi, k), at(lo, k), kind, right)
            put(out, a + k, _search.settle(keys, q, r, right))


@njit(cache=True, nogil=True)
def stage_passes(keys, p, qs, out, start, stop, right, kind):
    """Bounds of ``qs[start:stop]`` into ``out``, a stage at a time (see the module's
    docstring), for an index without fence leaves or network root, over keys not
    empty. ``right`` is a compile-time constant (see :func:`bound_range`).
    O((stop - start) log window)."""
    steps = min(np.int64(p[H_NARROW]), FENCE_STEPS)
    defer = steps > 0
    deferred = np.empty((3, DEFER_CHUNK if defer else 0), dtype=np.int64)
    rec = np.empty(CHUNK_QUERIES + AHEAD, dtype=np.int64)
    lo = np.empty(CHUNK_QUERIES + AHEAD, dtype=np.int64)
    hi = np.empty(CHUNK_QUERIES + AHEAD, dtype=np.int64)
    three = np.int64(p[H_N_MID]) > 0
    for b in range(start, stop, DEFER_CHUNK):
        e = min(b + DEFER_CHUNK, stop)
        m = np.int64(0)
        for a in range(b, e, CHUNK_QUERIES):
            c = min(CHUNK_QUERIES, e - a)
            root_pass(keys, p, qs, out, rec, a, c, right)
            if three:
                mid_pass(p, qs, rec, a, c)
            m = leaf_pass(keys, p, qs, rec, lo, hi, a, c, defer, deferred, m)
            search_pass(keys, qs, out, rec, lo, hi, a, c, right, kind)
        narrow_pass(keys, qs, out, deferred[0], deferred[1], deferred[2], m, steps, right, kind)


# --------------------------------------------------------------------------- entry points

@njit(cache=True, nogil=True)
def ring_range(keys, p, qs, out, start, stop, right, kind):
    """Bounds of ``qs[start:stop]`` into ``out`` with :func:`.rmi.ring_pipeline`,
    compiled with the network root only for indexes that have one (see
    :func:`.rmi.evaluate`). Queries come in chunks of :data:`.wide.DEFER_CHUNK`
    where wide windows are narrowed (header field ``narrowing steps``): each chunk's
    wide-window queries are set aside and narrowed in a pass of their own
    (:func:`.wide.narrow_pass`). ``keys`` is not empty."""
    keys, p, qs, out = borrow(keys), borrow(p), borrow(qs), borrow(out)
    steps = min(np.int64(p[H_NARROW]), FENCE_STEPS)
    defer = steps > 0
    chunk = DEFER_CHUNK if defer else max(stop - start, 1)
    dq = np.empty((3, min(chunk, stop - start) if defer else 0), dtype=np.int64)
    network = has_network(p)
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        if network:
            m = ring_pipeline(keys, p, qs, out, a, b, right, kind, True, defer, dq)
        else:
            m = ring_pipeline(keys, p, qs, out, a, b, right, kind, False, defer, dq)
        narrow_pass(keys, qs, out, dq[0], dq[1], dq[2], m, steps, right, kind)


@njit(cache=True, nogil=True)
def bound_range(keys, p, qs, out, start, stop, right, kind):
    """Bounds of ``qs[start:stop]`` into ``out``: :func:`stage_passes`, compiled for
    each value of ``right``, or for an index with fence leaves or a network root
    :func:`ring_range`."""
    if keys.shape[0] == 0:
        out[start:stop] = 0
    elif has_network(p) or has_fences(p):
        ring_range(keys, p, qs, out, start, stop, right, kind)
    elif right:
        stage_passes(keys, p, qs, out, start, stop, True, kind)
    else:
        stage_passes(keys, p, qs, out, start, stop, False, kind)


@njit(cache=True, nogil=True)
def bound_many(keys, p, qs, out, right, kind):
    """Batch lower/upper bound into ``out``.

    ``start`` is passed as the literal 0, so this kernel has :func:`bound_range`
    compiled for it. Every jitted caller passes slices and the literal 0 too,
    so that variant is the only one compiled.
    """
    bound_range(keys, p, qs, out, 0, qs.shape[0], right, kind)


@njit(cache=True, nogil=True, parallel=True)
def bound_many_parallel(keys, p, qs, out, right, kind):
    """Batch lower/upper bound, chunks of queries split across threads (numba ``prange``)."""
    m = qs.shape[0]
    for c in prange((m + CHUNK - 1) // CHUNK):
        a, b = c * CHUNK, min((c + 1) * CHUNK, m)
        bound_range(keys, p, qs[a:b], out[a:b], 0, b - a, right, kind)     # see bound_many


@njit(cache=True, nogil=True)
def contains_many(keys, p, qs, out, kind):
    """Batch membership into the bool array ``out``.

    The lower bounds of :data:`CHUNK_QUERIES` queries at a time, each chunk
    checked right after (:func:`.search.members`): its lookups read those key
    lines moments before, so they are mostly still in the L2; after the whole
    batch's bounds they would be gone (``docs/tuning-log.md``, "Membership a chunk
    at a time": up to 20% faster). O(m log window).
    """
    m = qs.shape[0]
    pos = np.empty(min(m, CHUNK_QUERIES), dtype=np.int64)
    for a in range(0, m, CHUNK_QUERIES):
        c = min(CHUNK_QUERIES, m - a)
        # slices, start 0 and np.bool_: the kernel as compiled for bound_many
        bound_range(keys, p, qs[a:a + c], pos[:c], 0, c, np.bool_(False), kind)
        _search.members(keys, qs, pos, out, a, c, AHEAD)
