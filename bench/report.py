"""Reporting: the terminal tables (rich), CSV and JSON files, and the Markdown of ``docs/performance.md``.

The same cells feed the terminal and the Markdown (:func:`main_table`,
:func:`workload_table`, :func:`summary_table`, :func:`tuned_table`, :func:`budget_table`,
:func:`jit_table`), so the
document shows exactly what the run printed.
"""
import csv
import datetime
import json
import math
import os
import platform
import re
import sys

import numpy as np

from .harness import paired

MD_START = "<!-- bench:results:start -->"
MD_END = "<!-- bench:results:end -->"


# --------------------------------------------------------------------------- machine

def machine_info(argv=None):
    """CPU model, cores, memory, Python/numpy/numba versions, date and command line."""
    import numba
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                       cpu)
    except OSError:
        pass
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "machine": platform.machine(),
        "os": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "load_average_at_start": load,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": " ".join(["python -m bench"] + list(sys.argv[1:] if argv is None else argv)),
    }


# --------------------------------------------------------------------------- cells

def _f(v, fmt="{:.1f}", none="–"):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    return fmt.format(v)


def _bytes(v):
    if v is None:
        return "n/a"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f} {unit}"
    return f"{v} B"


def _ns(v):
    return _f(v, "{:,.0f}" if v is not None and v >= 100 else "{:.1f}")


def _ratio(v):
    return _f(v, "{:.2f}×")


def _dataset(r):
    return f"{r['dataset']} ({r['n']:,})"


def _err(r):
    if r.get("mean_log2_error") is None:
        return ""
    return f"{r['mean_log2_error']:.1f} / {math.log2(r['max_error'] + 1):.1f}"


MAIN_HEADERS = ["dataset (keys)", "index", "build s", "batch ns (min–max)", "scalar ns", "bytes",
                "B/key", "time ÷ best B+tree", "size ÷ best B+tree", "time ÷ searchsorted",
                "log2 err mean / max"]


def main_table(rows):
    """One row per (dataset, index): the cells of the main table."""
    out = []
    for r in rows:
        if r["family"] == "kv":
            continue
        spread = (f"{_ns(r['batch_ns'])} ({_ns(r['batch_ns_min'])}–{_ns(r['batch_ns_max'])})"
                  if r["batch_ns_min"] is not None else _ns(r["batch_ns"]))
        out.append([_dataset(r), r["label"], _f(r["build_s"], "{:.3f}"), spread, _ns(r["scalar_ns"]),
                    _bytes(r["nbytes"]), _f(r["bytes_per_key"], "{:.2f}", "n/a"),
                    _ratio(r.get("time_vs_best_btree")), _ratio(r.get("size_vs_best_btree")),
                    _ratio(r.get("time_vs_searchsorted")), _err(r)])
    return MAIN_HEADERS, out


def workload_table(rows):
    """ns per lookup (or per scan) of the other workloads, batch-capable indexes."""
    scans = sorted({k for r in rows for k in r if re.fullmatch(r"scan\d+_ns", k)},
                   key=lambda k: int(k[4:-3]))
    ratio = next((r.get("absent_ratio") for r in rows if r.get("absent_ratio") is not None), 0.5)
    headers = ["dataset (keys)", "index", "present ns", f"{ratio:.0%} absent ns", "Zipf ns"] \
        + [f"scan {k[4:-3]} keys, ns" for k in scans]
    out = []
    for r in rows:
        if r.get("absent_ns") is None and r["family"] != "kv":
            continue
        out.append([_dataset(r), r["label"], _ns(r["batch_ns"]), _ns(r.get("absent_ns")),
                    _ns(r.get("zipf_ns"))] + [_ns(r.get(k)) for k in scans])
    return headers, out


def summary_table(rows):
    """Per dataset: the default learned index against the best B+tree, searchsorted and PyGM."""
    headers = ["dataset (keys)", "LI default ns", "best B+tree", "B+tree ns", "searchsorted ns",
               "LI ÷ B+tree time", "paired", "LI ÷ B+tree size", "LI scalar ns", "PyGM scalar ns"]
    out = []
    for ds in dict.fromkeys((r["dataset"], r["n"]) for r in rows):
        group = [r for r in rows if (r["dataset"], r["n"]) == ds]
        li = next((r for r in group if r["index"] == "li_default"), None)
        if li is None:
            continue
        tree = next((r for r in group if r["family"] == "bplustree" and r["label"] == li["best_btree"]),
                    None)
        ss = next((r for r in group if r["family"] == "binary"), None)
        pg = next((r for r in group if r["index"] == "pygm"), None)
        out.append([_dataset(li), _ns(li["batch_ns"]), tree["label"] if tree else "–",
                    _ns(tree["batch_ns"]) if tree else "–", _ns(ss["batch_ns"]) if ss else "–",
                    _ratio(li["time_vs_best_btree"]), _ratio(li.get("paired_vs_best_btree")),
                    _ratio(li["size_vs_best_btree"]),
                    _ns(li["scalar_ns"]), _ns(pg["scalar_ns"]) if pg else "–"])
    return headers, out


