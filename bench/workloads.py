"""Query workloads: present, absent and skewed lookups, range scans, mixed reads and inserts.

Each query generator takes the sorted keys, a count and a
``numpy.random.Generator`` and returns a query array of the keys' dtype; the
reference answers are always ``np.searchsorted(keys, queries)``.

>>> rng = np.random.default_rng(0)
>>> keys = np.arange(0, 1000, 10, dtype=np.uint64)
>>> q = mixed(keys, 100, 0.5, rng)
>>> int(np.isin(q, keys).sum())
50
>>> bool(np.isin(zipf(keys, 50, rng), keys).all())
True
"""
import numba
import numpy as np


def present(keys, m, rng):
    """``m`` keys drawn uniformly (with replacement) from ``keys``: random hits."""
    return keys[rng.integers(0, len(keys), m)]


def absent(keys, m, rng):
    """``m`` values in ``[keys[0], keys[-1]]`` that are not keys (fewer if the keys are dense).

    Integer keys: uniform integers of the range, rejecting hits; float keys:
    uniform floats. Falls back to values just above the last key when the
    range is full (e.g. ``0, 1, 2, ...``).
    """
    lo, hi = keys[0], keys[-1]
    out, have = [], 0
    for _ in range(20):
        k = 2 * (m - have) + 16
        if keys.dtype.kind == "f":
            c = rng.uniform(float(lo), float(hi), k)
        else:
            c = rng.integers(int(lo), int(hi), k, dtype=keys.dtype, endpoint=True)
        c = c.astype(keys.dtype)
        pos = np.minimum(np.searchsorted(keys, c), len(keys) - 1)
        c = c[keys[pos] != c]
        out.append(c[:m - have])
        have += len(out[-1])
        if have >= m:
            break
    q = np.concatenate(out) if out else np.zeros(0, keys.dtype)
    if len(q) < m and keys.dtype.kind != "f" and int(hi) < np.iinfo(keys.dtype).max:
        q = np.concatenate([q, np.full(m - len(q), hi + keys.dtype.type(1), keys.dtype)])
    return q


def mixed(keys, m, absent_ratio, rng):
    """``m`` queries, a fraction ``absent_ratio`` of them absent, shuffled."""
    k = int(round(m * absent_ratio))
    q = np.concatenate([present(keys, m - k, rng), absent(keys, k, rng)])
    return q[rng.permutation(len(q))]


def zipf(keys, m, rng, a=1.2):
    """``m`` present keys in a skewed order: key popularity follows Zipf(``a``).

    Rank ``r`` (1 = most popular) is drawn with probability ``~ r**-a`` and
    mapped to a random position, so the hot keys are scattered over the key
    range (a cache-friendly but not sequential pattern).
    """
    n = len(keys)
    ranks = np.minimum(rng.zipf(a, m), n) - 1
    hot = rng.choice(n, size=min(n, int(ranks.max()) + 1), replace=False)
    return keys[hot[ranks]]


def scan_bounds(keys, m, length, rng):
    """``(lo, hi)`` query pairs of ``m`` range scans of about ``length`` keys each.

    ``lo`` is a present key, ``hi`` the key ``length`` positions later (or
    the last key); a scan reads ``keys[lower_bound(lo):lower_bound(hi)]``.
    """
    n = len(keys)
    pos = rng.integers(0, n, m)
    return keys[pos], keys[np.minimum(pos + length, n - 1)]


@numba.njit(cache=True, nogil=True)
def scan_sum(keys, starts, stops):
    """Read every key of every ``keys[start:stop]`` (their sum, so the loads are not dropped)."""
    total = keys.dtype.type(0)
    for i in range(starts.shape[0]):
        for j in range(starts[i], stops[i]):
            total += keys[j]
    return total


def kv_available():
    """The ``LearnedKV`` class if this version of the library has it, else None."""
    try:
        from learned_index import LearnedKV
    except ImportError:
        return None
    return LearnedKV


def kv_mixed(kv_class, keys, rounds, batch, insert_fraction, rng):
    """A mixed read/insert workload on ``kv_class(keys, values)``; seconds and operations.

    The store starts with the distinct ``keys`` mapped to their positions.
    Each round inserts ``batch * insert_fraction`` new keys (absent values,
    mapped to ``-1 - i``) with ``update`` and reads ``batch`` keys drawn from
    everything present so far with ``get_many``. Every read is checked
    against a reference ``dict``-free oracle (the arrays of keys and values
    inserted); a wrong answer raises ``SystemExit``.

    Returns
    -------
    (seconds, operations, build_seconds)
    """
    import time
    base = np.unique(keys)
    values = np.arange(len(base), dtype=np.int64)
    t = time.perf_counter()
    kv = kv_class(base, values)
    build = time.perf_counter() - t
    all_keys, all_vals = [base], [values]
    n_ins = max(1, int(batch * insert_fraction))
    fresh = absent(base, rounds * n_ins, rng)
    fresh = np.unique(fresh)[:rounds * n_ins]
    fresh = fresh[rng.permutation(len(fresh))]
    seconds, ops = 0.0, 0
    for r in range(rounds):
        new = fresh[r * n_ins:(r + 1) * n_ins]
        vals = -1 - np.arange(r * n_ins, r * n_ins + len(new), dtype=np.int64)
        all_keys.append(new)
        all_vals.append(vals)
        ks, vs = np.concatenate(all_keys), np.concatenate(all_vals)
        pick = rng.integers(0, len(ks), batch)
        q = ks[pick]
        t = time.perf_counter()
        kv.update(new, vals)
        got, found = kv.get_many(q)
        seconds += time.perf_counter() - t
        ops += len(new) + len(q)
        if not (np.asarray(found).all() and np.array_equal(np.asarray(got), vs[pick])):
            raise SystemExit(f"WRONG ANSWERS from {kv_class.__name__}.get_many in the mixed "
                             f"workload (round {r}): benchmark aborted")
    return seconds, ops, build
