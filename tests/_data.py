"""Shared helpers of the test suite: seeded key sets, probe queries, exact references
and hypothesis strategies.

Everything here is deterministic given its seed; nothing depends on the library
beyond its public names (family, search and dtype names are spelled out).
"""
import functools
import math

import numpy as np
from hypothesis import strategies as st

ROOT_FAMILIES = ("linear", "robust_linear", "linear_spline", "cubic", "radix", "loglinear", "mlp")
LEAF_FAMILIES = ("linear", "linear_spline", "cubic")
SEARCH_KINDS = ("binary", "branchless", "exponential", "linear")
#: roots whose window must hold every in-range query exactly (no reliance on the fallback)
WINDOW_ROOTS = ("linear", "robust_linear", "linear_spline", "radix", "loglinear", "mlp")
WINDOW_LEAVES = ("linear", "linear_spline")

KEY_DTYPES = (np.uint64, np.int64, np.uint32, np.int32, np.float64)
WIDENED = {np.uint8: np.uint32, np.uint16: np.uint32, np.int8: np.int32, np.int16: np.int32,
           np.float16: np.float64, np.float32: np.float64}
ALL_NUMERIC = (np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64,
               np.float16, np.float32, np.float64)

F64_MAX = float(np.finfo(np.float64).max)
F64_TINY = 5e-324
_SIGN = np.uint64(2**63)


# --------------------------------------------------------------------------- exact references

def exact(v):
    """A numpy / Python number as an exact Python ``int`` or ``float``."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("bool is no number here")
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)  # float16/32/64 -> float is exact


def ref_counts(keys, qs):
    """Exact ``(#keys < q, #keys <= q, q is a key)`` for every query, in Python arithmetic.

    Python compares ``int`` and ``float`` exactly, so this is the mathematical answer
    for any mix of integer and float keys and queries.
    """
    ks = sorted(exact(k) for k in np.asarray(keys).tolist())
    out = []
    for q in qs:
        q = exact(q)
        lt = sum(1 for k in ks if k < q)
        le = sum(1 for k in ks if k <= q)
        out.append((lt, le, le > lt))
    return out


# --------------------------------------------------------------------------- probes

def dtype_extremes(dtype):
    """Interesting values that a key or query of ``dtype`` can take."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return [-math.inf, -F64_MAX, -1e308, -2.0**64, -2.0**63, -2.0**53 - 2, -1.5, -1.0, -F64_TINY,
                -0.0, 0.0, F64_TINY, 0.5, 1.0, 2.0**53, 2.0**53 + 2, 2.0**63, 2.0**64, 1e308,
                F64_MAX, math.inf]
    info = np.iinfo(dt)
    vals = {info.min, info.min + 1, info.min + 2, -2, -1, 0, 1, 2, 3,
            info.max - 2, info.max - 1, info.max, 2**31 - 1, 2**31, 2**32 - 1, 2**53,
            2**53 + 1, 2**63 - 1, 2**63}
    return sorted(v for v in vals if info.min <= v <= info.max)


