"""The recursive model index: parameter layout, lookup kernels and training.

All of an index's parameters live in one float64 array, the *model blob*, so
that a jitted call unboxes two arrays (keys and blob) and nothing else::

    header   HEADER floats   n, root form, root offset, n_mid, mid offset,
                             n_leaves, leaf offset, mid form, leaf form,
                             mid width, leaf width, fence depth, narrowing steps
    root     the root family's parameters
    mid      n_mid records of width mid_width, 64-byte aligned  (3-stage indexes only)
    leaves   n_leaves records of width leaf_width, 64-byte aligned

A record keeps everything one lookup touches in one place (one cache line for
linear leaves): ``[base key, aux, params...]``; linear leaves of an index of at
most :data:`.compact.MAX_KEYS` keys use the 16-byte record of :mod:`.compact`
instead (leaf form ``FORM_COMPACT``), and so do linear middle records of an index
of at most that many leaves (mid form ``FORM_COMPACT``; the middle area starts on a
64-byte line, so four such records share a line). The base key is the first key
routed to the record, stored as its ``uint64`` image (integer keys, see
:mod:`.models.common`) or as itself (float keys). ``aux`` packs two 32-bit
values: in a leaf, the window ``width`` (int32) and ``x_last`` (float32, the
largest offset of the leaf's keys, rounded up); in a middle record, the range
``[a, b]`` (two int32) of leaves it may route to.

A leaf clamps the offset to ``[0, x_last]`` before evaluating its model, so a
query in the gap before or after the leaf is predicted like the leaf's first
or last key, and its intercept is shifted so that the exact answer always lies
in ``[p, p + width]`` (see :mod:`.train`).

Lookup (one query ``q``, keys ``K`` of length n)::

    answer by range check if q <= K[0] or q > K[n-1]         (lower bound)
    i    = clamp(floor(root(q - K[0])), 0, n_mid or n_leaves - 1)
    leaf = clamp(floor(mid_i(q - base_i)), range_i)           (3 stages)
    p    = clamp(floor(leaf_model(clamp(q - base_leaf, 0, x_last))), 0, n)
    r    = search K[p : p + width] ;  settle(r)                (exact)

A leaf whose model fits badly may be a *fence leaf* instead (the hybrid index,
see :mod:`.fences`): its window comes from a search of its fences.
"""
import numpy as np
from numba import carray, njit

from . import compact
from . import search as _search
from ._pointer import as_pointer, at, put
from ._prefetch import prefetch
from .fences import (FENCE_MARK, fence_begin, fence_descend, fence_final, fence_step,
                     fence_window, line_keys, prefetch_fence_node)
from .models import FORM_COMPACT, FORM_CUBIC, FORM_LINEAR, FORM_MLP
from .models import cubic, linear, loglinear, mlp
from .models.common import clamp_index, key_bits, key_delta
from .wide import narrowed, prefetch_window

HEADER = 16
(H_N, H_ROOT_FORM, H_ROOT_OFF, H_N_MID, H_MID_OFF, H_N_LEAVES, H_LEAF_OFF,
 H_MID_FORM, H_LEAF_FORM, H_MID_W, H_LEAF_W, H_FENCE_DEPTH, H_NARROW) = range(13)
REC_PARAMS = 2          # params start after the base key and the int32 pair


def record_width(form):
    """Floats per record for an evaluation form (4 = 32 bytes, 8 = one cache line)."""
    if form == FORM_COMPACT:
        return compact.WIDTH
    return 4 if form == FORM_LINEAR else 8


def leaf_form(form, n):
    """The form leaves of evaluation form ``form`` take in an index of ``n`` keys:
    linear ones compact (see :mod:`.compact`) where ``c0`` fits an int32.
    Middle records take ``leaf_form(form, n_leaves)``: their ``c0`` is a leaf."""
    return FORM_COMPACT if form == FORM_LINEAR and n <= compact.MAX_KEYS else form


