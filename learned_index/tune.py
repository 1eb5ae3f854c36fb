"""Automatic configuration of the learned index, in the spirit of the RMI optimizer and CDFShop.

For each candidate configuration (stages, ``n_leaves``, ``n_mid``,
``max_window``) the tuner estimates, without building it:

- its size: exact for the models (the blob's layout depends only on the
  configuration); the fences of the hybrid index are estimated from the
  sampled leaves;
- the mean of ``log2(window + 1)`` over the keys (RMI's ``avg_log2_error``)
  and the mean number of fence levels a lookup descends.

The root and middle stages are trained on a systematic sample of the keys
(every ``step``-th key, targets in full-array positions), which routes much as
a full build does; the leaves that :data:`DRAWS` random keys fall into are then
fitted on their full keys, exactly as a build fits them (:func:`estimate`).

A linear cost model (:data:`COST`, fitted by ``python -m bench.calibrate``,
see ``docs/tuning.md``; :data:`COST_CACHED` for keys that stay in the cache)
turns these into predicted nanoseconds per lookup.
:func:`tune` then builds the few best predictions on the full keys, times
real lookups, and returns the Pareto front of (bytes, ns per lookup).
``LearnedIndex(keys)`` without a configuration uses the cost model alone
(:func:`auto_config`), under a second at 10^7 keys.
"""
import time

import numpy as np
from numba import njit

from . import fences, rmi, timing, train, wide
from .models import FAMILIES, FORM_MLP, LEAF_CODES
from .search import SEARCH_KINDS

#: weights (ns) of the cost model's terms (see :func:`features`), fitted by
#: ``python -m bench.calibrate`` to batch lookups of 10^7 keys on this
#: project's 2-core test machine (see ``docs/tuning.md``, "Calibration")
COST = {"base": 0.0, "per_stage": 4.1, "per_log2": 7.37, "per_deep_step": 12.05,
        "per_fence": 29.79, "per_fence_leaf": 0.0, "per_log2_past_l2": 3.28,
        "per_narrow_step": 63.96, "per_ring": 15.95}
#: size past which a model pays :data:`COST`'s ``per_log2_past_l2`` per doubling: a growing
#: share of its records miss the L2. 2 MiB is the L2 per core of the Xeon the term was
#: first fitted on; the AMD machine's is 512 KiB, and the refit there (2026-12-07) kept
#: the threshold, so the model charges nothing for size below 2 MiB.
L2_BYTES = 2 << 20
#: keys of at most this many bytes stay in the cache between lookups (a quarter of the
#: AMD machine's 32 MiB L3), and are priced by :data:`COST_CACHED`: there, at 10^6 64-bit
#: keys (7.6 MiB), its picks were faster; at 2*10^6 they were as fast on most sets but 1.1x
#: slower on one, and at 4*10^6 up to 1.28x slower (``docs/tuning.md``, "Keys that stay in
#: the cache")
CACHED_KEY_BYTES = 8 << 20
#: the terms a cached key array changes: a window's halvings cost less when its lines
#: come from the L3, and the index's size counts from the L2 of this machine's cores
CACHED_TERMS = ("per_log2", "per_log2_past_l2")
#: :data:`COST` with :data:`CACHED_TERMS` refitted to batch lookups of 10^6 keys (two runs
#: of ``python -m bench.calibrate --n 1e6``, pooled), the size counted from :data:`L2_BYTES_CACHED`
COST_CACHED = dict(COST, per_log2=2.52, per_log2_past_l2=2.47)
#: size past which a model over cached keys pays ``per_log2_past_l2`` per doubling: the
#: AMD machine's L2 per core
L2_BYTES_CACHED = 512 << 10

#: stages tried by :func:`tune` (a grid) and by :func:`auto_config` (its first entries)
STAGE_GRID = (("robust_linear", "linear", "linear"), ("linear", "linear"), ("radix", "linear"),
              ("cubic", "linear"), ("linear_spline", "linear"), ("cubic", "linear", "linear"))
