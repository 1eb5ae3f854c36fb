"""The measuring loop: build every competitor on every dataset, time the workloads, check answers.

Method (see ``docs/performance.md``):

* **JIT excluded.** Before anything is timed, every competitor is built and
  queried (batch and scalar) on a tiny key set of each key dtype of the run;
  that first use (numba compilation, or loading numba's on-disk cache) is
  timed and reported separately (:attr:`Results.jit`).
* **Build** is timed once per (dataset, index), after the warm-up.
* **Lookups**: one untimed warm-up call, then ``repeats`` timed calls per
  workload, the competitors alternated (A B C ... A B C ...) so that drift of
  a shared machine hits all alike; min, median and max are kept. Each round's
  batch times are kept too, for the paired ratios (:func:`paired`): the
  median over the rounds of one competitor's time over another's in the
  same round, which a drift of the machine's speed from round to round
  does not move.
* **Every timed answer is checked** against ``np.searchsorted`` on the same
  keys, outside the timed region; a mismatch raises ``SystemExit`` with a
  loud message, so no time is ever reported for a wrong answer.
* The peers without a batch API run ``loop_lookups`` queries (a Python loop
  inside their adapter); all times are per lookup.
"""
import gc
import time
from dataclasses import dataclass, field

import numpy as np

from learned_index.tune import MIN_TUNE

from . import datasets, realdata, sosd, workloads


class WrongAnswer(SystemExit):
    """A competitor returned a wrong answer: the run stops (never a time for a wrong answer)."""


def _check(got, ref, what):
    got = np.asarray(got)
    if got.shape != ref.shape or not np.array_equal(got, ref):
        bad = int((got != ref).sum()) if got.shape == ref.shape else "all"
        raise WrongAnswer(f"\n*** WRONG ANSWERS: {what}: {bad} of {len(ref)} results differ from "
                          "np.searchsorted. Benchmark aborted, no time reported. ***")


def load_dataset(name, n, seed=42):
    """Keys of a generated set, a real set, or a file (SOSD binary or ``.npy``), sorted."""
    if name in datasets.GENERATORS:
        return datasets.GENERATORS[name](n, seed=seed)
    if name in realdata.LOADERS:
        return realdata.LOADERS[name](n, seed=seed)
    return sosd.load(name, limit=n)


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


@dataclass
class Results:
    """Everything a run produced: rows, JIT times, notes and the data behind the plots."""

    rows: list = field(default_factory=list)
    jit: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    plots: dict = field(default_factory=dict)
    seconds: float = 0.0


def _scalar_fn(spec, adapter, keys):
    """The per-query callable timed in the scalar loop (the cheapest public entry point)."""
    if spec.family == "binary":
        ktype, search = keys.dtype.type, np.searchsorted    # a Python int would go via float64
        return lambda q: int(search(keys, ktype(q)))
    if hasattr(adapter, "index"):          # LearnedIndex / BPlusTree: their scalar fronts
        return adapter.index.lower_bound
    return adapter.lower_bound


def _scalar_loop(fn, qlist):
    t = time.perf_counter()
    out = [fn(q) for q in qlist]
    return time.perf_counter() - t, out


def _first_use(results, name, label, dtype, fn):
    t = time.perf_counter()
    fn()
    results.jit.append({"index": name, "label": label, "dtype": str(np.dtype(dtype)),
                        "first_use_s": time.perf_counter() - t})


def warm_up(specs, dtypes, results, progress=None, kv=False):
    """Build and query every competitor on 2**14 keys of each dtype; record first-use seconds.

    2**14 keys are enough for the learned index to configure itself
    (:data:`learned_index.tune.MIN_TUNE`), so the first use covers the cost
    model's kernels too. The scan kernel of the benchmark itself and, with
    ``kv``, ``LearnedKV`` (on uint64 keys) are warmed up and reported too.
    """
    for dt in dtypes:
        tiny = np.sort(np.random.default_rng(0).choice(4 * MIN_TUNE, MIN_TUNE, replace=False))
        tiny = tiny.astype(dt)
        qs = tiny[::7]
        _first_use(results, "scan_sum", "range-scan kernel (bench)", dt, lambda: workloads.scan_sum(
            tiny, np.zeros(1, np.int64), np.ones(1, np.int64)))
        kv_class = workloads.kv_available() if kv and np.dtype(dt) == np.uint64 else None
        if kv_class is not None:
            _first_use(results, "learned_kv", "LearnedKV", dt, lambda: workloads.kv_mixed(
                kv_class, tiny, 2, 100, 0.1, np.random.default_rng(0)))
        for spec in specs:
            t = time.perf_counter()
            adapter = spec.make(len(tiny)).build(tiny)
            _check(adapter.lower_bound(qs), np.searchsorted(tiny, qs), f"{spec.label} warm-up")
            fn = _scalar_fn(spec, adapter, tiny)
            fn(qs[0].item())
            fn(qs[0])
            results.jit.append({"index": spec.name, "label": spec.label, "dtype": str(np.dtype(dt)),
                                "first_use_s": time.perf_counter() - t})
            adapter.close()
            if progress:
                progress()