def leaf_slots(n_leaves, form):
    """Records an area of ``n_leaves`` records (leaves or middle records) of form
    ``form`` holds: a compact area ends with a sentinel record (see :mod:`.compact`)."""
    return n_leaves + (1 if form == FORM_COMPACT else 0)


def leaf_end(p):
    """Offset in blob ``p`` just past its leaf records (and the compact sentinel)."""
    slots = leaf_slots(int(p[H_N_LEAVES]), int(p[H_LEAF_FORM]))
    return int(p[H_LEAF_OFF]) + slots * int(p[H_LEAF_W])


def leaf_records(p):
    """``(offsets, widths)`` of the leaf records of blob ``p``: each record's offset in
    ``p`` and its stored window width (int64; :data:`.fences.FENCE_MARK` for a fence leaf,
    at most ``n`` otherwise)."""
    n_leaves = int(p[H_N_LEAVES])
    off, w = int(p[H_LEAF_OFF]), int(p[H_LEAF_W])
    pairs = p[off:off + n_leaves * w].view(np.int32)
    if int(p[H_LEAF_FORM]) != FORM_COMPACT:
        widths = pairs[2::2 * w].astype(np.int64)
    else:
        codes = pairs[3::2 * w].astype(np.int64) & compact.CODE_MASK
        widths = np.minimum(compact.decode_all(codes), int(p[H_N]))
        widths[codes == compact.FENCE_CODE] = FENCE_MARK
    return off + np.arange(n_leaves, dtype=np.int64) * w, widths


def stored_fence_areas(p, o):
    """The fence area offsets stored in the fence leaf records at offsets ``o`` of blob
    ``p``, as float64 and unchecked (a compact record stores a ``uint64``, a 32-byte one
    a float): for :mod:`._storage` to validate before casting."""
    if int(p[H_LEAF_FORM]) == FORM_COMPACT:
        return p.view(np.uint64)[o].astype(np.float64)
    return p[o + REC_PARAMS]


def fence_areas(p, o):
    """Fence area offsets (int64) of the fence leaf records at offsets ``o`` of blob ``p``."""
    return stored_fence_areas(p, o).astype(np.int64)


@njit(cache=True)
def mark_fence_leaves(p, offsets, areas):
    """Make the leaf records at ``offsets`` fence leaves with areas at ``areas``.

    A compact record keeps its ``c0``: the leaf before it is capped by it.
    """
    pu, pi, _ = _views(p)
    form = np.int64(p[H_LEAF_FORM])
    for t in range(offsets.shape[0]):
        o = offsets[t]
        if form == FORM_COMPACT:
            pu[o] = np.uint64(areas[t])
            compact.set_code(pi, o, compact.FENCE_CODE)
        else:
            pi[2 * o + 2] = FENCE_MARK
            p[o + REC_PARAMS] = areas[t]


# --------------------------------------------------------------------------- evaluation

@njit(cache=True, inline="always")
def evaluate(form, p, o, x, network=False):
    """Evaluate the model of evaluation form ``form`` stored at ``p[o:]``.

    ``network`` must be true where the form may be the network model's: its
    evaluation is a call, not inlined code, and a call in a lookup loop blocks
    LLVM's optimisation of the whole loop (several times slower routing), so
    kernels compile it in only for indexes with a network root.
    """
    if form == FORM_LINEAR:
        return linear.predict(p, o, x)
    if form == FORM_CUBIC:
        return cubic.predict(p, o, x)
    if network and form == FORM_MLP:
        return mlp.predict(p, o, x)
    return loglinear.predict(p, o, x)


@njit(cache=True, inline="always")
def mid_position(p, pu, form, o, q, limit):
    """``clamp(floor(model(q - base)), 0, limit)`` for the middle record at offset ``o``."""
    x = key_delta(q, pu[o], p[o])
    return clamp_index(evaluate(form, p, o + REC_PARAMS, x), limit)


