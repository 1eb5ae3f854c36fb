"""Input validation at the public boundary: keys once, queries per call.

Queries of another dtype than the keys get **exact** semantics, never a lossy
cast: a lower bound of ``q`` counts the keys ``< q`` and an upper bound the
keys ``<= q``, in exact arithmetic. So ``-1`` against ``uint64`` keys has lower
bound 0, ``2**64`` has lower bound ``n``, ``3.5`` against integer keys behaves as
4 (lower) or 3 (upper), and an integer above ``2**53`` against float keys is
compared exactly. NaN and non-numeric queries raise.
"""
import numpy as np
from numba import njit

KEY_DTYPES = tuple(np.dtype(t) for t in (np.uint64, np.int64, np.uint32, np.int32, np.float64))
_WIDEN = {np.dtype(t): np.dtype(w) for t, w in [
    (np.uint8, np.uint32), (np.uint16, np.uint32), (np.int8, np.int32), (np.int16, np.int32),
    (np.float16, np.float64), (np.float32, np.float64)]}

LEFT, RIGHT, EXACT = "left", "right", "exact"


@njit(cache=True)
def _is_sorted(a):
    for i in range(1, a.shape[0]):
        if a[i] < a[i - 1]:
            return False
    return True


def as_keys(keys):
    """Validate keys; return them as a sorted, contiguous, read-only array.

    Supported dtypes: uint64, int64, uint32, int32, float64; smaller integer
    and float dtypes are widened losslessly. O(n) if sorted, else O(n log n).
    """
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a 1-D numeric array, not a string")
    a = np.asarray(keys)
    if a.dtype.kind in "iuf" and not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype in _WIDEN:
        a = a.astype(_WIDEN[a.dtype])
    elif a.dtype not in KEY_DTYPES:
        if a.size == 0 and a.dtype == np.float64:
            pass
        else:
            raise TypeError(
                f"unsupported key dtype {a.dtype}; use one of "
                f"{', '.join(str(d) for d in KEY_DTYPES)}")
    if a.ndim != 1:
        raise ValueError(f"keys must be 1-D, got shape {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError("keys contain NaN")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    a = frozen(a)
    if not _is_sorted(a):
        a = frozen(np.sort(a, kind="stable"))
    return a


def frozen(a):
    """A read-only view of ``a`` (``a`` itself stays writeable).

    Kernels see keys and queries only through such views: numba compiles a
    kernel once per array type, and writeability is part of the type, so one
    flag everywhere halves the kernels compiled.
    """
    a = a.view()
    a.flags.writeable = False
    return a


def _as_query_array(q):
    a = np.asarray(q)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"queries must be numeric (int or float), got dtype {a.dtype}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError("query is NaN")
    return a


def _int_keys(a, kdt, mode):
    """Queries ``a`` against integer keys: ``(q in key dtype, override mask, override value)``."""
    info = np.iinfo(kdt)
    if a.dtype.kind == "f":
        if mode == LEFT:
            r = np.ceil(a)
        elif mode == RIGHT:
            r = np.floor(a)
        else:
            r = a
        exact = r == np.floor(r) if mode == EXACT else None
        below = r < float(info.min)
        above = r >= 2.0 ** (info.bits - (1 if info.min < 0 else 0))
        qk = np.where(below | above, 0, r).astype(kdt)
        if exact is not None:
            bad = ~exact
            qk[bad] = 0
    else:
        below = a < info.min
        above = a > info.max
        qk = a.astype(kdt)
        bad = None
    qk[below] = info.min
    qk[above] = info.max
    if mode == LEFT:
        return qk, above, True
    if mode == RIGHT:
        return qk, below, False
    mask = below | above
    if a.dtype.kind == "f":
        mask |= bad
    return qk, mask, False


def _float_keys(a, mode):
    """Integer queries ``a`` against float64 keys, rounded in the exact direction."""
    f = a.astype(np.float64)
    limit = 2.0 ** (64 if a.dtype.kind == "u" else 63)
    big = f >= limit
    back = np.where(big, 0, f).astype(a.dtype)
    gt = big | (back > a)
    lt = ~big & (back < a)
    if mode == LEFT:
        return np.where(lt, np.nextafter(f, np.inf), f), None, None
    if mode == RIGHT:
        return np.where(gt, np.nextafter(f, -np.inf), f), None, None
    return f, gt | lt, False


def _huge_int(q, kdt, mode):
    """A Python int beyond 64 bits, as a float query rounded in the exact direction."""
    if kdt.kind != "f":
        return _int_keys(np.array([-np.inf if q < 0 else np.inf]), kdt, mode)
    try:
        f = float(q)
    except OverflowError:
        f = -np.inf if q < 0 else np.inf
    if mode == LEFT and f < q:          # Python compares int and float exactly
        f = float(np.nextafter(f, np.inf))
    elif mode == RIGHT and f > q:
        f = float(np.nextafter(f, -np.inf))
    return np.array([f]), (np.array([f != q]) if mode == EXACT else None), False


def queries(q, kdt, mode):
    """Coerce queries to the key dtype.

    Returns ``(qk, mask, value)``: ``qk`` a read-only contiguous array of dtype ``kdt``;
    where ``mask`` (if not None) is set, the answer is ``value`` (True: n for
    bounds; False: 0 for bounds, False for membership) instead of the kernel's.
    """
    qk, mask, value = _queries(q, kdt, mode)
    return frozen(qk), mask, value


def _queries(q, kdt, mode):
    if type(q) is int and not -2**63 <= q < 2**64:
        return _huge_int(q, kdt, mode)
    a = _as_query_array(q)
    if a.dtype == kdt:
        return np.ascontiguousarray(a.reshape(-1)), None, None
    a = a.reshape(-1)
    if a.dtype.kind == "f":
        a = a.astype(np.float64)          # exact for float16/32; compare in float64 below
        if kdt.kind == "f":
            return a, None, None
    elif kdt.kind == "f":
        return _float_keys(a, mode)
    return _int_keys(a, kdt, mode)
