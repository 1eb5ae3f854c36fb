"""Queries of another type than the keys, and input validation.

A lower bound of ``q`` must count the keys ``< q`` and an upper bound the keys
``<= q`` in exact arithmetic, whatever the types (see ``learned_index/_coerce.py``).
The reference is computed with Python's exact ``int``/``float`` comparisons.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _data import (ALL_NUMERIC, KEY_DTYPES, WINDOW_LEAVES, WINDOW_ROOTS, configs, dtype_extremes, exact,
                   key_arrays, ref_counts)
from learned_index import LearnedIndex

HYP = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DT_IDS = [np.dtype(d).name for d in KEY_DTYPES]


def check_exact(idx, queries, form="scalar"):
    """Compare every public lookup with the exact reference, for scalars or an array."""
    keys = idx.keys
    refs = ref_counts(keys, queries)
    if form == "scalar":
        for q, (lt, le, has) in zip(queries, refs):
            got = (idx.lower_bound(q), idx.upper_bound(q), idx.contains(q))
            assert got == (lt, le, has), \
                f"q={q!r} ({type(q).__name__}) keys={keys!r}: got {got}, want {(lt, le, has)}"
            assert type(got[0]) is int and type(got[1]) is int and type(got[2]) is bool
            assert idx.range(q, q) == (lt, lt)
    else:
        arr = queries
        lt = np.array([r[0] for r in refs], dtype=np.int64)
        le = np.array([r[1] for r in refs], dtype=np.int64)
        has = np.array([r[2] for r in refs], dtype=bool)
        for name, got, want in (("lower_bound", idx.lower_bound(arr), lt),
                                ("upper_bound", idx.upper_bound(arr), le),
                                ("contains", idx.contains(arr), has)):
            bad = np.flatnonzero(np.asarray(got).ravel() != want)
            assert bad.size == 0, (f"{name} of {arr.dtype} queries vs {keys.dtype} keys: (q, got, want) "
                                   f"{[(arr[i].item(), got[i].item(), want[i].item()) for i in bad[:5]]}"
                                   f" keys={keys!r}")
        # the model's window holds the exact lower bound (out-of-range queries: lo == hi == answer)
        stages = idx.stats()["stages"]
        if stages[0] in WINDOW_ROOTS and set(stages[1:]) <= set(WINDOW_LEAVES):
            pos, lo, hi = idx.search(arr)
            bad = np.flatnonzero(~((lo <= lt) & (lt <= hi)))
            assert bad.size == 0, (f"search() window misses the exact lower bound of {arr.dtype} "
                                   f"queries {[arr[i].item() for i in bad[:5]]} keys={keys!r}")


# --------------------------------------------------------------------------- documented examples

@pytest.mark.parametrize("root", ["linear", "cubic", "radix", "mlp"])
def test_documented_examples_uint64(root):
    keys = np.array([0, 3, 5, 5, 9, 12, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    idx = LearnedIndex(keys, stages=(root, "linear"), n_leaves=3, mlp_hidden=(4,))
    n = len(keys)
    assert idx.lower_bound(-1) == 0 and idx.upper_bound(-1) == 0 and idx.contains(-1) is False
    assert idx.lower_bound(-2**63) == 0 and idx.upper_bound(-2**200) == 0
    assert idx.lower_bound(3.5) == 2 and idx.upper_bound(3.5) == 2 and idx.contains(3.5) is False
    assert idx.lower_bound(5.0) == 2 and idx.upper_bound(5.0) == 4 and idx.contains(5.0) is True
    assert idx.lower_bound(-0.5) == 0 and idx.upper_bound(-0.5) == 0 and idx.upper_bound(0.5) == 1
    assert idx.lower_bound(float("inf")) == n and idx.upper_bound(float("-inf")) == 0
    assert idx.lower_bound(2.0**64) == n and idx.upper_bound(2.0**63) == 7
    # 2**64 is above every uint64 key (documented in LearnedIndex's notes)
    assert idx.lower_bound(2**64) == n
    assert idx.upper_bound(2**64) == n
    assert idx.contains(2**64) is False
    assert idx.lower_bound(2**100) == n


def test_documented_examples_int_keys_and_halves():
    keys = np.array([-7, -3, 0, 3, 4, 4, 10], dtype=np.int64)
    idx = LearnedIndex(keys, stages=("linear", "linear"))
    check_exact(idx, [3.5, -3.5, -2.5, 4.0, 4.5, 9.999, 10.0000001, -7.5, -6.9, 0.0, -0.0,
                      np.float32(3.5), np.float16(-3.5), Fraction(7, 2).__float__()])
    assert idx.lower_bound(3.5) == 4 and idx.upper_bound(3.5) == 4   # behaves as 4 / as 3
    assert idx.range(-3.5, 3.5) == (1, 4)
    assert idx.range(-3.0, 4.0) == (1, 4)


def test_int_queries_above_2_53_against_float_keys():
    b = 2**53
    keys = np.array([float(b), float(b + 2), float(b + 4), 2.0**63, 2.0**64, 1e300], dtype=np.float64)
    idx = LearnedIndex(keys, stages=("linear", "linear"), n_leaves=2)
    qs = [b - 1, b, b + 1, b + 2, b + 3, b + 5, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1,
          np.int64(b + 1), np.uint64(b + 3), np.int64(2**63 - 1), np.uint64(2**64 - 1)]
    check_exact(idx, qs)
    assert idx.lower_bound(b + 1) == 1 and idx.upper_bound(b + 1) == 1 and idx.contains(b + 1) is False
    assert idx.contains(b + 2) is True
    arr = np.array([b - 1, b + 1, b + 3, 2**62 + 1, 2**63 - 1], dtype=np.int64)
    check_exact(idx, arr, form="array")
    arr = np.array([b + 1, 2**63 + 1, 2**64 - 1, 2**64 - 2049], dtype=np.uint64)
    check_exact(idx, arr, form="array")


def test_python_ints_beyond_64_bits():
    """Python ints of any size are exact queries (the index must not give up on them)."""
    for dtype in KEY_DTYPES:
        keys = np.array(sorted(set(dtype_extremes(dtype))), dtype=dtype)
        idx = LearnedIndex(keys)
        check_exact(idx, [2**64, 2**64 + 1, 2**100, -2**63 - 1, -2**64, -2**100, 10**400, -10**400])


#: Python lists that numpy turns into float64 (ints on both sides of 2**63), object (ints
#: beyond 64 bits), or float64 next to ints above 2**53: no single dtype holds them exactly
LOSSY_LISTS = [
    [2**64 - 1, 0], [2**64 - 2, 2**64 - 1, -1, 2**63], [2**63 + 1, -2**63, 2**63 - 1],
    [2**64, 1, -2**64, 2**64 - 1], [10**400, -10**400, 2**63], [0.5, 2**60 + 1, 2**53 + 1],
    [np.uint64(2**64 - 1), -1, 2.5, np.float32(0.5), np.int64(-2**63), 2**64 + 1],
    [2**53 + 1, 2**53 - 1, -(2**53 + 1), 1.0, 2**63 + 2**11 + 1, 2**64 - 2**11 - 1]]


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_python_lists_no_dtype_holds_are_exact(dtype):
    """A list of queries is exact element by element, even where ``np.asarray`` of it
    would round (float64) or give up (object)."""
    keys = np.array(sorted(set(dtype_extremes(dtype))), dtype=dtype)
    idx = LearnedIndex(keys)
    for qs in LOSSY_LISTS + [q + [k.item() for k in keys] for q in LOSSY_LISTS[:2]]:
        refs = ref_counts(keys, qs)
        for name, got in (("lower_bound", idx.lower_bound(qs)), ("upper_bound", idx.upper_bound(qs)),
                          ("contains", idx.contains(qs)), ("tuple", idx.lower_bound(tuple(qs)))):
            want = [r[2] if name == "contains" else r[1 if name == "upper_bound" else 0] for r in refs]
            assert got.tolist() == want, (name, qs, got.tolist(), want)
        grid = [qs[:2], qs[:2]]                                  # shape kept
        assert idx.upper_bound(grid).tolist() == [[r[1] for r in refs[:2]]] * 2


def test_python_lists_bad_elements_raise():
    idx = LearnedIndex(np.array([0, 5, 2**64 - 1], dtype=np.uint64))
    for method in (idx.lower_bound, idx.upper_bound, idx.contains):
        with pytest.raises(TypeError, match="bool"):
            method([2**64 - 1, -1, True])
        with pytest.raises(TypeError, match="NoneType"):
            method([2**70, None])
        with pytest.raises(ValueError, match="(?i)nan"):
            method([2**64 - 1, float("nan"), -1])


def test_python_list_keys_exact_or_refused():
    """Keys from a list: ints of 2**63 and above next to smaller ones become uint64 (numpy
    alone would round them to float64); keys that no key dtype holds raise ValueError."""
    vals = [2**64 - 1, 0, 2**63, 5, 2**64 - 2]
    idx = LearnedIndex(vals)
    assert idx.keys.dtype == np.uint64 and idx.keys.tolist() == sorted(vals)
    assert idx.lower_bound(2**64 - 2) == 3 and idx.contains(2**64 - 1)
    assert LearnedIndex(tuple(vals)).keys.tolist() == sorted(vals)
    assert LearnedIndex([3, -2, 7]).keys.dtype == np.int64
    assert LearnedIndex([1.5, 2]).keys.dtype == np.float64
    for bad in ([-1, 2**64 - 1], [0.5, 2**60 + 1], [2**64, 1], [-2**63 - 1, 0]):
        with pytest.raises(ValueError, match="exactly"):
            LearnedIndex(bad)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_narrow_float_infinities(dtype):
    """float16/float32 infinities are below/above every key, whatever the key dtype's range."""
    keys = np.array(sorted(set(dtype_extremes(dtype))), dtype=dtype)
    keys = keys[np.isfinite(keys)] if keys.dtype.kind == "f" else keys
    idx = LearnedIndex(keys)
    n = len(keys)
    for t in (np.float16, np.float32, np.float64):
        for q in (t(-np.inf), np.array([-np.inf, -np.inf], dtype=t)):
            assert np.all(idx.lower_bound(q) == 0) and np.all(idx.upper_bound(q) == 0), t
            assert not np.any(idx.contains(q)), t
        for q in (t(np.inf), np.array([np.inf], dtype=t)):
            assert np.all(idx.lower_bound(q) == n) and np.all(idx.upper_bound(q) == n), t
            assert not np.any(idx.contains(q)), t
    check_exact(idx, [np.float16(-65504.0), np.float16(65504.0), np.float16(-0.0),
                      np.float32(-2.0**31), np.float32(2.0**31), np.float32(-2.0**63),
                      np.float32(2.0**63), np.float32(2.0**64)])


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_mixed_numpy_scalars_and_arrays_every_dtype(dtype):
    keys = np.array(sorted(set(dtype_extremes(dtype))) * 2, dtype=dtype)
    for stages in (("linear", "linear"), ("radix", "cubic"), ("loglinear", "linear", "linear_spline")):
        idx = LearnedIndex(keys, stages=stages, n_leaves=3)
        for qdt in ALL_NUMERIC:
            vals = _representable(qdt, _probe_values(keys))
            arr = np.array(vals, dtype=qdt)
            check_exact(idx, list(arr), form="scalar")
            check_exact(idx, arr, form="array")


