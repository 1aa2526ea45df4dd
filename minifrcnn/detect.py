"""Detection with a trained Fast R-CNN (paper section 3, fast-rcnn-spec.md "Test time").

    image (H, W, 3) uint8 + proposals (P, 4)
        --scale rule, mean subtraction--> x (1, 3, H', W'), rois (P, 5) on the scaled input
        --model.forward--> cls_score (P, K+1), bbox_pred (P, 4(K+1))
        --softmax--> probabilities;  --decode per class, clip--> boxes (P, K+1, 4)
        --per class: score > threshold, NMS at IoU 0.3--> at most 100 detections per image

`detect` does this for one image and is what both `minifrcnn detect` (pictures and a JSON list)
and `minifrcnn evaluate` (VOC AP of a split) call, with the same defaults.
"""

import json
import os
import sys
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
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


def _forward(model, image, proposals, scales):
    """Run the network on every proposal, each at its pyramid level (a single level when
    `scales` has one entry). One forward pass per level holds memory to one scaled image.
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
    cls_score, bbox_pred = _forward(model, image, proposals, scales)
    deltas = bbox_pred.reshape(len(bbox_pred), -1, 4).copy()              # (P, K+1, 4)
    if mirrored:
        deltas[:, :, 0] *= -1
    if transposed:
        deltas = deltas[:, :, [1, 0, 3, 2]]
    return cls_score, deltas.reshape(bbox_pred.shape)


def detect(model, image, proposals=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
           nms_threshold=DEFAULT_NMS_THRESHOLD, max_per_image=DEFAULT_MAX_PER_IMAGE, scales=None,
           flip=False, transpose=False):
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
        raise ValueError(f"scales must be positive shorter sides, at least one, got {scales}")
    classes = list(model.classes)
    if len(proposals) == 0:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64), classes)

    views = [(transposed, mirrored) for transposed in (False, True)[:1 + transpose]
             for mirrored in (False, True)[:1 + flip]]
    outputs = [_forward_view(model, image, proposals, scales, *view) for view in views]
    cls_score = sum(score for score, _ in outputs) / len(views)
    bbox_pred = sum(pred for _, pred in outputs) / len(views)
    probabilities = softmax(cls_score)                                   # (P, K+1)
    height, width = image.shape[:2]
    decoded = box_ops.decode(proposals, bbox_pred).reshape(len(proposals), -1, 4)
    decoded = box_ops.clip(decoded, height, width)                      # (P, K+1, 4)
    found_boxes, found_scores, found_labels = [], [], []
    for c in range(1, len(classes)):                                    # class 0: background
        passing = np.flatnonzero(probabilities[:, c] > score_threshold)
        keep = passing[box_ops.nms(decoded[passing, c], probabilities[passing, c], nms_threshold)]
        found_boxes.append(decoded[keep, c])
        found_scores.append(probabilities[keep, c])
        found_labels.append(np.full(len(keep), c, np.int64))
    scores = np.concatenate(found_scores)
    best = np.argsort(-scores, kind="stable")[:max_per_image]
    return Detections(np.concatenate(found_boxes)[best].astype(np.float32),
                      scores[best].astype(np.float32), np.concatenate(found_labels)[best], classes)


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


def _load_model(model_path, backend, command):
    """FastRCNN.load, or None after printing why the file (or the backend) cannot be used."""
    from .model import FastRCNN

    try:
        return FastRCNN.load(model_path, backend=backend)
    # ModelFileError is a ValueError naming the file; an unusable backend is a ValueError too.
    except (ValueError, OSError) as error:
        print(f"minifrcnn {command}: {error}", file=sys.stderr)
        return None


def save_figure(fig, path):
    FigureCanvasAgg(fig)
    fig.savefig(path)


def detections_figure(image, detections, draw_threshold=DEFAULT_DRAW_THRESHOLD):
    """A Figure of the image with its detections of score >= draw_threshold drawn, the longer
    side 8 inches, no axes."""
    from .viz import draw_detections

    height, width = image.shape[:2]
    fig = Figure(figsize=(8 * width / max(height, width), 8 * height / max(height, width)),
                 dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    draw_detections(ax, image, detections, score_threshold=draw_threshold)
    return fig


def detect_command(model_path, image_paths, out_dir, score_threshold=DEFAULT_SCORE_THRESHOLD,
                   nms_threshold=DEFAULT_NMS_THRESHOLD, max_per_image=DEFAULT_MAX_PER_IMAGE,
                   scales=None, backend=None, draw_threshold=DEFAULT_DRAW_THRESHOLD,
                   progress=True, flip=False, transpose=False):
    """`minifrcnn detect MODEL IMAGE... --out DIR`.

    For each image: selective search, detect, and DIR/<stem>.png with the detections of score
    >= draw_threshold drawn (class and score written on each box); then DIR/detections.json, one
    list of the records of every image, "image" the path as given, all detections kept.
    Returns 0, or 1 after a message on stderr for a model file or an image that cannot be read,
    or an output that cannot be written (images after a bad one are not processed and
    detections.json is not written).
    """
    model = _load_model(model_path, backend, "detect")
    if model is None:
        return 1
    records, pictures, names = [], [], set()
    try:
        os.makedirs(out_dir, exist_ok=True)
        for path in tqdm(image_paths, desc="detect", unit="img", disable=not progress):
            image = read_image(path)
            detections = detect(model, image, score_threshold=score_threshold,
                                nms_threshold=nms_threshold, max_per_image=max_per_image,
                                scales=scales, flip=flip, transpose=transpose)
            records.extend(detections.records(os.fspath(path)))
            # Two inputs a/x.jpg and b/x.jpg must not overwrite each other's picture.
            stem = os.path.splitext(os.path.basename(path))[0]
            name, count = stem, 1
            while name in names:
                count += 1
                name = f"{stem}_{count}"
            names.add(name)
            picture = os.path.join(out_dir, f"{name}.png")
            save_figure(detections_figure(image, detections, draw_threshold), picture)
            pictures.append((picture, len(detections),
                             int(np.count_nonzero(detections.scores >= draw_threshold))))
        json_path = os.path.join(out_dir, "detections.json")
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)
    # read_image's ValueError names the image; an OSError names the file that cannot be written.
    except (ValueError, OSError) as error:
        print(f"minifrcnn detect: {error}", file=sys.stderr)
        return 1
    for picture, count, drawn in pictures:
        print(f"wrote {picture}: {count} detections, {drawn} drawn (score >= {draw_threshold:g})")
    print(f"wrote {json_path}: {len(records)} detections of {len(pictures)} image(s)")
    return 0


def format_ap_table(result, num_objects):
    """evaluate_detections' result as a text table: class, AP, objects (non-difficult); then mAP."""
    width = max([len("class"), len("mAP")] + [len(name) for name in result["ap"]])
    lines = [f"{'class':<{width}}  {'AP':>6}  {'objects':>7}", "-" * (width + 17)]
    for name, ap in result["ap"].items():
        lines.append(f"{name:<{width}}  {ap:>6.3f}  {num_objects[name]:>7d}")
    lines.append("-" * (width + 17))
    lines.append(f"{'mAP':<{width}}  {result['mAP']:>6.3f}")
    return "\n".join(lines)


