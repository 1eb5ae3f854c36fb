"""Arithmetic shared by every model family: exact key offsets and position clamping.

Models never see raw 64-bit keys as floats. A key is first turned into an
*offset* from a base key of the same dtype, computed in integer arithmetic
(the way PGM-index and RadixSpline do it), and only that offset is rounded to
float64. Dense keys near ``2**64`` therefore keep their resolution.

Integer keys are mapped to ``uint64`` by an order-preserving map (signed types
flip the sign bit), so one subtraction rule serves every integer dtype and
offsets never overflow. Float keys subtract in float64.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_SIGN = np.uint64(1 << 63)


def ordered_u64(k):
    """Order-preserving map of an integer key to ``uint64`` (jitted; see overload)."""
    raise NotImplementedError("ordered_u64 is only callable from jitted code")


@overload(ordered_u64, inline="always")
def _ordered_u64(k):
    if isinstance(k, types.Integer) and k.signed:
        def impl(k):
            return np.uint64(np.int64(k)) ^ _SIGN
        return impl
    if isinstance(k, types.Integer):
        def impl(k):
            return np.uint64(k)
        return impl
    return None


def key_delta(q, base_u, base_f, spread=False):
    """Signed float64 offset ``q - base`` computed exactly before rounding (jitted).

    ``base_u`` is the base key under :func:`ordered_u64` (integer keys) and
    ``base_f`` the base key itself (float keys); the unused one is ignored.
    The result is monotone non-decreasing in ``q``. ``spread`` (a compile-time
    constant) is for a model over keys that may span ``2**63`` or more, such
    as a root: the conversion then takes no branch on the offset's size (see
    :func:`_u64_to_f64`). Both ways give the same correctly rounded value.
    """
    raise NotImplementedError("key_delta is only callable from jitted code")


@overload(key_delta, inline="always")
def _key_delta(q, base_u, base_f, spread=False):
    if isinstance(q, types.Float):
        def impl(q, base_u, base_f, spread=False):
            return np.float64(q) - base_f
        return impl
    if isinstance(q, types.Integer):
        def impl(q, base_u, base_f, spread=False):
            u = ordered_u64(q)
            if u >= base_u:
                return _u64_to_f64(u - base_u, spread)
            return -_u64_to_f64(base_u - u, spread)
        return impl
    return None


def key_bits(k):
    """The record encoding of a base key: ``(base_u, base_f)`` (jitted)."""
    raise NotImplementedError("key_bits is only callable from jitted code")


@overload(key_bits, inline="always")
def _key_bits(k):
    if isinstance(k, types.Float):
        def impl(k):
            return np.uint64(0), np.float64(k)
        return impl
    if isinstance(k, types.Integer):
        def impl(k):
            return ordered_u64(k), np.float64(0.0)
        return impl
    return None


@njit(cache=True, inline="always")
def spread(first, last):
    """Do the keys from ``first`` to ``last`` span ``2**63`` or more, so that the
    offsets of a model over all of them (a root) may take either conversion of
    :func:`_u64_to_f64`? Never for float keys."""
    return key_bits(last)[0] - key_bits(first)[0] >= _SIGN


@intrinsic
def _opaque(typingctx, x):
    """``x``, through an empty inline assembly block that the optimiser cannot see into."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.args[0])
        return builder.asm(ir.FunctionType(ty, [ty]), "", "=r,0", [args[0]], False)

    return x(x), codegen


@njit(cache=True)
def _u64_to_f64(d, spread):
    """``np.float64(d)`` for a ``uint64`` offset, by the one-instruction signed
    conversion where ``d < 2**63``: the same correctly rounded value, where on
    x86 without AVX-512 the unsigned conversion is five dependent instructions.
    LLVM would fold the two conversions back into the unsigned one, so the
    signed one converts an opaque copy of ``d``.

    With ``spread``, always the unsigned conversion: over keys that span
    ``2**63`` or more (``uniform_sparse``, ``osm``) the branch on ``d`` would go
    either way at random, and a mispredicted branch costs more than the five
    instructions."""
    if spread:
        return np.float64(d)
    if d < _SIGN:
        return np.float64(_opaque(np.int64(d)))
    return np.float64(d)


@njit(cache=True, inline="always")
def clamp_index(pred, hi):
    """``floor(pred)`` clamped to ``[0, hi]``; NaN maps to 0. Monotone in ``pred``."""
    if not pred > 0.0:
        return 0
    if pred >= hi:
        return hi
    return np.int64(pred)
