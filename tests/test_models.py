"""Model families (``learned_index.models``): fits, degenerate inputs, monotonicity.

Every family offers ``fit(x, y, out)`` on float64 arrays (``mlp.fit`` returns its
parameter block) and a jitted ``predict(p, o, x)``. Routing and error bounds rely
on every model being monotone non-decreasing for *every* input, so monotonicity
is checked on dense grids that extend beyond the fitted points.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from learned_index.models import cubic, linear, linear_spline, loglinear, mlp, radix, robust_linear
from learned_index.models.common import clamp_index, key_bits, key_delta, spread

HYP = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAMILY_2P = {"linear": linear, "robust_linear": robust_linear, "linear_spline": linear_spline,
             "loglinear": loglinear, "radix": radix}


def fit(module, x, y):
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    out = np.full(module.N_PARAMS, np.nan)
    module.fit(x, y, out)
    assert np.all(np.isfinite(out)), f"{module.__name__}.fit left non-finite params {out}"
    return out


def predict(module, params, xs):
    return np.array([module.predict(params, 0, float(v)) for v in np.asarray(xs, dtype=np.float64)])


def grid(x_last, m=2001):
    """Dense grid over the fitted range and beyond it on both sides."""
    span = max(abs(float(x_last)), 1.0)
    return np.concatenate([[-1e300, -span], np.linspace(-0.25 * span, 1.25 * span, m), [1e300]])


def assert_monotone(pred, what):
    d = np.diff(pred)
    assert np.all(d >= 0), f"{what} decreases: min step {d.min()!r} at {int(np.argmin(d))}"


def cdf_data(kind, m, rng):
    """Sorted key offsets (starting at 0) and their positions."""
    if kind == "uniform":
        k = np.sort(rng.uniform(0, 1e6, m))
    elif kind == "lognormal":
        k = np.sort(rng.lognormal(0, 2, m))
    elif kind == "step":
        k = np.sort(np.concatenate([rng.uniform(0, 1, m // 2), rng.uniform(1e6, 1e6 + 1, m - m // 2)]))
    elif kind == "clusters":
        k = np.sort(rng.choice(rng.uniform(0, 1e9, 5), m) + rng.uniform(0, 1e3, m))
    else:
        raise KeyError(kind)
    x = k - k[0]
    return x, np.arange(m, dtype=np.float64)


# --------------------------------------------------------------------------- linear

@settings(max_examples=60, **HYP)
@given(m=st.integers(2, 400), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 1.0, 1e6, 1e15]), noise=st.sampled_from([0.0, 0.1, 10.0]))
def test_linear_fit_equals_polyfit(m, seed, scale, noise):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, scale, m))
    y = np.arange(m) * 1.0 + rng.normal(0, noise, m)
    if np.ptp(x) == 0:
        return
    slope, icpt = np.polyfit(x, y, 1)
    c0, c1 = fit(linear, x, y)
    if slope > 0:
        tol = 1e-8 * (np.abs(y).max() + 1)
        assert abs(c1 - slope) <= 1e-7 * abs(slope) + 1e-12
        assert np.allclose(predict(linear, np.array([c0, c1]), x), np.polyval([slope, icpt], x),
                           rtol=0, atol=tol)
    else:
        # a non-positive slope is clamped to zero: the constant mean keeps the model monotone
        assert c1 == 0.0 and math.isclose(c0, y.mean(), rel_tol=1e-12, abs_tol=1e-12)


def test_linear_fit_exact_line():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    c0, c1 = fit(linear, x, 5.0 + 2.0 * x)
    assert math.isclose(c0, 5.0) and math.isclose(c1, 2.0)


# --------------------------------------------------------------------------- robust linear

@pytest.mark.parametrize("m", [10, 9_999, 10_000, 123_457])
def test_robust_linear_is_least_squares_without_the_extremes(m):
    rng = np.random.default_rng(m)
    x = np.sort(rng.lognormal(0.0, 2.0, m))
    y = np.arange(m, dtype=np.float64)
    t = int(m * robust_linear.TRIM)
    assert t == m // 10_000                      # nothing dropped below 10,000 points
    np.testing.assert_array_equal(fit(robust_linear, x, y), fit(linear, x[t:m - t], y[t:m - t]))


def test_robust_linear_spreads_the_bulk_past_far_outliers():
    """fb's shape: a dense bulk and a few keys 2**23 times further out. Least squares
    squeezes the bulk into under 1% of the output range; the robust line spreads it."""
    m = 100_000
    x = np.arange(m, dtype=np.float64)
    x[-5:] = 2.0**40 + np.arange(5)
    y = np.arange(m, dtype=np.float64)
    bulk = x[:-5]
    assert np.ptp(predict(robust_linear, fit(robust_linear, x, y), bulk)) > 0.99 * m
    assert np.ptp(predict(linear, fit(linear, x, y), bulk)) < 0.01 * m


DEGENERATE = ["empty", "one", "zero_var", "zero_var_pos", "zero_var_inexact", "flat_y"]


@pytest.mark.parametrize("family, case", [
    (f, c) for f in list(FAMILY_2P) + ["cubic"] for c in DEGENERATE
    # radix scales the offset itself: only an empty key range makes it constant
    if not (f == "radix" and c in ("zero_var_pos", "zero_var_inexact", "flat_y"))])
def test_degenerate_inputs_give_constant_models(family, case):
    module = cubic if family == "cubic" else FAMILY_2P[family]
    x, y = {
        "empty": (np.zeros(0), np.zeros(0)),
        "one": (np.array([0.0]), np.array([7.0])),
        "zero_var": (np.zeros(6), np.arange(6.0) + 3.0),
        "zero_var_pos": (np.full(6, 5.0), np.arange(6.0) + 3.0),
        # equal x whose float mean is not exactly x: zero variance must still be detected
        "zero_var_inexact": (np.full(3, 0.1), np.arange(3.0) + 3.0),
        "flat_y": (np.arange(6.0), np.full(6, 4.0)),
    }[case]
    p = fit(module, x, y)
    pred = predict(module, p, grid(10.0, 201))
    assert np.ptp(pred) == 0.0, f"{family} is not constant on {case}: {p}"
    if family == "radix":
        return                                   # radix is the key prefix, never an intercept
    want = 0.0 if case == "empty" else y[0]
    if case == "flat_y":
        want = 4.0
    # the documented constant is the first position (suits lower-bound search)
    assert pred[0] == pytest.approx(want, abs=1e-9), (family, case, p)


def test_linear_negative_slope_is_clamped():
    x = np.arange(5.0)
    c0, c1 = fit(linear, x, -x)
    assert c1 == 0.0
    assert_monotone(predict(linear, np.array([c0, c1]), grid(5.0)), "linear")


# --------------------------------------------------------------------------- linear spline

@settings(max_examples=40, **HYP)
@given(m=st.integers(2, 300), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(
    ["uniform", "lognormal", "step", "clusters"]))
def test_linear_spline_through_end_points(m, seed, kind):
    x, y = cdf_data(kind, m, np.random.default_rng(seed))
    if x[-1] == 0:
        return
    p = fit(linear_spline, x, y)
    ends = predict(linear_spline, p, [x[0], x[-1]])
    assert ends[0] == pytest.approx(y[0], abs=1e-6 * m) and ends[1] == pytest.approx(y[-1], rel=1e-9)
    assert p[1] >= 0
    assert_monotone(predict(linear_spline, p, grid(x[-1])), "linear_spline")


# --------------------------------------------------------------------------- cubic

def cubic_derivative(p, t):
    return p[2] + 2.0 * p[3] * t + 3.0 * p[4] * t * t


def test_cubic_recovers_monotone_cubic():
    t = np.linspace(0, 1, 200)
    x = t * 1e9
    y = 3.0 + 10.0 * t + 50.0 * t**2 + 400.0 * t**3
    p = fit(cubic, x, y)
    assert np.allclose(predict(cubic, p, x), y, atol=1e-6)


def test_cubic_constrained_where_free_cubic_is_not_monotone():
    # a step: positions jump in the middle of the key range
    x = np.concatenate([np.linspace(0, 1, 100), np.linspace(9, 10, 100)])
    y = np.arange(200.0)
    free = np.polyfit(x / x[-1], y, 3)
    tt = np.linspace(0, 1, 1001)
    assert np.polyval(np.polyder(free), tt).min() < 0, "precondition: free cubic not monotone"
    p = fit(cubic, x, y)
    assert cubic_derivative(p, tt).min() >= -1e-9 * np.abs(y).max()
    assert_monotone(predict(cubic, p, grid(x[-1], 5001)), "cubic")


@settings(max_examples=80, **HYP)
@given(m=st.integers(1, 400), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(
    ["uniform", "lognormal", "step", "clusters"]), warp=st.sampled_from([None, "square", "sqrt", "sigmoid"]))
def test_cubic_monotone_on_unit_interval(m, seed, kind, warp):
    rng = np.random.default_rng(seed)
    x, y = cdf_data(kind, m, rng)
    if warp and x[-1] > 0:
        t = x / x[-1]
        x = x[-1] * {"square": t**2, "sqrt": np.sqrt(t), "sigmoid": 1 / (1 + np.exp(-20 * (t - 0.5)))}[warp]
        x = np.sort(x - x[0])
    p = fit(cubic, x, y)
    tt = np.linspace(0.0, 1.0, 2001)
    assert cubic_derivative(p, tt).min() >= -1e-9 * (np.abs(p[1:]).max() + 1), p
    assert_monotone(predict(cubic, p, grid(x[-1] if m else 1.0)), f"cubic({kind}, {warp})")


# --------------------------------------------------------------------------- loglinear

@settings(max_examples=40, **HYP)
@given(m=st.integers(2, 300), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(
    ["uniform", "lognormal", "clusters"]))
def test_loglinear_fit_equals_polyfit_on_log(m, seed, kind):
    x, y = cdf_data(kind, m, np.random.default_rng(seed))
    lx = np.log1p(x)
    p = fit(loglinear, x, y)
    if np.ptp(lx) > 0:
        slope, icpt = np.polyfit(lx, y, 1)
        if slope > 0:
            assert np.allclose(predict(loglinear, p, x), np.polyval([slope, icpt], lx),
                               atol=1e-7 * (m + 1))
    pred = predict(loglinear, p, grid(x[-1]))
    assert_monotone(pred, "loglinear")
    # negative offsets are clamped to 0
    assert predict(loglinear, p, [-5.0])[0] == predict(loglinear, p, [0.0])[0]


# --------------------------------------------------------------------------- radix

@settings(max_examples=100, **HYP)
@given(x_last=st.one_of(st.floats(1e-300, 1e300), st.sampled_from([1.0, 2.0**64, 2.0**64 - 2048, 3.0])),
       y_last=st.one_of(st.floats(1e-3, 1e9), st.sampled_from([1.0, 65536.0, 65535.0, 1e6 - 1])))
def test_radix_maps_max_offset_within_range(x_last, y_last):
    x = np.array([0.0, x_last / 2, x_last])
    y = np.array([0.0, y_last / 2, y_last])
    c0, c1 = fit(radix, x, y)
    assert c0 == 0.0 and c1 > 0
    m, e = math.frexp(c1)
    assert m == 0.5, f"scale {c1!r} is not a power of two"
    top = radix.predict(np.array([c0, c1]), 0, x_last)
    assert top <= y_last, "max offset maps beyond the output range"
    assert top * 2.0 > y_last or math.isinf(float(c1) * 2.0), "a larger power of two would fit: not the smallest shift"
    pred = predict(radix, np.array([c0, c1]), np.linspace(0, x_last, 101))
    assert np.all((pred >= 0) & (pred <= y_last))
    assert_monotone(pred, "radix")


def test_radix_degenerate():
    assert list(fit(radix, np.zeros(0), np.zeros(0))) == [0.0, 0.0]
    assert list(fit(radix, np.zeros(3), np.arange(3.0))) == [0.0, 0.0]
    assert list(fit(radix, np.arange(3.0), np.zeros(3))) == [0.0, 0.0]


# --------------------------------------------------------------------------- mlp

def mlp_predict(p, xs):
    return np.array([mlp.predict(p, 0, float(v)) for v in xs])


@pytest.mark.parametrize("hidden", [(), (1,), (4,), (16,), (2, 3), (8, 8)], ids=repr)
@pytest.mark.parametrize("kind", ["uniform", "lognormal", "step", "clusters"])
def test_mlp_monotone(hidden, kind):
    for seed in (0, 1):
        rng = np.random.default_rng(seed * 7 + len(hidden))
        x, y = cdf_data(kind, 1500, rng)
        y = y * (64.0 / y[-1])      # a root predicts leaf numbers
        p = mlp.fit(x, y, hidden=hidden, seed=seed)
        assert p.shape == (mlp.n_params(hidden),) and np.all(np.isfinite(p))
        pred = mlp_predict(p, grid(x[-1], 20001))
        assert np.all(np.isfinite(pred))
        assert_monotone(pred, f"mlp{hidden} on {kind} (seed {seed})")


def test_mlp_fits_uniform_data():
    x, y = cdf_data("uniform", 3000, np.random.default_rng(5))
    for hidden in [(), (4,), (4, 4)]:
        p = mlp.fit(x, y, hidden=hidden, seed=0)
        err = np.abs(mlp_predict(p, x) - y)
        assert err.max() < 0.05 * y[-1], (hidden, err.max())


@pytest.mark.parametrize("hidden", [(), (3,), (2, 2)], ids=repr)
def test_mlp_degenerate(hidden):
    for x, y in [(np.zeros(0), np.zeros(0)), (np.array([0.0]), np.array([0.0])),
                 (np.zeros(5), np.arange(5.0)), (np.arange(5.0), np.zeros(5))]:
        p = mlp.fit(x, y, hidden=hidden, seed=0)
        pred = mlp_predict(p, grid(10.0, 101))
        assert np.all(np.isfinite(pred))
        assert_monotone(pred, f"mlp{hidden} degenerate")


@pytest.mark.parametrize("hidden", [(1, 2, 3), (33,), (0,), (4, 0)], ids=repr)
def test_mlp_invalid_hidden(hidden):
    with pytest.raises(ValueError):
        mlp.fit(np.arange(10.0), np.arange(10.0), hidden=hidden)


# --------------------------------------------------------------------------- common

def test_clamp_index():
    cases = [(float("nan"), 5, 0), (-1.0, 5, 0), (-0.0, 5, 0), (0.0, 5, 0), (0.5, 5, 0), (3.7, 5, 3),
             (4.999, 5, 4), (5.0, 5, 5), (7.0, 5, 5), (1e300, 5, 5), (float("inf"), 5, 5),
             (float("-inf"), 5, 0), (2.0**40 + 0.5, 2**41, 2**40)]
    for pred, hi, want in cases:
        assert clamp_index(pred, hi) == want, (pred, hi)
    vals = np.linspace(-3, 12, 1001)
    out = [clamp_index(float(v), 9) for v in vals]
    assert all(a <= b for a, b in zip(out, out[1:]))


@njit
def _delta(q, base):
    bu, bf = key_bits(base)
    return key_delta(q, bu, bf)


@njit
def _delta_spread(q, base):
    bu, bf = key_bits(base)
    return key_delta(q, bu, bf, True)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint32, np.int32, np.float64],
                         ids=lambda d: np.dtype(d).name)
def test_key_delta_exact_and_monotone(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        vals = np.array([-1e308, -2.0**60, -1.5, 0.0, 1.0, 2.0**53, 1e300])
    else:
        info = np.iinfo(dt)
        cand = {int(info.min), int(info.min) + 1, -1, 0, 1, 2**31 - 1, 2**53 + 1,
                int(info.max) - 1, int(info.max)}
        vals = np.array(sorted(v for v in cand if info.min <= v <= info.max), dtype=dt)
    for base in vals:
        got = [_delta(q, base) for q in vals]
        for q, g in zip(vals, got):
            want = float(q.item() - base.item()) if dt.kind != "f" else float(q) - float(base)
            assert g == want, (q, base, g, want)      # exact difference, rounded once
        assert all(a <= b for a, b in zip(got, got[1:]))


def test_key_delta_converts_exactly_on_both_sides_of_2_63():
    """Offsets below 2**63 take the signed conversion, the rest the unsigned one:
    both must give numpy's correctly rounded float64 of the exact offset."""
    edges = [0, 1, 2**53 - 1, 2**53 + 1, 2**62 + 2**10 + 1, 2**63 - 1, 2**63, 2**63 + 1,
             2**63 + 2**11 - 1, 2**64 - 1]
    rng = np.random.default_rng(11)
    d = np.concatenate([np.array(edges, dtype=np.uint64),
                        rng.integers(0, 2**64 - 1, 1000, dtype=np.uint64, endpoint=True)])
    base = np.uint64(2**64 - 1)                          # negative offsets: -(base - q)
    for delta in (_delta, _delta_spread):                # branch on the offset, or none
        got = np.array([delta(q, np.uint64(0)) for q in d])
        np.testing.assert_array_equal(got, d.astype(np.float64))
        np.testing.assert_array_equal(np.array([delta(q, base) for q in d]),
                                      -(base - d).astype(np.float64))


@pytest.mark.parametrize("first, last, want", [
    (np.uint64(0), np.uint64(2**63 - 1), False), (np.uint64(0), np.uint64(2**63), True),
    (np.uint64(5), np.uint64(2**63 + 4), False), (np.uint64(5), np.uint64(2**64 - 1), True),
    (np.int64(-2**62), np.int64(2**62 - 1), False), (np.int64(-2**62), np.int64(2**62), True),
    (np.int64(-2**63), np.int64(2**63 - 1), True), (np.uint32(0), np.uint32(2**32 - 1), False),
    (-1e308, 1e308, False)])
def test_spread_tells_keys_that_span_2_63(first, last, want):
    """Roots over such keys convert without a branch on the offset (see batch.root_pass)."""
    assert spread(first, last) is want
