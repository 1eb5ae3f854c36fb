"""The tuner: respects max_bytes, is deterministic for a seed, and its choices are exact."""
import time
import types

import numpy as np
import pytest
from numba import njit

from _data import synthetic
from test_hybrid import step_keys
from test_index import check_arrays, check_scalars, check_windows
from learned_index import LearnedIndex
from learned_index import _coerce, rmi, timing, train, wide
from learned_index import tune as tune_module
from learned_index.models import LEAF_CODES
from learned_index.models.common import key_bits
from learned_index.index import DEFAULT_SEARCH
from learned_index.tune import MIN_TUNE, auto_config, tune

SETS = ("uniform_dense", "lognormal", "clustered", "duplicates", "float_wide")


def _queries(keys, seed=3):
    rng = np.random.default_rng(seed)
    q = np.concatenate([keys[rng.integers(0, keys.size, 2000)], keys[:50], keys[-50:]])
    if keys.dtype.kind == "f":
        return np.concatenate([q, np.nextafter(q[:500], np.inf), np.nextafter(q[:500], -np.inf)])
    info = np.iinfo(keys.dtype)
    up = np.where(q[:500] < info.max, q[:500] + 1, q[:500])
    down = np.where(q[:500] > info.min, q[:500] - 1, q[:500])
    return np.concatenate([q, up.astype(keys.dtype), down.astype(keys.dtype)])


@pytest.mark.parametrize("name", SETS)
def test_tuned_config_is_exact_and_fits(name):
    keys = synthetic(name, 60_000)
    res = tune(keys, measure=False)
    idx = LearnedIndex(keys, **res["config"])
    idx._check()
    assert res["index"] is None
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)
    check_windows(idx, q, upper=False)
    # the winner is the cheapest prediction, and the front is non-dominated and sorted by size
    assert res["candidates"][0]["predicted_ns"] == min(r["predicted_ns"] for r in res["candidates"])
    sizes = [r["nbytes"] for r in res["front"]]
    times = [r["ns"] for r in res["front"]]
    assert sizes == sorted(sizes) and all(a > b for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("budget", [4_000, 20_000, 100_000])
def test_max_bytes_is_respected(budget):
    keys = synthetic("lognormal", 100_000)
    res = tune(keys, max_bytes=budget, measure=False)
    assert all(r["nbytes"] <= budget for r in res["candidates"])
    assert LearnedIndex(keys, **res["config"]).nbytes <= budget
    measured = tune(keys, max_bytes=budget, confirm=2, lookups=5_000, repeats=1,
                    search_kinds=("binary", "linear"))
    assert measured["index"].nbytes <= budget
    assert measured["config"]["search"] in ("binary", "linear")
    # under a cap the fastest timed index wins, however much smaller another is
    timed = [r for r in measured["candidates"] if r["measured"]]
    fastest = min(timed, key=lambda r: (r["ns"], r["nbytes"]))
    assert tune_module._config(fastest) == {k: v for k, v in measured["config"].items()
                                            if k != "search"}


@pytest.mark.parametrize("budget", [20_000, 100_000])
def test_max_bytes_is_filled(budget):
    # between the grid's powers of two, each stage layout is also tried with
    # as many leaves as the budget holds: some candidate uses most of it
    keys = synthetic("lognormal", 100_000)
    res = tune(keys, max_bytes=budget, measure=False)
    used = [r["nbytes"] for r in res["candidates"] if r["max_window"] is None]
    assert max(used) <= budget and max(used) > 0.9 * budget
    for stages in {tuple(r["stages"]) for r in res["candidates"]}:
        fills = [r for r in res["candidates"] if tuple(r["stages"]) == stages
                 and r["max_window"] is None and r["nbytes"] > 0.9 * budget]
        assert fills, stages
        idx = LearnedIndex(keys, **tune_module._config(fills[0]))
        assert idx.nbytes == fills[0]["nbytes"]
        check_arrays(idx, _queries(idx.keys))


@pytest.mark.parametrize("cap", [30_000, 300_000])
def test_auto_config_fills_its_budget(cap):
    """Between the grid's powers of two, the default's choice also weighs each stage
    layout with as many leaves as the cap holds, and never exceeds the cap."""
    keys = synthetic("lognormal", 100_000)
    memo = {}
    chosen = auto_config(keys, cap, memo=memo)
    for stages in tune_module.STAGE_GRID[:tune_module.AUTO_STAGES]:
        sizes = [ests[0]["nbytes"] for key, ests in memo.items() if key[0] == stages]
        assert any(0.9 * cap < b <= cap for b in sizes), (stages, sorted(sizes)[-3:])
    assert LearnedIndex(keys, **chosen).nbytes <= cap


@pytest.mark.parametrize("gain, smallest", [(0.02, True), (0.05, False)])
def test_auto_config_prices_size(monkeypatch, gain, smallest):
    """A larger index is the default's choice only if each doubling of its size is
    predicted to buy SIZE_PRICE (3%) of speed, as in the timed tuning."""
    def fake(keys, config, step, windows=(None,), *args, **kw):
        nbytes = 64 * config["n_leaves"]
        ns = 100.0 * (1.0 - gain) ** np.log2(nbytes)
        return [{"nbytes": nbytes, "predicted_ns": ns} for _ in windows]

    monkeypatch.setattr(tune_module, "estimate", fake)
    keys = synthetic("lognormal", 100_000)
    grid = tune_module._grid(keys.size, tune_module.STAGE_GRID[:tune_module.AUTO_STAGES], small=True)
    leaves = [c["n_leaves"] for c in grid + tune_module._filling(
        keys.size, tune_module.STAGE_GRID[:tune_module.AUTO_STAGES], 1_000_000)
        if 64 * c["n_leaves"] <= 1_000_000]
    chosen = auto_config(keys, 1_000_000)
    assert chosen["n_leaves"] == (min(leaves) if smallest else max(leaves))


def test_impossible_budget_raises():
    with pytest.raises(ValueError, match="max_bytes"):
        tune(synthetic("uniform_dense", 50_000), max_bytes=100, measure=False)


def test_deterministic_for_a_seed():
    keys = synthetic("clustered", 80_000)
    a = tune(keys, measure=False, seed=5)
    b = tune(keys, measure=False, seed=5)
    assert a["config"] == b["config"] and a["candidates"] == b["candidates"]
    assert auto_config(keys) == auto_config(keys)


def test_measured_tuning_returns_an_exact_index():
    keys = step_keys(np.uint64)
    res = tune(keys, confirm=2, lookups=10_000, repeats=1)
    idx = res["index"]
    assert isinstance(idx, LearnedIndex) and idx.search_ == res["config"]["search"]
    # the confirmed, the default's configuration and a compact one
    assert 2 <= sum(r["measured"] for r in res["candidates"]) <= 4
    assert res["seconds"] > 0
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)
    # the index built from the returned configuration is the same structure
    again = LearnedIndex(keys, **res["config"])
    assert np.array_equal(again.model_.view(np.uint64), idx.model_.view(np.uint64))   # bitwise