def tuned_table(rows):
    """Per dataset and tuned index: against the best grid configuration and the best B+tree."""
    headers = ["dataset (keys)", "index", "tuned ns", "tuned config", "tuned bytes", "tuning s",
               "best grid", "grid ns", "tuned ÷ best grid", "paired", "tuned ÷ best B+tree time",
               "paired", "tuned ÷ best B+tree size", "tuned ÷ searchsorted"]
    out = []
    for ds in dict.fromkeys((r["dataset"], r["n"]) for r in rows):
        group = [r for r in rows if (r["dataset"], r["n"]) == ds]
        grid = [r for r in group if r["family"] == "learned"]
        best = min(grid, key=lambda r: r["batch_ns"]) if grid else None
        for tuned in (r for r in group if r["family"] == "tuned"):
            out.append([_dataset(tuned), tuned["label"], _ns(tuned["batch_ns"]),
                        tuned.get("config", "–"), _bytes(tuned["nbytes"]),
                        _f(tuned.get("tune_s"), "{:.1f}"),
                        best["label"] if best else "–", _ns(best["batch_ns"]) if best else "–",
                        _ratio(tuned["batch_ns"] / best["batch_ns"]) if best else "–",
                        _ratio(paired(tuned, best)) if best else "–",
                        _ratio(tuned["time_vs_best_btree"]), _ratio(tuned.get("paired_vs_best_btree")),
                        _ratio(tuned["size_vs_best_btree"]),
                        _ratio(tuned["time_vs_searchsorted"])])
    return headers, out


def budget_table(rows):
    """Per dataset and ``budgets`` row: the default within that size against issue 6's targets.

    The targets: at least 2x faster than the best B+tree, at least 8x faster
    than ``np.searchsorted``, at most a tenth of that B+tree's bytes.
    """
    headers = ["dataset (keys)", "budget", "bytes", "config", "ns", "÷ best B+tree time",
               "÷ best B+tree size", "÷ searchsorted", "met: time ≤ 0.5×, size ≤ 0.1×, ÷ searchsorted ≤ 0.125×"]
    out = []
    for r in rows:
        if r["family"] != "budget":
            continue
        ratios = (r.get("time_vs_best_btree"), r.get("size_vs_best_btree"),
                  r.get("time_vs_searchsorted"))
        met = ["–" if v is None else ("yes" if v <= cap else "no")
               for v, cap in zip(ratios, (0.5, 0.1, 0.125))]
        out.append([_dataset(r), r["label"], _bytes(r["nbytes"]), r.get("config", "–"),
                    _ns(r["batch_ns"])] + [_ratio(v) for v in ratios] + [" / ".join(met)])
    return headers, out


def jit_table(jit):
    """First use (JIT compilation or numba cache load) per index and dtype, seconds."""
    dtypes = list(dict.fromkeys(j["dtype"] for j in jit))
    headers = ["index"] + [f"first use, {d} (s)" for d in dtypes]
    by = {}
    for j in jit:
        by.setdefault(j["label"], {})[j["dtype"]] = j["first_use_s"]
    return headers, [[label] + [_f(v.get(d), "{:.3f}") for d in dtypes] for label, v in by.items()]


# --------------------------------------------------------------------------- terminal

