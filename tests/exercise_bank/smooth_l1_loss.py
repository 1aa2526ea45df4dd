"""Exercise smooth_l1_loss: smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma)
-> (loss, dpred).

With d = inside_weights * (pred - target): loss = sum(outside_weights * f(d)) / R, where
f(d) = 0.5 sigma^2 d^2 if |d| < 1 / sigma^2, else |d| - 0.5 / sigma^2; dpred = outside_weights *
inside_weights * f'(d) / R, in pred's dtype; R = 0 rows gives loss 0 and an empty gradient."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "smooth_l1_loss"


def smooth_l1_loss_where(pred, target, inside_weights, outside_weights, sigma):
    """Vectorised with np.where."""
    rows = pred.shape[0]
    if rows == 0:
        return pred.dtype.type(0), np.zeros_like(pred)
    s2 = pred.dtype.type(sigma) ** 2
    d = inside_weights * (pred - target)
    small = np.abs(d) < 1 / s2
    f = np.where(small, 0.5 * s2 * d ** 2, np.abs(d) - 0.5 / s2)
    slope = np.where(small, s2 * d, np.sign(d))
    loss = np.sum(outside_weights * f) / rows
    dpred = outside_weights * inside_weights * slope / rows
    return pred.dtype.type(loss), dpred.astype(pred.dtype)


def smooth_l1_loss_loops(pred, target, inside_weights, outside_weights, sigma):
    """Element by element, with masks written out as Python branches."""
    rows, cols = pred.shape
    dpred = np.zeros_like(pred)
    loss = 0.0
    s2 = sigma * sigma
    for i in range(rows):
        for j in range(cols):
            d = float(inside_weights[i, j]) * (float(pred[i, j]) - float(target[i, j]))
            if abs(d) < 1.0 / s2:
                value, slope = 0.5 * s2 * d * d, s2 * d
            else:
                value, slope = abs(d) - 0.5 / s2, (1.0 if d > 0 else -1.0)
            loss += float(outside_weights[i, j]) * value
            dpred[i, j] = float(outside_weights[i, j]) * float(inside_weights[i, j]) * slope / rows
    if rows:
        loss /= rows
    return pred.dtype.type(loss), dpred


def _mutant(threshold="sigma2", quadratic="sigma2", divide="rows", inside_in_grad=True,
            linear_slope="sign", flip=False, guard_empty=True, keep_dtype=True):
    """The np.where version, with one switch turned the wrong way."""

    def smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma):
        rows = pred.shape[0]
        if guard_empty and rows == 0:
            return pred.dtype.type(0), np.zeros_like(pred)
        dtype = pred.dtype if keep_dtype else np.dtype(np.float64)
        s2 = float(sigma) ** 2
        d = inside_weights * ((target - pred) if flip else (pred - target))
        if not keep_dtype:
            d = d.astype(np.float64)
        limit = {"sigma2": 1 / s2, "one": 1.0, "sigma": 1 / float(sigma)}[threshold]
        small = np.abs(d) < limit
        k = s2 if quadratic == "sigma2" else 1.0
        f = np.where(small, 0.5 * k * d ** 2, np.abs(d) - 0.5 / s2)
        slope = np.where(small, k * d, np.sign(d) if linear_slope == "sign" else d)
        count = rows if divide == "rows" else d.size
        loss = np.sum(outside_weights * f) / count
        grad_weights = outside_weights * inside_weights if inside_in_grad else outside_weights
        dpred = grad_weights * slope / count
        if keep_dtype:
            dpred = dpred.astype(pred.dtype)
        return dtype.type(loss), dpred

    return (smooth_l1_loss,)


CORRECT = {
    "where": (smooth_l1_loss_where,),
    "loops": (smooth_l1_loss_loops,),
}

MUTANTS = {
    "threshold_without_sigma": Mutant(_mutant(threshold="one"),
                                      "switches from quadratic to linear at |d| < 1 whatever "
                                      "sigma"),
    "quadratic_without_sigma": Mutant(_mutant(quadratic="one"),
                                      "0.5 d^2 in the quadratic zone: sigma^2 forgotten there"),
    "sigma_not_squared": Mutant(_mutant(threshold="sigma"),
                                "threshold 1 / sigma instead of 1 / sigma^2"),
    "mean_over_elements": Mutant(_mutant(divide="elements"),
                                 "divides by R * D (np.mean) instead of by the number of rows R"),
    "inside_weights_not_in_grad": Mutant(_mutant(inside_in_grad=False),
                                         "forgets the chain-rule factor inside_weights in dpred"),
    "linear_slope_d": Mutant(_mutant(linear_slope="d"),
                             "slope d instead of sign(d) in the linear zone (the L2 gradient)"),
    "target_minus_pred": Mutant(_mutant(flip=True),
                                "d = target - pred and the gradient taken with respect to d: "
                                "dpred has the wrong sign"),
    "empty_nan": Mutant(_mutant(guard_empty=False),
                        "no R = 0 case: 0 / 0 gives a nan loss"),
    "float64_out": Mutant(_mutant(keep_dtype=False),
                          "computes in float64 and returns float64 for float32 inputs"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'threshold_without_sigma':     'loss',
    'quadratic_without_sigma':     'loss',
    'sigma_not_squared':           'loss',
    'mean_over_elements':          'loss',
    'inside_weights_not_in_grad':  'dpred',
    'linear_slope_d':              'dpred',
    'target_minus_pred':           'dpred',
    'empty_nan':                   'loss',
    'float64_out':                 'dpred',
}
