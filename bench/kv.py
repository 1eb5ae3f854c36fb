"""``python -m bench.kv``: :class:`learned_index.LearnedKV` against its peers, and the targets of issue 5.

Example::

    python -m bench.kv --n 1e7 [--parts getmany point mixed open] [--out results/kv]

Keys are ``n`` distinct random uint64 below ``2**63`` (seed ``--seed``), values
random float64. Every competitor's answers are checked against a reference
(``np.searchsorted`` or a dict of the writes) and a wrong answer aborts the
run with ``SystemExit("*** WRONG ANSWERS ...")``. The numbers, all ns per
operation unless said otherwise:

``getmany``
    1M queries (90% present keys, 10% random), ``LearnedKV.get_many`` (lookup
    plus values gather) against ``LearnedIndex.lower_bound`` of the same
    store's index, alternated 7 times; medians. Target: ratio <= 1.5. Also
    ``np.take`` of the values at the known positions: one random miss per
    query, which ``get_many`` adds to the lookup.
``point``
    ``--point-reads`` present keys read one by one in a Python loop:
    ``kv[k]``, BTrees ``QQBTree`` ``t[k]`` (values stored as their uint64
    bits), LMDB ``txn.get(k.to_bytes(8, "big"))``; 5 alternations, medians.
    Target: LearnedKV faster than both.
``mixed 95/5`` and ``mixed 50/50``
    Rounds of 1000 operations: the reads (90% present) as one batch, then the
    writes one by one (half updates of present keys, half new random keys).
    LearnedKV ``get_many`` + ``kv[k] = v`` (compactions included),
    ``SortedDict`` and BTrees ``get`` loop + ``d[k] = v``, LMDB ``getmulti`` +
    one write transaction per round. The B+tree (``baselines.BPlusTree``) is
    an index of keys, not a key-value store: its reads are a batch
    ``lower_bound`` + ``contains`` of the round's reads (no values), its
    writes are ``insert(key)`` of the new keys only (an update of a present
    key has nothing to do in a tree of keys), and it is made dynamic (a
    one-off O(n) rebuild) before the clock starts. One timed run each.
    Target: LearnedKV 95/5 faster than ``SortedDict``.
``open``
    ``LearnedKV.load`` of the saved store: ``mmap=True`` with ``verify``
    True (the default) and False, medians of 5; ``mmap=False``, median of 3
    (reported in ms per open). Target: ``mmap=True`` (default verify) < 0.2 s.

BTrees and LMDB are optional: a missing package skips that competitor with a
note. Results go to ``--out`` as ``kv.json`` (machine, rows, targets, notes)
and ``kv.csv`` (rows).
"""
import argparse
import csv
import gc
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time

import numpy as np

PARTS = ("getmany", "point", "mixed", "open")
LKV, SD, BT, LM, BPT = "LearnedKV", "SortedDict", "BTrees QQBTree", "LMDB", "B+tree"


def _wrong(what):
    raise SystemExit(f"*** WRONG ANSWERS from {what}: benchmark aborted")


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def _have(mod, name, notes):
    """Whether ``mod`` imports; if not, add a note that ``name`` was skipped."""
    if importlib.util.find_spec(mod) is not None:
        return True
    notes.append(f"{name} skipped: package {mod!r} is not installed")
    return False


def make_btrees(skeys, svals):
    """A BTrees ``QQBTree`` of the sorted keys, values stored as their uint64 bits."""
    from BTrees.QQBTree import QQBTree
    bt, step, bits = QQBTree(), 1 << 16, svals.view(np.uint64)
    for s in range(0, skeys.size, step):
        bt.update(list(zip(skeys[s:s + step].tolist(), bits[s:s + step].tolist())))
    return bt


def make_lmdb(skeys, svals):
    """A temporary LMDB environment holding big-endian keys -> float64 bytes: ``(env, dir)``."""
    import lmdb
    d = tempfile.mkdtemp(prefix="kvbench-lmdb-")
    env = lmdb.open(d, map_size=max(1 << 26, skeys.size * 128), sync=False, metasync=False,
                    lock=False, readahead=False)
    kb, vb = skeys.astype(">u8").tobytes(), svals.astype("<f8").tobytes()
    with env.begin(write=True) as txn:
        txn.cursor().putmulti(((kb[i:i + 8], vb[i:i + 8]) for i in range(0, len(kb), 8)), append=True)
    return env, d