def print_tables(results, console=None):
    """Print the summary, main, workload and JIT tables and the notes with ``rich``."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    for title, (headers, cells) in (
            ("Lookups of present keys (batch: median of repeats; scalar: one call per query)",
             main_table(results.rows)),
            ("Other workloads (median ns per lookup or per scan)", workload_table(results.rows)),
            ("First use, excluded from the timings (JIT compilation or numba cache load)",
             jit_table(results.jit)),
            ("Summary: default learned index vs the best B+tree of the same run",
             summary_table(results.rows)),
            ("Tuned index (learned_index.tune) vs the best grid configuration and B+tree",
             tuned_table(results.rows)),
            ("The default within each budget vs issue 6's targets", budget_table(results.rows))):
        if not cells:
            continue
        table = Table(title=title, show_lines=False, title_style="bold")
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i < 2 else "right", overflow="fold")
        last = None
        for row in cells:
            if last is not None and row[0] != last:
                table.add_section()
            last = row[0]
            table.add_row(*row)
        console.print(table)
    for note in results.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"wall time of the measurements: {results.seconds:.1f} s")


# --------------------------------------------------------------------------- files

CSV_FIELDS = ["dataset", "n", "dtype", "index", "label", "family", "build_s", "batch_lookups",
              "batch_ns", "batch_ns_min", "batch_ns_max", "scalar_ns", "nbytes", "bytes_per_key",
              "best_btree", "time_vs_best_btree", "paired_vs_best_btree", "size_vs_best_btree",
              "time_vs_searchsorted",
              "absent_ratio", "absent_ns", "zipf_ns", "mean_log2_error", "max_error", "mean_error",
              "n_leaves", "fence_leaves", "config", "tune_s"]


def write_files(results, out_dir, machine, profile):
    """``results.csv`` and ``results.json`` (rows, JIT, notes, machine, profile) in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    scans = sorted({k for r in results.rows for k in r if re.fullmatch(r"scan\d+_ns", k)})
    fields = CSV_FIELDS + scans
    csv_path = os.path.join(out_dir, "results.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in results.rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    json_path = os.path.join(out_dir, "results.json")
    prof = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(profile).items()}
    with open(json_path, "w") as f:
        json.dump({"machine": machine, "profile": prof, "wall_seconds": results.seconds,
                   "jit": results.jit, "notes": results.notes, "rows": results.rows},
                  f, indent=1, default=_json_default)
    return csv_path, json_path


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (tuple, np.ndarray)):
        return list(o)
    raise TypeError(type(o))


def markdown(headers, cells):
    """A GitHub Markdown table."""
    esc = [[c.replace("|", "\\|") for c in row] for row in cells]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def results_markdown(results, machine, profile, plots_dir=None):
    """The generated part of ``docs/performance.md``: run facts and every table."""
    mem = machine.get("memory_bytes")
    parts = [
        f"Generated by `{machine['command']}` on {machine['date']}: profile `{profile.name}`, "
        f"{profile.lookups:,} lookups per batch ({profile.loop_lookups:,} for the Python-loop "
        f"peers), {profile.repeats} repeats after a warm-up, {profile.scalar_lookups:,} scalar "
        f"lookups. Measurements took {results.seconds:.0f} s.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores"
        + (f", {mem / 2**30:.0f} GiB" if mem else "")
        + f"; Python {machine['python']}, numpy {machine['numpy']}, numba {machine['numba']}"
        + (f"; load average at start {machine['load_average_at_start'][0]:.2f}"
           if machine.get("load_average_at_start") else "") + ".",
        "",
        "### Summary",
        "", markdown(*summary_table(results.rows)), "",
    ]
    headers, cells = tuned_table(results.rows)
    if cells:
        parts += ["### Tuned index", "", markdown(headers, cells), ""]
    headers, cells = budget_table(results.rows)
    if cells:
        parts += ["### The default within each budget", "", markdown(headers, cells), ""]
    parts += [
        "### Lookups of present keys", "", markdown(*main_table(results.rows)), "",
        "### Other workloads", "", markdown(*workload_table(results.rows)), "",
        "### First use (excluded from every timing)", "", markdown(*jit_table(results.jit)), "",
    ]
    if results.notes:
        parts += ["### Notes", ""] + [f"- {n}" for n in results.notes] + [""]
    if plots_dir:       # results/ is not versioned: name the files rather than embed them
        parts += ["Plots of this run: " + ", ".join(
            f"`{os.path.join(plots_dir, name)}`" for name in ("pareto.png", "cdf.png", "leaf_errors.png"))
            + ".", ""]
    return "\n".join(parts)


def update_markdown(path, text):
    """Replace the generated block between :data:`MD_START` and :data:`MD_END` in ``path``.

    A file without the markers gets the block appended; a missing file is created.
    """
    block = f"{MD_START}\n{text}\n{MD_END}"
    old = open(path).read() if os.path.exists(path) else "# Performance\n\n"
    if MD_START in old and MD_END in old:
        head, rest = old.split(MD_START, 1)
        new = head + block + rest.split(MD_END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(new)
