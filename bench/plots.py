"""Plots of a run (matplotlib, Agg backend, PNG).

* ``pareto.png``: per dataset, median batch ns/lookup against index size
  (bytes beyond the keys, log scale): the SOSD paper's Pareto picture; the
  tuned index is the large star.
* ``cdf.png``: per dataset, the CDF (key → position) with the default
  learned index's predicted positions overlaid.
* ``leaf_errors.png``: per dataset, the histogram of the default learned
  index's per-leaf search-window widths (log2).
"""
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

FAMILY_STYLE = {"binary": ("black", "s"), "bplustree": ("tab:blue", "o"),
                "learned": ("tab:red", "^"), "tuned": ("darkred", "*"), "budget": ("tab:orange", "v"),
                "peer": ("tab:green", "D")}


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _grid(count):
    cols = min(4, max(1, count))
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _datasets(rows):
    return list(dict.fromkeys((r["dataset"], r["n"]) for r in rows if r["family"] != "kv"))


def pareto(rows, path):
    """Latency vs size, one panel per dataset; indexes with unknown size are left out."""
    sets = _datasets(rows)
    fig, axes = _grid(len(sets))
    for ax, (name, n) in zip(axes, sets):
        for r in rows:
            if (r["dataset"], r["n"]) != (name, n) or r["nbytes"] is None or r["family"] == "kv":
                continue
            color, marker = FAMILY_STYLE.get(r["family"], ("gray", "x"))
            ax.scatter(max(r["nbytes"], 1), r["batch_ns"], c=color, marker=marker,
                       s=90 if r["family"] == "tuned" else 22, zorder=3 if r["family"] == "tuned" else 2)
            ax.annotate(r["label"].split(" (")[0], (max(r["nbytes"], 1), r["batch_ns"]),
                        fontsize=5, xytext=(2, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{name} ({n:,} keys)", fontsize=8)
        ax.set_xlabel("index bytes (beyond the keys)", fontsize=7)
        ax.set_ylabel("ns / lookup", fontsize=7)
        ax.tick_params(labelsize=6)
    handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=f) for f, (c, m) in FAMILY_STYLE.items()]
    fig.legend(handles=handles, loc="upper right", fontsize=7)
    _save(fig, path)


def cdf(plot_data, path):
    """Each dataset's CDF with the learned index's predictions."""
    items = [(k, v) for k, v in plot_data.items() if v is not None]
    fig, axes = _grid(max(1, len(items)))
    for ax, (name, d) in zip(axes, items):
        x = np.asarray(d["keys"], np.float64)
        logx = x[0] >= 0 and x[-1] > 100 * (np.median(x) + 1)     # skewed: a log axis shows it
        if logx:
            x = x + 1.0
            ax.set_xscale("log")
        ax.plot(x, d["positions"], lw=1.2, color="black", label="keys (true position)")
        ax.plot(x, d["predicted"], lw=0.8, color="tab:red", ls="--", label=f"{d['label']} fit")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("key + 1 (log scale)" if logx else "key", fontsize=7)
        ax.set_ylabel("position", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5)
    _save(fig, path)


def leaf_errors(plot_data, path):
    """Histograms of log2(window + 1) over the default learned index's leaves."""
    items = [(k, v) for k, v in plot_data.items() if v is not None]
    fig, axes = _grid(max(1, len(items)))
    for ax, (name, d) in zip(axes, items):
        w = np.log2(np.asarray(d["leaf_windows"], np.float64) + 1)
        ax.hist(w, bins=40, color="tab:red")
        ax.set_yscale("log")
        ax.set_title(f"{name}: {len(w):,} leaves", fontsize=7)
        ax.set_xlabel("log2(search window + 1)", fontsize=7)
        ax.set_ylabel("leaves", fontsize=7)
        ax.tick_params(labelsize=6)
    _save(fig, path)


def write_all(results, out_dir):
    """Write the three PNGs into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, p) for p in ("pareto.png", "cdf.png", "leaf_errors.png")]
    pareto(results.rows, paths[0])
    cdf(results.plots, paths[1])
    leaf_errors(results.plots, paths[2])
    return paths
