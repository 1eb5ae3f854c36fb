"""Scale-out: a range-partitioned :class:`~learned_index.LearnedKV` on a Dask cluster.

Needs the optional extra ``learned-index[dask]`` (``dask[distributed,dataframe]``).

Layout (see ``docs/scale-out.md``)::

    client:  router = boundaries B[0] < B[1] < ... < B[P-1]  (first key of each partition)
             + a LearnedIndex over B (the RMI's root, one level up)
             partition(q) = max(upper_bound(B, q) - 1, 0)        one vectorised call per batch
    workers: partition p = one LearnedKV over the keys of [B[p], B[p+1]), held in worker
             memory as a Dask future, never collected to the client

Partition 0 also owns every key below ``B[0]`` and the last partition every key
above its last one, so inserts never need a new partition.

Fault tolerance: every partition is a Dask future with lineage. A partition
built by :meth:`DistributedLearnedKV.from_dask` is recomputed by Dask from its
source (the dask arrays or dataframe it was built from) if the worker holding
it dies; one opened by :meth:`DistributedLearnedKV.load` is reopened from its
file; writes are tasks that take the previous version of a partition and
return the next, so a recompute replays them (a write mutates the partition in
place and the previous version is released once it has run; writes are
idempotent, so a re-executed one changes nothing). :meth:`checkpoint` saves
and reopens the store, which makes recovery a file read. Results are gathered whole:
a batch returns only when every partition it touched answered, with exactly
the number of answers it was sent; otherwise it raises.

Concurrency: one client object drives the store; its methods are not meant to
be called from several threads at once (reads from several threads are fine
between writes).
"""
import json
import os
import tempfile
import uuid

import numpy as np

try:
    import dask.array as da
    import dask.dataframe as dd
    from dask import delayed
    from distributed import default_client
except ImportError as e:             # pragma: no cover - exercised only without the extra
    raise ImportError("learned_index.distributed needs Dask: pip install 'learned-index[dask]'") from e

from . import _coerce
from ._dist_worker import (_Part, _build,  # noqa: F401 (_Part: re-exported)
                           _assemble, _compact, _dec, _delete, _enc, _get_many, _load,
                           _lookup_pieces, _piece, _route_block, _route_counts,
                           _median_key, _part_from_arrays, _range, _save, _slice, _stats,
                           _summary, _update)
from .index import LearnedIndex
from .kv import LearnedKV

__all__ = ["DistributedLearnedKV", "PartitionError", "MANIFEST", "FORMAT"]

FORMAT = "learned-index-dkv"
VERSION = 1
MANIFEST = "manifest.json"


class PartitionError(RuntimeError):
    """A partition returned an answer that does not match what it was asked."""


# ---------------------------------------------------------------------- partitioning
def _key_dtype(dtype):
    return _coerce.as_keys(np.empty(0, dtype)).dtype


