"""Tests of RoI max pooling, minifrcnn/layers/roi_pool.py.

The exact semantics are those of fast-rcnn-spec.md ("RoI pooling"), which are Caffe's and
torchvision's. The evidence comes in four parts:

1. Property tests: for RoIs placed everywhere a detector puts them (inside the map, across its
   borders, entirely outside, end before start, a single cell, the whole map, on .5 after
   scaling), forward and backward equal the loop-by-loop reference in tests/naive_roi_pool.py
   bit for bit, in float32 and in float64, and the backward pass agrees with finite differences.
2. The worked examples of the seed (syllabus.md section 3), checked bin by bin.
3. The fine print: C rounding, float32 bin arithmetic, ties, sums in the backward pass, empty bins.
4. Bad input is refused with a message that says what was expected and what came.
"""

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minifrcnn.gradcheck import gradcheck, tie_free
from minifrcnn.layers.roi_pool import roi_bins, roi_pool_backward, roi_pool_forward, round_half_away
from naive_roi_pool import (
    c_round,
    naive_bin_edges,
    naive_roi_bins,
    naive_roi_pool_backward,
    naive_roi_pool_forward,
)

DTYPES = [np.float32, np.float64]
SCALES = [1.0, 0.5, 1 / 16]
OUTPUT_SIZES = [(1, 1), (2, 2), (3, 2), (7, 7)]


def pool(features, rois, output_size, spatial_scale=1.0):
    """Forward pass only, for the tests that look at the output."""
    return roi_pool_forward(features, np.asarray(rois, dtype=np.float64), output_size, spatial_scale)[0]


def gradient(features, rois, output_size, dout, spatial_scale=1.0):
    """dfeatures for the upstream gradient dout."""
    _, cache = roi_pool_forward(features, np.asarray(rois, dtype=np.float64), output_size, spatial_scale)
    return roi_pool_backward(np.asarray(dout, dtype=features.dtype), cache)


def bins_of(roi, output_size, height, width, spatial_scale=1.0, dtype=np.float64):
    """The layer's bins of one RoI, as lists: rows [(start, end), ...] and columns likewise."""
    hstart, hend, wstart, wend = roi_bins(np.array([roi], dtype=np.float64), spatial_scale,
                                          output_size, height, width, np.dtype(dtype))
    rows = list(zip(hstart[0].tolist(), hend[0].tolist()))
    cols = list(zip(wstart[0].tolist(), wend[0].tolist()))
    return rows, cols


# ---------------------------------------------------------------------------------------------
# 1. Property tests against the naive reference
# ---------------------------------------------------------------------------------------------

# How the RoIs of one example are placed. "mixed" gives each RoI a kind of its own.
KINDS = ["inside", "crossing", "outside", "malformed", "tiny", "whole", "half", "anywhere", "mixed"]


