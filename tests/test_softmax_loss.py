"""softmax_cross_entropy: the classification half of Fast R-CNN's multi-task loss.

L_cls = mean over the R rows of -log softmax(scores[r])[labels[r]], and dscores = (p - onehot) / R.
Checked against finite differences, against a plain-loop reference written below, on hand-worked
values, on logits of magnitude 1e4, and on bad input.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive

from minifrcnn.gradcheck import gradcheck_loss
from minifrcnn.layers import softmax_cross_entropy


def reference_softmax_cross_entropy(scores, labels):
    """The loss and its gradient one row and one class at a time, in Python floats (float64).

    Written independently of the library: the largest score of each row is subtracted before
    exp() so that nothing overflows, and math.fsum adds the exponentials without rounding drift.
    """
    rows, num_classes = scores.shape
    total = 0.0
    dscores = np.zeros((rows, num_classes))
    for r in range(rows):
        row = [float(v) for v in scores[r]]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        log_sum = math.log(math.fsum(exps))
        u = int(labels[r])
        total += -((row[u] - top) - log_sum)
        for j in range(num_classes):
            p = exps[j] / math.fsum(exps)
            dscores[r, j] = (p - (1.0 if j == u else 0.0)) / rows
    return (total / rows if rows else 0.0), dscores


@st.composite
def scores_and_labels(draw, dtype=np.float64, max_abs=3.0):
    """scores (R, K+1) with R in 1..6 and K+1 in 2..5, values in [-max_abs, max_abs], and labels.

    Hypothesis picks the shape, a seed for the values and the labels themselves; the default range
    keeps every softmax probability far enough from 0 that finite differences stay accurate.
    """
    rows = draw(st.integers(1, 6))
    num_classes = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.uniform(-max_abs, max_abs, size=(rows, num_classes)).astype(dtype)
    labels = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=rows, max_size=rows)))
    return scores, labels


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------

@given(scores_and_labels())
def test_gradient_passes_gradcheck(case):
    """The analytic dscores agrees with central differences of the loss (float64)."""
    scores, labels = case
    result = gradcheck_loss(softmax_cross_entropy, {"scores": scores, "labels": labels}, ["scores"])
    assert result.passed, str(result)


@given(scores_and_labels())
def test_rows_of_dscores_sum_to_zero(case):
    """Each row of dscores is (p - onehot) / R: the probabilities sum to 1, the one-hot to 1."""
    scores, labels = case
    _, dscores = softmax_cross_entropy(scores, labels)
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Values against the plain-loop reference
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, rtol, atol", naive.LOSS_TOLERANCES)
@given(data=st.data())
def test_matches_reference(dtype, rtol, atol, data):
    """loss and dscores match the plain-loop reference and come back in the input dtype."""
    scores, labels = data.draw(scores_and_labels(dtype=dtype, max_abs=30.0))
    loss, dscores = softmax_cross_entropy(scores, labels)
    expected_loss, expected_dscores = reference_softmax_cross_entropy(scores, labels)
    assert np.asarray(loss).dtype == dtype
    assert dscores.dtype == dtype
    assert dscores.shape == scores.shape
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dscores, expected_dscores, rtol=rtol, atol=atol)


@given(scores_and_labels(dtype=np.float32, max_abs=30.0))
def test_float32_matches_reference_to_float32_rounding(case):
    """float32 in gives float32 out, equal to the float64 reference up to float32 rounding."""
    scores, labels = case
    loss, dscores = softmax_cross_entropy(scores, labels)
    expected_loss, expected_dscores = reference_softmax_cross_entropy(scores, labels)
    assert np.asarray(loss).dtype == np.float32
    assert dscores.dtype == np.float32
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dscores, expected_dscores, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Hand-worked values
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_classes", [2, 3, 21])
def test_equal_scores_give_log_of_number_of_classes(num_classes):
    """Equal scores mean a uniform softmax: p_u = 1/(K+1), so the loss is log(K+1) for any label."""
    scores = np.full((3, num_classes), 0.7)
    labels = np.array([0, 1, num_classes - 1])
    loss, dscores = softmax_cross_entropy(scores, labels)
    assert loss == pytest.approx(math.log(num_classes), rel=1e-12)
    expected = np.full((3, num_classes), 1 / num_classes)
    expected[[0, 1, 2], labels] -= 1
    np.testing.assert_allclose(dscores, expected / 3, rtol=1e-12)


def test_loss_is_a_mean_over_rows():
    """Two rows with losses log 2 and log 3 average to (log 2 + log 3) / 2."""
    scores = np.array([[0.0, 0.0, -1e4],    # exp(-1e4) is 0: a two-way softmax, -log p_0 = log 2
                       [1.0, 1.0, 1.0]])    # uniform over three: -log p_2 = log 3
    loss, _ = softmax_cross_entropy(scores, np.array([0, 2]))
    assert loss == pytest.approx((math.log(2) + math.log(3)) / 2, rel=1e-12)


def test_no_rows_give_zero_loss_and_empty_gradient():
    """R = 0: loss 0 (not the NaN of a mean over nothing) and a (0, K+1) gradient."""
    loss, dscores = softmax_cross_entropy(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    assert loss == 0.0
    assert dscores.shape == (0, 4)


# ---------------------------------------------------------------------------------------------
# Numerical stability
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logits_of_magnitude_1e4_give_exact_finite_loss(dtype):
    """Scores [1e4, -1e4, 0] with label 1: p_1 = exp(-2e4) underflows, but -log p_1 is 2e4.

    A naive exp(scores) overflows to inf (and log(0) gives inf); log-softmax after subtracting
    the row maximum gets the loss exactly.
    """
    scores = np.array([[1e4, -1e4, 0.0]], dtype=dtype)
    loss, dscores = softmax_cross_entropy(scores, np.array([1]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(2e4, rel=1e-12)
    assert np.all(np.isfinite(dscores))
    np.testing.assert_allclose(dscores, [[1.0, -1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=scores_and_labels(max_abs=1e4))
def test_huge_logits_stay_finite_and_match_reference(dtype, case):
    """Random logits up to 1e4 in magnitude: finite loss and gradients, equal to the reference."""
    scores, labels = case
    scores = scores.astype(dtype)
    loss, dscores = softmax_cross_entropy(scores, labels)
    expected_loss, expected_dscores = reference_softmax_cross_entropy(scores, labels)
    assert np.isfinite(loss)
    assert np.all(np.isfinite(dscores))
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5 if dtype == np.float32 else 1e-9,
                               atol=1e-6)
    np.testing.assert_allclose(dscores, expected_dscores, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

SCORES = np.zeros((2, 3))


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        (SCORES, np.array([0, 3]), r"labels must lie in \[0, 2\] for 3 classes, got 3"),
        (SCORES, np.array([-1, 0]), r"labels must lie in \[0, 2\].*got -1"),
        (SCORES, np.array([0.0, 1.0]), r"labels must be integers, got dtype float64"),
        (SCORES, np.array([0, 1, 2]), r"labels must be a 1-D array of 2 class indices, got \(3,\)"),
        (SCORES, np.array([[0, 1]]), r"labels must be a 1-D array of 2 class indices"),
        (SCORES, [0, 1], r"labels must be a 1-D array of 2 class indices, got list"),
        (np.zeros(3), np.array([0]), r"scores must be a 2-D array \(R, K\+1\), got shape \(3,\)"),
        (np.zeros((1, 2, 3)), np.array([0]), r"scores must be a 2-D array"),
        (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), r"scores must be float32 or float64"),
        ([[0.0, 1.0]], np.array([0]), r"scores must be a NumPy array"),
    ],
)
def test_bad_input_raises_a_helpful_value_error(scores, labels, message):
    """Every malformed input is refused with a message that names the argument and the fix."""
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(scores, labels)
