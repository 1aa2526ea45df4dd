"""minifrcnn.evaluate: voc_ap on curves computed by hand, evaluate_detections on a tiny dataset
built in memory, and properties of the matching (perfect detections, order independence)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn.evaluate import evaluate_detections, voc_ap

CLASSES = ["__background__", "cat", "dog", "bird"]


def make_dataset(images, classes=CLASSES):
    """A stand-in for load_voc's dataset: images maps image_id -> list of
    (class_name, [x1, y1, x2, y2], difficult)."""
    samples = []
    for image_id, objects in images.items():
        samples.append(SimpleNamespace(
            image_id=image_id,
            boxes=np.array([box for _, box, _ in objects], np.float32).reshape(-1, 4),
            labels=np.array([classes.index(name) for name, _, _ in objects], np.int64),
            difficult=np.array([difficult for _, _, difficult in objects], bool)))
    return SimpleNamespace(classes=list(classes), samples=samples)


def det(image, name, score, box):
    return {"image": image, "class": name, "score": score, "box": box}


# ---------------------------------------------------------------- voc_ap


@pytest.mark.parametrize("use_07_metric", [True, False])
def test_perfect_detector_has_ap_one(use_07_metric):
    recall = np.array([0.25, 0.5, 0.75, 1.0])
    assert voc_ap(recall, np.ones(4), use_07_metric) == pytest.approx(1.0)


@pytest.mark.parametrize("use_07_metric", [True, False])
def test_no_detections_has_ap_zero(use_07_metric):
    assert voc_ap(np.zeros(0), np.zeros(0), use_07_metric) == 0.0


def test_11_point_ap_by_hand():
    """Curve points (recall, precision): (0.2, 1), (0.4, 1), (0.4, 2/3), (0.6, 3/4).
    t = 0 .. 0.4 (5 thresholds): best precision at recall >= t is 1;
    t = 0.5, 0.6 (2): only (0.6, 3/4) qualifies; t = 0.7 .. 1 (4): nothing -> 0.
    AP = (5 * 1 + 2 * 0.75) / 11. The point at recall exactly 0.6 counts for t = 0.6."""
    recall = np.array([0.2, 0.4, 0.4, 0.6])
    precision = np.array([1.0, 1.0, 2 / 3, 0.75])
    assert voc_ap(recall, precision, use_07_metric=True) == pytest.approx(6.5 / 11)


def test_area_ap_uses_the_precision_envelope():
    """Outcomes TP, FP, TP, TP with 4 objects: recall 1/4, 1/4, 2/4, 3/4 and precision
    1, 1/2, 2/3, 3/4: precision dips and rises again. The envelope (best precision at any recall
    >= r) is 1 up to recall 1/4 and 3/4 from there to 3/4, then 0:
    area = 1/4 * 1 + 2/4 * 3/4 = 0.625. The raw curve would give 1/4 + 1/4 * 2/3 + 1/4 * 3/4."""
    recall = np.array([0.25, 0.25, 0.5, 0.75])
    precision = np.array([1.0, 0.5, 2 / 3, 0.75])
    ap = voc_ap(recall, precision, use_07_metric=False)
    assert ap == pytest.approx(0.625)
    assert ap != pytest.approx(0.25 + 0.25 * 2 / 3 + 0.25 * 0.75)
    # 11-point on the same curve: t = 0 .. 0.2 -> 1; t = 0.3 .. 0.7 -> 3/4; t = 0.8 .. 1 -> 0.
    assert voc_ap(recall, precision, use_07_metric=True) == pytest.approx((3 + 5 * 0.75) / 11)


def test_voc_ap_rejects_mismatched_curves():
    with pytest.raises(ValueError, match="same shape"):
        voc_ap(np.zeros(3), np.zeros(2))


def _devkit_area_ap(recall, precision):
    """The VOC2010+ AP as py-faster-rcnn's voc_eval.py writes it: the gold reference."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(0, 10))
def test_area_ap_matches_the_devkit_formula(outcomes, extra_objects):
    is_tp = np.array(outcomes)
    tp, fp = np.cumsum(is_tp), np.cumsum(~is_tp)
    recall = tp / (tp[-1] + extra_objects + 1)
    precision = tp / (tp + fp)
    assert voc_ap(recall, precision, use_07_metric=False) == pytest.approx(
        _devkit_area_ap(recall, precision))
    assert 0.0 <= voc_ap(recall, precision, use_07_metric=True) <= 1.0


# ---------------------------------------------------------------- evaluate_detections


def test_duplicate_detections_are_false_positives():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    out = evaluate_detections([det("a", "cat", 0.9, [0, 0, 9, 9]),
                               det("a", "cat", 0.8, [1, 0, 9, 9])], dataset)
    np.testing.assert_allclose(out["recall"]["cat"], [1.0, 1.0])
    np.testing.assert_allclose(out["precision"]["cat"], [1.0, 0.5])
    assert out["ap"]["cat"] == pytest.approx(1.0)


