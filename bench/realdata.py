"""Real (not generated) key sets, shipped by a package from the registry and loaded offline.

**Airports** — the ``airportsdata`` package (PyPI, MIT licence; its data
come from github.com/mwgg/Airports, also MIT) ships a CSV of 28,000+
airports and landing strips with their coordinates. Two key sets are made
from it, with no network access:

* :func:`airports_lat`: the latitudes as ``float64`` keys (duplicates where
  airports share a latitude to the 6th decimal): a real, lumpy float CDF,
  dense over the populated northern mid-latitudes;
* :func:`airports_cells`: each airport's 64-bit Z-order (Morton) cell id of
  (latitude, longitude), the way map cells are keyed (compare SOSD's
  ``osm_cellids``, :func:`bench.datasets.osm`): ``uint64`` keys in clusters
  with large gaps.

Both take ``(n, seed=42)`` like the generators: with ``n`` smaller than the
file, a seeded sample of ``n`` airports; with ``n`` larger, all of them (the
set has a fixed size: check ``len`` of the result). ``airportsdata`` needs
Python 3.11+; without it :func:`available` is False and the suite skips these
sets with a note.
"""
import csv
import functools
import importlib.util
import os

import numpy as np

from .datasets import latlon_cells

SOURCE = ("airportsdata (PyPI, MIT licence), airports.csv; data from github.com/mwgg/Airports (MIT)")


def available():
    """Whether the ``airportsdata`` package is installed."""
    return importlib.util.find_spec("airportsdata") is not None


@functools.lru_cache(maxsize=1)
def _coordinates():
    """``(lat, lon)`` float64 arrays of every airport in the package's CSV, in file order."""
    spec = importlib.util.find_spec("airportsdata")
    if spec is None:
        raise ImportError("airportsdata is not installed (pip install 'learned-index[bench]', Python 3.11+)")
    path = os.path.join(os.path.dirname(spec.origin), "airports.csv")
    lat, lon = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                la, lo = float(row["lat"]), float(row["lon"])
            except (KeyError, ValueError):
                continue
            if np.isfinite(la) and np.isfinite(lo):
                lat.append(la)
                lon.append(lo)
    return np.array(lat, np.float64), np.array(lon, np.float64)


def _pick(count, n, seed):
    if n is None or n >= count:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(count, size=n, replace=False))


def airports_lat(n=None, seed=42):
    """Airport latitudes as sorted ``float64`` keys (all of them, or a seeded sample of ``n``)."""
    lat, _ = _coordinates()
    return np.sort(lat[_pick(len(lat), n, seed)])


def airports_cells(n=None, seed=42):
    """Airport Z-order cell ids as sorted ``uint64`` keys (all, or a seeded sample of ``n``)."""
    lat, lon = _coordinates()
    sel = _pick(len(lat), n, seed)
    return np.sort(latlon_cells(lat[sel], lon[sel]))


#: the real key sets by name
LOADERS = {"airports_lat": airports_lat, "airports_cells": airports_cells}
