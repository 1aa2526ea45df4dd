"""minifrcnn.boxes: clip, flip and transpose, by hand and as round trips."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn.boxes import clip, flip, transpose


def test_flip_by_hand():
    """In a 10-pixel-wide image, columns 0..2 mirror to columns 7..9."""
    np.testing.assert_array_equal(flip(np.array([[0, 5, 2, 8]]), 10), [[7, 5, 9, 8]])


@given(st.integers(1, 500), st.lists(st.tuples(st.integers(0, 499), st.integers(0, 499)),
                                     min_size=1, max_size=5), st.data())
def test_flip_twice_gives_the_boxes_back_and_keeps_widths(width, xs, data):
    boxes = np.array([[min(a, b) % width, 3, max(a, b) % width, 7] for a, b in xs])
    boxes[:, 0], boxes[:, 2] = np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2])
    flipped = flip(boxes, width)
    np.testing.assert_array_equal(flip(flipped, width), boxes)
    np.testing.assert_array_equal(flipped[:, 2] - flipped[:, 0], boxes[:, 2] - boxes[:, 0])
    assert flipped.min() >= 0 and flipped[:, [0, 2]].max() <= width - 1


def test_transpose_by_hand_and_twice():
    b = np.array([[1, 2, 3, 4], [0, 10, 5, 19]], np.float32)
    np.testing.assert_array_equal(transpose(b), [[2, 1, 4, 3], [10, 0, 19, 5]])
    np.testing.assert_array_equal(transpose(transpose(b)), b)
    assert transpose(b).dtype == np.float32 and transpose(b[None]).shape == (1, 2, 4)


def test_clip_keeps_boxes_inside_the_image():
    boxes = np.array([[-5.0, -1.0, 120.0, 30.0], [10.0, 10.0, 20.0, 20.0]])
    np.testing.assert_array_equal(clip(boxes, height=25, width=100),
                                  [[0, 0, 99, 24], [10, 10, 20, 20]])
    assert boxes[0, 0] == -5.0, "clip returns a new array"


def test_iou_by_hand_with_inclusive_corners():
    """A 10x10 box against itself, against its right half, and against a box it does not touch."""
    from minifrcnn.boxes import iou

    a = np.array([[0, 0, 9, 9]])
    b = np.array([[0, 0, 9, 9], [5, 0, 9, 9], [10, 0, 19, 9], [9, 9, 18, 18]])
    np.testing.assert_allclose(iou(a, b), [[1.0, 0.5, 0.0, 1 / 199]])
    assert iou(a, b).shape == (1, 4)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 20),
                          st.integers(0, 20)), min_size=1, max_size=6))
def test_iou_is_symmetric_bounded_and_one_on_the_diagonal(rows):
    from minifrcnn.boxes import iou

    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], np.float32)
    overlaps = iou(boxes, boxes)
    np.testing.assert_allclose(overlaps, overlaps.T)
    np.testing.assert_allclose(np.diag(overlaps), 1.0)
    assert overlaps.min() >= 0.0 and overlaps.max() <= 1.0 + 1e-12


def test_from_xywh_by_hand():
    """A 3-pixel-wide, 2-pixel-tall rectangle at (4, 5) covers columns 4..6 and rows 5..6."""
    from minifrcnn.boxes import from_xywh

    np.testing.assert_array_equal(from_xywh(np.array([[4, 5, 3, 2]])), [[4, 5, 6, 6]])


def test_encode_by_hand():
    """P = (0, 0, 9, 9): 10x10, centre (5, 5). G = (5, 0, 24, 9): 20x10, centre (15, 5).
    tx = (15 - 5) / 10 = 1, ty = 0, tw = log 2, th = 0."""
    from minifrcnn.boxes import encode

    t = encode(np.array([[0.0, 0, 9, 9]]), np.array([[5.0, 0, 24, 9]]))
    np.testing.assert_allclose(t, [[1.0, 0.0, np.log(2), 0.0]])


@given(st.lists(st.tuples(st.floats(0, 300), st.floats(0, 300), st.floats(3, 200),
                          st.floats(3, 200)), min_size=1, max_size=6), st.data())
def test_decode_inverts_encode(boxes_xywh, data):
    """encode then decode gives the ground-truth boxes back (sizes 4 to 201 pixels, so no scale
    change reaches decode's clamp at 1000/16)."""
    from minifrcnn.boxes import decode, encode

    rois = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes_xywh])
    gt = rois[::-1] + data.draw(st.floats(-20, 20))
    np.testing.assert_allclose(decode(rois, encode(rois, gt)), gt, rtol=1e-9, atol=1e-6)


