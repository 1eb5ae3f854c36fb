"""Adapters to peer libraries: sortedcontainers, pygm (PGM-index), BTrees, LMDB.

Each library is imported when its adapter is built, so this module imports
without them; see :func:`baselines.available_adapters`.
"""
import shutil
import sys
import tempfile
import warnings
import weakref

import numpy as np

from ._adapter import _SIGN64, Adapter, _first_positions, ordered_u64

class SortedContainersAdapter(Adapter):
    """``sortedcontainers.SortedList`` of Python numbers; ``bisect_left`` in a loop."""

    name = "sortedcontainers (loop)"
    requires = "sortedcontainers"
    supports_updates = True

    def _build(self, arr):
        from sortedcontainers import SortedList
        self._sl = SortedList(arr.tolist())

    def _lb_one(self, x):
        return self._sl.bisect_left(x.item() if type(x) is self._ktype else x)

    def _contains_one(self, x):
        return (x.item() if type(x) is self._ktype else x) in self._sl

    def _lb_many(self, qk):
        bisect = self._sl.bisect_left
        return np.array([bisect(x) for x in qk.tolist()], dtype=np.int64)

    def _contains_many(self, qk):
        sl = self._sl
        return np.array([x in sl for x in qk.tolist()], dtype=np.bool_)

    def _insert(self, x):
        self._sl.add(x.item())

    def _delete(self, x):
        try:
            self._sl.remove(x.item())
        except ValueError:
            raise KeyError(x.item()) from None

    @property
    def nbytes(self):
        """The lists, the index and the key objects (``sys.getsizeof``), minus packed keys. O(n)."""
        sl = self._sl
        total = sys.getsizeof(sl) + sys.getsizeof(sl._lists) + sys.getsizeof(sl._maxes) \
            + sys.getsizeof(sl._index) + sum(map(sys.getsizeof, sl._lists)) \
            + sum(map(sys.getsizeof, (x for lst in sl._lists for x in lst)))
        return int(total - self._n * self._dtype.itemsize)


class PGMAdapter(Adapter):
    """``pygm.SortedList`` (the PGM-index, C++): the learned-index peer. Static.

    ``bisect_left`` and ``in`` in a loop. pygm 1.0.1 gives wrong answers or
    crashes at the edges, so the adapter keeps it inside its comfort zone and
    leaves it every other query:

    * a query far beyond the last key (e.g. ``>= 2**60`` over small keys, or
      ``1e19`` over floats) gets a wrong position (an overflow in the
      prediction): queries outside ``[first key, last key]`` are answered
      by the range check, vectorised, before the loop;
    * signed keys spanning more than half their range get wrong answers:
      signed keys are given to pygm as their sign-flipped unsigned image
      (an exact shift, the CDF keeps its shape);
    * a query equal to the unsigned maximum crashes (segfault): answered
      from the position of the first maximal key, kept at build;
    * a ``-inf`` key crashes the build (``bad_alloc``): float keys go to pygm
      without their infinite keys, and infinite queries are answered from
      the counts of infinite keys.

    * a query inside the key range but near a huge gap (e.g. just below
      ``1e308`` over keys of order 1e6) still gets a wrong position: with
      ``verify=True`` (the default) every answer is checked against its two
      neighbours in the keys (vectorised, no search) and membership against
      ``np.searchsorted``; wrong answers are replaced, counted in
      ``wrong_answers`` and reported with a ``RuntimeWarning``. Pass
      ``verify=False`` to time pygm alone once its answers on the same data
      have been checked. Other options are passed to ``pygm.SortedList``
      (``epsilon``).

    ``nbytes`` is pygm's ``index size`` plus ``data size`` (its own copy of
    the keys) minus the packed keys.
    """

    name = "pygm (loop)"
    requires = "pygm"

    def _build(self, arr):
        import pygm
        self.wrong_answers = 0
        kwargs = {k: v for k, v in self.options.items() if k != "verify"}
        self._float = arr.dtype.kind == "f"
        if self._float:
            self._lo = int(np.searchsorted(arr, -np.inf, side="right"))
            self._hi = int(np.searchsorted(arr, np.inf, side="left"))
            core, typecode = arr[self._lo:self._hi], "d"
        else:
            core = self._image(arr)
            typecode = "Q" if core.dtype == np.uint64 else "I"
            self._top = core.dtype.type(np.iinfo(core.dtype).max)
            self._lo, self._hi = 0, int(np.searchsorted(core, self._top))
        self._core = core
        self._sl = pygm.SortedList(memoryview(np.ascontiguousarray(core)), typecode, **kwargs) \
            if core.shape[0] else None

    @staticmethod
    def _image(a):
        if a.dtype == np.int64:
            return a.view(np.uint64) ^ _SIGN64
        if a.dtype == np.int32:
            return a.view(np.uint32) ^ np.uint32(1 << 31)
        return a

    def _split(self, qk):
        """``(values, inside, answers, present)``: pygm is asked only where ``inside``."""
        v = qk if self._float else self._image(qk)
        out = np.zeros(v.shape[0], np.int64)
        present = np.zeros(v.shape[0], np.bool_)
        core, lo, hi, n = self._core, self._lo, self._hi, self._n
        if self._float:
            out[v == np.inf] = hi
            present[v == np.inf] = hi < n
            present[v == -np.inf] = lo > 0
            finite = np.isfinite(v)
            if core.shape[0] == 0:
                out[finite] = lo
                return v, np.zeros(v.shape[0], np.bool_), out, present
            out[finite & (v < core[0])] = lo
            out[finite & (v > core[-1])] = hi
            inside = finite & (v >= core[0]) & (v <= core[-1])
        else:
            out[v > core[-1]] = n
            top = (v == self._top) & (v <= core[-1])
            out[top] = hi
            present[top] = True
            inside = (v >= core[0]) & (v <= core[-1]) & ~top
        return v, inside, out, present

    def _lb_many(self, qk):
        v, inside, out, _ = self._split(qk)
        bisect = self._sl.bisect_left if self._sl is not None else None
        vin = v[inside]
        r = np.array([bisect(x) for x in vin.tolist()], dtype=np.int64)
        if self.options.get("verify", True) and r.shape[0]:
            core = self._core
            rc = np.clip(r, 0, core.shape[0] - 1)
            ok = (r >= 0) & (r < core.shape[0]) & (core[rc] >= vin) \
                & ((r == 0) | (core[np.maximum(rc - 1, 0)] < vin))
            if not ok.all():
                self._repair(int((~ok).sum()))
                r[~ok] = np.searchsorted(core, vin[~ok])
        out[inside] = self._lo + r
        return out

    def _contains_many(self, qk):
        v, inside, _, present = self._split(qk)
        sl = self._sl
        vin = v[inside]
        got = np.array([x in sl for x in vin.tolist()], dtype=np.bool_)
        if self.options.get("verify", True) and got.shape[0]:
            core = self._core
            truth = core[np.minimum(np.searchsorted(core, vin), core.shape[0] - 1)] == vin
            if not np.array_equal(got, truth):
                self._repair(int((got != truth).sum()))
                got = truth
        present[inside] = got
        return present

    def _repair(self, count):
        self.wrong_answers += count
        warnings.warn(f"pygm returned {count} wrong answer(s); the adapter corrected them "
                      "(see PGMAdapter)", RuntimeWarning, stacklevel=3)

    @property
    def nbytes(self):
        if self._sl is None:
            return 0
        st = self._sl.stats()
        return int(st["index size"] + st["data size"] - self._n * self._dtype.itemsize)

    def stats(self):
        """pygm's own statistics (``index size``, ``data size``, segments, epsilon...)."""
        return self._sl.stats() if self._sl is not None else {}


