"""The CUDA RoI pooling kernels (minifrcnn.numba_cuda.roi_pool) under numba's CUDA simulator,
against the NumPy reference: forward bit for bit, backward to float rounding (atomic adds sum in
any order), float32 and float64, for RoIs of every kind test_roi_pool.py draws (inside, crossing
the borders, outside, malformed, a single cell, the whole map, on .5 after scaling, anywhere),
on one or two images, with and without ties; NumPy arrays and device arrays; the same refusals.

The simulator checks results, not races: that the backward pass adds with cuda.atomic.add is
checked on the PTX (tests/test_cuda_ptx.py).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equivalence import assert_roi_pool_matches_reference
from minifrcnn import layers, numba_cuda
from test_roi_pool import BAD_INPUTS, GOOD, KINDS, Case, cases

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_forward_and_backward_equal_the_reference(kind, data):
    """For RoIs of every kind of placement, several images, output sizes and scales: the output
    equals the reference's bit for bit and the gradient to rounding, in float32 and float64."""
    case = data.draw(cases(kind), label="case")
    for dtype in DTYPES:
        assert_roi_pool_matches_reference(case, dtype)


@settings(max_examples=5, deadline=None)
@given(case=cases("mixed"))
def test_device_arrays_in_give_device_arrays_out(case):
    """Device features and dout: out and dfeatures come back as device arrays, same values."""
    for dtype in DTYPES:
        assert_roi_pool_matches_reference(case, dtype, device=True)


def fixed_case(shape, rois, output_size, spatial_scale=1.0, ties=False, seed=0):
    return Case(shape=shape, rois=np.array(rois, dtype=np.float64), output_size=output_size,
                spatial_scale=spatial_scale, ties=ties, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_launches_of_several_blocks(dtype):
    """8 RoIs x 4 channels x 7 x 7 = 1568 outputs: 7 blocks of 256 threads, the last partly idle;
    the RoIs overlap, so cells win bins of several RoIs and the atomic adds meet."""
    rois = [[b, x, y, x + 9, y + 7] for b in (0, 1) for x, y in ((0, 0), (2, 1), (1, 3), (-3, 2))]
    case = fixed_case((2, 4, 10, 10), rois, (7, 7), ties=True, seed=7)
    assert_roi_pool_matches_reference(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_bins_adding_into_one_cell(dtype):
    """40 identical 3x3 RoIs pooled to 2x2 (bins [0, 2) and [1, 3) share their middle row and
    column) around a single peak: all 160 bins send their gradient to that cell, at once.
    Integer gradients, so the sum is exact in any order."""
    features = np.zeros((1, 1, 4, 4), dtype)
    features[0, 0, 1, 2] = 1
    rois = np.tile([0.0, 1, 0, 3, 2], (40, 1))                  # rows 0..2, columns 1..3
    _, cache = numba_cuda.roi_pool_forward(features, rois, (2, 2), 1.0)
    dout = np.arange(160, dtype=dtype).reshape(40, 1, 2, 2)
    dfeatures = numba_cuda.roi_pool_backward(dout, cache)
    assert dfeatures[0, 0, 1, 2] == dout.sum() and np.count_nonzero(dfeatures) == 1


def test_sixteen_heights_pool_differently_in_float32_and_float64():
    """The RoI heights whose last 7-bin ends one row apart in float32 and float64 (see
    test_roi_pool.py): the kernel pools each dtype exactly as the reference does."""
    heights = [29, 57, 58, 114, 116, 121, 123, 225, 228, 232, 235, 239, 242, 246, 249, 253]
    rows = np.arange(260, dtype=np.float64).reshape(1, 1, 260, 1)
    case = fixed_case((1, 1, 260, 1), [[0, 0, 0, 0, h - 1] for h in heights], (7, 1))
    for dtype in DTYPES:
        out, _ = numba_cuda.roi_pool_forward(rows.astype(dtype), case.rois, (7, 1), 1.0)
        expected, _ = layers.roi_pool_forward(rows.astype(dtype), case.rois, (7, 1), 1.0)
        np.testing.assert_array_equal(out, expected)


def test_nan_and_infinities_win_as_in_the_reference():
    """The reference takes np.argmax: the first NaN wins a bin, and a bin of -inf is won by its
    first cell (not left empty)."""
    features = np.array([[[[1.0, np.nan, 2.0, np.nan],
                           [-np.inf, -np.inf, 5.0, np.inf]]]])
    rois = np.array([[0, 0, 0, 3, 1], [0, 0, 1, 1, 1], [0, 2, 0, 3, 1]])
    out, cache = numba_cuda.roi_pool_forward(features, rois, (1, 2), 1.0)
    expected, ref_cache = layers.roi_pool_forward(features, rois, (1, 2), 1.0)
    np.testing.assert_array_equal(out, expected)
    dout = np.arange(1.0, 1 + out.size).reshape(out.shape)
    np.testing.assert_array_equal(numba_cuda.roi_pool_backward(dout, cache),
                                  layers.roi_pool_backward(dout, ref_cache))


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_rois_gives_an_empty_output_and_a_zero_gradient(dtype):
    """R = 0 launches no forward kernel: out (0, C, PH, PW), and a zero gradient."""
    features = np.ones((2, 3, 5, 5), dtype=dtype)
    out, cache = numba_cuda.roi_pool_forward(features, np.zeros((0, 5)), (3, 2), 1.0)
    assert out.shape == (0, 3, 3, 2) and out.dtype == dtype
    dfeatures = numba_cuda.roi_pool_backward(np.zeros((0, 3, 3, 2), dtype=dtype), cache)
    assert dfeatures.shape == features.shape and dfeatures.dtype == dtype
    np.testing.assert_array_equal(dfeatures, 0)


def test_rois_may_be_a_device_array():
    """RoIs already on the GPU are read back (R x 5 numbers) to check them and compute the bins."""
    from numba import cuda

    features = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    rois = np.array([[1, 0, 0, 5, 3], [0, 2, 1, 4, 5]], dtype=np.float64)
    out, _ = numba_cuda.roi_pool_forward(features, cuda.to_device(rois), (2, 2), 1.0)
    np.testing.assert_array_equal(out, layers.roi_pool_forward(features, rois, (2, 2), 1.0)[0])


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_bad_input_is_refused_with_the_reference_message(bad, message):
    """Each input the reference refuses (test_roi_pool.py's list) is refused with its message."""
    with pytest.raises(ValueError, match=message):
        numba_cuda.roi_pool_forward(**{**GOOD, **bad})


def test_bad_dout_is_refused():
    """A dout of the wrong shape gets the reference's message; a device dout must have the
    forward pass's dtype."""
    from numba import cuda

    _, cache = numba_cuda.roi_pool_forward(**GOOD)                       # out (1, 3, 2, 2)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                         r"\(1, 3, 2, 2\), got \(1, 3, 2\)"):
        numba_cuda.roi_pool_backward(np.zeros((1, 3, 2)), cache)
    with pytest.raises(ValueError, match="dout has dtype float32 but the forward features has "
                                         "dtype float64"):
        numba_cuda.roi_pool_backward(cuda.to_device(np.zeros((1, 3, 2, 2), np.float32)), cache)
