"""``python -m bench.calibrate``: fit the tuner's cost model to measured batch lookups.

For every dataset and every configuration of the tuner's grid (each without
fence leaves and with fence leaves past 8 and 32 cache lines: spans of one and
four lines, see :func:`learned_index.fences.fence_keys`), this computes the
tuner's own estimate of the features (:func:`learned_index.tune.estimate`),
builds the index on the full keys and times batch lookups of random present
keys (median of ``--repeats`` interleaved rounds, :data:`GROUP` indexes at a
time with an anchor index that corrects the drift between groups; every
answer checked). Non-negative least
squares of the relative error then fits the weights of the cost model's terms
(:func:`learned_index.tune.features`)::

    ns = base + per_stage * stages + per_log2 * E[log2(w + 1)]    (w left after narrowing)
         + per_deep_step * E[search steps past a prefetched window]
         + per_narrow_step * E[narrowing steps]
         + per_fence_leaf * P[fence leaf] + per_fence * E[fence levels]
         + per_log2_past_l2 * max(log2(bytes / L2), 0)
         + per_ring * [batches take the ring pipeline: fence leaves or a network root]

It prints the constants (to be copied into ``learned_index.tune.COST``, or for
keys that stay in the cache, :func:`learned_index.tune.cached`, ``COST_CACHED``,
whose terms other than ``CACHED_TERMS`` it keeps at ``COST``'s), the
fit's relative error and how often the model's best configuration per dataset
was within 10% of the measured best.

Example::

    python -m bench.calibrate --n 1e7 --datasets uniform_dense normal lognormal clustered osm fb wiki books
"""
import argparse
import json
import time

import numpy as np

from . import datasets


def _features(config, est, nbytes, in_cache=False):
    from learned_index import tune

    terms = tune.features(config["stages"], est, nbytes, in_cache)
    return [terms[k] for k in tune.COST]


#: configurations built together and timed in interleaved rounds (see :func:`measure`)
GROUP = 8


def measure(keys, lookups=1_000_000, repeats=3, seed=0):
    """Rows ``(config, features, measured ns)`` over the tuner's grid for ``keys``.

    The configurations are built :data:`GROUP` at a time and each group is
    timed in ``repeats`` interleaved rounds (:func:`learned_index.timing.time_rounds`,
    median per index) together with an *anchor*, an index of the grid's first
    configuration timed in every group. Within a group, identical indexes
    measure alike; between groups, the machine's speed drifts (by a third
    on the 2-core test machine), so each group's times are scaled by the
    anchor's median over all groups divided by its time in that group. Every
    index's answers are checked first.
    """
    from learned_index import LearnedIndex, _coerce, timing, train, tune
    from learned_index.fences import keys_per_line

    keys = _coerce.as_keys(keys)    # as the tuner sees them (read-only: one compiled kernel)
    n, in_cache = keys.shape[0], tune.cached(keys)
    qs = keys[np.random.default_rng(seed).integers(0, n, lookups)]
    want = np.searchsorted(keys, qs)
    step = train.sample_step(n)
    line = keys_per_line(keys.itemsize)
    windows = (None, 8 * line, 32 * line)
    todo = []
    # the grid's powers of four of leaves (every power of two would double the run)
    for config in [c for c in tune._grid(n, tune.STAGE_GRID) if c["n_leaves"].bit_length() % 2]:
        for mw, est in zip(windows, tune.estimate(keys, config, step, windows)):
            todo.append((dict(config, max_window=mw), config, est))
    anchor = LearnedIndex(keys, **todo[0][0])
    timed = []                  # per group: (rows without their time, times, anchor's time)
    for g in range(0, len(todo), GROUP):
        group = todo[g:g + GROUP]
        built = [LearnedIndex(keys, **cfg) for cfg, _, _ in group]
        for (cfg, _, _), idx in zip(group, built):
            if not np.array_equal(idx.lower_bound(qs), want):
                raise SystemExit(f"*** WRONG ANSWERS from {cfg}: calibration aborted")
        ns = timing.time_rounds([anchor] + built, qs, repeats)
        timed.append(([(cfg, _features(config, est, idx.nbytes, in_cache))
                       for (cfg, config, est), idx in zip(group, built)], ns[1:], ns[0]))
    ref = float(np.median([a for _, _, a in timed]))
    return [(cfg, x, t * ref / a) for rows, ts, a in timed for (cfg, x), t in zip(rows, ts)]


def fit(rows, in_cache=False):
    """Constants ``{name: value}`` for ``rows``: non-negative least squares of the
    *relative* error, so that fast configurations, the ones a tuner must rank,
    weigh as much as slow ones. For keys that stay in the cache (``in_cache``, see
    :func:`learned_index.tune.cached`) only the weights of
    :data:`learned_index.tune.CACHED_TERMS` are fitted, the others kept at
    :data:`learned_index.tune.COST`'s."""
    from scipy.optimize import nnls

    from learned_index import tune

    names = list(tune.COST)
    free = [names.index(k) for k in (tune.CACHED_TERMS if in_cache else names)]
    weights = np.array([0.0 if i in free else tune.COST[k] for i, k in enumerate(names)])
    b = np.array([r[2] for r in rows])
    a = np.array([r[1] for r in rows]) / b[:, None]
    weights[free], _ = nnls(a[:, free], 1.0 - a @ weights)
    return dict(zip(names, (round(float(c), 2) for c in weights)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+",
                    default=["uniform_dense", "normal", "lognormal", "clustered", "osm", "fb", "wiki",
                             "books"])
    ap.add_argument("--n", type=lambda s: int(float(s)), default=10_000_000)
    ap.add_argument("--lookups", type=lambda s: int(float(s)), default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="write the measured rows to this JSON file")
    args = ap.parse_args(argv)
    from learned_index import _coerce, tune

    by_set, regimes = {}, set()
    for name in args.datasets:
        t = time.perf_counter()
        keys = _coerce.as_keys(datasets.GENERATORS[name](args.n))
        regimes.add(tune.cached(keys))
        if len(regimes) > 1:
            raise SystemExit("*** the sets' keys fall on both sides of tune.CACHED_KEY_BYTES: "
                             "calibrate them separately")
        by_set[name] = measure(keys, args.lookups, args.repeats)
        print(f"{name}: {len(by_set[name])} configurations timed in {time.perf_counter() - t:.0f} s",
              flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({k: [[str(c), x, ns] for c, x, ns in rs] for k, rs in by_set.items()}, f)
    rows = [r for rs in by_set.values() for r in rs]
    in_cache = regimes.pop()
    cost = fit(rows, in_cache)
    print("COST_CACHED =" if in_cache else "COST =", cost)
    coef = np.array(list(cost.values()))
    for name, rs in by_set.items():
        pred = np.array([r[1] for r in rs]) @ coef
        ns = np.array([r[2] for r in rs])
        pick = int(np.argmin(pred))
        print(f"{name:14} mean |error| {np.mean(np.abs(pred - ns) / ns):5.1%}  model's pick "
              f"{ns[pick]:6.1f} ns vs best {ns.min():6.1f} ns ({rs[pick][0]})")
    return cost, by_set


if __name__ == "__main__":
    main()