def _int_neighbours(keys, info):
    out = set()
    prev = None
    for k in keys.tolist():
        for d in (-2, -1, 1, 2):
            if info.min <= k + d <= info.max:
                out.add(k + d)
        if prev is not None and prev != k:
            out.add((prev + k) // 2)
        prev = k
    return out


def probe_queries(keys, seed=0, n_random=64):
    """Queries of the keys' dtype: the keys, their neighbours, midpoints, extremes, random."""
    keys = np.asarray(keys)
    dt = keys.dtype
    rng = np.random.default_rng(seed)
    if dt.kind == "f":
        with np.errstate(invalid="ignore", over="ignore"):
            vals = [keys, np.nextafter(keys, np.inf), np.nextafter(keys, -np.inf),
                    np.asarray(dtype_extremes(dt), dtype=dt)]
            if keys.size > 1:
                vals.append(keys[:-1] / 2 + keys[1:] / 2)
            fin = keys[np.isfinite(keys)]
            if fin.size:
                lo, hi = float(fin.min()), float(fin.max())
                vals.append(rng.uniform(lo, hi, n_random) if hi - lo < F64_MAX
                            else rng.normal(0, 1e300, n_random))
        vals.append(rng.normal(0, 1e6, n_random))
        q = np.concatenate([np.asarray(v, dtype=dt) for v in vals])
        return q[~np.isnan(q)]
    info = np.iinfo(dt)
    vals = set(keys.tolist()) | _int_neighbours(keys, info) | set(dtype_extremes(dt))
    q = np.array(sorted(vals), dtype=dt)
    rnd = rng.integers(info.min, info.max, size=n_random, dtype=dt, endpoint=True)
    if keys.size:
        lo, hi = int(keys.min()), int(keys.max())
        rnd = np.concatenate([rnd, rng.integers(lo, hi, size=n_random, dtype=dt, endpoint=True)])
    return np.concatenate([q, rnd])


def absent_queries(keys):
    """Queries between and beyond the keys, of the keys' dtype (some may equal keys)."""
    keys = np.asarray(keys)
    dt = keys.dtype
    if dt.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            parts = [keys[:-1] / 2 + keys[1:] / 2, np.nextafter(keys, np.inf),
                     np.nextafter(keys, -np.inf), [keys[0] - 1.0, keys[-1] + 1.0, -np.inf, np.inf]]
        q = np.concatenate([np.asarray(p, dtype=dt) for p in parts])
        return q[~np.isnan(q)]
    info = np.iinfo(dt)
    # midpoints a + (b - a) // 2 in an order-preserving uint64 image (no overflow)
    if dt.kind == "u":
        u = keys.astype(np.uint64)
        mid = (u[:-1] + (u[1:] - u[:-1]) // np.uint64(2)).astype(dt)
    else:
        u = keys.astype(np.int64).view(np.uint64) ^ _SIGN
        mid = ((u[:-1] + (u[1:] - u[:-1]) // np.uint64(2)) ^ _SIGN).view(np.int64).astype(dt)
    plus = keys[keys < info.max] + dt.type(1)
    minus = keys[keys > info.min] - dt.type(1)
    ends = np.array([info.min, info.max], dtype=dt)
    return np.concatenate([mid, plus, minus, ends])


# --------------------------------------------------------------------------- synthetic key sets

def _scaled(x, top=2.0**62):
    x = np.asarray(x, dtype=np.float64)
    x = x - x.min()
    return (x / max(x.max(), 1.0) * top).astype(np.uint64)


def _gen(name, n, rng):
    if name == "uniform_dense":
        return np.cumsum(rng.integers(1, 3, n, dtype=np.uint64)) + np.uint64(1000)
    if name == "uniform_sparse":
        k = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        k[:2] = [0, 2**64 - 1]
        return k
    if name == "normal":
        return _scaled(rng.normal(0.0, 1.0, n))
    if name == "lognormal":
        return _scaled(rng.lognormal(0.0, 2.0, n))
    if name == "exponential":
        return _scaled(rng.exponential(1.0, n))
    if name == "clustered":
        centres = rng.integers(0, 2**63, 200, dtype=np.uint64)
        which = rng.integers(0, centres.size, n)
        return centres[which] + rng.exponential(500.0, n).astype(np.uint64)
    if name == "duplicates":
        # a few very heavy keys, many light ones, and long runs of one value
        heavy = rng.integers(0, 2**40, 20, dtype=np.uint64)
        k = rng.integers(0, 2**40, n, dtype=np.uint64)
        sel = rng.random(n) < 0.7
        k[sel] = heavy[rng.integers(0, heavy.size, sel.sum())]
        return k
    if name == "above_2_53":
        # dense keys right below 2**64: float64 cannot tell neighbours apart
        return np.uint64(2**64 - n) + np.arange(n, dtype=np.uint64)
    if name == "above_2_53_gaps":
        return np.uint64(2**64 - 1) - np.cumsum(rng.integers(0, 3, n, dtype=np.uint64))
    if name == "int64_full":
        k = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64, endpoint=True)
        k[:4] = [-2**63, -2**63 + 1, 2**63 - 2, 2**63 - 1]
        return k
    if name == "int64_dense_negative":
        return np.int64(-2**63 + 5) + np.cumsum(rng.integers(0, 3, n)).astype(np.int64)
    if name == "uint32_dense":
        return np.uint32(2**32 - 3 * n) + np.cumsum(rng.integers(0, 3, n)).astype(np.uint32)
    if name == "int32_mixed":
        k = rng.integers(-2**31, 2**31 - 1, n, dtype=np.int32, endpoint=True)
        k[: n // 4] = rng.integers(-100, 100, n // 4)
        k[:2] = [-2**31, 2**31 - 1]
        return k
    if name == "float_normal":
        return rng.normal(0.0, 1e3, n)
    if name == "float_lognormal":
        return np.round(rng.lognormal(0.0, 3.0, n), 3)  # rounding adds duplicates
    if name == "float_wide":
        # magnitudes from 1e-300 to 1e300 on both sides of zero
        return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-300, 300, n)
    raise KeyError(name)


DATASETS = ("uniform_dense", "uniform_sparse", "normal", "lognormal", "exponential", "clustered",
            "duplicates", "above_2_53", "above_2_53_gaps", "int64_full", "int64_dense_negative", "uint32_dense",
            "int32_mixed", "float_normal", "float_lognormal", "float_wide")


@functools.lru_cache(maxsize=None)
def synthetic(name, n, seed=12345):
    """Sorted, read-only keys of data set ``name`` (cached per process)."""
    k = np.sort(_gen(name, n, np.random.default_rng(seed)), kind="stable")
    k.flags.writeable = False
    return k


@functools.lru_cache(maxsize=None)
def stress_queries(name, n, seed=12345):
    """Every distinct key plus absent queries (midpoints, neighbours, below min, above max)."""
    keys = synthetic(name, n, seed)
    q = np.concatenate([np.unique(keys), absent_queries(keys)])
    q.flags.writeable = False
    return q


# --------------------------------------------------------------------------- hypothesis

def _value_strategy(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return st.one_of(st.floats(allow_nan=False), st.sampled_from(dtype_extremes(dt)),
                         st.integers(-20, 20).map(float))
    info = np.iinfo(dt)
    small = st.integers(max(info.min, -20), 20)
    return st.one_of(st.integers(int(info.min), int(info.max)),
                     st.sampled_from(dtype_extremes(dt)), small)


@st.composite
def key_arrays(draw, dtype, max_size=300):
    """Key arrays of ``dtype`` with 0..max_size keys: extremes, duplicates, runs; maybe unsorted."""
    dt = np.dtype(dtype)
    style = draw(st.sampled_from(["list", "list", "rng"]))
    if style == "list":
        vals = draw(st.lists(_value_strategy(dt), max_size=min(max_size, 40)))
        arr = np.array(vals, dtype=dt)
    else:
        n = draw(st.integers(0, max_size))
        seed = draw(st.integers(0, 2**32 - 1))
        kind = draw(st.sampled_from(["uniform", "dense", "dups", "extremes", "clustered"]))
        arr = _small(dt, n, kind, np.random.default_rng(seed))
    if draw(st.booleans()):
        arr = np.sort(arr, kind="stable")
    return arr


def _small(dt, n, kind, rng):
    if dt.kind == "f":
        if kind == "uniform":
            return rng.uniform(-1e6, 1e6, n)
        if kind == "dense":
            return np.round(rng.uniform(-5, 5, n), 1)
        if kind == "dups":
            return rng.choice(np.array([-np.inf, -1.0, 0.0, 2.5, 1e300, np.inf]), n)
        if kind == "extremes":
            return rng.choice(np.array(dtype_extremes(dt)), n)
        return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-300, 300, n)
    info = np.iinfo(dt)
    if kind == "uniform":
        return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    if kind == "dense":
        lo, hi = int(info.min), int(info.max)
        start = [lo, 0 if lo == 0 else -(n // 2), hi - n][int(rng.integers(3))]
        return np.array([start + i * 2 // 3 for i in range(n)], dtype=dt)
    if kind == "dups":
        pool = np.array(dtype_extremes(dt)[:3] + dtype_extremes(dt)[-3:], dtype=dt)
        return rng.choice(pool, n)
    if kind == "extremes":
        return rng.choice(np.array(dtype_extremes(dt), dtype=dt), n)
    centres = rng.integers(info.min, info.max, 4, dtype=dt, endpoint=True).astype(object)
    vals = [min(max(int(c) + int(d), int(info.min)), int(info.max))
            for c, d in zip(rng.choice(centres, n), rng.integers(0, 10, n))]
    return np.array(vals, dtype=dt)


@st.composite
def configs(draw, roots=ROOT_FAMILIES, leaves=LEAF_FAMILIES):
    """Constructor keyword arguments: random stages (2 or 3), n_leaves 1..5, search kind."""
    root = draw(st.sampled_from(roots))
    three = draw(st.booleans())
    stages = (root,) + ((draw(st.sampled_from(leaves)),) if three else ()) + \
        (draw(st.sampled_from(leaves)),)
    kw = {"stages": stages,
          "n_leaves": draw(st.one_of(st.integers(1, 5), st.just(None))),
          "search": draw(st.sampled_from(SEARCH_KINDS))}
    if three:
        kw["n_mid"] = draw(st.one_of(st.none(), st.integers(1, 3)))
    if root == "mlp":
        kw["mlp_hidden"] = draw(st.sampled_from([(), (2,), (4,), (3, 2)]))
        kw["seed"] = draw(st.integers(0, 3))
    return kw
