"""Fill the numba cache before the test workers start (see ``conftest.py``).

Every kernel is compiled once per key dtype, 5-70 s each cold. Without this,
both pytest-xdist workers of a fresh clone compile the same kernels at the same
time (neither finds the other's result in the cache yet), which doubles most of
the suite's compile time. Run as ``python tests/_warm.py TASK [TASK ...]``, a
task being ``index:DTYPE`` (the learned index, its tuner and the key-value store)
or ``bptree:DTYPE`` (the B+tree baseline): it drives the public API over small
key sets of that dtype, so that the kernels it compiles are the ones the tests
call. It asserts nothing; a kernel it misses is compiled by the first test that
needs it, as before.
"""
import os
import sys
import tempfile

import numpy as np


def _keys_and_queries(dtype):
    keys = np.unique(np.random.default_rng(0).integers(0, 2**31 - 1, 40_000)).astype(dtype)
    ro = keys[:100].copy()
    ro.flags.writeable = False
    return keys, (keys[:100], ro, keys[:5].tolist(), keys[7], keys[:3].astype(np.float32))


def warm_index(dtype):
    """Build and query learned indexes of several layouts, tune one, use a store."""
    from learned_index import LearnedIndex, LearnedKV
    from learned_index.tune import tune

    keys, queries = _keys_and_queries(dtype)
    indexes = [LearnedIndex(keys), LearnedIndex(keys, parallel=True),
               LearnedIndex(keys[:5_000]), LearnedIndex(keys, max_window=8, n_leaves=64),
               LearnedIndex(keys, stages=("linear", "linear", "linear"), n_leaves=64),
               LearnedIndex(keys, stages=("mlp", "linear"), n_leaves=64),
               LearnedIndex(keys, stages=("cubic", "cubic"), n_leaves=64),
               tune(keys, max_bytes=20_000, lookups=2_000)["index"]]
    indexes += [LearnedIndex(keys, search=s, n_leaves=64)
                for s in ("binary", "branchless", "exponential", "linear")]
    for idx in indexes:
        for q in queries:
            idx.lower_bound(q), idx.upper_bound(q), idx.contains(q)
        idx.search(keys[:10]), idx.range(keys[3], keys[9])
    kv = LearnedKV(keys, np.arange(keys.size, dtype=np.float64))
    kv.update(keys[:3] + 1, np.zeros(3))
    kv.delete_many(keys[5:7])
    kv.get_many(keys[:50]), kv.get(keys[5]), kv.range(keys[3], keys[9])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "warm.lkv")
        kv.compact()
        kv.save(path)
        loaded = LearnedKV.load(path, mmap=True)
        loaded.get_many(keys[:50]), loaded.get(keys[5])
        del loaded


def warm_bptree(dtype):
    """Query a static and a parallel B+tree, then write to them (the dynamic layout)."""
    from baselines.bplustree import BPlusTree

    keys, queries = _keys_and_queries(dtype)
    for tree in (BPlusTree(keys, node_size=16), BPlusTree(keys, parallel=True)):
        for q in queries:
            tree.lower_bound(q), tree.upper_bound(q), tree.contains(q)
        tree.insert_many(keys[:10] + 1), tree.delete_many(keys[20:30])
        tree.lower_bound(keys[:100]), tree.contains(keys[:100]), tree.keys


PARTS = {"index": warm_index, "bptree": warm_bptree}

if __name__ == "__main__":
    for task in sys.argv[1:]:
        part, name = task.split(":")
        PARTS[part](np.dtype(name))