def test_each_configuration_is_estimated_once(monkeypatch):
    """The tuner's scoring and the default's (``auto_config``) share their estimates,
    which are the same as without sharing."""
    keys = synthetic("lognormal", 100_000)
    assert auto_config(keys, memo={}) == auto_config(keys)
    calls = []
    real = tune_module.estimate

    def counted(keys, config, step, windows=(None,), *args, **kw):
        calls.append((tuple(config["stages"]), config["n_leaves"], config.get("n_mid"), windows))
        return real(keys, config, step, windows, *args, **kw)

    monkeypatch.setattr(tune_module, "estimate", counted)
    res = tune(keys, confirm=1, lookups=2_000, repeats=1, search_kinds=("binary",))
    assert calls and len(calls) == len(set(calls))
    default = auto_config(keys)
    assert any(tune_module._config(r) == default for r in res["candidates"] if r["measured"])


def test_timing_rounds_interleave_the_candidates():
    """Each round times every index once, starting one further along, after one
    warm-up each; the result is the median per index, in ns per lookup."""
    keys = np.arange(1000, dtype=np.uint64)
    queries = keys[::2]
    calls = []

    class Fake:
        def __init__(self, name, pause):
            self.name, self.pause = name, pause

        def lower_bound(self, q):
            calls.append((self.name, q.shape[0]))
            if q.shape[0] == queries.shape[0]:
                time.sleep(self.pause)
            return np.searchsorted(keys, q)

    ns = timing.time_rounds([Fake("a", 0.004), Fake("b", 0.0), Fake("c", 0.0)], queries, 3)
    assert calls[:3] == [("a", 16), ("b", 16), ("c", 16)]
    assert [name for name, size in calls[3:]] == list("abcbcacab")
    assert {size for _, size in calls[3:]} == {queries.shape[0]}
    # the pause of 4 ms is at least 8,000 ns per lookup of 500
    assert ns[0] >= 8_000 and ns[0] > max(ns[1:]) and min(ns) > 0


