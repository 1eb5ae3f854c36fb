"""``python -m bench``: the default learned index against ``np.searchsorted`` (and PyGM).

A minimal comparison until the full suite lands: for each dataset, build the
default :class:`~learned_index.LearnedIndex`, time one batch of random
present-key lookups (median of ``--repeats`` after a warm-up, JIT excluded),
check every answer against ``np.searchsorted``, and time scalar lookups in a
Python loop next to PyGM's ``bisect_left`` when PyGM is installed.
Results go to ``results/quick.json``.
"""
import argparse
import json
import os
import platform
import time

import numpy as np

from learned_index import LearnedIndex
from learned_index.search import SEARCH_KINDS

from . import datasets

DEFAULT_SETS = ("uniform_dense", "lognormal", "clustered")


def _median_time(fn, repeats):
    fn()                                            # warm-up (and JIT, if any)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _scalar_loop(fn, qs):
    t = time.perf_counter()
    for q in qs:
        fn(q)
    return (time.perf_counter() - t) / len(qs)


def _search_kinds(keys, qs, ref, repeats):
    """ns/lookup of the default stages with each last-mile search, alternated A B C D ..."""
    indexes = {kind: LearnedIndex(keys, search=kind) for kind in SEARCH_KINDS}
    times = {kind: [] for kind in indexes}
    for kind, idx in indexes.items():
        if not np.array_equal(idx.lower_bound(qs), ref):
            raise SystemExit(f"WRONG ANSWERS from LearnedIndex(search={kind!r}): benchmark aborted")
    for _ in range(repeats):
        for kind, idx in indexes.items():
            times[kind].append(_median_time(lambda: idx.lower_bound(qs), 1))
    out = {kind: float(np.median(t)) / len(qs) * 1e9 for kind, t in times.items()}
    print("   search kinds: " + ", ".join(f"{k} {v:.1f} ns" for k, v in out.items()), flush=True)
    return out


def run(sets, n, lookups, repeats, scalar_lookups, search_kinds=False, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    LearnedIndex(np.arange(100, dtype=np.uint64)).lower_bound(np.arange(3, dtype=np.uint64))  # JIT
    for name in sets:
        keys = getattr(datasets, name)(n)
        qs = keys[rng.integers(0, n, lookups)]
        idx = LearnedIndex(keys)
        ref = np.searchsorted(keys, qs)
        got = idx.lower_bound(qs)
        if not np.array_equal(got, ref):
            raise SystemExit(f"WRONG ANSWERS from LearnedIndex on {name}: benchmark aborted")
        # Alternate the two competitors (A B A B ...) and keep per-competitor medians.
        t_np, t_li = [], []
        for _ in range(repeats):
            t_np.append(_median_time(lambda: np.searchsorted(keys, qs), 1))
            t_li.append(_median_time(lambda: idx.lower_bound(qs), 1))
        row = {
            "dataset": name, "n": n, "lookups": lookups,
            "searchsorted_ns": float(np.median(t_np)) / lookups * 1e9,
            "learned_ns": float(np.median(t_li)) / lookups * 1e9,
            "learned_nbytes": idx.nbytes, "build_s": idx.stats()["build_seconds"],
            "mean_log2_error": idx.stats()["mean_log2_error"],
        }
        row["speedup"] = row["searchsorted_ns"] / row["learned_ns"]
        if search_kinds:
            row["search_ns"] = _search_kinds(keys, qs, ref, repeats)
        sq = qs[:scalar_lookups].tolist()
        row["learned_scalar_ns"] = min(_scalar_loop(idx.lower_bound, sq) for _ in range(3)) * 1e9
        try:
            import pygm
            sl = pygm.SortedList(keys.tolist(), "Q")
            row["pygm_scalar_ns"] = min(_scalar_loop(sl.bisect_left, sq) for _ in range(3)) * 1e9
        except ImportError:
            row["pygm_scalar_ns"] = None
        rows.append(row)
        print(f"{name:>14}: searchsorted {row['searchsorted_ns']:7.1f} ns | LearnedIndex "
              f"{row['learned_ns']:6.1f} ns ({row['speedup']:4.1f}x) | {idx.nbytes / 1e6:5.2f} MB | "
              f"build {row['build_s']:.2f} s | scalar {row['learned_scalar_ns']:5.0f} ns"
              + (f" vs PyGM {row['pygm_scalar_ns']:5.0f} ns" if row["pygm_scalar_ns"] else ""),
              flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DEFAULT_SETS))
    ap.add_argument("--n", type=int, default=10_000_000, help="keys per dataset")
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scalar-lookups", type=int, default=100_000)
    ap.add_argument("--search-kinds", action="store_true",
                    help="also time every last-mile search kind with the default stages")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    print(f"{args.n:,} uint64 keys, {args.lookups:,} random present-key lookups per batch, "
          f"median of {args.repeats}", flush=True)
    rows = run(args.datasets, args.n, args.lookups, args.repeats, args.scalar_lookups,
               args.search_kinds)
    os.makedirs(args.out, exist_ok=True)
    import numba
    meta = {"machine": platform.machine(), "cpu": platform.processor(), "cores": os.cpu_count(),
            "numpy": np.__version__, "numba": numba.__version__, "python": platform.python_version()}
    path = os.path.join(args.out, "quick.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
