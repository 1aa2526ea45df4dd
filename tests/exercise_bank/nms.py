"""Exercise nms: nms(boxes, scores, threshold) -> int64 indices of the kept boxes.

Greedy: visit the boxes by descending score (stable: of equal scores, the earlier box first); a
kept box suppresses every later box whose IoU with it (inclusive corners) is greater than
threshold, so a box at exactly the threshold survives. The indices come highest score first."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "nms"


def _iou_one_to_many(box, others, plus_one=1.0):
    """IoU of box (4,) with others (M, 4), inclusive corners unless plus_one is 0."""
    iw = np.maximum(0.0, np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
                    + plus_one)
    ih = np.maximum(0.0, np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
                    + plus_one)
    inter = iw * ih
    area = (box[2] - box[0] + plus_one) * (box[3] - box[1] + plus_one)
    areas = (others[:, 2] - others[:, 0] + plus_one) * (others[:, 3] - others[:, 1] + plus_one)
    return inter / (area + areas - inter)


def nms_shrinking_order(boxes, scores, threshold):
    """The py-faster-rcnn shape: keep the head of the order, drop what it overlaps, repeat."""
    boxes = np.asarray(boxes, dtype=np.float64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size > 0:
        best = order[0]
        keep.append(best)
        overlaps = _iou_one_to_many(boxes[best], boxes[order[1:]])
        order = order[1:][overlaps <= threshold]
    return np.array(keep, dtype=np.int64)


def _pair_iou(p, q):
    w = min(p[2], q[2]) - max(p[0], q[0]) + 1
    h = min(p[3], q[3]) - max(p[1], q[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((p[2] - p[0] + 1) * (p[3] - p[1] + 1) + (q[2] - q[0] + 1) * (q[3] - q[1] + 1)
                    - inter)


def nms_python(boxes, scores, threshold):
    """Plain Python: sorted() is stable, each candidate checked against the boxes kept so far."""
    boxes = np.asarray(boxes, dtype=np.float64).tolist()
    scores = np.asarray(scores).tolist()
    keep = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if all(_pair_iou(boxes[i], boxes[j]) <= threshold for j in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _mutant(compare="gt", order_kind="stable", plus_one=1.0, chain=True, original_index=True,
            sort_output=False, dtype=np.int64, in_place=False):
    """A suppression-mask version, with one switch turned the wrong way."""

    def nms(boxes, scores, threshold):
        boxes = np.asarray(boxes, dtype=np.float64)
        if order_kind == "stable":
            order = np.argsort(-np.asarray(scores), kind="stable")
        elif order_kind == "reversed":
            order = np.argsort(scores)[::-1]
        else:
            order = np.argsort(scores, kind="stable")
        suppressed = np.zeros(len(order), dtype=bool)
        keep = []
        for i in range(len(order)):
            if suppressed[i] and chain:
                continue
            if not suppressed[i]:
                keep.append(order[i] if original_index else i)
            overlaps = _iou_one_to_many(boxes[order[i]], boxes[order[i + 1:]], plus_one)
            hit = overlaps >= threshold if compare == "ge" else overlaps > threshold
            suppressed[i + 1:] |= hit
            if in_place:
                scores[order[i + 1:][hit]] = -1
        if sort_output:
            keep = sorted(keep)
        return np.array(keep, dtype=dtype) if dtype is not None else np.array(keep)

    return (nms,)


CORRECT = {
    "shrinking_order": (nms_shrinking_order,),
    "python_sorted": (nms_python,),
}

MUTANTS = {
    "suppress_at_threshold": Mutant(_mutant(compare="ge"),
                                    "suppresses IoU >= threshold: a box exactly at it is dropped"),
    "unstable_descending": Mutant(_mutant(order_kind="reversed"),
                                  "argsort(scores)[::-1]: of equal scores the later box comes "
                                  "first"),
    "ascending_order": Mutant(_mutant(order_kind="ascending"),
                              "argsort(scores) without reversing: visits the lowest score first"),
    "exclusive_iou": Mutant(_mutant(plus_one=0.0),
                            "IoU on exclusive corners (no + 1 in widths)"),
    "suppressed_still_suppress": Mutant(_mutant(chain=False),
                                        "a suppressed box still suppresses the boxes after it"),
    "positions_not_indices": Mutant(_mutant(original_index=False),
                                    "returns positions in the sorted order instead of the boxes' "
                                    "own indices"),
    "indices_sorted": Mutant(_mutant(sort_output=True),
                             "returns the kept indices in ascending index order, not by score"),
    "empty_float": Mutant(_mutant(dtype=None),
                          "np.array(keep) without a dtype: no boxes gives a float64 array"),
    "scores_in_place": Mutant(_mutant(in_place=True),
                              "marks suppressed boxes by writing -1 into the caller's scores"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'suppress_at_threshold':      'keep',
    'unstable_descending':        'keep',
    'ascending_order':            'keep',
    'exclusive_iou':              'keep',
    'suppressed_still_suppress':  'keep',
    'positions_not_indices':      'keep',
    'indices_sorted':             'keep',
    'empty_float':                'keep',
    'scores_in_place':            'input unchanged',
}
