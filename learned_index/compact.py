"""Compact records: a linear leaf (or middle record) in 16 bytes instead of 32.

A leaf of the linear form needs a base key, a line and a window width. The
32-byte record (see :mod:`.rmi`) stores the line as two float64 and adds
``x_last``, the clamp of the offset at the leaf's last key. The compact
record, four to a cache line, keeps only what a guess needs::

    pu[o]        base key image (as the 32-byte record's), or a fence leaf's area offset
    pi[2o + 2]   c0, int32: the guess at offset 0
    pi[2o + 3]   slope, a float32 whose low CODE_BITS mantissa bits hold the window code

and reads one field of the record after it: that record's ``c0``, which is
at most the position of the next leaf's first key, caps the guess in place
of ``x_last`` (a query past the leaf's last key is guessed no further than
where the next leaf starts). A sentinel record after the last leaf holds
``c0 = n``. The guess for ``q`` is::

    g = min(clamp(floor(c0 + slope * max(q - base, 0)), 0, n), max(c0_next, 0))

monotone in ``q``, so :mod:`.train` bounds its error exactly as for any
leaf, with the same arithmetic. The lookup masks the code bits off the slope
(:func:`slope`): the slope keeps 11 mantissa bits, a relative error of at
most 2**-11 that the bounds absorb, and a zero slope stays exactly zero
(with code bits it would be a denormal, and float keys' offsets reach 1e308).

The window code ``c`` (12 bits) is ``(c & 511) << 2 * (c >> 9)`` keys, at
most 1/128 above the width it stands for; :data:`UNBOUNDED` means the rest
of the array and :data:`FENCE_CODE` marks a fence leaf. ``c0`` is an int32,
so compact records serve up to :data:`MAX_KEYS` keys; above, linear leaves
keep the 32-byte record.

A linear *middle* record is compact too (in an index of at most
:data:`MAX_KEYS` leaves): its ``c0`` is the first leaf of its range, the next
record's ``c0`` caps its guess and the sentinel holds the last leaf, so
:func:`position` with ``n = n_leaves - 1`` routes a query (see
:func:`.train._fit_compact_mid`). The range of leaves a 32-byte middle record
stores as ``[a, b]`` is then ``[c0, c0_next]``: ordered across records as
before, so routing stays monotone.

At 10**7 keys the compact record halves the leaves' bytes for the same
windows (mean log2 window at most 0.08 above the 32-byte record's), and at
the same bytes it holds twice the leaves (figures in ``docs/tuning-log.md``,
"Compact leaf records (16 bytes), kept").
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .models.common import clamp_index, key_delta

#: floats per compact record
WIDTH = 2
#: low mantissa bits of the slope that hold the window code
CODE_BITS = 12
CODE_MASK = (1 << CODE_BITS) - 1
#: window code of a window reaching the end of the array
UNBOUNDED = CODE_MASK
#: window code of a fence leaf
FENCE_CODE = CODE_MASK - 1
#: most keys an index with compact records may have (its ``c0`` are int32)
MAX_KEYS = 2**31 - 2
#: the width :func:`decode` gives an unbounded window (lookups clamp it to ``n``)
_FAR = 1 << 40


@njit(cache=True, inline="always")
def decode(c):
    """Window width of the window code ``c`` (:data:`UNBOUNDED`: ``2**40``)."""
    if c == UNBOUNDED:
        return np.int64(_FAR)
    return np.int64(c & 511) << (2 * np.int64(c >> 9))


@njit(cache=True)
def encode(w):
    """The least window code whose width is at least ``w`` (never :data:`FENCE_CODE`).

    >>> [decode(encode(w)) for w in (0, 511, 512, 2049, 10**7)]
    [0, 511, 512, 2064, 1099511627776]
    """
    for e in range(8):
        m = -(-w // (np.int64(1) << (2 * e)))
        if m <= 511:
            c = (e << 9) | m
            return UNBOUNDED if c >= FENCE_CODE else c
    return UNBOUNDED


@njit(cache=True)
def decode_all(codes):
    """:func:`decode` elementwise over an int64 array of codes."""
    out = np.empty(codes.shape[0], dtype=np.int64)
    for i in range(codes.shape[0]):
        out[i] = decode(codes[i])
    return out


@njit(cache=True, inline="always")
def code(pi, o):
    """The window code of the compact record at ``o``."""
    return np.int64(pi[2 * o + 3]) & CODE_MASK


@intrinsic
def _as_float32(typingctx, bits):
    """The float32 whose bit pattern is the int32 ``bits``."""
    if not (isinstance(bits, types.Integer) and bits.bitwidth == 32):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(bits), codegen


@njit(cache=True, inline="always")
def slope(pi, o):
    """The slope of the compact record at ``o``, its code bits masked off (float64)."""
    return np.float64(_as_float32(np.int32(pi[2 * o + 3] & np.int32(~CODE_MASK))))


@njit(cache=True, inline="always")
def position(p, pu, pi, o, q, n):
    """The compact record's guess for ``q`` (see the module's docstring). O(1)."""
    x = max(key_delta(q, pu[o], p[o]), 0.0)
    g = clamp_index(np.float64(pi[2 * o + 2]) + slope(pi, o) * x, n)
    return min(g, max(np.int64(pi[2 * o + 2 + 2 * WIDTH]), 0))


@njit(cache=True, inline="always")
def line_position(p, pu, pi, o, q):
    """``floor(c0 + slope * max(q - base, 0))`` without the clamps: never above
    :func:`position` where that is positive (the trainer's shift of ``c0``)."""
    x = max(key_delta(q, pu[o], p[o]), 0.0)
    return np.floor(np.float64(pi[2 * o + 2]) + slope(pi, o) * x)


@njit(cache=True)
def set_line(pi, pf, o, c0, s):
    """Write ``c0`` and the slope ``s`` (as float32, 0 where that is not finite) into the
    record at ``o``; its window code is then 0."""
    pi[2 * o + 2] = np.int32(c0)
    f = np.float32(s)
    pf[2 * o + 3] = f if np.isfinite(f) else np.float32(0.0)
    pi[2 * o + 3] = pi[2 * o + 3] & np.int32(~CODE_MASK)


@njit(cache=True)
def set_code(pi, o, c):
    """Replace the window code of the record at ``o`` (the slope's low bits)."""
    pi[2 * o + 3] = (pi[2 * o + 3] & np.int32(~CODE_MASK)) | np.int32(c)
