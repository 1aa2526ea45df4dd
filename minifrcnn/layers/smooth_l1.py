"""Smooth L1 loss for box regression (paper eq. 3), in the general form with sigma:

    smooth_L1(x) = 0.5 sigma^2 x^2     if |x| < 1 / sigma^2
                   |x| - 0.5 / sigma^2 otherwise

Quadratic near zero (a gradient that shrinks as the error does), linear far away (a gradient of
magnitude 1 at most), so an outlier cannot blow up training as it can with the L2 loss of R-CNN.
Fast R-CNN uses sigma = 1: the paper's 0.5 x^2 / |x| - 0.5.
"""

import numpy as np

from ._checks import check_array, check_positive_number, check_same_dtype, check_same_shape


def smooth_l1_loss(pred, target, inside_weights=None, outside_weights=None, sigma=1.0):
    """pred, target: (R, D); inside_weights, outside_weights: (R, D) (None means all ones).

    With d = inside_weights * (pred - target):
        loss  = sum(outside_weights * smooth_L1(d)) / R      (a scalar of pred's dtype)
        dpred = outside_weights * inside_weights * smooth_L1'(d) / R
    where smooth_L1'(d) = sigma^2 d inside the quadratic zone and sign(d) outside it.
    Inside weights pick the coordinates that count (the 4 of a RoI's true class); outside weights
    scale the loss. No rows give loss 0.
    """
    check_array("pred", pred, 2, "(R, D)")
    check_same_shape("target", target, "pred", pred)
    inside_weights = np.ones_like(pred) if inside_weights is None else inside_weights
    outside_weights = np.ones_like(pred) if outside_weights is None else outside_weights
    check_same_shape("inside_weights", inside_weights, "pred", pred)
    check_same_shape("outside_weights", outside_weights, "pred", pred)
    check_same_dtype("target", target, "pred", pred)
    sigma = check_positive_number("sigma", sigma)
    dtype = pred.dtype
    rows = pred.shape[0]
    if rows == 0:
        return dtype.type(0), np.zeros_like(pred)
    sigma2 = dtype.type(sigma) ** 2
    diff = inside_weights * (pred - target)
    abs_diff = np.abs(diff)
    quadratic = abs_diff < 1 / sigma2
    value = np.where(quadratic, 0.5 * sigma2 * diff * diff, abs_diff - 0.5 / sigma2)
    loss = (outside_weights * value).sum() / rows
    slope = np.where(quadratic, sigma2 * diff, np.sign(diff))
    dpred = (outside_weights * inside_weights * slope / rows).astype(dtype, copy=False)
    return dtype.type(loss), dpred
