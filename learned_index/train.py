"""Training of the recursive model index: O(n), one pass per stage, in numba.

Stage by stage, keys are routed with exactly the arithmetic of the lookup
(:func:`.rmi.route`, :func:`.rmi.leaf_position`), so the leaf a key is trained
in is the leaf a lookup of it reaches.

**Error bounds.** A leaf's guess for ``q`` is ``g(q) = clamp(floor(model(x)))``
with the offset ``x = q - base`` clamped to ``[0, x_last]``. Routing and every
model are monotone in the key (see :mod:`.models`), so ``g`` is monotone over
the queries routed to the leaf. For such a query the exact lower (and upper)
bound ``a`` satisfies ``lo <= a - g(q) <= hi`` where, over the leaf's keys
``K[j]`` (positions ``s <= j < e``), ``lo`` and ``hi`` are the extremes of
``j - g(K[j])`` and ``j + 1 - g(K[j])``, widened by the two boundary cases:
a query just above the previous leaf's last key ``K[s-1]`` (answer ``s``,
guess at least ``g(K[s-1])``) and one just below the next leaf's first key
``K[e]`` (answer ``e``, guess at most ``g(K[e])``). These hold for present and
absent queries alike. The intercept is then shifted down by ``-lo`` (and the
bounds recomputed with the final parameters), so that one number per leaf,
the ``width``, suffices: the answer lies in ``[g(q), g(q) + width]``.

An empty leaf only receives queries whose answer is the number of keys
before it, and stores that constant with width 0.

A compact leaf (see :mod:`.compact`) is bounded the same way, with its own
guess; its ``c0`` is an integer and its guess is capped by the next record's
``c0``, so the leaves are fitted last to first (:func:`_fit_compact`).
"""
import time

import numpy as np
from numba import njit

from . import _coerce, compact, fences, rmi, wide
from .models import (FAMILIES, FORM_COMPACT, FORM_CUBIC, FORM_LINEAR, LEAF_CODES, cubic, linear,
                     linear_spline, mlp)
from .models.common import key_bits, key_delta

_MAX_SHIFTS = 16
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
def route_keys(keys, p, lo, hi):
    """Leaf of each key of ``keys[lo:hi]``, forced non-decreasing; ``(ids, bent)``.

    Routing is computed exactly as a lookup's, from the root's base key
    ``keys[0]``; ``bent`` counts keys whose route had to be straightened
    (0 for monotone models, see :func:`build`).
    """
    if rmi.has_network(p):
        return _route_keys(keys, p, lo, hi, True)
    return _route_keys(keys, p, lo, hi, False)


@njit(cache=True, inline="always")
def _route_keys(keys, p, lo, hi, network):
    """:func:`route_keys`, with or without the network root (see :func:`.rmi.evaluate`).

    One loop per stage count, with no branch on it inside: a loop over
    :func:`.rmi.route` (which tests it per key) is 3-9x slower.
    """
    pu, pi, pf = rmi._views(p)
    lay = rmi.layout(p)
    kbu, kbf = key_bits(keys[0])
    ids = np.empty(hi - lo, dtype=np.int64)
    if lay[rmi.L_N_MID] == 0:
        for j in range(lo, hi):
            ids[j - lo] = rmi.route_root(p, lay, kbu, kbf, keys[j], network)
    else:
        mid_off, mid_w = lay[rmi.L_MID_OFF], lay[rmi.L_MID_W]
        for j in range(lo, hi):
            o = mid_off + rmi.route_root(p, lay, kbu, kbf, keys[j], network) * mid_w
            ids[j - lo] = rmi.route_mid(p, pu, pi, lay, o, keys[j])
    last = 0
    bent = 0
    for j in range(ids.shape[0]):
        if ids[j] < last:
            bent += 1
            ids[j] = last
        last = ids[j]
    return ids, bent


