"""Radix model: the top bits of the key offset (RMI's ``radix`` root).

``pred = x * 2**-shift`` with the smallest ``shift`` that keeps the largest key
inside the output range: a power-of-two scale, so the multiplication is exact
and the model is the prefix of the key. Evaluated with :func:`.linear.predict`.
Root only: it needs no training beyond the key range.
"""
from numba import njit

from .linear import predict  # noqa: F401  (same evaluation form)

N_PARAMS = 2


@njit(cache=True)
def fit(x, y, out):
    """Choose ``shift`` so that ``x[-1] * 2**-shift <= y[-1]``; writes ``(0, 2**-shift)``. O(1)."""
    out[0] = 0.0
    m = x.shape[0]
    if m == 0 or not x[m - 1] > 0.0 or not y[m - 1] > 0.0:
        out[1] = 0.0
        return
    scale = 1.0
    # At most ~2100 halvings/doublings; the scale stays finite (tiny ranges
    # get the largest power of two, and the leaf stage absorbs the rest).
    while x[m - 1] * scale > y[m - 1]:
        scale *= 0.5
    while scale < 2.0**1023 and x[m - 1] * scale * 2.0 <= y[m - 1]:
        scale *= 2.0
    out[1] = scale
