"""Seeded key-set generators shared by the benchmark and the tests.

Every generator returns ``n`` sorted ``uint64`` keys (duplicates possible
unless noted) from a ``numpy.random.Generator`` seeded with ``seed``.
"""
import numpy as np

U64_TOP = 2**64 - 1


def _rng(seed):
    return np.random.default_rng(seed)


def uniform_dense(n, seed=42):
    """Distinct keys from ``[0, 2n)``: half of all integers, a near-linear CDF."""
    return np.sort(_rng(seed).choice(2 * n, size=n, replace=False)).astype(np.uint64)


def uniform_sparse(n, seed=42):
    """Keys uniform over the whole 64-bit range."""
    return np.sort(_rng(seed).integers(0, U64_TOP, size=n, dtype=np.uint64, endpoint=True))


def _scaled(x):
    """Map positive floats to uint64 keys spread over 2**62 (PGM/SOSD style)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.min()
    top = x.max() if x.max() > 0 else 1.0
    return np.sort((x / top * 2.0**62).astype(np.uint64))


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