@njit(cache=True)
def first_routed(keys, p, lo, hi, leaf):
    """The first ``j`` in ``[lo, hi)`` whose key is routed to ``leaf`` or past it
    (``hi`` if none), for routing that is monotone over ``keys[lo:hi]``.

    ``searchsorted(route_keys(keys, p, lo, hi)[0], leaf) + lo`` without routing
    every key: O(log(hi - lo)) routes.
    """
    pu, pi, pf = rmi._views(p)
    lay = rmi.layout(p)
    kbu, kbf = key_bits(keys[0])
    network = rmi.has_network(p)    # a short search: no need to compile the network out
    while lo < hi:
        mid = (lo + hi) >> 1
        if rmi.route(p, pu, pi, lay, kbu, kbf, keys[mid], network) < leaf:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _scratch(starts):
    """Two scratch arrays (offsets and targets) as long as the longest range of ``starts``."""
    longest = 0
    for r in range(starts.shape[0] - 1):
        longest = max(longest, starts[r + 1] - starts[r])
    return np.empty(longest), np.empty(longest)


@njit(cache=True)
def _fit_records(keys, starts, p, off, width, code, scale):
    """Fit one record per range ``[starts[r], starts[r+1])`` on targets ``j * scale``."""
    pu = p.view(np.uint64)
    n_rec = starts.shape[0] - 1
    xs, ys = _scratch(starts)
    for r in range(n_rec):
        o = off + r * width
        _fit_range(keys, starts[r], starts[r + 1], p, pu, o, p[o + rmi.REC_PARAMS:o + width],
                   code, scale, xs, ys)


@njit(cache=True)
def _fit_range(keys, s, e, p, pu, o, params, code, scale, xs, ys):
    """Write the base key of the record at ``o`` (the range's first key) and fit
    ``params`` (family ``code``) over ``keys[s:e]`` on targets ``j * scale``.
    ``xs`` and ``ys`` are scratch of at least ``e - s`` floats."""
    bu, bf = key_bits(keys[min(s, keys.shape[0] - 1)])
    pu[o] = bu
    if bu == 0:
        p[o] = bf
    m = e - s
    for j in range(m):
        xs[j] = key_delta(keys[s + j], bu, bf)
        ys[j] = (s + j) * scale
    if m == 0:
        params[:] = 0.0
        params[1 if code == 2 else 0] = s * scale
    elif code == 2:
        cubic.fit(xs[:m], ys[:m], params)
    else:
        if code == 0:
            linear.fit(xs[:m], ys[:m], params)
        else:
            linear_spline.fit(xs[:m], ys[:m], params)
        _keep_in_range(params, xs[m - 1], s * scale, e * scale)


@njit(cache=True)
def _keep_in_range(params, x_last, lo, hi):
    """Make the line ``c0 + c1 x`` stay within the record's targets ``[lo, hi]`` on ``[0, x_last]``.

    A least-squares line overshoots at the ends of a curved CDF; its guesses
    past the record's own positions only widen windows (leaves) or pile keys
    of the next record onto one leaf (middle stage). The line is replaced by
    the chord between its clamped end values, which is still monotone.
    """
    c0 = params[0]
    c1 = params[1]
    y0 = min(max(c0, lo), hi)
    y1 = min(max(c0 + c1 * x_last, y0), hi)
    if y0 != c0 or y1 != c0 + c1 * x_last:
        params[0] = y0
        params[1] = (y1 - y0) / x_last if x_last > 0.0 else 0.0


@njit(cache=True)
def _set_pair(pi, o, a, b):
    pi[2 * o + 2] = np.int32(min(max(a, -_I32), _I32))
    pi[2 * o + 3] = np.int32(min(max(b, -_I32), _I32))


