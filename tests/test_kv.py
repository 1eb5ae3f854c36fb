"""LearnedKV against a ``dict`` reference: the API contract, exact mixed-dtype keys,
input validation that changes nothing on error, value dtypes, compaction, and a
Hypothesis state machine over random sequences of reads, writes, batch writes,
compactions and save/load round trips.
"""
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from learned_index import LearnedIndex, LearnedKV


def contents(kv):
    """Full sorted contents through three independent paths, checked to agree."""
    items = [(k, v.item() if hasattr(v, "item") else v) for k, v in kv.items()]
    keys = list(kv)
    rk, rv = kv.range(None, None)
    assert keys == [k for k, _ in items] == rk.tolist()
    assert [v for _, v in items] == [x.item() if hasattr(x, "item") else x for x in rv]
    assert len(kv) == len(items)
    return items


def assert_matches(kv, ref):
    assert contents(kv) == sorted(ref.items())


def snapshot(kv):
    return contents(kv), kv._state.nlog


# --------------------------------------------------------------------------- API

def test_basic_dict_semantics():
    keys = np.array([50, 10, 40, 20, 30], np.uint64)
    kv = LearnedKV(keys, keys.astype(np.float64) / 10)
    assert isinstance(kv.index, LearnedIndex) and len(kv.index) == 5
    assert len(kv) == 5 and kv[40] == 4.0 and kv.get(41) is None and kv.get(41, -1) == -1
    assert 10 in kv and 11 not in kv and list(kv) == [10, 20, 30, 40, 50]
    with pytest.raises(KeyError):
        kv[11]
    kv[11] = 1.1
    kv[40] = 44.0
    del kv[50]
    with pytest.raises(KeyError):
        del kv[50]
    assert_matches(kv, {10: 1.0, 11: 1.1, 20: 2.0, 30: 3.0, 40: 44.0})
    assert list(kv.items(11, 40)) == [(11, 1.1), (20, 2.0), (30, 3.0)]
    assert list(kv.items(lo=25)) == [(30, 3.0), (40, 44.0)]
    assert list(kv.items(hi=11)) == [(10, 1.0)]
    assert list(kv.items(40, 11)) == []
    k, v = kv.range(11, 31)
    assert k.dtype == np.uint64 and k.tolist() == [11, 20, 30] and v.tolist() == [1.1, 2.0, 3.0]
    vals, found = kv.get_many(np.array([[10, 11], [50, 12]], np.uint64))
    assert vals.shape == found.shape == (2, 2)
    assert found.tolist() == [[True, True], [False, False]]
    assert vals.tolist() == [[1.0, 1.1], [0.0, 0.0]]
    kv.compact()
    assert kv._state.nlog == 0 and len(kv.index) == 5
    assert_matches(kv, {10: 1.0, 11: 1.1, 20: 2.0, 30: 3.0, 40: 44.0})


def test_empty_store_and_dtypes():
    kv = LearnedKV(dtype=np.uint64, value_dtype=np.float64)
    assert len(kv) == 0 and list(kv) == [] and kv.get(3) is None
    assert kv.dtype == np.uint64 and kv.value_dtype == np.float64
    v, f = kv.get_many(np.array([1, 2], np.uint64))
    assert not f.any() and v.dtype == np.float64
    kv.update(np.array([5, 3, 5], np.uint64), np.array([1.0, 2.0, 3.0]))    # last wins
    assert_matches(kv, {3: 2.0, 5: 3.0})
    kv.delete_many([3, 5, 5])
    assert len(kv) == 0 and list(kv.items()) == []
    kv2 = LearnedKV([3, 1, 2], [30, 10, 20])
    assert kv2.dtype == np.int64 and kv2.value_dtype == np.int64
    assert LearnedKV(np.array([1, 2], np.int8), np.array([1, 2], np.float32)).dtype == np.int32
    with pytest.raises(TypeError):
        LearnedKV(dtype=np.complex128)
    with pytest.raises(TypeError):
        LearnedKV([1, 2])


