"""Baselines against ``np.searchsorted``: the B+tree (every node size, static and dynamic)
and every adapter, on present, absent, duplicate and extreme keys, empty and one-key
inputs, scalar and array queries. Seeded; the long update stress test is marked slow.
"""
import bisect
import os
import warnings

import numpy as np
import pytest

from baselines import ADAPTERS, BPlusTree, BPlusTreeAdapter, available_adapters, ordered_u64
from baselines import adapters as adapters_mod
from baselines.bplustree import LEAF_SEARCH, NODE_SEARCH, NODE_SIZES

DTYPES = [np.uint64, np.int64, np.uint32, np.int32, np.float64]
DT_IDS = [np.dtype(d).name for d in DTYPES]
ADAPTER_KEYS = list(available_adapters(warn=False))


# --------------------------------------------------------------------------- data

def extremes(dt):
    """The extreme keys of a dtype: its ends, 0, and for floats +-1e308 and -0.0."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        return [-1e308, -1.0, -0.0, 0.0, 1e-300, 1.0, 1e308]
    info = np.iinfo(dt)
    return [int(info.min), int(info.min) + 1, 0, 1, int(info.max) - 1, int(info.max)]


def key_sets(dt, rng):
    """Named key arrays of dtype ``dt``: random, duplicates, extremes, empty, one key."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        rand = rng.normal(0, 1e6, 1500)
    else:
        info = np.iinfo(dt)
        rand = rng.integers(int(info.min), int(info.max), 1500, dtype=dt, endpoint=True)
    ext = np.array(extremes(dt), dtype=dt)
    return {
        "random": np.sort(rand.astype(dt)),
        "dups": np.sort(rng.integers(0, 40, 1200).astype(dt)),
        "extremes": np.sort(np.concatenate([rand[:300].astype(dt), ext, ext[[0, -1]]])),
        "empty": np.zeros(0, dtype=dt),
        "one": np.array([7], dtype=dt),
    }


def same_dtype_queries(keys, dt, rng):
    """Present keys, their neighbours (absent ones mostly) and random values, in ``dt``."""
    dt = np.dtype(dt)
    ext = np.array(extremes(dt), dtype=dt)
    if keys.shape[0] == 0:
        return np.concatenate([ext, np.array([7], dt)])
    if dt.kind == "f":
        nb = np.concatenate([np.nextafter(keys, np.inf), np.nextafter(keys, -np.inf), keys + 0.5])
        rand = rng.normal(0, 1e6, 200)
    else:
        info = np.iinfo(dt)
        k = keys.astype(object)
        nb = np.array([v for v in np.concatenate([k + 1, k - 1]) if info.min <= v <= info.max],
                      dtype=dt)
        rand = rng.integers(int(info.min), int(info.max), 200, dtype=dt, endpoint=True)
    return np.concatenate([keys, nb, rand.astype(dt), ext])


def python_queries(dt):
    """Scalars of other types: exact semantics (``-1`` below uint64, ``3.5`` between 3 and 4)."""
    vals = [-1, 0, 1, 3.5, -0.5, 7, 7.0, 6.999, 2**31 - 1, 2**31, -2**31 - 1, 2**32, 2**53 + 1,
            2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64, 10**30, -10**30,
            1e308, -1e308, float("inf"), float("-inf"), np.int64(-5), np.uint64(2**64 - 1),
            np.float32(2.5), np.int32(-7)]
    return vals


def ref_lower(keys, q):
    """Exact lower bound of a Python (or numpy) scalar, by Python's exact comparisons."""
    return bisect.bisect_left(keys.tolist(), q.item() if isinstance(q, np.generic) else q)


def ref_upper(keys, q):
    return bisect.bisect_right(keys.tolist(), q.item() if isinstance(q, np.generic) else q)