def test_timing_rounds_pair_each_index_with_the_reference(monkeypatch):
    """With ``ref``, an index's time is the median over the rounds of its ratio to the
    reference's time in the same round, times the reference's median; without, its median."""
    clock = [0.0]
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class Fake:
        def __init__(self, seconds):
            self.seconds = list(seconds)

        def lower_bound(self, q):
            if q.shape[0] > 16:                 # the warm-up batch takes no time
                clock[0] += self.seconds.pop(0)

    queries = np.arange(500, dtype=np.uint64)
    ref_s, other_s = [1.0, 2.0, 4.0], [2.0, 1.6, 3.0]       # seconds per round
    ns = timing.time_rounds([Fake(ref_s), Fake(other_s)], queries, 3)
    assert np.allclose(ns, [2.0e9 / 500, 2.0e9 / 500])
    ns = timing.time_rounds([Fake(ref_s), Fake(other_s)], queries, 3, ref=0)
    # ratios 2.0, 0.8, 0.75: median 0.8, times the reference's median 2 s
    assert np.allclose(ns, [2.0e9 / 500, 1.6e9 / 500])


@pytest.mark.parametrize("others, switch", [(98.0, False), (96.0, True)])
def test_timed_indexes_replace_the_default_only_by_a_margin(monkeypatch, others, switch):
    """Each timed index is paired with the default's (then with the winner's own search),
    and replaces it only if at least ``SWITCH_MARGIN`` (3%) faster."""
    keys = synthetic("lognormal", 4 * MIN_TUNE)
    default = auto_config(keys)
    refs = []

    def timed(indexes, queries, repeats, ref=None):
        refs.append(indexes[ref])
        return [100.0 if i == ref else others for i in range(len(indexes))]

    monkeypatch.setattr(timing, "time_rounds", timed)
    res = tune(keys, max_bytes=4_000_000, repeats=1)
    assert len(refs) == 2
    built = refs[0].stats()
    assert {k: built[k] for k in default} == default
    assert refs[1].search_ == DEFAULT_SEARCH                # the winner, as built
    chosen = {k: res["config"][k] for k in default}
    assert (chosen != default) == switch
    assert (res["config"]["search"] != refs[1].search_) == switch
    assert res["index"].search_ == res["config"]["search"]


def test_auto_stages_use_the_cost_model():
    keys = synthetic("lognormal", 4 * MIN_TUNE)
    idx = LearnedIndex(keys, stages="auto")
    cfg = auto_config(idx.keys)
    st = idx.stats()
    assert (st["stages"], st["n_leaves"], st["max_window"]) == \
        (cfg["stages"], cfg["n_leaves"], cfg["max_window"])
    assert idx.nbytes <= 4 << 20
    check_arrays(idx, _queries(idx.keys))
    small = LearnedIndex(np.arange(100, dtype=np.uint64), stages="auto")
    assert small.stats()["stages"] == ("linear", "linear", "linear")
    assert auto_config(np.arange(100, dtype=np.uint64)) is None


@pytest.mark.parametrize("stages, max_window", [(("linear", "linear"), None), (("linear", "linear"), 8),
                                                 (("mlp", "linear"), None)])
def test_ring_term_marks_the_indexes_that_take_the_ring_pipeline(stages, max_window):
    """The cost model charges ``per_ring`` exactly to the indexes whose batches take
    the ring pipeline (fence leaves or a network root), as the built blob tells."""
    keys = step_keys(np.uint64)
    config = {"stages": stages, "n_leaves": 64}
    est = tune_module.estimate(keys, config, train.sample_step(keys.size), (max_window,))[0]
    terms = tune_module.features(stages, est, est["nbytes"])
    blob = LearnedIndex(keys, **config, max_window=max_window).model_
    assert terms["per_ring"] == float(rmi.has_fences(blob) or rmi.has_network(blob))
    assert terms["per_ring"] == float(max_window is not None or stages[0] == "mlp")
    assert set(terms) == set(tune_module.COST)


