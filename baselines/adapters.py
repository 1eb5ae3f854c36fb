"""Adapters: every competitor behind one interface (see :mod:`baselines`).

Queries are coerced once, by :func:`learned_index._coerce.queries`, to the
keys' dtype with exact semantics (``-1`` against ``uint64`` keys, ``3.5``
against integers, ``2**64``...), so every adapter answers exactly the same
question as ``np.searchsorted``. Peers without a batch API are called in a
Python loop inside the adapter and say so in their ``name``: that loop is
what a user of the library pays.

Peer libraries are imported when an adapter is built; a missing one makes
:func:`available_adapters` skip it with a warning.
"""
import warnings

import numpy as np

from ._adapter import Adapter, ordered_u64
from .bplustree import BPlusTree
from .peers import BTreesAdapter, LMDBAdapter, PGMAdapter, SortedContainersAdapter

__all__ = ["Adapter", "ordered_u64", "BinarySearch", "LearnedIndexAdapter",
           "TunedLearnedIndexAdapter", "BPlusTreeAdapter",
           "SortedContainersAdapter", "PGMAdapter", "BTreesAdapter", "LMDBAdapter", "ADAPTERS",
           "available_adapters"]

# --------------------------------------------------------------------------- ours

class BinarySearch(Adapter):
    """``np.searchsorted`` on the sorted array: the SOSD "BinarySearch" baseline. Static."""

    name = "binary search (np.searchsorted)"

    def _build(self, arr):
        self._keys = arr

    def _lb_many(self, qk):
        return np.searchsorted(self._keys, qk).astype(np.int64, copy=False)

    def _contains_many(self, qk):
        r = np.searchsorted(self._keys, qk)
        return self._keys[np.minimum(r, self._n - 1)] == qk

    @property
    def nbytes(self):
        return 0


class _Delegate(Adapter):
    """An adapter for one of this project's structures, which coerce queries themselves."""

    def lower_bound(self, q):
        return self.index.lower_bound(q)

    def contains(self, q):
        return self.index.contains(q)

    @property
    def nbytes(self):
        return int(self.index.nbytes)


class LearnedIndexAdapter(_Delegate):
    """:class:`learned_index.LearnedIndex` (options passed through). Static."""

    name = "learned index"

    def _build(self, arr):
        from learned_index import LearnedIndex
        self.index = LearnedIndex(arr, **self.options)
        self.name = f"learned index {'/'.join(self.index.stages_)}"


class TunedLearnedIndexAdapter(_Delegate):
    """:func:`learned_index.tune.tune` picks the configuration (options passed through). Static.

    The build time includes the tuning; ``tuning`` keeps its summary.
    """

    name = "learned index (tuned)"

    def _build(self, arr):
        from learned_index import LearnedIndex
        from learned_index.tune import tune
        result = tune(arr, **self.options)
        self.index = result["index"] or LearnedIndex(arr, **result["config"])
        self.tuning = {"config": result["config"], "seconds": result["seconds"],
                       "front": result["front"]}
        self.name = f"learned index tuned {'/'.join(self.index.stages_)}"


class BPlusTreeAdapter(_Delegate):
    """:class:`baselines.BPlusTree` (options passed through); supports updates."""

    name = "B+tree"
    supports_updates = True

    def _build(self, arr):
        self.index = BPlusTree(arr, **self.options)
        self.name = f"B+tree (node_size={self.index.node_size_})"

    def insert(self, key):
        self.index.insert(key)
        self._n = len(self.index)

    def delete(self, key):
        self.index.delete(key)
        self._n = len(self.index)


# --------------------------------------------------------------------------- registry

ADAPTERS = {
    "binary_search": BinarySearch,
    "bplustree": BPlusTreeAdapter,
    "learned_index": LearnedIndexAdapter,
    "learned_index_tuned": TunedLearnedIndexAdapter,
    "sortedcontainers": SortedContainersAdapter,
    "pygm": PGMAdapter,
    "btrees": BTreesAdapter,
    "lmdb": LMDBAdapter,
}


def available_adapters(warn=True):
    """The adapters whose library is installed, ``{key: class}`` (in :data:`ADAPTERS` order).

    A missing optional peer is skipped with a ``RuntimeWarning`` (when ``warn``),
    never an error.

    >>> sorted(available_adapters())[:2]
    ['binary_search', 'bplustree']
    """
    out = {}
    for key, cls in ADAPTERS.items():
        if cls.available():
            out[key] = cls
        elif warn:
            warnings.warn(f"{cls.name}: optional library {cls.requires!r} is not installed; "
                          "skipped (pip install 'learned-index[peers]')", RuntimeWarning, stacklevel=2)
    return out
