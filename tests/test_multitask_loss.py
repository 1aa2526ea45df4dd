"""multitask_loss: Fast R-CNN's loss per RoI (paper eq. 1), averaged over the R RoIs:

    L = L_cls(p, u) + lam [u >= 1] L_loc(t^u, v)

Checked against finite differences and a plain-loop reference written below; then the properties
the paper and DESIGN.md promise: lam scales only the box term, background RoIs get no box loss
whatever their weights say, a batch without foreground gives a finite loss and zero box gradient,
both terms are divided by R.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive

from minifrcnn.gradcheck import gradcheck_loss
from minifrcnn.layers import multitask_loss, softmax_cross_entropy


def reference_multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam):
    """The loss, RoI by RoI, in Python floats (float64): -log p_u, plus lam times smooth L1
    (sigma 1) over the weighted box columns of foreground RoIs only, all divided by R."""
    rows, num_classes = cls_score.shape
    total = 0.0
    for r in range(rows):
        row = [float(v) for v in cls_score[r]]
        top = max(row)
        u = int(labels[r])
        total += -(row[u] - top - math.log(math.fsum(math.exp(v - top) for v in row)))
        if u >= 1:
            for j in range(4 * num_classes):
                d = float(bbox_weights[r, j]) * (float(bbox_pred[r, j]) - float(bbox_targets[r, j]))
                total += lam * (0.5 * d * d if abs(d) < 1 else abs(d) - 0.5)
    return total / rows if rows else 0.0


def class_weights(labels, num_classes):
    """bbox_weights as DESIGN.md defines them: 1 on columns 4u..4u+3 of a foreground RoI, else 0."""
    weights = np.zeros((len(labels), 4 * num_classes))
    for r, u in enumerate(labels):
        if u >= 1:
            weights[r, 4 * u:4 * u + 4] = 1.0
    return weights


@st.composite
def multitask_cases(draw, dtype=np.float64):
    """cls_score (R, K+1), bbox_pred, bbox_targets, bbox_weights (R, 4(K+1)), labels (R,), lam.

    R in 1..5, K in 1..3, labels drawn by hypothesis (background allowed anywhere), lam from a few
    values. Background rows get random non-zero weights on purpose: the loss must ignore them.
    Box errors spread over both zones of smooth L1 but stay off its kink at |d| = 1.
    """
    rows = draw(st.integers(1, 5))
    num_classes = draw(st.integers(2, 4))
    labels = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=rows, max_size=rows)))
    lam = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cls_score = rng.uniform(-3, 3, size=(rows, num_classes))
    bbox_targets = rng.standard_normal((rows, 4 * num_classes))
    error = rng.uniform(-3, 3, size=bbox_targets.shape)
    error = np.where(np.abs(np.abs(error) - 1) < 1e-3, 1.01 * np.sign(error), error)
    bbox_pred = bbox_targets + error
    bbox_weights = class_weights(labels, num_classes)
    background = labels == 0
    bbox_weights[background] = rng.uniform(0.5, 2, size=(background.sum(), 4 * num_classes))
    arrays = (cls_score, bbox_pred, labels, bbox_targets, bbox_weights)
    return tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays) + (lam,)


# ---------------------------------------------------------------------------------------------
# Gradients and values
# ---------------------------------------------------------------------------------------------

@given(multitask_cases())
def test_gradients_pass_gradcheck(case):
    """dcls_score and dbbox_pred both agree with central differences of the loss (float64)."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = case
    result = gradcheck_loss(
        lambda cls_score, bbox_pred: multitask_loss(cls_score, bbox_pred, labels, bbox_targets,
                                                    bbox_weights, lam=lam),
        {"cls_score": cls_score, "bbox_pred": bbox_pred}, ["cls_score", "bbox_pred"])
    assert result.passed, str(result)


@pytest.mark.parametrize("dtype, rtol, atol", naive.LOSS_TOLERANCES)
@given(data=st.data())
def test_matches_reference(dtype, rtol, atol, data):
    """The loss matches the plain-loop reference; the loss and both gradients keep the input dtype."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = data.draw(multitask_cases(dtype=dtype))
    loss, dcls, dbbox = multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights,
                                       lam=lam)
    expected = reference_multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam)
    np.testing.assert_allclose(loss, expected, rtol=rtol, atol=atol)
    assert np.asarray(loss).dtype == dtype
    assert dcls.dtype == dtype and dcls.shape == cls_score.shape
    assert dbbox.dtype == dtype and dbbox.shape == bbox_pred.shape


@given(multitask_cases(dtype=np.float32))
def test_float32_matches_reference_to_float32_rounding(case):
    """float32 in gives float32 out, equal to the float64 reference up to float32 rounding."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = case
    loss, dcls, dbbox = multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights,
                                       lam=lam)
    expected = reference_multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)
    assert np.asarray(loss).dtype == np.float32
    assert dcls.dtype == np.float32
    assert dbbox.dtype == np.float32


