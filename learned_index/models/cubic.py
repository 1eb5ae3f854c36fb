"""Cubic polynomial fitted by least squares, constrained to be monotone.

The input is normalised, ``t = clip(x * inv, 0, 1)`` with ``inv = 1 / x[-1]``,
and ``pred = c0 + t*(c1 + t*(c2 + t*c3))``. Clipping ``t`` to ``[0, 1]`` and
checking that the derivative is non-negative on ``[0, 1]`` make the model
monotone for *every* query, including queries beyond the fitted points — a
requirement of the error bounds. A cubic that is not monotone on its data is
replaced by the least-squares line in ``t`` (same evaluation form, ``c2 = c3 = 0``).
Params: ``(inv, c0, c1, c2, c3)``.
"""
import numpy as np
from numba import njit

from . import linear

N_PARAMS = 5


@njit(cache=True)
def _solve4(a, b):
    """Gaussian elimination with partial pivoting on a 4x4 system; False if singular."""
    for col in range(4):
        piv = col
        for r in range(col + 1, 4):
            if abs(a[r, col]) > abs(a[piv, col]):
                piv = r
        if not abs(a[piv, col]) > 1e-300:
            return False
        if piv != col:
            for c in range(4):
                a[col, c], a[piv, c] = a[piv, c], a[col, c]
            b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, 4):
            f = a[r, col] / a[col, col]
            for c in range(col, 4):
                a[r, c] -= f * a[col, c]
            b[r] -= f * b[col]
    for r in range(3, -1, -1):
        s = b[r]
        for c in range(r + 1, 4):
            s -= a[r, c] * b[c]
        b[r] = s / a[r, r]
    return True


@njit(cache=True)
def _monotone(c1, c2, c3):
    """Is ``c1 + 2 c2 t + 3 c3 t^2 >= 0`` on ``[0, 1]``?"""
    if c1 < 0.0 or c1 + 2.0 * c2 + 3.0 * c3 < 0.0:
        return False
    if c3 != 0.0:
        t = -c2 / (3.0 * c3)
        if 0.0 < t < 1.0 and c1 + 2.0 * c2 * t + 3.0 * c3 * t * t < 0.0:
            return False
    return True


@njit(cache=True)
def fit(x, y, out):
    """Monotone least-squares cubic (or line) through ``(x, y)``; writes 5 params. O(len(x))."""
    m = x.shape[0]
    out[:] = 0.0
    if m == 0:
        return
    if not x[m - 1] > 0.0:
        out[1] = y[0]
        return
    inv = 1.0 / x[m - 1]
    out[0] = inv
    t = np.empty(m)
    for i in range(m):
        t[i] = min(max(x[i] * inv, 0.0), 1.0)
    if m >= 4:
        y0 = y[0]
        s = np.zeros(7)
        b = np.zeros(4)
        for i in range(m):
            ti = t[i]
            yi = y[i] - y0
            pw = 1.0
            for k in range(7):
                s[k] += pw
                if k < 4:
                    b[k] += pw * yi
                pw *= ti
        a = np.empty((4, 4))
        for r in range(4):
            for c in range(4):
                a[r, c] = s[r + c]
        if _solve4(a, b) and _monotone(b[1], b[2], b[3]):
            out[1] = b[0] + y0
            out[2] = b[1]
            out[3] = b[2]
            out[4] = b[3]
            return
    lin = np.empty(2)
    linear.fit(t, y, lin)
    out[1] = lin[0]
    out[2] = lin[1]


@njit(cache=True, inline="always")
def predict(p, o, x):
    """Evaluate the cubic stored at ``p[o:o + 5]`` at ``x``. O(1)."""
    t = min(max(x * p[o], 0.0), 1.0)
    return p[o + 1] + t * (p[o + 2] + t * (p[o + 3] + t * p[o + 4]))