@pytest.mark.parametrize("in_cache", [True, False])
def test_cached_keys_are_priced_by_their_own_weights(monkeypatch, in_cache):
    """Keys within CACHED_KEY_BYTES are priced by COST_CACHED with the size counted
    from L2_BYTES_CACHED; larger keys by COST from L2_BYTES. Checked on the estimate's
    prediction against the weighted sum written out."""
    keys = synthetic("lognormal", 200_000)
    if not in_cache:
        monkeypatch.setattr(tune_module, "CACHED_KEY_BYTES", keys.nbytes - 1)
    assert tune_module.cached(keys) == in_cache
    config = {"stages": ("linear", "linear"), "n_leaves": 1 << 16}
    est = tune_module.estimate(keys, config, train.sample_step(keys.size), (None, 8))
    cost = tune_module.COST_CACHED if in_cache else tune_module.COST
    l2 = tune_module.L2_BYTES_CACHED if in_cache else tune_module.L2_BYTES
    for e in est:
        assert e["nbytes"] > tune_module.L2_BYTES_CACHED
        terms = tune_module.features(config["stages"], e, e["nbytes"], in_cache)
        assert terms["per_log2_past_l2"] == pytest.approx(max(np.log2(e["nbytes"] / l2), 0.0))
        want = sum(cost[k] * v for k, v in terms.items())
        assert e["predicted_ns"] == pytest.approx(want)
        other = tune_module.predict_ns(terms, not in_cache)
        assert other != pytest.approx(want)         # the regimes' weights differ on these terms
    assert [k for k in tune_module.COST if tune_module.COST[k] != tune_module.COST_CACHED[k]] \
        == list(tune_module.CACHED_TERMS)


def test_tiny_and_empty_inputs():
    for keys in (np.zeros(0, np.uint64), np.array([5], np.int32), np.arange(1000.0)):
        res = tune(keys, lookups=100, repeats=1, confirm=1)
        assert res["config"]["n_leaves"] >= 1
        idx = LearnedIndex(keys, **res["config"])
        q = np.array([-1, 0, 5, 999, 2000], dtype=idx.keys.dtype if keys.dtype.kind != "u" else np.int64)
        assert np.array_equal(idx.lower_bound(q), np.searchsorted(idx.keys, q))


@pytest.mark.parametrize("name", ["lognormal", "clustered", "duplicates", "above_2_53",
                                  "int32_mixed", "float_wide"])
