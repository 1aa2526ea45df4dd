"""Box arithmetic: the one place it lives (fast-rcnn-spec.md, "Boxes").

Boxes are (x1, y1, x2, y2) in pixels, 0-based, with INCLUSIVE corners: a box's width is
x2 - x1 + 1. Every other module calls these functions instead of writing the formulas again.
"""

import numpy as np


def clip(boxes, height, width):
    """Clip boxes (..., 4) to an image of height x width: x to [0, width - 1], y to [0, height - 1].
    Returns a new array of the same shape and dtype."""
    out = np.array(boxes, copy=True)
    out[..., 0::2] = np.clip(out[..., 0::2], 0, width - 1)
    out[..., 1::2] = np.clip(out[..., 1::2], 0, height - 1)
    return out


def flip(boxes, width):
    """Mirror boxes (..., 4) left to right in an image `width` pixels wide:
    x1' = width - x2 - 1, x2' = width - x1 - 1 (inclusive corners). Flipping twice gives the boxes
    back. Returns a new array of the same shape and dtype."""
    boxes = np.asarray(boxes)
    out = boxes.copy()
    out[..., 0] = width - boxes[..., 2] - 1
    out[..., 2] = width - boxes[..., 0] - 1
    return out


def scale(boxes, factor):
    """Boxes (..., 4) of an image resized by `factor` (the scale rule's factor): every coordinate
    multiplied by it, as Fast R-CNN maps boxes and proposals onto the network input. Divide by
    the same factor (scale(boxes, 1 / factor)) to map detections back to the original image."""
    return np.asarray(boxes) * factor


def iou(a, b):
    """Intersection over union of every box in a (A, 4) with every box in b (B, 4), inclusive
    corners (fast-rcnn-spec.md, "Boxes"): a box's area is (x2 - x1 + 1) (y2 - y1 + 1), and two
    boxes that share only one pixel column still overlap by one pixel. Returns (A, B) float64."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    inter_w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    inter_h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(inter_w, 0, None) * np.clip(inter_h, 0, None)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def from_xywh(rects):
    """Rectangles (..., 4) as (x, y, width, height), the form OpenCV and COCO use, to boxes
    (x1, y1, x2, y2) with inclusive corners: x2 = x + width - 1."""
    rects = np.asarray(rects)
    out = rects.copy()
    out[..., 2] = rects[..., 0] + rects[..., 2] - 1
    out[..., 3] = rects[..., 1] + rects[..., 3] - 1
    return out