def test_duplicate_bulk_load_names_first_duplicate():
    keys = np.array([7, 3, 9, 3, 7, 7], np.int64)
    with pytest.raises(ValueError, match=r"duplicate key 3 \(positions 1 and 3"):
        LearnedKV(keys, np.zeros(6))
    with pytest.raises(ValueError, match="duplicate key 2"):
        LearnedKV([1.0, 2.0, 2.0], [0, 0, 0])


def test_mixed_dtype_keys_are_exact():
    kv = LearnedKV(np.array([0, 3, 2**64 - 1], np.uint64), np.array([1.0, 2.0, 3.0]))
    assert kv[3.0] == 2.0 and kv[np.int8(3)] == 2.0 and kv[np.float32(3)] == 2.0
    assert kv[2**64 - 1] == 3.0 and kv[np.uint64(2**64 - 1)] == 3.0
    for absent in (-1, 3.5, 2**64, 2**70, -2**70, float(2**64)):
        assert absent not in kv and kv.get(absent) is None
        with pytest.raises(KeyError):
            kv[absent]
        with pytest.raises(KeyError):
            del kv[absent]
    v, f = kv.get_many(np.array([-1.0, 3.0, 3.5, 0.0, 1.8446744073709552e19]))
    assert f.tolist() == [False, True, False, True, False] and v.tolist() == [0, 2.0, 0, 1.0, 0]
    for bad in (float("nan"), "3", b"3", None, True):
        with pytest.raises((TypeError, ValueError)):
            kv[bad]
    fk = LearnedKV(np.array([-0.0, 2.5, 2.0**60]), np.array([1, 2, 3], np.int32))
    assert fk[0] == 1 and fk[2**60] == 3 and 2**60 + 1 not in fk and fk[2.5] == 2
    ik = LearnedKV(np.array([-5, 7], np.int32), np.array([1, 2], np.int8))
    assert ik[-5.0] == 1 and ik.get(2**31) is None and ik.get(-5.5) is None
    assert ik.range(-6.5, 7.0)[0].tolist() == [-5]
    assert ik.range(-2**70, 2**70)[0].tolist() == [-5, 7]


def test_python_int_lists_near_2_64_are_exact():
    """Lists of Python ints on both sides of 2**63 (numpy alone would round them to
    float64) are stored, read, updated and deleted exactly; checked against a dict."""
    rng = np.random.default_rng(11)
    top = [2**64 - 1 - int(d) for d in rng.integers(0, 5000, 300)] + [0, 1, 2**63, 2**63 - 1]
    ref = {k: float(i) for i, k in enumerate(top)}
    kv = LearnedKV(list(ref), list(ref.values()))
    assert kv.dtype == np.uint64 and len(kv) == len(ref)
    probe = top[:50] + [2**64 - 6000 + int(d) for d in rng.integers(0, 6000, 100)] + [-1, 2**64, 2**70]
    v, f = kv.get_many(probe)
    assert f.tolist() == [q in ref for q in probe]
    assert v[f].tolist() == [ref[q] for q in probe if q in ref]
    new = [2**64 - 1 - int(d) for d in rng.integers(0, 8000, 100)] + [3]
    kv.update(new, [-1.0] * len(new))
    ref.update({k: -1.0 for k in new})
    gone = list(dict.fromkeys(new[:40] + top[:20]))
    kv.delete_many(gone)
    for k in gone:
        del ref[k]
    with pytest.raises(KeyError, match=str(gone[0])):
        kv.delete_many([gone[0], 0])
    with pytest.raises(ValueError, match="-1"):
        kv.update([2**64 - 1, -1], [1.0, 2.0])
    keys, vals = kv.range(0, 2**64)
    assert keys.tolist() == sorted(ref) and vals.tolist() == [ref[k] for k in sorted(ref)]


