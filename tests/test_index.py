"""LearnedIndex against ``np.searchsorted``: properties on small arrays, seeded stress
tests on synthetic key sets, the model windows of ``search()``, and the API contract
(shapes, scalar types, parallel kernels, key ownership).

Same-dtype queries are compared with ``np.searchsorted(idx.keys, q)``; mixed-dtype
queries are covered in ``test_coerce.py``.
"""
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _data import (DATASETS, KEY_DTYPES, LEAF_FAMILIES, ROOT_FAMILIES, SEARCH_KINDS, WIDENED,
                   WINDOW_LEAVES, WINDOW_ROOTS, absent_queries, configs, dtype_extremes, key_arrays,
                   probe_queries, stress_queries, synthetic)
from learned_index import LearnedIndex, tune

HYP = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DT_IDS = [np.dtype(d).name for d in KEY_DTYPES]
MLP_FAST = {"mlp_hidden": (4,)}


def _mlp_kw(root, hidden=(4,)):
    return {"mlp_hidden": hidden} if root == "mlp" else {}


# --------------------------------------------------------------------------- helpers

def assert_same(got, want, q, what, idx):
    """Exact array equality (values and shape) with the offending queries in the message."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape} for {idx!r}"
    if not np.array_equal(got, want):
        bad = np.flatnonzero(got.ravel() != want.ravel())
        qs = np.asarray(q).ravel()
        detail = [(qs[i].item(), got.ravel()[i].item(), want.ravel()[i].item()) for i in bad[:6]]
        pytest.fail(f"{what}: {bad.size} wrong of {got.size} for {idx!r} "
                    f"(query, got, expected): {detail}; keys head {idx.keys[:8]!r}")


def ref_contains(keys, q, lb=None):
    lb = np.searchsorted(keys, q, side="left") if lb is None else lb
    n = keys.shape[0]
    if n == 0:
        return np.zeros(np.shape(q), dtype=bool)
    return (lb < n) & (keys[np.minimum(lb, n - 1)] == q)


def check_arrays(idx, q):
    """lower_bound / upper_bound / contains of an array of queries of the keys' dtype."""
    keys = idx.keys
    lb_ref = np.searchsorted(keys, q, side="left")
    ub_ref = np.searchsorted(keys, q, side="right")
    lb = idx.lower_bound(q)
    ub = idx.upper_bound(q)
    c = idx.contains(q)
    assert isinstance(lb, np.ndarray) and lb.dtype == np.int64
    assert isinstance(ub, np.ndarray) and ub.dtype == np.int64
    assert isinstance(c, np.ndarray) and c.dtype == np.bool_
    assert_same(lb, lb_ref, q, "lower_bound", idx)
    assert_same(ub, ub_ref, q, "upper_bound", idx)
    assert_same(c, ref_contains(keys, q, lb_ref), q, "contains", idx)
    return lb_ref, ub_ref


def check_scalars(idx, q, limit=24):
    """Scalar forms (numpy scalar of the key dtype and the Python number) of some queries."""
    keys = idx.keys
    q = np.asarray(q)
    if q.size == 0:
        return
    pick = np.unique(np.linspace(0, q.size - 1, min(limit, q.size)).astype(np.int64))
    for v in q[pick]:
        want_lb = int(np.searchsorted(keys, v, side="left"))
        want_ub = int(np.searchsorted(keys, v, side="right"))
        want_c = bool(want_ub > want_lb)
        for s in (v, v.item()):
            lb, ub, c = idx.lower_bound(s), idx.upper_bound(s), idx.contains(s)
            assert type(lb) is int and type(ub) is int and type(c) is bool, (type(lb), type(ub), type(c))
            assert (lb, ub, c) == (want_lb, want_ub, want_c), \
                f"scalar {s!r} ({type(s).__name__}): got {(lb, ub, c)}, want {(want_lb, want_ub, want_c)} for {idx!r}"


def check_ranges(idx, q, rng, pairs=24):
    keys = idx.keys
    q = np.asarray(q)
    if q.size == 0:
        return
    for i, j in rng.integers(0, q.size, size=(pairs, 2)):
        lo, hi = q[i], q[j]
        start, stop = idx.range(lo, hi)
        assert type(start) is int and type(stop) is int
        want_start = int(np.searchsorted(keys, lo, side="left"))
        want_stop = max(want_start, int(np.searchsorted(keys, hi, side="left")))
        assert (start, stop) == (want_start, want_stop), f"range({lo!r}, {hi!r}) of {idx!r}"
        sel = keys[(keys >= lo) & (keys < hi)]
        assert np.array_equal(keys[start:stop], sel)