@njit(cache=True, inline="always")
def leaf_position(p, pu, pi, pf, form, o, q, n):
    """The leaf record's guess ``p`` for ``q``: offset clamped to ``[0, x_last]``
    (a compact record: see :func:`.compact.position`)."""
    if form == FORM_COMPACT:
        return compact.position(p, pu, pi, o, q, n)
    x = min(max(key_delta(q, pu[o], p[o]), 0.0), np.float64(pf[2 * o + 3]))
    return clamp_index(evaluate(form, p, o + REC_PARAMS, x), n)


@njit(cache=True, inline="always")
def leaf_width(pi, form, o):
    """The stored window width of the leaf record at ``o`` (``FENCE_MARK``: a fence leaf)."""
    if form != FORM_COMPACT:
        return np.int64(pi[2 * o + 2])
    c = compact.code(pi, o)
    return np.int64(FENCE_MARK) if c == compact.FENCE_CODE else compact.decode(c)


@njit(cache=True, inline="always")
def fence_area(p, pu, form, o):
    """The fence area offset of the fence leaf record at ``o``."""
    return np.int64(pu[o]) if form == FORM_COMPACT else np.int64(p[o + REC_PARAMS])


@njit(cache=True, inline="always")
def prefetch_record(p, form, o):
    """Ask for the leaf or middle record at ``o`` (a compact one reads the next
    record's ``c0`` too)."""
    prefetch(p, o)
    if form == FORM_COMPACT:
        prefetch(p, o + 2 * compact.WIDTH - 1)


#: fields of a layout tuple (see :func:`layout`)
(L_ROOT_FORM, L_ROOT_OFF, L_N_MID, L_MID_OFF, L_MID_W, L_MID_FORM, L_N_LEAVES, L_LEAF_OFF,
 L_LEAF_W, L_LEAF_FORM) = range(10)


@njit(cache=True, inline="always")
def layout(p):
    """The header fields a lookup reads, as one tuple of int64 (read once per batch)."""
    return (np.int64(p[H_ROOT_FORM]), np.int64(p[H_ROOT_OFF]), np.int64(p[H_N_MID]),
            np.int64(p[H_MID_OFF]), np.int64(p[H_MID_W]), np.int64(p[H_MID_FORM]),
            np.int64(p[H_N_LEAVES]), np.int64(p[H_LEAF_OFF]), np.int64(p[H_LEAF_W]),
            np.int64(p[H_LEAF_FORM]))


@njit(cache=True, inline="always")
def route_root(p, lay, kbu, kbf, q, network=True, spread=False):
    """The root's choice for ``q``: a middle record (3 stages) or a leaf (2 stages).

    ``spread`` (a compile-time constant) is for keys that span ``2**63`` or
    more (see :func:`.models.common.key_delta`)."""
    top = lay[L_N_MID] if lay[L_N_MID] > 0 else lay[L_N_LEAVES]
    x = key_delta(q, kbu, kbf, spread)
    return clamp_index(evaluate(lay[L_ROOT_FORM], p, lay[L_ROOT_OFF], x, network), top - 1)


@njit(cache=True, inline="always")
def route_mid(p, pu, pi, lay, o, q):
    """The leaf the middle record at offset ``o`` routes ``q`` to (within its range;
    a compact record's range ends at the next record's ``c0``, see :mod:`.compact`)."""
    if lay[L_MID_FORM] == FORM_COMPACT:
        return compact.position(p, pu, pi, o, q, lay[L_N_LEAVES] - 1)
    leaf = mid_position(p, pu, lay[L_MID_FORM], o, q, lay[L_N_LEAVES] - 1)
    return min(max(leaf, np.int64(pi[2 * o + 2])), np.int64(pi[2 * o + 3]))


@njit(cache=True, inline="always")
def route(p, pu, pi, lay, kbu, kbf, q, network=True):
    """The leaf a query is routed to (root, then the middle stage if any).

    ``network=False`` (a compile-time constant) leaves out the network root
    (see :func:`evaluate`).
    """
    i = route_root(p, lay, kbu, kbf, q, network)
    if lay[L_N_MID] == 0:
        return i
    return route_mid(p, pu, pi, lay, lay[L_MID_OFF] + i * lay[L_MID_W], q)


