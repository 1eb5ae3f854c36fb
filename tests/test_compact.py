"""Compact (16-byte) linear leaf records: window codes, windows that hold every answer,
fence leaves on them, the 32-byte record above ``compact.MAX_KEYS`` keys, and stores."""
import struct

import numpy as np
import pytest

from _data import KEY_DTYPES, probe_queries
from test_hybrid import DT_IDS, step_keys
from test_index import build, check_arrays, check_scalars, check_windows
from test_kv_storage import with_version
from learned_index import LearnedIndex, LearnedKV, _storage, compact, fences, rmi
from learned_index.models import FORM_COMPACT, FORM_LINEAR


def _keys(kind, dtype, n=30_000, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if kind == "steps":
        return step_keys(dtype, n_steps=40, per_step=n // 40, seed=seed)
    if kind == "duplicates":
        return np.sort(rng.integers(0, n // 20, n).astype(dt))
    if dt.kind == "f":
        if kind == "top":       # keys within a few thousand ulps of the largest float
            return np.unique(np.finfo(dt).max - rng.uniform(0.0, 1e296, n)).astype(dt)
        return np.sort(rng.lognormal(0.0, 2.0, n)).astype(dt)
    info = np.iinfo(dt)
    if kind == "top":           # dense keys just below the dtype's largest value
        offsets = rng.integers(0, 4 * n, n).astype(object)
        return np.unique(np.array(int(info.max) - offsets, dtype=dt))
    return np.unique(rng.integers(int(info.min) // 2, int(info.max) // 2, n, dtype=dt))


def _queries(keys, seed=1):
    rng = np.random.default_rng(seed)
    return np.concatenate([keys[rng.integers(0, keys.size, 4_000)], probe_queries(keys)])


def test_window_codes_cover_each_width_tightly():
    """decode(encode(w)) is the least coded width >= w, at most 1/128 above it past 511,
    never the fence code; widths past the largest code are unbounded."""
    top = 509 << 14                 # the widest bounded code's width (the next two are reserved)
    ws = np.unique(np.concatenate([np.arange(0, 5_000), np.geomspace(5_000, top, 3_000)
                                   .astype(np.int64)]))
    widths = np.array([compact.decode(compact.encode(int(w))) for w in ws])
    codes = np.array([compact.encode(int(w)) for w in ws])
    assert np.all(widths >= ws)
    assert np.array_equal(widths[ws <= 511], ws[ws <= 511])
    assert np.all(widths[ws > 511] <= ws[ws > 511] * (1 + 1 / 128) + 1)
    assert not np.any(codes == compact.FENCE_CODE)
    every = np.arange(compact.CODE_MASK + 1)
    coded = compact.decode_all(every)
    for w in ws[::50]:          # the least: no code of a smaller width covers w
        assert widths[ws == w][0] == coded[(coded >= w) & (every != compact.FENCE_CODE)].min()
    assert compact.decode(compact.encode(top)) == top
    assert compact.encode(top + 1) == compact.UNBOUNDED
    assert compact.decode(compact.UNBOUNDED) >= 2**40


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", ["random", "steps", "duplicates", "top"])
@pytest.mark.parametrize("stages", [("linear", "linear"), ("robust_linear", "linear", "linear"),
                                    ("linear", "linear_spline")])
def test_compact_windows_hold_every_answer(dtype, kind, stages):
    """Each in-range query's lower and upper bound lie in its compact leaf's window,
    for present keys, their neighbours, gaps and extremes; answers are exact."""
    keys = _keys(kind, dtype)
    for n_leaves in (1, 37, 2_000, keys.size * 2):
        idx = build(keys, stages=stages, n_leaves=n_leaves,
                    n_mid=max(n_leaves // 2, 1) if len(stages) == 3 else None)
        assert int(idx.model_[rmi.H_LEAF_FORM]) == FORM_COMPACT
        q = _queries(keys)
        check_windows(idx, q)
        check_arrays(idx, q)
    check_scalars(idx, q[::7])


def test_compact_records_take_half_the_bytes():
    """A linear leaf takes 16 bytes, half the 32-byte record's: each added leaf costs 16."""
    keys = _keys("random", np.uint64, n=200_000)
    small = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=4_096)
    assert rmi.record_width(int(small.model_[rmi.H_LEAF_FORM])) * 8 == 16
    grown = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=8_192)
    assert grown.nbytes - small.nbytes == 4_096 * 16


def test_linear_leaves_keep_the_32_byte_record_past_max_keys(monkeypatch):
    """Above compact.MAX_KEYS keys (int32 ``c0``) linear leaves are 32-byte records, with
    the same answers and windows within a key of the compact ones."""
    keys = _keys("steps", np.uint64)
    q = _queries(keys)
    kw = dict(stages=("linear", "linear"), n_leaves=300)
    small = build(keys, **kw)
    monkeypatch.setattr(compact, "MAX_KEYS", keys.size - 1)
    wide = build(keys, **kw)
    assert int(wide.model_[rmi.H_LEAF_FORM]) == FORM_LINEAR
    assert int(small.model_[rmi.H_LEAF_FORM]) == FORM_COMPACT
    assert wide.nbytes - small.nbytes == 300 * 16 - 16      # less the compact sentinel
    check_windows(wide, q)
    check_arrays(wide, q)
    a, b = small.stats(), wide.stats()
    assert abs(a["mean_error"] - b["mean_error"]) <= 0.05 * b["mean_error"] + 1


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_fence_leaves_on_compact_records(dtype):
    """Compact fence leaves keep their area offset in the base key's place and their
    c0 for the leaf before them: exact, batch and scalar, next to model leaves."""
    keys = step_keys(dtype)
    q = np.concatenate([probe_queries(keys), keys[::3]])
    for stages in (("linear", "linear"), ("linear", "linear", "linear")):
        idx = build(keys, stages=stages, n_leaves=40, n_mid=20 if len(stages) == 3 else None,
                    max_window=64)
        assert int(idx.model_[rmi.H_LEAF_FORM]) == FORM_COMPACT
        o, widths = rmi.leaf_records(idx.model_)
        fence = widths == fences.FENCE_MARK
        assert 0 < fence.sum() < fence.size and idx.stats()["fence_leaves"] == fence.sum()
        areas = rmi.fence_areas(idx.model_, o[fence])
        assert fences.areas_valid(idx.model_, areas, keys.size, fences.keys_per_line(keys.itemsize))
        check_windows(idx, q, upper=False)      # a fence window depends on the side
        check_arrays(idx, q)
        check_scalars(idx, q[::11])


def test_unbounded_codes_stay_exact():
    """A leaf coded as unbounded searches to the end of the array (clamped to n): still
    exact, and a lookup never reads past the keys."""
    keys = _keys("random", np.uint64)
    idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=50)
    o, _ = rmi.leaf_records(idx.model_)
    pi = idx.model_.view(np.int32)          # in place: the index's own kernels run on it
    for r in o:
        compact.set_code(pi, r, compact.UNBOUNDED)
    _, widths = rmi.leaf_records(idx.model_)
    assert np.all(widths == keys.size)
    q = _queries(keys)
    check_arrays(idx, q)
    check_scalars(idx, q[::13])


def test_stores_of_compact_and_32_byte_leaves(tmp_path, monkeypatch):
    """A store saves and loads compact leaves exactly (format version 3), and still
    reads a version-2 store, whose linear leaves are 32-byte records."""
    keys = np.unique(np.random.default_rng(5).integers(0, 2**64, 40_000, dtype=np.uint64))
    values = np.arange(keys.size, dtype=np.float64)     # the value dtype of the other store tests
    rng = np.random.default_rng(6)
    q = np.concatenate([keys[rng.integers(0, keys.size, 2_000)],
                        rng.integers(0, 2**64, 2_000, dtype=np.uint64)])
    found = np.isin(q, keys)
    want = np.where(found, np.searchsorted(keys, q), 0)
    for old in (False, True):
        if old:
            monkeypatch.setattr(compact, "MAX_KEYS", 10)
        kv = LearnedKV(keys, values, index_options={"stages": ("linear", "linear"), "n_leaves": 500})
        form = int(kv._state.base.model[rmi.H_LEAF_FORM])
        assert form == (FORM_LINEAR if old else FORM_COMPACT)
        path = tmp_path / f"s{int(old)}.lkv"
        kv.save(path)
        data = path.read_bytes()
        assert struct.unpack_from("<I", data, 8)[0] == _storage.VERSION == 3
        if old:
            path.write_bytes(with_version(data, 2))
        monkeypatch.undo()
        for mmap_ in (False, True):
            got = LearnedKV.load(path, mmap=mmap_)
            assert int(got._state.base.model[rmi.H_LEAF_FORM]) == form
            values_got, found_got = got.get_many(q)
            assert np.array_equal(found_got, found) and np.array_equal(values_got, want)
