"""Last-mile search kernels: find the exact position inside a model's window.

Every kernel answers the same question: the first index ``i`` in ``[lo, hi)``
with ``keys[i] >= q`` (``right=False``, lower bound) or ``keys[i] > q``
(``right=True``, upper bound), or ``hi`` when there is none. Comparisons are
made on the keys' own dtype, never on a float image of them.

:func:`settle` makes any candidate exact: it checks the two neighbours of a
result and, should a window ever have missed (it does not for a correct
error bound), finishes with an exponential search over the whole array.
The learned index and the B+tree share these kernels, so that both pay the
same last-mile cost (as in SOSD).
"""
import numpy as np
from numba import njit

from ._pointer import at
from ._prefetch import prefetch
from ._select import select

BINARY = 0
BRANCHLESS = 1
EXPONENTIAL = 2
LINEAR = 3
SEARCH_KINDS = {"binary": BINARY, "branchless": BRANCHLESS,
                "exponential": EXPONENTIAL, "linear": LINEAR}


@njit(cache=True, inline="always")
def before(k, q, right):
    """Does key ``k`` lie before the answer for query ``q``?"""
    if right:
        return k <= q
    return k < q


@njit(cache=True)
def binary(keys, q, lo, hi, right):
    """Classic branchy binary search on ``[lo, hi)``. O(log(hi - lo))."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if before(at(keys, mid), q, right):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def branchless(keys, q, lo, hi, right):
    """Branch-free binary search (conditional moves) on ``[lo, hi)``. O(log(hi - lo))."""
    n = hi - lo
    if n <= 0:
        return lo
    base = lo
    while n > 1:
        half = n >> 1
        base = select(before(at(keys, base + half), q, right), base + half, base)
        n -= half
    return select(before(at(keys, base), q, right), base + 1, base)


@njit(cache=True)
def linear(keys, q, lo, hi, right):
    """Sequential scan of ``[lo, hi)``: fastest for windows of a few keys. O(hi - lo)."""
    while lo < hi and before(keys[lo], q, right):
        lo += 1
    return lo


@njit(cache=True)
def exponential(keys, q, lo, hi, p, right):
    """Gallop from the guess ``p`` (clamped to ``[lo, hi]``), then binary search.

    O(log d) where d is the distance from ``p`` to the answer.
    """
    p = min(max(p, lo), hi)
    if p < hi and before(keys[p], q, right):
        bound = 1
        while p + bound < hi and before(keys[p + bound], q, right):
            bound *= 2
        return binary(keys, q, p + (bound >> 1) + 1, min(p + bound, hi), right)
    bound = 1
    while p - bound >= lo and not before(keys[p - bound], q, right):
        bound *= 2
    return binary(keys, q, max(p - bound + 1, lo), p - (bound >> 1), right)


@njit(cache=True, inline="always")
def in_window(keys, q, lo, hi, p, kind, right):
    """Search ``[lo, hi)`` with the kernel ``kind`` (one of the constants above)."""
    if kind == BRANCHLESS:
        return branchless(keys, q, lo, hi, right)
    if kind == EXPONENTIAL:
        return exponential(keys, q, lo, hi, p, right)
    if kind == LINEAR:
        return linear(keys, q, lo, hi, right)
    return binary(keys, q, lo, hi, right)


@njit(cache=True, inline="always")
def settle(keys, q, r, right):
    """Return ``r`` if it is the exact answer, else find it by exponential search.

    Two comparisons when ``r`` is right, which is always the case after a
    search in a window that satisfies the index's error bounds.
    """
    n = keys.shape[0]
    if (r > 0 and not before(at(keys, r - 1), q, right)) or (r < n and before(at(keys, r), q, right)):
        return exponential(keys, q, np.int64(0), n, r, right)
    return r


@njit(cache=True, inline="always")
def members(keys, qs, pos, out, a, c, ahead):
    """``out[a + k]``: is ``qs[a + k]`` the key at its lower bound ``pos[k]``, for
    ``k < c``. The key of the query ``ahead`` places on is prefetched: a batch
    checks a chunk right after the chunk's lookups, whose key lines are then
    mostly still in the L2 (``docs/tuning-log.md``, "Membership a chunk at a
    time"). O(c).
    """
    n = keys.shape[0]
    for k in range(c):
        if k + ahead < c and pos[k + ahead] < n:
            prefetch(keys, pos[k + ahead])
        out[a + k] = pos[k] < n and keys[pos[k]] == qs[a + k]