def count_objects(dataset):
    """{class_name: non-difficult objects} over the dataset, the denominators of recall."""
    counts = dict.fromkeys(dataset.classes[1:], 0)
    for sample in dataset.samples:
        for label in sample.labels[~np.asarray(sample.difficult, bool)]:
            counts[dataset.classes[label]] += 1
    return counts


def _json_number(value):
    """NaN (the AP of a class with no object) is not valid JSON: null instead."""
    return None if np.isnan(value) else value


def evaluate_model(model, data, split="test", use_07_metric=True, cache_dir=None,
                   progress=True, **detect_options):
    """Detect in every image of a split and score the detections: (result, dataset, records).

    Proposals come from the cache (computed where missing). The dataset is read with the model's
    class list, so its labels index the model's scores; an object of a class the model does not
    know is a DatasetError naming its XML file. result is evaluate_detections' dict.
    """
    from .data.voc import load_voc
    from .evaluate import evaluate_detections
    from .proposals.cache import cached_proposals, default_cache_dir

    dataset = load_voc(data, split, classes=model.classes)
    proposals, _ = cached_proposals(dataset, cache_dir or default_cache_dir(data),
                                    progress=progress)
    records = detect_dataset(model, dataset, proposals, progress=progress, **detect_options)
    return evaluate_detections(records, dataset, use_07_metric=use_07_metric), dataset, records