def _sample(block, nparts, nblocks, block_info=None):
    """A sorted, seeded random sample of one block of keys (for the quantiles)."""
    loc = block_info[0]["chunk-location"][0] if block_info else 0
    m = min(block.shape[0], max(1000, 128 * nparts // max(nblocks, 1) + 1))
    rng = np.random.default_rng(loc)
    return np.sort(block[rng.integers(0, block.shape[0], m)]) if m else block[:0]


def _divisions(client, k, nparts):
    """Range-partition boundaries of the dask array ``k``: its exact minimum, quantiles of
    a random sample (about 1000 keys a block) and its exact maximum, in the key dtype.

    Computed here rather than by ``sort_values``, whose quantiles go through float64 and
    leave partitions empty when uint64 keys span up to 2**64.
    """
    nb = k.numblocks[0]
    chunks = (tuple(min(c, max(1000, 128 * nparts // max(nb, 1) + 1)) for c in k.chunks[0]),)
    sample = k.map_blocks(_sample, nparts, nb, chunks=chunks, dtype=k.dtype)
    sample, lo, hi = client.gather(client.compute([sample, k.min(), k.max()]))
    if k.dtype.kind == "f" and (np.isnan(lo) or np.isnan(hi)):
        raise ValueError("keys must not be NaN")
    sample = np.sort(sample)
    q = sample[(np.arange(1, nparts) * sample.shape[0]) // nparts] if nparts > 1 else sample[:0]
    q = np.unique(q)
    q = q[(q > lo) & (q < hi)]
    return list(np.concatenate([np.array([lo], k.dtype), q, np.array([hi], k.dtype)]))


def _as_dask_array(x, name, as_array=np.asarray):
    if isinstance(x, da.Array):
        arr = x
    elif isinstance(x, dd.Series):
        arr = x.to_dask_array(lengths=True)
    elif isinstance(x, dd.DataFrame):
        raise TypeError(f"{name}: pass one column of the dataframe (df[{name!r}]), not the frame")
    else:
        a = as_array(x)
        arr = da.from_array(a, chunks=max(1, min(a.shape[0] if a.ndim else 1, 1 << 22)))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------- the client side
class DistributedLearnedKV:
    """A sorted key-value store range-partitioned over a Dask cluster.

    Each partition is a :class:`LearnedKV` living in a worker's memory; the
    client keeps only the router (partition boundaries and a learned index
    over them) and the partitions' futures. Build one with :meth:`from_dask`
    or :meth:`load`. Reads and writes answer exactly as one
    :class:`LearnedKV` over the same data would.

    Split policy: after a write, a partition holding more than
    ``split_threshold`` keys is split at its median key into two freshly
    trained partitions (one task each, on the workers); the median becomes a
    new boundary and the router is retrained (it is tiny). Partitions are
    never merged; an emptied partition stays and keeps its key range.

    Examples
    --------
    In-process here; a real cluster is the same with ``Client("scheduler:8786")``:

    >>> import numpy as np
    >>> from dask.distributed import Client
    >>> from learned_index.distributed import DistributedLearnedKV
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)
    >>> keys = np.arange(0, 3000, 3, dtype=np.uint64)
    >>> store = DistributedLearnedKV.from_dask(keys, keys * 2.0, client, npartitions=2)
    >>> store.npartitions, len(store), float(store[2997])
    (2, 1000, 5994.0)
    >>> values, found = store.get_many([3, 4, 2**64 - 1])
    >>> found.tolist(), values.tolist()
    ([True, False, False], [6.0, 0.0, 0.0])
    >>> store.close()
    >>> client.close()
    """

    def __init__(self, client, parts, boundaries, counts, kdt, vdt, split_threshold=None,
                 index_options=None):
        self.client = client
        self._parts = list(parts)
        self._kdt, self._vdt = np.dtype(kdt), np.dtype(vdt)
        self._counts = [int(c) for c in counts]
        self._index_options = dict(index_options or {})
        self._set_boundaries(np.asarray(boundaries, self._kdt))
        mean = max(1, sum(self._counts) // max(1, len(self._counts)))
        self.split_threshold = int(split_threshold) if split_threshold else max(2 * mean, 1024)
        self._probe = LearnedKV(dtype=self._kdt, value_dtype=self._vdt)    # client-side checks

    def _set_boundaries(self, b):
        if b.shape[0] != len(self._parts) or (b.shape[0] > 1 and not (b[1:] > b[:-1]).all()):
            raise ValueError("boundaries must be strictly increasing, one per partition")
        self.boundaries = b
        self.router = LearnedIndex(b)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dask(cls, keys, values=None, client=None, npartitions=None, *, split_threshold=None,
                  index_options=None, shuffle_method="tasks"):
        """Range-partition ``keys`` (and ``values``) with Dask's sort and build the partitions.

        Parameters
        ----------
        keys : dask array, dask Series or array_like
            Distinct keys, any order (a dataframe's column, e.g. from
            ``dd.read_parquet``, or a numpy array, which is wrapped).
        values : same kinds, optional
            One numeric value per key. ``None``: each key's value is its
            global position in ``keys`` (row number, int64), making the store
            a key -> row index.
        client : distributed.Client, optional
            Default: the current client.
        npartitions : int, optional
            Partitions (default: the input's number of chunks). Fewer when
            the sampled quantiles repeat; empty ones are dropped.
        split_threshold : int, optional
            Split a partition once it holds more keys (default: twice the
            mean partition size at build time).
        index_options : dict, optional
            ``index_options`` of each partition's :class:`LearnedKV`.
        shuffle_method : {"tasks", "p2p", None}
            Dask's shuffle for the sort. ``tasks`` (default) keeps plain task
            lineage, which Dask recomputes after a worker loss; ``p2p`` uses
            less memory on very large inputs.

        The sort is Dask's: exact boundaries from a sample's quantiles (one
        pass over the keys, see ``_divisions``), then ``dask.dataframe``'s
        ``set_index`` with those divisions (a shuffle and a sort per partition). Each sorted
        partition becomes a ``LearnedKV`` in a task whose result stays on the
        worker. Duplicate keys raise ``ValueError``. Cost: one Dask sort plus
        O(n) training per partition, in parallel.
        """
        client = client or default_client()
        k = _as_dask_array(keys, "keys", _coerce.key_array)
        kdt = _key_dtype(k.dtype)
        if values is None:
            v = da.arange(k.shape[0], chunks=k.chunks, dtype=np.int64)
        else:
            v = _as_dask_array(values, "values")
            if v.shape[0] != k.shape[0]:
                raise ValueError(f"{v.shape[0]} values for {k.shape[0]} keys")
            v = v.rechunk(k.chunks)
        vdt = np.dtype(v.dtype)
        if vdt.kind not in "biuf":
            raise TypeError(f"from_dask needs numeric values, got {vdt}")
        if k.shape[0] == 0:
            part = client.submit(_part_from_arrays, np.empty(0, kdt), np.empty(0, vdt), kdt, vdt,
                                 index_options, pure=False)
            return cls(client, [part], np.zeros(1, kdt), [0], kdt, vdt, split_threshold,
                       index_options)
        nparts = int(npartitions or k.numblocks[0])
        divisions = _divisions(client, k, nparts)
        frame = dd.from_dask_array(k, columns="k").to_frame(name="k")
        frame = frame.assign(v=dd.from_dask_array(v))
        frame = frame.set_index("k", drop=False, divisions=divisions, shuffle_method=shuffle_method)
        built = [delayed(_build)(d, kdt, vdt, index_options, dask_key_name=f"lkv-build-{i}-"
                                 + uuid.uuid4().hex) for i, d in enumerate(frame.to_delayed())]
        futs = client.compute(built)
        summaries = client.gather([client.submit(_summary, f, pure=False) for f in futs])
        keep = [i for i, s in enumerate(summaries) if s[0] > 0]
        for i, s in enumerate(summaries):
            if i not in keep:
                futs[i].release()
        futs = [futs[i] for i in keep]
        summaries = [summaries[i] for i in keep]
        for (_, _, last, _), (_, first, _, _) in zip(summaries, summaries[1:]):
            if not last < first:
                raise ValueError(f"duplicate key {last!r} (or unsorted partitions) across partitions")
        bounds = np.array([s[1] for s in summaries], kdt)
        return cls(client, futs, bounds, [s[0] for s in summaries], kdt, vdt, split_threshold,
                   index_options)

    # ------------------------------------------------------------------ routing
    @property
    def npartitions(self):
        return len(self._parts)

    def route(self, queries):
        """The partition of each query: ``max(searchsorted(B, q, 'right') - 1, 0)``, one call."""
        if np.ndim(queries) == 0:
            return max(int(self.router.upper_bound(queries)) - 1, 0)
        p = np.asarray(self.router.upper_bound(queries), np.int64) - 1
        np.maximum(p, 0, out=p)
        return p

    def _scatter(self, flat):
        """``(order, [(partition, start, stop)])``: queries grouped by partition."""
        p = self.route(flat)
        small = p.astype(np.uint16) if self.npartitions <= 1 << 16 else p
        order = np.argsort(small, kind="stable")       # a radix sort for 16-bit ids: O(m)
        counts = np.bincount(p, minlength=self.npartitions)
        ends = np.cumsum(counts)
        groups = [(i, int(ends[i] - counts[i]), int(ends[i]))
                  for i in np.flatnonzero(counts).tolist()]
        return order, groups

    def _gather(self, futs, expect):
        """Every result, or an exception: never a partial answer."""
        results = self.client.gather(futs, errors="raise")
        if len(results) != len(futs):
            raise PartitionError(f"{len(futs) - len(results)} partitions did not answer")
        for r, (i, n) in zip(results, expect):
            if n is not None and (len(r[0]) != n or len(r[1]) != n):
                raise PartitionError(f"partition {i} answered {len(r[0])} of {n} queries")
        return results

    # ------------------------------------------------------------------ reads
    def get_many(self, queries):
        """Values and presence of many keys: ``(values, found)`` shaped like ``queries``.

        ``queries`` is array_like or a dask array. A numpy batch is routed on
        the client in one vectorised call, each partition is sent only its
        queries (one task each), and the answers are put back in the original
        order. A dask array is routed and cut up on the workers (the queries
        never pass through the client); the answers are numpy arrays either
        way. Cost: O(m log P) routing plus one round
        trip to each partition touched.
        """
        if isinstance(queries, da.Array):
            return self._get_many_dask(queries)
        shape = np.shape(queries)
        flat, bad = self._probe._norm_keys(queries, strict=False)   # exact, in the key dtype
        m = flat.shape[0]
        values = np.zeros(m, self._vdt)
        found = np.zeros(m, bool)
        if m == 0:
            return values.reshape(shape), found.reshape(shape)
        order, groups = self._scatter(flat)
        futs = [self.client.submit(_get_many, self._parts[i], flat[order[s:e]], pure=False)
                for i, s, e in groups]
        results = self._gather(futs, [(i, e - s) for i, s, e in groups])
        for (i, s, e), (v, f) in zip(groups, results):
            values[order[s:e]] = v
            found[order[s:e]] = f
        if bad is not None:                 # not a key of this dtype: absent
            found[bad] = False
            values[bad] = 0
        return values.reshape(shape), found.reshape(shape)

    def _get_many_dask(self, queries):
        """``get_many`` of a dask array without moving the queries through the client.

        Per block: a task routes it where it was computed; per (block, partition)
        touched: a task cuts out that partition's queries; per partition: one
        lookup over all its pieces; per block: a task puts the answers back in
        order. The client gathers only the per-block answers.
        """
        c = self.client
        flat = queries.reshape(-1) if queries.ndim != 1 else queries
        blocks = c.compute(list(flat.to_delayed().ravel()))
        if not blocks:
            return np.zeros(queries.shape, self._vdt), np.zeros(queries.shape, bool)
        routed = [c.submit(_route_block, b, self.boundaries, pure=False) for b in blocks]
        counts = np.array(c.gather([c.submit(_route_counts, r, pure=False) for r in routed]))
        answers = [[] for _ in routed]
        for pid in np.flatnonzero(counts.sum(axis=0)).tolist():
            touched = np.flatnonzero(counts[:, pid]).tolist()
            pieces = [c.submit(_piece, routed[j], pid, pure=False) for j in touched]
            result = c.submit(_lookup_pieces, self._parts[pid], *pieces, pure=False)
            for i, j in enumerate(touched):
                answers[j] += [pid, result, i]
        out = c.gather([c.submit(_assemble, r, self._vdt, *a, pure=False)
                        for r, a in zip(routed, answers)])
        if [o[0].shape[0] for o in out] != counts.sum(axis=1).tolist():
            raise PartitionError("a block's answers do not match its queries")
        vals = np.concatenate([o[0] for o in out])
        found = np.concatenate([o[1] for o in out])
        return vals.reshape(queries.shape), found.reshape(queries.shape)

    def get(self, key, default=None):
        """The value of ``key``, or ``default`` (one round trip)."""
        if np.ndim(key) != 0:
            raise TypeError("a key must be a scalar; use get_many")
        v, f = self.get_many(np.array([key]))
        return v[0] if f[0] else default

    def __getitem__(self, key):
        v, f = self.get_many(np.array([key]))
        if not f[0]:
            raise KeyError(key)
        return v[0]

    def __contains__(self, key):
        return bool(self.get_many(np.array([key]))[1][0])

    def _span(self, lo, hi):
        """Partitions that may hold keys of ``[lo, hi)``."""
        first = 0 if lo is None else self.route(lo)
        last = self.npartitions - 1 if hi is None else self.route(hi)
        return range(first, max(first, last) + 1)

    def range(self, lo=None, hi=None):
        """Keys in ``[lo, hi)`` and their values, as two arrays (``None``: unbounded).

        Asks only the partitions whose key ranges meet ``[lo, hi)``, in
        parallel, and concatenates their answers in key order. The result is
        collected on the client: bound it for big stores.
        """
        span = self._span(lo, hi)
        futs = [self.client.submit(_range, self._parts[i], lo, hi, pure=False) for i in span]
        results = self._gather(futs, [(i, None) for i in span])
        if not results:
            return np.empty(0, self._kdt), np.empty(0, self._vdt)
        keys = np.concatenate([r[0] for r in results]).astype(self._kdt, copy=False)
        values = np.concatenate([r[1] for r in results]).astype(self._vdt, copy=False)
        return keys, values

    def items(self, lo=None, hi=None):
        """Ascending ``(key, value)`` pairs with ``lo <= key < hi``, one partition at a time."""
        for i in self._span(lo, hi):
            keys, values = self.client.submit(_range, self._parts[i], lo, hi, pure=False).result()
            yield from zip(keys.tolist(), values)

    def __len__(self):
        return int(sum(self._counts))

    @property
    def counts(self):
        """Keys per partition (as of the last write)."""
        return np.array(self._counts, np.int64)

    @property
    def nbytes(self):
        """Bytes in worker memory per partition (keys, values, index, write buffer)."""
        stats = self.client.gather([self.client.submit(_stats, p, pure=False) for p in self._parts])
        return np.array([s[1] for s in stats], np.int64)

    @property
    def dtype(self):
        return self._kdt

    @property
    def value_dtype(self):
        return self._vdt

    def __repr__(self):
        return (f"DistributedLearnedKV(n={len(self)}, npartitions={self.npartitions}, "
                f"dtype={self._kdt}, value_dtype={self._vdt})")

    # ------------------------------------------------------------------ writes
    def update(self, keys, values):
        """Insert or update many keys (the last of repeated keys wins).

        Keys and values are checked on the client first (a bad one raises
        before anything is sent), then each partition gets its own writes as a
        task ``part -> part'``; partitions that grow past ``split_threshold``
        are split.
        """
        if np.ndim(keys) != 1:
            raise ValueError(f"keys must be 1-D, got shape {np.shape(keys)}")
        kk = self._probe._norm_keys(keys)
        vv = self._probe._norm_values(values, kk.shape[0])
        self._write(kk, vv)

    def delete_many(self, keys):
        """Delete many keys, all or nothing: ``KeyError`` naming the first absent key."""
        if np.ndim(keys) != 1:
            raise ValueError(f"keys must be 1-D, got shape {np.shape(keys)}")
        _, found = self.get_many(keys)
        if not found.all():
            raise KeyError(_coerce.element(keys, int(np.argmin(found))))
        self._write(self._probe._norm_keys(keys), None)

    def __setitem__(self, key, value):
        self.update(np.array([key]), np.array([value]))

    def __delitem__(self, key):
        self.delete_many(np.array([key]))

    def _write(self, kk, vv):
        if kk.shape[0] == 0:
            return
        order, groups = self._scatter(kk)
        touched = []
        for i, s, e in groups:
            sel = order[s:e]
            if vv is None:
                fut = self.client.submit(_delete, self._parts[i], kk[sel], pure=False)
            else:
                fut = self.client.submit(_update, self._parts[i], kk[sel], vv[sel], pure=False)
            self._parts[i] = fut
            touched.append(i)
        stats = self.client.gather([self.client.submit(_stats, self._parts[i], pure=False)
                                    for i in touched])
        for i, (n, _) in zip(touched, stats):
            self._counts[i] = n
        for i in sorted((i for i in touched if self._counts[i] > self.split_threshold),
                        reverse=True):
            self._split(i)

    def _split(self, i):
        """Split partition ``i`` at its median key into two new partitions."""
        part = self._parts[i]
        first, mid = self.client.submit(_median_key, part, pure=False).result()
        left = self.client.submit(_slice, part, None, mid, pure=False)
        right = self.client.submit(_slice, part, mid, None, pure=False)
        (nl, _), (nr, _) = self.client.gather([self.client.submit(_stats, f, pure=False)
                                               for f in (left, right)])
        if nl + nr != self._counts[i]:
            raise PartitionError(f"split of partition {i} kept {nl + nr} of {self._counts[i]} keys")
        b = self.boundaries.copy()
        if i == 0:          # partition 0 also holds keys inserted below B[0]: B[0] is nominal
            b[0] = min(b[0], self._kdt.type(first))
        bounds = np.concatenate([b[:i + 1], np.array([mid], self._kdt), b[i + 1:]])
        parts = self._parts[:i] + [left, right] + self._parts[i + 1:]
        self._parts, old = parts, self._parts
        try:
            self._set_boundaries(bounds)
        except ValueError:
            self._parts = old
            raise
        self._counts[i:i + 1] = [nl, nr]
        part.release()

    def compact(self):
        """Compact every partition's write buffer (one task per partition)."""
        self._parts = [self.client.submit(_compact, p, pure=False) for p in self._parts]
        self.client.gather([self.client.submit(_stats, p, pure=False) for p in self._parts])

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write one ``LearnedKV`` file per partition (by the workers, in parallel) and
        a manifest, written last and atomically.

        ``path`` must be a directory the workers and the client share. Layout:
        ``path/part-00000.lkv`` ... in the :class:`LearnedKV` format and
        ``path/manifest.json`` (format, version, dtypes, boundaries as lossless
        strings, per-partition counts, sizes and sha256 computed by the worker
        that wrote the file).
        """
        os.makedirs(path, exist_ok=True)
        names = [f"part-{i:05d}.lkv" for i in range(self.npartitions)]
        futs = [self.client.submit(_save, p, os.path.join(path, n), pure=False)
                for p, n in zip(self._parts, names)]
        files = self._gather(futs, [(i, None) for i in range(len(futs))])
        self._counts = [f["len"] for f in files]
        manifest = {
            "format": FORMAT, "version": VERSION,
            "key_dtype": self._kdt.str, "value_dtype": self._vdt.str,
            "len": len(self), "split_threshold": self.split_threshold,
            "index_options": {k: list(x) if isinstance(x, tuple) else x
                              for k, x in self._index_options.items()},
            "boundaries": [_enc(b, self._kdt) for b in self.boundaries.tolist()],
            "partitions": files,
        }
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".manifest-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(path, MANIFEST))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path, client=None, mmap=True, verify=True):
        """Reopen a store written by :meth:`save` on the cluster of ``client``.

        The manifest is checked on the client (format, version, dtypes,
        boundaries, that every file exists with the recorded size); each
        worker then checks its file's sha256 (unless ``verify=False``) and
        opens it with ``LearnedKV.load`` (memory-mapped by default). A lost
        partition is reopened from its file by Dask. Mismatches raise
        ``ValueError``.
        """
        client = client or default_client()
        with open(os.path.join(path, MANIFEST)) as f:
            try:
                man = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: corrupt manifest ({e})") from None
        try:
            if man.get("format") != FORMAT or man.get("version") != VERSION:
                raise ValueError("not a DistributedLearnedKV manifest of a known version")
            kdt, vdt = np.dtype(man["key_dtype"]), np.dtype(man["value_dtype"])
            parts = man["partitions"]
            bounds = np.array([_dec(s, kdt) for s in man["boundaries"]], kdt)
            if len(parts) != bounds.shape[0] or not parts:
                raise ValueError("one boundary per partition expected")
            if sum(int(p["len"]) for p in parts) != int(man["len"]):
                raise ValueError("partition counts do not add up to len")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: bad manifest ({e})") from None
        futs = []
        for p in parts:
            fp = os.path.join(path, os.path.basename(p["file"]))
            if not os.path.isfile(fp) or os.path.getsize(fp) != int(p["bytes"]):
                raise ValueError(f"{fp}: missing or not the size the manifest records")
            futs.append(client.submit(_load, fp, p["sha256"], int(p["bytes"]), mmap, verify,
                                      pure=False))
        stats = client.gather([client.submit(_stats, f, pure=False) for f in futs])
        for (n, _), p in zip(stats, parts):
            if n != int(p["len"]):
                raise ValueError(f"{p['file']}: {n} keys, the manifest says {p['len']}")
        return cls(client, futs, bounds, [s[0] for s in stats], kdt, vdt,
                   man.get("split_threshold"), man.get("index_options"))

    def checkpoint(self, path):
        """:meth:`save` to ``path``, then serve from the saved files.

        Cuts the lineage: a lost partition is then reopened from its file
        instead of being recomputed from the source (which reruns the shuffle)
        and replaying every write since the build. Recommended after a build
        or a batch of writes on a large store.
        """
        self.save(path)
        fresh = type(self).load(path, self.client)
        old, self._parts, self._counts = self._parts, fresh._parts, fresh._counts
        fresh._parts = []
        for p in old:
            p.release()

    # ------------------------------------------------------------------ lifetime
    def close(self):
        """Release the partitions' futures (the workers free them)."""
        for p in self._parts:
            p.release()
        self._parts = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
