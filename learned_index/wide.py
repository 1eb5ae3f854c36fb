"""Wide windows: what a batch lookup does with a window of many cache lines of keys.

A window of up to :data:`PREFETCH_LINES` lines is prefetched whole, so that
its misses overlap; a batch sets a wider one aside (see
:func:`.batch.bound_range`) and *narrows* it in a pass of its own
(:func:`narrow_pass`), one k-ary step over the keys themselves per stage of
that pass's pipeline, until it is that narrow. Nothing is stored for it: the
steps a batch takes are a header field of the blob (see
:func:`.train.narrowing_steps`).
"""
import numpy as np
from numba import njit

from . import search as _search
from ._pointer import at, put
from ._prefetch import prefetch
from .fences import line_keys

#: windows of at most this many cache lines are prefetched whole
PREFETCH_LINES = 16


@njit(cache=True, inline="always")
def prefetch_window(keys, lo, hi):
    """Ask for the cache lines of ``keys[lo:hi]`` at once, so that the misses of the
    search overlap. The keys just outside the window are not asked for: of the
    two neighbours of an answer that :func:`.search.settle` reads, one is
    outside only for an answer at an end of the window, and fetching them for
    every lookup costs more (``docs/tuning-log.md``, "Root offsets without a branch,
    windows without their neighbours").

    A window of at most ``3 * per_line`` keys (at most four lines, the
    windows of most lookups on smooth data) is asked for with four prefetches
    and no loop: the trip count of the loop varies with the window's width and
    its exit was mispredicted for many lookups (up to 10% of a batch's time,
    ``docs/tuning-log.md``, "Window prefetch without a loop"). Windows above
    :data:`PREFETCH_LINES` lines get their middle and ends only.
    """
    last = hi - 1
    per_line = line_keys(keys)
    if last - lo < 3 * per_line:
        prefetch(keys, lo)
        prefetch(keys, min(lo + per_line, last))
        prefetch(keys, min(lo + 2 * per_line, last))
    elif last - lo < PREFETCH_LINES * per_line:
        for i in range(lo, last, per_line):
            prefetch(keys, i)
    else:
        prefetch(keys, lo)
        prefetch(keys, (lo + last) >> 1)
    prefetch(keys, max(last, 0))


#: a narrowing step splits a window into at most this many pieces (see :func:`narrow`)
NARROW_PIECES = 8
#: ... of at least this many cache lines of keys
NARROW_LINES = 8


@njit(cache=True, inline="always")
def narrowed(width, per_line):
    """Is a window of ``width`` keys (``per_line`` to a cache line) narrowed by a batch
    before its keys are prefetched? Exactly those :func:`prefetch_window` would not
    prefetch whole."""
    return width >= PREFETCH_LINES * per_line


@njit(cache=True, inline="always")
def _stride(lo, hi, per_line):
    """Keys per piece when :func:`narrow` splits the window ``[lo, hi]``."""
    return max(NARROW_LINES * per_line, (hi - lo + NARROW_PIECES - 1) // NARROW_PIECES)


def narrowing(width, per_line=8, limit=None):
    """``(steps, left)``, elementwise over the window widths ``width`` (keys, ``per_line``
    to a cache line): the narrowing steps a batch takes, at most ``limit``, and the
    keys left to search after them (see :func:`narrow`).

    >>> narrowing([100, 512, 4097], limit=2)
    (array([0, 1, 2]), array([100,  64,  65]))
    """
    piece = NARROW_LINES * per_line
    left = np.asarray(width, dtype=np.int64)
    steps = np.zeros(left.shape, dtype=np.int64)
    more = left >= PREFETCH_LINES * per_line      # as narrowed()
    while True:
        more &= (left > piece) & (limit is None or steps < limit)
        if not more.any():
            return steps, left
        steps += more
        left = np.where(more, np.maximum(piece, -(-left // NARROW_PIECES)), left)


def narrow_steps(width, per_line=8):
    """Narrowing steps a batch takes on a window of ``width`` keys before it prefetches
    the rest whole (:func:`narrowing` without a limit); elementwise for an array.

    >>> narrow_steps(127), narrow_steps(128), narrow_steps(512), narrow_steps(513)
    (0, 1, 1, 2)
    >>> narrow_steps(np.array([0, 4096, 4097]))
    array([0, 2, 3])
    """
    steps = narrowing(width, per_line)[0]
    return steps if steps.ndim else int(steps)


@njit(cache=True, inline="always")
def prefetch_splitters(keys, lo, hi, per_line):
    """Ask for the keys :func:`narrow` will compare (one cache line each)."""
    st = _stride(lo, hi, per_line)
    for s in range(lo + st, hi, st):
        prefetch(keys, s)


@njit(cache=True, inline="always")
def narrow(keys, q, lo, hi, right, per_line):
    """One step of a search of the window ``[lo, hi]`` that holds the answer: compare
    ``q`` with the splitters ``keys[lo + k * stride]`` (at most ``NARROW_PIECES - 1``)
    and return the piece ``[a, b]`` that holds it, of at most ``stride`` keys.

    A batch prefetches a window of up to :data:`PREFETCH_LINES` lines whole, and
    only the ends and middle of a wider one, whose search then waits on miss
    after miss. Narrowed first (splitters, then one piece, each prefetched a
    step ahead) it costs fewer lines and no wait: a k-ary search over the keys
    themselves, nothing stored. Narrowing narrower windows was slower.
    """
    st = _stride(lo, hi, per_line)
    a = lo
    s = lo + st
    while s < hi and _search.before(at(keys, s), q, right):
        a = s + 1
        s += st
    return a, min(s, hi)


#: queries per chunk of a batch whose wide windows are searched in a pass of their own
DEFER_CHUNK = 4096
#: queries between consecutive steps of a query in that pass (as :data:`.rmi.LEAD`; 12 was
#: no faster)
DEFER_LEAD = 8


@njit(cache=True, nogil=True)
def narrow_pass(keys, qs, out, dq, dlo, dhi, m, steps, right, kind):
    """Answer the queries ``qs[dq[:m]]`` whose windows ``[dlo, dhi]`` are wide, into ``out``.

    A software pipeline of its own: query ``t`` has its splitters prefetched at
    iteration ``t``, is narrowed (:func:`narrow`) at each of up to ``steps``
    later steps, each :data:`DEFER_LEAD` iterations apart, with the next
    splitters or the piece prefetched, and is searched at the step after.
    Every query of this pass takes the same path. O(m * steps).
    """
    per_line = line_keys(keys)
    piece = NARROW_LINES * per_line
    for i in range(m + (steps + 1) * DEFER_LEAD):
        if i < m:
            prefetch_splitters(keys, dlo[i], dhi[i], per_line)
        for s in range(steps):
            t = i - (s + 1) * DEFER_LEAD
            # every window set aside is wider than a piece; one a step left at most a
            # piece wide (or the last step) has its keys prefetched and takes no more
            if 0 <= t < m and dhi[t] - dlo[t] > piece:
                a, b = narrow(keys, at(qs, dq[t]), dlo[t], dhi[t], right, per_line)
                dlo[t], dhi[t] = a, b
                if s < steps - 1 and b - a > piece:
                    prefetch_splitters(keys, a, b, per_line)
                else:
                    prefetch_window(keys, a, b)
        t = i - (steps + 1) * DEFER_LEAD
        if 0 <= t < m:
            q = at(qs, dq[t])
            r = _search.in_window(keys, q, dlo[t], dhi[t], dlo[t], kind, right)
            put(out, dq[t], _search.settle(keys, q, r, right))
