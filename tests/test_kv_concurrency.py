"""LearnedKV under one writer thread and several reader threads.

Keys fall in three classes: *stable* keys (multiples of 4) are never written
and must always be read with their initial value; *never* keys (2 mod 4) are
never written and must always be absent; *volatile* keys (odd) are written,
deleted and batch-written by the writer with values ``version << 32 | key``,
where versions only grow. Readers check every answer against these rules
(a volatile value must belong to its key, and the versions one reader sees of
a key never go back), that ranges are sorted snapshots holding exactly the
stable keys of their interval, while the writer's small buffer threshold makes
compaction (and the swap of the learned base) happen many times. At the end
the store must equal the writer's ``dict``.
"""
import os
import threading
import time

import numpy as np
import pytest

from learned_index import LearnedKV, _delta, batch

SECONDS = float(os.environ.get("KV_CONCURRENCY_SECONDS", "3"))
N_STABLE = 20_000
SPACE = 4 * N_STABLE
LOW = (1 << 32) - 1


def _reader(kv, stop, errors, counts, seed):
    rng = np.random.default_rng(seed)
    seen = {}
    try:
        while not stop.is_set():
            q = rng.integers(0, SPACE, 2000).astype(np.uint64)
            vals, found = kv.get_many(q)
            cls = q % 4
            stable, never, vol = cls == 0, cls == 2, cls % 2 == 1
            assert found[stable].all(), "a stable key went missing"
            assert np.array_equal(vals[stable], q[stable].astype(np.int64)), "stable value changed"
            assert not found[never].any(), "a never-written key appeared"
            hit = vol & found
            assert np.array_equal(vals[hit] & LOW, q[hit].astype(np.int64)), "value of another key"
            for k, v in zip(q[hit].tolist(), (vals[hit] >> 32).tolist()):
                assert v >= seen.get(k, 0), f"key {k}: version went back from {seen[k]} to {v}"
                seen[k] = v
            for k in rng.integers(0, SPACE, 50).tolist():       # point reads
                v = kv.get(k)
                if k % 4 == 0:
                    assert v == k
                elif k % 4 == 2:
                    assert v is None and k not in kv
                elif v is not None:
                    assert v & LOW == k and v >> 32 >= seen.get(k, 0)
                    seen[k] = v >> 32
            lo = int(rng.integers(0, SPACE))
            keys, values = kv.range(lo, lo + 400)
            assert np.all(keys[1:] > keys[:-1]), "range not sorted and distinct"
            want = np.arange(-(-lo // 4) * 4, min(lo + 400, SPACE), 4)
            assert np.array_equal(keys[keys % 4 == 0], want.astype(np.uint64)), "range lost a key"
            assert not np.any(keys % 4 == 2)
            assert np.array_equal(values & LOW, keys.astype(np.int64))
            counts[seed] = counts.get(seed, 0) + 1
    except BaseException as e:          # reported by the main thread
        errors.append(e)
        stop.set()


def _writer(kv, stop, errors, ref, stats, seed):
    rng = np.random.default_rng(seed)
    version = 0
    try:
        index = kv.index
        while not stop.is_set():
            version += 1
            op = rng.random()
            if op < 0.5:
                k = int(rng.integers(0, SPACE // 2)) * 2 + 1
                kv[k] = version << 32 | k
                ref[k] = version << 32 | k
            elif op < 0.75:
                present = [k for k in rng.integers(0, SPACE // 2, 20) * 2 + 1 if int(k) in ref]
                if present:
                    del kv[int(present[0])]
                    del ref[int(present[0])]
            elif op < 0.9:
                count = int(rng.integers(1, 200))
                ks = (rng.integers(0, SPACE // 2, count) * 2 + 1).astype(np.uint64)
                vs = (version << 32) | ks.astype(np.int64)
                kv.update(ks, vs)
                ref.update(zip(ks.tolist(), vs.tolist()))
            elif op < 0.995:
                ks = [k for k in (rng.integers(0, SPACE // 2, 30) * 2 + 1).tolist() if k in ref]
                kv.delete_many(np.array(ks, np.uint64))
                for k in ks:
                    ref.pop(k, None)
            else:
                kv.compact()
            if kv.index is not index:
                stats["compactions"] += 1
                index = kv.index
    except BaseException as e:
        errors.append(e)
        stop.set()


def test_readers_stay_exact_during_writes_and_compaction():
    _race(SECONDS)


@pytest.mark.slow
def test_readers_stay_exact_long_run():
    _race(5 * SECONDS)


def _race(seconds):
    keys = np.arange(0, SPACE, 4, dtype=np.uint64)
    kv = LearnedKV(keys, keys.astype(np.int64), compact_fraction=0.05, compact_min=300)
    ref = dict(zip(keys.tolist(), keys.astype(np.int64).tolist()))
    stop = threading.Event()
    errors, counts, stats = [], {}, {"compactions": 0}
    threads = [threading.Thread(target=_reader, args=(kv, stop, errors, counts, s))
               for s in (1, 2, 3)]
    threads.append(threading.Thread(target=_writer, args=(kv, stop, errors, ref, stats, 0)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert stats["compactions"] >= 3 and min(counts.values()) >= 5, (stats, counts)
    k, v = kv.range(None, None)
    assert k.tolist() == sorted(ref) and v.tolist() == [ref[x] for x in sorted(ref)]
    assert len(kv) == len(ref)


def test_batch_kernels_release_the_gil():
    for kernel in (_delta.get_many, _delta.resolve_many, _delta.merge_sources, _delta.gather_rows,
                   _delta.merge_delta, batch.bound_many):
        assert kernel.targetoptions.get("nogil") is True, kernel
