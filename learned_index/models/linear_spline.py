"""Linear spline: the line through the first and the last point (RMI's ``linear_spline``).

Cheaper to fit than least squares and exact at both ends of the range it
covers. Evaluated with :func:`.linear.predict`.
"""
from numba import njit

from .linear import predict  # noqa: F401  (same evaluation form)

N_PARAMS = 2


@njit(cache=True)
def fit(x, y, out):
    """Line through ``(x[0], y[0])`` and ``(x[-1], y[-1])``; constant when degenerate. O(1)."""
    m = x.shape[0]
    if m == 0:
        out[0] = 0.0
        out[1] = 0.0
        return
    dx = x[m - 1] - x[0]
    dy = y[m - 1] - y[0]
    if not (dx > 0.0 and dy > 0.0):
        out[0] = y[0]
        out[1] = 0.0
        return
    slope = dy / dx
    out[0] = y[0] - slope * x[0]
    out[1] = slope