def _probe_values(keys):
    """Python numbers around every key and the extremes of every dtype."""
    out = set()
    for k in keys.tolist():
        out.update([k, k + 1, k - 1])
        if isinstance(k, float) and math.isfinite(k):
            out.update([k + 0.5, k - 0.5, math.nextafter(k, math.inf), math.nextafter(k, -math.inf)])
            if abs(k) < 2**70:
                out.update([int(k), int(k) + 1, int(k) - 1])
    for d in KEY_DTYPES:
        out.update(dtype_extremes(d))
    out.update([3.5, -3.5, 2.0**53 + 1, 2**53 + 1, 0.1, 1e-300, 65504.0])
    return out


def _representable(qdt, values):
    """Values that ``qdt`` holds exactly (so that a query array keeps its meaning)."""
    dt = np.dtype(qdt)
    out = []
    for v in values:
        if isinstance(v, float) and v != v:
            continue
        if dt.kind == "f":
            if isinstance(v, int) and abs(v) > 2**1000:
                continue
            with np.errstate(over="ignore"):
                c = dt.type(v)
            if float(c) == v:
                out.append(v)
        else:
            if isinstance(v, float):
                if not math.isfinite(v) or v != int(v):
                    continue
                v = int(v)
            info = np.iinfo(dt)
            if info.min <= v <= info.max:
                out.append(v)
    return sorted(set(out), key=float)


