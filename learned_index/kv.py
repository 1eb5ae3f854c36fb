"""``LearnedKV``: a sorted, updatable, persistent key-value store read through a learned index.

Layout: an immutable *base* (sorted unique keys, their values, a
:class:`LearnedIndex` over the keys) plus a write *buffer* of the writes since
the last compaction. The buffer is an append-only log (keys, value rows,
tombstones) indexed by a ``dict`` (key -> row, or -1 for a deletion) for
point reads, and materialised lazily as sorted arrays (two levels, merged
incrementally in numba) for batch reads, ranges and compaction. Compaction
merges base and buffer in O(n) and retrains the index; it runs in the
writing thread once the buffer holds ``max(compact_min, compact_fraction * n)``
writes, or on :meth:`LearnedKV.compact`.

Concurrency: one consistent version of the store is a ``_State`` object;
writers (serialised by a lock) append to the current state's buffer in an
order that keeps every concurrent read valid, and compaction builds a new
state and publishes it with one attribute assignment (copy-on-write). A
reader takes one reference to the state and never sees a half-state.
"""
import threading

import numpy as np

from . import _coerce, _delta, _storage
from ._kvstate import _Base, _State, _View
from .index import LearnedIndex

__all__ = ["LearnedKV"]

_INDEX_OPTIONS = ("stages", "n_leaves", "search", "n_mid", "parallel", "mlp_hidden", "seed",
                  "max_window", "max_bytes")
_CHUNK = 1 << 16


