"""Run profiles: which datasets at which sizes, and how many lookups and repeats.

``quick`` (the default of ``python -m bench`` and ``make bench``) covers every
dataset family and every competitor in a few minutes on 2 cores; ``full``
goes to 10**8 keys. Command-line options override any field.

>>> PROFILES["quick"].lookups > 0
True
"""
from dataclasses import dataclass, replace

from . import datasets, realdata

GENERATED = tuple(datasets.GENERATORS)
REAL = tuple(realdata.LOADERS)


@dataclass(frozen=True)
class Profile:
    """Sizes and counts of one run.

    Attributes
    ----------
    datasets : tuple of (str, int or None)
        ``(name, n)`` pairs; ``n`` is None for the fixed-size real sets.
    lookups : int
        Queries per timed batch.
    repeats : int
        Timed repeats of every batch after one warm-up (min/median/max).
    scalar_lookups : int
        Queries of the scalar loop (one call per query) of batch-capable indexes.
    loop_lookups : int
        Queries of the peers without a batch API (both their "batch" and scalar figures).
    absent_ratio : float
        Fraction of absent keys in the mixed workload.
    scans : int
        Range scans per scan workload; ``scan_lengths`` their lengths in keys.
    peer_max_n : int
        Largest key count at which the Python-loop peers are built (memory, time).
    kv_rounds, kv_batch : int
        Rounds and reads per round of the mixed read/insert workload (LearnedKV).
    kv_max_n : int
        Largest key count at which that workload runs.
    """

    name: str
    datasets: tuple
    lookups: int = 100_000
    repeats: int = 5
    scalar_lookups: int = 10_000
    loop_lookups: int = 10_000
    absent_ratio: float = 0.5
    scans: int = 10_000
    scan_lengths: tuple = (10, 1000)
    peer_max_n: int = 1_000_000
    kv_rounds: int = 10
    kv_batch: int = 20_000
    kv_max_n: int = 1_000_000
    seed: int = 1

    def with_sizes(self, names, sizes):
        """The same profile over ``names`` (generated at every size in ``sizes``, real sets once)."""
        pairs = []
        for name in names:
            if name in realdata.LOADERS:
                pairs.append((name, None))
            else:
                pairs += [(name, int(n)) for n in sizes]
        return replace(self, datasets=tuple(pairs))


PROFILES = {
    "quick": Profile(
        "quick",
        tuple((name, 1_000_000) for name in GENERATED) + tuple((name, None) for name in REAL)
        + tuple((name, 10_000_000) for name in ("uniform_dense", "lognormal", "osm")),
        kv_rounds=5),
    "full": Profile(
        "full",
        tuple((name, n) for n in (1_000_000, 10_000_000, 100_000_000) for name in GENERATED)
        + tuple((name, None) for name in REAL),
        lookups=1_000_000, repeats=7, scalar_lookups=100_000, loop_lookups=50_000,
        scans=100_000, peer_max_n=10_000_000, kv_rounds=20, kv_batch=100_000,
        kv_max_n=10_000_000),
}
