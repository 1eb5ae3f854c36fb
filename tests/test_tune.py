"""The tuner: respects max_bytes, is deterministic for a seed, and its choices are exact."""
import numpy as np
import pytest

from _data import synthetic
from test_hybrid import step_keys
from test_index import check_arrays, check_scalars, check_windows
from learned_index import LearnedIndex
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
    assert sum(r["measured"] for r in res["candidates"]) == 2
    assert res["seconds"] > 0
    q = _queries(idx.keys)
    check_arrays(idx, q)
    check_scalars(idx, q)
    # the index built from the returned configuration is the same structure
    again = LearnedIndex(keys, **res["config"])
    assert np.array_equal(again.model_, idx.model_)


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


def test_tiny_and_empty_inputs():
    for keys in (np.zeros(0, np.uint64), np.array([5], np.int32), np.arange(1000.0)):
        res = tune(keys, lookups=100, repeats=1, confirm=1)
        assert res["config"]["n_leaves"] >= 1
        idx = LearnedIndex(keys, **res["config"])
        q = np.array([-1, 0, 5, 999, 2000], dtype=idx.keys.dtype if keys.dtype.kind != "u" else np.int64)
        assert np.array_equal(idx.lower_bound(q), np.searchsorted(idx.keys, q))


def test_default_configuration_is_always_timed():
    """The measured choice is never a configuration slower than the default it would replace."""
    keys = synthetic("clustered", 64 * 4**6)            # default n_leaves 4**6 lies on the grid
    res = tune(keys, confirm=1, lookups=5_000, repeats=1, search_kinds=("binary",))
    timed = [r for r in res["candidates"] if r["measured"]]
    anchors = [r for r in timed if r["stages"] == ("linear", "linear", "linear")
               and r["n_leaves"] == 4**6 and r["n_mid"] == 4**6 // 2]
    assert {r["max_window"] for r in anchors} == {None, 64} and len(timed) == 3
    fastest = min(timed, key=lambda r: (r["ns"], r["nbytes"]))
    assert {k: res["config"][k] for k in ("stages", "n_leaves", "n_mid", "max_window")} == \
        {k: fastest[k] for k in ("stages", "n_leaves", "n_mid", "max_window")}