def _lmdb_get(env, keys):
    with env.begin() as txn:
        return [None if (b := txn.get(k.to_bytes(8, "big"))) is None else struct.unpack("<d", b)[0]
                for k in keys]


def _bt_get(bt, keys):
    got = [bt.get(k) for k in keys]
    return [None if g is None else float(np.uint64(g).view(np.float64)) for g in got]


def _check(name, got, want):
    if list(got) != list(want):
        _wrong(name)


def _row(rows, part, workload, name, seconds, ops, note=""):
    rows.append({"part": part, "workload": workload, "competitor": name,
                 "ns_per_op": seconds / ops * 1e9, "ops": ops, "note": note})


def part_getmany(kv, skeys, svals, rng, rows, queries=1_000_000, rounds=7):
    """``get_many`` against ``lower_bound`` of the same keys; returns the time ratio."""
    n = skeys.size
    npres = int(queries * 0.9)
    qs = np.concatenate([skeys[rng.integers(0, n, npres)],
                         rng.integers(0, 2**63, queries - npres, dtype=np.uint64)])
    rng.shuffle(qs)
    v, f = kv.get_many(qs)
    ref = np.searchsorted(skeys, qs)
    hit = (ref < n) & (skeys[np.minimum(ref, n - 1)] == qs)
    if not (np.array_equal(f, hit) and np.array_equal(v[f], svals[ref[f]])):
        _wrong("LearnedKV.get_many")
    if not np.array_equal(kv.index.lower_bound(qs), ref):
        _wrong("LearnedIndex.lower_bound")
    at = np.minimum(ref, n - 1)
    ta, tb, tc = [], [], []
    for _ in range(rounds):                         # alternate A B C A B C: noise hits all alike
        ta.append(_timed(lambda: kv.index.lower_bound(qs)))
        tb.append(_timed(lambda: kv.get_many(qs)))
        tc.append(_timed(lambda: np.take(svals, at)))
    a, b, c = (float(np.median(t)) for t in (ta, tb, tc))
    w = f"batch of {queries:,}, 90% present"
    _row(rows, "getmany", w, "LearnedIndex.lower_bound", a, queries)
    _row(rows, "getmany", w, "LearnedKV.get_many", b, queries, "values gather included")
    _row(rows, "getmany", w, "np.take of the values at known positions", c, queries,
         "the value miss alone: lower_bound + this is about the floor of get_many")
    return b / a


def part_point(kv, skeys, svals, rng, rows, notes, m=200_000, rounds=5):
    """Point reads in a Python loop; returns ``{competitor: ns/op}``."""
    pq = skeys[rng.integers(0, skeys.size, m)].tolist()
    want = svals[np.searchsorted(skeys, np.array(pq[:2000], dtype=np.uint64))].tolist()
    loops = {}

    def r_kv():
        g = kv.__getitem__
        for k in pq:
            g(k)
    _check("LearnedKV kv[k]", [kv[k] for k in pq[:2000]], want)
    loops[LKV] = ("kv[k]", r_kv)
    bt = env = d = None
    if _have("BTrees", BT, notes):
        bt = make_btrees(skeys, svals)

        def r_bt():
            for k in pq:
                bt[k]
        _check(BT, _bt_get(bt, pq[:2000]), want)
        loops[BT] = ("t[k]", r_bt)
    if _have("lmdb", LM, notes):
        env, d = make_lmdb(skeys, svals)

        def r_lmdb():
            with env.begin(buffers=True) as txn:
                g = txn.get
                for k in pq:
                    g(k.to_bytes(8, "big"))
        _check(LM, _lmdb_get(env, pq[:2000]), want)
        loops[LM] = ("txn.get(k.to_bytes(8, 'big'))", r_lmdb)
    times = {name: [] for name in loops}
    for _ in range(rounds):
        for name, (_, f) in loops.items():
            times[name].append(_timed(f))
    out = {}
    for name, ts in times.items():
        _row(rows, "point", "present keys, Python loop", f"{name} {loops[name][0]}",
             float(np.median(ts)), m)
        out[name] = rows[-1]["ns_per_op"]
    if env is not None:
        env.close()
        shutil.rmtree(d, ignore_errors=True)
    del bt
    gc.collect()
    return out