def test_decode_is_class_specific_and_clamps_the_scale():
    """(R, 4k) deltas decode group by group against the same RoI; a huge tw is clamped at
    log(1000 / 16) instead of overflowing."""
    from minifrcnn.boxes import MAX_LOG_SCALE, decode

    rois = np.array([[0.0, 0, 9, 9]])
    deltas = np.array([[0.0, 0, 0, 0, 1.0, 0, 0, 0, 0, 0, 1e4, 0]])
    out = decode(rois, deltas)
    assert out.shape == (1, 12)
    np.testing.assert_allclose(out[0, :4], [0, 0, 9, 9])
    np.testing.assert_allclose(out[0, 4:8], [10, 0, 19, 9])
    np.testing.assert_allclose(out[0, [9, 11]], [0, 9])         # th = 0: the height is kept
    np.testing.assert_allclose(out[0, 10] - out[0, 8] + 1, 10 * np.exp(MAX_LOG_SCALE))


def test_nms_by_hand():
    """Box 1 overlaps box 0 with IoU 81/119 = 0.68 > 0.3 and is suppressed; box 2 is far away;
    box 3 ties box 2's score but comes later, and overlaps nothing."""
    from minifrcnn.boxes import nms

    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 60, 60], [100, 0, 110, 5]])
    scores = np.array([0.9, 0.8, 0.5, 0.5])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [0, 2, 3])


def test_nms_keeps_a_box_exactly_at_the_threshold():
    """Suppression needs IoU > threshold: at IoU exactly 0.5 both boxes stay."""
    from minifrcnn.boxes import iou, nms

    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 19]])              # areas 100 and 200: IoU 0.5
    assert iou(boxes[:1], boxes[1:])[0, 0] == 0.5
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8]), 0.5), [0, 1])
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8]), 0.49), [0])


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 30),
                          st.integers(0, 30), st.floats(0, 1)), min_size=0, max_size=12))
def test_nms_properties(rows):
    """Kept boxes overlap each other by at most the threshold, come in descending score order,
    and every dropped box overlaps a kept box of at least its score by more than it."""
    from minifrcnn.boxes import iou, nms

    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in rows], dtype=float).reshape(-1, 4)
    scores = np.array([s for *_, s in rows])
    keep = nms(boxes, scores, 0.3)
    overlaps = iou(boxes, boxes)
    kept = set(keep.tolist())
    assert all(scores[keep[i]] >= scores[keep[i + 1]] for i in range(len(keep) - 1))
    for i in keep:
        for j in keep:
            assert i == j or overlaps[i, j] <= 0.3
    for j in set(range(len(rows))) - kept:
        assert any(overlaps[i, j] > 0.3 and scores[i] >= scores[j] for i in kept)


def test_dense_boxes_fit_the_image_and_repeat():
    from minifrcnn.boxes import dense_boxes
    boxes = dense_boxes(200, 300, 500)
    assert boxes.shape == (500, 4) and boxes.dtype == np.float32
    assert boxes[:, 0].min() >= 0 and boxes[:, 1].min() >= 0
    assert boxes[:, 2].max() <= 299 and boxes[:, 3].max() <= 199
    assert np.all(boxes[:, 2] >= boxes[:, 0]) and np.all(boxes[:, 3] >= boxes[:, 1])
    assert len(np.unique(boxes, axis=0)) == 500
    assert np.array_equal(boxes, dense_boxes(200, 300, 500))
    every = dense_boxes(200, 300, 10 ** 6)
    assert len(every) < 10 ** 6 and len(np.unique(every, axis=0)) == len(every)
    # A window of side 24 with aspect ratio 1 steps by 12 pixels.
    assert np.any(np.all(every == [12, 0, 35, 23], axis=1))
