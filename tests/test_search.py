"""Last-mile search kernels (``learned_index.search``) against ``np.searchsorted``.

Every kernel answers: the first index ``i`` in ``[lo, hi)`` with ``keys[i] >= q``
(``right=False``) or ``keys[i] > q`` (``right=True``), or ``hi`` when there is none.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _data import KEY_DTYPES, key_arrays, probe_queries
from learned_index import search as S

HYP = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DT_IDS = [np.dtype(d).name for d in KEY_DTYPES]
KINDS = {"binary": S.BINARY, "branchless": S.BRANCHLESS, "exponential": S.EXPONENTIAL,
         "linear": S.LINEAR}


def expected(keys, q, lo, hi, right):
    return lo + int(np.searchsorted(keys[lo:hi], q, side="right" if right else "left"))


def test_search_kinds_table():
    assert S.SEARCH_KINDS == KINDS
    assert len(set(KINDS.values())) == 4


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_before(dtype):
    t = np.dtype(dtype).type
    assert S.before(t(1), t(2), False) and S.before(t(1), t(2), True)
    assert not S.before(t(2), t(2), False) and S.before(t(2), t(2), True)
    assert not S.before(t(3), t(2), False) and not S.before(t(3), t(2), True)


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=60, **HYP)
@given(data=st.data())
def test_kernels_on_random_subwindows(dtype, data):
    keys = np.sort(data.draw(key_arrays(dtype, max_size=200), label="keys"))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    n = keys.size
    qs = probe_queries(keys, seed, n_random=8)
    qs = qs[rng.permutation(qs.size)[:40]]
    for q in qs:
        for _ in range(4):
            lo, hi = sorted(rng.integers(0, n + 1, size=2).tolist())
            if rng.random() < 0.25:
                lo, hi = 0, n
            for right in (False, True):
                want = expected(keys, q, lo, hi, right)
                got = {"binary": S.binary(keys, q, lo, hi, right),
                       "branchless": S.branchless(keys, q, lo, hi, right),
                       "linear": S.linear(keys, q, lo, hi, right)}
                for p in {lo, hi, (lo + hi) // 2, want, int(rng.integers(lo - 3, hi + 4))}:
                    got[f"exponential(p={p})"] = S.exponential(keys, q, lo, hi, p, right)
                for name, kind in KINDS.items():
                    p = int(rng.integers(lo - 2, hi + 3))
                    got[f"in_window[{name}](p={p})"] = S.in_window(keys, q, lo, hi, p, kind, right)
                for name, g in got.items():
                    assert g == want, (f"{name} on keys[{lo}:{hi}] of {keys!r}, q={q!r}, "
                                       f"right={right}: got {g}, want {want}")


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
@settings(max_examples=40, **HYP)
@given(data=st.data())
def test_settle_corrects_any_candidate(dtype, data):
    keys = np.sort(data.draw(key_arrays(dtype, max_size=200), label="keys"))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    n = keys.size
    qs = probe_queries(keys, seed, n_random=8)
    for q in qs[rng.permutation(qs.size)[:30]]:
        for right in (False, True):
            want = int(np.searchsorted(keys, q, side="right" if right else "left"))
            for r in {0, n, want, max(want - 1, 0), min(want + 1, n), int(rng.integers(0, n + 1))}:
                got = S.settle(keys, q, r, right)
                assert got == want, f"settle(r={r}) keys={keys!r} q={q!r} right={right}: {got} != {want}"


@pytest.mark.parametrize("dtype", KEY_DTYPES, ids=DT_IDS)
def test_kernels_exhaustive_small(dtype):
    """Every window of a small array with duplicates, every probe, both sides."""
    keys = np.sort(np.array([1, 1, 2, 5, 5, 5, 8, 9, 9, 20], dtype=dtype))
    n = keys.size
    for q in np.array([0, 1, 2, 3, 5, 6, 8, 9, 10, 20, 21], dtype=dtype):
        for lo in range(n + 1):
            for hi in range(lo, n + 1):
                for right in (False, True):
                    want = expected(keys, q, lo, hi, right)
                    assert S.binary(keys, q, lo, hi, right) == want
                    assert S.branchless(keys, q, lo, hi, right) == want
                    assert S.linear(keys, q, lo, hi, right) == want
                    for p in range(lo - 1, hi + 2):
                        assert S.exponential(keys, q, lo, hi, p, right) == want, (lo, hi, p, q, right)
        for right in (False, True):
            want = expected(keys, q, 0, n, right)
            for r in range(n + 1):
                assert S.settle(keys, q, r, right) == want


def test_kernels_large_array_far_guess():
    """Exponential search from a distant guess and settle from the wrong end of a big array."""
    keys = np.sort(np.random.default_rng(3).integers(0, 2**64 - 1, 100_000, dtype=np.uint64,
                                                      endpoint=True))
    n = keys.size
    for q in (keys[0], keys[17], keys[n // 2] + np.uint64(1), keys[-1], np.uint64(2**64 - 1), np.uint64(0)):
        for right in (False, True):
            want = int(np.searchsorted(keys, q, side="right" if right else "left"))
            for p in (0, n, n // 3, want):
                assert S.exponential(keys, q, 0, n, p, right) == want
            assert S.settle(keys, q, 0, right) == want
            assert S.settle(keys, q, n, right) == want
            assert S.binary(keys, q, 0, n, right) == want
            assert S.branchless(keys, q, 0, n, right) == want


def test_empty_and_degenerate_windows():
    keys = np.array([1.0, 2.0, 2.0, 3.0])
    for lo in range(5):
        for right in (False, True):
            assert S.binary(keys, 2.0, lo, lo, right) == lo
            assert S.branchless(keys, 2.0, lo, lo, right) == lo
            assert S.linear(keys, 2.0, lo, lo, right) == lo
            assert S.exponential(keys, 2.0, lo, lo, 0, right) == lo
            assert S.exponential(keys, 2.0, lo, lo, 10, right) == lo
    empty = np.zeros(0)
    for right in (False, True):
        assert S.settle(empty, 1.0, 0, right) == 0
        assert S.binary(empty, 1.0, 0, 0, right) == 0