def axis_span(draw, kind, cells, scale):
    """(start, end) in image pixels along one axis whose feature map has `cells` cells.

    The image is `cells / scale` pixels long; pixel p projects to cell p * scale.
    """
    extent = round(cells / scale)
    last_inside = math.ceil((cells - 0.5) / scale) - 1     # the last pixel that lands on the map
    if kind == "inside":
        return tuple(sorted(draw(st.lists(st.integers(0, last_inside), min_size=2, max_size=2))))
    if kind == "crossing":                     # sticks out on the left, the right or both sides
        side = draw(st.sampled_from(["left", "right", "both"]))
        start = draw(st.integers(-extent, -1)) if side != "right" else draw(st.integers(0, extent - 1))
        end = draw(st.integers(extent, 2 * extent)) if side != "left" else draw(st.integers(0, extent - 1))
        return start, end
    if kind == "outside":                      # both ends at least two cells left of the map, or
        if draw(st.booleans()):                # right of it: every bin is empty once clipped
            first, last = -2 * cells - 2, -2
        else:
            first, last = cells, 2 * cells + 2
        a, b = sorted(draw(st.lists(st.integers(first, last), min_size=2, max_size=2)))
        return a / scale, b / scale
    if kind == "malformed":                    # the end comes before the start
        a, b = draw(st.lists(st.integers(-extent // 4, extent + extent // 4), min_size=2,
                             max_size=2, unique=True))
        return max(a, b), min(a, b)
    if kind == "tiny":                         # one point, less than half a cell from cell k
        k = draw(st.integers(0, cells - 1))
        offset = draw(st.sampled_from([0.0, 0.25, -0.25, 0.4375]))
        p = max((k + offset) / scale, 0.0)
        return p, p
    if kind == "whole":                        # the whole image, or first to last cell
        return draw(st.sampled_from([(0, extent - 1), (0, (cells - 1) / scale)]))
    if kind == "half":                         # on k + 0.5 after scaling, or a hair off it
        a, b = sorted(draw(st.lists(st.integers(-1, cells), min_size=2, max_size=2)))
        nudge = draw(st.sampled_from([0.0, 1e-9, -1e-9]))   # a hair that float32 cannot see
        return (a + 0.5 + nudge) / scale, (b + 0.5 + nudge) / scale
    if kind == "anywhere":                     # any real coordinates, in any order
        coordinate = st.floats(-extent / 2, 1.5 * extent, allow_nan=False, allow_infinity=False)
        return draw(coordinate), draw(coordinate)
    raise AssertionError(f"unknown kind {kind}")


def draw_roi(draw, kind, height, width, scale):
    """(x1, y1, x2, y2) of one RoI of the given kind."""
    if kind == "mixed":
        kind = draw(st.sampled_from(KINDS[:-1]))
    x_kind = y_kind = kind
    if kind in ("crossing", "outside", "malformed"):   # one axis is enough; the other varies
        other = draw(st.sampled_from(["inside", kind]))
        x_kind, y_kind = draw(st.permutations([kind, other]))
    x1, x2 = axis_span(draw, x_kind, width, scale)
    y1, y2 = axis_span(draw, y_kind, height, scale)
    return x1, y1, x2, y2


@dataclass
class Case:
    """One drawn example: shapes, RoIs, pooling settings and a seed for the array values."""

    shape: tuple          # (N, C, H, W)
    rois: np.ndarray      # (R, 5)
    output_size: tuple
    spatial_scale: float
    ties: bool            # small integer features, full of ties, instead of distinct values
    seed: int

    def features(self, rng, dtype):
        if self.ties:
            return rng.integers(-2, 3, size=self.shape).astype(dtype)
        return rng.standard_normal(self.shape).astype(dtype)


@st.composite
def cases(draw, kind):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    scale = draw(st.sampled_from(SCALES))
    rois = [(draw(st.integers(0, n - 1)), *draw_roi(draw, kind, height, width, scale))
            for _ in range(draw(st.integers(1, 6)))]
    return Case(shape=(n, c, height, width), rois=np.array(rois, dtype=np.float64),
                output_size=draw(st.sampled_from(OUTPUT_SIZES)), spatial_scale=scale,
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def assert_matches_naive(case, dtype, rng):
    """Bins, forward output and backward gradient of the layer equal the naive reference's."""
    features = case.features(rng, dtype)
    height, width = case.shape[2:]

    hstart, hend, wstart, wend = roi_bins(case.rois, case.spatial_scale, case.output_size,
                                          height, width, np.dtype(dtype))
    for r, roi in enumerate(case.rois):
        rows, cols = naive_roi_bins(roi, case.spatial_scale, case.output_size, height, width,
                                    np.dtype(dtype).type)
        assert list(zip(hstart[r].tolist(), hend[r].tolist())) == rows, f"row bins of RoI {r}"
        assert list(zip(wstart[r].tolist(), wend[r].tolist())) == cols, f"column bins of RoI {r}"

    out, cache = roi_pool_forward(features, case.rois, case.output_size, case.spatial_scale)
    expected_out, naive_cache = naive_roi_pool_forward(features, case.rois, case.output_size,
                                                      case.spatial_scale)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected_out, err_msg=f"forward, {np.dtype(dtype)}")

    # A random upstream gradient: had a bin picked another winner, its gradient would land
    # on another cell, so equal gradients mean equal argmax positions.
    dout = rng.standard_normal(out.shape).astype(dtype)
    dfeatures = roi_pool_backward(dout, cache)
    assert dfeatures.dtype == dtype
    np.testing.assert_array_equal(dfeatures, naive_roi_pool_backward(dout, naive_cache),
                                  err_msg=f"backward, {np.dtype(dtype)}")


def assert_gradcheck_passes(case, rng):
    """The backward pass agrees with central differences on tie-free float64 features."""
    result = gradcheck(
        lambda features: roi_pool_forward(features, case.rois, case.output_size, case.spatial_scale),
        roi_pool_backward, {"features": tie_free(case.shape, rng)}, rng=rng)
    assert result.passed, str(result)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_layer_equals_naive_reference_and_finite_differences(kind, data):
    """For RoIs of every kind of placement, several images, output sizes and scales: bins,
    forward and backward equal the naive reference exactly in float32 and float64, the output
    keeps the features' dtype, and the backward pass passes the gradient check."""
    case = data.draw(cases(kind), label="case")
    rng = np.random.default_rng(case.seed)
    for dtype in DTYPES:
        assert_matches_naive(case, dtype, rng)
    assert_gradcheck_passes(case, rng)


@settings(max_examples=25)
@given(case=cases("outside"))
def test_roi_entirely_outside_the_map_gives_zeros_and_no_gradient(case):
    """A RoI that lies off the feature map has only empty bins: output 0, gradient 0."""
    rng = np.random.default_rng(case.seed)
    for dtype in DTYPES:
        features = case.features(rng, dtype) - 10        # all negative: 0 is never a max
        out, cache = roi_pool_forward(features, case.rois, case.output_size, case.spatial_scale)
        dfeatures = roi_pool_backward(np.ones(out.shape, dtype), cache)
        np.testing.assert_array_equal(out, 0)
        np.testing.assert_array_equal(dfeatures, 0)


@settings(max_examples=25)
@given(case=cases("tiny"))
def test_single_cell_roi_repeats_that_cell_in_every_bin(case):
    """A one-cell RoI gives every bin the same cell, so the output is that cell everywhere and
    the cell receives the gradient of every bin."""
    rng = np.random.default_rng(case.seed)
    features = case.features(rng, np.float64)
    out, cache = roi_pool_forward(features, case.rois, case.output_size, case.spatial_scale)
    dout = rng.standard_normal(out.shape)
    dfeatures = roi_pool_backward(dout, cache)
    expected_gradient = np.zeros_like(features)
    for r, (b, x1, y1, _, _) in enumerate(case.rois):
        col, row = c_round(x1 * case.spatial_scale), c_round(y1 * case.spatial_scale)
        cell = features[int(b), :, row, col]                        # (C,)
        np.testing.assert_array_equal(out[r], np.broadcast_to(cell[:, None, None], out[r].shape))
        expected_gradient[int(b), :, row, col] += dout[r].sum(axis=(1, 2))
    np.testing.assert_allclose(dfeatures, expected_gradient, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 2. The seed's worked examples (syllabus.md section 3), spatial_scale = 1
# ---------------------------------------------------------------------------------------------

# Example A: a region 5 rows by 7 columns of an 8x8 map, away from the image's origin:
# rows 2..6 and columns 1..7 (inclusive).
EXAMPLE_A_ROI = [0, 1, 2, 7, 6]       # (batch_index, x1, y1, x2, y2)


def test_example_a_bins_are_3x4_and_neighbours_share_a_row_and_a_column():
    """bin_h = 5/2 = 2.5 and bin_w = 7/2 = 3.5: rows [0, 3), [2, 5) and columns [0, 4), [3, 7)
    relative to the RoI's corner. Every bin is 3x4; the bins share row 2 and column 3."""
    rows, cols = bins_of(EXAMPLE_A_ROI, (2, 2), height=8, width=8)
    y1, x1 = 2, 1
    assert [(a - y1, b - y1) for a, b in rows] == [(0, 3), (2, 5)]
    assert [(a - x1, b - x1) for a, b in cols] == [(0, 4), (3, 7)]
    assert all(b - a == 3 for a, b in rows) and all(b - a == 4 for a, b in cols)


def test_example_a_output_on_an_arange_map():
    """On features[h, w] = 8h + w every bin's maximum is its bottom-right cell."""
    features = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
    out = pool(features, [EXAMPLE_A_ROI], (2, 2))
    # bin (0, 0): rows 2..4, columns 1..4 -> cell (4, 4) = 36;  bin (0, 1): columns 4..7 -> (4, 7)
    # bin (1, 0): rows 4..6 -> (6, 4) = 52;                     bin (1, 1): (6, 7) = 55
    np.testing.assert_array_equal(out[0, 0], [[36, 39], [52, 55]])


def test_example_a_a_cell_in_the_shared_row_gets_both_gradients():
    """A peak in the shared row 4 (relative row 2), column 2, lies in bins (0, 0) and (1, 0):
    it wins both, and its gradient is the sum of theirs."""
    features = np.zeros((1, 1, 8, 8))
    features[0, 0, 4, 2] = 1.0
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    dfeatures = gradient(features, [EXAMPLE_A_ROI], (2, 2), dout)
    assert dfeatures[0, 0, 4, 2] == 1.0 + 100.0


def test_example_a_a_cell_in_the_shared_row_and_column_gets_all_four_gradients():
    """Cell (4, 4) is in the shared row and the shared column: it lies in all four bins."""
    features = np.zeros((1, 1, 8, 8))
    features[0, 0, 4, 4] = 1.0
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    dfeatures = gradient(features, [EXAMPLE_A_ROI], (2, 2), dout)
    assert dfeatures[0, 0, 4, 4] == 1111.0
    assert np.count_nonzero(dfeatures) == 1


def test_example_b_14x14_roi_pooled_to_7x7_has_exact_2x2_bins():
    """On a 49x49 map a 14x14 RoI pooled to 7x7: bin k covers cells [2k, 2k + 2) of the RoI
    along both axes; the bins tile the RoI with no overlap and no gap."""
    roi = [0, 20, 10, 33, 23]                              # columns 20..33, rows 10..23
    for dtype in DTYPES:
        rows, cols = bins_of(roi, (7, 7), height=49, width=49, dtype=dtype)
        assert rows == [(10 + 2 * k, 12 + 2 * k) for k in range(7)]
        assert cols == [(20 + 2 * k, 22 + 2 * k) for k in range(7)]

    features = np.arange(49 * 49, dtype=np.float64).reshape(1, 1, 49, 49)
    out = pool(features, [roi], (7, 7))
    bottom_right = [[(11 + 2 * i) * 49 + 21 + 2 * j for j in range(7)] for i in range(7)]
    np.testing.assert_array_equal(out[0, 0], bottom_right)


def test_example_b_32_wide_roi_pooled_to_7_has_unequal_overlapping_bins():
    """32 / 7 = 4.57...: starts are floored, ends ceiled, so bins are 5 or 6 cells wide and
    every bin shares a cell with the next one."""
    roi = [0, 0, 0, 31, 31]
    for dtype in DTYPES:
        _, cols = bins_of(roi, (7, 7), height=49, width=49, dtype=dtype)
        assert cols == [(0, 5), (4, 10), (9, 14), (13, 19), (18, 23), (22, 28), (27, 32)]
        widths = [end - start for start, end in cols]
        assert sorted(set(widths)) == [5, 6]
        assert all(cols[k][1] > cols[k + 1][0] for k in range(6)), "neighbours overlap"


# ---------------------------------------------------------------------------------------------
# 3. Rounding and the features' dtype
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [(2.5, 3), (-2.5, -3), (0.5, 1), (-0.5, -1), (1.5, 2),
                                             (-1.5, -2), (2.4, 2), (-2.6, -3), (0.0, 0)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_half_away_from_zero(value, expected, dtype):
    """C's round(): halves go away from zero, in the value's own dtype."""
    rounded = round_half_away(dtype(value))
    assert rounded == expected
    assert rounded.dtype == dtype


def test_round_half_away_differs_from_numpy_round_on_halves():
    """np.round rounds halves to even, which is not what Caffe does."""
    halves = np.array([0.5, 1.5, 2.5, -0.5, -2.5])
    np.testing.assert_array_equal(np.round(halves), [0, 2, 2, 0, -2])
    np.testing.assert_array_equal(round_half_away(halves), [1, 2, 3, -1, -3])


def test_round_half_away_just_below_one_half_in_float32():
    """0.49999997 is the largest float32 below 1/2. The textbook floor(x + 0.5) rounds it to 1,
    because x + 0.5 is itself rounded to 1.0 in float32; C's round gives 0."""
    v = np.float32(0.49999997)
    assert v < np.float32(0.5) and np.nextafter(v, np.float32(1)) == np.float32(0.5)
    assert np.floor(v + np.float32(0.5)) == 1
    assert round_half_away(v) == 0
    assert round_half_away(-v) == 0


@given(value=st.one_of(st.floats(-1e6, 1e6, width=32), st.floats(-1e9, 1e9),
                       st.integers(-10**6, 10**6).map(lambda k: k + 0.5)))
def test_round_half_away_equals_exact_rounding(value):
    """On any float32 or float64, the layer's rounding equals the exact rational rounding of the
    reference (floor(|v| + 1/2) with the sign put back)."""
    for dtype in DTYPES:
        v = dtype(value)
        assert round_half_away(v) == c_round(v)


@pytest.mark.parametrize("x1, x2, spatial_scale", [(5, 9, 0.5), (40, 72, 1 / 16), (2.5, 4.5, 1.0)])
def test_roi_landing_on_half_a_cell_projects_away_from_zero(x1, x2, spatial_scale):
    """x1 and x2 scale to 2.5 and 4.5: C's round puts the RoI on columns 3..5; np.round would
    have said 2..4. The pooled value (the row's maximum over the RoI) shows which."""
    assert x1 * spatial_scale == 2.5 and x2 * spatial_scale == 4.5
    assert np.round(2.5) == 2 and np.round(4.5) == 4
    features = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    _, cols = bins_of([0, x1, 0, x2, 0], (1, 1), height=1, width=8, spatial_scale=spatial_scale)
    assert cols == [(3, 6)]
    assert pool(features, [[0, x1, 0, x2, 0]], (1, 1), spatial_scale)[0, 0, 0, 0] == 5.0


def test_roi_landing_on_minus_half_a_cell_projects_away_from_zero():
    """At scale 1/16 the RoI x = -40..-8 projects to -2.5..-0.5, which C's round makes -3..-1:
    the RoI lies left of the map and its bin is empty (output 0). np.round would have made it
    -2..0 and let it reach column 0, which holds the map's maximum."""
    features = np.array([[[[9.0, 1.0, 2.0]]]])
    rois = [[0, -40, 0, -8, 0]]
    _, cols = bins_of(rois[0], (1, 1), height=1, width=3, spatial_scale=1 / 16)
    assert cols == [(0, 0)]
    assert pool(features, rois, (1, 1), 1 / 16)[0, 0, 0, 0] == 0.0
    assert np.round(-0.5) == 0 and round_half_away(-0.5) == -1


def test_roi_coordinates_are_cast_to_the_features_dtype_before_projecting():
    """2.4999999 is no float32: it becomes 2.5, which rounds to 3. In float64 it stays below
    2.5 and rounds to 2. The layer must do what the features' dtype does (as Caffe does)."""
    assert np.float32(2.4999999) == 2.5
    roi = [0, 2.4999999, 0, 6, 0]
    assert bins_of(roi, (1, 1), 1, 8, dtype=np.float32)[1] == [(3, 7)]
    assert bins_of(roi, (1, 1), 1, 8, dtype=np.float64)[1] == [(2, 7)]


def test_float32_and_float64_bins_differ_for_sixteen_heights_under_400():
    """For PH = 7, bin_h = roi_h / 7 is rounded differently in float32 and float64, and for some
    heights ceil(7 * bin_h) comes out one cell different: the last bin ends one row apart.

    The heights are found with the reference's scalar arithmetic; the spec says there are sixteen
    under 400. The layer's roi_bins must show the difference exactly at those heights."""
    big = 10**6                                             # a map tall enough never to clip

    def row_bins(height, dtype):
        return naive_bin_edges(0, height - 1, 7, big, dtype)

    differing = [h for h in range(1, 401) if row_bins(h, np.float32) != row_bins(h, np.float64)]
    assert differing == [29, 57, 58, 114, 116, 121, 123, 225, 228, 232, 235, 239, 242, 246, 249, 253]
    for h in differing:                                     # only the last bin's end, by one row
        bins32, bins64 = row_bins(h, np.float32), row_bins(h, np.float64)
        assert bins32[:6] == bins64[:6] and bins32[6][0] == bins64[6][0]
        assert abs(bins32[6][1] - bins64[6][1]) == 1

    rois = np.array([[0, 0, 0, 0, h - 1] for h in range(1, 401)], dtype=np.float64)
    layer = {dtype: roi_bins(rois, 1.0, (7, 1), big, 1, np.dtype(dtype)) for dtype in DTYPES}
    for dtype in DTYPES:
        hstart, hend = layer[dtype][0], layer[dtype][1]
        for h in range(1, 401):
            assert list(zip(hstart[h - 1].tolist(), hend[h - 1].tolist())) == row_bins(h, dtype)
    hend_differs = np.any(layer[np.float32][1] != layer[np.float64][1], axis=1)
    assert (np.flatnonzero(hend_differs) + 1).tolist() == differing


def test_pooling_follows_the_features_dtype_at_those_heights():
    """The same RoIs on the same map pool differently in float32 and float64: on a map whose
    value is the row index, the last bin's maximum is its last row."""
    heights = [29, 57, 58, 114, 116, 121, 123, 225, 228, 232, 235, 239, 242, 246, 249, 253]
    rois = [[0, 0, 0, 0, h - 1] for h in heights]
    rows = np.arange(260, dtype=np.float64).reshape(1, 1, 260, 1)
    last = {dtype: pool(rows.astype(dtype), rois, (7, 1))[:, 0, 6, 0] for dtype in DTYPES}
    for dtype in DTYPES:
        expected = [naive_bin_edges(0, h - 1, 7, 260, dtype)[6][1] - 1 for h in heights]
        np.testing.assert_array_equal(last[dtype], expected)
    assert np.all(last[np.float32] != last[np.float64])


# ---------------------------------------------------------------------------------------------
# 4. Ties, sums in the backward pass, empty bins
# ---------------------------------------------------------------------------------------------

def test_constant_map_each_bin_is_won_by_its_first_cell():
    """On a constant map every cell ties. Each bin's winner is its first cell in row-major order
    (top-left), so each bin's gradient lands on (row start, column start) of that bin."""
    for dtype in DTYPES:
        features = np.full((1, 1, 8, 8), 3.0, dtype=dtype)
        roi = [0, 0, 0, 7, 7]                               # 8 / 3: bins [0,3), [2,6), [5,8)
        rows, cols = bins_of(roi, (3, 3), 8, 8, dtype=dtype)
        assert rows == cols == [(0, 3), (2, 6), (5, 8)]
        dout = np.arange(1, 10, dtype=dtype).reshape(1, 1, 3, 3)
        dfeatures = gradient(features, [roi], (3, 3), dout)
        expected = np.zeros_like(features)
        for ph, (h0, _) in enumerate(rows):
            for pw, (w0, _) in enumerate(cols):
                expected[0, 0, h0, w0] += dout[0, 0, ph, pw]
        np.testing.assert_array_equal(dfeatures, expected)
        np.testing.assert_array_equal(pool(features, [roi], (3, 3)), 3.0)


def test_tie_goes_to_the_earlier_cell_in_row_major_order():
    """Two equal maxima at (1, 3) and (2, 0): row-major order reaches (1, 3) first, although
    (2, 0) comes first column by column."""
    features = np.zeros((1, 1, 4, 4))
    features[0, 0, 1, 3] = features[0, 0, 2, 0] = 5.0
    dfeatures = gradient(features, [[0, 0, 0, 3, 3]], (1, 1), [[[[1.0]]]])
    assert dfeatures[0, 0, 1, 3] == 1.0 and dfeatures[0, 0, 2, 0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_identical_rois_give_twice_the_gradient(dtype):
    """The same RoI twice, with the same upstream gradient: every cell gets exactly double.
    (Integer gradients, so that no sum is rounded, whatever order the additions come in.)"""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, 2, 6, 6)).astype(dtype)
    roi = [0, 1, 0, 5, 4]
    dout = rng.integers(-9, 10, size=(1, 2, 3, 2)).astype(dtype)
    once = gradient(features, [roi], (3, 2), dout)
    twice = gradient(features, [roi, roi], (3, 2), np.concatenate([dout, dout]))
    assert np.count_nonzero(once) > 0
    np.testing.assert_array_equal(twice, 2 * once)


def test_overlapping_rois_sharing_a_winner_add_their_gradients():
    """A peak inside two different RoIs (and inside two overlapping bins of the first) receives
    the sum of all the bins it wins."""
    features = np.zeros((1, 1, 6, 6))
    features[0, 0, 2, 2] = 1.0
    rois = [[0, 0, 0, 4, 4], [0, 1, 1, 5, 5]]    # 5 / 2 = 2.5: bins [0,3), [2,5): cell 2 is shared
    dout = np.array([[[[1.0, 2.0], [4.0, 8.0]]], [[[16.0, 32.0], [64.0, 128.0]]]])
    dfeatures = gradient(features, rois, (2, 2), dout)
    # RoI 0: the peak at (2, 2) lies in all four bins; RoI 1 (cells 1..5): only in bin (0, 0).
    assert dfeatures[0, 0, 2, 2] == 1 + 2 + 4 + 8 + 16


def test_empty_bins_give_zero_and_no_gradient():
    """A RoI over columns -6..1 pooled to 1x4: the bins [-6,-4), [-4,-2), [-2,0) are empty once
    clipped, only [0, 2) is not. On an all-negative map the empty bins still give 0 (not a
    maximum of anything) and their gradients go nowhere."""
    for dtype in DTYPES:
        features = -1 - np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
        roi = [0, -6, 0, 1, 3]
        _, cols = bins_of(roi, (1, 4), 4, 4, dtype=dtype)
        assert cols == [(0, 0), (0, 0), (0, 0), (0, 2)]
        out = pool(features, [roi], (1, 4))
        np.testing.assert_array_equal(out[0, 0], [[0, 0, 0, -1]])
        dout = np.array([[[[1.0, 2.0, 4.0, 8.0]]]])
        dfeatures = gradient(features, [roi], (1, 4), dout)
        assert dfeatures[0, 0, 0, 0] == 8.0 and dfeatures.sum() == 8.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_rois_gives_an_empty_output_and_a_zero_gradient(dtype):
    """R = 0: output (0, C, PH, PW) in the features' dtype; the gradient is all zeros."""
    features = np.ones((2, 3, 5, 5), dtype=dtype)
    out, cache = roi_pool_forward(features, np.zeros((0, 5)), (3, 2), 1.0)
    assert out.shape == (0, 3, 3, 2) and out.dtype == dtype
    dfeatures = roi_pool_backward(np.zeros((0, 3, 3, 2), dtype=dtype), cache)
    assert dfeatures.shape == features.shape and dfeatures.dtype == dtype
    np.testing.assert_array_equal(dfeatures, 0)


def test_integer_output_size_means_square():
    """output_size=3 is (3, 3); the default is Fast R-CNN's 7x7 at scale 1/16 (VGG16)."""
    features = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    rois = np.array([[0, 0, 0, 5, 5]], dtype=np.float64)
    np.testing.assert_array_equal(roi_pool_forward(features, rois, 3, 1.0)[0],
                                  roi_pool_forward(features, rois, (3, 3), 1.0)[0])
    assert roi_pool_forward(features, rois * [1, 16, 16, 16, 16])[0].shape == (1, 2, 7, 7)


# ---------------------------------------------------------------------------------------------
# 5. Bad input
# ---------------------------------------------------------------------------------------------

GOOD = dict(features=np.zeros((2, 3, 8, 8)), rois=np.array([[0, 0, 0, 7, 7]], dtype=np.float64),
            output_size=(2, 2), spatial_scale=1.0)

BAD_INPUTS = [
    pytest.param(dict(rois=np.zeros((3, 4))), r"rois must have shape \(R, 5\).*got \(3, 4\)",
                 id="rois (R, 4)"),
    pytest.param(dict(rois=np.zeros(5)), r"rois must have shape \(R, 5\).*got \(5,\)", id="rois 1-D"),
    pytest.param(dict(rois=[[0, 0, 0, 7, 7]]), r"rois must have shape \(R, 5\).*got list",
                 id="rois a list"),
    pytest.param(dict(rois=np.array([[2.0, 0, 0, 7, 7]])), r"image index in \[0, 1\].*2\.0",
                 id="batch index too large"),
    pytest.param(dict(rois=np.array([[-1.0, 0, 0, 7, 7]])), r"image index in \[0, 1\].*-1\.0",
                 id="negative batch index"),
    pytest.param(dict(rois=np.array([[0.5, 0, 0, 7, 7]])), r"image index in \[0, 1\].*0\.5",
                 id="non-integer batch index"),
    pytest.param(dict(rois=np.array([[0, 0, np.nan, 7, 7]])), r"rois must be finite, row 0",
                 id="nan coordinate"),
    pytest.param(dict(rois=np.array([[0, 0, 0, 7, 7], [1, 0, 0, np.inf, 7]])),
                 r"rois must be finite, row 1", id="infinite coordinate"),
    pytest.param(dict(rois=np.array([[0, 0, 0, 1e19, 7]])), r"rois row 0 .* lies too far away",
                 id="coordinate overflowing int64"),
    pytest.param(dict(features=np.zeros((2, 3, 8, 8), np.float32), rois=np.array([[0, 0, 0, 1e39, 7]])),
                 r"rois row 0 .* lies too far away", id="coordinate overflowing float32"),
    pytest.param(dict(features=np.zeros((3, 8, 8))), r"features must be a 4-D array.*\(3, 8, 8\)",
                 id="features 3-D"),
    pytest.param(dict(features=np.zeros((2, 3, 8, 8), dtype=np.int64)),
                 r"features must be float32 or float64, got dtype int64", id="integer features"),
    pytest.param(dict(spatial_scale=0), r"spatial_scale must be a positive number, got 0",
                 id="scale 0"),
    pytest.param(dict(spatial_scale=-1), r"spatial_scale must be a positive number, got -1",
                 id="scale -1"),
    pytest.param(dict(spatial_scale=float("nan")), r"spatial_scale must be a positive number, got nan",
                 id="scale nan"),
    pytest.param(dict(output_size=0), r"output_size\[0\] must be a positive integer, got 0",
                 id="output_size 0"),
    pytest.param(dict(output_size=(7,)), r"output_size must be .* pair \(h, w\).*got \(7,\)",
                 id="output_size (7,)"),
    pytest.param(dict(output_size=(2, 0)), r"output_size\[1\] must be a positive integer, got 0",
                 id="output_size (2, 0)"),
]


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_bad_input_is_refused_with_a_helpful_message(bad, message):
    """Each mistake raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=message):
        roi_pool_forward(**{**GOOD, **bad})


def test_backward_refuses_dout_of_the_wrong_shape():
    """dout must have the forward output's shape (R, C, PH, PW)."""
    _, cache = roi_pool_forward(**GOOD)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                         r"\(1, 3, 2, 2\), got \(1, 3, 2\)"):
        roi_pool_backward(np.zeros((1, 3, 2)), cache)
