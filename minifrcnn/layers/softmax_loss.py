"""Softmax log loss over K+1 classes (class 0 is background): L_cls = -log p_u, averaged over rows."""

import numpy as np

from ._checks import check_array, check_labels


def softmax(scores):
    """scores: (R, K+1) raw class scores -> (R, K+1) probabilities p (each row sums to 1).

    The test-time half of the loss below: the detector reports p as its confidence. Each row's
    maximum is subtracted first, which leaves the softmax unchanged and keeps exp() at most 1.
    """
    check_array("scores", scores, 2, "(R, K+1)")
    exp = np.exp(scores - scores.max(axis=1, keepdims=True, initial=-np.inf))
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_cross_entropy(scores, labels):
    """scores: (R, K+1) raw class scores; labels: (R,) integers u in [0, K].

    Returns loss (a scalar of the scores' dtype) = mean over r of -log softmax(scores[r])[labels[r]],
    and dscores: (R, K+1) = (softmax(scores) - onehot(labels)) / R. No rows give loss 0.

    Stable for scores of any magnitude: subtracting each row's maximum leaves the softmax unchanged
    and keeps exp() at most 1, and the loss comes from log-softmax directly, never log(0).
    """
    check_array("scores", scores, 2, "(R, K+1)")
    rows, num_classes = scores.shape
    check_labels(labels, rows, num_classes)
    if rows == 0:
        return scores.dtype.type(0), np.zeros_like(scores)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    index = np.arange(rows)
    loss = -log_probs[index, labels].mean()
    dscores = exp / sum_exp
    dscores[index, labels] -= 1
    dscores /= rows
    return scores.dtype.type(loss), dscores
