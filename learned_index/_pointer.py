"""Arrays without owners inside jitted code: from addresses, and borrowed views.

Unboxing a numpy array argument costs a jitted entry point about 30 ns,
unboxing an int about 8: a scalar lookup that receives its arrays as
``(address, length)`` pairs and rebuilds them with ``numba.carray`` is
measurably cheaper per Python call (:func:`as_pointer`). A batch kernel
borrows its arrays (:func:`borrow`) so that its loop counts no references.
Either way the caller must keep the arrays alive while they are in use.
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


@intrinsic
def borrow(typingctx, arr):
    """``arr`` without its reference count: the same view, with no memory owner.

    A kernel that hands an array to jitted code it calls (or that LLVM inlines
    from such a call) increments and decrements the array's reference count
    around each call, and on x86 each of those is a ``lock``-prefixed
    instruction: a full memory barrier that no later load may pass, in the
    middle of a loop built to keep many loads in flight. The borrowed view
    has no owner, so those calls do nothing. The caller keeps ``arr`` alive
    while the view is in use, and the view never leaves the kernel that made
    it (returned to Python, it would hold memory it does not own).
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ary.meminfo = context.get_constant_null(types.MemInfoPointer(types.voidptr))
        ary.parent = context.get_constant_null(types.pyobject)
        return ary._getvalue()

    return arr(arr), codegen