@pytest.mark.parametrize("n", [2, 3, 40, 1000, MIN_TUNE - 1])
@pytest.mark.parametrize("cap", [None, 5_000])
def test_small_sets_follow_the_rule_within_the_cap(name, n, cap):
    """Below MIN_TUNE keys the default is small_config's: one leaf per 4 keys, as many as
    the cap holds, exact; tune's only candidate below MIN_TUNE is the same rule."""
    keys = synthetic(name, n)
    idx = LearnedIndex(keys) if cap is None else LearnedIndex(keys, max_bytes=cap)
    rule = tune_module.small_config(n, cap)
    s = idx.stats()
    assert not s["auto"] and s["max_window"] is None
    assert (s["stages"], s["n_leaves"], s["n_mid"]) == \
        (rule["stages"], rule["n_leaves"], rule["n_mid"])
    # a compact leaf (16 bytes) and half a compact middle record (16) per leaf
    assert rule["n_leaves"] == (max(n // 4, 1) if cap is None or n < 300 else (cap - 1024) // 24)
    assert idx.nbytes <= (cap or 8 * n + 1024)
    idx._check()
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q[:300])
    res = tune(keys, max_bytes=cap, measure=False)
    assert {k: res["config"][k] for k in rule} == rule


def test_default_configuration_is_always_timed():
    """The measured choice is never a configuration slower than the default it would replace."""
    keys = synthetic("clustered", 200_000)
    res = tune(keys, confirm=1, lookups=5_000, repeats=1, search_kinds=("binary",))
    timed = [r for r in res["candidates"] if r["measured"]]
    default = LearnedIndex(keys).stats()
    keys_ = ("stages", "n_leaves", "max_window")
    assert any(all(r[k] == default[k] for k in keys_) for r in timed) and len(timed) <= 3
    # the choice: each doubling of size must buy 3% of speed, and the winner must beat
    # the default by 3%
    price = -np.log2(1.0 - timing.SIZE_PRICE)
    cost = {id(r): r["ns"] * r["nbytes"] ** price for r in timed}
    chosen = next(r for r in timed if all(r[k] == res["config"][k] for k in keys_ + ("n_mid",)))
    dflt = next(r for r in timed if all(r[k] == default[k] for k in keys_ + ("n_mid",)))
    margin = 1.0 - timing.SWITCH_MARGIN
    if chosen is dflt:
        assert min(cost.values()) >= margin * cost[id(dflt)]
    else:
        assert cost[id(chosen)] == min(cost.values()) < margin * cost[id(dflt)]


@njit
def _route_each(keys, p, lo, hi):
    """Reference for ``train.route_keys``: ``rmi.route`` key by key, then a running maximum."""
    pu, pi, pf = rmi._views(p)
    lay = rmi.layout(p)
    kbu, kbf = key_bits(keys[0])
    ids = np.empty(hi - lo, dtype=np.int64)
    for j in range(lo, hi):
        ids[j - lo] = rmi.route(p, pu, pi, lay, kbu, kbf, keys[j], rmi.has_network(p))
    bent = np.int64(0)
    for j in range(1, ids.shape[0]):
        if ids[j] < ids[j - 1]:
            bent += 1
            ids[j] = ids[j - 1]
    return ids, bent


@pytest.mark.parametrize("stages", [("linear", "linear"), ("linear", "linear", "linear"),
                                    ("mlp", "linear")])
def test_route_keys_matches_routing_each_key(stages):
    """``route_keys`` (one loop per stage count) routes as ``rmi.route`` does, and
    straightens a non-monotone routing into its running maximum, counting the bends."""
    keys = synthetic("clustered", 30_000)
    idx = LearnedIndex(keys, stages=stages, n_leaves=256)
    p = idx.model_.copy()
    bent_blob = p.copy()            # a decreasing root: every route bends
    o = int(p[rmi.H_ROOT_OFF])
    if stages[0] == "linear":
        bent_blob[o], bent_blob[o + 1] = bent_blob[o] + 100.0, -bent_blob[o + 1]
    for blob in (p, bent_blob):
        for lo, hi in [(0, keys.size), (1000, 20_000), (5, 5)]:
            ids, bent = train.route_keys(idx.keys, blob, lo, hi)
            want, want_bent = _route_each(idx.keys, blob, lo, hi)
            assert np.array_equal(ids, want) and bent == want_bent
    if stages[0] == "linear":
        assert train.route_keys(idx.keys, bent_blob, 0, keys.size)[1] > 0


@pytest.mark.parametrize("name", ["clustered", "duplicates", "float_wide"])
@pytest.mark.parametrize("stages", [("linear", "linear", "linear"), ("cubic", "linear"),
                                    ("radix", "linear")])
def test_first_routed_matches_routing_every_key(name, stages):
    """The estimator's binary-searched leaf bounds are those of routing every key."""
    keys = synthetic(name, 50_000)
    idx = LearnedIndex(keys, stages=stages, n_leaves=512)
    arr, p = idx.keys, idx.model_
    rng = np.random.default_rng(1)
    for lo, hi in [(0, arr.size), (0, 0), (arr.size, arr.size)] + \
            [tuple(sorted(rng.integers(0, arr.size + 1, 2))) for _ in range(30)]:
        routed, bent = train.route_keys(arr, p, lo, hi)
        assert bent == 0
        for leaf in [0, 511, 512, *rng.integers(0, 512, 10)]:
            assert train.first_routed(arr, p, lo, hi, leaf) == lo + np.searchsorted(routed, leaf)


@pytest.mark.parametrize("name", ["lognormal", "clustered", "duplicates"])
@pytest.mark.parametrize("stages, per_leaf", [(("linear", "linear", "linear"), 64),
                                              (("linear", "linear"), 256),
                                              (("cubic", "linear"), 1024)])
def test_estimate_matches_the_built_index(name, stages, per_leaf):
    """The sampled-leaf estimate of mean log2 window and size agrees with a full build
    (within 0.5, or 10% for bad fits whose huge leaves are estimated from the sample)."""
    keys = synthetic(name, 400_000)
    n_leaves = keys.size // per_leaf
    config = {"stages": stages, "n_leaves": n_leaves,
              "n_mid": n_leaves // 2 if len(stages) == 3 else None}
    est = tune_module.estimate(keys, config, step=8, windows=(None, 64))
    plain = LearnedIndex(keys, **config)
    built = plain.stats()
    assert est[0]["nbytes"] == plain.nbytes
    tolerance = max(0.5, 0.1 * built["mean_log2_error"])
    assert abs(est[0]["log2_window"] - built["mean_log2_error"]) <= tolerance, (est[0], built)
    hybrid = LearnedIndex(keys, **config, max_window=64)
    assert abs(est[1]["log2_window"] - hybrid.stats()["mean_log2_error"]) <= tolerance
    assert est[1]["nbytes"] == pytest.approx(hybrid.nbytes, rel=0.25, abs=4096)


@pytest.mark.parametrize("name", ["lognormal", "clustered"])
@pytest.mark.parametrize("n_leaves", [16, 64, 256])
def test_estimate_narrowing_matches_the_built_index(name, n_leaves):
    """The estimate's mean narrowing steps agree with the built index's: each leaf
    takes the steps its window needs, at most the header's, weighted by its keys
    (within 0.35 steps: the estimate draws 512 keys)."""
    keys = synthetic(name, 400_000)
    config = {"stages": ("linear", "linear"), "n_leaves": n_leaves, "n_mid": None}
    est = tune_module.estimate(keys, config, step=8)[0]
    idx = LearnedIndex(keys, **config)
    counts, widths, _ = idx._leaf_table()
    need = np.array([wide.narrow_steps(int(w)) for w in widths])
    built = np.minimum(need, idx.model_[rmi.H_NARROW])
    mean = float((counts * built).sum() / counts.sum())
    assert abs(est["narrow_steps"] - mean) <= 0.35, (est, mean, idx.model_[rmi.H_NARROW])
    assert est["log2_searched"] <= est["log2_window"]


def test_default_index_stays_within_its_budget(monkeypatch):
    """If fence areas overshoot the estimate, the default drops them rather than the cap."""
    keys = step_keys(np.uint64)
    config = {"stages": ("linear", "linear"), "n_leaves": 64, "n_mid": None, "max_window": 0}
    plain = LearnedIndex(keys, **dict(config, max_window=None))
    assert LearnedIndex(keys, **config).stats()["fence_leaves"] > 0     # fences would overshoot
    monkeypatch.setattr(tune_module, "auto_config", lambda keys, max_bytes: dict(config))
    monkeypatch.setattr(tune_module, "DEFAULT_MAX_BYTES", plain.nbytes)
    idx = LearnedIndex(keys)
    s = idx.stats()
    assert s["auto"] and s["max_window"] is None and s["fence_leaves"] == 0
    assert idx.nbytes == plain.nbytes
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)


@pytest.mark.parametrize("stages", [("linear", "linear", "linear"), ("radix", "linear")])
def test_sampled_leaves_match_a_full_routing(stages):
    """The estimator's slice-by-slice routing finds each sampled leaf's exact keys."""
    keys = _coerce.frozen(synthetic("clustered", 200_000))   # read-only, as an index holds them
    step, n_leaves = 8, 2**12
    sample = train.upper_sample(keys, step)
    p = train.skeleton(sample, stages, n_leaves, n_leaves // 2 if len(stages) == 3 else 0,
                       step=step, n_total=keys.size)
    ids, _ = train.route_keys(sample, p, 0, sample.size)
    leaves = np.unique(ids[::37])
    scratch = tune_module.one_leaf_blob(p)
    code = LEAF_CODES[stages[-1]]
    counts, widths = tune_module._leaf_windows(keys, sample, p, ids, leaves, step, code, scratch)
    full, _ = train.route_keys(keys, p, 0, keys.size)
    small = counts <= tune_module.BIG_LEAF
    assert small.any()
    for leaf, count, width in zip(leaves[small], counts[small], widths[small]):
        s, e = np.searchsorted(full, leaf), np.searchsorted(full, leaf, side="right")
        train.fit_leaves(keys, np.array([s, e], dtype=np.int64), scratch, code)
        stored = rmi.leaf_width(scratch.view(np.int32), int(scratch[rmi.H_LEAF_FORM]), rmi.HEADER)
        assert (count, width) == (e - s, stored)


@pytest.mark.parametrize("name", ["clustered", "duplicates"])
def test_build_trains_upper_stages_on_the_estimators_sample(monkeypatch, name):
    """Past UPPER_SAMPLE keys a build trains its root and middle stages on the same
    systematic sample as the tuner's estimate, so the two agree; lookups stay exact."""
    monkeypatch.setattr(train, "UPPER_SAMPLE", 1 << 14)
    keys = _coerce.frozen(synthetic(name, 200_000))
    step = train.sample_step(keys.size)
    assert step == 13
    config = {"stages": ("linear", "linear", "linear"), "n_leaves": 2**12, "n_mid": 2**11}
    p, info = train.build(keys, config["stages"], config["n_leaves"], config["n_mid"])
    skel = train.skeleton(train.upper_sample(keys, step), config["stages"], 2**12, 2**11,
                          step=step, n_total=keys.size)
    upper = int(p[rmi.H_LEAF_OFF])
    # all but the header's narrowing steps, which the build counts on the fitted leaves
    same = np.delete(np.arange(upper), rmi.H_NARROW)
    assert np.array_equal(p[same], skel[same])
    assert skel[rmi.H_NARROW] == 0 and p[rmi.H_NARROW] == train.narrowing_steps(p, info["starts"], 8)
    idx = LearnedIndex(keys, **config)
    est = tune_module.estimate(keys, config, step=step)[0]
    assert abs(est["log2_window"] - idx.stats()["mean_log2_error"]) <= 0.25
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_windows(idx, q)


@pytest.mark.parametrize("name", ["lognormal", "clustered", "duplicates", "float_wide"])
@pytest.mark.parametrize("cap", [2_000, 40_000, 1_000_000, 30_000_000])
def test_index_max_bytes_caps_the_automatic_configuration(name, cap):
    """LearnedIndex(keys, max_bytes=...) builds the cost model's choice within the cap
    (coarser grids below the default's cap), and stays exact."""
    keys = synthetic(name, 100_000)
    idx = LearnedIndex(keys, max_bytes=cap)
    s = idx.stats()
    assert s["auto"] and idx.nbytes <= cap
    chosen = auto_config(idx.keys, cap)
    assert (s["stages"], s["n_leaves"]) == (chosen["stages"], chosen["n_leaves"])
    if cap < tune_module.DEFAULT_MAX_BYTES // 100:         # only the coarse powers of 4 fit
        assert s["n_leaves"] < keys.size // 1024
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)
    check_windows(idx, q, upper=False)


