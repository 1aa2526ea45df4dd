"""Fast R-CNN's multi-task loss (paper eq. 1), per RoI:

    L(p, u, t^u, v) = L_cls(p, u) + lam [u >= 1] L_loc(t^u, v)

L_cls is the softmax log loss; L_loc is smooth L1 over the 4 box deltas of the true class u.
The Iverson bracket [u >= 1] switches the box loss off for background RoIs, which have no box.
Both terms are averaged over the R RoIs of the minibatch (L_loc is divided by R, not by the
number of foreground RoIs).
"""

import numpy as np

from ._checks import check_array, check_labels, check_positive_number, check_same_dtype, check_same_shape
from .smooth_l1 import smooth_l1_loss
from .softmax_loss import softmax_cross_entropy


class MultitaskLoss(tuple):
    """What multitask_loss returns: the tuple (loss, dcls_score, dbbox_pred), so that
    `loss, dcls_score, dbbox_pred = multitask_loss(...)` unpacks exactly as before, plus the two
    terms of the loss as attributes, for logging them without computing the softmax again:

        loss_cls: the softmax log loss averaged over the R RoIs
        loss_box: lam times the smooth L1 box loss averaged over the R RoIs

    so that loss == loss_cls + loss_box (up to rounding). All three are scalars of cls_score's
    dtype; loss, dcls_score and dbbox_pred are also attributes of those names.
    """

    def __new__(cls, loss, dcls_score, dbbox_pred, loss_cls, loss_box):
        result = super().__new__(cls, (loss, dcls_score, dbbox_pred))
        result.loss_cls, result.loss_box = loss_cls, loss_box
        return result

    @property
    def loss(self):
        return self[0]

    @property
    def dcls_score(self):
        return self[1]

    @property
    def dbbox_pred(self):
        return self[2]


def multitask_loss(cls_score, bbox_pred, labels, bbox_targets, bbox_weights, lam=1.0):
    """cls_score: (R, K+1); bbox_pred: (R, 4(K+1)); labels: (R,) integers in [0, K];
    bbox_targets: (R, 4(K+1)), the regression target v in columns 4u..4u+3 of a foreground RoI;
    bbox_weights: (R, 4(K+1)), 1 on those four columns and 0 elsewhere (smooth L1's inside weight).

    Returns a MultitaskLoss: loss (scalar of cls_score's dtype), dcls_score: (R, K+1),
    dbbox_pred: (R, 4(K+1)), with the loss's two terms as .loss_cls and .loss_box.
    A batch without foreground RoIs gives a finite loss (the classification term alone) and a zero
    box gradient.
    """
    check_array("cls_score", cls_score, 2, "(R, K+1)")
    rows, num_classes = cls_score.shape
    check_array("bbox_pred", bbox_pred, 2, "(R, 4(K+1))")
    check_same_dtype("bbox_pred", bbox_pred, "cls_score", cls_score)
    if bbox_pred.shape != (rows, 4 * num_classes):
        raise ValueError(
            f"bbox_pred must have shape (R, 4(K+1)) = {(rows, 4 * num_classes)} for cls_score "
            f"{cls_score.shape}, got {bbox_pred.shape}"
        )
    check_same_shape("bbox_targets", bbox_targets, "bbox_pred", bbox_pred)
    check_same_shape("bbox_weights", bbox_weights, "bbox_pred", bbox_pred)
    check_labels(labels, rows, num_classes)
    lam = check_positive_number("lam", lam, allow_zero=True)
    loss_cls, dcls_score = softmax_cross_entropy(cls_score, labels)
    # [u >= 1] applied here as well as through the weights: a background row never gets a box loss,
    # whatever weights it was given.
    inside = bbox_weights * (labels >= 1)[:, None]
    loss_loc, dbbox_pred = smooth_l1_loss(bbox_pred, bbox_targets, inside, np.ones_like(bbox_pred))
    dtype = cls_score.dtype
    lam = dtype.type(lam)
    loss_box = dtype.type(lam * loss_loc)
    return MultitaskLoss(dtype.type(loss_cls + loss_box), dcls_score,
                         (lam * dbbox_pred).astype(dtype, copy=False),
                         loss_cls=dtype.type(loss_cls), loss_box=loss_box)
