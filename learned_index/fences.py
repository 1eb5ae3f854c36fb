"""Fence leaves: the hybrid index's replacement for a leaf its model fits badly.

The paper's section 3.5: where a leaf's error stays large after training,
swap its model for a B-tree-like structure over that leaf's keys, so that the
worst case costs what a B-tree costs while well-modelled regions keep the
learned speed. A *fence leaf* is one level of such a tree: the keys at every
``F``-th position of the leaf (``F`` keys = one cache line), stored in order in
the model blob. A query routed to the leaf searches the fences, then at most
``F`` keys.

Layout: the leaf record's window width is ``-1`` (a marker) and its first
parameter is the offset ``f`` of the fence area in the blob::

    p[f] = s, p[f + 1] = e, p[f + 2] = c        the leaf's keys are K[s:e]; c fences
    p[f + 3 + i]                                image of K[s + i * F], i < c

Fences are stored as the record base keys are (see :mod:`.rmi`): the
order-preserving ``uint64`` image of an integer key, or the float64 key, so
comparing a query with a fence is exact.

**Window.** Let ``i`` be the number of fences before the query (``< q`` for a
lower bound, ``<= q`` for an upper bound). Every query routed to the leaf has
its answer in ``[s, e]`` (routing is monotone and the leaf holds exactly
``K[s:e]``); fence ``i - 1`` lies before the answer and fence ``i`` does not,
so the answer lies in ``[s + (i - 1) F + 1, min(s + i F, e)]`` (``[s, s]``
for ``i = 0``). As everywhere, :func:`.search.settle` verifies the result.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .models.common import key_bits, ordered_u64

#: marker stored as the window width of a fence leaf
FENCE_MARK = -1
#: floats before the fences in a fence area
AREA_HEADER = 3


@njit(cache=True, inline="always")
def keys_per_fence(itemsize):
    """``F``: keys per fence, one 64-byte cache line of keys (at least 2)."""
    return max(64 // itemsize, 2)


def fence_before(pu, p, j, q, right):
    """Does the fence at ``p[j]`` lie before the answer for ``q``? (jitted, exact)"""
    raise NotImplementedError("fence_before is only callable from jitted code")


@overload(fence_before, inline="always")
def _fence_before(pu, p, j, q, right):
    if isinstance(q, types.Float):
        def impl(pu, p, j, q, right):
            k = p[j]
            return k <= q if right else k < q
        return impl
    if isinstance(q, types.Integer):
        def impl(pu, p, j, q, right):
            k = pu[j]
            u = ordered_u64(q)
            return k <= u if right else k < u
        return impl
    return None


@njit(cache=True, inline="always")
def fence_window(p, pu, f, q, right, per):
    """``(lo, hi)``: the keys a query routed to the fence leaf at ``p[f:]`` must search.

    O(log c) comparisons on the fences, which are contiguous in the blob.
    """
    s = np.int64(p[f])
    e = np.int64(p[f + 1])
    lo = 0
    hi = np.int64(p[f + 2])
    base = f + AREA_HEADER
    while lo < hi:
        mid = (lo + hi) >> 1
        if fence_before(pu, p, base + mid, q, right):
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return s, s
    return s + (lo - 1) * per + 1, min(s + lo * per, e)


def area_sizes(starts, chosen, per):
    """Floats of the fence area of each chosen leaf."""
    sizes = np.diff(starts)[chosen]
    return AREA_HEADER + -(-sizes // per)


@njit(cache=True)
def write_fences(keys, starts, p, leaf_off, leaf_w, rec_params, chosen, area_off, per):
    """Turn the chosen leaves into fence leaves, their areas from ``p[area_off:]``. O(n / F).

    ``rec_params`` is the offset of a record's parameters (:data:`.rmi.REC_PARAMS`).
    """
    pu = p.view(np.uint64)
    pi = p.view(np.int32)
    f = area_off
    for t in range(chosen.shape[0]):
        r = chosen[t]
        s = starts[r]
        e = starts[r + 1]
        c = (e - s + per - 1) // per
        p[f] = s
        p[f + 1] = e
        p[f + 2] = c
        for i in range(c):
            bu, bf = key_bits(keys[s + i * per])
            pu[f + AREA_HEADER + i] = bu
            if bu == 0:
                p[f + AREA_HEADER + i] = bf
        o = leaf_off + r * leaf_w
        pi[2 * o + 2] = FENCE_MARK
        p[o + rec_params] = f
        f += AREA_HEADER + c
    return f
