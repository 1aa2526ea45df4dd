"""PASCAL VOC evaluation: average precision per class and mAP (fast-rcnn-spec.md, "VOC evaluation").

Per class, detections are ranked by score and matched greedily to the ground truth:

- each detection takes the ground-truth box of its class in its image with the highest IoU
  (`minifrcnn.boxes.iou`, inclusive corners);
- IoU >= the threshold (0.5): a difficult object -> the detection is ignored (neither true nor false
  positive); an object not yet matched -> true positive, and the object is now matched; an object
  already matched -> false positive (a duplicate);
- otherwise (IoU below the threshold, or no object of the class in the image) -> false positive.

Recall counts non-difficult objects only: recall = TP / (number of non-difficult objects).
`voc_ap` then turns the precision/recall curve into one number, with the VOC2007 11-point rule or
the VOC2010+ area under the curve. `evaluate_model` runs a model's detections over a split and
scores them: what `minifrcnn evaluate` and the demo report.
"""

import numpy as np

from minifrcnn.boxes import iou
from minifrcnn.data.voc import load_voc
from minifrcnn.detect import detect_dataset
from minifrcnn.model import BACKGROUND
from minifrcnn.proposals.cache import cached_proposals, default_cache_dir


def voc_ap(recall, precision, use_07_metric=True):
    """Average precision of one precision/recall curve.

    recall, precision: (D,) the curve after each of the D ranked detections (recall
        non-decreasing). D may be 0 (no detections): the AP is then 0.
    use_07_metric: True -> VOC2007 11-point AP: the mean over t in {0, 0.1, ..., 1} of the largest
        precision at recall >= t (0 if the curve never reaches t). False -> VOC2010+ AP: the area
        under the precision envelope, where the envelope at recall r is the largest precision at
        any recall >= r (so it never rises with recall).
    Returns a Python float in [0, 1].

    The thresholds are exact tenths (k / 10): `np.arange(0, 1.1, 0.1)`, used by some Python ports
    of the devkit, gives 0.6000000000000001 and so drops a curve point at recall exactly 0.6.
    """
    recall = np.asarray(recall, np.float64)
    precision = np.asarray(precision, np.float64)
    if recall.ndim != 1 or recall.shape != precision.shape:
        raise ValueError(f"recall and precision must have the same shape (D,), got "
                         f"{recall.shape} and {precision.shape}")
    if use_07_metric:
        points = []
        for t in np.arange(11) / 10:
            reached = precision[recall >= t]
            points.append(reached.max() if reached.size else 0.0)
        return float(np.mean(points))

    # Sentinels: the curve starts at recall 0 and ends at recall 1 with precision 0, so the area
    # runs over [0, 1] and recall never reached adds nothing.
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    # Sum rectangles where recall steps up: width = the step, height = the envelope after it.
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * envelope[steps + 1]))


def evaluate_detections(detections, dataset, iou_threshold=0.5, use_07_metric=True):
    """Score detections against a dataset's ground truth: AP per class and mAP.

    detections: iterable of dicts {"image": image_id, "class": class_name, "score": float,
        "box": [x1, y1, x2, y2]} (0-based, inclusive corners), in any order. Within a class,
        detections are ranked by score, highest first; equal scores keep their order here.
    dataset: has `.classes` (index 0 is "__background__") and `.samples`, each with `.image_id`,
        `.boxes` (G, 4) 0-based inclusive, `.labels` (G,) class indices and `.difficult` (G,) bool,
        as `minifrcnn.data.load_voc` returns. Every image of the split is evaluated, including
        images without objects.
    iou_threshold: a detection matches an object at IoU >= this (>=, as the devkit does).
    use_07_metric: VOC2007 11-point AP (True) or VOC2010+ area (False); see `voc_ap`.

    Returns a dict:
        "ap": {class_name: float} for every class but the background;
        "mAP": float, the mean of the per-class APs;
        "recall", "precision": {class_name: (D_c,) float64 array}, the curve after each of the
            class's ranked detections, with the ignored ones (matched to a difficult object)
            left out, so D_c counts the true and false positives.

    A class with no non-difficult object in the dataset has no recall to measure: its AP is NaN,
    its recall array is all NaN, and it is left out of the mAP (the devkit divides by zero there).
    mAP is NaN when no class has an object. A detection naming an unknown class or image raises
    ValueError.
    """
    classes = list(dataset.classes)
    if not classes or classes[0] != BACKGROUND:
        raise ValueError(f"dataset.classes must start with {BACKGROUND!r}, got {classes[:3]}")
    image_ids = [sample.image_id for sample in dataset.samples]
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("dataset.samples has repeated image ids; each image must appear once")
    ground_truth = _ground_truth_by_class(dataset)
    by_class = _detections_by_class(detections, classes, image_ids)

    result = {"mAP": float("nan"), "ap": {}, "recall": {}, "precision": {}}
    for name in classes[1:]:
        is_tp, num_objects = _match_class(by_class[name], ground_truth[name], iou_threshold)
        tp = np.cumsum(is_tp, dtype=np.float64)
        fp = np.cumsum(~is_tp, dtype=np.float64)
        precision = tp / (tp + fp)  # tp + fp = rank >= 1
        if num_objects == 0:
            recall = np.full(tp.shape, np.nan)
            ap = float("nan")
        else:
            recall = tp / num_objects
            ap = voc_ap(recall, precision, use_07_metric)
        result["ap"][name] = ap
        result["recall"][name] = recall
        result["precision"][name] = precision

    measured = [ap for ap in result["ap"].values() if not np.isnan(ap)]
    if measured:
        result["mAP"] = float(np.mean(measured))
    return result


