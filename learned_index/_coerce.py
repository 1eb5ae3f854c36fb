"""Input validation at the public boundary: keys once, queries per call.

Queries of another dtype than the keys get **exact** semantics, never a lossy
cast: a lower bound of ``q`` counts the keys ``< q`` and an upper bound the
keys ``<= q``, in exact arithmetic. So ``-1`` against ``uint64`` keys has lower
bound 0, ``2**64`` has lower bound ``n``, ``3.5`` against integer keys behaves as
4 (lower) or 3 (upper), and an integer above ``2**53`` against float keys is
compared exactly. A Python list is exact element by element, even where numpy
alone would round it to float64 or give up (see :func:`_sequence`). NaN and
non-numeric queries raise.
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
    a = key_array(keys)
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


def key_array(keys):
    """``np.asarray(keys)``, except that a list or tuple gets an array that holds each
    key exactly: ints in ``[2**63, 2**64)`` next to smaller ones become uint64 (numpy
    would pick float64); keys no 64-bit dtype holds exactly raise ``ValueError``."""
    if not isinstance(keys, (list, tuple)):
        return np.asarray(keys)
    a, o = _sequence(keys)
    if o is None or a.ndim != 1:
        return a
    ints, _ = _numeric_kinds(o, "keys")
    if ints.all() and ((o >= 0) & (o < 2**64)).astype(bool).all():
        return o.astype(np.uint64)
    raise ValueError("keys do not fit one key dtype exactly (ints beyond 64 bits, negative ints "
                     "next to ints of 2**63 or more, or ints above 2**53 next to floats): pass a "
                     "numpy array of the dtype you mean")


def element(x, i):
    """Element ``i`` of ``x`` (flattened) as an exact Python number, to name it in an error."""
    if isinstance(x, np.ndarray):
        return x.reshape(-1)[i].item()
    return _python_numbers(x)[i]


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


def _huge_ints(v, kdt, mode):
    """Python ints beyond 64 bits (object array ``v``), as float queries rounded in the
    exact direction (Python compares int and float exactly)."""
    if kdt.kind != "f":
        return _int_keys(np.where(v < 0, -np.inf, np.inf), kdt, mode)
    f = np.array([_to_float(x) for x in v], dtype=np.float64)
    fo = f.astype(object)
    if mode == LEFT:
        up = (fo < v).astype(bool)
        f[up] = np.nextafter(f[up], np.inf)
    elif mode == RIGHT:
        down = (fo > v).astype(bool)
        f[down] = np.nextafter(f[down], -np.inf)
    return f, ((fo != v).astype(bool) if mode == EXACT else None), False


def _to_float(x):
    try:
        return float(x)
    except OverflowError:
        return -np.inf if x < 0 else np.inf


#: element types a float64 array holds exactly
_FLOATS = {float, np.float64, np.float32, np.float16}


def _sequence(q):
    """``(np.asarray(q), None)`` for a list or tuple ``q``, or ``(that, its elements by
    :func:`_python_numbers`)`` where numpy's choice of dtype (float64 for ints on both
    sides of ``2**63``, object for ints beyond 64 bits) does not hold every element
    exactly. Unless numpy picks an integer dtype or the list holds floats only, that
    costs O(m) compares in C of Python numbers (numpy scalars in the list are
    converted first, in a Python loop)."""
    a = np.asarray(q)
    if a.dtype.kind not in "fO" or (a.ndim == 1 and set(map(type, q)) <= _FLOATS):
        return a, None
    o = _python_numbers(q)
    if a.dtype.kind == "f":
        flat = a.reshape(-1)
        if ((flat.astype(object) == o) | np.isnan(flat)).all():    # NaN: raised later
            return a, None
    return a, o


def _python_numbers(q):
    """The elements of ``q``, flat, as a 1-D object array of Python objects: numpy
    scalars become their Python ``int``/``float``/``bool``, so compares are exact."""
    o = np.asarray(q, dtype=object).reshape(-1)
    if set(map(type, o)) <= {int, float}:
        return o
    return np.array([x.item() if isinstance(x, np.generic) else x for x in o] + [None],
                    dtype=object)[:-1]


def _numeric_kinds(o, what="queries"):
    """For ``o`` from :func:`_python_numbers`: masks of its ints and floats; any other
    element (bool included) raises ``TypeError`` naming ``what``."""
    ints = np.array([isinstance(x, int) and not isinstance(x, bool) for x in o], dtype=bool)
    floats = np.array([isinstance(x, float) for x in o], dtype=bool)
    if not (ints | floats).all():
        bad = o[~(ints | floats)][0]
        raise TypeError(f"{what} must be numeric (int or float), got {type(bad).__name__}")
    return ints, floats


def _elementwise(o, kdt, mode):
    """Queries from a list that no single numpy dtype holds exactly (object array ``o``):
    ints in int64, in uint64 or beyond, and floats, each group coerced as an array of
    its own dtype, the results merged. A mask's value depends on ``mode`` only."""
    ints, floats = _numeric_kinds(o)
    iv = o[ints]
    small = ((iv >= -2**63) & (iv < 2**63)).astype(bool)
    big = ((iv >= 2**63) & (iv < 2**64)).astype(bool)
    at = np.flatnonzero(ints)
    groups = [(at[small], _queries(iv[small].astype(np.int64), kdt, mode)),
              (at[big], _queries(iv[big].astype(np.uint64), kdt, mode)),
              (at[~(small | big)], _huge_ints(iv[~(small | big)], kdt, mode)),
              (np.flatnonzero(floats), _queries(o[floats].astype(np.float64), kdt, mode))]
    qk = np.empty(o.shape[0], dtype=kdt)
    mask = None
    for where, (gq, gm, _) in groups:
        qk[where] = gq
        if gm is not None:
            mask = np.zeros(o.shape[0], dtype=bool) if mask is None else mask
            mask[where] = gm
    return qk, mask, mode == LEFT


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
        return _huge_ints(np.array([q], dtype=object), kdt, mode)
    if isinstance(q, (list, tuple)):
        q, o = _sequence(q)
        if o is not None:
            return _elementwise(o, kdt, mode)
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
