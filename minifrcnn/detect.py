"""Detection with a trained Fast R-CNN (paper section 3, fast-rcnn-spec.md "Test time").

    image (H, W, 3) uint8 + proposals (P, 4)
        --scale rule, mean subtraction--> x (1, 3, H', W'), rois (P, 5) on the scaled input
        --model.forward--> cls_score (P, K+1), bbox_pred (P, 4(K+1))
        --softmax--> probabilities;  --decode per class, clip--> boxes (P, K+1, 4)
        --per class: score > threshold, NMS at IoU 0.3--> at most 100 detections per image

`detect` does this for one image and is what both `minifrcnn detect` (pictures and a JSON list)
and `minifrcnn evaluate` (VOC AP of a split) call, with the same defaults.
"""

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import boxes as box_ops
from .data.transforms import (flip_image, read_image, resize, scale_factor, to_network,
                              transpose_image)
from .layers import softmax

# py-faster-rcnn's test settings (fast-rcnn-spec.md, "Test time"); `detect` and `evaluate` share them.
DEFAULT_SCORE_THRESHOLD = 0.05
DEFAULT_NMS_THRESHOLD = 0.3
DEFAULT_MAX_PER_IMAGE = 100
# Detections drawn on the pictures of `minifrcnn detect` (the JSON keeps all of them).
DEFAULT_DRAW_THRESHOLD = 0.5
# Multi-scale testing gives each proposal the pyramid level where its area is closest to the
# 224 x 224 inputs the backbone was pre-trained on (SPPnet's rule, used by the paper).
PYRAMID_TARGET_AREA = 224 * 224


@dataclass
class Detections:
    """The detections of one image, highest score first.

    boxes: (D, 4) float32 (x1, y1, x2, y2) in pixels of the original image, 0-based inclusive;
    scores: (D,) float32 softmax probabilities of the detected class;
    labels: (D,) int64 class indices, each >= 1 (background is never reported);
    class_names: the model's classes, class_names[0] == "__background__".
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: list

    def __len__(self):
        return len(self.scores)

    def records(self, image):
        """The detections as JSON-ready dicts {"image": image, "class": name, "score": float,
        "box": [x1, y1, x2, y2]}, the form `minifrcnn.evaluate.evaluate_detections` scores and
        detections.json holds. Boxes are rounded to 0.01 px and scores to 6 decimals so the file
        stays readable; that changes no IoU or ranking that matters, and evaluation scores these
        very records."""
        return [{"image": image, "class": self.class_names[label], "score": round(float(score), 6),
                 "box": [round(float(v), 2) for v in box]}
                for box, score, label in zip(self.boxes, self.scores, self.labels)]


def assign_levels(proposals, factors):
    """The pyramid level of each proposal for multi-scale testing.

    proposals: (P, 4) boxes in original pixels; factors: (S,) the resize factor of each level.
    Returns (P,) int64: the level s where the scaled area, area * factors[s]^2, is closest to
    224^2 (ties: the first level).
    """
    widths, heights = box_ops.sizes(np.asarray(proposals, np.float64).reshape(-1, 4))
    scaled_areas = (widths * heights)[:, None] * np.asarray(factors, np.float64)[None, :] ** 2
    return np.argmin(np.abs(scaled_areas - PYRAMID_TARGET_AREA), axis=1).astype(np.int64)


def _check_image(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return image


def forward_image(model, image, proposals, scales):
    """Run the network on every proposal of one image (H, W, 3) uint8, proposals (P, 4) in its
    pixels, each at its pyramid level of `scales` (shorter sides; one entry: a single level). One forward pass per level holds memory to one scaled image.
    Returns cls_score (P, K+1) and bbox_pred (P, 4(K+1)), rows in the proposals' order."""
    height, width = image.shape[:2]
    factors = [scale_factor(height, width, s, model.config.max_size) for s in scales]
    levels = assign_levels(proposals, factors)
    order = np.argsort(levels, kind="stable")
    cls_scores, bbox_preds = [], []
    for level in np.unique(levels):
        chosen = np.flatnonzero(levels == level)
        x = to_network(resize(image, factors[level]), model.config.pixel_mean)
        rois = np.zeros((len(chosen), 5), np.float32)          # batch index 0: one image
        rois[:, 1:] = box_ops.scale(proposals[chosen], factors[level])
        cls_score, bbox_pred = model.forward(x[None], rois, train=False)
        cls_scores.append(cls_score)
        bbox_preds.append(bbox_pred)
    # The levels came in sorted order: put the rows back in the proposals' order.
    cls_score = np.empty_like(np.concatenate(cls_scores))
    bbox_pred = np.empty_like(np.concatenate(bbox_preds))
    cls_score[order] = np.concatenate(cls_scores)
    bbox_pred[order] = np.concatenate(bbox_preds)
    return cls_score, bbox_pred


