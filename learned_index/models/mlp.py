"""A small monotone neural network, the root model of the original RMI paper.

Trained with scikit-learn's ``MLPRegressor`` (ReLU, 0-2 hidden layers of at
most 32 units) on an evenly spaced sample of the CDF, then exported to a flat
float64 parameter block that the jitted :func:`predict` evaluates.

Routing must be monotone in the key for the index's error bounds to hold for
absent keys, and a trained ReLU network is not monotone in general. After
training, the network is projected onto a monotone one: each first-layer unit
is monotone with the sign ``s_i`` of its weight; second-layer weights that
disagree with ``s_i`` are set to zero, and the output layer is refitted by
non-negative least squares over the (now non-decreasing) last-layer features.
Every float operation of :func:`predict` (scaling by a non-negative weight,
adding, ``max(., 0)``) is monotone, so the evaluated network is too.

Parameter block at ``p[o:]``::

    inv, y_scale, n_layers, h1, h2,                  # header (5)
    w1[h1], b1[h1],                                  # if n_layers >= 1
    W2[h2, h1] (row-major), b2[h2],                  # if n_layers == 2
    v[h_last or 1], c                                # output layer
"""
import numpy as np
from numba import njit

HEADER = 5
MAX_WIDTH = 32


def n_params(hidden):
    """Size of the parameter block for the hidden layer sizes ``hidden``."""
    sizes = list(hidden)
    count = HEADER
    prev = 1
    for h in sizes:
        count += h * prev + h
        prev = h
    return count + prev + 1


def _features(t, layers):
    """Activations of the last hidden layer (or ``t`` itself) for inputs ``t``."""
    a = t[:, None]
    for w, b in layers:
        a = np.maximum(a @ w + b, 0.0)
    return a


def _nnls_output(feats, target):
    """Non-negative output weights and a free intercept, by NNLS."""
    from scipy.optimize import nnls

    design = np.hstack([feats, np.ones((feats.shape[0], 1)), -np.ones((feats.shape[0], 1))])
    coef, _ = nnls(design, target, maxiter=50 * design.shape[1])
    return coef[:-2], coef[-2] - coef[-1]


def _input_scale(x):
    """``1 / (largest finite offset)``, bounded so that it stays finite.

    Infinite offsets (infinite keys) map to ``t = 1`` at lookup; a tiny or
    sub-normal range gets the largest scale that keeps ``x * inv`` finite.
    """
    finite = x[np.isfinite(x)]
    top = float(finite.max()) if finite.size else 0.0
    if not top > 0.0:
        return 0.0
    return min(1.0 / top, 2.0**1000)


def fit(x, y, hidden=(16,), seed=0, sample=20_000):
    """Train a monotone MLP on ``(x, y)`` (``x`` sorted, >= 0) and return its parameters.

    Parameters
    ----------
    x, y : ndarray of float64
        Sorted key offsets and their targets.
    hidden : tuple of int
        0 to 2 hidden layer sizes, each at most 32.
    seed : int
        Seed of the sample and of scikit-learn's initialisation.
    sample : int
        Number of evenly spaced CDF points to train on.

    Returns
    -------
    ndarray of float64 of length ``n_params(hidden)``.
    """
    from sklearn.neural_network import MLPRegressor

    hidden = tuple(int(h) for h in hidden)
    if len(hidden) > 2 or any(not 1 <= h <= MAX_WIDTH for h in hidden):
        raise ValueError(f"mlp hidden layers must be 0-2 sizes in 1..{MAX_WIDTH}, got {hidden}")
    out = np.zeros(n_params(hidden))
    m = x.shape[0]
    y_scale = float(y[-1]) if m and y[-1] > 0 else 1.0
    inv = _input_scale(x)
    out[:5] = inv, y_scale, len(hidden), hidden[0] if hidden else 0, hidden[1] if len(hidden) > 1 else 0
    take = np.unique(np.linspace(0, max(m - 1, 0), min(sample, m)).astype(np.int64))
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.clip(np.nan_to_num(x[take] * inv, nan=0.0), 0.0, 1.0)
    u = y[take] / y_scale
    layers = []
    if hidden and m > 1:
        net = MLPRegressor(hidden_layer_sizes=hidden, activation="relu", solver="lbfgs",
                           max_iter=400, random_state=seed, tol=1e-7)
        net.fit(t[:, None], u)
        w1 = net.coefs_[0].copy()                     # (1, h1)
        b1 = net.intercepts_[0].copy()
        layers.append((w1, b1))
        if len(hidden) == 2:
            sign = np.where(w1[0] < 0, -1.0, 1.0)     # direction of each first-layer unit
            w2 = net.coefs_[1].copy()                 # (h1, h2)
            w2[w2 * sign[:, None] < 0] = 0.0
            layers.append((w2, net.intercepts_[1].copy()))
    elif hidden:
        layers = [(np.zeros((1, h)), np.zeros(h)) for h in hidden[:1]]
        if len(hidden) == 2:
            layers.append((np.zeros((hidden[0], hidden[1])), np.zeros(hidden[1])))
    feats = _features(t, layers) if m else np.zeros((0, max(hidden[-1:] or (1,))))
    if len(layers) == 1:
        feats = feats * np.where(layers[0][0][0] < 0, -1.0, 1.0)   # make features non-decreasing
    if m:
        v, c = _nnls_output(feats, u)
    else:
        v, c = np.zeros(feats.shape[1]), 0.0
    if len(layers) == 1:
        v = v * np.where(layers[0][0][0] < 0, -1.0, 1.0)
    pos = HEADER
    for w, b in layers:
        pos = _put(out, pos, w.T.ravel())                 # row-major [unit, input]
        pos = _put(out, pos, b)
    pos = _put(out, pos, v)
    out[pos] = c
    return out


def _put(out, pos, arr):
    out[pos:pos + arr.size] = arr
    return pos + arr.size


@njit(cache=True)
def predict(p, o, x):
    """Evaluate the network stored at ``p[o:]`` at ``x``. O(h1 * h2), no allocation.

    The first layer's activations are recomputed for each second-layer unit
    rather than kept in a scratch array: an allocation here would sit in the
    lookup loop of every generic batch kernel.
    """
    t = min(max(x * p[o], 0.0), 1.0)
    n_layers = np.int64(p[o + 2])
    h1 = np.int64(p[o + 3])
    h2 = np.int64(p[o + 4])
    d = o + HEADER
    if n_layers == 0:
        return (p[d] * t + p[d + 1]) * p[o + 1]
    w1 = d
    b1 = d + h1
    if n_layers == 1:
        v = b1 + h1
        s = 0.0
        for i in range(h1):
            s += p[v + i] * max(p[w1 + i] * t + p[b1 + i], 0.0)
        return (s + p[v + h1]) * p[o + 1]
    w2 = b1 + h1
    b2 = w2 + h2 * h1
    v = b2 + h2
    s = 0.0
    for j in range(h2):
        z = p[b2 + j]
        for i in range(h1):
            z += p[w2 + j * h1 + i] * max(p[w1 + i] * t + p[b1 + i], 0.0)
        s += p[v + j] * max(z, 0.0)
    return (s + p[v + h2]) * p[o + 1]