@given(multitask_cases())
def test_classification_gradient_is_the_softmax_gradient(case):
    """The box term does not touch cls_score: dcls_score equals softmax_cross_entropy's dscores."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = case
    _, dcls, _ = multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam=lam)
    _, dscores = softmax_cross_entropy(cls_score, labels)
    np.testing.assert_array_equal(dcls, dscores)


@given(multitask_cases())
def test_the_result_unpacks_to_three_and_carries_the_two_terms(case):
    """The public contract, `loss, dcls_score, dbbox_pred = multitask_loss(...)`, still holds; the
    terms ride along: loss_cls is the softmax log loss, loss_box is lam times the box loss (the
    reference with lam = 1), and they add up to the loss."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = case
    result = multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam=lam)
    assert len(result) == 3
    loss, dcls, dbbox = result
    assert (result.loss, result.dcls_score, result.dbbox_pred) == (loss, dcls, dbbox)
    assert result.loss_cls == softmax_cross_entropy(cls_score, labels)[0]
    arrays = (cls_score, bbox_pred, labels, bbox_targets, bbox_weights)
    box_only = reference_multitask_loss(*arrays, 1.0) - reference_multitask_loss(*arrays, 0.0)
    assert result.loss_box == pytest.approx(lam * box_only, rel=1e-9, abs=1e-12)
    assert loss == pytest.approx(result.loss_cls + result.loss_box, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# lam and background RoIs
# ---------------------------------------------------------------------------------------------

@given(multitask_cases(), st.floats(0.0, 10.0))
def test_lam_scales_only_the_box_term(case, lam):
    """loss(lam) = loss(0) + lam * (loss(1) - loss(0)); dbbox(lam) = lam * dbbox(1); dcls fixed."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, _ = case
    args = (cls_score, bbox_pred, labels, bbox_targets, bbox_weights)
    loss_0, dcls_0, _ = multitask_loss(*args, lam=0.0)
    loss_1, _, dbbox_1 = multitask_loss(*args, lam=1.0)
    loss, dcls, dbbox = multitask_loss(*args, lam=lam)
    assert loss_0 == pytest.approx(softmax_cross_entropy(cls_score, labels)[0], rel=1e-12)
    assert loss == pytest.approx(loss_0 + lam * (loss_1 - loss_0), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(dbbox, lam * dbbox_1, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(dcls, dcls_0)


@given(multitask_cases())
def test_background_rows_get_zero_box_gradient_whatever_their_weights(case):
    """[u >= 1]: a background RoI's box columns get no gradient even with non-zero bbox_weights,
    and its box predictions do not change the loss."""
    cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam = case
    background = labels == 0
    assert np.all(bbox_weights[background] > 0)      # the case really tempts the loss
    loss, _, dbbox = multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam=lam)
    assert np.all(dbbox[background] == 0)
    moved = bbox_pred.copy()
    moved[background] += 100.0
    moved_loss, _, _ = multitask_loss(cls_score, moved, labels, bbox_targets, bbox_weights, lam=lam)
    assert moved_loss == loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_without_foreground_gives_softmax_loss_and_zero_box_gradient(dtype):
    """All RoIs background (fast-rcnn #111 gave NaN here): the loss is the softmax loss alone,
    finite, and dbbox_pred is all zeros, even with huge box errors and all-ones weights."""
    rng = np.random.default_rng(3)
    cls_score = rng.standard_normal((4, 3)).astype(dtype)
    labels = np.zeros(4, dtype=np.int64)
    bbox_pred = (1e3 * rng.standard_normal((4, 12))).astype(dtype)
    loss, dcls, dbbox = multitask_loss(cls_score, bbox_pred, labels, np.zeros_like(bbox_pred),
                                       np.ones_like(bbox_pred))
    softmax_loss, dscores = softmax_cross_entropy(cls_score, labels)
    assert np.isfinite(loss)
    assert loss == softmax_loss
    np.testing.assert_array_equal(dcls, dscores)
    assert np.all(np.isfinite(dbbox))
    assert np.all(dbbox == 0)
    assert dbbox.dtype == dtype


def test_box_loss_is_divided_by_number_of_rois_not_foreground_count():
    """Four RoIs, one foreground with box error 2 in one coordinate (smooth L1 1.5) and equal
    class scores: loss = log 3 + 1.5 / 4, not log 3 + 1.5 / 1."""
    labels = np.array([2, 0, 0, 0])
    bbox_pred = np.zeros((4, 12))
    bbox_pred[0, 8] = 2.0                      # column 4u for u = 2
    bbox_weights = class_weights(labels, 3)
    loss, _, dbbox = multitask_loss(np.zeros((4, 3)), bbox_pred, labels, np.zeros((4, 12)),
                                    bbox_weights)
    assert loss == pytest.approx(math.log(3) + 1.5 / 4, rel=1e-12)
    expected = np.zeros((4, 12))
    expected[0, 8] = 1 / 4                     # slope sign(d) = 1, divided by R
    np.testing.assert_allclose(dbbox, expected, rtol=1e-12)


def test_only_the_true_class_columns_count():
    """A foreground RoI of class 1 is judged on columns 4..7 only: errors elsewhere cost nothing."""
    labels = np.array([1])
    bbox_pred = np.full((1, 12), 5.0)
    bbox_pred[0, 4:8] = [0.5, 0.0, 0.0, 0.0]  # smooth L1: 0.125
    loss, _, dbbox = multitask_loss(np.zeros((1, 3)), bbox_pred, labels, np.zeros((1, 12)),
                                    class_weights(labels, 3), lam=2.0)
    assert loss == pytest.approx(math.log(3) + 2.0 * 0.125, rel=1e-12)
    assert np.count_nonzero(dbbox) == 1 and dbbox[0, 4] == pytest.approx(2.0 * 0.5, rel=1e-12)


def test_no_rois_give_zero_loss():
    """R = 0: loss 0 and correctly shaped empty gradients."""
    loss, dcls, dbbox = multitask_loss(np.zeros((0, 3)), np.zeros((0, 12)),
                                       np.zeros(0, dtype=np.int64), np.zeros((0, 12)),
                                       np.zeros((0, 12)))
    assert loss == 0.0
    assert dcls.shape == (0, 3)
    assert dbbox.shape == (0, 12)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def good_args():
    """A valid call for R = 2 RoIs and K + 1 = 3 classes, to break one argument at a time."""
    return {"cls_score": np.zeros((2, 3)), "bbox_pred": np.zeros((2, 12)),
            "labels": np.array([0, 1]), "bbox_targets": np.zeros((2, 12)),
            "bbox_weights": np.zeros((2, 12))}


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("bbox_pred", np.zeros((2, 8)), r"bbox_pred must have shape \(R, 4\(K\+1\)\) = \(2, 12\)"),
        ("bbox_pred", np.zeros((3, 12)), r"bbox_pred must have shape \(R, 4\(K\+1\)\)"),
        ("bbox_pred", np.zeros(24), r"bbox_pred must be a 2-D array"),
        ("bbox_targets", np.zeros((2, 4)), r"bbox_targets must have the shape of bbox_pred \(2, 12\)"),
        ("bbox_weights", np.zeros((12, 2)), r"bbox_weights must have the shape of bbox_pred"),
        ("cls_score", np.zeros(3), r"cls_score must be a 2-D array \(R, K\+1\)"),
        ("labels", np.array([0, 3]), r"labels must lie in \[0, 2\] for 3 classes, got 3"),
        ("labels", np.array([-1, 1]), r"labels must lie in \[0, 2\].*got -1"),
        ("labels", np.array([0.0, 1.0]), r"labels must be integers"),
        ("labels", np.array([1]), r"labels must be a 1-D array of 2 class indices"),
        ("bbox_pred", np.zeros((2, 12), dtype=np.float32), r"bbox_pred has dtype float32 but cls_score"),
        ("lam", float("nan"), r"lam must be a non-negative number, got nan"),
        ("lam", -1.0, r"lam must be a non-negative number, got -1.0"),
    ],
)
def test_bad_input_raises_a_helpful_value_error(name, value, message):
    """Each argument, broken on its own, is refused with a message naming it and its shape."""
    args = good_args()
    args[name] = value
    with pytest.raises(ValueError, match=message):
        multitask_loss(**args)
