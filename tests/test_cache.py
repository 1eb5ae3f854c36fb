"""The numba cache works from the installed package: a second process compiles nothing."""
import json
import subprocess
import sys

SCRIPT = r"""
import json
import numpy as np
from learned_index import LearnedIndex, batch, rmi, train, search
idx = LearnedIndex(np.arange(0, 3000, 3, dtype=np.uint64), stages=("linear", "linear"))
idx.lower_bound(np.arange(10, dtype=np.uint64)); idx.upper_bound(7); idx.contains(9)
idx.contains(np.arange(5, dtype=np.uint64))
kernels = [rmi.bound_at, batch.bound_many, rmi.contains_at, batch.contains_many,
           train.route_keys, train.fit_leaves]
misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
print(json.dumps({"misses": misses, "hits": hits, "kernels": len(kernels)}))
"""


def _run():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_kernels_from_cache():
    _run()                      # may compile and fill the cache
    second = _run()
    assert second["misses"] == 0, second
    assert second["hits"] >= second["kernels"], second


def test_one_compiled_kernel_per_key_dtype():
    """Every path into a batch or scalar kernel passes the same argument types for a key
    dtype: read-only keys and queries, no literal constants. Each of these takes 5-30 s to
    compile cold, so one more variant per dtype is minutes more for a new user's first
    lookups (and for this suite); writeable queries or a literal ``False`` passed from
    jitted code each compiled a second copy before. ``bound_range`` is compiled for the
    literal start 0 only (see :func:`learned_index.batch.bound_many`): the parallel and
    key-value kernels pass it slices. (The stage passes it calls are compiled for each
    literal ``right`` by design, see :func:`learned_index.batch.bound_range`.)"""
    import numpy as np

    from _data import KEY_DTYPES
    from learned_index import LearnedIndex, LearnedKV, _delta, batch, rmi, train

    for dt in KEY_DTYPES:
        keys = np.arange(0, 30_000, 3).astype(dt)
        ro = keys[:50].copy()
        ro.flags.writeable = False
        for idx in (LearnedIndex(keys), LearnedIndex(keys, parallel=True),
                    LearnedIndex(keys, stages=("linear", "linear", "linear"), n_leaves=64)):
            for q in (keys[:50], ro, keys[:50].tolist(), keys[7], keys[:3].astype(np.float32)):
                idx.lower_bound(q), idx.upper_bound(q), idx.contains(q)
        kv = LearnedKV(keys, np.arange(keys.size, dtype=np.float64))
        kv.update(keys[:3] + 1, np.zeros(3))
        kv.get_many(keys[:50]), kv.get(keys[5]), kv.range(keys[3], keys[9])
    kernels = [batch.bound_range, batch.bound_many, batch.bound_many_parallel,
               batch.contains_many, rmi.bound_one, rmi.contains_one, train.route_keys,
               train.fit_leaves, _delta.resolve_many, _delta.find_at]
    for k in kernels:
        sigs = [tuple(map(str, s)) for s in k.signatures]
        if k is batch.bound_range:        # (keys, p, qs, out, start, ...): the literal 0
            assert {s[4] for s in sigs} <= {"Literal[int](0)"}, sigs
            sigs = [s[:4] + s[5:] for s in sigs]
        assert not [s for s in sigs if any("Literal" in a for a in s)], (k, sigs)
        assert len(sigs) <= len(KEY_DTYPES), (k, sigs)
