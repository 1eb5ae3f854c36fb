"""Seeded key-set generators shared by the benchmark and the tests.

Every generator is ``f(n, seed=42)`` and returns ``n`` sorted ``uint64`` keys
(duplicates possible unless noted) drawn from a ``numpy.random.Generator``
seeded with ``seed``, so a run is reproducible at any size.

Two groups:

* **distributions** (PGM-index's ``generate_data`` and the RMI paper):
  :func:`uniform_dense`, :func:`uniform_sparse`, :func:`normal`,
  :func:`lognormal` (the paper's lognormal(0, 2)), :func:`exponential`,
  :func:`clustered`;
* **SOSD look-alikes**, imitating the *shape* of the four real sets of the
  SOSD benchmark (Kipf et al., 2019; Marcus et al., 2020), which are 200M
  keys each and not shipped here: :func:`osm`, :func:`fb`, :func:`wiki`,
  :func:`books`. Each docstring says how it is made and which feature of its
  namesake it reproduces. Users with the real files load them with
  :func:`bench.sosd.load` (``python -m bench --data PATH``).

Real (not generated) keys shipped by a package live in :mod:`bench.realdata`.

>>> keys = lognormal(1000)
>>> keys.dtype, len(keys), bool((keys[1:] >= keys[:-1]).all())
(dtype('uint64'), 1000, True)
>>> all(len(f(500)) == 500 for f in GENERATORS.values())
True
"""
import numpy as np

U64_TOP = 2**64 - 1


def _rng(seed):
    return np.random.default_rng(seed)


def _scaled(x, bits=62):
    """Map finite floats to sorted uint64 keys spread over ``[0, 2**bits]`` (PGM/SOSD style)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.min()
    top = x.max() if x.max() > 0 else 1.0
    return np.sort((x / top * 2.0**bits).astype(np.uint64))


def morton2(x, y):
    """Interleave the bits of two ``uint32`` arrays into a ``uint64`` Z-order (Morton) code.

    Bit ``i`` of ``x`` goes to bit ``2i + 1``, bit ``i`` of ``y`` to bit ``2i``,
    so cells close in the plane tend to be close in key order, the way map
    cells (OSM, S2, geohash) are keyed.

    >>> int(morton2(np.array([1], np.uint32), np.array([0], np.uint32))[0])
    2
    >>> int(morton2(np.array([3], np.uint32), np.array([3], np.uint32))[0])
    15
    """
    def spread(v):
        v = np.asarray(v).astype(np.uint64) & np.uint64(0xFFFFFFFF)
        for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                            (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333),
                            (1, 0x5555555555555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v
    return (spread(x) << np.uint64(1)) | spread(y)


def latlon_cells(lat, lon):
    """Z-order cell ids (``uint64``, unsorted) of latitude/longitude in degrees, 32 bits each."""
    qlat = np.clip((np.asarray(lat, np.float64) + 90.0) / 180.0, 0.0, 1.0) * (2.0**32 - 1)
    qlon = np.clip((np.asarray(lon, np.float64) + 180.0) / 360.0, 0.0, 1.0) * (2.0**32 - 1)
    return morton2(qlat.astype(np.uint32), qlon.astype(np.uint32))


# --------------------------------------------------------------------------- distributions

def uniform_dense(n, seed=42):
    """Distinct keys from ``[0, 2n)``: half of all integers, a near-linear CDF."""
    return np.sort(_rng(seed).choice(2 * n, size=n, replace=False)).astype(np.uint64)


def uniform_sparse(n, seed=42):
    """Keys uniform over the whole 64-bit range."""
    return np.sort(_rng(seed).integers(0, U64_TOP, size=n, dtype=np.uint64, endpoint=True))


def normal(n, seed=42):
    """Normal(0, 1) scaled to integers."""
    return _scaled(_rng(seed).normal(0.0, 1.0, n))


def lognormal(n, seed=42):
    """The paper's lognormal(0, 2), scaled to integers: a heavily skewed CDF."""
    return _scaled(_rng(seed).lognormal(0.0, 2.0, n))


def exponential(n, seed=42):
    """Exponential(1) scaled to integers."""
    return _scaled(_rng(seed).exponential(1.0, n))


def clustered(n, seed=42, n_clusters=1000):
    """Dense runs of consecutive-ish keys around random centres with big gaps between."""
    rng = _rng(seed)
    centres = rng.integers(0, 2**62, size=n_clusters, dtype=np.uint64)
    which = rng.integers(0, n_clusters, size=n)
    offsets = rng.exponential(2000.0, size=n).astype(np.uint64)
    return np.sort(centres[which] + offsets)


# --------------------------------------------------------------------------- SOSD look-alikes