def _plan(skeys, frac_w, total, seed, batch=1000):
    """Rounds of ``(reads array, reads list, write keys, write values, write-is-new flags)``."""
    n, rr = skeys.size, np.random.default_rng(seed)
    nw = int(batch * frac_w)
    nr, plan, seen = batch - nw, [], set()
    for _ in range(max(1, total // batch)):
        rq = np.where(rr.random(nr) < 0.9, skeys[rr.integers(0, n, nr)],
                      rr.integers(0, 2**63, nr, dtype=np.uint64))
        wk = np.where(rr.random(nw) < 0.5, skeys[rr.integers(0, n, nw)],
                      rr.integers(0, 2**63, nw, dtype=np.uint64))
        pos = np.minimum(np.searchsorted(skeys, wk), n - 1)
        present = skeys[pos] == wk                   # not np.isin: it sorts all of skeys per call
        new = []
        for k, p in zip(wk.tolist(), present.tolist()):
            new.append(not p and k not in seen)
            seen.add(k)
        plan.append((rq, rq.tolist(), wk.tolist(), rr.random(nw).tolist(), new))
    return plan, nr, nw


def _mixed_runners(skeys, svals, plan, notes):
    """``{name: (run, read(keys) -> values or None-free answer list, cleanup)}`` per competitor."""
    from sortedcontainers import SortedDict

    from baselines import BPlusTree
    from learned_index import LearnedKV
    out = {}
    kvm = LearnedKV(skeys, svals)
    kvm.get_many(plan[0][0])
    kvm[int(skeys[0])] = float(svals[0])              # warm the write path (same value)

    def run_kv():
        for rq, _, wk, wv, _ in plan:
            kvm.get_many(rq)
            for k, v in zip(wk, wv):
                kvm[k] = v
    out[f"{LKV} (get_many + kv[k]=v)"] = (run_kv, lambda ks: [kvm.get(k) for k in ks], kvm)
    sd = SortedDict(zip(skeys.tolist(), svals.tolist()))

    def run_sd():
        g = sd.get
        for _, rl, wk, wv, _ in plan:
            [g(k) for k in rl]
            for k, v in zip(wk, wv):
                sd[k] = v
    out[f"{SD} (get loop + sd[k]=v)"] = (run_sd, lambda ks: [sd.get(k) for k in ks], sd)
    bpt = BPlusTree(skeys)
    extra = 2**63 + 1                                 # never a key of the run (keys < 2**63)
    bpt.insert(extra)
    bpt.delete(extra)                                 # now dynamic, kernels compiled
    bpt.lower_bound(plan[0][0]), bpt.contains(plan[0][0])

    def run_bpt():
        for rq, _, wk, _, new in plan:
            bpt.lower_bound(rq)
            bpt.contains(rq)
            for k, isnew in zip(wk, new):
                if isnew:
                    bpt.insert(k)
    out[f"{BPT} (lower_bound + contains, insert(k) if new)"] = (run_bpt, None, bpt)
    if _have("BTrees", BT, notes):
        bt = make_btrees(skeys, svals)

        def run_bt():
            g = bt.get
            for _, rl, wk, wv, _ in plan:
                [g(k) for k in rl]
                for k, v in zip(wk, np.array(wv).view(np.uint64).tolist()):
                    bt[k] = v
        out[f"{BT} (get loop + t[k]=v)"] = (run_bt, lambda ks: _bt_get(bt, ks), bt)
    if _have("lmdb", LM, notes):
        env, d = make_lmdb(skeys, svals)

        def run_lmdb():
            pk, pv = struct.Struct(">Q").pack, struct.Struct("<d").pack
            for _, rl, wk, wv, _ in plan:
                with env.begin(buffers=True) as txn:
                    txn.cursor().getmulti([pk(k) for k in rl])
                with env.begin(write=True) as txn:
                    put = txn.put
                    for k, v in zip(wk, wv):
                        put(pk(k), pv(v))
        out[f"{LM} (getmulti + 1 write txn per round)"] = (run_lmdb, lambda ks: _lmdb_get(env, ks),
                                                           (env, d))
    return out


def part_mixed(skeys, svals, rows, notes, frac_w, total, seed):
    """One mixed workload; returns ``{competitor: ns/op}`` after checking every final state."""
    plan, nr, nw = _plan(skeys, frac_w, total, seed)
    label = f"{100 - round(frac_w * 100)}/{round(frac_w * 100)}"
    runners = _mixed_runners(skeys, svals, plan, notes)
    ops, out = len(plan) * (nr + nw), {}
    for name, (run, _, _) in runners.items():
        _row(rows, "mixed", f"{label}: rounds of {nr} reads + {nw} writes", name, _timed(run), ops,
             "index of keys: no values" if name.startswith(BPT) else "")
        out[name.split(" (")[0]] = rows[-1]["ns_per_op"]
    ref = {}
    for _, _, wk, wv, _ in plan:
        ref.update(zip(wk, wv))
    sample = skeys[:1000].tolist() + [k for p in plan[-5:] for k in p[2]] + plan[-1][1][:200]
    pos = np.searchsorted(skeys, np.array(sample, dtype=np.uint64))
    pres = skeys[np.minimum(pos, skeys.size - 1)] == np.array(sample, dtype=np.uint64)
    want = [ref[k] if k in ref else (float(svals[p]) if h else None)
            for k, p, h in zip(sample, pos.tolist(), pres.tolist())]
    final = np.union1d(skeys, np.array(list(ref), dtype=np.uint64))
    for name, (_, read, obj) in runners.items():
        if read is not None:
            _check(f"{name} ({label})", read(sample), want)
        else:                                         # the B+tree: positions in the final key set
            q = np.array(sample, dtype=np.uint64)
            if not (np.array_equal(obj.lower_bound(q), np.searchsorted(final, q))
                    and np.array_equal(obj.contains(q), [w is not None for w in want])
                    and len(obj) == final.size):
                _wrong(f"{name} ({label})")
    kvm, sd = (next(obj for k, (_, _, obj) in runners.items() if k.startswith(x)) for x in (LKV, SD))
    if len(kvm) != final.size or len(sd) != final.size:
        _wrong(f"LearnedKV/SortedDict sizes ({label})")
    notes.append(f"mixed {label}: {len(plan) * nw} writes, LearnedKV compaction threshold "
                 f"{kvm._state.limit}, buffered at the end {kvm._state.nlog}")
    for name, (_, _, obj) in runners.items():
        if name.startswith(LM):
            obj[0].close()
            shutil.rmtree(obj[1], ignore_errors=True)
    del runners
    gc.collect()
    return out


def part_open(kv, skeys, rng, rows, notes):
    """Save the store and time ``LearnedKV.load``; returns ms of ``mmap=True`` (default verify)."""
    from learned_index import LearnedKV
    d = tempfile.mkdtemp(prefix="kvbench-")
    p = os.path.join(d, "store.lkv")
    try:
        notes.append(f"save: {_timed(lambda: kv.save(p)):.2f} s, {os.path.getsize(p) / 1e6:.0f} MB")
        LearnedKV.load(p, mmap=True)                  # warm numba's cache in this process
        out = {}
        for label, kw, reps in (("mmap=True, verify=True (default)", {"mmap": True}, 5),
                                ("mmap=True, verify=False", {"mmap": True, "verify": False}, 5),
                                ("mmap=False (read + verify)", {"mmap": False}, 3)):
            t = float(np.median([_timed(lambda: LearnedKV.load(p, **kw)) for _ in range(reps)]))
            _row(rows, "open", f"{skeys.size:,}-key store", f"LearnedKV.load {label}", t, 1,
                 "ms per open")
            out[label] = t * 1e3
        kv2 = LearnedKV.load(p, mmap=True, verify=False)
        qs = skeys[rng.integers(0, skeys.size, 100_000)]
        if not np.array_equal(kv2.get_many(qs)[0], kv.get_many(qs)[0]):
            _wrong("LearnedKV.load")
        del kv2
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


def run(n=10_000_000, parts=PARTS, ops_9505=4_400_000, ops_5050=600_000, point_reads=200_000,
        getmany_queries=1_000_000, seed=42):
    """Run the chosen parts; every answer is checked first.

    Returns
    -------
    dict
        ``n``, ``parts``, ``rows`` (part, workload, competitor, ns_per_op, ops,
        note), ``targets`` (target, measured, threshold, met: True, False or
        None when not measurable), ``notes`` and ``verified`` (True: every
        check passed, else ``SystemExit`` was raised).
    """
    from learned_index import LearnedKV
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, 2**63, int(n * 1.01), dtype=np.uint64))[:n]
    rng.shuffle(keys)
    vals = rng.random(keys.size)
    order = np.argsort(keys)
    skeys, svals = keys[order], vals[order]
    rows, notes, targets = [], [], []
    kv = None

    def build():
        nonlocal kv
        kv = LearnedKV(keys, vals)
    notes.append(f"LearnedKV build, {keys.size:,} keys: {_timed(build):.2f} s")

    def target(name, measured, threshold, met, unit):
        targets.append({"target": name, "measured": measured, "threshold": threshold,
                        "met": met, "unit": unit})
    if "getmany" in parts:
        r = part_getmany(kv, skeys, svals, rng, rows, getmany_queries)
        target("get_many within 1.5x of LearnedIndex.lower_bound", r, 1.5, r <= 1.5, "ratio")
    if "point" in parts:
        p = part_point(kv, skeys, svals, rng, rows, notes, point_reads)
        peers = {k: v for k, v in p.items() if k != LKV}
        best = min(peers.values()) if peers else None
        target(f"point reads faster than {' and '.join(peers) or 'LMDB and BTrees (none ran)'}",
               p[LKV], best, None if best is None or len(peers) < 2 else p[LKV] < best, "ns/op")
    if "mixed" in parts:
        for frac, total, s in ((0.05, ops_9505, 7), (0.5, ops_5050, 8)):
            m = part_mixed(skeys, svals, rows, notes, frac, total, s)
            if frac == 0.05:
                target("mixed 95/5 faster than SortedDict", m[LKV], m[SD], m[LKV] < m[SD], "ns/op")
    if "open" in parts:
        o = part_open(kv, skeys, rng, rows, notes)
        ms = o["mmap=True, verify=True (default)"]
        target("open with mmap=True (default verify) under 0.2 s", ms, 200.0, ms < 200.0, "ms")
    return {"n": int(keys.size), "parts": list(parts), "seed": seed, "rows": rows,
            "targets": targets, "notes": notes, "verified": True}