def assert_equal(got, want, queries, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if not np.array_equal(got, want):
        bad = np.flatnonzero(got.ravel() != want.ravel())[:5]
        q = np.asarray(queries).ravel()
        pytest.fail(f"{what}: {(got != want).sum()} wrong; (query, got, want): "
                    f"{[(q[i].item(), got.ravel()[i].item(), want.ravel()[i].item()) for i in bad]}")


def check_lookups(s, keys, dt, rng, upper=True):
    """``s`` (a BPlusTree or an adapter) against np.searchsorted and exact Python references."""
    q = same_dtype_queries(keys, dt, rng)
    assert_equal(s.lower_bound(q), np.searchsorted(keys, q), q, "lower_bound")
    n = keys.shape[0]
    lb = np.searchsorted(keys, q)
    want_c = (lb < n) & (keys[np.minimum(lb, max(n - 1, 0))] == q) if n else np.zeros(len(q), bool)
    assert_equal(s.contains(q), want_c, q, "contains")
    if upper:
        assert_equal(s.upper_bound(q), np.searchsorted(keys, q, side="right"), q, "upper_bound")
    q2 = np.resize(q, 12).reshape(3, 4)                         # shape is kept
    assert s.lower_bound(q2).shape == (3, 4)
    for v in python_queries(dt) + q[:: max(1, len(q) // 25)].tolist():
        got = s.lower_bound(v)
        assert type(got) is int and got == ref_lower(keys, v), (v, got, ref_lower(keys, v))
        c = s.contains(v)
        want = got < n and keys[got] == v
        assert type(c) is bool and c == want, (v, c)
        if upper:
            assert s.upper_bound(v) == ref_upper(keys, v), v
    # mixed-dtype arrays: float queries on integer keys, signed on unsigned, ints on floats
    for mixed in (np.array([-1.0, 0.0, 3.5, 6.5, 7.0, 1e300, -1e300]),
                  np.array([-5, -1, 0, 7, 2**62], dtype=np.int64),
                  np.array([0, 7, 2**63 + 5, 2**64 - 1], dtype=np.uint64)):
        want = [ref_lower(keys, v) for v in mixed.tolist()]
        assert_equal(s.lower_bound(mixed), np.array(want, dtype=np.int64), mixed, "mixed lower")
        want_c = [w < n and keys[w] == v for w, v in zip(want, mixed.tolist())]
        assert_equal(s.contains(mixed), np.array(want_c, dtype=bool), mixed, "mixed contains")
    pv = python_queries(dt)                 # as one list, which no numpy dtype holds exactly
    assert s.lower_bound(pv).tolist() == [ref_lower(keys, v) for v in pv]
    if upper:
        assert s.upper_bound(pv).tolist() == [ref_upper(keys, v) for v in pv]


# --------------------------------------------------------------------------- static B+tree

@pytest.mark.parametrize("node_size", NODE_SIZES)
@pytest.mark.parametrize("dt", DTYPES, ids=DT_IDS)
def test_bplustree_matches_searchsorted(dt, node_size):
    rng = np.random.default_rng(node_size)
    for name, keys in key_sets(dt, rng).items():
        t = BPlusTree(keys, node_size=node_size)
        t._check()
        assert len(t) == len(keys) and t.keys.dtype == keys.dtype
        check_lookups(t, keys, dt, rng)


@pytest.mark.parametrize("search", list(LEAF_SEARCH))
@pytest.mark.parametrize("node_search", list(NODE_SEARCH))
def test_bplustree_search_kinds_and_fill(search, node_search):
    rng = np.random.default_rng(1)
    for dt in (np.uint64, np.float64):
        keys = key_sets(dt, rng)["extremes"]
        for fill in (1.0, 0.6, 0.1):
            t = BPlusTree(keys, node_size=16, fill=fill, search=search, node_search=node_search)
            t._check()
            check_lookups(t, keys, dt, rng, upper=True)


def test_bplustree_layout_and_stats():
    keys = np.arange(0, 3 * 100_000, 3, dtype=np.uint64)
    t = BPlusTree(keys, node_size=64)
    st = t.stats()
    assert st["height"] == 3 and st["node_size"] == 64 and st["n_keys"] == len(keys)
    assert st["leaves"] == -(-len(keys) // 64) and st["nodes"] > st["leaves"]
    assert st["nbytes"] == t.nbytes > 0 and not st["dynamic"]
    assert t._seps.ctypes.data % 64 == 0                       # nodes on cache lines
    assert t.nbytes < keys.nbytes // 32                        # inner levels are small
    half = BPlusTree(keys, node_size=64, fill=0.5)
    assert half.stats()["leaves"] == -(-len(keys) // 32)
    assert t.range(30, 61) == (10, 21) and t.range(61, 30) == (21, 21)
    assert BPlusTree(np.zeros(0)).stats()["height"] == 0


def test_bplustree_uses_keys_without_copy_and_sorts_unsorted():
    keys = np.arange(1000, dtype=np.int64)
    assert np.shares_memory(BPlusTree(keys).keys, keys)
    rng = np.random.default_rng(3)
    shuffled = rng.permutation(keys)
    t = BPlusTree(shuffled)
    assert np.array_equal(t.keys, keys) and not t.keys.flags.writeable


def test_bplustree_parallel_and_scalar_types():
    rng = np.random.default_rng(4)
    keys = np.sort(rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64, endpoint=True))
    q = np.concatenate([keys[rng.integers(0, len(keys), 5000)],
                        rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True)])
    par = BPlusTree(keys, node_size=32, parallel=True)
    assert_equal(par.lower_bound(q), np.searchsorted(keys, q), q, "parallel lower_bound")
    assert_equal(par.upper_bound(q), np.searchsorted(keys, q, "right"), q, "parallel upper_bound")
    assert type(par.lower_bound(keys[5])) is int and type(par.contains(keys[5])) is bool
    par.insert(keys[5])
    assert_equal(par.lower_bound(q), np.searchsorted(par.keys, q), q, "parallel dynamic")


def test_bplustree_batch_lengths_around_its_chunks():
    """The level passes (a chunk of queries per pass, each prefetching AHEAD queries on)
    are exact for every batch length around the chunk and the prefetch distance, in
    trees of no inner level to three, for lower and upper bounds and membership (which
    checks each chunk after its bounds), alone and split across threads, with queries
    outside the key range mixed in."""
    from learned_index.batch import AHEAD, CHUNK, CHUNK_QUERIES

    rng = np.random.default_rng(8)
    heights = set()
    for n in (5, 300, 40_000):
        keys = np.sort(rng.integers(1, 10**6, n, dtype=np.uint64))
        pool = np.concatenate([keys, keys + np.uint64(1),
                               np.array([0, 2**64 - 1], dtype=np.uint64)])
        for t in (BPlusTree(keys, node_size=16), BPlusTree(keys, node_size=16, parallel=True)):
            heights.add(int(t._meta[0]))
            for m in (0, 1, AHEAD - 1, AHEAD + 1, CHUNK_QUERIES - 1, CHUNK_QUERIES,
                      CHUNK_QUERIES + AHEAD + 1, CHUNK + 3):
                q = pool[rng.integers(0, pool.size, m)]
                assert_equal(t.lower_bound(q), np.searchsorted(keys, q), q, f"lower {n} {m}")
                assert_equal(t.upper_bound(q), np.searchsorted(keys, q, "right"), q,
                             f"upper {n} {m}")
                assert_equal(t.contains(q), np.isin(q, keys), q, f"contains {n} {m}")
    assert heights == {0, 2, 3}, heights


def test_bplustree_rejects_bad_input():
    with pytest.raises(ValueError):
        BPlusTree(np.arange(10), node_size=48)
    with pytest.raises(ValueError):
        BPlusTree(np.arange(10), fill=0)
    with pytest.raises(ValueError):
        BPlusTree(np.arange(10), search="nope")
    with pytest.raises(ValueError):
        BPlusTree(np.array([1.0, np.nan]))
    with pytest.raises(TypeError):
        BPlusTree(np.array(["a", "b"]))
    t = BPlusTree(np.arange(10, dtype=np.uint64))
    with pytest.raises(ValueError):
        t.lower_bound(float("nan"))
    with pytest.raises(TypeError):
        t.lower_bound("3")


def test_check_detects_corruption():
    keys = np.arange(5000, dtype=np.int64)
    t = BPlusTree(keys, node_size=16)
    t._seps[3] = 10**9
    with pytest.raises(AssertionError):
        t._check()
    d = BPlusTree(keys, node_size=16)
    d.insert(-1)
    d._check()
    d._pools.isz[0] += 1
    with pytest.raises(AssertionError):
        d._check()


# --------------------------------------------------------------------------- dynamic B+tree

def run_updates(dt, n_ops, batch, node_size=16, fill=1.0, n0=2000, seed=0, span=5000):
    """A seeded random mix of inserts and deletes (single and batched), checked after each batch
    against a numpy reference maintained with np.insert / np.delete."""
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.integers(0, span, n0)).astype(dt)
    t = BPlusTree(ref, node_size=node_size, fill=fill)
    done = 0
    while done < n_ops:
        for _ in range(batch):
            r = rng.random()
            if r < 0.45 or len(ref) == 0:
                x = dt(rng.integers(0, span))
                t.insert(x)
                ref = np.insert(ref, np.searchsorted(ref, x), x)
            elif r < 0.9:
                x = ref[rng.integers(len(ref))]
                t.delete(x)
                ref = np.delete(ref, np.searchsorted(ref, x))
            else:
                x = dt(rng.integers(span, 2 * span))          # absent: a KeyError, no change
                with pytest.raises(KeyError):
                    t.delete(x)
            done += 1
        if rng.random() < 0.3:
            xs = rng.integers(0, span, rng.integers(1, 3 * node_size)).astype(dt)
            t.insert_many(xs)
            ref = np.sort(np.concatenate([ref, xs]))
        if rng.random() < 0.3 and len(ref) > 10:
            xs = ref[rng.choice(len(ref), 10, replace=False)]
            t.delete_many(rng.permutation(xs))
            for x in xs:
                ref = np.delete(ref, np.searchsorted(ref, x))
        t._check()
        assert len(t) == len(ref)
        assert np.array_equal(t.keys, ref)
        q = rng.integers(-2, span + 2, 300).astype(np.int64)
        assert_equal(t.lower_bound(q), np.searchsorted(ref, q), q, "dynamic lower_bound")
        assert_equal(t.upper_bound(q), np.searchsorted(ref, q, "right"), q, "dynamic upper_bound")
        assert_equal(t.contains(q), np.isin(q, ref), q, "dynamic contains")
    return t


@pytest.mark.parametrize("dt,fill", [(np.uint64, 1.0), (np.int32, 0.5), (np.float64, 0.3)],
                         ids=["uint64", "int32-half", "float64-0.3"])
def test_bplustree_updates(dt, fill):
    t = run_updates(dt, n_ops=6000, batch=200, fill=fill, seed=int(fill * 10))
    st = t.stats()
    assert st["dynamic"] and st["splits"] > 0 and st["merges"] > 0 and st["borrows"] > 0


def test_bplustree_updates_stress():
    """10^5 operations (a few seconds: not marked slow)."""
    t = run_updates(np.uint64, n_ops=100_000, batch=1000, seed=7, n0=5000, span=20_000)
    st = t.stats()
    assert st["splits"] > 1000 and st["merges"] > 1000 and st["height"] >= 3


def test_bplustree_grow_shrink_and_edge_updates():
    t = BPlusTree(np.zeros(0, dtype=np.int64), node_size=16)
    t.insert(5)
    assert t.keys.tolist() == [5] and t.lower_bound(5) == 0 and t.contains(5)
    xs = np.random.default_rng(9).integers(-10**6, 10**6, 20_000)
    t.insert_many(xs)                                          # pools grow several times
    t._check()
    ref = np.sort(np.append(xs, 5))
    assert np.array_equal(t.keys, ref) and t.stats()["height"] >= 4
    t.delete_many(np.random.default_rng(10).permutation(ref))   # down to an empty root leaf
    t._check()
    assert len(t) == 0 and t.stats()["height"] == 1 and t.lower_bound(0) == 0
    with pytest.raises(KeyError):
        t.delete(5)
    with pytest.raises(ValueError):
        t.insert(3.5)                                          # not an int64 key
    with pytest.raises(ValueError):
        t.insert_many([1, 2**63])
    assert len(t) == 0
    t.insert_many([1, 2, 3])
    with pytest.raises(KeyError):
        t.delete_many([1, 7, 2])                               # 1 deleted, stops at 7
    assert t.keys.tolist() == [2, 3]
    with pytest.raises(KeyError):
        t.delete(2.5)
    u = BPlusTree(np.array([0, 2**64 - 1, 2**64 - 1], dtype=np.uint64), node_size=16)
    u.insert_many(np.full(40, 2**64 - 1, dtype=np.uint64))    # duplicates of the padding value
    u.insert(0)
    u._check()
    assert u.lower_bound(2**64 - 1) == 2 and u.upper_bound(2**64 - 1) == 44
    assert u.contains(2**64 - 1) and u.lower_bound(2**64) == 44
    f = BPlusTree(np.array([-np.inf, 0.0, np.inf]), node_size=16)
    f.insert_many([np.inf] * 20 + [-np.inf] * 20 + [-0.0])
    f._check()
    assert f.lower_bound(np.inf) == 23 and f.upper_bound(-np.inf) == 21 and f.lower_bound(0.0) == 21
    assert f.nbytes > 0 and f.stats()["nbytes"] == f.nbytes


# --------------------------------------------------------------------------- adapters

def make(key, keys, **options):
    cls = ADAPTERS[key]
    if key == "learned_index":
        options.setdefault("stages", ("linear", "linear"))
    return cls(**options).build(keys)


@pytest.mark.filterwarnings("ignore:pygm returned")   # pygm's wrong answers, corrected
@pytest.mark.parametrize("key", ADAPTER_KEYS)
@pytest.mark.parametrize("dt", DTYPES, ids=DT_IDS)
def test_adapter_matches_searchsorted(key, dt):
    rng = np.random.default_rng(11)
    for name, keys in key_sets(dt, rng).items():
        with make(key, keys) as a:
            assert len(a) == len(keys) and isinstance(a.name, str)
            check_lookups(a, keys, dt, rng, upper=False)
            nb = a.nbytes
            assert nb is None or isinstance(nb, int)


@pytest.mark.parametrize("node_size", NODE_SIZES)
def test_bplustree_adapter_node_sizes(node_size):
    rng = np.random.default_rng(12)
    keys = key_sets(np.int64, rng)["extremes"]
    a = BPlusTreeAdapter(node_size=node_size).build(keys)
    assert str(node_size) in a.name
    check_lookups(a, keys, np.int64, rng, upper=False)


@pytest.mark.parametrize("key", [k for k in ADAPTER_KEYS if ADAPTERS[k].supports_updates])
@pytest.mark.parametrize("dt", [np.uint64, np.int64, np.float64], ids=["uint64", "int64", "float64"])
def test_adapter_updates(key, dt):
    rng = np.random.default_rng(13)
    ref = np.sort(rng.integers(0, 200, 300)).astype(dt)       # duplicates
    a = make(key, ref)
    for _ in range(400):
        if rng.random() < 0.5:
            x = dt(rng.integers(0, 250))
            a.insert(x)
            ref = np.insert(ref, np.searchsorted(ref, x), x)
        else:
            x = ref[rng.integers(len(ref))]
            a.delete(x)
            ref = np.delete(ref, np.searchsorted(ref, x))
    with pytest.raises(KeyError):
        a.delete(dt(1000))
    assert len(a) == len(ref)
    q = np.arange(-3, 260).astype(dt if np.dtype(dt).kind != "u" else np.int64)
    assert_equal(a.contains(q), np.isin(q, ref), q, "contains after updates")
    if a.ranks_after_updates:
        assert_equal(a.lower_bound(q), np.searchsorted(ref, q), q, "ranks after updates")
    else:
        with pytest.raises(RuntimeError):
            a.lower_bound(q)
    a.close()


def test_static_adapters_refuse_updates():
    for key in ADAPTER_KEYS:
        if not ADAPTERS[key].supports_updates:
            a = make(key, np.arange(10, dtype=np.uint64))
            with pytest.raises(NotImplementedError):
                a.insert(3)


def test_missing_peer_is_skipped_with_a_warning(monkeypatch):
    monkeypatch.setattr(adapters_mod.BTreesAdapter, "requires", "no_such_peer_library_xyz")
    with pytest.warns(RuntimeWarning, match="no_such_peer_library_xyz"):
        got = available_adapters()
    assert "btrees" not in got and "binary_search" in got and "bplustree" in got
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        available_adapters(warn=False)


def test_loop_adapters_say_so_and_sizes():
    keys = np.arange(0, 10_000, 2, dtype=np.uint64)
    for key in ADAPTER_KEYS:
        a = make(key, keys)
        if key in ("sortedcontainers", "pygm", "btrees"):
            assert "(loop)" in a.name
        if key in ("binary_search",):
            assert a.nbytes == 0
        if key in ("bplustree", "learned_index", "pygm", "sortedcontainers", "lmdb"):
            assert a.nbytes > 0, key
        if key == "btrees":
            assert a.nbytes is None
        a.close()


@pytest.mark.skipif("pygm" not in ADAPTER_KEYS, reason="pygm not installed")
def test_pygm_wrong_answers_are_corrected():
    keys = np.concatenate([np.sort(np.random.default_rng(15).normal(0, 1e6, 1000)), [1e308]])
    a = make("pygm", keys)
    q = np.array([np.nextafter(1e308, 0), 1e19, 1e307, -1e307, keys[500]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_equal(a.lower_bound(q), np.searchsorted(keys, q), q, "pygm lower_bound")
        assert_equal(a.contains(q), np.isin(q, keys), q, "pygm contains")
    assert a.wrong_answers >= 0


@pytest.mark.skipif("lmdb" not in ADAPTER_KEYS, reason="lmdb not installed")
def test_lmdb_directory_removed_on_close():
    a = make("lmdb", np.arange(100, dtype=np.int32))
    path = a._dir
    assert os.path.isdir(path)
    a.close()
    assert not os.path.exists(path)
    b = make("lmdb", np.arange(100, dtype=np.int32))
    path = b._dir
    del b
    import gc
    gc.collect()
    assert not os.path.exists(path)


def test_ordered_u64_preserves_order():
    rng = np.random.default_rng(14)
    for dt in DTYPES:
        keys = key_sets(dt, rng)["extremes"]
        img = ordered_u64(keys)
        assert img.dtype == np.uint64 and np.all(img[1:] >= img[:-1])
        assert np.array_equal(img[1:] == img[:-1], keys[1:] == keys[:-1])   # -0.0 == 0.0 too
