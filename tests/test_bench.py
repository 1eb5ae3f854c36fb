"""Smoke tests of the benchmark suite (``python -m bench``) on tiny sizes.

Every dataset generator and the real-data loaders, the SOSD loader on files
written here, the harness's answer check, and one CLI run whose CSV, JSON,
PNG and Markdown outputs are parsed and checked.
"""
import csv
import json
import statistics

import numpy as np
import pytest

from bench import cli, competitors, datasets, harness, profiles, realdata, sosd, workloads

SMALL = ["--sizes", "2000", "--lookups", "1000", "--repeats", "1", "--scalar-lookups", "200",
         "--loop-lookups", "200", "--scans", "100", "--kv-rounds", "2", "--quiet"]


# --------------------------------------------------------------------------- datasets

@pytest.mark.parametrize("name", list(datasets.GENERATORS))
def test_generators_sorted_seeded(name):
    f = datasets.GENERATORS[name]
    a = f(3000)
    assert a.dtype == np.uint64 and a.shape == (3000,)
    assert np.all(a[1:] >= a[:-1])
    assert np.array_equal(a, f(3000, seed=42))
    assert not np.array_equal(a, f(3000, seed=7))
    assert len(f(1)) == 1


def test_generator_shapes():
    fb = datasets.fb(100_000)
    assert fb[-1] > 2**50 > fb[-10]                  # a few far outliers above dense ids
    wiki = datasets.wiki(20_000)
    assert len(np.unique(wiki)) < len(wiki)          # duplicate timestamps
    osm = datasets.osm(20_000)
    gaps = np.diff(osm.astype(np.float64))
    assert gaps.max() > 1000 * np.median(gaps)       # dense clusters, huge gaps


def test_morton():
    x = np.array([0, 1, 0, 3, 2**32 - 1], np.uint32)
    y = np.array([0, 0, 1, 3, 2**32 - 1], np.uint32)
    assert datasets.morton2(x, y).tolist() == [0, 2, 1, 15, 2**64 - 1]


@pytest.mark.skipif(not realdata.available(), reason="airportsdata not installed")
def test_real_airports():
    lat = realdata.airports_lat()
    cells = realdata.airports_cells()
    assert lat.dtype == np.float64 and cells.dtype == np.uint64
    assert len(lat) == len(cells) > 20_000
    assert -90 <= lat[0] and lat[-1] <= 90 and np.all(np.diff(lat) >= 0)
    assert len(realdata.airports_cells(500)) == 500


# --------------------------------------------------------------------------- SOSD loader

@pytest.mark.parametrize("dtype", [np.uint64, np.uint32])
def test_sosd_roundtrip(tmp_path, dtype):
    keys = np.sort(np.random.default_rng(3).integers(0, np.iinfo(dtype).max, 1000, dtype=dtype))
    path = str(tmp_path / f"toy_1K_{np.dtype(dtype).name}")
    sosd.write(path, keys)
    raw = open(path, "rb").read()
    assert int.from_bytes(raw[:8], "little") == 1000 and len(raw) == 8 + 1000 * keys.itemsize
    got = sosd.load(path)
    assert got.dtype == dtype and np.array_equal(got, keys)
    assert np.array_equal(sosd.load(path, limit=10), keys[:10])


def test_sosd_bad_header_and_npy(tmp_path):
    path = str(tmp_path / "bad_uint64")
    with open(path, "wb") as f:
        f.write(np.uint64(5).tobytes() + np.arange(3, dtype=np.uint64).tobytes())
    with pytest.raises(ValueError, match="header"):
        sosd.load(path)
    npy = str(tmp_path / "k.npy")
    np.save(npy, np.array([9, 1, 5], np.int64))
    assert sosd.load(npy).tolist() == [1, 5, 9]


# --------------------------------------------------------------------------- workloads and harness

def test_workloads():
    rng = np.random.default_rng(0)
    keys = datasets.clustered(5000)
    ab = workloads.absent(keys, 300, rng)
    assert len(ab) == 300 and not np.isin(ab, keys).any()
    lo, hi = workloads.scan_bounds(keys, 50, 10, rng)
    assert np.all(lo <= hi)
    a, b = np.searchsorted(keys, lo), np.searchsorted(keys, hi)
    assert workloads.scan_sum(keys, a, b) == keys[np.concatenate(
        [np.arange(s, e) for s, e in zip(a, b)])].sum()