@pytest.mark.parametrize("bad_key", [-1, 2**64, 1.5, float("nan"), "x", np.array([1, 2])])
def test_bad_key_writes_raise_and_change_nothing(bad_key):
    kv = LearnedKV(np.array([1, 2], np.uint64), np.array([1.0, 2.0]), compact_min=2)
    kv[5] = 5.0
    before = snapshot(kv)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        kv[bad_key] = 1.0
    if np.ndim(bad_key) == 0:
        with pytest.raises((TypeError, ValueError, OverflowError)):
            kv.update([7, bad_key], [1.0, 2.0])
    assert snapshot(kv) == before


@pytest.mark.parametrize("vdt, bad", [
    (np.int64, 1.5), (np.int64, "3"), (np.int32, 2**40), (np.uint8, -1), (np.float64, "x"),
    (np.float64, 1 + 2j), (np.bool_, 1), ("S4", "text"), (np.float64, [1.0, 2.0])])
def test_bad_values_raise_and_change_nothing(vdt, bad):
    kv = LearnedKV(np.array([1, 2], np.int64), np.array([1, 0], dtype=vdt), compact_min=2)
    before = snapshot(kv)
    with pytest.raises((TypeError, ValueError)):
        kv[3] = bad
    with pytest.raises((TypeError, ValueError)):
        kv.update([3, 4], [np.array([1, 0], dtype=vdt)[0], bad])
    assert snapshot(kv) == before


def test_failed_batch_writes_change_nothing():
    kv = LearnedKV(np.arange(10, dtype=np.int64), np.arange(10.0), compact_min=4)
    kv[20] = 20.0
    before = snapshot(kv)
    with pytest.raises(ValueError):
        kv.update([30, 31], [1.0])                        # length mismatch
    with pytest.raises(ValueError):
        kv.update(np.array([[1, 2]]), np.array([[1.0, 2.0]]))
    with pytest.raises(KeyError, match="99"):
        kv.delete_many([1, 99, 2])
    with pytest.raises(KeyError):
        kv.delete_many([1, 2.5])
    with pytest.raises(ValueError):
        kv.delete_many([1, float("nan")])
    assert snapshot(kv) == before
    kv.delete_many(np.array([], np.int64))
    kv.update([], [])
    assert snapshot(kv) == before


def test_value_dtypes():
    rec = np.dtype([("a", "<i4"), ("b", "<f8")])
    cases = [
        (np.int32, [1, -2, 3], 7, 7),
        (np.uint8, [1, 2, 3], 255, 255),
        (np.float32, [1.5, 2.5, 3.5], 2, 2.0),
        (np.complex128, [1j, 2, 3], 1 + 1j, 1 + 1j),
        (np.bool_, [True, False, True], False, False),
        ("S3", [b"a", b"bc", b"def"], b"xy", b"xy"),
        ("<U2", ["a", "bc", "d"], "z", "z"),
        (">f8", [1.0, 2.0, 3.0], 9.0, 9.0),
        (rec, [(1, 1.0), (2, 2.0), (3, 3.0)], (9, 9.5), (9, 9.5)),
    ]
    for vdt, vals, new, want in cases:
        kv = LearnedKV(np.array([3, 1, 2], np.uint64), np.array(vals, dtype=vdt), compact_min=2)
        ref = dict(zip([3, 1, 2], np.array(vals, dtype=vdt).tolist()))
        assert kv.value_dtype == np.dtype(vdt)
        kv[5] = new
        ref[5] = want
        del kv[1]
        del ref[1]
        for state in ("buffered", "compacted"):
            got = {k: (v.item() if hasattr(v, "item") else v) for k, v in kv.items()}
            assert got == ref, (vdt, state)
            v, f = kv.get_many(np.array([2, 5, 1], np.uint64))
            assert v.dtype == np.dtype(vdt) and f.tolist() == [True, True, False]
            assert v[:2].tolist() == [ref[2], ref[5]]
            kv.compact()