def _window_misses(what, idx, q, miss, answer, lo, hi):
    if miss.any():
        i = np.flatnonzero(miss)[:6]
        detail = [(q[j].item(), int(answer[j]), int(lo[j]), int(hi[j])) for j in i]
        pytest.fail(f"{what}: {int(miss.sum())} of {q.size} queries of {idx!r} "
                    f"(query, exact answer, lo, hi): {detail}; keys head {idx.keys[:8]!r}")


def check_windows(idx, q, upper=True):
    """Every in-range query's exact answer lies in the model's window ``[lo, hi]``."""
    keys = idx.keys
    n = keys.shape[0]
    q = np.asarray(q)
    pos, lo, hi = idx.search(q)
    for a in (pos, lo, hi):
        assert isinstance(a, np.ndarray) and a.shape == q.shape and a.dtype == np.int64
    assert np.all((0 <= lo) & (lo <= hi) & (hi <= n)), f"malformed windows of {idx!r}"
    lb = np.searchsorted(keys, q, side="left")
    if n == 0:
        assert np.all(lo == 0) and np.all(hi == 0)
        return
    inside = (q > keys[0]) & (q <= keys[-1])
    _window_misses("lower bound outside the search() window", idx, q,
                   inside & ~((lo <= lb) & (lb <= hi)), lb, lo, hi)
    # out-of-range queries are answered by the range check: a zero-width window at the answer
    out = ~inside
    assert np.array_equal(lo[out], lb[out]) and np.array_equal(hi[out], lb[out])
    if upper:
        # upper_bound searches the same window (train.py: the bounds cover both answers)
        ub = np.searchsorted(keys, q, side="right")
        strict = (q > keys[0]) & (q < keys[-1])
        _window_misses("upper bound outside the search() window", idx, q,
                       strict & ~((lo <= ub) & (ub <= hi)), ub, lo, hi)


def build(keys, **kw):
    idx = LearnedIndex(keys, **kw)
    idx._check()
    return idx


# --------------------------------------------------------------------------- 1. properties

@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=100, **HYP)
@given(data=st.data())
def test_property_matches_searchsorted(dtype, data):
    keys = data.draw(key_arrays(dtype), label="keys")
    kw = data.draw(configs(), label="config")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    idx = build(keys, **kw)
    assert len(idx) == keys.size
    assert idx.keys.dtype == np.dtype(dtype)
    assert np.array_equal(idx.keys, np.sort(keys))
    q = probe_queries(idx.keys, seed)
    check_arrays(idx, q)
    check_scalars(idx, q)
    check_ranges(idx, q, np.random.default_rng(seed))


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=60, **HYP)
@given(data=st.data())
def test_property_search_window_holds_answer(dtype, data):
    keys = data.draw(key_arrays(dtype), label="keys")
    kw = data.draw(configs(roots=WINDOW_ROOTS, leaves=WINDOW_LEAVES), label="config")
    idx = build(keys, **kw)
    q = probe_queries(idx.keys, data.draw(st.integers(0, 2**16), label="seed"))
    check_windows(idx, q)
    check_arrays(idx, q)


@pytest.mark.parametrize("small, wide", list(WIDENED.items()), ids=lambda d: np.dtype(d).name)
@settings(max_examples=15, **HYP)
@given(data=st.data())
def test_property_widened_key_dtypes(small, wide, data):
    info = np.finfo(small) if np.dtype(small).kind == "f" else np.iinfo(small)
    if np.dtype(small).kind == "f":
        elems = st.floats(allow_nan=False, width=np.finfo(small).bits)
    else:
        elems = st.integers(int(info.min), int(info.max))
    keys = np.array(data.draw(st.lists(elems, max_size=60)), dtype=small)
    idx = build(keys, **data.draw(configs(roots=("linear", "cubic", "radix"))))
    assert idx.keys.dtype == np.dtype(wide)
    assert np.array_equal(idx.keys, np.sort(keys).astype(wide))
    q = probe_queries(idx.keys)
    check_arrays(idx, q)
    # queries of the narrow dtype itself
    qs = keys if keys.size else np.zeros(1, small)
    assert_same(idx.lower_bound(qs), np.searchsorted(idx.keys, qs.astype(wide)), qs, "lower(narrow)", idx)


# --------------------------------------------------------------------------- edge cases

