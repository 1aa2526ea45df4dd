"""minifrcnn.data.transforms: the scale rule, flips, mean subtraction, with round trips."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn import boxes
from minifrcnn.data.transforms import (flip_image, resize, scale_factor, to_network, to_picture,
                                      transpose_image)

MEAN = (122.8, 115.9, 102.9)


def test_scale_rule_by_hand():
    """VGG16's 600 / 1000: a 375x500 VOC image scales by 1.6 (shorter side 600, longer 800); a
    200x1000 panorama would reach 3000 px, so its longer side is capped at 1000 instead."""
    assert scale_factor(375, 500, 600, 1000) == 1.6
    assert scale_factor(200, 1000, 600, 1000) == 1.0
    assert scale_factor(500, 375, 600, 1000) == 1.6


@given(st.integers(20, 400), st.integers(20, 400), st.integers(50, 600), st.data())
def test_scale_rule_bounds(height, width, scale, data):
    max_size = data.draw(st.integers(scale, 2 * scale))
    factor = scale_factor(height, width, scale, max_size)
    assert round(factor * max(height, width)) <= max_size
    assert round(factor * min(height, width)) <= scale


def test_resize_gives_the_rounded_size():
    image = np.zeros((375, 500, 3), np.uint8)
    assert resize(image, 1.6).shape == (600, 800, 3)
    assert resize(image, 0.5).dtype == np.uint8


def test_flip_image_twice_and_flipped_boxes_cover_the_same_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    np.testing.assert_array_equal(flip_image(flip_image(image)), image)
    box = np.array([[3, 2, 7, 9]])                          # inclusive corners
    flipped_box = boxes.flip(box, 17)[0]
    x1, y1, x2, y2 = box[0]
    fx1, fy1, fx2, fy2 = flipped_box
    np.testing.assert_array_equal(flip_image(image)[fy1:fy2 + 1, fx1:fx2 + 1],
                                  image[y1:y2 + 1, x1:x2 + 1][:, ::-1])


def test_transposed_boxes_cover_the_transposed_pixels_and_with_a_mirror_turn_90_degrees():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    t = transpose_image(image)
    assert t.shape == (17, 12, 3) and t.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(transpose_image(t), image)
    box = np.array([[3, 2, 7, 9]])
    x1, y1, x2, y2 = boxes.transpose(box)[0]
    crop = image[2:10, 3:8]
    np.testing.assert_array_equal(t[y1:y2 + 1, x1:x2 + 1], np.swapaxes(crop, 0, 1))
    # Transpose, then mirror in the new width (12): the image turned 90 degrees clockwise.
    turned = flip_image(t)
    np.testing.assert_array_equal(turned, np.rot90(image, -1))
    x1, y1, x2, y2 = boxes.flip(boxes.transpose(box), 12)[0]
    np.testing.assert_array_equal(turned[y1:y2 + 1, x1:x2 + 1], np.rot90(crop, -1))


@given(st.floats(0.1, 4.0))
def test_scale_then_unscale_boxes(factor):
    b = np.array([[0.0, 4.0, 99.0, 49.0], [10.5, 3.0, 20.0, 7.0]])
    np.testing.assert_allclose(boxes.scale(boxes.scale(b, factor), 1 / factor), b, rtol=1e-12)


def test_network_layout_round_trip():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_network(image, MEAN)
    assert x.shape == (3, 5, 7) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 2, 3], image[2, 3, 0] - MEAN[0], rtol=1e-6)
    np.testing.assert_array_equal(to_picture(x, MEAN), image)