# --------------------------------------------------------------------------- property

@st.composite
def mixed_queries(draw, kdt, keys):
    """Scalars of all kinds: Python ints and floats, numpy scalars of every numeric dtype."""
    kv = [exact(k) for k in keys.tolist()]
    near = st.sampled_from(kv) if kv else st.just(0)
    delta = st.sampled_from([0, 1, -1, 0.5, -0.5, 2**-30, 3, 1e-9])
    pyint = st.one_of(st.integers(-2**64 - 5, 2**64 + 5), st.sampled_from(
        [-2**63 - 1, -2**63, -2**31 - 1, -1, 0, 2**31, 2**32, 2**53 + 1, 2**63, 2**64 - 1, 2**64]),
        near.map(lambda k: int(k) if not isinstance(k, float) or math.isfinite(k) else 0))
    pyfloat = st.one_of(st.floats(allow_nan=False), st.sampled_from(dtype_extremes(np.float64)),
                        st.tuples(near, delta).map(_shift))
    base = draw(st.one_of(pyint, pyfloat))
    target = draw(st.sampled_from(["py"] + [np.dtype(d).name for d in ALL_NUMERIC]))
    if target == "py":
        return base
    vals = _representable(target, [base])
    return np.dtype(target).type(vals[0]) if vals else base


