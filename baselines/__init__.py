"""Baselines for the learned index: a B+tree of our own and adapters to peer libraries.

:class:`BPlusTree` is the classic structure a learned index must beat: a
cache-aligned static B+tree in numba (dynamic once written to).

Every competitor is also available behind one small protocol, so that the
benchmark treats them all alike. An adapter:

``Adapter(**options)``
    cheap; ``options`` are passed to the underlying structure.
``build(keys) -> self``
    builds over 1-D keys (uint64, int64, uint32, int32 or float64; any
    order; duplicates allowed), validated like :class:`learned_index.LearnedIndex`.
``lower_bound(q)``
    ``np.searchsorted(keys, q, side="left")`` for a scalar (int) or an array
    (int64 array of the same shape); queries of any numeric dtype are
    compared exactly.
``contains(q)``
    membership, bool or bool array.
``nbytes``
    bytes the structure occupies beyond ``n * itemsize`` (one packed array of
    the keys), or None when the library does not tell. Structures that keep
    their own copy of the keys count it and have the packed size taken off.
``name``
    a label for reports; ``"(loop)"`` in it means the library has no batch
    API and the adapter calls it once per query in Python.
``insert(key)``, ``delete(key)``
    where ``supports_updates`` is True (``NotImplementedError`` otherwise);
    ``delete`` removes one occurrence and raises ``KeyError`` if the key is
    absent. ``ranks_after_updates`` tells whether ``lower_bound`` still answers
    after an update (key -> position maps cannot: they raise ``RuntimeError``).
``close()``
    releases files (also a context manager).

Peers that map keys to values (BTrees, LMDB) store each key's first position
as its value, so every competitor answers the same question.
:func:`available_adapters` lists the constructible adapters; a missing
optional library is skipped with a warning.

>>> import numpy as np
>>> from baselines import available_adapters
>>> keys = np.array([3, 5, 5, 9], dtype=np.uint64)
>>> for cls in available_adapters(warn=False).values():
...     with cls().build(keys) as a:
...         assert a.lower_bound(5) == 1 and list(a.lower_bound(np.array([0, 6, 10]))) == [0, 3, 4]
"""
from .adapters import (ADAPTERS, Adapter, BinarySearch, BPlusTreeAdapter, BTreesAdapter,
                       LearnedIndexAdapter, LMDBAdapter, PGMAdapter, SortedContainersAdapter,
                       TunedLearnedIndexAdapter, available_adapters, ordered_u64)
from .bplustree import BPlusTree

__all__ = ["BPlusTree", "Adapter", "ADAPTERS", "available_adapters", "ordered_u64", "BinarySearch",
           "BPlusTreeAdapter", "LearnedIndexAdapter", "TunedLearnedIndexAdapter",
           "SortedContainersAdapter", "PGMAdapter",
           "BTreesAdapter", "LMDBAdapter"]