@njit(cache=True, inline="always")
def leaf_window(keys, p, pu, pi, pf, form, o, q, right):
    """``(pos, hi)`` of the leaf record at ``o``: the answer lies in ``[pos, hi]``.

    A model leaf evaluates its model; a fence leaf (see :mod:`.fences`)
    searches its fences.
    """
    width = leaf_width(pi, form, o)
    if width == FENCE_MARK:
        return fence_window(p, pu, fence_area(p, pu, form, o), q, right)
    pos = leaf_position(p, pu, pi, pf, form, o, q, keys.shape[0])
    return pos, min(pos + width, keys.shape[0])


@njit(cache=True, inline="always")
def window(keys, p, pu, pi, pf, lay, kbu, kbf, q, right):
    """The model's guess and window ``(pos, lo, hi)`` for ``q`` (q within the key range)."""
    o = lay[L_LEAF_OFF] + route(p, pu, pi, lay, kbu, kbf, q) * lay[L_LEAF_W]
    pos, hi = leaf_window(keys, p, pu, pi, pf, lay[L_LEAF_FORM], o, q, right)
    return pos, pos, hi


@njit(cache=True, inline="always")
def _views(p):
    return p.view(np.uint64), p.view(np.int32), p.view(np.float32)


@njit(cache=True, inline="always")
def _locate(keys, p, pu, pi, pf, kbu, kbf, q, right, kind):
    """Exact lower (``right=False``) or upper bound of one query."""
    n = keys.shape[0]
    if n == 0:
        return 0
    if not _search.before(keys[0], q, right):
        return 0
    if _search.before(keys[n - 1], q, right):
        return n
    pos, lo, hi = window(keys, p, pu, pi, pf, layout(p), kbu, kbf, q, right)
    prefetch_window(keys, lo, hi)
    r = _search.in_window(keys, q, lo, hi, pos, kind, right)
    return _search.settle(keys, q, r, right)


# --------------------------------------------------------------------------- lookup kernels

@njit(cache=True)
def bound_one(keys, p, q, right, kind):
    """Scalar lower/upper bound. O(1) model evaluation + O(log window) search."""
    pu, pi, pf = _views(p)
    kbu, kbf = key_bits(keys[0]) if keys.shape[0] else key_bits(q)
    return _locate(keys, p, pu, pi, pf, kbu, kbf, q, right, kind)


#: fields of a scalar handle (see :func:`make_handle`)
HANDLE_FIELDS = 5


def make_handle(keys, p, kind):
    """The int64 array ``[keys address, n, blob address, blob length, kind]`` for :func:`bound_at`.

    The caller keeps ``keys`` and ``p`` alive as long as the handle is used.
    """
    return np.array([keys.ctypes.data, keys.shape[0], p.ctypes.data, p.shape[0], kind],
                    dtype=np.int64)


@njit(cache=True, inline="always")
def _from_handle(handle, q):
    h = carray(as_pointer(handle, np.int64(0)), HANDLE_FIELDS)
    keys = carray(as_pointer(h[0], q), h[1])
    p = carray(as_pointer(h[2], np.float64(0.0)), h[3])
    return keys, p, h[4]


@njit(cache=True)
def bound_at(handle, q, right):
    """:func:`bound_one` for the index whose handle is at address ``handle``.

    The scalar fast path: its entry point unboxes two integers and a bool,
    not two arrays (about 30 ns each from Python).
    """
    keys, p, kind = _from_handle(handle, q)
    return bound_one(keys, p, q, right, kind)


@njit(cache=True)
def contains_at(handle, q, right):
    """:func:`contains_one` through a handle, like :func:`bound_at` (``right`` is unused)."""
    keys, p, kind = _from_handle(handle, q)
    return contains_one(keys, p, q, right, kind)