class _Dataset:
    """The keys of one dataset and every workload's queries with their reference answers."""

    def __init__(self, name, n, keys, profile, rng):
        self.name, self.keys, self.n = name, keys, len(keys)
        p = profile
        self.present = workloads.present(keys, p.lookups, rng)
        self.loop_q = self.present[:p.loop_lookups]
        self.scalar_q = self.present[:p.scalar_lookups]
        self.work = {
            "absent": workloads.mixed(keys, p.lookups, p.absent_ratio, rng),
            "zipf": workloads.zipf(keys, p.lookups, rng),
        }
        self.ref = {"batch": np.searchsorted(keys, self.present)}
        self.ref.update({k: np.searchsorted(keys, q) for k, q in self.work.items()})
        self.scans = {}
        for length in p.scan_lengths:
            lo, hi = workloads.scan_bounds(keys, p.scans, length, rng)
            self.scans[f"scan{length}"] = (lo, hi, np.searchsorted(keys, lo), np.searchsorted(keys, hi))


def _scan(adapter, keys, lo, hi):
    a, b = adapter.lower_bound(lo), adapter.lower_bound(hi)
    workloads.scan_sum(keys, a, b)
    return a, b


def run_dataset(name, n, specs, profile, results, progress=None):
    """Measure every competitor on one dataset; appends one row per competitor to ``results``."""
    rng = np.random.default_rng(profile.seed)
    keys = load_dataset(name, n)
    label = name if n is None or name in datasets.GENERATORS or name in realdata.LOADERS \
        else name.rsplit("/", 1)[-1]
    d = _Dataset(label, n, keys, profile, rng)
    built, skipped = [], []
    gc.collect()
    for spec in specs:
        if spec.loop and d.n > profile.peer_max_n:
            skipped.append(spec.label)
            continue
        adapter = spec.make(d.n)
        build_s, _ = _timed(adapter.build, keys)
        built.append((spec, adapter, {"build_s": build_s}))
        if progress:
            progress(f"{label}: built {spec.label}")

    if skipped:
        results.notes.append(f"{', '.join(skipped)} not run on {label} ({d.n:,} keys > the "
                             f"profile's peer_max_n, {profile.peer_max_n:,})")

    # Batch lookups of present keys, alternated over the competitors.
    for spec, adapter, m in built:                           # warm-up + check
        q = d.loop_q if spec.loop else d.present
        _check(adapter.lower_bound(q), d.ref["batch"][:len(q)], f"{spec.label} on {label}")
        m["batch"] = []
    for _ in range(profile.repeats):
        for spec, adapter, m in built:
            q = d.loop_q if spec.loop else d.present
            t, got = _timed(adapter.lower_bound, q)
            _check(got, d.ref["batch"][:len(q)], f"{spec.label} on {label}")
            m["batch"].append(t / len(q))
    if progress:
        progress(f"{label}: batch lookups")

    # Scalar loops (one call per query).
    for spec, adapter, m in built:
        m["scalar"] = _scalar(spec, adapter, d, results)
    if progress:
        progress(f"{label}: scalar loops")

    # Other workloads, batch-capable competitors only.
    batchers = [(s, a, m) for s, a, m in built if not s.loop]
    for wl, q in d.work.items():
        for spec, adapter, m in batchers:
            _check(adapter.lower_bound(q), d.ref[wl], f"{spec.label} {wl} on {label}")
            m[wl] = []
        for _ in range(profile.repeats):
            for spec, adapter, m in batchers:
                t, got = _timed(adapter.lower_bound, q)
                _check(got, d.ref[wl], f"{spec.label} {wl} on {label}")
                m[wl].append(t / len(q))
    for wl, (lo, hi, ra, rb) in d.scans.items():
        for spec, adapter, m in batchers:
            m[wl] = []
        for _ in range(profile.repeats):
            for spec, adapter, m in batchers:
                t, (a, b) = _timed(_scan, adapter, keys, lo, hi)
                _check(a, ra, f"{spec.label} {wl} start on {label}")
                _check(b, rb, f"{spec.label} {wl} stop on {label}")
                m[wl].append(t / len(lo))
    if progress:
        progress(f"{label}: workloads")

    rows = [_row(spec, adapter, m, d, profile) for spec, adapter, m in built]
    _ratios(rows)
    results.rows += rows
    results.plots[f"{label} ({d.n:,} keys)"] = _plot_data(keys, built)
    for _, adapter, _ in built:
        adapter.close()
    if profile.kv_rounds and d.n <= profile.kv_max_n:
        _kv(d, profile, results, rng)