class LearnedKV:
    """A sorted key-value store whose reads go through a recursive model index.

    Semantics are those of a ``dict`` plus key order. Keys follow the
    :class:`LearnedIndex` dtype rules (uint64, int64, uint32, int32, float64;
    NaN raises); lookups compare exactly, so ``kv[3.0]`` finds key 3 and
    ``kv[-1]`` of a uint64 store raises ``KeyError``. Values are a numpy
    dtype fixed at creation (any fixed-size dtype: numbers, bytes, records).

    Parameters
    ----------
    keys, values : array_like, optional
        Bulk load: distinct keys (any order) and one value each. Duplicate
        keys raise ``ValueError`` naming the first repeated one.
    dtype, value_dtype : dtype, optional
        Key and value dtypes (default: those of ``keys`` and ``values``, or
        uint64 and float64 for an empty store).
    compact_fraction, compact_min : float, int
        Compact once the buffer holds ``max(compact_min, compact_fraction * n)``
        writes (n: keys of the learned base).
    index_options : dict, optional
        Options of the :class:`LearnedIndex` built at load and compaction.

    Examples
    --------
    >>> import numpy as np
    >>> kv = LearnedKV(np.array([30, 10, 20], np.uint64), np.array([3.0, 1.0, 2.0]))
    >>> kv[10], kv.get(15), 20 in kv, len(kv)
    (np.float64(1.0), None, True, 3)
    >>> kv[15] = 1.5; del kv[30]
    >>> list(kv.items())
    [(10, np.float64(1.0)), (15, np.float64(1.5)), (20, np.float64(2.0))]
    """

    #: the recent level of the buffer's view is folded into the main one beyond
    #: ``max(_recent_min, d / 8)`` keys (see :meth:`_view`)
    _recent_min = 1024

    def __init__(self, keys=None, values=None, *, dtype=None, value_dtype=None,
                 compact_fraction=0.02, compact_min=4096, index_options=None):
        if (keys is None) != (values is None):
            raise TypeError("give both keys and values, or neither")
        self._lock = threading.RLock()
        self.compact_fraction = float(compact_fraction)
        self.compact_min = int(compact_min)
        if not self.compact_fraction > 0 or self.compact_min < 1:
            raise ValueError("compact_fraction must be > 0 and compact_min >= 1")
        self._index_options = _check_index_options(index_options or {})
        if keys is None:
            self._set_dtypes(np.uint64 if dtype is None else dtype,
                             np.float64 if value_dtype is None else value_dtype)
            keys = np.empty(0, self._kdt)
            values = np.empty(0, self._vdt)
        else:
            raw = _coerce.key_array(keys)
            if raw.ndim != 1:
                raise ValueError(f"keys must be 1-D, got shape {raw.shape}")
            kdt = _coerce.as_keys(raw[:0]).dtype if dtype is None else dtype
            vals = values if isinstance(values, np.ndarray) else None
            vdt = value_dtype if value_dtype is not None else (
                vals.dtype if vals is not None else np.asarray(values).dtype)
            self._set_dtypes(kdt, vdt)
            keys = self._norm_keys(raw)
            values = self._norm_values(values, keys.shape[0])
            keys, values = _delta.sorted_unique(keys, values)
        index = LearnedIndex(keys, **self._index_options)
        self._state = self._new_state(index, values)

    # ------------------------------------------------------------------ validation
    def _set_dtypes(self, kdt, vdt):
        kdt = np.dtype(kdt)
        kdt = _coerce._WIDEN.get(kdt, kdt)
        if kdt not in _coerce.KEY_DTYPES:
            raise TypeError(f"unsupported key dtype {kdt}; use one of "
                            f"{', '.join(str(d) for d in _coerce.KEY_DTYPES)}")
        vdt = np.dtype(vdt)
        if vdt.itemsize == 0 or vdt.shape != ():
            raise TypeError(f"values need a fixed-size scalar dtype, got {vdt}")
        self._kdt, self._vdt = kdt, vdt
        if kdt.kind == "f":
            self._t1, self._kmin, self._kmax = float, -np.inf, np.inf
        else:
            info = np.iinfo(kdt)
            self._t1, self._kmin, self._kmax = int, int(info.min), int(info.max)
        self._t2 = kdt.type
        kind = vdt.kind if vdt.isnative else "?"
        if kind == "f":
            self._vfast, self._vmin, self._vmax = (float, int), -np.inf, np.inf
        elif kind in "iu":
            info = np.iinfo(vdt)
            self._vfast, self._vmin, self._vmax = (int,), int(info.min), int(info.max)
        else:
            self._vfast = ()

    def _norm_keys(self, keys, strict=True):
        """Keys as a 1-D array of the key dtype; unrepresentable keys raise (or, with
        ``strict=False``, are returned as a mask)."""
        try:
            qk, mask, _ = _coerce.queries(keys, self._kdt, _coerce.EXACT)
        except ValueError as e:
            raise ValueError(f"invalid key: {e}") from None
        except TypeError as e:
            raise TypeError(f"invalid key: {e}") from None
        if not strict:
            return qk, mask
        if mask is not None and mask.any():
            bad = _coerce.element(keys, int(np.argmax(mask)))
            raise ValueError(f"key {bad!r} cannot be stored in a {self._kdt} store "
                             "(out of range or not exactly representable)")
        return qk

    def _key(self, k):
        """One key for a write, as a Python number (the buffer's dict key)."""
        t = type(k)
        if (t is self._t1 or t is self._t2) and self._kmin <= k <= self._kmax:
            return k if t is self._t1 else k.item()
        if np.ndim(k) != 0:
            raise TypeError(f"a key must be a scalar, got {type(k).__name__}")
        return self._norm_keys(k)[0].item()

    def _query(self, k):
        """One key for a read: a Python number, or None if no key can equal it."""
        if np.ndim(k) != 0:
            raise TypeError(f"a key must be a scalar, got {type(k).__name__}; use get_many")
        qk, mask = self._norm_keys(k, strict=False)
        return None if mask is not None and mask[0] else qk[0].item()

    def _norm_values(self, v, count):
        return _delta.cast_values(v, self._vdt, count)

    # ------------------------------------------------------------------ reads
    def _lookup(self, k):
        """``(array, row)`` holding the value of ``k``, or None."""
        st = self._state
        t = type(k)
        if not ((t is self._t1 or t is self._t2) and self._kmin <= k <= self._kmax):
            k = self._query(k)
            if k is None:
                return None
        s = st.delta.get(k)
        if s is not None:
            return (st.dvals, s) if s >= 0 else None
        b = st.base
        r = b.find(b.ref, k)
        return (b.values, r) if r >= 0 else None

    def __getitem__(self, k):
        """The value of key ``k``; ``KeyError`` if absent. O(1) + one index lookup."""
        st = self._state
        if type(k) is self._t1 and self._kmin <= k <= self._kmax:     # the common case, inlined
            s = st.delta.get(k)
            if s is None:
                b = st.base
                r = b.find(b.ref, k)
                if r >= 0:
                    return b.values[r]
            elif s >= 0:
                return st.dvals[s]
            raise KeyError(k)
        hit = self._lookup(k)
        if hit is None:
            raise KeyError(k)
        return hit[0][hit[1]]

    def get(self, k, default=None):
        """The value of ``k``, or ``default``."""
        st = self._state
        if type(k) is self._t1 and self._kmin <= k <= self._kmax:     # as in __getitem__
            s = st.delta.get(k)
            if s is None:
                b = st.base
                r = b.find(b.ref, k)
                return b.values[r] if r >= 0 else default
            return st.dvals[s] if s >= 0 else default
        hit = self._lookup(k)
        return default if hit is None else hit[0][hit[1]]

    def __contains__(self, k):
        return self._lookup(k) is not None

    def __len__(self):
        """Number of keys. O(1), or O(d + w log d) after w writes (their effect on the
        count is resolved in a batch, when the buffer's sorted view is next built)."""
        st = self._state
        if st.view.upto == st.nlog:
            return st.size
        with self._lock:
            st = self._state
            self._view(st)
            return st.size

    def _view(self, st):
        """The buffer of ``st`` as sorted arrays: writes since the last view are merged
        into the recent level (O(r log r + recent)), which is folded into the main
        level (O(d)) once it holds more than ``max(1024, d / 8)`` keys."""
        v = st.view
        if v.upto == st.nlog:
            return v
        with self._lock:
            v = st.view
            hi = st.nlog
            if v.upto != hi:
                nk = st.log_keys[v.upto:hi]
                order = np.argsort(nk, kind="stable")
                nk, ns = nk[order], st.log_slots[v.upto:hi][order]
                _, in_base = _delta.base_contains(st.base, nk)
                prior = np.empty(nk.shape[0], np.bool_)
                _delta.prior_presence(v.keys, v.slots, nk, in_base, prior)
                rk = np.empty(v.rkeys.shape[0] + nk.shape[0], self._kdt)
                rs = np.empty(rk.shape[0], np.int64)
                m, grown = _delta.merge_delta(v.rkeys, v.rslots, nk, ns, prior, rk, rs)
                st.size += grown
                if m > max(self._recent_min, v.keys.shape[0] // 8):
                    keys, slots = self._fold(v.keys, v.slots, rk[:m], rs[:m])
                    v = _View(keys, slots, st.dvals, hi)
                else:
                    v = _View(v.keys, v.slots, st.dvals, hi, rk[:m], rs[:m])
                st.view = v
        return v

    def _fold(self, keys, slots, rkeys, rslots):
        out_k = np.empty(keys.shape[0] + rkeys.shape[0], self._kdt)
        out_s = np.empty(out_k.shape[0], np.int64)
        m, _ = _delta.merge_delta(keys, slots, rkeys, rslots, np.zeros(rkeys.shape[0], np.bool_),
                                  out_k, out_s)
        return out_k[:m], out_s[:m]

    def _flat_view(self, st):
        """The buffer as one sorted level (for ranges, compaction and saving)."""
        with self._lock:
            v = self._view(st)
            if v.rkeys.shape[0]:
                keys, slots = self._fold(v.keys, v.slots, v.rkeys, v.rslots)
                v = _View(keys, slots, v.dvals, v.upto)
                if st.view.upto == v.upto:
                    st.view = v
            return v

    def get_many(self, qs):
        """Values and presence of many keys: ``(values, found)`` arrays shaped like ``qs``.

        One batch kernel (GIL released): the index's batch lower bound on the
        base, the buffer overlaid by binary search. ``values[~found]`` is zero
        (``None`` for object values). O(log w + log d) per key.
        """
        st = self._state
        qk, mask = self._norm_keys(qs, strict=False)
        v = self._view(st)
        b = st.base
        m = qk.shape[0]
        found = np.empty(m, np.bool_)
        if b.raw is not None:
            out = np.zeros((m, b.raw.shape[1]), b.raw.dtype)
            _delta.get_many(b.keys, b.model, qk, b.kind, v.rkeys, v.rslots, v.keys, v.slots,
                            b.raw, v.draw, out, found)
            values = out.reshape(-1).view(self._vdt) if m else np.zeros(0, self._vdt)
        else:
            src = np.empty(m, np.int64)
            _delta.resolve_many(b.keys, b.model, qk, b.kind, v.rkeys, v.rslots, v.keys, v.slots,
                                src)
            values = np.full(m, None, object)
            found = src != -1
            sel = src >= 0
            values[sel] = b.values[src[sel]]
            sel = src <= -2
            values[sel] = v.dvals[-2 - src[sel]]
        if mask is not None and mask.any():
            found[mask] = False
            values[mask] = None if b.raw is None else np.zeros(1, self._vdt)[0]
        shape = np.shape(qs)
        return values.reshape(shape), found.reshape(shape)

    # ------------------------------------------------------------------ ordered access
    def _lower(self, st, v, q, default):
        """Lower bounds of ``q`` in the base and in the buffer view (exact)."""
        if q is None:
            return default
        base = st.base.index.lower_bound(q)
        qk, mask, value = _coerce.queries(q, self._kdt, _coerce.LEFT)
        d = int(np.searchsorted(v.keys, qk[0], side="left"))
        if mask is not None and mask[0]:
            d = v.keys.shape[0] if value else 0
        return int(base), d

    def _merge(self, st, v, bs, be, ds, de):
        """Merged ``(keys, values)`` of base rows ``[bs, be)`` and buffer rows ``[ds, de)``."""
        b = st.base
        total = (be - bs) + (de - ds)
        keys = np.empty(total, self._kdt)
        src = np.empty(total, np.int64)
        m = _delta.merge_sources(b.keys[bs:be], v.keys[ds:de], v.slots[ds:de], keys, src)
        keys, src = keys[:m], src[:m]
        src[src >= 0] += bs
        if b.raw is not None:
            out = np.empty((m, b.raw.shape[1]), b.raw.dtype)
            _delta.gather_rows(b.raw, v.draw, src, m, out)
            values = out.reshape(-1).view(self._vdt) if m else np.zeros(0, self._vdt)
        else:
            values = np.empty(m, object)
            sel = src >= 0
            values[sel] = b.values[src[sel]]
            values[~sel] = v.dvals[-2 - src[~sel]]
        return keys, values

    def _chunks(self, lo, hi):
        """Consecutive ``(keys, values)`` chunks of the keys in ``[lo, hi)``, one snapshot."""
        with self._lock:
            st = self._state
            v = self._flat_view(st)
        bs, ds = self._lower(st, v, lo, (0, 0))
        be, de = self._lower(st, v, hi, (st.base.keys.shape[0], v.keys.shape[0]))
        be, de = max(bs, be), max(ds, de)
        keys = st.base.keys
        while True:
            stop = min(bs + _CHUNK, be)
            dstop = de if stop == be else int(np.searchsorted(v.keys[:de], keys[stop], "left"))
            yield self._merge(st, v, bs, stop, ds, max(ds, dstop))
            if stop == be:
                return
            bs, ds = stop, max(ds, dstop)

    def range(self, lo, hi):
        """Keys in ``[lo, hi)`` and their values, as two arrays. O(log n + k)."""
        with self._lock:
            st = self._state
            v = self._flat_view(st)
        bs, ds = self._lower(st, v, lo, (0, 0))
        be, de = self._lower(st, v, hi, (st.base.keys.shape[0], v.keys.shape[0]))
        return self._merge(st, v, bs, max(bs, be), ds, max(ds, de))

    def items(self, lo=None, hi=None):
        """Ascending ``(key, value)`` pairs with ``lo <= key < hi`` (``None``: unbounded).

        A snapshot: writes during the iteration are not seen.
        """
        for keys, values in self._chunks(lo, hi):
            yield from zip(keys.tolist(), values)

    def __iter__(self):
        """Keys in ascending order (a snapshot)."""
        for keys, _ in self._chunks(None, None):
            yield from keys.tolist()

    keys = __iter__

    # ------------------------------------------------------------------ writes
    def _append(self, st, keys, slots_live, values):
        """Append writes to the log (grown copy first, so readers always see
        rows that exist), then publish them in the dict."""
        m = keys.shape[0]
        i = st.nlog
        if i + m > st.log_keys.shape[0]:
            self._grow(st, i + m)
        st.log_keys[i:i + m] = keys
        slots = np.where(slots_live, np.arange(i, i + m), _delta.TOMB)
        st.log_slots[i:i + m] = slots
        if values is not None:
            st.dvals[i:i + m] = values
        st.nlog = i + m
        st.delta.update(zip(keys.tolist(), slots.tolist()))

    def __setitem__(self, k, v):
        """Insert or update. Amortised O(1) + compaction (O(n) every ``threshold`` writes)."""
        key = self._key(k)
        fast = type(v) in self._vfast and self._vmin <= v <= self._vmax
        value = None if fast else self._norm_values(v, None)
        with self._lock:
            st = self._state
            i = st.nlog
            if i == st.log_keys.shape[0]:
                self._grow(st, i + 1)
            st.dvals[i] = v if fast else value[0]      # first: the only step that may fail
            st.log_keys[i] = key
            st.log_slots[i] = i
            st.nlog = i + 1
            st.delta[key] = i
            if st.nlog >= st.limit:
                self._compact(st)

    def _grow(self, st, need):
        """Replace the log arrays by larger copies (before any new row is published)."""
        cap = max(2 * st.log_keys.shape[0], need)
        for name in ("log_keys", "log_slots", "dvals"):
            old = getattr(st, name)
            new = np.zeros(cap, old.dtype)
            new[:st.nlog] = old[:st.nlog]
            setattr(st, name, new)

    def __delitem__(self, k):
        """Delete key ``k``; ``KeyError`` if absent."""
        key = self._query(k) if type(k) is not self._t1 else k
        with self._lock:
            if key is None or self._lookup(key) is None:
                raise KeyError(k)
            st = self._state
            self._append(st, np.array([key], self._kdt), np.zeros(1, bool), None)
            if st.nlog >= st.limit:
                self._compact(st)

    def update(self, keys, values):
        """Insert or update many keys (the last of repeated keys wins), all or nothing."""
        if np.ndim(keys) != 1:
            raise ValueError(f"keys must be 1-D, got shape {np.shape(keys)}")
        kk = self._norm_keys(keys)
        vv = self._norm_values(values, kk.shape[0])
        self._write_many(kk, vv)

    def delete_many(self, keys):
        """Delete many keys, all or nothing: ``KeyError`` naming the first absent
        key (repeated keys are deleted once)."""
        if np.ndim(keys) != 1:
            raise ValueError(f"keys must be 1-D, got shape {np.shape(keys)}")
        qk, mask = self._norm_keys(keys, strict=False)
        with self._lock:
            _, found = self.get_many(qk)
            if mask is not None:
                found &= ~mask
            if not found.all():
                raise KeyError(_coerce.element(keys, int(np.argmin(found))))
            self._write_many(qk, None)

    def _write_many(self, kk, vv):
        if kk.shape[0] == 0:
            return
        with self._lock:
            st = self._state
            live = np.full(kk.shape[0], vv is not None)
            if st.nlog + kk.shape[0] >= st.limit:
                self._compact(st, (kk, live, vv))
            else:
                self._append(st, kk, live, vv)

    def compact(self):
        """Merge the buffer into the base and retrain the index. O(n)."""
        with self._lock:
            st = self._state
            if st.nlog:
                self._compact(st)

    def _compact(self, st, extra=None):
        """Build the merged base (with the writes ``extra`` on top) and publish it."""
        v = self._flat_view(st)
        if extra is not None:
            kk, live, vv = extra
            order = np.argsort(kk, kind="stable")
            nk = kk[order]
            ns = np.where(live, np.arange(kk.shape[0]) + st.nlog, _delta.TOMB)[order]
            keys = np.empty(v.keys.shape[0] + nk.shape[0], self._kdt)
            slots = np.empty(keys.shape[0], np.int64)
            m, _ = _delta.merge_delta(v.keys, v.slots, nk, ns, np.zeros(nk.shape[0], np.bool_),
                                      keys, slots)
            dv = st.dvals[:st.nlog]
            if vv is not None:
                dv = np.concatenate([dv, vv])
            v = _View(keys[:m], slots[:m], dv, st.nlog + kk.shape[0])
        keys, values = self._merge(st, v, 0, st.base.keys.shape[0], 0, v.keys.shape[0])
        index = LearnedIndex(keys, **self._index_options)
        self._state = self._new_state(index, values)

    def _new_state(self, index, values, capacity=64):
        n = len(index)
        limit = max(self.compact_min, int(self.compact_fraction * n))
        return _State(_Base(index, values), n, self._kdt, self._vdt, limit, capacity)

    # ------------------------------------------------------------------ misc
    @property
    def index(self):
        """The :class:`LearnedIndex` of the learned base (pending writes not included)."""
        return self._state.base.index

    @property
    def dtype(self):
        return self._kdt

    @property
    def value_dtype(self):
        return self._vdt

    def __repr__(self):
        st = self._state
        return (f"LearnedKV(n={len(self)}, dtype={self._kdt}, value_dtype={self._vdt}, "
                f"buffered={st.nlog})")

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the store (pending writes included, as a buffer) to ``path`` atomically.

        See ``docs/format.md``. Object values raise ``TypeError``.
        """
        if self._vdt.hasobject:
            raise TypeError(f"cannot save values of dtype {self._vdt} (Python objects): "
                            "use a fixed-size dtype")
        with self._lock:
            st = self._state
            v = self._flat_view(st)
            size = st.size
        options = {"compact_fraction": self.compact_fraction, "compact_min": self.compact_min,
                   "index_options": {k: list(x) if isinstance(x, tuple) else x
                                     for k, x in self._index_options.items()}}
        _storage.save_store(path, st.base.index, st.base.values, v.keys, v.slots, v.dvals, size,
                            options)

    @classmethod
    def load(cls, path, mmap=True, verify=True):
        """Open a store written by :meth:`save`.

        With ``mmap=True`` keys and values are read-only views of the mapped
        file (zero copy; writes go to the buffer, compaction builds new arrays).
        ``verify=False`` skips the checksums of keys and values and the check
        that the keys are sorted (faster open; a corrupted file then gives
        wrong answers instead of an error). Anything else wrong with the file
        raises ``ValueError``.
        """
        return cls._from_file(_storage.open_store(path, mmap=mmap, verify=verify))

    @classmethod
    def _from_file(cls, f):
        self = cls.__new__(cls)
        self._lock = threading.RLock()
        try:
            opts = f["options"]
            self.compact_fraction = float(opts["compact_fraction"])
            self.compact_min = int(opts["compact_min"])
            self._index_options = _check_index_options(opts["index_options"])
            self._set_dtypes(f["kdt"], f["vdt"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise _storage._bad(f"bad options ({e})") from None
        index, dkeys, dlive = f["index"], f["delta_keys"], f["delta_live"]
        st = self._new_state(index, f["values"], capacity=max(64, 2 * dkeys.shape[0]))
        self._state = st
        if dkeys.shape[0]:
            live = dlive.astype(bool)
            st.dvals[:dkeys.shape[0]] = f["delta_values"]
            self._append(st, dkeys, live, None)
            self._view(st)                  # counts the buffer's keys into the size
        return self


def _check_index_options(opts):
    if not isinstance(opts, dict) or any(k not in _INDEX_OPTIONS for k in opts):
        raise ValueError(f"index_options must be a dict with keys from {_INDEX_OPTIONS}")
    out = dict(opts)
    for k in ("stages", "mlp_hidden"):
        if k in out:
            out[k] = tuple(out[k])
    return out
