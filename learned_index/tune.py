"""Automatic configuration of the learned index, in the spirit of the RMI optimizer and CDFShop.

Each candidate configuration (stages, ``n_leaves``, ``n_mid``, ``max_window``)
is trained on a systematic sample of the keys (every ``step``-th key) with
``step`` times fewer leaves, so that its leaves hold as many keys as they would
on the full data; a window of ``w`` sample positions stands for about
``step * w`` positions of the full array. From that build the tuner reads:

- the model's size on the full data (exact for the models; the fences of the
  hybrid index scale with the keys they cover);
- the mean of ``log2(window + 1)`` over the keys (RMI's ``avg_log2_error``), a
  fence leaf costing one node per level of its B+tree plus one cache line.

A linear cost model turns these into predicted nanoseconds per lookup
(:data:`COST`; its constants were fitted to batch lookups of 10^7 keys, see
``docs/tuning.md``). :func:`tune` then builds the few best predictions on the
full keys, times real lookups, and returns the Pareto front of
(bytes, ns per lookup). ``LearnedIndex(keys)`` without a configuration uses
the cost model alone (:func:`auto_config`), which costs a few tenths of a
second at 10^7 keys.
"""
import time

import numpy as np

from . import fences, rmi
from .search import SEARCH_KINDS

#: ns per lookup = base + per_stage * stages + per_log2 * E[log2(w + 1)] + per_fence * E[fence probes]
#: + per_size_log2 * log2(bytes): fitted to batch lookups on this project's 2-core test machine.
COST = {"base": 8.0, "per_stage": 12.0, "per_log2": 9.0, "per_fence": 6.0, "per_size_log2": 2.0}

#: stages tried by :func:`tune` (a grid) and by :func:`auto_config` (its first entries)
STAGE_GRID = (("linear", "linear", "linear"), ("linear", "linear"), ("radix", "linear"),
              ("cubic", "linear"), ("linear_spline", "linear"), ("cubic", "linear", "linear"))
AUTO_STAGES = 3
#: largest sample a candidate is trained on
SAMPLE = 1 << 19
#: smallest key count worth tuning; smaller sets get the fixed default
MIN_TUNE = 1 << 14
SMALL_DEFAULT = {"stages": ("linear", "linear"), "n_leaves": 1, "n_mid": None}
#: the default index's size cap (the learned index's design target at 10**7 keys)
DEFAULT_MAX_BYTES = 4 << 20


