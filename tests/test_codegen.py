"""Code-generation helpers of the kernels: ``_select.select``, ``_pointer.borrow``,
``_pointer.at`` and ``put``, and ``fences.line_keys`` (``key_delta``'s signed
conversion is checked with its other cases in ``test_models.py``).

Each changes how a kernel is compiled, not what it computes: their values are
checked against plain Python, and ``select``'s conditional moves in the
machine code (on x86-64, where the pass it defeats runs). What the others
save (reference counts, negative-index fixes, a division, a conversion) shows
only in the whole kernel (``docs/design.md``), whose exactness every index
test checks.
"""
import platform
import re

import numpy as np
import pytest
from numba import njit

from learned_index._pointer import at, borrow, put
from learned_index._select import select
from learned_index.fences import keys_per_line, line_keys

X86_64 = platform.machine().lower() in ("x86_64", "amd64")


@njit(cache=False, inline="always")
def _ternary(c, a, b):
    return a if c else b


def _lower_with(choose):
    """A batch of lower bounds by branch-free binary search, each step through ``choose``."""
    @njit(cache=False)
    def lower(keys, qs, out):
        for i in range(qs.shape[0]):
            q = qs[i]
            base = 0
            n = keys.shape[0]
            while n > 1:
                half = n >> 1
                base = choose(keys[base + half] < q, base + half, base)
                n -= half
            out[i] = choose(keys[base] < q, base + 1, base)
    return lower


_lower_select = _lower_with(select)
_lower_ternary = _lower_with(_ternary)


@njit(cache=False)
def _pick(c, a, b):
    return select(c, a, b)


def test_select_values():
    for a, b in ((3, -7), (2.5, -0.0), (np.uint64(2**64 - 1), np.uint64(0))):
        assert _pick(True, a, b) == a and _pick(False, a, b) == b
    rng = np.random.default_rng(5)
    keys = np.sort(rng.integers(0, 1000, 257).astype(np.uint64))
    qs = rng.integers(0, 1001, 500).astype(np.uint64)
    out = np.empty(qs.shape[0], np.int64)
    _lower_select(keys, qs, out)
    np.testing.assert_array_equal(out, np.searchsorted(keys, qs))


@pytest.mark.skipif(not X86_64, reason="the cmov-conversion pass is x86's")
def test_select_compiles_to_conditional_moves():
    """The same search written as a ternary gets branches from LLVM's x86 cmov
    conversion; through ``select`` it keeps its conditional moves."""
    keys = np.arange(64, dtype=np.uint64)
    out = np.empty(64, np.int64)
    cmovs = {}
    for f in (_lower_select, _lower_ternary):
        f(keys, keys, out)
        asm = next(iter(f.inspect_asm().values()))
        cmovs[f] = len(re.findall(r"\tcmov", asm))
    assert cmovs[_lower_select] >= 2
    assert cmovs[_lower_ternary] < cmovs[_lower_select]


@njit(cache=False)
def _double_through(a):
    b = borrow(a)                   # a borrowed view never leaves the kernel that made it
    for i in range(b.shape[0]):
        b[i] *= 2
    return b.sum()


@njit(cache=False)
def _sum_2d(a):
    b = borrow(a)
    return b.sum(), b.shape[0], b.shape[1], b.strides[0]


@njit(cache=False)
def _take(a, i):
    return a[i]


@njit(cache=False)
def _calls_with(a, own):
    b = a if own else borrow(a)
    s = 0
    for i in range(b.shape[0]):
        s += _take(b, i)
    return s


def test_borrow_is_the_same_view():
    a = np.arange(10, dtype=np.int64)
    total = _double_through(a)
    np.testing.assert_array_equal(a, np.arange(10) * 2)     # writes reach the caller's array
    assert total == a.sum()                                  # and reads through the view see them
    m = np.arange(12.0).reshape(3, 4)[:, ::2]                 # a strided 2-D view
    total, rows, cols, stride = _sum_2d(m)
    assert (total, rows, cols, stride) == (m.sum(), 3, 2, m.strides[0])
    assert _calls_with(a, True) == _calls_with(a, False) == a.sum()


@njit(cache=False)
def _shift_through(a, out):
    for i in range(a.shape[0] - 1):
        put(out, i, at(a, i + 1))
    return at(a, 0)


def test_at_and_put_read_and_write_like_indexing():
    for dtype in (np.uint64, np.int32, np.float64, np.uint8):
        a = np.arange(40, dtype=dtype)[::3]            # a strided view
        out = np.zeros(a.shape[0], dtype=dtype)
        assert _shift_through(a, out) == a[0]
        np.testing.assert_array_equal(out[:-1], a[1:])
        assert out[-1] == 0


@njit(cache=False)
def _per_line(a):
    return line_keys(a)


def test_line_keys_is_keys_per_line():
    for dtype in (np.uint8, np.int16, np.int32, np.uint64, np.float32, np.float64):
        a = np.zeros(3, dtype=dtype)
        assert _per_line(a) == keys_per_line(a.itemsize)
