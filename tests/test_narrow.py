"""Wide windows narrowed in the batch pipeline (``wide.narrow``): the pieces always hold
the answer, the build's ``narrowing steps`` field counts them right, and batches
answer exactly like ``np.searchsorted`` whatever that field says."""
import numpy as np
import pytest

from _data import KEY_DTYPES, probe_queries
from test_hybrid import DT_IDS, step_keys
from test_index import build, check_arrays, check_scalars
from learned_index import _coerce, batch, fences, rmi, train, wide


def _dup_keys(n=20_000, seed=5):
    """Skewed uint64 keys with runs of duplicates, up to the top of the range."""
    rng = np.random.default_rng(seed)
    below = (rng.random(n // 4) ** 3 * 2**40).astype(np.uint64)
    keys = np.sort(np.uint64(2**64 - 2) - below)
    return np.sort(np.repeat(keys, rng.integers(1, 8, keys.size)))


@pytest.mark.parametrize("right", [False, True])
def test_narrow_keeps_the_answer(right):
    """Each step of ``narrow`` returns a piece of at most the stride that holds the
    bound, and ``narrow_steps(width)`` steps take any window it narrows to
    NARROW_LINES lines or fewer (and no fewer steps do, for an answer in the first
    piece); windows a batch prefetches whole take none."""
    keys = _coerce.frozen(_dup_keys())
    n = keys.size
    per = fences.keys_per_line(keys.itemsize)
    piece = wide.NARROW_LINES * per
    rng = np.random.default_rng(6)
    side = "right" if right else "left"
    for _ in range(3_000):
        q = keys[rng.integers(0, n)] + np.uint64(rng.integers(0, 2))
        r = int(np.searchsorted(keys, q, side=side))
        width = int(rng.choice([wide.PREFETCH_LINES * per, 200, 600, 5_000, n]))
        lo = int(np.clip(r - rng.integers(0, width + 1), 0, max(n - width, 0)))
        hi = min(lo + width, n)
        if not lo <= r <= hi:
            continue
        a, b, steps = lo, hi, 0
        while b - a > piece:
            stride = max(piece, -(-(b - a) // wide.NARROW_PIECES))
            a2, b2 = wide.narrow(keys, q, np.int64(a), np.int64(b), np.bool_(right), per)
            assert a <= a2 <= r <= b2 <= b and b2 - a2 <= stride, (q, a, b, a2, b2, r)
            a, b, steps = a2, b2, steps + 1
        assert steps <= wide.narrow_steps(hi - lo)
    whole = wide.PREFETCH_LINES * per
    for width in (whole - 1, whole, whole + 1, 700, 4_096, 4_097, n):
        a, b, steps = 0, width, 0                   # the answer 0: always the first piece
        while b - a > piece and width >= whole:
            a, b = wide.narrow(keys, keys[0], np.int64(a), np.int64(b), np.bool_(False), per)
            steps += 1
        assert steps == wide.narrow_steps(width, per), width


def test_build_writes_the_narrowing_steps():
    """The header field is the fewest steps after which the leaves whose windows need
    more hold at most NARROW_SHARE of the keys; fence leaves (whose windows come from
    their fences) need none."""
    keys = step_keys(np.uint64)
    rng = np.random.default_rng(9)
    smooth = np.sort(rng.integers(0, 2**40, 30_000, dtype=np.uint64))
    cases = [(keys, {"n_leaves": 4}), (keys, {"n_leaves": 40}),
             (keys, {"n_leaves": 40, "max_window": 64}), (keys, {"n_leaves": 4000}),
             (keys, {"stages": ("linear", "linear", "linear"), "n_leaves": 64}),
             (smooth, {"n_leaves": 30}), (smooth, {"n_leaves": 3000})]
    fields = []
    for k, kw in cases:
        idx = build(k, **kw)
        _, widths = rmi.leaf_records(idx.model_)
        need = np.array([wide.narrow_steps(int(w)) if w != fences.FENCE_MARK else 0
                         for w in widths])
        held = idx._leaf_table()[0]
        want = min(s for s in range(need.max() + 1)
                   if held[need > s].sum() <= train.NARROW_SHARE * k.size)
        assert idx.model_[rmi.H_NARROW] == want, kw
        fields.append(want)
    assert max(fields) > 1 and min(fields) == 0                 # the cases cover both


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kw", [{"n_leaves": 3}, {"n_leaves": 10, "max_window": 1024},
                                {"n_leaves": 3, "parallel": True}],
                         ids=["narrow", "narrow+fences", "parallel"])
def test_wide_windows_exact(dtype, kw):
    keys = step_keys(dtype)
    idx = build(keys, stages=("linear", "linear"), **kw)
    assert idx.model_[rmi.H_NARROW] > 0
    assert rmi.has_fences(idx.model_) == ("max_window" in kw)
    q = np.concatenate([probe_queries(keys), keys[::3]])
    check_arrays(idx, q)
    check_scalars(idx, q)


def test_duplicates_near_the_top_exact():
    keys = _dup_keys()
    idx = build(keys, stages=("linear", "linear"), n_leaves=2)
    assert idx.model_[rmi.H_NARROW] > 1
    check_arrays(idx, np.concatenate([probe_queries(keys), keys[::5]]))


def test_narrowing_field_sets_speed_not_answers():
    """Absent (0, a blob written before the field), too small (a window still wide at
    the last step is searched whole) or too large: the answers are exact, with fences
    and without."""
    keys = step_keys(np.uint64)
    rng = np.random.default_rng(8)
    q = _coerce.frozen(np.concatenate([keys[rng.integers(0, keys.size, 20_000)],
                                       probe_queries(keys)]))
    for kw in ({"n_leaves": 2}, {"n_leaves": 10, "max_window": 1024}):
        idx = build(keys, stages=("linear", "linear"), **kw)
        for field in (0, 1, 2, 99):
            p = idx.model_.copy()       # as writeable as the index's, like keys and queries
            p[rmi.H_NARROW] = field     # (read-only): no kernel compiled for this test
            for right, side in ((False, "left"), (True, "right")):
                out = np.empty(q.size, dtype=np.int64)
                batch.bound_many(idx.keys_, p, q, out, right, idx._kind)
                assert np.array_equal(out, np.searchsorted(keys, q, side=side)), (kw, field)


DEFERRING = [{"stages": ("linear", "linear"), "n_leaves": 3},
             {"stages": ("linear", "linear"), "n_leaves": 10, "max_window": 1024},
             {"stages": ("mlp", "linear"), "n_leaves": 3},
             {"stages": ("mlp", "linear"), "n_leaves": 10, "max_window": 1024}]


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kw", DEFERRING, ids=["plain", "fences", "network", "network+fences"])
def test_deferred_wide_windows_exact_across_chunks(dtype, kw):
    """Every batch pipeline of an index that narrows (with fence leaves or without, with
    the network root or without) answers its wide-window queries in a pass of their
    own, chunk by chunk: exact for batches shorter than a chunk, of one chunk, across
    chunk ends, and for chunks with no wide window or only wide ones."""
    keys = step_keys(dtype)
    idx = build(keys, **kw)
    p = idx.model_
    assert p[rmi.H_NARROW] > 0
    assert rmi.has_fences(p) == ("max_window" in kw)
    assert rmi.has_network(p) == (kw["stages"][0] == "mlp")
    rng = np.random.default_rng(11)
    q = _coerce.frozen(np.concatenate([keys[rng.integers(0, keys.size, 30_000)],
                                       probe_queries(keys)]))
    win = np.empty((q.size, 3), dtype=np.int64)
    rmi.windows_many(idx.keys_, p, q, win, False)
    wide_q = wide.narrowed(win[:, 2] - win[:, 1], fences.keys_per_line(keys.itemsize))
    assert wide_q.any() and not wide_q.all()
    c = wide.DEFER_CHUNK
    batches = [q[:c - 1], q[:c], q[:c + 1], q[:3 * c + 7], q,
               _coerce.frozen(np.concatenate([q[~wide_q][:c], q[wide_q][:c], q[~wide_q][:c]]))]
    for b in batches:
        for right, side in ((False, "left"), (True, "right")):
            ref = np.searchsorted(keys, b, side=side)
            out = np.full(b.size, -1, dtype=np.int64)
            batch.bound_many(idx.keys_, p, b, out, right, idx._kind)
            assert np.array_equal(out, ref), (b.size, right)