def _ground_truth_by_class(dataset):
    """{class_name: {image_id: (boxes (G_c, 4) float64, difficult (G_c,) bool)}}, with an entry
    (maybe empty) for every foreground class and every image of the dataset."""
    names = list(dataset.classes)[1:]
    ground_truth = {name: {} for name in names}
    for sample in dataset.samples:
        boxes = np.asarray(sample.boxes, np.float64).reshape(-1, 4)
        labels = np.asarray(sample.labels)
        difficult = np.asarray(sample.difficult, bool)
        for index, name in enumerate(names, start=1):
            of_class = labels == index
            ground_truth[name][sample.image_id] = (boxes[of_class], difficult[of_class])
    return ground_truth


def _detections_by_class(detections, classes, image_ids):
    """{class_name: list of (score, image_id, box (4,) float64)} for every foreground class, in
    the order the detections came; checks each detection's class, image and box."""
    known_classes = set(classes[1:])
    known_images = set(image_ids)
    by_class = {name: [] for name in classes[1:]}
    for number, det in enumerate(detections):
        if det["class"] not in known_classes:
            raise ValueError(f"detection {number}: class {det['class']!r} is not one of the "
                             f"dataset's classes ({', '.join(classes[1:])})")
        if det["image"] not in known_images:
            raise ValueError(f"detection {number}: image {det['image']!r} is not in the dataset")
        box = np.asarray(det["box"], np.float64)
        if box.shape != (4,):
            raise ValueError(f"detection {number}: box must be [x1, y1, x2, y2], got "
                             f"{box.tolist()}")
        by_class[det["class"]].append((float(det["score"]), det["image"], box))
    return by_class


def _match_class(class_detections, class_ground_truth, iou_threshold):
    """Match one class's detections to its objects, highest score first.

    class_detections: list of (score, image_id, box (4,)).
    class_ground_truth: {image_id: (boxes (G, 4), difficult (G,) bool)}.
    Returns is_tp (D_c,) bool in ranked order (True: true positive, False: false positive; the
    detections ignored on difficult objects are left out) and the number of non-difficult objects.
    """
    matched = {image_id: np.zeros(len(difficult), bool)
               for image_id, (_, difficult) in class_ground_truth.items()}
    num_objects = int(sum(np.count_nonzero(~difficult)
                          for _, difficult in class_ground_truth.values()))

    scores = np.array([score for score, _, _ in class_detections], np.float64)
    is_tp = []
    for d in np.argsort(-scores, kind="stable"):
        _, image_id, box = class_detections[d]
        gt_boxes, difficult = class_ground_truth[image_id]
        if len(gt_boxes) == 0:
            is_tp.append(False)
            continue
        overlaps = iou(box[None, :], gt_boxes)[0]
        best = int(np.argmax(overlaps))  # ties go to the first object, as in the devkit
        if overlaps[best] < iou_threshold:
            is_tp.append(False)
        elif difficult[best]:
            continue
        elif matched[image_id][best]:
            is_tp.append(False)
        else:
            matched[image_id][best] = True
            is_tp.append(True)
    return np.array(is_tp, bool), num_objects


def count_objects(dataset):
    """{class_name: non-difficult objects} over the dataset, the denominators of recall."""
    counts = dict.fromkeys(dataset.classes[1:], 0)
    for sample in dataset.samples:
        for label in sample.labels[~np.asarray(sample.difficult, bool)]:
            counts[dataset.classes[label]] += 1
    return counts


def evaluate_model(model, data, split="test", use_07_metric=True, cache_dir=None,
                   progress=True, **detect_options):
    """Detect in every image of a split and score the detections: (result, dataset, records).

    model: a FastRCNN; data: a VOC-layout folder; cache_dir: the proposal cache (None:
    DATA/proposals_cache/fast; computed where missing); detect_options: detect's keyword
    arguments. The dataset is read with the model's class list first, before any proposal is
    computed, so its labels index the model's scores and an object of a class the model does not
    know is a DatasetError naming its XML file. result is evaluate_detections' dict; records
    the detections of every image (Detections.records, "image" = image id).
    """
    dataset = load_voc(data, split, classes=model.classes)
    proposals, _ = cached_proposals(dataset, cache_dir or default_cache_dir(data),
                                    progress=progress)
    records = detect_dataset(model, dataset, proposals, progress=progress, **detect_options)
    return evaluate_detections(records, dataset, use_07_metric=use_07_metric), dataset, records
