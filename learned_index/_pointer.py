"""Arrays from addresses inside jitted code, for the scalar fast path.

Unboxing a numpy array argument costs a jitted entry point about 30 ns,
unboxing an int about 8: a scalar lookup that receives its arrays as
``(address, length)`` pairs and rebuilds them with ``numba.carray`` is
measurably cheaper per Python call. The caller must keep the arrays alive
for as long as it uses their addresses.
"""
from numba import types
from numba.extending import intrinsic


@intrinsic
def as_pointer(typingctx, addr, proto):
    """``addr`` (an integer address) as a pointer to values of ``proto``'s type."""
    if not isinstance(addr, types.Integer) or not isinstance(proto, (types.Integer, types.Float)):
        return None
    ptr = types.CPointer(proto)
    sig = ptr(addr, proto)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return sig, codegen
