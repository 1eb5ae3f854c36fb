"""Linear regression: ``pred = c0 + c1 * x`` fitted by least squares.

The evaluation form ``c0 + c1 * x`` is shared with :mod:`.linear_spline` and
:mod:`.radix`, which differ only in how they choose the two coefficients.
Degenerate inputs (no point, one point, zero variance in ``x``) give the
constant model ``y[0]`` — the first position, which suits lower-bound search.
A negative slope (only possible through rounding, since positions increase
with keys) is clamped to zero so that the model stays monotone.
"""
from numba import njit

N_PARAMS = 2


@njit(cache=True)
def fit(x, y, out):
    """Least-squares line through ``(x, y)``; writes ``(c0, c1)`` to ``out``. O(len(x))."""
    m = x.shape[0]
    if m == 0:
        out[0] = 0.0
        out[1] = 0.0
        return
    mx = 0.0
    my = 0.0
    lo = x[0]
    hi = x[0]
    for i in range(m):
        mx += x[i]
        my += y[i]
        lo = min(lo, x[i])
        hi = max(hi, x[i])
    if lo == hi:                      # zero variance, even where the float mean is inexact
        out[0] = y[0]
        out[1] = 0.0
        return
    mx /= m
    my /= m
    sxx = 0.0
    sxy = 0.0
    for i in range(m):
        dx = x[i] - mx
        sxx += dx * dx
        sxy += dx * (y[i] - my)
    if not sxx > 0.0:
        out[0] = y[0]
        out[1] = 0.0
        return
    slope = sxy / sxx
    if not slope > 0.0:
        out[0] = my
        out[1] = 0.0
        return
    out[0] = my - slope * mx
    out[1] = slope


@njit(cache=True, inline="always")
def predict(p, o, x):
    """Evaluate the line stored at ``p[o:o + 2]`` at ``x``. O(1)."""
    return p[o] + p[o + 1] * x
