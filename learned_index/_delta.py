"""Kernels of :class:`~learned_index.kv.LearnedKV`: lookups through the learned base
with the write buffer laid over it, and the O(n) merges behind ranges and compaction.

Values of any fixed-size dtype reach these kernels as a 2-D array of unsigned
words, ``raw[i] = values[i].view(uintX)`` (see :func:`raw_view`), so one
compiled kernel per word size serves float64, int32, complex, bytes and
records alike. Object values take :func:`resolve_many` and a numpy gather.

The buffer ("delta") is a sorted array of distinct keys ``dkeys`` with
``dslots``: the row of the key's value in the delta's value array, or ``-1``
for a tombstone (the key was deleted); batch reads also take a small *recent*
level ``(rkeys, rslots)`` of newer writes, searched first, so that a few
writes between two batches do not cost a merge of the whole buffer.

Also the store's array helpers: bulk-load sorting with duplicate detection
and the casting rules of values (:func:`cast_values`).
"""
import numpy as np
from numba import carray, njit

from . import _coerce, batch, rmi
from ._pointer import as_pointer
from ._prefetch import prefetch

TOMB = -1


def raw_view(values):
    """``values`` (1-D, contiguous, not object) as a ``(n, w)`` array of unsigned words."""
    size = values.dtype.itemsize
    for word in (8, 4, 2, 1):
        if size % word == 0:
            break
    flat = values.reshape(-1).view(np.uint8) if values.shape[0] else np.zeros(0, np.uint8)
    return flat.view(np.dtype(f"u{word}")).reshape(values.shape[0], size // word)


@njit(cache=True, inline="always")
def _lower(a, q, lo, hi):
    """First index of ``a[lo:hi]`` with ``a[i] >= q`` (binary search)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < q:
            lo = mid + 1
        else:
            hi = mid
    return lo


#: fields of a point-read handle (see :func:`make_handle`)
HANDLE_FIELDS = 7


def make_handle(keys, p, kind, vbytes):
    """``[keys address, n, blob address, blob length, kind, values address, row bytes]``.

    Lets :func:`find_at`'s entry point unbox two integers instead of three
    arrays; the caller keeps the arrays alive while the handle is in use.
    """
    n = keys.shape[0]
    row = vbytes.shape[0] // n if n and vbytes.shape[0] else 0
    return np.array([keys.ctypes.data, n, p.ctypes.data, p.shape[0], kind,
                     vbytes.ctypes.data if row else 0, row], dtype=np.int64)


@njit(cache=True)
def find_at(handle, q):
    """Position of key ``q`` in the base described by ``handle``, or -1.

    The found value row is prefetched, so that the caller's read of the
    value overlaps with the return to Python instead of waiting after it.
    """
    h = carray(as_pointer(handle, np.int64(0)), HANDLE_FIELDS)
    n = h[1]
    keys = carray(as_pointer(h[0], q), n)
    p = carray(as_pointer(h[2], np.float64(0.0)), h[3])
    r = rmi.bound_one(keys, p, q, np.bool_(False), h[4])
    if r < n and keys[r] == q:
        if h[6]:
            prefetch(carray(as_pointer(h[5], np.uint8(0)), n * h[6]), r * h[6])
        return r
    return -1


@njit(cache=True, inline="always")
def _delta_slot(rkeys, rslots, dkeys, dslots, q):
    """The buffer's slot of ``q`` (recent level first), -1 for a tombstone, -2 if absent."""
    nr = rkeys.shape[0]
    if nr > 0:
        i = _lower(rkeys, q, 0, nr)
        if i < nr and rkeys[i] == q:
            return rslots[i]
    nd = dkeys.shape[0]
    if nd > 0:
        i = _lower(dkeys, q, 0, nd)
        if i < nd and dkeys[i] == q:
            return dslots[i]
    return -2


#: queries ahead whose value row is prefetched in :func:`get_many`
AHEAD = 16
#: queries looked up at a time by :func:`get_many` (their key lines stay in the L2 cache)
CHUNK = 4096


@njit(cache=True, inline="always")
def _prefetch_hit(flat, keys, pos, t, w):
    """Ask for what :func:`get_many` reads for query ``t`` if its key is in the base:
    the value row (``w`` values wide) and the key at its lower bound ``pos[t]``."""
    if pos[t] < keys.shape[0]:
        prefetch(flat, pos[t] * w)
        prefetch(keys, pos[t])


@njit(cache=True, nogil=True)
def get_many(keys, p, qs, kind, rkeys, rslots, dkeys, dslots, braw, draw, out, found):
    """Values of ``qs`` into ``out`` (rows, zero-filled by the caller) and ``found``.

    Batch lower bounds on the base, :data:`CHUNK` queries at a time; then each
    query of the chunk is looked up in the two levels of the buffer (binary
    searches, skipped when empty) and otherwise checked against the base key
    at its lower bound, while the value row and that key of the query
    :data:`AHEAD` places on are prefetched (the chunk's lookups may have
    pushed the key's line out of the L2 since they read it: 3-12% faster,
    ``docs/performance.md``). O(log w + log d) per query.
    """
    m = qs.shape[0]
    pos = np.empty(m, dtype=np.int64)
    n = keys.shape[0]
    w = out.shape[1]
    flat = braw.reshape(-1)
    buffered = rkeys.shape[0] > 0 or dkeys.shape[0] > 0
    stop = 0
    for j in range(m):
        if j == stop:
            stop = min(j + CHUNK, m)
            # slices, start 0 and np.bool_: the batch kernel as compiled for batch.bound_many
            batch.bound_range(keys, p, qs[j:stop], pos[j:stop], 0, stop - j, np.bool_(False), kind)
            for t in range(j, min(j + AHEAD, stop)):
                _prefetch_hit(flat, keys, pos, t, w)
        if j + AHEAD < stop:
            _prefetch_hit(flat, keys, pos, j + AHEAD, w)
        q = qs[j]
        if buffered:
            s = _delta_slot(rkeys, rslots, dkeys, dslots, q)
            if s != -2:
                if s >= 0:
                    for c in range(w):
                        out[j, c] = draw[s, c]
                found[j] = s >= 0
                continue
        r = pos[j]
        if r < n and keys[r] == q:
            for c in range(w):
                out[j, c] = braw[r, c]
            found[j] = True
        else:
            found[j] = False


@njit(cache=True, nogil=True)
def resolve_many(keys, p, qs, kind, rkeys, rslots, dkeys, dslots, src):
    """Where each query's value lives: ``src >= 0`` base row, ``<= -2`` delta row
    ``-2 - src``, ``-1`` absent (for values a kernel cannot copy)."""
    m = qs.shape[0]
    batch.bound_many(keys, p, qs, src, np.bool_(False), kind)
    n = keys.shape[0]
    buffered = rkeys.shape[0] > 0 or dkeys.shape[0] > 0
    for j in range(m):
        q = qs[j]
        s = _delta_slot(rkeys, rslots, dkeys, dslots, q) if buffered else -2
        if s != -2:
            src[j] = -2 - s if s >= 0 else -1
            continue
        r = src[j]
        src[j] = r if r < n and keys[r] == q else -1


@njit(cache=True, nogil=True)
def merge_sources(bkeys, dkeys, dslots, out_keys, src):
    """Merge sorted unique base keys with the delta (delta wins, tombstones drop).

    Fills ``out_keys[:m]`` and ``src[:m]`` (base row ``>= 0`` or delta row
    ``-2 - src``) and returns ``m``. O(n + d).
    """
    n = bkeys.shape[0]
    nd = dkeys.shape[0]
    i = 0
    j = 0
    m = 0
    while i < n or j < nd:
        if j >= nd or (i < n and bkeys[i] < dkeys[j]):
            out_keys[m] = bkeys[i]
            src[m] = i
            m += 1
            i += 1
            continue
        equal = i < n and bkeys[i] == dkeys[j]
        s = dslots[j]
        if s >= 0:
            out_keys[m] = bkeys[i] if equal else dkeys[j]
            src[m] = -2 - s
            m += 1
        if equal:
            i += 1
        j += 1
    return m


@njit(cache=True, nogil=True)
def gather_rows(braw, draw, src, m, out):
    """``out[t] = braw[src[t]]`` or ``draw[-2 - src[t]]`` for ``t < m``."""
    w = out.shape[1]
    for t in range(m):
        s = src[t]
        if s >= 0:
            for c in range(w):
                out[t, c] = braw[s, c]
        else:
            r = -2 - s
            for c in range(w):
                out[t, c] = draw[r, c]


@njit(cache=True, nogil=True)
def merge_delta(okeys, oslots, nkeys, nslots, nbase, out_keys, out_slots):
    """Merge the sorted delta ``(okeys, oslots)`` with newer writes.

    ``nkeys`` is sorted with equal keys in write order (a stable sort of the
    write log), so the last of a run is the newest; newer entries win.
    ``nbase[j]`` tells whether ``nkeys[j]`` is a key of the base. Returns the
    length of the merged delta and the change in the number of keys of the
    store caused by the newer writes. O(d + r).
    """
    n = okeys.shape[0]
    r = nkeys.shape[0]
    i = 0
    j = 0
    m = 0
    grown = 0
    while i < n or j < r:
        if j >= r or (i < n and okeys[i] < nkeys[j]):
            out_keys[m] = okeys[i]
            out_slots[m] = oslots[i]
            m += 1
            i += 1
            continue
        if i < n and okeys[i] == nkeys[j]:
            present = oslots[i] >= 0
            out_keys[m] = okeys[i]
            i += 1
        else:
            present = nbase[j]
            out_keys[m] = nkeys[j]
        while True:
            live = nslots[j] >= 0
            if live and not present:
                grown += 1
            elif present and not live:
                grown -= 1
            present = live
            if j + 1 < r and nkeys[j + 1] == nkeys[j]:
                j += 1
            else:
                break
        out_slots[m] = nslots[j]
        m += 1
        j += 1
    return m, grown


@njit(cache=True, nogil=True)
def prior_presence(dkeys, dslots, nkeys, in_base, out):
    """Is each of ``nkeys`` a key of the store as the (older) delta level and the base say?"""
    nd = dkeys.shape[0]
    for j in range(nkeys.shape[0]):
        i = _lower(dkeys, nkeys[j], 0, nd)
        if i < nd and dkeys[i] == nkeys[j]:
            out[j] = dslots[i] >= 0
        else:
            out[j] = in_base[j]


@njit(cache=True, nogil=True)
def strictly_increasing(a):
    """Are the keys sorted and distinct?"""
    for i in range(1, a.shape[0]):
        if not a[i - 1] < a[i]:
            return False
    return True


# --------------------------------------------------------------------------- array helpers

def base_contains(base, qk):
    """Lower bounds of ``qk`` in a store's base and whether each is a key."""
    out = np.empty(qk.shape[0], np.int64)
    batch.bound_many(base.keys, base.model, _coerce.frozen(qk), out, False, base.kind)
    n = base.keys.shape[0]
    hit = out < n
    hit[hit] = base.keys[out[hit]] == qk[hit]
    return out, hit


def sorted_unique(keys, values):
    """Sort a bulk load by key; ``ValueError`` naming the first duplicate (input order)."""
    order = None
    if not strictly_increasing(keys):
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        dup = np.flatnonzero(keys[1:] == keys[:-1])
        if dup.size:
            j = int(np.argmin(order[dup + 1]))
            first, second = sorted((int(order[dup[j]]), int(order[dup[j] + 1])))
            raise ValueError(f"duplicate key {keys[dup[j]].item()!r} (positions {first} and "
                             f"{second} of the bulk load)")
        values = values[order]
    return np.array(keys, copy=order is None), np.array(values, copy=order is None)


def cast_values(v, vdt, count):
    """Values ``v`` as a contiguous array of dtype ``vdt``: ``(count,)``, or ``(1,)``
    for a scalar (``count is None``).

    Numbers keep their kind or widen it (bool < int < float < complex; an
    integer store range-checks, a float store rounds); other dtypes need a
    safe numpy cast (``np.can_cast(..., "safe")``). Anything else raises
    ``TypeError`` or ``ValueError``.
    """
    shape = (1,) if count is None else (count,)
    if vdt.hasobject:
        out = np.empty(shape, vdt)
        seq = [v] if count is None else list(v)
        if len(seq) != shape[0]:
            raise ValueError(f"{len(seq)} values for {shape[0]} keys")
        for i, x in enumerate(seq):
            out[i] = x
        return out
    try:
        if vdt.names is not None and not isinstance(v, (np.ndarray, np.void)):
            a = np.array(v if count is not None else [v], dtype=vdt)
            if count is None:
                a = a.reshape(())
        else:
            a = np.asarray(v)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot store {v!r} as {vdt} values: {e}") from None
    if (a.ndim != 0) if count is None else (a.shape != shape):
        want = "a scalar" if count is None else f"shape {shape}"
        raise ValueError(f"values must be {want}, got shape {a.shape}")
    if a.dtype != vdt:
        src, dst = a.dtype.kind, vdt.kind
        allowed = {"b": "b", "i": "biu", "u": "biu", "f": "biuf", "c": "biufc"}.get(dst)
        ok = src in allowed if allowed is not None else np.can_cast(a.dtype, vdt, "safe")
        if not ok:
            raise TypeError(f"cannot store {a.dtype} values in a {vdt} store")
        if dst in "iu" and src in "iu" and a.size:
            info = np.iinfo(vdt)
            if int(a.min()) < info.min or int(a.max()) > info.max:
                raise ValueError(f"value out of range for {vdt}")
    return np.ascontiguousarray(a, dtype=vdt).reshape(shape)
