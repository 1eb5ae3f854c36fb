"""The hybrid index: leaves replaced by fences (``max_window``) answer exactly like
``np.searchsorted``, on data built to defeat linear models and on every dtype."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _data import KEY_DTYPES, configs, dtype_extremes, key_arrays, probe_queries, synthetic
from test_index import HYP, build, check_arrays, check_scalars, check_windows
from learned_index import LearnedIndex

DT_IDS = [np.dtype(d).name for d in KEY_DTYPES]


def step_keys(dtype, n_steps=60, per_step=400, seed=7):
    """A step function of dense clusters far apart: each cluster is a near-vertical CDF step."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        centres = np.sort(rng.uniform(-1e12, 1e12, n_steps))
        offsets = rng.uniform(0, 1e-3, (n_steps, per_step))
    else:
        info = np.iinfo(dt)
        lo = int(info.min) + 10_000
        hi = int(info.max) - 10_000
        centres = np.sort(rng.integers(lo, hi, n_steps, dtype=dt)).astype(object)
        offsets = rng.integers(0, 200, (n_steps, per_step)).astype(object)
    keys = (np.asarray(centres)[:, None] + offsets).ravel()
    return np.sort(np.asarray(keys, dtype=dt))


def _queries(keys):
    q = probe_queries(keys)
    return np.concatenate([q, keys[::7]])


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("max_window", [0, 8, 64, 256])
def test_fence_leaves_on_step_data(dtype, max_window):
    keys = step_keys(dtype)
    for stages in (("linear", "linear"), ("radix", "cubic"), ("linear", "linear", "linear")):
        plain = LearnedIndex(keys, stages=stages, n_leaves=40)
        idx = build(keys, stages=stages, n_leaves=40, max_window=max_window)
        st_plain, st_h = plain.stats(), idx.stats()
        assert st_h["fence_leaves"] > 0 and st_h["max_window"] == max_window
        # every leaf wider than max_window (with more keys than one fence) became a fence
        # leaf, whose span is one cache line per 8 of max_window (at least one)
        counts, width, fence = idx._leaf_table()
        per = 64 // keys.itemsize * max(max_window * keys.itemsize // 512, 1)
        assert np.all(width[~fence & (counts > per)] <= max_window)
        assert np.all(width[fence] == per) and fence.sum() == st_h["fence_leaves"]
        assert st_h["fence_span"] == per and st_plain["fence_span"] is None
        assert st_plain["fence_leaves"] == 0
        assert idx.nbytes > plain.nbytes
        q = _queries(idx.keys)
        check_arrays(idx, q)
        check_scalars(idx, q, limit=40)
        check_windows(idx, q, upper=False)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=60, **HYP)
@given(data=st.data())
def test_property_hybrid_matches_searchsorted(dtype, data):
    keys = data.draw(key_arrays(dtype), label="keys")
    kw = data.draw(configs(roots=("linear", "radix", "cubic", "linear_spline")), label="config")
    kw["max_window"] = data.draw(st.integers(0, 20) | st.sampled_from([256, 1024, 10**6]),
                                 label="max_window")
    idx = build(keys, **kw)
    q = probe_queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)
    check_windows(idx, q, upper=False)


def test_fences_with_heavy_duplicates_and_extremes():
    """Fence boundaries falling inside runs of equal keys: upper bounds still exact."""
    for dtype in KEY_DTYPES:
        vals = np.array(dtype_extremes(dtype), dtype=dtype)
        keys = np.sort(np.repeat(vals, 37))
        idx = build(keys, stages=("linear", "linear"), n_leaves=3, max_window=0)
        assert idx.stats()["fence_leaves"] >= 1
        q = probe_queries(idx.keys)
        check_arrays(idx, q)
        check_scalars(idx, q, limit=60)


def test_fence_leaves_on_real_shapes_are_exact():
    for name in ("clustered", "lognormal", "duplicates", "above_2_53", "float_wide"):
        keys = synthetic(name, 50_000)
        idx = build(keys, stages=("linear", "linear"), n_leaves=64, max_window=32)
        q = _queries(idx.keys)
        check_arrays(idx, q)
        check_windows(idx, q, upper=False)


@pytest.mark.parametrize("bad", [-1, 2.5, "8"])
def test_max_window_is_validated(bad):
    with pytest.raises((ValueError, TypeError)):
        LearnedIndex(np.arange(10, dtype=np.uint64), max_window=bad)


def test_no_fences_without_max_window():
    keys = step_keys(np.uint64)
    st_plain = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=40).stats()
    assert st_plain["fence_leaves"] == 0 and st_plain["max_window"] is None


def test_fence_area_validation_catches_damage():
    """fences.areas_valid (used when a saved store is loaded) accepts real areas, refuses damage."""
    from learned_index import fences, rmi

    keys = step_keys(np.uint64)
    idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=40, max_window=0)
    p = idx.model_.copy()
    o, widths = rmi.leaf_records(p)
    f = rmi.fence_areas(p, o[widths == fences.FENCE_MARK])
    line = fences.keys_per_line(8)
    assert fences.areas_valid(p, f, keys.size, line)
    table = f[0] + fences.AREA_HEADER
    for at, value in ((f[0], keys.size + 1.0),            # s beyond the keys
                      (f[0] + 2, 0.0),                     # no levels
                      (f[0] + fences.SPAN, 0.0),           # no span
                      (f[0] + fences.SPAN, 2.0 * line),    # span off the level counts
                      (f[0] + fences.SPAN, 1.5 * line),    # span not whole lines
                      (table + 1, p[table + 1] + 1),       # bottom level count off by one
                      (table, float(p.size))):             # level outside the blob
        bad = p.copy()
        bad[at] = value
        assert not fences.areas_valid(bad, f, keys.size, line), at
    assert not fences.areas_valid(p, np.array([p.size - 1]), keys.size, line)