class _Wrong(competitors.SPECS["binary_search"].cls):
    name = "deliberately wrong"

    def _lb_many(self, qk):
        return super()._lb_many(qk) + 1


def test_wrong_answer_fails_loudly():
    spec = competitors.Spec("wrong", "wrong", "binary", _Wrong)
    prof = profiles.Profile("t", (("uniform_dense", 500),), lookups=100, repeats=1,
                            scalar_lookups=10, loop_lookups=10, scans=10, kv_rounds=0)
    with pytest.raises(SystemExit, match="WRONG ANSWERS"):
        harness.run_dataset("uniform_dense", 500, [spec], prof, harness.Results())


def test_help_and_bad_names(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--profile" in out and "--datasets" in out and "osm" in out
    with pytest.raises(SystemExit):
        cli.main(["--indexes", "no_such_index", "--quiet"])


def test_progress_lines_in_a_log(tmp_path, capsys):
    """Without a terminal (a log, a pipe, CI) each step is one plain line with its
    count and elapsed time, since the progress bar is not redrawn there."""
    small = [a for a in SMALL if a != "--quiet"]
    cli.main(["--datasets", "uniform_dense", "--indexes", "binary_search", "bplustree",
              "--out", str(tmp_path), "--no-plots"] + small)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    built = [ln for ln in lines if ": built " in ln]
    assert len(built) == 1 + len(competitors.resolve(["bplustree"]))
    counts = [int(ln[1:].split("/")[0]) for ln in lines]
    total = int(lines[0].split("/")[1].split()[0])
    assert counts == sorted(counts) and 0 < counts[-1] <= total
    assert any(ln.endswith(": batch lookups") for ln in lines)


# --------------------------------------------------------------------------- CLI end to end

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    sosd_file = str(out / "mine_2K_uint64")
    sosd.write(sosd_file, datasets.books(2000, seed=5))
    md = out / "performance.md"
    md.write_text("# Performance\n\nkept text\n")
    datasets_ = ["lognormal", "osm", "wiki"] + (["airports_lat"] if realdata.available() else [])
    results = cli.main(["--datasets", *datasets_, "--data", sosd_file, "--indexes", "all",
                        "--search-kinds", "--out", str(out / "res"), "--markdown", str(md)]
                       + SMALL + ["--repeats", "3"])
    return out, results, datasets_ + ["mine_2K_uint64"]


def test_cli_csv(run):
    out, results, names = run
    with open(out / "res" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    specs, _ = competitors.available(competitors.resolve(["all", "search_kinds"]))
    lookups = [r for r in rows if r["family"] != "kv"]
    assert {r["dataset"] for r in lookups} == set(names)
    assert len(lookups) == len(names) * len(specs)
    for r in lookups:
        assert float(r["batch_ns"]) > 0 and float(r["build_s"]) >= 0
        if r["family"] in ("learned", "tuned"):
            assert float(r["mean_log2_error"]) >= 0 and r["config"]
        if r["family"] in ("learned", "tuned", "bplustree", "binary"):
            assert float(r["scan1000_ns"]) > 0 and float(r["zipf_ns"]) > 0
    best = [r for r in lookups if r["family"] == "bplustree" and r["label"] == r["best_btree"]]
    assert len(best) == len(names) and all(float(r["time_vs_best_btree"]) == 1.0 for r in best)
    if workloads.kv_available():
        assert any(r["family"] == "kv" for r in rows)


def test_cli_json(run):
    out, results, names = run
    d = json.loads((out / "res" / "results.json").read_text())
    for key in ("cpu", "cores", "python", "numpy", "numba", "date", "command"):
        assert d["machine"][key]
    assert "--markdown" in d["machine"]["command"]
    assert len(d["rows"]) == len(results.rows) and d["jit"]
    assert {j["dtype"] for j in d["jit"]} >= {"uint64"}
    assert all(j["first_use_s"] >= 0 for j in d["jit"])


def test_paired_ratios(run):
    """Each row's paired ratio is the median of its per-round ratios to the best B+tree."""
    out, results, names = run
    for name in names:
        group = [r for r in results.rows if r["dataset"] == name and r["family"] != "kv"]
        best = next(r for r in group if r["family"] == "bplustree" and r["label"] == r["best_btree"])
        for r in group:
            rounds = r["batch_rounds_ns"]
            assert len(rounds) == len(best["batch_rounds_ns"]) >= 1
            assert min(rounds) == r["batch_ns_min"] and statistics.median(rounds) == r["batch_ns"]
            per_round = [a / b for a, b in zip(rounds, best["batch_rounds_ns"])]
            assert r["paired_vs_best_btree"] == pytest.approx(statistics.median(per_round))
        assert best["paired_vs_best_btree"] == 1.0
    with open(out / "res" / "results.csv") as f:
        assert all(float(r["paired_vs_best_btree"]) > 0 for r in csv.DictReader(f)
                   if r["family"] != "kv")
    md = (out / "performance.md").read_text()
    assert "| LI ÷ B+tree time | paired |" in md and "| tuned ÷ best grid | paired |" in md
    assert harness.paired({"batch_rounds_ns": [1.0]}, {"batch_rounds_ns": [1.0, 2.0]}) is None


def test_tuned_small_fits_its_budget(run):
    out, results, names = run
    rows = [r for r in results.rows if r["index"] == "li_tuned_small"]
    assert sorted(r["dataset"] for r in rows) == sorted(names)
    for r in rows:
        assert 0 < r["nbytes"] <= competitors.small_budget(r["n"])


def test_cli_plots_and_markdown(run):
    out, results, names = run
    for name in ("pareto.png", "cdf.png", "leaf_errors.png"):
        data = (out / "res" / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    md = (out / "performance.md").read_text()
    assert md.startswith("# Performance\n\nkept text")
    assert "<!-- bench:results:start -->" in md and "| LI default (auto) |" in md
    assert "### Tuned index" in md and "| LI tuned |" in md and "| LI tuned ≤ n/20 B |" in md
    assert md.count("<!-- bench:results:start -->") == 1


def test_budgets_fit_and_report_the_targets(tmp_path):
    md = tmp_path / "performance.md"
    small = ["40000" if a == "2000" else a for a in SMALL]
    results = cli.main(["--datasets", "lognormal", "--indexes", "binary_search", "bplustree32",
                        "li_budget_0.025", "li_budget_1.6", "--out", str(tmp_path / "res"),
                        "--no-plots", "--markdown", str(md)] + small)
    rows = [r for r in results.rows if r["family"] == "budget"]
    assert [r["index"] for r in rows] == ["li_budget_0.025", "li_budget_1.6"]
    for r, per_key in zip(rows, (0.025, 1.6)):
        assert 0 < r["nbytes"] <= competitors.budget(per_key)(r["n"]) and r["config"]
    assert rows[0]["nbytes"] < rows[1]["nbytes"]
    tree = next(r for r in results.rows if r["index"] == "bplustree32")
    text = md.read_text()
    assert "### The default within each budget" in text
    for r in rows:
        line = next(ln for ln in text.splitlines() if f"| {r['label']} |" in ln)
        met = [v <= cap for v, cap in ((r["batch_ns"] / tree["batch_ns"], 0.5),
                                       (r["nbytes"] / tree["nbytes"], 0.1),
                                       (r["time_vs_searchsorted"], 0.125))]
        assert line.rstrip(" |").endswith(" / ".join("yes" if m else "no" for m in met))


def test_scalar_duel_checks_and_reports():
    from bench import scalar
    out = scalar.main(["--datasets", "lognormal", "uniform_sparse", "--n", "3000", "--lookups", "500",
                       "--rounds", "1"])
    for r in out.values():
        assert r["learned_index"] > 0 and r["pygm"] > 0


def test_kv_bench_smoke(tmp_path, capsys):
    from bench import kv
    res = kv.main(["--n", "20000", "--ops-9505", "4000", "--ops-5050", "2000", "--point-reads",
                   "2000", "--getmany-queries", "20000", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert res["verified"] and "All answers verified" in printed and "Targets" in printed
    d = json.loads((tmp_path / "kv.json").read_text())
    assert d["machine"]["command"].startswith("python -m bench.kv") and d["n"] == 20_000
    rows = list(csv.DictReader((tmp_path / "kv.csv").open()))
    assert len(rows) == len(d["rows"]) and all(float(r["ns_per_op"]) > 0 for r in rows)
    mixed = {(r["workload"][:5], r["competitor"].split(" (")[0]) for r in rows if r["part"] == "mixed"}
    for w in ("95/5:", "50/50"):
        assert {(w, c) for c in ("LearnedKV", "SortedDict", "B+tree")} <= mixed
    assert {r["part"] for r in rows} == {"getmany", "point", "mixed", "open"}
    assert [t["target"][:8] for t in d["targets"]] == ["get_many", "point re", "mixed 95", "open wit"]
    assert all(t["measured"] > 0 and t["met"] in (True, False, None) for t in d["targets"])
    with pytest.raises(SystemExit, match="WRONG ANSWERS"):
        kv._check("a peer", [1.0], [2.0])


# --------------------------------------------------------------------------- calibration

def test_calibration_times_every_configuration_in_rounds(monkeypatch):
    """``bench.calibrate.measure`` times every configuration of the grid (x three windows)
    in groups of interleaved rounds, with the tuner's features, and ``fit`` turns the
    rows into one non-negative weight per term of the cost model."""
    from bench import calibrate
    from learned_index import LearnedIndex, _coerce, timing, train, tune

    keys = _coerce.as_keys(datasets.lognormal(20_000))     # read-only, as the kernels see keys
    groups = []
    real = timing.time_rounds

    def recorded(indexes, queries, repeats):
        ns = real(indexes, queries, repeats)
        groups.append((indexes, ns))
        # the machine slows down from group to group: the anchor takes that out
        return [t * len(groups) for t in ns]

    monkeypatch.setattr(timing, "time_rounds", recorded)
    rows = calibrate.measure(keys, lookups=2_000, repeats=2)
    grid = [c for c in tune._grid(keys.size, tune.STAGE_GRID) if c["n_leaves"].bit_length() % 2]
    assert len(rows) == 3 * len(grid) == sum(len(ix) - 1 for ix, _ in groups)
    assert max(len(ix) for ix, _ in groups) == calibrate.GROUP + 1
    assert len(groups) == -(-len(rows) // calibrate.GROUP)
    anchor = groups[0][0][0]
    assert all(ix[0] is anchor for ix, _ in groups)
    ref = np.median([ns[0] * (g + 1) for g, (_, ns) in enumerate(groups)])
    want = [t * ref / ns[0] for _, ns in groups for t in ns[1:]]
    assert np.allclose([r[2] for r in rows], want)
    config, features, ns = rows[0]
    est = tune.estimate(keys, grid[0], train.sample_step(keys.size), (config["max_window"],))[0]
    assert config == dict(grid[0], max_window=None)
    assert features == calibrate._features(grid[0], est, LearnedIndex(keys, **config).nbytes,
                                           tune.cached(keys))
    assert all(np.isfinite(r[2]) and r[2] > 0 for r in rows)
    cost = calibrate.fit(rows)
    assert list(cost) == list(tune.COST) and all(v >= 0 for v in cost.values())


@pytest.mark.parametrize("in_cache", [False, True])
def test_calibration_fit_recovers_the_weights(in_cache):
    """On times made from known weights, the fit returns them: all of them for keys
    in memory, only CACHED_TERMS for cached keys (the others stay at COST's, even
    where the times were made with other values)."""
    from bench import calibrate
    from learned_index import tune

    rng = np.random.default_rng(7)
    names = list(tune.COST)
    truth = {k: float(v) for k, v in zip(names, rng.uniform(1.0, 20.0, len(names)))}
    x = rng.uniform(0.0, 4.0, (300, len(names)))
    x[:, names.index("base")] = 1.0
    if in_cache:
        truth = dict(tune.COST, per_log2=1.5, per_log2_past_l2=6.25)
    rows = [({}, list(r), float(r @ np.array([truth[k] for k in names]))) for r in x]
    cost = calibrate.fit(rows, in_cache)
    assert list(cost) == names
    assert all(cost[k] == pytest.approx(truth[k], abs=0.006) for k in names)
    if in_cache:
        wrong = dict(truth, per_stage=truth["per_stage"] + 3.0)
        rows = [({}, list(r), float(r @ np.array([wrong[k] for k in names]))) for r in x]
        refit = calibrate.fit(rows, True)
        assert {k: refit[k] for k in names if k not in tune.CACHED_TERMS} == \
            {k: tune.COST[k] for k in names if k not in tune.CACHED_TERMS}


def test_calibration_stops_on_a_wrong_answer(monkeypatch):
    """Answers that differ from the reference stop the calibration (here the
    reference is made wrong, since the index's scalar fronts are per instance)."""
    from bench import calibrate

    class OffByOne:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def searchsorted(keys, q):
            return np.searchsorted(keys, q) + 1

    monkeypatch.setattr(calibrate, "np", OffByOne())
    with pytest.raises(SystemExit, match="WRONG ANSWERS"):
        calibrate.measure(datasets.lognormal(20_000), lookups=500, repeats=1)