def test_detections_on_difficult_objects_are_ignored():
    """The detection on the difficult cat is neither TP nor FP (it leaves the curve), and the
    difficult cat is not counted in recall, so one TP gives recall 1."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False),
                                  ("cat", [50, 50, 69, 69], True)]})
    out = evaluate_detections([det("a", "cat", 0.9, [50, 50, 69, 69]),
                               det("a", "cat", 0.8, [0, 0, 9, 9])], dataset)
    np.testing.assert_allclose(out["recall"]["cat"], [1.0])
    np.testing.assert_allclose(out["precision"]["cat"], [1.0])
    for use_07_metric in (True, False):
        assert evaluate_detections([det("a", "cat", 0.9, [50, 50, 69, 69]),
                                    det("a", "cat", 0.8, [0, 0, 9, 9])], dataset,
                                   use_07_metric=use_07_metric)["ap"]["cat"] == pytest.approx(1.0)


def test_a_miss_next_to_a_difficult_object_is_still_a_false_positive():
    """IoU below the threshold with every object -> FP, difficult neighbours or not."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False),
                                  ("cat", [50, 50, 69, 69], True)]})
    out = evaluate_detections([det("a", "cat", 0.9, [60, 60, 89, 89])], dataset)
    np.testing.assert_allclose(out["precision"]["cat"], [0.0])


def test_wrong_class_detections_do_not_count_for_the_object():
    """A dog box on the cat: an FP for dog, and the cat stays unmatched."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)],
                            "b": [("dog", [0, 0, 19, 19], False)]})
    out = evaluate_detections([det("a", "dog", 0.95, [0, 0, 9, 9]),
                               det("b", "dog", 0.9, [0, 0, 19, 19])], dataset)
    np.testing.assert_allclose(out["precision"]["dog"], [0.0, 0.5])
    np.testing.assert_allclose(out["recall"]["dog"], [0.0, 1.0])
    assert out["recall"]["cat"].size == 0
    assert out["ap"]["cat"] == 0.0


def test_iou_exactly_at_the_threshold_counts():
    """Object 10 x 10 (inclusive corners: [0, 9]); box 10 x 5 inside it: IoU = 50 / 100 = 0.5
    exactly. 10 x 4: IoU 0.4."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    at = evaluate_detections([det("a", "cat", 0.9, [0, 0, 9, 4])], dataset)
    assert at["precision"]["cat"].tolist() == [1.0]
    below = evaluate_detections([det("a", "cat", 0.9, [0, 0, 9, 3])], dataset)
    assert below["precision"]["cat"].tolist() == [0.0]
    stricter = evaluate_detections([det("a", "cat", 0.9, [0, 0, 9, 4])], dataset,
                                   iou_threshold=0.6)
    assert stricter["precision"]["cat"].tolist() == [0.0]


def test_detections_in_an_image_without_objects_are_false_positives():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)], "empty": []})
    out = evaluate_detections([det("empty", "cat", 0.9, [0, 0, 9, 9]),
                               det("a", "cat", 0.8, [0, 0, 9, 9])], dataset)
    np.testing.assert_allclose(out["precision"]["cat"], [0.0, 0.5])
    np.testing.assert_allclose(out["recall"]["cat"], [0.0, 1.0])


def test_detections_are_ranked_by_score_not_by_input_order():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    out = evaluate_detections([det("a", "cat", 0.1, [40, 40, 49, 49]),
                               det("a", "cat", 0.9, [0, 0, 9, 9])], dataset)
    np.testing.assert_allclose(out["precision"]["cat"], [1.0, 0.5])