def _forward_view(model, image, proposals, scales, transposed, mirrored):
    """_forward on a view of the image, read back in the original's frame: the same (P, K+1) and
    (P, 4(K+1)) rows for the same proposals. The view is the image transposed (rows and columns
    swapped) if `transposed`, then mirrored left to right if `mirrored`; the proposals go with it.

    A box's deltas (tx, ty, tw, th) are measured in its own frame, so they map back simply:
    mirroring moves a centre from cx to width - 1 - cx and keeps the size, so a shift tx of the
    mirrored box is a shift -tx of the original; transposing swaps x and y, so (tx, ty, tw, th)
    of the transposed box is (ty, tx, th, tw) of the original. Undone in reverse order.
    """
    if transposed:
        image, proposals = transpose_image(image), box_ops.transpose(proposals)
    if mirrored:
        image, proposals = flip_image(image), box_ops.flip(proposals, image.shape[1])
    cls_score, bbox_pred = forward_image(model, image, proposals, scales)
    deltas = bbox_pred.reshape(len(bbox_pred), -1, 4).copy()              # (P, K+1, 4)
    if mirrored:
        deltas[:, :, 0] *= -1
    if transposed:
        deltas = deltas[:, :, [1, 0, 3, 2]]
    return cls_score, deltas.reshape(bbox_pred.shape)


