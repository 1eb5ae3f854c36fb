"""Training of the recursive model index: O(n), one pass per stage, in numba.

Stage by stage, keys are routed with exactly the arithmetic of the lookup
(:func:`.rmi.route`, :func:`.rmi.record_position`), so the leaf a key is trained
in is the leaf a lookup of it reaches. Then each leaf gets its **signed** error
bounds ``(err_lo, err_hi)``: for every query ``q`` routed to the leaf,

    err_lo <= true_position(q) - floor(model(q)) <= err_hi

for *both* the lower and the upper bound of ``q``, present or absent. Because
routing and every model are monotone in the key (see :mod:`.models`), it is
enough to take, over the leaf's keys ``K[j]`` with guess ``p_j``, the values
``j - p_j`` and ``j + 1 - p_j``, plus the two boundary cases: a query just above
the previous leaf's last key ``K[s-1]`` (answer ``s``, guess at least
``p(K[s-1])``) and one just below the next leaf's first key ``K[e]`` (answer
``e``, guess at most ``p(K[e])``). An empty leaf only receives queries whose
answer is the number of keys before it, and stores that constant.
"""
import time

import numpy as np
from numba import njit

from . import rmi
from .models import FAMILIES, FORM_LINEAR, LEAF_CODES, cubic, linear, linear_spline, mlp
from .models.common import key_bits, key_delta

_I32 = 2**31 - 1


@njit(cache=True)
def _offsets(keys, lo, hi, base):
    """Float offsets ``keys[lo:hi] - base``, computed exactly before rounding."""
    bu, bf = key_bits(base)
    out = np.empty(hi - lo)
    for j in range(lo, hi):
        out[j - lo] = key_delta(keys[j], bu, bf)
    return out


@njit(cache=True)
def _route_all(keys, p):
    """Leaf of every key, forced non-decreasing (see :func:`build`)."""
    pu, pi = rmi._views(p)
    kbu, kbf = key_bits(keys[0])
    ids = np.empty(keys.shape[0], dtype=np.int64)
    last = 0
    bent = 0
    for j in range(keys.shape[0]):
        leaf = rmi.route(p, pu, pi, kbu, kbf, keys[j])
        if leaf < last:
            bent += 1
            leaf = last
        ids[j] = leaf
        last = leaf
    return ids, bent


@njit(cache=True)
def _fit_records(keys, starts, p, off, width, code, scale):
    """Fit one record per range ``[starts[r], starts[r+1])`` on targets ``j * scale``."""
    pu = p.view(np.uint64)
    n_rec = starts.shape[0] - 1
    longest = 0
    for r in range(n_rec):
        longest = max(longest, starts[r + 1] - starts[r])
    xs = np.empty(longest)
    ys = np.empty(longest)
    for r in range(n_rec):
        s = starts[r]
        e = starts[r + 1]
        o = off + r * width
        base = keys[min(s, keys.shape[0] - 1)]
        bu, bf = key_bits(base)
        pu[o] = bu
        if bu == 0:
            p[o] = bf
        m = e - s
        for j in range(m):
            xs[j] = key_delta(keys[s + j], bu, bf)
            ys[j] = (s + j) * scale
        params = p[o + rmi.REC_PARAMS:o + width]
        if m == 0:
            params[:] = 0.0
            params[1 if code == 2 else 0] = s * scale
        elif code == 0:
            linear.fit(xs[:m], ys[:m], params)
        elif code == 1:
            linear_spline.fit(xs[:m], ys[:m], params)
        else:
            cubic.fit(xs[:m], ys[:m], params)


@njit(cache=True)
def _set_pair(pi, o, a, b):
    pi[2 * o + 2] = np.int32(min(max(a, -_I32), _I32))
    pi[2 * o + 3] = np.int32(min(max(b, -_I32), _I32))


@njit(cache=True)
def _mid_ranges(keys, starts, p, n_leaves):
    """Give each middle record a leaf range so that routing stays monotone across records."""
    pu, pi = rmi._views(p)
    off = np.int64(p[rmi.H_MID_OFF])
    width = np.int64(p[rmi.H_MID_W])
    form = np.int64(p[rmi.H_MID_FORM])
    prev = 0
    for r in range(starts.shape[0] - 1):
        o = off + r * width
        lo = prev
        hi = prev
        if starts[r + 1] > starts[r]:
            a = rmi.record_position(p, pu, form, o, keys[starts[r]], n_leaves - 1)
            b = rmi.record_position(p, pu, form, o, keys[starts[r + 1] - 1], n_leaves - 1)
            lo = max(a, prev)
            hi = max(b, lo)
        _set_pair(pi, o, lo, hi)
        prev = hi


