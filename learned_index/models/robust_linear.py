"""Robust linear: least squares without the extreme keys (RMI's ``robust_linear``).

The line is fitted to the points left after dropping the :data:`TRIM` share
of the smallest and of the largest offsets (none below 1/TRIM points). A few
keys far above the rest, like ``fb``'s outlying ids, pull a least-squares
line so flat that nearly every other key lands on one middle record; without
them the line spreads the bulk of the keys, and the clamp of the root's
output still routes the outliers (to the last record). Root only: it expects
offsets in ascending order, as the root's are. Evaluated with
:func:`.linear.predict`.
"""
from numba import njit

from . import linear
from .linear import predict  # noqa: F401  (same evaluation form)

N_PARAMS = 2
#: share of the points dropped at each end before fitting
TRIM = 1e-4


@njit(cache=True)
def fit(x, y, out):
    """Least-squares line through ``(x, y)`` without its first and last ``TRIM`` share
    (``x`` ascending); writes ``(c0, c1)`` to ``out``. O(len(x))."""
    m = x.shape[0]
    t = int(m * TRIM)
    linear.fit(x[t:m - t], y[t:m - t], out)
