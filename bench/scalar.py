"""``python -m bench.scalar``: scalar ``lower_bound`` in a Python loop against PyGM, head to head.

One Python call per query, as a user's loop pays it: the default
:class:`learned_index.LearnedIndex` ``lower_bound(q)`` against
``pygm.SortedList.bisect_left(q)`` on the same random present keys. The two
loops alternate ``--rounds`` times in one process (so machine noise hits both
alike) and the medians are reported; every answer is checked against
``np.searchsorted`` first. PyGM stores signed 64-bit integers, so the keys
are shifted into ``[0, 2**63)`` where needed (the learned index gets the same
keys).

Example::

    python -m bench.scalar --datasets uniform_dense lognormal clustered --n 1e7
"""
import argparse
import time

import numpy as np

from . import datasets


def _loop(fn, qs):
    t = time.perf_counter()
    for q in qs:
        fn(q)
    return (time.perf_counter() - t) / len(qs) * 1e9


def duel(keys, lookups=300_000, rounds=5, seed=2):
    """Median ns per call of ``{"learned_index": ..., "pygm": ...}`` over ``rounds`` alternations."""
    import pygm

    from learned_index import LearnedIndex

    if keys.size and int(keys[-1]) >= 2**63:
        keys = (keys >> np.uint64(1)).astype(np.uint64)
    idx = LearnedIndex(keys)
    pg = pygm.SortedList(keys.astype(np.int64).tolist())
    qs = keys[np.random.default_rng(seed).integers(0, keys.size, lookups)].tolist()
    want = np.searchsorted(keys, np.array(qs, dtype=keys.dtype))
    for name, fn in (("learned_index", idx.lower_bound), ("pygm", pg.bisect_left)):
        got = np.array([fn(q) for q in qs[:20_000]], dtype=np.int64)
        if not np.array_equal(got, want[:20_000]):
            raise SystemExit(f"*** WRONG ANSWERS from {name}: scalar duel aborted")
    times = {"learned_index": [], "pygm": []}
    for _ in range(rounds):
        times["learned_index"].append(_loop(idx.lower_bound, qs))
        times["pygm"].append(_loop(pg.bisect_left, qs))
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.scalar", description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["uniform_dense", "lognormal", "clustered"])
    ap.add_argument("--n", type=lambda s: int(float(s)), default=10_000_000)
    ap.add_argument("--lookups", type=lambda s: int(float(s)), default=300_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"{'dataset':16} {'keys':>12} {'LearnedIndex ns':>16} {'PyGM ns':>9} {'ratio':>6}")
    out = {}
    for name in args.datasets:
        r = duel(datasets.GENERATORS[name](args.n), args.lookups, args.rounds)
        out[name] = r
        print(f"{name:16} {args.n:>12,} {r['learned_index']:>16.0f} {r['pygm']:>9.0f} "
              f"{r['learned_index'] / r['pygm']:>6.2f}")
    return out


if __name__ == "__main__":
    main()