def test_object_values_in_memory_only(tmp_path):
    kv = LearnedKV(np.array([1, 2], np.int64), np.array([{"a": 1}, [2]], dtype=object))
    kv[3] = "three"
    assert kv[1] == {"a": 1} and kv[3] == "three"
    v, f = kv.get_many([1, 3, 4])
    assert v.tolist() == [{"a": 1}, "three", None] and f.tolist() == [True, True, False]
    kv.compact()
    assert dict(kv.items()) == {1: {"a": 1}, 2: [2], 3: "three"}
    with pytest.raises(TypeError, match="object"):
        kv.save(tmp_path / "x.lkv")
    assert not os.listdir(tmp_path)


def test_auto_compaction_threshold():
    n = 1000
    kv = LearnedKV(np.arange(n, dtype=np.uint64) * 3, np.arange(n, dtype=np.int64),
                   compact_fraction=0.05, compact_min=10)
    ref = {3 * i: i for i in range(n)}
    rng = np.random.default_rng(5)
    compactions = 0
    base = kv.index
    for step in range(400):
        k = int(rng.integers(0, 4 * n))
        if k in ref and rng.random() < 0.3:
            del kv[k]
            del ref[k]
        else:
            kv[k] = step
            ref[k] = step
        assert kv._state.nlog < max(10, 0.05 * len(kv.index)) + 1
        if kv.index is not base:
            compactions += 1
            base = kv.index
            kv.index._check()
            assert len(kv.index) == len(ref)
    assert compactions >= 5
    assert_matches(kv, ref)
    big = {int(k): int(k) for k in rng.integers(0, 10 * n, 3000)}      # batch beyond threshold
    kv.update(list(big), list(big.values()))
    ref.update(big)
    assert kv._state.nlog == 0
    assert_matches(kv, ref)


def test_iteration_is_a_snapshot():
    kv = LearnedKV(np.arange(5, dtype=np.int64), np.zeros(5))
    it = kv.items()
    first = next(it)
    kv[10] = 1.0
    del kv[3]
    assert [first] + list(it) == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0)]
    assert list(kv) == [0, 1, 2, 4, 10]


def test_large_ordered_access_crosses_chunks():
    rng = np.random.default_rng(9)
    keys = np.unique(rng.integers(0, 2**40, 200_000, dtype=np.uint64))
    kv = LearnedKV(keys, keys.astype(np.float64), compact_min=10**6)
    ins = np.setdiff1d(rng.integers(0, 2**40, 3000, dtype=np.uint64), keys)
    kv.update(ins, ins.astype(np.float64))
    gone = keys[::7]
    kv.delete_many(gone)
    want = np.union1d(np.setdiff1d(keys, gone), ins)
    got = np.fromiter(kv, np.uint64)
    assert np.array_equal(got, want) and len(kv) == want.size
    lo, hi = int(want[1000]), int(want[150_000]) + 1
    k, v = kv.range(lo, hi)
    assert np.array_equal(k, want[1000:150_001]) and np.array_equal(v, k.astype(np.float64))
    q = np.concatenate([want[::3], rng.integers(0, 2**40, 5000, dtype=np.uint64)])
    vals, found = kv.get_many(q)
    assert np.array_equal(found, np.isin(q, want))
    assert np.array_equal(vals[found], q[found].astype(np.float64))


# --------------------------------------------------------------------------- stateful

KEYS_U64 = st.one_of(st.integers(0, 40), st.integers(2**64 - 8, 2**64 - 1))
KEYS_F64 = st.sampled_from([-1.5, -0.0, 0.5, 1.0, 2.0, 3.0, 1e300, -1e-300])
VALUES = st.integers(-1000, 1000)
EXAMPLES = int(os.environ.get("KV_STATEFUL_EXAMPLES", "60"))




