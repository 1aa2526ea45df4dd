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


def transpose(boxes):
    """Boxes (..., 4) of the transposed image (rows and columns swapped, image.transpose(1, 0, 2)):
    x and y trade places, (x1, y1, x2, y2) -> (y1, x1, y2, x2). Transposing twice gives the boxes
    back; a transpose then a mirror (flip) turns boxes by 90 degrees. Returns a new array."""
    return np.asarray(boxes)[..., [1, 0, 3, 2]].copy()


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


# Box-regression deltas (paper section 2.3, fast-rcnn-spec.md "Box regression targets"). A box is
# described by its centre and size, w = x2 - x1 + 1, cx = x1 + 0.5 w (y and h likewise), and a
# delta t = (tx, ty, tw, th) moves proposal P towards G in units of P's own size:
#     tx = (Gcx - Pcx) / Pw,   ty = (Gcy - Pcy) / Ph,   tw = log(Gw / Pw),   th = log(Gh / Ph)
# so the targets do not depend on where the box is or how big it is.

# exp(tw) of a wild prediction can overflow: no box grows more than 1000/16 times in one step.
MAX_LOG_SCALE = np.log(1000.0 / 16)


def sizes(boxes):
    """(..., 4) boxes -> widths, heights, each (...): x2 - x1 + 1 and y2 - y1 + 1 (inclusive)."""
    boxes = np.asarray(boxes)
    return boxes[..., 2] - boxes[..., 0] + 1, boxes[..., 3] - boxes[..., 1] + 1


def _centre_size(boxes):
    """(..., 4) boxes -> cx, cy, w, h, each (...), inclusive corners."""
    w, h = sizes(boxes)
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode(rois, gt):
    """The deltas that move each RoI onto its ground-truth box: rois, gt (R, 4) -> (R, 4)
    (tx, ty, tw, th) in the rois' floating dtype."""
    rois = np.asarray(rois)
    dtype = rois.dtype if np.issubdtype(rois.dtype, np.floating) else np.float64
    px, py, pw, ph = _centre_size(rois.astype(dtype))
    gx, gy, gw, gh = _centre_size(np.asarray(gt).astype(dtype))
    return np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], axis=-1)


def decode(rois, deltas):
    """The exact inverse of encode: rois (R, 4) and deltas (R, 4k), one (tx, ty, tw, th) group per
    class, -> boxes (R, 4k), each group applied to the same RoI:

        w' = Pw exp(tw),  cx' = Pcx + tx Pw,  x1 = cx' - 0.5 w',  x2 = cx' + 0.5 w' - 1

    (y likewise), with tw and th clamped at log(1000 / 16) first. Clip the result to the image
    with `clip`."""
    rois = np.asarray(rois)
    deltas = np.asarray(deltas)
    r = deltas.shape[0]
    groups = deltas.reshape(r, deltas.shape[1] // 4, 4)       # (R, k, 4); R may be 0
    px, py, pw, ph = (v[:, None] for v in _centre_size(rois.astype(deltas.dtype)))
    cx = px + groups[..., 0] * pw
    cy = py + groups[..., 1] * ph
    w = pw * np.exp(np.minimum(groups[..., 2], MAX_LOG_SCALE))
    h = ph * np.exp(np.minimum(groups[..., 3], MAX_LOG_SCALE))
    boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w - 1, cy + 0.5 * h - 1], axis=-1)
    return boxes.reshape(deltas.shape)


def nms(boxes, scores, threshold):
    """Greedy non-maximum suppression: boxes (N, 4), scores (N,) -> indices (M,) of the kept
    boxes, highest score first.

    Boxes are visited in descending score order (stable: of equal scores, the earlier box first);
    each kept box suppresses every later box whose IoU with it is greater than `threshold`
    (0.3 in Fast R-CNN's detection; a box at exactly the threshold survives).
    """
    boxes = np.asarray(boxes)
    order = np.argsort(-np.asarray(scores), kind="stable")
    overlaps = iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed[i + 1:] |= overlaps[i, i + 1:] > threshold
    return np.array(keep, dtype=np.int64)


def random_boxes(rng, count, height, width, min_side=16, max_side=400):
    """count boxes (count, 4) float32 drawn uniformly inside a height x width image, each side
    between min_side and max_side pixels (capped by the image): stand-ins for proposals where
    only their number matters, as in timing a forward pass. rng: np.random.Generator."""
    w = rng.uniform(min_side, min(max_side, width), count)
    h = rng.uniform(min_side, min(max_side, height), count)
    x1 = rng.uniform(0, width - w)
    y1 = rng.uniform(0, height - h)
    return np.stack([x1, y1, x1 + w - 1, y1 + h - 1], axis=1).astype(np.float32)


def dense_boxes(height, width, count, sizes=(24, 48, 96, 192), aspect_ratios=(0.5, 1.0, 2.0),
                step_fraction=0.5):
    """count sliding-window boxes (count, 4) float32 inside a height x width image: the densely
    sampled boxes the paper sets beside selective search (section 5.5). Windows of every size
    (the side of a square of the same area, capped by the image) and aspect ratio (height /
    width) slide in steps of step_fraction of their own width and height; count of them are
    taken evenly along that list (smallest windows first), so the same arguments always give the
    same boxes. Asking for more than there are gives them all."""
    windows = []
    for size in sizes:
        for ratio in aspect_ratios:
            w = min(width, max(1, round(size / np.sqrt(ratio))))
            h = min(height, max(1, round(size * np.sqrt(ratio))))
            xs = np.arange(0, width - w + 1, max(1, round(step_fraction * w)))
            ys = np.arange(0, height - h + 1, max(1, round(step_fraction * h)))
            x1, y1 = (a.ravel() for a in np.meshgrid(xs, ys))
            windows.append(np.stack([x1, y1, x1 + w - 1, y1 + h - 1], axis=1))
    windows = np.unique(np.concatenate(windows), axis=0) if windows else np.zeros((0, 4))
    # np.unique sorts by x1: order by area instead, then pick evenly.
    windows = windows[np.argsort(np.prod(windows[:, 2:] - windows[:, :2] + 1, axis=1), kind="stable")]
    if count < len(windows):
        windows = windows[np.linspace(0, len(windows) - 1, count).round().astype(np.int64)]
    return windows.astype(np.float32)