@njit(cache=True, inline="always")
def _mid_range(starts, r, n, n_leaves, prev):
    """The range ``[a_r, b_r]`` of leaves middle record ``r`` (over the ``n`` keys'
    positions ``[starts[r], starts[r+1])``) may route to, the previous record's
    ending at ``prev``: the leaves of its first and last positions under an even
    split of positions into leaves, never below ``prev``."""
    if starts[r + 1] == starts[r]:
        return prev, prev
    lo = max(prev, (starts[r] * n_leaves) // n)
    return lo, max(lo, ((starts[r + 1] - 1) * n_leaves) // n)


@njit(cache=True)
def _mid_ranges(keys, starts, p, n_leaves):
    """Give each middle record the range of leaves its own keys should reach
    (:func:`_mid_range`).

    The ranges are ordered, so routing is monotone across records, and a record
    whose model overshoots cannot pile its neighbour's keys onto one leaf.
    """
    pu, pi, pf = rmi._views(p)
    off = np.int64(p[rmi.H_MID_OFF])
    width = np.int64(p[rmi.H_MID_W])
    prev = 0
    for r in range(starts.shape[0] - 1):
        lo, prev = _mid_range(starts, r, keys.shape[0], n_leaves, prev)
        _set_pair(pi, off + r * width, lo, prev)


@njit(cache=True)
def _fit_compact_mid(keys, starts, p, code, scale, n_leaves):
    """Fit the compact middle records of ``p`` (family ``code``, targets ``j * scale``).

    Record ``r``'s ``c0`` is the start ``a_r`` of its range (:func:`_mid_range`),
    and its line runs from there to the fitted line's value at its last key, so
    that it routes ``q`` to ``min(max(floor(a_r + slope * (q - base)), a_r),
    a_{r+1})`` (:func:`.compact.position`; the sentinel holds ``n_leaves - 1``).
    The ranges are ordered, so routing is monotone across records. O(len(keys)).
    """
    pu, pi, pf = rmi._views(p)
    off = np.int64(p[rmi.H_MID_OFF])
    n_rec = starts.shape[0] - 1
    xs, ys = _scratch(starts)
    params = np.zeros(2)
    prev = 0
    for r in range(n_rec):
        s = starts[r]
        e = starts[r + 1]
        o = off + compact.WIDTH * r
        _fit_range(keys, s, e, p, pu, o, params, code, scale, xs, ys)
        a, prev = _mid_range(starts, r, keys.shape[0], n_leaves, prev)
        x_last = xs[e - s - 1] if e > s else 0.0
        rise = params[0] + params[1] * x_last - a
        compact.set_line(pi, pf, o, a, rise / x_last if rise > 0.0 and x_last > 0.0 else 0.0)
    pi[2 * (off + compact.WIDTH * n_rec) + 2] = np.int32(n_leaves - 1)


@njit(cache=True)
def _leaf_range(keys, p, pu, pf, form, o, s, e):
    """``(lo, hi)``: the extreme values of ``answer - guess`` over queries routed to a leaf."""
    n = keys.shape[0]
    pi = p.view(np.int32)
    lo = n
    hi = -n
    for j in range(s, e):
        g = rmi.leaf_position(p, pu, pi, pf, form, o, keys[j], n)
        lo = min(lo, j - g)
        hi = max(hi, j + 1 - g)
    if s > 0:
        hi = max(hi, s - rmi.leaf_position(p, pu, pi, pf, form, o, keys[s - 1], n))
    if e < n:
        lo = min(lo, e - rmi.leaf_position(p, pu, pi, pf, form, o, keys[e], n))
    return lo, hi


@njit(cache=True)
def _leaf_errors(keys, starts, p):
    """Clamp range, shifted intercept and window width of every leaf.

    The intercept is moved down by the most negative error so that every
    answer lies in ``[guess, guess + width]``; since rounding may move a guess
    by one, the errors are recomputed with the final parameters (same
    arithmetic as the lookup) until none is negative.
    """
    pu, pi, pf = rmi._views(p)
    off = np.int64(p[rmi.H_LEAF_OFF])
    width = np.int64(p[rmi.H_LEAF_W])
    form = np.int64(p[rmi.H_LEAF_FORM])
    c0 = rmi.REC_PARAMS + (1 if form == FORM_CUBIC else 0)
    for r in range(starts.shape[0] - 1):
        s = starts[r]
        e = starts[r + 1]
        o = off + r * width
        pi[2 * o + 2] = 0
        if s == e:
            pf[2 * o + 3] = np.float32(0.0)
            continue
        x_last = key_delta(keys[e - 1], pu[o], p[o])
        xl = np.float32(x_last)
        if np.float64(xl) < x_last:
            xl = np.nextafter(xl, np.float32(np.inf))
        pf[2 * o + 3] = xl
        lo, hi = _leaf_range(keys, p, pu, pf, form, o, s, e)
        step = 0
        while lo < 0 and step < _MAX_SHIFTS:
            p[o + c0] += lo - (0.0 if step < 4 else 2.0**step)
            lo, hi = _leaf_range(keys, p, pu, pf, form, o, s, e)
            step += 1
        if lo < 0:
            # The model is too steep to be corrected in float64 (keys closer
            # than float32 can clamp): a constant guess ``s`` with the whole
            # leaf as its window is always valid.
            p[o + rmi.REC_PARAMS:o + width] = 0.0
            p[o + c0] = s
            lo, hi = _leaf_range(keys, p, pu, pf, form, o, s, e)
        pi[2 * o + 2] = np.int32(min(hi, _I32))


@njit(cache=True)
def _line_lo(keys, p, pu, pi, o, s, e):
    """The least ``answer - floor(line)`` over the compact leaf's keys, the line unclamped:
    at most the least error of its guess where that is negative (the shift of ``c0``)."""
    lo = np.float64(keys.shape[0])
    for j in range(s, e):
        d = j - compact.line_position(p, pu, pi, o, keys[j])
        if d < lo:                      # (NaN, from an infinite key, is left out)
            lo = d
    return lo


@njit(cache=True)
def _fit_compact(keys, starts, p, code):
    """Fit the compact leaf records of ``p`` (family ``code``) and set their windows.

    Last leaf first: a leaf's guess is capped by the next record's ``c0``
    (the sentinel after the last leaf holds ``starts[-1]``). Per leaf, the
    line is fitted as for a 32-byte record, then ``c0 = s`` is shifted down
    until no answer lies below the guess (by the unclamped line's most
    negative error, never above the guess's), and the window code is the
    least that covers the widest answer (:func:`_leaf_range`, the lookup's
    arithmetic). A leaf whose line cannot be corrected (a slope beyond
    float32, or too steep for float64) becomes the constant ``s``. O(n).
    """
    pu, pi, pf = rmi._views(p)
    off = np.int64(p[rmi.H_LEAF_OFF])
    n_rec = starts.shape[0] - 1
    pi[2 * (off + compact.WIDTH * n_rec) + 2] = np.int32(starts[n_rec])
    xs, ys = _scratch(starts)
    params = np.zeros(2)
    for r in range(n_rec - 1, -1, -1):
        s = starts[r]
        e = starts[r + 1]
        o = off + compact.WIDTH * r
        _fit_range(keys, s, e, p, pu, o, params, code, 1.0, xs, ys)
        compact.set_line(pi, pf, o, s, params[1])
        lo, hi = _leaf_range(keys, p, pu, pf, FORM_COMPACT, o, s, e)
        step = 0
        while lo < 0 and step < _MAX_SHIFTS:
            shift = max(min(_line_lo(keys, p, pu, pi, o, s, e), -1.0), -2.0 * _I32)
            pi[2 * o + 2] = np.int32(max(np.int64(pi[2 * o + 2]) + np.int64(shift), -_I32))
            lo, hi = _leaf_range(keys, p, pu, pf, FORM_COMPACT, o, s, e)
            step += 1
        if lo < 0:      # the constant s: its guesses are at most s, at most each answer
            compact.set_line(pi, pf, o, s, 0.0)
            lo, hi = _leaf_range(keys, p, pu, pf, FORM_COMPACT, o, s, e)
        compact.set_code(pi, o, compact.encode(max(hi, 0)))


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


def _add_fences(keys, starts, p, max_window, max_bytes=None):
    """Make fence leaves of the leaves whose window exceeds ``max_window``; return the blob.

    Only leaves of more keys than one fence covers qualify; a fence covers
    :func:`.fences.fence_keys` of ``max_window`` keys. The fence areas
    are appended to the blob, which is reallocated once; None if they would
    take it past ``max_bytes``. O(n / F).
    """
    offsets, widths = rmi.leaf_records(p)
    per = fences.fence_keys(max_window, keys.itemsize)
    fence = fences.fenced(widths, np.diff(starts), max_window, keys.itemsize)
    chosen = np.flatnonzero(fence).astype(np.int64)
    if chosen.size == 0:
        return p
    extra = int(fences.area_sizes(starts, chosen, per).sum())
    if max_bytes is not None and 8 * (p.size + extra) > max_bytes:
        return None
    out = _aligned_zeros(p.size + extra)
    out[:p.size] = p
    areas = np.empty(chosen.size, dtype=np.int64)
    out[rmi.H_FENCE_DEPTH] = fences.write_fences(keys, starts, out, chosen, p.size, per, areas)
    rmi.mark_fence_leaves(out, offsets[chosen], areas)
    return out


#: leaves that hold at most this share of the keys do not get narrowing steps of their own
NARROW_SHARE = 0.01


def steps_for_most(need, weight):
    """The least value of ``need`` (narrowing steps, or window widths) such that the
    entries that need more hold at most :data:`NARROW_SHARE` of the ``weight`` (keys,
    or drawn lookups).

    >>> steps_for_most([0, 1, 2, 3], [90, 9, 0.5, 0.5])
    1
    """
    need = np.asarray(need)
    weight = np.asarray(weight, dtype=np.float64)
    order = np.argsort(need)[::-1]      # most first (the order of ties changes nothing)
    held = np.cumsum(weight[order])
    k = int(np.searchsorted(held, NARROW_SHARE * held[-1], side="right")) if held.size else 0
    return int(need[order[k]]) if k < order.size else 0


def narrowing_steps(p, starts, itemsize):
    """The header field ``narrowing steps`` of blob ``p``: the steps that narrow the
    windows of all but :data:`NARROW_SHARE` of the keys (see :func:`.wide.narrow`).
    A fence leaf's marked width (-1) needs none.

    Each step costs every query a batch sets aside for narrowing a stage of
    :func:`.wide.narrow_pass`; the few wider windows are narrowed as far as
    these steps go, then searched.
    """
    _, widths = rmi.leaf_records(p)
    # steps never fall as the width grows: the steps of the 1% width are the field
    return wide.narrow_steps(steps_for_most(widths, np.diff(starts)), fences.keys_per_line(itemsize))


def _line_up(offset):
    """The first offset (in floats) at or past ``offset`` that starts a 64-byte line."""
    return -(-offset // 8) * 8


def skeleton(keys, stages, n_leaves, n_mid=0, mlp_hidden=(16,), seed=0, step=1, n_total=None):
    """The blob of an RMI with trained root and middle stages and unfitted leaves.

    ``keys`` may be a systematic sample (every ``step``-th key) of ``n_total``
    keys: targets are then the keys' positions in the full array, so that the
    upper stages route the full keys much as a full build's would (the tuner
    estimates leaf windows this way, see :mod:`.tune`). O(len(keys)).
    """
    n = keys.shape[0]
    n_total = n if n_total is None else n_total
    root_family, leaf_family = stages[0], stages[-1]
    mid_family = stages[1] if len(stages) == 3 else None
    root_form = FAMILIES[root_family][1]
    leaf_form = FAMILIES[leaf_family][1]
    mid_form = FAMILIES[mid_family][1] if mid_family else FORM_LINEAR
    top = n_mid if mid_family else n_leaves

    x = _offsets(keys, 0, n, keys[0])
    y = np.arange(n, dtype=np.float64) * (step * top / n_total)
    root = _fit_root(root_family, x, y, mlp_hidden, seed)
    del x, y

    leaf_form = rmi.leaf_form(leaf_form, n_total)
    mid_form = rmi.leaf_form(mid_form, n_leaves)
    mid_w = rmi.record_width(mid_form) if mid_family else 0
    leaf_w = rmi.record_width(leaf_form)
    root_off = rmi.HEADER
    mid_off = _line_up(root_off + root.size)
    mid_slots = rmi.leaf_slots(n_mid, mid_form) if mid_family else 0
    leaf_off = _line_up(mid_off + mid_slots * mid_w)
    p = _aligned_zeros(leaf_off + rmi.leaf_slots(n_leaves, leaf_form) * leaf_w)
    p[:rmi.HEADER] = 0.0
    p[rmi.H_N] = n_total
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
    p[root_off:root_off + root.size] = root

    if mid_family:
        # Route to middle records with the root alone: a 2-stage view of the blob.
        p[rmi.H_N_MID] = 0
        p[rmi.H_N_LEAVES] = n_mid
        ids, _ = route_keys(keys, p, 0, n)
        p[rmi.H_N_MID] = n_mid
        p[rmi.H_N_LEAVES] = n_leaves
        mid_starts = _starts(ids, n_mid)
        scale = step * n_leaves / n_total
        if mid_form == FORM_COMPACT:
            _fit_compact_mid(keys, mid_starts, p, LEAF_CODES[mid_family], scale, n_leaves)
        else:
            _fit_records(keys, mid_starts, p, mid_off, mid_w, LEAF_CODES[mid_family], scale)
            _mid_ranges(keys, mid_starts, p, n_leaves)
    return p


@njit(cache=True)
def fit_leaves(keys, starts, p, code):
    """Fit the leaf records of ``p`` (family code ``code``, see :data:`.models.LEAF_CODES`)
    over the ranges ``starts`` and set their windows. O(n)."""
    if np.int64(p[rmi.H_LEAF_FORM]) == FORM_COMPACT:
        _fit_compact(keys, starts, p, code)
        return
    _fit_records(keys, starts, p, np.int64(p[rmi.H_LEAF_OFF]), np.int64(p[rmi.H_LEAF_W]), code, 1.0)
    _leaf_errors(keys, starts, p)


#: largest sample the upper stages are trained on
UPPER_SAMPLE = 1 << 19


def sample_step(n):
    """Step of the systematic sample (every ``step``-th key) the upper stages of an
    index over ``n`` keys are trained on: at most :data:`UPPER_SAMPLE` keys."""
    return max(1, -(-n // UPPER_SAMPLE))


def upper_sample(keys, step):
    """The systematic sample ``keys[::step]``, contiguous and read-only like the keys
    (the compiled kernels' layout)."""
    return keys if step == 1 else _coerce.frozen(np.ascontiguousarray(keys[::step]))


def build(keys, stages, n_leaves, n_mid=0, mlp_hidden=(16,), seed=0, max_window=None,
          max_bytes=None):
    """Train an RMI over sorted, non-empty ``keys``; return ``(blob, info)``.

    The root and middle stages are trained on a systematic sample of at most
    :data:`UPPER_SAMPLE` keys (see :func:`skeleton`), the leaves on every key.
    At 10**7 keys this routes as well as training on every key or better (on
    the ``books`` set, mean log2 window 4.42 against 5.95 for a 3-stage index
    of 2**16 leaves) in half the time, and it is exactly what the tuner's
    estimates assume (:func:`.tune.estimate`).

    Parameters
    ----------
    keys : ndarray
        Sorted keys of a supported dtype, length >= 1.
    stages : tuple of str
        ``(root, leaf)`` or ``(root, middle, leaf)`` family names.
    n_leaves, n_mid : int
        Number of leaf models and of middle models (3 stages only).
    max_window : int or None
        Leaves whose window is wider become fence leaves (the hybrid index,
        see :mod:`.fences`); None keeps every model.
    max_bytes : int, optional
        Fence leaves are only made if the blob stays within this size.

    Returns
    -------
    blob : ndarray of float64
        The model blob (see :mod:`.rmi`).
    info : dict
        ``starts`` (first key of each leaf, plus n), ``bent`` (keys whose
        computed route had to be straightened; 0 for monotone models),
        ``max_window`` (None if ``max_bytes`` left no room for fence leaves)
        and ``build_seconds``.
    """
    t0 = time.perf_counter()
    n = keys.shape[0]
    step = sample_step(n)
    p = skeleton(upper_sample(keys, step), stages, n_leaves, n_mid, mlp_hidden, seed, step=step,
                 n_total=n)
    ids, bent = route_keys(keys, p, 0, n)
    starts = _starts(ids, n_leaves)
    del ids
    fit_leaves(keys, starts, p, LEAF_CODES[stages[-1]])
    if max_window is not None:
        fenced = _add_fences(keys, starts, p, max_window, max_bytes)
        if fenced is None:
            max_window = None
        else:
            p = fenced
    p[rmi.H_NARROW] = narrowing_steps(p, starts, keys.itemsize)
    return p, {"starts": starts, "bent": int(bent), "max_window": max_window,
               "build_seconds": time.perf_counter() - t0}
