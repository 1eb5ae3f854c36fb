"""The versions of a :class:`~learned_index.LearnedKV` store (see :mod:`.kv`).

A ``_State`` is one consistent version: an immutable ``_Base`` (keys, values,
their learned index and a compiled-lookup handle) and the write buffer laid
over it, whose sorted form is an immutable ``_View``. ``LearnedKV`` publishes a
new state with one attribute assignment; a reader holds one reference.
"""
import numpy as np

from . import _coerce, _delta
from .index import _entry_point


class _Base:
    """The immutable learned part: keys, values, their raw rows, the index."""

    __slots__ = ("keys", "values", "raw", "handle", "ref", "index", "model", "kind", "find")

    def __init__(self, index, values):
        self.index = index
        self.keys = index.keys_
        self.values = _coerce.frozen(values)
        self.raw = None if values.dtype.hasobject else _coerce.frozen(_delta.raw_view(values))
        self.model = index.model_
        self.kind = index._kind
        vbytes = (np.zeros(0, np.uint8) if self.raw is None else
                  self.raw.reshape(-1).view(np.uint8))
        self.handle = _delta.make_handle(self.keys, self.model, self.kind, vbytes)
        self.ref = self.handle.ctypes.data      # valid while self.handle, keys, model, raw live
        self.find = _entry_point(_delta.find_at, (self.ref, self.keys.dtype.type(0)))


class _State:
    """One version of the store: a base and the buffer of writes laid over it."""

    __slots__ = ("base", "delta", "log_keys", "log_slots", "dvals", "nlog", "view", "size", "limit")

    def __init__(self, base, size, kdt, vdt, limit, capacity=64):
        self.base = base
        self.limit = limit          # compact once the log holds this many writes
        self.delta = {}
        self.log_keys = np.empty(capacity, kdt)
        self.log_slots = np.empty(capacity, np.int64)
        self.dvals = np.zeros(capacity, vdt)
        self.nlog = 0
        self.size = size
        self.view = _View(np.empty(0, kdt), np.empty(0, np.int64), self.dvals, 0)


class _View:
    """The buffer as sorted arrays, up to log entry ``upto`` (immutable): a main level
    ``(keys, slots)`` and a small recent level ``(rkeys, rslots)`` of newer writes."""

    __slots__ = ("keys", "slots", "rkeys", "rslots", "dvals", "draw", "upto")

    def __init__(self, keys, slots, dvals, upto, rkeys=None, rslots=None):
        self.keys, self.slots = _coerce.frozen(keys), _coerce.frozen(slots)
        self.dvals, self.upto = dvals, upto
        self.rkeys = _coerce.frozen(keys[:0] if rkeys is None else rkeys)
        self.rslots = _coerce.frozen(slots[:0] if rslots is None else rslots)
        self.draw = None if dvals.dtype.hasobject else _coerce.frozen(_delta.raw_view(dvals))
