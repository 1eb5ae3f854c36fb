"""``python -m bench --distributed``: DistributedLearnedKV on a local Dask cluster against
one in-process LearnedKV over the same keys.

For each size, the keys are ``i * C mod 2**64`` for ``i < n`` (``C`` odd, so the keys
are distinct and look random; unsorted input), generated blockwise on the workers as
a dask array, and the values are their positions (``values=None``). The reference is
the same data built in this process. Timed:

* build: ``LearnedKV(keys, values)`` (sort + train) against ``from_dask`` (sampled
  quantiles, Dask shuffle, sort and training on the workers), wall clock;
* lookups: one ``get_many`` batch of ``lookups`` queries (half present, half random,
  mostly absent) and a small batch of 1,000, median of ``repeats``, every answer
  checked against the reference (a mismatch aborts the run); the same batch as a
  dask array already persisted on the workers (routed there, never through the
  client).

Clusters are ``LocalCluster(processes=True, threads_per_worker=1)`` on 127.0.0.1,
one per worker count, started and closed here. Results: a rich table, and
``distributed.json`` / ``distributed.csv`` in ``out``.
"""
import csv
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

MULT = np.uint64(0x9E3779B97F4A7C15)        # odd: i -> i * MULT mod 2**64 is a bijection
SMALL = 1000


def _keys(start, stop):
    with np.errstate(over="ignore"):
        return np.arange(start, stop, dtype=np.uint64) * MULT


def _block_keys(block, block_info=None):
    lo, hi = block_info[0]["array-location"][0]
    return _keys(lo, hi)