def test_equal_scores_keep_the_input_order():
    """Ties are ranked in the order given (a stable sort), so a run is repeatable. Twenty
    detections at five score levels; the hit is the last of the lowest level, so it ranks last."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    detections = [det("a", "cat", (i % 5) / 10, [40 + i, 40, 49 + i, 49]) for i in range(20)]
    detections[15]["box"] = [0, 0, 9, 9]
    out = evaluate_detections(detections, dataset)
    np.testing.assert_allclose(out["precision"]["cat"], [0.0] * 19 + [1 / 20])


def test_map_is_the_mean_over_classes_with_objects():
    """cat: perfect -> 1. dog: FP then TP -> 11-point (0.5 at every t) = 0.5; area = 0.5.
    bird has no object at all: NaN, left out of the mean."""
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)],
                            "b": [("dog", [0, 0, 19, 19], False)]})
    detections = [det("a", "cat", 0.9, [0, 0, 9, 9]),
                  det("b", "dog", 0.9, [30, 30, 39, 39]),
                  det("b", "dog", 0.8, [0, 0, 19, 19]),
                  det("a", "bird", 0.7, [0, 0, 9, 9])]
    for use_07_metric in (True, False):
        out = evaluate_detections(detections, dataset, use_07_metric=use_07_metric)
        assert out["ap"]["cat"] == pytest.approx(1.0)
        assert out["ap"]["dog"] == pytest.approx(0.5)
        assert math.isnan(out["ap"]["bird"])
        assert np.isnan(out["recall"]["bird"]).all() and out["precision"]["bird"].tolist() == [0.0]
        assert out["mAP"] == pytest.approx(0.75)
        assert set(out["ap"]) == {"cat", "dog", "bird"}


def test_a_class_with_only_difficult_objects_is_left_out_of_the_map():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False), ("dog", [20, 20, 29, 29], True)]})
    out = evaluate_detections([det("a", "cat", 0.9, [0, 0, 9, 9])], dataset)
    assert math.isnan(out["ap"]["dog"]) and out["mAP"] == pytest.approx(1.0)


def test_no_detections_give_zero_ap_and_no_objects_give_nan_map():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    out = evaluate_detections([], dataset)
    assert out["ap"]["cat"] == 0.0 and out["mAP"] == 0.0
    assert math.isnan(evaluate_detections([], make_dataset({"a": []}))["mAP"])


def test_unknown_class_or_image_is_an_error():
    dataset = make_dataset({"a": [("cat", [0, 0, 9, 9], False)]})
    with pytest.raises(ValueError, match="'horse' is not one of"):
        evaluate_detections([det("a", "horse", 0.9, [0, 0, 9, 9])], dataset)
    with pytest.raises(ValueError, match="'__background__' is not one of"):
        evaluate_detections([det("a", "__background__", 0.9, [0, 0, 9, 9])], dataset)
    with pytest.raises(ValueError, match="image 'z' is not in the dataset"):
        evaluate_detections([det("z", "cat", 0.9, [0, 0, 9, 9])], dataset)
    with pytest.raises(ValueError, match="box must be"):
        evaluate_detections([det("a", "cat", 0.9, [0, 0, 9])], dataset)


# ---------------------------------------------------------------- properties

coordinate = st.integers(0, 40)
box_strategy = st.tuples(coordinate, coordinate, st.integers(0, 30), st.integers(0, 30)).map(
    lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))
object_strategy = st.tuples(st.sampled_from(CLASSES[1:]), box_strategy, st.booleans())
images_strategy = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                                  st.lists(object_strategy, max_size=5), min_size=1)


def _distinct_boxes(images):
    """Drop objects whose box repeats one already in the image: two objects with the same box
    tie for the best IoU, and the first would take both perfect detections."""
    out = {}
    for image_id, objects in images.items():
        seen, kept = set(), []
        for name, box, difficult in objects:
            if box not in seen:
                seen.add(box)
                kept.append((name, list(box), difficult))
        out[image_id] = kept
    return out


def _noise_strategy(image_ids):
    return st.lists(st.tuples(st.sampled_from(sorted(image_ids)), st.sampled_from(CLASSES[1:]),
                              box_strategy), max_size=15)


@given(images_strategy, st.data())
def test_perfect_detections_on_top_give_ap_one(images, data):
    """Score every non-difficult object with a perfect box above any other detection: recall
    reaches 1 at precision 1 before the first false positive, so AP is 1 for every class with
    objects, whatever lower-scored noise follows."""
    images = _distinct_boxes(images)
    dataset = make_dataset(images)
    noise = data.draw(_noise_strategy(images))
    detections = [det(image, name, 0.5 * (i + 1) / (len(noise) + 1), list(box))
                  for i, (image, name, box) in enumerate(noise)]
    objects = [(image, name, box, difficult)
               for image, image_objects in images.items()
               for name, box, difficult in image_objects]
    detections += [det(image, name, 1.0 + i, box)
                   for i, (image, name, box, difficult) in enumerate(objects) if not difficult]
    for use_07_metric in (True, False):
        out = evaluate_detections(detections, dataset, use_07_metric=use_07_metric)
        for name in CLASSES[1:]:
            has_objects = any(n == name and not d for _, n, _, d in objects)
            if has_objects:
                assert out["ap"][name] == pytest.approx(1.0), name
            else:
                assert math.isnan(out["ap"][name]), name


@given(images_strategy, st.data())
def test_detection_order_does_not_matter_when_scores_are_distinct(images, data):
    images = _distinct_boxes(images)
    dataset = make_dataset(images)
    noise = data.draw(_noise_strategy(images))
    scores = data.draw(st.permutations(range(len(noise))))
    detections = [det(image, name, float(s), list(box))
                  for s, (image, name, box) in zip(scores, noise)]
    shuffled = data.draw(st.permutations(detections))
    a = evaluate_detections(detections, dataset)
    b = evaluate_detections(shuffled, dataset)
    np.testing.assert_equal(a["ap"], b["ap"])
    np.testing.assert_equal(a["mAP"], b["mAP"])
    for name in CLASSES[1:]:
        np.testing.assert_array_equal(a["recall"][name], b["recall"][name])
        np.testing.assert_array_equal(a["precision"][name], b["precision"][name])
