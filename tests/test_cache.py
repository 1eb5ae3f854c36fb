"""The numba cache works from the installed package: a second process compiles nothing."""
import json
import subprocess
import sys

SCRIPT = r"""
import json
import numpy as np
from learned_index import LearnedIndex, rmi, train, search
idx = LearnedIndex(np.arange(0, 3000, 3, dtype=np.uint64), stages=("linear", "linear"))
idx.lower_bound(np.arange(10, dtype=np.uint64)); idx.upper_bound(7); idx.contains(9)
idx.contains(np.arange(5, dtype=np.uint64))
kernels = [rmi.bound_at, rmi.bound_many, rmi.contains_at, rmi.contains_many, train.route_keys, train.fit_leaves]
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