AUTO_STAGES = 3
#: random keys whose leaves are fitted on the full keys, per candidate
DRAWS = 512
#: leaves of more keys than this are estimated from their sample keys alone
BIG_LEAF = 1 << 14
#: smallest key count worth tuning; smaller sets get :func:`small_config`
MIN_TUNE = 1 << 14
#: ``max_window`` values tried, in cache lines of keys (besides no fence leaves)
WINDOW_LINES = (2, 8, 16, 32, 64, 128)
#: the default index's size cap (the learned index's design target at 10**7 keys)
DEFAULT_MAX_BYTES = 4_000_000
#: fewest keys per leaf in the grid, and most leaves (without a cap, the fastest
#: indexes on hard data are the finest: one linear leaf per 4 keys, with half as many
#: middle records, is 6 bytes per key)
MIN_LEAF_KEYS = 4
MAX_LEAVES = 1 << 22
#: leaves per middle record in the grid's 3-stage configurations
MID_RATIOS = (2, 16)


def _most_leaves(n):
    """The most leaves tried for ``n`` keys: one per :data:`MIN_LEAF_KEYS` keys, at
    least 16, at most :data:`MAX_LEAVES`."""
    return min(max(n // MIN_LEAF_KEYS, 16), MAX_LEAVES)


def small_config(n, max_bytes=None):
    """The configuration of an index over ``n < MIN_TUNE`` keys (a rule, no cost model).

    Three linear stages with one leaf per :data:`MIN_LEAF_KEYS` keys, as many
    as fit ``max_bytes`` (at least one), and half as many middle records: the
    leaf count the cost model picks for small sets, and 1.2-2.8x faster than one
    leaf per 64 keys from 200 to 16,000 keys (see ``docs/tuning-log.md``, "Small
    key sets"). About 6 bytes per key (compact leaf and middle records, 16 bytes each). O(1).

    >>> small_config(10_000)
    {'stages': ('linear', 'linear', 'linear'), 'n_leaves': 2500, 'n_mid': 1250, 'max_window': None}
    >>> small_config(10_000, max_bytes=20_000)["n_leaves"]
    790
    """
    stages, ratio = ("linear", "linear", "linear"), MID_RATIOS[0]
    n_leaves = max(n // MIN_LEAF_KEYS, 1)
    if max_bytes is not None:
        n_leaves = max(min(n_leaves, _leaves_within(stages, ratio, max_bytes, n)), 1)
    return {"stages": stages, "n_leaves": n_leaves, "n_mid": max(n_leaves // ratio, 1),
            "max_window": None}


def _grid(n, stage_grid, small=False):
    """Model configurations for ``n`` keys: ``n_leaves`` every power of two from one
    leaf per ~1024 keys up to :func:`_most_leaves`, and, when ``small`` (for a tight
    ``max_bytes``), powers of four down to 16 leaves."""
    out = []
    for leaves_log2 in range(4, _most_leaves(n).bit_length()):
        n_leaves = 1 << leaves_log2
        if n_leaves < n // 1024 and (not small or leaves_log2 % 2):
            continue
        for stages in stage_grid:
            mids = tuple(max(n_leaves // r, 1) for r in MID_RATIOS) if len(stages) == 3 else (None,)
            for n_mid in mids:
                out.append({"stages": stages, "n_leaves": n_leaves, "n_mid": n_mid})
    return out


def _windows(itemsize):
    """The ``max_window`` values tried: none, then :data:`WINDOW_LINES` cache lines of keys."""
    line = fences.keys_per_line(itemsize)
    return (None,) + tuple(lines * line for lines in WINDOW_LINES)


def _record_bytes(family, n):
    """Bytes of one leaf record of model family ``family`` in an index over ``n`` keys,
    or of one middle record of an index of at most ``n`` leaves (compact for linear
    records, see :func:`.rmi.leaf_form`)."""
    return 8 * rmi.record_width(rmi.leaf_form(FAMILIES[family][1], n))


def _leaves_within(stages, ratio, max_bytes, n):
    """The most leaves of layout ``stages`` (with ``n_leaves / ratio`` middle records
    if it has three stages) over ``n`` keys that fit ``max_bytes``."""
    per_leaf = _record_bytes(stages[-1], n)
    if ratio:
        per_leaf += _record_bytes(stages[1], n) / ratio
    # header, root and alignment: well under a kilobyte for the grid's roots
    return int((max_bytes - 1024) / per_leaf)


def _filling(n, stage_grid, max_bytes):
    """For each stage layout (and each of the grid's ``n_mid`` ratios, ``n_leaves / 2``
    and ``/ 16``), the most leaves that fit ``max_bytes``: between the grid's powers
    of two (or four, for few leaves) up to half (three quarters) of a budget would
    go unused."""
    out = []
    for stages in stage_grid:
        for ratio in (MID_RATIOS if len(stages) == 3 else (None,)):
            n_leaves = min(_leaves_within(stages, ratio, max_bytes, n), _most_leaves(n))
            if n_leaves >= 16:
                n_mid = max(n_leaves // ratio, 1) if ratio else None
                out.append({"stages": stages, "n_leaves": n_leaves, "n_mid": n_mid})
    return out


@njit(cache=True)
def _leaf_windows(keys, sample, p, ids, leaves, step, code, scratch):
    """Key counts and windows of the given ``leaves`` of ``p``, trained on the full keys.

    ``ids`` are the leaves of the ``sample``, a copy of ``keys[::step]``.
    Routing is monotone, so a leaf's keys lie between the sample keys routed
    before and after it: its bounds are binary-searched in that slice of the
    full keys (:func:`.train.first_routed`), then the leaf is fitted into the
    one-leaf blob ``scratch`` exactly as a full build fits it (leaf family
    ``code``); a leaf of more than :data:`BIG_LEAF` keys is fitted on its
    sample keys instead. O(draws * BIG_LEAF).
    """
    n, m = keys.shape[0], ids.shape[0]
    counts = np.empty(leaves.shape[0], dtype=np.int64)
    widths = np.empty(leaves.shape[0], dtype=np.int64)
    first = np.searchsorted(ids, leaves)
    after = np.searchsorted(ids, leaves, side="right")
    bounds = np.empty(2, dtype=np.int64)
    pi = scratch.view(np.int32)
    form = np.int64(scratch[rmi.H_LEAF_FORM])
    for i in range(leaves.shape[0]):
        if (after[i] - first[i]) * step > BIG_LEAF:
            # A leaf this big has enough sample keys for the sample's window,
            # in sample positions, to stand for its full window.
            bounds[0], bounds[1] = first[i], after[i]
            train.fit_leaves(sample, bounds, scratch, code)
            counts[i] = (after[i] - first[i]) * step
            widths[i] = min(step * rmi.leaf_width(pi, form, rmi.HEADER), n)
            continue
        lo = max(first[i] - 1, 0) * step
        hi = min(after[i] * step + 1, n) if after[i] < m else n
        bounds[0] = train.first_routed(keys, p, lo, hi, leaves[i])
        bounds[1] = train.first_routed(keys, p, bounds[0], hi, leaves[i] + 1)
        train.fit_leaves(keys, bounds, scratch, code)
        counts[i] = bounds[1] - bounds[0]
        widths[i] = rmi.leaf_width(pi, form, rmi.HEADER)
    return counts, widths


def one_leaf_blob(p):
    """A blob with ``p``'s header and a single leaf record (to fit one leaf of ``p`` into;
    a compact record has its sentinel)."""
    slots = rmi.leaf_slots(1, int(p[rmi.H_LEAF_FORM]))
    scratch = np.zeros(rmi.HEADER + slots * int(p[rmi.H_LEAF_W]))
    scratch[:rmi.HEADER] = p[:rmi.HEADER]
    scratch[rmi.H_N_LEAVES], scratch[rmi.H_LEAF_OFF] = 1, rmi.HEADER
    return scratch


def estimate(keys, config, step, windows=(None,), draws=DRAWS, seed=0):
    """Predicted size and cost of ``config`` with each ``max_window`` of ``windows``.

    The root and middle stages are trained on the sample ``keys[::step]``
    (with full-array positions as targets), which routes the full keys much
    as a full build does. The leaves of ``draws`` random sample keys are then
    fitted on their full keys, exactly as a build fits them: their windows
    are exact for this routing, and the mean over the draws is the key-weighted
    mean that a lookup of a random key sees.

    Parameters
    ----------
    keys : ndarray
        Sorted keys.
    config : dict
        ``stages``, ``n_leaves``, ``n_mid`` (its ``max_window`` is ignored).
    step : int
        Sampling step of the upper stages (1 = train on every key).
    windows : tuple
        ``max_window`` values to predict; fence leaves are derived from the
        one estimate, since they replace leaves after training.
    draws : int
        Random keys whose leaves are fitted.
    seed : int
        Seed of the draws.

    Returns
    -------
    list of dict, one per window, with ``nbytes``, ``log2_window`` (of the whole
    windows), ``log2_searched`` (of what is left after narrowing),
    ``fence_probes``, ``fence_share``, ``deep_steps``, ``narrow_steps`` (see
    :func:`features`) and ``predicted_ns``.

    O(n / step) for the upper stages, plus the keys of at most ``draws`` leaves.
    """
    n, stages, in_cache = keys.shape[0], config["stages"], cached(keys)
    if n == 0:
        size = 8 * rmi.HEADER
        est = {"log2_window": 0.0, "log2_searched": 0.0, "fence_probes": 0.0,
               "fence_share": 0.0, "deep_steps": 0.0, "narrow_steps": 0.0}
        ns = _predicted(stages, est, size, in_cache)
        return [dict(est, nbytes=size, predicted_ns=ns) for _ in windows]
    sample = train.upper_sample(keys, step)
    n_mid = (config.get("n_mid") or 1) if len(stages) == 3 else 0
    p = train.skeleton(sample, stages, config["n_leaves"], n_mid, step=step, n_total=n)
    ids, _ = train.route_keys(sample, p, 0, sample.shape[0])
    picks = ids[np.random.default_rng(seed).integers(0, sample.shape[0], draws)]
    leaves, mult = np.unique(picks, return_counts=True)
    counts, widths = _leaf_windows(keys, sample, p, ids, leaves, step, LEAF_CODES[stages[-1]],
                                   one_leaf_blob(p))
    weight = mult / mult.sum()
    line = fences.keys_per_line(keys.itemsize)
    out = []
    for mw in windows:
        per = fences.fence_keys(mw or 0, keys.itemsize)
        fence = fences.fenced(widths, counts, mw, keys.itemsize)
        w = np.where(fence, per, widths)
        levels = np.where(fence, np.maximum(np.ceil(np.log(np.maximum(counts / per, 1.0))
                                                    / np.log(fences.FANOUT)), 1.0), 0.0)
        # Each draw finds a leaf with probability counts / n: weighting a fence
        # area by n / counts estimates the total over all leaves (Horvitz-Thompson).
        area = fences.AREA_HEADER + 2 * levels + counts / per * 8 / 7
        fence_floats = float((weight * fence * area * n / np.maximum(counts, 1)).sum())
        nbytes = 8 * (p.size + fence_floats)
        # the steps the build's header field would give (at most FENCE_STEPS are taken)
        field = train.steps_for_most(wide.narrow_steps(w, line), weight)
        steps, left = wide.narrowing(w, line, min(field, rmi.FENCE_STEPS))
        # past PREFETCH_LINES lines a window not narrowed is prefetched at its ends
        # and middle only: the search's later steps each wait on a miss of their own
        deep = np.where(left >= wide.PREFETCH_LINES * line, np.log2((left + 1.0) / line) - 1.0,
                        0.0)
        est = {"log2_window": float((weight * np.log2(w + 1.0)).sum()),
               "log2_searched": float((weight * np.log2(left + 1.0)).sum()),
               "fence_probes": float((weight * levels).sum()),
               "fence_share": float((weight * fence).sum()),
               "deep_steps": float((weight * deep).sum()),
               "narrow_steps": float((weight * steps).sum())}
        est["nbytes"] = int(nbytes)
        est["predicted_ns"] = _predicted(stages, est, nbytes, in_cache)
        out.append(est)
    return out


def cached(keys):
    """Whether ``keys`` are priced as staying in the cache (:data:`CACHED_KEY_BYTES`)."""
    return keys.nbytes <= CACHED_KEY_BYTES


def features(stages, est, nbytes, in_cache=False):
    """The cost model's terms for a configuration (keys of :data:`COST`) from its
    estimate ``est`` (see :func:`estimate`) and size; ``in_cache``: whether the keys
    stay in the cache (see :func:`cached`).

    ``per_log2``: mean ``log2(window + 1)`` of the last-mile search (of the piece
    left after narrowing);
    ``per_deep_step``: mean search steps past a prefetched window (see
    :func:`.wide.prefetch_window`); ``per_fence_leaf``: share of lookups that
    enter a fence leaf; ``per_fence``: mean fence levels descended;
    ``per_log2_past_l2``: ``log2`` of the size beyond :data:`L2_BYTES`
    (:data:`L2_BYTES_CACHED` for cached keys);
    ``per_narrow_step``: mean narrowing steps (see :func:`.wide.narrow`);
    ``per_ring``: 1 for an index whose batches take the ring pipeline
    (:func:`.rmi.ring_pipeline`: a network root, or fence leaves, as far as the
    sampled leaves show them), 0 for one that takes the faster stage passes
    (:mod:`.batch`).
    """
    l2 = L2_BYTES_CACHED if in_cache else L2_BYTES
    past_l2 = max(float(np.log2(max(nbytes, 1))) - np.log2(l2), 0.0)
    ring = est["fence_share"] > 0 or FAMILIES[stages[0]][1] == FORM_MLP    # as rmi.has_network
    return {"base": 1.0, "per_stage": float(len(stages)), "per_log2": est["log2_searched"],
            "per_deep_step": est["deep_steps"], "per_fence": est["fence_probes"],
            "per_fence_leaf": est["fence_share"], "per_log2_past_l2": past_l2,
            "per_narrow_step": est["narrow_steps"], "per_ring": float(ring)}


def predict_ns(terms, in_cache=False):
    """Predicted ns per batch lookup for the terms of :func:`features` (weights
    :data:`COST_CACHED` for cached keys, :data:`COST` otherwise)."""
    cost = COST_CACHED if in_cache else COST
    return float(sum(cost[k] * v for k, v in terms.items()))


def _predicted(stages, est, nbytes, in_cache):
    """:func:`predict_ns` of :func:`features`, both in the same regime."""
    return predict_ns(features(stages, est, nbytes, in_cache), in_cache)


def auto_config(keys, max_bytes=DEFAULT_MAX_BYTES, memo=None):
    """The cost model's best configuration for ``keys`` (no timing), or None if ``keys`` is small.

    Tries the first :data:`AUTO_STAGES` stage layouts of the grid with every
    power of two of leaves, plain and with fence leaves past 2, 8, 16, 32, 64
    or 128 cache lines (spans of 1, 1, 2, 4, 8 and 16 lines, see
    :func:`.fences.fence_keys`), within ``max_bytes``, and with as many leaves
    as ``max_bytes`` holds (see :func:`_filling`: at 10**7 keys, the powers of
    two leave 0.9-1.8 MB of the default's 4 MB unused). Under a cap below
    :data:`DEFAULT_MAX_BYTES`, or when no leaf count of that grid fits (from
    about 10**8 keys at 4 MB), also the coarser powers of 4 of leaves (see
    :func:`_grid`). O(n / step + keys of the sampled leaves) per model
    configuration. Of these it returns the fastest prediction, where, as in
    :func:`tune`, each doubling of the size must buy
    :data:`~learned_index.timing.SIZE_PRICE` of speed. ``memo``: estimates
    already made for ``keys``, reused and added to (see :func:`_score`;
    :func:`tune` passes its own).
    """
    n = keys.shape[0]
    if n < MIN_TUNE:
        return None
    layouts, step, windows = STAGE_GRID[:AUTO_STAGES], train.sample_step(n), _windows(keys.itemsize)
    small = max_bytes is not None and max_bytes < DEFAULT_MAX_BYTES
    grid = _grid(n, layouts, small=small)
    if max_bytes is not None:
        grid += [c for c in _filling(n, layouts, max_bytes) if c not in grid]
    scored = _score(keys, grid, step, max_bytes, windows, memo)
    if not scored and not small:        # nothing fits the usual grid: try the coarse counts
        scored = _score(keys, _grid(n, layouts, small=True), step, max_bytes, windows, memo)
    if not scored:
        return None
    rank = timing.rank(priced=True)     # as the tuner's timed choice: size has a price
    return min(scored, key=lambda t: rank({"ns": t[0], "nbytes": t[2]["nbytes"]}))[1]


def _score(keys, grid, step, max_bytes, windows, memo=None):
    """``(predicted ns, config, estimate)`` of every configuration x window within ``max_bytes``, best first.

    ``memo``, a dict, keeps each configuration's estimates (deterministic for
    the keys, ``step`` and ``windows``) for later calls over the same keys.
    """
    memo = {} if memo is None else memo
    scored = []
    for config in grid:
        leaf_bytes = config["n_leaves"] * _record_bytes(config["stages"][-1], keys.shape[0])
        if max_bytes is not None and leaf_bytes > max_bytes:
            continue
        key = (tuple(config["stages"]), config["n_leaves"], config.get("n_mid"), step, windows)
        if key not in memo:
            memo[key] = estimate(keys, config, step, windows)
        for mw, est in zip(windows, memo[key]):
            if max_bytes is not None and est["nbytes"] > max_bytes:
                continue
            scored.append((est["predicted_ns"], dict(config, max_window=mw), est))
    scored.sort(key=lambda t: (t[0], t[2]["nbytes"]))
    return scored


def tune(keys, max_bytes=None, measure=True, confirm=4, lookups=100_000, repeats=7, seed=0,
         stage_grid=STAGE_GRID, search_kinds=tuple(SEARCH_KINDS), progress=None):
    """Choose the configuration of a :class:`~learned_index.LearnedIndex` for ``keys``.

    Parameters
    ----------
    keys : array_like
        The keys (validated and sorted like ``LearnedIndex`` does).
    max_bytes : int, optional
        Upper bound on the index's ``nbytes``; every returned configuration
        respects it (``ValueError`` if none can). Besides the grid, each stage
        layout is tried with as many leaves as fit the budget. Without it,
        the grid goes up to one leaf per 4 keys (:data:`MIN_LEAF_KEYS`), and
        on data that linear models fit badly the fastest index can be about
        as large as the keys themselves.
    measure : bool
        Build the ``confirm`` best predictions on the full keys and time
        batch lookups of random present keys, all of them in each round (so
        they are in memory together: at most ``confirm + 2`` indexes);
        otherwise trust the cost model.
    confirm : int
        How many predictions to confirm by timing: the best of each stage
        layout first. Timed too: the configuration ``LearnedIndex(keys)``
        would build (:func:`auto_config`) when it fits ``max_bytes``. Each
        index is timed round by round against that default (else against the
        best prediction), and another replaces it only if it is at least
        :data:`~learned_index.timing.SWITCH_MARGIN` faster. Under
        ``max_bytes`` the fastest timed index wins. Without it, the best
        prediction of at most a quarter the size of the best one is timed too,
        and a smaller index that is about as fast wins: each doubling of the
        size must buy 3% of speed (:data:`~learned_index.timing.SIZE_PRICE`).
    lookups, repeats : int
        Size of the timed batch and rounds of timing (the median, paired
        with the default, per index: :func:`~learned_index.timing.time_rounds`).
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
    arr = _coerce.as_keys(keys)
    n = arr.shape[0]
    if n >= MIN_TUNE:
        windows = _windows(arr.itemsize)
        grid, step = _grid(n, stage_grid, small=max_bytes is not None), train.sample_step(n)
        if max_bytes is not None:
            grid += [c for c in _filling(n, stage_grid, max_bytes) if c not in grid]
    else:
        windows = (None,)
        small = small_config(n, max_bytes)
        grid, step = [{k: small[k] for k in ("stages", "n_leaves", "n_mid")}], 1
    say(f"scoring {len(grid) * len(windows)} candidates on a sample of {n // step:,} keys")
    memo = {}
    scored = _score(arr, grid, step, max_bytes, windows, memo)
    if not scored:
        raise ValueError(f"no configuration fits in max_bytes={max_bytes}")
    rows = [_row(config, est) for _, config, est in scored]
    best = rows[0]
    index = None
    if measure and n:
        rng = np.random.default_rng(seed)
        queries = arr[rng.integers(0, n, min(lookups, 4 * n))]
        chosen = timing.diverse(rows, confirm)
        default = _default_row(arr, rows, step, max_bytes, memo)
        extras = [default]
        if max_bytes is None:
            extras.append(timing.compact_row(rows, chosen))
        for extra in extras:
            if extra is not None and all(extra is not c for c in chosen):
                chosen.append(extra)
        # under a cap the fastest wins, without one the size has a price (see timing.rank)
        rank = timing.rank(priced=max_bytes is None)
        built = []
        for row in chosen:
            cfg = _config(row)
            say(f"building {cfg}")
            built.append(LearnedIndex(arr, **cfg))
            row.update(nbytes=built[-1].nbytes, measured=True)
        say(f"timing {len(built)} indexes: {repeats} rounds of {queries.shape[0]:,} lookups")
        # timed against the cost model's choice: the default, else the best prediction
        ref = next((j for j, row in enumerate(chosen) if row is default), 0)
        for row, ns in zip(chosen, timing.time_rounds(built, queries, repeats, ref)):
            row["ns"] = ns
        i = timing.pick(chosen, ref, rank)
        best, index = chosen[i], built[i]
        del built
        kinds = [index._with_search(kind) for kind in search_kinds]
        ref = search_kinds.index(index.search_) if index.search_ in search_kinds else 0
        times = timing.time_rounds(kinds, queries, repeats, ref)
        timed = [{"ns": t, "nbytes": index.nbytes} for t in times]
        i = timing.pick(timed, ref, timing.rank(False))
        best, index = dict(best, search=search_kinds[i], ns=times[i]), kinds[i]
    front = timing.pareto(rows)
    return {"config": _config(best), "index": index, "front": front, "candidates": rows,
            "seconds": time.perf_counter() - t0}


def _default_row(keys, rows, step, max_bytes, memo):
    """The row of the configuration ``LearnedIndex(keys)`` would build (added to ``rows``
    if the grid lacks it), or None if it exceeds ``max_bytes`` or ``keys`` are few.

    It is always timed, so a measured tuning result is never slower than the
    default it replaces, unless (without ``max_bytes``) it is much smaller.
    """
    default = auto_config(keys, DEFAULT_MAX_BYTES, memo)
    if default is None:
        return None
    for row in rows:
        if _config(row) == default:
            return row
    model = {k: default[k] for k in ("stages", "n_leaves", "n_mid")}
    scored = _score(keys, [model], step, max_bytes, (default["max_window"],), memo)
    if not scored:
        return None
    rows.append(_row(*scored[0][1:]))
    return rows[-1]


def _row(config, est):
    """A candidate row: the configuration with its predicted size and time (not yet measured)."""
    return dict(config, nbytes=est["nbytes"], predicted_ns=est["predicted_ns"],
                ns=est["predicted_ns"], measured=False)


def _config(row):
    out = {k: row[k] for k in ("stages", "n_leaves", "n_mid", "max_window")}
    if "search" in row:
        out["search"] = row["search"]
    return out