def precision_recall_figure(result, title):
    """A Figure of every class's precision-recall curve, AP in the legend."""
    from .viz import plot_precision_recall

    fig = Figure(figsize=(6, 5), dpi=100, layout="constrained")
    plot_precision_recall(fig.add_subplot(), result)
    fig.axes[0].set_title(title, fontsize=10)
    return fig


def evaluate_command(model_path, data, split="test", use_07_metric=True, as_json=False, plot=None,
                     cache_dir=None, backend=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
                     nms_threshold=DEFAULT_NMS_THRESHOLD, max_per_image=DEFAULT_MAX_PER_IMAGE,
                     scales=None, progress=True, flip=False, transpose=False):
    """`minifrcnn evaluate MODEL DATA --split test [--json]`.

    Scores the model on a split with evaluate_model, with the same detection settings as
    `minifrcnn detect` (use_07_metric: the 2007 11-point metric, else the area; difficult
    objects ignored) and prints a per-class table (class, AP, non-difficult objects) and mAP, or
    with as_json only {"mAP": ..., "ap": {class: ...}} (NaN, a class without objects, as null).
    Writes the precision-recall curves to `plot` (default: the model path without .npz, plus
    _pr.png). Messages other than the JSON go to stderr in JSON mode, so stdout parses.
    Returns 0, or 1 after a message on stderr for an unreadable model, dataset, image or cache,
    or a dataset with a class the model does not know.
    """
    info = sys.stderr if as_json else sys.stdout
    model = _load_model(model_path, backend, "evaluate")
    if model is None:
        return 1
    try:
        result, dataset, records = evaluate_model(
            model, data, split, use_07_metric, cache_dir, progress,
            score_threshold=score_threshold, nms_threshold=nms_threshold,
            max_per_image=max_per_image, scales=scales, flip=flip, transpose=transpose)
    # DatasetError (a broken split, an unknown class) and an unreadable image are ValueErrors.
    except (ValueError, OSError) as error:
        print(f"minifrcnn evaluate: {error}", file=sys.stderr)
        return 1
    metric = "VOC07 11-point" if use_07_metric else "VOC area"
    if as_json:
        print(json.dumps({"mAP": _json_number(result["mAP"]),
                          "ap": {name: _json_number(ap) for name, ap in result["ap"].items()}}))
    else:
        print(f"split {split} of {os.fspath(data)}: {len(dataset)} images, {len(records)} "
              f"detections, {metric} AP")
        print(format_ap_table(result, count_objects(dataset)))
    if plot is None:
        plot = os.fspath(model_path).removesuffix(".npz") + "_pr.png"
    fig = precision_recall_figure(result, f"{os.path.basename(os.fspath(model_path))} on {split}: "
                                          f"mAP {result['mAP']:.3f} ({metric})")
    try:
        save_figure(fig, plot)
    except OSError as error:
        print(f"minifrcnn evaluate: cannot write the plot: {error}", file=sys.stderr)
        return 1
    print(f"wrote {plot}", file=info)
    return 0