@njit(cache=True)
def _leaf_errors(keys, starts, p):
    """Signed error bounds of every leaf (see the module docstring)."""
    pu, pi = rmi._views(p)
    n = keys.shape[0]
    off = np.int64(p[rmi.H_LEAF_OFF])
    width = np.int64(p[rmi.H_LEAF_W])
    form = np.int64(p[rmi.H_LEAF_FORM])
    for r in range(starts.shape[0] - 1):
        s = starts[r]
        e = starts[r + 1]
        o = off + r * width
        if s == e:
            _set_pair(pi, o, 0, 0)
            continue
        lo = n
        hi = -n
        for j in range(s, e):
            g = rmi.record_position(p, pu, form, o, keys[j], n)
            lo = min(lo, j - g)
            hi = max(hi, j + 1 - g)
        if s > 0:
            hi = max(hi, s - rmi.record_position(p, pu, form, o, keys[s - 1], n))
        if e < n:
            lo = min(lo, e - rmi.record_position(p, pu, form, o, keys[e], n))
        _set_pair(pi, o, lo, hi)


def _aligned_zeros(size):
    """A zeroed float64 array whose data starts on a 64-byte boundary."""
    buf = np.zeros(size + 8)
    shift = (-buf.ctypes.data % 64) // 8
    return buf[shift:shift + size]


def _fit_root(family, x, y, mlp_hidden, seed):
    module, _ = FAMILIES[family]
    if family == "mlp":
        return mlp.fit(x, y, hidden=mlp_hidden, seed=seed)
    out = np.zeros(module.N_PARAMS)
    module.fit(x, y, out)
    return out


def _starts(ids, count):
    return np.searchsorted(ids, np.arange(count + 1), side="left").astype(np.int64)


def build(keys, stages, n_leaves, n_mid=0, mlp_hidden=(16,), seed=0):
    """Train an RMI over sorted, non-empty ``keys``; return ``(blob, info)``.

    Parameters
    ----------
    keys : ndarray
        Sorted keys of a supported dtype, length >= 1.
    stages : tuple of str
        ``(root, leaf)`` or ``(root, middle, leaf)`` family names.
    n_leaves, n_mid : int
        Number of leaf models and of middle models (3 stages only).

    Returns
    -------
    blob : ndarray of float64
        The model blob (see :mod:`.rmi`).
    info : dict
        ``starts`` (first key of each leaf, plus n), ``bent`` (keys whose
        computed route had to be straightened; 0 for monotone models) and
        ``build_seconds``.
    """
    t0 = time.perf_counter()
    n = keys.shape[0]
    root_family, leaf_family = stages[0], stages[-1]
    mid_family = stages[1] if len(stages) == 3 else None
    root_form = FAMILIES[root_family][1]
    leaf_form = FAMILIES[leaf_family][1]
    mid_form = FAMILIES[mid_family][1] if mid_family else FORM_LINEAR
    top = n_mid if mid_family else n_leaves

    x = _offsets(keys, 0, n, keys[0])
    y = np.arange(n, dtype=np.float64) * (top / n)
    root = _fit_root(root_family, x, y, mlp_hidden, seed)
    del x, y

    mid_w = rmi.record_width(mid_form) if mid_family else 0
    leaf_w = rmi.record_width(leaf_form)
    root_off = rmi.HEADER
    mid_off = root_off + root.size
    leaf_off = -(-(mid_off + n_mid * mid_w) // 8) * 8
    p = _aligned_zeros(leaf_off + n_leaves * leaf_w)
    p[:rmi.HEADER] = 0.0
    p[rmi.H_N] = n
    p[rmi.H_ROOT_FORM] = root_form
    p[rmi.H_ROOT_OFF] = root_off
    p[rmi.H_N_MID] = n_mid if mid_family else 0
    p[rmi.H_MID_OFF] = mid_off
    p[rmi.H_N_LEAVES] = n_leaves
    p[rmi.H_LEAF_OFF] = leaf_off
    p[rmi.H_MID_FORM] = mid_form
    p[rmi.H_LEAF_FORM] = leaf_form
    p[rmi.H_MID_W] = mid_w
    p[rmi.H_LEAF_W] = leaf_w
    p[root_off:mid_off] = root

    if mid_family:
        # Route to middle records with the root alone: a 2-stage view of the blob.
        p[rmi.H_N_MID] = 0
        p[rmi.H_N_LEAVES] = n_mid
        ids, _ = _route_all(keys, p)
        p[rmi.H_N_MID] = n_mid
        p[rmi.H_N_LEAVES] = n_leaves
        mid_starts = _starts(ids, n_mid)
        _fit_records(keys, mid_starts, p, mid_off, mid_w, LEAF_CODES[mid_family], n_leaves / n)
        _mid_ranges(keys, mid_starts, p, n_leaves)
    ids, bent = _route_all(keys, p)
    starts = _starts(ids, n_leaves)
    del ids
    _fit_records(keys, starts, p, leaf_off, leaf_w, LEAF_CODES[leaf_family], 1.0)
    _leaf_errors(keys, starts, p)
    return p, {"starts": starts, "bent": int(bent), "build_seconds": time.perf_counter() - t0}