#: queries between consecutive steps of a query in a batch (see :func:`ring_pipeline`)
LEAD = 8
#: levels of a fence leaf's descent that a batch may pipeline (deeper ones run in the last)
FENCE_STEPS = 6
#: slots of a batch's ring of queries in flight: a power of 2 above ``(3 + FENCE_STEPS) * LEAD``,
#: the iterations a query stays in flight at most (128; a smaller ring would mix queries up)
RING = 1 << ((3 + FENCE_STEPS) * LEAD).bit_length()


@njit(cache=True, inline="always")
def has_network(p):
    """Is the root of blob ``p`` the network model (see :func:`evaluate`)?"""
    return np.int64(p[H_ROOT_FORM]) == FORM_MLP


@njit(cache=True, inline="always")
def has_fences(p):
    """May blob ``p`` have fence leaves? Their areas follow the leaf records
    (see :mod:`.fences`), so a blob that ends with its last leaf record (or the
    compact sentinel, as :func:`leaf_end`) has none."""
    w = np.int64(p[H_LEAF_W])
    end = np.int64(p[H_LEAF_OFF]) + np.int64(p[H_N_LEAVES]) * w
    return p.shape[0] > end + (w if np.int64(p[H_LEAF_FORM]) == FORM_COMPACT else 0)


@njit(cache=True, inline="always")
def pipelined_levels(p):
    """Fence levels a batch pipelines for blob ``p``: its deepest fence leaf's levels
    (header field ``fence depth``, written by the build), at most :data:`FENCE_STEPS`.
    A blob without the field (0, written before it existed) gets :data:`FENCE_STEPS`.
    Only speed depends on it: a deeper descent finishes in the last pipelined step."""
    d = np.int64(p[H_FENCE_DEPTH])
    return FENCE_STEPS if d <= 0 else min(d, FENCE_STEPS)