def make_machine(KEYS, dtype, init_size):
    class KVMachine(RuleBasedStateMachine):
        """Random operation sequences against a ``dict``; every read and the contents checked."""

        def __init__(self):
            super().__init__()
            self.dir = tempfile.TemporaryDirectory()
            self.path = os.path.join(self.dir.name, "kv.lkv")
            self.saved = None

        @initialize(init=st.dictionaries(KEYS, VALUES, max_size=init_size),
                    compact_min=st.integers(1, 12))
        def load(self, init, compact_min):
            self.ref = dict(init)
            self.kv = LearnedKV(np.array(list(init), dtype),
                                np.array(list(init.values()), np.int64),
                                compact_min=compact_min, compact_fraction=0.25)
            self.kv._recent_min = 2          # fold the buffer's recent level often

        @rule(k=KEYS, v=VALUES)
        def set(self, k, v):
            self.kv[k] = v
            self.ref[k] = v

        @rule(k=KEYS)
        def get(self, k):
            assert self.kv.get(k) == self.ref.get(k)
            assert (k in self.kv) == (k in self.ref)
            if k in self.ref:
                assert self.kv[k] == self.ref[k]
            else:
                with pytest.raises(KeyError):
                    self.kv[k]

        @rule(k=KEYS)
        def delete(self, k):
            if k in self.ref:
                del self.kv[k]
                del self.ref[k]
            else:
                with pytest.raises(KeyError):
                    del self.kv[k]

        @rule(ks=st.lists(KEYS, max_size=20), data=st.data())
        def update(self, ks, data):
            vs = data.draw(st.lists(VALUES, min_size=len(ks), max_size=len(ks)))
            self.kv.update(np.array(ks, dtype), np.array(vs, np.int64))
            self.ref.update(zip(ks, vs))

        @rule(ks=st.lists(KEYS, max_size=10))
        def delete_many(self, ks):
            if all(k in self.ref for k in ks):
                self.kv.delete_many(np.array(ks, dtype))
                for k in ks:
                    self.ref.pop(k, None)
            else:
                before = snapshot(self.kv)
                with pytest.raises(KeyError):
                    self.kv.delete_many(ks)
                assert snapshot(self.kv) == before

        @rule(qs=st.lists(st.one_of(KEYS, st.integers(-3, -1)), max_size=20))
        def get_many(self, qs):
            if dtype == np.uint64:        # negative queries of another dtype: absent
                neg = [q for q in qs if q < 0]
                assert not self.kv.get_many(np.array(neg, np.int64))[1].any()
                qs = [q for q in qs if q >= 0]
            vals, found = self.kv.get_many(np.array(qs, dtype))
            want = [q in self.ref for q in qs]
            assert found.tolist() == want
            want = [self.ref[q] for q in qs if q in self.ref]
            assert [int(v) for v, f in zip(vals, found) if f] == want

        @rule(lo=KEYS, hi=KEYS)
        def range(self, lo, hi):
            want = sorted((k, v) for k, v in self.ref.items() if lo <= k < hi)
            k, v = self.kv.range(lo, hi)
            assert list(zip(k.tolist(), v.tolist())) == want
            assert list(self.kv.items(lo, hi)) == want

        @rule()
        def compact(self):
            self.kv.compact()
            assert self.kv._state.nlog == 0 and len(self.kv.index) == len(self.ref)

        @rule(mmap=st.booleans())
        def save_load(self, mmap):
            self.kv.save(self.path)
            self.saved = dict(self.ref)
            self.kv = LearnedKV.load(self.path, mmap=mmap)
            self.kv._recent_min = 2

        @precondition(lambda self: self.saved is not None)
        @rule()
        def reload_last_save(self):
            self.kv = LearnedKV.load(self.path)
            self.ref = dict(self.saved)

        @invariant()
        def same_contents(self):
            if hasattr(self, "kv"):
                assert_matches(self.kv, self.ref)

        def teardown(self):
            self.dir.cleanup()

    return KVMachine


KVMachine = make_machine(KEYS_U64, np.uint64, 30)
KVMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=30,
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
test_kv_state_machine = KVMachine.TestCase

FloatKVMachine = make_machine(KEYS_F64, np.float64, 6)
FloatKVMachine.TestCase.settings = settings(
    max_examples=EXAMPLES // 3, stateful_step_count=20,
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
test_kv_state_machine_float = FloatKVMachine.TestCase
