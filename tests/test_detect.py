"""minifrcnn.detect: the post-processing of detect on a fake model whose scores and deltas are
chosen by hand (softmax, decode, clip, threshold, per-class NMS, the cap, multi-scale levels),
then `minifrcnn detect` and `minifrcnn evaluate` end to end with a real (untrained) tiny model."""

import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from minifrcnn import boxes as box_ops
from minifrcnn.cli import main
from minifrcnn.data.synth import CLASSES as SYNTH_CLASSES
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.detect import (
    DEFAULT_MAX_PER_IMAGE,
    DEFAULT_NMS_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    Detections,
    assign_levels,
    detect,
    detect_dataset,
)

CLASSES = ["__background__", "cat", "dog"]
LOW, HIGH = -20.0, 20.0          # raw scores: softmax gives ~0 and ~1


class FakeModel:
    """Stands in for FastRCNN: forward answers R RoIs with the first R rows of the cls_score
    (P, K+1) and bbox_pred (P, 4(K+1)) it was given (at a single scale the RoIs come in the
    proposals' order), and records each call's images and rois."""

    def __init__(self, cls_score, bbox_pred=None, scale=200, max_size=1000, classes=CLASSES):
        self.config = SimpleNamespace(scale=scale, max_size=max_size, pixel_mean=(1.0, 2.0, 3.0))
        self.classes = list(classes)
        self.cls_score = np.asarray(cls_score, np.float32)
        self.bbox_pred = (np.zeros((len(self.cls_score), 4 * len(classes)), np.float32)
                          if bbox_pred is None else np.asarray(bbox_pred, np.float32))
        self.calls = []

    def forward(self, images, rois, train=False):
        assert train is False
        self.calls.append((images, rois))
        # Single scale: every RoI in proposal order, so the rows are the table's rows.
        return self.cls_score[:len(rois)], self.bbox_pred[:len(rois)]


def scores_for(*rows):
    """Raw scores (P, 3): each row is the class that should win it (0, 1, 2)."""
    out = np.full((len(rows), 3), LOW, np.float32)
    out[np.arange(len(rows)), rows] = HIGH
    return out


IMAGE = np.zeros((200, 300, 3), np.uint8)


# ---------------------------------------------------------------- post-processing


def test_inputs_the_model_sees():
    proposals = np.array([[10, 20, 29, 59], [0, 0, 99, 99]], np.float32)
    model = FakeModel(scores_for(1, 2), scale=100)             # 200x300 -> factor 0.5
    detect(model, IMAGE, proposals)
    (images, rois), = model.calls
    assert images.shape == (1, 3, 100, 150) and images.dtype == np.float32
    np.testing.assert_allclose(images[0, :, 0, 0], [-1, -2, -3])          # mean subtracted
    assert rois.shape == (2, 5) and rois.dtype == np.float32
    np.testing.assert_array_equal(rois[:, 0], 0)
    np.testing.assert_allclose(rois[:, 1:], proposals * 0.5)