def test_fence_steps_compiled_only_where_fences_may_be():
    """rmi.has_fences (which picks the ring pipeline, with its fence steps) is true
    exactly for blobs with fence leaves; and the stage passes, which have no fence
    steps, given a fenced blob anyway, still answer exactly (search.settle repairs
    the empty windows of fence leaves)."""
    from learned_index import batch, rmi

    keys = step_keys(np.uint64)
    q = _queries(keys)
    for stages in (("linear", "linear"), ("linear", "linear", "linear")):
        plain = LearnedIndex(keys, stages=stages, n_leaves=40)
        fenced = LearnedIndex(keys, stages=stages, n_leaves=40, max_window=0)
        for idx in (plain, fenced):
            assert rmi.has_fences(idx.model_) == bool(idx._leaf_table()[2].any())
        assert rmi.has_fences(fenced.model_) and not rmi.has_fences(plain.model_)
        for right, side in ((False, "left"), (True, "right")):
            out = np.empty(q.size, dtype=np.int64)
            batch.stage_passes(keys, fenced.model_, q, out, 0, q.size, right, fenced._kind)
            assert np.array_equal(out, np.searchsorted(keys, q, side=side))


def test_fence_descent_deeper_than_the_pipeline():
    """A fence leaf with more levels than the batch pipeline's fence steps finishes
    its descent in the last pipelined step; its answers are exact, alone or next
    to fence leaves of other depths, and next to queries answered by the range check."""
    from learned_index import _coerce, batch, fences, rmi

    per_step = -(-(fences.FANOUT ** rmi.FENCE_STEPS * 8 + 1) // 60)    # one leaf of > 8**6 lines
    keys = step_keys(np.uint64, n_steps=60, per_step=per_step, seed=3)
    rng = np.random.default_rng(4)
    q = np.concatenate([keys[rng.integers(0, keys.size, 50_000)], probe_queries(keys)])
    for n_leaves in (1, 7):
        idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=n_leaves, max_window=0)
        par = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=n_leaves, max_window=0,
                           parallel=True)
        offs, widths = rmi.leaf_records(idx.model_)
        areas = rmi.fence_areas(idx.model_, offs[widths == fences.FENCE_MARK])
        levels = idx.model_[areas + 2]
        if n_leaves == 1:
            assert levels.max() > rmi.FENCE_STEPS
        else:
            assert levels.min() < levels.max()
        assert idx.model_[rmi.H_FENCE_DEPTH] == levels.max()     # the build's depth field
        for side in ("left", "right"):
            want = np.searchsorted(keys, q, side=side)
            for i in (idx, par):
                got = i.lower_bound(q) if side == "left" else i.upper_bound(q)
                assert np.array_equal(got, want)
        check_scalars(idx, q[::97], limit=200)
        # the depth field sets how many levels the batch pipelines, not the answers:
        # absent (0, a blob written before it), too small or too large, still exact
        # (read-only keys and queries, as the index passes them: no kernel compiled for this test)
        qr = _coerce.frozen(q)
        for field in (0, 1, 2, 99):
            p = idx.model_.copy()
            p[rmi.H_FENCE_DEPTH] = field
            out = np.empty(q.size, dtype=np.int64)
            batch.bound_many(idx.keys_, p, qr, out, False, idx._kind)
            assert np.array_equal(out, np.searchsorted(keys, q)), field


def test_pipeline_batch_sizes_and_parallel_chunks():
    """Both batch kernels are exact for every batch length around their sizes, and
    across the parallel kernel's chunks: the ring pipeline (queries in flight,
    some in fence descents, some answered by the range check) around its ring and
    lead, and the stage passes of indexes without fence leaves (2 and 3 stages)
    around their chunk and prefetch distance; and membership, which checks each
    chunk's keys after its bounds, around the same chunk and prefetch distance."""
    from learned_index import batch, rmi

    keys = step_keys(np.uint64)
    idx = build(keys, stages=("linear", "linear", "linear"), n_leaves=40, max_window=0)
    par = LearnedIndex(keys, stages=("linear", "linear", "linear"), n_leaves=40, max_window=0,
                       parallel=True)
    plain = LearnedIndex(keys, stages=("linear", "linear", "linear"), n_leaves=40)
    two = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=40)
    assert idx.stats()["fence_leaves"] > 0 and plain.stats()["fence_leaves"] == 0
    assert not rmi.has_fences(two.model_)
    rng = np.random.default_rng(11)
    ends = np.array([0, np.iinfo(np.uint64).max], dtype=np.uint64)     # answered by the range check
    pool = np.concatenate([keys, keys + np.uint64(1), ends])
    assert pool.dtype == np.uint64
    chunk = batch.CHUNK_QUERIES
    sizes = [chunk - 1, chunk, chunk + batch.AHEAD + 1, batch.CHUNK - 1, 3 * batch.CHUNK + 5]
    for m in list(range(0, 3 * rmi.RING)) + sizes:
        q = pool[rng.integers(0, pool.size, m)]
        want = np.searchsorted(keys, q)
        assert np.array_equal(idx.lower_bound(q), want), m
        assert np.array_equal(idx.upper_bound(q), np.searchsorted(keys, q, side="right")), m
        assert np.array_equal(par.lower_bound(q), want), m
        for i in (plain, two):
            assert np.array_equal(i.lower_bound(q), want), m
            assert np.array_equal(i.upper_bound(q), np.searchsorted(keys, q, side="right")), m
        has = np.isin(q, keys)
        for i in (idx, par, plain, two):
            assert np.array_equal(i.contains(q), has), m