def test_index_max_bytes_default_and_errors():
    keys = synthetic("lognormal", 100_000)
    default = LearnedIndex(keys)
    same = LearnedIndex(keys, max_bytes=tune_module.DEFAULT_MAX_BYTES)
    assert np.array_equal(default.model_.view(np.uint64), same.model_.view(np.uint64))
    assert default.stats()["auto"]
    for bad in (0, -5, float("nan"), float("inf"), "1e6", True, [1e6]):
        with pytest.raises(ValueError, match="max_bytes must be"):
            LearnedIndex(keys, max_bytes=bad)
    with pytest.raises(ValueError, match="no index over"):
        LearnedIndex(keys, max_bytes=200)
    with pytest.raises(ValueError, match="cannot be combined"):
        LearnedIndex(keys, n_leaves=64, max_bytes=1e6)
    with pytest.raises(ValueError, match="cannot be combined"):
        LearnedIndex(keys, max_window=64, max_bytes=1e6)
    small = keys[:1000]                          # below MIN_TUNE: small_config, checked
    assert LearnedIndex(small, max_bytes=1e5).nbytes <= 1e5
    assert LearnedIndex(small, max_bytes=300).stats()["n_leaves"] == 1
    with pytest.raises(ValueError, match="above max_bytes"):
        LearnedIndex(small, max_bytes=100)
    assert LearnedIndex(small[:0], max_bytes=1e3).lower_bound(5) == 0


def test_auto_config_falls_back_to_coarse_leaves(monkeypatch):
    """When no leaf count of the usual grid fits the default cap (10**8 keys and
    more at 4 MB), the cost model still chooses, among the coarser counts."""
    keys = synthetic("lognormal", 100_000)
    cap = 2_000                                  # the usual grid starts at 128 leaves, 2 kB
    assert not tune_module._score(keys, tune_module._grid(keys.size, tune_module.STAGE_GRID[:3]),
                                  1, cap, (None,))
    monkeypatch.setattr(tune_module, "DEFAULT_MAX_BYTES", cap)
    idx = LearnedIndex(keys)
    assert idx.stats()["auto"] and idx.nbytes <= cap
    check_arrays(idx, _queries(idx.keys))
