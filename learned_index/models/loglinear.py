"""Log-linear model: ``pred = c0 + c1 * log1p(x)``, least squares on ``log1p(x)``.

Fits heavy-tailed key sets (lognormal, popularity counts) whose CDF is close
to linear in the logarithm of the key. Root only; offsets ``x`` are >= 0.
"""
import numpy as np
from numba import njit

from . import linear

N_PARAMS = 2


@njit(cache=True)
def fit(x, y, out):
    """Least-squares line through ``(log1p(x), y)``; writes ``(c0, c1)``. O(len(x))."""
    lx = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        lx[i] = np.log1p(max(x[i], 0.0))
    linear.fit(lx, y, out)


@njit(cache=True, inline="always")
def predict(p, o, x):
    """Evaluate at ``x`` (clamped at 0). O(1)."""
    return p[o] + p[o + 1] * np.log1p(max(x, 0.0))