def detect(model, image, proposals=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
           nms_threshold=DEFAULT_NMS_THRESHOLD, max_per_image=DEFAULT_MAX_PER_IMAGE, scales=None,
           flip=False, transpose=False, box_regression=True):
    """Detect objects in one image.

    model: a FastRCNN (anything with .config (scale, max_size, pixel_mean), .classes and
        forward(images, rois, train=False) -> cls_score (R, K+1), bbox_pred (R, 4(K+1)) raw deltas);
    image: (H, W, 3) uint8 RGB;
    proposals: (P, 4) boxes in the image's pixels, or None to compute them with selective search;
    score_threshold: a class is reported for a proposal when its probability is > this;
    nms_threshold: per class, a box whose IoU with a higher-scored one is > this is suppressed;
    max_per_image: at most this many detections over all classes, the highest scores;
    scales: None for the model's own scale rule (shorter side model.config.scale), or a tuple of
        shorter sides for multi-scale testing: each proposal is scored at the level where its
        area is closest to 224^2 (longer sides capped at model.config.max_size);
    flip: also score the mirrored image and average the two passes' class scores (before the
        softmax) and box deltas. The model was trained on mirrored images too, so the mirror is
        as good a view as the original; averaging two views cancels part of each one's error,
        for twice the test time. Not in the paper (off by default).
    transpose: also score the transposed image (x and y swapped), and with flip its mirror too:
        4 views in all, the image, its mirror, its transpose and the transpose's mirror (the
        image turned by 90 degrees). For a model trained with transposed images (train
        --transpose) on data without an up.
    box_regression: decode each class's box from bbox_pred (the default); False reports the
        proposals themselves, as a detector without box regression would (paper Table 6).
    Returns Detections, highest score first (equal scores: lower class first, then NMS order).

    Boxes are decoded from the ORIGINAL-pixel proposals: the deltas are relative to the box's own
    size, so they mean the same at every scale.
    """
    image = _check_image(image)
    if proposals is None:
        from .proposals import selective_search
        proposals = selective_search(image)
    proposals = np.asarray(proposals, np.float32)
    if proposals.ndim != 2 or proposals.shape[1] != 4:
        raise ValueError(f"proposals must have shape (P, 4), got {proposals.shape}")
    scales = (model.config.scale,) if scales is None else tuple(scales)
    if not scales or any(s <= 0 for s in scales):
        # Plain numbers in the message: a tuple shows NumPy scalars as np.float32(3.0).
        shown = ", ".join(f"{float(s):g}" for s in scales)
        raise ValueError(f"scales must be positive shorter sides, at least one, got ({shown})")
    classes = list(model.classes)
    if len(proposals) == 0:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64), classes)

    views = [(transposed, mirrored) for transposed in (False, True)[:1 + transpose]
             for mirrored in (False, True)[:1 + flip]]
    outputs = [_forward_view(model, image, proposals, scales, *view) for view in views]
    cls_score = sum(score for score, _ in outputs) / len(views)
    bbox_pred = sum(pred for _, pred in outputs) / len(views)
    height, width = image.shape[:2]
    if box_regression:
        decoded = box_ops.decode(proposals, bbox_pred).reshape(len(proposals), -1, 4)
    else:
        decoded = np.repeat(proposals[:, None], len(classes), axis=1)
    decoded = box_ops.clip(decoded, height, width)                      # (P, K+1, 4)
    return select(softmax(cls_score), decoded, classes, score_threshold, nms_threshold,
                  max_per_image)


def select(scores, boxes, classes, score_threshold=DEFAULT_SCORE_THRESHOLD,
           nms_threshold=DEFAULT_NMS_THRESHOLD, max_per_image=DEFAULT_MAX_PER_IMAGE):
    """The last step of detect: per object class, the proposals whose score is > score_threshold,
    suppressed by NMS; then the max_per_image best of all classes.

    scores: (P, K+1), the softmax's probabilities in detect (any per-class score works, e.g. an
    SVM's); boxes: (P, K+1, 4) each proposal's box for each class, in image pixels; classes: the
    K+1 names. Returns Detections, highest score first (equal scores: lower class first, then
    NMS order)."""
    found_boxes, found_scores, found_labels = [], [], []
    for c in range(1, len(classes)):                                    # class 0: background
        passing = np.flatnonzero(scores[:, c] > score_threshold)
        keep = passing[box_ops.nms(boxes[passing, c], scores[passing, c], nms_threshold)]
        found_boxes.append(boxes[keep, c])
        found_scores.append(scores[keep, c])
        found_labels.append(np.full(len(keep), c, np.int64))
    found = np.concatenate(found_scores)
    best = np.argsort(-found, kind="stable")[:max_per_image]
    return Detections(np.concatenate(found_boxes)[best].astype(np.float32),
                      found[best].astype(np.float32), np.concatenate(found_labels)[best],
                      list(classes))


def detect_dataset(model, dataset, proposals, progress=True, **detect_options):
    """Detect in every image of a dataset, for evaluation.

    dataset: a VocDataset (its .samples have image_id and image_path); proposals: {image_id:
    (P, 4)} as minifrcnn.proposals.cache.cached_proposals returns; detect_options: detect's
    keyword arguments. progress: a tqdm bar (on stderr). Returns the records of every image
    (Detections.records, "image" = image_id), ready for evaluate_detections.
    """
    records = []
    for sample in tqdm(dataset.samples, desc="detect", unit="img", disable=not progress):
        detections = detect(model, read_image(sample.image_path), proposals[sample.image_id],
                            **detect_options)
        records.extend(detections.records(sample.image_id))
    return records
