"""A conditional move for jitted kernels: ``a if c else b`` that stays branch-free.

LLVM turns a ternary into a ``select``, and on x86 its cmov-conversion pass
makes a ``select`` whose condition waits on a load inside a loop into a
branch again, betting that the branch predicts well. In a search over a
window of keys it does not: each step mispredicts half the time, and a
mispredict discards the work of the queries behind it in a batch.
:func:`select` marks its ``select`` ``!unpredictable``, which the pass
respects, so the comparison's result feeds a ``cmov``.
"""
from numba import types
from numba.extending import intrinsic


@intrinsic
def select(typingctx, c, a, b):
    """``a if c else b`` as a conditional move (``a`` and ``b`` of one type)."""
    if not isinstance(c, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        cond = context.cast(builder, args[0], signature.args[0], types.boolean)
        value = builder.select(cond, args[1], args[2])
        value.set_metadata("unpredictable", builder.module.add_metadata([]))
        return value

    return a(c, a, b), codegen
