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