@njit(cache=True, inline="always")
def ring_pipeline(keys, p, qs, out, start, stop, right, kind, network, defer, deferred):
    """Bounds of ``qs[start:stop]`` into ``out``, as a software pipeline
    (``docs/design.md``, "Batches are latency-bound").

    A lookup is a chain of steps, each waiting on memory the step before asked
    for: the root (prefetch the middle record), the middle record (prefetch the
    leaf record), the leaf (prefetch the window, or a fence leaf's root node),
    the search. Iteration ``i`` takes step ``s`` of query ``i - s * LEAD``, so
    each query's data has ``LEAD`` iterations to arrive while the misses of
    many queries are in flight. After the window step, a fence leaf's query
    descends a level per step (up to :func:`pipelined_levels`, then finishes
    its descent); an index without fence leaves or network root takes
    :func:`.batch.stage_passes` instead. A window of more than
    ``PREFETCH_LINES`` lines is searched at once; or, with ``defer``, its query
    and window are written to the rows of ``deferred`` and left unanswered, for
    :func:`.wide.narrow_pass` (see :func:`.batch.ring_range`). ``keys`` is not
    empty. Returns the number of deferred queries.

    A ring slot's record is -1 when no query is at that step: before the
    batch's first query, after its last, or once answered. :data:`RING` is
    larger than the iterations a query stays in flight, so a step reads only
    its slot, with no check of the batch's range.
    """
    pu, pi, pf = _views(p)
    lay = layout(p)
    n = keys.shape[0]
    kbu, kbf = key_bits(keys[0])
    first = keys[0]
    last = keys[n - 1]
    n_mid = lay[L_N_MID]
    mid_off = lay[L_MID_OFF]
    mid_w = lay[L_MID_W]
    leaf_off = lay[L_LEAF_OFF]
    leaf_w = lay[L_LEAF_W]
    form = lay[L_LEAF_FORM]
    mask = RING - 1
    rec = np.full(RING, -1, dtype=np.int64)  # a record's offset; -1: no query in this step
    lo = np.empty(RING, dtype=np.int64)     # the window, or the fence node being descended
    hi = np.empty(RING, dtype=np.int64)
    area = np.empty(RING, dtype=np.int64)   # fence area
    level = np.empty(RING, dtype=np.int64)  # fence level to descend next; -1: window known
    steps = 1 + (pipelined_levels(p) if has_fences(p) else 0)
    per_line = line_keys(keys)
    m = 0
    for i in range(start, stop + (2 + steps) * LEAD):
        rec[i & mask] = -1
        if i < stop:
            q = at(qs, i)
            if not _search.before(first, q, right):
                put(out, i, 0)
            elif _search.before(last, q, right):
                put(out, i, n)
            else:
                r = route_root(p, lay, kbu, kbf, q, network)
                if n_mid > 0:
                    o = mid_off + r * mid_w
                    prefetch_record(p, lay[L_MID_FORM], o)
                else:
                    o = leaf_off + r * leaf_w
                    prefetch_record(p, form, o)
                rec[i & mask] = o
        j = i - LEAD
        if n_mid > 0 and rec[j & mask] >= 0:
            o = leaf_off + route_mid(p, pu, pi, lay, rec[j & mask], at(qs, j)) * leaf_w
            rec[j & mask] = o
            prefetch_record(p, form, o)
        j -= LEAD
        if rec[j & mask] >= 0:
            t = j & mask
            o = rec[t]
            width = leaf_width(pi, form, o)
            if width == FENCE_MARK:
                f = fence_area(p, pu, form, o)
                area[t] = f
                level[t], lo[t], hi[t] = fence_begin(p, f)
                prefetch_fence_node(p, f, level[t], lo[t], hi[t])
            else:
                a = leaf_position(p, pu, pi, pf, form, o, at(qs, j), n)
                lo[t] = a
                hi[t] = min(a + width, n)
                if defer and narrowed(hi[t] - a, per_line):
                    deferred[0, m], deferred[1, m], deferred[2, m] = j, a, hi[t]
                    m += 1
                    rec[t] = -1
                else:
                    level[t] = -1
                    prefetch_window(keys, a, hi[t])
        for s in range(steps):
            j -= LEAD
            if rec[j & mask] >= 0:
                t = j & mask
                q = at(qs, j)
                if level[t] < 0:                    # window known: search, done
                    r = _search.in_window(keys, q, lo[t], hi[t], lo[t], kind, right)
                    put(out, j, _search.settle(keys, q, r, right))
                    rec[t] = -1
                    continue
                f = area[t]
                lv, a, b = fence_step(pu, p, f, level[t], lo[t], hi[t], q, right)
                if lv >= 0 and s == steps - 2:
                    a = fence_descend(pu, p, f, lv, a, b, q, right)
                    lv = -1
                level[t] = lv
                if lv >= 0:
                    lo[t] = a
                    hi[t] = b
                    prefetch_fence_node(p, f, lv, a, b)
                else:
                    lo[t], hi[t] = fence_final(p, f, a)
                    prefetch_window(keys, lo[t], hi[t])
    return m


@njit(cache=True)
def contains_one(keys, p, q, right, kind):
    """Is ``q`` one of the keys? (``right`` is unused: the signature is :func:`bound_one`'s.)"""
    r = bound_one(keys, p, q, np.bool_(False), kind)
    return r < keys.shape[0] and keys[r] == q


@njit(cache=True, nogil=True)
def windows_many(keys, p, qs, out, right):
    """The model's ``(pos, lo, hi)`` for each query, before any search (rows of ``out``).

    The window holds the lower bound (``right=False``) or the upper bound.
    Queries outside the key range get the range check's answer (of the lower
    bound) as a zero-width window.
    """
    pu, pi, pf = _views(p)
    n = keys.shape[0]
    if n == 0:
        out[:] = 0
        return
    kbu, kbf = key_bits(keys[0])
    lay = layout(p)
    for j in range(qs.shape[0]):
        q = qs[j]
        if q <= keys[0]:
            out[j, 0] = out[j, 1] = out[j, 2] = 0
        elif q > keys[n - 1]:
            out[j, 0] = out[j, 1] = out[j, 2] = n
        else:
            pos, lo, hi = window(keys, p, pu, pi, pf, lay, kbu, kbf, q, right)
            out[j, 0] = pos
            out[j, 1] = lo
            out[j, 2] = hi