def _scalar(spec, adapter, d, results):
    """Median seconds per query of three scalar loops, every answer checked."""
    q = d.loop_q if spec.loop else d.scalar_q
    ref = d.ref["batch"][:len(q)]
    fn = _scalar_fn(spec, adapter, d.keys)
    if (spec.name == "pygm" and d.keys.dtype in (np.uint64, np.float64)
            and getattr(adapter, "_sl", None) is not None and adapter._lo == 0):
        # pygm.SortedList.bisect_left itself, as a user calls it, where it ranks the keys
        # themselves (checked like the rest; pygm 1.0.1 can be wrong near huge gaps, and
        # then the checked adapter path is timed instead).
        raw = adapter._sl.bisect_left
        _, got = _scalar_loop(raw, q.tolist())
        if np.array_equal(np.asarray(got, np.int64), ref):
            fn = raw
        else:
            results.notes.append(f"pygm bisect_left gave wrong answers on {d.name}: its scalar "
                                 "time is that of the checked adapter")
    qlist = q.tolist()
    times = []
    for _ in range(3):
        t, got = _scalar_loop(fn, qlist)
        _check(np.asarray(got, np.int64), ref, f"{spec.label} scalar loop on {d.name}")
        times.append(t / len(q))
    return float(np.median(times))


def _ns(seconds):
    return None if seconds is None else seconds * 1e9


def _row(spec, adapter, m, d, profile):
    b = np.array(m["batch"]) * 1e9
    nbytes = adapter.nbytes
    row = {
        "dataset": d.name, "n": d.n, "dtype": str(d.keys.dtype), "index": spec.name,
        "label": spec.label, "family": spec.family, "build_s": m["build_s"],
        "batch_lookups": len(d.loop_q) if spec.loop else len(d.present),
        "batch_ns": float(np.median(b)), "batch_ns_min": float(b.min()), "batch_ns_max": float(b.max()),
        "batch_rounds_ns": [float(x) for x in b],
        "scalar_ns": _ns(m["scalar"]),
        "nbytes": nbytes, "bytes_per_key": None if nbytes is None else nbytes / max(d.n, 1),
    }
    for wl in list(d.work) + list(d.scans):
        row[f"{wl}_ns"] = float(np.median(m[wl])) * 1e9 if wl in m else None
    row["absent_ratio"] = profile.absent_ratio
    if spec.family in ("learned", "tuned", "budget"):
        st = adapter.index.stats()
        row.update(mean_log2_error=st["mean_log2_error"], max_error=st["max_error"],
                   mean_error=st["mean_error"], n_leaves=st["n_leaves"],
                   fence_leaves=st["fence_leaves"],
                   config=f"{'/'.join(st['stages'])}, {st['n_leaves']} leaves"
                          + (f", n_mid {st['n_mid']}" if st["n_mid"] else "")
                          + (f", max_window {st['max_window']}" if st["max_window"] is not None else "")
                          + f", {st['search']}")
    if spec.family == "tuned":
        row["tune_s"] = adapter.tuning["seconds"]
    return row


def paired(row, ref):
    """Median over the rounds of ``row``'s batch time ÷ ``ref``'s in the same round.

    The rounds alternate the competitors, so a slow spell of the machine
    falls on both times of a round's ratio. None unless both rows have the
    same number of timed rounds.

    >>> paired({"batch_rounds_ns": [10.0, 30.0, 12.0]}, {"batch_rounds_ns": [20.0, 40.0, 20.0]})
    0.6
    """
    a, b = row.get("batch_rounds_ns"), ref.get("batch_rounds_ns")
    if not a or not b or len(a) != len(b):
        return None
    return float(np.median(np.asarray(a) / np.asarray(b)))


