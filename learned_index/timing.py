"""Confirming the cost model's predictions by timing, and choosing among timed indexes.

:func:`learned_index.tune.tune` builds a few candidates (:func:`diverse`,
:func:`compact_row`), times them together in interleaved rounds, each paired with
the cost model's own choice (:func:`time_rounds`), and keeps the best by
:func:`rank` only if it clearly beats that choice (:func:`pick`). See
``docs/tuning.md``, "Confirmation" and "Confirming by timing".
"""
import time

import numpy as np

#: each doubling of an index's size must buy this share of speed for the tuner to
#: take it (see :func:`rank`): it does not spend memory on noise
SIZE_PRICE = 0.03
#: a timed index must be this much faster than the cost model's choice (by :func:`rank`)
#: for the tuner to take it instead: on a shared machine one index's timings move by a
#: third within seconds (``docs/tuning.md``, "Confirming by timing")
SWITCH_MARGIN = 0.03
#: the tuner also times the best prediction at most 1/COMPACT_RATIO the size of the best
COMPACT_RATIO = 4


def time_rounds(indexes, queries, repeats, ref=None):
    """Median ns per batch lookup of each of ``indexes`` over ``repeats`` rounds.

    Each round times every index once, starting one further along each
    round: a slow spell of the machine (another process, a frequency drop)
    falls on all of them rather than on whichever was timed then, and none
    always runs right after the same neighbour. With ``ref``, each index's
    time is paired with that of ``indexes[ref]`` in the same round: the
    median of its ratio to it, times its median, so a spell that slows a
    whole round cancels out. O(len(indexes) * repeats) batches of ``queries``.
    """
    for idx in indexes:
        idx.lower_bound(queries[:16])       # compiled and paged in
    k = len(indexes)
    times = np.empty((max(repeats, 1), k))
    for r in range(times.shape[0]):
        for i in np.roll(np.arange(k), -r):
            t = time.perf_counter()
            indexes[i].lower_bound(queries)
            times[r, i] = time.perf_counter() - t
    if ref is not None:
        times = times / times[:, [ref]] * np.median(times[:, ref])
    return [float(ns) for ns in np.median(times, axis=0) / queries.shape[0] * 1e9]


def pareto(rows):
    """Rows not dominated in (nbytes, ns), ascending in bytes."""
    front = []
    for row in sorted(rows, key=lambda r: (r["nbytes"], r["ns"])):
        if not front or row["ns"] < front[-1]["ns"]:
            front.append(row)
    return front


def pick(rows, ref, key):
    """Position of the timed row to keep: the best by ``key``, unless it beats
    ``rows[ref]`` by less than :data:`SWITCH_MARGIN`; then ``ref``.

    >>> rows = [{"ns": 100.0, "nbytes": 1}, {"ns": 98.0, "nbytes": 1}, {"ns": 99.0, "nbytes": 1}]
    >>> pick(rows, 0, rank(False)), pick(rows, 1, rank(False))
    (0, 1)
    >>> pick(rows + [{"ns": 95.0, "nbytes": 1}], 0, rank(False))
    3
    """
    i = min(range(len(rows)), key=lambda j: key(rows[j]))
    return i if key(rows[i])[0] < (1.0 - SWITCH_MARGIN) * key(rows[ref])[0] else ref


def diverse(rows, count):
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


def compact_row(rows, chosen):
    """The best predicted row at most 1/:data:`COMPACT_RATIO` the size of the best
    predicted one (``chosen[0]``), or None: timed so that a much smaller index
    that is about as fast can win (see :func:`rank`)."""
    if not chosen:
        return None
    cap = chosen[0]["nbytes"] / COMPACT_RATIO
    return next((r for r in rows if r["nbytes"] <= cap), None)


def rank(priced):
    """Sort key of timed rows: ``ns``, or with ``priced`` the size-priced
    ``ns * (1 - SIZE_PRICE) ** -log2(nbytes)``; ties go to the smaller row.

    Priced, a row twice the size of another wins only if it is
    :data:`SIZE_PRICE` faster, one eight times the size if it is
    ``1 - 0.97**3`` (8.7%) faster.

    >>> rows = [{"ns": 33.0, "nbytes": 64e6}, {"ns": 35.0, "nbytes": 8e6}]
    >>> min(rows, key=rank(True))["nbytes"], min(rows, key=rank(False))["nbytes"]
    (8000000.0, 64000000.0)
    >>> min([{"ns": 30.0, "nbytes": 64e6}, {"ns": 35.0, "nbytes": 8e6}], key=rank(True))["ns"]
    30.0
    """
    price = -np.log2(1.0 - SIZE_PRICE) if priced else 0.0
    return lambda r: (r["ns"] * max(r["nbytes"], 1) ** price, r["nbytes"])