@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_empty_keys(dtype):
    keys = np.zeros(0, dtype=dtype)
    for kw in ({}, {"stages": ("cubic", "linear"), "n_leaves": 3}, {"stages": ("mlp", "linear")}):
        idx = build(keys, **kw)
        assert len(idx) == 0 and idx.keys.dtype == np.dtype(dtype)
        q = np.array(dtype_extremes(dtype), dtype=dtype)
        check_arrays(idx, q)
        check_scalars(idx, q)
        assert idx.range(q[0], q[-1]) == (0, 0)
        assert idx.search(q[1]) == (0, 0, 0)
        pos, lo, hi = idx.search(q)
        assert not pos.any() and not lo.any() and not hi.any()
        assert isinstance(idx.nbytes, int) and idx.nbytes >= 0
        s = idx.stats()
        assert s["n_keys"] == 0 and s["max_error"] == 0


def test_empty_list_keys():
    idx = build([])
    assert len(idx) == 0
    assert idx.lower_bound(3) == 0 and idx.upper_bound(-1.5) == 0 and idx.contains(0) is False


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("root", ROOT_FAMILIES)
def test_one_key_and_one_value(dtype, root):
    ext = dtype_extremes(dtype)
    for v in ext[:3] + ext[len(ext) // 2 - 1:len(ext) // 2 + 1] + ext[-3:]:
        for n in (1, 257):
            keys = np.full(n, v, dtype=dtype)
            for leaf in LEAF_FAMILIES:
                idx = build(keys, stages=(root, leaf), n_leaves=2, **_mlp_kw(root, (2,)))
                q = np.array(dtype_extremes(dtype), dtype=dtype)
                check_arrays(idx, q)
                if root in WINDOW_ROOTS and leaf in WINDOW_LEAVES:
                    check_windows(idx, q)
        check_scalars(idx, q, limit=6)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("root", ROOT_FAMILIES)
def test_all_extremes(dtype, root):
    """Every interesting value of the dtype as a key, each repeated a few times."""
    vals = np.array(dtype_extremes(dtype), dtype=dtype)
    keys = np.repeat(vals, np.arange(vals.size) % 3 + 1)
    for three in (False, True):
        for n_leaves in (1, 2, 3, 5, 64):
            stages = (root, "linear", "linear") if three else (root, "linear_spline")
            idx = build(keys, stages=stages, n_leaves=n_leaves, **_mlp_kw(root))
            q = probe_queries(idx.keys)
            check_arrays(idx, q)
            if root in WINDOW_ROOTS:
                check_windows(idx, q)


def test_build_terminates_on_tiny_float_gaps():
    """Keys closer than float32 resolution (gaps below ~1e-38) inside one leaf.

    Run in a child process: a build that never returns must fail this test, not hang the run.
    """
    code = textwrap.dedent("""
        import numpy as np
        from learned_index import LearnedIndex
        cases = [([0.0, 1e-136, 1.0], ("linear", "linear"), 2),
                 ([0.0, 1e-300, 1.0], ("linear_spline", "linear_spline"), 3),
                 ([-10.0, -1e-136, 0.0, 1.0], ("linear", "linear"), 4),
                 ([0.0, 5e-324, 1e-323, 1.0, 2.0], ("radix", "linear"), 3),
                 ([-1.0, 0.0, 1e-320, 3e-320, 1.0], ("linear", "cubic"), 3),
                 ([1.0, 1.0 + 2**-52, 2.0, 1e-40], ("linear", "linear", "linear"), 4)]
        for keys, stages, n_leaves in cases:
            k = np.sort(np.array(keys))
            idx = LearnedIndex(k, stages=stages, n_leaves=n_leaves)
            idx._check()
            q = np.concatenate([k, np.nextafter(k, np.inf), np.nextafter(k, -np.inf)])
            assert (idx.lower_bound(q) == np.searchsorted(k, q)).all(), (keys, stages)
            assert (idx.upper_bound(q) == np.searchsorted(k, q, "right")).all(), (keys, stages)
        print("built all")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("LearnedIndex(np.array([0.0, 1e-136, 1.0]), stages=('linear', 'linear'), "
                    "n_leaves=2) and friends did not finish building within 60 s")
    assert r.returncode == 0 and "built all" in r.stdout, r.stderr[-3000:]


def test_mlp_root_float_keys_with_infinities_and_huge_range():
    """An mlp root over float keys whose offsets overflow (inf keys, +-1e308) still builds."""
    for keys in ([np.inf], [-np.inf], [-np.inf, 0.0, 1.0], [0.0, 1.0, np.inf], [-1e308, 1e308],
                 [-1e308, -1.0, 0.0, 2.0, 1e308], [-np.inf, -1e300, 5.0, 1e300, np.inf, np.inf]):
        k = np.array(keys)
        for hidden in ((), (4,), (2, 2)):
            idx = build(k, stages=("mlp", "linear"), n_leaves=3, mlp_hidden=hidden)
            q = probe_queries(idx.keys)
            check_arrays(idx, q)
            check_windows(idx, q)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_more_leaves_than_keys(dtype):
    keys = np.array(dtype_extremes(dtype)[:7], dtype=dtype)
    for stages in (("linear", "linear"), ("radix", "cubic"), ("linear", "cubic", "linear_spline")):
        idx = build(keys, stages=stages, n_leaves=1000, n_mid=40 if len(stages) == 3 else None)
        assert idx.stats()["empty_leaves"] >= 1000 - keys.size
        q = probe_queries(idx.keys)
        check_arrays(idx, q)
        check_scalars(idx, q)


@pytest.mark.parametrize("search", SEARCH_KINDS)
@pytest.mark.parametrize("stages", [(r, l) for r in ROOT_FAMILIES for l in LEAF_FAMILIES]
                         + [(r, m, l) for r in ("linear", "cubic", "radix") for m in LEAF_FAMILIES
                            for l in LEAF_FAMILIES], ids=lambda s: "-".join(s))
def test_every_stage_combination(stages, search):
    """Each root x middle x leaf on a skewed set with duplicates, every search kind."""
    rng = np.random.default_rng(len(stages) * 100 + ROOT_FAMILIES.index(stages[0]))
    keys = np.sort((rng.lognormal(0, 2, 3000) * 1e6).astype(np.int64) - 10**6)
    keys[100:400] = keys[100]
    for n_leaves in (1, 3, 40):
        idx = build(keys, stages=stages, n_leaves=n_leaves, search=search, **_mlp_kw(stages[0]))
        q = np.concatenate([keys, absent_queries(keys)])
        check_arrays(idx, q)
        if stages[0] in WINDOW_ROOTS and set(stages[1:]) <= set(WINDOW_LEAVES):
            check_windows(idx, q)


# --------------------------------------------------------------------------- 3. stress

STRESS_N = 20_000     # unmarked: every data set x root x search kind
MID_N = 10**5         # slow: 10^5 keys
BIG_N = 10**6         # slow: 10^6 keys
LINEAR_WORK = 2 * 10**7


def _affordable(q, idx, search):
    """All queries, except for linear scans of wide windows: an even sample (ends included)."""
    if search != "linear":
        return q
    m = max(3000, LINEAR_WORK // (idx.stats()["max_error"] + 1))
    if m >= q.size:
        return q
    return q[np.unique(np.linspace(0, q.size - 1, m).astype(np.int64))]


def _stress(name, n, windows=False, **kw):
    keys = synthetic(name, n)
    idx = LearnedIndex(keys, **kw)
    assert np.shares_memory(idx.keys, keys)
    idx._check()
    q = _affordable(stress_queries(name, n), idx, kw.get("search"))
    check_arrays(idx, q)
    if windows:
        # a fence leaf's window is chosen for the bound asked for, so only indexes
        # without fence leaves share one window between both bounds
        check_windows(idx, q, upper=idx.stats()["fence_leaves"] == 0)
    return idx, q


@pytest.mark.parametrize("search", SEARCH_KINDS)
@pytest.mark.parametrize("root", ROOT_FAMILIES)
@pytest.mark.parametrize("name", DATASETS)
def test_stress_root_x_search(name, root, search):
    _stress(name, STRESS_N, stages=(root, "linear"), search=search, **_mlp_kw(root))


STAGE_SHAPES = [("linear_spline",), ("cubic",), ("linear", "linear"), ("cubic", "linear_spline"),
                ("linear_spline", "cubic")]


@pytest.mark.parametrize("root", ROOT_FAMILIES)
@pytest.mark.parametrize("name", ["lognormal", "duplicates", "above_2_53_gaps", "int64_full",
                                  "float_wide", "clustered", "int32_mixed"])
def test_stress_stage_shapes(name, root):
    for i, tail in enumerate(STAGE_SHAPES if root != "mlp" else STAGE_SHAPES[1::2]):
        search = SEARCH_KINDS[i % 3]
        idx, q = _stress(name, STRESS_N, stages=(root,) + tail, search=search, **_mlp_kw(root, (2,)))
        assert idx.stats()["stages"] == (root,) + tail


@pytest.mark.parametrize("root", ROOT_FAMILIES)
@pytest.mark.parametrize("name", DATASETS)
def test_stress_tiny_configurations(name, root):
    """1, 2, 3 leaves (and 1-2 middle models): huge windows, every boundary case."""
    for n_leaves in (1, 2, 3):
        for n_mid in (None, 1, 2) if root != "mlp" else (None, n_leaves % 2 + 1):
            stages = (root, "linear") if n_mid is None else (root, "linear_spline", "linear")
            search = SEARCH_KINDS[(n_leaves + (n_mid or 0)) % 4]
            _stress(name, 5000, windows=root in WINDOW_ROOTS, stages=stages, n_leaves=n_leaves,
                    n_mid=n_mid, search=search, **_mlp_kw(root, (2,)))


@pytest.mark.parametrize("name", DATASETS)
def test_stress_finest_grid(name):
    """The tuner's finest configurations: one leaf per 4 keys, as many middle records
    as half the leaves, with and without fence leaves, 2 and 3 stages."""
    n_leaves = STRESS_N // tune.MIN_LEAF_KEYS
    for stages, n_mid, max_window in ((("cubic", "linear", "linear"), n_leaves // 2, None),
                                      (("linear", "linear", "linear"), n_leaves // 2, 16),
                                      (("radix", "linear"), None, 64)):
        idx, _ = _stress(name, STRESS_N, windows=True, stages=stages, n_leaves=n_leaves,
                         n_mid=n_mid, max_window=max_window)
        assert idx.stats()["n_leaves"] == n_leaves


@pytest.mark.parametrize("name", ["uniform_dense", "lognormal", "duplicates", "int64_full",
                                  "float_lognormal", "uint32_dense"])
def test_stress_default_config(name):
    """The default index configures itself (the cost model's choice) and is exact."""
    idx, q = _stress(name, STRESS_N, windows=True)
    s = idx.stats()
    cfg = tune.auto_config(idx.keys)
    assert STRESS_N >= tune.MIN_TUNE and s["auto"]
    assert (s["stages"], s["n_leaves"], s["max_window"]) == \
        (cfg["stages"], cfg["n_leaves"], cfg["max_window"])
    assert s["nbytes"] <= tune.DEFAULT_MAX_BYTES


def test_small_and_configured_indexes_use_the_fixed_defaults():
    keys = synthetic("lognormal", tune.MIN_TUNE - 1)
    s = LearnedIndex(keys).stats()
    assert not s["auto"] and s["stages"] == ("linear", "linear", "linear")
    assert s["n_leaves"] == (tune.MIN_TUNE - 1) // tune.MIN_LEAF_KEYS
    assert s["n_mid"] == s["n_leaves"] // 2 and s["max_window"] is None
    big = synthetic("lognormal", 4 * tune.MIN_TUNE)
    s = LearnedIndex(big, search="linear").stats()          # search alone keeps auto stages
    assert s["auto"] and s["search"] == "linear"
    s = LearnedIndex(big, n_leaves=100).stats()
    assert not s["auto"] and s["stages"] == ("linear", "linear", "linear") and s["n_leaves"] == 100


def test_model_quality_on_easy_data():
    """Not only exact but useful: near-linear keys give small windows."""
    keys = synthetic("uniform_dense", STRESS_N)
    for stages in (("linear", "linear"), ("radix", "linear"), ("linear", "linear", "linear")):
        s = LearnedIndex(keys, stages=stages).stats()
        assert s["max_error"] <= 64, (stages, s)
        assert s["mean_log2_error"] <= 6, (stages, s)


# 10^6 keys: every data set with three of the seven roots (each root sees 6-7 data sets),
# search kinds and 2/3 stages rotating
MILLION = [(name, ROOT_FAMILIES[(i + j) % len(ROOT_FAMILIES)])
           for i, name in enumerate(DATASETS) for j in (0, 2, 4)]


@pytest.mark.slow
@pytest.mark.parametrize("name, root", MILLION, ids=[f"{n}-{r}" for n, r in MILLION])
def test_stress_million_keys(name, root):
    i, r = DATASETS.index(name), ROOT_FAMILIES.index(root)
    search = SEARCH_KINDS[(i // 2 + r) % 4]      # every root meets every search kind
    stages = (root, "linear") if (i + r) % 3 else (root, "linear", "linear")
    _stress(name, BIG_N, windows=root in WINDOW_ROOTS, stages=stages, search=search,
            n_leaves=2**16, **_mlp_kw(root, (8,)))


@pytest.mark.slow
@pytest.mark.parametrize("root", ROOT_FAMILIES)
@pytest.mark.parametrize("name", ["lognormal", "above_2_53", "float_wide"])
def test_stress_1e5_root_x_search(name, root):
    for search in SEARCH_KINDS:
        _stress(name, MID_N, stages=(root, "linear_spline"), search=search, **_mlp_kw(root))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lognormal", "int64_full", "float_normal"])
def test_stress_million_keys_cubic_and_default_configs(name):
    _stress(name, BIG_N)                                           # default config
    _stress(name, BIG_N, stages=("cubic", "cubic"), search="branchless")
    _stress(name, BIG_N, stages=("cubic", "cubic", "cubic"), search="exponential")
    _stress(name, BIG_N, windows=True, stages=("mlp", "linear_spline"))   # default mlp (16,)


# --------------------------------------------------------------------------- 4. search() windows

WINDOW_TAILS = [("linear",), ("linear_spline",), ("linear", "linear"), ("linear_spline", "linear"),
                ("linear", "linear_spline")]


@pytest.mark.parametrize("root", WINDOW_ROOTS)
@pytest.mark.parametrize("name", DATASETS)
def test_search_window_contains_answer(name, root):
    """The error bounds themselves: no in-range query may need the fallback."""
    keys = synthetic(name, STRESS_N)
    q = stress_queries(name, STRESS_N)
    mlp = root == "mlp"     # an mlp root trains for a while: fewer variations
    for tail in WINDOW_TAILS if not mlp else WINDOW_TAILS[::3]:
        idx = LearnedIndex(keys, stages=(root,) + tail, **_mlp_kw(root, (2,)))
        check_windows(idx, q)
    for n_leaves in (7, 2000, 40_000) if not mlp else (2000,):
        idx = LearnedIndex(keys, stages=(root, "linear", "linear_spline"), n_leaves=n_leaves,
                           n_mid=max(1, n_leaves // 100), **_mlp_kw(root, (2,)))
        check_windows(idx, q)


def test_search_scalar_and_shapes():
    keys = synthetic("lognormal", 10_000)
    idx = LearnedIndex(keys, stages=("linear", "linear"))
    q = keys[1234] + np.uint64(1)
    pos, lo, hi = idx.search(q)
    assert all(type(v) is int for v in (pos, lo, hi))
    assert lo <= np.searchsorted(keys, q) <= hi
    assert idx.search(keys[0] - np.uint64(0)) == (0, 0, 0)
    assert idx.search(2**64 - 1) == (len(keys),) * 3
    grid = keys[:24].reshape(2, 3, 4)
    pos, lo, hi = idx.search(grid)
    assert pos.shape == lo.shape == hi.shape == (2, 3, 4)
    assert np.all((lo <= np.searchsorted(keys, grid)) & (np.searchsorted(keys, grid) <= hi))


# --------------------------------------------------------------------------- 6. API contract

@pytest.mark.parametrize("name", ["uniform_sparse", "duplicates", "int64_full", "float_wide",
                                  "int32_mixed"])
@pytest.mark.parametrize("search", SEARCH_KINDS)
def test_parallel_identical(name, search):
    keys = synthetic(name, 50_000)
    seq = LearnedIndex(keys, stages=("linear", "linear"), search=search)
    par = LearnedIndex(keys, stages=("linear", "linear"), search=search, parallel=True)
    q = _affordable(stress_queries(name, 50_000), seq, search)
    for method in ("lower_bound", "upper_bound", "contains"):
        a = getattr(seq, method)(q)
        b = getattr(par, method)(q)
        assert a.dtype == b.dtype
        assert_same(b, a, q, f"parallel {method}", par)
    check_arrays(par, q)
    check_scalars(par, q)
    grid = q[:60].reshape(3, 4, 5)
    assert_same(par.lower_bound(grid), np.searchsorted(keys, grid), grid, "parallel 3-d", par)
    assert par.lower_bound(q[:0]).shape == (0,)
    # queries of another dtype take the same kernels after coercion
    f = q[:5000].astype(np.float64) + 0.5
    assert_same(par.lower_bound(f), seq.lower_bound(f), f, "parallel float lower_bound", par)
    assert_same(par.upper_bound(f), seq.upper_bound(f), f, "parallel float upper_bound", par)


def test_nd_queries_keep_shape():
    keys = synthetic("clustered", 5000)
    idx = LearnedIndex(keys)
    q = stress_queries("clustered", 5000)[:120]
    for shape in [(120,), (2, 60), (2, 3, 4, 5), (120, 1), (1, 120)]:
        g = q.reshape(shape)
        for method, side in (("lower_bound", "left"), ("upper_bound", "right")):
            r = getattr(idx, method)(g)
            assert r.shape == shape and r.dtype == np.int64
            assert_same(r, np.searchsorted(keys, g, side=side), g, method, idx)
        c = idx.contains(g)
        assert c.shape == shape and c.dtype == np.bool_
        assert_same(c, ref_contains(keys, g), g, "contains", idx)
    for empty in (np.zeros(0, np.uint64), np.zeros((0, 3), np.uint64), np.zeros((2, 0), np.uint64)):
        assert idx.lower_bound(empty).shape == empty.shape
        assert idx.contains(empty).shape == empty.shape
    # Fortran-ordered, strided, byte-swapped and list queries
    g = np.asfortranarray(q.reshape(10, 12))
    assert_same(idx.lower_bound(g), np.searchsorted(keys, g), g, "fortran", idx)
    s = q[::3]
    assert_same(idx.upper_bound(s), np.searchsorted(keys, s, side="right"), s, "strided", idx)
    b = q.astype(q.dtype.newbyteorder(">"))
    assert_same(idx.lower_bound(b), np.searchsorted(keys, q), q, "big-endian queries", idx)
    assert_same(idx.contains(b), ref_contains(keys, q), q, "big-endian contains", idx)
    lst = [[int(v) for v in q[:5]], [int(v) for v in q[5:10]]]
    assert_same(idx.lower_bound(lst), np.searchsorted(keys, q[:10]).reshape(2, 5), q[:10], "list", idx)
    assert idx.lower_bound(tuple(int(v) for v in q[:3])).shape == (3,)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_scalar_return_types(dtype):
    keys = np.array([v for v in dtype_extremes(dtype) if v == v], dtype=dtype)
    idx = LearnedIndex(keys, n_leaves=3)
    for v in list(keys) + [k.item() for k in keys]:
        for r in (idx.lower_bound(v), idx.upper_bound(v), idx.range(v, v)[0], idx.range(v, v)[1]):
            assert type(r) is int
        assert idx.contains(v) is True
    assert idx.contains(keys.dtype.type(5) if keys.dtype.kind != "f" else 0.25) is False
    assert type(idx.lower_bound(np.int8(3))) is int and type(idx.contains(np.float32(2.5))) is bool


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_zero_dim_array_query(dtype):
    """A 0-d array is array_like: answered like the scalar it holds (as searchsorted does)."""
    keys = np.array([1, 3, 3, 7], dtype=dtype)
    idx = LearnedIndex(keys)
    for v in (0, 3, 5, 9):
        q = np.array(v, dtype=dtype)
        lb, ub, c = idx.lower_bound(q), idx.upper_bound(q), idx.contains(q)
        assert np.ndim(lb) == 0 and np.ndim(ub) == 0 and np.ndim(c) == 0
        assert int(lb) == np.searchsorted(keys, q, side="left")
        assert int(ub) == np.searchsorted(keys, q, side="right")
        assert bool(c) == (v in (1, 3, 7))


def test_range_semantics():
    keys = np.array([2, 4, 4, 4, 9, 15], dtype=np.int64)
    idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=2)
    assert idx.range(4, 5) == (1, 4)
    assert idx.range(4, 4) == (1, 1)          # empty interval
    assert idx.range(10, 3) == (5, 5)         # reversed interval: start == stop
    assert idx.range(-100, 100) == (0, 6)
    assert idx.range(3, 15) == (1, 5)         # hi is exclusive
    assert idx.range(3, 16) == (1, 6)
    for lo, hi in [(-5, 2), (15, 16), (16, 20)]:
        s, e = idx.range(lo, hi)
        assert list(keys[s:e]) == [k for k in keys if lo <= k < hi]


def test_len_nbytes_repr_stats():
    keys = synthetic("lognormal", 20_000)
    for kw in ({}, {"stages": ("radix", "cubic"), "n_leaves": 100, "search": "linear"},
               {"stages": ("mlp", "linear", "linear_spline"), "n_leaves": 50, "n_mid": 5, **MLP_FAST}):
        idx = LearnedIndex(keys, **kw)
        assert len(idx) == 20_000
        assert isinstance(idx.nbytes, int) and idx.nbytes > 0
        assert "LearnedIndex" in repr(idx)
        s = idx.stats()
        for k in ("stages", "n_leaves", "mean_error", "max_error", "mean_log2_error",
                  "empty_leaves", "build_seconds"):
            assert k in s, k
        auto = tune.auto_config(keys) if not kw else {}
        assert s["auto"] == (not kw)
        assert s["stages"] == tuple(kw.get("stages", auto.get("stages")))
        assert s["n_leaves"] == kw.get("n_leaves", auto.get("n_leaves"))
        assert 0 <= s["empty_leaves"] <= s["n_leaves"]
        assert 0 <= s["mean_error"] <= s["max_error"]
        assert 0 <= s["mean_log2_error"] <= np.log2(s["max_error"] + 1) + 1e-9
        assert s["build_seconds"] >= 0
        # windows reported by search() are never wider than max_error
        pos, lo, hi = idx.search(keys)
        assert (hi - lo).max() <= s["max_error"]


def test_nbytes_grows_with_leaves():
    keys = synthetic("uniform_dense", 20_000)
    small = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=10).nbytes
    big = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=1000).nbytes
    assert big > small


# --------------------------------------------------------------------------- 7. key ownership

@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_sorted_input_is_not_copied_and_read_only(dtype):
    keys = np.sort(np.array(dtype_extremes(dtype), dtype=dtype))
    idx = LearnedIndex(keys)
    assert np.shares_memory(idx.keys, keys)
    assert not idx.keys.flags.writeable
    with pytest.raises(ValueError):
        idx.keys[0] = idx.keys[1]
    assert keys.flags.writeable, "the caller's array must stay writeable"
    assert idx.keys.flags.c_contiguous


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_unsorted_input_sorted_into_copy(dtype):
    rng = np.random.default_rng(7)
    keys = rng.permutation(np.array(dtype_extremes(dtype) * 3, dtype=dtype))
    before = keys.copy()
    idx = LearnedIndex(keys)
    assert np.array_equal(keys, before), "input must not be modified"
    assert not np.shares_memory(idx.keys, keys)
    assert np.array_equal(idx.keys, np.sort(before))
    assert not idx.keys.flags.writeable
    with pytest.raises(ValueError):
        idx.keys[:] = 0
    check_arrays(idx, probe_queries(idx.keys))


def test_non_contiguous_and_list_input():
    base = np.arange(0, 2000, dtype=np.int64)
    strided = base[::2]
    idx = LearnedIndex(strided)
    assert np.array_equal(idx.keys, strided) and idx.keys.flags.c_contiguous
    check_arrays(idx, np.arange(-3, 2003, dtype=np.int64))
    base[0] = -99        # the index must not see later changes of a copied input
    assert idx.keys[0] == 0
    idx = LearnedIndex([5, 1, 3, 3])
    assert idx.keys.dtype.kind in "iu" and list(idx.keys) == [1, 3, 3, 5]
    idx = LearnedIndex([0.5, -1.0])
    assert idx.keys.dtype == np.float64 and idx.lower_bound(0.0) == 1


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_big_endian_keys(dtype):
    """Non-native byte order is still the documented dtype: accepted and answered exactly."""
    native = np.array(sorted(set(dtype_extremes(dtype))), dtype=dtype)
    swapped = native.astype(native.dtype.newbyteorder("S"))
    idx = LearnedIndex(swapped)
    assert np.array_equal(idx.keys, native)
    check_arrays(idx, probe_queries(native))


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_scalar_fronts_match_general_path(dtype):
    """The per-instance scalar fronts answer exactly like the class methods' general path."""
    keys = np.array(dtype_extremes(dtype), dtype=dtype)
    idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=3)
    scalars = [v.item() for v in probe_queries(idx.keys)] + list(probe_queries(idx.keys)[:20])
    scalars += [-1, 2**31, 2**32 + 5, 2**63, 2**64 - 1, 2**64, -2**63 - 1, 3.5, -0.5,
                np.int8(3), np.uint64(7), np.float32(2.5)]
    for q in scalars:
        for name in ("lower_bound", "upper_bound", "contains"):
            fast = getattr(idx, name)(q)
            slow = getattr(LearnedIndex, name)(idx, q)
            assert fast == slow and type(fast) is type(slow), (name, q, fast, slow)
    with pytest.raises(ValueError):
        idx.lower_bound(float("nan"))
    for bad in ("7", True, None):
        with pytest.raises(TypeError):
            idx.contains(bad)


def test_scalar_front_outlives_its_index():
    """A bound front keeps the arrays it reads alive after the index object is gone."""
    keys = np.arange(0, 30_000, 3, dtype=np.uint64)
    lower = LearnedIndex(keys.copy()).lower_bound
    gc.collect()
    junk = [np.full(10_000, 2**63, dtype=np.uint64) for _ in range(50)]   # reuse freed memory
    assert [lower(q) for q in (0, 299, 300, 30_000, -1)] == [0, 100, 100, 10_000, 0], len(junk)
