"""minifrcnn.boxes: clip and flip, by hand and as round trips."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn.boxes import clip, flip


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