def _shift(pair):
    k, d = pair
    try:
        r = k + d
    except OverflowError:
        return float(k)
    if isinstance(r, int) and not isinstance(d, int):
        return float(r)
    return r if not (isinstance(r, float) and r != r) else 0.0


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=80, **HYP)
@given(data=st.data())
def test_property_mixed_queries_exact(dtype, data):
    keys = data.draw(key_arrays(dtype, max_size=60), label="keys")
    kw = data.draw(configs(roots=("linear", "linear_spline", "cubic", "radix", "loglinear")),
                   label="config")
    idx = LearnedIndex(keys, **kw)
    qs = data.draw(st.lists(mixed_queries(idx.keys.dtype, idx.keys), min_size=1, max_size=12),
                   label="queries")
    # Python ints beyond the 64-bit types have their own test (test_python_ints_beyond_64_bits)
    qs = [q for q in qs if isinstance(exact(q), float) or -2**63 <= exact(q) < 2**64]
    check_exact(idx, qs)
    # the same values as arrays of each numpy dtype that holds them exactly
    for qdt in ALL_NUMERIC:
        vals = _representable(qdt, [exact(q) for q in qs])
        if vals:
            check_exact(idx, np.array(vals, dtype=qdt), form="array")


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("keys", [
    np.array([1.0, np.nan, 3.0]), np.array([np.nan]), np.array([3.0, 1.0, np.nan]),
    np.array([1.0, np.nan], dtype=np.float32), [0.5, float("nan")]], ids=lambda k: repr(k)[:30])