def osm(n, seed=42):
    """``osm``-like: Z-order cell ids of points clustered like map features.

    SOSD's ``osm_cellids`` are S2 cell ids of OpenStreetMap nodes: most nodes
    lie in towns and along roads, so the keys come in dense clusters (one per
    populated area, at every scale) separated by huge empty gaps (oceans,
    deserts), and the space-filling curve cuts each town into several runs.
    Here: ``~n/500`` "towns" placed on land-ish latitudes (|lat| < 70), with
    Pareto-distributed populations (a few cities, many villages), each a 2-D
    Gaussian of points whose spread grows with its population; every point is
    keyed by its 64-bit Morton code (:func:`latlon_cells`), as S2/geohash do.
    """
    rng = _rng(seed)
    towns = max(1, n // 500)
    lat = rng.uniform(-60.0, 70.0, towns)
    lon = rng.uniform(-180.0, 180.0, towns)
    pop = rng.pareto(1.2, towns) + 1.0
    which = rng.choice(towns, size=n, p=pop / pop.sum())
    spread = 0.01 * np.sqrt(pop)[which]            # degrees: ~1 km for a village
    plat = lat[which] + rng.normal(0.0, 1.0, n) * spread
    plon = lon[which] + rng.normal(0.0, 1.0, n) * spread
    return np.sort(latlon_cells(plat, plon))


def fb(n, seed=42, outlier_fraction=2e-5):
    """``fb``-like: user ids, dense and growing in bursts, with a few far outliers.

    SOSD's ``fb`` are sampled Facebook user ids: ids were handed out in
    blocks whose density changed over the years (a CDF of many near-linear
    pieces of different slopes), and a handful of ids are orders of magnitude
    above the rest, so a model fitted to the whole range sees nearly all keys
    squeezed into its first sliver. Here: 64 allocation eras of random
    length, each with its own mean gap between consecutive ids (log-uniform
    over 1..1000), the gaps geometric; then ``outlier_fraction`` of the keys
    (at least one) replaced by ids uniform over ``[2**50, 2**63)``.
    """
    rng = _rng(seed)
    eras = 64
    share = rng.dirichlet(np.ones(eras))
    mean_gap = np.exp(rng.uniform(0.0, np.log(1000.0), eras))
    era = np.repeat(np.arange(eras), rng.multinomial(n, share))
    gaps = rng.geometric(1.0 / mean_gap[era])
    keys = np.cumsum(gaps, dtype=np.uint64) + np.uint64(10**9)
    k = max(1, int(round(n * outlier_fraction))) if n > 1 else 0
    if k:
        keys[rng.choice(n, size=k, replace=False)] = rng.integers(2**50, 2**63, size=k, dtype=np.uint64)
    return np.sort(keys)


def wiki(n, seed=42, years=8.0):
    """``wiki``-like: edit timestamps (seconds) with daily and weekly cycles, bursts and duplicates.

    SOSD's ``wiki_ts`` are Wikipedia edit timestamps: activity rises over the
    years, swings with the time of day and the day of the week, comes in
    bursts (bots, edit wars, news), and many edits share the same second, so
    the CDF is smooth at large scale and ragged at small scale, with
    duplicate keys. Here: 90% of the keys are drawn by thinning a Poisson
    process whose rate grows linearly over ``years`` and is modulated by a
    daily (``1 + 0.6 sin``) and a weekly (weekend dip) factor; 10% come in
    ~``n/2000`` bursts of exponential length (mean 30 s); everything is
    floored to whole seconds from 2001-01-15 (Unix 979516800).
    """
    rng = _rng(seed)
    span = years * 365.25 * 86400.0
    day, week = 86400.0, 7 * 86400.0
    n_bursts = max(1, n // 2000)
    n_burst = n // 10 if n >= 10 else 0
    n_base = n - n_burst
    out, have = [], 0
    while have < n_base:                              # thinning, vectorised in rounds
        m = int((n_base - have) * 2.6) + 16
        t = rng.uniform(0.0, span, m)
        rate = (0.2 + t / span) * (1.0 + 0.6 * np.sin(2 * np.pi * t / day)) \
            * np.where((t % week) < 2 * day, 0.7, 1.0)
        t = t[rng.uniform(0.0, 1.2 * 1.6, m) < rate]
        out.append(t[:n_base - have])
        have += len(out[-1])
    centres = rng.uniform(0.0, span, n_bursts)
    bursts = centres[rng.integers(0, n_bursts, n_burst)] + rng.exponential(30.0, n_burst)
    t = np.concatenate(out + [np.minimum(bursts, span)])
    return np.sort((t + 979516800.0).astype(np.uint64))


def books(n, seed=42):
    """``books``-like: popularity keys of a catalogue, heavily skewed.

    SOSD's ``books`` keys come from the popularity of Amazon books: a few
    titles are enormously popular and most are not, so the keys crowd at the
    low end with a long, thinning tail, and the CDF bends sharply over several
    orders of magnitude (a hard case for one linear model, easy for a
    piecewise one). Here: popularity is Zipf-like, ``rank ** -1.1`` of a
    random rank out of ``10 n`` titles, times a lognormal(0, 0.5) noise,
    mapped to integers over ``2**62`` (:func:`_scaled`); ties give duplicates
    at the low end.
    """
    rng = _rng(seed)
    rank = rng.integers(1, 10 * max(n, 1) + 1, size=n).astype(np.float64)
    pop = rank ** -1.1 * rng.lognormal(0.0, 0.5, n)
    return _scaled(pop)


#: every generator, by name: ``{name: f(n, seed=42)}``
GENERATORS = {f.__name__: f for f in (uniform_dense, uniform_sparse, normal, lognormal, exponential,
                                      clustered, osm, fb, wiki, books)}