def _print(res):
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    con = Console(width=140)
    t = Table(title=f"LearnedKV benchmark, {res['n']:,} keys (ns per operation)")
    for h in ("part", "workload", "competitor", "ns/op", "ops", "note"):
        t.add_column(h, justify="right" if h in ("ns/op", "ops") else "left")
    for r in res["rows"]:
        v = (f"{r['ns_per_op'] / 1e6:.1f} ms" if r["part"] == "open" else f"{r['ns_per_op']:,.0f}")
        t.add_row(r["part"], r["workload"], escape(r["competitor"]), v, f"{r['ops']:,}", r["note"])
    con.print(t)
    s = Table(title="Targets (issue 5)")
    for h in ("target", "measured", "threshold", "met"):
        s.add_column(h)
    for g in res["targets"]:
        thr = "–" if g["threshold"] is None else f"{g['threshold']:,.2f} {g['unit']}"
        met = {True: "yes", False: "NO", None: "n/a"}[g["met"]]
        s.add_row(escape(g["target"]), f"{g['measured']:,.2f} {g['unit']}", thr, met)
    con.print(s)
    for note in res["notes"]:
        con.print(f"- {escape(note)}")
    con.print("All answers verified against the references.")


def main(argv=None):
    """Command line: run, print the tables, write ``kv.json`` and ``kv.csv``; returns the result."""
    ap = argparse.ArgumentParser(prog="python -m bench.kv", description=__doc__.split("\n")[0])
    num = lambda s: int(float(s))                    # noqa: E731  (accepts 1e7)
    ap.add_argument("--n", type=num, default=10_000_000)
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--out", default=os.path.join("results", "kv"))
    ap.add_argument("--ops-9505", type=num, default=4_400_000)
    ap.add_argument("--ops-5050", type=num, default=600_000)
    ap.add_argument("--point-reads", type=num, default=200_000)
    ap.add_argument("--getmany-queries", type=num, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    from .report import machine_info
    info = machine_info(argv)
    info["command"] = info["command"].replace("python -m bench", "python -m bench.kv", 1)
    res = run(a.n, a.parts, a.ops_9505, a.ops_5050, a.point_reads, a.getmany_queries, a.seed)
    _print(res)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "kv.json"), "w") as f:
        json.dump({"machine": info, **res}, f, indent=1)
    with open(os.path.join(a.out, "kv.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["part", "workload", "competitor", "ns_per_op", "ops", "note"])
        w.writeheader()
        w.writerows(res["rows"])
    return res


if __name__ == "__main__":
    main()