class BTreesAdapter(Adapter):
    """ZODB's C B-tree (``BTrees``): key -> position of its first occurrence.

    ``LLBTree`` for signed keys, ``QQBTree`` (unsigned 64-bit) for unsigned
    keys and for floats (as their order-preserving ``uint64`` image, see
    :func:`ordered_u64`: BTrees has no C float-keyed tree, and ``OOBTree`` of
    Python floats would measure Python comparisons). ``lower_bound(q)`` is
    ``t[t.minKey(q)]`` in a loop. Inserted keys get no position (BTrees has
    no ranks), so after an update only ``contains`` is answered; duplicate
    keys are counted beside the tree. ``nbytes`` is None: BTrees does not
    expose its memory use.
    """

    name = "BTrees (loop)"
    requires = "BTrees"
    supports_updates = True
    ranks_after_updates = False

    def _build(self, arr):
        self._signed = arr.dtype.kind == "i"
        if self._signed:
            from BTrees.LLBTree import LLBTree as Tree
            img = arr.astype(np.int64)
        else:
            from BTrees.QQBTree import QQBTree as Tree
            img = ordered_u64(arr)
        self.flavor = Tree.__name__
        self._t = Tree()
        first = _first_positions(arr)
        for s in range(0, first.shape[0], 1 << 16):
            f = first[s:s + (1 << 16)]
            self._t.update(list(zip(img[f].tolist(), f.tolist())))
        self._extra = dict(zip(img[first].tolist(), np.diff(np.append(first, len(arr))) - 1))
        self._extra = {k: int(v) for k, v in self._extra.items() if v}

    def _value(self, x):
        if self._signed:
            return int(x)
        return int(ordered_u64(np.array([x], dtype=self._dtype))[0])

    def _values(self, qk):
        return (qk.astype(np.int64) if self._signed else ordered_u64(qk)).tolist()

    def _lb_one(self, x):
        return self._lb_list([self._value(x)])[0]

    def _contains_one(self, x):
        return self._value(x) in self._t

    def _lb_list(self, values):
        t, n, out = self._t, self._n, []
        min_key = t.minKey
        for v in values:
            try:
                out.append(t[min_key(v)])
            except ValueError:      # no key >= v
                out.append(n)
        return out

    def _lb_many(self, qk):
        return np.array(self._lb_list(self._values(qk)), dtype=np.int64)

    def _contains_many(self, qk):
        t = self._t
        return np.array([v in t for v in self._values(qk)], dtype=np.bool_)

    def _insert(self, x):
        v = self._value(x)
        if not self._t.insert(v, -1 if self._signed else (1 << 64) - 1):
            self._extra[v] = self._extra.get(v, 0) + 1

    def _delete(self, x):
        v = self._value(x)
        if self._extra.get(v):
            self._extra[v] -= 1
        else:
            try:
                del self._t[v]
            except KeyError:
                raise KeyError(x.item()) from None


