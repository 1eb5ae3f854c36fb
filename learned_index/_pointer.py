"""Arrays without owners inside jitted code: from addresses, and borrowed views.

Unboxing a numpy array argument costs a jitted entry point about 30 ns,
unboxing an int about 8: a scalar lookup that receives its arrays as
``(address, length)`` pairs and rebuilds them with ``numba.carray`` is
measurably cheaper per Python call (:func:`as_pointer`). A batch kernel
borrows its arrays (:func:`borrow`) so that its loop counts no references.
Either way the caller must keep the arrays alive while they are in use.
Inside its loop, a kernel reads and writes at indices it knows to be in
range with :func:`at` and :func:`put`, which leave out numba's negative-index
wrap-around.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import load_item, store_item


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


def item_pointer(context, builder, signature, args):
    """Pointer to ``args[0][args[1]]``, without wrap-around or bounds check."""
    aryty, idxty = signature.args[0], signature.args[1]
    ary = context.make_array(aryty)(context, builder, args[0])
    idx = context.cast(builder, args[1], idxty, types.intp)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)


@intrinsic
def at(typingctx, arr, idx):
    """``arr[idx]`` of a 1-d array, for an ``idx`` in ``[0, len(arr))``.

    numba turns a signed index ``i`` into ``i + len(arr)`` where it is negative:
    a compare, a conditional move and the array's length live in a register
    (or reloaded from the stack) for every read. A kernel that knows its
    index is in range reads through :func:`at` instead. Nothing is checked.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature, args)
        return load_item(context, builder, signature.args[0], ptr)

    return arr.dtype(arr, idx), codegen


@intrinsic
def put(typingctx, arr, idx, val):
    """``arr[idx] = val`` for an ``idx`` in ``[0, len(arr))`` (see :func:`at`)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature, args)
        v = context.cast(builder, args[2], signature.args[2], signature.args[0].dtype)
        store_item(context, builder, signature.args[0], v, ptr)
        return context.get_dummy_value()

    return types.void(arr, idx, val), codegen
