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
