"""``python -m bench``: is a learned index faster and smaller than a B-tree on *my* data?

Builds every competitor (np.searchsorted, the B+tree at every node size,
several LearnedIndex configurations, sortedcontainers, PyGM, BTrees, LMDB)
on every dataset, times lookups of present, absent and Zipf-skewed keys,
range scans and builds, checks every answer against np.searchsorted, and
writes tables, CSV, JSON and plots.
"""
import argparse
import dataclasses
import os
import sys
import time

from . import competitors, datasets, harness, plots, profiles, realdata, report

EPILOG = f"""\
datasets: {', '.join(datasets.GENERATORS)} (generated, any size);
  {', '.join(realdata.LOADERS)} (real, fixed size); groups: generated, real, all.
indexes: {', '.join(competitors.SPECS)};
  groups: {', '.join(competitors.GROUPS)}.
examples:
  python -m bench                                  # the quick profile (make bench)
  python -m bench --datasets lognormal osm --sizes 1e6 1e7 --indexes bplustree learned
  python -m bench --data books_200M_uint64 --sizes 1e8   # a SOSD file (first 10^8 keys)
  python -m bench --profile quick --markdown docs/performance.md
"""


def _count(text):
    """An integer count, also written as ``1e6`` or ``1_000_000``."""
    value = float(text.replace("_", ""))
    if value != int(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(value)


def parser():
    """The argument parser (``python -m bench --help``)."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(profiles.PROFILES), default="quick",
                    help="sizes and counts (default: quick, < 5 min on 2 cores); options below override")
    ap.add_argument("--datasets", nargs="+", metavar="NAME",
                    help="datasets or groups (default: the profile's)")
    ap.add_argument("--sizes", nargs="+", type=_count, metavar="N",
                    help="key counts of the generated datasets (and the limit of --data files)")
    ap.add_argument("--data", nargs="+", metavar="PATH", default=[],
                    help="key files: SOSD binary (uint64 count, then uint64/uint32 keys) or .npy")
    ap.add_argument("--indexes", nargs="+", metavar="NAME", default=["all"],
                    help="competitors or groups (default: all)")
    ap.add_argument("--search-kinds", action="store_true",
                    help="also run the default learned index with every last-mile search kind")
    ap.add_argument("--tune", action="store_true",
                    help="also run the index learned_index.tune() chooses (in 'all' already)")
    ap.add_argument("--lookups", type=_count, help="queries per timed batch")
    ap.add_argument("--repeats", type=_count, help="timed repeats after the warm-up")
    ap.add_argument("--scalar-lookups", type=_count, help="queries of the scalar (per-call) loop")
    ap.add_argument("--loop-lookups", type=_count, help="queries of the Python-loop peers")
    ap.add_argument("--absent-ratio", type=float, help="fraction of absent keys in that workload")
    ap.add_argument("--scans", type=_count, help="range scans per scan workload")
    ap.add_argument("--kv-rounds", type=_count, help="rounds of the LearnedKV mixed workload (0: off)")
    ap.add_argument("--out", help="output directory (default: results/<profile>)")
    ap.add_argument("--markdown", metavar="PATH",
                    help="also write the tables into this Markdown file (docs/performance.md)")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ap.add_argument("--distributed", action="store_true",
                    help="instead: DistributedLearnedKV on a local Dask cluster against one "
                         "LearnedKV (bench.distributed; uses --sizes, --lookups, --repeats, --out)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars and no tables")
    return ap


def build_profile(args):
    """The profile of the run: the named one with the command line's overrides."""
    prof = profiles.PROFILES[args.profile]
    if args.datasets or args.sizes or args.data:
        names = []
        for name in args.datasets or ([] if args.data else ["generated", "real"]):
            if name in ("generated", "all"):
                names += list(datasets.GENERATORS)
            if name in ("real", "all"):
                names += list(realdata.LOADERS)
            if name not in ("generated", "real", "all"):
                if name not in datasets.GENERATORS and name not in realdata.LOADERS:
                    raise SystemExit(f"unknown dataset {name!r}; see python -m bench --help")
                names.append(name)
        sizes = args.sizes or sorted({n for _, n in prof.datasets if n} - {None})[:1] or [1_000_000]
        prof = prof.with_sizes(list(dict.fromkeys(names)), sizes)
        for path in args.data:
            if not os.path.exists(path):
                raise SystemExit(f"--data {path}: no such file")
            prof = dataclasses.replace(prof, datasets=prof.datasets + tuple(
                (path, n) for n in (args.sizes or [None])))
    over = {k: getattr(args, k) for k in ("lookups", "repeats", "scalar_lookups", "loop_lookups",
                                          "absent_ratio", "scans", "kv_rounds")
            if getattr(args, k) is not None}
    return dataclasses.replace(prof, **over)


def main(argv=None):
    """Run the suite; returns the :class:`bench.harness.Results` (``--distributed``: its rows)."""
    args = parser().parse_args(argv)
    if args.distributed:
        from .distributed import run_distributed
        return run_distributed(args.sizes or [1_000_000], lookups=args.lookups or 1_000_000,
                               out=args.out or os.path.join("results", "distributed"),
                               repeats=args.repeats or 3)
    prof = build_profile(args)
    try:
        specs = competitors.resolve(args.indexes + (["search_kinds"] if args.search_kinds else [])
                                    + (["tuned"] if args.tune else []))
    except ValueError as e:
        raise SystemExit(str(e)) from None
    specs, notes = competitors.available(specs)
    out = args.out or os.path.join("results", prof.name)
    machine = report.machine_info(argv)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(quiet=args.quiet)
    if not console.is_terminal:
        console = Console(quiet=args.quiet, width=200)     # files and pipes get the wide tables
    console.print(f"[bold]python -m bench[/bold] profile {prof.name}: {len(prof.datasets)} datasets × "
                  f"{len(specs)} indexes; {prof.lookups:,} lookups per batch, {prof.repeats} repeats")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=args.quiet, transient=False) as bar:
        task = bar.add_task("JIT warm-up", total=harness.total_steps(prof, specs))

        # a bar is redrawn only on a terminal: logs and pipes get a line per new description
        log = None if console.is_terminal else console
        started, shown = time.perf_counter(), [None]

        def progress(kind, advance, text):
            bar.update(task, advance=advance, description=text[:60])
            if log is not None and text != shown[0]:
                shown[0] = text
                done = int(bar.tasks[0].completed)
                log.print(f"[{done}/{bar.tasks[0].total} {time.perf_counter() - started:6.0f} s] "
                          f"{text}", markup=False, highlight=False)
        results = harness.run(prof, specs, progress=progress)
        bar.update(task, completed=bar.tasks[0].total, description="done")
    results.notes[:0] = notes
    csv_path, json_path = report.write_files(results, out, machine, prof)
    pngs = [] if args.no_plots else plots.write_all(results, os.path.join(out, "plots"))
    if not args.quiet:
        report.print_tables(results, console)
    if args.markdown:
        report.update_markdown(args.markdown, report.results_markdown(
            results, machine, prof, plots_dir=None if args.no_plots else os.path.join(out, "plots")))
    console.print(f"results: {csv_path}, {json_path}" + (f", {len(pngs)} plots in "
                                                         f"{os.path.dirname(pngs[0])}" if pngs else ""))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
