"""The worker side of :mod:`learned_index.distributed`: the partition object and the
tasks that run on it (build, lookups, writes, splits, save and load).

Module-level functions only, so Dask pickles them by reference.
"""
import hashlib
import os

import numpy as np
from dask.sizeof import sizeof

from .kv import LearnedKV

class _Part:
    """One partition: a :class:`LearnedKV` in a worker's memory.

    Picklable (a ``LearnedKV`` holds a lock and compiled entry points), so Dask
    can move it between workers: it travels as its sorted keys and values and
    is rebuilt on arrival (O(n), rare). :func:`dask.sizeof.sizeof` reports its
    real size, so the scheduler counts it and prefers to run tasks where it is.
    """

    __slots__ = ("kv",)

    def __init__(self, kv):
        self.kv = kv

    def __reduce__(self):
        kv = self.kv
        keys, values = kv.range(None, None)
        return _part_from_arrays, (keys, values, kv.dtype, kv.value_dtype, kv._index_options,
                                   kv.compact_fraction, kv.compact_min)

    @property
    def nbytes(self):
        kv = self.kv
        st = kv._state
        base = st.base
        return int(base.keys.nbytes + base.values.nbytes + base.index.nbytes +
                   st.log_keys.nbytes + st.log_slots.nbytes + st.dvals.nbytes)


@sizeof.register(_Part)
def _sizeof_part(p):
    return p.nbytes


def _new_kv(keys, values, kdt, vdt, index_options, compact_fraction=0.02, compact_min=4096):
    return LearnedKV(keys, values, dtype=kdt, value_dtype=vdt, index_options=index_options,
                     compact_fraction=compact_fraction, compact_min=compact_min)


def _part_from_arrays(keys, values, kdt, vdt, index_options, compact_fraction=0.02,
                      compact_min=4096):
    return _Part(_new_kv(keys, values, kdt, vdt, index_options, compact_fraction, compact_min))


def _build(frame, kdt, vdt, index_options):
    """A partition from one sorted pandas partition of the shuffle (columns k, v)."""
    keys = np.ascontiguousarray(frame["k"].to_numpy(dtype=kdt))
    values = np.ascontiguousarray(frame["v"].to_numpy(dtype=vdt))
    return _part_from_arrays(keys, values, kdt, vdt, index_options)


def _summary(part):
    """``(len, first key, last key, nbytes)``; keys are None for an empty partition."""
    kv = part.kv
    n = len(kv)
    if n == 0:
        return 0, None, None, part.nbytes
    if kv._state.nlog == 0:                         # fresh partition: the base is everything
        keys = kv.index.keys
        return n, keys[0].item(), keys[-1].item(), part.nbytes
    keys, _ = kv.range(None, None)
    return n, keys[0].item(), keys[-1].item(), part.nbytes


def _stats(part):
    return len(part.kv), part.nbytes


def _get_many(part, queries):
    return part.kv.get_many(queries)


def _range(part, lo, hi):
    return part.kv.range(lo, hi)


def _update(part, keys, values):
    """The next version of a partition: the writes applied (in place, returned)."""
    part.kv.update(keys, values)
    return part


def _delete(part, keys):
    """Delete the keys still present (the client checked they all were): re-running the
    task on an already-updated partition changes nothing, like re-running an upsert."""
    _, found = part.kv.get_many(keys)
    if found.any():
        part.kv.delete_many(keys[found])
    return part


def _median_key(part):
    """``(first key, median key)`` of a partition (the split point of :meth:`_split`)."""
    keys, _ = part.kv.range(None, None)
    return keys[0].item(), keys[keys.shape[0] // 2].item()


def _slice(part, lo, hi):
    """A new partition holding the keys of ``part`` in ``[lo, hi)`` (freshly trained)."""
    kv = part.kv
    keys, values = kv.range(lo, hi)
    return _part_from_arrays(np.array(keys), np.array(values), kv.dtype, kv.value_dtype,
                             kv._index_options, kv.compact_fraction, kv.compact_min)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 23)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def _save(part, path):
    """Write one partition (``LearnedKV.save``, atomic) and describe the file."""
    part.kv.save(path)
    return {"file": os.path.basename(path), "bytes": os.path.getsize(path),
            "sha256": _sha256(path), "len": len(part.kv)}


def _load(path, sha256, nbytes, mmap, verify):
    """Reopen one partition file, checking it is the one the manifest names."""
    size = os.path.getsize(path)
    if size != nbytes:
        raise ValueError(f"{path}: {size} bytes, the manifest says {nbytes}")
    if verify and _sha256(path) != sha256:
        raise ValueError(f"{path}: sha256 does not match the manifest")
    return _Part(LearnedKV.load(path, mmap=mmap, verify=verify))


def _enc(x, kdt):
    """A key as a lossless JSON string: decimal for integers, ``float.hex`` for floats."""
    return str(int(x)) if kdt.kind in "iu" else float(x).hex()


def _dec(s, kdt):
    return kdt.type(int(s)) if kdt.kind in "iu" else kdt.type(float.fromhex(s))


def _compact(part):
    part.kv.compact()
    return part


# ---------------------------------------------------------------------- dask-array queries
_ROUTERS = {}


def _router(boundaries):
    """The router over ``boundaries``, built once per worker process and boundary set."""
    key = (boundaries.dtype.str, boundaries.tobytes())
    r = _ROUTERS.get(key)
    if r is None:
        from .index import LearnedIndex
        if len(_ROUTERS) > 16:
            _ROUTERS.clear()
        r = _ROUTERS[key] = LearnedIndex(boundaries)
    return r


def _route_block(block, boundaries):
    """One block of queries grouped by partition: ``(queries, order, counts)``."""
    q = np.asarray(block).reshape(-1)
    p = np.asarray(_router(boundaries).upper_bound(q), np.int64) - 1
    np.maximum(p, 0, out=p)
    small = p.astype(np.uint16) if boundaries.shape[0] <= 1 << 16 else p
    order = np.argsort(small, kind="stable")
    return q, order, np.bincount(p, minlength=boundaries.shape[0])


def _route_counts(routed):
    return routed[2]


def _piece(routed, pid):
    """The queries of one routed block that go to partition ``pid`` (in block order)."""
    q, order, counts = routed
    stop = int(counts[:pid + 1].sum())
    return q[order[stop - int(counts[pid]):stop]]


def _lookup_pieces(part, *pieces):
    """``get_many`` over several pieces at once; the answers split back per piece."""
    qs = np.concatenate(pieces)
    values, found = part.kv.get_many(qs)
    cuts = np.cumsum([p.shape[0] for p in pieces])[:-1]
    return list(zip(np.split(values, cuts), np.split(found, cuts)))


def _assemble(routed, vdt, *answers):
    """A block's answers in its own order; ``answers`` alternate (pid, lookup result, index)."""
    q, order, counts = routed
    values = np.zeros(q.shape[0], vdt)
    found = np.zeros(q.shape[0], bool)
    ends = np.cumsum(counts)
    for pid, result, i in zip(answers[0::3], answers[1::3], answers[2::3]):
        v, f = result[i]
        sel = order[ends[pid] - counts[pid]:ends[pid]]
        if v.shape[0] != sel.shape[0]:
            raise RuntimeError(f"partition {pid} answered {v.shape[0]} of {sel.shape[0]} queries")
        values[sel] = v
        found[sel] = f
    return values, found