class LMDBAdapter(Adapter):
    """LMDB, a real embedded B+tree on disk (``lmdb`` package), in a temporary directory.

    Keys are 8-byte big-endian images (:func:`ordered_u64`), so LMDB's
    byte order is numeric order; values are the position of each key's first
    occurrence (little-endian uint64). A batch of lower bounds first asks
    ``Cursor.getmulti`` (one C call) for the present keys, then
    ``Cursor.set_range`` in a loop for the others. The environment is
    opened without fsync (``sync=False, metasync=False``) and without locking:
    durability is not what is measured. ``close()`` (or garbage collection)
    removes the directory. After an update only ``contains`` is answered (no
    ranks in LMDB). ``nbytes`` is the B+tree's pages (keys and values
    included) minus the packed keys.

    Options are passed to ``lmdb.open``.
    """

    name = "lmdb (getmulti + set_range loop)"
    requires = "lmdb"
    supports_updates = True
    ranks_after_updates = False

    def _build(self, arr):
        import lmdb
        self.close()
        self._dir = tempfile.mkdtemp(prefix="learned-index-lmdb-")
        opts = {"map_size": max(1 << 26, 128 * arr.shape[0]), "sync": False, "metasync": False,
                "lock": False, "readahead": False, **self.options}
        self._env = lmdb.open(self._dir, **opts)
        self._finalizer = weakref.finalize(self, _remove_env, self._env, self._dir)
        self._map_full = lmdb.MapFullError
        first = _first_positions(arr)
        kb = ordered_u64(arr[first]).astype(">u8").tobytes()
        vb = first.astype("<u8").tobytes()
        with self._env.begin(write=True) as txn:
            txn.cursor().putmulti(((kb[i:i + 8], vb[i:i + 8]) for i in range(0, len(kb), 8)),
                                  append=True)
        counts = np.diff(np.append(first, len(arr))) - 1
        self._extra = {kb[8 * i:8 * i + 8]: int(c) for i, c in zip(np.flatnonzero(counts),
                                                                  counts[counts > 0])}

    def close(self):
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()
            self._finalizer = None

    def _keys(self, qk):
        b = ordered_u64(qk).astype(">u8").tobytes()
        return [b[i:i + 8] for i in range(0, len(b), 8)]

    def _lb_many(self, qk):
        keys = self._keys(qk)
        out = np.empty(len(keys), dtype=np.int64)
        with self._env.begin() as txn:
            cur = txn.cursor()
            hits = cur.getmulti(keys)
            if len(hits) == len(keys):
                return np.frombuffer(b"".join(v for _, v in hits), "<u8").astype(np.int64)
            img = ordered_u64(qk)
            found = np.isin(img, np.frombuffer(b"".join(k for k, _ in hits), ">u8").astype(np.uint64))
            if hits:
                out[found] = np.frombuffer(b"".join(v for _, v in hits), "<u8")
            n, set_range, value = self._n, cur.set_range, cur.value
            for i in np.flatnonzero(~found).tolist():
                out[i] = int.from_bytes(value(), "little") if set_range(keys[i]) else n
        return out

    def _contains_many(self, qk):
        keys = self._keys(qk)
        with self._env.begin() as txn:
            hits = txn.cursor().getmulti(keys, values=False)
        found = np.frombuffer(b"".join(hits), ">u8").astype(np.uint64) if hits else np.zeros(0, np.uint64)
        return np.isin(ordered_u64(qk), found)

    def _write(self, fn):
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    return fn(txn)
            except self._map_full:
                self._env.set_mapsize(2 * self._env.info()["map_size"])

    def _insert(self, x):
        k = self._keys(np.array([x]))[0]
        if not self._write(lambda txn: txn.put(k, b"\xff" * 8, overwrite=False)):
            self._extra[k] = self._extra.get(k, 0) + 1

    def _delete(self, x):
        k = self._keys(np.array([x]))[0]
        if self._extra.get(k):
            self._extra[k] -= 1
        elif not self._write(lambda txn: txn.delete(k)):
            raise KeyError(x.item())

    @property
    def nbytes(self):
        st = self._env.stat()
        pages = st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]
        return int(pages * st["psize"] - self._n * self._dtype.itemsize)


def _remove_env(env, path):
    env.close()
    shutil.rmtree(path, ignore_errors=True)
