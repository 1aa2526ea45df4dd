"""Exercise iou: iou(a, b) -> (A, B) float64, every box of a (A, 4) against every box of b (B, 4).

Boxes are (x1, y1, x2, y2) with INCLUSIVE corners: width x2 - x1 + 1, and two boxes sharing one
pixel column overlap by one pixel."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "iou"


def iou_broadcast(a, b):
    """All pairs at once by broadcasting (A, 1) against (1, B)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = (a[:, k, None] for k in range(4))
    bx1, by1, bx2, by2 = (b[None, :, k] for k in range(4))
    iw = np.maximum(0.0, np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + 1)
    ih = np.maximum(0.0, np.minimum(ay2, by2) - np.maximum(ay1, by1) + 1)
    inter = iw * ih
    area_a = (ax2 - ax1 + 1) * (ay2 - ay1 + 1)
    area_b = (bx2 - bx1 + 1) * (by2 - by1 + 1)
    return inter / (area_a + area_b - inter)


def _pair_iou(p, q):
    """IoU of two boxes given as Python sequences."""
    w = min(p[2], q[2]) - max(p[0], q[0]) + 1
    h = min(p[3], q[3]) - max(p[1], q[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area_p = (p[2] - p[0] + 1) * (p[3] - p[1] + 1)
    area_q = (q[2] - q[0] + 1) * (q[3] - q[1] + 1)
    return inter / (area_p + area_q - inter)


def iou_loops(a, b):
    """A double loop over the pairs, filling a preallocated float64 matrix."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = _pair_iou([float(v) for v in a[i]], [float(v) for v in b[j]])
    return out


def _mutant(plus_one_area=1, plus_one_inter=1, clip=True, subtract_inter=True, enclosing=False,
            cast=True):
    """The broadcast version, with one switch turned the wrong way."""

    def iou(a, b):
        a = np.asarray(a, dtype=np.float64 if cast else None).reshape(-1, 4)
        b = np.asarray(b, dtype=np.float64 if cast else None).reshape(-1, 4)
        lo, hi = (np.minimum, np.maximum) if enclosing else (np.maximum, np.minimum)
        iw = hi(a[:, None, 2], b[None, :, 2]) - lo(a[:, None, 0], b[None, :, 0]) + plus_one_inter
        ih = hi(a[:, None, 3], b[None, :, 3]) - lo(a[:, None, 1], b[None, :, 1]) + plus_one_inter
        if clip:
            iw, ih = np.maximum(iw, 0), np.maximum(ih, 0)
        inter = iw * ih
        area_a = (a[:, 2] - a[:, 0] + plus_one_area) * (a[:, 3] - a[:, 1] + plus_one_area)
        area_b = (b[:, 2] - b[:, 0] + plus_one_area) * (b[:, 3] - b[:, 1] + plus_one_area)
        union = area_a[:, None] + area_b[None, :]
        if subtract_inter:
            union = union - inter
        return inter / union

    return (iou,)


def iou_elementwise(a, b):
    """Pairs a[i] with b[i] (zip) instead of every a with every b."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    iw = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1)
    ih = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a + area_b - inter)


def iou_list_of_rows(a, b):
    """Builds the result as a list of rows: an empty a gives shape (0,) instead of (0, B)."""
    return np.array([[_pair_iou(list(map(float, p)), list(map(float, q))) for q in b] for p in a],
                    dtype=np.float64)


CORRECT = {
    "broadcast": (iou_broadcast,),
    "loops": (iou_loops,),
}

MUTANTS = {
    "exclusive_corners": Mutant(_mutant(plus_one_area=0, plus_one_inter=0),
                                "exclusive corners: widths x2 - x1 without the + 1"),
    "plus_one_only_in_areas": Mutant(_mutant(plus_one_inter=0),
                                     "+ 1 in the areas but not in the intersection's width and "
                                     "height"),
    "no_clip": Mutant(_mutant(clip=False),
                      "does not clip the intersection's width and height at 0: two negatives "
                      "multiply to a positive overlap"),
    "union_without_minus_inter": Mutant(_mutant(subtract_inter=False),
                                        "union = area_a + area_b, the intersection counted twice"),
    "enclosing_box": Mutant(_mutant(enclosing=True),
                            "min and max swapped: the intersection is the enclosing box"),
    "keeps_input_dtype": Mutant(_mutant(cast=False),
                                "computes in the boxes' dtype: float32 boxes give float32 IoU"),
    "elementwise_pairs": Mutant((iou_elementwise,),
                                "pairs a[i] with b[i] (A,) instead of all pairs (A, B)"),
    "empty_shape": Mutant((iou_list_of_rows,),
                          "builds a list of rows: no boxes in a gives shape (0,) not (0, B)"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'exclusive_corners':          'iou',
    'plus_one_only_in_areas':     'iou',
    'no_clip':                    'iou',
    'union_without_minus_inter':  'iou',
    'enclosing_box':              'iou',
    'keeps_input_dtype':          'iou',
    'elementwise_pairs':          'iou',
    'empty_shape':                'iou',
}