def _ratios(rows):
    """Ratios to the fastest B+tree (time, and its size) and to ``np.searchsorted``, in place;
    the time's paired too (:func:`paired`)."""
    trees = [r for r in rows if r["family"] == "bplustree"]
    best = min(trees, key=lambda r: r["batch_ns"]) if trees else None
    ss = next((r for r in rows if r["family"] == "binary"), None)
    for r in rows:
        r["best_btree"] = best["label"] if best else None
        r["time_vs_best_btree"] = r["batch_ns"] / best["batch_ns"] if best else None
        r["paired_vs_best_btree"] = paired(r, best) if best else None
        r["size_vs_best_btree"] = (r["nbytes"] / best["nbytes"]
                                   if best and best["nbytes"] and r["nbytes"] is not None else None)
        r["time_vs_searchsorted"] = r["batch_ns"] / ss["batch_ns"] if ss else None


def _plot_data(keys, built):
    """A sample of the CDF, the default learned index's predictions and its per-leaf windows."""
    learned = [(s, a) for s, a, _ in built if s.family == "learned"]
    if not learned:
        return None
    spec, adapter = next(((s, a) for s, a in learned if s.name == "li_default"), learned[0])
    idx = adapter.index
    pos = np.unique(np.linspace(0, len(keys) - 1, min(len(keys), 2000)).astype(np.int64))
    sample = keys[pos]
    predicted = np.asarray(idx.search(sample)[0])
    try:        # per-leaf (key count, search-window width, ...): the inputs of stats()
        widths = idx._leaf_table()[1]
    except (AttributeError, IndexError, TypeError):    # private: fall back to per-key windows
        _, lo, hi = idx.search(keys)
        widths = np.asarray(hi) - np.asarray(lo)
    return {"label": spec.label, "keys": sample.astype(np.float64), "positions": pos,
            "predicted": predicted, "leaf_windows": np.asarray(widths), "n": len(keys)}


def _kv(d, profile, results, rng):
    """The mixed read/insert workload on ``LearnedKV`` when the library has it."""
    kv_class = workloads.kv_available()
    if kv_class is None:
        note = "mixed read/insert workload skipped: learned_index.LearnedKV not available"
        if note not in results.notes:
            results.notes.append(note)
        return
    if d.keys.dtype != np.uint64:
        return
    seconds, ops, build = workloads.kv_mixed(kv_class, d.keys, profile.kv_rounds, profile.kv_batch,
                                             0.1, rng)
    results.rows.append({"dataset": d.name, "n": d.n, "dtype": str(d.keys.dtype), "index": "learned_kv",
                         "label": "LearnedKV 90% get / 10% insert, ns per op", "family": "kv",
                         "build_s": build, "batch_lookups": ops, "batch_ns": seconds / ops * 1e9,
                         "batch_ns_min": None, "batch_ns_max": None, "scalar_ns": None,
                         "nbytes": None, "bytes_per_key": None})


def _runnable(profile):
    """The ``(name, n)`` pairs that will run (real sets need airportsdata)."""
    return [(name, n) for name, n in profile.datasets
            if name not in realdata.LOADERS or realdata.available()]


def _dtypes(profile):
    """Key dtypes of the run's datasets, in order of first appearance."""
    out = []
    for name, n in _runnable(profile):
        if name in realdata.LOADERS:
            dt = np.float64 if name == "airports_lat" else np.uint64
        elif name in datasets.GENERATORS:
            dt = np.uint64
        else:
            dt = sosd.load(name, limit=2).dtype
        if np.dtype(dt) not in out:
            out.append(np.dtype(dt))
    return out


def run(profile, specs, progress=None):
    """Run ``profile`` over ``specs``; returns :class:`Results`.

    ``progress``, if given, is a callable ``(kind, advance, text)`` called
    after each step counted by :func:`total_steps` (see :mod:`bench.cli`).
    """
    results = Results()
    t0 = time.perf_counter()
    kv = bool(profile.kv_rounds) and any(n is not None and n <= profile.kv_max_n
                                         for _, n in profile.datasets)
    warm_up(specs, _dtypes(profile), results, progress=(lambda: progress("step", 1, "JIT warm-up"))
            if progress else None, kv=kv)
    for name, n in profile.datasets:
        if name in realdata.LOADERS and not realdata.available():
            results.notes.append(f"{name} skipped: the airportsdata package is not installed")
            continue
        run_dataset(name, n, specs, profile, results,
                    progress=(lambda text: progress("step", 1, text)) if progress else None)
    results.seconds = time.perf_counter() - t0
    return results


def total_steps(profile, specs):
    """Progress steps of :func:`run`: warm-ups, then builds and three phases per dataset.

    A real set's size is taken as unknown (its peers are counted as run).
    """
    steps = len(_dtypes(profile)) * len(specs)
    for _, n in _runnable(profile):
        steps += 3 + sum(1 for s in specs if not s.loop or n is None or n <= profile.peer_max_n)
    return steps