def _grid(n, stage_grid, small=False, max_leaves=1 << 20):
    """Model configurations for ``n`` keys: about 16 to 1024 keys per leaf (or fewer
    leaves, down to 16, when ``small``: for a tight ``max_bytes``)."""
    out = []
    for leaves_log2 in range(4, 21, 2):
        n_leaves = 1 << leaves_log2
        if n_leaves > max(n // 16, 16) or n_leaves > max_leaves:
            break
        if n_leaves < n // 1024 and not small:
            continue
        for stages in stage_grid:
            mids = (max(n_leaves // 2, 1), max(n_leaves // 16, 1)) if len(stages) == 3 else (None,)
            for n_mid in mids:
                out.append({"stages": stages, "n_leaves": n_leaves, "n_mid": n_mid})
    return out


def _full_nbytes(blob, n_leaves, n_mid, fence_floats):
    """Bytes of the candidate's blob on the full keys, from the sample build's layout."""
    root = int(blob[rmi.H_MID_OFF]) - int(blob[rmi.H_ROOT_OFF])
    mid_w, leaf_w = int(blob[rmi.H_MID_W]), int(blob[rmi.H_LEAF_W])
    head = rmi.HEADER + root + (n_mid or 0) * mid_w
    return 8 * (-(-head // 8) * 8 + n_leaves * leaf_w + fence_floats)


def estimate(keys, config, step, windows=(None,)):
    """Predicted size and cost of ``config`` with each ``max_window`` of ``windows``.

    Parameters
    ----------
    keys : ndarray
        Sorted keys.
    config : dict
        ``stages``, ``n_leaves``, ``n_mid`` (its ``max_window`` is ignored).
    step : int
        Sampling step (1 = train on every key).
    windows : tuple
        ``max_window`` values to predict; fence leaves are derived from the
        one sample build, since they replace leaves after training.

    Returns
    -------
    list of dict, one per window, with ``nbytes``, ``log2_window``,
    ``fence_probes`` and ``predicted_ns``.

    O(n / step) for the build, O(n_leaves) per window.
    """
    from .index import LearnedIndex

    sample = keys[::step]
    leaves = max(config["n_leaves"] // step, 1)
    mid = max(config["n_mid"] // step, 1) if config.get("n_mid") else None
    idx = LearnedIndex(sample, stages=config["stages"], n_leaves=leaves, n_mid=mid, max_window=None)
    counts, width, _ = idx._leaf_table()
    m = max(sample.shape[0], 1)
    per = fences.keys_per_fence(keys.itemsize)
    # A window of w sample positions is about step * w positions; two of them are the
    # sample's own rounding, which full-size windows do not have.
    w_model = np.maximum(step * (width - 2.0), np.minimum(width, 2.0))
    out = []
    for mw in windows:
        fence = (w_model > mw) & (counts * step > per) if mw is not None else np.zeros_like(counts, bool)
        w_full = np.where(fence, per, w_model)
        log2_window = float((counts * np.log2(w_full + 1.0)).sum() / m)
        n_fences = np.where(fence, counts * step / per, 0.0)
        levels = np.where(fence, np.maximum(np.ceil(np.log(np.maximum(n_fences, 1.0))
                                                     / np.log(fences.FANOUT)), 1.0), 0.0)
        fence_probes = float((counts * levels).sum() / m)
        fence_floats = float((fences.AREA_HEADER + 2 * levels + n_fences * 8 / 7)[fence].sum())
        nbytes = _full_nbytes(idx.model_, config["n_leaves"], config.get("n_mid"), fence_floats)
        ns = (COST["base"] + COST["per_stage"] * len(config["stages"])
              + COST["per_log2"] * log2_window + COST["per_fence"] * fence_probes
              + COST["per_size_log2"] * np.log2(max(nbytes, 1)))
        out.append({"nbytes": int(nbytes), "log2_window": log2_window,
                    "fence_probes": fence_probes, "predicted_ns": float(ns)})
    return out


def _step(n, sample):
    return max(1, -(-n // sample))


def auto_config(keys, max_bytes=DEFAULT_MAX_BYTES):
    """The cost model's best configuration for ``keys`` (no timing), or None if ``keys`` is small.

    Tries the first :data:`AUTO_STAGES` stage layouts of the grid, at most
    2**16 leaves, with and without fence leaves, within ``max_bytes``.
    O(n / step) per model configuration.
    """
    n = keys.shape[0]
    if n < MIN_TUNE:
        return None
    per = fences.keys_per_fence(keys.itemsize)
    grid = _grid(n, STAGE_GRID[:AUTO_STAGES], max_leaves=1 << 16)
    scored = _score(keys, grid, _step(n, SAMPLE // 2), max_bytes, (None, 8 * per))
    return scored[0][1] if scored else None


def _score(keys, grid, step, max_bytes, windows):
    """``(predicted ns, config, estimate)`` of every configuration x window within ``max_bytes``, best first."""
    scored = []
    for config in grid:
        for mw, est in zip(windows, estimate(keys, config, step, windows)):
            if max_bytes is not None and est["nbytes"] > max_bytes:
                continue
            scored.append((est["predicted_ns"], dict(config, max_window=mw), est))
    scored.sort(key=lambda t: (t[0], t[2]["nbytes"]))
    return scored


def _time_lookups(idx, queries, repeats):
    idx.lower_bound(queries[:16])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        idx.lower_bound(queries)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) / queries.shape[0] * 1e9


def _pareto(rows):
    """Rows not dominated in (nbytes, ns), ascending in bytes."""
    front = []
    for row in sorted(rows, key=lambda r: (r["nbytes"], r["ns"])):
        if not front or row["ns"] < front[-1]["ns"]:
            front.append(row)
    return front


def tune(keys, max_bytes=None, measure=True, confirm=4, lookups=200_000, repeats=3, seed=0,
         stage_grid=STAGE_GRID, search_kinds=tuple(SEARCH_KINDS), progress=None):
    """Choose the configuration of a :class:`~learned_index.LearnedIndex` for ``keys``.

    Parameters
    ----------
    keys : array_like
        The keys (validated and sorted like ``LearnedIndex`` does).
    max_bytes : int, optional
        Upper bound on the index's ``nbytes``; every returned configuration
        respects it (``ValueError`` if none can).
    measure : bool
        Build the ``confirm`` best predictions on the full keys and time
        batch lookups of random present keys; otherwise trust the cost model.
    confirm : int
        How many predictions to confirm by timing: the best of each stage
        layout first. The default configuration, plain and hybrid, is timed
        too when it is in the grid and fits ``max_bytes``.
    lookups, repeats : int
        Size and repetitions of the timed batch (median).
    seed : int
        Seed of the timed queries; the result is deterministic for a seed up
        to timing noise between near-equal candidates (``measure=False`` is
        fully deterministic).
    stage_grid : tuple of tuples
        Stage layouts to try.
    search_kinds : tuple of str
        Last-mile searches tried on the winner (when measuring).
    progress : callable, optional
        Called with a short message at each step.

    Returns
    -------
    dict
        ``config`` (keyword arguments for ``LearnedIndex``), ``index`` (the
        built winner when measuring, else None), ``front`` (Pareto rows of
        ``nbytes`` and ``ns``, measured where available), ``candidates``
        (every scored row) and ``seconds``.

    Examples
    --------
    >>> import numpy as np
    >>> keys = np.sort(np.random.default_rng(0).lognormal(0, 2, 100_000)).astype(np.float64)
    >>> result = tune(keys, max_bytes=64_000, measure=False)
    >>> result["front"][-1]["nbytes"] <= 64_000
    True
    """
    from . import _coerce
    from .index import LearnedIndex

    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    arr, _ = _coerce.as_keys(keys)
    n = arr.shape[0]
    per = fences.keys_per_fence(arr.itemsize)
    if n >= MIN_TUNE:
        windows = (None, 2 * per, 8 * per, 32 * per)
        grid, step = _grid(n, stage_grid, small=max_bytes is not None), _step(n, SAMPLE)
    else:
        windows = (None,)
        grid, step = [dict(SMALL_DEFAULT, n_leaves=max(n // 64, 1))], 1
    say(f"scoring {len(grid) * len(windows)} candidates on a sample of {n // step:,} keys")
    scored = _score(arr, grid, step, max_bytes, windows)
    if not scored:
        raise ValueError(f"no configuration fits in max_bytes={max_bytes}")
    rows = [dict(config, nbytes=est["nbytes"], predicted_ns=est["predicted_ns"],
                 ns=est["predicted_ns"], measured=False) for _, config, est in scored]
    best = rows[0]
    index = None
    if measure and n:
        rng = np.random.default_rng(seed)
        queries = arr[rng.integers(0, n, min(lookups, 4 * n))]
        built = {}
        chosen = _diverse(rows, confirm)
        chosen += [r for r in rows if _is_anchor(r, n, per) and all(r is not c for c in chosen)]
        for row in chosen:
            cfg = _config(row)
            say(f"timing {cfg}")
            idx = LearnedIndex(arr, **cfg)
            row.update(nbytes=idx.nbytes, ns=_time_lookups(idx, queries, repeats), measured=True)
            built[id(row)] = idx
        best = min(chosen, key=lambda r: (r["ns"], r["nbytes"]))
        index = built[id(best)]
        kinds = {}
        for kind in search_kinds:
            candidate = index._with_search(kind)
            kinds[kind] = (_time_lookups(candidate, queries, repeats), candidate)
        kind = min(kinds, key=lambda k: kinds[k][0])
        best = dict(best, search=kind, ns=kinds[kind][0])
        index = kinds[kind][1]
    front = _pareto(rows)
    return {"config": _config(best), "index": index, "front": front, "candidates": rows,
            "seconds": time.perf_counter() - t0}


def _diverse(rows, count):
    """The best predicted row of each stage layout, best first, up to ``count`` rows.

    The cost model ranks layouts less reliably than it ranks sizes within a
    layout, so timing covers several layouts rather than one layout's variants.
    """
    out, seen = [], set()
    for row in rows:
        if row["stages"] not in seen:
            seen.add(row["stages"])
            out.append(row)
    out += [r for r in rows if all(r is not o for o in out)]
    return out[:count]


def _is_anchor(row, n, per):
    """The default index, plain or hybrid (fence leaves past 8 cache lines), always timed:
    a measured tuning result is never slower than the default it replaces."""
    from .index import default_n_leaves

    leaves = default_n_leaves(n)
    return (row["stages"] == ("linear", "linear", "linear") and row["n_leaves"] == leaves
            and row["n_mid"] == max(1, leaves // 2) and row["max_window"] in (None, 8 * per))


def _config(row):
    out = {k: row[k] for k in ("stages", "n_leaves", "n_mid", "max_window")}
    if "search" in row:
        out["search"] = row["search"]
    return out