def _queries(n, m, rng):
    present = _keys(0, n)[rng.integers(0, n, m // 2)]
    absent = rng.integers(0, 2**64 - 1, m - m // 2, dtype=np.uint64, endpoint=True)
    q = np.concatenate([present, absent])
    rng.shuffle(q)
    return q


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _check(got, ref, what):
    for g, r in zip(got, ref):
        if g.shape != r.shape or not np.array_equal(g, r):
            raise AssertionError(f"{what}: answers differ from the single-process LearnedKV")


def _single(n, queries, small, repeats):
    from learned_index import LearnedKV
    keys = _keys(0, n)
    t = time.perf_counter()
    kv = LearnedKV(keys, np.arange(n, dtype=np.int64))
    build = time.perf_counter() - t
    kv.get_many(queries[:1000])                        # warm
    lookup, ref = _median_time(lambda: kv.get_many(queries), repeats)
    small_t, ref_small = _median_time(lambda: kv.get_many(small), repeats)
    row = {"engine": "LearnedKV (1 process)", "workers": 0, "n": n, "partitions": 1,
           "build_s": build, "lookup_ns": lookup / queries.shape[0] * 1e9,
           "small_batch_ms": small_t * 1e3, "bytes": int(kv.index.keys.nbytes * 2 + kv.index.nbytes)}
    del kv, keys
    return row, ref, ref_small


def _distributed(n, workers, npartitions, queries, small, refs, repeats, chunk):
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    from dask.distributed import wait as distributed_wait

    from learned_index.distributed import DistributedLearnedKV
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    try:
        with Client(cluster) as client:
            client.run(_warm_worker)
            keys = da.arange(n, dtype=np.uint64, chunks=chunk).map_blocks(_block_keys,
                                                                          dtype=np.uint64)
            t = time.perf_counter()
            d = DistributedLearnedKV.from_dask(keys, None, client, npartitions=npartitions)
            build = time.perf_counter() - t
            d.get_many(queries[:1000])
            lookup, got = _median_time(lambda: d.get_many(queries), repeats)
            _check(got, refs[0], f"{workers} workers, {n} keys")
            small_t, got_small = _median_time(lambda: d.get_many(small), repeats)
            _check(got_small, refs[1], f"{workers} workers, {n} keys, small batch")
            route_t, _ = _median_time(lambda: d._scatter(queries), repeats)
            dq = client.persist(da.from_array(queries, chunks=-(-queries.shape[0] // (2 * workers))))
            distributed_wait(dq)                      # the queries live on the workers first
            dask_t, got = _median_time(lambda: d.get_many(dq), repeats)
            _check(got, refs[0], f"{workers} workers, {n} keys, dask-array queries")
            nbytes = d.nbytes
            row = {"engine": f"DistributedLearnedKV ({workers} worker{'s' * (workers > 1)})",
                   "workers": workers, "n": n, "partitions": d.npartitions, "build_s": build,
                   "lookup_ns": lookup / queries.shape[0] * 1e9,
                   "small_batch_ms": small_t * 1e3,
                   "route_ns": route_t / queries.shape[0] * 1e9,
                   "dask_lookup_ns": dask_t / queries.shape[0] * 1e9,
                   "bytes": int(nbytes.sum()), "max_partition_bytes": int(nbytes.max())}
            d.close()
            return row
    finally:
        cluster.close()


def _warm_worker():
    """Import and JIT-load the library in a process (numba's cache), outside the timings."""
    from learned_index import LearnedKV
    kv = LearnedKV(_keys(0, 5000), np.arange(5000, dtype=np.int64))
    kv.get_many(_keys(0, 10))
    return True


def run_distributed(sizes, workers=(1, 2), lookups=1_000_000, out="results/distributed",
                    repeats=3, npartitions=None, seed=42, console=None):
    """Run the distributed benchmark; print a table; write JSON and CSV under ``out``.

    Parameters
    ----------
    sizes : iterable of int
        Key counts (10**7 takes about a minute per worker count on 2 cores).
    workers : iterable of int
        Worker processes of each local cluster.
    lookups : int
        Queries of the timed batch.
    npartitions : int, optional
        Partitions of the distributed store (default: 4 per worker of the largest
        cluster, the same for every cluster, so only the worker count changes).
    Returns the list of result rows (dicts).
    """
    from rich.console import Console
    from rich.table import Table
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)         # files and pipes get the wide table
    rows = []
    _warm_worker()                     # JIT (or numba's cache) here too, outside the timings
    for n in sizes:
        n = int(n)
        rng = np.random.default_rng(seed)
        queries = _queries(n, int(lookups), rng)
        small = queries[:SMALL].copy()
        console.print(f"[bold]{n:,} keys[/bold]: single process ...")
        row, ref, ref_small = _single(n, queries, small, repeats)
        rows.append(row)
        for w in workers:
            parts = npartitions or 4 * max(workers)        # the same layout for every cluster
            console.print(f"{n:,} keys: {w} worker(s), {parts} partitions ...")
            rows.append(_distributed(n, w, parts, queries, small, (ref, ref_small), repeats,
                                     chunk=max(1, -(-n // parts))))
        base = row
        for r in rows:
            if r["n"] == n:
                r["build_vs_single"] = r["build_s"] / base["build_s"]
                r["lookup_vs_single"] = r["lookup_ns"] / base["lookup_ns"]
    table = Table(title=f"DistributedLearnedKV vs LearnedKV, {lookups:,} lookups per batch "
                        f"(median of {repeats})")
    for h in ("keys", "engine", "partitions", "build s", "× build", "lookup ns/key", "× lookup",
              "dask-array lookup ns/key", f"{SMALL:,}-query batch ms", "route ns/key",
              "worker memory"):
        table.add_column(h, justify="left" if h == "engine" else "right")
    for r in rows:
        table.add_row(f"{r['n']:,}", r["engine"], str(r["partitions"]), f"{r['build_s']:.2f}",
                      f"{r['build_vs_single']:.2f}", f"{r['lookup_ns']:.0f}",
                      f"{r['lookup_vs_single']:.2f}",
                      f"{r['dask_lookup_ns']:.0f}" if "dask_lookup_ns" in r else "–",
                      f"{r['small_batch_ms']:.2f}",
                      f"{r['route_ns']:.1f}" if "route_ns" in r else "–",
                      f"{r['bytes'] / 2**20:.0f} MiB")
    console.print(table)
    os.makedirs(out, exist_ok=True)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": os.getloadavg(), "lookups": int(lookups), "repeats": repeats,
            "small_batch": SMALL, "seed": seed}
    with open(os.path.join(out, "distributed.json"), "w") as f:
        json.dump({"machine": meta, "rows": rows}, f, indent=1)
    fields = sorted({k for r in rows for k in r})
    with open(os.path.join(out, "distributed.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    console.print(f"results: {os.path.join(out, 'distributed.json')}, "
                  f"{os.path.join(out, 'distributed.csv')}")
    return rows


if __name__ == "__main__":
    import sys
    run_distributed([int(float(x)) for x in sys.argv[1:]] or [10**6])
