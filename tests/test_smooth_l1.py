"""smooth_l1_loss: the box-regression half of Fast R-CNN's multi-task loss (paper eq. 3).

With d = inside * (pred - target):  smooth_L1(d) = 0.5 sigma^2 d^2  if |d| < 1/sigma^2,
                                                   |d| - 0.5/sigma^2 otherwise,
loss = sum(outside * smooth_L1(d)) / R. Checked against finite differences, against a plain-loop
reference written below, on hand-worked values and on bad input.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive

from minifrcnn.gradcheck import gradcheck_loss
from minifrcnn.layers import smooth_l1_loss

SIGMAS = [0.5, 1.0, 2.0, 3.0]


def reference_smooth_l1(pred, target, inside, outside, sigma):
    """Loss and gradient one coordinate at a time, in Python floats (float64), from the formula."""
    rows, cols = pred.shape
    sigma2 = float(sigma) ** 2
    total = 0.0
    dpred = np.zeros((rows, cols))
    for r in range(rows):
        for j in range(cols):
            w_in, w_out = float(inside[r, j]), float(outside[r, j])
            d = w_in * (float(pred[r, j]) - float(target[r, j]))
            if abs(d) < 1 / sigma2:
                value, slope = 0.5 * sigma2 * d * d, sigma2 * d
            else:
                value, slope = abs(d) - 0.5 / sigma2, float(np.sign(d))
            total += w_out * value
            dpred[r, j] = w_out * w_in * slope / rows
    return (total / rows if rows else 0.0), dpred


def away_from_kink(d, kink, margin=1e-3):
    """Move every |d| within `margin` of the kink to kink + 2 margin, keeping its sign.

    Smooth L1 has no second derivative at |d| = 1/sigma^2; a finite difference straddling that
    point would measure a blend of the two sides. With eps = 1e-6 a margin of 1e-3 is plenty.
    """
    near = np.abs(np.abs(d) - kink) < margin
    return np.where(near, np.sign(d) * (kink + 2 * margin), d)


@st.composite
def smooth_l1_cases(draw, dtype=np.float64):
    """pred, target, inside and outside weights (R, D), and sigma.

    R in 1..5 and D in 1..8; sigma from SIGMAS; differences d spread over both zones (|d| up to
    three times the kink) but kept off the kink itself; inside weights 0 (a coordinate that does
    not count) or in [0.5, 2]; outside weights in [0, 2].
    """
    rows = draw(st.integers(1, 5))
    cols = draw(st.integers(1, 8))
    sigma = draw(st.sampled_from(SIGMAS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kink = 1 / sigma**2
    d = away_from_kink(rng.uniform(-3 * kink, 3 * kink, size=(rows, cols)), kink)
    inside = np.where(rng.random((rows, cols)) < 0.2, 0.0, rng.uniform(0.5, 2, size=(rows, cols)))
    outside = rng.uniform(0, 2, size=(rows, cols))
    target = rng.standard_normal((rows, cols))
    # pred such that inside * (pred - target) = d; where inside is 0 any pred will do (d is 0).
    pred = target + np.divide(d, inside, out=rng.standard_normal((rows, cols)), where=inside != 0)
    return tuple(a.astype(dtype) for a in (pred, target, inside, outside)) + (sigma,)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------

@given(smooth_l1_cases())
def test_gradient_passes_gradcheck(case):
    """dpred agrees with central differences for any sigma, inside and outside weights."""
    pred, target, inside, outside, sigma = case
    result = gradcheck_loss(
        lambda pred: smooth_l1_loss(pred, target, inside, outside, sigma=sigma),
        {"pred": pred}, ["pred"])
    assert result.passed, str(result)


# ---------------------------------------------------------------------------------------------
# Values against the plain-loop reference
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, rtol, atol", naive.LOSS_TOLERANCES)
@given(data=st.data())
def test_matches_reference(dtype, rtol, atol, data):
    """loss and dpred match the plain-loop reference and come back in the input dtype."""
    pred, target, inside, outside, sigma = data.draw(smooth_l1_cases(dtype=dtype))
    loss, dpred = smooth_l1_loss(pred, target, inside, outside, sigma=sigma)
    expected_loss, expected_dpred = reference_smooth_l1(pred, target, inside, outside, sigma)
    assert np.asarray(loss).dtype == dtype
    assert dpred.dtype == dtype
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dpred, expected_dpred, rtol=rtol, atol=atol)


@given(smooth_l1_cases(dtype=np.float32))
def test_float32_matches_reference_to_float32_rounding(case):
    """float32 in gives float32 out, equal to the float64 reference up to float32 rounding."""
    pred, target, inside, outside, sigma = case
    loss, dpred = smooth_l1_loss(pred, target, inside, outside, sigma=sigma)
    expected_loss, expected_dpred = reference_smooth_l1(pred, target, inside, outside, sigma)
    assert np.asarray(loss).dtype == np.float32
    assert dpred.dtype == np.float32
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dpred, expected_dpred, rtol=1e-5, atol=1e-6)


@given(smooth_l1_cases())
def test_omitted_weights_mean_all_ones(case):
    """inside_weights=None and outside_weights=None behave exactly like arrays of ones."""
    pred, target, _, _, sigma = case
    ones = np.ones_like(pred)
    loss, dpred = smooth_l1_loss(pred, target, sigma=sigma)
    expected_loss, expected_dpred = smooth_l1_loss(pred, target, ones, ones, sigma=sigma)
    assert loss == expected_loss
    np.testing.assert_array_equal(dpred, expected_dpred)


# ---------------------------------------------------------------------------------------------
# Hand-worked values
# ---------------------------------------------------------------------------------------------

def one_value(d, sigma=1.0):
    """Loss and gradient of a single coordinate with error d (one row, so no division)."""
    loss, dpred = smooth_l1_loss(np.array([[d]]), np.zeros((1, 1)), sigma=sigma)
    return loss, dpred[0, 0]


@pytest.mark.parametrize(
    "d, sigma, expected_loss, expected_grad",
    [
        (0.5, 1.0, 0.125, 0.5),              # quadratic zone: 0.5 * 0.5^2, slope d
        (-0.5, 1.0, 0.125, -0.5),
        (2.0, 1.0, 1.5, 1.0),                # linear zone: 2 - 0.5, slope sign(d)
        (-2.0, 1.0, 1.5, -1.0),
        (0.0, 1.0, 0.0, 0.0),
        (0.05, 3.0, 0.5 * 9 * 0.05**2, 0.45),   # |d| < 1/9: 0.01125, slope 9 d
        (1.0, 3.0, 1 - 0.5 / 9, 1.0),          # |d| >= 1/9: 17/18, slope 1
        (0.5, 0.5, 0.5 * 0.25 * 0.25, 0.125),  # sigma < 1 widens the quadratic zone to |d| < 4
    ],
)
def test_hand_computed_values(d, sigma, expected_loss, expected_grad):
    """The formula worked by hand at points in both zones, for sigma = 1, 3 and 0.5."""
    loss, grad = one_value(d, sigma)
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-15)
    assert grad == pytest.approx(expected_grad, rel=1e-12, abs=1e-15)


def test_loss_is_divided_by_number_of_rows():
    """Rows with losses 0.125 and 1.5 give (0.125 + 1.5) / 2, and each gradient is halved too."""
    loss, dpred = smooth_l1_loss(np.array([[0.5], [2.0]]), np.zeros((2, 1)))
    assert loss == pytest.approx(1.625 / 2, rel=1e-12)
    np.testing.assert_allclose(dpred, [[0.25], [0.5]], rtol=1e-12)


def test_loss_sums_over_coordinates_before_dividing():
    """One row, four coordinates: the losses add up (0.125 + 1.5 + 0 + 0.125), no division by 4."""
    pred = np.array([[0.5, 2.0, 0.0, -0.5]])
    loss, _ = smooth_l1_loss(pred, np.zeros_like(pred))
    assert loss == pytest.approx(1.75, rel=1e-12)


def test_smooth_l1_is_continuous_with_continuous_slope_at_the_kink():
    """Both zones meet at |d| = 1/sigma^2 with value 0.5/sigma^2 and slope 1 (a C^1 function)."""
    sigma = 3.0
    kink = 1 / sigma**2
    below, slope_below = one_value(kink * (1 - 1e-9), sigma)
    above, slope_above = one_value(kink * (1 + 1e-9), sigma)
    assert below == pytest.approx(0.5 / sigma**2, rel=1e-8)
    assert above == pytest.approx(0.5 / sigma**2, rel=1e-8)
    assert slope_below == pytest.approx(1.0, rel=1e-8)
    assert slope_above == pytest.approx(1.0, rel=1e-8)


def test_weights_multiply_the_difference_and_the_loss():
    """inside 2 turns d = 0.25 into 0.5 (loss 0.125); outside 3 then triples it to 0.375.

    The gradient picks up both weights: outside * inside * d_scaled = 3 * 2 * 0.5 = 3.
    """
    loss, dpred = smooth_l1_loss(np.array([[0.25]]), np.zeros((1, 1)),
                                 np.array([[2.0]]), np.array([[3.0]]))
    assert loss == pytest.approx(0.375, rel=1e-12)
    assert dpred[0, 0] == pytest.approx(3.0, rel=1e-12)


def test_zero_inside_weight_switches_a_coordinate_off():
    """A coordinate with inside weight 0 gives no loss and no gradient, however far off it is."""
    pred = np.array([[100.0, 0.5]])
    loss, dpred = smooth_l1_loss(pred, np.zeros_like(pred), np.array([[0.0, 1.0]]))
    assert loss == pytest.approx(0.125, rel=1e-12)
    assert dpred[0, 0] == 0.0


def test_outliers_have_a_bounded_gradient():
    """Far from the target the gradient's magnitude is 1 / R: an outlier cannot blow up training."""
    loss, dpred = smooth_l1_loss(np.array([[1e6], [-1e6]]), np.zeros((2, 1)))
    assert loss == pytest.approx(1e6 - 0.5, rel=1e-12)
    np.testing.assert_array_equal(dpred, [[0.5], [-0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_rows_give_zero_loss(dtype):
    """R = 0: loss 0 of the input's dtype (not the NaN of 0 / 0) and an empty gradient."""
    loss, dpred = smooth_l1_loss(np.zeros((0, 4), dtype=dtype), np.zeros((0, 4), dtype=dtype))
    assert loss == 0.0
    assert np.asarray(loss).dtype == dtype
    assert dpred.shape == (0, 4)
    assert dpred.dtype == dtype


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

PRED = np.zeros((2, 4))


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((PRED, np.zeros((2, 3))), {}, r"target must have the shape of pred \(2, 4\), got \(2, 3\)"),
        ((PRED, np.zeros((4, 2))), {}, r"target must have the shape of pred"),
        ((PRED, PRED, np.ones((2, 8))), {}, r"inside_weights must have the shape of pred \(2, 4\)"),
        ((PRED, PRED, None, np.ones(4)), {}, r"outside_weights must have the shape of pred"),
        ((np.zeros(4), np.zeros(4)), {}, r"pred must be a 2-D array \(R, D\), got shape \(4,\)"),
        ((np.zeros((2, 4), dtype=np.int32), PRED), {}, r"pred must be float32 or float64"),
        ((PRED, PRED), {"sigma": 0.0}, r"sigma must be a positive number, got 0.0"),
        ((PRED, PRED), {"sigma": -1.0}, r"sigma must be a positive number, got -1.0"),
        ((PRED, PRED), {"sigma": float("nan")}, r"sigma must be a positive number, got nan"),
        ((PRED, PRED), {"sigma": float("inf")}, r"sigma must be a positive number, got inf"),
        ((PRED, PRED), {"sigma": None}, r"sigma must be a positive number, got None"),
        ((PRED, PRED), {"sigma": "3"}, r"sigma must be a positive number, got '3'"),
        ((PRED, np.zeros((2, 4), dtype=np.int64)), {}, r"target has dtype int64 but pred has dtype float64"),
    ],
)
def test_bad_input_raises_a_helpful_value_error(args, kwargs, message):
    """Wrong shapes, an integer pred and a non-positive sigma are refused with a clear message."""
    with pytest.raises(ValueError, match=message):
        smooth_l1_loss(*args, **kwargs)