def test_zero_deltas_give_the_proposals_back_with_softmax_scores():
    proposals = np.array([[10, 20, 29, 59], [100, 50, 199, 149]], np.float32)
    raw = np.array([[0.0, 2.0, 1.0], [1000.0, 0.0, 1003.0]], np.float32)   # large: no overflow
    model = FakeModel(raw)
    dets = detect(model, IMAGE, proposals)
    probabilities = np.exp(raw - raw.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    # (proposal, class) pairs above 0.05, highest probability first
    expected = sorted(((probabilities[p, c], p, c) for p in range(2) for c in (1, 2)
                       if probabilities[p, c] > 0.05), reverse=True)
    assert len(dets) == len(expected) == 3
    np.testing.assert_allclose(dets.scores, [e[0] for e in expected], rtol=1e-6)
    np.testing.assert_array_equal(dets.labels, [e[2] for e in expected])
    np.testing.assert_allclose(dets.boxes, proposals[[e[1] for e in expected]], atol=1e-4)
    assert dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32
    assert dets.labels.dtype == np.int64 and dets.class_names == model.classes


def test_known_deltas_decode_with_the_detected_class_columns():
    # P: w 20, h 40, centre (20, 40). Class 1's deltas move the centre to (30, 30) and double the
    # width: the box (10, 10, 49, 49). Class 2's columns hold different deltas that must not be used.
    proposals = np.array([[10, 20, 29, 59]], np.float32)
    bbox_pred = np.zeros((1, 12), np.float32)
    bbox_pred[0, 4:8] = [0.5, -0.25, math.log(2), 0]
    bbox_pred[0, 8:12] = [-0.3, 0.3, 0.5, 0.5]
    bbox_pred[0, 0:4] = [0.4, 0.4, 0.4, 0.4]                  # background: never used
    dets = detect(FakeModel(scores_for(1), bbox_pred), IMAGE, proposals)
    assert dets.labels.tolist() == [1]
    np.testing.assert_allclose(dets.boxes[0], [10, 10, 49, 49], atol=1e-4)


def test_without_box_regression_the_proposals_are_the_boxes():
    proposals = np.array([[10, 20, 29, 59], [250, 150, 310, 199]], np.float32)
    bbox_pred = np.full((2, 12), 0.5, np.float32)                  # would move every box
    dets = detect(FakeModel(scores_for(1, 2), bbox_pred), IMAGE, proposals, box_regression=False)
    assert dets.labels.tolist() == [1, 2]
    np.testing.assert_array_equal(dets.boxes, [[10, 20, 29, 59], [250, 150, 299, 199]])  # clipped


def test_boxes_are_clipped_to_the_image():
    proposals = np.array([[250, 150, 299, 199], [0, 0, 49, 49]], np.float32)
    bbox_pred = np.zeros((2, 12), np.float32)
    bbox_pred[:, 4:8] = [0, 0, math.log(4), math.log(4)]      # 4x larger about the centre
    dets = detect(FakeModel(scores_for(1, 1), bbox_pred), IMAGE, proposals)
    assert len(dets) == 2
    got = sorted(dets.boxes.tolist())
    np.testing.assert_allclose(got, [[0, 0, 124, 124], [175, 75, 299, 199]], atol=1e-4)


def test_score_threshold_is_strict_and_background_is_never_reported():
    proposals = np.array([[0, 0, 9, 9], [50, 50, 59, 59], [100, 100, 109, 109]], np.float32)
    raw = np.log(np.array([[0.90, 0.06, 0.04],      # cat 0.06 passes 0.05, dog 0.04 does not
                           [0.98, 0.01, 0.01],      # background: nothing
                           [0.25, 0.25, 0.50]]), dtype=np.float32)
    dets = detect(FakeModel(raw), IMAGE, proposals)
    assert [(label, round(float(s), 4)) for label, s in zip(dets.labels, dets.scores)] == \
        [(2, 0.5), (1, 0.25), (1, 0.06)]
    everything = detect(FakeModel(raw), IMAGE, proposals, score_threshold=0.0)
    assert len(everything) == 6 and 0 not in everything.labels
    assert len(detect(FakeModel(raw), IMAGE, proposals, score_threshold=0.3)) == 1


@pytest.mark.parametrize("shift, overlap, kept", [(48, 52 / 148, 1), (60, 40 / 160, 2)])
def test_per_class_nms_at_0_3(shift, overlap, kept):
    # Two 100x100 boxes `shift` apart: IoU (100 - shift) / (100 + shift), 0.35 or 0.25.
    proposals = np.array([[0, 0, 99, 99], [shift, 0, shift + 99, 99]], np.float32)
    assert box_ops.iou(proposals[:1], proposals[1:])[0, 0] == pytest.approx(overlap)
    raw = np.array([[LOW, 2.0, LOW], [LOW, 1.0, LOW]], np.float32)
    dets = detect(FakeModel(raw), IMAGE, proposals)
    assert len(dets) == kept
    np.testing.assert_allclose(dets.boxes[0], proposals[0], atol=1e-4)     # the higher score
    # NMS is per class: the same two boxes as different classes are both kept.
    other = detect(FakeModel(scores_for(1, 2)), IMAGE, proposals)
    assert sorted(other.labels.tolist()) == [1, 2]


def test_max_per_image_keeps_the_highest_scores():
    proposals = np.array([[20 * i, 0, 20 * i + 9, 9] for i in range(8)], np.float32)  # disjoint
    raw = np.full((8, 3), LOW, np.float32)
    raw[:, 1] = np.linspace(0, 7, 8)[[3, 0, 6, 1, 7, 2, 5, 4]]     # shuffled distinct strengths
    raw[:, 0] = 3.5
    dets = detect(FakeModel(raw), IMAGE, proposals, max_per_image=3, score_threshold=0.0)
    assert len(dets) == 3
    assert np.all(np.diff(dets.scores) < 0)
    np.testing.assert_allclose(dets.boxes, proposals[[4, 2, 6]], atol=1e-4)


def test_empty_proposals_and_bad_inputs():
    model = FakeModel(np.zeros((0, 3)))
    dets = detect(model, IMAGE, np.zeros((0, 4), np.float32))
    assert len(dets) == 0 and model.calls == []
    assert dets.boxes.shape == (0, 4) and dets.records("x.jpg") == []
    for bad in (IMAGE[..., 0], IMAGE[..., :2], IMAGE.astype(np.float32)):
        with pytest.raises(ValueError, match="uint8 RGB"):
            detect(model, bad, np.zeros((0, 4)))
    with pytest.raises(ValueError, match=r"\(P, 4\)"):
        detect(model, IMAGE, np.zeros((3, 5)))


def test_defaults_are_the_papers():
    assert (DEFAULT_SCORE_THRESHOLD, DEFAULT_NMS_THRESHOLD, DEFAULT_MAX_PER_IMAGE) == (0.05, 0.3, 100)


# ---------------------------------------------------------------- multi-scale testing


def test_assign_levels_picks_the_area_closest_to_224_squared():
    factors = np.array([0.5, 1.0, 2.0])
    proposals = np.array([[0, 0, 447, 447],        # 448^2: x0.5 -> 224^2 exactly
                          [0, 0, 223, 223],        # 224^2 at x1
                          [0, 0, 111, 111],        # 112^2: x2 -> 224^2
                          [0, 0, 9, 9],            # tiny: the largest level
                          [0, 0, 999, 999]],       # huge: the smallest level
                         np.float32)
    assert assign_levels(proposals, factors).tolist() == [0, 1, 2, 2, 0]


def test_multi_scale_forwards_each_proposal_at_its_level():
    image = np.zeros((100, 250, 3), np.uint8)
    # Areas 11200, 2500, 12000; at factors 1 and 3 (x9) the closest to 224^2 = 50176 are
    # 11200 (not 100800), 22500 (not 2500) and 12000 (not 108000): levels 0, 1, 0.
    proposals = np.array([[0, 0, 111, 99], [0, 0, 49, 49], [130, 0, 249, 99]], np.float32)
    raw = scores_for(1, 2, 1)
    model = FakeModel(raw, scale=100, max_size=1000)

    def forward(images, rois, train=False):
        """Answer each RoI with its own proposal's row, found by scaling back to the image."""
        model.calls.append((images, rois))
        factor = images.shape[3] / image.shape[1]
        rows = [np.flatnonzero(np.all(np.abs(proposals * factor - roi) < 1e-3, axis=1))[0]
                for roi in rois[:, 1:]]
        return raw[rows], np.zeros((len(rois), 12), np.float32)

    model.forward = forward
    detections = detect(model, image, proposals, scales=(100, 300))
    rois_by_size = {images.shape[2:]: rois for images, rois in model.calls}
    assert set(rois_by_size) == {(100, 250), (300, 750)}
    np.testing.assert_allclose(rois_by_size[(100, 250)][:, 1:], proposals[[0, 2]])
    np.testing.assert_allclose(rois_by_size[(300, 750)][:, 1:], proposals[[1]] * 3)
    # Each proposal's scores came back to it: boxes in original pixels with their own class.
    found = sorted(zip(detections.boxes.tolist(), detections.labels.tolist()))
    expected = sorted(zip(proposals.tolist(), [1, 2, 1]))
    assert [label for _, label in found] == [label for _, label in expected]
    np.testing.assert_allclose([box for box, _ in found], [box for box, _ in expected], atol=1e-4)


class MirrorAwareModel(FakeModel):
    """Answers with one table for the original image and another for its mirror, told apart by
    the marker column IMAGE_MARKED has bright on its left edge only."""

    def __init__(self, original, mirrored):
        super().__init__(*original)
        self.mirrored = [np.asarray(a, np.float32) for a in mirrored]

    def forward(self, images, rois, train=False):
        self.calls.append((images, rois))
        mirrored = images[0, 0, :, -1].mean() > images[0, 0, :, 0].mean()
        cls_score, bbox_pred = self.mirrored if mirrored else (self.cls_score, self.bbox_pred)
        return cls_score[:len(rois)], bbox_pred[:len(rois)]


IMAGE_MARKED = IMAGE.copy()
IMAGE_MARKED[:, 0] = 255


def deltas_for_class(c, tx, ty=0.0, tw=0.0, th=0.0):
    """bbox_pred (1, 12) with (tx, ty, tw, th) in class c's columns, zero elsewhere."""
    out = np.zeros((1, 12), np.float32)
    out[0, 4 * c:4 * c + 4] = tx, ty, tw, th
    return out


def test_flip_scores_the_mirror_with_mirrored_proposals():
    proposals = np.array([[10, 20, 49, 59]], np.float32)
    model = MirrorAwareModel((scores_for(1), None), (scores_for(1), np.zeros((1, 12))))
    detect(model, IMAGE_MARKED, proposals, flip=True)
    (original, original_rois), (mirror, mirror_rois) = model.calls
    np.testing.assert_array_equal(mirror, original[..., ::-1])       # the image, mirrored
    np.testing.assert_allclose(original_rois[:, 1:], proposals)      # scale 200: factor 1
    np.testing.assert_allclose(mirror_rois[:, 1:], [[250, 20, 289, 59]])   # W - x2 - 1, W - x1 - 1


def test_flip_reads_a_mirrored_shift_back_in_the_original_frame():
    # The proposal is 40 px wide. On the original the model moves it 10 px right (tx 0.25);
    # a model that sees the same object in the mirror moves it 10 px LEFT there (tx -0.25), which
    # is 10 px right in the original: the average must keep the shift, not cancel it. ty, tw, th
    # do not change sign in a mirror: theirs average as they are.
    proposals = np.array([[10, 20, 49, 59]], np.float32)
    model = MirrorAwareModel((scores_for(1), deltas_for_class(1, 0.25, 0.1, 0.0, 0.2)),
                             (scores_for(1), deltas_for_class(1, -0.25, 0.3, 0.0, 0.0)))
    flipped = detect(model, IMAGE_MARKED, proposals, flip=True)
    expected = box_ops.decode(proposals, deltas_for_class(1, 0.25, 0.2, 0.0, 0.1))[:, 4:8]
    np.testing.assert_allclose(flipped.boxes, expected, atol=1e-4)
    assert flipped.boxes[0, 0] == pytest.approx(20, abs=1e-4)


def test_flip_averages_class_scores_before_the_softmax():
    # Raw scores: the original says cat (+20), the mirror says dog (+20); their mean is a tie
    # with background far below, so cat and dog come out at probability 1/2 each.
    proposals = np.array([[10, 20, 49, 59]], np.float32)
    model = MirrorAwareModel((scores_for(1), None), (scores_for(2), np.zeros((1, 12))))
    detections = detect(model, IMAGE_MARKED, proposals, flip=True)
    assert sorted(detections.labels.tolist()) == [1, 2]
    np.testing.assert_allclose(detections.scores, [0.5, 0.5], rtol=1e-5)
    alone = detect(model, IMAGE_MARKED, proposals)                     # flip off: one pass
    assert alone.labels.tolist() == [1] and len(model.calls) == 3


class ViewAwareModel(FakeModel):
    """Answers each of the four views of IMAGE_CORNER with its own table: the transposed views
    by their shape (IMAGE is 200 x 300), the mirrored ones by the marked corner, top left in the
    original and its transpose, top right in the two mirrors."""

    def __init__(self, tables):
        super().__init__(*tables[False, False])
        self.tables = {view: [np.asarray(a, np.float32) for a in table]
                       for view, table in tables.items()}

    def forward(self, images, rois, train=False):
        transposed = images.shape[2:] == (300, 200)
        mirrored = images[0, 0, 0, -1] > images[0, 0, 0, 0]
        self.calls.append(((transposed, mirrored), images, rois))
        cls_score, bbox_pred = self.tables[transposed, mirrored]
        return cls_score[:len(rois)], bbox_pred[:len(rois)]


IMAGE_CORNER = IMAGE.copy()
IMAGE_CORNER[:3, :3] = 255


def test_transpose_scores_the_four_views_with_their_proposals():
    proposals = np.array([[10, 20, 49, 59]], np.float32)
    table = (scores_for(1), np.zeros((1, 12)))
    views = [(t, m) for t in (False, True) for m in (False, True)]
    model = ViewAwareModel(dict.fromkeys(views, table))
    detect(model, IMAGE_CORNER, proposals, flip=True, transpose=True)
    assert [view for view, _, _ in model.calls] == views
    images = {view: x for view, x, _ in model.calls}
    rois = {view: r[:, 1:] for view, _, r in model.calls}           # scale 200: factor 1
    np.testing.assert_array_equal(images[True, False], np.swapaxes(images[False, False], 2, 3))
    np.testing.assert_array_equal(images[True, True], images[True, False][..., ::-1])
    np.testing.assert_allclose(rois[True, False], [[20, 10, 59, 49]])          # x and y swapped
    np.testing.assert_allclose(rois[True, True], [[200 - 59 - 1, 10, 200 - 20 - 1, 49]])
    detect(model, IMAGE_CORNER, proposals, transpose=True)                    # without flip: 2
    assert [view for view, _, _ in model.calls[4:]] == [(False, False), (True, False)]


def test_transpose_reads_every_views_deltas_back_in_the_original_frame():
    # One object seen four ways. The original moves the box right (tx 0.25) and down a little
    # (ty 0.1) and makes it taller (th 0.2). Its transpose sees right as down and taller as
    # wider: (0.1, 0.25, 0.2, 0). Mirroring that negates its tx: (-0.1, 0.25, 0.2, 0). Read back
    # right (undo the mirror, then the transpose), all four say the same, and so does the mean.
    proposals = np.array([[10, 20, 49, 59]], np.float32)
    original = (0.25, 0.1, 0.0, 0.2)
    model = ViewAwareModel({
        (False, False): (scores_for(1), deltas_for_class(1, *original)),
        (False, True): (scores_for(1), deltas_for_class(1, -0.25, 0.1, 0.0, 0.2)),
        (True, False): (scores_for(1), deltas_for_class(1, 0.1, 0.25, 0.2, 0.0)),
        (True, True): (scores_for(1), deltas_for_class(1, -0.1, 0.25, 0.2, 0.0))})
    four = detect(model, IMAGE_CORNER, proposals, flip=True, transpose=True)
    expected = box_ops.decode(proposals, deltas_for_class(1, *original))[:, 4:8]
    np.testing.assert_allclose(four.boxes, expected, atol=1e-4)


# ---------------------------------------------------------------- records


def test_records_and_json_round_trip():
    dets = Detections(np.array([[1.234, 2, 30.5, 40]], np.float32), np.array([0.93], np.float32),
                      np.array([2]), CLASSES)
    records = dets.records("img/a.jpg")
    assert records == [{"image": "img/a.jpg", "class": "dog", "score": 0.93,
                        "box": [1.23, 2.0, 30.5, 40.0]}]
    assert json.loads(json.dumps(records)) == records


def test_detect_dataset_uses_image_ids_and_given_proposals(tmp_path):
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(tmp_path / "a.png")
    dataset = SimpleNamespace(samples=[SimpleNamespace(image_id="000007",
                                                       image_path=str(tmp_path / "a.png"))])
    proposals = {"000007": np.array([[5, 5, 54, 54]], np.float32)}
    records = detect_dataset(FakeModel(scores_for(2)), dataset, proposals, progress=False)
    assert [(r["image"], r["class"], r["box"]) for r in records] == \
        [("000007", "dog", [5.0, 5.0, 54.0, 54.0])]


# ---------------------------------------------------------------- end to end, real model


@pytest.fixture(scope="module")
def trained_files(tmp_path_factory):
    """A tiny synthetic VOC folder (2 trainval, 2 test images) and an untrained tiny model."""
    from minifrcnn.model import FastRCNN

    root = tmp_path_factory.mktemp("voc")
    write_synthetic_voc(root, 2, 2, seed=0, progress=False)
    model = FastRCNN("tiny", ["__background__", *SYNTH_CLASSES], rng=np.random.default_rng(0))
    model_path = root / "model.npz"
    model.save(model_path)
    return root, model_path


def test_detect_command_writes_pictures_and_json(trained_files, tmp_path, capsys):
    root, model_path = trained_files
    first = str(root / "JPEGImages" / "000001.jpg")
    # The same file name in another folder: its picture must not overwrite the first one's.
    (tmp_path / "other").mkdir()
    second = str(tmp_path / "other" / "000001.jpg")
    shutil.copy(root / "JPEGImages" / "000003.jpg", second)
    out = tmp_path / "out"
    assert main(["detect", str(model_path), first, second, "--out", str(out),
                 "--score-threshold", "0"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "detections.json") in printed
    records = json.loads((out / "detections.json").read_text())
    assert {r["image"] for r in records} == {first, second}
    for image_path, picture in ((first, out / "000001.png"), (second, out / "000001_2.png")):
        assert picture.exists() and str(picture) in printed
        width, height = Image.open(image_path).size
        boxes = np.array([r["box"] for r in records if r["image"] == image_path])
        assert 0 < len(boxes) <= DEFAULT_MAX_PER_IMAGE
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= width - 1)
        assert np.all(boxes[:, 3] <= height - 1) and np.all(boxes[:, 2:] >= boxes[:, :2])
        assert {r["class"] for r in records} <= set(SYNTH_CLASSES)


def test_evaluate_command_json(trained_files, tmp_path, capsys):
    root, model_path = trained_files
    plot = tmp_path / "pr.png"
    assert main(["evaluate", str(model_path), str(root), "--json", "--plot", str(plot),
                 "--cache", str(tmp_path / "cache"), "--flip"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert list(result["ap"]) == list(SYNTH_CLASSES)
    assert "mAP" in result and plot.exists() and str(plot) in captured.err


def test_evaluate_command_table_and_default_plot(trained_files, tmp_path, capsys):
    root, model_path = trained_files
    assert main(["evaluate", str(model_path), str(root), "--cache", str(tmp_path / "cache"),
                 "--area-metric"]) == 0
    printed = capsys.readouterr().out
    assert "mAP" in printed and "objects" in printed
    default_plot = str(model_path)[:-len(".npz")] + "_pr.png"
    assert f"wrote {default_plot}" in printed


def test_unreadable_model_or_output(trained_files, tmp_path, capsys):
    """A model file that is no model, or --out an existing file: one line naming the file (no
    "[Errno 17] File exists"), nothing written."""
    root, model_path = trained_files
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model at all")
    image = str(next((root / "JPEGImages").glob("*.jpg")))
    assert main(["detect", str(garbage), image, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minifrcnn detect: ") and str(garbage) in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    assert main(["evaluate", str(garbage), str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minifrcnn evaluate: ") and str(garbage) in err
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    assert main(["detect", str(model_path), image, "--out", str(notes)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"minifrcnn detect: --out {notes} is a file; give a folder for the "
                            "pictures and detections.json\n")
    assert captured.out == "" and notes.read_text() == "x"


@pytest.mark.parametrize("good", [0, 1])
def test_detect_checks_every_image_first(trained_files, tmp_path, capsys, good):
    """A bad image among the inputs (with or without a good one): found before the slow work,
    every bad one named in one line, no progress bar, nothing written, not even --out."""
    root, model_path = trained_files
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    images = [str(root / "JPEGImages" / "000001.jpg")] * good + [str(broken), str(missing)]
    out = tmp_path / "out"
    assert main(["detect", str(model_path), *images, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"minifrcnn detect: 2 of {len(images)} images cannot be "
                                   "read, nothing written: ")
    assert str(broken) in captured.err and str(missing) in captured.err
    assert captured.err.count("\n") == 1 and "%" not in captured.err
    assert not out.exists()


def test_detect_help_says_what_happens_to_bad_images(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    assert "nothing" in capsys.readouterr().out


def test_evaluate_rejects_a_class_the_model_does_not_know(trained_files, tmp_path, capsys):
    from minifrcnn.model import FastRCNN

    root, _ = trained_files
    narrow = tmp_path / "narrow.npz"
    FastRCNN("tiny", ["__background__", "unicorn"], rng=np.random.default_rng(0)).save(narrow)
    assert main(["evaluate", str(narrow), str(root), "--cache", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert "not one of the model's classes (unicorn)" in err and "Traceback" not in err
    # Checked before any proposal is computed.
    assert not (tmp_path / "cache").exists()


def test_error_messages_show_plain_numbers():
    """NumPy 2 shows a scalar inside a tuple as np.float32(-3.0); the message shows -3."""
    model = FakeModel(scores_for(1))
    with pytest.raises(ValueError) as raised:
        detect(model, IMAGE, np.array([[0, 0, 9, 9]], np.float32),
               scales=(np.float32(-3.0), np.int64(5)))
    assert "np." not in str(raised.value) and "(-3, 5)" in str(raised.value)


# ---------------------------------------------------------------- pictures


def test_draw_detections_and_precision_recall_plot():
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    from minifrcnn.viz import class_color, draw_detections, plot_precision_recall

    dets = Detections(np.array([[1, 2, 30, 40], [5, 5, 20, 20], [0, 0, 9, 9]], np.float32),
                      np.array([0.93, 0.6, 0.2], np.float32), np.array([2, 1, 1]), CLASSES)
    ax = Figure().add_subplot()
    assert draw_detections(ax, IMAGE, dets, score_threshold=0.5) == 2
    assert [t.get_text() for t in ax.texts] == ["dog 0.93", "cat 0.60"]
    assert [p.get_edgecolor() for p in ax.patches] == [to_rgba(class_color(2)),
                                                       to_rgba(class_color(1))]

    result = {"ap": {"cat": 0.5, "dog": float("nan")},
              "recall": {"cat": np.array([0.5, 0.5]), "dog": np.array([])},
              "precision": {"cat": np.array([1.0, 0.5]), "dog": np.array([])}}
    ax = Figure().add_subplot()
    plot_precision_recall(ax, result)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat (AP 0.500)",
                                                                   "dog (AP n/a)"]


def label_rectangles(fig):
    """The drawn rectangle (x0, y0, x1, y1) in pixels of every label's coloured box."""
    fig.canvas.draw()
    rects = []
    for ax in fig.axes:
        for text in ax.texts:
            extent = text.get_bbox_patch().get_window_extent()
            rects.append((extent.x0, extent.y0, extent.x1, extent.y1))
    return rects


@pytest.mark.parametrize("dpi", [72, 100, 200])
def test_detection_labels_are_legible_and_never_overlap(tmp_path, dpi):
    """Ten boxes piled on each other: every label is at least 12 px high at the saved size and
    no two labels, nor a label and a title, share a pixel; ground truth is dashed; a legend."""
    from minifrcnn.viz import detections_figure, save_figure

    rng = np.random.default_rng(0)
    corners = rng.integers(0, 20, size=(10, 2))
    boxes = np.hstack([corners, corners + 60]).astype(np.float32)
    dets = Detections(boxes, np.linspace(0.99, 0.6, 10).astype(np.float32),
                      rng.integers(1, 3, 10), CLASSES)
    truth = (np.array([[10, 10, 70, 70], [100, 20, 150, 90]]), np.array([1, 2]))
    fig = detections_figure([IMAGE, IMAGE], [dets, dets], titles=["first", "second"],
                            ground_truths=[truth, None], title="Detections", dpi=dpi)
    rects = label_rectangles(fig)
    assert len(rects) >= 10
    for rect in rects:
        assert rect[3] - rect[1] >= 12
    titles = [ax.title.get_window_extent() for ax in fig.axes]
    titles += [text.get_window_extent() for text in fig.texts]          # the suptitle
    titles = [(t.x0, t.y0, t.x1, t.y1) for t in titles]
    for i, a in enumerate(rects):
        for b in rects[i + 1:] + titles:
            overlap = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
            assert min(overlap) <= 0.5, (a, b)
    dashed = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"]
    assert len(dashed) == 2
    assert not [p for p in fig.axes[1].patches if p.get_linestyle() == "--"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == 2 and "ground truth" in legend[1]
    save_figure(fig, tmp_path / "detections.png")
    width, height = Image.open(tmp_path / "detections.png").size
    # The saved size is the figure's at its dpi (so the 12 px hold in the file), within a pixel
    # of rounding.
    assert abs(width - fig.get_figwidth() * dpi) <= 1
    assert abs(height - fig.get_figheight() * dpi) <= 1


def test_place_label_moves_a_label_off_the_ones_before():
    from minifrcnn.viz import place_label

    bounds = (0, 0, 200, 200)
    box = (50, 50, 150, 150)
    first = place_label(box, (40, 10), bounds, [])
    assert first == (50, 150, 90, 160)                  # just above the box
    second = place_label(box, (40, 10), bounds, [first])
    assert second == (50, 140, 90, 150)                 # just inside its top
    # Nowhere left: every height of the column is taken.
    column = [(0, y, 200, y + 10) for y in range(0, 200, 10)]
    assert place_label(box, (40, 10), bounds, column) is None


def test_cli_passes_detection_options_through():
    from minifrcnn.cli import build_parser
    from minifrcnn.cli.detect import detection_options

    parser = build_parser()
    for command in (["detect", "m.npz", "a.jpg", "--out", "d"], ["evaluate", "m.npz", "data"]):
        seen = [detection_options(parser.parse_args([*command, *extra]))
                for extra in ([], ["--flip"], ["--transpose", "--nms", "0.4"],
                              ["--no-box-regression"])]
        assert [(o["flip"], o["transpose"], o["nms_threshold"], o["box_regression"])
                for o in seen] == [
            (False, False, DEFAULT_NMS_THRESHOLD, True), (True, False, DEFAULT_NMS_THRESHOLD, True),
            (False, True, 0.4, True), (False, False, DEFAULT_NMS_THRESHOLD, False)]