def test_nan_keys_raise_value_error(keys):
    with pytest.raises(ValueError, match="(?i)nan"):
        LearnedIndex(keys)


@pytest.mark.parametrize("keys", [
    np.array(["a", "b"]), ["a", "b"], np.array([1, 2], dtype=object), "abc", b"abc",
    np.array([1 + 2j, 3j]), np.array([True, False]),
    np.array(["2020-01-01"], dtype="datetime64[D]")], ids=lambda k: repr(k)[:30])
def test_non_numeric_keys_raise_type_error(keys):
    with pytest.raises(TypeError):
        LearnedIndex(keys)


@pytest.mark.parametrize("keys", [np.zeros((2, 3), np.int64), np.zeros((3, 1), np.uint64),
                                  np.zeros((1, 1, 1)), [[1, 2], [3, 4]], np.array(5), 7])
def test_non_1d_keys_raise_value_error(keys):
    with pytest.raises(ValueError):
        LearnedIndex(keys)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_nan_queries_raise_value_error(dtype):
    idx = LearnedIndex(np.array([1, 2, 3], dtype=dtype))
    empty = LearnedIndex(np.zeros(0, dtype=dtype))
    for q in (float("nan"), np.nan, np.float64("nan"), np.float32("nan"), np.float16("nan"),
              np.array([1.0, np.nan]), np.array([[np.nan]], dtype=np.float32), [2.0, float("nan")]):
        for ix in (idx, empty):
            for method in (ix.lower_bound, ix.upper_bound, ix.contains, ix.search):
                with pytest.raises(ValueError, match="(?i)nan"):
                    method(q)
            with pytest.raises(ValueError):
                ix.range(q, 2)
            with pytest.raises(ValueError):
                ix.range(0, q)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_non_numeric_queries_raise_type_error(dtype):
    idx = LearnedIndex(np.array([0, 1, 2, 3], dtype=dtype))
    for q in ("a", "1", b"1", None, True, False, np.True_, np.array([True, False]), ["a", "b"],
              [None], object(), np.array([1, 2], dtype=object), 1 + 2j, np.complex128(1),
              np.array(["x"])):
        for method in (idx.lower_bound, idx.upper_bound, idx.contains, idx.search):
            with pytest.raises(TypeError):
                method(q)
        with pytest.raises(TypeError):
            idx.range(q, 3)


@pytest.mark.parametrize("kw", [
    {"stages": ("linear",)}, {"stages": ("linear",) * 4}, {"stages": ()},
    {"stages": ("bogus", "linear")}, {"stages": ("linear", "bogus")},
    {"stages": ("linear", "mlp")}, {"stages": ("linear", "radix")}, {"stages": ("linear", "loglinear")},
    {"stages": ("linear", "radix", "linear")}, {"stages": ("linear", "linear", "mlp")},
    {"stages": "linear"},
    {"search": "bogus"}, {"search": ""}, {"search": "Binary"},
    {"n_leaves": 0}, {"n_leaves": -3}, {"n_leaves": 2.5},
    {"stages": ("linear", "linear", "linear"), "n_mid": 0},
    {"stages": ("mlp", "linear"), "mlp_hidden": (4, 4, 4)},
    {"stages": ("mlp", "linear"), "mlp_hidden": (33,)},
    {"stages": ("mlp", "linear"), "mlp_hidden": (0,)},
], ids=repr)
def test_invalid_configuration_raises_value_error(kw):
    with pytest.raises(ValueError):
        LearnedIndex(np.arange(100, dtype=np.uint64), **kw)


def test_valid_configuration_spellings():
    keys = np.arange(100, dtype=np.uint64)
    assert LearnedIndex(keys, stages=["cubic", "linear"]).stats()["stages"] == ("cubic", "linear")
    assert LearnedIndex(keys, n_leaves=np.int64(4)).stats()["n_leaves"] == 4
    for s in ("binary", "branchless", "exponential", "linear"):
        assert LearnedIndex(keys, search=s).lower_bound(50) == 50
