"""Micro-benchmarks for pytest-benchmark: ``pytest bench --benchmark-only``.

Lookups of the default learned index, the B+tree (node size 64 and 16) and
``np.searchsorted`` on the same keys and queries, grouped per (workload,
dataset) so that pytest-benchmark's table shows each one's time relative to
the fastest of its group (the "(1.0)" column); ``--benchmark-compare``
then compares runs. Every benchmarked answer is checked against
``np.searchsorted``. Sizes: ``BENCH_MICRO_N`` keys (default 10**6).
"""
import os

import numpy as np
import pytest

from baselines import BPlusTree
from bench import datasets
from learned_index import LearnedIndex

N = int(float(os.environ.get("BENCH_MICRO_N", "1e6")))
LOOKUPS = 100_000
SCALAR = 2_000
SETS = ("uniform_dense", "lognormal", "osm", "fb")
INDEXES = {
    "learned_index": lambda k: LearnedIndex(k),
    "bplustree64": lambda k: BPlusTree(k, node_size=64),
    "bplustree16": lambda k: BPlusTree(k, node_size=16),
    "searchsorted": None,
}


@pytest.fixture(scope="module", params=SETS)
def data(request):
    keys = datasets.GENERATORS[request.param](N)
    qs = keys[np.random.default_rng(1).integers(0, len(keys), LOOKUPS)]
    return request.param, keys, qs, np.searchsorted(keys, qs)


_BUILT = {}


def _index(name, dataset, keys):
    if (name, dataset) not in _BUILT:
        _BUILT.clear() if len(_BUILT) > 8 else None
        _BUILT[name, dataset] = INDEXES[name](keys)
        _BUILT[name, dataset].lower_bound(keys[:3])            # JIT before timing
    return _BUILT[name, dataset]


@pytest.mark.parametrize("name", INDEXES)
def test_batch_lookup(benchmark, data, name):
    dataset, keys, qs, ref = data
    benchmark.group = f"batch {len(qs):,} lookups, {dataset} {len(keys):,} keys"
    fn = (lambda: np.searchsorted(keys, qs)) if INDEXES[name] is None \
        else (lambda idx=_index(name, dataset, keys): idx.lower_bound(qs))
    got = benchmark(fn)
    assert np.array_equal(got, ref), f"{name} gave wrong answers on {dataset}"


@pytest.mark.parametrize("name", INDEXES)
def test_scalar_loop(benchmark, data, name):
    dataset, keys, qs, ref = data
    benchmark.group = f"scalar loop {SCALAR:,} lookups, {dataset} {len(keys):,} keys"
    sq = qs[:SCALAR].tolist()
    if INDEXES[name] is None:
        kt = keys.dtype.type
        lb = lambda q: int(np.searchsorted(keys, kt(q)))  # noqa: E731
    else:
        lb = _index(name, dataset, keys).lower_bound
    got = benchmark(lambda: [lb(q) for q in sq])
    assert np.array_equal(np.asarray(got), ref[:SCALAR]), f"{name} gave wrong answers on {dataset}"
