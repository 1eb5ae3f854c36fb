"""Compact (16-byte) linear leaf and middle records: window codes, windows that hold every
answer, monotone routing, fence leaves on them, the 32-byte records above
``compact.MAX_KEYS`` keys (leaves) or leaves (middle records), and stores."""
import struct

import numpy as np
import pytest

from _data import KEY_DTYPES, probe_queries
from test_hybrid import DT_IDS, step_keys
from test_index import build, check_arrays, check_scalars, check_windows
from test_kv_storage import with_version
from learned_index import LearnedIndex, LearnedKV, _storage, compact, fences, rmi, train
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


def _mid_c0(idx):
    """The ``c0`` of every compact middle record of ``idx``, its sentinel's last."""
    p = idx.model_
    o = int(p[rmi.H_MID_OFF]) + compact.WIDTH * np.arange(int(p[rmi.H_N_MID]) + 1)
    return p.view(np.int32)[2 * o + 2].astype(np.int64)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", ["random", "steps", "duplicates", "top"])
def test_compact_middle_records_route_monotonically(dtype, kind):
    """Linear middle records are 16 bytes on 64-byte lines; each routes within the range
    its ``c0`` starts and the next record's ``c0`` ends, so routing is monotone over the
    keys (no key straightened), every leaf is in range, and answers are exact."""
    keys = _keys(kind, dtype)
    q = _queries(keys)
    for n_leaves, n_mid in ((40, 1), (2_000, 7), (2_000, 1_000), (keys.size * 2, keys.size)):
        idx = build(keys, stages=("robust_linear", "linear", "linear"), n_leaves=n_leaves,
                    n_mid=n_mid)
        p = idx.model_
        assert int(p[rmi.H_MID_FORM]) == FORM_COMPACT and int(p[rmi.H_MID_W]) == compact.WIDTH
        assert (p.ctypes.data + 8 * int(p[rmi.H_MID_OFF])) % 64 == 0
        c0 = _mid_c0(idx)
        assert c0[0] == 0 and c0[-1] == n_leaves - 1 and np.all(np.diff(c0) >= 0)
        ids, bent = train.route_keys(keys, p, 0, keys.size)
        assert bent == 0 and 0 <= ids[0] and ids[-1] < n_leaves
        assert np.array_equal(np.diff(idx._info["starts"]), np.bincount(ids, minlength=n_leaves))
        check_windows(idx, q)
        check_arrays(idx, q)
    check_scalars(idx, q[::7])


def test_compact_middle_records_take_16_bytes():
    """Each added linear middle record costs 16 bytes (a cubic one still 64)."""
    keys = _keys("random", np.uint64, n=200_000)
    for family, per in (("linear", 16), ("cubic", 64)):
        kw = dict(stages=("linear", family, "linear"), n_leaves=8_192)
        small = LearnedIndex(keys, n_mid=1_000, **kw)
        grown = LearnedIndex(keys, n_mid=2_000, **kw)
        assert grown.nbytes - small.nbytes == 1_000 * per


def test_middle_records_keep_32_bytes_past_max_keys(monkeypatch):
    """Above compact.MAX_KEYS leaves (int32 ``c0``) linear middle records are 32 bytes,
    each routing within its own ``[a, b]``. With 32-byte leaves under either kind of
    middle record, answers are exact and the windows close to the all-compact index's."""
    keys = _keys("steps", np.uint64)
    q = _queries(keys)
    kw = dict(stages=("robust_linear", "linear", "linear"), n_leaves=600, n_mid=300)
    small = build(keys, **kw)
    for cap, mid_form in ((599, FORM_LINEAR), (keys.size - 1, FORM_COMPACT)):
        monkeypatch.setattr(compact, "MAX_KEYS", cap)
        wide = build(keys, **kw)
        monkeypatch.undo()
        assert int(wide.model_[rmi.H_MID_FORM]) == mid_form
        assert int(wide.model_[rmi.H_LEAF_FORM]) == FORM_LINEAR
        check_windows(wide, q)
        check_arrays(wide, q)
        check_scalars(wide, q[::11])
        a, b = small.stats(), wide.stats()
        assert abs(a["mean_log2_error"] - b["mean_log2_error"]) <= 0.5


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


def test_stores_of_compact_and_32_byte_records(tmp_path, monkeypatch):
    """A store saves and loads compact leaves and middle records exactly (format
    version 4), and still reads version-2 and version-3 stores, whose linear records
    are 32 bytes."""
    keys = np.unique(np.random.default_rng(5).integers(0, 2**64, 40_000, dtype=np.uint64))
    values = np.arange(keys.size, dtype=np.float64)     # the value dtype of the other store tests
    rng = np.random.default_rng(6)
    q = np.concatenate([keys[rng.integers(0, keys.size, 2_000)],
                        rng.integers(0, 2**64, 2_000, dtype=np.uint64)])
    found = np.isin(q, keys)
    want = np.where(found, np.searchsorted(keys, q), 0)
    options = {"stages": ("linear", "linear", "linear"), "n_leaves": 500, "n_mid": 50}
    for version in (4, 3, 2):
        if version < 4:
            monkeypatch.setattr(compact, "MAX_KEYS", 10)
        kv = LearnedKV(keys, values, index_options=options)
        forms = [int(kv._state.base.model[h]) for h in (rmi.H_LEAF_FORM, rmi.H_MID_FORM)]
        assert forms == [FORM_LINEAR if version < 4 else FORM_COMPACT] * 2
        path = tmp_path / f"s{version}.lkv"
        kv.save(path)
        data = path.read_bytes()
        assert struct.unpack_from("<I", data, 8)[0] == _storage.VERSION == 4
        path.write_bytes(with_version(data, version))
        monkeypatch.undo()
        for mmap_ in (False, True):
            got = LearnedKV.load(path, mmap=mmap_)
            assert [int(got._state.base.model[h]) for h in (rmi.H_LEAF_FORM, rmi.H_MID_FORM)] \
                == forms
            values_got, found_got = got.get_many(q)
            assert np.array_equal(found_got, found) and np.array_equal(values_got, want)
